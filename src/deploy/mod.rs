//! The deploy door: `guard-deploy deploy REV | status | list | rollback [RELEASE] | unlock`.
//!
//! A deploy re-checks everything itself before anything runs, because whatever reached the
//! repository may have skipped a hook: lock -> policy over every commit since the deployed
//! one -> every flag approved for exactly this commit -> tests in a clean checkout -> keep the
//! current release as the backup -> materialise the new release -> switch `current`
//! atomically -> reload -> health check (on failure, switch back to the backup) -> prune ->
//! optionally push. `status.json` and the audit log are written at every step.
//!
//! Root layout:
//!
//! ```text
//! <root>/releases/<id>/       one materialised tree per release (id: <UTC stamp>-<commit>)
//! <root>/releases/<id>.json   what the release is: commit, tree, previous release, state
//! <root>/current              symlink -> releases/<id>
//! <root>/status.json          the last run: action, state, step, release, previous, error
//! <root>/lock                 the deploy lock: owner pid, host, start time, token
//! <root>/audit.log            one record per step (unless the policy names another log)
//! ```
//!
//! The truth about what runs is the `current` link and the release records; `status.json`
//! tells what the last run was doing, and `status` compares the two with the lock.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, Write};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, anyhow, bail};
use gix::ObjectId;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::contain::release;
use crate::engine::identity::Actor;
use crate::engine::model::{self, ModelOptions};
use crate::engine::policy::Policy;
use crate::engine::verdict::{self, Finding, Verdict};
use crate::site::audit;

/// Every point a run reports, in order. Each is recorded in `status.json` and the audit log
/// when it starts; the test hook can stop the process at any of them.
pub const STEPS: &[&str] = &[
    "lock-wait",
    "lock",
    "check",
    "approvals",
    "tests",
    "materialise",
    "materialise-rename",
    "switch",
    "switch-rename",
    "reload",
    "health",
    "rollback",
    "prune",
    "push",
    "done",
];

/// The checks that live outside the deploy door: approvals and recorded test runs. A trait so
/// the pipeline can be driven with other stores; [`RepoGate`] is the one guard-deploy uses.
pub trait Gate {
    /// The flags among `flags` (found over the commits about to be deployed) that are not
    /// approved for exactly `commit` and its tree (or the commit that raised them).
    fn unapproved(
        &self,
        repo: &gix::Repository,
        commit: ObjectId,
        flags: &[Finding],
    ) -> Result<Vec<Finding>>;

    /// The latest recorded passing test run of exactly `tree`: (its command, one line
    /// describing it).
    fn recorded_pass(
        &self,
        repo: &gix::Repository,
        tree: ObjectId,
    ) -> Result<Option<(String, String)>>;
}

/// Approvals and test runs as `git guard approve` and `git guard test` record them in the
/// repository itself.
pub struct RepoGate<'a> {
    pub policy: &'a Policy,
}

impl Gate for RepoGate<'_> {
    fn unapproved(
        &self,
        repo: &gix::Repository,
        commit: ObjectId,
        flags: &[Finding],
    ) -> Result<Vec<Finding>> {
        crate::approvals::unapproved_among(repo, self.policy, commit, flags)
    }

    fn recorded_pass(
        &self,
        repo: &gix::Repository,
        tree: ObjectId,
    ) -> Result<Option<(String, String)>> {
        Ok(crate::contain::testrun::recorded_pass(repo, tree)?
            .map(|r| (r.command.clone(), r.describe())))
    }
}

/// Where everything of one deploy root lives.
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Layout {
        Layout { root: root.into() }
    }
    pub fn releases(&self) -> PathBuf {
        self.root.join("releases")
    }
    pub fn release(&self, id: &str) -> PathBuf {
        self.releases().join(id)
    }
    pub fn meta(&self, id: &str) -> PathBuf {
        self.releases().join(format!("{id}.json"))
    }
    pub fn current(&self) -> PathBuf {
        self.root.join("current")
    }
    pub fn status(&self) -> PathBuf {
        self.root.join("status.json")
    }
    pub fn lock(&self) -> PathBuf {
        self.root.join("lock")
    }
    /// The policy's audit log, else `<root>/audit.log`.
    pub fn audit(&self, policy: &Policy) -> PathBuf {
        policy
            .audit
            .log
            .clone()
            .unwrap_or_else(|| self.root.join("audit.log"))
    }
}

// ---------------------------------------------------------------------------------------------
// Time, tokens, atomic files

/// Now in UTC: (`2026-01-01T00:00:00Z`, `20260101T000000.000000Z`). The second form names
/// releases: fixed width with microseconds, so releases made in the same second still sort
/// in the order they were made (runs are serialised by the lock).
fn now_utc() -> (String, String) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let micros = now.subsec_micros();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    (
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z"),
        format!("{y:04}{mo:02}{d:02}T{h:02}{m:02}{s:02}.{micros:06}Z"),
    )
}

fn random_token() -> Result<String> {
    let mut b = [0u8; 8];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .context("cannot read /dev/urandom for the lock token")?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".into())
}

/// Write `bytes` to `path` through a temporary file and a rename, so readers see the old
/// content or the new, never half.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", tmp.path().display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

fn short(id: &str) -> &str {
    &id[..12.min(id.len())]
}

fn pid_alive(pid: u32) -> bool {
    match nix::sys::signal::kill(Pid::from_raw(pid as i32), None) {
        Ok(()) => true,
        Err(e) => e != Errno::ESRCH,
    }
}

// ---------------------------------------------------------------------------------------------
// The lock

/// Who holds the deploy lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockOwner {
    pub pid: u32,
    pub host: String,
    pub started: String,
    pub token: String,
    /// `deploy <rev>` or `rollback`.
    pub action: String,
}

impl LockOwner {
    fn describe(&self) -> String {
        format!(
            "pid {} on {} since {} ({}, token {})",
            self.pid, self.host, self.started, self.action, self.token
        )
    }
}

/// What the lock file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockState {
    Free,
    /// A live process holds the kernel lock on it.
    Held(LockOwner),
    /// The file is there but nobody holds it: its owner died.
    Stale {
        owner: Option<LockOwner>,
        /// On this host, whether the owner's pid still exists (it may have been reused).
        pid_alive: bool,
    },
}

impl LockState {
    pub fn describe(&self, lock: &Path) -> String {
        match self {
            LockState::Free => "free".into(),
            LockState::Held(o) => format!("held by {}", o.describe()),
            LockState::Stale {
                owner: Some(o),
                pid_alive,
            } => format!(
                "STALE: left by {} which is gone{}; check `guard-deploy status`, then clear it \
                 with `guard-deploy unlock --token {}`",
                o.describe(),
                if *pid_alive {
                    " (its pid now belongs to another process)"
                } else {
                    ""
                },
                o.token
            ),
            LockState::Stale { owner: None, .. } => format!(
                "STALE and unreadable: {} names no owner; make sure no deploy runs, then remove it",
                lock.display()
            ),
        }
    }
}

/// The deploy lock, held until dropped: a file created atomically with its owner written in
/// it, and a kernel `flock` on that file, so a crashed holder's lock is told from a live one.
pub struct Lock {
    file: Option<Flock<File>>,
    path: PathBuf,
    pub owner: LockOwner,
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Remove the name while still holding the kernel lock, so nobody can take over a
        // file that is about to disappear.
        let _ = std::fs::remove_file(&self.path);
        self.file.take();
    }
}

fn read_owner(f: &mut File) -> Option<LockOwner> {
    let mut s = String::new();
    f.rewind().ok()?;
    f.read_to_string(&mut s).ok()?;
    serde_json::from_str(&s).ok()
}

/// Look at the lock without taking it.
pub fn inspect_lock(path: &Path) -> Result<LockState> {
    loop {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LockState::Free),
            Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
        };
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Err((mut f, Errno::EWOULDBLOCK)) => {
                return Ok(match read_owner(&mut f) {
                    Some(o) => LockState::Held(o),
                    None => LockState::Held(LockOwner {
                        pid: 0,
                        host: "?".into(),
                        started: "?".into(),
                        token: "?".into(),
                        action: "unreadable lock file".into(),
                    }),
                });
            }
            Err((_, e)) => bail!("cannot flock {}: {e}", path.display()),
            Ok(mut f) => {
                // The holder may have released (and removed) it between our open and flock:
                // only a file still at the path is a stale lock.
                if !same_file(&f, path) {
                    continue;
                }
                let owner = read_owner(&mut f);
                let pid_alive = owner
                    .as_ref()
                    .is_some_and(|o| o.host == hostname() && pid_alive(o.pid));
                return Ok(LockState::Stale { owner, pid_alive });
            }
        }
    }
}

fn same_file(f: &File, path: &Path) -> bool {
    match (f.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another deploy holds the lock: {holder}; {how}")]
    Busy { holder: String, how: String },
    #[error("the deploy lock is {0}")]
    Stale(String),
    #[error(transparent)]
    Io(#[from] anyhow::Error),
}

/// Take the lock, waiting up to `wait` for a live holder. `on_wait` runs once, when the lock
/// is first found held. Returns the lock and how long it waited.
pub fn acquire_lock(
    path: &Path,
    action: &str,
    wait: Duration,
    on_wait: &mut dyn FnMut(&LockOwner),
) -> Result<(Lock, Option<(LockOwner, Duration)>), LockError> {
    let started = Instant::now();
    let token = random_token()?;
    let owner = LockOwner {
        pid: std::process::id(),
        host: hostname(),
        started: now_utc().0,
        token: token.clone(),
        action: action.to_string(),
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut waited_for: Option<LockOwner> = None;
    loop {
        // The lock is written whole under a private name, locked, then linked into place:
        // link(2) fails if the name exists (like O_EXCL), and nobody ever sees an empty lock.
        let tmp = dir.join(format!(".lock.new-{token}"));
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut f = Flock::lock(f, FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| anyhow!("cannot flock {}: {e}", tmp.display()))?;
        let json = serde_json::to_vec(&owner).map_err(anyhow::Error::from)?;
        f.write_all(&json)
            .and_then(|_| f.sync_all())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                release::sync_dir(dir)?;
                let lock = Lock {
                    file: Some(f),
                    path: path.to_path_buf(),
                    owner,
                };
                return Ok((lock, waited_for.map(|o| (o, started.elapsed()))));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => drop(f),
            Err(e) => {
                return Err(LockError::Io(
                    anyhow::Error::from(e).context(format!("cannot create {}", path.display())),
                ));
            }
        }
        match inspect_lock(path)? {
            LockState::Free => continue,
            st @ LockState::Stale { .. } => return Err(LockError::Stale(st.describe(path))),
            LockState::Held(holder) => {
                if started.elapsed() >= wait {
                    let how = if wait.is_zero() {
                        "refused without waiting (deploy.lock_wait_secs = 0)".to_string()
                    } else {
                        format!(
                            "waited {}s (deploy.lock_wait_secs), then refused",
                            wait.as_secs()
                        )
                    };
                    return Err(LockError::Busy {
                        holder: holder.describe(),
                        how,
                    });
                }
                if waited_for.is_none() {
                    on_wait(&holder);
                    waited_for = Some(holder);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Clear a stale lock whose owner token is `token`. A lock held by a live process, or one
/// with another token, is left alone.
pub fn unlock(layout: &Layout, token: &str) -> Result<LockOwner> {
    let path = layout.lock();
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("there is no deploy lock at {}", path.display())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
    };
    let mut f = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(f) => f,
        Err((mut f, Errno::EWOULDBLOCK)) => {
            let who = read_owner(&mut f)
                .map(|o| o.describe())
                .unwrap_or_else(|| "an unreadable owner".into());
            bail!(
                "the deploy lock is held by a running process ({who}): unlock clears only a \
                 stale lock; wait for it or stop that process"
            )
        }
        Err((_, e)) => bail!("cannot flock {}: {e}", path.display()),
    };
    if !same_file(&f, &path) {
        bail!("the deploy lock changed while being cleared; run `guard-deploy status` again");
    }
    let owner = read_owner(&mut f).ok_or_else(|| {
        anyhow!(
            "{} names no owner: make sure no deploy runs, then remove it by hand",
            path.display()
        )
    })?;
    if owner.token != token {
        bail!(
            "the stale lock's token is {}, not {token}: see `guard-deploy status`",
            owner.token
        );
    }
    std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
    drop(f);
    Ok(owner)
}

// ---------------------------------------------------------------------------------------------
// Status and release records

/// What the last run was doing, written at every step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// `deploy` or `rollback`.
    pub action: String,
    /// `running`, `done`, `refused`, `rolled-back`, `failed`.
    pub state: String,
    pub step: String,
    /// The release this run puts in place.
    pub release: Option<String>,
    pub commit: Option<String>,
    /// The release `current` pointed at when the run started.
    pub previous: Option<String>,
    pub when: String,
    pub who: String,
    pub pid: u32,
    pub token: String,
    pub error: Option<String>,
}

impl Status {
    /// Where `current` should point once this run is over.
    pub fn expected_current(&self) -> Option<&str> {
        if self.state == "done" {
            self.release.as_deref()
        } else {
            self.previous.as_deref()
        }
    }
}

/// What one release is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseMeta {
    pub id: String,
    pub commit: String,
    pub tree: String,
    /// The release that was current when this one was made: the backup while it runs.
    pub previous: Option<String>,
    pub created: String,
    pub who: String,
    /// `new`, `deployed`, `failed`.
    pub state: String,
    pub reason: Option<String>,
    pub skipped_gitlinks: Vec<String>,
}

/// Read `status.json`: `Ok(None)` when there is none, an error naming the file when it is
/// not a status record.
pub fn read_status(layout: &Layout) -> Result<Option<Status>> {
    let path = layout.status();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        anyhow!(
            "{} is corrupt ({e}); the `current` link and releases/*.json still tell what is \
             deployed (`guard-deploy status`, `guard-deploy list`); move the file aside \
             (`mv {0} {0}.bad`) and run again",
            path.display()
        )
    })
}

pub fn read_meta(layout: &Layout, id: &str) -> Result<ReleaseMeta> {
    let path = layout.meta(id);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a release record: restore it or deploy again",
            path.display()
        )
    })
}

fn write_meta(layout: &Layout, meta: &ReleaseMeta) -> Result<()> {
    let json = serde_json::to_vec_pretty(meta)?;
    write_atomic(&layout.meta(&meta.id), &json)
}

/// The release `current` points at, `None` when nothing is deployed.
pub fn read_current(layout: &Layout) -> Result<Option<String>> {
    let link = layout.current();
    let target = match std::fs::read_link(&link) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "{} is not a symlink: move it aside; guard-deploy manages it",
                    link.display()
                )
            });
        }
    };
    let id = target
        .strip_prefix("releases")
        .ok()
        .and_then(|p| p.to_str())
        .filter(|s| !s.is_empty() && !s.contains('/'))
        .ok_or_else(|| {
            anyhow!(
                "{} points at {}, not at releases/<id>: guard-deploy did not make it",
                link.display(),
                target.display()
            )
        })?;
    if !layout.release(id).is_dir() {
        bail!(
            "{} points at releases/{id}, which is missing: switch to a release that exists \
             with `guard-deploy rollback RELEASE` (see `guard-deploy list`)",
            link.display()
        );
    }
    Ok(Some(id.to_string()))
}

/// Point `current` at `id` atomically: a new symlink renamed over the old one.
fn switch_current(layout: &Layout, id: &str, token: &str, pause: &dyn Fn(&str)) -> Result<()> {
    let tmp = layout.root.join(format!("current.tmp-{token}"));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(Path::new("releases").join(id), &tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    pause("switch-rename");
    std::fs::rename(&tmp, layout.current()).with_context(|| {
        format!(
            "cannot rename {} over {}",
            tmp.display(),
            layout.current().display()
        )
    })?;
    release::sync_dir(&layout.root)
}

/// The release ids under `releases/`, oldest first (ids begin with their UTC stamp).
pub fn release_ids(layout: &Layout) -> Result<Vec<String>> {
    let dir = layout.releases();
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut ids = Vec::new();
    for e in rd {
        let e = e.with_context(|| format!("cannot read {}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            ids.push(name);
        }
    }
    ids.sort();
    Ok(ids)
}

/// The release a rollback goes back to: the one that was current when `current` was made.
pub fn backup_of(layout: &Layout, current: Option<&str>) -> Option<String> {
    let meta = read_meta(layout, current?).ok()?;
    meta.previous.filter(|p| layout.release(p).is_dir())
}

// ---------------------------------------------------------------------------------------------
// Commands with a time limit

struct Ran {
    ok: bool,
    /// How it ended: `exit status 1`, `timed out after 30s`.
    how: String,
    /// The last lines of its output.
    tail: String,
}

fn run_shell(cmd: &str, dir: &Path, env: &[(&str, String)], limit: Duration) -> Result<Ran> {
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
fn with_tail(tail: &str) -> String {
    let t = tail.trim();
    if t.is_empty() {
        String::new()
    } else {
        format!(": {t}")
    }
}

/// GET an `http://` URL; `Ok(())` on a 2xx answer.
fn http_get(url: &str, limit: Duration) -> std::result::Result<(), String> {
    use std::net::{TcpStream, ToSocketAddrs as _};
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr_text = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let limit = limit.max(Duration::from_millis(10));
    let addrs: Vec<_> = addr_text
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {authority}: {e}"))?
        .collect();
    let mut last = format!("{authority} has no address");
    for addr in addrs {
        let mut s = match TcpStream::connect_timeout(&addr, limit) {
            Ok(s) => s,
            Err(e) => {
                last = format!("cannot connect to {addr}: {e}");
                continue;
            }
        };
        let _ = s.set_read_timeout(Some(limit));
        let _ = s.set_write_timeout(Some(limit));
        let req = format!(
            "GET {path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: guard-deploy\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes())
            .map_err(|e| format!("cannot send to {addr}: {e}"))?;
        let mut head = Vec::new();
        let mut buf = [0u8; 512];
        while !head.contains(&b'\n') && head.len() < 4096 {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
                Err(e) => return Err(format!("no answer from {url}: {e}")),
            }
        }
        let line = String::from_utf8_lossy(&head);
        let line = line.lines().next().unwrap_or_default();
        let code = line.split_whitespace().nth(1).unwrap_or_default();
        return if line.starts_with("HTTP/") && code.starts_with('2') && code.len() == 3 {
            Ok(())
        } else if line.is_empty() {
            Err(format!("{url} closed without an answer"))
        } else {
            Err(format!("{url} answered `{line}`"))
        };
    }
    Err(last)
}

fn parse_signal(s: &str) -> Result<Signal> {
    s.parse::<Signal>()
        .or_else(|_| format!("SIG{s}").parse::<Signal>())
        .map_err(|_| anyhow!("deploy.reload_signal {s:?} is not a signal (try HUP, USR1, USR2)"))
}

/// What the policy asks of a deploy, checked before the lock is taken so a bad setting
/// changes nothing.
pub fn validate(policy: &Policy) -> Result<()> {
    let d = &policy.deploy;
    parse_signal(&d.reload_signal)?;
    if d.reload_command.is_none() && d.pidfile.is_none() {
        // Nothing to reload is allowed: a static site served from `current`.
    }
    if let Some(url) = &d.health_url {
        if !url.starts_with("http://") {
            bail!(
                "deploy.health_url {url:?}: only http:// URLs are supported (use \
                 deploy.health_command with curl for https)"
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The pipeline

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The release is current, reloaded and healthy.
    Done { release: String },
    /// Refused before anything changed (policy, approvals, tests).
    Refused { reason: String },
    /// Switched, failed reload or health, switched back to the backup.
    RolledBack { reason: String },
    /// Could not finish; `current` is where the error says.
    Failed { reason: String },
}

impl Outcome {
    /// 0 deployed, 1 refused or rolled back, 2 could not run.
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Done { .. } => 0,
            Outcome::Refused { .. } | Outcome::RolledBack { .. } => 1,
            Outcome::Failed { .. } => 2,
        }
    }
}

/// Everything one run needs.
pub struct Deployer<'a> {
    pub repo: &'a gix::Repository,
    pub policy: &'a Policy,
    pub actor: &'a Actor,
    pub layout: Layout,
    pub gate: &'a dyn Gate,
    /// Called at every step after it is recorded (a test hook; a no-op otherwise).
    pub pause: &'a dyn Fn(&str),
}

struct Run<'a, 'o> {
    d: &'a Deployer<'a>,
    out: &'o mut dyn Write,
    status: Status,
}

impl Run<'_, '_> {
    fn record(&mut self, outcome: &str, detail: serde_json::Value) -> Result<()> {
        self.status.when = now_utc().0;
        let json = serde_json::to_vec_pretty(&self.status)?;
        write_atomic(&self.d.layout.status(), &json)?;
        let ev = audit::Event {
            door: "deploy".into(),
            action: format!(
                "{} {} step {}",
                self.status.action,
                self.status.commit.as_deref().map(short).unwrap_or("-"),
                self.status.step
            ),
            actor: self.d.actor.name.clone(),
            role: Some(self.d.actor.role),
            outcome: outcome.into(),
            rules: Vec::new(),
            detail,
        };
        audit::append(&self.d.layout.audit(self.d.policy), &ev)
    }

    fn step(&mut self, step: &str, detail: serde_json::Value) -> Result<()> {
        self.status.step = step.into();
        self.status.state = "running".into();
        self.record("started", detail)?;
        (self.d.pause)(step);
        Ok(())
    }

    fn say(&mut self, line: impl AsRef<str>) -> Result<()> {
        writeln!(self.out, "guard-deploy: {}", line.as_ref())?;
        Ok(())
    }

    fn finish(&mut self, state: &str, error: Option<String>) -> Result<()> {
        self.status.state = state.into();
        self.status.error = error.clone();
        self.record(state, serde_json::json!({ "error": error }))
    }
}

impl<'a> Deployer<'a> {
    fn new_status(&self, action: &str, token: &str, previous: Option<String>) -> Status {
        Status {
            action: action.into(),
            state: "running".into(),
            step: "lock".into(),
            release: None,
            commit: None,
            previous,
            when: now_utc().0,
            who: self.actor.name.clone(),
            pid: std::process::id(),
            token: token.into(),
            error: None,
        }
    }

    fn take_lock(&self, action: &str, out: &mut dyn Write) -> Result<Lock> {
        let wait = Duration::from_secs(self.policy.deploy.lock_wait_secs);
        let mut said = Vec::new();
        let got = acquire_lock(&self.layout.lock(), action, wait, &mut |holder| {
            said.push(format!(
                "another deploy holds the lock ({}); waiting up to {}s",
                holder.describe(),
                wait.as_secs()
            ));
            for l in &said {
                let _ = writeln!(out, "guard-deploy: {l}");
            }
            let _ = out.flush();
            (self.pause)("lock-wait");
        });
        let (lock, waited) = got.map_err(anyhow::Error::from)?;
        if let Some((holder, took)) = waited {
            writeln!(
                out,
                "guard-deploy: waited {:.1}s for the lock held by pid {} (token {}), then took it",
                took.as_secs_f64(),
                holder.pid,
                holder.token
            )?;
        }
        self.cleanup_leftovers()?;
        Ok(lock)
    }

    /// Remove what a killed run left behind. Only the lock holder calls this, so nothing of
    /// it is in use.
    fn cleanup_leftovers(&self) -> Result<()> {
        if let Ok(rd) = std::fs::read_dir(&self.layout.root) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with("current.tmp-") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        if let Ok(rd) = std::fs::read_dir(self.layout.releases()) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with(".tmp-") || n.starts_with(".test-") {
                    let p = e.path();
                    let _ = if p.is_dir() {
                        std::fs::remove_dir_all(&p)
                    } else {
                        std::fs::remove_file(&p)
                    };
                }
            }
        }
        Ok(())
    }

    /// Deploy `rev`. `Err` only when the run could not be recorded at all; every other
    /// failure is an [`Outcome`] with its reason, recorded in status and audit.
    pub fn deploy(&self, rev: &str, out: &mut dyn Write) -> Result<Outcome> {
        validate(self.policy)?;
        // Settle what REV is before taking the lock: a typo changes nothing.
        let commit = self
            .repo
            .rev_parse_single(rev)
            .with_context(|| {
                format!(
                    "cannot resolve {rev:?} in {}",
                    self.repo.git_dir().display()
                )
            })?
            .object()?
            .peel_to_commit()
            .with_context(|| format!("{rev} is not a commit"))?;
        let commit_id = commit.id;
        let tree_id = commit.tree_id()?.detach();
        let lock = self.take_lock(&format!("deploy {}", short(&commit_id.to_string())), out)?;
        let current = read_current(&self.layout)?;
        // A corrupt status.json stops the run before it is overwritten: it may be the only
        // record of an interrupted run.
        read_status(&self.layout)?;
        let mut run = Run {
            d: self,
            out,
            status: self.new_status("deploy", &lock.owner.token, current.clone()),
        };
        run.status.commit = Some(commit_id.to_string());
        run.step("lock", serde_json::json!({ "owner": &lock.owner }))?;
        let result = self.deploy_locked(&mut run, commit_id, tree_id, current, &lock);
        match result {
            Ok(o) => Ok(o),
            Err(e) => {
                let reason = format!("{e:#}");
                run.finish("failed", Some(reason.clone()))?;
                run.say(format!("FAILED at step {}: {reason}", run.status.step))?;
                Ok(Outcome::Failed { reason })
            }
        }
    }

    fn deploy_locked(
        &self,
        run: &mut Run<'_, '_>,
        commit: ObjectId,
        tree: ObjectId,
        current: Option<String>,
        lock: &Lock,
    ) -> Result<Outcome> {
        let c = commit.to_string();
        let deployed = match &current {
            Some(id) => Some(
                ObjectId::from_hex(read_meta(&self.layout, id)?.commit.as_bytes())
                    .with_context(|| format!("release record of {id} names a bad commit id"))?,
            ),
            None => None,
        };

        // 2. The policy, over every commit since the deployed one.
        run.step(
            "check",
            serde_json::json!({ "deployed": deployed.map(|d| d.to_string()) }),
        )?;
        if let Some(reason) = self.check_branch(commit)? {
            return refuse(run, reason);
        }
        let verdict = policy_check(self.repo, self.policy, self.actor, deployed, commit)?;
        verdict::render_text(&verdict, run.out)?;
        let rules = verdict.rule_ids();
        if verdict.blocked() {
            let n = verdict.violations().count();
            return refuse(
                run,
                format!(
                    "the policy rejects {} ({n} violation{}: {})",
                    short(&c),
                    if n == 1 { "" } else { "s" },
                    rules.join(", ")
                ),
            );
        }

        // The approvals gate: every flag approved for exactly this commit.
        run.step("approvals", serde_json::json!({ "rules": rules }))?;
        let flags: Vec<Finding> = verdict.flags().cloned().collect();
        let unapproved = self.gate.unapproved(self.repo, commit, &flags)?;
        if !unapproved.is_empty() {
            for f in &unapproved {
                run.say(format!(
                    "not approved: {} (approve with `git guard approve {} --flag {} -m WHY`)",
                    verdict::finding_line(f),
                    short(&c),
                    f.flag_id()
                ))?;
            }
            return refuse(
                run,
                format!(
                    "{} flag{} of {} not approved for this commit",
                    unapproved.len(),
                    if unapproved.len() == 1 { "" } else { "s" },
                    short(&c)
                ),
            );
        }

        // 3. The tests.
        run.step("tests", serde_json::json!({}))?;
        if let Some(reason) = self.run_tests(run, commit, tree, &lock.owner.token)? {
            return refuse(run, reason);
        }

        // 4. Materialise the new release; the current one stays as the backup.
        let id = self.new_release_id(&c);
        run.status.release = Some(id.clone());
        run.step("materialise", serde_json::json!({ "release": &id }))?;
        let mut meta = ReleaseMeta {
            id: id.clone(),
            commit: c.clone(),
            tree: tree.to_string(),
            previous: current.clone(),
            created: now_utc().0,
            who: self.actor.name.clone(),
            state: "new".into(),
            reason: None,
            skipped_gitlinks: Vec::new(),
        };
        std::fs::create_dir_all(self.layout.releases())
            .with_context(|| format!("cannot create {}", self.layout.releases().display()))?;
        write_meta(&self.layout, &meta)?;
        let pause = self.pause;
        let m = release::materialise(self.repo, commit, &self.layout.release(&id), &mut || {
            pause("materialise-rename")
        })?;
        for g in &m.skipped_gitlinks {
            run.say(format!(
                "skipped gitlink (submodule) {g}: its content is not in this repository"
            ))?;
        }
        meta.skipped_gitlinks = m.skipped_gitlinks.clone();
        write_meta(&self.layout, &meta)?;
        run.say(format!(
            "materialised releases/{id}: {} files, {} symlinks, {} bytes",
            m.files, m.symlinks, m.bytes
        ))?;

        // Switch `current`.
        run.step(
            "switch",
            serde_json::json!({ "release": &id, "backup": &current }),
        )?;
        switch_current(&self.layout, &id, &lock.owner.token, self.pause)?;
        run.say(format!(
            "current -> releases/{id} (backup: {})",
            current.as_deref().unwrap_or("none")
        ))?;

        // 5 and 6. Reload, health.
        if let Some(reason) = self.reload_and_check(run, &id, &c)? {
            return self.roll_back_after_failure(
                run,
                &mut meta,
                current,
                reason,
                &lock.owner.token,
            );
        }
        meta.state = "deployed".into();
        write_meta(&self.layout, &meta)?;

        // 7. Prune, push.
        run.step(
            "prune",
            serde_json::json!({ "keep": self.policy.deploy.keep }),
        )?;
        let pruned = prune(
            &self.layout,
            self.policy.deploy.keep,
            &id,
            current.as_deref(),
        )?;
        if !pruned.is_empty() {
            run.say(format!("pruned {}", pruned.join(", ")))?;
        }
        let mut warning = None;
        if let Some(remote) = &self.policy.deploy.push_remote {
            run.step("push", serde_json::json!({ "remote": remote }))?;
            let dst = format!("{c}:refs/heads/{}", self.policy.deploy.branch);
            let o = Command::new("git")
                .arg("--git-dir")
                .arg(self.repo.git_dir())
                .args(["push", "--quiet", remote, &dst])
                .output()
                .context("cannot run git push")?;
            if o.status.success() {
                run.say(format!(
                    "pushed {} to {remote} {}",
                    short(&c),
                    self.policy.deploy.branch
                ))?;
            } else {
                let w = format!(
                    "deployed, but pushing to {remote} failed: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                run.say(format!("warning: {w}"))?;
                warning = Some(w);
            }
        }
        run.status.step = "done".into();
        run.finish("done", warning)?;
        (self.pause)("done");
        run.say(format!("deployed {} as releases/{id}", short(&c)))?;
        Ok(Outcome::Done { release: id })
    }

    /// REV must be on the deploy branch: deploy only what reached it.
    fn check_branch(&self, commit: ObjectId) -> Result<Option<String>> {
        let branch = &self.policy.deploy.branch;
        let name = format!("refs/heads/{branch}");
        let Some(mut r) = self
            .repo
            .try_find_reference(name.as_str())
            .with_context(|| format!("cannot read {name}"))?
        else {
            bail!(
                "the deploy branch {branch} (deploy.branch) does not exist in {}",
                self.repo.git_dir().display()
            );
        };
        let tip = r.peel_to_id()?.detach();
        if tip == commit {
            return Ok(None);
        }
        let base = self
            .repo
            .merge_base(commit, tip)
            .ok()
            .flatten()
            .map(|b| b.detach());
        if base == Some(commit) {
            Ok(None)
        } else {
            Ok(Some(format!(
                "{} is not on the deploy branch {branch}: merge it there first",
                short(&commit.to_string())
            )))
        }
    }

    fn run_tests(
        &self,
        run: &mut Run<'_, '_>,
        commit: ObjectId,
        tree: ObjectId,
        token: &str,
    ) -> Result<Option<String>> {
        let cmd = self.policy.deploy.test_command.clone().or_else(|| {
            self.policy
                .tests
                .command
                .clone()
                .filter(|s| !s.trim().is_empty())
        });
        if self.policy.deploy.use_recorded_tests {
            // A recorded run counts only when it ran the command this deploy would run.
            if let Some((ran, rec)) = self.gate.recorded_pass(self.repo, tree)? {
                if cmd.as_deref().is_none_or(|c| c == ran) {
                    run.say(format!("tests: using the recorded passing run: {rec}"))?;
                    return Ok(None);
                }
                run.say(format!(
                    "tests: the recorded passing run of this tree ran `{ran}`, not the \
                     configured command: running the tests"
                ))?;
            }
        }
        let Some(cmd) = cmd else {
            run.say("tests: no test command configured (deploy.test_command, tests.command)")?;
            return Ok(None);
        };
        let dir = self.layout.releases().join(format!(".test-{token}"));
        release::materialise(self.repo, commit, &dir, &mut || {})?;
        let limit = Duration::from_secs(self.policy.tests.timeout_secs.max(1));
        run.say(format!(
            "tests: running `{cmd}` in a clean checkout of {}",
            short(&commit.to_string())
        ))?;
        let ran = run_shell(&cmd, &dir, &[("GUARD_COMMIT", commit.to_string())], limit);
        let _ = std::fs::remove_dir_all(&dir);
        let ran = ran?;
        if ran.ok {
            run.say("tests: passed")?;
            Ok(None)
        } else {
            if !ran.tail.is_empty() {
                writeln!(run.out, "{}", ran.tail)?;
            }
            Ok(Some(format!("the tests failed (`{cmd}`: {})", ran.how)))
        }
    }

    fn new_release_id(&self, commit: &str) -> String {
        let base = format!("{}-{}", now_utc().1, short(commit));
        let mut id = base.clone();
        let mut n = 2;
        while self.layout.release(&id).exists() || self.layout.meta(&id).exists() {
            id = format!("{base}-{n}");
            n += 1;
        }
        id
    }

    /// Reload, then health-check; `Some(reason)` when either failed.
    fn reload_and_check(
        &self,
        run: &mut Run<'_, '_>,
        id: &str,
        commit: &str,
    ) -> Result<Option<String>> {
        run.step("reload", serde_json::json!({ "release": id }))?;
        match self.reload(id, commit) {
            Ok(what) => run.say(format!("reload: {what}"))?,
            Err(e) => return Ok(Some(format!("reload failed: {e:#}"))),
        }
        run.step("health", serde_json::json!({ "release": id }))?;
        match self.health(id, commit) {
            Ok(what) => {
                run.say(format!("health: {what}"))?;
                Ok(None)
            }
            Err(e) => Ok(Some(format!("health check failed: {e}"))),
        }
    }

    fn env_for(&self, id: &str, commit: &str) -> Vec<(&'static str, String)> {
        vec![
            ("GUARD_DEPLOY_ROOT", self.layout.root.display().to_string()),
            ("GUARD_RELEASE", id.to_string()),
            (
                "GUARD_RELEASE_DIR",
                self.layout.release(id).display().to_string(),
            ),
            ("GUARD_COMMIT", commit.to_string()),
        ]
    }

    fn reload(&self, id: &str, commit: &str) -> Result<String> {
        let d = &self.policy.deploy;
        if let Some(cmd) = &d.reload_command {
            let limit = Duration::from_secs(d.health_timeout_secs.max(1));
            let ran = run_shell(cmd, &self.layout.root, &self.env_for(id, commit), limit)?;
            if ran.ok {
                return Ok(format!("ran `{cmd}`"));
            }
            bail!("`{cmd}` {}{}", ran.how, with_tail(&ran.tail));
        }
        if let Some(pidfile) = &d.pidfile {
            let sig = parse_signal(&d.reload_signal)?;
            let text = std::fs::read_to_string(pidfile).with_context(|| {
                format!(
                    "cannot read the pidfile {} (deploy.pidfile): is the service running?",
                    pidfile.display()
                )
            })?;
            let pid: i32 = text.trim().parse().map_err(|_| {
                anyhow!(
                    "the pidfile {} holds {:?}, not a process id",
                    pidfile.display(),
                    text.trim()
                )
            })?;
            if pid <= 1 {
                bail!(
                    "the pidfile {} names pid {pid}: refusing to signal it",
                    pidfile.display()
                );
            }
            nix::sys::signal::kill(Pid::from_raw(pid), sig).map_err(|e| {
                anyhow!(
                    "cannot send {sig} to pid {pid} from {}: {e} (is the service running?)",
                    pidfile.display()
                )
            })?;
            return Ok(format!("sent {sig} to pid {pid} ({})", pidfile.display()));
        }
        Ok("nothing to reload (no deploy.reload_command or deploy.pidfile)".into())
    }

    fn health(&self, id: &str, commit: &str) -> std::result::Result<String, String> {
        let d = &self.policy.deploy;
        if d.health_command.is_none() && d.health_url.is_none() {
            return Ok(
                "no health check configured (deploy.health_command, deploy.health_url)".into(),
            );
        }
        let limit = Duration::from_secs(d.health_timeout_secs.max(1));
        let deadline = Instant::now() + limit;
        let tries = d.health_retries.max(1);
        let mut last = String::new();
        for attempt in 1..=tries {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "no healthy answer within {}s (deploy.health_timeout_secs) after {} attempt{}: {last}",
                    limit.as_secs(),
                    attempt - 1,
                    if attempt == 2 { "" } else { "s" }
                ));
            }
            let r = if let Some(cmd) = &d.health_command {
                match run_shell(cmd, &self.layout.root, &self.env_for(id, commit), left) {
                    Ok(r) if r.ok => Ok(format!("`{cmd}` passed")),
                    Ok(r) => Err(format!("`{cmd}` {}{}", r.how, with_tail(&r.tail))),
                    Err(e) => Err(format!("{e:#}")),
                }
            } else {
                let url = d.health_url.as_deref().unwrap_or_default();
                http_get(url, left).map(|()| format!("{url} answered 2xx"))
            };
            match r {
                Ok(what) => return Ok(format!("{what} (attempt {attempt} of {tries})")),
                Err(e) => last = e,
            }
            if attempt < tries {
                let left = deadline.saturating_duration_since(Instant::now());
                std::thread::sleep(Duration::from_millis(d.health_interval_ms).min(left));
            }
        }
        Err(format!(
            "unhealthy after {tries} attempt{}: {last}",
            if tries == 1 { "" } else { "s" }
        ))
    }

    fn roll_back_after_failure(
        &self,
        run: &mut Run<'_, '_>,
        meta: &mut ReleaseMeta,
        backup: Option<String>,
        reason: String,
        token: &str,
    ) -> Result<Outcome> {
        run.say(format!("{reason}; rolling back"))?;
        meta.state = "failed".into();
        meta.reason = Some(reason.clone());
        write_meta(&self.layout, meta)?;
        run.status.error = Some(reason.clone());
        run.step(
            "rollback",
            serde_json::json!({ "from": &meta.id, "to": &backup, "why": &reason }),
        )?;
        let Some(backup) = backup else {
            // A first deploy has nothing to go back to: the service had no release before.
            std::fs::remove_file(self.layout.current())
                .with_context(|| format!("cannot remove {}", self.layout.current().display()))?;
            release::sync_dir(&self.layout.root)?;
            let r = format!("{reason}; no previous release, so `current` was removed");
            run.finish("rolled-back", Some(r.clone()))?;
            run.say(format!("ROLLED BACK: {r}"))?;
            return Ok(Outcome::RolledBack { reason: r });
        };
        switch_current(&self.layout, &backup, token, self.pause)?;
        run.say(format!("current -> releases/{backup} (the backup)"))?;
        let bmeta = read_meta(&self.layout, &backup)?;
        let again = match self.reload(&backup, &bmeta.commit) {
            Err(e) => Some(format!("reloading the backup failed too: {e:#}")),
            Ok(_) => self
                .health(&backup, &bmeta.commit)
                .err()
                .map(|e| format!("the backup is unhealthy too: {e}")),
        };
        match again {
            None => {
                let r = format!("{reason}; back on releases/{backup}");
                run.finish("rolled-back", Some(r.clone()))?;
                run.say(format!("ROLLED BACK: {r}"))?;
                Ok(Outcome::RolledBack { reason: r })
            }
            Some(more) => {
                let r = format!("{reason}; switched back to releases/{backup}, but {more}");
                run.finish("failed", Some(r.clone()))?;
                run.say(format!("FAILED: {r}"))?;
                Ok(Outcome::Failed { reason: r })
            }
        }
    }

    /// Switch back to `target` (default: the backup of the current release), reload,
    /// health-check; on failure, return to where it was.
    pub fn rollback(&self, target: Option<&str>, out: &mut dyn Write) -> Result<Outcome> {
        validate(self.policy)?;
        let lock = self.take_lock("rollback", out)?;
        let current = read_current(&self.layout)?;
        read_status(&self.layout)?;
        let to = match target {
            Some(t) => t
                .trim_start_matches("releases/")
                .trim_end_matches('/')
                .to_string(),
            None => backup_of(&self.layout, current.as_deref()).ok_or_else(|| {
                anyhow!(
                    "no backup to roll back to (current: {}); name a release from \
                     `guard-deploy list`",
                    current.as_deref().unwrap_or("none")
                )
            })?,
        };
        if to.is_empty()
            || to.contains('/')
            || to.starts_with('.')
            || !self.layout.release(&to).is_dir()
        {
            bail!(
                "there is no release {to:?} under {}: see `guard-deploy list`",
                self.layout.releases().display()
            );
        }
        let meta = read_meta(&self.layout, &to)?;
        let mut run = Run {
            d: self,
            out,
            status: self.new_status("rollback", &lock.owner.token, current.clone()),
        };
        run.status.release = Some(to.clone());
        run.status.commit = Some(meta.commit.clone());
        run.step("lock", serde_json::json!({ "owner": &lock.owner }))?;
        let r = (|| -> Result<Outcome> {
            run.step(
                "switch",
                serde_json::json!({ "release": &to, "from": &current }),
            )?;
            switch_current(&self.layout, &to, &lock.owner.token, self.pause)?;
            run.say(format!("current -> releases/{to}"))?;
            let Some(reason) = self.reload_and_check(&mut run, &to, &meta.commit)? else {
                run.status.step = "done".into();
                run.finish("done", None)?;
                run.say(format!(
                    "rolled back to releases/{to} ({})",
                    short(&meta.commit)
                ))?;
                return Ok(Outcome::Done {
                    release: to.clone(),
                });
            };
            run.status.error = Some(reason.clone());
            run.step(
                "rollback",
                serde_json::json!({ "from": &to, "to": &current, "why": &reason }),
            )?;
            match &current {
                Some(cur) => {
                    switch_current(&self.layout, cur, &lock.owner.token, self.pause)?;
                    let cm = read_meta(&self.layout, cur)?;
                    let again = self.reload(cur, &cm.commit).err();
                    let r = match again {
                        None => format!("{reason}; back on releases/{cur}"),
                        Some(e) => format!(
                            "{reason}; back on releases/{cur}, but reloading it failed: {e:#}"
                        ),
                    };
                    run.finish("rolled-back", Some(r.clone()))?;
                    run.say(format!("ROLLED BACK: {r}"))?;
                    Ok(Outcome::RolledBack { reason: r })
                }
                None => {
                    run.finish("failed", Some(reason.clone()))?;
                    Ok(Outcome::Failed { reason })
                }
            }
        })();
        match r {
            Ok(o) => Ok(o),
            Err(e) => {
                let reason = format!("{e:#}");
                run.finish("failed", Some(reason.clone()))?;
                run.say(format!("FAILED at step {}: {reason}", run.status.step))?;
                Ok(Outcome::Failed { reason })
            }
        }
    }
}

fn refuse(run: &mut Run<'_, '_>, reason: String) -> Result<Outcome> {
    run.finish("refused", Some(reason.clone()))?;
    run.say(format!("REFUSED: {reason}"))?;
    Ok(Outcome::Refused { reason })
}

/// The policy over the commits reachable from `rev` and not from the deployed commit. A
/// first deploy (nothing deployed) judges `rev`'s own commit against its first parent.
pub fn policy_check(
    repo: &gix::Repository,
    policy: &Policy,
    actor: &Actor,
    deployed: Option<ObjectId>,
    rev: ObjectId,
) -> Result<Verdict> {
    let opts = ModelOptions {
        content: true,
        max_blob_scan_bytes: policy.hooks.max_blob_scan_bytes,
    };
    let spec = match deployed {
        Some(d) => format!("{d}..{rev}"),
        None => rev.to_string(),
    };
    let unit = model::range(repo, &spec, opts)
        .with_context(|| format!("cannot build the changes of {spec}"))?;
    Ok(crate::engine::judge_units(policy, actor, vec![unit]))
}

/// Remove releases beyond the newest `keep`, never `current` nor `backup`.
pub fn prune(
    layout: &Layout,
    keep: usize,
    current: &str,
    backup: Option<&str>,
) -> Result<Vec<String>> {
    let ids = release_ids(layout)?;
    let cut = ids.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for id in &ids[..cut] {
        if id == current || Some(id.as_str()) == backup {
            continue;
        }
        std::fs::remove_dir_all(layout.release(id))
            .with_context(|| format!("cannot remove {}", layout.release(id).display()))?;
        let _ = std::fs::remove_file(layout.meta(id));
        removed.push(id.clone());
    }
    // Records whose release is gone (a run killed before materialising).
    if let Ok(rd) = std::fs::read_dir(layout.releases()) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if let Some(id) = n.strip_suffix(".json") {
                if !n.starts_with('.') && id != current && !layout.release(id).is_dir() {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
    Ok(removed)
}

// ---------------------------------------------------------------------------------------------
// status, list

/// Tell what is deployed and what the last run did, checking `status.json` against the
/// `current` link and the lock. Returns 0 when they agree and nothing needs attention, 2
/// otherwise (each problem is told with what to do).
pub fn status(layout: &Layout, out: &mut dyn Write) -> Result<u8> {
    let mut attention = Vec::new();
    let current = match read_current(layout) {
        Ok(c) => c,
        Err(e) => {
            attention.push(format!("{e:#}"));
            None
        }
    };
    match &current {
        Some(id) => {
            let m = read_meta(layout, id);
            match m {
                Ok(m) => writeln!(
                    out,
                    "current: releases/{id} (commit {}, made {} by {}, {})",
                    short(&m.commit),
                    m.created,
                    m.who,
                    m.state
                )?,
                Err(e) => {
                    writeln!(out, "current: releases/{id}")?;
                    attention.push(format!("{e:#}"));
                }
            }
        }
        None => writeln!(out, "current: none")?,
    }
    match backup_of(layout, current.as_deref()) {
        Some(b) => writeln!(out, "backup:  releases/{b}")?,
        None => writeln!(out, "backup:  none")?,
    }
    let lock = inspect_lock(&layout.lock())?;
    writeln!(out, "lock:    {}", lock.describe(&layout.lock()))?;
    if let LockState::Stale { .. } = lock {
        attention.push("the deploy lock is stale (see above)".into());
    }
    match read_status(layout) {
        Err(e) => attention.push(format!("{e:#}")),
        Ok(None) => {
            writeln!(out, "last run: none recorded")?;
            if current.is_some() {
                attention.push(format!(
                    "{} is missing although a release is current",
                    layout.status().display()
                ));
            }
        }
        Ok(Some(s)) => {
            writeln!(
                out,
                "last run: {} {} by {} at {}: {} at step {}{}",
                s.action,
                s.commit.as_deref().map(short).unwrap_or("-"),
                s.who,
                s.when,
                s.state,
                s.step,
                s.release
                    .as_deref()
                    .map(|r| format!(", release {r}"))
                    .unwrap_or_default()
            )?;
            if let Some(e) = &s.error {
                writeln!(out, "  error: {e}")?;
            }
            let running_now = matches!(&lock, LockState::Held(o) if o.token == s.token);
            if s.state == "running" {
                if running_now {
                    writeln!(out, "  in progress (pid {})", s.pid)?;
                } else {
                    let here = match (&current, &s.release) {
                        (Some(c), Some(r)) if c == r => format!(
                            "current was already switched to releases/{r}, which has not passed \
                             reload and health check: `guard-deploy rollback` returns to {}",
                            s.previous.as_deref().unwrap_or("nothing")
                        ),
                        _ if current == s.previous => format!(
                            "current is still {}: the service was not changed",
                            s.previous
                                .as_deref()
                                .map(|p| format!("releases/{p}"))
                                .unwrap_or_else(|| "unset".into())
                        ),
                        _ => format!(
                            "current is {}, neither the new nor the previous release",
                            current.as_deref().unwrap_or("unset")
                        ),
                    };
                    attention.push(format!(
                        "the last run was interrupted at step {} (pid {} is gone); {here}",
                        s.step, s.pid
                    ));
                }
            } else if current.as_deref() != s.expected_current() {
                attention.push(format!(
                    "status.json says {} ended {} (current should be {}), but current is {}: \
                     it was changed outside guard-deploy",
                    s.action,
                    s.state,
                    s.expected_current().unwrap_or("unset"),
                    current.as_deref().unwrap_or("unset")
                ));
            }
        }
    }
    if attention.is_empty() {
        writeln!(out, "state:   consistent")?;
        Ok(0)
    } else {
        for a in &attention {
            writeln!(out, "attention: {a}")?;
        }
        Ok(2)
    }
}

/// One line per release, oldest first, marking the current one and the backup.
pub fn list(layout: &Layout, out: &mut dyn Write) -> Result<()> {
    let current = read_current(layout).ok().flatten();
    let backup = backup_of(layout, current.as_deref());
    let ids = release_ids(layout)?;
    if ids.is_empty() {
        writeln!(out, "no releases under {}", layout.releases().display())?;
    }
    for id in ids {
        let mark = if Some(&id) == current.as_ref() {
            "current"
        } else if Some(&id) == backup.as_ref() {
            "backup"
        } else {
            ""
        };
        match read_meta(layout, &id) {
            Ok(m) => writeln!(
                out,
                "{id}  {}  {:<8}  {}{}",
                short(&m.commit),
                m.state,
                mark,
                m.reason.map(|r| format!("  ({r})")).unwrap_or_default()
            )?,
            Err(_) => writeln!(out, "{id}  (no release record)  {mark}")?,
        }
    }
    Ok(())
}

/// The policy a deploy runs under when none is named: `policy.toml` at the deployed commit
/// (already judged and deployed, so not the commit being judged), else `None` (the caller
/// falls back to the built-in default).
pub fn policy_at_deployed(repo: &gix::Repository, layout: &Layout) -> Result<Option<Policy>> {
    let Some(id) = read_current(layout)? else {
        return Ok(None);
    };
    let meta = read_meta(layout, &id)?;
    let commit = ObjectId::from_hex(meta.commit.as_bytes())
        .with_context(|| format!("release record of {id} names a bad commit id"))?;
    let tree = repo
        .find_object(commit)
        .with_context(|| {
            format!(
                "the deployed commit {} is not in the repository",
                meta.commit
            )
        })?
        .peel_to_tree()?;
    let Some(entry) = tree.lookup_entry_by_path("policy.toml")? else {
        return Ok(None);
    };
    let blob = entry.object()?;
    let text = std::str::from_utf8(&blob.data)
        .with_context(|| format!("policy.toml at {} is not UTF-8", short(&meta.commit)))?;
    let policy = Policy::parse(
        text,
        crate::engine::policy::PolicySource::Commit(meta.commit.clone()),
    )
    .map_err(|e| anyhow!("{e}"))?;
    Ok(Some(policy))
}

/// Materialise `rev` into `dir` (plumbing, for benchmarks and inspection).
pub fn materialise_rev(
    repo: &gix::Repository,
    rev: &str,
    dir: &Path,
) -> Result<release::Materialised> {
    let id = repo
        .rev_parse_single(rev)
        .with_context(|| format!("cannot resolve {rev:?}"))?
        .detach();
    release::materialise(repo, id, dir, &mut || {})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_are_civil() {
        let (iso, stamp) = now_utc();
        assert_eq!(iso.len(), 20);
        assert!(iso.ends_with('Z') && stamp.ends_with('Z'));
        assert_eq!(&iso[..4], &stamp[..4]);
    }

    #[test]
    fn lock_is_exclusive_and_released_on_drop() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("lock");
        let (lock, waited) = acquire_lock(&path, "deploy a", Duration::ZERO, &mut |_| {}).unwrap();
        assert!(waited.is_none());
        match inspect_lock(&path).unwrap() {
            LockState::Held(o) => assert_eq!(o.token, lock.owner.token),
            other => panic!("{other:?}"),
        }
        let err = acquire_lock(&path, "deploy b", Duration::ZERO, &mut |_| {})
            .err()
            .unwrap();
        assert!(matches!(err, LockError::Busy { .. }), "{err}");
        assert!(err.to_string().contains("refused without waiting"), "{err}");
        drop(lock);
        assert_eq!(inspect_lock(&path).unwrap(), LockState::Free);
    }

    #[test]
    fn a_lock_file_nobody_holds_is_stale_and_cleared_only_with_its_token() {
        let t = tempfile::tempdir().unwrap();
        let layout = Layout::new(t.path());
        let owner = LockOwner {
            pid: 999_999_999,
            host: hostname(),
            started: "2026-01-01T00:00:00Z".into(),
            token: "abc".into(),
            action: "deploy x".into(),
        };
        std::fs::write(layout.lock(), serde_json::to_vec(&owner).unwrap()).unwrap();
        match inspect_lock(&layout.lock()).unwrap() {
            LockState::Stale {
                owner: Some(o),
                pid_alive,
            } => {
                assert_eq!(o.token, "abc");
                assert!(!pid_alive);
            }
            other => panic!("{other:?}"),
        }
        let err = acquire_lock(
            &layout.lock(),
            "deploy",
            Duration::from_secs(5),
            &mut |_| {},
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("unlock --token abc"), "{err}");
        assert!(unlock(&layout, "wrong").is_err());
        assert!(layout.lock().exists());
        assert_eq!(unlock(&layout, "abc").unwrap().token, "abc");
        assert!(!layout.lock().exists());
    }

    #[test]
    fn http_get_tells_2xx_from_others() {
        use std::net::TcpListener;
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let h = std::thread::spawn(move || {
            for answer in ["HTTP/1.1 200 OK\r\n\r\nok", "HTTP/1.1 503 Busy\r\n\r\n"] {
                let (mut s, _) = l.accept().unwrap();
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).unwrap();
                s.write_all(answer.as_bytes()).unwrap();
            }
        });
        let url = format!("http://127.0.0.1:{port}/health");
        assert_eq!(http_get(&url, Duration::from_secs(5)), Ok(()));
        let e = http_get(&url, Duration::from_secs(5)).unwrap_err();
        assert!(e.contains("503"), "{e}");
        h.join().unwrap();
        assert!(http_get("https://example.com/", Duration::from_secs(1)).is_err());
    }
}
