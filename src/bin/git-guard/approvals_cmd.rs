//! `git guard flags`, `approve`, `revoke`, `approvals`, `allow` and `overrides`: what needs a
//! human, the records that clear it and the overrides of a branch, over the library's approvals
//! door.

use std::io::Write;
use std::path::Path;

use git_guard::engine::identity::Actor;
use git_guard::engine::policy::Policy;

use git_guard::approvals;

use crate::*;

/// The repository, policy and identity `approve` and `revoke` write records with.
pub(crate) fn writer(write: &WriteOpts) -> anyhow::Result<(gix::Repository, Policy, Actor)> {
    let repo = approvals::open_repo(Path::new("."))?;
    let policy = approvals::policy_for_repo(&repo, write.repo.policy.as_deref())?;
    let actor = approvals::local_actor(&repo, &policy, write.as_name.as_deref())?;
    Ok((repo, policy, actor))
}

pub(crate) fn flags_cmd(
    range: Option<String>,
    opts: RepoOpts,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let repo = approvals::open_repo(Path::new("."))?;
    let policy = approvals::policy_for_repo(&repo, opts.policy.as_deref())?;
    let range = range.unwrap_or_else(|| approvals::default_range(&repo, &policy));
    let commits = approvals::flags_of_range(&repo, &policy, &range)?;
    let outstanding: usize = commits.iter().map(|c| c.outstanding().count()).sum();
    if json {
        serde_json::to_writer_pretty(&mut *out, &commits)?;
        writeln!(out)?;
        return Ok(0);
    }
    let mut total = 0;
    for c in &commits {
        if c.flags.is_empty() {
            continue;
        }
        total += c.flags.len();
        writeln!(
            out,
            "{} {} ({} file{}, +{} -{}; pushed by {})",
            &c.commit[..12.min(c.commit.len())],
            c.summary,
            c.files,
            if c.files == 1 { "" } else { "s" },
            c.added,
            c.removed,
            c.pusher.as_deref().unwrap_or("unknown")
        )?;
        for f in &c.flags {
            let state = if f.approved() {
                format!("approved by {}", f.approved_by_short())
            } else {
                "outstanding".into()
            };
            writeln!(out, "  [{state}] {}", f.id)?;
            writeln!(out, "      {}", f.finding.message)?;
        }
    }
    writeln!(
        out,
        "git-guard flags: {outstanding} outstanding of {total} flag{} in {} commit{} ({range})",
        if total == 1 { "" } else { "s" },
        commits.len(),
        if commits.len() == 1 { "" } else { "s" },
    )?;
    writeln!(out, "git-guard: policy: {}", policy.source)?;
    if outstanding > 0 {
        writeln!(
            out,
            "  review: git guard report; approve: git guard approve REV -m WHY"
        )?;
    }
    Ok(0)
}

pub(crate) fn approvals_cmd(
    range: Option<String>,
    opts: RepoOpts,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let repo = approvals::open_repo(Path::new("."))?;
    let policy = approvals::policy_for_repo(&repo, opts.policy.as_deref())?;
    let range = range.unwrap_or_else(|| approvals::default_range(&repo, &policy));
    let mut n = 0;
    for (commit, summary, listed) in approvals::list_range(&repo, &policy, &range)? {
        if listed.is_empty() {
            continue;
        }
        writeln!(out, "{} {summary}", approvals::short(&commit))?;
        for l in listed {
            n += 1;
            let r = &l.stored.record;
            let what = match r.kind {
                approvals::RecordKind::Approve => format!("approval of {}", r.flags.join(", ")),
                approvals::RecordKind::Revoke => format!(
                    "revocation of {}",
                    r.revokes.as_deref().map_or("?", |x| &x[..12.min(x.len())])
                ),
            };
            let status = match &l.status {
                approvals::Status::Valid => "valid".to_string(),
                approvals::Status::Revoked(why) => why.clone(),
                approvals::Status::Invalid(why) => format!("does not count: {why}"),
            };
            writeln!(
                out,
                "  {} {what} by {} at {}{}: {:?} [{status}]",
                l.stored.short_id(),
                r.approver,
                r.at,
                if l.stored.signature.is_some() {
                    " (signed)"
                } else {
                    ""
                },
                r.why
            )?;
        }
    }
    writeln!(
        out,
        "git-guard approvals: {n} record{} ({range})",
        if n == 1 { "" } else { "s" }
    )?;
    writeln!(out, "git-guard: policy: {}", policy.source)?;
    Ok(0)
}

/// Report what approve or revoke wrote, or why it was refused (exit 1), and audit it.
pub(crate) fn written(
    result: anyhow::Result<Vec<approvals::Written>>,
    repo: &gix::Repository,
    policy: &Policy,
    actor: &Actor,
    door: &str,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    match result {
        Ok(list) => {
            writeln!(out, "git-guard: policy: {}", policy.source)?;
            for w in list {
                for n in &w.notes {
                    writeln!(out, "note: {n}")?;
                }
                let what = match w.record.kind {
                    approvals::RecordKind::Approve => {
                        format!("approved {}", w.record.flags.join(", "))
                    }
                    approvals::RecordKind::Revoke => format!(
                        "revoked approval {}",
                        w.record.revokes.as_deref().unwrap_or_default()
                    ),
                };
                writeln!(
                    out,
                    "git-guard {door}: {what} on {} (tree {}) as {} ({}){}; record {}{}",
                    &w.record.commit[..12],
                    &w.record.tree[..12],
                    actor.name,
                    actor.role,
                    if w.signed { ", signed" } else { "" },
                    w.refname,
                    w.pushed_to
                        .as_deref()
                        .map(|r| format!(", pushed to {r}"))
                        .unwrap_or_default()
                )?;
                audit(
                    repo,
                    policy,
                    actor,
                    door,
                    format!("{door} {}", w.record.commit),
                    "ok",
                    serde_json::json!({ "ref": w.refname, "flags": w.record.flags, "why": w.record.why }),
                );
            }
            Ok(0)
        }
        Err(e) => match e.downcast_ref::<approvals::Refused>() {
            Some(r) => {
                writeln!(out, "git-guard {door}: REFUSED: {}", r.message)?;
                if !r.hint.is_empty() {
                    writeln!(out, "  hint: {}", r.hint)?;
                }
                writeln!(out, "git-guard: policy: {}", policy.source)?;
                audit(
                    repo,
                    policy,
                    actor,
                    door,
                    door.to_string(),
                    "rejected",
                    serde_json::json!({ "reason": r.message }),
                );
                Ok(1)
            }
            None => Err(e),
        },
    }
}

/// Report what `allow` wrote, or why it was refused (exit 1), and audit it.
pub(crate) fn allowed(
    result: anyhow::Result<approvals::AllowWritten>,
    repo: &gix::Repository,
    policy: &Policy,
    actor: &Actor,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let w = match result {
        Ok(w) => w,
        Err(e) => {
            let Some(r) = e.downcast_ref::<approvals::Refused>() else {
                return Err(e);
            };
            writeln!(out, "git-guard allow: REFUSED: {}", r.message)?;
            if !r.hint.is_empty() {
                writeln!(out, "  hint: {}", r.hint)?;
            }
            audit(
                repo,
                policy,
                actor,
                "allow",
                "allow".into(),
                "rejected",
                serde_json::json!({ "reason": r.message }),
            );
            return Ok(1);
        }
    };
    for n in &w.notes {
        writeln!(out, "note: {n}")?;
    }
    let r = &w.record;
    let what = match r.kind {
        approvals::OverrideKind::Allow => format!("allowed {} on {}", r.describe(), r.branch),
        approvals::OverrideKind::Revoke => format!(
            "revoked override {} of {}",
            r.revokes.as_deref().unwrap_or_default(),
            r.branch
        ),
    };
    writeln!(
        out,
        "git-guard allow: {what} as {} ({}){}; record {}{}",
        actor.name,
        actor.role,
        if w.signed { ", signed" } else { "" },
        w.refname,
        w.pushed_to
            .as_deref()
            .map(|p| format!(", pushed to {p}"))
            .unwrap_or_default()
    )?;
    audit(
        repo,
        policy,
        actor,
        "allow",
        format!("allow {}", r.branch),
        "ok",
        serde_json::json!({
            "ref": w.refname, "branch": r.branch, "kind": r.kind, "max_files": r.max_files,
            "max_lines": r.max_lines, "paths": r.paths, "revokes": r.revokes, "why": r.why,
            "signed": w.signed,
        }),
    );
    Ok(0)
}

pub(crate) fn overrides_cmd(
    branch: Option<String>,
    opts: RepoOpts,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let repo = approvals::open_repo(Path::new("."))?;
    let policy = approvals::policy_for_repo(&repo, opts.policy.as_deref())?;
    let only = branch.as_deref().map(approvals::branch_ref).transpose()?;
    let mut n = 0;
    for s in approvals::list_overrides(&repo, &policy)? {
        let r = &s.record;
        if only.as_ref().is_some_and(|b| *b != r.branch) {
            continue;
        }
        n += 1;
        let what = match r.kind {
            approvals::OverrideKind::Allow => format!("allows {}", r.describe()),
            approvals::OverrideKind::Revoke => format!(
                "revokes {}",
                r.revokes.as_deref().map_or("?", |x| &x[..12.min(x.len())])
            ),
        };
        let status = match &s.status {
            approvals::Status::Valid => "in effect".to_string(),
            approvals::Status::Revoked(why) => why.clone(),
            approvals::Status::Invalid(why) => format!("does not count: {why}"),
        };
        writeln!(
            out,
            "{} {} {what} by {} at {}{}: {:?} [{status}]",
            s.short_id(),
            r.branch,
            r.approver,
            r.at,
            if s.signature.is_some() {
                " (signed)"
            } else {
                ""
            },
            r.why
        )?;
    }
    writeln!(
        out,
        "git-guard overrides: {n} record{}",
        if n == 1 { "" } else { "s" }
    )?;
    Ok(0)
}
