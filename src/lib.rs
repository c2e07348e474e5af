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
//! - [`matcher`] recognizes status, request and wrapper lines;
//! - [`enrich`] joins an [`event::Event`] with the knowledge base;
//! - [`format`] writes text annotations or JSON events;
//! - [`pipeline`] wires files and standard input to an engine and an output;
//! - [`explain`] and [`selfcheck`] back the `explain`, `codes` and `formats` commands.

pub mod catalog;
pub mod cli;
pub mod enrich;
pub mod error;
pub mod event;
pub mod explain;
pub mod format;
pub mod framer;
pub mod matcher;
pub mod pipeline;
pub mod selfcheck;
pub mod sipheaders;
pub mod testgen;
pub mod timestamp;
