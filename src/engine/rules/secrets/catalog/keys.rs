//! Private keys in every armour (PEM, OpenSSH, PuTTY, PGP, SSH2, base64-encoded PEM), JWTs,
//! passwords in connection URIs, `curl -u` and basic-auth headers, and the generic rule: a
//! high-entropy value assigned to a secret-like key name.

use crate::engine::rules::secrets::rule::{Check, Rule, keyed, token};

/// The id of the generic rule: its entropy floor is `secrets.min_entropy`, and it speaks
/// only on a line no other rule spoke on.
pub const GENERIC: &str = "generic-secret";

#[rustfmt::skip]
pub const RULES: &[Rule] = &[
    token("private-key", "private key block", &["private key"],
        r"(-----BEGIN[ A-Z0-9_\-]{0,100}PRIVATE KEY(?: BLOCK)?-----)").entropy(0.0).check(Check::Armour),
    token("ssh2-private-key", "SSH2 private key block", &["begin ssh2 encrypted private key"],
        r"(---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----)").entropy(0.0).check(Check::Armour),
    token("putty-private-key", "PuTTY private key file", &["putty-user-key-file-"],
        r"(PuTTY-User-Key-File-[0-9]: [a-z0-9\-]+)").entropy(0.0).check(Check::Armour),
    token("private-key-base64", "base64-encoded private key", &["ls0tls1crudjt"],
        r"\b(LS0tLS1CRUdJT[A-Za-z0-9+/]{30,}={0,2})").check(Check::Base64PrivateKey),
    token("jwt", "JSON Web Token", &["eyj"],
        r"\b(eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{16,})").check(Check::Jwt),
    keyed("uri-password", "password in a connection URI", &["://"],
        r#"\b[A-Za-z][A-Za-z0-9+.\-]{1,30}://[^\s:/@'"`<>]{1,100}:([^\s/@'"`<>]{3,200})@[A-Za-z0-9\[_\-]"#).entropy(1.5).check(Check::Password),
    keyed("curl-basic-auth", "password in curl -u", &["curl"],
        r#"\bcurl\b[^\n]*?\s(?:-u|--user)(?:\s+|=)?['"]?[^\s:'"]+:([^\s'"]{3,200})"#).entropy(1.5).check(Check::Password),
    keyed("basic-auth-header", "HTTP basic credentials", &["basic"],
        r"(?i:authorization|auth|basic)[^\n]{0,20}\b(?i:basic)\s+([A-Za-z0-9+/]{12,}={0,2})").check(Check::BasicAuth),
    keyed("bearer-token", "bearer token in an Authorization header", &["bearer"],
        r#"(?i:authorization)["']?\s{0,5}[:=]\s{0,5}["']?(?i:bearer)\s+([A-Za-z0-9._~+/\-]{20,}=*)"#).entropy(3.5),
    keyed(GENERIC, "high-entropy secret assignment", &["passw", "pwd", "passphrase", "secret", "token", "key", "credential"],
        concat!(r#"(?i:(?:^|[^a-z0-9_.\-])[a-z0-9_.\-]{0,40}?(?:passwd|password|passwort|pwd|passphrase|secret|token|api[_\-]?key|apikey|access[_\-]?key|private[_\-]?key|auth[_\-]?key|signing[_\-]?key|encryption[_\-]?key|master[_\-]?key|credentials?))"#, assign!(),
            r#"`?([^\s"'`;,]{8,})"#,
        )).check(Check::Generic),
];
