//! The binary as users run it: exit codes, subcommands, languages, a closed
//! pipe, and a live pipe where annotations must arrive without end of input.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::repo;

const BIN: &str = env!("CARGO_BIN_EXE_sipannotate");

fn run(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .arg("--no-patterns-dir")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn annotates_a_pipe_in_text_mode() {
    let (code, out, err) = run(
        &["--color", "never"],
        b"hello\nSIP/2.0 486 Busy Here\nCSeq: 1 INVITE\nbye\n",
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "hello");
    assert_eq!(lines[1], "SIP/2.0 486 Busy Here");
    assert!(
        lines[2].starts_with("  \u{21b3} 486 Busy Here"),
        "{}",
        lines[2]
    );
    assert!(lines[2].contains("Request Failure") && lines[2].contains("How to fix"));
    assert_eq!(&lines[3..], &["CSeq: 1 INVITE", "bye"]);
}

#[test]
fn json_only_matches_writes_the_event_contract() {
    let input = std::fs::read(
        repo().join("tests/corpus/asterisk/asterisk-issue452-pjsip-logger-register.log"),
    )
    .unwrap();
    let (code, out, _) = run(&["-o", "json", "--only-matches"], &input);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    for key in [
        "schema",
        "type",
        "input",
        "line",
        "format",
        "ts",
        "code",
        "reason",
        "class",
        "class_name",
        "final",
        "registered",
        "canonical_reason",
        "meaning",
        "when",
        "fix",
        "severity",
        "rfc",
        "method",
        "cseq",
        "call_id",
        "src",
        "dst",
        "direction",
        "reason_header",
        "warning",
        "raw",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["schema"], 1);
    assert_eq!(v["type"], "response");
    assert_eq!(v["input"], "stdin");
    assert_eq!(v["code"], 200);
    assert_eq!(v["class_name"], "Successful");
    assert_eq!(v["method"], "REGISTER");
    assert!(v["note"].as_str().unwrap().contains("registration"));
}

#[test]
fn json_without_only_matches_keeps_every_line() {
    let (_, out, _) = run(&["-o", "json"], b"a\nSIP/2.0 200 OK\nb\n");
    let types: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(types, ["line", "response", "line"]);
}

#[test]
fn files_are_read_in_order_and_missing_files_exit_2() {
    let f = repo().join("tests/corpus/kamailio/kamailio-issue3707-uac-reg-got-sip-response.log");
    let (code, out, err) = run(
        &[
            "-o",
            "json",
            "--only-matches",
            f.to_str().unwrap(),
            "/nonexistent/x.log",
        ],
        b"",
    );
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/x.log"), "{err}");
    let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(v["code"], 408);
    assert!(v["input"]
        .as_str()
        .unwrap()
        .ends_with("kamailio-issue3707-uac-reg-got-sip-response.log"));
}

#[test]
fn explain_one_and_compare_two() {
    let (code, out, _) = run(&["explain", "488"], b"");
    assert_eq!(code, 0);
    assert!(out.starts_with("488 Not Acceptable Here"));
    assert!(
        out.contains("Meaning:") && out.contains("How to fix:") && out.contains("When you see it:")
    );
    let (_, out, _) = run(&["explain", "183", "200"], b"");
    assert!(out.contains("183 Session Progress") && out.contains("200 OK"));
    assert!(out.contains("Key differences:"));
    assert!(
        out.contains("183 belongs to Provisional (1xx) and is provisional."),
        "{out}"
    );
}

#[test]
fn explain_unregistered_and_q850_and_errors() {
    let (code, out, _) = run(&["explain", "477"], b"");
    assert_eq!(code, 0);
    assert!(out.contains("not in the IANA registry") && out.contains("Request Failure"));
    let (code, out, _) = run(&["explain", "q850:17"], b"");
    assert_eq!(code, 0);
    assert!(out.contains("User busy") && out.contains("486 Busy Here"));
    let (code, _, err) = run(&["explain", "busy"], b"");
    assert_eq!(code, 2);
    assert!(err.contains("neither a SIP response code"), "{err}");
}

#[test]
fn codes_json_has_every_code_in_both_languages() {
    for lang in ["en", "ja"] {
        let (code, out, _) = run(&["codes", "--output", "json", "--lang", lang], b"");
        assert_eq!(code, 0);
        let rows: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), 75);
        for r in &rows {
            for k in [
                "code",
                "reason",
                "class",
                "class_name",
                "rfc",
                "meaning",
                "when",
                "fix",
            ] {
                assert!(!r[k].is_null(), "{lang}: {k} missing in {r}");
            }
        }
    }
    let (_, out, _) = run(&["explain", "486", "--lang", "ja"], b"");
    assert!(out.contains("説明") && out.contains("解決方法"), "{out}");
}

#[test]
fn lang_is_never_taken_from_the_environment() {
    let out = Command::new(BIN)
        .args(["explain", "486", "--no-patterns-dir"])
        .env("LANG", "ja_JP.UTF-8")
        .env("LC_ALL", "ja_JP.UTF-8")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("Meaning:"));
}

#[test]
fn formats_check_passes() {
    let (code, out, _) = run(&["formats", "--check"], b"");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(" 0 failed"));
}

#[test]
fn closed_output_pipe_ends_quietly() {
    let mut data = Vec::new();
    sipannotate::testgen::generate(&mut data, 4 << 20, 3).unwrap();
    let mut child = Command::new(BIN)
        .args(["--no-patterns-dir", "--color", "never"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data); // fails once the reader is gone: fine
    });
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 100];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Reads stdout lines on a thread so the test can wait for them, bounded.
fn line_reader(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    rx
}

#[test]
fn live_pipe_gets_annotations_before_end_of_input() {
    let mut child = Command::new(BIN)
        .args(["--no-patterns-dir", "--color", "never"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = line_reader(&mut child);
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"    -- Got SIP response 486 \"Busy Here\" back from 54.172.60.3:5060\n")
        .unwrap();
    stdin.flush().unwrap();
    // stdin stays open: the annotation must come anyway (bounded wait, not a timing claim).
    let wait = Duration::from_secs(20);
    assert!(rx
        .recv_timeout(wait)
        .unwrap()
        .contains("Got SIP response 486"));
    assert!(rx.recv_timeout(wait).unwrap().contains("486 Busy Here"));
    drop(stdin);
    child.wait().unwrap();
}

#[test]
fn live_pipe_json_completes_an_open_dump_when_the_pipe_goes_quiet() {
    let mut child = Command::new(BIN)
        .args([
            "--no-patterns-dir",
            "-o",
            "json",
            "--only-matches",
            "--flush-timeout-ms",
            "50",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = line_reader(&mut child);
    let mut stdin = child.stdin.take().unwrap();
    // A dump without its closing blank line: only the idle flush can complete it.
    stdin.write_all(b"<--- Received SIP response (400 bytes) from UDP:10.0.0.9:5060 --->\nSIP/2.0 503 Service Unavailable\nCall-ID: live-1@h\nCSeq: 5 INVITE\n").unwrap();
    stdin.flush().unwrap();
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("event arrives while stdin is open");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["code"], 503);
    assert_eq!(v["call_id"], "live-1@h");
    assert_eq!(v["src"], "10.0.0.9:5060");
    drop(stdin);
    child.wait().unwrap();
}

#[test]
fn follow_mode_annotates_appended_lines_through_a_rotation() {
    let dir = repo().join("target/test-scratch/follow-mode");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("pbx.log");
    std::fs::write(&log, "old line, SIP/2.0 404 Not Found before we started\n").unwrap();
    let mut child = Command::new(BIN)
        .args([
            "--no-patterns-dir",
            "-f",
            "--color",
            "never",
            "--only-matches",
        ])
        .arg(&log)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = line_reader(&mut child);
    let next = || {
        lines
            .recv_timeout(Duration::from_secs(10))
            .expect("an annotated line in time")
    };
    std::thread::sleep(Duration::from_millis(500));
    let append = |p: &std::path::Path, text: &str| {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    };
    append(&log, "<--- SIP read from UDP:10.0.0.1:5060 --->\nSIP/2.0 486 Busy Here\nCall-ID: f1\nCSeq: 1 INVITE\n\n");
    assert_eq!(next(), "SIP/2.0 486 Busy Here");
    assert!(next().contains("486 Busy Here"), "annotation follows");
    std::fs::rename(&log, dir.join("pbx.log.1")).unwrap();
    append(&log, "Nov 21 10:00:00 pbx kamailio[7]: ACC: call missed: method=INVITE;call_id=f2;code=503;reason=Service Unavailable\n");
    let status = next();
    assert!(status.contains("call_id=f2;code=503"), "{status}");
    assert!(next().contains("503"));
    let _ = child.kill();
    let _ = child.wait();
}
