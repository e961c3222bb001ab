//! The verdict as a SARIF 2.1.0 log (OASIS Static Analysis Results Interchange Format), for
//! code scanning: one run of the tool `git-guard`, one rule per rule id found, one result per
//! finding at its file and line.
//!
//! A finding without a path (a ref update, a commit message) is placed at `policy.toml`, the
//! file whose rule it broke: code scanning takes no result without a location.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::Outcome;
use super::judge::{blocks, flag_of};
use super::words::{Weight, advice, one_line, ordered, weight};
use crate::engine::verdict::{Finding, Severity};

const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

pub fn render(o: &Outcome, out: &mut dyn Write) -> io::Result<()> {
    let findings = ordered(o);
    let mut rules: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &findings {
        let n = rules.len();
        rules.entry(f.rule.as_str()).or_insert(n);
    }
    let mut by_index: Vec<(&str, usize)> = rules.iter().map(|(r, i)| (*r, *i)).collect();
    by_index.sort_by_key(|(_, i)| *i);
    let rule_objects: Vec<Value> = by_index
        .iter()
        .map(|(id, _)| {
            let first = findings.iter().find(|f| f.rule == *id);
            let severity = first.map_or(Severity::Note, |f| f.severity);
            json!({
                "id": id,
                "shortDescription": { "text": format!("git-guard rule {id}") },
                "defaultConfiguration": { "level": match severity {
                    Severity::Violation => "error",
                    Severity::Flag => "warning",
                    Severity::Note => "note",
                } },
                "properties": { "tags": ["git-guard", id.split('.').next().unwrap_or(id)] },
            })
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| result(o, f, rules[f.rule.as_str()]))
        .collect();
    let doc = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "git-guard",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rule_objects,
            } },
            "automationDetails": { "id": format!("git-guard/{}/", o.subject.provider.name()) },
            "invocations": [{
                "executionSuccessful": true,
                "exitCode": o.exit_code(),
            }],
            "results": results,
            "properties": {
                "outcome": o.outcome(),
                "subject": o.subject.description,
                "policy": o.verdict.policy,
                "actor": o.verdict.actor.name,
                "role": o.verdict.actor.role.to_string(),
            },
        }],
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

fn result(o: &Outcome, f: &Finding, rule_index: usize) -> Value {
    let level = match weight(o, f) {
        Weight::Blocks => "error",
        Weight::Warns => "warning",
        Weight::Informs => "note",
    };
    let advice = advice(o, f);
    let mut text = one_line(&f.message);
    if !advice.is_empty() {
        text.push_str(" (");
        text.push_str(&one_line(&advice));
        text.push(')');
    }
    let mut region = serde_json::Map::new();
    if let Some(line) = f.line.filter(|l| *l >= 1) {
        region.insert("startLine".into(), json!(line));
    }
    let path = f.path.as_deref().unwrap_or("policy.toml");
    let mut physical = json!({
        "artifactLocation": { "uri": uri(path), "uriBaseId": "%SRCROOT%" },
    });
    if !region.is_empty() {
        physical["region"] = Value::Object(region);
    }
    let mut properties = json!({
        "severity": f.severity,
        "blocks": blocks(o, f),
    });
    if let Some(c) = f.commit {
        properties["commit"] = json!(c.to_string());
    }
    if let Some(r) = &f.refname {
        properties["ref"] = json!(r);
    }
    if f.severity == Severity::Flag {
        properties["flagId"] = json!(f.flag_id());
        properties["approvedBy"] = json!(flag_of(o, f).map(|s| s.approved_by.clone()));
    }
    json!({
        "ruleId": f.rule,
        "ruleIndex": rule_index,
        "level": level,
        "message": { "text": text },
        "locations": [{ "physicalLocation": physical }],
        "partialFingerprints": { "gitGuardFinding/v1": fingerprint(f) },
        "properties": properties,
    })
}

/// A stable id of a finding across runs: its rule, path, line and (redacted) message.
pub fn fingerprint(f: &Finding) -> String {
    let mut h = Sha256::new();
    for part in [
        f.rule.as_str(),
        f.path.as_deref().unwrap_or(""),
        &f.line.map(|l| l.to_string()).unwrap_or_default(),
        &f.message,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A repository path as a relative URI reference: every byte outside the unreserved set
/// and `/` percent-encoded.
pub fn uri(path: &str) -> String {
    let mut s = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}
