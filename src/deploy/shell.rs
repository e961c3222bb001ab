//! Commands with a time limit: `sh -c` in its own process group, output kept in a
//! temporary file, the whole group killed at the limit.
//!
//! For the commands the policy names for the service (reload, health). It may not decide
//! what a result means for the deploy.

use std::io::{Read as _, Seek as _};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

pub(super) struct Ran {
    pub(super) ok: bool,
    /// How it ended: `exit status 1`, `timed out after 30s`.
    pub(super) how: String,
    /// The last lines of its output.
    pub(super) tail: String,
}

pub(super) fn run_shell(
    cmd: &str,
    dir: &Path,
    env: &[(&str, String)],
    limit: Duration,
) -> Result<Ran> {
    let log = tempfile::tempfile().context("cannot create a temporary file for command output")?;
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?)
        .process_group(0);
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c
        .spawn()
        .with_context(|| format!("cannot run `{cmd}` in {}", dir.display()))?;
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break Some(st);
        }
        if start.elapsed() >= limit {
            let _ = nix::sys::signal::killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut log = log;
    let mut text = String::new();
    log.rewind()?;
    let mut bytes = Vec::new();
    log.read_to_end(&mut bytes)?;
    text.push_str(&String::from_utf8_lossy(&bytes));
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(20)..].join("\n");
    Ok(match status {
        Some(st) => Ran {
            ok: st.success(),
            how: st.to_string(),
            tail,
        },
        None => Ran {
            ok: false,
            how: format!("timed out after {}s", limit.as_secs()),
            tail,
        },
    })
}

/// `: <output>` when a command said something, else nothing.
pub(super) fn with_tail(tail: &str) -> String {
    let t = tail.trim();
    if t.is_empty() {
        String::new()
    } else {
        format!(": {t}")
    }
}
