//! Finds status lines: a literal prefilter over whole buffers, then the
//! formats' regexes on the few candidate lines.
//!
//! The prefilter is one Aho-Corasick automaton over the literals of every
//! event and request format; a line without any literal is never looked at
//! again. On a candidate line the formats whose literals occur are tried in
//! priority order, and the first whose regex matches wins. Context formats are
//! not in the prefilter: they are tried only on the few lines just above a
//! status line (and on the part of the status line before the SIP text).
//!
//! Invariant: the matcher only reads lines and writes spans into scratch
//! space; it allocates nothing per line after warm-up.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use memchr::memmem;
use regex::bytes::CaptureLocations;

use crate::catalog::formats::{Field, Format, FrameKind, Role, Slots};
use crate::catalog::Catalog;
use crate::error::{Error, Result};

/// The compiled matcher, shared by every input.
#[derive(Debug)]
pub struct Matcher {
    prefilter: AhoCorasick,
    /// For each prefilter pattern, the formats (indices) that own the literal.
    owners: Vec<Vec<usize>>,
    /// Event and request formats, by index, in priority order.
    primary: Vec<usize>,
    /// Context formats, by index, in priority order.
    contexts: Vec<usize>,
    /// Per context format: literal finders.
    context_literals: Vec<Vec<memmem::Finder<'static>>>,
    /// Largest `max_distance` of any context format.
    pub max_lookback: usize,
}

/// Per-input scratch space for matching.
#[derive(Debug)]
pub struct Scratch {
    pub(crate) locations: Vec<CaptureLocations>,
    continuation_locations: Vec<Option<CaptureLocations>>,
    present: Vec<bool>,
}

/// A recognized line: which format, and where its capture groups are.
#[derive(Debug, Clone, Copy)]
pub struct Hit {
    pub format: usize,
    pub role: Role,
    /// Start of the whole regex match.
    pub start: usize,
    /// End of the whole regex match.
    pub end: usize,
}

impl Matcher {
    /// Compiles the prefilter for a catalog's formats.
    pub fn new(catalog: &Catalog) -> Result<Matcher> {
        let mut literals: Vec<String> = Vec::new();
        let mut owners: Vec<Vec<usize>> = Vec::new();
        let mut primary = Vec::new();
        let mut contexts = Vec::new();
        let mut context_literals = Vec::new();
        let mut max_lookback = 0;
        for (i, f) in catalog.formats.iter().enumerate() {
            match f.role {
                Role::Context => {
                    contexts.push(i);
                    max_lookback = max_lookback.max(f.max_distance);
                }
                Role::Event | Role::Request => {
                    primary.push(i);
                    for lit in &f.literals {
                        match literals.iter().position(|l| l == lit) {
                            Some(p) => owners[p].push(i),
                            None => {
                                literals.push(lit.clone());
                                owners.push(vec![i]);
                            }
                        }
                    }
                }
            }
        }
        for f in &catalog.formats {
            context_literals.push(
                f.literals
                    .iter()
                    .map(|l| memmem::Finder::new(l.as_bytes()).into_owned())
                    .collect(),
            );
        }
        let prefilter = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .build(&literals)
            .map_err(|e| Error::new(format!("cannot build the literal prefilter: {e}")))?;
        Ok(Matcher { prefilter, owners, primary, contexts, context_literals, max_lookback: max_lookback.min(8) })
    }

    /// Scratch space sized for this catalog.
    pub fn scratch(&self, catalog: &Catalog) -> Scratch {
        Scratch {
            locations: catalog.formats.iter().map(|f| f.regex.capture_locations()).collect(),
            continuation_locations: catalog
                .formats
                .iter()
                .map(|f| match &f.frame {
                    FrameKind::Lines { continuation, .. } => Some(continuation.capture_locations()),
                    _ => None,
                })
                .collect(),
            present: vec![false; catalog.formats.len()],
        }
    }

    /// Offset of the first prefilter literal in `haystack`, if any.
    #[inline]
    pub fn find_candidate(&self, haystack: &[u8]) -> Option<usize> {
        self.prefilter.find(haystack).map(|m| m.start())
    }

    /// Recognizes a candidate line as a status or request line.
    pub fn recognize(&self, catalog: &Catalog, scratch: &mut Scratch, line: &[u8]) -> Option<Hit> {
        scratch.present.iter_mut().for_each(|p| *p = false);
        let mut any = false;
        for m in self.prefilter.find_overlapping_iter(line) {
            for &f in &self.owners[m.pattern().as_usize()] {
                scratch.present[f] = true;
                any = true;
            }
        }
        if !any {
            return None;
        }
        self.try_formats(catalog, scratch, line)
    }

    /// Like `recognize`, but tries every format's regex whatever the
    /// prefilter says (the oracle of the tests).
    pub fn recognize_any(&self, catalog: &Catalog, scratch: &mut Scratch, line: &[u8]) -> Option<Hit> {
        scratch.present.iter_mut().for_each(|p| *p = true);
        self.try_formats(catalog, scratch, line)
    }

    fn try_formats(&self, catalog: &Catalog, scratch: &mut Scratch, line: &[u8]) -> Option<Hit> {
        for &fi in &self.primary {
            if !scratch.present[fi] {
                continue;
            }
            let format = &catalog.formats[fi];
            if format.reject.iter().any(|r| memmem::find(line, r.as_bytes()).is_some()) {
                continue;
            }
            let locs = &mut scratch.locations[fi];
            if let Some(m) = format.regex.captures_read(locs, line) {
                if format.role == Role::Event && !valid_code(line, locs, &format.slots) {
                    continue;
                }
                return Some(Hit { format: fi, role: format.role, start: m.start(), end: m.end() });
            }
        }
        None
    }

    /// The span of a field captured by the last successful `recognize` of `hit`.
    pub fn field<'l>(
        &self,
        catalog: &Catalog,
        scratch: &Scratch,
        hit: &Hit,
        line: &'l [u8],
        field: Field,
    ) -> Option<&'l [u8]> {
        let slot = catalog.formats[hit.format].slots.get(field)?;
        let (s, e) = scratch.locations[hit.format].get(slot)?;
        Some(&line[s..e])
    }

    /// Tries one format's continuation regex on a line of its frame; on a match
    /// calls `f` for each captured field.
    pub fn continuation(
        &self,
        format: &Format,
        index: usize,
        scratch: &mut Scratch,
        line: &[u8],
        mut f: impl FnMut(Field, &[u8]),
    ) -> bool {
        let FrameKind::Lines { continuation, .. } = &format.frame else {
            return false;
        };
        let Some(locs) = scratch.continuation_locations[index].as_mut() else {
            return false;
        };
        if continuation.captures_read(locs, line).is_none() {
            return false;
        }
        for field in Field::ALL {
            if let Some(slot) = format.continuation_slots.get(field) {
                if let Some((s, e)) = locs.get(slot) {
                    f(field, &line[s..e]);
                }
            }
        }
        true
    }

    /// Tries the context formats on `lines` (index = distance above the status
    /// line; index 0 is the status line's own prefix). For each match, nearest
    /// first, calls `f` with the format index, the distance and each captured field.
    /// A format is used at its nearest distance only: a farther line of the same
    /// dialect introduced an earlier message.
    pub fn contexts(
        &self,
        catalog: &Catalog,
        scratch: &mut Scratch,
        lines: &[&[u8]],
        mut f: impl FnMut(usize, usize, Field, &[u8]),
    ) {
        let used = &mut scratch.present;
        used.iter_mut().for_each(|u| *u = false);
        for (distance, line) in lines.iter().enumerate() {
            if line.is_empty() {
                continue;
            }
            for &ci in &self.contexts {
                let format = &catalog.formats[ci];
                if distance > format.max_distance || used[ci] {
                    continue;
                }
                if !self.context_literals[ci].iter().any(|fd| fd.find(line).is_some()) {
                    continue;
                }
                if format.reject.iter().any(|r| memmem::find(line, r.as_bytes()).is_some()) {
                    continue;
                }
                let locs = &mut scratch.locations[ci];
                if format.regex.captures_read(locs, line).is_none() {
                    continue;
                }
                used[ci] = true;
                let mut captured = false;
                for field in Field::ALL {
                    if let Some(slot) = format.slots.get(field) {
                        if let Some((s, e)) = locs.get(slot) {
                            captured = true;
                            f(ci, distance, field, &line[s..e]);
                        }
                    }
                }
                if !captured {
                    // A context that only marks the dialect (e.g. ngrep's dots).
                    f(ci, distance, Field::Reason, &[]);
                }
            }
        }
    }
}

fn valid_code(line: &[u8], locs: &CaptureLocations, slots: &Slots) -> bool {
    let Some((s, e)) = slots.get(Field::Code).and_then(|i| locs.get(i)) else {
        return false;
    };
    parse_code(&line[s..e]).is_some()
}

/// Parses a three-digit response code in 100..=699.
pub fn parse_code(digits: &[u8]) -> Option<u16> {
    if digits.len() != 3 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = digits.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    (100..=699).contains(&code).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_outside_the_sip_range_are_refused() {
        assert_eq!(parse_code(b"486"), Some(486));
        assert_eq!(parse_code(b"099"), None);
        assert_eq!(parse_code(b"700"), None);
        assert_eq!(parse_code(b"4861"), None);
        assert_eq!(parse_code(b"48a"), None);
    }
}
