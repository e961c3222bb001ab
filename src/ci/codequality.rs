//! The verdict as a GitLab code quality report: a JSON array of issues, each with a
//! description, the rule as `check_name`, a fingerprint, a severity and its file and line,
//! which GitLab shows in the merge request.
//!
//! A finding without a path is placed at `policy.toml`, line 1: the report takes no issue
//! without a location.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::Outcome;
use super::sarif::fingerprint;
use super::words::{Weight, advice, one_line, ordered, weight};
use crate::engine::verdict::Severity;

pub fn render(o: &Outcome, out: &mut dyn Write) -> io::Result<()> {
    let issues: Vec<Value> = ordered(o)
        .into_iter()
        .map(|f| {
            let severity = match (weight(o, f), f.severity) {
                (Weight::Blocks, Severity::Violation) => "blocker",
                (Weight::Blocks, _) => "critical",
                (Weight::Warns, _) => "major",
                (Weight::Informs, _) => "info",
            };
            let mut description = one_line(&f.message);
            let advice = advice(o, f);
            if !advice.is_empty() {
                description.push_str(" (");
                description.push_str(&one_line(&advice));
                description.push(')');
            }
            json!({
                "description": description,
                "check_name": f.rule,
                "fingerprint": fingerprint(f),
                "severity": severity,
                "location": {
                    "path": f.path.as_deref().unwrap_or("policy.toml"),
                    "lines": { "begin": f.line.unwrap_or(1).max(1) },
                },
            })
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &issues)?;
    writeln!(out)
}
