//! `git guard approve` and `git guard revoke`: check the request, write the record, create its
//! ref and push it from a clone. Judges the record first exactly as the server will.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, bail};
use gix::ObjectId;

use crate::engine::changes::RefUpdate;
use crate::engine::identity::Actor;
use crate::engine::policy::Policy;
use crate::engine::verdict::Severity;

use super::*;

/// What `git guard approve` asks for.
#[derive(Debug, Clone, Default)]
pub struct ApproveRequest {
    pub rev: String,
    /// Flag ids to clear; empty: every outstanding flag of the commit.
    pub flags: Vec<String>,
    pub why: String,
    /// An ssh private key (or public key held by ssh-agent) to sign with.
    pub sign_key: Option<PathBuf>,
    /// The remote to push the approval to from a clone (`None`: `origin` when it exists).
    pub remote: Option<String>,
    /// Keep the approval in this repository only.
    pub no_push: bool,
}

/// What `approve` or `revoke` did.
#[derive(Debug, Clone)]
pub struct Written {
    pub refname: String,
    pub id: ObjectId,
    pub record: Record,
    pub signed: bool,
    /// The remote it was pushed to, if any.
    pub pushed_to: Option<String>,
    /// Notes for the person (an unknown pusher, an accepted record).
    pub notes: Vec<String>,
}

/// Why a request was refused by policy (exit 1), as opposed to an error (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Refused {
    pub message: String,
    pub hint: String,
}

pub(super) fn refuse(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    Refused {
        message: message.into(),
        hint: hint.into(),
    }
    .into()
}

/// Approve flags of a commit: check the approver may, write the record, create the ref (on
/// the server) or create it and push it (from a clone).
pub fn approve(
    repo: &gix::Repository,
    policy: &Policy,
    actor: &Actor,
    req: &ApproveRequest,
) -> Result<Written> {
    if req.why.trim().is_empty() {
        return Err(refuse(
            "an approval needs a reason",
            "say why with -m WHY: what you checked",
        ));
    }
    let (commit, tree) = resolve_commit(repo, &req.rev)?;
    let flags = flags_of_commit(repo, policy, commit)?;
    let known: Vec<&str> = flags.flags.iter().map(|f| f.id.as_str()).collect();
    let chosen: Vec<String> = if req.flags.is_empty() {
        flags.outstanding().map(|f| f.id.clone()).collect()
    } else {
        for f in &req.flags {
            if !known.contains(&f.as_str()) {
                // Bad input (exit 2), not a refusal by policy: nothing was judged.
                bail!(
                    "--flag {f:?}: commit {} has no flag {f:?}; hint: {}",
                    short(&commit),
                    if known.is_empty() {
                        "it has no flags at all".to_string()
                    } else {
                        format!(
                            "its flags are: {} (`git guard flags` lists them)",
                            known.join(", ")
                        )
                    },
                );
            }
        }
        req.flags.clone()
    };
    // With consent levels, a commit whose flags are all approved (or that has none) can still
    // take an approval of its own: the consent of one more person.
    if chosen.is_empty() && policy.approvals.one_from_risk > 5 {
        return Err(refuse(
            format!(
                "commit {} has no outstanding flag to approve",
                short(&commit)
            ),
            "see them with: git guard flags REV",
        ));
    }
    let pusher = pusher_of(repo, commit)?;
    let mut notes = Vec::new();
    if pusher.is_none() {
        notes.push(format!(
            "who pushed {} is not recorded here: the record says so, and the server checks again",
            short(&commit)
        ));
    }
    let (at_unix, at) = now();
    let record = Record {
        version: 1,
        kind: RecordKind::Approve,
        commit: commit.to_string(),
        tree: tree.to_string(),
        flags: chosen,
        revokes: None,
        approver: actor.name.clone(),
        role: actor.role,
        source: actor.source.clone(),
        host: hostname(),
        at,
        at_unix,
        why: req.why.trim().to_string(),
        pusher: pusher.map(|p| p.pusher),
    };
    write_record(repo, policy, actor, record, req, notes)
}

/// What `git guard revoke` asks for.
#[derive(Debug, Clone, Default)]
pub struct RevokeRequest {
    pub rev: String,
    /// The approval to revoke (a prefix of its id); `None`: every valid approval of the commit.
    pub approval: Option<String>,
    pub why: String,
    pub sign_key: Option<PathBuf>,
    pub remote: Option<String>,
    pub no_push: bool,
}

/// Revoke approvals of a commit by adding revocation records.
pub fn revoke(
    repo: &gix::Repository,
    policy: &Policy,
    actor: &Actor,
    req: &RevokeRequest,
) -> Result<Vec<Written>> {
    if req.why.trim().is_empty() {
        return Err(refuse("a revocation needs a reason", "say why with -m WHY"));
    }
    let (commit, tree) = resolve_commit(repo, &req.rev)?;
    let listed = list_for_commit(repo, policy, commit)?;
    let targets: Vec<&Listed> = listed
        .iter()
        .filter(|l| l.stored.record.kind == RecordKind::Approve)
        .filter(|l| !matches!(l.status, Status::Revoked(_)))
        .filter(|l| match &req.approval {
            Some(p) => l.stored.id.to_string().starts_with(p.as_str()),
            None => true,
        })
        .collect();
    if targets.is_empty() {
        return Err(refuse(
            match &req.approval {
                Some(p) => format!("commit {} has no unrevoked approval {p:?}", short(&commit)),
                None => format!("commit {} has no unrevoked approval", short(&commit)),
            },
            "list them with: git guard approvals REV",
        ));
    }
    if req.approval.is_some() && targets.len() > 1 {
        return Err(refuse(
            "the approval id is ambiguous",
            "give more of its digits (git guard approvals REV)",
        ));
    }
    let mut out = Vec::new();
    for t in targets {
        let (at_unix, at) = now();
        let record = Record {
            version: 1,
            kind: RecordKind::Revoke,
            commit: commit.to_string(),
            tree: tree.to_string(),
            flags: t.stored.record.flags.clone(),
            revokes: Some(t.stored.id.to_string()),
            approver: actor.name.clone(),
            role: actor.role,
            source: actor.source.clone(),
            host: hostname(),
            at,
            at_unix,
            why: req.why.trim().to_string(),
            pusher: pusher_of(repo, commit)?.map(|p| p.pusher),
        };
        let common = ApproveRequest {
            rev: req.rev.clone(),
            flags: Vec::new(),
            why: req.why.clone(),
            sign_key: req.sign_key.clone(),
            remote: req.remote.clone(),
            no_push: req.no_push,
        };
        out.push(write_record(
            repo,
            policy,
            actor,
            record,
            &common,
            Vec::new(),
        )?);
    }
    Ok(out)
}

pub(super) fn write_record(
    repo: &gix::Repository,
    policy: &Policy,
    actor: &Actor,
    record: Record,
    req: &ApproveRequest,
    mut notes: Vec<String>,
) -> Result<Written> {
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
        .context("cannot write the approval record")?
        .detach();
    let refname = format!("{APPROVALS_PREFIX}{}/{id}", record.commit);
    let update = RefUpdate {
        old: ObjectId::null(repo.object_hash()),
        new: id,
        name: refname.clone(),
    };
    // The same judgement the server makes, made here first so a refusal is explained before
    // anything is written or pushed.
    let findings = judge_ref_update(repo, policy, actor, &update);
    if let Some(v) = findings.iter().find(|f| f.severity == Severity::Violation) {
        return Err(refuse(format!("{}: {}", v.rule, v.message), v.hint.clone()));
    }
    create_ref(repo, &refname, id)?;
    let mut pushed_to = None;
    if !repo.is_bare() && !req.no_push {
        let what = if record.kind == RecordKind::Approve {
            "approval"
        } else {
            "revocation"
        };
        if let Some(remote) = publish(repo, req.remote.as_deref(), &refname, what)? {
            pushed_to = Some(remote);
        } else {
            notes.push(
                "this clone has no remote: the record stays here (push it with git push REMOTE 'refs/guard/approvals/*:refs/guard/approvals/*')"
                    .into(),
            );
        }
    }
    Ok(Written {
        refname,
        id,
        record,
        signed,
        pushed_to,
        notes,
    })
}

/// Push the record just written as `refname` to `remote`, else to `origin` when the clone has
/// one: the remote it went to, or `None` when there is none. When the server refuses it, the
/// local ref is deleted too (a record the server refused would list here as if it counted) and
/// the error quotes the server's lines, naming the record as `what`.
pub(super) fn publish(
    repo: &gix::Repository,
    remote: Option<&str>,
    refname: &str,
    what: &str,
) -> Result<Option<String>> {
    let remote = match remote {
        Some(r) => r.to_string(),
        None => match repo.config_snapshot().string("remote.origin.url") {
            Some(_) => "origin".to_string(),
            None => return Ok(None),
        },
    };
    let work = repo
        .workdir()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| repo.git_dir().to_path_buf());
    let out = Command::new("git")
        .current_dir(&work)
        .args(["push", "--quiet", &remote, &format!("{refname}:{refname}")])
        .stdin(Stdio::null())
        .output()
        .context("cannot run git push")?;
    if !out.status.success() {
        delete_ref(repo, refname)?;
        let text = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        return Err(refuse(
            format!("{remote} refused the {what}:\n  {}", lines.join("\n  ")),
            "nothing was recorded",
        ));
    }
    Ok(Some(remote))
}
