//! Wires inputs to an engine and an output for the annotate command.
//!
//! Files are read directly into the engine's buffer. Standard input is read by
//! a small thread that hands chunks over a bounded channel, so the main thread
//! can notice when a pipe goes quiet: it then completes the open SIP message
//! and flushes, and `tail -f | sipannotate` never waits for a buffer to fill.
//! Output is flushed whenever no more input is waiting.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, RecvTimeoutError};

use crate::catalog::Catalog;
use crate::config::ReadFrom;
use crate::format::Output;
use crate::framer::{Engine, Stats, CHUNK};
use crate::matcher::Matcher;
use crate::source::file::{FileInput, FollowOptions};

/// Settings of one annotate run.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    pub flush_timeout: Duration,
    pub max_line: usize,
    /// Show progress on stderr for large files.
    pub progress: bool,
    /// Follow the files (`-f`), starting new ones here.
    pub follow: Option<ReadFrom>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            flush_timeout: Duration::from_millis(200),
            max_line: crate::framer::DEFAULT_MAX_LINE,
            progress: false,
            follow: None,
        }
    }
}

/// Files smaller than this finish before progress would help.
const PROGRESS_MIN_BYTES: u64 = 32 << 20;

/// A one-line progress display on stderr, redrawn at most four times a second.
struct Progress {
    name: String,
    total: u64,
    last: Instant,
    shown: bool,
}

impl Progress {
    fn new(name: &str, total: u64) -> Progress {
        Progress {
            name: name.to_string(),
            total,
            last: Instant::now(),
            shown: false,
        }
    }

    fn update(&mut self, stats: &Stats) {
        if self.last.elapsed() < Duration::from_millis(250) {
            return;
        }
        self.last = Instant::now();
        self.shown = true;
        eprint!(
            "\r\x1b[K{}",
            progress_line(&self.name, stats.bytes, self.total, stats.events)
        );
    }

    fn finish(&self) {
        if self.shown {
            eprint!("\r\x1b[K");
        }
    }
}

/// "trace.log  43% (440 of 1024 MiB), 12345 events"
pub fn progress_line(name: &str, done: u64, total: u64, events: u64) -> String {
    let pct = (done.min(total) * 100).checked_div(total).unwrap_or(100);
    format!(
        "{name} {pct:>3}% ({} of {} MiB), {events} events",
        done >> 20,
        total >> 20
    )
}

/// Why an input could not be read to its end.
#[derive(Debug)]
pub enum InputError {
    /// The input itself failed (open or read): report it and go on.
    Input(io::Error),
    /// Writing the output failed: stop.
    Output(io::Error),
}

/// Reads one file through the engine into `out`.
pub fn annotate_file<O: Output>(
    catalog: &Catalog,
    matcher: &Matcher,
    path: &Path,
    out: &mut O,
    options: RunOptions,
) -> Result<Stats, InputError> {
    let name = path.display().to_string();
    let mut file = File::open(path).map_err(InputError::Input)?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let progress =
        (options.progress && size >= PROGRESS_MIN_BYTES).then(|| Progress::new(&name, size));
    run_reader(catalog, matcher, &name, &mut file, out, options, progress)
}

/// Reads any reader to its end through the engine (no idle flushing).
pub fn annotate_reader<O: Output, R: Read + ?Sized>(
    catalog: &Catalog,
    matcher: &Matcher,
    name: &str,
    reader: &mut R,
    out: &mut O,
    options: RunOptions,
) -> Result<Stats, InputError> {
    run_reader(catalog, matcher, name, reader, out, options, None)
}

fn run_reader<O: Output, R: Read + ?Sized>(
    catalog: &Catalog,
    matcher: &Matcher,
    name: &str,
    reader: &mut R,
    out: &mut O,
    options: RunOptions,
    mut progress: Option<Progress>,
) -> Result<Stats, InputError> {
    let mut engine = Engine::new(catalog, matcher, name);
    engine.set_max_line(options.max_line);
    let result = read_all(&mut engine, reader, out, progress.as_mut());
    if let Some(p) = &progress {
        p.finish();
    }
    result
}

fn read_all<O: Output, R: Read + ?Sized>(
    engine: &mut Engine<'_>,
    reader: &mut R,
    out: &mut O,
    mut progress: Option<&mut Progress>,
) -> Result<Stats, InputError> {
    loop {
        match engine.fill(reader) {
            Ok(0) => break,
            Ok(_) => {
                engine.process_available(out).map_err(InputError::Output)?;
                if let Some(p) = progress.as_deref_mut() {
                    p.update(&engine.stats());
                }
            }
            Err(e) => {
                // Keep what was read: complete it, then report the read error.
                engine.finish(out).map_err(InputError::Output)?;
                out.flush().map_err(InputError::Output)?;
                return Err(InputError::Input(e));
            }
        }
    }
    engine.finish(out).map_err(InputError::Output)?;
    out.flush().map_err(InputError::Output)?;
    Ok(engine.stats())
}

/// Reads standard input through a reader thread, completing frames and
/// flushing whenever the input has been quiet for `flush_timeout`.
pub fn annotate_stdin<O: Output>(
    catalog: &Catalog,
    matcher: &Matcher,
    out: &mut O,
    options: RunOptions,
) -> Result<Stats, InputError> {
    let (tx, rx) = bounded::<io::Result<Vec<u8>>>(4);
    let (recycle_tx, recycle_rx) = bounded::<Vec<u8>>(4);
    thread::Builder::new()
        .name("stdin-reader".into())
        .spawn(move || {
            let stdin = io::stdin();
            let mut lock = stdin.lock();
            loop {
                let mut chunk = recycle_rx.try_recv().unwrap_or_else(|_| vec![0; CHUNK]);
                chunk.resize(CHUNK, 0);
                match lock.read(&mut chunk) {
                    Ok(0) => return,
                    Ok(n) => {
                        chunk.truncate(n);
                        if tx.send(Ok(chunk)).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        })
        .map_err(InputError::Input)?;

    let mut engine = Engine::new(catalog, matcher, "stdin");
    engine.set_max_line(options.max_line);
    let mut read_error = None;
    loop {
        match rx.recv_timeout(options.flush_timeout) {
            Ok(Ok(chunk)) => {
                engine.push(&chunk, out).map_err(InputError::Output)?;
                let _ = recycle_tx.try_send(chunk);
                if rx.is_empty() {
                    out.flush().map_err(InputError::Output)?;
                }
            }
            Ok(Err(e)) => {
                read_error = Some(e);
                break;
            }
            Err(RecvTimeoutError::Timeout) => {
                engine.idle(out).map_err(InputError::Output)?;
                out.flush().map_err(InputError::Output)?;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    engine.finish(out).map_err(InputError::Output)?;
    out.flush().map_err(InputError::Output)?;
    match read_error {
        Some(e) => Err(InputError::Input(e)),
        None => Ok(engine.stats()),
    }
}

/// `-f`: follows files and globs like `tail -F` until killed; output is
/// flushed after every round that read something.
pub fn follow<O: Output>(
    catalog: &Catalog,
    matcher: &Matcher,
    patterns: Vec<String>,
    out: &mut O,
    options: RunOptions,
) -> io::Result<()> {
    let follow = FollowOptions {
        read_from: options.follow.unwrap_or_default(),
        flush_timeout: options.flush_timeout,
        rescan_interval: Duration::from_secs(1),
        max_line: options.max_line,
        max_open_files: 1024,
    };
    let mut input = FileInput::new(
        "follow",
        patterns,
        catalog,
        matcher,
        follow,
        Vec::new(),
        false,
    );
    let wakeups = input.wakeups();
    let mut positions = Vec::new();
    loop {
        let any = input.poll(out, &mut positions)?;
        positions.clear();
        out.flush()?;
        if !any {
            input.wait(&wakeups, FOLLOW_POLL);
        }
    }
}

/// How often `-f` looks at its files when nothing woke it.
const FOLLOW_POLL: Duration = Duration::from_millis(250);

/// A writer that counts nothing and keeps nothing (for benchmarks).
pub struct Discard;

impl Write for Discard {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_line_says_where_it_is() {
        assert_eq!(
            progress_line("big.log", 440 << 20, 1024 << 20, 12),
            "big.log  42% (440 of 1024 MiB), 12 events"
        );
        assert_eq!(progress_line("x", 5, 0, 0), "x 100% (0 of 0 MiB), 0 events");
    }
}
