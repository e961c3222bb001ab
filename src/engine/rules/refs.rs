//! Rule module `refs`: who may move which ref, and how.
//!
//! Judges the ref update of a unit (push, receive); the staged index and a range have none and
//! are not judged here. Refs under `refs/guard/` hold approvals and are judged by the
//! approvals module. The rules:
//!
//! - `refs.protected`: a protected ref updated by someone `refs.protected_pushers` does not
//!   name (by role or by identity).
//! - `refs.agent-namespace`: an agent updating a branch outside `refs.agent_namespace` (protected
//!   branches are left to `refs.protected`), or any ref outside `refs/heads/` and `refs/tags/`.
//! - `refs.force-push`: a non-fast-forward update of a protected ref unless
//!   `refs.allow_force_push`; an agent rewriting any branch outside its namespace.
//! - `refs.delete`: deleting a protected ref unless `refs.allow_delete`.
//! - `refs.tag`: an agent creating a tag when `refs.agent_tags` is false; anyone moving or
//!   deleting an existing tag when `refs.tags_immutable`.

use super::{Context, quoted};
use crate::engine::changes::UpdateKind;
use crate::engine::policy::Role;
use crate::engine::verdict::Finding;

/// Refs the approvals module judges.
pub const GUARD_NAMESPACE: &str = "refs/guard/";

pub fn check(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let Some(update) = &ctx.unit.update else {
        return;
    };
    let name = update.name.as_str();
    if name.starts_with(GUARD_NAMESPACE) {
        return;
    }
    let kind = ctx.unit.kind.unwrap_or({
        // The model always says how a ref moves; should it not, assume the worst it can be.
        if update.is_create() {
            UpdateKind::Create
        } else if update.is_delete() {
            UpdateKind::Delete
        } else if update.old == update.new {
            UpdateKind::Unchanged
        } else {
            UpdateKind::NonFastForward
        }
    });
    if kind == UpdateKind::Unchanged {
        return;
    }
    let refs = &ctx.policy.refs;
    let actor = ctx.actor;
    let at = |f: Finding| f.at_ref(Some(name));
    let protected_by = refs.protected.matching(name);
    let protected = !protected_by.is_empty();
    let is_tag = name.starts_with("refs/tags/");
    let is_branch = name.starts_with("refs/heads/");
    let is_agent = actor.role == Role::Agent;
    let in_namespace = refs.agent_namespace.is_match(name);
    let verb = verb(kind);

    if protected && !may_push_protected(ctx) {
        out.push(at(Finding::violation(
            "refs.protected",
            format!(
                "{name} is protected ({}); {} ({}) is not among refs.protected_pushers ({}) and {verb} it",
                quoted(&protected_by),
                actor.name,
                actor.role,
                if refs.protected_pushers.is_empty() {
                    "none".to_string()
                } else {
                    refs.protected_pushers.join(", ")
                },
            ),
            format!(
                "push to a branch under {} and ask a human to merge it",
                refs.agent_namespace_text
            ),
        )));
    }

    if is_agent && !protected {
        if is_branch && !in_namespace {
            out.push(at(Finding::violation(
                "refs.agent-namespace",
                format!(
                    "agent {} {verb} {name}, outside the agent namespace {}",
                    actor.name, refs.agent_namespace_text
                ),
                format!(
                    "push to a branch matching {} instead (git push origin HEAD:{})",
                    refs.agent_namespace_text,
                    example_branch(&refs.agent_namespace_text),
                ),
            )));
        } else if !is_branch && !is_tag {
            out.push(at(Finding::violation(
                "refs.agent-namespace",
                format!(
                    "agent {} {verb} {name}, which is neither a branch nor a tag",
                    actor.name
                ),
                format!(
                    "agents may push only branches matching {}",
                    refs.agent_namespace_text
                ),
            )));
        }
    }

    if kind == UpdateKind::NonFastForward {
        if protected && !refs.allow_force_push {
            out.push(at(Finding::violation(
                "refs.force-push",
                format!(
                    "non-fast-forward update of protected ref {name}: it would discard commits ({} -> {})",
                    short(&update.old),
                    short(&update.new)
                ),
                // Rebasing and merging are denied to agents by the default [commands]: the hint
                // names only what every pusher may do.
                format!(
                    "do not rewrite {name}: fetch it, make the change on a new branch from its \
                     current tip (`git switch -c BRANCH FETCHED-TIP`), and push that branch"
                ),
            )));
        } else if is_agent && !is_tag && !in_namespace {
            out.push(at(Finding::violation(
                "refs.force-push",
                format!(
                    "non-fast-forward update of {name} by agent {}, outside the agent namespace {}: it would discard commits ({} -> {})",
                    actor.name,
                    refs.agent_namespace_text,
                    short(&update.old),
                    short(&update.new)
                ),
                format!(
                    "push the rewritten history to a new branch under {} instead",
                    refs.agent_namespace_text
                ),
            )));
        }
    }

    if kind == UpdateKind::Delete && protected && !refs.allow_delete {
        out.push(at(Finding::violation(
            "refs.delete",
            format!(
                "deletion of protected ref {name} ({})",
                quoted(&protected_by)
            ),
            "protected refs may not be deleted; ask an admin if it must go".to_string(),
        )));
    }

    if is_tag {
        if kind == UpdateKind::Create && is_agent && !refs.agent_tags {
            out.push(at(Finding::violation(
                "refs.tag",
                format!(
                    "agent {} creates tag {name}; refs.agent_tags is false",
                    actor.name
                ),
                "leave tagging to a human: push the commit to a branch and ask for the tag"
                    .to_string(),
            )));
        }
        if kind != UpdateKind::Create && refs.tags_immutable {
            out.push(at(Finding::violation(
                "refs.tag",
                format!(
                    "{} {} existing tag {name} ({}); tags are immutable",
                    actor.name,
                    if kind == UpdateKind::Delete {
                        "deletes"
                    } else {
                        "moves"
                    },
                    short(&update.old)
                ),
                "create a new tag with a new name instead of moving or deleting this one"
                    .to_string(),
            )));
        }
    }
}

/// Whether the actor may update protected refs: `protected_pushers` names its role or itself.
fn may_push_protected(ctx: &Context<'_>) -> bool {
    let role = ctx.actor.role.to_string();
    ctx.policy
        .refs
        .protected_pushers
        .iter()
        .any(|p| *p == role || *p == ctx.actor.name)
}

fn verb(kind: UpdateKind) -> &'static str {
    match kind {
        UpdateKind::Create => "creates",
        UpdateKind::FastForward => "updates",
        UpdateKind::NonFastForward => "rewrites",
        UpdateKind::Delete => "deletes",
        UpdateKind::Unchanged => "leaves",
    }
}

/// `agent/*` -> `agent/my-change`, for a hint the agent can copy.
fn example_branch(namespace: &str) -> String {
    let ns = namespace.trim_start_matches("refs/heads/");
    if ns.contains('*') {
        ns.replacen("**", "my-change", 1)
            .replacen('*', "my-change", 1)
    } else {
        ns.to_string()
    }
}

fn short(id: &gix::ObjectId) -> String {
    let s = id.to_string();
    s[..12.min(s.len())].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::policy::Role;
    use crate::engine::rules::testkit::*;
    use crate::engine::verdict::Severity;

    fn found(
        policy_text: &str,
        actor: &crate::engine::identity::Actor,
        name: &str,
        kind: UpdateKind,
    ) -> Vec<Finding> {
        let unit = update(name, kind);
        run(check, &policy(policy_text), actor, &unit)
    }

    #[test]
    fn agent_may_push_its_namespace() {
        for kind in [
            UpdateKind::Create,
            UpdateKind::FastForward,
            UpdateKind::NonFastForward,
            UpdateKind::Delete,
        ] {
            let f = found("", &agent(), "refs/heads/agent/fix-1", kind);
            assert!(f.is_empty(), "{kind:?}: {f:?}");
        }
    }

    #[test]
    fn agent_on_protected_branch_is_rejected() {
        let f = found("", &agent(), "refs/heads/main", UpdateKind::FastForward);
        assert_eq!(ids(&f), ["refs.protected"]);
        assert_severity(&f, Severity::Violation);
        assert_eq!(f[0].refname.as_deref(), Some("refs/heads/main"));
        assert!(f[0].message.contains("`main`"), "{}", f[0].message);
        assert!(f[0].message.contains("human, admin"), "{}", f[0].message);
        assert!(f[0].hint.contains("agent/*"), "{}", f[0].hint);
        let f = found("", &agent(), "refs/heads/release/2.0", UpdateKind::Create);
        assert_eq!(ids(&f), ["refs.protected"]);
    }

    #[test]
    fn humans_push_protected_refs_but_not_by_force() {
        let f = found("", &human(), "refs/heads/main", UpdateKind::FastForward);
        assert!(f.is_empty(), "{f:?}");
        let f = found("", &human(), "refs/heads/main", UpdateKind::NonFastForward);
        assert_eq!(ids(&f), ["refs.force-push"]);
        let f = found(
            "[refs]\nallow_force_push = true\n",
            &human(),
            "refs/heads/main",
            UpdateKind::NonFastForward,
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn protected_pushers_may_name_identities() {
        let p = "[refs]\nprotected_pushers = [\"release-bot\"]\n";
        let f = found(
            p,
            &actor("release-bot", Role::Agent),
            "refs/heads/main",
            UpdateKind::FastForward,
        );
        assert!(f.is_empty(), "{f:?}");
        let f = found(p, &human(), "refs/heads/main", UpdateKind::FastForward);
        assert_eq!(ids(&f), ["refs.protected"]);
    }

    #[test]
    fn agent_outside_namespace() {
        let f = found("", &agent(), "refs/heads/feature", UpdateKind::Create);
        assert_eq!(ids(&f), ["refs.agent-namespace"]);
        assert!(f[0].hint.contains("HEAD:agent/my-change"), "{}", f[0].hint);
        let f = found("", &agent(), "refs/notes/commits", UpdateKind::FastForward);
        assert_eq!(ids(&f), ["refs.agent-namespace"]);
        assert!(f[0].message.contains("neither a branch nor a tag"));
        let f = found("", &human(), "refs/heads/feature", UpdateKind::Create);
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn agent_rewriting_outside_namespace() {
        let f = found(
            "",
            &agent(),
            "refs/heads/feature",
            UpdateKind::NonFastForward,
        );
        assert_eq!(ids(&f), ["refs.agent-namespace", "refs.force-push"]);
        let f = found(
            "",
            &human(),
            "refs/heads/feature",
            UpdateKind::NonFastForward,
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn deleting_protected_refs() {
        let f = found("", &human(), "refs/heads/production", UpdateKind::Delete);
        assert_eq!(ids(&f), ["refs.delete"]);
        let f = found(
            "[refs]\nallow_delete = true\n",
            &human(),
            "refs/heads/production",
            UpdateKind::Delete,
        );
        assert!(f.is_empty(), "{f:?}");
        let f = found("", &agent(), "refs/heads/main", UpdateKind::Delete);
        assert_eq!(ids(&f), ["refs.protected", "refs.delete"]);
    }

    #[test]
    fn tags() {
        let f = found("", &agent(), "refs/tags/v1.0", UpdateKind::Create);
        assert_eq!(ids(&f), ["refs.tag"]);
        assert!(f[0].message.contains("agent_tags"));
        let f = found(
            "[refs]\nagent_tags = true\n",
            &agent(),
            "refs/tags/v1.0",
            UpdateKind::Create,
        );
        assert!(f.is_empty(), "{f:?}");
        let f = found("", &human(), "refs/tags/v1.0", UpdateKind::Create);
        assert!(f.is_empty(), "{f:?}");
        for kind in [
            UpdateKind::FastForward,
            UpdateKind::NonFastForward,
            UpdateKind::Delete,
        ] {
            let f = found("", &human(), "refs/tags/v1.0", kind);
            assert_eq!(ids(&f), ["refs.tag"], "{kind:?}");
            assert!(f[0].message.contains("immutable"));
            let verb = if kind == UpdateKind::Delete {
                "deletes"
            } else {
                "moves"
            };
            assert!(
                f[0].message
                    .starts_with(&format!("alice {verb} existing tag refs/tags/v1.0 (")),
                "{}",
                f[0].message
            );
        }
        let f = found(
            "[refs]\ntags_immutable = false\n",
            &human(),
            "refs/tags/v1.0",
            UpdateKind::Delete,
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn guard_refs_and_subjects_without_update_are_left_alone() {
        let f = found(
            "",
            &agent(),
            "refs/guard/approvals",
            UpdateKind::NonFastForward,
        );
        assert!(f.is_empty(), "{f:?}");
        let u = staged_unit(vec![add("a.txt")]);
        assert!(run(check, &policy(""), &agent(), &u).is_empty());
        let f = found("", &agent(), "refs/heads/main", UpdateKind::Unchanged);
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn unknown_kind_is_judged_as_a_rewrite() {
        let mut u = update("refs/heads/main", UpdateKind::FastForward);
        u.kind = None;
        let f = run(check, &policy(""), &human(), &u);
        assert_eq!(ids(&f), ["refs.force-push"]);
    }
}
