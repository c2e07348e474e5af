//! The daemon's network and journal inputs with the real senders: util-linux
//! `logger` over UDP and TCP (both RFC 6587 framings), a real rsyslog
//! forwarding to the listener, and journal files written by systemd's own
//! systemd-journal-remote, read through journalctl with the cursor kept.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::daemon::{call_ids, scratch, start};
use crate::support::*;

fn daemon_config(dir: &Path, input: &str) -> std::path::PathBuf {
    let p = dir.join("sipannotate.toml");
    fs::write(
        &p,
        format!(
            "[daemon]\nstate_directory = \"{}\"\npoll_interval_ms = 50\nstats_interval_secs = 0\ndrain_timeout_secs = 2\n\n{input}\n[[output]]\ntype = \"file\"\npath = \"{}\"\n",
            dir.join("state").display(),
            dir.join("events.json").display()
        ),
    )
    .unwrap();
    p
}

fn wait_ids(path: &Path, want: usize) -> std::collections::BTreeMap<String, usize> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ids = call_ids(path);
        if ids.len() >= want || Instant::now() > deadline {
            return ids;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn acc(id: &str, code: u16, reason: &str) -> String {
    format!("ACC: call missed: timestamp=1795000000;method=INVITE;call_id={id};code={code};reason={reason}")
}

#[test]
fn syslog_listener_takes_logger_over_udp_and_both_tcp_framings() {
    let dir = scratch("syslog-logger");
    let port = free_port();
    let cfg = daemon_config(
        &dir,
        &format!("[[input]]\ntype = \"syslog\"\nname = \"net\"\nlisten_udp = \"127.0.0.1:{port}\"\nlisten_tcp = \"127.0.0.1:{port}\"\nlabels = {{ via = \"syslog\" }}\n"),
    );
    let mut daemon = start(&cfg, Stdio::null());
    let send = |args: &[&str], msg: &str| logger(port, &[args, &[msg]].concat());
    send(&["--udp"], &acc("u1", 486, "Busy Here"));
    send(&["--udp", "--rfc3164"], &acc("u2", 404, "Not Found"));
    send(
        &["--tcp", "--octet-count"],
        &acc("t1", 503, "Service Unavailable"),
    );
    send(&["--tcp"], &acc("t2", 408, "Request Timeout"));
    // A SIP dump, one log line per syslog message, as Kamailio's siptrace to syslog sends it.
    let dump = dir.join("dump.txt");
    fs::write(&dump, "SIP/2.0 480 Temporarily Unavailable\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\nCall-ID: d1\nCSeq: 7 INVITE\nReason: Q.850;cause=18;text=\"No user responding\"\nContent-Length: 0\n").unwrap();
    logger(
        port,
        &["--tcp", "--octet-count", "-f", dump.to_str().unwrap()],
    );
    let ids = wait_ids(&dir.join("events.json"), 5);
    terminate(&mut daemon);
    let events: Vec<serde_json::Value> = fs::read_to_string(dir.join("events.json"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for id in ["u1", "u2", "t1", "t2", "d1"] {
        assert_eq!(ids.get(id), Some(&1), "{id}: {ids:?}");
    }
    let d1 = events.iter().find(|e| e["call_id"] == "d1").unwrap();
    assert_eq!(d1["code"], 480);
    assert_eq!(d1["method"], "INVITE");
    assert_eq!(d1["labels"]["via"], "syslog");
    assert!(d1["reason_header"].to_string().contains("18"), "{d1}");
    let t1 = events.iter().find(|e| e["call_id"] == "t1").unwrap();
    assert_eq!(t1["code"], 503);
    assert!(t1["input"]
        .as_str()
        .unwrap()
        .starts_with("net:tcp:127.0.0.1:"));
}

#[test]
fn real_rsyslog_forwards_to_the_listener() {
    let dir = scratch("syslog-rsyslog");
    let ours = free_port();
    let theirs = free_port();
    let cfg = daemon_config(
        &dir,
        &format!(
            "[[input]]\ntype = \"syslog\"\nname = \"relay\"\nlisten_tcp = \"127.0.0.1:{ours}\"\n"
        ),
    );
    let mut daemon = start(&cfg, Stdio::null());
    let mut rsyslog = start_rsyslog(
        &dir.join("rsyslog"),
        &format!(
            "module(load=\"imudp\")\n\
             input(type=\"imudp\" address=\"127.0.0.1\" port=\"{theirs}\")\n\
             action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{ours}\" protocol=\"tcp\" TCP_Framing=\"octet-counted\" template=\"RSYSLOG_SyslogProtocol23Format\")\n"
        ),
        Some(theirs),
        None,
    );
    for i in 0..20 {
        let code = [486, 404, 503, 603][i % 4];
        logger(theirs, &["--udp", &acc(&format!("r{i}"), code, "Whatever")]);
    }
    let ids = wait_ids(&dir.join("events.json"), 20);
    terminate(&mut rsyslog);
    terminate(&mut daemon);
    for i in 0..20 {
        assert_eq!(
            ids.get(&format!("r{i}")),
            Some(&1),
            "r{i} through rsyslog: {ids:?}"
        );
    }
    assert_eq!(ids.len(), 20);
}

/// Journal export format entries (what systemd-journal-remote reads).
fn export_entries(from: usize, to: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in from..to {
        let msg = if i % 2 == 0 {
            acc(&format!("j{i}"), 486, "Busy Here")
        } else {
            format!("NOTICE: <core> noise {i}")
        };
        out.extend_from_slice(
            format!(
                "__REALTIME_TIMESTAMP={}\n__MONOTONIC_TIMESTAMP={}\n_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=pbx\nSYSLOG_IDENTIFIER=kamailio\n_SYSTEMD_UNIT=kamailio.service\nMESSAGE={msg}\n\n",
                1_796_000_000_000_000u64 + i as u64 * 1000,
                i + 1
            )
            .as_bytes(),
        );
    }
    out
}

fn journal_append(remote: &Path, file: &Path, entries: Vec<u8>) {
    use std::io::Write;
    let mut child = Command::new(remote)
        .arg(format!("--output={}", file.display()))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&entries).unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn journal_input_reads_journal_files_and_resumes_after_its_cursor() {
    debian_tool("/usr/bin/journalctl", "systemd", "journalctl");
    let remote = debian_tool(
        "/lib/systemd/systemd-journal-remote",
        "systemd-journal-remote",
        "systemd-journal-remote",
    );
    let dir = scratch("journal");
    let journal = dir.join("pbx.journal");
    journal_append(&remote, &journal, export_entries(0, 40));
    let cfg = daemon_config(
        &dir,
        // journal-remote archives the file when it appends (pbx@....journal~):
        // the glob keeps the archived part in view, so the cursor is found.
        &format!(
            "[[input]]\ntype = \"journal\"\nname = \"j\"\nfiles = [\"{}\"]\nread_from = \"beginning\"\n",
            dir.join("pbx*.journal*").display()
        ),
    );
    let mut daemon = start(&cfg, Stdio::null());
    let first = wait_ids(&dir.join("events.json"), 20);
    terminate(&mut daemon);
    assert_eq!(first.len(), 20, "{first:?}");
    let state = fs::read_to_string(dir.join("state/checkpoints.json")).unwrap();
    assert!(
        state.contains("\"j\": \"s="),
        "the cursor is checkpointed: {state}"
    );
    // More entries while stopped; the restart reads only those.
    journal_append(&remote, &journal, export_entries(40, 80));
    let mut daemon = start(&cfg, Stdio::null());
    let all = wait_ids(&dir.join("events.json"), 40);
    terminate(&mut daemon);
    for i in (0..80).step_by(2) {
        assert_eq!(all.get(&format!("j{i}")), Some(&1), "j{i}: {all:?}");
    }
    assert_eq!(all.len(), 40);
    let events = fs::read_to_string(dir.join("events.json")).unwrap();
    let e: serde_json::Value = serde_json::from_str(events.lines().next().unwrap()).unwrap();
    // The journal's __REALTIME_TIMESTAMP (not the acc record's timestamp= field).
    assert_eq!(e["ts"], "2026-11-30T00:53:20.000000Z", "{e}");
}
