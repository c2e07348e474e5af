//! TLS for the syslog sink (RFC 5425) with rustls: the receiver's chain is
//! checked against a CA file (or the system's roots) and its name against
//! `server_name` (default: the host part of the address), always; or, where
//! there is no PKI (a receiver with a self-signed certificate), the
//! receiver's certificate is pinned by its SHA-256 fingerprint (RFC 5425
//! §4.2.2 and §5.2), the handshake signature still checked. A client
//! certificate is sent when one is configured. Connections are plain
//! `TcpStream`s or rustls streams behind one type.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};
use serde::Deserialize;
use sha2::{Digest, Sha256};

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
    /// Instead of a CA: the SHA-256 fingerprints of the receiver's
    /// certificate (`SHA-256:AB:CD:...`, as `openssl x509 -fingerprint
    /// -sha256` prints it; colons and case do not matter). Several allow a
    /// certificate change without a gap.
    #[serde(default)]
    pub fingerprints: Vec<String>,
}

/// Parses `SHA-256:AB:CD:..` (or bare hex) into 32 bytes.
fn parse_fingerprint(s: &str) -> Result<[u8; 32], String> {
    let mut t = s.trim();
    for prefix in [
        "SHA-256:",
        "sha-256:",
        "SHA256:",
        "sha256:",
        "SHA256 Fingerprint=",
        "sha256 Fingerprint=",
    ] {
        if let Some(rest) = t.strip_prefix(prefix) {
            t = rest;
        }
    }
    let hex: String = t
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "tls.fingerprints: \"{s}\" is not a SHA-256 fingerprint (64 hex digits, e.g. from `openssl x509 -noout -fingerprint -sha256 -in cert.pem`)"
        ));
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex digits");
    }
    Ok(out)
}

fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Accepts exactly the certificates pinned by fingerprint; the handshake
/// signature is still verified, so the peer must hold the pinned key.
#[derive(Debug)]
struct PinnedCert {
    pins: Vec<[u8; 32]>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if self.pins.contains(&got) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "certificate fingerprint SHA-256:{} is not one of tls.fingerprints",
                colon_hex(&got)
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
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
        let pins = cfg
            .fingerprints
            .iter()
            .map(|f| parse_fingerprint(f))
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        if !pins.is_empty() && cfg.ca_file.is_some() {
            return Err(invalid(
                "tls: give ca_file or fingerprints, not both (a pinned certificate needs no CA)"
                    .into(),
            ));
        }
        let mut roots = RootCertStore::empty();
        match &cfg.ca_file {
            _ if !pins.is_empty() => {}
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
        let algorithms = provider.signature_verification_algorithms;
        let versions = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(format!("tls: {e}")))?;
        let builder = if pins.is_empty() {
            versions.with_root_certificates(roots)
        } else {
            versions
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PinnedCert { pins, algorithms }))
        };
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

    /// The rustls configuration (for an HTTP client).
    pub fn client_config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }

    /// Runs the handshake over `sock` (so a bad certificate fails here, not at the first write).
    pub fn connect(&self, sock: TcpStream) -> io::Result<Conn> {
        let conn = ClientConnection::new(self.config.clone(), self.name.clone())
            .map_err(|e| io::Error::other(format!("tls: {e}")))?;
        let mut stream = StreamOwned::new(conn, sock);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        if stream.conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3) {
            await_verdict(&mut stream)?;
        }
        Ok(Conn::Tls(Box::new(stream)))
    }
}

/// How long a TLS 1.3 connection waits for the receiver's verdict on it.
const VERDICT_WAIT: Duration = Duration::from_millis(500);

/// TLS 1.3 ends the client's handshake before the receiver has judged the
/// client (its certificate, or the lack of one); the verdict, session
/// tickets or an alert, follows at once. Waiting briefly for it makes a
/// refusal an error here, with its reason, instead of records written into
/// a connection the receiver is closing.
fn await_verdict(stream: &mut StreamOwned<ClientConnection, TcpStream>) -> io::Result<()> {
    let hint = "does the receiver require a client certificate? set tls.cert_file and tls.key_file";
    stream.sock.set_read_timeout(Some(VERDICT_WAIT))?;
    let verdict = match stream.conn.read_tls(&mut stream.sock) {
        Ok(0) => Err(io::Error::other(format!(
            "tls: the receiver closed the connection after the handshake ({hint})"
        ))),
        Ok(_) => match stream.conn.process_new_packets() {
            Ok(state) if state.peer_has_closed() => Err(io::Error::other(format!(
                "tls: the receiver closed the connection after the handshake ({hint})"
            ))),
            Ok(_) => Ok(()),
            Err(e) => Err(io::Error::other(format!(
                "tls: the receiver refused the connection: {e} ({hint})"
            ))),
        },
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    };
    stream.sock.set_read_timeout(None)?;
    verdict
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_as_openssl_prints_them_and_nothing_else() {
        let hex = "AB:".repeat(31) + "CD";
        let want = {
            let mut b = [0xABu8; 32];
            b[31] = 0xCD;
            b
        };
        for s in [
            format!("sha256 Fingerprint={hex}"),
            format!("SHA-256:{hex}"),
            hex.to_lowercase(),
            hex.replace(':', ""),
        ] {
            assert_eq!(parse_fingerprint(&s), Ok(want), "{s}");
        }
        for bad in [
            "",
            "SHA-256:AB",
            "zz".repeat(32).as_str(),
            &("AB".repeat(33)),
        ] {
            let e = parse_fingerprint(bad).unwrap_err();
            assert!(e.contains("tls.fingerprints"), "{e}");
        }
        let cfg = TlsConfig {
            ca_file: Some("/etc/ssl/x.pem".into()),
            fingerprints: vec![hex.clone()],
            ..TlsConfig::default()
        };
        let e = Tls::new(&cfg, "127.0.0.1:6514").err().unwrap().to_string();
        assert!(e.contains("not both"), "{e}");
    }
}
