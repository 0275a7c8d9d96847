//! PDF files: the text of each page, with its 1-based page number, and the
//! document's metadata.
//!
//! The text comes from `pdf-extract` (pure Rust, over `lopdf`). A hostile
//! PDF can make a parser panic, loop or allocate without end, and a thread
//! cannot be stopped, so when the program has said which executable to run
//! ([`use_worker`]; the `auditgraph` binary does at start) every PDF is read
//! by a worker process of that executable ([`WORKER_ARG`]): the PDF on its
//! standard input, the pages as JSON on its last line of output. The worker
//! caps its own address space ([`WORKER_MEMORY_BYTES`]) and is killed after
//! [`WORKER_SECONDS`]; a crash, a timeout or exhausted memory make the file
//! `failed` with a reason. Without a worker (the library used on its own,
//! unit tests) the PDF is read in this process, under a panic guard only.
//!
//! Each page is read under its own panic guard, so one bad page costs only
//! itself. Pages with no extractable text (scans) are, by `ocr_mode`:
//!
//! * `off` (the default): left out; a PDF with no text on any page is
//!   `skipped`/`ocr_required`;
//! * `auto` or `on`: read by OCR ([`super::ocr`]) when its programs are
//!   installed, in a second worker process (which the programs run under,
//!   so its memory cap holds for them too), allowed [`ocr::PAGE_SECONDS`]
//!   twice per page. Without them a PDF with no text on any page is
//!   `failed`/`ocr_engine_unavailable` naming the packages to install (the
//!   ingest warns once per run that such pages are left out). An OCR
//!   program that fails on a page makes the file `failed`/`ocr_failed`.
//!
//! Then the pages' text is cleaned for search ([`super::page_text`]:
//! ligatures, running headers and footers, hyphenation) and every page
//! with text is a block (and a segment) with its page number. The title,
//! author and creation date of the document's Info dictionary are its
//! metadata ([`super::pdf_info`]).
//!
//! An encrypted PDF that does not open with the empty password is
//! `failed`/`encrypted_pdf`.

use super::bounded::Bounded;
use super::{Block, BlockKind, Extracted, ocr, page_text, pdf_info};
use crate::ingest::document::{CitationUnit, Parsed};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// The first argument that makes a program a PDF worker (see
/// [`worker_main`]).
pub const WORKER_ARG: &str = "__pdf-worker";
/// The second argument that makes a worker read pages by OCR (the page
/// numbers follow, comma-separated).
const OCR_ARG: &str = "ocr";
/// Longest a worker may take on one PDF.
pub const WORKER_SECONDS: u64 = 60;
/// The address space a worker may use.
pub const WORKER_MEMORY_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// The most a worker may write (the text of every page, as JSON).
const WORKER_OUTPUT_BYTES: usize = 512 << 20;

static WORKER: OnceLock<PathBuf> = OnceLock::new();

/// Makes every PDF of this process be read by `exe WORKER_ARG` (see the
/// module documentation). The first call wins.
pub fn use_worker(exe: PathBuf) {
    let _ = WORKER.set(exe);
}

/// What reading a PDF gave: its pages' text and metadata, or why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Pages {
        pages: Vec<String>,
        metadata: BTreeMap<String, String>,
    },
    Encrypted,
    Malformed(String),
}

/// What OCR of some pages gave: their text by page number, or why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OcrOutcome {
    Pages(Vec<(u32, String)>),
    Failed(String),
}

/// Reads a PDF (see the module documentation).
pub fn extract(bytes: &[u8], ocr_mode: &str) -> Result<Extracted, Parsed> {
    let outcome = match WORKER.get() {
        Some(exe) => in_worker(exe, &[], bytes, worker_seconds())?,
        None => read_pages(bytes),
    };
    let (mut pages, metadata) = match outcome {
        Outcome::Pages { pages, metadata } => (pages, metadata),
        Outcome::Encrypted => {
            return Err(Parsed::Failed {
                reason: "encrypted_pdf",
                detail: "the PDF is encrypted and needs a password; save a copy without a password and run again".to_string(),
            });
        }
        Outcome::Malformed(why) => {
            return Err(Parsed::Failed {
                reason: "malformed_pdf",
                detail: format!(
                    "not a readable PDF: {why}; open and save (or print to PDF) it again"
                ),
            });
        }
    };
    let textless: Vec<u32> = pages
        .iter()
        .enumerate()
        .filter(|(_, text)| text.trim().is_empty())
        .map(|(i, _)| i as u32 + 1)
        .collect();
    let no_text = textless.len() == pages.len();
    if !textless.is_empty() && ocr_mode != "off" {
        match ocr::engine() {
            Ok(_) => {
                for (page, text) in ocr_pages(bytes, &textless)? {
                    if let Some(slot) = page.checked_sub(1).and_then(|i| pages.get_mut(i as usize))
                    {
                        *slot = text;
                    }
                }
            }
            Err(why) if no_text => {
                return Err(Parsed::Failed {
                    reason: "ocr_engine_unavailable",
                    detail: format!(
                        "none of its {} page(s) has extractable text (a scan?) and ocr_mode is {ocr_mode}, but {}",
                        pages.len(),
                        ocr::unavailable_detail(why)
                    ),
                });
            }
            // The ingest warns that pages without text are left out.
            Err(_) => {}
        }
    }
    let blocks: Vec<Block> = page_text::clean_pages(&pages)
        .into_iter()
        .enumerate()
        .map(|(i, text)| Block {
            kind: BlockKind::Text,
            text,
            unit: Some(i as u32 + 1),
            links: Vec::new(),
        })
        .filter(|b| !b.text.trim().is_empty())
        .collect();
    if blocks.is_empty() {
        return Err(if no_text && ocr_mode == "off" {
            Parsed::Skipped {
                reason: "ocr_required",
                detail: format!(
                    "none of its {} page(s) has extractable text (a scan?) and ocr_mode is off; set ingestion.ocr_mode to auto in config/pkg.yaml (OCR needs the Debian packages {}) and run again",
                    pages.len(),
                    ocr::PACKAGES
                ),
            }
        } else {
            Parsed::Skipped {
                reason: "no_text",
                detail: format!(
                    "none of its {} page(s) has text, not even by OCR; nothing to ingest",
                    pages.len()
                ),
            }
        });
    }
    Ok(Extracted {
        blocks,
        unit: Some(CitationUnit::Page),
        metadata,
    })
}

/// The text of these pages by OCR, in a worker process when there is one.
fn ocr_pages(bytes: &[u8], pages: &[u32]) -> Result<Vec<(u32, String)>, Parsed> {
    let outcome = match WORKER.get() {
        Some(exe) => {
            let list = pages
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let seconds = 2 * ocr::PAGE_SECONDS * pages.len() as u64 + worker_seconds();
            in_worker(exe, &[OCR_ARG, &list], bytes, seconds)?
        }
        None => ocr_in_process(bytes, pages),
    };
    match outcome {
        OcrOutcome::Pages(pages) => Ok(pages),
        OcrOutcome::Failed(why) => Err(Parsed::Failed {
            reason: "ocr_failed",
            detail: format!(
                "OCR of a page without text failed: {why}; check that the file opens, or set ingestion.ocr_mode to off to ingest only its text pages"
            ),
        }),
    }
}

/// Reads these pages by OCR in this process, one after the other.
fn ocr_in_process(bytes: &[u8], pages: &[u32]) -> OcrOutcome {
    let mut out = Vec::with_capacity(pages.len());
    for &page in pages {
        match ocr::page_text(bytes, page) {
            Ok(text) => out.push((page, text)),
            Err(why) => return OcrOutcome::Failed(why),
        }
    }
    OcrOutcome::Pages(out)
}

/// Reads the pages in this process, each page under a panic guard.
pub fn read_pages(bytes: &[u8]) -> Outcome {
    let loaded = std::panic::catch_unwind(|| pdf_extract::Document::load_mem(bytes));
    let mut doc = match loaded {
        Ok(Ok(doc)) => doc,
        Ok(Err(e)) => return Outcome::Malformed(e.to_string()),
        Err(_) => return Outcome::Malformed("the PDF reader failed on it".to_string()),
    };
    if doc.is_encrypted() && doc.decrypt("").is_err() {
        return Outcome::Encrypted;
    }
    let numbers: Vec<u32> = doc.get_pages().keys().copied().collect();
    if numbers.is_empty() {
        return Outcome::Malformed("it has no pages".to_string());
    }
    let pages = numbers
        .iter()
        .map(|&n| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut text = String::new();
                let mut output = pdf_extract::PlainTextOutput::new(&mut text);
                pdf_extract::output_doc_page(&doc, &mut output, n).ok();
                text
            }))
            .unwrap_or_default()
        })
        .collect();
    let metadata =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pdf_info::metadata(&doc)))
            .unwrap_or_default();
    Outcome::Pages { pages, metadata }
}

/// Runs a worker on a PDF: `exe WORKER_ARG args...`, the PDF on its
/// standard input, its answer the JSON of its last line.
fn in_worker<T: serde::de::DeserializeOwned>(
    exe: &Path,
    args: &[&str],
    bytes: &[u8],
    seconds: u64,
) -> Result<T, Parsed> {
    let crashed = |what: String| Parsed::Failed {
        reason: "pdf_reader_failed",
        detail: format!(
            "{what}; the file is probably damaged or hostile: open and save (or print to PDF) it again"
        ),
    };
    let mut argv: Vec<&OsStr> = vec![OsStr::new(WORKER_ARG)];
    argv.extend(args.iter().map(OsStr::new));
    let finished = Bounded {
        program: exe.as_os_str(),
        args: &argv,
        env: &[],
        stdin: bytes,
        timeout: Duration::from_secs(seconds),
        max_stdout: WORKER_OUTPUT_BYTES,
    }
    .run();
    let finished = match finished {
        Ok(finished) => finished,
        Err(super::bounded::RunError::Timeout(_)) => {
            return Err(Parsed::Failed {
                reason: "pdf_timeout",
                detail: format!(
                    "reading it took more than {seconds} s and was stopped; the file is probably damaged or hostile"
                ),
            });
        }
        Err(e) => {
            return Err(crashed(format!("the PDF worker {} {e}", exe.display())));
        }
    };
    let last = finished
        .stdout
        .split(|&b| b == b'\n')
        .rfind(|l| !l.is_empty())
        .unwrap_or_default();
    match serde_json::from_slice::<T>(last) {
        Ok(outcome) => Ok(outcome),
        Err(_) if !finished.status.success() => Err(crashed(format!(
            "the PDF reader stopped ({}; past its {} MiB of memory, or crashed)",
            finished.status,
            WORKER_MEMORY_BYTES / (1024 * 1024)
        ))),
        Err(e) => Err(crashed(format!("the PDF worker answered nonsense: {e}"))),
    }
}

/// [`WORKER_SECONDS`]; debug builds (the ones the tests drive) honour
/// `AUDITGRAPH_PDF_SECONDS` so a test need not wait a minute.
fn worker_seconds() -> u64 {
    #[cfg(debug_assertions)]
    if let Some(seconds) = std::env::var("AUDITGRAPH_PDF_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return seconds;
    }
    WORKER_SECONDS
}

/// Debug builds only: `AUDITGRAPH_PDF_WORKER_FAULT` = `hang`, `panic` or
/// `oom` makes the worker misbehave as a hostile PDF could, so tests can
/// check the run survives it.
#[cfg(debug_assertions)]
fn simulate_fault() {
    match std::env::var("AUDITGRAPH_PDF_WORKER_FAULT").as_deref() {
        Ok("hang") => loop {
            std::thread::sleep(Duration::from_secs(1));
        },
        Ok("panic") => panic!("simulated PDF reader panic"),
        Ok("oom") => {
            // Reserving address space hits the worker's cap at once, without
            // touching (and waiting for) gigabytes of memory.
            let mut hog: Vec<Vec<u8>> = Vec::new();
            loop {
                let block: Vec<u8> = Vec::with_capacity(64 * 1024 * 1024);
                hog.push(std::hint::black_box(block));
            }
        }
        _ => {}
    }
}

/// The worker's whole life: caps its memory, reads a PDF from standard
/// input, writes its [`Outcome`] (or, given `ocr PAGES`, its
/// [`OcrOutcome`]) as one JSON line. Returns the exit code.
pub fn worker_main() -> i32 {
    let _ = rlimit::setrlimit(
        rlimit::Resource::AS,
        WORKER_MEMORY_BYTES,
        WORKER_MEMORY_BYTES,
    );
    // A panic is answered (per page, or as a malformed file), not printed.
    std::panic::set_hook(Box::new(|_| {}));
    let mut bytes = Vec::new();
    if std::io::stdin().read_to_end(&mut bytes).is_err() {
        return 2;
    }
    let args: Vec<String> = std::env::args().skip(2).collect();
    let line = match args.first().map(String::as_str) {
        Some(OCR_ARG) => {
            let pages: Option<Vec<u32>> = args
                .get(1)
                .map(|list| list.split(',').map(|n| n.parse().ok()).collect())
                .unwrap_or(None);
            let outcome = match pages {
                Some(pages) => ocr_in_process(&bytes, &pages),
                None => OcrOutcome::Failed("the OCR worker got no page list".to_string()),
            };
            serde_json::to_string(&outcome)
        }
        _ => {
            #[cfg(debug_assertions)]
            simulate_fault();
            serde_json::to_string(&read_pages(&bytes))
        }
    };
    let Ok(line) = line else {
        return 2;
    };
    let mut out = std::io::stdout().lock();
    if writeln!(out, "\n{line}")
        .and_then(|()| out.flush())
        .is_err()
    {
        return 2;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for bytes in [
            &b""[..],
            b"%PDF-1.4\n",
            b"%PDF-1.7\n1 0 obj << /Type /Catalog",
            b"\0\xff",
        ] {
            assert!(
                matches!(read_pages(bytes), Outcome::Malformed(_)),
                "{bytes:?}"
            );
        }
    }
}
