//! Reading approvals: every record stored for a commit and whether it counts under the policy
//! (right commit and tree, an approver, not the pusher, signed when asked, not revoked).
//!
//! Checked at every read, not only at receive: the policy may have changed since. Writes nothing.

use anyhow::{Context as _, Result};
use gix::ObjectId;
use serde::Serialize;

use crate::engine::model::{self, ModelOptions};
use crate::engine::policy::{Policy, Role};

use super::*;

/// Whether a stored approval counts, and why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "reason", rename_all = "lowercase")]
pub enum Status {
    Valid,
    Revoked(String),
    Invalid(String),
}

/// A stored record and whether it counts.
#[derive(Debug, Clone)]
pub struct Listed {
    pub stored: Stored,
    pub status: Status,
}

/// Every record stored for `commit` (approvals and revocations), oldest first.
pub fn records_for(repo: &gix::Repository, commit: ObjectId) -> Result<Vec<Stored>> {
    let prefix = format!("{APPROVALS_PREFIX}{commit}/");
    let mut out = Vec::new();
    for (name, id) in refs_under(repo, &prefix)? {
        let data = read_blob(repo, id).with_context(|| format!("cannot read {name}"))?;
        match parse_blob(&data) {
            Ok((record, payload, signature)) => out.push(Stored {
                id,
                refname: name,
                record,
                payload,
                signature,
            }),
            // A record that does not parse clears nothing; it is skipped, not fatal.
            Err(e) => tracing::warn!("{name}: {e:#}"),
        }
    }
    out.sort_by_key(|s| s.record.at_unix);
    Ok(out)
}

/// Every approval of `commit` with its status under `policy`.
pub fn list_for_commit(
    repo: &gix::Repository,
    policy: &Policy,
    commit: ObjectId,
) -> Result<Vec<Listed>> {
    let tree = tree_of(repo, commit)?;
    let pusher = pusher_of(repo, commit)?;
    let records = records_for(repo, commit)?;
    let revocations: Vec<&Stored> = records
        .iter()
        .filter(|s| s.record.kind == RecordKind::Revoke && is_id(&s.record.commit, &commit))
        .collect();
    let mut out = Vec::new();
    for s in &records {
        let status = if s.record.kind == RecordKind::Revoke {
            Status::Valid
        } else if let Some(r) = revocations
            .iter()
            .find(|r| r.record.revokes.as_deref() == Some(&s.id.to_string()))
        {
            Status::Revoked(format!(
                "revoked by {} at {}: {}",
                r.record.approver, r.record.at, r.record.why
            ))
        } else {
            match check_approval(policy, s, commit, tree, pusher.as_ref()) {
                Ok(()) => Status::Valid,
                Err(reason) => Status::Invalid(reason),
            }
        };
        out.push(Listed {
            stored: s.clone(),
            status,
        });
    }
    Ok(out)
}

/// The approvals of `commit` that count for exactly `tree`.
pub fn valid_approvals(
    repo: &gix::Repository,
    policy: &Policy,
    commit: ObjectId,
    tree: ObjectId,
) -> Result<Vec<Stored>> {
    let actual = tree_of(repo, commit)?;
    if actual != Some(tree) {
        return Ok(Vec::new());
    }
    Ok(list_for_commit(repo, policy, commit)?
        .into_iter()
        .filter(|l| l.stored.record.kind == RecordKind::Approve && l.status == Status::Valid)
        .map(|l| l.stored)
        .collect())
}

/// Why a stored approval does not count under `policy`, if it does not. Checked again at
/// every read (a deploy, a listing), not only when the approval was received: the policy may
/// have changed since.
pub(super) fn check_approval(
    policy: &Policy,
    s: &Stored,
    commit: ObjectId,
    tree: Option<ObjectId>,
    pusher: Option<&Pusher>,
) -> std::result::Result<(), String> {
    let r = &s.record;
    if !is_id(&r.commit, &commit) {
        return Err(format!(
            "names commit {} but is stored under {commit}",
            r.commit
        ));
    }
    match tree {
        Some(t) if is_id(&r.tree, &t) => {}
        Some(t) => {
            return Err(format!(
                "approved tree {} but the commit's tree is {t}",
                r.tree
            ));
        }
        None => return Err("the commit is not in this repository".into()),
    }
    let role = policy.actors.role_of(&r.approver);
    if !matches!(role, Role::Human | Role::Admin) {
        return Err(format!(
            "{} is not an approver under the policy (role {role})",
            r.approver
        ));
    }
    if let Some(p) = pusher
        && p.pusher == r.approver
        && !policy.approvals.allow_self_approval
    {
        return Err(format!("{} approved a commit they pushed", r.approver));
    }
    signature_problem(policy, &r.approver, &s.payload, s.signature.as_deref()).map_or(Ok(()), Err)
}

/// Every approval of every commit of `spec`, with its status.
pub fn list_range(
    repo: &gix::Repository,
    policy: &Policy,
    spec: &str,
) -> Result<Vec<(ObjectId, String, Vec<Listed>)>> {
    let unit = model::range(
        repo,
        spec,
        ModelOptions {
            content: false,
            max_blob_scan_bytes: 0,
            ..ModelOptions::default()
        },
    )
    .with_context(|| format!("cannot read the commits of {spec:?}"))?;
    let mut out = Vec::new();
    for c in &unit.commits {
        let Some(id) = c.id else { continue };
        out.push((id, c.summary.clone(), list_for_commit(repo, policy, id)?));
    }
    Ok(out)
}
