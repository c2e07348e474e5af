//! logfmt: `key=value` pairs separated by spaces, one record per line. A
//! value is quoted when it is empty or holds a space, `=`, `"` or a control
//! byte; inside quotes `\` and `"` are escaped and control bytes written as
//! `\n`, `\r`, `\t` or `\u00XX`, so a record is always one line.

use super::{capped, push_char, DetectionView, View};
use crate::timestamp::millis_to_rfc3339;

/// Appends ` key=value` (no space before the record's first pair, which
/// starts at `start`).
fn pair(b: &mut Vec<u8>, start: usize, key: &str, value: &str) {
    if b.len() > start {
        b.push(b' ');
    }
    b.extend_from_slice(key.as_bytes());
    b.push(b'=');
    let plain = !value.is_empty()
        && !value
            .chars()
            .any(|c| c == ' ' || c == '=' || c == '"' || c == '\\' || c.is_control());
    if plain {
        b.extend_from_slice(value.as_bytes());
        return;
    }
    b.push(b'"');
    for c in value.chars() {
        match c {
            '"' => b.extend_from_slice(b"\\\""),
            '\\' => b.extend_from_slice(b"\\\\"),
            '\n' => b.extend_from_slice(b"\\n"),
            '\r' => b.extend_from_slice(b"\\r"),
            '\t' => b.extend_from_slice(b"\\t"),
            c if c.is_control() => b.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
            c => push_char(b, c),
        }
    }
    b.push(b'"');
}

/// Appends one logfmt record (no line break).
/// Appends one security detection as a logfmt line.
pub fn encode_detection(b: &mut Vec<u8>, v: &DetectionView<'_>) {
    let start = b.len();
    if let Some(ms) = v.millis {
        pair(b, start, "ts", &millis_to_rfc3339(ms));
    }
    pair(b, start, "level", v.severity.as_str());
    pair(b, start, "type", "security");
    pair(b, start, "detection", v.name);
    pair(b, start, "src", v.source);
    pair(b, start, "count", &v.d.count.to_string());
    pair(b, start, "total", &v.d.total.to_string());
    pair(b, start, "mitre", &v.rule.mitre);
    pair(b, start, "evidence", v.evidence);
    pair(b, start, "msg", &v.message());
}

pub fn encode(b: &mut Vec<u8>, v: &View<'_>) {
    let ev = v.ev;
    let start = b.len();
    let ts = if ev.ts.is_empty() { &ev.ts_raw } else { &ev.ts };
    if !ts.is_empty() {
        pair(b, start, "ts", capped(ts));
    }
    pair(b, start, "level", v.severity.as_str());
    pair(b, start, "code", &ev.code.to_string());
    pair(b, start, "reason", capped(v.reason));
    pair(b, start, "class", &v.class().to_string());
    for (k, val) in [
        ("method", &ev.method),
        ("call_id", &ev.call_id),
        ("src", &ev.src),
        ("dst", &ev.dst),
        ("user_agent", &ev.user_agent),
    ] {
        if !val.is_empty() {
            pair(b, start, k, capped(val));
        }
    }
    if let Some(r) = v.reason_header() {
        pair(b, start, "reason_header", &r);
    }
    pair(b, start, "meaning", &v.texts.meaning);
    pair(b, start, "fix", &v.texts.fix);
    pair(b, start, "format", v.format_id());
    pair(b, start, "input", capped(v.input));
    pair(b, start, "line", &ev.line.to_string());
    for (k, val) in v.labels {
        let key: String = k
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !key.is_empty() {
            pair(b, start, &format!("label_{key}"), capped(val));
        }
    }
}
