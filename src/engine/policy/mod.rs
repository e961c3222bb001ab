//! The policy: what every door of git-guard enforces.
//!
//! A policy is read from `policy.toml` (see `docs/POLICY.md`). It is validated while it is
//! parsed, and every problem found is reported at once: all TOML syntax errors; or else, from
//! a walk of the spanned document against [`KNOWN_KEYS`] and [`key_kind`] before serde sees
//! it, unknown keys by their dotted path with a "did you mean" and values of the wrong type or
//! out of range; then every glob and regex, compiled once, its error naming the line and
//! column in the file.
//!
//! Path patterns follow gitignore habits: a pattern without a `/` matches a file or directory
//! name at any depth (`.env` matches `a/b/.env`); a pattern with a `/` is anchored at the
//! repository root (`deploy/**`); a trailing `/` means a directory and everything in it
//! (`secrets/`). `*` stays inside one path component, `**` crosses them.
//!
//! The files: `keys.rs` (the schema and the key walk), `raw.rs` (the shape serde reads),
//! `compile.rs` (raw to compiled, every problem at its span), `patterns.rs` (globs, ref
//! patterns, regexes), `load.rs` (file, text, built-in). The policy reads files and nothing
//! else: it prints nothing and runs no process.

use std::fmt;
use std::path::PathBuf;

use globset::GlobSet;
use serde::{Deserialize, Serialize};

mod compile;
mod keys;
mod load;
mod patterns;
mod raw;
#[cfg(test)]
mod tests;

use compile::*;
pub use keys::*;
pub use load::*;
pub use patterns::*;
use raw::*;

/// The default policy, documented key by key. It is the file at the root of the project.
pub const DEFAULT_POLICY: &str = include_str!("../../../policy.toml");

/// The longest time limit, wait or deadline the policy and the flags accept (one year): far
/// beyond any use, and far below what would overflow a clock when added to now.
pub const MAX_DURATION_SECS: u64 = 366 * 24 * 3600;

/// One problem found in a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line and column, when known.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Dotted path of the key, when known (`paths.deny`).
    pub key: Option<String>,
    pub message: String,
}

impl Problem {
    /// The problem prefixed by its file and place: `policy.toml:3:1: caps.max_file: ...`, or
    /// `policy.toml: ...` when it has no line.
    pub fn located(&self, source_name: &str) -> String {
        if self.line.is_some() {
            format!("{source_name}:{self}")
        } else {
            format!("{source_name}: {self}")
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{l}:{c}: ")?,
            (Some(l), None) => write!(f, "{l}: ")?,
            _ => {}
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// A policy that could not be loaded: where it came from and every problem found in it.
#[derive(Debug, thiserror::Error)]
pub struct PolicyError {
    pub source_name: String,
    pub problems: Vec<Problem>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        // A file that cannot be read is not an invalid policy: say what it is.
        if let [p] = self.problems.as_slice()
            && p.key.is_none()
            && p.line.is_none()
        {
            return write!(f, "policy {}: {}", self.source_name, p.message);
        }
        write!(
            f,
            "invalid policy {}: {n} problem{}",
            self.source_name,
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  {}", p.located(&self.source_name))?;
        }
        Ok(())
    }
}

/// Whether violations block (`enforce`) or are only reported (`warn`, a dry run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Enforce,
    Warn,
}

/// `commands.walls`: what guard-exec does where the kernel cannot raise its walls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum WallsMode {
    /// Refuse to run anything (the default).
    #[default]
    Required,
    /// Run what the judge allows, with no new privileges but without the Landlock walls.
    JudgedOnly,
}

/// `commands.network`: what network the commands guard-exec runs may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkMode {
    /// No TCP but the port pushing to the workspace's upstream needs (none for a local path).
    #[default]
    Upstream,
    /// No network wall.
    Open,
}

/// The role an identity plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Agent,
    Human,
    Admin,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Agent => "agent",
            Role::Human => "human",
            Role::Admin => "admin",
        })
    }
}

/// Where a policy came from, for messages and audit records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "location", rename_all = "kebab-case")]
pub enum PolicySource {
    /// The built-in default.
    Builtin,
    /// A file the admin named.
    File(PathBuf),
    /// `policy.toml` at a commit of the repository (the protected base branch before a push).
    Commit(String),
}

impl fmt::Display for PolicySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicySource::Builtin => f.write_str("(built-in default policy)"),
            PolicySource::File(p) => write!(f, "{}", p.display()),
            PolicySource::Commit(c) => write!(f, "policy.toml at {c}"),
        }
    }
}

// ----------------------------------------------------------------------------------------
// The compiled policy.
// ----------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct RefsPolicy {
    pub protected: RefPatterns,
    /// Agents may push only under this namespace (a branch pattern such as `agent/*`).
    pub agent_namespace: RefPatterns,
    pub agent_namespace_text: String,
    /// Non-fast-forward updates of protected refs; never allowed when false.
    pub allow_force_push: bool,
    /// Deletion of protected refs.
    pub allow_delete: bool,
    /// Whether agents may create tags.
    pub agent_tags: bool,
    /// Existing tags may not be moved or deleted.
    pub tags_immutable: bool,
    /// Roles (`human`, `admin`) or identity names that may push to protected refs.
    pub protected_pushers: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ActorsPolicy {
    pub agents: Vec<String>,
    pub humans: Vec<String>,
    pub admins: Vec<String>,
    pub default_role: Role,
    /// The kill switch: when false, every change by an agent identity is refused at every
    /// door, whatever the mode.
    pub agents_enabled: bool,
    /// Why agent changes are switched off, told to the agent with every refusal.
    pub agents_disabled_reason: String,
    agents_set: GlobSet,
    humans_set: GlobSet,
    admins_set: GlobSet,
}

impl ActorsPolicy {
    /// The role of an identity: admins first, then humans, then agents, then the default.
    pub fn role_of(&self, name: &str) -> Role {
        if self.admins_set.is_match(name) {
            Role::Admin
        } else if self.humans_set.is_match(name) {
            Role::Human
        } else if self.agents_set.is_match(name) {
            Role::Agent
        } else {
            self.default_role
        }
    }
}

#[derive(Debug, Clone)]
pub struct PathsPolicy {
    pub case_insensitive: bool,
    pub deny: PathPatterns,
    pub allow_only: PathPatterns,
    pub protected: PathPatterns,
    /// Whether a symlink whose target leaves the tree is allowed (`paths.symlink-outside`).
    pub allow_outside_symlinks: bool,
}

#[derive(Debug, Clone)]
pub struct CapsPolicy {
    pub max_files: u64,
    pub max_lines: u64,
    pub max_blob_bytes: u64,
    /// Paths left out of the file and line counts (lock files, generated code).
    pub exclude: PathPatterns,
}

/// The kinds of change, as the tests section names them.
pub const CHANGE_KIND_NAMES: &[&str] = &[
    "add",
    "modify",
    "delete",
    "rename",
    "copy",
    "type-change",
    "mode-change",
];

/// How the agent's tests and builds are contained (`tests.isolation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// bubblewrap: user, mount, pid, network and ipc namespaces; refuse to run without it.
    #[default]
    Bwrap,
    /// No containment at all: only for a machine that is itself a throwaway sandbox.
    None,
}

#[derive(Debug, Clone)]
pub struct TestsPolicy {
    pub paths: PathPatterns,
    /// Names from [`CHANGE_KIND_NAMES`].
    pub flag_on: Vec<String>,
    pub disable_markers: bool,
    pub weakening: bool,
    /// `tests.runner`: changes to the runner's configuration that make it run less.
    pub runner: bool,
    /// `tests.cheats`: source code that detects the test run or makes comparisons pass.
    pub cheats: bool,
    pub command: Option<String>,
    pub timeout_secs: u64,
    pub isolation: Isolation,
    /// Whether contained runs may use the network (they get none by default).
    pub network: bool,
    /// Absolute paths contained runs may read (toolchains), bound read-only.
    pub readable: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct SecretsPolicy {
    pub builtin: bool,
    pub allow_marker: String,
    pub min_entropy: f64,
    pub exclude: PathPatterns,
    /// `secrets.extra`, then the rules of `secrets.gitleaks_config`, compiled.
    pub extra: Vec<crate::engine::rules::secrets::scanner::CompiledRule>,
    /// How many of `extra` are `secrets.extra` entries (the rest came from the gitleaks file).
    pub extra_own: usize,
    /// `secrets.gitleaks_config` as written (empty: none).
    pub gitleaks_config: String,
}

#[derive(Debug, Clone)]
pub struct CommitsPolicy {
    pub message_pattern: Option<Pattern>,
    pub required_trailers: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct RiskPolicy {
    pub max_agent_risk: u8,
    pub high_risk_paths: PathPatterns,
}

#[derive(Debug, Clone)]
pub struct CommandsPolicy {
    pub deny: Vec<String>,
    pub allow: Vec<String>,
    pub timeout_secs: u64,
    pub walls: WallsMode,
    pub network: NetworkMode,
}

#[derive(Debug, Clone)]
pub struct ApprovalsPolicy {
    pub require_signature: bool,
    pub allowed_signers: Option<PathBuf>,
    pub allow_self_approval: bool,
    /// The risk from which the tip commit needs one human approval to deploy (6: never).
    pub one_from_risk: u64,
    /// The risk from which it needs two, from different humans, or one from an admin.
    pub two_from_risk: u64,
}

#[derive(Debug, Clone)]
pub struct DeployPolicy {
    pub root: Option<PathBuf>,
    pub branch: String,
    pub keep: usize,
    pub test_command: Option<String>,
    pub build_command: Option<String>,
    pub use_recorded_tests: bool,
    pub reload_command: Option<String>,
    pub reload_signal: String,
    pub pidfile: Option<PathBuf>,
    pub health_command: Option<String>,
    pub health_url: Option<String>,
    pub health_retries: u32,
    pub health_interval_ms: u64,
    pub health_timeout_secs: u64,
    pub push_remote: Option<String>,
    pub lock_wait_secs: u64,
}

/// `limits.per`: whose changes the daily limit counts together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LimitPer {
    /// Each agent identity has its own count (the default).
    #[default]
    Agent,
    /// Every agent's changes to the repository count together.
    Repository,
}

/// `[limits]`: limits in time.
#[derive(Debug, Clone)]
pub struct LimitsPolicy {
    /// At most this many agent changes accepted in any 24 hours (0: no limit).
    pub agent_changes_per_day: u64,
    pub per: LimitPer,
    /// No deploy for this many hours after a rollback or a failed deploy (0: none).
    pub cooldown_hours: u64,
}

/// `hooks.admin_import`: what becomes of an admin's push that outlasts the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AdminImport {
    /// Accepted, recorded as a pending import, and judged in the background by post-receive
    /// (the default).
    #[default]
    Background,
    /// Rejected, as every other push over the deadline.
    Reject,
}

#[derive(Debug, Clone)]
pub struct HooksPolicy {
    pub deadline_ms: u64,
    /// What becomes of an admin's push that outlasts the deadline.
    pub admin_import: AdminImport,
    /// Blobs larger than this are not scanned for secrets (they are still capped).
    pub max_blob_scan_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct AuditPolicy {
    pub log: Option<PathBuf>,
    pub syslog: bool,
    pub stderr: bool,
}

/// A loaded, validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub source: PolicySource,
    pub mode: Mode,
    pub refs: RefsPolicy,
    pub actors: ActorsPolicy,
    pub paths: PathsPolicy,
    pub caps: CapsPolicy,
    pub tests: TestsPolicy,
    pub secrets: SecretsPolicy,
    pub commits: CommitsPolicy,
    pub risk: RiskPolicy,
    pub commands: CommandsPolicy,
    pub approvals: ApprovalsPolicy,
    pub deploy: DeployPolicy,
    pub limits: LimitsPolicy,
    pub hooks: HooksPolicy,
    pub audit: AuditPolicy,
}
