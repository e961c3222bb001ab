//! `guard-exec`: run a command for the agent under the policy's `[commands]` section.
//!
//! A command line is judged on its parsed words, never on its text, so quoting and extra
//! spaces do not slip past. Every pattern of `commands.deny` and `commands.allow` is a list of
//! words, read like this:
//!
//! - the first word matches the program, by its base name (`/usr/bin/git` is `git`);
//! - words that start with `-` are options: each must appear somewhere among the command's
//!   options (order free). A short cluster such as `-rf` is satisfied by `-fr` or `-r -f`; a
//!   long option is also satisfied by an abbreviation of it (`--am` for `--amend`), as git
//!   accepts unique prefixes;
//! - the other words must match the command's other words in order, from the first one on
//!   (the subcommand, for git); a pattern is a prefix, so later words are free; `*` stands for
//!   any run of words (also none); `{protected}` matches any protected branch name (`main`,
//!   `origin/main`, `refs/heads/main`, `main~1`);
//! - a word may hold a glob in which `*` matches any characters, `/` included (like a shell
//!   `case` pattern): so `rm -rf /*` refuses `rm -rf` of any absolute path.
//!
//! git's global options are taken apart first: `-C DIR`, `--git-dir`, `--work-tree` (their
//! directories must lie inside the writable roots), and `-c key=value` (which becomes the option
//! word `--config=key=value` with the key lower-cased, so the policy's `git -c core.hooksPath=*`
//! matches whatever case the agent writes). Some refusals hold whatever the policy says, because
//! they switch the guard itself off: setting `core.hooksPath` (by `-c`, `--config-env` or
//! `git config`), defining an alias on the command line, `--no-verify` (or an abbreviation of
//! it) anywhere in git's arguments, `git commit -n`, and assigning git's configuration
//! variables (`GIT_CONFIG_*`, `GIT_DIR`, ...) in front of a command.
//!
//! Wrappers are looked through: `env`, `nice`, `nohup`, `timeout`, `time`, `command`, `exec`,
//! `stdbuf`, `setsid`, `ionice`, `xargs` and `find -exec` are judged together with the command
//! they run, and `sh -c STRING` (also `bash`, `dash`, `zsh`, `ksh`) judges STRING as a shell line.
//!
//! A shell line (`--sh`, and the STRING of `sh -c`) is read with a real shell grammar
//! (tree-sitter-bash) and every simple command it runs is judged, wherever it stands: in
//! pipelines and lists, subshells and `{ }` groups, `if`/`while`/`until`/`for`/`case`
//! bodies, function bodies, behind `!`, and in the command substitutions of an assignment's
//! value, a here-document, a `for` list or a `case` word. What cannot be judged without
//! running the shell is refused rather than guessed: a word holding a `$` expansion, a
//! substitution or arithmetic (its value is made when it runs), process substitution,
//! bash-only syntax that `/bin/sh` reads otherwise (`$'...'`, `[[ ]]`, `((...))`, arrays,
//! `<<<`, `|&`, the `function` keyword), background `&`, `eval`, `source`/`.`, a leading `~`,
//! brace expansion, an unquoted glob that could expand to a bare file name (write `./*.rs`),
//! text the grammar could not place (ERROR and MISSING nodes, a backslash-newline that joins
//! two words) and a here-document that would not end where `sh` ends it.
//! Redirections are allowed when they read, duplicate a descriptor, or write to `/dev/null`,
//! `/dev/stdout`, `/dev/stderr` or a path inside the writable roots; writing anywhere else is
//! refused. `cd DIR` is followed: every command is judged in each directory the line's `cd`s
//! may lead to, each of which must lie inside the writable roots; a `cd` in a loop or a
//! function is refused.
//!
//! A command that passes runs in its own process group (`setpgid`); at the time limit the whole
//! group gets SIGTERM, then SIGKILL after a grace period, and the exit code is 124. Processes the
//! command left behind in its group are ended the same way when it exits.
//!
//! The door is laid out one job per file: [`shell`] walks a shell line's syntax tree to its
//! commands and [`shell_words`] removes the quotes of their words,
//! [`git`] takes git's global options apart, [`pattern`] compiles and matches the policy's
//! patterns, [`judge`] decides, [`run`] runs under the time limit, and [`execute`] ties them
//! together and appends the run to the audit log.

mod argv;
mod execute;
mod git;
mod judge;
mod log;
mod pattern;
mod run;
mod shell;
mod shell_words;
mod wrappers;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub(crate) use crate::contain::paths::{lexical_normal, resolve_existing};

use anyhow::{Context as _, Result, bail};

pub use argv::PushTarget;
pub use execute::{Judgement, Report, Request, execute, judge_for};
pub use judge::CommandRules;
pub use pattern::CommandPattern;
pub use run::{Program, RELAY, RunOptions, RunOutcome, run};
pub use shell::{Redirect, ShellCommand, ShellLine, parse_shell_line, split_shell_line};
pub use wrappers::scrubbed_variable;

/// Exit code when the time limit ends the command (as `timeout(1)`).
pub const EXIT_TIMEOUT: i32 = 124;
/// Exit code when the command exists but cannot be run (as shells).
pub const EXIT_CANNOT_RUN: i32 = 126;
/// Exit code when the command is not found (as shells).
pub const EXIT_NOT_FOUND: i32 = 127;

/// Why a command line was refused: the reason, the rule that refused it, and one thing the
/// agent can do instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// `commands.deny`, `commands.allow`, `commands.cwd`, `commands.guard`, `commands.shell`,
    /// `commands.push`, `commands.walls`, `commands.log`.
    pub rule: String,
    pub reason: String,
    /// One line the agent can act on (printed as `hint: ...`).
    pub hint: String,
}

impl Denial {
    pub(crate) fn new(rule: &str, reason: impl Into<String>) -> Denial {
        Denial {
            rule: rule.into(),
            reason: one_line(&reason.into()),
            hint: default_hint(rule).into(),
        }
    }

    /// Replace the rule's general hint with one for this case.
    pub(crate) fn hint(mut self, hint: &str) -> Denial {
        self.hint = one_line(hint);
        self
    }
}

/// A reason quotes the line it refuses, which may span lines: the agent gets one `denied:`
/// line and one `hint:` line, so newlines are shown as `\n`.
fn one_line(text: &str) -> String {
    text.replace('\r', "\\r").replace('\n', "\\n")
}

/// What to do instead, by rule, when the case has no better hint.
fn default_hint(rule: &str) -> &'static str {
    match rule {
        "commands.deny" => {
            "the policy refuses this command: reach the goal another way, or ask a human to run it"
        }
        "commands.allow" => "run one of the commands the policy allows",
        "commands.cwd" => {
            "stay inside the workspace: work and write in code-repo/ or sandbox/ (name the path, do not leave with cd)"
        }
        "commands.guard" => {
            "keep the guard on: commit and push with the hooks, and fix what they report"
        }
        "commands.shell" => {
            "spell out every word of a command: no $VARS, $(...) or backticks in its words, no eval or source; single-quote values"
        }
        "commands.push" => "push your own branch to the upstream: `git push origin agent/<topic>`",
        "commands.walls" => "ask an admin for a kernel with Landlock",
        "commands.log" => {
            "ask an admin to give the agent a log it can append to (see docs/WORKSPACE.md)"
        }
        _ => "see docs/WORKSPACE.md, guard-exec",
    }
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.reason, self.rule)
    }
}

/// The directories the agent's commands may run in and write to (canonical paths).
#[derive(Debug, Clone)]
pub struct Roots {
    pub writable: Vec<PathBuf>,
}

impl Roots {
    /// The writable roots of a workspace: `DIR/code-repo` and `DIR/sandbox`, those that exist.
    pub fn of_workspace(root: &Path) -> Result<Roots> {
        let mut writable = Vec::new();
        for sub in ["code-repo", "sandbox"] {
            let p = root.join(sub);
            if p.is_dir() {
                writable.push(
                    p.canonicalize()
                        .with_context(|| format!("cannot resolve {}", p.display()))?,
                );
            }
        }
        if writable.is_empty() {
            bail!(
                "{} has neither code-repo/ nor sandbox/: not a workspace (create one with `git guard workspace create`)",
                root.display()
            );
        }
        Ok(Roots { writable })
    }

    /// Whether `path` (absolute, or relative to `cwd`) lies inside a writable root, symlinks
    /// resolved as far as the path exists.
    pub fn contains(&self, cwd: &Path, path: &str) -> bool {
        let joined = cwd.join(path);
        let resolved = resolve_existing(&lexical_normal(&joined));
        self.writable.iter().any(|r| resolved.starts_with(r))
    }
}
