//! Fault injection for crash-safety tests.
//!
//! Debug builds abort the process (as `kill -9` would, with no cleanup) when
//! `AUDITGRAPH_FAULT` names the point being passed. Release builds compile
//! this to nothing.

/// Aborts here if the test asked for a crash at `point`.
#[inline]
pub fn point(name: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("AUDITGRAPH_FAULT").is_ok_and(|wanted| wanted == name) {
        eprintln!("auditgraph: injected fault at {name}");
        std::process::abort();
    }
    #[cfg(not(debug_assertions))]
    let _ = name;
}

/// Sleeps here if the test asked for a pause at `point`
/// (`AUDITGRAPH_PAUSE=<point>`, `AUDITGRAPH_PAUSE_MS`, default 2000), so a
/// test can act while this process is at that point.
#[inline]
pub fn pause(name: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("AUDITGRAPH_PAUSE").is_ok_and(|wanted| wanted == name) {
        let ms = std::env::var("AUDITGRAPH_PAUSE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000);
        eprintln!("auditgraph: pausing {ms} ms at {name}");
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    #[cfg(not(debug_assertions))]
    let _ = name;
}

/// Every fault point, in the order a commit passes them (used by the
/// crash tests to interrupt each step in turn).
pub const COMMIT_POINTS: &[&str] = &[
    "commit:journal-written",
    "commit:first-object-placed",
    "commit:files-placed",
    "commit:state-written",
];
