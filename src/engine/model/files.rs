//! From a raw change to a [`FileChange`]: loading both sides, git's binary test, line counts
//! and the added and removed line text the rules read. Prints nothing, runs no process.

use super::*;

pub(super) fn load_tree(repo: &gix::Repository, id: ObjectId) -> Result<Vec<u8>> {
    if id == ObjectId::empty_tree(repo.object_hash()) {
        return Ok(Vec::new());
    }
    let t = repo
        .find_tree(id)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| missing(repo, id, "tree"))?;
    Ok(t.detach().data)
}

pub(super) fn to_file_changes(
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
pub(super) struct Content {
    pub(super) data: Vec<u8>,
    pub(super) size: u64,
}

pub(super) fn load_side(repo: &gix::Repository, s: &Side) -> Result<Content> {
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

pub(super) fn is_binary(data: &[u8]) -> bool {
    data.len() > BIG_FILE_THRESHOLD || data[..data.len().min(BINARY_SNIFF_BYTES)].contains(&0)
}

/// The bytes of both sides are kept for the files the tests rule parses
/// ([`crate::engine::rules::tests::reads_content`]): they were read for the diff already, and
/// the rule parses them instead of reading them again.
pub(super) fn file_change(
    repo: &gix::Repository,
    raw: Raw,
    opts: ModelOptions,
) -> Result<FileChange> {
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
        added_encoding: Default::default(),
        removed_lines: Vec::new(),
        old_content: None,
        new_content: None,
    };
    if binary && same {
        return Ok(fc);
    }
    let collect =
        opts.content && (old_data.len().max(new_data.len()) as u64) <= opts.max_blob_scan_bytes;
    if !binary && !same {
        count_lines(old_data, new_data, collect, &mut fc);
    }
    // What the new side adds is read as the new side reads (a stub turned into text, UTF-16,
    // stray NULs, a binary blob's printable runs); git's counts above stay as they are.
    if !same && collect && new.is_some() && (binary || content::needs_decoding(new_data)) {
        let old = raw.old.as_ref().map(|_| old_data);
        content::read_added(old, new_data, &mut fc);
    }
    // The test rule parses both sides of the files it reads (a rename keeps its content).
    if !binary && collect && fc.paths().any(crate::engine::rules::tests::reads_content) {
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
pub(super) fn count_lines(old: &[u8], new: &[u8], collect: bool, fc: &mut FileChange) {
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
