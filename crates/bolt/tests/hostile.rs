//! Fake servers that misbehave: every case must give a clear error within
//! the configured timeouts, never a panic, a hang or a huge allocation.
//! They run on 127.0.0.1 only and need no real graph server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use auditgraph_bolt::packstream::encode_struct;
use auditgraph_bolt::{BoltError, Client, Config, Value};
use proptest::prelude::*;

/// What the fake server does, in order, after the version handshake.
#[derive(Clone, Debug)]
enum Step {
    /// Read one chunked message from the client.
    Read,
    /// Write raw bytes.
    Write(Vec<u8>),
    /// Write bytes one at a time with a pause between them.
    Trickle(Vec<u8>, Duration),
}

struct Fake {
    port: u16,
    thread: JoinHandle<()>,
}

/// A one-connection server: answers the handshake with `version` (or
/// whatever bytes given), then follows `steps`, then keeps the socket open
/// for `linger` and closes it.
fn fake(version: &[u8], steps: Vec<Step>, linger: Duration) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let version = version.to_vec();
    let thread = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut hs = [0u8; 20];
        if s.read_exact(&mut hs).is_err() {
            return;
        }
        assert_eq!(&hs[..4], &[0x60, 0x60, 0xB0, 0x17]);
        let _ = s.write_all(&version);
        for step in steps {
            let ok = match step {
                Step::Read => read_message(&mut s).is_some(),
                Step::Write(b) => s.write_all(&b).is_ok(),
                Step::Trickle(b, pause) => b.iter().all(|byte| {
                    std::thread::sleep(pause);
                    s.write_all(&[*byte]).is_ok()
                }),
            };
            if !ok {
                return;
            }
        }
        std::thread::sleep(linger);
    });
    Fake { port, thread }
}

fn read_message(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut h = [0u8; 2];
        s.read_exact(&mut h).ok()?;
        let n = usize::from(u16::from_be_bytes(h));
        if n == 0 {
            return Some(body);
        }
        let mut chunk = vec![0u8; n];
        s.read_exact(&mut chunk).ok()?;
        body.extend_from_slice(&chunk);
    }
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in body.chunks(0xFFFF) {
        out.extend_from_slice(&(c.len() as u16).to_be_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&[0, 0]);
    out
}

fn message(signature: u8, fields: &[Value]) -> Vec<u8> {
    let mut body = Vec::new();
    encode_struct(signature, fields, &mut body).unwrap();
    framed(&body)
}

fn success(pairs: Vec<(&str, Value)>) -> Vec<u8> {
    message(0x70, &[Value::map(pairs)])
}

fn failure(code: &str, text: &str) -> Vec<u8> {
    message(
        0x7F,
        &[Value::map([
            ("code", Value::from(code)),
            ("message", Value::from(text)),
        ])],
    )
}

const V5_4: [u8; 4] = [0, 0, 4, 5];

/// HELLO and LOGON answered with SUCCESS.
fn logged_in() -> Vec<Step> {
    vec![
        Step::Read,
        Step::Write(success(vec![("server", Value::from("Fake/1.0"))])),
        Step::Read,
        Step::Write(success(vec![])),
    ]
}

fn config(port: u16) -> Config {
    let mut c = Config::new(format!("bolt://127.0.0.1:{port}"), "user", "pw");
    c.connect_timeout = Duration::from_millis(1500);
    c.io_timeout = Duration::from_millis(700);
    c
}

fn connect_err(f: Fake) -> (BoltError, Duration) {
    let started = Instant::now();
    let err = Client::connect(&config(f.port)).unwrap_err();
    let took = started.elapsed();
    assert!(!err.to_string().contains('\n'), "{err}");
    f.thread.join().unwrap();
    (err, took)
}

#[test]
fn versions_the_client_did_not_offer() {
    for (answer, needle) in [
        (&[0u8, 0, 0, 0][..], "none of the offered"),
        (&b"HTTP/1.1 400"[..], "HTTP"),
        (&[0, 0, 4, 4][..], "4.4"),
        (&[0, 0, 8, 5][..], "5.8"),
        (&[0, 0, 0, 5][..], "5.0"),
        (&[0, 0, 1, 0xFF][..], "255.1"),
    ] {
        let (err, _) = connect_err(fake(answer, vec![], Duration::ZERO));
        assert!(
            matches!(err, BoltError::UnsupportedVersion { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains(needle), "{err}");
    }
}

#[test]
fn server_that_closes_during_the_handshake() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut hs = [0u8; 20];
        let _ = s.read_exact(&mut hs);
        // Closes without answering, as FalkorDB does for Bolt 4 offers.
    });
    let err = Client::connect(&config(port)).unwrap_err();
    t.join().unwrap();
    assert!(
        matches!(err, BoltError::UnsupportedVersion { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("closed"), "{err}");
}

#[test]
fn silent_after_the_handshake_times_out_in_hello() {
    let (err, took) = connect_err(fake(&V5_4, vec![Step::Read], Duration::from_millis(2500)));
    // HELLO is part of connecting: connect_timeout (1.5 s) applies.
    assert!(matches!(err, BoltError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("HELLO"), "{err}");
    assert!(err.to_string().contains("1.5s"), "{err}");
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_millis(2500),
        "{took:?}"
    );
}

/// Runs a query against a fake server that, after login, reads the request
/// and then does `then`; returns the error and how long `run` took.
fn run_err(then: Vec<Step>) -> (BoltError, Duration) {
    let mut steps = logged_in();
    steps.extend([Step::Read, Step::Read]); // RUN, PULL
    steps.extend(then);
    let f = fake(&V5_4, steps, Duration::ZERO);
    let mut c = Client::connect(&config(f.port)).unwrap();
    let started = Instant::now();
    let err = c.run("RETURN 1", &[]).unwrap_err();
    let took = started.elapsed();
    assert!(!err.to_string().contains('\n'), "{err}");
    assert!(err.is_fatal());
    assert!(matches!(c.run("RETURN 1", &[]), Err(BoltError::Usage(_))));
    drop(c);
    f.thread.join().unwrap();
    (err, took)
}

#[test]
fn silent_after_a_query_times_out_after_io_timeout() {
    let (err, took) = run_err(vec![Step::Trickle(vec![], Duration::ZERO)]);
    // The fake closes at once here: that is a lost connection, not a hang.
    assert!(matches!(err, BoltError::Io { .. }), "{err:?}");
    assert!(took < Duration::from_millis(500), "{took:?}");
    let (err, took) = run_err(vec![Step::Trickle(vec![0, 0], Duration::from_millis(1500))]);
    assert!(matches!(err, BoltError::Timeout { .. }), "{err:?}");
    assert!(
        err.to_string().contains("0.7s waiting for the RUN reply"),
        "{err}"
    );
    assert!(
        took >= Duration::from_millis(650) && took < Duration::from_millis(1400),
        "{took:?}"
    );
}

#[test]
fn endless_noops_time_out() {
    let (err, took) = run_err(vec![Step::Trickle(vec![0; 400], Duration::from_millis(5))]);
    assert!(matches!(err, BoltError::Timeout { .. }), "{err:?}");
    assert!(took < Duration::from_millis(1400), "{took:?}");
}

#[test]
fn trickled_reply_times_out_as_a_whole() {
    // Each byte arrives well within io_timeout, the message does not.
    let reply = success(vec![("fields", Value::from(vec!["x".repeat(50)]))]);
    let (err, took) = run_err(vec![Step::Trickle(reply, Duration::from_millis(50))]);
    assert!(matches!(err, BoltError::Timeout { .. }), "{err:?}");
    assert!(took < Duration::from_millis(1400), "{took:?}");
}

#[test]
fn oversized_message_is_refused_early() {
    // Claims chunk after full chunk: 64 MiB+ if the client kept reading.
    let chunk: Vec<u8> = [&[0xFF, 0xFF][..], &vec![0xC0; 0xFFFF]].concat();
    let mut steps = vec![Step::Read];
    steps.extend(std::iter::repeat_n(Step::Write(chunk), 20));
    let f = fake(&V5_4, steps, Duration::ZERO);
    let mut cfg = config(f.port);
    cfg.max_message_bytes = 256 * 1024;
    let err = Client::connect(&cfg).unwrap_err();
    assert!(matches!(err, BoltError::Protocol(_)), "{err:?}");
    assert!(err.to_string().contains("larger than"), "{err}");
    f.thread.join().unwrap();
}

#[test]
fn malformed_replies_are_protocol_errors() {
    let cases: Vec<Vec<u8>> = vec![
        framed(&[0xC4]),                                     // unknown marker
        framed(&[0x01]),                                     // not a structure
        framed(&[0xB1, 0x70, 0x01]),                         // SUCCESS without a map
        framed(&[0xB1, 0x70, 0xD2, 0xFF, 0xFF, 0xFF, 0xFF]), // 4 GiB string claim
        framed(&[0xB1, 0x70, 0xD6, 0xFF, 0xFF, 0xFF, 0xFF]), // 4 G elements claim
        framed(&[0xB1, 0x70, 0xA1, 0x01, 0x01]),             // non-string key
        framed(&[0xB0, 0x55]),                               // unknown message
        framed(&[0xB1, 0x71, 0x90]),                         // RECORD for HELLO
        framed(&[0xB1, 0x70, 0xA0, 0xC0]),                   // trailing bytes
    ];
    for reply in cases {
        let (err, _) = connect_err(fake(
            &V5_4,
            vec![Step::Read, Step::Write(reply.clone())],
            Duration::ZERO,
        ));
        assert!(
            matches!(err, BoltError::Protocol(_)),
            "{reply:02X?}: {err:?}"
        );
    }
}

#[test]
fn refused_logon_is_an_auth_error() {
    let steps = vec![
        Step::Read,
        Step::Write(success(vec![("server", Value::from("Fake/1.0"))])),
        Step::Read,
        Step::Write(failure(
            "Neo.ClientError.Security.Unauthorized",
            "The client is unauthorized due to authentication failure.\nSecond line",
        )),
    ];
    let (err, _) = connect_err(fake(&V5_4, steps, Duration::ZERO));
    assert!(matches!(err, BoltError::Auth { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "authentication failed: The client is unauthorized due to authentication failure. Second line (Neo.ClientError.Security.Unauthorized)"
    );
}

#[test]
fn connection_closed_after_logon_is_an_auth_error() {
    let steps = vec![Step::Read, Step::Write(success(vec![])), Step::Read];
    let (err, _) = connect_err(fake(&V5_4, steps, Duration::ZERO));
    assert!(matches!(err, BoltError::Auth { .. }), "{err:?}");
}

#[test]
fn connection_closed_mid_message_is_an_io_error() {
    let mut steps = logged_in();
    let record = message(0x71, &[Value::from(vec!["x".repeat(100)])]);
    steps.extend([
        Step::Read,
        Step::Read, // RUN, PULL
        Step::Write(success(vec![("fields", Value::from(vec!["s"]))])),
        Step::Write(record[..40].to_vec()),
    ]);
    let f = fake(&V5_4, steps, Duration::ZERO);
    let mut c = Client::connect(&config(f.port)).unwrap();
    assert_eq!(c.server_agent(), "Fake/1.0");
    assert_eq!(c.protocol_version(), (5, 4));
    let err = c.run("RETURN 1", &[]).unwrap_err();
    assert!(matches!(err, BoltError::Io { .. }), "{err:?}");
    assert!(err.is_fatal());
    assert!(matches!(c.run("RETURN 1", &[]), Err(BoltError::Usage(_))));
    f.thread.join().unwrap();
}

#[test]
fn failure_then_a_reset_that_never_comes() {
    let mut steps = logged_in();
    steps.extend([
        Step::Read,
        Step::Read, // RUN, PULL
        Step::Write(failure("Neo.ClientError.Statement.SyntaxError", "bad")),
    ]);
    let f = fake(&V5_4, steps, Duration::from_millis(1500));
    let mut c = Client::connect(&config(f.port)).unwrap();
    let started = Instant::now();
    let err = c.run("RETURN", &[]).unwrap_err();
    // The FAILURE could not be recovered from: the RESET timed out.
    assert!(matches!(err, BoltError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("RESET"), "{err}");
    assert!(started.elapsed() < Duration::from_millis(1400));
    f.thread.join().unwrap();
}

#[test]
fn failure_then_ignored_then_reset_success() {
    // What Neo4j does: FAILURE for RUN, IGNORED for the pipelined PULL,
    // SUCCESS for RESET.
    let mut steps = logged_in();
    steps.extend([
        Step::Read,
        Step::Read, // RUN, PULL
        Step::Write(failure("Neo.ClientError.Statement.SyntaxError", "bad")),
        Step::Read, // RESET
        Step::Write(message(0x7E, &[])),
        Step::Write(success(vec![])),
        Step::Read,
        Step::Read, // RUN, PULL
        Step::Write(success(vec![("fields", Value::from(vec!["x"]))])),
        Step::Write(message(0x71, &[Value::from(vec![Value::Int(1)])])),
        Step::Write(success(vec![(
            "stats",
            Value::map([("nodes-created", 2i64)]),
        )])),
    ]);
    let f = fake(&V5_4, steps, Duration::ZERO);
    let mut c = Client::connect(&config(f.port)).unwrap();
    let err = c.run("RETURN", &[]).unwrap_err();
    assert!(
        matches!(&err, BoltError::Server { code, message } if code.ends_with("SyntaxError") && message == "bad"),
        "{err:?}"
    );
    let r = c.run("RETURN 1 AS x", &[]).unwrap();
    assert_eq!(r.records, [[Value::Int(1)]]);
    assert_eq!(r.summary.stat("nodes-created"), 2);
    f.thread.join().unwrap();
}

#[test]
fn endless_ignored_replies_to_reset_are_refused() {
    let mut steps = logged_in();
    steps.extend([Step::Read, Step::Read]); // RUN, PULL
    steps.push(Step::Write(failure("X", "y")));
    steps.push(Step::Read);
    steps.extend(std::iter::repeat_n(Step::Write(message(0x7E, &[])), 100));
    let f = fake(&V5_4, steps, Duration::ZERO);
    let mut c = Client::connect(&config(f.port)).unwrap();
    let err = c.run("RETURN", &[]).unwrap_err();
    assert!(matches!(err, BoltError::Protocol(_)), "{err:?}");
    f.thread.join().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random bytes as the reply to HELLO: an error or (by luck) a
    /// session, never a panic, within the timeouts.
    #[test]
    fn random_replies_never_panic(reply in proptest::collection::vec(any::<u8>(), 0..300)) {
        let f = fake(&V5_4, vec![Step::Read, Step::Write(reply)], Duration::ZERO);
        let started = Instant::now();
        let _ = Client::connect(&config(f.port));
        prop_assert!(started.elapsed() < Duration::from_secs(3));
        f.thread.join().unwrap();
    }

    /// A valid HELLO reply followed by random records for a query.
    #[test]
    fn random_records_never_panic(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut steps = logged_in();
        steps.extend([
            Step::Read,
            Step::Read, // RUN, PULL
            Step::Write(success(vec![("fields", Value::from(vec!["x"]))])),
            Step::Write(framed(&[&[0xB1, 0x71][..], &body].concat())),
            Step::Write(success(vec![])),
        ]);
        let f = fake(&V5_4, steps, Duration::ZERO);
        let mut c = Client::connect(&config(f.port)).unwrap();
        let _ = c.run("RETURN 1", &[]);
        f.thread.join().unwrap();
    }
}
