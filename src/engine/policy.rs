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

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use regex::bytes::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The default policy, documented key by key. It is the file at the root of the project.
pub const DEFAULT_POLICY: &str = include_str!("../../policy.toml");

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
///
/// A pattern `X` matches a path or anything below a directory matching `X`; `X/` only the
/// latter. Rather than compiling `X` and `X/**` both, each glob is compiled once and the part
/// "below a directory" is tested by matching the path's leading directories (`a`, `a/b` for
/// `a/b/c`): the same paths match, with half the globs to compile on every run.
#[derive(Debug, Clone, Default)]
pub struct PathPatterns {
    pub patterns: Vec<String>,
    /// Globs of name patterns: matched against the path and its leading directories.
    names: GlobSet,
    names_to_pattern: Vec<usize>,
    /// Globs of directory patterns (`X/`): matched against the leading directories only.
    dirs: GlobSet,
    dirs_to_pattern: Vec<usize>,
}

impl PathPatterns {
    /// Compile `patterns` (gitignore-like, see the module doc). The error names the index of
    /// the first bad pattern; [`PathPatterns::check`] finds every bad one.
    pub fn new(patterns: &[String], case_insensitive: bool) -> Result<Self, (usize, String)> {
        let mut names = GlobSetBuilder::new();
        let mut dirs = GlobSetBuilder::new();
        let mut names_to_pattern = Vec::new();
        let mut dirs_to_pattern = Vec::new();
        for (i, p) in patterns.iter().enumerate() {
            for (glob, dir_only) in path_globs(p, case_insensitive).map_err(|msg| (i, msg))? {
                if dir_only {
                    dirs.add(glob);
                    dirs_to_pattern.push(i);
                } else {
                    names.add(glob);
                    names_to_pattern.push(i);
                }
            }
        }
        let names = names.build().map_err(|e| (0, e.to_string()))?;
        let dirs = dirs.build().map_err(|e| (0, e.to_string()))?;
        Ok(PathPatterns {
            patterns: patterns.to_vec(),
            names,
            names_to_pattern,
            dirs,
            dirs_to_pattern,
        })
    }

    /// Every bad pattern in `patterns`, by index, with what is wrong with it.
    pub fn check(patterns: &[String]) -> Vec<(usize, String)> {
        patterns
            .iter()
            .enumerate()
            .filter_map(|(i, p)| path_globs(p, false).err().map(|msg| (i, msg)))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    pub fn is_match(&self, path: &str) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        self.names.is_match(path)
            || leading_dirs(path).any(|d| self.names.is_match(d) || self.dirs.is_match(d))
    }

    /// The patterns (as written in the policy) that match `path`, in policy order.
    pub fn matching(&self, path: &str) -> Vec<&str> {
        // Most paths match nothing, and telling that is cheaper than listing what matches.
        if !self.is_match(path) {
            return Vec::new();
        }
        let mut out: Vec<usize> = Vec::new();
        let names = |c: &str, out: &mut Vec<usize>| {
            out.extend(
                self.names
                    .matches(c)
                    .into_iter()
                    .map(|g| self.names_to_pattern[g]),
            )
        };
        names(path, &mut out);
        for d in leading_dirs(path) {
            names(d, &mut out);
            out.extend(
                self.dirs
                    .matches(d)
                    .into_iter()
                    .map(|g| self.dirs_to_pattern[g]),
            );
        }
        out.sort_unstable();
        out.dedup();
        out.into_iter().map(|i| self.patterns[i].as_str()).collect()
    }
}

/// `a` and `a/b` for `a/b/c`: the directories a path lies in, outermost first.
fn leading_dirs(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

/// The globs that implement one path pattern, each with whether it applies to leading
/// directories only, or what is wrong with the pattern.
fn path_globs(p: &str, case_insensitive: bool) -> Result<Vec<(globset::Glob, bool)>, String> {
    if p.trim().is_empty() {
        return Err("empty pattern (remove it, or write the path it should match)".into());
    }
    let (base, dir) = expand_path_pattern(p);
    let globs = if base.is_empty() || base.ends_with("**") || base.ends_with('/') {
        // There `X/**` is not "X on a leading directory" (`**/**` matches a top-level name
        // too): keep the two globs, both tried on the whole path.
        let mut g = vec![(format!("{base}/**"), false)];
        if !dir {
            g.push((base, false));
        }
        g
    } else {
        vec![(base, dir)]
    };
    globs
        .into_iter()
        .map(|(g, dir_only)| {
            GlobBuilder::new(&g)
                .literal_separator(true)
                .case_insensitive(case_insensitive)
                .backslash_escape(true)
                .empty_alternates(true)
                .build()
                .map(|g| (g, dir_only))
                .map_err(|e| glob_error_text(p, &e))
        })
        .collect()
}

fn glob_error_text(pattern: &str, e: &globset::Error) -> String {
    let mut s = format!("bad glob {pattern:?}: {}", e.kind());
    if s.contains("maybe escape") {
        // globset gave its own hint.
    } else if pattern.contains('{') && !pattern.contains('}') {
        s.push_str(" (maybe escape '{' with '[{]'?)");
    } else if pattern.contains('[') && !pattern.contains(']') {
        s.push_str(" (maybe escape '[' with '[[]'?)");
    }
    s
}

/// Translate one gitignore-like pattern into the glob that implements it, and whether it
/// names directories only (a trailing `/`). A match of the glob on one of a path's leading
/// directories covers everything below it.
fn expand_path_pattern(p: &str) -> (String, bool) {
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
    (base, dir)
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
            .map_err(|e| regex_error_text(source, &e))?;
        Ok(Pattern {
            source: source.to_string(),
            regex,
        })
    }
}

/// A regex error on one line: the regex crate's own text spans several lines (the pattern, a
/// caret, the error), which would break the `file:line:col: key: message` form.
fn regex_error_text(source: &str, e: &regex::Error) -> String {
    let text = e.to_string();
    let lines: Vec<&str> = text.lines().collect();
    let what = lines
        .iter()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or_else(|| lines.last().copied().unwrap_or("invalid"));
    // The caret line sits under the pattern line, both indented by four spaces.
    let at = lines
        .iter()
        .find(|l| l.trim_start().starts_with('^'))
        .map(|l| l.len() - l.trim_start().len());
    match at {
        Some(indent) if indent >= 4 => format!(
            "bad regex {source:?}: {what} (at character {} of the pattern)",
            indent - 4 + 1
        ),
        _ => format!("bad regex {source:?}: {what}"),
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
    reload_signal: Option<Spanned<String>>,
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

/// Every key policy.toml knows, by dotted path: sections and their keys. Unknown keys are
/// errors with a "did you mean" drawn from this list; `policy.toml` and `docs/POLICY.md`
/// document every one of them (a test keeps the three in step).
pub const KNOWN_KEYS: &[&str] = &[
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

/// The keys of one entry of `secrets.extra`.
pub const SECRET_RULE_KEYS: &[&str] = &["id", "regex", "description"];

/// What a key's value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// A table: `[section]`.
    Section,
    String,
    Bool,
    /// A whole number from 0 to the bound.
    Count(u64),
    /// A number (integer or float) of at least 0.
    Number,
    /// A list of strings.
    Strings,
    /// One of these strings.
    OneOf(&'static [&'static str]),
    /// The list of tables of `secrets.extra`.
    SecretRules,
}

/// The kind of value a known key takes; `None` for a key policy.toml does not know.
pub fn key_kind(key: &str) -> Option<KeyKind> {
    use KeyKind::*;
    Some(match key {
        "refs" | "actors" | "paths" | "caps" | "tests" | "secrets" | "commits" | "risk"
        | "commands" | "approvals" | "deploy" | "hooks" | "audit" => Section,
        "mode" => OneOf(&["enforce", "warn"]),
        "actors.default_role" => OneOf(&["agent", "human", "admin"]),
        "refs.protected"
        | "refs.protected_pushers"
        | "actors.agents"
        | "actors.humans"
        | "actors.admins"
        | "paths.deny"
        | "paths.allow_only"
        | "paths.protected"
        | "caps.exclude"
        | "tests.paths"
        | "tests.flag_on"
        | "secrets.exclude"
        | "commits.required_trailers"
        | "risk.high_risk_paths"
        | "commands.deny"
        | "commands.allow" => Strings,
        "refs.allow_force_push"
        | "refs.allow_delete"
        | "refs.agent_tags"
        | "refs.tags_immutable"
        | "paths.case_insensitive"
        | "tests.disable_markers"
        | "tests.weakening"
        | "secrets.builtin"
        | "approvals.require_signature"
        | "approvals.allow_self_approval"
        | "deploy.use_recorded_tests"
        | "audit.syslog"
        | "audit.stderr" => Bool,
        "refs.agent_namespace"
        | "tests.command"
        | "secrets.allow_marker"
        | "commits.message_pattern"
        | "approvals.allowed_signers"
        | "deploy.root"
        | "deploy.branch"
        | "deploy.test_command"
        | "deploy.reload_command"
        | "deploy.reload_signal"
        | "deploy.pidfile"
        | "deploy.health_command"
        | "deploy.health_url"
        | "deploy.push_remote"
        | "audit.log" => String,
        "risk.max_agent_risk" => Count(5),
        "deploy.health_retries" => Count(u32::MAX as u64),
        "caps.max_files"
        | "caps.max_lines"
        | "caps.max_blob_bytes"
        | "tests.timeout_secs"
        | "commands.timeout_secs"
        | "deploy.keep"
        | "deploy.health_interval_ms"
        | "deploy.health_timeout_secs"
        | "deploy.lock_wait_secs"
        | "hooks.deadline_ms"
        | "hooks.max_blob_scan_bytes" => Count(i64::MAX as u64),
        "secrets.min_entropy" => Number,
        "secrets.extra" => SecretRules,
        _ => return None,
    })
}

fn kind_text(kind: KeyKind) -> String {
    match kind {
        KeyKind::Section => "a table ([section])".into(),
        KeyKind::String => "a string".into(),
        KeyKind::Bool => "true or false".into(),
        KeyKind::Count(_) => "a whole number".into(),
        KeyKind::Number => "a number".into(),
        KeyKind::Strings => "a list of strings".into(),
        KeyKind::OneOf(v) => format!("one of {}", quoted_list(v)),
        KeyKind::SecretRules => "a list of tables ({ id = ..., regex = ... })".into(),
    }
}

fn quoted_list(v: &[&str]) -> String {
    v.iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "a string", "an integer": the article the messages need.
fn a_type(v: &DeValue<'_>) -> String {
    let t = v.type_str();
    if t.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {t}")
    } else {
        format!("a {t}")
    }
}

/// The closest of `candidates` to `word`, when it is close enough to be a likely typo.
fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

impl Collector<'_> {
    /// Check every key of `table` against [`KNOWN_KEYS`] and [`key_kind`], recording every
    /// problem, and drop the keys found wrong so that deserializing what is left cannot fail
    /// (serde stops at the first type error; this walk reports them all).
    fn walk_table(&mut self, prefix: &str, table: &mut DeTable<'_>) {
        let mut dropped: Vec<String> = Vec::new();
        for (k, v) in table.iter_mut() {
            let name: &str = k.get_ref();
            let dotted = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}.{name}")
            };
            let kind = match key_kind(&dotted) {
                Some(kind) if KNOWN_KEYS.contains(&dotted.as_str()) => kind,
                _ => {
                    let msg = match suggest(&dotted) {
                        Some(s) => format!("unknown key (did you mean `{s}`?)"),
                        None if prefix.is_empty() => format!(
                            "unknown key; the sections are {}",
                            KNOWN_KEYS
                                .iter()
                                .filter(|k| !k.contains('.') && **k != "mode")
                                .map(|k| format!("[{k}]"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        None => format!("unknown key in [{prefix}]; see docs/POLICY.md"),
                    };
                    self.at(k.span(), &dotted, msg);
                    dropped.push(name.to_string());
                    continue;
                }
            };
            if !self.check_value(&dotted, kind, v) {
                dropped.push(name.to_string());
            }
        }
        for name in &dropped {
            table.remove(name.as_str());
        }
    }

    /// Whether `v` is a good value for `key`; records the problem when it is not.
    fn check_value(&mut self, key: &str, kind: KeyKind, v: &mut Spanned<DeValue<'_>>) -> bool {
        let span = v.span();
        let wrong = |c: &mut Self, v: &DeValue<'_>| {
            let msg = format!("expected {}, found {}", kind_text(kind), a_type(v));
            c.at(span.clone(), key, msg);
            false
        };
        match (kind, v.get_mut()) {
            (KeyKind::Section, DeValue::Table(t)) => {
                self.walk_table(key, t);
                true
            }
            (KeyKind::String, DeValue::String(_)) | (KeyKind::Bool, DeValue::Boolean(_)) => true,
            (KeyKind::Count(max), DeValue::Integer(i)) => {
                match i128::from_str_radix(i.as_str(), i.radix()) {
                    Ok(n) if n < 0 => {
                        self.at(span, key, format!("{n} is negative: give 0 or more"));
                        false
                    }
                    Ok(n) if n > max as i128 => {
                        self.at(span, key, format!("{n} is out of range: at most {max}"));
                        false
                    }
                    Ok(_) => true,
                    Err(_) => {
                        self.at(span, key, format!("{} is out of range", i.as_str()));
                        false
                    }
                }
            }
            (KeyKind::Number, DeValue::Integer(i)) => {
                if i.as_str().starts_with('-') {
                    self.at(span, key, "negative: give 0 or more".into());
                    return false;
                }
                true
            }
            (KeyKind::Number, DeValue::Float(f)) => match f.as_str().parse::<f64>() {
                Ok(x) if x.is_finite() && x >= 0.0 => true,
                _ => {
                    let msg = format!("{} is not a number of 0 or more", f.as_str());
                    self.at(span, key, msg);
                    false
                }
            },
            (KeyKind::Strings, DeValue::Array(items)) => {
                let mut ok = true;
                for item in items.iter() {
                    if !item.get_ref().is_str() {
                        let msg = format!(
                            "expected a list of strings, found {} in it",
                            a_type(item.get_ref())
                        );
                        self.at(item.span(), key, msg);
                        ok = false;
                    }
                }
                ok
            }
            (KeyKind::OneOf(choices), DeValue::String(s)) => {
                if choices.contains(&s.as_ref()) {
                    return true;
                }
                let msg = match closest(s, choices.iter().copied()) {
                    Some(c) => format!(
                        "unknown value {s:?} (did you mean {c:?}?); one of {}",
                        quoted_list(choices)
                    ),
                    None => format!("unknown value {s:?}; one of {}", quoted_list(choices)),
                };
                self.at(span, key, msg);
                false
            }
            (KeyKind::SecretRules, DeValue::Array(items)) => {
                let mut good = toml::de::DeArray::new();
                let mut ids: Vec<String> = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let at = format!("{key}[{i}]");
                    let DeValue::Table(t) = item.get_ref() else {
                        let msg = format!(
                            "expected a table {{ id = ..., regex = ... }}, found {}",
                            a_type(item.get_ref())
                        );
                        self.at(item.span(), &at, msg);
                        continue;
                    };
                    if self.check_secret_rule(&at, item.span(), t, &mut ids) {
                        good.push(item.clone());
                        self.extra_index.push(i);
                    }
                }
                // Keep the good entries, so that their regexes are still compiled and checked.
                *items = good;
                true
            }
            (_, v) => wrong(self, v),
        }
    }

    fn check_secret_rule(
        &mut self,
        at: &str,
        span: std::ops::Range<usize>,
        t: &DeTable<'_>,
        ids: &mut Vec<String>,
    ) -> bool {
        let mut ok = true;
        for (k, v) in t.iter() {
            let name: &str = k.get_ref();
            let key = format!("{at}.{name}");
            if !SECRET_RULE_KEYS.contains(&name) {
                let msg = match closest(name, SECRET_RULE_KEYS.iter().copied()) {
                    Some(s) => format!("unknown key (did you mean `{at}.{s}`?)"),
                    None => format!("unknown key; a rule has {}", SECRET_RULE_KEYS.join(", ")),
                };
                self.at(k.span(), &key, msg);
                ok = false;
            } else if !v.get_ref().is_str() {
                let msg = format!("expected a string, found {}", a_type(v.get_ref()));
                self.at(v.span(), &key, msg);
                ok = false;
            }
        }
        for required in ["id", "regex"] {
            if t.get(required).is_none() {
                let msg = format!("missing `{required}` (a rule needs an id and a regex)");
                self.at(span.clone(), at, msg);
                ok = false;
            }
        }
        if let Some(idv) = t.get("id")
            && let Some(id) = idv.get_ref().as_str()
        {
            let key = format!("{at}.id");
            if id.trim().is_empty() {
                self.at(idv.span(), &key, "empty id".into());
                ok = false;
            } else if ids.iter().any(|x| x == id) {
                let msg = format!("duplicate rule id {id:?}: give each rule its own id");
                self.at(idv.span(), &key, msg);
                ok = false;
            } else {
                ids.push(id.to_string());
            }
        }
        ok
    }
}

fn suggest(unknown: &str) -> Option<&'static str> {
    let (parent, leaf) = match unknown.rsplit_once('.') {
        Some((p, l)) => (Some(p), l),
        None => (None, unknown),
    };
    let siblings = KNOWN_KEYS
        .iter()
        .filter(|k| match (parent, k.rsplit_once('.')) {
            (Some(p), Some((kp, _))) => kp == p,
            (None, None) => true,
            _ => false,
        });
    let leaf_of = |k: &'static str| k.rsplit('.').next().unwrap_or(k);
    let best = closest(leaf, siblings.clone().map(|k| leaf_of(k)))?;
    siblings.copied().find(|k| leaf_of(k) == best)
}

impl Policy {
    /// Every key's effective value, as a TOML table shaped like policy.toml (an unset path or
    /// command is `""`). `Policy::parse("")` gives the built-in defaults, so a test can check
    /// that the documented `policy.toml` states exactly those.
    pub fn effective(&self) -> toml::Table {
        use toml::Value;
        fn list<S: AsRef<str>>(v: &[S]) -> Value {
            Value::Array(v.iter().map(|s| Value::String(s.as_ref().into())).collect())
        }
        fn text(s: &str) -> Value {
            Value::String(s.into())
        }
        fn opt(s: &Option<String>) -> Value {
            text(s.as_deref().unwrap_or(""))
        }
        fn path(p: &Option<PathBuf>) -> Value {
            text(
                &p.as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            )
        }
        fn int(n: u64) -> Value {
            Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
        }
        fn section(entries: Vec<(&str, Value)>) -> Value {
            Value::Table(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            )
        }
        let mode = match self.mode {
            Mode::Enforce => "enforce",
            Mode::Warn => "warn",
        };
        let r = &self.refs;
        let a = &self.actors;
        let d = &self.deploy;
        let extra = self
            .secrets
            .extra
            .iter()
            .map(|x| {
                section(vec![
                    ("id", text(&x.id)),
                    ("regex", text(&x.pattern.source)),
                    ("description", text(&x.description)),
                ])
            })
            .collect();
        let mut t = toml::Table::new();
        t.insert("mode".into(), text(mode));
        let sections = vec![
            (
                "refs",
                section(vec![
                    ("protected", list(&r.protected.patterns)),
                    ("agent_namespace", text(&r.agent_namespace_text)),
                    ("allow_force_push", Value::Boolean(r.allow_force_push)),
                    ("allow_delete", Value::Boolean(r.allow_delete)),
                    ("agent_tags", Value::Boolean(r.agent_tags)),
                    ("tags_immutable", Value::Boolean(r.tags_immutable)),
                    ("protected_pushers", list(&r.protected_pushers)),
                ]),
            ),
            (
                "actors",
                section(vec![
                    ("agents", list(&a.agents)),
                    ("humans", list(&a.humans)),
                    ("admins", list(&a.admins)),
                    ("default_role", text(&a.default_role.to_string())),
                ]),
            ),
            (
                "paths",
                section(vec![
                    (
                        "case_insensitive",
                        Value::Boolean(self.paths.case_insensitive),
                    ),
                    ("deny", list(&self.paths.deny.patterns)),
                    ("allow_only", list(&self.paths.allow_only.patterns)),
                    ("protected", list(&self.paths.protected.patterns)),
                ]),
            ),
            (
                "caps",
                section(vec![
                    ("max_files", int(self.caps.max_files)),
                    ("max_lines", int(self.caps.max_lines)),
                    ("max_blob_bytes", int(self.caps.max_blob_bytes)),
                    ("exclude", list(&self.caps.exclude.patterns)),
                ]),
            ),
            (
                "tests",
                section(vec![
                    ("paths", list(&self.tests.paths.patterns)),
                    ("flag_on", list(&self.tests.flag_on)),
                    (
                        "disable_markers",
                        Value::Boolean(self.tests.disable_markers),
                    ),
                    ("weakening", Value::Boolean(self.tests.weakening)),
                    ("command", opt(&self.tests.command)),
                    ("timeout_secs", int(self.tests.timeout_secs)),
                ]),
            ),
            (
                "secrets",
                section(vec![
                    ("builtin", Value::Boolean(self.secrets.builtin)),
                    ("allow_marker", text(&self.secrets.allow_marker)),
                    ("min_entropy", Value::Float(self.secrets.min_entropy)),
                    ("exclude", list(&self.secrets.exclude.patterns)),
                    ("extra", Value::Array(extra)),
                ]),
            ),
            (
                "commits",
                section(vec![
                    (
                        "message_pattern",
                        text(
                            self.commits
                                .message_pattern
                                .as_ref()
                                .map_or("", |p| p.source.as_str()),
                        ),
                    ),
                    ("required_trailers", list(&self.commits.required_trailers)),
                ]),
            ),
            (
                "risk",
                section(vec![
                    ("max_agent_risk", int(self.risk.max_agent_risk.into())),
                    ("high_risk_paths", list(&self.risk.high_risk_paths.patterns)),
                ]),
            ),
            (
                "commands",
                section(vec![
                    ("deny", list(&self.commands.deny)),
                    ("allow", list(&self.commands.allow)),
                    ("timeout_secs", int(self.commands.timeout_secs)),
                ]),
            ),
            (
                "approvals",
                section(vec![
                    (
                        "require_signature",
                        Value::Boolean(self.approvals.require_signature),
                    ),
                    ("allowed_signers", path(&self.approvals.allowed_signers)),
                    (
                        "allow_self_approval",
                        Value::Boolean(self.approvals.allow_self_approval),
                    ),
                ]),
            ),
            (
                "deploy",
                section(vec![
                    ("root", path(&d.root)),
                    ("branch", text(&d.branch)),
                    ("keep", int(d.keep as u64)),
                    ("test_command", opt(&d.test_command)),
                    ("use_recorded_tests", Value::Boolean(d.use_recorded_tests)),
                    ("reload_command", opt(&d.reload_command)),
                    ("reload_signal", text(&d.reload_signal)),
                    ("pidfile", path(&d.pidfile)),
                    ("health_command", opt(&d.health_command)),
                    ("health_url", opt(&d.health_url)),
                    ("health_retries", int(d.health_retries.into())),
                    ("health_interval_ms", int(d.health_interval_ms)),
                    ("health_timeout_secs", int(d.health_timeout_secs)),
                    ("push_remote", opt(&d.push_remote)),
                    ("lock_wait_secs", int(d.lock_wait_secs)),
                ]),
            ),
            (
                "hooks",
                section(vec![
                    ("deadline_ms", int(self.hooks.deadline_ms)),
                    ("max_blob_scan_bytes", int(self.hooks.max_blob_scan_bytes)),
                ]),
            ),
            (
                "audit",
                section(vec![
                    ("log", path(&self.audit.log)),
                    ("syslog", Value::Boolean(self.audit.syslog)),
                    ("stderr", Value::Boolean(self.audit.stderr)),
                ]),
            ),
        ];
        for (k, v) in sections {
            t.insert(k.into(), v);
        }
        t
    }
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
    /// For each `secrets.extra` entry kept by the walk, its index in the file.
    extra_index: Vec<usize>,
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
        let mut bad = PathPatterns::check(&strings);
        if bad.is_empty() {
            match PathPatterns::new(&strings, ci) {
                Ok(p) => return p,
                Err(e) => bad.push(e),
            }
        }
        for (i, msg) in bad {
            match spans.get(i).cloned().flatten() {
                Some(span) => self.at(span, key, msg),
                None => self.key(key, msg),
            }
        }
        PathPatterns::default()
    }

    fn refs(
        &mut self,
        key: &str,
        list: Vec<(String, Option<std::ops::Range<usize>>)>,
    ) -> RefPatterns {
        let strings: Vec<String> = list.iter().map(|(s, _)| s.clone()).collect();
        // Compile each pattern alone first, so that every bad one is reported.
        let mut bad: Vec<(usize, String)> = strings
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                if p.trim().is_empty() {
                    return Some((i, "empty ref pattern".to_string()));
                }
                RefPatterns::new(std::slice::from_ref(p))
                    .err()
                    .map(|(_, msg)| (i, msg))
            })
            .collect();
        if bad.is_empty() {
            match RefPatterns::new(&strings) {
                Ok(p) => return p,
                Err(e) => bad.push(e),
            }
        }
        for (i, msg) in bad {
            match list.get(i).and_then(|(_, s)| s.clone()) {
                Some(span) => self.at(span, key, msg),
                None => self.key(key, msg),
            }
        }
        RefPatterns::default()
    }

    fn names(&mut self, key: &str, list: Option<SList>) -> (Vec<String>, GlobSet) {
        let mut b = GlobSetBuilder::new();
        let mut names = Vec::new();
        for n in list.unwrap_or_default() {
            match GlobBuilder::new(n.get_ref())
                .literal_separator(true)
                .build()
            {
                Ok(g) => {
                    b.add(g);
                }
                Err(e) => self.at(n.span(), key, glob_error_text(n.get_ref(), &e)),
            }
            names.push(n.into_inner());
        }
        (names, b.build().unwrap_or_else(|_| GlobSet::empty()))
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

/// An empty string in policy.toml means "not set" for a path, as it does for a command.
fn non_empty_path(p: Option<PathBuf>) -> Option<PathBuf> {
    p.filter(|p| !p.as_os_str().is_empty())
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
                message: format!(
                    "cannot read the policy file: {e} (give the path of a policy.toml; \
                     `git guard policy show` prints the default to start from)"
                ),
            }],
        })?;
        Policy::parse(&text, PolicySource::File(path.to_path_buf()))
    }

    /// Parse and validate policy text, reporting every problem at once: TOML syntax errors;
    /// or else unknown keys, values of the wrong type or out of range, bad globs and regexes.
    pub fn parse(text: &str, source: PolicySource) -> Result<Policy, PolicyError> {
        let source_name = source.to_string();
        let fail = |problems| PolicyError {
            source_name: source_name.clone(),
            problems,
        };
        let (mut root, errors) = DeTable::parse_recoverable(text);
        if !errors.is_empty() {
            let mut problems: Vec<Problem> = errors.iter().map(|e| toml_problem(text, e)).collect();
            problems.dedup();
            return Err(fail(problems));
        }
        let mut c = Collector {
            text,
            problems: Vec::new(),
            extra_index: Vec::new(),
        };
        c.walk_table("", root.get_mut());
        let mut unknown = Vec::new();
        let raw: RawPolicy =
            match serde_ignored::deserialize(toml::Deserializer::from(root), |path| {
                unknown.push(path.to_string())
            }) {
                Ok(r) => r,
                Err(e) => {
                    // The walk above leaves nothing serde can refuse; should the two ever drift,
                    // the policy is still refused, with serde's reason.
                    c.problems.push(toml_problem(text, &e));
                    return Err(fail(c.problems));
                }
            };
        for key in unknown {
            c.key(&key, "unknown key".into());
        }
        let p = c.build(raw);
        if c.problems.is_empty() {
            Ok(Policy { source, ..p })
        } else {
            // In file order; problems without a place (none expected) go last.
            c.problems
                .sort_by_key(|p| (p.line.unwrap_or(usize::MAX), p.column.unwrap_or(0)));
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
        let (agents, agents_set) = self.names("actors.agents", raw.actors.agents);
        let (humans, humans_set) = self.names("actors.humans", raw.actors.humans);
        let (admins, admins_set) = self.names("actors.admins", raw.actors.admins);

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
        for (i, r) in raw
            .secrets
            .extra
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let i = self.extra_index.get(i).copied().unwrap_or(i);
            if let Some(pattern) = self.regex(&format!("secrets.extra[{i}].regex"), &r.regex) {
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
        // The walk bounds it to 0..=5.
        let max_agent_risk = raw.risk.max_agent_risk.unwrap_or(3);

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

        let reload_signal = match raw.deploy.reload_signal {
            Some(sig) => {
                let name = sig.get_ref().trim().to_string();
                let known = name.parse::<nix::sys::signal::Signal>().is_ok()
                    || format!("SIG{name}")
                        .parse::<nix::sys::signal::Signal>()
                        .is_ok();
                if !known {
                    let msg = format!("unknown signal {name:?} (try HUP, USR1, USR2, TERM)");
                    self.at(sig.span(), "deploy.reload_signal", msg);
                }
                name
            }
            None => "HUP".into(),
        };

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
                allowed_signers: non_empty_path(raw.approvals.allowed_signers),
                allow_self_approval: raw.approvals.allow_self_approval.unwrap_or(false),
            },
            deploy: DeployPolicy {
                root: non_empty_path(raw.deploy.root),
                branch: raw.deploy.branch.unwrap_or_else(|| "main".into()),
                keep: raw.deploy.keep.unwrap_or(5),
                test_command: raw.deploy.test_command.filter(|s| !s.trim().is_empty()),
                use_recorded_tests: raw.deploy.use_recorded_tests.unwrap_or(true),
                reload_command: raw.deploy.reload_command.filter(|s| !s.trim().is_empty()),
                reload_signal,
                pidfile: non_empty_path(raw.deploy.pidfile),
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
                log: non_empty_path(raw.audit.log),
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

    /// The reference semantics: a pattern `X` is the globs `X` and `X/**`, `X/` is `X/**`.
    fn matches_by_globstar(p: &str, ci: bool, path: &str) -> bool {
        let (base, dir) = expand_path_pattern(p);
        let mut globs = vec![format!("{base}/**")];
        if !dir {
            globs.push(base);
        }
        globs.iter().any(|g| {
            GlobBuilder::new(g)
                .literal_separator(true)
                .case_insensitive(ci)
                .backslash_escape(true)
                .empty_alternates(true)
                .build()
                .is_ok_and(|g| g.compile_matcher().is_match(path))
        })
    }

    #[test]
    fn leading_directories_match_like_a_trailing_globstar() {
        let patterns = [
            ".env",
            ".env.*",
            "secrets/",
            "*.pem",
            "id_rsa*",
            "config/prod.*",
            "**/production.env",
            "/policy.toml",
            ".github/",
            "docker-compose*.yml",
            "a/b",
            "a/b/",
            "a/**",
            "a/**/c",
            "**/x",
            "**/x/",
            "*",
            "*/",
            "**",
            "**/",
            "/",
            "{a,b}/c",
            "[ab]",
            "a/*/c/",
            "A.PEM",
            "src/**/*.rs",
            "/src/",
            "x/**/",
            "x/{a,**}",
            "{**,a}",
            "{a,b/**}",
            "a\\*",
            "?",
            "a/?/",
            "[!a]",
            "*/*",
            "**/*",
            "a*/",
            "{,a}",
            "a/{b,}",
        ];
        let paths = [
            ".env",
            "a/.env",
            "a/.env/b",
            ".env.local",
            "secrets/x",
            "secrets",
            "a/secrets/b/c",
            "k.pem",
            "a/b/k.PEM",
            "k.pem/x",
            "id_rsa.pub",
            "config/prod.toml",
            "x/config/prod.toml",
            "a/production.env",
            "policy.toml",
            "sub/policy.toml",
            "policy.toml/x",
            ".github/w.yml",
            "docker-compose.dev.yml",
            "a/b",
            "a/b/c",
            "a/x/c",
            "a/x/y/c/d",
            "x",
            "x/y",
            "y/x/z",
            "a",
            "b/c",
            "src/m/lib.rs",
            "src/lib.rs",
            "SRC/Lib.rs",
            "A/B/c",
            "a*",
            "a*/b",
            "x/a/b",
            "x/q/r",
            "b",
            "b/x/y",
            "ab/c",
        ];
        for ci in [false, true] {
            for p in patterns {
                let compiled = PathPatterns::new(&[p.to_string()], ci).unwrap();
                for path in paths {
                    let want = matches_by_globstar(p, ci, path);
                    assert_eq!(compiled.is_match(path), want, "{p:?} on {path:?} (ci {ci})");
                    assert_eq!(
                        !compiled.matching(path).is_empty(),
                        want,
                        "{p:?} on {path:?}"
                    );
                }
            }
        }
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
    fn every_type_error_is_reported_at_once() {
        let text = "mode = \"warm\"\n[caps]\nmax_files = \"ten\"\nmax_lines = -4\n\
                    [risk]\nmax_agent_risk = 9\n[paths]\ndeny = [\".env\", 3]\n\
                    [tests]\nweakening = \"yes\"\n[actors]\ndefault_role = \"humna\"\n";
        let e = parse(text).unwrap_err();
        let text = e.to_string();
        assert_eq!(e.problems.len(), 7, "{text}");
        for want in [
            "1:8: mode: unknown value \"warm\" (did you mean \"warn\"?)",
            "3:13: caps.max_files: expected a whole number, found a string",
            "4:13: caps.max_lines: -4 is negative",
            "6:18: risk.max_agent_risk: 9 is out of range: at most 5",
            "8:17: paths.deny: expected a list of strings, found an integer in it",
            "10:13: tests.weakening: expected true or false, found a string",
            "12:16: actors.default_role: unknown value \"humna\" (did you mean \"human\"?)",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
    }

    #[test]
    fn type_errors_and_pattern_errors_together() {
        let e = parse(
            "[caps]\nmax_files = true\n[paths]\ndeny = [\"a[b\", \"c{d\"]\nallow_only = [\"\"]\n",
        )
        .unwrap_err();
        let text = e.to_string();
        assert_eq!(e.problems.len(), 4, "{text}");
        assert!(text.contains("2:13: caps.max_files"), "{text}");
        assert!(text.contains("4:9: paths.deny: bad glob \"a[b\""), "{text}");
        assert!(
            text.contains("4:16: paths.deny: bad glob \"c{d\""),
            "{text}"
        );
        assert!(
            text.contains("5:15: paths.allow_only: empty pattern"),
            "{text}"
        );
    }

    #[test]
    fn unknown_key_in_a_section_is_placed_exactly() {
        // `deny` is a key of [paths] too: the span must be the one under [pathz].
        let e = parse("[paths]\ndeny = []\n[pathz]\ndeny = []\n").unwrap_err();
        assert_eq!(e.problems.len(), 1, "{e}");
        let p = &e.problems[0];
        assert_eq!((p.line, p.column), (Some(3), Some(2)), "{e}");
        assert!(e.to_string().contains("did you mean `paths`?"), "{e}");
        let e = parse("[zzz]\n").unwrap_err();
        assert!(e.to_string().contains("the sections are [refs]"), "{e}");
    }

    #[test]
    fn secret_rules_are_checked_entry_by_entry() {
        let text = "[secrets]\nextra = [\n  { id = \"a\", regex = \"x+\" },\n  \
                    { id = \"a\", regx = \"y\" },\n  { id = \"b\", regex = \"(\" },\n]\n";
        let e = parse(text).unwrap_err();
        let text = e.to_string();
        assert_eq!(e.problems.len(), 4, "{text}");
        assert!(
            text.contains("4:10: secrets.extra[1].id: duplicate rule id"),
            "{text}"
        );
        assert!(
            text.contains(
                "secrets.extra[1].regx: unknown key (did you mean `secrets.extra[1].regex`?)"
            ),
            "{text}"
        );
        assert!(text.contains("secrets.extra[1]: missing `regex`"), "{text}");
        assert!(
            text.contains("5:23: secrets.extra[2].regex: bad regex \"(\": unclosed group"),
            "{text}"
        );
        let ok =
            parse("[secrets]\nextra = [{ id = \"t\", regex = \"itk_[0-9a-f]{4}\" }]\n").unwrap();
        assert_eq!(ok.secrets.extra[0].description, "t");
        assert!(ok.secrets.extra[0].pattern.regex.is_match(b"key itk_00ff"));
    }

    #[test]
    fn syntax_errors_name_their_place() {
        let e = parse("[caps\nmax_files = 3\n").unwrap_err();
        assert!(!e.problems.is_empty());
        assert_eq!(e.problems[0].line, Some(1), "{e}");
    }

    #[test]
    fn known_keys_kinds_and_effective_values_agree() {
        for k in KNOWN_KEYS {
            assert!(key_kind(k).is_some(), "{k} has no kind");
        }
        let mut effective = Vec::new();
        for (section, v) in parse("").unwrap().effective() {
            effective.push(section.clone());
            if let toml::Value::Table(t) = v {
                effective.extend(t.keys().map(|k| format!("{section}.{k}")));
            }
        }
        let mut known: Vec<String> = KNOWN_KEYS.iter().map(|s| s.to_string()).collect();
        effective.sort();
        known.sort();
        assert_eq!(effective, known);
    }

    #[test]
    fn empty_path_means_unset() {
        let p = parse("[audit]\nlog = \"\"\n[deploy]\nroot = \"/srv\"\n").unwrap();
        assert_eq!(p.audit.log, None);
        assert_eq!(p.deploy.root, Some(PathBuf::from("/srv")));
    }

    #[test]
    fn matching_names_patterns_in_policy_order() {
        let p = parse("[paths]\ndeny = [\"*.key\", \"secrets/\", \"Secrets/*\"]\n").unwrap();
        assert_eq!(
            p.paths.deny.matching("secrets/a.KEY"),
            vec!["*.key", "secrets/", "Secrets/*"]
        );
        assert!(p.paths.deny.matching("src/lib.rs").is_empty());
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
