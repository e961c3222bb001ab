//! Admin imports through real git: an admin's push that outlasts the deadline is accepted as
//! an import, judged in the background by the post-receive of the same push, and recorded in
//! the audit log both times; everyone else's push over the deadline is still rejected.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::git::*;
use support::process::processes_with_arg;
use support::server::*;

/// Every push judged over a 1 ms deadline; caps high enough for a whole history.
const IMPORTS: &str = "[hooks]\ndeadline_ms = 1\n[caps]\nmax_files = 100000\nmax_lines = 100000\n";

const KEY: &str = "AKIAZ7Q3N4V5B6C7D2E3"; // guard:allow-secret (a test fixture)

/// Far longer than any judge of these pushes takes, so that a broken build fails instead of
/// hanging.
const BOUND: Duration = Duration::from_secs(120);

/// In `work`, `n` commits on a new branch `branch` from main, made with fast-import (hundreds
/// of commits cannot be judged within a millisecond); `extra` is added to the commit `at`.
fn history(work: &Path, branch: &str, n: usize, extra: Option<(usize, &str, &str)>) {
    let mut script = String::new();
    for i in 0..n {
        script.push_str(&format!(
            "commit refs/heads/{branch}\nmark :{}\ncommitter T <t@e> 1700000000 +0000\ndata 2\nc\n",
            i + 1
        ));
        if i == 0 {
            script.push_str("from refs/heads/main\n");
        }
        script.push_str(&format!("M 100644 inline f{i}.txt\ndata 2\n{}\n\n", i % 10));
        if let Some((at, path, text)) = extra
            && at == i
        {
            script.push_str(&format!(
                "M 100644 inline {path}\ndata {}\n{text}\n",
                text.len()
            ));
        }
    }
    let o = run_with_input(
        git_cmd(work).args(["fast-import", "--quiet", "--force"]),
        script.as_bytes(),
    );
    assert_code(&o, 0);
}

/// The audit records of `bare` from `door` with `outcome`.
fn events(bare: &Path, door: &str, outcome: &str) -> Vec<serde_json::Value> {
    audit_lines(bare)
        .into_iter()
        .filter(|e| e["door"] == door && e["outcome"] == outcome)
        .collect()
}

/// Wait (bounded) for the background judge of `record` to write its verdict, remove the
/// record and exit; its judged event.
fn judged(bare: &Path, record: &Path) -> serde_json::Value {
    let start = Instant::now();
    let event = loop {
        if let Some(e) = audit_lines(bare)
            .into_iter()
            .find(|e| e["door"] == "judge-import")
        {
            break e;
        }
        assert!(
            start.elapsed() < BOUND,
            "no judged event after {BOUND:?}; the audit log:\n{:#?}\nthe judge's log:\n{}",
            audit_lines(bare),
            std::fs::read_to_string(record.with_extension("log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let arg = record.to_str().unwrap();
    while record.exists() || !processes_with_arg(arg).is_empty() {
        assert!(
            start.elapsed() < BOUND,
            "the judge of {arg} did not finish after {BOUND:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    event
}

/// The import an accepted-unjudged event names.
fn record_of(event: &serde_json::Value) -> PathBuf {
    PathBuf::from(event["detail"]["import"].as_str().unwrap())
}

fn doctor(bare: &Path) -> String {
    let o = guard(bare, &["doctor", bare.to_str().unwrap()]);
    stdout(&o)
}

#[test]
fn an_admins_import_over_the_deadline_is_accepted_then_judged_in_the_background() {
    let (_t, bare, work) = guarded_clone(IMPORTS, &["--host", "http"], None);
    history(&work, "imported", 400, None);
    let o = push_as(&work, "root-admin", &["origin", "imported"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_remote_says(&o, "ACCEPTED UNJUDGED");
    assert_remote_says(&o, "deadline of 1 ms");
    assert_remote_says(&o, "judged in the background");
    assert_remote_says(&o, "judging the admin import in the background");
    assert_eq!(rev(&bare, "imported"), rev(&work, "imported"));

    let accepted = events(&bare, "pre-receive", "accepted-unjudged");
    assert_eq!(accepted.len(), 1, "{:#?}", audit_lines(&bare));
    assert_eq!(accepted[0]["actor"], "root-admin");
    assert_eq!(accepted[0]["role"], "admin");
    assert_eq!(
        accepted[0]["detail"]["updates"][0]["ref"],
        "refs/heads/imported"
    );
    let record = record_of(&accepted[0]);
    assert!(record.starts_with(bare.join("guard/imports")), "{record:?}");

    let event = judged(&bare, &record);
    assert_eq!(event["outcome"], "passed", "{event:#}");
    assert_eq!(event["actor"], "root-admin");
    assert_eq!(event["action"], "push refs/heads/imported");
    assert_eq!(event["detail"]["violations"], 0, "{event:#}");
    assert!(!record.exists());
    let report = doctor(&bare);
    assert!(!report.contains("import-"), "{report}");
}

#[test]
fn an_admins_import_carrying_a_secret_is_judged_with_the_secrets_rule_and_doctor_says_so() {
    let (_t, bare, work) = guarded_clone(IMPORTS, &["--host", "http"], None);
    let line = format!("aws_key = '{KEY}'");
    history(&work, "imported", 400, Some((200, "config.dat", &line)));
    let o = push_as(&work, "root-admin", &["origin", "imported"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_remote_says(&o, "ACCEPTED UNJUDGED");
    let accepted = events(&bare, "pre-receive", "accepted-unjudged");
    assert_eq!(accepted.len(), 1, "{:#?}", audit_lines(&bare));
    let record = record_of(&accepted[0]);

    let event = judged(&bare, &record);
    assert_eq!(event["outcome"], "violations", "{event:#}");
    assert!(
        event["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "secrets.aws-access-key"),
        "{event:#}"
    );
    assert_eq!(event["detail"]["bypassed_by_admin"], 1, "{event:#}");
    let report = doctor(&bare);
    assert!(
        report.contains("import-violations") && report.contains("secrets.aws-access-key"),
        "{report}"
    );
}

#[test]
fn an_agents_or_a_humans_push_over_the_deadline_is_still_rejected() {
    let (_t, bare, work) = guarded_clone(
        "[hooks]\ndeadline_ms = 1\nadmin_import = \"background\"\n",
        &["--host", "http"],
        None,
    );
    for (user, branch) in [("bot", "agent/many"), ("alice", "topic")] {
        history(&work, branch, 400, None);
        let before = snapshot(&bare);
        let o = push_as(&work, user, &["origin", branch]);
        assert!(!o.status.success(), "{user}: {}", stderr(&o));
        assert_remote_says(&o, "deadline of 1 ms");
        assert_eq!(snapshot(&bare), before, "{user}");
    }
    assert!(events(&bare, "pre-receive", "accepted-unjudged").is_empty());
    assert!(!bare.join("guard/imports").exists());
}

#[test]
fn an_admins_push_over_the_deadline_is_rejected_when_the_policy_says_reject() {
    let (_t, bare, work) = guarded_clone(
        "[hooks]\ndeadline_ms = 1\nadmin_import = \"reject\"\n",
        &["--host", "http"],
        None,
    );
    history(&work, "imported", 400, None);
    let before = snapshot(&bare);
    let o = push_as(&work, "root-admin", &["origin", "imported"]);
    assert!(!o.status.success(), "{}", stderr(&o));
    assert_remote_says(&o, "deadline of 1 ms");
    assert_eq!(snapshot(&bare), before);
    assert!(events(&bare, "pre-receive", "accepted-unjudged").is_empty());
    assert!(!bare.join("guard/imports").exists());
}

#[test]
fn an_import_that_cannot_be_judged_is_recorded_as_failed_and_doctor_says_so() {
    let (t, bare, _work) = guarded_clone(IMPORTS, &["--host", "http"], None);
    let bare = bare.canonicalize().unwrap();
    let main = rev(&bare, "main");
    let missing = "1".repeat(40);
    let record = bare.join("guard/imports/feed.json");
    std::fs::create_dir_all(record.parent().unwrap()).unwrap();
    let text = serde_json::json!({
        "version": 1, "key": "feed", "accepted": "2026-01-01T00:00:00.000Z",
        "repository": bare, "pusher": "root-admin", "role": "admin", "source": "REMOTE_USER",
        "policy": t.path().join("policy.toml"), "policy_file": t.path().join("policy.toml"),
        "policy_base": "refs/heads/main", "policy_tip": null,
        "audit_log": bare.join("guard/audit.log"), "deadline_ms": 1,
        "updates": [{"ref": "refs/heads/imported", "old": "0".repeat(40), "new": missing}],
        "known": [main], "proposal_base": null,
    });
    std::fs::write(&record, text.to_string()).unwrap();
    let o = guard_cmd("guard-hook", &bare)
        .arg("judge-import")
        .arg(&record)
        .output()
        .unwrap();
    assert_code(&o, 2);
    assert_contains(&stderr(&o), "cannot be judged");
    let errors = events(&bare, "judge-import", "error");
    assert_eq!(errors.len(), 1, "{:#?}", audit_lines(&bare));
    assert_contains(errors[0]["detail"]["error"].as_str().unwrap(), &missing);
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    assert_contains(kept["failed"]["error"].as_str().unwrap(), &missing);
    let report = doctor(&bare);
    assert!(
        report.contains("import-failed") && report.contains("could not be judged"),
        "{report}"
    );
}

#[test]
fn an_admins_import_whose_record_or_audit_event_cannot_be_written_is_rejected() {
    let (_t, bare, work) = guarded_clone(IMPORTS, &["--host", "http"], None);
    history(&work, "imported", 400, None);
    // A file where the records go: the pending record cannot be written.
    std::fs::create_dir_all(bare.join("guard")).unwrap();
    std::fs::write(bare.join("guard/imports"), "in the way").unwrap();
    let before = snapshot(&bare);
    let o = push_as(&work, "root-admin", &["origin", "imported"]);
    assert!(!o.status.success(), "{}", stderr(&o));
    assert_remote_says(&o, "cannot be recorded for judging in the background");
    assert_eq!(snapshot(&bare), before);
    assert!(events(&bare, "pre-receive", "accepted-unjudged").is_empty());
    std::fs::remove_file(bare.join("guard/imports")).unwrap();

    // A directory where the audit log goes: the record is written, the event is not, and the
    // record is taken back.
    let log = bare.join("guard/audit.log");
    let _ = std::fs::remove_file(&log);
    std::fs::create_dir_all(&log).unwrap();
    let o = push_as(&work, "root-admin", &["origin", "imported"]);
    assert!(!o.status.success(), "{}", stderr(&o));
    assert_remote_says(&o, "cannot be recorded in the audit log");
    assert_eq!(snapshot(&bare), before);
    let left: Vec<_> = std::fs::read_dir(bare.join("guard/imports"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}
