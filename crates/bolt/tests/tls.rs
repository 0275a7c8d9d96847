//! TLS: `bolt+ssc://` through a TLS terminator (self-signed certificate made
//! by rcgen) in front of the real FalkorDB, `bolt+s://` refusing that
//! certificate, and TLS against servers that do not speak it. All on
//! 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use auditgraph_bolt::{BoltError, Client, Config, Value};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

fn server_config() -> Arc<ServerConfig> {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![ck.cert.der().clone()], key)
            .unwrap();
    Arc::new(config)
}

fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Accepts `connections` TLS connections one after the other and forwards
/// each to `backend_port` on 127.0.0.1 (or, with no backend, only does the
/// TLS handshake and closes).
fn tls_terminator(backend_port: Option<u16>, connections: usize) -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = server_config();
    let t = std::thread::spawn(move || {
        for _ in 0..connections {
            let (sock, _) = listener.accept().unwrap();
            sock.set_read_timeout(Some(Duration::from_millis(5)))
                .unwrap();
            let conn = ServerConnection::new(config.clone()).unwrap();
            let mut tls = StreamOwned::new(conn, sock);
            let Some(port) = backend_port else {
                let deadline = Instant::now() + Duration::from_secs(5);
                while tls.conn.is_handshaking() && Instant::now() < deadline {
                    match tls.conn.complete_io(&mut tls.sock) {
                        Err(e) if !would_block(&e) => break,
                        _ => {}
                    }
                }
                continue;
            };
            let mut backend = TcpStream::connect(("127.0.0.1", port)).unwrap();
            backend
                .set_read_timeout(Some(Duration::from_millis(5)))
                .unwrap();
            let mut buf = vec![0u8; 64 * 1024];
            // Client bytes are forwarded in one write once the client pauses:
            // FalkorDB 4.16 drops or wedges a connection whose messages
            // arrive in several pieces (see docs/testing-falkordb.md).
            let mut pending = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(20);
            'pump: while Instant::now() < deadline {
                match tls.read(&mut buf) {
                    Ok(0) => break 'pump,
                    Ok(n) => {
                        pending.extend_from_slice(&buf[..n]);
                        continue 'pump;
                    }
                    Err(e) if would_block(&e) => {
                        if !pending.is_empty() && backend.write_all(&pending).is_err() {
                            break 'pump;
                        }
                        pending.clear();
                    }
                    Err(_) => break 'pump,
                }
                match backend.read(&mut buf) {
                    Ok(0) => break 'pump,
                    Ok(n) => {
                        if tls.write_all(&buf[..n]).and_then(|()| tls.flush()).is_err() {
                            break 'pump;
                        }
                    }
                    Err(e) if would_block(&e) => {}
                    Err(_) => break 'pump,
                }
            }
        }
    });
    (port, t)
}

#[test]
fn self_signed_tls_reaches_the_server_and_round_trips() {
    let Some(server) = common::shared("self_signed_tls") else {
        return;
    };
    let (port, t) = tls_terminator(Some(server.bolt_port), 1);
    let mut cfg = server.config();
    cfg.uri = format!("bolt+ssc://localhost:{port}");
    cfg.require_tls = true;
    let mut c = Client::connect(&cfg).unwrap();
    let text = "through TLS: it's \\ \"fine\" é";
    let r = c
        .run(
            &format!(
                "RETURN {} AS s, size({}) AS n",
                auditgraph_bolt::cypher_literal(&Value::from(text)).unwrap(),
                auditgraph_bolt::cypher_literal(&Value::from("y".repeat(200_000))).unwrap()
            ),
            &[],
        )
        .unwrap();
    assert_eq!(r.records, [[Value::from(text), Value::Int(200_000)]]);
    c.close();
    t.join().unwrap();
}

#[test]
fn verified_tls_refuses_a_self_signed_certificate() {
    let (port, t) = tls_terminator(None, 2);
    for uri in [
        format!("bolt+s://localhost:{port}"),
        format!("neo4j+s://127.0.0.1:{port}"),
    ] {
        let mut cfg = Config::new(uri, "u", "p");
        cfg.connect_timeout = Duration::from_secs(3);
        let err = Client::connect(&cfg).unwrap_err();
        assert!(matches!(err, BoltError::Tls { .. }), "{err:?}");
        let shown = err.to_string();
        assert!(shown.contains("certificate"), "{shown}");
        assert!(!shown.contains('\n'));
    }
    t.join().unwrap();
}

#[test]
fn tls_to_a_plaintext_server_fails_clearly() {
    // A plaintext Bolt-ish server: reads the "handshake" and closes, as
    // FalkorDB does with bytes that are not the Bolt magic.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut s, _) = listener.accept().unwrap();
            let mut first = [0u8; 20];
            let _ = s.read_exact(&mut first);
        }
    });
    for scheme in ["bolt+s", "bolt+ssc"] {
        let mut cfg = Config::new(format!("{scheme}://localhost:{port}"), "u", "p");
        cfg.connect_timeout = Duration::from_secs(3);
        let started = Instant::now();
        let err = Client::connect(&cfg).unwrap_err();
        assert!(matches!(err, BoltError::Tls { .. }), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    t.join().unwrap();
}

#[test]
fn silent_server_times_out_in_the_tls_handshake() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        drop(s);
    });
    let mut cfg = Config::new(format!("bolt+ssc://127.0.0.1:{port}"), "u", "p");
    cfg.connect_timeout = Duration::from_millis(800);
    let started = Instant::now();
    let err = Client::connect(&cfg).unwrap_err();
    assert!(matches!(err, BoltError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("TLS"), "{err}");
    assert!(started.elapsed() < Duration::from_millis(1400));
    t.join().unwrap();
}
