//! Bolt URIs and loopback detection.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::BoltError;

/// The default Bolt port.
pub const DEFAULT_PORT: u16 = 7687;

/// How the connection is secured, from the URI scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `bolt://`, `neo4j://`: no encryption.
    Plaintext,
    /// `bolt+s://`, `neo4j+s://`: TLS, the certificate must chain to a
    /// Mozilla root (the `webpki-roots` set) and match the host name.
    Tls,
    /// `bolt+ssc://`, `neo4j+ssc://`: TLS **without certificate
    /// verification** (accepts self-signed and any other certificate, so it
    /// protects against eavesdropping but not against an active
    /// man-in-the-middle). The handshake signatures are still checked.
    TlsNoVerify,
}

/// A parsed Bolt URI.
///
/// `neo4j://` (and its `+s`/`+ssc` forms) is accepted and treated exactly
/// like `bolt://`: this client does no cluster routing, it talks to the one
/// server named in the URI. A query string (`?policy=...`, routing context)
/// is ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoltUri {
    /// The scheme as written, lowercased (`bolt`, `neo4j+s`, ...).
    pub scheme: String,
    /// The host, without IPv6 brackets.
    pub host: String,
    /// The port (7687 when the URI has none).
    pub port: u16,
    /// Encryption and verification.
    pub security: Security,
}

impl BoltUri {
    /// Parses `scheme://host[:port][/][?query]`, with IPv6 hosts in brackets.
    pub fn parse(uri: &str) -> Result<BoltUri, BoltError> {
        let invalid = |reason: &str| BoltError::InvalidUri {
            uri: uri.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = uri.trim();
        let (scheme, rest) = trimmed
            .split_once("://")
            .ok_or_else(|| invalid("expected scheme://host[:port], e.g. bolt://localhost:7687"))?;
        let scheme = scheme.to_ascii_lowercase();
        let security = match scheme.as_str() {
            "bolt" | "neo4j" => Security::Plaintext,
            "bolt+s" | "neo4j+s" => Security::Tls,
            "bolt+ssc" | "neo4j+ssc" => Security::TlsNoVerify,
            _ => {
                return Err(invalid(
                    "unsupported scheme; expected bolt, bolt+s, bolt+ssc, neo4j, neo4j+s or neo4j+ssc",
                ));
            }
        };
        let authority = rest.split(['?', '#']).next().unwrap_or_default();
        let authority = authority.strip_suffix('/').unwrap_or(authority);
        if authority.contains('/') {
            return Err(invalid("a path is not allowed after the host"));
        }
        if authority.contains('@') {
            return Err(invalid(
                "credentials in the URI are not supported; pass the user and password separately",
            ));
        }
        let (host, port) = if let Some(after) = authority.strip_prefix('[') {
            let (host, tail) = after
                .split_once(']')
                .ok_or_else(|| invalid("missing ']' after an IPv6 address"))?;
            if host.parse::<Ipv6Addr>().is_err() {
                return Err(invalid("invalid IPv6 address in brackets"));
            }
            let port = match tail {
                "" => None,
                t => Some(
                    t.strip_prefix(':')
                        .ok_or_else(|| invalid("unexpected text after ']'"))?,
                ),
            };
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, _)) if h.contains(':') => {
                    return Err(invalid("IPv6 addresses must be written in brackets: [::1]"));
                }
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(invalid("missing host"));
        }
        if host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '[' || c == ']')
        {
            return Err(invalid("invalid character in host"));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| invalid("the port must be a number in 1..65535"))?,
        };
        Ok(BoltUri {
            scheme,
            host: host.to_owned(),
            port,
            security,
        })
    }

    /// True when the connection would be unencrypted and the host is not
    /// loopback: the case a CLI should warn about (and refuse when TLS is
    /// required).
    pub fn is_plaintext_to_remote(&self) -> bool {
        self.security == Security::Plaintext && !is_loopback_host(&self.host)
    }

    /// `host:port`, with brackets around an IPv6 host.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// True for `localhost` (any case, optional trailing dot), IPv4 addresses in
/// `127.0.0.0/8`, and `::1` (also as `[::1]` and as the IPv4-mapped
/// `::ffff:127.x.y.z`). Other names are not resolved: a name that happens to
/// resolve to a loopback address does not count.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => {
            v6.is_loopback()
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4: Ipv4Addr| v4.is_loopback())
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "LOCALHOST",
            "localhost.",
            "127.0.0.1",
            "127.1.2.3",
            "127.255.255.255",
            "::1",
            "[::1]",
            "0:0:0:0:0:0:0:1",
            "::ffff:127.0.0.1",
            "[::ffff:127.0.0.2]",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "",
            "example.com",
            "localhost.example.com",
            "mylocalhost",
            "128.0.0.1",
            "126.255.255.255",
            "10.0.0.1",
            "0.0.0.0",
            "::",
            "::2",
            "[::2]",
            "::ffff:10.0.0.1",
            "127.0.0.1.nip.io",
            "127.0.0",
            "[127.0.0.1]x",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn parses_schemes_hosts_and_ports() {
        let u = BoltUri::parse("bolt://localhost").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.security),
            ("localhost", 7687, Security::Plaintext)
        );
        let u = BoltUri::parse("neo4j+s://db.example.com:7688/").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.security),
            ("db.example.com", 7688, Security::Tls)
        );
        assert!(u.scheme == "neo4j+s");
        let u = BoltUri::parse("BOLT+SSC://[::1]:9999?policy=x").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.security),
            ("::1", 9999, Security::TlsNoVerify)
        );
        assert_eq!(u.authority(), "[::1]:9999");
        let u = BoltUri::parse("neo4j://10.1.2.3:1").unwrap();
        assert!(u.is_plaintext_to_remote());
        assert!(
            !BoltUri::parse("bolt://127.0.0.1:1")
                .unwrap()
                .is_plaintext_to_remote()
        );
        assert!(
            !BoltUri::parse("bolt+s://10.1.2.3")
                .unwrap()
                .is_plaintext_to_remote()
        );
    }

    #[test]
    fn rejects_bad_uris_with_a_reason() {
        for bad in [
            "localhost:7687",
            "http://localhost:7474",
            "bolt://",
            "bolt://:7687",
            "bolt://host:0",
            "bolt://host:65536",
            "bolt://host:x",
            "bolt://user:pw@host",
            "bolt://::1",
            "bolt://[::1",
            "bolt://[nothost]:1",
            "bolt://host/db",
            "bolt://ho st",
        ] {
            let e = BoltUri::parse(bad).unwrap_err();
            assert!(matches!(e, BoltError::InvalidUri { .. }), "{bad}: {e}");
            assert!(!e.to_string().contains('\n'));
        }
    }
}
