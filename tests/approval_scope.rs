//! What one approval covers, through real pushes to a guarded server and a real guard-deploy:
//! exactly the commit the approver saw, so a later commit changing the same flagged path needs
//! its own approval; and an agent's secret allow marker, which is a flag a human approves at
//! deploy too, while a human's marker still allows.
//!
//! Every secret below is made up for the test.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use support::git::*;
use support::server::*;

const KEY: &str = "AKIAZ7Q3WLMNQ4RTK2XY"; // guard:allow-secret (a test fixture)

/// The deploy user: guard-deploy's identity is the unix user running it, a human here.
fn deploy_user() -> String {
    let uid = nix::unistd::geteuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(u)) => u.name,
        _ => format!("uid:{uid}"),
    }
}

/// A guarded server (http host: the pusher is `REMOTE_USER`) whose main holds a library, a
/// deploy root beside it, and the policy both use (alice and the deploy user are humans).
struct Site {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    bare: PathBuf,
    policy: PathBuf,
}

fn site() -> Site {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "[actors]\nhumans = [\"alice\", \"{}\"]\nagents = [\"bot\"]\ndefault_role = \"agent\"\n\
             [deploy]\nroot = \"{}\"\nreload_command = \"true\"\nhealth_command = \"true\"\n",
            deploy_user(),
            dir.join("deploy").display()
        ),
    )
    .unwrap();
    let bare = seeded_bare(&dir, &[("src/lib.rs", "pub fn f() -> u32 { 1 }\n")]);
    install_server(
        &dir,
        &bare,
        &["--host", "http", "--policy", policy.to_str().unwrap()],
    );
    Site {
        _tmp: tmp,
        dir,
        bare,
        policy,
    }
}

impl Site {
    /// `git guard ARGS --policy P` in `dir` as `user`.
    fn guard_as(&self, dir: &Path, user: &str, args: &[&str]) -> Output {
        guard_cmd("git-guard", dir)
            .env("REMOTE_USER", user)
            .args(args)
            .arg("--policy")
            .arg(&self.policy)
            .output()
            .unwrap()
    }

    /// alice approves every outstanding flag of `commit` from her clone `alice`.
    fn approve(&self, alice: &Path, commit: &str) {
        git(alice, &["fetch", "-q", "origin"]);
        let o = self.guard_as(
            alice,
            "alice",
            &["approve", commit, "-m", "read the change", "--as", "alice"],
        );
        assert_code(&o, 0);
    }

    /// alice fast-forwards the server's main to the agent's branch.
    fn merge_agent_branch(&self, alice: &Path) {
        git(alice, &["fetch", "-q", "origin"]);
        let o = push_as(
            alice,
            "alice",
            &["origin", "origin/agent/x:refs/heads/main"],
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }

    /// `guard-deploy deploy main` on the server, as the deploy user.
    fn deploy(&self) -> Output {
        guard_cmd("guard-deploy", &self.dir)
            .arg("--repo")
            .arg(&self.bare)
            .arg("--policy")
            .arg(&self.policy)
            .args(["deploy", "main"])
            .output()
            .unwrap()
    }

    fn deployed_commit(&self) -> Option<String> {
        let s = std::fs::read_to_string(self.dir.join("deploy/status.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        (v["state"] == "done").then(|| v["commit"].as_str().unwrap().to_string())
    }
}

/// The agent commits `content` to tests/t.rs and pushes its branch; the commit id.
fn agent_changes_test(agent: &Path, content: &str, msg: &str) -> String {
    let c = commit_file(agent, "tests/t.rs", content, msg);
    let o = push_as(agent, "bot", &["origin", "agent/x"]);
    assert!(o.status.success(), "{}", stderr(&o));
    c
}

#[test]
fn a_later_change_of_an_approved_test_file_needs_its_own_approval_before_deploy() {
    let s = site();
    assert_code(&s.deploy(), 0);
    let agent = clone_on(&s.dir, &s.bare, "agent", "agent/x");
    let alice = clone(&s.dir, &s.bare, "alice");

    // The approver reads the first change of the test and approves it.
    let a = agent_changes_test(
        &agent,
        "#[test]\nfn t() { assert_eq!(super::f(), 1); }\n",
        "test f",
    );
    s.approve(&alice, &a);
    // Then the agent changes the same test again on the same branch: nobody saw this one.
    let b = agent_changes_test(&agent, "#[test]\nfn t() {}\n", "simplify the test");
    s.merge_agent_branch(&alice);

    let o = s.deploy();
    let out = stdout(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "the second change deployed on the first approval:\n{out}{}",
        stderr(&o)
    );
    assert_contains(
        &out,
        &format!(
            "git guard approve {} --flag tests.changed:tests/t.rs",
            &b[..12]
        ),
    );
    assert!(
        !out.contains(&format!("git guard approve {}", &a[..12])),
        "the approved commit is not asked again:\n{out}"
    );
    assert_ne!(s.deployed_commit().as_deref(), Some(b.as_str()));

    // `git guard flags` and the report show each commit's flag on its own line.
    let range = format!("{a}~1..{b}");
    let flags = stdout(&s.guard_as(&s.bare, "alice", &["flags", &range]));
    let line_of = |c: &str| {
        let at = flags
            .find(&c[..12])
            .unwrap_or_else(|| panic!("{c} not listed:\n{flags}"));
        flags[at..].lines().nth(1).unwrap_or_default().to_string()
    };
    assert!(line_of(&a).contains("[approved by"), "{flags}");
    assert!(line_of(&b).contains("[outstanding]"), "{flags}");
    assert_contains(&flags, "in 2 commits");
    let report = stdout(&s.guard_as(&s.bare, "alice", &["report", "main", "--base", &a]));
    assert_contains(&report, &b[..12]);
    assert_contains(&report, "tests.changed:tests/t.rs");

    // Its own approval lets it through.
    s.approve(&alice, &b);
    let o = s.deploy();
    assert_code(&o, 0);
    assert_eq!(s.deployed_commit().as_deref(), Some(b.as_str()));
}

#[test]
fn a_first_deploy_checks_every_pushed_commit_not_only_the_tip() {
    let s = site();
    let agent = clone_on(&s.dir, &s.bare, "agent", "agent/x");
    let alice = clone(&s.dir, &s.bare, "alice");
    let a = agent_changes_test(&agent, "#[test]\nfn t() {}\n", "simplify the test");
    // A harmless tip on top hides the unapproved change if only the tip is judged.
    let b = commit_file(&agent, "README.md", "hello again\n", "readme");
    let o = push_as(&agent, "bot", &["origin", "agent/x"]);
    assert!(o.status.success(), "{}", stderr(&o));
    s.merge_agent_branch(&alice);

    let o = s.deploy();
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "deployed:\n{out}{}", stderr(&o));
    assert_contains(
        &out,
        &format!(
            "git guard approve {} --flag tests.changed:tests/t.rs",
            &a[..12]
        ),
    );
    s.approve(&alice, &a);
    assert_code(&s.deploy(), 0);
    assert_eq!(s.deployed_commit().as_deref(), Some(b.as_str()));
}

#[test]
fn an_agents_secret_allow_marker_waits_for_a_human_at_deploy() {
    let s = site();
    assert_code(&s.deploy(), 0);
    let agent = clone_on(&s.dir, &s.bare, "agent", "agent/x");
    let alice = clone(&s.dir, &s.bare, "alice");
    let line = format!("aws_key = '{KEY}'  # guard:allow-secret\n");
    let c = commit_file(&agent, "config.py", &line, "config");
    let o = push_as(&agent, "bot", &["origin", "agent/x"]);
    assert!(o.status.success(), "a flag does not block: {}", stderr(&o));
    s.merge_agent_branch(&alice);

    // The deploy user is a human, but the marker is the agent's: it silences nothing.
    let o = s.deploy();
    let out = stdout(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "the agent's marker silenced the secret at deploy:\n{out}{}",
        stderr(&o)
    );
    assert_contains(&out, "secrets.aws-access-key");
    assert_contains(&out, "AKIA****");
    assert!(
        !out.contains(&KEY[4..]),
        "the secret is shown whole:\n{out}"
    );
    let flags = stdout(&s.guard_as(&s.bare, "alice", &["flags", &c]));
    assert_contains(&flags, "AKIA****");
    assert_contains(&flags, "[outstanding] secrets.aws-access-key:config.py");

    s.approve(&alice, &c);
    assert_code(&s.deploy(), 0);
    assert_eq!(s.deployed_commit().as_deref(), Some(c.as_str()));

    // A human's marker is the human's word, at deploy as at receive.
    git(&alice, &["fetch", "-q", "origin"]);
    git(&alice, &["reset", "-q", "--hard", "origin/main"]);
    let h = commit_file(&alice, "fixture.py", &line, "fixture");
    let o = push_as(&alice, "alice", &["origin", "main"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = s.deploy();
    assert_code(&o, 0);
    assert_eq!(s.deployed_commit().as_deref(), Some(h.as_str()));
}
