//! A repository's installed guard: the hook configuration `git guard install` writes beside
//! the shims (`git-guard.toml`), where it is found, and the policy it selects.
//!
//! The hooks, approvals, report and doctor all need the same answer to "which policy and which
//! identity rules guard this repository"; it lives here so that none of them imports another.
//! It reads files and git objects and prints nothing.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow};
use serde::{Deserialize, Serialize};

use gix::ObjectId;

use crate::engine::changes::RefUpdate;
use crate::engine::identity::Host;
use crate::engine::policy::{Policy, PolicySource};

/// The first comment line of every shim; the version follows it.
pub const SHIM_MARKER: &str = "# git-guard-shim v";

/// The name of the configuration file written beside the shims.
pub const CONFIG_FILE: &str = "git-guard.toml";

/// The deadline used until the policy is known, and when it sets none.
pub const DEFAULT_DEADLINE_MS: u64 = 3000;

/// One of the hooks `guard-hook` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hook {
    PreCommit,
    CommitMsg,
    PrePush,
    ReferenceTransaction,
    PreReceive,
    Update,
    PostReceive,
}

impl Hook {
    pub const CLIENT: &'static [Hook] = &[
        Hook::PreCommit,
        Hook::CommitMsg,
        Hook::PrePush,
        Hook::ReferenceTransaction,
    ];
    /// The server hooks `git guard install --server` installs. `update` is not among them: it
    /// would judge every ref a second time, and pre-receive already gives the same verdict.
    pub const SERVER: &'static [Hook] = &[Hook::PreReceive, Hook::PostReceive];
    pub const ALL: &'static [Hook] = &[
        Hook::PreCommit,
        Hook::CommitMsg,
        Hook::PrePush,
        Hook::ReferenceTransaction,
        Hook::PreReceive,
        Hook::Update,
        Hook::PostReceive,
    ];

    pub fn parse(name: &str) -> Option<Hook> {
        Hook::ALL.iter().copied().find(|h| h.name() == name)
    }

    /// git's name for the hook.
    pub fn name(self) -> &'static str {
        match self {
            Hook::PreCommit => "pre-commit",
            Hook::CommitMsg => "commit-msg",
            Hook::PrePush => "pre-push",
            Hook::ReferenceTransaction => "reference-transaction",
            Hook::PreReceive => "pre-receive",
            Hook::Update => "update",
            Hook::PostReceive => "post-receive",
        }
    }

    /// Whether git gives the hook input on standard input.
    pub fn reads_stdin(self) -> bool {
        matches!(
            self,
            Hook::PrePush | Hook::ReferenceTransaction | Hook::PreReceive | Hook::PostReceive
        )
    }

    pub fn is_server(self) -> bool {
        matches!(self, Hook::PreReceive | Hook::Update | Hook::PostReceive)
    }
}

/// Which side of the push a set of hooks guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// An agent's working clone: pre-commit, commit-msg, pre-push, reference-transaction.
    #[default]
    Client,
    /// A bare repository people push to: pre-receive, post-receive.
    Server,
}

impl Side {
    pub fn hooks(self) -> &'static [Hook] {
        match self {
            Side::Client => Hook::CLIENT,
            Side::Server => Hook::SERVER,
        }
    }
}

/// Where the hooks go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `<git dir>/hooks/<hook>` (or the directory `core.hooksPath` names).
    #[default]
    Plain,
    /// GitLab: `<repo>/custom_hooks/<hook>.d/git-guard`.
    Gitlab,
    /// Gitea and Forgejo: `<repo>/hooks/<hook>.d/git-guard`.
    Gitea,
}

impl Layout {
    pub fn parse(s: &str) -> Option<Layout> {
        Some(match s {
            "plain" => Layout::Plain,
            "gitlab" => Layout::Gitlab,
            "gitea" | "forgejo" => Layout::Gitea,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Layout::Plain => "plain",
            Layout::Gitlab => "gitlab",
            Layout::Gitea => "gitea",
        }
    }
}

/// One shim put in place, and the hook it moved aside (restored by uninstall).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledShim {
    pub hook: String,
    pub path: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chained: Option<PathBuf>,
}

/// A hook's settings, recorded at install time in `git-guard.toml` beside the shims, where
/// the repository's users cannot write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    /// The git-guard version that wrote the file.
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub side: Side,
    #[serde(default)]
    pub layout: Layout,
    /// The host whose variable names the pusher: plain, gitlab, gitea, gitolite, github, http.
    #[serde(default = "default_host")]
    pub host: String,
    /// The policy file. Absent: `policy.toml` at the tip of the base branch as it stood before
    /// the push, else the built-in default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PathBuf>,
    /// The audit log. Absent: the policy's `audit.log`, else `<git dir>/guard/audit.log`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_log: Option<PathBuf>,
    /// Overrides the policy's `hooks.deadline_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// `core.hooksPath` before install: its hooks still run, and uninstall restores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks_path_before: Option<String>,
    /// Whether that `core.hooksPath` was the repository's own setting (restored by uninstall)
    /// rather than a global one (then uninstall only removes ours).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hooks_path_local: bool,
    /// Whether install turned on `receive.fsckObjects` (uninstall puts it back as it was).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fsck_objects_set: bool,
    /// The repository's own `receive.fsckObjects` before install (absent: unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fsck_objects_before: Option<String>,
    /// What install put in place, for uninstall.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub installed: Vec<InstalledShim>,
    /// Directories install created (removed again by uninstall when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created_dirs: Vec<PathBuf>,
}

fn default_host() -> String {
    "plain".into()
}

impl HookConfig {
    /// A configuration for `side` with every default.
    pub fn new(side: Side) -> HookConfig {
        HookConfig {
            version: env!("CARGO_PKG_VERSION").into(),
            side,
            host: default_host(),
            ..Default::default()
        }
    }

    pub fn load(path: &Path) -> Result<HookConfig> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read the hook configuration {} (reinstall with `git guard install`)",
                path.display()
            )
        })?;
        let c: HookConfig = toml::from_str(&text)
            .with_context(|| format!("invalid hook configuration {}", path.display()))?;
        c.host()
            .with_context(|| format!("invalid hook configuration {}", path.display()))?;
        let max = crate::engine::policy::MAX_DURATION_SECS * 1000;
        if let Some(ms) = c.deadline_ms.filter(|ms| !(1..=max).contains(ms)) {
            anyhow::bail!(
                "invalid hook configuration {}: deadline_ms = {ms} cannot be used (1 to {max}); \
                 reinstall with `git guard install --deadline-ms MS`",
                path.display()
            );
        }
        Ok(c)
    }

    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).expect("a hook configuration always serializes");
        format!(
            "# git-guard hook configuration, written by `git guard install`.\n\
             # Hooks read it at every run; it is never read from the repository's content.\n{body}"
        )
    }

    pub fn host(&self) -> Result<Host> {
        Host::parse(&self.host).ok_or_else(|| {
            anyhow!(
                "unknown host {:?} (one of plain, gitlab, gitea, gitolite, github, http)",
                self.host
            )
        })
    }
}

/// The configuration beside a shim that names none: `git-guard.toml` in its directory, or in
/// the parent of a `<hook>.d/` directory.
pub fn config_beside(shim: &Path) -> Option<PathBuf> {
    let dir = shim.parent()?;
    let here = dir.join(CONFIG_FILE);
    if here.is_file() {
        return Some(here);
    }
    let is_dot_d = dir
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".d"));
    let up = dir.parent()?.join(CONFIG_FILE);
    (is_dot_d && up.is_file()).then_some(up)
}

/// The configuration git-guard's hooks were installed with in `repo`, found where
/// `git guard install` writes it: `<git dir>/guard/hooks/` (beside an existing
/// `core.hooksPath`), `<git dir>/hooks/` (plain and Gitea layouts), `<git dir>/custom_hooks/`
/// (GitLab), or the directory `core.hooksPath` names (an agent workspace's `hooks/`).
/// Commands run in the repository (`git guard approve` on the server, `git guard check` in a
/// workspace) read it so that they use the same policy and the same identity rules as the
/// hooks.
pub fn installed_config(repo: &gix::Repository) -> Result<Option<(PathBuf, HookConfig)>> {
    let git_dir = repo.git_dir();
    let mut dirs = vec![
        git_dir.join("guard").join("hooks"),
        git_dir.join("hooks"),
        git_dir.join("custom_hooks"),
    ];
    if let Ok(Some(p)) = repo.config_snapshot().trusted_path("core.hooksPath") {
        // git resolves a relative core.hooksPath from the top of the work tree (the git
        // directory of a bare repository).
        let base = repo.workdir().unwrap_or(git_dir);
        dirs.push(if p.is_absolute() { p } else { base.join(p) });
    }
    for dir in dirs {
        let path = dir.join(CONFIG_FILE);
        if path.is_file() {
            let config = HookConfig::load(&path)?;
            return Ok(Some((path, config)));
        }
    }
    Ok(None)
}

/// The policy for a command run in a repository (`git guard check`, `policy explain`, `flags`,
/// `approve`, `revoke`, `approvals`, `report`, `test`): the one the hooks of that repository
/// or clone use, so that every door of one place judges by one policy. Never read from what
/// is being judged.
///
/// Where git-guard's hooks are installed (see [`installed_config`]), it is their policy: the
/// file `git guard install --policy` recorded, else `policy.toml` at the tip of the base
/// branch, else the built-in default. On a server an explicit file that is not the hooks' is
/// refused: `git guard approve` there writes records the hooks would otherwise judge, so both
/// must read the same policy. Without installed hooks: the explicit file, else what hooks
/// installed without `--policy` would use: `policy.toml` at the tip of the base branch (a bare
/// repository's HEAD branch; in a clone `origin`'s default branch, else `origin/main`, else
/// `origin/master`), else the built-in default.
pub fn policy_for_repo(repo: &gix::Repository, explicit: Option<&Path>) -> Result<Policy> {
    if let Some((config_path, config)) = installed_config(repo)? {
        let on_server = config.side == Side::Server;
        match (explicit, &config.policy) {
            (Some(p), Some(installed)) if on_server && !same_file(p, installed) => {
                anyhow::bail!(
                    "the server hooks of this repository use the policy {} ({}): drop --policy {}, \
                     or reinstall the hooks with `git guard install --server --policy FILE`",
                    installed.display(),
                    config_path.display(),
                    p.display()
                )
            }
            (Some(p), None) if on_server => {
                anyhow::bail!(
                    "the server hooks of this repository use policy.toml of the base branch \
                     ({}): drop --policy {}, or reinstall the hooks with `git guard install \
                     --server --policy FILE`",
                    config_path.display(),
                    p.display()
                )
            }
            (Some(p), _) => return Ok(Policy::load(p)?),
            (None, _) => {
                return installed_policy(repo, &config).with_context(|| {
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
    // As hooks installed without --policy would: the base branch is the server's HEAD branch,
    // or in a clone the remote's default branch (never the clone's own branches, which are
    // what is judged).
    if repo.is_bare() {
        return installed_policy(repo, &HookConfig::new(Side::Server));
    }
    // A clone made from an empty repository has no `origin/HEAD`: the remote's main (then
    // master) as last fetched stands in for it; the clone's own branches never do.
    let base = match client_base(repo, "origin")? {
        Some(b) => Some(b),
        None => ["refs/remotes/origin/main", "refs/remotes/origin/master"]
            .into_iter()
            .find(|b| repo.try_find_reference(*b).ok().flatten().is_some())
            .map(String::from),
    };
    resolve_policy(repo, &HookConfig::new(Side::Client), base.as_deref(), &[])
}

/// Whether two paths name the same existing file.
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The policy the installed hooks use when nothing is being pushed: the configured file, else
/// `policy.toml` at the tip of the base branch (the server's HEAD branch, or in a clone the
/// remote's default branch), else the built-in default.
pub fn installed_policy(repo: &gix::Repository, config: &HookConfig) -> Result<Policy> {
    let base = match config.side {
        Side::Server => server_base(repo)?,
        Side::Client => client_base(repo, "origin")?,
    };
    resolve_policy(repo, config, base.as_deref(), &[])
}

/// The policy a hook uses: the file the admin configured; else `policy.toml` at the tip of the
/// base branch as it stood before the push (`base` and, when this push moves it, its old id
/// from `updates`); else the built-in default. A configured or committed policy that is broken
/// is an error, never a silent fallback.
pub fn resolve_policy(
    repo: &gix::Repository,
    config: &HookConfig,
    base: Option<&str>,
    updates: &[RefUpdate],
) -> Result<Policy> {
    if config.policy.is_some() {
        return policy_at(repo, config.policy.as_deref(), base, None);
    }
    let tip = policy_tip(repo, base, updates)?;
    policy_at(repo, None, base, tip)
}

/// The commit whose `policy.toml` [`resolve_policy`] reads when no file is configured: the tip
/// of `base` as it stood before the push (its old id in `updates` when this push moves it).
pub fn policy_tip(
    repo: &gix::Repository,
    base: Option<&str>,
    updates: &[RefUpdate],
) -> Result<Option<ObjectId>> {
    let Some(base) = base else {
        return Ok(None);
    };
    Ok(match updates.iter().find(|u| u.name == base) {
        Some(u) if u.old.is_null() => None,
        Some(u) => Some(u.old),
        None => match repo
            .try_find_reference(base)
            .with_context(|| format!("cannot read {base}"))?
        {
            Some(mut r) => Some(
                r.peel_to_id()
                    .with_context(|| format!("cannot resolve {base}"))?
                    .detach(),
            ),
            None => None,
        },
    })
}

/// The policy of a hook whose policy file is `file` (when the admin configured one), else
/// `policy.toml` at `tip` (a commit of the base branch `base`), else the built-in default.
/// The background judge of an admin import reads the policy its push was accepted under
/// with it, from what pre-receive recorded.
pub fn policy_at(
    repo: &gix::Repository,
    file: Option<&Path>,
    base: Option<&str>,
    tip: Option<ObjectId>,
) -> Result<Policy> {
    if let Some(path) = file {
        return Policy::load(path).with_context(|| {
            format!(
                "the policy configured for this hook ({}) cannot be used: fix it, or reinstall \
                 with another --policy",
                path.display()
            )
        });
    }
    let (Some(base), Some(tip)) = (base, tip) else {
        return Ok(Policy::builtin());
    };
    let text = (|| -> Result<Option<Vec<u8>>> {
        let commit = repo.find_commit(tip)?;
        let tree = commit.tree()?;
        let Some(entry) = tree.lookup_entry_by_path("policy.toml")? else {
            return Ok(None);
        };
        Ok(Some(entry.object()?.detach().data))
    })()
    .with_context(|| format!("cannot read policy.toml at {base} ({tip})"))?;
    let Some(text) = text else {
        return Ok(Policy::builtin());
    };
    let text =
        String::from_utf8(text).map_err(|_| anyhow!("policy.toml at {base} is not UTF-8"))?;
    let source = PolicySource::Commit(format!("{base} {}", short(&tip)));
    Policy::parse(&text, source).with_context(|| {
        format!("policy.toml at {base} is broken: fix it there (a human or admin push)")
    })
}

/// The branch the server's HEAD names: the protected base branch whose `policy.toml` governs.
pub fn server_base(repo: &gix::Repository) -> Result<Option<String>> {
    Ok(repo
        .head_name()
        .context("cannot read HEAD")?
        .map(|n| n.as_bstr().to_string()))
}

/// In a clone: the remote's default branch as last fetched (`refs/remotes/<remote>/HEAD`).
pub fn client_base(repo: &gix::Repository, remote: &str) -> Result<Option<String>> {
    let name = format!("refs/remotes/{remote}/HEAD");
    let Some(r) = repo
        .try_find_reference(name.as_str())
        .with_context(|| format!("cannot read {name}"))?
    else {
        return Ok(None);
    };
    Ok(Some(match r.target() {
        gix::refs::TargetRef::Symbolic(t) => t.as_bstr().to_string(),
        gix::refs::TargetRef::Object(_) => name,
    }))
}

fn short(id: &gix::ObjectId) -> String {
    id.to_hex_with_len(12).to_string()
}

/// The version in a shim's marker line, when the file is one of ours.
pub fn shim_version(text: &str) -> Option<&str> {
    text.lines()
        .take(3)
        .find_map(|l| l.strip_prefix(SHIM_MARKER))
        .map(str::trim)
}
