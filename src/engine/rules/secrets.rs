//! Rule module `secrets`: credentials in added lines.
//!
//! Only lines a change adds are read (never context or removed lines), in every commit of the
//! unit and in the staged index; binary files and `secrets.exclude` paths are skipped, and so
//! is a line holding `secrets.allow_marker`. Each finding is `secrets.<id>` with the path and
//! line, the secret redacted to its first four characters.
//!
//! The built-in rules (`secrets.builtin`) are compiled once per process with Unicode off, and
//! only once a line holds one of their literals; a `RegexSet` over all of them then picks the
//! rules that line meets. The generic rule (`password = "..."` and the like) reports a value only when
//! it is at least 8 characters long, not an obvious placeholder or code reference, and its
//! Shannon entropy reaches `secrets.min_entropy` bits per character. Extra rules come from
//! `secrets.extra`, already compiled with the policy.

use std::collections::HashSet;
use std::sync::OnceLock;

use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use super::{Context, LineScan, Origin};
use crate::engine::verdict::Finding;

/// One built-in rule. The secret is capture group 1 when the pattern has one, else the match.
pub struct BuiltinRule {
    pub id: &'static str,
    pub description: &'static str,
    pub pattern: &'static str,
}

/// The id of the rule whose value is judged by entropy.
pub const GENERIC: &str = "generic-secret";

/// The built-in rules, most specific first; the generic rule is last.
pub const BUILTIN_RULES: &[BuiltinRule] = &[
    BuiltinRule {
        id: "private-key",
        description: "private key block",
        pattern: r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----",
    },
    BuiltinRule {
        id: "aws-access-key",
        description: "AWS access key id",
        pattern: r"\b((?:AKIA|ASIA)[0-9A-Z]{16})\b",
    },
    BuiltinRule {
        id: "aws-secret-key",
        description: "AWS secret access key",
        pattern: r#"(?i)aws[a-z0-9_.\-]{0,20}secret[a-z0-9_.\-]{0,20}["']?\s*(?::=|=>|=|:)\s*["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+]|$)"#,
    },
    BuiltinRule {
        id: "github-token",
        description: "GitHub token",
        pattern: r"\b((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
    },
    BuiltinRule {
        id: "gitlab-token",
        description: "GitLab personal access token",
        pattern: r"\b(glpat-[A-Za-z0-9_\-]{20,})",
    },
    BuiltinRule {
        id: "slack-token",
        description: "Slack token",
        pattern: r"\b(xox[baprs]-[A-Za-z0-9\-]{10,})",
    },
    BuiltinRule {
        id: "slack-webhook",
        description: "Slack webhook URL",
        pattern: r"(https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/+\-]{20,})",
    },
    BuiltinRule {
        id: "stripe-live-key",
        description: "Stripe live key",
        pattern: r"\b((?:sk|rk)_live_[A-Za-z0-9]{20,})",
    },
    BuiltinRule {
        id: "google-api-key",
        description: "Google API key",
        pattern: r"\b(AIza[A-Za-z0-9_\-]{35})(?:[^A-Za-z0-9_\-]|$)",
    },
    BuiltinRule {
        id: GENERIC,
        description: "high-entropy secret assignment",
        pattern: r#"(?i)(?:password|passwd|secret|token|api_key|apikey)[a-z0-9_.\-]{0,20}["']?\s*(?::=|=>|=|:)\s*["'`]?([^\s"'`;,]{8,})"#,
    },
];

/// Literals, in lower case, one of which every built-in rule's match contains once lowered.
/// The added lines of a file are lowered into one buffer and searched for these at once (a
/// case-sensitive literal search runs at memory speed, a case-insensitive one does not); only
/// the lines they hit meet the rules themselves.
const LITERALS: &str = r"private key|akia|asia|aws|gh[pousr]_|github_pat_|glpat-|xox[baprs]-|hooks\.slack\.com|_live_|aiza|passw|secret|token|api_?key";

struct Compiled {
    literals: Regex,
    /// The rules themselves, compiled only when a line holds one of the literals: compiling
    /// them cost more than judging a small change, and most changes hold none.
    rules: OnceLock<Rules>,
}

struct Rules {
    set: RegexSet,
    each: Vec<Regex>,
}

/// The built-in literals, compiled on first use and kept for the life of the process.
fn builtins() -> &'static Compiled {
    static COMPILED: OnceLock<Compiled> = OnceLock::new();
    COMPILED.get_or_init(|| {
        // The patterns are constants checked by the tests: failing here is a bug, not input.
        let literals = RegexBuilder::new(LITERALS)
            .unicode(false)
            .build()
            .expect("built-in secret literals compile");
        Compiled {
            literals,
            rules: OnceLock::new(),
        }
    })
}

impl Compiled {
    fn rules(&self) -> &Rules {
        self.rules.get_or_init(|| {
            let patterns = BUILTIN_RULES.iter().map(|r| r.pattern);
            let set = RegexSetBuilder::new(patterns)
                .unicode(false)
                .build()
                .expect("built-in secret patterns compile");
            let each = BUILTIN_RULES
                .iter()
                .map(|r| {
                    RegexBuilder::new(r.pattern)
                        .unicode(false)
                        .build()
                        .expect("built-in secret pattern compiles")
                })
                .collect();
            Rules { set, each }
        })
    }
}

pub fn check(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let sp = &ctx.policy.secrets;
    if !sp.builtin && sp.extra.is_empty() {
        return;
    }
    let compiled = sp.builtin.then(builtins);
    let marker = sp.allow_marker.as_bytes();
    let max_scan = ctx.policy.hooks.max_blob_scan_bytes;
    let refname = ctx.refname();
    let mut unscanned = HashSet::new();
    let mut hits: Vec<Hit> = Vec::new();
    let mut scan = LineScan::default();
    for (origin, fc) in ctx.all_changes() {
        // Added lines are read from the commits; the cumulative change adds nothing new.
        let Origin::Commit(commit) = origin else {
            continue;
        };
        let path = fc.path();
        if fc.binary || (!sp.exclude.is_empty() && sp.exclude.is_match(path)) {
            continue;
        }
        if fc.size > max_scan && fc.added_lines.is_empty() && fc.added > 0 {
            if unscanned.insert(path.to_string()) {
                out.push(
                    Finding::note(
                        "secrets.not-scanned",
                        format!(
                            "{path} is {} bytes, over hooks.max_blob_scan_bytes ({max_scan}): not scanned for secrets",
                            fc.size
                        ),
                        "keep large files out of git, or raise hooks.max_blob_scan_bytes",
                    )
                    .at_ref(refname)
                    .at_commit(commit)
                    .at_path(path),
                );
            }
            continue;
        }
        let candidates = match compiled {
            Some(c) => {
                scan.load(fc.added_lines.iter().map(|l| l.text.as_str()), true);
                scan.hits(&c.literals)
            }
            None => Vec::new(),
        };
        let mut next = candidates.iter().map(|h| h.0).peekable();
        for (i, line) in fc.added_lines.iter().enumerate() {
            let builtin = next.next_if_eq(&i).is_some();
            // Extra rules have no literals to search for: every line meets them.
            if !builtin && sp.extra.is_empty() {
                continue;
            }
            hits.clear();
            scan_line(
                ctx,
                compiled.filter(|_| builtin),
                line.text.as_bytes(),
                &mut hits,
            );
            if hits.is_empty() || (!marker.is_empty() && contains(line.text.as_bytes(), marker)) {
                continue;
            }
            for hit in &hits {
                out.push(
                    Finding::violation(
                        format!("secrets.{}", hit.id),
                        if hit.secret.is_empty() {
                            format!("{} added", hit.description)
                        } else {
                            format!("{} `{}` added", hit.description, redact(&hit.secret))
                        },
                        format!(
                            "remove it from every commit of the change and rotate it; load \
                             secrets from the environment or a secret store. Not a secret? \
                             Add `{}` to the line",
                            sp.allow_marker
                        ),
                    )
                    .at_ref(refname)
                    .at_commit(commit)
                    .at_path(path)
                    .at_line(line.number),
                );
            }
        }
    }
}

struct Hit {
    id: String,
    description: String,
    secret: Vec<u8>,
}

/// Every rule that fires on one line. The generic rule speaks only when no specific one did.
fn scan_line(ctx: &Context<'_>, compiled: Option<&Compiled>, line: &[u8], hits: &mut Vec<Hit>) {
    let sp = &ctx.policy.secrets;
    let Some(c) = compiled else {
        scan_extra(sp, line, hits);
        return;
    };
    let rules = c.rules();
    for i in rules.set.matches(line).iter() {
        let rule = &BUILTIN_RULES[i];
        let regex = &rules.each[i];
        if rule.id == GENERIC {
            if !hits.is_empty() {
                continue;
            }
            let secret = regex
                .captures_iter(line)
                .filter_map(|caps| caps.get(1))
                .map(|m| m.as_bytes())
                .find(|v| generic_value_is_secret(v, sp.min_entropy));
            if let Some(secret) = secret {
                hits.push(Hit {
                    id: rule.id.to_string(),
                    description: rule.description.to_string(),
                    secret: secret.to_vec(),
                });
            }
        } else if rule.id == "private-key" {
            // The header is not the secret, but it is not printed either (a line holding it
            // would itself set scanners off): its kind says enough.
            if let Some(m) = regex.find(line) {
                let header = String::from_utf8_lossy(m.as_bytes());
                let kind = header
                    .trim_matches('-')
                    .trim_start_matches("BEGIN")
                    .replace("PRIVATE KEY", "")
                    .replace("BLOCK", "");
                let kind = kind.trim();
                hits.push(Hit {
                    id: rule.id.to_string(),
                    description: if kind.is_empty() {
                        rule.description.to_string()
                    } else {
                        format!("{kind} {}", rule.description)
                    },
                    secret: Vec::new(),
                });
            }
        } else if let Some(caps) = regex.captures(line) {
            let m = caps.get(1).or_else(|| caps.get(0));
            hits.push(Hit {
                id: rule.id.to_string(),
                description: rule.description.to_string(),
                secret: m.map(|m| m.as_bytes().to_vec()).unwrap_or_default(),
            });
        }
    }
    scan_extra(sp, line, hits);
}

/// The policy's own rules, on every line.
fn scan_extra(sp: &crate::engine::policy::SecretsPolicy, line: &[u8], hits: &mut Vec<Hit>) {
    for extra in &sp.extra {
        if let Some(caps) = extra.pattern.regex.captures(line) {
            let m = caps.get(1).or_else(|| caps.get(0));
            hits.push(Hit {
                id: extra.id.clone(),
                description: if extra.description.is_empty() {
                    format!("match of secrets rule {}", extra.id)
                } else {
                    extra.description.clone()
                },
                secret: m.map(|m| m.as_bytes().to_vec()).unwrap_or_default(),
            });
        }
    }
}

/// A generic assignment's value is reported when it looks like a real secret.
fn generic_value_is_secret(value: &[u8], min_entropy: f64) -> bool {
    if value.len() < 8 || is_placeholder(value) {
        return false;
    }
    entropy(value) >= min_entropy
}

/// Values that are templates, code or stand-ins, not secrets.
fn is_placeholder(value: &[u8]) -> bool {
    // Templates and variables (`$TOKEN`, `${{ secrets.X }}`, `{password}`, `<your key>`,
    // `%(pw)s`) and code (`getpass()`, `os.environ["X"]`).
    if matches!(value.first(), Some(b'$' | b'%' | b'{' | b'<'))
        || value.iter().any(|b| matches!(b, b'(' | b'[' | b'}'))
        || contains(value, b"${")
        || contains(value, b"{{")
    {
        return true;
    }
    // A dotted identifier (`settings.SECRET_KEY`, `process.env.TOKEN`) is a reference.
    let dotted = value.contains(&b'.')
        && value.split(|b| *b == b'.').all(|part| {
            part.first()
                .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
                && part.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        });
    if dotted {
        return true;
    }
    if value.iter().all(|b| *b == value[0]) {
        return true;
    }
    let lower = value.to_ascii_lowercase();
    const WORDS: &[&[u8]] = &[
        b"example",
        b"changeme",
        b"change_me",
        b"change-me",
        b"placeholder",
        b"redacted",
        b"dummy",
        b"sample",
        b"your_",
        b"your-",
        b"xxxx",
        b"****",
        b"todo",
        b"fixme",
        b"replace",
        b"insert",
        b"notasecret",
        b"not-a-secret",
    ];
    WORDS.iter().any(|w| contains(&lower, w))
}

/// Shannon entropy in bits per byte.
pub fn entropy(value: &[u8]) -> f64 {
    if value.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for b in value {
        counts[*b as usize] += 1;
    }
    let len = value.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / len;
            -p * p.log2()
        })
        .sum()
}

/// The first four characters and `****`; nothing more of a secret is ever printed.
pub fn redact(secret: &[u8]) -> String {
    if secret.is_empty() {
        return "****".into();
    }
    let head: String = String::from_utf8_lossy(&secret[..4.min(secret.len())]).into_owned();
    format!("{head}****")
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testkit::*;
    use crate::engine::verdict::Severity;

    // Every literal below is made up; the marker keeps this file clean under its own rules.
    #[rustfmt::skip]
    const SAMPLES: &[(&str, &str, &str)] = &[
        ("private-key", "-----BEGIN RSA PRIVATE KEY-----", ""), // guard:allow-secret
        ("private-key", "  -----BEGIN OPENSSH PRIVATE KEY-----", ""), // guard:allow-secret
        ("aws-access-key", "key_id = AKIAZ7Q3N4V5B6C7D8E9", "AKIA****"), // guard:allow-secret
        ("aws-access-key", "\"ASIAQWERTYUIOPASDFGH\"", "ASIA****"), // guard:allow-secret
        ("aws-secret-key", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKQ", "wJal****"), // guard:allow-secret
        ("aws-secret-key", "AWS_SECRET_ACCESS_KEY: \"Zx9+Lk2Qw8Er5Ty1Ui4Op7As3Df6Gh0Jk2Lm5Nb8\"", "Zx9+****"), // guard:allow-secret
        ("github-token", "token: ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3gH5", "ghp_****"), // guard:allow-secret
        ("github-token", "gho_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3gH5", "gho_****"), // guard:allow-secret
        ("github-token", "x = github_pat_11ABCDEFG0aBcDeFgHiJkL_mnopQRSTuvwxyz0123456789", "gith****"), // guard:allow-secret
        ("gitlab-token", "GITLAB=glpat-Ab3De5Gh7Jk9Mn1Pq3St", "glpa****"), // guard:allow-secret
        ("slack-token", "slack: xoxb-1234567890-abcdefghij", "xoxb****"), // guard:allow-secret
        ("slack-webhook", "url = \"https://hooks.slack.com/services/T0000AAAA/B0000BBBB/XXXXyyyyZZZZ1234\"", "http****"), // guard:allow-secret
        ("stripe-live-key", "STRIPE=sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_l****"), // guard:allow-secret
        ("google-api-key", "key=AIzaSyA1bC2dE3fG4hI5jK6lM7nO8pQ9rS0tU1v", "AIza****"), // guard:allow-secret
        ("generic-secret", "DB_PASSWORD=\"q8#Lm2$vR9!zX4pT\"", "q8#L****"), // guard:allow-secret
        ("generic-secret", "  \"api_key\": \"7f3a9c1e5b2d8f4a6c0e\",", "7f3a****"), // guard:allow-secret
        ("generic-secret", "client_secret: Tq9Vx2Lr7Wm4Zk8N", "Tq9V****"), // guard:allow-secret
        ("generic-secret", "apikey := \"Hk4Jd9Ls2Qp7Wz1X\"", "Hk4J****"), // guard:allow-secret
    ];

    fn scan(policy_text: &str, lines: &[&str]) -> Vec<Finding> {
        let u = unit(
            vec![commit(3, "c", vec![add("src/app.py").lines_added(lines)])],
            vec![],
        );
        run(check, &policy(policy_text), &agent(), &u)
    }

    #[test]
    fn every_builtin_rule_fires_on_its_sample_redacted() {
        for id in BUILTIN_RULES.iter().map(|r| r.id) {
            assert!(SAMPLES.iter().any(|s| s.0 == id), "no sample for {id}");
        }
        for (id, line, shown) in SAMPLES {
            let f = scan("[secrets]\nallow_marker = \"\"\n", &[line]);
            assert_eq!(ids(&f), [format!("secrets.{id}").as_str()], "{line}");
            assert_severity(&f, Severity::Violation);
            let msg = &f[0].message;
            if shown.is_empty() {
                assert!(
                    msg == "RSA private key block added"
                        || msg == "OPENSSH private key block added",
                    "{msg}"
                );
            } else {
                assert!(msg.contains(&format!("`{shown}`")), "{msg}");
                let secret_tail = &line[line.find(&shown[..4]).unwrap() + 4..];
                assert!(!msg.contains(&secret_tail[..6]), "{msg} shows the secret");
            }
            assert_eq!(f[0].path.as_deref(), Some("src/app.py"));
            assert_eq!(f[0].line, Some(1));
            assert_eq!(f[0].commit, Some(oid(3)));
        }
    }

    #[test]
    fn reports_line_numbers() {
        let f = scan("", &["fine", "also fine", "AKIAZ7Q3N4V5B6C7D8E9"]); // guard:allow-secret
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].line, Some(3));
        assert_eq!(f[0].flag_id(), "secrets.aws-access-key:src/app.py");
    }

    #[test]
    fn generic_rule_ignores_placeholders_code_and_low_entropy() {
        for line in [
            "password = \"changeme123\"",
            "password = \"aaaaaaaaaaaa\"",
            "password = \"password\"",
            "token = os.environ[\"API_TOKEN\"]",
            "secret_key = settings.SECRET_KEY",
            "  token: ${{ secrets.GITHUB_TOKEN }}",
            "password = getpass()",
            "api_key = \"<your api key>\"",
            "token: String,",
            "password: \"abc\"",
            "if password == \"hunter2\":",
            "secret = \"EXAMPLE-Qz8wX2pL9\"",
            "tokenizer = \"bert-base-uncased\"",
        ] {
            let f = scan("", &[line]);
            assert!(f.is_empty(), "{line}: {f:?}");
        }
    }

    #[test]
    fn entropy_threshold_comes_from_the_policy() {
        let line = "password = \"abcabcabcabcd\""; // guard:allow-secret
        assert!(entropy(b"abcabcabcabcd") < 2.5);
        assert!(scan("", &[line]).is_empty());
        let f = scan("[secrets]\nmin_entropy = 1.5\n", &[line]);
        assert_eq!(ids(&f), ["secrets.generic-secret"]);
    }

    #[test]
    fn specific_rule_wins_over_generic_on_one_line() {
        let line = "GITHUB_TOKEN=ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3gH5"; // guard:allow-secret
        let f = scan("", &[line]);
        assert_eq!(ids(&f), ["secrets.github-token"]);
    }

    #[test]
    fn only_added_lines_of_text_files_outside_exclude_are_read() {
        let key = "AKIAZ7Q3N4V5B6C7D8E9"; // guard:allow-secret
        let removed = modify("a.txt").lines_removed(&[key]);
        let mut binary = add("b.bin").lines_added(&[key]);
        binary.binary = true;
        let excluded = add("fixtures/keys.txt").lines_added(&[key]);
        let u = unit(
            vec![commit(1, "c", vec![removed, binary, excluded])],
            vec![],
        );
        let p = policy("[secrets]\nexclude = [\"fixtures/\"]\n");
        assert!(run(check, &p, &agent(), &u).is_empty());
        // Nor is the cumulative change read again.
        let u = unit(
            vec![commit(1, "c", vec![add("a.txt").lines_added(&[key])])],
            vec![add("a.txt").lines_added(&[key])],
        );
        assert_eq!(run(check, &policy(""), &agent(), &u).len(), 1);
    }

    #[test]
    fn allow_marker_is_honoured() {
        let marked = ["AKIAZ7Q3N4V5B6C7D8E9 # guard:allow-secret"]; // guard:allow-secret
        assert!(scan("", &marked).is_empty());
        let f = scan("[secrets]\nallow_marker = \"nosecret\"\n", &marked);
        assert_eq!(ids(&f), ["secrets.aws-access-key"]);
        assert!(f[0].hint.contains("`nosecret`"), "{}", f[0].hint);
    }

    #[test]
    fn staged_changes_are_scanned() {
        const SLACK: &str = "xoxp-1234567890-abcdefghij"; // guard:allow-secret
        let u = staged_unit(vec![add(".config").lines_added(&[SLACK])]);
        let f = run(check, &policy(""), &agent(), &u);
        assert_eq!(ids(&f), ["secrets.slack-token"]);
        assert_eq!(f[0].commit, None);
    }

    #[test]
    fn extra_rules_and_builtins_off() {
        let p = "[secrets]\nbuiltin = false\nextra = [{ id = \"internal-token\", regex = \"itk_([0-9a-f]{32})\", description = \"internal API token\" }]\n";
        let lines = [
            "t = itk_0123456789abcdef0123456789abcdef", // guard:allow-secret
            "AKIAZ7Q3N4V5B6C7D8E9",                     // guard:allow-secret
        ];
        let f = scan(p, &lines);
        assert_eq!(ids(&f), ["secrets.internal-token"]);
        assert_eq!(f[0].message, "internal API token `0123****` added");
        assert_eq!(f[0].line, Some(1));
    }

    #[test]
    fn extra_rules_read_every_line_beside_the_builtins() {
        let p = "[secrets]\nextra = [{ id = \"internal-token\", regex = \"itk_[0-9a-f]{32}\" }]\n";
        let lines = [
            "plain line",
            "t = itk_0123456789abcdef0123456789abcdef", // guard:allow-secret
            "AKIAZ7Q3N4V5B6C7D8E9",                     // guard:allow-secret
        ];
        let f = scan(p, &lines);
        assert_eq!(
            ids(&f),
            ["secrets.internal-token", "secrets.aws-access-key"]
        );
        assert_eq!(f[0].message, "internal-token `itk_****` added");
        assert_eq!((f[0].line, f[1].line), (Some(2), Some(3)));
    }

    #[test]
    fn blobs_over_the_scan_limit_get_a_note() {
        let mut big = add("dump.sql").size(9 << 20);
        big.added = 100_000;
        let u = unit(vec![commit(1, "c", vec![big])], vec![]);
        let f = run(check, &policy(""), &agent(), &u);
        assert_eq!(ids(&f), ["secrets.not-scanned"]);
        assert_severity(&f, Severity::Note);
    }

    #[test]
    fn non_utf8_and_long_lines_do_not_trip_the_scanner() {
        let long = format!("{}AKIAZ7Q3N4V5B6C7D8E9", "x ".repeat(50_000)); // guard:allow-secret
        let f = scan("", &[&long, "caf\u{e9} \u{1F600} password"]);
        assert_eq!(ids(&f), ["secrets.aws-access-key"]);
    }

    #[test]
    fn entropy_and_redaction() {
        assert_eq!(entropy(b""), 0.0);
        assert_eq!(entropy(b"aaaa"), 0.0);
        assert!((entropy(b"abcd") - 2.0).abs() < 1e-9);
        assert_eq!(redact(b"AKIAZ7Q3"), "AKIA****");
        assert_eq!(redact(b"ab"), "ab****");
    }
}
