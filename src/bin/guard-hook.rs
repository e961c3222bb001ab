//! `guard-hook`: git-guard at git's hook doors.
//!
//! Usage: `guard-hook [--config FILE] [--shim PATH] <hook> [git's arguments]`
//!
//! Hooks: pre-commit, commit-msg, pre-push, reference-transaction (client); pre-receive,
//! update, post-receive (server). The shims `git guard install` writes call it with the
//! configuration recorded beside them and their own path, so that the hook they replaced still
//! runs afterwards with the same arguments and standard input.
//!
//! Exit status: 0 passed, 1 rejected by policy, 2 could not judge (which rejects as well).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use git_guard::hooks::{self, Invocation};
use git_guard::site::config::{self, Hook, HookConfig};

const USAGE: &str = "usage: guard-hook [--config FILE] [--shim PATH] <hook> [args...]
hooks: pre-commit commit-msg pre-push reference-transaction pre-receive update post-receive";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut config: Option<PathBuf> = None;
    let mut shim: Option<PathBuf> = None;
    let hook = loop {
        match args.next().as_deref() {
            Some("--config") => config = args.next().map(PathBuf::from),
            Some("--shim") => shim = args.next().map(PathBuf::from),
            Some("--version" | "-V") => {
                println!("guard-hook {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            Some("--help" | "-h") => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            Some(name) => match Hook::parse(name) {
                Some(h) => break h,
                None => {
                    eprintln!("guard-hook: unknown hook {name:?}\n{USAGE}");
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
