//! The answer in each harness's own form. Pure: builds text, prints nothing.
//!
//! A refusal exits 2 with the reason on standard error, which every harness here reads as
//! "block, and tell the model this" (Claude Code, Codex CLI, Gemini CLI, Cursor), and also
//! prints the harness's JSON denial on standard output for the versions that read it:
//!
//! - Claude Code and Codex CLI: `{"hookSpecificOutput": {"hookEventName": "PreToolUse",
//!   "permissionDecision": "deny", "permissionDecisionReason": "..."}}`;
//! - Gemini CLI: `{"decision": "deny", "reason": "..."}`;
//! - Cursor: `{"permission": "deny", "user_message": "...", "agent_message": "..."}`.
//!
//! An allowed call exits 0 and grants nothing beyond what the harness would do anyway: no
//! `allow` decision that would skip the harness's own permission prompts (Gemini and Cursor
//! get `{}`, which they parse as "no decision").

use serde_json::json;

use super::{Answer, Harness, Refusal};

/// The answer to one payload; `refusals` `None` means allowed.
pub fn render(harness: Harness, event: Option<&str>, refusals: Option<Vec<Refusal>>) -> Answer {
    let Some(refusals) = refusals else {
        let stdout = match harness {
            Harness::Gemini | Harness::Cursor => "{}\n".to_string(),
            _ => String::new(),
        };
        return Answer {
            stdout,
            stderr: String::new(),
            code: 0,
            refusals: None,
        };
    };
    let text = Refusal::text(&refusals);
    let body = match harness {
        Harness::ClaudeCode | Harness::Codex | Harness::Aider => json!({
            "hookSpecificOutput": {
                "hookEventName": event.unwrap_or("PreToolUse"),
                "permissionDecision": "deny",
                "permissionDecisionReason": text,
            }
        }),
        Harness::Gemini => json!({"decision": "deny", "reason": text}),
        Harness::Cursor => json!({
            "permission": "deny",
            "user_message": text,
            "agent_message": text,
        }),
    };
    Answer {
        stdout: format!("{body}\n"),
        stderr: text,
        code: 2,
        refusals: Some(refusals),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_harness_gets_its_own_denial_and_exit_2() {
        let r = vec![Refusal::new(
            "paths.deny",
            ".env is denied",
            "do not write it",
        )];
        for h in [
            Harness::ClaudeCode,
            Harness::Codex,
            Harness::Gemini,
            Harness::Cursor,
        ] {
            let a = render(h, Some("PreToolUse"), Some(r.clone()));
            assert_eq!(a.code, 2);
            assert!(
                a.stderr.contains("[paths.deny] .env is denied"),
                "{}",
                a.stderr
            );
            assert!(a.stderr.contains("hint: do not write it"));
            let v: serde_json::Value = serde_json::from_str(&a.stdout).unwrap();
            let denied = v["hookSpecificOutput"]["permissionDecision"] == "deny"
                || v["decision"] == "deny"
                || v["permission"] == "deny";
            assert!(denied, "{h}: {v}");
        }
        let ok = render(Harness::ClaudeCode, None, None);
        assert_eq!((ok.code, ok.stdout.as_str()), (0, ""));
    }
}
