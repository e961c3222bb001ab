//! Doctor's harness checks: every way a harness installed by `workspace create --harness`
//! could lose the hook. Called by `git guard doctor` with its own test of who may write a path,
//! so the kernel's rules are judged in one place.
//!
//! - the hook binary missing, not executable, or replaceable by the agent;
//! - the files install wrote (settings, hooks.json, the launch and lint scripts) writable or
//!   replaceable by the agent;
//! - settings the agent can write that can switch hooks off or drop them (a project's
//!   `.claude/settings.json` with `disableAllHooks`, `.codex/`, `.gemini/settings.json`,
//!   `.cursor/hooks.json`, `.aider.conf.yml`, the same in the agent's home), and whether a
//!   managed or system layer holds the hook above them;
//! - the harness itself missing from `PATH` (information).
//!
//! Reads files and their modes; writes nothing and runs no process.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use super::Harness;
use super::install::{Installed, load_record};

/// How the agent could change a path (`None`: it cannot), as doctor judges it.
pub type Exposure<'a> = &'a dyn Fn(&Path) -> Option<String>;

/// One finding; `severe`: the agent can lose the hook (doctor's `high`), else it weakens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub severe: bool,
    pub info: bool,
    pub id: &'static str,
    pub what: String,
    pub fix: String,
}

fn problem(severe: bool, id: &'static str, what: String, fix: String) -> Problem {
    Problem {
        severe,
        info: false,
        id,
        what,
        fix,
    }
}

/// The program a harness is started as.
fn program(h: Harness) -> &'static str {
    match h {
        Harness::ClaudeCode => "claude",
        Harness::Codex => "codex",
        Harness::Gemini => "gemini",
        Harness::Cursor => "cursor",
        Harness::Aider => "aider",
    }
}

/// Project files of the harness, in code-repo, that can switch its hooks off or replace them.
fn project_settings(h: Harness) -> &'static [&'static str] {
    match h {
        Harness::ClaudeCode => &[".claude/settings.json", ".claude/settings.local.json"],
        Harness::Codex => &[".codex/config.toml", ".codex/hooks.json"],
        Harness::Gemini => &[".gemini/settings.json"],
        Harness::Cursor => &[".cursor/hooks.json"],
        Harness::Aider => &[".aider.conf.yml"],
    }
}

/// The user's files of the harness, in the agent's home.
fn home_settings(h: Harness) -> &'static [&'static str] {
    match h {
        Harness::ClaudeCode => &[".claude/settings.json"],
        Harness::Codex => &[".codex/config.toml", ".codex/hooks.json"],
        Harness::Gemini => &[".gemini/settings.json"],
        Harness::Cursor => &[".cursor/hooks.json"],
        Harness::Aider => &[".aider.conf.yml"],
    }
}

/// Check every installed harness of the workspace at `root`. `exposure` says how the agent
/// could change a path (`None`: it cannot); `None` for it means no agent user is known, and
/// writability is then not judged (the caller says so). `home`: the agent's home directory.
pub fn check(root: &Path, exposure: Option<Exposure<'_>>, home: Option<&Path>) -> Vec<Problem> {
    let mut out = Vec::new();
    let record = match load_record(root) {
        Ok(r) => r,
        Err(e) => {
            out.push(problem(
                true,
                "harness-record-broken",
                format!("{e:#}"),
                format!(
                    "`git guard workspace create` again, or restore {}",
                    root.join("harness").display()
                ),
            ));
            return out;
        }
    };
    for i in &record.installed {
        check_one(&mut out, root, i, exposure, home);
    }
    out
}

fn check_one(
    out: &mut Vec<Problem>,
    root: &Path,
    i: &Installed,
    exposure: Option<Exposure<'_>>,
    home: Option<&Path>,
) {
    let h = i.harness;
    let reinstall = format!(
        "install it again: `git guard workspace create --harness {h}` (or restore the files of {})",
        root.join("harness").join(h.name()).display()
    );
    if let Some(cmd) = &i.hook_command {
        let bin = hook_binary(cmd);
        let runs = std::fs::metadata(&bin)
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
        if !runs {
            out.push(problem(
                true,
                "harness-hook-missing",
                format!("the {h} hook runs {}, which is missing or not executable: the harness then runs the tool without asking (a hook that cannot start fails open)", bin.display()),
                "install guard-harness again where the hook names it".into(),
            ));
        } else if let Some(e) = exposure.and_then(|x| x(&bin)) {
            out.push(problem(
                true,
                "harness-hook-replaceable",
                format!("{e}: the agent can replace the {h} hook's program"),
                "install guard-harness where only root (or the admin) can write".into(),
            ));
        }
    }
    for f in i.files.iter().chain(&i.system_files) {
        if !f.exists() {
            out.push(problem(
                true,
                "harness-settings-missing",
                format!("{} is gone: the {h} hook is not configured", f.display()),
                reinstall.clone(),
            ));
        } else if let Some(e) = exposure.and_then(|x| x(f)) {
            out.push(problem(
                true,
                "harness-settings-writable",
                format!("{e}: the agent can switch the {h} hook off there"),
                format!("give {} to root (or the admin), mode 0644, in a directory the agent cannot write", f.display()),
            ));
        }
    }
    // Layers the agent writes: the project (always, it is code-repo) and its home.
    let code = root.join("code-repo");
    let mut writable: Vec<PathBuf> = project_settings(h).iter().map(|p| code.join(p)).collect();
    if let Some(home) = home {
        writable.extend(home_settings(h).iter().map(|p| home.join(p)));
    }
    let held_above = !i.system_files.is_empty();
    let (severe, why) = match h {
        Harness::ClaudeCode if held_above => (
            false,
            "the managed settings hold the hook and allow managed hooks only",
        ),
        Harness::ClaudeCode => (
            false,
            "the --settings layer of the launch script is above them, but a session started without it, or with `disableAllHooks` read from them, runs no hook",
        ),
        Harness::Codex => (
            true,
            "Codex reads a project's .codex/ once the folder is trusted, and the user's ~/.codex when started without the launch script's CODEX_HOME",
        ),
        Harness::Gemini if held_above => {
            (false, "the system settings file holds the hook above them")
        }
        Harness::Gemini => (
            false,
            "the system override of the launch script (GEMINI_CLI_SYSTEM_SETTINGS_PATH) is above them only when Gemini is started by it",
        ),
        Harness::Cursor if held_above => (false, "the enterprise hooks.json holds the hook"),
        Harness::Cursor => (
            true,
            "no enterprise hooks.json holds the hook: user and project hooks.json are the agent's",
        ),
        Harness::Aider => (
            false,
            "the launch script's --config is the only file aider reads then, but AIDER_* variables and a start without it change the lint command",
        ),
    };
    out.push(problem(
        severe,
        "harness-settings-agent-writable",
        format!(
            "{h}: the agent can write settings that drop or switch off hooks ({}): {why}",
            writable
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        match h {
            Harness::Cursor | Harness::Codex | Harness::ClaudeCode if !held_above => {
                "install the managed or system layer as root: `git guard workspace create --harness-system ...`; the harness door refuses the agent's own writes to these paths when the policy protects them (paths.protected)".into()
            }
            _ => "keep the harness's configuration files in the policy's protected paths, so the harness door and the receive door refuse the agent's changes to them".into(),
        },
    ));
    if which::which(program(h)).is_err() && h != Harness::Cursor {
        out.push(Problem {
            severe: false,
            info: true,
            id: "harness-not-installed",
            what: format!(
                "{} is not on PATH: the {h} hook was written but cannot be tried here",
                program(h)
            ),
            fix: format!("install {h} (see docs/HARNESSES.md)"),
        });
    }
    if h == Harness::Codex {
        if let Some(why) = codex_untrusted(root) {
            out.push(problem(
                true,
                "harness-codex-untrusted",
                format!("codex: {why}: Codex skips a hook it does not trust without a word, so every tool call runs unjudged"),
                reinstall.clone(),
            ));
        }
    }
    for n in &i.notes {
        out.push(Problem {
            severe: false,
            info: true,
            id: "harness-note",
            what: format!("{h}: {n}"),
            fix: "see docs/HARNESSES.md".into(),
        });
    }
}

/// Why Codex would not run the git-guard hook of `DIR/harness/codex/hooks.json`: its first
/// `PreToolUse` command is not the one `config.toml` trusts (a hooks.json or config.toml
/// changed since install), or either file cannot be read.
fn codex_untrusted(root: &Path) -> Option<String> {
    let dir = root.join("harness").join("codex");
    let hooks_json = dir.join("hooks.json");
    let config = dir.join("config.toml");
    let hooks: serde_json::Value = match std::fs::read_to_string(&hooks_json)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
    {
        Some(v) => v,
        None => return Some(format!("{} cannot be read as JSON", hooks_json.display())),
    };
    let Some(cmd) = hooks["hooks"]["PreToolUse"][0]["hooks"][0]["command"].as_str() else {
        return Some(format!(
            "{} holds no PreToolUse command",
            hooks_json.display()
        ));
    };
    let table: toml::Table = match std::fs::read_to_string(&config)
        .ok()
        .and_then(|t| t.parse().ok())
    {
        Some(t) => t,
        None => return Some(format!("{} cannot be read as TOML", config.display())),
    };
    let (key, hash) = super::install::codex_trust(&hooks_json, cmd);
    let trusted = table
        .get("hooks")
        .and_then(|h| h.get("state"))
        .and_then(|s| s.get(&key))
        .and_then(|e| e.get("trusted_hash"))
        .and_then(|v| v.as_str());
    match trusted {
        Some(t) if t == hash => None,
        Some(_) => Some(format!(
            "{} trusts another command than the one {} runs",
            config.display(),
            hooks_json.display()
        )),
        None => Some(format!(
            "{} does not trust the hook of {}",
            config.display(),
            hooks_json.display()
        )),
    }
}

/// The program of a hook command `'PATH' NAME --root 'DIR'`.
fn hook_binary(cmd: &str) -> PathBuf {
    let first = match cmd.strip_prefix('\'') {
        Some(rest) => rest.split('\'').next().unwrap_or_default(),
        None => cmd.split_whitespace().next().unwrap_or_default(),
    };
    PathBuf::from(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_codex_hook_whose_trust_no_longer_matches_is_reported() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("harness/codex");
        std::fs::create_dir_all(&dir).unwrap();
        let hooks = dir.join("hooks.json");
        let write_hooks = |cmd: &str| {
            let j = serde_json::json!({"hooks": {"PreToolUse": [{"hooks": [{"type": "command", "command": cmd}]}]}});
            std::fs::write(&hooks, j.to_string()).unwrap();
        };
        write_hooks("'/opt/guard-harness' codex");
        let config = super::super::install::codex_config(&hooks, "'/opt/guard-harness' codex");
        std::fs::write(dir.join("config.toml"), config).unwrap();
        assert_eq!(codex_untrusted(t.path()), None);
        // The command changed by hand (or by the agent): Codex would skip it.
        write_hooks("'/opt/guard-harness' codex --other");
        let why = codex_untrusted(t.path()).unwrap();
        assert!(why.contains("trusts another command"), "{why}");
        std::fs::write(dir.join("config.toml"), "[features]\nhooks = true\n").unwrap();
        let why = codex_untrusted(t.path()).unwrap();
        assert!(why.contains("does not trust"), "{why}");
    }

    #[test]
    fn the_hook_binary_is_read_back_from_the_command() {
        assert_eq!(
            hook_binary("'/opt/bin/guard-harness' codex --root '/w'"),
            PathBuf::from("/opt/bin/guard-harness")
        );
    }
}
