//! The patterns of `commands.deny` and `commands.allow`, compiled once and matched against a
//! command taken apart by [`super::argv::normalise`]. Pure: no file system, no process.

use globset::{GlobBuilder, GlobMatcher};

use super::argv::{Normal, normalise};
use crate::engine::policy::RefPatterns;

#[derive(Debug, Clone)]
enum WordPat {
    Any,
    Protected,
    Glob(GlobMatcher),
}

#[derive(Debug, Clone)]
enum OptPat {
    /// The letters of a short cluster (`-rf`).
    Short(Vec<char>),
    /// A long option without a value: matched whole or by a prefix the command wrote.
    Long(String),
    /// A long option with a value (`--config=core.hookspath=*`): a glob on the whole word.
    LongValue(GlobMatcher),
}

/// One compiled pattern of `[commands]`.
#[derive(Debug, Clone)]
pub struct CommandPattern {
    pub text: String,
    program: GlobMatcher,
    options: Vec<OptPat>,
    words: Vec<WordPat>,
}

fn word_glob(w: &str) -> Result<GlobMatcher, String> {
    GlobBuilder::new(w)
        .literal_separator(false)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("bad glob {w:?}: {}", e.kind()))
}

impl CommandPattern {
    pub fn new(text: &str) -> Result<CommandPattern, String> {
        let argv: Vec<String> = text.split_whitespace().map(str::to_string).collect();
        if argv.is_empty() {
            return Err("empty command pattern".into());
        }
        let n = normalise(&argv);
        let program = word_glob(&n.program)?;
        let mut options = Vec::new();
        for o in &n.options {
            options.push(if let Some(long) = o.strip_prefix("--") {
                if long.contains('=') {
                    OptPat::LongValue(word_glob(o)?)
                } else {
                    OptPat::Long(o.clone())
                }
            } else {
                OptPat::Short(o.chars().skip(1).collect())
            });
        }
        let mut words = Vec::new();
        for w in &n.words {
            words.push(match w.as_str() {
                "*" => WordPat::Any,
                "{protected}" => WordPat::Protected,
                _ => WordPat::Glob(word_glob(w)?),
            });
        }
        Ok(CommandPattern {
            text: text.to_string(),
            program,
            options,
            words,
        })
    }

    pub(crate) fn matches(&self, n: &Normal, protected: &RefPatterns) -> bool {
        self.matches_open(n, protected, None, false)
    }

    /// Whether the command could match once more words are added to it: by `xargs` from its
    /// input (at the end, or wherever `placeholder` stands), or by `find -exec` (`{}`).
    pub(crate) fn could_match(
        &self,
        n: &Normal,
        protected: &RefPatterns,
        placeholder: Option<&str>,
        appends: bool,
    ) -> bool {
        self.matches_open(n, protected, placeholder, appends)
    }

    fn matches_open(
        &self,
        n: &Normal,
        protected: &RefPatterns,
        placeholder: Option<&str>,
        open: bool,
    ) -> bool {
        if !self.program.is_match(&n.program) {
            return false;
        }
        let shorts: Vec<char> = n
            .options
            .iter()
            .filter(|o| !o.starts_with("--"))
            .flat_map(|o| o.chars().skip(1))
            .collect();
        // A word the input fills in (`xargs -I %`, `find -exec {}`) may be any option, or
        // the value of one (`git -c %`): it satisfies every option the pattern asks for.
        let filled = placeholder.is_some_and(|ph| {
            n.words
                .iter()
                .chain(n.options.iter())
                .any(|w| w.contains(ph))
        });
        for o in &self.options {
            let ok = filled
                || match o {
                    OptPat::Short(letters) => letters.iter().all(|c| shorts.contains(c)),
                    OptPat::Long(name) => n.options.iter().any(|c| {
                        let cname = c.split('=').next().unwrap_or(c);
                        cname.len() > 2 && name.starts_with(cname)
                    }),
                    OptPat::LongValue(g) => n.options.iter().any(|c| g.is_match(c)),
                };
            if !ok && !open {
                return false;
            }
        }
        match_words(&self.words, &n.words, protected, placeholder, open)
    }
}

/// Pattern words against command words, anchored at the first word; a pattern is a prefix.
/// With `open`, words may still be added at the end, and `placeholder` stands for any word.
fn match_words(
    pats: &[WordPat],
    words: &[String],
    protected: &RefPatterns,
    placeholder: Option<&str>,
    open: bool,
) -> bool {
    match pats.split_first() {
        None => true,
        Some((WordPat::Any, rest)) => (0..=words.len())
            .any(|skip| match_words(rest, &words[skip..], protected, placeholder, open)),
        Some((p, rest)) => match words.split_first() {
            None => open,
            Some((w, wrest)) => {
                let ok = placeholder.is_some_and(|ph| w.contains(ph))
                    || match p {
                        WordPat::Protected => is_protected_name(w, protected),
                        WordPat::Glob(g) => g.is_match(w),
                        WordPat::Any => unreachable!("handled above"),
                    };
                ok && match_words(rest, wrest, protected, placeholder, open)
            }
        },
    }
}

/// Whether a revision word names a protected branch: `main`, `origin/main`,
/// `refs/heads/main`, `refs/remotes/origin/main`, `main~2`, `main^{tree}`, `main@{1}`.
pub(crate) fn is_protected_name(word: &str, protected: &RefPatterns) -> bool {
    let name = word
        .split(['~', '^', '@', ':'])
        .next()
        .unwrap_or(word)
        .trim_start_matches('+');
    if name.is_empty() {
        return false;
    }
    let mut candidates = Vec::new();
    if let Some(r) = name.strip_prefix("refs/remotes/") {
        if let Some((_, b)) = r.split_once('/') {
            candidates.push(format!("refs/heads/{b}"));
        }
    } else if name.starts_with("refs/") {
        candidates.push(name.to_string());
    } else {
        candidates.push(format!("refs/heads/{name}"));
        if let Some((_, b)) = name.split_once('/') {
            candidates.push(format!("refs/heads/{b}"));
        }
    }
    candidates.iter().any(|c| protected.is_match(c))
}
