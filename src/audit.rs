//! The audit log: one JSON line per decision of every door, each line carrying the hash of the
//! one before, so that an edited, removed or reordered line is detected.
//!
//! (Being completed: hash chain, locking, verification.)

use std::io::Write;
use std::path::Path;

use anyhow::{Context as _, Result};
use serde::Serialize;

/// One decision, as a door reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// The door: `pre-commit`, `pre-receive`, `approve`, `deploy`, `exec`, ...
    pub door: String,
    /// What was judged or done (`push refs/heads/main`, `deploy abc123`).
    pub action: String,
    /// Who acted, and in what role.
    pub actor: String,
    pub role: Option<crate::policy::Role>,
    /// `passed`, `rejected`, `warned`, `ok`, `failed`, ...
    pub outcome: String,
    /// Rule ids found.
    pub rules: Vec<String>,
    /// Anything else worth keeping.
    pub detail: serde_json::Value,
}

/// Append one event to the log at `path`, creating it and its directory when needed.
pub fn append(path: &Path, event: &Event) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open audit log {}", path.display()))?;
    let line = serde_json::to_string(event)?;
    writeln!(f, "{line}").with_context(|| format!("cannot write audit log {}", path.display()))
}
