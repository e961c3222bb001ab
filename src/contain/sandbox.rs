//! Running the agent's code contained: the tests of `git guard test` and guard-deploy, and the
//! deploy build.
//!
//! With [`Isolation::Bwrap`] the command runs under bubblewrap in new user, mount, pid, ipc,
//! uts and cgroup namespaces and (unless the policy allows the network) a network namespace of
//! its own. Inside there is a read-only `/usr` (and the merged-`/usr` links), a handful of
//! read-only files of `/etc` (no git or ssh configuration), the paths the policy lists in
//! `tests.readable`, a fresh `/proc` and `/dev`, a private `/tmp`, and the one writable
//! directory the caller names, bound at its own path. The root is read-only. The repository,
//! the caller's home, the hook and approval configuration, credentials and agent sockets are
//! simply not there. The environment is scrubbed, every capability dropped, and the command
//! runs as uid 65534 of its namespace in a session of its own.
//!
//! The sandbox's first process is the init of its pid namespace: when it ends, the kernel ends
//! every process the command started, daemonised or not. At the time limit that init is
//! killed, so nothing outlives the run. When bubblewrap is missing or cannot build the sandbox
//! the run is refused with the reason (fail closed); [`Isolation::None`] is the policy's
//! explicit choice to run uncontained.
//!
//! This file runs processes and reads nothing of the repository; it may not record results
//! (the callers do).

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use crate::engine::policy::{Isolation, Policy};

/// Names the bubblewrap binary to use instead of `bwrap` on `PATH` (for a non-standard
/// install, and for the test that shows a missing bubblewrap refuses the run).
pub const BWRAP_ENV: &str = "GIT_GUARD_BWRAP";

/// The uid and gid the command has inside its user namespace.
pub const SANDBOX_ID: u32 = 65534;

/// Files of `/etc` a program needs to start and resolve names; nothing that configures git,
/// ssh, sudo or a credential store.
const ETC_FILES: &[&str] = &[
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/mime.types",
    "/etc/protocols",
    "/etc/services",
    "/etc/os-release",
    "/etc/debian_version",
];

/// What to run, where, and how contained.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    pub command: &'a str,
    /// The only writable directory besides the private `/tmp`; the working directory.
    pub dir: &'a Path,
    /// Variables set for the command; nothing else of the caller's environment reaches it.
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub isolation: Isolation,
    pub network: bool,
    pub readable: &'a [PathBuf],
}

impl<'a> Spec<'a> {
    /// The policy's containment (`tests.isolation`, `tests.network`, `tests.readable`) and
    /// time limit (`tests.timeout_secs`) for `command` in `dir`.
    pub fn from_policy(policy: &'a Policy, command: &'a str, dir: &'a Path) -> Spec<'a> {
        Spec {
            command,
            dir,
            env: Vec::new(),
            timeout: Duration::from_secs(policy.tests.timeout_secs.max(1)),
            isolation: policy.tests.isolation,
            network: policy.tests.network,
            readable: &policy.tests.readable,
        }
    }

    pub fn with_env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_string(), value.into()));
        self
    }
}

/// How a contained command ended.
#[derive(Debug)]
pub struct Ran {
    /// `None` when it was killed (by the time limit or a signal).
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub duration: Duration,
    /// `bwrap` or `none`: what contained it.
    pub isolation: &'static str,
    /// Its standard output and error, interleaved.
    output: File,
}

impl Ran {
    pub fn ok(&self) -> bool {
        !self.timed_out && self.exit_code == Some(0)
    }

    /// `exit status 1`, `timed out after 30s`, `killed`.
    pub fn how(&self, timeout: Duration) -> String {
        if self.timed_out {
            format!("timed out after {}s", timeout.as_secs())
        } else {
            match self.exit_code {
                Some(c) => format!("exit status {c}"),
                None => "killed by a signal".into(),
            }
        }
    }

    /// The last `max` bytes of the output, starting at a line boundary, with a note of what
    /// was left out.
    pub fn tail_bytes(&mut self, max: usize) -> Result<String> {
        let len = self.output.seek(SeekFrom::End(0))?;
        let start = len.saturating_sub(max as u64);
        self.output.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::new();
        self.output.read_to_end(&mut buf)?;
        let mut s = String::from_utf8_lossy(&buf).into_owned();
        if start > 0 {
            if let Some(nl) = s.find('\n') {
                s = s[nl + 1..].to_string();
            }
            s.insert_str(0, &format!("[... {start} earlier bytes not kept]\n"));
        }
        Ok(s)
    }

    /// The last `n` lines of the output.
    pub fn tail_lines(&mut self, n: usize) -> Result<String> {
        let text = self.tail_bytes(64 * 1024)?;
        let lines: Vec<&str> = text.lines().collect();
        Ok(lines[lines.len().saturating_sub(n)..].join("\n"))
    }
}

/// Run `spec` contained as the policy says; `Err` when it could not be contained (or not
/// started at all), never a silent fallback.
pub fn run(spec: &Spec<'_>) -> Result<Ran> {
    if !spec.dir.is_dir() {
        bail!(
            "cannot run `{}`: {} is not a directory",
            spec.command,
            spec.dir.display()
        );
    }
    match spec.isolation {
        Isolation::None => run_uncontained(spec),
        Isolation::Bwrap => run_bwrap(spec),
    }
}

/// The bubblewrap to use: `GIT_GUARD_BWRAP`, else `bwrap` on `PATH`.
fn bwrap_binary() -> Result<PathBuf> {
    let hint = "install bubblewrap (Debian: apt-get install bubblewrap), or, on a machine that \
                is itself a throwaway sandbox, set tests.isolation = \"none\" in the policy";
    if let Some(p) = std::env::var_os(BWRAP_ENV).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!(
                "cannot contain the agent's code: {BWRAP_ENV} names {}, which is not a file; {hint}",
                p.display()
            );
        }
        return Ok(p);
    }
    which::which("bwrap").map_err(|_| {
        anyhow!("cannot contain the agent's code: bubblewrap (bwrap) is not on PATH; {hint}")
    })
}

/// The bubblewrap arguments that build the sandbox, up to the command.
fn sandbox_args(spec: &Spec<'_>) -> Result<Vec<String>> {
    let dir = spec
        .dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", spec.dir.display()))?;
    let dir = dir.to_string_lossy().into_owned();
    let id = SANDBOX_ID.to_string();
    let mut a: Vec<String> = [
        "--unshare-all",
        "--unshare-user",
        "--uid",
        &id,
        "--gid",
        &id,
        "--cap-drop",
        "ALL",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "guard-sandbox",
        "--clearenv",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if spec.network {
        a.push("--share-net".into());
    }
    // Merged /usr: /bin, /lib... are links into it; otherwise bind them read-only.
    for top in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] {
        let p = Path::new(top);
        match std::fs::read_link(p) {
            Ok(target) => a.extend([
                "--symlink".into(),
                target.to_string_lossy().into_owned(),
                top.into(),
            ]),
            Err(_) if p.is_dir() => a.extend(["--ro-bind".into(), top.into(), top.into()]),
            Err(_) => {}
        }
    }
    for f in ETC_FILES {
        a.extend(["--ro-bind-try".into(), f.to_string(), f.to_string()]);
    }
    if spec.network {
        a.extend([
            "--ro-bind-try".into(),
            "/etc/resolv.conf".into(),
            "/etc/resolv.conf".into(),
        ]);
    }
    a.extend(
        ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
            .iter()
            .map(|s| s.to_string()),
    );
    // After /tmp, so that a path under it is not hidden by the fresh one; before the
    // writable directory, so that a readable parent does not cover it.
    for p in spec.readable {
        if !p.exists() {
            bail!(
                "tests.readable names {}, which does not exist on this machine",
                p.display()
            );
        }
        let p = p.to_string_lossy().into_owned();
        a.extend(["--ro-bind".into(), p.clone(), p]);
    }
    a.extend(
        ["--bind", &dir, &dir, "--chdir", &dir, "--remount-ro", "/"]
            .iter()
            .map(|s| s.to_string()),
    );
    let path = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";
    for (k, v) in base_env(path).into_iter().chain(spec.env.clone()) {
        a.extend(["--setenv".into(), k, v]);
    }
    Ok(a)
}

/// The variables every contained command gets.
fn base_env(path: &str) -> Vec<(String, String)> {
    [
        ("PATH", path),
        ("HOME", "/tmp"),
        ("TMPDIR", "/tmp"),
        ("LANG", "C.UTF-8"),
        ("USER", "sandbox"),
        ("LOGNAME", "sandbox"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn run_bwrap(spec: &Spec<'_>) -> Result<Ran> {
    let bwrap = bwrap_binary()?;
    let args = sandbox_args(spec)?;
    probe(&bwrap, &args)?;

    let log = tempfile::tempfile().context("cannot create a temporary file for the output")?;
    // bubblewrap tells the outside pid of the sandbox's init on this pipe.
    let (info_r, info_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .context("cannot create a pipe for bubblewrap")?;
    let info_w_raw = info_w.as_raw_fd();
    let mut c = Command::new(&bwrap);
    c.args(&args)
        .arg("--info-fd")
        .arg(info_w_raw.to_string())
        .args(["--", "sh", "-c", spec.command])
        .env_clear()
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?)
        .process_group(0);
    // SAFETY: fcntl is async-signal-safe; it only clears close-on-exec on the one fd bwrap
    // must inherit.
    unsafe {
        c.pre_exec(move || {
            let flags = nix::fcntl::fcntl(
                std::os::fd::BorrowedFd::borrow_raw(info_w_raw),
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
            );
            flags.map(|_| ()).map_err(std::io::Error::from)
        });
    }
    let started = Instant::now();
    let mut child = c
        .spawn()
        .with_context(|| format!("cannot run {}", bwrap.display()))?;
    drop(info_w);
    let init = read_child_pid(info_r);

    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if started.elapsed() >= spec.timeout {
            timed_out = true;
            // Killing the sandbox's init ends its whole pid namespace; bubblewrap, its
            // parent, then reaps it and exits.
            if let Some(pid) = *init.lock().unwrap_or_else(|e| e.into_inner()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
    if let Some(pid) = *init.lock().unwrap_or_else(|e| e.into_inner()) {
        wait_gone(pid);
    }
    Ok(Ran {
        exit_code: status.code(),
        timed_out,
        duration: started.elapsed(),
        isolation: "bwrap",
        output: log,
    })
}

/// Build the same sandbox around `true`: if bubblewrap cannot (no user namespaces, a
/// missing path), refuse with its words before the command is run.
fn probe(bwrap: &Path, args: &[String]) -> Result<()> {
    let out = Command::new(bwrap)
        .args(args)
        .args(["--", "true"])
        .env_clear()
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", bwrap.display()))?;
    if !out.status.success() {
        bail!(
            "cannot contain the agent's code: bubblewrap could not build the sandbox ({}): {}; \
             the command was not run (fix the machine, or, on a machine that is itself a \
             throwaway sandbox, set tests.isolation = \"none\")",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Read `"child-pid": N` from bubblewrap's info pipe in a thread of its own (the pipe may stay
/// open as long as the sandbox runs).
fn read_child_pid(r: OwnedFd) -> Arc<Mutex<Option<i32>>> {
    let slot = Arc::new(Mutex::new(None));
    let out = slot.clone();
    std::thread::spawn(move || {
        let mut f = File::from(r);
        let mut buf = Vec::new();
        let mut chunk = [0u8; 512];
        loop {
            match f.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            if buf.contains(&b'}') {
                break;
            }
        }
        let pid = serde_json::from_slice::<serde_json::Value>(&buf)
            .ok()
            .and_then(|v| v.get("child-pid")?.as_i64())
            .and_then(|p| i32::try_from(p).ok());
        if let Ok(mut s) = out.lock() {
            *s = pid;
        }
    });
    // The pid is written before the command starts; give the reader its moment so a run that
    // times out at once still knows whom to kill.
    for _ in 0..50 {
        if slot.lock().map(|s| s.is_some()).unwrap_or(true) {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    slot
}

/// Wait (a bounded while) until `pid` has exited: the pid namespace it was init of is then
/// empty.
fn wait_gone(pid: i32) {
    for _ in 0..500 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
        let alive = match stat {
            Err(_) => false,
            // The state follows the parenthesised command name; a zombie has finished.
            Ok(s) => s
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|state| state != "Z" && state != "X"),
        };
        if !alive {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn run_uncontained(spec: &Spec<'_>) -> Result<Ran> {
    let log = tempfile::tempfile().context("cannot create a temporary file for the output")?;
    let home = tempfile::Builder::new()
        .prefix("git-guard-home-")
        .tempdir()
        .context("cannot create a temporary home")?;
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into());
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(spec.command)
        .current_dir(spec.dir)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?)
        .process_group(0);
    for (k, v) in base_env(&path).into_iter().chain(spec.env.clone()) {
        c.env(k, v);
    }
    let tmp = home.path().to_string_lossy().into_owned();
    c.env("HOME", &tmp).env("TMPDIR", &tmp);
    let started = Instant::now();
    let mut child = c
        .spawn()
        .with_context(|| format!("cannot run `{}`", spec.command))?;
    let pgid = Pid::from_raw(child.id() as i32);
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if started.elapsed() >= spec.timeout {
            timed_out = true;
            let _ = killpg(pgid, Signal::SIGKILL);
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // What stayed in the process group dies with the run; what left it is not contained.
    let _ = killpg(pgid, Signal::SIGKILL);
    Ok(Ran {
        exit_code: status.code(),
        timed_out,
        duration: started.elapsed(),
        isolation: "none",
        output: log,
    })
}
