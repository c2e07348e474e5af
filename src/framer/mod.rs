//! Drives one input from bytes to events: a rolling buffer, a bulk literal scan
//! that skips non-candidate lines without looking at them one by one, and the
//! frames that collect the lines belonging to a status line.
//!
//! Invariants:
//! - every input byte is handed to the output exactly once, in order (status
//!   lines through `Output::status_line`, all others through `passthrough`);
//! - memory is bounded: the buffer holds at most one line of `max_line` bytes
//!   plus a read chunk plus the lookback window; longer lines pass through
//!   unmatched and are counted;
//! - an open frame is closed by a non-member line, its size caps, the end of
//!   input, or `idle()` (the pipe went quiet), so its event is never lost.

pub mod journald;
pub mod message;

use std::io::{self, Read};
use std::sync::LazyLock;

use memchr::{memchr, memmem, memrchr};

use crate::catalog::formats::{Field, FrameKind, Role};
use crate::catalog::Catalog;
use crate::event::{push_lossy, set_lossy, trim, Event};
use crate::format::Output;
use crate::matcher::{parse_code, Hit, Matcher, Scratch};
use crate::timestamp;
use message::{clean_value, split_header, Feed, SipFrame};

/// Finds where the SIP text of a status line starts.
static SIP_VERSION: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(b"SIP/2.0"));

/// Bytes read per `read` call.
pub const CHUNK: usize = 128 * 1024;
/// Lines longer than this pass through without being matched.
pub const DEFAULT_MAX_LINE: usize = 4 * 1024 * 1024;
/// Bytes of already-processed lines kept for wrapper lookback.
const LOOKBACK_BYTES: usize = 16 * 1024;
const MAX_LOOKBACK_LINES: usize = 12;
/// Lines above a status line that are always searched for wrappers.
const NEAR_LOOKBACK: usize = 3;

/// Counters for one input.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub bytes: u64,
    pub lines: u64,
    pub events: u64,
    /// Lines longer than the limit, passed through without matching.
    pub overlong_lines: u64,
    /// Frames closed early by their size caps.
    pub truncated_frames: u64,
}

/// One line being processed: where it is in the buffer and in the input.
#[derive(Debug, Clone, Copy)]
struct LineSpan {
    start: usize,
    /// End of the line, without its line break.
    stop: usize,
    /// End of its content: `stop` less a trailing CR.
    content_stop: usize,
    /// End including the line break, if the line had one.
    next: usize,
    newline: bool,
    line_no: u64,
    /// Where the bulk scan found the line's first literal (no literal
    /// starts an anchor before it); `None` when the line was not scanned.
    first_literal: Option<usize>,
}

enum Frame {
    Closed,
    Sip {
        frame: SipFrame,
        request: bool,
    },
    Lines {
        format: usize,
        count: usize,
        max: usize,
    },
}

/// One input's state: buffer, position, open frame, current event.
pub struct Engine<'c> {
    catalog: &'c Catalog,
    matcher: &'c Matcher,
    scratch: Scratch,
    input: String,
    buf: Vec<u8>,
    /// Start of retained, already-processed bytes (line-aligned).
    keep: usize,
    pos: usize,
    end: usize,
    /// Lines fully processed before `pos`.
    line_no: u64,
    overlong: bool,
    max_line: usize,
    frame: Frame,
    event: Event,
    stats: Stats,
    exhaustive: bool,
    /// Receives the headers of request frames (never emitted).
    request_event: Event,
    /// The decoded MESSAGE of a journal JSON record.
    decoded: Vec<u8>,
    /// `buf[pos..no_newline_until]` is known to hold no line break.
    no_newline_until: usize,
    /// Where the last timestamp was (logs keep one format at one column).
    stamps: timestamp::Finder,
    /// The same for stamps a wrapper's regex captured (`at 17:58:55.102388`).
    captured_stamps: timestamp::Finder,
    /// Input offset (counted over all segments) where the open frame began.
    frame_start: u64,
    /// Input offset where the current segment (file) began.
    segment_base: u64,
}

impl<'c> Engine<'c> {
    /// A new engine for the input named `input` ("stdin" or a path).
    pub fn new(catalog: &'c Catalog, matcher: &'c Matcher, input: &str) -> Engine<'c> {
        Engine {
            catalog,
            matcher,
            scratch: matcher.scratch(catalog),
            input: input.to_string(),
            buf: vec![0; CHUNK * 2],
            keep: 0,
            pos: 0,
            end: 0,
            line_no: 0,
            overlong: false,
            max_line: DEFAULT_MAX_LINE,
            frame: Frame::Closed,
            event: Event::default(),
            stats: Stats::default(),
            exhaustive: false,
            request_event: Event::default(),
            decoded: Vec::new(),
            no_newline_until: 0,
            stamps: timestamp::Finder::new(&catalog.timestamps),
            captured_stamps: timestamp::Finder::new(&catalog.timestamps),
            frame_start: 0,
            segment_base: 0,
        }
    }

    /// Oracle mode for tests: no literal prefilter, no bulk skipping; every
    /// line is tried against every format's regex. Slow, obviously right.
    pub fn set_exhaustive(&mut self, on: bool) {
        self.exhaustive = on;
        self.scratch.regex_only = on;
    }

    /// Sets the longest line that is still matched (at least 1 KiB).
    pub fn set_max_line(&mut self, bytes: usize) {
        self.max_line = bytes.max(1024);
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// How far into the current segment every event is out: the start of the
    /// open frame, else the start of the first line not yet complete. A
    /// restart from this offset loses no status line.
    pub fn settled(&self) -> u64 {
        let at = if matches!(self.frame, Frame::Closed) {
            self.absolute(self.pos)
        } else {
            self.frame_start
        };
        at.saturating_sub(self.segment_base)
    }

    /// The current segment (file) ended: its last line counts even without a
    /// line break. An open frame stays open, so a SIP message split across a
    /// rotation is completed by the next segment.
    pub fn end_segment<O: Output>(&mut self, out: &mut O) -> io::Result<()> {
        self.process(out, true)
    }

    /// Drops the incomplete last line (the file it came from was truncated:
    /// its rest went to a copy or nowhere). An open frame stays open.
    pub fn discard_partial(&mut self) {
        let dropped = self.end - self.pos;
        self.end = self.pos;
        self.stats.bytes -= dropped as u64;
        self.no_newline_until = self.no_newline_until.min(self.end);
        self.overlong = false;
    }

    /// A new segment (the file after a rotation) starts: line numbers and
    /// `settled` offsets count from its start.
    pub fn start_segment(&mut self) {
        self.line_no = 0;
        self.segment_base = self.stats.bytes;
        self.overlong = false;
    }

    /// Input offset of buffer index `i`.
    fn absolute(&self, i: usize) -> u64 {
        self.stats.bytes - (self.end - i) as u64
    }

    /// Reads one chunk from `reader` into the buffer (no processing).
    /// Returns the number of bytes read (0 at end of input).
    pub fn fill<R: Read + ?Sized>(&mut self, reader: &mut R) -> io::Result<usize> {
        self.make_room(CHUNK);
        let n = loop {
            match reader.read(&mut self.buf[self.end..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        self.end += n;
        self.stats.bytes += n as u64;
        Ok(n)
    }

    /// The last `n` bytes the last `fill` read (for a caller that hashes them).
    pub fn last_read(&self, n: usize) -> &[u8] {
        &self.buf[self.end - n.min(self.end)..self.end]
    }

    /// Processes every complete line in the buffer; errors are the output's.
    pub fn process_available<O: Output>(&mut self, out: &mut O) -> io::Result<()> {
        self.process(out, false)
    }

    /// Appends bytes received from elsewhere (a pipe reader thread) and processes them.
    pub fn push<O: Output>(&mut self, data: &[u8], out: &mut O) -> io::Result<()> {
        let mut rest = data;
        while !rest.is_empty() {
            self.make_room(rest.len().min(CHUNK));
            let room = (self.buf.len() - self.end).min(rest.len());
            self.buf[self.end..self.end + room].copy_from_slice(&rest[..room]);
            self.end += room;
            self.stats.bytes += room as u64;
            rest = &rest[room..];
            self.process(out, false)?;
        }
        Ok(())
    }

    /// The input went quiet: complete the open frame so its event is not held back.
    pub fn idle<O: Output>(&mut self, out: &mut O) -> io::Result<()> {
        self.close_frame(out)
    }

    /// End of input: the last line (even without a line break) and any open frame.
    pub fn finish<O: Output>(&mut self, out: &mut O) -> io::Result<()> {
        self.process(out, true)?;
        self.close_frame(out)
    }

    fn make_room(&mut self, want: usize) {
        if self.buf.len() - self.end >= want {
            return;
        }
        // Keep a lookback window of whole lines before `pos`.
        let mut keep = self.pos.saturating_sub(LOOKBACK_BYTES).max(self.keep);
        if keep > self.keep && keep < self.pos {
            keep = match memchr(b'\n', &self.buf[keep..self.pos]) {
                Some(i) => keep + i + 1,
                None => self.pos,
            };
        }
        if keep > 0 {
            self.buf.copy_within(keep..self.end, 0);
            self.pos -= keep;
            self.end -= keep;
            self.no_newline_until = self.no_newline_until.saturating_sub(keep);
            self.keep = 0;
        }
        if self.buf.len() - self.end < want {
            let need = self.end + want;
            self.buf
                .resize(need.next_power_of_two().max(self.buf.len()), 0);
        }
    }

    fn process<O: Output>(&mut self, out: &mut O, eof: bool) -> io::Result<()> {
        // The buffer's last line break: `end` stays put during one call, so
        // it is searched for once, not once per candidate line.
        let mut last_break: Option<usize> = None;
        while self.pos < self.end {
            if self.overlong {
                match memchr(b'\n', &self.buf[self.pos..self.end]) {
                    Some(i) => {
                        let stop = self.pos + i + 1;
                        out.passthrough(&self.input, &self.buf[self.pos..stop], self.line_no + 1)?;
                        self.pos = stop;
                        self.line_no += 1;
                        self.stats.lines += 1;
                        self.overlong = false;
                    }
                    None => {
                        out.passthrough(
                            &self.input,
                            &self.buf[self.pos..self.end],
                            self.line_no + 1,
                        )?;
                        self.pos = self.end;
                        if eof {
                            self.line_no += 1;
                            self.stats.lines += 1;
                            self.overlong = false;
                        }
                    }
                }
                continue;
            }
            let pending = &self.buf[self.pos..self.end];
            // Do not rescan a long incomplete line each time a few bytes arrive.
            let known = self.no_newline_until.clamp(self.pos, self.end) - self.pos;
            let last_nl = match last_break {
                Some(b) if b >= self.pos => Some(b - self.pos),
                _ => memrchr(b'\n', &pending[known..]).map(|i| i + known),
            };
            last_break = last_nl.map(|i| i + self.pos);
            let Some(last_nl) = last_nl else {
                self.no_newline_until = self.end;
                if eof {
                    // The last line has no line break.
                    let (s, e) = (self.pos, self.end);
                    self.one_line(s, e, false, None, out)?;
                    self.pos = e;
                } else if pending.len() >= self.max_line {
                    self.close_frame(out)?;
                    self.stats.overlong_lines += 1;
                    self.overlong = true;
                }
                return Ok(());
            };
            let scan_end = self.pos + last_nl + 1;
            if self.exhaustive || !matches!(self.frame, Frame::Closed) {
                let nl = self.pos + memchr(b'\n', pending).unwrap_or(last_nl);
                let (s, e) = (self.pos, nl);
                self.one_line(s, e, true, None, out)?;
                self.pos = nl + 1;
                continue;
            }
            match self.next_candidate(scan_end) {
                None => {
                    let bulk = &self.buf[self.pos..scan_end];
                    out.passthrough(&self.input, bulk, self.line_no + 1)?;
                    let n = memchr::memchr_iter(b'\n', bulk).count() as u64;
                    self.line_no += n;
                    self.stats.lines += n;
                    self.pos = scan_end;
                }
                Some((start, nl, first_literal)) => {
                    if start > self.pos {
                        let bulk = &self.buf[self.pos..start];
                        out.passthrough(&self.input, bulk, self.line_no + 1)?;
                        let n = memchr::memchr_iter(b'\n', bulk).count() as u64;
                        self.line_no += n;
                        self.stats.lines += n;
                    }
                    self.one_line(start, nl, true, Some(first_literal), out)?;
                    self.pos = nl + 1;
                }
            }
        }
        Ok(())
    }

    /// The next candidate line in `buf[pos..scan_end]` (complete lines): its
    /// start, the offset of its line break and where on it the first literal
    /// stands. A line is a candidate when a format literal stands where the
    /// bulk scan found an anchor; a journal JSON record (`{`) always is, as
    /// its MESSAGE is escaped.
    fn next_candidate(&self, scan_end: usize) -> Option<(usize, usize, usize)> {
        let mut from = self.pos;
        loop {
            let hit = from + self.matcher.find_candidate(&self.buf[from..scan_end])?;
            let start =
                memrchr(b'\n', &self.buf[self.pos..hit]).map_or(self.pos, |i| self.pos + i + 1);
            let nl = hit + memchr(b'\n', &self.buf[hit..scan_end]).expect("scan_end ends a line");
            let line = &self.buf[start..nl];
            if line[0] == b'{' {
                return Some((start, nl, 0));
            }
            if self.matcher.literal_at(line, hit - start) {
                return Some((start, nl, hit - start));
            }
            from = hit + 1;
        }
    }

    /// Processes the line `buf[start..stop]` (without its line break).
    fn one_line<O: Output>(
        &mut self,
        start: usize,
        stop: usize,
        newline: bool,
        first_literal: Option<usize>,
        out: &mut O,
    ) -> io::Result<()> {
        let stop_nl = if newline { stop + 1 } else { stop };
        let line_no = self.line_no + 1;
        self.line_no += 1;
        self.stats.lines += 1;
        let cstop = if stop > start && self.buf[stop - 1] == b'\r' {
            stop - 1
        } else {
            stop
        };
        let span = LineSpan {
            start,
            stop,
            content_stop: cstop,
            next: stop_nl,
            newline,
            line_no,
            first_literal,
        };
        if stop - start > self.max_line {
            self.close_frame(out)?;
            self.stats.overlong_lines += 1;
            return out.passthrough(&self.input, &self.buf[start..stop_nl], line_no);
        }
        // A line that belongs to the open frame?
        match &mut self.frame {
            Frame::Closed => {}
            Frame::Sip { frame, request } => {
                let ev = if *request {
                    &mut self.request_event
                } else {
                    &mut self.event
                };
                match frame.feed(&self.buf[start..cstop], &self.catalog.sip, ev) {
                    Feed::Absorbed => {
                        return out.passthrough(&self.input, &self.buf[start..stop_nl], line_no)
                    }
                    Feed::AbsorbedLast => {
                        out.passthrough(&self.input, &self.buf[start..stop_nl], line_no)?;
                        return self.close_frame(out);
                    }
                    Feed::Closed => {
                        if frame.capped {
                            self.stats.truncated_frames += 1;
                        }
                        self.close_frame(out)?;
                    }
                }
            }
            Frame::Lines { format, count, max } => {
                let format = *format;
                *count += 1;
                let within = *count <= *max;
                let f = &self.catalog.formats[format];
                let ev = &mut self.event;
                let member = within
                    && self.matcher.continuation(
                        f,
                        format,
                        &mut self.scratch,
                        &self.buf[start..cstop],
                        |field, value| fill_field(ev, field, value),
                    );
                if member {
                    // tshark -V prints the message's headers indented.
                    if let Some((name, value)) = split_header(trim(&self.buf[start..cstop])) {
                        message::apply_header(name, value, false, &self.catalog.sip, ev);
                    }
                    return out.passthrough(&self.input, &self.buf[start..stop_nl], line_no);
                }
                self.close_frame(out)?;
            }
        }
        // A fresh line: only candidates can be status or request lines. A
        // journal JSON record is matched on its decoded MESSAGE.
        let mut decoded = std::mem::take(&mut self.decoded);
        let record = journald::decode(&self.buf[start..cstop], &mut decoded);
        let result = self.fresh_line(span, record.map(|r| (r, &decoded[..])), out);
        self.decoded = decoded;
        result
    }

    fn fresh_line<O: Output>(
        &mut self,
        span: LineSpan,
        journal: Option<(journald::Record, &[u8])>,
        out: &mut O,
    ) -> io::Result<()> {
        let content = match journal {
            Some((_, message)) => message,
            None => &self.buf[span.start..span.content_stop],
        };
        let hit = if self.exhaustive {
            self.matcher
                .recognize_any(self.catalog, &mut self.scratch, content)
        } else {
            // A journal record's MESSAGE is searched whole.
            let from = span
                .first_literal
                .filter(|_| journal.is_none())
                .unwrap_or(0);
            self.matcher
                .recognize(self.catalog, &mut self.scratch, content, from)
        };
        let Some(hit) = hit else {
            return out.passthrough(&self.input, &self.buf[span.start..span.next], span.line_no);
        };
        match hit.role {
            Role::Request => {
                let at = self
                    .matcher
                    .field(&self.scratch, content, Field::Method)
                    .map_or(hit.start, |m| {
                        m.as_ptr() as usize - content.as_ptr() as usize
                    });
                let wanted = out.wants_requests();
                if wanted {
                    self.fill_side_event(&hit, span, &journal, at, true);
                } else {
                    self.request_event.clear();
                }
                let catalog = self.catalog;
                let content = match &journal {
                    Some((_, message)) => message,
                    None => &self.buf[span.start..span.content_stop],
                };
                let ev = &mut self.request_event;
                let mut frame = SipFrame::new(content, at, false);
                if !wanted {
                    frame = frame.framing_only();
                }
                let (_, rest) = split_reason(&content[hit.end..], &catalog.sip);
                if rest.is_empty() {
                    self.frame_start = self.absolute(span.start);
                    self.frame = Frame::Sip {
                        frame,
                        request: true,
                    };
                } else if wanted {
                    // A message flattened into one log record ends with that record.
                    frame.feed_inline(rest, &catalog.sip, ev);
                    frame.finish(ev);
                    ev.settle_peers();
                    out.request(&self.input, ev)?;
                }
                out.passthrough(&self.input, &self.buf[span.start..span.next], span.line_no)
            }
            Role::Security => {
                let wrappers = self.catalog.formats[hit.format].wrappers;
                self.fill_side_event(&hit, span, &journal, hit.start, wrappers);
                out.passthrough(&self.input, &self.buf[span.start..span.next], span.line_no)?;
                out.security_line(&self.input, &self.request_event)
            }
            Role::Event => self.open_event(hit, span, journal, out),
            Role::Context => unreachable!("context formats are not in the prefilter"),
        }
    }

    /// Fills `request_event` from a request or security line: the fields its
    /// regex captured, then peers and time from its wrappers (`at`: where
    /// its own text starts, after any prefix).
    fn fill_side_event(
        &mut self,
        hit: &Hit,
        span: LineSpan,
        journal: &Option<(journald::Record, &[u8])>,
        at: usize,
        wrappers: bool,
    ) {
        let content = match journal {
            Some((_, message)) => message,
            None => &self.buf[span.start..span.content_stop],
        };
        let ev = &mut self.request_event;
        fill_line_fields(ev, &self.scratch, content, hit.format, span.line_no);
        read_context(
            Lookback {
                catalog: self.catalog,
                matcher: self.matcher,
                scratch: &mut self.scratch,
                stamps: &mut self.stamps,
                captured_stamps: &mut self.captured_stamps,
                buf: &self.buf,
                keep: self.keep,
            },
            ev,
            content,
            span.start,
            at,
            wrappers,
            journal.as_ref().and_then(|(r, _)| r.realtime_us),
        );
    }

    fn open_event<O: Output>(
        &mut self,
        hit: Hit,
        span: LineSpan,
        journal: Option<(journald::Record, &[u8])>,
        out: &mut O,
    ) -> io::Result<()> {
        let catalog = self.catalog;
        let content = match journal {
            Some((_, message)) => message,
            None => &self.buf[span.start..span.content_stop],
        };
        let format = &catalog.formats[hit.format];
        let ev = &mut self.event;
        ev.clear();
        ev.line = span.line_no;
        ev.format = hit.format;
        ev.raw.extend_from_slice(content);
        let mut reason_span: Option<(usize, usize)> = None;
        for field in Field::ALL {
            let Some((s, e)) = self.scratch.spans[field as usize] else {
                continue;
            };
            let value = &content[s..e];
            match field {
                Field::Code => ev.code = parse_code(value).unwrap_or(0),
                Field::Reason => reason_span = Some((s, e)),
                Field::Direction => ev.direction = format.direction_of(value),
                _ => fill_field(ev, field, value),
            }
        }
        // Where the SIP text starts on this line (for prefix learning and contexts).
        let sip_at = SIP_VERSION
            .find(&content[hit.start..])
            .map_or(hit.start, |i| hit.start + i);
        let dot_is_cr = read_context(
            Lookback {
                catalog,
                matcher: self.matcher,
                scratch: &mut self.scratch,
                stamps: &mut self.stamps,
                captured_stamps: &mut self.captured_stamps,
                buf: &self.buf,
                keep: self.keep,
            },
            ev,
            content,
            span.start,
            sip_at,
            format.wrappers,
            journal.and_then(|(r, _)| r.realtime_us),
        );
        // The reason phrase, and headers flattened after it on the same line.
        let mut inline_rest: &[u8] = &[];
        if let Some((s, e)) = reason_span {
            let (reason, rest) = split_reason(&content[s..e], &catalog.sip);
            // Field-separated output (tshark -T fields) ends the phrase at a tab.
            let reason = trim(reason);
            let reason = &reason[..memchr(b'\t', reason).unwrap_or(reason.len())];
            set_lossy(&mut ev.reason, clean_value(reason, dot_is_cr));
            inline_rest = rest;
        }
        match &format.frame {
            FrameKind::None => {}
            FrameKind::Sip => {
                let mut frame = SipFrame::new(content, sip_at, dot_is_cr);
                if inline_rest.is_empty() {
                    self.frame_start = self.stats.bytes - (self.end - span.start) as u64;
                    self.frame = Frame::Sip {
                        frame,
                        request: false,
                    };
                } else {
                    // A message flattened into one log record ends with that record.
                    frame.feed_inline(inline_rest, &catalog.sip, ev);
                    frame.finish(ev);
                }
            }
            FrameKind::Lines { max_lines, .. } => {
                self.frame_start = self.stats.bytes - (self.end - span.start) as u64;
                self.frame = Frame::Lines {
                    format: hit.format,
                    count: 0,
                    max: *max_lines,
                };
            }
        }
        ev.settle_peers();
        out.status_line(
            &self.input,
            &self.buf[span.start..span.stop],
            span.newline,
            &self.event,
        )?;
        if matches!(self.frame, Frame::Closed) {
            self.stats.events += 1;
            out.event(&self.input, &self.event)?;
        }
        Ok(())
    }

    fn close_frame<O: Output>(&mut self, out: &mut O) -> io::Result<()> {
        match std::mem::replace(&mut self.frame, Frame::Closed) {
            Frame::Closed => Ok(()),
            Frame::Sip {
                frame,
                request: true,
            } => {
                if !out.wants_requests() {
                    return Ok(());
                }
                frame.finish(&mut self.request_event);
                self.request_event.settle_peers();
                out.request(&self.input, &self.request_event)
            }
            Frame::Sip {
                frame,
                request: false,
            } => {
                frame.finish(&mut self.event);
                self.event.settle_peers();
                self.stats.events += 1;
                out.event(&self.input, &self.event)
            }
            Frame::Lines { .. } => {
                self.event.settle_peers();
                self.stats.events += 1;
                out.event(&self.input, &self.event)
            }
        }
    }
}

/// Starts `ev` over for a request or security line: line number, format,
/// raw text and the fields the format's regex captured.
fn fill_line_fields(
    ev: &mut Event,
    scratch: &Scratch,
    content: &[u8],
    format: usize,
    line_no: u64,
) {
    ev.clear();
    ev.line = line_no;
    ev.format = format;
    ev.raw.extend_from_slice(content);
    for field in Field::ALL {
        if let Some((s, e)) = scratch.spans[field as usize] {
            if !matches!(field, Field::Code | Field::Direction) {
                fill_field(ev, field, &content[s..e]);
            }
        }
    }
}

/// What wrapper and timestamp lookup reads from an engine.
struct Lookback<'a, 'c> {
    catalog: &'c Catalog,
    matcher: &'a Matcher,
    scratch: &'a mut Scratch,
    stamps: &'a mut timestamp::Finder,
    captured_stamps: &'a mut timestamp::Finder,
    buf: &'a [u8],
    keep: usize,
}

/// Fills peers, direction and time of `ev` from the wrappers around the
/// line `content` (which starts at `line_start` in the buffer; its SIP text
/// at `sip_at`): the prefix on the line itself, then the lines above. Returns
/// whether a wrapper said a trailing dot stands for CR (ngrep).
#[allow(clippy::too_many_arguments)]
fn read_context(
    cx: Lookback<'_, '_>,
    ev: &mut Event,
    content: &[u8],
    line_start: usize,
    sip_at: usize,
    wrappers: bool,
    journal_us: Option<u64>,
) -> bool {
    let catalog = cx.catalog;
    // Contexts: the prefix of this line, then the lines above.
    let mut lines: [&[u8]; MAX_LOOKBACK_LINES + 1] = [&[]; MAX_LOOKBACK_LINES + 1];
    lines[0] = &content[..sip_at];
    let full_depth = if wrappers {
        cx.matcher.max_lookback.min(MAX_LOOKBACK_LINES)
    } else {
        0
    };
    let mut depth = full_depth.min(NEAR_LOOKBACK);
    let mut cursor = line_start;
    let mut filled = 0;
    let mut dot_is_cr = false;
    let mut ctx_lines = [false; MAX_LOOKBACK_LINES + 1];
    let mut from = 0;
    if wrappers {
        loop {
            for slot in lines.iter_mut().take(depth + 1).skip(filled + 1) {
                if cursor <= cx.keep {
                    break;
                }
                let prev_end = cursor - 1; // the '\n' before `cursor`
                let prev_start =
                    memrchr(b'\n', &cx.buf[cx.keep..prev_end]).map_or(cx.keep, |i| cx.keep + i + 1);
                *slot = strip_cr(&cx.buf[prev_start..prev_end]);
                cursor = prev_start;
                filled += 1;
            }
            let mut reach_further = false;
            cx.matcher.contexts(
                catalog,
                cx.scratch,
                &lines[..=depth],
                from,
                |ci, distance, field, value| {
                    let f = &catalog.formats[ci];
                    if ev.wrapper.is_none() {
                        ev.wrapper = Some(ci);
                    }
                    reach_further |= f.max_distance > NEAR_LOOKBACK;
                    dot_is_cr |= f.trailing_dot_is_cr;
                    ctx_lines[distance] = true;
                    match field {
                        Field::Direction => {
                            if ev.direction.is_none() {
                                ev.direction = f.direction_of(value);
                            }
                        }
                        Field::Reason | Field::Code => {}
                        _ => fill_field(ev, field, value),
                    }
                },
            );
            // Wrappers almost always stand within a few lines; look further
            // only when a near line belongs to a dialect whose header is long
            // (Kamailio sipdump records).
            if !reach_further || depth == full_depth {
                break;
            }
            from = depth + 1;
            depth = full_depth;
        }
    }
    if let Some(us) = journal_us {
        timestamp::from_epoch_micros(us, &mut ev.ts_raw, &mut ev.ts);
    }
    if ev.ts_raw.is_empty() {
        let shapes = &catalog.timestamps;
        // The status line's own stamp, else the nearest wrapper line's.
        let candidates =
            std::iter::once(content).chain((1..=depth).filter(|d| ctx_lines[*d]).map(|d| lines[d]));
        for line in candidates {
            if timestamp::extract_with(shapes, cx.stamps, line, &mut ev.ts_raw, &mut ev.ts) {
                break;
            }
        }
    } else if ev.ts.is_empty() {
        // A stamp a wrapper's regex captured: normalise it if it has a date.
        let raw = std::mem::take(&mut ev.ts_raw);
        let found = timestamp::extract_with(
            &catalog.timestamps,
            cx.captured_stamps,
            raw.as_bytes(),
            &mut ev.ts_raw,
            &mut ev.ts,
        );
        if !found {
            ev.ts_raw = raw;
        }
    }
    dot_is_cr
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Stores a captured field in the event unless it already has a value.
fn fill_field(ev: &mut Event, field: Field, value: &[u8]) {
    let value = trim(value);
    if value.is_empty() {
        return;
    }
    let target = match field {
        Field::Method => &mut ev.method,
        Field::CallId => &mut ev.call_id,
        Field::Src => &mut ev.src,
        Field::Dst => &mut ev.dst,
        Field::Peer => &mut ev.peer,
        Field::Transport => &mut ev.transport,
        Field::From => &mut ev.from,
        Field::To => &mut ev.to,
        Field::UserAgent => &mut ev.user_agent,
        Field::Ts => &mut ev.ts_raw,
        Field::Reason => {
            if ev.reason.is_empty() {
                set_lossy(&mut ev.reason, value);
            }
            return;
        }
        Field::Cseq => {
            if ev.cseq.is_none() {
                ev.cseq = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
            }
            return;
        }
        Field::Epoch => {
            if ev.ts_raw.is_empty() {
                timestamp::from_epoch(value, &mut ev.ts_raw, &mut ev.ts);
            }
            return;
        }
        Field::Code | Field::Direction => return,
    };
    if target.is_empty() {
        push_lossy(target, value);
    }
}

/// Splits a captured reason phrase from headers a logger flattened after it.
pub fn split_reason<'a>(
    text: &'a [u8],
    sip: &crate::catalog::formats::SipSyntax,
) -> (&'a [u8], &'a [u8]) {
    if !sip.may_split(text) {
        return (text, &[]);
    }
    if let Some((cut, after)) = sip.find_separator(text) {
        return (&text[..cut], &text[after..]);
    }
    let inline = sip.inline_header_starts(text).next();
    match inline {
        Some(at) => (&text[..at], &text[at..]),
        None => (text, &[]),
    }
}
