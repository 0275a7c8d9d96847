//! Errors of the Bolt client. Every variant displays as one line, fit for a
//! CLI's `error: ...` (server-provided text is flattened and shortened).

use std::io;
use std::time::Duration;

/// Longest server-provided text shown in an error message, in characters.
const MAX_SHOWN: usize = 400;

/// Everything that can go wrong talking to a Bolt server.
#[derive(Debug, thiserror::Error)]
pub enum BoltError {
    /// The URI is not `bolt://`, `bolt+s://`, `bolt+ssc://`, `neo4j://`,
    /// `neo4j+s://` or `neo4j+ssc://` with a host and an optional port.
    #[error("invalid Bolt URI {uri:?}: {reason}")]
    InvalidUri {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `require_tls` is set and the URI is plaintext to a host that is not
    /// loopback.
    #[error(
        "refusing plaintext Bolt connection to non-loopback host {host}: TLS is required (use bolt+s:// or neo4j+s://)"
    )]
    PlaintextRefused {
        /// The host of the URI.
        host: String,
    },
    /// The TCP connection could not be made (refused, unreachable, name not
    /// resolved).
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// `host:port` or the resolved socket address.
        addr: String,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
    /// The TLS handshake failed (untrusted certificate, wrong host name, the
    /// server does not speak TLS, ...).
    #[error("TLS error with {host}: {}", one_line(message))]
    Tls {
        /// The host name the certificate was checked against.
        host: String,
        /// What rustls reported.
        message: String,
    },
    /// The server accepted none of the Bolt versions offered (5.7 down to
    /// 5.1), or closed the connection during the version handshake.
    #[error("the server does not speak Bolt 5.1-5.7: {detail}")]
    UnsupportedVersion {
        /// What the server answered.
        detail: String,
    },
    /// The server refused the credentials (LOGON failed).
    #[error("authentication failed: {}", one_line(message))]
    Auth {
        /// The server's message.
        message: String,
    },
    /// A query or transaction message failed on the server (FAILURE).
    #[error("server error {}: {}", one_line(code), one_line(message))]
    Server {
        /// The server's error code (FalkorDB sends `SyntaxError` for all).
        code: String,
        /// The server's message.
        message: String,
    },
    /// No complete answer within the configured time.
    #[error("timed out after {:.1}s {during}", timeout.as_secs_f64())]
    Timeout {
        /// What the client was doing ("connecting to ...", "waiting for the RUN reply", ...).
        during: String,
        /// The timeout that ran out.
        timeout: Duration,
    },
    /// The connection broke (reset, closed by the server, ...).
    #[error("connection lost {during}: {source}")]
    Io {
        /// What the client was doing.
        during: String,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
    /// The server sent something that is not valid Bolt/PackStream, or an
    /// answer that does not fit the request, or more than the configured
    /// limits allow.
    #[error("Bolt protocol error: {}", one_line(.0))]
    Protocol(String),
    /// A value cannot be sent: too large for PackStream, too many structure
    /// fields, or no Cypher literal form (see [`crate::cypher_literal`]).
    #[error("cannot encode value: {0}")]
    Encode(String),
    /// The client was used in a way the protocol does not allow (commit
    /// without begin, begin twice, or use after an earlier fatal error).
    #[error("{0}")]
    Usage(String),
}

impl BoltError {
    /// True for errors after which the connection cannot be used any more
    /// (I/O, timeout, protocol). After [`BoltError::Server`] the client has
    /// already recovered with RESET and stays usable.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            BoltError::Io { .. }
                | BoltError::Timeout { .. }
                | BoltError::Protocol(_)
                | BoltError::Tls { .. }
        )
    }
}

/// Flattens server-provided text into one shortened line.
pub(crate) fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_SHOWN + 3));
    let mut last_space = false;
    for (count, c) in text.chars().enumerate() {
        if count == MAX_SHOWN {
            out.push_str("...");
            break;
        }
        if c.is_whitespace() || c.is_control() {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_is_one_short_line() {
        let e = BoltError::Server {
            code: "SyntaxError".into(),
            message: "line 1\n\tline 2\r\n".to_owned() + &"x".repeat(1000),
        };
        let shown = e.to_string();
        assert!(!shown.contains('\n') && !shown.contains('\r') && !shown.contains('\t'));
        assert!(shown.starts_with("server error SyntaxError: line 1 line 2 xxx"));
        assert!(shown.len() < 500, "{}", shown.len());
        assert!(shown.ends_with("..."));
    }

    #[test]
    fn timeout_names_what_and_how_long() {
        let e = BoltError::Timeout {
            during: "waiting for the RUN reply".into(),
            timeout: Duration::from_millis(1500),
        };
        assert_eq!(
            e.to_string(),
            "timed out after 1.5s waiting for the RUN reply"
        );
    }
}
