//! Where a report goes, how it is redacted and rendered, and writing it.
//!
//! # Where
//!
//! Reports stay under `<root>/exports/`: the configured path is checked
//! lexically when the jobs file is read ([`super::config::confine`]), then
//! resolved with the rules of every export ([`crate::export::output`]: no
//! link out of the root, never a link, a directory, the store or a source
//! of the run), and the directory it resolves to must still be under
//! `<root>/exports` (an `exports` that is a link to `notes/` is refused).
//!
//! # Redaction
//!
//! Every string of the report, header included, goes through the
//! configured detectors with the profile's redaction key, so a secret in a
//! file name or a query becomes the same marker it would be in a note.
//! Stored note text was redacted at ingest; redacting it again changes
//! nothing.
//!
//! # Bytes
//!
//! JSON: the envelope (`format`, `header`, `report`) pretty-printed with a
//! final newline. Markdown: a title, the header as a list, the report's
//! sections. Both end with one newline and depend only on what they show.

use super::config::{EXPORTS_DIR, ReportFormat, confine};
use super::{Envelope, Header, REPORT_FORMAT, Report};
use crate::error::{Error, Result};
use crate::export::output::{self as export_output, OutputTarget};
use crate::pipeline::Workspace;
use crate::redact::Redactor;
use crate::store::StoreReader;
use crate::store::budget::BudgetReport;
use serde_json::Value;
use std::collections::HashSet;
use std::path::Path;

/// Resolves and checks the output of job `job` (see the module docs).
pub fn resolve(
    ws: &Workspace,
    reader: &StoreReader,
    run_id: &str,
    job: &str,
    rel: &Path,
) -> Result<OutputTarget> {
    let refuse = |why: String| Error::InvalidArgument {
        message: format!(
            "job `{job}`: refusing to write its report to {}: {why}; nothing was written. Set output.path in the jobs configuration to a file under exports/, such as exports/reports/{job}.md",
            rel.display()
        ),
    };
    confine(rel).map_err(&refuse)?;
    let records = crate::ingest::run_records(reader, run_id)?;
    let sources: HashSet<&str> = records.iter().map(|r| r.path.as_str()).collect();
    let name = rel
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let target = export_output::resolve(&ws.root, Some(rel), &name, &sources)?;
    let exports = ws.root.join(EXPORTS_DIR);
    if !target.dir.starts_with(&exports) {
        return Err(refuse(format!(
            "its directory resolves to {}, which is not under {} (is {} a link?)",
            target.dir.display(),
            exports.display(),
            exports.display()
        )));
    }
    Ok(target)
}

/// A report rendered, not yet written.
pub struct Rendered {
    pub bytes: Vec<u8>,
    pub redactions: u32,
}

/// The redactor of reports: the configured detectors with the profile's
/// key, so markers match those of the notes. Without a key file (a store
/// written with redaction off), a key of this process only: markers then
/// match nothing else, and still reveal nothing.
fn redactor(ws: &Workspace) -> Result<Redactor> {
    let policy = ws.config.config.security.redaction.policy();
    if !policy.enabled {
        return Ok(Redactor::disabled());
    }
    let path = ws.layout.key_file();
    let key = match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => text.trim().as_bytes().to_vec(),
        _ => {
            let mut raw = [0u8; 32];
            getrandom::fill(&mut raw).map_err(|e| Error::Failed {
                message: format!("cannot redact the report: no randomness for a key ({e})"),
            })?;
            hex::encode(raw).into_bytes()
        }
    };
    Ok(Redactor::new(&policy, &key)?)
}

/// Redacts every string (and object key) of `value`; returns how many
/// secrets were replaced.
fn redact_value(redactor: &Redactor, value: &mut Value) -> u32 {
    match value {
        Value::String(s) => {
            let r = redactor.redact(s);
            let n = r.total();
            if n > 0 {
                *s = r.text.into_owned();
            }
            n
        }
        Value::Array(items) => items.iter_mut().map(|v| redact_value(redactor, v)).sum(),
        Value::Object(map) => {
            let mut n = 0;
            let old = std::mem::take(map);
            for (k, mut v) in old {
                let key = redactor.redact(&k);
                n += key.total() + redact_value(redactor, &mut v);
                map.insert(key.text.into_owned(), v);
            }
            n
        }
        _ => 0,
    }
}

/// Redacts and renders a report (see the module docs).
pub fn render<T: Report>(
    ws: &Workspace,
    header: Header,
    report: T,
    format: ReportFormat,
) -> Result<Rendered> {
    let envelope = Envelope {
        format: REPORT_FORMAT.to_string(),
        header,
        report,
    };
    let failed = |e: serde_json::Error| Error::Failed {
        message: format!(
            "cannot render the report of job `{}`: {e}",
            envelope.header.job
        ),
    };
    let mut value = serde_json::to_value(&envelope).map_err(failed)?;
    let redactions = redact_value(&redactor(ws)?, &mut value);
    let mut envelope: Envelope<T> = serde_json::from_value(value).map_err(failed)?;
    envelope.header.redactions = redactions;
    let bytes = match format {
        ReportFormat::Json => {
            let mut b = serde_json::to_vec_pretty(&envelope).map_err(failed)?;
            b.push(b'\n');
            b
        }
        ReportFormat::Markdown => markdown(&envelope).into_bytes(),
    };
    Ok(Rendered { bytes, redactions })
}

fn markdown<T: Report>(envelope: &Envelope<T>) -> String {
    let h = &envelope.header;
    let mut out = format!("# {}\n\n", escape(&envelope.report.title()));
    let args = match &h.args {
        Value::Object(m) if m.is_empty() => String::new(),
        other => format!(", args {}", code(&other.to_string())),
    };
    out.push_str(&format!(
        "- Job: {} ({}{args})\n- Profile: {}\n- Run: {} (the current run when the report was made)\n- Time: {} (from {})\n- Made by: auditgraph {}\n- Secrets redacted in this report: {}\n",
        code(&h.job),
        code(&h.action),
        code(&h.profile),
        code(&h.run_id),
        h.now,
        h.now_from,
        h.auditgraph_version,
        h.redactions
    ));
    envelope.report.markdown(&mut out);
    while out.ends_with("\n\n") {
        out.pop();
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// Checks the budget for what the report adds (counted like an export:
/// on top of the store and the files already in `exports/`), then writes
/// it atomically.
pub fn write(ws: &Workspace, target: &OutputTarget, bytes: &[u8]) -> Result<BudgetReport> {
    let charge = crate::export::budget::charge(ws, target, bytes.len() as u64, "jobs run")?;
    if charge.blocks() {
        return Err(Error::BudgetBlocked(Box::new(charge.report)));
    }
    export_output::write(&ws.root, target, bytes)?;
    Ok(charge.report)
}

/// Markdown text with the characters that would start markup escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// Inline code that holds `text` whatever backticks it has.
pub fn code(text: &str) -> String {
    let text = text.replace(['\n', '\r'], " ");
    let longest = longest_run(&text, '`');
    let fence = "`".repeat(longest + 1);
    if longest > 0 || text.starts_with(' ') || text.ends_with(' ') {
        format!("{fence} {text} {fence}")
    } else {
        format!("{fence}{text}{fence}")
    }
}

fn longest_run(text: &str, ch: char) -> usize {
    let mut best = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == ch {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// A fenced block quoting `text` exactly: the content is every line
/// between the fences, less the one newline added before the closing
/// fence. The fence is longer than any run of `~` in the text.
pub fn quote_block(text: &str, out: &mut String) {
    let fence = "~".repeat(longest_run(text, '~').max(3) + 1);
    out.push_str(&fence);
    out.push_str("text\n");
    out.push_str(text);
    out.push('\n');
    out.push_str(&fence);
    out.push('\n');
}

/// `n thing`/`n things`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_and_quotes_hold_any_text() {
        assert_eq!(code("a"), "`a`");
        assert_eq!(code("a`b"), "`` a`b ``");
        let mut out = String::new();
        quote_block("x\n~~~~\ny", &mut out);
        assert_eq!(out, "~~~~~text\nx\n~~~~\ny\n~~~~~\n");
        assert_eq!(escape("a|b*c"), "a\\|b\\*c");
    }
}
