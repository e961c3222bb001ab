//! Test support: strings drawn from a rule's own pattern, for the tests and the corpus
//! (`bench/secrets-corpus/`). A small deterministic generator walks the pattern's syntax
//! tree: literals as written, a class by a random member (letters and digits first),
//! repetitions a little past their minimum, one branch of an alternation.

use regex_syntax::ParserBuilder;
use regex_syntax::hir::{Class, Hir, HirKind};

use super::decode::crc32_base62;
use super::rule::{Check, Rule};

/// A xorshift generator: the same seed gives the same corpus.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A string the pattern matches.
pub fn from_pattern(pattern: &str, rng: &mut Rng) -> Vec<u8> {
    let hir = ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
        .unwrap_or_else(|e| panic!("{pattern}: {e}"));
    let mut out = Vec::new();
    walk(&hir, rng, &mut out);
    out
}

fn walk(hir: &Hir, rng: &mut Rng, out: &mut Vec<u8>) {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => {}
        HirKind::Literal(l) => out.extend_from_slice(&l.0),
        HirKind::Class(c) => out.push(pick(c, rng)),
        HirKind::Repetition(r) => {
            let max = r.max.unwrap_or(r.min + 16);
            let n = if !r.greedy || (r.min == 0 && r.max.is_none()) {
                r.min
            } else if r.min < 16 {
                (r.min + 8).min(max).max(r.min)
            } else {
                (r.min + rng.below(4) as u32).min(max)
            };
            for _ in 0..n {
                walk(&r.sub, rng, out);
            }
        }
        HirKind::Capture(c) => walk(&c.sub, rng, out),
        HirKind::Concat(v) => v.iter().for_each(|h| walk(h, rng, out)),
        // The first branch is the one the rule names first (its main form); `^`-or-char
        // alternations take `^` (nothing).
        HirKind::Alternation(v) => {
            let i = if v.iter().any(|h| matches!(h.kind(), HirKind::Look(_))) {
                v.iter()
                    .position(|h| matches!(h.kind(), HirKind::Look(_)))
                    .unwrap_or(0)
            } else {
                rng.below(v.len())
            };
            walk(&v[i], rng, out)
        }
    }
}

fn pick(c: &Class, rng: &mut Rng) -> u8 {
    let members: Vec<u8> = (0x21u8..0x7f)
        .filter(|b| match c {
            Class::Bytes(b2) => b2.ranges().iter().any(|r| r.start() <= *b && *b <= r.end()),
            Class::Unicode(u) => u
                .ranges()
                .iter()
                .any(|r| r.start() <= *b as char && *b as char <= r.end()),
        })
        .collect();
    let alnum: Vec<u8> = members
        .iter()
        .copied()
        .filter(u8::is_ascii_alphanumeric)
        .collect();
    let pool = if alnum.is_empty() { &members } else { &alnum };
    if pool.is_empty() {
        // A class of spaces only (`\s`).
        return b' ';
    }
    pool[rng.below(pool.len())]
}

/// A line a rule must report: drawn from its pattern, with the structure its check wants.
pub fn true_positive(rule: &Rule, rng: &mut Rng) -> String {
    let mut s = from_pattern(rule.pattern, rng);
    match rule.check {
        Check::Crc32Base62 => {
            // Give the token a valid checksum.
            let under = s.iter().rposition(|b| *b == b'_').unwrap();
            if s.len() >= under + 37 {
                let body = s[under + 1..under + 31].to_vec();
                s[under + 31..under + 37].copy_from_slice(&crc32_base62(&body));
            }
        }
        Check::Base64PrivateKey => {
            use base64::Engine as _;
            let mut pem = b"-----BEGIN RSA PRIVATE KEY-----\nMIIEow".to_vec();
            pem.extend((0..60).map(|_| b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijkl"[rng.below(38)]));
            let b64 = base64::engine::general_purpose::STANDARD.encode(&pem);
            return format!("\"key\": \"{b64}\"");
        }
        Check::Jwt => {
            use base64::Engine as _;
            let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let h = e.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
            let p = e.encode(format!(
                r#"{{"sub":"u{}","iat":{}}}"#,
                rng.next() % 100000,
                1_700_000_000 + rng.below(1000)
            ));
            let sig: String = (0..43).map(|_| BASE62[rng.below(62)] as char).collect();
            return format!("{h}.{p}.{sig}");
        }
        Check::BasicAuth if rule.id == "docker-config-auth" => {
            use base64::Engine as _;
            let pw: String = (0..16).map(|_| BASE62[rng.below(62)] as char).collect();
            let b = base64::engine::general_purpose::STANDARD.encode(format!("deploy:{pw}"));
            return format!("\"auth\": \"{b}\"");
        }
        Check::BasicAuth => {
            use base64::Engine as _;
            let pw: String = (0..16).map(|_| BASE62[rng.below(62)] as char).collect();
            let b = base64::engine::general_purpose::STANDARD.encode(format!("admin:{pw}"));
            return format!("Authorization: Basic {b}");
        }
        _ => {}
    }
    String::from_utf8(s).expect("samples are ASCII")
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
