//! Shared helpers: run the engine over bytes with a chosen read size, in fast
//! or exhaustive (oracle) mode, and summarise events for comparison.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use sipannotate::catalog::Catalog;
use sipannotate::event::Event;
use sipannotate::format::collect::Collector;
use sipannotate::format::text::{TextOutput, MARKER};
use sipannotate::framer::Engine;
use sipannotate::matcher::Matcher;

pub fn catalog() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(|| Catalog::builtin("en").expect("built-in catalog loads"))
}

pub fn matcher() -> &'static Matcher {
    static M: OnceLock<Matcher> = OnceLock::new();
    M.get_or_init(|| Matcher::new(catalog()).expect("matcher builds"))
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A reader that hands out at most `n` bytes per read.
pub struct Trickle<'a> {
    pub data: &'a [u8],
    pub n: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.n.min(buf.len()).min(self.data.len());
        buf[..k].copy_from_slice(&self.data[..k]);
        self.data = &self.data[k..];
        Ok(k)
    }
}

/// Runs the engine over `data` and returns the complete events.
pub fn events(data: &[u8], exhaustive: bool, read_size: usize) -> Vec<Event> {
    let mut out = Collector::default();
    let mut engine = Engine::new(catalog(), matcher(), "test");
    engine.set_exhaustive(exhaustive);
    let mut reader = Trickle { data, n: read_size };
    while engine.fill(&mut reader).unwrap() > 0 {
        engine.process_available(&mut out).unwrap();
    }
    engine.finish(&mut out).unwrap();
    out.events
}

/// Text-mode output over `data`, read `read_size` bytes at a time.
pub fn text_output(data: &[u8], read_size: usize) -> Vec<u8> {
    let mut out = TextOutput::new(catalog(), Vec::new(), false, false);
    let mut engine = Engine::new(catalog(), matcher(), "test");
    let mut reader = Trickle { data, n: read_size };
    while engine.fill(&mut reader).unwrap() > 0 {
        engine.process_available(&mut out).unwrap();
    }
    engine.finish(&mut out).unwrap();
    out.into_inner()
}

/// The text output without its annotation lines, and how many there were.
pub fn strip_annotations(output: &[u8]) -> (Vec<u8>, usize) {
    let mut kept = Vec::with_capacity(output.len());
    let mut removed = 0;
    for line in output.split_inclusive(|b| *b == b'\n') {
        if line.starts_with(MARKER.as_bytes()) {
            removed += 1;
        } else {
            kept.extend_from_slice(line);
        }
    }
    (kept, removed)
}

/// A comparable summary of an event.
pub fn summary(e: &Event) -> String {
    format!(
        "{}|{}|{}|{}|{}|{:?}|{}|{}|{}|{:?}|{}|{}|{}",
        e.line,
        e.code,
        catalog().formats[e.format].id,
        e.reason,
        e.method,
        e.cseq,
        e.call_id,
        e.src,
        e.dst,
        e.direction,
        e.ts,
        e.reason_header,
        e.warning
    )
}

/// A program from Debian's packages, installed with apt-get when missing (CI
/// runs as root; `.ci/run` installs them up front).
pub fn debian_tool(path: &str, package: &str, name: &str) -> PathBuf {
    if !Path::new(path).exists() {
        let _ = Command::new("apt-get")
            .args(["install", "-y", "-q", package])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    assert!(
        Path::new(path).exists(),
        "{name} is needed for this test: apt-get install {package} (Debian)"
    );
    PathBuf::from(path)
}

/// A port that was free a moment ago on 127.0.0.1 for both UDP and TCP.
pub fn free_port() -> u16 {
    loop {
        let t = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = t.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Starts Debian's rsyslogd in the foreground with `body` as its whole
/// configuration (work directory `work`), and waits until it listens on the
/// given UDP and TCP ports of 127.0.0.1.
pub fn start_rsyslog(
    work: &Path,
    body: &str,
    udp: Option<u16>,
    tcp: Option<u16>,
) -> std::process::Child {
    use std::time::{Duration, Instant};
    let rsyslogd = debian_tool("/usr/sbin/rsyslogd", "rsyslog", "rsyslog");
    std::fs::create_dir_all(work).unwrap();
    let conf = work.join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!("global(workDirectory=\"{}\")\n{body}", work.display()),
    )
    .unwrap();
    let err = work.join("rsyslogd.err");
    let mut child = Command::new(rsyslogd)
        .args(["-n", "-f"])
        .arg(&conf)
        .arg("-i")
        .arg(work.join("rsyslogd.pid"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let ready = || {
        udp.is_none_or(|p| std::net::UdpSocket::bind(("127.0.0.1", p)).is_err())
            && tcp.is_none_or(|p| std::net::TcpStream::connect(("127.0.0.1", p)).is_ok())
    };
    while !ready() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "rsyslogd did not start: {}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Sends a signal to a child process (`kill -SIG`).
pub fn signal(child: &std::process::Child, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} failed");
}

/// Waits for a child to exit; kills it and fails the test after `limit`.
pub fn wait_exit(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {} did not exit within {limit:?}", child.id());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// SIGTERM, then waits (bounded) for the exit.
pub fn terminate(child: &mut std::process::Child) -> std::process::ExitStatus {
    signal(child, "TERM");
    wait_exit(child, std::time::Duration::from_secs(15))
}

/// Runs util-linux `logger` against 127.0.0.1:`port` with tag kamailio and
/// `args` (transport flags, then the message or `-f FILE`).
pub fn logger(port: u16, args: &[&str]) {
    let logger = debian_tool("/usr/bin/logger", "bsdutils", "logger");
    let ok = Command::new(logger)
        .args([
            "--server",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--tag",
            "kamailio",
        ])
        .args(args)
        .status()
        .unwrap()
        .success();
    assert!(ok, "logger {args:?} failed");
}
