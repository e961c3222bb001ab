//! Servers: bare repositories with git-guard's server hooks installed (seeded, with the test
//! policy, in a new temp directory with a clone), clones of them, pushes as a named user, the
//! hooks run by hand, snapshots of a repository's refs and objects, and what the hooks said.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::git::*;

/// A policy that names `alice` human and `bot` agent, leaving the rest as the default.
pub const TEST_POLICY: &str = r#"
[actors]
humans = ["alice"]
agents = ["bot"]
admins = ["root-admin"]
default_role = "agent"
"#;

/// `git guard install --server EXTRA BARE`, which must succeed.
#[track_caller]
pub fn install_server(dir: &Path, bare: &Path, extra: &[&str]) {
    let mut args = vec!["install", "--server"];
    args.extend_from_slice(extra);
    args.push(bare.to_str().unwrap());
    guard_ok(dir, &args);
}

/// A repository `dir/name` whose main holds one commit: a README.md and `files` (a README.md
/// among them replaces the default one).
pub fn seeded_repo(dir: &Path, name: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let repo = dir.join(name);
    init_repo(&repo);
    write(&repo, "README.md", "hello\n");
    for (p, c) in files {
        write(&repo, p, c);
    }
    commit_all(&repo, "seed");
    repo
}

/// The client hooks installed in `work` with `policy`.
#[track_caller]
pub fn install_client(dir: &Path, work: &Path, policy: &Path) {
    guard_ok(
        dir,
        &[
            "install",
            "--client",
            "--policy",
            policy.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
}

/// A bare repository `dir/server.git` whose main holds one commit, made in `dir/seed`: a
/// README.md and `files` (a README.md among them replaces the default one).
pub fn seeded_bare(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
    let files: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (*p, c.as_bytes())).collect();
    let seed = seeded_repo(dir, "seed", &files);
    clone_bare(dir, &seed, "server.git")
}

/// A server whose main already holds `files` (seeded before the hooks went in, as an admin
/// would), guarded with `extra` install options.
pub fn seeded_server(dir: &Path, files: &[(&str, &str)], extra: &[&str]) -> PathBuf {
    let bare = seeded_bare(dir, files);
    install_server(dir, &bare, extra);
    bare
}

/// A policy file in `dir` with `TEST_POLICY` and `more` appended.
pub fn policy_file(dir: &Path, more: &str) -> PathBuf {
    let p = dir.join("policy.toml");
    std::fs::write(&p, format!("{TEST_POLICY}\n{more}")).unwrap();
    p
}

/// `git push ARGS` from `work` as `user`, named by the host's variable `var`.
pub fn push_with(work: &Path, var: &str, user: &str, args: &[&str]) -> Output {
    git_cmd(work)
        .env(var, user)
        .arg("push")
        .args(args)
        .output()
        .unwrap()
}

/// Push with the pusher's identity in `REMOTE_USER` (used with `--host http`).
pub fn push_as(work: &Path, user: &str, args: &[&str]) -> Output {
    push_with(work, "REMOTE_USER", user, args)
}

/// One of the server's hooks, run by hand as git would run it: `guard-hook` with the installed
/// configuration, in the git directory.
pub fn hook_cmd(bare: &Path, hook: &str) -> Command {
    let mut c = guard_cmd("guard-hook", bare);
    c.arg("--config")
        .arg(bare.join("hooks").join("git-guard.toml"))
        .arg(hook)
        .env("GIT_DIR", ".");
    c
}

/// Every ref and every object of a repository, and git's own object count.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub refs: String,
    pub objects: String,
    pub files: Vec<String>,
}

/// The refs and objects of `repo`, to compare before and after a push.
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

/// The records of the server's audit log.
pub fn audit_lines(server: &Path) -> Vec<serde_json::Value> {
    let p = server.join("guard/audit.log");
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `dir/server.git` seeded and guarded with `install` options and a policy file of
/// `TEST_POLICY` and `policy_extra`: the server and the policy file.
pub fn policy_server(dir: &Path, policy_extra: &str, install: &[&str]) -> (PathBuf, PathBuf) {
    let policy = policy_file(dir, policy_extra);
    let mut args = install.to_vec();
    args.extend_from_slice(&["--policy", policy.to_str().unwrap()]);
    (seeded_server(dir, &[], &args), policy)
}

/// A clone of `bare` at `dir/name` with a new branch `branch` checked out.
pub fn clone_on(dir: &Path, bare: &Path, name: &str, branch: &str) -> PathBuf {
    let work = clone(dir, bare, name);
    git(&work, &["switch", "-q", "-c", branch]);
    work
}

/// `git push origin REFSPEC` from `work` as `user` (`REMOTE_USER`), which the guard of `server`
/// must reject naming `rule`, leaving the server as it was; the push's output.
#[track_caller]
pub fn push_rejected(work: &Path, user: &str, refspec: &str, server: &Path, rule: &str) -> Output {
    let before = snapshot(server);
    let o = push_as(work, user, &["origin", refspec]);
    assert_rejected(&o, rule, &before, server);
    o
}

/// Assert that one of the `remote:` lines of a push contains `text`.
#[track_caller]
pub fn assert_remote_says(o: &Output, text: &str) {
    assert!(
        remote_lines(o).iter().any(|l| l.contains(text)),
        "no remote: line says {text:?}:\n{}",
        stderr(o)
    );
}

/// In a new temp directory: a server from `policy_server` and a clone of it, `work`, on a new
/// branch `branch` when one is named. The directory, the server and the clone.
pub fn guarded_clone(
    policy_extra: &str,
    install: &[&str],
    branch: Option<&str>,
) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let (bare, _) = policy_server(t.path(), policy_extra, install);
    let work = match branch {
        Some(b) => clone_on(t.path(), &bare, "work", b),
        None => clone(t.path(), &bare, "work"),
    };
    (t, bare, work)
}
