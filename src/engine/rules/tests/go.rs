//! The test finder for Go: `Test*`, `Benchmark*`, `Fuzz*` functions of `_test.go` files;
//! `t.Skip*` calls; the rows of table literals; `t.Error*`/`t.Fatal*` checks judged by the
//! condition that guards them, testify's `assert`/`require`; early returns and deferred
//! `recover()`s that swallow failures; build constraints and a `TestMain` that never runs the
//! tests, which switch the whole file off.

use tree_sitter::{Node, Tree};

use super::suite::{
    BodyScan, Evidence, Strength, Suite, TestFn, body_key, evidence, evidence_whole, squash, text,
    walk,
};

pub fn suite(tree: &Tree, src: &[u8], collected: bool) -> Suite {
    let mut out = Suite::default();
    let root = tree.root_node();
    let mut cursor = root.walk();
    for item in root.named_children(&mut cursor) {
        match item.kind() {
            "comment" => {
                let t = text(item, src);
                if collected && (t.starts_with("//go:build") || t.starts_with("// +build")) {
                    out.file_skip.get_or_insert(evidence(item, src));
                }
            }
            "function_declaration" => function(item, src, collected, &mut out),
            _ => {}
        }
    }
    out
}

fn is_test_name(name: &str) -> bool {
    ["Test", "Benchmark", "Fuzz"].iter().any(|p| {
        name.strip_prefix(p)
            .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_lowercase()))
    })
}

fn function(f: Node<'_>, src: &[u8], collected: bool, out: &mut Suite) {
    let (Some(name), Some(body)) = (f.child_by_field_name("name"), f.child_by_field_name("body"))
    else {
        return;
    };
    let name = text(name, src);
    let key = body_key(body, src);
    if name == "TestMain" {
        // A TestMain that never calls `m.Run()` runs no test of the package.
        if collected && !text(body, src).contains(".Run()") {
            out.file_skip = Some(Evidence {
                line: super::suite::line(f),
                text: "func TestMain never calls m.Run(): no test of the package runs".into(),
            });
        }
        return;
    }
    if !(collected && is_test_name(name)) {
        out.others.push((name.to_string(), key));
        return;
    }
    let mut t = TestFn {
        name: name.to_string(),
        head: evidence(f, src),
        body_key: key,
        ..TestFn::default()
    };
    scan().scan(body, src, &mut t);
    t.skip = skip_call(body, src);
    t.cases = tables(body, src);
    out.tests.push(t);
}

/// A `t.Skip(...)`, `t.Skipf(...)` or `t.SkipNow()` in the body, outside nested functions.
fn skip_call(body: Node<'_>, src: &[u8]) -> Option<Evidence> {
    let mut found = None;
    walk(body, &|n| n.kind() == "func_literal", &mut |n| {
        if found.is_some() || n.kind() != "call_expression" {
            return;
        }
        let f = n.child_by_field_name("function");
        if let Some(f) = f.filter(|f| f.kind() == "selector_expression") {
            let field = f.child_by_field_name("field").map(|x| text(x, src));
            if matches!(field, Some("Skip" | "Skipf" | "SkipNow")) {
                found = Some(evidence(n, src));
            }
        }
    });
    found
}

/// The rows of slice, array and map literals whose elements are composite literals.
fn tables(body: Node<'_>, src: &[u8]) -> Vec<Evidence> {
    let mut rows = Vec::new();
    walk(body, &|_| false, &mut |n| {
        if n.kind() != "composite_literal" {
            return;
        }
        let is_table = n
            .child_by_field_name("type")
            .is_some_and(|t| matches!(t.kind(), "slice_type" | "array_type" | "map_type"));
        let Some(value) = n.child_by_field_name("body").filter(|_| is_table) else {
            return;
        };
        let mut cursor = value.walk();
        let elems: Vec<Node<'_>> = value
            .named_children(&mut cursor)
            .filter(|e| matches!(e.kind(), "literal_element" | "keyed_element"))
            .filter(|e| text(*e, src).trim_end().ends_with('}'))
            .collect();
        if !elems.is_empty() {
            rows.extend(elems.iter().map(|e| evidence_whole(*e, src)));
        }
    });
    rows
}

fn scan() -> BodyScan<'static> {
    BodyScan {
        assertion: &assertion,
        is_function: &|n| n.kind() == "func_literal",
        is_return: &|n| n.kind() == "return_statement",
        swallows: &|n, src| n.kind() == "defer_statement" && text(n, src).contains("recover()"),
    }
}

const FAILS: &[&str] = &["Error", "Errorf", "Fatal", "Fatalf", "Fail", "FailNow"];

/// The failing call in a node: `t.Errorf(...)` and friends.
fn fails(n: Node<'_>, src: &[u8]) -> bool {
    if n.kind() != "call_expression" {
        return false;
    }
    let Some(f) = n
        .child_by_field_name("function")
        .filter(|f| f.kind() == "selector_expression")
    else {
        return false;
    };
    let operand = f.child_by_field_name("operand").map(|x| text(x, src));
    let field = f.child_by_field_name("field").map(|x| text(x, src));
    matches!(operand, Some("t" | "b" | "f" | "tb" | "tt"))
        && field.is_some_and(|x| FAILS.contains(&x))
}

fn assertion(n: Node<'_>, src: &[u8]) -> Option<Strength> {
    match n.kind() {
        // `if got != want { t.Errorf(...) }`: the check is the condition.
        "if_statement" => {
            let cons = n.child_by_field_name("consequence")?;
            let mut cursor = cons.walk();
            let direct = cons
                .named_children(&mut cursor)
                .filter_map(|s| s.named_child(0))
                .any(|c| fails(c, src));
            if !direct {
                return None;
            }
            let cond = squash(text(n.child_by_field_name("condition")?, src));
            Some(condition_strength(&cond))
        }
        "call_expression" => {
            if fails(n, src) {
                return Some(Strength::Value);
            }
            let f = n
                .child_by_field_name("function")
                .filter(|f| f.kind() == "selector_expression")?;
            let operand = text(f.child_by_field_name("operand")?, src);
            let field = text(f.child_by_field_name("field")?, src);
            if !matches!(operand, "assert" | "require") {
                return None;
            }
            const TRUTHY: &[&str] = &[
                "True", "False", "Nil", "NotNil", "NoError", "Error", "Empty", "NotEmpty", "Zero",
                "NotZero", "Truef", "Falsef", "Nilf", "NotNilf", "NoErrorf", "Errorf",
            ];
            let second = n
                .child_by_field_name("arguments")
                .and_then(|a| a.named_child(1))
                .map(|a| text(a, src));
            Some(if second == Some("true") && field.starts_with("True") {
                Strength::Nothing
            } else if TRUTHY.contains(&field) {
                Strength::Truthy
            } else {
                Strength::Value
            })
        }
        _ => None,
    }
}

fn condition_strength(cond: &str) -> Strength {
    if cond == "false" {
        return Strength::Nothing;
    }
    let nil_only = cond.split("&&").chain(cond.split("||")).all(|part| {
        let p = part.trim();
        p.ends_with("!= nil") || p.ends_with("== nil") || !p.contains("==") && !p.contains("!=")
    });
    let calls_compare = ["Equal", "Diff", "Compare", "Contains", "<", ">"]
        .iter()
        .any(|c| cond.contains(c));
    if nil_only && !calls_compare {
        Strength::Truthy
    } else {
        Strength::Value
    }
}
