//! `guard-deploy`: the deploy door. See docs/DEPLOY.md.

use std::io::{Read as _, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};
use git_guard::deploy::{self, Deployer, Layout, RepoGate};
use git_guard::engine::identity::{self, Actor};
use git_guard::engine::policy::Policy;

#[path = "shared/pipe.rs"]
mod pipe;
#[path = "shared/verbose.rs"]
mod verbose;

/// Deploy a commit that the guard has re-checked, with a way back.
///
/// Exit status: 0 deployed (or the command succeeded), 1 refused by policy, approvals, tests
/// or health check (nothing changed, or rolled back), 2 could not run.
#[derive(Parser)]
#[command(name = "guard-deploy", version)]
struct Cli {
    /// Log what guard-deploy does to standard error (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// The repository to deploy from (default: discovered from the working directory).
    #[arg(long, global = true, value_name = "REPO")]
    repo: Option<PathBuf>,
    /// The policy file (default: policy.toml at the deployed commit, else the built-in one).
    #[arg(long, global = true, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// The deploy root (overrides deploy.root).
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check, test, materialise, switch, reload and health-check REV.
    Deploy {
        /// The commit to deploy (an id, branch or tag).
        rev: String,
    },
    /// What is deployed, what the last run did, and whether they agree.
    Status,
    /// The releases, marking the current one and the backup.
    List,
    /// Switch back to the backup (or RELEASE), reload and health-check.
    Rollback {
        /// The release to switch to, as `guard-deploy list` names it (default: the backup).
        release: Option<String>,
    },
    /// Clear a stale deploy lock left by a process that is gone.
    Unlock {
        /// The token `guard-deploy status` shows for the stale lock.
        #[arg(long)]
        token: String,
    },
    /// Plumbing: write the tree of REV into DIR (which must not exist).
    #[command(hide = true)]
    Materialise { rev: String, dir: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    verbose::init_tracing(cli.verbose);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match run(cli, &mut out) {
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

fn open_repo(repo: Option<&Path>) -> Result<gix::Repository> {
    match repo {
        Some(p) => gix::open(p).with_context(|| format!("cannot open repository {}", p.display())),
        None => gix::discover(".").context("no git repository here: pass --repo"),
    }
}

fn run(cli: Cli, out: &mut dyn Write) -> Result<u8> {
    if let Cmd::Materialise { rev, dir } = &cli.command {
        let repo = open_repo(cli.repo.as_deref())?;
        let m = deploy::materialise_rev(&repo, rev, dir)?;
        writeln!(
            out,
            "{}: {} files, {} symlinks, {} directories, {} bytes",
            dir.display(),
            m.files,
            m.symlinks,
            m.dirs,
            m.bytes
        )?;
        for g in &m.skipped_gitlinks {
            writeln!(out, "skipped gitlink (submodule) {g}")?;
        }
        return Ok(0);
    }
    let named = match &cli.policy {
        Some(p) => Some(Policy::load(p)?),
        None => None,
    };
    let root = cli
        .root
        .clone()
        .or_else(|| named.as_ref().and_then(|p| p.deploy.root.clone()));
    let Some(root) = root else {
        bail!("no deploy root: pass --root DIR or set deploy.root in the policy (--policy FILE)");
    };
    // A mistyped root is an error, not an empty deployment; only a deploy may make it.
    if !matches!(cli.command, Cmd::Deploy { .. }) && !root.is_dir() {
        bail!(
            "the deploy root {} does not exist (hint: check --root or deploy.root; the first \
             `guard-deploy deploy REV` makes it)",
            root.display()
        );
    }
    let layout = Layout::new(root);
    match cli.command {
        Cmd::Status => return deploy::status(&layout, out),
        Cmd::List => {
            deploy::list(&layout, out)?;
            return Ok(0);
        }
        Cmd::Unlock { token } => {
            let o = deploy::unlock(&layout, &token)?;
            writeln!(
                out,
                "cleared the stale lock of pid {} on {} ({}, started {})",
                o.pid, o.host, o.action, o.started
            )?;
            return Ok(0);
        }
        _ => {}
    }
    let repo = open_repo(cli.repo.as_deref())?;
    let policy = match named {
        Some(p) => p,
        None => deploy::policy_at_deployed(&repo, &layout)?.unwrap_or_else(Policy::builtin),
    };
    let actor = Actor::new(identity::unix_user(), "unix user", &policy);
    let pause = |step: &str| pause_hook(step);
    let d = Deployer {
        repo: &repo,
        policy: &policy,
        actor: &actor,
        layout,
        gate: &RepoGate { policy: &policy },
        pause: &pause,
    };
    let outcome = match cli.command {
        Cmd::Deploy { rev } => d.deploy(&rev, out)?,
        Cmd::Rollback { release } => d.rollback(release.as_deref(), out)?,
        _ => unreachable!("handled above"),
    };
    Ok(outcome.exit_code())
}

/// Test hook: with `GUARD_DEPLOY_PAUSE_AT=<step>` and `GUARD_DEPLOY_PAUSE_DIR=<dir>` (holding
/// the fifos `paused` and `resume`), stop at that step, say so on `paused`, and go on when a
/// line arrives on `resume`. Tests use it to kill the process at an exact point.
fn pause_hook(step: &str) {
    let (Ok(at), Ok(dir)) = (
        std::env::var("GUARD_DEPLOY_PAUSE_AT"),
        std::env::var("GUARD_DEPLOY_PAUSE_DIR"),
    ) else {
        return;
    };
    if at != step {
        return;
    }
    let dir = PathBuf::from(dir);
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("paused"))
    {
        let _ = writeln!(f, "{step}");
    }
    if let Ok(mut f) = std::fs::File::open(dir.join("resume")) {
        let mut buf = [0u8; 1];
        let _ = f.read(&mut buf);
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    #[test]
    fn every_argument_and_subcommand_has_a_description() {
        let mut missing = Vec::new();
        crate::verbose::undescribed(&super::Cli::command(), "guard-deploy", &mut missing);
        assert!(missing.is_empty(), "no description: {missing:#?}");
    }
}
