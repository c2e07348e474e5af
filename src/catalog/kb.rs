//! The knowledge base: every registered SIP response code with its texts in one
//! language, class fallbacks for unregistered codes, context notes, Q.850
//! causes and Warning codes.
//!
//! Invariants, checked at load time so that lookups never fail later: every
//! registered code has meaning, when and fix; every class 1..6 has a fallback;
//! every note id has a text; every Q.850 cause has a name.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use crate::error::{Error, Result};

/// How much one occurrence of a code should worry an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Notice,
    Warning,
    Error,
    Critical,
}

impl Severity {
    /// The usual weight of a class, for codes the registry does not list.
    pub fn of_class(class: u8) -> Severity {
        match class {
            1 | 2 => Severity::Info,
            3 => Severity::Notice,
            4 | 6 => Severity::Warning,
            _ => Severity::Error,
        }
    }

    /// The lowercase name used in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Notice => "notice",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }
}

/// The texts an operator reads: what it means, when it shows up, what to do.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Texts {
    pub meaning: String,
    pub when: String,
    pub fix: String,
}

/// One registered response code, in one language.
#[derive(Debug, Clone)]
pub struct CodeEntry {
    pub code: u16,
    pub reason: String,
    pub rfc: String,
    pub severity: Severity,
    pub texts: Texts,
}

/// The fallback for a class (1..6), used for unregistered codes.
#[derive(Debug, Clone)]
pub struct ClassEntry {
    pub class: u8,
    pub name: String,
    pub texts: Texts,
    /// What the sender of the request does next.
    pub next: String,
}

/// A context note: shown when its conditions match the event.
#[derive(Debug, Clone)]
pub struct Note {
    pub id: String,
    pub codes: Vec<u16>,
    pub classes: Vec<u8>,
    pub methods: Vec<String>,
    pub not_methods: Vec<String>,
    pub sdp: Option<bool>,
    pub retry_after: Option<bool>,
    pub text: String,
}

/// What is known about a response when choosing its note.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoteContext<'a> {
    pub method: Option<&'a str>,
    pub has_sdp: Option<bool>,
    pub has_retry_after: Option<bool>,
}

impl Note {
    fn applies(&self, code: u16, ctx: &NoteContext<'_>) -> bool {
        if !self.codes.is_empty() && !self.codes.contains(&code) {
            return false;
        }
        if !self.classes.is_empty() && !self.classes.contains(&((code / 100) as u8)) {
            return false;
        }
        if !self.methods.is_empty() {
            match ctx.method {
                Some(m) if self.methods.iter().any(|x| x.eq_ignore_ascii_case(m)) => {}
                _ => return false,
            }
        }
        if !self.not_methods.is_empty() {
            match ctx.method {
                Some(m) if !self.not_methods.iter().any(|x| x.eq_ignore_ascii_case(m)) => {}
                _ => return false,
            }
        }
        if let Some(want) = self.sdp {
            if ctx.has_sdp != Some(want) {
                return false;
            }
        }
        if let Some(want) = self.retry_after {
            if ctx.has_retry_after != Some(want) {
                return false;
            }
        }
        true
    }
}

/// A Q.850 cause with its RFC 3398 SIP mapping.
#[derive(Debug, Clone)]
pub struct Cause {
    pub cause: u16,
    pub name: String,
    /// The SIP status RFC 3398 recommends, if it names one.
    pub sip: Option<u16>,
}

/// A registered Warning code (300..399).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarningEntry {
    pub text: String,
    pub meaning: String,
}

/// User-interface labels in the chosen language.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Labels {
    pub meaning: String,
    pub when: String,
    pub fix: String,
    pub note: String,
    pub class: String,
    pub rfc: String,
    pub severity: String,
    pub unregistered: String,
    pub key_differences: String,
    #[serde(rename = "final")]
    pub final_: String,
    pub provisional: String,
    pub q850_cause: String,
    pub maps_to: String,
    pub no_mapping: String,
    pub reason_header: String,
    pub warning_header: String,
    pub next_step: String,
    pub q850_mapped: String,
    pub notes: String,
    pub cmp_same_class: String,
    pub cmp_class: String,
    pub cmp_severity: String,
    pub cmp_next: String,
}

/// The whole knowledge base in one language.
#[derive(Debug, Clone)]
pub struct KnowledgeBase {
    pub lang: String,
    pub labels: Labels,
    codes: Vec<Option<CodeEntry>>, // indexed by code - 100, for 100..=699
    classes: Vec<ClassEntry>,      // index class - 1
    notes: Vec<Note>,
    /// For each code 100..=699, the positions of the notes that may apply.
    notes_by_code: Vec<Vec<usize>>,
    causes: BTreeMap<u16, Cause>,
    warnings: BTreeMap<u16, WarningEntry>,
    flows: BTreeMap<String, Texts>,
    detections: BTreeMap<String, Texts>,
    kpis: BTreeMap<String, KpiTexts>,
}

/// What the enricher needs for one code: the registered entry or the class fallback.
#[derive(Debug, Clone, Copy)]
pub struct Lookup<'k> {
    pub code: u16,
    pub class: &'k ClassEntry,
    pub entry: Option<&'k CodeEntry>,
}

impl<'k> Lookup<'k> {
    /// True when the code is in the IANA registry.
    pub fn registered(&self) -> bool {
        self.entry.is_some()
    }
    /// The texts to show: the code's own, or its class's.
    pub fn texts(&self) -> &'k Texts {
        match self.entry {
            Some(e) => &e.texts,
            None => &self.class.texts,
        }
    }
    /// The registry's reason phrase, if registered.
    pub fn canonical_reason(&self) -> Option<&'k str> {
        self.entry.map(|e| e.reason.as_str())
    }
    /// The defining RFC, if registered.
    pub fn rfc(&self) -> Option<&'k str> {
        self.entry.map(|e| e.rfc.as_str())
    }
    /// Severity; unregistered codes take their class's usual weight.
    pub fn severity(&self) -> Severity {
        match self.entry {
            Some(e) => e.severity,
            None => Severity::of_class((self.code / 100) as u8),
        }
    }
}

// ----- raw file shapes -----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodesFile {
    code: Vec<CodeFact>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeFact {
    code: u16,
    reason: String,
    rfc: String,
    severity: Severity,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NotesFile {
    note: Vec<NoteFact>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteFact {
    id: String,
    #[serde(default)]
    codes: Vec<u16>,
    #[serde(default)]
    classes: Vec<u8>,
    #[serde(default)]
    methods: Vec<String>,
    #[serde(default)]
    not_methods: Vec<String>,
    sdp: Option<bool>,
    retry_after: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CausesFile {
    cause: Vec<CauseFact>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CauseFact {
    cause: u16,
    sip: u16,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassTexts {
    name: String,
    meaning: String,
    when: String,
    fix: String,
    next: String,
}

/// One language file (`patterns/kb/<lang>.toml`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LanguageFile {
    lang: String,
    labels: Labels,
    class: BTreeMap<String, ClassTexts>,
    code: BTreeMap<String, Texts>,
    note: BTreeMap<String, String>,
    q850: BTreeMap<String, String>,
    warning: BTreeMap<String, WarningEntry>,
    flow: BTreeMap<String, Texts>,
    detection: BTreeMap<String, Texts>,
    kpi: BTreeMap<String, KpiTexts>,
}

/// A KPI's display name and its definition, in one language.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KpiTexts {
    pub name: String,
    pub definition: String,
}

/// The KPI names that need texts (`[kpi.NAME]`), as `correlate::kpi` reports them.
pub const KPI_NAMES: [&str; 12] = [
    "ser",
    "seer",
    "isa",
    "scr",
    "asr",
    "ner",
    "ira",
    "srd",
    "srd_failed",
    "setup",
    "duration",
    "rrd",
];

impl LanguageFile {
    /// Every key of the file, flattened ("code.486.fix"), to compare languages.
    pub(crate) fn keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        for c in self.class.keys() {
            for f in ["name", "meaning", "when", "fix", "next"] {
                keys.push(format!("class.{c}.{f}"));
            }
        }
        for c in self.code.keys() {
            for f in ["meaning", "when", "fix"] {
                keys.push(format!("code.{c}.{f}"));
            }
        }
        keys.extend(self.note.keys().map(|k| format!("note.{k}")));
        keys.extend(self.q850.keys().map(|k| format!("q850.{k}")));
        for w in self.warning.keys() {
            keys.push(format!("warning.{w}.text"));
            keys.push(format!("warning.{w}.meaning"));
        }
        for (table, map) in [("flow", &self.flow), ("detection", &self.detection)] {
            for k in map.keys() {
                for f in ["meaning", "when", "fix"] {
                    keys.push(format!("{table}.{k}.{f}"));
                }
            }
        }
        for k in self.kpi.keys() {
            keys.push(format!("kpi.{k}.name"));
            keys.push(format!("kpi.{k}.definition"));
        }
        keys.sort();
        keys
    }

    /// Keys whose text is empty (a missing translation).
    pub(crate) fn empty_texts(&self) -> Vec<String> {
        let mut empty = Vec::new();
        for (c, t) in &self.class {
            for (f, v) in [
                ("name", &t.name),
                ("meaning", &t.meaning),
                ("when", &t.when),
                ("fix", &t.fix),
                ("next", &t.next),
            ] {
                if v.trim().is_empty() {
                    empty.push(format!("class.{c}.{f}"));
                }
            }
        }
        for (c, t) in &self.code {
            for (f, v) in [("meaning", &t.meaning), ("when", &t.when), ("fix", &t.fix)] {
                if v.trim().is_empty() {
                    empty.push(format!("code.{c}.{f}"));
                }
            }
        }
        for (k, v) in self.note.iter().chain(self.q850.iter()) {
            if v.trim().is_empty() {
                empty.push(k.clone());
            }
        }
        for (table, map) in [("flow", &self.flow), ("detection", &self.detection)] {
            for (k, t) in map {
                for (f, v) in [("meaning", &t.meaning), ("when", &t.when), ("fix", &t.fix)] {
                    if v.trim().is_empty() {
                        empty.push(format!("{table}.{k}.{f}"));
                    }
                }
            }
        }
        for (k, t) in &self.kpi {
            if t.name.trim().is_empty() || t.definition.trim().is_empty() {
                empty.push(format!("kpi.{k}"));
            }
        }
        empty
    }
}

pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(name: &str, text: &str) -> Result<T> {
    toml::from_str(text).map_err(|e| Error::new(format!("{name}: {e}")))
}

fn parse_num<T: std::str::FromStr>(file: &str, table: &str, key: &str) -> Result<T> {
    key.parse()
        .map_err(|_| Error::new(format!("{file}: [{table}] key {key:?} is not a number")))
}

impl KnowledgeBase {
    /// Builds the knowledge base from the neutral files and one language file.
    /// `files` maps a path relative to `patterns/` to its text.
    pub fn load(files: &HashMap<String, String>, lang: &str) -> Result<KnowledgeBase> {
        let get = |name: &str| -> Result<&String> {
            files
                .get(name)
                .ok_or_else(|| Error::new(format!("patterns/{name}: file missing")))
        };
        let lang_name = format!("kb/{lang}.toml");
        let lang_text = files.get(&lang_name).ok_or_else(|| {
            let mut have: Vec<&str> = files
                .keys()
                .filter_map(|k| k.strip_prefix("kb/")?.strip_suffix(".toml"))
                .filter(|k| !matches!(*k, "codes" | "notes" | "q850"))
                .collect();
            have.sort();
            Error::new(format!(
                "no knowledge base for language {lang:?}; available: {}",
                have.join(", ")
            ))
        })?;
        let codes: CodesFile = parse_toml("patterns/kb/codes.toml", get("kb/codes.toml")?)?;
        let notes: NotesFile = parse_toml("patterns/kb/notes.toml", get("kb/notes.toml")?)?;
        let causes: CausesFile = parse_toml("patterns/kb/q850.toml", get("kb/q850.toml")?)?;
        let texts: LanguageFile = parse_toml(&format!("patterns/{lang_name}"), lang_text)?;
        let file = format!("patterns/{lang_name}");

        let mut classes = Vec::new();
        for class in 1..=6u8 {
            let t = texts.class.get(&class.to_string()).ok_or_else(|| {
                Error::new(format!(
                    "{file}: [class.{class}] missing (every class 1..6 needs a fallback)"
                ))
            })?;
            classes.push(ClassEntry {
                class,
                name: t.name.clone(),
                texts: Texts {
                    meaning: t.meaning.clone(),
                    when: t.when.clone(),
                    fix: t.fix.clone(),
                },
                next: t.next.clone(),
            });
        }
        let mut table: Vec<Option<CodeEntry>> = vec![None; 600];
        for fact in codes.code {
            if !(100..=699).contains(&fact.code) {
                return Err(Error::new(format!(
                    "patterns/kb/codes.toml: code {} is outside 100..699",
                    fact.code
                )));
            }
            let t = texts.code.get(&fact.code.to_string()).ok_or_else(|| {
                Error::new(format!(
                    "{file}: [code.{}] missing: every registered code needs meaning, when and fix",
                    fact.code
                ))
            })?;
            table[(fact.code - 100) as usize] = Some(CodeEntry {
                code: fact.code,
                reason: fact.reason,
                rfc: fact.rfc,
                severity: fact.severity,
                texts: t.clone(),
            });
        }
        for key in texts.code.keys() {
            let code: u16 = parse_num(&file, "code", key)?;
            if !(100..=699).contains(&code) || table[(code - 100) as usize].is_none() {
                return Err(Error::new(format!(
                    "{file}: [code.{key}] has texts but is not in patterns/kb/codes.toml"
                )));
            }
        }
        let mut note_list = Vec::new();
        for n in notes.note {
            let text = texts.note.get(&n.id).ok_or_else(|| {
                Error::new(format!(
                    "{file}: [note] key {:?} missing (declared in patterns/kb/notes.toml)",
                    n.id
                ))
            })?;
            note_list.push(Note {
                text: text.clone(),
                id: n.id,
                codes: n.codes,
                classes: n.classes,
                methods: n.methods,
                not_methods: n.not_methods,
                sdp: n.sdp,
                retry_after: n.retry_after,
            });
        }
        let mut cause_map = BTreeMap::new();
        for c in causes.cause {
            let name = texts
                .q850
                .get(&c.cause.to_string())
                .ok_or_else(|| Error::new(format!("{file}: [q850] key \"{}\" missing", c.cause)))?;
            cause_map.insert(
                c.cause,
                Cause {
                    cause: c.cause,
                    name: name.clone(),
                    sip: (c.sip != 0).then_some(c.sip),
                },
            );
        }
        let mut warnings = BTreeMap::new();
        for (key, w) in texts.warning {
            let code: u16 = parse_num(&file, "warning", &key)?;
            warnings.insert(code, w);
        }
        use crate::correlate::calls::Flow;
        use crate::correlate::security::DetectionKind;
        let flow_names = Flow::ALL.map(Flow::name);
        let detection_names = DetectionKind::ALL.map(DetectionKind::name);
        for (table, want, have) in [
            (
                "flow",
                &flow_names[..],
                texts.flow.keys().collect::<Vec<_>>(),
            ),
            (
                "detection",
                &detection_names[..],
                texts.detection.keys().collect(),
            ),
            ("kpi", &KPI_NAMES[..], texts.kpi.keys().collect()),
        ] {
            if let Some(missing) = want.iter().find(|w| !have.iter().any(|h| h == *w)) {
                return Err(Error::new(format!("{file}: [{table}.{missing}] missing")));
            }
            if let Some(extra) = have.iter().find(|h| !want.contains(&h.as_str())) {
                return Err(Error::new(format!(
                    "{file}: [{table}.{extra}] is not one of: {}",
                    want.join(", ")
                )));
            }
        }
        let notes_by_code = (100..=699u16)
            .map(|code| {
                note_list
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| {
                        (n.codes.is_empty() || n.codes.contains(&code))
                            && (n.classes.is_empty() || n.classes.contains(&((code / 100) as u8)))
                    })
                    .map(|(i, _)| i)
                    .collect()
            })
            .collect();
        Ok(KnowledgeBase {
            flows: texts.flow,
            detections: texts.detection,
            kpis: texts.kpi,
            notes_by_code,
            lang: texts.lang,
            labels: texts.labels,
            codes: table,
            classes,
            notes: note_list,
            causes: cause_map,
            warnings,
        })
    }

    /// The texts of a call flow (`answered`, `early-media-then-failure`, ...).
    pub fn flow(&self, name: &str) -> &Texts {
        &self.flows[name]
    }

    /// The texts of a security detection.
    pub fn detection(&self, name: &str) -> &Texts {
        &self.detections[name]
    }

    /// The name and definition of a KPI.
    pub fn kpi(&self, name: &str) -> &KpiTexts {
        &self.kpis[name]
    }

    /// The entry or class fallback for a code in 100..=699.
    pub fn lookup(&self, code: u16) -> Lookup<'_> {
        let code = code.clamp(100, 699);
        Lookup {
            code,
            class: &self.classes[(code / 100 - 1) as usize],
            entry: self.codes[(code - 100) as usize].as_ref(),
        }
    }

    /// The class fallback (1..=6).
    pub fn class(&self, class: u8) -> &ClassEntry {
        &self.classes[(class.clamp(1, 6) - 1) as usize]
    }

    /// Every registered code in ascending order.
    pub fn registered(&self) -> impl Iterator<Item = &CodeEntry> {
        self.codes.iter().flatten()
    }

    /// The first note whose conditions match.
    pub fn note(&self, code: u16, ctx: &NoteContext<'_>) -> Option<&Note> {
        self.note_index(code, ctx).map(|i| &self.notes[i])
    }

    /// The position (in `notes()`) of the first note whose conditions match.
    pub fn note_index(&self, code: u16, ctx: &NoteContext<'_>) -> Option<usize> {
        let candidates = self.notes_by_code.get(code.checked_sub(100)? as usize)?;
        candidates
            .iter()
            .copied()
            .find(|&i| self.notes[i].applies(code, ctx))
    }

    /// A Q.850 cause, if known.
    pub fn cause(&self, cause: u16) -> Option<&Cause> {
        self.causes.get(&cause)
    }

    /// Every Q.850 cause in ascending order.
    pub fn causes(&self) -> impl Iterator<Item = &Cause> {
        self.causes.values()
    }

    /// Every note, in file order.
    pub fn notes(&self) -> &[Note] {
        &self.notes
    }

    /// Every registered Warning code in ascending order.
    pub fn warnings(&self) -> impl Iterator<Item = (u16, &WarningEntry)> {
        self.warnings.iter().map(|(c, w)| (*c, w))
    }

    /// A registered Warning code, if known.
    pub fn warning(&self, code: u16) -> Option<&WarningEntry> {
        self.warnings.get(&code)
    }
}
