//! Unit tests of the deploy door's lock, stamps and health check.

use std::io::{Read as _, Write as _};
use std::time::Duration;

use super::health::http_get;
use super::util::{hostname, now_utc};
use super::*;

#[test]
fn utc_dates_are_civil() {
    let (iso, stamp) = now_utc();
    assert_eq!(iso.len(), 20);
    assert!(iso.ends_with('Z') && stamp.ends_with('Z'));
    assert_eq!(&iso[..4], &stamp[..4]);
}

#[test]
fn lock_is_exclusive_and_released_on_drop() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("lock");
    let (lock, waited) = acquire_lock(&path, "deploy a", Duration::ZERO, &mut |_| {}).unwrap();
    assert!(waited.is_none());
    match inspect_lock(&path).unwrap() {
        LockState::Held(o) => assert_eq!(o.token, lock.owner.token),
        other => panic!("{other:?}"),
    }
    let err = acquire_lock(&path, "deploy b", Duration::ZERO, &mut |_| {})
        .err()
        .unwrap();
    assert!(matches!(err, LockError::Busy { .. }), "{err}");
    assert!(err.to_string().contains("refused without waiting"), "{err}");
    drop(lock);
    assert_eq!(inspect_lock(&path).unwrap(), LockState::Free);
}

#[test]
fn a_lock_file_nobody_holds_is_stale_and_cleared_only_with_its_token() {
    let t = tempfile::tempdir().unwrap();
    let layout = Layout::new(t.path());
    let owner = LockOwner {
        pid: 999_999_999,
        host: hostname(),
        started: "2026-01-01T00:00:00Z".into(),
        token: "abc".into(),
        action: "deploy x".into(),
    };
    std::fs::write(layout.lock(), serde_json::to_vec(&owner).unwrap()).unwrap();
    match inspect_lock(&layout.lock()).unwrap() {
        LockState::Stale {
            owner: Some(o),
            pid_alive,
        } => {
            assert_eq!(o.token, "abc");
            assert!(!pid_alive);
        }
        other => panic!("{other:?}"),
    }
    let err = acquire_lock(
        &layout.lock(),
        "deploy",
        Duration::from_secs(5),
        &mut |_| {},
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("unlock --token abc"), "{err}");
    assert!(unlock(&layout, "wrong").is_err());
    assert!(layout.lock().exists());
    assert_eq!(unlock(&layout, "abc").unwrap().token, "abc");
    assert!(!layout.lock().exists());
}

#[test]
fn http_get_tells_2xx_from_others() {
    use std::net::TcpListener;
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        for answer in ["HTTP/1.1 200 OK\r\n\r\nok", "HTTP/1.1 503 Busy\r\n\r\n"] {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).unwrap();
            s.write_all(answer.as_bytes()).unwrap();
        }
    });
    let url = format!("http://127.0.0.1:{port}/health");
    assert_eq!(http_get(&url, Duration::from_secs(5)), Ok(()));
    let e = http_get(&url, Duration::from_secs(5)).unwrap_err();
    assert!(e.contains("503"), "{e}");
    h.join().unwrap();
    assert!(http_get("https://example.com/", Duration::from_secs(1)).is_err());
}
