//! The words of a shell line as the shell will pass them: one syntax-tree node of a word
//! (`git`, `'a b'`, `"x;y"`, `a"b"c`) turned into its value with quotes removed, exactly as
//! `sh` removes them, or an error saying why its value cannot be known before the line runs.
//! Also the checks of the text between nodes and of here-documents, where a shell and the
//! grammar could disagree. Pure: reads the text it is given, nothing else.

use tree_sitter::Node;

/// The source text of a node.
pub(super) fn text<'a>(n: Node, src: &'a str) -> &'a str {
    &src[n.byte_range()]
}

/// Why a node that stands for a word cannot be known before the line runs, by its kind;
/// `None` for the kinds whose value is their text with quotes removed.
fn unknowable(n: Node, src: &str) -> Option<String> {
    Some(match n.kind() {
        "word" | "number" | "raw_string" | "string" | "concatenation" => return None,
        "simple_expansion" | "expansion" => format!(
            "`{}`: `$` expansion cannot be judged before it runs (write the value, or single-quote the text)",
            text(n, src)
        ),
        "command_substitution" if text(n, src).starts_with('`') => format!(
            "`{}`: backtick substitution cannot be judged before it runs",
            text(n, src)
        ),
        "command_substitution" => format!(
            "`{}`: the output of a command substitution cannot be judged before it runs",
            text(n, src)
        ),
        "arithmetic_expansion" => format!(
            "`{}`: arithmetic expansion cannot be judged before it runs",
            text(n, src)
        ),
        "process_substitution" => format!(
            "`{}`: process substitution `<(`/`>(` cannot be judged (and /bin/sh does not run it)",
            text(n, src)
        ),
        "ansi_c_string" | "translated_string" => format!(
            "`{}`: `$'...'` and `$\"...\"` quoting is bash's, /bin/sh reads it otherwise: use single quotes",
            text(n, src)
        ),
        "brace_expression" => format!("`{}`: brace expansion is not judged", text(n, src)),
        "array" => format!(
            "`{}`: arrays are bash's, /bin/sh does not run them",
            text(n, src)
        ),
        other => format!("`{}`: a word of kind `{other}` is not judged", text(n, src)),
    })
}

/// The value of a word node, quotes removed; an error when any part of it is known only when
/// the line runs, or could expand to more than the guard sees (see [`check_word`]).
pub(super) fn word_value(n: Node, src: &str) -> Result<String, String> {
    let n = if n.kind() == "command_name" {
        match n.named_child(0) {
            Some(c) if n.named_child_count() == 1 => c,
            _ => return Err(format!("`{}`: a command name not judged", text(n, src))),
        }
    } else {
        n
    };
    if let Some(why) = unknowable(n, src) {
        return Err(why);
    }
    if n.kind() == "concatenation" {
        let mut c = n.walk();
        for part in n.named_children(&mut c) {
            if let Some(why) = unknowable(part, src) {
                return Err(why);
            }
        }
    }
    let w = unquote(text(n, src))?;
    check_word(&w)?;
    Ok(w.text)
}

/// A word with its quotes removed, and which of its characters were not quoted.
#[derive(Debug, Default)]
pub(super) struct Unquoted {
    pub(super) text: String,
    /// Per character of `text`: it stood outside any quotes and was not escaped.
    bare: Vec<bool>,
}

impl Unquoted {
    fn push(&mut self, c: char, bare: bool) {
        self.text.push(c);
        self.bare.push(bare);
    }
}

/// Remove the quotes of one word as `sh` does: `'...'` is literal; in `"..."` a backslash
/// escapes only `$`, `` ` ``, `"`, `\` and a newline; outside quotes a backslash escapes any
/// character and a backslash-newline disappears. Any `$` or backtick that is not quoted
/// (or any that is, inside double quotes) would expand: an error. So is a character that
/// would have ended the word, which means the grammar and the shell disagree.
pub(super) fn unquote(raw: &str) -> Result<Unquoted, String> {
    let mut w = Unquoted::default();
    let mut it = raw.chars().peekable();
    let expands = || {
        format!(
            "`{raw}`: `$` expansion or substitution cannot be judged before it runs (single-quote the text)"
        )
    };
    while let Some(c) = it.next() {
        match c {
            '\'' => loop {
                match it.next() {
                    None => return Err(format!("`{raw}`: unterminated single quote")),
                    Some('\'') => break,
                    Some(ch) => w.push(ch, false),
                }
            },
            '"' => loop {
                match it.next() {
                    None => return Err(format!("`{raw}`: unterminated double quote")),
                    Some('"') => break,
                    Some('$') => return Err(expands()),
                    Some('`') => {
                        return Err(format!("`{raw}`: backtick substitution cannot be judged"));
                    }
                    Some('\\') => match it.peek().copied() {
                        Some(e @ ('"' | '\\' | '$' | '`')) => {
                            it.next();
                            w.push(e, false);
                        }
                        Some('\n') => {
                            it.next();
                        }
                        _ => w.push('\\', false),
                    },
                    Some(ch) => w.push(ch, false),
                }
            },
            '\\' => match it.next() {
                Some('\n') => {}
                Some(e) => w.push(e, false),
                None => return Err(format!("`{raw}`: trailing backslash")),
            },
            '$' => return Err(expands()),
            '`' => return Err(format!("`{raw}`: backtick substitution cannot be judged")),
            ' ' | '\t' | '\n' | '|' | '&' | ';' | '<' | '>' | '(' | ')' => {
                return Err(format!(
                    "`{raw}`: the guard cannot tell where this word ends: quote it"
                ));
            }
            ch => w.push(ch, true),
        }
    }
    Ok(w)
}

/// What `sh` (or bash as `sh`) would still expand in a word after quote removal: a leading
/// `~`, brace expansion, and an unquoted glob that could expand to any file name.
fn check_word(w: &Unquoted) -> Result<(), String> {
    let chars: Vec<char> = w.text.chars().collect();
    let bare = |i: usize| w.bare.get(i).copied().unwrap_or(false);
    if chars.first() == Some(&'~') && bare(0) {
        return Err(format!(
            "`{}`: `~` expansion is not judged: write the path",
            w.text
        ));
    }
    let open = chars
        .iter()
        .enumerate()
        .position(|(i, c)| *c == '{' && bare(i));
    if let Some(o) = open
        && chars
            .iter()
            .enumerate()
            .skip(o + 1)
            .any(|(i, c)| *c == ',' && bare(i))
        && chars
            .iter()
            .enumerate()
            .skip(o + 1)
            .any(|(i, c)| *c == '}' && bare(i))
    {
        return Err(format!("`{}`: brace expansion is not judged", w.text));
    }
    // A glob expands to the names of files: where nothing but a directory of its own comes
    // before it (`./*.rs`, `src/*.rs`), every name it gives is a path under that directory;
    // otherwise (`*.rs`, `ma*`, `g?t`) it could become an option, a subcommand or a branch
    // name (a file called `main`, `--force` or `git` in the directory), which the judge
    // would never have seen.
    if let Some(g) = chars.iter().enumerate().position(|(i, c)| {
        bare(i)
            && (matches!(c, '*' | '?')
                    // `[` opens a bracket pattern only with a `]` after it (`[` is `test`).
                    || *c == '['
                        && chars
                            .iter()
                            .enumerate()
                            .skip(i + 1)
                            .any(|(j, d)| *d == ']' && bare(j)))
    }) && !chars[..g].contains(&'/')
    {
        return Err(format!(
            "`{}`: an unquoted glob here could expand to any file name (an option, a subcommand, a branch): write `./{}`, or quote it",
            w.text, w.text
        ));
    }
    Ok(())
}

/// Whether the text between two nodes of a command (`joins_lines` false) or of a list of
/// commands (true) is only what the shell skips: blanks, backslash-newlines that do not join
/// two words, and (in a list) newlines. Anything else is text the grammar did not place.
pub(super) fn gap_ok(gap: &str, joins_lines: bool) -> bool {
    let had_continuation = gap.contains("\\\n");
    let rest = gap.replace("\\\n", "");
    if had_continuation && rest.is_empty() {
        // `gi\<newline>t`: the shell reads one word `git` where the grammar saw two.
        return false;
    }
    rest.chars()
        .all(|c| c == ' ' || c == '\t' || c == '\r' || (joins_lines && c == '\n'))
}

/// The delimiter of a here-document as written after `<<` (`EOF`, `'EOF'`, `"E F"`,
/// `\EOF`), and whether any of it was quoted (then the body is literal).
pub(super) fn heredoc_delimiter(raw: &str) -> Result<(String, bool), String> {
    let quoted = raw.contains(['\'', '"', '\\']);
    let w = unquote(raw)?;
    if w.text.is_empty() {
        return Err("a here-document without a delimiter".into());
    }
    Ok((w.text, quoted))
}

/// The body of a here-document ends, for the shell, at the first line that is exactly the
/// delimiter (after leading tabs for `<<-`). Check that the grammar ended it there: `body`
/// is the text from the start of the body to the start of the end line the grammar found,
/// `end_line` that line.
pub(super) fn heredoc_ends_where_sh_ends_it(
    delimiter: &str,
    strip_tabs: bool,
    body: &str,
    end_line: &str,
) -> Result<(), String> {
    let norm = |l: &str| {
        let l = l.strip_suffix('\r').unwrap_or(l);
        if strip_tabs {
            l.trim_start_matches('\t').to_string()
        } else {
            l.to_string()
        }
    };
    if body.lines().any(|l| norm(l) == delimiter) || norm(end_line) != delimiter {
        return Err(format!(
            "the here-document ending at `{delimiter}` cannot be placed as the shell places it: end it with a line that is exactly `{delimiter}`"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquote_removes_quotes_as_sh_does() {
        let u = |s: &str| unquote(s).map(|w| w.text);
        assert_eq!(u("a'b c'\"d\\\"e\"f\\ g").unwrap(), "ab cd\"ef g");
        assert_eq!(u("\"a\\b\"").unwrap(), "a\\b");
        assert_eq!(u("e\\val").unwrap(), "eval");
        assert_eq!(u("a\\\nb").unwrap(), "ab");
        for bad in ["$x", "\"$x\"", "a`id`", "'open", "a b", "a;b"] {
            assert!(unquote(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn gaps_that_join_words_are_refused() {
        assert!(gap_ok(" ", false));
        assert!(gap_ok(" \\\n  ", false));
        assert!(!gap_ok("\\\n", false));
        assert!(!gap_ok("\n", false));
        assert!(gap_ok("\n\n", true));
        assert!(!gap_ok(" $ ", false));
    }
}
