//! `git guard check`: judge the staged change or commit ranges against the policy and tell
//! the verdict, as text for people and agents or as stable JSON (docs/OUTPUT.md).
//!
//! The policy is the one the repository's hooks use (`site::config::policy_for_repo`: the
//! installed configuration, else `policy.toml` of the base branch, else the built-in default)
//! unless a file is named: it is never read from the change being judged, since a change
//! could otherwise loosen the rules it is judged by.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::engine;
use crate::engine::changes::Unit;
use crate::engine::identity::{Actor, unix_user};
use crate::engine::model::{self, ModelOptions};
use crate::engine::policy::Policy;
use crate::engine::verdict::{self, Verdict};

/// How the verdict is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format> {
        match s {
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            other => bail!("unknown format '{other}'; hint: use `text` or `json`"),
        }
    }
}

/// What is judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// The staged index against HEAD.
    Staged,
    /// One unit per `REV` or `A..B`.
    Ranges(Vec<String>),
}

/// Everything `git guard check` is told.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// A directory inside the repository to judge.
    pub repo_dir: PathBuf,
    /// The policy file; `None` is the repository's (see the module comment).
    pub policy: Option<PathBuf>,
    pub format: Format,
    /// Act as this identity (the unix user otherwise).
    pub actor: Option<String>,
    pub subject: Subject,
}

/// Judge and print; return the exit code (0 passed, 1 rejected by policy). An `Err` means the
/// subject could not be judged (exit 2).
pub fn run(opts: &CheckOptions, out: &mut dyn Write) -> Result<i32> {
    let verdict = judge(opts)?;
    if let (Format::Text, Subject::Ranges(ranges)) = (opts.format, &opts.subject) {
        for (spec, unit) in ranges.iter().zip(&verdict.units) {
            if unit.commits.is_empty() {
                writeln!(out, "{}", nothing_judged(spec))?;
            }
        }
    }
    match opts.format {
        Format::Text => verdict::render_text(&verdict, out),
        Format::Json => verdict::render_json(&verdict, out),
    }
    .context("cannot write the verdict")?;
    Ok(verdict.exit_code())
}

/// The note for a range that holds no commits: a PASSED verdict over nothing is no verdict.
fn nothing_judged(spec: &str) -> String {
    match spec.split_once("..") {
        Some((a, b)) if !a.is_empty() && !b.is_empty() && !b.starts_with('.') => format!(
            "note: {spec} holds no commits, so nothing was judged (every commit of {b} is in \
             {a}); hint: did you mean {b}..{a}?"
        ),
        _ => format!("note: {spec} holds no commits, so nothing was judged"),
    }
}

/// Load the policy, build the units and run the engine.
pub fn judge(opts: &CheckOptions) -> Result<Verdict> {
    if let Some(name) = &opts.actor
        && name.trim().is_empty()
    {
        bail!("--as needs a name; hint: `--as alice`, or leave it out to act as the unix user");
    }
    let repo = match crate::engine::repo::discover(&opts.repo_dir) {
        Ok(r) => r,
        Err(e) => {
            // A broken policy is the first thing to fix, whatever else went wrong.
            if let Some(path) = &opts.policy {
                Policy::load(path)?;
            }
            return Err(e);
        }
    };
    // Compiling the policy's patterns and reading git are independent: do them at once.
    let (policy, units) = std::thread::scope(|s| {
        let policy_repo = repo.clone();
        let explicit = opts.policy.as_deref();
        let policy = s.spawn(move || crate::site::config::policy_for_repo(&policy_repo, explicit));
        let units = build_units(&repo, &opts.subject);
        let policy = policy
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("loading the policy failed")));
        (policy, units)
    });
    // A broken policy is the first thing to fix, whatever else went wrong.
    let policy = policy?;
    let units = units?;
    let actor = match &opts.actor {
        Some(name) => Actor::new(name.trim(), "--as", &policy),
        None => Actor::new(unix_user(), "unix user", &policy),
    };
    Ok(engine::judge_units(&policy, &actor, units))
}

/// The units of a subject: one for the staged change, one per range.
pub fn build_units(repo: &gix::Repository, subject: &Subject) -> Result<Vec<Unit>> {
    let opts = ModelOptions::default();
    match subject {
        Subject::Staged => Ok(vec![model::staged(repo, opts)?]),
        Subject::Ranges(ranges) => {
            if ranges.is_empty() {
                bail!("nothing to check; hint: pass --staged or a range such as `main..HEAD`");
            }
            ranges.iter().map(|r| model::range(repo, r, opts)).collect()
        }
    }
}
