//! Kernel walls around a process the agent runs: what holds when a judge is fooled.
//!
//! Three walls, each set up by the kernel in the child just before it executes the command and
//! inherited by everything it starts:
//!
//! - **no new privileges** (`prctl(PR_SET_NO_NEW_PRIVS)`): set-uid and set-gid bits and file
//!   capabilities are ignored from then on, so `sudo`, `su`, `passwd`, `newgrp` cannot raise
//!   anything. Every Linux since 3.5 has it; it is always set.
//! - **writes** (Landlock filesystem rules, ABI 3 and later): the whole file system may be read
//!   and executed, but files and directories may be created, written, truncated, renamed,
//!   linked or removed only beneath the writable directories (and the character devices
//!   `/dev/null`, `/dev/zero`, `/dev/full`, `/dev/tty`, `/dev/ptmx`, `/dev/pts`).
//! - **network** (Landlock TCP rules, ABI 4 and later, and with no port open a network namespace
//!   of its own, so UDP, ICMP and raw sockets reach nothing either): `connect(2)` and `bind(2)` on TCP are
//!   refused except to the ports listed; with ABI 6, abstract unix sockets and signals that lead
//!   out of the walls are refused too (`Scope`).
//!
//! What the walls do not cover is said in docs/WORKSPACE.md ("What the walls stop").
//!
//! This module builds and applies rules; it judges nothing and decides nothing: whether to run
//! without walls when the kernel lacks them is the caller's (the policy's) choice, with
//! [`Support`] to tell what the kernel offers.

use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, NetPort, PathBeneath, PathFd,
    RestrictionStatus, Ruleset, RulesetAttr, RulesetCreated, RulesetCreatedAttr, RulesetStatus,
    Scope,
};

/// The Landlock ABI the walls need for writes (Truncate came with 3).
pub const ABI_WRITES: i32 = 3;
/// The Landlock ABI the walls need for TCP.
pub const ABI_TCP: i32 = 4;
/// The Landlock ABI of the scopes (abstract unix sockets, signals).
pub const ABI_SCOPES: i32 = 6;

/// Character devices a command may write to whatever the walls.
const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/tty",
    "/dev/ptmx",
    "/dev/pts",
];

/// What the walls are made of for one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walls {
    /// Directories beneath which the command may write (absolute).
    pub writable: Vec<PathBuf>,
    /// TCP ports the command may connect to; `None` leaves TCP unwalled.
    pub tcp_connect: Option<Vec<u16>>,
}

/// What the running kernel offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Support {
    /// The Landlock ABI version; 0 when Landlock is missing or disabled.
    pub abi: i32,
}

impl Support {
    /// Ask the kernel (`landlock_create_ruleset` with the version flag).
    pub fn probe() -> Support {
        // SAFETY: with a null attribute, size 0 and the VERSION flag the call only returns
        // the ABI version (or -1 with errno); it touches no memory.
        let v = unsafe {
            nix::libc::syscall(
                nix::libc::SYS_landlock_create_ruleset,
                std::ptr::null::<u8>(),
                0usize,
                1u32, // LANDLOCK_CREATE_RULESET_VERSION
            )
        };
        Support {
            abi: if v > 0 { v as i32 } else { 0 },
        }
    }

    /// Whether writes can be walled.
    pub fn writes(&self) -> bool {
        self.abi >= ABI_WRITES
    }

    /// Whether TCP can be walled.
    pub fn tcp(&self) -> bool {
        self.abi >= ABI_TCP
    }

    /// Whether abstract unix sockets and signals can be scoped.
    pub fn scopes(&self) -> bool {
        self.abi >= ABI_SCOPES
    }

    /// What is missing for the walls `w`, in words; empty when the kernel has all of it.
    pub fn missing_for(&self, w: &Walls) -> Vec<String> {
        let mut out = Vec::new();
        if !self.writes() {
            out.push(format!(
                "write walls (Landlock ABI {ABI_WRITES}; this kernel has {})",
                self.describe()
            ));
        }
        if w.tcp_connect.is_some() && !self.tcp() {
            out.push(format!(
                "network walls (Landlock ABI {ABI_TCP}; this kernel has {})",
                self.describe()
            ));
        }
        out
    }

    /// `ABI 7`, or `no Landlock`.
    pub fn describe(&self) -> String {
        if self.abi > 0 {
            format!("ABI {}", self.abi)
        } else {
            "no Landlock".into()
        }
    }
}

/// What `git guard doctor` says about the walls on this kernel: whether they hold, what it
/// found, what to do. `refuses` says what guard-exec does without them (the policy's
/// `commands.walls`: `true` for "required").
pub fn doctor_report(support: Support, refuses: bool) -> (bool, String, String) {
    let full = Walls {
        writable: vec![],
        tcp_connect: Some(vec![]),
    };
    let missing = support.missing_for(&full);
    if missing.is_empty() {
        let scopes = if support.scopes() {
            ", abstract unix sockets and signals scoped"
        } else {
            " (no scopes: abstract unix sockets and signals are not walled)"
        };
        return (
            true,
            format!(
                "the kernel offers Landlock {}: guard-exec runs every command with no new privileges, writes walled to code-repo/, sandbox/ and a temporary directory, and TCP walled by commands.network{scopes}",
                support.describe()
            ),
            "nothing to fix; docs/WORKSPACE.md (What the walls stop) says what they do not stop"
                .into(),
        );
    }
    let does = if refuses {
        "guard-exec refuses to run anything (commands.walls = \"required\")"
    } else {
        "guard-exec runs what its judge allows WITHOUT the walls (commands.walls = \"judged-only\"): a script the agent writes can write anywhere its user may"
    };
    (
        false,
        format!(
            "THE KERNEL CANNOT RAISE GUARD-EXEC'S WALLS: missing {}; {does}",
            missing.join(", ")
        ),
        "run on a kernel with Landlock ABI 4 or later, enabled at boot (`lsm=...,landlock`)".into(),
    )
}

/// Why walls could not be built or raised.
#[derive(Debug, thiserror::Error)]
pub enum WallError {
    #[error("cannot open {path} for a Landlock rule: {source}")]
    Path {
        path: PathBuf,
        source: landlock::PathFdError,
    },
    #[error("cannot build the Landlock rules: {0}")]
    Ruleset(#[from] landlock::RulesetError),
}

/// Walls built in the parent, ready to be raised in the child between `fork` and `exec`.
#[derive(Debug)]
pub struct Armed {
    ruleset: Option<RulesetCreated>,
    /// No TCP port is open: the command also gets a network namespace of its own, with no
    /// interface but a loopback that is down, so UDP, ICMP and raw sockets reach nothing
    /// either (Landlock walls TCP only).
    isolate_net: bool,
}

impl Armed {
    /// Only no new privileges: what remains when the policy runs commands judged only.
    pub fn privileges_only() -> Armed {
        Armed {
            ruleset: None,
            isolate_net: false,
        }
    }

    /// Build the rules for `w`. Every wall the kernel must provide for `w` is a hard
    /// requirement: a kernel without it is an error here, never a silent downgrade. The
    /// scopes are added where the kernel has them.
    pub fn build(w: &Walls) -> Result<Armed, WallError> {
        let all = AccessFs::from_all(ABI::V6);
        let mut rs = Ruleset::default()
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(AccessFs::from_all(ABI::V3))?;
        if w.tcp_connect.is_some() {
            rs = rs.handle_access(AccessNet::from_all(ABI::V4))?;
        }
        let rs = rs
            .set_compatibility(CompatLevel::BestEffort)
            .handle_access(all)?
            .scope(Scope::from_all(ABI::V6))?;
        let mut created = rs.create()?.no_new_privs(true);
        let open = |p: &Path| {
            PathFd::new(p).map_err(|source| WallError::Path {
                path: p.to_path_buf(),
                source,
            })
        };
        created = created.add_rule(PathBeneath::new(
            open(Path::new("/"))?,
            AccessFs::from_read(ABI::V6),
        ))?;
        for d in &w.writable {
            created = created.add_rule(PathBeneath::new(open(d)?, all))?;
        }
        for dev in DEVICES {
            let p = Path::new(dev);
            if !p.exists() {
                continue;
            }
            let access = if p.is_dir() {
                all
            } else {
                AccessFs::from_file(ABI::V6)
            };
            created = created.add_rule(PathBeneath::new(open(p)?, access))?;
        }
        for port in w.tcp_connect.iter().flatten() {
            created = created.add_rule(NetPort::new(*port, AccessNet::ConnectTcp))?;
        }
        Ok(Armed {
            ruleset: Some(created),
            isolate_net: w.tcp_connect.as_ref().is_some_and(|ports| ports.is_empty()),
        })
    }

    /// Raise the walls on the calling process. Meant for the child between `fork` and `exec`
    /// (`CommandExt::pre_exec`): it makes system calls only and allocates nothing on success.
    /// Can be called once; later calls only set no new privileges again.
    pub fn raise(&mut self) -> std::io::Result<()> {
        // SAFETY: prctl with PR_SET_NO_NEW_PRIVS takes integer arguments only.
        let r = unsafe { nix::libc::prctl(nix::libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if std::mem::take(&mut self.isolate_net) {
            isolate_network()?;
        }
        if let Some(rs) = self.ruleset.take() {
            match rs.restrict_self() {
                Ok(RestrictionStatus {
                    ruleset: RulesetStatus::FullyEnforced | RulesetStatus::PartiallyEnforced,
                    ..
                }) => {}
                Ok(_) => {
                    return Err(std::io::Error::other(
                        "the kernel did not enforce the Landlock walls",
                    ));
                }
                Err(e) => return Err(std::io::Error::other(e)),
            }
        }
        Ok(())
    }
}

/// Move the calling process into a network namespace of its own. As root that is all it
/// takes; any other user first enters a user namespace of its own in which its user and group
/// map to themselves (so file ownership reads as before, and nothing is gained: no new
/// privileges is already set). Called between `fork` and `exec`: system calls on fixed
/// buffers only, nothing allocated.
fn isolate_network() -> std::io::Result<()> {
    use nix::libc;
    // (The error crosses back to the parent as an errno only: std reports a failed `pre_exec`
    // by its raw OS error, so the caller names the step.)
    let err = std::io::Error::last_os_error;
    // SAFETY: geteuid, getegid, prctl and unshare take and return integers.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if uid == 0 {
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(err());
        }
        return Ok(());
    }
    // A process that root turned into this user is not dumpable, which leaves its own
    // /proc/self files to root: make it dumpable again so it can write its maps.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) } != 0 {
        return Err(err());
    }
    if unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) } != 0 {
        return Err(err());
    }
    write_proc(c"/proc/self/setgroups", b"deny")?;
    let mut line = [0u8; 32];
    let n = id_map_line(uid, &mut line);
    write_proc(c"/proc/self/uid_map", &line[..n])?;
    let n = id_map_line(gid, &mut line);
    write_proc(c"/proc/self/gid_map", &line[..n])?;
    Ok(())
}

/// `ID ID 1`: the id maps to itself, and nothing else is mapped.
fn id_map_line(id: u32, out: &mut [u8; 32]) -> usize {
    let mut digits = [0u8; 10];
    let mut n = 0;
    let mut v = id;
    loop {
        digits[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let mut len = 0;
    for _ in 0..2 {
        for i in (0..n).rev() {
            out[len] = digits[i];
            len += 1;
        }
        out[len] = b' ';
        len += 1;
    }
    out[len] = b'1';
    len + 1
}

fn write_proc(path: &std::ffi::CStr, bytes: &[u8]) -> std::io::Result<()> {
    use nix::libc;
    // SAFETY: a NUL-terminated path, a buffer of the length given, and the descriptor closed.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let w = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
        let e = std::io::Error::last_os_error();
        libc::close(fd);
        if w != bytes.len() as isize {
            return Err(e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_maps_to_itself() {
        let mut b = [0u8; 32];
        let n = id_map_line(1000, &mut b);
        assert_eq!(&b[..n], b"1000 1000 1");
        let n = id_map_line(0, &mut b);
        assert_eq!(&b[..n], b"0 0 1");
        let n = id_map_line(u32::MAX, &mut b);
        assert_eq!(&b[..n], b"4294967295 4294967295 1");
    }

    #[test]
    fn missing_walls_are_named_with_the_kernel_abi() {
        let w = Walls {
            writable: vec![],
            tcp_connect: Some(vec![]),
        };
        let none = Support { abi: 0 };
        let m = none.missing_for(&w);
        assert_eq!(m.len(), 2);
        assert!(m[0].contains("no Landlock"), "{m:?}");
        let old = Support { abi: 3 };
        assert_eq!(old.missing_for(&w).len(), 1);
        assert!(Support { abi: 7 }.missing_for(&w).is_empty());
        let open_net = Walls {
            writable: vec![],
            tcp_connect: None,
        };
        assert!(old.missing_for(&open_net).is_empty());
    }

    #[test]
    fn doctor_is_loud_without_landlock() {
        let (holds, what, _) = doctor_report(Support { abi: 0 }, true);
        assert!(!holds);
        assert!(
            what.contains("CANNOT") && what.contains("refuses"),
            "{what}"
        );
        let (_, what, _) = doctor_report(Support { abi: 2 }, false);
        assert!(what.contains("WITHOUT the walls"), "{what}");
        let (holds, what, _) = doctor_report(Support { abi: 7 }, true);
        assert!(holds && what.contains("ABI 7"), "{what}");
    }
}
