//! Text output: every input line passes through byte for byte, and each status
//! line is followed at once by one annotation line (code, class, severity,
//! meaning, fix, and the note, Reason and Warning decoding when known).
//! Colour only when asked for or on a terminal.

use std::io::{self, Write};

use crate::catalog::kb::Severity;
use crate::catalog::Catalog;
use crate::enrich::annotate;
use crate::event::Event;
use crate::format::Output;

/// The marker that starts every annotation line.
pub const MARKER: &str = "  \u{21b3} ";

/// Writes the annotated text stream.
pub struct TextOutput<'c, W: Write> {
    catalog: &'c Catalog,
    out: W,
    color: bool,
    only_matches: bool,
    buf: Vec<u8>,
    /// What the status line's annotation already showed: method, Reason, Warning.
    shown: (bool, bool, bool),
}

impl<'c, W: Write> TextOutput<'c, W> {
    /// `only_matches`: write only status lines and their annotations.
    pub fn new(catalog: &'c Catalog, out: W, color: bool, only_matches: bool) -> Self {
        TextOutput {
            catalog,
            out,
            color,
            only_matches,
            buf: Vec::with_capacity(1024),
            shown: (true, true, true),
        }
    }

    /// The inner writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Output for TextOutput<'_, W> {
    fn passthrough(&mut self, _: &str, bytes: &[u8], _: u64) -> io::Result<()> {
        if self.only_matches {
            return Ok(());
        }
        self.out.write_all(bytes)
    }

    fn status_line(&mut self, _: &str, line: &[u8], _newline: bool, ev: &Event) -> io::Result<()> {
        self.buf.clear();
        self.buf.extend_from_slice(line);
        // The annotation goes on its own line, even after a last input line
        // that had no line break.
        self.buf.push(b'\n');
        annotation_line(&mut self.buf, self.catalog, ev, self.color);
        self.buf.push(b'\n');
        self.shown = (
            !ev.method.is_empty(),
            !ev.reason_header.is_empty(),
            !ev.warning.is_empty(),
        );
        self.out.write_all(&self.buf)
    }

    /// After a dump, one more line when its headers told what the status line
    /// could not: the method's note, the Reason cause, the Warning code.
    fn event(&mut self, _: &str, ev: &Event) -> io::Result<()> {
        let new_method = !self.shown.0 && !ev.method.is_empty();
        let new_reason = !self.shown.1 && !ev.reason_header.is_empty();
        let new_warning = !self.shown.2 && !ev.warning.is_empty();
        self.shown = (true, true, true);
        if !(new_method || new_reason || new_warning) {
            return Ok(());
        }
        self.buf.clear();
        if detail_line(&mut self.buf, self.catalog, ev, self.color, new_method) {
            self.buf.push(b'\n');
            self.out.write_all(&self.buf)?;
        }
        Ok(())
    }

    fn call(&mut self, call: &crate::correlate::calls::CallRecord) -> io::Result<()> {
        let line = super::findings::call_text(self.catalog, call);
        writeln!(self.out, "{line}")
    }

    fn detection(&mut self, d: &crate::correlate::security::Detection) -> io::Result<()> {
        let line = super::findings::detection_text(self.catalog, d);
        if self.color {
            writeln!(self.out, "\x1b[1;31m{line}\x1b[0m")
        } else {
            writeln!(self.out, "{line}")
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Appends the one-line annotation of an event (no trailing newline).
pub fn annotation_line(b: &mut Vec<u8>, catalog: &Catalog, ev: &Event, color: bool) {
    let kb = &catalog.kb;
    let a = annotate(kb, ev);
    let texts = a.lookup.texts();
    let paint = |b: &mut Vec<u8>, code: &str, text: &str| {
        if color {
            b.extend_from_slice(b"\x1b[");
            b.extend_from_slice(code.as_bytes());
            b.push(b'm');
            b.extend_from_slice(text.as_bytes());
            b.extend_from_slice(b"\x1b[0m");
        } else {
            b.extend_from_slice(text.as_bytes());
        }
    };
    b.extend_from_slice(MARKER.as_bytes());
    let class_color = match ev.code / 100 {
        1 => "2;37",
        2 => "1;32",
        3 => "1;36",
        4 => "1;33",
        5 => "1;31",
        _ => "1;35",
    };
    let mut head = format!("{} ", ev.code);
    match a.lookup.canonical_reason() {
        Some(r) => head.push_str(r),
        None => head.push_str(if ev.reason.is_empty() {
            "?"
        } else {
            &ev.reason
        }),
    }
    paint(b, class_color, &head);
    b.extend_from_slice(" \u{b7} ".as_bytes());
    b.extend_from_slice(a.lookup.class.name.as_bytes());
    b.extend_from_slice(format!(" ({}xx)", ev.code / 100).as_bytes());
    if !a.lookup.registered() {
        b.extend_from_slice(b", ");
        b.extend_from_slice(kb.labels.unregistered.as_bytes());
    }
    b.extend_from_slice(" \u{b7} ".as_bytes());
    let sev = a.lookup.severity();
    let sev_color = match sev {
        Severity::Info => "2",
        Severity::Notice => "36",
        Severity::Warning => "33",
        Severity::Error | Severity::Critical => "31",
    };
    paint(b, sev_color, sev.as_str());
    if !ev.method.is_empty() {
        b.extend_from_slice(b" \xc2\xb7 ");
        b.extend_from_slice(ev.method.as_bytes());
    }
    b.extend_from_slice(" \u{2014} ".as_bytes());
    b.extend_from_slice(texts.meaning.as_bytes());
    if let Some(note) = a.note {
        b.push(b' ');
        paint(b, "1", &kb.labels.note);
        b.extend_from_slice(b": ");
        b.extend_from_slice(note.text.as_bytes());
    }
    if let Some(r) = &a.reason {
        b.push(b' ');
        paint(b, "1", &kb.labels.reason_header);
        b.extend_from_slice(format!(": {}", sanitize(&r.summary())).as_bytes());
        if let Some(sip) = r.cause.and_then(|c| c.sip) {
            b.extend_from_slice(format!(" \u{2192} SIP {sip}").as_bytes());
        }
        b.push(b'.');
    }
    if let Some(w) = &a.warning {
        b.push(b' ');
        paint(b, "1", &kb.labels.warning_header);
        b.extend_from_slice(format!(": {}.", sanitize(&w.summary())).as_bytes());
    }
    b.push(b' ');
    paint(b, "1", &kb.labels.fix);
    b.extend_from_slice(b": ");
    b.extend_from_slice(texts.fix.as_bytes());
}

/// The follow-up line after a dump (no trailing newline); false if it would
/// say nothing new.
pub fn detail_line(
    b: &mut Vec<u8>,
    catalog: &Catalog,
    ev: &Event,
    color: bool,
    new_method: bool,
) -> bool {
    let kb = &catalog.kb;
    let a = annotate(kb, ev);
    let start = b.len();
    b.extend_from_slice(MARKER.as_bytes());
    b.extend_from_slice(format!("{} {}", ev.code, ev.method).trim_end().as_bytes());
    let head = b.len();
    let bold = |b: &mut Vec<u8>, t: &str| {
        if color {
            b.extend_from_slice(format!("\x1b[1m{t}\x1b[0m").as_bytes());
        } else {
            b.extend_from_slice(t.as_bytes());
        }
    };
    if let Some(r) = &a.reason {
        b.extend_from_slice(" \u{b7} ".as_bytes());
        bold(b, &kb.labels.reason_header);
        b.extend_from_slice(format!(": {}", sanitize(&r.summary())).as_bytes());
        if let Some(t) = r.value.text {
            b.extend_from_slice(format!(" \"{}\"", sanitize(t)).as_bytes());
        }
    }
    if let Some(w) = &a.warning {
        b.extend_from_slice(" \u{b7} ".as_bytes());
        bold(b, &kb.labels.warning_header);
        b.extend_from_slice(format!(": {}", sanitize(&w.summary())).as_bytes());
    }
    if new_method {
        if let Some(note) = a
            .note
            .filter(|n| !n.methods.is_empty() || !n.not_methods.is_empty())
        {
            b.extend_from_slice(" \u{b7} ".as_bytes());
            bold(b, &kb.labels.note);
            b.extend_from_slice(format!(": {}", note.text).as_bytes());
        }
    }
    if b.len() == head {
        b.truncate(start);
        return false;
    }
    true
}

/// Log text repeated in an annotation: control bytes become spaces so that a
/// hostile header cannot forge lines or colour.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
