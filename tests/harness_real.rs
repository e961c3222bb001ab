//! The harness door with the real harnesses: Claude Code, Codex CLI and aider (the pinned
//! `@anthropic-ai/claude-code`, `@openai/codex` and `aider-chat` that `.ci/run` installs in
//! `.ci/tools`) driven by a scripted model on 127.0.0.1, both in a fresh network namespace that
//! has only loopback, every telemetry and update switch off.
//!
//! Each scenario's tool call is asked for by the model; the test asserts what the harness ran
//! (the files on disk afterwards) and what the model was told (the tool results the server
//! received).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};
use support::git::*;
use support::harness::*;
use support::model::{Model, Step, step};

const KEY: &str = "AKIAZ7Q3WLMNQ4RTK2XY";

/// A harness program: the one `.ci/run` installed (npm's in `node_modules/.bin`, aider in its
/// virtual environment), else the one on PATH.
fn harness_tool(name: &str) -> Option<PathBuf> {
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/tools");
    for pinned in [
        tools.join("node_modules/.bin").join(name),
        tools.join(name).join("bin").join(name),
    ] {
        if pinned.exists() {
            return Some(pinned);
        }
    }
    which::which(name).ok()
}

/// Run `f` on a thread of its own in a new network namespace with loopback up: the model it
/// starts and the harness it spawns see 127.0.0.1 and nothing else. `Err`: why not here.
fn in_own_network<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("not root: cannot make a network namespace for one thread".into());
    }
    std::thread::spawn(move || {
        // SAFETY: unshare(2) changes only this thread's network namespace.
        if unsafe { nix::libc::unshare(nix::libc::CLONE_NEWNET) } != 0 {
            return Err(format!(
                "unshare(CLONE_NEWNET): {}",
                std::io::Error::last_os_error()
            ));
        }
        let up = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .map_err(|e| format!("cannot run ip: {e}"))?;
        if !up.success() {
            return Err("ip link set lo up failed".into());
        }
        // Only loopback: no route leaves this namespace.
        let routes = Command::new("ip").args(["route", "show"]).output().unwrap();
        assert!(String::from_utf8_lossy(&routes.stdout).trim().is_empty());
        Ok(f())
    })
    .join()
    .map_err(|_| "the namespaced thread panicked".to_string())?
}

/// Claude Code in print mode, in code-repo, with the workspace's launch settings and the
/// scripted model; nothing leaves the machine.
fn run_claude(claude: &Path, root: &Path, home: &Path, steps: Vec<Step>) -> (Output, Model) {
    let model = Model::start(steps);
    let settings = root.join("harness/claude-code/settings.json");
    let mut cmd = Command::new(claude);
    hermetic(&mut cmd);
    cmd.current_dir(root.join("code-repo"))
        .args(["-p", "do the scripted work", "--settings"])
        .arg(&settings)
        .args([
            "--permission-mode",
            "acceptEdits",
            "--output-format",
            "text",
        ])
        .env("HOME", home)
        .env("ANTHROPIC_BASE_URL", model.url())
        .env("ANTHROPIC_API_KEY", "sk-ant-test-0000000000000000")
        .env("DISABLE_TELEMETRY", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("DISABLE_ERROR_REPORTING", "1")
        .env("DISABLE_BUG_COMMAND", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY", "1")
        .env_remove("CLAUDECODE")
        .stdin(Stdio::null());
    let out = cmd.output().expect("claude runs");
    (out, model)
}

#[test]
fn claude_code_with_a_scripted_model_meets_the_harness_door() {
    let test = "claude_code_with_a_scripted_model_meets_the_harness_door";
    let Some(claude) = harness_tool("claude") else {
        support::missing_tool("claude (@anthropic-ai/claude-code)", test);
        return;
    };
    let t = tempfile::tempdir().unwrap();
    // The policy protects the harness's settings (as the default policy is to).
    let policy = t.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[paths]\nprotected = [\"/policy.toml\", \".claude/\", \"CLAUDE.md\"]\n",
    )
    .unwrap();
    let root = harness_workspace(
        t.path(),
        "claude-code",
        &["--policy", policy.to_str().unwrap()],
    );
    let c = root.join("code-repo");
    let home = t.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let steps = vec![
        step(
            "Write",
            json!({"file_path": c.join(".env"), "content": format!("AWS_ACCESS_KEY_ID={KEY}\n")}),
        ),
        step(
            "Edit",
            json!({"file_path": c.join("tests/test_calc.py"), "old_string": "def test_add():", "new_string": "import pytest\n\n\n@pytest.mark.skip\ndef test_add():"}),
        ),
        step(
            "Bash",
            json!({"command": "git push origin HEAD:main", "description": "push"}),
        ),
        step(
            "Write",
            json!({"file_path": c.join(".claude/settings.json"), "content": "{\"disableAllHooks\": true}\n"}),
        ),
        // A new file: Claude Code itself asks for a read before it overwrites an existing one.
        step(
            "Write",
            json!({"file_path": root.join("hooks/post-checkout"), "content": "#!/bin/sh\nexit 0\n"}),
        ),
        step(
            "Write",
            json!({"file_path": c.join("src/ok.py"), "content": "print('fine')\n"}),
        ),
    ];
    let before_test = std::fs::read_to_string(c.join("tests/test_calc.py")).unwrap();
    let before_policy = std::fs::read_to_string(root.join("hooks/policy.toml")).unwrap();
    let (claude2, root2, home2) = (claude.clone(), root.clone(), home.clone());
    let ran = in_own_network(move || {
        let (out, model) = run_claude(&claude2, &root2, &home2, steps);
        let results = model.tool_results();
        model.stop();
        (out, results)
    });
    let (out, results) = match ran {
        Ok(r) => r,
        Err(why) => {
            support::user::skip(test, &why);
            return;
        }
    };
    let said = all(&out);
    assert_eq!(
        results.len(),
        6,
        "every step answered: {results:#?}\n{said}"
    );
    let told = |i: usize| {
        results
            .iter()
            .find(|r| r.0 == format!("toolu_{i}"))
            .unwrap()
            .1
            .clone()
    };
    // What the model was told, step by step.
    for (i, rule) in [
        (0, "[paths.deny]"),
        (1, "[tests.disabled]"),
        (2, "[commands.push]"),
        (3, "[paths.protected]"),
        (4, "[harness.walls]"),
    ] {
        assert_contains(&told(i), rule);
        assert_contains(&told(i), "hint:");
    }
    assert_contains(&told(0), "[secrets.aws-access-key]");
    // What the harness ran: the refused calls changed nothing, the allowed one wrote its file.
    assert!(!c.join(".env").exists());
    assert_eq!(
        std::fs::read_to_string(c.join("tests/test_calc.py")).unwrap(),
        before_test
    );
    assert!(!c.join(".claude/settings.json").exists());
    assert!(!root.join("hooks/post-checkout").exists());
    assert_eq!(
        std::fs::read_to_string(root.join("hooks/policy.toml")).unwrap(),
        before_policy
    );
    assert_eq!(
        std::fs::read_to_string(c.join("src/ok.py")).unwrap(),
        "print('fine')\n"
    );
    assert!(!told(5).contains("git-guard refused"), "{}", told(5));
    let up = t.path().join("up");
    assert!(
        !has_ref(&up, "refs/heads/agent/ws") && rev(&up, "HEAD") == rev(&c, "HEAD"),
        "nothing was pushed"
    );
}

/// Codex CLI non-interactively (`codex exec`), in code-repo, with the workspace's Codex home
/// (its `hooks.json` and the `config.toml` that trusts the hook) and the scripted model as its
/// provider; no sandbox of its own (the test's namespace has no network, and the door is what
/// is tested), no approvals asked.
fn run_codex(codex: &Path, root: &Path, home: &Path, steps: Vec<Step>) -> (Output, Model) {
    let model = Model::start(steps);
    let provider = format!(
        "model_providers.scripted={{name=\"scripted\", base_url=\"{}/v1\", wire_api=\"responses\", env_key=\"OPENAI_API_KEY\"}}",
        model.url()
    );
    let mut cmd = Command::new(codex);
    hermetic(&mut cmd);
    cmd.current_dir(root.join("code-repo"))
        .args(["exec", "--strict-config", "--sandbox", "danger-full-access"])
        // A model Codex knows, so it offers its freeform `apply_patch` tool.
        .args([
            "-c",
            "model=\"gpt-5.5\"",
            "-c",
            "model_provider=\"scripted\"",
            "-c",
        ])
        .arg(provider)
        .arg("do the scripted work")
        .env("HOME", home)
        .env("CODEX_HOME", root.join("harness/codex"))
        .env("OPENAI_API_KEY", "sk-test-0000000000000000")
        .env_remove("OPENAI_BASE_URL")
        .stdin(Stdio::null());
    let out = cmd.output().expect("codex runs");
    (out, model)
}

/// An `apply_patch` that adds `path` with `lines`.
fn add_file(path: &Path, lines: &[&str]) -> Value {
    let body: String = lines.iter().map(|l| format!("+{l}\n")).collect();
    Value::String(format!(
        "*** Begin Patch\n*** Add File: {}\n{body}*** End Patch\n",
        path.display()
    ))
}

#[test]
fn codex_cli_with_a_scripted_model_meets_the_harness_door() {
    let test = "codex_cli_with_a_scripted_model_meets_the_harness_door";
    let Some(codex) = harness_tool("codex") else {
        support::missing_tool("codex (@openai/codex)", test);
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let policy = t.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[paths]\nprotected = [\"/policy.toml\", \".codex/\", \"AGENTS.md\"]\n",
    )
    .unwrap();
    let root = harness_workspace(t.path(), "codex", &["--policy", policy.to_str().unwrap()]);
    let c = root.join("code-repo");
    let home = t.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let key_line = format!("AWS_ACCESS_KEY_ID={KEY}");
    let steps = vec![
        step("apply_patch", add_file(&c.join(".env"), &[&key_line])),
        step(
            "apply_patch",
            Value::String(format!(
                "*** Begin Patch\n*** Update File: {}\n@@\n-def test_add():\n+import pytest\n+\n+\n+@pytest.mark.skip\n+def test_add():\n*** End Patch\n",
                c.join("tests/test_calc.py").display()
            )),
        ),
        step("exec_command", json!({"cmd": "git push origin HEAD:main"})),
        step(
            "apply_patch",
            add_file(
                &c.join(".codex/config.toml"),
                &["[features]", "hooks = false"],
            ),
        ),
        step(
            "apply_patch",
            add_file(&root.join("hooks/post-checkout"), &["#!/bin/sh", "exit 0"]),
        ),
        step(
            "exec_command",
            json!({"cmd": format!("echo off > {}", root.join("hooks/post-merge").display())}),
        ),
        step(
            "apply_patch",
            add_file(&c.join("src/ok.py"), &["print('fine')"]),
        ),
    ];
    let before_test = std::fs::read_to_string(c.join("tests/test_calc.py")).unwrap();
    let before_policy = std::fs::read_to_string(root.join("hooks/policy.toml")).unwrap();
    let (codex2, root2, home2) = (codex.clone(), root.clone(), home.clone());
    let ran = in_own_network(move || {
        let (out, model) = run_codex(&codex2, &root2, &home2, steps);
        let results = model.tool_results();
        model.stop();
        (out, results)
    });
    let (out, results) = match ran {
        Ok(r) => r,
        Err(why) => {
            support::user::skip(test, &why);
            return;
        }
    };
    let said = all(&out);
    assert_eq!(
        results.len(),
        7,
        "every step answered: {results:#?}\n{said}"
    );
    let told = |i: usize| {
        results
            .iter()
            .find(|r| r.0 == format!("call_{i}"))
            .unwrap()
            .1
            .clone()
    };
    for (i, rule) in [
        (0, "[paths.deny]"),
        (1, "[tests.disabled]"),
        (2, "[commands.push]"),
        (3, "[paths.protected]"),
        (4, "[harness.walls]"),
        (5, "[commands.cwd]"),
    ] {
        assert_contains(&told(i), "blocked by PreToolUse hook");
        assert_contains(&told(i), rule);
        assert_contains(&told(i), "hint:");
    }
    assert_contains(&told(0), "[secrets.aws-access-key]");
    assert!(!c.join(".env").exists());
    assert_eq!(
        std::fs::read_to_string(c.join("tests/test_calc.py")).unwrap(),
        before_test
    );
    assert!(!c.join(".codex").exists());
    assert!(!root.join("hooks/post-checkout").exists());
    assert!(!root.join("hooks/post-merge").exists());
    assert_eq!(
        std::fs::read_to_string(root.join("hooks/policy.toml")).unwrap(),
        before_policy
    );
    assert!(!told(6).contains("blocked"), "{}", told(6));
    assert_eq!(
        std::fs::read_to_string(c.join("src/ok.py")).unwrap(),
        "print('fine')\n"
    );
    let up = t.path().join("up");
    assert!(
        !has_ref(&up, "refs/heads/agent/ws") && rev(&up, "HEAD") == rev(&c, "HEAD"),
        "nothing was pushed"
    );
}

/// aider in code-repo with the workspace's configuration (its lint command runs `git guard
/// check`), talking Chat Completions to the scripted model through litellm; one message, every
/// question answered yes, nothing sent on aider's own account.
fn run_aider(aider: &Path, root: &Path, home: &Path, steps: Vec<Step>) -> (Output, Model) {
    let model = Model::start(steps);
    // aider writes `user.name` and `user.email` into git's configuration when it finds none,
    // through GitPython's lock-and-rename: with the hermetic GIT_CONFIG_GLOBAL=/dev/null that
    // replaced /dev/null with a regular file. A global file of its own, with both set.
    let gitconfig = home.join("gitconfig");
    std::fs::write(
        &gitconfig,
        "[user]\n\tname = agent\n\temail = agent@example.invalid\n",
    )
    .unwrap();
    let mut cmd = Command::new(aider);
    hermetic(&mut cmd);
    cmd.env("GIT_CONFIG_GLOBAL", &gitconfig);
    cmd.current_dir(root.join("code-repo"))
        .arg("--config")
        .arg(root.join("harness/aider/aider.conf.yml"))
        .arg("--openai-api-base")
        .arg(format!("{}/v1", model.url()))
        .args([
            "--openai-api-key",
            "sk-test-0000000000000000",
            "--model",
            "openai/gpt-4o-mini",
            "--edit-format",
            "whole",
            "--no-show-model-warnings",
            "--no-check-update",
            "--analytics-disable",
            "--no-gitignore",
            "--no-pretty",
            "--no-fancy-input",
            "--yes-always",
            "--message",
            "do the scripted work",
            "tests/test_calc.py",
        ])
        .env("HOME", home)
        // litellm's price list from the package, not from the network.
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .env("TERM", "dumb")
        .stdin(Stdio::null());
    let out = cmd.output().expect("aider runs");
    (out, model)
}

#[test]
fn aider_with_a_scripted_model_hears_the_lint_command() {
    let test = "aider_with_a_scripted_model_hears_the_lint_command";
    let Some(aider) = harness_tool("aider") else {
        support::missing_tool("aider (aider-chat)", test);
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let root = harness_workspace(t.path(), "aider", &[]);
    let c = root.join("code-repo");
    let home = t.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let edit = format!(
        "Here are the files.\n\n.env\n```\nAWS_ACCESS_KEY_ID={KEY}\n```\n\ntests/test_calc.py\n```\nimport pytest\n\nfrom src.calc import add\n\n\n@pytest.mark.skip\ndef test_add():\n    assert add(1, 2) == 3\n```\n"
    );
    // After the lint's findings: an ordinary new file, which aider commits.
    let fix = "Understood: no .env, and the test runs.\n\nsrc/ok.py\n```\nprint('fine')\n```\n";
    let steps = vec![
        step("text", Value::String(edit)),
        step("text", Value::String(fix.into())),
    ];
    let before = rev(&c, "HEAD");
    let (aider2, root2, home2) = (aider.clone(), root.clone(), home.clone());
    let ran = in_own_network(move || {
        let (out, model) = run_aider(&aider2, &root2, &home2, steps);
        let requests = model.requests.lock().unwrap().clone();
        model.stop();
        (out, requests)
    });
    let (out, requests) = match ran {
        Ok(r) => r,
        Err(why) => {
            support::user::skip(test, &why);
            return;
        }
    };
    let said = all(&out);
    // The main requests (not aider's requests for a commit message), in order.
    let main: Vec<String> = requests
        .iter()
        .filter(|r| {
            !r["messages"][0]["content"]
                .as_str()
                .unwrap_or_default()
                .contains("commit message")
        })
        .map(|r| r["messages"].to_string())
        .collect();
    assert!(main.len() >= 2, "the model heard back: {main:#?}\n{said}");
    // aider committed with the client hooks (git-commit-verify): the pre-commit hook refused
    // the .env with its key, and the lint command that ran after the commit told the model
    // why, rule by rule.
    assert_contains(&said, "Unable to commit");
    assert!(!said.contains("Update git name"), "{said}");
    for rule in [
        "[paths.deny]",
        "[secrets.aws-access-key]",
        "[tests.disabled]",
    ] {
        assert_contains(&main[1], rule);
    }
    assert_contains(&main[1], "hint:");
    // The ordinary file was committed; the .env never was.
    assert_ne!(rev(&c, "HEAD"), before, "aider committed:\n{said}");
    let files = git(
        &c,
        &[
            "log",
            "--name-only",
            "--format=",
            &format!("{before}..HEAD"),
        ],
    );
    assert_contains(&files, "src/ok.py");
    assert!(!files.contains(".env"), "{files}");
    let up = t.path().join("up");
    assert!(!has_ref(&up, "refs/heads/agent/ws"), "nothing was pushed");
}
