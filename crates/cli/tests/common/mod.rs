//! Helpers shared by the integration tests: temporary workspaces and a thin
//! wrapper that runs the built `auditgraph` binary.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod tools;

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_auditgraph");

/// The result of one run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn code(self, expected: i32) -> Run {
        assert_eq!(
            self.code, expected,
            "expected exit {expected}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        }
    }
}

/// A command for the binary with a clean environment (no inherited
/// AUDITGRAPH_* or NEO4J_* variables).
pub fn command() -> Command {
    let mut cmd = Command::new(BIN);
    for (key, _) in std::env::vars() {
        if key.starts_with("AUDITGRAPH_") || key.starts_with("NEO4J_") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("CI", "true");
    cmd
}

/// A temporary workspace.
pub struct Ws {
    pub dir: tempfile::TempDir,
}

impl Ws {
    pub fn new() -> Ws {
        Ws {
            dir: tempfile::Builder::new()
                .prefix("ag-test-")
                .tempdir()
                .unwrap(),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> &Ws {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
        self
    }

    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.path(rel)).unwrap();
    }

    /// Runs `auditgraph --root <ws> <args>`.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = command();
        cmd.arg("--root").arg(self.root()).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap().into()
    }

    /// Runs with `--json`, expects success, returns the document.
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        self.run(&all).ok().json()
    }

    pub fn store(&self) -> PathBuf {
        self.path(".pkg/profiles/default")
    }

    /// The file of a store object.
    pub fn object(&self, id: &str) -> PathBuf {
        self.store().join("objects").join(&id[..2]).join(id)
    }

    pub fn state(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.store().join("store.json")).unwrap()).unwrap()
    }

    pub fn current_run(&self) -> String {
        self.state()["current_run"].as_str().unwrap().to_string()
    }

    pub fn manifest(&self, run: &str, stage: &str) -> Value {
        let path = self
            .store()
            .join("runs")
            .join(run)
            .join(format!("{stage}-manifest.json"));
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    /// Path -> SHA-256 of every file under `.pkg`, but the stat cache
    /// (scratch: what the last run learnt about the files' times).
    pub fn pkg_hashes(&self) -> BTreeMap<String, String> {
        let mut all = tree_hashes(&self.path(".pkg"));
        all.retain(|path, _| !path.contains("/cache/"));
        all
    }

    /// The ingest records of a run, as JSON (in path order).
    pub fn records(&self, run: &str) -> Vec<Value> {
        let layout = auditgraph_core::store::layout::StoreLayout::new(self.root(), "default");
        let manifest: auditgraph_core::pipeline::manifest::StageManifest =
            serde_json::from_value(self.manifest(run, "ingest")).unwrap();
        let table = manifest
            .table(&layout, auditgraph_core::store::piece::PieceKind::Records)
            .unwrap();
        let records = auditgraph_core::ingest::read_all_records(&layout, &table).unwrap();
        records
            .iter()
            .map(|r| serde_json::to_value(r).unwrap())
            .collect()
    }

    /// The ingest manifest of a run with its records (stored in pieces of
    /// their own) under `records`, as the manifest of schema v2 held them.
    pub fn ingest_with_records(&self, run: &str) -> Value {
        let mut m = self.manifest(run, "ingest");
        m["records"] = Value::Array(self.records(run));
        m
    }

    /// The parsed documents of a run, as JSON: the stored fields of each
    /// (in path order).
    pub fn documents(&self, run: &str) -> Vec<Value> {
        let layout = auditgraph_core::store::layout::StoreLayout::new(self.root(), "default");
        let manifest: auditgraph_core::pipeline::manifest::StageManifest =
            serde_json::from_value(self.manifest(run, "ingest")).unwrap();
        let table = manifest
            .table(&layout, auditgraph_core::store::piece::PieceKind::Documents)
            .unwrap();
        let mut out: Vec<Value> = Vec::new();
        for (_, id) in table.pieces() {
            let group = auditgraph_core::ingest::document::read_group(&layout, id).unwrap();
            out.extend(
                serde_json::to_value(&group).unwrap()["documents"]
                    .as_array()
                    .unwrap()
                    .clone(),
            );
        }
        out.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
        out
    }
}

/// Path -> SHA-256 of every file under `dir` (empty map if it does not exist).
pub fn tree_hashes(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return out;
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .to_string();
                let bytes = std::fs::read(&path).unwrap_or_default();
                out.insert(rel, hex::encode(Sha256::digest(&bytes)));
            }
        }
    }
    out
}

/// A small note collection used by many tests.
pub fn sample_notes(ws: &Ws) {
    ws.write(
        "notes/alpha.md",
        "---\ntitle: Alpha note\ntags: [one, two]\n---\n# Alpha\n\nAlpha talks about `postgres` and [beta](beta.md).\n",
    );
    ws.write(
        "notes/beta.md",
        "# Beta\n\nBeta is short.\n\n## Details\n\nMore words here.\n",
    );
    ws.write("notes/sub/gamma.txt", "plain text gamma\nsecond line\n");
    ws.write("notes/image.png", [0x89, b'P', b'N', b'G', 0, 1, 2, 3]);
}

/// Copies a directory tree (files and directories only).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A workspace holding a copy of a fixture directory under `tests/fixtures`.
pub fn fixture_ws(name: &str) -> Ws {
    let ws = Ws::new();
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    copy_dir(&src, ws.root());
    ws
}

/// A format 3 bundle decoded by its schema's descriptions into the shape
/// that names everything by id (format 2's): positions become the ids they
/// point at, `…_ref` fields `…_id`, ref, link and evidence rows objects, a
/// link's rule and authority come from `link_types` and its id from
/// `lnk_` + SHA-256 of `<rule>:<from>:<to>`. Nothing but the format is
/// changed, so every test below reads the bundle as before.
pub fn expand_bundle(raw: &Value) -> Value {
    use serde_json::json;
    let list = |key: &str, id: &str| -> Vec<Value> {
        raw[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v[id].clone())
            .collect()
    };
    let (entities, documents, chunks) = (
        list("entities", "id"),
        list("documents", "document_id"),
        list("chunks", "chunk_id"),
    );
    // A position in `items`, or an id already.
    let at = |items: &[Value], v: &Value| match v.as_u64() {
        Some(pos) => items[pos as usize].clone(),
        None => v.clone(),
    };
    let name_of = |id: &Value| {
        raw["entities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == *id)
            .map(|e| e["name"].clone())
    };
    fn ids_back(v: &Value, to_id: &dyn Fn(&str, &Value) -> Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| match k.strip_suffix("_ref") {
                        Some(stem) => (format!("{stem}_id"), to_id(stem, v)),
                        None => (k.clone(), ids_back(v, to_id)),
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(|v| ids_back(v, to_id)).collect()),
            other => other.clone(),
        }
    }
    let to_id = |stem: &str, v: &Value| {
        if stem.ends_with("document") {
            at(&documents, v)
        } else {
            at(&entities, v)
        }
    };
    let mut out = raw.clone();
    out["entities"] = raw["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let mut e = ids_back(e, &to_id);
            if let Some(refs) = e.get("refs").and_then(Value::as_array) {
                e["refs"] = refs
                    .iter()
                    .map(|r| {
                        json!({"document_id": at(&documents, &r[0]),
                               "range": {"start_line": r[1], "end_line": r[2]}})
                    })
                    .collect();
            }
            e
        })
        .collect();
    out["chunks"] = raw["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| ids_back(c, &to_id))
        .collect();
    let types = &raw["export_metadata"]["link_types"];
    out["links"] = raw["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let (from, to) = (at(&entities, &l[0]), at(&entities, &l[1]));
            let rule = types[l[2].as_str().unwrap()]["rule_id"].clone();
            let id = format!(
                "lnk_{}",
                hex::encode(<sha2::Sha256 as sha2::Digest>::digest(format!(
                    "{}:{}:{}",
                    rule.as_str().unwrap(),
                    from.as_str().unwrap(),
                    to.as_str().unwrap()
                )))
            );
            let evidence: Vec<Value> = l[5]
                .as_array()
                .unwrap()
                .iter()
                .map(|ev| {
                    let mut item = json!({
                        "document_id": at(&documents, &ev[0]),
                        "chunk_id": if ev[1].is_null() { Value::Null } else { at(&chunks, &ev[1]) },
                        "line_start": ev[2],
                        "line_end": ev[3],
                    });
                    if let Some(via) = ev.get(4) {
                        let via = at(&entities, via);
                        if let Some(name) = name_of(&via) {
                            item["via_name"] = name;
                        }
                        item["via_id"] = via;
                    }
                    item
                })
                .collect();
            json!({
                "id": id,
                "from_id": from,
                "to_id": to,
                "type": l[2],
                "rule_id": rule,
                "authority": types[l[2].as_str().unwrap()]["authority"],
                "confidence": l[3],
                "evidence_total": l[4],
                "evidence": evidence,
            })
        })
        .collect();
    out
}

/// Leaves out null and empty-list fields at any depth (what a bundle
/// leaves out of an entity).
pub fn without_empty(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null() && !v.as_array().is_some_and(Vec::is_empty))
                .map(|(k, v)| (k.clone(), without_empty(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_empty).collect()),
        other => other.clone(),
    }
}

/// A `git` command with an isolated environment.
pub fn git_cmd(dir: &Path, home: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", home.join("gitconfig"))
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args([
            "-c",
            "tag.gpgsign=false",
            "-c",
            "protocol.file.allow=always",
        ]);
    cmd
}

/// A `.docx` of these parts, written with the `zip` crate.
pub fn docx(parts: &[(&str, &str)]) -> Vec<u8> {
    use std::io::Write;
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, body) in parts {
        zip.start_file(*name, options).unwrap();
        zip.write_all(body.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
    out.into_inner()
}

pub const W: &str = r#"xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships""#;

pub fn para(text: &str) -> String {
    format!("<w:p><w:r><w:t xml:space=\"preserve\">{text}</w:t></w:r></w:p>")
}

pub fn heading(style: &str, text: &str) -> String {
    format!("<w:p><w:pPr><w:pStyle w:val=\"{style}\"/></w:pPr><w:r><w:t>{text}</w:t></w:r></w:p>")
}

/// A policy: a header, headings, paragraphs, a table and a footer.
/// Paragraphs (with text) in order: 1 header, 2 "Access policy", 3-4 body,
/// 5 "Retention", 6-9 table cells, 10 last body paragraph, 11 footer.
pub fn policy_docx() -> Vec<u8> {
    let body = [
        heading("Heading1", "Access policy"),
        para("Every engineer requests access through the ticket queue."),
        "<w:p/>".to_string(),
        para("Approvals expire after ninety days."),
        heading("Heading2", "Retention"),
        format!(
            "<w:tbl><w:tr><w:tc>{}</w:tc><w:tc>{}</w:tc></w:tr><w:tr><w:tc>{}</w:tc><w:tc>{}</w:tc></w:tr></w:tbl>",
            para("Record"),
            para("Kept for"),
            para("Audit logs of the quokka cluster"),
            para("seven years")
        ),
        para("Questions go to the security team."),
    ]
    .concat();
    let document = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><w:document {W}><w:body>{body}<w:sectPr><w:headerReference w:type=\"default\" r:id=\"rId1\"/><w:footerReference w:type=\"default\" r:id=\"rId2\"/></w:sectPr></w:body></w:document>"
    );
    docx(&[
        ("[Content_Types].xml", "<Types/>"),
        ("word/document.xml", &document),
        (
            "word/styles.xml",
            &format!(
                "<w:styles {W}><w:style w:type=\"paragraph\" w:styleId=\"Heading1\"><w:name w:val=\"heading 1\"/></w:style><w:style w:type=\"paragraph\" w:styleId=\"Heading2\"><w:name w:val=\"heading 2\"/></w:style></w:styles>"
            ),
        ),
        (
            "word/_rels/document.xml.rels",
            "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"><Relationship Id=\"rId1\" Type=\"h\" Target=\"header1.xml\"/><Relationship Id=\"rId2\" Type=\"f\" Target=\"footer1.xml\"/></Relationships>",
        ),
        (
            "word/header1.xml",
            &format!("<w:hdr {W}>{}</w:hdr>", para("Internal use only")),
        ),
        (
            "word/footer1.xml",
            &format!("<w:ftr {W}>{}</w:ftr>", para("Page footer wombat")),
        ),
        (
            "docProps/core.xml",
            "<cp:coreProperties xmlns:cp=\"c\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:dcterms=\"http://purl.org/dc/terms/\"><dc:title>Access and Retention Policy</dc:title><dc:creator>Grace Hopper</dc:creator><dcterms:created>2025-05-01T09:00:00Z</dcterms:created></cp:coreProperties>",
        ),
    ])
}
