//! The systemd journal as an input: `journalctl -o json --follow` (optionally
//! per unit, or over exported journal files), each record a line the engine
//! decodes (MESSAGE, `__REALTIME_TIMESTAMP`). The checkpoint is the journal's
//! own cursor: the cursor of the last record whose events are all out, passed
//! back as `--after-cursor` on restart. journalctl is the journal's stable
//! reader interface; linking libsystemd would add a C dependency for no gain.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, RecvTimeoutError};
use memchr::memmem;

use crate::catalog::Catalog;
use crate::config::ReadFrom;
use crate::format::Output;
use crate::framer::Engine;
use crate::matcher::Matcher;
use crate::source::checkpoint::Position;

/// What to read.
#[derive(Debug, Clone)]
pub struct JournalOptions {
    pub units: Vec<String>,
    pub files: Vec<PathBuf>,
    pub read_from: ReadFrom,
    /// Resume after this cursor (from the checkpoints).
    pub cursor: Option<String>,
    /// Keep following (the daemon) or stop at the end (tests, one-off reads).
    pub follow: bool,
    pub flush_timeout: Duration,
    pub poll: Duration,
    pub max_line: usize,
}

/// The journalctl command line for these options.
pub fn command(options: &JournalOptions) -> Command {
    let mut cmd = Command::new("journalctl");
    cmd.args(["--output=json", "--no-pager", "--all"]);
    if options.follow {
        cmd.arg("--follow");
    }
    for f in &options.files {
        cmd.arg(format!("--file={}", f.display()));
    }
    for u in &options.units {
        cmd.arg(format!("--unit={u}"));
    }
    match (&options.cursor, options.read_from) {
        (Some(c), _) => {
            cmd.arg(format!("--after-cursor={c}"));
        }
        (None, ReadFrom::End) if options.follow => {
            cmd.arg("--lines=0");
        }
        (None, _) => {
            cmd.arg("--lines=all");
        }
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd
}

/// Reads the journal until `stop` is set (or journalctl ends), sending
/// each settled cursor to `position`.
#[allow(clippy::too_many_arguments)]
pub fn run<O: Output>(
    input: &str,
    options: &JournalOptions,
    catalog: &Catalog,
    matcher: &Matcher,
    out: &mut O,
    mut position: impl FnMut(Position),
    stop: &AtomicBool,
) -> io::Result<()> {
    let mut child: Child = command(options).spawn().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot run journalctl: {e} (install systemd, or remove the journal input)"),
        )
    })?;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = bounded::<Vec<u8>>(256);
    let reader = std::thread::spawn(move || {
        let mut r = BufReader::with_capacity(256 * 1024, stdout);
        loop {
            let mut line = Vec::new();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            }
        }
    });
    let mut engine = Engine::new(catalog, matcher, input);
    engine.set_max_line(options.max_line);
    // (end offset of a record, its cursor), oldest first.
    let mut pending: VecDeque<(u64, String)> = VecDeque::new();
    let mut offset = 0u64;
    let mut last = Instant::now();
    let mut idle_done = true;
    let finder = memmem::Finder::new(b"\"__CURSOR\":\"");
    let result = loop {
        if stop.load(Ordering::Relaxed) {
            break Ok(());
        }
        match rx.recv_timeout(options.poll.min(options.flush_timeout)) {
            Ok(line) => {
                offset += line.len() as u64;
                if let Some(c) = cursor_of(&finder, &line) {
                    pending.push_back((offset, c));
                }
                if let Err(e) = engine.push(&line, out) {
                    break Err(e);
                }
                last = Instant::now();
                idle_done = false;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break Ok(()),
        }
        if !idle_done && last.elapsed() >= options.flush_timeout {
            if let Err(e) = engine.idle(out).and_then(|_| out.flush()) {
                break Err(e);
            }
            idle_done = true;
        }
        settle(&engine, &mut pending, input, &mut position);
    };
    let _ = child.kill();
    let _ = child.wait();
    drop(rx);
    let _ = reader.join();
    result?;
    engine.finish(out)?;
    settle(&engine, &mut pending, input, &mut position);
    out.flush()
}

/// Reports the cursor of the last record the engine is done with.
fn settle(
    engine: &Engine<'_>,
    pending: &mut VecDeque<(u64, String)>,
    input: &str,
    position: &mut impl FnMut(Position),
) {
    let settled = engine.settled();
    let mut last = None;
    while pending.front().is_some_and(|(end, _)| *end <= settled) {
        last = pending.pop_front().map(|(_, c)| c);
    }
    if let Some(cursor) = last {
        position(Position::Cursor {
            input: input.to_string(),
            cursor,
        });
    }
}

/// The `__CURSOR` value of a journal JSON record (cursors hold no escapes).
fn cursor_of(finder: &memmem::Finder<'_>, line: &[u8]) -> Option<String> {
    let at = finder.find(line)? + finder.needle().len();
    let len = memchr::memchr(b'"', &line[at..])?;
    Some(String::from_utf8_lossy(&line[at..at + len]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_is_read_from_a_record() {
        let f = memmem::Finder::new(b"\"__CURSOR\":\"");
        let rec = br#"{"__CURSOR":"s=739ad463;i=4e3;b=1;m=2;t=5;x=9","MESSAGE":"x"}"#;
        assert_eq!(
            cursor_of(&f, rec).as_deref(),
            Some("s=739ad463;i=4e3;b=1;m=2;t=5;x=9")
        );
        assert_eq!(cursor_of(&f, b"{\"MESSAGE\":\"x\"}"), None);
    }

    #[test]
    fn resume_uses_the_cursor_and_a_fresh_follow_starts_at_the_end() {
        let mut o = JournalOptions {
            units: vec!["kamailio.service".into()],
            files: vec![],
            read_from: ReadFrom::End,
            cursor: None,
            follow: true,
            flush_timeout: Duration::from_millis(200),
            poll: Duration::from_millis(250),
            max_line: 1 << 20,
        };
        let args = |o: &JournalOptions| {
            command(o)
                .get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        };
        assert!(args(&o).contains(&"--lines=0".to_string()));
        assert!(args(&o).contains(&"--unit=kamailio.service".to_string()));
        o.cursor = Some("s=1".into());
        assert!(args(&o).contains(&"--after-cursor=s=1".to_string()));
        assert!(!args(&o).iter().any(|a| a.starts_with("--lines")));
    }
}
