//! Builds the change model ([`crate::changes`]) from git objects with gix: the staged index
//! against HEAD, one commit, a range, a set of ref updates. No git subprocess.

use anyhow::Result;
use gix::ObjectId;

use crate::changes::{CommitChanges, RefUpdate, Unit};

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

/// The staged index against HEAD (an unborn HEAD is the empty tree), as one unit holding one
/// commit without an id.
pub fn staged(_repo: &gix::Repository, _opts: ModelOptions) -> Result<Unit> {
    todo!("being written")
}

/// One commit against its first parent (the empty tree for a root commit).
pub fn commit(
    _repo: &gix::Repository,
    _id: ObjectId,
    _opts: ModelOptions,
) -> Result<CommitChanges> {
    todo!("being written")
}

/// `REV` (one commit) or `A..B` (commits reachable from B and not from A; the cumulative
/// change from the merge base to B).
pub fn range(_repo: &gix::Repository, _spec: &str, _opts: ModelOptions) -> Result<Unit> {
    todo!("being written")
}

/// One unit per ref update. The commits judged are those reachable from `new` and from none of
/// `known` (for pre-receive: every ref tip before the push, i.e. `git rev-list new --not --all`).
pub fn updates(
    _repo: &gix::Repository,
    _updates: &[RefUpdate],
    _known: &[ObjectId],
    _opts: ModelOptions,
) -> Result<Vec<Unit>> {
    todo!("being written")
}

/// The tips of every ref of the repository (for `known` above).
pub fn all_ref_tips(_repo: &gix::Repository) -> Result<Vec<ObjectId>> {
    todo!("being written")
}
