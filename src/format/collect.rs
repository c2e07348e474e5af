//! An output that keeps complete events in memory and counts passed-through
//! bytes: for self-checks (`formats --check`) and tests.

use std::io;

use crate::event::Event;
use crate::format::Output;

/// Collects events; remembers how many bytes went through as lines.
#[derive(Debug, Default)]
pub struct Collector {
    pub events: Vec<Event>,
    /// Requests the engine reported (dumped messages).
    pub requests: Vec<Event>,
    /// Lines of security formats.
    pub security: Vec<Event>,
    pub status_lines: usize,
    pub passthrough_bytes: usize,
}

impl Output for Collector {
    fn passthrough(&mut self, _: &str, bytes: &[u8], _: u64) -> io::Result<()> {
        self.passthrough_bytes += bytes.len();
        Ok(())
    }
    fn status_line(&mut self, _: &str, line: &[u8], newline: bool, _: &Event) -> io::Result<()> {
        self.status_lines += 1;
        self.passthrough_bytes += line.len() + usize::from(newline);
        Ok(())
    }
    fn event(&mut self, _: &str, ev: &Event) -> io::Result<()> {
        self.events.push(ev.clone());
        Ok(())
    }
    fn wants_requests(&self) -> bool {
        true
    }
    fn request(&mut self, _: &str, ev: &Event) -> io::Result<()> {
        self.requests.push(ev.clone());
        Ok(())
    }
    fn security_line(&mut self, _: &str, ev: &Event) -> io::Result<()> {
        self.security.push(ev.clone());
        Ok(())
    }
}
