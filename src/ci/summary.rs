//! The verdict as a Markdown job summary (GitHub's `GITHUB_STEP_SUMMARY`, or any CI that
//! shows Markdown): the status, what was judged and by which policy, a table of findings at
//! their file and line, and how to clear the flags.
//!
//! Text from the change is escaped so it cannot add rows, links or HTML to the page.

use std::io::{self, Write};

use super::Outcome;
use super::words::{Weight, advice, one_line, ordered, plural, weight};

pub fn render(o: &Outcome, out: &mut dyn Write) -> io::Result<()> {
    let status = match o.outcome() {
        "rejected" => "❌ rejected",
        "warned" => "⚠️ passed in warn mode (reported, nothing blocked)",
        _ => "✅ passed",
    };
    writeln!(out, "## git-guard: {status}\n")?;
    writeln!(
        out,
        "{} · judged as **{}** ({}, from `{}`) · {}\n",
        cell(&o.subject.description),
        cell(&o.verdict.actor.name),
        o.verdict.actor.role,
        one_line(&o.verdict.actor.source).replace('`', "'"),
        cell(&o.verdict.policy),
    )?;
    let findings = ordered(o);
    if findings.is_empty() {
        let commits: usize = o.verdict.units.iter().map(|u| u.commits.len()).sum();
        return writeln!(out, "No findings over {commits} commit{}.", plural(commits));
    }
    writeln!(out, "| | rule | where | what | what to do |")?;
    writeln!(out, "| --- | --- | --- | --- | --- |")?;
    for f in &findings {
        let mark = match weight(o, f) {
            Weight::Blocks => "⛔ blocks",
            Weight::Warns => "⚠️ warns",
            Weight::Informs => "ℹ️",
        };
        let mut place = String::new();
        if let Some(p) = &f.path {
            place.push_str(p);
            if let Some(l) = f.line {
                place.push_str(&format!(":{l}"));
            }
        } else if let Some(r) = &f.refname {
            place.push_str(r);
        }
        if let Some(c) = f.commit {
            if !place.is_empty() {
                place.push(' ');
            }
            place.push_str(&c.to_hex_with_len(12).to_string());
        }
        writeln!(
            out,
            "| {mark} | `{}` | {} | {} | {} |",
            one_line(&f.rule).replace('`', "'"),
            cell(&place),
            cell(&f.message),
            cell(&advice(o, f)),
        )?;
    }
    writeln!(out)
}

/// Text for a table cell: one line, Markdown and HTML specials escaped.
fn cell(s: &str) -> String {
    let mut out = String::new();
    for c in one_line(s).chars() {
        match c {
            '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}
