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
    /// Make and manage the agent's workspace: a clone sharing the upstream's objects, a
    /// sandbox, hooks it cannot write, and an environment file.
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// List every way the agent could get past the guard on this machine, with the fix.
    ///
    /// Exit status: 1 when anything high is found, 2 when something could not be checked,
    /// else 0.
    Doctor {
        /// The agent's workspace.
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
        /// The agent's unix user (default: the one the workspace recorded).
        #[arg(long, value_name = "USER")]
        agent_user: Option<String>,
        /// The upstream repository (default: the one the workspace was made from).
        repo: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum WorkspaceCommand {
    /// Make a workspace in DIR from the upstream repository.
    Create {
        /// The upstream repository (a local path).
        #[arg(long = "from", value_name = "UPSTREAM")]
        from: PathBuf,
        /// The workspace directory (new or empty).
        #[arg(long, value_name = "DIR")]
        root: PathBuf,
        /// The agent's branch is <agent namespace>/<topic> (default topic: DIR's name).
        #[arg(long, value_name = "NAME")]
        topic: Option<String>,
        /// Give code-repo and sandbox to this unix user, and nothing else (needs root).
        #[arg(long, value_name = "USER")]
        agent_user: Option<String>,
        /// The upstream branch to start from (default: the upstream's HEAD).
        #[arg(long, value_name = "BRANCH")]
        base: Option<String>,
        /// The policy to record (default: policy.toml of the base branch, else the built-in).
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// `Name <email>` for the agent to commit with.
        #[arg(long, value_name = "IDENT")]
        identity: Option<String>,
    },
    /// Branch, ahead/behind the upstream, outstanding findings, last verdict.
    Status {
        /// The workspace (default: $AGENT_DATA_ROOT).
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
    },
    /// Back to a fresh clone of the upstream (local commits are dropped; sandbox is kept).
    Reset {
        /// The workspace (default: $AGENT_DATA_ROOT).
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
    },
    /// Delete the workspace and its keep-alive refs in the upstream.
    Remove {
        /// The workspace (default: $AGENT_DATA_ROOT).
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
    },
}

fn workspace_root(root: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    root.or_else(|| std::env::var_os("AGENT_DATA_ROOT").map(PathBuf::from))
        .ok_or_else(|| anyhow::anyhow!("no workspace: pass --root DIR or set AGENT_DATA_ROOT"))
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
        Command::Workspace(cmd) => run_workspace(cmd, out),
        Command::Doctor {
            root,
            agent_user,
            repo,
        } => {
            let report = git_guard::doctor::run(&git_guard::doctor::Options {
                root,
                agent_user,
                repo,
            })?;
            report.render_text(out)?;
            Ok(report.exit_code())
        }
    }
}

fn run_workspace(cmd: WorkspaceCommand, out: &mut dyn Write) -> anyhow::Result<u8> {
    use git_guard::workspace;
    match cmd {
        WorkspaceCommand::Create {
            from,
            root,
            topic,
            agent_user,
            base,
            policy,
            identity,
        } => {
            let created = workspace::create(&workspace::CreateOptions {
                upstream: from,
                root,
                topic,
                agent_user,
                base,
                policy,
                identity,
            })?;
            writeln!(out, "{created}")?;
        }
        WorkspaceCommand::Status { root } => {
            let status = workspace::status(&workspace_root(root)?)?;
            writeln!(out, "{status}")?;
        }
        WorkspaceCommand::Reset { root } => {
            let created = workspace::reset(&workspace_root(root)?)?;
            writeln!(out, "{created}")?;
        }
        WorkspaceCommand::Remove { root } => {
            let root = workspace_root(root)?;
            let n = workspace::remove(&root)?;
            writeln!(
                out,
                "removed {} and {n} keep-alive ref(s) in the upstream",
                root.display()
            )?;
        }
    }
    Ok(0)
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
