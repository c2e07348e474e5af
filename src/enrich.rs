//! Joins an event with the knowledge base: the code's entry or class fallback,
//! the context note that fits its method and headers, and the decoded Reason
//! and Warning headers. Stateless; borrows everything.

use crate::catalog::kb::{Cause, KnowledgeBase, Lookup, Note, NoteContext, WarningEntry};
use crate::event::Event;
use crate::sipheaders::{parse_reason, parse_warning, ReasonValue, WarningValue};

/// What the knowledge base says about one event.
#[derive(Debug, Clone)]
pub struct Annotation<'a> {
    pub lookup: Lookup<'a>,
    pub note: Option<&'a Note>,
    pub reason: Option<DecodedReason<'a>>,
    pub warning: Option<DecodedWarning<'a>>,
}

/// A Reason header with its cause explained.
#[derive(Debug, Clone)]
pub struct DecodedReason<'a> {
    pub value: ReasonValue<'a>,
    /// For Q.850 causes.
    pub cause: Option<&'a Cause>,
    /// For SIP causes: the code's registry entry.
    pub sip: Option<Lookup<'a>>,
}

impl DecodedReason<'_> {
    /// The cause's name: the Q.850 cause name, or the SIP status's phrase.
    pub fn cause_name(&self) -> Option<&str> {
        match (&self.cause, &self.sip) {
            (Some(c), _) => Some(c.name.as_str()),
            (None, Some(l)) => l.canonical_reason(),
            _ => None,
        }
    }

    /// "Q.850 20 (Subscriber absent)": protocol, cause and its name.
    pub fn summary(&self) -> String {
        let mut s = self.value.protocol.to_string();
        if let Some(c) = self.value.cause {
            s.push_str(&format!(" {c}"));
        }
        if let Some(name) = self.cause_name() {
            s.push_str(&format!(" ({name})"));
        }
        s
    }
}

impl DecodedWarning<'_> {
    /// "305 None of the offered codecs is available" (the registry's meaning,
    /// or the header's own text for unregistered codes).
    pub fn summary(&self) -> String {
        match self.entry {
            Some(e) => format!("{} {}", self.value.code, e.meaning),
            None => format!("{} {}", self.value.code, self.value.text),
        }
    }
}

/// A Warning header with its code explained.
#[derive(Debug, Clone)]
pub struct DecodedWarning<'a> {
    pub value: WarningValue<'a>,
    pub entry: Option<&'a WarningEntry>,
}

/// What the note conditions can see of an event.
pub fn note_context(ev: &Event) -> NoteContext<'_> {
    NoteContext {
        method: (!ev.method.is_empty()).then_some(ev.method.as_str()),
        has_sdp: ev.has_sdp,
        has_retry_after: ev.retry_after.map(|r| r.is_some()),
    }
}

/// Looks an event up in the knowledge base.
pub fn annotate<'a>(kb: &'a KnowledgeBase, ev: &'a Event) -> Annotation<'a> {
    let (reason, warning) = decode_headers(kb, ev);
    Annotation {
        lookup: kb.lookup(ev.code),
        note: kb.note(ev.code, &note_context(ev)),
        reason,
        warning,
    }
}

/// Decodes the event's Reason and Warning headers.
pub fn decode_headers<'a>(
    kb: &'a KnowledgeBase,
    ev: &'a Event,
) -> (Option<DecodedReason<'a>>, Option<DecodedWarning<'a>>) {
    let reason = (!ev.reason_header.is_empty())
        .then(|| parse_reason(&ev.reason_header))
        .flatten()
        .map(|value| {
            let is_q850 = value.protocol.eq_ignore_ascii_case("Q.850");
            let is_sip = value.protocol.eq_ignore_ascii_case("SIP");
            DecodedReason {
                cause: value.cause.filter(|_| is_q850).and_then(|c| kb.cause(c)),
                sip: value
                    .cause
                    .filter(|c| is_sip && (100..=699).contains(c))
                    .map(|c| kb.lookup(c)),
                value,
            }
        });
    let warning = (!ev.warning.is_empty())
        .then(|| parse_warning(&ev.warning))
        .flatten()
        .map(|value| DecodedWarning {
            entry: kb.warning(value.code),
            value,
        });
    (reason, warning)
}
