//! Splunk HTTP Event Collector envelope: `{"time":…,"host":…,"source":…,
//! "sourcetype":…,"index":…,"event":{…},"fields":{…}}`, one per event; a
//! batch is these objects concatenated (what `/services/collector/event`
//! takes). `event` is the schema-1 event object; `fields` are flat
//! index-time fields for fast searches.

use serde_json::{json, Map, Value};

use super::{capped, DetectionView, SiemOptions, View};
use crate::catalog::Catalog;
use crate::format::json::EventEncoder;

/// Appends one HEC event (no line break).
pub fn encode(b: &mut Vec<u8>, v: &View<'_>, options: &SiemOptions, json: &mut EventEncoder<'_>) {
    let ev = v.ev;
    let mut event = Vec::with_capacity(1024);
    json.write(&mut event, v.input, ev);
    let event: Value = serde_json::from_slice(&event).expect("our event JSON parses");
    let mut m = Map::new();
    if let Some(ms) = v.millis {
        m.insert("time".into(), json!(ms as f64 / 1000.0));
    }
    m.insert("host".into(), json!(capped(v.host)));
    m.insert("source".into(), json!(capped(v.input)));
    m.insert("sourcetype".into(), json!(options.hec_sourcetype));
    if let Some(i) = &options.hec_index {
        m.insert("index".into(), json!(i));
    }
    let mut event = event;
    cap_strings(&mut event);
    if !v.labels.is_empty() {
        event["labels"] = json!(v.labels);
    }
    m.insert("event".into(), event);
    let mut fields = Map::new();
    fields.insert("sip_code".into(), json!(ev.code.to_string()));
    fields.insert("sip_class".into(), json!(v.class().to_string()));
    fields.insert("severity".into(), json!(v.severity.as_str()));
    if !ev.method.is_empty() {
        fields.insert("sip_method".into(), json!(capped(&ev.method)));
    }
    for (k, val) in v.labels {
        fields.insert(format!("label_{k}"), json!(capped(val)));
    }
    m.insert("fields".into(), Value::Object(fields));
    serde_json::to_writer(&mut *b, &Value::Object(m)).expect("JSON into a Vec");
}

/// Appends one security detection as a HEC event: `event` is the
/// `{"type":"security"}` finding, sourcetype `<hec_sourcetype's prefix>:security`.
pub fn encode_detection(
    b: &mut Vec<u8>,
    v: &DetectionView<'_>,
    options: &SiemOptions,
    catalog: &Catalog,
) {
    let mut event = crate::format::findings::detection_json(catalog, v.d);
    cap_strings(&mut event);
    let prefix = options
        .hec_sourcetype
        .split(':')
        .next()
        .unwrap_or("sipannotate");
    let mut m = Map::new();
    if let Some(ms) = v.millis {
        m.insert("time".into(), json!(ms as f64 / 1000.0));
    }
    m.insert("host".into(), json!(capped(v.host)));
    m.insert("source".into(), json!("sipannotate:detector"));
    m.insert("sourcetype".into(), json!(format!("{prefix}:security")));
    if let Some(i) = &options.hec_index {
        m.insert("index".into(), json!(i));
    }
    m.insert("event".into(), event);
    m.insert(
        "fields".into(),
        json!({"detection": v.name, "src": v.source, "severity": v.severity.as_str(), "mitre_technique": v.rule.mitre}),
    );
    serde_json::to_writer(&mut *b, &Value::Object(m)).expect("JSON into a Vec");
}

/// Caps every string in the event at `MAX_VALUE` bytes (log values can be huge).
fn cap_strings(v: &mut Value) {
    match v {
        Value::String(s) => {
            let n = capped(s).len();
            s.truncate(n);
        }
        Value::Object(m) => m.values_mut().for_each(cap_strings),
        Value::Array(a) => a.iter_mut().for_each(cap_strings),
        _ => {}
    }
}
