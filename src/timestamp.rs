//! Finds a log line's timestamp and normalises it to RFC 3339 when the log
//! gives a full date and time (shapes in `patterns/timestamps.toml`), or
//! converts an epoch (`timestamp=1604565560` in acc records) to UTC.

use std::fmt::Write as _;

use crate::catalog::formats::TimestampShape;
use crate::event::set_lossy;

/// Only the first bytes of a line are searched: stamps lead their lines.
const SEARCH_WINDOW: usize = 120;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Looks for a timestamp at the start of `line`; on success writes the stamp
/// as logged to `raw` and its RFC 3339 form (or "" if it has no year) to `norm`.
pub fn extract(
    shapes: &[TimestampShape],
    line: &[u8],
    raw: &mut String,
    norm: &mut String,
) -> bool {
    let mut no_hint = usize::MAX;
    extract_from(shapes, &mut no_hint, line, raw, norm)
}

/// Like `extract`, trying first the shape that matched last time (`last`):
/// one log keeps one stamp format, so this is usually the only one tried.
pub fn extract_from(
    shapes: &[TimestampShape],
    last: &mut usize,
    line: &[u8],
    raw: &mut String,
    norm: &mut String,
) -> bool {
    let window = &line[..line.len().min(SEARCH_WINDOW)];
    let first = shapes.get(*last).into_iter().map(|s| (*last, s));
    let rest = shapes.iter().enumerate().filter(|(i, _)| *i != *last);
    for (i, shape) in first.chain(rest) {
        if !shape.regex.is_match(window) {
            continue;
        }
        let Some(caps) = shape.regex.captures(window) else {
            continue;
        };
        let Some(ts) = caps.name("ts") else { continue };
        set_lossy(raw, ts.as_bytes());
        norm.clear();
        let num = |name: &str| -> Option<u32> {
            std::str::from_utf8(caps.name(name)?.as_bytes())
                .ok()?
                .parse()
                .ok()
        };
        let month = num("month").or_else(|| {
            let m = caps.name("mon")?.as_bytes();
            MONTHS
                .iter()
                .position(|x| x.as_bytes() == m)
                .map(|p| p as u32 + 1)
        });
        if let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) = (
            num("year"),
            month,
            num("day"),
            num("hour"),
            num("minute"),
            num("second"),
        ) {
            if (1..=12).contains(&mo) && (1..=31).contains(&d) && h < 24 && mi < 60 && s < 61 {
                let _ = write!(norm, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
                if let Some(frac) = caps.name("frac") {
                    norm.push('.');
                    norm.push_str(std::str::from_utf8(frac.as_bytes()).unwrap_or("0"));
                }
                if let Some(tz) = caps.name("tz") {
                    match tz.as_bytes() {
                        b"Z" | b"GMT" | b"UTC" => norm.push('Z'),
                        t if t.len() == 5 => {
                            let t = std::str::from_utf8(t).unwrap_or("+0000");
                            let _ = write!(norm, "{}:{}", &t[..3], &t[3..]);
                        }
                        t => norm.push_str(std::str::from_utf8(t).unwrap_or("")),
                    }
                }
            }
        }
        *last = i;
        return true;
    }
    false
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
    let _ = write!(
        norm,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    true
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
    fn leap_days_are_right() {
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
