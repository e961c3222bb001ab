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

/// A server on 127.0.0.1 that answers each connection with the next of `answers`, through
/// `wrap` (plain, or TLS), then ends.
fn serve(
    answers: Vec<&'static str>,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
) -> (u16, std::thread::JoinHandle<()>) {
    use std::net::TcpListener;
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        for answer in answers {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 2048];
            match &tls {
                None => {
                    let _ = s.read(&mut buf);
                    let _ = s.write_all(answer.as_bytes());
                }
                Some(cfg) => {
                    let mut conn = rustls::ServerConnection::new(cfg.clone()).unwrap();
                    let mut t = rustls::Stream::new(&mut conn, &mut s);
                    // A client that refuses the certificate ends the handshake: that is an
                    // answer too.
                    if t.read(&mut buf).is_ok() {
                        let _ = t.write_all(answer.as_bytes());
                        let _ = t.flush();
                        t.conn.send_close_notify();
                        let _ = t.flush();
                    }
                }
            }
        }
    });
    (port, h)
}

#[test]
fn http_get_tells_2xx_from_others() {
    let (port, h) = serve(
        vec![
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
            "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ],
        None,
    );
    let url = format!("http://127.0.0.1:{port}/health");
    assert_eq!(http_get(&url, Duration::from_secs(5)), Ok(()));
    let e = http_get(&url, Duration::from_secs(5)).unwrap_err();
    assert!(e.contains("503"), "{e}");
    // A redirect is not followed: the service itself must answer.
    let e = http_get(&url, Duration::from_secs(5)).unwrap_err();
    assert!(e.contains("302"), "{e}");
    h.join().unwrap();
    // Nothing listens there any more.
    assert!(http_get(&url, Duration::from_secs(2)).is_err());
}

#[test]
fn https_health_checks_verify_the_certificate() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let key =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let cert_der = key.cert.der().to_vec();
    let cfg = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![key.cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into()),
        )
        .unwrap();
    let (port, h) = serve(
        vec![
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
        ],
        Some(std::sync::Arc::new(cfg)),
    );
    let url = format!("https://127.0.0.1:{port}/health");
    // Trusting the service's own certificate, the answer is read over TLS.
    assert_eq!(
        health::http_get_with_roots(&url, Duration::from_secs(5), Some(&[cert_der])),
        Ok(())
    );
    // With the public roots only, a self-signed certificate is refused.
    let e = http_get(&url, Duration::from_secs(5)).unwrap_err();
    assert!(
        e.to_lowercase().contains("certificate") || e.contains("UnknownIssuer"),
        "{e}"
    );
    h.join().unwrap();
}
