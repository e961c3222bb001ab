//! Rule module `caps`: how big a change may be.
//!
//! - `caps.files`: files in the cumulative change (base to tip, or the staged index) over
//!   `caps.max_files`.
//! - `caps.lines`: lines added plus removed in the cumulative change over `caps.max_lines`.
//!   Binary files count as files, never as lines.
//! - `caps.blob-bytes`: any new or changed blob over `caps.max_blob_bytes`, in any commit of
//!   the unit, so a large file added and removed again within one push is still caught.
//!
//! For a ref of the agent namespace the unit carries its proposal (the branch against its base
//! branch, from their merge base): `caps.files` and `caps.lines` then hold for the proposal as a
//! whole too, so three pushes of 200 lines are 600 lines.
//!
//! Paths matching `caps.exclude` (lock files, generated code) are left out of the file and
//! line counts, not out of the blob cap. A cap is taken literally: 0 allows nothing.

use std::collections::HashSet;

use super::{Context, Origin, count};
use crate::engine::changes::{ChangeKind, FileChange, Proposal};
use crate::engine::verdict::Finding;

/// The size of a change as the caps count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Size {
    pub files: u64,
    pub lines: u64,
}

/// Files and lines of the unit's cumulative change, without `caps.exclude` paths.
pub fn measure(ctx: &Context<'_>) -> Size {
    measure_changes(ctx, &ctx.unit.cumulative)
}

/// Files and lines of `changes`, without `caps.exclude` paths.
fn measure_changes(ctx: &Context<'_>, changes: &[FileChange]) -> Size {
    let exclude = &ctx.policy.caps.exclude;
    let mut size = Size::default();
    for fc in changes {
        if !exclude.is_empty() && fc.paths().all(|p| exclude.is_match(p)) {
            continue;
        }
        size.files += 1;
        if !fc.binary {
            size.lines += u64::from(fc.added) + u64::from(fc.removed);
        }
    }
    size
}

pub fn check(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let caps = &ctx.policy.caps;
    let refname = ctx.refname();
    let size = measure(ctx);
    let split = if ctx.is_staged() {
        "split the change into smaller commits (stage part of it with git add -p)"
    } else {
        "split the change into smaller commits and push them separately"
    };
    // A proposal (a branch of the agent namespace against its base) is capped as a whole,
    // however many pushes it took; the push alone is capped too (it may undo more than the
    // branch as a whole changes).
    let whole = ctx
        .unit
        .proposal
        .as_ref()
        .map(|p| (p, measure_changes(ctx, &p.change)));
    let proposal_over = |n: fn(&Size) -> u64, cap: u64| {
        whole
            .as_ref()
            .filter(|(_, w)| n(w) > cap && n(w) >= n(&size))
            .map(|(p, w)| (*p, n(w)))
    };
    if let Some((p, files)) = proposal_over(|s| s.files, caps.max_files) {
        out.push(
            Finding::violation(
                "caps.files",
                format!(
                    "{} changed by {} (this push: {}), the cap is {}",
                    count(files as usize, "file"),
                    proposal_words(ctx, p),
                    size.files,
                    caps.max_files
                ),
                format!(
                    "{}, each changing at most {}",
                    proposal_hint(p),
                    count(caps.max_files as usize, "file")
                ),
            )
            .at_ref(refname),
        );
    } else if size.files > caps.max_files {
        out.push(
            Finding::violation(
                "caps.files",
                format!(
                    "{} changed, the cap is {}",
                    count(size.files as usize, "file"),
                    caps.max_files
                ),
                format!(
                    "{split}, each changing at most {}",
                    count(caps.max_files as usize, "file")
                ),
            )
            .at_ref(refname),
        );
    }
    if let Some((p, lines)) = proposal_over(|s| s.lines, caps.max_lines) {
        out.push(
            Finding::violation(
                "caps.lines",
                format!(
                    "{} added or removed by {} (this push: {}), the cap is {}",
                    count(lines as usize, "line"),
                    proposal_words(ctx, p),
                    size.lines,
                    caps.max_lines
                ),
                format!(
                    "{}, each adding and removing at most {} in all",
                    proposal_hint(p),
                    count(caps.max_lines as usize, "line")
                ),
            )
            .at_ref(refname),
        );
    } else if size.lines > caps.max_lines {
        out.push(
            Finding::violation(
                "caps.lines",
                format!(
                    "{} added or removed, the cap is {}",
                    count(size.lines as usize, "line"),
                    caps.max_lines
                ),
                format!(
                    "{split}, each adding and removing at most {} in all",
                    count(caps.max_lines as usize, "line")
                ),
            )
            .at_ref(refname),
        );
    }

    // One report per blob and path: a file changed in several commits is told per new blob.
    let mut told = HashSet::new();
    for (origin, fc) in ctx.all_changes() {
        if !is_new_blob(fc) || fc.size <= caps.max_blob_bytes {
            continue;
        }
        if !told.insert((fc.path().to_string(), fc.new_id)) && origin == Origin::Cumulative {
            continue;
        }
        out.push(
            Finding::violation(
                "caps.blob-bytes",
                format!(
                    "{} is {}, the cap is {}",
                    fc.path(),
                    bytes(fc.size),
                    bytes(caps.max_blob_bytes)
                ),
                "keep large files out of git (an artifact store or Git LFS), or make it smaller; \
                 a file added and removed again still stays in the history, so rewrite the commit"
                    .to_string(),
            )
            .at_ref(refname)
            .at_commit(origin.commit())
            .at_path(fc.path()),
        );
    }
}

/// Whether the change brings a blob the repository did not have at that path.
fn is_new_blob(fc: &FileChange) -> bool {
    match fc.kind {
        ChangeKind::Delete => false,
        _ => fc.new_id.is_some() && fc.new_id != fc.old_id && !fc.is_gitlink(),
    }
}

/// A branch name as people say it: `main` for `refs/heads/main` or `refs/remotes/origin/main`.
fn short_ref(name: &str) -> &str {
    name.strip_prefix("refs/heads/")
        .or_else(|| {
            name.strip_prefix("refs/remotes/")
                .and_then(|r| r.split_once('/').map(|(_, b)| b))
        })
        .unwrap_or(name)
}

/// `agent/x against main since 1a2b3c4d5e6f`.
fn proposal_words(ctx: &Context<'_>, p: &Proposal) -> String {
    let branch = short_ref(ctx.refname().unwrap_or_default());
    let base = short_ref(&p.base_ref);
    match p.merge_base {
        Some(mb) => format!("{branch} against {base} since {}", mb.to_hex_with_len(12)),
        None if p.base_tip.is_none() => {
            format!("{branch} (there is no base branch {base}: counted from the empty tree)")
        }
        None => {
            format!("{branch}, which shares no history with {base} (counted from the empty tree)")
        }
    }
}

fn proposal_hint(p: &Proposal) -> String {
    let base = short_ref(&p.base_ref);
    format!(
        "the cap holds for the whole branch against {base}, however many pushes it takes: ask \
         for a review of what is done, and once a human has landed it, propose the rest on a new \
         branch from {base}"
    )
}

/// `3.2 MiB (3355443 bytes)`, `1.0 MiB (1048576 bytes)`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return count(n as usize, "byte");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit} ({n} bytes)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testkit::*;
    use crate::engine::verdict::Severity;

    fn files(n: usize) -> Vec<FileChange> {
        (0..n)
            .map(|i| add(&format!("src/f{i}.rs")).counts(1, 0))
            .collect()
    }

    #[test]
    fn files_over_the_cap() {
        let u = staged_unit(files(14));
        let f = run(check, &policy(""), &agent(), &u);
        assert_eq!(ids(&f), ["caps.files"]);
        assert_severity(&f, Severity::Violation);
        assert_eq!(f[0].message, "14 files changed, the cap is 10");
        assert!(
            f[0].hint
                .starts_with("split the change into smaller commits"),
            "{}",
            f[0].hint
        );
        assert!(f[0].hint.contains("at most 10 files"), "{}", f[0].hint);
        assert!(run(check, &policy(""), &agent(), &staged_unit(files(10))).is_empty());
    }

    #[test]
    fn lines_are_added_plus_removed_and_binaries_count_as_files_only() {
        let u = staged_unit(vec![
            modify("a.rs").counts(300, 101),
            add("logo.png").binary(5000),
        ]);
        let f = run(check, &policy(""), &agent(), &u);
        assert_eq!(ids(&f), ["caps.lines"]);
        assert_eq!(f[0].message, "401 lines added or removed, the cap is 400");
        assert_eq!(
            measure(&crate::engine::rules::Context {
                policy: &policy(""),
                actor: &agent(),
                unit: &u,
            }),
            Size {
                files: 2,
                lines: 401
            }
        );
    }

    #[test]
    fn excluded_paths_are_not_counted() {
        let p = policy("[caps]\nexclude = [\"Cargo.lock\", \"gen/\"]\n");
        let mut changes = files(10);
        changes.push(modify("Cargo.lock").counts(900, 900));
        changes.push(add("gen/api.rs").counts(10, 0));
        changes.push(rename("gen/old.rs", "src/new.rs").counts(1, 1));
        let u = staged_unit(changes);
        let f = run(check, &p, &agent(), &u);
        // The rename leaves gen/ for src/: it counts.
        assert_eq!(ids(&f), ["caps.files"]);
        assert_eq!(f[0].message, "11 files changed, the cap is 10");
    }

    #[test]
    fn big_blob_added_and_removed_in_one_push_is_caught() {
        let u = unit(
            vec![
                commit(
                    1,
                    "add",
                    vec![add("data.bin").binary(3 * 1024 * 1024 + 300 * 1024).blob(7)],
                ),
                commit(2, "rm", vec![delete("data.bin").binary(3 * 1024 * 1024)]),
            ],
            vec![],
        );
        let f = run(check, &policy(""), &agent(), &u);
        assert_eq!(ids(&f), ["caps.blob-bytes"]);
        assert_eq!(f[0].commit, Some(oid(1)));
        assert_eq!(f[0].path.as_deref(), Some("data.bin"));
        assert_eq!(
            f[0].message,
            "data.bin is 3.3 MiB (3452928 bytes), the cap is 1.0 MiB (1048576 bytes)"
        );
    }

    #[test]
    fn blob_cap_ignores_same_blob_and_is_told_once_with_the_cumulative_change() {
        let mut mode = modify("big.dat").size(5 << 20);
        mode.kind = ChangeKind::ModeChange;
        mode.new_id = mode.old_id;
        let u = unit(vec![commit(1, "chmod", vec![mode])], vec![]);
        assert!(run(check, &policy(""), &agent(), &u).is_empty());

        let big = add("big.dat").size(2 << 20);
        let u = unit(vec![commit(1, "a", vec![big.clone()])], vec![big.clone()]);
        let f = run(check, &policy(""), &agent(), &u);
        assert_eq!(ids(&f), ["caps.blob-bytes"]);
        let u = unit(vec![], vec![big]);
        let f = run(check, &policy(""), &agent(), &u);
        assert_eq!(ids(&f), ["caps.blob-bytes"]);
        assert_eq!(f[0].commit, None);
    }

    #[test]
    fn a_proposal_is_capped_as_a_whole_and_the_push_alone_too() {
        let mut u = update(
            "refs/heads/agent/x",
            crate::engine::changes::UpdateKind::FastForward,
        );
        u.cumulative = vec![modify("a.rs").counts(200, 0)];
        u.proposal = Some(Proposal {
            base_ref: "refs/heads/main".into(),
            base_tip: Some(oid(9)),
            merge_base: Some(oid(8)),
            change: vec![modify("a.rs").counts(600, 0), add("b.rs").counts(1, 0)],
        });
        let f = run(check, &policy(""), &agent(), &u);
        assert_eq!(ids(&f), ["caps.lines"]);
        assert!(
            f[0].message.starts_with("601 lines added or removed by agent/x against main since 080808080808 (this push: 200)"),
            "{}",
            f[0].message
        );
        // A push that undoes more than the branch changes is capped as a push.
        u.cumulative = vec![modify("a.rs").counts(0, 900)];
        let f = run(check, &policy(""), &agent(), &u);
        assert_eq!(f[0].message, "900 lines added or removed, the cap is 400");
        // No base branch: counted from the empty tree, and said so.
        u.cumulative = vec![];
        u.proposal.as_mut().unwrap().base_tip = None;
        u.proposal.as_mut().unwrap().merge_base = None;
        let f = run(check, &policy(""), &agent(), &u);
        assert!(
            f[0].message.contains("there is no base branch main"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn zero_cap_allows_nothing() {
        let p = policy("[caps]\nmax_files = 0\n");
        let f = run(check, &p, &agent(), &staged_unit(files(1)));
        assert_eq!(f[0].message, "1 file changed, the cap is 0");
    }

    #[test]
    fn byte_figures() {
        assert_eq!(bytes(1), "1 byte");
        assert_eq!(bytes(1023), "1023 bytes");
        assert_eq!(bytes(1536), "1.5 KiB (1536 bytes)");
        assert_eq!(bytes(1 << 30), "1.0 GiB (1073741824 bytes)");
    }
}
