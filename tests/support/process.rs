//! Long-running helper processes of a test (git daemon, lighttpd): started in a process group
//! of their own, and on drop the whole group is ended and the child waited for, so no test
//! leaves a process running (`git daemon` runs `git-daemon` as a child, which a kill of the
//! `git` process alone would leave behind).

use std::net::TcpStream;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// A process group led by a child of the test, ended with SIGKILL and reaped on drop.
pub struct Daemon {
    child: Child,
    what: String,
}

impl Daemon {
    /// Start `cmd` in a new process group and wait (a bounded number of tries) until
    /// something listens on `port` of 127.0.0.1.
    pub fn start(cmd: &mut Command, port: u16, what: &str) -> Daemon {
        cmd.process_group(0);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("{what} starts: {e}"));
        let mut d = Daemon {
            child,
            what: what.to_string(),
        };
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return d;
            }
            if let Ok(Some(status)) = d.child.try_wait() {
                panic!("{what} exited early: {status}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{what} did not listen on port {port}");
    }

    /// The process group id (the leader's pid).
    pub fn pgid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Whether any process of the group is still alive (a zombie leader not yet reaped counts).
    pub fn group_alive(pgid: i32) -> bool {
        killpg(Pid::from_raw(pgid), None).is_ok()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pgid = Pid::from_raw(self.pgid());
        let _ = killpg(pgid, Signal::SIGKILL);
        if let Err(e) = self.child.wait() {
            eprintln!("{}: cannot wait for it: {e}", self.what);
        }
        // The group's other members were children of the leader, now orphans that init reaps;
        // wait until the kernel has them gone, so the test ends with nothing left.
        for _ in 0..200 {
            if !Daemon::group_alive(self.pgid()) {
                return;
            }
            let _ = killpg(pgid, Signal::SIGKILL);
            std::thread::sleep(Duration::from_millis(10));
        }
        eprintln!(
            "{}: process group {pgid} still alive after SIGKILL",
            self.what
        );
    }
}

/// The pids of the live processes whose command line has the argument `arg` (read from
/// `/proc`; a zombie has no command line and is not counted).
pub fn processes_with_arg(arg: &str) -> Vec<u32> {
    live_pids(|pid| {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == arg.as_bytes()))
    })
}

/// The pids in `/proc` that `keep` keeps.
fn live_pids(keep: impl Fn(u32) -> bool) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| keep(pid))
        .collect()
}

/// Wait (a bounded number of tries) until no live process has `dir` as its working
/// directory. A daemon's `receive-pack` works in the repository and removes its quarantine
/// directory as it exits, which may be after the client has read the verdict and returned; a
/// test that looks at the repository waits for that first.
pub fn settle_in(dir: &Path) {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let working_in =
        || live_pids(|pid| std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|c| c == dir));
    for _ in 0..400 {
        if working_in().is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!(
        "processes still work in {}: {:?}",
        dir.display(),
        working_in()
    );
}
