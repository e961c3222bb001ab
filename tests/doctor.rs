//! `git guard doctor`: what it finds on a real workspace, with a real second unix user where
//! the test may create one.

mod common;
#[path = "support_workspace.rs"]
mod support;

use std::path::{Path, PathBuf};

use common::*;

fn setup(t: &Path, agent: Option<&str>) -> (PathBuf, PathBuf) {
    let up = t.join("up");
    init_repo(&up);
    write(&up, "README.md", "hi\n");
    commit_all(&up, "first");
    let root = t.join("ws");
    let mut c = guard_cmd("git-guard", t);
    c.args(["workspace", "create", "--from"])
        .arg(&up)
        .arg("--root")
        .arg(&root);
    if let Some(a) = agent {
        c.args(["--agent-user", a]);
    }
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    (up, root)
}

/// What a server install leaves: a pre-receive hook that runs guard-hook.
fn fake_server_guard(up: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let hook = up.join(".git/hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\nexec guard-hook pre-receive \"$@\"\n").unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn doctor(t: &Path, args: &[&str]) -> (Option<i32>, String) {
    let o = guard_cmd("git-guard", t)
        .arg("doctor")
        .args(args)
        .output()
        .unwrap();
    (o.status.code(), stdout(&o) + &stderr(&o))
}

#[test]
fn without_an_agent_user_it_says_what_it_could_not_check() {
    let t = tempfile::tempdir().unwrap();
    let (up, root) = setup(t.path(), None);
    let r = root.to_str().unwrap();
    let (code, text) = doctor(t.path(), &["--root", r]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("HIGH   server-guard-missing"), "{text}");
    assert!(text.contains("INFO   client-hooks-skippable"), "{text}");
    assert!(text.contains("the upstream's pre-receive"), "{text}");
    assert!(text.contains("CANNOT CHECK: no agent user"), "{text}");
    fake_server_guard(&up);
    let (code, text) = doctor(t.path(), &["--root", r]);
    assert_eq!(code, Some(2), "{text}");
    assert!(!text.contains("server-guard-missing"), "{text}");
    // The clone's hooks switched off by the agent are noticed.
    git(
        &root.join("code-repo"),
        &["config", "core.hooksPath", "/dev/null"],
    );
    let (_, text) = doctor(t.path(), &["--root", r]);
    assert!(text.contains("MEDIUM client-hooks-off"), "{text}");
    // Nothing to examine cannot be checked.
    let (code, _) = doctor(t.path(), &[]);
    assert_eq!(code, Some(2));
}

#[test]
fn with_a_real_agent_user_it_finds_every_writable_wall() {
    let user = match support::TestUser::create() {
        Ok(u) => u,
        Err(why) => {
            return support::skip("with_a_real_agent_user_it_finds_every_writable_wall", &why);
        }
    };
    let t = tempfile::tempdir().unwrap();
    support::open_up(t.path());
    let (up, root) = setup(t.path(), Some(&user.name));
    fake_server_guard(&up);
    let r = root.to_str().unwrap();

    // As made: nothing high.
    let (code, text) = doctor(t.path(), &["--root", r]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("INFO   push-path-local"), "{text}");
    assert!(!text.contains("HIGH"), "{text}");

    // A hooks directory the agent can write.
    let chmod = |p: &Path, mode: &str| {
        let o = std::process::Command::new("chmod")
            .args([mode])
            .arg(p)
            .output()
            .unwrap();
        assert!(o.status.success());
    };
    chmod(&root.join("hooks/policy.toml"), "o+w");
    let (code, text) = doctor(t.path(), &["--root", r]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("HIGH   hooks-writable"), "{text}");
    assert!(text.contains("HIGH   policy-writable"), "{text}");
    chmod(&root.join("hooks/policy.toml"), "o-w");

    // The upstream's refs writable through the agent's group.
    let chgrp = std::process::Command::new("chgrp")
        .args(["-R", &user.name])
        .arg(up.join(".git/refs"))
        .output()
        .unwrap();
    assert!(chgrp.status.success());
    let o = std::process::Command::new("chmod")
        .args(["-R", "g+w"])
        .arg(up.join(".git/refs"))
        .output()
        .unwrap();
    assert!(o.status.success());
    let (code, text) = doctor(t.path(), &["--root", r]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("HIGH   upstream-refs-writable"), "{text}");

    // The upstream owned by the agent: receive-pack would run as the agent.
    let o = std::process::Command::new("chown")
        .args(["-R", &user.name])
        .arg(&up)
        .output()
        .unwrap();
    assert!(o.status.success());
    let (code, text) = doctor(t.path(), &["--root", r, "--agent-user", &user.name]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("HIGH   upstream-owned-by-agent"), "{text}");
    assert!(text.contains("HIGH   upstream-hooks-writable"), "{text}");

    // A repository alone, with the agent user named.
    let (code, text) = doctor(
        t.path(),
        &["--agent-user", &user.name, up.to_str().unwrap()],
    );
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("upstream-owned-by-agent"), "{text}");
}

#[test]
fn an_agent_in_a_privileged_group_is_high() {
    let user = match support::TestUser::create() {
        Ok(u) => u,
        Err(why) => return support::skip("an_agent_in_a_privileged_group_is_high", &why),
    };
    let t = tempfile::tempdir().unwrap();
    support::open_up(t.path());
    let (up, root) = setup(t.path(), Some(&user.name));
    fake_server_guard(&up);
    // `disk` exists on Debian-like systems; add the group when it does not.
    let _ = std::process::Command::new("groupadd").arg("disk").output();
    let o = std::process::Command::new("usermod")
        .args(["-aG", "disk", &user.name])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let (code, text) = doctor(t.path(), &["--root", root.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("HIGH   agent-privileged-group"), "{text}");
}
