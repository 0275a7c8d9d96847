//! Git provenance against real repositories made with the `git` program:
//! fixture histories with exact expected outputs, the Python auditgraph's
//! own history (a bundle, cloned here) checked against `git log --follow`
//! and `git shortlog`, incremental runs and determinism across clones.
//!
//! Every `git` runs with an isolated configuration (no system or user
//! config, a fixed HOME, UTC, C locale), so the machine's settings never
//! leak in. No network is used.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Run, Ws, command, git_cmd};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

const ENABLED: &str = "profiles:\n  default:\n    git_provenance:\n      enabled: true\n";

/// Author and committer variables for one identity at one date.
fn identity<'a>(name: &'a OsStr, email: &'a str, date: &'a str) -> [(&'static str, &'a OsStr); 6] {
    [
        ("GIT_AUTHOR_NAME", name),
        ("GIT_AUTHOR_EMAIL", OsStr::new(email)),
        ("GIT_AUTHOR_DATE", OsStr::new(date)),
        ("GIT_COMMITTER_NAME", name),
        ("GIT_COMMITTER_EMAIL", OsStr::new(email)),
        ("GIT_COMMITTER_DATE", OsStr::new(date)),
    ]
}

/// JSON strings.
fn strs(items: &[&str]) -> Vec<Value> {
    items.iter().map(|s| Value::from(*s)).collect()
}

/// A repository made by the tests.
struct Repo {
    ws: Ws,
    home: tempfile::TempDir,
}

impl Repo {
    fn new() -> Repo {
        let repo = Repo {
            ws: Ws::new(),
            home: tempfile::tempdir().unwrap(),
        };
        repo.git(&["init", "-q"]);
        repo
    }

    fn root(&self) -> &Path {
        self.ws.root()
    }

    #[track_caller]
    fn git(&self, args: &[&str]) -> String {
        self.git_env(args, &[])
    }

    #[track_caller]
    fn git_env(&self, args: &[&str], env: &[(&str, &OsStr)]) -> String {
        let mut cmd = git_cmd(self.root(), self.home.path());
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Commits everything staged (`-a` too) as `author` at `date`
    /// (`2024-01-01T10:00:00+02:00`); returns the sha.
    #[track_caller]
    fn commit(&self, message: &str, author: (&[u8], &str), date: &str) -> String {
        let env = identity(OsStr::from_bytes(author.0), author.1, date);
        self.git_env(&["add", "-A"], &[]);
        self.git_env(&["commit", "-q", "--allow-empty", "-m", message], &env);
        self.head()
    }

    fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    fn enable(&self) {
        self.ws.write("config/pkg.yaml", ENABLED);
        let exclude = self.root().join(".git/info/exclude");
        std::fs::create_dir_all(exclude.parent().unwrap()).unwrap();
        std::fs::write(exclude, ".pkg/\nconfig/\n").unwrap();
    }

    fn run(&self, args: &[&str]) -> Run {
        self.ws.run(args)
    }

    #[track_caller]
    fn json(&self, args: &[&str]) -> Value {
        self.ws.json(args)
    }
}

const ALICE: (&[u8], &str) = (b"Alice", "alice@example.com");
const ALICE_AGAIN: (&[u8], &str) = (b"Alice A.", "Alice@Example.com");
const BOB: (&[u8], &str) = (b"Bob", "bob@example.com");

fn shas(log: &Value) -> Vec<String> {
    log["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["sha"].as_str().unwrap().to_string())
        .collect()
}

fn field(log: &Value, key: &str) -> Vec<Value> {
    log["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c[key].clone())
        .collect()
}

/// Linear history: add, edit, rename, edit; a lightweight and an annotated
/// tag; authors in three time zones, one of them with two names.
fn linear() -> (Repo, Vec<String>) {
    let r = Repo::new();
    r.ws.write("notes/a.md", "# A\n\none\ntwo\nthree\n");
    r.ws.write("README.md", "readme\n");
    let c1 = r.commit("add a", ALICE, "2024-01-01T10:00:00+02:00");
    r.ws.write("notes/a.md", "# A\n\none\ntwo\nthree\nfour\n");
    let c2 = r.commit("edit a", BOB, "2024-01-02T10:00:00-07:00");
    r.git(&["tag", "v1"]);
    r.git(&["mv", "notes/a.md", "notes/b.md"]);
    let c3 = r.commit("rename a to b", ALICE_AGAIN, "2024-01-03T10:00:00+05:30");
    r.ws.write("notes/b.md", "# A\n\none\nTWO\nthree\nfour\n");
    let c4 = r.commit("edit b", BOB, "2024-01-04T10:00:00+00:00");
    r.git_env(
        &["tag", "-a", "v2", "-m", "release two"],
        &[
            ("GIT_COMMITTER_NAME", OsStr::new("Rel")),
            ("GIT_COMMITTER_EMAIL", OsStr::new("rel@example.com")),
            (
                "GIT_COMMITTER_DATE",
                OsStr::new("2024-01-05T00:00:00+00:00"),
            ),
        ],
    );
    r.enable();
    (r, vec![c1, c2, c3, c4])
}

#[test]
fn linear_history_with_rename_tags_and_time_zones() {
    let (r, c) = linear();
    r.run(&["run"]).ok();
    let log = r.json(&["git-log", "notes/b.md"]);
    assert_eq!(
        shas(&log),
        vec![c[3].clone(), c[2].clone(), c[1].clone(), c[0].clone()]
    );
    assert_eq!(
        field(&log, "change"),
        strs(&["modified", "renamed", "modified", "added"])
    );
    assert_eq!(
        field(&log, "path"),
        strs(&["notes/b.md", "notes/b.md", "notes/a.md", "notes/a.md"])
    );
    assert_eq!(
        field(&log, "lines_added"),
        [1, 0, 1, 5].map(Value::from).to_vec()
    );
    assert_eq!(
        field(&log, "lines_removed"),
        [1, 0, 0, 0].map(Value::from).to_vec()
    );
    assert_eq!(
        field(&log, "authored_at"),
        strs(&[
            "2024-01-04T10:00:00Z",
            "2024-01-03T04:30:00Z",
            "2024-01-02T17:00:00Z",
            "2024-01-01T08:00:00Z"
        ])
    );
    assert_eq!(
        field(&log, "author_tz"),
        strs(&["+0000", "+0530", "-0700", "+0200"])
    );
    assert_eq!(field(&log, "tags")[0], serde_json::json!(["v2"]));
    assert_eq!(field(&log, "tags")[2], serde_json::json!(["v1"]));
    assert_eq!(log["file_id"], Value::from(entity("file:notes/b.md")));
    // Line counts agree with git's own.
    for (i, sha) in shas(&log).iter().enumerate() {
        let numstat = r.git(&["show", "--numstat", "--format=", "-M", sha]);
        let line = numstat.lines().find(|l| l.contains("notes/")).unwrap();
        let mut parts = line.split('\t');
        let added: u64 = parts.next().unwrap().parse().unwrap();
        let removed: u64 = parts.next().unwrap().parse().unwrap();
        assert_eq!(
            log["commits"][i]["lines_added"],
            Value::from(added),
            "{sha}"
        );
        assert_eq!(
            log["commits"][i]["lines_removed"],
            Value::from(removed),
            "{sha}"
        );
    }

    let intro = r.json(&["git-introduced", "notes/b.md"]);
    assert_eq!(intro["commit"]["sha"], Value::from(c[0].clone()));
    assert_eq!(intro["commit"]["path"], Value::from("notes/a.md"));
    assert_eq!(intro["lineage"].as_array().unwrap().len(), 1);
    assert_eq!(intro["lineage"][0]["old_path"], Value::from("notes/a.md"));
    assert_eq!(intro["lineage"][0]["similarity"], Value::from(100));
    assert_eq!(intro["lineage"][0]["commit_sha"], Value::from(c[2].clone()));
    assert_eq!(
        intro["lineage"][0]["detection_method"],
        Value::from("identical_content")
    );

    let who = r.json(&["git-who", "notes/b.md"]);
    assert_eq!(
        who["authors"],
        serde_json::json!([
            {
                "id": author_id("alice@example.com"),
                "email": "alice@example.com",
                "names": ["Alice", "Alice A."],
                "commit_count": 2,
                "earliest": "2024-01-01T08:00:00Z",
                "latest": "2024-01-03T04:30:00Z"
            },
            {
                "id": author_id("bob@example.com"),
                "email": "bob@example.com",
                "names": ["Bob"],
                "commit_count": 2,
                "earliest": "2024-01-02T17:00:00Z",
                "latest": "2024-01-04T10:00:00Z"
            }
        ])
    );

    // The human output, exactly.
    let human = r.run(&["git-log", "notes/b.md"]).ok().stdout;
    let short = |i: usize| &c[i][..10];
    assert_eq!(
        human,
        format!(
            "notes/b.md: 4 commit(s)\n  {} 2024-01-04 Bob <bob@example.com> edit b\n  {} 2024-01-03 Alice A. <Alice@Example.com> rename a to b  (renamed from notes/a.md)\n  {} 2024-01-02 Bob <bob@example.com> edit a\n  {} 2024-01-01 Alice <alice@example.com> add a\n",
            short(3),
            short(2),
            short(1),
            short(0)
        )
    );

    // git-history: the file's note and the links with rules and evidence.
    let history = r.json(&["git-history", "notes/b.md"]);
    assert_eq!(history["note_id"], Value::from(entity("note:notes/b.md")));
    let links = history["links"].as_array().unwrap();
    let rules: BTreeSet<&str> = links
        .iter()
        .map(|l| l["rule_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        BTreeSet::from([
            "link.git_authored_by.v1",
            "link.git_branch.v1",
            "link.git_contains.v1",
            "link.git_file_note.v1",
            "link.git_modifies.v1",
            "link.git_parent.v1",
            "link.git_succeeded_from.v1",
            "link.git_tags.v1"
        ])
    );
    let modifies = links
        .iter()
        .find(|l| l["type"] == "modifies" && l["evidence"][0]["commit_sha"] == c[3].as_str())
        .unwrap();
    assert_eq!(modifies["evidence"][0]["lines_added"], Value::from(1));
    assert_eq!(modifies["to_id"], Value::from(entity("file:notes/b.md")));

    // The history is a source: its object store counts in the budget's base.
    let status = r.json(&["status"]);
    let run = r.ws.current_run();
    let ingested = r.ws.manifest(&run, "ingest")["counts"]["source_bytes"]
        .as_u64()
        .unwrap();
    let objects: u64 = std::fs::read_dir(r.root().join(".git/objects"))
        .unwrap()
        .flatten()
        .filter(|d| d.path().is_dir())
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
        .map(|f| f.metadata().unwrap().len())
        .sum();
    assert_eq!(
        status["source_bytes"].as_u64(),
        Some(ingested + objects),
        "{status}"
    );
    // The manifest records the selection.
    let manifest = r.ws.manifest(&run, "git-provenance");
    let counts = &manifest["counts"];
    assert_eq!(counts["commits_walked"], Value::from(4));
    assert_eq!(counts["selected"], Value::from(4));
    // root, the two tagged commits, the branch head (= c4, tagged)
    assert_eq!(counts["structural"], Value::from(3));
    assert_eq!(counts["head_branch"], Value::from("main"));
    assert_eq!(counts["tags"], Value::from(2));
    assert!(manifest["pieces"]["git_repo"].is_string());
}

fn entity(key: &str) -> String {
    format!("ent_{}", sha256_hex(key))
}

fn author_id(email: &str) -> String {
    format!("author_{}", sha256_hex(&format!("author:{email}")))
}

#[test]
fn paths_relative_to_cwd_or_root_and_unknown_files() {
    let (r, c) = linear();
    r.run(&["run"]).ok();
    // From a subdirectory: relative to it.
    let out: Run = command()
        .current_dir(r.root().join("notes"))
        .args([
            "--root",
            r.root().to_str().unwrap(),
            "--json",
            "git-log",
            "b.md",
        ])
        .output()
        .unwrap()
        .into();
    assert_eq!(shas(&out.ok().json()).len(), 4);
    // An absolute path.
    let abs = r.root().join("notes/b.md");
    let log = r.json(&["git-log", abs.to_str().unwrap()]);
    assert_eq!(shas(&log)[0], c[3]);
    // A file no commit touched, and an untracked one on disk.
    let unknown = r.run(&["git-log", "notes/none.md"]).code(1);
    assert!(
        unknown
            .stderr
            .contains("no git provenance for 'notes/none.md'"),
        "{}",
        unknown.stderr
    );
    r.ws.write("notes/untracked.md", "not committed\n");
    let untracked = r.run(&["--json", "git-who", "notes/untracked.md"]).code(1);
    assert!(untracked.stdout.contains("unknown_file") || untracked.stderr.contains("unknown_file"));
}

#[test]
fn merge_delete_and_readd() {
    let r = Repo::new();
    r.ws.write("f.txt", "one\n");
    let c1 = r.commit("add f", ALICE, "2024-02-01T10:00:00+00:00");
    r.git(&["checkout", "-q", "-b", "side"]);
    r.ws.write("g.txt", "side\n");
    let c2 = r.commit("add g on side", BOB, "2024-02-02T10:00:00+00:00");
    r.git(&["checkout", "-q", "main"]);
    r.ws.write("f.txt", "one\ntwo\n");
    let c3 = r.commit("edit f", ALICE, "2024-02-03T10:00:00+00:00");
    let env = identity(
        OsStr::new("Alice"),
        "alice@example.com",
        "2024-02-04T10:00:00+00:00",
    );
    r.git_env(
        &["merge", "-q", "--no-ff", "-m", "merge side", "side"],
        &env,
    );
    let m = r.head();
    r.git(&["rm", "-q", "f.txt"]);
    let c5 = r.commit("delete f", BOB, "2024-02-05T10:00:00+00:00");
    r.ws.write("f.txt", "reborn\n");
    let c6 = r.commit("add f again", BOB, "2024-02-06T10:00:00+00:00");
    r.enable();
    r.run(&["run"]).ok();

    let log = r.json(&["git-log", "f.txt"]);
    assert_eq!(
        shas(&log),
        vec![c6.clone(), c5.clone(), c3.clone(), c1.clone()]
    );
    assert_eq!(
        field(&log, "change"),
        strs(&["added", "deleted", "modified", "added"])
    );
    // The merge changed nothing that was not on one of its parents.
    assert!(!shas(&log).contains(&m));
    let g = r.json(&["git-log", "g.txt"]);
    assert_eq!(shas(&g), vec![c2.clone()]);
    for file in ["f.txt", "g.txt"] {
        let ours: BTreeSet<String> = shas(&r.json(&["git-log", file])).into_iter().collect();
        let theirs: BTreeSet<String> = r
            .git(&["log", "--follow", "--format=%H", "--", file])
            .lines()
            .map(String::from)
            .collect();
        assert_eq!(ours, theirs, "{file}");
    }
    // First add, as git sees it.
    let intro = r.json(&["git-introduced", "f.txt"]);
    assert_eq!(intro["commit"]["sha"], Value::from(c1.clone()));
    let history = r.json(&["git-history", "g.txt"]);
    assert_eq!(
        history["commits"][0]["parent_shas"],
        serde_json::json!([c1])
    );
    let manifest = r.ws.manifest(&r.ws.current_run(), "git-provenance");
    // root c1, merge m, branch heads c6 (main) and c2 (side)
    assert_eq!(manifest["counts"]["structural"], Value::from(4));
    assert_eq!(manifest["counts"]["refs"], Value::from(2));
}

#[test]
fn non_utf8_author_names() {
    let r = Repo::new();
    r.ws.write("n.txt", "x\n");
    // Latin-1 bytes, as old tools wrote them, with no encoding header.
    let c1 = r.commit(
        "latin-1 author",
        (b"Jos\xe9 Mu\xf1oz", "jose@example.com"),
        "2024-03-01T00:00:00+01:00",
    );
    r.ws.write("n.txt", "x\ny\n");
    r.git(&["config", "i18n.commitEncoding", "ISO-8859-1"]);
    let c2 = r.commit(
        "declared latin-1",
        (b"Ren\xe9", "rene@example.com"),
        "2024-03-02T00:00:00-03:00",
    );
    r.enable();
    r.run(&["run"]).ok();
    let log = r.json(&["git-log", "n.txt"]);
    assert_eq!(shas(&log), vec![c2, c1]);
    assert_eq!(field(&log, "author_name"), strs(&["René", "José Muñoz"]));
}

#[test]
fn empty_repository_and_not_a_repository() {
    let r = Repo::new();
    r.ws.write("notes/a.md", "# A\n");
    r.enable();
    let out = r.run(&["run"]).ok();
    assert!(!out.stderr.contains("skipped"), "{}", out.stderr);
    let manifest = r.ws.manifest(&r.ws.current_run(), "git-provenance");
    assert_eq!(manifest["counts"]["commits_walked"], Value::from(0));
    assert_eq!(manifest["counts"]["head"], Value::Null);
    let none = r.run(&["git-log", "notes/a.md"]).code(1);
    assert!(none.stderr.contains("no git provenance"), "{}", none.stderr);

    let plain = Ws::new();
    plain.write("config/pkg.yaml", ENABLED);
    plain.write("notes/a.md", "# A\n");
    let out = plain.run(&["run"]).ok();
    assert!(
        out.stderr.contains("git provenance is enabled but skipped")
            && out.stderr.contains("is not a git repository"),
        "{}",
        out.stderr
    );
    let err = plain.run(&["git-who", "notes/a.md"]).code(1);
    assert!(
        err.stderr.contains("is not a git repository"),
        "{}",
        err.stderr
    );
}

#[test]
fn shallow_clone_detached_head_and_submodule() {
    let (src, c) = linear();
    // Shallow: the boundary commit shows as adding what it holds.
    let dst = Ws::new();
    let home = tempfile::tempdir().unwrap();
    let url = format!("file://{}", src.root().display());
    let target = clone_into(
        dst.root(),
        home.path(),
        &["--depth", "2", &url],
        "clone",
        ENABLED,
    );
    at(&target, &["run"]).ok();
    let log = at(&target, &["--json", "git-log", "notes/b.md"])
        .ok()
        .json();
    assert_eq!(shas(&log), vec![c[3].clone(), c[2].clone()]);
    assert_eq!(
        field(&log, "grafted"),
        vec![Value::from(false), Value::from(true)]
    );
    assert_eq!(field(&log, "change"), strs(&["modified", "added"]));

    // Detached HEAD at c2, with a submodule added on top of a branch.
    let (r, c) = linear();
    let sub = Repo::new();
    sub.ws.write("s.txt", "sub\n");
    sub.commit("sub", ALICE, "2024-01-01T00:00:00+00:00");
    r.git(&["checkout", "-q", "-b", "with-sub"]);
    r.git(&[
        "submodule",
        "-q",
        "add",
        &format!("file://{}", sub.root().display()),
        "vendor/sub",
    ]);
    let c5 = r.commit("add submodule", ALICE, "2024-01-06T00:00:00+00:00");
    r.run(&["run"]).ok();
    let sublog = r.json(&["git-log", "vendor/sub"]);
    assert_eq!(shas(&sublog), vec![c5]);
    assert_eq!(field(&sublog, "lines_added"), vec![Value::Null]);
    let manifest = r.ws.manifest(&r.ws.current_run(), "git-provenance");
    assert_eq!(manifest["counts"]["submodules"], Value::from(1));

    r.git(&["checkout", "-q", "--detach", &c[1]]);
    r.run(&["run"]).ok();
    let manifest = r.ws.manifest(&r.ws.current_run(), "git-provenance");
    assert_eq!(manifest["counts"]["head_branch"], Value::Null);
    assert_eq!(manifest["counts"]["head"], Value::from(c[1].clone()));
    let log = r.json(&["git-log", "notes/a.md"]);
    assert_eq!(shas(&log), vec![c[1].clone(), c[0].clone()]);
}

#[test]
fn a_new_commit_reads_only_itself() {
    let (r, _) = linear();
    let first = r.json(&["run"]);
    assert_eq!(first["detail"]["git_commits_read"], Value::from(4));
    let run1 = r.ws.current_run();
    let again = r.json(&["run"]);
    assert_eq!(again["detail"]["outcome"], Value::from("up_to_date"));
    r.ws.write("notes/c.md", "# C\n");
    r.commit("add c", BOB, "2024-01-07T00:00:00+00:00");
    let second = r.json(&["run"]);
    assert_eq!(second["detail"]["git_commits_read"], Value::from(1));
    assert_eq!(second["detail"]["git_commits_reused"], Value::from(4));
    let run2 = r.ws.current_run();
    assert_ne!(run1, run2, "the run id covers HEAD");
    // A commit that only moves HEAD (no file change) still makes a new run.
    r.commit("empty", BOB, "2024-01-08T00:00:00+00:00");
    r.json(&["run"]);
    assert_ne!(r.ws.current_run(), run2);
    // The same history read cold, in a fresh store, gives the same pieces
    // as the incremental runs did.
    let m1 = r.ws.manifest(&r.ws.current_run(), "git-provenance");
    std::fs::remove_dir_all(r.root().join(".pkg")).unwrap();
    let cold = r.json(&["run"]);
    assert_eq!(cold["detail"]["git_commits_read"], Value::from(6));
    let m2 = r.ws.manifest(&r.ws.current_run(), "git-provenance");
    assert_eq!(m1["pieces"], m2["pieces"]);
    assert_eq!(m1["outputs_hash"], m2["outputs_hash"]);
}

/// Clones the Python auditgraph's history into `parent/name`.
fn clone_bundle(parent: &Path, name: &str, home: &Path) -> PathBuf {
    let bundle = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/git/auditgraph-python.bundle");
    let bundle = if bundle.exists() {
        bundle
    } else {
        PathBuf::from("/work/shared/fixtures/git/auditgraph-python.bundle")
    };
    // Only the history matters here; ingest a small part of the tree.
    clone_into(
        parent,
        home,
        &[bundle.to_str().unwrap()],
        name,
        "profiles:\n  default:\n    include_paths: [\"README.md\"]\n    git_provenance:\n      enabled: true\n",
    )
}

/// `git clone -q <args> <name>` in `parent`, with `config` as the clone's
/// configuration (and the store and configuration ignored by git).
fn clone_into(parent: &Path, home: &Path, args: &[&str], name: &str, config: &str) -> PathBuf {
    let out = git_cmd(parent, home)
        .args(["clone", "-q"])
        .args(args)
        .arg(name)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = parent.join(name);
    std::fs::write(root.join(".git/info/exclude"), ".pkg/\nconfig/\n").unwrap();
    std::fs::create_dir_all(root.join("config")).unwrap();
    std::fs::write(root.join("config/pkg.yaml"), config).unwrap();
    root
}

fn at(root: &Path, args: &[&str]) -> Run {
    command()
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .unwrap()
        .into()
}

#[test]
fn real_history_agrees_with_git() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let root = clone_bundle(dir.path(), "auditgraph-python", home.path());
    at(&root, &["run"]).ok();
    let git = |args: &[&str]| -> String {
        let out = git_cmd(&root, home.path()).args(args).output().unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let files: Vec<String> = git(&["ls-files"])
        .lines()
        .enumerate()
        .filter(|(i, _)| i % 9 == 0)
        .map(|(_, f)| f.to_string())
        .chain([
            "docs/integration/mcp_guide.md".to_string(),
            "specs/017-pdf-doc-ingestion/tasks.md".to_string(),
            "README.md".to_string(),
        ])
        .collect();
    let (mut agreed, mut copies, mut shortlogs) = (0, 0, 0);
    for file in &files {
        let log = at(&root, &["--json", "git-log", file]).ok().json();
        let ours: BTreeSet<String> = shas(&log).into_iter().collect();
        let follow = git(&["log", "--follow", "--format=%H", "--", file]);
        let theirs: BTreeSet<String> = follow.lines().map(String::from).collect();
        if ours != theirs {
            // git --follow also follows copies (status C); this tool
            // follows renames only. Any other difference fails.
            let status = git(&["log", "--follow", "--format=", "--name-status", "--", file]);
            assert!(
                status.lines().any(|l| l.starts_with('C')),
                "{file}: ours {ours:?}\ngit log --follow {theirs:?}"
            );
            copies += 1;
            continue;
        }
        agreed += 1;
        // Topological order: a commit's parents come after it.
        let order: Vec<String> = shas(&log);
        for (i, c) in log["commits"].as_array().unwrap().iter().enumerate() {
            for p in c["parent_shas"].as_array().unwrap() {
                if let Some(j) = order.iter().position(|s| s == p.as_str().unwrap()) {
                    assert!(j > i, "{file}: parent listed before child");
                }
            }
        }
        let intro = at(&root, &["--json", "git-introduced", file]).ok().json();
        let adds = git(&[
            "log",
            "--follow",
            "--diff-filter=A",
            "--format=%H",
            "--",
            file,
        ]);
        assert_eq!(
            intro["commit"]["sha"].as_str(),
            adds.lines().last(),
            "{file}"
        );
        // Authors: the same counts as git's, per (case-folded) email.
        let who = at(&root, &["--json", "git-who", file]).ok().json();
        let ours: BTreeMap<String, u64> = who["authors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["email"].as_str().unwrap().to_string(),
                    a["commit_count"].as_u64().unwrap(),
                )
            })
            .collect();
        let mut theirs: BTreeMap<String, u64> = BTreeMap::new();
        for email in git(&["log", "--follow", "--format=%aE", "--", file]).lines() {
            *theirs.entry(email.to_lowercase()).or_default() += 1;
        }
        assert_eq!(ours, theirs, "{file}");
        // Where path-limited history equals the followed one (no rename,
        // no side-branch commit that history simplification hides),
        // `git shortlog` must agree too.
        let plain: BTreeSet<String> = git(&["log", "--format=%H", "--", file])
            .lines()
            .map(String::from)
            .collect();
        if plain == ours_set(&log) {
            let mut short: BTreeMap<String, u64> = BTreeMap::new();
            for line in git(&["shortlog", "-sne", "HEAD", "--", file]).lines() {
                let (count, rest) = line.trim().split_once('\t').unwrap();
                let email = rest
                    .rsplit_once('<')
                    .unwrap()
                    .1
                    .trim_end_matches('>')
                    .to_lowercase();
                *short.entry(email).or_default() += count.parse::<u64>().unwrap();
            }
            assert_eq!(ours, short, "{file}: git shortlog");
            shortlogs += 1;
        }
    }
    eprintln!(
        "{agreed} files agree with git log --follow, {copies} differ by a copy, {shortlogs} checked against git shortlog"
    );
    assert!(agreed >= 40, "only {agreed} files agreed ({copies} copies)");
    assert!(
        shortlogs >= 20,
        "only {shortlogs} files checked against git shortlog"
    );
    // The renamed files were followed.
    let intro = at(
        &root,
        &["--json", "git-introduced", "docs/integration/mcp_guide.md"],
    )
    .ok()
    .json();
    assert_eq!(intro["lineage"][0]["old_path"], Value::from("MCP_GUIDE.md"));
}

fn ours_set(log: &Value) -> BTreeSet<String> {
    shas(log).into_iter().collect()
}

#[test]
fn two_clones_give_identical_provenance() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let ra = clone_bundle(a.path(), "one", home.path());
    let rb = clone_bundle(b.path(), "elsewhere", home.path());
    at(&ra, &["run"]).ok();
    at(&rb, &["run"]).ok();
    let run = |root: &Path| -> String {
        let state: Value = serde_json::from_slice(
            &std::fs::read(root.join(".pkg/profiles/default/store.json")).unwrap(),
        )
        .unwrap();
        state["current_run"].as_str().unwrap().to_string()
    };
    let manifest = |root: &Path| -> Value {
        let path = root
            .join(".pkg/profiles/default/runs")
            .join(run(root))
            .join("git-provenance-manifest.json");
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let (ma, mb) = (manifest(&ra), manifest(&rb));
    assert_eq!(ma["pieces"], mb["pieces"]);
    assert_eq!(ma["outputs_hash"], mb["outputs_hash"]);
    assert_eq!(ma["counts"], mb["counts"]);
    assert_eq!(run(&ra), run(&rb));
    // Every piece the tables name is byte-identical (content addressed:
    // same ids, and the files hash to them).
    let objects = |root: &Path| common::tree_hashes(&root.join(".pkg/profiles/default/objects"));
    let (oa, ob) = (objects(&ra), objects(&rb));
    for (path, hash) in &oa {
        if let Some(other) = ob.get(path) {
            assert_eq!(hash, other, "{path}");
        }
    }
    let history = |root: &Path| {
        at(root, &["--json", "git-history", "README.md"])
            .ok()
            .json()
    };
    assert_eq!(history(&ra), history(&rb));
    // Any thread count gives the same pieces.
    let c = tempfile::tempdir().unwrap();
    let rc = clone_bundle(c.path(), "single", home.path());
    let out: Run = command()
        .arg("--root")
        .arg(&rc)
        .arg("run")
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap()
        .into();
    out.ok();
    assert_eq!(manifest(&rc)["pieces"], ma["pieces"]);
}

#[test]
fn selection_tiers_hot_and_cold_paths_and_budget() {
    let r = Repo::new();
    let lines = |n: usize| (0..n).map(|i| format!("line {i}\n")).collect::<String>();
    r.ws.write("a.txt", "a\n");
    let c1 = r.commit("root", ALICE, "2024-04-01T00:00:00+00:00");
    r.ws.write("Cargo.lock", lines(100));
    let c2 = r.commit("lock only", ALICE, "2024-04-02T00:00:00+00:00");
    r.ws.write("src/x.rs", lines(10));
    let _small = r.commit("small", ALICE, "2024-04-03T00:00:00+00:00");
    r.ws.write("src/y.rs", lines(400));
    r.ws.write("src/z.rs", lines(400));
    let c4 = r.commit("large", ALICE, "2024-04-04T00:00:00+00:00");
    r.ws.write("docs/guide.md", "# Guide\n");
    let c5 = r.commit("docs", ALICE, "2024-04-05T00:00:00+00:00");
    r.ws.write("src/w.rs", "w\n");
    let c6 = r.commit("head", ALICE, "2024-04-06T00:00:00+00:00");
    r.enable();
    r.ws.write(
        "config/pkg.yaml",
        "profiles:\n  default:\n    git_provenance:\n      enabled: true\n      max_tier2_commits: 2\n      hot_paths: [\"docs/**\"]\n",
    );
    r.run(&["run"]).ok();
    let tier = |file: &str| -> (String, String, f64) {
        let log = r.json(&["git-log", file]);
        let c = &log["commits"][0];
        (
            c["sha"].as_str().unwrap().to_string(),
            c["tier"].as_str().unwrap().to_string(),
            c["importance_score"].as_f64().unwrap(),
        )
    };
    assert_eq!(tier("a.txt"), (c1, "structural".into(), -1.0));
    // All cold: score 0, kept as the earliest scored commit.
    assert_eq!(tier("Cargo.lock"), (c2, "scored".into(), 0.0));
    // 2 files + 800 lines / 400, the latest scored commit.
    assert_eq!(tier("src/y.rs"), (c4, "scored".into(), 4.0));
    assert_eq!(tier("docs/guide.md"), (c5, "structural".into(), -1.0));
    assert_eq!(tier("src/w.rs"), (c6, "structural".into(), -1.0));
    // Over the budget: the earliest and the latest scored commits come
    // first, so c3 (score 1.025) is left out and its file is unknown.
    let left_out = r.run(&["git-log", "src/x.rs"]).code(1);
    assert!(left_out.stderr.contains("no selected commit touched it"));
    let counts = r.ws.manifest(&r.ws.current_run(), "git-provenance")["counts"].clone();
    assert_eq!(counts["selected"], Value::from(5));
    assert_eq!(counts["structural"], Value::from(3));
    assert_eq!(counts["scored_candidates"], Value::from(3));
    assert_eq!(counts["scored_kept"], Value::from(2));
}

#[test]
fn never_writes_into_git_and_redacts_subjects() {
    let r = Repo::new();
    r.ws.write("a.md", "# A\n");
    let token = format!("ghp_{}", "mz6oNQGp3KxsnzjLzCdWjehmLKeZbcYglqOh");
    r.commit(
        &format!("rotate {token}"),
        ALICE,
        "2024-05-01T00:00:00+00:00",
    );
    r.enable();
    let before = common::tree_hashes(&r.root().join(".git"));
    r.run(&["run"]).ok();
    for cmd in ["git-who", "git-log", "git-introduced", "git-history"] {
        r.run(&[cmd, "a.md"]).ok();
    }
    r.run(&["rebuild"]).ok();
    assert_eq!(before, common::tree_hashes(&r.root().join(".git")));
    let log = r.json(&["git-log", "a.md"]);
    let subject = log["commits"][0]["subject"].as_str().unwrap();
    assert!(!subject.contains(&token), "{subject}");
    assert!(subject.starts_with("rotate <<redacted:"), "{subject}");
}

#[test]
fn stale_notes_from_git_history() {
    let (r, c) = linear();
    r.ws.write(
        "config/jobs.yaml",
        "jobs:\n  stale:\n    action: {type: report.stale_notes, args: {history: git, older_than: 2d}}\n    output: {format: json}\n",
    );
    r.run(&["run"]).ok();
    // Less than two days after the last commit: README.md (last changed
    // by c1) is stale; notes/b.md (changed by c4) is not.
    let doc = r.json(&["jobs", "run", "stale", "--now", "2024-01-06T00:00:00Z"]);
    let report: Value =
        serde_json::from_slice(&std::fs::read(doc["output"].as_str().unwrap()).unwrap()).unwrap();
    let body = &report["report"];
    assert_eq!(body["history"], Value::from("git"));
    let notes = body["notes"].as_array().unwrap();
    let stale: Vec<(&str, &str, &str)> = notes
        .iter()
        .map(|n| {
            (
                n["source_path"].as_str().unwrap(),
                n["unchanged_since"].as_str().unwrap(),
                n["since_commit"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        stale,
        vec![("README.md", "2024-01-01T08:00:00Z", c[0].as_str())]
    );
    // Four days later both are.
    let doc = r.json(&["jobs", "run", "stale", "--now", "2024-01-10T00:00:00Z"]);
    let report: Value =
        serde_json::from_slice(&std::fs::read(doc["output"].as_str().unwrap()).unwrap()).unwrap();
    let paths: Vec<&str> = report["report"]["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["source_path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, vec!["README.md", "notes/b.md"]);
}

#[test]
fn why_connected_goes_from_a_note_to_its_authors() {
    let (r, c) = linear();
    r.run(&["run"]).ok();
    let note = entity("note:notes/b.md");
    let bob = author_id("bob@example.com");
    let doc = r.json(&["why-connected", "--from", &note, "--to", &bob]);
    assert_eq!(doc["connected"], Value::from(true), "{doc}");
    assert_eq!(doc["length"], Value::from(3));
    assert_eq!(doc["from"]["type"], Value::from("ag:note"));
    assert_eq!(doc["to"]["type"], Value::from("author_identity"));
    let path = &doc["paths"][0]["edges"];
    let steps: Vec<(&str, &str)> = path
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["rule_id"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("source_of", "link.git_file_note.v1"),
            ("modifies", "link.git_modifies.v1"),
            ("authored_by", "link.git_authored_by.v1")
        ]
    );
    // Bob's newest commit to the file first, with its lines as evidence.
    assert_eq!(
        path[1]["evidence"][0]["commit_sha"],
        Value::from(c[3].clone())
    );
    assert_eq!(path[1]["evidence"][0]["lines_added"], Value::from(1));
    // Through the rename: the old path's file is connected too.
    let old = entity("file:notes/a.md");
    let doc = r.json(&["why-connected", "--from", &note, "--to", &old]);
    assert_eq!(doc["connected"], Value::from(true), "{doc}");
    // An id in neither graph is named with the way out.
    let err = r
        .run(&["why-connected", "--from", &note, "--to", "author_nobody"])
        .code(1);
    assert!(
        err.stderr
            .contains("neither the knowledge graph nor the git provenance"),
        "{}",
        err.stderr
    );
    // Notes among themselves are still answered by the knowledge graph.
    let readme = entity("note:README.md");
    let out = r.run(&["--json", "why-connected", "--from", &note, "--to", &readme]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.json().get("graph").is_none());
}

#[test]
fn node_shows_git_entities_with_their_links() {
    let (r, c) = linear();
    r.run(&["run"]).ok();
    let commit = format!("commit_{}", sha256_hex(&format!("commit:{}", c[3])));
    let node = r.json(&["node", &commit]);
    assert_eq!(node["type"], Value::from("commit"));
    assert_eq!(node["sha"], Value::from(c[3].clone()));
    assert_eq!(node["authored_at"], Value::from("2024-01-04T10:00:00Z"));
    let out: BTreeSet<&str> = node["outgoing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        out,
        BTreeSet::from(["authored_by", "modifies", "on_branch", "parent_of"])
    );
    let tag = format!("tag_{}", sha256_hex("tag:v2"));
    let node = r.json(&["node", &tag]);
    assert_eq!(node["tag_type"], Value::from("annotated"));
    assert_eq!(node["tagger_email"], Value::from("rel@example.com"));
    assert_eq!(node["subject"], Value::from("release two"));
    let alice = r.json(&["node", &author_id("alice@example.com")]);
    assert_eq!(
        alice["name_aliases"],
        serde_json::json!(["Alice", "Alice A."])
    );
    // A file entity, which the knowledge graph does not hold.
    let file = r.json(&["node", &entity("file:notes/b.md")]);
    assert_eq!(file["type"], Value::from("file"));
    assert_eq!(file["source_path"], Value::from("notes/b.md"));
    // Neighbours of an author: their commits, then what those touched.
    let around = r.json(&["neighbors", &author_id("bob@example.com"), "--depth", "2"]);
    let at = |d: u64| -> BTreeSet<String> {
        around["neighbors"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["depth"] == d)
            .map(|n| {
                format!(
                    "{} {}",
                    n["type"].as_str().unwrap(),
                    n["name"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(
        at(1),
        BTreeSet::from(["commit edit a".to_string(), "commit edit b".to_string()])
    );
    assert!(
        at(2).contains("file a.md") && at(2).contains("file b.md"),
        "{:?}",
        at(2)
    );
    assert!(
        at(2).contains("tag v1") && at(2).contains("ref main"),
        "{:?}",
        at(2)
    );
}

fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
}
