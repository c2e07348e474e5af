//! The integration test binary: data-driven checks over the bundled corpus,
//! the format samples, the knowledge base, hostile input and the CLI.

mod analysis;
mod attacks;
mod cli;
mod corpus;
mod daemon;
mod flows;
mod hostile;
mod http_sinks;
mod inputs;
mod kb;
mod real_tools;
mod siem;
mod sinks;
mod support;
mod tools;
