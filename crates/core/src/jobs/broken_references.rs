//! `report.broken_references`: the current run's unresolved references
//! (links and `[[wikilinks]]` to notes the workspace does not hold), by
//! document, each with its line, target and the reason it did not resolve.

use super::output::{code, count, escape};
use super::{Report, ReportContext};
use crate::error::Result;
use crate::graph::model::{NodeDetail, ReferenceState};
use crate::query::load::{Need, open_run};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BrokenReferences {
    pub total: usize,
    pub documents_total: usize,
    /// At most `limit` documents are listed, in path order.
    pub limit: usize,
    pub documents: Vec<DocumentReferences>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DocumentReferences {
    pub source_path: String,
    pub document_id: String,
    pub source_hash: String,
    /// In line order.
    pub references: Vec<BrokenReference>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BrokenReference {
    pub id: String,
    pub line: u32,
    pub target: String,
    pub reason: String,
}

pub fn build(ctx: &ReportContext<'_>, limit: usize) -> Result<BrokenReferences> {
    let run = open_run(ctx.ws, Some(&ctx.run_id), Need::Graph)?;
    let view = &run.view;
    let mut by_doc: BTreeMap<&str, (u32, Vec<BrokenReference>)> = BTreeMap::new();
    for (i, node) in view.graph.nodes.iter().enumerate() {
        let (
            NodeDetail::Reference {
                target,
                state: ReferenceState::Unresolved,
                reason,
                ..
            },
            Some(doc),
        ) = (&node.detail, node.doc)
        else {
            continue;
        };
        let Some(d) = view.graph.docs.get(doc as usize) else {
            continue;
        };
        by_doc
            .entry(d.path.as_str())
            .or_insert((doc, Vec::new()))
            .1
            .push(BrokenReference {
                id: view.node_id(i as u32).to_string(),
                line: node.line_start,
                target: target.clone(),
                reason: reason.clone(),
            });
    }
    let total = by_doc.values().map(|(_, refs)| refs.len()).sum();
    let documents_total = by_doc.len();
    let documents = by_doc
        .into_iter()
        .take(limit)
        .map(|(path, (doc, mut references))| {
            references.sort_by(|a, b| (a.line, &a.target, &a.id).cmp(&(b.line, &b.target, &b.id)));
            DocumentReferences {
                source_path: path.to_string(),
                document_id: crate::ingest::document::document_id(path),
                source_hash: view.source_hash(doc).to_string(),
                references,
            }
        })
        .collect();
    Ok(BrokenReferences {
        total,
        documents_total,
        limit,
        documents,
    })
}

impl Report for BrokenReferences {
    fn title(&self) -> String {
        "Broken references".to_string()
    }

    fn markdown(&self, out: &mut String) {
        out.push_str(&format!(
            "\n{} in {}.\n",
            count(self.total, "unresolved reference", "unresolved references"),
            count(self.documents_total, "document", "documents")
        ));
        for doc in &self.documents {
            out.push_str(&format!(
                "\n## {}\n\nDocument {}, SHA-256 {}\n\n| line | target | reason | id |\n|---:|---|---|---|\n",
                code(&doc.source_path),
                code(&doc.document_id),
                code(&doc.source_hash)
            ));
            for r in &doc.references {
                out.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    r.line,
                    code(&r.target),
                    escape(&r.reason),
                    code(&r.id)
                ));
            }
        }
        if self.documents_total > self.documents.len() {
            out.push_str(&format!(
                "\n… and {} more (raise `limit`)\n",
                count(
                    self.documents_total - self.documents.len(),
                    "document",
                    "documents"
                )
            ));
        }
    }
}
