//! Hook output: a verdict or an error, as text (`remote:` lines for the pusher) or JSON.
//!
//! Renders only; it decides nothing.

use std::io::Write;

use gix::ObjectId;

use crate::engine::verdict::{self, Verdict};
use crate::site::config::Hook;

use super::*;

pub(super) fn short(id: &ObjectId) -> String {
    id.to_hex_with_len(12).to_string()
}

pub(super) fn write_verdict(
    out: &mut dyn Write,
    format: Format,
    v: &Verdict,
) -> std::io::Result<()> {
    match format {
        Format::Json => verdict::render_json(v, out),
        Format::Text => verdict::render_text(v, out),
    }
}

pub(super) fn write_error(
    out: &mut dyn Write,
    format: Format,
    hook: Hook,
    e: &anyhow::Error,
) -> std::io::Result<()> {
    let what = match hook {
        Hook::PreCommit => "this commit",
        Hook::CommitMsg => "this commit message",
        Hook::PrePush | Hook::PreReceive | Hook::Update => "this push",
        Hook::ReferenceTransaction => "this ref update",
        Hook::PostReceive => "the accepted push for the audit log",
    };
    match format {
        Format::Json => {
            let causes: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            let doc = serde_json::json!({
                "version": 1,
                "hook": hook.name(),
                "outcome": "error",
                "exit_code": 2,
                "error": causes.first(),
                "causes": &causes[1.min(causes.len())..],
            });
            writeln!(out, "{doc}")
        }
        Format::Text => {
            let verb = if hook == Hook::PostReceive {
                "could not record"
            } else {
                "REJECTED: could not judge"
            };
            writeln!(out, "git-guard: {verb} {what}: {e}")?;
            for cause in e.chain().skip(1) {
                for line in cause.to_string().lines() {
                    writeln!(out, "  caused by: {line}")?;
                }
            }
            Ok(())
        }
    }
}
