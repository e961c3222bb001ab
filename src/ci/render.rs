//! How a CI job's verdict is told: the formats, the choice between them, and what every
//! format shares (how much a finding weighs in CI, the words that go with it). The text and
//! JSON forms are here; SARIF, GitHub annotations, the Markdown summary and GitLab code
//! quality are beside it.
//!
//! Nothing here quotes a changed file: a finding's message is all that is shown, and the
//! secrets rule has already cut a secret to its first four characters there.

use std::io::{self, Write};
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

use super::Outcome;
use super::judge::{blocks, flag_of};
use crate::engine::verdict::{Finding, Severity, finding_line};

/// A way to tell the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Sarif,
    /// GitHub workflow commands (`::error file=...,line=...::...`).
    Github,
    /// A Markdown job summary.
    Markdown,
    /// GitLab code quality JSON.
    Codequality,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format> {
        Ok(match s {
            "text" => Format::Text,
            "json" => Format::Json,
            "sarif" => Format::Sarif,
            "github" => Format::Github,
            "markdown" | "md" => Format::Markdown,
            "codequality" | "gitlab" => Format::Codequality,
            other => bail!(
                "unknown format '{other}'; hint: use text, json, sarif, github, markdown or \
                 codequality"
            ),
        })
    }

    /// `FORMAT=FILE`, as `--report` takes it.
    pub fn parse_report(s: &str) -> Result<(Format, std::path::PathBuf)> {
        match s.split_once('=') {
            Some((f, path)) if !path.is_empty() => Ok((Format::parse(f)?, path.into())),
            _ => bail!("--report takes FORMAT=FILE (for example `sarif=guard.sarif`), got {s:?}"),
        }
    }
}

/// Write the verdict in `format`.
pub fn render(o: &Outcome, format: Format, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Text => render_text(o, out),
        Format::Json => render_json(o, out),
        Format::Sarif => super::sarif::render(o, out),
        Format::Github => super::annotations::render(o, out),
        Format::Markdown => super::summary::render(o, out),
        Format::Codequality => super::codequality::render(o, out),
    }
}

/// Write a report to `path`: a Markdown summary is appended (a job summary file collects
/// every step's), every other format replaces the file.
pub fn write_report(o: &Outcome, format: Format, path: &Path) -> Result<()> {
    let mut buf = Vec::new();
    render(o, format, &mut buf)?;
    let mut file = std::fs::OpenOptions::new();
    if format == Format::Markdown {
        file.append(true).create(true);
    } else {
        file.write(true).create(true).truncate(true);
    }
    file.open(path)
        .and_then(|mut f| f.write_all(&buf))
        .with_context(|| format!("cannot write the {format:?} report to {}", path.display()))
}

/// How much a finding weighs in this job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    /// It fails the check.
    Blocks,
    /// It would fail the check in enforce mode (warn mode: reported only).
    Warns,
    /// An approved flag, or a note.
    Informs,
}

pub fn weight(o: &Outcome, f: &Finding) -> Weight {
    if blocks(o, f) {
        return Weight::Blocks;
    }
    let approved = f.severity == Severity::Flag && flag_of(o, f).is_some_and(|s| s.approved());
    match f.severity {
        Severity::Violation => Weight::Warns,
        Severity::Flag if !approved => Weight::Warns,
        _ => Weight::Informs,
    }
}

/// What the reader can do, and for a flag what clears it.
pub fn advice(o: &Outcome, f: &Finding) -> String {
    let mut s = f.hint.clone();
    if f.severity == Severity::Flag {
        let extra = match flag_of(o, f) {
            Some(state) if state.approved() => {
                format!("approved by {}", state.approved_by.join(", "))
            }
            _ => approve_command(o, f),
        };
        if !s.is_empty() {
            s.push_str("; ");
        }
        s.push_str(&extra);
    }
    s
}

/// The command a human runs to clear a flag.
pub fn approve_command(o: &Outcome, f: &Finding) -> String {
    let commit = f
        .commit
        .or_else(|| head_of(o))
        .map(|c| c.to_string())
        .unwrap_or_else(|| "COMMIT".into());
    format!(
        "blocks until a human approves it: `git guard approve {commit} --flag '{}' -m WHY --sign KEY` (signed: CI trusts no unsigned approval)",
        f.flag_id()
    )
}

fn head_of(o: &Outcome) -> Option<gix::ObjectId> {
    o.verdict
        .units
        .iter()
        .rev()
        .find_map(|u| u.commits.last().and_then(|c| c.id))
}

/// One line of text without control characters (a message is told on one line everywhere).
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The findings, the blocking ones first.
pub fn ordered(o: &Outcome) -> Vec<&Finding> {
    let mut v: Vec<&Finding> = o.verdict.findings.iter().collect();
    v.sort_by_key(|f| {
        (
            match weight(o, f) {
                Weight::Blocks => 0,
                Weight::Warns => 1,
                Weight::Informs => 2,
            },
            std::cmp::Reverse(f.severity),
        )
    });
    v
}

/// The closing line: "git-guard ci: REJECTED: 1 violation, 2 flags (1 unapproved), ...".
pub fn status_line(o: &Outcome) -> String {
    let nv = o.verdict.violations().count();
    let nf = o.flags.len();
    let open = o.flags.iter().filter(|f| !f.approved()).count();
    let status = match o.outcome() {
        "rejected" => "REJECTED",
        "warned" => "PASSED (warn mode: reported, nothing blocked)",
        _ => "PASSED",
    };
    format!(
        "git-guard ci: {status}: {nv} violation{}, {nf} flag{} ({open} unapproved); {} judged as {} ({}, from {}); {}",
        plural(nv),
        plural(nf),
        o.subject.description,
        o.verdict.actor.name,
        o.verdict.actor.role,
        o.verdict.actor.source,
        o.verdict.policy,
    )
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn render_text(o: &Outcome, out: &mut dyn Write) -> io::Result<()> {
    for f in ordered(o) {
        writeln!(out, "{}", one_line(&finding_line(f)))?;
        let advice = advice(o, f);
        if !advice.is_empty() {
            writeln!(out, "  hint: {}", one_line(&advice))?;
        }
    }
    writeln!(out, "{}", status_line(o))
}

/// The stable JSON form (docs/CI.md).
fn render_json(o: &Outcome, out: &mut dyn Write) -> io::Result<()> {
    #[derive(Serialize)]
    struct Item<'a> {
        #[serde(flatten)]
        finding: &'a Finding,
        blocks: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        flag_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        approved_by: Option<&'a [String]>,
    }
    #[derive(Serialize)]
    struct Doc<'a> {
        version: u32,
        door: &'a str,
        ci: &'a str,
        subject: &'a str,
        outcome: &'a str,
        exit_code: i32,
        policy: &'a str,
        actor: &'a crate::engine::identity::Actor,
        findings: Vec<Item<'a>>,
        risk: &'a crate::engine::verdict::Risk,
    }
    let findings = ordered(o)
        .into_iter()
        .map(|f| Item {
            finding: f,
            blocks: blocks(o, f),
            flag_id: (f.severity == Severity::Flag).then(|| f.flag_id()),
            approved_by: flag_of(o, f).map(|s| s.approved_by.as_slice()),
        })
        .collect();
    serde_json::to_writer_pretty(
        &mut *out,
        &Doc {
            version: 1,
            door: "ci",
            ci: o.subject.provider.name(),
            subject: &o.subject.description,
            outcome: o.outcome(),
            exit_code: o.exit_code(),
            policy: &o.verdict.policy,
            actor: &o.verdict.actor,
            findings,
            risk: &o.verdict.risk,
        },
    )?;
    writeln!(out)
}
