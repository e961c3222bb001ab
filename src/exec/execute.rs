//! guard-exec end to end: load the workspace and its policy, judge, run unless refused or a
//! dry run, and append what happened to the audit log. Prints only to the writer it is given.

use std::path::PathBuf;
use std::sync::atomic::AtomicI32;
use std::time::Duration;

use anyhow::{Context as _, Result};

use super::judge::CommandRules;
use super::run::{Program, RunOptions, RunOutcome, run};
use super::{Denial, Roots};

// guard-exec, end to end

/// One guard-exec request, as the command line gives it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The workspace (its writable roots, recorded policy and agent user).
    pub root: PathBuf,
    /// A policy file; default: the one the workspace recorded.
    pub policy: Option<PathBuf>,
    pub program: Program,
    /// Default: the workspace's code-repo.
    pub cwd: Option<PathBuf>,
    /// Default: the policy's `commands.timeout_secs`.
    pub timeout: Option<Duration>,
    pub dry_run: bool,
    /// Between SIGTERM and SIGKILL at the time limit.
    pub grace: Duration,
}

/// What guard-exec decided and, when it ran the command, how it ended.
#[derive(Debug, Clone)]
pub struct Report {
    pub denial: Option<Denial>,
    pub outcome: Option<RunOutcome>,
    /// The exit code guard-exec should end with.
    pub code: i32,
    pub audit_log: PathBuf,
}

/// Judge the request, run it unless refused or a dry run, and append the run to the audit log.
/// `err` receives guard-exec's own messages (denials, timeouts); the command's output passes
/// straight through. An `Err` means nothing could be judged (exit 2).
pub fn execute(
    req: &Request,
    err: &mut dyn std::io::Write,
    interrupt: Option<&AtomicI32>,
) -> Result<Report> {
    let root = req
        .root
        .canonicalize()
        .with_context(|| format!("cannot find the workspace {}", req.root.display()))?;
    let record = crate::site::workspace::load_record(&root).ok();
    let policy_path = req
        .policy
        .clone()
        .or_else(|| record.as_ref().map(|r| r.policy.clone()));
    let policy = match &policy_path {
        Some(p) => crate::engine::policy::Policy::load(p)?,
        None => crate::engine::policy::Policy::builtin(),
    };
    let rules = CommandRules::new(&policy.commands, &policy.refs.protected)?;
    let roots = Roots::of_workspace(&root)?;
    let audit_log = policy
        .audit
        .log
        .clone()
        .unwrap_or_else(|| root.join("logs").join("audit.log"));
    let cwd_arg = req.cwd.clone().unwrap_or_else(|| root.join("code-repo"));
    let timeout = req.timeout.unwrap_or(rules.timeout);
    let agent = match record.as_ref().and_then(|r| r.agent_user.as_deref()) {
        Some(name) => Some(crate::workspace::AgentUser::lookup(name)?),
        None => None,
    };
    let actor = agent
        .as_ref()
        .map(|a| a.name.clone())
        .unwrap_or_else(crate::engine::identity::unix_user);

    let cwd = cwd_arg.canonicalize().ok();
    let denial = match &cwd {
        None => Some(Denial::new(
            "commands.cwd",
            format!("{} does not exist", cwd_arg.display()),
        )),
        Some(c) if !roots.writable.iter().any(|r| c.starts_with(r)) => Some(Denial::new(
            "commands.cwd",
            format!(
                "{} is outside the workspace's writable roots ({})",
                c.display(),
                roots
                    .writable
                    .iter()
                    .map(|r| r.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        Some(c) => match &req.program {
            Program::Argv(a) => rules.judge_argv(a, c, &roots).err(),
            Program::Shell(s) => rules.judge_line(s, c, &roots).err(),
        },
    };
    let shown = req.program.display();
    let event =
        |outcome: &str, rule: Option<&str>, detail: serde_json::Value| crate::site::audit::Event {
            door: "exec".into(),
            action: shown.clone(),
            actor: actor.clone(),
            role: Some(policy.actors.role_of(&actor)),
            outcome: outcome.into(),
            rules: rule.map(|r| vec![r.to_string()]).unwrap_or_default(),
            detail,
        };
    if let Some(d) = denial {
        writeln!(err, "guard-exec: denied: {}", d.reason)?;
        crate::site::audit::append(
            &audit_log,
            &event(
                "denied",
                Some(&d.rule),
                serde_json::json!({"cwd": cwd_arg, "reason": d.reason}),
            ),
        )?;
        return Ok(Report {
            denial: Some(d),
            outcome: None,
            code: 1,
            audit_log,
        });
    }
    let cwd = cwd.expect("checked above");
    if req.dry_run {
        writeln!(err, "guard-exec: allowed (dry run): {shown}")?;
        crate::site::audit::append(
            &audit_log,
            &event("dry-run", None, serde_json::json!({"cwd": cwd})),
        )?;
        return Ok(Report {
            denial: None,
            outcome: None,
            code: 0,
            audit_log,
        });
    }
    let as_user = match &agent {
        Some(a) if nix::unistd::geteuid().is_root() => Some((a.uid, a.gid)),
        _ => None,
    };
    let outcome = run(
        &req.program,
        &RunOptions {
            cwd: cwd.clone(),
            timeout,
            grace: req.grace,
            as_user,
        },
        interrupt,
    );
    if let Some(e) = &outcome.spawn_error {
        writeln!(err, "guard-exec: cannot run {shown}: {e}")?;
    }
    if outcome.timed_out {
        writeln!(
            err,
            "guard-exec: time limit of {} s reached: the command and its process group were ended",
            timeout.as_secs_f64()
        )?;
    }
    let label = if outcome.timed_out {
        "timeout"
    } else if outcome.code == 0 {
        "ok"
    } else {
        "failed"
    };
    crate::site::audit::append(
        &audit_log,
        &event(
            label,
            None,
            serde_json::json!({
                "cwd": cwd,
                "exit_code": outcome.code,
                "duration_ms": outcome.duration.as_millis() as u64,
                "timeout_secs": timeout.as_secs_f64(),
            }),
        ),
    )?;
    Ok(Report {
        denial: None,
        code: outcome.code,
        outcome: Some(outcome),
        audit_log,
    })
}
