//! The policy and the identity of a command run in a repository (`git guard approve`, `flags`,
//! `revoke`): the same the installed hooks use, never read from what is being judged.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::engine::identity::{Actor, Host};
use crate::engine::policy::{Policy, PolicySource};
use crate::site::config::{self, Side};

use super::*;

/// The policy for commands run in a repository. Never read from what is being judged.
///
/// Where git-guard's hooks are installed, it is the policy they use (see
/// [`config::installed_config`]): the file `git guard install --policy` recorded in
/// `git-guard.toml`, else `policy.toml` at the tip of the base branch. On a server an explicit
/// file that is not the hooks' is refused: `git guard approve` there writes records the hooks
/// would otherwise judge, so both must read the same policy. Without installed hooks: the
/// explicit file, else `policy.toml` at the tip of `main` (then `master`), else the built-in
/// default.
pub fn policy_for_repo(repo: &gix::Repository, explicit: Option<&Path>) -> Result<Policy> {
    if let Some((config_path, config)) = config::installed_config(repo)? {
        let on_server = config.side == Side::Server;
        match (explicit, &config.policy) {
            (Some(p), Some(installed)) if on_server && !same_file(p, installed) => {
                bail!(
                    "the server hooks of this repository use the policy {} ({}): drop --policy {}, \
                     or reinstall the hooks with `git guard install --server --policy FILE`",
                    installed.display(),
                    config_path.display(),
                    p.display()
                )
            }
            (Some(p), None) if on_server => {
                bail!(
                    "the server hooks of this repository use policy.toml of the base branch \
                     ({}): drop --policy {}, or reinstall the hooks with `git guard install \
                     --server --policy FILE`",
                    config_path.display(),
                    p.display()
                )
            }
            (Some(p), _) => return Ok(Policy::load(p)?),
            (None, _) => {
                return config::installed_policy(repo, &config).with_context(|| {
                    format!(
                        "the policy of the hooks installed here ({})",
                        config_path.display()
                    )
                });
            }
        }
    }
    if let Some(p) = explicit {
        return Ok(Policy::load(p)?);
    }
    for branch in ["refs/heads/main", "refs/heads/master"] {
        let Ok(spec) = repo.rev_parse_single(format!("{branch}:policy.toml").as_str()) else {
            continue;
        };
        let data = read_blob(repo, spec.detach())?;
        let text = String::from_utf8(data)
            .with_context(|| format!("policy.toml at {branch} is not UTF-8"))?;
        let tip = repo.rev_parse_single(branch)?.detach();
        return Ok(Policy::parse(&text, PolicySource::Commit(tip.to_string()))?);
    }
    Ok(Policy::builtin())
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

pub(super) fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
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
