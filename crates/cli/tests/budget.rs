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

/// The command a refusal's first hint names (`auditgraph gc ...` in
/// backquotes), as arguments after `auditgraph`.
fn hinted_gc(stderr: &str) -> Vec<String> {
    let line = stderr
        .lines()
        .find(|l| l.contains("hint: run `auditgraph gc"))
        .unwrap_or_else(|| panic!("no gc hint in:\n{stderr}"));
    let start = line.find('`').unwrap() + 1;
    let end = start + line[start..].find('`').unwrap();
    line[start..end]
        .split_whitespace()
        .skip(1)
        .map(str::to_string)
        .collect()
}

#[test]
fn the_gc_a_refusal_names_frees_enough_when_followed() {
    // Runs that each leave a piece behind, then a limit that only
    // `gc --keep 0` gets under: the hint must name exactly that, and the
    // refused run must succeed once it is followed.
    let b = Budgeted::new();
    for i in 0..6 {
        let body = format!("# A\n\nversion {i} of a longer text about `budgets`.\n");
        b.ws.write("notes/a.md", body.repeat(40));
        b.ingest("3.0").ok();
    }
    let used = b.ws.state()["accounting"]["bytes"].as_u64().unwrap();
    b.ws.write("notes/a.md", "# A\n\nthe last version\n");
    let limit = used - 10;
    let refused = b.ingest(&multiplier_for(limit)).code(5);
    let way = &refused.json()["budget"]["way_out"];
    let args = hinted_gc(&refused.stderr);
    let keep = way["gc_keep"]
        .as_u64()
        .unwrap_or_else(|| panic!("no gc frees enough:\n{}", refused.stderr));
    if keep == 2 {
        assert_eq!(args, ["gc"], "{}", refused.stderr);
    } else {
        assert_eq!(
            args,
            ["gc", "--keep", &keep.to_string()],
            "{}",
            refused.stderr
        );
    }
    assert!(way["gc_frees_bytes"].as_u64().unwrap() >= way["needed_bytes"].as_u64().unwrap());
    // The raised multiplier it names lets the run through as well.
    let raised = way["multiplier_needed"].as_f64().unwrap();
    assert!(refused.stderr.contains(&format!("at least {raised}")));
    let cfg = b.config(&multiplier_for(limit));
    let mut gc = vec!["--config".to_string(), cfg.clone()];
    gc.extend(args);
    let gc: Vec<&str> = gc.iter().map(String::as_str).collect();
    b.ws.run(&gc).ok();
    b.ingest(&multiplier_for(limit)).ok();
}

#[test]
fn a_refusal_no_gc_can_fix_says_so_and_names_the_multiplier_that_does() {
    let b = Budgeted::new();
    b.ingest("3.0").ok();
    b.ws.write("notes/c.md", "# C\n\nnew text\n".repeat(200));
    let refused = b.ingest("0.001").code(5);
    assert!(
        !refused.stderr.contains("hint: run `auditgraph gc"),
        "{}",
        refused.stderr
    );
    let way = &refused.json()["budget"]["way_out"];
    assert!(way["gc_keep"].is_null());
    let raised = way["multiplier_needed"].as_f64().unwrap();
    b.ingest(&raised.to_string()).ok();
}

/// Exports: a workspace with an export size known from a first export
/// written outside it (not counted), and a limit set from it.
fn exports_fixture() -> (Budgeted, u64, u64, tempfile::TempDir) {
    let b = Budgeted::new();
    for i in 0..30 {
        b.ws.write(
            &format!("notes/n{i}.md"),
            format!(
                "# Note {i}\n\nUses `tokio` and links [[Note {}]].\n",
                (i + 1) % 30
            ),
        );
    }
    let cfg = b.config("3.0");
    b.ws.run(&["--config", &cfg, "run"]).ok();
    let outside = tempfile::tempdir().unwrap();
    let out = outside.path().join("first.json");
    let doc =
        b.ws.json(&["--config", &cfg, "export", "-o", out.to_str().unwrap()]);
    assert_eq!(doc["counted_in_budget"], false);
    let size = doc["bytes"].as_u64().unwrap();
    let store = b.ws.state()["accounting"]["bytes"].as_u64().unwrap();
    (b, size, store, outside)
}

#[test]
fn the_same_export_written_again_costs_only_its_change_and_distinct_ones_add_up() {
    let (b, size, store, outside) = exports_fixture();
    // Room for the store and four and a half exports.
    let cfg = b.config(&multiplier_for(store + size * 9 / 2));
    let export = |out: &str| b.ws.run(&["--json", "--config", &cfg, "export", "-o", out]);
    for _ in 0..5 {
        export("exports/same.json").ok();
    }
    for i in 0..3 {
        export(&format!("exports/other-{i}.json")).ok();
    }
    // The fifth distinct export does not fit: refused, nothing written.
    let refused = export("exports/other-3.json").code(5);
    assert!(!b.ws.path("exports/other-3.json").exists());
    assert!(
        refused.stderr.contains("delete earlier exports"),
        "{}",
        refused.stderr
    );
    let counted = refused.json()["budget"]["way_out"]["exports_bytes"]
        .as_u64()
        .unwrap();
    assert_eq!(counted, 4 * size);
    // Status lists what is counted; exporting recorded nothing in the store.
    let status = b.ws.json(&["--config", &cfg, "status"]);
    assert_eq!(status["exports"].as_object().unwrap().len(), 4);
    assert!(b.ws.state().get("exports").is_none());
    // Outside the workspace: written, reported, not counted.
    let out = outside.path().join("again.json");
    let doc = export(out.to_str().unwrap()).ok().json();
    assert_eq!(doc["counted_in_budget"], false);
    let human =
        b.ws.run(&["--config", &cfg, "export", "-o", out.to_str().unwrap()])
            .ok();
    assert!(human.stdout.contains("not counted"), "{}", human.stdout);
    // An export deleted by hand stops counting.
    b.ws.remove("exports/other-0.json");
    export("exports/other-3.json").ok();
}

#[test]
fn twenty_distinct_exports_under_the_workspace_end_in_a_block_that_writes_nothing() {
    let (b, size, store, _outside) = exports_fixture();
    let cfg = b.config(&multiplier_for(store + size * 10));
    let mut codes = Vec::new();
    for i in 0..20 {
        let out = format!("exports/e{i:02}.json");
        let run = b.ws.run(&["--config", &cfg, "export", "-o", &out]);
        if run.code == 5 {
            assert!(!b.ws.path(&out).exists(), "{out} written despite the block");
        }
        codes.push(run.code);
    }
    assert_eq!(codes.iter().filter(|c| **c == 0).count(), 9, "{codes:?}");
    assert_eq!(*codes.last().unwrap(), 5);
}

#[test]
fn read_commands_say_when_a_refused_run_left_them_an_older_run() {
    let b = Budgeted::new();
    let cfg = b.config("3.0");
    b.ws.run(&["--config", &cfg, "run"]).ok();
    let query = |json: bool| {
        let mut args = vec!["--config", cfg.as_str()];
        if json {
            args.push("--json");
        }
        args.extend(["query", "--q", "budgets"]);
        b.ws.run(&args).ok()
    };
    assert!(!query(false).stderr.contains("warning"));

    // An edit whose run is refused: the store stays as it was, and reads
    // say that their answers predate it, with what to do.
    b.ws.write("notes/c.md", "# C\n\nthe newest note about `budgets`\n");
    let small = b.config("0.001");
    b.ws.run(&["--config", &small, "run"]).code(5);
    let cfg = b.config("3.0");
    let human = query(false);
    let warning: Vec<&str> = human
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning: results come from run"))
        .collect();
    assert_eq!(warning.len(), 1, "{}", human.stderr);
    assert!(warning[0].contains("budget_blocked"), "{}", warning[0]);
    assert!(
        warning[0].contains("then `auditgraph run`"),
        "{}",
        warning[0]
    );
    let doc = query(true).json();
    assert_eq!(doc["stale"]["code"], "budget_blocked");
    assert_eq!(doc["stale"]["command"], "run");
    // list, node and export say it too.
    for args in [vec!["list"], vec!["export", "--format", "dot"]] {
        let mut all = vec!["--config", cfg.as_str()];
        all.extend(args);
        let r = b.ws.run(&all).ok();
        assert!(r.stderr.contains("results come from run"), "{}", r.stderr);
    }

    // The next run that publishes clears it.
    b.ws.run(&["--config", &cfg, "run"]).ok();
    let after = query(true);
    assert!(!after.stderr.contains("warning"), "{}", after.stderr);
    assert!(after.json().get("stale").is_none());
}
