//! The policy and the identity of a command run in a repository (`git guard approve`, `flags`,
//! `revoke`): the same the installed hooks use, never read from what is being judged.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::engine::identity::{Actor, Host};
use crate::engine::policy::Policy;
use crate::site::config::{self, Side};

/// The policy for commands run in a repository: the one the installed hooks use
/// ([`config::policy_for_repo`], where the resolution lives for every command).
pub fn policy_for_repo(repo: &gix::Repository, explicit: Option<&Path>) -> Result<Policy> {
    config::policy_for_repo(repo, explicit)
}

/// The audit log of commands run in `repo`: the installed hooks' (`--audit-log` at install),
/// else the policy's `audit.log`, else `<git dir>/guard/audit.log`, as for the hooks.
pub fn audit_log_for_repo(repo: &gix::Repository, policy: &Policy) -> PathBuf {
    config::installed_config(repo)
        .ok()
        .flatten()
        .and_then(|(_, c)| c.audit_log)
        .or_else(|| policy.audit.log.clone())
        .unwrap_or_else(|| repo.git_dir().join("guard").join("audit.log"))
}

/// Who runs a command in `repo`.
///
/// On the server (a bare repository) the identity is the one the hooks would see: when server
/// hooks are installed, the variable of the host they were installed for (`GL_USER` for
/// gitolite, `REMOTE_USER` for http, ...), which must then be set; otherwise, and for a plain
/// install, the unix user. `as_name` is refused there. In a clone the name may be given with
/// `as_name` or `git config guard.identity` (it must be the name the server knows the pusher
/// by: the server checks it again), else the unix user.
pub fn local_actor(
    repo: &gix::Repository,
    policy: &Policy,
    as_name: Option<&str>,
) -> Result<Actor> {
    let env = |k: &str| std::env::var(k).ok();
    if repo.is_bare() {
        if as_name.is_some() {
            bail!(
                "--as is refused on the server: the identity there is the host's (hint: run the command from a clone to approve as another name)"
            );
        }
        let host = match config::installed_config(repo)? {
            Some((_, config)) if config.side == Side::Server => config.host()?,
            _ => Host::Plain,
        };
        return Actor::from_host(host, policy, env).map_err(|e| {
            e.context(format!(
                "the server hooks here take the identity from {}: set it to the name the host \
                 knows you by, or run the command from a clone",
                host.variable().unwrap_or("the unix user")
            ))
        });
    }
    if let Some(name) = as_name.filter(|n| !n.trim().is_empty()) {
        return Ok(Actor::new(name.trim(), "--as", policy));
    }
    if let Some(name) = repo.config_snapshot().string("guard.identity") {
        return Ok(Actor::new(
            name.to_string(),
            "git config guard.identity",
            policy,
        ));
    }
    Ok(Actor::new(
        crate::engine::identity::unix_user(),
        "unix user",
        policy,
    ))
}
