//! The byte stream under Bolt: TCP or TLS over TCP, with a deadline on every
//! read and write, a read buffer, and Bolt's chunked message framing.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};

use crate::error::BoltError;
use crate::uri::{BoltUri, Security};

/// Largest chunk the framing allows.
pub(crate) const MAX_CHUNK: usize = 0xFFFF;

/// Size of the read buffer.
const READ_BUFFER: usize = 64 * 1024;

/// Shortest socket timeout handed to the OS (zero would mean "no timeout").
const MIN_SOCKET_TIMEOUT: Duration = Duration::from_millis(1);

enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

/// One open connection to a Bolt server.
pub(crate) struct Conn {
    stream: Stream,
    rbuf: Box<[u8]>,
    rstart: usize,
    rend: usize,
    /// Longest wait for one complete server message or one complete write.
    pub(crate) io_timeout: Duration,
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Resolves the URI's host (blocking name lookup through the system
/// resolver, which has its own timeouts).
pub(crate) fn resolve(uri: &BoltUri) -> Result<Vec<SocketAddr>, BoltError> {
    let addrs: Vec<SocketAddr> = (uri.host.as_str(), uri.port)
        .to_socket_addrs()
        .map_err(|source| BoltError::Connect {
            addr: uri.authority(),
            source,
        })?
        .collect();
    if addrs.is_empty() {
        return Err(BoltError::Connect {
            addr: uri.authority(),
            source: io::Error::new(io::ErrorKind::NotFound, "the host name has no address"),
        });
    }
    Ok(addrs)
}

/// Opens a TCP connection to the first address that accepts it.
pub(crate) fn connect_tcp(
    uri: &BoltUri,
    addrs: &[SocketAddr],
    timeout: Duration,
) -> Result<TcpStream, BoltError> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(addr, timeout.max(MIN_SOCKET_TIMEOUT)) {
            Ok(s) => {
                // Small request/response messages: do not wait for Nagle.
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) if is_timeout(&e) => {
                last = Some(BoltError::Timeout {
                    during: format!("connecting to {addr}"),
                    timeout,
                });
            }
            Err(source) => {
                last = Some(BoltError::Connect {
                    addr: if addrs.len() == 1 {
                        uri.authority()
                    } else {
                        addr.to_string()
                    },
                    source,
                });
            }
        }
    }
    Err(last.unwrap_or_else(|| BoltError::Connect {
        addr: uri.authority(),
        source: io::Error::new(io::ErrorKind::NotFound, "no address to connect to"),
    }))
}

impl Conn {
    /// Wraps a connected socket, doing the TLS handshake first if the URI
    /// asks for TLS (within `handshake_timeout`).
    pub(crate) fn new(
        tcp: TcpStream,
        uri: &BoltUri,
        io_timeout: Duration,
        handshake_timeout: Duration,
    ) -> Result<Conn, BoltError> {
        let stream = match uri.security {
            Security::Plaintext => Stream::Plain(tcp),
            Security::Tls | Security::TlsNoVerify => {
                Stream::Tls(Box::new(tls_handshake(tcp, uri, handshake_timeout)?))
            }
        };
        Ok(Conn {
            stream,
            rbuf: vec![0u8; READ_BUFFER].into_boxed_slice(),
            rstart: 0,
            rend: 0,
            io_timeout,
        })
    }

    fn set_timeouts(&self, deadline: Instant, during: &str) -> Result<(), BoltError> {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| self.timeout(during))?;
        let left = Some(left.max(MIN_SOCKET_TIMEOUT));
        let tcp = self.stream.tcp();
        tcp.set_read_timeout(left)
            .and_then(|()| tcp.set_write_timeout(left))
            .map_err(|source| BoltError::Io {
                during: during.to_owned(),
                source,
            })
    }

    fn timeout(&self, during: &str) -> BoltError {
        BoltError::Timeout {
            during: during.to_owned(),
            timeout: self.io_timeout,
        }
    }

    fn io_error(&self, e: io::Error, during: &str) -> BoltError {
        if is_timeout(&e) {
            return self.timeout(during);
        }
        if let Some(tls) = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return BoltError::Protocol(format!("TLS failure {during}: {tls}"));
        }
        BoltError::Io {
            during: during.to_owned(),
            source: e,
        }
    }

    /// Writes all of `bytes` before `io_timeout` runs out.
    pub(crate) fn write_all(&mut self, bytes: &[u8], during: &str) -> Result<(), BoltError> {
        let deadline = Instant::now() + self.io_timeout;
        let mut done = 0;
        while done < bytes.len() {
            self.set_timeouts(deadline, during)?;
            let r = match &mut self.stream {
                Stream::Plain(s) => s.write(&bytes[done..]),
                Stream::Tls(s) => s.write(&bytes[done..]),
            };
            match r {
                Ok(0) => {
                    return Err(BoltError::Io {
                        during: during.to_owned(),
                        source: io::Error::new(
                            io::ErrorKind::WriteZero,
                            "the connection is closed",
                        ),
                    });
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_error(e, during)),
            }
        }
        loop {
            self.set_timeouts(deadline, during)?;
            let r = match &mut self.stream {
                Stream::Plain(s) => s.flush(),
                Stream::Tls(s) => s.flush(),
            };
            match r {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_error(e, during)),
            }
        }
    }

    /// Refills the read buffer with at least one byte.
    fn fill(&mut self, deadline: Instant, during: &str) -> Result<(), BoltError> {
        loop {
            self.set_timeouts(deadline, during)?;
            let r = match &mut self.stream {
                Stream::Plain(s) => s.read(&mut self.rbuf),
                Stream::Tls(s) => s.read(&mut self.rbuf),
            };
            match r {
                Ok(0) => {
                    return Err(BoltError::Io {
                        during: during.to_owned(),
                        source: io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the server closed the connection",
                        ),
                    });
                }
                Ok(n) => {
                    self.rstart = 0;
                    self.rend = n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_error(e, during)),
            }
        }
    }

    /// Appends exactly `n` bytes to `out`.
    fn read_into(
        &mut self,
        out: &mut Vec<u8>,
        mut n: usize,
        deadline: Instant,
        during: &str,
    ) -> Result<(), BoltError> {
        while n > 0 {
            if self.rstart == self.rend {
                self.fill(deadline, during)?;
            }
            let take = n.min(self.rend - self.rstart);
            out.extend_from_slice(&self.rbuf[self.rstart..self.rstart + take]);
            self.rstart += take;
            n -= take;
        }
        Ok(())
    }

    /// Reads exactly `N` bytes.
    pub(crate) fn read_array<const N: usize>(
        &mut self,
        deadline: Instant,
        during: &str,
    ) -> Result<[u8; N], BoltError> {
        let mut v = Vec::with_capacity(N);
        self.read_into(&mut v, N, deadline, during)?;
        let mut a = [0u8; N];
        a.copy_from_slice(&v);
        Ok(a)
    }

    /// Reads one chunked message (skipping NOOP chunks between messages).
    /// The whole message must arrive within `io_timeout` and be at most
    /// `max_bytes` long.
    pub(crate) fn read_message(
        &mut self,
        max_bytes: usize,
        during: &str,
    ) -> Result<Vec<u8>, BoltError> {
        let deadline = Instant::now() + self.io_timeout;
        let mut body = Vec::new();
        loop {
            let len = usize::from(u16::from_be_bytes(self.read_array::<2>(deadline, during)?));
            if len == 0 {
                if body.is_empty() {
                    continue; // NOOP keep-alive
                }
                return Ok(body);
            }
            if body.len() + len > max_bytes {
                return Err(BoltError::Protocol(format!(
                    "a server message is larger than the limit of {max_bytes} bytes"
                )));
            }
            self.read_into(&mut body, len, deadline, during)?;
        }
    }

    /// Closes the connection without any Bolt goodbye (see the crate docs):
    /// a TLS close_notify if TLS, then a TCP shutdown.
    pub(crate) fn close(mut self) {
        if let Stream::Tls(s) = &mut self.stream {
            s.conn.send_close_notify();
            let _ = s.sock.set_write_timeout(Some(Duration::from_millis(200)));
            let _ = s.conn.write_tls(&mut s.sock);
        }
        let _ = self.stream.tcp().shutdown(Shutdown::Both);
    }
}

/// Frames a message body into chunks of at most 65535 bytes plus the end
/// marker, appending to `out`.
pub(crate) fn frame(body: &[u8], out: &mut Vec<u8>) {
    for chunk in body.chunks(MAX_CHUNK) {
        // chunks() never yields more than MAX_CHUNK bytes.
        let len = u16::try_from(chunk.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&[0, 0]);
}

fn tls_error(uri: &BoltUri, message: impl std::fmt::Display) -> BoltError {
    BoltError::Tls {
        host: uri.host.clone(),
        message: message.to_string(),
    }
}

fn tls_handshake(
    mut tcp: TcpStream,
    uri: &BoltUri,
    timeout: Duration,
) -> Result<StreamOwned<ClientConnection, TcpStream>, BoltError> {
    let config = tls_config(uri.security).map_err(|e| tls_error(uri, e))?;
    let name = ServerName::try_from(uri.host.clone())
        .map_err(|e| tls_error(uri, format!("invalid server name: {e}")))?;
    let mut conn = ClientConnection::new(config, name).map_err(|e| tls_error(uri, e))?;
    let deadline = Instant::now() + timeout;
    while conn.is_handshaking() {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| BoltError::Timeout {
                during: "in the TLS handshake".into(),
                timeout,
            })?;
        let _ = tcp.set_read_timeout(Some(left.max(MIN_SOCKET_TIMEOUT)));
        let _ = tcp.set_write_timeout(Some(left.max(MIN_SOCKET_TIMEOUT)));
        match conn.complete_io(&mut tcp) {
            Ok((0, 0)) if conn.is_handshaking() => {
                return Err(tls_error(
                    uri,
                    "the server closed the connection during the TLS handshake (does it speak TLS?)",
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => {
                return Err(BoltError::Timeout {
                    during: "in the TLS handshake".into(),
                    timeout,
                });
            }
            Err(e) => {
                let msg = match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                    Some(tls) => tls.to_string(),
                    None if e.kind() == io::ErrorKind::UnexpectedEof => {
                        "the server closed the connection during the TLS handshake (does it speak TLS?)"
                            .to_owned()
                    }
                    None => e.to_string(),
                };
                return Err(tls_error(uri, msg));
            }
        }
    }
    Ok(StreamOwned::new(conn, tcp))
}

fn tls_config(security: Security) -> Result<Arc<ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let config = match security {
        Security::TlsNoVerify => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoCertificateCheck(provider)))
            .with_no_client_auth(),
        Security::Tls | Security::Plaintext => {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(Arc::new(config))
}

/// Certificate "verifier" for `+ssc` URIs: accepts any certificate chain and
/// host name, but still checks that the server holds the certificate's key
/// (handshake signatures).
#[derive(Debug)]
struct NoCertificateCheck(Arc<CryptoProvider>);

impl ServerCertVerifier for NoCertificateCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
