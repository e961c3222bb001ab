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
//! A shell line (`--sh`) is split on `|`, `&&`, `||`, `;` and newlines with shell quoting, and
//! each command is judged. What cannot be judged without running the shell is refused rather
//! than guessed: `$` expansions and substitutions, backticks, `<(`/`>(`, here-documents,
//! subshells and grouping, background `&`, compound commands (`if`, `for`, ...), `eval`,
//! `source`/`.`, a leading `~`, brace expansion, and unquoted globs that could expand to an
//! option (a word starting with `*`, `?`, `[` or `-` that holds a glob: write `./*.rs`).
//! Redirections are allowed when they read, duplicate a descriptor, or write to `/dev/null`,
//! `/dev/stdout`, `/dev/stderr` or a path inside the writable roots; writing anywhere else is
//! refused. `cd DIR` is followed, and DIR must lie inside the writable roots.
//!
//! A command that passes runs in its own process group (`setpgid`); at the time limit the whole
//! group gets SIGTERM, then SIGKILL after a grace period, and the exit code is 124. Processes the
//! command left behind in its group are ended the same way when it exits.

use std::ffi::OsStr;
use std::io::ErrorKind;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use globset::{GlobBuilder, GlobMatcher};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::engine::policy::{CommandsPolicy, RefPatterns};

/// Exit code when the time limit ends the command (as `timeout(1)`).
pub const EXIT_TIMEOUT: i32 = 124;
/// Exit code when the command exists but cannot be run (as shells).
pub const EXIT_CANNOT_RUN: i32 = 126;
/// Exit code when the command is not found (as shells).
pub const EXIT_NOT_FOUND: i32 = 127;

/// Why a command line was refused: the reason, and the rule that refused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// `commands.deny`, `commands.allow`, `commands.cwd`, `commands.guard`, `commands.shell`.
    pub rule: String,
    pub reason: String,
}

impl Denial {
    fn new(rule: &str, reason: impl Into<String>) -> Denial {
        Denial {
            rule: rule.into(),
            reason: reason.into(),
        }
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

/// `a/./b/../c` -> `a/c`, without touching the file system.
fn lexical_normal(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Canonicalise the longest existing ancestor (so a symlink out of a root is seen) and append
/// the rest.
fn resolve_existing(p: &Path) -> PathBuf {
    let mut base = p.to_path_buf();
    let mut rest = Vec::new();
    loop {
        if let Ok(c) = base.canonicalize() {
            let mut out = c;
            for r in rest.iter().rev() {
                out.push(r);
            }
            return out;
        }
        match (base.file_name().map(|n| n.to_os_string()), base.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                base = parent.to_path_buf();
            }
            _ => return p.to_path_buf(),
        }
    }
}

// ----------------------------------------------------------------------------------------
// Normalised command lines
// ----------------------------------------------------------------------------------------

/// A command line taken apart for matching.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Normal {
    /// Base name of the program.
    program: String,
    /// Option words (`-rf`, `--amend`, `--config=core.hookspath=/dev/null`).
    options: Vec<String>,
    /// The other words, in order.
    words: Vec<String>,
    /// Directories named by git's `-C`, `--git-dir`, `--work-tree`.
    dirs: Vec<String>,
}

fn base_name(program: &str) -> String {
    Path::new(program)
        .file_name()
        .and_then(OsStr::to_str)
        .unwrap_or(program)
        .to_string()
}

/// git `-c key=value`: the key is case-insensitive in its section and name.
fn config_word(kv: &str) -> String {
    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
    format!("--config={}={v}", k.to_ascii_lowercase())
}

fn normalise(argv: &[String]) -> Normal {
    let mut n = Normal {
        program: base_name(argv.first().map(String::as_str).unwrap_or("")),
        ..Normal::default()
    };
    let mut rest = argv.iter().skip(1).peekable();
    if n.program == "git" {
        // git's global options come before the subcommand.
        while let Some(a) = rest.peek().map(|s| s.as_str()) {
            if !a.starts_with('-') || a == "-" {
                break;
            }
            let a = rest.next().unwrap().clone();
            let mut value = |name: &str| -> Option<String> {
                a.strip_prefix(&format!("{name}="))
                    .map(str::to_string)
                    .or_else(|| (a == name).then(|| rest.next().cloned()).flatten())
            };
            if a == "-C" {
                if let Some(d) = value("-C") {
                    n.dirs.push(d);
                }
            } else if a == "-c" {
                if let Some(kv) = value("-c") {
                    n.options.push(config_word(&kv));
                }
            } else if a.starts_with("--config-env") {
                if let Some(kv) = value("--config-env") {
                    n.options.push(config_word(&kv));
                }
            } else if a.starts_with("--git-dir") || a.starts_with("--work-tree") {
                let name = if a.starts_with("--git-dir") {
                    "--git-dir"
                } else {
                    "--work-tree"
                };
                if let Some(d) = value(name) {
                    n.dirs.push(d);
                }
            } else if a.starts_with("--namespace") {
                let _ = value("--namespace");
            } else if a == "--" {
                break;
            } else {
                n.options.push(a);
            }
        }
    }
    let mut after_dashdash = false;
    for a in rest {
        if after_dashdash || !a.starts_with('-') || a == "-" {
            n.words.push(a.clone());
        } else if a == "--" {
            after_dashdash = true;
        } else {
            n.options.push(a.clone());
        }
    }
    n
}

// ----------------------------------------------------------------------------------------
// Patterns
// ----------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum WordPat {
    Any,
    Protected,
    Glob(GlobMatcher),
}

#[derive(Debug, Clone)]
enum OptPat {
    /// The letters of a short cluster (`-rf`).
    Short(Vec<char>),
    /// A long option without a value: matched whole or by a prefix the command wrote.
    Long(String),
    /// A long option with a value (`--config=core.hookspath=*`): a glob on the whole word.
    LongValue(GlobMatcher),
}

/// One compiled pattern of `[commands]`.
#[derive(Debug, Clone)]
pub struct CommandPattern {
    pub text: String,
    program: GlobMatcher,
    options: Vec<OptPat>,
    words: Vec<WordPat>,
}

fn word_glob(w: &str) -> Result<GlobMatcher, String> {
    GlobBuilder::new(w)
        .literal_separator(false)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("bad glob {w:?}: {}", e.kind()))
}

impl CommandPattern {
    pub fn new(text: &str) -> Result<CommandPattern, String> {
        let argv: Vec<String> = text.split_whitespace().map(str::to_string).collect();
        if argv.is_empty() {
            return Err("empty command pattern".into());
        }
        let n = normalise(&argv);
        let program = word_glob(&n.program)?;
        let mut options = Vec::new();
        for o in &n.options {
            options.push(if let Some(long) = o.strip_prefix("--") {
                if long.contains('=') {
                    OptPat::LongValue(word_glob(o)?)
                } else {
                    OptPat::Long(o.clone())
                }
            } else {
                OptPat::Short(o.chars().skip(1).collect())
            });
        }
        let mut words = Vec::new();
        for w in &n.words {
            words.push(match w.as_str() {
                "*" => WordPat::Any,
                "{protected}" => WordPat::Protected,
                _ => WordPat::Glob(word_glob(w)?),
            });
        }
        Ok(CommandPattern {
            text: text.to_string(),
            program,
            options,
            words,
        })
    }

    fn matches(&self, n: &Normal, protected: &RefPatterns) -> bool {
        if !self.program.is_match(&n.program) {
            return false;
        }
        let shorts: Vec<char> = n
            .options
            .iter()
            .filter(|o| !o.starts_with("--"))
            .flat_map(|o| o.chars().skip(1))
            .collect();
        for o in &self.options {
            let ok = match o {
                OptPat::Short(letters) => letters.iter().all(|c| shorts.contains(c)),
                OptPat::Long(name) => n.options.iter().any(|c| {
                    let cname = c.split('=').next().unwrap_or(c);
                    cname.len() > 2 && name.starts_with(cname)
                }),
                OptPat::LongValue(g) => n.options.iter().any(|c| g.is_match(c)),
            };
            if !ok {
                return false;
            }
        }
        match_words(&self.words, &n.words, protected)
    }
}

/// Pattern words against command words, anchored at the first word; a pattern is a prefix.
fn match_words(pats: &[WordPat], words: &[String], protected: &RefPatterns) -> bool {
    match pats.split_first() {
        None => true,
        Some((WordPat::Any, rest)) => {
            (0..=words.len()).any(|skip| match_words(rest, &words[skip..], protected))
        }
        Some((p, rest)) => match words.split_first() {
            None => false,
            Some((w, wrest)) => {
                let ok = match p {
                    WordPat::Protected => is_protected_name(w, protected),
                    WordPat::Glob(g) => g.is_match(w),
                    WordPat::Any => unreachable!("handled above"),
                };
                ok && match_words(rest, wrest, protected)
            }
        },
    }
}

/// Whether a revision word names a protected branch: `main`, `origin/main`,
/// `refs/heads/main`, `refs/remotes/origin/main`, `main~2`, `main^{tree}`, `main@{1}`.
fn is_protected_name(word: &str, protected: &RefPatterns) -> bool {
    let name = word
        .split(['~', '^', '@', ':'])
        .next()
        .unwrap_or(word)
        .trim_start_matches('+');
    if name.is_empty() {
        return false;
    }
    let mut candidates = Vec::new();
    if let Some(r) = name.strip_prefix("refs/remotes/") {
        if let Some((_, b)) = r.split_once('/') {
            candidates.push(format!("refs/heads/{b}"));
        }
    } else if name.starts_with("refs/") {
        candidates.push(name.to_string());
    } else {
        candidates.push(format!("refs/heads/{name}"));
        if let Some((_, b)) = name.split_once('/') {
            candidates.push(format!("refs/heads/{b}"));
        }
    }
    candidates.iter().any(|c| protected.is_match(c))
}

// ----------------------------------------------------------------------------------------
// Judging
// ----------------------------------------------------------------------------------------

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

    /// The refusals that hold whatever the policy says: they switch the guard off.
    fn git_guard_rules(&self, n: &Normal, cwd: &Path, roots: &Roots) -> Result<(), Denial> {
        let guard = |reason: String| Err(Denial::new("commands.guard", reason));
        for d in &n.dirs {
            if !roots.contains(cwd, d) {
                return guard(format!(
                    "git is pointed at {d}, outside the workspace's writable roots"
                ));
            }
        }
        for o in &n.options {
            if let Some(kv) = o.strip_prefix("--config=") {
                let key = kv.split('=').next().unwrap_or("");
                if key == "core.hookspath" {
                    return guard(
                        "`-c core.hooksPath=...` switches the client hooks off".to_string(),
                    );
                }
                if key.starts_with("alias.") {
                    return guard(format!(
                        "an alias defined on the command line (`{key}`) hides the command it runs"
                    ));
                }
            } else if let Some(long) = o.strip_prefix("--") {
                let name = long.split('=').next().unwrap_or("");
                if name.len() >= 4 && "no-verify".starts_with(name) {
                    return guard(format!("`{o}` skips the client hooks"));
                }
            }
        }
        let sub = n.words.first().map(String::as_str).unwrap_or("");
        if sub == "commit"
            && n.options
                .iter()
                .any(|o| !o.starts_with("--") && o.contains('n'))
        {
            return guard("`git commit -n` skips the client hooks".into());
        }
        if sub == "config"
            && n.words
                .iter()
                .chain(n.options.iter())
                .any(|w| w.to_ascii_lowercase().contains("core.hookspath"))
        {
            return guard("changing core.hooksPath switches the client hooks off".into());
        }
        Ok(())
    }

    /// The command a wrapper runs (`env X=1 git push`, `timeout 5 git push`, `sh -c '...'`).
    fn inner_command(&self, argv: &[String], n: &Normal) -> Result<Inner, Denial> {
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

// ----------------------------------------------------------------------------------------
// The shell-line splitter
// ----------------------------------------------------------------------------------------

/// A redirection of one simple command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// As written (`2>>log.txt`).
    pub text: String,
    /// Whether it opens a file for writing (`>`, `>>`, `>|`, `<>`, `&>`).
    pub writes: bool,
    /// The file (empty for a descriptor duplication such as `2>&1`).
    pub target: String,
}

/// One simple command of a shell line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShellCommand {
    /// `NAME=value` words in front of the command.
    pub assignments: Vec<(String, String)>,
    pub words: Vec<String>,
    pub redirects: Vec<Redirect>,
}

#[derive(Debug, Default)]
struct Word {
    text: String,
    /// Something in it was quoted or escaped.
    quoted: bool,
    /// An unquoted glob character.
    glob: bool,
    /// The first character was an unquoted glob character.
    glob_first: bool,
    /// An unquoted `{` followed later by an unquoted `,`.
    brace_open: bool,
    brace: bool,
    /// An unquoted `~` at the start.
    tilde: bool,
    /// The text before the first unquoted `=`, if it is a valid name (an assignment).
    assign_name: Option<String>,
}

enum Tok {
    Word(Word),
    Op(&'static str),
    Redir { fd: String, op: String },
}

const KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac",
    "function", "select", "{", "}", "[[", "]]", "!", "coproc",
];
const UNJUDGEABLE: &[&str] = &["eval", "source", ".", "alias", "trap", "builtin", "fc"];

fn tokenize(line: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = line.chars().collect();
    let mut toks = Vec::new();
    let mut cur: Option<Word> = None;
    let mut i = 0;
    macro_rules! flush {
        () => {
            if let Some(w) = cur.take() {
                toks.push(Tok::Word(w));
            }
        };
    }
    fn word(cur: &mut Option<Word>) -> &mut Word {
        cur.get_or_insert_with(Word::default)
    }
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => {
                flush!();
                i += 1;
            }
            '\n' => {
                flush!();
                toks.push(Tok::Op(";"));
                i += 1;
            }
            '#' if cur.is_none() => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '\'' => {
                let w = word(&mut cur);
                w.quoted = true;
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated single quote".into()),
                        Some('\'') => break,
                        Some(&ch) => w.text.push(ch),
                    }
                    i += 1;
                }
                i += 1;
            }
            '"' => {
                let w = word(&mut cur);
                w.quoted = true;
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated double quote".into()),
                        Some('"') => break,
                        Some('$') => {
                            return Err(
                                "`$` expansion inside double quotes cannot be judged before it runs (single-quote the text)".into(),
                            );
                        }
                        Some('`') => return Err("backtick substitution cannot be judged".into()),
                        Some('\\') => match chars.get(i + 1) {
                            Some(&e @ ('"' | '\\' | '$' | '`')) => {
                                w.text.push(e);
                                i += 1;
                            }
                            Some('\n') => i += 1,
                            _ => w.text.push('\\'),
                        },
                        Some(&ch) => w.text.push(ch),
                    }
                    i += 1;
                }
                i += 1;
            }
            '\\' => {
                match chars.get(i + 1) {
                    Some('\n') => {}
                    Some(&e) => {
                        let w = word(&mut cur);
                        w.quoted = true;
                        w.text.push(e);
                    }
                    None => return Err("trailing backslash".into()),
                }
                i += 2;
            }
            '$' => {
                return Err(
                    "`$` expansion or substitution cannot be judged before it runs (single-quote the text)".into(),
                );
            }
            '`' => return Err("backtick substitution cannot be judged".into()),
            '(' | ')' => {
                return Err("subshells and grouping `( )` are not judged: split the line".into());
            }
            '|' => {
                flush!();
                match chars.get(i + 1) {
                    Some('|') => {
                        toks.push(Tok::Op("||"));
                        i += 2;
                    }
                    Some('&') => return Err("`|&` is not judged: use `2>&1 |`".into()),
                    _ => {
                        toks.push(Tok::Op("|"));
                        i += 1;
                    }
                }
            }
            ';' => {
                flush!();
                if chars.get(i + 1) == Some(&';') {
                    return Err("`;;` outside a case statement".into());
                }
                toks.push(Tok::Op(";"));
                i += 1;
            }
            '&' => {
                flush!();
                match chars.get(i + 1) {
                    Some('&') => {
                        toks.push(Tok::Op("&&"));
                        i += 2;
                    }
                    Some('>') => {
                        let op = if chars.get(i + 2) == Some(&'>') {
                            "&>>"
                        } else {
                            "&>"
                        };
                        i += op.len();
                        toks.push(Tok::Redir {
                            fd: String::new(),
                            op: op.into(),
                        });
                    }
                    _ => {
                        return Err(
                            "background jobs (`&`) are not run: the time limit could not hold"
                                .into(),
                        );
                    }
                }
            }
            '<' | '>' => {
                // A word made only of unquoted digits right before is the descriptor.
                let fd = match &cur {
                    Some(w) if !w.quoted && w.text.chars().all(|d| d.is_ascii_digit()) => {
                        cur.take().unwrap().text
                    }
                    _ => {
                        flush!();
                        String::new()
                    }
                };
                let next = chars.get(i + 1).copied();
                let op: String = match (c, next) {
                    ('<', Some('<')) => return Err("here-documents are not judged".into()),
                    (_, Some('(')) => {
                        return Err("process substitution `<(`/`>(` cannot be judged".into());
                    }
                    ('>', Some('>')) => ">>".into(),
                    ('>', Some('|')) => ">|".into(),
                    ('>', Some('&')) => ">&".into(),
                    ('<', Some('&')) => "<&".into(),
                    ('<', Some('>')) => "<>".into(),
                    _ => c.to_string(),
                };
                i += op.len();
                toks.push(Tok::Redir { fd, op });
            }
            _ => {
                let first = cur.is_none();
                let w = word(&mut cur);
                match c {
                    '*' | '?' | '[' => {
                        w.glob = true;
                        if first {
                            w.glob_first = true;
                        }
                    }
                    '~' if first => w.tilde = true,
                    '{' => w.brace_open = true,
                    ',' if w.brace_open => w.brace = true,
                    '=' if w.assign_name.is_none() && !w.quoted => {
                        let valid = !w.text.is_empty()
                            && !w.text.starts_with(|ch: char| ch.is_ascii_digit())
                            && w.text
                                .chars()
                                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
                        if valid {
                            w.assign_name = Some(w.text.clone());
                        }
                    }
                    _ => {}
                }
                w.text.push(c);
                i += 1;
            }
        }
    }
    flush!();
    Ok(toks)
}

/// Split a simple shell line into its commands. Anything the splitter cannot judge is an error
/// saying what and why (see the module doc).
pub fn split_shell_line(line: &str) -> Result<Vec<ShellCommand>, String> {
    let toks = tokenize(line)?;
    let mut commands = Vec::new();
    let mut cur = ShellCommand::default();
    let mut empty = true;
    let mut last_op: Option<&str> = None;
    let mut it = toks.into_iter().peekable();
    while let Some(t) = it.next() {
        match t {
            Tok::Op(op) => {
                if empty {
                    if op == ";" && last_op.is_none_or(|o| o == ";") {
                        continue;
                    }
                    return Err(format!("`{op}` without a command before it"));
                }
                commands.push(std::mem::take(&mut cur));
                empty = true;
                last_op = Some(op);
            }
            Tok::Redir { fd, op } => {
                let target = match it.next() {
                    Some(Tok::Word(w)) => {
                        check_word(&w)?;
                        w.text
                    }
                    _ => return Err(format!("`{fd}{op}` without a target")),
                };
                let dup = (op == ">&" || op == "<&")
                    && (target == "-" || target.chars().all(|d| d.is_ascii_digit()));
                let writes = !dup && op != "<" && op != "<&";
                cur.redirects.push(Redirect {
                    text: format!("{fd}{op}{target}"),
                    writes,
                    target: if dup { String::new() } else { target },
                });
                empty = false;
            }
            Tok::Word(w) => {
                check_word(&w)?;
                if cur.words.is_empty()
                    && let Some(name) = &w.assign_name
                {
                    let value = w.text[name.len() + 1..].to_string();
                    cur.assignments.push((name.clone(), value));
                    empty = false;
                    continue;
                }
                if cur.words.is_empty() && !w.quoted {
                    if KEYWORDS.contains(&w.text.as_str()) {
                        return Err(format!(
                            "`{}` starts a compound command, which is not judged: run simple commands",
                            w.text
                        ));
                    }
                    if UNJUDGEABLE.contains(&w.text.as_str()) {
                        return Err(format!(
                            "`{}` runs text the guard cannot see before it runs",
                            w.text
                        ));
                    }
                }
                cur.words.push(w.text);
                empty = false;
            }
        }
    }
    if !empty {
        commands.push(cur);
    } else if matches!(last_op, Some("|" | "&&" | "||")) {
        return Err(format!("`{}` at the end of the line", last_op.unwrap()));
    }
    if commands.is_empty() {
        return Err("no command in the line".into());
    }
    Ok(commands)
}

fn check_word(w: &Word) -> Result<(), String> {
    if w.tilde {
        return Err(format!(
            "`{}`: `~` expansion is not judged: write the path",
            w.text
        ));
    }
    if w.brace {
        return Err(format!("`{}`: brace expansion is not judged", w.text));
    }
    if w.glob && (w.glob_first || w.text.starts_with('-')) {
        return Err(format!(
            "`{}`: an unquoted glob here could expand to an option: write `./{}`, or quote it",
            w.text, w.text
        ));
    }
    Ok(())
}

// ----------------------------------------------------------------------------------------
// Running
// ----------------------------------------------------------------------------------------

/// What to run, once judged.
#[derive(Debug, Clone)]
pub enum Program {
    Argv(Vec<String>),
    /// Run by `/bin/sh -c`.
    Shell(String),
}

impl Program {
    /// The command as the audit log and messages show it.
    pub fn display(&self) -> String {
        match self {
            Program::Argv(a) => a
                .iter()
                .map(|w| {
                    if !w.is_empty()
                        && w.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
                    {
                        w.clone()
                    } else {
                        format!("'{}'", w.replace('\'', r"'\''"))
                    }
                })
                .collect::<Vec<_>>()
                .join(" "),
            Program::Shell(s) => s.clone(),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// The command's exit code (128+signal when a signal ended it, 124 on timeout, 126/127
    /// when it could not start).
    pub code: i32,
    pub timed_out: bool,
    /// Why it did not start, when it did not.
    pub spawn_error: Option<String>,
    pub duration: Duration,
}

/// Options of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub cwd: PathBuf,
    pub timeout: Duration,
    /// Between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// Run as this user and group (when guard-exec runs as root for a workspace with an agent
    /// user).
    pub as_user: Option<(u32, u32)>,
}

/// Run the program in its own process group under the time limit. `interrupt`, when given, is
/// watched: a signal number stored in it (by the caller's signal handler) is passed on to the
/// whole group.
pub fn run(program: &Program, opts: &RunOptions, interrupt: Option<&AtomicI32>) -> RunOutcome {
    let start = Instant::now();
    let mut cmd = match program {
        Program::Argv(a) => {
            let mut c = Command::new(&a[0]);
            c.args(&a[1..]);
            c
        }
        Program::Shell(s) => {
            let mut c = Command::new("/bin/sh");
            c.arg("-c").arg(s);
            c
        }
    };
    cmd.current_dir(&opts.cwd).process_group(0);
    for (k, _) in std::env::vars_os() {
        if k.to_str().is_some_and(scrubbed_variable) {
            cmd.env_remove(k);
        }
    }
    if let Some((uid, gid)) = opts.as_user {
        cmd.uid(uid).gid(gid);
        // std drops the supplementary groups when it changes the uid from root.
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.kind() == ErrorKind::NotFound {
                EXIT_NOT_FOUND
            } else {
                EXIT_CANNOT_RUN
            };
            return RunOutcome {
                code,
                timed_out: false,
                spawn_error: Some(e.to_string()),
                duration: start.elapsed(),
            };
        }
    };
    let pgid = Pid::from_raw(child.id() as i32);
    let deadline = start + opts.timeout;
    let mut timed_out = false;
    let mut term_sent: Option<Instant> = None;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) => {}
            Err(_) => break None,
        }
        let now = Instant::now();
        if let Some(sig) = interrupt.map(|a| a.swap(0, Ordering::SeqCst))
            && sig != 0
            && let Ok(s) = Signal::try_from(sig)
        {
            let _ = killpg(pgid, s);
        }
        if term_sent.is_none() && now >= deadline {
            timed_out = true;
            let _ = killpg(pgid, Signal::SIGTERM);
            term_sent = Some(now);
        }
        if let Some(t) = term_sent
            && now >= t + opts.grace
        {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // Whatever the command left behind in its group does not outlive it.
    end_group(pgid, opts.grace);
    let code = if timed_out {
        EXIT_TIMEOUT
    } else {
        match status {
            Some(s) => s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)),
            None => EXIT_CANNOT_RUN,
        }
    };
    RunOutcome {
        code,
        timed_out,
        spawn_error: None,
        duration: start.elapsed(),
    }
}

/// SIGTERM to the group, then SIGKILL after `grace` if any member is left.
fn end_group(pgid: Pid, grace: Duration) {
    if killpg(pgid, Signal::SIGTERM).is_err() {
        return; // no member left
    }
    let until = Instant::now() + grace;
    while Instant::now() < until {
        // Signal 0 probes whether any member is left.
        if killpg(pgid, None).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = killpg(pgid, Signal::SIGKILL);
}

// ----------------------------------------------------------------------------------------
// guard-exec, end to end
// ----------------------------------------------------------------------------------------

/// One guard-exec request, as the command line gives it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The workspace (its writable roots, recorded policy and agent user).
    pub root: PathBuf,
    /// A policy file; default: the one the workspace recorded.
    pub policy: Option<PathBuf>,
    pub program: Program,
    /// Default: the workspace's code-repo.
    pub cwd: Option<PathBuf>,
    /// Default: the policy's `commands.timeout_secs`.
    pub timeout: Option<Duration>,
    pub dry_run: bool,
    /// Between SIGTERM and SIGKILL at the time limit.
    pub grace: Duration,
}

/// What guard-exec decided and, when it ran the command, how it ended.
#[derive(Debug, Clone)]
pub struct Report {
    pub denial: Option<Denial>,
    pub outcome: Option<RunOutcome>,
    /// The exit code guard-exec should end with.
    pub code: i32,
    pub audit_log: PathBuf,
}

/// Judge the request, run it unless refused or a dry run, and append the run to the audit log.
/// `err` receives guard-exec's own messages (denials, timeouts); the command's output passes
/// straight through. An `Err` means nothing could be judged (exit 2).
pub fn execute(
    req: &Request,
    err: &mut dyn std::io::Write,
    interrupt: Option<&AtomicI32>,
) -> Result<Report> {
    let root = req
        .root
        .canonicalize()
        .with_context(|| format!("cannot find the workspace {}", req.root.display()))?;
    let record = crate::site::workspace::load_record(&root).ok();
    let policy_path = req
        .policy
        .clone()
        .or_else(|| record.as_ref().map(|r| r.policy.clone()));
    let policy = match &policy_path {
        Some(p) => crate::engine::policy::Policy::load(p)?,
        None => crate::engine::policy::Policy::builtin(),
    };
    let rules = CommandRules::new(&policy.commands, &policy.refs.protected)?;
    let roots = Roots::of_workspace(&root)?;
    let audit_log = policy
        .audit
        .log
        .clone()
        .unwrap_or_else(|| root.join("logs").join("audit.log"));
    let cwd_arg = req.cwd.clone().unwrap_or_else(|| root.join("code-repo"));
    let timeout = req.timeout.unwrap_or(rules.timeout);
    let agent = match record.as_ref().and_then(|r| r.agent_user.as_deref()) {
        Some(name) => Some(crate::workspace::AgentUser::lookup(name)?),
        None => None,
    };
    let actor = agent
        .as_ref()
        .map(|a| a.name.clone())
        .unwrap_or_else(crate::engine::identity::unix_user);

    let cwd = cwd_arg.canonicalize().ok();
    let denial = match &cwd {
        None => Some(Denial::new(
            "commands.cwd",
            format!("{} does not exist", cwd_arg.display()),
        )),
        Some(c) if !roots.writable.iter().any(|r| c.starts_with(r)) => Some(Denial::new(
            "commands.cwd",
            format!(
                "{} is outside the workspace's writable roots ({})",
                c.display(),
                roots
                    .writable
                    .iter()
                    .map(|r| r.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        Some(c) => match &req.program {
            Program::Argv(a) => rules.judge_argv(a, c, &roots).err(),
            Program::Shell(s) => rules.judge_line(s, c, &roots).err(),
        },
    };
    let shown = req.program.display();
    let event =
        |outcome: &str, rule: Option<&str>, detail: serde_json::Value| crate::site::audit::Event {
            door: "exec".into(),
            action: shown.clone(),
            actor: actor.clone(),
            role: Some(policy.actors.role_of(&actor)),
            outcome: outcome.into(),
            rules: rule.map(|r| vec![r.to_string()]).unwrap_or_default(),
            detail,
        };
    if let Some(d) = denial {
        writeln!(err, "guard-exec: denied: {}", d.reason)?;
        crate::site::audit::append(
            &audit_log,
            &event(
                "denied",
                Some(&d.rule),
                serde_json::json!({"cwd": cwd_arg, "reason": d.reason}),
            ),
        )?;
        return Ok(Report {
            denial: Some(d),
            outcome: None,
            code: 1,
            audit_log,
        });
    }
    let cwd = cwd.expect("checked above");
    if req.dry_run {
        writeln!(err, "guard-exec: allowed (dry run): {shown}")?;
        crate::site::audit::append(
            &audit_log,
            &event("dry-run", None, serde_json::json!({"cwd": cwd})),
        )?;
        return Ok(Report {
            denial: None,
            outcome: None,
            code: 0,
            audit_log,
        });
    }
    let as_user = match &agent {
        Some(a) if nix::unistd::geteuid().is_root() => Some((a.uid, a.gid)),
        _ => None,
    };
    let outcome = run(
        &req.program,
        &RunOptions {
            cwd: cwd.clone(),
            timeout,
            grace: req.grace,
            as_user,
        },
        interrupt,
    );
    if let Some(e) = &outcome.spawn_error {
        writeln!(err, "guard-exec: cannot run {shown}: {e}")?;
    }
    if outcome.timed_out {
        writeln!(
            err,
            "guard-exec: time limit of {} s reached: the command and its process group were ended",
            timeout.as_secs_f64()
        )?;
    }
    let label = if outcome.timed_out {
        "timeout"
    } else if outcome.code == 0 {
        "ok"
    } else {
        "failed"
    };
    crate::site::audit::append(
        &audit_log,
        &event(
            label,
            None,
            serde_json::json!({
                "cwd": cwd,
                "exit_code": outcome.code,
                "duration_ms": outcome.duration.as_millis() as u64,
                "timeout_secs": timeout.as_secs_f64(),
            }),
        ),
    )?;
    Ok(Report {
        denial: None,
        code: outcome.code,
        outcome: Some(outcome),
        audit_log,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::policy::{Policy, PolicySource};

    fn rules(extra: &str) -> CommandRules {
        let p = Policy::parse(extra, PolicySource::Builtin).unwrap();
        CommandRules::new(&p.commands, &p.refs.protected).unwrap()
    }

    fn roots() -> (tempfile::TempDir, Roots) {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("code-repo")).unwrap();
        std::fs::create_dir(d.path().join("sandbox")).unwrap();
        let r = Roots::of_workspace(d.path()).unwrap();
        (d, r)
    }

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    fn judge(r: &CommandRules, roots: &Roots, a: &[&str]) -> Result<(), Denial> {
        let v: Vec<String> = a.iter().map(|s| s.to_string()).collect();
        r.judge_argv(&v, &roots.writable[0], roots)
    }

    #[test]
    fn default_denials_hold_through_spelling_variants() {
        let r = rules("");
        let (_d, ro) = roots();
        for denied in [
            &["git", "push"][..],
            &["/usr/bin/git", "push", "origin", "agent/x"],
            &["git", "-C", ".", "push"],
            &["git", "-c", "user.name=x", "push"],
            &["git", "commit", "-m", "msg", "--amend"],
            &["git", "commit", "--am"],
            &["git", "commit", "-qn", "-m", "x"],
            &["git", "commit", "--no-verify", "-m", "x"],
            &["git", "commit", "--no-ver", "-m", "x"],
            &["git", "-c", "CORE.HOOKSPATH=/dev/null", "commit"],
            &["git", "-c", "core.hooksPath=/dev/null", "status"],
            &["git", "--config-env=core.hooksPath=X", "status"],
            &["git", "-c", "alias.p=push", "p"],
            &["git", "config", "--local", "core.HooksPath", "/dev/null"],
            &["git", "checkout", "main"],
            &["git", "checkout", "-f", "origin/main"],
            &["git", "switch", "release/1.2"],
            &["git", "reset", "--soft", "main~1"],
            &["git", "reset", "--hard"],
            &["git", "branch", "-fq", "x"],
            &["rm", "-fr", "/"],
            &["rm", "-r", "-f", "/etc"],
            &["chmod", "-R", "777", "."],
            &["sudo", "ls"],
            &["docker", "compose", "up", "-d"],
            &["env", "FOO=1", "git", "push"],
            &["timeout", "-s", "KILL", "5", "git", "push"],
            &["nice", "-n", "5", "git", "merge", "x"],
            &["sh", "-c", "echo hi && git push"],
            &["bash", "-ec", "git   rebase main"],
            &["find", ".", "-exec", "git", "push", ";"],
            &["env", "GIT_CONFIG_COUNT=1", "git", "status"],
            &["git", "-C", "/", "status"],
        ] {
            assert!(judge(&r, &ro, denied).is_err(), "{denied:?} passed");
        }
        for allowed in [
            &["git", "status"][..],
            &["git", "commit", "-m", "push it"],
            &["git", "switch", "-c", "agent/y", "origin/main"],
            &["git", "checkout", "agent/x"],
            &["git", "log", "main"],
            &["git", "branch", "agent/z"],
            &["rm", "-rf", "build"],
            &["cargo", "test"],
            &["ls", "-la"],
            &["sh", "-c", "echo ok | wc -l"],
            &["git", "-c", "user.name=x", "commit", "-m", "x"],
        ] {
            assert_eq!(judge(&r, &ro, allowed), Ok(()), "{allowed:?}");
        }
    }

    #[test]
    fn allow_list_limits_what_runs() {
        let r = rules("[commands]\nallow = [\"cargo *\", \"git status\"]\n");
        let (_d, ro) = roots();
        assert_eq!(judge(&r, &ro, &["cargo", "build"]), Ok(()));
        assert_eq!(judge(&r, &ro, &["git", "status", "-s"]), Ok(()));
        let e = judge(&r, &ro, &["ls"]).unwrap_err();
        assert_eq!(e.rule, "commands.allow");
        // The allow list does not lift the guard's own refusals.
        let e = judge(&r, &ro, &["cargo", "install", "x"]).unwrap_err();
        assert_eq!(e.rule, "commands.deny");
    }

    #[test]
    fn splitter_splits_with_quoting() {
        let c = split_shell_line("git commit -m 'a && b' && echo \"x;y\" | wc -l ; ls").unwrap();
        let words: Vec<Vec<String>> = c.iter().map(|c| c.words.clone()).collect();
        assert_eq!(
            words,
            vec![
                argv("git commit -m"),
                argv("echo"),
                argv("wc -l"),
                argv("ls"),
            ]
            .into_iter()
            .enumerate()
            .map(|(i, mut w)| {
                if i == 0 {
                    w.push("a && b".into());
                }
                if i == 1 {
                    w.push("x;y".into());
                }
                w
            })
            .collect::<Vec<_>>()
        );
        let c = split_shell_line("FOO=1 make 2>&1 >out.txt").unwrap();
        assert_eq!(c[0].assignments, vec![("FOO".into(), "1".into())]);
        assert_eq!(c[0].words, argv("make"));
        assert_eq!(c[0].redirects.len(), 2);
        assert!(!c[0].redirects[0].writes);
        assert!(c[0].redirects[1].writes);
        assert_eq!(c[0].redirects[1].target, "out.txt");
    }

    #[test]
    fn splitter_refuses_what_it_cannot_judge() {
        for bad in [
            "echo $(git push)",
            "echo `git push`",
            "git commit -m \"$MSG\"",
            "X=push; git $X",
            "eval git push",
            "diff <(ls) <(ls)",
            "(git push)",
            "sleep 5 &",
            "if true; then git push; fi",
            "cat <<EOF",
            "git commit -*",
            "ls ~/x",
            "git commit --no-{verify,x}",
            "echo 'unterminated",
            "ls &&",
            "| ls",
            "source x.sh",
        ] {
            assert!(split_shell_line(bad).is_err(), "{bad:?} was split");
        }
        assert!(split_shell_line("ls ./*.rs src/*.rs; echo done;").is_ok());
    }

    #[test]
    fn shell_line_follows_cd_and_redirections() {
        let r = rules("");
        let (d, ro) = roots();
        let cwd = ro.writable[0].clone();
        assert_eq!(
            r.judge_line("cd ../sandbox && ls > out.txt", &cwd, &ro),
            Ok(())
        );
        assert!(r.judge_line("cd / && ls", &cwd, &ro).is_err());
        assert!(r.judge_line("ls > ../../outside.txt", &cwd, &ro).is_err());
        assert_eq!(r.judge_line("ls >/dev/null 2>&1", &cwd, &ro), Ok(()));
        assert!(r.judge_line("GIT_DIR=/x git status", &cwd, &ro).is_err());
        assert!(
            r.judge_line("echo ok && git   'push'", &cwd, &ro)
                .unwrap_err()
                .reason
                .contains("git push")
        );
        // A symlink out of a root is followed.
        std::os::unix::fs::symlink("/", d.path().join("sandbox/escape")).unwrap();
        assert!(r.judge_line("cd ../sandbox/escape/etc", &cwd, &ro).is_err());
    }

    #[test]
    fn protected_names() {
        let p = Policy::builtin();
        let pr = &p.refs.protected;
        for yes in [
            "main",
            "origin/main",
            "refs/heads/main",
            "main~2",
            "release/1.0",
            "+main",
        ] {
            assert!(is_protected_name(yes, pr), "{yes}");
        }
        for no in ["agent/x", "feature", "mainly", "refs/tags/main"] {
            assert!(!is_protected_name(no, pr), "{no}");
        }
    }
}
