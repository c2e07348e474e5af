//! Inputs of the follow mode and the daemon: files followed through rotation
//! (`file`), a syslog listener (`syslog`), the systemd journal (`journal`),
//! and the checkpoints that let a restart resume where the last run stopped.

pub mod checkpoint;
pub mod file;
pub mod journal;
pub mod syslog;
