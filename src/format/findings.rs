//! Encodings of the analysis stage's findings: `"type": "call"` and
//! `"type": "security"` JSON objects, their one-line text annotations, and the
//! stable one-line form fail2ban's shipped filter reads.
//!
//! Findings are rare (one per call, one per fired detection), so they are
//! built with serde_json rather than the hand-escaped event path.

use std::io::{self, Write};

use serde_json::{json, Map, Value};

use crate::catalog::Catalog;
use crate::correlate::calls::{CallKind, CallRecord};
use crate::correlate::security::Detection;
use crate::event::SCHEMA;
use crate::format::Output;
use crate::timestamp::millis_to_rfc3339;

/// Log times before this are times of day without a date (see
/// `correlate::event_millis`) and are not written as dates.
pub const DATED_MS: i64 = 100_000_000_000;

fn time_value(ms: Option<i64>) -> Value {
    match ms {
        Some(ms) if ms >= DATED_MS => Value::String(millis_to_rfc3339(ms)),
        _ => Value::Null,
    }
}

fn opt_str(s: &str) -> Value {
    if s.is_empty() {
        Value::Null
    } else {
        Value::String(s.to_string())
    }
}

/// The `"type": "call"` object.
pub fn call_json(catalog: &Catalog, c: &CallRecord) -> Value {
    let kb = &catalog.kb;
    let flow = kb.flow(c.flow.name());
    let outcome = if c.final_code == 0 {
        Value::Null
    } else {
        let l = kb.lookup(c.final_code);
        json!({
            "code": c.final_code,
            "reason": c.final_reason,
            "canonical_reason": l.canonical_reason(),
            "class": c.final_code / 100,
            "class_name": l.class.name,
            "meaning": l.texts().meaning,
            "fix": l.texts().fix,
        })
    };
    let mut m = Map::new();
    m.insert("schema".into(), json!(SCHEMA));
    m.insert("type".into(), json!("call"));
    m.insert("input".into(), json!(c.input));
    m.insert("line".into(), json!(c.line));
    m.insert("call_id".into(), json!(c.call_id));
    m.insert(
        "kind".into(),
        json!(match c.kind {
            CallKind::Invite => "invite",
            CallKind::Register => "register",
            CallKind::Other => "other",
        }),
    );
    m.insert("flow".into(), json!(c.flow.name()));
    m.insert("ladder".into(), json!(c.ladder));
    m.insert(
        "final_code".into(),
        json!((c.final_code != 0).then_some(c.final_code)),
    );
    m.insert("outcome".into(), outcome);
    m.insert("meaning".into(), json!(flow.meaning));
    m.insert("when".into(), json!(flow.when));
    m.insert("fix".into(), json!(flow.fix));
    m.insert("started".into(), time_value(c.started_ms));
    m.insert("ended".into(), time_value(c.ended_ms));
    for (k, v) in [
        ("srd_ms", c.srd_ms),
        ("setup_ms", c.setup_ms),
        ("duration_ms", c.duration_ms),
        ("rrd_ms", c.rrd_ms),
    ] {
        m.insert(k.into(), json!(v));
    }
    for (k, v) in [
        ("attempts", c.attempts),
        ("challenges", c.challenges),
        ("redirects", c.redirects),
        ("reinvites", c.reinvites),
        ("retransmissions", c.retransmissions),
    ] {
        m.insert(k.into(), json!(v));
    }
    m.insert("early_media".into(), json!(c.early_media));
    m.insert("prack".into(), json!(c.prack));
    m.insert("cancelled".into(), json!(c.cancelled));
    m.insert(
        "bye_code".into(),
        json!((c.bye_code != 0).then_some(c.bye_code)),
    );
    for (k, v) in [
        ("remote", &c.remote),
        ("src", &c.src),
        ("dst", &c.dst),
        ("from", &c.from),
        ("to", &c.to),
        ("user_agent", &c.user_agent),
        ("link", &c.link),
    ] {
        m.insert(k.into(), opt_str(v));
    }
    m.insert("linked_call_ids".into(), json!(c.linked));
    m.insert("evicted".into(), json!(c.evicted));
    Value::Object(m)
}

/// The `"type": "security"` object.
pub fn detection_json(catalog: &Catalog, d: &Detection) -> Value {
    let name = d.kind.name();
    let rule = &catalog.security.detection[name];
    let texts = catalog.kb.detection(name);
    json!({
        "schema": SCHEMA,
        "type": "security",
        "detection": name,
        "source": d.source,
        "count": d.count,
        "total": d.total,
        "suppressed": d.suppressed,
        "threshold": rule.threshold,
        "window_secs": rule.window_secs,
        "first_seen": time_value(Some(d.first_ms)),
        "last_seen": time_value(Some(d.last_ms)),
        "mitre": {"technique": rule.mitre, "name": rule.mitre_name},
        "severity": rule.severity.as_str(),
        "evidence": d.evidence,
        "input": d.input,
        "line": d.line,
        "meaning": texts.meaning,
        "when": texts.when,
        "fix": texts.fix,
    })
}

/// The one-line form for fail2ban (and for people): ISO time, fixed words,
/// `key=value` pairs whose values never hold a space except the quoted,
/// cleaned evidence at the end. The shipped filter matches
/// `sipannotate security detection=\S+ source=<HOST> `.
pub fn fail2ban_line(catalog: &Catalog, d: &Detection) -> String {
    let rule = &catalog.security.detection[d.kind.name()];
    let when = if d.last_ms >= DATED_MS {
        millis_to_rfc3339(d.last_ms)
    } else {
        millis_to_rfc3339(now_ms())
    };
    let evidence: String = d
        .evidence
        .chars()
        .map(|c| {
            // Only plain characters: the text can add no key, quote or line.
            if c.is_alphanumeric() || " ._:/@+-".contains(c) {
                c
            } else {
                '?'
            }
        })
        .take(128)
        .collect();
    format!(
        "{when} sipannotate security detection={} source={} count={} total={} mitre={} evidence=\"{evidence}\"",
        d.kind.name(),
        d.source,
        d.count,
        d.total,
        rule.mitre,
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The text annotation of a closed call.
pub fn call_text(catalog: &Catalog, c: &CallRecord) -> String {
    let mut s = format!(
        "  \u{21d2} call {} {}: {}",
        c.call_id,
        c.flow.name(),
        if c.ladder.is_empty() { "-" } else { &c.ladder }
    );
    for (k, v) in [
        ("pdd", c.srd_ms),
        ("setup", c.setup_ms),
        ("duration", c.duration_ms),
    ] {
        if let Some(ms) = v {
            s.push_str(&format!(" {k}={ms}ms"));
        }
    }
    if !c.linked.is_empty() {
        s.push_str(&format!(" legs={}", c.linked.join(",")));
    }
    s.push_str(" \u{2014} ");
    s.push_str(&catalog.kb.flow(c.flow.name()).meaning);
    s
}

/// The text annotation of a detection.
pub fn detection_text(catalog: &Catalog, d: &Detection) -> String {
    let rule = &catalog.security.detection[d.kind.name()];
    format!(
        "  \u{26a0} security {} from {}: {} in about {} s ({} {}) \u{2014} {}",
        d.kind.name(),
        d.source,
        d.count,
        rule.window_secs,
        rule.mitre,
        rule.mitre_name,
        catalog.kb.detection(d.kind.name()).fix
    )
}

/// `-o fail2ban`: writes only fired detections, one line each.
pub struct Fail2banOutput<'c, W: Write> {
    catalog: &'c Catalog,
    out: W,
}

impl<'c, W: Write> Fail2banOutput<'c, W> {
    pub fn new(catalog: &'c Catalog, out: W) -> Self {
        Fail2banOutput { catalog, out }
    }
}

impl<W: Write> Output for Fail2banOutput<'_, W> {
    fn event(&mut self, _: &str, _: &crate::event::Event) -> io::Result<()> {
        Ok(())
    }

    fn detection(&mut self, d: &Detection) -> io::Result<()> {
        let line = fail2ban_line(self.catalog, d);
        self.out.write_all(line.as_bytes())?;
        self.out.write_all(b"\n")
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
