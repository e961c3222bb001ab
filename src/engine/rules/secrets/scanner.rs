//! Runs a rule set over lines: the prefilter picks the rules per line, each rule's regex
//! finds candidates, and each candidate is judged (its secret group, checks, entropy,
//! placeholders, allowlists) before it becomes a [`Hit`].
//!
//! The built-in rules are compiled once per process and each regex only when a line first
//! needs it (compiling every rule would cost more than judging most changes). Rules from
//! the policy arrive compiled. Prints nothing, reads no git object.

use std::sync::OnceLock;

use regex::bytes::{Match, Regex, RegexBuilder};

use super::catalog;
use super::catalog::keys::GENERIC;
use super::decode;
use super::entropy::entropy;
use super::placeholders::{contains, is_reference, is_stand_in};
use super::prefilter::Prefilter;
use super::rule::{AllowSpec, AllowTarget, Check, Group, Spec};

/// A rule from the policy, compiled when the policy was loaded.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub spec: Spec,
    /// `None` for a rule about paths alone.
    pub regex: Option<Regex>,
    pub allowlists: Vec<Allowlist>,
    pub path: Option<Regex>,
}

/// A compiled [`AllowSpec`].
#[derive(Debug, Clone)]
pub struct Allowlist {
    regexes: Vec<Regex>,
    target: AllowTarget,
    stopwords: Vec<Vec<u8>>,
    paths: Vec<Regex>,
    all: bool,
}

impl Allowlist {
    pub fn new(a: &AllowSpec) -> Result<Allowlist, String> {
        let many = |v: &[String]| v.iter().map(|r| compile(r)).collect::<Result<Vec<_>, _>>();
        Ok(Allowlist {
            regexes: many(&a.regexes)?,
            target: a.target,
            stopwords: a
                .stopwords
                .iter()
                .map(|w| w.to_ascii_lowercase().into_bytes())
                .collect(),
            paths: many(&a.paths)?,
            all: a.all,
        })
    }

    /// Whether this allowlist allows a match of `secret` (in `whole`, on `line`, in `path`).
    pub fn allows(&self, secret: &[u8], whole: &[u8], line: &[u8], path: Option<&str>) -> bool {
        let target = match self.target {
            AllowTarget::Secret => secret,
            AllowTarget::Match => whole,
            AllowTarget::Line => line,
        };
        let lower = secret.to_ascii_lowercase();
        let mut results = Vec::with_capacity(3);
        if !self.regexes.is_empty() {
            results.push(self.regexes.iter().any(|r| r.is_match(target)));
        }
        if !self.stopwords.is_empty() {
            results.push(self.stopwords.iter().any(|w| contains(&lower, w)));
        }
        if !self.paths.is_empty() {
            let p = path.unwrap_or_default().as_bytes();
            results.push(path.is_some() && self.paths.iter().any(|r| r.is_match(p)));
        }
        if results.is_empty() {
            return false;
        }
        if self.all {
            results.iter().all(|r| *r)
        } else {
            results.iter().any(|r| *r)
        }
    }
}

impl CompiledRule {
    /// Compile a spec; the error says what failed.
    pub fn new(spec: Spec) -> Result<CompiledRule, String> {
        let regex = if spec.pattern.is_empty() {
            if spec.path.is_none() {
                return Err("a rule needs a regex or a path".into());
            }
            None
        } else {
            Some(compile(&spec.pattern)?)
        };
        let allowlists = spec
            .allowlists
            .iter()
            .map(Allowlist::new)
            .collect::<Result<Vec<_>, _>>()?;
        let path = spec.path.as_deref().map(compile).transpose()?;
        if let Some(regex) = &regex {
            if let Some(Group::Index(i)) = &spec.group
                && *i >= regex.captures_len()
            {
                return Err(format!(
                    "secret group {i} does not exist: the regex has {} capture group(s)",
                    regex.captures_len() - 1
                ));
            }
            if let Some(Group::Name(n)) = &spec.group
                && !regex.capture_names().any(|c| c == Some(n.as_str()))
            {
                return Err(format!("the regex has no capture group named {n:?}"));
            }
        }
        Ok(CompiledRule {
            spec,
            regex,
            allowlists,
            path,
        })
    }
}

/// Compile a pattern as every secret rule is compiled: bytes, Unicode off.
pub fn compile(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .unicode(false)
        .size_limit(32 << 20)
        .build()
        .map_err(|e| format!("bad regex {pattern:?}: {e}"))
}

struct Builtin {
    specs: Vec<Spec>,
    regexes: Vec<OnceLock<Regex>>,
    /// Per rule: its secret is the whole match ([`secret_is_whole_match`]), so a search for
    /// the match alone finds it and no capture groups are resolved.
    whole: Vec<bool>,
    prefilter: Prefilter,
}

/// Whether a pattern's secret group is its whole match: group 0, or group 1 of a pattern
/// that is that group alone with at most a `\b` on either side (`\b(ghp_[A-Za-z0-9]{36})\b`).
/// Read from the pattern's text; `false` whenever in doubt (a class within a class, a group
/// that is not the first thing), which only costs the capture search.
pub(crate) fn secret_is_whole_match(pattern: &str, group: usize) -> bool {
    if group == 0 {
        return true;
    }
    if group != 1 {
        return false;
    }
    let p = pattern.as_bytes();
    let p = p.strip_prefix(b"\\b").unwrap_or(p);
    let Some(rest) = p.strip_prefix(b"(") else {
        return false;
    };
    if rest.starts_with(b"?") {
        return false;
    }
    let (mut depth, mut class, mut i) = (1usize, false, 0);
    while i < rest.len() {
        match rest[i] {
            b'\\' => i += 1,
            b'[' if class => return false,
            b'[' => {
                class = true;
                // A `]` first in a class (after an optional `^`) is a literal.
                if rest.get(i + 1) == Some(&b'^') {
                    i += 1;
                }
                if rest.get(i + 1) == Some(&b']') {
                    i += 1;
                }
            }
            b']' if class => class = false,
            _ if class => {}
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    let tail = &rest[i + 1..];
                    return tail.is_empty() || tail == b"\\b";
                }
            }
            _ => {}
        }
        i += 1;
    }
    false
}

fn builtin() -> &'static Builtin {
    static B: OnceLock<Builtin> = OnceLock::new();
    B.get_or_init(|| {
        let specs: Vec<Spec> = catalog::all().map(Spec::from).collect();
        let prefilter = Prefilter::new(specs.iter().map(|s| s.keywords.as_slice()));
        Builtin {
            regexes: specs.iter().map(|_| OnceLock::new()).collect(),
            whole: specs
                .iter()
                .map(|s| match s.group {
                    Some(Group::Index(g)) => secret_is_whole_match(&s.pattern, g),
                    _ => false,
                })
                .collect(),
            specs,
            prefilter,
        }
    })
}

/// One finding of one rule on one line.
#[derive(Debug, Clone)]
pub struct Hit {
    pub id: String,
    pub description: String,
    /// The secret; empty for armour (a key header), which is never shown.
    pub secret: Vec<u8>,
    /// Where the match sits in the line.
    pub start: usize,
    pub end: usize,
}

/// What a scan runs: the built-in rules (or not) and the policy's own.
pub struct Scanner<'a> {
    builtin: Option<&'static Builtin>,
    extra: &'a [CompiledRule],
    extra_prefilter: Option<Prefilter>,
    generic_entropy: f64,
}

/// A line buffer the prefilter reads in one pass.
#[derive(Default)]
pub struct Lines {
    buffer: Vec<u8>,
    starts: Vec<usize>,
}

impl Lines {
    pub fn load<'a>(&mut self, lines: impl Iterator<Item = &'a [u8]>) {
        self.buffer.clear();
        self.starts.clear();
        for line in lines {
            self.starts.push(self.buffer.len());
            self.buffer.extend_from_slice(line);
            self.buffer.push(b'\n');
        }
    }

    /// The buffer and where each line starts in it.
    pub fn parts(&self) -> (&[u8], &[usize]) {
        (&self.buffer, &self.starts)
    }

    fn line(&self, i: usize) -> &[u8] {
        let end = self.starts.get(i + 1).copied().unwrap_or(self.buffer.len());
        &self.buffer[self.starts[i]..end - 1]
    }
}

impl<'a> Scanner<'a> {
    pub fn new(builtin: bool, extra: &'a [CompiledRule], generic_entropy: f64) -> Scanner<'a> {
        Scanner {
            builtin: builtin.then(builtin_rules),
            extra,
            extra_prefilter: (!extra.is_empty())
                .then(|| Prefilter::new(extra.iter().map(|r| r.spec.keywords.as_slice()))),
            generic_entropy,
        }
    }

    /// Every hit on the loaded lines, as `(line index, hit)` in line order. With
    /// `high_confidence_only`, only rules with a fixed prefix or armour run (binary content).
    pub fn scan(
        &self,
        lines: &Lines,
        high_confidence_only: bool,
        path: Option<&str>,
    ) -> Vec<(usize, Hit)> {
        let mut out = Vec::new();
        let mut todo: Vec<(usize, usize, bool)> = Vec::new();
        if let Some(b) = self.builtin {
            todo.extend(
                b.prefilter
                    .candidates(&lines.buffer, &lines.starts)
                    .into_iter()
                    .map(|(l, r)| (l, r, true)),
            );
        }
        if let Some(p) = &self.extra_prefilter {
            todo.extend(
                p.candidates(&lines.buffer, &lines.starts)
                    .into_iter()
                    .map(|(l, r)| (l, r, false)),
            );
        }
        // Built-in rules before the policy's on each line, each in table order.
        todo.sort_by_key(|(l, r, b)| (*l, !*b, *r));
        let mut i = 0;
        while i < todo.len() {
            let line_no = todo[i].0;
            let line = lines.line(line_no);
            let mut hits: Vec<Hit> = Vec::new();
            while i < todo.len() && todo[i].0 == line_no {
                let (_, rule, is_builtin) = todo[i];
                i += 1;
                let (spec, regex, allow, whole): (&Spec, &Regex, &[Allowlist], bool) = if is_builtin
                {
                    let b = self
                        .builtin
                        .expect("built-in candidates come from the built-in set");
                    let spec = &b.specs[rule];
                    if high_confidence_only && !spec.high_confidence {
                        continue;
                    }
                    let regex = b.regexes[rule].get_or_init(|| {
                        // The patterns are constants checked by the tests: failing is a bug.
                        compile(&spec.pattern).expect("built-in secret pattern compiles")
                    });
                    (spec, regex, &[], b.whole[rule])
                } else {
                    let r = &self.extra[rule];
                    let Some(regex) = &r.regex else { continue };
                    if let Some(p) = &r.path
                        && !path.is_some_and(|path| p.is_match(path.as_bytes()))
                    {
                        continue;
                    }
                    (&r.spec, regex, r.allowlists.as_slice(), false)
                };
                if high_confidence_only && !spec.high_confidence {
                    continue;
                }
                if spec.id == GENERIC && is_builtin && !hits.is_empty() {
                    continue;
                }
                let generic = spec.id == GENERIC;
                let mut take = |whole: Match<'_>, secret: Match<'_>| {
                    if let Some(hit) = self.judge(spec, allow, whole, secret, line, path)
                        && !hits.iter().any(|h| h.start < hit.end && hit.start < h.end)
                    {
                        hits.push(hit);
                        // The generic rule speaks once a line.
                        return !generic;
                    }
                    true
                };
                if whole {
                    for m in regex.find_iter(line) {
                        if !take(m, m) {
                            break;
                        }
                    }
                } else {
                    for caps in regex.captures_iter(line) {
                        let Some(m) = caps.get(0) else { continue };
                        let Some(secret) = (match &spec.group {
                            Some(Group::Index(i)) => caps.get(*i),
                            Some(Group::Name(n)) => caps.name(n),
                            None => caps.get(1).or(Some(m)),
                        }) else {
                            continue;
                        };
                        if !take(m, secret) {
                            break;
                        }
                    }
                }
            }
            out.extend(hits.into_iter().map(|h| (line_no, h)));
        }
        out
    }

    /// A candidate match becomes a hit when its secret survives the rule's tests.
    fn judge(
        &self,
        spec: &Spec,
        allow: &[Allowlist],
        whole: Match<'_>,
        secret: Match<'_>,
        line: &[u8],
        path: Option<&str>,
    ) -> Option<Hit> {
        let value = secret.as_bytes();
        let hit = |secret: &[u8]| Hit {
            id: spec.id.clone(),
            description: spec.description.clone(),
            secret: secret.to_vec(),
            start: whole.start(),
            end: whole.end(),
        };
        if allow
            .iter()
            .any(|a| a.allows(value, whole.as_bytes(), line, path))
        {
            return None;
        }
        match spec.check {
            Check::Armour => {
                let header = String::from_utf8_lossy(value);
                let kind = header
                    .trim_matches(|c| c == '-' || c == ' ')
                    .trim_start_matches("BEGIN")
                    .replace("PRIVATE KEY", "")
                    .replace("BLOCK", "");
                let kind = kind.trim();
                let mut h = hit(b"");
                if !kind.is_empty() && spec.id == "private-key" {
                    h.description = format!("{kind} {}", spec.description);
                }
                return Some(h);
            }
            // A checksum that verifies makes the token certain.
            Check::Crc32Base62 if decode::crc32_base62_valid(value) => return Some(hit(value)),
            Check::Base64PrivateKey if !decode::base64_private_key(value) => return None,
            Check::Jwt if !decode::jwt_header(value) => return None,
            Check::BasicAuth => {
                let password = decode::basic_auth_password(value)?;
                if is_reference(&password) {
                    return None;
                }
            }
            // `name::Item` is a path (Rust, C++, PHP, Ruby), not an assignment: the `:` read
            // as one is the first of a `::`.
            Check::Generic if value.starts_with(b":") => return None,
            Check::Generic | Check::Password if value.len() < 3 || is_reference(value) => {
                return None;
            }
            _ => {}
        }
        let floor = if spec.id == GENERIC && spec.check == Check::Generic {
            self.generic_entropy
        } else {
            spec.min_entropy
        };
        if spec.check == Check::Generic && value.len() < 8 {
            return None;
        }
        if entropy(value) < floor || (spec.placeholders && is_stand_in(value)) {
            return None;
        }
        Some(hit(value))
    }
}

fn builtin_rules() -> &'static Builtin {
    builtin()
}

/// Build the built-in rules' prefilter now (it is built once per process, on first use): a
/// hook that reads the policy and the changes on other threads starts this beside them.
pub fn prepare_builtin() {
    builtin();
}

/// How many built-in rules there are (for the documentation tests and the bench).
pub fn builtin_count() -> usize {
    builtin().prefilter.rule_count()
}
