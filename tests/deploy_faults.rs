//! guard-deploy under faults, through the real binary: SIGKILL at every step, a failing health
//! check, two deploys at once, a corrupt status file, a full releases directory, a missing
//! pidfile. Each time `current` must point at a complete release, the lock must be
//! recoverable, and `status` must tell the truth.

mod support;

use support::deploy::*;
use support::git::*;

const OK_HOOKS: &str = "reload_command = \"true\"\nhealth_command = \"true\"\n";

/// A fixture with release A deployed and version 2 committed, pushing to a bare remote so
/// every step of a deploy is reached.
fn deployed_fixture(extra: &str) -> Fixture {
    let f = Fixture::new(OK_HOOKS, "");
    let remote = f.prod_remote();
    f.set_policy(
        &format!("{OK_HOOKS}push_remote = \"{}\"\n{extra}", remote.display()),
        "command = \"test -f app.txt\"",
    );
    f.expect(&["deploy", "main"], 0);
    f.commit(2);
    f
}

fn token_in(status_out: &str) -> String {
    let i = status_out
        .find("unlock --token ")
        .unwrap_or_else(|| panic!("no token in:\n{status_out}"));
    status_out[i + "unlock --token ".len()..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect()
}

#[test]
fn sigkill_at_every_step_leaves_a_complete_release_a_recoverable_lock_and_a_true_status() {
    // Every pause point, with the step status.json records there (a rename is part of its
    // step) and whether current was switched yet (from reload on).
    let before_switch =
        "lock check approvals tests materialise materialise-rename switch switch-rename";
    let after_switch = "reload health prune push done";
    let points = (before_switch.split(' ').map(|p| (p, false)))
        .chain(after_switch.split(' ').map(|p| (p, true)))
        .map(|(p, switched)| (p, p.trim_end_matches("-rename"), switched));
    for (point, recorded, switched) in points {
        let f = deployed_fixture("");
        let a = f.current().unwrap();
        let mut p = f.spawn_deploy(point, "pause");
        assert_eq!(p.wait_paused(), point);
        p.kill();

        // current points at a complete release: the old one, or the new one once switched.
        let cur = f.current().expect("current survives");
        f.assert_complete(&cur);
        let s = f.status_json();
        assert_eq!(s["step"], recorded, "at {point}");
        if switched {
            assert_eq!(Some(cur.as_str()), s["release"].as_str(), "at {point}");
        } else {
            assert_eq!(cur, a, "at {point}: current moved before the switch");
        }

        // status tells the truth and names the stale lock's token.
        let o = f.expect(&["status"], 2);
        let text = stdout(&o);
        assert!(text.contains("STALE"), "at {point}:\n{text}");
        if point == "done" {
            assert!(text.contains("done at step done"), "at {point}:\n{text}");
        } else {
            assert!(
                text.contains(&format!("interrupted at step {recorded}")),
                "at {point}:\n{text}"
            );
            if switched {
                assert!(
                    text.contains("current was already switched"),
                    "at {point}:\n{text}"
                );
            } else {
                assert!(
                    text.contains("the service was not changed"),
                    "at {point}:\n{text}"
                );
            }
        }

        // The stale lock is reported, never broken silently.
        let o = f.expect(&["deploy", "main"], 2);
        assert!(stderr(&o).contains("STALE"), "at {point}:\n{}", stderr(&o));
        let token = token_in(&text);
        f.expect(&["unlock", "--token", "0000"], 2);
        f.expect(&["unlock", "--token", &token], 0);

        // And the next deploy runs, cleaning up what the killed one left.
        f.expect(&["deploy", "main"], 0);
        f.assert_no_leftovers();
        f.assert_complete(&f.current().unwrap());
        f.expect(&["status"], 0);
    }
}

#[test]
fn sigkill_while_rolling_back_leaves_the_truth_told() {
    let f = deployed_fixture("");
    f.set_policy("health_command = \"false\"\nhealth_retries = 1\n", "");
    let a = f.current().unwrap();
    let mut p = f.spawn_deploy("rollback", "pause");
    p.wait_paused();
    p.kill();
    let cur = f.current().unwrap();
    assert_ne!(
        cur, a,
        "killed before switching back: the new release is still current"
    );
    f.assert_complete(&cur);
    let text = stdout(&f.expect(&["status"], 2));
    assert_contains(&text, "interrupted at step rollback");
    assert_contains(&text, &format!("`guard-deploy rollback` returns to {a}"));
    let token = token_in(&text);
    f.expect(&["unlock", "--token", &token], 0);
    f.set_policy(OK_HOOKS, "");
    f.expect(&["rollback"], 0);
    assert_eq!(f.current().unwrap(), a);
}

#[test]
fn a_failing_health_check_rolls_back() {
    let f = deployed_fixture("");
    let a = f.current().unwrap();
    // Healthy only when the release checked is A (version 1).
    f.set_policy(
        r#"health_command = 'grep -q "version 1" "$GUARD_RELEASE_DIR/app.txt"'
health_retries = 3
health_interval_ms = 1
"#,
        "",
    );
    let o = f.expect(&["deploy", "main"], 1);
    assert_contains(&stdout(&o), "unhealthy after 3 attempts");
    assert_eq!(f.current().unwrap(), a);
    assert_eq!(f.status_json()["state"], "rolled-back");
    f.expect(&["status"], 0);
}

#[test]
fn two_deploys_at_once_serialise_or_refuse_and_say_which() {
    let f = deployed_fixture("lock_wait_secs = 600\n");
    let mut first = f.spawn_deploy("tests", "p1");
    first.wait_paused();

    // With no wait allowed, the second refuses at once.
    f.set_policy(OK_HOOKS, "");
    let o = f.expect(&["deploy", "main"], 2);
    assert_contains(&stderr(&o), "refused without waiting");
    assert_contains(&stderr(&o), &format!("pid {}", first.child.id()));

    // With a wait allowed, the second waits for the first, then runs.
    f.set_policy(&format!("{OK_HOOKS}lock_wait_secs = 600\n"), "");
    let mut second = f.spawn_deploy("lock-wait", "p2");
    second.wait_paused();
    second.resume();
    first.resume();
    assert_eq!(first.finish(), 0, "{}{}", first.stdout(), first.stderr());
    let first_release = f.status_json()["release"].as_str().map(str::to_string);
    assert_eq!(second.finish(), 0, "{}{}", second.stdout(), second.stderr());
    let out = second.stdout();
    assert_contains(&out, "waiting up to 600s");
    assert_contains(&out, "then took it");
    let cur = f.current().unwrap();
    assert_ne!(Some(cur.clone()), first_release);
    assert_eq!(
        f.meta(&cur)["previous"].as_str().map(str::to_string),
        first_release
    );
    f.expect(&["status"], 0);
}

#[test]
fn a_corrupt_status_file_is_a_clear_error_and_nothing_is_lost() {
    let f = deployed_fixture("");
    let a = f.current().unwrap();
    std::fs::write(f.root.join("status.json"), "{ not json").unwrap();
    let o = f.expect(&["deploy", "main"], 2);
    assert_contains(&stderr(&o), "status.json is corrupt");
    assert_contains(&stderr(&o), ".bad");
    assert_eq!(
        std::fs::read_to_string(f.root.join("status.json")).unwrap(),
        "{ not json"
    );
    assert_eq!(f.current().unwrap(), a);
    assert!(!f.root.join("lock").exists(), "the lock is released");
    let text = stdout(&f.expect(&["status"], 2));
    assert_contains(&text, &format!("current: releases/{a}"));
    assert_contains(&text, "corrupt");
    let list = stdout(&f.expect(&["list"], 0));
    assert_contains(&list, "current");
}

/// Makes `dir` a tiny tmpfs when this process may mount (root); otherwise the deploy runs
/// with a file size limit, which fails writes the same way.
struct Full {
    mounted: Option<std::path::PathBuf>,
}

impl Drop for Full {
    fn drop(&mut self) {
        if let Some(d) = &self.mounted {
            let _ = std::process::Command::new("umount").arg(d).status();
        }
    }
}

fn full_releases_dir(dir: &std::path::Path) -> Full {
    std::fs::create_dir_all(dir).unwrap();
    let ok = nix::unistd::geteuid().is_root()
        && std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    Full {
        mounted: ok.then(|| dir.to_path_buf()),
    }
}

#[test]
fn a_full_releases_directory_is_a_clear_error_and_nothing_is_lost() {
    let f = Fixture::new(OK_HOOKS, "");
    let full = full_releases_dir(&f.root.join("releases"));
    let limited = |args: &[&str]| {
        let mut c = f.cmd(args);
        if full.mounted.is_none() {
            let prog = c.get_program().to_owned();
            let mut w = std::process::Command::new("sh");
            w.current_dir(&f.repo)
                .arg("-c")
                .arg("ulimit -f 200; trap '' XFSZ; exec \"$@\"")
                .arg("sh")
                .arg(prog)
                .args(c.get_args());
            for (k, v) in c.get_envs() {
                match v {
                    Some(v) => w.env(k, v),
                    None => w.env_remove(k),
                };
            }
            c = w;
        }
        c.output().unwrap()
    };
    let o = limited(&["deploy", "main"]);
    assert_code(&o, 0);
    let a = f.current().unwrap();
    // A release larger than the space left.
    commit_file(&f.repo, "big.bin", vec![7u8; 1024 * 1024], "big");
    let o = limited(&["deploy", "main"]);
    let out = stdout_of(&o, 2);
    assert_contains(&out, "FAILED at step materialise");
    assert!(
        out.contains("No space left") || out.contains("File too large"),
        "{out}"
    );
    assert_eq!(f.current().unwrap(), a);
    f.assert_complete(&a);
    assert_eq!(f.status_json()["state"], "failed");
    // No half-written release is left.
    for e in std::fs::read_dir(f.root.join("releases")).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(n == a || n.ends_with(".json"), "left behind: {n}");
    }
    let list = stdout(&f.expect(&["list"], 0));
    assert_eq!(list.lines().count(), 1, "{list}");
    drop(full);
}

#[test]
fn a_missing_pidfile_is_a_clear_error_and_the_backup_is_current() {
    let f = Fixture::new("", "");
    let (mut service, pidfile) = f.service("CONT");
    let a = f.deploy();
    std::fs::remove_file(&pidfile).unwrap();
    f.commit(2);
    let o = f.expect(&["deploy", "main"], 2);
    let out = stdout(&o);
    assert_contains(&out, "cannot read the pidfile");
    assert_contains(&out, &format!("switched back to releases/{a}"));
    assert_eq!(f.current().unwrap(), a);
    f.assert_complete(&a);
    let s = f.status_json();
    assert_eq!(s["state"], "failed");
    assert!(s["error"].as_str().unwrap().contains("pidfile"), "{s}");
    service.kill().unwrap();
    service.wait().unwrap();

    // A pidfile naming a process that is gone is the same clear error.
    std::fs::write(&pidfile, format!("{}\n", service.id())).unwrap();
    let o = f.expect(&["deploy", "main"], 2);
    assert_contains(&stdout(&o), "cannot send SIGCONT");
    assert_eq!(f.current().unwrap(), a);
}
