//! The stateful stage after the enricher: follows calls by Call-ID, counts
//! KPIs and runs the security detections over responses, the requests logs
//! dump, and PBX security lines. Everything here is bounded (calls, sources,
//! samples) and driven by the log's own clock.
//!
//! `Analyzer` wraps any `Output`: it passes everything through unchanged and
//! adds `"type": "call"` and `"type": "security"` findings as they close or
//! fire, so every output format can carry them.

pub mod calls;
pub mod kpi;
pub mod security;

use std::io;
use std::time::Instant;

use crate::catalog::formats::Direction;
use crate::catalog::Catalog;
use crate::event::Event;
use crate::format::siem::uri_user;
use crate::format::Output;
use crate::timestamp;
use calls::{CallRecord, CallSettings, CallTable, Finalized, Sighting};
use kpi::{KpiSettings, Kpis};
use security::{source_ip, Detection, Detector, SecurityRules, Signal};

/// What the analysis stage follows and reports.
#[derive(Debug, Clone)]
pub struct AnalysisSettings {
    pub calls: CallSettings,
    pub kpi: KpiSettings,
    /// Security rules; None turns detection off.
    pub security: Option<SecurityRules>,
    /// Emit `"type": "call"` findings.
    pub emit_calls: bool,
}

/// Calls, KPIs and detections over one or more inputs.
#[derive(Debug)]
pub struct Correlator {
    pub calls: CallTable,
    pub kpis: Kpis,
    pub detector: Option<Detector>,
    pub settings: KpiSettings,
    emit_calls: bool,
    finalized: Vec<Finalized>,
    closed: Vec<CallRecord>,
    fired: Vec<Detection>,
    started: Instant,
    last_ms: Option<i64>,
}

/// Milliseconds on the log's clock for an event: its RFC 3339 time, else a
/// time of day (`10:01:02.123`) counted from midnight (enough for delays
/// within one log), else None.
pub fn event_millis(ev: &Event) -> Option<i64> {
    if let Some(ms) = timestamp::rfc3339_millis(&ev.ts) {
        return Some(ms);
    }
    time_of_day_millis(&ev.ts_raw)
}

fn time_of_day_millis(raw: &str) -> Option<i64> {
    let b = raw.as_bytes();
    let i = (0..b.len().saturating_sub(7)).find(|&i| {
        b[i].is_ascii_digit()
            && b[i + 1].is_ascii_digit()
            && b[i + 2] == b':'
            && b[i + 5] == b':'
            && (i == 0 || !b[i - 1].is_ascii_digit())
    })?;
    let num = |r: std::ops::Range<usize>| -> Option<i64> { raw.get(r)?.parse().ok() };
    let (h, m, s) = (num(i..i + 2)?, num(i + 3..i + 5)?, num(i + 6..i + 8)?);
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    let mut ms = 0;
    if b.get(i + 8) == Some(&b'.') {
        let digits: String = raw[i + 9..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .take(3)
            .collect();
        if !digits.is_empty() {
            ms = format!("{digits:0<3}").parse().ok()?;
        }
    }
    Some(((h * 60 + m) * 60 + s) * 1000 + ms)
}

/// The far end of a logged message: who sent it if it came in, who got it if
/// it went out; a log that does not say which (acc) names the request's source.
fn remote_of(ev: &Event) -> &str {
    match ev.direction {
        Some(Direction::Out) if !ev.dst.is_empty() => &ev.dst,
        Some(Direction::In) if !ev.src.is_empty() => &ev.src,
        _ if !ev.src.is_empty() => &ev.src,
        _ if !ev.peer.is_empty() => &ev.peer,
        _ => &ev.dst,
    }
}

/// The transport address that sent the request this line is about, when the
/// line says it: a request that came in, a response that went out (or a log
/// that does not say which way, like acc records, which name the request's
/// source).
fn request_source(ev: &Event, is_request: bool) -> Option<String> {
    let peer = match (ev.direction, is_request) {
        (Some(Direction::In), true) | (Some(Direction::Out), false) => remote_of(ev),
        (Some(_), _) => return None,
        (None, _) => remote_of(ev),
    };
    source_ip(peer)
}

impl Correlator {
    pub fn new(settings: AnalysisSettings) -> Correlator {
        Correlator {
            calls: CallTable::new(settings.calls),
            kpis: Kpis::default(),
            detector: settings.security.map(Detector::new),
            settings: settings.kpi,
            emit_calls: settings.emit_calls,
            finalized: Vec::new(),
            closed: Vec::new(),
            fired: Vec::new(),
            started: Instant::now(),
            last_ms: None,
        }
    }

    /// New settings (a daemon reload): calls, counters and what each source
    /// did so far are kept; detection starts or stops as the settings say.
    pub fn reconfigure(&mut self, settings: AnalysisSettings) {
        self.calls.reconfigure(settings.calls);
        self.settings = settings.kpi;
        self.emit_calls = settings.emit_calls;
        match (self.detector.as_mut(), settings.security) {
            (Some(d), Some(rules)) => d.set_rules(rules),
            (None, Some(rules)) => self.detector = Some(Detector::new(rules)),
            (_, None) => self.detector = None,
        }
    }

    /// Moves the log clock to `now_ms` without a record (every input quiet)
    /// and closes the calls that are due.
    pub fn advance_clock(&mut self, now_ms: i64) {
        let before = self.closed.len();
        self.calls.advance(now_ms, &mut self.closed);
        for c in &self.closed[before..] {
            self.kpis.call(c);
        }
    }

    /// The time of a sighting for the detector: the log's, else the last
    /// log time seen, else the wall clock since the start.
    fn detector_ms(&mut self, at: Option<i64>) -> i64 {
        if let Some(t) = at {
            self.last_ms = Some(t);
            return t;
        }
        self.last_ms
            .unwrap_or_else(|| self.started.elapsed().as_millis() as i64)
    }

    fn sighting<'e>(
        input: &'e str,
        ev: &'e Event,
        at_ms: Option<i64>,
        remote: &'e str,
    ) -> Sighting<'e> {
        Sighting {
            input,
            line: ev.line,
            call_id: &ev.call_id,
            method: &ev.method,
            cseq: ev.cseq,
            branch: &ev.via_branch,
            link: &ev.link,
            inbound: ev.direction.map(|d| d == Direction::In),
            code: ev.code,
            reason: &ev.reason,
            at_ms,
            sdp: ev.has_sdp == Some(true),
            remote,
            src: &ev.src,
            dst: &ev.dst,
            from: &ev.from,
            to: &ev.to,
            user_agent: &ev.user_agent,
        }
    }

    /// A response event.
    pub fn response(&mut self, input: &str, ev: &Event) {
        let at = event_millis(ev);
        let remote = remote_of(ev);
        let s = Self::sighting(input, ev, at, remote);
        let new = self
            .calls
            .observe(&s, &mut self.finalized, &mut self.closed);
        let peer = source_ip(remote).unwrap_or_default();
        self.kpis
            .response(ev.code, &ev.method, &peer, !ev.call_id.is_empty(), new);
        if new {
            self.detect(input, ev, at, false, "");
        }
        self.settle();
    }

    /// A response event, counted as its format says: a line that restates a
    /// response logged before (Kamailio's `can't generate 487 reply when a
    /// final 302 was sent out`) is a repeated record, not another response.
    pub fn response_line(&mut self, catalog: &Catalog, input: &str, ev: &Event) {
        if catalog.formats[ev.format].restates {
            self.kpis
                .response(ev.code, &ev.method, "", !ev.call_id.is_empty(), false);
        } else {
            self.response(input, ev);
        }
    }

    /// A request the log dumped.
    pub fn request(&mut self, input: &str, ev: &Event) {
        if ev.method.is_empty() {
            return;
        }
        let at = event_millis(ev);
        let s = Self::sighting(input, ev, at, remote_of(ev));
        let new = self
            .calls
            .observe(&s, &mut self.finalized, &mut self.closed);
        if new {
            self.kpis.requests += 1;
            self.detect(input, ev, at, true, "");
        }
        self.settle();
    }

    /// A PBX security line (`kind`: auth-failure, unknown-user, acl-rejected, flood-blocked).
    pub fn security_line(&mut self, input: &str, ev: &Event, kind: &str) {
        let at = event_millis(ev);
        self.detect(input, ev, at, true, kind);
    }

    fn detect(&mut self, input: &str, ev: &Event, at: Option<i64>, is_request: bool, kind: &str) {
        if self.detector.is_none() {
            return;
        }
        let Some(source) = request_source(ev, is_request || !kind.is_empty()) else {
            return;
        };
        let at_ms = self.detector_ms(at);
        let user = uri_user(&ev.to).unwrap_or("");
        let signal = Signal {
            source: &source,
            at_ms,
            call_id: &ev.call_id,
            method: &ev.method,
            code: if is_request { 0 } else { ev.code },
            user: if user.is_empty() && !kind.is_empty() {
                uri_user(&ev.from).unwrap_or("")
            } else {
                user
            },
            user_agent: &ev.user_agent,
            line_kind: kind,
            input,
            line: ev.line,
        };
        if let Some(d) = self.detector.as_mut() {
            d.observe(&signal, &mut self.fired);
        }
    }

    fn settle(&mut self) {
        for f in self.finalized.drain(..) {
            self.kpis.finalized(f);
        }
        for c in &self.closed {
            self.kpis.call(c);
        }
    }

    /// End of all input: closes every open call.
    pub fn finish(&mut self) {
        let before = self.closed.len();
        self.calls.finish(&mut self.closed);
        for c in &self.closed[before..] {
            self.kpis.call(c);
        }
    }

    /// Takes the calls closed and detections fired since the last call.
    pub fn take_findings(
        &mut self,
        out: &mut impl FnMut(Finding<'_>) -> io::Result<()>,
    ) -> io::Result<()> {
        let closed = std::mem::take(&mut self.closed);
        if self.emit_calls {
            for c in &closed {
                out(Finding::Call(c))?;
            }
        }
        let fired = std::mem::take(&mut self.fired);
        for d in &fired {
            out(Finding::Security(d))?;
        }
        Ok(())
    }
}

/// A finding the analysis stage reports.
#[derive(Debug, Clone, Copy)]
pub enum Finding<'a> {
    Call(&'a CallRecord),
    Security(&'a Detection),
}

/// An output that feeds a correlator and adds its findings to the stream.
pub struct Analyzer<'c, O: Output> {
    pub inner: O,
    pub correlator: Correlator,
    catalog: &'c Catalog,
}

impl<'c, O: Output> Analyzer<'c, O> {
    pub fn new(catalog: &'c Catalog, inner: O, correlator: Correlator) -> Self {
        Analyzer {
            inner,
            correlator,
            catalog,
        }
    }

    fn report(&mut self) -> io::Result<()> {
        let inner = &mut self.inner;
        self.correlator.take_findings(&mut |f| match f {
            Finding::Call(c) => inner.call(c),
            Finding::Security(d) => inner.detection(d),
        })
    }

    /// End of all input: closes the open calls and reports them.
    pub fn finish(&mut self) -> io::Result<()> {
        self.correlator.finish();
        self.report()?;
        self.inner.flush()
    }
}

impl<O: Output> Output for Analyzer<'_, O> {
    fn passthrough(&mut self, input: &str, bytes: &[u8], first_line: u64) -> io::Result<()> {
        self.inner.passthrough(input, bytes, first_line)
    }

    fn status_line(
        &mut self,
        input: &str,
        line: &[u8],
        newline: bool,
        ev: &Event,
    ) -> io::Result<()> {
        self.inner.status_line(input, line, newline, ev)
    }

    fn event(&mut self, input: &str, ev: &Event) -> io::Result<()> {
        self.inner.event(input, ev)?;
        self.correlator.response_line(self.catalog, input, ev);
        self.report()
    }

    fn wants_requests(&self) -> bool {
        true
    }

    fn request(&mut self, input: &str, ev: &Event) -> io::Result<()> {
        self.inner.request(input, ev)?;
        self.correlator.request(input, ev);
        self.report()
    }

    fn security_line(&mut self, input: &str, ev: &Event) -> io::Result<()> {
        self.inner.security_line(input, ev)?;
        let kind = &self.catalog.formats[ev.format].detection;
        self.correlator.security_line(input, ev, kind);
        self.report()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_of_day_from_raw_stamps() {
        assert_eq!(time_of_day_millis("[Mar  2 10:01:02]"), Some(36_062_000));
        assert_eq!(time_of_day_millis("10:01:02.5"), Some(36_062_500));
        assert_eq!(
            time_of_day_millis("2021-07-05 09:15:23.123456"),
            Some(33_323_123)
        );
        assert_eq!(time_of_day_millis("no time"), None);
    }
}
