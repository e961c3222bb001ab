//! What a test finder reads out of one file: its tests, each with its switches, assertions,
//! cases and early exits, and the functions a runner does not collect. Shared by the finders of
//! every language and read by the comparison; no finder logic lives here, only the shapes and
//! the small helpers over a tree-sitter tree every finder uses.

use tree_sitter::Node;

/// The tests of one side of one file.
#[derive(Debug, Default, Clone)]
pub struct Suite {
    pub tests: Vec<TestFn>,
    /// Functions the runner does not collect (name, body key): a test renamed into one of
    /// these was renamed away.
    pub others: Vec<(String, String)>,
    /// A file-wide switch that keeps every test in it from running (`pytestmark = skip`,
    /// `//go:build ignore`), with the line that says it.
    pub file_skip: Option<Evidence>,
}

/// One test function or test case, as its runner names it.
#[derive(Debug, Default, Clone)]
pub struct TestFn {
    /// `Class::test_x`, `describe > it`, `tests::parses`: unique within the file.
    pub name: String,
    /// The line the test starts on (1-based) and its first line of text.
    pub head: Evidence,
    /// The body with whitespace collapsed and the test's own name left out: equal keys are
    /// the same test, wherever it moved and whatever it is called.
    pub body_key: String,
    /// The marker that switches it off, when one does (`@pytest.mark.skip`, `#[ignore]`,
    /// `it.skip`, `t.Skip()`, `@Disabled`, an assumption that cannot hold).
    pub skip: Option<Evidence>,
    /// A focus marker (`it.only`, `fdescribe`): every other test of the file stops running.
    pub focus: Option<Evidence>,
    pub asserts: Vec<Assertion>,
    /// The first `return` in the body (outside nested functions) that comes before an
    /// assertion.
    pub early_return: Option<Evidence>,
    /// Handlers that catch a failure raised around an assertion and do not raise it again.
    pub swallows: Vec<Evidence>,
    /// A marker that turns a failure into a pass (`#[should_panic]`, `@Test(expected = ...)`).
    pub expects_failure: Option<Evidence>,
    /// The cases of its table, parametrize list or `each` list, each normalized.
    pub cases: Vec<Evidence>,
    /// Some of its cases come from a name or a call, not a literal: they cannot be counted.
    pub opaque_cases: bool,
    /// For each of `cases`, the argument names its list supplies (`"slots"`, `"a,b"`), where
    /// the language names them (pytest's `parametrize`); empty otherwise.
    pub case_args: Vec<String>,
    /// The arguments the test takes that none of its own case lists supplies: pytest fills
    /// them from fixtures (which may be parametrized themselves).
    pub fixtures: Vec<String>,
}

/// A line of a file as a finding shows it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub line: u32,
    pub text: String,
}

/// One assertion: where, its text (whitespace collapsed), and how much it checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    pub line: u32,
    pub text: String,
    pub strength: Strength,
}

/// How much an assertion checks. Ordered: a change to a lower one is a weakening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Strength {
    /// Checks nothing (`assert True`, `expect(true).toBe(true)`).
    Nothing,
    /// Checks that something exists or is truthy (`toBeDefined`, `assert x`, `assertNotNull`).
    Truthy,
    /// Checks a value (equality, comparison, match, a raised error of a kind).
    Value,
}

/// The text of a node.
pub fn text<'s>(node: Node<'_>, src: &'s [u8]) -> &'s str {
    std::str::from_utf8(&src[node.byte_range()]).unwrap_or("")
}

/// The 1-based line a node starts on.
pub fn line(node: Node<'_>) -> u32 {
    node.start_position().row as u32 + 1
}

/// Whitespace collapsed to single spaces, trimmed.
pub fn squash(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// A node as evidence: its first line, trimmed, and at most 160 characters.
pub fn evidence(node: Node<'_>, src: &[u8]) -> Evidence {
    Evidence {
        line: line(node),
        text: first_line(text(node, src)),
    }
}

/// A node as evidence with all its text squashed onto one line (at most 160 characters).
pub fn evidence_whole(node: Node<'_>, src: &[u8]) -> Evidence {
    Evidence {
        line: line(node),
        text: clip(&squash(text(node, src))),
    }
}

pub fn first_line(s: &str) -> String {
    clip(s.lines().next().unwrap_or("").trim())
}

pub fn clip(s: &str) -> String {
    const MAX: usize = 160;
    if s.chars().count() <= MAX {
        return s.to_string();
    }
    let mut out: String = s.chars().take(MAX - 1).collect();
    out.push('…');
    out
}

/// The assertion's text with every literal replaced by `_`: two assertions with the same
/// skeleton and other texts differ in an expected value.
pub fn skeleton(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'\'' || c == b'`' {
            let mut j = i + 1;
            while j < b.len() && b[j] != c {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            out.push('_');
            i = j + 1;
        } else if c.is_ascii_digit() && (i == 0 || !is_word(b[i - 1])) {
            let mut j = i;
            while j < b.len() && (is_word(b[j]) || b[j] == b'.') {
                j += 1;
            }
            out.push('_');
            i = j;
        } else {
            out.push(c as char);
            i += 1;
        }
    }
    out
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Every named descendant of `node` (itself included), depth first, not entering a node for
/// which `stop` holds (that node itself is still visited).
pub fn walk<'t>(node: Node<'t>, stop: &dyn Fn(Node<'t>) -> bool, visit: &mut dyn FnMut(Node<'t>)) {
    let mut cursor = node.walk();
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        visit(n);
        if n != node && stop(n) {
            continue;
        }
        let children: Vec<Node<'t>> = n.named_children(&mut cursor).collect();
        stack.extend(children.into_iter().rev());
    }
}

/// The body key of a test: its text squashed, with its own name taken out.
pub fn body_key(body: Node<'_>, src: &[u8]) -> String {
    squash(text(body, src))
}

/// Assertions, returns and handlers inside a test body, found by the language's predicates.
pub struct BodyScan<'a> {
    /// The assertion a node is, if it is one (a node that is one is not entered).
    pub assertion: &'a dyn Fn(Node<'_>, &[u8]) -> Option<Strength>,
    /// Nested functions (callbacks): their returns do not end the test.
    pub is_function: &'a dyn Fn(Node<'_>) -> bool,
    pub is_return: &'a dyn Fn(Node<'_>) -> bool,
    /// A handler that catches a failure and does not raise it again (`except: pass`).
    pub swallows: &'a dyn Fn(Node<'_>, &[u8]) -> bool,
}

impl BodyScan<'_> {
    /// Fill the test's assertions, early return and swallowing handlers from its body.
    pub fn scan(&self, body: Node<'_>, src: &[u8], t: &mut TestFn) {
        let mut returns: Vec<Node<'_>> = Vec::new();
        let mut handlers: Vec<Node<'_>> = Vec::new();
        let mut asserts: Vec<(usize, Assertion)> = Vec::new();
        // Assertions in callbacks count (`forEach(x => expect(x)...)`); returns in them do not.
        let stop = |n: Node<'_>| (self.assertion)(n, src).is_some();
        walk(body, &stop, &mut |n| {
            if n == body {
                return;
            }
            if let Some(strength) = (self.assertion)(n, src) {
                asserts.push((
                    n.start_byte(),
                    Assertion {
                        line: line(n),
                        text: clip(&squash(text(n, src))),
                        strength,
                    },
                ));
            } else if (self.is_return)(n) && !inside_function(n, body, self.is_function) {
                returns.push(n);
            } else if (self.swallows)(n, src) {
                handlers.push(n);
            }
        });
        let last_assert = asserts.iter().map(|a| a.0).max();
        t.early_return = returns
            .iter()
            .find(|r| last_assert.is_some_and(|a| r.end_byte() <= a))
            .map(|r| evidence(*r, src));
        t.swallows = handlers
            .iter()
            .filter(|h| {
                let owner = h.parent().unwrap_or(**h);
                asserts
                    .iter()
                    .any(|a| owner.byte_range().contains(&a.0) && !h.byte_range().contains(&a.0))
            })
            .map(|h| evidence(*h, src))
            .collect();
        t.asserts = asserts.into_iter().map(|a| a.1).collect();
    }
}

fn inside_function(n: Node<'_>, body: Node<'_>, is_function: &dyn Fn(Node<'_>) -> bool) -> bool {
    let mut p = n.parent();
    while let Some(x) = p {
        if x == body {
            return false;
        }
        if is_function(x) {
            return true;
        }
        p = x.parent();
    }
    false
}

/// The elements of a list-like node, each as evidence with its text squashed.
pub fn elements(list: Node<'_>, src: &[u8]) -> Vec<Evidence> {
    let mut cursor = list.walk();
    list.named_children(&mut cursor)
        .filter(|c| !c.is_extra() && c.kind() != "comment")
        .map(|c| evidence_whole(c, src))
        .collect()
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn skeleton_blanks_literals_only() {
        assert_eq!(skeleton("assert_eq!(f(x1), 42)"), "assert_eq!(f(x1), _)");
        assert_eq!(
            skeleton(r#"expect(a("it's")).toBe("b\"c")"#),
            "expect(a(_)).toBe(_)"
        );
        assert_eq!(skeleton("assert x == 1.5e3"), "assert x == _");
    }

    #[test]
    fn clip_keeps_short_text() {
        assert_eq!(clip("abc"), "abc");
        assert_eq!(clip(&"x".repeat(200)).chars().count(), 160);
    }
}
