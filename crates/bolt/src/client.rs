//! The Bolt 5 session: handshake, HELLO/LOGON, queries and transactions.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use crate::conn::{self, Conn};
use crate::error::BoltError;
use crate::packstream;
use crate::uri::BoltUri;
use crate::value::{Map, Value, map_get};

/// Bolt message signatures (requests).
mod msg {
    pub const HELLO: u8 = 0x01;
    pub const LOGON: u8 = 0x6A;
    pub const LOGOFF: u8 = 0x6B;
    pub const RUN: u8 = 0x10;
    pub const PULL: u8 = 0x3F;
    pub const DISCARD: u8 = 0x2F;
    pub const BEGIN: u8 = 0x11;
    pub const COMMIT: u8 = 0x12;
    pub const ROLLBACK: u8 = 0x13;
    pub const RESET: u8 = 0x0F;
    // Responses.
    pub const SUCCESS: u8 = 0x70;
    pub const RECORD: u8 = 0x71;
    pub const IGNORED: u8 = 0x7E;
    pub const FAILURE: u8 = 0x7F;
}

/// The Bolt handshake preamble.
const MAGIC: [u8; 4] = [0x60, 0x60, 0xB0, 0x17];
/// Highest and lowest Bolt minor version of major 5 offered.
const MAX_MINOR: u8 = 7;
const MIN_MINOR: u8 = 1;
/// First handshake attempt waits at most this long before trying a fresh
/// connection (FalkorDB 4.16 leaves the next connection after another
/// client's GOODBYE hanging in the handshake forever).
const FIRST_HANDSHAKE_WAIT: Duration = Duration::from_secs(3);
/// What a timeout in the version handshake reports.
const VERSION_HANDSHAKE: &str = "in the Bolt version handshake";
/// IGNORED replies skipped while recovering with RESET.
const MAX_IGNORED: usize = 16;

/// How to reach and log in to the server.
///
/// `Debug` does not show the password.
#[derive(Clone)]
pub struct Config {
    /// `bolt://`, `bolt+s://`, `bolt+ssc://`, `neo4j://`, `neo4j+s://` or
    /// `neo4j+ssc://` URI (see [`BoltUri`]).
    pub uri: String,
    /// User name; with an empty user and password no credentials are sent
    /// (auth scheme `none`), otherwise scheme `basic`.
    pub user: String,
    /// Password.
    pub password: String,
    /// Database to use (`db` in BEGIN and auto-commit RUN); `None` for the
    /// server's default. FalkorDB ignores it in BEGIN and misreads it in RUN
    /// (writes to a graph literally named `db`), so leave it `None` there.
    pub database: Option<String>,
    /// Longest wait while connecting: for the TCP connection, the TLS
    /// handshake, and the HELLO and LOGON replies (each); the Bolt version
    /// handshake gets this time in all, over at most two tries.
    pub connect_timeout: Duration,
    /// Longest wait for each complete server reply (including the time the
    /// server spends running the query) and for each complete request
    /// write.
    pub io_timeout: Duration,
    /// Refuse a plaintext URI to a host that is not loopback
    /// ([`BoltError::PlaintextRefused`]). Plaintext to loopback is allowed.
    pub require_tls: bool,
    /// Largest single server message accepted (default 64 MiB).
    pub max_message_bytes: usize,
    /// Most memory the rows of one query may take once decoded (default
    /// 512 MiB), counted as 32 bytes per value plus the bytes of strings;
    /// rows that [`Client::execute`] drops count too. A single reply is also
    /// checked before it is decoded, so a small message of many tiny values
    /// cannot take more.
    pub max_result_bytes: usize,
}

impl Config {
    /// A configuration with the default timeouts (connect 10 s, I/O 60 s)
    /// and limits, no database and `require_tls` off.
    pub fn new(
        uri: impl Into<String>,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Config {
            uri: uri.into(),
            user: user.into(),
            password: password.into(),
            database: None,
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(60),
            require_tls: false,
            max_message_bytes: 64 << 20,
            max_result_bytes: 512 << 20,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("uri", &self.uri)
            .field("user", &self.user)
            .field(
                "password",
                &if self.password.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("database", &self.database)
            .field("connect_timeout", &self.connect_timeout)
            .field("io_timeout", &self.io_timeout)
            .field("require_tls", &self.require_tls)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("max_result_bytes", &self.max_result_bytes)
            .finish()
    }
}

/// What the server reported about a finished query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Update counters (`nodes-created`, `properties-set`, ...); booleans
    /// such as `contains-updates` are given as 0 or 1. Empty when the server
    /// sent none (FalkorDB sends none when nothing changed).
    pub stats: BTreeMap<String, i64>,
    /// `r`, `w`, `rw` or `s`, if the server said.
    pub query_type: Option<String>,
    /// Bookmark, if the server sent one.
    pub bookmark: Option<String>,
    /// Database the query ran in, if the server said.
    pub database: Option<String>,
    /// Every metadata entry of the RUN and the final PULL/DISCARD SUCCESS,
    /// in that order, as received.
    pub metadata: Map,
}

impl Summary {
    /// A counter, 0 when absent.
    pub fn stat(&self, name: &str) -> i64 {
        self.stats.get(name).copied().unwrap_or(0)
    }
}

/// Result of [`Client::run`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryResult {
    /// Column names.
    pub fields: Vec<String>,
    /// Rows, each with one value per column.
    pub records: Vec<Vec<Value>>,
    /// Counters and metadata.
    pub summary: Summary,
}

/// What to do with the rows of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fetch {
    /// PULL them and return them.
    Keep,
    /// PULL them and drop them.
    Drop,
    /// Ask the server not to send them (DISCARD).
    Discard,
}

enum Reply {
    Success(Map),
    Record(Vec<Value>),
    Ignored,
    Failure { code: String, message: String },
}

/// A connection to one Bolt server, logged in and ready for queries.
///
/// Synchronous: each call sends its request and waits for the full answer.
/// After a server error ([`BoltError::Server`]) the client has already sent
/// RESET and is usable again (an open transaction is gone). After an I/O,
/// timeout or protocol error ([`BoltError::is_fatal`]) it refuses further
/// use; connect again.
///
/// Dropping or [`closing`](Client::close) the client closes the socket
/// without sending GOODBYE, because FalkorDB 4.16 then hangs the next new
/// connection.
pub struct Client {
    conn: Conn,
    server_agent: String,
    connection_id: Option<String>,
    protocol_version: (u8, u8),
    database: Option<String>,
    in_transaction: bool,
    defunct: Option<String>,
    max_message_bytes: usize,
    max_result_bytes: usize,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("server_agent", &self.server_agent)
            .field("protocol_version", &self.protocol_version)
            .field("connection_id", &self.connection_id)
            .field("in_transaction", &self.in_transaction)
            .field("defunct", &self.defunct)
            .finish_non_exhaustive()
    }
}

fn user_agent() -> String {
    format!("auditgraph/{}", env!("CARGO_PKG_VERSION"))
}

/// The handshake request: magic, then 5.7 down to 5.1 as one range
/// proposal, then three empty proposals.
fn handshake_request() -> [u8; 20] {
    let mut h = [0u8; 20];
    h[..4].copy_from_slice(&MAGIC);
    h[4..8].copy_from_slice(&[0, MAX_MINOR - MIN_MINOR, MAX_MINOR, 5]);
    h
}

impl Client {
    /// Connects, negotiates Bolt 5.1-5.7, sends HELLO and LOGON.
    ///
    /// The Bolt version handshake is tried twice within `connect_timeout`:
    /// first for at most 3 s (or half of `connect_timeout` if shorter), then
    /// on a fresh connection for the rest. This absorbs FalkorDB's handshake
    /// hang after another client's GOODBYE.
    pub fn connect(config: &Config) -> Result<Client, BoltError> {
        let uri = BoltUri::parse(&config.uri)?;
        if config.require_tls && uri.is_plaintext_to_remote() {
            return Err(BoltError::PlaintextRefused { host: uri.host });
        }
        let addrs = conn::resolve(&uri)?;
        // The version handshake gets `connect_timeout` in all, split over
        // two tries on separate connections.
        let started = Instant::now();
        let first_wait = (config.connect_timeout / 2).min(FIRST_HANDSHAKE_WAIT);
        let mut result = Self::open(config, &uri, &addrs, first_wait);
        if matches!(&result, Err(BoltError::Timeout { during, .. }) if during == VERSION_HANDSHAKE)
        {
            let left = config.connect_timeout.saturating_sub(started.elapsed());
            if !left.is_zero() {
                result = Self::open(config, &uri, &addrs, left).map_err(|e| match e {
                    BoltError::Timeout { during, .. } => BoltError::Timeout {
                        during,
                        timeout: config.connect_timeout,
                    },
                    other => other,
                });
            }
        }
        let (conn, version) = result?;
        let mut client = Client {
            conn,
            server_agent: String::new(),
            connection_id: None,
            protocol_version: version,
            database: config.database.clone(),
            in_transaction: false,
            defunct: None,
            max_message_bytes: config.max_message_bytes,
            max_result_bytes: config.max_result_bytes,
        };
        // HELLO and LOGON are part of connecting: connect_timeout each.
        client.conn.io_timeout = config.connect_timeout;
        client.hello()?;
        client.logon(&config.user, &config.password)?;
        client.conn.io_timeout = config.io_timeout;
        Ok(client)
    }

    /// TCP connect, TLS handshake and Bolt version handshake.
    fn open(
        config: &Config,
        uri: &BoltUri,
        addrs: &[std::net::SocketAddr],
        handshake_wait: Duration,
    ) -> Result<(Conn, (u8, u8)), BoltError> {
        let tcp = conn::connect_tcp(uri, addrs, config.connect_timeout)?;
        let mut conn = Conn::new(tcp, uri, config.io_timeout, config.connect_timeout)?;
        let during = VERSION_HANDSHAKE;
        let saved = conn.io_timeout;
        conn.io_timeout = handshake_wait;
        let sent = conn.write_all(&handshake_request(), during);
        let answer =
            sent.and_then(|()| conn.read_array::<4>(Instant::now() + handshake_wait, during));
        conn.io_timeout = saved;
        let answer = match answer {
            Ok(a) => a,
            Err(BoltError::Io { source, .. }) => {
                return Err(BoltError::UnsupportedVersion {
                    detail: format!(
                        "the server closed the connection during the version handshake ({source})"
                    ),
                });
            }
            Err(e) => return Err(e),
        };
        match answer {
            [0, 0, minor, 5] if (MIN_MINOR..=MAX_MINOR).contains(&minor) => Ok((conn, (5, minor))),
            [0, 0, 0, 0] => Err(BoltError::UnsupportedVersion {
                detail: "it accepted none of the offered versions".into(),
            }),
            [b'H', b'T', b'T', b'P'] => Err(BoltError::UnsupportedVersion {
                detail: "it answered with HTTP (is this the HTTP port, not the Bolt port?)".into(),
            }),
            [_, _, minor, major] => Err(BoltError::UnsupportedVersion {
                detail: format!(
                    "it chose version {major}.{minor} (raw answer {:02x}{:02x}{:02x}{:02x}), which was not offered",
                    answer[0], answer[1], minor, major
                ),
            }),
        }
    }

    fn hello(&mut self) -> Result<(), BoltError> {
        let mut extra: Map = vec![("user_agent".into(), Value::String(user_agent()))];
        if self.protocol_version.1 >= 3 {
            extra.push((
                "bolt_agent".into(),
                Value::map([
                    ("product", Value::String(user_agent())),
                    (
                        "platform",
                        Value::String(format!(
                            "{}; {}",
                            std::env::consts::OS,
                            std::env::consts::ARCH
                        )),
                    ),
                    ("language", Value::from("Rust")),
                ]),
            ));
        }
        self.send(&[(msg::HELLO, vec![Value::Map(extra)])], "sending HELLO")?;
        match self.recv("waiting for the HELLO reply")? {
            Reply::Success(meta) => {
                self.server_agent = map_get(&meta, "server")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                self.connection_id = map_get(&meta, "connection_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                Ok(())
            }
            Reply::Failure { code, message } => Err(BoltError::Server { code, message }),
            other => Err(unexpected(&other, "HELLO")),
        }
    }

    /// Logs in (LOGON) with `user` and `password`: auth scheme `basic`, or
    /// `none` when both are empty. The auth map is sent in the order
    /// `scheme`, `principal`, `credentials` (FalkorDB reads it by position).
    /// Called by [`Client::connect`]; call it yourself only after
    /// [`Client::logoff`].
    pub fn logon(&mut self, user: &str, password: &str) -> Result<(), BoltError> {
        self.guarded(|c| {
            let auth = if user.is_empty() && password.is_empty() {
                Value::map([("scheme", "none")])
            } else {
                Value::map([
                    ("scheme", "basic"),
                    ("principal", user),
                    ("credentials", password),
                ])
            };
            c.send(&[(msg::LOGON, vec![auth])], "sending LOGON")?;
            match c.recv("waiting for the LOGON reply") {
                Ok(Reply::Success(_)) => Ok(()),
                Ok(Reply::Failure { message, code }) => {
                    // The connection is in FAILED state; a new LOGON needs
                    // RESET first, but a refused login usually ends here.
                    c.defunct = Some("authentication failed".into());
                    Err(BoltError::Auth {
                        message: if message.is_empty() {
                            format!("credentials refused ({code})")
                        } else {
                            format!("{message} ({code})")
                        },
                    })
                }
                Ok(other) => Err(unexpected(&other, "LOGON")),
                Err(BoltError::Io { .. }) => {
                    c.defunct = Some("authentication failed".into());
                    Err(BoltError::Auth {
                        message:
                            "the server closed the connection after LOGON (credentials refused?)"
                                .into(),
                    })
                }
                Err(e) => Err(e),
            }
        })
    }

    /// Logs out (LOGOFF); the connection stays open for a new
    /// [`Client::logon`].
    pub fn logoff(&mut self) -> Result<(), BoltError> {
        self.guarded(|c| c.simple(msg::LOGOFF, vec![], "LOGOFF"))
    }

    /// The server's agent string from the HELLO reply (FalkorDB:
    /// `Neo4j/5.13.0`).
    pub fn server_agent(&self) -> &str {
        &self.server_agent
    }

    /// The negotiated Bolt version, e.g. `(5, 7)`.
    pub fn protocol_version(&self) -> (u8, u8) {
        self.protocol_version
    }

    /// The server's connection id, if it sent one.
    pub fn connection_id(&self) -> Option<&str> {
        self.connection_id.as_deref()
    }

    /// True between [`Client::begin`] and [`Client::commit`]/[`Client::rollback`].
    pub fn in_transaction(&self) -> bool {
        self.in_transaction
    }

    /// Runs a query (RUN, then PULL all) and returns all its rows.
    ///
    /// `params` become the RUN parameter map. With FalkorDB keep them tiny
    /// or empty: it crashes on RUN messages with parameters over ~4 KiB and
    /// mangles strings and floats in parameters; send data as
    /// [`crate::cypher_literal`]s in the query text instead.
    pub fn run(&mut self, query: &str, params: &[(&str, Value)]) -> Result<QueryResult, BoltError> {
        self.guarded(|c| c.run_inner(query, params, Fetch::Keep))
    }

    /// Runs a query and returns only its summary; the rows are read and
    /// dropped (RUN, then PULL all). Meant for writes.
    ///
    /// This does not use DISCARD, because FalkorDB 4.16 answers DISCARD
    /// like PULL and then never answers that connection again; see
    /// [`Client::execute_with_discard`].
    pub fn execute(&mut self, query: &str, params: &[(&str, Value)]) -> Result<Summary, BoltError> {
        self.guarded(|c| c.run_inner(query, params, Fetch::Drop).map(|r| r.summary))
    }

    /// Like [`Client::execute`] but with RUN, then DISCARD all, so the
    /// server does not send the rows. For Neo4j only: FalkorDB 4.16 sends
    /// the rows anyway and then ignores every later request on this
    /// connection (the next call times out).
    pub fn execute_with_discard(
        &mut self,
        query: &str,
        params: &[(&str, Value)],
    ) -> Result<Summary, BoltError> {
        self.guarded(|c| {
            c.run_inner(query, params, Fetch::Discard)
                .map(|r| r.summary)
        })
    }

    /// Opens an explicit transaction (BEGIN). FalkorDB accepts it but runs
    /// each statement at once: there is no rollback there.
    pub fn begin(&mut self) -> Result<(), BoltError> {
        self.guarded(|c| {
            if c.in_transaction {
                return Err(BoltError::Usage("a transaction is already open".into()));
            }
            let mut extra = Map::new();
            if let Some(db) = &c.database {
                extra.push(("db".into(), Value::from(db)));
            }
            c.simple(msg::BEGIN, vec![Value::Map(extra)], "BEGIN")?;
            c.in_transaction = true;
            Ok(())
        })
    }

    /// Commits the open transaction (COMMIT).
    pub fn commit(&mut self) -> Result<(), BoltError> {
        self.end_transaction(msg::COMMIT, "COMMIT")
    }

    /// Rolls back the open transaction (ROLLBACK).
    pub fn rollback(&mut self) -> Result<(), BoltError> {
        self.end_transaction(msg::ROLLBACK, "ROLLBACK")
    }

    fn end_transaction(&mut self, signature: u8, name: &str) -> Result<(), BoltError> {
        self.guarded(|c| {
            if !c.in_transaction {
                return Err(BoltError::Usage(format!(
                    "{name} without an open transaction"
                )));
            }
            let r = c.simple(signature, vec![], name);
            c.in_transaction = false;
            r
        })
    }

    /// Sends RESET: abandons any open transaction and returns the session to
    /// the ready state.
    pub fn reset(&mut self) -> Result<(), BoltError> {
        self.guarded(|c| c.reset_inner())
    }

    /// Closes the connection: no Bolt GOODBYE (FalkorDB would then hang the
    /// next new connection), just a TLS close_notify if TLS, and a TCP
    /// shutdown. Dropping the client has the same effect, minus the
    /// close_notify.
    pub fn close(self) {
        self.conn.close();
    }

    // --- internals ------------------------------------------------------

    /// Runs `f` unless the connection is defunct; marks it defunct after a
    /// fatal error.
    fn guarded<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, BoltError>,
    ) -> Result<T, BoltError> {
        if let Some(reason) = &self.defunct {
            return Err(BoltError::Usage(format!(
                "the connection cannot be used after an earlier error ({reason}); connect again"
            )));
        }
        let r = f(self);
        if let Err(e) = &r
            && e.is_fatal()
        {
            self.defunct = Some(e.to_string());
        }
        r
    }

    fn send(&mut self, messages: &[(u8, Vec<Value>)], during: &str) -> Result<(), BoltError> {
        let mut out = Vec::new();
        let mut body = Vec::new();
        for (signature, fields) in messages {
            body.clear();
            packstream::encode_struct(*signature, fields, &mut body)?;
            conn::frame(&body, &mut out);
        }
        self.conn.write_all(&out, during)
    }

    fn recv(&mut self, during: &str) -> Result<Reply, BoltError> {
        self.recv_limited(during, self.max_result_bytes)
            .map(|(r, _)| r)
    }

    /// Reads one reply whose decoded values may take at most `limit` bytes
    /// of memory; also returns what they take.
    fn recv_limited(&mut self, during: &str, limit: usize) -> Result<(Reply, usize), BoltError> {
        let body = self.conn.read_message(self.max_message_bytes, during)?;
        let (signature, mut fields, used) = packstream::decode_message_limited(&body, limit)
            .map_err(|e| match e {
                BoltError::Protocol(m) if m.contains("decoded values") => {
                    BoltError::Protocol(format!(
                        "the result is larger than the limit of {} bytes",
                        self.max_result_bytes
                    ))
                }
                other => other,
            })?;
        let reply = match (signature, fields.len()) {
            (msg::SUCCESS, 0) => Reply::Success(Map::new()),
            (msg::SUCCESS, 1) => match fields.pop() {
                Some(Value::Map(m)) => Reply::Success(m),
                _ => return Err(BoltError::Protocol("SUCCESS without a metadata map".into())),
            },
            (msg::RECORD, 1) => match fields.pop() {
                Some(Value::List(l)) => Reply::Record(l),
                _ => {
                    return Err(BoltError::Protocol(
                        "RECORD without a list of values".into(),
                    ));
                }
            },
            (msg::IGNORED, _) => Reply::Ignored,
            (msg::FAILURE, _) => {
                let meta = match fields.pop() {
                    Some(Value::Map(m)) => m,
                    _ => Map::new(),
                };
                let text = |k: &str| {
                    map_get(&meta, k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                let (mut code, message) = (text("code"), text("message"));
                if code.is_empty() {
                    code = text("neo4j_code");
                }
                if code.is_empty() {
                    code = "(no code)".into();
                }
                Reply::Failure { code, message }
            }
            (s, n) => {
                return Err(BoltError::Protocol(format!(
                    "unexpected message 0x{s:02X} with {n} fields"
                )));
            }
        };
        Ok((reply, used))
    }

    /// Sends one message that is answered by a single SUCCESS.
    fn simple(&mut self, signature: u8, fields: Vec<Value>, name: &str) -> Result<(), BoltError> {
        self.send(&[(signature, fields)], &format!("sending {name}"))?;
        match self.recv(&format!("waiting for the {name} reply"))? {
            Reply::Success(_) => Ok(()),
            Reply::Failure { code, message } => {
                self.recover()?;
                Err(BoltError::Server { code, message })
            }
            other => {
                self.recover()?;
                Err(unexpected(&other, name))
            }
        }
    }

    fn reset_inner(&mut self) -> Result<(), BoltError> {
        self.send(&[(msg::RESET, vec![])], "sending RESET")?;
        self.in_transaction = false;
        // Replies still owed for earlier pipelined requests come first as
        // IGNORED (Neo4j answers them at once; FalkorDB only after RESET).
        for _ in 0..MAX_IGNORED {
            match self.recv("waiting for the RESET reply")? {
                Reply::Success(_) => return Ok(()),
                Reply::Ignored => {}
                Reply::Failure { code, message } => {
                    return Err(BoltError::Protocol(format!(
                        "RESET failed: {code}: {message}"
                    )));
                }
                Reply::Record(_) => {
                    return Err(BoltError::Protocol("a RECORD in reply to RESET".into()));
                }
            }
        }
        Err(BoltError::Protocol(format!(
            "more than {MAX_IGNORED} IGNORED replies before the RESET reply"
        )))
    }

    /// RESET after a FAILURE; a failing RESET is fatal.
    fn recover(&mut self) -> Result<(), BoltError> {
        self.reset_inner().map_err(|e| match e {
            BoltError::Server { code, message } => {
                BoltError::Protocol(format!("RESET failed: {code}: {message}"))
            }
            other => other,
        })
    }

    fn run_inner(
        &mut self,
        query: &str,
        params: &[(&str, Value)],
        fetch_mode: Fetch,
    ) -> Result<QueryResult, BoltError> {
        let params: Map = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        let mut extra = Map::new();
        if !self.in_transaction
            && let Some(db) = &self.database
        {
            extra.push(("db".into(), Value::from(db)));
        }
        let fetch = Value::map([("n", -1i64)]);
        let (next, next_name) = match fetch_mode {
            Fetch::Keep | Fetch::Drop => (msg::PULL, "PULL"),
            Fetch::Discard => (msg::DISCARD, "DISCARD"),
        };
        self.send(
            &[
                (
                    msg::RUN,
                    vec![Value::from(query), Value::Map(params), Value::Map(extra)],
                ),
                (next, vec![fetch.clone()]),
            ],
            "sending RUN",
        )?;
        let run_meta = match self.recv("waiting for the RUN reply")? {
            Reply::Success(meta) => meta,
            Reply::Failure { code, message } => {
                self.recover()?;
                return Err(BoltError::Server { code, message });
            }
            other => return Err(unexpected(&other, "RUN")),
        };
        let fields: Vec<String> = map_get(&run_meta, "fields")
            .and_then(Value::as_list)
            .map(|l| {
                l.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let mut records = Vec::new();
        let mut result_bytes = 0usize;
        let during = format!("waiting for the {next_name} reply");
        let end_meta = loop {
            let left = self.max_result_bytes.saturating_sub(result_bytes);
            let (reply, used) = self.recv_limited(&during, left)?;
            match reply {
                Reply::Record(values) => {
                    // Dropped rows count too: the limit also bounds the time
                    // a server can keep the client reading.
                    result_bytes = result_bytes.saturating_add(used);
                    if fetch_mode == Fetch::Keep {
                        records.push(values);
                    }
                }
                Reply::Success(meta) => {
                    if map_get(&meta, "has_more").and_then(Value::as_bool) == Some(true) {
                        self.send(
                            &[(next, vec![fetch.clone()])],
                            &format!("sending {next_name}"),
                        )?;
                        continue;
                    }
                    break meta;
                }
                Reply::Failure { code, message } => {
                    self.recover()?;
                    return Err(BoltError::Server { code, message });
                }
                Reply::Ignored => return Err(unexpected(&Reply::Ignored, next_name)),
            }
        };
        Ok(QueryResult {
            fields,
            records,
            summary: summary(run_meta, end_meta),
        })
    }
}

fn unexpected(reply: &Reply, request: &str) -> BoltError {
    let what = match reply {
        Reply::Success(_) => "SUCCESS",
        Reply::Record(_) => "RECORD",
        Reply::Ignored => "IGNORED",
        Reply::Failure { .. } => "FAILURE",
    };
    BoltError::Protocol(format!("unexpected {what} in reply to {request}"))
}

fn summary(run_meta: Map, end_meta: Map) -> Summary {
    let mut s = Summary::default();
    if let Some(Value::Map(stats)) = map_get(&end_meta, "stats") {
        for (k, v) in stats {
            match v {
                Value::Int(i) => {
                    s.stats.insert(k.clone(), *i);
                }
                Value::Bool(b) => {
                    s.stats.insert(k.clone(), i64::from(*b));
                }
                _ => {}
            }
        }
    }
    let text = |k: &str| {
        map_get(&end_meta, k)
            .or_else(|| map_get(&run_meta, k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    s.query_type = text("type");
    s.bookmark = text("bookmark");
    s.database = text("db");
    s.metadata = run_meta;
    s.metadata.extend(end_meta);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_offers_5_7_down_to_5_1_as_one_range() {
        let h = handshake_request();
        assert_eq!(&h[..4], &[0x60, 0x60, 0xB0, 0x17]);
        assert_eq!(&h[4..8], &[0, 6, 7, 5]);
        assert_eq!(&h[8..], &[0u8; 12]);
    }

    #[test]
    fn config_debug_hides_the_password() {
        let c = Config::new("bolt://localhost", "falkordb", "hunter2");
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn summary_collects_counters_and_metadata() {
        let run = vec![("fields".to_owned(), Value::from(vec!["n"]))];
        let end = vec![
            (
                "stats".to_owned(),
                Value::map([
                    ("nodes-created", Value::Int(3)),
                    ("contains-updates", Value::Bool(true)),
                    ("odd", Value::from("x")),
                ]),
            ),
            ("type".to_owned(), Value::from("w")),
            ("db".to_owned(), Value::from("neo4j")),
        ];
        let s = summary(run, end);
        assert_eq!(s.stat("nodes-created"), 3);
        assert_eq!(s.stat("contains-updates"), 1);
        assert_eq!(s.stat("odd"), 0);
        assert_eq!(s.query_type.as_deref(), Some("w"));
        assert_eq!(s.database.as_deref(), Some("neo4j"));
        assert_eq!(s.metadata.len(), 4);
    }
}
