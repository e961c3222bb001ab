//! The trees a push brings, checked as `git fsck` checks them ([`crate::engine::fsck`]): each
//! new commit's tree against its first parent's, reading only the subtrees that differ (the
//! ones its diff has just read, so they come from the object cache), on the thread that diffs
//! the commit. Prints nothing, runs no process.

use crate::engine::changes::MalformedEntry;
use crate::engine::fsck::{self, MODE_TREE, TreeProblem};

use super::*;

/// Trees already walked for the commit being checked: a tree may name the same subtree
/// many times (a crafted one, exponentially often), and each is read once per commit.
#[derive(Default)]
pub(super) struct Seen(HashSet<ObjectId>);

/// Every problem in the tree of commit `id` (`tree`) that its first parent's tree (`old`)
/// does not hold at the same place: the subtrees that differ, as the commit's diff reads
/// them. A pure function of the commit, so commits may be checked on any thread in any
/// order; [`first_reports`] then keeps each problem once.
pub(super) fn check_commit(
    repo: &gix::Repository,
    id: ObjectId,
    tree: ObjectId,
    old: Option<ObjectId>,
    seen: &mut Seen,
) -> Result<Vec<MalformedEntry>> {
    let mut out = Vec::new();
    seen.0.clear();
    walk(repo, Some(id), tree, old, seen, &mut out)?;
    Ok(out)
}

/// Every problem in the tree `tree` (a ref that names a tree, not a commit).
pub(super) fn check_tree(repo: &gix::Repository, tree: ObjectId) -> Result<Vec<MalformedEntry>> {
    let mut out = Vec::new();
    walk(repo, None, tree, None, &mut Seen::default(), &mut out)?;
    Ok(out)
}

/// Each problem (a tree, an entry name, what is wrong) once, where it first appears: `found`
/// is in commit order, so the result does not depend on how the commits were split over
/// threads.
pub(super) fn first_reports(found: Vec<MalformedEntry>) -> Vec<MalformedEntry> {
    let mut reported = HashSet::new();
    found
        .into_iter()
        .filter(|m| reported.insert((m.tree, m.name.clone(), m.problem)))
        .collect()
}

fn walk(
    repo: &gix::Repository,
    commit: Option<ObjectId>,
    root: ObjectId,
    old_root: Option<ObjectId>,
    seen: &mut Seen,
    out: &mut Vec<MalformedEntry>,
) -> Result<()> {
    let hash_len = repo.object_hash().len_in_bytes();
    // An explicit stack: a deep tree must not overflow ours.
    let mut stack = vec![(root, old_root, String::new())];
    while let Some((id, old, dir)) = stack.pop() {
        if Some(id) == old || !seen.0.insert(id) {
            continue;
        }
        let obj = repo
            .find_object(id)
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| missing(repo, id, &format!("tree {}", shown_dir(&dir))))?;
        let record = |out: &mut Vec<MalformedEntry>, problem, name: &[u8]| {
            out.push(MalformedEntry {
                commit,
                tree: id,
                dir: dir.clone(),
                name: shown_name(name),
                problem,
            })
        };
        if obj.kind != gix::object::Kind::Tree {
            record(out, TreeProblem::NotATree, b"");
            continue;
        }
        let data = obj.detach().data;
        let old_data = match old {
            Some(o) => old_tree_bytes(repo, o)?,
            None => Vec::new(),
        };
        let old_entries = fsck::tree_entries(&old_data, hash_len);
        let (entries, found) = fsck::check_tree_against(&data, hash_len, &old_entries);
        for f in &found {
            record(out, f.problem, &f.name);
        }
        let old_sorted = old_entries.windows(2).all(|w| {
            fsck::git_order(w[0].name, w[0].mode, w[1].name, w[1].mode) == std::cmp::Ordering::Less
        });
        for e in entries.iter().filter(|e| e.mode == MODE_TREE) {
            let Ok(sub) = ObjectId::try_from(e.id) else {
                continue;
            };
            let old_entry = if old_sorted {
                old_entries
                    .binary_search_by(|o| fsck::git_order(o.name, o.mode, e.name, MODE_TREE))
                    .ok()
                    .map(|j| &old_entries[j])
            } else {
                old_entries
                    .iter()
                    .find(|o| o.name == e.name && o.mode == MODE_TREE)
            };
            // Unchanged at this place: judged with the parent's tree.
            if old_entry.is_some_and(|o| o.id == e.id) {
                continue;
            }
            // A name fsck refuses is reported above; its subtree is not walked as a path.
            if fsck::entry_name_problem(e.name).is_some() {
                continue;
            }
            let old_sub = old_entry
                .filter(|o| o.mode == MODE_TREE)
                .and_then(|o| ObjectId::try_from(o.id).ok());
            let name = String::from_utf8_lossy(e.name);
            let path = if dir.is_empty() {
                name.into_owned()
            } else {
                format!("{dir}/{name}")
            };
            stack.push((sub, old_sub, path));
        }
    }
    Ok(())
}

/// The old side is only read to skip what did not change: one that cannot be read as a tree
/// skips nothing.
fn old_tree_bytes(repo: &gix::Repository, id: ObjectId) -> Result<Vec<u8>> {
    match repo.find_object(id) {
        Ok(o) if o.kind == gix::object::Kind::Tree => Ok(o.detach().data),
        _ => Ok(Vec::new()),
    }
}

fn shown_dir(dir: &str) -> String {
    if dir.is_empty() {
        "at the root".into()
    } else {
        format!("at {dir}/")
    }
}

/// A name as a message shows it: printable text as it is, anything else escaped.
fn shown_name(name: &[u8]) -> String {
    name.escape_ascii().to_string()
}
