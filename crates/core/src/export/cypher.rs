//! The Cypher script of `export-neo4j`: load a run's graph into Neo4j 5.
//!
//! # Shape
//!
//! ```text
//! // comment header (run, profile, counts)
//! CREATE CONSTRAINT auditgraph_id_unique IF NOT EXISTS FOR (n:Auditgraph) REQUIRE n.id IS UNIQUE;
//! CREATE CONSTRAINT ag_note_id_unique IF NOT EXISTS FOR (n:AgNote) REQUIRE n.id IS UNIQUE;
//! …one per entity type present…
//! UNWIND [{id: "ent_…", name: "…", …}, …] AS row MERGE (n:Auditgraph:AgNote {id: row.id}) SET n.type = row.type, n.name = row.name, …;
//! …
//! UNWIND [{id: "lnk_…", from_id: "ent_…", to_id: "ent_…", …}, …] AS row MATCH (a:Auditgraph {id: row.from_id}) MATCH (b:Auditgraph {id: row.to_id}) MERGE (a)-[r:CONTAINS_SECTION {id: row.id}]->(b) SET r.type = row.type, …;
//! ```
//!
//! * **One statement per line.** Every line that is neither empty nor a
//!   `//` comment is one complete statement ending in `;`; no statement
//!   spans lines (line breaks inside strings are written `\n`), so a loader
//!   may split on lines. No `:begin`/`:commit` (those are `cypher-shell`
//!   commands, not Cypher) and no parameters: the rows are literal lists.
//! * **Labels.** Every node has the common label `Auditgraph` and one per
//!   entity type: the type split on non-alphanumerics, each part
//!   capitalized (`ag:note` → `AgNote`, `ag:section` → `AgSection`,
//!   `ag:technology` → `AgTechnology`, `ag:reference` → `AgReference`).
//!   Entity ids are unique across types, so `Auditgraph(id)` is unique too;
//!   relationship statements find their ends through it.
//! * **Relationship types.** The link type in upper snake case
//!   (`contains_section` → `CONTAINS_SECTION`, `mentions_technology`,
//!   `references`, `resolves_to_document`, `relates_to`).
//! * **Properties.** Scalars and lists of strings only (Neo4j cannot store
//!   maps, nor lists holding `null`). Nodes: `id type name canonical_key
//!   run_id rule_id aliases`, and where they apply `source_path source_hash
//!   document_id line_start line_end`, `tags` (notes), `level order
//!   parent_section_id` (sections), `origin mention_count document_count`
//!   (technologies), `target resolution reason target_id target_path`
//!   (references). Relationships: `id type rule_id confidence authority
//!   evidence_total run_id`, `evidence` (the evidence list as a JSON
//!   string of `{chunk_id, document_id, line_start, line_end[, via_id]}`;
//!   paths and hashes are on the note nodes) and `evidence_chunk_ids` /
//!   `evidence_source_paths` (distinct values, in evidence order). A property without a value (no source
//!   path, empty list) is absent from the row, so `SET` removes it.
//! * **Idempotent.** Constraints use `IF NOT EXISTS`; nodes and
//!   relationships `MERGE` on `id` and `SET` every property, so running the
//!   script twice leaves the database as running it once. It never deletes
//!   anything (entities of older runs stay until removed by hand).
//! * **Batches.** At most [`BATCH_ROWS`] rows and about [`BATCH_BYTES`]
//!   bytes per `UNWIND`, nodes grouped by type and relationships by type
//!   (in the order above), each sorted by id.
//! * **Literals.** Strings are written with JSON escapes (`\"`, `\\`, `\n`,
//!   `\uXXXX` for control characters), which Cypher string literals accept;
//!   non-ASCII is kept as UTF-8. Floats always have a fraction (`1.0`).
//!
//! Assumptions about other servers (FalkorDB 4.16 over Bolt was measured
//! by `scripts/falkordb-smoke.py`, see `docs/testing-falkordb.md`): data is
//! sent as literals, never parameters (FalkorDB mangles string and float
//! parameters and crashes on large parameter maps); statements stay below
//! the 200 KB FalkorDB was shown to accept; multi-label `MERGE`,
//! `UNWIND [...] AS row MATCH … MATCH … MERGE …` and `SET x.p = null` work
//! there. `CREATE CONSTRAINT … IF NOT EXISTS … REQUIRE … IS UNIQUE` is
//! Neo4j 5 syntax (4.4 accepted it too) that FalkorDB rejects: a loader for
//! FalkorDB skips the lines starting with `CREATE CONSTRAINT` and creates
//! indexes its own way (`CREATE INDEX FOR (n:Auditgraph) ON (n.id)` once,
//! `GRAPH.CONSTRAINT` over Redis for uniqueness). The `MERGE` statements do
//! not depend on the constraints; they only make loading fast and
//! uniqueness enforced. Strings use double quotes with JSON escapes;
//! control characters other than tab and line breaks (which real notes do
//! not contain) come out as `\uXXXX`, which Neo4j reads and FalkorDB was
//! not tested with.

use super::{ExportContext, ExportCounts, Rendered};
use crate::error::Result;
use crate::graph::model::{EdgeKind, NodeKind};
use rayon::prelude::*;
use serde_json::{Map, Value, json};
use std::fmt::Write;

/// At most this many rows per `UNWIND` statement.
pub const BATCH_ROWS: usize = 500;
/// A statement stops taking rows once its rows reach this many bytes (a
/// single larger row still gets a statement of its own). FalkorDB was
/// measured to accept 200 KB statements; this stays below.
pub const BATCH_BYTES: usize = 128 * 1024;

/// Splits rows into batches of at most `max_rows` rows and about
/// `max_bytes` bytes. Depends only on the rows, so it is deterministic.
fn batches<'a>(rows: &'a [&'a str], max_rows: usize, max_bytes: usize) -> Vec<&'a [&'a str]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, row) in rows.iter().enumerate() {
        if i > start && (i - start >= max_rows || bytes + row.len() > max_bytes) {
            out.push(&rows[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += row.len() + 2;
    }
    if start < rows.len() {
        out.push(&rows[start..]);
    }
    out
}

/// The common label of every node.
pub const COMMON_LABEL: &str = "Auditgraph";

/// The node label of an entity type (`ag:note` → `AgNote`).
pub fn label(type_name: &str) -> String {
    let mut out = String::new();
    for part in type_name.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "Ag");
    }
    out
}

/// The relationship type of a link type (`contains_section` →
/// `CONTAINS_SECTION`).
pub fn relationship_type(type_name: &str) -> String {
    let out: String = type_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("AG_{out}")
    } else {
        out
    }
}

/// The constraint name of a label (`AgNote` → `ag_note_id_unique`).
fn constraint_name(type_name: &str) -> String {
    let base: String = type_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{base}_id_unique")
}

fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A Cypher literal for a JSON value.
pub fn literal(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(&Value::String(s.clone()).to_string()),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                literal(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                if is_identifier(k) {
                    out.push_str(k);
                } else {
                    out.push('`');
                    out.push_str(&k.replace('`', "``"));
                    out.push('`');
                }
                out.push_str(": ");
                literal(v, out);
            }
            out.push('}');
        }
    }
}

/// Node properties of each entity type, in `SET` order (after `id`).
fn node_properties(kind: NodeKind) -> &'static [&'static str] {
    match kind {
        NodeKind::Note => &[
            "type",
            "name",
            "canonical_key",
            "run_id",
            "rule_id",
            "aliases",
            "source_path",
            "source_hash",
            "document_id",
            "line_start",
            "line_end",
            "tags",
        ],
        NodeKind::Section => &[
            "type",
            "name",
            "canonical_key",
            "run_id",
            "rule_id",
            "aliases",
            "source_path",
            "source_hash",
            "document_id",
            "line_start",
            "line_end",
            "level",
            "order",
            "parent_section_id",
        ],
        NodeKind::Technology => &[
            "type",
            "name",
            "canonical_key",
            "run_id",
            "rule_id",
            "aliases",
            "origin",
            "mention_count",
            "document_count",
        ],
        NodeKind::Reference => &[
            "type",
            "name",
            "canonical_key",
            "run_id",
            "rule_id",
            "aliases",
            "source_path",
            "source_hash",
            "document_id",
            "line_start",
            "line_end",
            "target",
            "resolution",
            "reason",
            "target_id",
            "target_path",
        ],
    }
}

const RELATIONSHIP_PROPERTIES: [&str; 9] = [
    "type",
    "rule_id",
    "confidence",
    "authority",
    "evidence_total",
    "evidence",
    "evidence_chunk_ids",
    "evidence_source_paths",
    "run_id",
];

/// Keeps a property only if Neo4j can store it: scalars, and lists of
/// strings without nulls; drops nulls and empty lists.
fn storable(value: &Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::Array(items) => {
            let strings: Vec<Value> = items.iter().filter(|v| v.is_string()).cloned().collect();
            (!strings.is_empty()).then_some(Value::Array(strings))
        }
        Value::Object(_) => Some(Value::String(value.to_string())),
        other => Some(other.clone()),
    }
}

/// The row of one entity.
fn node_row(entity: &Value, kind: NodeKind) -> Value {
    let get = |k: &str| entity.get(k).cloned().unwrap_or(Value::Null);
    let first_ref = entity
        .get("refs")
        .and_then(Value::as_array)
        .and_then(|r| r.first());
    let mut row = Map::new();
    row.insert("id".into(), get("id"));
    for &prop in node_properties(kind) {
        let value = match prop {
            "run_id" => entity
                .pointer("/provenance/run_id")
                .cloned()
                .unwrap_or(Value::Null),
            "rule_id" => entity
                .pointer("/provenance/created_by_rule")
                .cloned()
                .unwrap_or(Value::Null),
            "source_hash" => first_ref
                .and_then(|r| r.get("source_hash"))
                .cloned()
                .unwrap_or(Value::Null),
            "line_start" => first_ref
                .and_then(|r| r.pointer("/range/start_line"))
                .cloned()
                .unwrap_or(Value::Null),
            "line_end" => first_ref
                .and_then(|r| r.pointer("/range/end_line"))
                .cloned()
                .unwrap_or(Value::Null),
            other => get(other),
        };
        if let Some(v) = storable(&value) {
            row.insert(prop.into(), v);
        }
    }
    Value::Object(row)
}

/// The evidence items as stored on a relationship: where each one is
/// (`chunk_id`, `document_id`, `line_start`, `line_end`, and `via_id` for
/// `relates_to`). A document's path and hash are not repeated per item:
/// they are on its note node (`document_id`, `source_path`,
/// `source_hash`) and the paths also in `evidence_source_paths`. Keeping
/// rows small matters: servers parse literal rows at a few MB/s.
fn evidence_refs(evidence: &[Value]) -> Vec<Value> {
    const KEPT: [&str; 5] = [
        "chunk_id",
        "document_id",
        "line_start",
        "line_end",
        "via_id",
    ];
    evidence
        .iter()
        .map(|ev| {
            let kept: Map<String, Value> = KEPT
                .iter()
                .filter_map(|k| ev.get(*k).map(|v| ((*k).to_string(), v.clone())))
                .collect();
            Value::Object(kept)
        })
        .collect()
}

/// The row of one link.
fn relationship_row(link: &Value, run_id: &str) -> Value {
    let get = |k: &str| link.get(k).cloned().unwrap_or(Value::Null);
    let evidence = link
        .get("evidence")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let distinct = |key: &str| -> Value {
        let mut seen: Vec<Value> = Vec::new();
        for ev in &evidence {
            if let Some(v) = ev.get(key).filter(|v| v.is_string())
                && !seen.contains(v)
            {
                seen.push(v.clone());
            }
        }
        Value::Array(seen)
    };
    let mut row = Map::new();
    row.insert("id".into(), get("id"));
    row.insert("from_id".into(), get("from_id"));
    row.insert("to_id".into(), get("to_id"));
    for &prop in &RELATIONSHIP_PROPERTIES {
        let value = match prop {
            "evidence" => Value::String(Value::Array(evidence_refs(&evidence)).to_string()),
            "evidence_chunk_ids" => distinct("chunk_id"),
            "evidence_source_paths" => distinct("source_path"),
            "run_id" => json!(run_id),
            other => get(other),
        };
        if let Some(v) = storable(&value) {
            row.insert(prop.into(), v);
        }
    }
    Value::Object(row)
}

fn unwind(out: &mut String, rows: &[&str]) {
    out.push_str("UNWIND [");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(row);
    }
    out.push_str("] AS row ");
}

fn set_clause(out: &mut String, var: &str, props: &[&str]) {
    out.push_str("SET ");
    for (i, p) in props.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{var}.{p} = row.{p}");
    }
}

/// Property holding a row's hash in the database (sync only).
pub const ROW_HASH: &str = "row_hash";

/// The rows of the selection, each made into a `T` by `finish` as soon as
/// it is built (so a large graph is never held as JSON values): nodes with
/// their type and relationships with theirs, in selection order (by id).
#[allow(clippy::type_complexity)]
fn row_values<T: Send>(
    ctx: &ExportContext<'_>,
    finish: impl Fn(Value, SyncTarget) -> T + Sync,
) -> Result<(Vec<(NodeKind, T)>, Vec<(EdgeKind, T)>)> {
    let view = ctx.view();
    let graph = &view.graph;
    let sel = ctx.selection;
    let run_id = ctx.run.run_id.as_str();
    let node_rows: Vec<(NodeKind, T)> = sel
        .nodes
        .par_iter()
        .map(|&i| -> Result<(NodeKind, T)> {
            let kind = graph
                .nodes
                .get(i as usize)
                .map(|n| n.kind)
                .unwrap_or(NodeKind::Note);
            let row = node_row(&view.entity(i)?, kind);
            Ok((kind, finish(row, SyncTarget::Nodes)))
        })
        .collect::<Result<Vec<_>>>()?;
    let edge_rows: Vec<(EdgeKind, T)> = sel
        .edges
        .par_iter()
        .filter_map(|&e| {
            let edge = graph.edges.get(e)?;
            let row = relationship_row(&view.link(e), run_id);
            Some((edge.kind, finish(row, SyncTarget::Relationships)))
        })
        .collect();
    Ok((node_rows, edge_rows))
}

fn literal_text(value: &Value) -> String {
    let mut text = String::new();
    literal(value, &mut text);
    text
}

/// Properties the script sets once per statement instead of per row: the
/// same for every row of a group (see [`constants`]).
const NODE_CONSTANTS: [&str; 2] = ["type", "run_id"];
const RELATIONSHIP_CONSTANTS: [&str; 4] = ["type", "rule_id", "authority", "run_id"];

/// The values of the per-statement properties of a group.
fn constants(
    target: SyncTarget,
    type_name: &str,
    rule: &str,
    run_id: &str,
) -> Vec<(&'static str, Value)> {
    match target {
        SyncTarget::Nodes => vec![("type", json!(type_name)), ("run_id", json!(run_id))],
        SyncTarget::Relationships => vec![
            ("type", json!(type_name)),
            ("rule_id", json!(rule)),
            (
                "authority",
                json!(
                    EdgeKind::ALL
                        .iter()
                        .find(|k| k.type_name() == type_name)
                        .map_or("", |k| k.authority())
                ),
            ),
            ("run_id", json!(run_id)),
        ],
    }
}

/// The rows of the script, as Cypher literals, without the properties the
/// statements set once.
#[allow(clippy::type_complexity)]
fn rows(ctx: &ExportContext<'_>) -> Result<(Vec<(NodeKind, String)>, Vec<(EdgeKind, String)>)> {
    row_values(ctx, |mut v, target| {
        if let Value::Object(m) = &mut v {
            let hoisted: &[&str] = match target {
                SyncTarget::Nodes => &NODE_CONSTANTS,
                SyncTarget::Relationships => &RELATIONSHIP_CONSTANTS,
            };
            for key in hoisted {
                m.remove(*key);
            }
        }
        literal_text(&v)
    })
}

/// `SET var.p = row.p, …`, with the properties in `constants` set to their
/// literal value instead.
fn set_clause_with(out: &mut String, var: &str, props: &[&str], constants: &[(&str, Value)]) {
    out.push_str("SET ");
    for (i, p) in props.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        match constants.iter().find(|(k, _)| k == p) {
            Some((_, value)) => {
                let _ = write!(out, "{var}.{p} = ");
                literal(value, out);
            }
            None => {
                let _ = write!(out, "{var}.{p} = row.{p}");
            }
        }
    }
}

/// The `MERGE … SET …` part of a node statement.
fn node_merge(out: &mut String, kind: NodeKind) {
    let _ = write!(
        out,
        "MERGE (n:{COMMON_LABEL}:{} {{id: row.id}}) ",
        label(kind.type_name())
    );
}

/// The `MATCH … MERGE …` part of a relationship statement.
fn relationship_merge(out: &mut String, kind: EdgeKind) {
    let _ = write!(
        out,
        "MATCH (a:{COMMON_LABEL} {{id: row.from_id}}) MATCH (b:{COMMON_LABEL} {{id: row.to_id}}) MERGE (a)-[r:{} {{id: row.id}}]->(b) ",
        relationship_type(kind.type_name())
    );
}

/// Renders the script.
pub fn render(ctx: &ExportContext<'_>) -> Result<Rendered> {
    let run_id = ctx.run.run_id.as_str();
    let (node_rows, edge_rows) = rows(ctx)?;

    let mut out = String::new();
    let _ = writeln!(
        out,
        "// auditgraph export-neo4j of run {run_id} (profile {})",
        ctx.ws.config.profile_name
    );
    let _ = writeln!(
        out,
        "// {} nodes, {} relationships; written by auditgraph {}",
        node_rows.len(),
        edge_rows.len(),
        crate::version::AUDITGRAPH_VERSION
    );
    out.push_str(
        "// Every line that is not a comment is one complete Cypher statement. Safe to run again: constraints use IF NOT EXISTS, nodes and relationships MERGE on id.\n",
    );

    let kinds_present: Vec<NodeKind> = NodeKind::ALL
        .into_iter()
        .filter(|k| node_rows.iter().any(|(nk, _)| nk == k))
        .collect();
    let _ = writeln!(
        out,
        "CREATE CONSTRAINT {} IF NOT EXISTS FOR (n:{COMMON_LABEL}) REQUIRE n.id IS UNIQUE;",
        constraint_name("auditgraph")
    );
    for kind in &kinds_present {
        let _ = writeln!(
            out,
            "CREATE CONSTRAINT {} IF NOT EXISTS FOR (n:{}) REQUIRE n.id IS UNIQUE;",
            constraint_name(kind.type_name()),
            label(kind.type_name())
        );
    }

    for kind in &kinds_present {
        let rows: Vec<&str> = node_rows
            .iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, r)| r.as_str())
            .collect();
        let fixed = constants(SyncTarget::Nodes, kind.type_name(), "", run_id);
        for batch in batches(&rows, BATCH_ROWS, BATCH_BYTES) {
            unwind(&mut out, batch);
            node_merge(&mut out, *kind);
            set_clause_with(&mut out, "n", node_properties(*kind), &fixed);
            out.push_str(";\n");
        }
    }

    for kind in EdgeKind::ALL {
        let rows: Vec<&str> = edge_rows
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, r)| r.as_str())
            .collect();
        let fixed = constants(
            SyncTarget::Relationships,
            kind.type_name(),
            kind.rule(),
            run_id,
        );
        for batch in batches(&rows, BATCH_ROWS, BATCH_BYTES) {
            unwind(&mut out, batch);
            relationship_merge(&mut out, kind);
            set_clause_with(&mut out, "r", &RELATIONSHIP_PROPERTIES, &fixed);
            out.push_str(";\n");
        }
    }

    Ok(Rendered {
        bytes: out.into_bytes(),
        counts: ExportCounts {
            entities: node_rows.len(),
            links: edge_rows.len(),
            documents: None,
            chunks: None,
        },
    })
}

/// What a live sync sends (see [`sync_plan`]): groups of rows, nodes
/// before relationships, one group per entity or link type.
#[derive(Debug, Clone)]
pub struct SyncPlan {
    /// Labels whose `id` gets a uniqueness constraint (or an index).
    pub schema: Vec<SchemaRule>,
    pub groups: Vec<SyncGroup>,
}

impl SyncPlan {
    pub fn count(&self, target: SyncTarget) -> usize {
        self.groups
            .iter()
            .filter(|g| g.target == target)
            .map(|g| g.rows.len())
            .sum()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncTarget {
    Nodes,
    Relationships,
}

/// The rows of one entity type (or link type).
#[derive(Debug, Clone)]
pub struct SyncGroup {
    pub target: SyncTarget,
    /// `MERGE …` (nodes) or `MATCH … MERGE …` (relationships), up to `SET`.
    merge: String,
    /// The properties the write sets (`row_hash` last).
    properties: Vec<&'static str>,
    /// What a probe matches a row against.
    probe_match: String,
    /// Counts what the database holds of this group (see [`Self::presence`]).
    presence: String,
    /// Sorted by id.
    pub rows: Vec<SyncRow>,
}

/// One entity or link.
#[derive(Debug, Clone)]
pub struct SyncRow {
    pub id: String,
    /// The whole row as a Cypher literal, `row_hash` included.
    full: String,
    /// `{id, [from_id,] row_hash}`: what a probe needs.
    key: String,
}

impl SyncGroup {
    /// Read-only statements, each over a slice of the rows, that return one
    /// record per row to write: its `id` and whether it is `missing` (else
    /// it is there with another `row_hash`). Rows not returned are
    /// unchanged.
    pub fn probes(&self, max_rows: usize, max_bytes: usize) -> Vec<(usize, String)> {
        let keys: Vec<&str> = self.rows.iter().map(|r| r.key.as_str()).collect();
        batches(&keys, max_rows.max(1), max_bytes)
            .into_iter()
            .map(|batch| {
                let mut q = String::new();
                unwind(&mut q, batch);
                q.push_str(&self.probe_match);
                let _ = write!(
                    q,
                    "WITH row, x WHERE x IS NULL OR x.{ROW_HASH} IS NULL OR x.{ROW_HASH} <> row.{ROW_HASH} RETURN row.id AS id, x IS NULL AS missing"
                );
                (batch.len(), q)
            })
            .collect()
    }

    /// Write statements for the rows at `indexes` (positions in `rows`):
    /// each `MERGE`s on `id`, sets the properties where the stored
    /// `row_hash` differs, and returns `written`.
    pub fn writes(
        &self,
        indexes: &[usize],
        max_rows: usize,
        max_bytes: usize,
    ) -> Vec<(usize, String)> {
        let rows: Vec<&str> = indexes
            .iter()
            .filter_map(|&i| self.rows.get(i))
            .map(|r| r.full.as_str())
            .collect();
        let var = match self.target {
            SyncTarget::Nodes => "n",
            SyncTarget::Relationships => "r",
        };
        batches(&rows, max_rows.max(1), max_bytes)
            .into_iter()
            .map(|batch| {
                let mut q = String::new();
                unwind(&mut q, batch);
                q.push_str(&self.merge);
                let _ = write!(
                    q,
                    "WITH {var}, row WHERE {var}.{ROW_HASH} IS NULL OR {var}.{ROW_HASH} <> row.{ROW_HASH} "
                );
                set_clause(&mut q, var, &self.properties);
                let _ = write!(q, " RETURN count({var}) AS written");
                (batch.len(), q)
            })
            .collect()
    }

    /// Read-only: returns `present`, how many entities (or relationships)
    /// of this group's label (type) the database holds. When there are
    /// none, every row is missing and the probes can be skipped.
    pub fn presence(&self) -> &str {
        &self.presence
    }

    /// The position of the row with `id`.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.rows.binary_search_by(|r| r.id.as_str().cmp(id)).ok()
    }
}

/// The uniqueness of `id` on one label: a Neo4j 5 constraint (the same
/// statement the export script has), and the index a server without
/// constraints (FalkorDB) gets instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaRule {
    pub label: String,
    pub constraint: String,
    pub index: String,
}

impl SchemaRule {
    fn new(label_name: String, type_name: &str) -> SchemaRule {
        SchemaRule {
            constraint: format!(
                "CREATE CONSTRAINT {} IF NOT EXISTS FOR (n:{label_name}) REQUIRE n.id IS UNIQUE",
                constraint_name(type_name)
            ),
            index: format!("CREATE INDEX FOR (n:{label_name}) ON (n.id)"),
            label: label_name,
        }
    }
}

/// A sync row from a script row: without `run_id` (it would change every
/// row on every run; the sync records the run once) and with `row_hash`,
/// the hash of the rest, so that unchanged rows are found and skipped.
fn sync_row(mut row: Value) -> SyncRow {
    let Value::Object(map) = &mut row else {
        return SyncRow {
            id: String::new(),
            full: literal_text(&row),
            key: literal_text(&row),
        };
    };
    map.remove("run_id");
    let hash = crate::hashing::sha256_hex(literal_text(&Value::Object(map.clone())).as_bytes());
    let hash = json!(hash.get(..16).unwrap_or(&hash));
    map.insert(ROW_HASH.into(), hash.clone());
    let id = map
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut key = Map::new();
    key.insert("id".into(), json!(id));
    if let Some(from) = map.get("from_id") {
        key.insert("from_id".into(), from.clone());
    }
    key.insert(ROW_HASH.into(), hash);
    SyncRow {
        id,
        full: literal_text(&row),
        key: literal_text(&Value::Object(key)),
    }
}

/// The sync rows of one type, sorted by id.
fn sync_rows<K: PartialEq + Sync>(rows: &[(K, SyncRow)], kind: K) -> Vec<SyncRow> {
    let mut out: Vec<SyncRow> = rows
        .iter()
        .filter(|(k, _)| *k == kind)
        .map(|(_, r)| r.clone())
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// Plans a live sync of the selection: the same rows as the script, in
/// groups per type, nodes before relationships. A sync probes each group
/// for the rows that are missing or differ ([`SyncGroup::probes`]) and
/// writes only those ([`SyncGroup::writes`]); a second sync of the same
/// run writes nothing.
pub fn sync_plan(ctx: &ExportContext<'_>) -> Result<SyncPlan> {
    let (node_rows, edge_rows) = row_values(ctx, |v, _| sync_row(v))?;
    let mut schema = vec![SchemaRule::new(COMMON_LABEL.to_string(), "auditgraph")];
    let mut groups = Vec::new();
    for kind in NodeKind::ALL {
        let rows = sync_rows(&node_rows, kind);
        if rows.is_empty() {
            continue;
        }
        schema.push(SchemaRule::new(label(kind.type_name()), kind.type_name()));
        let mut merge = String::new();
        node_merge(&mut merge, kind);
        let mut properties = node_properties(kind).to_vec();
        properties.push(ROW_HASH);
        groups.push(SyncGroup {
            target: SyncTarget::Nodes,
            merge,
            properties,
            probe_match: format!("OPTIONAL MATCH (x:{COMMON_LABEL} {{id: row.id}}) "),
            presence: format!(
                "MATCH (x:{}) RETURN count(x) AS present",
                label(kind.type_name())
            ),
            rows,
        });
    }
    for kind in EdgeKind::ALL {
        let rows = sync_rows(&edge_rows, kind);
        if rows.is_empty() {
            continue;
        }
        let mut merge = String::new();
        relationship_merge(&mut merge, kind);
        let mut properties = RELATIONSHIP_PROPERTIES.to_vec();
        properties.push(ROW_HASH);
        groups.push(SyncGroup {
            target: SyncTarget::Relationships,
            merge,
            properties,
            probe_match: format!(
                "OPTIONAL MATCH (:{COMMON_LABEL} {{id: row.from_id}})-[x:{} {{id: row.id}}]->() ",
                relationship_type(kind.type_name())
            ),
            presence: format!(
                "MATCH ()-[x:{}]->() RETURN count(x) AS present",
                relationship_type(kind.type_name())
            ),
            rows,
        });
    }
    Ok(SyncPlan { schema, groups })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(label("ag:note"), "AgNote");
        assert_eq!(label("ag:technology"), "AgTechnology");
        assert_eq!(label("commit"), "Commit");
        assert_eq!(relationship_type("contains_section"), "CONTAINS_SECTION");
        assert_eq!(
            relationship_type("resolves_to_document"),
            "RESOLVES_TO_DOCUMENT"
        );
        assert_eq!(constraint_name("ag:note"), "ag_note_id_unique");
    }

    #[test]
    fn literals() {
        let mut s = String::new();
        literal(
            &json!({"a": "x\"y\\z\n", "b": [1, 2.5, 1.0], "c": null, "odd key": true}),
            &mut s,
        );
        assert_eq!(
            s,
            r#"{a: "x\"y\\z\n", b: [1, 2.5, 1.0], c: null, `odd key`: true}"#
        );
    }

    #[test]
    fn storable_values() {
        assert_eq!(storable(&json!(null)), None);
        assert_eq!(storable(&json!([])), None);
        assert_eq!(storable(&json!(["a", null])), Some(json!(["a"])));
        assert_eq!(storable(&json!({"k": 1})), Some(json!("{\"k\":1}")));
    }
}

#[cfg(test)]
mod batch_tests {
    use super::*;

    #[test]
    fn batches_respect_rows_and_bytes() {
        let small = "x".repeat(10);
        let rows: Vec<&str> = (0..1200).map(|_| small.as_str()).collect();
        let sizes: Vec<usize> = batches(&rows, BATCH_ROWS, BATCH_BYTES)
            .iter()
            .map(|b| b.len())
            .collect();
        assert_eq!(sizes, vec![500, 500, 200]);
        let big = "y".repeat(BATCH_BYTES / 3);
        let rows: Vec<&str> = (0..7).map(|_| big.as_str()).collect();
        let sizes: Vec<usize> = batches(&rows, BATCH_ROWS, BATCH_BYTES)
            .iter()
            .map(|b| b.len())
            .collect();
        assert_eq!(sizes, vec![2, 2, 2, 1]);
        let huge = "z".repeat(BATCH_BYTES * 2);
        let rows = [huge.as_str(), small.as_str()];
        let sizes: Vec<usize> = batches(&rows, BATCH_ROWS, BATCH_BYTES)
            .iter()
            .map(|b| b.len())
            .collect();
        assert_eq!(sizes, vec![1, 1]);
        assert!(batches(&[], BATCH_ROWS, BATCH_BYTES).is_empty());
    }
}
