//! The policy: what every door of git-guard enforces.
//!
//! A policy is read from `policy.toml` (see `docs/POLICY.md`). It is validated while it is
//! parsed: unknown keys are reported by their dotted path with a "did you mean", and every glob
//! and regex is compiled once, its error naming the line and column in the file. Every problem
//! found is reported at once.
//!
//! Path patterns follow gitignore habits: a pattern without a `/` matches a file or directory
//! name at any depth (`.env` matches `a/b/.env`); a pattern with a `/` is anchored at the
//! repository root (`deploy/**`); a trailing `/` means a directory and everything in it
//! (`secrets/`). `*` stays inside one path component, `**` crosses them.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use regex::bytes::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// The default policy, documented key by key. It is the file at the root of the project.
pub const DEFAULT_POLICY: &str = include_str!("../policy.toml");

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
        write!(
            f,
            "invalid policy {}: {n} problem{}",
            self.source_name,
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  {}:{p}", self.source_name)?;
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

/// A compiled list of path patterns; `matches` gives indices back into `patterns`.
#[derive(Debug, Clone, Default)]
pub struct PathPatterns {
    pub patterns: Vec<String>,
    set: GlobSet,
}

impl PathPatterns {
    /// Compile `patterns` (gitignore-like, see the module doc). Errors name the pattern index.
    pub fn new(patterns: &[String], case_insensitive: bool) -> Result<Self, (usize, String)> {
        let mut b = GlobSetBuilder::new();
        for (i, p) in patterns.iter().enumerate() {
            for g in expand_path_pattern(p) {
                let glob = GlobBuilder::new(&g)
                    .literal_separator(true)
                    .case_insensitive(case_insensitive)
                    .backslash_escape(true)
                    .empty_alternates(true)
                    .build()
                    .map_err(|e| (i, glob_error_text(p, &e)))?;
                b.add(glob);
            }
            if p.trim().is_empty() {
                return Err((i, "empty pattern".into()));
            }
        }
        let set = b.build().map_err(|e| (0, e.to_string()))?;
        // Each pattern expands to a known number of globs; keep the map from glob to pattern.
        Ok(PathPatterns {
            patterns: patterns.to_vec(),
            set,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    pub fn is_match(&self, path: &str) -> bool {
        !self.patterns.is_empty() && self.set.is_match(path)
    }

    /// The patterns (as written in the policy) that match `path`.
    pub fn matching(&self, path: &str) -> Vec<&str> {
        if self.patterns.is_empty() {
            return Vec::new();
        }
        let hits = self.set.matches(path);
        if hits.is_empty() {
            return Vec::new();
        }
        let mut glob_to_pattern = Vec::new();
        for (i, p) in self.patterns.iter().enumerate() {
            for _ in expand_path_pattern(p) {
                glob_to_pattern.push(i);
            }
        }
        let mut out: Vec<usize> = hits.iter().map(|&g| glob_to_pattern[g]).collect();
        out.dedup();
        out.into_iter().map(|i| self.patterns[i].as_str()).collect()
    }
}

fn glob_error_text(pattern: &str, e: &globset::Error) -> String {
    let mut s = format!("bad glob {pattern:?}: {}", e.kind());
    if pattern.contains('{') && !pattern.contains('}') {
        s.push_str(" (maybe escape '{' with '[{]'?)");
    } else if pattern.contains('[') && !pattern.contains(']') {
        s.push_str(" (maybe escape '[' with '[[]'?)");
    }
    s
}

/// Translate one gitignore-like pattern into the globs that implement it.
fn expand_path_pattern(p: &str) -> Vec<String> {
    let p = p.trim();
    let (body, dir) = match p.strip_suffix('/') {
        Some(b) => (b, true),
        None => (p, false),
    };
    let anchored = body.starts_with('/') || body.contains('/');
    let body = body.trim_start_matches('/');
    let base = if anchored || body.starts_with("**") {
        body.to_string()
    } else {
        format!("**/{body}")
    };
    if dir {
        vec![format!("{base}/**")]
    } else {
        // A name pattern also covers everything below a directory of that name.
        vec![base.clone(), format!("{base}/**")]
    }
}

/// A compiled list of ref patterns. A pattern that does not start with `refs/` names a branch
/// (`main` means `refs/heads/main`).
#[derive(Debug, Clone, Default)]
pub struct RefPatterns {
    pub patterns: Vec<String>,
    set: GlobSet,
}

impl RefPatterns {
    pub fn new(patterns: &[String]) -> Result<Self, (usize, String)> {
        let mut b = GlobSetBuilder::new();
        for (i, p) in patterns.iter().enumerate() {
            let full = full_ref_pattern(p);
            let glob = GlobBuilder::new(&full)
                .literal_separator(false)
                .build()
                .map_err(|e| (i, glob_error_text(p, &e)))?;
            b.add(glob);
        }
        let set = b.build().map_err(|e| (0, e.to_string()))?;
        Ok(RefPatterns {
            patterns: patterns.to_vec(),
            set,
        })
    }

    pub fn is_match(&self, refname: &str) -> bool {
        !self.patterns.is_empty() && self.set.is_match(refname)
    }

    pub fn matching(&self, refname: &str) -> Vec<&str> {
        self.set
            .matches(refname)
            .into_iter()
            .map(|i| self.patterns[i].as_str())
            .collect()
    }
}

/// `main` -> `refs/heads/main`; `refs/tags/*` stays.
pub fn full_ref_pattern(p: &str) -> String {
    if p.starts_with("refs/") {
        p.to_string()
    } else {
        format!("refs/heads/{p}")
    }
}

/// A compiled regex with the text it came from.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub source: String,
    pub regex: Regex,
}

impl Pattern {
    pub fn new(source: &str) -> Result<Self, String> {
        let regex = RegexBuilder::new(source)
            .unicode(false)
            .build()
            .or_else(|_| RegexBuilder::new(source).build())
            .map_err(|e| format!("bad regex {source:?}: {e}"))?;
        Ok(Pattern {
            source: source.to_string(),
            regex,
        })
    }
}

// ----------------------------------------------------------------------------------------
// The raw shape of policy.toml, as serde reads it. Patterns keep their spans so that errors
// can name their line and column; `Policy` holds the compiled form.
// ----------------------------------------------------------------------------------------

type SList = Vec<Spanned<String>>;

#[derive(Debug, Deserialize, Default)]
#[serde(default, rename_all = "snake_case")]
struct RawPolicy {
    mode: Option<Mode>,
    refs: RawRefs,
    actors: RawActors,
    paths: RawPaths,
    caps: RawCaps,
    tests: RawTests,
    secrets: RawSecrets,
    commits: RawCommits,
    risk: RawRisk,
    commands: RawCommands,
    approvals: RawApprovals,
    deploy: RawDeploy,
    hooks: RawHooks,
    audit: RawAudit,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct RawRefs {
    protected: Option<SList>,
    agent_namespace: Option<Spanned<String>>,
    allow_force_push: Option<bool>,
    allow_delete: Option<bool>,
    agent_tags: Option<bool>,
    tags_immutable: Option<bool>,
    protected_pushers: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct RawActors {
    agents: Option<SList>,
    humans: Option<SList>,
    admins: Option<SList>,
    default_role: Option<Role>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct RawPaths {
    case_insensitive: Option<bool>,
    deny: Option<SList>,
    allow_only: Option<SList>,
    protected: Option<SList>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct RawCaps {
    max_files: Option<u64>,
    max_lines: Option<u64>,
    max_blob_bytes: Option<u64>,
    exclude: Option<SList>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct RawTests {
    paths: Option<SList>,
    flag_on: Option<Vec<Spanned<String>>>,
    disable_markers: Option<bool>,
    weakening: Option<bool>,
    command: Option<String>,
    timeout_secs: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct RawSecrets {
    builtin: Option<bool>,
    allow_marker: Option<String>,
    min_entropy: Option<f64>,
    exclude: Option<SList>,
    extra: Option<Vec<RawSecretRule>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecretRule {
    id: String,
    regex: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct RawCommits {
    message_pattern: Option<Spanned<String>>,
    required_trailers: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct RawRisk {
    max_agent_risk: Option<u8>,
    high_risk_paths: Option<SList>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct RawCommands {
    deny: Option<Vec<Spanned<String>>>,
    allow: Option<Vec<Spanned<String>>>,
    timeout_secs: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct RawApprovals {
    require_signature: Option<bool>,
    allowed_signers: Option<PathBuf>,
    allow_self_approval: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct RawDeploy {
    root: Option<PathBuf>,
    branch: Option<String>,
    keep: Option<usize>,
    test_command: Option<String>,
    use_recorded_tests: Option<bool>,
    reload_command: Option<String>,
    reload_signal: Option<String>,
    pidfile: Option<PathBuf>,
    health_command: Option<String>,
    health_url: Option<String>,
    health_retries: Option<u32>,
    health_interval_ms: Option<u64>,
    health_timeout_secs: Option<u64>,
    push_remote: Option<String>,
    lock_wait_secs: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct RawHooks {
    deadline_ms: Option<u64>,
    max_blob_scan_bytes: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct RawAudit {
    log: Option<PathBuf>,
    syslog: Option<bool>,
    stderr: Option<bool>,
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

#[derive(Debug, Clone)]
pub struct TestsPolicy {
    pub paths: PathPatterns,
    /// Names from [`CHANGE_KIND_NAMES`].
    pub flag_on: Vec<String>,
    pub disable_markers: bool,
    pub weakening: bool,
    pub command: Option<String>,
    pub timeout_secs: u64,
}

#[derive(Debug, Clone)]
pub struct SecretRuleDef {
    pub id: String,
    pub description: String,
    pub pattern: Pattern,
}

#[derive(Debug, Clone)]
pub struct SecretsPolicy {
    pub builtin: bool,
    pub allow_marker: String,
    pub min_entropy: f64,
    pub exclude: PathPatterns,
    pub extra: Vec<SecretRuleDef>,
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
}

#[derive(Debug, Clone)]
pub struct ApprovalsPolicy {
    pub require_signature: bool,
    pub allowed_signers: Option<PathBuf>,
    pub allow_self_approval: bool,
}

#[derive(Debug, Clone)]
pub struct DeployPolicy {
    pub root: Option<PathBuf>,
    pub branch: String,
    pub keep: usize,
    pub test_command: Option<String>,
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

#[derive(Debug, Clone)]
pub struct HooksPolicy {
    pub deadline_ms: u64,
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
    pub hooks: HooksPolicy,
    pub audit: AuditPolicy,
}

/// Every key policy.toml knows, by dotted path; used for "did you mean".
const KNOWN_KEYS: &[&str] = &[
    "mode",
    "refs",
    "refs.protected",
    "refs.agent_namespace",
    "refs.allow_force_push",
    "refs.allow_delete",
    "refs.agent_tags",
    "refs.tags_immutable",
    "refs.protected_pushers",
    "actors",
    "actors.agents",
    "actors.humans",
    "actors.admins",
    "actors.default_role",
    "paths",
    "paths.case_insensitive",
    "paths.deny",
    "paths.allow_only",
    "paths.protected",
    "caps",
    "caps.max_files",
    "caps.max_lines",
    "caps.max_blob_bytes",
    "caps.exclude",
    "tests",
    "tests.paths",
    "tests.flag_on",
    "tests.disable_markers",
    "tests.weakening",
    "tests.command",
    "tests.timeout_secs",
    "secrets",
    "secrets.builtin",
    "secrets.allow_marker",
    "secrets.min_entropy",
    "secrets.exclude",
    "secrets.extra",
    "commits",
    "commits.message_pattern",
    "commits.required_trailers",
    "risk",
    "risk.max_agent_risk",
    "risk.high_risk_paths",
    "commands",
    "commands.deny",
    "commands.allow",
    "commands.timeout_secs",
    "approvals",
    "approvals.require_signature",
    "approvals.allowed_signers",
    "approvals.allow_self_approval",
    "deploy",
    "deploy.root",
    "deploy.branch",
    "deploy.keep",
    "deploy.test_command",
    "deploy.use_recorded_tests",
    "deploy.reload_command",
    "deploy.reload_signal",
    "deploy.pidfile",
    "deploy.health_command",
    "deploy.health_url",
    "deploy.health_retries",
    "deploy.health_interval_ms",
    "deploy.health_timeout_secs",
    "deploy.push_remote",
    "deploy.lock_wait_secs",
    "hooks",
    "hooks.deadline_ms",
    "hooks.max_blob_scan_bytes",
    "audit",
    "audit.log",
    "audit.syslog",
    "audit.stderr",
];

fn suggest(unknown: &str) -> Option<&'static str> {
    let (parent, leaf) = match unknown.rsplit_once('.') {
        Some((p, l)) => (Some(p), l),
        None => (None, unknown),
    };
    KNOWN_KEYS
        .iter()
        .filter(|k| match (parent, k.rsplit_once('.')) {
            (Some(p), Some((kp, _))) => kp == p,
            (None, None) => true,
            _ => false,
        })
        .map(|k| {
            let kl = k.rsplit('.').next().unwrap_or(k);
            (strsim::jaro_winkler(leaf, kl), *k)
        })
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// Line and column (1-based) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

struct Collector<'a> {
    text: &'a str,
    problems: Vec<Problem>,
}

impl Collector<'_> {
    fn at(&mut self, span: std::ops::Range<usize>, key: &str, message: String) {
        let (line, col) = line_col(self.text, span.start);
        self.problems.push(Problem {
            line: Some(line),
            column: Some(col),
            key: Some(key.to_string()),
            message,
        });
    }

    fn key(&mut self, key: &str, message: String) {
        self.problems.push(Problem {
            line: None,
            column: None,
            key: Some(key.to_string()),
            message,
        });
    }

    fn paths(
        &mut self,
        key: &str,
        list: Option<SList>,
        default: &[&str],
        ci: bool,
    ) -> PathPatterns {
        let (strings, spans): (Vec<String>, Vec<Option<std::ops::Range<usize>>>) = match list {
            Some(l) => l
                .into_iter()
                .map(|s| (s.get_ref().clone(), Some(s.span())))
                .unzip(),
            None => default.iter().map(|s| (s.to_string(), None)).unzip(),
        };
        match PathPatterns::new(&strings, ci) {
            Ok(p) => p,
            Err((i, msg)) => {
                match spans.get(i).cloned().flatten() {
                    Some(span) => self.at(span, key, msg),
                    None => self.key(key, msg),
                }
                PathPatterns::default()
            }
        }
    }

    fn refs(
        &mut self,
        key: &str,
        list: Vec<(String, Option<std::ops::Range<usize>>)>,
    ) -> RefPatterns {
        let strings: Vec<String> = list.iter().map(|(s, _)| s.clone()).collect();
        match RefPatterns::new(&strings) {
            Ok(p) => p,
            Err((i, msg)) => {
                match list.get(i).and_then(|(_, s)| s.clone()) {
                    Some(span) => self.at(span, key, msg),
                    None => self.key(key, msg),
                }
                RefPatterns::default()
            }
        }
    }

    fn names(&mut self, key: &str, list: &[String]) -> GlobSet {
        let mut b = GlobSetBuilder::new();
        for n in list {
            match GlobBuilder::new(n).literal_separator(true).build() {
                Ok(g) => {
                    b.add(g);
                }
                Err(e) => self.key(key, glob_error_text(n, &e)),
            }
        }
        b.build().unwrap_or_else(|_| GlobSet::empty())
    }

    fn regex(&mut self, key: &str, s: &Spanned<String>) -> Option<Pattern> {
        match Pattern::new(s.get_ref()) {
            Ok(p) => Some(p),
            Err(msg) => {
                self.at(s.span(), key, msg);
                None
            }
        }
    }
}

fn strings(list: Option<SList>, default: &[&str]) -> Vec<(String, Option<std::ops::Range<usize>>)> {
    match list {
        Some(l) => l
            .into_iter()
            .map(|s| (s.get_ref().clone(), Some(s.span())))
            .collect(),
        None => default.iter().map(|s| (s.to_string(), None)).collect(),
    }
}

/// Default values, shared by the loader and the documentation tests.
pub mod defaults {
    pub const PROTECTED_REFS: &[&str] = &[
        "main",
        "master",
        "production",
        "prod",
        "deploy",
        "release/*",
    ];
    pub const AGENT_NAMESPACE: &str = "agent/*";
    pub const DENY: &[&str] = &[
        ".env",
        ".env.*",
        "secrets/",
        "credentials/",
        "*.pem",
        "*.key",
        "*.p12",
        "*.pfx",
        "*.jks",
        "*.keystore",
        "id_rsa*",
        "id_dsa*",
        "id_ecdsa*",
        "id_ed25519*",
        ".netrc",
        ".pgpass",
        ".npmrc",
        ".pypirc",
        "*.tfstate",
        "config/production.*",
        "config/prod.*",
        "**/production.env",
    ];
    pub const PROTECTED_PATHS: &[&str] = &[
        "/policy.toml",
        ".guard/",
        "hooks/",
        ".githooks/",
        ".husky/",
        ".pre-commit-config.yaml",
        "lefthook.yml",
        ".github/",
        ".gitlab-ci.yml",
        ".gitlab/",
        ".circleci/",
        "Jenkinsfile",
        ".ci/",
        "deploy/",
        "Dockerfile",
        "docker-compose*.yml",
        "*.service",
    ];
    pub const TEST_PATHS: &[&str] = &[
        // Rust
        "/tests/",
        "benches/",
        // Python
        "test/",
        "test_*.py",
        "*_test.py",
        "conftest.py",
        // JavaScript / TypeScript
        "__tests__/",
        "*.test.{js,jsx,ts,tsx,mjs,cjs}",
        "*.spec.{js,jsx,ts,tsx,mjs,cjs}",
        // Go
        "*_test.go",
        "testdata/",
        // Java
        "src/test/",
        "*Test.java",
        "*Tests.java",
        "*IT.java",
    ];
    pub const COMMAND_DENY: &[&str] = &[
        "git push",
        "git merge",
        "git rebase",
        "git commit --amend",
        "git checkout {protected}",
        "git switch {protected}",
        "git reset * {protected}",
        "git reset --hard",
        "git branch -f",
        "git branch -D",
        "git update-ref",
        "git filter-branch",
        "git -c core.hooksPath=*",
        "git * --no-verify",
        "git config core.hooksPath *",
        "systemctl",
        "service",
        "docker-compose up",
        "docker-compose restart",
        "docker compose up",
        "docker compose restart",
        "ufw",
        "iptables",
        "rm -rf /",
        "rm -rf /*",
        "chmod 777",
        "chmod -R 777",
        "sudo",
        "su",
        "apt install",
        "apt-get install",
        "pip install",
        "npm install -g",
        "cargo install",
    ];
}

impl Policy {
    /// The built-in default policy.
    pub fn builtin() -> Policy {
        Policy::parse(DEFAULT_POLICY, PolicySource::Builtin)
            .expect("the built-in policy is validated by the test suite")
    }

    /// Load a policy file; errors name the file and every problem in it.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
            source_name: path.display().to_string(),
            problems: vec![Problem {
                line: None,
                column: None,
                key: None,
                message: format!("cannot read: {e}"),
            }],
        })?;
        Policy::parse(&text, PolicySource::File(path.to_path_buf()))
    }

    /// Parse and validate policy text.
    pub fn parse(text: &str, source: PolicySource) -> Result<Policy, PolicyError> {
        let source_name = source.to_string();
        let fail = |problems| PolicyError {
            source_name: source_name.clone(),
            problems,
        };
        let de = toml::Deserializer::parse(text).map_err(|e| fail(vec![toml_problem(text, &e)]))?;
        let mut unknown = Vec::new();
        let raw: RawPolicy =
            match serde_ignored::deserialize(de, |path| unknown.push(path.to_string())) {
                Ok(r) => r,
                Err(e) => return Err(fail(vec![toml_problem(text, &e)])),
            };
        let mut c = Collector {
            text,
            problems: Vec::new(),
        };
        for key in unknown {
            let msg = match suggest(&key) {
                Some(s) => format!("unknown key (did you mean `{s}`?)"),
                None => "unknown key".to_string(),
            };
            let span = find_key_span(text, &key);
            match span {
                Some(s) => c.at(s, &key, msg),
                None => c.key(&key, msg),
            }
        }
        let p = c.build(raw);
        if c.problems.is_empty() {
            Ok(Policy { source, ..p })
        } else {
            Err(fail(c.problems))
        }
    }

    /// The policy as a TOML table of its effective values (for `policy explain` and docs).
    pub fn summary(&self) -> BTreeMap<&'static str, String> {
        let mut m = BTreeMap::new();
        m.insert("mode", format!("{:?}", self.mode).to_lowercase());
        m.insert("refs.protected", self.refs.protected.patterns.join(", "));
        m.insert(
            "refs.agent_namespace",
            self.refs.agent_namespace_text.clone(),
        );
        m.insert("caps.max_files", self.caps.max_files.to_string());
        m.insert("caps.max_lines", self.caps.max_lines.to_string());
        m.insert("caps.max_blob_bytes", self.caps.max_blob_bytes.to_string());
        m
    }
}

/// Best effort: the span of the last segment of an unknown dotted key.
fn find_key_span(text: &str, dotted: &str) -> Option<std::ops::Range<usize>> {
    let leaf = dotted.rsplit('.').next()?;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        let indent = line.len() - t.len();
        if let Some(rest) = t.strip_prefix(leaf) {
            let rest = rest.trim_start();
            if rest.starts_with('=') {
                return Some(offset + indent..offset + indent + leaf.len());
            }
        }
        if (t.starts_with('[') && t.trim_end().ends_with(']'))
            && t.trim_matches(|c| c == '[' || c == ']' || c == '\n' || c == ' ') == dotted
        {
            return Some(offset + indent..offset + indent + t.trim_end().len());
        }
        offset += line.len();
    }
    None
}

fn toml_problem(text: &str, e: &toml::de::Error) -> Problem {
    let (line, column) = match e.span() {
        Some(s) => {
            let (l, c) = line_col(text, s.start);
            (Some(l), Some(c))
        }
        None => (None, None),
    };
    Problem {
        line,
        column,
        key: None,
        message: e.message().trim().to_string(),
    }
}

impl Collector<'_> {
    fn build(&mut self, raw: RawPolicy) -> Policy {
        use defaults as d;
        let ci = raw.paths.case_insensitive.unwrap_or(true);

        // refs
        let protected = strings(raw.refs.protected, d::PROTECTED_REFS);
        let protected = self.refs("refs.protected", protected);
        let ns = raw
            .refs
            .agent_namespace
            .map(|s| (s.get_ref().clone(), Some(s.span())))
            .unwrap_or_else(|| (d::AGENT_NAMESPACE.to_string(), None));
        let agent_namespace_text = ns.0.clone();
        let agent_namespace = self.refs("refs.agent_namespace", vec![ns]);
        let mut protected_pushers = Vec::new();
        for s in raw.refs.protected_pushers.unwrap_or_else(|| {
            vec![
                Spanned::new(0..0, "human".into()),
                Spanned::new(0..0, "admin".into()),
            ]
        }) {
            protected_pushers.push(s.get_ref().clone());
        }

        // actors
        let to_vec = |l: Option<SList>| -> Vec<String> {
            l.unwrap_or_default()
                .into_iter()
                .map(|s| s.into_inner())
                .collect()
        };
        let agents = to_vec(raw.actors.agents);
        let humans = to_vec(raw.actors.humans);
        let admins = to_vec(raw.actors.admins);
        let agents_set = self.names("actors.agents", &agents);
        let humans_set = self.names("actors.humans", &humans);
        let admins_set = self.names("actors.admins", &admins);

        // paths
        let deny = self.paths("paths.deny", raw.paths.deny, d::DENY, ci);
        let allow_only = self.paths("paths.allow_only", raw.paths.allow_only, &[], ci);
        let protected_paths = self.paths(
            "paths.protected",
            raw.paths.protected,
            d::PROTECTED_PATHS,
            ci,
        );

        // caps
        let caps_exclude = self.paths("caps.exclude", raw.caps.exclude, &[], ci);

        // tests
        let test_paths = self.paths("tests.paths", raw.tests.paths, d::TEST_PATHS, ci);
        let mut flag_on = Vec::new();
        match raw.tests.flag_on {
            Some(list) => {
                for k in list {
                    if CHANGE_KIND_NAMES.contains(&k.get_ref().as_str()) {
                        flag_on.push(k.get_ref().clone());
                    } else {
                        let msg = format!(
                            "unknown change kind {:?}; one of: {}",
                            k.get_ref(),
                            CHANGE_KIND_NAMES.join(", ")
                        );
                        self.at(k.span(), "tests.flag_on", msg);
                    }
                }
            }
            None => flag_on = CHANGE_KIND_NAMES.iter().map(|s| s.to_string()).collect(),
        }

        // secrets
        let secrets_exclude = self.paths("secrets.exclude", raw.secrets.exclude, &[], ci);
        let mut extra = Vec::new();
        for r in raw.secrets.extra.unwrap_or_default() {
            if let Some(pattern) = self.regex("secrets.extra.regex", &r.regex) {
                extra.push(SecretRuleDef {
                    description: r.description.unwrap_or_else(|| r.id.clone()),
                    id: r.id,
                    pattern,
                });
            }
        }

        // commits
        let message_pattern = raw
            .commits
            .message_pattern
            .as_ref()
            .filter(|s| !s.get_ref().is_empty())
            .and_then(|s| self.regex("commits.message_pattern", s));

        // risk
        let high_risk_paths = self.paths("risk.high_risk_paths", raw.risk.high_risk_paths, &[], ci);
        let max_agent_risk = raw.risk.max_agent_risk.unwrap_or(3);
        if max_agent_risk > 5 {
            self.key(
                "risk.max_agent_risk",
                format!("{max_agent_risk} is out of range: risk runs from 0 to 5"),
            );
        }

        // commands
        let cmd_list = |l: Option<Vec<Spanned<String>>>, default: &[&str]| -> Vec<String> {
            match l {
                Some(l) => l.into_iter().map(|s| s.into_inner()).collect(),
                None => default.iter().map(|s| s.to_string()).collect(),
            }
        };
        let commands = CommandsPolicy {
            deny: cmd_list(raw.commands.deny, d::COMMAND_DENY),
            allow: cmd_list(raw.commands.allow, &[]),
            timeout_secs: raw.commands.timeout_secs.unwrap_or(300),
        };

        let reload_signal = raw.deploy.reload_signal.unwrap_or_else(|| "HUP".into());
        if reload_signal.parse::<nix::sys::signal::Signal>().is_err()
            && format!("SIG{reload_signal}")
                .parse::<nix::sys::signal::Signal>()
                .is_err()
        {
            self.key(
                "deploy.reload_signal",
                format!("unknown signal {reload_signal:?} (try HUP, USR1, USR2, TERM)"),
            );
        }

        Policy {
            source: PolicySource::Builtin,
            mode: raw.mode.unwrap_or_default(),
            refs: RefsPolicy {
                protected,
                agent_namespace,
                agent_namespace_text,
                allow_force_push: raw.refs.allow_force_push.unwrap_or(false),
                allow_delete: raw.refs.allow_delete.unwrap_or(false),
                agent_tags: raw.refs.agent_tags.unwrap_or(false),
                tags_immutable: raw.refs.tags_immutable.unwrap_or(true),
                protected_pushers,
            },
            actors: ActorsPolicy {
                agents,
                humans,
                admins,
                default_role: raw.actors.default_role.unwrap_or(Role::Agent),
                agents_set,
                humans_set,
                admins_set,
            },
            paths: PathsPolicy {
                case_insensitive: ci,
                deny,
                allow_only,
                protected: protected_paths,
            },
            caps: CapsPolicy {
                max_files: raw.caps.max_files.unwrap_or(10),
                max_lines: raw.caps.max_lines.unwrap_or(400),
                max_blob_bytes: raw.caps.max_blob_bytes.unwrap_or(1024 * 1024),
                exclude: caps_exclude,
            },
            tests: TestsPolicy {
                paths: test_paths,
                flag_on,
                disable_markers: raw.tests.disable_markers.unwrap_or(true),
                weakening: raw.tests.weakening.unwrap_or(true),
                command: raw.tests.command.filter(|s| !s.trim().is_empty()),
                timeout_secs: raw.tests.timeout_secs.unwrap_or(600),
            },
            secrets: SecretsPolicy {
                builtin: raw.secrets.builtin.unwrap_or(true),
                allow_marker: raw
                    .secrets
                    .allow_marker
                    .unwrap_or_else(|| "guard:allow-secret".into()),
                min_entropy: raw.secrets.min_entropy.unwrap_or(3.5),
                exclude: secrets_exclude,
                extra,
            },
            commits: CommitsPolicy {
                message_pattern,
                required_trailers: raw.commits.required_trailers.unwrap_or_default(),
            },
            risk: RiskPolicy {
                max_agent_risk,
                high_risk_paths,
            },
            commands,
            approvals: ApprovalsPolicy {
                require_signature: raw.approvals.require_signature.unwrap_or(false),
                allowed_signers: raw.approvals.allowed_signers,
                allow_self_approval: raw.approvals.allow_self_approval.unwrap_or(false),
            },
            deploy: DeployPolicy {
                root: raw.deploy.root,
                branch: raw.deploy.branch.unwrap_or_else(|| "main".into()),
                keep: raw.deploy.keep.unwrap_or(5),
                test_command: raw.deploy.test_command.filter(|s| !s.trim().is_empty()),
                use_recorded_tests: raw.deploy.use_recorded_tests.unwrap_or(true),
                reload_command: raw.deploy.reload_command.filter(|s| !s.trim().is_empty()),
                reload_signal,
                pidfile: raw.deploy.pidfile,
                health_command: raw.deploy.health_command.filter(|s| !s.trim().is_empty()),
                health_url: raw.deploy.health_url.filter(|s| !s.trim().is_empty()),
                health_retries: raw.deploy.health_retries.unwrap_or(5),
                health_interval_ms: raw.deploy.health_interval_ms.unwrap_or(500),
                health_timeout_secs: raw.deploy.health_timeout_secs.unwrap_or(30),
                push_remote: raw.deploy.push_remote.filter(|s| !s.trim().is_empty()),
                lock_wait_secs: raw.deploy.lock_wait_secs.unwrap_or(0),
            },
            hooks: HooksPolicy {
                deadline_ms: raw.hooks.deadline_ms.unwrap_or(3000),
                max_blob_scan_bytes: raw.hooks.max_blob_scan_bytes.unwrap_or(8 * 1024 * 1024),
            },
            audit: AuditPolicy {
                log: raw.audit.log,
                syslog: raw.audit.syslog.unwrap_or(false),
                stderr: raw.audit.stderr.unwrap_or(false),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Policy, PolicyError> {
        Policy::parse(text, PolicySource::File("policy.toml".into()))
    }

    #[test]
    fn builtin_policy_is_valid() {
        let p = parse(DEFAULT_POLICY).unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert!(p.refs.protected.is_match("refs/heads/main"));
        assert!(p.refs.protected.is_match("refs/heads/release/1.2"));
        assert!(!p.refs.protected.is_match("refs/heads/agent/x"));
        assert!(p.refs.agent_namespace.is_match("refs/heads/agent/x"));
        assert_eq!(p.caps.max_files, 10);
        assert_eq!(p.caps.max_lines, 400);
        assert_eq!(p.caps.max_blob_bytes, 1 << 20);
    }

    #[test]
    fn empty_policy_gets_defaults() {
        let p = parse("").unwrap();
        assert!(p.paths.deny.is_match(".env"));
        assert!(p.paths.deny.is_match("app/.ENV"));
        assert!(p.paths.deny.is_match("Secrets/db.txt"));
        assert!(p.paths.deny.is_match("home/.ssh/id_rsa.pub"));
        assert!(!p.paths.deny.is_match("src/environment.rs"));
        assert!(p.tests.paths.is_match("tests/cli.rs"));
        assert!(p.tests.paths.is_match("pkg/foo_test.go"));
        assert!(p.tests.paths.is_match("web/app.spec.ts"));
        assert!(p.tests.paths.is_match("src/test/java/FooTest.java"));
        assert!(!p.tests.paths.is_match("src/lib.rs"));
        assert!(p.paths.protected.is_match("policy.toml"));
        assert!(!p.paths.protected.is_match("sub/policy.toml"));
        assert!(p.paths.protected.is_match(".github/workflows/ci.yml"));
    }

    #[test]
    fn unknown_keys_are_all_reported_with_suggestions() {
        let e = parse("mode = \"warn\"\n[caps]\nmax_file = 3\n[pathz]\ndeny = []\n").unwrap_err();
        let text = e.to_string();
        assert_eq!(e.problems.len(), 2, "{text}");
        assert!(
            text.contains("caps.max_file: unknown key (did you mean `caps.max_files`?)"),
            "{text}"
        );
        assert!(text.contains("3:1"), "{text}");
        assert!(text.contains("pathz"), "{text}");
    }

    #[test]
    fn bad_glob_and_bad_regex_name_line_and_column() {
        let e = parse("[paths]\ndeny = [\"ok\", \"a{b\"]\n[commits]\nmessage_pattern = \"(\"\n")
            .unwrap_err();
        let text = e.to_string();
        assert_eq!(e.problems.len(), 2, "{text}");
        assert!(
            text.contains("policy.toml:2:15: paths.deny: bad glob \"a{b\""),
            "{text}"
        );
        assert!(text.contains("maybe escape"), "{text}");
        assert!(
            text.contains("policy.toml:4:19: commits.message_pattern: bad regex"),
            "{text}"
        );
    }

    #[test]
    fn wrong_type_names_its_place() {
        let e = parse("[caps]\nmax_files = \"ten\"\n").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("2:13"), "{text}");
    }

    #[test]
    fn roles() {
        let p =
            parse("[actors]\nagents=[\"bot-*\"]\nhumans=[\"alice\"]\nadmins=[\"root\"]\n").unwrap();
        assert_eq!(p.actors.role_of("bot-7"), Role::Agent);
        assert_eq!(p.actors.role_of("alice"), Role::Human);
        assert_eq!(p.actors.role_of("root"), Role::Admin);
        assert_eq!(p.actors.role_of("mallory"), Role::Agent);
    }
}
