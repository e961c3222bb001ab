//! `git guard install` / `uninstall`: chaining with hooks already there and with
//! `core.hooksPath`, idempotence, upgrades, the GitLab and Gitea layouts.

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use support::git::*;
use support::server::*;

/// Every file under `dir` with its mode and content.
fn tree(dir: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    fn walk(d: &Path, root: &Path, out: &mut BTreeMap<String, (u32, Vec<u8>)>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                walk(&p, root, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                out.insert(
                    rel,
                    (
                        m.permissions().mode(),
                        std::fs::read(&p).unwrap_or_default(),
                    ),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// `git guard install OPTIONS TARGET` in `dir`.
fn install(dir: &Path, options: &[&str], target: &Path) -> std::process::Output {
    let mut args = vec!["install"];
    args.extend_from_slice(options);
    args.push(target.to_str().unwrap());
    guard(dir, &args)
}

/// `install` with `--policy` naming a test policy file written in `dir`.
fn install_with_policy(dir: &Path, options: &[&str], target: &Path) -> std::process::Output {
    let policy = policy_file(dir, "");
    let mut args = options.to_vec();
    args.extend_from_slice(&["--policy", policy.to_str().unwrap()]);
    install(dir, &args, target)
}

fn local_config(repo: &Path) -> String {
    git(repo, &["config", "--local", "--list"])
}

#[test]
fn installing_twice_changes_nothing_and_uninstall_restores_everything() {
    let t = tempfile::tempdir().unwrap();
    let bare = t.path().join("s.git");
    init_bare(&bare);
    let pristine = (tree(&bare), local_config(&bare));
    let o = install(t.path(), &[], &bare);
    assert_code(&o, 0);
    assert_contains(&stdout(&o), "server hooks installed");
    let once = (tree(&bare), local_config(&bare));
    let o = install(t.path(), &[], &bare);
    assert_contains(&stdout(&o), "nothing changed");
    assert_eq!((tree(&bare), local_config(&bare)), once);
    let o = guard(t.path(), &["uninstall", bare.to_str().unwrap()]);
    assert_code(&o, 0);
    assert_eq!((tree(&bare), local_config(&bare)), pristine);
}

#[test]
fn an_existing_hook_is_chained_with_the_same_input_and_restored() {
    let t = tempfile::tempdir().unwrap();
    let bare = t.path().join("s.git");
    init_bare(&bare);
    let seen = t.path().join("seen.txt");
    let old = format!("#!/bin/sh\ncat > '{}'\necho old-hook-ran\n", seen.display());
    std::fs::write(bare.join("hooks/pre-receive"), &old).unwrap();
    set_mode(bare.join("hooks/pre-receive"), 0o750);
    let pristine = tree(&bare);

    let o = install_with_policy(t.path(), &["--host", "http"], &bare);
    assert_code(&o, 0);
    assert_contains(&stdout(&o), "pre-receive.guard-chained");

    let work = t.path().join("w");
    init_repo(&work);
    let head = commit_file(&work, "a.txt", "a\n", "a");
    let o = git_cmd(&work)
        .env("REMOTE_USER", "alice")
        .args(["push", bare.to_str().unwrap(), "main"])
        .output()
        .unwrap();
    assert_code(&o, 0);
    assert!(
        remote_lines(&o).iter().any(|l| l == "old-hook-ran"),
        "{}",
        stderr(&o)
    );
    let zero = "0".repeat(40);
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap(),
        format!("{zero} {head} refs/heads/main\n")
    );

    // A rejected push does not reach the old hook.
    std::fs::remove_file(&seen).unwrap();
    git(&work, &["switch", "-q", "-c", "agent/x"]);
    commit_file(&work, ".env", "x\n", "env");
    let o = git_cmd(&work)
        .env("REMOTE_USER", "bot")
        .args(["push", bare.to_str().unwrap(), "agent/x"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(!seen.exists());

    let o = guard(t.path(), &["uninstall", bare.to_str().unwrap()]);
    assert_code(&o, 0);
    let mut now = tree(&bare);
    now.retain(|k, _| {
        !k.starts_with("guard/")
            && !k.starts_with("objects/")
            && !k.starts_with("refs/")
            && k != "packed-refs"
            && k != "logs"
    });
    let mut was = pristine;
    was.retain(|k, _| !k.starts_with("objects/") && !k.starts_with("refs/"));
    assert_eq!(now, was);
}

#[test]
fn a_foreign_chained_file_is_never_overwritten() {
    let t = tempfile::tempdir().unwrap();
    let bare = t.path().join("s.git");
    init_bare(&bare);
    std::fs::write(bare.join("hooks/pre-receive"), "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::write(
        bare.join("hooks/pre-receive.guard-chained"),
        "#!/bin/sh\nexit 0\n",
    )
    .unwrap();
    let before = tree(&bare);
    let o = install(t.path(), &[], &bare);
    assert!(!o.status.success());
    assert_contains(&stderr(&o), "cannot keep both");
    assert_eq!(tree(&bare), before, "a refused install touches nothing");
}

#[test]
fn an_existing_core_hooks_path_keeps_running_and_is_restored() {
    let t = tempfile::tempdir().unwrap();
    let work = t.path().join("w");
    init_repo(&work);
    commit_file(&work, "README.md", "x\n", "seed");
    git(&work, &["switch", "-q", "-c", "agent/x"]);
    let marker = t.path().join("githooks-ran");
    write(
        &work,
        ".githooks/pre-commit",
        format!("#!/bin/sh\ntouch '{}'\n", marker.display()),
    );
    set_mode(work.join(".githooks/pre-commit"), 0o755);
    commit_all(&work, "hooks");
    git(&work, &["config", "core.hooksPath", ".githooks"]);
    let policy = policy_file(t.path(), "");
    let o = install(t.path(), &["--policy", policy.to_str().unwrap()], &work);
    assert_code(&o, 0);
    let hp = git(&work, &["config", "core.hooksPath"]);
    assert!(hp.trim().ends_with("guard/hooks"), "{hp}");

    write(&work, "a.txt", "a\n");
    git(&work, &["add", "a.txt"]);
    git(&work, &["commit", "-q", "-m", "a"]);
    assert!(marker.exists(), "the hooksPath hook still ran");
    write(&work, "b.pem", "k\n");
    git(&work, &["add", "b.pem"]);
    let o = git_out(&work, &["commit", "-q", "-m", "b"]);
    assert!(
        !o.status.success() && stderr(&o).contains("paths.deny"),
        "{}",
        stderr(&o)
    );

    // Twice is once.
    let o = install(t.path(), &["--policy", policy.to_str().unwrap()], &work);
    assert!(
        stdout(&o).contains("nothing changed"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    let o = guard(t.path(), &["uninstall", work.to_str().unwrap()]);
    assert_code(&o, 0);
    assert_eq!(
        git(&work, &["config", "core.hooksPath"]).trim(),
        ".githooks"
    );
    assert!(!work.join(".git/guard/hooks").exists());
}

#[test]
fn an_older_shim_is_upgraded() {
    let t = tempfile::tempdir().unwrap();
    let bare = t.path().join("s.git");
    init_bare(&bare);
    install(t.path(), &[], &bare);
    let shim = bare.join("hooks/pre-receive");
    let current = std::fs::read_to_string(&shim).unwrap();
    let old = current
        .replace(&format!("v{}", env!("CARGO_PKG_VERSION")), "v0.0.1")
        .replace("--shim", "--old-flag");
    std::fs::write(&shim, old).unwrap();
    let o = install(t.path(), &[], &bare);
    assert_contains(&stdout(&o), "pre-receive: upgraded");
    assert_eq!(std::fs::read_to_string(&shim).unwrap(), current);
}

/// Gitea's own per-repository pre-receive: it runs every executable in pre-receive.d/, each
/// with the same input.
const GITEA_DISPATCHER: &str = r#"#!/usr/bin/env bash
data=$(cat)
exitcodes=""
hookname=$(basename $0)
GIT_DIR=${GIT_DIR:-$(dirname $0)/..}
for hook in ${GIT_DIR}/hooks/${hookname}.d/*; do
  test -x "${hook}" && test -f "${hook}" || continue
  echo "${data}" | "${hook}"
  exitcodes="${exitcodes} $?"
done
for i in ${exitcodes}; do
  [ ${i} -eq 0 ] || exit ${i}
done
"#;

#[test]
fn gitea_layout_runs_beside_giteas_own_hook() {
    let t = tempfile::tempdir().unwrap();
    let bare = t.path().join("s.git");
    init_bare(&bare);
    for h in ["pre-receive", "post-receive"] {
        let p = bare.join("hooks").join(h);
        std::fs::write(&p, GITEA_DISPATCHER).unwrap();
        set_mode(&p, 0o755);
        let d = bare.join("hooks").join(format!("{h}.d"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("gitea"),
            "#!/bin/sh\ncat >/dev/null\necho gitea-hook-ran\n",
        )
        .unwrap();
        set_mode(d.join("gitea"), 0o755);
    }
    let pristine = tree(&bare);
    let o = install_with_policy(t.path(), &["--layout", "gitea"], &bare);
    assert_code(&o, 0);
    assert!(bare.join("hooks/pre-receive.d/git-guard").exists());
    assert_eq!(
        std::fs::read_to_string(bare.join("hooks/pre-receive")).unwrap(),
        GITEA_DISPATCHER
    );

    let work = t.path().join("w");
    init_repo(&work);
    git(&work, &["switch", "-q", "-c", "agent/x"]);
    commit_file(&work, ".env", "x\n", "env");
    let o = git_cmd(&work)
        .env("GITEA_PUSHER_NAME", "bot")
        .args(["push", bare.to_str().unwrap(), "agent/x"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let lines = remote_lines(&o);
    assert!(
        lines.iter().any(|l| l.contains("paths.deny")),
        "{}",
        stderr(&o)
    );
    assert!(
        lines.iter().any(|l| l == "gitea-hook-ran"),
        "{}",
        stderr(&o)
    );

    let o = guard(t.path(), &["uninstall", bare.to_str().unwrap()]);
    assert_code(&o, 0);
    let mut now = tree(&bare);
    now.retain(|k, _| k.starts_with("hooks/"));
    let mut was = pristine;
    was.retain(|k, _| k.starts_with("hooks/"));
    assert_eq!(now, was);
}

#[test]
fn gitlab_layout_uses_custom_hooks_and_refuses_a_foreign_file() {
    let t = tempfile::tempdir().unwrap();
    let bare = t.path().join("s.git");
    init_bare(&bare);
    let o = install(t.path(), &["--layout", "gitlab"], &bare);
    assert_code(&o, 0);
    let shim = bare.join("custom_hooks/pre-receive.d/git-guard");
    assert!(
        std::fs::read_to_string(&shim)
            .unwrap()
            .contains("# git-guard-shim v")
    );
    let config = std::fs::read_to_string(bare.join("custom_hooks/git-guard.toml")).unwrap();
    assert_contains(&config, "host = \"gitlab\"");
    guard(t.path(), &["uninstall", bare.to_str().unwrap()]);
    assert!(!bare.join("custom_hooks").exists());

    std::fs::create_dir_all(bare.join("custom_hooks/pre-receive.d")).unwrap();
    std::fs::write(
        bare.join("custom_hooks/pre-receive.d/git-guard"),
        "#!/bin/sh\nexit 0\n",
    )
    .unwrap();
    let o = install(t.path(), &["--layout", "gitlab"], &bare);
    assert!(!o.status.success());
    assert_contains(&stderr(&o), "is not git-guard's");
}

#[test]
fn a_broken_policy_is_refused_at_install() {
    let t = tempfile::tempdir().unwrap();
    let bare = t.path().join("s.git");
    init_bare(&bare);
    let p = t.path().join("bad.toml");
    std::fs::write(&p, "[refs]\nprotectd = []\n").unwrap();
    let o = install(t.path(), &["--policy", p.to_str().unwrap()], &bare);
    assert!(!o.status.success());
    assert_contains(&stderr(&o), "protectd");
    assert!(!bare.join("hooks/git-guard.toml").exists());
}

#[test]
fn uninstall_beside_core_hooks_path_leaves_no_empty_guard_directory() {
    let (_t, repo) = tmp_repo();
    git(&repo, &["config", "core.hooksPath", "myhooks"]);
    guard_ok(&repo, &["install"]);
    assert!(repo.join(".git/guard/hooks/git-guard.toml").is_file());
    guard_ok(&repo, &["uninstall"]);
    assert!(
        !repo.join(".git/guard").exists(),
        "uninstall left .git/guard behind"
    );
}
