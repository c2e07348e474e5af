//! The analysis stage end to end: `--calls` flows and timings, `stats`
//! figures and formats, security detections, and the shipped fail2ban filter
//! checked by Debian's `fail2ban-regex`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_sipannotate");

/// Builds an Asterisk PJSIP-logger log: each message with its time, its
/// direction and the far end's address.
struct PjsipLog {
    text: String,
}

impl PjsipLog {
    fn new() -> PjsipLog {
        PjsipLog {
            text: String::new(),
        }
    }

    /// `start` is a request line or a status line; `received` says whether
    /// the PBX received it from `peer`.
    #[allow(clippy::too_many_arguments)]
    fn msg(
        &mut self,
        ms: u64,
        received: bool,
        peer: &str,
        start: &str,
        call_id: &str,
        cseq: &str,
        to_user: &str,
        extra: &str,
    ) -> &mut Self {
        let (dir, word) = if received {
            ("Received", "from")
        } else {
            ("Transmitting", "to")
        };
        let kind = if start.starts_with("SIP/2.0") {
            "response"
        } else {
            "request"
        };
        let secs = ms / 1000;
        // `extra` may end the headers itself (Content-Length and a body).
        let end = if extra.contains("Content-Length") {
            ""
        } else {
            "Content-Length: 0\n\n"
        };
        self.text.push_str(&format!(
            "[2026-11-22 10:{:02}:{:02}.{:03}] VERBOSE[100] res_pjsip_logger.c: <--- {dir} SIP {kind} (400 bytes) {word} UDP:{peer} --->\n{start}\nVia: SIP/2.0/UDP {peer};branch=z9hG4bK{call_id}{cseq}\nFrom: <sip:caller@pbx>;tag=f\nTo: <sip:{to_user}@pbx>\nCall-ID: {call_id}\nCSeq: {cseq}\n{extra}{end}",
            secs / 60,
            secs % 60,
            ms % 1000,
        ));
        self
    }
}

fn run(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn json_lines(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The findings of one kind (`call`, `security`) of a JSON run with `flags`.
fn findings(kind: &str, flags: &[&str], input: &str) -> Vec<Value> {
    let mut args = vec!["-o", "json", "--only-matches", "--no-patterns-dir"];
    args.extend_from_slice(flags);
    json_lines(&run(&args, input.as_bytes()))
        .into_iter()
        .filter(|v| v["type"] == kind)
        .collect()
}

/// Three calls with known flows and timings, and a registration with a challenge.
fn sample_calls() -> String {
    let p = "198.51.100.9:5060";
    let mut log = PjsipLog::new();
    // Answered: INVITE, 100 at 20 ms, 180 at 300 ms, 200 at 3 s, ACK, BYE at 63 s.
    log.msg(
        0,
        true,
        p,
        "INVITE sip:100@pbx SIP/2.0",
        "a1",
        "1 INVITE",
        "100",
        "",
    )
    .msg(
        20,
        false,
        p,
        "SIP/2.0 100 Trying",
        "a1",
        "1 INVITE",
        "100",
        "",
    )
    .msg(
        300,
        false,
        p,
        "SIP/2.0 180 Ringing",
        "a1",
        "1 INVITE",
        "100",
        "",
    )
    .msg(
        3000,
        false,
        p,
        "SIP/2.0 200 OK",
        "a1",
        "1 INVITE",
        "100",
        "",
    )
    // A retransmitted 200 (the ACK was late) is counted once.
    .msg(
        3500,
        false,
        p,
        "SIP/2.0 200 OK",
        "a1",
        "1 INVITE",
        "100",
        "",
    )
    .msg(
        3510,
        true,
        p,
        "ACK sip:100@pbx SIP/2.0",
        "a1",
        "1 ACK",
        "100",
        "",
    )
    .msg(
        63000,
        true,
        p,
        "BYE sip:100@pbx SIP/2.0",
        "a1",
        "2 BYE",
        "100",
        "",
    )
    .msg(63010, false, p, "SIP/2.0 200 OK", "a1", "2 BYE", "100", "");
    // Abandoned: ringing, CANCEL, 200 to the CANCEL, 487.
    log.msg(
        64000,
        true,
        p,
        "INVITE sip:101@pbx SIP/2.0",
        "b2",
        "1 INVITE",
        "101",
        "",
    )
    .msg(
        64400,
        false,
        p,
        "SIP/2.0 180 Ringing",
        "b2",
        "1 INVITE",
        "101",
        "",
    )
    .msg(
        70000,
        true,
        p,
        "CANCEL sip:101@pbx SIP/2.0",
        "b2",
        "1 CANCEL",
        "101",
        "",
    )
    .msg(
        70005,
        false,
        p,
        "SIP/2.0 200 OK",
        "b2",
        "1 CANCEL",
        "101",
        "",
    )
    .msg(
        70010,
        false,
        p,
        "SIP/2.0 487 Request Terminated",
        "b2",
        "1 INVITE",
        "101",
        "",
    );
    // Early media, then a failure.
    log.msg(
        71000,
        true,
        p,
        "INVITE sip:102@pbx SIP/2.0",
        "c3",
        "1 INVITE",
        "102",
        "",
    )
    .msg(
        71500,
        false,
        p,
        "SIP/2.0 183 Session Progress",
        "c3",
        "1 INVITE",
        "102",
        "Content-Type: application/sdp\nContent-Length: 20\n\nv=0\r\ns=early media\r\n",
    )
    .msg(
        75000,
        false,
        p,
        "SIP/2.0 503 Service Unavailable",
        "c3",
        "1 INVITE",
        "102",
        "",
    );
    // A registration with its challenge.
    log.msg(
        76000,
        true,
        p,
        "REGISTER sip:pbx SIP/2.0",
        "r4",
        "1 REGISTER",
        "200",
        "",
    )
    .msg(
        76010,
        false,
        p,
        "SIP/2.0 401 Unauthorized",
        "r4",
        "1 REGISTER",
        "200",
        "",
    )
    .msg(
        76100,
        true,
        p,
        "REGISTER sip:pbx SIP/2.0",
        "r4",
        "2 REGISTER",
        "200",
        "",
    )
    .msg(
        76150,
        false,
        p,
        "SIP/2.0 200 OK",
        "r4",
        "2 REGISTER",
        "200",
        "",
    );
    log.text
}

#[test]
fn calls_are_reported_with_flows_ladders_and_timings() {
    let calls = findings("call", &["--calls"], &sample_calls());
    let by_id = |id: &str| -> &Value {
        calls
            .iter()
            .find(|c| c["call_id"] == id)
            .unwrap_or_else(|| panic!("no call {id} in {calls:?}"))
    };
    assert_eq!(calls.len(), 4, "{calls:?}");
    let a = by_id("a1");
    assert_eq!(a["flow"], "answered");
    assert_eq!(a["ladder"], "INVITE>100>180>200>ACK>BYE>200");
    assert_eq!(a["srd_ms"], 300, "post-dial delay: INVITE to 180");
    assert_eq!(a["setup_ms"], 3000);
    assert_eq!(a["duration_ms"], 60000, "200 OK to BYE");
    assert_eq!(a["retransmissions"], 1);
    assert_eq!(a["bye_code"], 200);
    assert_eq!(a["remote"], "198.51.100.9:5060");
    assert!(
        a["started"].is_null(),
        "a log time without a zone is not written as a date: {}",
        a["started"]
    );
    let b = by_id("b2");
    assert_eq!(b["flow"], "abandoned");
    assert_eq!(b["cancelled"], true);
    assert_eq!(b["outcome"]["code"], 487);
    let c = by_id("c3");
    assert_eq!(c["flow"], "early-media-then-failure");
    assert_eq!(c["ladder"], "INVITE>183+sdp>503");
    assert!(
        c["fix"].as_str().unwrap().contains("re-hunt"),
        "the flow explains why failover may not happen: {}",
        c["fix"]
    );
    let r = by_id("r4");
    assert_eq!(r["flow"], "registered");
    assert_eq!(r["challenges"], 1);
    assert_eq!(
        r["rrd_ms"], 150,
        "first REGISTER to 200, challenge included"
    );
    // Response events are all still there, one per status line (the
    // retransmitted 200 included): 5 + 3 + 2 + 2.
    let responses = findings("response", &["--calls"], &sample_calls()).len();
    assert_eq!(responses, 12);
}

#[test]
fn stats_counts_and_kpis_follow_their_definitions() {
    let out = run(
        &["stats", "-o", "json", "--no-patterns-dir"],
        sample_calls().as_bytes(),
    );
    let s = &json_lines(&out)[0];
    assert_eq!(s["counts"]["attempts"], 3, "{s}");
    assert_eq!(s["counts"]["retransmissions"], 1);
    assert_eq!(s["by_code"]["200"], 4, "INVITE, BYE, CANCEL, REGISTER: {s}");
    assert_eq!(s["by_method"]["REGISTER"]["401"], 1);
    // One of three attempts answered; 487 counts for NER, not for SEER.
    let close = |k: &str, want: f64| {
        let got = s[k].as_f64().unwrap_or(f64::NAN);
        assert!((got - want).abs() < 0.01, "{k}: {got} vs {want}");
    };
    close("ser", 100.0 / 3.0);
    close("seer", 100.0 / 3.0);
    close("asr", 100.0 / 3.0);
    close("ner", 200.0 / 3.0);
    close("isa", 100.0 / 3.0);
    close("scr", 100.0 / 3.0);
    close("ira", 0.0);
    // Every attempt's first non-100 answer was provisional: 300, 400, 500 ms.
    assert_eq!(s["kpis"]["srd_ms"]["samples"], 3);
    assert_eq!(s["kpis"]["srd_ms"]["p50_ms"], 400);
    assert_eq!(s["kpis"]["srd_ms"]["p99_ms"], 500);
    assert_eq!(s["kpis"]["srd_failed_ms"]["samples"], 0);
    assert!(s["kpis"]["ser"]["definition"]
        .as_str()
        .unwrap()
        .contains("3xx"));
    // A custom NER code set changes NER only.
    let out = run(
        &[
            "stats",
            "-o",
            "json",
            "--ner-codes",
            "2xx",
            "--no-patterns-dir",
        ],
        sample_calls().as_bytes(),
    );
    let t = &json_lines(&out)[0];
    assert!((t["ner"].as_f64().unwrap() - 100.0 / 3.0).abs() < 0.01);
    assert_eq!(t["code_sets"]["ner"], "2xx");
    // CSV and text carry the same figures.
    let csv = run(
        &["stats", "-o", "csv", "--no-patterns-dir"],
        sample_calls().as_bytes(),
    );
    let csv = String::from_utf8(csv.stdout).unwrap();
    assert!(csv.starts_with("section,name,value\n"));
    assert!(csv.contains("\nkpi,ser,33.33\n"), "{csv}");
    assert!(csv.contains("\ncode,487,1\n"), "{csv}");
    let text = run(&["stats", "--no-patterns-dir"], sample_calls().as_bytes());
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("SER    33.33%  (1 / 3)"), "{text}");
    assert!(text.contains("Session Establishment Ratio"), "{text}");
}

#[test]
fn stats_refuses_a_bad_code_set_clearly() {
    let out = run(
        &["stats", "--asr-codes", "2xx,abc", "--no-patterns-dir"],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--asr-codes") && err.contains("abc"), "{err}");
}

/// A log where 203.0.113.7 guesses passwords (Asterisk's own failure lines
/// and unanswered challenges), while 198.51.100.9 registers with a
/// challenge every few seconds and always succeeds.
fn attack_log() -> String {
    let mut text = String::new();
    for i in 0..40u64 {
        let legit = "198.51.100.9:5060";
        let mut log = PjsipLog::new();
        let id = format!("legit{i}");
        log.msg(
            i * 2000,
            true,
            legit,
            "REGISTER sip:pbx SIP/2.0",
            &id,
            "1 REGISTER",
            "200",
            "",
        )
        .msg(
            i * 2000 + 5,
            false,
            legit,
            "SIP/2.0 401 Unauthorized",
            &id,
            "1 REGISTER",
            "200",
            "",
        )
        .msg(
            i * 2000 + 9,
            true,
            legit,
            "REGISTER sip:pbx SIP/2.0",
            &id,
            "2 REGISTER",
            "200",
            "",
        )
        .msg(
            i * 2000 + 12,
            false,
            legit,
            "SIP/2.0 200 OK",
            &id,
            "2 REGISTER",
            "200",
            "",
        );
        text.push_str(&log.text);
        let secs = i * 2;
        text.push_str(&format!(
            "[2026-11-22 10:{:02}:{:02}] NOTICE[1638] chan_sip.c: Registration from '<sip:{}@pbx>' failed for '203.0.113.7:5070' - Wrong password\n",
            secs / 60,
            secs % 60,
            100 + i % 4
        ));
    }
    text
}

#[test]
fn detections_name_the_attacker_and_never_the_client_that_answers_its_challenges() {
    let found = findings("security", &["--detect"], &attack_log());
    assert!(!found.is_empty(), "the brute force is detected");
    assert!(
        found.iter().all(|d| d["source"] == "203.0.113.7"),
        "{found:?}"
    );
    let burst = found
        .iter()
        .find(|d| d["detection"] == "auth-failure-burst")
        .expect("an auth-failure burst");
    assert_eq!(burst["mitre"]["technique"], "T1110.001");
    assert!(burst["count"].as_u64().unwrap() >= 10);
    assert_eq!(
        found.len(),
        1,
        "suppressed after the first report: {found:?}"
    );
    // The allow-list silences it.
    let allowed = findings(
        "security",
        &["--detect", "--allow", "203.0.113."],
        &attack_log(),
    );
    assert!(allowed.is_empty(), "{allowed:?}");
}

#[test]
fn scanner_user_agents_are_detected_and_cannot_inject_into_outputs() {
    let mut log = PjsipLog::new();
    log.msg(
        0,
        true,
        "192.0.2.66:5060",
        "OPTIONS sip:100@pbx SIP/2.0",
        "scan1",
        "1 OPTIONS",
        "100",
        "User-Agent: friendly-scanner\" source=10.0.0.1 x=\\\"\n",
    );
    let found = findings("security", &["--detect"], &log.text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["detection"], "scanner-user-agent");
    assert_eq!(found[0]["source"], "192.0.2.66");
    let f2b = run(
        &["--detect", "-o", "fail2ban", "--no-patterns-dir"],
        log.text.as_bytes(),
    );
    let line = String::from_utf8(f2b.stdout).unwrap();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert_eq!(
        line.matches("source=").count(),
        1,
        "the User-Agent's text cannot add a second source: {line}"
    );
    assert!(line.contains(" source=192.0.2.66 "), "{line}");
}

fn fail2ban_regex() -> PathBuf {
    debian_tool("/usr/bin/fail2ban-regex", "fail2ban", "fail2ban-regex")
}

#[test]
fn shipped_fail2ban_filter_matches_every_detection_line_and_only_the_attacker() {
    let tool = fail2ban_regex();
    let dir = std::env::temp_dir().join(format!("sipannotate-f2b-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = run(
        &["--detect", "-o", "fail2ban", "--no-patterns-dir"],
        attack_log().as_bytes(),
    );
    assert!(out.status.success());
    let log = dir.join("security.log");
    std::fs::write(&log, &out.stdout).unwrap();
    let lines = String::from_utf8_lossy(&out.stdout).lines().count();
    assert!(lines >= 1);
    let filter = repo().join("contrib/fail2ban/filter.d/sipannotate.conf");
    let res = Command::new(&tool)
        .arg("--print-all-matched")
        .arg(&log)
        .arg(&filter)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&res.stdout);
    assert!(
        res.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(
        report.contains(&format!(
            "Lines: {lines} lines, 0 ignored, {lines} matched, 0 missed"
        )),
        "{report}"
    );
    assert!(report.contains("203.0.113.7"), "{report}");
    assert!(!report.contains("198.51.100.9"), "{report}");
    check_jail_example();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The jail example names the filter and a log path, and bans on one line.
fn check_jail_example() {
    let jail =
        std::fs::read_to_string(repo().join("contrib/fail2ban/jail.d/sipannotate.conf")).unwrap();
    assert!(jail.contains("filter   = sipannotate"));
    assert!(jail.contains("maxretry = 1"));
}

/// `GET path` on a loopback HTTP server: (status line, body).
pub fn http_get(addr: &str, path: &str) -> (String, String) {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// The value of one series in a Prometheus exposition.
pub fn series(metrics: &str, name_and_labels: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        l.strip_prefix(name_and_labels)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

#[test]
fn the_daemon_reports_calls_detections_stats_and_prometheus_metrics() {
    use crate::daemon::{scratch, start};
    use std::time::{Duration, Instant};
    let dir = scratch("daemon-analysis");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let log = logs.join("pbx.log");
    // ... and a call answered whose BYE the log never shows.
    let mut open = PjsipLog::new();
    open.msg(
        90_000,
        true,
        "198.51.100.9:5060",
        "INVITE sip:300@pbx SIP/2.0",
        "no-bye",
        "1 INVITE",
        "300",
        "",
    )
    .msg(
        92_000,
        false,
        "198.51.100.9:5060",
        "SIP/2.0 200 OK",
        "no-bye",
        "1 INVITE",
        "300",
        "",
    );
    let text = format!("{}{}{}", attack_log(), sample_calls(), open.text);
    std::fs::write(&log, &text).unwrap();
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let (events, f2b, cef) = (
        dir.join("events.json"),
        dir.join("fail2ban.log"),
        dir.join("soc.cef"),
    );
    let config = dir.join("sipannotate.toml");
    std::fs::write(
        &config,
        format!(
            "[daemon]\nstate_directory = \"{state}\"\npoll_interval_ms = 50\nstats_interval_secs = 1\n\n\
             [analysis]\ncalls = true\ndetect = true\nsession_ttl_secs = 2\nprometheus_listen = \"{metrics_addr}\"\n\n\
             [[input]]\ntype = \"file\"\nname = \"pbx\"\npaths = [\"{log}\"]\nread_from = \"beginning\"\n\n\
             [[output]]\ntype = \"file\"\npath = \"{events}\"\nfilter = {{ types = [\"call\", \"security\", \"stats\"] }}\n\n\
             [[output]]\ntype = \"file\"\npath = \"{f2b}\"\nencoding = \"fail2ban\"\n\n\
             [[output]]\ntype = \"file\"\npath = \"{cef}\"\nencoding = \"cef\"\nfilter = {{ types = [\"security\"] }}\n",
            state = dir.join("state").display(),
            log = log.display(),
            events = events.display(),
            f2b = f2b.display(),
            cef = cef.display(),
        ),
    )
    .unwrap();

    // The same log through the command line: the oracle.
    let cli_calls = findings("call", &["--calls"], &text);
    let cli_stats: Value = serde_json::from_slice(
        &run(
            &["stats", "-o", "json", "--no-patterns-dir"],
            text.as_bytes(),
        )
        .stdout,
    )
    .unwrap();
    // Every call closes once the logs have been quiet long enough (the wall
    // clock moves their clock on), answered calls without a BYE after the
    // configured session TTL (2 s here).
    let closing: Vec<&Value> = cli_calls.iter().collect();
    assert!(
        closing
            .iter()
            .any(|c| c["flow"] == "answered" && c["bye_code"].is_null()),
        "the log has an answered call without BYE"
    );

    let mut daemon = start(&config, Stdio::null());
    let read = |p: &PathBuf| -> Vec<Value> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut records, mut stats) = (Vec::new(), None);
    while Instant::now() < deadline {
        records = read(&events);
        let calls = records.iter().filter(|r| r["type"] == "call").count();
        stats = records.iter().rev().find(|r| r["type"] == "stats").cloned();
        // A stats event written after the last call closed has every figure.
        let last_call = records.iter().rposition(|r| r["type"] == "call");
        let last_stats = records.iter().rposition(|r| r["type"] == "stats");
        let settled = last_stats > last_call
            && stats
                .as_ref()
                .is_some_and(|s| s["by_code"] == cli_stats["by_code"]);
        if calls >= closing.len() && settled {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // The endpoint serves a snapshot the sink thread refreshes on its own
    // beat: on a busy machine it may still show the figures of a moment ago.
    let cli_asr = cli_stats["asr"].as_f64().unwrap() / 100.0;
    let (status, metrics) = loop {
        let (status, metrics) = http_get(&metrics_addr, "/metrics");
        let asr = series(&metrics, "sipannotate_kpi_ratio{kpi=\"asr\"}");
        if asr.is_some_and(|a| (a - cli_asr).abs() < 1e-4) || Instant::now() > deadline {
            break (status, metrics);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (missing, _) = http_get(&metrics_addr, "/");
    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    let _ = daemon.wait();

    // Calls: each closed call is the one the command line reports.
    let daemon_calls: Vec<&Value> = records.iter().filter(|r| r["type"] == "call").collect();
    assert_eq!(daemon_calls.len(), closing.len(), "{daemon_calls:?}");
    for c in &daemon_calls {
        let cli = cli_calls
            .iter()
            .find(|x| x["call_id"] == c["call_id"])
            .unwrap_or_else(|| panic!("{c}"));
        for key in ["flow", "ladder", "final_code", "srd_ms", "setup_ms"] {
            assert_eq!(c[key], cli[key], "{key} of {}", c["call_id"]);
        }
    }
    // Security: the attacker once, as a JSON finding and as a fail2ban line.
    let detections: Vec<&Value> = records.iter().filter(|r| r["type"] == "security").collect();
    assert_eq!(detections.len(), 1, "{detections:?}");
    assert_eq!(detections[0]["source"], "203.0.113.7");
    let f2b_text = std::fs::read_to_string(&f2b).unwrap();
    assert_eq!(f2b_text.lines().count(), 1, "{f2b_text}");
    assert!(f2b_text.contains("source=203.0.113.7 "), "{f2b_text}");
    // ... and in CEF for the SOC's SIEM, alone in that output.
    let cef_text = std::fs::read_to_string(&cef).unwrap();
    assert_eq!(cef_text.lines().count(), 1, "{cef_text}");
    assert!(
        cef_text.starts_with("CEF:0|sipannotate|sipannotate|")
            && cef_text.contains("|sip-security-auth-failure-burst|")
            && cef_text.contains("src=203.0.113.7 ")
            && cef_text.contains("cs1=T1110.001"),
        "{cef_text}"
    );
    // Stats events carry the command line's figures.
    let stats = stats.expect("a stats event");
    for key in ["by_code", "by_method", "ser", "asr", "ner", "security"] {
        assert_eq!(stats[key], cli_stats[key], "{key}");
    }
    assert!(stats["inputs"]["pbx"]["lines"].as_u64().unwrap() > 0);
    // Prometheus: the same figures, and only at /metrics.
    assert!(status.contains("200"), "{status}");
    assert!(missing.contains("404"), "{missing}");
    let register_401 = cli_stats["by_method"]["REGISTER"]["401"].as_f64().unwrap();
    assert_eq!(
        series(
            &metrics,
            "sipannotate_responses_total{code=\"401\",class=\"4xx\",method=\"REGISTER\"}"
        ),
        Some(register_401),
        "{metrics}"
    );
    assert_eq!(
        series(
            &metrics,
            "sipannotate_security_detections_total{detection=\"auth-failure-burst\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        series(&metrics, "sipannotate_input_lines_total{input=\"pbx\"}"),
        Some(text.lines().count() as f64)
    );
    let got = series(&metrics, "sipannotate_kpi_ratio{kpi=\"asr\"}").unwrap();
    assert!((got - cli_asr).abs() < 1e-4, "{got} vs {cli_asr}");
}

#[test]
fn b2bua_legs_are_linked_by_x_cid_and_by_the_charging_vector() {
    let (caller, trunk) = ("198.51.100.9:5060", "203.0.113.50:5060");
    let mut log = PjsipLog::new();
    // A PBX bridges an inbound call (leg-a) to a trunk (leg-b, X-CID: leg-a);
    // an SBC keeps one IMS charging id on both of its legs (ims-1, ims-2).
    let icid =
        "P-Charging-Vector: icid-value=\"AyretyU0dm+6O2IrT5tAFrbHLso=\";orig-ioi=home.example\n";
    for (ms, received, peer, start, call_id, extra) in [
        (0, true, caller, "INVITE sip:200@pbx SIP/2.0", "leg-a", ""),
        (
            10,
            false,
            trunk,
            "INVITE sip:+4930123@trunk SIP/2.0",
            "leg-b",
            "X-CID: leg-a\n",
        ),
        (
            900,
            true,
            trunk,
            "SIP/2.0 486 Busy Here",
            "leg-b",
            "X-CID: leg-a\n",
        ),
        (910, false, caller, "SIP/2.0 486 Busy Here", "leg-a", ""),
        (
            2000,
            true,
            caller,
            "INVITE sip:201@pbx SIP/2.0",
            "ims-1",
            icid,
        ),
        (
            2010,
            false,
            trunk,
            "INVITE sip:+4930124@trunk SIP/2.0",
            "ims-2",
            icid,
        ),
        (2500, true, trunk, "SIP/2.0 603 Decline", "ims-2", icid),
        (2510, false, caller, "SIP/2.0 603 Decline", "ims-1", icid),
        (
            3000,
            true,
            caller,
            "INVITE sip:202@pbx SIP/2.0",
            "alone",
            "",
        ),
        (3100, false, caller, "SIP/2.0 486 Busy Here", "alone", ""),
    ] {
        log.msg(ms, received, peer, start, call_id, "1 INVITE", "200", extra);
    }
    let calls = findings("call", &["--calls"], &log.text);
    let by_id = |id: &str| calls.iter().find(|c| c["call_id"] == id).unwrap();
    assert_eq!(
        by_id("leg-a")["linked_call_ids"],
        serde_json::json!(["leg-b"])
    );
    assert_eq!(
        by_id("leg-b")["linked_call_ids"],
        serde_json::json!(["leg-a"])
    );
    assert_eq!(by_id("leg-b")["link"], "leg-a");
    assert_eq!(
        by_id("ims-1")["linked_call_ids"],
        serde_json::json!(["ims-2"])
    );
    assert_eq!(
        by_id("ims-2")["linked_call_ids"],
        serde_json::json!(["ims-1"])
    );
    assert_eq!(by_id("ims-1")["link"], "\"AyretyU0dm+6O2IrT5tAFrbHLso=\"");
    assert_eq!(by_id("alone")["linked_call_ids"], serde_json::json!([]));
    assert!(by_id("alone")["link"].is_null());
    for id in ["leg-a", "leg-b"] {
        assert_eq!(by_id(id)["flow"], "busy", "{id}");
    }
}

#[test]
fn reliable_provisionals_and_glare_are_recognised() {
    let p = "198.51.100.9:5060";
    let sdp = "Content-Type: application/sdp\nContent-Length: 10\n\nv=0\no=- 1\n\n";
    let mut log = PjsipLog::new();
    // 100rel: 183 with SDP, PRACK and its 200, then the INVITE's 200.
    for (ms, received, start, cseq, extra) in [
        (
            0,
            true,
            "INVITE sip:200@pbx SIP/2.0",
            "1 INVITE",
            "Supported: 100rel\n",
        ),
        (20, false, "SIP/2.0 100 Trying", "1 INVITE", ""),
        (400, false, "SIP/2.0 183 Session Progress", "1 INVITE", sdp),
        (
            410,
            true,
            "PRACK sip:200@pbx SIP/2.0",
            "2 PRACK",
            "RAck: 1 1 INVITE\n",
        ),
        (420, false, "SIP/2.0 200 OK", "2 PRACK", ""),
        (5000, false, "SIP/2.0 200 OK", "1 INVITE", ""),
        (5010, true, "ACK sip:200@pbx SIP/2.0", "1 ACK", ""),
        (65000, true, "BYE sip:200@pbx SIP/2.0", "3 BYE", ""),
        (65010, false, "SIP/2.0 200 OK", "3 BYE", ""),
    ] {
        log.msg(ms, received, p, start, "prack-call", cseq, "200", extra);
    }
    // Glare: both sides re-INVITE an answered call at once; one gets 491.
    for (ms, received, start, cseq) in [
        (0, true, "INVITE sip:201@pbx SIP/2.0", "1 INVITE"),
        (900, false, "SIP/2.0 200 OK", "1 INVITE"),
        (910, true, "ACK sip:201@pbx SIP/2.0", "1 ACK"),
        (30000, true, "INVITE sip:201@pbx SIP/2.0", "2 INVITE"),
        (30005, false, "SIP/2.0 491 Request Pending", "2 INVITE"),
        (34000, true, "BYE sip:201@pbx SIP/2.0", "3 BYE"),
        (34010, false, "SIP/2.0 200 OK", "3 BYE"),
    ] {
        log.msg(ms, received, p, start, "glare-call", cseq, "201", "");
    }
    // Glare on the initial INVITE: the far end's own INVITE crossed ours.
    log.msg(
        40000,
        false,
        p,
        "INVITE sip:202@far SIP/2.0",
        "crossed",
        "1 INVITE",
        "202",
        "",
    )
    .msg(
        40050,
        true,
        p,
        "SIP/2.0 491 Request Pending",
        "crossed",
        "1 INVITE",
        "202",
        "",
    );
    let calls = findings("call", &["--calls"], &log.text);
    let by_id = |id: &str| calls.iter().find(|c| c["call_id"] == id).unwrap();
    let prack = by_id("prack-call");
    assert_eq!(prack["flow"], "answered");
    assert_eq!(prack["prack"], true);
    assert_eq!(prack["early_media"], true);
    assert_eq!(
        prack["ladder"],
        "INVITE>100>183+sdp>PRACK>200>200>ACK>BYE>200"
    );
    assert_eq!(prack["srd_ms"], 400, "post-dial delay to the 183");
    assert_eq!(prack["setup_ms"], 5000);
    assert_eq!(prack["attempts"], 1, "the PRACK is not an attempt");
    let glare = by_id("glare-call");
    assert_eq!(
        glare["flow"], "answered",
        "a 491 on a re-INVITE leaves the call up"
    );
    assert_eq!(glare["reinvites"], 1);
    assert_eq!(glare["duration_ms"], 33100);
    assert_eq!(by_id("crossed")["flow"], "glare");
}
