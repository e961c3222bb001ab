//! The staged change: HEAD's tree against the index, with renames found as `git diff --cached -M`
//! finds them. Reads objects and the index file only; prints nothing and runs no process.

use super::*;

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
            tags: Vec::new(),
            ..Default::default()
        })
    }
}

pub(super) fn staged_raws(repo: &gix::Repository) -> Result<StagedIndex> {
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
pub(super) fn read_index(repo: &gix::Repository) -> Result<gix::index::File> {
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

/// A change between HEAD's tree and the index, as the rename tracker sees it.
#[derive(Debug, Clone)]
pub(super) struct IndexChange {
    pub(super) kind: TrackerKind,
    pub(super) mode: gix::objs::tree::EntryMode,
    pub(super) id: ObjectId,
}

impl TrackedChange for IndexChange {
    fn id(&self) -> Option<&gix::oid> {
        Some(&self.id)
    }
    fn kind(&self) -> TrackerKind {
        self.kind
    }
    fn entry_mode(&self) -> gix::objs::tree::EntryMode {
        self.mode
    }
}

/// One blob of HEAD's tree: its path, mode and id.
pub(super) type HeadEntry = (Vec<u8>, gix::objs::tree::EntryMode, ObjectId);

/// The blobs of HEAD's tree, skipping each directory the index's cache-tree records with the
/// same tree id: the index holds exactly that directory's content, so nothing in it is staged
/// (git's own `diff --cached` skips the same way). Skipped directories land in `clean`, as
/// `dir/`.
pub(super) fn collect_head_entries(
    repo: &gix::Repository,
    tree: ObjectId,
    prefix: &mut Vec<u8>,
    node: Option<&gix::index::extension::Tree>,
    out: &mut Vec<HeadEntry>,
    clean: &mut Vec<Vec<u8>>,
) -> Result<()> {
    if node.is_some_and(|n| n.num_entries.is_some() && n.id == tree) {
        // The root directory is the empty prefix, which every path starts with (as `/` it
        // matched none, and every file of a clean index was judged as added).
        let mut dir = prefix.clone();
        if !dir.is_empty() {
            dir.push(b'/');
        }
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
pub(super) fn diff_index(
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
                        old: Some(side(src.location, src.entry_mode, src.change.id)),
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
            Default::default(),
        )
        .map_err(|e| anyhow!("{e}"))
        .context("rename detection failed; hint: `git fsck` names missing or damaged objects")?;
    Ok(raws)
}
