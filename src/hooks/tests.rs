//! Unit tests of the hooks: input parsing, configuration, messages, the deadline, chaining.

use super::*;
use crate::site::config::{CONFIG_FILE, Side};
use gix::hash::Kind;
use std::time::{Duration, Instant};

const A: &str = "1111111111111111111111111111111111111111";
const B: &str = "2222222222222222222222222222222222222222";
const Z: &str = "0000000000000000000000000000000000000000";

#[test]
fn update_lines_parse_sha1_and_sha256() {
    let input = format!("{A} {B} refs/heads/main\n{Z} {B} refs/heads/agent/x\n");
    let u = parse_update_lines(input.as_bytes(), Kind::Sha1).unwrap();
    assert_eq!(u.len(), 2);
    assert!(u[1].is_create());
    assert_eq!(u[0].name, "refs/heads/main");
    let a = "a".repeat(64);
    let z = "0".repeat(64);
    let input = format!("{a} {z} refs/tags/v1\n");
    let u = parse_update_lines(input.as_bytes(), Kind::Sha256).unwrap();
    assert!(u[0].is_delete());
}

#[test]
fn malformed_lines_are_named() {
    let cases: &[(&str, &str)] = &[
        ("garbage\n", "found 1 field"),
        (&format!("{A} {B}  refs/heads/x\n"), "found 4 fields"),
        (&format!("{A} {B}\n"), "found 2 fields"),
        (
            &format!("{} {B} refs/heads/x\n", &A[..39]),
            "expected 40 hex digits",
        ),
        (
            &format!("{} {B} refs/heads/x\n", A.to_uppercase().replace('1', "A")),
            "lowercase hex",
        ),
        (
            &format!("{A} {B} refs/heads/a..b\n"),
            "not a valid ref name",
        ),
        (&format!("{A} {B} main\n"), "not a full ref name"),
        (&format!("{Z} {Z} refs/heads/x\n"), "both ids are zero"),
        (&format!("{A} {B} refs/heads/x\r\n"), "not a valid ref name"),
        ("", "no ref updates"),
    ];
    for (input, want) in cases {
        let e = parse_update_lines(input.as_bytes(), Kind::Sha1).unwrap_err();
        assert!(e.to_string().contains(want), "{input:?}: {e}");
    }
    let input = format!("{A} {B} refs/heads/ok\n{A} {B} refs/heads/bad~1\n");
    let e = parse_update_lines(input.as_bytes(), Kind::Sha1).unwrap_err();
    assert_eq!(e.line, 2);
    // A SHA-1 id in a SHA-256 repository is malformed, not silently padded.
    let e =
        parse_update_lines(format!("{A} {B} refs/heads/x\n").as_bytes(), Kind::Sha256).unwrap_err();
    assert!(e.to_string().contains("expected 64 hex digits"), "{e}");
}

#[test]
fn push_lines_parse() {
    let input = format!("refs/heads/x {A} refs/heads/x {Z}\n(delete) {Z} refs/heads/y {B}\n");
    let l = parse_push_lines(input.as_bytes(), Kind::Sha1).unwrap();
    assert_eq!(l.len(), 2);
    assert!(l[0].remote.is_null());
    assert_eq!(l[1].local_ref, "(delete)");
    assert!(parse_push_lines(b"", Kind::Sha1).unwrap().is_empty());
    assert!(parse_push_lines(b"a b c\n", Kind::Sha1).is_err());
}

#[test]
fn update_args_parse_like_a_line() {
    let args = vec!["refs/heads/x".to_string(), A.to_string(), B.to_string()];
    let u = parse_update_args(&args, Kind::Sha1).unwrap();
    assert_eq!(u[0].name, "refs/heads/x");
    assert!(parse_update_args(&args[..2], Kind::Sha1).is_err());
}

#[test]
fn hook_config_round_trips_and_rejects_unknown_keys() {
    let mut c = HookConfig::new(Side::Server);
    c.policy = Some("/etc/git-guard/policy.toml".into());
    c.host = "gitolite".into();
    c.deadline_ms = Some(1500);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(CONFIG_FILE);
    std::fs::write(&p, c.to_toml()).unwrap();
    assert_eq!(HookConfig::load(&p).unwrap(), c);
    std::fs::write(&p, "host = \"plain\"\npolcy = \"x\"\n").unwrap();
    let e = format!("{:#}", HookConfig::load(&p).unwrap_err());
    assert!(e.contains("polcy"), "{e}");
    std::fs::write(&p, "host = \"nowhere\"\n").unwrap();
    let e = format!("{:#}", HookConfig::load(&p).unwrap_err());
    assert!(e.contains("unknown host"), "{e}");
    let e = format!(
        "{:#}",
        HookConfig::load(&dir.path().join("missing")).unwrap_err()
    );
    assert!(e.contains("reinstall"), "{e}");
}

#[test]
fn messages_are_cleaned_like_git() {
    let raw = "\nSubject\n\nBody  \n# comment\n\n# ------------------------ >8 ------------------------\ndiff\n";
    assert_eq!(clean_message(raw, "#"), "Subject\n\nBody\n");
    assert_eq!(clean_message("# only comments\n", "#"), "");
}

#[test]
fn deadline_stops_waiting_and_reports_the_policy_deadline() {
    let start = Instant::now();
    let r = with_deadline(start, Duration::from_secs(30), |report| {
        report(Duration::from_millis(20));
        std::thread::sleep(Duration::from_secs(5));
        Ok(1)
    });
    match r {
        Outcome::TimedOut { deadline } => assert_eq!(deadline, Duration::from_millis(20)),
        Outcome::Done(_) => panic!("the job should have outlasted its deadline"),
    }
    let r = with_deadline(Instant::now(), Duration::from_secs(30), |_| Ok(7));
    assert!(matches!(r, Outcome::Done(Ok(7))));
    let r: Outcome<u8> = with_deadline(Instant::now(), Duration::from_secs(30), |_| panic!("boom"));
    match r {
        Outcome::Done(Err(e)) => assert!(e.to_string().contains("boom")),
        _ => panic!("a panic must become an error"),
    }
}

#[test]
fn chained_hook_runs_after_a_pass_and_always_after_post_receive() {
    assert!(runs_chained(Hook::PreReceive, &[], 0));
    assert!(!runs_chained(Hook::PreReceive, &[], 1));
    assert!(runs_chained(Hook::PostReceive, &[], 2));
    assert!(!runs_chained(
        Hook::ReferenceTransaction,
        &["prepared".into()],
        1
    ));
    assert!(runs_chained(
        Hook::ReferenceTransaction,
        &["committed".into()],
        1
    ));
}
