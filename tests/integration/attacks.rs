//! A real attack on a real registrar. SIPVicious (Debian's sipvicious: svmap,
//! svwar, svcrack) scans, enumerates extensions and guesses a password from
//! 127.0.0.2 against Kamailio with digest authentication, while a SIPp phone
//! registers through its challenge from 127.0.0.3. Kamailio's sipdump module
//! writes every message it receives and sends; `--detect` over that file must
//! name the scanner for each stage of the attack and never the phone.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::debian_tool;
use crate::tools::*;

const SCANNER: &str = "127.0.0.2";
const PHONE: &str = "127.0.0.3";

/// A registrar for 1001 and 1002 (password `s3cret-<user>`): 404 for any
/// other user, a digest challenge, then 200. Everything it sees is dumped.
const REGISTRAR_MODULES: [&str; 5] = ["sl", "pv", "textops", "auth", "sipdump"];
const REGISTRAR_CFG: &str = r#"
modparam("sipdump", "enable", 1)
modparam("sipdump", "folder", "DUMP_DIR")
modparam("sipdump", "fprefix", "sipdump-")
request_route {
    if (!is_method("REGISTER")) { sl_send_reply("405", "Method Not Allowed"); exit; }
    if ($tU != "1001" && $tU != "1002") { sl_send_reply("404", "Not Found"); exit; }
    $var(pw) = "s3cret-" + $tU;
    if (!pv_www_authenticate("$td", "$var(pw)", "0")) {
        www_challenge("$td", "0");
        exit;
    }
    sl_send_reply("200", "OK");
}
"#;

fn sipvicious(tool: &str) -> PathBuf {
    debian_tool(&format!("/usr/bin/{tool}"), "sipvicious", "SIPVicious")
}

/// Runs a SIPVicious tool from the scanner's address. svmap binds with `-b`;
/// svwar and svcrack 0.3.3 accept `-b` but never pass it to their socket, so
/// they are started through Python with the binding address set where the
/// tool's own class takes it.
fn scan(tool: &str, class: Option<&str>, args: &[&str], home: &Path) -> Child {
    let script = sipvicious(tool);
    let mut cmd = match class {
        None => {
            let mut c = Command::new(&script);
            c.args(["-b", SCANNER]);
            c
        }
        Some(class) => {
            let mut c = Command::new("python3");
            c.arg("-c").arg(format!(
                "import sys\n\
                 sys.path.insert(0, '/usr/share/sipvicious')\n\
                 from sipvicious import {tool} as tool\n\
                 init = tool.{class}.__init__\n\
                 def bound(self, *a, **k):\n    k['bindingip'] = '{SCANNER}'\n    init(self, *a, **k)\n\
                 tool.{class}.__init__ = bound\n\
                 sys.argv = ['{tool}'] + sys.argv[1:]\n\
                 tool.main()\n"
            ));
            c
        }
    };
    cmd.args(args)
        .env("HOME", home)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn real_sipvicious_scan_is_detected_and_the_phone_registering_beside_it_is_not() {
    let dir = std::env::temp_dir().join(format!("sipannotate-attack-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_udp_port();
    let config = kamailio_config(
        port,
        &REGISTRAR_MODULES,
        &REGISTRAR_CFG.replace("DUMP_DIR", dir.to_str().unwrap()),
    );
    let registrar = start_kamailio(&dir, &config, &dir.join("kamailio.log"), &[]);

    // The phone: 15 registrations, each challenged, 5 a second, beside the attack.
    let registrations = 15;
    let scenario =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sipp/register-digest.xml");
    let mut phone = Command::new(sipp())
        .arg("-sf")
        .arg(&scenario)
        .arg(format!("127.0.0.1:{port}"))
        .args(["-i", PHONE, "-p", &free_udp_port().to_string()])
        .args(["-s", "1002", "-au", "1002", "-ap", "s3cret-1002"])
        .args(["-m", &registrations.to_string(), "-r", "5"])
        .args(["-nostdin", "-timeout", "30s", "-trace_err", "-error_file"])
        .arg(dir.join("phone-errors.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // The attack, stage by stage: find the registrar, enumerate 41
    // extensions, guess 30 passwords for one it found.
    let target = ["-p", &port.to_string(), "127.0.0.1"];
    let stages: [(&str, Option<&str>, Vec<&str>); 3] = [
        ("svmap", None, vec![]),
        ("svwar", Some("TakeASip"), vec!["-e", "1000-1040"]),
        (
            "svcrack",
            Some("ASipOfRedWine"),
            vec!["-u", "1001", "-r", "1-30"],
        ),
    ];
    let mut reports = Vec::new();
    for (tool, class, extra) in stages {
        let args: Vec<&str> = extra.iter().chain(target.iter()).copied().collect();
        let mut child = scan(tool, class, &args, &dir);
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut stdout, &mut s).ok();
            s
        });
        assert!(
            wait_bounded(&mut child, Duration::from_secs(60)).is_some(),
            "{tool} hung"
        );
        reports.push(reader.join().unwrap());
    }
    assert!(
        wait_bounded(&mut phone, Duration::from_secs(40)) == Some(0),
        "the SIPp phone did not register {registrations} times: {}",
        std::fs::read_to_string(dir.join("phone-errors.log")).unwrap_or_default()
    );
    std::thread::sleep(Duration::from_millis(300));
    registrar.stop();
    // The attack really ran: svmap found Kamailio, svwar found both users.
    assert!(reports[0].contains("kamailio"), "svmap: {}", reports[0]);
    assert!(
        reports[1].contains("1001") && reports[1].contains("1002"),
        "svwar: {}",
        reports[1]
    );

    let dump = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension() == Some(OsStr::new("data")))
        .expect("Kamailio's sipdump file");
    let text = std::fs::read_to_string(&dump).unwrap();
    let sent = |status: &str| text.matches(&format!("\nSIP/2.0 {status}")).count() as u64;

    // Every stage is named once (suppression holds the repeats), with the
    // ATT&CK technique, and only the scanner's address is ever accused.
    let findings = security_findings(&dump);
    let named: BTreeSet<(String, String, String)> = findings
        .iter()
        .map(|f| {
            (
                f["detection"].as_str().unwrap().to_string(),
                f["source"].as_str().unwrap().to_string(),
                f["mitre"]["technique"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String, String)> = [
        ("auth-failure-burst", "T1110.001"),
        ("extension-enumeration", "T1087"),
        ("scanner-user-agent", "T1595.002"),
    ]
    .iter()
    .map(|(d, t)| (d.to_string(), SCANNER.to_string(), t.to_string()))
    .collect();
    assert_eq!(named, expected, "{findings:?}");
    assert_eq!(findings.len(), 3, "one finding per stage: {findings:?}");

    // The same run in figures: every answer Kamailio sent is counted once
    // (svcrack re-sends one CSeq with a new Via branch per guess: each guess
    // is its own transaction), and the phone's registrations all succeeded.
    let stats = stats_json(&dump);
    for status in ["200", "401", "404"] {
        assert_eq!(stats["by_code"][status], sent(status), "{status}: {stats}");
    }
    assert!(sent("401") >= 30 + registrations, "{}", sent("401"));
    assert!(sent("404") >= 39, "svwar's unknown extensions");
    assert_eq!(stats["flows"]["registered"], registrations);
    assert_eq!(stats["security"]["auth-failure-burst"], 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn real_kamailio_pike_blocking_a_flood_is_reported_and_a_quiet_caller_is_not() {
    let dir = std::env::temp_dir().join(format!("sipannotate-pike-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_udp_port();
    // At most 20 requests per 2 s from one address, then pike blocks it.
    let config = kamailio_config(
        port,
        &["sl", "pv", "pike"],
        "modparam(\"pike\", \"sampling_time_unit\", 2)\n\
         modparam(\"pike\", \"reqs_density_per_unit\", 20)\n\
         modparam(\"pike\", \"remove_latency\", 4)\n\
         request_route {\n    if (!pike_check_req()) { exit; }\n    sl_send_reply(\"486\", \"Busy Here\");\n}\n",
    );
    let log = dir.join("kamailio.log");
    let proxy = start_kamailio(&dir, &config, &log, &[]);
    let caller = |from: &str, calls: &str, rate: &str| {
        Command::new(sipp())
            .args(["-sn", "uac", &format!("127.0.0.1:{port}"), "-i", from])
            .args(["-p", &free_udp_port().to_string(), "-m", calls, "-r", rate])
            .args(["-nostdin", "-timeout", "15s"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut quiet = caller(PHONE, "4", "2");
    let mut flood = caller(SCANNER, "300", "200");
    assert!(
        wait_bounded(&mut quiet, Duration::from_secs(30)).is_some(),
        "SIPp hung"
    );
    // The blocked calls would wait out Timer B; the block is logged at once.
    std::thread::sleep(Duration::from_secs(1));
    let _ = flood.kill();
    let _ = flood.wait();
    proxy.stop();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains(&format!("PIKE - BLOCKing ip {SCANNER}")),
        "pike blocked the flood: {}",
        &text[text.len().saturating_sub(2000)..]
    );
    let findings = security_findings(&log);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["detection"], "request-flood");
    assert_eq!(findings[0]["source"], SCANNER);
    assert_eq!(findings[0]["mitre"]["technique"], "T1499.002");
    std::fs::remove_dir_all(&dir).unwrap();
}
