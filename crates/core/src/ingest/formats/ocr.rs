//! OCR of PDF pages that have no extractable text (scans), through two
//! outside programs: `pdftoppm` (Debian `poppler-utils`) renders the page
//! as a grey image, `tesseract` (Debian `tesseract-ocr`, with the English
//! data of `tesseract-ocr-eng`) reads its text.
//!
//! Both run bounded ([`super::bounded`]): the page on standard input, the
//! image and the text on standard output, each under a time limit and an
//! output limit; at most 8,000 pixels of a page are rendered each way.
//! The flags are fixed so that the same page gives the same text every
//! time: [`DPI`] dots per inch, English ([`LANGUAGE`]), automatic page
//! segmentation (`--psm 3`), the LSTM engine (`--oem 1`), one thread
//! (`OMP_THREAD_LIMIT=1`), the C locale. Another tesseract, another
//! renderer or other language data can read a page differently, so
//! [`identity`] (their versions and the hash of the language data) is part
//! of the parser settings and of the run id: changing any of them parses
//! again.
//!
//! The engine is looked for once per process: a long `watch` notices an
//! engine installed while it runs only when it is started again.

use super::bounded::{Bounded, RunError};
use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// The Debian packages that provide the engine, for messages.
pub const PACKAGES: &str = "poppler-utils, tesseract-ocr and tesseract-ocr-eng";
/// Resolution pages are rendered at.
pub const DPI: u32 = 300;
/// The language tesseract reads.
pub const LANGUAGE: &str = "eng";
/// Longest each program may take on one page.
pub const PAGE_SECONDS: u64 = 120;
/// The largest part of a page rendered, in pixels each way (26 inches at
/// [`DPI`]; an A2 page fits), so a page of absurd size cannot make the
/// renderer allocate without end.
const MAX_PIXELS: u32 = 8000;
/// The largest page image: [`MAX_PIXELS`] squared, grey, with its header.
const MAX_IMAGE_BYTES: usize = (MAX_PIXELS as usize) * (MAX_PIXELS as usize) + 4096;
/// The most text one page may give.
const MAX_TEXT_BYTES: usize = 4 << 20;
/// Longest a version query may take.
const PROBE_SECONDS: u64 = 20;

const PDFTOPPM: &str = "pdftoppm";
const TESSERACT: &str = "tesseract";

/// The installed engine: what identifies the text it gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    /// `tesseract 5.3.0 leptonica-1.82.0 pdftoppm 22.12.0 eng.traineddata
    /// sha256:...`.
    pub identity: String,
}

/// The installed engine, or why there is none (asked once per process).
pub fn engine() -> Result<&'static Engine, &'static str> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    match ENGINE.get_or_init(probe) {
        Ok(engine) => Ok(engine),
        Err(why) => Err(why.as_str()),
    }
}

/// What OCR adds to the parser settings: nothing when it is off, else the
/// engine's identity (or that there is none).
pub fn identity(ocr_mode: &str) -> String {
    if ocr_mode == "off" {
        return String::new();
    }
    match engine() {
        Ok(engine) => engine.identity.clone(),
        Err(_) => "unavailable".to_string(),
    }
}

/// The sentence that tells the user how to get the engine.
pub fn unavailable_detail(why: &str) -> String {
    format!(
        "{why}; install the Debian packages {PACKAGES} (apt-get install poppler-utils tesseract-ocr tesseract-ocr-eng) and run again, or set ingestion.ocr_mode to off"
    )
}

fn run(
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: &[u8],
    seconds: u64,
    max: usize,
) -> Result<super::bounded::Finished, RunError> {
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    Bounded {
        program: OsStr::new(program),
        args: &args,
        env,
        stdin,
        timeout: Duration::from_secs(seconds),
        max_stdout: max,
    }
    .run()
}

/// Finds both programs and the language data, and their versions.
fn probe() -> Result<Engine, String> {
    let missing = |program: &str, e: RunError| format!("the OCR program {program} {e}");
    let version = run(TESSERACT, &["--version"], &[], b"", PROBE_SECONDS, 1 << 16)
        .map_err(|e| missing(TESSERACT, e))?;
    // tesseract prints its version (and leptonica's) on its first lines,
    // on standard output or (older versions) standard error.
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&version.stdout),
        version.stderr
    );
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let tesseract = lines
        .next()
        .filter(|l| l.starts_with("tesseract"))
        .ok_or_else(|| "the OCR program tesseract does not say its version".to_string())?
        .to_string();
    let leptonica = lines
        .next()
        .filter(|l| l.starts_with("leptonica"))
        .unwrap_or_default()
        .to_string();
    let langs = run(
        TESSERACT,
        &["--list-langs"],
        &[],
        b"",
        PROBE_SECONDS,
        1 << 16,
    )
    .map_err(|e| missing(TESSERACT, e))?;
    let listing = format!(
        "{}\n{}",
        String::from_utf8_lossy(&langs.stdout),
        langs.stderr
    );
    if !listing.lines().any(|l| l.trim() == LANGUAGE) {
        return Err(format!(
            "tesseract has no {LANGUAGE} language data (Debian tesseract-ocr-{LANGUAGE})"
        ));
    }
    let data = tessdata_dir(&listing)
        .map(|dir| dir.join(format!("{LANGUAGE}.traineddata")))
        .and_then(|file| std::fs::read(file).ok())
        .map(|bytes| format!("sha256:{}", crate::hashing::sha256_hex(&bytes)))
        .unwrap_or_else(|| "unknown".to_string());
    // pdftoppm -v prints "pdftoppm version 22.12.0" on standard error.
    let renderer = run(PDFTOPPM, &["-v"], &[], b"", PROBE_SECONDS, 1 << 16)
        .map_err(|e| missing(PDFTOPPM, e))?;
    let renderer = format!(
        "{}\n{}",
        renderer.stderr,
        String::from_utf8_lossy(&renderer.stdout)
    )
    .lines()
    .map(str::trim)
    .find(|l| l.starts_with("pdftoppm"))
    .ok_or_else(|| "the OCR program pdftoppm does not say its version".to_string())?
    .to_string();
    Ok(Engine {
        identity: format!("{tesseract} {leptonica} {renderer} {LANGUAGE}.traineddata {data}"),
    })
}

/// The folder named in `tesseract --list-langs`'s first line
/// (`List of available languages in "/usr/share/.../tessdata/" (2):`).
fn tessdata_dir(listing: &str) -> Option<PathBuf> {
    let line = listing.lines().find(|l| l.contains("languages in"))?;
    let start = line.find('"')? + 1;
    let end = start + line[start..].find('"')?;
    Some(PathBuf::from(&line[start..end]))
}

/// Reads page `page` (1-based) of a PDF by OCR: its text, or a sentence
/// saying why not.
pub fn page_text(pdf: &[u8], page: u32) -> Result<String, String> {
    let n = page.to_string();
    let dpi = DPI.to_string();
    let max = MAX_PIXELS.to_string();
    let image = run(
        PDFTOPPM,
        &[
            "-f", &n, "-l", &n, "-r", &dpi, "-gray", "-W", &max, "-H", &max, "-",
        ],
        &[("LC_ALL", "C")],
        pdf,
        PAGE_SECONDS,
        MAX_IMAGE_BYTES,
    )
    .map_err(|e| format!("rendering page {page}: {PDFTOPPM} {e}"))?;
    if !image.status.success() || image.stdout.is_empty() {
        return Err(format!(
            "rendering page {page}: {PDFTOPPM} failed ({}): {}",
            image.status, image.stderr
        ));
    }
    let text = run(
        TESSERACT,
        &[
            "stdin", "stdout", "-l", LANGUAGE, "--psm", "3", "--oem", "1", "--dpi", &dpi,
        ],
        &[("OMP_THREAD_LIMIT", "1"), ("LC_ALL", "C")],
        &image.stdout,
        PAGE_SECONDS,
        MAX_TEXT_BYTES,
    )
    .map_err(|e| format!("reading page {page}: {TESSERACT} {e}"))?;
    if !text.status.success() {
        return Err(format!(
            "reading page {page}: {TESSERACT} failed ({}): {}",
            text.status, text.stderr
        ));
    }
    Ok(String::from_utf8_lossy(&text.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_folder_is_read_from_the_listing() {
        assert_eq!(
            tessdata_dir(
                "List of available languages in \"/usr/share/tesseract-ocr/5/tessdata/\" (2):\neng\nosd\n"
            ),
            Some(PathBuf::from("/usr/share/tesseract-ocr/5/tessdata/"))
        );
        assert_eq!(tessdata_dir("eng\n"), None);
    }
}
