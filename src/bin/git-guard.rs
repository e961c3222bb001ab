//! `git guard`: the human and admin command line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use git_guard::policy::{self, Policy};
use git_guard::{audit, check, explain};

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
    /// Show or verify the audit log: one hash-chained JSON record per decision.
    ///
    /// Exit status with --verify: 0 the chain is intact, 1 it is broken (the first bad line is
    /// named, and why), 2 the log could not be read.
    Log {
        /// The audit log (default: [audit] log of --policy, else <git dir>/guard/audit.log).
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
        /// The policy whose [audit] log to read.
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// Only records from this time on: an RFC 3339 date or date-time, or a span back from
        /// now (30m, 2h, 3d, 1w).
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// Check the hash chain from the first line to the last instead of listing records.
        #[arg(long)]
        verify: bool,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
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

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
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
    ///
    /// Exit status: 0 valid, 2 any problem (each named by file:line:column and key).
    Check {
        /// The policy file.
        file: Option<PathBuf>,
    },
    /// Say which of the policy's path lists match each path, with the patterns, and what that
    /// means for a change to it.
    Explain {
        /// The policy (default: ./policy.toml when there is one, else the built-in default).
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Paths relative to the repository root.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
    },
    /// Print the built-in default policy, every key documented.
    Show,
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
            match Policy::load(&file) {
                Ok(policy) => {
                    writeln!(
                        out,
                        "{}: ok: mode {}, {} protected refs, {} denied path patterns, caps {} files / {} lines / {} bytes",
                        policy.source,
                        match policy.mode {
                            policy::Mode::Enforce => "enforce",
                            policy::Mode::Warn => "warn (dry run: nothing is blocked)",
                        },
                        policy.refs.protected.patterns.len(),
                        policy.paths.deny.patterns.len(),
                        policy.caps.max_files,
                        policy.caps.max_lines,
                        policy.caps.max_blob_bytes,
                    )?;
                    Ok(0)
                }
                Err(e) => {
                    report_policy_error(&e);
                    Ok(2)
                }
            }
        }
        Command::Policy(PolicyCommand::Explain {
            policy,
            format,
            paths,
        }) => {
            let policy = match policy {
                Some(file) => Policy::load(&file),
                None if std::path::Path::new("policy.toml").is_file() => {
                    Policy::load(std::path::Path::new("policy.toml"))
                }
                None => Ok(Policy::builtin()),
            };
            let policy = match policy {
                Ok(p) => p,
                Err(e) => {
                    report_policy_error(&e);
                    return Ok(2);
                }
            };
            let mut explained = Vec::new();
            for p in &paths {
                let path = explain::normalize(p).map_err(anyhow::Error::msg)?;
                explained.push(explain::explain_path(&policy, &path));
            }
            match format {
                Format::Text => {
                    writeln!(
                        out,
                        "policy: {} (patterns match {})",
                        policy.source,
                        if policy.paths.case_insensitive {
                            "ignoring case"
                        } else {
                            "case-sensitively"
                        }
                    )?;
                    explain::render_text(&explained, out)?;
                }
                Format::Json => explain::render_json(&policy, &explained, out)?,
            }
            Ok(0)
        }
        Command::Policy(PolicyCommand::Show) => {
            out.write_all(policy::DEFAULT_POLICY.as_bytes())?;
            Ok(0)
        }
        Command::Log {
            file,
            policy,
            since,
            verify,
            format,
        } => {
            let path = match (file, policy) {
                (Some(f), _) => f,
                (None, Some(p)) => match Policy::load(&p) {
                    Ok(p) => match p.audit.log {
                        Some(log) => log,
                        None => audit::repo_log_path(std::path::Path::new("."))?,
                    },
                    Err(e) => {
                        report_policy_error(&e);
                        return Ok(2);
                    }
                },
                (None, None) => audit::repo_log_path(std::path::Path::new("."))?,
            };
            let since = since
                .map(|s| audit::parse_since(&s, std::time::SystemTime::now()))
                .transpose()?;
            let log = audit::read(&path)?;
            if verify {
                match format {
                    Format::Text => audit::render_verification(&path, &log, out)?,
                    Format::Json => audit::render_verification_json(&path, &log, out)?,
                }
                return Ok(if log.intact() { 0 } else { 1 });
            }
            let shown: Vec<&audit::Entry> = log
                .entries
                .iter()
                .filter(|e| since.is_none_or(|s| e.time.is_some_and(|t| t >= s)))
                .collect();
            match format {
                Format::Text => audit::render_text(&shown, out)?,
                Format::Json => audit::render_json(&shown, out)?,
            }
            out.flush()?;
            let listed: std::collections::BTreeSet<usize> =
                log.entries.iter().map(|e| e.line).collect();
            for p in log.problems.iter().filter(|p| !listed.contains(&p.line)) {
                eprintln!("warning: {}: {p} (not shown)", path.display());
            }
            if let Some(p) = log.problems.iter().find(|p| listed.contains(&p.line)) {
                eprintln!(
                    "warning: {}: the chain is broken ({p}); run `git guard log --verify`",
                    path.display()
                );
            }
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

/// Every problem of a policy, one `error:` line each, then a hint.
fn report_policy_error(e: &policy::PolicyError) {
    for p in &e.problems {
        eprintln!("error: {}", p.located(&e.source_name));
    }
    let n = e.problems.len();
    eprintln!(
        "{}: {n} problem{}: the policy cannot be used until fixed (every key, its type and default: docs/POLICY.md)",
        e.source_name,
        if n == 1 { "" } else { "s" }
    );
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
