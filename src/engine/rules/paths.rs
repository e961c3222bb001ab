//! Rule module `paths`: which paths may change.
//!
//! - `paths.deny` (violation): a path matching `paths.deny` is added, changed, renamed (either
//!   side) or deleted, in any commit of the unit, so a file added and removed again within one
//!   push is still caught; reported once per commit that touches it.
//! - `paths.allow-only` (violation): when `paths.allow_only` is not empty, any path outside it.
//! - `paths.protected` (flag): a path matching `paths.protected` changes; a human must approve
//!   it. One flag per path and unit, at the first commit that touches it.
//!
//! - `paths.symlink-outside` (violation): a symlink the unit adds or changes has a target that
//!   leaves the tree (absolute, or `..` past the root, following the tree's own links), unless
//!   `paths.allow_outside_symlinks`.
//!
//! Deny and protected patterns also apply to the paths the unit's changes are reachable as
//! through the symlinks of the new tip's tree, and to every file a symlink the unit adds or
//! changes makes reachable (`config -> cfg`: `cfg/prod.yml` is `config/prod.yml` too); such a
//! finding names the path as reached, at the new tip.
//!
//! Matching is case-insensitive when `paths.case_insensitive` (the patterns are compiled so).
//! The cumulative change is judged too, for a unit with no commit of its own.

use std::collections::HashSet;

use super::{Context, Origin, quoted};
use crate::engine::changes::{ChangeKind, FileChange};
use crate::engine::verdict::Finding;

pub fn check(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let paths = &ctx.policy.paths;
    let refname = ctx.refname();
    // (rule, path) already told for this unit, so the cumulative change repeats nothing and a
    // flag is raised once per path.
    let mut told: HashSet<(&'static str, String)> = HashSet::new();
    for (origin, fc) in ctx.all_changes() {
        let commit = origin.commit();
        for path in fc.paths() {
            let denied = paths.deny.matching(path);
            // Every commit touching a denied path must be rewritten, so each one is told.
            let new = told.insert(("paths.deny", path.to_string()));
            if !denied.is_empty() && (new || origin != Origin::Cumulative) {
                out.push(
                    Finding::violation(
                        "paths.deny",
                        format!(
                            "{path} matches paths.deny ({}): {}",
                            quoted(&denied),
                            what_happened(fc, path)
                        ),
                        deny_hint(ctx.is_staged()),
                    )
                    .at_ref(refname)
                    .at_commit(commit)
                    .at_path(path),
                );
            }
            if !paths.allow_only.is_empty()
                && !paths.allow_only.is_match(path)
                && told.insert(("paths.allow-only", path.to_string()))
            {
                out.push(
                    Finding::violation(
                        "paths.allow-only",
                        format!(
                            "{path} is outside paths.allow_only ({}): {}",
                            quoted(
                                &paths
                                    .allow_only
                                    .patterns
                                    .iter()
                                    .map(String::as_str)
                                    .collect::<Vec<_>>()
                            ),
                            what_happened(fc, path)
                        ),
                        "change only paths the policy allows; leave this file as it is".to_string(),
                    )
                    .at_ref(refname)
                    .at_commit(commit)
                    .at_path(path),
                );
            }
            let protected = paths.protected.matching(path);
            if !protected.is_empty() && told.insert(("paths.protected", path.to_string())) {
                out.push(
                    Finding::flag(
                        "paths.protected",
                        format!(
                            "{path} is protected ({}): {}",
                            quoted(&protected),
                            what_happened(fc, path)
                        ),
                        "a human must review and approve this change before it is deployed"
                            .to_string(),
                    )
                    .at_ref(refname)
                    .at_commit(commit)
                    .at_path(path),
                );
            }
        }
    }
    links(ctx, &mut told, out);
}

/// Paths as reached through the tip's symlinks, and symlinks that leave the tree.
fn links(ctx: &Context<'_>, told: &mut HashSet<(&'static str, String)>, out: &mut Vec<Finding>) {
    let paths = &ctx.policy.paths;
    let refname = ctx.refname();
    let tip = ctx
        .unit
        .update
        .as_ref()
        .map(|u| u.new)
        .filter(|id| !id.is_null());
    for a in &ctx.unit.links.aliases {
        let how = format!(
            "it is {}, reached through the symlink {} -> {}",
            a.real, a.link, a.target
        );
        let denied = paths.deny.matching(&a.path);
        if !denied.is_empty() && told.insert(("paths.deny", a.path.clone())) {
            out.push(
                Finding::violation(
                    "paths.deny",
                    format!("{} matches paths.deny ({}): {how}", a.path, quoted(&denied)),
                    "a symlink does not make a denied path allowed: remove the symlink, or keep                      the file out of the folder it exposes (git rm --cached PATH, then commit)",
                )
                .at_ref(refname)
                .at_commit(tip)
                .at_path(a.path.as_str()),
            );
        }
        let protected = paths.protected.matching(&a.path);
        if !protected.is_empty() && told.insert(("paths.protected", a.path.clone())) {
            out.push(
                Finding::flag(
                    "paths.protected",
                    format!("{} is protected ({}): {how}", a.path, quoted(&protected)),
                    "a human must review and approve this change before it is deployed",
                )
                .at_ref(refname)
                .at_commit(tip)
                .at_path(a.path.as_str()),
            );
        }
    }
    if paths.allow_outside_symlinks {
        return;
    }
    for l in &ctx.unit.links.outside {
        out.push(
            Finding::violation(
                "paths.symlink-outside",
                format!(
                    "{} is a symlink to {}, which leaves the tree",
                    l.path, l.target
                ),
                "point the link at a path inside the repository (a relative target that stays                  below its root), or remove it (git rm --cached PATH, then commit)",
            )
            .at_ref(refname)
            .at_commit(l.commit.or(tip))
            .at_path(l.path.as_str()),
        );
    }
}

/// What happened to `path` in this change, in words.
pub(crate) fn what_happened(fc: &FileChange, path: &str) -> String {
    let old = fc.old_path.as_deref().unwrap_or_default();
    let new = fc.new_path.as_deref().unwrap_or_default();
    match fc.kind {
        ChangeKind::Add => "added".into(),
        ChangeKind::Modify => "modified".into(),
        ChangeKind::Delete => "deleted".into(),
        ChangeKind::TypeChange => "type changed".into(),
        ChangeKind::ModeChange => "mode changed".into(),
        ChangeKind::Rename if path == old => format!("renamed to {new}"),
        ChangeKind::Rename => format!("renamed from {old}"),
        ChangeKind::Copy if path == old => format!("copied to {new}"),
        ChangeKind::Copy => format!("copied from {old}"),
    }
}

fn deny_hint(staged: bool) -> String {
    if !staged {
        "denied paths may not be added, changed, renamed or deleted: take the commits back \
         (`git reset --soft BASE`, BASE the commit before the first that touches it), unstage the \
         path (`git restore --staged PATH`, or `git rm --cached PATH` for a new file), commit \
         again, and keep secrets out of git"
            .into()
    } else {
        "denied paths may not be added, changed, renamed or deleted: unstage it \
         (git restore --staged PATH) and keep secrets out of git"
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testkit::*;
    use crate::engine::verdict::Severity;

    #[test]
    fn deny_catches_case_variants_in_the_staged_change() {
        let u = staged_unit(vec![
            add("app/.ENV"),
            add("Secrets/db.txt"),
            add("src/main.rs"),
        ]);
        let f = run(check, &policy(""), &agent(), &u);
        let deny = only(&f, "paths.deny");
        assert_eq!(deny.len(), 2, "{f:?}");
        assert_severity(&deny, Severity::Violation);
        assert_eq!(deny[0].path.as_deref(), Some("app/.ENV"));
        assert!(deny[0].message.contains("(`.env`)"), "{}", deny[0].message);
        assert!(deny[0].message.contains("added"), "{}", deny[0].message);
        assert!(
            deny[0].hint.contains("git restore --staged"),
            "{}",
            deny[0].hint
        );
        assert!(
            deny[1].message.contains("`secrets/`"),
            "{}",
            deny[1].message
        );
        assert_eq!(deny[0].commit, None);
    }

    #[test]
    fn deny_checks_both_sides_of_a_rename_and_deletions() {
        let u = unit(
            vec![commit(
                1,
                "m",
                vec![rename("config/prod.yml", "notes.txt"), delete("id_rsa")],
            )],
            vec![],
        );
        let f = run(check, &policy(""), &agent(), &u);
        let deny = only(&f, "paths.deny");
        assert_eq!(deny.len(), 2, "{f:?}");
        assert_eq!(deny[0].path.as_deref(), Some("config/prod.yml"));
        assert!(
            deny[0].message.contains("renamed to notes.txt"),
            "{}",
            deny[0].message
        );
        assert_eq!(deny[1].path.as_deref(), Some("id_rsa"));
        assert!(deny[1].message.contains("deleted"));
        assert_eq!(deny[1].commit, Some(oid(1)));
        let u = unit(
            vec![commit(1, "m", vec![rename("a.txt", "keys/server.KEY")])],
            vec![],
        );
        let f = run(check, &policy(""), &agent(), &u);
        assert_eq!(
            only(&f, "paths.deny")[0].path.as_deref(),
            Some("keys/server.KEY")
        );
    }

    #[test]
    fn file_added_then_removed_in_one_push_is_caught_in_each_commit() {
        let u = unit(
            vec![
                commit(1, "add", vec![add(".env")]),
                commit(2, "remove", vec![delete(".env")]),
            ],
            vec![],
        );
        let f = run(check, &policy(""), &agent(), &u);
        let deny = only(&f, "paths.deny");
        assert_eq!(deny.len(), 2, "{f:?}");
        assert_eq!(deny[0].commit, Some(oid(1)));
        assert_eq!(deny[1].commit, Some(oid(2)));
    }

    #[test]
    fn cumulative_change_judged_when_there_is_no_commit() {
        let u = unit(vec![], vec![add(".env"), add("policy.toml")]);
        let f = run(check, &policy(""), &agent(), &u);
        assert_eq!(ids(&f), ["paths.deny", "paths.protected"]);
        // With commits, the cumulative change repeats nothing.
        let u = unit(vec![commit(1, "m", vec![add(".env")])], vec![add(".env")]);
        let f = run(check, &policy(""), &agent(), &u);
        assert_eq!(ids(&f), ["paths.deny"]);
    }

    #[test]
    fn allow_only() {
        let p = policy("[paths]\nallow_only = [\"docs/\", \"*.md\"]\n");
        let u = staged_unit(vec![
            add("docs/a.txt"),
            add("README.md"),
            modify("src/lib.rs"),
        ]);
        let f = run(check, &p, &agent(), &u);
        assert_eq!(ids(&f), ["paths.allow-only"]);
        assert_eq!(f[0].path.as_deref(), Some("src/lib.rs"));
        assert!(f[0].message.contains("`docs/`, `*.md`"), "{}", f[0].message);
        // An empty list allows everything.
        assert!(run(check, &policy(""), &agent(), &u).is_empty());
    }

    #[test]
    fn protected_is_a_flag_once_per_path() {
        let u = unit(
            vec![
                commit(
                    1,
                    "a",
                    vec![modify("policy.toml"), add(".github/workflows/ci.yml")],
                ),
                commit(2, "b", vec![modify("policy.toml")]),
            ],
            vec![modify("policy.toml"), add(".github/workflows/ci.yml")],
        );
        let f = run(check, &policy(""), &agent(), &u);
        assert_eq!(f.len(), 2, "{f:?}");
        assert_severity(&f, Severity::Flag);
        assert_eq!(f[0].flag_id(), "paths.protected:policy.toml");
        assert_eq!(f[0].commit, Some(oid(1)));
        assert!(f[0].message.contains("`/policy.toml`"), "{}", f[0].message);
        assert_eq!(f[1].flag_id(), "paths.protected:.github/workflows/ci.yml");
        // Anchored: a nested policy.toml is not the policy.
        let u = staged_unit(vec![modify("sub/policy.toml")]);
        assert!(run(check, &policy(""), &agent(), &u).is_empty());
    }
}
