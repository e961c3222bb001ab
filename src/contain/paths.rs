//! Paths judged against walls without trusting them: the lexical normal form of a path and
//! the path as the kernel will resolve it (its longest existing ancestor canonicalised, so a
//! symlink out of a writable root is seen). Shared by guard-exec and the harness door. Reads
//! the file system (metadata only); writes nothing.

use std::path::{Component, Path, PathBuf};

/// `a/./b/../c` -> `a/c`, without touching the file system.
pub fn lexical_normal(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Canonicalise the longest existing ancestor (so a symlink out of a root is seen) and append
/// the rest.
pub fn resolve_existing(p: &Path) -> PathBuf {
    let mut base = p.to_path_buf();
    let mut rest = Vec::new();
    loop {
        if let Ok(c) = base.canonicalize() {
            let mut out = c;
            for r in rest.iter().rev() {
                out.push(r);
            }
            return out;
        }
        match (base.file_name().map(|n| n.to_os_string()), base.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                base = parent.to_path_buf();
            }
            _ => return p.to_path_buf(),
        }
    }
}
