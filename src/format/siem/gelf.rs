//! Graylog GELF 1.1: `version`, `host`, `short_message` (required),
//! `full_message`, `timestamp` (epoch seconds with milliseconds), `level`
//! (syslog severity), and additional fields prefixed `_` whose names match
//! `^[\w.-]*$` (never `_id`). One JSON object per record; a TCP sink ends
//! each with NUL instead of the line break.

use serde_json::{json, Map, Value};

use super::{capped, syslog_severity, DetectionView, View};

/// The fields every GELF message has.
fn base(
    host: &str,
    title: String,
    full: String,
    millis: Option<i64>,
    severity: crate::catalog::kb::Severity,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("version".into(), json!("1.1"));
    m.insert("host".into(), json!(capped(host)));
    m.insert("short_message".into(), json!(title));
    m.insert("full_message".into(), json!(full));
    if let Some(ms) = millis {
        m.insert("timestamp".into(), json!(ms as f64 / 1000.0));
    }
    m.insert("level".into(), json!(syslog_severity(severity)));
    m
}

/// Appends one security detection as a GELF 1.1 message.
pub fn encode_detection(b: &mut Vec<u8>, v: &DetectionView<'_>) {
    let full = format!("{}\nWhen: {}", v.message(), v.texts.when);
    let mut m = base(v.host, v.title(), full, v.millis, v.severity);
    for (k, val) in [
        ("_type", json!("security")),
        ("_detection", json!(v.name)),
        ("_src", json!(v.source)),
        ("_count", json!(v.d.count)),
        ("_total", json!(v.d.total)),
        ("_mitre_technique", json!(v.rule.mitre)),
        ("_mitre_technique_name", json!(v.rule.mitre_name)),
        ("_evidence", json!(v.evidence)),
    ] {
        m.insert(k.into(), val);
    }
    serde_json::to_writer(&mut *b, &Value::Object(m)).expect("JSON into a Vec");
}

/// Appends one GELF message (no terminator).
pub fn encode(b: &mut Vec<u8>, v: &View<'_>) {
    let ev = v.ev;
    let full = format!("{}\nWhen: {}", v.message(), v.texts.when);
    let mut m = base(v.host, v.title(), full, v.millis, v.severity);
    let mut add = |k: &str, val: Value| {
        if !(val.is_null() || val.as_str() == Some("")) {
            m.insert(format!("_{k}"), val);
        }
    };
    add("sip_code", json!(ev.code));
    add("sip_class", json!(v.class()));
    add("sip_status", json!(capped(v.reason)));
    add("sip_method", json!(capped(&ev.method)));
    add("sip_call_id", json!(capped(&ev.call_id)));
    add("sip_cseq", json!(ev.cseq));
    add("sip_from", json!(capped(&ev.from)));
    add("sip_to", json!(capped(&ev.to)));
    add("sip_user_agent", json!(capped(&ev.user_agent)));
    add("sip_reason_header", json!(v.reason_header()));
    add("src", json!(capped(&ev.src)));
    add("dst", json!(capped(&ev.dst)));
    add("sipannotate_meaning", json!(v.texts.meaning));
    add("sipannotate_fix", json!(v.texts.fix));
    add("sipannotate_severity", json!(v.severity.as_str()));
    add("sipannotate_format", json!(v.format_id()));
    add("log_file_path", json!(capped(v.input)));
    add("log_line", json!(ev.line));
    for (k, val) in v.labels {
        let name: String = k
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '_' || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if name != "id" {
            add(&format!("label_{name}"), json!(capped(val)));
        }
    }
    serde_json::to_writer(&mut *b, &Value::Object(m)).expect("JSON into a Vec");
}
