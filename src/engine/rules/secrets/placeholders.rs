//! Stand-ins for secrets: documentation samples, templates, masks and code, recognised so
//! that a provider's own example key or `xxxx` is not reported as a leak.
//!
//! Two tests: [`is_stand_in`] for any rule's secret (words such as `EXAMPLE`, runs of one
//! character, straight sequences, the providers' published sample keys), and
//! [`is_reference`] for values of the generic and password rules (variables, templates,
//! code, paths, stand-in words).

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind};

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

/// [`WORDS`] as one automaton (ASCII case-insensitive): a secret is read once for all of
/// them, not once per word.
fn words() -> &'static AhoCorasick {
    static W: OnceLock<AhoCorasick> = OnceLock::new();
    W.get_or_init(|| {
        // The words are plain literals; building cannot fail on them.
        AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .kind(Some(AhoCorasickKind::DFA))
            .build(WORDS)
            .expect("placeholder words build an automaton")
    })
}

/// Whether a provider rule's secret is a stand-in rather than a credential.
pub fn is_stand_in(secret: &[u8]) -> bool {
    if PUBLISHED_SAMPLES.contains(&secret) {
        return true;
    }
    if words().is_match(secret) {
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
