//! `workspace status`: the branch, ahead and behind, outstanding findings and the last push
//! verdict, read from the clone, the upstream and its audit log.
//!
//! Reads; the only write is the keep-alive refresh.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::Serialize;

use crate::engine::policy::Policy;
use crate::site::guards;
use crate::site::workspace::{Record, load_record};

use super::*;

// ----------------------------------------------------------------------------------------
// status, reset, remove
// ----------------------------------------------------------------------------------------

/// What `workspace status` tells.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub root: PathBuf,
    pub branch: String,
    pub head: String,
    pub base: String,
    pub upstream_tip: String,
    pub ahead: usize,
    pub behind: usize,
    /// Outstanding flags (and violations) over upstream..HEAD, as `rule: message`.
    pub findings: Vec<String>,
    /// Why findings could not be computed, if they could not.
    pub findings_error: Option<String>,
    /// The upstream's last verdict on a push of the agent's branch (its server hooks' log).
    pub last_verdict: Option<String>,
    /// The last guard-exec run.
    pub last_exec: Option<String>,
    pub keepalive_refs: usize,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "workspace {}", self.root.display())?;
        writeln!(f, "  branch      {} at {}", self.branch, short(&self.head))?;
        writeln!(
            f,
            "  upstream    {} at {}: {} ahead, {} behind",
            self.base,
            short(&self.upstream_tip),
            self.ahead,
            self.behind
        )?;
        match (&self.findings_error, self.findings.is_empty()) {
            (Some(e), _) => writeln!(f, "  findings    could not judge: {e}")?,
            (None, true) => writeln!(f, "  findings    none outstanding")?,
            (None, false) => {
                writeln!(f, "  findings    {} outstanding", self.findings.len())?;
                for x in &self.findings {
                    writeln!(f, "    {x}")?;
                }
            }
        }
        writeln!(
            f,
            "  last push   {}",
            self.last_verdict.as_deref().unwrap_or("(none recorded)")
        )?;
        writeln!(
            f,
            "  last exec   {}",
            self.last_exec.as_deref().unwrap_or("(none recorded)")
        )?;
        write!(f, "  keep-alive  {} ref(s) refreshed", self.keepalive_refs)
    }
}

/// The last line of a JSON-lines audit log, told in one line.
pub(super) fn last_event(path: &Path, want: impl Fn(&serde_json::Value) -> bool) -> Option<String> {
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .read_to_string(&mut text)
        .ok()?;
    text.lines().rev().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        if !want(&v) {
            return None;
        }
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
        let rules: Vec<String> = v
            .get("rules")
            .and_then(|r| r.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut out = format!("{} {}: {}", s("door"), s("action"), s("outcome"));
        if !rules.is_empty() {
            out.push_str(&format!(" [{}]", rules.join(", ")));
        }
        Some(out)
    })
}

/// The upstream's last pre-receive verdict on a push of the agent's branch, from the audit log
/// its server hooks append to.
pub(super) fn last_push_verdict(record: &Record) -> Option<String> {
    let git_dir = guards::git_dir_of(&record.upstream).ok()?;
    let want = format!("refs/heads/{}", record.branch);
    let mut logs: Vec<PathBuf> = guards::server_guards(&record.upstream, &git_dir)
        .into_iter()
        .map(|g| g.audit_log)
        .collect();
    logs.dedup();
    logs.iter().find_map(|log| {
        last_event(log, |v| {
            v.get("door").and_then(|d| d.as_str()) == Some("pre-receive")
                && v.pointer("/detail/updates")
                    .and_then(|u| u.as_array())
                    .is_some_and(|u| {
                        u.iter()
                            .any(|x| x.get("ref").and_then(|r| r.as_str()) == Some(&want))
                    })
        })
    })
}

/// Branch, ahead/behind the upstream, outstanding findings, last verdict; refreshes the
/// keep-alive refs.
pub fn status(root: &Path) -> Result<Status> {
    let root = root
        .canonicalize()
        .with_context(|| format!("cannot find {}", root.display()))?;
    let record = load_record(&root)?;
    let head = clone_git(&root, &record, &["rev-parse", "HEAD"])?
        .trim()
        .to_string();
    let branch = clone_git(&root, &record, &["symbolic-ref", "--short", "-q", "HEAD"])
        .map(|b| b.trim().to_string())
        .unwrap_or_else(|_| "(detached)".into());
    let upstream_tip = upstream_base_tip(&record)?;
    // The clone sees the upstream's objects, so the upstream tip needs no fetch.
    let counts = clone_git(
        &root,
        &record,
        &[
            "rev-list",
            "--left-right",
            "--count",
            &format!("{upstream_tip}...HEAD"),
        ],
    )?;
    let mut it = counts
        .split_whitespace()
        .map(|n| n.parse::<usize>().unwrap_or(0));
    let behind = it.next().unwrap_or(0);
    let ahead = it.next().unwrap_or(0);
    let (findings, findings_error) = if ahead == 0 {
        (Vec::new(), None)
    } else {
        match judge_ahead(&root, &record, &upstream_tip) {
            Ok(f) => (f, None),
            Err(e) => (Vec::new(), Some(format!("{e:#}"))),
        }
    };
    let last_verdict = last_push_verdict(&record);
    let last_exec = last_event(&root.join("logs/audit.log"), |v| {
        v.get("door").and_then(|d| d.as_str()) == Some("exec")
    });
    let keepalive_refs = refresh_keepalive(&root, &record, None)?;
    Ok(Status {
        root,
        branch,
        head,
        base: record.base,
        upstream_tip,
        ahead,
        behind,
        findings,
        findings_error,
        last_verdict,
        last_exec,
        keepalive_refs,
    })
}

pub(super) fn judge_ahead(root: &Path, record: &Record, upstream_tip: &str) -> Result<Vec<String>> {
    let policy = Policy::load(&record.policy)?;
    let repo = gix::open(root.join("code-repo")).context("cannot open the workspace's clone")?;
    let unit = crate::engine::model::range(
        &repo,
        &format!("{upstream_tip}..HEAD"),
        crate::engine::model::ModelOptions::for_policy(&policy),
    )?;
    let name = record.agent_user.clone().unwrap_or_else(|| "agent".into());
    let actor = crate::engine::identity::Actor::new(name, "workspace", &policy);
    let verdict = crate::engine::judge_units(&policy, &actor, vec![unit]);
    Ok(verdict
        .findings
        .iter()
        .filter(|f| f.severity >= crate::engine::verdict::Severity::Flag)
        .map(|f| {
            let sev = if f.severity == crate::engine::verdict::Severity::Flag {
                "flag"
            } else {
                "violation"
            };
            match &f.path {
                Some(p) => format!("{sev} {}: {p}: {}", f.rule, f.message),
                None => format!("{sev} {}: {}", f.rule, f.message),
            }
        })
        .collect())
}
