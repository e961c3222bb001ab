//! The verdict as GitHub workflow commands: one `::error`, `::warning` or `::notice` line per
//! finding, at its file and line, which GitHub shows on the run and in the pull request's
//! changed files; then the closing status line.
//!
//! Values are escaped as the workflow command syntax asks (`%`, CR, LF; in properties also
//! `:` and `,`), so a message cannot end its command early or start another one.

use std::io::{self, Write};

use super::Outcome;
use super::words::{Weight, advice, one_line, ordered, status_line, weight};

pub fn render(o: &Outcome, out: &mut dyn Write) -> io::Result<()> {
    for f in ordered(o) {
        let command = match weight(o, f) {
            Weight::Blocks => "error",
            Weight::Warns => "warning",
            Weight::Informs => "notice",
        };
        let mut props = Vec::new();
        if let Some(p) = &f.path {
            props.push(format!("file={}", property(p)));
            if let Some(l) = f.line {
                props.push(format!("line={l}"));
            }
        }
        props.push(format!(
            "title={}",
            property(&format!("git-guard {}", f.rule))
        ));
        let mut text = one_line(&f.message);
        let advice = advice(o, f);
        if !advice.is_empty() {
            text.push_str(" | hint: ");
            text.push_str(&one_line(&advice));
        }
        writeln!(out, "::{command} {}::{}", props.join(","), data(&text))?;
    }
    writeln!(out, "{}", data(&status_line(o)))
}

/// A command's message.
pub fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A command's property value.
pub fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}
