//! A one-pass matcher for the shape most format and timestamp regexes
//! have: literals and runs of one byte class in a row, with captures around
//! them (`Got SIP response (?P<code>\d{3}) "(?P<reason>[^"]*)" ...`),
//! optional parts (`(?:[.,](?P<frac>\d{1,9}))?`) and choices the next byte
//! decides (`[0-3]\d?|[4-9]`).
//!
//! When every run of varying length stops at a byte that what follows it
//! cannot start with, every optional part starts with a byte what follows it
//! cannot, and a choice's branches start with disjoint bytes, such a regex
//! has at most one match at each start and no backtracking can change it,
//! so walking the steps once per occurrence
//! of the leading literal finds the regex's own leftmost match and groups,
//! at a fraction of the cost of a capture search (the regex crate runs a
//! forward DFA, a reverse DFA and a capture engine for each line). Regexes
//! of any other shape get no skeleton and keep their regex; the regex stays
//! the specification, and the tests run both on every probe line.
//!
//! Byte semantics throughout, as the formats' regexes are compiled without
//! Unicode (`.` and classes match single bytes).

use memchr::memmem;
use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// A byte set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct ByteSet([u64; 4]);

impl ByteSet {
    fn insert_range(&mut self, lo: u8, hi: u8) {
        for b in lo..=hi {
            self.0[usize::from(b >> 6)] |= 1 << (b & 63);
        }
    }

    #[inline]
    fn contains(&self, b: u8) -> bool {
        self.0[usize::from(b >> 6)] & (1 << (b & 63)) != 0
    }

    fn intersects(&self, other: &ByteSet) -> bool {
        self.0.iter().zip(other.0).any(|(a, b)| a & b != 0)
    }

    fn union(&mut self, other: &ByteSet) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a |= b;
        }
    }
}

#[derive(Debug, Clone)]
enum Step {
    /// These bytes.
    Literal(Box<[u8]>),
    /// One of these byte strings, none a prefix of another.
    OneOf(Vec<Box<[u8]>>),
    /// One byte of a set (a class on its own: `[0-2]`, `\d`).
    Byte(ByteSet),
    /// `min..=max` bytes of a set, as many as there are.
    Run {
        set: ByteSet,
        min: usize,
        max: usize,
    },
    /// Records the position in a group slot (2 × group, +1 for its end).
    Save(usize),
    /// The end of the haystack (`$`).
    End,
    /// `(?:...)?` of steps that consume at least a byte, none of which what
    /// follows can start with: taken when they match, else skipped with the
    /// group slots they hold unset, as the regex would.
    Optional { steps: Vec<Step>, slots: Vec<usize> },
    /// An alternation of step sequences that start with disjoint bytes and
    /// consume at least one: the next byte picks the only one that can match.
    Choice(Vec<(ByteSet, Vec<Step>)>),
}

/// A regex compiled to steps; see the module documentation.
#[derive(Debug, Clone)]
pub struct Skeleton {
    /// Finds the starts: every match begins with this literal.
    first: memmem::Finder<'static>,
    /// `^`: the only start is 0.
    anchored: bool,
    steps: Vec<Step>,
    /// Group slots (2 per group, group 0 included).
    slots: usize,
}

impl Skeleton {
    /// The skeleton of `pattern` (parsed as the catalog compiles it:
    /// without Unicode), or `None` when it has another shape.
    pub fn new(pattern: &str) -> Option<Skeleton> {
        let hir = regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .build()
            .parse(pattern)
            .ok()?;
        let mut steps = Vec::new();
        let mut groups = 1;
        let mut anchored = false;
        flatten(&hir, &mut steps, &mut groups, &mut anchored)?;
        let first = match steps.iter().find(|s| !matches!(s, Step::Save(_))) {
            Some(Step::Literal(l)) => l.to_vec(),
            _ if anchored => Vec::new(),
            _ => return None,
        };
        deterministic(&steps, (ByteSet::default(), true)).then(|| Skeleton {
            first: memmem::Finder::new(&first).into_owned(),
            anchored,
            steps,
            slots: groups * 2,
        })
    }

    /// Number of capture slots (2 per group, group 0 included).
    pub fn slot_count(&self) -> usize {
        self.slots
    }

    /// Finds the leftmost match in `line`; fills `slots` (as many as
    /// `slot_count`) with the groups' offsets and returns the match's span.
    pub fn find(&self, line: &[u8], slots: &mut [Option<usize>]) -> Option<(usize, usize)> {
        if self.anchored {
            return self.walk(line, 0, slots).map(|end| (0, end));
        }
        // Every start, overlapping ones included.
        let mut from = 0;
        while let Some(i) = self.first.find(&line[from..]) {
            let start = from + i;
            if let Some(end) = self.walk(line, start, slots) {
                return Some((start, end));
            }
            from = start + 1;
        }
        None
    }

    /// Runs the steps from `start`; the end of the match, if they all pass.
    fn walk(&self, line: &[u8], start: usize, slots: &mut [Option<usize>]) -> Option<usize> {
        slots.iter_mut().for_each(|s| *s = None);
        let at = run(&self.steps, line, start, slots)?;
        slots[0] = Some(start);
        slots[1] = Some(at);
        Some(at)
    }
}

/// Each group's span in a match (group 0 first), `None` for an unset group.
#[cfg(test)]
pub(crate) type Groups = Vec<Option<(usize, usize)>>;

/// The groups of the leftmost match of `skeleton` and of `regex` in
/// `line`, in that order: tests hold the two to each other.
#[cfg(test)]
pub(crate) fn groups_of_both(
    skeleton: &Skeleton,
    regex: &regex::bytes::Regex,
    line: &[u8],
) -> [Option<Groups>; 2] {
    let mut slots = vec![None; skeleton.slot_count()];
    let by_skeleton = skeleton
        .find(line, &mut slots)
        .map(|_| slots.chunks(2).map(|p| p[0].zip(p[1])).collect());
    let mut locs = regex.capture_locations();
    let by_regex = regex
        .captures_read(&mut locs, line)
        .map(|_| (0..locs.len()).map(|g| locs.get(g)).collect());
    [by_skeleton, by_regex]
}

/// Runs `steps` on `line` from `at`; where they end, if they all pass.
fn run(steps: &[Step], line: &[u8], mut at: usize, slots: &mut [Option<usize>]) -> Option<usize> {
    for step in steps {
        match step {
            Step::Literal(l) => {
                if !has_at(line, at, l) {
                    return None;
                }
                at += l.len();
            }
            Step::OneOf(options) => {
                let next = *line.get(at)?;
                let l = options
                    .iter()
                    .find(|l| l[0] == next && has_at(line, at, l))?;
                at += l.len();
            }
            Step::Byte(set) => {
                if !set.contains(*line.get(at)?) {
                    return None;
                }
                at += 1;
            }
            Step::Run { set, min, max } => {
                let room = &line[at..line.len().min(at.saturating_add(*max))];
                let n = room
                    .iter()
                    .position(|b| !set.contains(*b))
                    .unwrap_or(room.len());
                if n < *min {
                    return None;
                }
                at += n;
            }
            Step::Save(slot) => slots[*slot] = Some(at),
            Step::End => {
                if at != line.len() {
                    return None;
                }
            }
            Step::Optional { steps, slots: held } => match run(steps, line, at, slots) {
                Some(end) => at = end,
                None => held.iter().for_each(|&s| slots[s] = None),
            },
            Step::Choice(branches) => {
                let next = *line.get(at)?;
                let (_, steps) = branches.iter().find(|(first, _)| first.contains(next))?;
                at = run(steps, line, at, slots)?;
            }
        }
    }
    Some(at)
}

/// Whether `line[at..]` starts with `literal`. The literals of format and
/// stamp regexes are a few bytes long, and most comparisons fail at the first
/// byte: a byte loop answers before a call to `memcmp` would have started.
#[inline]
fn has_at(line: &[u8], at: usize, literal: &[u8]) -> bool {
    line.get(at..at + literal.len())
        .is_some_and(|hay| hay.iter().zip(literal).all(|(a, b)| a == b))
}

/// Appends the steps of `hir`; `None` if it is not of the supported shape.
/// A `^` is taken only before any step but group openings (it sets `anchored`).
fn flatten(
    hir: &Hir,
    steps: &mut Vec<Step>,
    groups: &mut usize,
    anchored: &mut bool,
) -> Option<()> {
    match hir.kind() {
        HirKind::Empty => {}
        HirKind::Literal(l) => match steps.last_mut() {
            Some(Step::Literal(prev)) => {
                let mut joined = prev.to_vec();
                joined.extend_from_slice(&l.0);
                *prev = joined.into_boxed_slice();
            }
            _ => steps.push(Step::Literal(l.0.clone())),
        },
        HirKind::Class(class) => steps.push(Step::Byte(byte_set(class)?)),
        HirKind::Look(Look::Start) if steps.iter().all(|s| matches!(s, Step::Save(_))) => {
            *anchored = true;
        }
        HirKind::Look(Look::End) => steps.push(Step::End),
        HirKind::Look(_) => return None,
        HirKind::Repetition(r) => {
            if !r.greedy {
                return None;
            }
            let set = match r.sub.kind() {
                HirKind::Class(class) => byte_set(class)?,
                HirKind::Literal(l) if l.0.len() == 1 => {
                    let mut set = ByteSet::default();
                    set.insert_range(l.0[0], l.0[0]);
                    set
                }
                _ if r.min == 0 && r.max == Some(1) => {
                    let inner = flatten_inner(&r.sub, groups)?;
                    let mut held = Vec::new();
                    saved_slots(&inner, &mut held);
                    steps.push(Step::Optional {
                        steps: inner,
                        slots: held,
                    });
                    return Some(());
                }
                _ => return None,
            };
            steps.push(Step::Run {
                set,
                min: r.min as usize,
                max: r.max.map_or(usize::MAX, |m| m as usize),
            });
        }
        HirKind::Capture(c) => {
            let index = c.index as usize;
            *groups = (*groups).max(index + 1);
            steps.push(Step::Save(2 * index));
            flatten(&c.sub, steps, groups, anchored)?;
            steps.push(Step::Save(2 * index + 1));
        }
        HirKind::Concat(items) => {
            for item in items {
                flatten(item, steps, groups, anchored)?;
            }
        }
        HirKind::Alternation(options)
            if !options
                .iter()
                .all(|o| matches!(o.kind(), HirKind::Literal(_))) =>
        {
            let mut branches = Vec::new();
            for option in options {
                let inner = flatten_inner(option, groups)?;
                let (first, nullable) = first_bytes(&inner);
                if nullable {
                    return None;
                }
                branches.push((first, inner));
            }
            steps.push(Step::Choice(branches));
        }
        HirKind::Alternation(options) => {
            let mut literals: Vec<Box<[u8]>> = Vec::new();
            for option in options {
                match option.kind() {
                    HirKind::Literal(l) => literals.push(l.0.clone()),
                    _ => return None,
                }
            }
            let prefix_free = literals.iter().enumerate().all(|(i, a)| {
                literals
                    .iter()
                    .enumerate()
                    .all(|(j, b)| i == j || !b.starts_with(a))
            });
            if !prefix_free || literals.iter().any(|l| l.is_empty()) {
                return None;
            }
            steps.push(Step::OneOf(literals));
        }
    }
    Some(())
}

/// The steps of a part inside an optional group or a choice; `None` if it
/// holds a `^`, which only the start of the whole regex may.
fn flatten_inner(hir: &Hir, groups: &mut usize) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    let mut anchored = false;
    flatten(hir, &mut steps, groups, &mut anchored)?;
    (!anchored).then_some(steps)
}

fn byte_set(class: &Class) -> Option<ByteSet> {
    let mut set = ByteSet::default();
    match class {
        Class::Bytes(c) => {
            for r in c.iter() {
                set.insert_range(r.start(), r.end());
            }
        }
        Class::Unicode(c) => {
            for r in c.iter() {
                let (lo, hi) = (u32::from(r.start()), u32::from(r.end()));
                if hi > 0x7f {
                    return None;
                }
                set.insert_range(lo as u8, hi as u8);
            }
        }
    }
    Some(set)
}

/// The bytes the steps from `i` on can start with, and whether they can
/// match nothing at all (then whatever follows them counts too).
fn first_bytes(steps: &[Step]) -> (ByteSet, bool) {
    let mut set = ByteSet::default();
    for step in steps {
        match step {
            Step::Save(_) => {}
            Step::Literal(l) => {
                set.insert_range(l[0], l[0]);
                return (set, false);
            }
            Step::OneOf(options) => {
                for l in options {
                    set.insert_range(l[0], l[0]);
                }
                return (set, false);
            }
            Step::Byte(s) => {
                set.union(s);
                return (set, false);
            }
            Step::Run { set: s, min, .. } => {
                set.union(s);
                if *min > 0 {
                    return (set, false);
                }
            }
            // `$` is not a byte: a run before it must reach the end anyway.
            Step::End => return (set, false),
            Step::Optional { steps, .. } => set.union(&first_bytes(steps).0),
            Step::Choice(branches) => {
                for (first, _) in branches {
                    set.union(first);
                }
                return (set, false);
            }
        }
    }
    (set, true)
}

/// The group slots that `steps` save, nested ones included.
fn saved_slots(steps: &[Step], out: &mut Vec<usize>) {
    for step in steps {
        match step {
            Step::Save(slot) => out.push(*slot),
            Step::Optional { steps, .. } => saved_slots(steps, out),
            Step::Choice(branches) => branches.iter().for_each(|(_, b)| saved_slots(b, out)),
            _ => {}
        }
    }
}

/// What can follow `rest` when `outer` follows the sequence it ends:
/// `rest`'s first bytes, and `outer`'s too where `rest` can match nothing.
fn follow(rest: &[Step], outer: (ByteSet, bool)) -> (ByteSet, bool) {
    let (mut set, nullable) = first_bytes(rest);
    if !nullable {
        return (set, false);
    }
    set.union(&outer.0);
    (set, outer.1)
}

/// Every run of varying length stops at a byte its followers cannot start
/// with; an optional part starts with none of them either (so the regex
/// could not do better by skipping it); the branches of a choice start with
/// disjoint bytes. `outer`: what may follow `steps` (nothing at the top).
fn deterministic(steps: &[Step], outer: (ByteSet, bool)) -> bool {
    steps.iter().enumerate().all(|(i, step)| {
        let after = || follow(&steps[i + 1..], outer);
        match step {
            Step::Run { set, min, max } if min != max => !after().0.intersects(set),
            Step::Optional { steps: inner, .. } => {
                let (first, nullable) = first_bytes(inner);
                !nullable && !first.intersects(&after().0) && deterministic(inner, after())
            }
            Step::Choice(branches) => {
                branches
                    .iter()
                    .enumerate()
                    .all(|(j, (a, _))| branches[j + 1..].iter().all(|(b, _)| !a.intersects(b)))
                    && branches.iter().all(|(_, b)| deterministic(b, after()))
            }
            _ => true,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(pattern: &str, line: &str) -> Option<Vec<Option<(usize, usize)>>> {
        let sk = Skeleton::new(pattern).expect("a skeleton");
        let mut slots = vec![None; sk.slot_count()];
        sk.find(line.as_bytes(), &mut slots)?;
        Some(slots.chunks(2).map(|p| p[0].zip(p[1])).collect())
    }

    #[test]
    fn simple_shapes_get_a_skeleton_and_match_like_the_regex() {
        let p = r#"Got SIP response (?P<code>\d{3}) "(?P<reason>[^"]*)" (?P<direction>back from) (?P<peer>\S+)"#;
        let line = r#"  -- Got SIP response 486 "Busy Here" back from 10.0.0.1:5060"#;
        let g = groups(p, line).unwrap();
        let span = |i: usize| g[i].map(|(s, e)| &line[s..e]);
        assert_eq!(span(1), Some("486"));
        assert_eq!(span(2), Some("Busy Here"));
        assert_eq!(span(4), Some("10.0.0.1:5060"));
        assert_eq!(g[0].unwrap().0, 5);
        assert!(groups(p, r#"Got SIP response 48 "x" back from y"#).is_none());
        // The leftmost start that matches, not the first literal.
        let twice = r#"Got SIP response 4 x; Got SIP response 200 "OK" back from h"#;
        assert_eq!(
            groups(p, twice).unwrap()[1].map(|(s, e)| &twice[s..e]),
            Some("200")
        );
    }

    #[test]
    fn ambiguous_or_unsupported_shapes_keep_their_regex() {
        for p in [
            r"(?:^|x)GET",   // an alternation that is not literals
            r"a.* SIP/2\.0", // `.*` runs over what follows
            r"a\d+\d",       // a run followed by its own class
            r"a(?:ab|a)c",   // one option a prefix of another
            r"a\bword",      // word boundary
            r"\d+x",         // no leading literal
            r"a(?:bc)?b",    // an optional part what follows can start with
            r"a(?:b|bc)",    // one option a prefix of another
            r"a(?:b\d|c|b)", // choices that start alike
            r"a(?:x?|b)c",   // a choice that can match nothing
            r"a(?:^b)?c",    // `^` inside an optional part
            r"a[a-z]+?b",    // lazy
            r"ab^c",         // `^` after the start
        ] {
            assert!(Skeleton::new(p).is_none(), "{p}");
        }
        assert!(Skeleton::new(r"a\S+ b").is_some());
        assert!(Skeleton::new(r"a(?:bc)?c").is_some());
        assert!(Skeleton::new(r"^\[(?P<x>[0-9]+)\]$").is_some());
    }

    #[test]
    fn optional_parts_and_choices_match_like_the_regex() {
        // Every string of up to four bytes over a 17-byte alphabet, and a
        // strided sample of ~200 000 each of five to seven bytes, against the
        // regex crate's leftmost-first match and groups.
        let patterns = [
            r"a(?:bc)?c",
            r"a(?:[.,](?P<f>\d{1,2}))?(?P<z>Z|[+-]\d:?\d)?",
            r"\A(?:(?P<d>[0-3]\d?|[4-9]) (?P<h>\d))",
            r"x(?:(?P<a>\d)|-(?P<b>[a-c]+))y?",
            r"z(?P<m>ab|ca)(?:-(?:(?P<n>\d)|c))?$",
        ];
        let alphabet = b"abcxyzZ0139-+.,: ";
        for pattern in patterns {
            let sk = Skeleton::new(pattern).unwrap_or_else(|| panic!("{pattern}: no skeleton"));
            let re = regex::bytes::RegexBuilder::new(pattern)
                .unicode(false)
                .build()
                .unwrap();
            let mut line = Vec::new();
            let mut matched = 0;
            for len in 0..=7u32 {
                // Strings of this length, counted in base |alphabet|; for
                // the longer ones a stride keeps the test quick.
                let total = alphabet.len().pow(len);
                let stride = (total / 200_000).max(1);
                for mut k in (0..total).step_by(stride) {
                    line.clear();
                    for _ in 0..len {
                        line.push(alphabet[k % alphabet.len()]);
                        k /= alphabet.len();
                    }
                    let [by_skeleton, by_regex] = groups_of_both(&sk, &re, &line);
                    assert_eq!(
                        by_skeleton,
                        by_regex,
                        "{pattern} on {:?}",
                        String::from_utf8_lossy(&line)
                    );
                    matched += usize::from(by_regex.is_some());
                }
            }
            assert!(matched > 100, "{pattern}: only {matched} matches");
        }
    }

    #[test]
    fn anchors_and_bounds() {
        assert!(groups(r"^ab$", "ab").is_some());
        assert!(groups(r"^ab$", "xab").is_none());
        assert!(groups(r"^ab$", "abx").is_none());
        // `^` inside the first group anchors too.
        assert!(groups(r"(^ab)c", "xabc abc").is_none());
        assert_eq!(groups(r"(^ab)c", "abc").unwrap()[1], Some((0, 2)));
        assert!(groups(r"x[0-9]{2,3}y", "x1234y x12y").is_some());
        assert_eq!(
            groups(r"x[0-9]{2,3}y", "x1234y x12y").unwrap()[0],
            Some((7, 11))
        );
        assert!(groups(r"x[0-9]{2,3}y", "x1y").is_none());
    }
}
