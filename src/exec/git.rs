//! git's command line taken apart the way git itself reads it: the global options before the
//! subcommand (`-C DIR`, `-c KEY=VALUE`, `--config-env`, `--git-dir`, `--work-tree`,
//! `--namespace`, `--attr-source`, `--exec-path`, ... with their value in the same word after
//! `=` or in the next word, exactly where git accepts each form), the refusals on git that
//! hold whatever the policy says because they switch the guard itself off or run a program
//! the judge cannot see, and the judgement of a push by its refspecs. Runs nothing.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::judge::CommandRules;
use super::{Denial, Roots};
use crate::engine::policy::RefPatterns;

/// A command line taken apart for matching.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Normal {
    /// Base name of the program.
    pub(crate) program: String,
    /// Option words (`-rf`, `--amend`, `--config=core.hookspath=/dev/null`).
    pub(crate) options: Vec<String>,
    /// The other words, in order.
    pub(crate) words: Vec<String>,
    /// Directories named by git's `-C`, `--git-dir`, `--work-tree`.
    pub(crate) dirs: Vec<String>,
    /// git's global options that run programs from elsewhere (`--exec-path=DIR`).
    pub(crate) exec_path: Option<String>,
    /// Index in argv of git's subcommand.
    pub(crate) sub_index: Option<usize>,
}

pub(crate) fn base_name(program: &str) -> String {
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

/// git's global options that take a value, and whether git also takes it in the next word.
/// (git.c `handle_options`: `-C` and `-c` only take the next word; the long ones take both.)
const GIT_VALUE_OPTIONS: &[(&str, bool)] = &[
    ("-C", true),
    ("-c", true),
    ("--config-env", true),
    ("--git-dir", true),
    ("--work-tree", true),
    ("--namespace", true),
    ("--super-prefix", true),
    ("--attr-source", true),
    ("--exec-path", false),
    ("--list-cmds", false),
];

/// Short and long spellings that mean the same to a program, so a pattern written with one
/// catches the other: (program, subcommand or "", long option, short letters).
const SAME_AS_SHORT: &[(&str, &str, &str, &str)] = &[
    ("rm", "", "--recursive", "r"),
    ("rm", "", "--force", "f"),
    ("rm", "", "--dir", "d"),
    ("chmod", "", "--recursive", "R"),
    ("chown", "", "--recursive", "R"),
    ("cp", "", "--recursive", "r"),
    ("cp", "", "--force", "f"),
    ("git", "branch", "--force", "f"),
    ("git", "branch", "--delete", "d"),
    ("git", "branch", "--move", "m"),
    ("git", "checkout", "--force", "f"),
    ("git", "switch", "--force", "f"),
    ("git", "push", "--force", "f"),
    ("git", "clean", "--force", "f"),
    ("git", "commit", "--no-verify", "n"),
    ("git", "tag", "--force", "f"),
    ("git", "tag", "--delete", "d"),
];

/// Short letters that stand for several (`git branch -D` is `--delete --force`).
fn expand_short(program: &str, sub: &str, letters: &str) -> String {
    let mut out = String::new();
    for c in letters.chars() {
        match (program, sub, c) {
            ("git", "branch", 'D') | ("git", "tag", 'D') => out.push_str("df"),
            ("git", "branch", 'M') => out.push_str("mf"),
            ("rm", _, 'R') | ("cp", _, 'R') => out.push('r'),
            _ => out.push(c),
        }
    }
    out
}

/// `chmod` modes that give everyone everything, in every spelling, as `777`.
fn chmod_mode(word: &str) -> Option<&'static str> {
    let w = word.trim_start_matches('0');
    if w == "777" || w == "1777" || w == "2777" || w == "4777" || w == "6777" || w == "7777" {
        return Some("777");
    }
    let everyone = ["a+rwx", "ugo+rwx", "a=rwx", "ugo=rwx", "+rwx", "=rwx"];
    everyone.contains(&word).then_some("777")
}

pub(crate) fn normalise(argv: &[String]) -> Normal {
    let mut n = Normal {
        program: base_name(argv.first().map(String::as_str).unwrap_or("")),
        ..Normal::default()
    };
    let mut i = 1;
    if n.program == "git" {
        // git's global options come before the subcommand.
        while i < argv.len() {
            let a = argv[i].as_str();
            if !a.starts_with('-') || a == "-" {
                break;
            }
            i += 1;
            if a == "--" {
                break;
            }
            let mut taken = None;
            for (name, next_word) in GIT_VALUE_OPTIONS {
                if let Some(v) = a.strip_prefix(name).and_then(|r| r.strip_prefix('='))
                    && name.starts_with("--")
                {
                    taken = Some((*name, Some(v.to_string())));
                    break;
                }
                if a == *name {
                    let v = if *next_word {
                        let v = argv.get(i).cloned();
                        i += 1;
                        v
                    } else {
                        None
                    };
                    taken = Some((*name, v));
                    break;
                }
            }
            match taken {
                Some(("-C" | "--git-dir" | "--work-tree", Some(d))) => n.dirs.push(d),
                Some(("-c" | "--config-env", Some(kv))) => n.options.push(config_word(&kv)),
                Some(("--exec-path", Some(d))) => n.exec_path = Some(d),
                Some(("--attr-source", Some(v))) => n.options.push(format!("--attr-source={v}")),
                Some(_) => {}
                None => n.options.push(a.to_string()),
            }
        }
        if i < argv.len() {
            n.sub_index = Some(i);
        }
    }
    let sub = n
        .sub_index
        .and_then(|s| argv.get(s))
        .cloned()
        .unwrap_or_default();
    let mut after_dashdash = false;
    for a in &argv[i.min(argv.len())..] {
        if after_dashdash || !a.starts_with('-') || a == "-" {
            match (n.program.as_str(), chmod_mode(a)) {
                ("chmod", Some(m)) => n.words.push(m.to_string()),
                _ => n.words.push(a.clone()),
            }
        } else if a == "--" {
            after_dashdash = true;
        } else if let Some(long) = a.strip_prefix("--") {
            let name = long.split('=').next().unwrap_or(long);
            let short = SAME_AS_SHORT.iter().find(|(p, s, l, _)| {
                *p == n.program && (s.is_empty() || *s == sub) && l[2..] == *name
            });
            match short {
                Some((_, _, _, letters)) => n.options.push(format!("-{letters}")),
                None => n.options.push(a.clone()),
            }
        } else {
            let letters = expand_short(&n.program, &sub, &a[1..]);
            n.options.push(format!("-{letters}"));
        }
    }
    n
}

/// Configuration keys whose value git runs as a program (or that load more configuration, or
/// switch hooks): refused on the command line (`-c`, `--config-env`, `GIT_CONFIG_*`,
/// `GIT_CONFIG_PARAMETERS`) and in `git config`. `key` is lower-case.
pub(crate) fn runs_a_program(key: &str) -> bool {
    const EXACT: &[&str] = &[
        "core.hookspath",
        "core.fsmonitor",
        "core.editor",
        "core.pager",
        "core.sshcommand",
        "core.askpass",
        "core.gitproxy",
        "core.alternaterefscommand",
        "core.worktree",
        "credential.helper",
        "diff.external",
        "sequence.editor",
        "gpg.program",
        "uploadpack.packobjectshook",
        "include.path",
        "init.templatedir",
        "interactive.difffilter",
        "ssh.variant",
        "web.browser",
        "sendemail.smtpserver",
        "sendemail.tocmd",
        "sendemail.cccmd",
        "receive.procreceiverefs",
    ];
    const PREFIX: &[&str] = &["alias.", "pager.", "includeif.", "protocol."];
    const SUFFIX: &[&str] = &[
        ".textconv",
        ".command",
        ".cmd",
        ".driver",
        ".clean",
        ".smudge",
        ".process",
        ".program",
        ".helper",
        ".receivepack",
        ".uploadpack",
        ".proxy",
        ".path",
        ".update",
        ".insteadof",
        ".pushinsteadof",
    ];
    EXACT.contains(&key)
        || PREFIX.iter().any(|p| key.starts_with(p))
        || SUFFIX.iter().any(|s| key.ends_with(s))
}

/// Where a judged push may go, as guard-exec found it for the workspace.
#[derive(Debug, Clone, Default)]
pub struct PushTarget {
    /// The workspace's upstream repository.
    pub upstream: PathBuf,
    /// Remote names in the clone whose URL is the upstream (`origin`).
    pub remotes: Vec<String>,
    /// The agent namespace (`refs/heads/agent/*`).
    pub namespace: RefPatterns,
    pub namespace_text: String,
    /// The agent's branch (`agent/<topic>`), for the hint.
    pub branch: String,
    /// The branch checked out in the clone, for a refspec of `HEAD`.
    pub head: Option<String>,
}

/// Options of `git push` that push more than the refspecs name, or delete, or choose the
/// receiving program.
const PUSH_REFUSED: &[&str] = &[
    "--all",
    "--branches",
    "--mirror",
    "--tags",
    "--follow-tags",
    "--delete",
    "-d",
    "--prune",
    "--receive-pack",
    "--exec",
    "--repo",
];
/// Options of `git push` and `git send-pack` whose value is the next word.
const PUSH_VALUE_OPTIONS: &[&str] = &["-o", "--push-option", "--receive-pack", "--exec", "--repo"];

impl CommandRules {
    /// The refusals that hold whatever the policy says: they switch the guard off or run a
    /// program the judge cannot see.
    pub(crate) fn git_guard_rules(
        &self,
        n: &Normal,
        cwd: &Path,
        roots: &Roots,
    ) -> Result<(), Denial> {
        let guard =
            |reason: String, hint: &str| Err(Denial::new("commands.guard", reason).hint(hint));
        for d in &n.dirs {
            if !roots.contains(cwd, d) {
                return guard(
                    format!("git is pointed at {d}, outside the workspace's writable roots"),
                    "run git in the clone: drop -C/--git-dir/--work-tree, or name a directory inside code-repo/ or sandbox/",
                );
            }
        }
        if let Some(d) = &n.exec_path {
            return guard(
                format!("`--exec-path={d}` makes git run its commands from another directory"),
                "drop --exec-path: git's own programs are the ones that run",
            );
        }
        for o in &n.options {
            if let Some(kv) = o.strip_prefix("--config=") {
                let key = kv.split('=').next().unwrap_or("");
                if runs_a_program(key) {
                    return guard(
                        format!(
                            "`-c {key}=...` sets configuration that runs a program or switches the hooks off"
                        ),
                        "drop the -c: the clone's configuration is what git uses here",
                    );
                }
            } else if let Some(long) = o.strip_prefix("--") {
                let name = long.split('=').next().unwrap_or("");
                if name.len() >= 4 && "no-verify".starts_with(name) {
                    return guard(
                        format!("`{o}` skips the client hooks"),
                        "commit and push with the hooks on: fix what they report instead",
                    );
                }
            }
        }
        let sub = n.words.first().map(String::as_str).unwrap_or("");
        if sub == "commit"
            && n.options
                .iter()
                .any(|o| !o.starts_with("--") && o.contains('n'))
        {
            return guard(
                "`git commit -n` skips the client hooks".into(),
                "commit without -n/--no-verify and fix what the hooks report",
            );
        }
        if sub == "config"
            && let Some(key) = n
                .words
                .iter()
                .skip(1)
                .chain(n.options.iter())
                .map(|w| w.to_ascii_lowercase())
                .map(|w| {
                    w.trim_start_matches("--")
                        .split('=')
                        .next()
                        .unwrap_or("")
                        .to_string()
                })
                .find(|w| runs_a_program(w))
        {
            return guard(
                format!(
                    "`git config {key}` sets configuration that runs a program or switches the hooks off"
                ),
                "leave that key alone; set only keys such as user.name or branch.*",
            );
        }
        Ok(())
    }

    /// A push (`git push`, `git send-pack`): only the agent namespace, only to the upstream.
    pub(crate) fn judge_push(&self, argv: &[String], n: &Normal) -> Result<(), Denial> {
        let sub_at = n.sub_index.unwrap_or(1);
        let sub = argv.get(sub_at).map(String::as_str).unwrap_or("");
        let Some(target) = &self.push else {
            return Err(Denial::new(
                "commands.push",
                format!("`git {sub}` outside a workspace has no upstream to go to"),
            )
            .hint("run guard-exec with --root of the workspace whose upstream you push to"));
        };
        let own = format!("git push origin {}", target.branch);
        let deny = |reason: String| {
            Err(Denial::new("commands.push", reason)
                .hint(&format!("push your own branch: `{own}`")))
        };
        let mut words = Vec::new();
        let mut i = sub_at + 1;
        let mut dashdash = false;
        while i < argv.len() {
            let a = argv[i].as_str();
            i += 1;
            if dashdash || !a.starts_with('-') || a == "-" {
                words.push(a.to_string());
                continue;
            }
            if a == "--" {
                dashdash = true;
                continue;
            }
            let name = a.split('=').next().unwrap_or(a);
            let refused = PUSH_REFUSED.iter().any(|r| {
                *r == name
                    || (name.len() > 3
                        && name.starts_with("--")
                        && r.starts_with(name)
                        && r.len() > 2)
            });
            if refused {
                return deny(format!(
                    "`git {sub} {a}` pushes or deletes more than the branch named"
                ));
            }
            if PUSH_VALUE_OPTIONS.contains(&a) {
                i += 1;
            }
        }
        let Some((remote, refspecs)) = words.split_first() else {
            return deny(format!(
                "`git {sub}` without a remote and a branch pushes what the configuration says"
            ));
        };
        let to_upstream = target.remotes.iter().any(|r| r == remote)
            || Path::new(remote)
                .canonicalize()
                .is_ok_and(|p| p == target.upstream);
        if !to_upstream {
            return deny(format!(
                "`{remote}` is not the workspace's upstream ({})",
                target.upstream.display()
            ));
        }
        if refspecs.is_empty() {
            return deny(format!(
                "`git {sub} {remote}` without a branch pushes what the configuration says"
            ));
        }
        for spec in refspecs {
            let s = spec.trim_start_matches('+');
            let (src, dst) = match s.split_once(':') {
                Some((a, b)) => (a, b),
                None => (s, s),
            };
            if src.is_empty() {
                return deny(format!("`{spec}` deletes {dst}"));
            }
            if s.contains('*') {
                return deny(format!(
                    "`{spec}` is a pattern: it can push more than one branch"
                ));
            }
            let dst = if dst == "HEAD" || dst == "@" {
                match &target.head {
                    Some(h) => h.as_str(),
                    None => return deny(format!("`{spec}`: the clone has no branch checked out")),
                }
            } else {
                dst
            };
            let full = if dst.starts_with("refs/") {
                dst.to_string()
            } else {
                format!("refs/heads/{dst}")
            };
            if !target.namespace.is_match(&full) {
                return deny(format!(
                    "`{spec}` updates {full}, outside the agent namespace {}",
                    target.namespace_text
                ));
            }
        }
        Ok(())
    }
}
