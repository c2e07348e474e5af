//! The crate's error type: a message that already names where the problem is
//! (file, line, key) and what to do, so that `main` only has to print it.

use std::fmt;

/// An error with its context folded into the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
}

impl Error {
    /// A new error with a complete, user-facing message.
    pub fn new(message: impl Into<String>) -> Error {
        Error {
            message: message.into(),
        }
    }

    /// Prefixes the message with where it happened (a file, a key).
    pub fn context(self, place: impl fmt::Display) -> Error {
        Error {
            message: format!("{place}: {}", self.message),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
