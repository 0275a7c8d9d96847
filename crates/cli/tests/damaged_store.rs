//! A damaged store is refused with a clear error naming the file (exit 1;
//! exit 3 for a piece in another format), never a panic, by every command
//! that reads the damaged piece; `validate-store` names it too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use auditgraph_core::store::id::ObjectId;
use auditgraph_core::store::layout::StoreLayout;
use auditgraph_core::store::table::ShardTable;
use common::*;

/// The files of the current run's pieces of `kind` (a piece kind name).
fn pieces(ws: &Ws, stage: &str, kind: &str) -> Vec<std::path::PathBuf> {
    let run = ws.current_run();
    let manifest = ws.manifest(&run, stage);
    let top = ObjectId::parse(manifest["pieces"][kind].as_str().unwrap()).unwrap();
    let layout = StoreLayout::new(ws.root(), "default");
    let table = ShardTable::load(&layout, top).unwrap();
    table
        .pieces()
        .map(|(_, id)| ws.store().join(id.rel_path()))
        .collect()
}

/// Replaces the body of each piece with what `damage` makes of it, keeping
/// the header and the file name (the content no longer matches its hash,
/// as after bit rot or tampering).
fn damage(files: &[std::path::PathBuf], damage: impl Fn(&[u8]) -> Vec<u8>) {
    for path in files {
        let payload = zstd::decode_all(std::fs::read(path).unwrap().as_slice()).unwrap();
        let split = payload.iter().position(|&b| b == b'\n').unwrap() + 1;
        let mut out = payload[..split].to_vec();
        out.extend(damage(&payload[split..]));
        std::fs::write(path, zstd::encode_all(out.as_slice(), 3).unwrap()).unwrap();
    }
}

/// Read commands, with the kinds of pieces each reads.
fn readers(ws: &Ws) -> Vec<(Vec<String>, &'static [&'static str])> {
    let note = ws.json(&["list", "--type", "ag:note", "--limit", "1"])["results"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let all: &'static [&'static str] = &[
        "extraction",
        "links",
        "resolutions",
        "records",
        "technologies",
    ];
    [
        (
            vec!["query", "--q", "postgres"],
            &["extraction", "search", "records"][..],
        ),
        (vec!["node", note.as_str()], all),
        (vec!["neighbors", note.as_str(), "--depth", "2"], all),
        (
            vec![
                "why-connected",
                "--from",
                note.as_str(),
                "--to",
                note.as_str(),
            ],
            all,
        ),
        (
            vec!["export", "--format", "dot", "-o", "out.dot"],
            &["extraction", "resolutions", "records"][..],
        ),
    ]
    .into_iter()
    .map(|(v, kinds)| (v.into_iter().map(String::from).collect(), kinds))
    .collect()
}

#[track_caller]
fn assert_refused(ws: &Ws, kind: &str, code: i32, expect: &str, validate: &str) {
    for (args, kinds) in readers_cache(ws) {
        if !kinds.contains(&kind) {
            continue;
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = ws.run(&args);
        assert_eq!(
            run.code, code,
            "{kind}: {args:?}: expected a clean refusal\nstdout:\n{}\nstderr:\n{}",
            run.stdout, run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(expect),
            "{kind}: {args:?}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("objects/"),
            "names the piece: {}",
            run.stderr
        );
    }
    let report = ws.run(&["--json", "validate-store"]).code(1).json();
    assert!(report.to_string().contains(validate), "{report}");
}

/// The reader commands, listed before any damage (listing needs the store).
fn readers_cache(ws: &Ws) -> Vec<(Vec<String>, &'static [&'static str])> {
    let path = ws.path("readers.json");
    serde_json::from_slice::<Vec<(Vec<String>, Vec<String>)>>(&std::fs::read(path).unwrap())
        .unwrap()
        .into_iter()
        .map(|(args, kinds)| {
            let kinds: Vec<&'static str> = kinds
                .into_iter()
                .map(|k| &*Box::leak(k.into_boxed_str()))
                .collect();
            (args, &*Box::leak(kinds.into_boxed_slice()))
        })
        .collect()
}

/// A workspace with a run, ready to be damaged.
fn workspace() -> Ws {
    let ws = Ws::new();
    sample_notes(&ws);
    ws.json(&["run"]);
    let listed: Vec<(Vec<String>, Vec<&str>)> = readers(&ws)
        .into_iter()
        .map(|(a, k)| (a, k.to_vec()))
        .collect();
    ws.write("readers.json", serde_json::to_vec(&listed).unwrap());
    // The listing and the export are files of the workspace now: a run
    // records them, so that `rebuild` later derives this same run.
    ws.json(&["run"]);
    ws
}

const KINDS: [(&str, &str); 5] = [
    ("extract", "extraction"),
    ("link", "links"),
    ("link", "technologies"),
    ("index", "search"),
    ("ingest", "records"),
];

#[test]
fn truncated_pieces_are_refused_naming_the_file() {
    for (stage, kind) in KINDS {
        let ws = workspace();
        damage(&pieces(&ws, stage, kind), |body| {
            body[..body.len() / 2].to_vec()
        });
        assert_refused(&ws, kind, 1, "the store is damaged", "tampered_artifact");
    }
}

#[test]
fn trailing_bytes_after_a_piece_are_refused() {
    for (stage, kind) in KINDS {
        let ws = workspace();
        damage(&pieces(&ws, stage, kind), |body| {
            let mut out = body.to_vec();
            out.extend_from_slice(b"appended");
            out
        });
        assert_refused(
            &ws,
            kind,
            1,
            "unexpected byte(s) after",
            "tampered_artifact",
        );
    }
}

#[test]
fn a_missing_piece_is_named() {
    let ws = workspace();
    for path in pieces(&ws, "extract", "extraction") {
        std::fs::remove_file(path).unwrap();
    }
    assert_refused(&ws, "extraction", 1, "is missing", "missing_artifact");
}

/// A piece in another format number (as another build of this schema
/// would write) is not read: readers exit 3 naming the piece and the way
/// out. Changed in place it is also damage: `rebuild` (which reads nothing
/// of the old run) derives the same run and reports the piece that no
/// longer matches, writing nothing.
#[test]
fn a_piece_in_another_format_asks_for_a_rebuild() {
    let ws = workspace();
    damage(&pieces(&ws, "extract", "extraction"), |body| {
        let mut out = body.to_vec();
        out[0] = 7;
        out
    });
    assert_refused(&ws, "extraction", 3, "in format 7", "tampered_artifact");
    let doc = ws.run(&["--json", "query", "--q", "alpha"]).code(3).json();
    assert_eq!(doc["code"], "rebuild_required", "{doc}");
    assert_eq!(doc["found_format"], 7, "{doc}");
    let before = ws.pkg_hashes();
    let rebuild = ws.run(&["--json", "rebuild"]).code(1);
    let doc = rebuild.json();
    assert_eq!(doc["code"], "rebuild_differs", "{doc}");
    assert!(rebuild.stderr.contains("objects/"), "{}", rebuild.stderr);
    let mut after = ws.pkg_hashes();
    after.retain(|p, _| !p.contains("/cache/"));
    let mut before = before;
    before.retain(|p, _| !p.contains("/cache/"));
    assert_eq!(after, before, "rebuild wrote over the damaged run");
}
