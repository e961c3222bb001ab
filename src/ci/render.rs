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
use super::words::{advice, one_line, ordered, status_line};
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
