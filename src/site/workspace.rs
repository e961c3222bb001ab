//! The record of an agent workspace (`DIR/workspace.json`): what `git guard workspace create`
//! made, read by the workspace door, doctor, guard-exec and the harness adapters; and the
//! agent's unix account it names.
//!
//! It reads one file (and the user database) and prints nothing.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

/// The file in DIR that describes the workspace.
pub const RECORD: &str = "workspace.json";
/// The policy file in DIR/hooks.
pub const POLICY_FILE: &str = "policy.toml";
/// Where the keep-alive refs of workspaces live in the upstream.
pub const KEEPALIVE_PREFIX: &str = "refs/guard/workspaces/";

/// What `workspace.json` records.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Record {
    /// Names the keep-alive refs: `refs/guard/workspaces/<id>/`.
    pub id: String,
    /// The upstream repository (absolute path).
    pub upstream: PathBuf,
    /// The upstream branch the agent's branch starts from.
    pub base: String,
    /// The agent's branch (`agent/<topic>`).
    pub branch: String,
    /// The policy file (in DIR/hooks) and where it was taken from.
    pub policy: PathBuf,
    pub policy_source: String,
    pub agent_user: Option<String>,
    pub git_name: String,
    pub git_email: String,
    pub created_unix: u64,
}

/// Read `DIR/workspace.json`.
pub fn load_record(root: &Path) -> Result<Record> {
    let p = root.join(RECORD);
    let text = std::fs::read_to_string(&p).with_context(|| {
        format!(
            "cannot read {} (is {} a workspace made by `git guard workspace create`?)",
            p.display(),
            root.display()
        )
    })?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a workspace record", p.display()))
}

/// The agent's unix account.
#[derive(Debug, Clone)]
pub struct AgentUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

impl AgentUser {
    pub fn lookup(name: &str) -> Result<AgentUser> {
        let u = nix::unistd::User::from_name(name)
            .with_context(|| format!("cannot look up user {name}"))?
            .with_context(|| {
                format!("no unix user named {name:?} (create it, or check --agent-user)")
            })?;
        Ok(AgentUser {
            name: u.name,
            uid: u.uid.as_raw(),
            gid: u.gid.as_raw(),
            home: u.dir,
        })
    }
}
