//! Where the daemon's events go, and how delivery is acknowledged.
//!
//! Input threads send `Record`s over one bounded channel: events, and the
//! positions they reached. The sink thread writes each event to every sink
//! and holds positions back until every sink has flushed what came before
//! them; only then do they reach the checkpoint table. A sink's `flush` is
//! its acknowledgement: a network sink (the SIEM issue) returns from it once
//! the peer has the data, retrying inside with back-off, and an error from it
//! keeps the positions where they were (at-least-once).

pub mod http;
pub mod policy;
pub mod queue;
pub mod syslog;
pub mod tls;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::catalog::Catalog;
use crate::config::Encoding;
use crate::correlate::Finding;
use crate::event::Event;
use crate::format::findings::{
    call_json, call_text, detection_json, detection_text, fail2ban_line,
};
use crate::format::json::{push_str, EventEncoder};
use crate::format::siem::{SiemEncoder, SiemOptions};
use crate::format::text::annotation_line;
use crate::format::Output;
use crate::source::checkpoint::Position;

/// What crosses from an input thread to the sink thread.
#[derive(Debug)]
pub enum Record {
    Event {
        /// The engine's input name (the file path, `syslog:udp`, ...).
        input: Arc<str>,
        labels: Arc<Labels>,
        event: Box<Event>,
    },
    /// A request the log dumped (for the analysis stage only).
    Request { input: Arc<str>, event: Box<Event> },
    /// A PBX security line (for the analysis stage only).
    Security { input: Arc<str>, event: Box<Event> },
    /// Every event before this record was sent; the input may resume here.
    Position(Position),
    /// The periodic stats event, with the inputs' counters; the sink thread
    /// adds the analysis figures.
    Stats(serde_json::Map<String, serde_json::Value>),
}

/// An input's labels (host, site, ...), added to each of its events.
pub type Labels = BTreeMap<String, String>;

/// A destination of encoded events.
pub trait Sink: Send {
    /// For messages: "stdout", "file /var/log/...".
    fn describe(&self) -> String;
    /// Queues one encoded record (with its line break).
    fn write(&mut self, record: &[u8]) -> io::Result<()>;
    /// Returns once everything written is delivered; this is the
    /// acknowledgement. A sink that retries calls `ctx.heartbeat` between
    /// attempts (the watchdog then knows the pipeline is alive).
    fn flush(&mut self, ctx: &Flush<'_>) -> io::Result<()>;
}

/// What a sink may use while it flushes.
pub struct Flush<'a> {
    /// Called between attempts: the watchdog then knows the pipeline is alive.
    pub heartbeat: &'a dyn Fn(),
    /// Called when an attempt failed and the sink will try again (a queued
    /// output then spools what comes next instead of waiting).
    pub retrying: &'a dyn Fn(),
    /// True once the daemon is stopping: a retrying sink gives up with
    /// `ErrorKind::Interrupted`, keeping its batch undelivered.
    pub cancelled: &'a dyn Fn() -> bool,
    /// Told how many records the receiver refused for good (and the sink dropped).
    pub rejected: &'a dyn Fn(u64),
}

impl Flush<'_> {
    /// No watchdog, no queue, never cancelled.
    pub const PLAIN: Flush<'static> = Flush {
        heartbeat: &|| {},
        retrying: &|| {},
        cancelled: &|| false,
        rejected: &|_| {},
    };

    /// Sleeps `d` (a back-off) in short steps, beating and watching for
    /// cancellation.
    pub fn pause(&self, d: std::time::Duration) -> io::Result<()> {
        let until = std::time::Instant::now() + d;
        loop {
            (self.heartbeat)();
            if (self.cancelled)() {
                return Err(io::Error::new(
                    io::ErrorKind::Interrupted,
                    "stopping with the batch undelivered",
                ));
            }
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(left.min(std::time::Duration::from_millis(100)));
        }
    }
}

/// Exponential back-off with jitter between delivery attempts: 100 ms
/// doubling to 30 s, each wait up to half as long again at random (so many
/// daemons do not retry in step).
#[derive(Debug)]
pub struct Backoff {
    next: std::time::Duration,
}

impl Backoff {
    const MIN: std::time::Duration = std::time::Duration::from_millis(100);
    const MAX: std::time::Duration = std::time::Duration::from_secs(30);

    pub fn new() -> Backoff {
        Backoff { next: Backoff::MIN }
    }

    /// After a success: the next failure waits the shortest time again.
    pub fn reset(&mut self) {
        self.next = Backoff::MIN;
    }

    /// After a failure: tells the queue (`ctx.retrying`), waits, and doubles
    /// the next wait; `Interrupted` if the daemon stops meanwhile.
    pub fn wait(&mut self, ctx: &Flush<'_>) -> io::Result<()> {
        (ctx.retrying)();
        let jitter = fastrand::u64(0..=self.next.as_millis() as u64 / 2);
        ctx.pause(self.next + std::time::Duration::from_millis(jitter))?;
        self.next = (self.next * 2).min(Backoff::MAX);
        Ok(())
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

/// Encoded records (each with its line break) in one buffer, in order.
#[derive(Debug, Default)]
pub struct Records {
    data: Vec<u8>,
    ends: Vec<usize>,
}

impl Records {
    pub fn push(&mut self, record: &[u8]) {
        self.data.extend_from_slice(record);
        self.ends.push(self.data.len());
    }

    /// Record `i`.
    pub fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.data[start..self.ends[i]]
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.ends.len()).map(|i| self.get(i))
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    pub fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
    }
}

/// Standard output.
pub struct StdoutSink {
    out: BufWriter<io::Stdout>,
}

impl StdoutSink {
    pub fn new() -> StdoutSink {
        StdoutSink {
            out: BufWriter::with_capacity(64 * 1024, io::stdout()),
        }
    }
}

impl Default for StdoutSink {
    fn default() -> Self {
        Self::new()
    }
}

impl Sink for StdoutSink {
    fn describe(&self) -> String {
        "stdout".into()
    }
    fn write(&mut self, record: &[u8]) -> io::Result<()> {
        self.out.write_all(record)
    }
    fn flush(&mut self, _: &Flush<'_>) -> io::Result<()> {
        self.out.flush()
    }
}

/// A file, appended to; opened again on reload (after logrotate moved it).
pub struct FileSink {
    path: PathBuf,
    out: BufWriter<File>,
}

impl FileSink {
    /// Opens for appending. A last record cut short (the process was killed
    /// mid-write) gets its line break, so the next record starts on a line
    /// of its own; the cut event is written again, as its position was never
    /// acknowledged.
    pub fn open(path: &Path) -> io::Result<FileSink> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)?;
        let len = file.metadata()?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            std::os::unix::fs::FileExt::read_exact_at(&file, &mut last, len - 1)?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
            }
        }
        Ok(FileSink {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(64 * 1024, file),
        })
    }
}

impl Sink for FileSink {
    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }
    fn write(&mut self, record: &[u8]) -> io::Result<()> {
        self.out.write_all(record)
    }
    fn flush(&mut self, _: &Flush<'_>) -> io::Result<()> {
        self.out.flush()
    }
}

/// Turns events into the bytes of one encoding.
pub struct Encoder<'c> {
    catalog: &'c Catalog,
    kind: Encoding,
    json: EventEncoder<'c>,
    siem: Option<SiemEncoder<'c>>,
}

impl<'c> Encoder<'c> {
    pub fn new(catalog: &'c Catalog, kind: Encoding, options: SiemOptions) -> Encoder<'c> {
        Encoder {
            catalog,
            kind,
            json: EventEncoder::new(catalog),
            siem: kind.siem().map(|k| SiemEncoder::new(catalog, k, options)),
        }
    }

    /// Appends one record, with its line break.
    pub fn encode(&mut self, b: &mut Vec<u8>, input: &str, labels: &Labels, ev: &Event) {
        if let Some(siem) = &mut self.siem {
            return siem.encode(b, input, labels, ev);
        }
        match self.kind {
            Encoding::Json => {
                self.json.write(b, input, ev);
                if !labels.is_empty() && b.last() == Some(&b'}') {
                    b.pop();
                    b.extend_from_slice(b",\"labels\":{");
                    for (i, (k, v)) in labels.iter().enumerate() {
                        if i > 0 {
                            b.push(b',');
                        }
                        push_str(b, k);
                        b.push(b':');
                        push_str(b, v);
                    }
                    b.extend_from_slice(b"}}");
                }
            }
            Encoding::Text => {
                b.extend_from_slice(input.as_bytes());
                b.push(b':');
                b.extend_from_slice(ev.line.to_string().as_bytes());
                b.extend_from_slice(b": ");
                b.extend_from_slice(&ev.raw);
                b.push(b'\n');
                annotation_line(b, self.catalog, ev, false);
            }
            // Responses are not detections: a fail2ban output only takes
            // the security findings (`Encoder::finding`).
            Encoding::Fail2ban => return,
            _ => unreachable!("SIEM encodings are handled above"),
        }
        b.push(b'\n');
    }

    pub fn kind(&self) -> Encoding {
        self.kind
    }

    /// Appends a call or security finding, with its line break: json and
    /// text carry both, fail2ban and the SIEM encodings the detections.
    /// Returns false when this encoding has nothing for it.
    pub fn finding(&self, b: &mut Vec<u8>, finding: Finding<'_>) -> bool {
        if let (Some(siem), Finding::Security(d)) = (&self.siem, finding) {
            siem.encode_detection(b, d);
            return true;
        }
        let text = match (self.kind, finding) {
            (Encoding::Json, Finding::Call(c)) => call_json(self.catalog, c).to_string(),
            (Encoding::Json, Finding::Security(d)) => detection_json(self.catalog, d).to_string(),
            (Encoding::Text, Finding::Call(c)) => call_text(self.catalog, c),
            (Encoding::Text, Finding::Security(d)) => detection_text(self.catalog, d),
            (Encoding::Fail2ban, Finding::Security(d)) => fail2ban_line(self.catalog, d),
            _ => return false,
        };
        b.extend_from_slice(text.trim_end_matches('\n').as_bytes());
        b.push(b'\n');
        true
    }
}

/// The `Output` of a daemon input: each event, cloned, goes to the sink
/// thread (events are rare; lines never cross threads).
pub struct EventSender {
    /// Input names shared by all events of an input (one allocation per name).
    names: BTreeMap<String, Arc<str>>,
    labels: Arc<Labels>,
    /// Only these format ids produce events (all when empty).
    formats: Vec<usize>,
    /// Requests and security lines go to the analysis stage too.
    analysis: bool,
    tx: crossbeam_channel::Sender<Record>,
}

impl EventSender {
    pub fn new(
        tx: crossbeam_channel::Sender<Record>,
        labels: Arc<Labels>,
        formats: Vec<usize>,
        analysis: bool,
    ) -> EventSender {
        EventSender {
            names: BTreeMap::new(),
            labels,
            formats,
            analysis,
            tx,
        }
    }

    /// The shared name of an input (one allocation per name).
    fn name(&mut self, input: &str) -> Arc<str> {
        match self.names.get(input) {
            Some(n) => n.clone(),
            None => {
                let n: Arc<str> = Arc::from(input);
                self.names.insert(input.to_string(), n.clone());
                n
            }
        }
    }

    /// Sends a position (after the events before it).
    pub fn position(&self, p: Position) -> io::Result<()> {
        self.send(Record::Position(p))
    }

    fn send(&self, r: Record) -> io::Result<()> {
        self.tx
            .send(r)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the sink thread has stopped"))
    }

    /// The same destination, for another thread (a TCP connection).
    pub fn duplicate(&self) -> EventSender {
        EventSender {
            names: BTreeMap::new(),
            labels: self.labels.clone(),
            formats: self.formats.clone(),
            analysis: self.analysis,
            tx: self.tx.clone(),
        }
    }
}

impl Output for EventSender {
    fn event(&mut self, input: &str, ev: &Event) -> io::Result<()> {
        if !self.formats.is_empty() && !self.formats.contains(&ev.format) {
            return Ok(());
        }
        let name = self.name(input);
        self.send(Record::Event {
            input: name,
            labels: self.labels.clone(),
            event: Box::new(ev.clone()),
        })
    }

    fn wants_requests(&self) -> bool {
        self.analysis
    }

    fn request(&mut self, input: &str, ev: &Event) -> io::Result<()> {
        if !self.analysis {
            return Ok(());
        }
        let name = self.name(input);
        self.send(Record::Request {
            input: name,
            event: Box::new(ev.clone()),
        })
    }

    fn security_line(&mut self, input: &str, ev: &Event) -> io::Result<()> {
        if !self.analysis {
            return Ok(());
        }
        let name = self.name(input);
        self.send(Record::Security {
            input: name,
            event: Box::new(ev.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_cut_by_a_kill_keeps_its_own_line() {
        let path = std::env::temp_dir().join(format!("sipannotate-torn-{}", std::process::id()));
        std::fs::write(&path, b"{\"whole\":1}\n{\"cut").unwrap();
        let mut sink = FileSink::open(&path).unwrap();
        sink.write(b"{\"next\":2}\n").unwrap();
        sink.flush(&Flush::PLAIN).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"whole\":1}\n{\"cut\n{\"next\":2}\n"
        );
        std::fs::remove_file(&path).unwrap();
    }
}
