//! Unit tests of the policy: parsing, validation messages and pattern matching.

use super::*;
use super::{keys::*, patterns::*};
use globset::GlobBuilder;

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
    let ok = parse("[secrets]\nextra = [{ id = \"t\", regex = \"itk_[0-9a-f]{4}\" }]\n").unwrap();
    assert_eq!(ok.secrets.extra[0].spec.description, "t");
    assert!(
        ok.secrets.extra[0]
            .regex
            .as_ref()
            .unwrap()
            .is_match(b"key itk_00ff")
    );
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
    let p = parse("[actors]\nagents=[\"bot-*\"]\nhumans=[\"alice\"]\nadmins=[\"root\"]\n").unwrap();
    assert_eq!(p.actors.role_of("bot-7"), Role::Agent);
    assert_eq!(p.actors.role_of("alice"), Role::Human);
    assert_eq!(p.actors.role_of("root"), Role::Admin);
    assert_eq!(p.actors.role_of("mallory"), Role::Agent);
}

#[test]
fn admin_import_defaults_to_background_and_a_bad_value_names_the_key() {
    assert_eq!(
        parse("").unwrap().hooks.admin_import,
        AdminImport::Background
    );
    assert_eq!(
        parse("[hooks]\nadmin_import = \"reject\"\n")
            .unwrap()
            .hooks
            .admin_import,
        AdminImport::Reject
    );
    let e = parse("[hooks]\nadmin_import = \"backgruond\"\n").unwrap_err();
    let text = e.to_string();
    assert_eq!(e.problems.len(), 1, "{text}");
    assert!(
        text.contains(
            "2:16: hooks.admin_import: unknown value \"backgruond\" (did you mean \"background\"?); one of \"background\", \"reject\""
        ),
        "{text}"
    );
    let e = parse("[hooks]\nadmin_import = true\n").unwrap_err();
    assert!(
        e.to_string().contains("hooks.admin_import"),
        "{}",
        e.to_string()
    );
}

/// A glob's literal text is in every path it matches: a path without it is told apart
/// without compiling, so text that is not always there would let a path through. Checked
/// against globset itself, with case folded and not, on names that fold across scripts (the
/// Kelvin sign is a `k`, the long s an `s`), escapes, classes and alternates.
#[test]
fn a_path_without_a_globs_literal_text_never_matches_it() {
    let globs = [
        "**/.env",
        "**/secrets",
        "**/id_rsa*",
        "**/*.pem",
        "**/*.test.{js,ts}",
        "**/test_*.py",
        "**/*[Tt]est.java",
        "**/[!.]env",
        "**/[]]x",
        "**/[!]]x",
        "**/a[\\]]bc",
        "**/\\*lit",
        "**/{a\\,b,c}d",
        "src/test",
        "**/K8s",
        "**/ünï",
        "**/*",
    ];
    let paths = [
        ".env",
        "a/.ENV",
        "a/.env/b",
        "ſecrets",
        "x/SECRETS",
        "secret",
        "\u{212A}8s",
        "k8ſ",
        "K8S",
        "ID_RSA.pub",
        "a/b.PEM",
        "x.test.ts",
        "TEST_a.py",
        "FooTest.java",
        "xenv",
        "]x",
        "a]x",
        "a]bc",
        "*lit",
        "a,bd",
        "cd",
        "SRC/TEST",
        "ÜNÏ",
        "ünï",
        "plain.txt",
    ];
    for ci in [false, true] {
        for g in globs {
            let glob = globset::GlobBuilder::new(g)
                .literal_separator(true)
                .case_insensitive(ci)
                .backslash_escape(true)
                .empty_alternates(true)
                .build()
                .unwrap()
                .compile_matcher();
            let runs = super::patterns::literal_runs(g, ci);
            for path in paths {
                if !glob.is_match(path) {
                    continue;
                }
                for n in &runs {
                    let found = super::patterns::contains(path.as_bytes(), n, ci);
                    assert!(found, "{g:?} matches {path:?} without {n:?} (ci {ci})");
                }
            }
        }
    }
    // The runs taken, folded when case is.
    let runs = |g, ci| -> Vec<String> {
        super::patterns::literal_runs(g, ci)
            .into_iter()
            .map(|r| String::from_utf8(r).unwrap())
            .collect()
    };
    assert_eq!(runs("**/*.pem", true), [".pem"]);
    assert_eq!(runs("**/SECRETS", true), ["ecret"]);
    assert_eq!(runs("**/test_*.PY", true), ["te", "t_", ".py"]);
    assert_eq!(runs("**/test_*.PY", false), ["test_", ".PY"]);
    assert_eq!(runs("a/**/b[xy]c", false), ["a", "b", "c"]);
    assert!(runs("**/*", true).is_empty());
    assert!(runs("**/[\\]]x", true).is_empty());
}

/// Compiled when a path first may match, or at once: the same answers on every path, for the
/// built-in lists, whichever path comes first.
#[test]
fn lists_compiled_on_demand_answer_as_compiled_ones() {
    let lists: [&[&str]; 3] = [
        super::compile::defaults::DENY,
        super::compile::defaults::PROTECTED_PATHS,
        super::compile::defaults::TEST_PATHS,
    ];
    let paths = [
        "src/m01/f01.py",
        "src/lib.rs",
        "a/.ENV",
        "config/prod.yml",
        "deploy/app.service",
        ".github/workflows/ci.yml",
        "pkg/x_test.go",
        "web/a.spec.tsx",
        "tests/t.rs",
        "Src/Test/java/FooTest.java",
        "docs/README.md",
        "ſecrets/x",
        "id_rsa.pub",
        "CLAUDE.md",
    ];
    for ci in [false, true] {
        for list in lists {
            let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
            let eager = PathPatterns::new(&list, ci).unwrap();
            eager.is_match("**");
            let _ = eager.matching("tests/x");
            for path in paths {
                let fresh = PathPatterns::new(&list, ci).unwrap();
                assert_eq!(
                    fresh.matching(path),
                    eager.matching(path),
                    "{path} (ci {ci})"
                );
                let fresh = PathPatterns::new(&list, ci).unwrap();
                assert_eq!(
                    fresh.is_match(path),
                    eager.is_match(path),
                    "{path} (ci {ci})"
                );
            }
        }
    }
}
