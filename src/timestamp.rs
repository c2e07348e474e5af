//! Finds a log line's timestamp and normalises it to RFC 3339 when the log
//! gives a full date and time (shapes in `patterns/timestamps.toml`), or
//! converts an epoch (`timestamp=1604565560` in acc records) to UTC.

use std::fmt::Write as _;

use regex::bytes::CaptureLocations;

use crate::catalog::formats::TimestampShape;
use crate::event::set_lossy;

/// Only the first bytes of a line are searched: stamps lead their lines.
const SEARCH_WINDOW: usize = 120;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// How many (shape, column) places a `Finder` remembers: a file that
/// interleaves a few dialects (an Asterisk and a Kamailio log merged by
/// syslog) keeps a few stamp formats, each at its own column.
const REMEMBERED: usize = 4;

/// Per-input memory of where stamps were: a log keeps one stamp format at
/// one column (or a few, when dialects are interleaved), so the next stamp
/// is first looked for there, in a small window.
#[derive(Debug)]
pub struct Finder {
    /// Most recently used first.
    recent: Vec<Place>,
    locations: Vec<CaptureLocations>,
    /// For the shapes' anchored regexes.
    anchored_locations: Vec<CaptureLocations>,
    /// For the shapes' skeletons (as many slots as the largest needs).
    slots: Vec<Option<usize>>,
}

/// A stamp format at a column, with the last stamp found there as logged
/// and normalised: busy logs repeat a second many times, and an identical
/// stamp needs no regex.
#[derive(Debug)]
struct Place {
    shape: usize,
    at: usize,
    raw: Vec<u8>,
    norm: String,
}

impl Finder {
    /// A finder for these shapes.
    pub fn new(shapes: &[TimestampShape]) -> Finder {
        Finder {
            recent: Vec::with_capacity(REMEMBERED),
            locations: shapes.iter().map(|s| s.regex.capture_locations()).collect(),
            anchored_locations: shapes
                .iter()
                .map(|s| s.anchored.capture_locations())
                .collect(),
            slots: vec![
                None;
                shapes
                    .iter()
                    .filter_map(|s| s.skeleton.as_ref())
                    .map(|k| k.slot_count())
                    .max()
                    .unwrap_or(0)
            ],
        }
    }

    /// Moves place `k` to the front and stores what it found.
    fn found(&mut self, k: usize, raw: &str, norm: &str) {
        self.recent[..=k].rotate_right(1);
        let place = &mut self.recent[0];
        place.raw.clear();
        place.raw.extend_from_slice(raw.as_bytes());
        place.norm.clear();
        place.norm.push_str(norm);
    }
}

/// Looks for a timestamp at the start of `line`, trying first the shapes and
/// columns that matched recently; on success writes the stamp as logged to
/// `raw` and its RFC 3339 form (or "" if it has no year) to `norm`.
pub fn extract_with(
    shapes: &[TimestampShape],
    finder: &mut Finder,
    line: &[u8],
    raw: &mut String,
    norm: &mut String,
) -> bool {
    let window = &line[..line.len().min(SEARCH_WINDOW)];
    if !crate::catalog::formats::has_time_of_day(window) {
        return false;
    }
    // The same stamp at the same column as a recent one (and not the start
    // of a longer one): reuse what it normalised to.
    let same = finder.recent.iter().position(|p| {
        !p.raw.is_empty()
            && window.get(p.at..p.at + p.raw.len()) == Some(&p.raw[..])
            && !window
                .get(p.at + p.raw.len())
                .is_some_and(|b| b.is_ascii_digit() || *b == b'.' || *b == b',')
    });
    if let Some(k) = same {
        finder.recent[..=k].rotate_right(1);
        let place = &finder.recent[0];
        set_lossy(raw, &place.raw);
        norm.clear();
        norm.push_str(&place.norm);
        return true;
    }
    for k in 0..finder.recent.len() {
        let (i, at) = (finder.recent[k].shape, finder.recent[k].at);
        if at >= window.len() {
            continue;
        }
        let near = &window[at..window.len().min(at + 48)];
        let shape = &shapes[i];
        let found = match &shape.skeleton {
            Some(skeleton) => {
                let slots = &mut finder.slots;
                skeleton.find(near, slots).is_some() && {
                    let span = |g: usize| slots[2 * g].zip(slots[2 * g + 1]);
                    found_at_start(shape, span, near, raw, norm)
                }
            }
            None => {
                let locs = &mut finder.anchored_locations[i];
                shape.anchored.captures_read(locs, near).is_some()
                    && found_at_start(shape, |g| locs.get(g), near, raw, norm)
            }
        };
        if found {
            finder.found(k, raw, norm);
            return true;
        }
    }
    for (i, shape) in shapes.iter().enumerate() {
        let locs = &mut finder.locations[i];
        // A DFA answers "no stamp here" far cheaper than a capture search.
        if !shape.regex.is_match(window) || shape.regex.captures_read(locs, window).is_none() {
            continue;
        }
        let span = |g: usize| locs.get(g);
        let Some(at) = ts_start(shape, span) else {
            continue;
        };
        normalise(shape, span, window, raw, norm);
        if finder.recent.len() == REMEMBERED {
            finder.recent.pop();
        }
        finder.recent.push(Place {
            shape: i,
            at,
            raw: Vec::new(),
            norm: String::new(),
        });
        let last = finder.recent.len() - 1;
        finder.found(last, raw, norm);
        return true;
    }
    false
}

// Slots in `TimestampShape::groups` (the order of TIMESTAMP_GROUPS, then tz).
const TS: usize = 0;
const YEAR: usize = 1;
const MONTH: usize = 2;
const MON: usize = 3;
const DAY: usize = 4;
const HOUR: usize = 5;
const MINUTE: usize = 6;
const SECOND: usize = 7;
const FRAC: usize = 8;
const TZ: usize = 9;

/// The span of one of the shape's groups (a slot above), given the span of
/// each capture group by index (from the regex or the skeleton).
fn group(
    shape: &TimestampShape,
    span: impl Fn(usize) -> Option<(usize, usize)>,
    slot: usize,
) -> Option<(usize, usize)> {
    span(shape.groups[slot]?)
}

/// Where the stamp (the `ts` group) starts.
fn ts_start(
    shape: &TimestampShape,
    span: impl Fn(usize) -> Option<(usize, usize)>,
) -> Option<usize> {
    group(shape, span, TS).map(|(s, _)| s)
}

/// Normalises a stamp an anchored match found, if it starts the haystack.
fn found_at_start(
    shape: &TimestampShape,
    span: impl Fn(usize) -> Option<(usize, usize)> + Copy,
    hay: &[u8],
    raw: &mut String,
    norm: &mut String,
) -> bool {
    if ts_start(shape, span) != Some(0) {
        return false;
    }
    normalise(shape, span, hay, raw, norm);
    true
}

fn normalise(
    shape: &TimestampShape,
    span: impl Fn(usize) -> Option<(usize, usize)> + Copy,
    hay: &[u8],
    raw: &mut String,
    norm: &mut String,
) {
    let get = |slot: usize| group(shape, span, slot).map(|(s, e)| &hay[s..e]);
    let Some(ts) = get(TS) else { return };
    set_lossy(raw, ts);
    norm.clear();
    let num = |slot: usize| -> Option<u32> {
        let d = get(slot)?;
        (!d.is_empty() && d.len() <= 9 && d.iter().all(u8::is_ascii_digit))
            .then(|| d.iter().fold(0u32, |n, b| n * 10 + u32::from(b - b'0')))
    };
    let month = num(MONTH).or_else(|| {
        let m = get(MON)?;
        MONTHS
            .iter()
            .position(|x| x.as_bytes() == m)
            .map(|p| p as u32 + 1)
    });
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) = (
        num(YEAR),
        month,
        num(DAY),
        num(HOUR),
        num(MINUTE),
        num(SECOND),
    ) else {
        return;
    };
    if !((1..=12).contains(&mo) && (1..=31).contains(&d) && h < 24 && mi < 60 && s < 61) {
        return;
    }
    push_civil(norm, i64::from(y), mo, d, [h, mi, s]);
    if let Some(frac) = get(FRAC) {
        norm.push('.');
        norm.push_str(std::str::from_utf8(frac).unwrap_or("0"));
    }
    if let Some(tz) = get(TZ) {
        match tz {
            b"Z" | b"GMT" | b"UTC" => norm.push('Z'),
            t if t.len() == 5 => {
                let t = std::str::from_utf8(t).unwrap_or("+0000");
                let _ = write!(norm, "{}:{}", &t[..3], &t[3..]);
            }
            t => norm.push_str(std::str::from_utf8(t).unwrap_or("")),
        }
    }
}

/// Converts seconds since the Unix epoch to RFC 3339 UTC.
pub fn from_epoch(digits: &[u8], raw: &mut String, norm: &mut String) -> bool {
    let Some(secs) = std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
    else {
        return false;
    };
    if !(0..=253_402_300_799).contains(&secs) {
        return false;
    }
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    set_lossy(raw, digits);
    norm.clear();
    let hms = [rem / 3600, rem % 3600 / 60, rem % 60];
    push_civil(norm, y, m, d, hms.map(|v| v as u32));
    norm.push('Z');
    true
}

/// Appends `YYYY-MM-DDTHH:MM:SS` (without `core::fmt`: this runs per event).
/// The callers pass a valid date and time, so every field but the year has
/// two digits; the year is clamped to four.
fn push_civil(out: &mut String, y: i64, m: u32, d: u32, [h, mi, s]: [u32; 3]) {
    let y = y.clamp(0, 9999) as u32;
    let mut text = *b"0000-00-00T00:00:00";
    for (at, value) in [
        (0, y / 100),
        (2, y % 100),
        (5, m),
        (8, d),
        (11, h),
        (14, mi),
        (17, s),
    ] {
        text[at] = b'0' + (value / 10 % 10) as u8;
        text[at + 1] = b'0' + (value % 10) as u8;
    }
    out.push_str(std::str::from_utf8(&text).unwrap_or_default());
}

/// Converts microseconds since the epoch (journald) to RFC 3339 UTC.
pub fn from_epoch_micros(us: u64, raw: &mut String, norm: &mut String) {
    let secs = (us / 1_000_000).to_string();
    if from_epoch(secs.as_bytes(), raw, norm) {
        raw.clear();
        let _ = write!(raw, "{us}");
        norm.pop(); // 'Z'
        let _ = write!(norm, ".{:06}Z", us % 1_000_000);
    }
}

/// Milliseconds since the epoch of an RFC 3339 time (`2026-11-18T11:06:40.5Z`,
/// `...+01:00`); `None` for anything else (a stamp the log gave without a
/// date or zone cannot be placed on the time line).
pub fn rfc3339_millis(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0;
    if b.get(i) == Some(&b'.') {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let frac = &s[i + 1..i + 1 + digits];
        millis = format!("{frac:0<3}")[..3].parse::<i64>().ok()?;
        i += 1 + digits;
    }
    let offset_secs = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let off = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
            if *sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    Some((days * 86_400 + h * 3600 + mi * 60 + sec - offset_secs) * 1000 + millis)
}

/// (year, month, day) to days since 1970-01-01 (inverse of `civil_from_days`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// RFC 3339 UTC with milliseconds (`2026-11-18T11:06:40.000Z`) of epoch milliseconds.
pub fn millis_to_rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_converts_to_utc() {
        let (mut raw, mut norm) = (String::new(), String::new());
        assert!(from_epoch(b"1604565560", &mut raw, &mut norm));
        assert_eq!(norm, "2020-11-05T08:39:20Z");
        assert!(from_epoch(b"0", &mut raw, &mut norm));
        assert_eq!(norm, "1970-01-01T00:00:00Z");
        assert!(!from_epoch(b"abc", &mut raw, &mut norm));
    }

    #[test]
    fn repeated_stamps_reuse_the_normalised_form_but_longer_ones_do_not() {
        let cat = crate::catalog::Catalog::builtin("en").unwrap();
        let mut finder = Finder::new(&cat.timestamps);
        let mut stamp = |line: &[u8]| {
            let (mut raw, mut norm) = (String::new(), String::new());
            assert!(extract_with(
                &cat.timestamps,
                &mut finder,
                line,
                &mut raw,
                &mut norm
            ));
            norm
        };
        assert_eq!(stamp(b"2024-01-02 03:04:05 first"), "2024-01-02T03:04:05");
        assert_eq!(stamp(b"2024-01-02 03:04:05 second"), "2024-01-02T03:04:05");
        assert_eq!(
            stamp(b"2024-01-02 03:04:05.250 third"),
            "2024-01-02T03:04:05.250"
        );
        assert_eq!(stamp(b"2024-01-02 03:04:06 fourth"), "2024-01-02T03:04:06");
    }

    #[test]
    fn anchored_shapes_are_one_pass() {
        // A stamp at a known column is re-read with the shape's anchored
        // regex; a one-pass regex runs on the regex crate's one-pass DFA
        // there, not on its backtracker (which `[0-3]?\d` forced).
        let cat = crate::catalog::Catalog::builtin("en").unwrap();
        for shape in &cat.timestamps {
            let built = regex_automata::dfa::onepass::DFA::builder()
                .syntax(
                    regex_automata::util::syntax::Config::new()
                        .unicode(false)
                        .utf8(false),
                )
                .build(shape.anchored.as_str());
            assert!(built.is_ok(), "{}: {:?}", shape.id, built.err());
        }
    }

    #[test]
    fn anchored_shapes_have_skeletons_that_agree_with_their_regexes() {
        // Every bundled shape but the bare time of day (which may follow a
        // line start or a blank: an alternation of a look-around) is walked
        // as a skeleton at a known column; it must give the anchored regex's
        // match and groups on stamps, cut stamps and stamps with each byte
        // replaced.
        let cat = crate::catalog::Catalog::builtin("en").unwrap();
        let stamps: &[&[u8]] = &[
            b"2024-01-02T03:04:05.250+01:00 x",
            b"2024-01-02 03:04:05,5Z",
            b"2024/01/02 03:04:05:123 x",
            b"02/Jan/2024:03:04:05 +0000",
            b"Tue, 02 Jan 2024 03:04:05 GMT",
            b"Nov  1 00:00:35] VERBOSE",
            b"Nov-9 00:00:06.5 proxy1",
            b"Dec 31 23:59:60,123456789 x",
        ];
        let mut lines: Vec<Vec<u8>> = Vec::new();
        for stamp in stamps {
            for cut in 0..=stamp.len() {
                lines.push(stamp[..cut].to_vec());
            }
            for at in 0..stamp.len() {
                for b in b"0 9-:.,+ZaNT/" {
                    let mut changed = stamp.to_vec();
                    changed[at] = *b;
                    lines.push(changed);
                }
            }
        }
        let mut walked = Vec::new();
        for shape in &cat.timestamps {
            let Some(skeleton) = &shape.skeleton else {
                continue;
            };
            walked.push(shape.id.as_str());
            for line in &lines {
                let [by_skeleton, by_regex] =
                    crate::matcher::skeleton::groups_of_both(skeleton, &shape.anchored, line);
                assert_eq!(
                    by_skeleton,
                    by_regex,
                    "{}: {:?}",
                    shape.id,
                    String::from_utf8_lossy(line)
                );
            }
        }
        assert_eq!(
            walked,
            [
                "iso8601",
                "slashed-date",
                "common-log",
                "http-date",
                "syslog"
            ]
        );
    }

    #[test]
    fn syslog_days_of_one_or_two_digits() {
        let cat = crate::catalog::Catalog::builtin("en").unwrap();
        for (line, stamp) in [
            ("Nov  1 00:00:06 proxy1 kamailio[1]: x", "Nov  1 00:00:06"),
            ("Nov 9 00:00:06 proxy1", "Nov 9 00:00:06"),
            ("Nov 09 00:00:06 proxy1", "Nov 09 00:00:06"),
            ("Nov 15 16:39:57 proxy1", "Nov 15 16:39:57"),
            ("Nov 31 16:39:57 proxy1", "Nov 31 16:39:57"),
            ("[Nov 28 23:59:59] VERBOSE[1] x", "Nov 28 23:59:59"),
            ("Dec-05 10:00:00.123 x", "Dec-05 10:00:00.123"),
        ] {
            let mut finder = Finder::new(&cat.timestamps);
            let (mut raw, mut norm) = (String::new(), String::new());
            assert!(
                extract_with(
                    &cat.timestamps,
                    &mut finder,
                    line.as_bytes(),
                    &mut raw,
                    &mut norm
                ),
                "{line}"
            );
            assert_eq!(raw, stamp, "{line}");
        }
    }

    #[test]
    fn interleaved_dialects_keep_their_own_stamps() {
        let cat = crate::catalog::Catalog::builtin("en").unwrap();
        let mut finder = Finder::new(&cat.timestamps);
        let mut stamp = |line: &[u8]| {
            let (mut raw, mut norm) = (String::new(), String::new());
            let found = extract_with(&cat.timestamps, &mut finder, line, &mut raw, &mut norm);
            found.then_some((raw, norm))
        };
        for second in 0..3 {
            let iso = format!("2024-07-02 11:56:0{second}.5 [DEBUG] sofia.c:1 x");
            let syslog = format!("Nov  6 10:23:0{second} proxy1 kamailio[1]: INFO: y");
            let bracket = format!("[Nov 15 16:39:0{second}] VERBOSE[2] z");
            let (raw, norm) = stamp(iso.as_bytes()).unwrap();
            assert_eq!(
                (raw.as_str(), norm.as_str()),
                (&iso[..21], &format!("2024-07-02T11:56:0{second}.5")[..])
            );
            assert_eq!(stamp(syslog.as_bytes()).unwrap().0, syslog[..15]);
            assert_eq!(stamp(bracket.as_bytes()).unwrap().0, bracket[1..16]);
        }
        // A stamp at a column no remembered place has is still found.
        let moved = b"  <12> 2024-07-02T11:56:09Z host";
        assert_eq!(stamp(moved).unwrap().1, "2024-07-02T11:56:09Z");
        assert_eq!(stamp(b"no stamp: here"), None);
    }

    #[test]
    fn time_of_day_check() {
        use crate::catalog::formats::has_time_of_day;
        assert!(has_time_of_day(b"[Nov 15 16:39:57] VERBOSE"));
        assert!(has_time_of_day(b"12:00:00"));
        assert!(!has_time_of_day(b"SIP/2.0 200 OK"));
        assert!(!has_time_of_day(b"back from 203.0.113.9:5060"));
        assert!(!has_time_of_day(b"1:2:3"));
    }

    #[test]
    fn rfc3339_round_trips_through_epoch_millis() {
        assert_eq!(rfc3339_millis("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            rfc3339_millis("2026-11-18T11:06:40.000000Z"),
            Some(1_795_000_000_000)
        );
        assert_eq!(
            rfc3339_millis("2026-11-18T12:06:40.5+01:00"),
            Some(1_795_000_000_500)
        );
        assert_eq!(
            rfc3339_millis("2024-02-29T23:59:59.999-00:30"),
            Some(1_709_252_999_999)
        );
        assert_eq!(
            millis_to_rfc3339(1_795_000_000_500),
            "2026-11-18T11:06:40.500Z"
        );
        for bad in [
            "Nov 21 10:00:00",
            "2026-13-01T00:00:00Z",
            "2026-11-18T11:06:40",
            "2026-11-18T11:06:40.Z",
        ] {
            assert_eq!(rfc3339_millis(bad), None, "{bad}");
        }
    }

    #[test]
    fn leap_days_are_right() {
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
