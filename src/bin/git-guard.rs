//! `git guard`: the human and admin command line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use git_guard::check;
use git_guard::policy::Policy;

/// Guards at every door through which an AI agent's code reaches a repository people rely on.
///
/// Exit status: 0 passed, 1 rejected by policy, 2 could not judge (bad input, unreadable
/// objects, a broken policy).
#[derive(Parser)]
#[command(
    name = "git guard",
    bin_name = "git guard",
    version,
    propagate_version = true
)]
struct Cli {
    /// Log what git-guard does to standard error (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Judge the staged change or commit ranges against the policy.
    ///
    /// The policy is the built-in default unless --policy names a file; it is never read from
    /// the repository being judged. Prints every violation, flag and note with its rule id and
    /// a hint. Exit status: 0 passed, 1 rejected by policy, 2 could not judge.
    Check {
        /// The policy file (default: the built-in policy).
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// Output format; `json` is stable and documented in docs/OUTPUT.md.
        #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
        format: String,
        /// Judge as this identity (default: the unix user).
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
        /// Judge the staged index against HEAD.
        #[arg(long, conflicts_with = "ranges")]
        staged: bool,
        /// Commits to judge: `REV` (one commit) or `A..B` (commits in B not in A).
        #[arg(value_name = "RANGE", required_unless_present = "staged")]
        ranges: Vec<String>,
    },
    /// Validate and explain policy files.
    #[command(subcommand)]
    Policy(PolicyCommand),
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Validate a policy file (default: ./policy.toml), reporting every problem at once.
    Check {
        /// The policy file.
        file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match run(cli.command, &mut out) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let _ = out.flush();
            eprintln!("Error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("Caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}

fn run(command: Command, out: &mut dyn Write) -> anyhow::Result<u8> {
    match command {
        Command::Check {
            policy,
            format,
            actor,
            staged,
            ranges,
        } => {
            let opts = check::CheckOptions {
                repo_dir: PathBuf::from("."),
                policy,
                format: check::Format::parse(&format)?,
                actor,
                subject: if staged {
                    check::Subject::Staged
                } else {
                    check::Subject::Ranges(ranges)
                },
            };
            let code = check::run(&opts, out)?;
            Ok(u8::try_from(code).unwrap_or(2))
        }
        Command::Policy(PolicyCommand::Check { file }) => {
            let file = file.unwrap_or_else(|| PathBuf::from("policy.toml"));
            let policy = Policy::load(&file)?;
            writeln!(out, "{}: ok (mode {:?})", policy.source, policy.mode)?;
            Ok(0)
        }
    }
}

fn init_tracing(verbose: u8) {
    let filter = match verbose {
        0 => std::env::var("RUST_LOG").unwrap_or_else(|_| "off".into()),
        1 => "git_guard=info".into(),
        2 => "git_guard=debug".into(),
        _ => "trace".into(),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
}
