//! The deploy lock: a file created atomically with its owner written in it and a kernel
//! `flock` on it, so a crashed holder's lock is told from a live one and is never broken
//! silently (`guard-deploy unlock --token` clears a stale one).
//!
//! Knows nothing of the pipeline; it may not touch releases or `current`.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::Layout;
use super::util::{hostname, now_utc, pid_alive, random_token};
use crate::contain::release;

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
    pub(super) fn describe(&self) -> String {
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
    #[error(
        "another deploy holds the lock: {holder}; {how}; no deploy while it runs: the lock lifts \
         when that run ends (`guard-deploy status` shows its step)"
    )]
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
