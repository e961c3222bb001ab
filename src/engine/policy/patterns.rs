//! Compiled path and ref patterns: gitignore-style path globs (one `GlobSet` per list, case
//! folding where the policy asks for it), full ref-name globs, and regexes compiled once.
//!
//! Pure data and matching: reads no file, prints nothing.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use regex::bytes::{Regex, RegexBuilder};

/// A list of path patterns; `matches` gives indices back into `patterns`.
///
/// A pattern `X` matches a path or anything below a directory matching `X`; `X/` only the
/// latter. Rather than compiling `X` and `X/**` both, each glob is compiled once and the part
/// "below a directory" is tested by matching the path's leading directories (`a`, `a/b` for
/// `a/b/c`): the same paths match, with half the globs to compile.
///
/// The globs are parsed (and so checked) when the list is made, and compiled only when a
/// path may match one of them: each glob has a run of literal text every path it matches
/// contains (`.pem` in `**/*.pem`), and a path holding none of them is told apart without
/// compiling anything. A commit of a few files rarely holds one, and compiling is most of
/// what reading a policy costs; past a few dozen paths (a push), the list is compiled anyway,
/// as matching the compiled set is then the cheaper way.
#[derive(Debug, Clone, Default)]
pub struct PathPatterns {
    pub patterns: Vec<String>,
    globs: Vec<PathGlob>,
    case_insensitive: bool,
    compiled: std::sync::OnceLock<Compiled>,
    /// Paths told apart by their text so far: past [`PROBES_BEFORE_COMPILING`], the compiled
    /// set is the cheaper way (a push of thousands of files).
    probes: Probes,
}

/// Paths a list tells apart by the globs' text before it compiles them anyway: a commit of
/// a few files stays under it, a push of many files goes over it after a few paths.
const PROBES_BEFORE_COMPILING: u32 = 64;

#[derive(Debug, Default)]
struct Probes(std::sync::atomic::AtomicU32);

impl Clone for Probes {
    fn clone(&self) -> Self {
        Probes(std::sync::atomic::AtomicU32::new(
            self.0.load(std::sync::atomic::Ordering::Relaxed),
        ))
    }
}

/// One glob of a pattern, parsed.
#[derive(Debug, Clone)]
struct PathGlob {
    glob: globset::Glob,
    /// Matched against the leading directories only (a pattern `X/`).
    dir_only: bool,
    pattern: usize,
    /// Runs of text every path it matches contains, each of them (ASCII lower case when
    /// matching folds case); none: any path may match.
    needles: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, Default)]
struct Compiled {
    /// Globs of name patterns: matched against the path and its leading directories.
    names: GlobSet,
    names_to_pattern: Vec<usize>,
    /// Globs of directory patterns (`X/`): matched against the leading directories only.
    dirs: GlobSet,
    dirs_to_pattern: Vec<usize>,
}

/// Above this much pattern text a list is compiled when it is made, so that a set too large
/// to compile is an error of the policy, told when it is read. Below it, compiling cannot
/// fail: each glob parsed, and the set is far under the regex engine's size limits.
const COMPILE_EAGERLY_ABOVE: usize = 16 * 1024;

impl PathPatterns {
    /// Parse `patterns` (gitignore-like, see the type's doc). The error names the index of
    /// the first bad pattern; [`PathPatterns::check`] finds every bad one.
    pub fn new(patterns: &[String], case_insensitive: bool) -> Result<Self, (usize, String)> {
        let mut globs = Vec::new();
        for (i, p) in patterns.iter().enumerate() {
            for (glob, dir_only) in path_globs(p, case_insensitive).map_err(|msg| (i, msg))? {
                let needles = literal_runs(glob.glob(), case_insensitive);
                globs.push(PathGlob {
                    glob,
                    dir_only,
                    pattern: i,
                    needles,
                });
            }
        }
        let list = PathPatterns {
            patterns: patterns.to_vec(),
            globs,
            case_insensitive,
            compiled: Default::default(),
            probes: Probes::default(),
        };
        if patterns.iter().map(String::len).sum::<usize>() > COMPILE_EAGERLY_ABOVE {
            let compiled = list.compile().map_err(|e| (0, e))?;
            let _ = list.compiled.set(compiled);
        }
        Ok(list)
    }

    fn compile(&self) -> Result<Compiled, String> {
        let mut names = GlobSetBuilder::new();
        let mut dirs = GlobSetBuilder::new();
        let mut c = Compiled::default();
        for g in &self.globs {
            if g.dir_only {
                dirs.add(g.glob.clone());
                c.dirs_to_pattern.push(g.pattern);
            } else {
                names.add(g.glob.clone());
                c.names_to_pattern.push(g.pattern);
            }
        }
        c.names = names.build().map_err(|e| e.to_string())?;
        c.dirs = dirs.build().map_err(|e| e.to_string())?;
        Ok(c)
    }

    /// The globs compiled, once, when a path first needs them.
    fn compiled(&self) -> &Compiled {
        self.compiled.get_or_init(|| {
            self.compile()
                .expect("a set of parsed globs this small always compiles")
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

    /// Whether some glob may match `path` or one of its leading directories (which are
    /// prefixes of it, so hold nothing it does not): false means none does.
    fn may_match(&self, path: &str) -> bool {
        let path = path.as_bytes();
        self.globs.iter().any(|g| {
            g.needles
                .iter()
                .all(|n| contains(path, n, self.case_insensitive))
        })
    }

    pub fn is_match(&self, path: &str) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        let c = match self.compiled.get() {
            Some(c) => c,
            None if self
                .probes
                .0
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                < PROBES_BEFORE_COMPILING
                && !self.may_match(path) =>
            {
                return false;
            }
            None => self.compiled(),
        };
        c.names.is_match(path)
            || leading_dirs(path).any(|d| c.names.is_match(d) || c.dirs.is_match(d))
    }

    /// The patterns (as written in the policy) that match `path`, in policy order.
    pub fn matching(&self, path: &str) -> Vec<&str> {
        // Most paths match nothing, and telling that is cheaper than listing what matches.
        if !self.is_match(path) {
            return Vec::new();
        }
        let c = self.compiled();
        let mut out: Vec<usize> = Vec::new();
        let names = |p: &str, out: &mut Vec<usize>| {
            out.extend(
                c.names
                    .matches(p)
                    .into_iter()
                    .map(|g| c.names_to_pattern[g]),
            )
        };
        names(path, &mut out);
        for d in leading_dirs(path) {
            names(d, &mut out);
            out.extend(c.dirs.matches(d).into_iter().map(|g| c.dirs_to_pattern[g]));
        }
        out.sort_unstable();
        out.dedup();
        out.into_iter().map(|i| self.patterns[i].as_str()).collect()
    }
}

/// Whether `hay` holds `needle` (ASCII case folded when `fold`; `needle` is then lower case).
pub(super) fn contains(hay: &[u8], needle: &[u8], fold: bool) -> bool {
    if fold {
        hay.windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
    } else {
        hay.windows(needle.len()).any(|w| w == needle)
    }
}

/// The runs of literal text in `glob` (as globset reads it, `\\` escaping), each of which every
/// path the glob matches contains. When matching folds case, only ASCII text whose case
/// variants are all ASCII counts: Unicode folds `k` with the Kelvin sign and `s` with the long
/// s, so those end a run like any wildcard, as does every other non-ASCII character.
pub(super) fn literal_runs(glob: &str, case_insensitive: bool) -> Vec<Vec<u8>> {
    let mut runs: Vec<Vec<u8>> = Vec::new();
    let mut run: Vec<u8> = Vec::new();
    let end = |run: &mut Vec<u8>, runs: &mut Vec<Vec<u8>>| {
        if !run.is_empty() {
            runs.push(std::mem::take(run));
        }
    };
    let all: Vec<char> = glob.chars().collect();
    let mut chars = all.iter().copied().enumerate();
    // `**/` and `/**` match across no directory too (`**/.env` matches `.env`): a `/` beside
    // `**` is no literal.
    let beside_globstar = |i: usize| {
        all[i] == '/'
            && ((i >= 2 && all[i - 2..i] == ['*', '*'])
                || all.get(i + 1..i + 3) == Some(&['*', '*']))
    };
    while let Some((i, c)) = chars.next() {
        let lit = match c {
            '*' | '?' => None,
            '/' if beside_globstar(i) => None,
            '[' => {
                // A class: skip to its end (a `]` right after `[` or `[!` is a member).
                let mut first = true;
                if matches!(chars.clone().next(), Some((_, '!' | '^'))) {
                    chars.next();
                }
                for (_, d) in chars.by_ref() {
                    if d == '\\' {
                        // Where an escaped `]` ends the class is globset's to say: this glob
                        // gives no text.
                        return Vec::new();
                    }
                    if d == ']' && !first {
                        break;
                    }
                    first = false;
                }
                None
            }
            '{' => {
                for (_, d) in chars.by_ref() {
                    if d == '\\' || d == '[' {
                        return Vec::new();
                    }
                    if d == '}' {
                        break;
                    }
                }
                None
            }
            '\\' => chars.next().map(|(_, c)| c),
            c => Some(c),
        };
        match lit {
            Some(c)
                if c.is_ascii()
                    && !(case_insensitive && matches!(c.to_ascii_lowercase(), 'k' | 's')) =>
            {
                run.push(if case_insensitive {
                    c.to_ascii_lowercase() as u8
                } else {
                    c as u8
                })
            }
            // Non-ASCII text is a literal too, when case is not folded: its UTF-8 bytes.
            Some(c) if !case_insensitive => {
                let mut b = [0; 4];
                run.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
            _ => end(&mut run, &mut runs),
        }
    }
    end(&mut run, &mut runs);
    runs
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
