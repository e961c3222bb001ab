//! `guard-hook`: git-guard at git's hook doors.
//!
//! Usage: `guard-hook [-v] [--config FILE] [--shim PATH] <hook> [git's arguments]`; `guard-hook
//! <hook> --help` says what one hook judges and what git gives it.
//!
//! Hooks: pre-commit, commit-msg, pre-push, reference-transaction (client); pre-receive,
//! update, post-receive (server). The shims `git guard install` writes call it with the
//! configuration recorded beside them and their own path, so that the hook they replaced still
//! runs afterwards with the same arguments and standard input.
//!
//! Exit status: 0 passed, 1 rejected by policy, 2 could not judge (which rejects as well).
//!
//! Hidden: `guard-hook judge-import RECORD` judges an admin's import that pre-receive accepted
//! over the deadline; post-receive starts it in the background (docs/HOOKS.md, "Admin imports").

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use git_guard::hooks::{self, Invocation};
use git_guard::site::config::{self, Hook, HookConfig};

#[path = "shared/verbose.rs"]
mod verbose;

const USAGE: &str = "usage: guard-hook [-v] [--config FILE] [--shim PATH] <hook> [args...]
hooks: pre-commit commit-msg pre-push reference-transaction pre-receive update post-receive

git runs it through the shims `git guard install` writes; `guard-hook <hook> --help` says
what one hook judges. Exit status: 0 passed, 1 rejected by policy, 2 could not judge.
  -v, --verbose    log what git-guard does to standard error (repeat for more)
  --config FILE    the hook configuration (default: git-guard.toml beside --shim)
  --shim PATH      the shim git ran, whose moved-aside hook runs afterwards";

/// What one hook judges and what git gives it, for `guard-hook <hook> --help`.
fn hook_help(hook: Hook) -> &'static str {
    match hook {
        Hook::PreCommit => {
            "guard-hook pre-commit: judge the staged index against HEAD (client side, advisory).\n\
             git gives it no arguments and no input."
        }
        Hook::CommitMsg => {
            "guard-hook commit-msg FILE: judge the commit message in FILE (commits.message_pattern,\n\
             commits.required_trailers; client side, advisory)."
        }
        Hook::PrePush => {
            "guard-hook pre-push REMOTE URL: judge each ref update on standard input\n\
             (`<local ref> <local id> <remote ref> <remote id>` lines) as the server will\n\
             (client side, advisory)."
        }
        Hook::ReferenceTransaction => {
            "guard-hook reference-transaction STATE: refuse local updates of protected refs by an\n\
             agent (`<old> <new> <ref>` lines on standard input; client side, advisory)."
        }
        Hook::PreReceive => {
            "guard-hook pre-receive: judge every pushed ref update (`<old> <new> <ref>` lines on\n\
             standard input) with the objects in git's quarantine; the authoritative server door."
        }
        Hook::Update => "guard-hook update REF OLD NEW: judge one pushed ref update (server side).",
        Hook::PostReceive => {
            "guard-hook post-receive: record the accepted push (`<old> <new> <ref>` lines on\n\
             standard input) in the audit log and the push log (server side)."
        }
    }
}

/// The known hook nearest to a mistyped name, for "did you mean".
fn nearest_hook(name: &str) -> Option<&'static str> {
    Hook::ALL
        .iter()
        .map(|h| (strsim::jaro_winkler(name, h.name()), h.name()))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| n)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut config: Option<PathBuf> = None;
    let mut shim: Option<PathBuf> = None;
    let mut verbose = 0u8;
    let hook = loop {
        match args.next().as_deref() {
            Some("--config") => config = args.next().map(PathBuf::from),
            Some("--shim") => shim = args.next().map(PathBuf::from),
            Some("--verbose") => verbose = verbose.saturating_add(1),
            Some(v) if v.len() > 1 && v.starts_with('-') && v[1..].bytes().all(|b| b == b'v') => {
                verbose = verbose.saturating_add((v.len() - 1).min(255) as u8)
            }
            Some("--version" | "-V") => {
                println!("guard-hook {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            Some("--help" | "-h") => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            // Hidden: what post-receive starts in the background for an admin's import
            // accepted over the deadline (and what an admin runs again by hand).
            Some(hooks::JUDGE_IMPORT) => return judge_import(args.collect(), verbose),
            Some(name) => match Hook::parse(name) {
                Some(h) => break h,
                None => {
                    let hint = nearest_hook(name)
                        .map(|n| format!(" (did you mean {n:?}?)"))
                        .unwrap_or_default();
                    eprintln!("guard-hook: unknown hook {name:?}{hint}\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            None => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    };
    let rest: Vec<String> = args.collect();
    // git never passes a lone `--help` to a hook (its arguments are files, remote names, URLs,
    // states and ref names), so a person asking for help gets it instead of a verdict.
    if matches!(rest.as_slice(), [h] if h == "--help" || h == "-h") {
        println!("{}\n\n{USAGE}", hook_help(hook));
        return ExitCode::SUCCESS;
    }
    verbose::init_tracing(verbose);
    let stderr = std::io::stderr();
    let mut out = stderr.lock();

    let config = config.or_else(|| shim.as_deref().and_then(config::config_beside));
    let config = match &config {
        Some(path) => match HookConfig::load(path) {
            Ok(c) => c,
            Err(e) => {
                let _ = writeln!(out, "git-guard: REJECTED: could not judge: {e:#}");
                return ExitCode::from(2);
            }
        },
        None => HookConfig::new(if hook.is_server() {
            config::Side::Server
        } else {
            config::Side::Client
        }),
    };
    let inv = match Invocation::from_process(config) {
        Ok(i) => i,
        Err(e) => {
            let _ = writeln!(out, "git-guard: REJECTED: could not judge: {e:#}");
            return ExitCode::from(2);
        }
    };
    let mut stdin = Vec::new();
    if hook.reads_stdin()
        && let Err(e) = std::io::stdin().read_to_end(&mut stdin)
    {
        let _ = writeln!(out, "git-guard: REJECTED: cannot read standard input: {e}");
        return ExitCode::from(2);
    }

    let code = hooks::run(hook, &inv, &rest, &stdin, &mut out);
    let _ = out.flush();
    drop(out);

    let chained = shim
        .as_deref()
        .and_then(|s| hooks::chained_hook(s, hook, &inv));
    if let Some(path) = chained
        && hooks::runs_chained(hook, &rest, code)
    {
        let chained_code = run_chained(&path, &rest, hook.reads_stdin().then_some(&stdin[..]));
        if code == 0 {
            return ExitCode::from(chained_code);
        }
    }
    ExitCode::from(code)
}

/// `guard-hook judge-import RECORD`: judge one pending admin import (see
/// `git_guard::hooks::judge_import`). Exit status: 0 judged (the verdict is in the audit log),
/// 2 could not judge (recorded in the audit log and the record), 3 another judge holds it.
fn judge_import(args: Vec<String>, verbose: u8) -> ExitCode {
    let [record] = args.as_slice() else {
        eprintln!("usage: guard-hook {} RECORD", hooks::JUDGE_IMPORT);
        return ExitCode::from(2);
    };
    verbose::init_tracing(verbose);
    let stderr = std::io::stderr();
    let mut out = stderr.lock();
    match hooks::judge_import(std::path::Path::new(record), &mut out) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let _ = writeln!(out, "git-guard: could not judge the import: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Run the hook install moved aside, with git's arguments and the same standard input; its
/// output goes where git-guard's does.
fn run_chained(path: &std::path::Path, args: &[String], stdin: Option<&[u8]>) -> u8 {
    let mut cmd = Command::new(path);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::inherit()
        })
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "git-guard: cannot run the chained hook {}: {e}",
                path.display()
            );
            return 2;
        }
    };
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A hook that exits without reading its input is not an error.
        let _ = pipe.write_all(input);
    }
    match child.wait() {
        Ok(s) => s.code().map(|c| c.clamp(0, 255) as u8).unwrap_or(2),
        Err(e) => {
            eprintln!("git-guard: the chained hook {} failed: {e}", path.display());
            2
        }
    }
}
