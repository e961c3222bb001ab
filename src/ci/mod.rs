//! The CI door: `git guard ci`, the same guard where the host runs no server hooks.
//!
//! On GitHub.com, GitLab.com and the like no pre-receive hook can be installed; there the
//! authoritative door is a required check that runs in CI on every push and merge request,
//! from configuration the change cannot alter, and blocks the merge. This door finds what to
//! judge from the CI's own environment ([`subject`], [`github`], [`gitlab`]), reads the
//! policy from the base branch ([`policy`]), takes the actor from the CI's trusted variables
//! ([`actor`]), judges with the engine as the hooks do ([`judge`]), holds every flag until a
//! valid approval clears it ([`gate`]), and tells the verdict where the host shows it
//! ([`render`]: text, JSON, SARIF 2.1.0, GitHub workflow annotations, a Markdown job summary,
//! GitLab code quality JSON). Exit 0 passed, 1 rejected, 2 could not judge.
//!
//! It prints nothing itself and runs no process: the binary passes the environment and the
//! output writer in. It uses the engine, the site and the approvals door's public API, never
//! another door's internals.

pub mod actor;
pub mod annotations;
pub mod codequality;
mod detect;
pub mod gate;
pub mod github;
pub mod gitlab;
pub mod judge;
pub mod policy;
pub mod render;
pub mod sarif;
pub mod subject;
pub mod summary;
mod words;

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use gix::ObjectId;

pub use render::Format;
pub use subject::{Env, Given, Provider, Subject};

use crate::engine::verdict::Verdict;
use gate::FlagState;

/// Everything `git guard ci` is told.
#[derive(Debug, Clone)]
pub struct Options {
    /// A directory inside the repository the job checked out.
    pub repo_dir: PathBuf,
    /// The CI (`None`: found from the environment).
    pub provider: Option<Provider>,
    /// `--base`, `--head`, `--as` (for `--ci plain` only).
    pub given: Given,
    /// A policy file outside the checkout (default: `policy.toml` of the base branch).
    pub policy: Option<PathBuf>,
    /// What is printed on standard output.
    pub format: Format,
    /// More reports, each written to its file (a Markdown summary is appended to, as
    /// `GITHUB_STEP_SUMMARY` expects).
    pub reports: Vec<(Format, PathBuf)>,
}

/// What a CI job decided.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub subject: Subject,
    /// The base commit the policy was read at.
    pub policy_base: Option<ObjectId>,
    pub verdict: Verdict,
    /// Every flag and the approvals that clear it.
    pub flags: Vec<FlagState>,
    /// Whether the check fails: a violation in enforce mode, or a flag no approval clears.
    pub blocked: bool,
}

impl Outcome {
    /// 0 passed, 1 rejected.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.blocked)
    }
    /// "passed", "rejected" or "warned" (something would block in warn mode).
    pub fn outcome(&self) -> &'static str {
        if self.blocked {
            "rejected"
        } else if self.verdict.violations().next().is_some()
            || self.flags.iter().any(|f| !f.approved())
        {
            "warned"
        } else {
            "passed"
        }
    }
}

/// Find the subject, judge it and tell the verdict; return the exit code (0 passed, 1
/// rejected). An `Err` means the job could not be judged (exit 2): the check fails.
pub fn run(opts: &Options, env: Env, out: &mut dyn Write) -> Result<i32> {
    let outcome = judge_job(opts, env)?;
    render::render(&outcome, opts.format, out).context("cannot write the verdict")?;
    for (format, path) in &opts.reports {
        render::write_report(&outcome, *format, path)?;
    }
    Ok(outcome.exit_code())
}

/// Find the subject and judge it.
pub fn judge_job(opts: &Options, env: Env) -> Result<Outcome> {
    let subject = detect::find(opts.provider, &opts.given, env)?;
    let repo = crate::engine::repo::discover(&opts.repo_dir)?;
    judge::judge(&repo, subject, opts.policy.as_deref())
}
