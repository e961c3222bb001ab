//! git's command line taken apart the way git itself reads it: the global options before the
//! subcommand (`-C DIR`, `-c KEY=VALUE`, `--config-env`, `--git-dir`, `--work-tree`,
//! `--namespace`, `--attr-source`, `--exec-path`, ... with their value in the same word after
//! `=` or in the next word, exactly where git accepts each form), long options that equal
//! denied short ones, the configuration keys that run a program, and a push's target. Parses
//! only: judges nothing and runs nothing.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

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
