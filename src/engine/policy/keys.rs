//! The schema of `policy.toml`: every known key, the kind of value each takes, and the walk of
//! the spanned document that reports unknown keys (with "did you mean") and wrong types all
//! at once, before serde sees the file.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::*;

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
    "actors.agents_enabled",
    "actors.agents_disabled_reason",
    "paths",
    "paths.case_insensitive",
    "paths.deny",
    "paths.allow_only",
    "paths.protected",
    "paths.allow_outside_symlinks",
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
    "tests.runner",
    "tests.cheats",
    "tests.command",
    "tests.timeout_secs",
    "tests.isolation",
    "tests.network",
    "tests.readable",
    "secrets",
    "secrets.builtin",
    "secrets.allow_marker",
    "secrets.min_entropy",
    "secrets.exclude",
    "secrets.extra",
    "secrets.gitleaks_config",
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
    "commands.walls",
    "commands.network",
    "approvals",
    "approvals.require_signature",
    "approvals.allowed_signers",
    "approvals.allow_self_approval",
    "approvals.one_from_risk",
    "approvals.two_from_risk",
    "deploy",
    "deploy.root",
    "deploy.branch",
    "deploy.keep",
    "deploy.test_command",
    "deploy.build_command",
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
    "limits",
    "limits.agent_changes_per_day",
    "limits.per",
    "limits.cooldown_hours",
    "hooks",
    "hooks.deadline_ms",
    "hooks.admin_import",
    "hooks.max_blob_scan_bytes",
    "audit",
    "audit.log",
    "audit.syslog",
    "audit.stderr",
];

/// The keys of one entry of `secrets.extra`.
pub const SECRET_RULE_KEYS: &[&str] = &[
    "id",
    "regex",
    "description",
    "keywords",
    "secret_group",
    "min_entropy",
    "placeholders",
    "binary",
    "allow",
    "stopwords",
];

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
        | "commands" | "approvals" | "deploy" | "hooks" | "audit" | "limits" => Section,
        "mode" => OneOf(&["enforce", "warn"]),
        "commands.walls" => OneOf(&["required", "judged-only"]),
        "commands.network" => OneOf(&["upstream", "open"]),
        "actors.default_role" => OneOf(&["agent", "human", "admin"]),
        "tests.isolation" => OneOf(&["bwrap", "none"]),
        "limits.per" => OneOf(&["agent", "repository"]),
        "hooks.admin_import" => OneOf(&["background", "reject"]),
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
        | "tests.readable"
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
        | "paths.allow_outside_symlinks"
        | "tests.disable_markers"
        | "tests.weakening"
        | "tests.network"
        | "tests.runner"
        | "tests.cheats"
        | "secrets.builtin"
        | "approvals.require_signature"
        | "approvals.allow_self_approval"
        | "deploy.use_recorded_tests"
        | "audit.syslog"
        | "audit.stderr"
        | "actors.agents_enabled" => Bool,
        "refs.agent_namespace"
        | "tests.command"
        | "secrets.allow_marker"
        | "secrets.gitleaks_config"
        | "commits.message_pattern"
        | "approvals.allowed_signers"
        | "deploy.root"
        | "deploy.branch"
        | "deploy.test_command"
        | "deploy.build_command"
        | "deploy.reload_command"
        | "deploy.reload_signal"
        | "deploy.pidfile"
        | "deploy.health_command"
        | "deploy.health_url"
        | "deploy.push_remote"
        | "audit.log"
        | "actors.agents_disabled_reason" => String,
        "risk.max_agent_risk" => Count(5),
        "approvals.one_from_risk" | "approvals.two_from_risk" => Count(6),
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
        | "limits.agent_changes_per_day"
        | "hooks.deadline_ms"
        | "hooks.max_blob_scan_bytes" => Count(i64::MAX as u64),
        "secrets.min_entropy" => Number,
        // A cooldown of more than ten years is a typo, and would overflow nothing but sense.
        "limits.cooldown_hours" => Count(24 * 366 * 10),
        "secrets.extra" => SecretRules,
        _ => return None,
    })
}

pub(super) fn kind_text(kind: KeyKind) -> String {
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

pub(super) fn quoted_list(v: &[&str]) -> String {
    v.iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "a string", "an integer": the article the messages need.
pub(super) fn a_type(v: &DeValue<'_>) -> String {
    let t = v.type_str();
    if t.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {t}")
    } else {
        format!("a {t}")
    }
}

/// The closest of `candidates` to `word`, when it is close enough to be a likely typo.
pub(super) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
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
    pub(super) fn walk_table(&mut self, prefix: &str, table: &mut DeTable<'_>) {
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
    pub(super) fn check_value(
        &mut self,
        key: &str,
        kind: KeyKind,
        v: &mut Spanned<DeValue<'_>>,
    ) -> bool {
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

    pub(super) fn check_secret_rule(
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
            } else if let Some(expected) = secret_rule_value_problem(name, v.get_ref()) {
                let msg = format!("expected {expected}, found {}", a_type(v.get_ref()));
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

/// What one key of a `secrets.extra` entry must hold, when `v` does not.
fn secret_rule_value_problem(name: &str, v: &DeValue<'_>) -> Option<&'static str> {
    let strings = |v: &DeValue<'_>| match v {
        DeValue::Array(a) => a.iter().all(|x| x.get_ref().is_str()),
        _ => false,
    };
    match name {
        "keywords" | "allow" | "stopwords" => (!strings(v)).then_some("a list of strings"),
        "secret_group" => match v {
            DeValue::String(_) => None,
            DeValue::Integer(i) if i.as_str().parse::<u32>().is_ok() => None,
            _ => Some("a capture group number (0 or more) or name"),
        },
        "min_entropy" => match v {
            DeValue::Integer(i) if i.as_str().parse::<u32>().is_ok() => None,
            DeValue::Float(f) if f.as_str().parse::<f64>().is_ok_and(|f| f >= 0.0) => None,
            _ => Some("a number of 0 or more"),
        },
        "placeholders" | "binary" => (!v.is_bool()).then_some("true or false"),
        _ => (!v.is_str()).then_some("a string"),
    }
}

pub(super) fn suggest(unknown: &str) -> Option<&'static str> {
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
