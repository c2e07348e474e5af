//! Frames the lines that follow a SIP start line: headers, blank line, body.
//!
//! Loggers prefix every line of a dump (timestamps, `[Message] \t`, logcat
//! tags, 20 spaces), flatten a whole message into one line (`#012`, `^M`),
//! or end lines with ngrep's `.`. A frame learns the prefix shape from the
//! start line and reads each following line as a header, a blank line or body,
//! until a line fits none of them, the body's Content-Length is used up, or a
//! size cap is hit. Header values go into the event; the frame never
//! allocates.

use crate::catalog::formats::SipSyntax;
use crate::event::{set_lossy, trim, Event};

/// At most this many lines belong to one message.
pub const MAX_FRAME_LINES: usize = 400;
/// At most this many bytes belong to one message.
pub const MAX_FRAME_BYTES: usize = 256 * 1024;
const MAX_PREFIX: usize = 96;

/// Whether a line belonged to the open frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// The line is part of the message.
    Absorbed,
    /// The line is part of the message, and the message is complete.
    AbsorbedLast,
    /// The line is not part of the message; the frame is closed.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Headers,
    Body,
}

/// The state of one SIP message being framed.
#[derive(Debug, Clone)]
pub struct SipFrame {
    part: Part,
    lines: usize,
    bytes: usize,
    content_length: Option<usize>,
    body_left: usize,
    /// Column where the message text starts in prefixed dumps.
    column: usize,
    skeleton: [u8; MAX_PREFIX],
    skeleton_len: usize,
    /// ngrep shows CR as a trailing '.'.
    dot_is_cr: bool,
    /// The frame was closed by its size caps, not by the message's end.
    pub capped: bool,
    /// Only the message's extent matters (a request no output asked for):
    /// headers other than Content-Length are not read into the event.
    framing_only: bool,
}

impl SipFrame {
    /// Opens a frame for a start line whose SIP text begins at `start`.
    pub fn new(line: &[u8], start: usize, dot_is_cr: bool) -> SipFrame {
        let prefix = strip_marker(&line[..start.min(line.len())]);
        let mut frame = SipFrame {
            part: Part::Headers,
            lines: 0,
            bytes: 0,
            content_length: None,
            body_left: 0,
            column: prefix.len(),
            skeleton: [0; MAX_PREFIX],
            skeleton_len: 0,
            dot_is_cr,
            capped: false,
            framing_only: false,
        };
        if prefix.len() <= MAX_PREFIX {
            for (i, &b) in prefix.iter().enumerate() {
                frame.skeleton[i] = skeleton_byte(b);
            }
            frame.skeleton_len = prefix.len();
        } else {
            frame.column = 0;
        }
        frame
    }

    /// The same frame, finding only where the message ends: its headers are
    /// not read into the event (for a request that no output wants).
    pub fn framing_only(mut self) -> SipFrame {
        self.framing_only = true;
        self
    }

    /// Reads headers that a logger flattened into the start line, after the
    /// reason phrase. Returns false when the message ended there.
    pub fn feed_inline(&mut self, rest: &[u8], sip: &SipSyntax, ev: &mut Event) -> bool {
        let mut open = true;
        for_each_flat_line(rest, sip, |seg| {
            // Free text between flattened headers (vendor comments) is skipped.
            if open {
                open = self.feed_text(seg, sip, ev) != Feed::AbsorbedLast;
            }
        });
        open
    }

    /// Offers the next physical line to the frame. (Flattened messages are
    /// read from their start line only: one log record, one message.)
    pub fn feed(&mut self, line: &[u8], sip: &SipSyntax, ev: &mut Event) -> Feed {
        self.lines += 1;
        self.bytes += line.len();
        if self.lines > MAX_FRAME_LINES || self.bytes > MAX_FRAME_BYTES {
            self.capped = true;
            return Feed::Closed;
        }
        let text = match self.message_text(line) {
            Some(t) => t,
            None => return Feed::Closed,
        };
        self.feed_text(text, sip, ev)
    }

    /// The message text of a physical line: after the learned prefix when the
    /// line has the same prefix shape, else the whole line.
    fn message_text<'a>(&self, line: &'a [u8]) -> Option<&'a [u8]> {
        if self.column > 0 && line.len() >= self.column {
            let head = &line[..self.column];
            let same = head
                .iter()
                .zip(&self.skeleton[..self.skeleton_len])
                .all(|(&b, &s)| skeleton_byte(b) == s);
            if same {
                return Some(&line[self.column..]);
            }
        }
        Some(line)
    }

    fn feed_text(&mut self, text: &[u8], sip: &SipSyntax, ev: &mut Event) -> Feed {
        let content = clean_value(text, self.dot_is_cr);
        match self.part {
            Part::Headers => {
                if content.is_empty() {
                    return match self.content_length {
                        Some(n) if n > 0 => {
                            self.part = Part::Body;
                            self.body_left = n;
                            Feed::Absorbed
                        }
                        _ => Feed::AbsorbedLast,
                    };
                }
                if let Some((name, value)) = split_header(content) {
                    ev.headers_seen = true;
                    self.header(name, value, sip, ev);
                    return Feed::Absorbed;
                }
                // Anything else (including folded headers, which loggers
                // rarely keep) ends the message: a log line must never be eaten.
                Feed::Closed
            }
            Part::Body => {
                if content.is_empty() {
                    return Feed::AbsorbedLast;
                }
                let used = content.len() + 2;
                if used >= self.body_left {
                    self.body_left = 0;
                    Feed::AbsorbedLast
                } else {
                    self.body_left -= used;
                    Feed::Absorbed
                }
            }
        }
    }

    fn header(&mut self, name: &[u8], value: &[u8], sip: &SipSyntax, ev: &mut Event) {
        if self.framing_only {
            if Known::of(name) == Known::ContentLength {
                self.content_length = parse_length(clean_value(value, self.dot_is_cr));
            }
        } else if let FrameHint::ContentLength(n) =
            apply_header(name, value, self.dot_is_cr, sip, ev)
        {
            self.content_length = n;
        }
    }

    /// Called when the frame closes: facts that are known once all headers were seen.
    pub fn finish(&self, ev: &mut Event) {
        if ev.headers_seen {
            if ev.retry_after.is_none() {
                ev.retry_after = Some(None);
            }
            if ev.has_sdp.is_none() {
                ev.has_sdp = Some(false);
            }
        }
    }
}

/// What a header tells the frame itself (everything else goes into the event).
pub enum FrameHint {
    None,
    /// A Content-Length header, and its value if it parses.
    ContentLength(Option<usize>),
}

/// Stores what a SIP header says in the event (first value wins): Call-ID,
/// CSeq, From, To, User-Agent/Server, Reason, Warning, Retry-After, SDP,
/// the top Via branch, and a B2BUA link header's value.
pub fn apply_header(
    name: &[u8],
    value: &[u8],
    dot_is_cr: bool,
    sip: &SipSyntax,
    ev: &mut Event,
) -> FrameHint {
    let value = clean_value(value, dot_is_cr);
    match Known::of(name) {
        Known::CallId => fill(&mut ev.call_id, value),
        Known::CSeq => {
            let mut parts = value
                .split(|b| *b == b' ' || *b == b'\t')
                .filter(|p| !p.is_empty());
            if let (Some(num), Some(method)) = (parts.next(), parts.next()) {
                if ev.cseq.is_none() {
                    ev.cseq = std::str::from_utf8(num).ok().and_then(|n| n.parse().ok());
                }
                fill(&mut ev.method, method);
            }
        }
        Known::From => fill(&mut ev.from, value),
        Known::To => fill(&mut ev.to, value),
        Known::Via => {
            // The top Via names this hop's transaction; loggers keep the
            // header order, so the first Via with a branch is taken (a
            // branch-less top Via is RFC 2543, all but extinct).
            if ev.via_branch.is_empty() {
                if let Some(branch) = via_branch(value) {
                    set_lossy(&mut ev.via_branch, branch);
                }
            }
        }
        Known::UserAgent => fill(&mut ev.user_agent, value),
        Known::Reason => fill(&mut ev.reason_header, value),
        Known::Warning => fill(&mut ev.warning, value),
        Known::RetryAfter => {
            let secs = value
                .split(|b| !b.is_ascii_digit())
                .next()
                .and_then(|d| std::str::from_utf8(d).ok())
                .and_then(|d| d.parse().ok());
            ev.retry_after = Some(secs);
        }
        Known::ContentType => {
            if value.windows(3).any(|w| w.eq_ignore_ascii_case(b"sdp")) {
                ev.has_sdp = Some(true);
            }
        }
        Known::ContentLength => {
            let n = parse_length(value);
            if n == Some(0) {
                ev.has_sdp = Some(false);
            }
            return FrameHint::ContentLength(n);
        }
        Known::Other => {
            if ev.link.is_empty() {
                if let Some(link) = sip.link_value(name, value) {
                    set_lossy(&mut ev.link, &link[..link.len().min(256)]);
                }
            }
        }
    }
    FrameHint::None
}

/// The headers `apply_header` reads, compact forms included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    CallId,
    CSeq,
    From,
    To,
    Via,
    /// User-Agent or Server.
    UserAgent,
    Reason,
    Warning,
    RetryAfter,
    ContentType,
    ContentLength,
    Other,
}

impl Known {
    /// Which header `name` is (case-insensitive), looked up by its length
    /// first: one comparison per header instead of a chain of twenty.
    fn of(name: &[u8]) -> Known {
        let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
        match name.len() {
            1 => match name[0].to_ascii_lowercase() {
                b'i' => Known::CallId,
                b'f' => Known::From,
                b't' => Known::To,
                b'v' => Known::Via,
                b'c' => Known::ContentType,
                b'l' => Known::ContentLength,
                _ => Known::Other,
            },
            2 if is(b"to") => Known::To,
            3 if is(b"via") => Known::Via,
            4 if is(b"cseq") => Known::CSeq,
            4 if is(b"from") => Known::From,
            6 if is(b"server") => Known::UserAgent,
            6 if is(b"reason") => Known::Reason,
            7 if is(b"call-id") => Known::CallId,
            7 if is(b"warning") => Known::Warning,
            10 if is(b"user-agent") => Known::UserAgent,
            11 if is(b"retry-after") => Known::RetryAfter,
            12 if is(b"content-type") => Known::ContentType,
            14 if is(b"content-length") => Known::ContentLength,
            _ => Known::Other,
        }
    }
}

/// A Content-Length value, if it is a number.
fn parse_length(value: &[u8]) -> Option<usize> {
    std::str::from_utf8(trim(value)).ok()?.parse().ok()
}

/// The `branch` parameter of the first via-parm in a Via value
/// (`SIP/2.0/UDP host;rport;branch=z9hG4bK1, SIP/2.0/UDP ...`).
fn via_branch(value: &[u8]) -> Option<&[u8]> {
    let first = &value[..memchr::memchr(b',', value).unwrap_or(value.len())];
    // The parameters after the sent-by, found by their ';' with memchr (a
    // byte-wise split of a typical 90-byte Via cost ~950 instructions).
    let mut rest = &first[memchr::memchr(b';', first)? + 1..];
    loop {
        let end = memchr::memchr(b';', rest).unwrap_or(rest.len());
        let param = &rest[..end];
        if let Some(eq) = memchr::memchr(b'=', param) {
            if eq + 1 < param.len() && trim(&param[..eq]).eq_ignore_ascii_case(b"branch") {
                return Some(trim(&param[eq + 1..]));
            }
        }
        if end == rest.len() {
            return None;
        }
        rest = &rest[end + 1..];
    }
}

fn fill(field: &mut String, value: &[u8]) {
    if field.is_empty() && !value.is_empty() {
        set_lossy(field, value);
    }
}

/// `Name: value` with a token name starting with a letter, or None.
pub fn split_header(text: &[u8]) -> Option<(&[u8], &[u8])> {
    let first = *text.first()?;
    if !first.is_ascii_alphabetic() {
        return None;
    }
    // A name longer than any header's is not one: the scan stops there.
    let limit = text.len().min(MAX_HEADER_NAME + 1);
    let mut i = text[..limit]
        .iter()
        .position(|&b| !HEADER_NAME_BYTE[usize::from(b)])
        .unwrap_or(limit);
    if i > MAX_HEADER_NAME {
        return None;
    }
    let name = &text[..i];
    while i < text.len() && (text[i] == b' ' || text[i] == b'\t') {
        i += 1;
    }
    if i >= text.len() || text[i] != b':' {
        return None;
    }
    Some((name, trim(&text[i + 1..])))
}

const MAX_HEADER_NAME: usize = 64;

/// Header names in practice: letters, digits, '-' and '_' (stricter than the
/// SIP token, so that `file.c:123` in a log line is not taken for a header).
/// A table: one load per byte of every dumped line's name.
const HEADER_NAME_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        b += 1;
    }
    table
};

/// Length of an ANSI colour sequence (`ESC[1;33m`, or rsyslog's `#033[0m`)
/// that `before` ends with.
pub fn ansi_suffix(before: &[u8]) -> Option<usize> {
    let body = before.strip_suffix(b"m")?;
    let digits = body
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit() || **b == b';')
        .count();
    let open = body[..body.len() - digits].strip_suffix(b"[")?;
    let lead = if open.ends_with(b"\x1b") {
        1
    } else if open.ends_with(b"#033") {
        4
    } else {
        return None;
    };
    Some(lead + 1 + digits + 1)
}

/// Strips line-end junk: CR, `^M`, `#015`, colour codes, trailing blanks,
/// ngrep's '.'.
pub fn clean_value(text: &[u8], dot_is_cr: bool) -> &[u8] {
    let mut t = trim(text);
    // Every kind of junk ends with one of these bytes; most values end
    // with none (this runs twice per header line).
    if !matches!(t.last(), Some(b'm' | b'M' | b'5' | b'r' | b'.')) {
        return t;
    }
    loop {
        let before = t.len();
        if let Some(n) = ansi_suffix(t) {
            t = trim(&t[..t.len() - n]);
        }
        for junk in [&b"^M"[..], b"#015", b"\\r"] {
            if let Some(s) = t.strip_suffix(junk) {
                t = trim(s);
            }
        }
        if dot_is_cr {
            if let Some(s) = t.strip_suffix(b".") {
                t = trim(s);
            }
        }
        if t.len() == before {
            return t;
        }
    }
}

/// Calls `f` for each flattened line of `text`: split on the separators, or,
/// when there are none, where a known header name follows a space.
pub fn for_each_flat_line(text: &[u8], sip: &SipSyntax, mut f: impl FnMut(&[u8])) {
    if !sip.may_split(text) {
        return f(text);
    }
    if sip.find_separator(text).is_some() {
        return for_each_segment(text, sip, f);
    }
    let cuts = sip.inline_header_starts(text);
    let mut last = 0;
    for cut in cuts {
        if cut > last {
            f(&text[last..cut]);
        }
        last = cut;
    }
    f(&text[last..]);
}

/// Calls `f` for each flattened line in `text`, split on the separators.
pub fn for_each_segment(text: &[u8], sip: &SipSyntax, mut f: impl FnMut(&[u8])) {
    let mut rest = text;
    loop {
        match sip.find_separator(rest) {
            Some((i, end)) => {
                f(&rest[..i]);
                rest = &rest[end..];
            }
            None => {
                f(rest);
                return;
            }
        }
    }
}

/// The prefix of a start line without the marker just before the SIP text
/// (`<--- `, `RX `, `'`, `[[`), so that header lines with the bare prefix line up.
fn strip_marker(prefix: &[u8]) -> &[u8] {
    let mut p = prefix;
    for marker in [&b"RX "[..], b"TX ", b"RX", b"TX"] {
        if let Some(s) = p.strip_suffix(marker) {
            p = s;
            break;
        }
    }
    while let [rest @ .., last] = p {
        if b" \t<>-'[|=!#".contains(last) {
            p = rest;
        } else {
            break;
        }
    }
    p
}

fn skeleton_byte(b: u8) -> u8 {
    if b.is_ascii_digit() || b == b' ' {
        b'0'
    } else if b.is_ascii_alphabetic() {
        b'a'
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use memchr::memmem;

    fn syntax() -> SipSyntax {
        let mut s: SipSyntax =
            toml::from_str("line_separators = [\"#012\", \"^M\"]\ninline_headers = []").unwrap();
        s.compile().unwrap();
        s
    }

    #[test]
    fn the_quick_split_check_never_hides_a_separator_or_header() {
        let catalog = crate::catalog::Catalog::builtin("en").unwrap();
        let sip = &catalog.sip;
        let mut texts: Vec<Vec<u8>> = vec![b" OK".to_vec(), b" Session Progress".to_vec()];
        for sep in &sip.line_separators {
            texts.push(format!(" Busy Here{sep}Via: x").into_bytes());
        }
        for h in &sip.inline_headers {
            texts.push(format!(" Not Found {h}: x").into_bytes());
        }
        let mut split = 0;
        for t in &texts {
            let searched =
                sip.find_separator(t).is_some() || sip.inline_header_starts(t).next().is_some();
            assert!(
                sip.may_split(t) || !searched,
                "{:?}",
                String::from_utf8_lossy(t)
            );
            split += usize::from(searched);
        }
        assert_eq!(
            split,
            texts.len() - 2,
            "every planted separator and header is found"
        );
        assert!(!sip.may_split(b" Session Progress"));
    }

    #[test]
    fn headers_fill_event_and_blank_line_ends_message() {
        let mut ev = Event::default();
        let mut f = SipFrame::new(b"SIP/2.0 200 OK", 0, false);
        for line in [
            &b"Call-ID: abc@h"[..],
            b"CSeq: 7 INVITE",
            b"Content-Length: 0",
        ] {
            assert_eq!(f.feed(line, &syntax(), &mut ev), Feed::Absorbed);
        }
        assert_eq!(f.feed(b"", &syntax(), &mut ev), Feed::AbsorbedLast);
        assert_eq!(ev.call_id, "abc@h");
        assert_eq!(ev.cseq, Some(7));
        assert_eq!(ev.method, "INVITE");
    }

    #[test]
    fn top_via_branch_names_the_transaction() {
        let mut ev = Event::default();
        let mut f = SipFrame::new(b"SIP/2.0 401 Unauthorized", 0, false);
        for line in [
            &b"Via: SIP/2.0/UDP 127.0.0.2:5060;rport=5060;BRANCH = z9hG4bK-1, SIP/2.0/UDP x;branch=z9hG4bK-2"[..],
            b"v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-3",
        ] {
            assert_eq!(f.feed(line, &syntax(), &mut ev), Feed::Absorbed);
        }
        assert_eq!(ev.via_branch, "z9hG4bK-1");
        let mut ev = Event::default();
        apply_header(
            b"Via",
            b"SIP/2.0/UDP h;rport;branch=",
            false,
            &syntax(),
            &mut ev,
        );
        apply_header(
            b"Via",
            b"SIP/2.0/UDP h;received=1.2.3.4",
            false,
            &syntax(),
            &mut ev,
        );
        assert_eq!(ev.via_branch, "", "no branch value, none taken");
    }

    #[test]
    fn header_names_are_known_in_any_case_and_compact_form() {
        for (names, want) in [
            (&["Call-ID", "i"][..], Known::CallId),
            (&["CSeq"], Known::CSeq),
            (&["From", "f"], Known::From),
            (&["To", "t"], Known::To),
            (&["Via", "v"], Known::Via),
            (&["User-Agent", "Server"], Known::UserAgent),
            (&["Reason"], Known::Reason),
            (&["Warning"], Known::Warning),
            (&["Retry-After"], Known::RetryAfter),
            (&["Content-Type", "c"], Known::ContentType),
            (&["Content-Length", "l"], Known::ContentLength),
        ] {
            for name in names {
                for spelled in [name.to_string(), name.to_uppercase(), name.to_lowercase()] {
                    assert_eq!(Known::of(spelled.as_bytes()), want, "{spelled}");
                }
            }
        }
        for other in [
            "",
            "x",
            "Tx",
            "Vias",
            "Call_ID",
            "Content-Lengthy",
            "Contact",
            "e",
        ] {
            assert_eq!(Known::of(other.as_bytes()), Known::Other, "{other}");
        }
    }

    #[test]
    fn split_header_takes_token_names_up_to_sixty_four_bytes() {
        assert_eq!(
            split_header(b"Call-ID :  abc@h "),
            Some((&b"Call-ID"[..], &b"abc@h"[..]))
        );
        assert_eq!(split_header(b"X_Y-2:"), Some((&b"X_Y-2"[..], &b""[..])));
        for not in [
            &b""[..],
            b"Call-ID",
            b"Call-ID abc",
            b"-x: y",
            b"1x: y",
            b"file.c:123",
            b"res_pjsip.c: x",
        ] {
            assert_eq!(
                split_header(not),
                None,
                "{:?}",
                String::from_utf8_lossy(not)
            );
        }
        let name = "N".repeat(64);
        let line = format!("{name}: v");
        assert_eq!(
            split_header(line.as_bytes()),
            Some((name.as_bytes(), &b"v"[..]))
        );
        assert_eq!(split_header(format!("N{name}: v").as_bytes()), None);
        assert_eq!(split_header(format!("N{name}").as_bytes()), None);
    }

    #[test]
    fn via_branch_agrees_with_a_plain_split_of_the_parameters() {
        // The definition: the first `;`-parameter of the first via-parm
        // whose trimmed name is "branch" (any case) and which has a value.
        fn oracle(value: &[u8]) -> Option<&[u8]> {
            let first = value.split(|b| *b == b',').next().unwrap_or(value);
            first.split(|b| *b == b';').skip(1).find_map(|p| {
                let eq = p.iter().position(|b| *b == b'=')?;
                (trim(&p[..eq]).eq_ignore_ascii_case(b"branch") && eq + 1 < p.len())
                    .then(|| trim(&p[eq + 1..]))
            })
        }
        let parts: [&[u8]; 11] = [
            b";",
            b"=",
            b",",
            b" ",
            b"branch",
            b"BrAnCh",
            b"z9hG4bK1",
            b"rport",
            b"x=y",
            b"branchx",
            b"SIP/2.0/UDP h",
        ];
        // Every sequence of up to five parts, 11^5 values.
        let mut checked = 0;
        for n in 0..=5u32 {
            for mut k in 0..11usize.pow(n) {
                let mut value = Vec::new();
                for _ in 0..n {
                    value.extend_from_slice(parts[k % 11]);
                    k /= 11;
                }
                assert_eq!(
                    via_branch(&value),
                    oracle(&value),
                    "{:?}",
                    String::from_utf8_lossy(&value)
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 177_156);
    }

    #[test]
    fn link_headers_give_the_value_or_its_parameter() {
        let mut sip: SipSyntax = toml::from_str(
            "line_separators = []\ninline_headers = []\nlink_headers = [{ name = \"X-CID\" }, { name = \"P-Charging-Vector\", param = \"icid-value\" }]",
        )
        .unwrap();
        sip.compile().unwrap();
        let mut ev = Event::default();
        apply_header(b"p-charging-vector", b"orig-ioi=a.net; icid-value=\"AyretyU0dm+6O2IrT5tAFrbHLso=\" ;icid-generated-at=192.0.2.1", false, &sip, &mut ev);
        assert_eq!(ev.link, "\"AyretyU0dm+6O2IrT5tAFrbHLso=\"");
        let mut ev = Event::default();
        apply_header(
            b"P-Charging-Vector",
            b"orig-ioi=a.net",
            false,
            &sip,
            &mut ev,
        );
        apply_header(b"X-CID", b"leg-a@192.0.2.1", false, &sip, &mut ev);
        assert_eq!(
            ev.link, "leg-a@192.0.2.1",
            "no icid-value: the next link header counts"
        );
    }

    #[test]
    fn body_is_consumed_by_content_length_so_sipfrag_is_not_a_status() {
        let mut ev = Event::default();
        let mut f = SipFrame::new(b"NOTIFY sip:a@b SIP/2.0", 0, false);
        assert_eq!(
            f.feed(b"Content-Type: message/sipfrag", &syntax(), &mut ev),
            Feed::Absorbed
        );
        assert_eq!(
            f.feed(b"Content-Length: 16", &syntax(), &mut ev),
            Feed::Absorbed
        );
        assert_eq!(f.feed(b"", &syntax(), &mut ev), Feed::Absorbed);
        assert_eq!(
            f.feed(b"SIP/2.0 200 OK", &syntax(), &mut ev),
            Feed::AbsorbedLast
        );
    }

    #[test]
    fn a_framing_only_frame_keeps_the_extent_but_reads_no_header() {
        // The same NOTIFY as above, framed for its extent only (compact
        // Content-Length): its sipfrag body is still absorbed, and the
        // event learns nothing from its headers.
        let mut ev = Event::default();
        let mut f = SipFrame::new(b"NOTIFY sip:a@b SIP/2.0", 0, false).framing_only();
        for line in [
            &b"Call-ID: n@h"[..],
            b"CSeq: 9 NOTIFY",
            b"Content-Type: message/sipfrag",
            b"l: 16",
            b"",
        ] {
            assert_eq!(f.feed(line, &syntax(), &mut ev), Feed::Absorbed);
        }
        assert_eq!(
            f.feed(b"SIP/2.0 200 OK", &syntax(), &mut ev),
            Feed::AbsorbedLast
        );
        assert!(ev.call_id.is_empty() && ev.method.is_empty() && ev.cseq.is_none());
        assert_eq!(ev.has_sdp, None);
        // Without a length, the blank line ends it.
        let mut f = SipFrame::new(b"OPTIONS sip:a@b SIP/2.0", 0, false).framing_only();
        assert_eq!(
            f.feed(b"Via: SIP/2.0/UDP h;branch=z9hG4bK1", &syntax(), &mut ev),
            Feed::Absorbed
        );
        assert_eq!(f.feed(b"", &syntax(), &mut ev), Feed::AbsorbedLast);
        assert!(ev.via_branch.is_empty());
    }

    #[test]
    fn prefixed_dump_lines_are_read_after_the_prefix() {
        let mut ev = Event::default();
        let start = b"2016-11-04 08:07:45.936 [.INFO] [..MESSAGE] <--- SIP/2.0 481 Call";
        let at = memmem::find(start, b"SIP/2.0").unwrap();
        let mut f = SipFrame::new(start, at, false);
        let line = b"2016-11-04 08:07:45.936 [.INFO] [..MESSAGE] Call-ID: 487E666B ";
        assert_eq!(f.feed(line, &syntax(), &mut ev), Feed::Absorbed);
        assert_eq!(ev.call_id, "487E666B");
    }

    #[test]
    fn a_log_line_closes_the_frame() {
        let mut ev = Event::default();
        let mut f = SipFrame::new(b"SIP/2.0 200 OK", 0, false);
        assert_eq!(
            f.feed(b"[Nov 15 16:39:57] VERBOSE[1] x.c: y", &syntax(), &mut ev),
            Feed::Closed
        );
    }

    #[test]
    fn colour_codes_are_stripped_from_values() {
        assert_eq!(clean_value(b"OK\x1b[0m", false), b"OK");
        assert_eq!(clean_value(b"Busy Here #033[0m", false), b"Busy Here");
        assert_eq!(ansi_suffix(b"x\x1b[1;33m"), Some(7));
        assert_eq!(ansi_suffix(b"farm"), None);
    }

    #[test]
    fn ngrep_dots_are_line_ends() {
        assert_eq!(clean_value(b"Call-ID: x.", true), b"Call-ID: x");
        assert_eq!(clean_value(b"Call-ID: x.", false), b"Call-ID: x.");
        assert_eq!(clean_value(b"CSeq: 1 INVITE^M", false), b"CSeq: 1 INVITE");
    }

    #[test]
    fn every_kind_of_line_end_junk_is_stripped_even_stacked() {
        for (text, dot, want) in [
            (&b"a #015"[..], false, &b"a"[..]),
            (b"a\\r", false, b"a"),
            (b"a^M\x1b[0m ", false, b"a"),
            (b"a.#015", true, b"a"),
            (b"a #015 .", true, b"a"),
            (b"a\x1b[0m#015^M", false, b"a"),
            (b"term", false, b"term"),
            (b"x\t", false, b"x"),
        ] {
            assert_eq!(
                clean_value(text, dot),
                want,
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn flattened_segments_split_on_separators() {
        let sip = syntax();
        let mut seen = Vec::new();
        for_each_segment(b" #012FROM: a #012CALL-ID: b", &sip, |s| {
            seen.push(s.to_vec())
        });
        assert_eq!(
            seen,
            vec![b" ".to_vec(), b"FROM: a ".to_vec(), b"CALL-ID: b".to_vec()]
        );
    }
}
