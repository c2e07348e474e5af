//! JSON Lines output: one object per event (schema 1, see README), and with
//! `lines = true` one `{"type":"line"}` object per other input line, so that
//! the stream stays lossless. Strings are escaped by hand into one reused
//! buffer: no allocation per event.

use std::io::{self, Write};

use crate::catalog::Catalog;
use crate::enrich::{decode_headers, note_context};
use crate::event::{Event, SCHEMA};
use crate::format::Output;

/// Writes events as JSON Lines.
pub struct JsonOutput<'c, W: Write> {
    encoder: EventEncoder<'c>,
    out: W,
    /// Records encoded but not yet written: they are handed to `out` in
    /// blocks of at least `SPILL_BYTES` (a buffered writer passes a block that
    /// large straight through, so each record is copied once), and on `flush`.
    pending: Vec<u8>,
    lines: bool,
}

/// How many encoded bytes `JsonOutput` collects before it writes them.
const SPILL_BYTES: usize = 64 * 1024;

/// Encodes events, keeping the escaped knowledge-base part of each code, each
/// note, each format id and the input's name, so that each is escaped once,
/// not once per event.
pub struct EventEncoder<'c> {
    catalog: &'c Catalog,
    statics: Vec<Option<Vec<u8>>>,
    notes: Vec<Option<Vec<u8>>>,
    /// `Catalog::formats[i].id` as a JSON string.
    format_ids: Vec<Vec<u8>>,
    /// The last input's name, and as a JSON string.
    input: String,
    input_json: Vec<u8>,
}

impl<'c> EventEncoder<'c> {
    /// An encoder with empty caches.
    pub fn new(catalog: &'c Catalog) -> Self {
        EventEncoder {
            catalog,
            statics: vec![None; 600],
            notes: vec![None; catalog.kb.notes().len()],
            format_ids: catalog
                .formats
                .iter()
                .map(|f| {
                    let mut b = Vec::new();
                    push_str(&mut b, &f.id);
                    b
                })
                .collect(),
            input: String::new(),
            input_json: b"\"\"".to_vec(),
        }
    }

    /// Appends one event object (no trailing newline) to `b`.
    pub fn write(&mut self, b: &mut Vec<u8>, input: &str, ev: &Event) {
        let catalog = self.catalog;
        let code = ev.code.clamp(100, 699);
        let statics =
            self.statics[(code - 100) as usize].get_or_insert_with(|| static_part(catalog, code));
        if self.input != input {
            self.input.clear();
            self.input.push_str(input);
            self.input_json.clear();
            push_str(&mut self.input_json, input);
        }
        let escaped = Escaped {
            statics,
            input: &self.input_json,
            format_ids: &self.format_ids,
        };
        write_event_with(b, catalog, ev, escaped, &mut self.notes);
    }
}

/// The knowledge-base fields of a code, escaped: from "class" to "rfc".
fn static_part(catalog: &Catalog, code: u16) -> Vec<u8> {
    let mut b = Vec::with_capacity(1024);
    let l = catalog.kb.lookup(code);
    let texts = l.texts();
    b.extend_from_slice(b",\"class\":");
    push_u64(&mut b, u64::from(code / 100));
    b.extend_from_slice(b",\"class_name\":");
    push_str(&mut b, &l.class.name);
    b.extend_from_slice(b",\"final\":");
    b.extend_from_slice(if code >= 200 { b"true" } else { b"false" });
    b.extend_from_slice(b",\"registered\":");
    b.extend_from_slice(if l.registered() { b"true" } else { b"false" });
    b.extend_from_slice(b",\"canonical_reason\":");
    push_opt(&mut b, l.canonical_reason().unwrap_or(""));
    b.extend_from_slice(b",\"meaning\":");
    push_str(&mut b, &texts.meaning);
    b.extend_from_slice(b",\"when\":");
    push_str(&mut b, &texts.when);
    b.extend_from_slice(b",\"fix\":");
    push_str(&mut b, &texts.fix);
    b.extend_from_slice(b",\"severity\":");
    push_str(&mut b, l.severity().as_str());
    b.extend_from_slice(b",\"rfc\":");
    push_opt(&mut b, l.rfc().unwrap_or(""));
    b
}

impl<'c, W: Write> JsonOutput<'c, W> {
    /// `lines`: also write non-status lines as `{"type":"line"}` records.
    pub fn new(catalog: &'c Catalog, out: W, lines: bool) -> Self {
        JsonOutput {
            encoder: EventEncoder::new(catalog),
            out,
            pending: Vec::with_capacity(SPILL_BYTES + 4096),
            lines,
        }
    }

    /// Writes the pending records.
    fn spill(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.out.write_all(&self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }

    /// Writes the pending records once there are enough of them.
    fn spill_if_full(&mut self) -> io::Result<()> {
        if self.pending.len() >= SPILL_BYTES {
            self.spill()?;
        }
        Ok(())
    }
}

/// Like a buffered writer, a dropped output still writes what it holds
/// (errors cannot be reported here; `flush` reports them).
impl<W: Write> Drop for JsonOutput<'_, W> {
    fn drop(&mut self) {
        let _ = self.spill();
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
            let b = &mut self.pending;
            b.extend_from_slice(b"{\"schema\":");
            push_u64(b, u64::from(SCHEMA));
            b.extend_from_slice(b",\"type\":\"line\",\"input\":");
            push_str(b, input);
            b.extend_from_slice(b",\"line\":");
            push_u64(b, n);
            b.extend_from_slice(b",\"text\":");
            push_bytes(b, line);
            b.extend_from_slice(b"}\n");
            self.spill_if_full()?;
            rest = &rest[end..];
            n += 1;
        }
        Ok(())
    }

    fn event(&mut self, input: &str, ev: &Event) -> io::Result<()> {
        self.encoder.write(&mut self.pending, input, ev);
        self.pending.push(b'\n');
        self.spill_if_full()
    }

    fn call(&mut self, call: &crate::correlate::calls::CallRecord) -> io::Result<()> {
        self.spill()?;
        let v = super::findings::call_json(self.encoder.catalog, call);
        serde_json::to_writer(&mut self.out, &v)?;
        self.out.write_all(b"\n")
    }

    fn detection(&mut self, d: &crate::correlate::security::Detection) -> io::Result<()> {
        self.spill()?;
        let v = super::findings::detection_json(self.encoder.catalog, d);
        serde_json::to_writer(&mut self.out, &v)?;
        self.out.write_all(b"\n")
    }

    fn flush(&mut self) -> io::Result<()> {
        self.spill()?;
        self.out.flush()
    }
}

/// Appends one event object (no trailing newline) to `b` (no caching; the
/// output formats use `EventEncoder`).
pub fn write_event(b: &mut Vec<u8>, catalog: &Catalog, input: &str, ev: &Event) {
    EventEncoder::new(catalog).write(b, input, ev)
}

/// The parts of an event object that `EventEncoder` keeps escaped.
struct Escaped<'a> {
    /// The code's knowledge-base fields.
    statics: &'a [u8],
    /// The input's name as a JSON string.
    input: &'a [u8],
    /// Each format's id as a JSON string.
    format_ids: &'a [Vec<u8>],
}

fn write_event_with(
    b: &mut Vec<u8>,
    catalog: &Catalog,
    ev: &Event,
    escaped: Escaped<'_>,
    notes: &mut [Option<Vec<u8>>],
) {
    let kb = &catalog.kb;
    let (reason, warning) = decode_headers(kb, ev);
    b.extend_from_slice(b"{\"schema\":");
    push_u64(b, u64::from(SCHEMA));
    b.extend_from_slice(b",\"type\":\"response\",\"input\":");
    b.extend_from_slice(escaped.input);
    b.extend_from_slice(b",\"line\":");
    push_u64(b, ev.line);
    b.extend_from_slice(b",\"format\":");
    b.extend_from_slice(&escaped.format_ids[ev.format]);
    b.extend_from_slice(b",\"wrapper\":");
    match ev.wrapper {
        Some(w) => b.extend_from_slice(&escaped.format_ids[w]),
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
    b.extend_from_slice(escaped.statics);
    b.extend_from_slice(b",\"note\":");
    match kb.note_index(ev.code, &note_context(ev)) {
        Some(i) => {
            let text = notes[i].get_or_insert_with(|| {
                let mut t = Vec::new();
                push_str(&mut t, &kb.notes()[i].text);
                t
            });
            b.extend_from_slice(text);
        }
        None => b.extend_from_slice(b"null"),
    }
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
    match &reason {
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
            push_opt(b, r.cause_name().unwrap_or(""));
            b.extend_from_slice(b",\"sip_equivalent\":");
            match r.cause.and_then(|c| c.sip) {
                Some(code) => push_u64(b, u64::from(code)),
                None => b.extend_from_slice(b"null"),
            }
            b.push(b'}');
        }
    }
    b.extend_from_slice(b",\"warning\":");
    match &warning {
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
    // Codes, classes, CSeq numbers and the schema are short: pushed byte by
    // byte, they need no copy of a scratch buffer.
    if n < 1000 {
        let n = n as u32;
        if n >= 100 {
            b.push(b'0' + (n / 100) as u8);
        }
        if n >= 10 {
            b.push(b'0' + (n / 10 % 10) as u8);
        }
        b.push(b'0' + (n % 10) as u8);
        return;
    }
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

/// Appends bytes as a JSON string, decoding UTF-8 lossily. One scan finds
/// both the bytes to escape and the first non-ASCII byte, so an ASCII line
/// (most log lines) is never validated separately; from the first non-ASCII
/// byte on, the rest is decoded chunk by chunk.
pub fn push_bytes(b: &mut Vec<u8>, bytes: &[u8]) {
    b.push(b'"');
    let ascii = escape_until::<true>(b, bytes);
    for chunk in bytes[ascii..].utf8_chunks() {
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

/// Bytes per step of the block scan in `next_special`.
const BLOCK: usize = 16;

/// True if no byte of `block` needs escaping (nor, with `HIGH`, is non-ASCII).
/// A branch-free fold over a fixed-size block, which the compiler turns into
/// a few vector compares.
#[inline]
fn block_is_plain<const HIGH: bool>(block: &[u8; BLOCK]) -> bool {
    block.iter().fold(true, |plain, &c| {
        plain & !((c < 0x20) | (c == b'"') | (c == b'\\') | (c == 0x7f) | (HIGH & (c >= 0x80)))
    })
}

/// Position of the first byte at or after `from` that needs escaping (or,
/// with `HIGH`, that is not ASCII): a block of sixteen bytes per step, the
/// tail as the last block (or padded, in a short string); only a block that
/// holds such a byte is searched byte by byte.
#[inline]
fn next_special<const HIGH: bool>(bytes: &[u8], mut from: usize) -> Option<usize> {
    let special = |c: u8| c < 0x20 || c == b'"' || c == b'\\' || c == 0x7f || (HIGH && c >= 0x80);
    while let Some(block) = bytes.get(from..from + BLOCK) {
        if !block_is_plain::<HIGH>(block.try_into().expect("a block")) {
            return block.iter().position(|&c| special(c)).map(|i| from + i);
        }
        from += BLOCK;
    }
    let tail = &bytes[from..];
    if tail.is_empty() {
        return None;
    }
    // A string of a block or more ends with the block that overlaps the
    // tail (its first bytes were checked already); a shorter one is checked
    // as one block padded with plain bytes.
    let plain = match bytes.len().checked_sub(BLOCK) {
        Some(last) => block_is_plain::<HIGH>(bytes[last..].try_into().expect("a block")),
        None => {
            let mut padded = [b'a'; BLOCK];
            padded[..tail.len()].copy_from_slice(tail);
            block_is_plain::<HIGH>(&padded)
        }
    };
    if plain {
        return None;
    }
    tail.iter().position(|&c| special(c)).map(|i| from + i)
}

/// Appends the JSON escape of one byte that needs escaping.
#[inline]
fn push_escape(b: &mut Vec<u8>, c: u8) {
    match c {
        b'"' => b.extend_from_slice(b"\\\""),
        b'\\' => b.extend_from_slice(b"\\\\"),
        b'\n' => b.extend_from_slice(b"\\n"),
        b'\r' => b.extend_from_slice(b"\\r"),
        b'\t' => b.extend_from_slice(b"\\t"),
        _ => {
            let hex = b"0123456789abcdef";
            b.extend_from_slice(b"\\u00");
            b.push(hex[(c >> 4) as usize]);
            b.push(hex[(c & 15) as usize]);
        }
    }
}

fn escape_into(b: &mut Vec<u8>, s: &str) {
    escape_until::<false>(b, s.as_bytes());
}

/// Appends `bytes` escaped, up to the first non-ASCII byte with `HIGH` (to
/// the end without it); returns where it stopped.
#[inline]
fn escape_until<const HIGH: bool>(b: &mut Vec<u8>, bytes: &[u8]) -> usize {
    let mut start = 0;
    while let Some(i) = next_special::<HIGH>(bytes, start) {
        b.extend_from_slice(&bytes[start..i]);
        if HIGH && bytes[i] >= 0x80 {
            return i;
        }
        push_escape(b, bytes[i]);
        start = i + 1;
    }
    b.extend_from_slice(&bytes[start..]);
    bytes.len()
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
    fn bytes_decode_lossily_wherever_the_first_non_ascii_byte_stands() {
        let tail: &[u8] = "é\"日\u{1}".as_bytes();
        let head: &[u8] = b"abc\tdefgh\"ijklmnopq\\r";
        for invalid in [&b""[..], b"\xff", b"\xe6\x97"] {
            for cut in 0..=head.len() {
                let mut input = head[..cut].to_vec();
                input.extend_from_slice(invalid);
                input.extend_from_slice(tail);
                input.extend_from_slice(b"z\n");
                let mut b = Vec::new();
                push_bytes(&mut b, &input);
                let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
                assert_eq!(
                    v.as_str().unwrap(),
                    String::from_utf8_lossy(&input),
                    "{input:?}"
                );
            }
        }
    }

    #[test]
    fn block_check_finds_every_byte_that_needs_escaping_or_is_not_ascii() {
        for c in 0u8..=255 {
            let needs = c < 0x20 || c == b'"' || c == b'\\' || c == 0x7f;
            for pos in 0..BLOCK {
                let mut block = *b"abcdefghijklmnop";
                block[pos] = c;
                assert_eq!(
                    !block_is_plain::<false>(&block),
                    needs,
                    "byte {c:#x} at {pos}"
                );
                assert_eq!(
                    !block_is_plain::<true>(&block),
                    needs || c >= 0x80,
                    "byte {c:#x} at {pos}, non-ASCII counts"
                );
                // And the scan that uses it stops right there, past a clean block.
                let mut bytes = b"0123456789abcdefghijklmnopqrstuvwxyz0123".to_vec();
                bytes[BLOCK + 3 + pos] = c;
                let expect = (needs || c >= 0x80).then_some(BLOCK + 3 + pos);
                assert_eq!(
                    next_special::<true>(&bytes, 3),
                    expect,
                    "byte {c:#x} at {pos}"
                );
            }
            // A tail shorter than a block is checked padded.
            for len in 1..BLOCK {
                for pos in 0..len {
                    let mut tail = b"abcdefghijklmnop"[..len].to_vec();
                    tail[pos] = c;
                    let expect = (needs || c >= 0x80).then_some(pos);
                    assert_eq!(
                        next_special::<true>(&tail, 0),
                        expect,
                        "byte {c:#x} at {pos} of {len}"
                    );
                    let plain = needs.then_some(pos);
                    assert_eq!(
                        next_special::<false>(&tail, 0),
                        plain,
                        "byte {c:#x} at {pos} of {len}"
                    );
                }
            }
        }
    }

    #[test]
    fn long_strings_escape_like_short_ones() {
        let s = "0123456789abcdef\"quoted\"\u{1}tail-after-the-escapes";
        let mut b = Vec::new();
        push_str(&mut b, s);
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v.as_str().unwrap(), s);
    }

    #[test]
    fn random_bytes_round_trip_through_a_json_parser() {
        let mut rng = crate::testgen::Rng::new(99);
        let alphabet: &[u8] = b"ab\"\\\n\r\t\x00\x1b\x7f \xc3\xa9\xe2\x86\xb3\xff/xyz0123456789";
        for _ in 0..2000 {
            let len = rng.below(40) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| *rng.pick(alphabet)).collect();
            let mut b = Vec::new();
            push_bytes(&mut b, &bytes);
            let v: serde_json::Value = serde_json::from_slice(&b).expect("valid JSON");
            assert_eq!(
                v.as_str().unwrap(),
                String::from_utf8_lossy(&bytes),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn numbers() {
        let mut b = Vec::new();
        push_u64(&mut b, 0);
        b.push(b' ');
        push_u64(&mut b, 18_446_744_073_709_551_615);
        assert_eq!(b, b"0 18446744073709551615");
        // Each side of the short path's bounds, against core's formatting.
        for n in (0..=1100).chain([9_999, 10_000, 123_456_789]) {
            b.clear();
            push_u64(&mut b, n);
            assert_eq!(b, n.to_string().as_bytes());
        }
    }
}
