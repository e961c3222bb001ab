//! `git guard report`: the evidence a reviewer reads, checked against git itself.

mod support;

use std::path::{Path, PathBuf};

use support::git::*;

const POLICY: &str = "[actors]\nhumans = [\"alice\"]\n[tests]\ncommand = \"test -f src/lib.rs\"\n";

struct Fixture {
    _tmp: tempfile::TempDir,
    work: PathBuf,
    policy: PathBuf,
}

/// main with one commit; agent/x with two commits: a code and test change, then a big file.
fn fixture() -> Fixture {
    let (tmp, policy) = tmp_with_policy(POLICY);
    let work = repo_at(tmp.path(), "work");
    commit_lib_and_test(
        &work,
        "pub fn f() -> u32 {\n    1\n}\n",
        "#[test]\nfn t() {\n    assert_eq!(1, 1);\n}\n",
        "base",
    );
    git(&work, &["checkout", "-q", "-b", "agent/x"]);
    commit_lib_and_test(
        &work,
        "pub fn f() -> u32 {\n    2\n}\n",
        "#[test]\nfn t() {\n    assert_eq!(2, 2);\n}\n",
        "Make f return 2\n\nThe billing code expects 2; the test follows.",
    );
    let big: String = (0..600).map(|i| format!("line {i}\n")).collect();
    commit_file(&work, "data/big.txt", big, "Add the data table");
    Fixture {
        _tmp: tmp,
        work,
        policy,
    }
}

fn report(dir: &Path, policy: &Path, args: &[&str]) -> std::process::Output {
    guard_cmd("git-guard", dir)
        .arg("report")
        .args(args)
        .arg("--policy")
        .arg(policy)
        .output()
        .unwrap()
}

#[test]
fn markdown_report_tells_goal_commits_files_rules_flags_tests_risk_and_checklist() {
    let f = fixture();
    let out = report(&f.work, &f.policy, &["agent/x", "--base", "main"]);
    let md = stdout_of(&out, 0);
    for section in [
        "## Goal",
        "## Commits",
        "## Files (3, +602 -2)",
        "## Rules",
        "## Flags and approvals",
        "## Tests",
        "## Risk: ",
        "## Checklist",
        "## Diff",
        "## Next steps",
    ] {
        assert!(md.contains(section), "missing {section}:\n{md}");
    }
    // The goal comes from the commit messages.
    assert_contains(&md, "> Make f return 2");
    assert_contains(&md, "> The billing code expects 2");
    assert_contains(&md, "- then: Add the data table");
    // Files with line counts, as git counts them.
    let numstat = git(&f.work, &["diff", "--numstat", "main..agent/x"]);
    for line in numstat.lines() {
        let mut parts = line.split('\t');
        let (a, r, p) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        assert!(
            md.contains(&format!("| `{p}` | {a} | {r} |")),
            "{p} {a} {r}:\n{md}"
        );
    }
    // Every rule section has a verdict.
    for s in [
        "refs", "paths", "caps", "secrets", "tests", "commits", "risk",
    ] {
        assert!(md.contains(&format!("- **{s}**: ")), "{s}:\n{md}");
    }
    // The test file change is an outstanding flag, and the diff shows it.
    assert_contains(&md, "`tests.changed:tests/t.rs`");
    assert_contains(&md, "**outstanding**");
    assert_contains(&md, "-    assert_eq!(1, 1);\n+    assert_eq!(2, 2);");
    // The big file is cut short, and says so.
    assert_contains(&md, "more line(s) of this file's diff not shown");
    // What only a person can judge is left open; nothing unverified is ticked.
    assert_contains(&md, "- [ ] The change does what the goal says");
    assert_contains(&md, "- [ ] The test changes are justified");
    assert_contains(
        &md,
        "- [ ] Tests pass in a clean checkout of this tree (not run yet)",
    );
    assert_contains(&md, "- [ ] Every flag is approved (2 of 2 outstanding)");
    assert_contains(&md, "No recorded test run for this tree.");
    // Next steps, last.
    let tail = md.rsplit("## Next steps").next().unwrap();
    assert_contains(tail, "git guard test ");
    assert_contains(tail, "git guard approve ");
    assert_contains(tail, "guard-deploy deploy ");

    // After a passing test run and an approval, the verified items are ticked.
    let t = guard_cmd("git-guard", &f.work)
        .args(["test", "agent/x", "--policy"])
        .arg(&f.policy)
        .output()
        .unwrap();
    assert_code(&t, 0);
    let a = guard_cmd("git-guard", &f.work)
        .args([
            "approve",
            "agent/x~1",
            "-m",
            "test follows the new value",
            "--as",
            "alice",
        ])
        .arg("--policy")
        .arg(&f.policy)
        .output()
        .unwrap();
    assert_code(&a, 0);
    let md = stdout(&report(&f.work, &f.policy, &["agent/x", "--base", "main"]));
    assert_contains(&md, "- [x] Tests passed in a clean checkout of tree");
    assert_contains(&md, "- [x] Every flag is approved (0 of 2 outstanding)");
    assert_contains(&md, "by alice");
    assert_contains(&md, "\"test follows the new value\" (valid)");
    let tail = md.rsplit("## Next steps").next().unwrap();
    assert!(!tail.contains("git guard approve"), "{tail}");
}

#[test]
fn json_report_carries_the_same_facts() {
    let f = fixture();
    let out = report(
        &f.work,
        &f.policy,
        &["agent/x", "--base", "main", "--format", "json"],
    );
    assert_code(&out, 0);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(
        v["tip"].as_str().unwrap(),
        git(&f.work, &["rev-parse", "agent/x"]).trim()
    );
    assert_eq!(
        v["tip_tree"].as_str().unwrap(),
        git(&f.work, &["rev-parse", "agent/x^{tree}"]).trim()
    );
    let commits = v["commits"].as_array().unwrap();
    let log = git(&f.work, &["rev-list", "--reverse", "main..agent/x"]);
    let ids: Vec<&str> = commits.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, log.lines().collect::<Vec<_>>());
    assert_eq!(v["files"].as_array().unwrap().len(), 3);
    assert_eq!(v["diff_truncated"], true);
    assert_eq!(v["rules"].as_array().unwrap().len(), 7);
    assert!(v["test_run"].is_null());
    let checklist = v["checklist"].as_array().unwrap();
    assert!(checklist.iter().any(|c| c["done"] == false));
    assert!(v["risk"]["score"].is_u64());
    assert!(v["next_steps"].as_array().unwrap().len() >= 2);
}

#[test]
fn an_unknown_base_is_an_error_that_names_it() {
    let f = fixture();
    let out = report(&f.work, &f.policy, &["agent/x", "--base", "no-such-branch"]);
    assert_code(&out, 2);
    assert_contains(&stderr(&out), "no-such-branch");
}
