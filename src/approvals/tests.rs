//! Unit tests of the approval record format and dates.

use super::*;
use crate::engine::policy::Role;

fn record() -> Record {
    Record {
        version: 1,
        kind: RecordKind::Approve,
        commit: "a".repeat(40),
        tree: "b".repeat(40),
        flags: vec!["tests.changed:tests/a.rs".into()],
        revokes: None,
        approver: "alice".into(),
        role: Role::Human,
        source: "unix user".into(),
        host: "h".into(),
        at: rfc3339(0),
        at_unix: 0,
        why: "read it".into(),
        pusher: None,
    }
}

#[test]
fn rfc3339_known_dates() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(1_767_225_600), "2026-01-01T00:00:00Z");
    assert_eq!(rfc3339(951_827_696), "2000-02-29T12:34:56Z");
}

#[test]
fn blob_round_trips_with_and_without_signature() {
    let r = record();
    let payload = r.payload().unwrap();
    assert_eq!(payload.iter().filter(|&&b| b == b'\n').count(), 1);
    let (back, p, sig) = parse_blob(&payload).unwrap();
    assert_eq!((back, sig), (r.clone(), None));
    assert_eq!(p, payload);
    let mut signed = payload.clone();
    signed.extend_from_slice(b"-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n");
    let (_, p, sig) = parse_blob(&signed).unwrap();
    assert_eq!(p, payload);
    assert!(sig.unwrap().starts_with(SIGNATURE_BEGIN));
}

#[test]
fn malformed_records_are_refused() {
    let mut text = record().payload().unwrap();
    text.extend_from_slice(b"trailing junk\n");
    assert!(parse_blob(&text).is_err());
    assert!(parse_blob(b"{\"version\":1}").is_err());
    let pretty = serde_json::to_string_pretty(&record())
        .unwrap()
        .replace('\n', " ");
    assert!(
        parse_blob(format!("{pretty}\n").as_bytes())
            .unwrap_err()
            .to_string()
            .contains("canonical")
    );
    let extra = String::from_utf8(record().payload().unwrap())
        .unwrap()
        .replacen("{", "{\"extra\":1,", 1);
    assert!(parse_blob(extra.as_bytes()).is_err());
}
