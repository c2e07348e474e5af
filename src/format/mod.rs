//! Output formats. The engine drives an `Output` with the raw lines (to pass
//! through), each status line as soon as it is seen (for immediate text
//! annotations), and each completed event (for structured formats).

pub mod collect;
pub mod findings;
pub mod json;
pub mod siem;
pub mod text;

use std::io;

use serde::Deserialize;

use crate::correlate::calls::CallRecord;
use crate::correlate::security::Detection;
use crate::event::Event;
use siem::SiemKind;

/// Where the engine sends what it read and found.
pub trait Output {
    /// Raw input bytes that are not status lines (whole lines, with their
    /// line breaks); `first_line` is the line number of the first of them.
    /// Outputs of events only ignore them.
    fn passthrough(&mut self, _input: &str, _bytes: &[u8], _first_line: u64) -> io::Result<()> {
        Ok(())
    }

    /// A status line, as soon as it is recognized; `newline` is whether the
    /// input had a line break after it. The event holds what is known so far.
    /// Outputs of complete events only ignore it.
    fn status_line(
        &mut self,
        _input: &str,
        _line: &[u8],
        _newline: bool,
        _ev: &Event,
    ) -> io::Result<()> {
        Ok(())
    }

    /// A request the log dumped (its headers read): method, CSeq, Call-ID,
    /// peers and time, `code` 0. For call tracking; outputs ignore it.
    fn request(&mut self, _input: &str, _ev: &Event) -> io::Result<()> {
        Ok(())
    }

    /// Whether `request` is wanted. Reading a request's wrappers and time
    /// costs as much as a response's, so the engine skips it for outputs
    /// that ignore requests.
    fn wants_requests(&self) -> bool {
        false
    }

    /// A line of a security format (failed authentication and the like); the
    /// line itself also went through `passthrough`. `ev.format` names the
    /// format, whose `detection` says what the line reports.
    fn security_line(&mut self, _input: &str, _ev: &Event) -> io::Result<()> {
        Ok(())
    }

    /// A call the analysis stage closed (`--calls`).
    fn call(&mut self, _call: &CallRecord) -> io::Result<()> {
        Ok(())
    }

    /// A security detection that fired.
    fn detection(&mut self, _d: &Detection) -> io::Result<()> {
        Ok(())
    }

    /// A complete event (its message, if any, fully read).
    fn event(&mut self, input: &str, ev: &Event) -> io::Result<()>;

    /// Pushes buffered output to its destination (nothing, for outputs that
    /// do not buffer).
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How events are written: the schema-1 JSON, the text annotation, or a
/// SIEM encoding. The same names on the command line (`-o`) and in the
/// daemon's config (`encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    #[default]
    Json,
    Text,
    Ecs,
    Cef,
    Leef,
    Gelf,
    Hec,
    Syslog,
    Logfmt,
    /// Only security detections, one stable line each, for fail2ban.
    Fail2ban,
}

impl Encoding {
    /// The SIEM encoding, if this is one.
    pub fn siem(self) -> Option<SiemKind> {
        Some(match self {
            Encoding::Json | Encoding::Text | Encoding::Fail2ban => return None,
            Encoding::Ecs => SiemKind::Ecs,
            Encoding::Cef => SiemKind::Cef,
            Encoding::Leef => SiemKind::Leef,
            Encoding::Gelf => SiemKind::Gelf,
            Encoding::Hec => SiemKind::Hec,
            Encoding::Syslog => SiemKind::Syslog,
            Encoding::Logfmt => SiemKind::Logfmt,
        })
    }
}
