//! guard-exec's kernel walls, its push of the agent's own branch, and its log, through the real
//! binaries on a real workspace: commands written to slip past the judge still cannot write
//! outside the walls, gain privileges or reach the network.

mod support;

use std::path::{Path, PathBuf};

use support::git::*;
use support::user as users;

/// A workspace made by `git guard workspace create` from a small upstream, with the upstream
/// guarded by the server hooks.
fn workspace(t: &Path, agent_user: Option<&str>) -> PathBuf {
    let src = t.join("src");
    init_repo(&src);
    write(&src, "README.md", "hi\n");
    commit_all(&src, "first");
    let up = t.join("up");
    git(
        t,
        &[
            "clone",
            "-q",
            "--bare",
            src.to_str().unwrap(),
            up.to_str().unwrap(),
        ],
    );
    let out = guard_cmd("git-guard", t)
        .args(["install", "--server"])
        .arg(&up)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let root = t.join("ws");
    let mut c = guard_cmd("git-guard", t);
    c.args(["workspace", "create", "--topic", "walls", "--from"])
        .arg(&up)
        .arg("--root")
        .arg(&root);
    if let Some(u) = agent_user {
        c.args(["--agent-user", u]);
    }
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    root
}

fn exec(root: &Path, args: &[&str]) -> std::process::Output {
    guard_cmd("guard-exec", root)
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

fn log_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn walls_hold_where_the_judge_is_fooled() {
    let t = tempfile::tempdir().unwrap();
    let root = workspace(t.path(), None);
    let up = t.path().join("up");
    let sandbox = root.join("sandbox");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    // Landlock walls TCP only: a datagram must not get out either.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_nonblocking(true).unwrap();
    let udp_port = udp.local_addr().unwrap().port();
    // The judge sees `sh evil.sh`, an ordinary command: what the script does is the walls'.
    let targets = [
        t.path().join("outside.txt"),
        up.join("hacked"),
        up.join("refs/heads/hacked"),
        root.join("hooks/pre-commit"),
        root.join("hooks/policy.toml"),
        root.join("deployments/x"),
        PathBuf::from("/tmp/guard-exec-walls-test"),
    ];
    // (The workspace's log is written by guard-exec itself, after the run: see the next test.)
    let mut script = String::from("fails=0\n");
    for p in &targets {
        script.push_str(&format!(
            "if echo x >> '{0}' 2>/dev/null; then echo 'WROTE {0}'; fi\n",
            p.display()
        ));
    }
    script.push_str("echo inside > inside.txt && echo tmp > \"$TMPDIR/t\" && echo WROTE-INSIDE\n");
    script.push_str("grep '^NoNewPrivs:' /proc/self/status\n");
    script.push_str(&format!(
        "if bash -c 'echo hi > /dev/tcp/127.0.0.1/{port}' 2>/dev/null; then echo CONNECTED; fi\n"
    ));
    script.push_str(&format!(
        "bash -c 'echo datagram > /dev/udp/127.0.0.1/{udp_port}' 2>/dev/null\n"
    ));
    write(&root, "sandbox/evil.sh", &script);
    let before: Vec<Option<Vec<u8>>> = targets.iter().map(|p| std::fs::read(p).ok()).collect();
    let o = exec(
        &root,
        &["--cwd", sandbox.to_str().unwrap(), "--", "sh", "evil.sh"],
    );
    let out = stdout(&o);
    assert!(
        !out.contains("WROTE /"),
        "a write went through the walls:\n{out}"
    );
    assert!(out.contains("WROTE-INSIDE"), "{out}\n{}", stderr(&o));
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    assert!(!out.contains("CONNECTED"), "{out}");
    let after: Vec<Option<Vec<u8>>> = targets.iter().map(|p| std::fs::read(p).ok()).collect();
    assert_eq!(before, after);
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the command reached 127.0.0.1"
    );
    let mut buf = [0u8; 64];
    assert!(
        matches!(udp.recv_from(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a UDP datagram from the command reached 127.0.0.1"
    );
    assert!(sandbox.join("inside.txt").exists());
    let log = log_lines(&root.join("logs/audit.log"));
    assert_eq!(log.last().unwrap()["detail"]["walls"], "landlock");
}

#[test]
fn set_uid_programs_do_not_raise_the_agent() {
    let user = match users::TestUser::create() {
        Ok(u) => u,
        Err(why) => return users::skip("set_uid_programs_do_not_raise_the_agent", &why),
    };
    let t = tempfile::tempdir().unwrap();
    users::open_up(t.path());
    let root = workspace(t.path(), Some(&user.name));
    // A set-uid root copy of `id`, as a program the judge has never heard of.
    let id = which("id");
    let suid = root.join("sandbox/whoami-root");
    std::fs::copy(&id, &suid).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::os::unix::fs::chown(&suid, Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
    // Without the walls it would raise: the file really is set-uid root.
    let plain = std::process::Command::new(&suid)
        .arg("-u")
        .uid(user.uid)
        .gid(user.gid)
        .output()
        .unwrap();
    assert_eq!(stdout(&plain).trim(), "0", "the fixture is not set-uid");
    let o = exec(&root, &["--", suid.to_str().unwrap(), "-u"]);
    assert_eq!(stdout(&o).trim(), user.uid.to_string(), "{}", stderr(&o));
    // sudo fails the same way (no new privileges), wherever it is installed.
    if let Some(sudo) = ["/usr/bin/sudo", "/bin/sudo"]
        .iter()
        .find(|p| Path::new(p).exists())
    {
        let link = root.join("sandbox/s");
        std::os::unix::fs::symlink(sudo, &link).unwrap();
        let o = exec(&root, &["--", link.to_str().unwrap(), "-n", "id", "-u"]);
        assert_ne!(stdout(&o).trim(), "0", "{}", stderr(&o));
    }
}

use std::os::unix::process::CommandExt as _;

fn which(p: &str) -> PathBuf {
    for d in ["/usr/bin", "/bin"] {
        let c = Path::new(d).join(p);
        if c.exists() {
            return c;
        }
    }
    panic!("{p} not found");
}

#[test]
fn pushing_the_agent_branch_works_and_nothing_else_does() {
    let t = tempfile::tempdir().unwrap();
    let root = workspace(t.path(), None);
    let up = t.path().join("up");
    let clone = root.join("code-repo");
    write(&clone, "src.txt", "work\n");
    let o = exec(&root, &["--", "git", "add", "src.txt"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = exec(&root, &["--", "git", "commit", "-q", "-m", "work"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let tip = git(&clone, &["rev-parse", "HEAD"]);

    // The agent's own branch, by name, by HEAD, by a full refspec; and with send-pack.
    for args in [
        &["--", "git", "push", "origin", "agent/walls"][..],
        &["--", "git", "push", "-u", "origin", "HEAD"],
        &[
            "--",
            "git",
            "push",
            "origin",
            "HEAD:refs/heads/agent/walls-2",
        ],
    ] {
        let o = exec(&root, args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    }
    let o = exec(
        &root,
        &[
            "--",
            "git",
            "send-pack",
            up.to_str().unwrap(),
            "refs/heads/agent/walls:refs/heads/agent/walls-3",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for b in ["agent/walls", "agent/walls-2", "agent/walls-3"] {
        assert_eq!(git(&up, &["rev-parse", b]), tip, "{b}");
    }
    // The upstream's own hooks judged the pushes (they run outside the walls).
    let up_log = log_lines(&up.join("guard/audit.log"));
    assert!(
        up_log.iter().any(|e| e["door"] == "pre-receive"),
        "{up_log:?}"
    );

    let main_before = git(&up, &["rev-parse", "main"]);
    for args in [
        &["--", "git", "push", "origin", "HEAD:main"][..],
        &["--", "git", "push", "origin", "agent/walls:refs/heads/main"],
        &["--", "git", "push", "origin", ":agent/walls"],
        &["--", "git", "push", "--delete", "origin", "agent/walls"],
        &["--", "git", "push", "--mirror", "origin"],
        &["--", "git", "push", "--all", "origin"],
        &["--", "git", "push", "--tags", "origin"],
        &["--", "git", "push", "origin"],
        &["--", "git", "push"],
        &["--", "git", "push", "/elsewhere", "agent/walls"],
        &["--", "git", "push", "origin", "refs/heads/*:refs/heads/*"],
        &["--", "git", "send-pack", "--all", up.to_str().unwrap()],
        &[
            "--",
            "git",
            "send-pack",
            up.to_str().unwrap(),
            "agent/walls:main",
        ],
        &["--sh", "git push origin agent/walls"],
    ] {
        let o = exec(&root, args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("\nhint: "), "{args:?}: {err}");
    }
    // A push the judge does not see (inside a script) runs walled: it cannot write the
    // upstream.
    write(&root, "sandbox/push.sh", "git push origin HEAD:main\n");
    let o = exec(&root, &["--", "sh", "../sandbox/push.sh"]);
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(git(&up, &["rev-parse", "main"]), main_before);
}

#[test]
fn check_judges_records_and_runs_nothing() {
    let t = tempfile::tempdir().unwrap();
    let root = workspace(t.path(), None);
    let o = exec(&root, &["--check", "--", "touch checked.txt"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!root.join("code-repo/checked.txt").exists());
    let o = exec(&root, &["--check", "--", "git commit --no-verify -m x"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.starts_with("guard-exec: denied: "), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("hint: ")).count(),
        1,
        "{err}"
    );
    let log = log_lines(&root.join("logs/audit.log"));
    let checks: Vec<_> = log
        .iter()
        .filter(|e| e["detail"]["check"] == true)
        .collect();
    assert_eq!(checks.len(), 2, "{log:?}");
    assert_eq!(checks[0]["outcome"], "dry-run");
    assert_eq!(checks[0]["action"], "touch checked.txt");
    assert_eq!(checks[1]["outcome"], "denied");
    assert_eq!(checks[1]["rules"][0], "commands.guard");

    // doctor says which walls this kernel gives guard-exec.
    let o = guard_cmd("git-guard", t.path())
        .args(["doctor", "--root"])
        .arg(&root)
        .output()
        .unwrap();
    let report = format!("{}{}", stdout(&o), stderr(&o));
    assert!(report.contains("guard-exec-walls"), "{report}");
    assert!(
        report.contains("the kernel offers Landlock ABI"),
        "{report}"
    );

    // The library entry a harness adapter calls gives the same.
    let j = git_guard::exec::judge_for(&root, None, "git push origin main").unwrap();
    assert!(!j.allowed());
    assert_eq!(j.denial.as_ref().unwrap().rule, "commands.push");
    assert!(!j.denial.unwrap().hint.is_empty());
}

#[test]
fn an_agent_user_running_guard_exec_itself_is_logged_or_refused() {
    let user = match users::TestUser::create() {
        Ok(u) => u,
        Err(why) => {
            return users::skip(
                "an_agent_user_running_guard_exec_itself_is_logged_or_refused",
                &why,
            );
        }
    };
    let t = tempfile::tempdir().unwrap();
    users::open_up(t.path());
    let root = workspace(t.path(), Some(&user.name));
    let home = root.join("sandbox");
    let as_agent = |args: &[&str]| {
        let mut c = guard_cmd("guard-exec", &root.join("code-repo"));
        user.apply(&mut c, &home);
        c.arg("--root").arg(&root).args(args).output().unwrap()
    };
    // The workspace's log belongs to whoever made it: the agent cannot append, so it may not
    // run anything, and nothing runs.
    let o = as_agent(&["--", "touch", "ran.txt"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot be recorded"), "{}", stderr(&o));
    assert!(stderr(&o).contains("\nhint: "), "{}", stderr(&o));
    assert!(!root.join("code-repo/ran.txt").exists());
    // With a log the admin made for it, every run is recorded there.
    let own = root.join(format!("logs/exec-{}.log", user.name));
    std::fs::write(&own, "").unwrap();
    std::os::unix::fs::chown(&own, Some(user.uid), Some(user.gid)).unwrap();
    let o = as_agent(&["--", "touch", "ran.txt"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(root.join("code-repo/ran.txt").exists());
    let o = as_agent(&["--check", "--", "git push origin main"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let log = log_lines(&own);
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0]["outcome"], "ok");
    assert_eq!(log[0]["actor"], user.name.as_str());
    assert_eq!(log[1]["outcome"], "denied");
}
