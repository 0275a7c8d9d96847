//! Secret redaction (see `redact/mod.rs` once implemented).
