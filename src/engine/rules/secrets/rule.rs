//! What one secret rule is: the pattern, which part of a match is the secret, the keywords
//! that decide whether the rule runs on a line, and how a match is told from a stand-in.
//!
//! Built-in rules are constants ([`Rule`]), written with the `const` builders below so that a
//! table reads one rule per line or two. Rules from the policy (`secrets.extra`, a gitleaks
//! configuration) become the same [`Spec`] at load time. Nothing here reads a change.

/// A check of the secret's own structure, beyond its pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// None: the pattern, entropy and placeholders decide.
    None,
    /// The match is armour (a private key's header): its kind is told, nothing of it printed.
    Armour,
    /// GitHub-style tokens (`ghp_`, `npm_`, ...): the last six characters are the base62
    /// CRC32 of the thirty before them. A token whose checksum verifies is reported whatever
    /// its entropy; one that does not is still judged like any other match.
    Crc32Base62,
    /// The secret is base64 whose decoding must hold one of a private-key header.
    Base64PrivateKey,
    /// A JWT: the first segment must decode to a JSON header naming `alg`.
    Jwt,
    /// `Basic` credentials: the decoding must be `user:password` in printable text.
    BasicAuth,
    /// The generic rule: the value must not look like code, a reference or a template.
    Generic,
    /// A password in a URI, `curl -u` or the like: a stand-in word (`password`, `pass`) or a
    /// template is not one.
    Password,
}

/// One built-in rule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The rule id, reported as `secrets.<id>`.
    pub id: &'static str,
    /// What was found, in a few words ("GitHub personal access token").
    pub description: &'static str,
    /// Lower-case literals; the rule runs on a line only when the line holds one of them (in
    /// any case). Empty: every line (avoid: it costs every line a regex search).
    pub keywords: &'static [&'static str],
    /// The pattern, compiled with `regex::bytes` and Unicode off.
    pub pattern: &'static str,
    /// The capture group holding the secret; 0 is the whole match.
    pub group: usize,
    /// The Shannon entropy (bits per character) the secret must reach.
    pub min_entropy: f64,
    /// Whether the secret is held against placeholders and documentation samples.
    pub placeholders: bool,
    /// Fixed prefix or armour: the rule also runs over the printable runs of binary blobs.
    pub high_confidence: bool,
    pub check: Check,
}

/// A rule with a fixed prefix, as most providers' tokens have: the secret is capture group 1,
/// entropy 3.0, placeholders recognised, run over binary blobs too.
pub const fn token(
    id: &'static str,
    description: &'static str,
    keywords: &'static [&'static str],
    pattern: &'static str,
) -> Rule {
    Rule {
        id,
        description,
        keywords,
        pattern,
        group: 1,
        min_entropy: 3.0,
        placeholders: true,
        high_confidence: true,
        check: Check::None,
    }
}

/// A rule that needs a provider's name near the value (`heroku_api_key = ...`): the value
/// alone has no prefix, so it is not high confidence and needs more entropy.
pub const fn keyed(
    id: &'static str,
    description: &'static str,
    keywords: &'static [&'static str],
    pattern: &'static str,
) -> Rule {
    Rule {
        high_confidence: false,
        min_entropy: 3.2,
        ..token(id, description, keywords, pattern)
    }
}

impl Rule {
    pub const fn entropy(self, min_entropy: f64) -> Rule {
        Rule {
            min_entropy,
            ..self
        }
    }
    pub const fn group(self, group: usize) -> Rule {
        Rule { group, ..self }
    }
    pub const fn check(self, check: Check) -> Rule {
        Rule { check, ..self }
    }
    /// The fixed part of the token is itself a run of one character (Twitter's `AAAA...`):
    /// the repeated-character test would call every real token a placeholder.
    pub const fn no_placeholders(self) -> Rule {
        Rule {
            placeholders: false,
            ..self
        }
    }
    pub const fn low_confidence(self) -> Rule {
        Rule {
            high_confidence: false,
            ..self
        }
    }
}

/// Which part of a match is the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Group {
    Index(usize),
    Name(String),
}

/// A rule ready to compile: a built-in one, or one the policy brings.
#[derive(Debug, Clone)]
pub struct Spec {
    pub id: String,
    pub description: String,
    pub keywords: Vec<String>,
    pub pattern: String,
    /// `None`: the first capture group when the pattern has one, else the whole match.
    pub group: Option<Group>,
    pub min_entropy: f64,
    pub placeholders: bool,
    pub high_confidence: bool,
    pub check: Check,
    /// A match one of these allows is not reported.
    pub allowlists: Vec<AllowSpec>,
    /// The rule runs only on paths this regex matches (gitleaks `path`). With an empty
    /// pattern, the rule is about the path alone: any added or changed file it matches.
    pub path: Option<String>,
}

/// What a match is allowed by (gitleaks allowlists; `allow` and `stopwords` of the policy).
#[derive(Debug, Clone, Default)]
pub struct AllowSpec {
    /// Regexes matched against [`AllowSpec::target`].
    pub regexes: Vec<String>,
    pub target: AllowTarget,
    /// Words (any case) the secret holds.
    pub stopwords: Vec<String>,
    /// Regexes matched against the file's path.
    pub paths: Vec<String>,
    /// Every condition given must hold (gitleaks `condition = "AND"`), not just one.
    pub all: bool,
}

/// What an allowlist regex is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AllowTarget {
    #[default]
    Secret,
    Match,
    Line,
}

impl From<&Rule> for Spec {
    fn from(r: &Rule) -> Spec {
        Spec {
            id: r.id.to_string(),
            description: r.description.to_string(),
            keywords: r.keywords.iter().map(|k| k.to_string()).collect(),
            pattern: r.pattern.to_string(),
            group: Some(Group::Index(r.group)),
            min_entropy: r.min_entropy,
            placeholders: r.placeholders,
            high_confidence: r.high_confidence,
            check: r.check,
            allowlists: Vec::new(),
            path: None,
        }
    }
}

impl Spec {
    /// A policy rule with nothing but an id and a pattern: every line, no entropy floor, no
    /// placeholder test (the team's pattern says what it means), not over binary blobs.
    pub fn custom(id: &str, description: &str, pattern: &str) -> Spec {
        Spec {
            id: id.to_string(),
            description: description.to_string(),
            keywords: Vec::new(),
            pattern: pattern.to_string(),
            group: None,
            min_entropy: 0.0,
            placeholders: false,
            high_confidence: false,
            check: Check::None,
            allowlists: Vec::new(),
            path: None,
        }
    }
}
