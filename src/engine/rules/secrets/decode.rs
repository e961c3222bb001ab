//! Structure checks that need a decoding: GitHub-style CRC32 checksums, base64 that must
//! hold a private key, JWT headers, `Basic` credentials. Each takes the secret's bytes and
//! answers yes or no; none allocates more than the secret's size.

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Whether a GitHub-style token (`prefix_` + 30 base62 characters + 6 checksum characters)
/// carries a valid checksum: the base62 CRC32 of the 30 characters, left-padded with `0`.
pub fn crc32_base62_valid(token: &[u8]) -> bool {
    let Some(underscore) = token.iter().rposition(|b| *b == b'_') else {
        return false;
    };
    let body = &token[underscore + 1..];
    if body.len() != 36 {
        return false;
    }
    let (random, checksum) = body.split_at(30);
    checksum == crc32_base62(random)
}

/// The six-character base62 CRC32 of `data`, as GitHub-style tokens end.
pub fn crc32_base62(data: &[u8]) -> [u8; 6] {
    let mut n = crc32fast::hash(data);
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// Standard and URL-safe alphabets, padding optional, trailing bits tolerated.
fn lenient(alphabet: &base64::alphabet::Alphabet) -> GeneralPurpose {
    GeneralPurpose::new(
        alphabet,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    )
}

fn decode(data: &[u8]) -> Option<Vec<u8>> {
    let standard = lenient(&base64::alphabet::STANDARD);
    let url = lenient(&base64::alphabet::URL_SAFE);
    standard
        .decode(data)
        .ok()
        .or_else(|| url.decode(data).ok())
        .or_else(|| general_purpose::STANDARD.decode(data).ok())
}

/// Decode a prefix of base64 text whose length is a multiple of four (a base64 string cut
/// anywhere else does not decode).
fn decode_prefix(data: &[u8], max: usize) -> Option<Vec<u8>> {
    let data = data
        .strip_suffix(b"==")
        .or(data.strip_suffix(b"="))
        .unwrap_or(data);
    let n = data.len().min(max) / 4 * 4;
    decode(&data[..n])
}

/// Whether base64 text decodes to a PEM private key header.
pub fn base64_private_key(secret: &[u8]) -> bool {
    decode_prefix(secret, 200).is_some_and(|d| {
        d.starts_with(b"-----BEGIN") && memchr::memmem::find(&d, b"PRIVATE KEY").is_some()
    })
}

/// Whether a JWT's header decodes to JSON naming an algorithm other than `none`.
pub fn jwt_header(secret: &[u8]) -> bool {
    let header = secret.split(|b| *b == b'.').next().unwrap_or_default();
    let Some(json) = decode(header) else {
        return false;
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&json) else {
        return false;
    };
    value
        .get("alg")
        .and_then(|a| a.as_str())
        .is_some_and(|a| !a.eq_ignore_ascii_case("none"))
}

/// Whether base64 text decodes to printable `user:password` with a non-empty password.
/// Returns the password.
pub fn basic_auth_password(secret: &[u8]) -> Option<Vec<u8>> {
    let d = decode(secret)?;
    if !d.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        return None;
    }
    let colon = d.iter().position(|b| *b == b':')?;
    let password = &d[colon + 1..];
    (colon > 0 && password.len() >= 3).then(|| password.to_vec())
}
