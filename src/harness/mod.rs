//! The harness door: git-guard inside the agent programs people run (Claude Code, Codex CLI,
//! Gemini CLI, Cursor; aider through its lint command).
//!
//! A harness asks its hook before a tool runs; `guard-harness NAME --root DIR` answers. The
//! door is laid out one job per file:
//!
//! - [`protocol`] reads each harness's hook payload into one [`ToolCall`];
//! - [`rebuild`] makes the file as it will be after an edit, a multi-edit, a notebook edit or
//!   a patch;
//! - [`judge`] decides, through guard-exec's public judgement for shell tools and through the
//!   engine and the workspace's policy for file tools (the walls first: only `code-repo` and
//!   `sandbox`, never `.git/`);
//! - [`reply`] answers in the harness's own blocking form;
//! - [`install`] writes each harness's hook configuration where the agent cannot write;
//! - [`doctor`] reports every way a harness could lose the hook.
//!
//! Fails closed: an empty or malformed payload, a tool that is not known to write nothing, or
//! an error while judging is a denial in the harness's blocking form. The library prints
//! nothing: [`answer`] returns what to print and the exit code.

pub mod doctor;
pub mod install;
pub mod judge;
pub mod protocol;
pub mod rebuild;
pub mod reply;

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// A harness git-guard speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Harness {
    ClaudeCode,
    Codex,
    Gemini,
    Cursor,
    /// No tool hook: its lint command runs `git guard check` after each commit.
    Aider,
}

impl Harness {
    pub const ALL: [Harness; 5] = [
        Harness::ClaudeCode,
        Harness::Codex,
        Harness::Gemini,
        Harness::Cursor,
        Harness::Aider,
    ];

    /// The name on the command line (`claude-code`, `codex`, `gemini`, `cursor`, `aider`).
    pub fn name(self) -> &'static str {
        match self {
            Harness::ClaudeCode => "claude-code",
            Harness::Codex => "codex",
            Harness::Gemini => "gemini",
            Harness::Cursor => "cursor",
            Harness::Aider => "aider",
        }
    }

    /// A harness by name; a few spellings people use are accepted.
    pub fn parse(name: &str) -> Result<Harness> {
        let n = name.trim().to_ascii_lowercase();
        Ok(match n.as_str() {
            "claude-code" | "claude" | "claudecode" => Harness::ClaudeCode,
            "codex" | "codex-cli" => Harness::Codex,
            "gemini" | "gemini-cli" => Harness::Gemini,
            "cursor" => Harness::Cursor,
            "aider" => Harness::Aider,
            _ => {
                let names: Vec<&str> = Harness::ALL.iter().map(|h| h.name()).collect();
                let near = names
                    .iter()
                    .min_by_key(|c| strsim::levenshtein(c, &n))
                    .filter(|c| strsim::levenshtein(c, &n) <= 3);
                bail!(
                    "unknown harness {name:?}: git-guard speaks to {}{}",
                    names.join(", "),
                    near.map(|c| format!(" (did you mean {c}?)"))
                        .unwrap_or_default()
                )
            }
        })
    }

    /// A comma-separated list (`claude-code,codex`), each named once.
    pub fn parse_list(list: &str) -> Result<Vec<Harness>> {
        let mut out = Vec::new();
        for part in list.split(',').filter(|p| !p.trim().is_empty()) {
            let h = Harness::parse(part)?;
            if !out.contains(&h) {
                out.push(h);
            }
        }
        if out.is_empty() {
            bail!("--harness needs at least one name (claude-code, codex, gemini, cursor, aider)");
        }
        Ok(out)
    }

    /// Whether the harness has a tool hook `guard-harness` answers.
    pub fn has_tool_hook(self) -> bool {
        !matches!(self, Harness::Aider)
    }
}

impl std::fmt::Display for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One replacement of an edit tool: `old` by `new`, once (it must occur exactly once) or
/// everywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replace {
    pub old: String,
    pub new: String,
    pub all: bool,
}

/// A notebook cell edit (Claude Code's `NotebookEdit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellEdit {
    pub cell_id: Option<String>,
    pub source: String,
    /// `replace` (default), `insert` or `delete`.
    pub mode: String,
    pub cell_type: Option<String>,
}

/// What a tool call asks for, whatever the harness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolCall {
    /// A shell line, run in `cwd` (the payload's, else the session's).
    Shell { command: String },
    /// A whole file written.
    Write { path: String, content: String },
    /// String replacements in one file, in order.
    Edit { path: String, edits: Vec<Replace> },
    /// A notebook cell changed.
    Notebook { path: String, edit: CellEdit },
    /// A patch in the `apply_patch` format (`*** Begin Patch` ... `*** End Patch`).
    Patch { patch: String },
    /// A file removed.
    Delete { path: String },
    /// A tool known to write nothing (reading, searching, planning).
    ReadOnly,
    /// A tool the door does not know: it may write, so it is refused.
    Unknown,
}

/// One hook payload, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The tool's name as the harness gave it.
    pub tool: String,
    /// Where relative paths and the shell line start: the payload's working directory.
    pub cwd: Option<PathBuf>,
    pub call: ToolCall,
}

/// Why a tool call is refused: the rule, what is wrong, and one thing the agent can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub rule: String,
    pub reason: String,
    pub hint: String,
}

impl Refusal {
    pub fn new(rule: &str, reason: impl Into<String>, hint: impl Into<String>) -> Refusal {
        Refusal {
            rule: rule.into(),
            reason: reason.into(),
            hint: hint.into(),
        }
    }

    /// The text the model reads: every refusal with its rule and hint.
    pub fn text(all: &[Refusal]) -> String {
        let mut s = String::from("git-guard refused this tool call:\n");
        for r in all {
            s.push_str(&format!(
                "- [{}] {}\n  hint: {}\n",
                r.rule, r.reason, r.hint
            ));
        }
        s
    }
}

/// What the hook prints and how it exits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
    /// `None`: allowed.
    pub refusals: Option<Vec<Refusal>>,
}

impl Answer {
    pub fn allowed(&self) -> bool {
        self.refusals.is_none()
    }
}

/// Answer one hook payload for the workspace at `root`: read it, judge it, and reply in the
/// harness's form. Never fails: whatever goes wrong is a refusal (rule `harness.error`).
pub fn answer(harness: Harness, root: &Path, payload: &[u8]) -> Answer {
    let event = protocol::event_name(payload);
    let refusals = match protocol::read(harness, payload) {
        Err(e) => Some(vec![Refusal::new(
            "harness.input",
            format!("the {harness} hook payload cannot be read: {e:#}"),
            "this is the harness's message, not the agent's: check that the hook is set up as `git guard workspace create --harness` wrote it",
        )]),
        Ok(None) => None,
        Ok(Some(call)) => match judge::judge(root, &call) {
            Ok(r) if r.is_empty() => None,
            Ok(r) => Some(r),
            Err(e) => Some(vec![Refusal::new(
                "harness.error",
                format!("the guard could not judge this {} call: {e:#}", call.tool),
                "nothing the agent can fix: ask an admin to run `git guard doctor`",
            )]),
        },
    };
    reply::render(harness, event.as_deref(), refusals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_with_a_suggestion_for_a_typo() {
        assert_eq!(Harness::parse("Claude").unwrap(), Harness::ClaudeCode);
        assert_eq!(
            Harness::parse_list("codex, gemini,codex").unwrap(),
            [Harness::Codex, Harness::Gemini]
        );
        let e = Harness::parse("cursr").unwrap_err().to_string();
        assert!(e.contains("did you mean cursor?"), "{e}");
    }
}
