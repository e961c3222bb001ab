//! The judge: one command (its argv) or a shell line against the compiled `[commands]`
//! section, looking through wrappers into the commands they run. Decides only: runs nothing,
//! writes nothing.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use super::git::normalise;
use super::pattern::CommandPattern;
use super::shell::split_shell_line;
use super::{Denial, Roots, lexical_normal};
use crate::engine::policy::{CommandsPolicy, RefPatterns};

/// Variables a command line may not set: they change git's configuration, repository or
/// programs, and so could switch the client hooks off.
fn forbidden_assignment(name: &str) -> bool {
    const ALLOWED: &[&str] = &[
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_AUTHOR_DATE",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        "GIT_COMMITTER_DATE",
        "GIT_PAGER",
        "GIT_TERMINAL_PROMPT",
    ];
    name.starts_with("GIT_") && !ALLOWED.contains(&name) && !name.starts_with("GIT_TRACE")
}

/// Variables removed from the command's environment whatever the caller passed: each can set
/// git configuration, `core.hooksPath` included, with a higher precedence than the clone's own.
pub fn scrubbed_variable(name: &str) -> bool {
    name == "GIT_CONFIG_PARAMETERS"
        || name == "GIT_CONFIG_COUNT"
        || name.starts_with("GIT_CONFIG_KEY_")
        || name.starts_with("GIT_CONFIG_VALUE_")
}

const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "ksh", "ash", "mksh"];

/// The compiled `[commands]` section with the protected branch names.
#[derive(Debug, Clone)]
pub struct CommandRules {
    pub deny: Vec<CommandPattern>,
    pub allow: Vec<CommandPattern>,
    pub protected: RefPatterns,
    pub timeout: Duration,
}

impl CommandRules {
    /// Compile the section; a bad pattern is an error naming it.
    pub fn new(commands: &CommandsPolicy, protected: &RefPatterns) -> Result<CommandRules> {
        let compile = |list: &[String], key: &str| -> Result<Vec<CommandPattern>> {
            list.iter()
                .map(|p| {
                    CommandPattern::new(p)
                        .map_err(|e| anyhow::anyhow!("commands.{key}: pattern {p:?}: {e}"))
                })
                .collect()
        };
        Ok(CommandRules {
            deny: compile(&commands.deny, "deny")?,
            allow: compile(&commands.allow, "allow")?,
            protected: protected.clone(),
            timeout: Duration::from_secs(commands.timeout_secs),
        })
    }

    /// Judge one command (its argv) run in `cwd`.
    pub fn judge_argv(&self, argv: &[String], cwd: &Path, roots: &Roots) -> Result<(), Denial> {
        self.judge_argv_depth(argv, cwd, roots, 0)
    }

    fn judge_argv_depth(
        &self,
        argv: &[String],
        cwd: &Path,
        roots: &Roots,
        depth: usize,
    ) -> Result<(), Denial> {
        if depth > 8 {
            return Err(Denial::new(
                "commands.shell",
                "commands nested too deep to judge",
            ));
        }
        if argv.is_empty() || argv[0].is_empty() {
            return Err(Denial::new("commands.shell", "empty command"));
        }
        let n = normalise(argv);
        if n.program == "git" {
            self.git_guard_rules(&n, cwd, roots)?;
        }
        for p in &self.deny {
            if p.matches(&n, &self.protected) {
                return Err(Denial::new(
                    "commands.deny",
                    format!(
                        "`{}` matches the denied pattern `{}`",
                        argv.join(" "),
                        p.text
                    ),
                ));
            }
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|p| p.matches(&n, &self.protected)) {
            return Err(Denial::new(
                "commands.allow",
                format!(
                    "`{}` matches none of the allowed patterns ({})",
                    argv.join(" "),
                    self.allow
                        .iter()
                        .map(|p| p.text.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        match self.inner_command(argv, &n)? {
            Inner::None => Ok(()),
            Inner::Argv(inner) => self.judge_argv_depth(&inner, cwd, roots, depth + 1),
            Inner::Shell(line) => self.judge_line_depth(&line, cwd, roots, depth + 1),
        }
    }

    /// The command a wrapper runs (`env X=1 git push`, `timeout 5 git push`, `sh -c '...'`).
    fn inner_command(&self, argv: &[String], n: &super::git::Normal) -> Result<Inner, Denial> {
        let args = &argv[1..];
        let skip_opts = |args: &[String], with_value: &[&str]| -> usize {
            let mut i = 0;
            while i < args.len() && args[i].starts_with('-') && args[i] != "-" {
                if args[i] == "--" {
                    return i + 1;
                }
                if with_value.contains(&args[i].as_str()) {
                    i += 1;
                }
                i += 1;
            }
            i
        };
        let rest = |i: usize| -> Inner {
            if i < args.len() {
                Inner::Argv(args[i..].to_vec())
            } else {
                Inner::None
            }
        };
        Ok(match n.program.as_str() {
            "env" => {
                let mut i = 0;
                while i < args.len() {
                    let a = &args[i];
                    if a == "-S" || a.starts_with("--split-string") || a.starts_with("-S") {
                        return Err(Denial::new(
                            "commands.shell",
                            "`env -S` splits a string the guard cannot judge",
                        ));
                    }
                    if a == "-u" || a == "-C" || a == "--unset" || a == "--chdir" {
                        i += 2;
                    } else if a.starts_with('-') {
                        i += 1;
                    } else if let Some((name, _)) = a.split_once('=') {
                        check_assignment(name)?;
                        i += 1;
                    } else {
                        break;
                    }
                }
                rest(i)
            }
            "nice" => rest(skip_opts(args, &["-n", "--adjustment"])),
            "ionice" => rest(skip_opts(args, &["-c", "-n", "-p", "-P", "-u", "-t"])),
            "nohup" | "time" | "setsid" | "exec" => rest(skip_opts(args, &[])),
            "command" => {
                if args.iter().any(|a| a == "-v" || a == "-V") {
                    Inner::None
                } else {
                    rest(skip_opts(args, &[]))
                }
            }
            "stdbuf" => rest(skip_opts(args, &["-i", "-o", "-e"])),
            "timeout" => {
                let i = skip_opts(args, &["-s", "--signal", "-k", "--kill-after"]);
                rest(i + 1)
            }
            "xargs" => rest(skip_opts(
                args,
                &[
                    "-a", "-d", "-E", "-I", "-L", "-n", "-P", "-s", "-e", "-i", "-l",
                ],
            )),
            "find" => {
                let mut found = None;
                for (i, a) in args.iter().enumerate() {
                    if matches!(a.as_str(), "-exec" | "-execdir" | "-ok" | "-okdir") {
                        let end = args[i + 1..]
                            .iter()
                            .position(|x| x == ";" || x == "+")
                            .map_or(args.len(), |p| i + 1 + p);
                        found = Some(args[i + 1..end].to_vec());
                        break;
                    }
                }
                match found {
                    Some(v) if !v.is_empty() => Inner::Argv(v),
                    Some(_) => return Err(Denial::new("commands.shell", "empty `find -exec`")),
                    None => Inner::None,
                }
            }
            p if SHELLS.contains(&p) => {
                // `sh -c STRING`: the string is a shell line; judge it as one.
                let mut i = 0;
                let mut c = false;
                while i < args.len() && args[i].starts_with('-') && args[i] != "-" {
                    if !args[i].starts_with("--") && args[i].contains('c') {
                        c = true;
                    }
                    if args[i] == "-o" || args[i] == "+o" {
                        i += 1;
                    }
                    i += 1;
                }
                if c {
                    match args.get(i) {
                        Some(line) => Inner::Shell(line.clone()),
                        None => {
                            return Err(Denial::new(
                                "commands.shell",
                                "`-c` without a command string",
                            ));
                        }
                    }
                } else {
                    Inner::None
                }
            }
            _ => Inner::None,
        })
    }

    /// Judge a shell line: every command of it, in order, following `cd`.
    pub fn judge_line(&self, line: &str, cwd: &Path, roots: &Roots) -> Result<(), Denial> {
        self.judge_line_depth(line, cwd, roots, 0)
    }

    fn judge_line_depth(
        &self,
        line: &str,
        cwd: &Path,
        roots: &Roots,
        depth: usize,
    ) -> Result<(), Denial> {
        let commands = split_shell_line(line).map_err(|e| Denial::new("commands.shell", e))?;
        let mut cwd = cwd.to_path_buf();
        for c in &commands {
            for (name, _) in &c.assignments {
                check_assignment(name)?;
            }
            for r in &c.redirects {
                if r.writes
                    && !matches!(
                        r.target.as_str(),
                        "/dev/null" | "/dev/stdout" | "/dev/stderr"
                    )
                    && !roots.contains(&cwd, &r.target)
                {
                    return Err(Denial::new(
                        "commands.cwd",
                        format!(
                            "`{}` writes to {}, outside the workspace's writable roots",
                            r.text, r.target
                        ),
                    ));
                }
            }
            if c.words.is_empty() {
                continue;
            }
            match c.words[0].as_str() {
                "cd" => {
                    let target = match c.words.get(1).map(String::as_str) {
                        Some("-") | None => {
                            return Err(Denial::new(
                                "commands.cwd",
                                "`cd` to the home or previous directory cannot be followed: name the directory",
                            ));
                        }
                        Some(t) => t,
                    };
                    if !roots.contains(&cwd, target) {
                        return Err(Denial::new(
                            "commands.cwd",
                            format!("`cd {target}` leaves the workspace's writable roots"),
                        ));
                    }
                    cwd = lexical_normal(&cwd.join(target));
                }
                "pushd" | "popd" => {
                    return Err(Denial::new(
                        "commands.shell",
                        "pushd/popd cannot be followed: use `cd DIR`",
                    ));
                }
                _ => self.judge_argv_depth(&c.words, &cwd, roots, depth)?,
            }
        }
        Ok(())
    }
}

fn check_assignment(name: &str) -> Result<(), Denial> {
    if forbidden_assignment(name) {
        return Err(Denial::new(
            "commands.guard",
            format!("setting {name} can change git's configuration or repository"),
        ));
    }
    Ok(())
}

enum Inner {
    None,
    Argv(Vec<String>),
    Shell(String),
}
