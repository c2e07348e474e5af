//! Elastic Common Schema: `@timestamp`, `event.*` (kind, category, type,
//! outcome, severity, code, reason, action, dataset), `source.*` and
//! `destination.*`, `network.*`, `user_agent.original`, `log.file.path`,
//! Packetbeat's `sip.*` names (`sip.code`, `sip.status`, `sip.method`,
//! `sip.call_id`, `sip.from.*`, `sip.to.*`, `sip.cseq.*`), and our own
//! enrichment under `sipannotate.*`, a namespace neither ECS nor Packetbeat uses.

use serde_json::{json, Map, Value};

use super::{capped, severity_0_10, tag_of, uri_user, DetectionView, View};
use crate::timestamp::millis_to_rfc3339;

fn put(m: &mut Map<String, Value>, key: &str, value: Value) {
    if !(value.is_null() || value.as_str() == Some("")) {
        m.insert(key.to_string(), value);
    }
}

fn party(value: &str) -> Value {
    if value.is_empty() {
        return Value::Null;
    }
    let mut m = Map::new();
    put(&mut m, "tag", json!(tag_of(value).map(capped)));
    let mut uri = Map::new();
    put(&mut uri, "original", json!(capped(value)));
    put(&mut uri, "username", json!(uri_user(value)));
    m.insert("uri".into(), Value::Object(uri));
    Value::Object(m)
}

/// The ECS document of one event.
pub fn document(v: &View<'_>) -> Value {
    let ev = v.ev;
    let auth = matches!(ev.code, 401 | 403 | 407);
    let mut category = vec!["network"];
    if auth {
        category.push("authentication");
    }
    let mut kind_type = vec!["protocol"];
    if ev.code >= 400 {
        kind_type.push("error");
    }
    let mut event = Map::new();
    put(&mut event, "kind", json!("event"));
    put(&mut event, "category", json!(category));
    put(&mut event, "type", json!(kind_type));
    put(&mut event, "outcome", json!(v.outcome()));
    put(&mut event, "severity", json!(severity_0_10(v.severity)));
    put(&mut event, "code", json!(ev.code.to_string()));
    put(&mut event, "reason", json!(capped(v.reason)));
    if !ev.method.is_empty() {
        put(
            &mut event,
            "action",
            json!(format!("sip-{}", capped(&ev.method).to_ascii_lowercase())),
        );
    }
    put(&mut event, "sequence", json!(ev.cseq));
    put(&mut event, "dataset", json!("sipannotate.response"));
    put(&mut event, "module", json!("sipannotate"));
    put(&mut event, "provider", json!(v.format_id()));

    let mut sip = Map::new();
    put(&mut sip, "type", json!("response"));
    put(&mut sip, "code", json!(ev.code));
    put(&mut sip, "status", json!(capped(v.reason)));
    put(&mut sip, "method", json!(capped(&ev.method)));
    put(&mut sip, "call_id", json!(capped(&ev.call_id)));
    put(&mut sip, "from", party(&ev.from));
    put(&mut sip, "to", party(&ev.to));
    if ev.cseq.is_some() || !ev.method.is_empty() {
        let mut cseq = Map::new();
        put(&mut cseq, "code", json!(ev.cseq));
        put(&mut cseq, "method", json!(capped(&ev.method)));
        sip.insert("cseq".into(), Value::Object(cseq));
    }
    if !ev.user_agent.is_empty() {
        sip.insert(
            "user_agent".into(),
            json!({ "original": capped(&ev.user_agent) }),
        );
    }

    let mut ours = Map::new();
    put(&mut ours, "class", json!(v.class()));
    put(
        &mut ours,
        "class_name",
        json!(v.annotation.lookup.class.name),
    );
    put(
        &mut ours,
        "registered",
        json!(v.annotation.lookup.registered()),
    );
    put(
        &mut ours,
        "canonical_reason",
        json!(v.annotation.lookup.canonical_reason()),
    );
    put(&mut ours, "meaning", json!(v.texts.meaning));
    put(&mut ours, "when", json!(v.texts.when));
    put(&mut ours, "fix", json!(v.texts.fix));
    put(&mut ours, "severity", json!(v.severity.as_str()));
    put(&mut ours, "rfc", json!(v.annotation.lookup.rfc()));
    put(
        &mut ours,
        "note",
        json!(v.annotation.note.map(|n| n.text.as_str())),
    );
    put(&mut ours, "kb_id", json!(format!("sip-code-{}", ev.code)));
    put(&mut ours, "format", json!(v.format_id()));
    // The line in its input: two identical lines stay two documents (the
    // Elasticsearch output derives each document's _id from its content).
    put(&mut ours, "line", json!(ev.line));
    if let Some(r) = &v.annotation.reason {
        let mut q = Map::new();
        put(&mut q, "protocol", json!(capped(r.value.protocol)));
        put(&mut q, "cause", json!(r.value.cause));
        put(&mut q, "text", json!(r.value.text.map(capped)));
        put(&mut q, "cause_name", json!(r.cause_name()));
        ours.insert("reason_header".into(), Value::Object(q));
    }
    if let Some(w) = &v.annotation.warning {
        let mut q = Map::new();
        put(&mut q, "code", json!(w.value.code));
        put(&mut q, "text", json!(capped(w.value.text)));
        put(
            &mut q,
            "meaning",
            json!(w.entry.map(|e| e.meaning.as_str())),
        );
        ours.insert("warning".into(), Value::Object(q));
    }

    let mut doc = Map::new();
    if let Some(ms) = v.millis {
        doc.insert("@timestamp".into(), json!(millis_to_rfc3339(ms)));
    }
    doc.insert("ecs".into(), json!({ "version": "8.11.0" }));
    doc.insert(
        "message".into(),
        json!(format!("{}: {}", v.title(), v.message())),
    );
    doc.insert("event".into(), Value::Object(event));
    for (key, peer) in [("source", &v.src), ("destination", &v.dst)] {
        if let Some(p) = peer {
            let mut m = Map::new();
            put(&mut m, "address", json!(capped(&p.ip)));
            if p.ip.parse::<std::net::IpAddr>().is_ok() {
                put(&mut m, "ip", json!(p.ip));
            }
            put(&mut m, "port", json!(p.port));
            doc.insert(key.into(), Value::Object(m));
        }
    }
    let mut network = Map::new();
    put(&mut network, "protocol", json!("sip"));
    put(
        &mut network,
        "transport",
        json!(capped(&ev.transport).to_ascii_lowercase()),
    );
    doc.insert("network".into(), Value::Object(network));
    if !ev.user_agent.is_empty() {
        doc.insert(
            "user_agent".into(),
            json!({ "original": capped(&ev.user_agent) }),
        );
    }
    doc.insert(
        "log".into(),
        json!({ "file": { "path": capped(v.input) }, "original": capped(&String::from_utf8_lossy(&ev.raw)) }),
    );
    doc.insert("host".into(), json!({ "name": capped(v.host) }));
    if !v.labels.is_empty() {
        doc.insert("labels".into(), json!(v.labels));
    }
    doc.insert("sip".into(), Value::Object(sip));
    doc.insert("sipannotate".into(), Value::Object(ours));
    Value::Object(doc)
}

/// Appends one ECS JSON document (no line break).
pub fn encode(b: &mut Vec<u8>, v: &View<'_>) {
    serde_json::to_writer(&mut *b, &document(v)).expect("JSON into a Vec");
}

/// Appends one security detection as an ECS alert: `event.kind: alert`,
/// `event.category: intrusion_detection` (and `authentication` for failed
/// logins), `source.ip`, `rule.name`, and the ATT&CK technique under
/// `threat.*`.
pub fn encode_detection(b: &mut Vec<u8>, v: &DetectionView<'_>) {
    let mut category = vec!["intrusion_detection"];
    if v.name == "auth-failure-burst" {
        category.push("authentication");
    }
    let mut doc = Map::new();
    if let Some(ms) = v.millis {
        doc.insert("@timestamp".into(), json!(millis_to_rfc3339(ms)));
    }
    doc.insert("ecs".into(), json!({"version": "8.11.0"}));
    doc.insert(
        "event".into(),
        json!({
            "kind": "alert",
            "category": category,
            "type": ["info"],
            "severity": severity_0_10(v.severity),
            "count": v.d.count,
            "dataset": "sipannotate.security",
            "module": "sipannotate",
            "action": v.name,
        }),
    );
    doc.insert("source".into(), json!({"ip": v.source}));
    doc.insert("host".into(), json!({"name": capped(v.host)}));
    doc.insert(
        "rule".into(),
        json!({"name": v.name, "description": v.summary()}),
    );
    doc.insert(
        "threat".into(),
        json!({
            "framework": "MITRE ATT&CK",
            "technique": {"id": [v.rule.mitre], "name": [v.rule.mitre_name]},
        }),
    );
    doc.insert("message".into(), json!(v.message()));
    doc.insert(
        "sipannotate".into(),
        json!({
            "type": "security",
            "detection": v.name,
            "total": v.d.total,
            "suppressed": v.d.suppressed,
            "evidence": v.evidence,
            "when": v.texts.when,
            "fix": v.texts.fix,
        }),
    );
    serde_json::to_writer(&mut *b, &Value::Object(doc)).expect("JSON into a Vec");
}
