//! Hostile and unusual inputs: each gets the right status and reason, no
//! panic, and the rest of the run is unaffected.
//!
//! Each bad input has a `put_*` function that adds it to a workspace and a
//! `check_*` function that asserts its record. Each test puts one bad input
//! next to a good note, ingests, checks both and validates the store;
//! `all_bad_inputs_together_leave_the_rest_of_the_run_unaffected` puts all
//! of them in one workspace and runs every check on one run.
//!
//! Unreadable files and directories need a reader without root's
//! permission override: when the tests run as root (as in CI), the ingest
//! runs as an unprivileged user through `setpriv` (util-linux).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use serde_json::Value;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

/// The good note every workspace holds.
const GOOD: &str = "good.md";
/// User and group the ingest runs as when the tests run as root.
const UNPRIVILEGED_ID: u32 = 65534;

/// A workspace with a good note, a directory outside it, and how to run the
/// ingest.
struct Scene {
    ws: Ws,
    /// A directory outside the workspace root (target of an escaping link).
    outside: tempfile::TempDir,
    /// Run the ingest as a user without root's permission override.
    unprivileged: bool,
    /// Whether `--json ingest` has run (checks read its manifest).
    ingested: bool,
}

impl Scene {
    fn new() -> Scene {
        let ws = Ws::new();
        ws.write(GOOD, "# Good\n\nstill ingested\n");
        let outside = tempfile::Builder::new()
            .prefix("ag-outside-")
            .tempdir()
            .unwrap();
        Scene {
            ws,
            outside,
            unprivileged: false,
            ingested: false,
        }
    }

    /// Runs `--json ingest`: exit status 0, no panic, the good note `ok`.
    fn ingest(&mut self) -> Run {
        let run = if self.unprivileged {
            self.ingest_unprivileged()
        } else {
            self.ws.run(&["--json", "ingest"])
        };
        let run = run.ok();
        assert_no_panic(&run);
        self.ingested = true;
        check_good(self);
        run
    }

    /// Runs the ingest without permission to read mode-000 files: as an
    /// unprivileged user when the tests run as root, as the current user
    /// otherwise (permissions then apply anyway).
    fn ingest_unprivileged(&self) -> Run {
        if !is_root() {
            return self.ws.run(&["--json", "ingest"]);
        }
        let setpriv = find_in_path("setpriv").unwrap_or_else(|| {
            panic!(
                "the tests run as root, so unreadable files are readable; they need \
                 `setpriv` to run the ingest as an unprivileged user: install util-linux \
                 (apt-get install util-linux)"
            )
        });
        // The unprivileged user must reach the workspace and create `.pkg`
        // in it, and resolve the escaping link's target.
        let root = self.ws.root();
        for dir in root.ancestors().skip(1) {
            let mode = std::fs::metadata(dir).unwrap().permissions().mode();
            assert!(
                mode & 0o001 != 0,
                "{} (mode {mode:o}) cannot be traversed by other users; set TMPDIR to a \
                 directory they can traverse (such as /tmp)",
                dir.display()
            );
        }
        set_mode(root, 0o777);
        set_mode(self.outside.path(), 0o755);
        let bin = unprivileged_binary();
        let id = UNPRIVILEGED_ID.to_string();
        let mut cmd = std::process::Command::new(setpriv);
        cmd.arg(format!("--reuid={id}"))
            .arg(format!("--regid={id}"))
            .arg("--clear-groups")
            .arg(&bin.1)
            .arg("--root")
            .arg(root)
            .args(["--json", "ingest"])
            .current_dir(root);
        // As `common::command`: a clean environment.
        for (key, _) in std::env::vars() {
            if key.starts_with("AUDITGRAPH_") || key.starts_with("NEO4J_") {
                cmd.env_remove(&key);
            }
        }
        cmd.env("CI", "true");
        cmd.output().unwrap().into()
    }

    /// Checks the store, after the checks of the records.
    fn validate(&self) {
        let run = self.ws.run(&["validate-store"]).ok();
        assert_no_panic(&run);
    }

    fn records(&self) -> Vec<Value> {
        assert!(self.ingested, "ingest first");
        let run = self.ws.current_run();
        self.ws.records(&run)
    }

    fn record(&self, path: &str) -> Value {
        let records = self.records();
        let found: Vec<&Value> = records.iter().filter(|r| r["path"] == path).collect();
        assert_eq!(found.len(), 1, "records for {path:?}: {records:#?}");
        found[0].clone()
    }

    /// Asserts the exact status and reason (`None`: no reason) of a record.
    #[track_caller]
    fn check(&self, path: &str, status: &str, reason: Option<&str>) -> Value {
        let r = self.record(path);
        assert_eq!(r["parse_status"], status, "{path:?}: {r}");
        match reason {
            Some(reason) => assert_eq!(r["reason"], reason, "{path:?}: {r}"),
            None => assert_eq!(r["reason"], Value::Null, "{path:?}: {r}"),
        }
        r
    }

    /// The documents of the current run (decoded from its pieces).
    fn documents(&self) -> Vec<Value> {
        let run = self.ws.current_run();
        self.ws.documents(&run)
    }

    fn document(&self, path: &str) -> Value {
        self.documents()
            .into_iter()
            .find(|d| d["path"] == path)
            .unwrap_or_else(|| panic!("no document for {path:?}"))
    }
}

impl Drop for Scene {
    /// Gives back permissions a test took away, so the temporary
    /// directories can be removed when the tests do not run as root.
    fn drop(&mut self) {
        for (rel, mode) in [(LOCKED_FILE, 0o644), (LOCKED_DIR, 0o755)] {
            let path = self.ws.path(rel);
            if std::fs::symlink_metadata(&path).is_ok() {
                let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode));
            }
        }
    }
}

#[track_caller]
fn assert_no_panic(run: &Run) {
    for text in [&run.stderr, &run.stdout] {
        assert!(
            !text.contains("panicked") && !text.contains("RUST_BACKTRACE"),
            "stdout:\n{}\nstderr:\n{}",
            run.stdout,
            run.stderr
        );
    }
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/bin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// The binary, where an unprivileged user can run it: in place if every
/// directory above it can be searched by others, else linked (or copied)
/// into a temporary directory that can (a checkout under /root cannot).
fn unprivileged_binary() -> (Option<tempfile::TempDir>, PathBuf) {
    let bin = Path::new(BIN);
    let reachable = bin
        .ancestors()
        .skip(1)
        .all(|dir| std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o001 != 0));
    if reachable {
        return (None, bin.to_path_buf());
    }
    let dir = tempfile::Builder::new()
        .prefix("ag-bin-")
        .tempdir()
        .unwrap();
    set_mode(dir.path(), 0o755);
    let copy = dir.path().join("auditgraph");
    if std::fs::hard_link(bin, &copy).is_err() {
        std::fs::copy(bin, &copy).unwrap();
    }
    set_mode(&copy, 0o755);
    (Some(dir), copy)
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn check_good(s: &Scene) {
    let r = s.check(GOOD, "ok", None);
    assert_eq!(r["parser_id"], "text/markdown", "{r}");
    assert!(
        s.document(GOOD)["text"]
            .as_str()
            .unwrap()
            .contains("still ingested")
    );
}

// --- The bad inputs: how to put each in a workspace, and its record. ---

fn put_invalid_utf8(s: &Scene) {
    s.ws.write(
        "invalid-utf8.md",
        b"# Title\n\xff\xfe broken \xc3\x28\n".as_slice(),
    );
}

fn check_invalid_utf8(s: &Scene) {
    let bad = s.check("invalid-utf8.md", "failed", Some("invalid_utf8"));
    // Byte 8 is the first one that is not UTF-8.
    assert!(
        bad["detail"].as_str().unwrap().contains("at byte 8"),
        "{bad}"
    );
}

fn put_binary(s: &Scene) {
    s.ws.write(
        "binary.md",
        [0x7f, b'E', b'L', b'F', 0, 0, 1, 2, 3, 0, 0].as_slice(),
    );
}

fn check_binary(s: &Scene) {
    s.check("binary.md", "skipped", Some("binary_content"));
}

fn put_empty(s: &Scene) {
    s.ws.write("empty.md", "");
}

fn check_empty(s: &Scene) {
    let r = s.check("empty.md", "ok", Some("empty_file"));
    assert_eq!(r["size"], 0, "{r}");
    assert_eq!(s.document("empty.md")["text"], "");
}

/// The size limit is the workspace's: 64 bytes (every other input is smaller).
fn put_too_large(s: &Scene) {
    s.ws.write(
        "config/pkg.yaml",
        "profiles:\n  default:\n    ingestion:\n      max_file_size_bytes: 64\n",
    );
    s.ws.write("huge.md", "x".repeat(65));
}

fn check_too_large(s: &Scene) {
    let huge = s.check("huge.md", "skipped", Some("too_large"));
    assert_eq!(huge["sha256"], Value::Null);
    assert_eq!(huge["size"], 65, "{huge}");
    assert!(
        huge["detail"]
            .as_str()
            .unwrap()
            .contains("max_file_size_bytes 64"),
        "{huge}"
    );
}

const LOCKED_FILE: &str = "unreadable.md";
const LOCKED_DIR: &str = "locked";

fn put_unreadable_file(s: &Scene) {
    let path = s.ws.path(LOCKED_FILE);
    std::fs::write(&path, "# locked\n").unwrap();
    set_mode(&path, 0o000);
}

fn check_unreadable_file(s: &Scene) {
    let r = s.check(LOCKED_FILE, "failed", Some("read_failed"));
    assert_eq!(r["sha256"], Value::Null, "{r}");
    assert!(
        r["detail"].as_str().unwrap().contains("Permission denied"),
        "{r}"
    );
}

fn put_unreadable_dir(s: &Scene) {
    s.ws.write(
        &format!("{LOCKED_DIR}/inside.md"),
        "# behind a locked door\n",
    );
    set_mode(&s.ws.path(LOCKED_DIR), 0o000);
}

fn check_unreadable_dir(s: &Scene) {
    let r = s.check(LOCKED_DIR, "skipped", Some("unreadable"));
    assert!(
        r["detail"]
            .as_str()
            .unwrap()
            .starts_with("cannot list directory"),
        "{r}"
    );
    let inside = format!("{LOCKED_DIR}/");
    assert!(
        !s.records()
            .iter()
            .any(|r| r["path"].as_str().unwrap().starts_with(&inside)),
        "nothing inside a directory that cannot be listed is recorded"
    );
}

fn put_fifo(s: &Scene) {
    let made = std::process::Command::new("mkfifo")
        .arg(s.ws.path("pipe.md"))
        .status();
    assert!(made.map(|s| s.success()).unwrap_or(false), "mkfifo failed");
}

fn check_fifo(s: &Scene) {
    s.check("pipe.md", "skipped", Some("not_regular_file"));
}

fn put_symlink_loop(s: &Scene) {
    symlink(s.ws.path("loop-b.md"), s.ws.path("loop-a.md")).unwrap();
    symlink(s.ws.path("loop-a.md"), s.ws.path("loop-b.md")).unwrap();
}

fn check_symlink_loop(s: &Scene) {
    s.check("loop-a.md", "skipped", Some("symlink_loop"));
    s.check("loop-b.md", "skipped", Some("symlink_loop"));
}

fn put_directory_link(s: &Scene) {
    symlink(s.ws.root(), s.ws.path("dir-loop")).unwrap();
}

fn check_directory_link(s: &Scene) {
    s.check("dir-loop", "skipped", Some("symlink_directory"));
    assert!(
        !s.records()
            .iter()
            .any(|r| r["path"].as_str().unwrap().starts_with("dir-loop/")),
        "a link to a directory is not followed"
    );
}

fn put_dangling_link(s: &Scene) {
    symlink(s.ws.path("missing-target.md"), s.ws.path("dangling.md")).unwrap();
}

fn check_dangling_link(s: &Scene) {
    s.check("dangling.md", "skipped", Some("symlink_dangling"));
}

fn put_inside_link(s: &Scene) {
    symlink(s.ws.path(GOOD), s.ws.path("inside-link.md")).unwrap();
}

fn check_inside_link(s: &Scene) {
    let link = s.check("inside-link.md", "ok", None);
    assert_eq!(link["sha256"], s.record(GOOD)["sha256"], "{link}");
}

const OUTSIDE_TEXT: &str = "outside the root";

fn put_escaping_link(s: &Scene) {
    let target = s.outside.path().join("secret.md");
    std::fs::write(&target, format!("# {OUTSIDE_TEXT}\n")).unwrap();
    symlink(target, s.ws.path("escape.md")).unwrap();
}

fn check_escaping_link(s: &Scene, run: &Run) {
    assert!(
        run.stderr.contains("refused 1 symbolic link"),
        "{}",
        run.stderr
    );
    let escape = s.check("escape.md", "skipped", Some("symlink_refused"));
    assert_eq!(
        escape["sha256"],
        Value::Null,
        "the outside file must not be read"
    );
    assert_eq!(escape["size"], 0);
    // Nothing about the outside file reached the store.
    let outside = s.outside.path().to_str().unwrap();
    for (path, _) in s.ws.pkg_hashes() {
        let bytes = std::fs::read(s.ws.path(".pkg").join(&path)).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(OUTSIDE_TEXT), "{path}");
        assert!(!text.contains(outside), "{path}");
    }
}

const ODD_NAMES: [&str; 3] = ["with space.md", "new\nline.md", "ñandú/日本語.md"];

fn put_odd_names(s: &Scene) {
    s.ws.write(ODD_NAMES[0], "# spaced\n");
    s.ws.write(ODD_NAMES[1], "# newline in name\n");
    s.ws.write(ODD_NAMES[2], "# 日本語\n");
}

fn check_odd_names(s: &Scene) {
    for name in ODD_NAMES {
        s.check(name, "ok", None);
    }
    assert!(
        s.document("ñandú/日本語.md")["text"]
            .as_str()
            .unwrap()
            .contains("日本語")
    );
}

/// `caf\xe9.md`: Latin-1, not UTF-8; recorded under its lossy name.
const NON_UTF8_NAME: &[u8] = b"caf\xe9.md";

fn put_non_utf8_name(s: &Scene) {
    let path = s.ws.root().join(OsStr::from_bytes(NON_UTF8_NAME));
    std::fs::write(path, "# Latin-1 name\n").unwrap();
}

fn check_non_utf8_name(s: &Scene) {
    let r = s.check("caf\u{fffd}.md", "skipped", Some("non_utf8_path"));
    assert_eq!(r["sha256"], Value::Null, "never read: {r}");
    assert!(
        r["detail"].as_str().unwrap().contains("not valid UTF-8"),
        "{r}"
    );
}

/// `café.md` twice: decomposed (NFD, as macOS writes names) and composed.
const NFD_NAME: &str = "cafe\u{301}.md";
const NFC_NAME: &str = "caf\u{e9}.md";

fn put_nfd_name(s: &Scene) {
    s.ws.write(NFD_NAME, "# decomposed name\n");
    s.ws.write(NFC_NAME, "# composed name\n");
}

fn check_nfd_name(s: &Scene) {
    // Paths are recorded as they are on disk (so they lead back to the
    // file): two names that differ only in normalization stay two records.
    let nfd = s.check(NFD_NAME, "ok", None);
    let nfc = s.check(NFC_NAME, "ok", None);
    assert_ne!(nfd["sha256"], nfc["sha256"]);
    assert!(s.ws.path(nfd["path"].as_str().unwrap()).is_file());
    assert!(
        s.document(NFD_NAME)["text"]
            .as_str()
            .unwrap()
            .contains("decomposed")
    );
}

fn put_malformed_front_matter(s: &Scene) {
    s.ws.write(
        "bad-frontmatter.md",
        "---\ntitle: [unclosed\ntags: {\n---\n# Body survives\n",
    );
}

fn check_malformed_front_matter(s: &Scene) {
    let fm = s.check("bad-frontmatter.md", "ok", Some("frontmatter_invalid"));
    let detail = fm["detail"].as_str().unwrap();
    assert!(detail.contains("line"), "{fm}");
    let doc = s.document("bad-frontmatter.md");
    assert_eq!(doc["frontmatter_error"], detail, "{doc}");
    assert_eq!(doc["frontmatter"], Value::Null, "{doc}");
    let body = &doc["text"].as_str().unwrap()[doc["body_start"].as_u64().unwrap() as usize..];
    assert_eq!(body, "# Body survives\n", "{doc}");
}

/// One bad input next to the good note: exit 0, no panic, the good note
/// `ok`, the bad input's record as `check` says, a valid store.
fn one(put: fn(&Scene), check: fn(&Scene)) {
    let mut s = Scene::new();
    put(&s);
    s.ingest();
    check(&s);
    s.validate();
}

#[test]
fn invalid_utf8_is_failed_with_the_byte_offset() {
    one(put_invalid_utf8, check_invalid_utf8);
}

#[test]
fn binary_file_named_md_is_skipped() {
    one(put_binary, check_binary);
}

#[test]
fn empty_file_is_ok_with_a_reason() {
    one(put_empty, check_empty);
}

#[test]
fn file_over_the_size_limit_is_skipped_unread() {
    one(put_too_large, check_too_large);
}

#[test]
fn unreadable_file_is_failed() {
    let mut s = Scene::new();
    put_unreadable_file(&s);
    s.unprivileged = true;
    let run = s.ingest();
    check_unreadable_file(&s);
    assert!(
        run.stderr.contains(LOCKED_FILE) && run.stderr.contains("read_failed"),
        "a failed file is reported: {}",
        run.stderr
    );
    s.validate();
}

#[test]
fn unreadable_directory_is_skipped() {
    let mut s = Scene::new();
    put_unreadable_dir(&s);
    s.unprivileged = true;
    let run = s.ingest();
    check_unreadable_dir(&s);
    // A whole subtree left out is said on stderr, not only in the manifest.
    assert!(
        run.stderr.contains(&format!(
            "warning: cannot list directory '{LOCKED_DIR}' (Permission denied"
        )) && run.stderr.contains("nothing under it is ingested"),
        "{}",
        run.stderr
    );
    s.validate();
}

#[test]
fn escaping_link_whose_target_cannot_be_checked_is_refused() {
    let mut s = Scene::new();
    // The target sits in a directory only its owner may search: the
    // unprivileged ingest cannot tell where the link leads.
    let private = s.outside.path().join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::write(private.join("secret.md"), format!("# {OUTSIDE_TEXT}\n")).unwrap();
    set_mode(&private, 0o700);
    symlink(private.join("secret.md"), s.ws.path("escape.md")).unwrap();
    s.unprivileged = true;
    let run = s.ingest();
    let r = s.check("escape.md", "skipped", Some("symlink_refused"));
    assert_eq!(r["sha256"], Value::Null, "{r}");
    if is_root() {
        assert!(
            r["detail"].as_str().unwrap().contains("cannot be resolved"),
            "{r}"
        );
    }
    assert!(
        run.stderr.contains("refused 1 symbolic link"),
        "{}",
        run.stderr
    );
    s.validate();
}

#[test]
fn non_utf8_names_that_read_alike_each_get_a_record() {
    let mut s = Scene::new();
    for name in [b"caf\xe9.md".as_slice(), b"caf\xe8.md".as_slice()] {
        std::fs::write(s.ws.root().join(OsStr::from_bytes(name)), "# Latin-1\n").unwrap();
    }
    s.ws.write("caf\u{fffd}.md", "# a real replacement character\n");
    s.ingest();
    let alike: Vec<Value> = s
        .records()
        .into_iter()
        .filter(|r| r["path"] == "caf\u{fffd}.md")
        .collect();
    assert_eq!(alike.len(), 3, "{alike:#?}");
    let details: Vec<&str> = alike
        .iter()
        .filter(|r| r["reason"] == "non_utf8_path")
        .map(|r| r["detail"].as_str().unwrap())
        .collect();
    // Each names its own bytes (hex of caf\xe8.md and caf\xe9.md).
    assert_eq!(details.len(), 2, "{alike:#?}");
    assert!(details[0].contains("636166e82e6d64"), "{details:?}");
    assert!(details[1].contains("636166e92e6d64"), "{details:?}");
    assert_eq!(
        alike.iter().filter(|r| r["parse_status"] == "ok").count(),
        1,
        "{alike:#?}"
    );
    s.validate();
}

#[test]
fn fifo_named_md_is_skipped() {
    one(put_fifo, check_fifo);
}

#[test]
fn symlink_loop_is_skipped() {
    one(put_symlink_loop, check_symlink_loop);
}

#[test]
fn symlink_to_a_directory_is_not_followed() {
    one(put_directory_link, check_directory_link);
}

#[test]
fn dangling_symlink_is_skipped() {
    one(put_dangling_link, check_dangling_link);
}

#[test]
fn symlink_inside_the_root_is_ingested() {
    one(put_inside_link, check_inside_link);
}

#[test]
fn symlink_escaping_the_root_is_refused_and_never_read() {
    let mut s = Scene::new();
    put_escaping_link(&s);
    let run = s.ingest();
    check_escaping_link(&s, &run);
    s.validate();
}

#[test]
fn names_with_spaces_newlines_and_non_ascii() {
    one(put_odd_names, check_odd_names);
}

#[test]
fn non_utf8_file_name_is_skipped_unread() {
    one(put_non_utf8_name, check_non_utf8_name);
}

#[test]
fn nfd_file_name_is_kept_as_on_disk() {
    one(put_nfd_name, check_nfd_name);
}

#[test]
fn malformed_front_matter_keeps_the_body() {
    one(put_malformed_front_matter, check_malformed_front_matter);
}

/// How to put a bad input in a workspace, and how to check its record.
type Case = (fn(&Scene), fn(&Scene));

/// Every bad input but the escaping link (its check needs the run's stderr).
const CASES: [Case; 15] = [
    (put_invalid_utf8, check_invalid_utf8),
    (put_binary, check_binary),
    (put_empty, check_empty),
    (put_too_large, check_too_large),
    (put_unreadable_file, check_unreadable_file),
    (put_unreadable_dir, check_unreadable_dir),
    (put_fifo, check_fifo),
    (put_symlink_loop, check_symlink_loop),
    (put_directory_link, check_directory_link),
    (put_dangling_link, check_dangling_link),
    (put_inside_link, check_inside_link),
    (put_odd_names, check_odd_names),
    (put_non_utf8_name, check_non_utf8_name),
    (put_nfd_name, check_nfd_name),
    (put_malformed_front_matter, check_malformed_front_matter),
];

/// Every bad input in one workspace, one run (as the unprivileged user when
/// root): each still gets its own record, and nothing else changes.
#[test]
fn all_bad_inputs_together_leave_the_rest_of_the_run_unaffected() {
    let mut s = Scene::new();
    for (put, _) in &CASES {
        put(&s);
    }
    put_escaping_link(&s);
    s.unprivileged = true;
    let run = s.ingest();
    for (_, check) in &CASES {
        check(&s);
    }
    check_escaping_link(&s, &run);

    // One record per discovered entry, and the counts add up.
    let records = s.records();
    let manifest = s.ws.manifest(&s.ws.current_run(), "ingest");
    let counts = &manifest["counts"];
    assert_eq!(counts["files"], records.len());
    let status = |st: &str| records.iter().filter(|r| r["parse_status"] == st).count();
    assert_eq!(counts["ok"], status("ok"));
    assert_eq!(counts["skipped"], status("skipped"));
    assert_eq!(counts["failed"], status("failed"));
    assert_eq!(
        status("ok") + status("skipped") + status("failed"),
        records.len()
    );
    // good, empty, inside-link, three odd names, two café, bad front matter
    assert_eq!(status("ok"), 9, "{records:#?}");
    // invalid UTF-8 and the unreadable file
    assert_eq!(status("failed"), 2, "{records:#?}");
    s.validate();
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
    let group = ws.documents(run);
    let fm = &group[0]["frontmatter"];
    assert_eq!(
        fm["title"], "Quoted Title",
        "quotes are YAML syntax, not part of the value"
    );
    assert_eq!(fm["aliases"], serde_json::json!(["One", "Two"]));
    assert_eq!(fm["tags"], serde_json::json!(["x", "y"]));
    assert_eq!(fm["project"], "apollo");
    assert_eq!(fm["custom"]["nested"], 1);
}
