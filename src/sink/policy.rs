//! Per-output policy, applied in the sink thread before encoding: which
//! events an output takes (`filter`), and what personal data leaves it
//! (`redact`).
//!
//! Redaction rewrites the user part of every SIP/SIPS/TEL URI in From, To
//! and the raw line (`sip:+4930123@` becomes `sip:***@`, or a keyed SHA-256
//! pseudonym `sip:u-3f9a0c1d2e4b@` that stays the same for the same user, so
//! a SIEM can still count per user), and always blanks the values of
//! Authorization and Proxy-Authorization headers wherever they appear.

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::Regex;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::catalog::kb::{KnowledgeBase, Severity};
use crate::event::Event;

/// Which events an output takes; every condition given must hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputFilter {
    /// Only these kinds of record (`response`, `call`, `security`, `stats`);
    /// all when empty. `["security"]` makes an output for the SOC alone.
    pub types: Vec<RecordType>,
    /// Only these classes (1..6), e.g. `[4, 5, 6]` for failures.
    pub classes: Vec<u8>,
    /// Only these codes, e.g. `[401, 403, 407]` for authentication.
    pub codes: Vec<u16>,
    /// Only these methods (CSeq), e.g. `["REGISTER"]`.
    pub methods: Vec<String>,
    /// Only events at least this severe (info, notice, warning, error, critical).
    pub min_severity: Option<Severity>,
}

/// The kinds of record the daemon writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordType {
    Response,
    Call,
    Security,
    Stats,
}

impl OutputFilter {
    /// Whether the output takes records of this kind (the response
    /// conditions below apply to responses only).
    pub fn takes(&self, kind: RecordType) -> bool {
        self.types.is_empty() || self.types.contains(&kind)
    }

    /// Whether the output takes this event.
    pub fn admits(&self, kb: &KnowledgeBase, ev: &Event) -> bool {
        self.takes(RecordType::Response)
            && (self.classes.is_empty() || self.classes.contains(&ev.class()))
            && (self.codes.is_empty() || self.codes.contains(&ev.code))
            && (self.methods.is_empty()
                || self
                    .methods
                    .iter()
                    .any(|m| m.eq_ignore_ascii_case(&ev.method)))
            && self
                .min_severity
                .is_none_or(|min| kb.lookup(ev.code).severity() >= min)
    }
}

/// How user parts are replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedactMode {
    /// `***`
    Mask,
    /// `u-` and 12 hex digits of SHA-256(key, user): stable, not reversible without the key.
    Hash,
}

/// `redact = { users = "hash", key_env = "SIPANNOTATE_REDACT_KEY" }`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactConfig {
    pub users: RedactMode,
    /// Environment variable holding the hash key (never the config or argv);
    /// without one, phone numbers could be recovered by hashing them all.
    pub key_env: Option<String>,
}

/// A ready redactor.
#[derive(Debug, Clone)]
pub struct Redactor {
    mode: RedactMode,
    key: Vec<u8>,
}

fn uri_user() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| Regex::new(r"(?i)(sips?:|tel:)([^@;>\s,]+)(@?)").expect("valid regex"))
}

fn authorization() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| {
        Regex::new(r"(?i)((?:proxy-)?authorization\s*:\s*)([^\r\n]*?)(#012|\^M|\\r|\\n|$)")
            .expect("valid regex")
    })
}

impl Redactor {
    /// A redactor; `Hash` needs its key variable set.
    pub fn new(config: &RedactConfig) -> Result<Redactor, String> {
        let key = match (&config.key_env, config.users) {
            (Some(var), _) => std::env::var(var)
                .map_err(|_| format!("redact.key_env: ${var} is not set"))?
                .into_bytes(),
            (None, RedactMode::Hash) => {
                return Err(
                    "redact.key_env: users = \"hash\" needs a key (an environment variable)".into(),
                )
            }
            (None, RedactMode::Mask) => Vec::new(),
        };
        Ok(Redactor {
            mode: config.users,
            key,
        })
    }

    fn pseudonym(&self, user: &str) -> String {
        match self.mode {
            RedactMode::Mask => "***".into(),
            RedactMode::Hash => {
                let mut h = Sha256::new();
                h.update(&self.key);
                h.update([0]);
                h.update(user.as_bytes());
                let d = h.finalize();
                format!(
                    "u-{}",
                    d[..6]
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                )
            }
        }
    }

    /// The text with URI users replaced and authorization values blanked.
    pub fn text<'t>(&self, s: &'t str) -> Cow<'t, str> {
        let s = authorization().replace_all(s, "${1}[redacted]${3}");
        match uri_user().replace_all(&s, |c: &regex::Captures<'_>| {
            // A URI without '@' is host-only (sip:pbx.example): nothing to hide,
            // except tel: URIs, which are all number.
            let is_tel = c[1].eq_ignore_ascii_case("tel:");
            if c[3].is_empty() && !is_tel {
                return c[0].to_string();
            }
            format!("{}{}{}", &c[1], self.pseudonym(&c[2]), &c[3])
        }) {
            Cow::Borrowed(_) => s,
            Cow::Owned(o) => Cow::Owned(o),
        }
    }

    /// The event with From, To and the raw line redacted.
    pub fn event<'e>(&self, ev: &'e Event) -> Cow<'e, Event> {
        let raw = String::from_utf8_lossy(&ev.raw);
        let (from, to, raw2) = (self.text(&ev.from), self.text(&ev.to), self.text(&raw));
        if matches!(
            (&from, &to, &raw2),
            (Cow::Borrowed(_), Cow::Borrowed(_), Cow::Borrowed(_))
        ) {
            return Cow::Borrowed(ev);
        }
        let mut e = ev.clone();
        e.from = from.into_owned();
        e.to = to.into_owned();
        e.raw = raw2.into_owned().into_bytes();
        Cow::Owned(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_masked_or_pseudonymised_and_authorization_never_leaves() {
        let mask = Redactor::new(&RedactConfig {
            users: RedactMode::Mask,
            key_env: None,
        })
        .unwrap();
        assert_eq!(
            mask.text("\"Al\" <sip:+4930123456@carrier.example>;tag=1"),
            "\"Al\" <sip:***@carrier.example>;tag=1"
        );
        assert_eq!(mask.text("<tel:+4930123456>"), "<tel:***>");
        assert_eq!(
            mask.text("Contact: <sip:pbx.example;lr>"),
            "Contact: <sip:pbx.example;lr>"
        );
        assert_eq!(
            mask.text("SIP/2.0 401 x#012Authorization: Digest username=\"alice\", response=\"abc\"#012Call-ID: 1"),
            "SIP/2.0 401 x#012Authorization: [redacted]#012Call-ID: 1"
        );
        std::env::set_var("SIPANNOTATE_TEST_KEY", "k1");
        let hash = Redactor::new(&RedactConfig {
            users: RedactMode::Hash,
            key_env: Some("SIPANNOTATE_TEST_KEY".into()),
        })
        .unwrap();
        let a = hash.text("<sip:alice@x>").into_owned();
        assert!(a.starts_with("<sip:u-") && !a.contains("alice"), "{a}");
        assert_eq!(
            hash.text("<sip:alice@y>").split('@').next(),
            a.split('@').next(),
            "stable"
        );
        assert_ne!(hash.text("<sip:bob@x>"), a);
        assert!(Redactor::new(&RedactConfig {
            users: RedactMode::Hash,
            key_env: None
        })
        .is_err());
    }
}
