//! The test finder for JavaScript and TypeScript (Jest, Vitest, Mocha, Jasmine, node:test):
//! `test`/`it`/`specify` calls inside `describe`/`context`/`suite` blocks, named by their
//! titles; their modifiers in every spelling (`.skip`, `x`-prefixes, `.todo`, `.failing`,
//! `.skip.each`, `.only` and `f`-prefixes that focus, `this.skip()`); the rows of `.each`
//! tables; `expect(...)` chains, `assert.*` and chai assertions; early returns and `catch`
//! blocks that swallow failures.

use tree_sitter::{Node, Tree};

use super::suite::{
    BodyScan, Evidence, Strength, Suite, TestFn, body_key, elements, evidence, line, text,
};

const TESTS: &[&str] = &["test", "it", "specify", "xit", "xtest", "fit", "bench"];
const GROUPS: &[&str] = &[
    "describe",
    "context",
    "suite",
    "xdescribe",
    "fdescribe",
    "xcontext",
];

pub fn suite(tree: &Tree, src: &[u8], collected: bool) -> Suite {
    let mut out = Suite::default();
    if collected {
        visit(tree.root_node(), src, "", None, None, &mut out);
    }
    out
}

/// A call's callee flattened: `test.skip.each([...])` is (`["test", "skip", "each"]`, the
/// arguments of the `each` call).
fn callee<'t>(call: Node<'t>, src: &[u8]) -> Option<(Vec<String>, Option<Node<'t>>)> {
    let mut f = call.child_by_field_name("function")?;
    let mut each_args = None;
    if f.kind() == "call_expression" {
        each_args = f.child_by_field_name("arguments");
        f = f.child_by_field_name("function")?;
    }
    let mut words = Vec::new();
    loop {
        match f.kind() {
            "identifier" => {
                words.push(text(f, src).to_string());
                break;
            }
            "member_expression" => {
                words.push(text(f.child_by_field_name("property")?, src).to_string());
                f = f.child_by_field_name("object")?;
            }
            _ => return None,
        }
    }
    words.reverse();
    Some((words, each_args))
}

fn title(args: Node<'_>, src: &[u8]) -> Option<String> {
    let first = args.named_child(0)?;
    match first.kind() {
        "string" | "template_string" => {
            let t = text(first, src);
            Some(t[1..t.len().saturating_sub(1)].to_string())
        }
        "identifier" | "member_expression" => Some(text(first, src).to_string()),
        _ => None,
    }
}

fn is_function(n: Node<'_>) -> bool {
    matches!(
        n.kind(),
        "arrow_function"
            | "function"
            | "function_expression"
            | "function_declaration"
            | "generator_function"
            | "generator_function_declaration"
            | "method_definition"
    )
}

fn visit(
    node: Node<'_>,
    src: &[u8],
    prefix: &str,
    skip: Option<&Evidence>,
    focus: Option<&Evidence>,
    out: &mut Suite,
) {
    let mut cursor = node.walk();
    let children: Vec<Node<'_>> = node.named_children(&mut cursor).collect();
    for child in children {
        if child.kind() == "call_expression" && call(child, src, prefix, skip, focus, out) {
            continue;
        }
        visit(child, src, prefix, skip, focus, out);
    }
}

/// A test or group call: record it (and its group's tests). False when it is neither.
fn call(
    c: Node<'_>,
    src: &[u8],
    prefix: &str,
    skip: Option<&Evidence>,
    focus: Option<&Evidence>,
    out: &mut Suite,
) -> bool {
    let Some((words, each_args)) = callee(c, src) else {
        return false;
    };
    let root = words[0].as_str();
    let is_test = TESTS.contains(&root);
    if !is_test && !GROUPS.contains(&root) {
        return false;
    }
    const MODIFIERS: &[&str] = &[
        "skip",
        "only",
        "todo",
        "failing",
        "each",
        "concurrent",
        "sequential",
        "fails",
        "skipIf",
        "runIf",
    ];
    if !words[1..].iter().all(|w| MODIFIERS.contains(&w.as_str())) {
        return false;
    }
    let Some(args) = c.child_by_field_name("arguments") else {
        return false;
    };
    let Some(name) = title(args, src) else {
        return false;
    };
    let full = if prefix.is_empty() {
        name
    } else {
        format!("{prefix} > {name}")
    };
    let has = |w: &str| words[1..].iter().any(|x| x == w);
    let here = evidence(c, src);
    let skipped = root.starts_with('x') || has("skip") || has("todo") || has("skipIf");
    let own_skip = skipped.then(|| here.clone());
    let own_focus = (root.starts_with('f') && root != "fails" || has("only")).then(|| here.clone());
    let skip = own_skip.as_ref().or(skip);
    let focus = own_focus.as_ref().or(focus);
    let mut cursor = args.walk();
    let body = args
        .named_children(&mut cursor)
        .filter(|a| is_function(*a))
        .last()
        .and_then(|f| f.child_by_field_name("body"));
    if !is_test {
        if let Some(b) = body {
            visit(b, src, &full, skip, focus, out);
        }
        return true;
    }
    let mut t = TestFn {
        name: full,
        head: here.clone(),
        body_key: body.map(|b| body_key(b, src)).unwrap_or_default(),
        skip: skip.cloned(),
        focus: focus.cloned(),
        ..TestFn::default()
    };
    if has("failing") || has("fails") {
        t.expects_failure = Some(here);
    }
    if let Some(e) = each_args.and_then(|a| a.named_child(0)) {
        t.cases = match e.kind() {
            "array" => elements(e, src),
            "template_string" if !text(e, src).contains("${") => text(e, src)
                .lines()
                .skip(1)
                .map(str::trim)
                .filter(|l| !l.is_empty() && *l != "`")
                .enumerate()
                .map(|(i, l)| Evidence {
                    line: line(e) + 1 + i as u32,
                    text: l.to_string(),
                })
                .collect(),
            _ => {
                t.opaque_cases = true;
                Vec::new()
            }
        };
    }
    if let Some(b) = body {
        scan().scan(b, src, &mut t);
        if t.skip.is_none() {
            t.skip = body_skip(b, src);
        }
    }
    out.tests.push(t);
    true
}

/// `this.skip()`, `ctx.skip()`, `t.skip()` as a statement of the body.
fn body_skip(body: Node<'_>, src: &[u8]) -> Option<Evidence> {
    let mut cursor = body.walk();
    let found = body.named_children(&mut cursor).find(|s| {
        let t = text(*s, src).trim_start();
        s.kind() == "expression_statement"
            && (t.starts_with("this.skip(")
                || t.starts_with("ctx.skip(")
                || t.starts_with("context.skip(")
                || t.starts_with("t.skip("))
    });
    found.map(|s| evidence(s, src))
}

fn scan() -> BodyScan<'static> {
    BodyScan {
        assertion: &assertion,
        is_function: &is_function,
        is_return: &|n| n.kind() == "return_statement",
        swallows: &swallows,
    }
}

fn swallows(n: Node<'_>, src: &[u8]) -> bool {
    if n.kind() != "catch_clause" {
        return false;
    }
    let t = text(n, src);
    !(t.contains("throw") || t.contains("expect(") || t.contains("assert") || t.contains("fail("))
}

/// The chain's root call, when it is `expect(...)` (or `expect.soft(...)`), with the chain's
/// words after it.
fn expect_chain<'t>(n: Node<'t>, src: &[u8]) -> Option<(Node<'t>, Vec<String>)> {
    let mut words = Vec::new();
    let mut f = n;
    loop {
        match f.kind() {
            "call_expression" => {
                let callee = f.child_by_field_name("function")?;
                let name = text(callee, src);
                if name == "expect" || name == "expect.soft" || name == "chai.expect" {
                    words.reverse();
                    return Some((f, words));
                }
                f = callee;
            }
            "member_expression" => {
                words.push(text(f.child_by_field_name("property")?, src).to_string());
                f = f.child_by_field_name("object")?;
            }
            "await_expression" => f = f.named_child(0)?,
            _ => return None,
        }
    }
}

fn assertion(n: Node<'_>, src: &[u8]) -> Option<Strength> {
    const WEAK: &[&str] = &[
        "toBeDefined",
        "toBeTruthy",
        "toBeFalsy",
        "toBeUndefined",
        "toBeNull",
        "toBeNaN",
        "toBeInstanceOf",
        "toHaveBeenCalled",
        "ok",
        "exist",
        "exists",
        "true",
        "false",
        "undefined",
        "null",
        "defined",
    ];
    match n.kind() {
        "call_expression" | "member_expression" => {
            if n.kind() == "member_expression"
                && n.parent().is_some_and(|p| {
                    p.kind() == "call_expression" && p.child_by_field_name("function") == Some(n)
                })
            {
                return None;
            }
            if let Some((root, words)) = expect_chain(n, src) {
                if words.is_empty() {
                    return None;
                }
                let subject = root
                    .child_by_field_name("arguments")
                    .and_then(|a| a.named_child(0));
                if subject.is_some_and(|s| {
                    matches!(s.kind(), "true" | "false" | "number" | "string" | "null")
                }) {
                    return Some(Strength::Nothing);
                }
                let matcher = words.last().map(String::as_str).unwrap_or("");
                let negated = words.iter().any(|w| w == "not");
                return Some(if WEAK.contains(&matcher) || negated {
                    Strength::Truthy
                } else {
                    Strength::Value
                });
            }
            if n.kind() != "call_expression" {
                return None;
            }
            let (words, _) = callee(n, src)?;
            if words[0] != "assert" && words[0] != "t" {
                return None;
            }
            let method = words.get(1).map(String::as_str).unwrap_or("ok");
            if words[0] == "t"
                && !matches!(
                    method,
                    "is" | "deepEqual"
                        | "true"
                        | "truthy"
                        | "equal"
                        | "assert"
                        | "throws"
                        | "like"
                        | "same"
                )
            {
                return None;
            }
            let first = n
                .child_by_field_name("arguments")
                .and_then(|a| a.named_child(0));
            if first.is_some_and(|s| matches!(s.kind(), "true" | "number" | "string")) {
                return Some(Strength::Nothing);
            }
            Some(match method {
                "ok" | "assert" | "true" | "truthy" | "isOk" | "isDefined" | "exists" => {
                    Strength::Truthy
                }
                _ => Strength::Value,
            })
        }
        _ => None,
    }
}
