//! Consent levels: the policy maps a change's risk to how many people must approve its commit
//! before guard-deploy ships it; the report says which level and why.

mod support;

use std::io::Write as _;

use support::deploy::Fixture;
use support::git::*;

fn consent_policy(f: &Fixture, one: u8, two: u8) {
    f.set_policy("", "");
    let mut p = std::fs::OpenOptions::new()
        .append(true)
        .open(&f.policy)
        .unwrap();
    writeln!(
        p,
        "[approvals]\none_from_risk = {one}\ntwo_from_risk = {two}"
    )
    .unwrap();
}

fn approve(f: &Fixture, who: &str) -> std::process::Output {
    guard_cmd("git-guard", &f.repo)
        .args([
            "approve",
            "main",
            "-m",
            "read it",
            "--no-push",
            "--as",
            who,
            "--policy",
        ])
        .arg(&f.policy)
        .output()
        .unwrap()
}

#[test]
fn one_approval_from_the_first_level_on() {
    let f = Fixture::new("", "");
    consent_policy(&f, 0, 6);
    let o = f.expect(&["deploy", "main"], 1);
    assert_contains(&all(&o), "needs consent level 1 and has 0 approvals");
    assert_eq!(f.current(), None, "nothing deployed");

    let report = guard_cmd("git-guard", &f.repo)
        .args(["report", "main", "--base", "main", "--policy"])
        .arg(&f.policy)
        .output()
        .unwrap();
    assert_contains(
        &stdout(&report),
        "Consent: consent level 1 (risk 0 is at least approvals.one_from_risk = 0",
    );

    assert_code(&approve(&f, "alice"), 0);
    let o = f.expect(&["deploy", "main"], 0);
    assert_contains(&all(&o), "consent level 1");
    assert!(f.current().is_some());
}

#[test]
fn two_people_from_the_second_level_on() {
    let f = Fixture::new("", "");
    consent_policy(&f, 0, 0);
    assert_code(&approve(&f, "alice"), 0);
    let o = f.expect(&["deploy", "main"], 1);
    assert_contains(&all(&o), "needs consent level 2 and has 1 approval");
    // The same person again is still one person.
    assert_code(&approve(&f, "alice"), 0);
    f.expect(&["deploy", "main"], 1);
    assert_code(&approve(&f, "bob"), 0);
    let o = f.expect(&["deploy", "main"], 0);
    assert_contains(&all(&o), "met: alice (human), bob (human)");
}

#[test]
fn without_consent_levels_an_approval_of_nothing_is_refused() {
    let f = Fixture::new("", "");
    let o = approve(&f, "alice");
    assert_code(&o, 1);
    assert_contains(&all(&o), "no outstanding flag to approve");
}
