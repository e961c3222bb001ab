//! Workspaces set up with the harness door, and the hook run the way a harness runs it: the
//! real `guard-harness` with a recorded payload on standard input.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};

use super::git::*;
use super::workspace::create_workspace;

/// A Python upstream at `dir/up` (a module and its test), and a workspace `dir/ws` made from
/// it with `--harness HARNESSES` and `extra`: the workspace's root.
#[track_caller]
pub fn harness_workspace(dir: &Path, harnesses: &str, extra: &[&str]) -> PathBuf {
    let up = dir.join("up");
    init_repo(&up);
    write(&up, "README.md", "calc\n");
    write(&up, "src/calc.py", "def add(a, b):\n    return a + b\n");
    write(
        &up,
        "tests/test_calc.py",
        "from src.calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n",
    );
    commit_all(&up, "calc");
    let root = dir.join("ws");
    let mut args = vec!["--harness", harnesses];
    args.extend_from_slice(extra);
    let o = create_workspace(dir, &up, &root, &args);
    assert_code(&o, 0);
    root
}

/// `guard-harness HARNESS --root ROOT` with `payload` on standard input.
pub fn hook(root: &Path, harness: &str, payload: &[u8]) -> Output {
    run_with_input(
        guard_cmd("guard-harness", root)
            .arg(harness)
            .arg("--root")
            .arg(root),
        payload,
    )
}

/// The hook with a JSON payload.
pub fn hook_json(root: &Path, harness: &str, payload: &Value) -> Output {
    hook(root, harness, payload.to_string().as_bytes())
}

/// A `PreToolUse` payload as Claude Code sends it (Codex sends the same shape, plus `turn_id`
/// and `model`).
pub fn pre_tool_use(cwd: &Path, tool: &str, input: Value) -> Value {
    json!({
        "session_id": "s-1",
        "transcript_path": "/dev/null",
        "cwd": cwd,
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": tool,
        "tool_input": input,
        "tool_use_id": "toolu_01",
    })
}

/// A `BeforeTool` payload as Gemini CLI sends it.
pub fn before_tool(cwd: &Path, tool: &str, input: Value) -> Value {
    json!({
        "session_id": "s-1",
        "transcript_path": "/dev/null",
        "cwd": cwd,
        "hook_event_name": "BeforeTool",
        "timestamp": "2026-01-01T00:00:00Z",
        "tool_name": tool,
        "tool_input": input,
    })
}

/// A Cursor payload for `event`, with `fields` added.
pub fn cursor_event(root_dir: &Path, event: &str, fields: Value) -> Value {
    let mut v = json!({
        "hook_event_name": event,
        "conversation_id": "c-1",
        "generation_id": "g-1",
        "workspace_roots": [root_dir],
    });
    for (k, x) in fields.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

/// The hook refused, in the harness's blocking form (exit 2, the reason on standard error),
/// naming `rule`: the reason.
#[track_caller]
pub fn assert_refused(o: &Output, rule: &str) -> String {
    assert_code(o, 2);
    let why = stderr(o);
    assert_contains(&why, &format!("[{rule}]"));
    assert_contains(&why, "hint: ");
    why
}
