//! Workspaces made by `git guard workspace create`, and the upstreams they are made from.

use std::path::{Path, PathBuf};
use std::process::Output;

use super::git::*;

/// A small upstream at `dir`: one commit holding a README.md.
pub fn small_upstream(dir: &Path) {
    init_repo(dir);
    write(dir, "README.md", "hi\n");
    commit_all(dir, "first");
}

/// `git guard workspace create --from FROM --root ROOT EXTRA`, run in `dir`.
pub fn create_workspace(dir: &Path, from: &Path, root: &Path, extra: &[&str]) -> Output {
    guard_cmd("git-guard", dir)
        .args(["workspace", "create", "--from"])
        .arg(from)
        .arg("--root")
        .arg(root)
        .args(extra)
        .output()
        .unwrap()
}

/// `git guard workspace SUB --root ROOT` (status, reset, remove), run in `dir`.
pub fn workspace_cmd(dir: &Path, sub: &str, root: &Path) -> Output {
    guard_cmd("git-guard", dir)
        .args(["workspace", sub, "--root"])
        .arg(root)
        .output()
        .unwrap()
}

/// A workspace `dir/ws` made from a small upstream `dir/up`, for the unix user `agent` when
/// one is named: the upstream's path and the workspace's.
#[track_caller]
pub fn small_workspace(dir: &Path, agent: Option<&str>) -> (PathBuf, PathBuf) {
    let up = dir.join("up");
    small_upstream(&up);
    let root = dir.join("ws");
    let extra = match agent {
        Some(a) => vec!["--agent-user", a],
        None => vec![],
    };
    assert_code(&create_workspace(dir, &up, &root, &extra), 0);
    (up, root)
}
