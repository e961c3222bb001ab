//! `git guard ci` without the hosts: the real binary, run in a real clone of a real bare
//! repository (standing in for GitHub or GitLab, which run no hook of ours), with the
//! variables and event files each CI provides (tests/ci_fixtures/, written from the hosts'
//! documentation of the `push` and `pull_request` payloads and GitLab's predefined
//! variables).

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use support::git::*;

const SECRET: &str = "AKIAZ7Q3WLMNQ4RTK2XY";
const ZERO: &str = "0000000000000000000000000000000000000000";

/// A tool the test needs: in CI (`CI=true`) its absence fails the test, elsewhere it skips.
/// The host: a bare repository, a human's clone with main pushed, the agent's clone.
struct Host {
    _dir: tempfile::TempDir,
    root: PathBuf,
    origin: PathBuf,
    human: PathBuf,
    agent: PathBuf,
    alice_key: PathBuf,
    agent_key: PathBuf,
    agent_pub: String,
    base: String,
}

const POLICY: &str = r#"
[actors]
humans = ["alice"]
admins = ["carol"]
agents = ["agent-*"]

[approvals]
allowed_signers = "allowed_signers"
"#;

fn host() -> Host {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let keys = root.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let (alice_key, alice_pub) = support::keygen(&keys, "alice");
    let (agent_key, agent_pub) = support::keygen(&keys, "agent");
    let origin = root.join("origin.git");
    git(&root, &["init", "-q", "--bare", "-b", "main", "origin.git"]);
    let human = root.join("human");
    git(&root, &["clone", "-q", "origin.git", "human"]);
    git(&human, &["checkout", "-q", "-b", "main"]);
    write(&human, "policy.toml", POLICY);
    write(&human, "allowed_signers", format!("alice {alice_pub}\n"));
    write(&human, "app.py", "def main():\n    return 1\n");
    let base = commit_all(&human, "Start the service");
    git(&human, &["push", "-q", "origin", "main"]);
    let agent = root.join("agent");
    git(&root, &["clone", "-q", "origin.git", "agent"]);
    git(&agent, &["checkout", "-q", "-b", "agent/export"]);
    Host {
        _dir: dir,
        root,
        origin,
        human,
        agent,
        alice_key,
        agent_key,
        agent_pub,
        base,
    }
}

impl Host {
    /// The agent commits `files` and pushes its branch; returns the commit id.
    fn agent_pushes(&self, files: &[(&str, &str)], msg: &str) -> String {
        for (path, text) in files {
            write(&self.agent, path, text);
        }
        let id = commit_all(&self.agent, msg);
        git(&self.agent, &["push", "-q", "origin", "agent/export"]);
        id
    }

    /// What a CI job checks out: a full clone with the approvals fetched, at `head`.
    fn checkout(&self, name: &str, head: &str) -> PathBuf {
        let dir = self.root.join(name);
        git(
            &self.root,
            &["clone", "-q", self.origin.to_str().unwrap(), name],
        );
        git(
            &dir,
            &["fetch", "-q", "origin", "+refs/guard/*:refs/guard/*"],
        );
        git(&dir, &["checkout", "-q", "--detach", head]);
        dir
    }

    /// Approve `flag` of `commit` from a clone and push the record, as `name`.
    fn approve(&self, clone: &Path, commit: &str, flag: &str, name: &str, key: Option<&Path>) {
        git(clone, &["fetch", "-q", "origin", "agent/export"]);
        let mut cmd = guard_cmd("git-guard", clone);
        cmd.args([
            "approve",
            commit,
            "--flag",
            flag,
            "-m",
            "reviewed the workflow",
        ])
        .args(["--as", name, "--no-push"]);
        if let Some(k) = key {
            cmd.arg("--sign").arg(k);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
        git(
            clone,
            &[
                "push",
                "-q",
                "origin",
                "refs/guard/approvals/*:refs/guard/approvals/*",
            ],
        );
    }
}

/// A fixture file with `@NAME@` placeholders filled.
fn fixture(name: &str, vars: &HashMap<&str, String>) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/ci_fixtures")
        .join(name);
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (k, v) in vars {
        text = text.replace(&format!("@{k}@"), v);
    }
    text
}

/// The variables of an env fixture.
fn env_file(name: &str, vars: &HashMap<&str, String>) -> Vec<(String, String)> {
    fixture(name, vars)
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// Run `git guard ci` in `dir` with exactly the CI variables given (none inherited).
fn ci(dir: &Path, env: &[(String, String)], args: &[&str]) -> Output {
    let mut cmd = guard_cmd("git-guard", dir);
    for (k, _) in std::env::vars() {
        if k == "CI" || k.starts_with("GITHUB_") || k.starts_with("GITLAB_") || k.starts_with("CI_")
        {
            cmd.env_remove(k);
        }
    }
    cmd.arg("ci").args(args).envs(env.iter().cloned());
    cmd.output().unwrap()
}

fn vars(pairs: &[(&'static str, &str)]) -> HashMap<&'static str, String> {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

/// The GitHub variables and event file of a pull request from `agent/export` to main.
fn github_pr(h: &Host, dir: &Path, head: &str, actor: &str, author: &str) -> Vec<(String, String)> {
    let v = vars(&[
        ("HEAD", head),
        ("BEFORE", &h.base),
        ("BASE", &h.base),
        ("HEAD_REF", "agent/export"),
        ("AUTHOR", author),
        ("ACTOR", actor),
    ]);
    let event = dir.join("event.json");
    std::fs::write(&event, fixture("github-pull_request.json", &v)).unwrap();
    let mut v = v;
    v.insert("EVENT", "pull_request".into());
    v.insert("EVENT_PATH", event.display().to_string());
    v.insert("GITHUB_REF", "refs/pull/7/merge".into());
    v.insert("GITHUB_REF_NAME", "7/merge".into());
    // The merge commit GitHub makes; the check must judge the request's head, not it.
    v.insert("GITHUB_SHA", h.base.clone());
    v.insert("BASE_REF", "main".into());
    v.insert("WORKSPACE", dir.display().to_string());
    env_file("github.env", &v)
}

fn github_push(
    h: &Host,
    dir: &Path,
    refname: &str,
    before: &str,
    head: &str,
    actor: &str,
) -> Vec<(String, String)> {
    let v = vars(&[
        ("REF", refname),
        ("BEFORE", before),
        ("HEAD", head),
        ("ACTOR", actor),
        ("CREATED", if before == ZERO { "true" } else { "false" }),
    ]);
    let event = dir.join("event.json");
    std::fs::write(&event, fixture("github-push.json", &v)).unwrap();
    let mut v = v;
    v.insert("EVENT", "push".into());
    v.insert("EVENT_PATH", event.display().to_string());
    v.insert("GITHUB_REF", refname.into());
    v.insert(
        "GITHUB_REF_NAME",
        refname.trim_start_matches("refs/heads/").into(),
    );
    v.insert("GITHUB_SHA", head.into());
    v.insert("BASE_REF", String::new());
    v.insert("HEAD_REF", String::new());
    v.insert("WORKSPACE", dir.display().to_string());
    let _ = h;
    env_file("github.env", &v)
}

fn out_text(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

#[test]
fn a_pull_request_with_a_secret_is_rejected_at_its_file_and_line_and_the_secret_never_shown() {
    if !support::ssh_keygen_is_there() {
        return;
    }
    let h = host();
    let head = h.agent_pushes(
        &[("export.py", &format!("import os\nKEY = \"{SECRET}\"\n"))],
        "Add the export job",
    );
    let dir = h.checkout("job", &head);
    let env = github_pr(&h, &dir, &head, "agent-bot", "agent-bot");
    let summary = dir.join("summary.md");
    let sarif = dir.join("guard.sarif");
    let out = ci(
        &dir,
        &env,
        &[
            "--format",
            "github",
            "--report",
            &format!("markdown={}", summary.display()),
            "--report",
            &format!("sarif={}", sarif.display()),
        ],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{}", out_text(&out));
    assert!(
        text.contains("::error file=export.py,line=2,title=git-guard secrets.aws-access-key::"),
        "{text}"
    );
    assert!(
        text.contains("pull request 7: agent/export -> main"),
        "{text}"
    );
    assert!(
        text.contains("judged as agent-bot (agent, from GITHUB_ACTOR)"),
        "{text}"
    );
    assert!(
        text.contains("policy.toml at refs/remotes/origin/main"),
        "{text}"
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("## git-guard: ❌ rejected"), "{md}");
    assert!(md.contains("export.py:2"), "{md}");
    // A summary file collects every step's: ours is appended.
    let out = ci(
        &dir,
        &env,
        &["--report", &format!("markdown={}", summary.display())],
    );
    assert_eq!(out.status.code(), Some(1));
    let md2 = std::fs::read_to_string(&summary).unwrap();
    assert_eq!(md2.matches("## git-guard").count(), 2, "{md2}");
    for format in ["text", "json", "sarif", "github", "markdown", "codequality"] {
        let out = ci(&dir, &env, &["--format", format]);
        assert_eq!(out.status.code(), Some(1), "{format}: {}", out_text(&out));
        assert!(
            !out_text(&out).contains(SECRET),
            "{format} shows the secret"
        );
        let shown = if format == "markdown" {
            "AKIA\\*\\*\\*\\*"
        } else {
            "AKIA****"
        };
        assert!(
            out_text(&out).contains(shown),
            "{format}: {}",
            out_text(&out)
        );
    }
    assert!(!std::fs::read_to_string(&sarif).unwrap().contains(SECRET));
    assert!(!md2.contains(SECRET));
}

#[test]
fn the_policy_is_read_from_the_base_branch_never_from_the_change() {
    if !support::ssh_keygen_is_there() {
        return;
    }
    let h = host();
    // The change switches its own policy to warn mode and lifts the caps.
    let head = h.agent_pushes(
        &[
            (
                "policy.toml",
                "mode = \"warn\"\n[caps]\nmax_files = 1000\n[actors]\nadmins = [\"agent-*\"]\n",
            ),
            ("export.py", &format!("KEY = \"{SECRET}\"\n")),
        ],
        "Tune the policy",
    );
    let dir = h.checkout("job", &head);
    let env = github_pr(&h, &dir, &head, "agent-bot", "agent-bot");
    let out = ci(&dir, &env, &[]);
    let text = out_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("error[secrets.aws-access-key]"), "{text}");
    assert!(text.contains("flag[paths.protected]"), "{text}");
    assert!(text.contains("judged as agent-bot (agent"), "{text}");
    // Nor from a file of the checkout named on the command line.
    let out = ci(&dir, &env, &["--policy", "policy.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", out_text(&out));
    assert!(
        stderr(&out).contains("inside the checkout of the change under review"),
        "{}",
        stderr(&out)
    );
    let abs = dir.join("policy.toml");
    let out = ci(&dir, &env, &["--policy", abs.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", out_text(&out));
    // A clone without the base branch cannot be judged: the check fails, it does not pass.
    let shallow = h.root.join("shallow");
    git(
        &h.root,
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            "--single-branch",
            "--branch",
            "agent/export",
            &format!("file://{}", h.origin.display()),
            "shallow",
        ],
    );
    let env = github_pr(&h, &shallow, &head, "agent-bot", "agent-bot");
    let out = ci(&shallow, &env, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", out_text(&out));
    assert!(stderr(&out).contains("fetch-depth: 0"), "{}", stderr(&out));
}

#[test]
fn the_actor_comes_from_the_ci_and_a_person_rerunning_an_agents_request_lends_it_nothing() {
    if !support::ssh_keygen_is_there() {
        return;
    }
    let h = host();
    // The commit claims a human author: authorship is never identity.
    let out = git_cmd(&h.agent)
        .env("GIT_AUTHOR_NAME", "alice")
        .env("GIT_COMMITTER_NAME", "alice")
        .args(["commit", "-q", "--allow-empty", "-m", "As alice"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let head = h.agent_pushes(&[("export.py", &format!("KEY = \"{SECRET}\"\n"))], "Export");
    let dir = h.checkout("job", &head);
    // An admin re-runs the agent's pull request: judged as the agent, no admin bypass.
    let env = github_pr(&h, &dir, &head, "carol", "agent-bot");
    let out = ci(&dir, &env, &[]);
    let text = out_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("judged as agent-bot (agent, from pull_request.user.login)"),
        "{text}"
    );
    // The admin's own pull request: the bypass is recorded as a note, the check passes.
    let env = github_pr(&h, &dir, &head, "carol", "carol");
    let out = ci(&dir, &env, &[]);
    let text = out_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("bypassed by admin carol"), "{text}");
    // Without the CI's actor variable nobody can be judged.
    let env: Vec<_> = github_pr(&h, &dir, &head, "agent-bot", "agent-bot")
        .into_iter()
        .filter(|(k, _)| k != "GITHUB_ACTOR")
        .collect();
    let out = ci(&dir, &env, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", out_text(&out));
    assert!(
        stderr(&out).contains("GITHUB_ACTOR is not set"),
        "{}",
        stderr(&out)
    );
    // On a CI, --as is refused: the actor is the CI's.
    let env = github_pr(&h, &dir, &head, "agent-bot", "agent-bot");
    let out = ci(&dir, &env, &["--as", "alice"]);
    assert_eq!(out.status.code(), Some(2), "{}", out_text(&out));
}

#[test]
fn a_flag_blocks_the_check_until_a_signed_approval_by_someone_else_clears_it() {
    if !support::ssh_keygen_is_there() {
        return;
    }
    let h = host();
    let flag = "paths.protected:.github/workflows/ci.yml";
    // The agent edits the workflow and, to forge approvals, adds its own key for alice.
    let head = h.agent_pushes(
        &[
            (".github/workflows/ci.yml", "on: push\njobs: {}\n"),
            ("allowed_signers", &format!("alice {}\n", h.agent_pub)),
        ],
        "Speed up CI",
    );
    let dir = h.checkout("job0", &head);
    let env = github_pr(&h, &dir, &head, "agent-bot", "agent-bot");
    let out = ci(&dir, &env, &["--format", "github"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{}", out_text(&out));
    assert!(
        text.contains("::error file=.github/workflows/ci.yml,title=git-guard paths.protected::"),
        "{text}"
    );
    assert!(
        text.contains(&format!("git guard approve {head} --flag '{flag}'")),
        "{text}"
    );

    // Each approval below is one that must not count: the check still fails.
    let still_blocked = |job: &str, actor: &str, why: &str| {
        let dir = h.checkout(job, &head);
        let out = ci(&dir, &github_pr(&h, &dir, &head, actor, actor), &[]);
        assert_eq!(out.status.code(), Some(1), "{why}: {}", out_text(&out));
        dir
    };
    // An unsigned record naming alice: anyone who can push can write one on this host.
    h.approve(&h.agent, &head, flag, "alice", None);
    still_blocked("job1", "agent-bot", "unsigned approval counted");
    // Signed with the key the change itself added to allowed_signers: the base's list rules.
    h.approve(&h.agent, &head, flag, "alice", Some(&h.agent_key));
    still_blocked("job2", "agent-bot", "forged signature counted");
    // Alice's real signed approval, but alice pushed the change herself: no self-approval.
    h.approve(&h.human, &head, flag, "alice", Some(&h.alice_key));
    let dir = still_blocked("job3", "alice", "self-approval counted");

    // The agent's request, approved by alice: the check passes and says who approved.
    let out = ci(
        &dir,
        &github_pr(&h, &dir, &head, "agent-bot", "agent-bot"),
        &["--format", "json"],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", out_text(&out));
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["outcome"], "passed");
    let f = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["flag_id"] == flag && f["commit"] == head.as_str())
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(f["blocks"], false);
    assert!(
        f["approved_by"][0].as_str().unwrap().contains("(alice)"),
        "{text}"
    );

    // A later commit is a new change: it needs its own approval.
    let next = h.agent_pushes(
        &[(".github/workflows/ci.yml", "on: [push]\njobs: {}\n")],
        "Again",
    );
    let dir = h.checkout("job4", &next);
    let out = ci(
        &dir,
        &github_pr(&h, &dir, &next, "agent-bot", "agent-bot"),
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", out_text(&out));
}

#[test]
fn github_pushes_are_judged_like_a_push_at_the_server() {
    if !support::ssh_keygen_is_there() {
        return;
    }
    let h = host();
    let head = h.agent_pushes(&[("export.py", &format!("KEY = \"{SECRET}\"\n"))], "Export");
    let dir = h.checkout("job", &head);
    // A new branch: only the commits main does not hold are judged.
    let env = github_push(
        &h,
        &dir,
        "refs/heads/agent/export",
        ZERO,
        &head,
        "agent-bot",
    );
    let out = ci(&dir, &env, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", out_text(&out));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["subject"], "push to refs/heads/agent/export");
    let rules: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"secrets.aws-access-key"), "{rules:?}");
    assert!(
        !rules.iter().any(|r| r.starts_with("paths.")),
        "main's own files judged: {rules:?}"
    );

    // A clean follow-up push: judged from the old tip, passes.
    let clean = h.agent_pushes(&[("notes.txt", "fine\n")], "Notes");
    let dir = h.checkout("job2", &clean);
    let out = ci(
        &dir,
        &github_push(
            &h,
            &dir,
            "refs/heads/agent/export",
            &head,
            &clean,
            "agent-bot",
        ),
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", out_text(&out));

    // The agent pushed to main itself (the host let it): the protected ref is caught, and
    // the policy is main's before the push.
    git(&h.agent, &["push", "-q", "origin", "HEAD:main"]);
    let dir = h.checkout("job3", &clean);
    let out = ci(
        &dir,
        &github_push(&h, &dir, "refs/heads/main", &h.base, &clean, "agent-bot"),
        &[],
    );
    let text = out_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("error[refs.protected]"), "{text}");
    assert!(
        text.contains(&format!("policy.toml at {}", h.base)),
        "{text}"
    );

    // An event the door does not judge fails the check.
    let mut env = github_push(&h, &dir, "refs/heads/main", &h.base, &clean, "agent-bot");
    for (k, v) in env.iter_mut() {
        if k == "GITHUB_EVENT_NAME" {
            *v = "issue_comment".into();
        }
    }
    let out = ci(&dir, &env, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", out_text(&out));
    assert!(
        stderr(&out).contains("`issue_comment` event"),
        "{}",
        stderr(&out)
    );
    // So does an event file that is not GitHub's.
    let env = github_push(&h, &dir, "refs/heads/main", &h.base, &clean, "agent-bot");
    std::fs::write(dir.join("event.json"), "{\"ref\": 7}").unwrap();
    let out = ci(&dir, &env, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", out_text(&out));
}

#[test]
fn gitlab_merge_requests_and_branch_pipelines_with_a_code_quality_report() {
    if !support::ssh_keygen_is_there() {
        return;
    }
    let h = host();
    let head = h.agent_pushes(
        &[
            ("export.py", &format!("import os\n\nKEY = \"{SECRET}\"\n")),
            (".gitlab-ci.yml", "include: []\n"),
        ],
        "Export",
    );
    let dir = h.checkout("job", &head);
    let v = vars(&[
        ("HEAD", &head),
        ("BASE", &h.base),
        ("HEAD_REF", "agent/export"),
        ("ACTOR", "agent-bot"),
        ("WORKSPACE", dir.to_str().unwrap()),
    ]);
    let env = env_file("gitlab-merge_request.env", &v);
    let report = dir.join("gl-code-quality-report.json");
    let out = ci(
        &dir,
        &env,
        &["--report", &format!("codequality={}", report.display())],
    );
    let text = out_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("merge request !12: agent/export -> main"),
        "{text}"
    );
    assert!(text.contains("from GITLAB_USER_LOGIN"), "{text}");
    let issues: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let issues = issues.as_array().unwrap();
    let secret = issues
        .iter()
        .find(|i| i["check_name"] == "secrets.aws-access-key")
        .unwrap();
    assert_eq!(secret["location"]["path"], "export.py");
    assert_eq!(secret["location"]["lines"]["begin"], 3);
    assert_eq!(secret["severity"], "blocker");
    let flag = issues
        .iter()
        .find(|i| i["check_name"] == "paths.protected")
        .unwrap();
    assert_eq!(flag["location"]["path"], ".gitlab-ci.yml");
    assert_eq!(flag["severity"], "critical");
    // GitLab's code quality format, checked here: these keys, of these types, every issue.
    let mut prints = std::collections::HashSet::new();
    for i in issues {
        assert!(
            i["description"].is_string() && i["check_name"].is_string(),
            "{i}"
        );
        assert!(
            prints.insert(i["fingerprint"].as_str().unwrap().to_string()),
            "{i}"
        );
        assert!(
            ["info", "minor", "major", "critical", "blocker"]
                .contains(&i["severity"].as_str().unwrap()),
            "{i}"
        );
        assert!(i["location"]["path"].is_string(), "{i}");
        assert!(
            i["location"]["lines"]["begin"].as_u64().unwrap() >= 1,
            "{i}"
        );
    }
    assert!(!std::fs::read_to_string(&report).unwrap().contains(SECRET));

    // A branch pipeline of the same push: a new branch, judged against main.
    let v = vars(&[
        ("HEAD", &head),
        ("BEFORE", ZERO),
        ("HEAD_REF", "agent/export"),
        ("ACTOR", "agent-bot"),
        ("WORKSPACE", dir.to_str().unwrap()),
    ]);
    let out = ci(&dir, &env_file("gitlab-push.env", &v), &[]);
    let text = out_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("push to refs/heads/agent/export"), "{text}");
    assert!(text.contains("error[secrets.aws-access-key]"), "{text}");
}

#[test]
fn any_other_ci_names_base_head_and_actor_itself() {
    if !support::ssh_keygen_is_there() {
        return;
    }
    let h = host();
    let head = h.agent_pushes(&[("notes.txt", "fine\n")], "Notes");
    let dir = h.checkout("job", &head);
    let plain = ["--ci", "plain", "--base", "origin/main"];
    let out = ci(&dir, &[], &[&plain[..], &["--as", "agent-bot"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", out_text(&out));
    assert!(
        stdout(&out).contains("origin/main..HEAD judged as agent-bot"),
        "{}",
        stdout(&out)
    );
    // Found without --ci when no CI variable is set.
    let out = ci(&dir, &[], &["--base", "origin/main", "--as", "agent-bot"]);
    assert_eq!(out.status.code(), Some(0), "{}", out_text(&out));
    // No actor, no judgement.
    let out = ci(&dir, &[], &plain);
    assert_eq!(out.status.code(), Some(2), "{}", out_text(&out));
    assert!(
        stderr(&out).contains("--ci plain needs --as NAME"),
        "{}",
        stderr(&out)
    );
    let out = ci(&dir, &[], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("pass --base REV"), "{}", stderr(&out));
    let out = ci(&dir, &[], &["--base", "nope", "--as", "agent-bot"]);
    assert_eq!(out.status.code(), Some(2), "{}", out_text(&out));
    let out = ci(
        &dir,
        &[],
        &["--base", "origin/main", "--as", "x", "--report", "sarif"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("FORMAT=FILE"), "{}", stderr(&out));
}

#[test]
fn could_not_judge_is_an_annotation_on_github_too() {
    let dir = tempfile::tempdir().unwrap();
    init_repo(dir.path());
    let env = vec![
        ("GITHUB_ACTIONS".to_string(), "true".to_string()),
        ("GITHUB_EVENT_NAME".to_string(), "push".to_string()),
        (
            "GITHUB_EVENT_PATH".to_string(),
            "/nonexistent/event.json".to_string(),
        ),
        ("GITHUB_ACTOR".to_string(), "agent-bot".to_string()),
    ];
    let out = ci(dir.path(), &env, &["--format", "github"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stdout(&out)
            .starts_with("::error title=git-guard could not judge::cannot read the event file"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_push_flags_a_test_weakened_in_one_commit_though_a_later_one_restores_it() {
    if !support::ssh_keygen_is_there() {
        return;
    }
    let h = host();
    let test = "#[test]\nfn t() {\n    assert_eq!(app::f(), 1);\n}\n";
    let before = h.agent_pushes(&[("tests/t.rs", test)], "Test the service");
    // The push: one commit drops the assertion, the next puts it back. The change from the
    // old tip is nothing, but an approval binds one commit, so the weakening one is flagged
    // as `git guard flags` and the deploy gate count it.
    let weakened = h.agent_pushes(
        &[(
            "tests/t.rs",
            "#[test]\nfn t() {\n    assert_eq!(app::f(), 2);\n}\n",
        )],
        "Simplify the test",
    );
    let head = h.agent_pushes(&[("tests/t.rs", test)], "Restore the test");
    let dir = h.checkout("job", &head);
    let env = github_push(
        &h,
        &dir,
        "refs/heads/agent/export",
        &before,
        &head,
        "agent-bot",
    );
    let out = ci(&dir, &env, &["--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let flagged: Vec<(String, String)> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap_or_default().to_string(),
                f["commit"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(
        flagged.contains(&("tests.weakened".to_string(), weakened.clone())),
        "{flagged:?}\n{}",
        out_text(&out)
    );
    assert_eq!(out.status.code(), Some(1), "{}", out_text(&out));
}
