//! Each harness's hook configuration, written where the agent cannot write, and checked by
//! running the hook once before anyone relies on it.
//!
//! Per workspace, in `DIR/harness/<name>/` (made by the workspace's creator, 0755 and 0644;
//! the agent owns only `code-repo` and `sandbox`):
//!
//! | harness | file | how the harness is pointed at it |
//! | --- | --- | --- |
//! | claude-code | `settings.json` (`PreToolUse` for every tool, `disableAllHooks: false`) | `claude --settings FILE` (the `launch` script), above project and user settings |
//! | codex | `hooks.json` and `config.toml` | `CODEX_HOME` in `agent.env` and in `launch` |
//! | gemini | `settings.json` (`BeforeTool` for every tool) | `GEMINI_CLI_SYSTEM_SETTINGS_PATH` (the system override layer, above project and user) |
//! | cursor | `hooks.json` (`beforeShellExecution`, `preToolUse`, `beforeMCPExecution`) | none: Cursor reads enterprise hooks only from the system path |
//! | aider | `aider.conf.yml` and `lint` (runs `git guard check` over the agent's commits) | `aider --config FILE` (the `launch` script) |
//!
//! With a system root (`--harness-system`, as root), the managed or system file the harness
//! reads above everything the user can write is written too: `/etc/claude-code/
//! managed-settings.json` (with `allowManagedHooksOnly`), `/etc/gemini-cli/settings.json`,
//! `/etc/cursor/hooks.json`. A file already there that git-guard did not write is left alone
//! and reported.
//!
//! What was written is recorded in `DIR/harness/installed.json`, which doctor reads. Runs the
//! hook binary once per harness; judges nothing itself.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Harness;

/// The folder of the harness configurations in a workspace.
pub const DIR_NAME: &str = "harness";
/// What install wrote, for doctor.
pub const RECORD: &str = "installed.json";
/// A marker in every file git-guard writes, so a later install knows its own.
pub const MARK: &str = "git-guard";

/// What to install.
#[derive(Debug, Clone)]
pub struct Options {
    pub harnesses: Vec<Harness>,
    /// The `guard-harness` binary the hooks run (absolute).
    pub guard_harness: PathBuf,
    /// The `git-guard` binary aider's lint command runs (absolute).
    pub git_guard: PathBuf,
    /// Also write the harnesses' managed or system files under this root (`/` on a real
    /// machine).
    pub system_root: Option<PathBuf>,
}

/// One harness as installed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Installed {
    pub harness: Harness,
    /// The command the harness runs for each tool call (none for aider).
    pub hook_command: Option<String>,
    /// Files written for the workspace (outside code-repo).
    pub files: Vec<PathBuf>,
    /// Managed or system files written (empty without a system root).
    pub system_files: Vec<PathBuf>,
    /// The one command that starts the harness with the hook.
    pub launch: String,
    /// What the install could not do, said plainly.
    pub notes: Vec<String>,
}

impl<'de> Deserialize<'de> for Harness {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Harness, D::Error> {
        let s = String::deserialize(d)?;
        Harness::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The record of `DIR/harness/installed.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Record {
    pub installed: Vec<Installed>,
}

/// Read `DIR/harness/installed.json` (an empty record when no harness was installed).
pub fn load_record(root: &Path) -> Result<Record> {
    let p = root.join(DIR_NAME).join(RECORD);
    if !p.exists() {
        return Ok(Record::default());
    }
    let text =
        std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a harness record", p.display()))
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn write(p: &Path, text: &str, mode: u32) -> Result<()> {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    std::fs::write(p, text).with_context(|| format!("cannot write {}", p.display()))?;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", p.display()))
}

/// Write a system file unless one is there that git-guard did not write.
fn write_system(p: &Path, text: &str, notes: &mut Vec<String>) -> Result<bool> {
    if let Ok(old) = std::fs::read_to_string(p)
        && !old.contains(MARK)
    {
        notes.push(format!(
            "{} exists and was not written by git-guard: it was left alone; add the hook to it by hand (see docs/HARNESSES.md)",
            p.display()
        ));
        return Ok(false);
    }
    write(p, text, 0o644)?;
    Ok(true)
}

/// Install every harness of `opts` for the workspace at `root` (canonical). The hook of each
/// is run once (an allowed read and an empty payload, which must be refused) before the
/// install counts.
pub fn install(root: &Path, opts: &Options) -> Result<Record> {
    let base = root.join(DIR_NAME);
    std::fs::create_dir_all(&base).with_context(|| format!("cannot create {}", base.display()))?;
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755))?;
    let mut record = load_record(root)?;
    for h in &opts.harnesses {
        let done = install_one(root, &base.join(h.name()), *h, opts)?;
        record.installed.retain(|i| i.harness != *h);
        record.installed.push(done);
    }
    write(
        &base.join(RECORD),
        &(serde_json::to_string_pretty(&record)? + "\n"),
        0o644,
    )?;
    Ok(record)
}

fn install_one(root: &Path, dir: &Path, h: Harness, opts: &Options) -> Result<Installed> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    let hook = format!(
        "{} {} --root {}",
        quote(&opts.guard_harness.to_string_lossy()),
        h.name(),
        quote(&root.to_string_lossy())
    );
    let sys = opts.system_root.as_deref();
    let mut notes = Vec::new();
    let mut files = Vec::new();
    let mut system_files = Vec::new();
    let launch_script = dir.join("launch");
    let launch;
    match h {
        Harness::ClaudeCode => {
            let settings = dir.join("settings.json");
            let body = |managed: bool| {
                let mut v = json!({
                    "_comment": format!("{MARK}: the harness door; written by `git guard workspace create --harness`"),
                    "disableAllHooks": false,
                    "hooks": {"PreToolUse": [{"matcher": "*", "hooks": [{"type": "command", "command": hook}]}]},
                });
                if managed {
                    v["allowManagedHooksOnly"] = json!(true);
                }
                serde_json::to_string_pretty(&v).map(|s| s + "\n")
            };
            write(&settings, &body(false)?, 0o644)?;
            files.push(settings.clone());
            write(
                &launch_script,
                &format!(
                    "#!/bin/sh\n# {MARK}: Claude Code with the harness door's settings above the project's and the user's.\nexec claude --settings {} \"$@\"\n",
                    quote(&settings.to_string_lossy())
                ),
                0o755,
            )?;
            files.push(launch_script.clone());
            launch = launch_script.display().to_string();
            if let Some(sys) = sys {
                let p = sys.join("etc/claude-code/managed-settings.json");
                if write_system(&p, &body(true)?, &mut notes)? {
                    system_files.push(p);
                }
            } else {
                notes.push("without --harness-system the hook lives in the --settings layer: the agent's project settings cannot remove it, but they are not the managed layer (see doctor)".into());
            }
        }
        Harness::Codex => {
            let hooks = dir.join("hooks.json");
            // `description`, not a `_comment`: Codex refuses a hooks.json with a field it does
            // not know, and then runs none of its hooks.
            let v = json!({
                "description": format!("{MARK}: the harness door"),
                "hooks": {"PreToolUse": [{"hooks": [{"type": "command", "command": hook}]}]},
            });
            write(&hooks, &(serde_json::to_string_pretty(&v)? + "\n"), 0o644)?;
            let config = dir.join("config.toml");
            write(&config, &codex_config(&hooks, &hook), 0o644)?;
            files.extend([hooks, config]);
            write(
                &launch_script,
                &format!(
                    "#!/bin/sh\n# {MARK}: Codex CLI with the harness door's hooks.json.\nCODEX_HOME={} exec codex \"$@\"\n",
                    quote(&dir.to_string_lossy())
                ),
                0o755,
            )?;
            files.push(launch_script.clone());
            launch = launch_script.display().to_string();
            notes.push("Codex runs a hook that is not managed only while config.toml trusts its exact command: the trust is written there, so a hooks.json changed by hand is no longer run until it is trusted again (/hooks)".into());
        }
        Harness::Gemini => {
            let settings = dir.join("settings.json");
            let v = json!({
                "hooks": {"BeforeTool": [{"matcher": ".*", "hooks": [{"type": "command", "name": MARK, "command": hook}]}]},
            });
            let text = serde_json::to_string_pretty(&v)? + "\n";
            write(&settings, &text, 0o644)?;
            files.push(settings.clone());
            write(
                &launch_script,
                &format!(
                    "#!/bin/sh\n# {MARK}: Gemini CLI with the harness door as its system settings.\nGEMINI_CLI_SYSTEM_SETTINGS_PATH={} exec gemini \"$@\"\n",
                    quote(&settings.to_string_lossy())
                ),
                0o755,
            )?;
            files.push(launch_script.clone());
            launch = launch_script.display().to_string();
            if let Some(sys) = sys {
                let p = sys.join("etc/gemini-cli/settings.json");
                // The system file holds the marker in the hook's name.
                if write_system(&p, &text, &mut notes)? {
                    system_files.push(p);
                }
            }
        }
        Harness::Cursor => {
            let hooks = dir.join("hooks.json");
            let entry = json!([{"command": hook}]);
            let v = json!({
                "version": 1,
                "hooks": {
                    "beforeShellExecution": entry,
                    "preToolUse": entry,
                    "beforeMCPExecution": entry,
                },
            });
            let text = serde_json::to_string_pretty(&v)? + "\n";
            write(&hooks, &text, 0o644)?;
            files.push(hooks.clone());
            launch = "cursor (reads the enterprise hooks at /etc/cursor/hooks.json)".into();
            match sys {
                Some(sys) => {
                    let p = sys.join("etc/cursor/hooks.json");
                    if write_system(&p, &text, &mut notes)? {
                        system_files.push(p);
                    }
                }
                None => notes.push(format!(
                    "Cursor cannot be pointed at {}: copy it to /etc/cursor/hooks.json (or run create with --harness-system as root); user and project hooks.json are the agent's to change",
                    hooks.display()
                )),
            }
        }
        Harness::Aider => {
            let ws = crate::site::workspace::load_record(root)?;
            let lint = dir.join("lint");
            let agent = ws.agent_user.clone().unwrap_or_else(|| "agent".into());
            write(
                &lint,
                &format!(
                    "#!/bin/sh\n# {MARK}: aider's lint command: the agent's commits judged by the workspace's policy.\n# aider appends the files it edited; the whole range is judged instead.\ncd {code} || exit 2\n{gg} check --policy {policy} --as {agent} {range}\nrange=$?\n# A commit the client hooks refused leaves its files staged, and aider tells the model\n# nothing of it: judge them too, so the findings reach the model.\ngit diff --cached --quiet && exit $range\n{gg} check --policy {policy} --as {agent} --staged\nstaged=$?\n[ $range -gt $staged ] && exit $range\nexit $staged\n",
                    code = quote(&root.join("code-repo").to_string_lossy()),
                    gg = quote(&opts.git_guard.to_string_lossy()),
                    policy = quote(&ws.policy.to_string_lossy()),
                    agent = quote(&agent),
                    range = quote(&format!("refs/remotes/origin/{}..HEAD", ws.base)),
                ),
                0o755,
            )?;
            let conf = dir.join("aider.conf.yml");
            write(
                &conf,
                &format!(
                    "# {MARK}: aider for this workspace.\n# After each commit aider runs the lint command; its findings go back to the model.\nlint-cmd:\n  - {}\nauto-lint: true\n# aider commits with --no-verify unless told otherwise: the client hooks must run.\ngit-commit-verify: true\n# Nothing leaves the machine on aider's own account.\nanalytics-disable: true\ncheck-update: false\n",
                    yaml_quote(&lint.to_string_lossy())
                ),
                0o644,
            )?;
            files.extend([lint, conf.clone()]);
            write(
                &launch_script,
                &format!(
                    "#!/bin/sh\n# {MARK}: aider with the workspace's lint command.\ncd {} || exit 2\nexec aider --config {} \"$@\"\n",
                    quote(&root.join("code-repo").to_string_lossy()),
                    quote(&conf.to_string_lossy())
                ),
                0o755,
            )?;
            files.push(launch_script.clone());
            launch = launch_script.display().to_string();
        }
    }
    if h.has_tool_hook() {
        self_test(&opts.guard_harness, h, root)?;
    }
    Ok(Installed {
        harness: h,
        hook_command: h.has_tool_hook().then_some(hook),
        files,
        system_files,
        launch,
        notes,
    })
}

/// The `config.toml` of the workspace's Codex home: hooks on, the git-guard hook trusted, and
/// nothing sent on Codex's own account (analytics, feedback, update checks).
///
/// Codex runs a hook from `hooks.json` that is not managed only when `hooks.state` holds the
/// hash of exactly that hook (otherwise it is skipped without a word, and the door is open).
/// An unattended `codex exec` cannot answer the `/hooks` prompt, so the trust is written here,
/// as Codex itself writes it: the key is `PATH:pre_tool_use:GROUP:HANDLER`, the hash is
/// `sha256:` of the hook's normalised identity as canonical JSON (sorted keys, no spaces,
/// absent fields left out, the default timeout of 600 seconds filled in).
pub fn codex_config(hooks_json: &Path, hook: &str) -> String {
    let (key, hash) = codex_trust(hooks_json, hook);
    format!(
        "# {MARK}: the harness door's Codex home (CODEX_HOME)\n\
         check_for_update_on_startup = false\n\n\
         [analytics]\nenabled = false\n\n\
         [feedback]\nenabled = false\n\n\
         [features]\nhooks = true\n\n\
         # The git-guard hook of hooks.json, trusted for this command only.\n\
         [hooks.state.{}]\ntrusted_hash = \"{hash}\"\n",
        toml::Value::String(key)
    )
}

/// The `hooks.state` key and `trusted_hash` with which Codex trusts `hook` as the first
/// `PreToolUse` hook of `hooks_json` (see [`codex_config`]).
pub fn codex_trust(hooks_json: &Path, hook: &str) -> (String, String) {
    use sha2::Digest as _;
    let key = format!("{}:pre_tool_use:0:0", hooks_json.display());
    // Keys in sorted order, which is what Codex's canonical JSON has.
    let identity = json!({
        "event_name": "pre_tool_use",
        "hooks": [{"async": false, "command": hook, "timeout": 600, "type": "command"}],
    });
    let canonical = serde_json::to_string(&identity).unwrap_or_default();
    let hash: String = sha2::Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (key, format!("sha256:{hash}"))
}

fn yaml_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Run the hook as the harness will: a read must be allowed (exit 0) and an empty payload
/// refused (exit 2), or the install fails.
pub fn self_test(guard_harness: &Path, h: Harness, root: &Path) -> Result<()> {
    let run = |payload: &str| -> Result<i32> {
        let mut child = Command::new(guard_harness)
            .arg(h.name())
            .arg("--root")
            .arg(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run the hook {}", guard_harness.display()))?;
        use std::io::Write as _;
        child
            .stdin
            .take()
            .context("no standard input for the hook")?
            .write_all(payload.as_bytes())?;
        let out = child.wait_with_output()?;
        Ok(out.status.code().unwrap_or(-1))
    };
    let read = match h {
        Harness::Cursor => json!({"hook_event_name": "beforeReadFile", "file_path": "README.md"}),
        Harness::Gemini => {
            json!({"hook_event_name": "BeforeTool", "tool_name": "read_file", "tool_input": {"file_path": "README.md"}})
        }
        _ => {
            json!({"hook_event_name": "PreToolUse", "tool_name": "Read", "tool_input": {"file_path": "README.md"}})
        }
    };
    let allowed = run(&read.to_string())?;
    let refused = run("")?;
    if allowed != 0 || refused != 2 {
        bail!(
            "the {h} hook `{} {h} --root {}` does not answer as it must (a read gave exit {allowed}, expected 0; an empty payload gave exit {refused}, expected 2)",
            guard_harness.display(),
            root.display()
        );
    }
    Ok(())
}

/// The `guard-harness` binary: given, else next to this program, else on `PATH`.
pub fn find_guard_harness(given: Option<&Path>) -> Result<PathBuf> {
    let p = match given {
        Some(p) => p.to_path_buf(),
        None => {
            let beside = std::env::current_exe()
                .ok()
                .and_then(|e| e.parent().map(|d| d.join("guard-harness")))
                .filter(|p| p.is_file());
            match beside {
                Some(p) => p,
                None => which::which("guard-harness").context(
                    "guard-harness is neither next to git-guard nor on PATH: install it, or name it with --guard-harness",
                )?,
            }
        }
    };
    std::path::absolute(&p).with_context(|| format!("cannot make {} absolute", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash Codex CLI 0.171.0 accepted as the trust of this hook (found by running it: a
    /// `codex exec` with this `hooks.state` ran the hook, one with any other hash skipped it).
    #[test]
    fn codex_trust_is_the_hash_codex_computes() {
        let text = codex_config(Path::new("/tmp/cx/home/hooks.json"), "/tmp/cx/hook.sh");
        let v: toml::Table = text.parse().unwrap();
        let state = &v["hooks"]["state"]["/tmp/cx/home/hooks.json:pre_tool_use:0:0"];
        assert_eq!(
            state["trusted_hash"].as_str().unwrap(),
            "sha256:edf92581ffca3d7f9860c86e297c59e2ed31bb9a18998fd600f34b43abee14d0"
        );
        assert_eq!(v["analytics"]["enabled"].as_bool(), Some(false));
        assert_eq!(v["check_for_update_on_startup"].as_bool(), Some(false));
    }
}
