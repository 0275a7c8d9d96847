//! `auditgraph mcp`: the graph as Model Context Protocol tools and citable
//! resources, over stdio, with the official Rust SDK (`rmcp`).
//!
//! The core is synchronous: every request opens the workspace and the
//! store anew (so a run published while serving is answered from at once)
//! and calls `auditgraph_core` on a blocking thread; nothing runs a
//! subprocess. Each tool returns, as its structured content, the very
//! document the CLI command of the same name prints with `--json`.

mod inputs;
mod resources;
mod server;

pub use inputs::{
    MAX_DEPTH, MAX_DIFF_LIMIT, MAX_LIMIT, MAX_NAME_CHARS, MAX_OFFSET, MAX_PATH_DEPTH, MAX_PATHS,
    MAX_PREDICATE_CHARS, MAX_QUERY_CHARS, MAX_VALUES,
};
pub use server::AuditgraphServer;

use rmcp::ServiceExt;
use serde_json::Value;
use std::path::PathBuf;

/// What a refused request tells the client: the CLI's message and its
/// `--json` error document (code, hints and fields), so that an agent gets
/// the same guidance as a person at the terminal.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The stable code (`rebuild_required`, `newer_store`, `not_found`...).
    pub code: String,
    pub message: String,
    /// The CLI's `--json` error document.
    pub data: Value,
}

/// How a core error becomes a refusal (the CLI passes its own mapping).
pub type Guidance = fn(auditgraph_core::Error) -> Refusal;

/// Runs every stage on the workspace (`auditgraph run`), through the
/// CLI's own path (lock, budget and compatibility checks, the refusal
/// recorded for the read commands): `run --json`'s document, or the
/// refusal.
pub type Writer = std::sync::Arc<dyn Fn(Write) -> Result<Value, Refusal> + Send + Sync>;

/// What a write tool asks the [`Writer`] for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// `auditgraph run`: a new run sharing what did not change.
    Run,
    /// `auditgraph rebuild`: every stage again from the sources.
    Rebuild,
}

/// What the server serves.
#[derive(Clone)]
pub struct Options {
    /// The workspace root.
    pub root: PathBuf,
    /// `--config`, if given.
    pub config: Option<PathBuf>,
    /// `--profile`, if given.
    pub profile: Option<String>,
    /// The document `auditgraph version --json` prints.
    pub version: Value,
    pub guidance: Guidance,
    /// The profile enables git provenance: the git tools are offered.
    pub git: bool,
    /// `--allow-writes`: the write tools `run` and `rebuild`, served by this.
    pub writer: Option<Writer>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("could not start the MCP server's runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("the MCP session could not start: {0}")]
    Start(String),
    #[error("the MCP session ended with an error: {0}")]
    Session(String),
    #[error(
        "--http {0}: the MCP server listens on loopback addresses only (127.0.0.1, [::1]); a client elsewhere reaches it through a tunnel or proxy of your own"
    )]
    NotLoopback(std::net::SocketAddr),
    #[error("--http {addr}: cannot listen there: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the MCP HTTP server stopped: {0}")]
    Http(#[source] std::io::Error),
}

fn runtime() -> Result<tokio::runtime::Runtime, ServeError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)
}

/// Serves MCP's streamable HTTP transport at `http://ADDR/mcp` until
/// Ctrl-C, on a loopback address only. Requests must name a loopback host
/// (`Host`), and a request from a browser page must come from this very
/// address (`Origin`), against DNS rebinding; `ready` is told the address
/// listened on (the port, when ADDR asks for port 0).
pub fn serve_http(
    options: Options,
    addr: std::net::SocketAddr,
    ready: impl FnOnce(std::net::SocketAddr),
) -> Result<(), ServeError> {
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };
    if !addr.ip().is_loopback() {
        return Err(ServeError::NotLoopback(addr));
    }
    runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;
        let port = local.port();
        let config = StreamableHttpServerConfig::default()
            .with_allowed_hosts(["localhost", "127.0.0.1", "::1", "[::1]"])
            .with_allowed_origins([
                format!("http://localhost:{port}"),
                format!("http://127.0.0.1:{port}"),
                format!("http://[::1]:{port}"),
            ])
            .enforce_origin_validation();
        let service = StreamableHttpService::new(
            move || Ok(AuditgraphServer::new(options.clone())),
            std::sync::Arc::new(LocalSessionManager::default()),
            config,
        );
        let router = axum::Router::new().nest_service("/mcp", service);
        ready(local);
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(ServeError::Http)
    })
}

/// Serves MCP on stdin/stdout until the client closes the connection.
pub fn serve_stdio(options: Options) -> Result<(), ServeError> {
    runtime()?.block_on(async move {
        let service = AuditgraphServer::new(options)
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| ServeError::Start(e.to_string()))?;
        service
            .waiting()
            .await
            .map_err(|e| ServeError::Session(e.to_string()))?;
        Ok(())
    })
}
