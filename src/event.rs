//! The response event: what one status line (and the message around it) told us.
//!
//! An `Event` is filled by the matcher and framer, then read by the formatters
//! together with the knowledge base. Its buffers are reused from one event to
//! the next, so steady-state annotation allocates nothing. The JSON contract
//! (schema 1) is written by `format::json`; see the README for the fields.

use crate::catalog::formats::Direction;

/// The JSON schema version of events.
pub const SCHEMA: u32 = 1;

/// One response event, with reusable buffers. Empty strings stand for null.
#[derive(Debug, Default, Clone)]
pub struct Event {
    /// 1-based line number of the status line in its input.
    pub line: u64,
    /// Index of the recognizing format in `Catalog::formats`.
    pub format: usize,
    /// Index of the context (wrapper) format that supplied peers or time.
    pub wrapper: Option<usize>,
    pub code: u16,
    pub reason: String,
    /// The log's timestamp as written.
    pub ts_raw: String,
    /// The timestamp normalised to RFC 3339 (empty when it cannot be).
    pub ts: String,
    pub method: String,
    pub cseq: Option<u32>,
    pub call_id: String,
    pub from: String,
    pub to: String,
    pub user_agent: String,
    /// The `branch` parameter of the top Via: names the transaction at the
    /// hop that logged the message (RFC 3261 §17.2.3).
    pub via_branch: String,
    /// The value of a B2BUA link header (`patterns/sip.toml` link_headers).
    pub link: String,
    pub src: String,
    pub dst: String,
    /// A peer named by the log without saying which side it is.
    pub peer: String,
    pub transport: String,
    pub direction: Option<Direction>,
    /// Raw value of the Reason header.
    pub reason_header: String,
    /// Raw value of the Warning header.
    pub warning: String,
    /// Whether the response carried Retry-After (None: headers not seen).
    pub retry_after: Option<Option<u32>>,
    /// Whether the response carried SDP (None: headers not seen).
    pub has_sdp: Option<bool>,
    /// The status line as it appeared (bytes, without the line break).
    pub raw: Vec<u8>,
    /// True once a SIP header block was seen for this event.
    pub headers_seen: bool,
}

impl Event {
    /// Empties every field, keeping the buffers' capacity.
    pub fn clear(&mut self) {
        self.line = 0;
        self.format = 0;
        self.wrapper = None;
        self.code = 0;
        self.reason.clear();
        self.ts_raw.clear();
        self.ts.clear();
        self.method.clear();
        self.cseq = None;
        self.call_id.clear();
        self.from.clear();
        self.to.clear();
        self.user_agent.clear();
        self.via_branch.clear();
        self.link.clear();
        self.src.clear();
        self.dst.clear();
        self.peer.clear();
        self.transport.clear();
        self.direction = None;
        self.reason_header.clear();
        self.warning.clear();
        self.retry_after = None;
        self.has_sdp = None;
        self.raw.clear();
        self.headers_seen = false;
    }

    /// The class digit (1..6).
    pub fn class(&self) -> u8 {
        (self.code / 100) as u8
    }

    /// Resolves a peer named without a side into src or dst using the direction.
    pub fn settle_peers(&mut self) {
        if self.peer.is_empty() {
            return;
        }
        match self.direction {
            Some(Direction::In) if self.src.is_empty() => {
                std::mem::swap(&mut self.src, &mut self.peer)
            }
            Some(Direction::Out) if self.dst.is_empty() => {
                std::mem::swap(&mut self.dst, &mut self.peer)
            }
            _ => {}
        }
    }
}

/// Replaces `dst` with `src` decoded as UTF-8 (invalid bytes become U+FFFD).
pub fn set_lossy(dst: &mut String, src: &[u8]) {
    dst.clear();
    push_lossy(dst, src);
}

/// Appends `src` decoded as UTF-8 (invalid bytes become U+FFFD).
pub fn push_lossy(dst: &mut String, src: &[u8]) {
    if let Ok(s) = std::str::from_utf8(src) {
        dst.push_str(s);
        return;
    }
    for chunk in src.utf8_chunks() {
        dst.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            dst.push('\u{FFFD}');
        }
    }
}

/// Trims ASCII white space from both ends of a byte slice.
pub fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if first.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if last.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}
