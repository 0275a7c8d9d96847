//! The MCP server: read-only tools that answer as the CLI's `--json`, and
//! the chunk and document resources.

use crate::inputs::{
    DiffInput, ExportFormat, ExportInput, GitFileInput, ListInput, NeighborsInput, NodeInput,
    Parameters, QueryInput, WhyConnectedInput,
};
use crate::resources;
use crate::{Options, Refusal, Write};
use auditgraph_core::pipeline::Workspace;
use auditgraph_core::query::load::{Need, RunPieces};
use auditgraph_core::query::nav::{self, EdgeFilter};
use auditgraph_core::query::{diff, list, search};
use auditgraph_core::store::last_attempt;
use auditgraph_core::{git, info};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    CallToolResult, ErrorCode, Implementation, InitializeResult, ListResourceTemplatesResult,
    ListResourcesResult, PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, ServerCapabilities, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use serde_json::Value;
use std::sync::Arc;

/// JSON-RPC error code of refusals that are not about the request's
/// arguments (a store that needs a rebuild, a newer store, nothing
/// ingested yet, a damaged store...): the server-error range.
pub const STORE_REFUSED: ErrorCode = ErrorCode(-32000);

/// The server: its options and its tools.
#[derive(Clone)]
pub struct AuditgraphServer {
    options: Arc<Options>,
    tool_router: ToolRouter<AuditgraphServer>,
}

impl std::fmt::Debug for AuditgraphServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditgraphServer")
            .field("root", &self.options.root)
            .finish()
    }
}

/// A refusal as an MCP error: arguments the core refuses are invalid
/// parameters, everything else a server error; the data is the CLI's
/// `--json` error document.
pub fn refusal_error(refusal: Refusal) -> ErrorData {
    let code = match refusal.code.as_str() {
        "usage_error" | "not_found" | "config_error" | "invalid_input" => ErrorCode::INVALID_PARAMS,
        _ => STORE_REFUSED,
    };
    ErrorData::new(code, refusal.message, Some(refusal.data))
}

/// Adds `stale` to `doc` as the CLI's `--json` does: when the current run
/// is the one a write that did not publish left (only when no run was
/// asked for).
fn with_stale(ws: &Workspace, asked: Option<&str>, answered: &str, mut doc: Value) -> Value {
    if asked.is_some() {
        return doc;
    }
    if let (Some(attempt), Value::Object(map)) =
        (last_attempt::stale(&ws.layout, Some(answered)), &mut doc)
    {
        map.insert(
            "stale".to_string(),
            serde_json::to_value(&attempt).unwrap_or_default(),
        );
    }
    doc
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_default()
}

/// `router`'s tools annotated as read-only (or as additive writes), closed
/// world, idempotent, never destructive.
fn annotated(
    mut router: ToolRouter<AuditgraphServer>,
    read_only: bool,
) -> ToolRouter<AuditgraphServer> {
    for route in router.map.values_mut() {
        let title = route.attr.annotations.take().and_then(|a| a.title);
        route.attr.annotations = Some(
            ToolAnnotations::from_raw(title, None, None, None, None)
                .read_only(read_only)
                .destructive(false)
                .idempotent(true)
                .open_world(false),
        );
    }
    router
}

impl AuditgraphServer {
    pub fn new(options: Options) -> AuditgraphServer {
        // The read tools only read the store, and asking twice answers the
        // same (until a new run is published). The write tool adds a run
        // and never removes or rewrites anything; running it twice on the
        // same sources publishes nothing the second time. Annotated so, in
        // one place.
        let mut tool_router = annotated(Self::tool_router(), true);
        if options.git {
            tool_router += annotated(Self::git_router(), true);
        }
        if options.writer.is_some() {
            tool_router += annotated(Self::write_router() + Self::export_router(), false);
        }
        AuditgraphServer {
            options: Arc::new(options),
            tool_router,
        }
    }

    /// Every tool: name, description, input schema (for checks against the
    /// CLI's commands and flags, and for documentation).
    pub fn tools() -> Vec<rmcp::model::Tool> {
        let mut tools = (Self::tool_router()
            + Self::git_router()
            + Self::write_router()
            + Self::export_router())
        .list_all();
        tools.sort_by(|a, b| a.name.cmp(&b.name));
        tools
    }

    /// Runs `f` on a blocking thread with the workspace opened anew, and
    /// maps a core error to the CLI's guidance.
    pub(crate) async fn with_workspace<T, F>(&self, f: F) -> Result<T, ErrorData>
    where
        T: Send + 'static,
        F: FnOnce(&Workspace) -> auditgraph_core::Result<T> + Send + 'static,
    {
        let options = Arc::clone(&self.options);
        let guidance = options.guidance;
        let joined = tokio::task::spawn_blocking(move || {
            let ws = Workspace::open(
                &options.root,
                options.config.as_deref(),
                options.profile.as_deref(),
            )?;
            f(&ws)
        })
        .await;
        match joined {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(refusal_error(guidance(err))),
            Err(_) => Err(ErrorData::internal_error(
                "the request stopped unexpectedly; the store was only read",
                None,
            )),
        }
    }

    async fn answer<F>(&self, f: F) -> Result<CallToolResult, ErrorData>
    where
        F: FnOnce(&Workspace) -> auditgraph_core::Result<Value> + Send + 'static,
    {
        self.with_workspace(f).await.map(CallToolResult::structured)
    }
}

#[tool_router]
impl AuditgraphServer {
    /// The version of auditgraph serving, the store schema it writes and
    /// the ones it reads (as `auditgraph version --json`).
    #[tool(annotations(title = "auditgraph version"))]
    async fn version(&self) -> Result<CallToolResult, ErrorData> {
        Ok(CallToolResult::structured(self.options.version.clone()))
    }

    /// The store at a glance: schema version, runs, current run, sizes,
    /// budget usage, seal, and whether a rebuild is needed (as
    /// `auditgraph status --json`).
    #[tool(annotations(title = "Store status"))]
    async fn status(&self) -> Result<CallToolResult, ErrorData> {
        self.answer(|ws| Ok(to_json(&info::status(ws)?))).await
    }

    /// Every run of the store, oldest first, with the current one marked
    /// (as `auditgraph runs --json`).
    #[tool(annotations(title = "List runs"))]
    async fn runs(&self) -> Result<CallToolResult, ErrorData> {
        self.answer(|ws| Ok(to_json(&info::runs_report(ws)?))).await
    }

    /// Ranked search over entity names and chunk text: each hit with its
    /// score parts and the chunks (path, lines, chunk id) that justify it;
    /// read a chunk as the resource auditgraph://chunk/<chunk_id> (as
    /// `auditgraph query --json`).
    #[tool(annotations(title = "Search the graph"))]
    async fn query(
        &self,
        Parameters(input): Parameters<QueryInput>,
    ) -> Result<CallToolResult, ErrorData> {
        input.check()?;
        self.answer(move |ws| {
            let sel = input.selection(10)?;
            let run = input.run_id.as_deref();
            let pieces = RunPieces::open(ws, run, Need::Index)?;
            let config = pieces.run_config(ws)?;
            let rounding = ws.config.profile().search.ranking.score_rounding;
            let result = search::search(&pieces, &config, &input.q, &sel, rounding)?;
            Ok(with_stale(ws, run, &pieces.run_id, to_json(&result)))
        })
        .await
    }

    /// Entities without a search term, filtered by type and `where`
    /// predicates, sorted and paged; or their count, or their count per
    /// value of a field (as `auditgraph list --json`).
    #[tool(annotations(title = "List entities"))]
    async fn list(
        &self,
        Parameters(input): Parameters<ListInput>,
    ) -> Result<CallToolResult, ErrorData> {
        input.check()?;
        self.answer(move |ws| {
            let sel = input.selection(100)?;
            let run = input.run_id.as_deref();
            let (answer, opened) =
                list::list(ws, run, &sel, input.count, input.group_by.as_deref())?;
            Ok(with_stale(ws, run, opened.run_id(), answer.to_json()))
        })
        .await
    }

    /// One entity (or document, or chunk) with its provenance (path, lines,
    /// SHA-256 of the source, rule) and its edges (as `auditgraph node
    /// --json`).
    #[tool(annotations(title = "Show a node"))]
    async fn node(
        &self,
        Parameters(input): Parameters<NodeInput>,
    ) -> Result<CallToolResult, ErrorData> {
        input.check()?;
        self.answer(move |ws| {
            let run = input.run_id.as_deref();
            let pieces = RunPieces::open(ws, run, Need::Graph)?;
            let config = pieces.run_config(ws)?;
            let doc = nav::node(&pieces, &config, &input.id)?;
            Ok(with_stale(ws, run, &pieces.run_id, doc))
        })
        .await
    }

    /// Entities reachable from one entity, breadth first, with the path of
    /// typed edges to each (as `auditgraph neighbors --json`).
    #[tool(annotations(title = "Neighbours of an entity"))]
    async fn neighbors(
        &self,
        Parameters(input): Parameters<NeighborsInput>,
    ) -> Result<CallToolResult, ErrorData> {
        input.check()?;
        self.answer(move |ws| {
            let filter = EdgeFilter::parse(&input.edge_type, input.min_confidence)?;
            let run = input.run_id.as_deref();
            let pieces = RunPieces::open(ws, run, Need::Graph)?;
            let config = pieces.run_config(ws)?;
            let doc = nav::neighbors(
                &pieces,
                &config,
                &input.id,
                input.depth,
                &filter,
                Some(input.limit),
            )?;
            Ok(with_stale(ws, run, &pieces.run_id, doc))
        })
        .await
    }

    /// How two entities are connected: the shortest paths, each edge with
    /// the rule that made it and its evidence chunks (as `auditgraph
    /// why-connected --json`).
    #[tool(annotations(title = "Why are two entities connected"))]
    async fn why_connected(
        &self,
        Parameters(input): Parameters<WhyConnectedInput>,
    ) -> Result<CallToolResult, ErrorData> {
        input.check()?;
        self.answer(move |ws| {
            let filter = EdgeFilter::parse(&input.edge_type, None)?;
            let run = input.run_id.as_deref();
            let pieces = RunPieces::open(ws, run, Need::Graph)?;
            let config = pieces.run_config(ws)?;
            let doc = nav::why_connected(
                &pieces,
                &config,
                &input.from,
                &input.to,
                input.max_depth,
                input.max_paths,
                &filter,
            )?;
            Ok(with_stale(ws, run, &pieces.run_id, doc))
        })
        .await
    }

    /// What changed between two runs: sources, entities and links (as
    /// `auditgraph diff --json`).
    #[tool(annotations(title = "Diff two runs"))]
    async fn diff(
        &self,
        Parameters(input): Parameters<DiffInput>,
    ) -> Result<CallToolResult, ErrorData> {
        input.check()?;
        self.answer(move |ws| {
            let report = diff::diff(ws, input.run_a.as_deref(), input.run_b.as_deref())?;
            Ok(report.to_json(input.limit))
        })
        .await
    }
}

#[tool_router(router = git_router)]
impl AuditgraphServer {
    /// Who wrote a file: each author (one per email, every name seen) with
    /// commit count and first and last date, from the run's git
    /// provenance (as `auditgraph git-who --json`).
    #[tool(annotations(title = "Who wrote a file"))]
    async fn git_who(
        &self,
        Parameters(input): Parameters<GitFileInput>,
    ) -> Result<CallToolResult, ErrorData> {
        self.git_answer(input, |_, run, file| {
            Ok(to_json(&git::query::who(run, file)?))
        })
        .await
    }

    /// The selected commits that changed a file, newest first, following
    /// renames (as `auditgraph git-log --json`).
    #[tool(annotations(title = "Commits of a file"))]
    async fn git_log(
        &self,
        Parameters(input): Parameters<GitFileInput>,
    ) -> Result<CallToolResult, ErrorData> {
        self.git_answer(input, |_, run, file| {
            Ok(to_json(&git::query::log(run, file)?))
        })
        .await
    }

    /// The commit that first added a file, following renames back (as
    /// `auditgraph git-introduced --json`).
    #[tool(annotations(title = "Where a file came from"))]
    async fn git_introduced(
        &self,
        Parameters(input): Parameters<GitFileInput>,
    ) -> Result<CallToolResult, ErrorData> {
        self.git_answer(input, |_, run, file| {
            Ok(to_json(&git::query::introduced(run, file)?))
        })
        .await
    }

    /// A file's authors, commits, origin and renames with the links
    /// between them and their rules (as `auditgraph git-history --json`).
    #[tool(annotations(title = "History of a file"))]
    async fn git_history(
        &self,
        Parameters(input): Parameters<GitFileInput>,
    ) -> Result<CallToolResult, ErrorData> {
        self.git_answer(input, |ws, run, file| {
            let note = git::query::note_link(ws, &run.run_id, file);
            Ok(to_json(&git::query::history(run, file, note)?))
        })
        .await
    }
}

impl AuditgraphServer {
    /// A git tool: `answer` on the run's git provenance and the file, whose
    /// path is taken relative to the workspace root (an agent has no
    /// current directory of its own).
    async fn git_answer(
        &self,
        input: GitFileInput,
        answer: fn(&Workspace, &git::query::GitRun, &str) -> auditgraph_core::Result<Value>,
    ) -> Result<CallToolResult, ErrorData> {
        input.check()?;
        self.answer(move |ws| {
            let (run, file) =
                git::query::GitRun::open_file(ws, input.run_id.as_deref(), &ws.root, &input.file)?;
            answer(ws, &run, &file)
        })
        .await
    }
}

#[tool_router(router = write_router)]
impl AuditgraphServer {
    /// Runs every stage on the workspace and publishes a new run (as
    /// `auditgraph run --json`), through the same lock, budget and
    /// compatibility checks; offered only when the server was started with
    /// `--allow-writes`.
    #[tool(annotations(title = "Run the pipeline"))]
    async fn run(&self) -> Result<CallToolResult, ErrorData> {
        self.write(Write::Run).await
    }

    /// Runs every stage again from the sources and publishes a fresh run,
    /// leaving every earlier run as it was (as `auditgraph rebuild --json`):
    /// the way out of a store that needs a rebuild; offered only with
    /// `--allow-writes`.
    #[tool(annotations(title = "Rebuild from the sources"))]
    async fn rebuild(&self) -> Result<CallToolResult, ErrorData> {
        self.write(Write::Rebuild).await
    }
}

impl AuditgraphServer {
    /// A write tool: the writer on a blocking thread, or the refusal.
    async fn write(&self, write: Write) -> Result<CallToolResult, ErrorData> {
        let name = match write {
            Write::Run => "run",
            Write::Rebuild => "rebuild",
        };
        let Some(writer) = self.options.writer.clone() else {
            return Err(ErrorData::invalid_params(
                format!(
                    "writes are off: start the server with `auditgraph mcp --allow-writes` to offer `{name}`"
                ),
                Some(serde_json::json!({"status": "error", "code": "writes_disabled"})),
            ));
        };
        match tokio::task::spawn_blocking(move || writer(write)).await {
            Ok(Ok(doc)) => Ok(CallToolResult::structured(doc)),
            Ok(Err(refusal)) => Err(refusal_error(refusal)),
            Err(_) => Err(ErrorData::internal_error(
                format!(
                    "the {name} stopped unexpectedly; nothing was published (an interrupted write is recognised and cleaned up by the next one)"
                ),
                None,
            )),
        }
    }
}

#[tool_router(router = export_router)]
impl AuditgraphServer {
    /// Writes the graph (or a subgraph: `type`, `from` and `depth`) of the
    /// current run (or `run_id`) as a JSON bundle, Graphviz DOT or GraphML
    /// file under the workspace's exports/ folder, counted against the disk
    /// budget (as `auditgraph export --json`); offered only with
    /// `--allow-writes`.
    #[tool(annotations(title = "Export the graph"))]
    async fn export(
        &self,
        Parameters(input): Parameters<ExportInput>,
    ) -> Result<CallToolResult, ErrorData> {
        input.check()?;
        self.answer(move |ws| {
            use auditgraph_core::export::{self, ExportRequest, Filter, Format};
            let filter = Filter::new(&input.types, input.from.as_deref(), input.depth)?;
            let request = ExportRequest {
                format: match input.format {
                    ExportFormat::Json => Format::Json,
                    ExportFormat::Dot => Format::Dot,
                    ExportFormat::Graphml => Format::Graphml,
                },
                filter,
                output: input.output.as_deref().map(std::path::Path::new),
                run: input.run_id.as_deref(),
                with_text: input.with_text,
            };
            let report = export::export(ws, &request)?;
            let run = input.run_id.as_deref();
            Ok(with_stale(ws, run, &report.run_id, to_json(&report)))
        })
        .await
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for AuditgraphServer {
    fn get_info(&self) -> InitializeResult {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .build();
        InitializeResult::new(capabilities)
            .with_server_info(Implementation::new(
                "auditgraph",
                auditgraph_core::version::AUDITGRAPH_VERSION,
            ))
            .with_instructions(
                "auditgraph answers from the current run of a workspace's knowledge graph. \
                 Find entities with `query` or `list`, inspect them with `node`, `neighbors` \
                 and `why_connected`; every hit cites chunks, readable verbatim as \
                 auditgraph://chunk/<chunk_id> (and whole documents as \
                 auditgraph://document/<document_id>) with their path, lines and SHA-256.",
            )
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        // Chunks and documents are many; they are reached by the ids that
        // results cite, through the templates.
        Ok(ListResourcesResult::default())
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(
            resources::templates(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let target = resources::parse_uri(&request.uri)?;
        let uri = request.uri.clone();
        let contents = self
            .with_workspace(move |ws| resources::read(ws, &target, &uri))
            .await?;
        Ok(ReadResourceResult::new(vec![contents]).into())
    }
}
