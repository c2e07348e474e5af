//! IBM QRadar LEEF 1.0 (`LEEF:1.0|V|P|Ver|EventID|` then TAB-separated
//! attributes) and 2.0 (`LEEF:2.0|V|P|Ver|EventID|Delim|`). LEEF has no
//! escape mechanism, so, as the spec notes say: the active delimiter in a
//! value becomes a space, CR and LF become the two characters `\r` and `\n`,
//! other control bytes spaces; `|` in header fields becomes `/`. `devTime`
//! always comes with `devTimeFormat`.

use super::{capped, push_char, severity_0_10, uri_user, DetectionView, LeefVersion, View};
use crate::timestamp::millis_to_rfc3339;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The delimiter of a LEEF 2.0 config value: one character, or `x09`/`0x5E`.
pub fn delimiter(s: &str) -> Result<u8, String> {
    let hex = s.strip_prefix("0x").or_else(|| s.strip_prefix('x'));
    let d = match hex {
        Some(h) if !h.is_empty() && h.len() <= 4 => u8::from_str_radix(h, 16)
            .map_err(|_| format!("leef_delimiter: \"{s}\" is not a hex byte"))?,
        _ if s.len() == 1 => s.as_bytes()[0],
        _ => {
            return Err(format!(
                "leef_delimiter: \"{s}\" must be one character or x09-style hex"
            ))
        }
    };
    if d == b'=' || d == b'\n' || d == b'\r' || d == 0 || d >= 0x80 {
        return Err(format!(
            "leef_delimiter: \"{s}\" cannot separate attributes"
        ));
    }
    Ok(d)
}

fn header(b: &mut Vec<u8>, s: &str) {
    for c in s.chars() {
        match c {
            '|' => b.push(b'/'),
            c if c.is_control() => b.push(b' '),
            c => push_char(b, c),
        }
    }
    b.push(b'|');
}

struct Attrs<'b> {
    b: &'b mut Vec<u8>,
    delim: u8,
    first: bool,
}

impl Attrs<'_> {
    fn put(&mut self, key: &str, value: &str) {
        if value.is_empty() {
            return;
        }
        if !self.first {
            self.b.push(self.delim);
        }
        self.first = false;
        self.b.extend_from_slice(key.as_bytes());
        self.b.push(b'=');
        for c in value.chars() {
            match c {
                '\n' => self.b.extend_from_slice(b"\\n"),
                '\r' => self.b.extend_from_slice(b"\\r"),
                c if c.is_control() || (c.is_ascii() && c as u8 == self.delim) => self.b.push(b' '),
                c => push_char(&mut *self.b, c),
            }
        }
    }
}

/// The LEEF header and the event time; returns the attributes that follow.
fn start<'b>(
    b: &'b mut Vec<u8>,
    event_id: &str,
    version: LeefVersion,
    delim: u8,
    millis: Option<i64>,
) -> Attrs<'b> {
    let delim = match version {
        LeefVersion::V1 => {
            b.extend_from_slice(b"LEEF:1.0|");
            b'\t'
        }
        LeefVersion::V2 => {
            b.extend_from_slice(b"LEEF:2.0|");
            delim
        }
    };
    header(b, "sipannotate");
    header(b, "sipannotate");
    header(b, VERSION);
    header(b, event_id);
    if version == LeefVersion::V2 {
        if delim.is_ascii_graphic() {
            b.push(delim);
        } else {
            b.extend_from_slice(format!("x{delim:02X}").as_bytes());
        }
        b.push(b'|');
    }
    let mut a = Attrs {
        b,
        delim,
        first: true,
    };
    if let Some(ms) = millis {
        a.put("devTime", &millis_to_rfc3339(ms));
        a.put("devTimeFormat", "yyyy-MM-dd'T'HH:mm:ss.SSSXXX");
    }
    a
}

/// Appends one security detection as a LEEF record (no line break).
pub fn encode_detection(b: &mut Vec<u8>, v: &DetectionView<'_>, version: LeefVersion, delim: u8) {
    let event_id = format!("SIP_SECURITY_{}", v.name);
    let mut a = start(b, &event_id, version, delim, v.millis);
    a.put("cat", "SIP/security");
    a.put("sev", &severity_0_10(v.severity).max(1).to_string());
    a.put("src", v.source);
    a.put("identHostName", capped(v.host));
    a.put("detection", v.name);
    a.put("count", &v.d.count.to_string());
    a.put("total", &v.d.total.to_string());
    a.put("mitreTechnique", &v.rule.mitre);
    a.put("mitreTechniqueName", &v.rule.mitre_name);
    a.put("evidence", v.evidence);
    a.put("msg", &v.message());
}

/// Appends one LEEF record (no line break).
pub fn encode(b: &mut Vec<u8>, v: &View<'_>, version: LeefVersion, delim: u8) {
    let ev = v.ev;
    let event_id = format!("SIP_RESPONSE_{}", ev.code);
    let mut a = start(b, &event_id, version, delim, v.millis);
    a.put("cat", &format!("SIP/{}xx", v.class()));
    a.put("sev", &severity_0_10(v.severity).max(1).to_string());
    if let Some(p) = &v.src {
        a.put("src", capped(&p.ip));
        a.put(
            "srcPort",
            &p.port.map(|p| p.to_string()).unwrap_or_default(),
        );
    }
    if let Some(p) = &v.dst {
        a.put("dst", capped(&p.ip));
        a.put(
            "dstPort",
            &p.port.map(|p| p.to_string()).unwrap_or_default(),
        );
    }
    a.put("proto", &ev.transport.to_ascii_uppercase());
    a.put("usrName", uri_user(&ev.from).unwrap_or(""));
    a.put("sipCode", &ev.code.to_string());
    a.put("sipClass", &v.class().to_string());
    a.put("sipReason", capped(v.reason));
    a.put("sipMethod", capped(&ev.method));
    a.put("sipCallId", capped(&ev.call_id));
    a.put("sipReasonHeader", &v.reason_header().unwrap_or_default());
    a.put("sipMeaning", &v.texts.meaning);
    a.put("sipFix", &v.texts.fix);
    a.put("userAgent", capped(&ev.user_agent));
    a.put("logSource", capped(v.input));
    a.put("identHostName", capped(v.host));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters_are_read_as_the_spec_writes_them() {
        assert_eq!(delimiter("^"), Ok(b'^'));
        assert_eq!(delimiter("x09"), Ok(b'\t'));
        assert_eq!(delimiter("0x5E"), Ok(b'^'));
        assert!(delimiter("=").is_err());
        assert!(delimiter("ab").is_err());
        assert!(delimiter("xZZ").is_err());
    }
}
