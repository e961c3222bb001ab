//! pre-receive hands what it learnt about a push that passed to the post-receive of the same
//! push (`<git dir>/guard/pending/`), which records the push from it instead of walking the
//! commits again, and walks whenever the hand-off is missing, stale or for another push.

mod support;

use std::path::{Path, PathBuf};

use support::git::*;
use support::server::*;

/// A bare server at a seeded main with the server hooks installed, and a clone of it.
fn server(dir: &Path) -> (PathBuf, PathBuf) {
    let bare = seeded_server(dir, &[], &[]);
    let work = clone(dir, &bare, "work");
    git(&work, &["switch", "-q", "-c", "agent/topic"]);
    for i in 0..3 {
        write(&work, &format!("src/f{i}.py"), format!("x = {i}\n"));
        commit_all(&work, &format!("change {i}"));
    }
    (bare, work)
}

/// The server of `server` after the clone's agent/topic was pushed to it: the server and the
/// pushed tip.
fn pushed(dir: &Path) -> (PathBuf, String) {
    let (bare, work) = server(dir);
    let o = git_out(&work, &["push", "-q", "origin", "agent/topic"]);
    assert_code(&o, 0);
    let tip = rev(&bare, "agent/topic");
    (bare, tip)
}

/// The push record of `tip`: its pusher and its commits, sorted.
fn record(bare: &Path, tip: &str) -> (String, Vec<String>) {
    let text = git(
        bare,
        &["cat-file", "-p", &format!("refs/guard/pushes/{tip}")],
    );
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut commits: Vec<String> = v["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    commits.sort();
    (v["pusher"].as_str().unwrap().to_string(), commits)
}

fn rev_list(bare: &Path, tip: &str) -> Vec<String> {
    let mut ids: Vec<String> = git(bare, &["rev-list", tip, "--not", "main"])
        .lines()
        .map(str::to_string)
        .collect();
    ids.sort();
    ids
}

fn pending(bare: &Path) -> PathBuf {
    bare.join("guard").join("pending")
}

#[test]
fn a_push_that_passes_is_recorded_from_the_hand_off_which_is_then_removed() {
    let t = tempfile::tempdir().unwrap();
    let (bare, tip) = pushed(t.path());
    let (_, commits) = record(&bare, &tip);
    assert_eq!(commits, rev_list(&bare, &tip));
    assert_eq!(commits.len(), 3);
    // pre-receive wrote it (the directory exists), post-receive took it.
    let left: Vec<_> = std::fs::read_dir(pending(&bare)).unwrap().collect();
    assert!(left.is_empty(), "hand-offs left behind: {left:?}");
}

/// Run post-receive as receive-pack would, from this process (so the hand-off key is this
/// process's id and the line), after planting `handoff` (with `age_secs` of age) under its key.
fn post_receive_with(bare: &Path, line: &str, handoff: Option<(serde_json::Value, u64)>) {
    let mut keyed = format!("{}\n", std::process::id()).into_bytes();
    keyed.extend_from_slice(line.as_bytes());
    let key = git_guard::site::audit::sha256_hex(&keyed);
    if let Some((mut h, age)) = handoff {
        if h["key"] == "KEY" {
            h["key"] = key.clone().into();
        }
        std::fs::create_dir_all(pending(bare)).unwrap();
        let path = pending(bare).join(&key);
        std::fs::write(&path, h.to_string()).unwrap();
        let when = std::time::SystemTime::now() - std::time::Duration::from_secs(age);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }
    let o = run_with_input(&mut hook_cmd(bare, "post-receive"), line.as_bytes());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !pending(bare).join(&key).exists(),
        "post-receive must remove the hand-off it was given"
    );
}

#[test]
fn post_receive_walks_unless_the_hand_off_is_fresh_and_for_this_exact_update() {
    let t = tempfile::tempdir().unwrap();
    let (bare, tip) = pushed(t.path());
    let (pusher, real) = record(&bare, &tip);
    let zero = "0".repeat(40);
    let line = format!("{zero} {tip} refs/heads/agent/topic\n");
    let forged = |key: &str, old: &str, new: &str| {
        serde_json::json!({
            "version": 1, "key": key, "pusher": "mallory", "role": "human",
            "source": "forged", "policy": "forged",
            "audit_log": bare.join("guard").join("audit.log"),
            "refs": [{"ref": "refs/heads/agent/topic", "old": old, "new": new,
                      "commits": ["1111111111111111111111111111111111111111"]}],
        })
    };
    let again = |handoff| {
        git(
            &bare,
            &["update-ref", "-d", &format!("refs/guard/pushes/{tip}")],
        );
        post_receive_with(&bare, &line, handoff);
        record(&bare, &tip)
    };
    // None at all, one naming another key, one stale, one for another update: all walked.
    assert_eq!(again(None), (pusher.clone(), real.clone()));
    assert_eq!(
        again(Some((forged("another", &zero, &tip), 0))),
        (pusher.clone(), real.clone())
    );
    assert_eq!(
        again(Some((forged("KEY", &zero, &tip), 2 * 3600))),
        (pusher.clone(), real.clone())
    );
    assert_eq!(
        again(Some((forged("KEY", &tip, &tip), 0))),
        (pusher.clone(), real.clone())
    );
    // A fresh one for this very push is what post-receive records from.
    assert_eq!(
        again(Some((forged("KEY", &zero, &tip), 0))),
        (
            "mallory".to_string(),
            vec!["1111111111111111111111111111111111111111".to_string()]
        )
    );
}
