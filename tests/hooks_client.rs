//! Client hooks in an agent's clone, through real `git commit`, `git push`, `git update-ref`.
//! The unix user running the tests is not named in the test policy, so it is an agent.

mod support;

use std::path::{Path, PathBuf};

use support::git::*;
use support::server::*;

/// An unguarded bare upstream with main seeded, and an agent clone with client hooks.
fn setup_in(dir: &Path, policy_extra: &str) -> (PathBuf, PathBuf) {
    let upstream = dir.join("upstream.git");
    init_bare(&upstream);
    let work = clone(dir, &upstream, "work");
    commit_file(&work, "README.md", "hello\n", "seed");
    git(&work, &["push", "-q", "origin", "main"]);
    git(&work, &["remote", "set-head", "origin", "main"]);
    install_client(dir, &work, &policy_file(dir, policy_extra));
    (upstream, work)
}

/// `setup_in` a new temp directory, the clone on a new branch `branch` when one is named: the
/// directory, the upstream and the clone.
fn setup(policy_extra: &str, branch: Option<&str>) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let (up, work) = setup_in(t.path(), policy_extra);
    if let Some(b) = branch {
        git(&work, &["switch", "-q", "-c", b]);
    }
    (t, up, work)
}

#[test]
fn pre_commit_judges_the_staged_change() {
    let (_t, _up, work) = setup("", Some("agent/topic"));
    write(&work, "deploy/.env", "SECRET=1\n");
    git(&work, &["add", "-A"]);
    let o = git_out(&work, &["commit", "-q", "-m", "env"]);
    assert!(!o.status.success(), "the commit should be refused");
    let err = stderr(&o);
    assert!(
        err.contains("error[paths.deny]") && err.contains("deploy/.env"),
        "{err}"
    );
    assert!(
        err.contains("hint:"),
        "the agent is told what to do:\n{err}"
    );
    assert!(!has_ref(&work, "HEAD~1"));

    git(&work, &["rm", "-q", "--cached", "deploy/.env"]);
    write(&work, "src/main.rs", "fn main() {}\n");
    git(&work, &["add", "src/main.rs"]);
    assert_code(&git_out(&work, &["commit", "-q", "-m", "main"]), 0);
}

#[test]
fn pre_commit_honours_the_temporary_index_of_commit_a() {
    let (_t, _up, work) = setup("", Some("agent/topic"));
    commit_file(&work, "notes.txt", "a\n", "notes");
    // Nothing is staged in the real index; `commit -a` stages into a temporary one.
    write(
        &work,
        "notes.txt",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB\n-----END RSA PRIVATE KEY-----\n", // guard:allow-secret (a test fixture)
    );
    let o = git_out(&work, &["commit", "-q", "-a", "-m", "key"]);
    assert!(
        !o.status.success(),
        "the key should be caught:\n{}",
        stderr(&o)
    );
    assert_contains(&stderr(&o), "secrets.");
}

#[test]
fn pre_commit_on_a_protected_branch_says_where_to_work() {
    let (_t, _up, work) = setup("", None);
    write(&work, "a.txt", "a\n");
    git(&work, &["add", "a.txt"]);
    let o = git_out(&work, &["commit", "-q", "-m", "a"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert_contains(&err, "error[refs.protected] refs/heads/main");
    assert_contains(&err, "git switch -c agent/<topic>");
}

#[test]
fn json_output_for_agents() {
    let (_t, _up, work) = setup("", Some("agent/topic"));
    write(&work, "x.pem", "k\n");
    git(&work, &["add", "-A"]);
    let o = git_cmd(&work)
        .env("GUARD_FORMAT", "json")
        .args(["commit", "-q", "-m", "pem"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let doc: serde_json::Value = serde_json::from_str(&stderr(&o)).unwrap();
    assert_eq!(doc["outcome"], "rejected");
    assert!(
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "paths.deny")
    );
}

#[test]
fn commit_msg_judges_the_message_as_git_records_it() {
    let trailers = "[commits]\nrequired_trailers = [\"Agent-Run\"]\n";
    let (_t, _up, work) = setup(trailers, Some("agent/topic"));
    write(&work, "a.txt", "a\n");
    git(&work, &["add", "a.txt"]);
    let o = git_out(&work, &["commit", "-q", "-m", "add a"]);
    assert!(!o.status.success());
    assert_contains(&stderr(&o), "commits.");
    // With the trailer the policy asks for, the same commit goes through.
    assert_code(
        &git_out(&work, &["commit", "-q", "-m", "add a\n\nAgent-Run: 42"]),
        0,
    );
}

#[test]
fn pre_push_judges_exactly_what_would_be_sent() {
    let (_t, up, work) = setup("", Some("agent/topic"));
    commit_file(&work, "ok.txt", "ok\n", "ok");
    // Committed past the client hooks, as a careless agent could.
    write(&work, "credentials/db.json", "{}\n");
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "--no-verify", "-m", "creds"]);
    let o = git_out(&work, &["push", "-q", "origin", "agent/topic"]);
    assert!(!o.status.success());
    assert_contains(&stderr(&o), "credentials/db.json");
    assert!(!has_ref(&up, "refs/heads/agent/topic"));

    // What the remote already has is not judged again: push it past the hook, then build on it.
    git(
        &work,
        &["push", "-q", "--no-verify", "origin", "agent/topic"],
    );
    commit_file(&work, "more.txt", "more\n", "more");
    assert_code(&git_out(&work, &["push", "-q", "origin", "agent/topic"]), 0);

    // Pushing to a protected branch is refused before the server hears of it.
    let o = git_out(&work, &["push", "-q", "origin", "agent/topic:main"]);
    assert!(!o.status.success());
    assert_contains(&stderr(&o), "refs.protected");
}

#[test]
fn reference_transaction_refuses_protected_refs_even_by_plumbing() {
    let (_t, _up, work) = setup("", None);
    let main = git(&work, &["rev-parse", "main"]);
    git(&work, &["switch", "-q", "-c", "agent/topic"]);
    let topic = commit_file(&work, "a.txt", "a\n", "a");

    for args in [
        vec!["update-ref", "refs/heads/main", topic.as_str()],
        vec!["branch", "-f", "main", "agent/topic"],
        vec!["update-ref", "-d", "refs/heads/main"],
        vec!["branch", "release/1.0"],
    ] {
        let o = git_out(&work, &args);
        assert!(!o.status.success(), "{args:?} should be refused");
        assert!(
            stderr(&o).contains("refs.protected"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    assert_eq!(git(&work, &["rev-parse", "main"]), main);
    assert!(!has_ref(&work, "refs/heads/release/1.0"));
    // The agent's own refs move freely, and following upstream is allowed.
    git(&work, &["branch", "-f", "agent/other", "HEAD"]);
    git(&work, &["update-ref", "refs/heads/main", main.trim()]);
}

#[test]
fn an_empty_commit_right_after_reset_hard_judges_no_file() {
    let (_t, repo) = tmp_repo();
    for i in 0..12 {
        write(&repo, &format!("src/f{i}.txt"), format!("{i}\n"));
    }
    commit_all(&repo, "twelve files");
    git(&repo, &["switch", "-q", "-c", "agent/x"]);
    guard_ok(&repo, &["install"]);
    commit_file(&repo, "z.txt", "z\n", "one more");
    // reset --hard writes a cache-tree whose root matches HEAD's tree.
    git(&repo, &["reset", "-q", "--hard", "HEAD~1"]);
    let o = git_out(&repo, &["commit", "-q", "--allow-empty", "-m", "empty"]);
    assert!(o.status.success(), "{}", all(&o));
    assert_contains(&stderr(&o), "0 files judged");
    let o = guard(&repo, &["check", "--staged"]);
    assert_code(&o, 0);
    assert_contains(&stdout(&o), "0 files judged");
}
