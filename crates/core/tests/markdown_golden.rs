//! Golden tests: `outline` on every `fixtures/markdown/*.md` must equal the
//! checked-in `*.json` next to it. Run with `UPDATE_GOLDEN=1` to rewrite the
//! expected files (then review the diff before committing).
//!
//! A fixture that starts with a `---` line has YAML front matter; the body
//! starts after the closing `---` line, as the ingest stage would report.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::fs;
use std::path::{Path, PathBuf};

use auditgraph_core::extract::markdown::{Outline, outline};
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Golden {
    body_start: usize,
    outline: Outline,
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/markdown")
}

/// Byte offset after the closing front matter delimiter, or 0.
fn body_start(text: &str) -> usize {
    let Some(rest) = text.strip_prefix("---\n") else {
        return 0;
    };
    let mut offset = 4;
    for line in rest.split_inclusive('\n') {
        offset += line.len();
        if line.trim_end() == "---" || line.trim_end() == "..." {
            return offset;
        }
    }
    0
}

#[test]
fn golden_outlines() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut fixtures: Vec<PathBuf> = fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    fixtures.sort();
    assert!(!fixtures.is_empty(), "no fixtures found");

    let mut failures = Vec::new();
    for md in &fixtures {
        let text = fs::read_to_string(md).unwrap();
        let start = body_start(&text);
        let actual = Golden {
            body_start: start,
            outline: outline(&text, start),
        };
        let expected_path = md.with_extension("json");
        if update {
            let mut json = serde_json::to_string_pretty(&actual).unwrap();
            json.push('\n');
            fs::write(&expected_path, json).unwrap();
            continue;
        }
        let expected: Golden = match fs::read_to_string(&expected_path) {
            Ok(json) => serde_json::from_str(&json).unwrap(),
            Err(e) => {
                failures.push(format!(
                    "{}: {e} (run with UPDATE_GOLDEN=1)",
                    expected_path.display()
                ));
                continue;
            }
        };
        if expected != actual {
            failures.push(format!(
                "{} differs from {}:\n{}",
                md.display(),
                expected_path.display(),
                serde_json::to_string_pretty(&actual).unwrap()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn outline_is_deterministic() {
    for entry in fs::read_dir(fixtures_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            let text = fs::read_to_string(&path).unwrap();
            let start = body_start(&text);
            assert_eq!(outline(&text, start), outline(&text, start));
        }
    }
}
