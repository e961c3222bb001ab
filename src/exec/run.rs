//! Running a judged command: its own process group, a scrubbed environment, the time limit on
//! the whole group, signals passed on. Judges nothing.

use std::io::ErrorKind;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::judge::scrubbed_variable;
use super::{EXIT_CANNOT_RUN, EXIT_NOT_FOUND, EXIT_TIMEOUT};

/// What to run, once judged.
#[derive(Debug, Clone)]
pub enum Program {
    Argv(Vec<String>),
    /// Run by `/bin/sh -c`.
    Shell(String),
}

impl Program {
    /// The command as the audit log and messages show it.
    pub fn display(&self) -> String {
        match self {
            Program::Argv(a) => a
                .iter()
                .map(|w| {
                    if !w.is_empty()
                        && w.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
                    {
                        w.clone()
                    } else {
                        format!("'{}'", w.replace('\'', r"'\''"))
                    }
                })
                .collect::<Vec<_>>()
                .join(" "),
            Program::Shell(s) => s.clone(),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// The command's exit code (128+signal when a signal ended it, 124 on timeout, 126/127
    /// when it could not start).
    pub code: i32,
    pub timed_out: bool,
    /// Why it did not start, when it did not.
    pub spawn_error: Option<String>,
    pub duration: Duration,
}

/// Options of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub cwd: PathBuf,
    pub timeout: Duration,
    /// Between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// Run as this user and group (when guard-exec runs as root for a workspace with an agent
    /// user).
    pub as_user: Option<(u32, u32)>,
}

/// Run the program in its own process group under the time limit. `interrupt`, when given, is
/// watched: a signal number stored in it (by the caller's signal handler) is passed on to the
/// whole group.
pub fn run(program: &Program, opts: &RunOptions, interrupt: Option<&AtomicI32>) -> RunOutcome {
    let start = Instant::now();
    let mut cmd = match program {
        Program::Argv(a) => {
            let mut c = Command::new(&a[0]);
            c.args(&a[1..]);
            c
        }
        Program::Shell(s) => {
            let mut c = Command::new("/bin/sh");
            c.arg("-c").arg(s);
            c
        }
    };
    cmd.current_dir(&opts.cwd).process_group(0);
    for (k, _) in std::env::vars_os() {
        if k.to_str().is_some_and(scrubbed_variable) {
            cmd.env_remove(k);
        }
    }
    if let Some((uid, gid)) = opts.as_user {
        cmd.uid(uid).gid(gid);
        // std drops the supplementary groups when it changes the uid from root.
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.kind() == ErrorKind::NotFound {
                EXIT_NOT_FOUND
            } else {
                EXIT_CANNOT_RUN
            };
            return RunOutcome {
                code,
                timed_out: false,
                spawn_error: Some(e.to_string()),
                duration: start.elapsed(),
            };
        }
    };
    let pgid = Pid::from_raw(child.id() as i32);
    let deadline = start + opts.timeout;
    let mut timed_out = false;
    let mut term_sent: Option<Instant> = None;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) => {}
            Err(_) => break None,
        }
        let now = Instant::now();
        if let Some(sig) = interrupt.map(|a| a.swap(0, Ordering::SeqCst))
            && sig != 0
            && let Ok(s) = Signal::try_from(sig)
        {
            let _ = killpg(pgid, s);
        }
        if term_sent.is_none() && now >= deadline {
            timed_out = true;
            let _ = killpg(pgid, Signal::SIGTERM);
            term_sent = Some(now);
        }
        if let Some(t) = term_sent
            && now >= t + opts.grace
        {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // Whatever the command left behind in its group does not outlive it.
    end_group(pgid, opts.grace);
    let code = if timed_out {
        EXIT_TIMEOUT
    } else {
        match status {
            Some(s) => s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)),
            None => EXIT_CANNOT_RUN,
        }
    };
    RunOutcome {
        code,
        timed_out,
        spawn_error: None,
        duration: start.elapsed(),
    }
}

/// SIGTERM to the group, then SIGKILL after `grace` if any member is left.
fn end_group(pgid: Pid, grace: Duration) {
    if killpg(pgid, Signal::SIGTERM).is_err() {
        return; // no member left
    }
    let until = Instant::now() + grace;
    while Instant::now() < until {
        // Signal 0 probes whether any member is left.
        if killpg(pgid, None).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = killpg(pgid, Signal::SIGKILL);
}
