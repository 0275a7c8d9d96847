//! Documents that are not plain text (HTML, DOCX, `.doc`): statuses and
//! reasons, sections, references, citations in `node`, `query` and exports,
//! redaction, hostile files, determinism and incremental runs. Every
//! fixture is written by the test itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use serde_json::Value;

fn record<'a>(records: &'a [Value], path: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["path"] == path)
        .unwrap_or_else(|| panic!("no record for {path}: {records:?}"))
}

/// Runs every stage and returns the ingest records of the run.
fn run_records(ws: &Ws) -> Vec<Value> {
    ws.json(&["run"]);
    ws.records(&ws.current_run())
}

fn query(ws: &Ws, q: &str) -> Value {
    ws.json(&["query", "--q", q])
}

const PAGE: &str = r#"<!doctype html>
<html><head><title>Release Guide</title>
<meta name="author" content="Ada Lovelace"><meta name="date" content="2026-01-02">
<style>.zz { content: "stylishword" }</style>
<script>var scriptedword = 1;</script></head>
<body>
<h1>Release</h1>
<p>The quarterly zeppelin checklist lives here.</p>
<h2>Steps</h2>
<p>Read <a href="other.html">the other page</a>, <a href="alpha.md">alpha</a>
and <a href="https://example.org/guide">the guide</a>.</p>
<div hidden>hiddenword</div><p aria-hidden="true">ariahiddenword</p>
<template><p>templatedword</p></template>
</body></html>
"#;

fn html_workspace() -> Ws {
    let ws = Ws::new();
    ws.write("notes/page.html", PAGE);
    ws.write(
        "notes/other.htm",
        "<html><body><h1>Other</h1><p>marmalade words</p></body></html>",
    );
    ws.write(
        "notes/other.html",
        "<html><body><h1>Other page</h1><p>plain words</p></body></html>",
    );
    ws.write("notes/alpha.md", "# Alpha\n\nalpha text\n");
    ws
}

#[test]
fn an_html_page_gives_its_visible_text_sections_links_and_metadata() {
    let ws = html_workspace();
    let records = run_records(&ws);
    let page = record(&records, "notes/page.html");
    assert_eq!(page["parser_id"], "text/html");
    assert_eq!(page["parse_status"], "ok");
    assert_eq!(record(&records, "notes/other.htm")["parse_status"], "ok");

    // The note is named from <title>; metadata is on the note.
    let hit = query(&ws, "zeppelin");
    assert_eq!(hit["total_count"], 1, "{hit}");
    let top = &hit["results"][0];
    assert_eq!(top["name"], "Release Guide");
    assert_eq!(top["snippets"][0]["source_path"], "notes/page.html");
    assert!(top["snippets"][0].get("page_start").is_none());
    let note = ws.json(&["node", top["id"].as_str().unwrap()]);
    assert_eq!(note["name_source"], "title");
    assert_eq!(note["frontmatter"]["author"], "Ada Lovelace");
    assert_eq!(note["frontmatter"]["created"], "2026-01-02");
    let sections: Vec<(&str, u64)> = note["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["level"].as_u64().unwrap()))
        .collect();
    assert_eq!(sections, vec![("Release", 1), ("Steps", 2)]);

    // Nothing invisible reaches the index.
    for word in [
        "stylishword",
        "scriptedword",
        "hiddenword",
        "ariahiddenword",
        "templatedword",
    ] {
        assert_eq!(query(&ws, word)["total_count"], 0, "{word} was indexed");
    }

    // Links resolve like Markdown links.
    let refs = ws.json(&["list", "--type", "ag:reference"]);
    let mut got: Vec<(String, String, String)> = refs["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["source_path"] == "notes/page.html")
        .map(|r| {
            (
                r["target"].as_str().unwrap().to_string(),
                r["resolution"].as_str().unwrap().to_string(),
                r["target_path"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (
                "alpha.md".to_string(),
                "internal".to_string(),
                "notes/alpha.md".to_string()
            ),
            (
                "https://example.org/guide".to_string(),
                "external".to_string(),
                String::new()
            ),
            (
                "other.html".to_string(),
                "internal".to_string(),
                "notes/other.html".to_string()
            ),
        ]
    );
}

#[test]
fn a_doc_file_is_failed_with_its_reason_and_the_rest_of_the_run_goes_on() {
    let ws = html_workspace();
    ws.write("notes/old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 word 97");
    let run = ws.run(&["--json", "run"]).ok();
    assert!(run.stderr.contains("notes/old.doc"), "{}", run.stderr);
    assert!(run.stderr.contains(".docx"), "{}", run.stderr);
    let records = ws.records(&ws.current_run());
    let doc = record(&records, "notes/old.doc");
    assert_eq!(doc["parse_status"], "failed");
    assert_eq!(doc["reason"], "unsupported_doc_format");
    assert_eq!(doc["parser_id"], "application/msword");
    assert_eq!(query(&ws, "zeppelin")["total_count"], 1);
}

#[test]
fn hostile_html_never_breaks_the_run() {
    let ws = html_workspace();
    let deep = "<div>".repeat(2_000) + "abyssal text" + &"</div>".repeat(10);
    ws.write("notes/deep.html", deep);
    ws.write("notes/abyss.html", "<div><b>".repeat(150_000));
    ws.write("notes/latin1.html", b"<p>caf\xe9</p>");
    ws.write("notes/garbage.htm", b"<<<<a href=>>><p <h1 x=\"\0\">");
    let records = run_records(&ws);
    assert_eq!(record(&records, "notes/deep.html")["parse_status"], "ok");
    let abyss = record(&records, "notes/abyss.html");
    assert_eq!(abyss["parse_status"], "failed");
    assert_eq!(abyss["reason"], "too_deeply_nested");
    let latin1 = record(&records, "notes/latin1.html");
    assert_eq!(latin1["parse_status"], "failed");
    assert_eq!(latin1["reason"], "invalid_utf8");
    assert!(latin1["detail"].as_str().unwrap().contains("UTF-8"));
    assert_eq!(record(&records, "notes/garbage.htm")["parse_status"], "ok");
    assert_eq!(query(&ws, "abyssal")["total_count"], 1);
    assert_eq!(query(&ws, "zeppelin")["total_count"], 1);
}

#[test]
fn secrets_in_html_are_redacted_before_anything_is_written() {
    let ws = Ws::new();
    ws.write(
        "notes/creds.html",
        "<html><head><title>Ops</title><meta name=author content=\"password = Zq8xL2vN9rT4wK7m\"></head>\
         <body><h1>Database</h1><p>db_password: Zq8xL2vN9rT4wK7m</p>\
         <p><a href=\"https://admin:Hk3pW9zQ2mX7@db.example.org/\">console</a></p></body></html>",
    );
    ws.json(&["run"]);
    for (path, _) in ws.pkg_hashes() {
        let bytes = std::fs::read(ws.path(".pkg").join(&path)).unwrap();
        let bytes = zstd::decode_all(bytes.as_slice()).unwrap_or(bytes);
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("Zq8xL2vN9rT4wK7m"),
            "{path} holds the secret"
        );
        assert!(!text.contains("Hk3pW9zQ2mX7"), "{path} holds the secret");
    }
    let docs = ws.documents(&ws.current_run());
    assert!(docs[0]["text"].as_str().unwrap().contains("<<redacted:"));
    assert!(query(&ws, "console")["total_count"].as_u64().unwrap() >= 1);
}

#[test]
fn editing_one_page_parses_only_that_page() {
    let ws = html_workspace();
    let first = ws.json(&["ingest"]);
    assert_eq!(first["detail"]["parsed"], 4);
    let again = ws.json(&["ingest"]);
    assert_eq!(again["detail"]["parsed"], 0);
    ws.write("notes/page.html", PAGE.replace("zeppelin", "dirigible"));
    let edit = ws.json(&["ingest"]);
    assert_eq!(edit["detail"]["parsed"], 1, "{edit}");
    ws.json(&["run"]);
    assert_eq!(query(&ws, "dirigible")["total_count"], 1);
    assert_eq!(query(&ws, "zeppelin")["total_count"], 0);
}

/// Every file of the store but the redaction key and the wall-clock
/// fields: the same at one thread and at many.
fn store_bytes(threads: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    let ws = html_workspace();
    for i in 0..40 {
        ws.write(
            &format!("many/{i:02}.html"),
            format!(
                "<title>Page {i}</title><h1>Head {i}</h1><p>{}</p><a href=\"{:02}.html\">next</a>",
                "word ".repeat(i * 13 % 300 + 1),
                i + 1
            ),
        );
    }
    ws.write("notes/report.pdf", report_pdf());
    ws.run_env(&["--json", "run"], &[("RAYON_NUM_THREADS", threads)])
        .ok();
    let mut out = std::collections::BTreeMap::new();
    for (path, _) in ws.pkg_hashes() {
        if path.contains("/objects/") {
            out.insert(
                path.clone(),
                std::fs::read(ws.path(".pkg").join(&path)).unwrap(),
            );
        }
    }
    out
}

#[test]
fn documents_give_the_same_pieces_at_any_thread_count() {
    let one = store_bytes("1");
    let many = store_bytes("4");
    assert_eq!(
        one.keys().collect::<Vec<_>>(),
        many.keys().collect::<Vec<_>>()
    );
    assert!(one == many, "the pieces differ between thread counts");
}

fn docx_workspace() -> Ws {
    let ws = Ws::new();
    ws.write(
        "config/pkg.yaml",
        "profiles:\n  default:\n    include_paths: [notes]\n    ingestion:\n      chunk_tokens: 12\n      chunk_overlap_tokens: 2\n",
    );
    ws.write("notes/policy.docx", policy_docx());
    ws.write("notes/alpha.md", "# Alpha\n\nalpha text\n");
    ws
}

#[test]
fn a_docx_gives_paragraphs_cells_header_footer_headings_and_metadata() {
    let ws = docx_workspace();
    let records = run_records(&ws);
    let rec = record(&records, "notes/policy.docx");
    assert_eq!(rec["parse_status"], "ok", "{rec}");
    assert_eq!(
        rec["parser_id"],
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    );

    // A phrase from a table cell: the chunk cites the cell's paragraph,
    // with the document's SHA-256.
    let hit = query(&ws, "\"quokka cluster\"");
    assert_eq!(hit["total_count"], 1, "{hit}");
    let top = &hit["results"][0];
    assert_eq!(top["name"], "Access and Retention Policy");
    let snippet = &top["snippets"][0];
    assert_eq!(snippet["source_path"], "notes/policy.docx");
    use sha2::Digest;
    assert_eq!(
        snippet["source_hash"],
        hex::encode(sha2::Sha256::digest(policy_docx()))
    );
    let (start, end) = (
        snippet["paragraph_start"].as_u64().unwrap(),
        snippet["paragraph_end"].as_u64().unwrap(),
    );
    assert!(start <= 8 && 8 <= end, "{snippet}");
    assert!(snippet.get("page_start").is_none());

    // The chunk and the document show their citations too.
    let chunk = ws.json(&["node", snippet["chunk_id"].as_str().unwrap()]);
    assert_eq!(chunk["paragraph_start"], start);
    assert_eq!(chunk["paragraph_end"], end);
    let doc = ws.json(&["node", snippet["document_id"].as_str().unwrap()]);
    let chunks = doc["chunks"].as_array().unwrap();
    assert_eq!(chunks[0]["paragraph_start"], 1);
    assert_eq!(chunks.last().unwrap()["paragraph_end"], 11);

    // Header first, footer last, headings as sections, metadata on the note.
    assert_eq!(query(&ws, "wombat")["total_count"], 1);
    let note = ws.json(&["node", top["id"].as_str().unwrap()]);
    assert_eq!(note["frontmatter"]["author"], "Grace Hopper");
    assert_eq!(note["frontmatter"]["created"], "2025-05-01T09:00:00Z");
    let sections: Vec<(&str, u64)> = note["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["level"].as_u64().unwrap()))
        .collect();
    assert_eq!(sections, vec![("Access policy", 1), ("Retention", 2)]);
    let docs = ws.documents(&ws.current_run());
    let policy = docs
        .iter()
        .find(|d| d["path"] == "notes/policy.docx")
        .unwrap();
    let text = policy["text"].as_str().unwrap();
    assert!(
        text.starts_with("Internal use only\nAccess policy\n"),
        "{text}"
    );
    assert!(text.ends_with("Page footer wombat\n"), "{text}");
    let segments = policy["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 11);
    assert_eq!(segments[7]["kind"], "paragraph");
    assert_eq!(segments[7]["citation"]["start"], 8);

    // The JSON export carries the citations.
    let out = ws.json(&["export", "--format", "json"]);
    let bundle: Value =
        serde_json::from_slice(&std::fs::read(out["output"].as_str().unwrap()).unwrap()).unwrap();
    // (The bundle holds the chunks its links cite; a chunk names its
    // document by position.)
    let position = bundle["documents"]
        .as_array()
        .unwrap()
        .iter()
        .position(|d| d["document_id"] == snippet["document_id"])
        .unwrap();
    let exported: Vec<&Value> = bundle["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["document_ref"] == position)
        .collect();
    assert!(!exported.is_empty());
    assert!(
        exported
            .iter()
            .all(|c| c["paragraph_start"].as_u64().is_some()
                && c["paragraph_end"].as_u64().is_some())
    );
}

#[test]
fn hostile_docx_files_fail_with_a_reason_and_the_run_goes_on() {
    let ws = docx_workspace();
    // 65 MiB of XML that deflates to ~65 KB.
    let bomb = format!(
        "<w:document {W}><w:body>{}</w:body></w:document>",
        " ".repeat(65 * 1024 * 1024)
    );
    ws.write(
        "notes/bomb.docx",
        docx(&[("word/document.xml", bomb.as_str())]),
    );
    ws.write(
        "notes/broken.docx",
        docx(&[(
            "word/document.xml",
            &format!("<w:document {W}><w:body><w:p></w:r></w:body>"),
        )]),
    );
    let deep = format!("<w:document {W}>{}", "<w:sdt>".repeat(5_000));
    ws.write("notes/deep.docx", docx(&[("word/document.xml", &deep)]));
    ws.write("notes/notzip.docx", b"PK\x03\x04 but not really a zip");
    let mut truncated = policy_docx();
    truncated.truncate(truncated.len() / 2);
    ws.write("notes/truncated.docx", truncated);
    ws.run(&["--json", "run"]).ok();
    let records = ws.records(&ws.current_run());
    for (path, reason) in [
        ("notes/bomb.docx", "too_large"),
        ("notes/deep.docx", "too_large"),
        ("notes/broken.docx", "malformed_docx"),
        ("notes/notzip.docx", "malformed_docx"),
        ("notes/truncated.docx", "malformed_docx"),
    ] {
        let r = record(&records, path);
        assert_eq!(r["parse_status"], "failed", "{r}");
        assert_eq!(r["reason"], reason, "{r}");
        assert!(!r["detail"].as_str().unwrap().is_empty());
    }
    assert_eq!(record(&records, "notes/policy.docx")["parse_status"], "ok");
    assert_eq!(query(&ws, "quokka")["total_count"], 1);
}

#[test]
fn a_docx_gives_the_same_pieces_at_any_thread_count() {
    let build = |threads: &str| {
        let ws = docx_workspace();
        for i in 0..20 {
            ws.write(
                &format!("notes/many/{i:02}.docx"),
                docx(&[(
                    "word/document.xml",
                    &format!(
                        "<w:document {W}><w:body>{}{}</w:body></w:document>",
                        heading("Heading1", &format!("Part {i}")),
                        para(&"word ".repeat(i * 17 % 200 + 1))
                    ),
                )]),
            );
        }
        ws.run_env(&["--json", "run"], &[("RAYON_NUM_THREADS", threads)])
            .ok();
        ws.pkg_hashes()
            .into_iter()
            .filter(|(path, _)| path.contains("/objects/"))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    assert_eq!(build("1"), build("4"));
}

/// A PDF whose pages hold these lines (Helvetica, one `Td` a line; an
/// empty page has no text at all), written with `lopdf`.
fn pdf(pages: &[&[&str]], encrypt: bool) -> Vec<u8> {
    use lopdf::content::{Content, Operation};
    use lopdf::{Document, Object, Stream, dictionary};
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let resources = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font } });
    let mut kids: Vec<Object> = Vec::new();
    for lines in pages {
        let mut ops = vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 12.into()]),
            Operation::new("Td", vec![72.into(), 720.into()]),
        ];
        for line in lines.iter() {
            ops.push(Operation::new("Tj", vec![Object::string_literal(*line)]));
            ops.push(Operation::new("Td", vec![0.into(), (-20).into()]));
        }
        ops.push(Operation::new("ET", vec![]));
        let ops = if lines.is_empty() { Vec::new() } else { ops };
        let content = Content { operations: ops };
        let stream = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
        let page = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => stream,
        });
        kids.push(page.into());
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => count, "Resources" => resources,
            "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
        }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    if encrypt {
        let encrypt = doc.add_object(dictionary! {
            "Filter" => "Standard", "V" => 1, "R" => 2, "P" => -4,
            "O" => Object::string_literal(vec![7u8; 32]),
            "U" => Object::string_literal(vec![9u8; 32]),
        });
        doc.trailer.set("Encrypt", encrypt);
        doc.trailer.set(
            "ID",
            vec![
                Object::string_literal(vec![1u8; 16]),
                Object::string_literal(vec![1u8; 16]),
            ],
        );
    }
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

fn report_pdf() -> Vec<u8> {
    pdf(
        &[
            &["Quarterly report", "Revenue grew in every region."],
            &[
                "The migration needs careful configu-",
                "ration of the brokers.",
            ],
            &[],
            &["Page four mentions the albatross incident review."],
        ],
        false,
    )
}

#[test]
fn a_pdf_gives_its_pages_with_page_citations() {
    let ws = Ws::new();
    ws.write("notes/report.pdf", report_pdf());
    ws.write("notes/scan.pdf", pdf(&[&[], &[]], false));
    ws.write(
        "notes/locked.pdf",
        pdf(&[&["secret plans of the heron"]], true),
    );
    let mut truncated = report_pdf();
    truncated.truncate(truncated.len() / 3);
    ws.write("notes/truncated.pdf", truncated);
    ws.write("notes/garbage.pdf", b"%PDF-1.7\n\x00\xff garbage");
    ws.write("notes/alpha.md", "# Alpha\n\nalpha text\n");
    let records = run_records(&ws);
    assert_eq!(record(&records, "notes/report.pdf")["parse_status"], "ok");
    assert_eq!(
        record(&records, "notes/report.pdf")["parser_id"],
        "application/pdf"
    );
    let scan = record(&records, "notes/scan.pdf");
    assert_eq!(scan["parse_status"], "skipped", "{scan}");
    assert_eq!(scan["reason"], "ocr_required");
    assert!(scan["detail"].as_str().unwrap().contains("ocr_mode is off"));
    let locked = record(&records, "notes/locked.pdf");
    assert_eq!(locked["parse_status"], "failed", "{locked}");
    assert_eq!(locked["reason"], "encrypted_pdf");
    for path in ["notes/truncated.pdf", "notes/garbage.pdf"] {
        let r = record(&records, path);
        assert_eq!(r["parse_status"], "failed", "{r}");
        assert!(!r["detail"].as_str().unwrap().is_empty());
    }

    // A phrase from page 4 (page 3 is blank) cites page 4 and the file.
    let hit = query(&ws, "albatross");
    assert_eq!(hit["total_count"], 1, "{hit}");
    let snippet = &hit["results"][0]["snippets"][0];
    assert_eq!(snippet["source_path"], "notes/report.pdf");
    use sha2::Digest;
    assert_eq!(
        snippet["source_hash"],
        hex::encode(sha2::Sha256::digest(report_pdf()))
    );
    assert_eq!(snippet["page_end"], 4, "{snippet}");
    // A word hyphenated at a line end is found whole.
    assert_eq!(query(&ws, "configuration")["total_count"], 1);
    let docs = ws.documents(&ws.current_run());
    let report = docs
        .iter()
        .find(|d| d["path"] == "notes/report.pdf")
        .unwrap();
    let pages: Vec<u64> = report["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["citation"]["start"].as_u64().unwrap())
        .collect();
    assert_eq!(pages, vec![1, 2, 4]);
    assert_eq!(record(&records, "notes/alpha.md")["parse_status"], "ok");
    assert!(query(&ws, "alpha")["total_count"].as_u64().unwrap() >= 1);
}

#[test]
fn a_pdf_reader_that_hangs_panics_or_eats_memory_fails_only_that_file() {
    for (fault, reason) in [
        ("hang", "pdf_timeout"),
        ("panic", "pdf_reader_failed"),
        ("oom", "pdf_reader_failed"),
    ] {
        let ws = Ws::new();
        ws.write("notes/report.pdf", report_pdf());
        ws.write("notes/alpha.md", "# Alpha\n\nalpha text\n");
        let started = std::time::Instant::now();
        ws.run_env(
            &["--json", "run"],
            &[
                ("AUDITGRAPH_PDF_WORKER_FAULT", fault),
                ("AUDITGRAPH_PDF_SECONDS", "2"),
            ],
        )
        .ok();
        assert!(started.elapsed().as_secs() < 30, "{fault} held the run up");
        let records = ws.records(&ws.current_run());
        let r = record(&records, "notes/report.pdf");
        assert_eq!(r["parse_status"], "failed", "{fault}: {r}");
        assert_eq!(r["reason"], reason, "{fault}: {r}");
        assert_eq!(record(&records, "notes/alpha.md")["parse_status"], "ok");
    }
}
