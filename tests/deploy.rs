//! guard-deploy through the real binary: deploys, refusals, reload, health, rollback, prune,
//! push, status and list.

mod support;

use support::deploy::*;
use support::git::*;

const OK_HOOKS: &str = "reload_command = \"true\"\nhealth_command = \"true\"\n";

#[test]
fn deploy_materialises_switches_and_records_every_step() {
    let f = Fixture::new(OK_HOOKS, "");
    let c1 = git(&f.repo, &["rev-parse", "HEAD"]).trim().to_string();
    let o = f.expect(&["deploy", "main"], 0);
    assert_contains(&stdout(&o), "deployed");
    let a = f.current().expect("current is set");
    assert!(a.ends_with(&c1[..12]), "{a}");
    f.assert_complete(&a);
    let exec = std::fs::metadata(f.root.join("releases").join(&a).join("bin/run.sh")).unwrap();
    assert_ne!(
        std::os::unix::fs::PermissionsExt::mode(&exec.permissions()) & 0o100,
        0
    );
    let s = f.status_json();
    assert_eq!(s["state"], "done");
    assert_eq!(s["release"], a.as_str());
    assert_eq!(s["commit"], c1.as_str());
    assert!(s["previous"].is_null());

    let c2 = f.commit(2);
    let b = f.deploy();
    assert_ne!(a, b);
    f.assert_complete(&b);
    assert_eq!(f.meta(&b)["previous"], a.as_str());
    assert_eq!(f.meta(&b)["commit"], c2.as_str());
    assert_eq!(f.status_json()["previous"], a.as_str());

    // Every step of the second deploy is in the audit log, from the deploy door.
    let audit = std::fs::read_to_string(f.root.join("audit.log")).unwrap();
    let short2 = &c2[..12];
    for step in [
        "lock",
        "check",
        "approvals",
        "tests",
        "materialise",
        "switch",
        "reload",
        "health",
        "prune",
    ] {
        assert!(
            audit.lines().any(|l| l.contains("\"door\":\"deploy\"")
                && l.contains(&format!("deploy {short2} step {step}\""))),
            "no audit record of step {step}:\n{audit}"
        );
    }

    let o = f.expect(&["list"], 0);
    let list = stdout(&o);
    let line = |id: &str| {
        list.lines()
            .find(|l| l.starts_with(id))
            .unwrap()
            .to_string()
    };
    assert!(line(&b).contains("current"), "{list}");
    assert!(line(&a).contains("backup"), "{list}");
    let o = f.expect(&["status"], 0);
    assert_contains(&stdout(&o), "consistent");
    assert!(stdout(&o).contains(&format!("current: releases/{b}")));
}

#[test]
fn failing_tests_refuse_and_change_nothing() {
    // The tests run in a clean checkout: a file only in the working directory is not there.
    let f = Fixture::new(
        OK_HOOKS,
        "command = \"grep -q 'version 1' app.txt && test ! -e untracked.txt\"",
    );
    write(&f.repo, "untracked.txt", "not committed\n");
    let a = f.deploy();
    f.commit(2);
    let o = f.expect(&["deploy", "main"], 1);
    assert_contains(&stdout(&o), "REFUSED: the tests failed");
    assert_eq!(f.current().unwrap(), a);
    let s = f.status_json();
    assert_eq!(s["state"], "refused");
    assert_eq!(s["step"], "tests");
    f.assert_no_leftovers();
    f.expect(&["status"], 0);
}

#[test]
fn a_commit_not_on_the_deploy_branch_is_refused() {
    let f = Fixture::new(OK_HOOKS, "");
    git(&f.repo, &["checkout", "-q", "-b", "side"]);
    let side = f.commit(9);
    git(&f.repo, &["checkout", "-q", "main"]);
    let o = f.expect(&["deploy", &side], 1);
    assert_contains(&stdout(&o), "is not on the deploy branch main");
    assert!(f.current().is_none());
}

#[test]
fn an_unknown_revision_changes_nothing_and_exits_2() {
    let f = Fixture::new(OK_HOOKS, "");
    let o = f.expect(&["deploy", "no-such-branch"], 2);
    assert_contains(&stderr(&o), "no-such-branch");
    assert!(!f.root.join("status.json").exists());
    assert!(!f.root.join("lock").exists());
}

#[test]
fn a_failing_health_check_rolls_back_to_the_backup() {
    let f = Fixture::new(OK_HOOKS, "");
    let a = f.deploy();
    f.commit(2);
    f.set_policy(
        "reload_command = \"echo $GUARD_RELEASE >> ../reloads\"\nhealth_command = \"grep -q 'version 1' current/app.txt\"\nhealth_retries = 2\nhealth_interval_ms = 10\n",
        "",
    );
    let o = f.expect(&["deploy", "main"], 1);
    assert_contains(&stdout(&o), "ROLLED BACK");
    assert_eq!(f.current().unwrap(), a);
    f.assert_complete(&a);
    let s = f.status_json();
    assert_eq!(s["state"], "rolled-back");
    assert!(
        s["error"].as_str().unwrap().contains("health check failed"),
        "{s}"
    );
    let b = s["release"].as_str().unwrap().to_string();
    assert_eq!(f.meta(&b)["state"], "failed");
    // Reloaded into the new release, then into the backup again.
    let reloads = std::fs::read_to_string(f.tmp.path().join("reloads")).unwrap();
    assert_eq!(reloads, format!("{b}\n{a}\n"));
    let list = stdout(&f.expect(&["list"], 0));
    assert_contains(&list, "failed");
    f.expect(&["status"], 0);
}

#[test]
fn a_failing_first_deploy_leaves_no_current() {
    let f = Fixture::new("health_command = \"false\"\nhealth_retries = 1\n", "");
    let o = f.expect(&["deploy", "main"], 1);
    assert_contains(&stdout(&o), "no previous release");
    assert!(f.current().is_none());
    assert!(!f.root.join("current").exists());
}

#[test]
fn health_url_is_checked_over_http() {
    use std::io::{Read as _, Write as _};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).unwrap();
        s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    let f = Fixture::new(
        &format!("health_url = \"http://127.0.0.1:{port}/healthz\"\n"),
        "",
    );
    let o = f.expect(&["deploy", "main"], 0);
    assert_contains(&stdout(&o), "answered 2xx");
    let request = server.join().unwrap();
    assert!(request.starts_with("GET /healthz HTTP/1."), "{request}");
}

#[test]
fn reload_sends_the_signal_to_the_pidfile_process() {
    let f = Fixture::new("", "");
    let (mut service, _) = f.service("TERM");
    let o = f.expect(&["deploy", "main"], 0);
    assert_contains(&stdout(&o), "sent SIGTERM");
    let st = service.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&st), Some(15));
}

#[test]
fn rollback_goes_to_the_backup_or_a_named_release() {
    let f = Fixture::new(OK_HOOKS, "");
    let a = f.deploy();
    f.commit(2);
    let b = f.deploy();
    f.commit(3);
    let c = f.deploy();

    let o = f.expect(&["rollback"], 0);
    assert_contains(&stdout(&o), &format!("rolled back to releases/{b}"));
    assert_eq!(f.current().unwrap(), b);
    assert_eq!(f.status_json()["action"], "rollback");
    f.expect(&["status"], 0);

    f.expect(&["rollback", &c], 0);
    assert_eq!(f.current().unwrap(), c);
    let o = f.expect(&["rollback", "nope"], 2);
    assert_contains(&stderr(&o), "no release \"nope\"");
    assert_eq!(f.current().unwrap(), c);
    let _ = a;
}

#[test]
fn prune_keeps_the_newest_and_never_the_backup() {
    let f = Fixture::new(&format!("{OK_HOOKS}keep = 2\n"), "");
    let mut ids = vec![f.deploy()];
    for v in 2..=4 {
        f.commit(v);
        ids.push(f.deploy());
    }
    let mut left: Vec<String> = std::fs::read_dir(f.root.join("releases"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".json"))
        .collect();
    left.sort();
    assert_eq!(left, vec![ids[2].clone(), ids[3].clone()]);
    assert!(
        !f.root
            .join("releases")
            .join(format!("{}.json", ids[0]))
            .exists()
    );

    // After rolling back, the release rolled back from is newer than current: the backup
    // of current (ids[1]) is pruned already, but current itself always stays.
    f.expect(&["rollback", &ids[2]], 0);
    f.commit(5);
    let cur = f.deploy();
    assert!(f.root.join("releases").join(&cur).is_dir());
    assert!(
        f.root.join("releases").join(&ids[2]).is_dir(),
        "the backup is kept"
    );
}

#[test]
fn the_deployed_commit_is_pushed_when_the_policy_asks() {
    let f = Fixture::new("", "");
    let remote = f.prod_remote();
    f.set_policy(
        &format!("{OK_HOOKS}push_remote = \"{}\"\n", remote.display()),
        "",
    );
    let head = git(&f.repo, &["rev-parse", "HEAD"]).trim().to_string();
    f.expect(&["deploy", "main"], 0);
    let pushed = git(&remote, &["rev-parse", "refs/heads/main"]);
    assert_eq!(pushed.trim(), head);
}

#[test]
fn materialise_plumbing_writes_the_tree() {
    let f = Fixture::new("", "");
    let dir = f.tmp.path().join("out");
    let o = guard_cmd("guard-deploy", &f.repo)
        .args(["materialise", "HEAD"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_contains(&stdout(&o), "2 files, 1 symlinks");
    assert_eq!(
        std::fs::read_to_string(dir.join("link")).unwrap(),
        "version 1\n"
    );
}

#[test]
fn a_policy_violation_since_the_deployed_commit_is_refused() {
    let f = Fixture::new(OK_HOOKS, "");
    let a = f.deploy();
    // Whatever skipped a hook on the way in is caught here.
    commit_file(&f.repo, ".env", "PASSWORD=x\n", "add env");
    f.commit(3);
    let o = f.expect(&["deploy", "main"], 1);
    let out = stdout(&o);
    assert_contains(&out, "paths.deny");
    assert_contains(&out, "REFUSED: the policy rejects");
    assert_eq!(f.current().unwrap(), a);
    assert_eq!(f.status_json()["step"], "check");
}

#[test]
fn a_flag_refuses_until_approved_for_exactly_this_commit() {
    let f = Fixture::new(OK_HOOKS, "");
    f.expect(&["deploy", "main"], 0);
    let flagged = commit_file(&f.repo, "tests/it.sh", "#!/bin/sh\nexit 0\n", "add a test");
    let o = f.expect(&["deploy", "main"], 1);
    let out = stdout(&o);
    assert_contains(&out, "not approved");
    assert_contains(&out, "git guard approve");
    assert_eq!(f.status_json()["step"], "approvals");

    let policy = f.policy.to_str().unwrap();
    let o = guard_cmd("git-guard", &f.repo)
        .args([
            "approve",
            &flagged,
            "--as",
            "alice",
            "--no-push",
            "-m",
            "read it",
        ])
        .args(["--policy", policy])
        .output()
        .unwrap();
    assert_code(&o, 0);
    f.expect(&["deploy", "main"], 0);
    assert_eq!(f.status_json()["commit"], flagged.as_str());
}

/// The last audit record of the deploy root's log.
fn last_audit(f: &Fixture) -> serde_json::Value {
    let log = std::fs::read_to_string(f.root.join("audit.log")).unwrap();
    serde_json::from_str(log.lines().last().unwrap()).unwrap()
}

#[test]
fn a_deploy_refused_for_flags_counts_them_as_flags() {
    let f = Fixture::new(OK_HOOKS, "");
    f.expect(&["deploy", "main"], 0);
    commit_file(&f.repo, "tests/it.sh", "#!/bin/sh\nexit 0\n", "add a test");
    let o = f.expect(&["deploy", "main"], 1);
    let out = stdout(&o);
    assert_contains(&out, "0 violations, 1 flag");
    assert_contains(&out, "not approved for the commit that raised it (");
    assert_contains(&out, "): tests.changed:tests/it.sh\n");
    let status = f.status_json();
    assert_eq!(
        status["flags"],
        serde_json::json!(["tests.changed:tests/it.sh"])
    );
    assert!(status.get("violations").is_none(), "{status}");
    let refused = last_audit(&f);
    assert_eq!(refused["outcome"], "refused");
    assert_eq!(
        refused["rules"],
        serde_json::json!(["tests.changed:tests/it.sh"])
    );
    assert_eq!(
        refused["detail"]["flags"],
        serde_json::json!(["tests.changed:tests/it.sh"])
    );
    assert!(refused["detail"].get("violations").is_none(), "{refused}");
    let o = f.expect(&["status"], 0);
    assert_contains(&stdout(&o), "flags not approved: tests.changed:tests/it.sh");

    // A violation beside the flag: the violation is counted as one, the flag as a flag.
    commit_file(&f.repo, ".env", "PASSWORD=x\n", "add env");
    let o = f.expect(&["deploy", "main"], 1);
    assert_contains(
        &stdout(&o),
        "(1 violation: paths.deny; and 1 flag: tests.changed:tests/it.sh)",
    );
    let status = f.status_json();
    assert_eq!(status["violations"], serde_json::json!(["paths.deny"]));
    assert_eq!(
        status["flags"],
        serde_json::json!(["tests.changed:tests/it.sh"])
    );
    let refused = last_audit(&f);
    assert_eq!(
        refused["detail"]["violations"],
        serde_json::json!(["paths.deny"])
    );
    let o = f.expect(&["status"], 0);
    assert_contains(&stdout(&o), "violations: paths.deny");
}
