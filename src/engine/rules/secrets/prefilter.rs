//! The keyword prefilter: one Aho-Corasick pass (ASCII case-insensitive) over the lines of
//! a file says which rules can match on which line; only those rules' regexes then run.
//! Rules without keywords run on every line.
//!
//! How it reads depends on how much it has read: the first [`AUTOMATON_AFTER`] bytes (a
//! commit of a few lines, the pre-commit hook's usual case) are searched for each keyword in
//! turn, which needs nothing built; then an NFA, quick to build, reads; once [`DFA_AFTER`]
//! bytes have been read, a DFA of the same keywords (one table step a byte, where the NFA
//! follows failure links) reads instead. All three name the same rules on the same lines.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

/// Bytes searched keyword by keyword before the NFA is built (building it costs more than
/// searching a few KiB for each built-in keyword in turn).
pub const AUTOMATON_AFTER: usize = 8 << 10;

/// Bytes read with the NFA before the DFA is built: about what the DFA's build costs in NFA
/// reading time.
pub const DFA_AFTER: usize = 1 << 20;

/// How the prefilter reads a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// Each keyword searched for in turn (nothing to build).
    Keywords,
    Nfa,
    Dfa,
}

pub struct Prefilter {
    nfa: OnceLock<Option<AhoCorasick>>,
    /// The keywords, lower case, as the automaton holds them (for the DFA).
    words: Vec<String>,
    dfa: OnceLock<Option<AhoCorasick>>,
    /// Bytes read so far (all threads).
    read: AtomicUsize,
    /// For each keyword of the automaton, the rules that hold it.
    rules_of: Vec<Vec<usize>>,
    /// Rules with no keyword.
    always: Vec<usize>,
    rule_count: usize,
}

impl Prefilter {
    /// `keywords[i]` are rule `i`'s keywords (any case).
    pub fn new<'a>(keywords: impl Iterator<Item = &'a [String]>) -> Prefilter {
        let mut index: std::collections::HashMap<String, usize> = Default::default();
        let mut words: Vec<String> = Vec::new();
        let mut rules_of: Vec<Vec<usize>> = Vec::new();
        let mut always = Vec::new();
        let mut rule_count = 0;
        for (rule, kws) in keywords.enumerate() {
            rule_count += 1;
            if kws.iter().all(|k| k.is_empty()) {
                always.push(rule);
                continue;
            }
            for kw in kws.iter().filter(|k| !k.is_empty()) {
                let kw = kw.to_ascii_lowercase();
                let i = *index.entry(kw.clone()).or_insert_with(|| {
                    words.push(kw);
                    rules_of.push(Vec::new());
                    words.len() - 1
                });
                if rules_of[i].last() != Some(&rule) {
                    rules_of[i].push(rule);
                }
            }
        }
        Prefilter {
            nfa: OnceLock::new(),
            words,
            dfa: OnceLock::new(),
            read: AtomicUsize::new(0),
            rules_of,
            always,
            rule_count,
        }
    }

    /// For each line of `buffer` (lines end at the offsets in `starts`, each followed by
    /// `\n`), the rules to run there, as `(line, rule)` pairs sorted by line then rule.
    pub fn candidates(&self, buffer: &[u8], starts: &[usize]) -> Vec<(usize, usize)> {
        let read = self.read.fetch_add(buffer.len(), Ordering::Relaxed) + buffer.len();
        let reader = if read > DFA_AFTER {
            Reader::Dfa
        } else if read > AUTOMATON_AFTER {
            Reader::Nfa
        } else {
            Reader::Keywords
        };
        self.candidates_read_by(buffer, starts, reader)
    }

    /// [`Prefilter::candidates`] read the way `reader` says, whatever has been read before
    /// (for the tests, which compare the readers).
    pub fn candidates_read_by(
        &self,
        buffer: &[u8],
        starts: &[usize],
        reader: Reader,
    ) -> Vec<(usize, usize)> {
        let mut out: Vec<(usize, usize)> = Vec::new();
        let line_of = |at: usize| starts.partition_point(|s| *s <= at) - 1;
        let automaton = match reader {
            Reader::Keywords => None,
            Reader::Nfa => self.nfa.get_or_init(|| self.build(None)).as_ref(),
            Reader::Dfa => self
                .dfa
                .get_or_init(|| self.build(Some(AhoCorasickKind::DFA)))
                .as_ref(),
        };
        if let Some(ac) = automaton {
            for m in ac.find_overlapping_iter(buffer) {
                let line = line_of(m.start());
                for &rule in &self.rules_of[m.pattern().as_usize()] {
                    out.push((line, rule));
                }
            }
        } else if reader == Reader::Keywords && !self.words.is_empty() {
            // Every place a keyword starts, as the automaton finds them.
            let lower = buffer.to_ascii_lowercase();
            for (i, word) in self.words.iter().enumerate() {
                let word = word.as_bytes();
                // Where the first byte is, the keyword may start: nothing to build, which a
                // substring searcher would (for each of hundreds of keywords).
                for at in memchr::memchr_iter(word[0], &lower) {
                    if lower[at..].starts_with(word) {
                        let line = line_of(at);
                        for &rule in &self.rules_of[i] {
                            out.push((line, rule));
                        }
                    }
                }
            }
        }
        if !self.always.is_empty() {
            for line in 0..starts.len() {
                out.extend(self.always.iter().map(|&r| (line, r)));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    fn build(&self, kind: Option<AhoCorasickKind>) -> Option<AhoCorasick> {
        (!self.words.is_empty()).then(|| automaton(&self.words, kind))
    }

    /// Whether the DFA has been built (for the tests).
    pub fn reads_with_dfa(&self) -> bool {
        self.dfa.get().is_some_and(Option::is_some)
    }

    /// How many rules the prefilter was built for.
    pub fn rule_count(&self) -> usize {
        self.rule_count
    }
}

/// The keywords' automaton (ASCII case-insensitive, every overlapping match); `kind` `None`
/// lets the crate choose (an NFA for this many keywords).
fn automaton(words: &[String], kind: Option<AhoCorasickKind>) -> AhoCorasick {
    // Keywords are plain literals; building cannot fail on them.
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .kind(kind)
        .build(words)
        .expect("secret keywords build an automaton")
}
