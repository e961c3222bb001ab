//! `git guard`: the human and admin command line.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use git_guard::contain::testrun;
use git_guard::engine::explain;
use git_guard::engine::identity::Actor;
use git_guard::engine::policy::{self, Policy};
use git_guard::report::check;
use git_guard::site::audit;
use git_guard::{approvals, demo, report};

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
    /// Install git-guard's hooks: client hooks into a working clone, server hooks into a bare
    /// repository. Hooks already there are kept and still run; installing twice changes nothing.
    Install(InstallArgs),
    /// Remove git-guard's hooks and put back what install moved aside.
    Uninstall {
        /// The repository (default: the current directory).
        repo: Option<PathBuf>,
    },
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
    /// The outstanding flags of each commit of a range (default: the commits of HEAD not on
    /// the deploy branch), with what each commit changes and which flags are approved.
    Flags {
        /// `REV` or `A..B`.
        range: Option<String>,
        #[command(flatten)]
        opts: RepoOpts,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve flags of one commit (default: all its outstanding flags). The approval is bound
    /// to the commit and its tree; from a clone it is pushed to the remote, whose guard checks
    /// it again.
    Approve {
        rev: String,
        /// A flag id to approve (repeatable), as `git guard flags` prints it.
        #[arg(long = "flag", value_name = "ID")]
        flags: Vec<String>,
        /// Why: what you checked.
        #[arg(short = 'm', long = "message", value_name = "WHY")]
        why: String,
        /// Sign the record with this ssh key (`ssh-keygen -Y sign`).
        #[arg(long, value_name = "KEY")]
        sign: Option<PathBuf>,
        #[command(flatten)]
        write: WriteOpts,
    },
    /// Revoke approvals of a commit (default: all of them) by adding revocation records.
    Revoke {
        rev: String,
        /// The approval to revoke (its id or a prefix of it).
        #[arg(long, value_name = "ID")]
        approval: Option<String>,
        /// Why.
        #[arg(short = 'm', long = "message", value_name = "WHY")]
        why: String,
        /// Sign the revocation with this ssh key.
        #[arg(long, value_name = "KEY")]
        sign: Option<PathBuf>,
        #[command(flatten)]
        write: WriteOpts,
    },
    /// List the approvals of each commit of a range, and whether each counts.
    Approvals {
        /// `REV` or `A..B` (default: as for `flags`).
        range: Option<String>,
        #[command(flatten)]
        opts: RepoOpts,
    },
    /// Run the policy's test command in a clean checkout of REV and record the result for its
    /// tree.
    Test {
        /// The commit to test (default: HEAD).
        rev: Option<String>,
        #[command(flatten)]
        opts: RepoOpts,
    },
    /// The evidence a reviewer reads before approving a branch.
    Report {
        /// The branch or commit to review (default: HEAD).
        branch: Option<String>,
        /// What it is compared with (default: origin/<deploy branch>, else <deploy branch>).
        #[arg(long, value_name = "REF")]
        base: Option<String>,
        #[arg(long, value_enum, default_value = "md")]
        format: ReportFormat,
        #[command(flatten)]
        opts: RepoOpts,
    },
    /// The whole story on a scratch directory, with the real binaries and real git: the server
    /// guard, an agent workspace, blocked commits, a flagged change, a refused deploy, the
    /// approval, a deploy with reload and health check, and a broken release rolled back.
    Demo(DemoArgs),
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

#[derive(clap::Args)]
struct DemoArgs {
    /// The scratch directory (new or empty; default: a temporary directory).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Keep the scratch directory afterwards, to look around.
    #[arg(long)]
    keep: bool,
}

#[derive(clap::Args)]
struct RepoOpts {
    /// The policy file (default: the installed hooks' policy, else policy.toml on the
    /// protected base branch, else the built-in default; on a server with hooks installed,
    /// only the hooks' own file is accepted).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
}

#[derive(clap::Args)]
struct WriteOpts {
    #[command(flatten)]
    repo: RepoOpts,
    /// Act under this name (in a clone only: the server checks it is the pusher).
    #[arg(long = "as", value_name = "NAME")]
    as_name: Option<String>,
    /// The remote to push the record to (default: origin, when the clone has it).
    #[arg(long, value_name = "REMOTE")]
    remote: Option<String>,
    /// Keep the record in this repository; do not push it.
    #[arg(long)]
    no_push: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ReportFormat {
    Md,
    Json,
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
        /// The guard-hook the client hooks run (default: next to git-guard, else on PATH).
        #[arg(long, value_name = "FILE")]
        guard_hook: Option<PathBuf>,
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
        /// The guard-hook the client hooks run (default: next to git-guard, else on PATH).
        #[arg(long, value_name = "FILE")]
        guard_hook: Option<PathBuf>,
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

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_interrupt(_: nix::libc::c_int) {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Note SIGINT, SIGTERM and SIGHUP instead of dying of them, so that the demo can stop its
/// service and remove its scratch directory. A handler (not SIG_IGN) is reset by exec, so the
/// commands the demo runs still stop at the terminal's Ctrl-C.
fn catch_interrupts() -> &'static std::sync::atomic::AtomicBool {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let action = SigAction::new(
        SigHandler::Handler(on_interrupt),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        let _ = unsafe { sigaction(sig, &action) };
    }
    &INTERRUPTED
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
        Command::Install(a) => {
            let opts = git_guard::hooks::install::InstallOptions {
                side: match (a.client, a.server) {
                    (true, _) => Some(git_guard::site::config::Side::Client),
                    (_, true) => Some(git_guard::site::config::Side::Server),
                    _ => None,
                },
                layout: git_guard::site::config::Layout::parse(&a.layout)
                    .ok_or_else(|| anyhow::anyhow!("unknown layout {}", a.layout))?,
                host: match a.host.as_deref() {
                    Some(h) => Some(
                        git_guard::engine::identity::Host::parse(h)
                            .ok_or_else(|| anyhow::anyhow!("unknown host {h}"))?,
                    ),
                    None => None,
                },
                policy: a.policy,
                audit_log: a.audit_log,
                deadline_ms: a.deadline_ms,
                guard_hook: git_guard::hooks::install::find_guard_hook()?,
            };
            let repo = a.repo.unwrap_or_else(|| PathBuf::from("."));
            git_guard::hooks::install::install(&repo, &opts, out)?;
            Ok(0)
        }
        Command::Uninstall { repo } => {
            let repo = repo.unwrap_or_else(|| PathBuf::from("."));
            git_guard::hooks::install::uninstall(&repo, out)?;
            Ok(0)
        }
        Command::Demo(args) => {
            let exe = std::env::current_exe().context("cannot find the git-guard binary")?;
            let bin_dir = exe
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."));
            let opts = demo::DemoOptions {
                dir: args.dir,
                keep: args.keep,
                bin_dir,
                interrupted: Some(catch_interrupts()),
            };
            demo::run(&opts, out)?;
            Ok(0)
        }
        Command::Flags { range, opts, json } => flags_cmd(range, opts, json, out),
        Command::Approve {
            rev,
            flags,
            why,
            sign,
            write,
        } => {
            let (repo, policy, actor) = writer(&write)?;
            let req = approvals::ApproveRequest {
                rev,
                flags,
                why,
                sign_key: sign,
                remote: write.remote,
                no_push: write.no_push,
            };
            let w = approvals::approve(&repo, &policy, &actor, &req);
            written(w.map(|w| vec![w]), &repo, &policy, &actor, "approve", out)
        }
        Command::Revoke {
            rev,
            approval,
            why,
            sign,
            write,
        } => {
            let (repo, policy, actor) = writer(&write)?;
            let req = approvals::RevokeRequest {
                rev,
                approval,
                why,
                sign_key: sign,
                remote: write.remote,
                no_push: write.no_push,
            };
            let w = approvals::revoke(&repo, &policy, &actor, &req);
            written(w, &repo, &policy, &actor, "revoke", out)
        }
        Command::Approvals { range, opts } => approvals_cmd(range, opts, out),
        Command::Test { rev, opts } => {
            let repo = approvals::open_repo(Path::new("."))?;
            let policy = approvals::policy_for_repo(&repo, opts.policy.as_deref())?;
            let actor = approvals::local_actor(&repo, &policy, None)?;
            let rev = rev.unwrap_or_else(|| "HEAD".into());
            let run = testrun::run_and_record(&repo, &policy, &rev, &actor.name)?;
            let tail: Vec<&str> = run.output_tail.lines().collect();
            for l in &tail[tail.len().saturating_sub(20)..] {
                writeln!(out, "  | {l}")?;
            }
            let verdict = if run.passed {
                "passed".to_string()
            } else if run.timed_out {
                format!(
                    "timed out after {} s (process group killed)",
                    run.timeout_secs
                )
            } else {
                format!(
                    "failed (exit {})",
                    run.exit_code
                        .map_or("none: killed".into(), |c| c.to_string())
                )
            };
            writeln!(
                out,
                "git-guard test: {verdict}: `{}` on {} (tree {}) in {} ms; recorded as {}{}",
                run.command,
                &run.commit[..12],
                &run.tree[..12],
                run.duration_ms,
                testrun::TESTS_PREFIX,
                run.tree
            )?;
            audit(
                &repo,
                &policy,
                &actor,
                "test",
                format!("test {}", run.commit),
                if run.passed { "passed" } else { "failed" },
                serde_json::to_value(&run)?,
            );
            Ok(if run.passed { 0 } else { 1 })
        }
        Command::Report {
            branch,
            base,
            format,
            opts,
        } => {
            let repo = approvals::open_repo(Path::new("."))?;
            let policy = approvals::policy_for_repo(&repo, opts.policy.as_deref())?;
            let branch = branch.unwrap_or_else(|| "HEAD".into());
            let base = match base {
                Some(b) => b,
                None => approvals::default_range(&repo, &policy)
                    .split_once("..")
                    .map(|(b, _)| b.to_string())
                    .unwrap_or_default(),
            };
            let r = report::build(&repo, &policy, &branch, &base)?;
            let format = match format {
                ReportFormat::Md => report::Format::Markdown,
                ReportFormat::Json => report::Format::Json,
            };
            report::render(&r, format, out)?;
            Ok(0)
        }
        Command::Workspace(cmd) => run_workspace(cmd, out),
        Command::Doctor {
            root,
            agent_user,
            repo,
        } => {
            let report =
                git_guard::workspace::doctor::run(&git_guard::workspace::doctor::Options {
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
            guard_hook,
        } => {
            let created = workspace::create(&workspace::CreateOptions {
                upstream: from,
                root,
                topic,
                agent_user,
                base,
                policy,
                identity,
                guard_hook,
            })?;
            writeln!(out, "{created}")?;
        }
        WorkspaceCommand::Status { root } => {
            let status = workspace::status(&workspace_root(root)?)?;
            writeln!(out, "{status}")?;
        }
        WorkspaceCommand::Reset { root, guard_hook } => {
            let created = workspace::reset(&workspace_root(root)?, guard_hook.as_deref())?;
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

/// The repository, policy and identity `approve` and `revoke` write records with.
fn writer(write: &WriteOpts) -> anyhow::Result<(gix::Repository, Policy, Actor)> {
    let repo = approvals::open_repo(Path::new("."))?;
    let policy = approvals::policy_for_repo(&repo, write.repo.policy.as_deref())?;
    let actor = approvals::local_actor(&repo, &policy, write.as_name.as_deref())?;
    Ok((repo, policy, actor))
}

fn flags_cmd(
    range: Option<String>,
    opts: RepoOpts,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let repo = approvals::open_repo(Path::new("."))?;
    let policy = approvals::policy_for_repo(&repo, opts.policy.as_deref())?;
    let range = range.unwrap_or_else(|| approvals::default_range(&repo, &policy));
    let commits = approvals::flags_of_range(&repo, &policy, &range)?;
    let outstanding: usize = commits.iter().map(|c| c.outstanding().count()).sum();
    if json {
        serde_json::to_writer_pretty(&mut *out, &commits)?;
        writeln!(out)?;
        return Ok(0);
    }
    let mut total = 0;
    for c in &commits {
        if c.flags.is_empty() {
            continue;
        }
        total += c.flags.len();
        writeln!(
            out,
            "{} {} ({} file{}, +{} -{}; pushed by {})",
            &c.commit[..12.min(c.commit.len())],
            c.summary,
            c.files,
            if c.files == 1 { "" } else { "s" },
            c.added,
            c.removed,
            c.pusher.as_deref().unwrap_or("unknown")
        )?;
        for f in &c.flags {
            let state = if f.approved() {
                format!("approved by {}", f.approved_by_short())
            } else {
                "outstanding".into()
            };
            writeln!(out, "  [{state}] {}", f.id)?;
            writeln!(out, "      {}", f.finding.message)?;
        }
    }
    writeln!(
        out,
        "git-guard flags: {outstanding} outstanding of {total} flag{} in {} commit{} ({range})",
        if total == 1 { "" } else { "s" },
        commits.len(),
        if commits.len() == 1 { "" } else { "s" },
    )?;
    if outstanding > 0 {
        writeln!(
            out,
            "  review: git guard report; approve: git guard approve REV -m WHY"
        )?;
    }
    Ok(0)
}

fn approvals_cmd(range: Option<String>, opts: RepoOpts, out: &mut dyn Write) -> anyhow::Result<u8> {
    let repo = approvals::open_repo(Path::new("."))?;
    let policy = approvals::policy_for_repo(&repo, opts.policy.as_deref())?;
    let range = range.unwrap_or_else(|| approvals::default_range(&repo, &policy));
    let mut n = 0;
    for (commit, summary, listed) in approvals::list_range(&repo, &policy, &range)? {
        if listed.is_empty() {
            continue;
        }
        writeln!(out, "{} {summary}", approvals::short(&commit))?;
        for l in listed {
            n += 1;
            let r = &l.stored.record;
            let what = match r.kind {
                approvals::RecordKind::Approve => format!("approval of {}", r.flags.join(", ")),
                approvals::RecordKind::Revoke => format!(
                    "revocation of {}",
                    r.revokes.as_deref().map_or("?", |x| &x[..12.min(x.len())])
                ),
            };
            let status = match &l.status {
                approvals::Status::Valid => "valid".to_string(),
                approvals::Status::Revoked(why) => why.clone(),
                approvals::Status::Invalid(why) => format!("does not count: {why}"),
            };
            writeln!(
                out,
                "  {} {what} by {} at {}{}: {:?} [{status}]",
                l.stored.short_id(),
                r.approver,
                r.at,
                if l.stored.signature.is_some() {
                    " (signed)"
                } else {
                    ""
                },
                r.why
            )?;
        }
    }
    writeln!(
        out,
        "git-guard approvals: {n} record{} ({range})",
        if n == 1 { "" } else { "s" }
    )?;
    Ok(0)
}

/// Report what approve or revoke wrote, or why it was refused (exit 1), and audit it.
fn written(
    result: anyhow::Result<Vec<approvals::Written>>,
    repo: &gix::Repository,
    policy: &Policy,
    actor: &Actor,
    door: &str,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    match result {
        Ok(list) => {
            for w in list {
                for n in &w.notes {
                    writeln!(out, "note: {n}")?;
                }
                let what = match w.record.kind {
                    approvals::RecordKind::Approve => {
                        format!("approved {}", w.record.flags.join(", "))
                    }
                    approvals::RecordKind::Revoke => format!(
                        "revoked approval {}",
                        w.record.revokes.as_deref().unwrap_or_default()
                    ),
                };
                writeln!(
                    out,
                    "git-guard {door}: {what} on {} (tree {}) as {} ({}){}; record {}{}",
                    &w.record.commit[..12],
                    &w.record.tree[..12],
                    actor.name,
                    actor.role,
                    if w.signed { ", signed" } else { "" },
                    w.refname,
                    w.pushed_to
                        .as_deref()
                        .map(|r| format!(", pushed to {r}"))
                        .unwrap_or_default()
                )?;
                audit(
                    repo,
                    policy,
                    actor,
                    door,
                    format!("{door} {}", w.record.commit),
                    "ok",
                    serde_json::json!({ "ref": w.refname, "flags": w.record.flags, "why": w.record.why }),
                );
            }
            Ok(0)
        }
        Err(e) => match e.downcast_ref::<approvals::Refused>() {
            Some(r) => {
                writeln!(out, "git-guard {door}: REFUSED: {}", r.message)?;
                if !r.hint.is_empty() {
                    writeln!(out, "  hint: {}", r.hint)?;
                }
                audit(
                    repo,
                    policy,
                    actor,
                    door,
                    door.to_string(),
                    "rejected",
                    serde_json::json!({ "reason": r.message }),
                );
                Ok(1)
            }
            None => Err(e),
        },
    }
}

/// Append an audit record to the policy's log, or `<git dir>/guard/audit.log`. An audit failure
/// is reported on standard error and does not undo what was done.
fn audit(
    repo: &gix::Repository,
    policy: &Policy,
    actor: &Actor,
    door: &str,
    action: String,
    outcome: &str,
    detail: serde_json::Value,
) {
    let path = approvals::audit_log_for_repo(repo, policy);
    let event = git_guard::site::audit::Event {
        door: door.to_string(),
        action,
        actor: actor.name.clone(),
        role: Some(actor.role),
        outcome: outcome.to_string(),
        rules: Vec::new(),
        detail,
    };
    if let Err(e) = git_guard::site::audit::append(&path, &event) {
        eprintln!("warning: cannot write the audit record: {e:#}");
    }
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
