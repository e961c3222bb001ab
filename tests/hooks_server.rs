//! Server hooks through real pushes: pre-receive sees the quarantined objects (loose and
//! packed), judges every new commit, tells pushers apart by the installed host's variable only,
//! reads its policy from where the admin put it, and records its verdicts.

mod support;

use support::git::*;
use support::server::*;

fn loose_and_packs(repo: &std::path::Path) -> (u64, u64) {
    let out = git(repo, &["count-objects", "-v"]);
    let get = |k: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.trim().parse::<u64>().unwrap())
            .unwrap()
    };
    (get("count:"), get("packs:"))
}

fn quarantine_case(pack: bool) {
    let (_t, bare, work) = guarded_clone("", &["--host", "http"], Some("agent/topic"));
    if pack {
        // Keep every push as a pack, as git does for large pushes.
        git(&bare, &["config", "receive.unpackLimit", "1"]);
    }
    let (loose0, packs0) = loose_and_packs(&bare);
    write(&work, "src/lib.rs", "pub fn f() {}\n");
    write(&work, "app/.env", "TOKEN=x\n");
    commit_all(&work, "add config");
    // The denied path is only visible in the pushed tree: catching it proves the quarantined
    // objects were read.
    let o = push_rejected(&work, "bot", "agent/topic", &bare, "paths.deny");
    assert_remote_says(&o, "app/.env");

    git(&work, &["rm", "-q", "--cached", "app/.env"]);
    std::fs::remove_file(work.join("app/.env")).unwrap();
    git(
        &work,
        &["commit", "-q", "--amend", "--no-verify", "-m", "add lib"],
    );
    let o = push_as(&work, "bot", &["origin", "agent/topic"]);
    assert!(o.status.success(), "clean push refused:\n{}", stderr(&o));
    assert_eq!(rev(&bare, "refs/heads/agent/topic"), rev(&work, "HEAD"));
    let (loose1, packs1) = loose_and_packs(&bare);
    if pack {
        assert!(packs1 > packs0, "the push should have been kept as a pack");
        // The only loose objects written are post-receive's push records, one per ref update.
        let records = git(&bare, &["for-each-ref", "refs/guard/pushes/"])
            .lines()
            .count() as u64;
        assert_eq!(records, 1);
        assert_eq!(loose1, loose0 + records);
    } else {
        assert!(
            loose1 > loose0,
            "the push should have been unpacked to loose objects"
        );
        assert_eq!(packs1, packs0);
    }
    // Nothing of ours was left in the repository's object directory.
    assert!(
        snapshot(&bare)
            .files
            .iter()
            .all(|f| !f.contains("git-guard"))
    );
}

#[test]
fn pushed_loose_objects_are_judged_from_the_quarantine() {
    quarantine_case(false);
}

#[test]
fn pushed_packs_are_judged_from_the_quarantine() {
    quarantine_case(true);
}

#[test]
fn every_commit_is_judged_so_a_secret_added_then_removed_is_caught() {
    let (_t, bare, work) = guarded_clone("", &["--host", "http"], Some("agent/topic"));
    write(&work, "config.py", "aws_key = 'AKIAIOSFODNN7EXAMPLF'\n"); // guard:allow-secret (a test fixture)
    let bad = commit_all(&work, "add key");
    commit_file(&work, "config.py", "aws_key = None\n", "remove key");
    let o = push_rejected(&work, "bot", "agent/topic", &bare, "secrets.aws-access-key");
    // The offending commit is named.
    assert_remote_says(&o, &bad[..12]);
}

#[test]
fn the_pusher_is_known_by_the_installed_hosts_variable_only() {
    let (_t, bare, work) = guarded_clone("", &["--host", "gitolite"], None);
    commit_file(&work, "docs.md", "more\n", "docs");
    let push = |envs: &[(&str, &str)]| {
        let mut c = git_cmd(&work);
        for (k, v) in envs {
            c.env(k, v);
        }
        c.args(["push", "origin", "main"]).output().unwrap()
    };
    let before = snapshot(&bare);
    // The agent may not update the protected branch.
    let o = push(&[("GL_USER", "bot")]);
    assert_rejected(&o, "refs.protected", &before, &bare);
    // Another host's variable is not believed: the install says gitolite.
    let o = push(&[("REMOTE_USER", "alice"), ("GL_USERNAME", "alice")]);
    assert!(!o.status.success());
    assert_contains(&stderr(&o), "GL_USER is not set");
    assert_eq!(snapshot(&bare), before);
    // The human may.
    let o = push(&[("GL_USER", "alice")]);
    assert_code(&o, 0);
    assert_eq!(rev(&bare, "main"), rev(&work, "HEAD"));
}

#[test]
fn the_policy_comes_from_the_base_branch_before_the_push_not_from_the_push() {
    let t = tempfile::tempdir().unwrap();
    // No --policy: policy.toml on main governs.
    let committed = format!("{TEST_POLICY}\n[caps]\nmax_files = 2\n");
    let bare = seeded_server(
        t.path(),
        &[("policy.toml", &committed)],
        &["--host", "http"],
    );
    let work = clone_on(t.path(), &bare, "work", "agent/topic");
    // The push tries to lift the cap in the same change that exceeds it.
    write(
        &work,
        "policy.toml",
        format!("{TEST_POLICY}\n[caps]\nmax_files = 100\n"),
    );
    for i in 0..4 {
        write(&work, &format!("f{i}.txt"), "x\n");
    }
    commit_all(&work, "lift the cap and use it");
    let o = push_rejected(&work, "bot", "agent/topic", &bare, "caps.files");
    // The verdict names the policy it used.
    assert_remote_says(&o, "policy.toml at refs/heads/main");
}

#[test]
fn a_broken_committed_policy_rejects_every_push() {
    let t = tempfile::tempdir().unwrap();
    let bare = seeded_server(
        t.path(),
        &[("policy.toml", "[caps]\nmax_filez = 1\n")],
        &["--host", "http"],
    );
    let work = clone_on(t.path(), &bare, "work", "agent/topic");
    commit_file(&work, "a.txt", "a\n", "a");
    let before = snapshot(&bare);
    let o = push_as(&work, "alice", &["origin", "agent/topic"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert_contains(&err, "policy.toml at refs/heads/main is broken");
    assert!(err.contains("max_filez"), "the problem is named:\n{err}");
    assert_eq!(snapshot(&bare), before);
}

#[test]
fn verdicts_and_accepted_updates_reach_the_audit_log() {
    let (_t, bare, work) = guarded_clone("", &["--host", "http"], Some("agent/topic"));
    commit_file(&work, ".env", "A=1\n", "env");
    assert!(
        !push_as(&work, "bot", &["origin", "agent/topic"])
            .status
            .success()
    );
    git(&work, &["reset", "-q", "--hard", "HEAD~1"]);
    commit_file(&work, "ok.txt", "ok\n", "ok");
    assert!(
        push_as(&work, "bot", &["origin", "agent/topic"])
            .status
            .success()
    );
    let log = audit_lines(&bare);
    let doors: Vec<(&str, &str)> = log
        .iter()
        .map(|e| (e["door"].as_str().unwrap(), e["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        doors,
        vec![
            ("pre-receive", "rejected"),
            ("pre-receive", "passed"),
            ("post-receive", "accepted")
        ]
    );
    assert_eq!(log[0]["actor"], "bot");
    assert_eq!(log[0]["role"], "agent");
    assert!(
        log[0]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "paths.deny")
    );
    assert_eq!(log[2]["action"], "create refs/heads/agent/topic");
}

#[test]
fn guard_format_json_gives_the_verdict_as_json() {
    let (_t, _, work) = guarded_clone("", &["--host", "http"], Some("agent/topic"));
    commit_file(&work, "id_rsa", "key\n", "key");
    let o = git_cmd(&work)
        .env("REMOTE_USER", "bot")
        .env("GUARD_FORMAT", "json")
        .args(["push", "origin", "agent/topic"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let lines = remote_lines(&o);
    let start = lines
        .iter()
        .position(|l| l == "{")
        .expect("a JSON document");
    let end = lines.iter().rposition(|l| l == "}").unwrap();
    let doc: serde_json::Value = serde_json::from_str(&lines[start..=end].join("\n")).unwrap();
    assert_eq!(doc["outcome"], "rejected");
    assert_eq!(doc["exit_code"], 1);
    assert!(
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "paths.deny" && f["path"] == "id_rsa")
    );
}

#[test]
fn the_shipped_update_shim_gives_the_same_verdict_for_one_ref() {
    let t = tempfile::tempdir().unwrap();
    let bare = seeded_bare(t.path(), &[("README.md", "x\n")]);
    let seed = t.path().join("seed");
    // As an admin copying hooks by hand: the shipped shim, and a configuration beside it.
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks/update");
    std::fs::copy(&shipped, bare.join("hooks/update")).unwrap();
    let policy = policy_file(t.path(), "");
    std::fs::write(
        bare.join("hooks/git-guard.toml"),
        format!(
            "side = \"server\"\nhost = \"http\"\npolicy = {:?}\n",
            policy.display().to_string()
        ),
    )
    .unwrap();
    let work = clone(t.path(), &bare, "work");
    commit_file(&work, "b.txt", "b\n", "b");
    git(&work, &["switch", "-q", "-c", "agent/ok"]);
    let before = snapshot(&bare);
    let o = push_as(&work, "bot", &["origin", "main", "agent/ok"]);
    assert!(!o.status.success());
    assert_remote_says(&o, "refs.protected");
    // The update hook judges ref by ref: main is refused, the agent's own branch lands.
    assert_eq!(rev(&bare, "main"), rev(&seed, "HEAD"));
    assert_eq!(rev(&bare, "agent/ok"), rev(&work, "HEAD"));
    assert_ne!(snapshot(&bare).refs, before.refs);
}

#[test]
fn sha256_repositories_are_judged_too() {
    let t = tempfile::tempdir().unwrap();
    let seed = t.path().join("seed");
    std::fs::create_dir_all(&seed).unwrap();
    git(
        &seed,
        &["init", "-q", "-b", "main", "--object-format=sha256"],
    );
    commit_file(&seed, "README.md", "x\n", "seed");
    let bare = clone_bare(t.path(), &seed, "server.git");
    let policy = policy_file(t.path(), "");
    install_server(
        t.path(),
        &bare,
        &["--host", "http", "--policy", policy.to_str().unwrap()],
    );
    let work = clone_on(t.path(), &bare, "work", "agent/x");
    commit_file(&work, "server.pem", "k\n", "pem");
    push_rejected(&work, "bot", "agent/x", &bare, "paths.deny");
    git(&work, &["reset", "-q", "--hard", "HEAD~1"]);
    commit_file(&work, "ok.txt", "ok\n", "ok");
    let o = push_as(&work, "bot", &["origin", "agent/x"]);
    assert_code(&o, 0);
}
