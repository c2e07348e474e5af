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
use std::time::Duration;

use crossbeam_channel::{bounded, RecvTimeoutError};

use crate::catalog::Catalog;
use crate::format::Output;
use crate::framer::{Engine, Stats, CHUNK};
use crate::matcher::Matcher;

/// Settings of one annotate run.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    pub flush_timeout: Duration,
    pub max_line: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            flush_timeout: Duration::from_millis(200),
            max_line: crate::framer::DEFAULT_MAX_LINE,
        }
    }
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
    annotate_reader(catalog, matcher, &name, &mut file, out, options)
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
    let mut engine = Engine::new(catalog, matcher, name);
    engine.set_max_line(options.max_line);
    loop {
        match engine.fill(reader) {
            Ok(0) => break,
            Ok(_) => engine.process_available(out).map_err(InputError::Output)?,
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
