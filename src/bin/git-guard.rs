//! `git guard`: the human and admin command line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
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
    /// Validate and explain policy files.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Install git-guard's hooks: client hooks into a working clone, server hooks into a bare
    /// repository. Hooks already there are kept and still run; installing twice changes nothing.
    Install(InstallArgs),
    /// Remove git-guard's hooks and put back what install moved aside.
    Uninstall {
        /// The repository (default: the current directory).
        repo: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct InstallArgs {
    /// Client hooks (pre-commit, commit-msg, pre-push, reference-transaction); the default for
    /// a working clone.
    #[arg(long, conflicts_with = "server")]
    client: bool,
    /// Server hooks (pre-receive, post-receive); the default for a bare repository.
    #[arg(long)]
    server: bool,
    /// Where the hooks go: plain (<git dir>/hooks), gitlab (custom_hooks/<hook>.d/),
    /// gitea or forgejo (hooks/<hook>.d/).
    #[arg(long, default_value = "plain", value_parser = ["plain", "gitlab", "gitea", "forgejo"])]
    layout: String,
    /// The host whose variable names the pusher: plain (the unix user), gitlab (GL_USERNAME),
    /// gitea (GITEA_PUSHER_NAME), gitolite (GL_USER), github (GITHUB_USER_LOGIN),
    /// http (REMOTE_USER). Default: the layout's host.
    #[arg(long, value_parser = ["plain", "gitlab", "gitea", "forgejo", "gitolite", "github", "http"])]
    host: Option<String>,
    /// The policy file the hooks use (default: policy.toml at the tip of the base branch,
    /// else the built-in policy).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// The audit log (default: the policy's audit.log, else <git dir>/guard/audit.log).
    #[arg(long)]
    audit_log: Option<PathBuf>,
    /// Reject pushes not judged within this many milliseconds (default: the policy's
    /// hooks.deadline_ms).
    #[arg(long)]
    deadline_ms: Option<u64>,
    /// The repository (default: the current directory).
    repo: Option<PathBuf>,
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
        Command::Policy(PolicyCommand::Check { file }) => {
            let file = file.unwrap_or_else(|| PathBuf::from("policy.toml"));
            let policy = Policy::load(&file)?;
            writeln!(out, "{}: ok (mode {:?})", policy.source, policy.mode)?;
            Ok(0)
        }
        Command::Install(a) => {
            let opts = git_guard::install::InstallOptions {
                side: match (a.client, a.server) {
                    (true, _) => Some(git_guard::hook::Side::Client),
                    (_, true) => Some(git_guard::hook::Side::Server),
                    _ => None,
                },
                layout: git_guard::hook::Layout::parse(&a.layout)
                    .ok_or_else(|| anyhow::anyhow!("unknown layout {}", a.layout))?,
                host: match a.host.as_deref() {
                    Some(h) => Some(
                        git_guard::identity::Host::parse(h)
                            .ok_or_else(|| anyhow::anyhow!("unknown host {h}"))?,
                    ),
                    None => None,
                },
                policy: a.policy,
                audit_log: a.audit_log,
                deadline_ms: a.deadline_ms,
                guard_hook: git_guard::install::find_guard_hook()?,
            };
            let repo = a.repo.unwrap_or_else(|| PathBuf::from("."));
            git_guard::install::install(&repo, &opts, out)?;
            Ok(0)
        }
        Command::Uninstall { repo } => {
            let repo = repo.unwrap_or_else(|| PathBuf::from("."));
            git_guard::install::uninstall(&repo, out)?;
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
