//! Hostile and broken input at the server's door: each is rejected with its reason, none is
//! accepted by accident, none is a panic.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use support::git::*;
use support::server::*;

/// In a new temp directory, a server guarded for the http host with the test policy: the
/// directory, the server and its main.
fn server_and_head() -> (tempfile::TempDir, PathBuf, String) {
    let t = tempfile::tempdir().unwrap();
    let (bare, _) = policy_server(t.path(), "", &["--host", "http"]);
    let head = rev(&bare, "main");
    (t, bare, head)
}

/// Run pre-receive directly, as git would, with `input` on standard input.
fn pre_receive(bare: &Path, input: &[u8]) -> Output {
    run_with_input(
        hook_cmd(bare, "pre-receive").env("REMOTE_USER", "alice"),
        input,
    )
}

fn assert_no_panic(o: &Output) {
    let all = format!("{}{}", stdout(o), stderr(o));
    assert!(!all.contains("panicked"), "{all}");
}

#[test]
fn malformed_standard_input_is_rejected_naming_the_line() {
    let (_t, bare, head) = server_and_head();
    let zero = "0".repeat(40);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"".to_vec(), "no ref updates"),
        (b"hello\n".to_vec(), "line 1"),
        (
            format!("{zero} {head} refs/heads/ok\n{head} {head}\n").into_bytes(),
            "line 2",
        ),
        (
            format!("{zero} {} refs/heads/x\n", &head[..20]).into_bytes(),
            "expected 40 hex digits",
        ),
        (
            format!("{zero} {head} refs/heads/x\0y\n").into_bytes(),
            "not a valid ref name",
        ),
        (vec![0xff, 0xfe, b'\n'], "not UTF-8"),
        (
            format!("{zero} {head} refs/heads/a b\n").into_bytes(),
            "found 4 fields",
        ),
    ];
    for (input, want) in cases {
        let o = pre_receive(&bare, &input);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{:?}: {}",
            String::from_utf8_lossy(&input),
            stderr(&o)
        );
        assert!(stderr(&o).contains(want), "{want}: {}", stderr(&o));
        assert_contains(&stderr(&o), "REJECTED");
        assert_no_panic(&o);
    }
}

#[test]
fn unknown_object_ids_are_rejected() {
    let (_t, bare, head) = server_and_head();
    let zero = "0".repeat(40);
    let ghost = "0123456789abcdef0123456789abcdef01234567";
    for input in [
        format!("{zero} {ghost} refs/heads/agent/x\n"),
        format!("{ghost} {head} refs/heads/agent/x\n"),
    ] {
        let o = pre_receive(&bare, input.as_bytes());
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(
            stderr(&o).contains(ghost) && stderr(&o).contains("not in the repository"),
            "{}",
            stderr(&o)
        );
        assert_no_panic(&o);
    }
}

#[test]
fn odd_but_valid_ref_names_are_judged_like_any_other() {
    let (_t, bare, work) = guarded_clone("", &["--host", "http"], None);
    commit_file(&work, "x.key", "k\n", "key");
    for name in ["agent/ünïcødé", "agent/a@b", "agent/-dash", "agent/x.y/z"] {
        let o = push_rejected(
            &work,
            "bot",
            &format!("HEAD:refs/heads/{name}"),
            &bare,
            "paths.deny",
        );
        assert_no_panic(&o);
    }
    // Outside the agent namespace, odd names are refused for what they are.
    let before = snapshot(&bare);
    let o = push_as(&work, "bot", &["origin", "HEAD:refs/weird/place"]);
    assert!(!o.status.success());
    assert_eq!(snapshot(&bare), before);
}

#[test]
fn ten_thousand_refs_in_one_push() {
    // Debug builds are slow: the deadline is not what this test is about.
    let (_t, bare, work) = guarded_clone("", &["--host", "http", "--deadline-ms", "600000"], None);
    let ok = commit_file(&work, "ok.txt", "ok\n", "ok");
    let bad = commit_file(&work, "secrets/db.txt", "pw\n", "bad");
    let mut input = String::new();
    for i in 0..10_000 {
        let id = if i == 7_777 { &bad } else { &ok };
        input.push_str(&format!("create refs/heads/agent/r{i:05} {id}\n"));
    }
    let o = run_with_input(
        git_cmd(&work).args(["update-ref", "--stdin"]),
        input.as_bytes(),
    );
    assert_code(&o, 0);
    let o = push_rejected(
        &work,
        "bot",
        "refs/heads/agent/*:refs/heads/agent/*",
        &bare,
        "paths.deny",
    );
    assert!(
        stderr(&o).contains("refs/heads/agent/r07777"),
        "the offending ref is named"
    );
    assert_no_panic(&o);
}

#[test]
fn a_100_mb_blob_is_rejected_by_the_cap() {
    let (_t, bare, work) = guarded_clone(
        "",
        &["--host", "http", "--deadline-ms", "600000"],
        Some("agent/big"),
    );
    // Varied content so that compression does not make it small.
    let mut data = Vec::with_capacity(100 << 20);
    let mut x: u64 = 0x9e3779b97f4a7c15;
    while data.len() < 100 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(format!("{x:016x}\n").as_bytes());
    }
    write(&work, "data/big.txt", &data);
    drop(data);
    commit_all(&work, "big");
    let o = push_rejected(&work, "bot", "agent/big", &bare, "caps.blob-bytes");
    assert_no_panic(&o);
}

#[test]
fn a_push_outlasting_the_deadline_is_rejected_saying_so() {
    let (_t, bare, work) = guarded_clone(
        "[hooks]\ndeadline_ms = 1\n",
        &["--host", "http"],
        Some("agent/many"),
    );
    // Hundreds of commits cannot be read and judged within a millisecond.
    let mut script = String::new();
    for i in 0..400 {
        script.push_str(&format!("commit refs/heads/agent/many\nmark :{}\ncommitter T <t@e> 1700000000 +0000\ndata 2\nc\n", i + 1));
        if i == 0 {
            script.push_str("from refs/heads/main\n");
        }
        script.push_str(&format!("M 100644 inline f{i}.txt\ndata 2\n{}\n\n", i % 10));
    }
    let o = run_with_input(
        git_cmd(&work).args(["fast-import", "--quiet", "--force"]),
        script.as_bytes(),
    );
    assert_code(&o, 0);
    let before = snapshot(&bare);
    let o = push_as(&work, "bot", &["origin", "agent/many"]);
    assert!(!o.status.success(), "{}", stderr(&o));
    assert_contains(&stderr(&o), "deadline of 1 ms");
    assert_eq!(snapshot(&bare), before);
    assert_no_panic(&o);
}

#[test]
fn a_missing_or_broken_policy_rejects() {
    let (t, bare, work) = guarded_clone("", &["--host", "http"], Some("agent/x"));
    let policy = t.path().join("policy.toml");
    commit_file(&work, "fine.txt", "fine\n", "fine");

    std::fs::write(&policy, "[caps]\nmax_files = \"ten\"\n").unwrap();
    let before = snapshot(&bare);
    let o = push_as(&work, "alice", &["origin", "agent/x"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("cannot be used") && stderr(&o).contains("policy.toml:2:13"),
        "{}",
        stderr(&o)
    );
    assert_eq!(snapshot(&bare), before);

    std::fs::remove_file(&policy).unwrap();
    let o = push_as(&work, "alice", &["origin", "agent/x"]);
    assert!(!o.status.success());
    assert_contains(&stderr(&o), "cannot read");
    assert_eq!(snapshot(&bare), before);

    // A missing hook configuration fails closed too.
    std::fs::remove_file(bare.join("hooks/git-guard.toml")).unwrap();
    let o = push_as(&work, "alice", &["origin", "agent/x"]);
    assert!(!o.status.success());
    assert_contains(&stderr(&o), "reinstall");
    assert_eq!(snapshot(&bare), before);
    assert_no_panic(&o);
}
