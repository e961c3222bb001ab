//! What a changed file adds, read for the rules that look at content (secrets): the new side
//! decides how it is read, whatever git's numstat says about the pair.
//!
//! - Text: the lines the diff adds. A binary old side (a stub turned into text) adds every
//!   line of the new one.
//! - UTF-16 (a byte-order mark, or NULs in every other byte): decoded, then as text.
//! - Text with a few stray NUL or control bytes (git calls it binary, people read it as
//!   text): as text.
//! - Binary: the printable runs (8 or more characters) the old side does not hold.
//!
//! Line counts are not touched: they stay git's. Reads no object; the caller hands the bytes.

use std::borrow::Cow;
use std::collections::HashSet;

use gix::diff::blob::{Algorithm, Diff, InternedInput};

use crate::engine::changes::{Encoding, FileChange, Line};

/// A printable run shorter than this is not read in a binary blob.
const MIN_RUN: usize = 8;
/// Control bytes (other than tab, newline, carriage return, form feed, escape) a text file
/// may hold, per thousand bytes, and still be read as text.
const STRAY_PER_MILLE: usize = 10;

/// How one side reads.
enum Side<'a> {
    Text(Cow<'a, [u8]>),
    Binary(&'a [u8]),
}

fn read(data: &[u8]) -> (Side<'_>, Encoding) {
    if let Some(text) = utf16(data) {
        return (Side::Text(Cow::Owned(text.into_bytes())), Encoding::Utf16);
    }
    if !data.contains(&0) || mostly_text(data) {
        return (Side::Text(Cow::Borrowed(data)), Encoding::Text);
    }
    (Side::Binary(data), Encoding::Binary)
}

/// UTF-16 text decoded to UTF-8: with a byte-order mark, or without one when NULs fill
/// nearly every other byte of the start (ASCII-range text in UTF-16).
fn utf16(data: &[u8]) -> Option<String> {
    let (enc, body) = match data {
        [0xFF, 0xFE, rest @ ..] => (encoding_rs::UTF_16LE, rest),
        [0xFE, 0xFF, rest @ ..] => (encoding_rs::UTF_16BE, rest),
        _ => {
            let head = &data[..data.len().min(4096) & !1];
            if head.len() < 8 {
                return None;
            }
            let pairs = head.len() / 2;
            let even = head.iter().step_by(2).filter(|b| **b == 0).count();
            let odd = head.iter().skip(1).step_by(2).filter(|b| **b == 0).count();
            if odd * 10 >= pairs * 9 && even * 10 <= pairs {
                (encoding_rs::UTF_16LE, data)
            } else if even * 10 >= pairs * 9 && odd * 10 <= pairs {
                (encoding_rs::UTF_16BE, data)
            } else {
                return None;
            }
        }
    };
    let (text, _) = enc.decode_without_bom_handling(body);
    Some(text.into_owned())
}

/// Text with a few NUL or control bytes: they are at most 1% of the bytes.
fn mostly_text(data: &[u8]) -> bool {
    let stray = data
        .iter()
        .filter(|b| **b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1b))
        .count();
    stray * 1000 <= data.len() * STRAY_PER_MILLE
}

/// Fill `fc.added_lines` and `fc.added_encoding` from the two sides (`old` absent for an
/// addition).
pub fn read_added(old: Option<&[u8]>, new: &[u8], fc: &mut FileChange) {
    let (new_side, encoding) = read(new);
    fc.added_encoding = encoding;
    let old_side = old.map(|o| read(o).0);
    fc.added_lines = match (new_side, old_side) {
        (Side::Text(new), Some(Side::Text(old))) => diff_added(&old, &new),
        (Side::Text(new), _) => every_line(&new),
        (Side::Binary(new), old) => {
            let known: HashSet<&[u8]> = match &old {
                Some(Side::Binary(o)) => runs(o).map(|(_, r)| r).collect(),
                Some(Side::Text(o)) => runs(o).map(|(_, r)| r).collect(),
                None => HashSet::new(),
            };
            runs(new)
                .filter(|(_, r)| !known.contains(r))
                .map(|(number, r)| Line {
                    number,
                    text: String::from_utf8_lossy(r).into_owned(),
                })
                .collect()
        }
    };
}

/// Whether the new side should be read by [`read_added`] although git diffs it as text:
/// UTF-16 with a byte-order mark and no NUL early enough for git to call it binary.
pub fn needs_decoding(new: &[u8]) -> bool {
    matches!(new, [0xFF, 0xFE, ..] | [0xFE, 0xFF, ..])
}

fn diff_added(old: &[u8], new: &[u8]) -> Vec<Line> {
    let input = InternedInput::new(old, new);
    let diff = Diff::compute(Algorithm::Myers, &input);
    input
        .after
        .iter()
        .enumerate()
        .filter(|(i, _)| diff.is_added(*i as u32))
        .map(|(i, tok)| Line {
            number: i as u32 + 1,
            text: line_text(input.interner[*tok]),
        })
        .collect()
}

fn every_line(data: &[u8]) -> Vec<Line> {
    data.split_inclusive(|b| *b == b'\n')
        .enumerate()
        .map(|(i, l)| Line {
            number: i as u32 + 1,
            text: line_text(l),
        })
        .collect()
}

/// A line without its terminator, lossily UTF-8.
pub fn line_text(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8_lossy(line).into_owned()
}

/// The printable ASCII runs of a blob, each with the 1-based line it starts on.
fn runs(data: &[u8]) -> impl Iterator<Item = (u32, &[u8])> {
    let mut line = 1u32;
    let mut start = None;
    let mut i = 0;
    std::iter::from_fn(move || {
        while i <= data.len() {
            let b = data.get(i).copied();
            let printable = b.is_some_and(|b| (0x20..0x7f).contains(&b) || b == b'\t');
            let at = i;
            i += 1;
            match (printable, start) {
                (true, None) => start = Some((at, line)),
                (false, Some((s, l))) => {
                    start = None;
                    if b == Some(b'\n') {
                        line += 1;
                    }
                    if at - s >= MIN_RUN {
                        return Some((l, &data[s..at]));
                    }
                }
                (false, None) if b == Some(b'\n') => line += 1,
                _ => {}
            }
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rules::testkit::add;

    fn added(old: Option<&[u8]>, new: &[u8]) -> (Vec<String>, Encoding) {
        let mut fc = add("f");
        read_added(old, new, &mut fc);
        (
            fc.added_lines.into_iter().map(|l| l.text).collect(),
            fc.added_encoding,
        )
    }

    #[test]
    fn a_stub_turned_text_adds_every_line() {
        let (lines, enc) = added(Some(b"\0\0stub"), b"a\nb\n");
        assert_eq!((lines, enc), (vec!["a".into(), "b".into()], Encoding::Text));
    }

    #[test]
    fn utf16_is_decoded_with_or_without_bom() {
        let le: Vec<u8> = "key = 1\nx\n"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        let mut bom = vec![0xFF, 0xFE];
        bom.extend(&le);
        for data in [&le, &bom] {
            let (lines, enc) = added(None, data);
            assert_eq!(enc, Encoding::Utf16);
            assert_eq!(lines, ["key = 1", "x"]);
        }
        let be: Vec<u8> = "hello world\n"
            .encode_utf16()
            .flat_map(|u| u.to_be_bytes())
            .collect();
        assert_eq!(added(None, &be).0, ["hello world"]);
    }

    #[test]
    fn a_stray_nul_keeps_text_text() {
        let mut data = b"\0".to_vec();
        data.extend("line of ordinary text\n".repeat(20).as_bytes());
        let (lines, enc) = added(None, &data);
        assert_eq!(enc, Encoding::Text);
        assert_eq!(lines.len(), 20);
    }

    #[test]
    fn binary_reads_new_printable_runs_only() {
        let old = b"\0\x01\x02old-run-of-text\0\x03\x04\x05\x06";
        let new = b"\0\x01\x02old-run-of-text\0short\0new-run-of-text\x07\x08\x09\x0b";
        let (lines, enc) = added(Some(old), new);
        assert_eq!(enc, Encoding::Binary);
        assert_eq!(lines, ["new-run-of-text"]);
    }
}
