//! The syslog sinks against a real rsyslog (Debian's package, unprivileged
//! on loopback high ports): every event arrives exactly once over UDP and
//! over TCP with octet counting, fields intact; and when the receiver is
//! stopped in the middle of a run and started again, nothing is lost and
//! each input's order is kept (events sent again after the reconnect are
//! counted and reported).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::daemon::{record, scratch, start};
use crate::support::*;

/// The Call-IDs in an rsyslog output file of raw RFC 5424 messages, in order.
fn call_ids_in(path: &Path) -> Vec<u64> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let at = l.find("callId=\"c")? + 9;
            let end = l[at..].find('"')?;
            l[at..at + end].parse().ok()
        })
        .collect()
}

fn wait_distinct(path: &Path, want: usize, limit: Duration) -> Vec<u64> {
    let deadline = Instant::now() + limit;
    loop {
        let ids = call_ids_in(path);
        let distinct: std::collections::BTreeSet<_> = ids.iter().collect();
        if distinct.len() >= want || Instant::now() > deadline {
            return ids;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn receiver_conf(udp: Option<u16>, tcp: u16, dir: &Path) -> String {
    let mut c = String::from("template(name=\"raw\" type=\"string\" string=\"%rawmsg%\\n\")\n");
    c.push_str(&format!(
        "module(load=\"imtcp\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"{tcp}\" ruleset=\"tcp\")\n\
         ruleset(name=\"tcp\") {{ action(type=\"omfile\" file=\"{}\" template=\"raw\") }}\n",
        dir.join("tcp.log").display()
    ));
    if let Some(udp) = udp {
        c.push_str(&format!(
            "module(load=\"imudp\")\ninput(type=\"imudp\" address=\"127.0.0.1\" port=\"{udp}\" ruleset=\"udp\" rcvbufSize=\"8m\")\n\
             ruleset(name=\"udp\") {{ action(type=\"omfile\" file=\"{}\" template=\"raw\") }}\n",
            dir.join("udp.log").display()
        ));
    }
    c
}

fn daemon_config(dir: &Path, log: &Path, outputs: &str) -> std::path::PathBuf {
    let p = dir.join("sipannotate.toml");
    fs::write(
        &p,
        format!(
            "[daemon]\nstate_directory = \"{}\"\npoll_interval_ms = 50\nstats_interval_secs = 0\ndrain_timeout_secs = 2\n\n\
             [[input]]\ntype = \"file\"\nname = \"logs\"\npaths = [\"{}\"]\nread_from = \"beginning\"\n\n{outputs}",
            dir.join("state").display(),
            log.display()
        ),
    )
    .unwrap();
    p
}

#[test]
fn syslog_sinks_deliver_every_event_once_to_real_rsyslog_over_udp_and_tcp() {
    let dir = scratch("sink-rsyslog");
    let (udp, tcp) = (free_port(), free_port());
    let mut rsyslog = start_rsyslog(
        &dir.join("rsyslog"),
        &receiver_conf(Some(udp), tcp, &dir),
        Some(udp),
        Some(tcp),
    );
    let log = dir.join("pbx.log");
    let mut f = fs::File::create(&log).unwrap();
    for n in 0..300 {
        f.write_all(&record(n)).unwrap();
    }
    drop(f);
    let cfg = daemon_config(
        &dir,
        &log,
        &format!(
            "[[output]]\ntype = \"syslog\"\naddress = \"127.0.0.1:{udp}\"\ntransport = \"udp\"\n\n\
             [[output]]\ntype = \"syslog\"\naddress = \"127.0.0.1:{tcp}\"\ntransport = \"tcp\"\n"
        ),
    );
    let mut daemon = start(&cfg, Stdio::null());
    let over_tcp = wait_distinct(&dir.join("tcp.log"), 300, Duration::from_secs(20));
    let over_udp = wait_distinct(&dir.join("udp.log"), 300, Duration::from_secs(10));
    terminate(&mut daemon);
    terminate(&mut rsyslog);
    assert_eq!(
        over_tcp,
        (0..300).collect::<Vec<_>>(),
        "TCP: each event once, in order"
    );
    let mut u = over_udp.clone();
    u.sort_unstable();
    assert_eq!(u, (0..300).collect::<Vec<_>>(), "UDP: each event once");
    // Fields intact: rsyslog parsed our structured data.
    let first = fs::read_to_string(dir.join("tcp.log")).unwrap();
    let line = first.lines().next().unwrap();
    assert!(
        line.starts_with("<133>1 ")
            && line.contains("[sipannotate@32473 code=\"486\" class=\"4\" reason=\"Busy Here\""),
        "{line}"
    );
}

#[test]
fn a_receiver_outage_loses_nothing_and_keeps_order() {
    let dir = scratch("sink-outage");
    let tcp = free_port();
    let work = dir.join("rsyslog");
    let conf = receiver_conf(None, tcp, &dir);
    let mut rsyslog = start_rsyslog(&work, &conf, None, Some(tcp));
    let log = dir.join("pbx.log");
    fs::File::create(&log).unwrap();
    let cfg = daemon_config(
        &dir,
        &log,
        &format!("[[output]]\ntype = \"syslog\"\naddress = \"127.0.0.1:{tcp}\"\n"),
    );
    let mut daemon = start(&cfg, Stdio::null());
    let append = |from: u64, to: u64| {
        let mut f = OpenOptions::new().append(true).open(&log).unwrap();
        for n in from..to {
            f.write_all(&record(n)).unwrap();
            if n % 20 == 0 {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    };
    append(0, 200);
    wait_distinct(&dir.join("tcp.log"), 200, Duration::from_secs(10));
    // The receiver goes away while events keep coming.
    terminate(&mut rsyslog);
    append(200, 400);
    std::thread::sleep(Duration::from_millis(1500));
    append(400, 500);
    let mut rsyslog = start_rsyslog(&work, &conf, None, Some(tcp));
    append(500, 600);
    let ids = wait_distinct(&dir.join("tcp.log"), 600, Duration::from_secs(30));
    terminate(&mut daemon);
    terminate(&mut rsyslog);
    let distinct: std::collections::BTreeSet<_> = ids.iter().copied().collect();
    let lost: Vec<u64> = (0..600).filter(|n| !distinct.contains(n)).collect();
    assert!(
        lost.is_empty(),
        "{} lost, first {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    // Order per input: first appearances are in order.
    let mut seen = std::collections::BTreeSet::new();
    let firsts: Vec<u64> = ids.iter().copied().filter(|n| seen.insert(*n)).collect();
    assert_eq!(firsts, (0..600).collect::<Vec<_>>(), "order kept");
    eprintln!("receiver outage: 600 events, 0 lost, {} sent twice (the resend window after the reconnect)", ids.len() - 600);
}

#[test]
fn real_rsyslog_runs_sipannotate_as_its_mmexternal_module() {
    let dir = scratch("mmexternal");
    let udp = free_port();
    let out = dir.join("annotated.log");
    let conf = format!(
        "module(load=\"imudp\")\nmodule(load=\"mmexternal\")\n\
         template(name=\"sip\" type=\"string\" string=\"%$!sip!code%|%$!sip!call_id%|%$!sip!class_name%|%$!sip!meaning%|%msg%\\n\")\n\
         input(type=\"imudp\" address=\"127.0.0.1\" port=\"{udp}\" ruleset=\"r\")\n\
         ruleset(name=\"r\") {{\n\
           action(type=\"mmexternal\" binary=\"{bin} rsyslog-mmexternal --input fulljson --no-patterns-dir --lang en\" interface.input=\"fulljson\" forceSingleInstance=\"on\")\n\
           action(type=\"omfile\" file=\"{}\" template=\"sip\")\n\
         }}\n",
        out.display(),
        bin = env!("CARGO_BIN_EXE_sipannotate"),
    );
    let mut rsyslog = start_rsyslog(&dir.join("rsyslog"), &conf, Some(udp), None);
    let messages = [
        "ACC: call missed: timestamp=1795000000;method=INVITE;call_id=mm-1;code=486;reason=Busy Here",
        "NOTICE: <core> nothing SIP about this line",
        "ACC: transaction answered: method=BYE;call_id=mm-2;code=481;reason=Call Leg/Transaction Does Not Exist",
        "Got SIP response 503 \"Service Unavailable\" back from 10.0.0.5:5060",
    ];
    for m in &messages {
        logger(udp, &["--udp", m]);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while fs::read_to_string(&out).unwrap_or_default().lines().count() < messages.len() {
        assert!(
            Instant::now() < deadline,
            "rsyslog wrote: {:?}",
            fs::read_to_string(&out)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    terminate(&mut rsyslog);
    let text = fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].starts_with("486|mm-1|Request Failure|The callee is busy"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("|||"),
        "noise gets no $!sip: {}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("481|mm-2|Request Failure|"),
        "{}",
        lines[2]
    );
    assert!(lines[3].starts_with("503||Server Failure|"), "{}", lines[3]);
    // The messages themselves pass unchanged, in order.
    for (l, m) in lines.iter().zip(messages) {
        assert!(l.ends_with(m), "{l}");
    }
}

#[test]
fn outputs_filter_events_and_redact_users_before_they_leave() {
    let dir = scratch("sink-policy");
    let log = dir.join("in.log");
    fs::copy(repo().join("tests/data/siem-input.log"), &log).unwrap();
    let mut f = OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(b"Nov 21 10:00:09 pbx x: SIP/2.0 407 Proxy Authentication Required#012Proxy-Authorization: Digest username=\"carol\", response=\"deadbeef\"#012From: <sip:carol@example.com>;tag=9#012Call-ID: auth-1#012CSeq: 2 INVITE\n").unwrap();
    drop(f);
    let cfg = daemon_config(
        &dir,
        &log,
        &format!(
            "[[output]]\ntype = \"file\"\npath = \"{auth}\"\nfilter = {{ codes = [401, 407] }}\n\n\
             [[output]]\ntype = \"file\"\npath = \"{cef}\"\nencoding = \"cef\"\nredact = {{ users = \"mask\" }}\n\n\
             [[output]]\ntype = \"file\"\npath = \"{severe}\"\nfilter = {{ min_severity = \"error\" }}\n\n\
             [[output]]\ntype = \"file\"\npath = \"{json}\"\nredact = {{ users = \"mask\" }}\n",
            auth = dir.join("auth.json").display(),
            cef = dir.join("redacted.cef").display(),
            severe = dir.join("severe.json").display(),
            json = dir.join("redacted.json").display(),
        ),
    );
    let mut daemon = start(&cfg, Stdio::null());
    let deadline = Instant::now() + Duration::from_secs(10);
    while fs::read_to_string(dir.join("redacted.cef"))
        .unwrap_or_default()
        .lines()
        .count()
        < 6
    {
        assert!(Instant::now() < deadline, "no events");
        std::thread::sleep(Duration::from_millis(50));
    }
    terminate(&mut daemon);
    let codes = |name: &str| -> Vec<u64> {
        fs::read_to_string(dir.join(name))
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["code"]
                    .as_u64()
                    .unwrap()
            })
            .collect()
    };
    assert_eq!(codes("auth.json"), vec![401, 407]);
    assert!(
        codes("severe.json").iter().all(|&c| c == 503 || c >= 500),
        "{:?}",
        codes("severe.json")
    );
    assert!(codes("severe.json").contains(&503));
    let cef = fs::read_to_string(dir.join("redacted.cef")).unwrap();
    assert_eq!(cef.lines().count(), 6);
    for secret in ["alice", "carol", "deadbeef", "+4930123456"] {
        assert!(
            !cef.contains(secret),
            "{secret} left through redaction:\n{cef}"
        );
    }
    assert!(cef.contains("suser=***"), "{cef}");
    // The JSON event carries the raw line and From: both redacted.
    let json = fs::read_to_string(dir.join("redacted.json")).unwrap();
    assert_eq!(json.lines().count(), 6);
    for secret in ["alice", "carol", "deadbeef"] {
        assert!(
            !json.contains(secret),
            "{secret} left through redaction:\n{json}"
        );
    }
    assert!(
        json.contains("Proxy-Authorization: [redacted]#012"),
        "{json}"
    );
    assert!(json.contains("<sip:***@example.com>"), "{json}");
}

#[test]
fn real_rsyslog_hands_messages_to_sipannotate_as_its_omprog_output() {
    let dir = scratch("omprog");
    let udp = free_port();
    let events = dir.join("events.json");
    let conf = format!(
        "module(load=\"imudp\")\nmodule(load=\"omprog\")\n\
         template(name=\"full\" type=\"string\" string=\"%jsonmesg%\\n\")\n\
         input(type=\"imudp\" address=\"127.0.0.1\" port=\"{udp}\" ruleset=\"r\")\n\
         ruleset(name=\"r\") {{\n\
           action(type=\"omprog\" template=\"full\" confirmMessages=\"on\" \
                  binary=\"{bin} rsyslog-omprog --no-patterns-dir --confirm --events {}\")\n\
         }}\n",
        events.display(),
        bin = env!("CARGO_BIN_EXE_sipannotate"),
    );
    let mut rsyslog = start_rsyslog(&dir.join("rsyslog"), &conf, Some(udp), None);
    for i in 0..10 {
        let msg = if i % 2 == 0 {
            format!("ACC: call missed: method=INVITE;call_id=op-{i};code=486;reason=Busy Here")
        } else {
            format!("NOTICE: noise {i}")
        };
        logger(udp, &["--udp", &msg]);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while fs::read_to_string(&events)
        .unwrap_or_default()
        .lines()
        .count()
        < 5
    {
        assert!(
            Instant::now() < deadline,
            "omprog wrote: {:?}",
            fs::read_to_string(&events)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    terminate(&mut rsyslog);
    let ids: Vec<String> = fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["call_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids, ["op-0", "op-2", "op-4", "op-6", "op-8"]);
}

/// A test CA, a server certificate for localhost/127.0.0.1 and a client
/// certificate, made with openssl.
pub fn test_pki(dir: &Path) {
    let openssl = debian_tool("/usr/bin/openssl", "openssl", "openssl");
    let run = |args: &[&str]| {
        let out = Command::new(&openssl)
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=sipannotate test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    fs::write(
        dir.join("client.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "client.key",
        "-out",
        "client.csr",
        "-subj",
        "/CN=sipannotate",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "client.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "client.pem",
        "-days",
        "2",
        "-extfile",
        "client.ext",
    ]);
}

/// A real rsyslog with imtcp over its OpenSSL driver (test PKI made in a
/// fresh `name` directory), authenticating clients as `auth_mode` says and
/// writing what it receives to `file` there.
fn tls_receiver(name: &str, auth_mode: &str, file: &str) -> (PathBuf, u16, std::process::Child) {
    debian_tool(
        "/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_ossl.so",
        "rsyslog-openssl",
        "rsyslog's OpenSSL driver",
    );
    let dir = scratch(name);
    test_pki(&dir);
    let port = free_port();
    let conf = format!(
        "global(DefaultNetstreamDriver=\"ossl\" DefaultNetstreamDriverCAFile=\"{d}/ca.pem\" \
                DefaultNetstreamDriverCertFile=\"{d}/server.pem\" DefaultNetstreamDriverKeyFile=\"{d}/server.key\")\n\
         template(name=\"raw\" type=\"string\" string=\"%rawmsg%\\n\")\n\
         module(load=\"imtcp\" StreamDriver.Name=\"ossl\" StreamDriver.Mode=\"1\" StreamDriver.AuthMode=\"{auth_mode}\")\n\
         input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\" ruleset=\"tls\")\n\
         ruleset(name=\"tls\") {{ action(type=\"omfile\" file=\"{d}/{file}\" template=\"raw\") }}\n",
        d = dir.display()
    );
    let rsyslog = start_rsyslog(&dir.join("rsyslog"), &conf, None, Some(port));
    (dir, port, rsyslog)
}

/// `pbx.log` in `dir` with records 0..n.
fn records_file(dir: &Path, n: u64) -> PathBuf {
    let log = dir.join("pbx.log");
    let mut f = fs::File::create(&log).unwrap();
    for i in 0..n {
        f.write_all(&record(i)).unwrap();
    }
    log
}

/// An `[[output]]` to a TLS syslog receiver on 127.0.0.1:`port` with the
/// given `tls = { ... }` table body.
fn tls_output(port: u16, tls: &str) -> String {
    format!(
        "[[output]]\ntype = \"syslog\"\naddress = \"127.0.0.1:{port}\"\ntransport = \"tls\"\n\
         tls = {{ {tls} }}\n"
    )
}

/// Runs the daemon for two seconds against a receiver that must refuse it:
/// nothing may land in `received`; returns what the daemon logged.
fn refused_run(name: &str, log: &Path, output: &str, received: &Path) -> String {
    let dir = scratch(name);
    let before = call_ids_in(received).len();
    let mut daemon = start(&daemon_config(&dir, log, output), Stdio::null());
    std::thread::sleep(Duration::from_secs(2));
    terminate(&mut daemon);
    assert_eq!(
        call_ids_in(received).len(),
        before,
        "{name}: the receiver took events it should have refused"
    );
    fs::read_to_string(dir.join("daemon.err")).unwrap()
}

#[test]
fn mutual_tls_to_rsyslog_needs_the_client_certificate() {
    // The receiver wants a client certificate signed by the CA.
    let (dir, port, mut rsyslog) = tls_receiver("sink-mtls", "x509/certvalid", "mtls.log");
    let log = records_file(&dir, 50);
    let output = |client: &str| {
        tls_output(
            port,
            &format!(
                "ca_file = \"{d}/ca.pem\", server_name = \"localhost\"{client}",
                d = dir.display()
            ),
        )
    };
    // Without a client certificate rsyslog takes nothing.
    let received = dir.join("mtls.log");
    let err = refused_run("sink-mtls-anonymous", &log, &output(""), &received);
    assert!(
        call_ids_in(&received).is_empty(),
        "rsyslog took events from a client without a certificate"
    );
    assert!(
        err.contains("tls: the receiver") && err.contains("tls.cert_file"),
        "the refusal is reported with what to do: {err}"
    );
    assert!(
        !err.contains("50 delivered"),
        "refused events are not counted as delivered: {err}"
    );
    // With it: every event once, in order.
    let with_cert = format!(
        ", cert_file = \"{d}/client.pem\", key_file = \"{d}/client.key\"",
        d = dir.display()
    );
    let cfg = daemon_config(&dir, &log, &output(&with_cert));
    let mut daemon = start(&cfg, Stdio::null());
    let ids = wait_distinct(&dir.join("mtls.log"), 50, Duration::from_secs(20));
    terminate(&mut daemon);
    terminate(&mut rsyslog);
    assert_eq!(
        ids,
        (0..50).collect::<Vec<_>>(),
        "mutual TLS: each event once, in order"
    );
}

#[test]
fn tls_syslog_reaches_real_rsyslog_and_a_wrong_server_name_or_pin_is_refused() {
    let (dir, port, mut rsyslog) = tls_receiver("sink-tls", "anon", "tls.log");
    let log = records_file(&dir, 100);
    let output = |name: &str| {
        tls_output(
            port,
            &format!(
                "ca_file = \"{}\", server_name = \"{name}\"",
                dir.join("ca.pem").display()
            ),
        )
    };
    let cfg = daemon_config(&dir, &log, &output("localhost"));
    let mut daemon = start(&cfg, Stdio::null());
    let ids = wait_distinct(&dir.join("tls.log"), 100, Duration::from_secs(20));
    terminate(&mut daemon);
    assert_eq!(
        ids,
        (0..100).collect::<Vec<_>>(),
        "over TLS: each event once, in order"
    );

    // The same receiver under a name its certificate does not carry: nothing is sent.
    let received = dir.join("tls.log");
    let err = refused_run(
        "sink-tls-wrong-name",
        &log,
        &output("siem.example.net"),
        &received,
    );
    assert!(
        err.contains("NotValidForName") || err.contains("certificate"),
        "{err}"
    );

    // No CA, the receiver's certificate pinned by its SHA-256 fingerprint as
    // openssl prints it (RFC 5425 §5.2): delivered; pinned to another
    // certificate (the CA's): refused, and the log says which one it got.
    let fingerprint = |pem: &str| -> String {
        let out = Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(dir.join(pem))
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let pinned = |fp: &str| tls_output(port, &format!("fingerprints = [\"{fp}\"]"));
    let server_fp = fingerprint("server.pem");
    assert!(server_fp.contains("Fingerprint="), "{server_fp}");
    let pin_dir = scratch("sink-tls-pinned");
    let cfg = daemon_config(&pin_dir, &log, &pinned(&server_fp));
    let before = call_ids_in(&dir.join("tls.log")).len();
    let mut daemon = start(&cfg, Stdio::null());
    let deadline = Instant::now() + Duration::from_secs(20);
    while call_ids_in(&dir.join("tls.log")).len() < before + 100 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    terminate(&mut daemon);
    let all = call_ids_in(&dir.join("tls.log"));
    assert_eq!(
        all[before..].to_vec(),
        (0..100).collect::<Vec<_>>(),
        "pinned: each event once, in order"
    );
    let err = refused_run(
        "sink-tls-wrong-pin",
        &log,
        &pinned(&fingerprint("ca.pem")),
        &received,
    );
    terminate(&mut rsyslog);
    let got = server_fp.rsplit('=').next().unwrap();
    assert!(
        err.contains(&format!(
            "certificate fingerprint SHA-256:{got} is not one of tls.fingerprints"
        )),
        "{err}"
    );
}

/// Debian's syslog-ng: its package conflicts with rsyslog (both are the
/// system logger), so `.ci/run` unpacks it under /opt/syslog-ng and installs
/// only its libraries; an installed one is used when present.
fn syslog_ng() -> (PathBuf, Vec<String>, Vec<(String, String)>) {
    if Path::new("/usr/sbin/syslog-ng").exists() {
        return ("/usr/sbin/syslog-ng".into(), Vec::new(), Vec::new());
    }
    let root = Path::new("/opt/syslog-ng/usr");
    assert!(
        root.join("sbin/syslog-ng").exists(),
        "syslog-ng is needed for this test: `.ci/run` unpacks Debian's syslog-ng-core under /opt/syslog-ng"
    );
    let lib = root.join("lib/syslog-ng");
    (
        root.join("sbin/syslog-ng"),
        vec![format!("--module-path={}", lib.join("3.38").display())],
        vec![("LD_LIBRARY_PATH".into(), lib.display().to_string())],
    )
}

#[test]
fn real_syslog_ng_hands_messages_to_sipannotate_as_its_program_destination() {
    let dir = scratch("syslog-ng");
    let (binary, args, env) = syslog_ng();
    let port = free_port();
    let events = dir.join("events.json");
    // The README's destination, with the test's binary and paths.
    let conf = dir.join("syslog-ng.conf");
    fs::write(
        &conf,
        format!(
            "@version: 3.38\n\
             source s_net {{ tcp(ip(\"127.0.0.1\") port({port})); }};\n\
             destination d_sip {{ program(\"{bin} rsyslog-omprog --no-patterns-dir --input msg --events {}\"); }};\n\
             log {{ source(s_net); destination(d_sip); }};\n",
            events.display(),
            bin = env!("CARGO_BIN_EXE_sipannotate"),
        ),
    )
    .unwrap();
    let mut syslog_ng = Command::new(binary)
        .arg("-F")
        .arg("-f")
        .arg(&conf)
        .args(&args)
        .arg("-R")
        .arg(dir.join("persist"))
        .arg("-c")
        .arg(dir.join("ctl"))
        .arg("-p")
        .arg(dir.join("pid"))
        .envs(env)
        .stdout(Stdio::null())
        .stderr(fs::File::create(dir.join("syslog-ng.err")).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "syslog-ng did not start: {}",
            fs::read_to_string(dir.join("syslog-ng.err")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for i in 0..10 {
        let msg = if i % 2 == 0 {
            format!("ACC: call missed: method=INVITE;call_id=ng-{i};code=503;reason=Service Unavailable")
        } else {
            format!("NOTICE: noise {i}")
        };
        logger(port, &["--tcp", "--rfc3164", &msg]);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let ids = || -> Vec<String> {
        fs::read_to_string(&events)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                assert_eq!(v["code"], 503);
                assert_eq!(v["class_name"], "Server Failure");
                v["call_id"].as_str().unwrap().to_string()
            })
            .collect()
    };
    while ids().len() < 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    terminate(&mut syslog_ng);
    assert_eq!(ids(), ["ng-0", "ng-2", "ng-4", "ng-6", "ng-8"]);
}
