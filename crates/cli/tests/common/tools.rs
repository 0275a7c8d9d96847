//! Outside programs the tests drive (Python with its packages, Graphviz,
//! the OCR programs...). When one is missing a test prints why and passes,
//! unless tools are required, where it fails: under `CI=true` or with
//! `AUDITGRAPH_REQUIRE_TEST_TOOLS=1` (set by `scripts/test`, which installs
//! all of them).

use std::path::Path;
use std::process::Command;

/// Whether a missing tool fails the test.
pub fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
        || std::env::var("AUDITGRAPH_REQUIRE_TEST_TOOLS").is_ok_and(|v| v == "1")
}

/// `None` after printing why, or a panic when tools are required.
pub fn missing<T>(what: &str) -> Option<T> {
    if required() {
        panic!(
            "{what} is required (CI=true or AUDITGRAPH_REQUIRE_TEST_TOOLS=1) but not available; scripts/test installs it"
        );
    }
    eprintln!("note: skipping: {what} is not available (scripts/test installs it)");
    None
}

/// A Python interpreter that can import `modules`: `AUDITGRAPH_TEST_PYTHON`
/// (the `.venv` of `scripts/test`), else the repository's `.venv`, else
/// `python3`.
pub fn python_with(modules: &[&str]) -> Option<String> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    let python = std::env::var("AUDITGRAPH_TEST_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .or_else(|| venv.exists().then(|| venv.display().to_string()))
        .unwrap_or_else(|| "python3".to_string());
    let ok = Command::new(&python)
        .args(["-c", &format!("import {}", modules.join(", "))])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Some(python)
    } else {
        missing(&format!("{python} with {}", modules.join(" and ")))
    }
}

/// `program arg` runs and succeeds, or [`missing`] naming its package.
pub fn program(name: &str, arg: &str, package: &str) -> Option<()> {
    let ok = Command::new(name)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Some(())
    } else {
        missing(&format!("{name} (Debian {package})"))
    }
}

/// Runs a Python script with these arguments; panics with its output when
/// it fails. Returns its standard output.
pub fn run_script(python: &str, script: &str, args: &[&Path]) -> Vec<u8> {
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
