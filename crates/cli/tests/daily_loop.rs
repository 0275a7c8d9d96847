//! A hundred days of edits on a real collection, with the default
//! configuration: append a line to one tldr-en page and `run`, a hundred
//! times. Every cycle exits 0 without `gc` (the history fits the default
//! budget), the median cycle grows the store by at most 64 KiB, the
//! default `gc` then frees what the history holds beyond its kept runs,
//! and the run reached through the edits is, piece for piece, the run a
//! cold start on a copy of the same files gives.
//!
//! The corpus is not part of the repository: the test reads it from
//! `AUDITGRAPH_CORPORA` (a directory holding `tldr-en/`), else from the
//! shared corpora beside the repository, and says it is skipped when
//! neither exists.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use std::path::PathBuf;

fn corpus() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("AUDITGRAPH_CORPORA").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora")),
    ];
    candidates
        .into_iter()
        .flatten()
        .map(|dir| dir.join("tldr-en"))
        .find(|dir| dir.join("pages").is_dir())
}

/// Every Markdown page under `dir`, in path order.
fn pages(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "md") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Each stage's outputs hash and table of pieces: equal tables name
/// equal pieces (every table and piece is named by its content's hash).
fn outputs(ws: &Ws, run: &str) -> Vec<(String, String, String)> {
    ["ingest", "extract", "link", "index"]
        .iter()
        .map(|stage| {
            let m = ws.manifest(run, stage);
            (
                stage.to_string(),
                m["outputs_hash"].as_str().unwrap().to_string(),
                m["pieces"].to_string(),
            )
        })
        .collect()
}

#[test]
fn a_hundred_edit_and_run_cycles_fit_the_default_budget() {
    let Some(tldr) = corpus() else {
        eprintln!(
            "skipped: no tldr-en corpus (set AUDITGRAPH_CORPORA to the directory holding it)"
        );
        return;
    };
    let ws = Ws::new();
    copy_dir(&tldr, ws.root());
    ws.json(&["run"]);
    let pages = pages(&ws.path("pages"));
    let step = pages.len() / 100;
    let mut growth: Vec<u64> = Vec::new();
    let mut warned_at = None;
    for cycle in 0..100 {
        let page = &pages[cycle * step];
        let mut text = std::fs::read_to_string(page).unwrap();
        text.push_str(&format!("\n- Day {cycle}: one more example line.\n"));
        std::fs::write(page, text).unwrap();
        let doc = ws.run(&["--json", "run"]).ok().json();
        assert_eq!(
            doc["detail"]["outcome"], "published",
            "cycle {cycle}: {doc}"
        );
        let budget = &doc["budget"];
        growth.push(budget["added_bytes"].as_u64().unwrap());
        if budget["status"] == "warn" && warned_at.is_none() {
            warned_at = Some(cycle);
        }
        assert_ne!(budget["status"], "blocked", "cycle {cycle}: {budget}");
    }
    let mut sorted = growth.clone();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2];
    eprintln!(
        "growth per cycle: median {median} B, max {} B, total {} B; first budget warning at cycle {warned_at:?}",
        sorted[sorted.len() - 1],
        growth.iter().sum::<u64>()
    );
    assert!(median <= 64 * 1024, "median growth {median} B per cycle");

    // The default gc frees the history beyond its kept runs: the budget
    // is back below its warning threshold.
    let gc = ws.json(&["gc"]);
    assert!(gc["reclaimed_bytes"].as_u64().unwrap() > 0, "{gc}");
    let status = ws.json(&["status"]);
    let ratio = status["budget"]["usage_ratio"].as_f64().unwrap();
    let warn = status["budget"]["warn_threshold"].as_f64().unwrap();
    assert!(ratio < warn, "after gc: {status}");
    assert_eq!(ws.json(&["validate-store"])["status"], "pass");

    // A cold run on a copy of the same files: the same run, piece for piece.
    let current = ws.current_run();
    let cold = Ws::new();
    copy_dir(ws.root(), cold.root());
    std::fs::remove_dir_all(cold.path(".pkg")).unwrap();
    let doc = cold.json(&["run"]);
    assert_eq!(doc["detail"]["run_id"], current.as_str());
    assert_eq!(outputs(&cold, &current), outputs(&ws, &current));
}
