//! The agent workspace: a dedicated clone of the upstream for the agent to work in.
//!
//! ```text
//! DIR/code-repo     the clone: objects borrowed from the upstream (alternates, as
//!                   `git clone --shared`), the agent's branch checked out; agent-writable
//! DIR/sandbox       scratch space; agent-writable
//! DIR/hooks         client hook shims (the clone's core.hooksPath), git-guard.toml (their
//!                   configuration, naming the policy) and policy.toml, the policy they and
//!                   guard-exec use; not agent-writable
//! DIR/deployments   for the deploy user; not agent-writable
//! DIR/logs          guard-exec's audit log; not agent-writable
//! DIR/agent.env     the environment for the agent's harness
//! DIR/workspace.json  what this workspace was made from
//! ```
//!
//! **Shared objects and upstream pruning.** The clone borrows every object that the upstream
//! had when it was made or fetched since; only objects the agent creates are the clone's own.
//! If the upstream dropped a branch and pruned (`git gc --prune=now`), a borrowed commit would
//! vanish and the clone would be corrupt. The workspace therefore keeps what it borrows alive
//! in the upstream with refs under `refs/guard/workspaces/<id>/`: `base` (the commit the
//! agent's branch started from) and `remotes/<name>` for every remote-tracking branch of the
//! clone. They are written at `create`, refreshed by `status` and `reset`, and deleted by
//! `remove`. The honest limit: a branch the agent fetches is protected from the next
//! `status` or `reset` on; until then it is protected only by the upstream's own ref.
//!
//! Commands that read the clone run git as the agent user when the workspace has one and this
//! process is root: the clone's configuration belongs to the agent, and git run as root in it
//! could be made to run the agent's programs (hooks, `core.fsmonitor`).

pub mod doctor;

use std::io::Read as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

use crate::engine::policy::{DEFAULT_POLICY, Policy};
use crate::hooks::install;
use crate::site::config::{HookConfig, Side};
use crate::site::guards;
use crate::site::workspace::{KEEPALIVE_PREFIX, POLICY_FILE, RECORD, Record, load_record};

/// How the clone's working files were made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FilesMode {
    /// Cloned block by block from the upstream's working tree (`FICLONE`): no data copied.
    Reflinked,
    /// Copied from the upstream's working tree (the file system cannot reflink).
    Copied,
    /// Written by `git checkout` from the shared objects (the upstream has no clean working
    /// tree at the base commit to copy from).
    CheckedOut,
}

impl std::fmt::Display for FilesMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FilesMode::Reflinked => "reflinked",
            FilesMode::Copied => "copied",
            FilesMode::CheckedOut => "checked out",
        })
    }
}

/// Options of `workspace create`.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub upstream: PathBuf,
    pub root: PathBuf,
    pub topic: Option<String>,
    pub agent_user: Option<String>,
    /// The upstream branch to start from (default: the upstream's HEAD).
    pub base: Option<String>,
    /// The policy file to record (default: `policy.toml` at the base commit, else built-in).
    pub policy: Option<PathBuf>,
    /// `Name <email>` to commit with (default: from the agent user or the topic).
    pub identity: Option<String>,
    /// The `guard-hook` the client hooks run (default: next to this program, else on `PATH`).
    pub guard_hook: Option<PathBuf>,
}

/// What `create` and `reset` did.
#[derive(Debug, Clone, Serialize)]
pub struct Created {
    pub root: PathBuf,
    pub code_repo: PathBuf,
    pub branch: String,
    pub base_commit: String,
    pub files: FilesMode,
    pub files_note: String,
    pub file_count: usize,
    pub env_file: PathBuf,
    pub policy: PathBuf,
    pub policy_source: String,
    /// The `guard-hook` the client hook shims in `DIR/hooks` run.
    pub guard_hook: PathBuf,
    pub agent_user: Option<String>,
    pub keepalive_refs: usize,
    /// Local commits dropped (reset only).
    pub discarded_commits: usize,
    pub elapsed: Duration,
}

impl std::fmt::Display for Created {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "workspace {}", self.root.display())?;
        writeln!(
            f,
            "  code-repo   {} (branch {} at {})",
            self.code_repo.display(),
            self.branch,
            short(&self.base_commit)
        )?;
        writeln!(
            f,
            "  files       {} ({} files{})",
            self.files,
            self.file_count,
            if self.files_note.is_empty() {
                String::new()
            } else {
                format!(": {}", self.files_note)
            }
        )?;
        writeln!(f, "  objects     shared with the upstream (alternates)")?;
        writeln!(
            f,
            "  keep-alive  {} ref(s) under {KEEPALIVE_PREFIX} in the upstream",
            self.keepalive_refs
        )?;
        writeln!(
            f,
            "  policy      {} (from {})",
            self.policy.display(),
            self.policy_source
        )?;
        writeln!(
            f,
            "  hooks       {} (client shims running {})",
            self.root.join("hooks").display(),
            self.guard_hook.display()
        )?;
        writeln!(f, "  env file    {}", self.env_file.display())?;
        if let Some(u) = &self.agent_user {
            writeln!(f, "  agent user  {u} (owns code-repo and sandbox only)")?;
        }
        if self.discarded_commits > 0 {
            writeln!(
                f,
                "  discarded   {} local commit(s) not in the upstream",
                self.discarded_commits
            )?;
        }
        write!(f, "  took        {} ms", self.elapsed.as_millis())
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

// ----------------------------------------------------------------------------------------
// git subprocesses (workspace management is not a hot path)
// ----------------------------------------------------------------------------------------

/// A git command in `dir`, run as `user` (uid, gid, home) when given.
fn git_cmd(dir: &Path, user: Option<&AgentUser>) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir);
    if let Some(u) = user {
        use std::os::unix::process::CommandExt as _;
        c.uid(u.uid).gid(u.gid).env("HOME", &u.home);
        // std drops the supplementary groups when it changes the uid from root.
    }
    c
}

fn run_git(mut c: Command, what: &str) -> Result<String> {
    let out = c
        .output()
        .with_context(|| format!("cannot run git ({what})"))?;
    if !out.status.success() {
        bail!(
            "git failed ({what}): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let mut c = git_cmd(dir, None);
    c.args(args);
    run_git(c, &format!("git {} in {}", args.join(" "), dir.display()))
}

/// The agent's unix account.
#[derive(Debug, Clone)]
pub struct AgentUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

impl AgentUser {
    pub fn lookup(name: &str) -> Result<AgentUser> {
        let u = nix::unistd::User::from_name(name)
            .with_context(|| format!("cannot look up user {name}"))?
            .with_context(|| {
                format!("no unix user named {name:?} (create it, or check --agent-user)")
            })?;
        Ok(AgentUser {
            name: u.name,
            uid: u.uid.as_raw(),
            gid: u.gid.as_raw(),
            home: u.dir,
        })
    }
}

/// The user git should run as in the clone: the agent, when we are root and there is one.
fn clone_user(record: &Record) -> Result<Option<AgentUser>> {
    match &record.agent_user {
        Some(name) if nix::unistd::geteuid().is_root() => Ok(Some(AgentUser::lookup(name)?)),
        _ => Ok(None),
    }
}

fn clone_git(root: &Path, record: &Record, args: &[&str]) -> Result<String> {
    let user = clone_user(record)?;
    let mut c = git_cmd(&root.join("code-repo"), user.as_ref());
    c.args(args);
    run_git(
        c,
        &format!("git {} in the workspace's clone", args.join(" ")),
    )
}

// ----------------------------------------------------------------------------------------
// create
// ----------------------------------------------------------------------------------------

/// The commit the upstream's base branch points at now.
fn upstream_base_tip(record: &Record) -> Result<String> {
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

fn workspace_id(root: &Path, topic: &str) -> String {
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

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn set_mode(p: &Path, mode: u32) -> Result<()> {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set mode {mode:o} on {}", p.display()))
}

fn single_quote(s: &str) -> String {
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

fn create_in(
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

    // The policy: never read from what the agent can change.
    let policy_path = root.join("hooks").join(POLICY_FILE);
    let (policy_text, policy_source) = match &opts.policy {
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
        elapsed: start.elapsed(),
    })
}

fn identity(
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

fn write_env_file(root: &Path, record: &Record) -> Result<PathBuf> {
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
    let mut text =
        String::from("# The agent's environment (written by `git guard workspace create`).\n");
    for (k, v) in vars {
        text.push_str(&format!("{k}={}\n", single_quote(&v)));
    }
    std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
    set_mode(&p, 0o644)?;
    Ok(p)
}

/// Write the client hook shims and their `git-guard.toml` into `DIR/hooks`: the configuration
/// names the workspace's policy, and each shim runs `guard_hook` by its absolute path, so the
/// agent's `PATH` cannot substitute another program. Files are the caller's, 0755 and 0644.
fn write_client_hooks(hooks: &Path, policy: &Path, guard_hook: &Path) -> Result<()> {
    let mut config = HookConfig::new(Side::Client);
    config.policy = Some(policy.to_path_buf());
    install::write_hooks_dir(hooks, &config, guard_hook)
        .with_context(|| format!("cannot write the client hooks in {}", hooks.display()))?;
    set_mode(hooks, 0o755)
}

/// The `guard-hook` binary the shims run: absolute, or why there is none.
fn guard_hook_binary(given: Option<&Path>) -> Result<PathBuf> {
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

/// Clone the upstream into DIR/code-repo sharing its objects, check out the agent's branch.
fn make_clone(
    root: &Path,
    record: &Record,
    base_commit: &str,
) -> Result<(FilesMode, String, usize)> {
    let code = root.join("code-repo");
    let code_s = code.display().to_string();
    let up_s = record.upstream.display().to_string();
    git(
        root,
        &[
            "clone",
            "--quiet",
            "--shared",
            "--no-checkout",
            "--origin",
            "origin",
            &up_s,
            &code_s,
        ],
    )?;
    git(
        &code,
        &["branch", "--no-track", &record.branch, base_commit],
    )?;
    git(
        &code,
        &[
            "symbolic-ref",
            "HEAD",
            &format!("refs/heads/{}", record.branch),
        ],
    )?;

    // Reflink the working files when the upstream has a clean working tree at the base commit.
    let source = reflink_source(&record.upstream, base_commit);
    let (mode, note) = match source {
        Ok(worktree) => match copy_tracked_files(&record.upstream, &worktree, &code) {
            Ok(mode) => {
                git(&code, &["reset", "--quiet"])?;
                git(&code, &["update-index", "-q", "--refresh"]).ok();
                let dirty = git(&code, &["status", "--porcelain", "--untracked-files=no"])?;
                if dirty.trim().is_empty() {
                    (mode, String::new())
                } else {
                    git(&code, &["checkout", "--quiet", "--force", &record.branch])?;
                    (
                        FilesMode::CheckedOut,
                        "the copied files did not match the base commit".into(),
                    )
                }
            }
            Err(e) => {
                git(&code, &["checkout", "--quiet", "--force", &record.branch])?;
                (
                    FilesMode::CheckedOut,
                    format!("could not copy the upstream's files: {e:#}"),
                )
            }
        },
        Err(why) => {
            git(&code, &["checkout", "--quiet", "--force", &record.branch])?;
            (FilesMode::CheckedOut, why)
        }
    };
    let count = git(&code, &["ls-files", "-z"])?
        .split('\0')
        .filter(|s| !s.is_empty())
        .count();
    // Last: from here on the hooks run on every commit and ref update in the clone.
    git(
        &code,
        &[
            "config",
            "core.hooksPath",
            &root.join("hooks").display().to_string(),
        ],
    )?;
    Ok((mode, note, count))
}

/// The upstream's working tree, if it is clean at `commit`; else why not.
fn reflink_source(upstream: &Path, commit: &str) -> std::result::Result<PathBuf, String> {
    let bare = git(upstream, &["rev-parse", "--is-bare-repository"]).map_err(|e| e.to_string())?;
    if bare.trim() == "true" {
        return Err(
            "the upstream is bare, so the files were written from the shared objects".into(),
        );
    }
    let top = git(upstream, &["rev-parse", "--show-toplevel"]).map_err(|e| e.to_string())?;
    let head = git(upstream, &["rev-parse", "HEAD"]).map_err(|e| e.to_string())?;
    if head.trim() != commit {
        return Err("the upstream's working tree is not at the base commit, so the files were written from the shared objects".into());
    }
    let dirty = git(upstream, &["status", "--porcelain", "--untracked-files=no"])
        .map_err(|e| e.to_string())?;
    if !dirty.trim().is_empty() {
        return Err("the upstream's working tree has changes, so the files were written from the shared objects".into());
    }
    Ok(PathBuf::from(top.trim()))
}

/// Copy the tracked files of `worktree` into `dest`, reflinking while the file system allows.
fn copy_tracked_files(upstream: &Path, worktree: &Path, dest: &Path) -> Result<FilesMode> {
    let list = git(upstream, &["ls-files", "-z", "--stage"])?;
    let mut reflink = true;
    let mut any = false;
    for entry in list.split('\0').filter(|s| !s.is_empty()) {
        let (meta, path) = entry
            .split_once('\t')
            .context("unexpected ls-files output")?;
        let mode = meta.split(' ').next().unwrap_or("");
        let src = worktree.join(path);
        let dst = dest.join(path);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)?;
        }
        match mode {
            "120000" => {
                let target = std::fs::read_link(&src)
                    .with_context(|| format!("cannot read link {}", src.display()))?;
                std::os::unix::fs::symlink(target, &dst)?;
            }
            "100644" | "100755" => {
                if reflink {
                    match reflink_file(&src, &dst) {
                        Ok(()) => any = true,
                        Err(_) => {
                            reflink = false;
                            let _ = std::fs::remove_file(&dst);
                        }
                    }
                }
                if !reflink {
                    std::fs::copy(&src, &dst)
                        .with_context(|| format!("cannot copy {}", src.display()))?;
                }
                let m = if mode == "100755" { 0o755 } else { 0o644 };
                set_mode(&dst, m)?;
            }
            // Submodules (160000) are left for the agent to initialise.
            _ => {}
        }
    }
    Ok(if reflink && any {
        FilesMode::Reflinked
    } else {
        FilesMode::Copied
    })
}

/// `ioctl(FICLONE)`: share the source's blocks; fails where the file system cannot.
fn reflink_file(src: &Path, dst: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd as _;
    let from = std::fs::File::open(src)?;
    let to = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dst)?;
    // SAFETY: both descriptors are open for the duration of the call; FICLONE takes the
    // source descriptor as its argument and writes no memory of ours.
    let r = unsafe { nix::libc::ioctl(to.as_raw_fd(), nix::libc::FICLONE, from.as_raw_fd()) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn chown_tree(p: &Path, a: &AgentUser) -> Result<()> {
    std::os::unix::fs::lchown(p, Some(a.uid), Some(a.gid))
        .with_context(|| format!("cannot give {} to {}", p.display(), a.name))?;
    let meta = std::fs::symlink_metadata(p)?;
    if meta.is_dir() {
        for e in std::fs::read_dir(p)? {
            chown_tree(&e?.path(), a)?;
        }
    }
    Ok(())
}

// ----------------------------------------------------------------------------------------
// keep-alive refs
// ----------------------------------------------------------------------------------------

/// Point the workspace's keep-alive refs in the upstream at what the clone borrows: `base`
/// (when given, else kept) and each remote-tracking branch of the clone. Returns how many
/// refs it holds.
pub fn refresh_keepalive(root: &Path, record: &Record, base: Option<&str>) -> Result<usize> {
    let prefix = format!("{KEEPALIVE_PREFIX}{}/", record.id);
    let existing = git(
        &record.upstream,
        &["for-each-ref", "--format=%(refname) %(objectname)", &prefix],
    )?;
    let mut want: Vec<(String, String)> = Vec::new();
    match base {
        Some(b) => want.push((format!("{prefix}base"), b.to_string())),
        None => {
            if let Some(line) = existing
                .lines()
                .find(|l| l.starts_with(&format!("{prefix}base ")))
            {
                let id = line.split(' ').nth(1).unwrap_or("").to_string();
                want.push((format!("{prefix}base"), id));
            }
        }
    }
    let remotes = clone_git(
        root,
        record,
        &[
            "for-each-ref",
            "--format=%(refname:lstrip=2) %(objectname)",
            "refs/remotes/",
        ],
    )?;
    for line in remotes.lines() {
        let Some((name, id)) = line.split_once(' ') else {
            continue;
        };
        if name.ends_with("/HEAD") {
            continue;
        }
        // Only what the upstream has can be kept there; the rest is the clone's own.
        if git(
            &record.upstream,
            &["cat-file", "-e", &format!("{id}^{{commit}}")],
        )
        .is_ok()
        {
            want.push((format!("{prefix}remotes/{name}"), id.to_string()));
        }
    }
    let mut stdin = String::new();
    for line in existing.lines() {
        let r = line.split(' ').next().unwrap_or("");
        if !r.is_empty() && !want.iter().any(|(w, _)| w == r) {
            stdin.push_str(&format!("delete {r}\n"));
        }
    }
    for (r, id) in &want {
        stdin.push_str(&format!("update {r} {id}\n"));
    }
    let mut c = git_cmd(&record.upstream, None);
    c.args(["update-ref", "--stdin"])
        .stdin(std::process::Stdio::piped());
    c.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c
        .spawn()
        .context("cannot run git update-ref in the upstream")?;
    {
        use std::io::Write as _;
        let mut si = child.stdin.take().context("no stdin for git update-ref")?;
        si.write_all(stdin.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "cannot write the keep-alive refs in {}: {}",
            record.upstream.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(want.len())
}

// ----------------------------------------------------------------------------------------
// status, reset, remove
// ----------------------------------------------------------------------------------------

/// What `workspace status` tells.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub root: PathBuf,
    pub branch: String,
    pub head: String,
    pub base: String,
    pub upstream_tip: String,
    pub ahead: usize,
    pub behind: usize,
    /// Outstanding flags (and violations) over upstream..HEAD, as `rule: message`.
    pub findings: Vec<String>,
    /// Why findings could not be computed, if they could not.
    pub findings_error: Option<String>,
    /// The upstream's last verdict on a push of the agent's branch (its server hooks' log).
    pub last_verdict: Option<String>,
    /// The last guard-exec run.
    pub last_exec: Option<String>,
    pub keepalive_refs: usize,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "workspace {}", self.root.display())?;
        writeln!(f, "  branch      {} at {}", self.branch, short(&self.head))?;
        writeln!(
            f,
            "  upstream    {} at {}: {} ahead, {} behind",
            self.base,
            short(&self.upstream_tip),
            self.ahead,
            self.behind
        )?;
        match (&self.findings_error, self.findings.is_empty()) {
            (Some(e), _) => writeln!(f, "  findings    could not judge: {e}")?,
            (None, true) => writeln!(f, "  findings    none outstanding")?,
            (None, false) => {
                writeln!(f, "  findings    {} outstanding", self.findings.len())?;
                for x in &self.findings {
                    writeln!(f, "    {x}")?;
                }
            }
        }
        writeln!(
            f,
            "  last push   {}",
            self.last_verdict.as_deref().unwrap_or("(none recorded)")
        )?;
        writeln!(
            f,
            "  last exec   {}",
            self.last_exec.as_deref().unwrap_or("(none recorded)")
        )?;
        write!(f, "  keep-alive  {} ref(s) refreshed", self.keepalive_refs)
    }
}

/// The last line of a JSON-lines audit log, told in one line.
fn last_event(path: &Path, want: impl Fn(&serde_json::Value) -> bool) -> Option<String> {
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .read_to_string(&mut text)
        .ok()?;
    text.lines().rev().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        if !want(&v) {
            return None;
        }
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
        let rules: Vec<String> = v
            .get("rules")
            .and_then(|r| r.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut out = format!("{} {}: {}", s("door"), s("action"), s("outcome"));
        if !rules.is_empty() {
            out.push_str(&format!(" [{}]", rules.join(", ")));
        }
        Some(out)
    })
}

/// The upstream's last pre-receive verdict on a push of the agent's branch, from the audit log
/// its server hooks append to.
fn last_push_verdict(record: &Record) -> Option<String> {
    let git_dir = guards::git_dir_of(&record.upstream).ok()?;
    let want = format!("refs/heads/{}", record.branch);
    let mut logs: Vec<PathBuf> = guards::server_guards(&record.upstream, &git_dir)
        .into_iter()
        .map(|g| g.audit_log)
        .collect();
    logs.dedup();
    logs.iter().find_map(|log| {
        last_event(log, |v| {
            v.get("door").and_then(|d| d.as_str()) == Some("pre-receive")
                && v.pointer("/detail/updates")
                    .and_then(|u| u.as_array())
                    .is_some_and(|u| {
                        u.iter()
                            .any(|x| x.get("ref").and_then(|r| r.as_str()) == Some(&want))
                    })
        })
    })
}

/// Branch, ahead/behind the upstream, outstanding findings, last verdict; refreshes the
/// keep-alive refs.
pub fn status(root: &Path) -> Result<Status> {
    let root = root
        .canonicalize()
        .with_context(|| format!("cannot find {}", root.display()))?;
    let record = load_record(&root)?;
    let head = clone_git(&root, &record, &["rev-parse", "HEAD"])?
        .trim()
        .to_string();
    let branch = clone_git(&root, &record, &["symbolic-ref", "--short", "-q", "HEAD"])
        .map(|b| b.trim().to_string())
        .unwrap_or_else(|_| "(detached)".into());
    let upstream_tip = upstream_base_tip(&record)?;
    // The clone sees the upstream's objects, so the upstream tip needs no fetch.
    let counts = clone_git(
        &root,
        &record,
        &[
            "rev-list",
            "--left-right",
            "--count",
            &format!("{upstream_tip}...HEAD"),
        ],
    )?;
    let mut it = counts
        .split_whitespace()
        .map(|n| n.parse::<usize>().unwrap_or(0));
    let behind = it.next().unwrap_or(0);
    let ahead = it.next().unwrap_or(0);
    let (findings, findings_error) = if ahead == 0 {
        (Vec::new(), None)
    } else {
        match judge_ahead(&root, &record, &upstream_tip) {
            Ok(f) => (f, None),
            Err(e) => (Vec::new(), Some(format!("{e:#}"))),
        }
    };
    let last_verdict = last_push_verdict(&record);
    let last_exec = last_event(&root.join("logs/audit.log"), |v| {
        v.get("door").and_then(|d| d.as_str()) == Some("exec")
    });
    let keepalive_refs = refresh_keepalive(&root, &record, None)?;
    Ok(Status {
        root,
        branch,
        head,
        base: record.base,
        upstream_tip,
        ahead,
        behind,
        findings,
        findings_error,
        last_verdict,
        last_exec,
        keepalive_refs,
    })
}

fn judge_ahead(root: &Path, record: &Record, upstream_tip: &str) -> Result<Vec<String>> {
    let policy = Policy::load(&record.policy)?;
    let repo = gix::open(root.join("code-repo")).context("cannot open the workspace's clone")?;
    let unit = crate::engine::model::range(
        &repo,
        &format!("{upstream_tip}..HEAD"),
        crate::engine::model::ModelOptions {
            content: true,
            max_blob_scan_bytes: policy.hooks.max_blob_scan_bytes,
        },
    )?;
    let name = record.agent_user.clone().unwrap_or_else(|| "agent".into());
    let actor = crate::engine::identity::Actor::new(name, "workspace", &policy);
    let verdict = crate::engine::judge_units(&policy, &actor, vec![unit]);
    Ok(verdict
        .findings
        .iter()
        .filter(|f| f.severity >= crate::engine::verdict::Severity::Flag)
        .map(|f| {
            let sev = if f.severity == crate::engine::verdict::Severity::Flag {
                "flag"
            } else {
                "violation"
            };
            match &f.path {
                Some(p) => format!("{sev} {}: {p}: {}", f.rule, f.message),
                None => format!("{sev} {}: {}", f.rule, f.message),
            }
        })
        .collect())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::policy::PolicySource;

    #[test]
    fn agent_branch_follows_the_namespace() {
        let p = Policy::builtin();
        assert_eq!(agent_branch(&p, "fix-1"), "agent/fix-1");
        let p = Policy::parse(
            "[refs]\nagent_namespace = \"bots/*/work\"\n",
            PolicySource::Builtin,
        )
        .unwrap();
        assert_eq!(agent_branch(&p, "x"), "bots/x/work");
    }

    #[test]
    fn ids_differ_by_directory() {
        assert_ne!(
            workspace_id(Path::new("/a"), "t"),
            workspace_id(Path::new("/b"), "t")
        );
        assert!(workspace_id(Path::new("/a"), "x/y z").starts_with("x-y-z-"));
    }
}
