//! Builds the change model ([`crate::engine::changes`]) from git objects with gix: the staged index
//! against HEAD, one commit, a range, a set of ref updates. No git subprocess.
//!
//! What is reported agrees with `git diff-tree -r -M --numstat` and `--name-status`: renames
//! are found at 50% similarity and copies are not looked for (git does not without `-C`);
//! line counts come from the Myers diff of `gix-imara-diff`, which counts like git's xdiff;
//! a side is binary when a NUL byte sits in its first 8000 bytes, as git decides.

use std::collections::{HashMap, HashSet};

use anyhow::{Context, Result, anyhow, bail};
use gix::ObjectId;
use gix::bstr::{BStr, ByteSlice};
use gix::diff::blob::{Algorithm, Diff, InternedInput};
use gix::diff::rewrites::tracker::{Change as TrackedChange, ChangeKind as TrackerKind};
use gix::objs::TreeRefIter;

use crate::engine::changes::{
    Blob, ChangeKind, CommitChanges, FileChange, Line, RefUpdate, Unit, UpdateKind,
};

/// What to collect besides paths, kinds and line counts.
#[derive(Debug, Clone, Copy)]
pub struct ModelOptions {
    /// Collect added and removed line text (for the secrets and tests rules).
    pub content: bool,
    /// Blobs larger than this are counted but their lines are not collected.
    pub max_blob_scan_bytes: u64,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions {
            content: true,
            max_blob_scan_bytes: 8 * 1024 * 1024,
        }
    }
}

/// git looks for a NUL byte in this many leading bytes to call a blob binary.
const BINARY_SNIFF_BYTES: usize = 8000;
/// git treats blobs above `core.bigFileThreshold` (512 MiB by default) as binary unread.
const BIG_FILE_THRESHOLD: usize = 512 * 1024 * 1024;
/// Below this many commits the work is not worth spreading over threads.
const MIN_COMMITS_PER_THREAD: usize = 16;

/// The staged index against HEAD (an unborn HEAD is the empty tree), as one unit holding one
/// commit without an id.
pub fn staged(repo: &gix::Repository, opts: ModelOptions) -> Result<Unit> {
    StagedIndex::read(repo)?.into_unit(repo, opts)
}

/// The staged change as far as it can be read without the options: which paths differ
/// between HEAD and the index. Reading it while the policy compiles on another thread, then
/// finishing it with the policy's options, is what the pre-commit hook does.
pub struct StagedIndex {
    head_commit: Option<ObjectId>,
    raws: Vec<Raw>,
}

impl StagedIndex {
    pub fn read(repo: &gix::Repository) -> Result<StagedIndex> {
        staged_raws(repo)
    }

    /// Read the contents the options ask for and give the unit [`staged`] gives.
    pub fn into_unit(self, repo: &gix::Repository, opts: ModelOptions) -> Result<Unit> {
        let StagedIndex { head_commit, raws } = self;
        let files = to_file_changes(repo, raws, opts, "the index")?;
        Ok(Unit {
            update: None,
            kind: None,
            base: head_commit,
            commits: vec![CommitChanges {
                id: None,
                tree: None,
                parents: head_commit.into_iter().collect(),
                summary: "staged changes".into(),
                message: String::new(),
                files: files.clone(),
            }],
            cumulative: files,
        })
    }
}

fn staged_raws(repo: &gix::Repository) -> Result<StagedIndex> {
    let dir = repo_dir(repo);
    if repo.workdir().is_none() {
        bail!(
            "{dir} is a bare repository: it has no index to check; hint: check a range instead (`git guard check A..B`)"
        );
    }
    let head = repo
        .head()
        .with_context(|| format!("cannot read HEAD of {dir}"))?;
    let head_commit = if head.is_unborn() {
        None
    } else {
        let id = repo
            .head_id()
            .with_context(|| format!("cannot resolve HEAD of {dir} to a commit"))?
            .detach();
        Some(id)
    };
    let head_tree = match head_commit {
        Some(id) => Some(commit_tree(repo, id)?),
        None => None,
    };
    let index = read_index(repo).with_context(|| {
        format!("cannot read the index of {dir}; hint: `git status` shows whether it is damaged")
    })?;

    let mut head_entries = Vec::new();
    let mut clean_dirs = Vec::new();
    if let Some(tree) = head_tree {
        let mut prefix = Vec::new();
        collect_head_entries(
            repo,
            tree,
            &mut prefix,
            index.tree(),
            &mut head_entries,
            &mut clean_dirs,
        )
        .with_context(|| {
            format!("cannot read the tree {tree} of HEAD in {dir}; hint: `git fsck` names missing objects")
        })?;
    }
    head_entries.sort_by(|a, b| a.0.cmp(&b.0));
    clean_dirs.sort();
    let mut cache = new_resource_cache(repo)?;
    let raws = diff_index(repo, &head_entries, &clean_dirs, &index, &mut cache)
        .with_context(|| format!("cannot compare the index of {dir} with HEAD"))?;
    Ok(StagedIndex { head_commit, raws })
}

/// The index as git reads it for `git diff --cached`: parsed, its trailing checksum not
/// recomputed (git verifies it only in `git fsck`; hashing the whole file cost more than the
/// rest of reading it). A missing index is an empty one, as for a fresh clone.
fn read_index(repo: &gix::Repository) -> Result<gix::index::File> {
    let path = repo.index_path();
    let opts = gix::index::decode::Options {
        thread_limit: Some(1),
        min_extension_block_in_bytes_for_threading: 0,
        expected_checksum: None,
        alloc_limit_bytes: None,
    };
    match std::fs::metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(gix::index::File::from_state(
            gix::index::State::new(repo.object_hash()),
            path,
        )),
        _ => gix::index::File::at(&path, repo.object_hash(), true, opts)
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("cannot parse {}", path.display())),
    }
}

/// One commit against its first parent (the empty tree for a root commit).
pub fn commit(repo: &gix::Repository, id: ObjectId, opts: ModelOptions) -> Result<CommitChanges> {
    let mut cache = new_resource_cache(repo)?;
    commit_with_cache(repo, id, opts, &mut cache)
}

/// `REV` (one commit) or `A..B` (commits reachable from B and not from A; the cumulative
/// change from the merge base to B).
pub fn range(repo: &gix::Repository, spec: &str, opts: ModelOptions) -> Result<Unit> {
    use gix::revision::plumbing::Spec;
    let dir = repo_dir(repo);
    let parsed = repo
        .rev_parse(spec)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| {
            format!(
                "bad revision '{spec}' in {dir}; hint: name a commit or a range `A..B` that `git rev-parse` accepts"
            )
        })?
        .detach();
    match parsed {
        Spec::Include(id) => {
            let id = peel_commit(repo, id, spec)?;
            let c = commit(repo, id, opts)?;
            Ok(Unit {
                update: None,
                kind: None,
                base: c.parents.first().copied(),
                cumulative: c.files.clone(),
                commits: vec![c],
            })
        }
        Spec::Range { from, to } => {
            let from = peel_commit(repo, from, spec)?;
            let to = peel_commit(repo, to, spec)?;
            let ids = new_commits(repo, to, &[from])?;
            let commits = commits_parallel(repo, &ids, opts)?;
            let base = merge_base(repo, from, to)?;
            let cumulative = diff_commits(repo, base, to, opts)?;
            Ok(Unit {
                update: None,
                kind: None,
                base,
                commits,
                cumulative,
            })
        }
        _ => bail!(
            "unsupported revision '{spec}': give one commit (`REV`) or a range `A..B`; hint: for `A...B` check `$(git merge-base A B)..B`"
        ),
    }
}

/// One unit per ref update. The commits judged are those reachable from `new` and from none of
/// `known` (for pre-receive: every ref tip before the push, i.e. `git rev-list new --not --all`).
pub fn updates(
    repo: &gix::Repository,
    updates: &[RefUpdate],
    known: &[ObjectId],
    opts: ModelOptions,
) -> Result<Vec<Unit>> {
    // Tips the repository does not hold cannot bound a walk; they are not ancestors of
    // anything it holds either.
    let known: Vec<ObjectId> = known
        .iter()
        .copied()
        .filter(|id| !id.is_null() && repo.has_object(id))
        .collect();
    let mut units = Vec::with_capacity(updates.len());
    for u in updates {
        units.push(update(repo, u, &known, opts).with_context(|| {
            format!(
                "cannot judge the update of {} ({} -> {})",
                u.name, u.old, u.new
            )
        })?);
    }
    Ok(units)
}

fn update(
    repo: &gix::Repository,
    u: &RefUpdate,
    known: &[ObjectId],
    opts: ModelOptions,
) -> Result<Unit> {
    let unit = |kind, base, commits, cumulative| Unit {
        update: Some(u.clone()),
        kind: Some(kind),
        base,
        commits,
        cumulative,
    };
    if u.is_delete() {
        return Ok(unit(UpdateKind::Delete, None, Vec::new(), Vec::new()));
    }
    if !u.is_create() && u.old == u.new {
        return Ok(unit(UpdateKind::Unchanged, None, Vec::new(), Vec::new()));
    }
    let Some(new) = peel_to_commit_opt(repo, u.new, &u.name)? else {
        // A ref may name a tree or blob (rare, but git allows it): there are no commits to
        // judge, and nothing can be diffed against a commit.
        let kind = if u.is_create() {
            UpdateKind::Create
        } else {
            UpdateKind::NonFastForward
        };
        return Ok(unit(kind, None, Vec::new(), Vec::new()));
    };
    let old = if u.is_create() || !repo.has_object(u.old) {
        None
    } else {
        peel_to_commit_opt(repo, u.old, &u.name)?
    };
    let mut hidden: Vec<ObjectId> = known.to_vec();
    hidden.extend(old);
    let ids = new_commits(repo, new, &hidden)?;
    let commits = commits_parallel(repo, &ids, opts)?;
    let (kind, base) = if u.is_create() {
        (UpdateKind::Create, create_base(&commits, new))
    } else {
        match old {
            Some(old) => {
                let mb = merge_base(repo, old, new)?;
                let kind = if mb == Some(old) {
                    UpdateKind::FastForward
                } else {
                    UpdateKind::NonFastForward
                };
                (kind, Some(old))
            }
            // The old tip is unknown here (a push over history this clone never fetched):
            // the remote holds commits the new tip lacks, so the update cannot be a
            // fast-forward; measure from where the new history starts.
            None => (UpdateKind::NonFastForward, create_base(&commits, new)),
        }
    };
    let cumulative = diff_commits(repo, base, new, opts)?;
    Ok(unit(kind, base, commits, cumulative))
}

/// The base of a new ref: the first parent of the oldest new commit, none (the empty tree) when
/// the whole history is new, and the tip itself when no commit is new.
fn create_base(commits: &[CommitChanges], new: ObjectId) -> Option<ObjectId> {
    match commits.first() {
        Some(oldest) => oldest.parents.first().copied(),
        None => Some(new),
    }
}

/// The tips of every ref of the repository (for `known` above).
pub fn all_ref_tips(repo: &gix::Repository) -> Result<Vec<ObjectId>> {
    let dir = repo_dir(repo);
    let refs = repo
        .references()
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("cannot read the refs of {dir}"))?;
    let mut tips = Vec::new();
    let iter = refs
        .all()
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("cannot list the refs of {dir}"))?;
    for r in iter {
        let mut r = r
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("cannot read a ref of {dir}"))?;
        let name = r.name().as_bstr().to_string();
        match r.peel_to_id() {
            Ok(id) => tips.push(id.detach()),
            // A dangling symbolic ref (an unborn branch) names no commit.
            Err(_) if r.target().try_id().is_none() => {}
            Err(e) => {
                return Err(anyhow!("{e}")).with_context(|| {
                    format!("ref {name} of {dir} points to a missing object; hint: `git fsck`")
                });
            }
        }
    }
    tips.sort();
    tips.dedup();
    Ok(tips)
}

// ---------------------------------------------------------------------------------------------

/// One side of a change, before it is turned into a [`FileChange`].
#[derive(Debug, Clone)]
struct Side {
    path: String,
    mode: u32,
    id: ObjectId,
}

#[derive(Debug, Clone)]
struct Raw {
    old: Option<Side>,
    new: Option<Side>,
    rename: bool,
}

impl Raw {
    fn add(s: Side) -> Raw {
        Raw {
            old: None,
            new: Some(s),
            rename: false,
        }
    }
    fn delete(s: Side) -> Raw {
        Raw {
            old: Some(s),
            new: None,
            rename: false,
        }
    }
}

const MODE_TYPE_MASK: u32 = 0o170000;
const MODE_GITLINK: u32 = 0o160000;
const MODE_TREE: u32 = 0o040000;

fn is_gitlink(mode: u32) -> bool {
    mode & MODE_TYPE_MASK == MODE_GITLINK
}

/// Renames as `git diff -M` finds them, no copies (`-C` is not the default).
fn git_rewrites() -> gix::diff::Rewrites {
    gix::diff::Rewrites {
        copies: None,
        percentage: Some(0.5),
        limit: 1000,
        track_empty: true,
    }
}

/// A blob-diff cache for similarity checks. It reads attributes from no index at all, so a
/// bare repository (a server) does not build an index from HEAD just to diff.
fn new_resource_cache(repo: &gix::Repository) -> Result<gix::diff::blob::Platform> {
    let empty = gix::index::State::new(repo.object_hash());
    let stack = repo
        .attributes_only(
            &empty,
            gix::worktree::stack::state::attributes::Source::IdMapping,
        )
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("cannot read the attributes of {}", repo_dir(repo)))?
        .detach();
    gix::diff::resource_cache(
        repo,
        gix::diff::blob::pipeline::Mode::ToGit,
        stack,
        Default::default(),
    )
    .map_err(|e| anyhow!("{e}"))
    .with_context(|| format!("cannot set up diffing in {}", repo_dir(repo)))
}

fn repo_dir(repo: &gix::Repository) -> String {
    repo.workdir()
        .unwrap_or_else(|| repo.git_dir())
        .display()
        .to_string()
}

fn peel_commit(repo: &gix::Repository, id: ObjectId, spec: &str) -> Result<ObjectId> {
    match peel_to_commit_opt(repo, id, spec)? {
        Some(c) => Ok(c),
        None => bail!("revision '{spec}' names {id}, which is not a commit; hint: name a commit"),
    }
}

/// The commit an object peels to, `None` when it peels to a tree or blob.
fn peel_to_commit_opt(
    repo: &gix::Repository,
    id: ObjectId,
    what: &str,
) -> Result<Option<ObjectId>> {
    let obj = repo
        .find_object(id)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| missing(repo, id, what))?;
    match obj.kind {
        gix::object::Kind::Commit => Ok(Some(id)),
        gix::object::Kind::Tag => {
            let peeled = obj
                .peel_tags_to_end()
                .map_err(|e| anyhow!("{e}"))
                .with_context(|| missing(repo, id, what))?;
            Ok((peeled.kind == gix::object::Kind::Commit).then_some(peeled.id))
        }
        _ => Ok(None),
    }
}

fn missing(repo: &gix::Repository, id: ObjectId, what: &str) -> String {
    format!(
        "object {id} ({what}) is missing or unreadable in {}; hint: `git fsck` names damaged objects, `git fetch` restores missing ones",
        repo_dir(repo)
    )
}

fn commit_tree(repo: &gix::Repository, id: ObjectId) -> Result<ObjectId> {
    let c = repo
        .find_commit(id)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| missing(repo, id, "commit"))?;
    c.tree_id()
        .map(|t| t.detach())
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("commit {id} cannot be parsed"))
}

fn merge_base(repo: &gix::Repository, a: ObjectId, b: ObjectId) -> Result<Option<ObjectId>> {
    if a == b {
        return Ok(Some(a));
    }
    repo.merge_base(a, b)
        .map(|m| m.map(|id| id.detach()))
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("cannot find the merge base of {a} and {b}"))
}

/// Commits reachable from `tip` and from none of `hidden`, oldest first: every commit comes
/// after its parents (like `git rev-list --topo-order --reverse`).
fn new_commits(
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
fn commits_parallel(
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

fn commit_with_cache(
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
fn diff_commits(
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

fn diff_trees(
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

/// A change between HEAD's tree and the index, as the rename tracker sees it.
#[derive(Debug, Clone)]
struct IndexChange {
    kind: TrackerKind,
    mode: gix::objs::tree::EntryMode,
    id: ObjectId,
}

impl TrackedChange for IndexChange {
    fn id(&self) -> &gix::oid {
        &self.id
    }
    fn relation(&self) -> Option<gix::diff::tree::visit::Relation> {
        None
    }
    fn kind(&self) -> TrackerKind {
        self.kind
    }
    fn entry_mode(&self) -> gix::objs::tree::EntryMode {
        self.mode
    }
    fn id_and_entry_mode(&self) -> (&gix::oid, gix::objs::tree::EntryMode) {
        (&self.id, self.mode)
    }
}

/// One blob of HEAD's tree: its path, mode and id.
type HeadEntry = (Vec<u8>, gix::objs::tree::EntryMode, ObjectId);

/// The blobs of HEAD's tree, skipping each directory the index's cache-tree records with the
/// same tree id: the index holds exactly that directory's content, so nothing in it is staged
/// (git's own `diff --cached` skips the same way). Skipped directories land in `clean`, as
/// `dir/`.
fn collect_head_entries(
    repo: &gix::Repository,
    tree: ObjectId,
    prefix: &mut Vec<u8>,
    node: Option<&gix::index::extension::Tree>,
    out: &mut Vec<HeadEntry>,
    clean: &mut Vec<Vec<u8>>,
) -> Result<()> {
    if node.is_some_and(|n| n.num_entries.is_some() && n.id == tree) {
        let mut dir = prefix.clone();
        dir.push(b'/');
        clean.push(dir);
        return Ok(());
    }
    let data = load_tree(repo, tree)?;
    for entry in TreeRefIter::from_bytes(&data, repo.object_hash()) {
        let entry = entry
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("tree {tree} cannot be parsed"))?;
        let len = prefix.len();
        if len > 0 {
            prefix.push(b'/');
        }
        prefix.extend_from_slice(entry.filename);
        if entry.mode.is_tree() {
            let child = node.and_then(|n| {
                n.children
                    .iter()
                    .find(|c| c.name.as_slice() == entry.filename.as_bytes())
            });
            collect_head_entries(repo, entry.oid.to_owned(), prefix, child, out, clean)?;
        } else {
            out.push((prefix.clone(), entry.mode, entry.oid.to_owned()));
        }
        prefix.truncate(len);
    }
    Ok(())
}

/// HEAD's blobs against the index, with renames found like `git diff --cached -M`.
fn diff_index(
    repo: &gix::Repository,
    head: &[HeadEntry],
    clean: &[Vec<u8>],
    index: &gix::index::State,
    cache: &mut gix::diff::blob::Platform,
) -> Result<Vec<Raw>> {
    use gix::index::entry::{Flags, Stage};
    if let Some(e) = index
        .entries()
        .iter()
        .find(|e| e.stage() != Stage::Unconflicted)
    {
        bail!(
            "the index has unresolved conflicts (first: {}); hint: resolve them and `git add` the files, then check again",
            e.path(index)
        );
    }
    let mode_of = |e: &gix::index::Entry| -> Result<gix::objs::tree::EntryMode> {
        e.mode.to_tree_entry_mode().ok_or_else(|| {
            anyhow!(
                "index entry {} has an unknown mode {:o}",
                e.path(index),
                e.mode.bits()
            )
        })
    };
    let side = |path: &BStr, mode: gix::objs::tree::EntryMode, id: ObjectId| Side {
        path: path.to_str_lossy().into_owned(),
        mode: u32::from(mode.value()),
        id,
    };
    let mut raws = Vec::new();
    let mut tracker = gix::diff::rewrites::Tracker::new(git_rewrites());
    let mut track = |raws: &mut Vec<Raw>, kind: TrackerKind, path: &BStr, mode, id| {
        let change = IndexChange { kind, mode, id };
        if tracker.try_push_change(change, path).is_some() {
            let s = side(path, mode, id);
            raws.push(match kind {
                TrackerKind::Addition => Raw::add(s),
                _ => Raw::delete(s),
            });
        }
    };
    // Intent-to-add entries (`git add -N`) are not staged content: git leaves them out.
    // Entries in clean directories are skipped in one sorted pass: both lists are in byte
    // order, and a clean directory's entries are contiguous.
    let mut k = 0;
    let staged: Vec<&gix::index::Entry> = index
        .entries()
        .iter()
        .filter(|e| {
            let p: &[u8] = e.path(index);
            while k < clean.len() && clean[k].as_slice() < p && !p.starts_with(&clean[k]) {
                k += 1;
            }
            !(k < clean.len() && p.starts_with(&clean[k]))
        })
        .filter(|e| !e.flags.contains(Flags::INTENT_TO_ADD))
        .collect();
    let (lhs, rhs) = (head, staged.as_slice());
    let (mut i, mut j) = (0, 0);
    while i < lhs.len() || j < rhs.len() {
        let order = match (lhs.get(i), rhs.get(j)) {
            (Some(a), Some(b)) => a.0.as_slice().cmp(b.path(index).as_bytes()),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Less => {
                let a = &lhs[i];
                track(&mut raws, TrackerKind::Deletion, a.0.as_bstr(), a.1, a.2);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                let b = rhs[j];
                track(
                    &mut raws,
                    TrackerKind::Addition,
                    b.path(index),
                    mode_of(b)?,
                    b.id,
                );
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                let (a, b) = (&lhs[i], rhs[j]);
                let (ma, mb) = (a.1, mode_of(b)?);
                if a.2 != b.id || ma != mb {
                    raws.push(Raw {
                        old: Some(side(a.0.as_bstr(), ma, a.2)),
                        new: Some(side(b.path(index), mb, b.id)),
                        rename: false,
                    });
                }
                i += 1;
                j += 1;
            }
        }
    }
    tracker
        .emit(
            |dest, source| {
                let new = side(dest.location, dest.change.mode, dest.change.id);
                raws.push(match source {
                    Some(src) => Raw {
                        old: Some(side(src.location, src.entry_mode, src.id)),
                        new: Some(new),
                        rename: true,
                    },
                    None => match dest.change.kind {
                        TrackerKind::Addition => Raw::add(new),
                        _ => Raw::delete(new),
                    },
                });
                std::ops::ControlFlow::Continue(())
            },
            cache,
            &repo.objects,
            |_push| Ok::<(), std::io::Error>(()),
        )
        .map_err(|e| anyhow!("{e}"))
        .context("rename detection failed; hint: `git fsck` names missing or damaged objects")?;
    Ok(raws)
}

fn load_tree(repo: &gix::Repository, id: ObjectId) -> Result<Vec<u8>> {
    if id == ObjectId::empty_tree(repo.object_hash()) {
        return Ok(Vec::new());
    }
    let t = repo
        .find_tree(id)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| missing(repo, id, "tree"))?;
    Ok(t.detach().data)
}

fn to_file_changes(
    repo: &gix::Repository,
    raws: Vec<Raw>,
    opts: ModelOptions,
    what: &str,
) -> Result<Vec<FileChange>> {
    let mut files = raws
        .into_iter()
        .filter(|r| {
            r.old
                .as_ref()
                .is_none_or(|s| s.mode & MODE_TYPE_MASK != MODE_TREE)
                && r.new
                    .as_ref()
                    .is_none_or(|s| s.mode & MODE_TYPE_MASK != MODE_TREE)
        })
        .map(|r| file_change(repo, r, opts).with_context(|| format!("in {what}")))
        .collect::<Result<Vec<_>>>()?;
    files.sort_by(|a, b| a.path().cmp(b.path()));
    Ok(files)
}

/// What a diff reads of one side: the bytes git diffs (a gitlink diffs as the line
/// `Subproject commit <id>`), and the size reported.
struct Content {
    data: Vec<u8>,
    size: u64,
}

fn load_side(repo: &gix::Repository, s: &Side) -> Result<Content> {
    if is_gitlink(s.mode) {
        return Ok(Content {
            data: format!("Subproject commit {}\n", s.id).into_bytes(),
            size: 0,
        });
    }
    let blob = repo
        .find_blob(s.id)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| missing(repo, s.id, &format!("blob of {}", s.path)))?;
    let data = blob.detach().data;
    Ok(Content {
        size: data.len() as u64,
        data,
    })
}

fn is_binary(data: &[u8]) -> bool {
    data.len() > BIG_FILE_THRESHOLD || data[..data.len().min(BINARY_SNIFF_BYTES)].contains(&0)
}

/// The bytes of both sides are kept for the files the tests rule parses
/// ([`crate::engine::rules::tests::reads_content`]): they were read for the diff already, and
/// the rule parses them instead of reading them again.
fn file_change(repo: &gix::Repository, raw: Raw, opts: ModelOptions) -> Result<FileChange> {
    let kind = match (&raw.old, &raw.new) {
        (None, Some(_)) => ChangeKind::Add,
        (Some(_), None) => ChangeKind::Delete,
        (Some(_), Some(_)) if raw.rename => ChangeKind::Rename,
        (Some(o), Some(n)) => {
            if o.mode & MODE_TYPE_MASK != n.mode & MODE_TYPE_MASK {
                ChangeKind::TypeChange
            } else if o.id == n.id {
                ChangeKind::ModeChange
            } else {
                ChangeKind::Modify
            }
        }
        (None, None) => bail!("a change with neither side"),
    };
    let old = raw.old.as_ref().map(|s| load_side(repo, s)).transpose()?;
    // Same id: same bytes, read once (git still reports a binary rename as binary).
    let same = matches!((&raw.old, &raw.new), (Some(o), Some(n)) if o.id == n.id && o.mode & MODE_TYPE_MASK == n.mode & MODE_TYPE_MASK);
    let new = if same {
        None
    } else {
        raw.new.as_ref().map(|s| load_side(repo, s)).transpose()?
    };
    let empty: &[u8] = &[];
    let old_data = old.as_ref().map_or(empty, |c| c.data.as_slice());
    let new_data = if same {
        old_data
    } else {
        new.as_ref().map_or(empty, |c| c.data.as_slice())
    };
    let binary = is_binary(old_data) || is_binary(new_data);
    let size = match (&raw.new, &new, &old) {
        (Some(_), Some(c), _) => c.size,
        (Some(_), None, Some(c)) => c.size, // same content as the old side
        (None, _, Some(c)) => c.size,
        _ => 0,
    };
    let mut fc = FileChange {
        kind,
        old_path: raw.old.as_ref().map(|s| s.path.clone()),
        new_path: raw.new.as_ref().map(|s| s.path.clone()),
        old_mode: raw.old.as_ref().map(|s| s.mode),
        new_mode: raw.new.as_ref().map(|s| s.mode),
        old_id: raw.old.as_ref().map(|s| s.id),
        new_id: raw.new.as_ref().map(|s| s.id),
        binary,
        size,
        added: 0,
        removed: 0,
        added_lines: Vec::new(),
        removed_lines: Vec::new(),
        old_content: None,
        new_content: None,
    };
    if binary {
        return Ok(fc);
    }
    let collect =
        opts.content && (old_data.len().max(new_data.len()) as u64) <= opts.max_blob_scan_bytes;
    if !same {
        count_lines(old_data, new_data, collect, &mut fc);
    }
    if collect && fc.paths().any(crate::engine::rules::tests::reads_content) {
        let old = old.map(|c| Blob::new(c.data));
        fc.new_content = match (same, new) {
            (true, _) => old.clone(),
            (false, n) => n.map(|c| Blob::new(c.data)),
        };
        fc.old_content = old;
    }
    Ok(fc)
}

/// Lines added and removed as git's numstat counts them (Myers, lines with their terminator,
/// so a missing final newline changes the last line).
fn count_lines(old: &[u8], new: &[u8], collect: bool, fc: &mut FileChange) {
    let input = InternedInput::new(old, new);
    let diff = Diff::compute(Algorithm::Myers, &input);
    fc.added = diff.count_additions();
    fc.removed = diff.count_removals();
    if !collect {
        return;
    }
    for (i, tok) in input.after.iter().enumerate() {
        if diff.is_added(i as u32) {
            fc.added_lines.push(Line {
                number: i as u32 + 1,
                text: line_text(input.interner[*tok]),
            });
        }
    }
    for (i, tok) in input.before.iter().enumerate() {
        if diff.is_removed(i as u32) {
            fc.removed_lines.push(line_text(input.interner[*tok]));
        }
    }
}

fn line_text(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8_lossy(line).into_owned()
}
