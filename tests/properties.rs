//! Property tests: no input makes the parsers panic. The policy parser (any text, and TOML
//! built from the policy's own keys with values of every type), the hook input parsers
//! (`old new ref` lines, pre-push lines, object ids, ref names), guard-exec's shell-line parser
//! and command judge, and the commit message rule. Each property runs a fixed number of cases
//! (`CASES`) from a fixed seed, so CI runs the same bounded budget every time.
//!
//! A property only asserts that the call returns (an `Ok` or an `Err`); what the parsers
//! accept and reject is tested beside them.

use std::path::{Path, PathBuf};

use git_guard::engine::policy::{KNOWN_KEYS, Policy, PolicySource};
use git_guard::exec::{CommandRules, Roots, split_shell_line};
use git_guard::hooks::{check_ref_name, parse_oid, parse_push_lines, parse_update_lines};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// Cases per property: enough to reach the odd corners, few enough for every CI run.
const CASES: u32 = 256;

/// Run `test` on `CASES` values of `strategy`, from a fixed seed.
fn check<S: Strategy>(strategy: S, test: impl Fn(S::Value))
where
    S::Value: std::fmt::Debug,
{
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    let mut runner = TestRunner::new_with_rng(config, rng);
    runner
        .run(&strategy, |v| {
            test(v);
            Ok(())
        })
        .unwrap();
}

/// A TOML value of any type, with the odd numbers a time limit or size could be given.
fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        Just("9223372036854775807".to_string()),
        Just("0".to_string()),
        Just("-1".to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        any::<bool>().prop_map(|b| b.to_string()),
        "[ -~]{0,12}".prop_map(|s| format!("{s:?}")),
        prop::collection::vec("[ -~]{0,8}", 0..4).prop_map(|v| format!("{v:?}")),
        Just("{}".to_string()),
    ]
}

/// A policy built from the policy's own keys (sections as tables, leaves as `key = value`).
fn policy_text() -> impl Strategy<Value = String> {
    let key = prop::sample::select(KNOWN_KEYS.to_vec());
    prop::collection::vec((key, toml_value()), 0..8).prop_map(|pairs| {
        let mut text = String::new();
        for (k, v) in pairs {
            match k.rsplit_once('.') {
                Some((section, leaf)) => text.push_str(&format!("[{section}]\n{leaf} = {v}\n")),
                None => text.push_str(&format!("{k} = {v}\n")),
            }
        }
        text
    })
}

#[test]
fn the_policy_parser_takes_any_text_without_a_panic() {
    check(".{0,200}", |text: String| {
        let _ = Policy::parse(&text, PolicySource::Builtin);
    });
}

#[test]
fn the_policy_parser_takes_any_value_of_any_key_without_a_panic() {
    check(policy_text(), |text| {
        if let Ok(p) = Policy::parse(&text, PolicySource::Builtin) {
            // What a policy accepts, the doors can turn into time limits.
            let now = std::time::Instant::now();
            let _ = now + std::time::Duration::from_secs(p.commands.timeout_secs);
            let _ = now + std::time::Duration::from_secs(p.tests.timeout_secs);
            let _ = now + std::time::Duration::from_secs(p.deploy.lock_wait_secs);
            let _ = now + std::time::Duration::from_secs(p.deploy.health_timeout_secs);
            let _ = now + std::time::Duration::from_millis(p.deploy.health_interval_ms);
            let _ = now + std::time::Duration::from_millis(p.hooks.deadline_ms);
        }
    });
}

/// Hook input: lines of ids, refs and noise, in git's shape and out of it.
fn hook_input() -> impl Strategy<Value = Vec<u8>> {
    let id = prop_oneof![
        "[0-9a-f]{40}",
        "[0-9a-f]{64}",
        Just("0".repeat(40)),
        "[0-9a-zA-Z]{0,70}",
    ];
    let refname = prop_oneof![
        "refs/heads/[a-z/._-]{0,20}",
        "refs/tags/[ -~]{0,12}",
        "[ -~]{0,20}",
        Just("refs/heads/a..b".to_string()),
    ];
    let line = (id.clone(), id, refname, "[ \t]{0,2}")
        .prop_map(|(a, b, r, sep)| format!("{a} {b}{sep} {r}"));
    let noise = prop::collection::vec(any::<u8>(), 0..80);
    prop_oneof![
        prop::collection::vec(line, 0..5).prop_map(|l| l.join("\n").into_bytes()),
        noise,
    ]
}

#[test]
fn the_hook_input_parsers_take_any_input_without_a_panic() {
    check(hook_input(), |input| {
        for kind in [gix::hash::Kind::Sha1, gix::hash::Kind::Sha256] {
            let _ = parse_update_lines(&input, kind);
            let _ = parse_push_lines(&input, kind);
            let text = String::from_utf8_lossy(&input);
            for word in text.split_whitespace() {
                let _ = parse_oid(word, kind);
                let _ = check_ref_name(word);
            }
        }
    });
}

/// Shell lines: words, quotes, operators, redirections and substitutions in any order.
fn shell_line() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-z./-]{1,8}",
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("\\".to_string()),
        Just("$(".to_string()),
        Just(")".to_string()),
        Just("`".to_string()),
        Just("&&".to_string()),
        Just("||".to_string()),
        Just(";".to_string()),
        Just("|".to_string()),
        Just(">".to_string()),
        Just("2>&1".to_string()),
        Just("<<".to_string()),
        Just("=".to_string()),
        Just("git push --force".to_string()),
        Just("sh -c".to_string()),
        Just("env -i".to_string()),
        "[ -~]{0,6}",
    ];
    prop::collection::vec(piece, 0..12).prop_map(|p| p.join(" "))
}

#[test]
fn guard_execs_command_parser_and_judge_take_any_line_without_a_panic() {
    let policy = Policy::builtin();
    let rules = CommandRules::new(&policy.commands, &policy.refs.protected).unwrap();
    let roots = Roots {
        writable: vec![PathBuf::from("/w/code-repo"), PathBuf::from("/w/sandbox")],
    };
    let cwd = Path::new("/w/code-repo");
    check(prop_oneof![shell_line(), ".{0,80}"], |line| {
        let _ = split_shell_line(&line);
        let _ = rules.judge_line(&line, cwd, &roots);
        let argv: Vec<String> = line.split(' ').map(String::from).collect();
        let _ = rules.judge_argv(&argv, cwd, &roots);
    });
}

#[test]
fn the_commit_message_rule_takes_any_message_without_a_panic() {
    let policy = Policy::parse(
        "[commits]\nmessage_pattern = '^[a-z]+: '\nrequired_trailers = [\"Signed-off-by\"]\n",
        PolicySource::Builtin,
    )
    .unwrap();
    check(".{0,200}", |message: String| {
        let mut out = Vec::new();
        git_guard::engine::rules::commits::check_message(&policy, &message, &mut out);
        let _ = git_guard::engine::rules::commits::trailers(&message);
    });
}
