//! Reading a policy: from a file, from text (the commit's `policy.toml`), or the built-in
//! default, and turning TOML syntax errors into [`super::Problem`]s with line and column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::de::DeTable;

use super::*;

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
        let extra = self.secrets.extra[..self.secrets.extra_own]
            .iter()
            .map(|x| {
                section(vec![
                    ("id", text(&x.spec.id)),
                    ("regex", text(&x.spec.pattern)),
                    ("description", text(&x.spec.description)),
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
                    ("agents_enabled", Value::Boolean(a.agents_enabled)),
                    ("agents_disabled_reason", text(&a.agents_disabled_reason)),
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
                    (
                        "allow_outside_symlinks",
                        Value::Boolean(self.paths.allow_outside_symlinks),
                    ),
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
                    ("runner", Value::Boolean(self.tests.runner)),
                    ("cheats", Value::Boolean(self.tests.cheats)),
                    ("command", opt(&self.tests.command)),
                    ("timeout_secs", int(self.tests.timeout_secs)),
                    (
                        "isolation",
                        text(match self.tests.isolation {
                            Isolation::Bwrap => "bwrap",
                            Isolation::None => "none",
                        }),
                    ),
                    ("network", Value::Boolean(self.tests.network)),
                    (
                        "readable",
                        Value::Array(
                            self.tests
                                .readable
                                .iter()
                                .map(|p| Value::String(p.display().to_string()))
                                .collect(),
                        ),
                    ),
                ]),
            ),
            (
                "secrets",
                section(vec![
                    ("builtin", Value::Boolean(self.secrets.builtin)),
                    ("allow_marker", text(&self.secrets.allow_marker)),
                    ("min_entropy", Value::Float(self.secrets.min_entropy)),
                    ("exclude", list(&self.secrets.exclude.patterns)),
                    ("gitleaks_config", text(&self.secrets.gitleaks_config)),
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
                    (
                        "walls",
                        Value::String(
                            match self.commands.walls {
                                super::WallsMode::Required => "required",
                                super::WallsMode::JudgedOnly => "judged-only",
                            }
                            .into(),
                        ),
                    ),
                    (
                        "network",
                        Value::String(
                            match self.commands.network {
                                super::NetworkMode::Upstream => "upstream",
                                super::NetworkMode::Open => "open",
                            }
                            .into(),
                        ),
                    ),
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
                    (
                        "one_from_risk",
                        Value::Integer(self.approvals.one_from_risk as i64),
                    ),
                    (
                        "two_from_risk",
                        Value::Integer(self.approvals.two_from_risk as i64),
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
                    ("build_command", opt(&d.build_command)),
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
                "limits",
                section(vec![
                    (
                        "agent_changes_per_day",
                        int(self.limits.agent_changes_per_day),
                    ),
                    (
                        "per",
                        text(match self.limits.per {
                            LimitPer::Agent => "agent",
                            LimitPer::Repository => "repository",
                        }),
                    ),
                    ("cooldown_hours", int(self.limits.cooldown_hours)),
                ]),
            ),
            (
                "hooks",
                section(vec![
                    ("deadline_ms", int(self.hooks.deadline_ms)),
                    (
                        "admin_import",
                        text(match self.hooks.admin_import {
                            AdminImport::Background => "background",
                            AdminImport::Reject => "reject",
                        }),
                    ),
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
                    "cannot read the policy file: {} (give the path of a policy.toml; \
                     `git guard policy show` prints the default to start from)",
                    match e.kind() {
                        std::io::ErrorKind::NotFound => "there is no such file".to_string(),
                        std::io::ErrorKind::PermissionDenied => {
                            "permission denied".to_string()
                        }
                        _ => e.to_string(),
                    }
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
            base_dir: match &source {
                PolicySource::File(p) => Some(
                    p.parent()
                        .map(|d| d.to_path_buf())
                        .filter(|d| !d.as_os_str().is_empty())
                        .unwrap_or_else(|| PathBuf::from(".")),
                ),
                _ => None,
            },
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

pub(super) fn toml_problem(text: &str, e: &toml::de::Error) -> Problem {
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
