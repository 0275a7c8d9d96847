//! A small synchronous Bolt 5 client for auditgraph's graph-server sync.
//!
//! Written because the Rust drivers available (`neo4rs` 0.8/0.9) only speak
//! Bolt 4.x, which FalkorDB (the test server) refuses. It talks to Neo4j 5
//! and to FalkorDB's Bolt endpoint; `docs/testing-falkordb.md` lists what
//! FalkorDB does differently.
//!
//! ```no_run
//! use auditgraph_bolt::{Client, Config, Value, cypher_literal};
//!
//! let config = Config::new("bolt://127.0.0.1:7687", "falkordb", "secret");
//! let mut client = Client::connect(&config)?;
//! let rows = Value::List(vec![Value::map([("id", "n1"), ("name", "It's")])]);
//! let summary = client.execute(
//!     &format!("UNWIND {} AS row MERGE (n:Note {{id: row.id}}) SET n.name = row.name",
//!              cypher_literal(&rows)?),
//!     &[],
//! )?;
//! println!("{} nodes created", summary.stat("nodes-created"));
//! let count = client.run("MATCH (n:Note) RETURN count(n) AS c", &[])?;
//! assert_eq!(count.fields, ["c"]);
//! client.close();
//! # Ok::<(), auditgraph_bolt::BoltError>(())
//! ```
//!
//! # What is implemented
//!
//! - Transport: TCP with connect, read and write timeouts (every read and
//!   write has a deadline, so a silent server gives [`BoltError::Timeout`],
//!   never a hang); TLS with rustls (`ring` provider): `bolt+s://` and
//!   `neo4j+s://` verify the certificate against the Mozilla roots
//!   (`webpki-roots`), `bolt+ssc://`/`neo4j+ssc://` encrypt **without
//!   verifying the certificate** (self-signed servers). `neo4j://` is
//!   treated like `bolt://`: no routing, the one server in the URI is used.
//! - Handshake: Bolt 5.7 down to 5.1 in one range proposal, nothing else.
//! - PackStream v1 ([`packstream`]): all types; graph structures decoded
//!   into [`Node`], [`Relationship`], [`UnboundRelationship`], [`Path`],
//!   other structures into a generic [`Structure`]; sizes and nesting are
//!   bounded by the message, so a hostile server gets an error, not a panic
//!   or a huge allocation. Server messages are limited to
//!   [`Config::max_message_bytes`], query results to
//!   [`Config::max_result_bytes`].
//! - Messages: HELLO (`user_agent` and, from 5.3, `bolt_agent`), LOGON
//!   (`scheme`, `principal`, `credentials` in that order), LOGOFF, RUN,
//!   PULL, DISCARD, BEGIN, COMMIT, ROLLBACK, RESET. After a FAILURE the
//!   client sends RESET itself. **GOODBYE is never sent**: FalkorDB 4.16
//!   hangs the next new connection after it; the client closes the socket
//!   instead, and retries a version handshake that hangs once, on a fresh
//!   connection.
//! - [`cypher_literal`] and [`cypher_identifier`] to send data in the query
//!   text (FalkorDB crashes on parameter maps over ~4 KiB).
//! - [`is_loopback_host`] and [`BoltUri::is_plaintext_to_remote`] for the
//!   CLI's plaintext warning and `--require-tls`.
//!
//! # FalkorDB 4.16.3 (the test server), measured with this client
//!
//! Besides what `docs/testing-falkordb.md` lists (no GOODBYE, parameters
//! over ~4 KiB crash it, auth by position, no rollback, database ignored):
//!
//! - **DISCARD** is answered like PULL (the rows are sent), and then the
//!   connection never answers again. [`Client::execute`] therefore uses
//!   PULL and drops the rows; [`Client::execute_with_discard`] is for Neo4j.
//! - **LOGOFF** is never answered ([`Client::logoff`] times out).
//! - **A reply message over 64 KiB** (say one string value of 65 000
//!   bytes) is sent as a single chunk whose 16-bit length wraps around; the
//!   client then gets garbage and reports a timeout or protocol error.
//! - **A request that arrives in several TCP reads** can be dropped (the
//!   server closes the connection) or, when a chunk header is split, wedge
//!   or crash the server (SIGSEGV in `buffer_read_uint16`). The client writes
//!   each request (RUN + PULL) with one write call; on loopback a request up
//!   to ~64 KiB arrives in one piece. Batches of 60 KB of literals ran
//!   1 500 times in a row without a failure; a 1.6 MB request failed 1 time
//!   in 5. Keep requests under ~60 KiB ([`list_literal_batches`]).
//! - `\uXXXX` escapes in string literals are not decoded, a backtick cannot
//!   be escaped inside a backticked name, subnormal float literals are
//!   refused, and a NUL character ends the query text: see
//!   [`cypher_literal`].
//! - Errors all come with code `SyntaxError`; a refused login with code
//!   `FalkorDB.ClientError.Security.Unauthorized` and no message.
//!
//! Not implemented: routing (cluster discovery), bookmarks management,
//! notifications configuration, telemetry, Bolt 4.x and 5.0, streaming
//! results in batches (PULL fetches everything).

#![forbid(unsafe_code)]

mod client;
mod conn;
mod cypher;
mod error;
pub mod packstream;
mod uri;
mod value;

pub use client::{Client, Config, QueryResult, Summary};
pub use cypher::{
    cypher_identifier, cypher_literal, is_plain_identifier, list_literal_batches, write_literal,
};
pub use error::BoltError;
pub use uri::{BoltUri, DEFAULT_PORT, Security, is_loopback_host};
pub use value::{Map, Node, Path, Relationship, Structure, UnboundRelationship, Value, map_get};
