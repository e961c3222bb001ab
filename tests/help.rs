//! Help that matches the program: `git guard --help` through git (the man page installed as
//! install.sh installs it), `guard-hook <hook> --help`, "did you mean" for a mistyped hook,
//! `-v` on every binary, and one spelling of JSON output (`--format json`).

mod support;

use support::git::*;

#[test]
fn git_guard_help_through_git_shows_the_installed_man_page() {
    if which::which("man").is_err() {
        support::missing_tool(
            "man (man-db)",
            "git_guard_help_through_git_shows_the_installed_man_page",
        );
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let man1 = t.path().join("share/man/man1");
    std::fs::create_dir_all(&man1).unwrap();
    // As install.sh writes them.
    let o = guard(t.path(), &["help-man", man1.to_str().unwrap()]);
    assert_code(&o, 0);
    for page in ["git-guard.1", "git-guard-check.1", "git-guard-approve.1"] {
        assert!(man1.join(page).is_file(), "{page} missing");
    }
    let o = git_cmd(t.path())
        .args(["guard", "--help"])
        .env("MANPATH", t.path().join("share/man"))
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    assert_code(&o, 0);
    let text = stdout(&o);
    assert_contains(&text, "git guard");
    assert_contains(&text, "Exit status: 0 passed, 1 rejected by policy");
    assert_contains(&text, "git-guard-approve(1)");
}

#[test]
fn guard_hook_help_for_a_hook_prints_help_and_runs_nothing() {
    let (_t, repo) = tmp_repo();
    for hook in ["pre-receive", "pre-commit", "commit-msg", "update"] {
        let o = guard_cmd("guard-hook", &repo)
            .args([hook, "--help"])
            .output()
            .unwrap();
        assert_code(&o, 0);
        assert_contains(&stdout(&o), &format!("guard-hook {hook}"));
        assert_contains(&stdout(&o), "usage: guard-hook");
        assert!(stderr(&o).is_empty(), "it judged something: {}", stderr(&o));
    }
}

#[test]
fn a_mistyped_hook_name_gets_did_you_mean() {
    let (_t, repo) = tmp_repo();
    let o = guard_cmd("guard-hook", &repo)
        .arg("pre-recieve")
        .output()
        .unwrap();
    assert_code(&o, 2);
    assert_contains(&stderr(&o), "did you mean \"pre-receive\"?");
}

#[test]
fn every_binary_takes_v() {
    let (_t, repo) = tmp_repo();
    commit_file(&repo, "a.txt", "a\n", "first");
    let o = guard(&repo, &["-v", "check", "HEAD"]);
    assert_code(&o, 0);
    let o = guard_cmd("guard-hook", &repo)
        .args(["-v", "pre-commit"])
        .output()
        .unwrap();
    // It judged (main is protected: rejected), rather than refusing -v.
    assert_code(&o, 1);
    assert_contains(&stderr(&o), "refs.protected");
    let o = guard_cmd("guard-deploy", &repo)
        .args(["-v", "--root", "nowhere", "list"])
        .output()
        .unwrap();
    assert!(
        !stderr(&o).contains("unexpected argument"),
        "{}",
        stderr(&o)
    );
    let o = guard_cmd("guard-exec", &repo)
        .args(["-v", "--root", "/nonexistent", "--check", "--", "ls"])
        .output()
        .unwrap();
    assert!(
        !stderr(&o).contains("unexpected argument"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn flags_speaks_json_as_format_json_and_keeps_the_old_spelling() {
    let (_t, repo) = tmp_repo();
    commit_file(&repo, "a.txt", "a\n", "first");
    git(&repo, &["switch", "-q", "-c", "topic"]);
    commit_file(&repo, "tests/t.rs", "#[test] fn t() {}\n", "a test");
    let new = guard(&repo, &["flags", "--format", "json", "main..topic"]);
    assert_code(&new, 0);
    let v: serde_json::Value = serde_json::from_slice(&new.stdout).unwrap();
    assert!(v.is_array(), "{v}");
    let old = guard(&repo, &["flags", "--json", "main..topic"]);
    assert_code(&old, 0);
    assert_eq!(old.stdout, new.stdout);
}
