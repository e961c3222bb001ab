//! `git guard check` run as a real binary over real repositories: exit codes, the JSON it
//! prints, and the changes it carries, compared with git.

mod support;

use std::path::Path;

use serde_json::Value;
use support::git::*;

fn check(dir: &Path, args: &[&str]) -> std::process::Output {
    guard_cmd("git-guard", dir)
        .arg("check")
        .args(args)
        .output()
        .expect("git-guard runs")
}

fn json(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", stdout(o), stderr(o)))
}

fn repo_with_history(dir: &Path) {
    init_repo(dir);
    write(dir, "src/main.rs", "fn main() {}\n");
    write(dir, "README.md", "# demo\n");
    commit_all(dir, "first");
    write(
        dir,
        "src/main.rs",
        "fn main() {\n    println!(\"hi\");\n}\n",
    );
    write(dir, "src/lib.rs", "pub fn f() {}\n");
    commit_all(dir, "second");
    git(dir, &["mv", "README.md", "docs.md"]);
    commit_file(dir, "data.bin", b"\0\x01\x02".as_slice(), "third");
}

#[test]
fn a_range_passes_and_its_json_carries_the_changes_git_reports() {
    let (_tmp, dir) = tmp_repo_with(repo_with_history);
    let o = check(&dir, &["--format", "json", "--as", "alice", "HEAD~2..HEAD"]);
    assert_code(&o, 0);
    let v = json(&o);
    assert_eq!(v["version"], 1);
    assert_eq!(v["outcome"], "passed");
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["actor"]["name"], "alice");
    assert_eq!(v["actor"]["source"], "--as");
    assert_eq!(v["policy"], "(built-in default policy)");
    assert!(v["findings"].is_array());
    let unit = &v["units"][0];
    assert_eq!(
        unit["base"],
        git(&dir, &["rev-parse", "HEAD~2"]).trim(),
        "the base of A..B is the merge base"
    );
    let commits = unit["commits"].as_array().unwrap();
    let ids: Vec<&str> = commits.iter().map(|c| c["id"].as_str().unwrap()).collect();
    let mut expected: Vec<String> = git(&dir, &["rev-list", "HEAD~2..HEAD"])
        .lines()
        .map(str::to_string)
        .collect();
    expected.reverse();
    assert_eq!(ids, expected, "commits oldest first");

    // Every file of every commit: paths, kind letter and counts as `git diff-tree --numstat`.
    for c in commits {
        let id = c["id"].as_str().unwrap();
        let numstat = git(
            &dir,
            &["diff-tree", "-r", "-M", "--numstat", &format!("{id}~1"), id],
        );
        let mut want: Vec<String> = numstat.lines().map(str::to_string).collect();
        want.sort();
        let mut got: Vec<String> = c["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let counts = if f["binary"] == true {
                    "-\t-".to_string()
                } else {
                    format!("{}\t{}", f["added"], f["removed"])
                };
                let path = match f["kind"].as_str().unwrap() {
                    "rename" => format!(
                        "{} => {}",
                        f["old_path"].as_str().unwrap(),
                        f["new_path"].as_str().unwrap()
                    ),
                    _ => f["new_path"]
                        .as_str()
                        .or(f["old_path"].as_str())
                        .unwrap()
                        .to_string(),
                };
                format!("{counts}\t{path}")
            })
            .collect();
        got.sort();
        assert_eq!(got, want, "commit {id}");
    }
    // The cumulative change is base -> tip.
    let names = git(&dir, &["diff", "--name-only", "-M", "HEAD~2", "HEAD"]);
    let cum: Vec<&str> = unit["cumulative"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["new_path"].as_str().or(f["old_path"].as_str()).unwrap())
        .collect();
    assert_eq!(cum, names.lines().collect::<Vec<_>>());
    let renamed = unit["cumulative"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "rename")
        .expect("the rename is in the cumulative change");
    assert_eq!(renamed["old_path"], "README.md");
    assert_eq!(renamed["new_mode"], "100644");
}

#[test]
fn staged_check_judges_the_index_against_head() {
    let (_tmp, dir) = tmp_repo();
    // Unborn HEAD: the staged files are additions against the empty tree.
    write(&dir, "a.txt", "1\n2\n3\n");
    git(&dir, &["add", "a.txt"]);
    let o = check(&dir, &["--staged", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    let unit = &v["units"][0];
    assert!(unit.get("base").is_none());
    let f = &unit["cumulative"][0];
    assert_eq!(
        (f["kind"].as_str(), f["new_path"].as_str()),
        (Some("add"), Some("a.txt"))
    );
    assert_eq!(
        (f["added"].as_u64(), f["removed"].as_u64()),
        (Some(3), Some(0))
    );
    assert!(
        unit["commits"][0].get("id").is_none(),
        "the index is not a commit"
    );

    commit_all(&dir, "first");
    write(&dir, "a.txt", "1\nTWO\n3\n");
    write(&dir, "unstaged.txt", "not added\n");
    git(&dir, &["add", "a.txt"]);
    let o = check(&dir, &["--staged"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_contains(&stdout(&o), "PASSED");
    assert_contains(&stdout(&o), "1 file judged");
}

#[test]
fn what_cannot_be_judged_exits_2_naming_the_input() {
    let (tmp, dir) = tmp_repo_with(repo_with_history);

    let o = check(&dir, &["no-such-branch..HEAD"]);
    assert_eq!(o.status.code(), Some(2));
    assert_contains(&stderr(&o), "no-such-branch..HEAD");
    assert_contains(&stderr(&o), "hint");
    assert!(
        stdout(&o).is_empty(),
        "nothing passes by accident: {}",
        stdout(&o)
    );

    let plain = tmp.path().join("not-a-repo");
    std::fs::create_dir_all(&plain).unwrap();
    let o = check(&plain, &["--staged"]);
    assert_eq!(o.status.code(), Some(2));
    assert_contains(&stderr(&o), "not a git repository");
    assert_contains(&stderr(&o), "not-a-repo");

    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "mode = \"enforce\"\n[pathz]\n").unwrap();
    let o = check(&dir, &["--policy", bad.to_str().unwrap(), "HEAD"]);
    assert_eq!(o.status.code(), Some(2));
    assert_contains(&stderr(&o), "bad.toml");

    let o = check(&dir, &[]);
    assert_eq!(o.status.code(), Some(2), "no subject is a usage error");

    // A corrupt object: the commit's blob is overwritten with garbage.
    let blob = git(&dir, &["rev-parse", "HEAD:src/lib.rs"])
        .trim()
        .to_string();
    let path = dir.join(".git/objects").join(&blob[..2]).join(&blob[2..]);
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&path, perms).unwrap();
    std::fs::write(&path, b"garbage that is not zlib").unwrap();
    let o = check(&dir, &["HEAD~1"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert_contains(&stderr(&o), &blob);
    assert_contains(&stderr(&o), "git fsck");
}

#[test]
fn the_policy_is_never_read_from_the_judged_repository() {
    let (tmp, dir) = tmp_repo_with(repo_with_history);
    // A policy.toml in the repository is content like any other, not the rules.
    commit_file(&dir, "policy.toml", "this is not toml [", "a policy file");
    let o = check(&dir, &["--format", "json", "HEAD"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json(&o)["policy"], "(built-in default policy)");

    let good = tmp.path().join("policy.toml");
    std::fs::write(&good, "mode = \"warn\"\n").unwrap();
    let good = good.to_str().unwrap();
    let o = check(&dir, &["--format", "json", "--policy", good, "HEAD"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["mode"], "warn");
    assert_eq!(v["policy"], good);
}
