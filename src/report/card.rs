//! The proposal card: `git guard report --format html`, one self-contained page a reviewer
//! reads before approving.
//!
//! The page holds the goal, the risk and what it needs, every finding, the flags and approvals,
//! the tests, the checklist, the diff and the exact commands to approve or refuse. It loads
//! nothing (no network, no fonts, no images) and needs no script: every style is inline in one
//! `<style>` element and every value is escaped, so a commit message or a diff line cannot
//! write markup into the page.
//!
//! Renders an already-built [`Report`]; it reads nothing and judges nothing.

use std::io::{self, Write};

use super::{Report, status_text};
use crate::engine::verdict::Severity;

/// Colours a test can find in a screenshot: an added diff line, a removed one, a blocking
/// finding, a flag.
pub const ADDED_BG: &str = "#ccffd8";
pub const REMOVED_BG: &str = "#ffd7d5";
pub const VIOLATION_BG: &str = "#fff1f0";
pub const FLAG_BG: &str = "#fff8c5";

/// Escape text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn short(id: &str) -> &str {
    &id[..12.min(id.len())]
}

/// Write the card.
pub fn render_html(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let e = escape;
    writeln!(out, "<!DOCTYPE html>")?;
    writeln!(out, "<html lang=\"en\"><head><meta charset=\"utf-8\">")?;
    writeln!(
        out,
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
    )?;
    writeln!(
        out,
        "<title>Review: {} ({})</title>",
        e(&r.branch),
        short(&r.tip)
    )?;
    writeln!(out, "<style>{}</style></head><body>", style())?;
    let badge = match r.outcome.as_str() {
        "passed" => "ok",
        "rejected" => "bad",
        _ => "warn",
    };
    writeln!(
        out,
        "<header><h1>Review: <code>{}</code> <span class=\"badge {badge}\">{}</span></h1>",
        e(&r.branch),
        e(&r.outcome)
    )?;
    writeln!(
        out,
        "<p class=\"meta\">tip <code>{}</code> (tree <code>{}</code>) against <code>{}</code>: {} commit(s), {} file(s), +{} &minus;{}</p></header>",
        short(&r.tip),
        short(&r.tip_tree),
        e(&r.base),
        r.commits.len(),
        r.files.len(),
        r.added,
        r.removed
    )?;

    writeln!(out, "<section><h2>Goal</h2><blockquote>")?;
    for l in r.goal.lines() {
        writeln!(out, "{}<br>", e(l))?;
    }
    writeln!(out, "</blockquote></section>")?;

    let outstanding: usize = r
        .flags
        .iter()
        .flat_map(|c| &c.flags)
        .filter(|f| !f.approved())
        .count();
    writeln!(
        out,
        "<section><h2>Risk {}/5</h2><p>Consent: {}.</p><p>{}</p><ul>",
        r.risk.score,
        e(&r.consent.describe()),
        if outstanding == 0 {
            "Nothing waits for an approval.".to_string()
        } else {
            format!("{outstanding} flag(s) wait for a human approval before this can deploy.")
        }
    )?;
    for reason in &r.risk.reasons {
        writeln!(out, "<li>{}</li>", e(reason))?;
    }
    if r.risk.reasons.is_empty() {
        writeln!(out, "<li>No risk factors found.</li>")?;
    }
    writeln!(out, "</ul></section>")?;

    writeln!(out, "<section><h2>Findings</h2>")?;
    let mut any = false;
    for rv in &r.rules {
        for f in &rv.findings {
            any = true;
            let class = match f.severity {
                Severity::Violation => "finding violation",
                Severity::Flag => "finding flag",
                _ => "finding note",
            };
            writeln!(
                out,
                "<div class=\"{class}\"><b>{}</b> {}",
                e(&f.rule),
                e(&crate::engine::verdict::finding_line(f))
            )?;
            if !f.hint.is_empty() {
                writeln!(out, "<div class=\"hint\">hint: {}</div>", e(&f.hint))?;
            }
            writeln!(out, "</div>")?;
        }
    }
    if !any {
        writeln!(out, "<p>Every rule passed.</p>")?;
    }
    writeln!(out, "</section>")?;

    writeln!(out, "<section><h2>Flags and approvals</h2>")?;
    if r.flags.is_empty() {
        writeln!(out, "<p>No flags.</p>")?;
    }
    for c in &r.flags {
        writeln!(
            out,
            "<p><code>{}</code> {}</p><ul>",
            short(&c.commit),
            e(&c.summary)
        )?;
        for f in &c.flags {
            let state = if f.approved() {
                format!("approved ({})", e(&f.approved_by_short()))
            } else {
                "<b>outstanding</b>".into()
            };
            writeln!(
                out,
                "<li><code>{}</code>: {} &mdash; {state}</li>",
                e(&f.id),
                e(&f.finding.message)
            )?;
        }
        writeln!(out, "</ul>")?;
    }
    for a in &r.approvals {
        let status = status_text(&a.status);
        writeln!(
            out,
            "<p>approval <code>{}</code> of <code>{}</code> by {} at {}{}: &ldquo;{}&rdquo; ({})</p>",
            short(&a.id),
            short(&a.commit),
            e(&a.approver),
            e(&a.at),
            if a.signed { ", signed" } else { "" },
            e(&a.why),
            e(&status)
        )?;
    }
    writeln!(out, "</section>")?;

    writeln!(out, "<section><h2>Tests</h2>")?;
    match &r.test_run {
        Some(t) => {
            let verdict = if t.passed {
                "passed".to_string()
            } else if t.timed_out {
                format!("timed out after {} s", t.timeout_secs)
            } else {
                format!(
                    "failed (exit {})",
                    t.exit_code.map_or("none".into(), |c| c.to_string())
                )
            };
            writeln!(
                out,
                "<p><code>{}</code> on tree <code>{}</code> at {} by {}: <b>{}</b> in {} ms</p>",
                e(&t.command),
                short(&t.tree),
                e(&t.at),
                e(&t.actor),
                e(&verdict),
                t.duration_ms
            )?;
            if !t.output_tail.trim().is_empty() {
                let lines: Vec<&str> = t.output_tail.lines().collect();
                let tail = lines[lines.len().saturating_sub(30)..].join("\n");
                writeln!(out, "<pre class=\"out\">{}</pre>", e(&tail))?;
            }
        }
        None => writeln!(out, "<p>No recorded test run for this tree.</p>")?,
    }
    writeln!(out, "</section>")?;

    writeln!(out, "<section><h2>Checklist</h2><ul class=\"check\">")?;
    for c in &r.checklist {
        writeln!(
            out,
            "<li>{} {}</li>",
            if c.done { "&#9745;" } else { "&#9744;" },
            e(&c.text)
        )?;
    }
    writeln!(out, "</ul></section>")?;

    writeln!(out, "<section><h2>Files</h2><table>")?;
    writeln!(
        out,
        "<tr><th>change</th><th>path</th><th>+</th><th>&minus;</th></tr>"
    )?;
    for f in &r.files {
        let path = match &f.old_path {
            Some(o) => format!("{o} -> {}", f.path),
            None => f.path.clone(),
        };
        let (a, d) = if f.binary {
            ("bin".to_string(), "bin".to_string())
        } else {
            (f.added.to_string(), f.removed.to_string())
        };
        writeln!(
            out,
            "<tr><td>{}</td><td><code>{}</code></td><td>{a}</td><td>{d}</td></tr>",
            e(&f.kind),
            e(&path)
        )?;
    }
    writeln!(out, "</table></section>")?;

    write!(out, "<section><h2>Diff</h2><pre class=\"diff\">")?;
    for l in r.diff.lines() {
        let class = if l.starts_with("+++") || l.starts_with("---") {
            "file"
        } else if l.starts_with('+') {
            "add"
        } else if l.starts_with('-') {
            "del"
        } else if l.starts_with("@@") {
            "hunk"
        } else {
            "ctx"
        };
        // Block spans, no newline between them: a newline inside <pre> would be a blank line.
        write!(out, "<span class=\"{class}\">{}</span>", e(l))?;
    }
    if r.diff_truncated {
        write!(
            out,
            "<span class=\"hunk\">(the rest of the diff is left out: git diff {}..{})</span>",
            e(&r.base),
            short(&r.tip)
        )?;
    }
    writeln!(out, "</pre></section>")?;

    writeln!(out, "<section><h2>Approve or refuse</h2>")?;
    writeln!(out, "<p>To approve, after reading the above:</p><pre>")?;
    for s in &r.next_steps {
        writeln!(out, "{}", e(s))?;
    }
    writeln!(out, "</pre>")?;
    writeln!(
        out,
        "<p>To refuse: approve nothing (the deploy stays refused while a flag is outstanding), tell the agent why, and if the proposal is to go, delete its branch:</p><pre>git push origin --delete {}</pre>",
        e(r.branch.strip_prefix("refs/heads/").unwrap_or(&r.branch))
    )?;
    writeln!(out, "</section></body></html>")?;
    Ok(())
}

fn style() -> String {
    format!(
        "body{{font:15px/1.45 system-ui,sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;color:#1f2328}}\
         h1{{font-size:1.5em}}h2{{font-size:1.15em;border-bottom:1px solid #d0d7de;padding-bottom:.2em}}\
         code,pre{{font-family:ui-monospace,monospace;font-size:13px}}\
         pre{{background:#f6f8fa;padding:.6em;overflow-x:auto}}\
         .meta{{color:#59636e}}blockquote{{border-left:4px solid #d0d7de;margin:0;padding:.2em 1em}}\
         .badge{{font-size:.7em;padding:.15em .5em;border-radius:1em;vertical-align:middle}}\
         .badge.ok{{background:#dafbe1}}.badge.bad{{background:#ffebe9}}.badge.warn{{background:#fff8c5}}\
         .finding{{padding:.4em .7em;margin:.3em 0;border-left:4px solid}}\
         .finding.violation{{background:{VIOLATION_BG};border-color:#cf222e}}\
         .finding.flag{{background:{FLAG_BG};border-color:#9a6700}}\
         .finding.note{{background:#f6f8fa;border-color:#8c959f}}\
         .hint{{color:#59636e;font-size:.9em}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #d0d7de;padding:.2em .6em;text-align:left}}\
         pre.diff{{padding:0;background:#fff;border:1px solid #d0d7de}}\
         pre.diff span{{display:block;padding:0 .6em;white-space:pre}}\
         .add{{background:{ADDED_BG}}}.del{{background:{REMOVED_BG}}}.hunk{{background:#ddf4ff;color:#59636e}}\
         .file{{font-weight:bold;background:#f6f8fa}}ul.check{{list-style:none;padding-left:.5em}}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
