//! git's global options taken apart the way the judge needs them (`-C`, `-c`, `--git-dir`,
//! ...), and the refusals on git that hold whatever the policy says because they switch the
//! guard itself off. Runs nothing.

use std::ffi::OsStr;
use std::path::Path;

use super::judge::CommandRules;
use super::{Denial, Roots};

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

pub(crate) fn normalise(argv: &[String]) -> Normal {
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

impl CommandRules {
    /// The refusals that hold whatever the policy says: they switch the guard off.
    pub(crate) fn git_guard_rules(
        &self,
        n: &Normal,
        cwd: &Path,
        roots: &Roots,
    ) -> Result<(), Denial> {
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
}
