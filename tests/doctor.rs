//! `git guard doctor`: what it finds on a real workspace, with a real second unix user where
//! the test may create one.

mod support;

use std::path::{Path, PathBuf};

use support::git::*;
use support::server::install_server;
use support::user::with_user;
use support::workspace::small_workspace;

/// A workspace for `agent` whose upstream has the real server hooks: the upstream and the
/// workspace.
fn guarded_workspace(t: &Path, agent: &str) -> (PathBuf, PathBuf) {
    let (up, root) = small_workspace(t, Some(agent));
    install_server(t, &up, &[]);
    (up, root)
}

fn bare_repo(t: &Path, name: &str) -> PathBuf {
    let p = t.join(name);
    init_bare(&p);
    p
}

/// How doctor names a plain-layout server guard at `hook`.
fn plain_guard(hook: &Path) -> String {
    format!("server-guard: {} (plain layout)", hook.display())
}

/// Run `prog ARGS PATH`, which must succeed.
fn run_on(prog: &str, args: &[&str], path: &Path) {
    let o = std::process::Command::new(prog)
        .args(args)
        .arg(path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{prog} {args:?}: {}", stderr(&o));
}

fn chmod_x(p: &Path, on: bool) {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = if on { 0o755 } else { 0o644 };
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
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
    let (up, root) = small_workspace(t.path(), None);
    let r = root.to_str().unwrap();
    let (code, text) = doctor(t.path(), &["--root", r]);
    assert_eq!(code, Some(1), "{text}");
    assert_contains(&text, "HIGH   server-guard-missing");
    assert_contains(&text, "INFO   client-hooks-skippable");
    assert_contains(&text, "the upstream's pre-receive");
    assert_contains(&text, "CANNOT CHECK: no agent user");
    install_server(t.path(), &up, &[]);
    let (code, text) = doctor(t.path(), &["--root", r]);
    assert_eq!(code, Some(2), "{text}");
    assert!(!text.contains("server-guard-missing"), "{text}");
    // The clone's hooks switched off by the agent are noticed.
    git(
        &root.join("code-repo"),
        &["config", "core.hooksPath", "/dev/null"],
    );
    let (_, text) = doctor(t.path(), &["--root", r]);
    assert_contains(&text, "MEDIUM client-hooks-off");
    // Their configuration pointed at another policy.
    assert!(!text.contains("client-hooks-config"), "{text}");
    let cfg = root.join("hooks/git-guard.toml");
    let other = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("hooks/policy.toml", "sandbox/policy.toml");
    std::fs::write(&cfg, other).unwrap();
    let (_, text) = doctor(t.path(), &["--root", r]);
    assert_contains(&text, "MEDIUM client-hooks-config");
    assert_contains(&text, "instead of the recorded");
    // Nothing to examine cannot be checked.
    let (code, _) = doctor(t.path(), &[]);
    assert_eq!(code, Some(2));
}

#[test]
fn with_a_real_agent_user_it_finds_every_writable_wall() {
    let Some((user, t)) = with_user() else { return };
    let (up, root) = guarded_workspace(t.path(), &user.name);
    let r = root.to_str().unwrap();

    // As made: nothing high.
    let (code, text) = doctor(t.path(), &["--root", r]);
    assert_eq!(code, Some(0), "{text}");
    assert_contains(&text, "INFO   push-path-local");
    assert!(!text.contains("HIGH"), "{text}");

    // A hooks directory the agent can write.
    let chmod = |p: &Path, mode: &str| run_on("chmod", &[mode], p);
    chmod(&root.join("hooks/policy.toml"), "o+w");
    let (code, text) = doctor(t.path(), &["--root", r]);
    assert_eq!(code, Some(1), "{text}");
    assert_contains(&text, "HIGH   hooks-writable");
    assert_contains(&text, "HIGH   policy-writable");
    chmod(&root.join("hooks/policy.toml"), "o-w");

    // The upstream's refs writable through the agent's group.
    run_on("chgrp", &["-R", &user.name], &up.join(".git/refs"));
    run_on("chmod", &["-R", "g+w"], &up.join(".git/refs"));
    let (code, text) = doctor(t.path(), &["--root", r]);
    assert_eq!(code, Some(1), "{text}");
    assert_contains(&text, "HIGH   upstream-refs-writable");

    // The upstream owned by the agent: receive-pack would run as the agent.
    run_on("chown", &["-R", &user.name], &up);
    let (code, text) = doctor(t.path(), &["--root", r, "--agent-user", &user.name]);
    assert_eq!(code, Some(1), "{text}");
    assert_contains(&text, "HIGH   upstream-owned-by-agent");
    assert_contains(&text, "HIGH   upstream-hooks-writable");

    // A repository alone, with the agent user named.
    let (code, text) = doctor(
        t.path(),
        &["--agent-user", &user.name, up.to_str().unwrap()],
    );
    assert_eq!(code, Some(1), "{text}");
    assert_contains(&text, "upstream-owned-by-agent");
}

#[test]
fn an_agent_in_a_privileged_group_is_high() {
    let Some((user, t)) = with_user() else { return };
    let (_, root) = guarded_workspace(t.path(), &user.name);
    // `disk` exists on Debian-like systems; add the group when it does not.
    let _ = std::process::Command::new("groupadd").arg("disk").output();
    let o = std::process::Command::new("usermod")
        .args(["-aG", "disk", &user.name])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let (code, text) = doctor(t.path(), &["--root", root.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{text}");
    assert_contains(&text, "HIGH   agent-privileged-group");
}

#[test]
fn server_guard_is_found_where_install_puts_it() {
    let t = tempfile::tempdir().unwrap();
    let guard_hook = bin("guard-hook");
    let found = |repo: &Path| {
        let (code, text) = doctor(repo.parent().unwrap(), &[repo.to_str().unwrap()]);
        assert!(code == Some(1) || code == Some(2), "{text}");
        text
    };

    // Plain layout: <git dir>/hooks/pre-receive.
    let up = bare_repo(t.path(), "plain.git");
    let text = found(&up);
    assert_contains(&text, "HIGH   server-guard-missing");
    install_server(t.path(), &up, &[]);
    let text = found(&up);
    assert!(!text.contains("server-guard-missing"), "{text}");
    assert_contains(
        &text,
        &format!(
            "INFO   server-guard: {} (plain layout) runs {}; configuration {}",
            up.join("hooks/pre-receive").display(),
            guard_hook.display(),
            up.join("hooks/git-guard.toml").display()
        ),
    );
    assert_contains(
        &text,
        &format!("audit log {}", up.join("guard/audit.log").display()),
    );
    // Not executable: git would not run it.
    chmod_x(&up.join("hooks/pre-receive"), false);
    assert!(found(&up).contains("HIGH   server-guard-missing"));
    chmod_x(&up.join("hooks/pre-receive"), true);
    // Uninstalled: gone.
    let o = guard_cmd("git-guard", t.path())
        .arg("uninstall")
        .arg(&up)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(found(&up).contains("HIGH   server-guard-missing"));

    // A hook of someone else's is no guard; installed over it, it is chained and the shim counts.
    let up = bare_repo(t.path(), "chained.git");
    write(&up, "hooks/pre-receive", "#!/bin/sh\nexit 0\n");
    chmod_x(&up.join("hooks/pre-receive"), true);
    assert!(found(&up).contains("HIGH   server-guard-missing"));
    install_server(t.path(), &up, &[]);
    assert!(up.join("hooks/pre-receive.guard-chained").is_file());
    let text = found(&up);
    assert!(!text.contains("server-guard-missing"), "{text}");
    // One guard: the shim; the hook moved aside is not counted as one.
    assert_eq!(text.matches("INFO   server-guard: ").count(), 1, "{text}");
    assert_contains(&text, &plain_guard(&up.join("hooks/pre-receive")));

    // core.hooksPath already set: <git dir>/guard/hooks, which core.hooksPath then names.
    let up = bare_repo(t.path(), "hookspath.git");
    std::fs::create_dir_all(t.path().join("shared-hooks")).unwrap();
    git(
        &up,
        &[
            "config",
            "core.hooksPath",
            t.path().join("shared-hooks").to_str().unwrap(),
        ],
    );
    assert!(found(&up).contains("HIGH   server-guard-missing"));
    install_server(t.path(), &up, &[]);
    let text = found(&up);
    assert_contains(&text, &plain_guard(&up.join("guard/hooks/pre-receive")));

    // GitLab: custom_hooks/pre-receive.d/git-guard.
    let up = bare_repo(t.path(), "gitlab.git");
    install_server(t.path(), &up, &["--layout", "gitlab"]);
    let text = found(&up);
    assert_contains(
        &text,
        &format!(
            "server-guard: {} (gitlab layout) runs {} when GitLab (Gitaly) runs the repository's custom hooks; configuration {}",
            up.join("custom_hooks/pre-receive.d/git-guard").display(),
            guard_hook.display(),
            up.join("custom_hooks/git-guard.toml").display()
        ),
    );
    assert!(!text.contains("server-guard-missing"), "{text}");

    // Gitea and Forgejo: hooks/pre-receive.d/git-guard.
    let up = bare_repo(t.path(), "gitea.git");
    install_server(t.path(), &up, &["--layout", "gitea"]);
    let text = found(&up);
    assert_contains(
        &text,
        &format!(
            "server-guard: {} (gitea layout)",
            up.join("hooks/pre-receive.d/git-guard").display()
        ),
    );
    assert!(!text.contains("server-guard-missing"), "{text}");

    // A guard that would reject every push: its policy is gone.
    let up = bare_repo(t.path(), "broken.git");
    let policy = t.path().join("server-policy.toml");
    std::fs::write(&policy, "mode = \"enforce\"\n").unwrap();
    install_server(t.path(), &up, &["--policy", policy.to_str().unwrap()]);
    let text = found(&up);
    assert_contains(&text, &format!("policy {}", policy.display()));
    assert!(!text.contains("server-guard-broken"), "{text}");
    std::fs::remove_file(&policy).unwrap();
    let text = found(&up);
    assert_contains(&text, "MEDIUM server-guard-broken");
    assert_contains(&text, "every push is rejected");
}

#[test]
fn a_server_policy_the_agent_can_write_is_high() {
    let Some((user, t)) = with_user() else { return };
    let (up, root) = small_workspace(t.path(), Some(&user.name));
    let policy = t.path().join("server-policy.toml");
    std::fs::write(&policy, "mode = \"enforce\"\n").unwrap();
    install_server(t.path(), &up, &["--policy", policy.to_str().unwrap()]);
    let r = root.to_str().unwrap();
    let (code, text) = doctor(t.path(), &["--root", r]);
    assert_eq!(code, Some(0), "{text}");
    run_on("chown", &[&user.name], &policy);
    let (code, text) = doctor(t.path(), &["--root", r]);
    assert_eq!(code, Some(1), "{text}");
    assert_contains(&text, "HIGH   server-policy-writable");
    // The server hook configuration in the agent's hands is as bad.
    run_on(
        "chown",
        &[&user.name],
        &up.join(".git/hooks/git-guard.toml"),
    );
    let (_, text) = doctor(t.path(), &["--root", r]);
    assert_contains(&text, "HIGH   upstream-hooks-writable");
    assert_contains(&text, "git-guard.toml is writable by");
}

/// deploy/GITOLITE.md's shim for every repository: written in gitolite's common hooks
/// directory, symlinked into the repository by `gitolite setup --hooks-only`, naming its
/// configuration by full path. Doctor used to look for the configuration beside the shim and
/// report the guard with none, judging by the base branch's policy.
#[test]
fn a_gitolite_common_shim_as_gitolite_md_shows_is_read() {
    let t = tempfile::tempdir().unwrap();
    let up = bare_repo(t.path(), "project.git");
    let common = t.path().join("gitolite-home/.gitolite/hooks/common");
    std::fs::create_dir_all(&common).unwrap();
    let etc = t.path().join("etc-git-guard");
    std::fs::create_dir_all(&etc).unwrap();
    let policy = etc.join("policy.toml");
    std::fs::write(
        &policy,
        "[actors]\nhumans = [\"alice\"]\nagents = [\"bot\"]\n",
    )
    .unwrap();
    let config = etc.join("hooks.toml");
    std::fs::write(
        &config,
        format!(
            "side = \"server\"\nhost = \"gitolite\"\npolicy = \"{}\"\n",
            policy.display()
        ),
    )
    .unwrap();
    let shim = common.join("pre-receive");
    std::fs::write(
        &shim,
        format!(
            "#!/bin/sh\n# git-guard-shim v0.1.0\nexec {} --config {} pre-receive \"$@\"\n",
            bin("guard-hook").display(),
            config.display()
        ),
    )
    .unwrap();
    chmod_x(&shim, true);
    // What `gitolite setup --hooks-only` does with a common hook.
    std::os::unix::fs::symlink(&shim, up.join("hooks/pre-receive")).unwrap();

    let (code, text) = doctor(t.path(), &[up.to_str().unwrap()]);
    assert!(
        code == Some(1) || code == Some(2) || code == Some(0),
        "{text}"
    );
    assert!(!text.contains("server-guard-missing"), "{text}");
    assert!(!text.contains("server-guard-broken"), "{text}");
    assert_contains(
        &text,
        &format!(
            "{} runs {}; configuration {}; policy {}",
            plain_guard(&up.join("hooks/pre-receive")),
            bin("guard-hook").display(),
            config.display(),
            policy.display()
        ),
    );

    // The configuration it names is gone: every push is rejected, and doctor says so.
    std::fs::remove_file(&config).unwrap();
    let (_, text) = doctor(t.path(), &[up.to_str().unwrap()]);
    assert_contains(&text, "MEDIUM server-guard-broken");
    assert_contains(&text, &config.display().to_string());

    // The guard-hook it names is not there.
    std::fs::write(
        &config,
        format!(
            "side = \"server\"\nhost = \"gitolite\"\npolicy = \"{}\"\n",
            policy.display()
        ),
    )
    .unwrap();
    std::fs::write(
        &shim,
        "#!/bin/sh\n# git-guard-shim v0.1.0\nexec /nonexistent/bin/guard-hook --config /etc/git-guard/hooks.toml pre-receive \"$@\"\n",
    )
    .unwrap();
    let (_, text) = doctor(t.path(), &[up.to_str().unwrap()]);
    assert_contains(&text, "MEDIUM server-guard-broken");
    assert_contains(&text, "/nonexistent/bin/guard-hook");

    // The common hook removed (the symlink dangles): no guard at all.
    std::fs::remove_file(&shim).unwrap();
    let (_, text) = doctor(t.path(), &[up.to_str().unwrap()]);
    assert_contains(&text, "HIGH   server-guard-missing");
}
