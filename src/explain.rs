//! The `explain` and `codes` subcommands: the knowledge base for people.
//! One code prints its full entry; several print side by side with their key
//! differences (the "183 vs 200" view); `q850:N` explains an ISDN cause.

use std::fmt::Write as _;

use crate::catalog::kb::{KnowledgeBase, Lookup};
use crate::error::{Error, Result};
use crate::format::json::{push_opt, push_str, push_u64};

/// One thing to explain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    Code(u16),
    Q850(u16),
}

/// Parses `486`, `q850:17` or `Q.850:17`.
pub fn parse_topic(arg: &str) -> Result<Topic> {
    let lower = arg.trim().to_ascii_lowercase();
    if let Some(n) = lower
        .strip_prefix("q850:")
        .or_else(|| lower.strip_prefix("q.850:"))
    {
        return n
            .parse::<u16>()
            .ok()
            .filter(|c| (1..=127).contains(c))
            .map(Topic::Q850)
            .ok_or_else(|| {
                Error::new(format!(
                    "{arg:?}: a Q.850 cause is a number from 1 to 127, as in q850:17"
                ))
            });
    }
    match lower.parse::<u16>() {
        Ok(c) if (100..=699).contains(&c) => Ok(Topic::Code(c)),
        _ => Err(Error::new(format!(
            "{arg:?} is neither a SIP response code (100..699) nor a Q.850 cause (q850:N); try: sipannotate explain 486"
        ))),
    }
}

/// Text explanation of one or more topics.
pub fn explain_text(kb: &KnowledgeBase, topics: &[Topic]) -> String {
    let mut out = String::new();
    for (i, t) in topics.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        match *t {
            Topic::Code(c) => code_entry(&mut out, kb, kb.lookup(c)),
            Topic::Q850(c) => cause_entry(&mut out, kb, c),
        }
    }
    let codes: Vec<u16> = topics
        .iter()
        .filter_map(|t| match t {
            Topic::Code(c) => Some(*c),
            Topic::Q850(_) => None,
        })
        .collect();
    if codes.len() >= 2 {
        out.push('\n');
        differences(&mut out, kb, &codes);
    }
    out
}

fn heading(kb: &KnowledgeBase, l: &Lookup<'_>) -> String {
    match l.canonical_reason() {
        Some(r) => format!("{} {r}", l.code),
        None => format!("{} ({})", l.code, kb.labels.unregistered),
    }
}

fn code_entry(out: &mut String, kb: &KnowledgeBase, l: Lookup<'_>) {
    let lab = &kb.labels;
    let kind = if l.code >= 200 {
        &lab.final_
    } else {
        &lab.provisional
    };
    let texts = l.texts();
    let _ = writeln!(out, "{}", heading(kb, &l));
    let rows: [(&str, String); 7] = [
        (
            &lab.class,
            format!("{}xx {} ({kind})", l.code / 100, l.class.name),
        ),
        (&lab.severity, l.severity().as_str().to_string()),
        (&lab.rfc, l.rfc().unwrap_or("-").to_string()),
        (&lab.meaning, texts.meaning.clone()),
        (&lab.when, texts.when.clone()),
        (&lab.fix, texts.fix.clone()),
        (&lab.next_step, l.class.next.clone()),
    ];
    for (label, value) in rows {
        let _ = writeln!(out, "  {label}: {value}");
    }
    let notes: Vec<&str> = kb
        .notes()
        .iter()
        .filter(|n| n.codes.contains(&l.code) || n.classes.contains(&((l.code / 100) as u8)))
        .map(|n| n.text.as_str())
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "  {}:", lab.notes);
        for n in notes {
            let _ = writeln!(out, "    - {n}");
        }
    }
    let causes: Vec<String> = kb
        .causes()
        .filter(|c| c.sip == Some(l.code))
        .map(|c| format!("{} {}", c.cause, c.name))
        .collect();
    if !causes.is_empty() {
        let _ = writeln!(out, "  {}: {}", lab.q850_mapped, causes.join("; "));
    }
}

fn cause_entry(out: &mut String, kb: &KnowledgeBase, cause: u16) {
    let lab = &kb.labels;
    match kb.cause(cause) {
        Some(c) => {
            let _ = writeln!(out, "{} {}: {}", lab.q850_cause, c.cause, c.name);
            match c.sip {
                Some(sip) => {
                    let l = kb.lookup(sip);
                    let _ = writeln!(out, "  {}: {}", lab.maps_to, heading(kb, &l));
                    let _ = writeln!(out, "  {}: {}", lab.meaning, l.texts().meaning);
                    let _ = writeln!(out, "  {}: {}", lab.fix, l.texts().fix);
                }
                None => {
                    let _ = writeln!(out, "  {}", lab.no_mapping);
                }
            }
        }
        None => {
            let _ = writeln!(out, "{} {cause}: ?", lab.q850_cause);
            let _ = writeln!(out, "  {}", lab.no_mapping);
        }
    }
}

fn fill(template: &str, pairs: &[(&str, &str)]) -> String {
    let mut s = template.to_string();
    for (k, v) in pairs {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

fn differences(out: &mut String, kb: &KnowledgeBase, codes: &[u16]) {
    let lab = &kb.labels;
    let _ = writeln!(out, "{}:", lab.key_differences);
    let mut items: Vec<String> = Vec::new();
    let lookups: Vec<Lookup<'_>> = codes.iter().map(|c| kb.lookup(*c)).collect();
    let first_class = codes[0] / 100;
    if codes.iter().all(|c| c / 100 == first_class) {
        items.push(fill(
            &lab.cmp_same_class,
            &[
                ("class", &lookups[0].class.name),
                ("n", &first_class.to_string()),
            ],
        ));
    } else {
        for l in &lookups {
            let kind = if l.code >= 200 {
                &lab.final_
            } else {
                &lab.provisional
            };
            items.push(fill(
                &lab.cmp_class,
                &[
                    ("code", &l.code.to_string()),
                    ("kind", kind),
                    ("class", &l.class.name),
                    ("n", &(l.code / 100).to_string()),
                ],
            ));
        }
    }
    for l in &lookups {
        items.push(format!("{}: {}", heading(kb, l), l.texts().meaning));
    }
    let sev: Vec<String> = lookups
        .iter()
        .map(|l| format!("{} {}", l.code, l.severity().as_str()))
        .collect();
    items.push(fill(&lab.cmp_severity, &[("list", &sev.join(", "))]));
    let mut seen_class = Vec::new();
    for l in &lookups {
        if !seen_class.contains(&(l.code / 100)) {
            seen_class.push(l.code / 100);
            items.push(fill(
                &lab.cmp_next,
                &[
                    ("code", &format!("{}xx", l.code / 100)),
                    ("next", &l.class.next),
                ],
            ));
        }
    }
    for l in &lookups {
        items.push(format!(
            "{} \u{2014} {}: {}",
            l.code,
            lab.fix,
            l.texts().fix
        ));
    }
    for (i, item) in items.iter().enumerate() {
        let _ = writeln!(out, "  {}. {item}", i + 1);
    }
}

/// JSON explanation: one object per topic per line.
pub fn explain_json(kb: &KnowledgeBase, topics: &[Topic]) -> String {
    let mut b = Vec::new();
    for t in topics {
        match *t {
            Topic::Code(c) => code_json(&mut b, kb, kb.lookup(c)),
            Topic::Q850(c) => cause_json(&mut b, kb, c),
        }
        b.push(b'\n');
    }
    String::from_utf8(b).expect("JSON is UTF-8")
}

/// One JSON object describing a code (no newline).
pub fn code_json(b: &mut Vec<u8>, kb: &KnowledgeBase, l: Lookup<'_>) {
    let texts = l.texts();
    b.extend_from_slice(b"{\"kind\":\"code\",\"code\":");
    push_u64(b, u64::from(l.code));
    b.extend_from_slice(b",\"reason\":");
    push_opt(b, l.canonical_reason().unwrap_or(""));
    b.extend_from_slice(b",\"class\":");
    push_u64(b, u64::from(l.code / 100));
    b.extend_from_slice(b",\"class_name\":");
    push_str(b, &l.class.name);
    b.extend_from_slice(b",\"final\":");
    b.extend_from_slice(if l.code >= 200 { b"true" } else { b"false" });
    b.extend_from_slice(b",\"registered\":");
    b.extend_from_slice(if l.registered() { b"true" } else { b"false" });
    b.extend_from_slice(b",\"rfc\":");
    push_opt(b, l.rfc().unwrap_or(""));
    b.extend_from_slice(b",\"severity\":");
    push_str(b, l.severity().as_str());
    b.extend_from_slice(b",\"meaning\":");
    push_str(b, &texts.meaning);
    b.extend_from_slice(b",\"when\":");
    push_str(b, &texts.when);
    b.extend_from_slice(b",\"fix\":");
    push_str(b, &texts.fix);
    b.extend_from_slice(b",\"next\":");
    push_str(b, &l.class.next);
    b.extend_from_slice(b",\"notes\":[");
    let mut first = true;
    for n in kb
        .notes()
        .iter()
        .filter(|n| n.codes.contains(&l.code) || n.classes.contains(&((l.code / 100) as u8)))
    {
        if !first {
            b.push(b',');
        }
        first = false;
        b.extend_from_slice(b"{\"id\":");
        push_str(b, &n.id);
        b.extend_from_slice(b",\"text\":");
        push_str(b, &n.text);
        b.push(b'}');
    }
    b.extend_from_slice(b"],\"q850_causes\":[");
    let mut first = true;
    for c in kb.causes().filter(|c| c.sip == Some(l.code)) {
        if !first {
            b.push(b',');
        }
        first = false;
        push_u64(b, u64::from(c.cause));
    }
    b.extend_from_slice(b"],\"lang\":");
    push_str(b, &kb.lang);
    b.push(b'}');
}

fn cause_json(b: &mut Vec<u8>, kb: &KnowledgeBase, cause: u16) {
    let c = kb.cause(cause);
    b.extend_from_slice(b"{\"kind\":\"q850\",\"cause\":");
    push_u64(b, u64::from(cause));
    b.extend_from_slice(b",\"name\":");
    push_opt(b, c.map_or("", |c| c.name.as_str()));
    b.extend_from_slice(b",\"sip\":");
    match c.and_then(|c| c.sip) {
        Some(s) => push_u64(b, u64::from(s)),
        None => b.extend_from_slice(b"null"),
    }
    b.extend_from_slice(b",\"lang\":");
    push_str(b, &kb.lang);
    b.push(b'}');
}

/// The `codes` command.
pub fn codes(kb: &KnowledgeBase, json: bool, all: bool) -> String {
    if json {
        let mut b = Vec::new();
        for e in kb.registered() {
            code_json(&mut b, kb, kb.lookup(e.code));
            b.push(b'\n');
        }
        if all {
            for class in 1..=6u8 {
                let c = kb.class(class);
                b.extend_from_slice(b"{\"kind\":\"class\",\"class\":");
                push_u64(&mut b, u64::from(class));
                b.extend_from_slice(b",\"class_name\":");
                push_str(&mut b, &c.name);
                b.extend_from_slice(b",\"meaning\":");
                push_str(&mut b, &c.texts.meaning);
                b.extend_from_slice(b",\"when\":");
                push_str(&mut b, &c.texts.when);
                b.extend_from_slice(b",\"fix\":");
                push_str(&mut b, &c.texts.fix);
                b.extend_from_slice(b"}\n");
            }
            for c in kb.causes() {
                cause_json(&mut b, kb, c.cause);
                b.push(b'\n');
            }
            for (code, w) in kb.warnings() {
                b.extend_from_slice(b"{\"kind\":\"warning\",\"code\":");
                push_u64(&mut b, u64::from(code));
                b.extend_from_slice(b",\"text\":");
                push_str(&mut b, &w.text);
                b.extend_from_slice(b",\"meaning\":");
                push_str(&mut b, &w.meaning);
                b.extend_from_slice(b"}\n");
            }
        }
        return String::from_utf8(b).expect("JSON is UTF-8");
    }
    let mut out = String::new();
    let mut last_class = 0;
    for e in kb.registered() {
        let l = kb.lookup(e.code);
        if e.code / 100 != last_class {
            last_class = e.code / 100;
            let _ = writeln!(out, "\n{}xx {}", last_class, l.class.name);
        }
        let _ = writeln!(
            out,
            "  {} {:<38} {:<8} {}",
            e.code,
            e.reason,
            e.severity.as_str(),
            e.texts.meaning
        );
    }
    if all {
        let _ = writeln!(out, "\n{}", kb.labels.q850_cause);
        for c in kb.causes() {
            let sip = c.sip.map_or("-".to_string(), |s| s.to_string());
            let _ = writeln!(out, "  {:>3} \u{2192} {sip:<3} {}", c.cause, c.name);
        }
        let _ = writeln!(out, "\n{}", kb.labels.warning_header);
        for (code, w) in kb.warnings() {
            let _ = writeln!(out, "  {code} {}: {}", w.text, w.meaning);
        }
    }
    out.trim_start().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_parse_and_reject() {
        assert_eq!(parse_topic("486").unwrap(), Topic::Code(486));
        assert_eq!(parse_topic("Q.850:17").unwrap(), Topic::Q850(17));
        assert_eq!(parse_topic("q850:34").unwrap(), Topic::Q850(34));
        assert!(parse_topic("99").is_err());
        assert!(parse_topic("700").is_err());
        assert!(parse_topic("busy").is_err());
        assert!(parse_topic("q850:0").is_err());
    }
}
