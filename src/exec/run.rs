//! Running a judged command: its own process group, a scrubbed environment, the time limit on
//! the whole group, signals passed on. Judges nothing.

use std::ffi::OsString;
use std::io::ErrorKind;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::wrappers::scrubbed_variable;
use super::{EXIT_CANNOT_RUN, EXIT_NOT_FOUND, EXIT_TIMEOUT};
use crate::contain::walls::{Armed, Walls};

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
    /// The kernel walls; `None` runs with no new privileges only (`commands.walls =
    /// "judged-only"` on a kernel without Landlock).
    pub walls: Option<Walls>,
    /// Variables set for the command (`TMPDIR` of the run).
    pub env: Vec<(String, OsString)>,
    /// A judged push: serve it with `git receive-pack` of this repository, started outside the
    /// walls and reached through descriptors 3 (its input) and 4 (its output); the command
    /// names [`RELAY`] as its receive-pack program.
    pub receive_pack: Option<PathBuf>,
}

/// The receive-pack program a judged push is given (`--receive-pack`): it joins the push to
/// the `git receive-pack` guard-exec started outside the walls, through descriptors 3 and 4.
/// git runs it with the shell and appends the repository's path, which the trailing `:`
/// swallows: the repository served is the workspace's upstream, whatever the push names.
pub const RELAY: &str = "cat <&4 & exec cat >&3; :";

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
    for (k, v) in &opts.env {
        cmd.env(k, v);
    }
    if let Some((uid, gid)) = opts.as_user {
        cmd.uid(uid).gid(gid);
        // std drops the supplementary groups when it changes the uid from root.
    }
    let cannot = |what: String| RunOutcome {
        code: EXIT_CANNOT_RUN,
        timed_out: false,
        spawn_error: Some(what),
        duration: start.elapsed(),
    };
    let mut armed = match &opts.walls {
        Some(w) => match Armed::build(w) {
            Ok(a) => a,
            Err(e) => return cannot(format!("{e}")),
        },
        None => Armed::privileges_only(),
    };
    let mut relay = match &opts.receive_pack {
        Some(repo) => match Relay::start(repo, opts.as_user) {
            Ok(r) => Some(r),
            Err(e) => return cannot(format!("cannot start git receive-pack: {e}")),
        },
        None => None,
    };
    let fds = relay
        .as_ref()
        .and_then(|r| r.ends.as_ref())
        .map(|(w, r)| (w.as_raw_fd(), r.as_raw_fd()));
    // SAFETY: between fork and exec the closure only makes system calls (dup2, prctl and the
    // Landlock calls); guard-exec starts no thread that could hold a lock across the fork.
    unsafe {
        cmd.pre_exec(move || {
            // First the walls: the ruleset's own descriptor may be 3 or 4.
            armed.raise()?;
            if let Some((to_rp, from_rp)) = fds {
                // Both are at 10 or above (see Relay::start), so neither is overwritten here.
                if nix::libc::dup2(to_rp, 3) < 0 || nix::libc::dup2(from_rp, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        })
    };
    let spawned = cmd.spawn();
    // The command holds its own copies now; receive-pack sees the end of its input when the
    // command and what it started are done.
    if let Some(r) = relay.as_mut() {
        r.close_ends();
    }
    let mut child = match spawned {
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
    if let Some(r) = relay {
        r.finish(opts.grace);
    }
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

/// `git receive-pack` of the upstream, outside the walls, with the ends the command gets.
struct Relay {
    child: Child,
    /// Written by the command (its descriptor 3): receive-pack's input; then read by the
    /// command (its descriptor 4): receive-pack's output.
    ends: Option<(OwnedFd, OwnedFd)>,
}

impl Relay {
    fn start(repo: &Path, as_user: Option<(u32, u32)>) -> std::io::Result<Relay> {
        let mut cmd = Command::new("git");
        cmd.arg("receive-pack")
            .arg(repo)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .process_group(0);
        // Only the upstream's own and the system's configuration: nothing the command's
        // environment names may switch the upstream's hooks off.
        for (k, _) in std::env::vars_os() {
            if k.to_str().is_some_and(|k| k.starts_with("GIT_")) {
                cmd.env_remove(k);
            }
        }
        cmd.env("GIT_CONFIG_GLOBAL", "/dev/null");
        if let Some((uid, gid)) = as_user {
            // The upstream's hooks judge the push as the agent's.
            cmd.uid(uid).gid(gid);
        }
        let mut child = cmd.spawn()?;
        let high = |fd: std::os::fd::RawFd| -> std::io::Result<OwnedFd> {
            // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor we own (or -1).
            let n = unsafe { nix::libc::fcntl(fd, nix::libc::F_DUPFD_CLOEXEC, 10) };
            if n < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: n is a fresh descriptor owned by nobody else.
            Ok(unsafe { OwnedFd::from_raw_fd(n) })
        };
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let to_rp = high(stdin.as_raw_fd())?;
        let from_rp = high(stdout.as_raw_fd())?;
        Ok(Relay {
            child,
            ends: Some((to_rp, from_rp)),
        })
    }

    /// Drop guard-exec's copies of the command's ends.
    fn close_ends(&mut self) {
        self.ends = None;
    }

    /// Wait for receive-pack to finish after the command; end it after `grace`.
    fn finish(mut self, grace: Duration) {
        let until = Instant::now() + grace;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) if Instant::now() >= until => {
                    let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
                    let _ = self.child.wait();
                    return;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }
}
