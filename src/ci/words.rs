//! What every CI format shares: how much a finding weighs in this job, what the reader can do
//! about it (the command that clears a flag), one-line messages, the blocking findings first and
//! the closing status line. Words only: writes nothing and runs nothing.
//!
//! Nothing here quotes a changed file: a finding's message is all that is shown.

use super::Outcome;
use super::judge::{blocks, flag_of};
use crate::engine::verdict::{Finding, Severity};

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
