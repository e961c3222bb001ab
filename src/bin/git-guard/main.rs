//! `git guard`: the human and admin command line.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use git_guard::contain::testrun;
use git_guard::engine::explain;
use git_guard::engine::identity::Actor;
use git_guard::engine::policy::{self, Policy};
use git_guard::report::check;
use git_guard::site::audit;
use git_guard::{approvals, demo, report};

mod approvals_cmd;
mod ci_cmd;
mod cli;
#[path = "../shared/pipe.rs"]
mod pipe;
#[path = "../shared/verbose.rs"]
mod verbose;
mod workspace_cmd;

use approvals_cmd::*;
use cli::*;
use workspace_cmd::*;

pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    verbose::init_tracing(cli.verbose);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match run(cli.command, &mut out) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            pipe::end_if_closed_pipe(&e);
            let _ = out.flush();
            eprintln!("Error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("Caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}

pub(crate) static INTERRUPTED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_interrupt(_: nix::libc::c_int) {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Note SIGINT, SIGTERM and SIGHUP instead of dying of them, so that the demo can stop its
/// service and remove its scratch directory. A handler (not SIG_IGN) is reset by exec, so the
/// commands the demo runs still stop at the terminal's Ctrl-C.
pub(crate) fn catch_interrupts() -> &'static std::sync::atomic::AtomicBool {
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

pub(crate) fn run(command: Command, out: &mut dyn Write) -> anyhow::Result<u8> {
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
        Command::Ci(args) => ci_cmd::run(args, out),
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
            // Inside a repository: the policy its hooks use; outside one, ./policy.toml when
            // there is one, else the built-in default.
            let repo = match &policy {
                Some(_) => None,
                None => git_guard::engine::repo::discover(Path::new(".")).ok(),
            };
            let policy = match (policy, repo) {
                (Some(file), _) => Policy::load(&file),
                (None, Some(repo)) => Ok(git_guard::site::config::policy_for_repo(&repo, None)?),
                (None, None) if Path::new("policy.toml").is_file() => {
                    Policy::load(Path::new("policy.toml"))
                }
                (None, None) => Ok(Policy::builtin()),
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
        Command::Stats {
            files,
            policy,
            since,
            format,
        } => {
            let mut paths = files;
            if paths.is_empty() {
                let loaded = match policy.as_deref().map(Policy::load).transpose() {
                    Ok(p) => p,
                    Err(e) => {
                        report_policy_error(&e);
                        return Ok(2);
                    }
                };
                match loaded.as_ref().and_then(|p| p.audit.log.clone()) {
                    Some(log) => paths.push(log),
                    None => paths.push(audit::repo_log_path(std::path::Path::new("."))?),
                }
                if let Some(root) = loaded.as_ref().and_then(|p| p.deploy.root.clone()) {
                    let log = root.join("audit.log");
                    if log.is_file() && !paths.contains(&log) {
                        paths.push(log);
                    }
                }
            }
            let since = since
                .map(|s| audit::parse_since(&s, std::time::SystemTime::now()))
                .transpose()?;
            let mut logs = Vec::new();
            for p in &paths {
                if !p.exists() {
                    continue;
                }
                logs.push((p.display().to_string(), audit::read(p)?));
            }
            let s = git_guard::report::stats::compute(&logs, since);
            match format {
                Format::Text => git_guard::report::stats::render_text(&s, out)?,
                Format::Json => git_guard::report::stats::render_json(&s, out)?,
            }
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
            // The log is written at the first decision; before that there is nothing to list.
            // (--verify still fails: a log never written and one removed look the same.)
            if !verify && !path.exists() {
                match format {
                    Format::Text => writeln!(
                        out,
                        "no audit records yet: {} does not exist (every decision of a door appends one)",
                        path.display()
                    )?,
                    // JSON lines: no record, no line.
                    Format::Json => {}
                }
                return Ok(0);
            }
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
                Format::Text if log.entries.is_empty() && log.problems.is_empty() => {
                    writeln!(out, "no audit records yet in {}", path.display())?
                }
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
            match demo::run(&opts, out) {
                Ok(()) => Ok(0),
                Err(e) => match e.downcast_ref::<demo::Interrupted>() {
                    Some(i) => {
                        let _ = out.flush();
                        eprintln!("git-guard demo: {i}");
                        Ok(130)
                    }
                    None => Err(e),
                },
            }
        }
        Command::Flags {
            range,
            opts,
            format,
            json,
        } => flags_cmd(range, opts, json || format == Format::Json, out),
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
        Command::Allow {
            branch,
            max_files,
            max_lines,
            paths,
            revoke,
            why,
            sign,
            write,
        } => {
            let (repo, policy, actor) = writer(&write)?;
            let req = approvals::AllowRequest {
                branch: branch.unwrap_or_default(),
                max_files,
                max_lines,
                paths,
                revoke,
                why,
                sign_key: sign,
                remote: write.remote,
                no_push: write.no_push,
            };
            let w = approvals::allow(&repo, &policy, &actor, &req);
            allowed(w, &repo, &policy, &actor, out)
        }
        Command::Overrides { branch, opts } => overrides_cmd(branch, opts, out),
        Command::Approvals { range, opts } => approvals_cmd(range, opts, out),
        Command::Test { rev, opts } => {
            let repo = approvals::open_repo(Path::new("."))?;
            let policy = approvals::policy_for_repo(&repo, opts.policy.as_deref())?;
            let actor = approvals::local_actor(&repo, &policy, None)?;
            let rev = rev.unwrap_or_else(|| "HEAD".into());
            writeln!(out, "git-guard: policy: {}", policy.source)?;
            let run = testrun::run_and_record(&repo, &policy, &rev, &actor.name)?;
            let tail: Vec<&str> = run.output_tail.lines().collect();
            for l in &tail[tail.len().saturating_sub(20)..] {
                writeln!(out, "  | {l}")?;
            }
            let verdict = if run.passed {
                "passed".to_string()
            } else if run.timed_out {
                format!(
                    "timed out after {} s (every process it started was ended)",
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
                "git-guard test: {verdict}: `{}` ({}) on {} (tree {}) in {} ms; recorded as {}{}",
                run.command,
                if run.isolation == "bwrap" {
                    "contained by bwrap"
                } else {
                    "uncontained: tests.isolation = \"none\""
                },
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
            no_fetch,
            opts,
        } => {
            let mut repo = approvals::open_repo(Path::new("."))?;
            let named = branch.unwrap_or_else(|| "HEAD".into());
            // A reviewer's fresh clone has the agent's branch only as the remote's, and none
            // of the server's records: without them every flag reads as outstanding.
            let reviewed = approvals::resolve_reviewed(&repo, &named);
            if let Some(remote) = &reviewed.remote {
                eprintln!(
                    "git-guard report: {named} is {remote}/{named} (no local branch of that name)"
                );
            }
            if !no_fetch && let Some(remote) = approvals::records_remote(&repo, &reviewed) {
                let dir = repo.workdir().unwrap_or(repo.git_dir()).to_path_buf();
                match approvals::fetch_guard_refs(&dir, &remote) {
                    Ok(()) => repo = approvals::open_repo(Path::new("."))?,
                    Err(e) => eprintln!(
                        "git-guard report: {e:#}; the report shows only the records here \
                         (bring the server's with `{}`)",
                        approvals::fetch_command(&remote)
                    ),
                }
            }
            let policy = approvals::policy_for_repo(&repo, opts.policy.as_deref())?;
            let branch = reviewed.rev;
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
                ReportFormat::Html => report::Format::Html,
            };
            report::render(&r, format, out)?;
            Ok(0)
        }
        Command::Workspace(cmd) => run_workspace(cmd, out),
        Command::HelpMan { dir } => {
            use clap::CommandFactory as _;
            // git looks the page up as git-guard(1).
            let cmd = Cli::command().name("git-guard");
            match dir {
                Some(dir) => {
                    clap_mangen::generate_to(cmd, &dir).with_context(|| {
                        format!("cannot write the man pages in {}", dir.display())
                    })?;
                    writeln!(out, "man pages written in {}", dir.display())?;
                }
                None => {
                    let mut page = Vec::new();
                    clap_mangen::Man::new(cmd).render(&mut page)?;
                    out.write_all(&page)?;
                }
            }
            Ok(0)
        }
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

/// Append an audit record to the policy's log, or `<git dir>/guard/audit.log`. An audit failure
/// is reported on standard error and does not undo what was done.
pub(crate) fn audit(
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
pub(crate) fn report_policy_error(e: &policy::PolicyError) {
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
