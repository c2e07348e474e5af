//! Bad and hostile input: binary, invalid UTF-8, NUL, CRLF, megabyte lines,
//! lines beyond the limit, a last line without a break, truncated dumps,
//! text crafted to break JSON. Never a crash, never a lost byte.

use sipannotate::format::json::{write_event, EventEncoder};
use sipannotate::testgen::{generate, Rng};

use crate::support::*;

fn passthrough_is_exact(data: &[u8]) {
    let (kept, _) = strip_annotations(&text_output(data, 65536));
    let mut want = data.to_vec();
    if kept.len() == want.len() + 1 && !want.ends_with(b"\n") {
        want.push(b'\n');
    }
    assert!(
        kept == want,
        "passthrough differs ({} vs {} bytes)",
        kept.len(),
        want.len()
    );
}

#[test]
fn generated_logs_agree_with_the_oracle_and_find_every_status_line() {
    for seed in 1..=4u64 {
        let mut data = Vec::new();
        let stats = generate(&mut data, 300_000, seed).unwrap();
        let fast = events(&data, false, 65536);
        let oracle = events(&data, true, 65536);
        let a: Vec<String> = fast.iter().map(summary).collect();
        let b: Vec<String> = oracle.iter().map(summary).collect();
        assert_eq!(a, b, "seed {seed}");
        assert_eq!(
            fast.len() as u64,
            stats.status_lines,
            "seed {seed}: every generated status line, and nothing else"
        );
        passthrough_is_exact(&data);
    }
}

#[test]
fn random_binary_with_embedded_status_lines() {
    let mut rng = Rng::new(42);
    let mut data = Vec::new();
    let mut planted = 0;
    for i in 0..2000 {
        let len = rng.below(300) as usize;
        for _ in 0..len {
            let b = rng.next_u64() as u8;
            data.push(if b == b'\n' { b'x' } else { b });
        }
        data.push(b'\n');
        if i % 50 == 0 {
            data.extend_from_slice(b"\x00\xff garbage\xc3 <--- SIP/2.0 486 Busy Here\xfe\r\n");
            planted += 1;
        }
    }
    let evs = events(&data, false, 4096);
    assert!(evs.iter().filter(|e| e.code == 486).count() >= planted);
    assert!(evs.iter().all(|e| (100..=699).contains(&e.code)));
    passthrough_is_exact(&data);
    // Every event still serialises to valid JSON.
    for e in &evs {
        let mut b = Vec::new();
        write_event(&mut b, catalog(), "bin", e);
        serde_json::from_slice::<serde_json::Value>(&b).expect("valid JSON");
    }
}

#[test]
fn megabyte_line_is_matched_and_longer_lines_pass_through() {
    let mut data = vec![b'a'; 1 << 20];
    data.extend_from_slice(b" SIP/2.0 503 Service Unavailable\n");
    let evs = events(&data, false, 65536);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].code, 503);

    let mut huge = vec![b'b'; 6 << 20];
    huge.extend_from_slice(b" SIP/2.0 500 Hidden In A Giant Line\nSIP/2.0 404 Not Found\n");
    let evs = events(&huge, false, 65536);
    assert_eq!(
        evs.iter().map(|e| e.code).collect::<Vec<_>>(),
        vec![404],
        "the overlong line is skipped, the next is found"
    );
    assert_eq!(evs[0].line, 2);
    passthrough_is_exact(&huge);
}

#[test]
fn last_line_without_line_break_and_crlf() {
    let evs = events(
        b"x\r\nSIP/2.0 486 Busy Here\r\nCSeq: 1 INVITE\r\n\r\nSIP/2.0 603 Decline",
        false,
        3,
    );
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[0].reason, "Busy Here");
    assert_eq!(evs[0].method, "INVITE");
    assert_eq!(evs[1].code, 603);
    assert_eq!(evs[1].line, 5);
    let out = text_output(b"SIP/2.0 603 Decline", 1);
    assert!(out.starts_with(b"SIP/2.0 603 Decline\n  \xe2\x86\xb3 603 Decline"));
}

#[test]
fn truncated_dump_still_yields_its_event() {
    let evs = events(b"<--- Received SIP response (451 bytes) from UDP:10.9.9.120:5060 --->\nSIP/2.0 481 Call/Transaction Does Not Exist\nCall-ID: cut-off@h\nCSeq: 7 BY", false, 1 << 16);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].call_id, "cut-off@h");
}

#[test]
fn json_injection_in_log_text_stays_inside_strings() {
    let line = b"SIP/2.0 486 Busy\",\"code\":999,\"x\":\"\\\x1b[31m\nCall-ID: a\"b\\c\x01\nUser-Agent: evil\r\ninjected\n\n";
    let evs = events(line, false, 4096);
    assert_eq!(evs.len(), 1);
    let mut b = Vec::new();
    write_event(&mut b, catalog(), "in\"put", &evs[0]);
    assert!(!b.contains(&b'\n'));
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["code"], 486);
    assert_eq!(v["input"], "in\"put");
    assert!(v["reason"].as_str().unwrap().contains("\"code\":999"));
    assert_eq!(v["call_id"], "a\"b\\c\u{1}");
    assert!(v.get("x").is_none());
}

#[test]
fn one_encoder_names_each_input_and_format_right_across_inputs() {
    // The encoder keeps the escaped input name and format ids; switching
    // inputs (and hostile names) must still give each event its own.
    let evs = events(
        b"SIP/2.0 486 Busy Here\nCall-ID: a\n\n    -- Got SIP response 503 \"Service Unavailable\" back from 10.0.0.1:5060\n",
        false,
        4096,
    );
    assert_eq!(evs.len(), 2);
    let mut encoder = EventEncoder::new(catalog());
    for (input, ev) in [
        ("first.log", &evs[0]),
        ("se\"cond\n.log", &evs[1]),
        ("first.log", &evs[1]),
    ] {
        let mut b = Vec::new();
        encoder.write(&mut b, input, ev);
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["input"], input);
        assert_eq!(v["format"], catalog().formats[ev.format].id.as_str());
        assert_eq!(v["code"], ev.code);
    }
}

#[test]
fn invalid_utf8_in_reason_becomes_replacement_characters() {
    let evs = events(b"SIP/2.0 404 Nicht gefunden \xff\xfe\n", false, 4096);
    let mut b = Vec::new();
    write_event(&mut b, catalog(), "x", &evs[0]);
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert!(v["reason"].as_str().unwrap().contains('\u{FFFD}'));
}

#[test]
fn unregistered_codes_get_class_guidance_and_are_never_dropped() {
    let evs = events(b"SIP/2.0 477 Unfortunately error on sending to next hop occurred (477/SL)\nSIP/2.0 499 X\nSIP/2.0 687 Dialog Terminated\nSIP/2.0 699 Custom\n", false, 4096);
    assert_eq!(
        evs.iter().map(|e| e.code).collect::<Vec<_>>(),
        vec![477, 499, 687, 699]
    );
    for e in &evs {
        let mut b = Vec::new();
        write_event(&mut b, catalog(), "x", e);
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["registered"], false);
        assert!(v["canonical_reason"].is_null());
        assert_eq!(v["class"], e.code / 100);
        assert!(!v["meaning"].as_str().unwrap().is_empty());
        assert!(!v["fix"].as_str().unwrap().is_empty());
    }
}

#[test]
fn journal_json_records_are_unwrapped() {
    let data = concat!(
        r#"{"__REALTIME_TIMESTAMP":"1700000000123456","_HOSTNAME":"pbx1","MESSAGE":"    -- Got SIP response 486 \"Busy Here\" back from 203.0.113.9:5060","_PID":"812"}"#,
        "\n",
        r#"{"__REALTIME_TIMESTAMP":"1700000001000000","MESSAGE":"<--- Received SIP response (451 bytes) from UDP:10.9.9.120:5060 --->\nSIP/2.0 503 Service Unavailable\nCall-ID: j1@h\nCSeq: 7 INVITE\nContent-Length: 0\n\n","_PID":"812"}"#,
        "\n",
        r#"{"__REALTIME_TIMESTAMP":"1700000002000000","MESSAGE":"SIP/2.0 200 OK","_PID":"812"}"#,
        "\n"
    );
    let evs = events(data.as_bytes(), false, 7);
    assert_eq!(evs.len(), 3);
    assert_eq!((evs[0].code, evs[0].reason.as_str()), (486, "Busy Here"));
    assert_eq!(evs[0].ts, "2023-11-14T22:13:20.123456Z");
    assert_eq!(evs[1].call_id, "j1@h");
    assert_eq!(evs[1].src, "10.9.9.120:5060");
    assert_eq!(
        evs[2].reason, "OK",
        "the JSON around the message is not part of the phrase"
    );
    let oracle: Vec<String> = events(data.as_bytes(), true, 7)
        .iter()
        .map(summary)
        .collect();
    assert_eq!(evs.iter().map(summary).collect::<Vec<_>>(), oracle);
    passthrough_is_exact(data.as_bytes());
}

#[test]
fn endless_header_block_is_cut_at_the_frame_cap_and_counted() {
    use sipannotate::format::collect::Collector;
    use sipannotate::framer::Engine;
    let mut data = b"SIP/2.0 200 OK\nCall-ID: cap@h\n".to_vec();
    for i in 0..1000 {
        data.extend_from_slice(format!("X-Filler-{i}: {}\n", "v".repeat(40)).as_bytes());
    }
    data.extend_from_slice(b"SIP/2.0 486 Busy Here\n");
    let mut out = Collector::default();
    let mut engine = Engine::new(catalog(), matcher(), "cap");
    let mut reader = Trickle {
        data: &data,
        n: 4096,
    };
    while engine.fill(&mut reader).unwrap() > 0 {
        engine.process_available(&mut out).unwrap();
    }
    engine.finish(&mut out).unwrap();
    let codes: Vec<u16> = out.events.iter().map(|e| e.code).collect();
    assert_eq!(
        codes,
        vec![200, 486],
        "the message is cut, the next status line is still found"
    );
    assert_eq!(out.events[0].call_id, "cap@h");
    assert_eq!(engine.stats().truncated_frames, 1);
    assert_eq!(
        out.passthrough_bytes,
        data.len(),
        "every byte still passes through"
    );
}

#[test]
fn ansi_colour_around_start_lines_is_not_part_of_anything() {
    let data = b"\x1b[1;33mSIP/2.0 200 OK\x1b[0m\nCSeq: 1 OPTIONS\n\nMay 21 14:53:33 pbx asterisk[1]: #033[0mSIP/2.0 486 Busy Here#033[0m\nfarmSIP/2.0 500 Not After A Letter\n";
    let evs = events(data, false, 5);
    let got: Vec<(u16, &str)> = evs.iter().map(|e| (e.code, e.reason.as_str())).collect();
    assert_eq!(got, vec![(200, "OK"), (486, "Busy Here")]);
    let oracle: Vec<String> = events(data, true, 5).iter().map(summary).collect();
    assert_eq!(evs.iter().map(summary).collect::<Vec<_>>(), oracle);
}
