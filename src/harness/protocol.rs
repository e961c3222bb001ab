//! Each harness's hook payload, read into one [`Call`]: which tool, where, and what it would
//! write or run. Reads only the bytes it is given; judges nothing.
//!
//! - Claude Code (`PreToolUse`): `tool_name`, `tool_input`, `cwd`. `Bash` has `command`;
//!   `Write` `file_path` and `content`; `Edit` `file_path`, `old_string`, `new_string`,
//!   `replace_all`; `MultiEdit` `edits`; `NotebookEdit` `notebook_path`, `cell_id`,
//!   `new_source`, `cell_type`, `edit_mode`.
//! - Codex CLI (`PreToolUse`, the same shape, plus `turn_id` and `model`; `cwd` is the
//!   command's directory): `Bash` and `apply_patch` carry their text in
//!   `tool_input.command`.
//! - Gemini CLI (`BeforeTool`): `run_shell_command` (`command`, `dir_path`), `write_file`
//!   (`file_path`, `content`), `replace` (`file_path`, `old_string`, `new_string`,
//!   `expected_replacements`).
//! - Cursor: `beforeShellExecution` (`command`, `cwd`), `beforeReadFile`,
//!   `beforeMCPExecution`, and `preToolUse` (`tool_name`, `tool_input`: `Shell`, `Write`,
//!   `StrReplace`/`Edit`, `Delete`, ...).
//!
//! A tool not listed as writing nothing is [`ToolCall::Unknown`] (refused). `Ok(None)`: an
//! event that gates nothing (a harness's after-the-fact events), so there is nothing to judge.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use super::{Call, CellEdit, Harness, Replace, ToolCall};

/// Tools that read, search or plan, and write no file and run no command.
const READ_ONLY: &[&str] = &[
    // Claude Code
    "Read",
    "Glob",
    "Grep",
    "LS",
    "NotebookRead",
    "WebFetch",
    "WebSearch",
    "TodoWrite",
    "TodoRead",
    "Task",
    "ExitPlanMode",
    "EnterPlanMode",
    "BashOutput",
    "KillShell",
    "KillBash",
    "AskUserQuestion",
    "ListMcpResourcesTool",
    "ReadMcpResourceTool",
    // Codex CLI
    "read_file",
    "list_dir",
    "grep_files",
    "view_image",
    "update_plan",
    "web_search",
    // Gemini CLI
    "read_many_files",
    "list_directory",
    "glob",
    "search_file_content",
    "grep",
    "google_web_search",
    "web_fetch",
    "write_todos",
    // Cursor
    "Search",
    "Codebase",
    "ReadFile",
    "ListDir",
];

/// The payload's `hook_event_name`, when it has one (the reply names it back).
pub fn event_name(payload: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    v.get("hook_event_name")?.as_str().map(str::to_string)
}

/// Read one hook payload. See the module doc for each harness's shape.
pub fn read(harness: Harness, payload: &[u8]) -> Result<Option<Call>> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        bail!("standard input is empty (a hook payload is one JSON object)");
    }
    let v: Value = serde_json::from_slice(payload).context("standard input is not JSON")?;
    if !v.is_object() {
        bail!("the payload is not a JSON object");
    }
    let event = str_field(&v, "hook_event_name").unwrap_or_default();
    let cwd = str_field(&v, "cwd").map(PathBuf::from);
    match harness {
        Harness::ClaudeCode | Harness::Codex => {
            if event != "PreToolUse" {
                return not_gating(
                    &event,
                    &[
                        "PostToolUse",
                        "SessionStart",
                        "Stop",
                        "UserPromptSubmit",
                        "Notification",
                        "SubagentStop",
                        "PreCompact",
                        "SessionEnd",
                    ],
                );
            }
            tool_call(&v, cwd).map(Some)
        }
        Harness::Gemini => {
            if event != "BeforeTool" {
                return not_gating(
                    &event,
                    &[
                        "AfterTool",
                        "SessionStart",
                        "SessionEnd",
                        "BeforeAgent",
                        "AfterAgent",
                        "BeforeModel",
                        "AfterModel",
                        "BeforeToolSelection",
                        "Notification",
                        "PreCompress",
                    ],
                );
            }
            tool_call(&v, cwd).map(Some)
        }
        Harness::Cursor => cursor(&v, &event, cwd),
        Harness::Aider => bail!("aider has no tool hook: its lint command runs `git guard check`"),
    }
}

/// A known after-the-fact event gates nothing; an unknown one is an error.
fn not_gating(event: &str, known: &[&str]) -> Result<Option<Call>> {
    if known.contains(&event) {
        Ok(None)
    } else if event.is_empty() {
        bail!("the payload has no hook_event_name")
    } else {
        bail!("hook event {event:?} is not one the guard answers")
    }
}

fn cursor(v: &Value, event: &str, cwd: Option<PathBuf>) -> Result<Option<Call>> {
    let cwd = cwd.or_else(|| {
        v.get("workspace_roots")
            .and_then(Value::as_array)
            .and_then(|r| r.first())
            .and_then(Value::as_str)
            .map(PathBuf::from)
    });
    match event {
        "beforeShellExecution" => {
            let command =
                str_field(v, "command").context("beforeShellExecution without command")?;
            Ok(Some(Call {
                tool: "Shell".into(),
                cwd,
                call: ToolCall::Shell { command },
            }))
        }
        "beforeReadFile" => Ok(Some(Call {
            tool: "Read".into(),
            cwd,
            call: ToolCall::ReadOnly,
        })),
        "beforeMCPExecution" => Ok(Some(Call {
            tool: str_field(v, "tool_name").unwrap_or_else(|| "MCP".into()),
            cwd,
            call: ToolCall::Unknown,
        })),
        "preToolUse" => tool_call(v, cwd).map(Some),
        "afterFileEdit"
        | "afterShellExecution"
        | "afterMCPExecution"
        | "postToolUse"
        | "postToolUseFailure"
        | "stop"
        | "sessionStart"
        | "sessionEnd"
        | "beforeSubmitPrompt"
        | "afterAgentResponse"
        | "afterAgentThought"
        | "preCompact"
        | "subagentStart"
        | "subagentStop" => Ok(None),
        "" => bail!("the payload has no hook_event_name"),
        other => bail!("hook event {other:?} is not one the guard answers"),
    }
}

/// `tool_name` and `tool_input` of a pre-tool event.
fn tool_call(v: &Value, cwd: Option<PathBuf>) -> Result<Call> {
    let tool = str_field(v, "tool_name").context("the payload has no tool_name")?;
    let empty = Value::Object(Default::default());
    let input = match v.get("tool_input") {
        // Some harnesses send the input as JSON text.
        Some(Value::String(s)) => serde_json::from_str(s)
            .with_context(|| format!("tool_input of {tool} is text that is not JSON"))?,
        Some(i @ Value::Object(_)) => i.clone(),
        None | Some(Value::Null) => empty,
        Some(_) => bail!("tool_input of {tool} is not an object"),
    };
    let mut cwd = cwd;
    let call = match tool.as_str() {
        "Bash" | "Shell" | "shell" | "local_shell" | "exec_command" | "shell_command"
        | "run_shell_command" | "container.exec" => {
            // Gemini names a directory relative to the project; Cursor a working directory.
            for key in ["dir_path", "directory", "working_directory", "workdir"] {
                if let Some(d) = str_field(&input, key).filter(|d| !d.is_empty()) {
                    cwd = Some(match &cwd {
                        Some(c) => c.join(d),
                        None => PathBuf::from(d),
                    });
                }
            }
            ToolCall::Shell {
                command: shell_command(&input, &tool)?,
            }
        }
        "apply_patch" => ToolCall::Patch {
            patch: first_str(&input, &["command", "patch", "input"])
                .with_context(|| format!("{tool} without its patch text"))?,
        },
        "Write" | "write_file" | "WriteFile" => ToolCall::Write {
            path: path_of(&input, &tool)?,
            content: first_str(&input, &["content", "contents", "file_text", "text"])
                .with_context(|| format!("{tool} without content"))?,
        },
        "Edit" | "StrReplace" | "replace" | "Replace" | "search_replace" => {
            let all = input
                .get("replace_all")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                || input
                    .get("expected_replacements")
                    .and_then(Value::as_u64)
                    .is_some_and(|n| n > 1)
                || input
                    .get("allow_multiple")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
            ToolCall::Edit {
                path: path_of(&input, &tool)?,
                edits: vec![replace(&input, &tool, all)?],
            }
        }
        "MultiEdit" => {
            let edits = input
                .get("edits")
                .and_then(Value::as_array)
                .with_context(|| format!("{tool} without edits"))?
                .iter()
                .map(|e| {
                    let all = e
                        .get("replace_all")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    replace(e, &tool, all)
                })
                .collect::<Result<Vec<_>>>()?;
            ToolCall::Edit {
                path: path_of(&input, &tool)?,
                edits,
            }
        }
        "NotebookEdit" => ToolCall::Notebook {
            path: first_str(&input, &["notebook_path", "file_path"])
                .with_context(|| format!("{tool} without notebook_path"))?,
            edit: CellEdit {
                cell_id: str_field(&input, "cell_id"),
                source: str_field(&input, "new_source").unwrap_or_default(),
                mode: str_field(&input, "edit_mode").unwrap_or_else(|| "replace".into()),
                cell_type: str_field(&input, "cell_type"),
            },
        },
        "Delete" | "delete_file" | "DeleteFile" => ToolCall::Delete {
            path: path_of(&input, &tool)?,
        },
        t if READ_ONLY.contains(&t) => ToolCall::ReadOnly,
        _ => ToolCall::Unknown,
    };
    Ok(Call { tool, cwd, call })
}

/// A shell tool's command: a string, or an argv (`["bash", "-lc", "LINE"]` is LINE).
fn shell_command(input: &Value, tool: &str) -> Result<String> {
    match input.get("command").or_else(|| input.get("cmd")) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(words)) => {
            let words: Vec<String> = words
                .iter()
                .map(|w| w.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .with_context(|| format!("{tool}: a command word is not a string"))?;
            Ok(crate::harness::judge::argv_line(&words))
        }
        _ => bail!("{tool} without a command"),
    }
}

fn replace(v: &Value, tool: &str, all: bool) -> Result<Replace> {
    Ok(Replace {
        old: str_field(v, "old_string")
            .or_else(|| str_field(v, "old_str"))
            .with_context(|| format!("{tool} without old_string"))?,
        new: str_field(v, "new_string")
            .or_else(|| str_field(v, "new_str"))
            .with_context(|| format!("{tool} without new_string"))?,
        all,
    })
}

fn path_of(input: &Value, tool: &str) -> Result<String> {
    first_str(
        input,
        &["file_path", "path", "target_file", "absolute_path"],
    )
    .filter(|p| !p.is_empty())
    .with_context(|| format!("{tool} without file_path"))
}

fn first_str(v: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| str_field(v, k))
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_one(h: Harness, json: &str) -> Call {
        read(h, json.as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn claude_code_tools_are_read() {
        let c = read_one(
            Harness::ClaudeCode,
            r#"{"hook_event_name":"PreToolUse","cwd":"/w","tool_name":"MultiEdit",
                "tool_input":{"file_path":"a.py","edits":[{"old_string":"a","new_string":"b"},
                {"old_string":"c","new_string":"d","replace_all":true}]}}"#,
        );
        assert_eq!(c.cwd.as_deref(), Some(std::path::Path::new("/w")));
        let ToolCall::Edit { path, edits } = c.call else {
            panic!("{c:?}")
        };
        assert_eq!(path, "a.py");
        assert_eq!(edits.len(), 2);
        assert!(edits[1].all && !edits[0].all);
    }

    #[test]
    fn codex_argv_commands_become_lines() {
        let c = read_one(
            Harness::Codex,
            r#"{"hook_event_name":"PreToolUse","cwd":"/w","tool_name":"Bash",
                "tool_input":{"command":["bash","-lc","git push origin main"]}}"#,
        );
        assert_eq!(
            c.call,
            ToolCall::Shell {
                command: "git push origin main".into()
            }
        );
    }

    #[test]
    fn gemini_dir_path_moves_the_shell() {
        let c = read_one(
            Harness::Gemini,
            r#"{"hook_event_name":"BeforeTool","cwd":"/w","tool_name":"run_shell_command",
                "tool_input":{"command":"ls","dir_path":"sub"}}"#,
        );
        assert_eq!(c.cwd.as_deref(), Some(std::path::Path::new("/w/sub")));
    }

    #[test]
    fn unknown_tools_and_bad_payloads_fail_closed() {
        let c = read_one(
            Harness::ClaudeCode,
            r#"{"hook_event_name":"PreToolUse","tool_name":"mcp__fs__write","tool_input":{}}"#,
        );
        assert_eq!(c.call, ToolCall::Unknown);
        for bad in [
            "",
            "  \n",
            "[1]",
            "{",
            r#"{"hook_event_name":"PreToolUse"}"#,
        ] {
            assert!(
                read(Harness::ClaudeCode, bad.as_bytes()).is_err(),
                "{bad:?}"
            );
        }
        assert!(read(Harness::Cursor, br#"{"hook_event_name":"beforeTeleport"}"#).is_err());
        assert!(
            read(Harness::Cursor, br#"{"hook_event_name":"afterFileEdit"}"#)
                .unwrap()
                .is_none()
        );
    }
}
