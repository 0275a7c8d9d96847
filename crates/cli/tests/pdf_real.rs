//! PDFs as real tools write them, made at test time: a DejaVu Sans
//! document written by fpdf2 (ligature glyphs, a word hyphenated at a line
//! end, a running header and footer, title, author and creation date), and
//! a scanned page (text drawn into an image by Pillow, saved as a PDF)
//! read by the real OCR programs `pdftoppm` and `tesseract`.
//!
//! Python (with fpdf2 and Pillow), DejaVu Sans and the OCR programs come
//! as [`common::tools`] finds them: a missing one skips the test with a
//! note, or fails it under `CI=true` or `AUDITGRAPH_REQUIRE_TEST_TOOLS=1`;
//! `scripts/test` installs all of them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::tools::{self, missing, program, python_with};
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

const DEJAVU: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

fn font() -> Option<()> {
    if Path::new(DEJAVU).exists() {
        Some(())
    } else {
        missing(&format!("{DEJAVU} (Debian fonts-dejavu-core)"))
    }
}

fn python(python: &str, script: &str, args: &[&Path]) {
    tools::run_script(python, script, args);
}

/// Four pages of DejaVu Sans by fpdf2: a running header and a numbered
/// footer on every page, "eﬃcient" and "ﬂow" written with their ligature
/// glyphs, "configu-" / "ration" split over two lines.
const HANDBOOK: &str = r#"
import sys, datetime
from fpdf import FPDF

class Handbook(FPDF):
    def header(self):
        self.set_font("DejaVu", size=9)
        self.cell(0, 8, "Zanzibar Holdings internal circular", new_x="LMARGIN", new_y="NEXT")
    def footer(self):
        self.set_y(-15)
        self.set_font("DejaVu", size=9)
        self.cell(0, 8, f"Page {self.page_no()} of 4", align="C")

pdf = Handbook()
pdf.add_font("DejaVu", fname=sys.argv[2])
pdf.set_title("Broker Operations Handbook")
pdf.set_author("Grace Hopper")
pdf.set_creation_date(datetime.datetime(2025, 5, 1, 9, 30, 0, tzinfo=datetime.timezone.utc))
pages = [
    ["Operations overview", "An e\ufb03cient \ufb02ow of messages keeps the queues short."],
    ["The migration needs careful configu-", "ration of the brokers before the cutover."],
    ["Monitoring covers the pelican dashboards.", "Alerts go to the on-call engineer."],
    ["Retention keeps the archives for seven years.", "Questions go to the platform team."],
]
for lines in pages:
    pdf.add_page()
    pdf.set_font("DejaVu", size=12)
    for line in lines:
        pdf.cell(0, 10, line, new_x="LMARGIN", new_y="NEXT")
pdf.output(sys.argv[1])
"#;

fn handbook(python_exe: &str, dir: &Path) -> PathBuf {
    let out = dir.join("handbook.pdf");
    python(python_exe, HANDBOOK, &[&out, Path::new(DEJAVU)]);
    out
}

fn record<'a>(records: &'a [Value], path: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["path"] == path)
        .unwrap_or_else(|| panic!("no record for {path}: {records:?}"))
}

#[test]
fn ligatures_hyphenation_running_headers_and_metadata_of_a_real_pdf() {
    let (Some(py), Some(())) = (python_with(&["fpdf"]), font()) else {
        return;
    };
    let ws = Ws::new();
    let made = tempfile::tempdir().unwrap();
    let pdf = std::fs::read(handbook(&py, made.path())).unwrap();
    ws.write("notes/handbook.pdf", &pdf);
    // Small chunks, so each page's words are in chunks of their own.
    ws.write(
        "config/pkg.yaml",
        "profiles:\n  default:\n    include_paths: [notes]\n    ingestion:\n      chunk_tokens: 12\n      chunk_overlap_tokens: 2\n",
    );
    ws.json(&["run"]);
    let records = ws.records(&ws.current_run());
    let r = record(&records, "notes/handbook.pdf");
    assert_eq!(r["parse_status"], "ok", "{r}");

    // "eﬃcient" is found as "efficient", "ﬂow" as "flow".
    let hit = ws.json(&["query", "--q", "efficient"]);
    assert_eq!(hit["total_count"], 1, "{hit}");
    let top = &hit["results"][0];
    assert_eq!(top["name"], "Broker Operations Handbook", "{top}");
    assert_eq!(top["snippets"][0]["page_start"], 1, "{top}");
    assert_eq!(ws.json(&["query", "--q", "flow"])["total_count"], 1);
    // "configu-" + "ration" is found whole, on page 2.
    let hit = ws.json(&["query", "--q", "configuration"]);
    assert_eq!(hit["total_count"], 1, "{hit}");
    let snippet = &hit["results"][0]["snippets"][0];
    let (start, end) = (snippet["page_start"].as_u64(), snippet["page_end"].as_u64());
    assert!(start <= Some(2) && end >= Some(2), "{snippet}");
    // The running header and footer are in no chunk.
    assert_eq!(ws.json(&["query", "--q", "Zanzibar"])["total_count"], 0);
    assert_eq!(ws.json(&["query", "--q", "circular"])["total_count"], 0);
    let docs = ws.documents(&ws.current_run());
    let doc = docs
        .iter()
        .find(|d| d["path"] == "notes/handbook.pdf")
        .unwrap();
    let text = doc["text"].as_str().unwrap();
    assert!(!text.contains("Zanzibar"), "{text}");
    assert!(!text.contains("of 4"), "{text}");
    assert!(text.contains("pelican dashboards"), "{text}");
    assert!(
        text.contains("careful configuration of the brokers"),
        "{text}"
    );
    for chunk in doc["chunks"].as_array().unwrap() {
        let c = serde_json::to_string(chunk).unwrap();
        assert!(!c.contains("Zanzibar"), "{c}");
    }
    // Title, author and creation date from the Info dictionary.
    let note = ws.json(&["node", top["id"].as_str().unwrap()]);
    assert_eq!(note["name_source"], "title", "{note}");
    assert_eq!(note["frontmatter"]["title"], "Broker Operations Handbook");
    assert_eq!(note["frontmatter"]["author"], "Grace Hopper");
    assert_eq!(note["frontmatter"]["created"], "2025-05-01T09:30:00Z");
}

/// Text drawn into an image by Pillow: saved as an image-only PDF (no
/// text operators at all), and as page 2 of a PDF whose pages 1 and 3 are
/// text, by fpdf2.
const SCAN: &str = r#"
import sys
from PIL import Image, ImageDraw, ImageFont
img = Image.new("L", (1700, 2200), 255)
draw = ImageDraw.Draw(img)
font = ImageFont.truetype(sys.argv[3], 64)
draw.text((150, 300), "The narwhal inventory", fill=0, font=font)
draw.text((150, 420), "was counted in March.", fill=0, font=font)
img.save(sys.argv[1], resolution=200.0)

from fpdf import FPDF
pdf = FPDF(format="letter")
pdf.add_font("DejaVu", fname=sys.argv[3])
pdf.set_font("DejaVu", size=12)
pdf.add_page()
pdf.cell(0, 10, "The walrus ledger comes first.")
pdf.add_page()
pdf.image(img, x=0, y=0, w=pdf.w, h=pdf.h)
pdf.add_page()
pdf.cell(0, 10, "The puffin appendix comes last.")
pdf.output(sys.argv[2])
"#;

/// The image-only PDF and the mixed one.
fn scan_pdfs(py: &str) -> (Vec<u8>, Vec<u8>) {
    let made = tempfile::tempdir().unwrap();
    let (scan, mixed) = (made.path().join("scan.pdf"), made.path().join("mixed.pdf"));
    python(py, SCAN, &[&scan, &mixed, Path::new(DEJAVU)]);
    (
        std::fs::read(&scan).unwrap(),
        std::fs::read(&mixed).unwrap(),
    )
}

fn ocr_workspace(scan: &[u8], mode: &str) -> Ws {
    let ws = Ws::new();
    ws.write("notes/scan.pdf", scan);
    ws.write("notes/alpha.md", "# Alpha\n\nalpha text\n");
    ws.write(
        "config/pkg.yaml",
        format!("profiles:\n  default:\n    include_paths: [notes]\n    ingestion:\n      ocr_mode: {mode}\n"),
    );
    ws
}

#[test]
fn a_scanned_page_is_found_by_a_word_on_it_with_ocr_on() {
    let (Some(py), Some(()), Some(()), Some(())) = (
        python_with(&["PIL", "fpdf"]),
        font(),
        program("tesseract", "--version", "tesseract-ocr"),
        program("pdftoppm", "-v", "poppler-utils"),
    ) else {
        return;
    };
    let (scan, mixed) = scan_pdfs(&py);
    let ws = ocr_workspace(&scan, "on");
    ws.write("notes/mixed.pdf", &mixed);
    let run = ws.run(&["--json", "run"]).ok();
    assert!(!run.stderr.contains("OCR cannot run"), "{}", run.stderr);
    let records = ws.records(&ws.current_run());
    let r = record(&records, "notes/scan.pdf");
    assert_eq!(r["parse_status"], "ok", "{r}");
    assert_eq!(record(&records, "notes/mixed.pdf")["parse_status"], "ok");
    let hit = ws.json(&["query", "--q", "narwhal"]);
    assert_eq!(hit["total_count"], 2, "{hit}");
    let mut found: Vec<(String, u64, u64)> = hit["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let s = &r["snippets"][0];
            (
                s["source_path"].as_str().unwrap().to_string(),
                s["page_start"].as_u64().unwrap(),
                s["page_end"].as_u64().unwrap(),
            )
        })
        .collect();
    found.sort();
    // The scan's only page; the mixed PDF's chunk covers its page 2.
    assert_eq!(found[1], ("notes/scan.pdf".to_string(), 1, 1));
    assert_eq!(found[0].0, "notes/mixed.pdf");
    assert!(found[0].1 <= 2 && found[0].2 >= 2, "{found:?}");
    let docs = ws.documents(&ws.current_run());
    let mixed_doc = docs
        .iter()
        .find(|d| d["path"] == "notes/mixed.pdf")
        .unwrap();
    let pages: Vec<u64> = mixed_doc["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["citation"]["start"].as_u64().unwrap())
        .collect();
    assert_eq!(pages, vec![1, 2, 3]);
    let page_two = &mixed_doc["segments"][1];
    let text = mixed_doc["text"].as_str().unwrap();
    let (start, end) = (
        page_two["start"].as_u64().unwrap() as usize,
        page_two["end"].as_u64().unwrap() as usize,
    );
    assert!(text[start..end].contains("narwhal"), "{text}");
    assert_eq!(ws.json(&["query", "--q", "walrus"])["total_count"], 1);

    // The same scan read again gives the same bytes.
    let again = ocr_workspace(&scan, "on");
    again.write("notes/mixed.pdf", &mixed);
    again
        .run_env(&["--json", "run"], &[("RAYON_NUM_THREADS", "1")])
        .ok();
    let pieces = |ws: &Ws| -> Vec<(String, String)> {
        ws.pkg_hashes()
            .into_iter()
            .filter(|(p, _)| p.contains("/objects/"))
            .collect()
    };
    assert_eq!(pieces(&ws), pieces(&again));
}

#[test]
fn without_an_ocr_engine_a_scan_fails_naming_the_packages_and_is_read_once_installed() {
    let (Some(py), Some(())) = (python_with(&["PIL", "fpdf"]), font()) else {
        return;
    };
    let (scan, mixed) = scan_pdfs(&py);
    let ws = ocr_workspace(&scan, "auto");
    ws.write("notes/mixed.pdf", &mixed);
    // No program on the PATH: no pdftoppm, no tesseract.
    let empty = tempfile::tempdir().unwrap();
    let path = empty.path().to_str().unwrap();
    let run = ws.run_env(&["--json", "run"], &[("PATH", path)]).ok();
    assert!(
        run.stderr.contains("ocr_mode is auto but OCR cannot run"),
        "{}",
        run.stderr
    );
    let records = ws.records(&ws.current_run());
    let r = record(&records, "notes/scan.pdf");
    assert_eq!(r["parse_status"], "failed", "{r}");
    assert_eq!(r["reason"], "ocr_engine_unavailable", "{r}");
    let detail = r["detail"].as_str().unwrap();
    for package in ["poppler-utils", "tesseract-ocr", "tesseract-ocr-eng"] {
        assert!(detail.contains(package), "{detail}");
    }
    assert_eq!(record(&records, "notes/alpha.md")["parse_status"], "ok");
    // A PDF with text pages is read for them; its scanned page is not.
    assert_eq!(record(&records, "notes/mixed.pdf")["parse_status"], "ok");
    assert_eq!(ws.json(&["query", "--q", "walrus"])["total_count"], 1);
    assert_eq!(ws.json(&["query", "--q", "narwhal"])["total_count"], 0);

    // With the programs there (another engine identity), the same file is
    // parsed again and read.
    if program("tesseract", "--version", "tesseract-ocr").is_none()
        || program("pdftoppm", "-v", "poppler-utils").is_none()
    {
        return;
    }
    let second = ws.json(&["ingest"]);
    assert!(
        second["detail"]["parsed"].as_u64().unwrap() >= 1,
        "{second}"
    );
    ws.json(&["run"]);
    let records = ws.records(&ws.current_run());
    assert_eq!(record(&records, "notes/scan.pdf")["parse_status"], "ok");
    assert_eq!(ws.json(&["query", "--q", "narwhal"])["total_count"], 2);
}
