//! The test finder for Rust: functions with a test attribute (`#[test]`, `#[tokio::test]`,
//! `#[rstest]`, `#[test_case(..)]`, ...) in any module, named by their module path; `#[ignore]`
//! in any spelling (`cfg_attr(.., ignore)`, a `cfg` that cannot hold on the test or its
//! module), `#[should_panic]`, rstest and test-case cases, tables in the body; the `assert*!`
//! macros, early returns and `catch_unwind` whose result nobody checks. `assert!` outside a
//! test function is production code, never counted.

use tree_sitter::{Node, Tree};

use super::suite::{
    BodyScan, Evidence, Strength, Suite, TestFn, body_key, evidence, evidence_whole, squash, text,
    walk,
};

pub fn suite(tree: &Tree, src: &[u8]) -> Suite {
    let mut out = Suite::default();
    items(tree.root_node(), src, "", None, &mut out);
    out
}

/// The items of a file or module body, each with the attributes written before it.
fn items(list: Node<'_>, src: &[u8], path: &str, off: Option<&Evidence>, out: &mut Suite) {
    let mut cursor = list.walk();
    let mut attrs: Vec<Node<'_>> = Vec::new();
    for item in list.named_children(&mut cursor) {
        match item.kind() {
            "attribute_item" => {
                attrs.push(item);
                continue;
            }
            "line_comment" | "block_comment" => continue,
            "mod_item" => {
                if let (Some(name), Some(body)) = (
                    item.child_by_field_name("name"),
                    item.child_by_field_name("body"),
                ) {
                    let inner = join(path, text(name, src));
                    let own = attrs
                        .iter()
                        .find(|a| impossible_cfg(&attr_text(**a, src)))
                        .map(|a| evidence(*a, src));
                    items(body, src, &inner, own.as_ref().or(off), out);
                }
            }
            "function_item" => function(item, &attrs, src, path, off, out),
            "impl_item" => {
                if let Some(body) = item.child_by_field_name("body") {
                    items(body, src, path, off, out);
                }
            }
            _ => {}
        }
        attrs.clear();
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}::{name}")
    }
}

/// An attribute's text without `#[` and `]`, whitespace squashed.
fn attr_text(a: Node<'_>, src: &[u8]) -> String {
    let t = squash(text(a, src));
    t.trim_start_matches("#[")
        .trim_end_matches(']')
        .trim()
        .to_string()
}

fn impossible_cfg(a: &str) -> bool {
    let a = a.replace(' ', "");
    a.starts_with("cfg(")
        && (a.contains("any()")
            || a.contains("not(all())")
            || a == "cfg(FALSE)"
            || a == "cfg(false)"
            || a.contains("feature=\"never\""))
}

fn is_test_attr(a: &str) -> bool {
    let name = a.split(['(', ' ', '=']).next().unwrap_or("");
    let last = name.rsplit("::").next().unwrap_or(name);
    matches!(
        last,
        "test" | "rstest" | "test_case" | "wasm_bindgen_test" | "quickcheck" | "test_log"
    ) || name.ends_with("::test")
}

fn function(
    f: Node<'_>,
    attrs: &[Node<'_>],
    src: &[u8],
    path: &str,
    off: Option<&Evidence>,
    out: &mut Suite,
) {
    let (Some(name), Some(body)) = (f.child_by_field_name("name"), f.child_by_field_name("body"))
    else {
        return;
    };
    let full = join(path, text(name, src));
    let key = body_key(body, src);
    let texts: Vec<String> = attrs.iter().map(|a| attr_text(*a, src)).collect();
    if !texts.iter().any(|a| is_test_attr(a)) {
        out.others.push((full, key));
        return;
    }
    let head = attrs.first().copied().unwrap_or(f);
    let mut t = TestFn {
        name: full,
        head: evidence(head, src),
        body_key: key,
        skip: off.cloned(),
        ..TestFn::default()
    };
    for (a, at) in attrs.iter().zip(&texts) {
        let ignore = at == "ignore"
            || at.starts_with("ignore ")
            || at.starts_with("ignore=")
            || at.starts_with("cfg_attr(") && at.replace(' ', "").contains(",ignore")
            || impossible_cfg(at);
        if ignore && t.skip.is_none() {
            t.skip = Some(evidence(*a, src));
        }
        if at.starts_with("should_panic") {
            t.expects_failure = Some(evidence(*a, src));
        }
        if at.starts_with("case(") || at.starts_with("case ") || at.starts_with("test_case(") {
            t.cases.push(evidence_whole(*a, src));
        }
    }
    scan().scan(body, src, &mut t);
    t.cases.extend(tables(body, src));
    swallowed_unwinds(body, src, &mut t);
    out.tests.push(t);
}

/// Rows of array literals in the body whose elements are tuples, structs or arrays.
fn tables(body: Node<'_>, src: &[u8]) -> Vec<Evidence> {
    let mut rows = Vec::new();
    walk(body, &|_| false, &mut |n| {
        if n.kind() != "array_expression" {
            return;
        }
        let mut cursor = n.walk();
        let elems: Vec<Node<'_>> = n.named_children(&mut cursor).collect();
        let compound = |e: &Node<'_>| {
            matches!(
                e.kind(),
                "tuple_expression" | "struct_expression" | "array_expression"
            )
        };
        if !elems.is_empty() && elems.iter().all(compound) {
            rows.extend(elems.iter().map(|e| evidence_whole(*e, src)));
        }
    });
    rows
}

/// `let _ = std::panic::catch_unwind(..)` or a bare `catch_unwind(..);` around assertions.
fn swallowed_unwinds(body: Node<'_>, src: &[u8], t: &mut TestFn) {
    walk(body, &|_| false, &mut |n| {
        if n.kind() != "call_expression" {
            return;
        }
        let Some(f) = n.child_by_field_name("function") else {
            return;
        };
        if !text(f, src).ends_with("catch_unwind") {
            return;
        }
        let unchecked = n.parent().is_some_and(|p| {
            p.kind() == "expression_statement"
                || p.kind() == "let_declaration"
                    && p.child_by_field_name("pattern")
                        .is_some_and(|q| text(q, src) == "_")
        });
        let guards = t
            .asserts
            .iter()
            .any(|a| (n.start_position().row as u32) < a.line);
        if unchecked && guards {
            t.swallows.push(evidence(n.parent().unwrap_or(n), src));
        }
    });
}

fn scan() -> BodyScan<'static> {
    BodyScan {
        assertion: &assertion,
        is_function: &|n| matches!(n.kind(), "closure_expression" | "function_item"),
        is_return: &|n| n.kind() == "return_expression",
        swallows: &|_, _| false,
    }
}

fn assertion(n: Node<'_>, src: &[u8]) -> Option<Strength> {
    if n.kind() != "macro_invocation" {
        return None;
    }
    let m = n.child_by_field_name("macro")?;
    let name = text(m, src);
    let name = name.rsplit("::").next().unwrap_or(name);
    if name.starts_with("assert_") && name != "assert_ne" || name.contains("_assert_") {
        return Some(Strength::Value);
    }
    if name == "assert_ne" {
        return Some(Strength::Value);
    }
    if !matches!(name, "assert" | "debug_assert" | "prop_assert") {
        return None;
    }
    let mut cursor = n.walk();
    let tt = n
        .named_children(&mut cursor)
        .find(|c| c.kind() == "token_tree")?;
    let args = squash(text(tt, src));
    let first = args
        .trim_start_matches('(')
        .split(',')
        .next()
        .unwrap_or("")
        .trim()
        .trim_end_matches(')');
    Some(if first == "true" || first.is_empty() {
        Strength::Nothing
    } else if ["==", "!=", "<", ">", "matches!"]
        .iter()
        .any(|op| first.contains(op))
    {
        Strength::Value
    } else {
        Strength::Truthy
    })
}
