//! The bundled public corpus (tests/corpus, see its PROVENANCE.md): every file
//! yields exactly the events pinned in tests/corpus-expected.tsv; the fast
//! path agrees with the exhaustive oracle; any read size gives the same
//! result; text mode passes every byte through.

use crate::support::*;

fn expected() -> Vec<(String, usize, String)> {
    let text = std::fs::read_to_string(repo().join("tests/corpus-expected.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            (
                cols[0].to_string(),
                cols[1].parse().unwrap(),
                cols[2].to_string(),
            )
        })
        .collect()
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(repo().join("tests/corpus").join(rel)).unwrap()
}

#[test]
fn every_corpus_file_is_pinned() {
    let pinned: Vec<String> = expected().into_iter().map(|(f, _, _)| f).collect();
    let mut files = Vec::new();
    for dir in std::fs::read_dir(repo().join("tests/corpus"))
        .unwrap()
        .flatten()
    {
        if dir.path().is_dir() {
            for f in std::fs::read_dir(dir.path()).unwrap().flatten() {
                let name = format!(
                    "{}/{}",
                    dir.file_name().to_string_lossy(),
                    f.file_name().to_string_lossy()
                );
                files.push(name);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 86, "corpus shrank: {}", files.len());
    for f in &files {
        assert!(
            pinned.contains(f),
            "{f} has no line in tests/corpus-expected.tsv"
        );
    }
}

#[test]
fn corpus_files_give_their_pinned_events() {
    let mut total = 0;
    for (file, count, codes) in expected() {
        let evs = events(&read(&file), false, 64 * 1024);
        let got: Vec<String> = evs.iter().map(|e| e.code.to_string()).collect();
        let got = if got.is_empty() {
            "-".to_string()
        } else {
            got.join(",")
        };
        assert_eq!((evs.len(), got.as_str()), (count, codes.as_str()), "{file}");
        total += count;
    }
    assert!(total >= 100, "only {total} events in the whole corpus");
}

#[test]
fn fast_path_agrees_with_the_exhaustive_oracle_on_the_corpus() {
    for (file, _, _) in expected() {
        let data = read(&file);
        let fast: Vec<String> = events(&data, false, 1 << 20).iter().map(summary).collect();
        let oracle: Vec<String> = events(&data, true, 1 << 20).iter().map(summary).collect();
        assert_eq!(fast, oracle, "{file}");
    }
}

#[test]
fn any_read_size_gives_the_same_events_and_output() {
    for (file, _, _) in expected() {
        let data = read(&file);
        let whole: Vec<String> = events(&data, false, 1 << 20).iter().map(summary).collect();
        let text = text_output(&data, 1 << 20);
        for size in [1, 2, 3, 7, 61, 509, 4096] {
            let part: Vec<String> = events(&data, false, size).iter().map(summary).collect();
            assert_eq!(whole, part, "{file} read {size} bytes at a time");
            assert_eq!(
                text,
                text_output(&data, size),
                "{file} text, read size {size}"
            );
        }
    }
}

#[test]
fn text_mode_passes_every_input_byte_through() {
    for (file, count, _) in expected() {
        let data = read(&file);
        let (kept, annotations) = strip_annotations(&text_output(&data, 8192));
        // One annotation per event, plus at most one follow-up after a dump.
        assert!(
            annotations >= count && annotations <= 2 * count,
            "{file}: {annotations} annotation lines for {count} events"
        );
        let mut want = data.clone();
        if count > 0 && !want.ends_with(b"\n") && kept.len() == want.len() + 1 {
            want.push(b'\n'); // an annotated last line gets its line break
        }
        assert_eq!(kept, want, "{file}: input not passed through unchanged");
    }
}

fn find(evs: &[sipannotate::event::Event], code: u16) -> &sipannotate::event::Event {
    evs.iter().find(|e| e.code == code).expect("event present")
}

#[test]
fn asterisk_pjsip_logger_dump_has_peer_direction_and_headers() {
    let evs = events(
        &read("asterisk/asterisk-issue452-pjsip-logger-register.log"),
        false,
        4096,
    );
    let e = find(&evs, 200);
    assert_eq!(e.line, 17);
    assert_eq!(e.call_id, "558269f0-035a-4306-bb5d-9de9abac81e8");
    assert_eq!((e.method.as_str(), e.cseq), ("REGISTER", Some(25893)));
    assert_eq!(e.src, "10.9.9.120:5060");
    assert_eq!(e.direction.map(|d| d.as_str()), Some("in"));
}

#[test]
fn q850_reason_of_a_chan_sip_503_is_kept() {
    let evs = events(
        &read("asterisk/altanai-asteriskexamples-webrtc-chan_sip-503-reliably-transmitting.log"),
        false,
        4096,
    );
    let e = find(&evs, 503);
    assert_eq!(e.reason_header, "Q.850;cause=34");
    assert_eq!(e.dst, "127.0.0.1:5060");
}

#[test]
fn kamailio_status_and_reason_lines_make_one_event() {
    let evs = events(
        &read("opensips/opensips-issue3344-syslog-dbg-reply-status.log"),
        false,
        4096,
    );
    assert_eq!(evs[0].code, 500);
    assert_eq!(evs[0].reason, "Server Internal Error");
    assert_eq!(evs[0].line, 3);
}

#[test]
fn tshark_verbose_frame_is_one_event() {
    let evs = events(
        &read("wireshark/toip-course-readme-tshark-verbose-UNRESOLVED-REPO.log"),
        false,
        4096,
    );
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].call_id, "qfDsLi2ZtF68jPaCdPbdCQ..");
}

#[test]
fn ngrep_dots_are_not_part_of_values() {
    let evs = events(
        &read("ngrep-sipgrep/kamailio-issue2436-ngrep-byline-dots.log"),
        false,
        4096,
    );
    assert_eq!(evs[0].reason, "OK");
    assert_eq!(
        evs[0].call_id,
        "4a681d8626b801ce1a8185472fda8e86@48.146.161.153:5060"
    );
}

#[test]
fn sipp_unexpected_message_is_the_received_code_not_the_expected_one() {
    let evs = events(
        &read("sipp/open-ims-core-sipp-trace-err-478-warning-392-UNRESOLVED-REPO.log"),
        false,
        4096,
    );
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].code, 478);
    assert!(evs[0].warning.starts_with("392 0.0.0.0:4060"));
}

#[test]
fn http_reply_in_a_kamailio_log_is_not_sip() {
    assert!(events(
        &read("kamailio/kamailio-issue3204-http-reply-not-sip.log"),
        false,
        4096
    )
    .is_empty());
}
