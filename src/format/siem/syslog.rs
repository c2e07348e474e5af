//! RFC 5424 syslog: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID
//! [sipannotate@PEN k="v" ...] BOM message`. PRI = facility × 8 + our
//! severity on the syslog scale; header fields are printable US-ASCII
//! within their length limits (`-` when empty); SD-PARAM values escape `"`,
//! `\` and `]` and have CR, LF and NUL replaced; the message is the
//! annotation, cut (never the structured data) to keep the record within
//! `syslog_max_message_bytes`.

use super::{capped, push_char, syslog_severity, DetectionView, SiemOptions, View};
use crate::timestamp::millis_to_rfc3339;

/// Printable US-ASCII (33..126) only, at most `max` bytes, `-` when empty.
fn header_field(b: &mut Vec<u8>, s: &str, max: usize) {
    let start = b.len();
    for c in s.bytes().take(max) {
        b.push(if (33..=126).contains(&c) { c } else { b'_' });
    }
    if b.len() == start {
        b.push(b'-');
    }
}

fn param(b: &mut Vec<u8>, name: &str, value: &str) {
    if value.is_empty() {
        return;
    }
    b.push(b' ');
    b.extend_from_slice(name.as_bytes());
    b.extend_from_slice(b"=\"");
    for c in value.chars() {
        match c {
            '"' | '\\' | ']' => {
                b.push(b'\\');
                b.push(c as u8);
            }
            '\r' | '\n' | '\0' => b.push(b' '),
            c => push_char(b, c),
        }
    }
    b.push(b'"');
}

/// The header up to the SD-ID: `<PRI>1 TIMESTAMP HOST sipannotate - MSGID [sipannotate@PEN`.
fn head(
    b: &mut Vec<u8>,
    severity: crate::catalog::kb::Severity,
    millis: Option<i64>,
    host: &str,
    msgid: &str,
    options: &SiemOptions,
) {
    let pri = u16::from(options.syslog_facility) * 8 + u16::from(syslog_severity(severity));
    b.extend_from_slice(format!("<{pri}>1 ").as_bytes());
    match millis {
        Some(ms) => b.extend_from_slice(millis_to_rfc3339(ms).as_bytes()),
        None => b.push(b'-'),
    }
    b.push(b' ');
    header_field(b, host, 255);
    b.extend_from_slice(format!(" sipannotate - {msgid} [sipannotate@").as_bytes());
    b.extend_from_slice(options.syslog_enterprise_number.to_string().as_bytes());
}

/// Appends one RFC 5424 message (no framing, no line break).
pub fn encode(b: &mut Vec<u8>, v: &View<'_>, options: &SiemOptions) {
    let ev = v.ev;
    let start = b.len();
    head(b, v.severity, v.millis, v.host, "SIPRESP", options);
    param(b, "code", &ev.code.to_string());
    param(b, "class", &v.class().to_string());
    param(b, "reason", capped(v.reason));
    param(b, "method", capped(&ev.method));
    param(b, "callId", capped(&ev.call_id));
    param(
        b,
        "cseq",
        &ev.cseq.map(|c| c.to_string()).unwrap_or_default(),
    );
    param(b, "src", capped(&ev.src));
    param(b, "dst", capped(&ev.dst));
    param(b, "reasonHeader", &v.reason_header().unwrap_or_default());
    param(b, "severity", v.severity.as_str());
    param(b, "format", v.format_id());
    param(b, "input", capped(v.input));
    b.extend_from_slice(b"] \xEF\xBB\xBF");
    message(
        b,
        start,
        &format!("{}: {}", v.title(), v.message()),
        options,
    );
}

/// The message after the structured data: one line, cut to keep the record
/// (which began at `start`) within the size limit.
fn message(b: &mut Vec<u8>, start: usize, text: &str, options: &SiemOptions) {
    let mut msg = text.replace(['\r', '\n', '\0'], " ");
    let room = options
        .syslog_max_message_bytes
        .saturating_sub(b.len() - start);
    if msg.len() > room {
        let mut end = room;
        while !msg.is_char_boundary(end) {
            end -= 1;
        }
        msg.truncate(end);
    }
    b.extend_from_slice(msg.as_bytes());
}

/// Appends one security detection as an RFC 5424 message (MSGID SIPSEC).
pub fn encode_detection(b: &mut Vec<u8>, v: &DetectionView<'_>, options: &SiemOptions) {
    let start = b.len();
    head(b, v.severity, v.millis, v.host, "SIPSEC", options);
    param(b, "detection", v.name);
    param(b, "source", v.source);
    param(b, "count", &v.d.count.to_string());
    param(b, "total", &v.d.total.to_string());
    param(b, "mitre", &v.rule.mitre);
    param(b, "evidence", v.evidence);
    param(b, "severity", v.severity.as_str());
    b.extend_from_slice(b"] \xEF\xBB\xBF");
    message(
        b,
        start,
        &format!("{}: {}", v.title(), v.message()),
        options,
    );
}
