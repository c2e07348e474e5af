//! A multi-literal search that calls aho-corasick's packed (Teddy) searcher
//! directly where the CPU has one, and its general automaton elsewhere.
//!
//! Through `AhoCorasick::find` every search goes through the automaton's
//! prefilter layer before and after Teddy; on the bulk scan, restarted at
//! each anchor of a dense log, that layer cost about a fifth of the search.
//! The packed searcher reports the same matches (leftmost-first or
//! leftmost-longest, non-overlapping), so the caller sees no difference.

use aho_corasick::{packed, AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

/// One match: the pattern's index and its span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub pattern: usize,
    pub start: usize,
    pub end: usize,
}

/// Which leftmost semantics the search keeps among matches at one start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leftmost {
    /// The pattern listed first.
    First,
    /// The longest pattern.
    Longest,
}

#[derive(Debug, Clone)]
enum Engine {
    Packed(packed::Searcher),
    General(AhoCorasick),
}

/// A compiled set of literals.
#[derive(Debug, Clone)]
pub struct LiteralSearch {
    engine: Engine,
}

impl LiteralSearch {
    /// Compiles `patterns`; `Err` carries aho-corasick's reason.
    pub fn new<P: AsRef<[u8]>>(patterns: &[P], leftmost: Leftmost) -> Result<Self, String> {
        let packed_kind = match leftmost {
            Leftmost::First => packed::MatchKind::LeftmostFirst,
            Leftmost::Longest => packed::MatchKind::LeftmostLongest,
        };
        let packed = (!patterns.is_empty())
            .then(|| {
                packed::Config::new()
                    .match_kind(packed_kind)
                    .builder()
                    .extend(patterns)
                    .build()
            })
            .flatten();
        let engine = match packed {
            Some(searcher) => Engine::Packed(searcher),
            None => Engine::General(general(patterns, leftmost)?),
        };
        Ok(LiteralSearch { engine })
    }

    /// The same literals, always through the general automaton (for tests).
    #[cfg(test)]
    fn general_only<P: AsRef<[u8]>>(patterns: &[P], leftmost: Leftmost) -> Self {
        LiteralSearch {
            engine: Engine::General(general(patterns, leftmost).expect("builds")),
        }
    }

    /// The leftmost match in `haystack`.
    #[inline]
    pub fn find(&self, haystack: &[u8]) -> Option<Found> {
        let m = match &self.engine {
            Engine::Packed(s) => s.find(haystack),
            Engine::General(ac) => ac.find(haystack),
        }?;
        Some(Found {
            pattern: m.pattern().as_usize(),
            start: m.start(),
            end: m.end(),
        })
    }

    /// Every non-overlapping match, left to right.
    pub fn find_iter<'a>(&'a self, haystack: &'a [u8]) -> impl Iterator<Item = Found> + 'a {
        let mut at = 0;
        std::iter::from_fn(move || {
            let rest = haystack.get(at..)?;
            let found = self.find(rest)?;
            let found = Found {
                pattern: found.pattern,
                start: at + found.start,
                end: at + found.end,
            };
            // Patterns are never empty, so the search always moves on.
            at = found.end.max(found.start + 1);
            Some(found)
        })
    }
}

fn general<P: AsRef<[u8]>>(patterns: &[P], leftmost: Leftmost) -> Result<AhoCorasick, String> {
    let (kind, match_kind) = match leftmost {
        Leftmost::First => (None, MatchKind::LeftmostFirst),
        Leftmost::Longest => (Some(AhoCorasickKind::DFA), MatchKind::LeftmostLongest),
    };
    AhoCorasickBuilder::new()
        .match_kind(match_kind)
        .kind(kind)
        .build(patterns)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(s: &LiteralSearch, hay: &[u8]) -> Vec<Found> {
        s.find_iter(hay).collect()
    }

    #[test]
    fn packed_and_general_report_the_same_matches() {
        let patterns = [
            "SIP/2.0",
            "SIP ",
            "SIP/2.0 ",
            "ACC: ",
            "Resp",
            "se '",
            "g state [",
        ];
        let mut hay = Vec::new();
        let mut seed = 7u32;
        for _ in 0..4000 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let pick = (seed >> 16) as usize;
            match pick % 5 {
                0 => hay.extend_from_slice(patterns[pick % patterns.len()].as_bytes()),
                1 => hay.extend_from_slice(&patterns[pick % patterns.len()].as_bytes()[1..]),
                2 => hay.push(b'\n'),
                _ => hay.push(b"SIP/2.0 ACCRespg[ '"[pick % 19]),
            }
        }
        for leftmost in [Leftmost::First, Leftmost::Longest] {
            let fast = LiteralSearch::new(&patterns, leftmost).unwrap();
            let slow = LiteralSearch::general_only(&patterns, leftmost);
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                assert!(matches!(fast.engine, Engine::Packed(_)), "Teddy is used");
            }
            // Every 37th suffix and the last 40, so short haystacks (below
            // Teddy's minimum, searched by Rabin-Karp) are covered too.
            for from in (0..hay.len()).step_by(37).chain(hay.len() - 40..hay.len()) {
                assert_eq!(
                    all(&fast, &hay[from..]),
                    all(&slow, &hay[from..]),
                    "{leftmost:?} from {from}"
                );
            }
            let found = all(&fast, &hay);
            assert!(
                found.len() > 500,
                "the haystack has matches: {}",
                found.len()
            );
        }
    }

    #[test]
    fn leftmost_first_and_longest_differ_where_they_should() {
        let hay = b"x SIP/2.0 200";
        let first = LiteralSearch::new(&["SIP/2.0", "SIP/2.0 "], Leftmost::First).unwrap();
        let longest = LiteralSearch::new(&["SIP/2.0", "SIP/2.0 "], Leftmost::Longest).unwrap();
        assert_eq!(first.find(hay).map(|f| f.pattern), Some(0));
        assert_eq!(longest.find(hay).map(|f| f.pattern), Some(1));
        assert_eq!(first.find(b"nothing here").map(|f| f.pattern), None);
    }
}
