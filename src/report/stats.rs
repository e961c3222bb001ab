//! `git guard stats`: what the doors decided, counted from the audit logs.
//!
//! The audit log is the only source: every door already appends one hash-chained line per
//! decision, so the figures travel with the logs and need no database. From the receive
//! door's lines: agent changes proposed, accepted and refused, and the rules that refused them;
//! from the approval commands': approvals written, refused and revoked; from guard-deploy's:
//! deploys, refused and failed deploys, rollbacks (by the health check or by hand), the
//! post-deploy regression rate and the mean time from a switch to its rollback.
//!
//! Pure over already-read logs: it reads no file itself and prints only to the writer given.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;
use serde_json::Value;

use crate::site::audit::{Entry, Log};

/// The figures `git guard stats` prints.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// The first record counted (seconds since the epoch), when a `--since` was given.
    pub since: Option<i64>,
    /// Records read, in all logs.
    pub records: usize,
    /// Pushes by an agent identity judged at receive time.
    pub proposed: u64,
    pub accepted: u64,
    pub refused: u64,
    /// For refused agent pushes: how many times each rule id was among the reasons.
    pub refused_by_rule: BTreeMap<String, u64>,
    /// Approval records written, refused, and revoked.
    pub approvals: u64,
    pub approvals_refused: u64,
    pub revocations: u64,
    /// Deploys that switched and stayed, deploys the guard refused, deploys that failed before
    /// the switch.
    pub deploys: u64,
    pub deploys_refused: u64,
    pub deploys_failed: u64,
    /// Switches undone: by the health check (the deploy rolled itself back) or by hand
    /// (`guard-deploy rollback`).
    pub rollbacks_automatic: u64,
    pub rollbacks_manual: u64,
    /// Rollbacks per switched release (`None` before the first switch).
    pub regression_rate: Option<f64>,
    /// Mean seconds from a release's switch to its rollback (`None` without a rollback).
    pub mean_time_to_rollback_secs: Option<f64>,
    /// Logs whose hash chain is broken: the figures still count their lines.
    pub broken_logs: Vec<String>,
}

/// Count the records of `logs` (each with the name it is reported by) from `since` on.
pub fn compute(logs: &[(String, Log)], since: Option<i64>) -> Stats {
    let mut s = Stats {
        since,
        ..Stats::default()
    };
    let mut entries: Vec<&Entry> = Vec::new();
    for (name, log) in logs {
        if !log.intact() {
            s.broken_logs.push(name.clone());
        }
        entries.extend(
            log.entries
                .iter()
                .filter(|e| since.is_none_or(|t| e.time.is_some_and(|et| et >= t))),
        );
    }
    entries.sort_by_key(|e| e.time.unwrap_or(i64::MIN));
    s.records = entries.len();

    // A deploy switches `current` before its reload and health steps: the first of those
    // steps is when the new release began to serve (`switching`). A deploy that ends `done`
    // leaves that release serving (`serving`) until a rollback by hand; one that ends
    // `rolled-back` was undone by its own health check.
    let mut switching: Option<i64> = None;
    let mut serving: Option<i64> = None;
    let mut switch_to_rollback: Vec<i64> = Vec::new();
    let mut switched: u64 = 0;
    for e in entries {
        let v = &e.value;
        let door = text(v, "door");
        let outcome = text(v, "outcome");
        let action = text(v, "action");
        match door {
            "pre-receive" | "update" if text(v, "role") == "agent" => {
                s.proposed += 1;
                match outcome {
                    "passed" | "warned" => s.accepted += 1,
                    _ => {
                        s.refused += 1;
                        for rule in rules(v) {
                            *s.refused_by_rule.entry(rule).or_default() += 1;
                        }
                    }
                }
            }
            "approve" => match outcome {
                "ok" => s.approvals += 1,
                _ => s.approvals_refused += 1,
            },
            "revoke" if outcome == "ok" => s.revocations += 1,
            "deploy" => {
                let rollback = action.starts_with("rollback");
                let step = action.rsplit(' ').next().unwrap_or("");
                match outcome {
                    "started" if !rollback && (step == "reload" || step == "health") => {
                        switching = switching.or(e.time);
                    }
                    "done" if rollback => {
                        s.rollbacks_manual += 1;
                        if let (Some(from), Some(to)) = (serving.take(), e.time) {
                            switch_to_rollback.push(to - from);
                        }
                    }
                    "done" => {
                        s.deploys += 1;
                        switched += 1;
                        serving = switching.take().or(e.time);
                    }
                    "rolled-back" if !rollback => {
                        s.rollbacks_automatic += 1;
                        switched += 1;
                        if let (Some(from), Some(to)) = (switching.take(), e.time) {
                            switch_to_rollback.push(to - from);
                        }
                    }
                    "refused" if !rollback => {
                        s.deploys_refused += 1;
                        switching = None;
                    }
                    "failed" if !rollback => {
                        s.deploys_failed += 1;
                        switching = None;
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    let rollbacks = s.rollbacks_automatic + s.rollbacks_manual;
    if switched > 0 {
        s.regression_rate = Some(rollbacks as f64 / switched as f64);
    }
    if !switch_to_rollback.is_empty() {
        let sum: i64 = switch_to_rollback.iter().sum();
        s.mean_time_to_rollback_secs = Some(sum as f64 / switch_to_rollback.len() as f64);
    }
    s
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn rules(v: &Value) -> Vec<String> {
    v.get("rules")
        .and_then(Value::as_array)
        .map(|a| {
            let mut r: Vec<String> = a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect();
            r.sort();
            r.dedup();
            r
        })
        .unwrap_or_default()
}

/// The figures as text, one per line.
pub fn render_text(s: &Stats, out: &mut dyn Write) -> io::Result<()> {
    if s.records == 0 {
        writeln!(out, "no audit records yet{}", since_text(s))?;
        return Ok(());
    }
    writeln!(out, "{} audit records{}", s.records, since_text(s))?;
    writeln!(
        out,
        "agent changes: {} proposed, {} accepted, {} refused",
        s.proposed, s.accepted, s.refused
    )?;
    if !s.refused_by_rule.is_empty() {
        let mut by: Vec<(&String, &u64)> = s.refused_by_rule.iter().collect();
        by.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let list: Vec<String> = by.iter().map(|(r, n)| format!("{r} {n}")).collect();
        writeln!(out, "  refused by: {}", list.join(", "))?;
    }
    writeln!(
        out,
        "approvals: {} written, {} refused, {} revoked",
        s.approvals, s.approvals_refused, s.revocations
    )?;
    writeln!(
        out,
        "deploys: {} done, {} refused, {} failed before the switch",
        s.deploys, s.deploys_refused, s.deploys_failed
    )?;
    writeln!(
        out,
        "rollbacks: {} by the health check, {} by hand",
        s.rollbacks_automatic, s.rollbacks_manual
    )?;
    match s.regression_rate {
        Some(r) => writeln!(out, "post-deploy regression rate: {:.1}%", r * 100.0)?,
        None => writeln!(out, "post-deploy regression rate: no release switched yet")?,
    }
    match s.mean_time_to_rollback_secs {
        Some(t) => writeln!(out, "mean time to roll back: {}", duration_text(t))?,
        None => writeln!(out, "mean time to roll back: no rollback")?,
    }
    for b in &s.broken_logs {
        writeln!(
            out,
            "warning: the hash chain of {b} is broken (git guard log --verify --file {b}); its lines are counted as they stand"
        )?;
    }
    Ok(())
}

/// The figures as one JSON object.
pub fn render_json(s: &Stats, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, s)?;
    writeln!(out)
}

fn since_text(s: &Stats) -> String {
    match s.since {
        Some(t) => format!(
            " since {}",
            crate::site::audit::rfc3339(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64)
            )
        ),
        None => String::new(),
    }
}

fn duration_text(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::audit::check;

    fn log(lines: &[Value]) -> Log {
        // Build a real chained log through the audit module's own writer.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        for l in lines {
            let ev = crate::site::audit::Event {
                door: text(l, "door").into(),
                action: text(l, "action").into(),
                actor: "x".into(),
                role: match text(l, "role") {
                    "agent" => Some(crate::engine::policy::Role::Agent),
                    _ => Some(crate::engine::policy::Role::Human),
                },
                outcome: text(l, "outcome").into(),
                rules: rules(l),
                detail: Value::Null,
            };
            crate::site::audit::append(&path, &ev).unwrap();
        }
        check(&std::fs::read(&path).unwrap())
    }

    #[test]
    fn counts_each_door() {
        let j = |door: &str, action: &str, role: &str, outcome: &str, rules: &[&str]| serde_json::json!({"door": door, "action": action, "role": role, "outcome": outcome, "rules": rules});
        let l = log(&[
            j(
                "pre-receive",
                "push refs/heads/agent/a",
                "agent",
                "passed",
                &[],
            ),
            j(
                "pre-receive",
                "push refs/heads/agent/b",
                "agent",
                "rejected",
                &["caps.max_files", "paths.deny"],
            ),
            j(
                "pre-receive",
                "push refs/heads/agent/c",
                "agent",
                "rejected",
                &["paths.deny"],
            ),
            j(
                "pre-receive",
                "push refs/heads/main",
                "human",
                "passed",
                &[],
            ),
            j("approve", "approve abc", "human", "ok", &[]),
            j("approve", "approve", "agent", "rejected", &[]),
            j("revoke", "revoke abc", "human", "ok", &[]),
            j("deploy", "deploy abc step lock", "human", "started", &[]),
            j("deploy", "deploy abc step health", "human", "started", &[]),
            j("deploy", "deploy abc step health", "human", "done", &[]),
            j("deploy", "deploy def step health", "human", "started", &[]),
            j(
                "deploy",
                "deploy def step health",
                "human",
                "rolled-back",
                &[],
            ),
            j(
                "deploy",
                "deploy 123 step approvals",
                "human",
                "refused",
                &[],
            ),
        ]);
        let s = compute(&[("audit.log".into(), l)], None);
        assert_eq!((s.proposed, s.accepted, s.refused), (3, 1, 2));
        assert_eq!(s.refused_by_rule.get("paths.deny"), Some(&2));
        assert_eq!(s.refused_by_rule.get("caps.max_files"), Some(&1));
        assert_eq!((s.approvals, s.approvals_refused, s.revocations), (1, 1, 1));
        assert_eq!((s.deploys, s.deploys_refused, s.deploys_failed), (1, 1, 0));
        assert_eq!((s.rollbacks_automatic, s.rollbacks_manual), (1, 0));
        assert_eq!(s.regression_rate, Some(0.5));
        assert!(s.mean_time_to_rollback_secs.is_some());
        let mut text = Vec::new();
        render_text(&s, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains("agent changes: 3 proposed, 1 accepted, 2 refused"),
            "{text}"
        );
        assert!(
            text.contains("refused by: paths.deny 2, caps.max_files 1"),
            "{text}"
        );
        assert!(
            text.contains("post-deploy regression rate: 50.0%"),
            "{text}"
        );
    }

    #[test]
    fn no_records_says_so() {
        let s = compute(&[], None);
        let mut text = Vec::new();
        render_text(&s, &mut text).unwrap();
        assert_eq!(String::from_utf8(text).unwrap(), "no audit records yet\n");
    }
}
