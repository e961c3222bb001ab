//! The shell-line parser: a shell line read with a real shell grammar (tree-sitter-bash) and
//! walked to every simple command it runs, wherever it stands: in pipelines and lists, in
//! subshells and `{ }` groups, in `if`, `while`, `until`, `for` and `case` bodies, in function
//! bodies, in command substitutions whose output only feeds data (an assignment's value, a
//! here-document, a `for` list, a `case` word), and behind `!`. Each command comes with its
//! assignments, its words with quotes removed as `sh` removes them, and its redirections.
//!
//! What cannot be known before the line runs is an error saying why, never a guess: a word
//! holding an expansion or a substitution (its value is made when it runs), arithmetic,
//! process substitution, bash-only syntax that `/bin/sh` reads otherwise, background jobs,
//! text the grammar could not place (ERROR and MISSING nodes, text between nodes, a
//! backslash-newline that joins two words) and here-documents that would not end where the
//! shell ends them. Pure: parses the text it is given; runs nothing, judges nothing.

use tree_sitter::{Node, Parser};

use super::shell_words::{
    gap_ok, heredoc_delimiter, heredoc_ends_where_sh_ends_it, text, word_value,
};

/// A redirection of one simple command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// As written, quotes removed (`2>>log.txt`).
    pub text: String,
    /// Whether it opens a file for writing (`>`, `>>`, `>|`, `&>`, `&>>`, `>&FILE`).
    pub writes: bool,
    /// The file (empty for a descriptor duplication such as `2>&1`, or a here-document).
    pub target: String,
}

/// One simple command of a shell line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShellCommand {
    /// `NAME=value` words in front of the command. A value made when the line runs
    /// (`X=$(date)`) is kept as written: the judge reads only the names.
    pub assignments: Vec<(String, String)>,
    pub words: Vec<String>,
    /// Its own redirections and those of the groups and loops around it.
    pub redirects: Vec<Redirect>,
    /// It stands in a loop body or a function: it may run more than once, or later.
    pub repeats: bool,
}

/// Every simple command of a shell line, in the order written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShellLine {
    pub commands: Vec<ShellCommand>,
    /// The first construct beyond a flat list of simple commands joined by `|`, `&&`, `||`,
    /// `;` and newlines (a subshell, a group, `if`, a loop, a function, a substitution), if
    /// the line has one.
    pub compound: Option<String>,
}

/// The last character a shell line may hold (see [`parse_shell_line`]).
const MAX_CHAR: u32 = 0xFFFF;

/// Shell reserved words: as a command name they mean the grammar and the shell disagree.
const KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac",
    "function", "select", "{", "}", "[[", "]]", "!", "coproc", "in",
];
/// Builtins that run text the splitter cannot see, refused where they stand as a command.
const UNJUDGEABLE: &[&str] = &["eval", "source", ".", "alias", "trap", "builtin", "fc"];

/// Parse a shell line into every simple command it runs (see the module doc). Anything that
/// cannot be judged before it runs is an error saying what and why.
pub fn parse_shell_line(line: &str) -> Result<ShellLine, String> {
    // The bash grammar's lexer crashes the whole process on some characters of the higher
    // Unicode planes (`{` followed by U+C06B8 or U+E0001 is enough): a crash would let a
    // harness run the tool unjudged, so such a line is refused before it is parsed.
    if let Some(c) = line.chars().find(|c| u32::from(*c) > MAX_CHAR) {
        return Err(format!(
            "the line holds U+{:04X}, a character the shell grammar cannot read safely; write it \
             in a file instead of on the command line",
            u32::from(c)
        ));
    }
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_bash::LANGUAGE.into())
        .map_err(|e| format!("cannot load the shell grammar: {e}"))?;
    let tree = parser
        .parse(line, None)
        .ok_or_else(|| "the shell grammar could not read the line".to_string())?;
    let root = tree.root_node();
    if let Some(bad) = first_error(root) {
        let at = text(bad, line);
        let what = if bad.is_missing() {
            format!("`{}` is missing", bad.kind())
        } else if at.trim().is_empty() {
            "the line is incomplete".to_string()
        } else {
            format!("at `{}`", at.trim())
        };
        return Err(format!(
            "the line does not parse as a shell line ({what}, byte {}): write it so that sh reads it as written",
            bad.start_byte()
        ));
    }
    let mut w = Walker {
        src: line,
        out: ShellLine::default(),
    };
    w.statements(root, &Ctx::default())?;
    if w.out.commands.is_empty() {
        return Err("no command in the line".into());
    }
    Ok(w.out)
}

/// Split a flat shell line (simple commands joined by `|`, `&&`, `||`, `;` and newlines) into
/// its commands. A line with a compound command, a subshell, a group, a function or a
/// substitution is refused: [`parse_shell_line`] reads those.
pub fn split_shell_line(line: &str) -> Result<Vec<ShellCommand>, String> {
    let parsed = parse_shell_line(line)?;
    if let Some(c) = parsed.compound {
        return Err(format!(
            "{c} is not a flat list of simple commands: run simple commands"
        ));
    }
    Ok(parsed.commands)
}

fn first_error(n: Node) -> Option<Node> {
    if n.is_error() || n.is_missing() {
        return Some(n);
    }
    if !n.has_error() {
        return None;
    }
    let mut c = n.walk();
    let children: Vec<Node> = n.children(&mut c).collect();
    children.into_iter().find_map(first_error).or(Some(n))
}

/// What surrounds a statement: redirections of enclosing groups and loops, and whether it
/// may run more than once.
#[derive(Debug, Clone, Default)]
struct Ctx {
    redirects: Vec<Redirect>,
    repeats: bool,
}

struct Walker<'a> {
    src: &'a str,
    out: ShellLine,
}

impl<'a> Walker<'a> {
    fn t(&self, n: Node<'a>) -> &'a str {
        text(n, self.src)
    }

    fn compound(&mut self, what: &str) {
        if self.out.compound.is_none() {
            self.out.compound = Some(what.to_string());
        }
    }

    /// The text between the children of `n` must be what the shell skips.
    fn gaps(&self, n: Node<'a>, joins_lines: bool) -> Result<(), String> {
        let mut at = n.start_byte();
        let mut c = n.walk();
        for child in n.children(&mut c) {
            let gap = &self.src[at..child.start_byte().max(at)];
            if !gap_ok(gap, joins_lines) {
                return Err(unplaced(gap));
            }
            at = at.max(child.end_byte());
        }
        let gap = &self.src[at..n.end_byte().max(at)];
        if !gap_ok(gap, joins_lines) {
            return Err(unplaced(gap));
        }
        Ok(())
    }

    /// The statements that are children of `n`, skipping the children in `skip` (fields the
    /// caller reads itself) and keywords and separators.
    fn statements(&mut self, n: Node<'a>, ctx: &Ctx) -> Result<(), String> {
        self.statements_except(n, ctx, &[])
    }

    fn statements_except(&mut self, n: Node<'a>, ctx: &Ctx, skip: &[&str]) -> Result<(), String> {
        self.gaps(n, true)?;
        let mut c = n.walk();
        let children: Vec<(Option<&'static str>, Node)> = n
            .children(&mut c)
            .enumerate()
            .map(|(i, ch)| (n.field_name_for_child(i as u32), ch))
            .collect();
        for (field, child) in children {
            if field.is_some_and(|f| skip.contains(&f)) {
                continue;
            }
            if !child.is_named() {
                match child.kind() {
                    "&" => {
                        return Err(
                            "background jobs (`&`) are not run: guard-exec waits for the line, not for what it leaves behind; run it in the foreground"
                                .into(),
                        );
                    }
                    "|&" => return Err("`|&` is bash's: use `2>&1 |`".into()),
                    ";;" | ";&" | ";;&" if n.kind() != "case_item" => {
                        return Err("`;;` outside a case statement".into());
                    }
                    _ => continue,
                }
            }
            self.statement(child, ctx)?;
        }
        Ok(())
    }

    fn statement(&mut self, n: Node<'a>, ctx: &Ctx) -> Result<(), String> {
        let repeating = Ctx {
            repeats: true,
            ..ctx.clone()
        };
        match n.kind() {
            "comment" => Ok(()),
            "command" => self.command(n, ctx, Vec::new()),
            "declaration_command" | "unset_command" => self.builtin(n, ctx),
            "variable_assignment" | "variable_assignments" => self.command(n, ctx, Vec::new()),
            "redirected_statement" => self.redirected(n, ctx),
            "pipeline" | "list" => self.statements(n, ctx),
            "negated_command" => {
                self.compound("`!`");
                self.statements(n, ctx)
            }
            "subshell" => {
                self.compound("a subshell `( )`");
                self.statements(n, ctx)
            }
            "compound_statement" => {
                if self.t(n).starts_with("((") {
                    return Err(format!(
                        "`{}`: arithmetic commands are bash's and cannot be judged",
                        self.t(n)
                    ));
                }
                self.compound("a group `{ }`");
                self.statements(n, ctx)
            }
            "if_statement" | "elif_clause" | "else_clause" => {
                self.compound("`if`");
                self.statements(n, ctx)
            }
            "while_statement" => {
                self.compound("a loop");
                self.statements(n, &repeating)
            }
            "do_group" => self.statements(n, ctx),
            "for_statement" => {
                self.compound("a loop");
                if self.t(n).starts_with("select") {
                    return Err("`select` is bash's: /bin/sh does not run it".into());
                }
                let mut c = n.walk();
                let values: Vec<Node> = n.children_by_field_name("value", &mut c).collect();
                for v in values {
                    self.data(v, ctx)?;
                }
                self.statements_except(n, &repeating, &["variable", "value"])
            }
            "case_statement" => {
                self.compound("`case`");
                if let Some(v) = n.child_by_field_name("value") {
                    self.data(v, ctx)?;
                }
                self.statements_except(n, ctx, &["value"])
            }
            "case_item" => {
                let mut c = n.walk();
                let patterns: Vec<Node> = n.children_by_field_name("value", &mut c).collect();
                for p in patterns {
                    self.data(p, ctx)?;
                }
                self.statements_except(n, ctx, &["value"])
            }
            "function_definition" => {
                self.gaps(n, true)?;
                self.compound("a function");
                if self.t(n).starts_with("function") {
                    return Err("the `function` keyword is bash's: write `name() { ...; }`".into());
                }
                match n.child_by_field_name("body") {
                    Some(body) => self.statement(body, &repeating),
                    None => Err("a function without a body".into()),
                }
            }
            "test_command" if self.t(n).starts_with("[[") => Err(format!(
                "`{}`: `[[ ]]` is bash's, /bin/sh does not run it: use `[ ]` or `test`",
                self.t(n)
            )),
            "test_command" => {
                let mut words = Vec::new();
                self.test_words(n, &mut words)?;
                self.push(ShellCommand {
                    words,
                    redirects: ctx.redirects.clone(),
                    repeats: ctx.repeats,
                    ..ShellCommand::default()
                });
                Ok(())
            }
            "c_style_for_statement" => {
                Err("`for ((...))` is bash's arithmetic and cannot be judged".into())
            }
            other => Err(format!(
                "`{}`: a {} is not judged: run simple commands",
                self.t(n).lines().next().unwrap_or(""),
                other.replace('_', " ")
            )),
        }
    }

    /// A statement with redirections after it: they apply to every command inside it.
    fn redirected(&mut self, n: Node<'a>, ctx: &Ctx) -> Result<(), String> {
        self.gaps(n, false)?;
        let mut inner = ctx.clone();
        let mut extra_words = Vec::new();
        let mut after = Vec::new();
        let mut c = n.walk();
        let redirects: Vec<Node> = n.children_by_field_name("redirect", &mut c).collect();
        for r in redirects {
            self.redirect(r, &mut inner.redirects, &mut extra_words, &mut after)?;
        }
        match n.child_by_field_name("body") {
            Some(body) if body.kind() == "command" => self.command(body, &inner, extra_words)?,
            Some(body) => {
                if !extra_words.is_empty() {
                    return Err(format!(
                        "`{}`: words after a redirection of a compound command",
                        self.t(n)
                    ));
                }
                self.statement(body, &inner)?;
            }
            None => {
                // `> file` alone: a command with no words, only its redirection.
                self.push(ShellCommand {
                    words: extra_words,
                    redirects: inner.redirects,
                    repeats: ctx.repeats,
                    ..ShellCommand::default()
                });
            }
        }
        for a in after {
            self.statement(a, ctx)?;
        }
        Ok(())
    }

    /// One redirection node: its [`Redirect`] into `into`, words that follow its target on
    /// the same command into `words` (`echo a > f b` runs `echo a b`), and the commands that
    /// continue the line after a here-document's start into `after`.
    fn redirect(
        &mut self,
        n: Node<'a>,
        into: &mut Vec<Redirect>,
        words: &mut Vec<String>,
        after: &mut Vec<Node<'a>>,
    ) -> Result<(), String> {
        match n.kind() {
            "file_redirect" => {
                self.gaps(n, false)?;
                let mut fd = String::new();
                let mut op = String::new();
                let mut target: Option<String> = None;
                let mut c = n.walk();
                let children: Vec<(Option<&'static str>, Node)> = n
                    .children(&mut c)
                    .enumerate()
                    .map(|(i, ch)| (n.field_name_for_child(i as u32), ch))
                    .collect();
                for (field, child) in children {
                    match field {
                        Some("descriptor") => fd = self.t(child).to_string(),
                        Some("destination") => {
                            let v = word_value(child, self.src)?;
                            if target.is_none() {
                                target = Some(v);
                            } else {
                                words.push(v);
                            }
                        }
                        _ if !child.is_named() => op.push_str(child.kind()),
                        _ => {
                            return Err(format!(
                                "`{}`: a redirection the guard cannot read",
                                self.t(n)
                            ));
                        }
                    }
                }
                let target = target.unwrap_or_default();
                let closes = op.ends_with('-');
                let dup = closes
                    || ((op == ">&" || op == "<&")
                        && (target == "-" || target.chars().all(|d| d.is_ascii_digit())));
                let writes = !dup && op != "<" && op != "<&";
                if !matches!(
                    op.as_str(),
                    "<" | ">" | ">>" | ">|" | "&>" | "&>>" | ">&" | "<&" | ">&-" | "<&-"
                ) {
                    return Err(format!("`{}`: a redirection not judged", self.t(n)));
                }
                into.push(Redirect {
                    text: format!("{fd}{op}{target}"),
                    writes,
                    target: if dup { String::new() } else { target },
                });
                Ok(())
            }
            "heredoc_redirect" => self.heredoc(n, into, words, after),
            "herestring_redirect" => Err(format!(
                "`{}`: `<<<` is bash's, /bin/sh does not run it: use a here-document or a pipe",
                self.t(n)
            )),
            _ => Err(format!("`{}`: a redirection not judged", self.t(n))),
        }
    }

    fn heredoc(
        &mut self,
        n: Node<'a>,
        into: &mut Vec<Redirect>,
        words: &mut Vec<String>,
        after: &mut Vec<Node<'a>>,
    ) -> Result<(), String> {
        self.gaps(n, true)?;
        let mut delimiter = None;
        let mut strip_tabs = false;
        let mut body = None;
        let mut end = None;
        let mut c = n.walk();
        let children: Vec<(Option<&'static str>, Node)> = n
            .children(&mut c)
            .enumerate()
            .map(|(i, ch)| (n.field_name_for_child(i as u32), ch))
            .collect();
        for (field, child) in children {
            match (child.kind(), field) {
                ("<<", _) => {}
                ("<<-", _) => strip_tabs = true,
                ("heredoc_start", _) => delimiter = Some(heredoc_delimiter(self.t(child))?),
                ("heredoc_body", _) => body = Some(child),
                ("heredoc_end", _) => end = Some(child),
                ("file_redirect", _) => {
                    let mut extra = Vec::new();
                    self.redirect(child, into, &mut extra, after)?;
                    words.extend(extra);
                }
                (_, Some("argument")) => words.push(word_value(child, self.src)?),
                (_, _) if !child.is_named() => {}
                (_, _) => after.push(child),
            }
        }
        let Some((delimiter, quoted)) = delimiter else {
            return Err("a here-document without a delimiter".into());
        };
        let Some(end) = end else {
            return Err(format!(
                "the here-document has no line `{delimiter}` that ends it"
            ));
        };
        let body_start = body.map_or(end.start_byte(), |b| b.start_byte());
        let line_start = self.src[..end.start_byte()]
            .rfind('\n')
            .map_or(0, |i| i + 1);
        let line_end = self.src[end.end_byte()..]
            .find('\n')
            .map_or(self.src.len(), |i| end.end_byte() + i);
        heredoc_ends_where_sh_ends_it(
            &delimiter,
            strip_tabs,
            &self.src[body_start..line_start.max(body_start)],
            &self.src[line_start..line_end],
        )?;
        if let Some(b) = body
            && !quoted
        {
            // An unquoted delimiter: the body is expanded, and its substitutions run.
            self.data(b, &Ctx::default())?;
        }
        into.push(Redirect {
            text: format!("<<{delimiter}"),
            writes: false,
            target: String::new(),
        });
        Ok(())
    }

    /// A simple command (or assignments alone), with `extra` words from after its
    /// redirections.
    fn command(&mut self, n: Node<'a>, ctx: &Ctx, extra: Vec<String>) -> Result<(), String> {
        self.gaps(n, false)?;
        let mut cmd = ShellCommand {
            redirects: ctx.redirects.clone(),
            repeats: ctx.repeats,
            ..ShellCommand::default()
        };
        let mut after = Vec::new();
        let assignments: Vec<Node> = if n.kind() == "variable_assignment" {
            vec![n]
        } else {
            let mut c = n.walk();
            n.children(&mut c)
                .filter(|c| c.kind() == "variable_assignment")
                .collect()
        };
        for a in assignments {
            let pair = self.assignment(a, ctx)?;
            cmd.assignments.push(pair);
        }
        if n.kind() == "command" {
            let mut c = n.walk();
            let children: Vec<(Option<&'static str>, Node)> = n
                .children(&mut c)
                .enumerate()
                .map(|(i, ch)| (n.field_name_for_child(i as u32), ch))
                .collect();
            let mut redirects = Vec::new();
            for (field, child) in children {
                match (child.kind(), field) {
                    ("variable_assignment", _) => {}
                    ("command_name", _) => {
                        let name = word_value(child, self.src)?;
                        if KEYWORDS.contains(&name.as_str()) {
                            return Err(format!(
                                "`{name}` starts a compound command the guard cannot place: check the line"
                            ));
                        }
                        if UNJUDGEABLE.contains(&name.as_str()) {
                            return Err(format!(
                                "`{name}` runs text the guard cannot see before it runs"
                            ));
                        }
                        cmd.words.push(name);
                    }
                    (_, Some("argument")) => cmd.words.push(word_value(child, self.src)?),
                    (_, Some("redirect")) => {
                        let mut extra = Vec::new();
                        self.redirect(child, &mut redirects, &mut extra, &mut after)?;
                        cmd.words.extend(extra);
                    }
                    ("comment", _) => {}
                    _ => {
                        return Err(format!(
                            "`{}`: part of the command the guard cannot read",
                            self.t(child)
                        ));
                    }
                }
            }
            cmd.redirects.extend(redirects);
        }
        cmd.words.extend(extra);
        if cmd.words.is_empty() && cmd.assignments.is_empty() && cmd.redirects.is_empty() {
            return Err("an empty command".into());
        }
        self.push(cmd);
        for a in after {
            self.statement(a, ctx)?;
        }
        Ok(())
    }

    /// The words of `[ ... ]` in order, as the grammar nests them into expressions.
    fn test_words(&mut self, n: Node<'a>, words: &mut Vec<String>) -> Result<(), String> {
        self.gaps(n, false)?;
        let mut c = n.walk();
        let children: Vec<Node> = n.children(&mut c).collect();
        for child in children {
            match child.kind() {
                "unary_expression" | "binary_expression" | "parenthesized_expression" => {
                    self.test_words(child, words)?
                }
                "test_operator" => words.push(self.t(child).to_string()),
                _ if !child.is_named() => words.push(child.kind().to_string()),
                _ => words.push(word_value(child, self.src)?),
            }
        }
        if words.iter().any(|w| w == "-v") {
            // bash evaluates the subscript of `-v 'a[...]'`, running what it holds.
            return Err("`[ -v ... ]` is bash's and can run code: not judged".into());
        }
        Ok(())
    }

    /// `NAME=value`: the name, and the value with quotes removed, or as written when it is
    /// made when the line runs (the substitutions in it are walked: they run).
    fn assignment(&mut self, n: Node<'a>, ctx: &Ctx) -> Result<(String, String), String> {
        let name = n
            .child_by_field_name("name")
            .ok_or_else(|| format!("`{}`: an assignment without a name", self.t(n)))?;
        if name.kind() != "variable_name" {
            return Err(format!(
                "`{}`: assigning to an array element is bash's",
                self.t(n)
            ));
        }
        let mut c = n.walk();
        if n.children(&mut c)
            .any(|ch| !ch.is_named() && ch.kind() != "=")
        {
            return Err(format!(
                "`{}`: only `NAME=value` assignments are judged (`+=` is bash's)",
                self.t(n)
            ));
        }
        let value = match n.child_by_field_name("value") {
            None => String::new(),
            Some(v) => match word_value(v, self.src) {
                Ok(v) => v,
                Err(_) => {
                    self.data(v, ctx)?;
                    self.t(v).to_string()
                }
            },
        };
        Ok((self.t(name).to_string(), value))
    }

    /// `export`, `declare`, `local`, `readonly`, `typeset`, `unset` with their words
    /// (`NAME=value` and names), as one command.
    fn builtin(&mut self, n: Node<'a>, ctx: &Ctx) -> Result<(), String> {
        self.gaps(n, false)?;
        let mut cmd = ShellCommand {
            redirects: ctx.redirects.clone(),
            repeats: ctx.repeats,
            ..ShellCommand::default()
        };
        let mut c = n.walk();
        for child in n.children(&mut c) {
            if !child.is_named() {
                if cmd.words.is_empty() {
                    cmd.words.push(child.kind().to_string());
                    continue;
                }
                return Err(format!("`{}`: not judged", self.t(n)));
            }
            match child.kind() {
                "variable_assignment" => {
                    let (name, value) = self.assignment(child, ctx)?;
                    cmd.words.push(format!("{name}={value}"));
                }
                "variable_name" => cmd.words.push(self.t(child).to_string()),
                "comment" => {}
                _ => cmd.words.push(word_value(child, self.src)?),
            }
        }
        self.push(cmd);
        Ok(())
    }

    /// A node whose value only feeds data (an assignment's value, a `for` list, a `case`
    /// word, a here-document's body): plain variables may stand in it, and the command
    /// substitutions in it are walked, since they run. Anything that could run code the
    /// walk cannot see is an error.
    fn data(&mut self, n: Node<'a>, ctx: &Ctx) -> Result<(), String> {
        let mut covered: Vec<(usize, usize)> = Vec::new();
        self.data_node(n, ctx, &mut covered)?;
        // Every `$` and backtick must stand in a node the walk understood.
        let src = self.t(n);
        let base = n.start_byte();
        let bytes = src.as_bytes();
        for (i, b) in bytes.iter().enumerate() {
            if (*b == b'$' || *b == b'`')
                && !(i > 0 && bytes[i - 1] == b'\\')
                && !covered.iter().any(|(s, e)| (*s..*e).contains(&(base + i)))
            {
                return Err(format!(
                    "`{}`: an expansion the guard cannot place (use `$(...)` and plain `$NAME`)",
                    src.lines().next().unwrap_or("")
                ));
            }
        }
        Ok(())
    }

    fn data_node(
        &mut self,
        n: Node<'a>,
        ctx: &Ctx,
        covered: &mut Vec<(usize, usize)>,
    ) -> Result<(), String> {
        match n.kind() {
            "raw_string" => covered.push((n.start_byte(), n.end_byte())),
            "simple_expansion" => {
                let plain = n.named_child_count() == 1
                    && n.named_child(0).is_some_and(|c| {
                        matches!(c.kind(), "variable_name" | "special_variable_name")
                    });
                if !plain {
                    return Err(format!("`{}`: an expansion not judged", self.t(n)));
                }
                covered.push((n.start_byte(), n.end_byte()));
            }
            "expansion" => {
                let plain = n.child_count() == 3
                    && n.named_child(0)
                        .is_some_and(|c| c.kind() == "variable_name");
                if !plain {
                    return Err(format!(
                        "`{}`: only plain `${{NAME}}` is judged here",
                        self.t(n)
                    ));
                }
                covered.push((n.start_byte(), n.end_byte()));
            }
            "command_substitution" => {
                let t = self.t(n);
                if t.starts_with('`') {
                    return Err(format!(
                        "`{t}`: backtick substitution is not judged: use `$(...)`"
                    ));
                }
                if t.starts_with("$((") {
                    return Err(format!(
                        "`{t}`: arithmetic or a substitution of a subshell: write `$( (...) )`"
                    ));
                }
                self.compound("a command substitution `$( )`");
                self.statements(n, ctx)?;
                covered.push((n.start_byte(), n.end_byte()));
            }
            "word" | "number" | "string_content" | "heredoc_content" | "extglob_pattern" => {}
            "string" | "concatenation" | "heredoc_body" => {
                let mut c = n.walk();
                let children: Vec<Node> = n.named_children(&mut c).collect();
                for child in children {
                    self.data_node(child, ctx, covered)?;
                }
            }
            _ => {
                return Err(match super::shell_words::word_value(n, self.src) {
                    Err(e) => e,
                    Ok(_) => format!("`{}`: not judged here", self.t(n)),
                });
            }
        }
        Ok(())
    }

    fn push(&mut self, c: ShellCommand) {
        self.out.commands.push(c);
    }
}

fn unplaced(gap: &str) -> String {
    if gap.contains("\\\n") {
        "a backslash-newline joins two words here: the guard would read them apart; write the word whole".into()
    } else {
        format!(
            "`{}`: text the shell grammar could not place; write the line so that sh reads it as written",
            gap.trim()
        )
    }
}
