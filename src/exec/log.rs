//! Where guard-exec's audit lines go, so that every run can append, and the record of one
//! run. A run that cannot be recorded is refused before it starts.
//!
//! The place, first that this process can append to: the policy's `audit.log`, when set (and
//! then nothing else: the admin chose it); `DIR/logs/audit.log`; `DIR/logs/exec-USER.log`, a
//! file an admin makes for an agent user that runs guard-exec itself and may not write the
//! workspace's log (see docs/WORKSPACE.md). Appending is tried for real (open for append), not
//! guessed from modes. A symbolic link in `DIR/logs` is never followed.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::site::audit::{self, Event};

/// The log this process can append to, or every place tried and why each failed.
pub(crate) fn place(
    configured: Option<&Path>,
    root: &Path,
    user: &str,
) -> Result<PathBuf, Vec<String>> {
    let candidates: Vec<PathBuf> = match configured {
        Some(p) => vec![p.to_path_buf()],
        None => vec![
            root.join("logs").join("audit.log"),
            root.join("logs").join(format!("exec-{user}.log")),
        ],
    };
    let mut why = Vec::new();
    for c in candidates {
        // A link in the workspace's logs/ was put there by whoever could write it, which is
        // not who guard-exec runs for: following it would append where they chose.
        if configured.is_none()
            && std::fs::symlink_metadata(&c).is_ok_and(|m| m.file_type().is_symlink())
        {
            why.push(format!("{}: a symbolic link, not followed", c.display()));
            continue;
        }
        match appendable(&c) {
            Ok(()) => return Ok(c),
            Err(e) => why.push(format!("{}: {e}", c.display())),
        }
    }
    Err(why)
}

fn appendable(p: &Path) -> std::io::Result<()> {
    if let Some(dir) = p.parent()
        && !dir.exists()
    {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .map(|_| ())
}

/// Append one line; an error names the log.
pub(crate) fn record(log: &Path, event: &Event) -> Result<()> {
    audit::append(log, event)
}
