//! `guard-exec`: run a command for the agent under the policy's `[commands]` section.
//!
//! `guard-exec --check -- 'LINE'` judges a shell line without running it (for a harness
//! hook), records the judgement and exits 0 (allowed) or 1 (denied).
//!
//! Exit status: the command's own; 124 when the time limit ended it; 126 when it could not be
//! run and 127 when it was not found (as shells); 1 when the policy refused it (the reason on
//! standard error); 2 when nothing could be judged (no workspace, a broken policy).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use clap::Parser;
use git_guard::exec::{self, Program, Request};

#[path = "shared/verbose.rs"]
mod verbose;

/// Run a command for the agent under the policy's [commands] section: deny and allow patterns,
/// the workspace's writable roots, a time limit on the whole process group, and a log.
#[derive(Parser)]
#[command(name = "guard-exec", version)]
struct Cli {
    /// Log what guard-exec does to standard error (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Time limit in seconds, fractions allowed, from 0.001 to one year (default: the
    /// policy's commands.timeout_secs).
    #[arg(long, value_name = "S", value_parser = parse_timeout)]
    timeout: Option<Duration>,
    /// Directory to run in (default: the workspace's code-repo); must be inside code-repo or
    /// sandbox.
    #[arg(long, value_name = "DIR")]
    cwd: Option<PathBuf>,
    /// Judge and log, but do not run.
    #[arg(long)]
    dry_run: bool,
    /// Judge the shell line given after `--` for the workspace, as a harness hook asks before a
    /// tool call runs: print the verdict (and a `hint:` line when denied), record it in the
    /// audit log, run nothing. Exit 0 allowed, 1 denied, 2 cannot judge.
    #[arg(long, conflicts_with_all = ["sh", "dry_run", "timeout", "policy"])]
    check: bool,
    /// The workspace (default: $AGENT_DATA_ROOT).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// The policy file (default: the one the workspace recorded).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// A simple shell line to judge command by command and run with `sh -c`.
    #[arg(long, value_name = "STRING", conflicts_with = "command")]
    sh: Option<String>,
    /// The command and its arguments (after `--`).
    #[arg(last = true, value_name = "CMD")]
    command: Vec<String>,
}

/// `--timeout S`: a number of seconds a clock can add to now and a command can use.
fn parse_timeout(s: &str) -> Result<Duration, String> {
    let max = git_guard::engine::policy::MAX_DURATION_SECS as f64;
    match s.trim().parse::<f64>() {
        Ok(t) if t.is_finite() && (0.001..=max).contains(&t) => Ok(Duration::from_secs_f64(t)),
        Ok(_) => Err(format!(
            "{s:?} cannot be used: give seconds from 0.001 to {max} (one year)"
        )),
        Err(_) => Err(format!("{s:?} is not a number of seconds")),
    }
}

static INTERRUPT: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: nix::libc::c_int) {
    INTERRUPT.store(sig, Ordering::SeqCst);
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    verbose::init_tracing(cli.verbose);
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    match run(cli, &mut err) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            let _ = writeln!(err, "guard-exec: Error: {e}");
            for cause in e.chain().skip(1) {
                let _ = writeln!(err, "Caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli, err: &mut dyn Write) -> anyhow::Result<i32> {
    let root = match cli
        .root
        .or_else(|| std::env::var_os("AGENT_DATA_ROOT").map(PathBuf::from))
    {
        Some(r) => r,
        None => anyhow::bail!("no workspace: pass --root DIR or set AGENT_DATA_ROOT"),
    };
    if cli.check {
        if cli.command.is_empty() {
            anyhow::bail!("nothing to judge: give `--check -- 'LINE'`");
        }
        let line = cli.command.join(" ");
        let j = exec::judge_for(&root, cli.cwd.as_deref(), &line)?;
        return Ok(match &j.denial {
            None => {
                writeln!(err, "guard-exec: allowed: {line}")?;
                0
            }
            Some(d) => {
                writeln!(err, "guard-exec: denied: {}", d.reason)?;
                writeln!(err, "hint: {}", d.hint)?;
                1
            }
        });
    }
    let program = match (cli.sh, cli.command.is_empty()) {
        (Some(s), _) => Program::Shell(s),
        (None, false) => Program::Argv(cli.command),
        (None, true) => anyhow::bail!("nothing to run: give `-- CMD ARGS...` or --sh 'LINE'"),
    };
    let timeout = cli.timeout;
    // Passed on to the command's process group, which does not receive terminal signals.
    let action = nix::sys::signal::SigAction::new(
        nix::sys::signal::SigHandler::Handler(on_signal),
        nix::sys::signal::SaFlags::empty(),
        nix::sys::signal::SigSet::empty(),
    );
    for sig in [
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGHUP,
    ] {
        // SAFETY: the handler only stores to an atomic.
        unsafe { nix::sys::signal::sigaction(sig, &action) }?;
    }
    let req = Request {
        root,
        policy: cli.policy,
        program,
        cwd: cli.cwd,
        timeout,
        dry_run: cli.dry_run,
        grace: Duration::from_secs(2),
    };
    let report = exec::execute(&req, err, Some(&INTERRUPT))?;
    Ok(report.code)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    #[test]
    fn every_argument_has_a_description() {
        let mut missing = Vec::new();
        crate::verbose::undescribed(&super::Cli::command(), "guard-exec", &mut missing);
        assert!(missing.is_empty(), "no description: {missing:#?}");
    }
}
