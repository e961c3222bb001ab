//! guard-exec through its denials, its time limit and its log, run as the agent's harness
//! would run it.

mod support;

use std::path::Path;

use support::git::*;
use support::user::with_user;
use support::workspace::*;

fn exec(root: &Path, args: &[&str]) -> std::process::Output {
    guard_cmd("guard-exec", root)
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

fn log_lines(root: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(root.join("logs/audit.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn denials_hold_whatever_the_spelling() {
    let t = tempfile::tempdir().unwrap();
    let (_, root) = small_workspace(t.path(), None);
    for args in [
        &["--", "git", "push", "origin", "main"][..],
        &["--", "/usr/bin/git", "push"],
        &["--sh", "git   'push'   origin"],
        &["--sh", "echo ok && \"git\" push"],
        &[
            "--",
            "git",
            "-c",
            "core.hooksPath=/dev/null",
            "commit",
            "-m",
            "x",
        ],
        &["--", "git", "commit", "--no-verify", "-m", "x"],
        &["--", "git", "commit", "-n", "-m", "x"],
        &["--", "git", "checkout", "main"],
        &["--", "git", "reset", "--hard", "origin/main"],
        &["--", "sh", "-c", "git rebase main"],
        &[
            "--",
            "env",
            "GIT_CONFIG_PARAMETERS='core.hooksPath=/dev/null'",
            "git",
            "commit",
        ],
        &["--", "sudo", "true"],
        &["--", "rm", "-fr", "/"],
        &["--sh", "echo $(git push)"],
        &["--sh", "ls > /etc/guard-exec-test"],
        &["--cwd", "/", "--", "ls"],
    ] {
        let o = exec(&root, args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).starts_with("guard-exec: denied: "),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    assert!(!Path::new("/etc/guard-exec-test").exists());
    let log = log_lines(&root);
    assert_eq!(log.len(), 16);
    assert!(
        log.iter()
            .all(|e| e["door"] == "exec" && e["outcome"] == "denied")
    );
    assert_eq!(log[0]["action"], "git push origin main");
    assert_eq!(log[0]["rules"][0], "commands.push");
    assert_eq!(log[8]["rules"][0], "commands.deny");
    assert_eq!(log[4]["rules"][0], "commands.guard");
    assert_eq!(log[13]["rules"][0], "commands.shell");
    assert_eq!(log[15]["rules"][0], "commands.cwd");
}

#[test]
fn allowed_commands_run_with_output_and_exit_code_passed_through() {
    let t = tempfile::tempdir().unwrap();
    let (_, root) = small_workspace(t.path(), None);
    let o = exec(&root, &["--", "git", "log", "--format=%s"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "first\n");
    write(
        &root,
        "sandbox/exit7.sh",
        "echo out; echo err >&2; exit 7\n",
    );
    let o = exec(&root, &["--"]);
    assert_eq!(o.status.code(), Some(2), "nothing to run cannot be judged");
    let o = exec(&root, &["--cwd", "/no/such/dir", "--", "ls"]);
    assert_eq!(o.status.code(), Some(1));
    let sandbox = root.join("sandbox");
    let o = exec(
        &root,
        &["--cwd", sandbox.to_str().unwrap(), "--", "sh", "exit7.sh"],
    );
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(stdout(&o), "out\n");
    assert_eq!(stderr(&o), "err\n");
    let o = exec(&root, &["--", "no-such-program-here"]);
    assert_eq!(o.status.code(), Some(127));
    // A shell line runs through sh once every command passed.
    let o = exec(
        &root,
        &[
            "--sh",
            "cd ../sandbox && printf 'a\\nb\\n' | wc -l > count.txt; cat count.txt",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "2");
    // A dry run judges and logs but runs nothing.
    let o = exec(&root, &["--dry-run", "--", "touch", "dry.txt"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(!root.join("code-repo/dry.txt").exists());
    let log = log_lines(&root);
    let last = log.last().unwrap();
    assert_eq!(last["outcome"], "dry-run");
    let run7 = log.iter().find(|e| e["action"] == "sh exit7.sh").unwrap();
    assert_eq!(run7["outcome"], "failed");
    assert_eq!(run7["detail"]["exit_code"], 7);
    assert!(run7["detail"]["duration_ms"].is_u64());
    assert_eq!(
        run7["detail"]["cwd"],
        sandbox.canonicalize().unwrap().to_str().unwrap()
    );
}

#[test]
fn time_limit_ends_the_whole_process_group() {
    let t = tempfile::tempdir().unwrap();
    let (_, root) = small_workspace(t.path(), None);
    let sandbox = root.join("sandbox");
    // A grandchild that would write a file after the limit, and a child that outlives it.
    write(
        &root,
        "sandbox/slow.sh",
        "(sleep 2; touch late.txt) &\necho started\nsleep 60\n",
    );
    let o = exec(
        &root,
        &[
            "--timeout",
            "0.5",
            "--cwd",
            sandbox.to_str().unwrap(),
            "--",
            "sh",
            "slow.sh",
        ],
    );
    assert_eq!(o.status.code(), Some(124), "{}", stderr(&o));
    assert_eq!(stdout(&o), "started\n");
    assert_contains(&stderr(&o), "time limit");
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert!(
        !sandbox.join("late.txt").exists(),
        "a process of the group outlived the time limit"
    );
    let log = log_lines(&root);
    let last = log.last().unwrap();
    assert_eq!(last["outcome"], "timeout");
    assert_eq!(last["detail"]["exit_code"], 124);

    // What a finished command left behind in its group does not outlive it either.
    write(
        &root,
        "sandbox/leave.sh",
        "(sleep 2; touch left.txt) &\nexit 0\n",
    );
    let o = exec(
        &root,
        &["--cwd", sandbox.to_str().unwrap(), "--", "sh", "leave.sh"],
    );
    assert_eq!(o.status.code(), Some(0));
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert!(!sandbox.join("left.txt").exists());
}

#[test]
fn policy_commands_section_is_honoured() {
    let t = tempfile::tempdir().unwrap();
    let (_, root) = small_workspace(t.path(), None);
    let policy = t.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[commands]\ndeny = [\"make deploy\"]\nallow = [\"make *\", \"echo\"]\ntimeout_secs = 1\n",
    )
    .unwrap();
    let p = policy.to_str().unwrap();
    let o = exec(&root, &["--policy", p, "--", "make", "-j4", "deploy"]);
    assert_eq!(o.status.code(), Some(1));
    assert_contains(&stderr(&o), "make deploy");
    let o = exec(&root, &["--policy", p, "--", "ls"]);
    assert_eq!(o.status.code(), Some(1));
    assert_contains(&stderr(&o), "none of the allowed");
    let o = exec(&root, &["--policy", p, "--", "echo", "hi"]);
    assert_eq!(o.status.code(), Some(0));
    // The policy's time limit applies when --timeout is not given.
    std::fs::write(&policy, "[commands]\ntimeout_secs = 1\n").unwrap();
    let o = exec(&root, &["--policy", p, "--", "sleep", "30"]);
    assert_eq!(o.status.code(), Some(124));
    // A broken policy cannot judge: exit 2, nothing run.
    std::fs::write(&policy, "[commands]\ndeny = \"oops\"\n").unwrap();
    let o = exec(&root, &["--policy", p, "--", "touch", "x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!root.join("code-repo/x").exists());
}

#[test]
fn runs_as_the_agent_user_when_the_workspace_has_one() {
    let Some((user, t)) = with_user() else { return };
    let (_, root) = small_workspace(t.path(), Some(&user.name));
    let o = exec(&root, &["--", "id", "-u"]);
    assert_eq!(stdout(&o).trim(), user.uid.to_string(), "{}", stderr(&o));
    // As the agent it cannot write the hooks, even with a command the policy allows.
    let hook = root.join("hooks/pre-commit");
    let o = exec(
        &root,
        &["--", "sh", "-c", &format!("echo x >> {}", hook.display())],
    );
    assert_ne!(o.status.code(), Some(0));
    let log = log_lines(&root);
    assert_eq!(log[0]["actor"], user.name.as_str());
}

#[test]
fn a_denial_is_one_reason_line_and_one_hint_line_whatever_the_line_holds() {
    let t = tempfile::tempdir().unwrap();
    let (_, root) = small_workspace(t.path(), None);
    for line in [
        "echo \"a\nb $(git push)\"",
        "cat <<EOF\n`git merge x`\nEOF",
        "if true; then\n  git merge x\nfi",
        "X=\"$(\ngit push)\"\necho \"$X\"",
    ] {
        let o = exec(&root, &["--check", "--", line]);
        assert_eq!(o.status.code(), Some(1), "{line:?}: {}", stderr(&o));
        let err = stderr(&o);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 2, "{line:?}: {err}");
        assert!(lines[0].starts_with("guard-exec: denied: "), "{err}");
        assert!(lines[1].starts_with("hint: "), "{err}");
    }
}

#[test]
fn a_symlinked_log_is_not_followed() {
    let t = tempfile::tempdir().unwrap();
    let (_, root) = small_workspace(t.path(), None);
    // Someone who could write logs/ points the log at a file guard-exec must not append to.
    let victim = t.path().join("victim.txt");
    std::fs::write(&victim, "").unwrap();
    let log = root.join("logs/audit.log");
    let _ = std::fs::remove_file(&log);
    std::os::unix::fs::symlink(&victim, &log).unwrap();
    let o = exec(&root, &["--", "true"]);
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "",
        "{}",
        stderr(&o)
    );
    // The run went to the next place of the log, or was refused: never unrecorded.
    let recorded = std::fs::read_dir(root.join("logs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p != &log)
        .any(|p| std::fs::read_to_string(p).is_ok_and(|s| s.contains("\"action\":\"true\"")));
    assert!(
        recorded || stderr(&o).contains("cannot be recorded"),
        "{}",
        stderr(&o)
    );
}
