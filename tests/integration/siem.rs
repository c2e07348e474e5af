//! The SIEM encodings: golden files for each (regenerate with
//! `UPDATE_GOLDEN=1 cargo test siem`, then review the diff), and hostile
//! values (`|`, `=`, `\`, `"`, `]`, CR, LF, NUL, invalid UTF-8, 100 KB) that
//! must never break a record's framing, add a field, or start a second record.

use std::collections::BTreeMap;
use std::process::Command;

use sipannotate::correlate::security::{Detection, DetectionKind};
use sipannotate::event::Event;
use sipannotate::format::siem::{LeefVersion, SiemEncoder, SiemKind, SiemOptions};

use crate::support::*;

const GOLDEN: &[(&str, &[&str])] = &[
    ("ecs", &["-o", "ecs"]),
    ("cef", &["-o", "cef"]),
    ("leef2", &["-o", "leef"]),
    ("leef1", &["-o", "leef", "--leef-version", "1.0"]),
    ("gelf", &["-o", "gelf"]),
    ("hec", &["-o", "hec"]),
    (
        "syslog",
        &["-o", "syslog", "--syslog-enterprise-number", "32473"],
    ),
    ("logfmt", &["-o", "logfmt"]),
];

#[test]
fn every_encoding_matches_its_golden_file() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for (name, args) in GOLDEN {
        let out = Command::new(env!("CARGO_BIN_EXE_sipannotate"))
            .current_dir(repo())
            .args(["--no-patterns-dir", "--hostname", "pbx1"])
            .args(*args)
            .arg("tests/data/siem-input.log")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let golden = repo().join(format!("tests/golden/siem/{name}.txt"));
        if update {
            std::fs::write(&golden, &out.stdout).unwrap();
            continue;
        }
        let want = std::fs::read(&golden)
            .unwrap_or_else(|_| panic!("{} missing: run with UPDATE_GOLDEN=1", golden.display()));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&want),
            "{name} differs from {}",
            golden.display()
        );
        assert_eq!(
            out.stdout.iter().filter(|&&b| b == b'\n').count(),
            5,
            "{name}: one record per event"
        );
    }
}

/// A catalog format index that exists (kamailio.acc).
fn acc_format() -> usize {
    catalog()
        .formats
        .iter()
        .position(|f| f.id == "kamailio.acc")
        .unwrap()
}

fn event(hostile: &str) -> Event {
    let mut ev = Event {
        format: acc_format(),
        line: 3,
        code: 486,
        ..Event::default()
    };
    ev.reason = hostile.to_string();
    ev.method = "INVITE".into();
    ev.cseq = Some(1);
    ev.call_id = format!("cid-{hostile}");
    ev.from = format!("\"{hostile}\" <sip:alice@x>;tag=1");
    ev.to = "<sip:bob@x>".into();
    ev.user_agent = hostile.to_string();
    ev.src = "10.0.0.1:5060".into();
    ev.dst = "10.0.0.2:5060".into();
    ev.transport = "UDP".into();
    ev.ts = "2026-11-18T11:06:40Z".into();
    ev.ts_raw = ev.ts.clone();
    ev.reason_header = format!("Q.850;cause=17;text=\"{hostile}\"");
    ev.raw = [
        b"SIP/2.0 486 ".as_slice(),
        hostile.as_bytes(),
        b"\xff\xfe\x80",
    ]
    .concat();
    ev
}

fn encode(kind: SiemKind, options: &SiemOptions, ev: &Event) -> Vec<u8> {
    let mut labels = BTreeMap::new();
    labels.insert("host".to_string(), "pbx|1=x".to_string());
    let mut enc = SiemEncoder::new(catalog(), kind, options.clone());
    let mut b = Vec::new();
    enc.encode(&mut b, "/var/log/x.log", &labels, ev);
    b
}

/// Positions of `sep` not escaped by a backslash.
fn unescaped(s: &str, sep: char) -> usize {
    let mut n = 0;
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            n += 1;
        }
    }
    n
}

/// The structure of a record: what an attacker-controlled value could change.
fn shape(kind: SiemKind, options: &SiemOptions, rec: &str) -> String {
    match kind {
        SiemKind::Ecs | SiemKind::Gelf | SiemKind::Hec => {
            let v: serde_json::Value = serde_json::from_str(rec).expect("one JSON value");
            fn keys(v: &serde_json::Value, out: &mut Vec<String>, at: &str) {
                if let Some(m) = v.as_object() {
                    for (k, x) in m {
                        let p = format!("{at}.{k}");
                        out.push(p.clone());
                        keys(x, out, &p);
                    }
                }
            }
            let mut k = Vec::new();
            keys(&v, &mut k, "");
            k.join(",")
        }
        SiemKind::Cef => {
            // The header is the first seven unescaped pipes; the extension follows.
            let mut pipes = 0;
            let mut escaped = false;
            let mut ext_at = None;
            for (i, c) in rec.char_indices() {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '|' {
                    pipes += 1;
                    if pipes == 7 {
                        ext_at = Some(i + 1);
                        break;
                    }
                }
            }
            let ext = &rec[ext_at.expect("seven header fields")..];
            let keys: Vec<&str> = ext
                .split(' ')
                .filter_map(|t| t.split_once('=').map(|(k, _)| k))
                .filter(|k| {
                    !k.is_empty()
                        && !k.ends_with('\\')
                        && k.chars().all(|c| c.is_ascii_alphanumeric())
                })
                .collect();
            format!(
                "prefix={} equals={} keys={}",
                &rec[..4],
                unescaped(ext, '='),
                keys.len()
            )
        }
        SiemKind::Leef => {
            let delim = match options.leef_version {
                LeefVersion::V1 => '\t',
                LeefVersion::V2 => '^',
            };
            let header_fields = if options.leef_version == LeefVersion::V1 {
                6
            } else {
                7
            };
            let parts: Vec<&str> = rec.splitn(header_fields, '|').collect();
            let attrs = parts.last().unwrap();
            let keys: Vec<&str> = attrs
                .split(delim)
                .map(|a| a.split('=').next().unwrap())
                .collect();
            format!("header={} keys={}", parts.len(), keys.join(","))
        }
        SiemKind::Syslog => {
            let sd_start = rec.find(" [").unwrap();
            let sd = &rec[sd_start + 2..];
            let sd_end = {
                let mut escaped = false;
                let mut end = None;
                for (i, c) in sd.char_indices() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == ']' {
                        end = Some(i);
                        break;
                    }
                }
                end.expect("SD element closes")
            };
            let header: Vec<&str> = rec[..sd_start].split(' ').collect();
            format!(
                "header={} params={} bom={}",
                header.len(),
                unescaped(&sd[..sd_end], '"') / 2,
                sd[sd_end..].starts_with("] \u{feff}")
            )
        }
        SiemKind::Logfmt => {
            let mut keys = Vec::new();
            let mut rest = rec;
            while !rest.is_empty() {
                let eq = rest.find('=').expect("key=value");
                keys.push(&rest[..eq]);
                rest = &rest[eq + 1..];
                if let Some(q) = rest.strip_prefix('"') {
                    let mut escaped = false;
                    let mut end = None;
                    for (i, c) in q.char_indices() {
                        if escaped {
                            escaped = false;
                        } else if c == '\\' {
                            escaped = true;
                        } else if c == '"' {
                            end = Some(i);
                            break;
                        }
                    }
                    rest = &q[end.expect("closing quote") + 1..];
                } else {
                    rest = rest.find(' ').map_or("", |i| &rest[i..]);
                }
                rest = rest.trim_start_matches(' ');
            }
            keys.join(",")
        }
    }
}

/// Every SIEM encoding, LEEF in both versions.
fn every_encoding() -> Vec<(SiemKind, SiemOptions)> {
    let leef1 = SiemOptions {
        leef_version: LeefVersion::V1,
        ..SiemOptions::default()
    };
    vec![
        (SiemKind::Ecs, SiemOptions::default()),
        (SiemKind::Cef, SiemOptions::default()),
        (SiemKind::Leef, SiemOptions::default()),
        (SiemKind::Leef, leef1),
        (SiemKind::Gelf, SiemOptions::default()),
        (SiemKind::Hec, SiemOptions::default()),
        (SiemKind::Syslog, SiemOptions::default()),
        (SiemKind::Logfmt, SiemOptions::default()),
    ]
}

#[test]
fn hostile_values_never_break_framing_add_fields_or_split_records() {
    let big = "A|B=C\\".repeat(20_000);
    let hostile = [
        "Busy|Here",
        "a=b c=d",
        "back\\slash\\",
        "quote\" ] ] \\\"",
        "cr\rlf\nboth\r\n",
        "nul\0byte",
        "ctrl\x1b[31m\x07\x08",
        "bad \u{fffd}\u{fffd} utf8",
        "cs1=evil cs1Label=pwned dvchost=attacker",
        "x^y\tz", // LEEF delimiters
        "] [inject@1 a=\"b\"]",
        "\"} {\"code\":999",
        big.as_str(),
    ];
    let cases = every_encoding();
    for (kind, options) in &cases {
        let benign = encode(*kind, options, &event("Busy Here"));
        let benign = String::from_utf8(benign).unwrap();
        let want = shape(*kind, options, benign.trim_end_matches('\n'));
        for h in &hostile {
            let rec = encode(*kind, options, &event(h));
            let what = format!(
                "{kind:?} {:?} with {:?}",
                options.leef_version,
                &h[..h.len().min(40)]
            );
            let text =
                String::from_utf8(rec.clone()).unwrap_or_else(|_| panic!("{what}: not UTF-8"));
            assert!(text.ends_with('\n'), "{what}");
            let body = &text[..text.len() - 1];
            assert!(
                !body.contains('\n') && !body.contains('\r') && !body.contains('\0'),
                "{what}: a raw CR, LF or NUL"
            );
            assert!(
                body.len() < 64 * 1024,
                "{what}: {} bytes; log values must be capped",
                body.len()
            );
            assert_eq!(
                shape(*kind, options, body),
                want,
                "{what}: the record's structure changed:\n{body}"
            );
        }
    }
}

fn detection(evidence: &str) -> Detection {
    Detection {
        kind: DetectionKind::ScannerUserAgent,
        source: "203.0.113.7".into(),
        count: 1,
        total: 3,
        suppressed: 2,
        first_ms: 1_795_300_000_000,
        last_ms: 1_795_300_002_000,
        evidence: evidence.into(),
        input: "/var/log/x.log".into(),
        line: 7,
    }
}

#[test]
fn detections_in_every_encoding_keep_their_shape_whatever_the_evidence() {
    // The evidence is what the attacker wrote (a User-Agent); the source is
    // a parsed address and never log text.
    let big = "A|B=C\\".repeat(20_000);
    let hostile = [
        "sipvicious|x=y cs1=evil cs1Label=pwned",
        "quote\" ] [inject@1 a=\"b\"] \\",
        "cr\rlf\nnul\0ctrl\x1b x^y\tz",
        "\"} {\"type\":\"response\"",
        big.as_str(),
    ];
    let cases = every_encoding();
    for (kind, options) in &cases {
        let enc = SiemEncoder::new(catalog(), *kind, options.clone());
        let record = |evidence: &str| {
            let mut b = Vec::new();
            enc.encode_detection(&mut b, &detection(evidence));
            String::from_utf8(b).unwrap()
        };
        let benign = record("friendly-scanner");
        let body = benign.trim_end_matches('\n');
        assert!(
            body.contains("203.0.113.7") && body.contains("T1595.002"),
            "{kind:?}: {body}"
        );
        let want = shape(*kind, options, body);
        for h in &hostile {
            let text = record(h);
            let what = format!(
                "{kind:?} {:?} with {:?}",
                options.leef_version,
                &h[..h.len().min(40)]
            );
            assert!(text.ends_with('\n'), "{what}");
            let body = &text[..text.len() - 1];
            assert!(
                !body.contains(['\n', '\r', '\0']),
                "{what}: a raw CR, LF or NUL"
            );
            assert!(body.len() < 64 * 1024, "{what}: {} bytes", body.len());
            assert_eq!(shape(*kind, options, body), want, "{what}:\n{body}");
        }
    }
}

#[test]
fn cef_and_syslog_escape_exactly_as_their_specs_say() {
    let ev = event("A=B|C\\D");
    let cef = String::from_utf8(encode(SiemKind::Cef, &SiemOptions::default(), &ev)).unwrap();
    // The spec's own example: header escapes | and \, extension escapes = and \.
    assert!(cef.contains("|SIP 486 A=B\\|C\\\\D (INVITE)|"), "{cef}");
    assert!(cef.contains(" reason=A\\=B|C\\\\D "), "{cef}");
    assert!(cef.contains(" cn1=486 cn1Label=sipStatusCode "), "{cef}");
    let ev = event("q\"b\\c]d");
    let sys = String::from_utf8(encode(SiemKind::Syslog, &SiemOptions::default(), &ev)).unwrap();
    assert!(sys.contains(" reason=\"q\\\"b\\\\c\\]d\""), "{sys}");
    // PRI = local0 (16) * 8 + notice (5) for 486.
    assert!(
        sys.starts_with(
            "<133>1 2026-11-18T11:06:40.000Z pbx|1=x sipannotate - SIPRESP [sipannotate@32473 "
        ),
        "{sys}"
    );
}
