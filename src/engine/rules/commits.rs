//! Rule module `commits`: what commit messages must say.
//!
//! - `commits.message`: a commit message that `commits.message_pattern` does not match. The
//!   pattern is searched in the whole message without its trailing newline: anchor it with
//!   `^`, and use `(?m)` for `^` and `$` at each line.
//! - `commits.trailer`: a commit message whose trailer block lacks one of
//!   `commits.required_trailers` (with a non-empty value). As in git, the trailer block is the
//!   last paragraph, never the first (the subject), made only of `Key: value` lines and their
//!   indented continuations.
//!
//! Every commit of a unit is checked; the staged index has no message yet. The commit-msg hook
//! calls [`check_message`] on the message file.

use super::Context;
use crate::engine::policy::Policy;
use crate::engine::verdict::Finding;

pub fn check(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let cp = &ctx.policy.commits;
    if cp.message_pattern.is_none() && cp.required_trailers.is_empty() {
        return;
    }
    for c in &ctx.unit.commits {
        let Some(id) = c.id else {
            continue;
        };
        let start = out.len();
        check_text(ctx.policy, &c.message, true, out);
        for f in &mut out[start..] {
            f.refname = ctx.refname().map(str::to_string);
            f.commit = Some(id);
        }
    }
}

/// Check a message about to be committed (the commit-msg hook): lines starting with `#` are
/// dropped first, as git drops them.
pub fn check_message(policy: &Policy, message: &str, out: &mut Vec<Finding>) {
    let cleaned: String = message
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    check_text(policy, &cleaned, false, out);
}

fn check_text(policy: &Policy, message: &str, committed: bool, out: &mut Vec<Finding>) {
    let cp = &policy.commits;
    let message = message.trim_end();
    let subject = message.lines().next().unwrap_or_default();
    let reword = if committed {
        // Only what the agent's own guard-exec allows: amending and rebasing are denied by
        // the default [commands], taking commits back and committing again is not.
        "make the commit again with another message (`git reset --soft HEAD~1`, then `git commit`; \
         for an older commit, reset to its parent and commit the changes again)"
    } else {
        "edit the message"
    };
    if let Some(p) = &cp.message_pattern
        && !p.regex.is_match(message.as_bytes())
    {
        out.push(Finding::violation(
            "commits.message",
            format!(
                "commit message {subject:?} does not match commits.message_pattern `{}`",
                p.source
            ),
            format!("{reword} so that it matches `{}`", p.source),
        ));
    }
    if cp.required_trailers.is_empty() {
        return;
    }
    let block = trailers(message);
    for required in &cp.required_trailers {
        let key = required.trim().trim_end_matches(':').trim();
        if key.is_empty() || block.iter().any(|(k, _)| k.eq_ignore_ascii_case(key)) {
            continue;
        }
        let elsewhere = message
            .lines()
            .any(|l| split_trailer(l).is_some_and(|(k, _)| k.eq_ignore_ascii_case(key)));
        let amend = if committed {
            format!(" (`git commit --trailer \"{key}: <value>\"` after `git reset --soft HEAD~1`)")
        } else {
            String::new()
        };
        out.push(Finding::violation(
            "commits.trailer",
            if elsewhere {
                format!(
                    "commit message {subject:?} has `{key}:` outside its trailer block; \
                     commits.required_trailers needs it there"
                )
            } else {
                format!(
                    "commit message {subject:?} lacks the trailer `{key}:` (commits.required_trailers)"
                )
            },
            format!(
                "{reword}: end it with a blank line and a last paragraph of `Key: value` lines \
                 including `{key}: <value>`{amend}"
            ),
        ));
    }
}

/// The trailers of a message: `(key, value)` from its last paragraph, when that paragraph is
/// not the first and holds only trailers and their continuation lines.
pub fn trailers(message: &str) -> Vec<(String, String)> {
    let mut paragraphs: Vec<Vec<&str>> = vec![Vec::new()];
    for line in message.lines() {
        if line.trim().is_empty() {
            if paragraphs.last().is_some_and(|p| !p.is_empty()) {
                paragraphs.push(Vec::new());
            }
        } else if let Some(p) = paragraphs.last_mut() {
            p.push(line);
        }
    }
    paragraphs.retain(|p| !p.is_empty());
    if paragraphs.len() < 2 {
        return Vec::new();
    }
    let last = &paragraphs[paragraphs.len() - 1];
    let mut out: Vec<(String, String)> = Vec::new();
    for line in last {
        if line.starts_with([' ', '\t']) && !out.is_empty() {
            continue;
        }
        if line.starts_with("(cherry picked from commit ") {
            continue;
        }
        match split_trailer(line) {
            Some((k, v)) => out.push((k.to_string(), v.to_string())),
            None => return Vec::new(),
        }
    }
    out
}

/// `Key: value` -> `("Key", "value")`; the key is letters, digits and `-`, the value not empty.
fn split_trailer(line: &str) -> Option<(&str, &str)> {
    let (key, value) = line.split_once(':')?;
    let key = key.trim_end();
    let value = value.trim();
    let valid = !key.is_empty()
        && key.starts_with(|c: char| c.is_ascii_alphanumeric())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    (valid && !value.is_empty()).then_some((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testkit::*;
    use crate::engine::verdict::Severity;

    const POLICY: &str = "[commits]\nmessage_pattern = '^(feat|fix|docs)(\\(\\w+\\))?: \\S'\nrequired_trailers = [\"Agent-Run\", \"Signed-off-by:\"]\n";

    #[test]
    fn every_commit_is_checked_and_the_staged_index_is_not() {
        let good = "feat(cli): add check\n\nBody.\n\nAgent-Run: 42\nSigned-off-by: Bot <bot@example.com>\n";
        let u = unit(
            vec![
                commit(1, good, vec![]),
                commit(2, "wip\n", vec![]),
                staged(vec![]),
            ],
            vec![],
        );
        let f = run(check, &policy(POLICY), &agent(), &u);
        assert_eq!(
            ids(&f),
            ["commits.message", "commits.trailer", "commits.trailer"]
        );
        assert_severity(&f, Severity::Violation);
        for x in &f {
            assert_eq!(x.commit, Some(oid(2)));
        }
        assert_eq!(
            f[0].message,
            "commit message \"wip\" does not match commits.message_pattern `^(feat|fix|docs)(\\(\\w+\\))?: \\S`"
        );
        // The hint names what the agent's guard-exec allows, not `git rebase -i` or `--amend`.
        assert!(
            f[0].hint.contains("git reset --soft HEAD~1"),
            "{}",
            f[0].hint
        );
        assert!(
            !f[0].hint.contains("rebase") && !f[0].hint.contains("--amend"),
            "{}",
            f[0].hint
        );
        assert_eq!(
            f[1].message,
            "commit message \"wip\" lacks the trailer `Agent-Run:` (commits.required_trailers)"
        );
        assert!(
            f[2].message.contains("`Signed-off-by:`"),
            "{}",
            f[2].message
        );
        assert!(
            f[1].hint.contains("--trailer \"Agent-Run: <value>\""),
            "{}",
            f[1].hint
        );
    }

    #[test]
    fn nothing_to_check_without_pattern_or_trailers() {
        let u = unit(vec![commit(1, "anything", vec![])], vec![]);
        assert!(run(check, &policy(""), &agent(), &u).is_empty());
    }

    #[test]
    fn trailer_block_is_the_last_paragraph_only() {
        assert_eq!(
            trailers("fix: x\n\nbody\n\nAgent-Run: 7\nSigned-off-by: A <a@b>\n  continued\n"),
            [
                ("Agent-Run".to_string(), "7".to_string()),
                ("Signed-off-by".to_string(), "A <a@b>".to_string())
            ]
        );
        // The subject is never a trailer block.
        assert!(trailers("Agent-Run: 7\n").is_empty());
        // A paragraph with prose is not a trailer block.
        assert!(trailers("fix: x\n\nAgent-Run: 7\nand some words\n").is_empty());
        // A trailer in the body does not count.
        assert!(trailers("fix: x\n\nAgent-Run: 7\n\nMore prose.\n").is_empty());
        assert!(trailers("fix: x\n\nAgent-Run:\n").is_empty());
        assert_eq!(
            trailers("fix: x\n\nAgent-Run: 1\n(cherry picked from commit abc)\n").len(),
            1
        );
    }

    #[test]
    fn check_message_strips_comments_and_names_a_misplaced_trailer() {
        let p = policy(POLICY);
        let mut out = Vec::new();
        let msg = "fix: y\n\nAgent-Run: 3\n\nprose\n# Please enter the commit message\n# Signed-off-by: nobody\n";
        check_message(&p, msg, &mut out);
        assert_eq!(ids(&out), ["commits.trailer", "commits.trailer"]);
        assert!(
            out[0]
                .message
                .contains("has `Agent-Run:` outside its trailer block"),
            "{}",
            out[0].message
        );
        assert!(
            out[1]
                .message
                .contains("lacks the trailer `Signed-off-by:`"),
            "{}",
            out[1].message
        );
        assert_eq!(out[0].commit, None);
        assert!(!out[0].hint.contains("--amend"), "{}", out[0].hint);

        let mut out = Vec::new();
        let msg = "docs: readme\n\nAgent-Run: 3\nsigned-off-by: A <a@b>\n# comment\n";
        check_message(&p, msg, &mut out);
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn pattern_sees_the_whole_message_without_trailing_newline() {
        let p = policy("[commits]\nmessage_pattern = '(?m)^Refs: #\\d+$'\n");
        let mut out = Vec::new();
        check_message(&p, "fix: a\n\nRefs: #12\n", &mut out);
        assert!(out.is_empty(), "{out:?}");
        let p = policy("[commits]\nmessage_pattern = '^[A-Z].*[^.]$'\n");
        let mut out = Vec::new();
        check_message(&p, "Add the thing\n", &mut out);
        assert!(out.is_empty(), "{out:?}");
        check_message(&p, "add the thing.\n", &mut out);
        assert_eq!(ids(&out), ["commits.message"]);
    }
}
