//! `git guard install` and `git guard uninstall`: put the hook shims where each host runs them.
//!
//! - client (a working clone): pre-commit, commit-msg, pre-push, reference-transaction;
//! - server (a bare repository): pre-receive, post-receive;
//! - layouts: `plain` (`<git dir>/hooks/<hook>`), `gitlab` (`custom_hooks/<hook>.d/git-guard`),
//!   `gitea` (also Forgejo: `hooks/<hook>.d/git-guard`).
//!
//! Install never overwrites what it did not write. A hook already in place is moved aside to
//! `<hook>.guard-chained` and still runs after git-guard's; an existing `core.hooksPath` is
//! kept (its hooks still run) and restored by uninstall. Installing twice changes nothing;
//! installing a newer git-guard upgrades the shims it recognises by their marker line.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, anyhow, bail};

use crate::engine::identity::Host;
use crate::engine::policy::Policy;
use crate::site::config::{
    CONFIG_FILE, Hook, HookConfig, InstalledShim, Layout, SHIM_MARKER, Side, shim_version,
};

/// The file name of a shim inside a `<hook>.d/` directory.
pub const DOT_D_NAME: &str = "git-guard";

/// The suffix of a hook install moved aside.
pub const CHAINED_SUFFIX: &str = ".guard-chained";

/// What `git guard install` was asked.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// Client or server hooks; absent: server for a bare repository, client otherwise.
    pub side: Option<Side>,
    pub layout: Layout,
    /// The host whose variable names the pusher; absent: the layout's (gitlab, gitea), else plain.
    pub host: Option<Host>,
    pub policy: Option<PathBuf>,
    pub audit_log: Option<PathBuf>,
    pub deadline_ms: Option<u64>,
    /// The `guard-hook` binary the shims run (an absolute path).
    pub guard_hook: PathBuf,
}

/// The `guard-hook` next to the running binary, else the one on `PATH`.
pub fn find_guard_hook() -> Result<PathBuf> {
    if let Ok(exe) = std::env::current_exe() {
        let sibling = exe.with_file_name("guard-hook");
        if sibling.is_file() {
            return Ok(sibling);
        }
    }
    which::which("guard-hook").map_err(|_| {
        anyhow!("guard-hook is not next to git-guard nor on PATH: install both (install.sh)")
    })
}

/// The text of the shim for `hook`. `config_rel` is the configuration's path relative to the
/// shim's directory.
pub fn shim_text(hook: Hook, guard_hook: &Path, config_rel: &str) -> String {
    format!(
        "#!/bin/sh\n\
         {SHIM_MARKER}{version}\n\
         # git-guard's {name} hook, written by `git guard install`: do not edit, reinstall instead.\n\
         # `git guard uninstall` removes it and puts back the hook it replaced, which runs after it\n\
         # meanwhile ({name}{CHAINED_SUFFIX}).\n\
         exec {bin} --config \"$(dirname -- \"$0\")/{config_rel}\" --shim \"$0\" {name} \"$@\"\n",
        version = env!("CARGO_PKG_VERSION"),
        name = hook.name(),
        bin = sh_quote(&guard_hook.display().to_string()),
    )
}

/// The text of the generic shim shipped in the project's `hooks/` directory, for admins who
/// copy hooks by hand: it runs `guard-hook` from `PATH`, which reads `git-guard.toml` beside
/// the shim (or in the parent of a `<hook>.d/` directory) when there is one.
pub fn shipped_shim_text(hook: Hook) -> String {
    format!(
        "#!/bin/sh\n\
         {SHIM_MARKER}{version}\n\
         # git-guard's {name} hook. Copy it where the host runs {name} hooks, with guard-hook on\n\
         # PATH; a git-guard.toml beside it (or beside its {name}.d/ directory) configures it.\n\
         # `git guard install` writes the same shim with the binary's full path.\n\
         exec guard-hook --shim \"$0\" {name} \"$@\"\n",
        version = env!("CARGO_PKG_VERSION"),
        name = hook.name(),
    )
}

fn is_our_shim(path: &Path) -> bool {
    std::fs::read(path)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .is_some_and(|t| shim_version(&t).is_some())
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Where a repository is and what it is.
#[derive(Debug, Clone)]
struct RepoInfo {
    git_dir: PathBuf,
    bare: bool,
    /// `core.hooksPath` as configured (any scope), and whether the repository's own config sets it.
    hooks_path: Option<String>,
    hooks_path_local: bool,
}

fn git(repo: &Path, args: &[&str]) -> Result<std::process::Output> {
    Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .with_context(|| format!("cannot run git in {}", repo.display()))
}

fn git_ok(repo: &Path, args: &[&str]) -> Result<String> {
    let o = git(repo, args)?;
    if !o.status.success() {
        bail!(
            "git {} failed in {}: {}",
            args.join(" "),
            repo.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&o.stdout).trim_end().to_string())
}

fn git_config_get(repo: &Path, scope: Option<&str>, key: &str) -> Result<Option<String>> {
    let mut args = vec!["config"];
    args.extend(scope);
    args.extend(["--get", key]);
    let o = git(repo, &args)?;
    match o.status.code() {
        Some(0) => Ok(Some(
            String::from_utf8_lossy(&o.stdout).trim_end().to_string(),
        )),
        Some(1) => Ok(None),
        _ => bail!(
            "cannot read {key} in {}: {}",
            repo.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        ),
    }
}

fn repo_info(repo: &Path) -> Result<RepoInfo> {
    let git_dir = git_ok(repo, &["rev-parse", "--absolute-git-dir"])
        .with_context(|| format!("{} is not a git repository", repo.display()))?;
    let bare = git_ok(repo, &["rev-parse", "--is-bare-repository"])? == "true";
    let hooks_path = git_config_get(repo, None, "core.hooksPath")?;
    let hooks_path_local = git_config_get(repo, Some("--local"), "core.hooksPath")?.is_some();
    Ok(RepoInfo {
        git_dir: PathBuf::from(git_dir),
        bare,
        hooks_path,
        hooks_path_local,
    })
}

/// The directory our own hooks go in when `core.hooksPath` already names another.
fn guard_hooks_dir(git_dir: &Path) -> PathBuf {
    git_dir.join("guard").join("hooks")
}

/// Where a layout keeps the configuration (the shims' root).
fn layout_root(info: &RepoInfo, layout: Layout) -> PathBuf {
    match layout {
        Layout::Plain => match &info.hooks_path {
            Some(_) => guard_hooks_dir(&info.git_dir),
            None => info.git_dir.join("hooks"),
        },
        Layout::Gitlab => info.git_dir.join("custom_hooks"),
        Layout::Gitea => info.git_dir.join("hooks"),
    }
}

fn shim_path(root: &Path, layout: Layout, hook: Hook) -> PathBuf {
    match layout {
        Layout::Plain => root.join(hook.name()),
        Layout::Gitlab | Layout::Gitea => root.join(format!("{}.d", hook.name())).join(DOT_D_NAME),
    }
}

fn config_rel(layout: Layout) -> String {
    match layout {
        Layout::Plain => CONFIG_FILE.to_string(),
        Layout::Gitlab | Layout::Gitea => format!("../{CONFIG_FILE}"),
    }
}

fn chained_path(shim: &Path) -> PathBuf {
    let mut s = shim.as_os_str().to_owned();
    s.push(CHAINED_SUFFIX);
    PathBuf::from(s)
}

/// Whether `core.hooksPath` already points at our own directory (a second install).
fn hooks_path_is_ours(info: &RepoInfo) -> bool {
    info.hooks_path.as_deref().is_some_and(|p| {
        let p = Path::new(p);
        let p = if p.is_absolute() {
            p.to_path_buf()
        } else {
            info.git_dir.join(p)
        };
        same_dir(&p, &guard_hooks_dir(&info.git_dir))
    })
}

/// Whether two paths name the same existing directory.
fn same_dir(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Install git-guard's hooks into the repository at `repo`, reporting each step to `out`.
pub fn install(repo: &Path, opts: &InstallOptions, out: &mut dyn Write) -> Result<()> {
    let mut info = repo_info(repo)?;
    let side = opts.side.unwrap_or(if info.bare {
        Side::Server
    } else {
        Side::Client
    });
    if !opts.guard_hook.is_absolute() {
        bail!(
            "the guard-hook path must be absolute, got {}",
            opts.guard_hook.display()
        );
    }
    let policy = match &opts.policy {
        Some(p) => {
            let p = std::path::absolute(p)
                .with_context(|| format!("cannot make {} absolute", p.display()))?;
            Policy::load(&p).with_context(|| {
                format!(
                    "the policy {} is not valid: fix it before installing",
                    p.display()
                )
            })?;
            Some(p)
        }
        None => None,
    };
    let host = opts.host.unwrap_or(match opts.layout {
        Layout::Gitlab => Host::Gitlab,
        Layout::Gitea => Host::Gitea,
        Layout::Plain => Host::Plain,
    });

    // A second install finds our own directory in core.hooksPath: the hooksPath before ours is
    // recorded in our configuration.
    let ours_in_hooks_path = opts.layout == Layout::Plain && hooks_path_is_ours(&info);
    let root = if ours_in_hooks_path {
        guard_hooks_dir(&info.git_dir)
    } else {
        layout_root(&info, opts.layout)
    };
    let config_path = root.join(CONFIG_FILE);
    let previous = if config_path.exists() {
        Some(HookConfig::load(&config_path)?)
    } else {
        None
    };
    if ours_in_hooks_path {
        let prev = previous.as_ref().ok_or_else(|| {
            anyhow!(
                "core.hooksPath points at {} but it holds no {CONFIG_FILE}",
                root.display()
            )
        })?;
        info.hooks_path = prev.hooks_path_before.clone();
        info.hooks_path_local = prev.hooks_path_local;
    }
    if let Some(prev) = &previous {
        if prev.side != side || prev.layout != opts.layout {
            bail!(
                "git-guard's {} hooks ({} layout) are already installed in {}: run `git guard \
                 uninstall` first to install {} hooks ({} layout)",
                side_name(prev.side),
                prev.layout.name(),
                repo.display(),
                side_name(side),
                opts.layout.name()
            );
        }
    }

    let mut config = HookConfig::new(side);
    config.layout = opts.layout;
    config.host = host.name().to_string();
    config.policy = policy;
    config.audit_log = opts
        .audit_log
        .as_ref()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()));
    config.deadline_ms = opts.deadline_ms;
    let use_hooks_path = opts.layout == Layout::Plain && info.hooks_path.is_some();
    if use_hooks_path {
        config.hooks_path_before = info.hooks_path.clone();
        config.hooks_path_local = info.hooks_path_local;
    }
    if let Some(prev) = &previous {
        config.created_dirs = prev.created_dirs.clone();
    }

    // Look before touching anything, so that a refusal leaves the repository as it was.
    let mut plan = Vec::new();
    for &hook in side.hooks() {
        let shim = shim_path(&root, opts.layout, hook);
        let text = shim_text(hook, &opts.guard_hook, &config_rel(opts.layout));
        let exists = shim.symlink_metadata().is_ok();
        let ours = exists && is_our_shim(&shim);
        let aside = chained_path(&shim);
        let step = if !exists {
            Step::Write
        } else if ours {
            if std::fs::read_to_string(&shim).ok().as_deref() == Some(text.as_str()) {
                Step::Unchanged
            } else {
                Step::Upgrade
            }
        } else if opts.layout != Layout::Plain {
            bail!(
                "{} exists and is not git-guard's: rename it, then install again",
                shim.display()
            );
        } else if aside.symlink_metadata().is_ok() {
            bail!(
                "{} is not git-guard's, and {} already exists: cannot keep both, move one away",
                shim.display(),
                aside.display()
            );
        } else {
            Step::ChainAndWrite
        };
        plan.push((hook, shim, text, step));
    }

    let mut changed = false;
    for dir in std::iter::once(root.clone()).chain(
        plan.iter()
            .filter_map(|(_, s, _, _)| s.parent().map(Path::to_path_buf)),
    ) {
        if !dir.exists() {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            config.created_dirs.push(dir);
            changed = true;
        }
    }
    for (hook, shim, text, step) in plan {
        let aside = chained_path(&shim);
        match step {
            Step::Unchanged => writeln!(out, "{}: unchanged", shim.display())?,
            Step::Write | Step::Upgrade => {
                write_executable(&shim, &text)?;
                let what = if step == Step::Write {
                    "installed"
                } else {
                    "upgraded"
                };
                writeln!(out, "{}: {what}", shim.display())?;
                changed = true;
            }
            Step::ChainAndWrite => {
                std::fs::rename(&shim, &aside).with_context(|| {
                    format!("cannot move {} to {}", shim.display(), aside.display())
                })?;
                write_executable(&shim, &text)?;
                writeln!(
                    out,
                    "{}: installed; the hook that was there is now {} and still runs after it",
                    shim.display(),
                    aside.display()
                )?;
                changed = true;
            }
        }
        config.installed.push(InstalledShim {
            hook: hook.name().to_string(),
            path: shim.clone(),
            chained: aside.symlink_metadata().is_ok().then_some(aside),
        });
    }

    if side == Side::Server {
        if let Some(prev) = &previous {
            config.fsck_objects_set = prev.fsck_objects_set;
            config.fsck_objects_before = prev.fsck_objects_before.clone();
        }
        changed |= fsck_on_receive(repo, opts.layout, host, &mut config, out)?;
    }
    let text = config.to_toml();
    if std::fs::read_to_string(&config_path).ok().as_deref() != Some(text.as_str()) {
        write_file(&config_path, &text, 0o644)?;
        writeln!(out, "{}: written", config_path.display())?;
        changed = true;
    }
    if use_hooks_path && !ours_in_hooks_path {
        let root_s = root.display().to_string();
        git_ok(repo, &["config", "--local", "core.hooksPath", &root_s])?;
        writeln!(
            out,
            "core.hooksPath: {root_s} (was {}; its hooks still run after git-guard's)",
            info.hooks_path.as_deref().unwrap_or_default()
        )?;
        changed = true;
    }
    if !changed {
        writeln!(
            out,
            "git-guard's {} hooks are already installed: nothing changed",
            side_name(side)
        )?;
    } else {
        writeln!(
            out,
            "git-guard {} hooks installed in {} ({} layout, identity from {}, policy {})",
            side_name(side),
            repo.display(),
            opts.layout.name(),
            host.variable().unwrap_or("the unix user"),
            config
                .policy
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(
                    || "policy.toml of the base branch, else the built-in default".into()
                )
        )?;
    }
    Ok(())
}

/// Turn on `receive.fsckObjects`, so that git itself checks every pushed object (trees with
/// `.git` entries, bad modes, broken commits) before the hooks run, where the repository's own
/// configuration is the admin's to set. GitLab's Gitaly owns the configuration of the
/// repositories it serves and GitHub Enterprise Server's hooks cannot set it: there the rule
/// `tree.malformed` is what checks the trees. Whether anything changed.
fn fsck_on_receive(
    repo: &Path,
    layout: Layout,
    host: Host,
    config: &mut HookConfig,
    out: &mut dyn Write,
) -> Result<bool> {
    const KEY: &str = "receive.fsckObjects";
    if layout == Layout::Gitlab || host == Host::Github {
        writeln!(
            out,
            "{KEY}: not set (the host owns this repository's configuration); git-guard's \
             tree.malformed rule still rejects malformed trees"
        )?;
        return Ok(false);
    }
    let before = git_config_get(repo, Some("--local"), KEY)?;
    let on = git_ok(repo, &["config", "--type=bool", "--get", KEY]).is_ok_and(|v| v == "true");
    if on && before.is_some() {
        return Ok(false);
    }
    git_ok(repo, &["config", "--local", KEY, "true"])?;
    if !config.fsck_objects_set {
        config.fsck_objects_set = true;
        config.fsck_objects_before = before.clone();
    }
    writeln!(
        out,
        "{KEY}: true (was {}): git now checks every pushed object before the hooks run",
        before.as_deref().unwrap_or("unset")
    )?;
    Ok(true)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Write,
    Upgrade,
    Unchanged,
    ChainAndWrite,
}

fn side_name(s: Side) -> &'static str {
    match s {
        Side::Client => "client",
        Side::Server => "server",
    }
}

fn write_executable(path: &Path, text: &str) -> Result<()> {
    write_file(path, text, 0o755)
}

/// Write through a temporary file and a rename, so that git never runs half a shim.
fn write_file(path: &Path, text: &str, mode: u32) -> Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| anyhow!("{} has no parent directory", path.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    tmp.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| anyhow!("cannot write {}: {}", path.display(), e.error))?;
    Ok(())
}

/// Remove git-guard's hooks from the repository at `repo` and put back what was there.
pub fn uninstall(repo: &Path, out: &mut dyn Write) -> Result<()> {
    let info = repo_info(repo)?;
    let mut roots = Vec::new();
    if hooks_path_is_ours(&info) {
        roots.push(guard_hooks_dir(&info.git_dir));
    }
    roots.push(info.git_dir.join("hooks"));
    roots.push(info.git_dir.join("custom_hooks"));
    let mut found = false;
    for root in roots {
        let config_path = root.join(CONFIG_FILE);
        if !config_path.exists() {
            continue;
        }
        found = true;
        let config = HookConfig::load(&config_path)?;
        let mut kept = false;
        for shim in &config.installed {
            if shim.path.symlink_metadata().is_err() {
                writeln!(out, "{}: already gone", shim.path.display())?;
            } else if is_our_shim(&shim.path) {
                std::fs::remove_file(&shim.path)
                    .with_context(|| format!("cannot remove {}", shim.path.display()))?;
                writeln!(out, "{}: removed", shim.path.display())?;
            } else {
                writeln!(
                    out,
                    "{}: left in place, it is no longer git-guard's shim",
                    shim.path.display()
                )?;
                kept = true;
                continue;
            }
            if let Some(aside) = &shim.chained
                && aside.symlink_metadata().is_ok()
            {
                std::fs::rename(aside, &shim.path).with_context(|| {
                    format!(
                        "cannot move {} back to {}",
                        aside.display(),
                        shim.path.display()
                    )
                })?;
                writeln!(out, "{}: restored", shim.path.display())?;
            }
        }
        if config.side == Side::Client || config.hooks_path_before.is_some() {
            restore_hooks_path(repo, &info, &config, &root, out)?;
        }
        if config.fsck_objects_set {
            restore_fsck_objects(repo, config.fsck_objects_before.as_deref(), out)?;
        }
        if kept {
            writeln!(
                out,
                "{}: kept, since a hook it lists was changed by someone else",
                config_path.display()
            )?;
        } else {
            std::fs::remove_file(&config_path)
                .with_context(|| format!("cannot remove {}", config_path.display()))?;
            writeln!(out, "{}: removed", config_path.display())?;
        }
        for dir in config.created_dirs.iter().rev() {
            // Only directories left empty go: anything else in them is someone else's.
            if std::fs::remove_dir(dir).is_ok() {
                writeln!(out, "{}: removed", dir.display())?;
            }
        }
    }
    // `<git dir>/guard/` is git-guard's own (shims beside a core.hooksPath, the audit log,
    // hand-offs): once empty it goes too.
    let guard_dir = info.git_dir.join("guard");
    if found && std::fs::remove_dir(&guard_dir).is_ok() {
        writeln!(out, "{}: removed", guard_dir.display())?;
    }
    if !found {
        writeln!(
            out,
            "git-guard is not installed in {}: nothing to do",
            repo.display()
        )?;
    }
    Ok(())
}

/// Put `receive.fsckObjects` back as it was before install (unset: gone, with the section it
/// leaves empty).
fn restore_fsck_objects(repo: &Path, before: Option<&str>, out: &mut dyn Write) -> Result<()> {
    const KEY: &str = "receive.fsckObjects";
    match before {
        Some(v) => {
            git_ok(repo, &["config", "--local", KEY, v])?;
            writeln!(out, "{KEY}: restored to {v}")?;
        }
        None => {
            if git_config_get(repo, Some("--local"), KEY)?.is_some() {
                git_ok(repo, &["config", "--local", "--unset-all", KEY])?;
            }
            let rest = git(repo, &["config", "--local", "--get-regexp", r"^receive\."])?;
            if rest.stdout.is_empty() {
                // Only an empty `[receive]` header is left, if anything.
                let _ = git(repo, &["config", "--local", "--remove-section", "receive"]);
            }
            writeln!(out, "{KEY}: unset again, as before install")?;
        }
    }
    Ok(())
}

fn restore_hooks_path(
    repo: &Path,
    info: &RepoInfo,
    config: &HookConfig,
    root: &Path,
    out: &mut dyn Write,
) -> Result<()> {
    let current_is_ours = hooks_path_is_ours(info)
        || info
            .hooks_path
            .as_deref()
            .is_some_and(|p| same_dir(Path::new(p), root));
    if !current_is_ours {
        return Ok(());
    }
    match (&config.hooks_path_before, config.hooks_path_local) {
        (Some(before), true) => {
            git_ok(repo, &["config", "--local", "core.hooksPath", before])?;
            writeln!(out, "core.hooksPath: restored to {before}")?;
        }
        _ => {
            git_ok(repo, &["config", "--local", "--unset", "core.hooksPath"])?;
            writeln!(out, "core.hooksPath: unset (as before install)")?;
        }
    }
    Ok(())
}

/// Write the shims for `config.side` and the configuration into `dir`, a directory a clone's
/// `core.hooksPath` points at (the agent workspace's `hooks/`). Our own shims are rewritten;
/// anything else already there is refused, never overwritten.
pub fn write_hooks_dir(dir: &Path, config: &HookConfig, guard_hook: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut config = config.clone();
    config.layout = Layout::Plain;
    config.installed.clear();
    for &hook in config.side.hooks() {
        let shim = dir.join(hook.name());
        if shim.symlink_metadata().is_ok() && !is_our_shim(&shim) {
            bail!(
                "{} exists and is not git-guard's: move it away first",
                shim.display()
            );
        }
    }
    for &hook in config.side.hooks() {
        let shim = dir.join(hook.name());
        write_executable(&shim, &shim_text(hook, guard_hook, CONFIG_FILE))?;
        config.installed.push(InstalledShim {
            hook: hook.name().into(),
            path: shim,
            chained: None,
        });
    }
    write_file(&dir.join(CONFIG_FILE), &config.to_toml(), 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shims_carry_their_marker_and_quote_the_binary() {
        let t = shim_text(
            Hook::PreReceive,
            Path::new("/opt/it's here/guard-hook"),
            "../git-guard.toml",
        );
        assert!(t.starts_with("#!/bin/sh\n# git-guard-shim v"));
        assert_eq!(shim_version(&t), Some(env!("CARGO_PKG_VERSION")));
        assert!(t.contains("exec '/opt/it'\\''s here/guard-hook' --config \"$(dirname -- \"$0\")/../git-guard.toml\" --shim \"$0\" pre-receive \"$@\""), "{t}");
        assert_eq!(shim_version("#!/bin/sh\necho hi\n"), None);
    }

    #[test]
    fn shipped_shims_match_the_generator() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks");
        for &h in Hook::ALL {
            let shipped = std::fs::read_to_string(dir.join(h.name())).unwrap();
            assert_eq!(shipped, shipped_shim_text(h), "hooks/{} is stale", h.name());
            let mode = std::fs::metadata(dir.join(h.name()))
                .unwrap()
                .permissions()
                .mode();
            assert!(mode & 0o111 != 0, "hooks/{} is not executable", h.name());
        }
    }

    #[test]
    fn write_hooks_dir_refuses_foreign_hooks() {
        let d = tempfile::tempdir().unwrap();
        let c = HookConfig::new(Side::Client);
        write_hooks_dir(d.path(), &c, Path::new("/bin/guard-hook")).unwrap();
        for h in Hook::CLIENT {
            assert!(is_our_shim(&d.path().join(h.name())));
        }
        let back = HookConfig::load(&d.path().join(CONFIG_FILE)).unwrap();
        assert_eq!(back.installed.len(), Hook::CLIENT.len());
        // Rewriting our own is fine; a foreign hook is not overwritten.
        write_hooks_dir(d.path(), &c, Path::new("/bin/guard-hook")).unwrap();
        std::fs::write(d.path().join("pre-push"), "#!/bin/sh\nexit 0\n").unwrap();
        let e = write_hooks_dir(d.path(), &c, Path::new("/bin/guard-hook")).unwrap_err();
        assert!(e.to_string().contains("not git-guard's"), "{e}");
    }
}
