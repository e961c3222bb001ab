//! Making, resetting and removing a workspace: the directories and their modes, the recorded
//! policy and identity, the client hooks, the environment file.
//!
//! Runs git and writes files in the workspace; judges nothing itself.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};

use crate::engine::policy::{DEFAULT_POLICY, Policy};
use crate::hooks::install;
use crate::site::config::{HookConfig, Side};
use crate::site::workspace::{KEEPALIVE_PREFIX, POLICY_FILE, RECORD, Record, load_record};

use super::*;

/// The commit the upstream's base branch points at now.
pub(super) fn upstream_base_tip(record: &Record) -> Result<String> {
    Ok(git(
        &record.upstream,
        &[
            "rev-parse",
            "--verify",
            &format!("refs/heads/{}^{{commit}}", record.base),
        ],
    )
    .with_context(|| format!("the upstream has no branch {}", record.base))?
    .trim()
    .to_string())
}

/// The agent's branch for `topic` under the policy's agent namespace (`agent/*` -> `agent/topic`).
pub fn agent_branch(policy: &Policy, topic: &str) -> String {
    let ns = policy.refs.agent_namespace_text.trim();
    let ns = ns.strip_prefix("refs/heads/").unwrap_or(ns);
    if ns.contains('*') {
        ns.replacen('*', topic, 1)
    } else if ns.is_empty() {
        format!("agent/{topic}")
    } else {
        format!("{}/{topic}", ns.trim_end_matches('/'))
    }
}

pub(super) fn workspace_id(root: &Path, topic: &str) -> String {
    use sha2::Digest as _;
    let h = sha2::Sha256::digest(root.as_os_str().as_encoded_bytes());
    let hex: String = h.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let t: String = topic
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{t}-{hex}")
}

pub(super) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(super) fn set_mode(p: &Path, mode: u32) -> Result<()> {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set mode {mode:o} on {}", p.display()))
}

pub(super) fn single_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Create a workspace. See the module doc for the layout.
pub fn create(opts: &CreateOptions) -> Result<Created> {
    let start = Instant::now();
    let upstream = opts
        .upstream
        .canonicalize()
        .with_context(|| format!("cannot find the upstream {}", opts.upstream.display()))?;
    git(&upstream, &["rev-parse", "--git-dir"])
        .with_context(|| format!("{} is not a git repository", upstream.display()))?;
    if opts.root.exists()
        && std::fs::read_dir(&opts.root)
            .with_context(|| format!("cannot read {}", opts.root.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} exists and is not empty: choose a new directory, or `git guard workspace remove` it first",
            opts.root.display()
        );
    }
    let agent = opts
        .agent_user
        .as_deref()
        .map(AgentUser::lookup)
        .transpose()?;
    if agent.is_some() && !nix::unistd::geteuid().is_root() {
        bail!("--agent-user needs root: only root can give code-repo and sandbox to another user");
    }
    if agent.as_ref().is_some_and(|a| a.uid == 0) {
        bail!("the agent user must not be root: root can write everything the guard relies on");
    }

    let base = match &opts.base {
        Some(b) => b.clone(),
        None => git(&upstream, &["symbolic-ref", "--short", "HEAD"])
            .context("the upstream's HEAD is not a branch: name one with --base")?
            .trim()
            .to_string(),
    };
    let base_commit = git(
        &upstream,
        &[
            "rev-parse",
            "--verify",
            &format!("refs/heads/{base}^{{commit}}"),
        ],
    )
    .with_context(|| format!("the upstream has no branch {base:?}"))?
    .trim()
    .to_string();

    std::fs::create_dir_all(&opts.root)
        .with_context(|| format!("cannot create {}", opts.root.display()))?;
    let root = opts.root.canonicalize()?;
    let made = create_in(
        opts,
        &root,
        &upstream,
        agent.as_ref(),
        base,
        base_commit,
        start,
    );
    if made.is_err() {
        // A half-made workspace is worse than none: take it away, keep-alive refs included.
        if let Ok(record) = load_record(&root) {
            let prefix = format!("{KEEPALIVE_PREFIX}{}/", record.id);
            if let Ok(refs) = git(&upstream, &["for-each-ref", "--format=%(refname)", &prefix]) {
                for r in refs.lines().filter(|l| !l.is_empty()) {
                    let _ = git(&upstream, &["update-ref", "-d", r]);
                }
            }
        }
        let _ = std::fs::remove_dir_all(&root);
    }
    made
}

pub(super) fn create_in(
    opts: &CreateOptions,
    root: &Path,
    upstream: &Path,
    agent: Option<&AgentUser>,
    base: String,
    base_commit: String,
    start: Instant,
) -> Result<Created> {
    let root = root.to_path_buf();
    let upstream = upstream.to_path_buf();
    set_mode(&root, 0o755)?;
    for d in [
        "hooks",
        "sandbox",
        "deployments",
        "deployments/releases",
        "logs",
    ] {
        let p = root.join(d);
        std::fs::create_dir_all(&p).with_context(|| format!("cannot create {}", p.display()))?;
        set_mode(&p, 0o755)?;
    }

    // The policy: never read from what the agent can change. Without --policy, the one the
    // upstream's installed hooks name, so that the agent's clone judges as the server does.
    let policy_path = root.join("hooks").join(POLICY_FILE);
    let installed = match &opts.policy {
        Some(_) => None,
        None => upstream_installed_policy(&upstream)?,
    };
    let (policy_text, policy_source) = match opts.policy.as_ref().or(installed.as_ref()) {
        Some(p) => (
            std::fs::read_to_string(p)
                .with_context(|| format!("cannot read policy {}", p.display()))?,
            p.display().to_string(),
        ),
        None => match git(&upstream, &["show", &format!("{base_commit}:policy.toml")]) {
            Ok(text) => (
                text,
                format!("policy.toml at {base} ({})", short(&base_commit)),
            ),
            Err(_) => (
                DEFAULT_POLICY.to_string(),
                "the built-in default".to_string(),
            ),
        },
    };
    std::fs::write(&policy_path, &policy_text)
        .with_context(|| format!("cannot write {}", policy_path.display()))?;
    set_mode(&policy_path, 0o644)?;
    let policy = Policy::load(&policy_path)?;

    let topic = match &opts.topic {
        Some(t) => t.clone(),
        None => root
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("work")
            .to_string(),
    };
    let branch = agent_branch(&policy, &topic);
    git(&upstream, &["check-ref-format", "--branch", &branch]).with_context(|| {
        format!("{branch:?} is not a valid branch name: choose another --topic")
    })?;
    if !policy
        .refs
        .agent_namespace
        .is_match(&format!("refs/heads/{branch}"))
    {
        bail!(
            "{branch} is outside the policy's agent namespace {}",
            policy.refs.agent_namespace_text
        );
    }

    let (git_name, git_email) = identity(opts, agent, &topic)?;
    let record = Record {
        id: workspace_id(&root, &topic),
        upstream: upstream.clone(),
        base,
        branch,
        policy: policy_path.clone(),
        policy_source: policy_source.clone(),
        agent_user: agent.map(|a| a.name.clone()),
        git_name,
        git_email,
        created_unix: now_unix(),
    };
    let guard_hook = guard_hook_binary(opts.guard_hook.as_deref())?;
    write_client_hooks(&root.join("hooks"), &policy_path, &guard_hook)?;
    let record_path = root.join(RECORD);
    std::fs::write(&record_path, serde_json::to_string_pretty(&record)? + "\n")
        .with_context(|| format!("cannot write {}", record_path.display()))?;
    set_mode(&record_path, 0o644)?;
    let env_file = write_env_file(&root, &record)?;

    let (files, files_note, file_count) = make_clone(&root, &record, &base_commit)?;
    if let Some(a) = agent {
        chown_tree(&root.join("code-repo"), a)?;
        chown_tree(&root.join("sandbox"), a)?;
    }
    let keepalive_refs = refresh_keepalive(&root, &record, Some(&base_commit))?;
    let harnesses = install_harnesses(opts, &root, &env_file)?;
    Ok(Created {
        code_repo: root.join("code-repo"),
        root,
        branch: record.branch,
        base_commit,
        files,
        files_note,
        file_count,
        env_file,
        policy: policy_path,
        policy_source,
        guard_hook,
        agent_user: record.agent_user,
        keepalive_refs,
        discarded_commits: 0,
        harnesses,
        elapsed: start.elapsed(),
    })
}

/// The harness door for each harness asked for, and the variables that point Codex and Gemini
/// at their configuration, added to the environment file.
fn install_harnesses(
    opts: &CreateOptions,
    root: &Path,
    env_file: &Path,
) -> Result<Vec<crate::harness::install::Installed>> {
    use crate::harness::{Harness, install};
    if opts.harnesses.is_empty() {
        return Ok(Vec::new());
    }
    if opts.harness_system_root.as_deref() == Some(Path::new("/"))
        && !nix::unistd::geteuid().is_root()
    {
        bail!("--harness-system needs root: the managed settings live where only root writes");
    }
    let git_guard = std::env::current_exe().context("cannot find this program")?;
    let record = install::install(
        root,
        &install::Options {
            harnesses: opts.harnesses.clone(),
            guard_harness: install::find_guard_harness(opts.guard_harness.as_deref())?,
            git_guard,
            system_root: opts.harness_system_root.clone(),
        },
    )?;
    let mut env = std::fs::read_to_string(env_file)
        .with_context(|| format!("cannot read {}", env_file.display()))?;
    let dir = root.join(install::DIR_NAME);
    for h in &opts.harnesses {
        match h {
            Harness::Codex => env.push_str(&format!(
                "CODEX_HOME={}\n",
                single_quote(&dir.join("codex").display().to_string())
            )),
            Harness::Gemini => env.push_str(&format!(
                "GEMINI_CLI_SYSTEM_SETTINGS_PATH={}\n",
                single_quote(
                    &dir.join("gemini")
                        .join("settings.json")
                        .display()
                        .to_string()
                )
            )),
            _ => {}
        }
    }
    std::fs::write(env_file, env)
        .with_context(|| format!("cannot write {}", env_file.display()))?;
    Ok(record.installed)
}

pub(super) fn identity(
    opts: &CreateOptions,
    agent: Option<&AgentUser>,
    topic: &str,
) -> Result<(String, String)> {
    if let Some(id) = &opts.identity {
        let (name, rest) = id
            .split_once('<')
            .with_context(|| format!("identity {id:?} is not `Name <email>`"))?;
        let email = rest
            .strip_suffix('>')
            .with_context(|| format!("identity {id:?} is not `Name <email>`"))?;
        return Ok((name.trim().to_string(), email.trim().to_string()));
    }
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into());
    let user = agent.map_or("agent", |a| a.name.as_str());
    Ok((format!("{user} ({topic})"), format!("{user}@{host}")))
}

/// The policy file the upstream's installed git-guard hooks name, when they name one.
fn upstream_installed_policy(upstream: &Path) -> Result<Option<PathBuf>> {
    let repo = crate::engine::repo::open(upstream)?;
    Ok(crate::site::config::installed_config(&repo)?.and_then(|(_, c)| c.policy))
}

pub(super) fn write_env_file(root: &Path, record: &Record) -> Result<PathBuf> {
    let p = root.join("agent.env");
    let vars = [
        ("AGENT_DATA_ROOT", root.display().to_string()),
        (
            "AGENT_CODE_REPO_PATH",
            root.join("code-repo").display().to_string(),
        ),
        (
            "AGENT_SANDBOX_PATH",
            root.join("sandbox").display().to_string(),
        ),
        ("GIT_AUTHOR_NAME", record.git_name.clone()),
        ("GIT_AUTHOR_EMAIL", record.git_email.clone()),
        ("GIT_COMMITTER_NAME", record.git_name.clone()),
        ("GIT_COMMITTER_EMAIL", record.git_email.clone()),
    ];
    // `export`, so that the programs a shell runs after `. agent.env` see them, not only
    // the shell itself.
    let mut text = String::from(
        "# The agent's environment (written by `git guard workspace create`).\n\
         # Source it (`. agent.env`): every variable is exported to the programs run next.\n",
    );
    for (k, v) in vars {
        text.push_str(&format!("export {k}={}\n", single_quote(&v)));
    }
    std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
    set_mode(&p, 0o644)?;
    Ok(p)
}

/// Write the client hook shims and their `git-guard.toml` into `DIR/hooks`: the configuration
/// names the workspace's policy, and each shim runs `guard_hook` by its absolute path, so the
/// agent's `PATH` cannot substitute another program. Files are the caller's, 0755 and 0644.
pub(super) fn write_client_hooks(hooks: &Path, policy: &Path, guard_hook: &Path) -> Result<()> {
    let mut config = HookConfig::new(Side::Client);
    config.policy = Some(policy.to_path_buf());
    install::write_hooks_dir(hooks, &config, guard_hook)
        .with_context(|| format!("cannot write the client hooks in {}", hooks.display()))?;
    set_mode(hooks, 0o755)
}

/// The `guard-hook` binary the shims run: absolute, or why there is none.
pub(super) fn guard_hook_binary(given: Option<&Path>) -> Result<PathBuf> {
    let p = match given {
        Some(p) => p.to_path_buf(),
        None => install::find_guard_hook()?,
    };
    let p =
        std::path::absolute(&p).with_context(|| format!("cannot make {} absolute", p.display()))?;
    let executable = std::fs::metadata(&p).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0);
    if !executable {
        bail!(
            "{} is not an executable file: the client hooks need guard-hook",
            p.display()
        );
    }
    Ok(p)
}

/// Back to a fresh clone of the upstream: the clone is made again (its objects are borrowed,
/// so this costs a checkout, not a copy of the history). The sandbox is kept.
pub fn reset(root: &Path, guard_hook: Option<&Path>) -> Result<Created> {
    let start = Instant::now();
    let root = root
        .canonicalize()
        .with_context(|| format!("cannot find {}", root.display()))?;
    let record = load_record(&root)?;
    let agent = clone_user(&record)?;
    let discarded = clone_git(
        &root,
        &record,
        &["rev-list", "--count", "--all", "--not", "--remotes"],
    )
    .ok()
    .and_then(|s| s.trim().parse().ok())
    .unwrap_or(0);
    let base_commit = upstream_base_tip(&record)?;
    let code = root.join("code-repo");
    std::fs::remove_dir_all(&code).with_context(|| format!("cannot remove {}", code.display()))?;
    let guard_hook = guard_hook_binary(guard_hook)?;
    write_client_hooks(&root.join("hooks"), &record.policy, &guard_hook)?;
    let (files, files_note, file_count) = make_clone(&root, &record, &base_commit)?;
    if let Some(a) = &agent {
        chown_tree(&code, a)?;
    }
    let keepalive_refs = refresh_keepalive(&root, &record, Some(&base_commit))?;
    Ok(Created {
        code_repo: code,
        root: root.clone(),
        branch: record.branch,
        base_commit,
        files,
        files_note,
        file_count,
        env_file: root.join("agent.env"),
        policy: record.policy,
        policy_source: record.policy_source,
        guard_hook,
        agent_user: record.agent_user,
        keepalive_refs,
        discarded_commits: discarded,
        harnesses: crate::harness::install::load_record(&root)
            .map(|r| r.installed)
            .unwrap_or_default(),
        elapsed: start.elapsed(),
    })
}

/// Delete the keep-alive refs and the workspace directory. Returns how many refs were deleted.
pub fn remove(root: &Path) -> Result<usize> {
    let root = root
        .canonicalize()
        .with_context(|| format!("cannot find {}", root.display()))?;
    let record = load_record(&root)?;
    let prefix = format!("{KEEPALIVE_PREFIX}{}/", record.id);
    let mut n = 0;
    if record.upstream.exists() {
        let refs = git(
            &record.upstream,
            &["for-each-ref", "--format=%(refname)", &prefix],
        )?;
        for r in refs.lines().filter(|l| !l.is_empty()) {
            git(&record.upstream, &["update-ref", "-d", r])?;
            n += 1;
        }
    }
    std::fs::remove_dir_all(&root).with_context(|| format!("cannot remove {}", root.display()))?;
    Ok(n)
}
