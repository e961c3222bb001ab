//! The server guards of a repository: every git-guard pre-receive found where `git guard
//! install --server` writes one (plain, GitLab and Gitea layouts), with the configuration,
//! policy and audit log each uses, and why one would reject every push.
//!
//! Read by doctor and by `workspace create` (which refuses an unguarded upstream). It reads
//! files without running git and prints nothing.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde::Serialize;

use crate::site::config::{HookConfig, config_beside};

/// git-guard's pre-receive as found in a repository, in one of the places install writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerGuard {
    /// `plain`, `gitlab` or `gitea`.
    pub layout: &'static str,
    /// The executable that git (or the host) runs.
    pub shim: PathBuf,
    /// The `guard-hook` it runs, as written in it (absolute, or a name looked up on `PATH`).
    pub guard_hook: Option<PathBuf>,
    /// The hook configuration it reads.
    pub config: Option<PathBuf>,
    /// The policy that configuration names (absent: the base branch's, else the built-in).
    pub policy: Option<PathBuf>,
    /// The audit log the server hooks append to.
    pub audit_log: PathBuf,
    /// Why it would reject every push (fail closed) rather than judge, if it would.
    pub broken: Option<String>,
}

/// The directory git runs the repository's hooks from: `core.hooksPath` from the repository's
/// own config file (relative to the working tree, or the git directory when bare), else
/// `<git dir>/hooks`.
pub fn hooks_dir_of(repo: &Path, git_dir: &Path) -> PathBuf {
    config_value(&git_dir.join("config"), "core.hooksPath")
        .map(|p| {
            let p = PathBuf::from(p);
            if p.is_absolute() { p } else { repo.join(p) }
        })
        .unwrap_or_else(|| git_dir.join("hooks"))
}

/// Find the git directory of `repo` without running git there.
pub fn git_dir_of(repo: &Path) -> Result<PathBuf> {
    if repo.join(".git").is_dir() {
        Ok(repo.join(".git"))
    } else if repo.join("HEAD").is_file() && repo.join("objects").is_dir() {
        Ok(repo.to_path_buf())
    } else {
        bail!("{} is not a git repository", repo.display())
    }
}

/// Every git-guard pre-receive of the repository: `<hooks dir>/pre-receive` (plain layout,
/// `core.hooksPath` installs included), `<hooks dir>/pre-receive.d/*` (Gitea, Forgejo) and
/// `<git dir>/custom_hooks/pre-receive(.d/*)` (GitLab). A file counts when it is executable
/// and is a shim (its marker line) or runs `guard-hook`; a hook install moved aside
/// (`pre-receive.guard-chained`) is not git-guard's and does not count.
pub fn server_guards(repo: &Path, git_dir: &Path) -> Vec<ServerGuard> {
    let hooks_dir = hooks_dir_of(repo, git_dir);
    let custom = git_dir.join("custom_hooks");
    let mut candidates: Vec<(&'static str, PathBuf)> = vec![
        ("plain", hooks_dir.join("pre-receive")),
        ("gitlab", custom.join("pre-receive")),
    ];
    for (layout, dir) in [
        ("gitea", hooks_dir.join("pre-receive.d")),
        ("gitlab", custom.join("pre-receive.d")),
    ] {
        if let Ok(rd) = std::fs::read_dir(&dir) {
            let mut names: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
            names.sort();
            candidates.extend(names.into_iter().map(|p| (layout, p)));
        }
    }
    candidates
        .into_iter()
        .filter_map(|(layout, shim)| server_guard_at(layout, &shim, git_dir))
        .collect()
}

fn server_guard_at(layout: &'static str, shim: &Path, git_dir: &Path) -> Option<ServerGuard> {
    let meta = std::fs::metadata(shim).ok()?;
    if !meta.is_file() || meta.mode() & 0o111 == 0 {
        return None;
    }
    let text = String::from_utf8(std::fs::read(shim).ok()?).ok()?;
    let marked = crate::site::config::shim_version(&text).is_some();
    if !marked && !text.contains("guard-hook") {
        return None;
    }
    let guard_hook = exec_program(&text);
    let config = shim_config(&text, shim).or_else(|| config_beside(shim));
    let mut broken = None;
    match &guard_hook {
        None => broken = Some(format!("{} runs no guard-hook it names", shim.display())),
        Some(b) if b.is_absolute() => {
            if !std::fs::metadata(b).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0) {
                broken = Some(format!(
                    "{} runs {}, which is not an executable file",
                    shim.display(),
                    b.display()
                ));
            }
        }
        Some(b) => {
            if which::which(b).is_err() {
                broken = Some(format!(
                    "{} runs {} from PATH, which is not on this PATH (the git server's may differ)",
                    shim.display(),
                    b.display()
                ));
            }
        }
    }
    let loaded = match &config {
        Some(c) if c.exists() => match HookConfig::load(c) {
            Ok(h) => Some(h),
            Err(e) => {
                broken.get_or_insert(format!("{e:#}"));
                None
            }
        },
        Some(c) if marked => {
            broken.get_or_insert(format!("its configuration {} is missing", c.display()));
            None
        }
        _ => None,
    };
    let policy = loaded.as_ref().and_then(|c| c.policy.clone());
    let policy_loaded = policy.as_deref().map(crate::engine::policy::Policy::load);
    if let (Some(p), Some(Err(e))) = (&policy, &policy_loaded) {
        broken.get_or_insert(format!(
            "the policy it names, {}, does not load: {e:#}",
            p.display()
        ));
    }
    let audit_log = loaded
        .as_ref()
        .and_then(|c| c.audit_log.clone())
        .or_else(|| match policy_loaded {
            Some(Ok(p)) => p.audit.log.clone(),
            _ => None,
        })
        .unwrap_or_else(|| crate::site::audit::default_path(git_dir));
    Some(ServerGuard {
        layout,
        shim: shim.to_path_buf(),
        guard_hook,
        config,
        policy,
        audit_log,
        broken,
    })
}

/// The program of a shim's `exec` line, shell quoting undone.
pub fn exec_program(text: &str) -> Option<PathBuf> {
    let rest = exec_line(text)?.strip_prefix("exec ")?.trim_start();
    Some(PathBuf::from(shell_word(rest)?.0))
}

/// The `exec ... guard-hook ...` line of a shim.
fn exec_line(text: &str) -> Option<&str> {
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with("exec ") && l.contains("guard-hook"))
}

/// The first word of `rest`, plain or single-quoted, and what follows it.
fn shell_word(rest: &str) -> Option<(String, &str)> {
    if let Some(quoted) = rest.strip_prefix('\'') {
        // 'a'\''b' is how install quotes a path holding a quote.
        let mut out = String::new();
        let mut it = quoted;
        loop {
            let end = it.find('\'')?;
            out.push_str(&it[..end]);
            it = &it[end + 1..];
            match it.strip_prefix("\\''") {
                Some(more) => {
                    out.push('\'');
                    it = more;
                }
                None => return Some((out, it)),
            }
        }
    }
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    (end > 0).then(|| (rest[..end].to_string(), &rest[end..]))
}

/// The configuration a shim names: `--config "$(dirname -- "$0")/REL"` (what install writes,
/// beside the shim) or `--config /FULL/PATH` (deploy/GITOLITE.md's shim in gitolite's common
/// hooks directory, symlinked into every repository, where "beside the shim" means nothing).
pub fn shim_config(text: &str, shim: &Path) -> Option<PathBuf> {
    let marker = "--config \"$(dirname -- \"$0\")/";
    let Some(at) = text.find(marker).map(|at| at + marker.len()) else {
        let line = exec_line(text)?;
        let rest = &line[line.find(" --config ")? + " --config ".len()..];
        let (path, _) = shell_word(rest.trim_start())?;
        // A relative path would be read from wherever the hook runs: not one this can name.
        let path = PathBuf::from(path);
        return path.is_absolute().then_some(path);
    };
    let rel = &text[at..];
    let rel = &rel[..rel.find('"')?];
    let dir = shim.parent()?;
    let joined = dir.join(rel);
    // `..` is resolved lexically, as the shell resolves it for a directory that exists.
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    Some(out)
}

/// Read a key from a config file as data (never run git with the agent's configuration).
pub fn config_value(file: &Path, key: &str) -> Option<String> {
    let dir = file.parent()?;
    crate::site::guards::git_out(
        dir,
        &[
            "config",
            "--file",
            &file.display().to_string(),
            "--get",
            key,
        ],
    )
    .filter(|s| !s.is_empty())
}

/// Run git in `dir` and return its trimmed output when it succeeds.
pub fn git_out(dir: &Path, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
