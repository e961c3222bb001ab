//! Reading git objects for the model: the two sides of a raw change, modes, peeling revisions
//! and tags, merge bases, and the errors that name a missing object. Prints nothing, runs no process.

use super::*;

/// One side of a change, before it is turned into a [`FileChange`].
#[derive(Debug, Clone)]
pub(super) struct Side {
    pub(super) path: String,
    pub(super) mode: u32,
    pub(super) id: ObjectId,
}

#[derive(Debug, Clone)]
pub(super) struct Raw {
    pub(super) old: Option<Side>,
    pub(super) new: Option<Side>,
    pub(super) rename: bool,
}

impl Raw {
    pub(super) fn add(s: Side) -> Raw {
        Raw {
            old: None,
            new: Some(s),
            rename: false,
        }
    }
    pub(super) fn delete(s: Side) -> Raw {
        Raw {
            old: Some(s),
            new: None,
            rename: false,
        }
    }
}

pub(super) const MODE_TYPE_MASK: u32 = 0o170000;
pub(super) const MODE_GITLINK: u32 = 0o160000;
pub(super) const MODE_TREE: u32 = 0o040000;

pub(super) fn is_gitlink(mode: u32) -> bool {
    mode & MODE_TYPE_MASK == MODE_GITLINK
}

/// Renames as `git diff -M` finds them, no copies (`-C` is not the default).
pub(super) fn git_rewrites() -> gix::diff::Rewrites {
    gix::diff::Rewrites {
        copies: None,
        percentage: Some(0.5),
        limit: 1000,
        track_empty: true,
    }
}

/// A blob-diff cache for similarity checks. It reads attributes from no index at all, so a
/// bare repository (a server) does not build an index from HEAD just to diff.
pub(super) fn new_resource_cache(repo: &gix::Repository) -> Result<gix::diff::blob::Platform> {
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

pub(super) fn repo_dir(repo: &gix::Repository) -> String {
    repo.workdir()
        .unwrap_or_else(|| repo.git_dir())
        .display()
        .to_string()
}

pub(super) fn peel_commit(repo: &gix::Repository, id: ObjectId, spec: &str) -> Result<ObjectId> {
    match peel_to_commit_opt(repo, id, spec)? {
        Some(c) => Ok(c),
        None => bail!("revision '{spec}' names {id}, which is not a commit; hint: name a commit"),
    }
}

/// The annotated tags `id` names, outermost first (a tag of a tag is two), with their messages.
pub(super) fn tag_messages(
    repo: &gix::Repository,
    id: ObjectId,
    what: &str,
) -> Result<Vec<TagMessage>> {
    let mut out = Vec::new();
    let mut next = id;
    // A chain of tags longer than this is not something git itself writes.
    for _ in 0..64 {
        let obj = repo
            .find_object(next)
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| missing(repo, next, what))?;
        if obj.kind != gix::object::Kind::Tag {
            break;
        }
        let tag = obj.into_tag();
        let decoded = tag
            .decode()
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("tag {next} cannot be parsed; hint: `git fsck`"))?;
        out.push(TagMessage {
            id: next,
            message: decoded.message.to_str_lossy().into_owned(),
        });
        next = decoded.target();
    }
    Ok(out)
}

/// The commit an object peels to, `None` when it peels to a tree or blob.
pub(super) fn peel_to_commit_opt(
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

/// The tree an object peels to (a tree, or a tag of one), `None` for anything else.
pub(super) fn peel_to_tree_opt(
    repo: &gix::Repository,
    id: ObjectId,
    what: &str,
) -> Result<Option<ObjectId>> {
    let obj = repo
        .find_object(id)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| missing(repo, id, what))?;
    let peeled = match obj.kind {
        gix::object::Kind::Tag => obj
            .peel_tags_to_end()
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| missing(repo, id, what))?,
        _ => obj,
    };
    Ok((peeled.kind == gix::object::Kind::Tree).then_some(peeled.id))
}

pub(super) fn missing(repo: &gix::Repository, id: ObjectId, what: &str) -> String {
    format!(
        "object {id} ({what}) is missing or unreadable in {}; hint: `git fsck` names damaged objects, `git fetch` restores missing ones",
        repo_dir(repo)
    )
}

pub(super) fn commit_tree(repo: &gix::Repository, id: ObjectId) -> Result<ObjectId> {
    let c = repo
        .find_commit(id)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| missing(repo, id, "commit"))?;
    c.tree_id()
        .map(|t| t.detach())
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("commit {id} cannot be parsed"))
}

pub(super) fn merge_base(
    repo: &gix::Repository,
    a: ObjectId,
    b: ObjectId,
) -> Result<Option<ObjectId>> {
    if a == b {
        return Ok(Some(a));
    }
    repo.merge_base(a, b)
        .map(|m| m.map(|id| id.detach()))
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("cannot find the merge base of {a} and {b}"))
}
