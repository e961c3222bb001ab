//! The hooks: what `guard-hook <hook>` does at each door.
//!
//! Client hooks (`pre-commit`, `commit-msg`, `pre-push`, `reference-transaction`) give the
//! agent fast feedback in its clone; they can be skipped, so the same rules are enforced again
//! by the server hooks (`pre-receive`, `update`, `post-receive`), which run as the server.
//!
//! Every entry takes the hook's arguments, its standard input and an output writer, and returns
//! the exit code: 0 passed, 1 rejected by policy, 2 could not judge (which rejects too: a hook
//! that cannot judge fails closed). Everything written reaches the committer or, for server
//! hooks, the pusher as `remote:` lines.
//!
//! A hook's settings come from the [`HookConfig`] file written at install time beside the
//! shims, never from the repository's work tree or from what is being pushed.

//!
//! One file per job: [`input`] (parse what git gives), [`server`] and [`client`] (the hooks),
//! [`deadline`], [`output`] (render), [`handoff`] (pre-receive to post-receive), [`limits`]
//! (the daily limit on agent changes), [`import`] (an admin's push over the deadline, judged in
//! the background).

mod client;
mod deadline;
mod handoff;
mod import;
mod input;
pub mod install;
mod limits;
mod output;
mod server;

pub use client::*;
use deadline::*;
use handoff::*;
pub use import::{JUDGE_IMPORT, judge_import};
use import::{accept_import, start_judge};
pub use input::*;
use output::*;
pub use server::*;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::engine::identity::Actor;
use crate::engine::model::{ModelOptions, ProposalBase};
use crate::engine::policy::Policy;
use crate::engine::quarantine;
use crate::site::config::{Hook, HookConfig};

/// Everything a hook knows about the process git started: its settings, where it runs, and
/// its environment (a snapshot, so tests pass their own).
#[derive(Debug, Clone)]
pub struct Invocation {
    pub config: HookConfig,
    pub cwd: PathBuf,
    pub env: HashMap<String, String>,
}

/// How results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

impl Invocation {
    /// The process's own invocation.
    pub fn from_process(config: HookConfig) -> Result<Invocation> {
        Ok(Invocation {
            config,
            cwd: std::env::current_dir().context("cannot read the current directory")?,
            env: std::env::vars().collect(),
        })
    }

    pub fn var(&self, key: &str) -> Option<String> {
        self.env.get(key).cloned()
    }

    /// `GUARD_FORMAT=json` asks for JSON.
    pub fn format(&self) -> Format {
        match self.var("GUARD_FORMAT").as_deref() {
            Some("json") => Format::Json,
            _ => Format::Text,
        }
    }

    /// The git directory git ran the hook for (`GIT_DIR`, else the current directory).
    fn git_dir_hint(&self) -> PathBuf {
        match self.var("GIT_DIR") {
            Some(d) if !d.is_empty() => self.cwd.join(d),
            _ => self.cwd.clone(),
        }
    }
}

/// Run `hook` and return its exit code. Errors are written to `out` and reject (exit 2).
pub fn run(hook: Hook, inv: &Invocation, args: &[String], stdin: &[u8], out: &mut dyn Write) -> u8 {
    let result = match hook {
        Hook::PreCommit => pre_commit(inv, out),
        Hook::CommitMsg => commit_msg(inv, args, out),
        Hook::PrePush => pre_push(inv, args, stdin, out),
        Hook::ReferenceTransaction => reference_transaction(inv, args, stdin, out),
        Hook::PreReceive => pre_receive(inv, stdin, out),
        Hook::Update => update(inv, args, out),
        Hook::PostReceive => post_receive(inv, stdin, out),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = write_error(out, inv.format(), hook, &e);
            2
        }
    }
}

/// Whether the hook a shim moved aside runs after git-guard: always after the hooks whose
/// outcome cannot stop anything, otherwise only when git-guard passed.
pub fn runs_chained(hook: Hook, args: &[String], code: u8) -> bool {
    match hook {
        Hook::PostReceive => true,
        Hook::ReferenceTransaction => {
            code == 0 || args.first().map(String::as_str) != Some("prepared")
        }
        _ => code == 0,
    }
}

/// The hook that runs after git-guard's: the one install moved aside (`<shim>.guard-chained`),
/// else the same hook in the `core.hooksPath` that was set before install. Only executable
/// files count, as for git.
pub fn chained_hook(shim: &Path, hook: Hook, inv: &Invocation) -> Option<PathBuf> {
    let mut aside = shim.as_os_str().to_owned();
    aside.push(".guard-chained");
    let aside = PathBuf::from(aside);
    if is_executable(&aside) {
        return Some(aside);
    }
    let before = inv.config.hooks_path_before.as_deref()?;
    let before = expand_home(before, inv);
    let candidate = inv.cwd.join(before).join(hook.name());
    let me = std::fs::canonicalize(shim).ok();
    let them = std::fs::canonicalize(&candidate).ok()?;
    (Some(&them) != me.as_ref() && is_executable(&them)).then_some(them)
}

fn expand_home(p: &str, inv: &Invocation) -> PathBuf {
    match (p.strip_prefix("~/"), inv.var("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(p),
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn actor(inv: &Invocation, policy: &Policy) -> Result<Actor> {
    let host = inv.config.host()?;
    Actor::from_host(host, policy, |k| inv.var(k))
}

/// A hook judges each ref update as a whole: its commits need not keep their bytes.
fn model_options(policy: &Policy) -> ModelOptions {
    ModelOptions {
        commit_bytes: false,
        ..ModelOptions::for_policy(policy)
    }
}

/// The first of `candidates` (full ref names) that exists, with its tip, as the base branch
/// proposals are measured against; the first one named, with no tip, when none exists.
fn proposal_base(repo: &gix::Repository, candidates: &[String]) -> Result<Option<ProposalBase>> {
    for name in candidates {
        if let Some(mut r) = repo
            .try_find_reference(name.as_str())
            .with_context(|| format!("cannot read {name}"))?
        {
            let tip = r
                .peel_to_id()
                .with_context(|| format!("cannot resolve {name}; hint: `git fsck`"))?
                .detach();
            return Ok(Some(ProposalBase {
                name: name.clone(),
                tip: Some(tip),
            }));
        }
    }
    Ok(candidates.first().map(|name| ProposalBase {
        name: name.clone(),
        tip: None,
    }))
}

/// Give each unit of a ref in the agent namespace its proposal against `base`.
fn add_proposals(
    repo: &gix::Repository,
    policy: &Policy,
    units: &mut [crate::engine::changes::Unit],
    base: &ProposalBase,
) -> Result<()> {
    crate::engine::model::add_proposals(repo, units, base, |r| {
        policy.refs.agent_namespace.is_match(r)
    })
    .context("cannot measure the proposed changes against their base branch")
}

/// Whether the actor may update protected refs (`refs.protected_pushers` names roles or
/// identities).
fn may_push_protected(policy: &Policy, actor: &Actor) -> bool {
    let role = actor.role.to_string();
    policy
        .refs
        .protected_pushers
        .iter()
        .any(|p| *p == role || *p == actor.name)
}

fn open_repo(dir: &Path, objects: Option<&Path>) -> Result<gix::Repository> {
    Ok(crate::engine::repo::tune(
        quarantine::open(dir, objects)?.to_thread_local(),
    ))
}

#[cfg(test)]
mod tests;
