//! The disk footprint budget at its exact boundaries, with the 1 MiB floor
//! and custom multipliers. Blocks write nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

const MIB: u64 = 1 << 20;

/// A workspace whose config lives outside the root (so changing the
/// multiplier does not change the inputs).
struct Budgeted {
    ws: Ws,
    config_dir: tempfile::TempDir,
}

impl Budgeted {
    fn new() -> Budgeted {
        let ws = Ws::new();
        ws.write("notes/a.md", "# A\n\nSome text about `budgets`.\n");
        ws.write("notes/b.txt", "plain\n");
        Budgeted {
            ws,
            config_dir: tempfile::tempdir().unwrap(),
        }
    }

    fn config(&self, multiplier: &str) -> String {
        let path = self.config_dir.path().join("pkg.yaml");
        std::fs::write(
            &path,
            format!("storage:\n  footprint_budget:\n    multiplier: {multiplier}\n"),
        )
        .unwrap();
        path.to_str().unwrap().to_string()
    }

    fn ingest(&self, multiplier: &str) -> Run {
        let cfg = self.config(multiplier);
        self.ws.run(&["--json", "--config", &cfg, "ingest"])
    }
}

/// The exact bytes a first ingest of `b` adds (deterministic across
/// workspaces with the same files).
fn first_ingest_bytes(pad: &str) -> u64 {
    let b = Budgeted::new();
    b.ws.write(&format!("pad/{pad}.bin"), "x");
    let doc = b.ingest("1000").ok().json();
    doc["budget"]["projected_bytes"].as_u64().unwrap()
}

/// A padding file name that makes the projected size divisible by 4, so a
/// ratio of exactly 0.8 is reachable with whole bytes.
fn padded() -> (String, u64) {
    for n in 0..8 {
        let pad = "p".repeat(n + 1);
        let bytes = first_ingest_bytes(&pad);
        if bytes.is_multiple_of(4) {
            return (pad, bytes);
        }
    }
    panic!("no padding gave a size divisible by 4");
}

/// A multiplier that makes the limit exactly `limit` bytes (the floor of
/// 1 MiB applies: the sources are tiny). Dyadic, so exact in f64 and in text.
fn multiplier_for(limit: u64) -> String {
    format!("{}", limit as f64 / MIB as f64)
}

fn run_at(pad: &str, limit: u64) -> (Budgeted, Run) {
    let b = Budgeted::new();
    b.ws.write(&format!("pad/{pad}.bin"), "x");
    let run = b.ingest(&multiplier_for(limit));
    (b, run)
}

#[test]
fn boundaries_just_below_and_exactly_at_the_thresholds() {
    let (pad, p) = padded();
    assert!(p < MIB, "the fixture must stay under the 1 MiB floor");

    // Just below 0.8: silent, ok.
    let (_, run) = run_at(&pad, p * 5 / 4 + 1);
    assert!(!run.stderr.contains("budget"), "{}", run.stderr);
    let doc = run.ok().json();
    assert_eq!(doc["budget"]["status"], "ok");
    assert!(doc["budget"]["usage_ratio"].as_f64().unwrap() < 0.8);

    // Exactly 0.8: warn, proceed.
    let (b, run) = run_at(&pad, p * 5 / 4);
    let stderr = run.stderr.clone();
    let doc = run.ok().json();
    assert_eq!(doc["budget"]["status"], "warn");
    assert_eq!(doc["budget"]["usage_ratio"].as_f64().unwrap(), 0.8);
    assert_eq!(doc["budget"]["projected_bytes"].as_u64().unwrap(), p);
    assert_eq!(doc["budget"]["limit_bytes"].as_u64().unwrap(), p * 5 / 4);
    assert_eq!(doc["budget"]["warn_threshold"], 0.8);
    assert_eq!(doc["budget"]["block_threshold"], 1.0);
    let line = format!(
        "budget: warn usage={p} limit={} ratio=0.8000 (warn at 0.80, block at 1.00)",
        p * 5 / 4
    );
    assert!(stderr.contains(&line), "{stderr}\nexpected: {line}");
    assert!(b.ws.store().join("store.json").is_file());

    // Just below 1.0: warn, proceed.
    let (_, run) = run_at(&pad, p + 1);
    let doc = run.ok().json();
    assert_eq!(doc["budget"]["status"], "warn");

    // Exactly 1.0: block, exit 5, nothing written (not even the store).
    let (b, run) = run_at(&pad, p);
    let run = run.code(5);
    let doc = run.json();
    assert_eq!(doc["code"], "budget_blocked");
    assert_eq!(doc["budget"]["status"], "block");
    assert_eq!(doc["budget"]["usage_ratio"], 1.0);
    assert_eq!(doc["budget"]["limit_bytes"].as_u64().unwrap(), p);
    assert!(run.stderr.contains("auditgraph gc"), "{}", run.stderr);
    assert!(
        run.stderr.contains("storage.footprint_budget.multiplier"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("ratio=1.0000 (warn at 0.80, block at 1.00)"),
        "{}",
        run.stderr
    );
    assert!(
        !b.ws.path(".pkg").exists(),
        "a blocked first ingest left a store behind"
    );
}

#[test]
fn below_warn_prints_nothing_about_the_budget() {
    let b = Budgeted::new();
    let run = b.ingest("3.0").ok();
    assert!(!run.stderr.contains("budget"), "{}", run.stderr);
}

#[test]
fn sources_under_one_mib_count_as_one_mib() {
    let b = Budgeted::new();
    let doc = b.ingest("2.0").ok().json();
    assert_eq!(doc["budget"]["limit_bytes"], 2 * MIB);
    assert!(doc["budget"]["source_bytes"].as_u64().unwrap() < 100);
}

#[test]
fn large_sources_set_the_limit() {
    let b = Budgeted::new();
    // 1.5 MiB of text: the limit is sources x multiplier.
    let line = "word ".repeat(20) + "\n";
    let text = line.repeat((3 * MIB as usize / 2) / line.len() + 1);
    b.ws.write("notes/big.md", &text);
    let doc = b.ingest("2.5").ok().json();
    let sources = doc["budget"]["source_bytes"].as_u64().unwrap();
    assert!(sources > MIB);
    assert_eq!(
        doc["budget"]["limit_bytes"].as_u64().unwrap(),
        (sources as f64 * 2.5) as u64
    );
}

#[test]
fn a_blocked_second_ingest_leaves_the_store_byte_for_byte() {
    let b = Budgeted::new();
    b.ingest("3.0").ok();
    let before = b.ws.pkg_hashes();
    let used = b.ws.state()["accounting"]["bytes"].as_u64().unwrap();
    b.ws.write("notes/c.md", "# C\n\nanother note\n");
    // Limit just above what is stored: any addition blocks.
    let run = b.ingest(&multiplier_for(used + 1)).code(5);
    assert_eq!(
        run.json()["budget"]["current_bytes"].as_u64().unwrap(),
        used
    );
    assert_eq!(
        b.ws.pkg_hashes(),
        before,
        "a blocked ingest changed the store"
    );
    // Raising the multiplier is a way out.
    b.ingest("3.0").ok();
}

#[test]
fn gc_is_a_way_out_of_a_block() {
    let b = Budgeted::new();
    b.ingest("3.0").ok();
    for i in 0..3 {
        b.ws.write("notes/a.md", format!("# A\n\nversion {i} with `budgets`\n"));
        b.ingest("3.0").ok();
    }
    let used = b.ws.state()["accounting"]["bytes"].as_u64().unwrap();
    b.ws.write("notes/a.md", "# A\n\nversion 9\n");
    let limit = used + 200;
    b.ingest(&multiplier_for(limit)).code(5);
    let cfg = b.config(&multiplier_for(limit));
    let gc =
        b.ws.run(&["--json", "--config", &cfg, "gc", "--keep", "0"])
            .ok()
            .json();
    assert!(gc["reclaimed_bytes"].as_u64().unwrap() > 0);
    b.ingest(&multiplier_for(limit)).ok();
}
