//! `git guard stats` over the audit logs that real pushes and real deploys wrote.

mod support;

use support::deploy::Fixture;
use support::git::*;
use support::server::*;

#[test]
fn stats_count_real_pushes_and_deploys() {
    let (t, bare, work) = guarded_clone("", &["--host", "http"], Some("agent/topic"));
    commit_file(&work, "src/lib.rs", "pub fn f() {}\n", "a small change");
    assert_code(&push_as(&work, "bot", &["origin", "agent/topic"]), 0);
    commit_file(&work, ".env", "X=1\n", "a denied path");
    push_rejected(&work, "bot", "agent/topic", &bare, "paths.deny");
    let log = bare.join("guard/audit.log");
    let log = log.to_str().unwrap();

    let o = guard_ok(t.path(), &["stats", "--file", log]);
    let text = stdout(&o);
    assert_contains(&text, "agent changes: 2 proposed, 1 accepted, 1 refused");
    assert_contains(&text, "refused by: paths.deny 1");

    let o = guard_ok(t.path(), &["stats", "--file", log, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["proposed"], 2);
    assert_eq!(v["refused_by_rule"]["paths.deny"], 1);
    assert_eq!(v["regression_rate"], serde_json::Value::Null);

    // Nothing recorded after a time in the future.
    let o = guard_ok(t.path(), &["stats", "--file", log, "--since", "2999-01-01"]);
    assert_contains(&stdout(&o), "no audit records yet since 2999-01-01");

    // A deploy root's log counts deploys and what they switched.
    let f = Fixture::new("", "");
    f.deploy();
    let dlog = f.root.join("audit.log");
    let o = guard_ok(
        t.path(),
        &["stats", "--file", log, "--file", dlog.to_str().unwrap()],
    );
    let text = stdout(&o);
    assert_contains(&text, "deploys: 1 done, 0 refused");
    assert_contains(&text, "post-deploy regression rate: 0.0%");
}

#[test]
fn stats_of_a_repository_without_records_say_so() {
    let (_t, repo) = tmp_repo();
    let o = guard_ok(&repo, &["stats"]);
    assert_eq!(stdout(&o), "no audit records yet\n");
}
