//! ArcSight CEF: `CEF:0|Vendor|Product|Version|ClassID|Name|Severity|ext`.
//! Header fields escape `\` and `|` (CR and LF become spaces); extension
//! values escape `\` and `=`, and write CR and LF as `\r` and `\n`; other
//! control bytes become spaces. Custom strings carry their labels
//! (`cs1=... cs1Label=sipCallId`).

use super::{capped, push_char, severity_0_10, uri_user, DetectionView, View};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Appends a header field, escaped.
fn header(b: &mut Vec<u8>, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => b.extend_from_slice(b"\\\\"),
            '|' => b.extend_from_slice(b"\\|"),
            c if c.is_control() => b.push(b' '),
            c => push_char(b, c),
        }
    }
}

/// The extension: ` key=value` pairs, values escaped.
struct Extension<'b> {
    b: &'b mut Vec<u8>,
    first: bool,
}

impl Extension<'_> {
    fn put(&mut self, key: &str, value: &str) {
        if value.is_empty() {
            return;
        }
        if !self.first {
            self.b.push(b' ');
        }
        self.first = false;
        let b = &mut *self.b;
        b.extend_from_slice(key.as_bytes());
        b.push(b'=');
        for c in value.chars() {
            match c {
                '\\' => b.extend_from_slice(b"\\\\"),
                '=' => b.extend_from_slice(b"\\="),
                '\n' => b.extend_from_slice(b"\\n"),
                '\r' => b.extend_from_slice(b"\\r"),
                c if c.is_control() => b.push(b' '),
                c => push_char(b, c),
            }
        }
    }
}

/// Appends one security detection as a CEF record (no line break): the
/// source is `src`, the ATT&CK technique `cs1`, its name `cs2`, the
/// evidence `cs3`, sightings `cnt`.
pub fn encode_detection(b: &mut Vec<u8>, v: &DetectionView<'_>) {
    b.extend_from_slice(b"CEF:0|sipannotate|sipannotate|");
    header(b, VERSION);
    b.extend_from_slice(format!("|sip-security-{}|", v.name).as_bytes());
    header(b, &v.title());
    b.extend_from_slice(format!("|{}|", severity_0_10(v.severity)).as_bytes());
    let mut e = Extension { b, first: true };
    if let Some(ms) = v.millis {
        e.put("rt", &ms.to_string());
    }
    e.put("src", v.source);
    e.put("app", "SIP");
    e.put("act", "detected");
    e.put("cat", &v.summary());
    e.put("cnt", &v.d.count.to_string());
    e.put("cs1", &v.rule.mitre);
    e.put("cs1Label", "mitreTechnique");
    e.put("cs2", &v.rule.mitre_name);
    e.put("cs2Label", "mitreTechniqueName");
    e.put("cs3", v.evidence);
    e.put("cs3Label", "evidence");
    e.put("cn1", &v.d.total.to_string());
    e.put("cn1Label", "sightingsTotal");
    e.put("dvchost", capped(v.host));
    e.put("msg", &v.message());
}

/// Appends one CEF record (no line break).
pub fn encode(b: &mut Vec<u8>, v: &View<'_>) {
    let ev = v.ev;
    b.extend_from_slice(b"CEF:0|sipannotate|sipannotate|");
    header(b, VERSION);
    b.extend_from_slice(format!("|sip-response-{}|", ev.code).as_bytes());
    header(b, &v.title());
    b.extend_from_slice(format!("|{}|", severity_0_10(v.severity)).as_bytes());
    let mut e = Extension { b, first: true };
    if let Some(ms) = v.millis {
        e.put("rt", &ms.to_string());
    }
    if let Some(p) = &v.src {
        e.put("src", capped(&p.ip));
        e.put("spt", &p.port.map(|p| p.to_string()).unwrap_or_default());
    }
    if let Some(p) = &v.dst {
        e.put("dst", capped(&p.ip));
        e.put("dpt", &p.port.map(|p| p.to_string()).unwrap_or_default());
    }
    e.put("proto", &ev.transport.to_ascii_uppercase());
    e.put("app", "SIP");
    e.put("requestMethod", capped(&ev.method));
    e.put("requestClientApplication", capped(&ev.user_agent));
    e.put("suser", uri_user(&ev.from).unwrap_or(""));
    e.put("duser", uri_user(&ev.to).unwrap_or(""));
    e.put("outcome", v.outcome());
    e.put("reason", capped(v.reason));
    e.put("msg", &v.message());
    e.put("cat", &format!("/SIP/Response/{}xx", v.class()));
    e.put("cn1", &ev.code.to_string());
    e.put("cn1Label", "sipStatusCode");
    if !ev.call_id.is_empty() {
        e.put("cs1", capped(&ev.call_id));
        e.put("cs1Label", "sipCallId");
    }
    if let Some(r) = v.reason_header() {
        e.put("cs2", &r);
        e.put("cs2Label", "sipReason");
    }
    if !ev.transport.is_empty() {
        e.put("cs3", capped(&ev.transport));
        e.put("cs3Label", "sipTransport");
    }
    e.put("cs4", capped(v.input));
    e.put("cs4Label", "logSource");
    e.put("cs5", &format!("sip-code-{}", ev.code));
    e.put("cs5Label", "sipannotateKb");
    e.put("dvchost", capped(v.host));
}
