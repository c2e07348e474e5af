//! The HTTP outputs: Splunk HEC and Elasticsearch `_bulk`, through busy
//! answers, a token change, refused and half-refused batches, a lost
//! answer, an outage carried across a restart by the spool, and a
//! best-effort output that drops instead of holding the others up.
//!
//! Neither Splunk nor Elasticsearch/OpenSearch is in Debian's packages, so
//! the receiver here is a small HTTP server that answers as their
//! documentation says: HEC's `{"text":"Success","code":0}`, 403 "Invalid
//! token", 503 "Server is busy", 400 "Invalid data format"; `_bulk`'s
//! per-item statuses (201, 409 version conflict, 429 rejected execution,
//! 400 mapper parsing). It checks what a real one would: the
//! authorization header, gzip bodies, the envelope and action lines.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::daemon::{record, scratch, start, start_with_env};
use crate::support::*;

/// What the receiver saw and how it is told to behave.
#[derive(Default)]
struct Seen {
    /// Documents accepted, in order.
    docs: Vec<Value>,
    /// `_bulk` ids created.
    ids: BTreeSet<String>,
    requests: usize,
    gzip_requests: usize,
    /// The largest body, uncompressed.
    max_body: usize,
    /// The Authorization value accepted.
    expect_auth: String,
    refused_auth: usize,
    /// Answer 503 to this many requests.
    busy: usize,
    /// Store the next request's documents but answer 503 (a lost answer).
    lose_answer: bool,
    /// `_bulk`: answer 429 the first time for every n-th new id.
    item_busy_every: usize,
    item_busied: BTreeSet<String>,
    /// `_bulk`: documents with this Call-ID fail a mapping (400).
    unmappable_call_id: String,
}

struct Receiver {
    port: u16,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Listens on 127.0.0.1:`port` (0: any).
    fn start(port: u16, seen: Seen) -> Receiver {
        let server = tiny_http::Server::http(("127.0.0.1", port)).unwrap();
        let port = server.server_addr().to_ip().unwrap().port();
        let seen = Arc::new(Mutex::new(seen));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                let Ok(Some(mut req)) = server.recv_timeout(Duration::from_millis(50)) else {
                    continue;
                };
                let mut body = Vec::new();
                req.as_reader().read_to_end(&mut body).unwrap();
                let header = |name: &'static str| {
                    req.headers()
                        .iter()
                        .find(|h| h.field.equiv(name))
                        .map(|h| h.value.as_str().to_string())
                };
                let gzip = header("Content-Encoding").as_deref() == Some("gzip");
                if gzip {
                    let mut plain = Vec::new();
                    flate2::read::GzDecoder::new(&body[..])
                        .read_to_end(&mut plain)
                        .unwrap();
                    body = plain;
                }
                let auth = header("Authorization").unwrap_or_default();
                let (status, answer) =
                    answer(&mut s.lock().unwrap(), req.url(), &auth, gzip, &body);
                let _ = req.respond(
                    tiny_http::Response::from_string(answer.to_string()).with_status_code(status),
                );
            }
        });
        Receiver {
            port,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap()
    }

    /// Waits until `want` documents arrived (or a time limit).
    fn wait_docs(&self, want: usize, limit: Duration) {
        let until = Instant::now() + limit;
        while self.seen().docs.len() < want && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The receiver's answer to one request.
fn answer(s: &mut Seen, url: &str, auth: &str, gzip: bool, body: &[u8]) -> (u16, Value) {
    s.requests += 1;
    s.gzip_requests += usize::from(gzip);
    s.max_body = s.max_body.max(body.len());
    if auth != s.expect_auth {
        s.refused_auth += 1;
        return (403, json!({"text": "Invalid token", "code": 4}));
    }
    if s.busy > 0 {
        s.busy -= 1;
        return (503, json!({"text": "Server is busy", "code": 9}));
    }
    let (status, answer) = if url == "/services/collector/event" {
        hec(s, body)
    } else if url == "/_bulk" {
        bulk(s, body)
    } else {
        (404, json!({"text": "not found"}))
    };
    if std::mem::take(&mut s.lose_answer) {
        return (503, json!({"text": "Server is busy", "code": 9}));
    }
    (status, answer)
}

fn hec(s: &mut Seen, body: &[u8]) -> (u16, Value) {
    let mut batch = Vec::new();
    for (i, v) in serde_json::Deserializer::from_slice(body)
        .into_iter::<Value>()
        .enumerate()
    {
        match v {
            Ok(v) if v["event"].is_object() => batch.push(v),
            _ => {
                return (
                    400,
                    json!({"text": "Invalid data format", "code": 6, "invalid-event-number": i}),
                )
            }
        }
    }
    s.docs.extend(batch);
    (200, json!({"text": "Success", "code": 0}))
}

fn bulk(s: &mut Seen, body: &[u8]) -> (u16, Value) {
    let text = String::from_utf8(body.to_vec()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len().is_multiple_of(2), "action and document pairs");
    let mut items = Vec::new();
    let mut errors = false;
    for pair in lines.chunks(2) {
        let action: Value = serde_json::from_str(pair[0]).unwrap();
        let doc: Value = serde_json::from_str(pair[1]).unwrap();
        let create = &action["create"];
        let id = create["_id"].as_str().expect("an _id").to_string();
        assert_eq!(create["_index"], "sip-events");
        let status = if s.ids.contains(&id) {
            409
        } else if doc["sip"]["call_id"] == s.unmappable_call_id.as_str() {
            400
        } else if s.item_busy_every > 0
            && (s.ids.len() + s.item_busied.len()).is_multiple_of(s.item_busy_every)
            && s.item_busied.insert(id.clone())
        {
            429
        } else {
            s.ids.insert(id.clone());
            s.docs.push(doc);
            201
        };
        errors |= status >= 300;
        let mut item = json!({"_index": "sip-events", "_id": id, "status": status});
        match status {
            409 => item["error"] = json!({"type": "version_conflict_engine_exception"}),
            400 => {
                item["error"] = json!({"type": "mapper_parsing_exception", "reason": "failed to parse field [sip.call_id]"})
            }
            429 => item["error"] = json!({"type": "es_rejected_execution_exception"}),
            _ => {}
        }
        items.push(json!({ "create": item }));
    }
    (200, json!({"took": 3, "errors": errors, "items": items}))
}

fn daemon_config(dir: &Path, log: &Path, extra_daemon: &str, outputs: &str) -> std::path::PathBuf {
    let p = dir.join("sipannotate.toml");
    fs::write(
        &p,
        format!(
            "[daemon]\nstate_directory = \"{}\"\npoll_interval_ms = 50\ncheckpoint_interval_secs = 1\ndrain_timeout_secs = 3\n{extra_daemon}\n\
             [[input]]\ntype = \"file\"\nname = \"logs\"\npaths = [\"{}\"]\nread_from = \"beginning\"\n\n{outputs}",
            dir.join("state").display(),
            log.display()
        ),
    )
    .unwrap();
    p
}

fn append(log: &Path, from: u64, to: u64) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    for n in from..to {
        f.write_all(&record(n)).unwrap();
    }
}

/// The Call-ID numbers of HEC envelopes, in arrival order.
fn hec_call_ids(docs: &[Value]) -> Vec<u64> {
    docs.iter()
        .map(|d| {
            d["event"]["call_id"].as_str().unwrap()[1..]
                .parse()
                .unwrap()
        })
        .collect()
}

#[test]
fn splunk_hec_gets_every_event_once_in_order_through_busy_answers_and_a_token_change() {
    let dir = scratch("http-hec");
    let token = dir.join("hec.token");
    fs::write(&token, "tok-1\n").unwrap();
    let rx = Receiver::start(
        0,
        Seen {
            expect_auth: "Splunk tok-1".into(),
            busy: 2,
            ..Seen::default()
        },
    );
    let log = dir.join("pbx.log");
    append(&log, 0, 300);
    let cfg = daemon_config(
        &dir,
        &log,
        "",
        &format!(
            "[[output]]\ntype = \"hec\"\nurl = \"http://127.0.0.1:{}/services/collector/event\"\n\
             token_file = \"{}\"\nmax_batch_bytes = 65536\noptions = {{ hec_index = \"voice\" }}\n",
            rx.port,
            token.display()
        ),
    );
    let mut daemon = start(&cfg, Stdio::null());
    rx.wait_docs(300, Duration::from_secs(20));
    // The token is rotated: the receiver refuses the old one until the
    // daemon reads the file again.
    fs::write(&token, "tok-2\n").unwrap();
    rx.seen().expect_auth = "Splunk tok-2".into();
    append(&log, 300, 400);
    rx.wait_docs(400, Duration::from_secs(30));
    terminate(&mut daemon);
    let seen = rx.seen();
    assert_eq!(
        hec_call_ids(&seen.docs),
        (0..400).collect::<Vec<_>>(),
        "every event once, in order"
    );
    assert!(seen.refused_auth >= 1, "the old token was refused");
    assert_eq!(
        seen.gzip_requests, seen.requests,
        "every body gzip-compressed"
    );
    assert!(
        seen.max_body <= 65536 + 4096,
        "bodies cut at max_batch_bytes: {} bytes",
        seen.max_body
    );
    let first = &seen.docs[0];
    assert_eq!(first["sourcetype"], "sipannotate:response");
    assert_eq!(first["index"], "voice");
    assert_eq!(first["event"]["code"], 486);
    assert_eq!(first["fields"]["sip_code"], "486");
    let err = fs::read_to_string(dir.join("daemon.err")).unwrap();
    assert!(
        err.contains("HTTP 503") && err.contains("credentials refused"),
        "{err}"
    );
}

#[test]
fn elasticsearch_bulk_retries_refused_items_adds_no_duplicates_and_counts_rejects() {
    let dir = scratch("http-bulk");
    let rx = Receiver::start(
        0,
        Seen {
            expect_auth: "Basic ZWxhc3RpYzpzM2NyZXQ=".into(), // elastic:s3cret
            lose_answer: true,
            item_busy_every: 7,
            unmappable_call_id: "c9".into(),
            ..Seen::default()
        },
    );
    let log = dir.join("pbx.log");
    append(&log, 0, 200);
    let cfg = daemon_config(
        &dir,
        &log,
        "stats_interval_secs = 1",
        &format!(
            "[[output]]\ntype = \"elasticsearch\"\nurl = \"http://127.0.0.1:{}\"\nindex = \"sip-events\"\n\
             username = \"elastic\"\ntoken_env = \"SIPANNOTATE_TEST_ES_PASSWORD\"\ngzip = false\n\n\
             [[output]]\ntype = \"file\"\npath = \"{}\"\nfilter = {{ types = [\"stats\"] }}\n",
            rx.port,
            dir.join("stats.json").display()
        ),
    );
    let mut daemon = start_with_env(
        &cfg,
        Stdio::null(),
        &[("SIPANNOTATE_TEST_ES_PASSWORD", "s3cret")],
    );
    rx.wait_docs(199, Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(1500)); // a stats event after the last batch
    terminate(&mut daemon);
    let seen = rx.seen();
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for d in &seen.docs {
        *count
            .entry(d["sip"]["call_id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let want: BTreeSet<String> = (0..200)
        .filter(|&n| n != 9)
        .map(|n| format!("c{n}"))
        .collect();
    assert_eq!(
        count.keys().cloned().collect::<BTreeSet<_>>(),
        want,
        "all but the unmappable one"
    );
    assert!(
        count.values().all(|&c| c == 1),
        "no duplicates after the lost answer"
    );
    assert!(
        !seen.item_busied.is_empty(),
        "some items were refused for now and retried"
    );
    assert_eq!(seen.gzip_requests, 0, "gzip = false");
    let stats = fs::read_to_string(dir.join("stats.json")).unwrap();
    let last: Value = serde_json::from_str(stats.lines().last().expect("a stats event")).unwrap();
    let out = &last["outputs"][format!("elasticsearch http://127.0.0.1:{}", rx.port)];
    assert_eq!(out["rejected_records"], 1, "{last}");
    assert_eq!(out["delivered_records"], 199, "{last}");
    assert_eq!(out["up"], true);
}

#[test]
fn a_spool_carries_an_outage_across_a_restart_and_delivers_in_order() {
    let dir = scratch("http-spool");
    let port = free_port(); // nobody listens yet
    let token = dir.join("hec.token");
    fs::write(&token, "t").unwrap();
    let spool = dir.join("spool");
    let log = dir.join("pbx.log");
    append(&log, 0, 150);
    let cfg = daemon_config(
        &dir,
        &log,
        "",
        &format!(
            "[[output]]\ntype = \"hec\"\nurl = \"http://127.0.0.1:{port}/services/collector/event\"\n\
             token_file = \"{}\"\nqueue = {{ spool_dir = \"{}\" }}\n",
            token.display(),
            spool.display()
        ),
    );
    let mut daemon = start(&cfg, Stdio::null());
    let spooled = |dir: &Path| -> usize {
        fs::read_dir(dir).map_or(0, |d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".spool"))
                .count()
        })
    };
    let until = Instant::now() + Duration::from_secs(20);
    let checkpoint = dir.join("state/checkpoints.json");
    let log_len = fs::metadata(&log).unwrap().len().to_string();
    while Instant::now() < until
        && !(spooled(&spool) > 0
            && fs::read_to_string(&checkpoint).is_ok_and(|c| c.contains(&log_len)))
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(spooled(&spool) > 0, "the outage went to the spool");
    assert!(
        fs::read_to_string(&checkpoint).unwrap().contains(&log_len),
        "positions advanced past what is spooled"
    );
    terminate(&mut daemon);
    // The receiver is back; the daemon starts again and delivers the
    // spool before the new lines.
    let rx = Receiver::start(
        port,
        Seen {
            expect_auth: "Splunk t".into(),
            ..Seen::default()
        },
    );
    append(&log, 150, 200);
    let mut daemon = start(&cfg, Stdio::null());
    rx.wait_docs(200, Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(300));
    terminate(&mut daemon);
    assert_eq!(
        hec_call_ids(&rx.seen().docs),
        (0..200).collect::<Vec<_>>(),
        "each event once, in order, across the restart"
    );
    assert_eq!(spooled(&spool), 0, "the spool is empty again");
}

#[test]
fn a_drop_newest_output_never_holds_up_the_inputs_or_the_other_outputs() {
    let dir = scratch("http-drop");
    let dead = free_port();
    let token = dir.join("hec.token");
    fs::write(&token, "t").unwrap();
    let log = dir.join("pbx.log");
    fs::File::create(&log).unwrap();
    let events = dir.join("events.json");
    let metrics = format!("127.0.0.1:{}", free_port());
    let cfg = daemon_config(
        &dir,
        &log,
        &format!("stats_interval_secs = 1\n[analysis]\nprometheus_listen = \"{metrics}\""),
        &format!(
            "[[output]]\ntype = \"hec\"\nurl = \"http://127.0.0.1:{dead}/services/collector/event\"\n\
             token_file = \"{}\"\nqueue = {{ max_bytes = 100000, when_full = \"drop_newest\" }}\n\n\
             [[output]]\ntype = \"file\"\npath = \"{}\"\n",
            token.display(),
            events.display()
        ),
    );
    let mut daemon = start(&cfg, Stdio::null());
    // In bursts, so that several batches meet the full queue.
    for burst in 0..8 {
        append(&log, burst * 50, burst * 50 + 50);
        std::thread::sleep(Duration::from_millis(200));
    }
    let until = Instant::now() + Duration::from_secs(20);
    let responses = |p: &Path| {
        fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"type\":\"response\""))
            .count()
    };
    while responses(&events) < 400 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let (status, exposition) = crate::analysis::http_get(&metrics, "/metrics");
    terminate(&mut daemon);
    assert!(status.contains("200"), "{status}");
    let output = format!("{{output=\"hec http://127.0.0.1:{dead}/services/collector/event\"}}");
    let metric = |name: &str| crate::analysis::series(&exposition, &format!("{name}{output}"));
    assert!(metric("sipannotate_output_dropped_records_total").unwrap() > 0.0);
    assert_eq!(metric("sipannotate_output_up"), Some(0.0));
    assert_eq!(
        metric("sipannotate_output_delivered_records_total"),
        Some(0.0)
    );
    assert_eq!(responses(&events), 400, "the file output got everything");
    let text = fs::read_to_string(&events).unwrap();
    let stats: Value = serde_json::from_str(
        text.lines()
            .rfind(|l| l.contains("\"type\":\"stats\""))
            .expect("a stats event"),
    )
    .unwrap();
    let out = &stats["outputs"][format!("hec http://127.0.0.1:{dead}/services/collector/event")];
    let dropped = out["dropped_records"].as_u64().unwrap();
    assert!(dropped > 0 && dropped < 400, "{out}");
    assert_eq!(out["delivered_records"], 0);
    assert_eq!(out["up"], false);
    let err = fs::read_to_string(dir.join("daemon.err")).unwrap();
    assert!(
        err.contains("dropped (when_full = \"drop_newest\")"),
        "{err}"
    );
}

/// Events per second through each kind of output, from a file of
/// `SINK_BENCH_EVENTS` records (default 50 000) read from the beginning
/// until the receiver has them all. Run by hand:
/// `cargo test --release --test integration sink_throughput -- --ignored --nocapture`.
#[test]
#[ignore = "a benchmark: prints figures, asserts only completeness"]
fn sink_throughput() {
    let n: u64 = std::env::var("SINK_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let dir = scratch("sink-bench");
    let log = dir.join("pbx.log");
    append(&log, 0, n);
    let token = dir.join("t");
    fs::write(&token, "t").unwrap();
    let run = |name: &str, output: &str, arrived: &dyn Fn() -> u64| {
        let d = dir.join(name);
        fs::create_dir_all(&d).unwrap();
        let cfg = daemon_config(&d, &log, "channel_capacity = 8192", output);
        let t = Instant::now();
        let mut daemon = start(&cfg, Stdio::null());
        let until = Instant::now() + Duration::from_secs(300);
        while arrived() < n && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        let secs = t.elapsed().as_secs_f64();
        terminate(&mut daemon);
        assert_eq!(arrived(), n, "{name}: every event arrived");
        eprintln!(
            "{name:<34} {n} events {secs:6.2} s {:>8.0} events/s",
            n as f64 / secs
        );
    };
    let lines =
        |p: &Path| fs::read(p).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count() as u64);
    let file = dir.join("events.json");
    run(
        "file, json",
        &format!(
            "[[output]]\ntype = \"file\"\npath = \"{}\"\n",
            file.display()
        ),
        &|| lines(&file),
    );
    let (udp, tcp) = (free_port(), free_port());
    let mut rsyslog = start_rsyslog(
        &dir.join("rsyslog"),
        &crate::sinks::receiver_conf(Some(udp), tcp, &dir),
        Some(udp),
        Some(tcp),
    );
    run(
        "syslog tcp, rfc5424 (rsyslog)",
        &format!("[[output]]\ntype = \"syslog\"\naddress = \"127.0.0.1:{tcp}\"\n"),
        &|| lines(&dir.join("tcp.log")),
    );
    terminate(&mut rsyslog);
    for (api, url, extra) in [
        ("hec", "/services/collector/event", ""),
        ("elasticsearch", "", "index = \"sip-events\"\n"),
    ] {
        let rx = Receiver::start(
            0,
            Seen {
                expect_auth: if api == "hec" { "Splunk t" } else { "ApiKey t" }.into(),
                ..Seen::default()
            },
        );
        run(
            &format!("{api}, gzip"),
            &format!(
                "[[output]]\ntype = \"{api}\"\nurl = \"http://127.0.0.1:{}{url}\"\ntoken_file = \"{}\"\n{extra}",
                rx.port,
                token.display()
            ),
            &|| rx.seen().docs.len() as u64,
        );
        eprintln!("  ({} requests)", rx.seen().requests);
    }
}

/// HTTPS: the receiver's certificate is checked against `tls.ca_file`
/// (Debian's `openssl s_server` as the TLS end, printing what it decrypts);
/// without the right CA nothing is sent and the log says why.
#[test]
fn https_outputs_check_the_receivers_certificate() {
    let dir = scratch("http-tls");
    crate::sinks::test_pki(&dir);
    let openssl = debian_tool("/usr/bin/openssl", "openssl", "openssl");
    let token = dir.join("t");
    fs::write(&token, "tok").unwrap();
    let log = dir.join("pbx.log");
    append(&log, 0, 5);
    let run = |name: &str, tls: &str| -> (String, String) {
        let d = dir.join(name);
        fs::create_dir_all(&d).unwrap();
        let port = free_port();
        let received = d.join("s_server.out");
        let mut server = std::process::Command::new(&openssl)
            .current_dir(&dir)
            .args([
                "s_server",
                "-quiet",
                "-accept",
                &format!("127.0.0.1:{port}"),
            ])
            .args(["-cert", "server.pem", "-key", "server.key"])
            .stdin(Stdio::piped()) // s_server closes the connection at EOF on stdin
            .stdout(fs::File::create(&received).unwrap())
            .stderr(fs::File::create(d.join("s_server.err")).unwrap())
            .spawn()
            .unwrap();
        let until = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
        let cfg = daemon_config(
            &d,
            &log,
            "",
            &format!(
                "[[output]]\ntype = \"hec\"\nurl = \"https://127.0.0.1:{port}/services/collector/event\"\n\
                 token_file = \"{}\"\ntimeout_secs = 2\n{tls}",
                token.display()
            ),
        );
        let mut daemon = start(&cfg, Stdio::null());
        // s_server never answers: the daemon sends, times out and retries.
        let err = d.join("daemon.err");
        let until = Instant::now() + Duration::from_secs(10);
        while !fs::read_to_string(&err)
            .unwrap_or_default()
            .contains("retrying")
            && Instant::now() < until
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        terminate(&mut daemon);
        // s_server prints what it decrypted once the connection closes.
        let until = Instant::now() + Duration::from_secs(3);
        let text =
            || String::from_utf8_lossy(&fs::read(&received).unwrap_or_default()).into_owned();
        while !text().contains("Authorization") && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = server.kill();
        let _ = server.wait();
        (
            text(),
            fs::read_to_string(d.join("daemon.err")).unwrap_or_default(),
        )
    };
    let ca = dir.join("ca.pem");
    let (got, _) = run(
        "right-ca",
        &format!("tls = {{ ca_file = \"{}\" }}\n", ca.display()),
    );
    assert!(
        got.contains("POST /services/collector/event HTTP/1.1")
            && got.contains("Authorization: Splunk tok")
            && got.contains("Content-Encoding: gzip"),
        "the request went through TLS: {got:.300}"
    );
    let (got, err) = run("system-roots", "");
    assert!(
        !got.contains("POST"),
        "nothing sent to an unknown issuer: {got:.300}"
    );
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}
