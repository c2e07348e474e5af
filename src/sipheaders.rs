//! Decodes the two headers that explain a failure: Reason (RFC 3326: a Q.850
//! cause or a SIP status) and Warning (RFC 3261 §20.43: warn-code, agent, text).
//! Parsing is lenient: logs cut, re-case and escape these headers.

/// A decoded Reason header value (the first one when several are listed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasonValue<'a> {
    /// "Q.850", "SIP", or what the log said.
    pub protocol: &'a str,
    pub cause: Option<u16>,
    pub text: Option<&'a str>,
}

/// Parses `Q.850;cause=16;text="Terminated"` (also `SIP ;cause=200`).
pub fn parse_reason(value: &str) -> Option<ReasonValue<'_>> {
    let value = value.trim();
    let mut parts = value.split(';');
    let protocol = parts.next()?.trim();
    if protocol.is_empty() || protocol.len() > 32 {
        return None;
    }
    let mut cause = None;
    let mut text = None;
    let mut rest = &value[value.find(';').map_or(value.len(), |i| i + 1)..];
    while !rest.is_empty() {
        let (param, tail) = split_param(rest);
        rest = tail;
        let Some((k, v)) = param.split_once('=') else {
            continue;
        };
        match k.trim().to_ascii_lowercase().as_str() {
            "cause" => cause = v.trim().trim_matches('"').parse().ok(),
            "text" => text = Some(unquote(v.trim())),
            _ => {}
        }
    }
    Some(ReasonValue {
        protocol,
        cause,
        text,
    })
}

/// Splits off one `;`-separated parameter, honouring a quoted value.
fn split_param(s: &str) -> (&str, &str) {
    let mut in_quotes = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ';' | ',' if !in_quotes => return (&s[..i], &s[i + 1..]),
            _ => {}
        }
    }
    (s, "")
}

fn unquote(s: &str) -> &str {
    let s = s.strip_prefix('"').unwrap_or(s);
    s.strip_suffix('"').unwrap_or(s)
}

/// A decoded Warning header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarningValue<'a> {
    pub code: u16,
    pub agent: &'a str,
    pub text: &'a str,
}

/// Parses `399 proxy.example.com "Incompatible media"`.
pub fn parse_warning(value: &str) -> Option<WarningValue<'_>> {
    let value = value.trim();
    let (code, rest) = value.split_once(' ')?;
    if code.len() != 3 {
        return None;
    }
    let code: u16 = code.parse().ok()?;
    let rest = rest.trim_start();
    let (agent, text) = match rest.find(' ') {
        Some(i) => (&rest[..i], rest[i..].trim()),
        None => (rest, ""),
    };
    Some(WarningValue {
        code,
        agent,
        text: unquote(text),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q850_reason_with_quoted_text() {
        let r =
            parse_reason(r#"Q.850;cause=31;text="5e19;No callee endpoints were found.""#).unwrap();
        assert_eq!(r.protocol, "Q.850");
        assert_eq!(r.cause, Some(31));
        assert_eq!(r.text, Some("5e19;No callee endpoints were found."));
    }

    #[test]
    fn sip_reason_with_spaces() {
        let r = parse_reason(r#"SIP ;cause=200 ;text="Call completed elsewhere""#).unwrap();
        assert_eq!(r.protocol, "SIP");
        assert_eq!(r.cause, Some(200));
        assert_eq!(r.text, Some("Call completed elsewhere"));
    }

    #[test]
    fn reason_without_text() {
        let r = parse_reason("Q.850;cause=34").unwrap();
        assert_eq!((r.cause, r.text), (Some(34), None));
    }

    #[test]
    fn warning_parts() {
        let w = parse_warning(r#"392 0.0.0.0:4060 "Noisy feedback tells:  pid=562"#).unwrap();
        assert_eq!(w.code, 392);
        assert_eq!(w.agent, "0.0.0.0:4060");
        assert_eq!(w.text, "Noisy feedback tells:  pid=562");
        assert!(parse_warning("hello").is_none());
    }
}
