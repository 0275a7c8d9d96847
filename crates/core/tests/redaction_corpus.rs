//! Recall and false positives of every detector over the hand-written corpus
//! in `tests/fixtures/redaction/` (see the header of `positives.txt` for the
//! format). Prints a per-detector table; asserts 100% recall, zero false
//! positives, and that redaction of every case is complete and idempotent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use auditgraph_core::redact::{DEFAULT_DETECTORS, RedactionPolicy, Redactor};

const OPEN: char = '⟦';
const CLOSE: char = '⟧';

struct Case {
    detector: String,
    context: String,
    description: String,
    text: String,
    expected: Vec<(usize, usize)>,
}

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/redaction")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse(source: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut current: Option<(String, Vec<&str>)> = None;
    for line in source.lines() {
        if let Some(header) = line.strip_prefix("=== ") {
            if let Some((h, body)) = current.take() {
                cases.push(make_case(&h, &body.join("\n")));
            }
            current = Some((header.to_string(), Vec::new()));
        } else if let Some((_, body)) = current.as_mut() {
            body.push(line);
        }
    }
    if let Some((h, body)) = current.take() {
        cases.push(make_case(&h, &body.join("\n")));
    }
    cases
}

fn make_case(header: &str, marked: &str) -> Case {
    let mut parts = header.splitn(3, '|').map(str::trim);
    let detector = parts.next().unwrap_or_default().to_string();
    let context = parts.next().unwrap_or_default().to_string();
    let description = parts.next().unwrap_or_default().to_string();
    let mut text = String::new();
    let mut expected = Vec::new();
    let mut open = None;
    for c in marked.chars() {
        match c {
            OPEN => open = Some(text.len()),
            CLOSE => expected.push((open.take().expect("unbalanced marks"), text.len())),
            _ => text.push(c),
        }
    }
    assert!(open.is_none(), "unbalanced marks in {header}");
    Case {
        detector,
        context,
        description,
        text,
        expected,
    }
}

#[derive(Default)]
struct Row {
    cases: u32,
    true_positives: u32,
    misses: u32,
    false_positives: u32,
}

#[test]
fn detector_corpus_recall_and_false_positives() {
    let positives = parse(&fixture("positives.txt"));
    let near_misses = parse(&fixture("near_misses.txt"));
    let redactor = Redactor::new(&RedactionPolicy::default(), b"corpus-key").unwrap();

    let mut table: BTreeMap<String, Row> = DEFAULT_DETECTORS
        .iter()
        .map(|d| (d.to_string(), Row::default()))
        .collect();
    let mut problems = Vec::new();

    for case in positives.iter().chain(near_misses.iter()) {
        let label = format!(
            "[{} | {} | {}]",
            case.detector, case.context, case.description
        );
        if case.detector != "none" {
            assert!(
                !case.expected.is_empty(),
                "{label}: positive case without a marked secret"
            );
            table.entry(case.detector.clone()).or_default().cases += 1;
        } else {
            assert!(
                case.expected.is_empty(),
                "{label}: near miss with a marked secret"
            );
        }
        let findings = redactor.scan(&case.text);
        for &(s, e) in &case.expected {
            let hit = findings
                .iter()
                .any(|f| f.start == s && f.end == e && f.detector == case.detector);
            let row = table.entry(case.detector.clone()).or_default();
            if hit {
                row.true_positives += 1;
            } else {
                row.misses += 1;
                let near: Vec<String> = findings
                    .iter()
                    .filter(|f| f.start < e && s < f.end)
                    .map(|f| format!("{} {:?}", f.detector, &case.text[f.start..f.end]))
                    .collect();
                problems.push(format!(
                    "MISS {label}: {:?} (overlapping findings: {near:?})",
                    &case.text[s..e]
                ));
            }
        }
        for f in &findings {
            let expected = case
                .expected
                .iter()
                .any(|&(s, e)| f.start == s && f.end == e)
                && f.detector == case.detector;
            if !expected {
                table
                    .entry(f.detector.to_string())
                    .or_default()
                    .false_positives += 1;
                problems.push(format!(
                    "FALSE POSITIVE {label}: {} {:?}",
                    f.detector,
                    &case.text[f.start..f.end]
                ));
            }
        }

        // Redaction itself: every secret gone, lines kept, idempotent.
        let redacted = redactor.redact(&case.text);
        for &(s, e) in &case.expected {
            if redacted.text.contains(&case.text[s..e]) {
                problems.push(format!("{label}: secret survived redaction"));
            }
        }
        if redacted.text.matches('\n').count() != case.text.matches('\n').count() {
            problems.push(format!("{label}: line count changed"));
        }
        let rescan = redactor.scan(&redacted.text);
        if !rescan.is_empty() {
            problems.push(format!("{label}: scan matches redacted text: {rescan:?}"));
        }
        if redactor.redact(&redacted.text).text != redacted.text {
            problems.push(format!("{label}: not idempotent"));
        }
    }

    eprintln!(
        "\n{} positive cases, {} near-miss cases",
        positives.len(),
        near_misses.len()
    );
    eprintln!(
        "{:<18} {:>6} {:>6} {:>7} {:>6} {:>8}",
        "detector", "cases", "TP", "misses", "FP", "recall"
    );
    let mut total = Row::default();
    for (name, row) in &table {
        let secrets = row.true_positives + row.misses;
        eprintln!(
            "{:<18} {:>6} {:>6} {:>7} {:>6} {:>7.1}%",
            name,
            row.cases,
            row.true_positives,
            row.misses,
            row.false_positives,
            if secrets == 0 {
                100.0
            } else {
                100.0 * f64::from(row.true_positives) / f64::from(secrets)
            }
        );
        total.cases += row.cases;
        total.true_positives += row.true_positives;
        total.misses += row.misses;
        total.false_positives += row.false_positives;
    }
    eprintln!(
        "{:<18} {:>6} {:>6} {:>7} {:>6}",
        "total", total.cases, total.true_positives, total.misses, total.false_positives
    );
    for p in &problems {
        eprintln!("{p}");
    }

    for (name, row) in &table {
        assert!(
            row.cases >= 5,
            "detector {name} has only {} positive cases",
            row.cases
        );
    }
    assert!(
        near_misses.len() >= 30,
        "only {} near misses",
        near_misses.len()
    );
    assert!(
        problems.is_empty(),
        "{} problem(s), see above",
        problems.len()
    );
}
