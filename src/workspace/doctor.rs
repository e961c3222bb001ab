//! `git guard doctor`: every way the agent could get past the guard on this machine.
//!
//! Each finding has a level (`high`: the agent can switch a guard off or go around it; `medium`:
//! it weakens a guard or breaks the workspace; `info`: a limit to know) and the fix. Ownership and
//! modes are read with `stat(2)` and judged for the agent's uid and groups the way the kernel
//! would (owner bits for the owner, group bits for a member, other bits otherwise; root may write
//! anything; the owner of a file may chmod it; a writable directory lets the agent replace what
//! is in it unless the sticky bit protects entries it does not own). ACLs are not read.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

use crate::site::guards::{
    ServerGuard, config_value, exec_program, git_dir_of, git_out, hooks_dir_of, server_guards,
};
use crate::site::workspace::{self, Record};

/// How much a finding weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Info,
    Medium,
    High,
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Level::Info => "info",
            Level::Medium => "medium",
            Level::High => "high",
        })
    }
}

/// One way past the guard, or one limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub level: Level,
    /// A stable id (`hooks-writable`, `upstream-writable`, `client-hooks-skippable`, ...).
    pub id: String,
    pub what: String,
    pub fix: String,
}

/// Everything doctor found, and what it could not check.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub cannot_check: Vec<String>,
}

impl Report {
    /// 1 when anything high was found, else 2 when something could not be checked, else 0.
    pub fn exit_code(&self) -> u8 {
        if self.findings.iter().any(|f| f.level == Level::High) {
            1
        } else if !self.cannot_check.is_empty() {
            2
        } else {
            0
        }
    }

    fn add(&mut self, level: Level, id: &str, what: impl Into<String>, fix: impl Into<String>) {
        self.findings.push(Finding {
            level,
            id: id.into(),
            what: what.into(),
            fix: fix.into(),
        });
    }

    /// The report for people: most severe first.
    pub fn render_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let mut sorted: Vec<&Finding> = self.findings.iter().collect();
        sorted.sort_by_key(|f| std::cmp::Reverse(f.level));
        for f in sorted {
            writeln!(
                out,
                "{:<6} {}: {}",
                f.level.to_string().to_uppercase(),
                f.id,
                f.what
            )?;
            writeln!(out, "       fix: {}", f.fix)?;
        }
        for c in &self.cannot_check {
            writeln!(out, "CANNOT CHECK: {c}")?;
        }
        let high = self
            .findings
            .iter()
            .filter(|f| f.level == Level::High)
            .count();
        let medium = self
            .findings
            .iter()
            .filter(|f| f.level == Level::Medium)
            .count();
        writeln!(
            out,
            "{high} high, {medium} medium, {} info{}",
            self.findings.len() - high - medium,
            if self.cannot_check.is_empty() {
                String::new()
            } else {
                format!(", {} not checked", self.cannot_check.len())
            }
        )
    }
}

/// What to examine.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A workspace made by `git guard workspace create`.
    pub root: Option<PathBuf>,
    /// The agent's unix user (default: the one the workspace recorded).
    pub agent_user: Option<String>,
    /// The upstream repository (default: the one the workspace was made from).
    pub repo: Option<PathBuf>,
}

/// The agent's identity as the kernel checks it.
#[derive(Debug, Clone)]
pub struct Who {
    pub name: String,
    pub uid: u32,
    pub gids: BTreeSet<u32>,
}

impl Who {
    pub fn lookup(name: &str) -> Result<Who> {
        let u = nix::unistd::User::from_name(name)
            .with_context(|| format!("cannot look up user {name}"))?
            .with_context(|| format!("no unix user named {name:?}"))?;
        let cname = std::ffi::CString::new(name).context("user name holds a NUL byte")?;
        let mut gids: BTreeSet<u32> = nix::unistd::getgrouplist(&cname, u.gid)
            .with_context(|| format!("cannot list the groups of {name}"))?
            .into_iter()
            .map(|g| g.as_raw())
            .collect();
        gids.insert(u.gid.as_raw());
        Ok(Who {
            name: u.name,
            uid: u.uid.as_raw(),
            gids,
        })
    }

    /// Whether the agent may write `st` (or chmod it into writable, as its owner).
    fn can_write(&self, st: &nix::sys::stat::FileStat) -> bool {
        let mode = st.st_mode;
        if self.uid == 0 || st.st_uid == self.uid {
            return true;
        }
        if self.gids.contains(&st.st_gid) {
            mode & 0o020 != 0
        } else {
            mode & 0o002 != 0
        }
    }

    fn can_read_dir(&self, st: &nix::sys::stat::FileStat) -> bool {
        let mode = st.st_mode;
        let bits = if self.uid == 0 {
            return true;
        } else if st.st_uid == self.uid {
            (mode >> 6) & 0o7
        } else if self.gids.contains(&st.st_gid) {
            (mode >> 3) & 0o7
        } else {
            mode & 0o7
        };
        bits & 0o5 == 0o5
    }
}

fn describe(st: &nix::sys::stat::FileStat) -> String {
    let owner = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(st.st_uid))
        .ok()
        .flatten()
        .map_or(st.st_uid.to_string(), |u| u.name);
    let group = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(st.st_gid))
        .ok()
        .flatten()
        .map_or(st.st_gid.to_string(), |g| g.name);
    format!("{owner}:{group} mode {:04o}", st.st_mode & 0o7777)
}

/// How the agent could change `path`: by writing it, or by replacing it (or an ancestor) in a
/// directory it may write. None when it cannot.
fn exposure(who: &Who, path: &Path) -> Option<String> {
    let st = nix::sys::stat::lstat(path).ok()?;
    if who.can_write(&st) {
        return Some(format!(
            "{} is writable by {} ({})",
            path.display(),
            who.name,
            describe(&st)
        ));
    }
    let mut child = path.to_path_buf();
    let mut child_st = st;
    while let Some(parent) = child.parent() {
        if parent.as_os_str().is_empty() {
            break;
        }
        let Ok(pst) = nix::sys::stat::stat(parent) else {
            break;
        };
        let sticky = pst.st_mode & 0o1000 != 0;
        if who.can_write(&pst) && (!sticky || child_st.st_uid == who.uid || pst.st_uid == who.uid) {
            return Some(format!(
                "{} can be replaced: its directory {} is writable by {} ({})",
                child.display(),
                parent.display(),
                who.name,
                describe(&pst)
            ));
        }
        child = parent.to_path_buf();
        child_st = pst;
    }
    None
}

/// The first exposure in a tree (the root and its ancestors, then everything under it), with a
/// count of exposed entries. Symlinks are judged themselves, not followed.
fn tree_exposure(who: &Who, root: &Path) -> Option<(String, usize)> {
    let first = exposure(who, root);
    let mut count = usize::from(first.is_some());
    let mut first = first;
    let mut stack = vec![root.to_path_buf()];
    let mut seen = 0usize;
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            seen += 1;
            if seen > 50_000 {
                break;
            }
            let p = e.path();
            if let Ok(st) = nix::sys::stat::lstat(&p) {
                if who.can_write(&st) {
                    count += 1;
                    first.get_or_insert_with(|| {
                        format!(
                            "{} is writable by {} ({})",
                            p.display(),
                            who.name,
                            describe(&st)
                        )
                    });
                }
                if st.st_mode & nix::libc::S_IFMT == nix::libc::S_IFDIR {
                    stack.push(p);
                }
            }
        }
    }
    first.map(|f| (f, count))
}

const PRIVILEGED_GROUPS: &[&str] = &["root", "sudo", "wheel", "admin", "docker", "lxd", "disk"];

/// Examine the machine. An `Err` means doctor could not start (no workspace and no repository).
pub fn run(opts: &Options) -> Result<Report> {
    let mut r = Report::default();
    let root = opts
        .root
        .as_ref()
        .map(|p| {
            p.canonicalize()
                .with_context(|| format!("cannot find the workspace {}", p.display()))
        })
        .transpose()?;
    let record: Option<Record> = root.as_deref().map(workspace::load_record).transpose()?;
    let repo = opts
        .repo
        .clone()
        .or_else(|| record.as_ref().map(|r| r.upstream.clone()));
    if root.is_none() && repo.is_none() {
        bail!("nothing to examine: give --root DIR (a workspace) or a repository");
    }
    let agent_name = opts
        .agent_user
        .clone()
        .or_else(|| record.as_ref().and_then(|r| r.agent_user.clone()));
    let who = match &agent_name {
        Some(n) => Some(Who::lookup(n)?),
        None => {
            r.cannot_check.push(
                "no agent user (give --agent-user USER): who can write what was not checked".into(),
            );
            None
        }
    };

    r.add(
        Level::Info,
        "client-hooks-skippable",
        "client hooks can always be skipped: `git commit --no-verify`, `git -c core.hooksPath=/dev/null`, editing .git/config, or git plumbing. They give the agent fast feedback and nothing more",
        "nothing to fix: what must hold is enforced again by the upstream's pre-receive (run by the server, not the agent) and by guard-deploy; keep those in place",
    );
    // guard-exec's kernel walls (see contain::walls): loud when the kernel lacks them.
    if let Some(record) = &record {
        let refuses = !matches!(
            crate::engine::policy::Policy::load(&record.policy),
            Ok(p) if p.commands.walls == crate::engine::policy::WallsMode::JudgedOnly
        );
        let support = crate::contain::walls::Support::probe();
        let (holds, what, fix) = crate::contain::walls::doctor_report(support, refuses);
        let (level, id) = if holds {
            (Level::Info, "guard-exec-walls")
        } else {
            (Level::High, "walls-missing")
        };
        r.add(level, id, what, fix);
    }

    if let Some(who) = &who {
        check_user(&mut r, who);
    }
    if let (Some(root), Some(record)) = (&root, &record) {
        check_workspace(&mut r, who.as_ref(), root, record);
        check_harnesses(&mut r, who.as_ref(), root);
    }
    if let Some(repo) = &repo {
        check_upstream(&mut r, who.as_ref(), repo, root.as_deref(), record.as_ref())?;
    }
    if let Some(who) = &who {
        for bin in [
            "guard-hook",
            "git-guard",
            "guard-exec",
            "guard-deploy",
            "git",
        ] {
            if let Ok(p) = which::which(bin)
                && let Some(e) = exposure(who, &p)
            {
                r.add(
                    Level::High,
                    "binary-writable",
                    format!("{e}: the agent can replace {bin}, which the guard runs"),
                    format!("install {bin} where only root (or the admin) can write"),
                );
            }
        }
    }
    Ok(r)
}

/// The harness door's checks ([`crate::harness::doctor`]), with this module's test of who may
/// write a path.
fn check_harnesses(r: &mut Report, who: Option<&Who>, root: &Path) {
    let home = who
        .and_then(|w| nix::unistd::User::from_name(&w.name).ok().flatten())
        .map(|u| u.dir);
    let exposed = |p: &Path| who.and_then(|w| exposure(w, p));
    let exposure_fn: Option<crate::harness::doctor::Exposure<'_>> = who.map(|_| &exposed as _);
    for p in crate::harness::doctor::check(root, exposure_fn, home.as_deref()) {
        let level = if p.severe {
            Level::High
        } else if p.info {
            Level::Info
        } else {
            Level::Medium
        };
        r.add(level, p.id, p.what, p.fix);
    }
}

fn check_user(r: &mut Report, who: &Who) {
    if who.uid == 0 {
        r.add(
            Level::High,
            "agent-is-root",
            format!(
                "the agent user {} is root: it can write everything the guard relies on",
                who.name
            ),
            "run the agent as an unprivileged user of its own",
        );
        return;
    }
    for g in &who.gids {
        if let Ok(Some(group)) = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(*g))
            && PRIVILEGED_GROUPS.contains(&group.name.as_str())
        {
            r.add(
                Level::High,
                "agent-privileged-group",
                format!(
                    "the agent user {} is in group {}, which gives root or equivalent",
                    who.name, group.name
                ),
                format!("remove it: gpasswd -d {} {}", who.name, group.name),
            );
        }
    }
}

fn check_workspace(r: &mut Report, who: Option<&Who>, root: &Path, record: &Record) {
    let hooks = root.join("hooks");
    let code = root.join("code-repo");
    let hooks_path = config_value(&code.join(".git/config"), "core.hooksPath");
    if hooks_path.as_deref().map(Path::new) != Some(hooks.as_path()) {
        r.add(
            Level::Medium,
            "client-hooks-off",
            format!(
                "the clone's core.hooksPath is {} instead of {}: the agent gets no early feedback",
                hooks_path.as_deref().unwrap_or("(unset)"),
                hooks.display()
            ),
            format!("`git guard workspace reset --root {}`", root.display()),
        );
    }
    for h in crate::site::config::Hook::CLIENT.iter().map(|h| h.name()) {
        if !hooks.join(h).is_file() {
            r.add(
                Level::Medium,
                "client-hook-missing",
                format!("{} is missing", hooks.join(h).display()),
                format!("`git guard workspace reset --root {}`", root.display()),
            );
        }
    }
    // The shims read DIR/hooks/git-guard.toml, which must name the recorded policy, and run a
    // guard-hook that exists.
    let config_path = hooks.join(crate::site::config::CONFIG_FILE);
    let config_problem = match crate::site::config::HookConfig::load(&config_path) {
        Err(e) => Some(format!("{e:#}")),
        Ok(c) if c.policy.as_deref() != Some(record.policy.as_path()) => Some(format!(
            "{} names the policy {} instead of the recorded {}",
            config_path.display(),
            c.policy
                .as_deref()
                .map_or("(none)".into(), |p| p.display().to_string()),
            record.policy.display()
        )),
        Ok(_) => None,
    };
    if let Some(why) = config_problem {
        r.add(
            Level::Medium,
            "client-hooks-config",
            format!("{why}: the client hooks do not judge by the workspace's policy"),
            format!("`git guard workspace reset --root {}`", root.display()),
        );
    }
    let client_guard_hook = std::fs::read_to_string(hooks.join("pre-commit"))
        .ok()
        .and_then(|t| exec_program(&t));
    if let Some(b) = client_guard_hook
        .as_ref()
        .filter(|b| b.is_absolute() && !b.is_file())
    {
        r.add(
            Level::Medium,
            "client-hooks-broken",
            format!(
                "the client hooks run {}, which does not exist: every commit fails",
                b.display()
            ),
            format!(
                "install guard-hook, then `git guard workspace reset --root {}`",
                root.display()
            ),
        );
    }
    if !record.policy.is_file() {
        r.add(
            Level::High,
            "policy-missing",
            format!("the recorded policy {} is missing", record.policy.display()),
            "restore it, or make the workspace again",
        );
    } else if let Err(e) = crate::engine::policy::Policy::load(&record.policy) {
        r.add(
            Level::High,
            "policy-invalid",
            format!("the recorded policy does not load: {e}"),
            "fix it (`git guard policy check`)",
        );
    }
    let Some(who) = who else { return };
    let walls: [(&str, PathBuf, Level, &str); 6] = [
        (
            "hooks-writable",
            hooks.clone(),
            Level::High,
            "the agent can rewrite its hooks and the policy they read",
        ),
        (
            "policy-writable",
            record.policy.clone(),
            Level::High,
            "the agent can rewrite the policy guard-exec and its hooks use",
        ),
        (
            "record-writable",
            root.join(workspace::RECORD),
            Level::High,
            "the agent can change the workspace record (upstream, policy path, agent user)",
        ),
        (
            "deployments-writable",
            root.join("deployments"),
            Level::High,
            "the agent can write releases or the deploy state",
        ),
        (
            "logs-writable",
            root.join("logs"),
            Level::Medium,
            "the agent can edit or remove guard-exec's audit log",
        ),
        (
            "env-writable",
            root.join("agent.env"),
            Level::Medium,
            "the agent can change the environment its harness starts it with",
        ),
    ];
    let mut walls: Vec<(&str, PathBuf, Level, &str)> = walls.into();
    if let Some(b) = client_guard_hook.filter(|b| b.is_absolute()) {
        walls.push((
            "binary-writable",
            b,
            Level::High,
            "the agent can replace the guard-hook its client hooks run",
        ));
    }
    for (id, path, level, why) in walls {
        if let Some((e, n)) = tree_exposure(who, &path) {
            r.add(
                level,
                id,
                format!("{e}{}: {why}", if n > 1 { format!(" (and {} more)", n - 1) } else { String::new() }),
                format!(
                    "chown -R root: {p} && chmod -R go-w {p} (and make every directory above it unwritable by {})",
                    who.name,
                    p = path.display()
                ),
            );
        }
    }
    for sub in ["code-repo", "sandbox"] {
        if let Ok(st) = nix::sys::stat::stat(&root.join(sub))
            && record.agent_user.is_some()
            && st.st_uid != who.uid
        {
            r.add(
                Level::Info,
                "agent-cannot-write-workspace",
                format!(
                    "{} does not belong to {}",
                    root.join(sub).display(),
                    who.name
                ),
                format!("chown -R {} {}", who.name, root.join(sub).display()),
            );
        }
    }
}

fn report_server_guards(r: &mut Report, repo: &Path, guards: &[ServerGuard]) {
    if guards.is_empty() {
        r.add(
            Level::High,
            "server-guard-missing",
            format!(
                "{} has no pre-receive hook running guard-hook: pushes are not judged by anyone the agent does not control",
                repo.display()
            ),
            format!(
                "`git guard install --server {}` (add `--layout gitlab` or `--layout gitea` on those hosts)",
                repo.display()
            ),
        );
        return;
    }
    for g in guards {
        let runs = match g.layout {
            "gitlab" => " when GitLab (Gitaly) runs the repository's custom hooks",
            "gitea" => " when Gitea or Forgejo runs the repository's pre-receive.d hooks",
            _ => "",
        };
        r.add(
            Level::Info,
            "server-guard",
            format!(
                "{} ({} layout) runs {}{runs}; configuration {}; policy {}; audit log {}",
                g.shim.display(),
                g.layout,
                g.guard_hook
                    .as_deref()
                    .map_or("(nothing)".into(), |b| b.display().to_string()),
                g.config
                    .as_deref()
                    .map_or("none".into(), |c| c.display().to_string()),
                g.policy.as_deref().map_or(
                    "policy.toml of the base branch, else the built-in".into(),
                    |p| p.display().to_string()
                ),
                g.audit_log.display()
            ),
            "nothing to fix: this is the wall that holds when client hooks are skipped",
        );
        if let Some(why) = &g.broken {
            r.add(
                Level::Medium,
                "server-guard-broken",
                format!("{why}: every push is rejected (the guard fails closed)"),
                format!(
                    "`git guard install --server {}` again, with guard-hook installed",
                    repo.display()
                ),
            );
        }
    }
}

/// Admin imports accepted over the deadline that are not judged yet, could not be judged, or
/// were judged with violations (see [`crate::site::imports`]): never silent.
fn report_imports(r: &mut Report, git_dir: &Path) {
    use crate::site::imports::{self, ImportState};
    let states = match imports::list(git_dir) {
        Ok(s) => s,
        Err(e) => {
            r.cannot_check.push(format!("admin imports: {e:#}"));
            return;
        }
    };
    for state in states {
        let what = state.describe();
        match &state {
            ImportState::Pending { path, judging, .. } => r.add(
                Level::Medium,
                "import-pending",
                what,
                if *judging {
                    "wait for the judge: its verdict goes to the audit log (`git guard log`)".into()
                } else {
                    format!(
                        "judge it now: `guard-hook judge-import {}` (as the user the server runs hooks as)",
                        path.display()
                    )
                },
            ),
            ImportState::Failed { path, .. } => r.add(
                Level::High,
                "import-failed",
                what,
                format!(
                    "fix what the error names, then judge it again: `guard-hook judge-import {}`; its output is in {}",
                    path.display(),
                    path.with_extension("log").display()
                ),
            ),
            ImportState::Violations { path, .. } => r.add(
                Level::High,
                "import-violations",
                what,
                format!(
                    "read the verdict in the audit log (`git guard log`), revert or rewrite what broke the policy (rotate any secret it holds; guard-deploy judges these commits again before any deploy), then remove {}",
                    path.display()
                ),
            ),
            ImportState::Unreadable { path, .. } => r.add(
                Level::High,
                "import-unreadable",
                what,
                format!(
                    "look at {} and remove it once the import it belonged to is judged",
                    path.display()
                ),
            ),
        }
    }
}

fn check_upstream(
    r: &mut Report,
    who: Option<&Who>,
    repo: &Path,
    root: Option<&Path>,
    record: Option<&Record>,
) -> Result<()> {
    let repo = repo
        .canonicalize()
        .with_context(|| format!("cannot find the repository {}", repo.display()))?;
    // Found without running git there: the repository may belong to the agent, and git run
    // as root in it would read the agent's configuration.
    let git_dir = git_dir_of(&repo)?;
    let guards = server_guards(&repo, &git_dir);
    let hooks_dir = hooks_dir_of(&repo, &git_dir);
    report_server_guards(r, &repo, &guards);
    report_imports(r, &git_dir);
    if let (Some(root), Some(record)) = (root, record) {
        let base = format!("{}{}/base", workspace::KEEPALIVE_PREFIX, record.id);
        // rev-parse only reads refs, whoever owns the repository.
        if git_out(
            &repo,
            &[
                "-c",
                "safe.directory=*",
                "rev-parse",
                "--verify",
                "-q",
                &base,
            ],
        )
        .is_none()
        {
            r.add(
                Level::Medium,
                "keepalive-missing",
                format!("{base} is missing in the upstream: a gc there may prune objects the workspace borrows"),
                format!("`git guard workspace status --root {}` writes it again", root.display()),
            );
        }
        let url = config_value(&root.join("code-repo/.git/config"), "remote.origin.url");
        let local = url
            .as_deref()
            .is_some_and(|u| u.starts_with('/') || u.starts_with("file://") || u.starts_with('.'));
        if local {
            r.add(
                Level::Info,
                "push-path-local",
                format!(
                    "origin is a local path ({}): a push runs receive-pack as the agent's own user, so it succeeds only if the agent can write the upstream",
                    url.unwrap_or_default()
                ),
                "serve the upstream over ssh or http as another user (a git server), so the server hooks run with rights the agent does not have",
            );
        }
    }
    let Some(who) = who else { return Ok(()) };
    let st = nix::sys::stat::stat(&git_dir).context("cannot stat the repository")?;
    if st.st_uid == who.uid {
        r.add(
            Level::High,
            "upstream-owned-by-agent",
            format!(
                "{} belongs to {}: receive-pack would run as the agent, which can write the repository directly and bypass or edit the server hooks",
                git_dir.display(),
                who.name
            ),
            format!("chown -R the repository to the git server's user, not {}", who.name),
        );
    }
    let parts: [(&str, PathBuf, &str); 5] = [
        (
            "upstream-objects-writable",
            git_dir.join("objects"),
            "the agent can add or remove objects without a push",
        ),
        (
            "upstream-refs-writable",
            git_dir.join("refs"),
            "the agent can move branches and approvals without a push",
        ),
        (
            "upstream-refs-writable",
            git_dir.join("packed-refs"),
            "the agent can move branches and approvals without a push",
        ),
        (
            "upstream-config-writable",
            git_dir.join("config"),
            "the agent can change the upstream's configuration, hooks path included",
        ),
        (
            "upstream-hooks-writable",
            hooks_dir.clone(),
            "the agent can rewrite or remove the server hooks",
        ),
    ];
    let mut parts: Vec<(&str, PathBuf, &str)> = parts.into();
    for g in &guards {
        parts.push((
            "upstream-hooks-writable",
            g.shim.clone(),
            "the agent can rewrite or remove the server hooks",
        ));
        if let Some(c) = &g.config {
            parts.push((
                "upstream-hooks-writable",
                c.clone(),
                "the agent can rewrite the server hooks' configuration (policy, audit log, host)",
            ));
        }
        if let Some(p) = &g.policy {
            parts.push((
                "server-policy-writable",
                p.clone(),
                "the agent can rewrite the policy the server hooks judge pushes by",
            ));
        }
        if let Some(b) = g.guard_hook.as_ref().filter(|b| b.is_absolute()) {
            parts.push((
                "binary-writable",
                b.clone(),
                "the agent can replace the guard-hook the server hooks run",
            ));
        }
    }
    // Parents sort before what they hold: a finding on a directory covers its files.
    parts.sort_by(|a, b| a.1.cmp(&b.1));
    let mut reported: Vec<PathBuf> = Vec::new();
    for (id, path, why) in parts {
        if !path.exists() || reported.iter().any(|p| path.starts_with(p)) {
            continue;
        }
        if let Some((e, n)) = tree_exposure(who, &path) {
            reported.push(path.clone());
            r.add(
                Level::High,
                id,
                format!("{e}{}: {why}", if n > 1 { format!(" (and {} more)", n - 1) } else { String::new() }),
                format!(
                    "make {} belong to the git server's user and not writable by {} (chmod -R go-w; check core.sharedRepository)",
                    path.display(),
                    who.name
                ),
            );
        }
    }
    if root.is_some() {
        let objects = git_dir.join("objects");
        let readable = nix::sys::stat::stat(&objects).is_ok_and(|s| who.can_read_dir(&s));
        if !readable {
            r.add(
                Level::Medium,
                "upstream-objects-unreadable",
                format!(
                    "{} cannot read {}: the workspace borrows its objects and is broken for the agent",
                    who.name,
                    objects.display()
                ),
                format!("let {} read (not write) the upstream's objects, e.g. chmod -R o+rX {}", who.name, objects.display()),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::config::Hook;
    use crate::site::guards::shim_config;

    #[test]
    fn shim_program_and_config_are_read_back() {
        let t = crate::hooks::install::shim_text(
            Hook::PreReceive,
            Path::new("/opt/it's here/guard-hook"),
            "../git-guard.toml",
        );
        assert_eq!(
            exec_program(&t),
            Some(PathBuf::from("/opt/it's here/guard-hook"))
        );
        assert_eq!(
            shim_config(&t, Path::new("/r/custom_hooks/pre-receive.d/git-guard")),
            Some(PathBuf::from("/r/custom_hooks/git-guard.toml"))
        );
        let shipped = crate::hooks::install::shipped_shim_text(Hook::PreReceive);
        assert_eq!(exec_program(&shipped), Some(PathBuf::from("guard-hook")));
        assert_eq!(
            shim_config(&shipped, Path::new("/r/hooks/pre-receive")),
            None
        );
        assert_eq!(exec_program("#!/bin/sh\nexec other-tool\n"), None);
        // deploy/GITOLITE.md's common shim names its configuration by full path.
        let gitolite = "#!/bin/sh\n# git-guard-shim v0.1.0\nexec /home/git/bin/guard-hook --config '/etc/git guard/hooks.toml' pre-receive \"$@\"\n";
        assert_eq!(
            shim_config(gitolite, Path::new("/r/hooks/pre-receive")),
            Some(PathBuf::from("/etc/git guard/hooks.toml"))
        );
        let relative = "exec guard-hook --config hooks.toml pre-receive \"$@\"\n";
        assert_eq!(
            shim_config(relative, Path::new("/r/hooks/pre-receive")),
            None
        );
    }
}
