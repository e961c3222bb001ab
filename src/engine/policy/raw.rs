//! The raw shape of `policy.toml` as serde reads it, before validation. Patterns keep their
//! spans so that errors can name the line and column in the file.
//!
//! Only the compiler (`compile.rs`) turns these into the compiled [`super::Policy`].

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::*;

// ----------------------------------------------------------------------------------------
// The raw shape of policy.toml, as serde reads it. Patterns keep their spans so that errors
// can name their line and column; `Policy` holds the compiled form.
// ----------------------------------------------------------------------------------------

pub(super) type SList = Vec<Spanned<String>>;

#[derive(Debug, Deserialize, Default)]
#[serde(default, rename_all = "snake_case")]
pub(super) struct RawPolicy {
    pub(super) mode: Option<Mode>,
    pub(super) refs: RawRefs,
    pub(super) actors: RawActors,
    pub(super) paths: RawPaths,
    pub(super) caps: RawCaps,
    pub(super) tests: RawTests,
    pub(super) secrets: RawSecrets,
    pub(super) commits: RawCommits,
    pub(super) risk: RawRisk,
    pub(super) commands: RawCommands,
    pub(super) approvals: RawApprovals,
    pub(super) deploy: RawDeploy,
    pub(super) limits: RawLimits,
    pub(super) hooks: RawHooks,
    pub(super) audit: RawAudit,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct RawRefs {
    pub(super) protected: Option<SList>,
    pub(super) agent_namespace: Option<Spanned<String>>,
    pub(super) allow_force_push: Option<bool>,
    pub(super) allow_delete: Option<bool>,
    pub(super) agent_tags: Option<bool>,
    pub(super) tags_immutable: Option<bool>,
    pub(super) protected_pushers: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct RawActors {
    pub(super) agents: Option<SList>,
    pub(super) humans: Option<SList>,
    pub(super) admins: Option<SList>,
    pub(super) default_role: Option<Role>,
    pub(super) agents_enabled: Option<bool>,
    pub(super) agents_disabled_reason: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct RawPaths {
    pub(super) case_insensitive: Option<bool>,
    pub(super) deny: Option<SList>,
    pub(super) allow_only: Option<SList>,
    pub(super) protected: Option<SList>,
    pub(super) allow_outside_symlinks: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct RawCaps {
    pub(super) max_files: Option<u64>,
    pub(super) max_lines: Option<u64>,
    pub(super) max_blob_bytes: Option<u64>,
    pub(super) exclude: Option<SList>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct RawTests {
    pub(super) paths: Option<SList>,
    pub(super) flag_on: Option<Vec<Spanned<String>>>,
    pub(super) disable_markers: Option<bool>,
    pub(super) weakening: Option<bool>,
    pub(super) runner: Option<bool>,
    pub(super) cheats: Option<bool>,
    pub(super) command: Option<String>,
    pub(super) timeout_secs: Option<u64>,
    pub(super) isolation: Option<Isolation>,
    pub(super) network: Option<bool>,
    pub(super) readable: Option<SList>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct RawSecrets {
    pub(super) builtin: Option<bool>,
    pub(super) allow_marker: Option<String>,
    pub(super) min_entropy: Option<f64>,
    pub(super) exclude: Option<SList>,
    pub(super) extra: Option<Vec<RawSecretRule>>,
    pub(super) gitleaks_config: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSecretRule {
    pub(super) id: String,
    pub(super) regex: Spanned<String>,
    #[serde(default)]
    pub(super) description: Option<String>,
    #[serde(default)]
    pub(super) keywords: Option<Vec<String>>,
    #[serde(default)]
    pub(super) secret_group: Option<Spanned<RawGroup>>,
    #[serde(default)]
    pub(super) min_entropy: Option<f64>,
    #[serde(default)]
    pub(super) placeholders: Option<bool>,
    #[serde(default)]
    pub(super) binary: Option<bool>,
    #[serde(default)]
    pub(super) allow: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub(super) stopwords: Option<Vec<String>>,
}

/// `secret_group`: a capture group's number or name.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawGroup {
    Index(u64),
    Name(String),
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct RawCommits {
    pub(super) message_pattern: Option<Spanned<String>>,
    pub(super) required_trailers: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct RawRisk {
    pub(super) max_agent_risk: Option<u8>,
    pub(super) high_risk_paths: Option<SList>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct RawCommands {
    pub(super) deny: Option<Vec<Spanned<String>>>,
    pub(super) allow: Option<Vec<Spanned<String>>>,
    pub(super) timeout_secs: Option<u64>,
    pub(super) walls: Option<super::WallsMode>,
    pub(super) network: Option<super::NetworkMode>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct RawApprovals {
    pub(super) one_from_risk: Option<u64>,
    pub(super) two_from_risk: Option<u64>,
    pub(super) require_signature: Option<bool>,
    pub(super) allowed_signers: Option<PathBuf>,
    pub(super) allow_self_approval: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct RawDeploy {
    pub(super) root: Option<PathBuf>,
    pub(super) branch: Option<String>,
    pub(super) keep: Option<usize>,
    pub(super) test_command: Option<String>,
    pub(super) build_command: Option<String>,
    pub(super) use_recorded_tests: Option<bool>,
    pub(super) reload_command: Option<String>,
    pub(super) reload_signal: Option<Spanned<String>>,
    pub(super) pidfile: Option<PathBuf>,
    pub(super) health_command: Option<String>,
    pub(super) health_url: Option<String>,
    pub(super) health_retries: Option<u32>,
    pub(super) health_interval_ms: Option<u64>,
    pub(super) health_timeout_secs: Option<u64>,
    pub(super) push_remote: Option<String>,
    pub(super) lock_wait_secs: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct RawLimits {
    pub(super) agent_changes_per_day: Option<u64>,
    pub(super) per: Option<LimitPer>,
    pub(super) cooldown_hours: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct RawHooks {
    pub(super) deadline_ms: Option<u64>,
    pub(super) admin_import: Option<AdminImport>,
    pub(super) max_blob_scan_bytes: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct RawAudit {
    pub(super) log: Option<PathBuf>,
    pub(super) syslog: Option<bool>,
    pub(super) stderr: Option<bool>,
}
