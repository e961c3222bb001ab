//! The kill switch (`actors.agents_enabled = false`): every agent change refused at receive
//! time with the policy's reason, in warn mode too; humans unaffected.

mod support;

use support::git::*;
use support::server::*;

const OFF: &str = r#"
mode = "warn"
[actors]
humans = ["alice"]
agents = ["bot"]
agents_enabled = false
agents_disabled_reason = "frozen for the release"
"#;

#[test]
fn switched_off_agents_are_refused_even_in_warn_mode() {
    let t = tempfile::tempdir().unwrap();
    let policy = t.path().join("off.toml");
    std::fs::write(&policy, OFF).unwrap();
    let bare = seeded_server(
        t.path(),
        &[],
        &["--host", "http", "--policy", policy.to_str().unwrap()],
    );
    let work = clone_on(t.path(), &bare, "work", "agent/topic");
    commit_file(&work, "src/lib.rs", "pub fn f() {}\n", "a harmless change");

    let o = push_rejected(&work, "bot", "agent/topic", &bare, "actors.disabled");
    assert_remote_says(&o, "frozen for the release");

    // A human's push of the same commit goes through: the switch is for agents only.
    assert_code(&push_as(&work, "alice", &["origin", "agent/topic"]), 0);

    // Switched back on, the agent's warn-mode push passes again.
    std::fs::write(
        &policy,
        OFF.replace("agents_enabled = false", "agents_enabled = true"),
    )
    .unwrap();
    commit_file(&work, "src/lib.rs", "pub fn g() {}\n", "another change");
    assert_code(&push_as(&work, "bot", &["origin", "agent/topic"]), 0);
}

#[test]
fn the_kill_switch_holds_in_git_guard_check() {
    let t = tempfile::tempdir().unwrap();
    let policy = t.path().join("off.toml");
    std::fs::write(&policy, OFF).unwrap();
    let work = repo_at(t.path(), "work");
    commit_file(&work, "a.txt", "1\n", "base");
    commit_file(&work, "a.txt", "2\n", "change");
    let o = guard_cmd("git-guard", &work)
        .args(["check", "HEAD~1..HEAD", "--as", "bot", "--policy"])
        .arg(&policy)
        .output()
        .unwrap();
    assert_code(&o, 1);
    assert_contains(&stdout(&o), "actors.disabled");
}
