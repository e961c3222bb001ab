//! A real hosting engine: gitolite (Debian's `gitolite3`) in a temporary HOME, two gitolite
//! users (`alice`, a human in the policy, and `bot`, an agent), pushes through
//! `gitolite-shell` as sshd would run it. The guard tells the users apart through `GL_USER`,
//! and gitolite's own update hook (its access rules) still runs after it.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::git::*;
use support::server::*;

/// The `gitolite` command and `gitolite-shell` (Debian keeps the shell under /usr/share).
fn gitolite() -> Option<(PathBuf, PathBuf)> {
    let cmd = which::which("gitolite").ok()?;
    let shell = [
        "/usr/share/gitolite3/gitolite-shell",
        "/usr/share/gitolite/gitolite-shell",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
    .or_else(|| Some(cmd.with_file_name("gitolite-shell")).filter(|p| p.is_file()))?;
    Some((cmd, shell))
}

/// Run gitolite's admin command with HOME at the gitolite user's home.
fn gl(gitolite: &Path, home: &Path, args: &[&str]) -> String {
    let mut c = Command::new(gitolite);
    hermetic(&mut c);
    let o = c
        .args(args)
        .env("HOME", home)
        .current_dir(home)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "gitolite {args:?}: {}{}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

const CONF: &str = "repo gitolite-admin
    RW+     =   admin

repo project
    RW+                     =   alice
    -   refs/heads/agent/blocked    =   bot
    RW  refs/heads/agent/   =   bot
    R                       =   bot
";

#[test]
fn gitolite_users_are_told_apart_and_gitolites_update_hook_still_runs() {
    let Some((gitolite, gl_shell)) = gitolite() else {
        support::missing_tool(
            "gitolite3",
            "gitolite_users_are_told_apart_and_gitolites_update_hook_still_runs",
        );
        return;
    };
    if which::which("ssh-keygen").is_err() {
        support::missing_tool(
            "ssh-keygen (openssh-client)",
            "gitolite_users_are_told_apart_and_gitolites_update_hook_still_runs",
        );
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("gl");
    std::fs::create_dir_all(&home).unwrap();
    let key = home.join("admin");
    let o = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "admin",
            "-f",
            key.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    gl(
        &gitolite,
        &home,
        &["setup", "-pk", home.join("admin.pub").to_str().unwrap()],
    );
    // Server-side administration: edit the conf, compile, run the post-compile triggers.
    std::fs::write(home.join(".gitolite/conf/gitolite.conf"), CONF).unwrap();
    gl(&gitolite, &home, &["setup"]);
    let repo = home.join("repositories/project.git");
    assert!(
        repo.join("hooks/update").exists(),
        "gitolite's update hook is in place"
    );

    let policy = policy_file(t.path(), "");
    install_server(
        t.path(),
        &repo,
        &["--host", "gitolite", "--policy", policy.to_str().unwrap()],
    );
    // gitolite re-running its setup keeps both its hook and ours.
    gl(&gitolite, &home, &["setup"]);
    assert!(
        std::fs::read_to_string(repo.join("hooks/pre-receive"))
            .unwrap()
            .contains("git-guard-shim")
    );
    assert!(repo.join("hooks/update").exists());

    // sshd runs `gitolite-shell <user>` for the key's owner, with SSH_ORIGINAL_COMMAND set;
    // this stands in for sshd, the user taken from the URL's user part.
    let ssh = t.path().join("fake-ssh");
    std::fs::write(
        &ssh,
        format!(
            "#!/bin/sh\n\
             for a; do prev=$last; last=$a; done\n\
             user=${{prev%%@*}}\n\
             HOME='{home}' SSH_CONNECTION='127.0.0.1 50000 127.0.0.1 22' SSH_ORIGINAL_COMMAND=\"$last\" exec '{shell}' \"$user\"\n",
            home = home.display(),
            shell = gl_shell.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o755)).unwrap();
    let push = |work: &Path, user: &str, refspec: &str| {
        git_cmd(work)
            .env("GIT_SSH_COMMAND", ssh.to_str().unwrap())
            .args(["push", &format!("ssh://{user}@gitolite/project"), refspec])
            .output()
            .unwrap()
    };

    let work = t.path().join("work");
    init_repo(&work);
    commit_file(&work, "README.md", "hello\n", "seed");

    // The agent may not seed the protected branch; the human may.
    let before = snapshot(&repo);
    let o = push(&work, "bot", "main");
    assert_rejected(&o, "refs.protected", &before, &repo);
    assert_remote_says(&o, "as bot (agent)");
    let o = push(&work, "alice", "main");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_remote_says(&o, "as alice (human)");

    // The agent's own branch: judged by the guard...
    git(&work, &["switch", "-q", "-c", "agent/topic"]);
    commit_file(&work, ".env", "TOKEN=1\n", "env");
    let before = snapshot(&repo);
    let o = push(&work, "bot", "agent/topic");
    assert_rejected(&o, "paths.deny", &before, &repo);
    git(&work, &["reset", "-q", "--hard", "HEAD~1"]);
    commit_file(&work, "lib.txt", "code\n", "code");
    let o = push(&work, "bot", "agent/topic");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        git(&repo, &["rev-parse", "agent/topic"]),
        git(&work, &["rev-parse", "HEAD"])
    );

    // ...and then by gitolite: the guard passes this one, gitolite's update hook denies it.
    let o = push(&work, "bot", "HEAD:refs/heads/agent/blocked");
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("PASSED"), "the guard passed it:\n{err}");
    assert!(
        err.contains("DENIED"),
        "gitolite's update hook denied it:\n{err}"
    );
    assert!(!has_ref(&repo, "refs/heads/agent/blocked"));

    let log = audit_lines(&repo);
    let who: Vec<(&str, &str, &str)> = log
        .iter()
        .filter(|e| e["door"] == "pre-receive")
        .map(|e| {
            (
                e["actor"].as_str().unwrap(),
                e["role"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        who,
        vec![
            ("bot", "agent", "rejected"),
            ("alice", "human", "passed"),
            ("bot", "agent", "rejected"),
            ("bot", "agent", "passed"),
            ("bot", "agent", "passed"),
        ]
    );
}
