//! Human overrides (`git guard allow BRANCH --max-lines N --path PATTERN -m WHY`) through real
//! pushes and real guard-deploy runs: they raise a cap or allow a protected path for one branch
//! only, show in the report and the audit log, can be revoked, and no agent can write one.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use support::git::*;
use support::server::*;

/// A server whose policy caps lines at 100, protects `self_upgrade/`, and deploys main to a
/// root in the temp directory; a clone on `agent/big`.
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    setup_with(tempfile::tempdir().unwrap(), "")
}

/// [`setup`] in `t`, with `more` appended to the policy.
fn setup_with(t: tempfile::TempDir, more: &str) -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let extra = format!(
        "[caps]\nmax_lines = 100\n[paths]\nprotected = [\"self_upgrade/**\"]\n[deploy]\nroot = \"{}\"\nreload_command = \"true\"\nhealth_command = \"true\"\n{more}",
        t.path().join("deploy").display()
    );
    let (bare, policy) = policy_server(t.path(), &extra, &["--host", "http"]);
    let work = clone_on(t.path(), &bare, "work", "agent/big");
    (t, bare, work, policy)
}

fn lines(n: usize) -> String {
    (0..n).map(|i| format!("row {i}\n")).collect()
}

/// `git guard ARGS` in `dir` as `user` under the server's policy, which sits beside the
/// server (the push it makes carries the same name).
fn guard_as(dir: &Path, user: &str, args: &[&str]) -> Output {
    let policy = dir.parent().unwrap().join("policy.toml");
    guard_cmd("git-guard", dir)
        .args(args)
        .args(["--as", user, "--policy", policy.to_str().unwrap()])
        .env("REMOTE_USER", user)
        .output()
        .unwrap()
}

/// The override ids of the server.
fn override_ids(bare: &Path) -> Vec<String> {
    git(
        bare,
        &[
            "for-each-ref",
            "--format=%(refname)",
            "refs/guard/overrides/",
        ],
    )
    .lines()
    .map(|r| r.trim_start_matches("refs/guard/overrides/").to_string())
    .collect()
}

#[test]
fn an_override_raises_the_cap_for_its_branch_only_until_revoked() {
    let (_t, bare, work, _) = setup();
    commit_file(&work, "data/table.txt", lines(150), "a generated table");
    let o = push_rejected(&work, "bot", "agent/big", &bare, "caps.lines");
    // (Counted for the whole proposal, agent/big against main, which is this push.)
    assert_remote_says(&o, "150 lines added or removed");
    assert_remote_says(&o, "the cap is 100");

    let o = guard_as(
        &work,
        "alice",
        &[
            "allow",
            "agent/big",
            "--max-lines",
            "200",
            "-m",
            "a generated table, reviewed",
        ],
    );
    assert_code(&o, 0);
    assert_contains(
        &stdout(&o),
        "git-guard allow: allowed caps.max_lines 200 on refs/heads/agent/big as alice (human)",
    );
    let ids = override_ids(&bare);
    assert_eq!(ids.len(), 1, "the override reached the server");

    let o = push_as(&work, "bot", &["origin", "agent/big"]);
    assert_code(&o, 0);
    assert_remote_says(&o, &format!("override {} by alice", &ids[0][..12]));
    assert_remote_says(&o, "caps.max_lines 200 (a generated table, reviewed)");
    let accepted = audit_lines(&bare)
        .into_iter()
        .rfind(|l| l["door"] == "pre-receive")
        .unwrap();
    assert_eq!(accepted["outcome"], "passed", "{accepted}");
    assert!(
        accepted["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "overrides.applied"),
        "{accepted}"
    );

    // Another branch keeps the policy's cap.
    git(&work, &["switch", "-q", "-c", "agent/other", "main"]);
    commit_file(&work, "data/other.txt", lines(150), "another table");
    let o = push_rejected(&work, "bot", "agent/other", &bare, "caps.lines");
    assert_remote_says(&o, "the cap is 100");

    // Past the raised cap, the raised cap is what is told.
    git(&work, &["switch", "-q", "agent/big"]);
    commit_file(&work, "data/more.txt", lines(250), "more rows");
    let o = push_rejected(&work, "bot", "agent/big", &bare, "caps.lines");
    // The raised cap holds for the branch as a whole: 150 lines pushed before and 250 now.
    assert_remote_says(&o, "400 lines added or removed by agent/big against main");
    assert_remote_says(&o, "(this push: 250), the cap is 200");

    // The report of the branch shows the override.
    let o = guard_cmd("git-guard", &bare)
        .args(["report", "agent/big", "--base", "main", "--format", "json"])
        .output()
        .unwrap();
    assert_code(&o, 0);
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(r["overrides"][0]["allows"], "caps.max_lines 200", "{r}");
    assert_eq!(r["overrides"][0]["approver"], "alice");
    assert_eq!(r["overrides"][0]["status"], "valid");
    let md = stdout_of(
        &guard_cmd("git-guard", &bare)
            .args(["report", "agent/big", "--base", "main"])
            .output()
            .unwrap(),
        0,
    );
    assert_contains(&md, "## Overrides");
    assert_contains(
        &md,
        "allows caps.max_lines 200 on `refs/heads/agent/big`, by alice",
    );

    // Revoked, the cap holds again.
    git(&work, &["reset", "-q", "--hard", "HEAD~1"]);
    commit_file(&work, "data/again.txt", lines(150), "more rows, again");
    let o = guard_as(
        &work,
        "alice",
        &["allow", "--revoke", &ids[0][..12], "-m", "done"],
    );
    assert_code(&o, 0);
    assert_contains(&stdout(&o), "revoked override");
    let o = push_rejected(&work, "bot", "agent/big", &bare, "caps.lines");
    assert_remote_says(&o, "the cap is 100");
    let listed = stdout_of(
        &guard_cmd("git-guard", &bare)
            .args(["overrides", "agent/big"])
            .output()
            .unwrap(),
        0,
    );
    assert_contains(&listed, "revoked by alice");
}

/// An override record as `git guard allow` writes it, made by hand: its blob id in `dir`.
fn forged_override(dir: &Path, approver: &str, role: &str) -> String {
    let line = format!(
        "{{\"version\":1,\"kind\":\"allow\",\"branch\":\"refs/heads/agent/big\",\"max_lines\":100000,\"approver\":\"{approver}\",\"role\":\"{role}\",\"source\":\"--as\",\"host\":\"h\",\"at\":\"2026-01-01T00:00:00Z\",\"at_unix\":1767225600,\"why\":\"forged\"}}\n"
    );
    let path = dir.join("forged.json");
    std::fs::write(&path, line).unwrap();
    git(dir, &["hash-object", "-w", path.to_str().unwrap()])
        .trim()
        .to_string()
}

#[test]
fn no_agent_can_write_an_override_whatever_it_pushes() {
    let (_t, bare, work, _) = setup();
    // Through the command: refused before anything is written.
    let o = guard_as(
        &work,
        "bot",
        &[
            "allow",
            "agent/big",
            "--max-lines",
            "800",
            "-m",
            "I need more",
        ],
    );
    assert_code(&o, 1);
    assert_contains(&stdout(&o), "overrides.approver");
    assert_contains(&stdout(&o), "bot (agent) may not write overrides");
    assert!(override_ids(&bare).is_empty());

    // By hand, in the agent's own name or a human's: the receive door refuses either.
    for (approver, role) in [("bot", "agent"), ("alice", "human")] {
        let id = forged_override(&work, approver, role);
        let refspec = format!("{id}:refs/guard/overrides/{id}");
        let o = push_rejected(&work, "bot", &refspec, &bare, "overrides.approver");
        assert_remote_says(&o, "bot (agent) may not write overrides");
    }
    // A human may not write one in another's name, nor remove one.
    let id = forged_override(&work, "alice", "human");
    let refspec = format!("{id}:refs/guard/overrides/{id}");
    push_rejected(&work, "root-admin", &refspec, &bare, "overrides.identity");
    assert_code(&push_as(&work, "alice", &["origin", &refspec]), 0);
    push_rejected(
        &work,
        "alice",
        &format!(":refs/guard/overrides/{id}"),
        &bare,
        "overrides.immutable",
    );
    assert!(!override_ids(&bare).is_empty());
}

#[test]
fn an_override_of_the_deploy_branch_lets_a_protected_path_deploy_and_no_other_does() {
    let (t, bare, work, policy) = setup();
    git(&work, &["switch", "-q", "main"]);
    commit_file(
        &work,
        "self_upgrade/rules.py",
        "LIMIT = 2\n",
        "raise the limit",
    );
    assert_code(&push_as(&work, "alice", &["origin", "main"]), 0);
    let deploy = || {
        guard_cmd("guard-deploy", t.path())
            .arg("--repo")
            .arg(&bare)
            .arg("--policy")
            .arg(&policy)
            .args(["deploy", "main"])
            .output()
            .unwrap()
    };
    let o = deploy();
    assert_code(&o, 1);
    assert_contains(&stdout(&o), "not approved: flag[paths.protected]");

    // An override of another branch changes nothing for main.
    let o = guard_as(
        &work,
        "alice",
        &[
            "allow",
            "agent/big",
            "--path",
            "self_upgrade/**",
            "-m",
            "only there",
        ],
    );
    assert_code(&o, 0);
    assert_code(&deploy(), 1);

    let o = guard_as(
        &work,
        "alice",
        &[
            "allow",
            "main",
            "--path",
            "self_upgrade/**",
            "-m",
            "the limit change is planned",
        ],
    );
    assert_code(&o, 0);
    let o = deploy();
    assert_code(&o, 0);
    let text = stdout(&o);
    assert_contains(&text, "allowed on refs/heads/main by override");
    assert_contains(&text, "by alice");
    assert_contains(
        &text,
        "protected paths self_upgrade/** (the limit change is planned)",
    );
}

#[test]
fn where_the_policy_requires_signatures_only_a_signed_override_counts() {
    if !support::ssh_keygen_is_there() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (key, public) = support::keygen(t.path(), "alice_key");
    let signers = t.path().join("allowed_signers");
    std::fs::write(&signers, format!("alice {public}\n")).unwrap();
    let more = format!(
        "[approvals]\nrequire_signature = true\nallowed_signers = {:?}\n",
        signers.display().to_string()
    );
    let (_t, bare, work, _) = setup_with(t, &more);
    commit_file(&work, "data/table.txt", lines(150), "a generated table");

    let args = ["allow", "agent/big", "--max-lines", "200", "-m", "reviewed"];
    let o = guard_as(&work, "alice", &args);
    assert_code(&o, 1);
    assert_contains(&stdout(&o), "overrides.signature");
    assert_contains(&stdout(&o), "not signed");
    assert!(override_ids(&bare).is_empty());

    let mut signed = args.to_vec();
    signed.extend(["--sign", key.to_str().unwrap()]);
    let o = guard_as(&work, "alice", &signed);
    assert_code(&o, 0);
    assert_contains(&stdout(&o), ", signed; record refs/guard/overrides/");
    let o = push_as(&work, "bot", &["origin", "agent/big"]);
    assert_code(&o, 0);
    assert_remote_says(&o, "caps.max_lines 200, signed (reviewed)");
}
