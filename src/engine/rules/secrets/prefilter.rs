//! The keyword prefilter: one Aho-Corasick pass (ASCII case-insensitive) over the lines of
//! a file says which rules can match on which line; only those rules' regexes then run.
//! Rules without keywords run on every line.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

pub struct Prefilter {
    automaton: Option<AhoCorasick>,
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
        let automaton = (!words.is_empty()).then(|| {
            // Keywords are plain literals; building cannot fail on them.
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .build(&words)
                .expect("secret keywords build an automaton")
        });
        Prefilter {
            automaton,
            rules_of,
            always,
            rule_count,
        }
    }

    /// For each line of `buffer` (lines end at the offsets in `starts`, each followed by
    /// `\n`), the rules to run there, as `(line, rule)` pairs sorted by line then rule.
    pub fn candidates(&self, buffer: &[u8], starts: &[usize]) -> Vec<(usize, usize)> {
        let mut out: Vec<(usize, usize)> = Vec::new();
        if let Some(ac) = &self.automaton {
            for m in ac.find_overlapping_iter(buffer) {
                let line = starts.partition_point(|s| *s <= m.start()) - 1;
                for &rule in &self.rules_of[m.pattern().as_usize()] {
                    out.push((line, rule));
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

    /// How many rules the prefilter was built for.
    pub fn rule_count(&self) -> usize {
        self.rule_count
    }
}
