//! Reads a gitleaks configuration (TOML, gitleaks 8) into rules of our own, so a team's
//! existing rules run at every door, receive time included.
//!
//! Taken: each `[[rules]]` entry's `id`, `description`, `regex`, `secretGroup`, `entropy`,
//! `keywords`, `path`, and its allowlists (`[rules.allowlist]` or `[[rules.allowlists]]`:
//! `regexes`, `regexTarget`, `stopwords`, `paths`, `condition`); the global `[allowlist]` /
//! `[[allowlists]]`, applied to every rule of the file. Refused, with a reason: an
//! `[extend]` of another file or of gitleaks' own defaults (give the rules themselves), a
//! rule without `regex` and `path`, a regex the engine cannot compile. Ignored: `tags`,
//! `commits` allowlists (commit ids are not secrets' business), `title`.
//!
//! Reads the one file it is given; prints nothing.

use std::path::Path;

use serde::Deserialize;

use super::rule::{AllowSpec, AllowTarget, Check, Group, Spec};
use super::scanner::CompiledRule;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct File {
    #[serde(default)]
    extend: Option<toml::Value>,
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    allowlist: Option<RawAllow>,
    #[serde(default)]
    allowlists: Vec<RawAllow>,
    #[serde(default, rename = "title")]
    _title: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRule {
    id: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    regex: Option<String>,
    #[serde(default)]
    secret_group: Option<usize>,
    #[serde(default)]
    entropy: Option<f64>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    allowlist: Option<RawAllow>,
    #[serde(default)]
    allowlists: Vec<RawAllow>,
    #[serde(default, rename = "tags")]
    _tags: Vec<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawAllow {
    #[serde(default)]
    regexes: Vec<String>,
    #[serde(default)]
    regex_target: Option<String>,
    #[serde(default)]
    stopwords: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    condition: Option<String>,
    #[serde(default, rename = "commits")]
    _commits: Vec<String>,
    #[serde(default, rename = "description")]
    _description: Option<String>,
}

impl RawAllow {
    fn spec(&self, at: &str) -> Result<AllowSpec, String> {
        let target = match self.regex_target.as_deref().unwrap_or("secret") {
            "secret" => AllowTarget::Secret,
            "match" => AllowTarget::Match,
            "line" => AllowTarget::Line,
            other => {
                return Err(format!(
                    "{at}: regexTarget {other:?} is not one of \"secret\", \"match\", \"line\""
                ));
            }
        };
        let all = match self.condition.as_deref().unwrap_or("OR") {
            c if c.eq_ignore_ascii_case("or") => false,
            c if c.eq_ignore_ascii_case("and") => true,
            other => {
                return Err(format!(
                    "{at}: condition {other:?} is not \"OR\" or \"AND\""
                ));
            }
        };
        Ok(AllowSpec {
            regexes: self.regexes.clone(),
            target,
            stopwords: self.stopwords.clone(),
            paths: self.paths.clone(),
            all,
        })
    }
}

/// Read and compile the rules of a gitleaks configuration; the error names the file and
/// the rule.
pub fn load(path: &Path) -> Result<Vec<CompiledRule>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read the gitleaks configuration {}: {e}",
            path.display()
        )
    })?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The rules of gitleaks configuration text.
pub fn parse(text: &str) -> Result<Vec<CompiledRule>, String> {
    let file: File = toml::from_str(text).map_err(|e| e.message().trim().to_string())?;
    if file.extend.is_some() {
        return Err(
            "`[extend]` is not followed: copy the rules it names into this file \
                    (git-guard's own rules stand in for gitleaks' defaults)"
                .into(),
        );
    }
    let mut global = Vec::new();
    for (i, a) in file.allowlist.iter().chain(&file.allowlists).enumerate() {
        global.push(a.spec(&format!("allowlists[{i}]"))?);
    }
    let mut out = Vec::with_capacity(file.rules.len());
    let mut seen: Vec<&str> = Vec::new();
    for (i, r) in file.rules.iter().enumerate() {
        let at = format!("rules[{i}] ({})", r.id);
        if r.id.trim().is_empty() {
            return Err(format!("rules[{i}]: empty id"));
        }
        if seen.contains(&r.id.as_str()) {
            return Err(format!("{at}: duplicate rule id"));
        }
        seen.push(&r.id);
        let pattern = r.regex.clone().unwrap_or_default();
        if pattern.is_empty() && r.path.is_none() {
            return Err(format!("{at}: a rule needs a regex or a path"));
        }
        let mut allowlists = global.clone();
        for (j, a) in r.allowlist.iter().chain(&r.allowlists).enumerate() {
            allowlists.push(a.spec(&format!("{at} allowlists[{j}]"))?);
        }
        let spec = Spec {
            id: r.id.clone(),
            description: r.description.clone().unwrap_or_else(|| r.id.clone()),
            keywords: r.keywords.iter().map(|k| k.to_ascii_lowercase()).collect(),
            pattern,
            group: r.secret_group.filter(|g| *g > 0).map(Group::Index),
            min_entropy: r.entropy.unwrap_or(0.0),
            placeholders: false,
            high_confidence: false,
            check: Check::None,
            allowlists,
            path: r.path.clone(),
        };
        out.push(CompiledRule::new(spec).map_err(|e| format!("{at}: {e}"))?);
    }
    Ok(out)
}
