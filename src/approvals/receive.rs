//! Judging at receive: what a push may do under `refs/guard/` (create well-formed approval and
//! revocation records as an approver; nothing else: the namespace is append-only).
//!
//! Returns findings; the hooks turn them into a verdict. Writes nothing.

use gix::ObjectId;

use crate::engine::changes::RefUpdate;
use crate::engine::identity::Actor;
use crate::engine::policy::{Policy, Role};
use crate::engine::verdict::{Finding, Severity};

use super::*;

/// Judge one update of a ref under `refs/guard/`, as pre-receive sees it, pushed by `actor`.
/// Returns violations that must reject the push (and a note describing an accepted record);
/// empty for refs outside the namespace.
///
/// - `refs/guard/approvals/<commit>/<id>`: only creation, only by an approver (human or admin),
///   of a well-formed record whose blob id is `<id>`, for `<commit>` and its tree, naming the
///   pusher as approver, not for a commit the pusher pushed, signed when the policy asks.
/// - everything else under `refs/guard/` (push records, test runs) is written by the server
///   itself: no push may touch it.
pub fn judge_ref_update(
    repo: &gix::Repository,
    policy: &Policy,
    actor: &Actor,
    update: &RefUpdate,
) -> Vec<Finding> {
    if !is_guard_ref(&update.name) {
        return Vec::new();
    }
    if update.name.starts_with(OVERRIDES_PREFIX) {
        return judge_override_update(repo, policy, actor, update);
    }
    let name = update.name.as_str();
    let v = |rule: &str, msg: String, hint: &str| {
        vec![
            Finding::violation(format!("approvals.{rule}"), msg, hint)
                .at_ref(Some(name))
                .at_commit(Some(update.new).filter(|n| !n.is_null())),
        ]
    };
    let Some(rest) = name.strip_prefix(APPROVALS_PREFIX) else {
        return v(
            "namespace",
            format!("{name} is written by the server itself; no push may change it"),
            "approvals go under refs/guard/approvals/ (use `git guard approve`)",
        );
    };
    if update.is_delete() {
        return v(
            "immutable",
            format!("approval records cannot be deleted ({name})"),
            "to withdraw an approval, add a revocation: git guard revoke REV --approval ID",
        );
    }
    if !update.is_create() {
        return v(
            "immutable",
            format!("approval records cannot be rewritten ({name} exists)"),
            "make a new approval instead: git guard approve REV -m WHY",
        );
    }
    if !matches!(actor.role, Role::Human | Role::Admin) {
        return v(
            "approver",
            format!(
                "{} ({}) may not approve: only identities the policy lists as humans or admins may",
                actor.name, actor.role
            ),
            "ask a person listed in actors.humans or actors.admins to review and approve",
        );
    }
    let Some((commit_text, id_text)) = rest.split_once('/') else {
        return v(
            "record",
            format!("{name} is not refs/guard/approvals/<commit-id>/<record-id>"),
            "create approvals with `git guard approve`",
        );
    };
    if !is_id(id_text, &update.new) {
        return v(
            "record",
            format!(
                "{name} must end with the id of the record it points at ({})",
                update.new
            ),
            "create approvals with `git guard approve`",
        );
    }
    let Ok(commit) = ObjectId::from_hex(commit_text.as_bytes()) else {
        return v(
            "record",
            format!("{commit_text:?} in {name} is not a commit id"),
            "create approvals with `git guard approve`",
        );
    };
    let data = match read_blob(repo, update.new) {
        Ok(d) => d,
        Err(e) => {
            return v(
                "record",
                format!("cannot read the record of {name}: {e:#}"),
                "create approvals with `git guard approve`",
            );
        }
    };
    let (record, payload, signature) = match parse_blob(&data) {
        Ok(x) => x,
        Err(e) => {
            return v(
                "record",
                format!("{name}: {e:#}"),
                "create approvals with `git guard approve`",
            );
        }
    };
    if !is_id(&record.commit, &commit) {
        return v(
            "record",
            format!(
                "{name} holds a record for commit {}, not {commit}",
                record.commit
            ),
            "create approvals with `git guard approve`",
        );
    }
    let tree = match tree_of(repo, commit) {
        Ok(Some(t)) => t,
        Ok(None) => {
            return v(
                "record",
                format!("commit {commit} is not in the repository: push it before approving it"),
                "push the branch holding the commit first",
            );
        }
        Err(e) => {
            return v("record", format!("cannot read commit {commit}: {e:#}"), "");
        }
    };
    if !is_id(&record.tree, &tree) {
        return v(
            "record",
            format!(
                "the record approves tree {} but commit {} has tree {tree}",
                record.tree,
                short(&commit)
            ),
            "approve the commit as it is now: git guard approve REV -m WHY",
        );
    }
    if record.approver != actor.name {
        return v(
            "identity",
            format!(
                "the record names {} as approver but {} is pushing it",
                record.approver, actor.name
            ),
            "approve under the name the server knows you by (git guard approve --as NAME)",
        );
    }
    match record.kind {
        RecordKind::Approve => {
            // A record that clears no flag is a consent approval, which only counts where the
            // policy sets consent levels.
            if record.flags.is_empty() && policy.approvals.one_from_risk > 5 {
                return v(
                    "record",
                    format!("{name} approves no flag"),
                    "name the flags: git guard approve REV --flag ID",
                );
            }
            match pusher_of(repo, commit) {
                Ok(Some(p)) if p.pusher == actor.name && !policy.approvals.allow_self_approval => {
                    return v(
                        "self",
                        format!(
                            "{} pushed commit {} and may not approve it",
                            actor.name,
                            short(&commit)
                        ),
                        "ask another approver to review it",
                    );
                }
                Ok(_) => {}
                Err(e) => {
                    return v(
                        "record",
                        format!("cannot read who pushed {commit}: {e:#}"),
                        "",
                    );
                }
            }
        }
        RecordKind::Revoke => {
            let target = record.revokes.clone().unwrap_or_default();
            let target_ref = format!("{APPROVALS_PREFIX}{commit}/{target}");
            match repo.try_find_reference(target_ref.as_str()) {
                Ok(Some(_)) => {}
                _ => {
                    return v(
                        "record",
                        format!(
                            "the revocation names approval {target:?}, which commit {} does not have",
                            short(&commit)
                        ),
                        "list the approvals: git guard approvals REV",
                    );
                }
            }
        }
    }
    if let Some(problem) = signature_problem(policy, &actor.name, &payload, signature.as_deref()) {
        return v(
            "signature",
            format!("{name}: {problem}"),
            "sign with: git guard approve REV -m WHY --sign ~/.ssh/id_ed25519",
        );
    }
    let what = match record.kind {
        RecordKind::Approve => format!("approval of {} flag(s)", record.flags.len()),
        RecordKind::Revoke => "revocation".to_string(),
    };
    vec![
        Finding::note(
            "approvals.recorded",
            format!(
                "{what} of {} by {} recorded{}",
                short(&commit),
                actor.name,
                if signature.is_some() { " (signed)" } else { "" }
            ),
            "",
        )
        .at_ref(Some(name)),
    ]
}

/// [`judge_ref_update`] inside one push: `pushed_now` holds the commits the same push brings.
/// An approval of one of them is the pusher approving their own change (the push record is
/// only written once the push is accepted), refused unless the policy allows self-approval.
pub fn judge_push_ref_update(
    repo: &gix::Repository,
    policy: &Policy,
    actor: &Actor,
    update: &RefUpdate,
    pushed_now: &std::collections::HashSet<ObjectId>,
) -> Vec<Finding> {
    let findings = judge_ref_update(repo, policy, actor, update);
    if policy.approvals.allow_self_approval
        || findings.iter().any(|f| f.severity == Severity::Violation)
    {
        return findings;
    }
    let commit = update
        .name
        .strip_prefix(APPROVALS_PREFIX)
        .and_then(|rest| rest.split_once('/'))
        .and_then(|(c, _)| ObjectId::from_hex(c.as_bytes()).ok());
    let Some(commit) = commit.filter(|c| pushed_now.contains(c)) else {
        return findings;
    };
    let is_approval = read_blob(repo, update.new)
        .ok()
        .and_then(|d| parse_blob(&d).ok())
        .is_some_and(|(r, _, _)| r.kind == RecordKind::Approve);
    if !is_approval {
        return findings;
    }
    vec![
        Finding::violation(
            "approvals.self",
            format!(
                "{} pushes commit {} in this same push and may not approve it",
                actor.name,
                short(&commit)
            ),
            "push the commit alone; another approver reviews it",
        )
        .at_ref(Some(update.name.as_str()))
        .at_commit(Some(update.new)),
    ]
}
