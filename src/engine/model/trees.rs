//! The trees a push brings, checked as `git fsck` checks them ([`crate::engine::fsck`]): each
//! new commit's tree against its first parent's, reading only the subtrees that differ, each
//! tree once per push. Prints nothing, runs no process.

use crate::engine::changes::MalformedEntry;
use crate::engine::fsck::{self, MODE_TREE, TreeProblem};

use super::*;

/// Trees already checked in this push (trees are named by their content: one check is enough).
#[derive(Default)]
pub(super) struct Checked(HashSet<ObjectId>);

/// Every problem in the trees of `commits` (oldest first) that their first parents' trees do
/// not already hold.
pub(super) fn check_commits(
    repo: &gix::Repository,
    commits: &[ObjectId],
    checked: &mut Checked,
) -> Result<Vec<MalformedEntry>> {
    let mut out = Vec::new();
    for &id in commits {
        let c = repo
            .find_commit(id)
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| missing(repo, id, "commit"))?;
        let tree = c
            .tree_id()
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("commit {id} cannot be parsed; hint: `git fsck`"))?
            .detach();
        let parent = c.parent_ids().next().map(|p| p.detach());
        drop(c);
        let old = match parent {
            Some(p) if repo.has_object(p) => Some(commit_tree(repo, p)?),
            _ => None,
        };
        walk(repo, Some(id), tree, old, checked, &mut out)?;
    }
    Ok(out)
}

/// Every problem in the tree `tree` (a ref that names a tree, not a commit).
pub(super) fn check_tree(
    repo: &gix::Repository,
    tree: ObjectId,
    checked: &mut Checked,
) -> Result<Vec<MalformedEntry>> {
    let mut out = Vec::new();
    walk(repo, None, tree, None, checked, &mut out)?;
    Ok(out)
}

fn walk(
    repo: &gix::Repository,
    commit: Option<ObjectId>,
    root: ObjectId,
    old_root: Option<ObjectId>,
    checked: &mut Checked,
    out: &mut Vec<MalformedEntry>,
) -> Result<()> {
    let hash_len = repo.object_hash().len_in_bytes();
    // An explicit stack: a deep tree must not overflow ours.
    let mut stack = vec![(root, old_root, String::new())];
    while let Some((id, old, dir)) = stack.pop() {
        if Some(id) == old || !checked.0.insert(id) {
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
        let (old_entries, _) = fsck::check_tree(&old_data, hash_len);
        let (entries, found) = fsck::check_tree(&data, hash_len);
        for f in &found {
            record(out, f.problem, &f.name);
        }
        for e in entries.iter().filter(|e| e.mode == MODE_TREE) {
            // A name fsck refuses is reported above; its subtree is not walked as a path.
            if fsck::entry_name_problem(e.name).is_some() {
                continue;
            }
            let Ok(sub) = ObjectId::try_from(e.id) else {
                continue;
            };
            let old_sub = old_entries
                .iter()
                .find(|o| o.name == e.name && o.mode == MODE_TREE)
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
