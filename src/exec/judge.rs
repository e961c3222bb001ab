//! The judge: one command (its argv) or a shell line against the compiled `[commands]`
//! section, looking through wrappers into the commands they run. Decides only: runs nothing,
//! writes nothing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

use super::argv::{PushTarget, normalise};
use super::pattern::CommandPattern;
use super::shell::parse_shell_line;
use super::wrappers::{SETTERS, SHELLS, UNJUDGEABLE, WRAPPERS, forbidden_assignment};
use super::{Denial, Roots, lexical_normal};
use crate::engine::policy::{CommandsPolicy, RefPatterns};

/// The compiled `[commands]` section with the protected branch names.
#[derive(Debug, Clone)]
pub struct CommandRules {
    pub deny: Vec<CommandPattern>,
    pub allow: Vec<CommandPattern>,
    pub protected: RefPatterns,
    pub timeout: Duration,
    /// Where a push may go; `None` outside a workspace (every push is then refused).
    pub push: Option<PushTarget>,
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
            push: None,
        })
    }

    /// Judge one command (its argv) run in `cwd`.
    pub fn judge_argv(&self, argv: &[String], cwd: &Path, roots: &Roots) -> Result<(), Denial> {
        self.judge_argv_depth(argv, cwd, roots, 0, None)
    }

    /// `more`: words may be added to this command where it runs (by `xargs` from its input,
    /// by `find` for `{}`), standing where the placeholder stands or at the end.
    fn judge_argv_depth(
        &self,
        argv: &[String],
        cwd: &Path,
        roots: &Roots,
        depth: usize,
        more: Option<(Option<&str>, bool)>,
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
        let shown = argv.join(" ");
        if UNJUDGEABLE.contains(&n.program.as_str()) {
            return Err(Denial::new(
                "commands.shell",
                format!(
                    "`{}` runs text the guard cannot see before it runs",
                    n.program
                ),
            ));
        }
        if SETTERS.contains(&n.program.as_str()) {
            for w in &argv[1..] {
                if let Some((name, _)) = w.split_once('=') {
                    check_assignment(name)?;
                } else if !w.starts_with('-') && !w.starts_with('+') && forbidden_assignment(w) {
                    check_assignment(w)?;
                }
            }
        }
        if let Some((placeholder, appends)) = more {
            let holds = |w: &String| placeholder.is_some_and(|p| w.contains(p));
            let runs_words = SHELLS.contains(&n.program.as_str())
                || n.program == "env"
                || n.program == "xargs"
                || n.program == "command"
                || WRAPPERS.iter().any(|w| w.name == n.program)
                || SETTERS.contains(&n.program.as_str());
            let git_sub_open = n.program == "git"
                && match n.sub_index {
                    None => appends,
                    Some(i) => holds(&argv[i]),
                };
            let inner_is_open = holds(&argv[0])
                || git_sub_open
                || runs_words && (appends || argv[1..].iter().any(holds));
            if inner_is_open {
                return Err(Denial::new(
                    "commands.shell",
                    format!("`{shown}` takes its command or subcommand from words the guard cannot see (xargs input, find results)"),
                )
                .hint("name the whole command: `xargs git add --` rather than `xargs git`; or run the command once per file yourself"));
            }
            for p in &self.deny {
                if p.could_match(&n, &self.protected, placeholder, appends) {
                    return Err(Denial::new(
                        "commands.deny",
                        format!(
                            "`{shown}` with the words xargs or find add could match the denied pattern `{}`",
                            p.text
                        ),
                    ));
                }
            }
        }
        if n.program == "git" {
            self.git_guard_rules(&n, cwd, roots)?;
        }
        for p in &self.deny {
            if p.matches(&n, &self.protected) {
                return Err(Denial::new(
                    "commands.deny",
                    format!("`{shown}` matches the denied pattern `{}`", p.text),
                ));
            }
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|p| p.matches(&n, &self.protected)) {
            return Err(Denial::new(
                "commands.allow",
                format!(
                    "`{shown}` matches none of the allowed patterns ({})",
                    self.allow
                        .iter()
                        .map(|p| p.text.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if n.program == "git"
            && matches!(
                n.sub_index.and_then(|i| argv.get(i)).map(String::as_str),
                Some("push" | "send-pack")
            )
        {
            self.judge_push(argv, &n)?;
        }
        for inner in self.inner_commands(argv, &n)? {
            match inner {
                Inner::Argv(a, more) => self.judge_argv_depth(
                    &a,
                    cwd,
                    roots,
                    depth + 1,
                    more.as_ref().map(|(p, a)| (p.as_deref(), *a)),
                )?,
                Inner::Shell(line) => self.judge_line_depth(&line, cwd, roots, depth + 1)?,
            }
        }
        Ok(())
    }

    /// The commands a wrapper runs (`env X=1 git push`, `timeout 5 git push`, `sh -c '...'`,
    /// every `-exec` of `find`, `xargs`' command).
    fn inner_commands(
        &self,
        argv: &[String],
        n: &super::argv::Normal,
    ) -> Result<Vec<Inner>, Denial> {
        let args = &argv[1..];
        let one = |i: usize| -> Vec<Inner> {
            if i < args.len() {
                vec![Inner::Argv(args[i..].to_vec(), None)]
            } else {
                vec![]
            }
        };
        let program = n.program.as_str();
        if let Some(w) = WRAPPERS.iter().find(|w| w.name == program) {
            let mut i = 0;
            while i < args.len() && args[i].starts_with('-') && args[i] != "-" {
                let a = args[i].as_str();
                if a == "--" {
                    i += 1;
                    break;
                }
                let name = a.split('=').next().unwrap_or(a);
                if w.line_opts.contains(&name) {
                    let line = if a.contains('=') {
                        a.split_once('=').map(|x| x.1.to_string())
                    } else {
                        args.get(i + 1).cloned()
                    };
                    return match line {
                        Some(l) => Ok(vec![Inner::Shell(l)]),
                        None => Err(Denial::new(
                            "commands.shell",
                            format!("`{program} {a}` without a command"),
                        )),
                    };
                }
                if w.value_opts.contains(&a) {
                    i += 1;
                }
                i += 1;
            }
            i += w.skip_words;
            if let Some(a) = args.get(i)
                && w.line_opts.contains(&a.as_str())
            {
                return match args.get(i + 1) {
                    Some(l) => Ok(vec![Inner::Shell(l.clone())]),
                    None => Err(Denial::new(
                        "commands.shell",
                        format!("`{program} {a}` without a command"),
                    )),
                };
            }
            if program == "watch" {
                // watch joins its words into one line for `sh -c`.
                return Ok(if i < args.len() {
                    vec![Inner::Shell(args[i..].join(" "))]
                } else {
                    vec![]
                });
            }
            // What if an option the list does not know took a value? Every later plain word
            // could then be the command: each is judged as one.
            let mut out = one(i);
            for j in i + 1..args.len() {
                if !args[j - 1].starts_with('-') {
                    break;
                }
                out.push(Inner::Argv(args[j..].to_vec(), None));
            }
            return Ok(out);
        }
        Ok(match program {
            "command" => {
                if args.iter().any(|a| a == "-v" || a == "-V") {
                    vec![]
                } else {
                    let i = args.iter().take_while(|a| a.starts_with('-')).count();
                    one(i)
                }
            }
            "env" => {
                let mut i = 0;
                while i < args.len() {
                    let a = &args[i];
                    if a.starts_with("-S") || a.starts_with("--split-string") {
                        // env -S splits its string into words (with quoting) and runs them.
                        let (line, rest) = if a == "-S" || a == "--split-string" {
                            (args.get(i + 1).cloned(), args.get(i + 2..).unwrap_or(&[]))
                        } else {
                            let l = a
                                .strip_prefix("--split-string=")
                                .or_else(|| a.strip_prefix("-S"))
                                .map(str::to_string);
                            (l, &args[i + 1..])
                        };
                        return match line {
                            Some(l) => Ok(vec![Inner::Shell(format!("{l} {}", shell_join(rest)))]),
                            None => Err(Denial::new("commands.shell", "`env -S` without a string")),
                        };
                    }
                    if a == "-u"
                        || a == "-C"
                        || a == "--unset"
                        || a == "--chdir"
                        || a == "-a"
                        || a == "--argv0"
                    {
                        i += 2;
                    } else if a == "--" {
                        i += 1;
                        break;
                    } else if a.starts_with('-') {
                        i += 1;
                    } else if let Some((name, _)) = a.split_once('=') {
                        check_assignment(name)?;
                        i += 1;
                    } else {
                        break;
                    }
                }
                one(i)
            }
            "xargs" => {
                let mut i = 0;
                let mut placeholder = None;
                while i < args.len() && args[i].starts_with('-') && args[i] != "-" {
                    let a = args[i].as_str();
                    if a == "--" {
                        i += 1;
                        break;
                    }
                    if a == "-I" || a == "--replace" {
                        placeholder = args.get(i + 1).cloned();
                        i += 1;
                    } else if let Some(r) = a
                        .strip_prefix("--replace=")
                        .or_else(|| a.strip_prefix("-I"))
                    {
                        placeholder = Some(r.to_string());
                    } else if a == "-i" {
                        placeholder = Some("{}".into());
                    } else if matches!(
                        a,
                        "-a" | "-d"
                            | "-E"
                            | "-L"
                            | "-n"
                            | "-P"
                            | "-s"
                            | "--arg-file"
                            | "--delimiter"
                            | "--max-args"
                            | "--max-procs"
                            | "--max-chars"
                            | "--max-lines"
                            | "--process-slot-var"
                            | "--eof"
                    ) {
                        i += 1;
                    }
                    i += 1;
                }
                if i < args.len() {
                    let appends = placeholder.is_none();
                    vec![Inner::Argv(
                        args[i..].to_vec(),
                        Some((placeholder, appends)),
                    )]
                } else {
                    // xargs runs echo with the words it reads.
                    vec![]
                }
            }
            "find" => {
                let mut out = Vec::new();
                let mut i = 0;
                while i < args.len() {
                    if matches!(args[i].as_str(), "-exec" | "-execdir" | "-ok" | "-okdir") {
                        let end = args[i + 1..]
                            .iter()
                            .position(|x| x == ";" || x == "+")
                            .map_or(args.len(), |p| i + 1 + p);
                        let inner = args[i + 1..end].to_vec();
                        if inner.is_empty() {
                            return Err(Denial::new(
                                "commands.shell",
                                format!("empty `find {}`", args[i]),
                            ));
                        }
                        out.push(Inner::Argv(inner, Some((Some("{}".into()), false))));
                        i = end;
                    }
                    i += 1;
                }
                out
            }
            p if SHELLS.contains(&p) => {
                // `sh -c STRING`: the string is a shell line; judge it as one. A shell with a
                // script or standard input runs what the guard cannot see.
                let mut i = 0;
                let mut c = false;
                let mut stdin = false;
                while i < args.len()
                    && (args[i].starts_with('-') || args[i].starts_with('+'))
                    && args[i] != "-"
                {
                    let a = args[i].as_str();
                    if a == "--" {
                        i += 1;
                        break;
                    }
                    if !a.starts_with("--") && a.contains('c') {
                        c = true;
                    }
                    if !a.starts_with("--") && a.contains('s') {
                        stdin = true;
                    }
                    if a == "-o"
                        || a == "+o"
                        || a == "-O"
                        || a == "+O"
                        || a == "--rcfile"
                        || a == "--init-file"
                    {
                        i += 1;
                    }
                    i += 1;
                }
                if c {
                    match args.get(i) {
                        Some(line) => vec![Inner::Shell(line.clone())],
                        None => {
                            return Err(Denial::new(
                                "commands.shell",
                                "`-c` without a command string",
                            ));
                        }
                    }
                } else if stdin || i >= args.len() || args[i] == "-" {
                    return Err(Denial::new(
                        "commands.shell",
                        format!("`{p}` reading commands from standard input runs what the guard cannot see"),
                    )
                    .hint(&format!("give the commands on the line: `{p} -c 'COMMANDS'`, or run them directly")));
                } else {
                    vec![]
                }
            }
            _ => vec![],
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
        let parsed = parse_shell_line(line).map_err(|e| Denial::new("commands.shell", e))?;
        let commands = &parsed.commands;
        let dirs = follow_cd(commands, cwd, roots)?;
        for c in commands {
            for (name, _) in &c.assignments {
                check_assignment(name)?;
            }
            for dir in &dirs {
                for r in &c.redirects {
                    if r.writes
                        && !matches!(
                            r.target.as_str(),
                            "/dev/null" | "/dev/stdout" | "/dev/stderr"
                        )
                        && !roots.contains(dir, &r.target)
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
            }
            if c.words.is_empty() {
                continue;
            }
            match c.words[0].as_str() {
                "cd" => {}
                "pushd" | "popd" => {
                    return Err(Denial::new(
                        "commands.shell",
                        "pushd/popd cannot be followed: use `cd DIR`",
                    ));
                }
                _ => {
                    for dir in &dirs {
                        self.judge_argv_depth(&c.words, dir, roots, depth, None)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Every directory a command of the line may run in: the one the line starts in and where
/// each `cd` may lead. A `cd` inside a condition, a subshell or after `||` may or may not
/// have happened when a later command runs, so each command is judged in every directory
/// the line's `cd`s can reach (each `cd` taken from each directory found, as often as there
/// are `cd`s), and every one of them must lie inside the writable roots. A `cd` in a loop or
/// a function could run any number of times: refused.
fn follow_cd(
    commands: &[super::shell::ShellCommand],
    cwd: &Path,
    roots: &Roots,
) -> Result<Vec<PathBuf>, Denial> {
    let mut targets = Vec::new();
    for c in commands {
        if c.words.first().map(String::as_str) != Some("cd") {
            continue;
        }
        let target = match c.words.get(1).map(String::as_str) {
            Some("-") | None => {
                return Err(Denial::new(
                    "commands.cwd",
                    "`cd` to the home or previous directory cannot be followed: name the directory",
                ));
            }
            Some(t) if t.starts_with('-') => {
                return Err(Denial::new(
                    "commands.cwd",
                    format!("`cd {t}`: options of cd are not followed: name the directory"),
                ));
            }
            Some(t) => t.to_string(),
        };
        if c.repeats {
            return Err(Denial::new(
                "commands.cwd",
                format!("`cd {target}` in a loop or a function cannot be followed"),
            )
            .hint("cd once, at the top of the line, or name paths from where the line starts"));
        }
        targets.push(target);
    }
    let mut dirs = vec![cwd.to_path_buf()];
    for _ in 0..targets.len() {
        let mut grown = false;
        for t in &targets {
            for d in dirs.clone() {
                if !roots.contains(&d, t) {
                    return Err(Denial::new(
                        "commands.cwd",
                        format!(
                            "`cd {t}` from {} leaves the workspace's writable roots",
                            d.display()
                        ),
                    ));
                }
                let next = lexical_normal(&d.join(t));
                if !dirs.contains(&next) {
                    dirs.push(next);
                    grown = true;
                }
            }
        }
        if !grown {
            break;
        }
    }
    Ok(dirs)
}

fn check_assignment(name: &str) -> Result<(), Denial> {
    if forbidden_assignment(name) {
        return Err(Denial::new(
            "commands.guard",
            format!(
                "setting {name} can change git's configuration, repository or the programs that run unseen"
            ),
        )
        .hint(&format!(
            "run the command without setting {name}: the workspace's environment is the one that holds"
        )));
    }
    Ok(())
}

enum Inner {
    /// A command, and whether words may be added to it where it runs (see `judge_argv_depth`).
    Argv(Vec<String>, Option<(Option<String>, bool)>),
    Shell(String),
}

/// Words quoted for a shell line.
fn shell_join(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}
