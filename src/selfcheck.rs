//! Runs every format's positive and negative samples through the real engine
//! (`sipannotate formats --check` and the test suite): a positive sample must
//! give exactly its expected events with the expected fields, recognized by
//! its format (or wrapped by it, for context formats); a negative sample must
//! give no event at all.

use crate::catalog::formats::{Role, Sample};
use crate::catalog::Catalog;
use crate::event::Event;
use crate::format::collect::Collector;
use crate::matcher::Matcher;
use crate::pipeline::{annotate_reader, RunOptions};

/// Annotates `text` and returns its events.
pub fn events_of(catalog: &Catalog, matcher: &Matcher, text: &[u8]) -> Vec<Event> {
    collect(catalog, matcher, text).events
}

/// Annotates `text` and returns all the engine reported.
pub fn collect(catalog: &Catalog, matcher: &Matcher, text: &[u8]) -> Collector {
    let mut out = Collector::default();
    let mut reader = text;
    annotate_reader(
        catalog,
        matcher,
        "sample",
        &mut reader,
        &mut out,
        RunOptions::default(),
    )
    .expect("reading from memory cannot fail");
    out
}

/// Every sample failure, as "file: sample N: what went wrong".
pub fn check_samples(catalog: &Catalog, matcher: &Matcher) -> Vec<String> {
    let mut failures = Vec::new();
    // Security formats run only where detections do: check them with a
    // matcher that has them.
    let with_security = match Matcher::with_security_lines(catalog) {
        Ok(m) => m,
        Err(e) => return vec![e.to_string()],
    };
    let mut total = 0;
    for format in &catalog.formats {
        let m = if format.role == Role::Security {
            &with_security
        } else {
            matcher
        };
        if format.samples.is_empty() {
            failures.push(format!(
                "{}: has no [[sample]]; every format needs at least one",
                format.source
            ));
        }
        for (i, sample) in format.samples.iter().enumerate() {
            total += 1;
            let got = collect(catalog, m, sample.text.as_bytes());
            // A security format's samples are its lines, not response events.
            let events = if format.role == Role::Security {
                if !got.events.is_empty() {
                    failures.push(format!(
                        "{}: sample {}: a security line gave a response event",
                        format.source,
                        i + 1
                    ));
                }
                got.security
            } else {
                got.events
            };
            if let Err(why) = check_one(catalog, format.role, &format.id, sample, &events) {
                failures.push(format!("{}: sample {}: {why}", format.source, i + 1));
            }
        }
        for (i, negative) in format.negatives.iter().enumerate() {
            total += 1;
            let got = collect(catalog, m, negative.text.as_bytes());
            // A security negative may be another security format's line.
            let own_line = got.security.iter().find(|e| {
                format.role == Role::Security && catalog.formats[e.format].id == format.id
            });
            if let Some(ev) = got.events.first().or(own_line) {
                failures.push(format!(
                    "{}: negative {} ({}): gave an event: code {} via {} at line {}",
                    format.source,
                    i + 1,
                    negative.why,
                    ev.code,
                    catalog.formats[ev.format].id,
                    ev.line
                ));
            }
        }
    }
    if total == 0 {
        failures.push("no samples at all".into());
    }
    failures
}

fn check_one(
    catalog: &Catalog,
    role: Role,
    id: &str,
    s: &Sample,
    events: &[Event],
) -> Result<(), String> {
    if events.len() != s.events {
        let got: Vec<String> = events
            .iter()
            .map(|e| format!("{}@{}", e.code, catalog.formats[e.format].id))
            .collect();
        return Err(format!(
            "expected {} event(s), got {}: [{}]",
            s.events,
            events.len(),
            got.join(", ")
        ));
    }
    let Some(ev) = events.last() else {
        return Ok(());
    };
    let format_id = &catalog.formats[ev.format].id;
    let wrapper_id = ev.wrapper.map(|w| catalog.formats[w].id.as_str());
    match role {
        Role::Event | Role::Security if format_id != id => {
            return Err(format!("recognized by {format_id}, not {id}"))
        }
        // A context sample may name the nearer wrapper that takes precedence.
        Role::Context if s.wrapper.is_none() && wrapper_id != Some(id) => {
            return Err(format!("wrapper is {wrapper_id:?}, not {id}"));
        }
        _ => {}
    }
    let expect = |name: &str, want: &Option<String>, got: &str| -> Result<(), String> {
        match want {
            Some(w) if w != got => Err(format!("{name}: expected {w:?}, got {got:?}")),
            _ => Ok(()),
        }
    };
    if let Some(code) = s.code {
        if ev.code != code {
            return Err(format!("code: expected {code}, got {}", ev.code));
        }
    }
    if let Some(line) = s.line {
        if ev.line != line {
            return Err(format!("line: expected {line}, got {}", ev.line));
        }
    }
    if let Some(cseq) = s.cseq {
        if ev.cseq != Some(cseq) {
            return Err(format!("cseq: expected {cseq}, got {:?}", ev.cseq));
        }
    }
    expect("reason", &s.reason, &ev.reason)?;
    expect("method", &s.method, &ev.method)?;
    expect("call_id", &s.call_id, &ev.call_id)?;
    expect("src", &s.src, &ev.src)?;
    expect("dst", &s.dst, &ev.dst)?;
    expect(
        "direction",
        &s.direction,
        ev.direction.map_or("", |d| d.as_str()),
    )?;
    expect(
        "ts",
        &s.ts,
        if ev.ts.is_empty() { &ev.ts_raw } else { &ev.ts },
    )?;
    expect("wrapper", &s.wrapper, wrapper_id.unwrap_or(""))?;
    expect("user_agent", &s.user_agent, &ev.user_agent)?;
    expect("reason_header", &s.reason_header, &ev.reason_header)?;
    expect("warning", &s.warning, &ev.warning)?;
    Ok(())
}
