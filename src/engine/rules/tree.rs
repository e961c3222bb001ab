//! Rule module `tree`: the shape of the trees an update brings.
//!
//! - `tree.malformed` (violation): a tree holds an entry `git fsck` rejects (see
//!   [`crate::engine::fsck`]): `.`, `..` or `.git` in any spelling git knows, a `/` in a name,
//!   an empty or duplicate name, entries out of order, a mode git does not write, a null id, a
//!   `.gitmodules` symlink, or bytes that are no tree. One violation per tree and problem.
//!
//! No policy switch turns it off, no admin bypasses it and `mode = "warn"` does not let it
//! through: such a tree breaks every clone and checkout that meets it.

use std::collections::HashSet;

use super::Context;
use crate::engine::verdict::Finding;

pub const MALFORMED: &str = "tree.malformed";

pub fn check(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let mut told = HashSet::new();
    for m in &ctx.unit.malformed {
        if !told.insert((m.tree, m.problem)) {
            continue;
        }
        let at = if m.dir.is_empty() {
            "the root tree".to_string()
        } else {
            format!("the tree {}/", m.dir)
        };
        let entry = if m.name.is_empty() {
            String::new()
        } else {
            format!(" (entry \"{}\")", m.name)
        };
        let path = if m.dir.is_empty() {
            m.name.clone()
        } else {
            format!("{}/{}", m.dir, m.name)
        };
        let mut f = Finding::violation(
            MALFORMED,
            format!(
                "{at} {} is malformed: {}{entry}; git fsck calls it {}",
                m.tree.to_hex_with_len(12),
                m.problem.describe(),
                m.problem.fsck_id()
            ),
            "git refuses to check out such a tree: rebuild the commit from a checkout with \
                 `git add` and `git commit`, which write only well-formed trees",
        )
        .at_ref(ctx.refname())
        .at_commit(m.commit);
        if !path.is_empty() {
            f = f.at_path(path);
        }
        out.push(f);
    }
}
