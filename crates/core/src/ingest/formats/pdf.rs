//! PDF files: the text of each page, with its 1-based page number.
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
//! itself. Then:
//!
//! * ligatures become their letters (`ﬃ` -> `ffi`), so a query for
//!   "efficient" finds "eﬃcient";
//! * a word split by a hyphen at a line end (`configu-` / `ration`) is
//!   joined when the next line goes on in lowercase;
//! * every page with text is a block (and a segment) with its page number.
//!
//! An encrypted PDF that does not open with the empty password is
//! `failed`/`encrypted_pdf`; one with no extractable text on any page
//! `skipped`/`ocr_required` (OCR is not built in: see the detail).
//! Running headers and footers are kept as text.

use super::{Block, BlockKind, Extracted};
use crate::ingest::document::{CitationUnit, Parsed};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The first argument that makes a program a PDF worker (see
/// [`worker_main`]).
pub const WORKER_ARG: &str = "__pdf-worker";
/// Longest a worker may take on one PDF.
pub const WORKER_SECONDS: u64 = 60;
/// The address space a worker may use.
pub const WORKER_MEMORY_BYTES: u64 = 2 * 1024 * 1024 * 1024;

static WORKER: OnceLock<PathBuf> = OnceLock::new();

/// Makes every PDF of this process be read by `exe WORKER_ARG` (see the
/// module documentation). The first call wins.
pub fn use_worker(exe: PathBuf) {
    let _ = WORKER.set(exe);
}

/// What reading a PDF gave: its pages' text, or why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Pages(Vec<String>),
    Encrypted,
    Malformed(String),
}

/// Reads a PDF (see the module documentation).
pub fn extract(bytes: &[u8], ocr_mode: &str) -> Result<Extracted, Parsed> {
    let outcome = match WORKER.get() {
        Some(exe) => in_worker(exe, bytes)?,
        None => read_pages(bytes),
    };
    let pages = match outcome {
        Outcome::Pages(pages) => pages,
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
    let blocks: Vec<Block> = pages
        .iter()
        .enumerate()
        .map(|(i, text)| Block {
            kind: BlockKind::Text,
            text: normalize_page(text),
            unit: Some(i as u32 + 1),
            links: Vec::new(),
        })
        .filter(|b| !b.text.trim().is_empty())
        .collect();
    if blocks.is_empty() {
        return Err(Parsed::Skipped {
            reason: "ocr_required",
            detail: format!(
                "none of its {} page(s) has extractable text (a scan?); ocr_mode is {ocr_mode}, and this version has no OCR: run it through OCR (e.g. ocrmypdf) and ingest the result",
                pages.len()
            ),
        });
    }
    Ok(Extracted {
        blocks,
        unit: Some(CitationUnit::Page),
        metadata: Default::default(),
    })
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
    Outcome::Pages(pages)
}

/// Reads a PDF in a worker process.
fn in_worker(exe: &PathBuf, bytes: &[u8]) -> Result<Outcome, Parsed> {
    let crashed = |what: String| Parsed::Failed {
        reason: "pdf_reader_failed",
        detail: format!(
            "{what}; the file is probably damaged or hostile: open and save (or print to PDF) it again"
        ),
    };
    let mut child = std::process::Command::new(exe)
        .arg(WORKER_ARG)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| {
            crashed(format!(
                "cannot start the PDF worker {}: {e}",
                exe.display()
            ))
        })?;
    // Feed and drain on threads of their own, so neither pipe blocks.
    let input = bytes.to_vec();
    let mut stdin = child.stdin.take();
    let feeder = std::thread::spawn(move || {
        if let Some(stdin) = stdin.as_mut() {
            let _ = stdin.write_all(&input);
        }
    });
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(stdout) = stdout.as_mut() {
            let _ = stdout.read_to_end(&mut out);
        }
        out
    });
    let deadline = Instant::now() + Duration::from_secs(worker_seconds());
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let _ = feeder.join();
    let out = reader.join().unwrap_or_default();
    let Some(status) = status else {
        return Err(Parsed::Failed {
            reason: "pdf_timeout",
            detail: format!(
                "reading it took more than {} s and was stopped; the file is probably damaged or hostile",
                worker_seconds()
            ),
        });
    };
    let last = out
        .split(|&b| b == b'\n')
        .rfind(|l| !l.is_empty())
        .unwrap_or_default();
    match serde_json::from_slice::<Outcome>(last) {
        Ok(outcome) => Ok(outcome),
        Err(_) if !status.success() => Err(crashed(format!(
            "the PDF reader stopped ({status}; past its {} MiB of memory, or crashed)",
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
/// input, writes its [`Outcome`] as one JSON line. Returns the exit code.
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
    #[cfg(debug_assertions)]
    simulate_fault();
    let outcome = read_pages(&bytes);
    let Ok(line) = serde_json::to_string(&outcome) else {
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

/// Ligatures as letters, words hyphenated at line ends joined, lines
/// trimmed.
pub fn normalize_page(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{FB00}' => plain.push_str("ff"),
            '\u{FB01}' => plain.push_str("fi"),
            '\u{FB02}' => plain.push_str("fl"),
            '\u{FB03}' => plain.push_str("ffi"),
            '\u{FB04}' => plain.push_str("ffl"),
            '\u{FB05}' | '\u{FB06}' => plain.push_str("st"),
            '\u{00AD}' => {}
            c => plain.push(c),
        }
    }
    let lines: Vec<&str> = plain
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut out = String::with_capacity(plain.len());
    let mut joined = false;
    for (i, line) in lines.iter().enumerate() {
        if i > 0 && !joined {
            out.push('\n');
        }
        joined = false;
        let next_lower = lines
            .get(i + 1)
            .and_then(|n| n.chars().next())
            .is_some_and(char::is_lowercase);
        if let Some(stem) = line.strip_suffix('-')
            && stem.chars().last().is_some_and(char::is_alphabetic)
            && next_lower
        {
            out.push_str(stem);
            joined = true;
        } else {
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ligatures_and_line_end_hyphens_are_undone() {
        assert_eq!(
            normalize_page("an eﬃcient and ﬂuid\nconfigu-\nration step-\nBy Step\n\n  end  "),
            "an efficient and fluid\nconfiguration step-\nBy Step\nend"
        );
    }

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
