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

/// Every fault point, in the order a commit passes them (used by the
/// crash tests to interrupt each step in turn).
pub const COMMIT_POINTS: &[&str] = &[
    "commit:journal-written",
    "commit:first-object-placed",
    "commit:files-placed",
    "commit:state-written",
];
