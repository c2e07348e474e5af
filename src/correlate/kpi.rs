//! Counts and KPIs over responses and closed calls: per code × method, per
//! class and per peer; RFC 6076 SER, SEER, ISA, SCR, IRA, SRD and RRD; ITU-T
//! E.411 ASR and NER with configurable code sets.
//!
//! Definitions, as used here (the knowledge base's `[kpi.*]` texts say the
//! same to users):
//! - a *session attempt* is a Call-ID whose first INVITE transaction was seen
//!   (request or any answer), re-INVITEs and retransmissions excluded; the
//!   attempt's outcome is the final answer of its last initial INVITE
//!   transaction, so a 407 answered by a retry that got 200 is one answered
//!   attempt (RFC 6076 §5.3: authentication is part of the setup). Calls still
//!   open at the end of the log without any final answer are `incomplete` and
//!   left out of every ratio;
//! - SER = 2xx / (attempts − 3xx); SEER = (2xx + 480, 486, 600, 603) /
//!   (attempts − 3xx); ISA = (408, 500, 503, 504, timeouts) / attempts;
//!   SCR = answered attempts whose BYE got a 2xx / attempts;
//!   ASR = outcome in `asr_codes` / attempts; NER = outcome in `ner_codes` /
//!   attempts; IRA = REGISTER transactions ending 4xx other than 401, 402,
//!   407, or 5xx, 6xx, or timing out / REGISTER transactions;
//! - SRD (post-dial delay) needs the INVITE's own log line: INVITE to the
//!   first non-100 provisional or final answer, successful and failed attempts
//!   reported apart; RRD is the first REGISTER to its 2xx, challenge included.

use std::collections::BTreeMap;

use super::calls::{CallKind, CallRecord, Finalized, Flow};

/// Peers named in `by_peer`; further peers are summed under "other".
const MAX_PEERS: usize = 1000;

/// A set of response codes: exact codes and whole classes (`2xx`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeSet {
    codes: Vec<u16>,
    classes: Vec<u16>,
    text: String,
}

impl CodeSet {
    /// Parses "200,486,487" or "2xx,486".
    pub fn parse(text: &str) -> Result<CodeSet, String> {
        let mut set = CodeSet {
            codes: Vec::new(),
            classes: Vec::new(),
            text: text.to_string(),
        };
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if let Some(c) = part.strip_suffix("xx") {
                match c.parse::<u16>() {
                    Ok(d @ 1..=6) if c.len() == 1 => set.classes.push(d),
                    _ => return Err(format!("{part:?} is not a class like 2xx")),
                }
            } else {
                match part.parse::<u16>() {
                    Ok(code @ 100..=699) => set.codes.push(code),
                    _ => return Err(format!("{part:?} is not a response code 100..699")),
                }
            }
        }
        if set.codes.is_empty() && set.classes.is_empty() {
            return Err("an empty code set".into());
        }
        Ok(set)
    }

    pub fn contains(&self, code: u16) -> bool {
        self.codes.contains(&code) || self.classes.contains(&(code / 100))
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Which codes count as answered (ASR) and as effective (NER).
#[derive(Debug, Clone)]
pub struct KpiSettings {
    pub asr_codes: CodeSet,
    pub ner_codes: CodeSet,
}

impl Default for KpiSettings {
    fn default() -> Self {
        KpiSettings {
            asr_codes: CodeSet::parse("2xx").expect("valid"),
            ner_codes: CodeSet::parse("2xx,480,486,487,600,603").expect("valid"),
        }
    }
}

/// Running counters.
#[derive(Debug, Clone, Default)]
pub struct Kpis {
    /// Response lines read (duplicates included).
    pub response_lines: u64,
    /// Distinct responses (retransmissions and repeated records once).
    pub responses: u64,
    pub retransmissions: u64,
    pub requests: u64,
    pub by_code: BTreeMap<u16, u64>,
    pub by_code_method: BTreeMap<(u16, String), u64>,
    pub by_class: [u64; 7],
    pub by_peer: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Responses without a Call-ID (counted, but in no call).
    pub without_call_id: u64,
    pub flows: BTreeMap<Flow, u64>,
    pub attempts: u64,
    pub outcomes: BTreeMap<u16, u64>,
    pub timeouts: u64,
    pub completed: u64,
    pub challenges: u64,
    pub reinvites: u64,
    pub evicted: u64,
    pub register_transactions: u64,
    pub register_failures: u64,
    pub srd_ok_ms: Samples,
    pub srd_failed_ms: Samples,
    pub setup_ms: Samples,
    pub duration_ms: Samples,
    pub rrd_ms: Samples,
}

/// Samples kept per delay metric (beyond it, every other sample is dropped).
const MAX_SAMPLES: usize = 1 << 20;

/// One delay metric: every value counted and summed (so totals only grow,
/// as Prometheus counters must), at most `MAX_SAMPLES` kept for the
/// percentiles.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    kept: Vec<i64>,
    count: u64,
    sum: i64,
}

impl Samples {
    fn push(&mut self, x: i64) {
        if x < 0 {
            return;
        }
        self.count += 1;
        self.sum = self.sum.saturating_add(x);
        if self.kept.len() >= MAX_SAMPLES {
            // Thin evenly: keep every other sample, so percentiles stay fair.
            let mut i = 0;
            self.kept.retain(|_| {
                i += 1;
                i % 2 == 0
            });
        }
        self.kept.push(x);
    }
}

impl Kpis {
    /// One response line; `new` is false for a retransmission or repeat.
    pub fn response(&mut self, code: u16, method: &str, peer: &str, has_call_id: bool, new: bool) {
        self.response_lines += 1;
        if !new {
            self.retransmissions += 1;
            return;
        }
        self.responses += 1;
        if !has_call_id {
            self.without_call_id += 1;
        }
        *self.by_code.entry(code).or_default() += 1;
        *self
            .by_code_method
            .entry((code, method.to_string()))
            .or_default() += 1;
        self.by_class[usize::from(code / 100).min(6)] += 1;
        if !peer.is_empty() {
            let key = if self.by_peer.contains_key(peer) || self.by_peer.len() < MAX_PEERS {
                peer
            } else {
                "other"
            };
            *self
                .by_peer
                .entry(key.to_string())
                .or_default()
                .entry(code)
                .or_default() += 1;
        }
    }

    /// A transaction's first final answer.
    pub fn finalized(&mut self, f: Finalized) {
        if f.method_is_register {
            self.register_transactions += 1;
            if ira_failure(f.code) {
                self.register_failures += 1;
            }
        }
    }

    /// A closed call.
    pub fn call(&mut self, c: &CallRecord) {
        *self.flows.entry(c.flow).or_default() += 1;
        self.challenges += u64::from(c.challenges);
        self.reinvites += u64::from(c.reinvites);
        self.evicted += u64::from(c.evicted);
        if c.kind == CallKind::Register {
            if c.flow == Flow::Timeout && c.final_code == 0 {
                self.register_transactions += 1;
                self.register_failures += 1;
            }
            if let Some(ms) = c.rrd_ms {
                self.rrd_ms.push(ms);
            }
            return;
        }
        if c.kind != CallKind::Invite || c.flow == Flow::Incomplete || c.attempts == 0 {
            return;
        }
        self.attempts += 1;
        let outcome = if c.flow == Flow::Answered && !(200..300).contains(&c.final_code) {
            200
        } else {
            c.final_code
        };
        *self.outcomes.entry(outcome).or_default() += 1;
        if c.flow == Flow::Timeout && c.final_code == 0 {
            self.timeouts += 1;
        }
        if c.flow == Flow::Answered && (200..300).contains(&c.bye_code) {
            self.completed += 1;
        }
        if let Some(ms) = c.srd_ms {
            if c.srd_failed {
                self.srd_failed_ms.push(ms);
            } else {
                self.srd_ok_ms.push(ms);
            }
        }
        if let Some(ms) = c.setup_ms {
            self.setup_ms.push(ms);
        }
        if let Some(ms) = c.duration_ms {
            self.duration_ms.push(ms);
        }
    }

    fn outcomes_where(&self, keep: impl Fn(u16) -> bool) -> u64 {
        self.outcomes
            .iter()
            .filter(|(c, _)| keep(**c))
            .map(|(_, n)| n)
            .sum()
    }

    /// The ratios and percentiles, with what they were computed from.
    pub fn report(&self, settings: &KpiSettings) -> Report {
        let redirected = self.outcomes_where(|c| (300..400).contains(&c));
        let answered = self.outcomes_where(|c| (200..300).contains(&c));
        let seer_n = answered + self.outcomes_where(|c| matches!(c, 480 | 486 | 600 | 603));
        let isa_n = self.outcomes_where(|c| matches!(c, 408 | 500 | 503 | 504)) + self.timeouts;
        let asr_n = self.outcomes_where(|c| settings.asr_codes.contains(c));
        let ner_n = self.outcomes_where(|c| settings.ner_codes.contains(c));
        let not_redirected = self.attempts - redirected.min(self.attempts);
        let ratio = |name: &'static str, n: u64, d: u64| Ratio {
            name,
            numerator: n,
            denominator: d,
            percent: (d > 0).then(|| n as f64 * 100.0 / d as f64),
        };
        Report {
            ratios: vec![
                ratio("ser", answered, not_redirected),
                ratio("seer", seer_n, not_redirected),
                ratio("isa", isa_n, self.attempts),
                ratio("scr", self.completed, self.attempts),
                ratio("asr", asr_n, self.attempts),
                ratio("ner", ner_n, self.attempts),
                ratio("ira", self.register_failures, self.register_transactions),
            ],
            delays: vec![
                Delay::of("srd", &self.srd_ok_ms),
                Delay::of("srd_failed", &self.srd_failed_ms),
                Delay::of("setup", &self.setup_ms),
                Delay::of("duration", &self.duration_ms),
                Delay::of("rrd", &self.rrd_ms),
            ],
        }
    }
}

/// RFC 6076 §4.2: a REGISTER failure is a final 4xx other than 401, 402 and
/// 407, a 5xx or 6xx.
fn ira_failure(code: u16) -> bool {
    code >= 400 && !matches!(code, 401 | 402 | 407)
}

/// One ratio KPI.
#[derive(Debug, Clone)]
pub struct Ratio {
    pub name: &'static str,
    pub numerator: u64,
    pub denominator: u64,
    /// None when the denominator is 0.
    pub percent: Option<f64>,
}

/// One delay KPI, in milliseconds.
#[derive(Debug, Clone)]
pub struct Delay {
    pub name: &'static str,
    /// Every value counted, and their sum (the percentiles read a thinned
    /// subset beyond `MAX_SAMPLES`).
    pub samples: u64,
    pub sum: i64,
    pub mean: Option<f64>,
    /// p50, p90, p95, p99 (nearest rank).
    pub percentiles: [(u8, Option<i64>); 4],
}

impl Delay {
    fn of(name: &'static str, samples: &Samples) -> Delay {
        let mut sorted = samples.kept.clone();
        sorted.sort_unstable();
        let pick = |p: u8| -> Option<i64> {
            if sorted.is_empty() {
                return None;
            }
            let rank = (usize::from(p) * sorted.len()).div_ceil(100).max(1);
            Some(sorted[rank - 1])
        };
        Delay {
            name,
            samples: samples.count,
            sum: samples.sum,
            mean: (samples.count > 0).then(|| samples.sum as f64 / samples.count as f64),
            percentiles: [50, 90, 95, 99].map(|p| (p, pick(p))),
        }
    }
}

/// Every KPI at one moment.
#[derive(Debug, Clone)]
pub struct Report {
    pub ratios: Vec<Ratio>,
    pub delays: Vec<Delay>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_sets_parse_classes_and_codes() {
        let s = CodeSet::parse("2xx, 486,487").unwrap();
        assert!(s.contains(200) && s.contains(202) && s.contains(486) && !s.contains(603));
        assert!(CodeSet::parse("7xx").is_err());
        assert!(CodeSet::parse("abc").is_err());
        assert!(CodeSet::parse("").is_err());
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut s = Samples::default();
        (1..=100).for_each(|x| s.push(x));
        let d = Delay::of("x", &s);
        assert_eq!(d.percentiles[0], (50, Some(50)));
        assert_eq!(d.percentiles[3], (99, Some(99)));
        assert_eq!((d.samples, d.sum, d.mean), (100, 5050, Some(50.5)));
        assert_eq!(
            Delay::of("y", &Samples::default()).percentiles[0],
            (50, None)
        );
    }

    #[test]
    fn thinned_samples_keep_their_count_and_sum() {
        let mut s = Samples::default();
        let n = MAX_SAMPLES as i64 + 10;
        (0..n).for_each(|x| s.push(x % 1000));
        let d = Delay::of("big", &s);
        assert!(s.kept.len() <= MAX_SAMPLES);
        assert_eq!(d.samples, n as u64, "the count never shrinks");
        assert_eq!(d.sum, (0..n).map(|x| x % 1000).sum::<i64>());
    }

    #[test]
    fn ira_excludes_challenges() {
        assert!(!ira_failure(401) && !ira_failure(407) && !ira_failure(200));
        assert!(ira_failure(403) && ira_failure(503) && ira_failure(408));
    }
}
