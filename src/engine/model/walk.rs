//! Walking history: the commits a push brings, in parent order, diffed tree against tree
//! (spread over threads when there are enough of them). Prints nothing, runs no process.

use super::*;

/// What walking a list of commits gave: each commit's changes (up to the first that could not
/// be diffed), every tree problem they bring, and why a commit could not be diffed.
#[derive(Default)]
pub(super) struct Walked {
    pub(super) commits: Vec<CommitChanges>,
    /// The hidden tips the walk reached from the tip: ancestors of the tip.
    pub(super) ancestors: Vec<ObjectId>,
    pub(super) malformed: Vec<MalformedEntry>,
    pub(super) failed: Option<anyhow::Error>,
}

/// Commits reachable from `tip` and from none of `hidden`, oldest first (every commit comes
/// after its parents, like `git rev-list --topo-order --reverse`), each diffed against its
/// first parent with its trees checked.
///
/// A long walk is diffed while it is still walking: the commits found go, in batches, to one
/// worker per core, each with its own repository handle and caches, and the results are put
/// in parent order once the walk is done. Nothing in the result depends on how the commits
/// were spread: the commits come in parent order, a tree problem is reported at the first
/// commit that brings it, and the failure told is that of the first commit that failed.
pub(super) fn walk_commits(
    repo: &gix::Repository,
    tip: ObjectId,
    hidden: &[ObjectId],
    opts: ModelOptions,
) -> Result<Walked> {
    walk_commits_beside(repo, tip, hidden, opts, |_| ()).map(|(walked, _)| walked)
}

/// [`walk_commits`], running `beside` on this thread as soon as every commit is found, while
/// the workers are still diffing them. `beside` is given the parents of the oldest commit
/// found (`None`: no commit is new), which is all a unit's base depends on; its result is
/// `None` when the walk ended without finding every commit (it failed, or `tip` is hidden).
pub(super) fn walk_commits_beside<T>(
    repo: &gix::Repository,
    tip: ObjectId,
    hidden: &[ObjectId],
    opts: ModelOptions,
    beside: impl FnOnce(Option<&[ObjectId]>) -> T,
) -> Result<(Walked, Option<T>)> {
    if hidden.contains(&tip) {
        return Ok((Walked::default(), None));
    }
    let mut walk = Painter::new(repo, tip, hidden).with_context(|| walk_failed(tip))?;
    let threads = opts.threads();
    // Walked before any diff starts: enough to fill every worker's first batch. A short walk
    // is not worth a thread: it is diffed here, once walked.
    let mut found: Vec<Visible> = Vec::new();
    while let Some(v) = walk.next_visible().with_context(|| walk_failed(tip))? {
        found.push(v);
        if threads > 1 && found.len() >= threads * BATCH {
            break;
        }
    }
    if threads == 1 || found.len() < 2 * MIN_COMMITS_PER_THREAD {
        while let Some(v) = walk.next_visible().with_context(|| walk_failed(tip))? {
            found.push(v);
        }
        let order = walk.final_order(&found);
        let ancestors = walk.reached(hidden);
        let aside = beside(order.first().map(|&i| found[i].head.parents.as_slice()));
        let mut state = PartState::new(repo, opts)?;
        let mut heads: Vec<Option<Visible>> = found.into_iter().map(Some).collect();
        let done = order
            .into_iter()
            .enumerate()
            .filter_map(|(at, i)| heads[i].take().map(|v| state.judged(repo, at, v, opts)))
            .collect();
        return joined(Ok(done)).map(|w| (Walked { ancestors, ..w }, Some(aside)));
    }
    let sync = repo.clone().into_sync();
    // Unbounded: the walk runs ahead of the workers, so that `beside` starts while they
    // still have most of the commits to diff. What is queued is what the result holds anyway.
    let (send, receive) = std::sync::mpsc::channel::<Vec<(usize, Visible)>>();
    let receive = std::sync::Mutex::new(receive);
    let (ids, order, parts, ancestors, aside) = std::thread::scope(|s| -> Result<_> {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (sync, receive) = (&sync, &receive);
                s.spawn(move || -> Result<Vec<Done>> {
                    let local = crate::engine::repo::tune(sync.to_thread_local());
                    let mut state = PartState::new(&local, opts)?;
                    let mut done = Vec::new();
                    loop {
                        // A poisoned lock means another worker panicked: stop taking work.
                        let batch = match receive.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => break,
                        };
                        let Ok(batch) = batch else { break };
                        for (at, v) in batch.into_iter().rev() {
                            done.push(state.judged(&local, at, v, opts));
                        }
                    }
                    Ok(done)
                })
            })
            .collect();
        // Walk order (newest first) keeps a commit and its parent in one batch, so the
        // parent's trees are still in that worker's caches.
        let mut walked: Result<()> = Ok(());
        // A walk that ended before filling every worker's first batch (a few hundred commits,
        // each of which may be a large change: one commit per release) is cut into
        // `SHARES_PER_WORKER` batches per worker: every core takes part, and one that drew
        // the largest changes does not finish long after the others.
        let size = if found.len() < threads * BATCH {
            found.len().div_ceil(threads * SHARES_PER_WORKER)
        } else {
            BATCH
        };
        let mut ids: Vec<(ObjectId, Vec<ObjectId>)> = Vec::with_capacity(found.len());
        let mut batch = Vec::with_capacity(size);
        let full = |batch: &mut Vec<(usize, Visible)>| -> bool {
            batch.len() == size
                && send
                    .send(std::mem::replace(batch, Vec::with_capacity(size)))
                    .is_err()
        };
        let mut stopped = false;
        for v in found {
            ids.push((v.id, v.head.parents.clone()));
            batch.push((ids.len() - 1, v));
            if full(&mut batch) {
                stopped = true;
                break;
            }
        }
        if !stopped {
            loop {
                match walk.next_visible() {
                    Ok(Some(v)) => {
                        ids.push((v.id, v.head.parents.clone()));
                        batch.push((ids.len() - 1, v));
                        if full(&mut batch) {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        walked = Err(e.context(walk_failed(tip)));
                        break;
                    }
                }
            }
        }
        if walked.is_ok() && !batch.is_empty() {
            // A refused send means every worker stopped; joining them tells why.
            let _ = send.send(batch);
        }
        drop(send);
        let walked_all = walked.as_ref().is_ok().then(|| walk.final_order_of(&ids));
        let aside = walked_all
            .as_ref()
            .map(|order| beside(order.first().map(|&i| ids[i].1.as_slice())));
        let parts: Vec<Result<Vec<Done>>> = workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(anyhow!("a worker thread reading commits failed")))
            })
            .collect();
        walked?;
        let order = walked_all.expect("a walk that did not fail found every commit");
        Ok((ids, order, parts, walk.reached(hidden), aside))
    })?;
    let mut done: Vec<Option<Done>> = (0..ids.len()).map(|_| None).collect();
    for part in parts {
        for d in part? {
            let at = d.at;
            done[at] = Some(d);
        }
    }
    let mut in_order = Vec::with_capacity(order.len());
    for i in order {
        match done[i].take() {
            Some(d) => in_order.push(d),
            None => bail!("commit {} was walked but not diffed", ids[i].0),
        }
    }
    joined(Ok(in_order)).map(|w| (Walked { ancestors, ..w }, aside))
}

fn walk_failed(tip: ObjectId) -> String {
    format!("cannot walk the history of {tip}; hint: `git fsck` names missing objects")
}

/// Commits a worker takes at a time.
const BATCH: usize = 256;
/// Batches per worker when the walk is shorter than a batch per worker.
const SHARES_PER_WORKER: usize = 8;

/// One commit walked: its changes (or why it could not be diffed) and its tree problems.
struct Done {
    at: usize,
    changes: Result<CommitChanges>,
    malformed: Vec<MalformedEntry>,
    /// The commit, or its first parent, could not even be read: the walk cannot be judged.
    fatal: Option<anyhow::Error>,
}

/// What one thread keeps from commit to commit.
struct PartState {
    cache: gix::diff::blob::Platform,
    seen: trees::Seen,
    /// [`ModelOptions::commit_bytes`].
    keep_bytes: bool,
}

impl PartState {
    fn new(repo: &gix::Repository, opts: ModelOptions) -> Result<PartState> {
        Ok(PartState {
            cache: new_resource_cache(repo)?,
            seen: trees::Seen::default(),
            keep_bytes: opts.commit_bytes,
        })
    }

    /// Commit `id`'s changes against its first parent, and its trees checked: the diff reads
    /// the trees first, so the check finds them in the object cache.
    fn judged(
        &mut self,
        repo: &gix::Repository,
        at: usize,
        v: Visible,
        opts: ModelOptions,
    ) -> Done {
        let fail = |e| Done {
            at,
            changes: Err(anyhow!("not diffed")),
            malformed: Vec::new(),
            fatal: Some(e),
        };
        let Visible { id, head, old_tree } = v;
        let tree = head.tree;
        let mut changes = diff_commit(repo, id, head, old_tree, opts, &mut self.cache);
        if let (false, Ok(c)) = (self.keep_bytes, &mut changes) {
            for f in &mut c.files {
                f.old_content = None;
                f.new_content = None;
            }
        }
        match trees::check_commit(repo, id, tree, old_tree, &mut self.seen) {
            Ok(malformed) => Done {
                at,
                changes,
                malformed,
                fatal: None,
            },
            Err(e) => fail(e),
        }
    }
}

/// The commits' results joined in the order given: the changes up to the first commit that
/// could not be diffed, every tree problem once.
fn joined(done: Result<Vec<Done>>) -> Result<Walked> {
    let mut out = Walked::default();
    for d in done? {
        if let Some(e) = d.fatal {
            return Err(e);
        }
        out.malformed.extend(d.malformed);
        if out.failed.is_none() {
            match d.changes {
                Ok(c) => out.commits.push(c),
                Err(e) => out.failed = Some(e),
            }
        }
    }
    out.malformed = trees::first_reports(out.malformed);
    Ok(out)
}

/// What a commit object says: its tree, parents and message.
#[derive(Clone)]
pub(super) struct Head {
    pub(super) tree: ObjectId,
    pub(super) parents: Vec<ObjectId>,
    pub(super) message: String,
}

fn read_commit(repo: &gix::Repository, id: ObjectId) -> Result<Head> {
    let c = repo
        .find_commit(id)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| missing(repo, id, "commit"))?;
    let decoded = c
        .decode()
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("commit {id} cannot be parsed; hint: `git fsck`"))?;
    Ok(Head {
        tree: decoded.tree(),
        parents: decoded.parents().collect(),
        message: decoded.message.to_str_lossy().into_owned(),
    })
}

pub(super) fn commit_with_cache(
    repo: &gix::Repository,
    id: ObjectId,
    opts: ModelOptions,
    cache: &mut gix::diff::blob::Platform,
) -> Result<CommitChanges> {
    let head = read_commit(repo, id)?;
    let old_tree = match head.parents.first() {
        Some(&p) => Some(commit_tree(repo, p)?),
        None => None,
    };
    diff_commit(repo, id, head, old_tree, opts, cache)
}

/// One commit against its first parent's tree (`old_tree`; none: the empty tree). A first
/// parent that is missing fails here, as `git diff-tree` fails.
fn diff_commit(
    repo: &gix::Repository,
    id: ObjectId,
    head: Head,
    old_tree: Option<ObjectId>,
    opts: ModelOptions,
    cache: &mut gix::diff::blob::Platform,
) -> Result<CommitChanges> {
    if let (Some(&p), None) = (head.parents.first(), old_tree) {
        return Err(anyhow!("{}", missing(repo, p, "commit")))
            .with_context(|| format!("cannot diff commit {id} against its first parent"));
    }
    let summary = head
        .message
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let raws = diff_trees(repo, old_tree, head.tree, cache)
        .with_context(|| format!("cannot diff commit {id} against its first parent"))?;
    let files = to_file_changes(repo, raws, opts, &format!("commit {id}"))?;
    Ok(CommitChanges {
        id: Some(id),
        tree: Some(head.tree),
        parents: head.parents,
        summary,
        message: head.message,
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
