//! Walking history: the commits a push brings, in parent order, diffed tree against tree
//! (spread over threads when there are enough of them). Prints nothing, runs no process.

use super::*;

/// Commits reachable from `tip` and from none of `hidden`, oldest first: every commit comes
/// after its parents (like `git rev-list --topo-order --reverse`).
pub(super) fn new_commits(
    repo: &gix::Repository,
    tip: ObjectId,
    hidden: &[ObjectId],
) -> Result<Vec<ObjectId>> {
    if hidden.contains(&tip) {
        return Ok(Vec::new());
    }
    let walk = repo
        .rev_walk([tip])
        .with_hidden(hidden.iter().copied())
        .all()
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("cannot walk the history of {tip}"))?;
    let mut order = Vec::new();
    let mut parents: HashMap<ObjectId, Vec<ObjectId>> = HashMap::new();
    for info in walk {
        let info = info.map_err(|e| anyhow!("{e}")).with_context(|| {
            format!("cannot walk the history of {tip}; hint: `git fsck` names missing objects")
        })?;
        parents.insert(info.id, info.parent_ids.iter().copied().collect());
        order.push(info.id);
    }
    // Depth-first from the tip, emitting a commit once all its parents in the set are out.
    let mut out = Vec::with_capacity(order.len());
    let mut done: HashSet<ObjectId> = HashSet::with_capacity(order.len());
    let mut stack: Vec<(ObjectId, usize)> = Vec::new();
    // Visiting the oldest-walked roots first keeps unrelated branches in walk order.
    for &start in order.iter() {
        if done.contains(&start) {
            continue;
        }
        stack.push((start, 0));
        while let Some((id, next)) = stack.pop() {
            if done.contains(&id) {
                continue;
            }
            let ps = &parents[&id];
            let pending = ps[next..]
                .iter()
                .position(|p| parents.contains_key(p) && !done.contains(p));
            match pending {
                Some(off) => {
                    let p = ps[next + off];
                    stack.push((id, next + off + 1));
                    stack.push((p, 0));
                }
                None => {
                    done.insert(id);
                    out.push(id);
                }
            }
        }
    }
    Ok(out)
}

/// Every commit's changes, spread over threads; each thread has its own repository handle.
pub(super) fn commits_parallel(
    repo: &gix::Repository,
    ids: &[ObjectId],
    opts: ModelOptions,
) -> Result<Vec<CommitChanges>> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(ids.len() / MIN_COMMITS_PER_THREAD)
        .max(1);
    if threads == 1 {
        let mut cache = new_resource_cache(repo)?;
        return ids
            .iter()
            .map(|&id| commit_with_cache(repo, id, opts, &mut cache))
            .collect();
    }
    let sync = repo.clone().into_sync();
    let chunk = ids.len().div_ceil(threads);
    let results: Vec<Result<Vec<CommitChanges>>> = std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .chunks(chunk)
            .map(|part| {
                let sync = &sync;
                s.spawn(move || -> Result<Vec<CommitChanges>> {
                    let local = crate::engine::repo::tune(sync.to_thread_local());
                    let mut cache = new_resource_cache(&local)?;
                    part.iter()
                        .map(|&id| commit_with_cache(&local, id, opts, &mut cache))
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("a worker thread reading commits failed")))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(ids.len());
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

pub(super) fn commit_with_cache(
    repo: &gix::Repository,
    id: ObjectId,
    opts: ModelOptions,
    cache: &mut gix::diff::blob::Platform,
) -> Result<CommitChanges> {
    let c = repo
        .find_commit(id)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| missing(repo, id, "commit"))?;
    let decoded = c
        .decode()
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("commit {id} cannot be parsed; hint: `git fsck`"))?;
    let tree = decoded.tree();
    let parents: Vec<ObjectId> = decoded.parents().collect();
    let message = decoded.message.to_str_lossy().into_owned();
    drop(decoded);
    drop(c);
    let summary = message
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let old_tree = match parents.first() {
        Some(&p) => Some(commit_tree(repo, p)?),
        None => None,
    };
    let raws = diff_trees(repo, old_tree, tree, cache)
        .with_context(|| format!("cannot diff commit {id} against its first parent"))?;
    let files = to_file_changes(repo, raws, opts, &format!("commit {id}"))?;
    Ok(CommitChanges {
        id: Some(id),
        tree: Some(tree),
        parents,
        summary,
        message,
        files,
    })
}

/// The change from commit `base` (none: the empty tree) to commit `tip`.
pub(super) fn diff_commits(
    repo: &gix::Repository,
    base: Option<ObjectId>,
    tip: ObjectId,
    opts: ModelOptions,
) -> Result<Vec<FileChange>> {
    let old = match base {
        Some(b) => Some(commit_tree(repo, b)?),
        None => None,
    };
    let new = commit_tree(repo, tip)?;
    let mut cache = new_resource_cache(repo)?;
    let what = match base {
        Some(b) => format!("the change {b}..{tip}"),
        None => format!("the change from the empty tree to {tip}"),
    };
    let raws =
        diff_trees(repo, old, new, &mut cache).with_context(|| format!("cannot diff {what}"))?;
    to_file_changes(repo, raws, opts, &what)
}

pub(super) fn diff_trees(
    repo: &gix::Repository,
    old: Option<ObjectId>,
    new: ObjectId,
    cache: &mut gix::diff::blob::Platform,
) -> Result<Vec<Raw>> {
    let hash = repo.object_hash();
    let old_data = match old {
        Some(t) => load_tree(repo, t)?,
        None => Vec::new(),
    };
    let new_data = load_tree(repo, new)?;
    let mut raws = Vec::new();
    let side = |path: &BStr, mode: gix::objs::tree::EntryMode, id: ObjectId| Side {
        path: path.to_str_lossy().into_owned(),
        mode: u32::from(mode.value()),
        id,
    };
    gix::diff::tree_with_rewrites(
        TreeRefIter::from_bytes(&old_data, hash),
        TreeRefIter::from_bytes(&new_data, hash),
        cache,
        &mut Default::default(),
        &repo.objects,
        |change| -> gix::Result<gix::diff::tree_with_rewrites::Action> {
            use gix::diff::tree_with_rewrites::ChangeRef;
            match change {
                ChangeRef::Addition {
                    location,
                    entry_mode,
                    id,
                    ..
                } => {
                    if !entry_mode.is_tree() {
                        raws.push(Raw::add(side(location, entry_mode, id)));
                    }
                }
                ChangeRef::Deletion {
                    location,
                    entry_mode,
                    id,
                    ..
                } => {
                    if !entry_mode.is_tree() {
                        raws.push(Raw::delete(side(location, entry_mode, id)));
                    }
                }
                ChangeRef::Modification {
                    location,
                    previous_entry_mode,
                    previous_id,
                    entry_mode,
                    id,
                } => {
                    // A tree replaced by a blob (or the reverse) arrives as a deletion and an
                    // addition; a tree whose entries changed is reported entry by entry.
                    if !entry_mode.is_tree() && !previous_entry_mode.is_tree() {
                        raws.push(Raw {
                            old: Some(side(location, previous_entry_mode, previous_id)),
                            new: Some(side(location, entry_mode, id)),
                            rename: false,
                        });
                    }
                }
                ChangeRef::Rewrite {
                    source_location,
                    source_entry_mode,
                    source_id,
                    entry_mode,
                    id,
                    location,
                    copy,
                    ..
                } => {
                    if !entry_mode.is_tree() {
                        let new = side(location, entry_mode, id);
                        if copy {
                            raws.push(Raw::add(new));
                        } else {
                            raws.push(Raw {
                                old: Some(side(source_location, source_entry_mode, source_id)),
                                new: Some(new),
                                rename: true,
                            });
                        }
                    }
                }
            }
            Ok(std::ops::ControlFlow::Continue(()))
        },
        gix::diff::tree_with_rewrites::Options {
            location: Some(gix::diff::tree::recorder::Location::Path),
            rewrites: Some(git_rewrites()),
        },
    )
    .map_err(|e| anyhow!("{e}"))
    .with_context(|| "hint: `git fsck` names missing or damaged objects".to_string())?;
    Ok(raws)
}
