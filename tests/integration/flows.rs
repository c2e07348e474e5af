//! Call flows end to end: SIPp callers through a real Kamailio proxy to SIPp
//! answering sides that answer, ring busy, decline, fail, redirect, or ring
//! until the caller hangs up. Kamailio writes acc records (its log) and
//! sipdump records (every message in and out); tshark captures the same run
//! on `lo`. Our flows and KPIs over either log must agree with what SIPp
//! itself counted, and our events with `tshark -z sip,stat` per status code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::tools::*;

/// A proxy that relays every request to the answering side named by the
/// Request-URI user, accounts INVITEs (answered, missed, failed) and dumps
/// every message it receives and sends.
const PROXY_MODULES: [&str; 6] = ["tm", "sl", "pv", "textops", "acc", "sipdump"];
const PROXY_CFG: &str = r#"
modparam("acc", "log_flag", 1)
modparam("acc", "log_missed_flag", 2)
modparam("acc", "failed_transaction_flag", 3)
modparam("sipdump", "enable", 1)
modparam("sipdump", "folder", "DUMP_DIR")
modparam("sipdump", "fprefix", "sipdump-")
request_route {
    if (is_method("CANCEL")) { t_relay(); exit; }
    if (is_method("INVITE")) { setflag(1); setflag(2); setflag(3); }
ROUTES
    t_relay();
}
"#;

/// One kind of call: the Request-URI user, how many calls, and the answering
/// side's final answer (None: rings until the caller cancels; 200: SIPp's
/// built-in answering scenario).
struct Flow {
    user: &'static str,
    calls: u64,
    answer: Option<(u16, &'static str)>,
}

const FLOWS: [Flow; 6] = [
    Flow {
        user: "answer",
        calls: 4,
        answer: Some((200, "OK")),
    },
    Flow {
        user: "busy",
        calls: 3,
        answer: Some((486, "Busy Here")),
    },
    Flow {
        user: "declined",
        calls: 2,
        answer: Some((603, "Decline")),
    },
    Flow {
        user: "failing",
        calls: 1,
        answer: Some((503, "Service Unavailable")),
    },
    Flow {
        user: "moved",
        calls: 2,
        answer: Some((302, "Moved Temporarily")),
    },
    Flow {
        user: "ringing",
        calls: 1,
        answer: None,
    },
];

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/sipp")
        .join(name)
}

/// `(element index, status code) -> received` from SIPp's -trace_counts file
/// (columns `<index>_<code>_Recv`), read from the last row.
fn sipp_received(dir: &Path) -> BTreeMap<(usize, u16), u64> {
    let file = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("_counts.csv"))
        .expect("SIPp's -trace_counts file");
    let text = std::fs::read_to_string(file).unwrap();
    let rows: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let header: Vec<&str> = rows[0].split(';').collect();
    let last: Vec<&str> = rows[rows.len() - 1].split(';').collect();
    let mut out = BTreeMap::new();
    for (name, value) in header.iter().zip(last) {
        let parts: Vec<&str> = name.split('_').collect();
        if let [index, code, "Recv"] = parts[..] {
            if let (Ok(i), Ok(c), Ok(n)) = (index.parse(), code.parse(), value.trim().parse()) {
                out.insert((i, c), n);
            }
        }
    }
    out
}

/// tshark's own per-status packet counts (`-z sip,stat`).
fn tshark_status_counts(pcap: &Path) -> BTreeMap<u16, u64> {
    let out = Command::new(tshark())
        .arg("-r")
        .arg(pcap)
        .args(["-q", "-z", "sip,stat"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|l| {
            let l = l.trim().strip_prefix("SIP ")?;
            let code = l.get(..3)?.parse().ok()?;
            let count = l.rsplit(':').next()?.trim().strip_suffix(" Packets")?;
            Some((code, count.trim().parse().ok()?))
        })
        .collect()
}

#[test]
fn real_call_flows_through_kamailio_agree_with_sipp_and_tshark() {
    let dir = std::env::temp_dir().join(format!("sipannotate-flows-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let proxy_port = free_udp_port();
    let uas_ports: Vec<u16> = FLOWS.iter().map(|_| free_udp_port()).collect();
    let routes: String = FLOWS
        .iter()
        .zip(&uas_ports)
        .map(|(f, p)| {
            format!(
                "    if ($rU == \"{}\") {{ $du = \"sip:127.0.0.1:{p}\"; }}\n",
                f.user
            )
        })
        .collect();
    let config = kamailio_config(
        proxy_port,
        &PROXY_MODULES,
        &PROXY_CFG
            .replace("DUMP_DIR", dir.to_str().unwrap())
            .replace("ROUTES\n", &routes),
    );

    // The capture first, and calls only once tshark says it is capturing.
    let pcap = dir.join("calls.pcap");
    let mut capture = capture_on_lo(proxy_port, &pcap, 90, &[]);
    let acc_log = dir.join("kamailio.log");
    let proxy = start_kamailio(&dir, &config, &acc_log, &[]);

    // The answering sides.
    let mut answering = Vec::new();
    for (flow, port) in FLOWS.iter().zip(&uas_ports) {
        let mut cmd = Command::new(sipp());
        match flow.answer {
            Some((200, _)) => {
                cmd.args(["-sn", "uas"]);
            }
            Some((code, reason)) => {
                // SIPp reads status codes before any -key substitution, so
                // the reject scenario is written out per answer.
                let contact = if code == 302 {
                    format!("<sip:answer@127.0.0.1:{}>", uas_ports[0])
                } else {
                    format!("<sip:127.0.0.1:{port}>")
                };
                let xml = std::fs::read_to_string(scenario("uas-reject.xml"))
                    .unwrap()
                    .replace("@CODE@", &code.to_string())
                    .replace("@REASON@", reason)
                    .replace("@CONTACT@", &contact);
                let file = dir.join(format!("uas-{code}.xml"));
                std::fs::write(&file, xml).unwrap();
                cmd.arg("-sf").arg(file);
            }
            None => {
                cmd.arg("-sf").arg(scenario("uas-ring-cancel.xml"));
            }
        }
        let child = cmd
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-m", &flow.calls.to_string(), "-nostdin", "-timeout", "60s"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        answering.push(child);
    }
    // The answering sides bind their ports.
    std::thread::sleep(Duration::from_millis(700));

    // The callers, one run per flow, each in its own directory for SIPp's files.
    let mut received = Vec::new();
    let mut abandoned_by_sipp = 0;
    for flow in &FLOWS {
        let run_dir = dir.join(flow.user);
        std::fs::create_dir_all(&run_dir).unwrap();
        let uac = if flow.answer.is_some() {
            "uac-any-answer.xml"
        } else {
            "uac-cancel.xml"
        };
        let mut caller = Command::new(sipp())
            .current_dir(&run_dir)
            .arg("-sf")
            .arg(scenario(uac))
            .arg(format!("127.0.0.1:{proxy_port}"))
            .args(["-s", flow.user, "-i", "127.0.0.1"])
            .args(["-p", &free_udp_port().to_string()])
            .args(["-m", &flow.calls.to_string(), "-r", "10"])
            .args([
                "-nostdin",
                "-timeout",
                "30s",
                "-trace_counts",
                "-trace_stat",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        assert_eq!(
            wait_bounded(&mut caller, Duration::from_secs(40)),
            Some(0),
            "SIPp caller for {}",
            flow.user
        );
        if flow.answer.is_none() {
            let stat = std::fs::read_dir(&run_dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.to_string_lossy().ends_with("_.csv"))
                .expect("SIPp's -trace_stat file");
            abandoned_by_sipp = sipp_final_counts(&stat).0;
        }
        received.push(sipp_received(&run_dir));
    }
    for mut uas in answering {
        assert!(
            wait_bounded(&mut uas, Duration::from_secs(20)).is_some(),
            "an answering side hung"
        );
    }
    std::thread::sleep(Duration::from_millis(800));
    proxy.stop();
    terminate(&mut capture);

    // SIPp's view: the INVITE's final answers each caller received (elements
    // 3..=8 of uac-any-answer.xml). The proxy turns the 503 into a 500, as
    // RFC 3261 §16.7 tells it to.
    let final_answers = |i: usize, code: u16| -> u64 {
        received[i]
            .iter()
            .filter(|((index, c), _)| *index <= 8 && *c == code)
            .map(|(_, n)| n)
            .sum()
    };
    let sipp_view: BTreeMap<&str, u64> = [
        ("answered", final_answers(0, 200)),
        ("busy", final_answers(1, 486)),
        ("declined", final_answers(2, 603)),
        ("failed", final_answers(3, 500)),
        ("redirected", final_answers(4, 302)),
        ("abandoned", abandoned_by_sipp),
    ]
    .into_iter()
    .collect();
    let placed: BTreeMap<&str, u64> = [
        "answered",
        "busy",
        "declined",
        "failed",
        "redirected",
        "abandoned",
    ]
    .into_iter()
    .zip(FLOWS.iter().map(|f| f.calls))
    .collect();
    assert_eq!(sipp_view, placed, "SIPp saw every call end as placed");
    let attempts: u64 = placed.values().sum();

    // Our view, from Kamailio's acc log and from its sipdump records alike.
    let dump = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "data"))
        .expect("Kamailio's sipdump file");
    for log in [&acc_log, &dump] {
        let stats = stats_json(log);
        let what = log.file_name().unwrap().to_string_lossy();
        for (flow, n) in &sipp_view {
            assert_eq!(
                stats["flows"][flow], *n,
                "{what}: {flow}: {}",
                stats["flows"]
            );
        }
        assert_eq!(stats["counts"]["attempts"], attempts, "{what}");
        let pct = |n: u64, d: u64| 100.0 * n as f64 / d as f64;
        let v = &sipp_view;
        let not_redirected = attempts - v["redirected"];
        for (kpi, want) in [
            ("asr", pct(v["answered"], attempts)),
            ("ser", pct(v["answered"], not_redirected)),
            (
                "seer",
                pct(v["answered"] + v["busy"] + v["declined"], not_redirected),
            ),
            (
                "ner",
                pct(
                    v["answered"] + v["busy"] + v["declined"] + v["abandoned"],
                    attempts,
                ),
            ),
            ("isa", pct(v["failed"], attempts)),
        ] {
            let got = stats[kpi].as_f64().unwrap();
            assert!((got - want).abs() < 0.01, "{what}: {kpi} {got} vs {want}");
        }
    }

    // Every response on the wire is one event in the sipdump log: our count
    // per status code is tshark's.
    let out = Command::new(env!("CARGO_BIN_EXE_sipannotate"))
        .args(["-o", "json", "--only-matches"])
        .arg(&dump)
        .output()
        .unwrap();
    let mut ours: BTreeMap<u16, u64> = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        *ours.entry(v["code"].as_u64().unwrap() as u16).or_default() += 1;
    }
    let wire = tshark_status_counts(&pcap);
    assert!(wire.len() >= 8, "tshark saw the run: {wire:?}");
    assert_eq!(ours, wire, "events per status code vs tshark -z sip,stat");
    std::fs::remove_dir_all(&dir).unwrap();
}
