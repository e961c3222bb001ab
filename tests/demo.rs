//! `git guard demo` through the real binary: every step told with its command and its key
//! result line, and the machine left as it was found (no scratch directory, no service).

mod support;

use support::git::*;

/// The text of step `n`: from its title to the blank line that ends it.
fn step(text: &str, n: usize) -> &str {
    let start = text
        .find(&format!("\n[{n}/11] "))
        .unwrap_or_else(|| panic!("no step {n}:\n{text}"));
    let rest = &text[start + 1..];
    let end = rest.find("\n\n").map_or(rest.len(), |e| e + 1);
    &rest[..end]
}

/// Live processes whose process group is `pgid`, from /proc: pid and command line.
fn group_members(pgid: u32) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // After the command name in parentheses: state, ppid, pgrp.
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = after.split_whitespace().collect();
        // A zombie is dead already, waiting for its parent to read its status.
        let dead = fields.first() == Some(&"Z");
        if !dead && fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid) {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            found.push(format!(
                "{pid} {}",
                String::from_utf8_lossy(&cmd).replace('\0', " ")
            ));
        }
    }
    found
}

/// The pid the demo says its service runs as.
fn service_pid(text: &str) -> u32 {
    text.split("the service runs as pid ")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no service pid in:\n{text}"))
}

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

    let titles = [
        "An upstream repository people rely on, guarded on the server",
        "A tiny service, deployed from main with guard-deploy",
        "An agent workspace: its own clone, hooks it cannot change",
        "The agent commits a .env file: blocked by the deny list",
        "The agent commits 12 files at once: over the cap of 10",
        "The agent changes the code and a test: committed, and flagged",
        "The agent pushes agent/feature: accepted by the server guard",
        "A deploy of main is refused: the flag is not approved",
        "alice reviews and approves the flagged commit",
        "The deploy goes through: tests, switch, reload, health check",
        "A broken release fails its health check and rolls back by itself",
    ];
    // Each step: its title, the commands a person would type, their key lines, an outcome.
    let expect: [&[&str]; 11] = [
        &[
            "alice$ git guard install --server --host gitolite --policy policy.toml upstream.git",
            "| git-guard server hooks installed in upstream.git",
        ],
        &[
            "deploy$ guard-deploy --repo upstream.git --policy policy.toml deploy main",
            "| guard-deploy: reload: sent SIGHUP to pid",
            "| guard-deploy: health: ",
            "| guard-deploy: deployed ",
            "the service serves \"version 1\"",
        ],
        &[
            "alice$ git guard workspace create --from upstream.git --root workspace --topic feature",
            "|   code-repo   workspace/code-repo (branch agent/feature at ",
        ],
        &[
            "agent-bot:workspace/code-repo$ git commit -m 'Add env'",
            "| error[paths.deny] .env: ",
            "|   hint: ",
        ],
        &[
            "agent-bot:workspace/code-repo$ git commit -m 'Generate parts'",
            "| error[caps.files]: 12 files changed, the cap is 10",
        ],
        &[
            "agent-bot:workspace/code-repo$ git commit -m 'Serve version 2'",
            "| flag[tests.changed] tests/version.sh",
            "agent-bot:workspace/code-repo$ git guard flags",
            "[outstanding] tests.changed:tests/version.sh",
        ],
        &[
            "agent-bot:workspace/code-repo$ git push origin agent/feature",
            "| remote: git-guard: PASSED: 0 violations, 1 flag",
            "judged as agent-bot (agent)",
            "agent/feature -> agent/feature",
            "alice:human$ git push origin main",
        ],
        &[
            "| guard-deploy: not approved: flag[tests.changed]",
            "| guard-deploy: REFUSED: 1 flag of ",
            "release 1 still serves \"version 1\"",
        ],
        &[
            "alice:human$ git guard report ",
            "| - [x] ",
            "alice:human$ git guard approve ",
            "| git-guard approve: approved tests.changed:tests/version.sh on ",
            "agent-bot:workspace/code-repo$ git guard approve ",
            "origin refused the approval",
            "remote: error[approvals.",
        ],
        &[
            "| guard-deploy: tests: passed",
            "| guard-deploy: current -> releases/",
            "| guard-deploy: reload: sent SIGHUP to pid",
            "| guard-deploy: deployed ",
            "serves \"version 2\"",
        ],
        &[
            "| guard-deploy: health check failed: ",
            "(the backup)",
            "| guard-deploy: ROLLED BACK: ",
            "deploy$ guard-deploy --policy policy.toml status",
            "| current: releases/",
            "serves \"version 2\" again",
        ],
    ];
    for (i, (title, lines)) in titles.iter().zip(expect).enumerate() {
        let n = i + 1;
        let s = step(&text, n);
        assert!(
            s.starts_with(&format!("[{n}/11] {title}\n")),
            "step {n} title:\n{s}"
        );
        let mut at = 0;
        for l in lines {
            let found = s[at..]
                .find(l)
                .unwrap_or_else(|| panic!("step {n}: missing {l:?} (in order) in:\n{s}"));
            at += found + l.len();
        }
        // The outcome, checked by the demo, ends the step.
        let last = s.trim_end().lines().last().unwrap_or_default();
        assert!(
            last.starts_with("    ok: "),
            "step {n}: no outcome line:\n{s}"
        );
    }
    assert_contains(&text, "| audit.log: intact: ");
    assert_contains(&text, "demo complete: 11 steps");

    // Nothing left behind: the scratch directory is gone, and so is the service it started
    // (pid and process group).
    assert!(!scratch.exists(), "the scratch directory was left behind");
    let pid = service_pid(&text);
    assert_contains(&text, &format!("service (pid {pid}) stopped"));
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the service (pid {pid}) is still alive"
    );
    assert_eq!(
        group_members(pid),
        Vec::<String>::new(),
        "processes of the service's group are still alive"
    );
}

#[test]
fn the_demo_keeps_its_scratch_directory_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let out = guard_cmd("git-guard", tmp.path())
        .args(["demo", "--keep", "--dir", "kept"])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    let kept = tmp.path().join("kept");
    assert_contains(&text, "kept ");
    // What the story left is there to look at: the upstream, the workspace, the releases.
    assert!(kept.join("upstream.git/hooks/pre-receive").is_file());
    assert!(kept.join("workspace/code-repo/.git").is_dir());
    assert!(kept.join("deploy/current").is_symlink());
    // The service is stopped all the same.
    let pid = std::fs::read_to_string(kept.join("service.pid")).unwrap();
    let pid: u32 = pid.trim().parse().unwrap();
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
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
    assert_contains(&stderr(&out), "is not empty");
    assert!(tmp.path().join("busy/file").exists());
    assert_eq!(
        std::fs::read_dir(tmp.path().join("busy")).unwrap().count(),
        1
    );
}

#[test]
fn an_interrupted_demo_still_stops_its_service_and_removes_its_directory() {
    use std::io::{BufRead as _, BufReader};
    use std::os::unix::process::CommandExt as _;

    let tmp = tempfile::tempdir().unwrap();
    let scratch = tmp.path().join("demo");
    // Its own process group, as a terminal's foreground job: Ctrl-C goes to every process in it.
    let mut child = guard_cmd("git-guard", tmp.path())
        .args(["demo", "--dir"])
        .arg(&scratch)
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let group = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut text = String::new();
    let mut sent = false;
    for line in lines.by_ref() {
        let line = line.unwrap();
        text.push_str(&line);
        text.push('\n');
        if line.starts_with("[3/11]") {
            nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGINT).unwrap();
            sent = true;
            break;
        }
    }
    assert!(sent, "the demo never reached step 3:\n{text}");
    for line in lines {
        text.push_str(&line.unwrap());
        text.push('\n');
    }
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{text}{err}");
    assert_contains(&err, "interrupted");
    assert_contains(&text, "demo interrupted; service (pid ");
    assert!(!scratch.exists(), "the scratch directory was left behind");
    let pid = service_pid(&text);
    assert_eq!(group_members(pid), Vec::<String>::new(), "{text}");
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

/// Ctrl-C at the demo's first line, as a terminal sends it (SIGINT to the whole foreground
/// group): it used to end with git's "waitpid ... failed" and exit 2; it ends quietly with
/// 130, one line saying so, no scratch directory and no process left.
#[test]
fn ctrl_c_at_the_first_line_ends_quietly_with_130() {
    use std::io::{BufRead as _, BufReader};
    use std::os::unix::process::CommandExt as _;

    let tmp = tempfile::tempdir().unwrap();
    let tmpdir = tmp.path().join("tmp");
    std::fs::create_dir(&tmpdir).unwrap();
    let mut child = guard_cmd("git-guard", tmp.path())
        .arg("demo")
        .env("TMPDIR", &tmpdir)
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let group = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a first line").unwrap();
    nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGINT).unwrap();
    let mut text = format!("{first}\n");
    for line in lines {
        text.push_str(&line.unwrap());
        text.push('\n');
    }
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{text}{err}");
    assert!(!err.contains("waitpid"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_contains(&err, "interrupted");
    let left: Vec<_> = std::fs::read_dir(&tmpdir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}\n{text}");
    assert_eq!(
        group_members(group.as_raw() as u32),
        Vec::<String>::new(),
        "{text}"
    );

    // As a person runs it, `git guard demo`, with Ctrl-C while a command of the story runs:
    // git, the demo's parent, dies of the signal as a shell job does; nothing else is said.
    let mut child = git_cmd(tmp.path())
        .args(["guard", "demo"])
        .env("TMPDIR", &tmpdir)
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let group = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut text = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        text.push_str(&line);
        text.push('\n');
        if line.contains("$ git push") {
            nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGINT).unwrap();
            break;
        }
    }
    for line in lines {
        text.push_str(&line.unwrap());
        text.push('\n');
    }
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    use std::os::unix::process::ExitStatusExt as _;
    assert!(
        out.status.code() == Some(130) || out.status.signal() == Some(nix::libc::SIGINT),
        "{:?}\n{text}{err}",
        out.status
    );
    assert!(!err.contains("waitpid"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_contains(&err, "git-guard demo: interrupted at step ");
    assert_contains(&text, "demo interrupted; ");
    let left: Vec<_> = std::fs::read_dir(&tmpdir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}\n{text}");
    assert_eq!(
        group_members(group.as_raw() as u32),
        Vec::<String>::new(),
        "{text}"
    );
}
