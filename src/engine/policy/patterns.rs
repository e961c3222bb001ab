//! Compiled path and ref patterns: gitignore-style path globs (one `GlobSet` per list, case
//! folding where the policy asks for it), full ref-name globs, and regexes compiled once.
//!
//! Pure data and matching: reads no file, prints nothing.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use regex::bytes::{Regex, RegexBuilder};

/// A compiled list of path patterns; `matches` gives indices back into `patterns`.
///
/// A pattern `X` matches a path or anything below a directory matching `X`; `X/` only the
/// latter. Rather than compiling `X` and `X/**` both, each glob is compiled once and the part
/// "below a directory" is tested by matching the path's leading directories (`a`, `a/b` for
/// `a/b/c`): the same paths match, with half the globs to compile on every run.
#[derive(Debug, Clone, Default)]
pub struct PathPatterns {
    pub patterns: Vec<String>,
    /// Globs of name patterns: matched against the path and its leading directories.
    pub(super) names: GlobSet,
    pub(super) names_to_pattern: Vec<usize>,
    /// Globs of directory patterns (`X/`): matched against the leading directories only.
    pub(super) dirs: GlobSet,
    pub(super) dirs_to_pattern: Vec<usize>,
}

impl PathPatterns {
    /// Compile `patterns` (gitignore-like, see the module doc). The error names the index of
    /// the first bad pattern; [`PathPatterns::check`] finds every bad one.
    pub fn new(patterns: &[String], case_insensitive: bool) -> Result<Self, (usize, String)> {
        let mut names = GlobSetBuilder::new();
        let mut dirs = GlobSetBuilder::new();
        let mut names_to_pattern = Vec::new();
        let mut dirs_to_pattern = Vec::new();
        for (i, p) in patterns.iter().enumerate() {
            for (glob, dir_only) in path_globs(p, case_insensitive).map_err(|msg| (i, msg))? {
                if dir_only {
                    dirs.add(glob);
                    dirs_to_pattern.push(i);
                } else {
                    names.add(glob);
                    names_to_pattern.push(i);
                }
            }
        }
        let names = names.build().map_err(|e| (0, e.to_string()))?;
        let dirs = dirs.build().map_err(|e| (0, e.to_string()))?;
        Ok(PathPatterns {
            patterns: patterns.to_vec(),
            names,
            names_to_pattern,
            dirs,
            dirs_to_pattern,
        })
    }

    /// Every bad pattern in `patterns`, by index, with what is wrong with it.
    pub fn check(patterns: &[String]) -> Vec<(usize, String)> {
        patterns
            .iter()
            .enumerate()
            .filter_map(|(i, p)| path_globs(p, false).err().map(|msg| (i, msg)))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    pub fn is_match(&self, path: &str) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        self.names.is_match(path)
            || leading_dirs(path).any(|d| self.names.is_match(d) || self.dirs.is_match(d))
    }

    /// The patterns (as written in the policy) that match `path`, in policy order.
    pub fn matching(&self, path: &str) -> Vec<&str> {
        // Most paths match nothing, and telling that is cheaper than listing what matches.
        if !self.is_match(path) {
            return Vec::new();
        }
        let mut out: Vec<usize> = Vec::new();
        let names = |c: &str, out: &mut Vec<usize>| {
            out.extend(
                self.names
                    .matches(c)
                    .into_iter()
                    .map(|g| self.names_to_pattern[g]),
            )
        };
        names(path, &mut out);
        for d in leading_dirs(path) {
            names(d, &mut out);
            out.extend(
                self.dirs
                    .matches(d)
                    .into_iter()
                    .map(|g| self.dirs_to_pattern[g]),
            );
        }
        out.sort_unstable();
        out.dedup();
        out.into_iter().map(|i| self.patterns[i].as_str()).collect()
    }
}

/// `a` and `a/b` for `a/b/c`: the directories a path lies in, outermost first.
pub(super) fn leading_dirs(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

/// The globs that implement one path pattern, each with whether it applies to leading
/// directories only, or what is wrong with the pattern.
pub(super) fn path_globs(
    p: &str,
    case_insensitive: bool,
) -> Result<Vec<(globset::Glob, bool)>, String> {
    if p.trim().is_empty() {
        return Err("empty pattern (remove it, or write the path it should match)".into());
    }
    let (base, dir) = expand_path_pattern(p);
    let globs = if base.is_empty() || base.ends_with("**") || base.ends_with('/') {
        // There `X/**` is not "X on a leading directory" (`**/**` matches a top-level name
        // too): keep the two globs, both tried on the whole path.
        let mut g = vec![(format!("{base}/**"), false)];
        if !dir {
            g.push((base, false));
        }
        g
    } else {
        vec![(base, dir)]
    };
    globs
        .into_iter()
        .map(|(g, dir_only)| {
            GlobBuilder::new(&g)
                .literal_separator(true)
                .case_insensitive(case_insensitive)
                .backslash_escape(true)
                .empty_alternates(true)
                .build()
                .map(|g| (g, dir_only))
                .map_err(|e| glob_error_text(p, &e))
        })
        .collect()
}

pub(super) fn glob_error_text(pattern: &str, e: &globset::Error) -> String {
    let mut s = format!("bad glob {pattern:?}: {}", e.kind());
    if s.contains("maybe escape") {
        // globset gave its own hint.
    } else if pattern.contains('{') && !pattern.contains('}') {
        s.push_str(" (maybe escape '{' with '[{]'?)");
    } else if pattern.contains('[') && !pattern.contains(']') {
        s.push_str(" (maybe escape '[' with '[[]'?)");
    }
    s
}

/// Translate one gitignore-like pattern into the glob that implements it, and whether it
/// names directories only (a trailing `/`). A match of the glob on one of a path's leading
/// directories covers everything below it.
pub(super) fn expand_path_pattern(p: &str) -> (String, bool) {
    let p = p.trim();
    let (body, dir) = match p.strip_suffix('/') {
        Some(b) => (b, true),
        None => (p, false),
    };
    let anchored = body.starts_with('/') || body.contains('/');
    let body = body.trim_start_matches('/');
    let base = if anchored || body.starts_with("**") {
        body.to_string()
    } else {
        format!("**/{body}")
    };
    (base, dir)
}

/// A compiled list of ref patterns. A pattern that does not start with `refs/` names a branch
/// (`main` means `refs/heads/main`).
#[derive(Debug, Clone, Default)]
pub struct RefPatterns {
    pub patterns: Vec<String>,
    set: GlobSet,
}

impl RefPatterns {
    pub fn new(patterns: &[String]) -> Result<Self, (usize, String)> {
        let mut b = GlobSetBuilder::new();
        for (i, p) in patterns.iter().enumerate() {
            let full = full_ref_pattern(p);
            let glob = GlobBuilder::new(&full)
                .literal_separator(false)
                .build()
                .map_err(|e| (i, glob_error_text(p, &e)))?;
            b.add(glob);
        }
        let set = b.build().map_err(|e| (0, e.to_string()))?;
        Ok(RefPatterns {
            patterns: patterns.to_vec(),
            set,
        })
    }

    pub fn is_match(&self, refname: &str) -> bool {
        !self.patterns.is_empty() && self.set.is_match(refname)
    }

    pub fn matching(&self, refname: &str) -> Vec<&str> {
        self.set
            .matches(refname)
            .into_iter()
            .map(|i| self.patterns[i].as_str())
            .collect()
    }
}

/// `main` -> `refs/heads/main`; `refs/tags/*` stays.
pub fn full_ref_pattern(p: &str) -> String {
    if p.starts_with("refs/") {
        p.to_string()
    } else {
        format!("refs/heads/{p}")
    }
}

/// A compiled regex with the text it came from.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub source: String,
    pub regex: Regex,
}

impl Pattern {
    pub fn new(source: &str) -> Result<Self, String> {
        let regex = RegexBuilder::new(source)
            .unicode(false)
            .build()
            .or_else(|_| RegexBuilder::new(source).build())
            .map_err(|e| regex_error_text(source, &e))?;
        Ok(Pattern {
            source: source.to_string(),
            regex,
        })
    }
}

/// A regex error on one line: the regex crate's own text spans several lines (the pattern, a
/// caret, the error), which would break the `file:line:col: key: message` form.
fn regex_error_text(source: &str, e: &regex::Error) -> String {
    let text = e.to_string();
    let lines: Vec<&str> = text.lines().collect();
    let what = lines
        .iter()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or_else(|| lines.last().copied().unwrap_or("invalid"));
    // The caret line sits under the pattern line, both indented by four spaces.
    let at = lines
        .iter()
        .find(|l| l.trim_start().starts_with('^'))
        .map(|l| l.len() - l.trim_start().len());
    match at {
        Some(indent) if indent >= 4 => format!(
            "bad regex {source:?}: {what} (at character {} of the pattern)",
            indent - 4 + 1
        ),
        _ => format!("bad regex {source:?}: {what}"),
    }
}
