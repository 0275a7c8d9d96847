//! Guards the on-disk format: a small store built from fixed notes must match
//! the golden listing for the current schema version. If the bytes change,
//! either the schema version must be bumped (released formats are never
//! changed in place), or, for an unreleased change, the golden file is
//! regenerated deliberately with `UPDATE_GOLDEN=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use serde_json::Value;

fn normalize_json(v: &mut Value, run_id: &str) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if k.starts_with("wall_clock") {
                    *val = Value::String("<wall-clock>".to_string());
                } else if k == "auditgraph_version" || k == "written_by" {
                    *val = Value::String("<version>".to_string());
                } else if k == "sha256" && val.as_str().is_some_and(|s| s.len() == 64) {
                    // Checksums of run files (in store.json and the trail)
                    // cover wall-clock fields.
                    *val = Value::String("<file-sha256>".to_string());
                } else if k == "prev" || k == "seal" {
                    // The trail's hashes cover the entries' wall-clock fields.
                    *val = Value::String("<seal>".to_string());
                } else if k == "last_txn" {
                    *val = Value::String("<txn>".to_string());
                } else {
                    normalize_json(val, run_id);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| normalize_json(i, run_id)),
        Value::String(s) if s.contains(run_id) => *s = s.replace(run_id, "<run>"),
        _ => {}
    }
}

fn listing(ws: &Ws) -> String {
    let run_id = ws.current_run();
    let mut out = String::new();
    for (path, _) in ws.pkg_hashes() {
        if path.contains("/secrets/") {
            continue;
        }
        let bytes = std::fs::read(ws.path(".pkg").join(&path)).unwrap();
        let shown = path.replace(&run_id, "<run>");
        let body = if path.contains("/objects/") {
            object_listing(&zstd::decode_all(bytes.as_slice()).unwrap())
        } else if path.ends_with(".jsonl") {
            String::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(|l| {
                    let mut v: Value = serde_json::from_str(l).unwrap();
                    normalize_json(&mut v, &run_id);
                    v.to_string()
                })
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            let mut v: Value = serde_json::from_slice(&bytes).unwrap();
            normalize_json(&mut v, &run_id);
            serde_json::to_string_pretty(&v).unwrap()
        };
        out.push_str(&format!("=== {shown}\n{body}\n"));
    }
    out
}

/// An object's payload: its header line, then a JSON body as it is, a
/// binary body as hex (32 bytes a line), so that every byte is guarded.
fn object_listing(payload: &[u8]) -> String {
    let newline = payload.iter().position(|&b| b == b'\n').unwrap();
    let header = std::str::from_utf8(&payload[..newline]).unwrap();
    let body = &payload[newline + 1..];
    if header.ends_with(" bin") {
        let lines: Vec<String> = body.chunks(32).map(hex::encode).collect();
        format!("{header}\n{}", lines.join("\n"))
    } else {
        String::from_utf8(payload.to_vec()).unwrap()
    }
}

#[test]
fn the_store_format_matches_the_golden_listing_for_this_schema_version() {
    let ws = Ws::new();
    sample_notes(&ws);
    ws.write("notes/unicode.md", "# Ünïcödé\n\n日本語 and `code`.\n");
    ws.json(&["run"]);
    let version = ws.json(&["version"])["schema_version"]
        .as_str()
        .unwrap()
        .to_string();
    let actual = listing(&ws);
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("store-{version}.txt"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&golden).unwrap_or_else(|_| {
        panic!(
            "no golden listing for schema {version} at {}: a new schema version needs one \
             (run the test with UPDATE_GOLDEN=1 and review the file)",
            golden.display()
        )
    });
    if actual != expected {
        let first = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, e)| a != e)
            .unwrap_or(0);
        panic!(
            "the on-disk format changed but the schema version is still {version}.\n\
             A released format must never change in place: bump SCHEMA_VERSION in \
             crates/core/src/version.rs (and teach this binary to read or refuse the old one).\n\
             If the change is intended and the format is unreleased, regenerate with \
             UPDATE_GOLDEN=1 cargo test --test golden_store and review the diff.\n\
             first difference at line {}:\n  actual:   {}\n  expected: {}",
            first + 1,
            actual.lines().nth(first).unwrap_or(""),
            expected.lines().nth(first).unwrap_or("")
        );
    }
}
