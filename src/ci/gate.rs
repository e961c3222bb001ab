//! Flags in CI: each flag blocks the check until a valid approval clears it. Approvals are
//! the records under `refs/guard/approvals/` the job fetched, judged by the approvals door's
//! own rules ([`approvals::valid_approvals`]: bound to the commit and its tree, by a human or
//! admin, signed as the policy asks), and here never by the people who pushed the change:
//! a CI host keeps no push records of its own, so the actor and the request's author stand in
//! for the pusher the server would have recorded.
//!
//! A flag counts as approved when an approval of the commit that raised it, or of the head
//! judged, names its id for that commit's current tree; a flag of the cumulative change (no
//! commit) when the same flag id raised by a commit is approved.

use std::collections::HashMap;

use anyhow::Result;
use gix::ObjectId;

use crate::approvals;
use crate::engine::policy::Policy;
use crate::engine::verdict::Finding;

/// A flag and the approvals that clear it (empty: it blocks).
#[derive(Debug, Clone, serde::Serialize)]
pub struct FlagState {
    pub id: String,
    #[serde(flatten)]
    pub finding: Finding,
    pub approved_by: Vec<String>,
}

impl FlagState {
    pub fn approved(&self) -> bool {
        !self.approved_by.is_empty()
    }
}

/// The state of every flag of `flags`, found on the change whose tip is `head`.
pub fn flag_states(
    repo: &gix::Repository,
    policy: &Policy,
    head: Option<ObjectId>,
    pushers: &[String],
    flags: &[Finding],
) -> Result<Vec<FlagState>> {
    let mut cache: HashMap<ObjectId, Vec<approvals::Stored>> = HashMap::new();
    let mut approvers_on = |commit: ObjectId, id: &str| -> Result<Vec<String>> {
        if let std::collections::hash_map::Entry::Vacant(e) = cache.entry(commit) {
            let valid = match approvals::tree_of(repo, commit)? {
                Some(tree) => approvals::valid_approvals(repo, policy, commit, tree)?,
                None => Vec::new(),
            };
            let valid = valid
                .into_iter()
                .filter(|s| {
                    policy.approvals.allow_self_approval || !pushers.contains(&s.record.approver)
                })
                .collect();
            e.insert(valid);
        }
        Ok(cache[&commit]
            .iter()
            .filter(|s| s.record.flags.iter().any(|f| f == id))
            .map(|s| format!("{} ({})", s.short_id(), s.record.approver))
            .collect())
    };
    let mut states = Vec::with_capacity(flags.len());
    for f in flags {
        let id = f.flag_id();
        let mut by = Vec::new();
        if let Some(c) = f.commit {
            by.extend(approvers_on(c, &id)?);
        }
        if let Some(h) = head
            && Some(h) != f.commit
        {
            by.extend(approvers_on(h, &id)?);
        }
        states.push(FlagState {
            id,
            finding: f.clone(),
            approved_by: by,
        });
    }
    let approved_ids: Vec<String> = states
        .iter()
        .filter(|s| s.approved() && s.finding.commit.is_some())
        .map(|s| s.id.clone())
        .collect();
    for s in states.iter_mut() {
        if !s.approved() && s.finding.commit.is_none() && approved_ids.contains(&s.id) {
            s.approved_by
                .push("the same flag approved on the commit that raised it".into());
        }
    }
    Ok(states)
}
