//! Human overrides: a person raises a cap or allows a protected path for one branch
//! (`git guard allow BRANCH --max-lines 800 --path PATTERN -m WHY`).
//!
//! An override is a record like an approval, stored the same way (one line of canonical JSON,
//! then optionally an `ssh-keygen -Y` signature, in a blob) under its own namespace,
//! `refs/guard/overrides/<record-id>`, so it replicates with the repository. It is bound to one
//! branch (a full ref name), never to other refs. The namespace is append-only: withdrawing an
//! override adds a revocation record naming it.
//!
//! This file holds the format, the reading (which records count under the policy: an approver
//! made it, signed where the policy asks, not revoked; checked at every read) and the receive
//! judgement ([`judge_override_update`]: only a human or admin may create one, under their own
//! name; no agent, whatever it writes). Applying overrides to a verdict is [`super::relax`];
//! writing them is [`super::allow`]. Nothing here prints or writes.

use anyhow::{Context as _, Result, anyhow, bail};
use gix::ObjectId;
use serde::{Deserialize, Serialize};

use crate::engine::changes::RefUpdate;
use crate::engine::identity::Actor;
use crate::engine::policy::{PathPatterns, Policy, Role};
use crate::engine::verdict::Finding;

use super::*;

/// Override and override revocation records: `refs/guard/overrides/<record-blob-id>`.
pub const OVERRIDES_PREFIX: &str = "refs/guard/overrides/";

/// What an override record does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OverrideKind {
    /// Raise caps or allow protected paths on the branch.
    Allow,
    /// Withdraw the override `revokes` names.
    Revoke,
}

/// One override or revocation, as stored (the first line of the blob).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideRecord {
    pub version: u32,
    pub kind: OverrideKind,
    /// The branch it holds for, as a full ref name (`refs/heads/agent/fix-login`).
    pub branch: String,
    /// `caps.max_files` and `caps.max_lines` on that branch, when raised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_files: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lines: Option<u64>,
    /// Path patterns (as in `paths.protected`) whose changes need no approval on that branch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// For a revocation: the id of the override withdrawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revokes: Option<String>,
    /// Who made it, as the host names them, their role and where the name came from.
    pub approver: String,
    pub role: Role,
    pub source: String,
    pub host: String,
    /// When, in UTC (RFC 3339) and as unix seconds.
    pub at: String,
    pub at_unix: i64,
    pub why: String,
}

impl OverrideRecord {
    /// The exact bytes a signature covers: the record as one line of JSON and its newline.
    pub fn payload(&self) -> Result<Vec<u8>> {
        let mut line = serde_json::to_vec(self)?;
        line.push(b'\n');
        Ok(line)
    }

    /// What it allows, in words: `caps.max_lines 800, paths self_upgrade/**`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(n) = self.max_files {
            parts.push(format!("caps.max_files {n}"));
        }
        if let Some(n) = self.max_lines {
            parts.push(format!("caps.max_lines {n}"));
        }
        if !self.paths.is_empty() {
            parts.push(format!("protected paths {}", self.paths.join(", ")));
        }
        parts.join(", ")
    }
}

/// An override as read back, and whether it counts.
#[derive(Debug, Clone)]
pub struct StoredOverride {
    pub id: ObjectId,
    pub refname: String,
    pub record: OverrideRecord,
    pub payload: Vec<u8>,
    pub signature: Option<String>,
    pub status: Status,
}

impl StoredOverride {
    pub fn short_id(&self) -> String {
        short(&self.id)
    }
}

/// Parse an override blob: one line of canonical JSON, then optionally an SSH signature.
pub fn parse_override(data: &[u8]) -> Result<(OverrideRecord, Vec<u8>, Option<String>)> {
    let nl = data
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| anyhow!("not an override record: no newline after the JSON line"))?;
    let (line, rest) = data.split_at(nl + 1);
    let record: OverrideRecord = serde_json::from_slice(line).context("not an override record")?;
    if record.version != 1 {
        bail!(
            "override record version {} is not supported (this git-guard reads version 1)",
            record.version
        );
    }
    if record.payload()? != line {
        bail!("override record is not in canonical form (it was not written by git-guard)");
    }
    let rest = std::str::from_utf8(rest).context("override signature is not text")?;
    let signature = match rest.trim() {
        "" => None,
        s if s.starts_with(SIGNATURE_BEGIN) => Some(format!("{s}\n")),
        _ => bail!("unexpected text after the override record (only an SSH signature may follow)"),
    };
    Ok((record, line.to_vec(), signature))
}

/// What is wrong with the content of an allow record, if anything (it must allow something,
/// name a branch, and every path pattern must compile).
pub(super) fn allow_problem(policy: &Policy, r: &OverrideRecord) -> Option<String> {
    if !r.branch.starts_with("refs/heads/") {
        return Some(format!("{:?} is not a branch (refs/heads/...)", r.branch));
    }
    if r.max_files.is_none() && r.max_lines.is_none() && r.paths.is_empty() {
        return Some(
            "the override allows nothing (give --max-files, --max-lines or --path)".into(),
        );
    }
    if let Err((i, e)) = PathPatterns::new(&r.paths, policy.paths.case_insensitive) {
        return Some(format!("path pattern {:?}: {e}", r.paths[i]));
    }
    None
}

/// Every override record of the repository with its status under `policy`, oldest first.
pub fn list_overrides(repo: &gix::Repository, policy: &Policy) -> Result<Vec<StoredOverride>> {
    let mut out = Vec::new();
    for (name, id) in refs_under(repo, OVERRIDES_PREFIX)? {
        let data = read_blob(repo, id).with_context(|| format!("cannot read {name}"))?;
        match parse_override(&data) {
            Ok((record, payload, signature)) => out.push(StoredOverride {
                id,
                refname: name,
                record,
                payload,
                signature,
                status: Status::Valid,
            }),
            // A record that does not parse allows nothing; it is skipped, not fatal.
            Err(e) => tracing::warn!("{name}: {e:#}"),
        }
    }
    out.sort_by_key(|s| s.record.at_unix);
    let revoked: Vec<(String, String)> = out
        .iter()
        .filter(|s| s.record.kind == OverrideKind::Revoke)
        .filter_map(|s| {
            let r = &s.record;
            let target = r.revokes.clone()?;
            Some((
                target,
                format!("revoked by {} at {}: {}", r.approver, r.at, r.why),
            ))
        })
        .collect();
    for s in &mut out {
        if s.record.kind == OverrideKind::Revoke {
            continue;
        }
        s.status = if let Some((_, why)) = revoked.iter().find(|(t, _)| is_id(t, &s.id)) {
            Status::Revoked(why.clone())
        } else {
            match check_override(policy, s) {
                Ok(()) => Status::Valid,
                Err(why) => Status::Invalid(why),
            }
        };
    }
    Ok(out)
}

/// The overrides that count for `branch` (a full ref name) now, oldest first.
pub fn overrides_for(
    repo: &gix::Repository,
    policy: &Policy,
    branch: &str,
) -> Result<Vec<StoredOverride>> {
    Ok(list_overrides(repo, policy)?
        .into_iter()
        .filter(|s| s.record.kind == OverrideKind::Allow && s.record.branch == branch)
        .filter(|s| s.status == Status::Valid)
        .collect())
}

/// Why a stored override does not count under `policy`, checked at every read: its maker must
/// still be an approver, and it must be signed when the policy asks.
fn check_override(policy: &Policy, s: &StoredOverride) -> std::result::Result<(), String> {
    let r = &s.record;
    let role = policy.actors.role_of(&r.approver);
    if !matches!(role, Role::Human | Role::Admin) {
        return Err(format!(
            "{} is not an approver under the policy (role {role})",
            r.approver
        ));
    }
    if let Some(p) = allow_problem(policy, r) {
        return Err(p);
    }
    signature_problem(policy, &r.approver, &s.payload, s.signature.as_deref()).map_or(Ok(()), Err)
}

/// Judge one update of a ref under `refs/guard/overrides/` at receive, pushed by `actor`:
/// only creation, only by a human or admin, of a well-formed record whose blob id ends the ref
/// name, naming the pusher as its maker, signed when the policy asks; a revocation must name an
/// override that exists. Violations reject the push; an accepted record gets a note.
pub fn judge_override_update(
    repo: &gix::Repository,
    policy: &Policy,
    actor: &Actor,
    update: &RefUpdate,
) -> Vec<Finding> {
    let name = update.name.as_str();
    let v = |rule: &str, msg: String, hint: &str| {
        vec![
            Finding::violation(format!("overrides.{rule}"), msg, hint)
                .at_ref(Some(name))
                .at_commit(Some(update.new).filter(|n| !n.is_null())),
        ]
    };
    // Who may write comes first: an agent learns nothing about what a well-formed one is.
    if !matches!(actor.role, Role::Human | Role::Admin) {
        return v(
            "approver",
            format!(
                "{} ({}) may not write overrides: only identities the policy lists as humans or \
                 admins may ({name})",
                actor.name, actor.role
            ),
            "ask a person listed in actors.humans or actors.admins: git guard allow BRANCH -m WHY",
        );
    }
    if update.is_delete() || !update.is_create() {
        return v(
            "immutable",
            format!("override records cannot be rewritten or deleted ({name})"),
            "to withdraw an override, add a revocation: git guard allow --revoke ID -m WHY",
        );
    }
    let id_text = &name[OVERRIDES_PREFIX.len()..];
    if !is_id(id_text, &update.new) {
        return v(
            "record",
            format!(
                "{name} must be refs/guard/overrides/<id of the record it points at> ({})",
                update.new
            ),
            "create overrides with `git guard allow`",
        );
    }
    let parsed = read_blob(repo, update.new).and_then(|d| parse_override(&d));
    let (record, payload, signature) = match parsed {
        Ok(x) => x,
        Err(e) => {
            return v(
                "record",
                format!("{name}: {e:#}"),
                "create overrides with `git guard allow`",
            );
        }
    };
    if record.approver != actor.name {
        return v(
            "identity",
            format!(
                "the record names {} as its maker but {} is pushing it",
                record.approver, actor.name
            ),
            "make the override under the name the server knows you by (git guard allow --as NAME)",
        );
    }
    match record.kind {
        OverrideKind::Allow => {
            if let Some(p) = allow_problem(policy, &record) {
                return v(
                    "record",
                    format!("{name}: {p}"),
                    "create overrides with `git guard allow`",
                );
            }
        }
        OverrideKind::Revoke => {
            let target = record.revokes.clone().unwrap_or_default();
            let exists = repo
                .try_find_reference(format!("{OVERRIDES_PREFIX}{target}").as_str())
                .ok()
                .flatten()
                .is_some();
            if !exists {
                return v(
                    "record",
                    format!("the revocation names override {target:?}, which does not exist"),
                    "list the overrides: git guard overrides",
                );
            }
        }
    }
    if let Some(problem) = signature_problem(policy, &actor.name, &payload, signature.as_deref()) {
        return v(
            "signature",
            format!("{name}: {problem}"),
            "sign with: git guard allow BRANCH -m WHY --sign ~/.ssh/id_ed25519",
        );
    }
    let what = match record.kind {
        OverrideKind::Allow => format!("override of {} ({})", record.branch, record.describe()),
        OverrideKind::Revoke => format!(
            "revocation of override {}",
            record.revokes.as_deref().unwrap_or_default()
        ),
    };
    vec![
        Finding::note(
            "overrides.recorded",
            format!(
                "{what} by {} recorded{}: {}",
                actor.name,
                if signature.is_some() { " (signed)" } else { "" },
                record.why
            ),
            "",
        )
        .at_ref(Some(name)),
    ]
}
