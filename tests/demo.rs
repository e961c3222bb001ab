//! `git guard demo` through the real binary: every step told and checked, and the machine left
//! as it was found.

mod common;

use common::*;

#[test]
fn the_demo_tells_every_step_and_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let scratch = tmp.path().join("demo");
    let out = guard_cmd("git-guard", tmp.path())
        .args(["demo", "--dir"])
        .arg(&scratch)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    let steps = [
        "[1/11] An upstream repository people rely on, guarded on the server",
        "[2/11] A tiny service, deployed from main with guard-deploy",
        "[3/11] An agent workspace",
        "[4/11] The agent commits a .env file: blocked by the deny list",
        "[5/11] The agent commits 12 files at once: over the cap of 10",
        "[6/11] The agent changes the code and a test: committed, and flagged",
        "[7/11] The agent pushes agent/feature: accepted by the server guard",
        "[8/11] A deploy of main is refused: the flag is not approved",
        "[9/11] alice reviews and approves the flagged commit",
        "[10/11] The deploy goes through: tests, switch, reload, health check",
        "[11/11] A broken release fails its health check and rolls back by itself",
    ];
    let mut at = 0;
    for s in steps {
        let i = text[at..]
            .find(s)
            .unwrap_or_else(|| panic!("missing {s:?} in order:\n{text}"));
        at += i + s.len();
        // Each step ends with its checked outcome before the next begins.
        let next = text[at..].find("\n[").map_or(text.len(), |n| at + n);
        assert!(
            text[at..next].contains("    ok: "),
            "{s}: no outcome line:\n{text}"
        );
    }
    assert!(text.contains("| error[paths.deny]"), "{text}");
    assert!(
        text.contains("[outstanding] tests.changed:tests/version.sh"),
        "{text}"
    );
    assert!(text.contains("demo complete: 11 steps"), "{text}");
    assert!(!scratch.exists(), "the scratch directory was left behind");
}

#[test]
fn the_demo_refuses_a_directory_that_is_not_empty() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "busy/file", "x");
    let out = guard_cmd("git-guard", tmp.path())
        .args(["demo", "--dir", "busy"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is not empty"), "{}", stderr(&out));
    assert!(tmp.path().join("busy/file").exists());
}
