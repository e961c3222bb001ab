//! Servers: bare repositories with git-guard's server hooks installed, clones of them, pushes
//! as a named user, and snapshots of a repository's refs and objects.

use std::path::{Path, PathBuf};
use std::process::Output;

use super::git::*;

/// A policy that names `alice` human and `bot` agent, leaving the rest as the default.
pub const TEST_POLICY: &str = r#"
[actors]
humans = ["alice"]
agents = ["bot"]
admins = ["root-admin"]
default_role = "agent"
"#;

/// A bare repository with git-guard's server hooks installed (`extra` passed to install).
pub fn guarded_server(dir: &Path, extra: &[&str]) -> PathBuf {
    let bare = dir.join("server.git");
    std::fs::create_dir_all(&bare).unwrap();
    git(&bare, &["init", "-q", "--bare", "-b", "main"]);
    let mut args = vec!["install", "--server"];
    args.extend_from_slice(extra);
    args.push(bare.to_str().unwrap());
    let o = guard_cmd("git-guard", dir).args(&args).output().unwrap();
    assert!(
        o.status.success(),
        "install failed: {}{}",
        stdout(&o),
        stderr(&o)
    );
    bare
}

/// A policy file in `dir` with `TEST_POLICY` and `more` appended.
pub fn policy_file(dir: &Path, more: &str) -> PathBuf {
    let p = dir.join("policy.toml");
    std::fs::write(&p, format!("{TEST_POLICY}\n{more}")).unwrap();
    p
}

/// A working clone of `url` at `dir/name` with one seed commit pushed to main by `who`
/// (a human, so the protected branch accepts it), when `seed` is true.
pub fn work_clone(dir: &Path, name: &str, url: &str) -> PathBuf {
    let work = dir.join(name);
    init_repo(&work);
    git(&work, &["remote", "add", "origin", url]);
    work
}

/// Push with the pusher's identity in `REMOTE_USER` (used with `--host http`).
pub fn push_as(work: &Path, user: &str, args: &[&str]) -> Output {
    git_cmd(work)
        .env("REMOTE_USER", user)
        .arg("push")
        .args(args)
        .output()
        .unwrap()
}

/// Every ref and every object of a repository, and git's own object count.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub refs: String,
    pub objects: String,
    pub files: Vec<String>,
}

pub fn snapshot(repo: &Path) -> Snapshot {
    let refs = git(repo, &["for-each-ref", "--format=%(objectname) %(refname)"]);
    let objects = git(
        repo,
        &[
            "cat-file",
            "--batch-all-objects",
            "--batch-check=%(objectname) %(objecttype)",
        ],
    );
    let mut files = Vec::new();
    list_files(&repo.join("objects"), repo, &mut files);
    files.sort();
    Snapshot {
        refs,
        objects,
        files,
    }
}

fn list_files(dir: &Path, root: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            list_files(&p, root, out);
        } else {
            out.push(p.strip_prefix(root).unwrap().display().to_string());
        }
    }
}

/// The lines git relayed from the remote's hooks.
pub fn remote_lines(o: &Output) -> Vec<String> {
    stderr(o)
        .lines()
        .filter_map(|l| l.strip_prefix("remote: "))
        .map(|l| l.trim_end().to_string())
        .collect()
}

/// Assert a push was rejected by the guard with `rule` named in a `remote:` line, and that
/// the server kept its refs and objects.
pub fn assert_rejected(o: &Output, rule: &str, before: &Snapshot, server: &Path) {
    let lines = remote_lines(o);
    assert!(!o.status.success(), "push should fail:\n{}", stderr(o));
    assert!(
        lines.iter().any(|l| l.contains(rule)),
        "no remote: line names {rule}:\n{}",
        stderr(o)
    );
    assert_eq!(
        &snapshot(server),
        before,
        "a rejected push changed the server"
    );
}

pub fn audit_lines(server: &Path) -> Vec<serde_json::Value> {
    let p = server.join("guard/audit.log");
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
