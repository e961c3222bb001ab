//! The harness door through the real binaries: `git guard workspace create --harness` writes
//! each harness's hook configuration, and `guard-harness` answers recorded hook payloads of
//! Claude Code, Codex CLI, Gemini CLI and Cursor in each harness's blocking form.

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::git::*;
use support::harness::*;

const KEY: &str = "AKIAZ7Q3WLMNQ4RTK2XY";

fn code(root: &Path) -> std::path::PathBuf {
    root.join("code-repo")
}

fn audit(root: &Path) -> Vec<Value> {
    std::fs::read_to_string(root.join("logs/audit.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn claude_code_write_of_a_dotenv_with_a_key_is_refused_before_it_is_written() {
    let t = tempfile::tempdir().unwrap();
    let root = harness_workspace(t.path(), "claude-code", &[]);
    let c = code(&root);
    let o = hook_json(
        &root,
        "claude-code",
        &pre_tool_use(
            &c,
            "Write",
            json!({"file_path": c.join(".env"), "content": format!("AWS_ACCESS_KEY_ID={KEY}\n")}),
        ),
    );
    let why = assert_refused(&o, "paths.deny");
    assert_contains(&why, "[secrets.aws-access-key]");
    assert!(
        !why.contains(KEY),
        "the key itself is never repeated: {why}"
    );
    // Claude Code's own JSON denial is on standard output too.
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["hookSpecificOutput"]["permissionDecision"], "deny");
    assert_eq!(v["hookSpecificOutput"]["hookEventName"], "PreToolUse");
    assert!(!c.join(".env").exists());
    let last = audit(&root).pop().unwrap();
    assert_eq!(
        (last["door"].as_str(), last["outcome"].as_str()),
        (Some("harness"), Some("denied"))
    );
}

#[test]
fn a_key_written_into_an_ordinary_file_by_edit_or_multiedit_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let root = harness_workspace(t.path(), "claude-code", &[]);
    let c = code(&root);
    let edit = pre_tool_use(
        &c,
        "Edit",
        json!({"file_path": "src/calc.py", "old_string": "return a + b", "new_string": format!("KEY = '{KEY}'\n    return a + b"), "replace_all": false}),
    );
    assert_refused(
        &hook_json(&root, "claude-code", &edit),
        "secrets.aws-access-key",
    );
    let multi = pre_tool_use(
        &c,
        "MultiEdit",
        json!({"file_path": c.join("src/calc.py"), "edits": [
            {"old_string": "def add", "new_string": "def plus"},
            {"old_string": "a + b", "new_string": format!("a + b  # {KEY}")},
        ]}),
    );
    assert_refused(
        &hook_json(&root, "claude-code", &multi),
        "secrets.aws-access-key",
    );
    // The same edit without the key passes: exit 0 and no decision that would skip prompts.
    let fine = pre_tool_use(
        &c,
        "Edit",
        json!({"file_path": "src/calc.py", "old_string": "a + b", "new_string": "b + a"}),
    );
    let o = hook_json(&root, "claude-code", &fine);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "");
}

#[test]
fn a_skip_marker_edited_into_a_test_is_refused_in_every_harness() {
    let t = tempfile::tempdir().unwrap();
    let root = harness_workspace(t.path(), "claude-code,codex,gemini,cursor", &[]);
    let c = code(&root);
    let (old, new) = (
        "def test_add():",
        "import pytest\n\n\n@pytest.mark.skip\ndef test_add():",
    );
    let claude = pre_tool_use(
        &c,
        "Edit",
        json!({"file_path": "tests/test_calc.py", "old_string": old, "new_string": new}),
    );
    assert_refused(&hook_json(&root, "claude-code", &claude), "tests.disabled");
    let gemini = before_tool(
        &c,
        "replace",
        json!({"file_path": c.join("tests/test_calc.py"), "old_string": old, "new_string": new}),
    );
    let o = hook_json(&root, "gemini", &gemini);
    assert_refused(&o, "tests.disabled");
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["decision"], "deny");
    let patch = format!(
        "*** Begin Patch\n*** Update File: tests/test_calc.py\n@@\n-{old}\n+import pytest\n+\n+\n+@pytest.mark.skip\n+{old}\n*** End Patch\n"
    );
    let mut codex = pre_tool_use(&c, "apply_patch", json!({"command": patch}));
    codex["turn_id"] = json!("t-1");
    codex["model"] = json!("gpt-test");
    assert_refused(&hook_json(&root, "codex", &codex), "tests.disabled");
    let cursor = cursor_event(
        &c,
        "preToolUse",
        json!({"tool_name": "Write", "tool_input": {"file_path": c.join("tests/test_calc.py"), "contents": format!("import pytest\n\n\n@pytest.mark.skip\ndef test_add():\n    assert True\n")}}),
    );
    let o = hook_json(&root, "cursor", &cursor);
    let why = assert_refused(&o, "tests.disabled");
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["permission"], "deny");
    assert_eq!(v["agent_message"].as_str(), Some(why.as_str()));
}

#[test]
fn a_shell_push_to_a_protected_branch_is_refused_as_guard_exec_refuses_it() {
    let t = tempfile::tempdir().unwrap();
    let root = harness_workspace(t.path(), "claude-code,codex,gemini,cursor", &[]);
    let c = code(&root);
    let line = "git push origin HEAD:main";
    assert_refused(
        &hook_json(
            &root,
            "claude-code",
            &pre_tool_use(&c, "Bash", json!({"command": line})),
        ),
        "commands.push",
    );
    // Codex may hand the command over as an argv.
    assert_refused(
        &hook_json(
            &root,
            "codex",
            &pre_tool_use(&c, "Bash", json!({"command": ["bash", "-lc", line]})),
        ),
        "commands.push",
    );
    assert_refused(
        &hook_json(
            &root,
            "gemini",
            &before_tool(&c, "run_shell_command", json!({"command": line})),
        ),
        "commands.push",
    );
    assert_refused(
        &hook_json(
            &root,
            "cursor",
            &cursor_event(
                &c,
                "beforeShellExecution",
                json!({"command": "git push --no-verify origin agent/ws", "cwd": c}),
            ),
        ),
        "commands.guard",
    );
    // An ordinary command passes, and the judgement is in guard-exec's audit log.
    let o = hook_json(
        &root,
        "claude-code",
        &pre_tool_use(&c, "Bash", json!({"command": "git status"})),
    );
    assert_code(&o, 0);
    assert!(
        audit(&root)
            .iter()
            .any(|e| e["door"] == "exec" && e["action"] == "git status")
    );
}

#[test]
fn writes_outside_the_walls_or_into_git_are_refused_symlinks_included() {
    let t = tempfile::tempdir().unwrap();
    let root = harness_workspace(t.path(), "claude-code,codex,gemini", &[]);
    let c = code(&root);
    let policy = root.join("hooks/policy.toml");
    let before = std::fs::read_to_string(&policy).unwrap();
    for target in [
        policy.clone(),
        root.join("deployments/current"),
        root.join("agent.env"),
        c.join("../hooks/pre-commit"),
        c.join(".git/hooks/pre-commit"),
        c.join(".git/config"),
        c.join("sub/.GIT/x"),
    ] {
        let o = hook_json(
            &root,
            "claude-code",
            &pre_tool_use(&c, "Write", json!({"file_path": target, "content": "x\n"})),
        );
        assert_refused(&o, "harness.walls");
    }
    // A symlink inside code-repo that leads out is followed.
    std::os::unix::fs::symlink(root.join("hooks"), c.join("out")).unwrap();
    let o = hook_json(
        &root,
        "gemini",
        &before_tool(
            &c,
            "write_file",
            json!({"file_path": "out/policy.toml", "content": "mode = \"warn\"\n"}),
        ),
    );
    assert_refused(&o, "harness.walls");
    // A patch that adds a file outside is refused whole.
    let patch = "*** Begin Patch\n*** Add File: ok.txt\n+fine\n*** Add File: ../hooks/policy.toml\n+mode = \"warn\"\n*** End Patch\n";
    assert_refused(
        &hook_json(
            &root,
            "codex",
            &pre_tool_use(&c, "apply_patch", json!({"command": patch})),
        ),
        "harness.walls",
    );
    // The sandbox is inside the walls.
    let o = hook_json(
        &root,
        "claude-code",
        &pre_tool_use(
            &c,
            "Write",
            json!({"file_path": root.join("sandbox/notes.txt"), "content": "x\n"}),
        ),
    );
    assert_code(&o, 0);
    assert_eq!(std::fs::read_to_string(&policy).unwrap(), before);
}

#[test]
fn harness_settings_written_by_a_tool_or_a_redirection_are_refused_when_the_policy_protects_them() {
    // The policy is given explicitly: it protects the harnesses' configuration files.
    let t = tempfile::tempdir().unwrap();
    let policy = t.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[paths]\nprotected = [\"/policy.toml\", \".claude/\", \"CLAUDE.md\", \"AGENTS.md\", \".codex/\", \".cursor/\", \".gemini/\", \".aider*\"]\n",
    )
    .unwrap();
    let root = harness_workspace(
        t.path(),
        "claude-code,cursor",
        &["--policy", policy.to_str().unwrap()],
    );
    let c = code(&root);
    let off = "{\"disableAllHooks\": true}\n";
    let o = hook_json(
        &root,
        "claude-code",
        &pre_tool_use(
            &c,
            "Write",
            json!({"file_path": c.join(".claude/settings.json"), "content": off}),
        ),
    );
    assert_refused(&o, "paths.protected");
    // Through the shell: the redirection's file is judged as a write.
    let o = hook_json(
        &root,
        "cursor",
        &cursor_event(
            &c,
            "beforeShellExecution",
            json!({"command": format!("mkdir -p .claude && echo '{}' > .claude/settings.local.json", off.trim()), "cwd": c}),
        ),
    );
    assert_refused(&o, "paths.protected");
    let o = hook_json(
        &root,
        "claude-code",
        &pre_tool_use(
            &c,
            "Bash",
            json!({"command": "echo 'x' >> src/../AGENTS.md"}),
        ),
    );
    assert_refused(&o, "paths.protected");
    // Behind a `cd` the write may land outside the clone (the cd can fail): refused before the
    // path is even looked at.
    let o = hook_json(
        &root,
        "claude-code",
        &pre_tool_use(
            &c,
            "Bash",
            json!({"command": "cd src && echo 'x' >> ../AGENTS.md"}),
        ),
    );
    assert_refused(&o, "commands.cwd");
}

#[test]
fn empty_malformed_unknown_and_unjudgeable_calls_fail_closed() {
    let t = tempfile::tempdir().unwrap();
    let root = harness_workspace(t.path(), "claude-code,gemini,cursor", &[]);
    let c = code(&root);
    for (h, bad) in [
        ("claude-code", "".as_bytes()),
        ("claude-code", b"not json"),
        ("gemini", b"[]"),
        ("cursor", br#"{"hook_event_name":"beforeTeleport"}"#),
        (
            "claude-code",
            br#"{"hook_event_name":"PreToolUse","tool_name":"Write","tool_input":{"content":"x"}}"#,
        ),
    ] {
        assert_refused(&hook(&root, h, bad), "harness.input");
    }
    // A tool the guard does not know may write: refused.
    let mcp = pre_tool_use(
        &c,
        "mcp__files__write_file",
        json!({"path": "a", "text": "b"}),
    );
    assert_refused(&hook_json(&root, "claude-code", &mcp), "harness.tool");
    assert_refused(
        &hook_json(
            &root,
            "cursor",
            &cursor_event(
                &c,
                "beforeMCPExecution",
                json!({"tool_name": "db", "tool_input": "{}"}),
            ),
        ),
        "harness.tool",
    );
    // An edit whose text is not in the file cannot be judged: refused.
    let e = pre_tool_use(
        &c,
        "Edit",
        json!({"file_path": "src/calc.py", "old_string": "nowhere", "new_string": "x"}),
    );
    assert_refused(&hook_json(&root, "claude-code", &e), "harness.edit");
    // A workspace that is not one, and a harness with no name the guard knows.
    let read = pre_tool_use(&c, "Read", json!({"file_path": "README.md"}));
    assert_refused(&hook_json(t.path(), "claude-code", &read), "harness.error");
    let o = hook_json(&root, "claud-coder", &read);
    assert_code(&o, 2);
    assert_contains(&stderr(&o), "unknown harness");
    let o = run_with_input(guard_cmd("guard-harness", &root).arg("claude-code"), b"{}");
    assert_code(&o, 2);
    // Reads pass.
    assert_code(&hook_json(&root, "claude-code", &read), 0);
}

#[test]
fn workspace_create_writes_each_harness_configuration_outside_code_repo() {
    let t = tempfile::tempdir().unwrap();
    let sys = t.path().join("sys");
    let root = harness_workspace(
        t.path(),
        "claude-code,codex,gemini,cursor,aider",
        &["--harness-system", "--system-root", sys.to_str().unwrap()],
    );
    let h = root.join("harness");
    let settings: Value = serde_json::from_str(
        &std::fs::read_to_string(h.join("claude-code/settings.json")).unwrap(),
    )
    .unwrap();
    let cmd = settings["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
        .as_str()
        .unwrap()
        .to_string();
    assert_contains(&cmd, "guard-harness' claude-code --root");
    assert_eq!(settings["disableAllHooks"], false);
    let managed: Value = serde_json::from_str(
        &std::fs::read_to_string(sys.join("etc/claude-code/managed-settings.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(managed["allowManagedHooksOnly"], true);
    assert!(sys.join("etc/gemini-cli/settings.json").is_file());
    assert!(sys.join("etc/cursor/hooks.json").is_file());
    assert!(h.join("codex/hooks.json").is_file());
    let env = std::fs::read_to_string(root.join("agent.env")).unwrap();
    assert_contains(&env, "CODEX_HOME=");
    assert_contains(&env, "GEMINI_CLI_SYSTEM_SETTINGS_PATH=");
    for f in [
        "claude-code/settings.json",
        "codex/hooks.json",
        "gemini/settings.json",
        "cursor/hooks.json",
        "aider/aider.conf.yml",
    ] {
        let m = std::fs::metadata(h.join(f)).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(m.permissions().mode() & 0o777, 0o644, "{f}");
    }
    // A managed file someone else wrote is left alone, and said so.
    let t2 = tempfile::tempdir().unwrap();
    let sys2 = t2.path().join("sys");
    std::fs::create_dir_all(sys2.join("etc/claude-code")).unwrap();
    std::fs::write(
        sys2.join("etc/claude-code/managed-settings.json"),
        "{\"theirs\": 1}\n",
    )
    .unwrap();
    let up = t2.path().join("up");
    support::workspace::small_upstream(&up);
    let o = support::workspace::create_workspace(
        t2.path(),
        &up,
        &t2.path().join("ws"),
        &[
            "--harness",
            "claude-code",
            "--harness-system",
            "--system-root",
            sys2.to_str().unwrap(),
        ],
    );
    assert_code(&o, 0);
    assert_contains(
        &stdout(&o),
        "was not written by git-guard: it was left alone",
    );
    assert_eq!(
        std::fs::read_to_string(sys2.join("etc/claude-code/managed-settings.json")).unwrap(),
        "{\"theirs\": 1}\n"
    );
    // An unknown harness name is refused before anything is made.
    let o = support::workspace::create_workspace(
        t2.path(),
        &up,
        &t2.path().join("ws2"),
        &["--harness", "claude-code,cursr"],
    );
    assert_code(&o, 2);
    assert_contains(&stderr(&o), "did you mean cursor?");
    assert!(!t2.path().join("ws2").exists());
}

#[test]
fn install_refuses_a_hook_that_does_not_answer() {
    let t = tempfile::tempdir().unwrap();
    let up = t.path().join("up");
    support::workspace::small_upstream(&up);
    // A "guard-harness" that lets everything through (exit 0 on any input) fails the check.
    let fake = t.path().join("fake-harness");
    std::fs::write(&fake, "#!/bin/sh\ncat >/dev/null\nexit 0\n").unwrap();
    set_mode(&fake, 0o755);
    let o = support::workspace::create_workspace(
        t.path(),
        &up,
        &t.path().join("ws"),
        &[
            "--harness",
            "codex",
            "--guard-harness",
            fake.to_str().unwrap(),
        ],
    );
    assert_code(&o, 2);
    assert_contains(&stderr(&o), "does not answer as it must");
    assert!(
        !t.path().join("ws").exists(),
        "a half-made workspace is removed"
    );
}

#[test]
fn doctor_reports_a_missing_hook_binary_and_agent_writable_settings() {
    let t = tempfile::tempdir().unwrap();
    let copy = t.path().join("bin/guard-harness");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(bin("guard-harness"), &copy).unwrap();
    let root = harness_workspace(
        t.path(),
        "claude-code,cursor",
        &["--guard-harness", copy.to_str().unwrap()],
    );
    let o = guard(t.path(), &["doctor", "--root", root.to_str().unwrap()]);
    let text = stdout(&o);
    assert_contains(&text, "harness-settings-agent-writable");
    assert_contains(&text, ".claude/settings.json");
    // Cursor's enterprise layer was not written: high.
    assert_contains(&text, "no enterprise hooks.json holds the hook");
    std::fs::remove_file(&copy).unwrap();
    let o = guard(t.path(), &["doctor", "--root", root.to_str().unwrap()]);
    assert_code(&o, 1);
    assert_contains(&stdout(&o), "harness-hook-missing");
}

#[test]
fn doctor_reports_settings_and_hook_binary_the_agent_user_can_replace() {
    let Some(user) =
        support::user::TestUser::for_test("doctor_reports_settings_the_agent_user_can_replace")
    else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    support::user::open_up(t.path());
    let copy = t.path().join("bin/guard-harness");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(bin("guard-harness"), &copy).unwrap();
    let root = harness_workspace(
        t.path(),
        "claude-code",
        &[
            "--agent-user",
            &user.name,
            "--guard-harness",
            copy.to_str().unwrap(),
        ],
    );
    let o = guard(t.path(), &["doctor", "--root", root.to_str().unwrap()]);
    assert!(
        !stdout(&o).contains("harness-settings-writable"),
        "{}",
        stdout(&o)
    );
    let settings = root.join("harness/claude-code/settings.json");
    nix::unistd::chown(&settings, Some(nix::unistd::Uid::from_raw(user.uid)), None).unwrap();
    nix::unistd::chown(&copy, Some(nix::unistd::Uid::from_raw(user.uid)), None).unwrap();
    let o = guard(t.path(), &["doctor", "--root", root.to_str().unwrap()]);
    assert_code(&o, 1);
    assert_contains(&stdout(&o), "harness-settings-writable");
    assert_contains(&stdout(&o), "harness-hook-replaceable");
}

#[test]
fn aiders_lint_command_runs_git_guard_check_over_the_agents_commits() {
    let t = tempfile::tempdir().unwrap();
    let root = harness_workspace(t.path(), "aider", &[]);
    let conf = std::fs::read_to_string(root.join("harness/aider/aider.conf.yml")).unwrap();
    assert_contains(&conf, "git-commit-verify: true");
    assert_contains(&conf, "auto-lint: true");
    assert_contains(&conf, "lint-cmd:");
    let lint = root.join("harness/aider/lint");
    let c = code(&root);
    let run_lint = |files: &[&str]| {
        let mut cmd = std::process::Command::new(&lint);
        hermetic(&mut cmd);
        cmd.args(files).current_dir(&c).output().unwrap()
    };
    // Nothing committed yet: nothing found.
    assert_code(&run_lint(&["src/calc.py"]), 0);
    // aider commits with the hooks skipped (its default): the lint command still judges.
    write(&c, ".env", format!("AWS_ACCESS_KEY_ID={KEY}\n"));
    git(&c, &["add", ".env"]);
    git(&c, &["commit", "-q", "--no-verify", "-m", "aider: add env"]);
    let o = run_lint(&[".env"]);
    assert_code(&o, 1);
    let said = all(&o);
    assert_contains(&said, "paths.deny");
    assert_contains(&said, "secrets.aws-access-key");
}
