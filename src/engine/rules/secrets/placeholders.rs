//! Stand-ins for secrets: documentation samples, templates, masks and code, recognised so
//! that a provider's own example key or `xxxx` is not reported as a leak.
//!
//! Two tests: [`is_stand_in`] for any rule's secret (words such as `EXAMPLE`, runs of one
//! character, straight sequences, the providers' published sample keys), and
//! [`is_reference`] for values of the generic and password rules (variables, templates,
//! code, paths, stand-in words).

/// Words that mark a value as an example, in lower case (matched in any case).
const WORDS: &[&[u8]] = &[
    b"example",
    b"xxxx",
    b"****",
    b"....",
    b"placeholder",
    b"redacted",
    b"dummy",
    b"sample",
    b"changeme",
    b"change_me",
    b"change-me",
    b"your_",
    b"your-",
    b"yourkey",
    b"yourtoken",
    b"insert",
    b"replace",
    b"notasecret",
    b"not-a-secret",
    b"not_a_secret",
    b"fake",
    b"todo",
    b"fixme",
    b"foobar",
    b"<",
    b">",
];

/// Keys the providers publish in their own documentation (and that every tutorial copies).
/// They name no account; reporting them would teach people to ignore the rule.
const PUBLISHED_SAMPLES: &[&[u8]] = &[
    // AWS documentation: the example key id and secret key.
    b"AKIAIOSFODNN7EXAMPLE",
    b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    // Stripe API reference test keys.
    b"sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    b"sk_test_BQokikJOvBiI2HlWgH4olfQ2",
    b"rk_test_4eC39HqLyjWDarjtT1zdp7dc",
    // jwt.io's default token.
    b"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    // Heroku Dev Center's platform API quick start.
    b"cf0e05d9-4eca-4948-a012-b91fe9704bab",
    // GitHub's documentation of token formats.
    b"ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    b"gho_16C7e42F292c6912E7710c838347Ae178B4a",
];

/// The byte pairs (in either case) that start a word of [`WORDS`], a bit per pair, and the
/// one-byte words: a secret is read once, and a word compared only where its first two
/// bytes stand (rarely, in a random token). Nothing to build at run time.
const PAIRS: [u64; 1024] = {
    let mut t = [0u64; 1024];
    let mut i = 0;
    while i < WORDS.len() {
        let w = WORDS[i];
        if w.len() >= 2 {
            let a = [w[0].to_ascii_lowercase(), w[0].to_ascii_uppercase()];
            let b = [w[1].to_ascii_lowercase(), w[1].to_ascii_uppercase()];
            let mut j = 0;
            while j < 4 {
                let pair = ((a[j / 2] as usize) << 8) | b[j % 2] as usize;
                t[pair / 64] |= 1 << (pair % 64);
                j += 1;
            }
        }
        i += 1;
    }
    t
};
const SINGLE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < WORDS.len() {
        let w = WORDS[i];
        if w.len() == 1 {
            t[w[0].to_ascii_lowercase() as usize] = true;
            t[w[0].to_ascii_uppercase() as usize] = true;
        }
        i += 1;
    }
    t
};

/// Whether `s` holds one of [`WORDS`], in any case.
fn holds_word(s: &[u8]) -> bool {
    (0..s.len()).any(|i| {
        if SINGLE[s[i] as usize] {
            return true;
        }
        let Some(&next) = s.get(i + 1) else {
            return false;
        };
        let pair = ((s[i] as usize) << 8) | next as usize;
        PAIRS[pair / 64] & (1 << (pair % 64)) != 0
            && WORDS.iter().any(|w| {
                s[i..]
                    .get(..w.len())
                    .is_some_and(|at| at.eq_ignore_ascii_case(w))
            })
    })
}

/// Whether a provider rule's secret is a stand-in rather than a credential.
pub fn is_stand_in(secret: &[u8]) -> bool {
    if PUBLISHED_SAMPLES.contains(&secret) {
        return true;
    }
    if holds_word(secret) {
        return true;
    }
    longest_run(secret) >= 6 || longest_sequence(secret) >= 6
}

/// Whether a generic or password value is a reference, template or code rather than a
/// literal: `$TOKEN`, `${{ secrets.X }}`, `{password}`, `%(pw)s`, `getpass()`,
/// `os.environ["X"]`, `settings.SECRET_KEY`, a path, a stand-in word.
pub fn is_reference(value: &[u8]) -> bool {
    if matches!(
        value.first(),
        Some(b'$' | b'%' | b'{' | b'<' | b'@' | b'&' | b'*' | b'#')
    ) || value
        .iter()
        .any(|b| matches!(b, b'(' | b'[' | b'}' | b'<' | b'>'))
        || contains(value, b"${")
        || contains(value, b"{{")
        || contains(value, b"$(")
    {
        return true;
    }
    // A dotted identifier (`settings.SECRET_KEY`, `process.env.TOKEN`) is a reference.
    let dotted = value.contains(&b'.')
        && value.split(|b| *b == b'.').all(|part| {
            part.first()
                .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
                && part.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        });
    // A path (`/run/secrets/db`, `./keys/app.pem`, `C:\keys`).
    let path = value.starts_with(b"/")
        || value.starts_with(b"./")
        || value.starts_with(b"../")
        || value.starts_with(b"~/")
        || value.get(1..3) == Some(b":\\");
    // A plain lower-case identifier (`required_field`, `use-default`): a name, not a secret.
    let identifier = value
        .iter()
        .all(|b| b.is_ascii_lowercase() || *b == b'_' || *b == b'-')
        && value.iter().any(|b| *b == b'_' || *b == b'-');
    // SCREAMING_CASE names another variable (`API_TOKEN`).
    let constant = value
        .iter()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
        && value.contains(&b'_');
    if dotted || path || identifier || constant {
        return true;
    }
    const STAND_INS: &[&[u8]] = &[
        b"password",
        b"passwd",
        b"pass",
        b"secret",
        b"pwd",
        b"token",
        b"hunter2",
        b"letmein",
        b"admin",
        b"root",
        b"user",
        b"username",
        b"none",
        b"null",
        b"nil",
        b"true",
        b"false",
        b"required",
        b"optional",
        b"string",
        b"undefined",
    ];
    STAND_INS.iter().any(|w| w.eq_ignore_ascii_case(value)) || is_stand_in(value)
}

/// The longest run of one repeated byte.
fn longest_run(s: &[u8]) -> usize {
    let mut best = 0;
    let mut run = 0;
    let mut prev = None;
    for &b in s {
        run = if Some(b) == prev { run + 1 } else { 1 };
        prev = Some(b);
        best = best.max(run);
    }
    best
}

/// The longest straight sequence (`abcdef`, `123456`, `fedcba`) of letters or digits, in
/// any case (`aBcDeF` is one).
fn longest_sequence(s: &[u8]) -> usize {
    let mut best = 1;
    let (mut up, mut down) = (1, 1);
    for w in s.windows(2) {
        let (a, b) = (w[0].to_ascii_lowercase(), w[1].to_ascii_lowercase());
        let alnum = a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric();
        up = if alnum && b == a.wrapping_add(1) {
            up + 1
        } else {
            1
        };
        down = if alnum && a == b.wrapping_add(1) {
            down + 1
        } else {
            1
        };
        best = best.max(up).max(down);
    }
    if s.is_empty() { 0 } else { best }
}

pub(super) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || memchr::memmem::find(hay, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_is_found_as_a_lower_case_copy_would_find_it() {
        let naive = |s: &[u8]| {
            let lower = s.to_ascii_lowercase();
            WORDS.iter().any(|w| contains(&lower, w))
        };
        let mut samples: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"x".to_vec(),
            b"<".to_vec(),
            b"abc>".to_vec(),
            b"ExAmPlE".to_vec(),
            b"xxx".to_vec(),
            b"XXXX".to_vec(),
            b"a***b***".to_vec(),
            b"...".to_vec(),
            b"your_key".to_vec(),
            b"YOUR-KEY".to_vec(),
            b"notAsecret".to_vec(),
            b"TODO".to_vec(),
            b"fix me".to_vec(),
        ];
        // Every word in every position of a token, in three cases, and cut short by one.
        for w in WORDS {
            for case in 0..3 {
                let w: Vec<u8> = match case {
                    0 => w.to_vec(),
                    1 => w.to_ascii_uppercase(),
                    _ => w
                        .iter()
                        .enumerate()
                        .map(|(i, b)| {
                            if i % 2 == 0 {
                                b.to_ascii_uppercase()
                            } else {
                                *b
                            }
                        })
                        .collect(),
                };
                for at in [0, 3, 9] {
                    let mut s = b"Qz8kT2mVn4Rp".to_vec();
                    s.splice(at..at, w.iter().copied());
                    samples.push(s.clone());
                    s.truncate(at + w.len() - 1);
                    samples.push(s);
                }
            }
        }
        // Pseudo-random tokens over letters, digits and the words' own punctuation.
        let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-*.<>";
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            let mut s = Vec::new();
            for _ in 0..(x % 24) as usize + 1 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            samples.push(s);
        }
        for s in &samples {
            assert_eq!(holds_word(s), naive(s), "{:?}", String::from_utf8_lossy(s));
        }
    }
}
