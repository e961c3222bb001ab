//! The verdict: what the rules found, and how it is told.
//!
//! Violations block (unless the policy's mode is `warn`); flags need a human approval before
//! deploy; notes inform. Violations are data: a rejected change is an `Ok(Verdict)`, while a
//! change that could not be judged is an `Err` (exit 2, and a hook that cannot judge rejects).

use std::io::{self, Write};

use gix::ObjectId;
use serde::Serialize;

use crate::engine::changes::Unit;
use crate::engine::identity::Actor;
use crate::engine::policy::Mode;

/// How much a finding weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Note,
    Flag,
    Violation,
}

/// The rule id of the kill switch (`actors.agents_enabled = false`): it blocks in every mode,
/// `warn` included, since switching agents off is not a dry run.
pub const AGENTS_DISABLED: &str = "actors.disabled";

/// One thing a rule found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule id, `section.rule` (`paths.deny`, `caps.files`, `secrets.aws-access-key`).
    pub rule: String,
    pub severity: Severity,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub refname: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_oid_opt"
    )]
    pub commit: Option<ObjectId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// What is wrong, with the figures ("14 files changed, the cap is 10").
    pub message: String,
    /// What the reader can do about it ("split the change").
    pub hint: String,
    /// The test the finding is about, as its runner names it (`tests.*` rules).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
    /// The line as it was (`12: assert f(x) == 3`), when the finding shows one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// The line as it is now, when the finding shows one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// How the message of a violation an admin's role let through begins (it is then a note).
pub const BYPASSED: &str = "bypassed by admin ";

impl Finding {
    /// Whether this is a violation an admin's role let through (now a note saying so).
    pub fn bypassed(&self) -> bool {
        self.severity == Severity::Note && self.message.starts_with(BYPASSED)
    }

    pub fn new(
        rule: impl Into<String>,
        severity: Severity,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Finding {
            rule: rule.into(),
            severity,
            refname: None,
            commit: None,
            path: None,
            line: None,
            message: message.into(),
            hint: hint.into(),
            test: None,
            before: None,
            after: None,
        }
    }
    pub fn violation(
        rule: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self::new(rule, Severity::Violation, message, hint)
    }
    pub fn flag(
        rule: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self::new(rule, Severity::Flag, message, hint)
    }
    pub fn note(
        rule: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self::new(rule, Severity::Note, message, hint)
    }
    pub fn at_ref(mut self, r: Option<&str>) -> Self {
        self.refname = r.map(str::to_string);
        self
    }
    pub fn at_commit(mut self, c: Option<ObjectId>) -> Self {
        self.commit = c;
        self
    }
    pub fn at_path(mut self, p: impl Into<String>) -> Self {
        self.path = Some(p.into());
        self
    }
    pub fn at_line(mut self, l: u32) -> Self {
        self.line = Some(l);
        self
    }

    pub fn about_test(mut self, name: impl Into<String>) -> Self {
        self.test = Some(name.into());
        self
    }
    /// The lines before and after the change that show what it did.
    pub fn with_lines(mut self, before: Option<String>, after: Option<String>) -> Self {
        self.before = before;
        self.after = after;
        self
    }

    /// The test and its lines before and after, one line each, for a reader approving it.
    pub fn evidence_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(t) = &self.test {
            out.push(format!("test: {t}"));
        }
        if let Some(b) = &self.before {
            out.push(format!("before: {b}"));
        }
        if let Some(a) = &self.after {
            out.push(format!("after:  {a}"));
        }
        out
    }

    /// The id an approval names to clear this flag: the rule id, and the path when there is one.
    pub fn flag_id(&self) -> String {
        match &self.path {
            Some(p) => format!("{}:{p}", self.rule),
            None => self.rule.clone(),
        }
    }
}

/// A risk score from 0 to 5 and the reasons for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Risk {
    pub score: u8,
    pub reasons: Vec<String>,
}

/// Everything one run of the engine decided.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub mode: Mode,
    pub actor: Actor,
    pub policy: String,
    pub findings: Vec<Finding>,
    pub risk: Risk,
    /// The changes judged, so anyone can check them against git.
    pub units: Vec<Unit>,
}

impl Verdict {
    pub fn violations(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Violation)
    }
    pub fn flags(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Flag)
    }
    /// Whether the verdict stops the change: a violation in enforce mode, or in any mode the
    /// policy's kill switch ([`AGENTS_DISABLED`]).
    pub fn blocked(&self) -> bool {
        (self.mode == Mode::Enforce && self.violations().next().is_some())
            || self.violations().any(|f| f.rule == AGENTS_DISABLED)
    }
    /// 0 passed, 1 rejected by policy.
    pub fn exit_code(&self) -> i32 {
        if self.blocked() { 1 } else { 0 }
    }
    /// The rule ids found, for audit records.
    pub fn rule_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.findings.iter().map(|f| f.rule.clone()).collect();
        ids.sort();
        ids.dedup();
        ids
    }
    /// "passed", "rejected" or "warned" (violations in warn mode).
    pub fn outcome(&self) -> &'static str {
        if self.blocked() {
            "rejected"
        } else if self.violations().next().is_some() {
            "warned"
        } else {
            "passed"
        }
    }
}

fn short(id: &ObjectId) -> String {
    let s = id.to_string();
    s[..12.min(s.len())].to_string()
}

/// One finding as one line: `error[caps.files] refs/heads/x abc123 path: message`.
pub fn finding_line(f: &Finding) -> String {
    let label = match f.severity {
        Severity::Violation => "error",
        Severity::Flag => "flag",
        Severity::Note => "note",
    };
    let mut s = format!("{label}[{}]", f.rule);
    if let Some(r) = &f.refname {
        s.push(' ');
        s.push_str(r);
    }
    if let Some(c) = &f.commit {
        s.push(' ');
        s.push_str(&short(c));
    }
    if let Some(p) = &f.path {
        s.push(' ');
        s.push_str(p);
        if let Some(l) = f.line {
            s.push_str(&format!(":{l}"));
        }
    }
    s.push_str(": ");
    s.push_str(&f.message);
    s
}

/// The verdict for people and agents: one line per finding and its hint, then a summary.
pub fn render_text(v: &Verdict, out: &mut dyn Write) -> io::Result<()> {
    // One write per 64 KiB, not per line: a change with thousands of findings (a leaked dump)
    // is told at the speed it was judged. Flushed before returning, so nothing is reordered.
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    render_text_to(v, &mut out)?;
    out.flush()
}

fn render_text_to(v: &Verdict, out: &mut dyn Write) -> io::Result<()> {
    let mut findings: Vec<&Finding> = v.findings.iter().collect();
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    for f in findings {
        writeln!(out, "{}", finding_line(f))?;
        if !f.hint.is_empty() {
            writeln!(out, "  hint: {}", f.hint)?;
        }
    }
    let nv = v.violations().count();
    let nf = v.flags().count();
    let files: usize = v.units.iter().map(|u| u.cumulative.len()).sum();
    let commits: usize = v.units.iter().map(|u| u.commits.len()).sum();
    let status = match v.outcome() {
        "rejected" => "REJECTED",
        "warned" => "PASSED (warn mode: violations reported, nothing blocked)",
        _ => "PASSED",
    };
    writeln!(
        out,
        "git-guard: {status}: {nv} violation{}, {nf} flag{}, risk {}/5; {commits} commit{}, {files} file{} judged as {} ({})",
        plural(nv),
        plural(nf),
        v.risk.score,
        plural(commits),
        plural(files),
        v.actor.name,
        v.actor.role,
    )?;
    // Every verdict says which policy judged it, so that a reader can tell one door's policy
    // from another's.
    writeln!(out, "git-guard: policy: {}", v.policy)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The stable JSON form (documented in docs/OUTPUT.md).
pub fn render_json(v: &Verdict, out: &mut dyn Write) -> io::Result<()> {
    #[derive(Serialize)]
    struct Doc<'a> {
        version: u32,
        outcome: &'a str,
        exit_code: i32,
        #[serde(flatten)]
        verdict: &'a Verdict,
    }
    // serde_json writes every token on its own; buffered, they reach `out` 64 KiB at a time.
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    serde_json::to_writer_pretty(
        &mut out,
        &Doc {
            version: 1,
            outcome: v.outcome(),
            exit_code: v.exit_code(),
            verdict: v,
        },
    )?;
    writeln!(out)?;
    out.flush()
}

fn ser_oid_opt<S: serde::Serializer>(id: &Option<ObjectId>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => s.collect_str(id),
        None => s.serialize_none(),
    }
}
