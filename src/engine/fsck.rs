//! What `git fsck` rejects in a tree object, read from the object's raw bytes: entries named
//! `.`, `..` or `.git` (in any case, and in every spelling git's own checks know: NTFS's
//! trailing dots and spaces, alternate data streams and `git~1` short name, HFS+'s ignorable
//! code points, a backslash taken as a separator), names holding a `/`, empty names, duplicate
//! names, entries out of git's order, modes git does not write (zero-padded or unknown), null
//! ids, a `.gitmodules` that is a symlink, and bytes that do not parse as a tree.
//!
//! git turns these checks on for a push with `receive.fsckObjects`, as errors (`--strict`); a
//! host that does not let the admin set it still has them here. Pure functions of bytes: no
//! object access, nothing printed, no process run. The model walks the trees a push brings
//! ([`crate::engine::model`]), the materialiser refuses the same names ([`entry_name_problem`]).

use std::cmp::Ordering;

use serde::Serialize;

/// One problem with a tree, named as git's fsck names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum TreeProblem {
    BadTree,
    HasDot,
    HasDotdot,
    HasDotgit,
    FullPathname,
    EmptyName,
    DuplicateEntries,
    TreeNotSorted,
    BadFilemode,
    ZeroPaddedFilemode,
    NullSha1,
    GitmodulesSymlink,
    /// An entry whose mode says tree points at an object that is not one.
    NotATree,
}

impl TreeProblem {
    /// git's message id (`git fsck` prints it, `receive.fsck.<id>` configures it).
    pub fn fsck_id(self) -> &'static str {
        match self {
            TreeProblem::BadTree => "badTree",
            TreeProblem::HasDot => "hasDot",
            TreeProblem::HasDotdot => "hasDotdot",
            TreeProblem::HasDotgit => "hasDotgit",
            TreeProblem::FullPathname => "fullPathname",
            TreeProblem::EmptyName => "emptyName",
            TreeProblem::DuplicateEntries => "duplicateEntries",
            TreeProblem::TreeNotSorted => "treeNotSorted",
            TreeProblem::BadFilemode => "badFilemode",
            TreeProblem::ZeroPaddedFilemode => "zeroPaddedFilemode",
            TreeProblem::NullSha1 => "nullSha1",
            TreeProblem::GitmodulesSymlink => "gitmodulesSymlink",
            TreeProblem::NotATree => "badType",
        }
    }

    /// What is wrong, in words.
    pub fn describe(self) -> &'static str {
        match self {
            TreeProblem::BadTree => "the object cannot be parsed as a tree",
            TreeProblem::HasDot => "an entry is named `.`",
            TreeProblem::HasDotdot => "an entry is named `..`",
            TreeProblem::HasDotgit => "an entry is named `.git` or a spelling of it",
            TreeProblem::FullPathname => "an entry name holds a `/`",
            TreeProblem::EmptyName => "an entry has an empty name",
            TreeProblem::DuplicateEntries => "two entries have the same name",
            TreeProblem::TreeNotSorted => "the entries are not in git's order",
            TreeProblem::BadFilemode => "an entry has a mode git does not write",
            TreeProblem::ZeroPaddedFilemode => "an entry's mode is zero-padded",
            TreeProblem::NullSha1 => "an entry points at the null object id",
            TreeProblem::GitmodulesSymlink => "`.gitmodules` is a symbolic link",
            TreeProblem::NotATree => {
                "an entry with a tree's mode points at an object that is not a tree"
            }
        }
    }
}

/// One entry of a tree, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry<'a> {
    /// The mode as the octal digits say (zero-padding and unknown modes kept).
    pub mode: u32,
    pub name: &'a [u8],
    pub id: &'a [u8],
}

pub const MODE_TREE: u32 = 0o040000;
pub const MODE_BLOB: u32 = 0o100644;
pub const MODE_EXEC: u32 = 0o100755;
pub const MODE_LINK: u32 = 0o120000;
pub const MODE_GITLINK: u32 = 0o160000;

/// A problem found with one entry (the name as stored; empty for a tree that does not parse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub problem: TreeProblem,
    pub name: Vec<u8>,
}

/// Parse a tree object's bytes (`<octal mode> <name>\0<id>` repeated) and name every problem
/// git's fsck would name, with the entries it could parse. `hash_len` is 20 (SHA-1) or 32.
pub fn check_tree(data: &[u8], hash_len: usize) -> (Vec<RawEntry<'_>>, Vec<Found>) {
    check_tree_against(data, hash_len, &[])
}

/// The entries of a tree as stored, in their stored order, without checking them (the parse
/// stops at the first entry that does not parse).
pub fn tree_entries(data: &[u8], hash_len: usize) -> Vec<RawEntry<'_>> {
    parse(data, hash_len).0
}

/// [`check_tree`] of a tree that replaces `old` at the same place (the parent commit's tree
/// there): an entry `old` holds with the same name, mode and id was judged with `old`, so only
/// the tree's shape (its order, duplicates, whether it parses) is checked for it again. The
/// names, modes and ids of the other entries are checked as `git fsck` checks them.
pub fn check_tree_against<'a>(
    data: &'a [u8],
    hash_len: usize,
    old: &[RawEntry<'_>],
) -> (Vec<RawEntry<'a>>, Vec<Found>) {
    let (entries, mut found, zero_padded) = parse(data, hash_len);
    for name in zero_padded {
        found.push(Found {
            problem: TreeProblem::ZeroPaddedFilemode,
            name,
        });
    }
    let sorted = entries
        .windows(2)
        .all(|w| git_order(w[0].name, w[0].mode, w[1].name, w[1].mode) == Ordering::Less);
    let old_sorted = old
        .windows(2)
        .all(|w| git_order(w[0].name, w[0].mode, w[1].name, w[1].mode) == Ordering::Less);
    // In git's order both lists are walked once side by side; otherwise searched.
    let mut at_old = 0;
    let mut in_old = |e: &RawEntry<'_>| -> bool {
        if !(sorted && old_sorted) {
            return old.contains(e);
        }
        while at_old < old.len()
            && git_order(old[at_old].name, old[at_old].mode, e.name, e.mode) == Ordering::Less
        {
            at_old += 1;
        }
        old.get(at_old) == Some(e)
    };
    // Names seen, only needed when the order cannot tell duplicates apart.
    let mut seen = (!sorted).then(std::collections::HashSet::new);
    for (i, e) in entries.iter().enumerate() {
        let mut problem = |p| {
            found.push(Found {
                problem: p,
                name: e.name.to_vec(),
            })
        };
        if !in_old(e) {
            if let Some(p) = entry_name_problem(e.name) {
                problem(p);
            }
            if e.mode == MODE_LINK && is_dotgitmodules(e.name) {
                problem(TreeProblem::GitmodulesSymlink);
            }
            if !matches!(
                e.mode,
                MODE_TREE | MODE_BLOB | MODE_EXEC | MODE_LINK | MODE_GITLINK
            ) {
                problem(TreeProblem::BadFilemode);
            }
            if e.id.iter().all(|b| *b == 0) {
                problem(TreeProblem::NullSha1);
            }
        }
        let duplicate = match &mut seen {
            Some(seen) => !seen.insert(e.name),
            // Sorted: the same name twice is a file and a tree of that name (a file sorts as
            // the bare name, a tree as the name and `/`), the file first.
            None => {
                e.mode == MODE_TREE
                    && entries[..i]
                        .binary_search_by(|o| git_order(o.name, o.mode, e.name, 0))
                        .is_ok_and(|j| entries[j].mode != MODE_TREE)
            }
        };
        if duplicate {
            problem(TreeProblem::DuplicateEntries);
        } else if i > 0 {
            let prev = &entries[i - 1];
            if prev.name != e.name
                && git_order(prev.name, prev.mode, e.name, e.mode) != Ordering::Less
            {
                problem(TreeProblem::TreeNotSorted);
            }
        }
    }
    (entries, found)
}

/// The entries that parse, the problem that stopped the parse (if any), and the names of the
/// entries whose mode is zero-padded.
fn parse(data: &[u8], hash_len: usize) -> (Vec<RawEntry<'_>>, Vec<Found>, Vec<Vec<u8>>) {
    // An entry takes at least a digit, a space, a name byte, a NUL and the id.
    let mut entries = Vec::with_capacity(data.len() / (hash_len + 8) + 1);
    let mut found = Vec::new();
    let mut zero_padded = Vec::new();
    let mut at = 0;
    while at < data.len() {
        // The mode: at most 7 octal digits, then a space.
        let mut mode = 0u32;
        let mut digits = 0;
        let mut end = at;
        while end < data.len() && data[end] != b' ' && digits <= 7 {
            let d = data[end];
            if !(b'0'..=b'7').contains(&d) {
                digits = 8;
                break;
            }
            mode = mode * 8 + u32::from(d - b'0');
            digits += 1;
            end += 1;
        }
        if digits == 0 || digits > 7 || end >= data.len() {
            found.push(bad_tree());
            break;
        }
        let name_start = end + 1;
        let Some(nul) = memchr::memchr(0, &data[name_start..]) else {
            found.push(bad_tree());
            break;
        };
        let name = &data[name_start..name_start + nul];
        let id_start = name_start + nul + 1;
        if data.len() < id_start + hash_len {
            found.push(bad_tree());
            break;
        }
        if data[at] == b'0' {
            zero_padded.push(name.to_vec());
        }
        entries.push(RawEntry {
            mode,
            name,
            id: &data[id_start..id_start + hash_len],
        });
        at = id_start + hash_len;
    }
    (entries, found, zero_padded)
}

fn bad_tree() -> Found {
    Found {
        problem: TreeProblem::BadTree,
        name: Vec::new(),
    }
}

/// git's order of tree entries: by name, a tree's name compared as if it ended in `/`.
pub fn git_order(a: &[u8], a_mode: u32, b: &[u8], b_mode: u32) -> Ordering {
    let n = a.len().min(b.len());
    match a[..n].cmp(&b[..n]) {
        Ordering::Equal => {}
        other => return other,
    }
    let end = |name: &[u8], mode: u32| -> u8 {
        match name.get(n) {
            Some(c) => *c,
            None if mode == MODE_TREE => b'/',
            None => 0,
        }
    };
    end(a, a_mode).cmp(&end(b, b_mode))
}

/// Why git refuses a tree entry's name (and would not check it out), if it does: `.`, `..`,
/// `.git` in any of its spellings, a `/` in it, or an empty name. The materialiser refuses the
/// same names.
pub fn entry_name_problem(name: &[u8]) -> Option<TreeProblem> {
    if name.is_empty() {
        return Some(TreeProblem::EmptyName);
    }
    if name == b"." {
        return Some(TreeProblem::HasDot);
    }
    if name == b".." {
        return Some(TreeProblem::HasDotdot);
    }
    if name.contains(&b'/') {
        return Some(TreeProblem::FullPathname);
    }
    if is_hfs_dotgit(name) || is_ntfs_dotgit(name) {
        return Some(TreeProblem::HasDotgit);
    }
    // A backslash separates names on NTFS: each part after one is a name of its own there.
    let mut parts = name.split(|b| *b == b'\\');
    parts.next();
    if parts.any(is_ntfs_dotgit) {
        return Some(TreeProblem::HasDotgit);
    }
    None
}

/// NTFS: `.git` or its short name `git~1` (any case), followed by nothing but dots and spaces
/// (which NTFS trims), up to the end, a separator or an alternate data stream (`:`).
pub fn is_ntfs_dotgit(name: &[u8]) -> bool {
    let lower = |i: usize| name.get(i).map(u8::to_ascii_lowercase);
    let rest = if lower(0) == Some(b'.') && lower(1) == Some(b'g') {
        if lower(2) != Some(b'i') || lower(3) != Some(b't') {
            return false;
        }
        &name[4..]
    } else if lower(0) == Some(b'g')
        && lower(1) == Some(b'i')
        && lower(2) == Some(b't')
        && name.get(3) == Some(&b'~')
        && name.get(4) == Some(&b'1')
    {
        &name[5..]
    } else {
        return false;
    };
    for &c in rest {
        if c == b'/' || c == b'\\' || c == b':' {
            return true;
        }
        if c != b'.' && c != b' ' {
            return false;
        }
    }
    true
}

/// Code points HFS+ ignores when it compares names (zero-width joiners, direction marks, the
/// byte-order mark), so `.g\u{200c}it` is `.git` there.
fn hfs_ignorable(c: char) -> bool {
    matches!(c as u32, 0x200c..=0x200f | 0x202a..=0x202e | 0x206a..=0x206f | 0xfeff)
}

/// HFS+: `.git` in any case once the ignorable code points are left out.
pub fn is_hfs_dotgit(name: &[u8]) -> bool {
    hfs_is(name, ".git")
}

fn hfs_is(name: &[u8], want: &str) -> bool {
    // A name that is not UTF-8 is no HFS+ name of anything.
    let Ok(text) = std::str::from_utf8(name) else {
        return false;
    };
    let mut chars = text.chars().filter(|c| !hfs_ignorable(*c));
    for w in want.chars() {
        match chars.next() {
            Some(c) if c.to_ascii_lowercase() == w => {}
            _ => return false,
        }
    }
    chars.next().is_none()
}

/// `.gitmodules` as HFS+ or NTFS would read the name (its NTFS short names included).
pub fn is_dotgitmodules(name: &[u8]) -> bool {
    hfs_is(name, ".gitmodules") || is_ntfs_dot_named(name, b"gitmodules", b"gi7eba")
}

/// NTFS spellings of `.<dotted>`: the name with trailing dots and spaces (or a data stream),
/// the 8.3 short name `<first six>~<1-4>`, or the fall-back short name `<prefix>~<digits>`.
fn is_ntfs_dot_named(name: &[u8], dotted: &[u8], short_prefix: &[u8]) -> bool {
    let only_dots_and_spaces = |rest: &[u8]| {
        for &c in rest {
            if c == b':' {
                return true;
            }
            if c != b' ' && c != b'.' {
                return false;
            }
        }
        true
    };
    if name.first() == Some(&b'.')
        && name.len() > dotted.len()
        && name[1..=dotted.len()].eq_ignore_ascii_case(dotted)
    {
        return only_dots_and_spaces(&name[dotted.len() + 1..]);
    }
    if name.len() >= 8
        && name[..6].eq_ignore_ascii_case(&dotted[..6])
        && name[6] == b'~'
        && (b'1'..=b'4').contains(&name[7])
    {
        return only_dots_and_spaces(&name[8..]);
    }
    // The fall-back short name: up to six letters of the hashed prefix, `~`, digits.
    let mut i = 0;
    let mut saw_tilde = false;
    while i < 8 {
        let Some(&c) = name.get(i) else {
            return false;
        };
        if saw_tilde {
            if !c.is_ascii_digit() {
                return false;
            }
        } else if c == b'~' {
            i += 1;
            match name.get(i) {
                Some(d) if (b'1'..=b'9').contains(d) => {}
                _ => return false,
            }
            saw_tilde = true;
        } else if i >= 6 || c & 0x80 != 0 || c.to_ascii_lowercase() != short_prefix[i] {
            return false;
        }
        i += 1;
    }
    only_dots_and_spaces(&name[8..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(entries: &[(&str, &[u8], u8)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (mode, name, id) in entries {
            out.extend_from_slice(mode.as_bytes());
            out.push(b' ');
            out.extend_from_slice(name);
            out.push(0);
            out.extend_from_slice(&[*id; 20]);
        }
        out
    }

    fn problems(data: &[u8]) -> Vec<TreeProblem> {
        check_tree(data, 20)
            .1
            .into_iter()
            .map(|f| f.problem)
            .collect()
    }

    #[test]
    fn a_tree_git_writes_has_no_problem() {
        let t = tree(&[
            ("100644", b"a", 1),
            ("40000", b"a-dir", 2),
            ("100755", b"b.sh", 3),
            ("120000", b"link", 4),
            ("160000", b"sub", 5),
        ]);
        assert_eq!(problems(&t), []);
        // A tree `foo` sorts as `foo/`, after `foo.txt`.
        let t = tree(&[("100644", b"foo.txt", 1), ("40000", b"foo", 2)]);
        assert_eq!(problems(&t), []);
    }

    #[test]
    fn dot_git_in_every_spelling_git_knows() {
        for name in [
            &b".git"[..],
            b".GIT",
            b".Git",
            b"git~1",
            b"GIT~1",
            b".git.",
            b".git ",
            b".git. . ",
            b".git::$INDEX_ALLOCATION",
            ".g\u{200c}it".as_bytes(),
            ".\u{feff}GIT".as_bytes(),
            b"x\\.git",
            b"a\\b\\git~1",
        ] {
            assert_eq!(
                entry_name_problem(name),
                Some(TreeProblem::HasDotgit),
                "{:?}",
                String::from_utf8_lossy(name)
            );
        }
        for name in [
            &b".gitignore"[..],
            b".github",
            b"git~2",
            b"git",
            b".gitx",
            b"a.git",
        ] {
            assert_eq!(
                entry_name_problem(name),
                None,
                "{:?}",
                String::from_utf8_lossy(name)
            );
        }
    }

    #[test]
    fn dot_dotdot_slash_and_empty_names() {
        assert_eq!(entry_name_problem(b"."), Some(TreeProblem::HasDot));
        assert_eq!(entry_name_problem(b".."), Some(TreeProblem::HasDotdot));
        assert_eq!(entry_name_problem(b"a/b"), Some(TreeProblem::FullPathname));
        assert_eq!(entry_name_problem(b""), Some(TreeProblem::EmptyName));
        assert_eq!(entry_name_problem(b"..."), None);
    }

    #[test]
    fn duplicates_order_modes_and_ids() {
        let t = tree(&[("100644", b"a", 1), ("100644", b"a", 2)]);
        assert_eq!(problems(&t), [TreeProblem::DuplicateEntries]);
        // A file and a tree of the same name are duplicates too.
        let t = tree(&[
            ("100644", b"a", 1),
            ("100644", b"a.b", 3),
            ("40000", b"a", 2),
        ]);
        assert_eq!(problems(&t), [TreeProblem::DuplicateEntries]);
        let t = tree(&[("100644", b"b", 1), ("100644", b"a", 2)]);
        assert_eq!(problems(&t), [TreeProblem::TreeNotSorted]);
        let t = tree(&[("100664", b"a", 1), ("123456", b"b", 2)]);
        assert_eq!(
            problems(&t),
            [TreeProblem::BadFilemode, TreeProblem::BadFilemode]
        );
        let t = tree(&[("040000", b"a", 1)]);
        assert_eq!(problems(&t), [TreeProblem::ZeroPaddedFilemode]);
        let t = tree(&[("100644", b"a", 0)]);
        assert_eq!(problems(&t), [TreeProblem::NullSha1]);
        let t = tree(&[("120000", b".gitmodules", 1)]);
        assert_eq!(problems(&t), [TreeProblem::GitmodulesSymlink]);
        let t = tree(&[("120000", b"GITMOD~1", 1)]);
        assert_eq!(problems(&t), [TreeProblem::GitmodulesSymlink]);
    }

    #[test]
    fn bytes_that_are_no_tree() {
        for bad in [
            &b"100644 a"[..],
            b"100644 a\0short",
            b"1x0644 a\0",
            b"nospace",
        ] {
            assert_eq!(problems(bad), [TreeProblem::BadTree], "{bad:?}");
        }
        assert_eq!(problems(b""), []);
    }
}
