//! Unwraps `journalctl -o json` records: the MESSAGE field is matched instead
//! of the JSON line, with its escapes decoded (so `\"Busy Here\"` reads as
//! `"Busy Here"`), except line breaks, which stay as the two characters `\n`
//! that the SIP flattening rules already split on. The record's
//! `__REALTIME_TIMESTAMP` (microseconds) is the event's time.

use memchr::memmem;

/// A decoded journal record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Microseconds since the epoch, if the record has them.
    pub realtime_us: Option<u64>,
}

/// If `line` is a journal JSON record with a MESSAGE, writes the message to
/// `out` and returns the record's facts.
pub fn decode(line: &[u8], out: &mut Vec<u8>) -> Option<Record> {
    if line.first() != Some(&b'{') {
        return None;
    }
    let key = memmem::find(line, b"\"MESSAGE\":")?;
    let mut i = key + b"\"MESSAGE\":".len();
    while line.get(i) == Some(&b' ') {
        i += 1;
    }
    out.clear();
    match line.get(i)? {
        b'"' => decode_string(&line[i + 1..], out)?,
        b'[' => decode_bytes(&line[i + 1..], out)?,
        _ => return None,
    }
    Some(Record {
        realtime_us: realtime(line),
    })
}

/// A JSON string body up to its closing quote.
fn decode_string(s: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'"' => return Some(()),
            b'\\' => {
                let e = *s.get(i + 1)?;
                match e {
                    b'n' => out.extend_from_slice(b"\\n"),
                    b'r' => out.extend_from_slice(b"\\r"),
                    b't' => out.push(b'\t'),
                    b'b' => out.push(0x08),
                    b'f' => out.push(0x0c),
                    b'u' => {
                        let hex = std::str::from_utf8(s.get(i + 2..i + 6)?).ok()?;
                        let cp = u32::from_str_radix(hex, 16).ok()?;
                        let c = char::from_u32(cp).unwrap_or('\u{FFFD}');
                        let mut tmp = [0u8; 4];
                        out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                        i += 6;
                        continue;
                    }
                    other => out.push(other), // \" \\ \/
                }
                i += 2;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    None
}

/// journald writes non-UTF-8 messages as an array of byte values.
fn decode_bytes(s: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let end = memchr::memchr(b']', s)?;
    for n in s[..end].split(|b| *b == b',') {
        let n = std::str::from_utf8(n).ok()?.trim();
        if n.is_empty() {
            continue;
        }
        match n.parse::<u8>().ok()? {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b => out.push(b),
        }
    }
    Some(())
}

fn realtime(line: &[u8]) -> Option<u64> {
    let key = b"\"__REALTIME_TIMESTAMP\":\"";
    let at = memmem::find(line, key)? + key.len();
    let digits = &line[at..];
    let end = digits.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_escapes_are_decoded_but_line_breaks_stay_escaped() {
        let mut out = Vec::new();
        let line = br#"{"__REALTIME_TIMESTAMP":"1700000000123456","MESSAGE":"a \"q\" \\ \/ \u00e9\nb","_PID":"1"}"#;
        let rec = decode(line, &mut out).unwrap();
        assert_eq!(out, "a \"q\" \\ / \u{e9}\\nb".as_bytes());
        assert_eq!(rec.realtime_us, Some(1_700_000_000_123_456));
    }

    #[test]
    fn byte_array_messages_and_non_records() {
        let mut out = Vec::new();
        assert!(decode(br#"{"MESSAGE":[83,73,80,10,255]}"#, &mut out).is_some());
        assert_eq!(out, b"SIP\\n\xff");
        assert!(decode(b"plain line", &mut out).is_none());
        assert!(decode(br#"{"MESSAGE":"unterminated"#, &mut out).is_none());
    }
}
