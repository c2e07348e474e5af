//! A one-pass matcher for the shape most format regexes have: literals and
//! runs of one byte class in a row, with captures around them
//! (`Got SIP response (?P<code>\d{3}) "(?P<reason>[^"]*)" ...`).
//!
//! When every run of varying length stops at a byte that what follows it
//! cannot start with, such a regex has at most one match at each start and
//! no backtracking can change it, so walking the steps once per occurrence
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
        deterministic(&steps).then(|| Skeleton {
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
        let mut at = start;
        for step in &self.steps {
            match step {
                Step::Literal(l) => {
                    if !line[at..].starts_with(l) {
                        return None;
                    }
                    at += l.len();
                }
                Step::OneOf(options) => {
                    let l = options.iter().find(|l| line[at..].starts_with(l))?;
                    at += l.len();
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
            }
        }
        slots[0] = Some(start);
        slots[1] = Some(at);
        Some(at)
    }
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
        HirKind::Class(class) => steps.push(Step::Run {
            set: byte_set(class)?,
            min: 1,
            max: 1,
        }),
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
            Step::Run { set: s, min, .. } => {
                set.union(s);
                if *min > 0 {
                    return (set, false);
                }
            }
            // `$` is not a byte: a run before it must reach the end anyway.
            Step::End => return (set, false),
        }
    }
    (set, true)
}

/// Every run of varying length stops at a byte its followers cannot start with.
fn deterministic(steps: &[Step]) -> bool {
    steps.iter().enumerate().all(|(i, step)| match step {
        Step::Run { set, min, max } if min != max => {
            !first_bytes(&steps[i + 1..]).0.intersects(set)
        }
        _ => true,
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
            r"a(?:bc)?c",    // optional group of more than a byte
            r"a[a-z]+?b",    // lazy
            r"ab^c",         // `^` after the start
        ] {
            assert!(Skeleton::new(p).is_none(), "{p}");
        }
        assert!(Skeleton::new(r"a\S+ b").is_some());
        assert!(Skeleton::new(r"^\[(?P<x>[0-9]+)\]$").is_some());
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
