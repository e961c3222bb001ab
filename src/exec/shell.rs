//! The shell-line splitter: a simple shell line taken apart into its commands, with shell
//! quoting; what it cannot judge without running the shell is an error saying why. Pure.

/// A redirection of one simple command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// As written (`2>>log.txt`).
    pub text: String,
    /// Whether it opens a file for writing (`>`, `>>`, `>|`, `<>`, `&>`).
    pub writes: bool,
    /// The file (empty for a descriptor duplication such as `2>&1`).
    pub target: String,
}

/// One simple command of a shell line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShellCommand {
    /// `NAME=value` words in front of the command.
    pub assignments: Vec<(String, String)>,
    pub words: Vec<String>,
    pub redirects: Vec<Redirect>,
}

#[derive(Debug, Default)]
struct Word {
    text: String,
    /// Something in it was quoted or escaped.
    quoted: bool,
    /// An unquoted glob character.
    glob: bool,
    /// The first character was an unquoted glob character.
    glob_first: bool,
    /// An unquoted `{` followed later by an unquoted `,`.
    brace_open: bool,
    brace: bool,
    /// An unquoted `~` at the start.
    tilde: bool,
    /// The text before the first unquoted `=`, if it is a valid name (an assignment).
    assign_name: Option<String>,
}

enum Tok {
    Word(Word),
    Op(&'static str),
    Redir { fd: String, op: String },
}

const KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac",
    "function", "select", "{", "}", "[[", "]]", "!", "coproc",
];
const UNJUDGEABLE: &[&str] = &["eval", "source", ".", "alias", "trap", "builtin", "fc"];

fn tokenize(line: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = line.chars().collect();
    let mut toks = Vec::new();
    let mut cur: Option<Word> = None;
    let mut i = 0;
    macro_rules! flush {
        () => {
            if let Some(w) = cur.take() {
                toks.push(Tok::Word(w));
            }
        };
    }
    fn word(cur: &mut Option<Word>) -> &mut Word {
        cur.get_or_insert_with(Word::default)
    }
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => {
                flush!();
                i += 1;
            }
            '\n' => {
                flush!();
                toks.push(Tok::Op(";"));
                i += 1;
            }
            '#' if cur.is_none() => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '\'' => {
                let w = word(&mut cur);
                w.quoted = true;
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated single quote".into()),
                        Some('\'') => break,
                        Some(&ch) => w.text.push(ch),
                    }
                    i += 1;
                }
                i += 1;
            }
            '"' => {
                let w = word(&mut cur);
                w.quoted = true;
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated double quote".into()),
                        Some('"') => break,
                        Some('$') => {
                            return Err(
                                "`$` expansion inside double quotes cannot be judged before it runs (single-quote the text)".into(),
                            );
                        }
                        Some('`') => return Err("backtick substitution cannot be judged".into()),
                        Some('\\') => match chars.get(i + 1) {
                            Some(&e @ ('"' | '\\' | '$' | '`')) => {
                                w.text.push(e);
                                i += 1;
                            }
                            Some('\n') => i += 1,
                            _ => w.text.push('\\'),
                        },
                        Some(&ch) => w.text.push(ch),
                    }
                    i += 1;
                }
                i += 1;
            }
            '\\' => {
                match chars.get(i + 1) {
                    Some('\n') => {}
                    Some(&e) => {
                        let w = word(&mut cur);
                        w.quoted = true;
                        w.text.push(e);
                    }
                    None => return Err("trailing backslash".into()),
                }
                i += 2;
            }
            '$' => {
                return Err(
                    "`$` expansion or substitution cannot be judged before it runs (single-quote the text)".into(),
                );
            }
            '`' => return Err("backtick substitution cannot be judged".into()),
            '(' | ')' => {
                return Err("subshells and grouping `( )` are not judged: split the line".into());
            }
            '|' => {
                flush!();
                match chars.get(i + 1) {
                    Some('|') => {
                        toks.push(Tok::Op("||"));
                        i += 2;
                    }
                    Some('&') => return Err("`|&` is not judged: use `2>&1 |`".into()),
                    _ => {
                        toks.push(Tok::Op("|"));
                        i += 1;
                    }
                }
            }
            ';' => {
                flush!();
                if chars.get(i + 1) == Some(&';') {
                    return Err("`;;` outside a case statement".into());
                }
                toks.push(Tok::Op(";"));
                i += 1;
            }
            '&' => {
                flush!();
                match chars.get(i + 1) {
                    Some('&') => {
                        toks.push(Tok::Op("&&"));
                        i += 2;
                    }
                    Some('>') => {
                        let op = if chars.get(i + 2) == Some(&'>') {
                            "&>>"
                        } else {
                            "&>"
                        };
                        i += op.len();
                        toks.push(Tok::Redir {
                            fd: String::new(),
                            op: op.into(),
                        });
                    }
                    _ => {
                        return Err(
                            "background jobs (`&`) are not run: the time limit could not hold"
                                .into(),
                        );
                    }
                }
            }
            '<' | '>' => {
                // A word made only of unquoted digits right before is the descriptor.
                let fd = match &cur {
                    Some(w) if !w.quoted && w.text.chars().all(|d| d.is_ascii_digit()) => {
                        cur.take().unwrap().text
                    }
                    _ => {
                        flush!();
                        String::new()
                    }
                };
                let next = chars.get(i + 1).copied();
                let op: String = match (c, next) {
                    ('<', Some('<')) => return Err("here-documents are not judged".into()),
                    (_, Some('(')) => {
                        return Err("process substitution `<(`/`>(` cannot be judged".into());
                    }
                    ('>', Some('>')) => ">>".into(),
                    ('>', Some('|')) => ">|".into(),
                    ('>', Some('&')) => ">&".into(),
                    ('<', Some('&')) => "<&".into(),
                    ('<', Some('>')) => "<>".into(),
                    _ => c.to_string(),
                };
                i += op.len();
                toks.push(Tok::Redir { fd, op });
            }
            _ => {
                let first = cur.is_none();
                let w = word(&mut cur);
                match c {
                    '*' | '?' | '[' => {
                        w.glob = true;
                        if first {
                            w.glob_first = true;
                        }
                    }
                    '~' if first => w.tilde = true,
                    '{' => w.brace_open = true,
                    ',' if w.brace_open => w.brace = true,
                    '=' if w.assign_name.is_none() && !w.quoted => {
                        let valid = !w.text.is_empty()
                            && !w.text.starts_with(|ch: char| ch.is_ascii_digit())
                            && w.text
                                .chars()
                                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
                        if valid {
                            w.assign_name = Some(w.text.clone());
                        }
                    }
                    _ => {}
                }
                w.text.push(c);
                i += 1;
            }
        }
    }
    flush!();
    Ok(toks)
}

/// Split a simple shell line into its commands. Anything the splitter cannot judge is an error
/// saying what and why (see the module doc).
pub fn split_shell_line(line: &str) -> Result<Vec<ShellCommand>, String> {
    let toks = tokenize(line)?;
    let mut commands = Vec::new();
    let mut cur = ShellCommand::default();
    let mut empty = true;
    let mut last_op: Option<&str> = None;
    let mut it = toks.into_iter().peekable();
    while let Some(t) = it.next() {
        match t {
            Tok::Op(op) => {
                if empty {
                    if op == ";" && last_op.is_none_or(|o| o == ";") {
                        continue;
                    }
                    return Err(format!("`{op}` without a command before it"));
                }
                commands.push(std::mem::take(&mut cur));
                empty = true;
                last_op = Some(op);
            }
            Tok::Redir { fd, op } => {
                let target = match it.next() {
                    Some(Tok::Word(w)) => {
                        check_word(&w)?;
                        w.text
                    }
                    _ => return Err(format!("`{fd}{op}` without a target")),
                };
                let dup = (op == ">&" || op == "<&")
                    && (target == "-" || target.chars().all(|d| d.is_ascii_digit()));
                let writes = !dup && op != "<" && op != "<&";
                cur.redirects.push(Redirect {
                    text: format!("{fd}{op}{target}"),
                    writes,
                    target: if dup { String::new() } else { target },
                });
                empty = false;
            }
            Tok::Word(w) => {
                check_word(&w)?;
                if cur.words.is_empty()
                    && let Some(name) = &w.assign_name
                {
                    let value = w.text[name.len() + 1..].to_string();
                    cur.assignments.push((name.clone(), value));
                    empty = false;
                    continue;
                }
                if cur.words.is_empty() && !w.quoted {
                    if KEYWORDS.contains(&w.text.as_str()) {
                        return Err(format!(
                            "`{}` starts a compound command, which is not judged: run simple commands",
                            w.text
                        ));
                    }
                    if UNJUDGEABLE.contains(&w.text.as_str()) {
                        return Err(format!(
                            "`{}` runs text the guard cannot see before it runs",
                            w.text
                        ));
                    }
                }
                cur.words.push(w.text);
                empty = false;
            }
        }
    }
    if !empty {
        commands.push(cur);
    } else if matches!(last_op, Some("|" | "&&" | "||")) {
        return Err(format!("`{}` at the end of the line", last_op.unwrap()));
    }
    if commands.is_empty() {
        return Err("no command in the line".into());
    }
    Ok(commands)
}

fn check_word(w: &Word) -> Result<(), String> {
    if w.tilde {
        return Err(format!(
            "`{}`: `~` expansion is not judged: write the path",
            w.text
        ));
    }
    if w.brace {
        return Err(format!("`{}`: brace expansion is not judged", w.text));
    }
    if w.glob && (w.glob_first || w.text.starts_with('-')) {
        return Err(format!(
            "`{}`: an unquoted glob here could expand to an option: write `./{}`, or quote it",
            w.text, w.text
        ));
    }
    Ok(())
}
