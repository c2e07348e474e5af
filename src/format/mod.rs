//! Output formats. The engine drives an `Output` with the raw lines (to pass
//! through), each status line as soon as it is seen (for immediate text
//! annotations), and each completed event (for structured formats).

pub mod collect;
pub mod json;
pub mod siem;
pub mod text;

use std::io;

use crate::event::Event;

/// Where the engine sends what it read and found.
pub trait Output {
    /// Raw input bytes that are not status lines (whole lines, with their
    /// line breaks); `first_line` is the line number of the first of them.
    fn passthrough(&mut self, input: &str, bytes: &[u8], first_line: u64) -> io::Result<()>;

    /// A status line, as soon as it is recognized; `newline` is whether the
    /// input had a line break after it. The event holds what is known so far.
    fn status_line(
        &mut self,
        input: &str,
        line: &[u8],
        newline: bool,
        ev: &Event,
    ) -> io::Result<()>;

    /// A complete event (its message, if any, fully read).
    fn event(&mut self, input: &str, ev: &Event) -> io::Result<()>;

    /// Pushes buffered output to its destination.
    fn flush(&mut self) -> io::Result<()>;
}
