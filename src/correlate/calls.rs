//! Follows calls and registrations by Call-ID and closes each into one
//! `CallRecord`: its flow (answered, busy, abandoned, ...), a compact ladder
//! (`INVITE>100>183>486`), its final answer and its timings.
//!
//! Input is what the log shows: responses always, requests only where the log
//! dumps whole messages. A transaction is (method, CSeq) when the log gives a
//! CSeq, else the method alone (Kamailio acc records). A response seen again
//! for the same transaction with the same code is a retransmission or a second
//! log record of the same answer (acc writes `call missed` and `transaction
//! answered` for one 404): it is counted once.
//!
//! Time is the log's own clock (the newest timestamp seen), so a night's log
//! read in a second closes its calls exactly as they closed that night. A call
//! closes when it has been quiet for its state's deadline (a few seconds after
//! a final answer, to absorb ACKs and duplicate records; Timer B for an INVITE
//! without an answer; the session TTL for an answered call without BYE), when
//! the table is full (the oldest are evicted and counted), or at end of input.
//!
//! Invariants: memory is bounded by `max_calls` calls of at most
//! `MAX_LADDER` steps and `MAX_TRANSACTIONS` remembered transactions each.

use std::collections::HashMap;

/// Steps kept in a ladder; later steps are counted, not shown.
pub const MAX_LADDER: usize = 32;
/// Transactions remembered per call for de-duplication.
const MAX_TRANSACTIONS: usize = 16;
/// RFC 3261 Timer B (64 × T1): an INVITE without a final answer by then timed out.
pub const TIMER_B_MS: i64 = 32_000;

/// Limits of the call table.
#[derive(Debug, Clone, Copy)]
pub struct CallSettings {
    /// Calls followed at once; the least recently active are evicted beyond.
    pub max_calls: usize,
    /// An answered call without a BYE closes after this much quiet log time.
    pub session_ttl_ms: i64,
    /// A call with its final answer closes after this much quiet log time.
    pub linger_ms: i64,
}

impl Default for CallSettings {
    fn default() -> Self {
        CallSettings {
            max_calls: 100_000,
            session_ttl_ms: 4 * 3600 * 1000,
            linger_ms: 4_000,
        }
    }
}

/// What one log line told about a call.
#[derive(Debug, Clone, Copy)]
pub struct Sighting<'a> {
    pub input: &'a str,
    pub line: u64,
    pub call_id: &'a str,
    pub method: &'a str,
    pub cseq: Option<u32>,
    /// Top Via branch, empty when the log does not show it.
    pub branch: &'a str,
    /// A B2BUA link header's value, empty when none.
    pub link: &'a str,
    /// Whether the logger received the message (None: the log does not say).
    pub inbound: Option<bool>,
    /// 0 for a request.
    pub code: u16,
    pub reason: &'a str,
    /// Log time in milliseconds, if the line had a usable timestamp.
    pub at_ms: Option<i64>,
    /// The response carried SDP (early media on a 183).
    pub sdp: bool,
    /// The far end of the message (the sender of a request, the receiver of a
    /// response we sent, ...), as the log names it.
    pub remote: &'a str,
    pub src: &'a str,
    pub dst: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub user_agent: &'a str,
}

/// How a call ended, as a small set operators recognise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flow {
    Answered,
    Busy,
    Declined,
    Abandoned,
    Redirected,
    EarlyMediaFailure,
    Glare,
    AuthFailed,
    Rejected,
    Failed,
    Timeout,
    Registered,
    RegistrationFailed,
    Incomplete,
}

impl Flow {
    /// Every flow, in report order.
    pub const ALL: [Flow; 14] = [
        Flow::Answered,
        Flow::Busy,
        Flow::Declined,
        Flow::Abandoned,
        Flow::Redirected,
        Flow::EarlyMediaFailure,
        Flow::Glare,
        Flow::AuthFailed,
        Flow::Rejected,
        Flow::Failed,
        Flow::Timeout,
        Flow::Registered,
        Flow::RegistrationFailed,
        Flow::Incomplete,
    ];

    /// The flow's name in events and in the knowledge base (`[flow.NAME]`).
    pub fn name(self) -> &'static str {
        match self {
            Flow::Answered => "answered",
            Flow::Busy => "busy",
            Flow::Declined => "declined",
            Flow::Abandoned => "abandoned",
            Flow::Redirected => "redirected",
            Flow::EarlyMediaFailure => "early-media-then-failure",
            Flow::Glare => "glare",
            Flow::AuthFailed => "auth-failed",
            Flow::Rejected => "rejected",
            Flow::Failed => "failed",
            Flow::Timeout => "timeout",
            Flow::Registered => "registered",
            Flow::RegistrationFailed => "registration-failed",
            Flow::Incomplete => "incomplete",
        }
    }
}

/// What kind of dialog or transaction sequence a Call-ID carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    Invite,
    Register,
    Other,
}

/// A closed call, ready to be reported and counted.
#[derive(Debug, Clone)]
pub struct CallRecord {
    pub input: String,
    pub line: u64,
    pub call_id: String,
    pub kind: CallKind,
    pub flow: Flow,
    pub ladder: String,
    /// The final answer that decided the flow (0: none).
    pub final_code: u16,
    pub final_reason: String,
    pub started_ms: Option<i64>,
    pub ended_ms: Option<i64>,
    /// INVITE to the first non-100 provisional or final answer (RFC 6076 SRD).
    pub srd_ms: Option<i64>,
    /// That first answer was a failure (3xx-6xx), not a provisional or 2xx:
    /// RFC 6076 reports such SRDs apart.
    pub srd_failed: bool,
    /// INVITE to 200 OK.
    pub setup_ms: Option<i64>,
    /// 200 OK to BYE (RFC 6076 SDT).
    pub duration_ms: Option<i64>,
    /// First REGISTER to its successful final answer (RFC 6076 RRD).
    pub rrd_ms: Option<i64>,
    /// Initial INVITE (or REGISTER) transactions, challenges included.
    pub attempts: u32,
    pub challenges: u32,
    pub redirects: u32,
    pub reinvites: u32,
    pub retransmissions: u32,
    pub early_media: bool,
    pub prack: bool,
    pub cancelled: bool,
    /// The BYE's final answer (0: no BYE answered in the log).
    pub bye_code: u16,
    pub remote: String,
    pub src: String,
    pub dst: String,
    pub from: String,
    pub to: String,
    pub user_agent: String,
    /// Closed because the table was full, not because the call ended.
    pub evicted: bool,
    /// The B2BUA link value (X-CID, P-Charging-Vector icid) this call carried.
    pub link: String,
    /// Other calls seen with the same link value: the other legs.
    pub linked: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Transaction {
    method: String,
    cseq: Option<u32>,
    /// Every answer so far: code and a hash of its To tag (0: none). The
    /// same code again is a repeat, unless both carry different tags: that
    /// is another branch of a forked call answering (two phones ringing).
    codes: Vec<(u16, u64)>,
    request_seen: bool,
    final_code: u16,
    /// Via branches seen for this transaction (a proxy's log shows one per
    /// hop), at most `MAX_BRANCHES`.
    branches: Vec<String>,
    /// The far end of the first request seen (who sent it, or who got it),
    /// and whether it came in.
    request_remote: String,
    request_inbound: Option<bool>,
}

const MAX_BRANCHES: usize = 4;
/// Distinct answers remembered per transaction (forks included).
const MAX_ANSWERS: usize = 16;

/// A non-zero hash of a To tag.
fn tag_hash(tag: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    tag.hash(&mut h);
    h.finish().max(1)
}

impl Transaction {
    fn knows(&self, branch: &str) -> bool {
        self.branches.iter().any(|b| b == branch)
    }

    fn learn(&mut self, branch: &str) {
        if !branch.is_empty() && !self.knows(branch) && self.branches.len() < MAX_BRANCHES {
            self.branches.push(branch.to_string());
        }
    }
}

#[derive(Debug)]
struct Call {
    rec: CallRecord,
    last_ms: Option<i64>,
    /// Order of last activity, for eviction.
    touched: u64,
    txs: Vec<Transaction>,
    ladder_steps: usize,
    invite_ms: Option<i64>,
    register_ms: Option<i64>,
    /// An initial INVITE got a 2xx.
    answered: bool,
    /// When, if that 2xx had a usable timestamp.
    answered_ms: Option<i64>,
    /// The answered INVITE's CSeq, to tell re-INVITEs from retries.
    answered_cseq: Option<u32>,
    /// Final answer of the last initial INVITE or REGISTER transaction.
    outcome: u16,
    outcome_reason: String,
}

/// Something a transaction told the KPI counters once, when it got its final answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finalized {
    pub method_is_register: bool,
    pub code: u16,
}

/// The table of open calls.
#[derive(Debug)]
pub struct CallTable {
    settings: CallSettings,
    calls: HashMap<String, Call>,
    clock_ms: Option<i64>,
    last_sweep_ms: i64,
    touches: u64,
    /// Calls evicted because the table was full.
    pub evicted: u64,
    /// Responses seen again for a transaction that already had that code.
    pub retransmissions: u64,
    /// B2BUA link groups by link value (at most one per open call).
    links: HashMap<String, LinkGroup>,
}

/// The calls that carried one link value.
#[derive(Debug, Default)]
struct LinkGroup {
    /// At most `MAX_LINKED`.
    members: Vec<String>,
    /// Members not closed yet.
    open: u32,
}

/// Legs remembered per link value.
const MAX_LINKED: usize = 8;

impl CallTable {
    pub fn new(settings: CallSettings) -> CallTable {
        CallTable {
            settings,
            calls: HashMap::new(),
            links: HashMap::new(),
            clock_ms: None,
            last_sweep_ms: i64::MIN,
            touches: 0,
            evicted: 0,
            retransmissions: 0,
        }
    }

    /// Calls open now.
    pub fn open_calls(&self) -> usize {
        self.calls.len()
    }

    /// The log clock: the newest timestamp seen.
    pub fn clock_ms(&self) -> Option<i64> {
        self.clock_ms
    }

    /// Records one sighting. Returns whether it was new (not a retransmission
    /// or duplicate record); `finalized` receives a transaction's first final
    /// answer; `closed` receives calls whose time is up.
    pub fn observe(
        &mut self,
        s: &Sighting<'_>,
        finalized: &mut Vec<Finalized>,
        closed: &mut Vec<CallRecord>,
    ) -> bool {
        if let Some(t) = s.at_ms {
            if self.clock_ms.is_none_or(|c| t > c) {
                self.clock_ms = Some(t);
            }
            self.sweep(closed);
        }
        if s.call_id.is_empty() {
            return true;
        }
        if !self.calls.contains_key(s.call_id) && self.calls.len() >= self.settings.max_calls {
            self.evict_oldest(closed);
        }
        self.touches += 1;
        let touched = self.touches;
        let call = self
            .calls
            .entry(s.call_id.to_string())
            .or_insert_with(|| Call::new(s));
        call.touched = touched;
        if s.at_ms.is_some() {
            call.last_ms = s.at_ms;
        }
        let new = call.apply(s, finalized);
        if !new {
            self.retransmissions += 1;
            call.rec.retransmissions += 1;
        }
        if !s.link.is_empty() && call.rec.link.is_empty() {
            call.rec.link.push_str(s.link);
            self.join_link(s.call_id, s.link);
        }
        new
    }

    /// New limits; open calls keep their state.
    pub fn reconfigure(&mut self, settings: CallSettings) {
        self.settings = settings;
    }

    /// Moves the clock on without a new record (the daemon, when every log
    /// has been quiet: what the log would have said had time gone on) and
    /// closes the calls that are due.
    pub fn advance(&mut self, now_ms: i64, closed: &mut Vec<CallRecord>) {
        if self.clock_ms.is_some_and(|c| now_ms > c) {
            self.clock_ms = Some(now_ms);
            self.sweep(closed);
        }
    }

    /// Closes every open call (end of input).
    pub fn finish(&mut self, closed: &mut Vec<CallRecord>) {
        let mut all: Vec<Call> = self.calls.drain().map(|(_, c)| c).collect();
        all.sort_by_key(|c| c.touched);
        let clock = self.clock_ms;
        for c in all {
            let record = self.release(c, clock, false);
            closed.push(record);
        }
    }

    /// Puts a call in the group of its link value; a link that names a
    /// Call-ID in the table (X-CID) brings that call into the group too.
    fn join_link(&mut self, call_id: &str, link: &str) {
        if link.is_empty() || self.links.len() >= self.settings.max_calls {
            return;
        }
        let mut members = vec![call_id.to_string()];
        if link != call_id {
            if let Some(other) = self.calls.get_mut(link) {
                if other.rec.link.is_empty() {
                    other.rec.link.push_str(link);
                    members.push(link.to_string());
                }
            }
        }
        let group = self.links.entry(link.to_string()).or_default();
        for m in members {
            if !group.members.contains(&m) && group.members.len() < MAX_LINKED {
                group.members.push(m);
                group.open += 1;
            }
        }
    }

    /// Closes a call that left the table; its record names the other legs
    /// of its link group, and the group goes once its last call closed.
    fn release(&mut self, call: Call, clock: Option<i64>, evicted: bool) -> CallRecord {
        let mut record = call.close(clock, evicted);
        if record.link.is_empty() {
            return record;
        }
        if let Some(group) = self.links.get_mut(&record.link) {
            record.linked = group
                .members
                .iter()
                .filter(|m| **m != record.call_id)
                .cloned()
                .collect();
            if group.members.contains(&record.call_id) {
                group.open = group.open.saturating_sub(1);
            }
            if group.open == 0 {
                self.links.remove(&record.link);
            }
        }
        record
    }

    fn sweep(&mut self, closed: &mut Vec<CallRecord>) {
        let Some(now) = self.clock_ms else { return };
        if now.saturating_sub(self.last_sweep_ms) < 1000 {
            return;
        }
        self.last_sweep_ms = now;
        let settings = self.settings;
        let mut due: Vec<(u64, String)> = self
            .calls
            .iter()
            .filter(|(_, c)| c.last_ms.is_some_and(|t| now - t >= c.deadline(&settings)))
            .map(|(k, c)| (c.touched, k.clone()))
            .collect();
        due.sort();
        for (_, key) in due {
            if let Some(call) = self.calls.remove(&key) {
                let record = self.release(call, Some(now), false);
                closed.push(record);
            }
        }
    }

    fn evict_oldest(&mut self, closed: &mut Vec<CallRecord>) {
        let n = (self.settings.max_calls / 16).max(1);
        let mut order: Vec<(u64, String)> = self
            .calls
            .iter()
            .map(|(k, c)| (c.touched, k.clone()))
            .collect();
        order.sort();
        for (_, key) in order.into_iter().take(n) {
            if let Some(call) = self.calls.remove(&key) {
                self.evicted += 1;
                let record = self.release(call, self.clock_ms, true);
                closed.push(record);
            }
        }
    }
}

fn is_provisional(code: u16) -> bool {
    (100..200).contains(&code)
}

impl Call {
    fn new(s: &Sighting<'_>) -> Call {
        let kind = match s.method {
            "INVITE" => CallKind::Invite,
            "REGISTER" => CallKind::Register,
            _ => CallKind::Other,
        };
        Call {
            rec: CallRecord {
                input: s.input.to_string(),
                line: s.line,
                call_id: s.call_id.to_string(),
                kind,
                flow: Flow::Incomplete,
                ladder: String::new(),
                final_code: 0,
                final_reason: String::new(),
                started_ms: s.at_ms,
                ended_ms: s.at_ms,
                srd_ms: None,
                srd_failed: false,
                setup_ms: None,
                duration_ms: None,
                rrd_ms: None,
                attempts: 0,
                challenges: 0,
                redirects: 0,
                reinvites: 0,
                retransmissions: 0,
                early_media: false,
                prack: false,
                cancelled: false,
                bye_code: 0,
                remote: s.remote.to_string(),
                src: s.src.to_string(),
                dst: s.dst.to_string(),
                from: s.from.to_string(),
                to: s.to.to_string(),
                user_agent: s.user_agent.to_string(),
                evicted: false,
                link: String::new(),
                linked: Vec::new(),
            },
            last_ms: s.at_ms,
            touched: 0,
            txs: Vec::new(),
            ladder_steps: 0,
            invite_ms: None,
            register_ms: None,
            answered: false,
            answered_ms: None,
            answered_cseq: None,
            outcome: 0,
            outcome_reason: String::new(),
        }
    }

    fn step(&mut self, label: &str) {
        self.ladder_steps += 1;
        if self.ladder_steps > MAX_LADDER {
            return;
        }
        if !self.rec.ladder.is_empty() {
            self.rec.ladder.push('>');
        }
        self.rec.ladder.push_str(label);
    }

    /// Applies one sighting; false when it repeats what was already seen.
    fn apply(&mut self, s: &Sighting<'_>, finalized: &mut Vec<Finalized>) -> bool {
        if self.rec.kind == CallKind::Other {
            match s.method {
                "INVITE" => self.rec.kind = CallKind::Invite,
                "REGISTER" => self.rec.kind = CallKind::Register,
                _ => {}
            }
        }
        for (field, value) in [
            (&mut self.rec.remote, s.remote),
            (&mut self.rec.src, s.src),
            (&mut self.rec.dst, s.dst),
            (&mut self.rec.from, s.from),
            (&mut self.rec.to, s.to),
            (&mut self.rec.user_agent, s.user_agent),
        ] {
            if field.is_empty() && !value.is_empty() {
                field.push_str(value);
            }
        }
        if self.rec.started_ms.is_none() {
            self.rec.started_ms = s.at_ms;
        }
        if s.at_ms.is_some() {
            self.rec.ended_ms = s.at_ms;
        }
        let method = if s.method.is_empty() { "?" } else { s.method };
        let idx = match self.transaction_of(method, s) {
            Some(i) => i,
            None => {
                if self.txs.len() == MAX_TRANSACTIONS {
                    self.txs.remove(0);
                }
                self.txs.push(Transaction {
                    method: method.to_string(),
                    cseq: s.cseq,
                    codes: Vec::new(),
                    request_seen: false,
                    final_code: 0,
                    branches: Vec::new(),
                    request_remote: String::new(),
                    request_inbound: None,
                });
                self.txs.len() - 1
            }
        };
        self.txs[idx].learn(s.branch);
        if s.code == 0 {
            // A request: a retransmission if this transaction already had it.
            if self.txs[idx].request_seen {
                return false;
            }
            self.txs[idx].request_seen = true;
            self.txs[idx].request_remote.push_str(s.remote);
            self.txs[idx].request_inbound = s.inbound;
            self.request(method, s);
            self.step(method);
            return true;
        }
        let tx = &mut self.txs[idx];
        let tag = crate::format::siem::tag_of(s.to).map_or(0, tag_hash);
        let repeat = tx
            .codes
            .iter()
            .any(|&(c, t)| c == s.code && (t == tag || t == 0 || tag == 0));
        if repeat || tx.codes.len() >= MAX_ANSWERS {
            return false;
        }
        let first_response = tx.codes.is_empty();
        let request_seen = tx.request_seen;
        let previous_final = tx.final_code;
        tx.codes.push((s.code, tag));
        if !is_provisional(s.code) && previous_final == 0 {
            tx.final_code = s.code;
        }
        if first_response && !request_seen {
            // The log shows only answers: put the request's method first.
            self.begin_transaction(method, s);
            self.step(method);
        }
        self.response(method, s, previous_final, finalized);
        let mut label = s.code.to_string();
        if s.code == 183 && s.sdp {
            label.push_str("+sdp");
        }
        self.step(&label);
        true
    }

    /// The transaction a message belongs to: the newest with its method and
    /// CSeq, unless the message is a request from the same far end (address
    /// and direction) with a Via branch that transaction never had, after it
    /// was answered: that is a new request reusing the CSeq (a password
    /// guesser re-sending one REGISTER with new credentials), not a
    /// retransmission. Any other new branch is the same request at another
    /// hop (a proxy's log shows both legs, and a proxy answers a CANCEL
    /// before it forwards it), and a response always joins the newest match,
    /// so one answer relayed by a proxy counts once.
    fn transaction_of(&self, method: &str, s: &Sighting<'_>) -> Option<usize> {
        let same = |t: &Transaction| t.method == method && t.cseq == s.cseq;
        if !s.branch.is_empty() {
            if let Some(i) = self.txs.iter().rposition(|t| same(t) && t.knows(s.branch)) {
                return Some(i);
            }
        }
        let i = self.txs.iter().rposition(same)?;
        let t = &self.txs[i];
        let reused = s.code == 0
            && !s.branch.is_empty()
            && !t.branches.is_empty()
            && t.final_code != 0
            && t.request_remote == s.remote
            && t.request_inbound == s.inbound;
        (!reused).then_some(i)
    }

    /// A new transaction (its request seen, or implied by its first answer).
    fn begin_transaction(&mut self, method: &str, s: &Sighting<'_>) {
        match method {
            "INVITE" => {
                if self.is_reinvite(s.cseq, true) {
                    self.rec.reinvites += 1;
                } else {
                    self.rec.attempts += 1;
                    if self.invite_ms.is_none() && s.code == 0 {
                        self.invite_ms = s.at_ms;
                    }
                }
            }
            "REGISTER" => {
                self.rec.attempts += 1;
                if self.register_ms.is_none() && s.code == 0 {
                    self.register_ms = s.at_ms;
                }
            }
            "CANCEL" => self.rec.cancelled = true,
            "PRACK" => self.rec.prack = true,
            _ => {}
        }
    }

    /// Whether an INVITE transaction with `cseq` comes after the answered one
    /// (a re-INVITE); `unknown` decides when either CSeq is missing.
    fn is_reinvite(&self, cseq: Option<u32>, unknown: bool) -> bool {
        self.answered
            && match (self.answered_cseq, cseq) {
                (Some(a), Some(c)) => c > a,
                _ => unknown,
            }
    }

    /// The session's duration ends at the BYE (its request if logged, else its answer).
    fn bye_at(&mut self, at_ms: Option<i64>) {
        if self.rec.duration_ms.is_none() {
            if let (Some(a), Some(t)) = (self.answered_ms, at_ms) {
                self.rec.duration_ms = Some(t - a);
            }
        }
    }

    fn request(&mut self, method: &str, s: &Sighting<'_>) {
        self.begin_transaction(method, s);
        if method == "BYE" {
            self.bye_at(s.at_ms);
        }
    }

    fn response(
        &mut self,
        method: &str,
        s: &Sighting<'_>,
        previous_final: u16,
        finalized: &mut Vec<Finalized>,
    ) {
        let code = s.code;
        let reinvite = method == "INVITE" && self.is_reinvite(s.cseq, code != 200);
        if !is_provisional(code) && previous_final == 0 && !reinvite {
            finalized.push(Finalized {
                method_is_register: method == "REGISTER",
                code,
            });
        }
        match method {
            "INVITE" if !reinvite => {
                if code == 183 && s.sdp {
                    self.rec.early_media = true;
                }
                if code != 100 && self.rec.srd_ms.is_none() {
                    if let (Some(i), Some(t)) = (self.invite_ms, s.at_ms) {
                        self.rec.srd_ms = Some(t - i);
                        self.rec.srd_failed = code >= 300;
                    }
                }
                if is_provisional(code) {
                    return;
                }
                match code {
                    401 | 407 => self.rec.challenges += 1,
                    300..=399 => self.rec.redirects += 1,
                    _ => {}
                }
                if (200..300).contains(&code) {
                    if !self.answered {
                        self.answered = true;
                        self.answered_ms = s.at_ms;
                        self.answered_cseq = s.cseq;
                        if let (Some(i), Some(t)) = (self.invite_ms, s.at_ms) {
                            self.rec.setup_ms = Some(t - i);
                        }
                    }
                } else if self.answered {
                    // A late failure for an answered INVITE changes nothing.
                    return;
                }
                self.outcome = code;
                self.outcome_reason.clear();
                self.outcome_reason.push_str(s.reason);
            }
            "REGISTER" => {
                if is_provisional(code) {
                    return;
                }
                if matches!(code, 401 | 407) {
                    self.rec.challenges += 1;
                }
                if (200..300).contains(&code) && self.rec.rrd_ms.is_none() {
                    if let (Some(r), Some(t)) = (self.register_ms, s.at_ms) {
                        self.rec.rrd_ms = Some(t - r);
                    }
                }
                self.outcome = code;
                self.outcome_reason.clear();
                self.outcome_reason.push_str(s.reason);
            }
            "BYE" if !is_provisional(code) && self.rec.bye_code == 0 => {
                self.rec.bye_code = code;
                self.bye_at(s.at_ms);
            }
            _ => {}
        }
    }

    /// Quiet log time after which this call is closed.
    fn deadline(&self, settings: &CallSettings) -> i64 {
        match self.rec.kind {
            CallKind::Invite if self.answered && self.rec.bye_code == 0 => settings.session_ttl_ms,
            _ if self.outcome == 0 || matches!(self.outcome, 401 | 407 | 491) => {
                TIMER_B_MS.max(settings.linger_ms)
            }
            _ => settings.linger_ms,
        }
    }

    fn close(mut self, clock_ms: Option<i64>, evicted: bool) -> CallRecord {
        let quiet = match (clock_ms, self.last_ms) {
            (Some(now), Some(last)) => now - last,
            _ => 0,
        };
        let code = self.outcome;
        let flow = match self.rec.kind {
            CallKind::Register => match code {
                200..=299 => Flow::Registered,
                0 if quiet >= TIMER_B_MS => Flow::Timeout,
                0 => Flow::Incomplete,
                408 => Flow::Timeout,
                _ => Flow::RegistrationFailed,
            },
            _ if self.answered => Flow::Answered,
            CallKind::Other => Flow::Incomplete,
            CallKind::Invite => match code {
                0 if quiet >= TIMER_B_MS => Flow::Timeout,
                0 => Flow::Incomplete,
                487 => Flow::Abandoned,
                300..=399 => Flow::Redirected,
                491 => Flow::Glare,
                400..=599 if self.rec.early_media => Flow::EarlyMediaFailure,
                486 | 600 => Flow::Busy,
                603 | 607 | 608 => Flow::Declined,
                408 => Flow::Timeout,
                401 | 407 => Flow::AuthFailed,
                400..=499 => Flow::Rejected,
                _ => Flow::Failed,
            },
        };
        self.rec.flow = flow;
        self.rec.final_code = code;
        self.rec.final_reason = std::mem::take(&mut self.outcome_reason);
        self.rec.evicted = evicted;
        if self.ladder_steps > MAX_LADDER {
            self.rec
                .ladder
                .push_str(&format!(">…+{}", self.ladder_steps - MAX_LADDER));
        }
        self.rec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sight<'a>(method: &'a str, cseq: u32, code: u16, at: i64) -> Sighting<'a> {
        Sighting {
            input: "t",
            line: 1,
            call_id: "c1",
            method,
            cseq: Some(cseq),
            branch: "",
            link: "",
            inbound: None,
            code,
            reason: "",
            at_ms: Some(at),
            sdp: false,
            remote: "",
            src: "",
            dst: "",
            from: "",
            to: "",
            user_agent: "",
        }
    }

    fn run(steps: &[Sighting<'_>]) -> (CallRecord, Vec<Finalized>) {
        let mut t = CallTable::new(CallSettings::default());
        let (mut fin, mut closed) = (Vec::new(), Vec::new());
        for s in steps {
            t.observe(s, &mut fin, &mut closed);
        }
        t.finish(&mut closed);
        assert_eq!(closed.len(), 1);
        (closed.pop().unwrap(), fin)
    }

    #[test]
    fn answered_call_with_timings() {
        let (r, fin) = run(&[
            sight("INVITE", 1, 0, 1000),
            sight("INVITE", 1, 100, 1010),
            sight("INVITE", 1, 180, 1300),
            sight("INVITE", 1, 180, 1310),
            sight("INVITE", 1, 200, 4000),
            sight("ACK", 1, 0, 4010),
            sight("BYE", 2, 0, 64000),
            sight("BYE", 2, 200, 64005),
        ]);
        assert_eq!(r.flow, Flow::Answered);
        assert_eq!(r.ladder, "INVITE>100>180>200>ACK>BYE>200");
        assert_eq!(
            (r.srd_ms, r.setup_ms, r.duration_ms),
            (Some(300), Some(3000), Some(60000))
        );
        assert_eq!((r.attempts, r.retransmissions, r.bye_code), (1, 1, 200));
        assert_eq!(fin.len(), 2, "INVITE 200 and BYE 200: {fin:?}");
    }

    #[test]
    fn challenge_then_success_is_one_attempt_answered() {
        let (r, _) = run(&[
            sight("INVITE", 1, 407, 0),
            sight("ACK", 1, 0, 5),
            sight("INVITE", 2, 100, 10),
            sight("INVITE", 2, 200, 20),
        ]);
        assert_eq!(r.flow, Flow::Answered);
        assert_eq!(r.challenges, 1);
        assert_eq!(r.attempts, 2, "two INVITE transactions, one call");
    }

    #[test]
    fn flows_from_final_answers() {
        let flow = |steps: &[Sighting<'_>]| run(steps).0.flow;
        assert_eq!(flow(&[sight("INVITE", 1, 486, 0)]), Flow::Busy);
        assert_eq!(flow(&[sight("INVITE", 1, 603, 0)]), Flow::Declined);
        assert_eq!(
            flow(&[
                sight("INVITE", 1, 180, 0),
                sight("CANCEL", 1, 200, 5),
                sight("INVITE", 1, 487, 6)
            ]),
            Flow::Abandoned
        );
        let mut early = sight("INVITE", 1, 183, 0);
        early.sdp = true;
        let r = run(&[early, sight("INVITE", 1, 503, 9)]).0;
        assert_eq!(
            (r.flow, r.ladder.as_str()),
            (Flow::EarlyMediaFailure, "INVITE>183+sdp>503")
        );
        assert_eq!(flow(&[sight("INVITE", 1, 302, 0)]), Flow::Redirected);
        assert_eq!(flow(&[sight("INVITE", 1, 491, 0)]), Flow::Glare);
        assert_eq!(flow(&[sight("INVITE", 1, 100, 0)]), Flow::Incomplete);
        assert_eq!(
            flow(&[sight("REGISTER", 1, 401, 0), sight("REGISTER", 2, 200, 9)]),
            Flow::Registered
        );
        assert_eq!(
            flow(&[sight("REGISTER", 1, 403, 0)]),
            Flow::RegistrationFailed
        );
    }

    #[test]
    fn duplicate_records_count_once() {
        let mut a = sight("INVITE", 0, 404, 0);
        a.cseq = None;
        let (r, fin) = run(&[a, a]);
        assert_eq!(
            (r.flow, r.retransmissions, fin.len()),
            (Flow::Rejected, 1, 1)
        );
    }

    fn via<'a>(mut s: Sighting<'a>, branch: &'a str) -> Sighting<'a> {
        s.branch = branch;
        s
    }

    #[test]
    fn a_cseq_reused_with_a_new_branch_is_a_new_transaction() {
        // svcrack: one Call-ID, CSeq 2 every time, a new branch per guess;
        // the request retransmitted on its own branch stays a retransmission.
        let (r, fin) = run(&[
            via(sight("REGISTER", 2, 0, 0), "b1"),
            via(sight("REGISTER", 2, 401, 10), "b1"),
            via(sight("REGISTER", 2, 0, 500), "b1"),
            via(sight("REGISTER", 2, 0, 1000), "b2"),
            via(sight("REGISTER", 2, 401, 1010), "b2"),
            via(sight("REGISTER", 2, 401, 1020), "b2"),
        ]);
        assert_eq!((r.attempts, r.challenges, r.retransmissions), (2, 2, 2));
        assert_eq!(fin.len(), 2);
        assert_eq!(r.ladder, "REGISTER>401>REGISTER>401");
    }

    #[test]
    fn a_cancel_answered_by_the_proxy_then_forwarded_is_one_transaction() {
        // On loopback every leg has the same address: the direction tells
        // the CANCEL forwarded out from the one that came in.
        let leg = |code, at, branch, inbound| {
            let mut s = via(sight("CANCEL", 1, code, at), branch);
            s.remote = "127.0.0.1";
            s.inbound = Some(inbound);
            s
        };
        let (r, _) = run(&[
            leg(0, 0, "caller", true),
            leg(200, 1, "caller", false),
            leg(0, 2, "proxy", false),
            leg(200, 3, "proxy", true),
        ]);
        assert_eq!((r.ladder.as_str(), r.retransmissions), ("CANCEL>200", 2));
    }

    #[test]
    fn link_groups_name_the_other_legs_and_go_when_their_calls_close() {
        let mut t = CallTable::new(CallSettings::default());
        let (mut fin, mut closed) = (Vec::new(), Vec::new());
        let mut a = sight("INVITE", 1, 0, 0);
        a.call_id = "a";
        let mut b = sight("INVITE", 1, 0, 5);
        b.call_id = "b";
        b.link = "a";
        let mut c = sight("INVITE", 1, 0, 6);
        c.call_id = "c";
        c.link = "a";
        for s in [a, b, c] {
            t.observe(&s, &mut fin, &mut closed);
        }
        assert_eq!(t.links.len(), 1);
        t.finish(&mut closed);
        let legs: Vec<(String, Vec<String>)> = closed
            .iter()
            .map(|r| (r.call_id.clone(), r.linked.clone()))
            .collect();
        assert_eq!(
            legs,
            [
                ("a".into(), vec!["b".into(), "c".into()]),
                ("b".into(), vec!["a".into(), "c".into()]),
                ("c".into(), vec!["b".into(), "a".into()]),
            ]
        );
        assert!(t.links.is_empty(), "groups are bounded by open calls");
    }

    #[test]
    fn answers_from_two_forks_are_two_answers_and_a_repeat_is_one() {
        let with_tag = |code, at, to| {
            let mut s = sight("INVITE", 1, code, at);
            s.to = to;
            s
        };
        let (r, _) = run(&[
            sight("INVITE", 1, 0, 0),
            with_tag(180, 100, "<sip:200@pbx>;tag=deskphone"),
            with_tag(180, 120, "<sip:200@pbx>;tag=softphone"),
            with_tag(180, 140, "<sip:200@pbx>;tag=softphone"),
            with_tag(200, 3000, "<sip:200@pbx>;tag=softphone"),
        ]);
        assert_eq!(r.ladder, "INVITE>180>180>200");
        assert_eq!((r.flow, r.retransmissions), (Flow::Answered, 1));
    }

    #[test]
    fn a_proxy_log_of_both_legs_counts_one_transaction() {
        // Kamailio's sipdump: the INVITE in (caller's branch) and out (the
        // proxy's), the 486 in (proxy's branch) and out (caller's).
        let (r, fin) = run(&[
            via(sight("INVITE", 1, 0, 0), "caller"),
            via(sight("INVITE", 1, 0, 1), "proxy"),
            via(sight("INVITE", 1, 486, 900), "proxy"),
            via(sight("INVITE", 1, 486, 901), "caller"),
        ]);
        assert_eq!((r.flow, r.attempts, fin.len()), (Flow::Busy, 1, 1));
        assert_eq!(r.ladder, "INVITE>486");
    }

    #[test]
    fn an_answer_without_a_time_gives_no_duration() {
        let mut ok = sight("INVITE", 1, 200, 0);
        ok.at_ms = None;
        let (r, _) = run(&[sight("INVITE", 1, 0, 0), ok, sight("BYE", 2, 0, 60_000)]);
        assert_eq!((r.flow, r.duration_ms), (Flow::Answered, None));
    }

    #[test]
    fn reinvite_is_not_an_attempt() {
        let (r, fin) = run(&[
            sight("INVITE", 1, 200, 0),
            sight("INVITE", 2, 200, 5000),
            sight("INVITE", 3, 491, 6000),
        ]);
        assert_eq!((r.flow, r.attempts, r.reinvites), (Flow::Answered, 1, 2));
        assert_eq!(fin.len(), 1);
    }

    #[test]
    fn quiet_calls_close_on_the_log_clock_and_the_table_is_bounded() {
        let mut t = CallTable::new(CallSettings {
            max_calls: 16,
            ..CallSettings::default()
        });
        let (mut fin, mut closed) = (Vec::new(), Vec::new());
        let ids: Vec<String> = (0..40).map(|i| format!("call{i}")).collect();
        for (i, id) in ids.iter().enumerate() {
            let mut s = sight("INVITE", 1, 486, i as i64);
            s.call_id = id;
            t.observe(&s, &mut fin, &mut closed);
        }
        assert!(t.open_calls() <= 16);
        assert!(t.evicted > 0 && closed.iter().all(|c| c.evicted));
        let mut late = sight("OPTIONS", 1, 200, 100_000);
        late.call_id = "later";
        t.observe(&late, &mut fin, &mut closed);
        assert_eq!(closed.len(), 40, "the rest closed after linger");
        assert!(closed.iter().all(|c| c.flow == Flow::Busy));
    }
}
