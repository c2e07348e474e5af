//! Security detections keyed on the transport source address only (never on
//! From or User-Agent contents, which an attacker writes): scanner
//! User-Agents, bursts of failed authentication, extension enumeration and
//! request floods, plus the failed-authentication lines of PBX security logs.
//!
//! Each detection is a leaky bucket per source: a sighting adds one, the
//! bucket drains at `threshold / window` per second, and the detection fires
//! when the level reaches the threshold. A fired detection stays quiet for that
//! source for `suppress_secs`, counting what it suppressed. A 401/407 challenge
//! is refunded when the same Call-ID later succeeds from the same source, so a
//! client that answers its challenge never accumulates failures.
//!
//! Definitions (thresholds, MITRE ATT&CK technique, scanner User-Agents) are
//! data in `patterns/security.toml`; texts are in the knowledge base.
//! Memory is bounded by `max_sources` sources (the quietest are forgotten).

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use crate::catalog::kb::Severity;
use crate::error::{Error, Result};

/// What a security format's line may report (`detection = ...` in its TOML).
pub const LINE_KINDS: &[&str] = &[
    "auth-failure",
    "unknown-user",
    "acl-rejected",
    "flood-blocked",
];

/// The detections, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DetectionKind {
    ScannerUserAgent,
    AuthFailureBurst,
    ExtensionEnumeration,
    RequestFlood,
}

impl DetectionKind {
    pub const ALL: [DetectionKind; 4] = [
        DetectionKind::ScannerUserAgent,
        DetectionKind::AuthFailureBurst,
        DetectionKind::ExtensionEnumeration,
        DetectionKind::RequestFlood,
    ];

    /// The name in events, config and the knowledge base (`[detection.NAME]`).
    pub fn name(self) -> &'static str {
        match self {
            DetectionKind::ScannerUserAgent => "scanner-user-agent",
            DetectionKind::AuthFailureBurst => "auth-failure-burst",
            DetectionKind::ExtensionEnumeration => "extension-enumeration",
            DetectionKind::RequestFlood => "request-flood",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One detection's definition and thresholds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Sightings within `window_secs` that fire the detection.
    pub threshold: u32,
    pub window_secs: u64,
    /// MITRE ATT&CK technique id and name.
    pub mitre: String,
    pub mitre_name: String,
    pub severity: Severity,
}

/// `patterns/security.toml`, plus what the config overrides.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityRules {
    /// Case-insensitive substrings of User-Agent/Server values of scanners.
    pub scanner_user_agents: Vec<String>,
    pub detection: HashMap<String, Rule>,
    /// A fired detection is not repeated for the same source within this time.
    pub suppress_secs: u64,
    /// Sources followed at once.
    pub max_sources: usize,
    /// Sources never reported: addresses or prefixes ending in '.' or ':'
    /// ("10.0.0.", "2001:db8:").
    #[serde(default)]
    pub allow: Vec<String>,
}

impl SecurityRules {
    /// Parses and checks the rules file.
    pub fn parse(source: &str, text: &str) -> Result<SecurityRules> {
        let rules: SecurityRules = crate::catalog::kb::parse_toml(source, text)?;
        for kind in DetectionKind::ALL {
            let Some(rule) = rules.detection.get(kind.name()) else {
                return Err(Error::new(format!(
                    "{source}: [detection.{}] missing",
                    kind.name()
                )));
            };
            if rule.threshold == 0 || rule.window_secs == 0 {
                return Err(Error::new(format!(
                    "{source}: [detection.{}]: threshold and window_secs must be at least 1",
                    kind.name()
                )));
            }
        }
        if let Some(name) = rules
            .detection
            .keys()
            .find(|k| !DetectionKind::ALL.iter().any(|d| d.name() == k.as_str()))
        {
            return Err(Error::new(format!(
                "{source}: [detection.{name}] is not a known detection"
            )));
        }
        Ok(rules)
    }

    fn rule(&self, kind: DetectionKind) -> &Rule {
        &self.detection[kind.name()]
    }

    fn allowed(&self, addr: &str) -> bool {
        self.allow.iter().any(|a| {
            if a.ends_with(['.', ':']) {
                addr.starts_with(a.as_str())
            } else {
                addr == a
            }
        })
    }
}

/// What one log line told the detector.
#[derive(Debug, Clone, Copy, Default)]
pub struct Signal<'a> {
    /// The transport address of the party that sent the request (IP, no port).
    pub source: &'a str,
    pub at_ms: i64,
    pub call_id: &'a str,
    pub method: &'a str,
    /// The response code (0: a request, or a security line).
    pub code: u16,
    /// The user part the request addressed (To user), for enumeration.
    pub user: &'a str,
    pub user_agent: &'a str,
    /// A security line's kind (`auth-failure`, ...), else "".
    pub line_kind: &'a str,
    pub input: &'a str,
    pub line: u64,
}

/// A fired detection.
#[derive(Debug, Clone)]
pub struct Detection {
    pub kind: DetectionKind,
    pub source: String,
    /// The bucket's level when it fired (sightings within about one window).
    pub count: u32,
    /// Sightings from this source for this detection since it was first seen.
    pub total: u64,
    /// Sightings suppressed since the last report.
    pub suppressed: u64,
    pub first_ms: i64,
    pub last_ms: i64,
    /// What the last sighting was (`401 REGISTER`, `auth-failure`, the User-Agent).
    pub evidence: String,
    pub input: String,
    pub line: u64,
}

#[derive(Debug, Default, Clone)]
struct Bucket {
    level: f64,
    last_ms: i64,
    first_ms: i64,
    total: u64,
    suppressed: u64,
    fired_ms: Option<i64>,
}

#[derive(Debug, Default)]
struct SourceState {
    buckets: [Bucket; 4],
    /// Distinct users addressed in the current enumeration window.
    users: HashSet<String>,
    users_since_ms: i64,
    /// Call-IDs challenged (401/407) and not yet answered, with their count.
    challenged: HashMap<String, u32>,
    last_ms: i64,
}

/// Per-source detector state.
#[derive(Debug)]
pub struct Detector {
    rules: SecurityRules,
    sources: HashMap<String, SourceState>,
    /// Sources forgotten because `max_sources` was reached.
    pub forgotten: u64,
    /// Detections fired, by kind.
    pub fired: [u64; 4],
}

/// Challenged Call-IDs remembered per source.
const MAX_CHALLENGED: usize = 4096;

impl Detector {
    /// New rules (a reload); what each source did so far is kept.
    pub fn set_rules(&mut self, rules: SecurityRules) {
        self.rules = rules;
    }

    pub fn new(rules: SecurityRules) -> Detector {
        Detector {
            rules,
            sources: HashMap::new(),
            forgotten: 0,
            fired: [0; 4],
        }
    }

    pub fn rules(&self) -> &SecurityRules {
        &self.rules
    }

    /// Feeds one sighting; fired detections go to `out`.
    pub fn observe(&mut self, s: &Signal<'_>, out: &mut Vec<Detection>) {
        if s.source.is_empty() || self.rules.allowed(s.source) {
            return;
        }
        if !self.sources.contains_key(s.source) && self.sources.len() >= self.rules.max_sources {
            self.forget_quietest();
        }
        let rules = &self.rules;
        let state = self.sources.entry(s.source.to_string()).or_default();
        state.last_ms = s.at_ms;
        // Which detections this sighting feeds, by `DetectionKind::index`.
        let mut hits = [false; 4];
        if !s.user_agent.is_empty() && is_scanner(&rules.scanner_user_agents, s.user_agent) {
            hits[DetectionKind::ScannerUserAgent.index()] = true;
        }
        // Failed authentication, net of challenges a retry answered.
        let is_request_answer = matches!(
            s.method,
            "REGISTER" | "INVITE" | "SUBSCRIBE" | "MESSAGE" | "OPTIONS" | ""
        );
        match (s.code, s.line_kind) {
            (401 | 407, _) if is_request_answer => {
                hits[DetectionKind::AuthFailureBurst.index()] = true;
                if !s.call_id.is_empty() && state.challenged.len() < MAX_CHALLENGED {
                    *state.challenged.entry(s.call_id.to_string()).or_default() += 1;
                }
            }
            (403, _) if matches!(s.method, "REGISTER" | "INVITE") => {
                hits[DetectionKind::AuthFailureBurst.index()] = true
            }
            (200..=299, _) if !s.call_id.is_empty() => {
                if let Some(n) = state.challenged.remove(s.call_id) {
                    let b = &mut state.buckets[DetectionKind::AuthFailureBurst.index()];
                    b.level = (b.level - f64::from(n)).max(0.0);
                }
            }
            (_, "auth-failure" | "acl-rejected") => {
                hits[DetectionKind::AuthFailureBurst.index()] = true
            }
            _ => {}
        }
        // Enumeration: distinct users asked for within the window.
        let enumerating = (s.code == 0 && !s.user.is_empty())
            || s.line_kind == "unknown-user"
            || (matches!(s.code, 401 | 403 | 404 | 407 | 484) && !s.user.is_empty());
        if enumerating {
            let window = rules.rule(DetectionKind::ExtensionEnumeration).window_secs as i64 * 1000;
            if s.at_ms - state.users_since_ms > window {
                state.users.clear();
                state.users_since_ms = s.at_ms;
            }
            let cap = rules.rule(DetectionKind::ExtensionEnumeration).threshold as usize + 1;
            if state.users.len() < cap && !state.users.contains(s.user) {
                state.users.insert(s.user.to_string());
                hits[DetectionKind::ExtensionEnumeration.index()] = true;
            }
        }
        // Floods: requests (or, where only answers are logged, answers to them).
        let counts_as_request = if s.code == 0 {
            s.line_kind.is_empty() && !s.method.is_empty()
        } else {
            s.code >= 200 && !matches!(s.method, "ACK" | "BYE" | "CANCEL" | "PRACK")
        };
        // The PBX's own flood protection (Kamailio's pike) blocked the source:
        // that is the verdict, no bucket needed.
        let blocked = s.line_kind == "flood-blocked";
        hits[DetectionKind::RequestFlood.index()] = blocked
            || counts_as_request
                && matches!(
                    s.method,
                    "REGISTER" | "INVITE" | "OPTIONS" | "SUBSCRIBE" | "MESSAGE"
                );

        for kind in DetectionKind::ALL {
            if !hits[kind.index()] {
                continue;
            }
            let rule = rules.rule(kind);
            let b = &mut state.buckets[kind.index()];
            let fired = if kind == DetectionKind::ExtensionEnumeration {
                b.total += 1;
                if b.total == 1 {
                    b.first_ms = s.at_ms;
                }
                b.level = state.users.len() as f64;
                b.last_ms = s.at_ms;
                b.level >= f64::from(rule.threshold)
            } else if kind == DetectionKind::RequestFlood && blocked {
                leak_and_add(b, rule, s.at_ms);
                b.level = b.level.max(f64::from(rule.threshold));
                true
            } else {
                leak_and_add(b, rule, s.at_ms)
            };
            if !fired {
                continue;
            }
            let suppress = rules.suppress_secs as i64 * 1000;
            if b.fired_ms.is_some_and(|t| s.at_ms - t < suppress) {
                b.suppressed += 1;
                continue;
            }
            b.fired_ms = Some(s.at_ms);
            self.fired[kind.index()] += 1;
            out.push(Detection {
                kind,
                source: s.source.to_string(),
                count: b.level.round() as u32,
                total: b.total,
                suppressed: std::mem::take(&mut b.suppressed),
                first_ms: b.first_ms,
                last_ms: s.at_ms,
                evidence: evidence(kind, s),
                input: s.input.to_string(),
                line: s.line,
            });
        }
    }

    fn forget_quietest(&mut self) {
        let n = (self.rules.max_sources / 16).max(1);
        let mut order: Vec<(i64, String)> = self
            .sources
            .iter()
            .map(|(k, v)| (v.last_ms, k.clone()))
            .collect();
        order.sort();
        for (_, key) in order.into_iter().take(n) {
            self.sources.remove(&key);
            self.forgotten += 1;
        }
    }
}

/// Drains the bucket for the time since its last sighting, adds one; true
/// when it reached the threshold.
fn leak_and_add(b: &mut Bucket, rule: &Rule, at_ms: i64) -> bool {
    let rate_per_ms = f64::from(rule.threshold) / (rule.window_secs as f64 * 1000.0);
    if b.total == 0 {
        b.first_ms = at_ms;
    } else {
        let elapsed = (at_ms - b.last_ms).max(0) as f64;
        b.level = (b.level - elapsed * rate_per_ms).max(0.0);
    }
    b.last_ms = at_ms;
    b.total += 1;
    b.level += 1.0;
    b.level >= f64::from(rule.threshold) - 1e-9
}

fn is_scanner(agents: &[String], ua: &str) -> bool {
    agents.iter().any(|a| {
        ua.as_bytes()
            .windows(a.len())
            .any(|w| w.eq_ignore_ascii_case(a.as_bytes()))
    })
}

fn evidence(kind: DetectionKind, s: &Signal<'_>) -> String {
    let what = if !s.line_kind.is_empty() {
        s.line_kind.to_string()
    } else if s.code == 0 {
        s.method.to_string()
    } else {
        format!("{} {}", s.code, s.method).trim_end().to_string()
    };
    match kind {
        DetectionKind::ScannerUserAgent => s.user_agent.chars().take(128).collect(),
        DetectionKind::ExtensionEnumeration if !s.user.is_empty() => {
            format!(
                "{what} for user {}",
                s.user.chars().take(64).collect::<String>()
            )
        }
        _ => what,
    }
}

/// The IP address of a peer as logs write it (`UDP:1.2.3.4:5060`,
/// `[2001:db8::1]:5060`, `1.2.3.4`), without port or transport; None for
/// anything that is not an IP address (host names, hostile text).
pub fn source_ip(peer: &str) -> Option<String> {
    // Only a real address: a detection may end in a firewall rule.
    crate::format::siem::split_peer(peer)
        .map(|p| p.ip)
        .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> SecurityRules {
        SecurityRules::parse(
            "patterns/security.toml",
            include_str!("../../patterns/security.toml"),
        )
        .unwrap()
    }

    fn signal<'a>(source: &'a str, code: u16, call_id: &'a str, at_ms: i64) -> Signal<'a> {
        Signal {
            source,
            at_ms,
            call_id,
            method: "REGISTER",
            code,
            ..Signal::default()
        }
    }

    #[test]
    fn answered_challenges_never_add_up() {
        let mut d = Detector::new(rules());
        let mut out = Vec::new();
        let ids: Vec<String> = (0..200).map(|i| format!("reg{i}")).collect();
        for (i, id) in ids.iter().enumerate() {
            let t = i as i64 * 100;
            d.observe(&signal("10.0.0.3", 401, id, t), &mut out);
            d.observe(&signal("10.0.0.3", 200, id, t + 10), &mut out);
        }
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn unanswered_challenges_fire_once_then_suppress() {
        let mut d = Detector::new(rules());
        let mut out = Vec::new();
        let threshold = rules().detection["auth-failure-burst"].threshold as usize;
        let ids: Vec<String> = (0..threshold * 3).map(|i| format!("c{i}")).collect();
        for (i, id) in ids.iter().enumerate() {
            d.observe(&signal("10.0.0.2", 401, id, i as i64 * 10), &mut out);
        }
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].kind, DetectionKind::AuthFailureBurst);
        assert_eq!(out[0].source, "10.0.0.2");
        // The bucket leaks a little between sightings 10 ms apart.
        let count = out[0].count as usize;
        assert!(count == threshold || count == threshold + 1, "{count}");
        assert_eq!(d.fired[DetectionKind::AuthFailureBurst.index()], 1);
    }

    #[test]
    fn scanner_agent_and_allow_list() {
        let mut r = rules();
        r.allow.push("192.0.2.".into());
        let mut d = Detector::new(r);
        let mut out = Vec::new();
        let mut s = signal("192.0.2.9", 0, "x", 0);
        s.user_agent = "friendly-scanner";
        d.observe(&s, &mut out);
        assert!(out.is_empty(), "allowed source");
        s.source = "198.51.100.7";
        s.user_agent = "SIPVicious 0.3.3";
        d.observe(&s, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, DetectionKind::ScannerUserAgent);
    }

    #[test]
    fn enumeration_counts_distinct_users() {
        let mut d = Detector::new(rules());
        let mut out = Vec::new();
        let users: Vec<String> = (100..400).map(|u| u.to_string()).collect();
        for (i, u) in users.iter().enumerate() {
            let mut s = signal("10.9.9.9", 404, "", i as i64);
            s.method = "OPTIONS";
            s.user = u;
            d.observe(&s, &mut out);
        }
        let kinds: Vec<_> = out.iter().map(|d| d.kind).collect();
        assert!(
            kinds.contains(&DetectionKind::ExtensionEnumeration),
            "{kinds:?}"
        );
        // The same user again and again is not enumeration.
        let mut d = Detector::new(rules());
        let mut out = Vec::new();
        for i in 0..300 {
            let mut s = signal("10.9.9.8", 404, "", i);
            s.method = "OPTIONS";
            s.user = "100";
            d.observe(&s, &mut out);
        }
        assert!(!out
            .iter()
            .any(|d| d.kind == DetectionKind::ExtensionEnumeration));
    }

    #[test]
    fn source_ip_drops_port_and_transport() {
        assert_eq!(source_ip("UDP:10.0.0.1:5060").as_deref(), Some("10.0.0.1"));
        assert_eq!(
            source_ip("[2001:db8::1]:5061").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(source_ip("10.0.0.1").as_deref(), Some("10.0.0.1"));
        assert_eq!(source_ip("10.0.0.1 x=1"), None);
        assert_eq!(source_ip("pbx.example.com:5060"), None);
    }
}
