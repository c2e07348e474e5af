//! One running configuration: its sink thread and one thread per input,
//! joined by a bounded channel. A reload stops a generation (inputs complete
//! their open messages and report final positions, the sink thread flushes)
//! and starts the next from the positions it left.
//!
//! Backpressure: a slow sink fills the channel, `send` blocks the inputs, and
//! the log files are the buffer. Nothing is dropped on that path.

use std::collections::BTreeMap;
use std::net::{TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};

use crate::catalog::Catalog;
use crate::config::{AnalysisConfig, Config, Encoding, Input, OutputConfig};
use crate::correlate::{Correlator, Finding};
use crate::error::{Error, Result};
use crate::format::siem::SiemOptions;
use crate::matcher::Matcher;
use crate::sink::http::{Api, HttpSink};
use crate::sink::policy::{OutputFilter, RecordType, Redactor};
use crate::sink::queue::{OutputCounters, QueuedSink};
use crate::sink::syslog::SyslogSink;
use crate::sink::{Encoder, EventSender, FileSink, Flush, Labels, Record, Sink, StdoutSink};
use crate::source::checkpoint::{Checkpoints, Position};
use crate::source::file::{FileInput, FollowOptions};
use crate::source::journal::{self, JournalOptions};
use crate::source::syslog::{self, SyslogCounters, SyslogOptions};

use super::analysis::Stage;

/// What the daemon shares with its threads across generations.
#[derive(Default)]
pub struct Shared {
    pub checkpoints: Mutex<Checkpoints>,
    pub status: Mutex<BTreeMap<String, InputStatus>>,
    /// Milliseconds since start when the sink thread last went round its loop.
    pub sink_heartbeat: AtomicU64,
    pub events_out: AtomicU64,
    /// The analysis stage between generations (calls stay open over a reload).
    pub correlator: Mutex<Option<Correlator>>,
    /// The analysis part of `/metrics`, rendered by the sink thread.
    pub metrics: Mutex<String>,
    /// Delivery counters of the network outputs, by name (kept over reloads).
    pub outputs: Mutex<BTreeMap<String, Arc<OutputCounters>>>,
}

impl Shared {
    /// The counters of an output (the same ones after a reload).
    fn output_counters(&self, name: &str) -> Arc<OutputCounters> {
        self.outputs
            .lock()
            .expect("outputs lock")
            .entry(name.to_string())
            .or_default()
            .clone()
    }
}

/// One input's counters, for STATUS= and the stats event.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct InputStatus {
    pub lines: u64,
    pub events: u64,
    pub bytes: u64,
    pub lag_bytes: u64,
    pub files: usize,
    pub rotations: u64,
    pub truncations: u64,
    pub messages: u64,
    /// Messages cut at max_message_bytes, refused connections, files over max_open_files.
    pub drops: u64,
}

/// Catalog and matcher of one configuration.
pub struct Loaded {
    pub config: Config,
    pub catalog: Arc<Catalog>,
    pub matcher: Arc<Matcher>,
}

impl Loaded {
    /// Loads the config, its catalog and patterns; every error names its place.
    pub fn load(path: &std::path::Path, patterns_dir: Option<&std::path::Path>) -> Result<Loaded> {
        let config = Config::load(path)?;
        let dir = config.daemon.patterns_dir.as_deref().or(patterns_dir);
        let catalog = Catalog::load(&config.daemon.lang, dir)
            .map_err(|e| e.context(format!("{}: [daemon] lang/patterns_dir", path.display())))?;
        for (i, input) in config.inputs.iter().enumerate() {
            for f in input.formats() {
                if !catalog.formats.iter().any(|x| &x.id == f) {
                    return Err(Error::new(format!(
                        "{}: [[input]] #{} ({}): formats: no format \"{f}\" (`sipannotate formats` lists them)",
                        path.display(),
                        i + 1,
                        input.name(i)
                    )));
                }
            }
        }
        // PBX security lines are only looked for where detections run.
        let matcher = if config.analysis.detect {
            Matcher::with_security_lines(&catalog)?
        } else {
            Matcher::new(&catalog)?
        };
        Ok(Loaded {
            config,
            catalog: Arc::new(catalog),
            matcher: Arc::new(matcher),
        })
    }
}

/// One output, opened, with what decides what reaches it.
struct SinkSetup {
    sink: Box<dyn Sink>,
    encoding: Encoding,
    options: SiemOptions,
    filter: OutputFilter,
    redactor: Option<Redactor>,
}

/// Threads of one configuration.
pub struct Generation {
    stop: Arc<AtomicBool>,
    tx: Option<Sender<Record>>,
    done: Receiver<()>,
    handles: Vec<JoinHandle<()>>,
    /// The sink thread's verdict: an error ends the daemon.
    pub sink_failed: Receiver<String>,
}

impl Generation {
    /// Opens every sink and input (so errors surface before READY) and starts the threads.
    pub fn start(loaded: &Loaded, shared: &Arc<Shared>, started: Instant) -> Result<Generation> {
        let config = &loaded.config;
        let d = &config.daemon;
        let mut sinks: Vec<SinkSetup> = Vec::new();
        if config.outputs.is_empty() {
            sinks.push(SinkSetup {
                sink: Box::new(StdoutSink::new()),
                encoding: Encoding::Json,
                options: SiemOptions::default(),
                filter: OutputFilter::default(),
                redactor: None,
            });
        }
        for o in &config.outputs {
            let sink: Box<dyn Sink> = match o {
                OutputConfig::Stdout { .. } => Box::new(StdoutSink::new()),
                OutputConfig::File { path, .. } => Box::new(FileSink::open(path).map_err(|e| {
                    Error::new(format!("output file {}: cannot open: {e}", path.display()))
                })?),
                OutputConfig::Syslog {
                    address,
                    transport,
                    framing,
                    resend_window_bytes,
                    tls,
                    ..
                } => Box::new(
                    SyslogSink::new(
                        address,
                        *transport,
                        *framing,
                        *resend_window_bytes,
                        tls.as_ref(),
                    )
                    .map_err(|e| Error::new(format!("output syslog {address}: {e}")))?,
                ),
                OutputConfig::Hec(h) | OutputConfig::Elasticsearch(h) => {
                    let api = match o {
                        OutputConfig::Hec(_) => Api::Hec,
                        _ => Api::Bulk,
                    };
                    Box::new(
                        HttpSink::new(api, h)
                            .map_err(|e| Error::new(format!("output {}: {e}", h.url)))?,
                    )
                }
            };
            // Network outputs deliver from a worker of their own.
            let sink: Box<dyn Sink> = match o.queue() {
                Some(q) => {
                    let name = sink.describe();
                    let counters = shared.output_counters(&name);
                    Box::new(
                        QueuedSink::start(sink, q.clone(), counters)
                            .map_err(|e| Error::new(format!("output {name}: {e}")))?,
                    )
                }
                None => sink,
            };
            let redactor = o
                .redact()
                .map(Redactor::new)
                .transpose()
                .map_err(|e| Error::new(format!("output {}: {e}", sink.describe())))?;
            sinks.push(SinkSetup {
                sink,
                encoding: o.encoding(),
                options: o.options().clone(),
                filter: o.filter().clone(),
                redactor,
            });
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = bounded::<Record>(d.channel_capacity);
        let (done_tx, done) = bounded::<()>(0);
        let (fail_tx, sink_failed) = bounded::<String>(1);
        let mut handles = Vec::new();

        // Open the inputs' sockets first: a port in use is a start-up error.
        let mut opened = Vec::new();
        for (i, input) in config.inputs.iter().enumerate() {
            let name = input.name(i);
            let (udp, tcp) = match input {
                Input::Syslog {
                    listen_udp,
                    listen_tcp,
                    ..
                } => {
                    let udp = listen_udp
                        .map(|a| {
                            UdpSocket::bind(a).map_err(|e| {
                                Error::new(format!("input {name}: cannot listen on udp {a}: {e}"))
                            })
                        })
                        .transpose()?;
                    let tcp = listen_tcp
                        .map(|a| {
                            TcpListener::bind(a).map_err(|e| {
                                Error::new(format!("input {name}: cannot listen on tcp {a}: {e}"))
                            })
                        })
                        .transpose()?;
                    (udp, tcp)
                }
                _ => (None, None),
            };
            opened.push((name, input.clone(), udp, tcp));
        }

        {
            let catalog = loaded.catalog.clone();
            let shared = shared.clone();
            let done_tx = done_tx.clone();
            let analysis = config.analysis.clone();
            handles.push(
                thread::Builder::new()
                    .name("sink".into())
                    .spawn(move || {
                        if let Err(e) = run_sink(&catalog, rx, sinks, &shared, started, &analysis) {
                            let _ = fail_tx.try_send(e);
                        }
                        drop(done_tx);
                    })
                    .map_err(|e| Error::new(format!("cannot start the sink thread: {e}")))?,
            );
        }

        for (name, input, udp, tcp) in opened {
            let labels: Arc<Labels> = Arc::new(input.labels().clone());
            let formats: Vec<usize> = input
                .formats()
                .iter()
                .filter_map(|f| loaded.catalog.formats.iter().position(|x| &x.id == f))
                .collect();
            let sender = EventSender::new(tx.clone(), labels, formats, config.analysis.enabled());
            let ctx = InputContext {
                name: name.clone(),
                catalog: loaded.catalog.clone(),
                matcher: loaded.matcher.clone(),
                stop: stop.clone(),
                shared: shared.clone(),
                _done: done_tx.clone(),
                poll: d.poll_interval(),
            };
            match input {
                Input::File {
                    paths, read_from, ..
                } => {
                    let (resume, known) = {
                        let c = shared.checkpoints.lock().expect("checkpoints lock");
                        (
                            c.files_of(&name).cloned().collect::<Vec<_>>(),
                            c.knows_input(&name),
                        )
                    };
                    let options = FollowOptions {
                        read_from,
                        flush_timeout: d.flush_timeout(),
                        rescan_interval: Duration::from_secs(1).max(d.poll_interval()),
                        max_line: d.max_line_bytes,
                        max_open_files: d.max_open_files,
                    };
                    handles.push(spawn(&name, move || {
                        run_files(ctx, paths, options, resume, known, sender)
                    })?);
                }
                Input::Syslog {
                    max_message_bytes,
                    max_connections,
                    ..
                } => {
                    let options = SyslogOptions {
                        max_message: max_message_bytes,
                        max_connections,
                        flush_timeout: d.flush_timeout(),
                        poll: d.poll_interval(),
                        max_line: d.max_line_bytes,
                    };
                    let counters = Arc::new(SyslogCounters::default());
                    if let Some(sock) = udp {
                        let ctx = ctx.clone();
                        let mut out = sender.duplicate();
                        let counters = counters.clone();
                        handles.push(spawn(&format!("{name}-udp"), move || {
                            let label = format!("{}:udp", ctx.name);
                            let r = syslog::run_udp(
                                &sock,
                                &label,
                                &ctx.catalog,
                                &ctx.matcher,
                                &mut out,
                                options,
                                &ctx.stop,
                                &counters,
                            );
                            report_end(&ctx.name, r);
                        })?);
                    }
                    if let Some(listener) = tcp {
                        let ctx2 = ctx.clone();
                        let counters2 = counters.clone();
                        let proto = sender.duplicate();
                        handles.push(spawn(&format!("{name}-tcp"), move || {
                            let label = format!("{}:tcp", ctx2.name);
                            let proto = Mutex::new(proto);
                            let make = || proto.lock().expect("sender lock").duplicate();
                            let r = syslog::run_tcp(
                                &listener,
                                &label,
                                &ctx2.catalog,
                                &ctx2.matcher,
                                make,
                                options,
                                &ctx2.stop,
                                &counters2,
                            );
                            report_end(&ctx2.name, r);
                        })?);
                    }
                    handles.push(spawn(&format!("{name}-status"), move || {
                        syslog_status(ctx, counters)
                    })?);
                }
                Input::Journal {
                    units,
                    files,
                    read_from,
                    ..
                } => {
                    let cursor = shared
                        .checkpoints
                        .lock()
                        .expect("checkpoints lock")
                        .cursor(&name)
                        .map(str::to_string);
                    let options = JournalOptions {
                        units,
                        files,
                        read_from,
                        cursor,
                        follow: true,
                        flush_timeout: d.flush_timeout(),
                        poll: d.poll_interval(),
                        max_line: d.max_line_bytes,
                    };
                    handles.push(spawn(&name, move || run_journal(ctx, options, sender))?);
                }
            }
        }
        drop(done_tx);
        Ok(Generation {
            stop,
            tx: Some(tx),
            done,
            handles,
            sink_failed,
        })
    }

    /// A sender for daemon records (stats events).
    pub fn sender(&self) -> Option<&Sender<Record>> {
        self.tx.as_ref()
    }

    /// Asks every thread to finish and waits up to `timeout`. Returns false
    /// if some thread is still blocked (an output that does not drain).
    pub fn stop(mut self, timeout: Duration) -> bool {
        self.stop.store(true, Ordering::SeqCst);
        self.tx = None;
        let deadline = Instant::now() + timeout;
        loop {
            match self.done.recv_deadline(deadline) {
                Ok(()) => continue,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => return false,
            }
        }
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
        true
    }
}

/// What every input thread needs.
#[derive(Clone)]
struct InputContext {
    name: String,
    catalog: Arc<Catalog>,
    matcher: Arc<Matcher>,
    stop: Arc<AtomicBool>,
    shared: Arc<Shared>,
    /// Never sent on: dropped when the thread ends, which is how `stop` knows.
    _done: Sender<()>,
    poll: Duration,
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    thread::Builder::new()
        .name(name.chars().take(15).collect())
        .spawn(f)
        .map_err(|e| Error::new(format!("cannot start a thread for input {name}: {e}")))
}

fn report_end(name: &str, r: std::io::Result<()>) {
    if let Err(e) = r {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("sipannotate: input {name}: {e}");
        }
    }
}

fn set_status(ctx: &InputContext, s: InputStatus) {
    ctx.shared
        .status
        .lock()
        .expect("status lock")
        .insert(ctx.name.clone(), s);
}

fn run_files(
    ctx: InputContext,
    paths: Vec<String>,
    options: FollowOptions,
    resume: Vec<crate::source::checkpoint::FileCheckpoint>,
    known: bool,
    mut out: EventSender,
) {
    let mut input = FileInput::new(
        &ctx.name,
        paths,
        &ctx.catalog,
        &ctx.matcher,
        options,
        resume,
        known,
    );
    let wakeups = input.wakeups();
    let mut positions = Vec::new();
    loop {
        if ctx.stop.load(Ordering::Relaxed) {
            let r = input.finish(&mut out, &mut positions);
            for p in positions.drain(..) {
                let _ = out.position(p);
            }
            report_end(&ctx.name, r);
            break;
        }
        let any = match input.poll(&mut out, &mut positions) {
            Ok(any) => any,
            Err(e) => {
                report_end(&ctx.name, Err(e));
                break;
            }
        };
        if send_positions(&mut out, &mut positions).is_err() {
            break;
        }
        let s = input.stats();
        set_status(
            &ctx,
            InputStatus {
                lines: s.lines,
                events: s.events,
                bytes: s.bytes,
                lag_bytes: s.lag_bytes,
                files: s.files,
                rotations: s.rotations,
                truncations: s.truncations,
                messages: 0,
                drops: s.skipped_files,
            },
        );
        if !any {
            input.wait(&wakeups, ctx.poll);
        }
    }
}

/// Sends the positions a poll reached, in order, after its events.
fn send_positions(out: &mut EventSender, positions: &mut Vec<Position>) -> std::io::Result<()> {
    for p in positions.drain(..) {
        out.position(p)?;
    }
    Ok(())
}

fn syslog_status(ctx: InputContext, counters: Arc<SyslogCounters>) {
    while !ctx.stop.load(Ordering::Relaxed) {
        set_status(
            &ctx,
            InputStatus {
                messages: counters.messages.load(Ordering::Relaxed),
                events: counters.events.load(Ordering::Relaxed),
                drops: counters.truncated.load(Ordering::Relaxed)
                    + counters.refused_connections.load(Ordering::Relaxed),
                files: counters.connections.load(Ordering::Relaxed),
                ..InputStatus::default()
            },
        );
        thread::sleep(ctx.poll);
    }
}

fn run_journal(ctx: InputContext, options: JournalOptions, mut out: EventSender) {
    let tx = out.duplicate();
    let r = journal::run(
        &ctx.name,
        &options,
        &ctx.catalog,
        &ctx.matcher,
        &mut out,
        |p| {
            let _ = tx.position(p);
        },
        &ctx.stop,
    );
    report_end(&ctx.name, r);
}

/// How often the sink thread renders the analysis part of `/metrics`.
const METRICS_REFRESH: Duration = Duration::from_secs(2);

/// The sink thread: writes events to every sink, feeds the analysis stage
/// and writes its findings, flushes when the channel runs dry, and then
/// (only then) records the positions that came before.
fn run_sink(
    catalog: &Catalog,
    rx: Receiver<Record>,
    sinks: Vec<SinkSetup>,
    shared: &Shared,
    started: Instant,
    analysis: &AnalysisConfig,
) -> std::result::Result<(), String> {
    let mut stage = Stage::resume(catalog, &shared.correlator, analysis);
    let prometheus = analysis.prometheus_listen.is_some();
    let result = sink_loop(catalog, rx, sinks, shared, started, &mut stage, prometheus);
    if let Some(stage) = stage {
        stage.park(&shared.correlator);
    }
    result
}

/// Writes a finding to every output whose encoding carries it.
fn write_finding(
    finding: Finding<'_>,
    sinks: &mut [Box<dyn Sink>],
    encoders: &[Encoder<'_>],
    policies: &[(OutputFilter, Option<Redactor>)],
    buf: &mut Vec<u8>,
) -> std::result::Result<bool, String> {
    let kind = match finding {
        Finding::Call(_) => RecordType::Call,
        Finding::Security(_) => RecordType::Security,
    };
    let mut any = false;
    for ((sink, enc), (filter, _)) in sinks.iter_mut().zip(encoders).zip(policies) {
        buf.clear();
        if filter.takes(kind) && enc.finding(buf, finding) {
            sink.write(buf)
                .map_err(|e| format!("{}: {e}", sink.describe()))?;
            any = true;
        }
    }
    Ok(any)
}

fn sink_loop(
    catalog: &Catalog,
    rx: Receiver<Record>,
    sinks: Vec<SinkSetup>,
    shared: &Shared,
    started: Instant,
    stage: &mut Option<Stage<'_>>,
    prometheus: bool,
) -> std::result::Result<(), String> {
    let mut rendered = Instant::now() - METRICS_REFRESH;
    let mut encoders: Vec<Encoder<'_>> = sinks
        .iter()
        .map(|s| Encoder::new(catalog, s.encoding, s.options.clone()))
        .collect();
    let policies: Vec<(OutputFilter, Option<Redactor>)> = sinks
        .iter()
        .map(|s| (s.filter.clone(), s.redactor.clone()))
        .collect();
    let mut sinks: Vec<Box<dyn Sink>> = sinks.into_iter().map(|s| s.sink).collect();
    let mut pending: Vec<Position> = Vec::new();
    let mut buf = Vec::with_capacity(4096);
    let mut unflushed = false;
    loop {
        shared
            .sink_heartbeat
            .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        let record = rx.recv_timeout(Duration::from_millis(200));
        let closed = matches!(record, Err(RecvTimeoutError::Disconnected));
        match record {
            Ok(Record::Event {
                input,
                labels,
                event,
            }) => {
                for ((sink, enc), (filter, redactor)) in
                    sinks.iter_mut().zip(encoders.iter_mut()).zip(&policies)
                {
                    if !filter.admits(&catalog.kb, &event) {
                        continue;
                    }
                    let event = match redactor {
                        Some(r) => r.event(&event),
                        None => std::borrow::Cow::Borrowed(&*event),
                    };
                    buf.clear();
                    enc.encode(&mut buf, &input, &labels, &event);
                    sink.write(&buf)
                        .map_err(|e| format!("{}: {e}", sink.describe()))?;
                }
                shared.events_out.fetch_add(1, Ordering::Relaxed);
                unflushed = true;
                if let Some(stage) = stage.as_mut() {
                    stage.response(&input, &event);
                }
            }
            Ok(Record::Request { input, event }) => {
                if let Some(stage) = stage.as_mut() {
                    stage.request(&input, &event);
                }
            }
            Ok(Record::Security { input, event }) => {
                if let Some(stage) = stage.as_mut() {
                    stage.security_line(&input, &event);
                }
            }
            Ok(Record::Stats(mut stats)) => {
                if let Some(stage) = stage.as_ref() {
                    stage.add_figures(&mut stats);
                }
                let mut json = serde_json::to_vec(&stats).expect("stats serialize");
                json.push(b'\n');
                for ((sink, enc), (filter, _)) in
                    sinks.iter_mut().zip(encoders.iter()).zip(&policies)
                {
                    if enc.kind() == Encoding::Json && filter.takes(RecordType::Stats) {
                        sink.write(&json)
                            .map_err(|e| format!("{}: {e}", sink.describe()))?;
                    }
                }
                unflushed = true;
            }
            Ok(Record::Position(p)) => pending.push(p),
            Err(_) => {
                if let Some(stage) = stage.as_mut() {
                    stage.idle();
                }
            }
        }
        if let Some(stage) = stage.as_mut() {
            stage
                .findings(&mut |f| {
                    let any = write_finding(f, &mut sinks, &encoders, &policies, &mut buf)
                        .map_err(std::io::Error::other)?;
                    unflushed |= any;
                    Ok(())
                })
                .map_err(|e| e.to_string())?;
            if prometheus && rendered.elapsed() >= METRICS_REFRESH {
                *shared.metrics.lock().expect("metrics lock") = stage.prometheus();
                rendered = Instant::now();
            }
        }
        if (rx.is_empty() || pending.len() >= 4096) && (unflushed || !pending.is_empty()) {
            let beat = || {
                shared
                    .sink_heartbeat
                    .store(started.elapsed().as_millis() as u64, Ordering::Relaxed)
            };
            let ctx = Flush {
                heartbeat: &beat,
                retrying: &|| {},
                cancelled: &|| false,
                rejected: &|_| {},
            };
            for sink in sinks.iter_mut() {
                sink.flush(&ctx)
                    .map_err(|e| format!("{}: {e}", sink.describe()))?;
            }
            unflushed = false;
            if !pending.is_empty() {
                let mut c = shared.checkpoints.lock().expect("checkpoints lock");
                for p in pending.drain(..) {
                    c.record(p);
                }
            }
        }
        if closed {
            return Ok(());
        }
    }
}
