//! The sealed trail (issue #24), through the real binary: every write
//! command prints the seal; `validate-store` names every changed, missing
//! or extra file of any run; `--expect-seal` detects a store rolled back to
//! an older copy or a history rewritten consistently; `gc` keeps the chain
//! verifiable; `replay` refuses a changed configuration snapshot.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::Path;

/// A store of two runs: run, edit a note, run. Returns the workspace and
/// the two run ids, oldest first.
fn two_runs() -> (Ws, String, String) {
    let ws = Ws::new();
    sample_notes(&ws);
    let first = ws.json(&["run"])["detail"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    ws.write(
        "notes/beta.md",
        "# Beta\n\nBeta is a little longer now.\n\n## Details\n\nMore words here.\n",
    );
    let second = ws.json(&["run"])["detail"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(first, second);
    (ws, first, second)
}

/// A fresh copy of a whole workspace (sources and `.pkg`).
fn copy_of(ws: &Ws) -> Ws {
    let copy = Ws::new();
    copy_dir(ws.root(), copy.root());
    copy
}

fn seal(ws: &Ws) -> String {
    ws.json(&["status"])["seal"].as_str().unwrap().to_string()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Store-relative path of a file of a run.
fn run_file(run: &str, name: &str) -> String {
    format!("runs/{run}/{name}")
}

/// Runs `validate-store` (JSON and human), expects exit 1 and a problem of
/// `kind` naming `file` in both; returns the JSON report. The store must be
/// left as it was.
#[track_caller]
fn assert_problem(ws: &Ws, kind: &str, file: &str) -> Value {
    let before = ws.pkg_hashes();
    let json = ws.run(&["--json", "validate-store"]).code(1);
    let report = json.json();
    assert_eq!(report["status"], "fail", "{report}");
    let problems = report["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p["kind"] == kind && p["file"] == file),
        "no {kind} problem naming {file}: {report:#}"
    );
    let human = ws.run(&["validate-store"]).code(1);
    assert!(
        human
            .stdout
            .lines()
            .any(|l| l.contains(kind) && l.contains(file)),
        "human output does not name {kind} {file}:\n{}",
        human.stdout
    );
    assert!(
        human.stderr.contains("validate-store found"),
        "{}",
        human.stderr
    );
    assert_eq!(ws.pkg_hashes(), before, "validate-store modified the store");
    report
}

/// Replaces the only occurrence of `from` in a file by `to` (same length).
fn replace_once(path: &Path, from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let text = std::fs::read_to_string(path).unwrap();
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from} in {}",
        path.display()
    );
    let changed = text.replacen(from, to, 1);
    assert_eq!(changed.len(), text.len());
    std::fs::write(path, changed).unwrap();
}

#[test]
fn the_untouched_two_run_store_validates_clean() {
    let (ws, _, _) = two_runs();
    let copy = copy_of(&ws);
    let report = copy.json(&["validate-store"]);
    assert_eq!(report["status"], "pass", "{report:#}");
    assert_eq!(report["problems"], serde_json::json!([]));
    assert_eq!(report["runs"], 2);
    assert_eq!(report["trail_entries"], 2);
    assert_eq!(report["seal"].as_str().unwrap(), seal(&ws));
    let human = copy.run(&["validate-store"]).ok();
    assert!(human.stdout.contains("clean"), "{}", human.stdout);
}

#[test]
fn one_bit_flipped_in_a_replay_log_is_named() {
    let (ws, first, _) = two_runs();
    let copy = copy_of(&ws);
    let rel = run_file(&first, "replay-log.jsonl");
    let path = copy.store().join(&rel);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
    assert_problem(&copy, "tampered_file", &rel);
}

#[test]
fn a_same_length_digit_change_in_a_config_snapshot_is_named() {
    let (ws, first, _) = two_runs();
    let copy = copy_of(&ws);
    let rel = run_file(&first, "config-snapshot.json");
    replace_once(
        &copy.store().join(&rel),
        "\"chunk_tokens\":200",
        "\"chunk_tokens\":300",
    );
    assert_problem(&copy, "tampered_file", &rel);
}

#[test]
fn a_same_length_change_in_a_stage_manifest_is_named() {
    let (ws, first, _) = two_runs();
    let copy = copy_of(&ws);
    let rel = run_file(&first, "link-manifest.json");
    let path = copy.store().join(&rel);
    let manifest: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let hash = manifest["outputs_hash"].as_str().unwrap().to_string();
    // One hex digit of the recorded outputs hash, still valid JSON.
    let first_digit = if hash.starts_with('0') { "1" } else { "0" };
    let forged = format!("{first_digit}{}", &hash[1..]);
    replace_once(&path, &hash, &forged);
    assert_problem(&copy, "tampered_file", &rel);
}

#[test]
fn a_truncated_object_is_named() {
    let (ws, first, _) = two_runs();
    let copy = copy_of(&ws);
    // The top of the first run's records table (a piece both runs may
    // share, verified once).
    let id = copy.manifest(&first, "ingest")["pieces"]["records"]
        .as_str()
        .unwrap()
        .to_string();
    let path = copy.object(&id);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let rel = format!("objects/{}/{id}", &id[..2]);
    assert_problem(&copy, "tampered_artifact", &rel);
}

#[test]
fn an_extra_file_in_a_run_directory_is_named() {
    let (ws, first, _) = two_runs();
    let copy = copy_of(&ws);
    let rel = run_file(&first, "notes.txt");
    std::fs::write(copy.store().join(&rel), "planted\n").unwrap();
    assert_problem(&copy, "extra_file", &rel);
}

#[test]
fn a_deleted_run_directory_is_named_once() {
    let (ws, first, _) = two_runs();
    let copy = copy_of(&ws);
    let rel = format!("runs/{first}");
    std::fs::remove_dir_all(copy.store().join(&rel)).unwrap();
    let report = assert_problem(&copy, "missing_run", &rel);
    // The pieces only that run named are not reported one by one as extra
    // files: the missing run is the problem.
    let extra: Vec<&Value> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "extra_file")
        .collect();
    assert!(extra.is_empty(), "{report:#}");
    let detail = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "missing_run")
        .unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(detail.contains("auditgraph gc"), "{detail}");
    // The way out the message names works: gc drops the run, the trail
    // keeps its record, and the store validates clean again.
    copy.json(&["gc", "--keep", "0"]);
    let after = copy.json(&["validate-store"]);
    assert_eq!(after["status"], "pass", "{after:#}");
}

#[test]
fn replay_refuses_a_changed_configuration_snapshot() {
    let (ws, first, _) = two_runs();
    let copy = copy_of(&ws);
    let rel = run_file(&first, "config-snapshot.json");
    replace_once(
        &copy.store().join(&rel),
        "\"chunk_tokens\":200",
        "\"chunk_tokens\":300",
    );
    let before = copy.pkg_hashes();
    let human = copy.run(&["replay", &first]);
    assert_ne!(human.code, 0, "{}", human.stdout);
    assert!(human.stderr.contains(&rel), "{}", human.stderr);
    assert!(
        human.stderr.contains("no longer matches"),
        "{}",
        human.stderr
    );
    assert!(!human.stdout.contains("outputs hash"), "{}", human.stdout);
    let json = copy.run(&["--json", "replay", &first]);
    assert_eq!(json.code, human.code);
    let doc = json.json();
    assert_eq!(doc["status"], "error");
    assert_eq!(doc["code"], "store_damaged");
    assert!(doc["message"].as_str().unwrap().contains(&rel), "{doc}");
    assert_eq!(
        copy.pkg_hashes(),
        before,
        "a refused replay wrote something"
    );

    // The untouched snapshot replays (and the refusal was about the file).
    let clean = copy_of(&ws);
    let replayed = clean.run(&["--json", "replay", &first]);
    assert!(
        replayed.json()["detail"]["replayed_run"] == first.as_str(),
        "{}",
        replayed.stdout
    );
}

#[test]
fn write_commands_print_the_new_seal() {
    let ws = Ws::new();
    sample_notes(&ws);
    // Human: one `seal: <hex>` line, the seal `status` then reports.
    let first = ws.run(&["run"]).ok();
    let seal_lines: Vec<&str> = first
        .stdout
        .lines()
        .filter(|l| l.starts_with("seal: "))
        .collect();
    assert_eq!(seal_lines.len(), 1, "{}", first.stdout);
    let s1 = seal(&ws);
    assert_eq!(seal_lines[0], format!("seal: {s1}"));
    let status = ws.run(&["status"]).ok();
    assert!(
        status
            .stdout
            .lines()
            .any(|l| l.starts_with("seal:") && l.contains(&s1)),
        "{}",
        status.stdout
    );

    // JSON: a `seal` field; each publication moves it.
    ws.write("notes/beta.md", "# Beta\n\nedited\n");
    let ingest = ws.json(&["ingest"]);
    let s2 = seal(&ws);
    assert_ne!(s2, s1);
    assert_eq!(ingest["seal"], s2.as_str());
    let extract = ws.json(&["extract"]);
    let s3 = seal(&ws);
    assert_ne!(s3, s2);
    assert_eq!(extract["seal"], s3.as_str());
    ws.write("notes/sub/gamma.txt", "plain text gamma, changed\n");
    let gamma = ws.path("notes/sub/gamma.txt");
    let import = ws.json(&["import", gamma.to_str().unwrap()]);
    let s4 = seal(&ws);
    assert_ne!(s4, s3);
    assert_eq!(import["seal"], s4.as_str());
    ws.write("notes/alpha.md", "# Alpha\n\nrewritten\n");
    let rebuild = ws.run(&["rebuild"]).ok();
    let s5 = seal(&ws);
    assert_ne!(s5, s4);
    assert!(
        rebuild.stdout.lines().any(|l| l == format!("seal: {s5}")),
        "{}",
        rebuild.stdout
    );
    // Nothing new: the seal is unchanged, and still printed.
    let again = ws.json(&["run"]);
    assert_eq!(again["detail"]["outcome"], "up_to_date");
    assert_eq!(again["seal"], s5.as_str());
    assert_eq!(seal(&ws), s5);

    // gc appends a tombstone entry: a new seal.
    let gc = ws.run(&["gc", "--keep", "0"]).ok();
    let s6 = seal(&ws);
    assert_ne!(s6, s5);
    assert!(
        gc.stdout.lines().any(|l| l == format!("seal: {s6}")),
        "{}",
        gc.stdout
    );
    let nothing = ws.json(&["gc", "--keep", "0"]);
    assert_eq!(nothing["removed_runs"], serde_json::json!([]));
    assert_eq!(nothing["seal"], s6.as_str());
    assert_eq!(seal(&ws), s6);
    // Every seal printed along the way is in the chain.
    for s in [&s1, &s2, &s3, &s4, &s5, &s6] {
        let report = ws.json(&["validate-store", "--expect-seal", s]);
        assert_eq!(report["expected_seal_found"], true, "{report:#}");
    }
}

#[test]
fn a_store_rolled_back_to_an_older_copy_is_detected() {
    let (ws, _, _) = two_runs();
    let second_seal = seal(&ws);
    let aside = tempfile::tempdir().unwrap();
    copy_dir(&ws.path(".pkg"), &aside.path().join(".pkg"));

    ws.write("notes/alpha.md", "# Alpha\n\nA third version.\n");
    ws.json(&["run"]);
    let third_seal = seal(&ws);
    assert_ne!(third_seal, second_seal);
    assert_eq!(
        ws.json(&["validate-store", "--expect-seal", &third_seal])["status"],
        "pass"
    );

    // Put back the copy from before the third run.
    std::fs::remove_dir_all(ws.path(".pkg")).unwrap();
    copy_dir(&aside.path().join(".pkg"), &ws.path(".pkg"));
    // On its own, the older copy is a valid store...
    assert_eq!(ws.json(&["validate-store"])["status"], "pass");
    // ... but not the one the third seal proves.
    let run = ws
        .run(&["--json", "validate-store", "--expect-seal", &third_seal])
        .code(1);
    let report = run.json();
    assert_eq!(report["expected_seal_found"], false, "{report:#}");
    let problem = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "seal_not_found")
        .unwrap_or_else(|| panic!("{report:#}"));
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains(&third_seal), "{detail}");
    assert!(detail.contains("rolled back"), "{detail}");
    assert!(detail.contains("rewritten"), "{detail}");
    let human = ws
        .run(&["validate-store", "--expect-seal", &third_seal])
        .code(1);
    assert!(human.stdout.contains("NOT FOUND"), "{}", human.stdout);
    assert!(human.stdout.contains("rolled back"), "{}", human.stdout);
    // A seal is accepted in capitals too (as some tools print hashes).
    ws.run(&[
        "validate-store",
        "--expect-seal",
        &third_seal.to_ascii_uppercase(),
    ])
    .code(1);

    // The second run's seal is still in the chain.
    let ok = ws.json(&["validate-store", "--expect-seal", &second_seal]);
    assert_eq!(ok["status"], "pass", "{ok:#}");
    assert_eq!(ok["expected_seal_found"], true);
    let human = ws
        .run(&["validate-store", "--expect-seal", &second_seal])
        .ok();
    assert!(human.stdout.contains("found"), "{}", human.stdout);
}

#[test]
fn a_malformed_expected_seal_is_a_usage_error() {
    let (ws, _, _) = two_runs();
    let run = ws
        .run(&["validate-store", "--expect-seal", "c0ffee"])
        .code(2);
    assert!(run.stderr.contains("64 hexadecimal"), "{}", run.stderr);
    let run = ws
        .run(&[
            "validate-store",
            "--all-profiles",
            "--expect-seal",
            &seal(&ws),
        ])
        .code(2);
    assert!(run.stderr.contains("--all-profiles"), "{}", run.stderr);
}

/// Bytes and files under `objects/`, `runs/` and `log/`: what store.json's
/// counters must hold.
fn accounted(store: &Path) -> (u64, u64) {
    let mut bytes = 0;
    let mut files = 0;
    for dir in ["objects", "runs", "log"] {
        let mut stack = vec![store.join(dir)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                let meta = e.metadata().unwrap();
                if meta.is_dir() {
                    stack.push(e.path());
                } else {
                    bytes += meta.len();
                    files += 1;
                }
            }
        }
    }
    (bytes, files)
}

fn write_state(ws: &Ws, state: &Value) {
    let mut bytes = serde_json::to_vec_pretty(state).unwrap();
    bytes.push(b'\n');
    std::fs::write(ws.store().join("store.json"), bytes).unwrap();
}

#[test]
fn a_history_rewritten_by_dropping_the_last_run_is_detected_by_the_seal() {
    let (ws, first, second) = two_runs();
    let removed_seal = seal(&ws);
    let copy = copy_of(&ws);
    let store = copy.store();
    let first_seal = sha256(&std::fs::read(store.join("log/00000001.json")).unwrap());

    // Rewrite the history as if the second run never happened, consistently:
    // its trail entry, its directory and its own pieces go; store.json's
    // head, seal, runs and counters follow.
    std::fs::remove_file(store.join("log/00000002.json")).unwrap();
    std::fs::remove_dir_all(store.join(format!("runs/{second}"))).unwrap();
    let mut state = copy.state();
    state["runs"].as_object_mut().unwrap().remove(&second);
    state["current_run"] = Value::String(first.clone());
    state["head"] = Value::from(1);
    state["seal"] = Value::String(first_seal.clone());
    write_state(&copy, &state);
    let report = copy.run(&["--json", "validate-store"]).json();
    for p in report["problems"].as_array().unwrap() {
        if p["kind"] == "extra_file" {
            std::fs::remove_file(store.join(p["file"].as_str().unwrap())).unwrap();
        }
    }
    let (bytes, files) = accounted(&store);
    state["accounting"]["bytes"] = Value::from(bytes);
    state["accounting"]["files"] = Value::from(files);
    write_state(&copy, &state);

    // Nothing inside the store shows the rewrite...
    let clean = copy.json(&["validate-store"]);
    assert_eq!(clean["status"], "pass", "{clean:#}");
    assert_eq!(clean["seal"], first_seal.as_str());
    // ... but the seal kept after the second run does.
    let report = copy
        .run(&["--json", "validate-store", "--expect-seal", &removed_seal])
        .code(1)
        .json();
    assert_eq!(report["expected_seal_found"], false, "{report:#}");
    assert!(
        report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["kind"] == "seal_not_found"),
        "{report:#}"
    );
}

#[test]
fn a_history_rewritten_by_re_chaining_changed_entries_is_detected_by_the_seal() {
    let (ws, first, _) = two_runs();
    let kept_seal = seal(&ws);
    let copy = copy_of(&ws);
    let store = copy.store();

    // Change the first run's configuration snapshot, then forge the trail
    // to match: entry 1 records the new hash, entry 2 names the new entry
    // 1, store.json names the new entry 2.
    let rel = run_file(&first, "config-snapshot.json");
    replace_once(
        &store.join(&rel),
        "\"chunk_tokens\":200",
        "\"chunk_tokens\":300",
    );
    let snapshot = std::fs::read(store.join(&rel)).unwrap();
    let entry_bytes = |v: &Value| {
        let mut b = serde_json::to_vec(v).unwrap();
        b.push(b'\n');
        b
    };
    let read = |name: &str| -> Value {
        serde_json::from_slice(&std::fs::read(store.join("log").join(name)).unwrap()).unwrap()
    };
    let mut e1 = read("00000001.json");
    e1["files"][&rel]["sha256"] = Value::String(sha256(&snapshot));
    let e1_bytes = entry_bytes(&e1);
    std::fs::write(store.join("log/00000001.json"), &e1_bytes).unwrap();
    let mut e2 = read("00000002.json");
    e2["prev"] = Value::String(sha256(&e1_bytes));
    let e2_bytes = entry_bytes(&e2);
    std::fs::write(store.join("log/00000002.json"), &e2_bytes).unwrap();
    let forged_seal = sha256(&e2_bytes);
    let mut state = copy.state();
    state["seal"] = Value::String(forged_seal.clone());
    write_state(&copy, &state);

    // The forgery is internally consistent...
    let clean = copy.json(&["validate-store"]);
    assert_eq!(clean["status"], "pass", "{clean:#}");
    assert_eq!(clean["seal"], forged_seal.as_str());
    // ... and the kept seal exposes it.
    let report = copy
        .run(&["--json", "validate-store", "--expect-seal", &kept_seal])
        .code(1)
        .json();
    assert_eq!(report["expected_seal_found"], false, "{report:#}");
    // The untouched store still proves the kept seal.
    assert_eq!(
        ws.json(&["validate-store", "--expect-seal", &kept_seal])["status"],
        "pass"
    );
}

#[test]
fn gc_keeps_the_chain_verifiable() {
    let ws = Ws::new();
    sample_notes(&ws);
    let first = ws.json(&["run"]);
    let first_run = first["detail"]["run_id"].as_str().unwrap().to_string();
    let first_seal = first["seal"].as_str().unwrap().to_string();
    ws.write("notes/beta.md", "# Beta\n\nsecond version\n");
    ws.json(&["run"]);
    let second_seal = seal(&ws);

    let gc = ws.json(&["gc", "--keep", "0"]);
    assert_eq!(gc["removed_runs"], serde_json::json!([first_run.clone()]));
    assert!(!ws.store().join("runs").join(&first_run).exists());
    let gc_seal = gc["seal"].as_str().unwrap().to_string();
    assert_eq!(gc_seal, seal(&ws));
    assert_ne!(gc_seal, second_seal);

    // The store is clean, and the seal of the removed run still verifies:
    // its entry is the tombstone that keeps the chain linked.
    let clean = ws.json(&["validate-store"]);
    assert_eq!(clean["status"], "pass", "{clean:#}");
    assert_eq!(clean["runs"], 1);
    assert_eq!(clean["trail_entries"], 3);
    let report = ws.json(&["validate-store", "--expect-seal", &first_seal]);
    assert_eq!(report["status"], "pass", "{report:#}");
    assert_eq!(report["expected_seal_found"], true);
    assert_eq!(
        report["removed_since_expected_seal"],
        serde_json::json!([first_run])
    );
    let human = ws
        .run(&["validate-store", "--expect-seal", &first_seal])
        .ok();
    assert!(
        human.stdout.contains("removed 1 run(s)"),
        "{}",
        human.stdout
    );
    assert_eq!(
        ws.json(&["validate-store", "--expect-seal", &second_seal])["status"],
        "pass"
    );

    // Removing the tombstone breaks the chain.
    let copy = copy_of(&ws);
    std::fs::remove_file(copy.store().join("log/00000001.json")).unwrap();
    let report = copy
        .run(&["--json", "validate-store", "--expect-seal", &first_seal])
        .code(1)
        .json();
    assert_eq!(report["expected_seal_found"], false, "{report:#}");
    assert!(
        report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["file"] == "log/00000001.json"),
        "{report:#}"
    );
}

#[test]
fn a_current_run_pointer_moved_by_hand_is_named() {
    let (ws, first, second) = two_runs();
    let copy = copy_of(&ws);
    let mut state = copy.state();
    assert_eq!(state["current_run"], second.as_str());
    // Read commands would now serve the older run: a rollback that leaves
    // every file in place.
    state["current_run"] = Value::String(first.clone());
    write_state(&copy, &state);
    let report = assert_problem(&copy, "broken_trail", "store.json");
    let detail = report["problems"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains(&first) && detail.contains(&second),
        "{detail}"
    );
    assert!(detail.contains("log/00000002.json"), "{detail}");
}
