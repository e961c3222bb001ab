//! Unit tests of the secrets rule: each family, the evasions it must see through (encodings,
//! split lines, binary blobs) and the samples it must leave alone. Test code only.
use super::sample::{Rng, true_positive};
use super::*;
use crate::engine::changes::TagMessage;
use crate::engine::rules::testkit::*;
use crate::engine::verdict::Severity;

// Every literal below is made up; the marker keeps this file clean under its own rules when
// a human commits it.

fn scan_as(
    policy_text: &str,
    actor: &crate::engine::identity::Actor,
    lines: &[&str],
) -> Vec<Finding> {
    let u = unit(
        vec![commit(3, "c", vec![add("src/app.py").lines_added(lines)])],
        vec![],
    );
    run(check, &policy(policy_text), actor, &u)
}

fn scan(policy_text: &str, lines: &[&str]) -> Vec<Finding> {
    scan_as(policy_text, &agent(), lines)
}

#[test]
fn there_are_at_least_150_rules_with_unique_ids_and_keywords() {
    let rules: Vec<_> = catalog::all().collect();
    assert!(rules.len() >= 150, "{} rules", rules.len());
    let mut ids: Vec<&str> = rules.iter().map(|r| r.id).collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "duplicate rule ids");
    for r in &rules {
        assert!(!r.keywords.is_empty(), "{} has no keyword", r.id);
        for k in r.keywords {
            assert_eq!(
                *k,
                k.to_ascii_lowercase(),
                "{}: keyword {k} is not lower case",
                r.id
            );
        }
        scanner::compile(r.pattern).unwrap_or_else(|e| panic!("{}: {e}", r.id));
    }
}

#[test]
fn every_rule_fires_on_a_sample_of_its_own_format_redacted() {
    let mut wrong = Vec::new();
    for (n, r) in catalog::all().enumerate() {
        let mut rng = Rng::new(n as u64 + 1);
        let line = true_positive(r, &mut rng);
        let lower = line.to_ascii_lowercase();
        if !r.keywords.iter().any(|k| lower.contains(k)) {
            wrong.push(format!(
                "{}: sample {line:?} holds none of its keywords",
                r.id
            ));
            continue;
        }
        let f = scan("[secrets]\nallow_marker = \"\"\n", &[&line]);
        let want = format!("secrets.{}", r.id);
        if !f.iter().any(|f| f.rule == want) {
            wrong.push(format!("{}: {line:?} gave {:?}", r.id, ids(&f)));
            continue;
        }
        let msg = &f.iter().find(|f| f.rule == want).unwrap().message;
        if let (Some(a), Some(b)) = (msg.find('`'), msg.rfind('`')) {
            let shown = &msg[a + 1..b];
            let head = shown.trim_end_matches('*');
            assert!(head.len() <= 4, "{}: {msg} shows too much", r.id);
        }
    }
    assert!(
        wrong.is_empty(),
        "{} rules missed their samples:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn stand_ins_of_provider_formats_are_not_reported() {
    for line in [
        "AKIAIOSFODNN7EXAMPLE", // guard:allow-secret
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", // guard:allow-secret
        "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // guard:allow-secret
        "sk_live_000000000000000000000000", // guard:allow-secret
        "STRIPE=sk_test_4eC39HqLyjWDarjtT1zdp7dc", // guard:allow-secret
        "glpat-ABCDEFGHIJKLMNOPQRSTUVWXYZ", // guard:allow-secret
        "xoxb-1234567890-1234567890-abcdefghijklmnopqrstuvwx", // guard:allow-secret
        "npm_1234567890abcdefghijklmnopqrstuvwxyz", // guard:allow-secret
        "hf_EXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPL", // guard:allow-secret
    ] {
        let f = scan("", &[line]);
        assert!(f.is_empty(), "{line}: {f:?}");
    }
}

#[test]
fn a_valid_github_checksum_is_reported_even_when_it_looks_like_a_stand_in() {
    let body = b"xxxxqW3rT5yU7iO9pA1sD3fG5hJ7kL";
    let token = format!(
        "ghp_{}{}",
        std::str::from_utf8(body).unwrap(),
        std::str::from_utf8(&decode::crc32_base62(body)).unwrap()
    );
    assert!(decode::crc32_base62_valid(token.as_bytes()));
    assert_eq!(ids(&scan("", &[&token])), ["secrets.github-pat"]);
}

#[test]
fn generic_rule_needs_a_secret_like_key_name() {
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
        "tokenizer = \"bert-base-uncased-Qz8wX2pL9vR4\"",
        "token_count = \"Qz8wX2pL9vR4mN7b\"",
        "# the secret is Qz8wX2pL9vR4mN7b",
        "password_file = /run/secrets/Qz8wX2pL9vR4mN7b",
        "api_key = API_KEY_FROM_ENVIRONMENT",
        // A path separator (`::` in Rust, C++, PHP, Ruby) is no assignment.
        "pub use cancellation_token::{CancellationToken, WaitForCancellationFuture};",
        "use crate::token::Qz8wX2pL9vR4mN7b;",
        "let t = secret::SecretKeyQz8wX2pL9::new();",
        "auto k = crypto::api_key::Qz8wX2pL9vR4mN7b;",
    ] {
        let f = scan("", &[line]);
        assert!(f.is_empty(), "{line}: {f:?}");
    }
    for line in [
        "DB_PASSWORD=\"q8#Lm2$vR9!zX4pT\"",         // guard:allow-secret
        "  \"api_key\": \"7f3a9c1e5b2d8f4a6c0e\",", // guard:allow-secret
        "client_secret: Tq9Vx2Lr7Wm4Zk8N",          // guard:allow-secret
        "apikey := \"Hk4Jd9Ls2Qp7Wz1X\"",           // guard:allow-secret
        "dbPassword = 'Tq9Vx2Lr7Wm4Zk8N'",          // guard:allow-secret
        "cancellation_token: Tq9Vx2Lr7Wm4Zk8N",     // guard:allow-secret
    ] {
        assert_eq!(
            ids(&scan("", &[line])),
            ["secrets.generic-secret"],
            "{line}"
        );
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
    assert_eq!(ids(&scan("", &[line])), ["secrets.github-pat"]);
}

#[test]
fn binary_content_meets_high_confidence_rules_only() {
    let key = "AKIAZ7Q3N4V5B6C7D2E3"; // guard:allow-secret
    let generic = "password = \"Tq9Vx2Lr7Wm4Zk8N\""; // guard:allow-secret
    let mut bin = add("b.bin").lines_added(&[key, generic]);
    bin.binary = true;
    bin.added_encoding = Encoding::Binary;
    let removed = modify("a.txt").lines_removed(&[key]);
    let excluded = add("fixtures/keys.txt").lines_added(&[key]);
    let u = unit(vec![commit(1, "c", vec![removed, bin, excluded])], vec![]);
    let f = run(
        check,
        &policy("[secrets]\nexclude = [\"fixtures/\"]\n"),
        &agent(),
        &u,
    );
    assert_eq!(ids(&f), ["secrets.aws-access-key"]);
    assert!(
        f[0].message.contains("(in binary content)"),
        "{}",
        f[0].message
    );
    // Nor is the cumulative change read again.
    let u = unit(
        vec![commit(1, "c", vec![add("a.txt").lines_added(&[key])])],
        vec![add("a.txt").lines_added(&[key])],
    );
    assert_eq!(run(check, &policy(""), &agent(), &u).len(), 1);
}

#[test]
fn an_agents_marker_raises_a_flag_a_humans_silences() {
    let marked = ["AKIAZ7Q3N4V5B6C7D2E3 # guard:allow-secret"]; // guard:allow-secret
    assert!(scan_as("", &human(), &marked).is_empty());
    let f = scan_as("", &agent(), &marked);
    assert_eq!(ids(&f), ["secrets.aws-access-key"]);
    assert_severity(&f, Severity::Flag);
    assert!(f[0].message.contains("`AKIA****`"), "{}", f[0].message);
    assert!(
        f[0].message.contains("guard:allow-secret"),
        "{}",
        f[0].message
    );
    // Another marker: the default one is text like any other.
    let f = scan_as(
        "[secrets]\nallow_marker = \"nosecret\"\n",
        &human(),
        &marked,
    );
    assert_eq!(ids(&f), ["secrets.aws-access-key"]);
    assert_severity(&f, Severity::Violation);
}

#[test]
fn no_hint_tells_how_to_switch_a_rule_off() {
    let line = "AKIAZ7Q3N4V5B6C7D2E3"; // guard:allow-secret
    for f in scan("", &[line])
        .iter()
        .chain(&scan("", &[&format!("{line} guard:allow-secret")]))
    {
        for word in [
            "allow_marker",
            "guard:allow-secret",
            "builtin",
            "exclude",
            "min_entropy",
        ] {
            assert!(!f.hint.contains(word), "{}", f.hint);
        }
    }
}

#[test]
fn staged_changes_are_scanned() {
    const SLACK: &str = "xoxp-2749302741-2749302741-2749302741-1f9d8b2a6c4e0f8b6a2c4d9e1f3a5b7c"; // guard:allow-secret
    let u = staged_unit(vec![add(".config").lines_added(&[SLACK])]);
    let f = run(check, &policy(""), &agent(), &u);
    assert_eq!(ids(&f), ["secrets.slack-user-token"]);
    assert_eq!(f[0].commit, None);
}

#[test]
fn commit_and_tag_messages_are_read() {
    let key = "AKIAZ7Q3N4V5B6C7D2E3"; // guard:allow-secret
    let mut u = unit(
        vec![commit(4, &format!("fix\n\nkey {key}\n"), vec![])],
        vec![],
    );
    u.tags.push(TagMessage {
        id: oid(9),
        message: format!("v1\n{key}\n"),
    });
    let f = run(check, &policy(""), &agent(), &u);
    assert_eq!(
        ids(&f),
        ["secrets.aws-access-key", "secrets.aws-access-key"]
    );
    assert!(
        f[0].message.contains("in the commit message (line 3)"),
        "{}",
        f[0].message
    );
    assert_eq!(f[0].commit, Some(oid(4)));
    assert!(
        f[1].message.contains("in the tag message (line 2)"),
        "{}",
        f[1].message
    );
    assert_eq!(f[1].commit, Some(oid(9)));
    // The staged index has no message to read.
    assert!(run(check, &policy(""), &agent(), &staged_unit(vec![])).is_empty());
}

#[test]
fn extra_rules_take_per_rule_fields() {
    let p = "[secrets]\nbuiltin = false\nextra = [{ id = \"internal-token\", regex = \"itk_([0-9a-f]{32})\", description = \"internal API token\" }]\n";
    let lines = [
        "t = itk_0123456789abcdef0123456789abcdef", // guard:allow-secret
        "AKIAZ7Q3N4V5B6C7D2E3",                     // guard:allow-secret
    ];
    let f = scan(p, &lines);
    assert_eq!(ids(&f), ["secrets.internal-token"]);
    assert_eq!(f[0].message, "internal API token `0123****` added");
    let p = r#"[secrets]
extra = [{ id = "itk", regex = "key=(?P<v>itk_[0-9a-f]{16})", secret_group = "v", keywords = ["itk_"], min_entropy = 3.0, placeholders = true, allow = ["^itk_0000"], stopwords = ["dead"] }]
"#;
    let lines = [
        "key=itk_9f3a1c7e5b2d8f4a", // guard:allow-secret
        "key=itk_0000c7e5b2d8f4a1", // allowed by regex
        "key=itk_9f3adeadb2d8f4a1", // a stopword
        "key=itk_aaaaaaaaaaaaaaaa", // low entropy, a placeholder
        "key=ITK_9f3a1c7e5b2d8f4a", // no keyword in the right case? (keywords ignore case)
    ];
    let f = scan(p, &lines);
    assert_eq!(ids(&f), ["secrets.itk"]);
    assert_eq!(f[0].line, Some(1));
    assert!(f[0].message.contains("`itk_****`"), "{}", f[0].message);
}

#[test]
fn extra_rule_problems_are_reported_at_their_key() {
    let bad = r#"[secrets]
extra = [{ id = "a", regex = "x(y)", secret_group = 3 }, { id = "b", regex = "z", min_entropy = "high" }]
"#;
    let e = crate::engine::policy::Policy::parse(bad, crate::engine::policy::PolicySource::Builtin)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("secrets.extra[0].secret_group: secret group 3 does not exist"),
        "{e}"
    );
    assert!(
        e.contains("secrets.extra[1].min_entropy: expected a number of 0 or more"),
        "{e}"
    );
}

#[test]
fn gitleaks_configurations_load_with_their_allowlists() {
    let text = r#"
title = "team rules"
[allowlist]
paths = ['''^vendor/''']
[[rules]]
id = "acme-token"
description = "Acme token"
regex = '''acme_(?:live|test)_([a-z0-9]{24})'''
secretGroup = 1
entropy = 3.0
keywords = ["acme_"]
[[rules.allowlists]]
regexes = ['''_test_''']
regexTarget = "match"
[[rules]]
id = "keystore-file"
description = "Java keystore"
path = '''\.jks$'''
"#;
    let rules = gitleaks::parse(text).unwrap();
    assert_eq!(rules.len(), 2);
    let line_hits = |line: &str, path: &str| {
        let scanner = Scanner::new(false, &rules, 3.5);
        let mut l = Lines::default();
        l.load(std::iter::once(line.as_bytes()));
        scanner.scan(&l, false, Some(path)).len()
    };
    assert_eq!(
        line_hits("k = acme_live_9f3a1c7e5b2d8f4a6c0e1b7d", "src/a.py"),
        1
    ); // guard:allow-secret
    assert_eq!(
        line_hits("k = acme_live_9f3a1c7e5b2d8f4a6c0e1b7d", "vendor/a.py"),
        0
    ); // guard:allow-secret
    assert_eq!(
        line_hits("k = acme_test_9f3a1c7e5b2d8f4a6c0e1b7d", "src/a.py"),
        0
    ); // guard:allow-secret
    assert_eq!(
        line_hits("k = acme_live_aaaaaaaaaaaaaaaaaaaaaaaa", "src/a.py"),
        0
    );
    assert!(
        gitleaks::parse("[extend]\nuseDefault = true\n")
            .unwrap_err()
            .contains("[extend]")
    );
    let e = gitleaks::parse("[[rules]]\nid = \"x\"\nregex = '''(unclosed'''\n").unwrap_err();
    assert!(e.contains("rules[0] (x)") && e.contains("bad regex"), "{e}");
}

#[test]
fn redaction_shows_at_most_four_characters_and_a_quarter() {
    assert_eq!(redact(b"AKIAZ7Q3N4V5B6C7D2E3"), "AKIA****");
    assert_eq!(redact(b"q8#Lm2$vR9!z"), "q8#****");
    assert_eq!(redact(b"hunter22"), "hu****");
    assert_eq!(redact(b"abc"), "****");
    assert_eq!(redact(b""), "****");
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
    let long = format!("{}AKIAZ7Q3N4V5B6C7D2E3", "x ".repeat(50_000)); // guard:allow-secret
    let f = scan("", &[&long, "caf\u{e9} \u{1F600} password"]);
    assert_eq!(ids(&f), ["secrets.aws-access-key"]);
}

#[test]
fn private_keys_are_named_by_kind_and_never_shown() {
    let f = scan("", &["-----BEGIN OPENSSH PRIVATE KEY-----"]); // guard:allow-secret
    assert_eq!(ids(&f), ["secrets.private-key"]);
    assert_eq!(f[0].message, "OPENSSH private key block added");
}

#[test]
fn the_committed_corpus_is_what_the_rules_generate() {
    let files = corpus::build();
    let dir = corpus::dir();
    let write = std::env::var_os("GUARD_WRITE_CORPUS").is_some();
    for f in &files {
        let path = dir.join(&f.name);
        let text = f.lines.join("\n") + "\n";
        if write {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "{} is stale: GUARD_WRITE_CORPUS=1 cargo test --lib corpus rewrites it",
            path.display()
        );
    }
}

#[test]
fn recall_and_false_positives_per_family_meet_the_documented_floor() {
    let files = corpus::build();
    let m = corpus::measure(&files);
    let table = corpus::table(&files, &m);
    println!("{table}");
    for f in &files {
        let t = &m[&f.name];
        let rate = t.reported as f64 / t.lines.max(1) as f64;
        if f.positive {
            assert!(
                rate >= 0.97,
                "{}: recall {rate:.3}\n{table}\n{:#?}",
                f.name,
                t.examples
            );
        } else {
            assert!(
                rate <= 0.03,
                "{}: false positives {rate:.3}\n{table}\n{:#?}",
                f.name,
                t.examples
            );
        }
    }
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/SECRETS.md"),
    )
    .unwrap_or_default();
    assert!(
        docs.contains(&table),
        "docs/SECRETS.md does not hold the measured table:\n{table}"
    );
}

/// What the syntax tree says: the pattern is capture group 1 with only look-arounds (`\b`,
/// `^`, `$`) beside it, so group 1 is the whole match.
fn group_one_is_the_whole_match(pattern: &str) -> bool {
    use regex_syntax::hir::HirKind;
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
        .unwrap_or_else(|e| panic!("{pattern}: {e}"));
    let parts = match hir.kind() {
        HirKind::Concat(parts) => parts.as_slice(),
        _ => std::slice::from_ref(&hir),
    };
    let groups: Vec<_> = parts
        .iter()
        .filter(|h| !matches!(h.kind(), HirKind::Look(_)))
        .collect();
    matches!(groups.as_slice(), [g] if matches!(g.kind(), HirKind::Capture(c) if c.index == 1))
}

#[test]
fn a_secret_read_as_the_whole_match_is_the_rules_secret_group() {
    // The scanner skips the capture search for rules whose secret is the whole match; that
    // reading of the pattern's text must never claim a pattern the syntax tree denies, and
    // on every line of the corpus the group and the match must agree.
    let files = corpus::build();
    let mut whole = 0;
    for r in catalog::all() {
        let claimed = scanner::secret_is_whole_match(r.pattern, r.group);
        if claimed {
            whole += 1;
            assert!(
                group_one_is_the_whole_match(r.pattern),
                "{}: read as a whole-match secret, but its syntax tree says otherwise",
                r.id
            );
            let re = scanner::compile(r.pattern).unwrap();
            for f in &files {
                for line in &f.lines {
                    for c in re.captures_iter(line.as_bytes()) {
                        assert_eq!(c.get(0), c.get(1), "{}: {line:?}", r.id);
                    }
                }
            }
        }
    }
    assert!(
        whole >= 100,
        "only {whole} rules read as whole-match secrets"
    );
    for (pattern, group, expected) in [
        (r"\b(ghp_[A-Za-z0-9]{36})\b", 1, true),
        (r"(AKIA[A-Z2-7]{16})", 1, true),
        (r"abc", 0, true),
        (r"\b(AIza[A-Za-z0-9_\-]{35})(?:[^A-Za-z0-9_\-]|$)", 1, false),
        (r"(a)|(b)", 1, false),
        (r"(a)+", 1, false),
        (r"(?i:key)=(\w+)", 1, false),
        (r"([)(])x", 1, false),
        (r"([)(])", 1, true),
        (r"([]()])", 1, true),
        (r"(\(x\))", 1, true),
        (r"(\))y", 1, false),
        (r"([[:alpha:]])", 1, false),
        (r"(a)", 2, false),
    ] {
        assert_eq!(
            scanner::secret_is_whole_match(pattern, group),
            expected,
            "{pattern}"
        );
        if expected && group == 1 {
            assert!(group_one_is_the_whole_match(pattern), "{pattern}");
        }
    }
}

#[test]
fn the_prefilter_names_the_same_rules_by_keyword_with_its_nfa_and_with_its_dfa() {
    let rules: Vec<Spec> = catalog::all().map(Spec::from).collect();
    let p = prefilter::Prefilter::new(rules.iter().map(|s| s.keywords.as_slice()));
    let files = corpus::build();
    let mut lines = Lines::default();
    let all: Vec<&str> = files
        .iter()
        .flat_map(|f| f.lines.iter().map(String::as_str))
        .collect();
    lines.load(all.iter().map(|l| l.as_bytes()));
    let (buffer, starts) = lines.parts();
    let before = p.candidates(buffer, starts);
    assert!(!p.reads_with_dfa());
    assert!(!before.is_empty());
    // Searched keyword by keyword (what a small commit gets): the same rules on the same
    // lines, over the whole corpus and file by file.
    use prefilter::Reader;
    assert_eq!(
        p.candidates_read_by(buffer, starts, Reader::Keywords),
        before
    );
    for f in &files {
        let mut one = Lines::default();
        one.load(f.lines.iter().map(|l| l.as_bytes()));
        let (b, s) = one.parts();
        assert_eq!(
            p.candidates_read_by(b, s, Reader::Keywords),
            p.candidates_read_by(b, s, Reader::Nfa),
            "{}",
            f.lines.join("\n")
        );
    }
    // Read past the threshold: ordinary text without a keyword.
    let filler = vec!["lorem ipsum dolor sit amet, consectetur adipiscing elit"; 20_000];
    let mut big = Lines::default();
    big.load(filler.iter().map(|l| l.as_bytes()));
    let (b, s) = big.parts();
    assert!(p.candidates(b, s).is_empty());
    assert!(p.reads_with_dfa());
    assert_eq!(p.candidates(buffer, starts), before);
}

#[test]
fn many_files_read_on_several_threads_give_what_one_thread_gives() {
    // Over PARALLEL_FROM bytes the files are shared among threads; the findings must be the
    // same, in the same order, as when each file is judged alone (one thread).
    let corpus: Vec<String> = corpus::build().into_iter().flat_map(|f| f.lines).collect();
    let lines: Vec<&str> = corpus.iter().map(String::as_str).collect();
    let names: Vec<String> = (0..6).map(|i| format!("copy{i}/corpus.txt")).collect();
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum::<usize>() * names.len();
    assert!(bytes > PARALLEL_FROM, "{bytes} bytes");
    let judge = |files: &[&String]| {
        let u = unit(
            vec![commit(
                3,
                "c",
                files.iter().map(|n| add(n).lines_added(&lines)).collect(),
            )],
            vec![],
        );
        run(check, &policy(""), &agent(), &u)
    };
    let together = judge(&names.iter().collect::<Vec<_>>());
    let alone: Vec<Finding> = names.iter().flat_map(|n| judge(&[n])).collect();
    assert!(together.len() > 1000, "{} findings", together.len());
    assert_eq!(together, alone);
}
