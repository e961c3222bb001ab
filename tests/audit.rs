//! The audit log: real concurrent appends, and `git guard log --verify` through the real
//! binary on logs edited, cut and reordered by hand.

mod support;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use git_guard::engine::policy::{AuditPolicy, Role};
use git_guard::site::audit::{self, Event, ZERO_HASH};
use support::git::*;

fn event(n: usize) -> Event {
    Event {
        door: "pre-receive".into(),
        action: format!("push refs/heads/agent/t{n}"),
        actor: "bot".into(),
        role: Some(Role::Agent),
        outcome: if n % 2 == 0 { "passed" } else { "rejected" }.into(),
        rules: if n % 2 == 0 {
            vec![]
        } else {
            vec!["paths.deny".into()]
        },
        detail: serde_json::json!({ "n": n }),
    }
}

fn log_cmd(dir: &Path, args: &[&str]) -> Output {
    guard_cmd("git-guard", dir)
        .arg("log")
        .args(args)
        .output()
        .expect("git-guard runs")
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

/// A log of `n` records in a fresh temp directory.
fn log_of(n: usize) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    for i in 0..n {
        audit::append(&path, &event(i)).unwrap();
    }
    (dir, path)
}

/// A log of `n` records edited by `edit`, which `--verify` must find broken: the directory, the
/// log and what `--verify` said.
fn broken_log(
    n: usize,
    edit: impl FnOnce(&mut Vec<String>),
) -> (tempfile::TempDir, PathBuf, String) {
    let (dir, path) = log_of(n);
    let mut l = lines(&path);
    edit(&mut l);
    write_lines(&path, &l);
    let (code, out) = verify(dir.path(), &path);
    assert_eq!(code, Some(1), "{out}");
    (dir, path, out)
}

fn verify(dir: &Path, path: &Path) -> (Option<i32>, String) {
    let out = log_cmd(dir, &["--verify", "--file", path.to_str().unwrap()]);
    (out.status.code(), stdout(&out) + &stderr(&out))
}

#[test]
fn records_chain_by_hash_of_the_previous_line() {
    let (_dir, path) = log_of(3);
    let l = lines(&path);
    let v: Vec<serde_json::Value> = l.iter().map(|s| serde_json::from_str(s).unwrap()).collect();
    assert_eq!(v[0]["seq"], 1);
    assert_eq!(v[0]["prev"], ZERO_HASH);
    assert_eq!(v[1]["prev"], audit::sha256_hex(l[0].as_bytes()));
    assert_eq!(v[2]["prev"], audit::sha256_hex(l[1].as_bytes()));
    assert_eq!(v[2]["seq"], 3);
    assert_eq!(v[1]["door"], "pre-receive");
    assert_eq!(v[1]["role"], "agent");
    assert_eq!(v[1]["rules"][0], "paths.deny");
    let time = v[1]["time"].as_str().unwrap();
    assert!(audit::parse_rfc3339(time).is_some(), "{time}");
    assert!(time.ends_with('Z'), "{time}");
}

#[test]
fn concurrent_appends_from_threads_keep_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/audit.log");
    std::thread::scope(|s| {
        for t in 0..8 {
            let path = &path;
            s.spawn(move || {
                for i in 0..25 {
                    audit::append(path, &event(t * 100 + i)).unwrap();
                }
            });
        }
    });
    let log = audit::read(&path).unwrap();
    assert!(log.intact(), "{:?}", log.problems);
    let seqs: Vec<u64> = log
        .entries
        .iter()
        .map(|e| e.value["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=200).collect::<Vec<u64>>());
    let (code, out) = verify(dir.path(), &path);
    assert_eq!(code, Some(0), "{out}");
    assert_contains(&out, "intact: 200 records, chain verified");
}

/// Run by `concurrent_appends_from_processes_keep_one_chain` in child processes.
#[test]
#[ignore = "helper: appends as a separate process when GUARD_AUDIT_CHILD_LOG is set"]
fn append_as_child_process() {
    let path = std::env::var("GUARD_AUDIT_CHILD_LOG").expect("run by the parent test");
    for i in 0..100 {
        audit::append(Path::new(&path), &event(i)).unwrap();
    }
}

#[test]
fn concurrent_appends_from_processes_keep_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "append_as_child_process", "--ignored", "--quiet"])
                .env("GUARD_AUDIT_CHILD_LOG", &path)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let (code, out) = verify(dir.path(), &path);
    assert_eq!(code, Some(0), "{out}");
    assert_contains(&out, "intact: 400 records");
}

#[test]
fn edited_line_is_found() {
    let (_, _, out) = broken_log(5, |l| {
        l[2] = l[2].replace("\"outcome\":\"passed\"", "\"outcome\":\"rejected\"")
    });
    assert_contains(&out, "BROKEN: 1 of 5 lines break the chain");
    assert_contains(
        &out,
        "line 4: prev hash does not match line 3 (line edited, removed or reordered)\n",
    );
}

#[test]
fn removed_line_is_found() {
    let (_, _, out) = broken_log(5, |l| _ = l.remove(2));
    assert_contains(
        &out,
        "line 3: prev hash does not match line 2 (line edited, removed or reordered); seq 4 follows seq 2: 1 record missing",
    );
}

#[test]
fn reordered_lines_are_found() {
    let (_, _, out) = broken_log(5, |l| l.swap(1, 2));
    assert_contains(
        &out,
        "line 2: prev hash does not match line 1 (line edited, removed or reordered); seq 3 follows seq 1: 1 record missing",
    );
    assert_contains(&out, "line 3: prev hash does not match line 2");
    assert_contains(&out, "seq 2 follows seq 3 (lines reordered or repeated)");
}

#[test]
fn removed_first_line_is_found() {
    let (_, _, out) = broken_log(3, |l| _ = l.remove(0));
    assert_contains(
        &out,
        "line 1: prev is not 64 zeros, so this is not the log's first record",
    );
}

#[test]
fn malformed_line_is_named_and_listing_goes_on() {
    let (dir, path, out) = broken_log(4, |l| {
        l[1] = "{\"seq\": 2, oops".into();
    });
    assert_contains(&out, "line 2: not a JSON record");
    assert_contains(&out, "line 3: prev hash does not match line 2");

    let out = log_cmd(dir.path(), &["--file", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.lines().next().unwrap().starts_with("#1 "), "{text}");
    let err = stderr(&out);
    assert_contains(&err, "line 2: not a JSON record");
    assert_contains(&err, "(not shown)");
    assert_contains(&err, "run `git guard log --verify`");
}

#[test]
fn a_line_cut_short_does_not_swallow_the_next_record() {
    let (dir, path) = log_of(2);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"seq\":3,\"ti");
    std::fs::write(&path, text).unwrap();
    audit::append(&path, &event(9)).unwrap();
    let l = lines(&path);
    assert_eq!(l.len(), 4);
    let last: serde_json::Value = serde_json::from_str(&l[3]).unwrap();
    assert_eq!(last["seq"], 4);
    assert_eq!(last["prev"], audit::sha256_hex(l[2].as_bytes()));
    let (code, out) = verify(dir.path(), &path);
    assert_eq!(code, Some(1), "{out}");
    assert_contains(&out, "BROKEN: 1 of 4 lines");
    assert_contains(&out, "line 3: not a JSON record");
}

#[test]
fn listing_text_json_and_since() {
    let (dir, path) = log_of(3);
    let file = path.to_str().unwrap();
    let out = log_cmd(dir.path(), &["--file", file]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let first = text.lines().next().unwrap();
    assert!(first.starts_with("#1 "), "{text}");
    assert!(
        first.ends_with(" pre-receive passed: push refs/heads/agent/t0 by bot (agent)"),
        "{first}"
    );
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .ends_with("by bot (agent) [paths.deny]"),
        "{text}"
    );

    let out = log_cmd(dir.path(), &["--file", file, "--format", "json"]);
    assert_eq!(stdout(&out).lines().collect::<Vec<_>>(), lines(&path));

    let out = log_cmd(dir.path(), &["--file", file, "--since", "1h"]);
    assert_eq!(stdout(&out).lines().count(), 3);
    let out = log_cmd(dir.path(), &["--file", file, "--since", "2999-01-01"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "");
    let out = log_cmd(
        dir.path(),
        &["--file", file, "--since", "2000-01-01T00:00:00Z"],
    );
    assert_eq!(stdout(&out).lines().count(), 3);

    let out = log_cmd(dir.path(), &["--file", file, "--since", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    assert_contains(&stderr(&out), "--since \"yesterday\"");

    let out = log_cmd(
        dir.path(),
        &["--file", file, "--verify", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["intact"], true);
    assert_eq!(v["records"], 3);
}

#[test]
fn log_of_the_repository_by_default_and_missing_log_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    support::git::init_repo(&repo);
    std::fs::create_dir_all(repo.join("src")).unwrap();
    let out = log_cmd(&repo.join("src"), &["--verify"]);
    assert_eq!(out.status.code(), Some(2));
    assert_contains(&stderr(&out), "guard/audit.log");

    audit::append(&repo.join(".git/guard/audit.log"), &event(0)).unwrap();
    let out = log_cmd(&repo.join("src"), &["--verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("intact: 1 record, chain verified"));

    let out = log_cmd(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_contains(&stderr(&out), "not in a git repository");
}

#[test]
fn mirrors_to_stderr_and_syslog_never_lose_the_file_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let sock_path = dir.path().join("log.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    let policy = AuditPolicy {
        log: None,
        syslog: true,
        stderr: true,
    };
    let mut err = Vec::new();
    let done = audit::record_to(&policy, &path, &event(1), &mut err, &sock_path).unwrap();
    assert!(done.mirror_errors.is_empty(), "{:?}", done.mirror_errors);
    assert_eq!(
        String::from_utf8(err).unwrap(),
        format!("git-guard audit: {}\n", done.line)
    );
    let mut buf = vec![0u8; 65536];
    let n = sock.recv(&mut buf).unwrap();
    let msg = String::from_utf8_lossy(&buf[..n]);
    assert!(msg.starts_with("<37>git-guard["), "{msg}");
    assert!(msg.ends_with(&done.line), "{msg}");

    // No syslog listening: the record is still in the file.
    let gone = dir.path().join("no-such.sock");
    let done = audit::record_to(&policy, &path, &event(2), &mut Vec::new(), &gone).unwrap();
    assert_eq!(done.seq, 2);
    assert_eq!(done.mirror_errors.len(), 1);
    assert!(
        done.mirror_errors[0].starts_with("syslog "),
        "{:?}",
        done.mirror_errors
    );
    assert_eq!(lines(&path).last().unwrap(), &done.line);
    assert!(audit::read(&path).unwrap().intact());
}
