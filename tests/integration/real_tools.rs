//! Real programs where users have them, from Debian's packages, over
//! 127.0.0.1 only and bounded in calls and time: SIPp places calls and writes
//! its -trace_msg logs; tshark captures SIPp calls on `lo` and prints them
//! three ways; Kamailio relays SIPp calls and writes acc records. The
//! annotator must find every response each of them logged.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::*;
use crate::tools::*;

#[test]
fn real_sipp_calls_are_annotated_on_both_sides() {
    let dir = std::env::temp_dir().join(format!("sipannotate-sipp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let calls = 5;
    let uas_port = free_udp_port();
    let uas_log = dir.join("uas.log");
    let uac_log = dir.join("uac.log");
    let stat = dir.join("uac.csv");
    fn trace(log: &Path) -> Vec<&OsStr> {
        vec![
            OsStr::new("-trace_msg"),
            OsStr::new("-message_file"),
            log.as_os_str(),
        ]
    }
    let mut uas = sipp_uas(uas_port, calls, &trace(&uas_log));
    let mut uac_extra = trace(&uac_log);
    uac_extra.extend([
        OsStr::new("-trace_stat"),
        OsStr::new("-stf"),
        stat.as_os_str(),
    ]);
    let mut uac = sipp_uac(uas_port, calls, &uac_extra);
    let uac_code = wait_bounded(&mut uac, Duration::from_secs(40));
    let _ = wait_bounded(&mut uas, Duration::from_secs(10));
    assert_eq!(
        uac_code,
        Some(0),
        "the SIPp client did not complete its calls"
    );

    // SIPp's own statistics: the last row's SuccessfulCall(C).
    let csv = std::fs::read_to_string(&stat).unwrap();
    let rows: Vec<&str> = csv.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(rows.len() >= 2, "SIPp wrote no statistics rows");
    let header: Vec<&str> = rows[0].split(';').collect();
    let last: Vec<&str> = rows[rows.len() - 1].split(';').collect();
    let col = header
        .iter()
        .position(|h| *h == "SuccessfulCall(C)")
        .unwrap();
    let successful: usize = last[col].trim().parse().unwrap();
    assert_eq!(successful, calls);

    for (log, direction) in [(&uac_log, "in"), (&uas_log, "out")] {
        let data = std::fs::read(log).unwrap();
        let evs = events(&data, false, 4096);
        let seen: Vec<(u16, &str)> = evs.iter().map(|e| (e.code, e.method.as_str())).collect();
        let one_call = [(180, "INVITE"), (200, "INVITE"), (200, "BYE")];
        assert_eq!(seen.len(), 3 * calls, "{}: {seen:?}", log.display());
        for chunk in seen.chunks(3) {
            assert_eq!(chunk, one_call, "{}", log.display());
        }
        let answered = evs
            .iter()
            .filter(|e| e.code == 200 && e.method == "INVITE")
            .count();
        assert_eq!(
            answered, successful,
            "answered calls agree with SIPp's statistics"
        );
        for e in &evs {
            assert_eq!(
                e.direction.map(|d| d.as_str()),
                Some(direction),
                "{}",
                log.display()
            );
            assert!(e.call_id.contains("@127.0.0.1"), "{}", e.call_id);
            assert_eq!(catalog().formats[e.wrapper.unwrap()].id, "sipp.trace_msg");
            assert!(!e.ts.is_empty());
        }
        let (kept, _) = strip_annotations(&text_output(&data, 4096));
        assert_eq!(kept, data, "every byte of the SIPp log passes through");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Places `calls` SIPp calls to 127.0.0.1:`uas_port` and waits for them.
fn sipp_calls(calls: usize, uas_port: u16) {
    let mut uas = sipp_uas(uas_port, calls, &[]);
    let mut uac = sipp_uac(uas_port, calls, &[]);
    assert_eq!(
        wait_bounded(&mut uac, Duration::from_secs(40)),
        Some(0),
        "SIPp calls failed"
    );
    let _ = wait_bounded(&mut uas, Duration::from_secs(10));
}

#[test]
fn real_tshark_output_of_a_capture_gives_one_event_per_response() {
    let tshark = tshark();
    let dir = std::env::temp_dir().join(format!("sipannotate-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("calls.pcap");
    let calls = 3;
    let port = free_udp_port();
    // Six packets a call: INVITE, 180, 200, ACK, BYE, 200.
    let mut capture = capture_on_lo(port, &pcap, 40, &["-c", &(6 * calls).to_string()]);
    sipp_calls(calls, port);
    assert!(
        wait_bounded(&mut capture, Duration::from_secs(45)).is_some(),
        "tshark did not stop"
    );

    let one_call = [(180u16, "INVITE"), (200, "INVITE"), (200, "BYE")];
    for view in [
        &["-Y", "sip"][..],
        &["-Y", "sip", "-V"],
        &["-Y", "sip", "-V", "-P"],
    ] {
        let out = Command::new(&tshark)
            .arg("-r")
            .arg(&pcap)
            .args(view)
            .output()
            .unwrap();
        assert!(out.status.success(), "tshark -r {view:?}");
        let evs = events(&out.stdout, false, 4096);
        assert_eq!(
            evs.len(),
            3 * calls,
            "{view:?}: one event per response frame"
        );
        for (e, want) in evs.iter().zip(one_call.iter().cycle()) {
            assert_eq!(e.code, want.0, "{view:?}");
            if view.len() > 2 || want.0 != 180 {
                // The packet list names the method only for 200s; -V always.
                assert_eq!(e.method, want.1, "{view:?}");
            }
            if view.len() > 2 {
                assert!(e.call_id.ends_with("@127.0.0.1"), "{view:?}: {}", e.call_id);
            }
        }
    }

    // The generated Wireshark post-dissector, run by the same tshark over the capture.
    let script = dir.join("sipannotate.lua");
    let lua = Command::new(env!("CARGO_BIN_EXE_sipannotate"))
        .args(["generate", "wireshark-lua", "--no-patterns-dir"])
        .output()
        .unwrap();
    assert!(lua.status.success());
    std::fs::write(&script, &lua.stdout).unwrap();
    // tshark with the script: the frames `filter` selects, `fields` joined by '|'.
    let with_lua = |filter: &str, fields: &[&str]| -> String {
        let mut cmd = Command::new(&tshark);
        cmd.arg("-X")
            .arg(format!("lua_script:{}", script.display()))
            .arg("-r")
            .arg(&pcap)
            .args(["-Y", filter, "-T", "fields", "-E", "separator=|"]);
        for f in fields {
            cmd.args(["-e", f]);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let stdout = with_lua(
        "sipannotate.class == 2",
        &[
            "sipannotate.code",
            "sipannotate.class_name",
            "sipannotate.meaning",
        ],
    );
    let rows: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        rows.len(),
        2 * calls,
        "two 200s a call pass sipannotate.class == 2:\n{stdout}"
    );
    let ok = catalog().kb.lookup(200);
    for row in rows {
        let cols: Vec<&str> = row.split('|').collect();
        assert_eq!(cols[0], "200", "{row}");
        assert_eq!(cols[1], ok.class.name, "{row}");
        assert_eq!(cols[2], ok.texts().meaning, "{row}");
    }
    let ringing = with_lua("sipannotate.code == 180", &["sipannotate.fix"]);
    assert_eq!(ringing.lines().count(), calls);
    assert!(
        ringing
            .lines()
            .all(|l| l == catalog().kb.lookup(180).texts().fix),
        "{ringing}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A proxy that relays INVITEs to the SIPp server and accounts them with
/// the acc module (answered, and missed for a 404 it gives itself).
const KAMAILIO_MODULES: [&str; 5] = ["tm", "sl", "pv", "textops", "acc"];
const KAMAILIO_CFG: &str = r#"
modparam("acc", "log_flag", 1)
modparam("acc", "log_missed_flag", 2)
modparam("acc", "failed_transaction_flag", 3)
request_route {
    if (is_method("INVITE")) { setflag(1); setflag(2); setflag(3); }
    if ($rU == "nobody") { t_newtran(); t_reply("404", "Not Found"); exit; }
    $du = "sip:127.0.0.1:UAS_PORT";
    t_relay();
}
"#;

#[test]
fn real_kamailio_acc_records_are_annotated() {
    let dir = std::env::temp_dir().join(format!("sipannotate-kamailio-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (proxy_port, uas_port) = (free_udp_port(), free_udp_port());
    let config = kamailio_config(
        proxy_port,
        &KAMAILIO_MODULES,
        &KAMAILIO_CFG.replace("UAS_PORT", &uas_port.to_string()),
    );
    let log = dir.join("kamailio.log");
    // -e: log in colour, as admins run it in a terminal.
    let proxy = start_kamailio(&dir, &config, &log, &["-e"]);
    let (answered, missed) = (3, 2);
    let mut uas = sipp_uas(uas_port, answered, &[]);
    // SIPp's own statistics of each client run, to check our KPIs against.
    let mut sipp_counts = Vec::new();
    for (user, calls) in [("service", answered), ("nobody", missed)] {
        let stat_file = dir.join(format!("sipp-{user}.csv"));
        let mut uac = sipp_uac(
            proxy_port,
            calls,
            &[
                OsStr::new("-s"),
                OsStr::new(user),
                OsStr::new("-trace_stat"),
                OsStr::new("-stf"),
                stat_file.as_os_str(),
            ],
        );
        // The 404 calls count as failed for SIPp; only completion matters here.
        assert!(
            wait_bounded(&mut uac, Duration::from_secs(30)).is_some(),
            "SIPp client hung"
        );
        sipp_counts.push(sipp_final_counts(&stat_file));
    }
    let _ = wait_bounded(&mut uas, Duration::from_secs(10));
    proxy.stop();

    let data = std::fs::read(&log).unwrap();
    let evs = events(&data, false, 4096);
    let acc: Vec<_> = evs
        .iter()
        .filter(|e| catalog().formats[e.format].id == "kamailio.acc")
        .collect();
    let raw_acc = data
        .split(|b| *b == b'\n')
        .filter(|l| l.windows(5).any(|w| w == b"ACC: "))
        .count();
    assert_eq!(
        acc.len(),
        raw_acc,
        "every acc record Kamailio wrote is an event"
    );
    let ok: Vec<_> = acc.iter().filter(|e| e.code == 200).collect();
    let not_found: Vec<_> = acc.iter().filter(|e| e.code == 404).collect();
    assert_eq!(ok.len(), answered, "answered INVITEs");
    // A rejected INVITE is logged twice: "call missed" and "transaction answered".
    assert_eq!(not_found.len(), 2 * missed, "404 records");
    for e in &acc {
        assert_eq!(e.method, "INVITE");
        assert!(e.call_id.ends_with("@127.0.0.1"), "{}", e.call_id);
        assert!(e.ts.ends_with('Z'), "acc timestamp= becomes UTC: {}", e.ts);
    }
    assert!(not_found.iter().all(|e| e.reason == "Not Found"));
    let (kept, _) = strip_annotations(&text_output(&data, 4096));
    assert_eq!(kept, data);

    // `stats` over the same log agrees with SIPp's own counts: successful
    // calls are answered attempts, failed calls are the rejected ones, and
    // Kamailio's two acc records of each 404 count as one answer.
    let successful: u64 = sipp_counts.iter().map(|c| c.0).sum();
    let failed: u64 = sipp_counts.iter().map(|c| c.1).sum();
    assert_eq!(
        (successful, failed),
        (answered as u64, missed as u64),
        "SIPp's view"
    );
    let stats = stats_json(&log);
    assert_eq!(stats["by_code"]["200"], successful, "{stats}");
    assert_eq!(stats["by_code"]["404"], failed, "{stats}");
    assert_eq!(stats["counts"]["attempts"], successful + failed);
    assert_eq!(stats["flows"]["answered"], successful);
    assert_eq!(stats["flows"]["rejected"], failed);
    let ratio = 100.0 * successful as f64 / (successful + failed) as f64;
    for kpi in ["ser", "asr"] {
        let got = stats[kpi].as_f64().unwrap();
        assert!((got - ratio).abs() < 0.01, "{kpi} {got} vs SIPp {ratio}");
    }
    assert_eq!(stats["isa"].as_f64(), Some(0.0));
    std::fs::remove_dir_all(&dir).unwrap();
}
