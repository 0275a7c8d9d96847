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
use crate::store::layout::StoreLayout;
use crate::store::objects::PreparedObject;
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

/// Scans objects ahead of publish, where a core would otherwise idle
/// (while the graph is built, while the index is built), and remembers
/// the clean ones, so that the postcondition does not decode and scan them
/// again. It reads the same payload bytes publish will write; an object
/// with a finding is not remembered and is scanned (and reported) at
/// publish. Objects already stored are skipped, as publish skips them.
pub fn prescan_objects<'o>(
    objects: impl IntoParallelIterator<Item = &'o PreparedObject>,
    layout: &StoreLayout,
    redactor: &Redactor,
) {
    if !redactor.is_enabled() {
        return;
    }
    objects.into_par_iter().for_each(|object| {
        prescan_one(&object.id, layout, redactor, || {
            payload_passes(&object.payload, redactor)
        });
    });
}

/// Remembers a new object as clean when `passes` says so; objects already
/// remembered or stored (publish skips those) are not checked.
fn prescan_one(id: &str, layout: &StoreLayout, redactor: &Redactor, passes: impl FnOnce() -> bool) {
    if !redactor.known_clean_object(id) && !layout.object_path(id).is_file() && passes() {
        redactor.remember_clean_object(id);
    }
}

/// Scans a run file (a manifest) ahead of publish, where a core would
/// otherwise idle, and remembers it by the hash of its bytes when clean:
/// publish then skips exactly these bytes. The ingest manifest of a large
/// workspace is megabytes of JSON.
pub fn prescan_file(bytes: &[u8], redactor: &Redactor) {
    if redactor.is_enabled() && misses_in_blocks(&file_blocks(bytes), "", redactor).is_empty() {
        redactor.remember_clean_object(&file_key(bytes));
    }
}

/// The key a clean run file is remembered under (apart from object ids).
fn file_key(bytes: &[u8]) -> String {
    format!("file:{}", crate::hashing::sha256_hex(bytes))
}

/// Whether a new object's payload passes the postcondition, checked while
/// the object is hashed and compressed (its id is not known yet): `true`
/// lets the caller remember the object as clean
/// ([`Redactor::remember_clean_object`]), so publish does not scan it
/// again. A payload with a finding is scanned and reported at publish.
fn payload_passes(payload: &[u8], redactor: &Redactor) -> bool {
    redactor.is_enabled() && payload_misses(payload, "", redactor).is_empty()
}

/// [`payload_passes`] for a new document group, checked on the documents
/// its payload is serialized from rather than on the payload decoded again:
/// the payload holds exactly these documents' strings (the typed decoding
/// at publish walks the same fields), and decoding a megabyte of JSON text
/// was a fifth of the cost of a small ingest. A text the redactor scanned
/// clean at parse ([`DocumentRecord::text_clean`]) is not scanned again; it
/// is recognised by its buffer, which no other string shares while the
/// documents are borrowed here.
///
/// [`DocumentRecord::text_clean`]: crate::ingest::document::DocumentRecord::text_clean
pub fn group_passes(
    documents: &[crate::ingest::document::DocumentRecord],
    redactor: &Redactor,
) -> bool {
    if !redactor.is_enabled() {
        return false;
    }
    let scanned: std::collections::HashSet<(usize, usize)> = documents
        .iter()
        .filter(|d| d.text_clean && !d.text.is_empty())
        .map(|d| (d.text.as_ptr() as usize, d.text.len()))
        .collect();
    let skip = |text: &str| {
        scanned.contains(&(text.as_ptr() as usize, text.len())) || redactor.known_clean(text)
    };
    let mut blocks = super::strings::blocks_skipping(documents, SCAN_BLOCK, &skip);
    blocks.retain(|b| !redactor.known_clean(b));
    misses_in_blocks(&blocks, "", redactor).is_empty()
}

/// Prescans the new document groups a run holds in memory (see
/// [`group_passes`]), where a core would otherwise idle, remembering the
/// clean ones by object id.
pub fn prescan_groups(
    groups: &[crate::ingest::GroupData],
    layout: &StoreLayout,
    redactor: &Redactor,
) {
    if !redactor.is_enabled() {
        return;
    }
    groups.par_iter().for_each(|group| {
        if let Some(documents) = &group.documents {
            prescan_one(&group.object, layout, redactor, || {
                group_passes(documents, redactor)
            });
        }
    });
}

/// What the detectors still find in one object's strings.
fn object_misses(object: &PreparedObject, redactor: &Redactor) -> Vec<Miss> {
    payload_misses(
        &object.payload,
        &StoreLayout::object_rel(&object.id),
        redactor,
    )
}

/// What the detectors still find in the strings of a payload; `rel` names
/// the object in the misses.
fn payload_misses(payload: &[u8], rel: &str, redactor: &Redactor) -> Vec<Miss> {
    let blocks =
        object_blocks(payload, SCAN_BLOCK, &|text| redactor.known_clean(text)).map(|mut blocks| {
            blocks.retain(|b| !redactor.known_clean(b));
            blocks
        });
    match blocks {
        Ok(blocks) => misses_in_blocks(&blocks, rel, redactor),
        Err(_) => vec![Miss {
            file: rel.to_string(),
            category: "unreadable".to_string(),
            count: 1,
        }],
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

/// Scans new objects (skipping ones already stored) and files.
pub fn scan(
    check: &Check<'_>,
    layout: &StoreLayout,
    objects: &[&PreparedObject],
    files: &[(String, &[u8])],
) -> Postcondition {
    let mut result = Postcondition {
        status: "pass".to_string(),
        policy_id: check.policy.policy_id.clone(),
        policy_version: check.policy.policy_version.clone(),
        detectors: check.policy.detectors.clone(),
        scanned_objects: 0,
        scanned_files: files.len(),
        allow_misses: check.allow_misses,
        misses: Vec::new(),
    };
    if !check.redactor.is_enabled() {
        result.status = "disabled".to_string();
        return result;
    }
    let mut fresh: Vec<&&PreparedObject> = objects
        .iter()
        .filter(|o| !layout.object_path(&o.id).is_file())
        .collect();
    result.scanned_objects = fresh.len();
    // Largest first, so that one big object does not finish alone.
    fresh.sort_by_key(|o| std::cmp::Reverse(o.payload.len()));
    let mut misses: Vec<Miss> = fresh
        .par_iter()
        .with_max_len(1)
        .flat_map_iter(|o| {
            if check.redactor.known_clean_object(&o.id) {
                Vec::new()
            } else {
                object_misses(o, check.redactor)
            }
        })
        .collect();
    misses.par_extend(files.par_iter().flat_map_iter(|(rel, bytes)| {
        if check.redactor.known_clean_object(&file_key(bytes)) {
            Vec::new()
        } else {
            misses_in_blocks(&file_blocks(bytes), rel, check.redactor)
        }
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

/// The text of an object's payload as detectors should see it: the strings
/// it holds, one per line, unescaped, which is what the redactor saw when
/// it wrote them. Scanning serialized JSON instead would see `\n` escapes
/// and `"key":"value"` pairs the redactor never saw, and scanning raw
/// binary would let length bytes glue two strings into a false match.
pub fn object_text(payload: &[u8]) -> std::result::Result<String, String> {
    Ok(object_blocks(payload, usize::MAX, &|_| false)?.concat())
}

/// [`object_text`] in blocks of about `block_size` bytes, cut only between
/// two strings, without the texts `skip` accepts (texts the redactor has
/// already scanned and found clean: a document's text, the derived text of
/// one document's extraction).
pub fn object_blocks(
    payload: &[u8],
    block_size: usize,
    skip: &dyn Fn(&str) -> bool,
) -> std::result::Result<Vec<String>, String> {
    use super::strings::blocks_skipping as blocks;
    use crate::store::objects::split_payload;
    let (header, body) = split_payload(payload, "object").map_err(|e| e.to_string())?;
    Ok(match (header.format.as_str(), header.kind.as_str()) {
        // Typed, so field names (ours) are not scanned; front matter keys
        // (the user's) are.
        (_, crate::ingest::document::DOCUMENTS_KIND) => {
            let group = crate::ingest::document::DocumentGroup::from_body(&header.format, body)
                .map_err(|e| e.to_string())?;
            blocks(&group, block_size, skip)
        }
        ("json", _) => {
            let value: serde_json::Value =
                serde_json::from_slice(body).map_err(|e| e.to_string())?;
            blocks(&value, block_size, skip)
        }
        (_, crate::extract::stage::EXTRACTION_KIND) => {
            // Document by document: the extract stage checked each one's
            // derived text as a whole (`redact_derived`).
            let group = crate::extract::stage::ExtractionGroup::from_bytes(body)?;
            let mut out: Vec<String> = Vec::new();
            for doc in &group.documents {
                let mut text = String::new();
                super::strings::collect(doc, &mut text);
                if skip(&text) {
                    continue;
                }
                match out.last_mut() {
                    Some(block) if block.len() + text.len() <= block_size => block.push_str(&text),
                    _ => out.push(text),
                }
            }
            out
        }
        (_, crate::graph::model::GRAPH_KIND) => blocks(
            &crate::graph::model::Graph::from_bytes(body)?,
            block_size,
            skip,
        ),
        (_, crate::index::stage::INDEX_KIND) => {
            let index = crate::index::stage::IndexData::from_bytes(body)?;
            let mut terms = Vec::new();
            for bytes in [&index.names, &index.chunks] {
                let bm25 = crate::index::Bm25Index::open(bytes).map_err(|e| e.to_string())?;
                terms.extend(
                    bm25.terms()
                        .map_err(|e| e.to_string())?
                        .into_iter()
                        .map(|(t, _)| t),
                );
            }
            blocks(&terms, block_size, skip)
        }
        (_, other) => return Err(format!("unknown binary object kind {other}")),
    })
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
    /// in the group is: the text of a document that was not scanned (one
    /// read back from an object) and front matter values.
    #[test]
    fn group_check_skips_only_the_buffers_scanned_clean() {
        let redactor = Redactor::new(&crate::redact::RedactionPolicy::default(), b"k").unwrap();
        let secret = "notes\n\npassword = \"hunter2-hunter2\"\n";
        let clean = parsed("a.md", "# A\n\nnothing to hide here\n", &redactor);
        assert!(clean.text_clean);
        assert!(group_passes(std::slice::from_ref(&clean), &redactor));

        // Parsing redacts the secret; the redacted text is what was scanned.
        let redacted = parsed("b.md", secret, &redactor);
        assert!(redacted.text_clean && !redacted.text.contains("hunter2"));
        assert!(group_passes(&[clean.clone(), redacted], &redactor));

        // An unscanned document holding the secret fails the check, even
        // next to a scanned-clean one.
        let mut unscanned = clean.clone();
        unscanned.text = secret.to_string();
        unscanned.text_clean = false;
        assert!(!group_passes(
            &[clean.clone(), unscanned.clone()],
            &redactor
        ));
        // The flag covers the text alone, not a front matter value.
        let mut with_field = clean;
        with_field.frontmatter = Some(serde_json::Map::from_iter([(
            "note".to_string(),
            serde_json::Value::String(secret.to_string()),
        )]));
        assert!(!group_passes(&[with_field], &redactor));
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
