//! The test finder for Python (pytest and unittest): `test*` functions at module level and
//! `test*` methods of `Test*` or `TestCase` classes, their skip and xfail markers in every
//! spelling pytest and unittest accept, `parametrize` cases, assertions (`assert`, the
//! `self.assert*` family, `pytest.raises`), early returns and `except` handlers that swallow
//! failures. A plain `assert` outside a collected test is production code, never counted.

use tree_sitter::{Node, Tree};

use super::suite::{
    BodyScan, Evidence, Strength, Suite, TestFn, body_key, elements, evidence, squash, text,
};

pub fn suite(tree: &Tree, src: &[u8], collected: bool) -> Suite {
    let mut out = Suite::default();
    let root = tree.root_node();
    let mut cursor = root.walk();
    for item in root.named_children(&mut cursor) {
        if let Some(skip) = module_skip(item, src) {
            out.file_skip.get_or_insert(skip);
        }
        definition(item, src, collected, None, &[], &mut out);
    }
    out
}

/// `pytestmark = pytest.mark.skip(...)` (or a list holding one), or a module-level
/// `pytest.skip(..., allow_module_level=True)`.
fn module_skip(item: Node<'_>, src: &[u8]) -> Option<Evidence> {
    if item.kind() != "expression_statement" {
        return None;
    }
    let t = text(item, src);
    let marks = t.trim_start().starts_with("pytestmark") && skip_marker(t).is_some();
    let call = t.contains("allow_module_level") && t.contains("skip(");
    (marks || call).then(|| evidence(item, src))
}

/// A skip or xfail marker in a decorator's (or mark's) text.
fn skip_marker(t: &str) -> Option<&'static str> {
    const MARKERS: &[&str] = &[
        "mark.skipif",
        "mark.skip",
        "mark.xfail",
        "unittest.skip",
        "skipIf(",
        "skipUnless(",
        "expectedFailure",
        "@skip",
    ];
    let t = t.trim_start_matches('@');
    MARKERS
        .iter()
        .find(|m| t.contains(m.trim_start_matches('@')) || (m.starts_with('@') && t == "skip"))
        .copied()
}

/// A definition (possibly decorated) at module level or in a class.
fn definition(
    item: Node<'_>,
    src: &[u8],
    collected: bool,
    class: Option<&str>,
    inherited: &[Node<'_>],
    out: &mut Suite,
) {
    let (decorators, def) = match item.kind() {
        "decorated_definition" => {
            let mut cursor = item.walk();
            let decorators: Vec<Node<'_>> = item
                .named_children(&mut cursor)
                .filter(|c| c.kind() == "decorator")
                .collect();
            match item.child_by_field_name("definition") {
                Some(d) => (decorators, d),
                None => return,
            }
        }
        "function_definition" | "class_definition" => (Vec::new(), item),
        _ => return,
    };
    let Some(name) = def.child_by_field_name("name").map(|n| text(n, src)) else {
        return;
    };
    let Some(body) = def.child_by_field_name("body") else {
        return;
    };
    if def.kind() == "class_definition" {
        if class.is_some() {
            return;
        }
        let supers = def
            .child_by_field_name("superclasses")
            .map(|s| text(s, src))
            .unwrap_or("");
        let test_class = collected && (name.starts_with("Test") || supers.contains("TestCase"));
        let mut marks: Vec<Node<'_>> = inherited.to_vec();
        marks.extend(decorators);
        let mut cursor = body.walk();
        for member in body.named_children(&mut cursor) {
            if test_class {
                definition(member, src, true, Some(name), &marks, out);
            } else {
                definition(member, src, false, Some(name), &[], out);
            }
        }
        return;
    }
    let full = match class {
        Some(c) => format!("{c}::{name}"),
        None => name.to_string(),
    };
    let key = body_key(body, src);
    if !(collected && name.starts_with("test")) {
        out.others.push((full, key));
        return;
    }
    let mut t = TestFn {
        name: full,
        head: evidence(def, src),
        body_key: key,
        ..TestFn::default()
    };
    let mut parametrized: Vec<String> = Vec::new();
    let mut usefixtures: Vec<String> = Vec::new();
    for d in inherited.iter().chain(decorators.iter()) {
        let dt = squash(text(*d, src));
        if t.skip.is_none() && skip_marker(&dt).is_some() {
            t.skip = Some(evidence(*d, src));
        }
        if dt.contains("mark.parametrize") {
            let args = parametrize_args(*d, src);
            match parametrize_cases(*d, src) {
                Some(cases) => {
                    t.case_args.extend(cases.iter().map(|_| args.join(",")));
                    t.cases.extend(cases);
                }
                None => t.opaque_cases = true,
            }
            parametrized.extend(args);
        }
        if dt.contains("mark.usefixtures") {
            usefixtures.extend(parametrize_args(*d, src));
        }
    }
    t.fixtures = parameters(def, src)
        .into_iter()
        .filter(|p| !parametrized.contains(p) && p != "self" && p != "cls")
        .chain(usefixtures)
        .collect();
    scan().scan(body, src, &mut t);
    if t.skip.is_none() {
        t.skip = body_skip(body, src);
    }
    out.tests.push(t);
}

/// `pytest.skip(...)`, `self.skipTest(...)`, `raise SkipTest` as a statement of the body.
fn body_skip(body: Node<'_>, src: &[u8]) -> Option<Evidence> {
    let mut cursor = body.walk();
    let found = body.named_children(&mut cursor).find(|s| {
        let t = text(*s, src).trim_start();
        t.starts_with("pytest.skip(")
            || t.starts_with("self.skipTest(")
            || t.starts_with("raise unittest.SkipTest")
            || t.starts_with("raise SkipTest")
            || t.starts_with("pytest.xfail(")
    });
    found.map(|s| evidence(s, src))
}

/// The names a function takes (`def test_x(self, slots, tmp_path=None)`).
fn parameters(def: Node<'_>, src: &[u8]) -> Vec<String> {
    let Some(params) = def.child_by_field_name("parameters") else {
        return Vec::new();
    };
    let mut cursor = params.walk();
    params
        .named_children(&mut cursor)
        .filter_map(|p| match p.kind() {
            "identifier" => Some(text(p, src).to_string()),
            "typed_parameter" => p
                .named_child(0)
                .filter(|n| n.kind() == "identifier")
                .map(|n| text(n, src).to_string()),
            "default_parameter" | "typed_default_parameter" => p
                .child_by_field_name("name")
                .map(|n| text(n, src).to_string()),
            _ => None,
        })
        .collect()
}

/// The argument names of `@pytest.mark.parametrize("a,b", ...)` (a string of names, or a
/// list or tuple of them; the first positional argument, or `argnames=`), or the first
/// fixture of `@pytest.mark.usefixtures("name")`.
fn parametrize_args(decorator: Node<'_>, src: &[u8]) -> Vec<String> {
    let mut calls = Vec::new();
    super::suite::walk(decorator, &|_| false, &mut |n| {
        if n.kind() == "call" {
            calls.push(n);
        }
    });
    let Some(args) = calls
        .first()
        .and_then(|c| c.child_by_field_name("arguments"))
    else {
        return Vec::new();
    };
    let mut cursor = args.walk();
    let list: Vec<Node<'_>> = args.named_children(&mut cursor).collect();
    let names = list
        .iter()
        .find(|a| {
            a.kind() == "keyword_argument"
                && a.child_by_field_name("name")
                    .is_some_and(|n| text(n, src) == "argnames")
        })
        .and_then(|a| a.child_by_field_name("value"))
        .or_else(|| {
            list.iter()
                .find(|a| a.kind() != "keyword_argument")
                .copied()
        });
    let Some(names) = names else {
        return Vec::new();
    };
    text(names, src)
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// The cases of `@pytest.mark.parametrize("a,b", [(1, 2), (3, 4)])`: the list argument's
/// elements (the second positional argument, or `argvalues=`).
fn parametrize_cases(decorator: Node<'_>, src: &[u8]) -> Option<Vec<Evidence>> {
    let mut calls = Vec::new();
    super::suite::walk(decorator, &|_| false, &mut |n| {
        if n.kind() == "call" {
            calls.push(n);
        }
    });
    let args = calls
        .first()
        .and_then(|c| c.child_by_field_name("arguments"))?;
    let mut cursor = args.walk();
    let list: Vec<Node<'_>> = args.named_children(&mut cursor).collect();
    let values = list
        .iter()
        .find(|a| {
            a.kind() == "keyword_argument"
                && a.child_by_field_name("name")
                    .is_some_and(|n| text(n, src) == "argvalues")
        })
        .and_then(|a| a.child_by_field_name("value"))
        .or_else(|| {
            list.iter()
                .filter(|a| a.kind() != "keyword_argument")
                .nth(1)
                .copied()
        });
    match values {
        Some(v) if matches!(v.kind(), "list" | "tuple") => Some(elements(v, src)),
        _ => None,
    }
}

fn scan() -> BodyScan<'static> {
    BodyScan {
        assertion: &assertion,
        is_function: &|n| {
            matches!(
                n.kind(),
                "function_definition" | "lambda" | "class_definition"
            )
        },
        is_return: &|n| n.kind() == "return_statement",
        swallows: &swallows,
    }
}

/// An `except` clause that does not raise again (nor fail the test itself).
fn swallows(n: Node<'_>, _src: &[u8]) -> bool {
    if n.kind() != "except_clause" {
        return false;
    }
    let mut raises = false;
    super::suite::walk(n, &|_| false, &mut |c| {
        if c.kind() == "raise_statement" || c.kind() == "assert_statement" {
            raises = true;
        }
    });
    !raises
}

fn assertion(n: Node<'_>, src: &[u8]) -> Option<Strength> {
    match n.kind() {
        "assert_statement" => {
            let e = n.named_child(0)?;
            Some(expression_strength(e))
        }
        "call" => {
            let f = n.child_by_field_name("function")?;
            let name = match f.kind() {
                "attribute" => f.child_by_field_name("attribute")?,
                "identifier" => f,
                _ => return None,
            };
            let name = text(name, src);
            if name == "raises" || name == "warns" || name == "fail" {
                return Some(Strength::Value);
            }
            if !(name.starts_with("assert") || name.starts_with("assert_")) {
                return None;
            }
            let first = n
                .child_by_field_name("arguments")
                .and_then(|a| a.named_child(0));
            if first.is_some_and(|a| matches!(a.kind(), "true" | "integer" | "string")) {
                return Some(Strength::Nothing);
            }
            const VALUE: &[&str] = &[
                "Equal", "In", "Raises", "Regex", "Greater", "Less", "Warns", "Logs", "Almost",
                "_equal", "_close", "_raises", "Is", "Match",
            ];
            if name == "assertTrue" || name == "assertFalse" || name == "assert_" {
                return Some(match first {
                    Some(a) => expression_strength(a),
                    None => Strength::Nothing,
                });
            }
            if name.contains("None") || name.contains("IsInstance") {
                return Some(Strength::Truthy);
            }
            Some(if VALUE.iter().any(|v| name.contains(v)) {
                Strength::Value
            } else {
                Strength::Truthy
            })
        }
        _ => None,
    }
}

fn expression_strength(e: Node<'_>) -> Strength {
    match e.kind() {
        "true" | "string" | "integer" | "float" | "concatenated_string" => Strength::Nothing,
        "comparison_operator" => {
            let mut cursor = e.walk();
            let literal_only = e
                .named_children(&mut cursor)
                .skip(1)
                .all(|c| matches!(c.kind(), "none" | "true" | "false"));
            if literal_only {
                Strength::Truthy
            } else {
                Strength::Value
            }
        }
        "boolean_operator" | "parenthesized_expression" => {
            let mut cursor = e.walk();
            e.named_children(&mut cursor)
                .map(expression_strength)
                .max()
                .unwrap_or(Strength::Truthy)
        }
        _ => Strength::Truthy,
    }
}
