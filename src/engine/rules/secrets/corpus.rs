//! The measured corpus (`bench/secrets-corpus/`): true positives drawn from every rule's own
//! format, false positives of every kind a scanner trips on. The files are generated here
//! (deterministically) and committed; a test keeps them current (`GUARD_WRITE_CORPUS=1`
//! rewrites them) and another measures recall and false positives per family, the figures
//! `docs/SECRETS.md` reports.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use super::catalog::FAMILIES;
use super::sample::{Rng, true_positive};
use super::scanner::{Lines, Scanner};

/// Samples per rule.
const PER_RULE: u64 = 3;

/// One file of the corpus: its name under `bench/secrets-corpus/` and its lines.
pub struct File {
    pub name: String,
    pub lines: Vec<String>,
    pub positive: bool,
}

fn scanner() -> Scanner<'static> {
    Scanner::new(true, &[], 3.5)
}

fn hits(line: &str) -> Vec<super::Hit> {
    let mut l = Lines::default();
    l.load(std::iter::once(line.as_bytes()));
    scanner()
        .scan(&l, false, None)
        .into_iter()
        .map(|(_, h)| h)
        .collect()
}

pub fn build() -> Vec<File> {
    let mut files = Vec::new();
    let mut placeholders = Vec::new();
    let mut near = Vec::new();
    for (f, (family, rules)) in FAMILIES.iter().enumerate() {
        let mut lines = Vec::new();
        for (r, rule) in rules.iter().enumerate() {
            for k in 0..PER_RULE {
                let mut rng = Rng::new(((f as u64) << 32) | ((r as u64) << 8) | k);
                let line = true_positive(rule, &mut rng);
                // Stand-ins and near misses of the same format, from the secret's own span.
                if k == 0
                    && let Some(h) = hits(&line).into_iter().find(|h| h.id == rule.id)
                    && h.secret.len() > 8
                    && let Some(at) = line.find(std::str::from_utf8(&h.secret).unwrap_or("\u{0}"))
                {
                    let keep = 4.min(h.secret.len());
                    let body = h.secret.len() - keep;
                    let mut p = line.clone();
                    p.replace_range(at + keep..at + h.secret.len(), &"x".repeat(body));
                    placeholders.push(p);
                    // A prefixed token cut short is no token; a keyed value cut short is
                    // still a high-entropy value under a secret's name (the generic rule's).
                    if rule.high_confidence {
                        let mut n = line.clone();
                        n.replace_range(at + keep + body / 3..at + h.secret.len(), "");
                        near.push(n);
                    }
                }
                lines.push(line);
            }
        }
        files.push(File {
            name: format!("tp/{family}.txt"),
            lines,
            positive: true,
        });
    }
    files.push(File {
        name: "fp/placeholders.txt".into(),
        lines: placeholders,
        positive: false,
    });
    files.push(File {
        name: "fp/near-misses.txt".into(),
        lines: near,
        positive: false,
    });
    let mut rng = Rng::new(7);
    let hex = |rng: &mut Rng, n: usize| -> String {
        (0..n)
            .map(|_| b"0123456789abcdef"[rng.below(16)] as char)
            .collect()
    };
    let mut hashes = Vec::new();
    for i in 0..60 {
        let h = match i % 6 {
            0 => format!("commit {}", hex(&mut rng, 40)),
            1 => format!("sha256 = \"{}\"", hex(&mut rng, 64)),
            2 => format!("\"checksum\": \"{}\",", hex(&mut rng, 32)),
            3 => format!("  integrity sha1-{}", hex(&mut rng, 40)),
            4 => format!("digest: sha256:{}", hex(&mut rng, 64)),
            _ => format!("pick {} fix the build", hex(&mut rng, 12)),
        };
        hashes.push(h);
    }
    files.push(File {
        name: "fp/hashes.txt".into(),
        lines: hashes,
        positive: false,
    });
    let mut uuids = Vec::new();
    for i in 0..60 {
        let u = format!(
            "{}-{}-4{}-a{}-{}",
            hex(&mut rng, 8),
            hex(&mut rng, 4),
            hex(&mut rng, 3),
            hex(&mut rng, 3),
            hex(&mut rng, 12)
        );
        uuids.push(match i % 4 {
            0 => format!("request_id = \"{u}\""),
            1 => format!("  \"id\": \"{u}\","),
            2 => format!("tenant: {u}"),
            _ => format!("<Project Guid=\"{{{u}}}\">"),
        });
    }
    files.push(File {
        name: "fp/uuids.txt".into(),
        lines: uuids,
        positive: false,
    });
    files.push(File {
        name: "fp/code-and-docs.txt".into(),
        lines: HAND_WRITTEN.iter().map(|s| s.to_string()).collect(),
        positive: false,
    });
    files
}

/// False positives written by hand: documentation samples, references, templates, code.
const HAND_WRITTEN: &[&str] = &[
    "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "stripe.api_key = \"sk_test_4eC39HqLyjWDarjtT1zdp7dc\"",
    "Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "Token: cf0e05d9-4eca-4948-a012-b91fe9704bab",
    "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "export OPENAI_API_KEY=\"sk-...\"",
    "export OPENAI_API_KEY=<your key>",
    "SLACK_WEBHOOK=https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
    "password = os.environ[\"DB_PASSWORD\"]",
    "password = os.getenv('DB_PASSWORD')",
    "token = request.headers.get(\"Authorization\")",
    "api_key = settings.API_KEY",
    "secret_key: ${{ secrets.SECRET_KEY }}",
    "DATABASE_URL=postgres://user:password@localhost:5432/app",
    "DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/app",
    "redis_url = \"redis://:@localhost:6379/0\"",
    "url = \"https://user:pass@example.com/repo.git\"",
    "curl -u admin:admin http://localhost:8080/",
    "curl -u \"$USER:$TOKEN\" https://api.example.com/",
    "password: \"changeme\"",
    "password: \"********\"",
    "password = \"<password>\"",
    "token: \"your-token-here\"",
    "secret = \"REPLACE_ME\"",
    "private_key_path = \"/etc/ssl/private/server.key\"",
    "password_file = /run/secrets/db_password",
    "tokenizer = AutoTokenizer.from_pretrained(\"bert-base-uncased\")",
    "max_tokens = 4096",
    "token_type = \"bearer\"",
    "secret_santa_enabled = true",
    "passwordless_login = \"magic-link-flow\"",
    "let token = lexer.next_token();",
    "if token == Token::Eof { break; }",
    "def get_secret(name): return vault.read(name)",
    "const apiKey = process.env.API_KEY;",
    "apiKey: String = BuildConfig.API_KEY",
    "$password = $_POST['password'];",
    "SECRET_KEY = get_random_secret_key()",
    "credentials = service_account.Credentials.from_service_account_file(path)",
    "-----BEGIN PUBLIC KEY-----",
    "-----BEGIN CERTIFICATE-----",
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 user@host",
    "key = \"value\"",
    "key_id = 42",
    "  - name: api-key-rotation",
    "The secret is to keep functions small.",
    "See https://docs.example.com/tokens for how tokens are issued.",
    "color: #4a90e2; background: url(data:image/png;base64,iVBORw0KGgo=)",
    "version = \"1.2.3\"",
    "image: registry.example.com/app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod",
    "fn parse_token_stream(input: TokenStream) -> TokenStream { input }",
    "assert_eq!(hash(\"password\"), \"5f4dcc3b5aa765d61d8327deb882cf99\");",
    "password_hash = \"$2b$12$KIXQJf8Jv6mJ0fZ7kQeOeO5lG8rQ5j8b1Jm9pQxW6tYl3dFhR2aXe\"",
    "api_key_header = \"X-API-Key\"",
    "auth_token_ttl_seconds = 3600",
    "access_key = AWS_ACCESS_KEY_ID",
    "secret = \"\"",
    "token = None",
];

/// The corpus folder in the repository.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/secrets-corpus")
}

/// One family's or category's figures: lines, lines reported, and by what.
#[derive(Default, Debug)]
pub struct Tally {
    pub lines: usize,
    pub reported: usize,
    /// The first lines reported (or, for true positives, missed), with the rule ids.
    pub examples: Vec<String>,
}

/// Every corpus file scanned with every built-in rule.
pub fn measure(files: &[File]) -> BTreeMap<String, Tally> {
    let s = scanner();
    let mut out = BTreeMap::new();
    for f in files {
        let mut l = Lines::default();
        l.load(f.lines.iter().map(|x| x.as_bytes()));
        let found = s.scan(&l, false, None);
        let mut lines: Vec<usize> = found.iter().map(|(i, _)| *i).collect();
        lines.dedup();
        let examples = if f.positive {
            (0..f.lines.len())
                .filter(|i| !lines.contains(i))
                .map(|i| format!("missed: {}", f.lines[i]))
                .take(10)
                .collect()
        } else {
            found
                .iter()
                .map(|(i, h)| format!("{}: {}", h.id, f.lines[*i]))
                .take(10)
                .collect()
        };
        out.insert(
            f.name.clone(),
            Tally {
                lines: f.lines.len(),
                reported: lines.len(),
                examples,
            },
        );
    }
    out
}

/// The table `docs/SECRETS.md` holds.
pub fn table(files: &[File], m: &BTreeMap<String, Tally>) -> String {
    let mut s = String::from("| file | lines | reported | rate |\n| --- | --- | --- | --- |\n");
    for f in files {
        let t = &m[&f.name];
        let rate = 100.0 * t.reported as f64 / t.lines.max(1) as f64;
        let _ = writeln!(
            s,
            "| `{}` ({}) | {} | {} | {rate:.1}% |",
            f.name,
            if f.positive {
                "recall"
            } else {
                "false positives"
            },
            t.lines,
            t.reported
        );
    }
    s
}
