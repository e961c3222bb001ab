//! `git guard report`: the evidence a reviewer reads before approving.
//!
//! For the commits of a branch not on its base: the goal (from the commit messages), the
//! commits, the files with their line counts, the diff, every rule's verdict, the flags and
//! approvals, the last test run of the tip's tree, the risk score with its reasons, and a
//! checklist where what the guard verified is ticked and what only a person can judge is left
//! open. Next-step commands close it. Markdown for people, JSON for tools, and the proposal
//! card (one HTML page, `card.rs`) for a reviewer's browser.

pub mod card;
pub mod check;
pub mod stats;

use std::io::{self, Write};
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde::Serialize;
use similar::TextDiff;

use crate::approvals::{self, CommitFlags, Status, read_blob, short};
use crate::contain::testrun::{self, TestRun};
use crate::engine::changes::{FileChange, Unit};
use crate::engine::identity::Actor;
use crate::engine::model::{self, ModelOptions};
use crate::engine::policy::{Policy, Role};
use crate::engine::verdict::{Finding, Risk, Severity};

/// Diff lines shown per file, and in all, before the rest is left out.
pub const MAX_DIFF_LINES_PER_FILE: usize = 200;
pub const MAX_DIFF_LINES: usize = 1500;

/// The rule sections, in the order the engine runs them.
pub const RULE_SECTIONS: &[&str] = &[
    "refs", "paths", "caps", "secrets", "tests", "commits", "risk",
];

#[derive(Debug, Clone, Serialize)]
pub struct CommitLine {
    pub id: String,
    pub summary: String,
    pub files: usize,
    pub added: u64,
    pub removed: u64,
    pub pusher: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileLine {
    pub kind: String,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
    pub added: u32,
    pub removed: u32,
    pub binary: bool,
}

/// One rule section's verdict: `pass`, or the worst severity it found.
#[derive(Debug, Clone, Serialize)]
pub struct RuleVerdict {
    pub section: String,
    pub verdict: String,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApprovalLine {
    pub commit: String,
    pub id: String,
    pub approver: String,
    pub at: String,
    pub why: String,
    pub flags: Vec<String>,
    pub signed: bool,
    #[serde(flatten)]
    pub status: Status,
}

/// A human override of the reviewed branch (`git guard allow`), and whether it counts.
#[derive(Debug, Clone, Serialize)]
pub struct OverrideLine {
    pub id: String,
    pub branch: String,
    /// `allow` or `revoke`.
    pub kind: String,
    /// What it allows, in words (`caps.max_lines 800, protected paths self_upgrade/**`).
    pub allows: String,
    pub approver: String,
    pub at: String,
    pub why: String,
    pub signed: bool,
    #[serde(flatten)]
    pub status: Status,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckItem {
    pub done: bool,
    pub text: String,
}

/// Everything the report says.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub version: u32,
    /// The policy the report judged by (`site::config::policy_for_repo`).
    pub policy: String,
    pub branch: String,
    pub base: String,
    pub tip: String,
    pub tip_tree: String,
    pub goal: String,
    pub commits: Vec<CommitLine>,
    pub files: Vec<FileLine>,
    pub added: u64,
    pub removed: u64,
    pub diff: String,
    pub diff_truncated: bool,
    pub outcome: String,
    pub rules: Vec<RuleVerdict>,
    pub flags: Vec<CommitFlags>,
    pub approvals: Vec<ApprovalLine>,
    /// The human overrides recorded for the branch, when a branch is reviewed.
    pub overrides: Vec<OverrideLine>,
    pub test_run: Option<TestRun>,
    pub risk: Risk,
    /// The consent level the risk sets, why, and who has consented.
    pub consent: approvals::Consent,
    pub checklist: Vec<CheckItem>,
    pub next_steps: Vec<String>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Json,
    /// The proposal card: one self-contained page ([`card`]).
    Html,
}

/// Build the report for `branch` (a rev) against `base`.
pub fn build(repo: &gix::Repository, policy: &Policy, branch: &str, base: &str) -> Result<Report> {
    let spec = format!("{base}..{branch}");
    let opts = ModelOptions::for_policy(policy);
    let unit = model::range(repo, &spec, opts)
        .with_context(|| format!("cannot read the commits of {spec}"))?;
    let (tip, tip_tree) = approvals::resolve_commit(repo, branch)?;

    // Judged as an agent whatever the pusher's role: the reviewer wants every violation, not
    // an admin's bypass notes.
    let pusher = approvals::pusher_of(repo, tip)?.map(|p| p.pusher);
    let actor = Actor {
        name: pusher.clone().unwrap_or_else(|| "(unknown pusher)".into()),
        role: Role::Agent,
        source: "git guard report".into(),
    };
    // A branch is judged under its human overrides, as the receive door judges it.
    let branch_ref = [format!("refs/heads/{branch}"), branch.to_string()]
        .into_iter()
        .find(|r| {
            r.starts_with("refs/heads/")
                && repo.try_find_reference(r.as_str()).ok().flatten().is_some()
        });
    let (verdict, overrides) = match &branch_ref {
        Some(b) => (
            approvals::judge_unit_as_branch(repo, policy, &actor, unit.clone(), b)?,
            approvals::list_overrides(repo, policy)?
                .into_iter()
                .filter(|o| &o.record.branch == b)
                .collect(),
        ),
        None => (
            crate::engine::judge_units(policy, &actor, vec![unit.clone()]),
            Vec::new(),
        ),
    };
    let active_paths: Vec<(crate::engine::policy::PathPatterns, String)> = overrides
        .iter()
        .filter(|o| o.record.kind == approvals::OverrideKind::Allow && o.status == Status::Valid)
        .filter_map(|o| {
            crate::engine::policy::PathPatterns::new(&o.record.paths, policy.paths.case_insensitive)
                .ok()
                .filter(|p| !p.is_empty())
                .map(|p| (p, o.id.to_string()))
        })
        .collect();

    let mut flags = Vec::new();
    let mut approvals_out = Vec::new();
    let mut commits = Vec::new();
    for c in &unit.commits {
        let mut cf = approvals::flags_of_changes(repo, policy, c)?;
        // A protected path an override of the branch allows is cleared by that override.
        for f in cf
            .flags
            .iter_mut()
            .filter(|f| f.finding.rule == "paths.protected")
        {
            let path = f.finding.path.clone().unwrap_or_default();
            if let Some((_, id)) = active_paths.iter().find(|(p, _)| p.is_match(&path)) {
                f.approved_by.push(id.clone());
            }
        }
        commits.push(CommitLine {
            id: cf.commit.clone(),
            summary: cf.summary.clone(),
            files: cf.files,
            added: cf.added,
            removed: cf.removed,
            pusher: cf.pusher.clone(),
        });
        if let Some(id) = c.id {
            for l in approvals::list_for_commit(repo, policy, id)? {
                let r = &l.stored.record;
                if r.kind != approvals::RecordKind::Approve {
                    continue;
                }
                approvals_out.push(ApprovalLine {
                    commit: r.commit.clone(),
                    id: l.stored.id.to_string(),
                    approver: r.approver.clone(),
                    at: r.at.clone(),
                    why: r.why.clone(),
                    flags: r.flags.clone(),
                    signed: l.stored.signature.is_some(),
                    status: l.status.clone(),
                });
            }
        }
        if !cf.flags.is_empty() {
            flags.push(cf);
        }
    }

    let files: Vec<FileLine> = unit
        .cumulative
        .iter()
        .map(|f| FileLine {
            kind: f.kind.name().to_string(),
            path: f.path().to_string(),
            old_path: f
                .old_path
                .clone()
                .filter(|o| Some(o) != f.new_path.as_ref()),
            added: f.added,
            removed: f.removed,
            binary: f.binary,
        })
        .collect();
    let (diff, diff_truncated) = render_diff(repo, &unit.cumulative)?;

    let rules = RULE_SECTIONS
        .iter()
        .map(|section| {
            let found: Vec<Finding> = verdict
                .findings
                .iter()
                .filter(|f| f.rule.split('.').next() == Some(section))
                .cloned()
                .collect();
            let verdict = match found.iter().map(|f| f.severity).max() {
                None => "pass",
                Some(Severity::Note) => "note",
                Some(Severity::Flag) => "flag",
                Some(Severity::Violation) => "violation",
            };
            RuleVerdict {
                section: section.to_string(),
                verdict: verdict.into(),
                findings: found,
            }
        })
        .collect();

    let test_run = testrun::recorded(repo, tip_tree)?;
    let outstanding: usize = flags.iter().map(|c| c.outstanding().count()).sum();
    let total_flags: usize = flags.iter().map(|c| c.flags.len()).sum();
    let violations = verdict.violations().count();
    let tip_short = short(&tip);

    let mut checklist = vec![
        CheckItem {
            done: violations == 0,
            text: if violations == 0 {
                "The policy's rules pass on every commit and on the change as a whole".into()
            } else {
                format!("The policy's rules pass ({violations} violation(s) found: see Rules)")
            },
        },
        CheckItem {
            done: verdict.risk.score <= policy.risk.max_agent_risk,
            text: format!(
                "Risk {}/5 is within the agent limit of {}",
                verdict.risk.score, policy.risk.max_agent_risk
            ),
        },
        CheckItem {
            done: test_run.as_ref().is_some_and(|t| t.passed),
            text: match &test_run {
                Some(t) if t.passed => format!(
                    "Tests passed in a clean checkout of tree {} ({})",
                    &t.tree[..12.min(t.tree.len())],
                    t.at
                ),
                Some(t) => format!(
                    "Tests pass in a clean checkout of this tree (last run {}: {})",
                    t.at,
                    if t.timed_out {
                        "timed out".to_string()
                    } else {
                        format!(
                            "exit {}",
                            t.exit_code.map_or("none".into(), |c| c.to_string())
                        )
                    }
                ),
                None => "Tests pass in a clean checkout of this tree (not run yet)".into(),
            },
        },
        CheckItem {
            done: outstanding == 0,
            text: if total_flags == 0 {
                "No flag needs a person's approval".into()
            } else {
                format!("Every flag is approved ({outstanding} of {total_flags} outstanding)")
            },
        },
        CheckItem {
            done: false,
            text: "The change does what the goal says, and nothing else".into(),
        },
        CheckItem {
            done: false,
            text: "The code is correct and maintainable: read the diff".into(),
        },
    ];
    if flags
        .iter()
        .flat_map(|c| &c.flags)
        .any(|f| f.finding.rule.starts_with("tests."))
    {
        checklist.push(CheckItem {
            done: false,
            text: "The test changes are justified: nothing was weakened or switched off to pass"
                .into(),
        });
    }
    if flags
        .iter()
        .flat_map(|c| &c.flags)
        .any(|f| f.finding.rule.starts_with("paths."))
    {
        checklist.push(CheckItem {
            done: false,
            text: "The changes to protected paths (policy, hooks, CI, deploy) are intended".into(),
        });
    }

    let mut next_steps = Vec::new();
    if test_run.as_ref().is_none_or(|t| !t.passed) {
        next_steps.push(format!("git guard test {tip_short}"));
    }
    for c in &flags {
        if c.outstanding().next().is_some() {
            next_steps.push(format!(
                "git guard approve {} -m \"WHY\"",
                &c.commit[..12.min(c.commit.len())]
            ));
        }
    }
    let consent = approvals::consent(repo, policy, tip, tip_tree, verdict.risk.score)?;
    if !consent.met && !next_steps.iter().any(|s| s.contains(&*tip_short)) {
        next_steps.push(format!("git guard approve {tip_short} -m \"WHY\""));
    }
    next_steps.push(format!("guard-deploy deploy {tip_short}"));

    Ok(Report {
        version: 1,
        policy: policy.source.to_string(),
        branch: branch.to_string(),
        base: base.to_string(),
        tip: tip.to_string(),
        tip_tree: tip_tree.to_string(),
        goal: goal(&unit),
        added: files.iter().map(|f| u64::from(f.added)).sum(),
        removed: files.iter().map(|f| u64::from(f.removed)).sum(),
        commits,
        files,
        diff,
        diff_truncated,
        outcome: verdict.outcome().to_string(),
        rules,
        flags,
        approvals: approvals_out,
        overrides: overrides
            .iter()
            .map(|o| OverrideLine {
                id: o.id.to_string(),
                branch: o.record.branch.clone(),
                kind: match o.record.kind {
                    approvals::OverrideKind::Allow => "allow".into(),
                    approvals::OverrideKind::Revoke => "revoke".into(),
                },
                allows: o.record.describe(),
                approver: o.record.approver.clone(),
                at: o.record.at.clone(),
                why: o.record.why.clone(),
                signed: o.signature.is_some(),
                status: o.status.clone(),
            })
            .collect(),
        test_run,
        risk: verdict.risk.clone(),
        consent,
        checklist,
        next_steps,
    })
}

/// The goal as the commits state it: the oldest commit's whole message, then the subjects of
/// the others.
fn goal(unit: &Unit) -> String {
    let mut commits = unit.commits.iter();
    let Some(first) = commits.next() else {
        return "(no commits)".into();
    };
    let mut s = first.message.trim().to_string();
    if s.is_empty() {
        s = first.summary.clone();
    }
    for c in commits {
        s.push_str("\n- then: ");
        s.push_str(&c.summary);
    }
    s
}

/// The cumulative diff, unified, with sensible limits. Returns whether anything was left out.
fn render_diff(repo: &gix::Repository, files: &[FileChange]) -> Result<(String, bool)> {
    let mut out = String::new();
    let mut total = 0usize;
    let mut truncated = false;
    for (i, f) in files.iter().enumerate() {
        if total >= MAX_DIFF_LINES {
            out.push_str(&format!(
                "[... the diffs of {} more file(s) are not shown: git diff the range for all of it]\n",
                files.len() - i
            ));
            truncated = true;
            break;
        }
        let a = f.old_path.as_deref().unwrap_or(f.path());
        let b = f.new_path.as_deref().unwrap_or(f.path());
        if f.binary || f.is_gitlink() {
            out.push_str(&format!(
                "--- a/{a}\n+++ b/{b}\nBinary or submodule change\n"
            ));
            total += 3;
            continue;
        }
        let read = |id: Option<gix::ObjectId>| -> Result<String> {
            match id {
                Some(id) if !id.is_null() => {
                    Ok(String::from_utf8_lossy(&read_blob(repo, id)?).into_owned())
                }
                _ => Ok(String::new()),
            }
        };
        let old = read(f.old_id)?;
        let new = read(f.new_id)?;
        if old == new {
            out.push_str(&format!(
                "--- a/{a}\n+++ b/{b}\n{} (content unchanged)\n",
                f.kind.name()
            ));
            total += 3;
            continue;
        }
        let diff = TextDiff::configure()
            .timeout(Duration::from_secs(2))
            .diff_lines(old.as_str(), new.as_str());
        let text = diff
            .unified_diff()
            .context_radius(3)
            .header(&format!("a/{a}"), &format!("b/{b}"))
            .to_string();
        let lines: Vec<&str> = text.lines().collect();
        let room = MAX_DIFF_LINES_PER_FILE.min(MAX_DIFF_LINES - total);
        for l in lines.iter().take(room) {
            out.push_str(l);
            out.push('\n');
        }
        total += lines.len().min(room);
        if lines.len() > room {
            out.push_str(&format!(
                "[... {} more line(s) of this file's diff not shown]\n",
                lines.len() - room
            ));
            truncated = true;
        }
    }
    Ok((out, truncated))
}

/// How an approval stands, in words, for every rendering of the report.
pub(crate) fn status_text(status: &Status) -> String {
    match status {
        Status::Valid => "valid".to_string(),
        Status::Revoked(why) => why.clone(),
        Status::Invalid(why) => format!("does not count: {why}"),
    }
}

/// Write the report in `format`.
pub fn render(r: &Report, format: Format, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, r)?;
            writeln!(out)
        }
        Format::Markdown => render_md(r, out),
        Format::Html => card::render_html(r, out),
    }
}

fn render_md(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let tip = &r.tip[..12.min(r.tip.len())];
    writeln!(out, "# Review: {} ({tip}) against {}", r.branch, r.base)?;
    writeln!(out)?;
    writeln!(out, "Policy: {}", r.policy)?;
    writeln!(out)?;
    writeln!(out, "## Goal")?;
    writeln!(out)?;
    for l in r.goal.lines() {
        writeln!(out, "> {l}")?;
    }
    writeln!(out)?;
    writeln!(out, "## Commits")?;
    writeln!(out)?;
    for c in &r.commits {
        writeln!(
            out,
            "- `{}` {} ({} file(s), +{} -{}; pushed by {})",
            &c.id[..12.min(c.id.len())],
            c.summary,
            c.files,
            c.added,
            c.removed,
            c.pusher.as_deref().unwrap_or("unknown")
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "## Files ({}, +{} -{})",
        r.files.len(),
        r.added,
        r.removed
    )?;
    writeln!(out)?;
    writeln!(out, "| change | path | + | - |")?;
    writeln!(out, "| --- | --- | ---: | ---: |")?;
    for f in &r.files {
        let path = match &f.old_path {
            Some(o) => format!("{o} -> {}", f.path),
            None => f.path.clone(),
        };
        if f.binary {
            writeln!(out, "| {} | `{path}` | bin | bin |", f.kind)?;
        } else {
            writeln!(
                out,
                "| {} | `{path}` | {} | {} |",
                f.kind, f.added, f.removed
            )?;
        }
    }
    writeln!(out)?;
    writeln!(out, "## Rules ({})", r.outcome)?;
    writeln!(out)?;
    for rv in &r.rules {
        writeln!(out, "- **{}**: {}", rv.section, rv.verdict)?;
        for f in &rv.findings {
            writeln!(out, "  - {}", crate::engine::verdict::finding_line(f))?;
            if !f.hint.is_empty() {
                writeln!(out, "    hint: {}", f.hint)?;
            }
            for e in f.evidence_lines() {
                writeln!(out, "    {e}")?;
            }
        }
    }
    writeln!(out)?;
    writeln!(out, "## Flags and approvals")?;
    writeln!(out)?;
    if r.flags.is_empty() {
        writeln!(out, "No flags.")?;
    }
    for c in &r.flags {
        writeln!(
            out,
            "- `{}` {}",
            &c.commit[..12.min(c.commit.len())],
            c.summary
        )?;
        for f in &c.flags {
            let state = if f.approved() {
                format!("approved ({})", f.approved_by_short())
            } else {
                "**outstanding**".into()
            };
            writeln!(out, "  - `{}`: {} — {state}", f.id, f.finding.message)?;
        }
    }
    for a in &r.approvals {
        let status = status_text(&a.status);
        writeln!(
            out,
            "- approval `{}` of `{}` by {} at {}{}: \"{}\" ({status})",
            &a.id[..12.min(a.id.len())],
            &a.commit[..12.min(a.commit.len())],
            a.approver,
            a.at,
            if a.signed { ", signed" } else { "" },
            a.why
        )?;
    }
    if !r.overrides.is_empty() {
        writeln!(out)?;
        writeln!(out, "## Overrides")?;
        writeln!(out)?;
        for o in &r.overrides {
            let what = if o.kind == "allow" {
                format!("allows {} on `{}`", o.allows, o.branch)
            } else {
                format!("revokes an override of `{}`", o.branch)
            };
            let status = match &o.status {
                Status::Valid if o.kind == "allow" => "in effect".to_string(),
                other => status_text(other),
            };
            writeln!(
                out,
                "- override `{}` {what}, by {} at {}{}: \"{}\" ({status})",
                &o.id[..12.min(o.id.len())],
                o.approver,
                o.at,
                if o.signed { ", signed" } else { "" },
                o.why
            )?;
        }
    }
    writeln!(out)?;
    writeln!(out, "## Tests")?;
    writeln!(out)?;
    match &r.test_run {
        Some(t) => {
            writeln!(
                out,
                "`{}` on tree `{}` at {} by {}: {} in {} ms",
                t.command,
                &t.tree[..12.min(t.tree.len())],
                t.at,
                t.actor,
                if t.passed {
                    "passed".to_string()
                } else if t.timed_out {
                    format!("timed out after {} s", t.timeout_secs)
                } else {
                    format!(
                        "failed (exit {})",
                        t.exit_code.map_or("none".into(), |c| c.to_string())
                    )
                },
                t.duration_ms
            )?;
            if !t.output_tail.trim().is_empty() {
                writeln!(out)?;
                writeln!(out, "```text")?;
                let lines: Vec<&str> = t.output_tail.lines().collect();
                for l in &lines[lines.len().saturating_sub(30)..] {
                    writeln!(out, "{l}")?;
                }
                writeln!(out, "```")?;
            }
        }
        None => writeln!(out, "No recorded test run for this tree.")?,
    }
    writeln!(out)?;
    writeln!(out, "## Risk: {}/5", r.risk.score)?;
    writeln!(out)?;
    writeln!(out, "Consent: {}.", r.consent.describe())?;
    writeln!(out)?;
    if r.risk.reasons.is_empty() {
        writeln!(out, "No risk factors found.")?;
    }
    for reason in &r.risk.reasons {
        writeln!(out, "- {reason}")?;
    }
    writeln!(out)?;
    writeln!(out, "## Checklist")?;
    writeln!(out)?;
    for c in &r.checklist {
        writeln!(out, "- [{}] {}", if c.done { "x" } else { " " }, c.text)?;
    }
    writeln!(out)?;
    writeln!(out, "## Diff")?;
    writeln!(out)?;
    writeln!(out, "```diff")?;
    write!(out, "{}", r.diff)?;
    writeln!(out, "```")?;
    writeln!(out)?;
    writeln!(out, "## Next steps")?;
    writeln!(out)?;
    for s in &r.next_steps {
        writeln!(out, "    {s}")?;
    }
    Ok(())
}
