//! The tools' inputs: typed (their JSON Schema comes from these types),
//! without unknown fields, and bounded. A bound that is crossed is refused
//! with the field's name and the bound, never the value.

use rmcp::ErrorData;
use rmcp::handler::server::common::FromContextPart;
use rmcp::handler::server::tool::ToolCallContext;
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Longest query text, in characters.
pub const MAX_QUERY_CHARS: usize = 1024;
/// Longest id, run id, type, field name or edge type, in characters.
pub const MAX_NAME_CHARS: usize = 256;
/// Longest repository path a git tool takes.
pub const MAX_PATH_CHARS: usize = 1024;
/// Longest `where` predicate, in characters.
pub const MAX_PREDICATE_CHARS: usize = 512;
/// Most values of a repeatable field (`type`, `where`, `edge_type`).
pub const MAX_VALUES: usize = 32;
/// Most results a page may show.
pub const MAX_LIMIT: usize = 1000;
/// Most results a page may skip.
pub const MAX_OFFSET: usize = 1_000_000;
/// Deepest `neighbors` search, in edges.
pub const MAX_DEPTH: usize = 6;
/// Longest `why_connected` path, in edges.
pub const MAX_PATH_DEPTH: usize = 12;
/// Most shortest paths `why_connected` shows.
pub const MAX_PATHS: usize = 100;
/// Most ids per change kind `diff` lists.
pub const MAX_DIFF_LIMIT: usize = 10_000;

/// A tool's arguments, as rmcp's `Parameters` (whose name the `#[tool]`
/// macro looks for to give the tool its input schema), except that
/// arguments that do not fit are refused naming the field, never quoting
/// the value (serde's own messages quote it: `invalid type: string "..."`).
#[derive(Debug)]
pub struct Parameters<P>(pub P);

impl<P: JsonSchema> JsonSchema for Parameters<P> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        P::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        P::json_schema(generator)
    }
}

impl<S, P: DeserializeOwned> FromContextPart<ToolCallContext<'_, S>> for Parameters<P> {
    fn from_context_part(context: &mut ToolCallContext<S>) -> Result<Self, ErrorData> {
        let arguments = context.arguments.take().unwrap_or_default();
        serde_path_to_error::deserialize(Value::Object(arguments))
            .map(Parameters)
            .map_err(|e| misfit(&e))
    }
}

/// The refusal of arguments that do not deserialize: unknown and missing
/// fields are named (a field name is not a value), anything else says
/// which field and that its type or value is wrong.
fn misfit(err: &serde_path_to_error::Error<serde_json::Error>) -> ErrorData {
    let path = err.path().to_string();
    let inner = err.inner().to_string();
    let field_named = |prefix: &str| {
        inner.starts_with(prefix)
            && inner
                .split('`')
                .nth(1)
                .is_some_and(|name| name.chars().count() <= MAX_NAME_CHARS)
    };
    let why = if field_named("unknown field") || field_named("missing field") {
        inner
            .split(", expected")
            .next()
            .unwrap_or_default()
            .to_string()
    } else {
        "it does not have the type or range the tool's input schema gives".to_string()
    };
    refuse(if path == "." { "arguments" } else { &path }, why)
}

/// The refusal of an input outside its bounds (`invalid_input`).
pub fn refuse(field: &str, why: String) -> ErrorData {
    ErrorData::invalid_params(
        format!("input `{field}` refused: {why}"),
        Some(json!({ "status": "error", "code": "invalid_input", "field": field })),
    )
}

fn chars(field: &str, text: &str, max: usize) -> Result<(), ErrorData> {
    let n = text.chars().count();
    if n > max {
        return Err(refuse(
            field,
            format!("it holds {n} characters, at most {max} are allowed"),
        ));
    }
    Ok(())
}

fn opt_chars(field: &str, text: Option<&str>, max: usize) -> Result<(), ErrorData> {
    text.map_or(Ok(()), |t| chars(field, t, max))
}

fn values(field: &str, list: &[String], max_chars: usize) -> Result<(), ErrorData> {
    if list.len() > MAX_VALUES {
        return Err(refuse(
            field,
            format!(
                "it holds {} values, at most {MAX_VALUES} are allowed",
                list.len()
            ),
        ));
    }
    list.iter().try_for_each(|v| chars(field, v, max_chars))
}

fn at_most(field: &str, value: usize, max: usize) -> Result<(), ErrorData> {
    if value > max {
        return Err(refuse(
            field,
            format!("it is {value}, at most {max} is allowed"),
        ));
    }
    Ok(())
}

/// An input struct with the filtering, ordering and paging fields that
/// `query` and `list` share (serde's `flatten` cannot be combined with
/// `deny_unknown_fields`, so the fields are written out in each).
macro_rules! select_input {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Default, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            /// Keep only entities of these types (any of them)
            #[serde(default, rename = "type")]
            pub types: Vec<String>,
            /// Keep only entities where each `FIELD OP VALUE` holds (all of
            /// them). OP: = != > >= < <= ~ (contains)
            #[serde(default, rename = "where")]
            pub wheres: Vec<String>,
            /// Order by this field (ties by id) [default: query by score, list by id]
            #[serde(default)]
            #[schemars(length(max = 256))]
            pub sort: Option<String>,
            /// Reverse the sort order (missing values stay last)
            #[serde(default)]
            pub desc: bool,
            /// Show at most this many results [default: query 10, list 100]
            #[serde(default)]
            #[schemars(range(max = 1000))]
            pub limit: Option<usize>,
            /// Skip this many results first
            #[serde(default)]
            #[schemars(range(max = 1_000_000))]
            pub offset: usize,
            /// The run to read (id or unique prefix) [default: the current run]
            #[serde(default)]
            #[schemars(length(max = 256))]
            pub run_id: Option<String>,
        }

        impl $name {
            /// The selection (`default_limit` when `limit` is absent).
            pub fn selection(
                &self,
                default_limit: usize,
            ) -> auditgraph_core::Result<auditgraph_core::query::select::Selection> {
                auditgraph_core::query::select::Selection::new(
                    &self.types,
                    &self.wheres,
                    self.sort.as_deref(),
                    self.desc,
                    self.limit,
                    self.offset,
                    default_limit,
                )
            }

            fn check_select(&self) -> Result<(), ErrorData> {
                values("type", &self.types, MAX_NAME_CHARS)?;
                values("where", &self.wheres, MAX_PREDICATE_CHARS)?;
                opt_chars("sort", self.sort.as_deref(), MAX_NAME_CHARS)?;
                at_most("limit", self.limit.unwrap_or(0), MAX_LIMIT)?;
                at_most("offset", self.offset, MAX_OFFSET)?;
                opt_chars("run_id", self.run_id.as_deref(), MAX_NAME_CHARS)
            }
        }
    };
}

select_input! {
    /// `query`: ranked search over entity names and chunk text.
    QueryInput {
        /// The query: words (any may match) and "quoted phrases" (must match)
        #[schemars(length(min = 1, max = 1024))]
        q: String,
    }
}

impl QueryInput {
    pub fn check(&self) -> Result<(), ErrorData> {
        chars("q", &self.q, MAX_QUERY_CHARS)?;
        self.check_select()
    }
}

select_input! {
    /// `list`: entities without a search term.
    ListInput {
        /// Return only the number of matching entities
        #[serde(default)]
        count: bool,
        /// Count matching entities per value of this field
        #[serde(default)]
        #[schemars(length(max = 256))]
        group_by: Option<String>,
    }
}

impl ListInput {
    pub fn check(&self) -> Result<(), ErrorData> {
        opt_chars("group_by", self.group_by.as_deref(), MAX_NAME_CHARS)?;
        self.check_select()
    }
}

/// `git_who`, `git_log`, `git_introduced`, `git_history`: one file of the
/// workspace's repository.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GitFileInput {
    /// A file of the repository, relative to the workspace root
    #[schemars(length(min = 1, max = 1024))]
    pub file: String,
    /// The run to read (id or unique prefix) [default: the current run]
    #[serde(default)]
    #[schemars(length(max = 256))]
    pub run_id: Option<String>,
}

impl GitFileInput {
    pub fn check(&self) -> Result<(), ErrorData> {
        chars("file", &self.file, MAX_PATH_CHARS)?;
        opt_chars("run_id", self.run_id.as_deref(), MAX_NAME_CHARS)
    }
}

/// `node`: one entity, document or chunk.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeInput {
    /// An entity id (ent_...), document id (doc_...) or chunk id (chk_...)
    #[schemars(length(min = 1, max = 256))]
    pub id: String,
    /// The run to read (id or unique prefix) [default: the current run]
    #[serde(default)]
    #[schemars(length(max = 256))]
    pub run_id: Option<String>,
}

impl NodeInput {
    pub fn check(&self) -> Result<(), ErrorData> {
        chars("id", &self.id, MAX_NAME_CHARS)?;
        opt_chars("run_id", self.run_id.as_deref(), MAX_NAME_CHARS)
    }
}

fn one() -> usize {
    1
}
fn hundred() -> usize {
    100
}
fn six() -> usize {
    6
}
fn three() -> usize {
    3
}

/// `neighbors`: entities reachable from one entity, breadth first.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NeighborsInput {
    /// The entity id to start from
    #[schemars(length(min = 1, max = 256))]
    pub id: String,
    /// How many edges away to go
    #[serde(default = "one")]
    #[schemars(range(max = 6))]
    pub depth: usize,
    /// Follow only these edge types
    #[serde(default)]
    pub edge_type: Vec<String>,
    /// Follow only edges with at least this confidence
    #[serde(default)]
    pub min_confidence: Option<f64>,
    /// Show at most this many neighbours
    #[serde(default = "hundred")]
    #[schemars(range(max = 1000))]
    pub limit: usize,
    /// The run to read (id or unique prefix) [default: the current run]
    #[serde(default)]
    #[schemars(length(max = 256))]
    pub run_id: Option<String>,
}

impl NeighborsInput {
    pub fn check(&self) -> Result<(), ErrorData> {
        chars("id", &self.id, MAX_NAME_CHARS)?;
        at_most("depth", self.depth, MAX_DEPTH)?;
        values("edge_type", &self.edge_type, MAX_NAME_CHARS)?;
        at_most("limit", self.limit, MAX_LIMIT)?;
        opt_chars("run_id", self.run_id.as_deref(), MAX_NAME_CHARS)
    }
}

/// `why_connected`: the shortest paths between two entities.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WhyConnectedInput {
    /// One entity id
    #[schemars(length(min = 1, max = 256))]
    pub from: String,
    /// The other entity id
    #[schemars(length(min = 1, max = 256))]
    pub to: String,
    /// Longest path to look for, in edges
    #[serde(default = "six")]
    #[schemars(range(max = 12))]
    pub max_depth: usize,
    /// Show at most this many shortest paths
    #[serde(default = "three")]
    #[schemars(range(max = 100))]
    pub max_paths: usize,
    /// Follow only these edge types
    #[serde(default)]
    pub edge_type: Vec<String>,
    /// The run to read (id or unique prefix) [default: the current run]
    #[serde(default)]
    #[schemars(length(max = 256))]
    pub run_id: Option<String>,
}

impl WhyConnectedInput {
    pub fn check(&self) -> Result<(), ErrorData> {
        chars("from", &self.from, MAX_NAME_CHARS)?;
        chars("to", &self.to, MAX_NAME_CHARS)?;
        at_most("max_depth", self.max_depth, MAX_PATH_DEPTH)?;
        at_most("max_paths", self.max_paths, MAX_PATHS)?;
        values("edge_type", &self.edge_type, MAX_NAME_CHARS)?;
        opt_chars("run_id", self.run_id.as_deref(), MAX_NAME_CHARS)
    }
}

/// `diff`: what changed between two runs.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiffInput {
    /// The older run [default: the run before the current one]
    #[serde(default)]
    #[schemars(length(max = 256))]
    pub run_a: Option<String>,
    /// The newer run [default: the current run]
    #[serde(default)]
    #[schemars(length(max = 256))]
    pub run_b: Option<String>,
    /// List at most this many ids per change kind (counts are always complete)
    #[serde(default = "hundred")]
    #[schemars(range(max = 10000))]
    pub limit: usize,
}

impl DiffInput {
    pub fn check(&self) -> Result<(), ErrorData> {
        opt_chars("run_a", self.run_a.as_deref(), MAX_NAME_CHARS)?;
        opt_chars("run_b", self.run_b.as_deref(), MAX_NAME_CHARS)?;
        at_most("limit", self.limit, MAX_DIFF_LIMIT)
    }
}

/// `export --format`.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// A self-contained bundle (schemas/export.schema.json)
    #[default]
    Json,
    /// Graphviz DOT
    Dot,
    /// GraphML (networkx, Gephi, yEd)
    Graphml,
}

/// Most hops `export --from` may go.
pub const MAX_EXPORT_DEPTH: u32 = 6;

/// `export`: the graph (or a subgraph) written as a file under `exports/`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportInput {
    /// Output format [default: json]
    #[serde(default)]
    pub format: ExportFormat,
    /// Output file, relative to the workspace root and under `exports/`
    /// [default: exports/graph[-<filters>].<ext>]
    #[serde(default)]
    #[schemars(length(max = 256))]
    pub output: Option<String>,
    /// Keep only entities of these types
    #[serde(default, rename = "type")]
    pub types: Vec<String>,
    /// Keep only entities within `depth` links of this entity id
    #[serde(default)]
    #[schemars(length(max = 256))]
    pub from: Option<String>,
    /// Hops from `from` [default: 1]
    #[serde(default)]
    #[schemars(range(max = 6))]
    pub depth: Option<u32>,
    /// Export this run (an id or a unique prefix) instead of the current one
    #[serde(default)]
    #[schemars(length(max = 256))]
    pub run_id: Option<String>,
    /// JSON only: include the text of cited chunks and section snippets
    #[serde(default)]
    pub with_text: bool,
}

impl ExportInput {
    pub fn check(&self) -> Result<(), ErrorData> {
        values("type", &self.types, MAX_NAME_CHARS)?;
        opt_chars("from", self.from.as_deref(), MAX_NAME_CHARS)?;
        at_most(
            "depth",
            self.depth.unwrap_or(0) as usize,
            MAX_EXPORT_DEPTH as usize,
        )?;
        opt_chars("run_id", self.run_id.as_deref(), MAX_NAME_CHARS)?;
        opt_chars("output", self.output.as_deref(), MAX_NAME_CHARS)?;
        if let Some(output) = &self.output {
            let path = std::path::Path::new(output);
            let mut parts = path.components();
            let under_exports = parts.next()
                == Some(std::path::Component::Normal("exports".as_ref()))
                && parts.clone().next().is_some()
                && parts.all(|c| matches!(c, std::path::Component::Normal(_)));
            if !under_exports {
                return Err(refuse(
                    "output",
                    "the server writes only under the workspace's exports/ folder: give a relative path such as exports/graph.json".to_string(),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn oversized_inputs_are_refused_without_their_value() {
        let q = QueryInput {
            q: "secret".repeat(1000),
            ..QueryInput::default()
        };
        let err = q.check().unwrap_err();
        assert!(err.message.contains("`q`"), "{}", err.message);
        assert!(!err.message.contains("secret"), "{}", err.message);
        let deep: NeighborsInput =
            serde_json::from_value(json!({"id": "ent_x", "depth": 99})).unwrap();
        assert!(deep.check().is_err());
        let ok: NeighborsInput = serde_json::from_value(json!({"id": "ent_x"})).unwrap();
        assert_eq!((ok.depth, ok.limit), (1, 100));
        assert!(ok.check().is_ok());
    }

    fn parse<P: DeserializeOwned>(value: Value) -> Result<P, ErrorData> {
        let Value::Object(map) = value else {
            panic!("not an object")
        };
        serde_path_to_error::deserialize(Value::Object(map)).map_err(|e| misfit(&e))
    }

    #[test]
    fn misfits_name_the_field_not_the_value() {
        let err = parse::<QueryInput>(json!({"q": "x", "limit": "secret-value"})).unwrap_err();
        assert!(err.message.contains("`limit`"), "{}", err.message);
        assert!(!err.message.contains("secret"), "{}", err.message);
        let err = parse::<QueryInput>(json!({"q": "x", "bogus": "secret-value"})).unwrap_err();
        assert!(
            err.message.contains("unknown field `bogus`"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("secret"), "{}", err.message);
        let err = parse::<NodeInput>(json!({})).unwrap_err();
        assert!(
            err.message.contains("missing field `id`"),
            "{}",
            err.message
        );
        let err = parse::<NeighborsInput>(json!({"id": "e", "depth": -1})).unwrap_err();
        assert!(err.message.contains("`depth`"), "{}", err.message);
    }

    #[test]
    fn exports_stay_under_exports() {
        let at = |output: &str| ExportInput {
            output: Some(output.to_string()),
            ..ExportInput::default()
        };
        assert!(at("exports/graph.json").check().is_ok());
        assert!(at("exports/sub/graph.dot").check().is_ok());
        for bad in [
            "/tmp/x.json",
            "exports/../config/pkg.yaml",
            "exports",
            "notes/x.json",
            "./exports/x.json",
        ] {
            assert!(at(bad).check().is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_value::<NodeInput>(json!({"id": "x", "idd": 1})).is_err());
        assert!(serde_json::from_value::<ListInput>(json!({"bogus": 1})).is_err());
        let l: ListInput =
            serde_json::from_value(json!({"type": ["note"], "count": true})).unwrap();
        assert_eq!(l.types, vec!["note"]);
    }
}
