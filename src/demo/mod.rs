//! `git guard demo`: the whole story, told with the real binaries and real git on a scratch
//! directory, each step printed as it happens.
//!
//! An upstream bare repository with the server guard; a first deploy of a tiny service; an
//! agent workspace; an agent commit blocked by a denied path; a change over the cap; a test
//! file changed and flagged; the agent branch pushed and accepted; a deploy refused until a
//! human approves; the approval (and the agent's forged one, refused by the server); a deploy
//! with reload and health check; a broken release rolled back by itself.
//!
//! Every command is the one a person would type, shown as `WHO:DIR$ COMMAND` before it runs,
//! followed by the lines of its output that matter. Pushes go over local paths with the
//! pusher's name in `GL_USER`, as gitolite sets it, and the server guard is installed for
//! gitolite: `agent-bot` is the agent, `alice` the human. `git guard` runs through git, as a
//! user runs it.
//!
//! The demo leaves the machine as it found it: git reads no configuration but the scratch
//! directory's, `HOME` points into it, the service it starts is killed with its process group
//! (and stops by itself if the demo dies first), and the scratch directory is removed unless
//! asked to keep it, also when the person interrupts it (see [`DemoOptions::interrupted`]). Every step checks its outcome; the first one that does not go as told
//! stops the demo with what it saw.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, Result, bail};

mod service;
mod steps;

/// What `git guard demo` is asked.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The scratch directory (created; must not exist or be empty). Default: a temporary one.
    pub dir: Option<PathBuf>,
    /// Keep the scratch directory afterwards.
    pub keep: bool,
    /// Where the git-guard binaries are (`git-guard`, `guard-hook`, `guard-deploy`).
    pub bin_dir: PathBuf,
    /// Set (by a signal handler) when the person interrupts the demo: it stops at the next
    /// command and still cleans up. The commands it runs get the terminal's SIGINT too.
    pub interrupted: Option<&'static AtomicBool>,
}

/// The number of steps the demo tells.
pub const STEPS: usize = 11;

pub(super) const AGENT: &str = "agent-bot";
pub(super) const HUMAN: &str = "alice";
/// The deploy user: guard-deploy acts as the unix user running it; the prompt says its job.
pub(super) const DEPLOYER: &str = "deploy";
pub(super) const CODE: &str = "workspace/code-repo";

/// Run the demo, writing each step to `out`.
pub fn run(opts: &DemoOptions, out: &mut dyn Write) -> Result<()> {
    let (root, temp) = match &opts.dir {
        Some(d) => {
            if d.exists()
                && std::fs::read_dir(d)
                    .with_context(|| format!("cannot read {}", d.display()))?
                    .next()
                    .is_some()
            {
                bail!(
                    "{} is not empty (hint: give a new directory to --dir)",
                    d.display()
                );
            }
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            let abs = d
                .canonicalize()
                .with_context(|| format!("cannot resolve {}", d.display()))?;
            (abs, None)
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("git-guard-demo-")
                .tempdir()
                .context("cannot create a scratch directory")?;
            let abs = t
                .path()
                .canonicalize()
                .with_context(|| format!("cannot resolve {}", t.path().display()))?;
            (abs, Some(t))
        }
    };
    let mut demo = Demo {
        root: root.clone(),
        bin_dir: opts.bin_dir.clone(),
        out,
        step: 0,
        service: None,
        agent_env: Vec::new(),
        interrupted: opts.interrupted,
    };
    let result = demo.story();
    let stopped = match demo.stop_service() {
        Some(pid) => format!("service (pid {pid}) stopped; "),
        None => String::new(),
    };
    let keep_note = match (opts.keep, temp) {
        (true, Some(t)) => {
            let kept = t.keep();
            format!("kept {} (remove it when done)", kept.display())
        }
        (true, None) => format!("kept {} (remove it when done)", root.display()),
        (false, Some(t)) => match t.close() {
            Ok(()) => format!("removed {}", root.display()),
            Err(e) => format!("could not remove {}: {e}", root.display()),
        },
        (false, None) => match std::fs::remove_dir_all(&root) {
            Ok(()) => format!("removed {}", root.display()),
            Err(e) => format!("could not remove {}: {e}", root.display()),
        },
    };
    match result {
        Ok(()) => {
            writeln!(
                demo.out,
                "\ndemo complete: {STEPS} steps, every one as told; {stopped}{keep_note}"
            )?;
            Ok(())
        }
        Err(e) => {
            let what = if e.is::<Interrupted>() {
                "interrupted"
            } else {
                "stopped"
            };
            writeln!(demo.out, "\ndemo {what}; {stopped}{keep_note}")?;
            Err(e)
        }
    }
}

/// The person interrupted the demo (Ctrl-C, SIGTERM, SIGHUP): not a failure of any step.
/// The binary tells it in one line and exits 130, as a shell does for a job ended by Ctrl-C.
#[derive(Debug, thiserror::Error)]
#[error("interrupted at step {step}")]
pub struct Interrupted {
    pub step: usize,
}

pub(super) struct Demo<'a> {
    pub(super) root: PathBuf,
    pub(super) bin_dir: PathBuf,
    pub(super) out: &'a mut dyn Write,
    pub(super) step: usize,
    pub(super) service: Option<Child>,
    /// The agent's environment from the workspace's `agent.env`, as its harness sources it.
    pub(super) agent_env: Vec<(String, String)>,
    pub(super) interrupted: Option<&'static AtomicBool>,
}

impl Demo<'_> {
    pub(super) fn p(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub(super) fn check_interrupted(&self) -> Result<()> {
        if self.interrupted.is_some_and(|i| i.load(Ordering::SeqCst)) {
            return Err(Interrupted { step: self.step }.into());
        }
        Ok(())
    }

    pub(super) fn title(&mut self, text: &str) -> Result<()> {
        self.step += 1;
        writeln!(self.out, "\n[{}/{STEPS}] {text}", self.step)?;
        self.out.flush()?;
        Ok(())
    }

    pub(super) fn say(&mut self, text: impl AsRef<str>) -> Result<()> {
        writeln!(self.out, "    {}", text.as_ref())?;
        self.out.flush()?;
        Ok(())
    }

    pub(super) fn ok(&mut self, text: impl AsRef<str>) -> Result<()> {
        self.say(format!("ok: {}", text.as_ref()))
    }

    /// Paths under the scratch directory, relative to it, as the commands are shown.
    pub(super) fn relative(&self, text: &str) -> String {
        let root = self.root.display().to_string();
        text.replace(&format!("{root}/"), "").replace(&root, ".")
    }

    /// A command with the demo's environment: its binaries first on PATH, git isolated from
    /// the machine's configuration, `HOME` in the scratch directory, and `GL_USER` as `who`.
    pub(super) fn command(&self, program: &str, dir: &str, who: &str) -> Command {
        let mut c = Command::new(program);
        c.current_dir(self.p(dir));
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("GIT_") || k.starts_with("GUARD_") {
                c.env_remove(k.as_ref());
            }
        }
        let mut path = std::ffi::OsString::from(self.bin_dir.as_os_str());
        if let Some(p) = std::env::var_os("PATH") {
            path.push(":");
            path.push(p);
        }
        c.env("PATH", path)
            .env("HOME", self.p("home"))
            .env("GIT_CONFIG_GLOBAL", self.p("home/gitconfig"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GL_USER", who)
            .env("RUST_LOG", "off")
            .stdin(Stdio::null());
        if who == AGENT {
            for (k, v) in &self.agent_env {
                c.env(k, v);
            }
        }
        c
    }

    /// Run without showing it (setting things up, tidying after a refusal); require exit 0.
    pub(super) fn quiet(
        &mut self,
        who: &str,
        dir: &str,
        program: &str,
        args: &[&str],
    ) -> Result<String> {
        self.exec(who, dir, program, args, 0)
    }

    /// Show `WHO:DIR$ COMMAND`, run it, require exit `code`; return its output (stdout then
    /// stderr, paths relative to the scratch directory).
    pub(super) fn cmd(
        &mut self,
        who: &str,
        dir: &str,
        program: &str,
        args: &[&str],
        code: i32,
    ) -> Result<String> {
        let mut line = String::from(program);
        for a in args {
            line.push(' ');
            line.push_str(&shell_word(a));
        }
        let prompt = if dir.is_empty() {
            format!("{who}$")
        } else {
            format!("{who}:{dir}$")
        };
        writeln!(self.out, "    {prompt} {line}")?;
        self.out.flush()?;
        self.exec(who, dir, program, args, code)
    }

    pub(super) fn exec(
        &mut self,
        who: &str,
        dir: &str,
        program: &str,
        args: &[&str],
        code: i32,
    ) -> Result<String> {
        self.check_interrupted()?;
        let o = self
            .command(program, dir, who)
            .args(args)
            .output()
            .with_context(|| format!("cannot run {program} {}", args.join(" ")))?;
        let text = self.relative(&format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ));
        self.check_interrupted()?;
        {
            use std::os::unix::process::ExitStatusExt as _;
            // Ctrl-C reaches the whole foreground group: a command it ended is the person's
            // interruption, not a step gone wrong (and its output, git's complaints about
            // children it could not wait for included, is not the story's).
            if self.interrupted.is_some() && o.status.signal() == Some(nix::libc::SIGINT) {
                return Err(Interrupted { step: self.step }.into());
            }
        }
        if o.status.code() != Some(code) {
            bail!(
                "step {}: `{program} {}` in {} exited {:?}, expected {code}:\n{text}",
                self.step,
                args.join(" "),
                if dir.is_empty() { "." } else { dir },
                o.status.code()
            );
        }
        Ok(text)
    }

    /// Show the lines of `text` that contain any of `keys`, in order (at most `max`).
    pub(super) fn show(&mut self, text: &str, keys: &[&str], max: usize) -> Result<()> {
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| keys.iter().any(|k| l.contains(k)))
            .take(max)
            .collect();
        for l in lines {
            writeln!(self.out, "    | {}", l.trim_end())?;
        }
        self.out.flush()?;
        Ok(())
    }

    pub(super) fn require(&self, text: &str, needle: &str, what: &str) -> Result<()> {
        if !text.contains(needle) {
            bail!(
                "step {}: expected {what} ({needle:?}) but saw:\n{text}",
                self.step
            );
        }
        Ok(())
    }

    pub(super) fn write(&self, rel: &str, content: &str) -> Result<()> {
        let p = self.p(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
        }
        std::fs::write(&p, content).with_context(|| format!("cannot write {}", p.display()))
    }

    pub(super) fn head(&mut self, who: &str, dir: &str) -> Result<String> {
        Ok(self
            .quiet(who, dir, "git", &["rev-parse", "HEAD"])?
            .trim()
            .to_string())
    }
}

/// The first 12 digits of a commit id.
pub(super) fn short(id: &str) -> String {
    id.chars().take(12).collect()
}

/// `word` as a shell would need it written.
pub(super) fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word.chars().enumerate().all(|(i, c)| {
            c.is_ascii_alphanumeric() || "-_./:=@,+%^".contains(c) || (c == '~' && i > 0)
        });
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `export KEY='value'` lines (or `KEY='value'`), as `git guard workspace create` writes
/// `agent.env` (comments and other lines skipped).
pub(super) fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.strip_prefix("export ").unwrap_or(line);
            let (k, v) = line.split_once('=')?;
            if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return None;
            }
            Some((k.to_string(), unquote(v)?))
        })
        .collect()
}

/// Undo shell single-quoting (`'it'\''s'` is `it's`); `None` for anything else.
pub(super) fn unquote(v: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = v;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("\\'") {
            out.push('\'');
            rest = r;
        } else if let Some(r) = rest.strip_prefix('\'') {
            let end = r.find('\'')?;
            out.push_str(&r[..end]);
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(out)
}

pub(super) fn policy_text(root: &Path) -> String {
    format!(
        r#"# The demo's policy: the defaults, with names for the people and a deploy.
[actors]
agents = ["{AGENT}"]
humans = ["{HUMAN}"]

[tests]
command = "sh ci/check.sh"
timeout_secs = 60

[deploy]
root = "{root}/deploy"
branch = "main"
keep = 3
pidfile = "{root}/service.pid"
reload_signal = "HUP"
health_command = "test -f \"$GUARD_RELEASE_DIR/app/healthy\""
health_retries = 2
health_interval_ms = 100
health_timeout_secs = 10

[audit]
log = "{root}/audit.log"
"#,
        root = root.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_export_lines_are_read_as_workspace_create_writes_them() {
        let text = "export AGENT_DATA_ROOT='/w'\nexport GIT_AUTHOR_NAME='a b'\n";
        assert_eq!(
            parse_env_file(text),
            vec![
                ("AGENT_DATA_ROOT".to_string(), "/w".to_string()),
                ("GIT_AUTHOR_NAME".to_string(), "a b".to_string()),
            ]
        );
    }

    #[test]
    fn env_file_values_unquote_as_a_shell_reads_them() {
        let text = "# comment\nGIT_AUTHOR_NAME='Agent Bot'\nODD='it'\\''s'\nbad line\nX=unquoted\n";
        assert_eq!(
            parse_env_file(text),
            vec![
                ("GIT_AUTHOR_NAME".to_string(), "Agent Bot".to_string()),
                ("ODD".to_string(), "it's".to_string()),
            ]
        );
    }

    #[test]
    fn shown_words_are_quoted_only_when_a_shell_needs_it() {
        assert_eq!(shell_word("agent/feature"), "agent/feature");
        assert_eq!(shell_word("Add env"), "'Add env'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
