//! The one engine behind every door: subject -> changes -> rules -> verdict.

pub mod changes;
pub mod content;
pub mod explain;
pub mod fsck;
pub mod identity;
pub mod links;
pub mod model;
pub mod policy;
pub mod quarantine;
pub mod repo;
pub mod rules;
pub mod verdict;

use crate::engine::changes::Unit;
use crate::engine::identity::Actor;
use crate::engine::policy::{Mode, Policy, Role};
use crate::engine::rules::Context;
use crate::engine::verdict::{AGENTS_DISABLED, Finding, Risk, Severity, Verdict};

/// Judge already-built units. Admins bypass violations, and the bypass is recorded as a note
/// carrying the rule it bypassed.
pub fn judge_units(policy: &Policy, actor: &Actor, units: Vec<Unit>) -> Verdict {
    let mut findings = Vec::new();
    let mut risk = Risk::default();
    for unit in &units {
        let ctx = Context {
            policy,
            actor,
            unit,
        };
        let r = rules::run_all(&ctx, &mut findings);
        if r.score > risk.score || (r.score == risk.score && risk.reasons.is_empty()) {
            risk = r;
        }
    }
    // A malformed tree breaks every clone that meets it: no role and no dry run lets it in.
    let malformed = findings.iter().any(|f| f.rule == rules::tree::MALFORMED);
    if actor.role == Role::Admin {
        for f in findings
            .iter_mut()
            .filter(|f| f.severity == Severity::Violation && f.rule != rules::tree::MALFORMED)
        {
            f.severity = Severity::Note;
            f.message = format!("{}{}: {}", verdict::BYPASSED, actor.name, f.message);
        }
    }
    if actor.role == Role::Agent && !policy.actors.agents_enabled {
        let why = policy.actors.agents_disabled_reason.trim();
        findings.insert(
            0,
            Finding::violation(
                AGENTS_DISABLED,
                if why.is_empty() {
                    format!(
                        "changes by agents are switched off by the policy ({} is an agent)",
                        actor.name
                    )
                } else {
                    format!("changes by agents are switched off by the policy: {why}")
                },
                "nothing to change on your side: a human switches agents back on in the policy",
            ),
        );
    }
    dedup(&mut findings);
    Verdict {
        mode: if malformed {
            Mode::Enforce
        } else {
            policy.mode
        },
        actor: actor.clone(),
        policy: policy.source.to_string(),
        findings,
        risk,
        units,
    }
}

/// The same finding reported twice (per commit and again on the cumulative change) is told once.
fn dedup(findings: &mut Vec<Finding>) {
    // The keys borrow the findings (no copy of each message); `retain` then visits them in the
    // same order.
    let mut seen = std::collections::HashSet::with_capacity(findings.len());
    let keep: Vec<bool> = findings
        .iter()
        .map(|f| {
            seen.insert((
                f.rule.as_str(),
                f.refname.as_deref(),
                f.commit,
                f.path.as_deref(),
                f.line,
                f.message.as_str(),
            ))
        })
        .collect();
    drop(seen);
    let mut keep = keep.into_iter();
    findings.retain(|_| keep.next().unwrap_or(true));
}
