//! sipannotate: finds SIP response statuses in PBX, proxy and SBC logs and
//! explains them.
//!
//! ```text
//! source ──► framer ──► matcher ──► enricher ──► formatter ──► sink
//! stdin,     lines and   prefilter   knowledge     text, json     stdout
//! files      SIP dumps   + confirm   base lookup
//! ```
//!
//! - [`catalog`] loads `patterns/`: the knowledge base and the log formats;
//! - [`framer`] runs one input: rolling buffer, bulk literal scan, frames;
//! - [`matcher`] recognizes status, request and wrapper lines, with
//!   [`literal_search`] for its multi-literal scans;
//! - [`enrich`] joins an [`event::Event`] with the knowledge base;
//! - [`format`](mod@crate::format) writes text annotations or JSON events;
//! - [`pipeline`] wires files and standard input to an engine and an output;
//! - [`source`] follows files through rotation, listens for syslog, reads the
//!   journal, and keeps checkpoints; [`sink`] delivers the daemon's events;
//! - [`daemon`] runs a [`config`] as a systemd service;
//! - [`format::siem`](mod@crate::format::siem) encodes events for SIEMs (ECS, CEF, LEEF, GELF, HEC,
//!   RFC 5424, logfmt); [`rsyslog`] speaks rsyslog's mmexternal and omprog
//!   protocols; [`wireshark`] writes a Lua post-dissector from the knowledge base;
//! - [`explain`] and [`selfcheck`] back the `explain`, `codes` and `formats` commands.

pub mod catalog;
pub mod cli;
pub mod config;
pub mod correlate;
pub mod daemon;
pub mod enrich;
pub mod error;
pub mod event;
pub mod explain;
pub mod format;
pub mod framer;
pub mod literal_search;
pub mod matcher;
pub mod pipeline;
pub mod report;
pub mod rsyslog;
pub mod selfcheck;
pub mod sink;
pub mod sipheaders;
pub mod source;
pub mod testgen;
pub mod timestamp;
pub mod wireshark;
