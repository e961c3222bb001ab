//! Limits in time, through real pushes and real guard-deploy runs: the daily limit on agent
//! changes (`limits.daily`, counted from the server's push records) and the cooldown after a
//! rollback or a failed deploy. Every refusal names the UTC time it lifts.

mod support;

use std::path::Path;

use support::deploy::*;
use support::git::*;
use support::server::*;

/// `secs` since the epoch as `YYYY-MM-DDTHH:MM:SSZ`, as `date` writes it.
fn utc(secs: i64) -> String {
    let o = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

/// The push records of `bare`: (ref name, record).
fn push_records(bare: &Path) -> Vec<(String, serde_json::Value)> {
    git(
        bare,
        &["for-each-ref", "--format=%(refname)", "refs/guard/pushes/"],
    )
    .lines()
    .map(|name| {
        let blob = git(bare, &["cat-file", "blob", name]);
        (name.to_string(), serde_json::from_str(&blob).unwrap())
    })
    .collect()
}

/// As the server's admin: move every push record `hours` into the past (a day passing).
fn age_push_records(bare: &Path, hours: u64) {
    for (name, mut rec) in push_records(bare) {
        let at = rec["at_nanos"].as_u64().unwrap() - hours * 3_600 * 1_000_000_000;
        rec["at_nanos"] = at.into();
        let path = bare.join("aged.json");
        std::fs::write(&path, format!("{rec}\n")).unwrap();
        let id = git(bare, &["hash-object", "-w", path.to_str().unwrap()]);
        git(bare, &["update-ref", &name, id.trim()]);
    }
}

const DAILY: &str = "[limits]\nagent_changes_per_day = 1\n";

#[test]
fn a_second_agent_change_in_a_day_is_refused_until_the_first_is_a_day_old() {
    let (t, bare, work) = guarded_clone(DAILY, &["--host", "http"], Some("agent/one"));
    commit_file(
        &work,
        "src/one.rs",
        "pub fn one() {}\n",
        "first change of the day",
    );
    assert_code(&push_as(&work, "bot", &["origin", "agent/one"]), 0);
    let records = push_records(&bare);
    assert_eq!(records.len(), 1, "{records:?}");
    let at = records[0].1["at_nanos"].as_u64().unwrap();
    let lifts = utc((at.div_ceil(1_000_000_000) + 86_400) as i64);

    git(&work, &["switch", "-q", "-c", "agent/two", "main"]);
    commit_file(
        &work,
        "src/two.rs",
        "pub fn two() {}\n",
        "second change of the day",
    );
    let o = push_rejected(&work, "bot", "agent/two", &bare, "limits.daily");
    assert_remote_says(
        &o,
        &format!(
            "bot has had 1 agent change accepted in the last 24 hours, the limit is 1 per day \
             per agent (limits.agent_changes_per_day); the limit lifts at {lifts}"
        ),
    );
    assert_remote_says(&o, &format!("push this change again at or after {lifts}"));
    let refused = audit_lines(&bare)
        .into_iter()
        .filter(|l| l["door"] == "pre-receive" && l["outcome"] == "rejected")
        .count();
    assert_eq!(refused, 1, "the refusal is in the audit log");

    // Another agent has its own count; a human has none.
    assert_code(&push_as(&work, "bot-two", &["origin", "agent/two"]), 0);
    git(&work, &["switch", "-q", "-c", "agent/three", "main"]);
    commit_file(
        &work,
        "src/three.rs",
        "pub fn three() {}\n",
        "a human's change",
    );
    assert_code(&push_as(&work, "alice", &["origin", "agent/three"]), 0);

    // A day later the first change no longer counts.
    age_push_records(&bare, 25);
    git(&work, &["switch", "-q", "-c", "agent/four", "main"]);
    commit_file(
        &work,
        "src/four.rs",
        "pub fn four() {}\n",
        "the next day's change",
    );
    assert_code(&push_as(&work, "bot", &["origin", "agent/four"]), 0);
    drop(t);
}

#[test]
fn per_repository_every_agent_counts_together_and_one_push_cannot_carry_two() {
    let (_t, bare, work) = guarded_clone(
        "[limits]\nagent_changes_per_day = 1\nper = \"repository\"\n",
        &["--host", "http"],
        Some("agent/one"),
    );
    commit_file(&work, "src/one.rs", "pub fn one() {}\n", "one");
    git(&work, &["switch", "-q", "-c", "agent/two", "main"]);
    commit_file(&work, "src/two.rs", "pub fn two() {}\n", "two");
    // Two changes in one push are over a limit of one, whatever the time.
    let o = push_rejected(
        &work,
        "bot",
        "refs/heads/agent/*:refs/heads/agent/*",
        &bare,
        "limits.daily",
    );
    assert_remote_says(&o, "this push brings 2 agent changes at once");

    assert_code(&push_as(&work, "bot", &["origin", "agent/one"]), 0);
    let o = push_rejected(&work, "bot-two", "agent/two", &bare, "limits.daily");
    assert_remote_says(
        &o,
        "agents have had 1 agent change accepted in the last 24 hours",
    );
    assert_remote_says(&o, "the limit lifts at 20");
}

const COOLDOWN: &str =
    "reload_command = \"true\"\nhealth_command = \"true\"\n[limits]\ncooldown_hours = 24\n";
/// Healthy only when the release checked is version 1.
const UNHEALTHY: &str = r#"reload_command = "true"
health_command = 'grep -q "version 1" "$GUARD_RELEASE_DIR/app.txt"'
health_retries = 1
health_interval_ms = 1
[limits]
cooldown_hours = 24
"#;

/// As the deploy root's owner: move the times of `status.json` and of every release record
/// `hours` into the past (a day passing).
fn age_deploy_records(f: &Fixture, hours: i64) {
    let shift = |v: &mut serde_json::Value| {
        *v = utc(secs_of(v.as_str().unwrap()) - hours * 3600).into();
    };
    let mut s = f.status_json();
    shift(&mut s["when"]);
    std::fs::write(f.root.join("status.json"), s.to_string()).unwrap();
    for e in std::fs::read_dir(f.root.join("releases")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            let mut m: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            shift(&mut m["created"]);
            std::fs::write(&p, m.to_string()).unwrap();
        }
    }
}

/// `secs` of an RFC 3339 UTC time, as `date` reads it.
fn secs_of(t: &str) -> i64 {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", t, "+%s"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn after_a_failed_deploy_no_deploy_until_the_cooldown_lifts() {
    let f = Fixture::new(COOLDOWN, "");
    let a = f.deploy();
    f.commit(2);
    f.set_policy(UNHEALTHY, "");
    let o = f.expect(&["deploy", "main"], 1);
    assert_contains(&stdout(&o), "ROLLED BACK");
    assert_eq!(f.current().unwrap(), a);
    let failed_at = f.status_json()["when"].as_str().unwrap().to_string();
    let lifts = utc(secs_of(&failed_at) + 24 * 3600);

    // Healthy again, the next deploy is still refused, and says when that ends.
    f.set_policy(COOLDOWN, "");
    f.commit(3);
    let o = f.expect(&["deploy", "main"], 1);
    let text = stdout(&o);
    assert_contains(
        &text,
        "REFUSED: a cooldown of 24 hours holds after the rolled-back deploy of",
    );
    assert_contains(&text, &format!("at {failed_at} (limits.cooldown_hours)"));
    assert_contains(&text, &format!("no deploy until it lifts at {lifts}"));
    assert_eq!(f.current().unwrap(), a, "nothing moved");
    // The refusal is audited; status.json still tells the failed run it counts from.
    assert_eq!(f.status_json()["state"], "rolled-back");
    let audit = std::fs::read_to_string(f.root.join("audit.log")).unwrap();
    assert!(
        audit
            .lines()
            .any(|l| l.contains("limits.cooldown") && l.contains(&lifts)),
        "{audit}"
    );

    // A day later the deploy goes through.
    age_deploy_records(&f, 25);
    let b = f.deploy();
    assert_ne!(a, b);
}

#[test]
fn a_rollback_starts_a_cooldown_and_stays_allowed_during_one() {
    let f = Fixture::new(COOLDOWN, "");
    let a = f.deploy();
    f.commit(2);
    let b = f.deploy();
    assert_ne!(a, b);
    f.expect(&["rollback"], 0);
    assert_eq!(f.current().unwrap(), a);
    let at = f.status_json()["when"].as_str().unwrap().to_string();
    let lifts = utc(secs_of(&at) + 24 * 3600);
    let o = f.expect(&["deploy", "main"], 1);
    assert_contains(
        &stdout(&o),
        &format!(
            "after the rollback to releases/{a} at {at} (limits.cooldown_hours): no deploy until it lifts at {lifts}"
        ),
    );
    // Going back again is never held back.
    f.expect(&["rollback", &b], 0);

    // Without a cooldown in the policy (the default), a rollback holds nothing back.
    f.set_policy("reload_command = \"true\"\nhealth_command = \"true\"\n", "");
    f.expect(&["rollback", &a], 0);
    f.commit(3);
    f.deploy();
}

#[test]
fn no_deploy_while_another_runs_and_the_refusal_says_when_it_lifts() {
    let f = Fixture::new(COOLDOWN, "");
    let mut first = f.spawn_deploy("tests", "p1");
    first.wait_paused();
    let o = f.expect(&["deploy", "main"], 2);
    let err = stderr(&o);
    assert_contains(
        &err,
        &format!("another deploy holds the lock: pid {}", first.child.id()),
    );
    assert_contains(&err, "the lock lifts when that run ends");
    first.resume();
    assert_eq!(first.finish(), 0);
}
