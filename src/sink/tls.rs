//! TLS for the syslog sink (RFC 5425) with rustls: the receiver's chain is
//! checked against a CA file (or the system's roots) and its name against
//! `server_name` (default: the host part of the address), always; a client
//! certificate is sent when one is configured. Connections are plain
//! `TcpStream`s or rustls streams behind one type.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde::Deserialize;

/// `[output.tls]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of the CA(s) that signed the receiver's certificate; default: the system's roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain and key, for receivers that want mutual TLS.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// The name the receiver's certificate must carry; default: the address's host.
    pub server_name: Option<String>,
}

/// A ready client configuration.
#[derive(Clone)]
pub struct Tls {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

impl Tls {
    /// Loads certificates and keys; errors name the file.
    pub fn new(cfg: &TlsConfig, address: &str) -> io::Result<Tls> {
        let mut roots = RootCertStore::empty();
        match &cfg.ca_file {
            Some(ca) => {
                let certs = CertificateDer::pem_file_iter(ca)
                    .map_err(|e| invalid(format!("tls.ca_file {}: {e}", ca.display())))?;
                for cert in certs {
                    let cert =
                        cert.map_err(|e| invalid(format!("tls.ca_file {}: {e}", ca.display())))?;
                    roots
                        .add(cert)
                        .map_err(|e| invalid(format!("tls.ca_file {}: {e}", ca.display())))?;
                }
                if roots.is_empty() {
                    return Err(invalid(format!(
                        "tls.ca_file {}: no certificate in it",
                        ca.display()
                    )));
                }
            }
            None => {
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(format!("tls: {e}")))?
            .with_root_certificates(roots);
        let config = match (&cfg.cert_file, &cfg.key_file) {
            (Some(c), Some(k)) => {
                let chain = CertificateDer::pem_file_iter(c)
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| invalid(format!("tls.cert_file {}: {e}", c.display())))?;
                let key = PrivateKeyDer::from_pem_file(k)
                    .map_err(|e| invalid(format!("tls.key_file {}: {e}", k.display())))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| invalid(format!("tls.cert_file/key_file: {e}")))?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => return Err(invalid("tls: cert_file and key_file go together".into())),
        };
        let host = match &cfg.server_name {
            Some(n) => n.clone(),
            None => {
                let h = address.rsplit_once(':').map_or(address, |(h, _)| h);
                h.trim_start_matches('[').trim_end_matches(']').to_string()
            }
        };
        let name = ServerName::try_from(host.clone())
            .map_err(|e| invalid(format!("tls.server_name \"{host}\": {e}")))?;
        Ok(Tls {
            config: Arc::new(config),
            name,
        })
    }

    /// Runs the handshake over `sock` (so a bad certificate fails here, not at the first write).
    pub fn connect(&self, sock: TcpStream) -> io::Result<Conn> {
        let conn = ClientConnection::new(self.config.clone(), self.name.clone())
            .map_err(|e| io::Error::other(format!("tls: {e}")))?;
        let mut stream = StreamOwned::new(conn, sock);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(Conn::Tls(Box::new(stream)))
    }
}

/// A connection to a receiver.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Conn {
    /// Whether the receiver has closed the connection (it never sends data;
    /// under TLS it may send session tickets, which are consumed here).
    pub fn peer_closed(&mut self) -> bool {
        let sock = match self {
            Conn::Plain(s) => s,
            Conn::Tls(t) => &t.sock,
        };
        if sock.set_nonblocking(true).is_err() {
            return true;
        }
        let closed = match self {
            Conn::Plain(s) => {
                let mut byte = [0u8; 1];
                match s.peek(&mut byte) {
                    Ok(0) => true,
                    Ok(_) => {
                        // Unexpected data from a receiver: drop it.
                        let mut sink = [0u8; 4096];
                        let _ = s.read(&mut sink);
                        false
                    }
                    Err(e) => e.kind() != io::ErrorKind::WouldBlock,
                }
            }
            Conn::Tls(t) => loop {
                match t.conn.read_tls(&mut t.sock) {
                    Ok(0) => break true,
                    Ok(_) => match t.conn.process_new_packets() {
                        Ok(state) if state.peer_has_closed() => break true,
                        Ok(_) => {
                            let mut sink = [0u8; 4096];
                            let _ = t.conn.reader().read(&mut sink);
                        }
                        Err(_) => break true,
                    },
                    Err(e) => break e.kind() != io::ErrorKind::WouldBlock,
                }
            },
        };
        let sock = match self {
            Conn::Plain(s) => s,
            Conn::Tls(t) => &t.sock,
        };
        closed || sock.set_nonblocking(false).is_err()
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(t) => t.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(t) => t.flush(),
        }
    }
}
