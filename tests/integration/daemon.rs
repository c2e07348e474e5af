//! The daemon with real files and processes: a writer appends status lines
//! and SIP dumps at a high rate while the file is rotated (rename + create,
//! copytruncate); the daemon is killed with SIGKILL and restarted; SIGHUP
//! with a changed and with a broken config; SIGTERM while its output is
//! blocked. Every assertion is on what came out: each record's Call-ID
//! counted in the daemon's output.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sipannotate")
}

/// A fresh directory under the target dir.
pub fn scratch(name: &str) -> PathBuf {
    let d = repo().join("target/test-scratch").join(name);
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn config(dir: &Path, inputs: &str, extra_daemon: &str) -> PathBuf {
    let text = format!(
        "[daemon]\nstate_directory = \"{state}\"\ncheckpoint_interval_secs = 1\npoll_interval_ms = 50\nstats_interval_secs = 0\ndrain_timeout_secs = 2\n{extra_daemon}\n{inputs}\n[[output]]\ntype = \"file\"\npath = \"{out}\"\n",
        state = dir.join("state").display(),
        out = dir.join("events.json").display(),
    );
    let p = dir.join("sipannotate.toml");
    fs::write(&p, text).unwrap();
    p
}

fn file_input(paths: &[&Path], extra: &str) -> String {
    let list: Vec<String> = paths
        .iter()
        .map(|p| format!("\"{}\"", p.display()))
        .collect();
    format!(
        "[[input]]\ntype = \"file\"\nname = \"logs\"\npaths = [{}]\nread_from = \"beginning\"\n{extra}\n",
        list.join(", ")
    )
}

/// Starts the daemon and waits until it says it has started.
pub fn start(config: &Path, stdout: Stdio) -> Child {
    start_with_env(config, stdout, &[])
}

/// `start`, with these environment variables set for the daemon.
pub fn start_with_env(config: &Path, stdout: Stdio, env: &[(&str, &str)]) -> Child {
    let err = config.with_file_name("daemon.err");
    let mut child = Command::new(bin())
        .args(["daemon", "--no-patterns-dir", "--config"])
        .arg(config)
        .envs(env.iter().copied())
        .stdout(stdout)
        .stderr(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&err)
                .unwrap(),
        )
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let started = fs::read_to_string(&err)
        .unwrap_or_default()
        .matches("daemon started")
        .count();
    while Instant::now() < deadline {
        let now = fs::read_to_string(&err).unwrap_or_default();
        if now.matches("daemon started").count() > started {
            return child;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "daemon did not start: {}",
        fs::read_to_string(&err).unwrap_or_default()
    );
}

/// Call-ID -> how many events carried it (and the labels of the last one).
pub fn call_ids(path: &Path) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    let Ok(f) = File::open(path) else { return m };
    for line in std::io::BufReader::new(f).lines() {
        let line = line.unwrap();
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            // A record cut by kill -9: on a line of its own, counted under "".
            *m.entry("<torn>".to_string()).or_insert(0) += 1;
            continue;
        };
        if v["type"] == "response" {
            *m.entry(v["call_id"].as_str().unwrap_or("").to_string())
                .or_insert(0) += 1;
        }
    }
    m
}

/// Waits until `want` distinct Call-IDs are in the output (or a time limit).
fn wait_for(path: &Path, want: usize, limit: Duration) -> BTreeMap<String, usize> {
    let deadline = Instant::now() + limit;
    loop {
        let ids = call_ids(path);
        let complete = ids.keys().filter(|k| *k != "<torn>").count();
        if complete >= want || Instant::now() > deadline {
            return ids;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Record `n`: every fourth a full SIP dump, the others Kamailio acc lines,
/// with noise in between. Each has the Call-ID `c<n>`.
pub fn record(n: u64) -> Vec<u8> {
    let mut r = Vec::new();
    if n.is_multiple_of(4) {
        write!(
            r,
            "[2026-11-21 10:00:00] VERBOSE[42] res_pjsip_logger.c: <--- Received SIP response (420 bytes) from UDP:127.0.0.1:5060 --->\n\
             SIP/2.0 486 Busy Here\n\
             Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-{n}\n\
             From: <sip:a@x>;tag=1\nTo: <sip:b@x>;tag=2\n\
             Call-ID: c{n}\nCSeq: 1 INVITE\nContent-Length: 0\n\n"
        )
        .unwrap();
    } else {
        writeln!(
            r,
            "Nov 21 10:00:00 pbx kamailio[7]: ACC: call missed: timestamp=1795000000;method=INVITE;call_id=c{n};code=404;reason=Not Found"
        )
        .unwrap();
    }
    writeln!(
        r,
        "Nov 21 10:00:00 pbx kamailio[7]: INFO: <core> noise line {n} with SIP/2 but no status"
    )
    .unwrap();
    r
}

/// A thread appending records to a file until stopped, reopening the path
/// when it names another file (as a logger does after rotation).
struct Writer {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<u64>,
}

impl Writer {
    /// Starts writing; every tenth record it sleeps `pace`.
    fn start(path: PathBuf, pace: Duration) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            use std::os::unix::fs::MetadataExt;
            let open = |p: &Path| {
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .unwrap()
            };
            let mut f = open(&path);
            let mut n = 0;
            while !flag.load(Ordering::SeqCst) {
                let same = fs::metadata(&path)
                    .map(|m| m.ino() == f.metadata().unwrap().ino())
                    .unwrap_or(false);
                if !same {
                    f = open(&path);
                }
                f.write_all(&record(n)).unwrap();
                n += 1;
                if n % 10 == 0 {
                    std::thread::sleep(pace);
                }
            }
            n
        });
        Writer { stop, handle }
    }

    /// Stops the writer; returns how many records it wrote.
    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().unwrap()
    }
}

/// Records not in the output, summarised: "N missing, first: [...]" or "".
/// Waits (10 s at most) until the daemon's log says `text`.
fn wait_log(err: &Path, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fs::read_to_string(err).unwrap().contains(text) {
        assert!(
            Instant::now() < deadline,
            "\"{text}\" not logged: {}",
            fs::read_to_string(err).unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn missing(ids: &BTreeMap<String, usize>, upto: u64) -> String {
    let gone: Vec<u64> = (0..upto)
        .filter(|n| !ids.contains_key(&format!("c{n}")))
        .collect();
    if gone.is_empty() {
        String::new()
    } else {
        format!(
            "{} missing, first: {:?}",
            gone.len(),
            &gone[..gone.len().min(10)]
        )
    }
}

#[test]
fn rename_and_create_rotation_20_times_loses_and_repeats_nothing() {
    let dir = scratch("rotate-rename");
    let log = dir.join("pbx.log");
    File::create(&log).unwrap();
    let cfg = config(&dir, &file_input(&[&log], ""), "");
    let mut daemon = start(&cfg, Stdio::null());
    let w = Writer::start(log.clone(), Duration::from_millis(2));
    for i in 1..=20 {
        std::thread::sleep(Duration::from_millis(300));
        // logrotate's default: rename, then the logger creates the file again.
        fs::rename(&log, dir.join(format!("pbx.log.{i}"))).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let total = w.finish();
    let ids = wait_for(
        &dir.join("events.json"),
        total as usize,
        Duration::from_secs(20),
    );
    signal(&daemon, "TERM");
    assert!(wait_exit(&mut daemon, Duration::from_secs(20)).success());
    assert!(total > 2000, "the writer wrote only {total} records");
    assert_eq!(missing(&ids, total), "", "records lost of {total}");
    let repeated: Vec<_> = ids.iter().filter(|(_, &c)| c > 1).collect();
    assert!(
        repeated.is_empty(),
        "records repeated: {:?}",
        &repeated[..repeated.len().min(10)]
    );
    assert_eq!(ids.len() as u64, total);
    eprintln!("rename+create: {total} records through 20 rotations, each exactly once");
}

/// What a copytruncate run left: records written, on disk at the end (in the
/// copies and the live file), in the live file, and the daemon's output.
struct CopytruncateRun {
    total: u64,
    on_disk: std::collections::BTreeSet<u64>,
    live: std::collections::BTreeSet<u64>,
    ids: BTreeMap<String, usize>,
}

fn ids_in(path: &Path) -> std::collections::BTreeSet<u64> {
    String::from_utf8_lossy(&fs::read(path).unwrap())
        .split(['\n', ';'])
        .filter_map(|id| {
            let id = id
                .trim_start_matches("Call-ID: ")
                .trim_start_matches("call_id=");
            id.strip_prefix('c').and_then(|d| d.parse::<u64>().ok())
        })
        .collect()
}

/// copytruncate from another thread, as logrotate does it, 20 times while
/// the writer appends; `copies_matched`: the input's glob also matches the copies.
fn copytruncate_run(name: &str, copies_matched: bool) -> CopytruncateRun {
    let dir = scratch(name);
    let log = dir.join("pbx.log");
    File::create(&log).unwrap();
    let pattern = if copies_matched {
        dir.join("pbx.log*")
    } else {
        log.clone()
    };
    let cfg = config(&dir, &file_input(&[&pattern], ""), "");
    let mut daemon = start(&cfg, Stdio::null());
    let w = Writer::start(log.clone(), Duration::from_millis(2));
    for i in 1..=20 {
        std::thread::sleep(Duration::from_millis(300));
        fs::copy(&log, dir.join(format!("pbx.log.{i}"))).unwrap();
        OpenOptions::new()
            .write(true)
            .open(&log)
            .unwrap()
            .set_len(0)
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let total = w.finish();
    let mut on_disk = std::collections::BTreeSet::new();
    for e in fs::read_dir(&dir).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with("pbx.log") {
            on_disk.extend(ids_in(&e.path()));
        }
    }
    let live = ids_in(&log);
    let want = if copies_matched {
        on_disk.len()
    } else {
        live.len()
    };
    let ids = wait_for(&dir.join("events.json"), want, Duration::from_secs(20));
    signal(&daemon, "TERM");
    assert!(wait_exit(&mut daemon, Duration::from_secs(20)).success());
    CopytruncateRun {
        total,
        on_disk,
        live,
        ids,
    }
}

fn not_emitted(set: &std::collections::BTreeSet<u64>, ids: &BTreeMap<String, usize>) -> Vec<u64> {
    set.iter()
        .copied()
        .filter(|n| !ids.contains_key(&format!("c{n}")))
        .collect()
}

/// Lines written between logrotate's copy and its truncation are in no file
/// afterwards, whoever reads (logrotate's own race). With a glob that also
/// matches the copies, the daemon recognises each copy by its fingerprint and
/// reads it from where it had read the original: nothing on disk is lost.
#[test]
fn copytruncate_rotation_20_times_loses_nothing_that_is_on_disk() {
    let run = copytruncate_run("rotate-copytruncate", true);
    let lost = not_emitted(&run.on_disk, &run.ids);
    assert!(
        lost.is_empty(),
        "{} records on disk the daemon never emitted, first: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    let repeated = run.ids.values().filter(|&&c| c > 1).count();
    eprintln!(
        "copytruncate, copies matched: {} records written, {} lost by logrotate's race (in no file), 0 lost by the daemon, {repeated} repeated",
        run.total,
        run.total - run.on_disk.len() as u64
    );
}

/// Following only the live name, what was appended after the daemon's last
/// read and before the truncation is only in the copy: the inherent window
/// of copytruncate. Everything in the live file comes out; the window is
/// measured and reported.
#[test]
fn copytruncate_on_the_live_name_only_loses_just_the_window_before_each_truncation() {
    let run = copytruncate_run("rotate-copytruncate-live", false);
    let lost_live = not_emitted(&run.live, &run.ids);
    assert!(
        lost_live.is_empty(),
        "{} records of the live file not emitted",
        lost_live.len()
    );
    let window = not_emitted(&run.on_disk, &run.ids).len();
    eprintln!(
        "copytruncate, live name only: {} records written, {window} only in the copies and not read ({:.3}% over 20 truncations)",
        run.total,
        window as f64 * 100.0 / run.total as f64
    );
}

#[test]
fn kill_9_ten_times_loses_no_status_line() {
    let dir = scratch("kill9");
    let log = dir.join("pbx.log");
    File::create(&log).unwrap();
    let cfg = config(&dir, &file_input(&[&log], ""), "");
    let w = Writer::start(log.clone(), Duration::from_millis(5));
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    for i in 0..10 {
        let mut daemon = start(&cfg, Stdio::null());
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(150 + rng % 600));
        if i == 4 {
            // A rotation while the daemon is down: the next start drains the rotated file.
            signal(&daemon, "KILL");
            let _ = daemon.wait();
            fs::rename(&log, dir.join("pbx.log.1")).unwrap();
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        signal(&daemon, "KILL");
        let _ = daemon.wait();
    }
    let total = w.finish();
    let mut daemon = start(&cfg, Stdio::null());
    let ids = wait_for(
        &dir.join("events.json"),
        total as usize,
        Duration::from_secs(30),
    );
    signal(&daemon, "TERM");
    assert!(wait_exit(&mut daemon, Duration::from_secs(20)).success());
    assert_eq!(missing(&ids, total), "", "records lost of {total}");
    // A kill can cut the record being written; it is then written again.
    let torn = ids.get("<torn>").copied().unwrap_or(0);
    assert!(torn <= 10, "{torn} cut records for 10 kills");
    let duplicates: usize = ids
        .iter()
        .filter(|(k, _)| *k != "<torn>")
        .map(|(_, c)| c - 1)
        .sum();
    eprintln!("kill -9 x10: {total} records, none lost, {duplicates} repeated (events written after the last checkpoint), {torn} records cut by a kill and written again");
}

#[test]
fn sighup_applies_a_changed_config_and_refuses_a_broken_one() {
    let dir = scratch("sighup");
    let log = dir.join("pbx.log");
    File::create(&log).unwrap();
    let cfg = config(&dir, &file_input(&[&log], "labels = { v = \"1\" }"), "");
    let mut daemon = start(&cfg, Stdio::null());
    let append = |from: u64, to: u64| {
        let mut f = OpenOptions::new().append(true).open(&log).unwrap();
        for n in from..to {
            f.write_all(&record(n)).unwrap();
        }
    };
    let labels = || -> Vec<(String, String)> {
        fs::read_to_string(dir.join("events.json"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["call_id"].as_str().unwrap().to_string(),
                    v["labels"]["v"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    append(0, 100);
    wait_for(&dir.join("events.json"), 100, Duration::from_secs(10));
    fs::write(
        &cfg,
        fs::read_to_string(&cfg)
            .unwrap()
            .replace("v = \"1\"", "v = \"2\""),
    )
    .unwrap();
    signal(&daemon, "HUP");
    let err = dir.join("daemon.err");
    wait_log(&err, "configuration reloaded");
    append(100, 200);
    let ids = wait_for(&dir.join("events.json"), 200, Duration::from_secs(10));
    // A broken config is refused; the running one goes on.
    let good = fs::read_to_string(&cfg).unwrap();
    fs::write(
        &cfg,
        good.replace("[[input]]", "[[input]]\nfollow_symlinks = true"),
    )
    .unwrap();
    signal(&daemon, "HUP");
    wait_log(&err, "reload refused");
    let msg = fs::read_to_string(&err).unwrap();
    assert!(
        msg.contains("follow_symlinks"),
        "the error names the key: {msg}"
    );
    append(200, 300);
    let after = wait_for(&dir.join("events.json"), 300, Duration::from_secs(10));
    signal(&daemon, "TERM");
    assert!(wait_exit(&mut daemon, Duration::from_secs(20)).success());

    assert_eq!(missing(&ids, 200), "");
    assert_eq!(missing(&after, 300), "");
    assert!(after.values().all(|&c| c == 1), "a reload repeated events");
    let l = labels();
    let label_of = |n: u64| {
        l.iter()
            .find(|(c, _)| *c == format!("c{n}"))
            .unwrap()
            .1
            .clone()
    };
    assert_eq!(label_of(5), "1");
    assert_eq!(label_of(150), "2");
    assert_eq!(
        label_of(250),
        "2",
        "the refused config must not have replaced the running one"
    );
}

#[test]
fn sigterm_with_a_blocked_output_ends_and_keeps_undelivered_events_for_the_next_start() {
    let dir = scratch("blocked");
    let log = dir.join("pbx.log");
    let mut f = File::create(&log).unwrap();
    for n in 0..2000 {
        f.write_all(&record(n)).unwrap();
    }
    drop(f);
    // Output to a pipe nobody reads: it fills after a few dozen events.
    let cfg = dir.join("stdout.toml");
    fs::write(
        &cfg,
        fs::read_to_string(config(&dir, &file_input(&[&log], ""), ""))
            .unwrap()
            .replace(
                &format!(
                    "type = \"file\"\npath = \"{}\"",
                    dir.join("events.json").display()
                ),
                "type = \"stdout\"",
            ),
    )
    .unwrap();
    let mut daemon = start(&cfg, Stdio::piped());
    std::thread::sleep(Duration::from_millis(1500));
    signal(&daemon, "TERM");
    let status = wait_exit(&mut daemon, Duration::from_secs(15));
    assert!(status.success(), "{status:?}");
    // What reached the pipe before the stop.
    let mut first = String::new();
    std::io::Read::read_to_string(&mut daemon.stdout.take().unwrap(), &mut first).unwrap();
    let delivered: std::collections::BTreeSet<String> = first
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["call_id"].as_str().map(str::to_string))
        .collect();
    assert!(delivered.len() < 2000, "the pipe should have blocked");
    // The next start (to a file) delivers the rest.
    let cfg2 = config(&dir, &file_input(&[&log], ""), "");
    let mut daemon = start(&cfg2, Stdio::null());
    let rest = wait_for(
        &dir.join("events.json"),
        2000 - delivered.len(),
        Duration::from_secs(15),
    );
    signal(&daemon, "TERM");
    assert!(wait_exit(&mut daemon, Duration::from_secs(15)).success());
    let lost: Vec<u64> = (0..2000)
        .filter(|n| {
            let id = format!("c{n}");
            !delivered.contains(&id) && !rest.contains_key(&id)
        })
        .collect();
    assert!(
        lost.is_empty(),
        "{} lost, first: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
}

#[test]
fn check_validates_the_shipped_config_and_names_line_and_key_of_errors() {
    let out = Command::new(bin())
        .args(["check", "--no-patterns-dir", "--config"])
        .arg(repo().join("systemd/sipannotate.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("valid") && stdout.contains("input pbx: files"),
        "{stdout}"
    );

    let dir = scratch("check");
    let bad = dir.join("bad.toml");
    fs::write(&bad, "[daemon]\npoll_interval_ms = 100\n\n[[input]]\ntype = \"file\"\npaths = [\"/var/log/x\"]\nread_form = \"end\"\n").unwrap();
    let out = Command::new(bin())
        .args(["check", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("bad.toml") && err.contains("line 4") && err.contains("read_form"),
        "{err}"
    );
}

#[test]
fn systemd_unit_verifies_and_scores_2_or_lower() {
    let analyze = debian_tool("/usr/bin/systemd-analyze", "systemd", "systemd-analyze");
    debian_tool("/usr/bin/man", "man-db", "man");
    let dir = scratch("systemd");
    // The unit as installed, with the binary where this build put it.
    let unit = fs::read_to_string(repo().join("systemd/sipannotate.service"))
        .unwrap()
        .replace("/usr/bin/sipannotate", bin());
    let path = dir.join("sipannotate.service");
    fs::write(&path, unit).unwrap();
    // Documentation=man:sipannotate(1) must resolve: install the generated page.
    fs::create_dir_all(dir.join("man/man1")).unwrap();
    let man = Command::new(bin())
        .args(["generate", "man"])
        .output()
        .unwrap();
    assert!(man.status.success());
    fs::write(dir.join("man/man1/sipannotate.1"), &man.stdout).unwrap();
    let verify = Command::new(&analyze)
        .arg("verify")
        .arg(&path)
        .env("MANPATH", dir.join("man"))
        .output()
        .unwrap();
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let security = Command::new(&analyze)
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&security.stdout);
    let level: f64 = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for sipannotate.service:")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no exposure level in: {text}{}",
                String::from_utf8_lossy(&security.stderr)
            )
        });
    assert!(level <= 2.0, "exposure {level} > 2.0:\n{text}");
}

#[test]
fn generate_writes_a_man_page_and_completions() {
    let man = Command::new(bin())
        .args(["generate", "man"])
        .output()
        .unwrap();
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(
        man.status.success()
            && page.starts_with(".ie")
            && page.contains(".SH SUBCOMMANDS")
            && page.contains("daemon")
    );
    for shell in ["bash", "zsh", "fish"] {
        let c = Command::new(bin())
            .args(["generate", "completions", shell])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&c.stdout);
        assert!(
            c.status.success() && text.contains("explain") && text.contains("--follow"),
            "{shell}"
        );
    }
}

#[test]
fn symlinks_deletion_and_files_appearing_under_a_glob_are_followed() {
    let dir = scratch("symlink-delete-glob");
    let logs = dir.join("logs");
    fs::create_dir_all(&logs).unwrap();
    let target1 = dir.join("asterisk-1.log");
    File::create(&target1).unwrap();
    let link = logs.join("full");
    std::os::unix::fs::symlink(&target1, &link).unwrap();
    let glob = logs.join("*.log");
    let cfg = config(&dir, &file_input(&[&link, &glob], ""), "");
    let mut daemon = start(&cfg, Stdio::null());
    let append = |p: &Path, from: u64, to: u64| {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .unwrap();
        for n in from..to {
            f.write_all(&record(n)).unwrap();
        }
    };
    let out = dir.join("events.json");
    append(&target1, 0, 10);
    wait_for(&out, 10, Duration::from_secs(10));
    // The link is pointed at a new file (atomically, as deploy tools do).
    let target2 = dir.join("asterisk-2.log");
    append(&target2, 10, 20);
    let tmp = logs.join(".full.tmp");
    std::os::unix::fs::symlink(&target2, &tmp).unwrap();
    fs::rename(&tmp, &link).unwrap();
    wait_for(&out, 20, Duration::from_secs(10));
    // A file appears under the glob, is deleted, and is created again.
    let kam = logs.join("kamailio.log");
    append(&kam, 20, 30);
    wait_for(&out, 30, Duration::from_secs(10));
    fs::remove_file(&kam).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    append(&kam, 30, 40);
    let ids = wait_for(&out, 40, Duration::from_secs(10));
    signal(&daemon, "TERM");
    assert!(wait_exit(&mut daemon, Duration::from_secs(20)).success());
    assert_eq!(missing(&ids, 40), "");
    assert!(ids.values().all(|&c| c == 1), "repeated: {ids:?}");
}

#[test]
fn a_sip_dump_split_by_a_rotation_still_yields_one_complete_event_and_stats_are_reported() {
    let dir = scratch("split-dump");
    let log = dir.join("pbx.log");
    fs::write(
        &log,
        "<--- Received SIP response (420 bytes) from UDP:127.0.0.1:5060 --->\nSIP/2.0 503 Service Unavailable\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-x\n",
    )
    .unwrap();
    let cfg = config(
        &dir,
        &file_input(&[&log], ""),
        // A flush timeout longer than the rotation takes, as on a busy host.
        "flush_timeout_ms = 3000\n",
    );
    let text = fs::read_to_string(&cfg)
        .unwrap()
        .replace("stats_interval_secs = 0", "stats_interval_secs = 1");
    fs::write(&cfg, text).unwrap();
    let mut daemon = start(&cfg, Stdio::null());
    std::thread::sleep(Duration::from_millis(300));
    fs::rename(&log, dir.join("pbx.log.1")).unwrap();
    fs::write(
        &log,
        "Call-ID: split-1\nCSeq: 42 INVITE\nRetry-After: 120\nContent-Length: 0\n\nNov 21 10:00:00 pbx kamailio[7]: INFO: next\n",
    )
    .unwrap();
    let ids = wait_for(&dir.join("events.json"), 1, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(1500));
    signal(&daemon, "TERM");
    assert!(wait_exit(&mut daemon, Duration::from_secs(20)).success());
    assert_eq!(ids.get("split-1"), Some(&1), "{ids:?}");
    let records: Vec<serde_json::Value> = fs::read_to_string(dir.join("events.json"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ev = records.iter().find(|r| r["type"] == "response").unwrap();
    assert_eq!(ev["code"], 503);
    assert_eq!(ev["cseq"], 42);
    assert_eq!(ev["retry_after"], 120, "{ev}");
    let stats = records
        .iter()
        .rev()
        .find(|r| r["type"] == "stats")
        .expect("a periodic stats event");
    let logs = &stats["inputs"]["logs"];
    assert_eq!(logs["rotations"], 1, "{stats}");
    assert_eq!(logs["events"], 1, "{stats}");
    assert!(logs["lines"].as_u64().unwrap() >= 8, "{stats}");
}

/// logrotate moves the events file away and sends SIGUSR1: the daemon
/// writes a new file at the configured path, losing and repeating nothing.
#[test]
fn sigusr1_reopens_the_output_file_after_logrotate_moved_it() {
    let dir = scratch("reopen");
    let log = dir.join("pbx.log");
    fs::File::create(&log).unwrap();
    let cfg = config(&dir, &file_input(&[&log], ""), "");
    let mut daemon = start(&cfg, Stdio::null());
    let append = |from: u64, to: u64| {
        let mut f = OpenOptions::new().append(true).open(&log).unwrap();
        for n in from..to {
            f.write_all(&record(n)).unwrap();
        }
    };
    let events = dir.join("events.json");
    append(0, 100);
    wait_for(&events, 100, Duration::from_secs(10));
    let rotated = dir.join("events.json.1");
    fs::rename(&events, &rotated).unwrap();
    signal(&daemon, "USR1");
    let err = dir.join("daemon.err");
    wait_log(&err, "outputs reopened");
    append(100, 200);
    let new = wait_for(&events, 100, Duration::from_secs(10));
    signal(&daemon, "TERM");
    assert!(wait_exit(&mut daemon, Duration::from_secs(20)).success());
    let old = call_ids(&rotated);
    assert_eq!(
        missing(&old, 100),
        "",
        "the rotated file has the first events"
    );
    assert_eq!(old.len(), 100, "and only those");
    let want: BTreeMap<String, usize> = (100..200).map(|n| (format!("c{n}"), 1)).collect();
    assert_eq!(new, want, "the new file has the rest, once each");
}
