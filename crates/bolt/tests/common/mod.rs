//! Test servers: the shared FalkorDB that `scripts/test` starts, or a
//! throw-away one of a test's own.
//!
//! Environment (set by `scripts/test`):
//! - `AUDITGRAPH_TEST_BOLT_URI`, `AUDITGRAPH_TEST_BOLT_USER`,
//!   `AUDITGRAPH_TEST_BOLT_PASSWORD`: the shared server. Unset: the tests
//!   print a note and pass, unless `AUDITGRAPH_REQUIRE_TEST_TOOLS=1`, when
//!   they fail.
//! - `AUDITGRAPH_TEST_FALKORDB_START`, `AUDITGRAPH_TEST_VENV`: how to start a
//!   server of one's own (`scripts/start-falkordb VENV DIR`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use auditgraph_bolt::Config;

/// A Bolt server to test against.
pub struct Server {
    pub uri: String,
    pub bolt_port: u16,
    pub user: String,
    pub password: String,
    own: Option<OwnServer>,
}

struct OwnServer {
    pid: u32,
    _dir: tempfile::TempDir,
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.pid.to_string())
            .stderr(Stdio::null())
            .status();
    }
}

impl Server {
    /// A client configuration for this server with test timeouts.
    pub fn config(&self) -> Config {
        let mut c = Config::new(&self.uri, &self.user, &self.password);
        c.connect_timeout = Duration::from_secs(10);
        c.io_timeout = Duration::from_secs(30);
        c
    }

    /// True if this is a throw-away server of this test's own.
    pub fn is_own(&self) -> bool {
        self.own.is_some()
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The shared test server, or `None` (after printing why) when the test
/// should be skipped. Panics when the server is required but not there.
pub fn shared(test: &str) -> Option<Server> {
    let Some(uri) = env("AUDITGRAPH_TEST_BOLT_URI") else {
        if env("AUDITGRAPH_REQUIRE_TEST_TOOLS").as_deref() == Some("1") {
            panic!(
                "{test}: AUDITGRAPH_TEST_BOLT_URI is not set but AUDITGRAPH_REQUIRE_TEST_TOOLS=1; \
                 run the suite with scripts/test, which starts FalkorDB"
            );
        }
        // Straight to stderr (not captured like eprintln!), once per binary.
        static NOTED: AtomicBool = AtomicBool::new(false);
        if !NOTED.swap(true, Ordering::Relaxed) {
            let _ = writeln!(
                std::io::stderr(),
                "note: skipping the tests that need a Bolt server ({test} and others): \
                 AUDITGRAPH_TEST_BOLT_URI is not set (scripts/test starts FalkorDB and sets it)"
            );
        }
        return None;
    };
    let bolt_port = uri
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or(7687);
    Some(Server {
        uri,
        bolt_port,
        user: env("AUDITGRAPH_TEST_BOLT_USER").unwrap_or_default(),
        password: env("AUDITGRAPH_TEST_BOLT_PASSWORD").unwrap_or_default(),
        own: None,
    })
}

/// A throw-away server of the test's own (with a random password), when
/// `scripts/test` said how to start one; else the shared server.
pub fn own(test: &str) -> Option<Server> {
    let shared = shared(test)?;
    let (Some(start), Some(venv)) = (
        env("AUDITGRAPH_TEST_FALKORDB_START"),
        env("AUDITGRAPH_TEST_VENV"),
    ) else {
        eprintln!("note: {test}: no AUDITGRAPH_TEST_FALKORDB_START, using the shared server");
        return Some(shared);
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let password = random_token();
    let out = Command::new(&start)
        .arg(&venv)
        .arg(dir.path())
        .env("FALKORDB_PASSWORD", &password)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/start-falkordb");
    assert!(
        out.status.success(),
        "{test}: {start} failed; log: {}",
        std::fs::read_to_string(dir.path().join("falkordb.log")).unwrap_or_default()
    );
    let line = String::from_utf8_lossy(&out.stdout);
    let mut parts = line.split_whitespace().map(|p| p.parse::<u32>().unwrap());
    let (bolt, _redis, pid) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    Some(Server {
        uri: format!("bolt://127.0.0.1:{bolt}"),
        bolt_port: u16::try_from(bolt).unwrap(),
        user: "falkordb".into(),
        password,
        own: Some(OwnServer { pid, _dir: dir }),
    })
}

/// A fresh random token (for passwords and unique labels).
pub fn random_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// A label no other test (or earlier run) uses.
pub fn unique_label(prefix: &str) -> String {
    format!("{prefix}_{}", random_token())
}
