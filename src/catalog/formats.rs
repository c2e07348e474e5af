//! Log-format recognizers: one TOML file per dialect under `patterns/formats/`,
//! compiled once into regexes plus the literals the prefilter searches for.
//!
//! A format has one of four roles:
//! - `event`: the line carries a response status (`code` capture) and may open a
//!   frame that collects the following lines (SIP headers, or dialect lines);
//! - `context`: a wrapper line near a status line (above it, or before it on the
//!   same line) that tells peers, direction, transport or time;
//! - `request`: a SIP request start line; it opens a frame so that its headers
//!   and body (a NOTIFY's `SIP/2.0 200 OK` sipfrag) are never taken for a response;
//! - `security`: a line that reports a security-relevant failure without a
//!   status code (Asterisk `Registration from ... failed for 'IP'`, FreeSWITCH
//!   `SIP auth failure`); it names the `detection` it feeds and captures the
//!   offending transport address (`src` or `peer`).
//!
//! Invariants: every regex compiles, uses only known capture names, and every
//! event format captures `code`; errors name the file and key.

use crate::matcher::skeleton::Skeleton;
use std::collections::HashMap;

use regex::bytes::Regex;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::literal_search::{Leftmost, LiteralSearch};

/// The fields a format's regex may capture, by capture-group name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Code,
    Reason,
    Method,
    Cseq,
    CallId,
    Src,
    Dst,
    Peer,
    Direction,
    Ts,
    Epoch,
    Transport,
    From,
    To,
    UserAgent,
}

impl Field {
    /// Every field, in capture-slot order.
    pub const ALL: [Field; 15] = [
        Field::Code,
        Field::Reason,
        Field::Method,
        Field::Cseq,
        Field::CallId,
        Field::Src,
        Field::Dst,
        Field::Peer,
        Field::Direction,
        Field::Ts,
        Field::Epoch,
        Field::Transport,
        Field::From,
        Field::To,
        Field::UserAgent,
    ];

    /// The capture-group name in format regexes.
    pub fn name(self) -> &'static str {
        match self {
            Field::Code => "code",
            Field::Reason => "reason",
            Field::Method => "method",
            Field::Cseq => "cseq",
            Field::CallId => "call_id",
            Field::Src => "src",
            Field::Dst => "dst",
            Field::Peer => "peer",
            Field::Direction => "direction",
            Field::Ts => "ts",
            Field::Epoch => "epoch",
            Field::Transport => "transport",
            Field::From => "from",
            Field::To => "to",
            Field::UserAgent => "user_agent",
        }
    }

    fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// Which way a logged message travelled, seen from the logging host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    /// "in" or "out".
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }

    fn parse(s: &str) -> Option<Direction> {
        match s {
            "in" => Some(Direction::In),
            "out" => Some(Direction::Out),
            _ => None,
        }
    }
}

/// What a format is for (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Event,
    Context,
    Request,
    Security,
}

/// How the lines after an event or request line belong to it.
#[derive(Debug, Clone)]
pub enum FrameKind {
    /// The line stands alone.
    None,
    /// A SIP message follows: headers, blank line, body (Content-Length).
    Sip,
    /// Dialect lines follow while they match `continue` and not `end`; their
    /// named captures fill fields (Kamailio `reason:  <…>` after
    /// `status:  <487>`, tshark -V).
    Lines {
        continuation: Regex,
        end: Option<Regex>,
        max_lines: usize,
    },
}

/// A positive sample: text that must yield events with these fields.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    pub text: String,
    #[serde(default = "one")]
    pub events: usize,
    pub line: Option<u64>,
    pub code: Option<u16>,
    pub reason: Option<String>,
    pub method: Option<String>,
    pub cseq: Option<u32>,
    pub call_id: Option<String>,
    pub src: Option<String>,
    pub dst: Option<String>,
    pub direction: Option<String>,
    pub ts: Option<String>,
    pub wrapper: Option<String>,
    pub user_agent: Option<String>,
    pub reason_header: Option<String>,
    pub warning: Option<String>,
}

fn one() -> usize {
    1
}

/// A negative sample: text that must yield no event at all.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Negative {
    pub text: String,
    #[serde(default)]
    pub why: String,
}

/// A hand-written parser that stands in for a hot format's regex on the fast
/// path. The regex stays the specification: the exhaustive (oracle) mode
/// uses it, and the tests check that both agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parser {
    /// `SIP/2.0 NNN reason` behind any prefix (the `sip.message` regex).
    SipStartLine,
    /// A request line (the `sip.request` regex): a method behind any
    /// prefix, then ` SIP/2.0` followed by a blank, a CR (in any of its
    /// spellings) or the end; lines with only `SIP/2.0/UDP` (Via) or
    /// `SIP/2.0 200` are refused.
    SipRequestLine,
}

impl Parser {
    /// Whether the parser is cheap enough to screen lines where the bulk
    /// scan finds its format's literal: a line it refuses is dropped there.
    pub fn screens_candidates(self) -> bool {
        matches!(self, Parser::SipRequestLine)
    }

    /// Whether the parser screens the bulk scan's stops at `literal`, judged
    /// where the literal stands (`matcher::screen_accepts`): only a parser
    /// that `screens_candidates`, and only where every line it accepts holds
    /// the literal at a place that passes (the `SIP/2.0` of the request
    /// line's ` SIP/2.0`).
    pub fn screens_literal(self, literal: &str) -> bool {
        self.screens_candidates()
            && match self {
                Parser::SipRequestLine => literal == "SIP/2.0",
                Parser::SipStartLine => false,
            }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FormatFile {
    id: String,
    description: String,
    system: String,
    role: Role,
    #[serde(default = "default_priority")]
    priority: i32,
    literals: Vec<String>,
    #[serde(default)]
    reject: Vec<String>,
    regex: String,
    #[serde(default = "one")]
    max_distance: usize,
    #[serde(default)]
    trailing_dot_is_cr: bool,
    #[serde(default)]
    direction: HashMap<String, String>,
    #[serde(default = "default_frame")]
    frame: String,
    #[serde(rename = "continue")]
    continuation: Option<String>,
    end: Option<String>,
    #[serde(default = "default_max_lines")]
    max_lines: usize,
    parser: Option<String>,
    wrappers: Option<bool>,
    #[serde(default)]
    kv: std::collections::BTreeMap<String, String>,
    detection: Option<String>,
    #[serde(default)]
    restates: bool,
    #[serde(default)]
    sample: Vec<Sample>,
    #[serde(default)]
    negative: Vec<Negative>,
}

fn default_priority() -> i32 {
    50
}
fn default_frame() -> String {
    "none".into()
}
fn default_max_lines() -> usize {
    64
}

/// Capture-group indices of one regex, per field.
#[derive(Debug, Clone, Default)]
pub struct Slots(pub [Option<usize>; Field::ALL.len()]);

impl Slots {
    fn of(regex: &Regex, file: &str, key: &str) -> Result<Slots> {
        let mut slots = Slots::default();
        for (i, name) in regex.capture_names().enumerate() {
            let Some(name) = name else { continue };
            let field = Field::from_name(name).ok_or_else(|| {
                let known: Vec<_> = Field::ALL.iter().map(|f| f.name()).collect();
                Error::new(format!(
                    "{file}: key {key}: unknown capture name {name:?}; known: {}",
                    known.join(", ")
                ))
            })?;
            slots.0[field as usize] = Some(i);
        }
        Ok(slots)
    }

    /// The capture index for a field, if the regex has that group.
    pub fn get(&self, field: Field) -> Option<usize> {
        self.0[field as usize]
    }
}

/// One compiled recognizer.
#[derive(Debug, Clone)]
pub struct Format {
    pub id: String,
    pub description: String,
    pub system: String,
    pub source: String,
    pub role: Role,
    pub priority: i32,
    pub literals: Vec<String>,
    /// Substrings that rule a line out (searchers built once).
    pub reject: Vec<memchr::memmem::Finder<'static>>,
    pub regex: Regex,
    /// The regex as a one-pass step list, when it has that simple shape
    /// (used on the fast path; the regex stays the specification).
    pub skeleton: Option<Skeleton>,
    pub slots: Slots,
    pub max_distance: usize,
    pub trailing_dot_is_cr: bool,
    pub direction_map: Vec<(String, Direction)>,
    pub frame: FrameKind,
    pub continuation_slots: Slots,
    pub parser: Option<Parser>,
    /// Fields read from `key=value` pairs after the regex matched, e.g.
    /// `src` from `src_ip=...;` (values end at ';', ',' or the line end).
    pub kv: Vec<(Field, memchr::memmem::Finder<'static>)>,
    /// Whether wrapper lines are looked up for this format's events (by
    /// default only for dumped SIP messages; single-line formats carry their
    /// own fields).
    pub wrappers: bool,
    /// For security formats: what the line reports (`auth-failure`, ...).
    pub detection: String,
    /// For event formats: the line restates a response the log already
    /// reported elsewhere (Kamailio's `can't generate 487 reply when a final
    /// 302 was sent out`). It is annotated like any event, but statistics
    /// count it as a repeated record, not as another response.
    pub restates: bool,
    pub samples: Vec<Sample>,
    pub negatives: Vec<Negative>,
}

impl Format {
    /// Parses and compiles one format file; `source` names it in errors.
    pub fn parse(source: &str, text: &str) -> Result<Format> {
        let raw: FormatFile = crate::catalog::kb::parse_toml(source, text)?;
        let regex = compile(&raw.regex, source, "regex")?;
        let slots = Slots::of(&regex, source, "regex")?;
        if raw.role == Role::Event
            && slots.get(Field::Code).is_none()
            && !raw.kv.contains_key("code")
        {
            return Err(Error::new(format!(
                "{source}: key regex: an event format must capture (?P<code>...) or read it with kv.code"
            )));
        }
        if raw.literals.is_empty() || raw.literals.iter().any(|l| l.len() < 2) {
            return Err(Error::new(format!(
                "{source}: key literals: give at least one literal of 2 or more bytes that every matching line contains"
            )));
        }
        let mut direction_map = Vec::new();
        for (word, dir) in &raw.direction {
            let d = Direction::parse(dir).ok_or_else(|| {
                Error::new(format!(
                    "{source}: key direction.{word}: must be \"in\" or \"out\", not {dir:?}"
                ))
            })?;
            direction_map.push((word.to_ascii_lowercase(), d));
        }
        let (frame, continuation_slots) = match raw.frame.as_str() {
            "none" => (FrameKind::None, Slots::default()),
            "sip" => (FrameKind::Sip, Slots::default()),
            "lines" => {
                let text = raw.continuation.as_deref().ok_or_else(|| {
                    Error::new(format!(
                        "{source}: frame = \"lines\" needs a `continue` regex"
                    ))
                })?;
                let re = compile(text, source, "continue")?;
                let slots = Slots::of(&re, source, "continue")?;
                let end = raw
                    .end
                    .as_deref()
                    .map(|e| compile(e, source, "end"))
                    .transpose()?;
                (
                    FrameKind::Lines {
                        continuation: re,
                        end,
                        max_lines: raw.max_lines.max(1),
                    },
                    slots,
                )
            }
            other => {
                return Err(Error::new(format!(
                    "{source}: key frame: {other:?} is not one of \"none\", \"sip\", \"lines\""
                )))
            }
        };
        if matches!(raw.role, Role::Context | Role::Security) && !matches!(frame, FrameKind::None) {
            return Err(Error::new(format!(
                "{source}: key frame: a context or security format cannot open a frame"
            )));
        }
        if raw.id.is_empty()
            || !raw
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(Error::new(format!(
                "{source}: key id: {:?} must be non-empty and use only letters, digits, '.', '_' or '-'",
                raw.id
            )));
        }
        let parser = match raw.parser.as_deref() {
            None => None,
            Some("sip_start_line") => Some(Parser::SipStartLine),
            Some("sip_request_line") => Some(Parser::SipRequestLine),
            Some(other) => {
                return Err(Error::new(format!(
                    "{source}: key parser: {other:?} is not a built-in parser (known: \"sip_start_line\", \"sip_request_line\")"
                )))
            }
        };
        let mut kv = Vec::new();
        for (name, key) in &raw.kv {
            let field = Field::from_name(name).ok_or_else(|| {
                Error::new(format!("{source}: key kv.{name}: not a field name (code, reason, method, call_id, src, ...)"))
            })?;
            if key.is_empty() || key.contains(['=', ';']) {
                return Err(Error::new(format!(
                    "{source}: key kv.{name}: {key:?} is not a key name"
                )));
            }
            kv.push((
                field,
                memchr::memmem::Finder::new(key.as_bytes()).into_owned(),
            ));
        }
        let wrappers = raw.wrappers.unwrap_or(matches!(frame, FrameKind::Sip));
        let detection = match (raw.role, raw.detection) {
            (Role::Security, Some(d))
                if crate::correlate::security::LINE_KINDS.contains(&d.as_str()) =>
            {
                if slots.get(Field::Src).is_none() && slots.get(Field::Peer).is_none() {
                    return Err(Error::new(format!(
                        "{source}: key regex: a security format must capture the offender's address as (?P<src>...) or (?P<peer>...)"
                    )));
                }
                d
            }
            (Role::Security, Some(d)) => {
                return Err(Error::new(format!(
                    "{source}: key detection: {d:?} is not one of {}",
                    crate::correlate::security::LINE_KINDS.join(", ")
                )))
            }
            (Role::Security, None) => {
                return Err(Error::new(format!(
                    "{source}: key detection: a security format must say what it reports ({})",
                    crate::correlate::security::LINE_KINDS.join(", ")
                )))
            }
            (_, Some(_)) => {
                return Err(Error::new(format!(
                    "{source}: key detection: only role = \"security\" formats take it"
                )))
            }
            (_, None) => String::new(),
        };
        if raw.restates && raw.role != Role::Event {
            return Err(Error::new(format!(
                "{source}: key restates: only role = \"event\" formats take it"
            )));
        }
        Ok(Format {
            detection,
            restates: raw.restates,
            wrappers,
            kv,
            parser,
            id: raw.id,
            description: raw.description,
            system: raw.system,
            source: source.to_string(),
            role: raw.role,
            priority: raw.priority,
            literals: raw.literals,
            reject: raw
                .reject
                .iter()
                .map(|r| memchr::memmem::Finder::new(r.as_bytes()).into_owned())
                .collect(),
            skeleton: Skeleton::new(&raw.regex),
            regex,
            slots,
            max_distance: raw.max_distance,
            trailing_dot_is_cr: raw.trailing_dot_is_cr,
            direction_map,
            frame,
            continuation_slots,
            samples: raw.sample,
            negatives: raw.negative,
        })
    }

    /// Maps a captured direction word through the format's `direction` table.
    pub fn direction_of(&self, word: &[u8]) -> Option<Direction> {
        let find = |word: &[u8]| {
            self.direction_map
                .iter()
                .find(|(w, _)| w.as_bytes().eq_ignore_ascii_case(word))
                .map(|(_, d)| *d)
        };
        // Byte-wise first (a word of the table between ASCII blanks, the
        // usual case); a word wrapped in other white space (a vertical tab,
        // a no-break space) is trimmed as Unicode text.
        find(crate::event::trim(word))
            .or_else(|| find(std::str::from_utf8(word).ok()?.trim().as_bytes()))
    }
}

/// Compiles a pattern for log bytes: `.`, `\w`, `\s` and classes work on
/// bytes (ASCII semantics), so invalid UTF-8 in a line never stops a match.
fn compile(pattern: &str, file: &str, key: &str) -> Result<Regex> {
    regex::bytes::RegexBuilder::new(pattern)
        .unicode(false)
        .size_limit(8 << 20)
        .build()
        .map_err(|e| Error::new(format!("{file}: key {key}: invalid regex: {e}")))
}

/// How loggers flatten and wrap SIP messages (`patterns/sip.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipSyntax {
    /// Byte sequences that stand for a line break inside one log line.
    pub line_separators: Vec<String>,
    /// Header names that end a reason phrase when a logger joined lines with spaces.
    pub inline_headers: Vec<String>,
    /// Headers whose value ties the legs of one call through a B2BUA.
    #[serde(default)]
    pub link_headers: Vec<LinkHeader>,
    /// The separators, compiled (leftmost-longest: `#015#012` before `#012`).
    #[serde(skip)]
    separator_finder: Option<LiteralSearch>,
    #[serde(skip)]
    inline_finder: Option<LiteralSearch>,
    /// For each byte, whether it is the one a separator or inline header
    /// cannot be without (its first punctuation or digit; the `:` of a
    /// header): text with none of them is split by neither, which spares
    /// the two searches on almost every reason phrase.
    #[serde(skip)]
    split_bytes: Vec<bool>,
}

/// A header that links B2BUA legs: its whole value, or one parameter of it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkHeader {
    pub name: String,
    pub param: Option<String>,
}

impl SipSyntax {
    /// The link value a header carries, if it is a link header: the named
    /// parameter (`icid-value=abc;orig-ioi=x` gives `abc`), else the value.
    pub fn link_value<'v>(&self, name: &[u8], value: &'v [u8]) -> Option<&'v [u8]> {
        let h = self
            .link_headers
            .iter()
            .find(|h| name.eq_ignore_ascii_case(h.name.as_bytes()))?;
        let Some(param) = &h.param else {
            return Some(value).filter(|v| !v.is_empty());
        };
        value.split(|b| *b == b';').find_map(|p| {
            let eq = p.iter().position(|b| *b == b'=')?;
            let (k, v) = (
                crate::event::trim(&p[..eq]),
                crate::event::trim(&p[eq + 1..]),
            );
            (k.eq_ignore_ascii_case(param.as_bytes()) && !v.is_empty()).then_some(v)
        })
    }

    /// Compiles the separators; call once after loading.
    pub fn compile(&mut self) -> Result<()> {
        let ac = LiteralSearch::new(&self.line_separators, Leftmost::Longest)
            .map_err(|e| Error::new(format!("patterns/sip.toml: key line_separators: {e}")))?;
        self.separator_finder = Some(ac);
        let names: Vec<String> = self
            .inline_headers
            .iter()
            .map(|h| format!(" {h}:"))
            .collect();
        let ac = LiteralSearch::new(&names, Leftmost::First)
            .map_err(|e| Error::new(format!("patterns/sip.toml: key inline_headers: {e}")))?;
        self.inline_finder = Some(ac);
        let mut split_bytes = vec![false; 256];
        split_bytes[usize::from(b':')] = true;
        for sep in &self.line_separators {
            let bytes = sep.as_bytes();
            let required = bytes
                .iter()
                .find(|b| !(b.is_ascii_alphabetic() || **b == b' '))
                .or(bytes.first());
            if let Some(&b) = required {
                split_bytes[usize::from(b)] = true;
            }
        }
        self.split_bytes = split_bytes;
        Ok(())
    }

    /// Whether `text` may hold a separator or an inline header (false
    /// only if it surely holds neither).
    #[inline]
    pub fn may_split(&self, text: &[u8]) -> bool {
        self.split_bytes.is_empty() || text.iter().any(|&b| self.split_bytes[usize::from(b)])
    }

    /// Offsets of every ` Name:` (known header after a space) in `text`; the
    /// offset is that of the name.
    pub fn inline_header_starts<'t>(&'t self, text: &'t [u8]) -> impl Iterator<Item = usize> + 't {
        self.inline_finder
            .iter()
            .flat_map(move |ac| ac.find_iter(text).map(|m| m.start + 1))
    }

    /// The first separator in `text`: (start, end).
    pub fn find_separator(&self, text: &[u8]) -> Option<(usize, usize)> {
        match &self.separator_finder {
            Some(ac) => ac.find(text).map(|m| (m.start, m.end)),
            None => self
                .line_separators
                .iter()
                .filter_map(|s| memchr::memmem::find(text, s.as_bytes()).map(|i| (i, i + s.len())))
                .min_by_key(|(i, e)| (*i, usize::MAX - e)),
        }
    }
}

/// One timestamp shape (`patterns/timestamps.toml`).
#[derive(Debug, Clone)]
pub struct TimestampShape {
    pub id: String,
    pub regex: Regex,
    /// The same regex anchored at the start of the haystack: where a log's
    /// stamps stand is known after the first, and an anchored regex runs
    /// in one pass (the one-pass DFA) instead of a search in both directions.
    pub anchored: Regex,
    /// The anchored regex as a one-pass skeleton, where its shape allows
    /// (the same match and groups at a fraction of the cost).
    pub skeleton: Option<Skeleton>,
    /// Capture index of each of `TIMESTAMP_GROUPS`, then of "tz".
    pub groups: [Option<usize>; TIMESTAMP_GROUPS.len() + 1],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimestampFile {
    shape: Vec<TimestampSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimestampSpec {
    id: String,
    sample: String,
    regex: String,
}

/// Known capture names of timestamp regexes.
pub const TIMESTAMP_GROUPS: [&str; 9] = [
    "ts", "year", "month", "mon", "day", "hour", "minute", "second", "frac",
];

/// True if `text` contains `D D : D D : D D` (a time of day), which every
/// timestamp shape requires: lines without one need no regex at all.
pub fn has_time_of_day(text: &[u8]) -> bool {
    memchr::memchr_iter(b':', text).any(|i| {
        let d = |j: usize| text.get(j).is_some_and(u8::is_ascii_digit);
        i >= 2
            && d(i - 2)
            && d(i - 1)
            && text.get(i + 3) == Some(&b':')
            && d(i + 1)
            && d(i + 2)
            && d(i + 4)
            && d(i + 5)
    })
}

/// Parses `patterns/timestamps.toml`.
pub fn parse_timestamps(source: &str, text: &str) -> Result<Vec<TimestampShape>> {
    let raw: TimestampFile = crate::catalog::kb::parse_toml(source, text)?;
    let mut shapes = Vec::new();
    for (i, s) in raw.shape.into_iter().enumerate() {
        let key = format!("shape[{i}].regex");
        let regex = compile(&s.regex, source, &key)?;
        for name in regex.capture_names().flatten() {
            if !TIMESTAMP_GROUPS.contains(&name) && name != "tz" {
                return Err(Error::new(format!(
                    "{source}: key {key}: unknown capture name {name:?}; known: {}, tz",
                    TIMESTAMP_GROUPS.join(", ")
                )));
            }
        }
        if regex.capture_names().flatten().all(|n| n != "ts") {
            return Err(Error::new(format!(
                "{source}: key {key}: must capture the whole stamp as (?P<ts>...)"
            )));
        }
        let mut groups = [None; TIMESTAMP_GROUPS.len() + 1];
        for (i, name) in regex.capture_names().enumerate() {
            if let Some(name) = name {
                let slot = TIMESTAMP_GROUPS
                    .iter()
                    .position(|g| *g == name)
                    .unwrap_or(TIMESTAMP_GROUPS.len());
                groups[slot] = Some(i);
            }
        }
        if !has_time_of_day(s.sample.as_bytes()) || !regex.is_match(s.sample.as_bytes()) {
            return Err(Error::new(format!(
                "{source}: shape[{i}] ({}): the sample must match the regex and contain a time of day HH:MM:SS",
                s.id
            )));
        }
        let anchored_pattern = format!(r"\A(?:{})", s.regex);
        let anchored = compile(&anchored_pattern, source, &key)?;
        shapes.push(TimestampShape {
            id: s.id,
            regex,
            anchored,
            skeleton: Skeleton::new(&anchored_pattern),
            groups,
        });
    }
    Ok(shapes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_words_match_in_any_case_between_any_white_space() {
        let format = Format::parse(
            "test.toml",
            r#"
id = "test.direction"
description = "direction words"
system = "test"
role = "context"
literals = ["xy"]
regex = '''xy'''
direction = { Received = "in", "SENT to" = "out" }
"#,
        )
        .expect("parses");
        for (word, want) in [
            (&b"Received"[..], Some(Direction::In)),
            (b"  rEcEiVeD\t", Some(Direction::In)),
            (b"sent to", Some(Direction::Out)),
            ("\u{a0}Received\u{3000}".as_bytes(), Some(Direction::In)),
            (b"\x0bReceived\x0b", Some(Direction::In)),
            (b"Receive", None),
            (b"Received x", None),
            (b"Rec\xffeived", None),
            (b"", None),
        ] {
            assert_eq!(
                format.direction_of(word),
                want,
                "{:?}",
                String::from_utf8_lossy(word)
            );
        }
    }
}
