//! A syslog listener, so a proxy's or PBX's syslog can be pointed straight at
//! the daemon: UDP (one message per datagram, RFC 5426) and TCP with either
//! framing of RFC 6587, octet counting (`LEN SP MSG`) or a line break after
//! each message, told apart per message by its first byte. RFC 3164 and 5424
//! headers are left in the line: the catalog's wrapper formats read them.
//!
//! Bounded: messages longer than `max_message_bytes` are cut (and counted),
//! at most `max_connections` TCP peers at once (more are refused and counted);
//! each TCP connection has its own engine so peers never mix their messages.

use std::io::{self, Read};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::catalog::Catalog;
use crate::format::Output;
use crate::framer::Engine;
use crate::matcher::Matcher;

/// Settings of one listener.
#[derive(Debug, Clone, Copy)]
pub struct SyslogOptions {
    pub max_message: usize,
    pub max_connections: usize,
    pub flush_timeout: Duration,
    /// How often blocked reads look at the stop flag.
    pub poll: Duration,
    pub max_line: usize,
}

/// Counters shared with the daemon's status.
#[derive(Debug, Default)]
pub struct SyslogCounters {
    pub messages: AtomicU64,
    pub events: AtomicU64,
    pub truncated: AtomicU64,
    pub refused_connections: AtomicU64,
    pub connections: AtomicUsize,
}

/// Receives datagrams until `stop` is set; each is one message.
#[allow(clippy::too_many_arguments)]
pub fn run_udp<O: Output>(
    socket: &UdpSocket,
    input: &str,
    catalog: &Catalog,
    matcher: &Matcher,
    out: &mut O,
    options: SyslogOptions,
    stop: &AtomicBool,
    counters: &SyslogCounters,
) -> io::Result<()> {
    socket.set_read_timeout(Some(options.poll.min(options.flush_timeout)))?;
    let mut feed = MessageFeed::new(catalog, matcher, input, options);
    let mut buf = vec![0u8; options.max_message + 1];
    while !stop.load(Ordering::Relaxed) {
        match socket.recv_from(&mut buf) {
            Ok((n, _peer)) => {
                let cut = n > options.max_message;
                feed.push(&buf[..n.min(options.max_message)], cut, out, counters)?;
            }
            Err(e) if is_timeout(&e) => {}
            Err(e) => return Err(e),
        }
        feed.tick(out, counters)?;
    }
    feed.finish(out, counters)
}

/// Accepts TCP peers until `stop` is set; each connection runs in its own
/// thread with its own engine and output (from `make_output`).
#[allow(clippy::too_many_arguments)]
pub fn run_tcp<O: Output, F: Fn() -> O + Sync>(
    listener: &TcpListener,
    input: &str,
    catalog: &Catalog,
    matcher: &Matcher,
    make_output: F,
    options: SyslogOptions,
    stop: &AtomicBool,
    counters: &SyslogCounters,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    std::thread::scope(|scope| {
        while !stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((stream, peer)) => {
                    if counters.connections.load(Ordering::Relaxed) >= options.max_connections {
                        counters.refused_connections.fetch_add(1, Ordering::Relaxed);
                        drop(stream);
                        continue;
                    }
                    counters.connections.fetch_add(1, Ordering::Relaxed);
                    let name = format!("{input}:{peer}");
                    let make_output = &make_output;
                    scope.spawn(move || {
                        let mut out = make_output();
                        if let Err(e) = serve_tcp(
                            stream, &name, catalog, matcher, &mut out, options, stop, counters,
                        ) {
                            if e.kind() != io::ErrorKind::BrokenPipe {
                                eprintln!("sipannotate: {name}: {e}");
                            }
                        }
                        counters.connections.fetch_sub(1, Ordering::Relaxed);
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(options.poll.min(Duration::from_millis(50)));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    eprintln!("sipannotate: {input}: accept failed: {e}");
                    std::thread::sleep(options.poll);
                }
            }
        }
        Ok(())
    })
}

#[allow(clippy::too_many_arguments)]
fn serve_tcp<O: Output>(
    mut stream: TcpStream,
    name: &str,
    catalog: &Catalog,
    matcher: &Matcher,
    out: &mut O,
    options: SyslogOptions,
    stop: &AtomicBool,
    counters: &SyslogCounters,
) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(options.poll.min(options.flush_timeout)))?;
    let mut feed = MessageFeed::new(catalog, matcher, name, options);
    let mut framer = StreamFramer::new(options.max_message);
    let mut chunk = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                framer.push(&chunk[..n]);
                while let Some((msg, cut)) = framer.next_message() {
                    feed.push(msg, cut, out, counters)?;
                }
            }
            Err(e) if is_timeout(&e) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e),
        }
        feed.tick(out, counters)?;
    }
    // A last message without its line break still counts.
    if let Some(rest) = framer.remainder() {
        feed.push(rest, false, out, counters)?;
    }
    feed.finish(out, counters)
}

/// One engine fed whole messages: each becomes one line; an open SIP
/// message is completed when the sender goes quiet; messages, cuts and
/// events are counted for the daemon's status.
struct MessageFeed<'c> {
    engine: Engine<'c>,
    line: Vec<u8>,
    /// Events already added to the shared counters.
    counted: u64,
    last: Instant,
    idle_done: bool,
    flush_timeout: Duration,
}

impl<'c> MessageFeed<'c> {
    fn new(
        catalog: &'c Catalog,
        matcher: &'c Matcher,
        input: &str,
        options: SyslogOptions,
    ) -> Self {
        let mut engine = Engine::new(catalog, matcher, input);
        engine.set_max_line(options.max_line);
        MessageFeed {
            engine,
            line: Vec::new(),
            counted: 0,
            last: Instant::now(),
            idle_done: true,
            flush_timeout: options.flush_timeout,
        }
    }

    /// One message (`cut`: shortened to the size limit).
    fn push<O: Output>(
        &mut self,
        msg: &[u8],
        cut: bool,
        out: &mut O,
        counters: &SyslogCounters,
    ) -> io::Result<()> {
        counters.messages.fetch_add(1, Ordering::Relaxed);
        if cut {
            counters.truncated.fetch_add(1, Ordering::Relaxed);
        }
        self.line.clear();
        self.line.extend_from_slice(trim_message(msg));
        self.line.push(b'\n');
        self.engine.push(&self.line, out)?;
        self.last = Instant::now();
        self.idle_done = false;
        Ok(())
    }

    /// After each wait: a quiet sender's open message is completed.
    fn tick<O: Output>(&mut self, out: &mut O, counters: &SyslogCounters) -> io::Result<()> {
        if !self.idle_done && self.last.elapsed() >= self.flush_timeout {
            self.engine.idle(out)?;
            out.flush()?;
            self.idle_done = true;
        }
        self.count(counters);
        Ok(())
    }

    fn finish<O: Output>(mut self, out: &mut O, counters: &SyslogCounters) -> io::Result<()> {
        self.engine.finish(out)?;
        self.count(counters);
        out.flush()
    }

    fn count(&mut self, counters: &SyslogCounters) {
        let now = self.engine.stats().events;
        counters
            .events
            .fetch_add(now - self.counted, Ordering::Relaxed);
        self.counted = now;
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Drops the trailing line breaks and NULs some senders add.
fn trim_message(mut m: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r' | 0] = m {
        m = rest;
    }
    m
}

/// Splits a TCP byte stream into syslog messages (RFC 6587): a message that
/// starts with a digit is octet-counted, any other ends at a line break.
#[derive(Debug)]
pub struct StreamFramer {
    buf: Vec<u8>,
    start: usize,
    max: usize,
    /// Bytes still to drop from a message cut at `max`.
    skip: usize,
    /// Dropping the rest of an over-long newline-framed message.
    skip_line: bool,
}

impl StreamFramer {
    pub fn new(max_message: usize) -> StreamFramer {
        StreamFramer {
            buf: Vec::new(),
            start: 0,
            max: max_message,
            skip: 0,
            skip_line: false,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 64 * 1024 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete message and whether it was cut at the size limit.
    pub fn next_message(&mut self) -> Option<(&[u8], bool)> {
        loop {
            let pending = &self.buf[self.start..];
            if self.skip > 0 {
                let n = self.skip.min(pending.len());
                self.skip -= n;
                self.start += n;
                if self.skip > 0 {
                    return None;
                }
                continue;
            }
            if self.skip_line {
                match memchr::memchr(b'\n', pending) {
                    Some(i) => {
                        self.start += i + 1;
                        self.skip_line = false;
                        continue;
                    }
                    None => {
                        self.start = self.buf.len();
                        return None;
                    }
                }
            }
            // Separators between messages.
            let blank = pending
                .iter()
                .take_while(|&&b| matches!(b, b'\n' | b'\r' | 0))
                .count();
            if blank > 0 {
                self.start += blank;
                continue;
            }
            if pending.is_empty() {
                return None;
            }
            if pending[0].is_ascii_digit() {
                if let Some(sp) = pending.iter().take(12).position(|&b| b == b' ') {
                    if let Some(len) = std::str::from_utf8(&pending[..sp])
                        .ok()
                        .and_then(|s| s.parse::<usize>().ok())
                    {
                        let body = sp + 1;
                        let take = len.min(self.max);
                        if pending.len() < body + take {
                            return None;
                        }
                        let from = self.start + body;
                        self.start = from + take;
                        self.skip = len - take;
                        return Some((&self.buf[from..from + take], len > take));
                    }
                } else if pending.len() < 12 {
                    return None; // the length may still be arriving
                }
            }
            return match memchr::memchr(b'\n', pending) {
                Some(i) if i <= self.max => {
                    let from = self.start;
                    self.start += i + 1;
                    Some((&self.buf[from..from + i], false))
                }
                Some(_) | None if pending.len() > self.max => {
                    let from = self.start;
                    self.start += self.max;
                    self.skip_line = true;
                    Some((&self.buf[from..from + self.max], true))
                }
                _ => None,
            };
        }
    }

    /// What is left when the peer closes: an unterminated last message.
    pub fn remainder(&mut self) -> Option<&[u8]> {
        if self.skip > 0 || self.skip_line {
            return None;
        }
        let rest = &self.buf[self.start..];
        self.start = self.buf.len();
        (!trim_message(rest).is_empty()).then_some(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(f: &mut StreamFramer) -> Vec<(String, bool)> {
        let mut v = Vec::new();
        while let Some((m, cut)) = f.next_message() {
            v.push((String::from_utf8_lossy(m).into_owned(), cut));
        }
        v
    }

    #[test]
    fn octet_counting_and_newline_framing_mix_and_split_anywhere() {
        let stream = b"11 <13>hello w5 <1>ab<14>line one\n<15>line two\r\n";
        let mut whole = StreamFramer::new(1024);
        whole.push(stream);
        let expected = vec![
            ("<13>hello w".to_string(), false),
            ("<1>ab".to_string(), false),
            ("<14>line one".to_string(), false),
            ("<15>line two\r".to_string(), false),
        ];
        assert_eq!(all(&mut whole), expected);
        // Byte by byte gives the same messages.
        let mut split = StreamFramer::new(1024);
        let mut got = Vec::new();
        for b in stream {
            split.push(&[*b]);
            got.extend(all(&mut split));
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn long_messages_are_cut_and_the_rest_dropped() {
        let mut f = StreamFramer::new(4);
        f.push(b"10 0123456789<1>ok\n");
        f.push(b"abcdefgh\n<2>z\n");
        assert_eq!(
            all(&mut f),
            vec![
                ("0123".to_string(), true),
                ("<1>o".to_string(), true),
                ("abcd".to_string(), true),
                ("<2>z".to_string(), false)
            ]
        );
        f.push(b"<3>t");
        assert_eq!(all(&mut f), vec![]);
        assert_eq!(f.remainder(), Some(&b"<3>t"[..]));
    }
}
