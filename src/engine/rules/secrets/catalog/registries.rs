//! Package registries and artifact hosts: npm, PyPI, RubyGems, crates.io, NuGet, Docker Hub,
//! Packagist, Clojars, Hex, pub.dev.

use crate::engine::rules::secrets::rule::{Check, Rule, keyed, token};

#[rustfmt::skip]
pub const RULES: &[Rule] = &[
    // npm adopted GitHub's format: prefix, 30 random base62 characters, a CRC32 checksum.
    token("npm-token", "npm access token", &["npm_"],
        r"\b(npm_[A-Za-z0-9]{36})\b").check(Check::Crc32Base62),
    keyed("npm-legacy-token", "npm auth token (UUID)", &["_authtoken", "npm_token"],
        concat!(r"(?i:(?:_authToken|npm_token))", assign!(), r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b")),
    // PyPI tokens are macaroons whose base64 starts with the issuing host.
    token("pypi-token", "PyPI upload token", &["pypi-ageichlwas5vcmc", "pypi-agenchlwas5vcmc"],
        r"\b(pypi-AgE[IN]cHlwaS5vcmc[A-Za-z0-9_\-]{50,})"),
    token("test-pypi-token", "TestPyPI upload token", &["pypi-agendgvzdc5wexbplm9yz"],
        r"\b(pypi-AgENdGVzdC5weXBpLm9yZw[A-Za-z0-9_\-]{50,})"),
    token("rubygems-api-key", "RubyGems API key", &["rubygems_"],
        r"\b(rubygems_[0-9a-f]{48})\b"),
    token("crates-io-token", "crates.io API token", &["cio"],
        r"\b(cio[A-Za-z0-9]{32})\b").entropy(3.5),
    token("nuget-api-key", "NuGet API key", &["oy2"],
        r"\b(oy2[a-z0-9]{43})\b"),
    token("docker-hub-token", "Docker Hub personal or organisation access token", &["dckr_pat_", "dckr_oat_"],
        r"\b(dckr_(?:pat|oat)_[A-Za-z0-9_\-]{27,})(?:[^A-Za-z0-9_\-]|$)"),
    keyed("docker-config-auth", "Docker registry credentials (config.json auth)", &["\"auth\""],
        r#""auth"\s*:\s*"([A-Za-z0-9+/]{16,}={0,2})""#).check(Check::BasicAuth),
    token("packagist-token", "Packagist API token", &["packagist_"],
        r"\b(packagist_[ou][ru]t_[0-9a-f]{68})\b"),
    token("clojars-token", "Clojars deploy token", &["clojars_"],
        r"\b(CLOJARS_[a-z0-9]{60})\b"),
    keyed("hex-api-key", "Hex API key", &["hex_api_key", "hexpm"],
        concat!(r"(?i:(?:hex_api_key|hexpm[a-z0-9_.\-]{0,20}key))", assign!(), r"([0-9a-f]{32})\b")),
    keyed("pub-dev-token", "pub.dev credentials", &["pub_token", "pub-credentials"],
        concat!(r"(?i:pub[_\-](?:token|credentials))", assign!(), r"([A-Za-z0-9_\-.]{40,})")),
    keyed("artifactory-password", "Artifactory password or API key", &["artifactory"],
        concat!(r"(?i:artifactory[a-z0-9_.\-]{0,20}(?:password|api_?key|token))", assign!(), r"([A-Za-z0-9]{64,73})\b")),
    keyed("gradle-publish-secret", "Gradle Plugin Portal secret", &["gradle.publish.secret"],
        concat!(r"gradle\.publish\.secret", assign!(), r"([A-Za-z0-9]{32})\b")),
    keyed("cocoapods-trunk-token", "CocoaPods trunk token", &["cocoapods"],
        concat!(r"(?i:cocoapods[a-z0-9_.\-]{0,20}token)", assign!(), r"([0-9a-f]{32})\b")),
];
