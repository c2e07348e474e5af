//! Loads everything under `patterns/`: the knowledge base in one language, the
//! log-format recognizers, the SIP flattening rules and the timestamp shapes.
//!
//! Built-in files are embedded in the binary (see `build.rs`); an override
//! directory (`/etc/sipannotate/patterns.d/`) may add formats or replace a
//! built-in one by using its id. A bad file is an error naming file and key,
//! never a panic.

pub mod formats;
pub mod kb;

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Result};
use formats::{Format, SipSyntax, TimestampShape};
use kb::KnowledgeBase;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_patterns.rs"));
}

/// The default directory for admin-supplied formats.
pub const DEFAULT_OVERRIDE_DIR: &str = "/etc/sipannotate/patterns.d";

/// The languages the knowledge base ships.
pub fn languages() -> Vec<String> {
    let mut langs: Vec<String> = embedded::PATTERN_FILES
        .iter()
        .filter_map(|(p, _)| p.strip_prefix("kb/")?.strip_suffix(".toml"))
        .filter(|p| !matches!(*p, "codes" | "notes" | "q850"))
        .map(String::from)
        .collect();
    langs.sort();
    langs
}

/// The flattened keys ("code.486.fix") of a built-in language file, and the
/// keys whose text is empty: for checking that every language is complete.
pub fn language_keys(lang: &str) -> Result<(Vec<String>, Vec<String>)> {
    let name = format!("kb/{lang}.toml");
    let text = embedded::PATTERN_FILES
        .iter()
        .find(|(p, _)| *p == name)
        .map(|(_, t)| *t)
        .ok_or_else(|| Error::new(format!("patterns/{name}: no such language file")))?;
    let file: kb::LanguageFile = kb::parse_toml(&format!("patterns/{name}"), text)?;
    Ok((file.keys(), file.empty_texts()))
}

/// Everything the annotator knows, loaded and validated.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub kb: KnowledgeBase,
    /// Sorted by priority, highest first; ids are unique.
    pub formats: Vec<Format>,
    pub sip: SipSyntax,
    pub timestamps: Vec<TimestampShape>,
    /// Security detection rules (`patterns/security.toml`).
    pub security: crate::correlate::security::SecurityRules,
}

impl Catalog {
    /// The built-in catalog in one language.
    pub fn builtin(lang: &str) -> Result<Catalog> {
        Catalog::load(lang, None)
    }

    /// Built-ins plus every `*.toml` format in `override_dir` (if given and present).
    pub fn load(lang: &str, override_dir: Option<&Path>) -> Result<Catalog> {
        let files: HashMap<String, String> = embedded::PATTERN_FILES
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect();
        let kb = KnowledgeBase::load(&files, lang)?;
        let mut formats = Vec::new();
        for (path, text) in embedded::PATTERN_FILES {
            if path.starts_with("formats/") {
                formats.push(Format::parse(&format!("patterns/{path}"), text)?);
            }
        }
        if let Some(dir) = override_dir {
            for f in load_dir(dir)? {
                match formats.iter_mut().find(|x| x.id == f.id) {
                    Some(slot) => *slot = f,
                    None => formats.push(f),
                }
            }
        }
        let mut seen: HashMap<&str, &str> = HashMap::new();
        for f in &formats {
            if let Some(other) = seen.insert(&f.id, &f.source) {
                return Err(Error::new(format!(
                    "{}: key id: {:?} is already used by {other}",
                    f.source, f.id
                )));
            }
        }
        formats.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
        let mut sip: SipSyntax = kb::parse_toml(
            "patterns/sip.toml",
            files
                .get("sip.toml")
                .ok_or_else(|| Error::new("patterns/sip.toml: file missing"))?,
        )?;
        sip.compile()?;
        let timestamps = formats::parse_timestamps(
            "patterns/timestamps.toml",
            files
                .get("timestamps.toml")
                .ok_or_else(|| Error::new("patterns/timestamps.toml: file missing"))?,
        )?;
        let security = crate::correlate::security::SecurityRules::parse(
            "patterns/security.toml",
            files
                .get("security.toml")
                .ok_or_else(|| Error::new("patterns/security.toml: file missing"))?,
        )?;
        Ok(Catalog {
            kb,
            formats,
            sip,
            timestamps,
            security,
        })
    }
}

fn load_dir(dir: &Path) -> Result<Vec<Format>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::new(format!(
                "{}: cannot list pattern overrides: {e}",
                dir.display()
            )))
        }
    };
    let mut paths: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::new(format!("{}: cannot read: {e}", path.display())))?;
        out.push(Format::parse(&path.display().to_string(), &text)?);
    }
    Ok(out)
}
