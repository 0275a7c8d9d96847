//! The redaction postcondition: before a run is published, everything it
//! would write (new objects, manifests, run files) is scanned with the
//! configured detectors. Anything a detector still matches is a miss: the
//! run fails and nothing is written, unless misses are explicitly allowed,
//! in which case they are recorded in the run's manifests. The result is
//! recorded in every stage manifest the run publishes.
//!
//! Objects already in the store were scanned when they were first written,
//! so an incremental run scans only what is new.

use crate::redact::Redactor;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the postcondition found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Postcondition {
    /// `pass`, `fail` (misses, not allowed), `tolerated` (misses allowed)
    /// or `disabled` (redaction is off).
    pub status: String,
    pub policy_id: String,
    pub policy_version: String,
    pub detectors: Vec<String>,
    pub scanned_objects: usize,
    pub scanned_files: usize,
    pub allow_misses: bool,
    pub misses: Vec<Miss>,
}

/// Where a detector still matched (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Miss {
    /// Store-relative path of the artifact.
    pub file: String,
    pub category: String,
    pub count: usize,
}

/// How to run the postcondition.
pub struct Check<'a> {
    pub redactor: &'a Redactor,
    pub policy: crate::redact::RedactionPolicy,
    pub allow_misses: bool,
}

/// Bytes of text scanned at a time (see [`super::strings::blocks`]).
const SCAN_BLOCK: usize = 32 * 1024;

/// Scans the strings of every new piece as the stages produce it (typed,
/// so field names, which are ours, are not scanned; front matter keys,
/// which are the user's, are), skipping texts the redactor has already
/// scanned clean: a document's text at parse, the derived text of one
/// document's extraction. Pieces the store already holds were scanned when
/// they were written and are never produced again.
pub struct Scanner<'a> {
    redactor: &'a Redactor,
    misses: std::sync::Mutex<Vec<Miss>>,
    pieces: std::sync::atomic::AtomicUsize,
}

impl<'a> Scanner<'a> {
    pub fn new(redactor: &'a Redactor) -> Scanner<'a> {
        Scanner {
            redactor,
            misses: std::sync::Mutex::new(Vec::new()),
            pieces: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Scans the strings of `value`, the content of piece `id`.
    pub fn piece<T: Serialize + ?Sized>(
        &self,
        id: crate::store::id::ObjectId,
        value: &T,
        skip: &dyn Fn(&str) -> bool,
    ) {
        if !self.redactor.is_enabled() {
            return;
        }
        self.pieces
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let redactor = self.redactor;
        let skip = |text: &str| skip(text) || redactor.known_clean(text);
        let mut blocks = super::strings::blocks_skipping(value, SCAN_BLOCK, &skip);
        blocks.retain(|b| !redactor.known_clean(b));
        let found = misses_in_blocks(&blocks, &id.rel_path(), redactor);
        if !found.is_empty()
            && let Ok(mut misses) = self.misses.lock()
        {
            misses.extend(found);
        }
    }

    /// Scans a documents piece: a text the redactor scanned clean at parse
    /// ([`DocumentRecord::text_clean`]) is recognised by its buffer and not
    /// scanned again; front matter values and every other text are.
    ///
    /// [`DocumentRecord::text_clean`]: crate::ingest::document::DocumentRecord::text_clean
    pub fn documents(
        &self,
        id: crate::store::id::ObjectId,
        documents: &[crate::ingest::document::DocumentRecord],
    ) {
        let scanned: std::collections::HashSet<(usize, usize)> = documents
            .iter()
            .filter(|d| d.text_clean && !d.text.is_empty())
            .map(|d| (d.text.as_ptr() as usize, d.text.len()))
            .collect();
        self.piece(id, documents, &|text: &str| {
            scanned.contains(&(text.as_ptr() as usize, text.len()))
        });
    }

    /// The postcondition over every piece scanned and the run files.
    pub fn finish(&self, check: &Check<'_>, files: &[(String, &[u8])]) -> Postcondition {
        let mut result = Postcondition {
            status: "pass".to_string(),
            policy_id: check.policy.policy_id.clone(),
            policy_version: check.policy.policy_version.clone(),
            detectors: check.policy.detectors.clone(),
            scanned_objects: self.pieces.load(std::sync::atomic::Ordering::Relaxed),
            scanned_files: files.len(),
            allow_misses: check.allow_misses,
            misses: Vec::new(),
        };
        if !check.redactor.is_enabled() {
            result.status = "disabled".to_string();
            return result;
        }
        let mut misses: Vec<Miss> = self.misses.lock().map(|m| m.clone()).unwrap_or_default();
        misses.par_extend(files.par_iter().flat_map_iter(|(rel, bytes)| {
            misses_in_blocks(&file_blocks(bytes), rel, check.redactor)
        }));
        misses.sort_by(|a, b| (&a.file, &a.category).cmp(&(&b.file, &b.category)));
        if !misses.is_empty() {
            result.status = if check.allow_misses {
                "tolerated"
            } else {
                "fail"
            }
            .to_string();
        }
        result.misses = misses;
        result
    }
}

fn misses_in_blocks(blocks: &[String], file: &str, redactor: &Redactor) -> Vec<Miss> {
    let found: Vec<&'static str> = blocks
        .par_iter()
        .flat_map_iter(|b| redactor.scan(b).into_iter().map(|f| f.category))
        .collect();
    let mut by_category: BTreeMap<&str, usize> = BTreeMap::new();
    for category in found {
        *by_category.entry(category).or_default() += 1;
    }
    by_category
        .into_iter()
        .map(|(category, count)| Miss {
            file: file.to_string(),
            category: category.to_string(),
            count,
        })
        .collect()
}

/// The manifest key the postcondition is recorded under.
const RECORD_KEY: &str = "redaction_postcondition";

/// Adds the postcondition block to a stage manifest's bytes.
pub fn record(manifest: &[u8], postcondition: &Postcondition) -> Vec<u8> {
    splice_record(manifest, postcondition)
        .unwrap_or_else(|| record_by_parsing(manifest, postcondition))
}

/// [`record`] without parsing the manifest (the ingest manifest of a large
/// workspace is megabytes): a manifest printed by
/// [`super::manifest_bytes`] has one top-level key per line, each line that
/// starts with `"` (values are compact, and array elements start with `{`),
/// in sorted order, so the block is inserted as its own line before the
/// first greater key, which is where printing the amended object puts it.
/// `None` for anything else (the parsing path handles it).
fn splice_record(manifest: &[u8], postcondition: &Postcondition) -> Option<Vec<u8>> {
    let body = manifest.strip_prefix(b"{\n")?.strip_suffix(b"\n}\n")?;
    let value = serde_json::to_value(postcondition).ok()?.to_string();
    let mut at = None;
    let mut offset = 2;
    let mut keys = 0;
    for line in body.split(|&b| b == b'\n') {
        if let Some(rest) = line.strip_prefix(b"\"") {
            keys += 1;
            let end = memchr::memchr(b'"', rest)?;
            let key = &rest[..end];
            if key.contains(&b'\\') || !rest[end..].starts_with(b"\":") {
                return None;
            }
            match key.cmp(RECORD_KEY.as_bytes()) {
                std::cmp::Ordering::Equal => return None,
                std::cmp::Ordering::Greater => {
                    at = Some(offset);
                    break;
                }
                std::cmp::Ordering::Less => {}
            }
        }
        offset += line.len() + 1;
    }
    if keys == 0 {
        return None;
    }
    let entry = format!("\"{RECORD_KEY}\":{value}");
    let mut out = Vec::with_capacity(manifest.len() + entry.len() + 2);
    match at {
        Some(at) => {
            out.extend_from_slice(manifest.get(..at)?);
            out.extend_from_slice(entry.as_bytes());
            out.extend_from_slice(b",\n");
            out.extend_from_slice(manifest.get(at..)?);
        }
        None => {
            out.extend_from_slice(&manifest[..manifest.len() - 3]);
            out.extend_from_slice(b",\n");
            out.extend_from_slice(entry.as_bytes());
            out.extend_from_slice(b"\n}\n");
        }
    }
    Some(out)
}

/// [`record`] by parsing the manifest, adding the key and printing it again.
fn record_by_parsing(manifest: &[u8], postcondition: &Postcondition) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(manifest) {
        Ok(serde_json::Value::Object(mut map)) => {
            map.insert(
                RECORD_KEY.to_string(),
                serde_json::to_value(postcondition).unwrap_or_default(),
            );
            super::manifest_bytes(&serde_json::Value::Object(map))
        }
        _ => manifest.to_vec(),
    }
}

/// The text of a run file (a manifest) as detectors should see it: the
/// strings of a JSON document, or the bytes as text when it is not JSON.
pub fn file_text(bytes: &[u8]) -> String {
    file_blocks_of(bytes, usize::MAX).concat()
}

/// [`file_text`] in blocks of about [`SCAN_BLOCK`] bytes (a large manifest
/// is scanned on every core).
fn file_blocks(bytes: &[u8]) -> Vec<String> {
    file_blocks_of(bytes, SCAN_BLOCK)
}

fn file_blocks_of(bytes: &[u8], block_size: usize) -> Vec<String> {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(value) => super::strings::blocks(&value, block_size),
        Err(_) => vec![String::from_utf8_lossy(bytes).into_owned()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::document::{DocumentRecord, Parsed, parse};

    fn parsed(path: &str, text: &str, redactor: &Redactor) -> DocumentRecord {
        let ingestion = crate::config::Ingestion::default();
        match parse(path, text.as_bytes(), "text/markdown", &ingestion, redactor) {
            Parsed::Document(doc) => *doc,
            other => panic!("not parsed: {other:?}"),
        }
    }

    /// A text scanned clean at parse is not scanned again; everything else
    /// in the piece is: the text of a document that was not scanned (one
    /// read back from a piece) and front matter values.
    #[test]
    fn document_scans_skip_only_the_buffers_scanned_clean() {
        let redactor = Redactor::new(&crate::redact::RedactionPolicy::default(), b"k").unwrap();
        let id = crate::store::id::ObjectId::of(b"x");
        let passes = |docs: &[DocumentRecord]| {
            let scanner = Scanner::new(&redactor);
            scanner.documents(id, docs);
            scanner.misses.lock().unwrap().is_empty()
        };
        let secret = "notes\n\npassword = \"hunter2-hunter2\"\n";
        let clean = parsed("a.md", "# A\n\nnothing to hide here\n", &redactor);
        assert!(clean.text_clean);
        assert!(passes(std::slice::from_ref(&clean)));
        // Parsing redacts the secret; the redacted text is what was scanned.
        let redacted = parsed("b.md", secret, &redactor);
        assert!(redacted.text_clean && !redacted.text.contains("hunter2"));
        assert!(passes(&[clean.clone(), redacted]));
        // An unscanned document holding the secret fails, even next to a
        // scanned-clean one.
        let mut unscanned = clean.clone();
        unscanned.text = secret.to_string();
        unscanned.text_clean = false;
        assert!(!passes(&[clean.clone(), unscanned]));
        // The flag covers the text alone, not a front matter value.
        let mut with_field = clean;
        with_field.frontmatter = Some(serde_json::Map::from_iter([(
            "note".to_string(),
            serde_json::Value::String(secret.to_string()),
        )]));
        assert!(!passes(&[with_field]));
    }

    fn postcondition() -> Postcondition {
        Postcondition {
            status: "pass".to_string(),
            policy_id: "p\"1".to_string(),
            policy_version: "v1".to_string(),
            detectors: vec!["jwt".to_string(), "pem_private_key".to_string()],
            scanned_objects: 3,
            scanned_files: 2,
            allow_misses: false,
            misses: vec![Miss {
                file: "runs/x/a.json".to_string(),
                category: "credential".to_string(),
                count: 1,
            }],
        }
    }

    /// Splicing the block in gives the bytes parsing and printing gave,
    /// wherever the key falls among the manifest's keys.
    #[test]
    fn spliced_records_match_parsed_ones() {
        let manifests = [
            serde_json::json!({
                "counts": {"files": 2, "ok": 1},
                "records": [{"path": "a \"b\"\n.md", "size": 1.5}, {"path": "c.md"}],
                "run_id": "run_1",
                "schema_version": "v2",
                "warnings": ["one\ntwo", "{\"x\": 1}"],
                "zeta": [],
            }),
            serde_json::json!({"alpha": 1, "beta": [{"x": 1}]}),
            serde_json::json!({"zulu": {"nested": [{"a": 1}]}}),
            serde_json::json!({"redaction_postcondition": {"status": "old"}, "stage": "s"}),
            serde_json::json!({}),
        ];
        for (i, manifest) in manifests.into_iter().enumerate() {
            let bytes = crate::pipeline::manifest_bytes(&manifest);
            // The first three are spliced; an existing block and an empty
            // object take the parsing path.
            assert_eq!(splice_record(&bytes, &postcondition()).is_some(), i < 3);
            assert_eq!(
                record(&bytes, &postcondition()),
                record_by_parsing(&bytes, &postcondition()),
                "{}",
                String::from_utf8_lossy(&bytes)
            );
        }
        // Anything not printed by `manifest_bytes` takes the parsing path.
        assert!(splice_record(b"{\"a\":1}", &postcondition()).is_none());
    }
}
