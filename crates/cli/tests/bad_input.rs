//! Hostile and unusual inputs: each gets the right status and reason, no
//! panic, and the rest of the run is unaffected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use serde_json::Value;
use std::os::unix::fs::symlink;

fn records(ws: &Ws) -> Vec<Value> {
    let run = ws.current_run();
    ws.manifest(&run, "ingest")["records"]
        .as_array()
        .unwrap()
        .clone()
}

fn record(ws: &Ws, path: &str) -> Value {
    records(ws)
        .into_iter()
        .find(|r| r["path"] == path)
        .unwrap_or_else(|| panic!("no record for {path:?}"))
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[test]
fn every_bad_input_gets_a_status_and_the_rest_survives() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.md"), "# outside the root\n").unwrap();

    let ws = Ws::new();
    ws.write("good.md", "# Good\n\nstill ingested\n");
    ws.write(
        "invalid-utf8.md",
        b"# Title\n\xff\xfe broken \xc3\x28\n".as_slice(),
    );
    ws.write(
        "binary.md",
        [0x7f, b'E', b'L', b'F', 0, 0, 1, 2, 3, 0, 0].as_slice(),
    );
    ws.write("empty.md", "");
    ws.write(
        "bad-frontmatter.md",
        "---\ntitle: [unclosed\ntags: {\n---\n# Body survives\n",
    );
    ws.write("with space.md", "# spaced\n");
    ws.write("new\nline.md", "# newline in name\n");
    ws.write("ñandú/日本語.md", "# 日本語\n");
    ws.write(
        "config/pkg.yaml",
        "profiles:\n  default:\n    ingestion:\n      max_file_size_bytes: 64\n",
    );
    ws.write("huge.md", "x".repeat(65));
    symlink(outside.path().join("secret.md"), ws.path("escape.md")).unwrap();
    symlink(ws.path("loop-b.md"), ws.path("loop-a.md")).unwrap();
    symlink(ws.path("loop-a.md"), ws.path("loop-b.md")).unwrap();
    symlink(ws.path("missing-target.md"), ws.path("dangling.md")).unwrap();
    symlink(ws.path("good.md"), ws.path("inside-link.md")).unwrap();
    symlink(ws.root(), ws.path("dir-loop")).unwrap();
    let fifo = ws.path("pipe.md");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.map(|s| s.success()).unwrap_or(false), "mkfifo failed");
    let unreadable = ws.path("unreadable.md");
    std::fs::write(&unreadable, "# locked\n").unwrap();
    std::fs::set_permissions(
        &unreadable,
        std::os::unix::fs::PermissionsExt::from_mode(0o000),
    )
    .unwrap();

    let run = ws.run(&["--json", "ingest"]).ok();
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(
        run.stderr.contains("refused 1 symbolic link"),
        "{}",
        run.stderr
    );

    let check = |path: &str, status: &str, reason: Option<&str>| {
        let r = record(&ws, path);
        assert_eq!(r["parse_status"], status, "{path}: {r}");
        match reason {
            Some(reason) => assert_eq!(r["reason"], reason, "{path}: {r}"),
            None => assert_eq!(r["reason"], Value::Null, "{path}: {r}"),
        }
        r
    };
    check("good.md", "ok", None);
    let bad = check("invalid-utf8.md", "failed", Some("invalid_utf8"));
    assert!(bad["detail"].as_str().unwrap().contains("byte 8"), "{bad}");
    check("binary.md", "skipped", Some("binary_content"));
    check("empty.md", "ok", Some("empty_file"));
    let fm = check("bad-frontmatter.md", "ok", Some("frontmatter_invalid"));
    assert!(fm["detail"].as_str().unwrap().contains("line"), "{fm}");
    check("with space.md", "ok", None);
    check("new\nline.md", "ok", None);
    check("ñandú/日本語.md", "ok", None);
    let huge = check("huge.md", "skipped", Some("too_large"));
    assert_eq!(huge["sha256"], Value::Null);
    let escape = check("escape.md", "skipped", Some("symlink_refused"));
    assert_eq!(
        escape["sha256"],
        Value::Null,
        "the outside file must not be read"
    );
    assert_eq!(escape["size"], 0);
    check("loop-a.md", "skipped", Some("symlink_loop"));
    check("dangling.md", "skipped", Some("symlink_dangling"));
    check("inside-link.md", "ok", None);
    check("dir-loop", "skipped", Some("symlink_directory"));
    check("pipe.md", "skipped", Some("not_regular_file"));
    if is_root() {
        // root reads mode-000 files; the FIFO above covers "cannot read".
        check("unreadable.md", "ok", None);
    } else {
        check("unreadable.md", "failed", Some("read_failed"));
    }

    // Nothing about the outside file reached the store.
    for (path, _) in ws.pkg_hashes() {
        let bytes = std::fs::read(ws.path(".pkg").join(&path)).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("outside the root"), "{path}");
        assert!(!text.contains(outside.path().to_str().unwrap()), "{path}");
    }
    ws.run(&["validate-store"]).ok();
}

#[test]
fn front_matter_fields_are_kept() {
    let ws = Ws::new();
    ws.write(
        "n.md",
        "---\ntitle: \"Quoted Title\"\naliases: [One, Two]\ntags:\n  - x\n  - y\nproject: apollo\nstatus: draft\ncustom:\n  nested: 1\n---\n# Body\n",
    );
    let doc = ws.json(&["ingest"]);
    let run = doc["detail"]["run_id"].as_str().unwrap();
    let m = ws.manifest(run, "ingest");
    let object = m["document_groups"][0]["object"].as_str().unwrap();
    let path = ws.store().join("objects").join(&object[..2]).join(object);
    let out = std::process::Command::new("zstd")
        .arg("-dc")
        .arg(path)
        .output()
        .unwrap();
    let payload = String::from_utf8(out.stdout).unwrap();
    let body = payload.split_once('\n').unwrap().1;
    let group: Value = serde_json::from_str(body).unwrap();
    let fm = &group["documents"][0]["frontmatter"];
    assert_eq!(
        fm["title"], "Quoted Title",
        "quotes are YAML syntax, not part of the value"
    );
    assert_eq!(fm["aliases"], serde_json::json!(["One", "Two"]));
    assert_eq!(fm["tags"], serde_json::json!(["x", "y"]));
    assert_eq!(fm["project"], "apollo");
    assert_eq!(fm["custom"]["nested"], 1);
}
