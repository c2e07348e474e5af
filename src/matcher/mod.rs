//! Finds status lines: a literal prefilter over whole buffers, then the
//! formats' regexes on the few candidate lines.
//!
//! The prefilter is one Aho-Corasick (Teddy) search for a few scan anchors,
//! substrings that every literal of an event or request format contains,
//! each starting where its first four bytes (what Teddy keys on) are rare
//! in the formats' sample lines; a line without a literal is never looked
//! at again. On a candidate line the
//! same search, resumed where the bulk scan stopped, lists the literals that
//! occur, and the formats owning them are tried in priority order: the first
//! whose regex (or skeleton, or hand parser) matches wins. Context formats are
//! not in the prefilter: they are tried only on the few lines just above a
//! status line (and on the part of the status line before the SIP text).
//!
//! Invariant: the matcher only reads lines and writes spans into scratch
//! space; it allocates nothing per line after warm-up.

pub mod skeleton;

use std::sync::LazyLock;

use memchr::memmem;
use regex::bytes::CaptureLocations;

use crate::catalog::formats::{Field, Format, FrameKind, Parser, Role};
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::literal_search::{Leftmost, LiteralSearch};
use skeleton::Skeleton;

/// The compiled matcher, shared by every input.
#[derive(Debug)]
pub struct Matcher {
    /// Searches buffers for the scan anchors (leftmost-first, so that
    /// aho-corasick can use its SIMD Teddy search).
    prefilter: LiteralSearch,
    /// A few substrings such that every format literal contains one.
    pub anchors: Vec<String>,
    /// For each byte, the anchors that start with it, each with the literals
    /// it stands for and its offset in them.
    anchored_literals: Vec<Vec<AnchorLiterals>>,
    /// Event and request formats, by index, in priority order.
    primary: Vec<usize>,
    /// Context formats, by index, in priority order.
    contexts: Vec<usize>,
    /// The context searches, each for the formats that reach a distance
    /// above a status line (0: the status line's own prefix) or farther:
    /// most contexts stand right above their status line, and a line two
    /// or three above is searched only for the few that reach that far.
    context_searches: Vec<Option<ContextSearch>>,
    /// For each distance up to `max_lookback`, its entry in `context_searches`.
    context_search_at: Vec<usize>,
    /// Largest `max_distance` of any context format.
    pub max_lookback: usize,
}

/// The literals of some context formats (leftmost-longest), with the
/// formats that own each literal or a literal it contains.
#[derive(Debug)]
struct ContextSearch {
    literals: LiteralSearch,
    owners: Vec<Vec<usize>>,
}

impl ContextSearch {
    /// The search for `formats` (indices in priority order); `None` when
    /// they have no literal.
    fn new(catalog: &Catalog, formats: &[usize]) -> Result<Option<ContextSearch>> {
        let (literals, owners) = owned_literals(catalog, formats);
        if literals.is_empty() {
            return Ok(None);
        }
        let owners = implied_owners(&literals, &owners);
        let literals = LiteralSearch::new(&literals, Leftmost::Longest)
            .map_err(|e| Error::new(format!("cannot build the context prefilter: {e}")))?;
        Ok(Some(ContextSearch { literals, owners }))
    }
}

/// The distinct literals of `formats` (catalog indices), in their order,
/// each with the formats that list it.
fn owned_literals(catalog: &Catalog, formats: &[usize]) -> (Vec<String>, Vec<Vec<usize>>) {
    let mut literals: Vec<String> = Vec::new();
    let mut owners: Vec<Vec<usize>> = Vec::new();
    for &fi in formats {
        for lit in &catalog.formats[fi].literals {
            match literals.iter().position(|l| l == lit) {
                Some(p) => owners[p].push(fi),
                None => {
                    literals.push(lit.clone());
                    owners.push(vec![fi]);
                }
            }
        }
    }
    (literals, owners)
}

/// An anchor and the literals it stands for in the bulk scan.
#[derive(Debug)]
struct AnchorLiterals {
    anchor: Box<[u8]>,
    literals: Vec<AnchoredLiteral>,
}

/// A literal that contains an anchor.
#[derive(Debug)]
struct AnchoredLiteral {
    /// Offset of the anchor in the literal.
    offset: usize,
    literal: Box<[u8]>,
    /// The formats that own the literal.
    owners: Box<[usize]>,
    /// The screening hand parser all its owners share, if any (`SIP/2.0`
    /// of `sip.request`): a line it refuses is no candidate for this literal.
    screen: Option<Parser>,
}

/// Per-input scratch space for matching.
#[derive(Debug)]
pub struct Scratch {
    pub(crate) locations: Vec<CaptureLocations>,
    /// Field spans of the last recognized line (from its regex or hand parser).
    pub(crate) spans: [Option<(usize, usize)>; Field::ALL.len()],
    continuation_locations: Vec<Option<CaptureLocations>>,
    /// Group offsets written by the formats' skeletons.
    skeleton_slots: Vec<Option<usize>>,
    /// Oracle mode: regexes only, no hand parsers or skeletons (set by the
    /// engine's exhaustive mode).
    pub(crate) regex_only: bool,
    present: Vec<bool>,
    used: Vec<bool>,
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
    /// Compiles the prefilter for a catalog's response, request and context
    /// formats: what annotation needs. Security formats are left out, as
    /// their literals would slow the bulk scan for lines nothing reads.
    pub fn new(catalog: &Catalog) -> Result<Matcher> {
        Matcher::build(catalog, false)
    }

    /// The same, with the security formats too (for the detections).
    pub fn with_security_lines(catalog: &Catalog) -> Result<Matcher> {
        Matcher::build(catalog, true)
    }

    fn build(catalog: &Catalog, security: bool) -> Result<Matcher> {
        let mut primary = Vec::new();
        let mut contexts = Vec::new();
        let mut max_lookback = 0;
        for (i, f) in catalog.formats.iter().enumerate() {
            match f.role {
                Role::Context => {
                    contexts.push(i);
                    max_lookback = max_lookback.max(f.max_distance);
                }
                Role::Security if !security => {}
                Role::Event | Role::Request | Role::Security => primary.push(i),
            }
        }
        let (literals, owners) = owned_literals(catalog, &primary);
        let max_lookback = max_lookback.min(12);
        let mut context_searches = Vec::new();
        let mut context_search_at = Vec::new();
        let mut last_reach: Option<Vec<usize>> = None;
        for distance in 0..=max_lookback {
            let reach: Vec<usize> = contexts
                .iter()
                .copied()
                .filter(|&ci| catalog.formats[ci].max_distance >= distance)
                .collect();
            if last_reach.as_ref() != Some(&reach) {
                context_searches.push(ContextSearch::new(catalog, &reach)?);
                last_reach = Some(reach);
            }
            context_search_at.push(context_searches.len() - 1);
        }
        let (context_lits, _) = owned_literals(catalog, &contexts);
        let typical: Vec<u8> = catalog
            .formats
            .iter()
            .flat_map(|f| {
                let samples = f.samples.iter().map(|s| s.text.as_bytes());
                samples.chain(f.negatives.iter().map(|n| n.text.as_bytes()))
            })
            .flat_map(|text| text.iter().copied().chain([b'\n']))
            .collect();
        let anchors = rare_starts(
            scan_anchors(&literals, &context_lits),
            &context_lits,
            &typical,
        );
        let mut anchored_literals: Vec<Vec<AnchorLiterals>> =
            (0..256).map(|_| Vec::new()).collect();
        for anchor in &anchors {
            let literals = literals
                .iter()
                .zip(&owners)
                .flat_map(|(l, owners)| {
                    l.match_indices(anchor.as_str())
                        .map(|(offset, _)| AnchoredLiteral {
                            offset,
                            literal: l.as_bytes().into(),
                            owners: owners.as_slice().into(),
                            screen: shared_screen(catalog, owners, l),
                        })
                })
                .collect();
            anchored_literals[usize::from(anchor.as_bytes()[0])].push(AnchorLiterals {
                anchor: anchor.as_bytes().into(),
                literals,
            });
        }
        let prefilter = LiteralSearch::new(&anchors, Leftmost::First)
            .map_err(|e| Error::new(format!("cannot build the literal prefilter: {e}")))?;
        Ok(Matcher {
            prefilter,
            anchors,
            anchored_literals,
            primary,
            contexts,
            context_searches,
            context_search_at,
            max_lookback,
        })
    }

    /// Scratch space sized for this catalog.
    pub fn scratch(&self, catalog: &Catalog) -> Scratch {
        Scratch {
            locations: catalog
                .formats
                .iter()
                .map(|f| f.regex.capture_locations())
                .collect(),
            continuation_locations: catalog
                .formats
                .iter()
                .map(|f| match &f.frame {
                    FrameKind::Lines { continuation, .. } => Some(continuation.capture_locations()),
                    _ => None,
                })
                .collect(),
            spans: [None; Field::ALL.len()],
            skeleton_slots: vec![
                None;
                catalog
                    .formats
                    .iter()
                    .filter_map(|f| f.skeleton.as_ref())
                    .map(Skeleton::slot_count)
                    .max()
                    .unwrap_or(0)
            ],
            regex_only: false,
            present: vec![false; catalog.formats.len()],
            used: vec![false; catalog.formats.len()],
        }
    }

    /// Offset of the first prefilter literal in `haystack`, if any.
    #[inline]
    pub fn find_candidate(&self, haystack: &[u8]) -> Option<usize> {
        self.prefilter.find(haystack).map(|m| m.start)
    }

    /// The literals standing at offset `at` of `line`, where an anchor may start.
    #[inline]
    fn literals_at<'m>(
        &'m self,
        line: &'m [u8],
        at: usize,
    ) -> impl Iterator<Item = &'m AnchoredLiteral> {
        let rest = &line[at..];
        rest.first()
            .map_or(&[][..], |first| {
                &self.anchored_literals[usize::from(*first)][..]
            })
            .iter()
            .filter(move |a| rest.starts_with(&a.anchor))
            .flat_map(|a| &a.literals)
            .filter(move |l| at >= l.offset && line[at - l.offset..].starts_with(&l.literal))
    }

    /// Whether a whole format literal, not just a scan anchor, stands where
    /// the bulk scan found an anchor (at offset `at` of `line`), and its
    /// formats' screening parser, if they share one, does not refuse the
    /// line. Lines with only an anchor ("SIP " of "SIP request REGISTER
    /// received") or only a literal its parser refuses (the `SIP/2.0` of a
    /// `Via: SIP/2.0/TCP` that Kamailio's debug log prints) are then skipped
    /// without being looked at as candidates.
    ///
    /// A screened literal is judged where it stands (`screen_accepts`).
    #[inline]
    pub fn literal_at(&self, line: &[u8], at: usize) -> bool {
        self.literals_at(line, at).any(|l| match l.screen {
            None => true,
            Some(parser) => screen_accepts(parser, line, at - l.offset),
        })
    }

    /// Recognizes a candidate line as a status or request line. `from`: no
    /// literal starts an anchor before this offset (where the bulk scan
    /// found the first; 0 when unknown).
    pub fn recognize(
        &self,
        catalog: &Catalog,
        scratch: &mut Scratch,
        line: &[u8],
        from: usize,
    ) -> Option<Hit> {
        if !self.mark_present(line, from, &mut scratch.present) {
            return None;
        }
        self.try_formats(catalog, scratch, line)
    }

    /// Marks the formats whose literals occur in `line`, looking at anchors
    /// from offset `from` on; returns whether there is any. Every literal
    /// contains an anchor, and the search resumes one byte after each anchor
    /// found, so every literal occurrence is seen, overlapping ones too.
    /// Offset `from` itself is looked at directly: that is where the bulk
    /// scan found an anchor, and `literals_at` finds nothing where none is.
    fn mark_present(&self, line: &[u8], from: usize, present: &mut [bool]) -> bool {
        present.iter_mut().for_each(|p| *p = false);
        let mut any = false;
        let mut mark = |p: usize| {
            for literal in self.literals_at(line, p) {
                for &f in literal.owners.iter() {
                    present[f] = true;
                }
                any = true;
            }
        };
        if from >= line.len() {
            return false;
        }
        mark(from);
        let mut at = from + 1;
        while at < line.len() {
            let Some(m) = self.prefilter.find(&line[at..]) else {
                break;
            };
            let p = at + m.start;
            mark(p);
            at = p + 1;
        }
        any
    }

    /// Like `recognize`, but tries every format whatever the prefilter says
    /// (the oracle of the tests: the engine's exhaustive mode also sets
    /// `Scratch::regex_only`, so that only the regexes decide).
    pub fn recognize_any(
        &self,
        catalog: &Catalog,
        scratch: &mut Scratch,
        line: &[u8],
    ) -> Option<Hit> {
        scratch.present.iter_mut().for_each(|p| *p = true);
        self.try_formats(catalog, scratch, line)
    }

    /// Tries the present formats in priority order: hand parsers and
    /// skeletons first where a format has them, unless `regex_only`.
    fn try_formats(&self, catalog: &Catalog, scratch: &mut Scratch, line: &[u8]) -> Option<Hit> {
        let fast = !scratch.regex_only;
        for &fi in &self.primary {
            if !scratch.present[fi] {
                continue;
            }
            let format = &catalog.formats[fi];
            if format.reject.iter().any(|r| r.find(line).is_some()) {
                continue;
            }
            if fast {
                if let Some(parser) = format.parser {
                    scratch.spans = [None; Field::ALL.len()];
                    match parse(parser, line, &mut scratch.spans) {
                        Parsed::Match(start, end) => {
                            return Some(Hit {
                                format: fi,
                                role: format.role,
                                start,
                                end,
                            })
                        }
                        Parsed::NoMatch => continue,
                        Parsed::Regex => {}
                    }
                }
            }
            let skeleton = format.skeleton.as_ref().filter(|_| fast);
            if let Some((start, end)) = capture(
                format,
                skeleton,
                &mut scratch.locations[fi],
                &mut scratch.skeleton_slots,
                line,
                &mut scratch.spans,
            ) {
                for (field, key) in &format.kv {
                    let slot = &mut scratch.spans[*field as usize];
                    if slot.is_none() {
                        *slot = kv_span(line, key, end);
                    }
                }
                if format.role == Role::Event {
                    let code = scratch.spans[Field::Code as usize].map(|(s, e)| &line[s..e]);
                    if code.and_then(parse_code).is_none() {
                        continue;
                    }
                }
                return Some(Hit {
                    format: fi,
                    role: format.role,
                    start,
                    end,
                });
            }
        }
        None
    }

    /// The span of a field captured by the last successful `recognize` of `hit`.
    pub fn field<'l>(&self, scratch: &Scratch, line: &'l [u8], field: Field) -> Option<&'l [u8]> {
        let (s, e) = scratch.spans[field as usize]?;
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
        let FrameKind::Lines {
            continuation, end, ..
        } = &format.frame
        else {
            return false;
        };
        if end.as_ref().is_some_and(|e| e.is_match(line)) {
            return false;
        }
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
        from: usize,
        mut f: impl FnMut(usize, usize, Field, &[u8]),
    ) {
        let used = &mut scratch.used;
        if from == 0 {
            used.iter_mut().for_each(|u| *u = false);
        }
        for (distance, line) in lines.iter().enumerate().skip(from) {
            if line.is_empty() {
                continue;
            }
            let search = self.context_search_at.get(distance).copied();
            let Some(search) = search.and_then(|i| self.context_searches[i].as_ref()) else {
                continue;
            };
            let present = &mut scratch.present;
            present.iter_mut().for_each(|p| *p = false);
            let mut any = false;
            for m in search.literals.find_iter(line) {
                for &ci in &search.owners[m.pattern] {
                    present[ci] = true;
                    any = true;
                }
            }
            if !any {
                continue;
            }
            for &ci in &self.contexts {
                if !present[ci] {
                    continue;
                }
                let format = &catalog.formats[ci];
                if distance > format.max_distance || used[ci] {
                    continue;
                }
                if format.reject.iter().any(|r| r.find(line).is_some()) {
                    continue;
                }
                let skeleton = format.skeleton.as_ref().filter(|_| !scratch.regex_only);
                let mut spans = [None; Field::ALL.len()];
                if capture(
                    format,
                    skeleton,
                    &mut scratch.locations[ci],
                    &mut scratch.skeleton_slots,
                    line,
                    &mut spans,
                )
                .is_none()
                {
                    continue;
                }
                used[ci] = true;
                let mut captured = false;
                for field in Field::ALL {
                    if let Some((s, e)) = spans[field as usize] {
                        captured = true;
                        f(ci, distance, field, &line[s..e]);
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

/// Chooses a small set of substrings such that every literal contains one of
/// them (greedy set cover). A bulk search for a few patterns is several times
/// faster than for dozens; lines with an anchor are then checked for the full
/// literals. Distinctive substrings (capitals, digits, punctuation) are
/// preferred because plain lower-case words recur in ordinary log text, and
/// above all a distinctive first byte: the bulk search (Teddy) keys on the
/// first bytes of each anchor, so an anchor that starts with a blank
/// (" response '") stops it at every " res" of the log to verify.
///
/// Where it can, an anchor avoids the text of the `context` literals (such
/// as `SIP response (` of Asterisk's pjsip logger): context lines stand
/// beside many status lines, and an anchor found on one is a lost restart
/// of the bulk scan.
pub fn scan_anchors(literals: &[String], context: &[String]) -> Vec<String> {
    fn rarity(c: &str) -> f64 {
        c.bytes()
            .map(|b| {
                if b.is_ascii_lowercase() {
                    0.0
                } else if b == b' ' {
                    0.5
                } else {
                    1.0
                }
            })
            .sum()
    }
    // Each literal's candidate anchors, best kind first: short (4 to 11
    // bytes) distinctive ones outside the context text; else the shortest
    // such longer ones; else short distinctive ones; else the literal.
    let pools: Vec<Vec<(&str, Vec<usize>)>> = literals
        .iter()
        .map(|lit| {
            let substrings = |lengths: std::ops::RangeInclusive<usize>| {
                lengths
                    .flat_map(move |n| (0..=lit.len() - n).map(move |i| (i, n)))
                    .filter(|&(i, n)| lit.is_char_boundary(i) && lit.is_char_boundary(i + n))
                    .map(|(i, n)| &lit[i..i + n])
                    .filter(|c| distinctive(c))
            };
            let quiet = |c: &&str| !context.iter().any(|x| x.contains(*c));
            let distinct: Vec<&str> = substrings(4..=lit.len().min(11)).collect();
            let mut pool: Vec<&str> = distinct.iter().copied().filter(quiet).collect();
            if pool.is_empty() {
                // `substrings` yields by length, shortest first.
                let mut longer = substrings(12..=lit.len().max(11)).filter(quiet).peekable();
                if let Some(n) = longer.peek().map(|c| c.len()) {
                    pool = longer.take_while(|c| c.len() == n).collect();
                }
            }
            if pool.is_empty() {
                pool = distinct;
            }
            if pool.is_empty() {
                pool.push(lit.as_str());
            }
            // With the literals each candidate occurs in, computed once.
            pool.into_iter()
                .map(|c| {
                    let within: Vec<usize> = (0..literals.len())
                        .filter(|&j| literals[j].contains(c))
                        .collect();
                    (c, within)
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let mut uncovered = vec![true; literals.len()];
    let mut anchors = Vec::new();
    while uncovered.contains(&true) {
        let mut best: Option<(f64, usize, &str, &[usize])> = None;
        for (_, pool) in pools.iter().enumerate().filter(|(i, _)| uncovered[*i]) {
            for (c, within) in pool {
                let covers = within.iter().filter(|&&j| uncovered[j]).count();
                let leads = !c.starts_with(|b: char| b.is_ascii_lowercase());
                let score = covers as f64 + 0.5 * rarity(c) + if leads { 1.0 } else { 0.0 };
                let better = match best {
                    None => true,
                    Some((s, len, _, _)) => score > s || (score == s && c.len() < len),
                };
                if better {
                    best = Some((score, c.len(), c, within));
                }
            }
        }
        let (_, _, anchor, within) = best.expect("a literal always covers itself");
        within.iter().for_each(|&j| uncovered[j] = false);
        anchors.push(anchor.to_string());
    }
    anchors
}

/// How many bytes of `c` are capitals, digits or punctuation: a blank
/// after a word is as common as the word.
fn marked(c: &str) -> i32 {
    c.bytes()
        .filter(|b| !(b.is_ascii_lowercase() || *b == b' '))
        .count() as i32
}

/// Not only lower-case letters and blanks, and not led by a blank.
fn distinctive(c: &str) -> bool {
    marked(c) > 0 && !c.starts_with(' ')
}

/// How many bytes of each pattern the bulk search keys on (Teddy's
/// fingerprint: the first four bytes of each pattern of four or more).
const FINGERPRINT: usize = 4;

/// An anchor keeps its start unless its fingerprint occurs at least this
/// often elsewhere in the sample lines: fewer is noise in so small a text.
const MIN_STRAY: usize = 3;

/// Moves each anchor's start to where its first four bytes occur least in
/// `typical` log text (the catalog's sample lines) other than as the start
/// of the rest of the anchor. Teddy, the bulk search, fingerprints each
/// pattern by its first four bytes and verifies every place they occur, so
/// an anchor that starts with the first letters of common log words (the
/// `SIP/` of every `PJSIP/100` channel, the `Stat` of `State Change`) costs
/// a verification at each; a later start (`IP/2.0`) stops the scan at the
/// same places. The new anchor is a suffix of the old one, so it lies in
/// every literal the old one covered; it stays distinctive, does not start
/// with a blank, and stays out of the context literals if the old one was.
pub fn rare_starts(anchors: Vec<String>, context: &[String], typical: &[u8]) -> Vec<String> {
    let count = |needle: &str| memmem::find_iter(typical, needle.as_bytes()).count();
    let quiet = |c: &str| !context.iter().any(|x| x.contains(c));
    let stray = |s: &str| count(&s[..FINGERPRINT]).saturating_sub(count(s));
    let mut out: Vec<String> = Vec::with_capacity(anchors.len());
    for anchor in anchors {
        let strays = if anchor.len() >= FINGERPRINT && anchor.is_char_boundary(FINGERPRINT) {
            stray(&anchor)
        } else {
            0
        };
        let best = if strays < MIN_STRAY {
            anchor
        } else {
            let was_quiet = quiet(&anchor);
            (1..anchor.len().saturating_sub(FINGERPRINT) + 1)
                .filter(|&i| anchor.is_char_boundary(i))
                .map(|i| &anchor[i..])
                .filter(|s| s.is_char_boundary(FINGERPRINT))
                .filter(|s| distinctive(s) && (quiet(s) || !was_quiet))
                .map(|s| (stray(s), -marked(&s[..FINGERPRINT]), s))
                .filter(|(n, _, _)| *n < strays)
                // The fewest strays, then the most marked bytes, then the longest.
                .min_by_key(|(n, m, _)| (*n, *m))
                .map(|(_, _, s)| s.to_string())
                .unwrap_or(anchor)
        };
        if !out.contains(&best) {
            out.push(best);
        }
    }
    out
}

/// The hand parser that every format in `owners` has, if any, when it may
/// screen the bulk scan's stops at `literal` (`Parser::screens_literal`).
fn shared_screen(catalog: &Catalog, owners: &[usize], literal: &str) -> Option<Parser> {
    let first = catalog.formats[*owners.first()?].parser?;
    let shared = owners
        .iter()
        .all(|&f| catalog.formats[f].parser == Some(first));
    (first.screens_literal(literal) && shared).then_some(first)
}

/// For each literal, the owners of every literal it contains (itself included):
/// a leftmost-longest search reports "SIP/2.0 " where "SIP/2.0" also occurs.
fn implied_owners(literals: &[String], owners: &[Vec<usize>]) -> Vec<Vec<usize>> {
    literals
        .iter()
        .map(|outer| {
            let mut all: Vec<usize> = literals
                .iter()
                .zip(owners)
                .filter(|(inner, _)| memmem::find(outer.as_bytes(), inner.as_bytes()).is_some())
                .flat_map(|(_, o)| o.iter().copied())
                .collect();
            all.sort_unstable();
            all.dedup();
            all
        })
        .collect()
}

/// Matches a format on `line` with its skeleton if given, else its regex;
/// writes each field's span to `spans` and returns the match's span.
fn capture(
    format: &Format,
    skeleton: Option<&Skeleton>,
    locs: &mut CaptureLocations,
    skeleton_slots: &mut [Option<usize>],
    line: &[u8],
    spans: &mut [Option<(usize, usize)>; Field::ALL.len()],
) -> Option<(usize, usize)> {
    if let Some(skeleton) = skeleton {
        let slots = &mut skeleton_slots[..skeleton.slot_count()];
        let found = skeleton.find(line, slots)?;
        for field in Field::ALL {
            spans[field as usize] = format
                .slots
                .get(field)
                .and_then(|g| slots[2 * g].zip(slots[2 * g + 1]));
        }
        return Some(found);
    }
    let m = format.regex.captures_read(locs, line)?;
    for field in Field::ALL {
        spans[field as usize] = format.slots.get(field).and_then(|g| locs.get(g));
    }
    Some((m.start(), m.end()))
}

/// What a hand parser says of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parsed {
    /// The format's regex would match here, with these spans.
    Match(usize, usize),
    /// The format's regex cannot match this line.
    NoMatch,
    /// Maybe: ask the regex.
    Regex,
}

/// Runs a hand parser; on a match fills `spans`.
fn parse(
    parser: Parser,
    line: &[u8],
    spans: &mut [Option<(usize, usize)>; Field::ALL.len()],
) -> Parsed {
    match parser {
        Parser::SipStartLine => match sip_start_line(line, spans) {
            Some((start, end)) => Parsed::Match(start, end),
            None => Parsed::NoMatch,
        },
        Parser::SipRequestLine => sip_request_line(line, spans),
    }
}

/// Whether the screening `parser` lets the bulk scan stop at its literal,
/// which starts at offset `literal` of `line`. The request-line parser only
/// accepts a line whose ` SIP/2.0` has a terminator, so this occurrence is
/// looked at first: where it fails (a Kamailio `Via: SIP/2.0/TCP` debug
/// line), the scan goes on along the line and stops at a later occurrence
/// that passes, if there is one; the line is then a candidate from there on,
/// with every literal at or after that stop (`Parser::screens_literal`).
/// Where it passes, the parser decides for the whole line.
fn screen_accepts(parser: Parser, line: &[u8], literal: usize) -> bool {
    if parser == Parser::SipRequestLine {
        let local = literal
            .checked_sub(1)
            .and_then(|blank| line[blank..].strip_prefix(b" SIP/2.0"))
            .and_then(request_terminator);
        if local.is_none() {
            return false;
        }
    }
    parse(parser, line, &mut [None; Field::ALL.len()]) != Parsed::NoMatch
}

/// The length of what may end a request line after its ` SIP/2.0`, at the
/// start of `rest`, or None.
fn request_terminator(rest: &[u8]) -> Option<usize> {
    match rest.first() {
        None => Some(0),
        Some(b) if b" \t.'>\r".contains(b) => Some(1),
        Some(_)
            if [&b"^M"[..], b"#0", b"\\r"]
                .iter()
                .any(|t| rest.starts_with(t)) =>
        {
            Some(2)
        }
        Some(_) if rest.starts_with(b"<01") => Some(3),
        Some(_) => None,
    }
}

/// The `sip.request` regex by hand:
/// `(?:^|[^A-Za-z0-9])(?P<method>[A-Z][A-Z_-]{1,19}) \S.* SIP/2\.0(?:[ \t.'>\r]|\^M|#0|\\r|<01|$)`.
/// The method is the leftmost run of `[A-Z_-]` that starts with a capital
/// after a non-alphanumeric byte (or the line start), is 2 to 20 bytes long
/// and is followed by a blank and a non-blank; the greedy `.*` makes the
/// match end at the last ` SIP/2.0` with a terminator after that. A line
/// with a line feed (where `.` stops) is left to the regex.
fn sip_request_line(line: &[u8], spans: &mut [Option<(usize, usize)>; Field::ALL.len()]) -> Parsed {
    // Forward (vectorized) search keeping the last hit: memchr's reverse
    // finder has no SIMD prefilter and cost ~450 instructions on a
    // 127-byte Kamailio `Via:` debug line.
    static FINDER: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(b" SIP/2.0"));
    let needle = FINDER.needle().len();
    let Some((version, end)) = FINDER
        .find_iter(line)
        .filter_map(|p| request_terminator(&line[p + needle..]).map(|t| (p, p + needle + t)))
        .last()
    else {
        return Parsed::NoMatch;
    };
    if memchr::memchr(b'\n', line).is_some() {
        return Parsed::Regex;
    }
    let in_method = |b: u8| b.is_ascii_uppercase() || b == b'_' || b == b'-';
    for m in 0..version {
        if !line[m].is_ascii_uppercase() || (m > 0 && line[m - 1].is_ascii_alphanumeric()) {
            continue;
        }
        // A run longer than 19 fails anyway; counting no further keeps a
        // hostile `A-A-A-...` line linear.
        let run = line[m + 1..]
            .iter()
            .take(20)
            .take_while(|b| in_method(**b))
            .count();
        let (blank, word) = (m + 1 + run, m + 2 + run);
        if !(1..=19).contains(&run) || line.get(blank) != Some(&b' ') {
            continue;
        }
        // `\S` then at least the blank of ` SIP/2.0`: the version must lie past it.
        if word >= version || b" \t\n\x0b\x0c\r".contains(&line[word]) {
            continue;
        }
        spans[Field::Method as usize] = Some((m, blank));
        return Parsed::Match(m.saturating_sub(1), end);
    }
    Parsed::NoMatch
}

/// The `sip.message` regex by hand:
/// `(?:^|[^A-Za-z0-9/]|#012|<010>|\\n)SIP/2\.0 (?P<code>[1-6]\d\d)(?P<reason>(?:[ \t.'>#^<\]\\].*)?)$`
fn sip_start_line(
    line: &[u8],
    spans: &mut [Option<(usize, usize)>; Field::ALL.len()],
) -> Option<(usize, usize)> {
    static FINDER: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(b"SIP/2.0 "));
    for p in FINDER.find_iter(line) {
        let before = &line[..p];
        let start = if p == 0 {
            0
        } else if before.ends_with(b"#012") {
            p - 4
        } else if before.ends_with(b"<010>") {
            p - 5
        } else if before.ends_with(b"\\n") {
            p - 2
        } else if let Some(colour) = crate::framer::message::ansi_suffix(before) {
            p - colour
        } else if !(line[p - 1].is_ascii_alphanumeric() || line[p - 1] == b'/') {
            p - 1
        } else {
            continue;
        };
        let c = p + FINDER.needle().len();
        let Some(digits) = line.get(c..c + 3) else {
            continue;
        };
        if !(b'1'..=b'6').contains(&digits[0])
            || !digits[1].is_ascii_digit()
            || !digits[2].is_ascii_digit()
        {
            continue;
        }
        let r = c + 3;
        if r < line.len() && !b" \t.'>#^<]\\".contains(&line[r]) {
            continue;
        }
        if line[r..].contains(&b'\n') {
            continue;
        }
        spans[Field::Code as usize] = Some((c, r));
        spans[Field::Reason as usize] = Some((r, line.len()));
        return Some((start, line.len()));
    }
    None
}

/// The span of the value of `key=` in a `k=v;k=v` (or `k=v, k=v`) list at or
/// after `from`: the key follows ';', ',', a blank, or `from` itself; the
/// value ends at ';', ',' or the end of the line.
pub fn kv_span(line: &[u8], key: &memmem::Finder<'_>, from: usize) -> Option<(usize, usize)> {
    let mut at_from = from;
    while let Some(i) = key.find(&line[at_from..]) {
        let at = at_from + i;
        let after = at + key.needle().len();
        let starts = at == from || at == 0 || matches!(line[at - 1], b';' | b',' | b' ' | b'\t');
        if starts && line.get(after) == Some(&b'=') {
            let value = after + 1;
            let end = line[value..]
                .iter()
                .position(|b| *b == b';' || *b == b',')
                .map_or(line.len(), |p| value + p);
            return Some((value, end));
        }
        at_from = at + 1;
    }
    None
}

/// Parses a three-digit response code in 100..=699.
pub fn parse_code(digits: &[u8]) -> Option<u16> {
    if digits.len() != 3 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = digits
        .iter()
        .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    (100..=699).contains(&code).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_cover_every_literal() {
        let lits: Vec<String> = [
            "SIP/2.0",
            "SIP/2.0 ",
            "Got SIP response",
            "ACC: ",
            "picked branch",
            "status:  <",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let anchors = scan_anchors(&lits, &[]);
        assert!(anchors.len() < lits.len());
        for l in &lits {
            assert!(
                anchors.iter().any(|a| l.contains(a.as_str())),
                "{l} not covered by {anchors:?}"
            );
        }
        // Beside a context literal, the anchors avoid its text, taking a
        // longer substring where every short one lies inside it.
        let context = ["SIP response (".to_string(), "SIP request (".to_string()];
        let lits: Vec<String> = [
            "Got SIP response",
            "SIP response code",
            "Overriding SIP cause",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(scan_anchors(&lits, &[]), ["SIP "]);
        let anchors = scan_anchors(&lits, &context);
        for a in &anchors {
            assert!(
                !context.iter().any(|c| c.contains(a.as_str())),
                "{a} in {context:?}"
            );
        }
        for l in &lits {
            assert!(
                anchors.iter().any(|a| l.contains(a.as_str())),
                "{l} not covered by {anchors:?}"
            );
        }
    }

    #[test]
    fn a_line_above_is_searched_for_the_contexts_that_reach_it() {
        let catalog = Catalog::builtin("en").expect("catalog");
        let m = Matcher::new(&catalog).expect("matcher");
        let mut scratch = m.scratch(&catalog);
        let pjsip = b"<--- Received SIP response (451 bytes) from UDP:10.0.0.1:5060 --->";
        let found = |lines: &[&[u8]], scratch: &mut Scratch| {
            let mut ids = Vec::new();
            m.contexts(&catalog, scratch, lines, 0, |ci, distance, _, _| {
                let id = catalog.formats[ci].id.clone();
                if !ids.contains(&(id.clone(), distance)) {
                    ids.push((id, distance));
                }
            });
            ids
        };
        let id = "asterisk.pjsip_logger".to_string();
        // The pjsip logger's header stands right above its message...
        assert_eq!(found(&[b"", pjsip], &mut scratch), [(id.clone(), 1)]);
        // ... and counts for nothing two lines up, where a sipdump record's
        // `time:` line, which reaches eleven lines down, still does.
        let time = b"time: 1604565560.123456";
        let far = found(&[b"", b"x", pjsip, time], &mut scratch);
        assert!(far.iter().all(|(f, _)| *f != id), "{far:?}");
        assert!(far.iter().any(|(_, d)| *d == 3), "{far:?}");
    }

    #[test]
    fn anchors_start_where_their_first_four_bytes_are_rare() {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // `SIP/` leads every Asterisk channel name; `IP/2.0` is as exact.
        let typical = "Dial(\"PJSIP/100\", \"PJSIP/200\") ".repeat(4) + "SIP/2.0 200 OK";
        let moved = rare_starts(strings(&["SIP/2.0", "ACC: "]), &[], typical.as_bytes());
        assert_eq!(moved[1], "ACC: ", "a rare fingerprint keeps its start");
        assert!("SIP/2.0".ends_with(moved[0].as_str()) && moved[0].len() >= 4);
        assert!(!moved[0].starts_with("SIP/"), "{moved:?}");
        // Too few strays to trust: the anchor stays as the cover chose it.
        let few = rare_starts(strings(&["SIP/2.0"]), &[], b"PJSIP/1 SIP/2.0");
        assert_eq!(few, ["SIP/2.0"]);
        // A start inside a context literal (`IP c`, `P code`) or at a blank
        // (` code`) is never taken, nor one that would leave only
        // lower-case letters (`code`); a rare fingerprint stays (`Got `).
        let typical = "SIP request x ".repeat(5);
        let kept = rare_starts(
            strings(&["SIP c", "Got SIP ", "SIP code"]),
            &strings(&["IP c", "IP code"]),
            typical.as_bytes(),
        );
        assert_eq!(kept[0], "SIP c");
        assert_eq!(kept[1], "Got SIP ");
        assert_eq!(kept[2], "SIP code");
        // Two anchors that end alike may become one; among starts as rare,
        // the one with the most capitals, digits or punctuation, then the
        // longest, is taken.
        let typical = "Stat ".repeat(5) + "Xtat ".repeat(5).as_str();
        let merged = rare_starts(strings(&["Status: ", "Xtatus: "]), &[], typical.as_bytes());
        assert_eq!(merged, ["tus: "]);
    }

    /// Every sample and negative text of the catalog, then a generated log
    /// of about `bytes` for `seed`.
    fn samples_and_generated_log(catalog: &Catalog, bytes: u64, seed: u64) -> Vec<u8> {
        let mut text = Vec::new();
        for f in &catalog.formats {
            let samples = f.samples.iter().map(|s| &s.text);
            for t in samples.chain(f.negatives.iter().map(|n| &n.text)) {
                text.extend_from_slice(t.as_bytes());
                text.push(b'\n');
            }
        }
        crate::testgen::generate(&mut text, bytes, seed).unwrap();
        text
    }

    /// `line` (not empty) cut at, changed at or without a random byte; a
    /// changed byte is one of `bytes`.
    fn mutated(rng: &mut crate::testgen::Rng, line: &[u8], bytes: &[u8]) -> Vec<u8> {
        let mut l = line.to_vec();
        let at = rng.below(l.len() as u64) as usize;
        match rng.below(3) {
            0 => l.truncate(at),
            1 => l[at] = *rng.pick(bytes),
            _ => {
                l.remove(at);
            }
        }
        l
    }

    /// Lines to try a hand parser on: every sample and negative line of the
    /// catalog, a generated log, and each of them cut and altered around
    /// its `SIP/2.0` (the byte after it, the blank before it).
    fn parser_probe_lines(catalog: &Catalog) -> Vec<Vec<u8>> {
        let text = samples_and_generated_log(catalog, 200_000, 3);
        let mut lines: Vec<Vec<u8>> = Vec::new();
        for line in text
            .split(|b| *b == b'\n')
            .filter(|l| memmem::find(l, b"SIP/2.0").is_some())
        {
            lines.push(line.to_vec());
            for at in memmem::find_iter(line, b"SIP/2.0") {
                let after = at + 7;
                lines.push(line[..after].to_vec());
                for b in [
                    b' ', b'/', b'\r', b'^', b'#', b'\\', b'<', b'x', b'\t', 0xff,
                ] {
                    let mut l = line[..after].to_vec();
                    l.push(b);
                    l.extend_from_slice(b"M01 tail");
                    lines.push(l);
                }
                if at > 0 {
                    let mut l = line.to_vec();
                    l[at - 1] = b'x';
                    lines.push(l);
                }
            }
        }
        // Request lines with their method and what stands around it
        // changed: a prefix, methods of 1 to 21 bytes, a second blank, a
        // tab, a lower-case or an alphanumeric byte before the method, a
        // second version, and random cuts and changes.
        let mut rng = crate::testgen::Rng::new(17);
        for method in [
            "INVITE",
            "A",
            "AB",
            "X_Y-Z",
            &"M".repeat(20),
            &"M".repeat(21),
        ] {
            for prefix in ["", "x", "_", "1", "#", " ", "<--- ", "a-", "Z", "\x0bq "] {
                for uri in [" sip:1@h", "  sip:1@h", "\tsip:1@h", " \x0bsip", " s", " "] {
                    for tail in ["", " x", "\r", "#012", "^M", "/UDP", " SIP/2.0 200 OK"] {
                        lines.push(format!("{prefix}{method}{uri} SIP/2.0{tail}").into_bytes());
                    }
                }
            }
        }
        let requests: Vec<Vec<u8>> = lines
            .iter()
            .filter(|l| memmem::find(l, b" SIP/2.0").is_some())
            .cloned()
            .collect();
        for line in &requests {
            for _ in 0..4 {
                lines.push(mutated(&mut rng, line, b" a_Z-\t1/:\x0b\n\xff"));
            }
        }
        lines.sort();
        lines.dedup();
        lines
    }

    #[test]
    fn hand_parsers_agree_with_their_regexes() {
        let catalog = Catalog::builtin("en").unwrap();
        let lines = parser_probe_lines(&catalog);
        assert!(lines.len() > 500, "{} probe lines", lines.len());
        let mut tried = 0;
        for format in catalog.formats.iter().filter(|f| f.parser.is_some()) {
            let parser = format.parser.unwrap();
            let mut locs = format.regex.capture_locations();
            let (mut matched, mut refused) = (0, 0);
            for line in &lines {
                let mut spans = [None; Field::ALL.len()];
                let by_regex = format.regex.captures_read(&mut locs, line);
                let shown = String::from_utf8_lossy(line);
                match parse(parser, line, &mut spans) {
                    Parsed::Match(start, end) => {
                        let m = by_regex
                            .unwrap_or_else(|| panic!("{}: parser only: {shown}", format.id));
                        assert_eq!((start, end), (m.start(), m.end()), "{}: {shown}", format.id);
                        for field in Field::ALL {
                            let slot = format.slots.get(field).and_then(|s| locs.get(s));
                            assert_eq!(
                                spans[field as usize], slot,
                                "{} {field:?}: {shown}",
                                format.id
                            );
                        }
                        matched += 1;
                    }
                    Parsed::NoMatch => {
                        assert!(by_regex.is_none(), "{}: regex only: {shown}", format.id);
                        refused += 1;
                    }
                    Parsed::Regex => matched += usize::from(by_regex.is_some()),
                }
            }
            // The probe lines hold both kinds for every parser.
            assert!(
                matched > 10 && refused > 10,
                "{}: {matched} matched, {refused} refused",
                format.id
            );
            tried += 1;
        }
        assert_eq!(tried, 2, "sip.message and sip.request have hand parsers");
    }

    #[test]
    fn skeletons_agree_with_their_regexes() {
        let catalog = Catalog::builtin("en").unwrap();
        let text = samples_and_generated_log(&catalog, 100_000, 5);
        let mut rng = crate::testgen::Rng::new(11);
        let mut lines: Vec<Vec<u8>> = Vec::new();
        for line in text.split(|b| *b == b'\n') {
            lines.push(line.to_vec());
            for _ in 0..6 {
                // Cut, change or drop a byte, where the fields are.
                if line.is_empty() {
                    break;
                }
                lines.push(mutated(&mut rng, line, b" \"]:[<>-x9/\t\xff"));
            }
        }
        let with: Vec<&Format> = catalog
            .formats
            .iter()
            .filter(|f| f.skeleton.is_some())
            .collect();
        assert!(
            with.len() >= 20,
            "only {} formats have a skeleton",
            with.len()
        );
        let mut matched = 0;
        for format in with {
            let sk = format.skeleton.as_ref().unwrap();
            for line in &lines {
                let [by_skeleton, by_regex] = skeleton::groups_of_both(sk, &format.regex, line);
                assert_eq!(
                    by_skeleton,
                    by_regex,
                    "{}: {}",
                    format.id,
                    String::from_utf8_lossy(line)
                );
                matched += usize::from(by_regex.is_some());
            }
        }
        assert!(matched > 200, "{matched} matches");
    }

    #[test]
    fn presence_from_anchors_equals_a_literal_search() {
        // The formats marked present must be exactly those with a literal in
        // the line, also when the search starts at the bulk scan's first
        // literal (overlapping literals: "SIP/2.0" inside "SIP/2.0 ").
        let catalog = Catalog::builtin("en").unwrap();
        let m = Matcher::new(&catalog).unwrap();
        let mut text = samples_and_generated_log(&catalog, 1 << 20, 11);
        // Literals side by side, so that their anchors stand close together.
        let literals: Vec<&String> = m
            .primary
            .iter()
            .flat_map(|&f| &catalog.formats[f].literals)
            .collect();
        for a in &literals {
            for b in &literals {
                text.extend_from_slice(format!("{a}{b}\n").as_bytes());
            }
        }
        let mut present = vec![false; catalog.formats.len()];
        let (mut lines, mut with_literals) = (0, 0);
        for line in text.split(|&b| b == b'\n') {
            let expected: Vec<bool> = (0..catalog.formats.len())
                .map(|f| {
                    m.primary.contains(&f)
                        && catalog.formats[f]
                            .literals
                            .iter()
                            .any(|l| memmem::find(line, l.as_bytes()).is_some())
                })
                .collect();
            let any = m.mark_present(line, 0, &mut present);
            assert_eq!(present, expected, "{}", String::from_utf8_lossy(line));
            assert_eq!(any, expected.contains(&true));
            lines += 1;
            let first = (0..line.len()).find(|&at| m.literal_at(line, at));
            if let Some(first) = first {
                with_literals += 1;
                m.mark_present(line, first, &mut present);
                // From there on, a format whose screening parser refuses
                // the line may be left out: its literals before `first`
                // were skipped.
                let refused = |f: usize| {
                    catalog.formats[f].parser.is_some_and(|p| {
                        p.screens_candidates()
                            && parse(p, line, &mut [None; Field::ALL.len()]) == Parsed::NoMatch
                    })
                };
                for f in 0..catalog.formats.len() {
                    assert!(
                        present[f] == expected[f] || refused(f),
                        "{} {}",
                        catalog.formats[f].id,
                        String::from_utf8_lossy(line)
                    );
                }
            }
        }
        assert!(
            lines > 5000 && with_literals > 500,
            "{lines} {with_literals}"
        );
    }

    #[test]
    fn an_anchor_counts_only_inside_a_whole_literal() {
        let catalog = Catalog::builtin("en").unwrap();
        let m = Matcher::new(&catalog).unwrap();
        let at = |line: &[u8]| {
            let hit = m.find_candidate(line).expect("an anchor");
            m.literal_at(line, hit)
        };
        assert!(at(
            b"  -- Got SIP response 486 \"Busy Here\" back from 10.0.0.1"
        ));
        assert!(at(b"ACC: transaction answered: code=200"));
        assert!(at(b"<--- SIP/2.0 200 OK"));
        // "Got SIP " and "Responding " alone are anchors of longer literals.
        assert!(!at(b"Got SIP message from 10.0.0.1"));
        assert!(!at(b"Responding with 200"));
        // The anchor's offset inside the literal is checked against the line
        // start ("SIP c" stands for "Overriding SIP cause").
        assert!(!at(b"x SIP cause 17"));
        // Anchors keep clear of context literals, which stand beside many
        // status lines: a pjsip logger header is no stop of the bulk scan.
        for context in [
            &b"<--- Received SIP response (451 bytes) from UDP:10.0.0.1:5060 --->"[..],
            b"<--- Transmitting SIP request (507 bytes) to UDP:10.0.0.1:5060 --->",
        ] {
            assert_eq!(m.find_candidate(context), None, "{context:?}");
        }
        // `SIP/2.0` is sip.request's literal, and its parser refuses a line
        // where it only starts a Via transport...
        assert!(!at(
            b" 7(2) DEBUG: <core> [core/tcp_main.c:2795]: tcpconn_do_send(): buf= Via: SIP/2.0/TCP 127.0.0.1:5"
        ));
        assert!(at(b"INVITE sip:200@10.0.0.1 SIP/2.0"));
        // ... but the scan goes on along the line to the next literal.
        // (The scan stops where an anchor starts, which may lie inside its
        // literal.)
        let anchor_in = |literal: &str| {
            m.anchors
                .iter()
                .find_map(|a| literal.find(a.as_str()))
                .expect("every literal holds an anchor")
        };
        let line = b"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1 ACC: transaction answered: code=200";
        let first = (0..line.len()).find(|&at| m.literal_at(line, at));
        assert_eq!(
            first,
            memmem::find(line, b"ACC: ").map(|p| p + anchor_in("ACC: "))
        );
        // The screen judges each `SIP/2.0` where it stands: a later one that
        // ends a request line is the stop, and the line is still recognized
        // from there as the exhaustive search recognizes it.
        let line = b"buf= Via: SIP/2.0/TCP 10.0.0.1 then INVITE sip:200@10.0.0.1 SIP/2.0";
        let first = (0..line.len()).find(|&at| m.literal_at(line, at));
        assert_eq!(first, Some(line.len() - 7 + anchor_in("SIP/2.0")));
        let mut scratch = m.scratch(&catalog);
        let fast = m.recognize(&catalog, &mut scratch, line, first.unwrap());
        let fast = fast.map(|h| (catalog.formats[h.format].id.clone(), h.start, h.end));
        let all = m.recognize_any(&catalog, &mut scratch, line);
        let all = all.map(|h| (catalog.formats[h.format].id.clone(), h.start, h.end));
        assert_eq!(fast, all);
        assert_eq!(fast.map(|f| f.0), Some("sip.request".to_string()));
    }

    #[test]
    fn request_parser_reads_a_long_run_of_method_bytes_once_per_start() {
        // Every capital here follows a '-', so each is a method start; the
        // parser must still agree with the regex without rescanning the run.
        let catalog = Catalog::builtin("en").unwrap();
        let format = catalog
            .formats
            .iter()
            .find(|f| f.parser == Some(Parser::SipRequestLine))
            .unwrap();
        let mut line = b"A-".repeat(200_000);
        line.extend_from_slice(b"A x SIP/2.0");
        let mut spans = [None; Field::ALL.len()];
        let parsed = parse(Parser::SipRequestLine, &line, &mut spans);
        let mut locs = format.regex.capture_locations();
        let m = format
            .regex
            .captures_read(&mut locs, &line)
            .expect("the regex matches");
        assert_eq!(parsed, Parsed::Match(m.start(), m.end()));
        let method = format.slots.get(Field::Method).and_then(|g| locs.get(g));
        assert_eq!(spans[Field::Method as usize], method);
        // The longest method that starts with a capital here: 19 bytes
        // before " x SIP/2.0" (20 would start at a '-').
        assert_eq!(method, Some((line.len() - 29, line.len() - 10)));
    }

    #[test]
    fn codes_outside_the_sip_range_are_refused() {
        assert_eq!(parse_code(b"486"), Some(486));
        assert_eq!(parse_code(b"099"), None);
        assert_eq!(parse_code(b"700"), None);
        assert_eq!(parse_code(b"4861"), None);
        assert_eq!(parse_code(b"48a"), None);
    }
}
