//! `git guard workspace`: made from a real upstream, used as the agent would, and kept whole
//! when the upstream prunes.

mod support;

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use support::git::*;
use support::server::install_server;
use support::user::with_user;
use support::workspace::*;

/// An upstream with `main` (two commits) and `feature` (one commit of its own).
fn upstream(dir: &Path) {
    init_repo(dir);
    write(dir, "README.md", "hello\n");
    write(dir, "src/lib.rs", "pub fn f() {}\n");
    commit_all(dir, "first");
    git(dir, &["branch", "feature"]);
    commit_file(dir, "src/lib.rs", "pub fn f() -> u8 { 1 }\n", "second");
    git(dir, &["checkout", "-q", "feature"]);
    commit_file(dir, "feature.txt", "only on feature\n", "feature work");
    git(dir, &["checkout", "-q", "main"]);
}

/// The upstream `dir/up` (from `upstream`) and where its workspace goes, `dir/ws`.
fn upstream_in(dir: &Path) -> (PathBuf, PathBuf) {
    let up = dir.join("up");
    upstream(&up);
    (up, dir.join("ws"))
}

/// `upstream_in` a new temp directory: the directory, the upstream and the workspace's root.
fn upstream_in_tmp() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let (up, root) = upstream_in(t.path());
    (t, up, root)
}

fn create(up: &Path, root: &Path, extra: &[&str]) -> std::process::Output {
    create_workspace(up.parent().unwrap(), up, root, extra)
}

/// git in the clone as the agent runs it: the client hooks of DIR/hooks active.
fn agent_git(code: &Path, args: &[&str]) -> String {
    git(code, args)
}

/// The same, returning the whole output whatever the status.
fn agent_try(code: &Path, args: &[&str]) -> std::process::Output {
    git_out(code, args)
}

fn status_text(t: &Path, root: &Path) -> String {
    let st = workspace_cmd(t, "status", root);
    assert_code(&st, 0);
    stdout(&st)
}

/// A bare upstream `t/up.git`, cloned from `t/src` (made by `upstream`).
fn bare_upstream(t: &Path) -> PathBuf {
    let src = t.join("src");
    upstream(&src);
    clone_bare(t, &src, "up.git")
}

/// A bare upstream (from `upstream`) guarded by git-guard's real server hooks.
fn guarded_upstream(t: &Path) -> PathBuf {
    let bare = bare_upstream(t);
    install_server(t, &bare, &[]);
    assert!(bare.join("hooks/pre-receive").is_file());
    bare
}

#[test]
fn create_lays_out_the_workspace() {
    let (_t, up, root) = upstream_in_tmp();
    let out = create(&up, &root, &["--topic", "fix-1"]);
    let text = stdout_of(&out, 0);
    assert_contains(&text, "branch agent/fix-1");
    assert!(
        text.contains("files       reflinked") || text.contains("files       copied"),
        "the upstream has a clean working tree at main: files are reflinked or copied\n{text}"
    );
    assert_contains(&text, "took");
    for d in ["code-repo", "sandbox", "hooks", "deployments", "logs"] {
        assert!(root.join(d).is_dir(), "{d} missing");
    }
    let code = root.join("code-repo");
    assert_eq!(
        git(&code, &["symbolic-ref", "--short", "HEAD"]).trim(),
        "agent/fix-1"
    );
    assert_eq!(
        git(&code, &["rev-parse", "HEAD"]),
        git(&up, &["rev-parse", "main"])
    );
    assert_eq!(
        git(&code, &["config", "remote.origin.url"]).trim(),
        up.canonicalize().unwrap().to_str().unwrap()
    );
    let root_c = root.canonicalize().unwrap();
    assert_eq!(
        git(&code, &["config", "core.hooksPath"]).trim(),
        root_c.join("hooks").to_str().unwrap()
    );
    // Objects are borrowed, not copied.
    let alternates = std::fs::read_to_string(code.join(".git/objects/info/alternates")).unwrap();
    assert_contains(&alternates, "up/.git/objects");
    assert_eq!(
        git(&code, &["count-objects", "-v"])
            .lines()
            .find(|l| l.starts_with("count:"))
            .unwrap(),
        "count: 0"
    );
    assert_eq!(git(&code, &["status", "--porcelain"]), "");
    assert_eq!(
        std::fs::read_to_string(code.join("src/lib.rs")).unwrap(),
        "pub fn f() -> u8 { 1 }\n"
    );
    let guard_hook = bin("guard-hook");
    for h in [
        "pre-commit",
        "commit-msg",
        "pre-push",
        "reference-transaction",
    ] {
        let shim = std::fs::read_to_string(root.join("hooks").join(h)).unwrap();
        assert!(
            shim.starts_with("#!/bin/sh\n# git-guard-shim v"),
            "hook {h}:\n{shim}"
        );
        // The shim runs guard-hook by its absolute path, not whatever the agent's PATH holds.
        assert!(
            shim.contains(&format!("exec '{}' --config", guard_hook.display())),
            "hook {h}:\n{shim}"
        );
        let mode = std::fs::metadata(root.join("hooks").join(h))
            .unwrap()
            .mode();
        assert_eq!(mode & 0o777, 0o755, "hook {h}");
    }
    // The shims' configuration names the workspace's recorded policy.
    let config = std::fs::read_to_string(root.join("hooks/git-guard.toml")).unwrap();
    assert_contains(&config, "side = \"client\"");
    assert_contains(
        &config,
        &format!(
            "policy = \"{}\"",
            root_c.join("hooks/policy.toml").display()
        ),
    );
    assert!(root.join("hooks/policy.toml").is_file());
    assert!(!root.join("hooks/policy-path").exists());
    assert_contains(
        &text,
        &format!("client shims running {}", guard_hook.display()),
    );
    let env = std::fs::read_to_string(root.join("agent.env")).unwrap();
    for k in [
        "AGENT_DATA_ROOT=",
        "AGENT_CODE_REPO_PATH=",
        "AGENT_SANDBOX_PATH=",
        "GIT_AUTHOR_NAME=",
        "GIT_AUTHOR_EMAIL=",
        "GIT_COMMITTER_NAME=",
        "GIT_COMMITTER_EMAIL=",
    ] {
        assert!(env.contains(k), "{k} missing from\n{env}");
    }
    assert!(env.contains(&format!(
        "AGENT_CODE_REPO_PATH='{}'",
        root_c.join("code-repo").display()
    )));
    // The env file is usable by a shell.
    let sh = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            ". '{}' && printf %s \"$AGENT_SANDBOX_PATH\"",
            root.join("agent.env").display()
        ))
        .output()
        .unwrap();
    assert_eq!(stdout(&sh), root_c.join("sandbox").to_str().unwrap());

    // A second create into the same directory is refused.
    let again = create(&up, &root, &[]);
    assert_eq!(again.status.code(), Some(2));
    assert_contains(&stderr(&again), "not empty");
}

#[test]
fn create_from_a_bare_upstream_checks_out_and_says_so() {
    let t = tempfile::tempdir().unwrap();
    let bare = bare_upstream(t.path());
    let root = t.path().join("ws");
    let out = create(&bare, &root, &["--base", "feature"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("checked out") && stdout(&out).contains("bare"),
        "{}",
        stdout(&out)
    );
    assert!(root.join("code-repo/feature.txt").is_file());
    assert_eq!(
        git(
            &root.join("code-repo"),
            &["symbolic-ref", "--short", "HEAD"]
        )
        .trim(),
        "agent/ws"
    );
}

#[test]
fn a_failed_create_leaves_nothing_behind() {
    let (_t, up, root) = upstream_in_tmp();
    let out = create(&up, &root, &["--topic", "bad..name"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(!root.exists());
    assert_eq!(
        git(&up, &["for-each-ref", "refs/guard/"]),
        "",
        "no keep-alive ref left"
    );
}

#[test]
fn shared_clone_survives_upstream_gc_after_branch_delete() {
    let (t, up, root) = upstream_in_tmp();
    let out = create(&up, &root, &["--base", "feature", "--topic", "f"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let code = root.join("code-repo");
    // The agent builds on the feature branch.
    write(&code, "notes.txt", "agent's note\n");
    agent_git(&code, &["add", "-A"]);
    agent_git(&code, &["commit", "-q", "-m", "agent work"]);

    // Control: the same history in a second upstream, with a plain shared clone of it (no
    // keep-alive refs), treated the same way.
    let up2 = clone_with(t.path(), &["--mirror"], &up, "up2");
    git(
        &up2,
        &["for-each-ref", "--format=delete %(refname)", "refs/guard/"],
    )
    .lines()
    .for_each(|l| {
        git(&up2, &["update-ref", "-d", l.trim_start_matches("delete ")]);
    });
    let plain = clone_with(t.path(), &["--shared", "-b", "feature"], &up2, "plain");
    git(&up2, &["branch", "-D", "feature"]);
    git(&up2, &["reflog", "expire", "--expire=now", "--all"]);
    git(&up2, &["gc", "-q", "--prune=now"]);

    // The upstream drops the branch and prunes everything unreachable.
    git(&up, &["branch", "-D", "feature"]);
    git(&up, &["reflog", "expire", "--expire=now", "--all"]);
    git(&up, &["gc", "-q", "--prune=now"]);

    let control = git_out(&plain, &["fsck", "--no-dangling"]);
    assert!(
        !control.status.success(),
        "the control clone should be broken by the prune, or this test proves nothing"
    );

    let fsck = git_out(&code, &["fsck", "--no-dangling"]);
    assert!(
        fsck.status.success(),
        "workspace broken: {}{}",
        stdout(&fsck),
        stderr(&fsck)
    );
    let log = git(&code, &["log", "--format=%s"]);
    assert_eq!(log, "agent work\nfeature work\nfirst\n");
    assert_eq!(
        std::fs::read_to_string(code.join("feature.txt")).unwrap(),
        "only on feature\n"
    );
}

#[test]
fn status_reset_and_remove() {
    let (t, up, root) = upstream_in_tmp();
    assert!(create(&up, &root, &["--topic", "s"]).status.success());
    let code = root.join("code-repo");
    write(&code, "src/new.rs", "pub fn g() {}\n");
    agent_git(&code, &["add", "-A"]);
    agent_git(&code, &["commit", "-q", "-m", "agent: add g"]);
    // The upstream moves on too.
    commit_file(&up, "CHANGELOG", "x\n", "upstream moves");

    let st = workspace_cmd(t.path(), "status", &root);
    let text = stdout(&st);
    assert!(
        text.contains("branch      agent/s"),
        "{text}{}",
        stderr(&st)
    );
    assert_contains(&text, "1 ahead, 1 behind");
    assert_contains(&text, "  findings    ");
    // guard-exec's log shows in status.
    let ge = guard_cmd("guard-exec", t.path())
        .arg("--root")
        .arg(&root)
        .args(["--", "git", "push"])
        .output()
        .unwrap();
    assert_eq!(ge.status.code(), Some(1));
    let st = workspace_cmd(t.path(), "status", &root);
    assert_contains(
        &stdout(&st),
        "last exec   exec git push: denied [commands.push]",
    );

    // Reset: a fresh clone at the upstream's tip; the sandbox is kept.
    write(&root, "sandbox/keep.txt", "scratch\n");
    write(&code, "untracked.tmp", "x\n");
    let rs = workspace_cmd(t.path(), "reset", &root);
    assert!(rs.status.success(), "{}", stderr(&rs));
    assert_contains(&stdout(&rs), "discarded   1 local commit");
    assert_eq!(
        git(&code, &["rev-parse", "HEAD"]),
        git(&up, &["rev-parse", "main"])
    );
    assert_eq!(
        git(&code, &["symbolic-ref", "--short", "HEAD"]).trim(),
        "agent/s"
    );
    assert!(!code.join("untracked.tmp").exists());
    assert!(!code.join("src/new.rs").exists());
    assert!(root.join("sandbox/keep.txt").exists());
    assert_eq!(git(&code, &["status", "--porcelain"]), "");

    // Remove: the directory and the keep-alive refs go.
    assert_ne!(git(&up, &["for-each-ref", "refs/guard/workspaces/"]), "");
    let rm = workspace_cmd(t.path(), "remove", &root);
    assert!(rm.status.success(), "{}", stderr(&rm));
    assert!(!root.exists());
    assert_eq!(git(&up, &["for-each-ref", "refs/guard/workspaces/"]), "");
    // Removing something that is not a workspace is refused.
    let rm = workspace_cmd(t.path(), "remove", &up);
    assert_eq!(rm.status.code(), Some(2));
    assert!(up.exists());
}

#[test]
fn agent_user_owns_only_code_repo_and_sandbox() {
    let Some((user, t)) = with_user() else { return };
    let (up, root) = upstream_in(t.path());
    let out = create(&up, &root, &["--agent-user", &user.name, "--topic", "u"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("agent user  {}", user.name)));
    for (p, agent_owned) in [
        ("code-repo", true),
        ("code-repo/.git/config", true),
        ("code-repo/src/lib.rs", true),
        ("sandbox", true),
        ("hooks", false),
        ("hooks/pre-commit", false),
        ("hooks/policy.toml", false),
        ("deployments", false),
        ("logs", false),
        ("agent.env", false),
        ("workspace.json", false),
        ("", false),
    ] {
        let m = std::fs::symlink_metadata(root.join(p)).unwrap();
        assert_eq!(m.uid() == user.uid, agent_owned, "owner of {p:?}");
        if !agent_owned {
            assert_eq!(m.mode() & 0o022, 0, "{p:?} is group or world writable");
        }
    }
    // The agent works in its clone as itself.
    let code = root.join("code-repo");
    let home = root.join("sandbox");
    let as_agent = |args: &[&str]| {
        let mut c = git_cmd(&code);
        c.args(args);
        user.apply(&mut c, &home).output().unwrap()
    };
    write(&code, "src/agent.rs", "pub fn a() {}\n");
    let o = as_agent(&["add", "-A"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = as_agent(&["commit", "-q", "-m", "as agent"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The client hooks ran as the agent, and judge the agent.
    write(&code, ".env", "TOKEN=x\n");
    assert!(as_agent(&["add", ".env"]).status.success());
    let o = as_agent(&["commit", "-q", "-m", "secret"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_contains(&stderr(&o), "paths.deny");
    assert_contains(&stderr(&o), &format!("judged as {} (agent)", user.name));
    assert!(as_agent(&["rm", "-q", "--cached", ".env"]).status.success());
    std::fs::remove_file(code.join(".env")).unwrap();
    // ...and cannot write the hooks: not change a shim, its configuration or the policy, not
    // add or replace a file in DIR/hooks, not point the configuration elsewhere.
    for attempt in [
        format!("echo x >> '{}'", root.join("hooks/pre-commit").display()),
        format!(
            "echo x >> '{}'",
            root.join("hooks/git-guard.toml").display()
        ),
        format!("echo x >> '{}'", root.join("hooks/policy.toml").display()),
        format!("echo x > '{}'", root.join("hooks/pre-rebase").display()),
        format!(
            "mv '{}' '{}'",
            root.join("hooks/pre-commit").display(),
            root.join("sandbox/pre-commit").display()
        ),
        format!("chmod 777 '{}'", root.join("hooks").display()),
    ] {
        let mut c = std::process::Command::new("sh");
        c.arg("-c").arg(&attempt);
        let o = user.apply(&mut c, &home).output().unwrap();
        assert!(!o.status.success(), "the agent could: {attempt}");
    }
    assert!(!root.join("hooks/pre-rebase").exists());
    let m = std::fs::metadata(root.join("hooks")).unwrap();
    assert_eq!((m.uid(), m.mode() & 0o777), (0, 0o755));

    // Status run by root reads the clone as the agent (no dubious-ownership failure).
    let st = workspace_cmd(t.path(), "status", &root);
    assert!(st.status.success(), "{}", stderr(&st));
    assert_contains(&stdout(&st), "1 ahead, 0 behind");
    // Reset gives the fresh clone to the agent again.
    let rs = workspace_cmd(t.path(), "reset", &root);
    assert!(rs.status.success(), "{}", stderr(&rs));
    assert_eq!(std::fs::metadata(&code).unwrap().uid(), user.uid);
    assert_eq!(
        std::fs::metadata(code.join(".git/HEAD")).unwrap().uid(),
        user.uid
    );
    let rm = workspace_cmd(t.path(), "remove", &root);
    assert!(rm.status.success(), "{}", stderr(&rm));
}

/// The agent's day, through the real hooks: the client hooks block and flag early, the
/// server's pre-receive holds when the agent skips them.
#[test]
fn agent_commits_and_pushes_through_the_guard() {
    let t = tempfile::tempdir().unwrap();
    let up = guarded_upstream(t.path());
    let root = t.path().join("ws");
    let out = create(&up, &root, &["--topic", "t"]);
    assert_code(&out, 0);
    let code = root.join("code-repo");

    // A secret file: pre-commit refuses, naming the rule and the path.
    write(&code, ".env", "API_TOKEN=abc\n");
    agent_git(&code, &["add", ".env"]);
    let o = agent_try(&code, &["commit", "-q", "-m", "add env"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("paths.deny") && err.contains(".env"), "{err}");
    assert_contains(&err, "git-guard: REJECTED");
    assert_eq!(
        agent_git(&code, &["rev-list", "--count", "HEAD"]).trim(),
        "2"
    );
    agent_git(&code, &["rm", "-q", "--cached", ".env"]);
    std::fs::remove_file(code.join(".env")).unwrap();

    // Over the cap of 10 files a commit.
    for i in 0..11 {
        write(&code, &format!("gen/f{i}.txt"), format!("{i}\n"));
    }
    agent_git(&code, &["add", "-A"]);
    let o = agent_try(&code, &["commit", "-q", "-m", "too much"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_contains(&stderr(&o), "caps.files");
    agent_git(&code, &["rm", "-q", "-r", "--cached", "gen"]);
    std::fs::remove_dir_all(code.join("gen")).unwrap();

    // A test change: accepted, and flagged.
    write(&code, "tests/it.rs", "#[test]\nfn t() {}\n");
    write(&code, "src/lib.rs", "pub fn f() -> u8 { 2 }\n");
    agent_git(&code, &["add", "-A"]);
    let o = agent_try(
        &code,
        &["commit", "-q", "-m", "agent: f returns 2, with a test"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("tests.changed") && err.contains("tests/it.rs"),
        "{err}"
    );
    assert_contains(&err, "git-guard: PASSED: 0 violations, 1 flag");
    let good = agent_git(&code, &["rev-parse", "HEAD"]);

    // The agent's branch is pushed; pre-push and the server's pre-receive both pass it.
    let o = agent_try(&code, &["push", "-q", "origin", "agent/t"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(git(&up, &["rev-parse", "refs/heads/agent/t"]), good);

    // Status shows the outstanding flag and the server's verdict on the push.
    let st = status_text(t.path(), &root);
    assert_contains(&st, "findings    1 outstanding");
    assert_contains(&st, "flag tests.changed: tests/it.rs");
    assert_contains(
        &st,
        "last push   pre-receive push refs/heads/agent/t: passed [tests.changed]",
    );

    // The agent skips its client hooks: the commit lands locally, the server refuses it.
    write(&code, ".env", "API_TOKEN=abc\n");
    agent_git(&code, &["add", ".env"]);
    agent_git(&code, &["commit", "-q", "--no-verify", "-m", "sneak env"]);
    for skip in [
        &["push", "--no-verify", "origin", "agent/t"][..],
        &[
            "-c",
            "core.hooksPath=/dev/null",
            "push",
            "origin",
            "agent/t",
        ][..],
    ] {
        let o = agent_try(&code, skip);
        assert!(!o.status.success(), "{skip:?} was accepted");
        let err = stderr(&o);
        assert!(err.contains("remote: error[paths.deny]"), "{skip:?}: {err}");
        assert!(err.contains("pre-receive hook declined"), "{skip:?}: {err}");
        assert_eq!(git(&up, &["rev-parse", "refs/heads/agent/t"]), good);
    }
    // The same commit made with the hooks switched off for the commit too.
    agent_git(&code, &["reset", "-q", "--hard", "HEAD~1"]);
    write(&code, ".env", "API_TOKEN=abc\n");
    agent_git(&code, &["add", ".env"]);
    agent_git(
        &code,
        &[
            "-c",
            "core.hooksPath=/dev/null",
            "commit",
            "-q",
            "-m",
            "env",
        ],
    );
    let o = agent_try(
        &code,
        &[
            "-c",
            "core.hooksPath=/dev/null",
            "push",
            "origin",
            "agent/t",
        ],
    );
    assert_contains(&stderr(&o), "remote: error[paths.deny]");
    // Nor may the agent push its work to the protected branch, hooks or not.
    let o = agent_try(
        &code,
        &[
            "push",
            "--no-verify",
            "origin",
            &format!("{}:refs/heads/main", good.trim()),
        ],
    );
    assert!(!o.status.success());
    assert_contains(&stderr(&o), "remote: error[refs.protected]");
    assert_eq!(
        git(&up, &["rev-parse", "main"]),
        git(&t.path().join("src"), &["rev-parse", "main"])
    );
    let st = status_text(t.path(), &root);
    assert_contains(
        &st,
        "last push   pre-receive push refs/heads/agent/t: rejected [paths.deny",
    );
    assert_contains(&st, "violation paths.deny: .env");
}

#[test]
fn agent_env_sourced_reaches_the_programs_run_next() {
    let t = tempfile::tempdir().unwrap();
    let (_up, root) = small_workspace(t.path(), None);
    let env = root.join("agent.env");
    // As the README says: source the file, then run programs. They must see the variables.
    let mut sh = std::process::Command::new("sh");
    hermetic(&mut sh);
    let o = sh
        .current_dir(t.path())
        .env_remove("AGENT_DATA_ROOT")
        .env_remove("GIT_AUTHOR_NAME")
        .arg("-c")
        .arg(format!(
            ". '{}' && printenv AGENT_DATA_ROOT GIT_AUTHOR_NAME && guard-exec --check -- 'ls'",
            env.display()
        ))
        .output()
        .unwrap();
    assert_code(&o, 0);
    let root_c = root.canonicalize().unwrap();
    assert_contains(&stdout(&o), root_c.to_str().unwrap());
    assert_contains(&stdout(&o), "agent (ws)");
    assert_contains(&stderr(&o), "guard-exec: allowed: ls");
}

#[test]
fn create_without_policy_takes_the_upstreams_installed_policy_and_check_uses_it() {
    let t = tempfile::tempdir().unwrap();
    let (bare, policy) = support::server::policy_server(t.path(), "[caps]\nmax_files = 3\n", &[]);
    let root = t.path().join("ws");
    let o = create_workspace(t.path(), &bare, &root, &["--topic", "fix"]);
    assert_code(&o, 0);
    assert_contains(&stdout(&o), &format!("(from {})", policy.display()));
    assert_eq!(
        std::fs::read_to_string(root.join("hooks/policy.toml")).unwrap(),
        std::fs::read_to_string(&policy).unwrap()
    );
    // `git guard check` in the clone judges by the clone's hooks' policy, and says so.
    let code = root.join("code-repo");
    for i in 0..4 {
        write(&code, &format!("f{i}.txt"), "x\n");
    }
    git(&code, &["add", "-A"]);
    let o = guard(&code, &["check", "--staged"]);
    assert_code(&o, 1);
    assert_contains(&stdout(&o), "caps.files");
    assert_contains(
        &stdout(&o),
        &format!(
            "git-guard: policy: {}",
            root.canonicalize()
                .unwrap()
                .join("hooks/policy.toml")
                .display()
        ),
    );
    let o = guard(&code, &["policy", "explain", "f0.txt"]);
    assert_contains(
        &stdout(&o),
        &format!(
            "policy: {}",
            root.canonicalize()
                .unwrap()
                .join("hooks/policy.toml")
                .display()
        ),
    );
}
