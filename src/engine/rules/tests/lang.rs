//! Which language a path is written in, which paths its runner collects tests from, and the
//! one parse of a blob with that language's tree-sitter grammar, handed to its finder.
//! Paths without a grammar here are left to the line rules.

use tree_sitter::{Language, Parser, Tree};

use super::suite::Suite;
use super::{go, java, js, python, rust};

/// A language with a grammar and a test finder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Python,
    JavaScript,
    TypeScript,
    Tsx,
    Rust,
    Go,
    Java,
}

impl Lang {
    pub fn of(path: &str) -> Option<Lang> {
        let ext = path.rsplit_once('.').map(|(_, e)| e)?;
        Some(match ext {
            "py" => Lang::Python,
            "js" | "mjs" | "cjs" | "jsx" => Lang::JavaScript,
            "ts" | "mts" | "cts" => Lang::TypeScript,
            "tsx" => Lang::Tsx,
            "rs" => Lang::Rust,
            "go" => Lang::Go,
            "java" => Lang::Java,
            _ => return None,
        })
    }

    fn grammar(self) -> Language {
        match self {
            Lang::Python => tree_sitter_python::LANGUAGE.into(),
            Lang::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Lang::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Lang::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
            Lang::Rust => tree_sitter_rust::LANGUAGE.into(),
            Lang::Go => tree_sitter_go::LANGUAGE.into(),
            Lang::Java => tree_sitter_java::LANGUAGE.into(),
        }
    }

    /// Whether the runner collects tests from `path` at all (its file-name conventions).
    pub fn collects(self, path: &str) -> bool {
        let base = path.rsplit('/').next().unwrap_or(path);
        let dirs = |names: &[&str]| path.split('/').rev().skip(1).any(|d| names.contains(&d));
        match self {
            // pytest's `python_files` default and unittest's `test*.py`.
            Lang::Python => {
                base.starts_with("test") && base.ends_with(".py") || base.ends_with("_test.py")
            }
            Lang::JavaScript | Lang::TypeScript | Lang::Tsx => {
                base.contains(".test.")
                    || base.contains(".spec.")
                    || base.contains("_test.")
                    || base.contains("-test.")
                    || dirs(&["__tests__", "test", "tests", "spec"])
            }
            // Unit tests live beside the code, integration tests in tests/: any file.
            Lang::Rust => true,
            Lang::Go => base.ends_with("_test.go"),
            Lang::Java => true,
        }
    }
}

/// Parse `src` once and read its tests. A blob that is not valid UTF-8 or that the grammar
/// cannot read into a tree is `None`: the line rules judge it instead.
pub fn suite(lang: Lang, path: &str, src: &[u8]) -> Option<Suite> {
    if std::str::from_utf8(src).is_err() {
        return None;
    }
    let tree = parse(lang, src)?;
    let collected = lang.collects(path);
    Some(match lang {
        Lang::Python => python::suite(&tree, src, collected),
        Lang::JavaScript | Lang::TypeScript | Lang::Tsx => js::suite(&tree, src, collected),
        Lang::Rust => rust::suite(&tree, src),
        Lang::Go => go::suite(&tree, src, collected),
        Lang::Java => java::suite(&tree, src),
    })
}

pub fn parse(lang: Lang, src: &[u8]) -> Option<Tree> {
    let mut parser = Parser::new();
    parser.set_language(&lang.grammar()).ok()?;
    parser.parse(src, None)
}
