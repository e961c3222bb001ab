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
    Blob, ChangeKind, CommitChanges, FileChange, Line, MalformedEntry, Proposal, RefUpdate,
    TagMessage, Unit, UpdateKind,
};
use crate::engine::content::{self, line_text};

mod bytes;
mod files;
mod index;
mod objects;
mod painter;
mod revspec;
mod tip;
mod trees;
mod walk;

use files::*;
use objects::*;
use painter::*;
use walk::*;

pub use bytes::change_of_bytes;
pub use index::StagedIndex;
pub use revspec::unresolved;

/// What to collect besides paths, kinds and line counts.
#[derive(Debug, Clone, Copy)]
pub struct ModelOptions {
    /// Collect added and removed line text (for the secrets and tests rules).
    pub content: bool,
    /// Blobs larger than this are counted but their lines are not collected.
    pub max_blob_scan_bytes: u64,
    /// Threads that diff commits (0: one per core). The result is the same for any number.
    pub threads: usize,
    /// Each walked commit keeps the bytes of the files the tests rule parses, so that it can
    /// be judged on its own (`git guard flags`, the CI door's per-commit flags). Off, a
    /// commit's bytes are let go once it is diffed: the tests rule reads a unit's bytes only
    /// from its cumulative change, diffed on its own, and a push holds one commit's bytes per
    /// worker instead of every commit's. On by default: a caller that forgets loses memory,
    /// never a flag.
    pub commit_bytes: bool,
}

impl ModelOptions {
    /// Everything the rules of `policy` read: line text, up to its largest blob scanned.
    pub fn for_policy(policy: &crate::engine::policy::Policy) -> ModelOptions {
        ModelOptions {
            content: true,
            max_blob_scan_bytes: policy.hooks.max_blob_scan_bytes,
            ..ModelOptions::default()
        }
    }

    /// The threads to diff commits on.
    pub(super) fn threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions {
            content: true,
            max_blob_scan_bytes: 8 * 1024 * 1024,
            threads: 0,
            commit_bytes: true,
        }
    }
}

/// git looks for a NUL byte in this many leading bytes to call a blob binary.
pub(super) const BINARY_SNIFF_BYTES: usize = 8000;
/// git treats blobs above `core.bigFileThreshold` (512 MiB by default) as binary unread.
pub(super) const BIG_FILE_THRESHOLD: usize = 512 * 1024 * 1024;
/// Below this many commits the work is not worth spreading over threads.
pub(super) const MIN_COMMITS_PER_THREAD: usize = 16;

/// The staged index against HEAD (an unborn HEAD is the empty tree), as one unit holding one
/// commit without an id.
pub fn staged(repo: &gix::Repository, opts: ModelOptions) -> Result<Unit> {
    StagedIndex::read(repo)?.into_unit(repo, opts)
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
    let parsed = repo
        .rev_parse(spec)
        .map_err(|e| unresolved(repo, spec, &e))?
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
                tags: Vec::new(),
                malformed: Vec::new(),
                ..Default::default()
            })
        }
        Spec::Range { from, to } => {
            let from = peel_commit(repo, from, spec)?;
            let to = peel_commit(repo, to, spec)?;
            let walked = walk_commits(repo, to, &[from], opts)?;
            if let Some(e) = walked.failed {
                return Err(e);
            }
            let commits = walked.commits;
            let base = merge_base(repo, from, to)?;
            let cumulative = diff_commits(repo, base, to, opts)?;
            let links = tip::links_of(repo, to, &commits, &cumulative)?;
            Ok(Unit {
                update: None,
                kind: None,
                base,
                links,
                commits,
                cumulative,
                tags: Vec::new(),
                malformed: Vec::new(),
                ..Default::default()
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
    let tags = if u.is_delete() {
        Vec::new()
    } else {
        tag_messages(repo, u.new, &u.name)?
    };
    let unit = |kind, base, commits, cumulative| Unit {
        update: Some(u.clone()),
        kind: Some(kind),
        base,
        commits,
        cumulative,
        tags: tags.clone(),
        malformed: Vec::new(),
        ..Default::default()
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
        let mut named = unit(kind, None, Vec::new(), Vec::new());
        if let Some(tree) = peel_to_tree_opt(repo, u.new, &u.name)? {
            named.malformed = trees::check_tree(repo, tree)?;
        }
        return Ok(named);
    };
    let old = if u.is_create() || !repo.has_object(u.old) {
        None
    } else {
        peel_to_commit_opt(repo, u.old, &u.name)?
    };
    let mut hidden: Vec<ObjectId> = known.to_vec();
    hidden.extend(old);
    // The cumulative change depends only on the base, which is known once the walk has found
    // every commit: it is diffed, and its test files parsed, while the workers still diff the
    // commits.
    let base_of = |oldest_parents: Option<&[ObjectId]>| match old {
        Some(old) if !u.is_create() => Some(old),
        _ => match oldest_parents {
            Some(parents) => parents.first().copied(),
            None => Some(new),
        },
    };
    let (walked, aside) = walk_commits_beside(repo, new, &hidden, opts, |oldest_parents| {
        let base = base_of(oldest_parents);
        let cumulative = diff_commits(repo, base, new, opts);
        let parses = match &cumulative {
            Ok(c) if opts.content => Some(std::sync::Arc::new(
                crate::engine::rules::tests::Parses::of(c),
            )),
            _ => None,
        };
        (base, cumulative, parses)
    })?;
    let malformed = walked.malformed;
    let ancestors = walked.ancestors;
    let commits = match walked.failed {
        None => walked.commits,
        // A tree git's fsck rejects may not even diff: what was found is reason enough to
        // refuse the update, and nothing else of it needs judging.
        Some(_) if !malformed.is_empty() => {
            let mut refused = unit(UpdateKind::NonFastForward, None, Vec::new(), Vec::new());
            refused.kind = None;
            refused.malformed = malformed;
            return Ok(refused);
        }
        Some(e) => return Err(e),
    };
    let (kind, base) = if u.is_create() {
        (UpdateKind::Create, create_base(&commits, new))
    } else {
        match old {
            Some(old) => {
                // An old tip the walk reached is an ancestor: its own merge base.
                let mb = if ancestors.contains(&old) {
                    Some(old)
                } else {
                    merge_base(repo, old, new)?
                };
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
    let (cumulative, parses) = match aside {
        Some((aside_base, cumulative, parses)) if aside_base == base => (cumulative, parses),
        _ => (diff_commits(repo, base, new, opts), None),
    };
    let (cumulative, parses) = match cumulative {
        Ok(c) => (c, parses),
        Err(_) if !malformed.is_empty() => (Vec::new(), None),
        Err(e) => return Err(e),
    };
    let mut judged = unit(kind, base, commits, cumulative);
    judged.ancestors = ancestors;
    judged.parses = parses;
    if judged.malformed.is_empty() {
        judged.links = tip::links_of(repo, new, &judged.commits, &judged.cumulative)?;
    }
    judged.malformed = malformed;
    judged.off_first_parent_line =
        kind == UpdateKind::FastForward && old.is_some_and(|o| off_line(&judged.commits, o, new));
    Ok(judged)
}

/// Whether the first-parent line from `new`, through the commits the update brings, misses
/// `old`. A tip the repository already had brings no merge of its own: not off the line.
fn off_line(commits: &[CommitChanges], old: ObjectId, new: ObjectId) -> bool {
    let first: HashMap<ObjectId, Option<ObjectId>> = commits
        .iter()
        .filter_map(|c| c.id.map(|id| (id, c.parents.first().copied())))
        .collect();
    if !first.contains_key(&new) {
        return false;
    }
    let mut at = new;
    // Each step leaves a new commit for its first parent; the new commits are finite.
    for _ in 0..=first.len() {
        match first.get(&at) {
            Some(Some(p)) => at = *p,
            // A new root commit: the line ends without meeting the old tip.
            Some(None) => return true,
            None => return at != old,
        }
    }
    true
}

/// The base branch proposals are measured against, as it stood before the push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalBase {
    /// A full ref name (`refs/heads/main`, or `refs/remotes/origin/main` in a clone).
    pub name: String,
    /// Its tip (absent: the branch does not exist, so proposals start at the empty tree).
    pub tip: Option<ObjectId>,
}

/// Give every unit whose ref `proposes` selects its [`Proposal`]: the change from the merge
/// base of `base` and the new tip to the new tip. Deletions, the base itself and refs that
/// name no commit propose nothing.
pub fn add_proposals(
    repo: &gix::Repository,
    units: &mut [Unit],
    base: &ProposalBase,
    proposes: impl Fn(&str) -> bool,
) -> Result<()> {
    let counts = ModelOptions {
        content: false,
        ..ModelOptions::default()
    };
    for unit in units.iter_mut() {
        let Some(u) = unit.update.as_ref() else {
            continue;
        };
        if u.is_delete() || u.name == base.name || !proposes(&u.name) {
            continue;
        }
        let Some(new) = peel_to_commit_opt(repo, u.new, &u.name)? else {
            continue;
        };
        let merge_base = match base.tip {
            // A base tip the walk reached is an ancestor of the new tip: its own merge base.
            Some(tip) if unit.ancestors.contains(&tip) => Some(tip),
            Some(tip) => merge_base(repo, tip, new)?,
            None => None,
        };
        let change = diff_commits(repo, merge_base, new, counts).with_context(|| {
            format!(
                "cannot measure {} against its base branch {}",
                u.name, base.name
            )
        })?;
        unit.proposal = Some(Proposal {
            base_ref: base.name.clone(),
            base_tip: base.tip,
            merge_base,
            change,
        });
    }
    Ok(())
}

/// The base of a new ref: the first parent of the oldest new commit, none (the empty tree) when
/// the whole history is new, and the tip itself when no commit is new.
pub(super) fn create_base(commits: &[CommitChanges], new: ObjectId) -> Option<ObjectId> {
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
