//! `sipannotate rsyslog-mmexternal`: rsyslog's message-modification plug-in
//! protocol (mmexternal). rsyslog writes one line per message to stdin (the
//! MSG, the raw message, or with `interface.input="fulljson"` the message as
//! JSON) and waits for exactly one JSON line back, in the same order: `{}`
//! when the message holds no SIP status, else `{"$!":{"sip":{...}}}`, which
//! rsyslog merges into the message's `$!sip` properties.
//!
//! The rules of that protocol: stdout and stderr are the same pipe, so
//! nothing is ever written to stderr (a broken pattern directory means
//! built-in formats, not a message); the environment is empty, so the
//! language comes from `--lang`; each message stands alone (rsyslog may run
//! several instances), so a multi-line dump is read only when it arrives as
//! one message.

use std::io::{self, BufRead, Write};

use serde_json::{json, Map, Value};

use crate::catalog::Catalog;
use crate::enrich::annotate;
use crate::event::Event;
use crate::format::Output;
use crate::framer::Engine;
use crate::matcher::Matcher;

/// What rsyslog sends on each line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MmInput {
    /// `interface.input="msg"` or `"rawmsg"`: the text itself.
    Msg,
    /// `interface.input="fulljson"`: a JSON object whose `msg` is the text.
    Fulljson,
}

/// Keeps the first complete event of a message.
#[derive(Default)]
struct FirstEvent(Option<Event>);

impl Output for FirstEvent {
    fn event(&mut self, _: &str, ev: &Event) -> io::Result<()> {
        if self.0.is_none() {
            self.0 = Some(ev.clone());
        }
        Ok(())
    }
}

/// The `$!sip` object of an event.
pub fn sip_properties(catalog: &Catalog, ev: &Event) -> Value {
    let a = annotate(&catalog.kb, ev);
    let texts = a.lookup.texts();
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        if !(v.is_null() || v.as_str() == Some("")) {
            m.insert(k.to_string(), v);
        }
    };
    put("code", json!(ev.code));
    put("class", json!(ev.class()));
    put("class_name", json!(a.lookup.class.name));
    put("reason", json!(ev.reason));
    put("canonical_reason", json!(a.lookup.canonical_reason()));
    put("registered", json!(a.lookup.registered()));
    put("severity", json!(a.lookup.severity().as_str()));
    put("meaning", json!(texts.meaning));
    put("when", json!(texts.when));
    put("fix", json!(texts.fix));
    put("note", json!(a.note.map(|n| n.text.as_str())));
    put("rfc", json!(a.lookup.rfc()));
    put("method", json!(ev.method));
    put("cseq", json!(ev.cseq));
    put("call_id", json!(ev.call_id));
    put("src", json!(ev.src));
    put("dst", json!(ev.dst));
    put("user_agent", json!(ev.user_agent));
    put(
        "reason_header",
        json!(a.reason.as_ref().map(|r| r.summary())),
    );
    put("warning", json!(a.warning.as_ref().map(|w| w.summary())));
    put("format", json!(catalog.formats[ev.format].id));
    Value::Object(m)
}

/// Answers rsyslog until stdin ends. Returns only on I/O errors of stdout
/// (rsyslog went away), which end the process quietly.
pub fn run_mmexternal(catalog: &Catalog, matcher: &Matcher, input: MmInput) -> io::Result<()> {
    let stdin = io::stdin();
    let mut reader = stdin.lock();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut line = Vec::new();
    let mut text = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        message_text(line.strip_suffix(b"\n").unwrap_or(&line), input, &mut text);
        let reply = match first_event(catalog, matcher, &text) {
            Some(ev) => json!({ "$!": { "sip": sip_properties(catalog, &ev) } }),
            None => json!({}),
        };
        let mut b = serde_json::to_vec(&reply).expect("JSON");
        b.push(b'\n');
        out.write_all(&b)?;
        out.flush()?;
    }
}

/// The text of one input line (the `msg` of a fulljson record).
fn message_text(raw: &[u8], input: MmInput, text: &mut Vec<u8>) {
    text.clear();
    match input {
        MmInput::Msg => text.extend_from_slice(raw),
        MmInput::Fulljson => match serde_json::from_slice::<Value>(raw) {
            Ok(v) => {
                if let Some(m) = v.get("msg").and_then(Value::as_str) {
                    text.extend_from_slice(m.as_bytes());
                }
            }
            Err(_) => text.extend_from_slice(raw),
        },
    }
}

/// `sipannotate rsyslog-omprog`: rsyslog's omprog output (and syslog-ng's
/// `program()` destination). Each input line is one message; its events go
/// to `out` and are flushed before the message is confirmed with `OK`
/// (when `confirm`, rsyslog's `confirmMessages="on"`), so rsyslog retries
/// what was not written. Stdout carries only confirmations.
pub fn run_omprog<O: Output>(
    catalog: &Catalog,
    matcher: &Matcher,
    input: MmInput,
    out: &mut O,
    confirm: bool,
) -> io::Result<()> {
    let stdin = io::stdin();
    let mut reader = stdin.lock();
    let stdout = io::stdout();
    let mut ack = stdout.lock();
    if confirm {
        ack.write_all(b"OK\n")?;
        ack.flush()?;
    }
    let mut line = Vec::new();
    let mut text = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return out.flush();
        }
        message_text(line.strip_suffix(b"\n").unwrap_or(&line), input, &mut text);
        let mut engine = Engine::new(catalog, matcher, "rsyslog");
        let written = engine
            .push(&text, out)
            .and_then(|_| engine.finish(out))
            .and_then(|_| out.flush());
        if confirm {
            match written {
                Ok(()) => ack.write_all(b"OK\n")?,
                // rsyslog keeps the message and retries it.
                Err(e) => ack.write_all(format!("cannot write the event: {e}\n").as_bytes())?,
            }
            ack.flush()?;
        } else {
            written?;
        }
    }
}

/// The first event in one message (its lines, if it holds several).
fn first_event(catalog: &Catalog, matcher: &Matcher, text: &[u8]) -> Option<Event> {
    let mut engine = Engine::new(catalog, matcher, "rsyslog");
    let mut found = FirstEvent::default();
    engine.push(text, &mut found).ok()?;
    engine.finish(&mut found).ok()?;
    found.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_message_gets_sip_properties_and_noise_gets_nothing() {
        let catalog = Catalog::builtin("en").unwrap();
        let matcher = Matcher::new(&catalog).unwrap();
        let ev = first_event(
            &catalog,
            &matcher,
            b"ACC: call missed: method=INVITE;call_id=x1;code=486;reason=Busy Here",
        )
        .unwrap();
        let p = sip_properties(&catalog, &ev);
        assert_eq!(p["code"], 486);
        assert_eq!(p["call_id"], "x1");
        assert_eq!(p["class_name"], "Request Failure");
        assert!(first_event(&catalog, &matcher, b"NOTICE: nothing here").is_none());
    }
}
