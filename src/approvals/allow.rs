//! `git guard allow`: write a human override for one branch (raise `caps.max_files` or
//! `caps.max_lines`, allow protected paths) or its revocation, create its ref and push it from
//! a clone. Judges the record first exactly as the server will, so an agent is refused here
//! and again at receive.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use gix::ObjectId;

use crate::engine::changes::RefUpdate;
use crate::engine::identity::Actor;
use crate::engine::policy::Policy;
use crate::engine::verdict::Severity;

use super::*;

/// What `git guard allow` asks for.
#[derive(Debug, Clone, Default)]
pub struct AllowRequest {
    /// The branch: a name (`agent/fix-login`) or a full ref (`refs/heads/agent/fix-login`).
    pub branch: String,
    pub max_files: Option<u64>,
    pub max_lines: Option<u64>,
    pub paths: Vec<String>,
    /// Withdraw the override with this id (or a prefix of it) instead.
    pub revoke: Option<String>,
    pub why: String,
    pub sign_key: Option<PathBuf>,
    pub remote: Option<String>,
    pub no_push: bool,
}

/// What `allow` wrote.
#[derive(Debug, Clone)]
pub struct AllowWritten {
    pub refname: String,
    pub id: ObjectId,
    pub record: OverrideRecord,
    pub signed: bool,
    pub pushed_to: Option<String>,
    pub notes: Vec<String>,
}

/// The full ref name of a branch given as `name` or `refs/heads/name`.
pub fn branch_ref(branch: &str) -> Result<String> {
    let b = branch.trim();
    let full = if b.starts_with("refs/heads/") {
        b.to_string()
    } else if b.starts_with("refs/") {
        return Err(refuse(
            format!("{b} is not a branch: overrides hold for branches (refs/heads/...) only"),
            "name the branch: git guard allow agent/fix-login ...",
        ));
    } else {
        format!("refs/heads/{b}")
    };
    if b.is_empty() || gix::refs::FullName::try_from(full.as_str()).is_err() {
        return Err(refuse(
            format!("{branch:?} is not a valid branch name"),
            "name the branch: git guard allow agent/fix-login ...",
        ));
    }
    Ok(full)
}

/// Make an override (or, with `revoke`, withdraw one): check it, write the record, create the
/// ref (on the server) or create it and push it (from a clone).
pub fn allow(
    repo: &gix::Repository,
    policy: &Policy,
    actor: &Actor,
    req: &AllowRequest,
) -> Result<AllowWritten> {
    if req.why.trim().is_empty() {
        return Err(refuse(
            "an override needs a reason",
            "say why with -m WHY: what makes this branch an exception",
        ));
    }
    let (at_unix, at) = now();
    let mut record = OverrideRecord {
        version: 1,
        kind: OverrideKind::Allow,
        branch: String::new(),
        max_files: req.max_files,
        max_lines: req.max_lines,
        paths: req.paths.clone(),
        revokes: None,
        approver: actor.name.clone(),
        role: actor.role,
        source: actor.source.clone(),
        host: hostname(),
        at,
        at_unix,
        why: req.why.trim().to_string(),
    };
    if let Some(prefix) = &req.revoke {
        let targets: Vec<StoredOverride> = list_overrides(repo, policy)?
            .into_iter()
            .filter(|s| s.record.kind == OverrideKind::Allow)
            .filter(|s| !matches!(s.status, Status::Revoked(_)))
            .filter(|s| s.id.to_string().starts_with(prefix.as_str()))
            .collect();
        let target = match targets.as_slice() {
            [one] => one,
            [] => {
                return Err(refuse(
                    format!("there is no unrevoked override {prefix:?}"),
                    "list them with: git guard overrides",
                ));
            }
            _ => {
                return Err(refuse(
                    "the override id is ambiguous",
                    "give more of its digits (git guard overrides)",
                ));
            }
        };
        record.kind = OverrideKind::Revoke;
        record.branch = target.record.branch.clone();
        record.max_files = None;
        record.max_lines = None;
        record.paths = Vec::new();
        record.revokes = Some(target.id.to_string());
    } else {
        record.branch = branch_ref(&req.branch)?;
        for (flag, asked, cap) in [
            ("--max-files", req.max_files, policy.caps.max_files),
            ("--max-lines", req.max_lines, policy.caps.max_lines),
        ] {
            if let Some(n) = asked
                && n <= cap
            {
                return Err(refuse(
                    format!("{flag} {n} does not raise the policy's cap of {cap}"),
                    "an override only raises a cap; lower caps belong in the policy",
                ));
            }
        }
        if let Some(p) = allow_problem(policy, &record) {
            return Err(refuse(
                p,
                "git guard allow BRANCH --max-lines N --path PATTERN -m WHY",
            ));
        }
    }
    write_override(repo, policy, actor, record, req)
}

fn write_override(
    repo: &gix::Repository,
    policy: &Policy,
    actor: &Actor,
    record: OverrideRecord,
    req: &AllowRequest,
) -> Result<AllowWritten> {
    let payload = record.payload()?;
    let mut blob = payload.clone();
    let signed = match &req.sign_key {
        Some(key) => {
            blob.extend_from_slice(sign(key, &payload)?.as_bytes());
            true
        }
        None => false,
    };
    let id = repo
        .write_blob(&blob)
        .context("cannot write the override record")?
        .detach();
    let refname = format!("{OVERRIDES_PREFIX}{id}");
    let update = RefUpdate {
        old: ObjectId::null(repo.object_hash()),
        new: id,
        name: refname.clone(),
    };
    // The server's judgement, made here first so a refusal is explained before anything is
    // written or pushed.
    let findings = judge_override_update(repo, policy, actor, &update);
    if let Some(v) = findings.iter().find(|f| f.severity == Severity::Violation) {
        return Err(refuse(format!("{}: {}", v.rule, v.message), v.hint.clone()));
    }
    create_ref(repo, &refname, id)?;
    let mut notes = Vec::new();
    let mut pushed_to = None;
    if !repo.is_bare() && !req.no_push {
        match publish(repo, req.remote.as_deref(), &refname, "override")? {
            Some(remote) => pushed_to = Some(remote),
            None => notes.push(
                "this clone has no remote: the record stays here (push it with git push REMOTE 'refs/guard/overrides/*:refs/guard/overrides/*')"
                    .into(),
            ),
        }
    }
    Ok(AllowWritten {
        refname,
        id,
        record,
        signed,
        pushed_to,
        notes,
    })
}
