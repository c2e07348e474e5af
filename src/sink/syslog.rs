//! Syslog over the network: UDP (RFC 5426, one record per datagram, no
//! delivery guarantee) and TCP (RFC 6587, octet counting by default, or a
//! line break after each message).
//!
//! TCP delivery, as well as plain syslog allows: records are batched and
//! `flush` returns only once the batch is written; while the receiver is
//! unreachable it reconnects with exponential back-off and jitter (100 ms
//! doubling to 30 s), keeping the sink thread — and through the bounded
//! channel, the inputs — waiting, so the log files buffer the outage and
//! nothing is dropped. Plain TCP has no acknowledgement: bytes a receiver
//! accepted into its socket but never processed (it was stopped) vanish
//! silently. So the sink notices a closed peer before writing, and after
//! every reconnect first sends again the last `resend_window_bytes` it had
//! sent (at-least-once; a receiver that did process them sees duplicates).

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use serde::Deserialize;

use super::tls::{Conn, Tls, TlsConfig};
use super::{Backoff, Flush, Sink};

/// UDP, TCP, or TCP with TLS (RFC 5425: octet counting always).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Udp,
    #[default]
    Tcp,
    Tls,
}

/// How TCP separates messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    /// `LEN SP MSG` (RFC 6587 §3.4.1): any byte may be in a message.
    #[default]
    OctetCounting,
    /// `MSG LF` (RFC 6587 §3.4.2): line breaks inside a message become spaces.
    Newline,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest UDP payload sent; longer records are cut (and counted).
const MAX_DATAGRAM: usize = 65_000;

/// A syslog receiver over UDP or TCP.
pub struct SyslogSink {
    address: String,
    transport: Transport,
    framing: Framing,
    udp: Option<UdpSocket>,
    tcp: Option<Conn>,
    tls: Option<Tls>,
    /// Framed records not yet written.
    batch: Vec<u8>,
    /// The last framed batches written, for sending again after a reconnect.
    window: VecDeque<Vec<u8>>,
    window_bytes: usize,
    window_max: usize,
    backoff: Backoff,
    /// Counters: reconnects, bytes sent again, datagrams cut.
    pub reconnects: u64,
    pub resent_bytes: u64,
    pub cut_datagrams: u64,
}

impl SyslogSink {
    /// A sink for `address` (host:port); nothing is connected until the first flush.
    pub fn new(
        address: &str,
        transport: Transport,
        framing: Framing,
        resend_window_bytes: usize,
        tls: Option<&TlsConfig>,
    ) -> io::Result<SyslogSink> {
        // Resolve once now, so that a typo is a start-up error.
        address.to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{address}: no address"),
            )
        })?;
        Ok(SyslogSink {
            address: address.to_string(),
            transport,
            // RFC 5425: TLS always counts octets.
            framing: if transport == Transport::Tls {
                Framing::OctetCounting
            } else {
                framing
            },
            udp: None,
            tcp: None,
            tls: match transport {
                Transport::Tls => Some(Tls::new(tls.unwrap_or(&TlsConfig::default()), address)?),
                _ => None,
            },
            batch: Vec::new(),
            window: VecDeque::new(),
            window_bytes: 0,
            window_max: resend_window_bytes,
            backoff: Backoff::new(),
            reconnects: 0,
            resent_bytes: 0,
            cut_datagrams: 0,
        })
    }

    fn send_udp(&mut self, msg: &[u8]) -> io::Result<()> {
        if self.udp.is_none() {
            let target = self
                .address
                .to_socket_addrs()?
                .next()
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address"))?;
            let local = if target.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            let s = UdpSocket::bind(local)?;
            s.connect(target)?;
            self.udp = Some(s);
        }
        let msg = if msg.len() > MAX_DATAGRAM {
            self.cut_datagrams += 1;
            &msg[..MAX_DATAGRAM]
        } else {
            msg
        };
        // A refused datagram (nobody listening) is not an error for UDP syslog.
        match self.udp.as_ref().expect("bound").send(msg) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn connect(&mut self) -> io::Result<()> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        for addr in self.address.to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                Ok(s) => {
                    s.set_nodelay(true)?;
                    s.set_write_timeout(Some(Duration::from_secs(30)))?;
                    s.set_read_timeout(Some(CONNECT_TIMEOUT))?;
                    self.tcp = Some(match &self.tls {
                        Some(tls) => tls.connect(s)?,
                        None => Conn::Plain(s),
                    });
                    return Ok(());
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Keeps what was written, up to the window size.
    fn remember(&mut self, sent: Vec<u8>) {
        self.window_bytes += sent.len();
        self.window.push_back(sent);
        while self.window_bytes > self.window_max {
            match self.window.pop_front() {
                Some(old) => self.window_bytes -= old.len(),
                None => break,
            }
        }
    }
}

impl Sink for SyslogSink {
    fn describe(&self) -> String {
        let t = match self.transport {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        };
        format!("syslog {t} {}", self.address)
    }

    fn write(&mut self, record: &[u8]) -> io::Result<()> {
        let msg = record.strip_suffix(b"\n").unwrap_or(record);
        match self.transport {
            Transport::Udp => self.send_udp(msg),
            Transport::Tcp | Transport::Tls => {
                match self.framing {
                    Framing::OctetCounting => {
                        self.batch
                            .extend_from_slice(msg.len().to_string().as_bytes());
                        self.batch.push(b' ');
                        self.batch.extend_from_slice(msg);
                    }
                    Framing::Newline => {
                        self.batch
                            .extend(msg.iter().map(|&b| if b == b'\n' { b' ' } else { b }));
                        self.batch.push(b'\n');
                    }
                }
                Ok(())
            }
        }
    }

    fn flush(&mut self, ctx: &Flush<'_>) -> io::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let mut failed = false;
        loop {
            (ctx.heartbeat)();
            if self.tcp.as_mut().is_some_and(Conn::peer_closed) {
                self.tcp = None;
                failed = true;
            }
            if self.tcp.is_none() {
                if let Err(e) = self.connect() {
                    if !failed {
                        eprintln!(
                            "sipannotate: {}: {e}; retrying with back-off",
                            self.describe()
                        );
                    }
                    failed = true;
                    self.backoff.wait(ctx)?;
                    continue;
                }
                // What the last connection may have swallowed goes again first.
                let again: Vec<u8> = self.window.iter().flatten().copied().collect();
                if !again.is_empty() {
                    self.reconnects += 1;
                    let stream = self.tcp.as_mut().expect("connected");
                    if stream.write_all(&again).is_err() {
                        self.tcp = None;
                        failed = true;
                        continue;
                    }
                    self.resent_bytes += again.len() as u64;
                }
                if failed {
                    eprintln!("sipannotate: {}: connected again", self.describe());
                }
            }
            let stream = self.tcp.as_mut().expect("connected");
            match stream.write_all(&self.batch).and_then(|_| stream.flush()) {
                Ok(()) => {
                    let sent = std::mem::take(&mut self.batch);
                    self.remember(sent);
                    self.backoff.reset();
                    return Ok(());
                }
                Err(_) => {
                    self.tcp = None;
                    failed = true;
                }
            }
        }
    }
}
