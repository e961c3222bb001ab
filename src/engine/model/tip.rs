//! The symbolic links of a tip tree and what they do to a unit's paths ([`Links`]): every
//! path the unit changes, reached under another name through a link of the tip; every file a
//! link the unit adds or changes makes reachable; every link the unit adds or changes whose
//! target leaves the tree. The tree is read whole (trees, and the blobs of links only);
//! resolution is [`crate::engine::links`]. Prints nothing, runs no process.

use gix::objs::tree::EntryKind;

use crate::engine::changes::{LinkAlias, Links, OutsideLink};
use crate::engine::links::{Resolved, TreeLinks};

use super::*;

const MODE_LINK: u32 = 0o120000;

/// Every link, directory and file of the tree of commit `tip`.
pub(super) fn tree_links(repo: &gix::Repository, tip: ObjectId) -> Result<TreeLinks> {
    let root = commit_tree(repo, tip)?;
    let mut out = TreeLinks::default();
    // An explicit stack: a deep tree must not overflow ours.
    let mut stack = vec![(root, String::new())];
    while let Some((id, dir)) = stack.pop() {
        let tree = repo
            .find_tree(id)
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| missing(repo, id, "tree"))?;
        let decoded = tree
            .decode()
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("tree {id} cannot be parsed; hint: `git fsck`"))?;
        for e in &decoded.entries {
            let name = e.filename.to_str_lossy();
            let path = if dir.is_empty() {
                name.into_owned()
            } else {
                format!("{dir}/{name}")
            };
            match e.mode.kind() {
                EntryKind::Tree => {
                    out.add_dir(path.clone());
                    stack.push((e.oid.to_owned(), path));
                }
                EntryKind::Link => {
                    let target = link_target(repo, e.oid.to_owned(), &path)?;
                    out.add_link(path.clone(), target);
                    out.add_file(path);
                }
                EntryKind::Blob | EntryKind::BlobExecutable => out.add_file(path),
                EntryKind::Commit => {}
            }
        }
    }
    Ok(out)
}

/// A link's target: its blob, as text.
fn link_target(repo: &gix::Repository, id: ObjectId, path: &str) -> Result<String> {
    let blob = repo
        .find_blob(id)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| missing(repo, id, &format!("symlink {path}")))?;
    Ok(blob.data.to_str_lossy().into_owned())
}

/// What the links of `tip`'s tree do to the paths `commits` and `cumulative` change.
pub(super) fn links_of(
    repo: &gix::Repository,
    tip: ObjectId,
    commits: &[CommitChanges],
    cumulative: &[FileChange],
) -> Result<Links> {
    let changes = commits
        .iter()
        .flat_map(|c| c.files.iter().map(move |f| (c.id, f)))
        .chain(cumulative.iter().map(|f| (None, f)));
    let changed_links: Vec<(Option<ObjectId>, &FileChange)> = changes
        .clone()
        .filter(|(_, f)| f.new_mode == Some(MODE_LINK))
        .collect();
    let tree = tree_links(repo, tip)?;
    let mut out = Links::default();
    if tree.is_empty() && changed_links.is_empty() {
        return Ok(out);
    }
    let mut seen_alias = HashSet::new();
    let mut alias = |out: &mut Links, path: String, real: String, link: String| {
        if seen_alias.insert((path.clone(), real.clone())) {
            let target = tree.target(&link).unwrap_or_default().to_string();
            out.aliases.push(LinkAlias {
                path,
                real,
                link,
                target,
            });
        }
    };
    let mut paths: Vec<&str> = changes.clone().flat_map(|(_, f)| f.paths()).collect();
    paths.sort_unstable();
    paths.dedup();
    if !tree.is_empty() {
        for p in &paths {
            for (a, link) in tree.aliases_of(p) {
                alias(&mut out, a, p.to_string(), link);
            }
            if tree.target(p).is_some() {
                for (a, real) in tree.exposed_by(p) {
                    alias(&mut out, a, real, p.to_string());
                }
            }
        }
    }
    let mut seen_outside = HashSet::new();
    for (commit, f) in changed_links {
        let (Some(path), Some(id)) = (f.new_path.as_deref(), f.new_id) else {
            continue;
        };
        let target = link_target(repo, id, path)?;
        if tree.resolve(path, &target) == Resolved::Outside
            && seen_outside.insert((path.to_string(), target.clone()))
        {
            out.outside.push(OutsideLink {
                commit,
                path: path.to_string(),
                target,
            });
        }
    }
    Ok(out)
}
