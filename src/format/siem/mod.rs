//! Encodings for SIEMs and log pipelines, one module each, exact to
//! `shared/reference/siem-specs-and-kpis.md`: `ecs` (Elastic Common Schema
//! with Packetbeat's `sip.*`), `cef` (ArcSight), `leef` (QRadar 1.0/2.0),
//! `gelf` (Graylog 1.1), `hec` (Splunk HTTP Event Collector), `syslog`
//! (RFC 5424 with structured data) and `logfmt`.
//!
//! Security detections go through the same encodings (`encode_detection`
//! in each module, from a [`DetectionView`]), so a SOC gets them in the
//! format its rules already parse.
//!
//! Every encoder reads the same [`View`] of an event and writes exactly one
//! record: whatever the log text holds (`|`, `=`, `\`, quotes, CR, LF, NUL,
//! invalid UTF-8, 100 KB), it cannot end the record, add a field or start a
//! second one. Values from the log are capped at [`MAX_VALUE`] bytes.

pub mod cef;
pub mod ecs;
pub mod gelf;
pub mod hec;
pub mod leef;
pub mod logfmt;
pub mod syslog;

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::catalog::kb::{Severity, Texts};
use crate::catalog::Catalog;
use crate::correlate::security::{Detection, Rule};
use crate::enrich::{annotate, Annotation};
use crate::event::Event;
use crate::format::json::EventEncoder;
use crate::timestamp::rfc3339_millis;

/// Longest value taken from the log into a SIEM record (bytes, cut at a
/// character boundary); the knowledge-base texts are ours and never cut.
pub const MAX_VALUE: usize = 2048;

/// The SIEM encodings (the part of `format::Encoding` this module writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiemKind {
    Ecs,
    Cef,
    Leef,
    Gelf,
    Hec,
    Syslog,
    Logfmt,
}

/// LEEF version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, clap::ValueEnum)]
pub enum LeefVersion {
    #[serde(rename = "1.0")]
    #[value(name = "1.0")]
    V1,
    #[default]
    #[serde(rename = "2.0")]
    #[value(name = "2.0")]
    V2,
}

/// Settings of the SIEM encodings (config `[output.options]`, or CLI flags).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SiemOptions {
    /// LEEF 1.0 (TAB-delimited) or 2.0 (delimiter in the header).
    pub leef_version: LeefVersion,
    /// LEEF 2.0 attribute delimiter: one character, or hex `x09`/`0x5E`.
    pub leef_delimiter: String,
    /// RFC 5424 structured-data ID `sipannotate@<PEN>`: your IANA Private
    /// Enterprise Number. 32473 is the number RFC 5612 reserves for documentation.
    pub syslog_enterprise_number: u32,
    /// RFC 5424 facility (0..23; 16 = local0).
    pub syslog_facility: u8,
    /// RFC 5424 records longer than this lose the end of their message.
    pub syslog_max_message_bytes: usize,
    /// Splunk HEC `sourcetype` and optional `index`.
    pub hec_sourcetype: String,
    pub hec_index: Option<String>,
    /// The host named in records; default: the `host` label, else this machine's name.
    pub hostname: Option<String>,
}

impl Default for SiemOptions {
    fn default() -> Self {
        SiemOptions {
            leef_version: LeefVersion::V2,
            leef_delimiter: "^".into(),
            syslog_enterprise_number: 32473,
            syslog_facility: 16,
            syslog_max_message_bytes: 2048,
            hec_sourcetype: "sipannotate:response".into(),
            hec_index: None,
            hostname: None,
        }
    }
}

impl SiemOptions {
    /// Checks the options; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        leef::delimiter(&self.leef_delimiter)?;
        if self.syslog_facility > 23 {
            return Err(format!(
                "syslog_facility: {} is not 0..23",
                self.syslog_facility
            ));
        }
        if self.syslog_max_message_bytes < 480 {
            return Err("syslog_max_message_bytes: at least 480 (RFC 5424)".into());
        }
        Ok(())
    }
}

/// This machine's name (for the syslog HOSTNAME and ECS host.name).
pub fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "-".into())
}

/// A peer split into address and port (`UDP:10.0.0.1:5060`, `[2001:db8::1]:5061`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peer {
    pub ip: String,
    pub port: Option<u16>,
}

/// Splits a peer as logs write it.
pub fn split_peer(s: &str) -> Option<Peer> {
    let mut s = s.trim();
    for p in [
        "udp:", "tcp:", "tls:", "ws:", "wss:", "sctp:", "UDP:", "TCP:", "TLS:", "WS:", "WSS:",
        "SCTP:",
    ] {
        if let Some(rest) = s.strip_prefix(p) {
            s = rest;
        }
    }
    if s.is_empty() {
        return None;
    }
    if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']')?;
        let port = rest[end + 1..]
            .strip_prefix(':')
            .and_then(|p| p.parse().ok());
        return Some(Peer {
            ip: rest[..end].to_string(),
            port,
        });
    }
    match s.rsplit_once(':') {
        // More than one colon and no brackets: a bare IPv6 address.
        Some((host, _)) if host.contains(':') => Some(Peer {
            ip: s.to_string(),
            port: None,
        }),
        Some((host, port)) => match port.parse() {
            Ok(p) => Some(Peer {
                ip: host.to_string(),
                port: Some(p),
            }),
            Err(_) => Some(Peer {
                ip: s.to_string(),
                port: None,
            }),
        },
        None => Some(Peer {
            ip: s.to_string(),
            port: None,
        }),
    }
}

/// The user part of a From/To value or URI (`"A" <sip:alice@x>;tag=1` -> `alice`).
pub fn uri_user(v: &str) -> Option<&str> {
    let start = ["sip:", "sips:", "tel:"]
        .iter()
        .filter_map(|s| v.find(s).map(|i| i + s.len()))
        .min()?;
    let rest = &v[start..];
    let end = rest.find(['@', ';', '>', ' ', '?']).unwrap_or(rest.len());
    (end > 0 && rest[..end].len() <= 256).then(|| &rest[..end])
}

/// The tag parameter of a From/To value.
pub fn tag_of(v: &str) -> Option<&str> {
    let i = v.find(";tag=")? + 5;
    let rest = &v[i..];
    let end = rest.find([';', '>', ' ']).unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// Cuts a log value to `MAX_VALUE` bytes at a character boundary.
pub fn capped(s: &str) -> &str {
    if s.len() <= MAX_VALUE {
        return s;
    }
    let mut end = MAX_VALUE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Appends one character as UTF-8 (the default arm of every escaper here).
pub fn push_char(b: &mut Vec<u8>, c: char) {
    let mut tmp = [0u8; 4];
    b.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
}

/// Our severity on the 0..10 scale of CEF, LEEF and ECS `event.severity`.
pub fn severity_0_10(s: Severity) -> u8 {
    match s {
        Severity::Info => 1,
        Severity::Notice => 3,
        Severity::Warning => 5,
        Severity::Error => 7,
        Severity::Critical => 9,
    }
}

/// Our severity as a syslog severity (RFC 5424 §6.2.1; GELF `level`).
pub fn syslog_severity(s: Severity) -> u8 {
    match s {
        Severity::Info => 6,
        Severity::Notice => 5,
        Severity::Warning => 4,
        Severity::Error => 3,
        Severity::Critical => 2,
    }
}

/// Everything an encoder needs about one event, looked up once.
pub struct View<'a> {
    pub catalog: &'a Catalog,
    pub ev: &'a Event,
    pub input: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    pub host: &'a str,
    pub annotation: Annotation<'a>,
    pub texts: &'a Texts,
    pub severity: Severity,
    /// The event time on the time line, when the log gave a full date.
    pub millis: Option<i64>,
    /// The reason phrase as logged, else the registry's, else "".
    pub reason: &'a str,
    pub src: Option<Peer>,
    pub dst: Option<Peer>,
}

impl<'a> View<'a> {
    pub fn new(
        catalog: &'a Catalog,
        ev: &'a Event,
        input: &'a str,
        labels: &'a BTreeMap<String, String>,
        host: &'a str,
    ) -> View<'a> {
        let annotation = annotate(&catalog.kb, ev);
        let texts = annotation.lookup.texts();
        let severity = annotation.lookup.severity();
        let reason = if ev.reason.is_empty() {
            annotation.lookup.canonical_reason().unwrap_or("")
        } else {
            ev.reason.as_str()
        };
        View {
            catalog,
            ev,
            input,
            labels,
            host,
            texts,
            severity,
            millis: rfc3339_millis(&ev.ts),
            reason,
            src: split_peer(&ev.src),
            dst: split_peer(&ev.dst),
            annotation,
        }
    }

    pub fn class(&self) -> u8 {
        self.ev.class()
    }

    /// "success" for 2xx, "failure" for 3xx..6xx, "unknown" for 1xx.
    pub fn outcome(&self) -> &'static str {
        match self.ev.code {
            200..=299 => "success",
            100..=199 => "unknown",
            _ => "failure",
        }
    }

    /// The format id that recognized the line.
    pub fn format_id(&self) -> &str {
        &self.catalog.formats[self.ev.format].id
    }

    /// "SIP 486 Busy Here (INVITE)": a short title.
    pub fn title(&self) -> String {
        let mut t = format!("SIP {} {}", self.ev.code, capped(self.reason));
        if !self.ev.method.is_empty() {
            t.push_str(&format!(" ({})", capped(&self.ev.method)));
        }
        t
    }

    /// The meaning, the context note and the decoded headers, then the fix: one sentence block.
    pub fn message(&self) -> String {
        let mut m = self.texts.meaning.clone();
        if let Some(n) = self.annotation.note {
            m.push(' ');
            m.push_str(&n.text);
        }
        if let Some(r) = &self.annotation.reason {
            m.push_str(&format!(" Reason: {}.", r.summary()));
        }
        if let Some(w) = &self.annotation.warning {
            m.push_str(&format!(" Warning: {}.", w.summary()));
        }
        m.push_str(" Fix: ");
        m.push_str(&self.texts.fix);
        m
    }

    /// The decoded Reason header, short ("Q.850 17 (User busy)"), or the raw value.
    pub fn reason_header(&self) -> Option<String> {
        match &self.annotation.reason {
            Some(r) => Some(r.summary()),
            None if !self.ev.reason_header.is_empty() => {
                Some(capped(&self.ev.reason_header).to_string())
            }
            None => None,
        }
    }
}

/// Everything an encoder needs about one security detection.
pub struct DetectionView<'a> {
    pub d: &'a Detection,
    pub name: &'static str,
    pub rule: &'a Rule,
    pub texts: &'a Texts,
    pub severity: Severity,
    pub host: &'a str,
    /// When it fired on the time line, when the log gave full dates.
    pub millis: Option<i64>,
    /// The offending address (what a firewall rule takes).
    pub source: &'a str,
    /// What the last sighting was, capped.
    pub evidence: &'a str,
}

impl<'a> DetectionView<'a> {
    pub fn new(catalog: &'a Catalog, d: &'a Detection, host: &'a str) -> DetectionView<'a> {
        let name = d.kind.name();
        let rule = &catalog.security.detection[name];
        DetectionView {
            d,
            name,
            rule,
            texts: catalog.kb.detection(name),
            severity: rule.severity,
            host,
            millis: (d.last_ms >= crate::format::findings::DATED_MS).then_some(d.last_ms),
            source: capped(&d.source),
            evidence: capped(&d.evidence),
        }
    }

    /// "SIP security: auth-failure-burst from 203.0.113.7".
    pub fn title(&self) -> String {
        format!("SIP security: {} from {}", self.name, self.source)
    }

    /// The meaning, then the fix.
    pub fn message(&self) -> String {
        format!("{} Fix: {}", self.texts.meaning, self.texts.fix)
    }

    /// "auth-failure-burst: 11 sightings in 60 s (threshold 10)".
    pub fn summary(&self) -> String {
        format!(
            "{}: {} sightings in {} s (threshold {})",
            self.name, self.d.count, self.rule.window_secs, self.rule.threshold
        )
    }
}

/// Encodes events in one SIEM encoding.
pub struct SiemEncoder<'c> {
    catalog: &'c Catalog,
    kind: SiemKind,
    options: SiemOptions,
    machine: String,
    leef_delimiter: u8,
    /// The schema-1 encoder HEC wraps (its caches live as long as this encoder).
    json: EventEncoder<'c>,
}

impl<'c> SiemEncoder<'c> {
    /// An encoder; `options` must have passed `validate`.
    pub fn new(catalog: &'c Catalog, kind: SiemKind, options: SiemOptions) -> SiemEncoder<'c> {
        let leef_delimiter = leef::delimiter(&options.leef_delimiter).unwrap_or(b'\t');
        SiemEncoder {
            catalog,
            kind,
            machine: options.hostname.clone().unwrap_or_else(local_hostname),
            options,
            leef_delimiter,
            json: EventEncoder::new(catalog),
        }
    }

    /// Appends one record and its line break.
    pub fn encode(
        &mut self,
        b: &mut Vec<u8>,
        input: &str,
        labels: &BTreeMap<String, String>,
        ev: &Event,
    ) {
        let host = labels
            .get("host")
            .map_or(self.machine.as_str(), String::as_str);
        let v = View::new(self.catalog, ev, input, labels, host);
        match self.kind {
            SiemKind::Ecs => ecs::encode(b, &v),
            SiemKind::Cef => cef::encode(b, &v),
            SiemKind::Leef => leef::encode(b, &v, self.options.leef_version, self.leef_delimiter),
            SiemKind::Gelf => gelf::encode(b, &v),
            SiemKind::Hec => hec::encode(b, &v, &self.options, &mut self.json),
            SiemKind::Syslog => syslog::encode(b, &v, &self.options),
            SiemKind::Logfmt => logfmt::encode(b, &v),
        }
        b.push(b'\n');
    }

    /// Appends one security detection and its line break.
    pub fn encode_detection(&self, b: &mut Vec<u8>, d: &Detection) {
        let v = DetectionView::new(self.catalog, d, &self.machine);
        match self.kind {
            SiemKind::Ecs => ecs::encode_detection(b, &v),
            SiemKind::Cef => cef::encode_detection(b, &v),
            SiemKind::Leef => {
                leef::encode_detection(b, &v, self.options.leef_version, self.leef_delimiter)
            }
            SiemKind::Gelf => gelf::encode_detection(b, &v),
            SiemKind::Hec => hec::encode_detection(b, &v, &self.options, self.catalog),
            SiemKind::Syslog => syslog::encode_detection(b, &v, &self.options),
            SiemKind::Logfmt => logfmt::encode_detection(b, &v),
        }
        b.push(b'\n');
    }
}

/// The annotate command's output in a SIEM encoding: events only.
pub struct SiemOutput<'c, W: std::io::Write> {
    encoder: SiemEncoder<'c>,
    out: W,
    buf: Vec<u8>,
    labels: BTreeMap<String, String>,
}

impl<'c, W: std::io::Write> SiemOutput<'c, W> {
    pub fn new(encoder: SiemEncoder<'c>, out: W) -> Self {
        SiemOutput {
            encoder,
            out,
            buf: Vec::with_capacity(4096),
            labels: BTreeMap::new(),
        }
    }
}

impl<W: std::io::Write> crate::format::Output for SiemOutput<'_, W> {
    fn event(&mut self, input: &str, ev: &Event) -> std::io::Result<()> {
        self.buf.clear();
        self.encoder.encode(&mut self.buf, input, &self.labels, ev);
        self.out.write_all(&self.buf)
    }

    fn detection(&mut self, d: &Detection) -> std::io::Result<()> {
        self.buf.clear();
        self.encoder.encode_detection(&mut self.buf, d);
        self.out.write_all(&self.buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_and_users_are_split_as_logs_write_them() {
        let p = |s| split_peer(s).map(|p| (p.ip, p.port));
        assert_eq!(
            p("UDP:10.0.0.1:5060"),
            Some(("10.0.0.1".into(), Some(5060)))
        );
        assert_eq!(
            p("[2001:db8::1]:5061"),
            Some(("2001:db8::1".into(), Some(5061)))
        );
        assert_eq!(p("2001:db8::1"), Some(("2001:db8::1".into(), None)));
        assert_eq!(p("pbx.example.com"), Some(("pbx.example.com".into(), None)));
        assert_eq!(p(""), None);
        assert_eq!(
            uri_user("\"Alice\" <sip:alice@example.com>;tag=9"),
            Some("alice")
        );
        assert_eq!(uri_user("<tel:+4930123;phone-context=x>"), Some("+4930123"));
        assert_eq!(uri_user("garbage"), None);
        assert_eq!(tag_of("<sip:a@b>;tag=abc;x=1"), Some("abc"));
        let long = "é".repeat(2000);
        assert!(capped(&long).len() <= MAX_VALUE && long.starts_with(capped(&long)));
    }
}
