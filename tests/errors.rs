//! Errors a person can act on, through the real binaries: no gix internals, an empty
//! repository, a range past the root, a name that is not here, a missing policy file, a
//! mistyped deploy root, a range that judges nothing, a closed pipe, and `git guard log`
//! before the first record.

mod support;

use std::os::fd::OwnedFd;
use std::process::Stdio;

use support::git::*;

/// A repository with two commits on main.
fn two_commits() -> (tempfile::TempDir, std::path::PathBuf) {
    let (t, repo) = tmp_repo();
    commit_file(&repo, "a.txt", "a\n", "first");
    commit_file(&repo, "a.txt", "b\n", "second");
    (t, repo)
}

#[test]
fn a_range_past_the_root_says_so_without_gix_internals() {
    let (_t, repo) = two_commits();
    for spec in ["HEAD~10", "HEAD~5..HEAD"] {
        let o = guard(&repo, &["check", spec]);
        assert_code(&o, 2);
        let err = stderr(&o);
        assert_contains(&err, "goes back past the root commit: HEAD has 2 commits");
        assert!(!err.contains("delegate"), "{err}");
        assert!(!err.contains("NthAncestor"), "{err}");
        assert!(!err.contains("Caused by"), "{err}");
    }
    let o = guard(&repo, &["check", "nope..HEAD"]);
    assert_code(&o, 2);
    assert_contains(&stderr(&o), "'nope' names no commit, branch or tag");
}

#[test]
fn an_empty_repository_says_it_has_no_commits() {
    let (_t, repo) = tmp_repo();
    let o = guard(&repo, &["check", "HEAD"]);
    assert_code(&o, 2);
    assert_contains(&stderr(&o), "the repository");
    assert_contains(&stderr(&o), "has no commits yet");
    assert!(!stderr(&o).contains("misses a ref name"), "{}", stderr(&o));
}

#[test]
fn a_missing_policy_file_is_named_as_missing() {
    let (_t, repo) = two_commits();
    let o = guard(&repo, &["check", "--policy", "nope.toml", "HEAD"]);
    assert_code(&o, 2);
    assert_contains(
        &stderr(&o),
        "nope.toml: cannot read the policy file: there is no such file",
    );
    assert!(!stderr(&o).contains("invalid policy"), "{}", stderr(&o));
}

#[test]
fn a_range_that_judges_nothing_says_so() {
    let (_t, repo) = two_commits();
    let o = guard(&repo, &["check", "HEAD..HEAD~1"]);
    assert_code(&o, 0);
    assert_contains(
        &stdout(&o),
        "note: HEAD..HEAD~1 holds no commits, so nothing was judged",
    );
    assert_contains(&stdout(&o), "did you mean HEAD~1..HEAD?");
}

#[test]
fn a_mistyped_deploy_root_is_an_error_not_an_empty_deployment() {
    let t = tempfile::tempdir().unwrap();
    let missing = t.path().join("deploys-typo");
    for cmd in ["status", "list"] {
        let o = guard_cmd("guard-deploy", t.path())
            .args(["--root", missing.to_str().unwrap(), cmd])
            .output()
            .unwrap();
        assert_code(&o, 2);
        assert_contains(&stderr(&o), "does not exist");
        assert!(!stdout(&o).contains("current: none"), "{}", stdout(&o));
    }
}

#[test]
fn log_before_the_first_record_says_so_and_exits_0() {
    let (_t, repo) = two_commits();
    let o = guard(&repo, &["log"]);
    assert_code(&o, 0);
    assert_contains(&stdout(&o), "no audit records yet");
    // Verifying a log that does not exist still fails: removed and never written look alike.
    let o = guard(&repo, &["log", "--verify"]);
    assert_code(&o, 2);
}

/// A pipe whose reading end is already closed: every write to it fails with EPIPE.
fn closed_pipe() -> OwnedFd {
    let (read, write) = nix::unistd::pipe().unwrap();
    drop(read);
    write
}

#[test]
fn a_closed_pipe_ends_quietly_with_gits_status() {
    use std::os::unix::process::ExitStatusExt as _;
    let (_t, repo) = two_commits();
    let git_status = git_cmd(&repo)
        .args(["log", "-1"])
        .stdout(Stdio::from(closed_pipe()))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    for args in [
        &["policy", "show"][..],
        &["check", "--format", "json", "HEAD"][..],
    ] {
        let o = guard_cmd("git-guard", &repo)
            .args(args)
            .stdout(Stdio::from(closed_pipe()))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(
            o.status.signal(),
            git_status.status.signal(),
            "{args:?}: {:?}: {}",
            o.status,
            stderr(&o)
        );
        assert_eq!(o.status.signal(), Some(nix::libc::SIGPIPE));
        assert!(o.stderr.is_empty(), "{args:?}: {}", stderr(&o));
    }
}
