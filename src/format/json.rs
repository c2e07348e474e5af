//! JSON Lines output: one object per event (schema 1, see README), and with
//! `lines = true` one `{"type":"line"}` object per other input line, so that
//! the stream stays lossless. Strings are escaped by hand into one reused
//! buffer: no allocation per event.

use std::io::{self, Write};

use crate::catalog::Catalog;
use crate::enrich::annotate;
use crate::event::{Event, SCHEMA};
use crate::format::Output;

/// Writes events as JSON Lines.
pub struct JsonOutput<'c, W: Write> {
    catalog: &'c Catalog,
    out: W,
    buf: Vec<u8>,
    lines: bool,
}

impl<'c, W: Write> JsonOutput<'c, W> {
    /// `lines`: also write non-status lines as `{"type":"line"}` records.
    pub fn new(catalog: &'c Catalog, out: W, lines: bool) -> Self {
        JsonOutput { catalog, out, buf: Vec::with_capacity(4096), lines }
    }

    /// The inner writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Output for JsonOutput<'_, W> {
    fn passthrough(&mut self, input: &str, bytes: &[u8], first_line: u64) -> io::Result<()> {
        if !self.lines {
            return Ok(());
        }
        let mut n = first_line;
        let mut rest = bytes;
        while !rest.is_empty() {
            let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
            let line = &rest[..end];
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            self.buf.clear();
            self.buf.extend_from_slice(b"{\"schema\":");
            push_u64(&mut self.buf, u64::from(SCHEMA));
            self.buf.extend_from_slice(b",\"type\":\"line\",\"input\":");
            push_str(&mut self.buf, input);
            self.buf.extend_from_slice(b",\"line\":");
            push_u64(&mut self.buf, n);
            self.buf.extend_from_slice(b",\"text\":");
            push_bytes(&mut self.buf, line);
            self.buf.extend_from_slice(b"}\n");
            self.out.write_all(&self.buf)?;
            rest = &rest[end..];
            n += 1;
        }
        Ok(())
    }

    fn status_line(&mut self, _: &str, _: &[u8], _: bool, _: &Event) -> io::Result<()> {
        Ok(())
    }

    fn event(&mut self, input: &str, ev: &Event) -> io::Result<()> {
        self.buf.clear();
        write_event(&mut self.buf, self.catalog, input, ev);
        self.buf.push(b'\n');
        self.out.write_all(&self.buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Appends one event object (no trailing newline) to `b`.
pub fn write_event(b: &mut Vec<u8>, catalog: &Catalog, input: &str, ev: &Event) {
    let kb = &catalog.kb;
    let a = annotate(kb, ev);
    let texts = a.lookup.texts();
    b.extend_from_slice(b"{\"schema\":");
    push_u64(b, u64::from(SCHEMA));
    b.extend_from_slice(b",\"type\":\"response\",\"input\":");
    push_str(b, input);
    b.extend_from_slice(b",\"line\":");
    push_u64(b, ev.line);
    b.extend_from_slice(b",\"format\":");
    push_str(b, &catalog.formats[ev.format].id);
    b.extend_from_slice(b",\"wrapper\":");
    match ev.wrapper {
        Some(w) => push_str(b, &catalog.formats[w].id),
        None => b.extend_from_slice(b"null"),
    }
    b.extend_from_slice(b",\"ts\":");
    if !ev.ts.is_empty() {
        push_str(b, &ev.ts);
    } else {
        push_opt(b, &ev.ts_raw);
    }
    b.extend_from_slice(b",\"ts_raw\":");
    push_opt(b, &ev.ts_raw);
    b.extend_from_slice(b",\"code\":");
    push_u64(b, u64::from(ev.code));
    b.extend_from_slice(b",\"reason\":");
    push_str(b, &ev.reason);
    b.extend_from_slice(b",\"class\":");
    push_u64(b, u64::from(ev.class()));
    b.extend_from_slice(b",\"class_name\":");
    push_str(b, &a.lookup.class.name);
    b.extend_from_slice(b",\"final\":");
    b.extend_from_slice(if ev.code >= 200 { b"true" } else { b"false" });
    b.extend_from_slice(b",\"registered\":");
    b.extend_from_slice(if a.lookup.registered() { b"true" } else { b"false" });
    b.extend_from_slice(b",\"canonical_reason\":");
    push_opt(b, a.lookup.canonical_reason().unwrap_or(""));
    b.extend_from_slice(b",\"meaning\":");
    push_str(b, &texts.meaning);
    b.extend_from_slice(b",\"when\":");
    push_str(b, &texts.when);
    b.extend_from_slice(b",\"fix\":");
    push_str(b, &texts.fix);
    b.extend_from_slice(b",\"note\":");
    push_opt(b, a.note.map_or("", |n| n.text.as_str()));
    b.extend_from_slice(b",\"severity\":");
    push_str(b, a.lookup.severity().as_str());
    b.extend_from_slice(b",\"rfc\":");
    push_opt(b, a.lookup.rfc().unwrap_or(""));
    b.extend_from_slice(b",\"method\":");
    push_opt(b, &ev.method);
    b.extend_from_slice(b",\"cseq\":");
    match ev.cseq {
        Some(n) => push_u64(b, u64::from(n)),
        None => b.extend_from_slice(b"null"),
    }
    for (key, value) in [
        (&b",\"call_id\":"[..], &ev.call_id),
        (b",\"from\":", &ev.from),
        (b",\"to\":", &ev.to),
        (b",\"user_agent\":", &ev.user_agent),
        (b",\"src\":", &ev.src),
        (b",\"dst\":", &ev.dst),
    ] {
        b.extend_from_slice(key);
        push_opt(b, value);
    }
    b.extend_from_slice(b",\"direction\":");
    push_opt(b, ev.direction.map_or("", |d| d.as_str()));
    b.extend_from_slice(b",\"transport\":");
    push_opt(b, &ev.transport);
    b.extend_from_slice(b",\"retry_after\":");
    match ev.retry_after {
        Some(Some(n)) => push_u64(b, u64::from(n)),
        _ => b.extend_from_slice(b"null"),
    }
    b.extend_from_slice(b",\"reason_header\":");
    match &a.reason {
        None if ev.reason_header.is_empty() => b.extend_from_slice(b"null"),
        None => {
            b.extend_from_slice(b"{\"raw\":");
            push_str(b, &ev.reason_header);
            b.push(b'}');
        }
        Some(r) => {
            b.extend_from_slice(b"{\"raw\":");
            push_str(b, &ev.reason_header);
            b.extend_from_slice(b",\"protocol\":");
            push_str(b, r.value.protocol);
            b.extend_from_slice(b",\"cause\":");
            match r.value.cause {
                Some(c) => push_u64(b, u64::from(c)),
                None => b.extend_from_slice(b"null"),
            }
            b.extend_from_slice(b",\"text\":");
            push_opt(b, r.value.text.unwrap_or(""));
            b.extend_from_slice(b",\"cause_name\":");
            let name = match (&r.cause, &r.sip) {
                (Some(c), _) => c.name.as_str(),
                (None, Some(l)) => l.canonical_reason().unwrap_or(""),
                _ => "",
            };
            push_opt(b, name);
            b.extend_from_slice(b",\"sip_equivalent\":");
            match r.cause.and_then(|c| c.sip) {
                Some(code) => push_u64(b, u64::from(code)),
                None => b.extend_from_slice(b"null"),
            }
            b.push(b'}');
        }
    }
    b.extend_from_slice(b",\"warning\":");
    match &a.warning {
        None if ev.warning.is_empty() => b.extend_from_slice(b"null"),
        None => {
            b.extend_from_slice(b"{\"raw\":");
            push_str(b, &ev.warning);
            b.push(b'}');
        }
        Some(w) => {
            b.extend_from_slice(b"{\"raw\":");
            push_str(b, &ev.warning);
            b.extend_from_slice(b",\"code\":");
            push_u64(b, u64::from(w.value.code));
            b.extend_from_slice(b",\"agent\":");
            push_str(b, w.value.agent);
            b.extend_from_slice(b",\"text\":");
            push_str(b, w.value.text);
            b.extend_from_slice(b",\"meaning\":");
            push_opt(b, w.entry.map_or("", |e| e.meaning.as_str()));
            b.push(b'}');
        }
    }
    b.extend_from_slice(b",\"raw\":");
    push_bytes(b, &ev.raw);
    b.push(b'}');
}

/// Appends a decimal number.
pub fn push_u64(b: &mut Vec<u8>, n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    let mut n = n;
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    b.extend_from_slice(&tmp[i..]);
}

/// Appends a JSON string, or `null` when empty.
pub fn push_opt(b: &mut Vec<u8>, s: &str) {
    if s.is_empty() {
        b.extend_from_slice(b"null");
    } else {
        push_str(b, s);
    }
}

/// Appends bytes as a JSON string, decoding UTF-8 lossily.
pub fn push_bytes(b: &mut Vec<u8>, bytes: &[u8]) {
    b.push(b'"');
    for chunk in bytes.utf8_chunks() {
        escape_into(b, chunk.valid());
        if !chunk.invalid().is_empty() {
            b.extend_from_slice("\u{FFFD}".as_bytes());
        }
    }
    b.push(b'"');
}

/// Appends a JSON string.
pub fn push_str(b: &mut Vec<u8>, s: &str) {
    b.push(b'"');
    escape_into(b, s);
    b.push(b'"');
}

fn escape_into(b: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f | 0x7f => {
                b.extend_from_slice(&bytes[start..i]);
                let hex = b"0123456789abcdef";
                b.extend_from_slice(b"\\u00");
                b.push(hex[(c >> 4) as usize]);
                b.push(hex[(c & 15) as usize]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        b.extend_from_slice(&bytes[start..i]);
        b.extend_from_slice(esc);
        start = i + 1;
    }
    b.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_bytes_quotes_and_invalid_utf8() {
        let mut b = Vec::new();
        push_bytes(&mut b, b"a\"b\\c\r\n\x00\x1b\xff");
        let s = String::from_utf8(b).unwrap();
        assert_eq!(s, "\"a\\\"b\\\\c\\r\\n\\u0000\\u001b\u{FFFD}\"");
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v.as_str().unwrap(), "a\"b\\c\r\n\u{0}\u{1b}\u{FFFD}");
    }

    #[test]
    fn numbers() {
        let mut b = Vec::new();
        push_u64(&mut b, 0);
        b.push(b' ');
        push_u64(&mut b, 18_446_744_073_709_551_615);
        assert_eq!(b, b"0 18446744073709551615");
    }
}
