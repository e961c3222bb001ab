//! File changes built from bytes that are not in git yet: a file as it is on disk and as it
//! will be after an edit the harness door is asked about. The same counts, added lines and
//! kept sides as a change read from git objects, so every rule judges it the same way.
//!
//! Reads nothing, prints nothing, runs no process: the caller hands both sides.

use crate::engine::changes::{Blob, ChangeKind, FileChange};
use crate::engine::content;

use super::files::{count_lines, is_binary};

/// A regular file's mode, as git records it.
const REGULAR: u32 = 0o100644;

/// The git blob id of `data` (SHA-1, as a new repository names it).
fn blob_id(data: &[u8]) -> Option<gix::ObjectId> {
    gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, data).ok()
}

/// The change from `old` (absent: the file does not exist yet) to `new` (absent: the file is
/// deleted) at `path`, relative to the repository root. `mode` is the file's mode on disk
/// (`None`: a regular file).
pub fn change_of_bytes(
    path: &str,
    old: Option<&[u8]>,
    new: Option<&[u8]>,
    mode: Option<u32>,
    opts: super::ModelOptions,
) -> FileChange {
    let mode = mode.unwrap_or(REGULAR);
    let kind = match (old, new) {
        (None, _) => ChangeKind::Add,
        (Some(_), None) => ChangeKind::Delete,
        (Some(_), Some(_)) => ChangeKind::Modify,
    };
    let empty: &[u8] = &[];
    let old_data = old.unwrap_or(empty);
    let new_data = new.unwrap_or(empty);
    let binary = is_binary(old_data) || is_binary(new_data);
    let mut fc = FileChange {
        kind,
        old_path: old.map(|_| path.to_string()),
        new_path: new.map(|_| path.to_string()),
        old_mode: old.map(|_| mode),
        new_mode: new.map(|_| mode),
        old_id: old.and_then(blob_id),
        new_id: new.and_then(blob_id),
        binary,
        size: new.or(old).map_or(0, |d| d.len() as u64),
        added: 0,
        removed: 0,
        added_lines: Vec::new(),
        added_encoding: Default::default(),
        removed_lines: Vec::new(),
        old_content: None,
        new_content: None,
    };
    let collect =
        opts.content && (old_data.len().max(new_data.len()) as u64) <= opts.max_blob_scan_bytes;
    if !binary {
        count_lines(old_data, new_data, collect, &mut fc);
    }
    if collect && new.is_some() && (binary || content::needs_decoding(new_data)) {
        content::read_added(old, new_data, &mut fc);
    }
    if !binary && collect && fc.paths().any(crate::engine::rules::tests::reads_content) {
        fc.old_content = old.map(|d| Blob::new(d.to_vec()));
        fc.new_content = new.map(|d| Blob::new(d.to_vec()));
    }
    fc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_adds_and_removes_lines_like_git() {
        let fc = change_of_bytes(
            "a.txt",
            Some(b"one\ntwo\n"),
            Some(b"one\nthree\n"),
            None,
            Default::default(),
        );
        assert_eq!(fc.kind, ChangeKind::Modify);
        assert_eq!((fc.added, fc.removed), (1, 1));
        assert_eq!(fc.added_lines[0].text, "three");
        assert_eq!(fc.added_lines[0].number, 2);
        assert_eq!(fc.removed_lines, ["two"]);
    }

    #[test]
    fn a_new_test_file_keeps_its_bytes_for_the_tests_rule() {
        let fc = change_of_bytes(
            "tests/t.py",
            None,
            Some(b"def test_a():\n    assert 1\n"),
            None,
            Default::default(),
        );
        assert_eq!(fc.kind, ChangeKind::Add);
        assert!(fc.new_content.is_some());
        assert_eq!(
            fc.new_id.map(|i| i.to_string()).unwrap().len(),
            40,
            "a blob id"
        );
    }
}
