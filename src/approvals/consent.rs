//! Consent levels: how many people must approve a change of a given risk before it deploys.
//!
//! The policy maps the risk score (0 to 5) to a level: below `approvals.one_from_risk` nothing
//! beyond the flags' own approvals (level 0: the change may deploy once its flags, if any, are
//! approved); from it, one human approval of the tip commit (level 1); from
//! `approvals.two_from_risk`, two approvals from different humans, or one from an admin
//! (level 2). Only approvals that count ([`valid_approvals`]: the right commit and tree, not an
//! agent, not the pusher, signed when the policy asks, not revoked) are counted.
//!
//! Reads approval records; judges nothing else and writes nothing.

use anyhow::Result;
use gix::ObjectId;
use serde::Serialize;

use super::valid_approvals;
use crate::engine::policy::{Policy, Role};

/// What a change of some risk needs, and whether it has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Consent {
    pub risk: u8,
    /// 0, 1 or 2.
    pub level: u8,
    /// Why this level, in words (the policy's thresholds).
    pub why: String,
    /// The distinct people whose approvals of the commit count, with their role.
    pub approvers: Vec<(String, Role)>,
    pub met: bool,
}

/// The level the policy sets for `risk`, and why.
pub fn level_for(policy: &Policy, risk: u8) -> (u8, String) {
    let a = &policy.approvals;
    if u64::from(risk) >= a.two_from_risk {
        (
            2,
            format!(
                "risk {risk} is at least approvals.two_from_risk = {}: two approvals from different humans, or one from an admin",
                a.two_from_risk
            ),
        )
    } else if u64::from(risk) >= a.one_from_risk {
        (
            1,
            format!(
                "risk {risk} is at least approvals.one_from_risk = {}: one human approval of the commit",
                a.one_from_risk
            ),
        )
    } else if a.one_from_risk <= 5 {
        (
            0,
            format!(
                "risk {risk} is below approvals.one_from_risk = {}: no approval beyond its flags'",
                a.one_from_risk
            ),
        )
    } else {
        (
            0,
            "the policy sets no consent level (approvals.one_from_risk): only flags need approvals"
                .into(),
        )
    }
}

/// Whether `commit` (with `tree`) has the consent its `risk` needs.
pub fn consent(
    repo: &gix::Repository,
    policy: &Policy,
    commit: ObjectId,
    tree: ObjectId,
    risk: u8,
) -> Result<Consent> {
    let (level, why) = level_for(policy, risk);
    let mut approvers: Vec<(String, Role)> = Vec::new();
    if level > 0 {
        for s in valid_approvals(repo, policy, commit, tree)? {
            let who = s.record.approver.clone();
            if !approvers.iter().any(|(n, _)| *n == who) {
                approvers.push((who, s.record.role));
            }
        }
    }
    // Records made in the same second have no order of their own: name people alphabetically,
    // so the same approvals always read the same.
    approvers.sort_by(|a, b| a.0.cmp(&b.0));
    let met = match level {
        0 => true,
        1 => !approvers.is_empty(),
        _ => approvers.len() >= 2 || approvers.iter().any(|(_, r)| *r == Role::Admin),
    };
    Ok(Consent {
        risk,
        level,
        why,
        approvers,
        met,
    })
}

impl Consent {
    /// One line for people: the level, why, and who has consented.
    pub fn describe(&self) -> String {
        let who = if self.approvers.is_empty() {
            "no approval yet".to_string()
        } else {
            self.approvers
                .iter()
                .map(|(n, r)| format!("{n} ({r})"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "consent level {} ({}); {}: {}",
            self.level,
            self.why,
            if self.met { "met" } else { "not met" },
            who
        )
    }
}
