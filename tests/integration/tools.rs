//! The real programs the end-to-end tests drive, from Debian's packages
//! (installed on demand), and the few helpers that run them bounded in time
//! and on 127.0.0.1 only.

use std::ffi::OsStr;
use std::net::UdpSocket;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::debian_tool;

pub fn sipp() -> PathBuf {
    debian_tool("/usr/bin/sipp", "sip-tester", "SIPp")
}

pub fn tshark() -> PathBuf {
    debian_tool("/usr/bin/tshark", "tshark", "tshark")
}

pub fn kamailio() -> PathBuf {
    debian_tool("/usr/sbin/kamailio", "kamailio", "Kamailio")
}

/// Starts a SIPp server on 127.0.0.1:`port` that answers `calls` calls
/// (SIPp's built-in uas scenario), with `extra` arguments; gives it a moment
/// to bind.
pub fn sipp_uas(port: u16, calls: usize, extra: &[&OsStr]) -> Child {
    let child = Command::new(sipp())
        .args(["-sn", "uas", "-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-m", &calls.to_string(), "-nostdin", "-timeout", "30s"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    child
}

/// Starts a SIPp client placing `calls` calls (20 a second) to
/// 127.0.0.1:`target` from a fresh port, with `extra` arguments.
pub fn sipp_uac(target: u16, calls: usize, extra: &[&OsStr]) -> Child {
    Command::new(sipp())
        .args([
            "-sn",
            "uac",
            &format!("127.0.0.1:{target}"),
            "-i",
            "127.0.0.1",
        ])
        .args([
            "-p",
            &free_udp_port().to_string(),
            "-m",
            &calls.to_string(),
            "-r",
            "20",
        ])
        .args(["-nostdin", "-timeout", "20s"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// A UDP port free right now and never handed out before in this process
/// (the real-tool tests run in parallel).
pub fn free_udp_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap();
    loop {
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

pub fn wait_bounded(child: &mut Child, limit: Duration) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// (SuccessfulCall, FailedCall) cumulated, from the last row of SIPp's
/// `-trace_stat` file (semicolon-separated, header first).
pub fn sipp_final_counts(path: &Path) -> (u64, u64) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut rows = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = rows.next().expect("a header").split(';').collect();
    let last: Vec<&str> = rows.next_back().expect("a row").split(';').collect();
    let col = |name: &str| -> u64 {
        let i = header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("{name} in {header:?}"));
        last[i].trim().parse().unwrap()
    };
    (col("SuccessfulCall(C)"), col("FailedCall(C)"))
}

/// A Kamailio config for the tests: one UDP listener on 127.0.0.1:`port`,
/// stderr logging, Debian's module path, the `modules` loaded, then `rest`
/// (modparams and routes).
pub fn kamailio_config(port: u16, modules: &[&str], rest: &str) -> String {
    let mut cfg = format!(
        "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nchildren=1\nlisten=udp:127.0.0.1:{port}\n\
         mpath=\"/usr/lib/x86_64-linux-gnu/kamailio/modules/\"\n"
    );
    for m in modules {
        cfg.push_str(&format!("loadmodule \"{m}.so\"\n"));
    }
    cfg.push_str(rest);
    cfg
}

/// A running Kamailio: its main process and the workers it forked, in a
/// process group of their own. Stopped (SIGTERM to the group, then SIGKILL
/// if it lingers) by `stop` or when dropped, also when a test panics: a
/// SIGKILL to the main process alone would leave the workers running.
pub struct Kamailio {
    child: Child,
}

impl Kamailio {
    /// Stops the whole group, bounded in time (Kamailio flushes its files on SIGTERM).
    pub fn stop(mut self) {
        self.stop_group();
    }

    fn stop_group(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        if wait_bounded(&mut self.child, Duration::from_secs(10)).is_none() {
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        }
        // The workers leave shortly after the main process; do not leave before them.
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5)
            && Command::new("kill")
                .args(["-0", "--", &group])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.stop_group();
        }
    }
}

/// Writes `config` into `dir`, starts Debian's Kamailio on it in the
/// foreground (`-DD -E`, plus `extra` flags) in a process group of its own
/// with its stderr in `log`, and checks that it is still running a moment
/// later (a config error ends it at once, and the panic shows its log).
pub fn start_kamailio(dir: &Path, config: &str, log: &Path, extra: &[&str]) -> Kamailio {
    let cfg = dir.join("kamailio.cfg");
    std::fs::write(&cfg, config).unwrap();
    let mut child = Command::new(kamailio())
        .arg("-f")
        .arg(&cfg)
        .args(["-DD", "-E"])
        .args(extra)
        .arg("-w")
        .arg(dir)
        .arg("-Y")
        .arg(dir)
        .arg("-P")
        .arg(dir.join("kamailio.pid"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .process_group(0)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    if child.try_wait().unwrap().is_some() {
        panic!(
            "Kamailio did not start: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
    Kamailio { child }
}

/// Sends SIGTERM (Kamailio flushes its dump files, tshark its capture) and
/// waits, bounded; SIGKILL if that is not enough.
pub fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    if wait_bounded(child, Duration::from_secs(10)).is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Starts tshark capturing UDP `port` on `lo` into `pcap` (with `extra`
/// arguments, e.g. a packet count), bounded by `-a duration:SECS`, and
/// returns once tshark says it is capturing.
pub fn capture_on_lo(port: u16, pcap: &Path, secs: u64, extra: &[&str]) -> Child {
    use std::io::{BufRead, BufReader};
    let mut capture = Command::new(tshark())
        .args(["-i", "lo", "-f", &format!("udp port {port}")])
        .args(extra)
        .args(["-a", &format!("duration:{secs}"), "-w"])
        .arg(pcap)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(capture.stderr.take().unwrap()).lines();
    let ready = lines
        .by_ref()
        .take(20)
        .map_while(Result::ok)
        .any(|l| l.contains("Capturing on"));
    assert!(ready, "tshark did not start capturing on lo");
    std::thread::spawn(move || lines.for_each(drop));
    capture
}

/// What `sipannotate ARGS LOG` prints, checked to succeed.
fn sipannotate_stdout(args: &[&str], log: &Path) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_sipannotate"))
        .args(args)
        .arg(log)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `sipannotate stats -o json` over a log, checked to succeed.
pub fn stats_json(log: &Path) -> serde_json::Value {
    serde_json::from_slice(&sipannotate_stdout(&["stats", "-o", "json"], log)).unwrap()
}

/// The `{"type":"security"}` findings of `sipannotate --detect` over a log.
pub fn security_findings(log: &Path) -> Vec<serde_json::Value> {
    let out = sipannotate_stdout(&["--detect", "-o", "json", "--only-matches"], log);
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["type"] == "security")
        .collect()
}
