//! The test finder for Java (JUnit 3, 4 and 5, TestNG): methods annotated `@Test`,
//! `@ParameterizedTest`, `@RepeatedTest`, ... (or `test*` methods of a `TestCase`), named
//! `Class.method`; `@Disabled`/`@Ignore` on the method or its class, `@Test(enabled = false)`,
//! assumptions that cannot hold; `@Test(expected = ...)`; `@ValueSource`/`@CsvSource` cases;
//! JUnit, Hamcrest and AssertJ assertions; early returns and `catch` blocks that swallow.

use tree_sitter::{Node, Tree};

use super::suite::{
    BodyScan, Evidence, Strength, Suite, TestFn, body_key, elements, evidence, squash, text, walk,
};

pub fn suite(tree: &Tree, src: &[u8]) -> Suite {
    let mut out = Suite::default();
    walk(
        tree.root_node(),
        &|n| n.kind() == "class_declaration",
        &mut |n| {
            if n.kind() == "class_declaration" {
                class(n, src, &mut out);
            }
        },
    );
    out
}

fn annotations<'t>(decl: Node<'t>) -> Vec<Node<'t>> {
    let mut cursor = decl.walk();
    let Some(mods) = decl
        .named_children(&mut cursor)
        .find(|c| c.kind() == "modifiers")
    else {
        return Vec::new();
    };
    let mut cursor = mods.walk();
    mods.named_children(&mut cursor)
        .filter(|c| matches!(c.kind(), "marker_annotation" | "annotation"))
        .collect()
}

fn annotation_name<'s>(a: Node<'_>, src: &'s [u8]) -> &'s str {
    let n = a
        .child_by_field_name("name")
        .map(|n| text(n, src))
        .unwrap_or("");
    n.rsplit('.').next().unwrap_or(n)
}

fn skip_annotation(a: Node<'_>, src: &[u8]) -> bool {
    let name = annotation_name(a, src);
    name.starts_with("Disabled")
        || name == "Ignore"
        || name == "Test"
            && squash(text(a, src))
                .replace(' ', "")
                .contains("enabled=false")
}

fn class(c: Node<'_>, src: &[u8], out: &mut Suite) {
    let (Some(name), Some(body)) = (c.child_by_field_name("name"), c.child_by_field_name("body"))
    else {
        return;
    };
    let name = text(name, src);
    let junit3 = c
        .child_by_field_name("superclass")
        .is_some_and(|s| text(s, src).contains("TestCase"));
    let class_skip = annotations(c)
        .into_iter()
        .find(|a| skip_annotation(*a, src))
        .map(|a| evidence(a, src));
    let mut cursor = body.walk();
    for m in body.named_children(&mut cursor) {
        match m.kind() {
            "method_declaration" => method(m, src, name, junit3, class_skip.as_ref(), out),
            "class_declaration" => class(m, src, out),
            _ => {}
        }
    }
}

fn method(
    m: Node<'_>,
    src: &[u8],
    class: &str,
    junit3: bool,
    class_skip: Option<&Evidence>,
    out: &mut Suite,
) {
    let (Some(name), Some(body)) = (m.child_by_field_name("name"), m.child_by_field_name("body"))
    else {
        return;
    };
    let name = text(name, src);
    let full = format!("{class}.{name}");
    let key = body_key(body, src);
    let annots = annotations(m);
    const TEST: &[&str] = &[
        "Test",
        "ParameterizedTest",
        "RepeatedTest",
        "TestFactory",
        "TestTemplate",
        "Property",
    ];
    let annotated = annots
        .iter()
        .any(|a| TEST.contains(&annotation_name(*a, src)));
    if !(annotated || junit3 && name.starts_with("test")) {
        out.others.push((full, key));
        return;
    }
    let head = annots.first().copied().unwrap_or(m);
    let mut t = TestFn {
        name: full,
        head: evidence(head, src),
        body_key: key,
        skip: class_skip.cloned(),
        ..TestFn::default()
    };
    for a in &annots {
        let at = squash(text(*a, src)).replace(' ', "");
        if t.skip.is_none() && skip_annotation(*a, src) {
            t.skip = Some(evidence(*a, src));
        }
        if annotation_name(*a, src) == "Test" && at.contains("expected=") {
            t.expects_failure = Some(evidence(*a, src));
        }
        if matches!(annotation_name(*a, src), "ValueSource" | "CsvSource") {
            walk(*a, &|_| false, &mut |n| {
                if n.kind() == "element_value_array_initializer" {
                    t.cases.extend(elements(n, src));
                }
            });
        }
    }
    scan().scan(body, src, &mut t);
    if t.skip.is_none() {
        t.skip = impossible_assumption(body, src);
    }
    out.tests.push(t);
}

/// `assumeTrue(false)`, `assumeFalse(true)`, `Assumptions.abort()`: the test never runs.
fn impossible_assumption(body: Node<'_>, src: &[u8]) -> Option<Evidence> {
    let mut found = None;
    walk(body, &|_| false, &mut |n| {
        if found.is_some() || n.kind() != "method_invocation" {
            return;
        }
        let name = n.child_by_field_name("name").map(|x| text(x, src));
        let arg = n
            .child_by_field_name("arguments")
            .and_then(|a| a.named_child(0))
            .map(|a| text(a, src));
        let never = matches!((name, arg), (Some("assumeTrue"), Some("false")))
            || matches!((name, arg), (Some("assumeFalse"), Some("true")))
            || name == Some("abort");
        if never {
            found = Some(evidence(n, src));
        }
    });
    found
}

fn scan() -> BodyScan<'static> {
    BodyScan {
        assertion: &assertion,
        is_function: &|n| matches!(n.kind(), "lambda_expression" | "class_body"),
        is_return: &|n| n.kind() == "return_statement",
        swallows: &|n, src| {
            if n.kind() != "catch_clause" {
                return false;
            }
            let t = text(n, src);
            !(t.contains("throw") || t.contains("fail(") || t.contains("assert"))
        },
    }
}

fn assertion(n: Node<'_>, src: &[u8]) -> Option<Strength> {
    if n.kind() != "method_invocation" {
        return None;
    }
    let name = text(n.child_by_field_name("name")?, src);
    let first = n
        .child_by_field_name("arguments")
        .and_then(|a| a.named_child(0));
    // AssertJ: the chain's root is `assertThat(...)`; the last call is the check.
    let mut root = n;
    while let Some(o) = root
        .child_by_field_name("object")
        .filter(|o| o.kind() == "method_invocation")
    {
        root = o;
    }
    if root != n {
        let root_name = root.child_by_field_name("name").map(|x| text(x, src));
        if !matches!(
            root_name,
            Some("assertThat" | "assertThatThrownBy" | "assertThatCode" | "then")
        ) {
            return None;
        }
        const WEAK: &[&str] = &[
            "isNotNull",
            "isNull",
            "isTrue",
            "isFalse",
            "isNotEmpty",
            "isPresent",
            "isNotBlank",
            "isInstanceOf",
            "exists",
            "doesNotThrowAnyException",
        ];
        let subject = root
            .child_by_field_name("arguments")
            .and_then(|a| a.named_child(0));
        if subject.is_some_and(|s| matches!(s.kind(), "true" | "decimal_integer_literal")) {
            return Some(Strength::Nothing);
        }
        return Some(if WEAK.contains(&name) {
            Strength::Truthy
        } else {
            Strength::Value
        });
    }
    match name {
        "assertTrue" | "assertFalse" | "assertNotNull" | "assertNull" | "assertDoesNotThrow" => {
            if first.is_some_and(|a| matches!(a.kind(), "true" | "false" | "string_literal"))
                && n.child_by_field_name("arguments")
                    .is_some_and(|a| a.named_child_count() == 1)
            {
                Some(Strength::Nothing)
            } else {
                Some(Strength::Truthy)
            }
        }
        "fail" | "verify" | "assertThat" => Some(Strength::Value),
        _ if name.starts_with("assert") => Some(Strength::Value),
        _ => None,
    }
}
