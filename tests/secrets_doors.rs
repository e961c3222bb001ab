//! Secrets through real pushes and commits, tried as an agent would hide them: a binary stub
//! turned into text, a NUL byte before the secret, UTF-16, a binary blob, a commit message,
//! an annotated tag message; an agent's allow marker; a team's gitleaks rules at receive time.
//!
//! Every secret below is made up for the test.

mod support;

use std::path::{Path, PathBuf};

use support::git::*;
use support::server::*;

const KEY: &str = "AKIAZ7Q3N4V5B6C7D2E3"; // guard:allow-secret (a test fixture)

/// A guarded server (http host, the test policy plus `more`) whose main holds a README, and
/// a clone of it.
fn server(dir: &Path, more: &str) -> (PathBuf, PathBuf) {
    let seed = dir.join("seed");
    init_repo(&seed);
    write(&seed, "README.md", "hello\n");
    commit_all(&seed, "seed");
    let bare = dir.join("server.git");
    git(
        dir,
        &[
            "clone",
            "-q",
            "--bare",
            seed.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    let policy = policy_file(dir, more);
    let o = guard_cmd("git-guard", dir)
        .args([
            "install",
            "--server",
            "--host",
            "http",
            "--policy",
            policy.to_str().unwrap(),
            bare.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let work = dir.join("work");
    git(
        dir,
        &[
            "clone",
            "-q",
            bare.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    git(&work, &["switch", "-q", "-c", "agent/topic"]);
    (bare, work)
}

fn push_rejected(work: &Path, bare: &Path, user: &str, refspec: &str, rule: &str) -> String {
    let before = snapshot(bare);
    let o = push_as(work, user, &["origin", refspec]);
    assert_rejected(&o, rule, &before, bare);
    let err = stderr(&o);
    let tail = &KEY[4..];
    assert!(!err.contains(tail), "the secret is shown:\n{err}");
    err
}

#[test]
fn a_binary_stub_turned_into_text_is_scanned() {
    let t = tempfile::tempdir().unwrap();
    let (bare, work) = server(t.path(), "");
    write(&work, "config.dat", b"\0\0\x01stub\0");
    commit_all(&work, "stub");
    write(&work, "config.dat", format!("aws_key = '{KEY}'\n"));
    commit_all(&work, "fill in");
    push_rejected(&work, &bare, "bot", "agent/topic", "secrets.aws-access-key");
}

#[test]
fn a_nul_byte_before_the_secret_does_not_hide_it() {
    let t = tempfile::tempdir().unwrap();
    let (bare, work) = server(t.path(), "");
    let mut data = b"\0\n".to_vec();
    data.extend("# settings\n".repeat(10).as_bytes());
    data.extend(format!("aws_key = '{KEY}'\n").as_bytes());
    write(&work, "settings.conf", data);
    commit_all(&work, "settings");
    push_rejected(&work, &bare, "bot", "agent/topic", "secrets.aws-access-key");
}

#[test]
fn utf16_files_are_decoded_and_scanned() {
    let t = tempfile::tempdir().unwrap();
    let (bare, work) = server(t.path(), "");
    let text = format!("[aws]\r\nkey = {KEY}\r\n");
    let mut with_bom = vec![0xFF, 0xFE];
    with_bom.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
    write(&work, "creds.ini", with_bom);
    commit_all(&work, "creds");
    let err = push_rejected(&work, &bare, "bot", "agent/topic", "secrets.aws-access-key");
    assert!(err.contains("creds.ini:2"), "{err}");
    // Without a byte-order mark, big-endian.
    let t = tempfile::tempdir().unwrap();
    let (bare, work) = server(t.path(), "");
    let be: Vec<u8> = text.encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
    write(&work, "creds.ini", be);
    commit_all(&work, "creds");
    push_rejected(&work, &bare, "bot", "agent/topic", "secrets.aws-access-key");
}

#[test]
fn a_token_inside_a_binary_blob_is_found() {
    let t = tempfile::tempdir().unwrap();
    let (bare, work) = server(t.path(), "");
    let mut blob: Vec<u8> = (0..2000u32).map(|i| (i * 7 % 251) as u8).collect();
    blob.extend(b"\0\0token\0ghp_Qw8eR4tY6uI2oP0aS9dF7gH5jK3lZ1xC5vB7\0\x01\x02");
    blob.extend((0..2000u32).map(|i| (i * 13 % 251) as u8));
    write(&work, "assets/app.bin", blob);
    commit_all(&work, "asset");
    push_rejected(&work, &bare, "bot", "agent/topic", "secrets.github-pat");
}

#[test]
fn a_secret_in_a_commit_message_is_caught() {
    let t = tempfile::tempdir().unwrap();
    let (bare, work) = server(t.path(), "");
    write(&work, "notes.txt", "notes\n");
    commit_all(&work, &format!("notes\n\ndeploy with {KEY}\n"));
    let err = push_rejected(&work, &bare, "bot", "agent/topic", "secrets.aws-access-key");
    assert!(err.contains("commit message"), "{err}");
}

#[test]
fn a_secret_in_an_annotated_tag_message_is_caught() {
    let t = tempfile::tempdir().unwrap();
    let (bare, work) = server(t.path(), "");
    git(&work, &["switch", "-q", "main"]);
    git(
        &work,
        &[
            "tag",
            "-a",
            "v1.0",
            "-m",
            &format!("release\n\nkey {KEY}\n"),
        ],
    );
    let err = push_rejected(&work, &bare, "alice", "v1.0", "secrets.aws-access-key");
    assert!(err.contains("tag message"), "{err}");
    // The same tag without the secret is accepted: the message alone was the reason.
    git(&work, &["tag", "-d", "v1.0"]);
    git(&work, &["tag", "-a", "v1.0", "-m", "release"]);
    let o = push_as(&work, "alice", &["origin", "v1.0"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn an_agents_allow_marker_is_a_flag_not_a_pass() {
    let t = tempfile::tempdir().unwrap();
    let (bare, work) = server(t.path(), "");
    write(
        &work,
        "config.py",
        format!("aws_key = '{KEY}'  # guard:allow-secret\n"),
    );
    let id = commit_all(&work, "marked");
    let o = push_as(&work, "bot", &["origin", "agent/topic"]);
    assert!(
        o.status.success(),
        "a flag does not block the push: {}",
        stderr(&o)
    );
    let err = stderr(&o);
    assert!(
        remote_lines(&o)
            .iter()
            .any(|l| l.contains("secrets.aws-access-key") && l.contains("AKIA****")),
        "the flag is shown, redacted:\n{err}"
    );
    assert!(!err.contains(&KEY[4..]), "{err}");
    // The flag waits for a human.
    let flags = guard_cmd("git-guard", &bare)
        .args(["flags", &id])
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&flags), stderr(&flags));
    assert!(text.contains("secrets.aws-access-key"), "{text}");
    // A human's marker is the human's word.
    git(&work, &["switch", "-q", "-c", "human-topic", "main"]);
    write(
        &work,
        "fixture.py",
        format!("aws_key = '{KEY}'  # guard:allow-secret\n"),
    );
    commit_all(&work, "fixture");
    let o = push_as(&work, "alice", &["origin", "human-topic"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("secrets."), "{}", stderr(&o));
}

#[test]
fn a_teams_gitleaks_rules_run_at_receive_time() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("gitleaks.toml"),
        r#"
[[rules]]
id = "acme-token"
description = "Acme deploy token"
regex = '''acme_live_([a-z0-9]{24})'''
secretGroup = 1
keywords = ["acme_live_"]
"#,
    )
    .unwrap();
    let (bare, work) = server(t.path(), "[secrets]\ngitleaks_config = \"gitleaks.toml\"\n");
    write(
        &work,
        "deploy.sh",
        "ACME=acme_live_9f3a1c7e5b2d8f4a6c0e1b7d\n", // guard:allow-secret (a test fixture)
    );
    commit_all(&work, "deploy");
    push_rejected(&work, &bare, "bot", "agent/topic", "secrets.acme-token");
}

#[test]
fn pre_commit_reads_utf16_and_stubs_turned_text() {
    let t = tempfile::tempdir().unwrap();
    let upstream = t.path().join("upstream.git");
    std::fs::create_dir_all(&upstream).unwrap();
    git(&upstream, &["init", "-q", "--bare", "-b", "main"]);
    let work = seeded_repo(t.path(), "work", &[("blob.dat", b"\0\0stub")]);
    install_client(t.path(), &work, &policy_file(t.path(), ""));
    git(&work, &["switch", "-q", "-c", "agent/topic"]);
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(
        format!("key={KEY}\n")
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes()),
    );
    write(&work, "notes.txt", utf16);
    git(&work, &["add", "notes.txt"]);
    let o = git_out(&work, &["commit", "-q", "-m", "notes"]);
    assert!(!o.status.success(), "UTF-16 secret committed");
    assert!(
        stderr(&o).contains("secrets.aws-access-key"),
        "{}",
        stderr(&o)
    );
    git(&work, &["rm", "-q", "--cached", "notes.txt"]);
    write(&work, "blob.dat", format!("key={KEY}\n"));
    git(&work, &["add", "blob.dat"]);
    let o = git_out(&work, &["commit", "-q", "-m", "fill"]);
    assert!(!o.status.success(), "stub turned text committed");
    assert!(
        stderr(&o).contains("secrets.aws-access-key"),
        "{}",
        stderr(&o)
    );
}
