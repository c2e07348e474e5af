//! The daemon's configuration file (`/etc/sipannotate/sipannotate.toml`):
//! serde structs with `deny_unknown_fields`, units in the key names, defaults
//! that suit a service, and validation that names the file, the line and the
//! key of every mistake. `systemd/sipannotate.toml` documents every key.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::format::siem::SiemOptions;
pub use crate::format::Encoding;
use crate::sink::http::HttpConfig;
use crate::sink::policy::{OutputFilter, RedactConfig};
use crate::sink::queue::QueueConfig;
use crate::sink::syslog::{Framing, Transport};
use crate::sink::tls::TlsConfig;

/// Where the daemon looks for its configuration by default.
pub const DEFAULT_CONFIG: &str = "/etc/sipannotate/sipannotate.toml";
/// Where checkpoints go when neither the config nor systemd says.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/sipannotate";

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub daemon: DaemonSettings,
    #[serde(default, rename = "input")]
    pub inputs: Vec<Input>,
    #[serde(default, rename = "output")]
    pub outputs: Vec<OutputConfig>,
    #[serde(default)]
    pub analysis: AnalysisConfig,
}

/// `[analysis]`: calls, KPIs and detections over every input's events.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisConfig {
    /// Count codes and KPIs (the stats events and the Prometheus metrics).
    pub kpis: bool,
    /// Emit a `{"type":"call"}` event when each call ends.
    pub calls: bool,
    /// Run the security detections (`{"type":"security"}` events, fail2ban lines).
    pub detect: bool,
    /// Sources never reported (prefixes or addresses), added to patterns/security.toml's.
    pub allow: Vec<String>,
    /// Status codes that count as answered for ASR ("2xx", "200,486").
    pub asr_codes: String,
    /// Status codes that count as effective for NER.
    pub ner_codes: String,
    /// Calls followed at once; the oldest are closed and counted beyond it.
    pub max_calls: usize,
    /// An answered call without BYE closes after this long without a message.
    pub session_ttl_secs: u64,
    /// Serve Prometheus metrics at http://ADDR/metrics (a loopback address).
    pub prometheus_listen: Option<SocketAddr>,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        AnalysisConfig {
            kpis: true,
            calls: false,
            detect: false,
            allow: Vec::new(),
            asr_codes: "2xx".into(),
            ner_codes: "2xx,480,486,487,600,603".into(),
            max_calls: 100_000,
            session_ttl_secs: 4 * 3600,
            prometheus_listen: None,
        }
    }
}

impl AnalysisConfig {
    /// Whether the analysis stage runs at all.
    pub fn enabled(&self) -> bool {
        self.kpis || self.calls || self.detect
    }

    /// The correlator's settings (the code sets were checked by `validate`).
    pub fn settings(
        &self,
        rules: &crate::correlate::security::SecurityRules,
    ) -> crate::correlate::AnalysisSettings {
        use crate::correlate::{calls::CallSettings, kpi::CodeSet, kpi::KpiSettings};
        let mut rules = rules.clone();
        rules.allow.extend(self.allow.iter().cloned());
        crate::correlate::AnalysisSettings {
            calls: CallSettings {
                max_calls: self.max_calls.max(1),
                session_ttl_ms: self.session_ttl_secs.max(1).saturating_mul(1000) as i64,
                ..CallSettings::default()
            },
            kpi: {
                let default = KpiSettings::default();
                KpiSettings {
                    asr_codes: CodeSet::parse(&self.asr_codes).unwrap_or(default.asr_codes),
                    ner_codes: CodeSet::parse(&self.ner_codes).unwrap_or(default.ner_codes),
                }
            },
            security: self.detect.then_some(rules),
            emit_calls: self.calls,
        }
    }
}

/// `[daemon]`: settings of the whole service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonSettings {
    /// Checkpoints live here; default `$STATE_DIRECTORY`, else /var/lib/sipannotate.
    pub state_directory: Option<PathBuf>,
    pub checkpoint_interval_secs: u64,
    pub poll_interval_ms: u64,
    pub flush_timeout_ms: u64,
    pub max_line_bytes: usize,
    pub channel_capacity: usize,
    pub stats_interval_secs: u64,
    pub drain_timeout_secs: u64,
    pub max_open_files: usize,
    pub lang: String,
    pub patterns_dir: Option<PathBuf>,
}

impl Default for DaemonSettings {
    fn default() -> Self {
        DaemonSettings {
            state_directory: None,
            checkpoint_interval_secs: 5,
            poll_interval_ms: 250,
            flush_timeout_ms: 200,
            max_line_bytes: crate::framer::DEFAULT_MAX_LINE,
            channel_capacity: 4096,
            stats_interval_secs: 60,
            drain_timeout_secs: 10,
            max_open_files: 256,
            lang: "en".into(),
            patterns_dir: None,
        }
    }
}

impl DaemonSettings {
    /// The state directory: the config's, else systemd's `$STATE_DIRECTORY`
    /// (its first entry), else the default.
    pub fn state_dir(&self) -> PathBuf {
        if let Some(d) = &self.state_directory {
            return d.clone();
        }
        if let Some(v) = std::env::var_os("STATE_DIRECTORY") {
            if let Some(first) = v.to_string_lossy().split(':').next() {
                if !first.is_empty() {
                    return PathBuf::from(first);
                }
            }
        }
        PathBuf::from(DEFAULT_STATE_DIR)
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms.max(10))
    }

    pub fn flush_timeout(&self) -> Duration {
        Duration::from_millis(self.flush_timeout_ms.max(1))
    }
}

/// Where a file without a checkpoint starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ReadFrom {
    Beginning,
    #[default]
    End,
}

/// One `[[input]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Input {
    /// Files and globs, followed through rotation.
    File {
        name: Option<String>,
        paths: Vec<String>,
        #[serde(default)]
        read_from: ReadFrom,
        /// Only these format ids produce events (all when empty).
        #[serde(default)]
        formats: Vec<String>,
        #[serde(default)]
        labels: BTreeMap<String, String>,
    },
    /// A syslog listener (RFC 3164 and 5424; UDP datagrams, TCP with
    /// octet counting or newline framing).
    Syslog {
        name: Option<String>,
        listen_udp: Option<SocketAddr>,
        listen_tcp: Option<SocketAddr>,
        #[serde(default = "default_max_message")]
        max_message_bytes: usize,
        #[serde(default = "default_max_connections")]
        max_connections: usize,
        #[serde(default)]
        formats: Vec<String>,
        #[serde(default)]
        labels: BTreeMap<String, String>,
    },
    /// The systemd journal, read with `journalctl -o json`; the cursor is the checkpoint.
    Journal {
        name: Option<String>,
        /// Only these units (`journalctl -u`); all when empty.
        #[serde(default)]
        units: Vec<String>,
        /// Read journal files instead of the system journal (`journalctl --file`).
        #[serde(default)]
        files: Vec<PathBuf>,
        #[serde(default)]
        read_from: ReadFrom,
        #[serde(default)]
        formats: Vec<String>,
        #[serde(default)]
        labels: BTreeMap<String, String>,
    },
}

fn default_max_message() -> usize {
    64 * 1024
}

fn default_max_connections() -> usize {
    64
}

impl Input {
    /// The input's name: its `name`, else one made from its type and position.
    pub fn name(&self, index: usize) -> String {
        let (name, kind) = match self {
            Input::File { name, .. } => (name, "file"),
            Input::Syslog { name, .. } => (name, "syslog"),
            Input::Journal { name, .. } => (name, "journal"),
        };
        name.clone()
            .unwrap_or_else(|| format!("{kind}{}", index + 1))
    }

    pub fn labels(&self) -> &BTreeMap<String, String> {
        match self {
            Input::File { labels, .. }
            | Input::Syslog { labels, .. }
            | Input::Journal { labels, .. } => labels,
        }
    }

    pub fn formats(&self) -> &[String] {
        match self {
            Input::File { formats, .. }
            | Input::Syslog { formats, .. }
            | Input::Journal { formats, .. } => formats,
        }
    }
}

/// One `[[output]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum OutputConfig {
    Stdout {
        #[serde(default)]
        encoding: Encoding,
        /// Settings of the SIEM encodings (`[output.options]`).
        #[serde(default)]
        options: SiemOptions,
        /// Which events this output takes.
        #[serde(default)]
        filter: OutputFilter,
        /// What personal data is hidden before it leaves.
        #[serde(default)]
        redact: Option<RedactConfig>,
    },
    File {
        path: PathBuf,
        #[serde(default)]
        encoding: Encoding,
        #[serde(default)]
        options: SiemOptions,
        /// Which events this output takes.
        #[serde(default)]
        filter: OutputFilter,
        /// What personal data is hidden before it leaves.
        #[serde(default)]
        redact: Option<RedactConfig>,
    },
    /// A syslog receiver (rsyslog, syslog-ng, a SIEM's collector).
    Syslog {
        /// host:port
        address: String,
        #[serde(default)]
        transport: Transport,
        #[serde(default)]
        framing: Framing,
        #[serde(default = "default_syslog_encoding")]
        encoding: Encoding,
        #[serde(default)]
        options: SiemOptions,
        /// Which events this output takes.
        #[serde(default)]
        filter: OutputFilter,
        /// What personal data is hidden before it leaves.
        #[serde(default)]
        redact: Option<RedactConfig>,
        /// Sent again after a reconnect (plain TCP has no acknowledgement).
        #[serde(default = "default_resend_window")]
        resend_window_bytes: usize,
        /// `transport = "tls"`: CA file, client certificate, server name.
        #[serde(default)]
        tls: Option<TlsConfig>,
        /// Memory queue, spool and `when_full`.
        #[serde(default)]
        queue: QueueConfig,
    },
    /// Splunk HTTP Event Collector.
    Hec(HttpConfig),
    /// Elasticsearch or OpenSearch `_bulk`.
    Elasticsearch(HttpConfig),
}

fn default_syslog_encoding() -> Encoding {
    Encoding::Syslog
}

fn default_resend_window() -> usize {
    256 * 1024
}

impl OutputConfig {
    pub fn encoding(&self) -> Encoding {
        match self {
            OutputConfig::Stdout { encoding, .. }
            | OutputConfig::File { encoding, .. }
            | OutputConfig::Syslog { encoding, .. } => *encoding,
            OutputConfig::Hec(h) => h.encoding.unwrap_or(Encoding::Hec),
            OutputConfig::Elasticsearch(h) => h.encoding.unwrap_or(Encoding::Ecs),
        }
    }

    pub fn filter(&self) -> &OutputFilter {
        match self {
            OutputConfig::Stdout { filter, .. }
            | OutputConfig::File { filter, .. }
            | OutputConfig::Syslog { filter, .. } => filter,
            OutputConfig::Hec(h) | OutputConfig::Elasticsearch(h) => &h.filter,
        }
    }

    pub fn redact(&self) -> Option<&RedactConfig> {
        match self {
            OutputConfig::Stdout { redact, .. }
            | OutputConfig::File { redact, .. }
            | OutputConfig::Syslog { redact, .. } => redact.as_ref(),
            OutputConfig::Hec(h) | OutputConfig::Elasticsearch(h) => h.redact.as_ref(),
        }
    }

    pub fn options(&self) -> &SiemOptions {
        match self {
            OutputConfig::Stdout { options, .. }
            | OutputConfig::File { options, .. }
            | OutputConfig::Syslog { options, .. } => options,
            OutputConfig::Hec(h) | OutputConfig::Elasticsearch(h) => &h.options,
        }
    }

    /// The delivery queue of a network output.
    pub fn queue(&self) -> Option<&QueueConfig> {
        match self {
            OutputConfig::Stdout { .. } | OutputConfig::File { .. } => None,
            OutputConfig::Syslog { queue, .. } => Some(queue),
            OutputConfig::Hec(h) | OutputConfig::Elasticsearch(h) => Some(&h.queue),
        }
    }
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::new(format!(
                "{}: cannot read the config: {e} (give another with --config PATH)",
                path.display()
            ))
        })?;
        Config::parse(&text).map_err(|e| e.context(path.display()))
    }

    /// Parses and validates config text.
    pub fn parse(text: &str) -> Result<Config> {
        let config: Config =
            toml::from_str(text).map_err(|e| Error::new(toml_message(text, &e)))?;
        config.validate(text)?;
        Ok(config)
    }

    fn validate(&self, text: &str) -> Result<()> {
        if self.inputs.is_empty() {
            return Err(Error::new(
                "no [[input]]: add at least one, e.g.\n  [[input]]\n  type = \"file\"\n  paths = [\"/var/log/asterisk/full\"]",
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, input) in self.inputs.iter().enumerate() {
            let name = input.name(i);
            let at = || {
                format!(
                    "line {}: [[input]] #{} ({name})",
                    line_of_table(text, "input", i),
                    i + 1
                )
            };
            if !names.insert(name.clone()) {
                return Err(Error::new(format!("{}: name: \"{name}\" is used twice; input names must be unique (they key the checkpoints)", at())));
            }
            match input {
                Input::File { paths, .. } => {
                    if paths.is_empty() {
                        return Err(Error::new(format!(
                            "{}: paths: empty; list files or globs",
                            at()
                        )));
                    }
                    for p in paths {
                        if !p.starts_with('/') {
                            return Err(Error::new(format!("{}: paths: \"{p}\" is relative; use an absolute path (the service's working directory is /)", at())));
                        }
                        glob::Pattern::new(p).map_err(|e| {
                            Error::new(format!("{}: paths: \"{p}\" is not a valid glob: {e}", at()))
                        })?;
                    }
                }
                Input::Syslog {
                    listen_udp,
                    listen_tcp,
                    max_message_bytes,
                    ..
                } => {
                    if listen_udp.is_none() && listen_tcp.is_none() {
                        return Err(Error::new(format!(
                            "{}: set listen_udp, listen_tcp or both (e.g. \"127.0.0.1:5514\")",
                            at()
                        )));
                    }
                    if *max_message_bytes < 480 {
                        return Err(Error::new(format!("{}: max_message_bytes: {max_message_bytes} is below the 480 bytes RFC 3164 requires", at())));
                    }
                }
                Input::Journal { .. } => {}
            }
        }
        for (i, o) in self.outputs.iter().enumerate() {
            o.options().validate().map_err(|e| {
                Error::new(format!(
                    "line {}: [[output]] #{}: options.{e}",
                    line_of_table(text, "output", i),
                    i + 1
                ))
            })?;
            if o.encoding() == Encoding::Fail2ban && !self.analysis.detect {
                return Err(Error::new(format!(
                    "line {}: [[output]] #{}: encoding: \"fail2ban\" writes security detections, and they are off: set detect = true under [analysis]",
                    line_of_table(text, "output", i),
                    i + 1
                )));
            }
            if let OutputConfig::Syslog { encoding, .. } = o {
                if *encoding == Encoding::Fail2ban {
                    return Err(Error::new(format!(
                        "line {}: [[output]] #{}: encoding: \"fail2ban\" is for a file fail2ban reads (type = \"file\"), not for syslog",
                        line_of_table(text, "output", i),
                        i + 1
                    )));
                }
            }
            let place = || {
                format!(
                    "line {}: [[output]] #{}",
                    line_of_table(text, "output", i),
                    i + 1
                )
            };
            match o {
                OutputConfig::Hec(h) | OutputConfig::Elasticsearch(h) => {
                    h.validate()
                        .map_err(|e| Error::new(format!("{}: {e}", place())))?;
                    let allowed: &[Encoding] = match o {
                        OutputConfig::Hec(_) => &[Encoding::Hec],
                        _ => &[Encoding::Ecs, Encoding::Json],
                    };
                    if !allowed.contains(&o.encoding()) {
                        return Err(Error::new(format!(
                            "{}: encoding: {:?} is not for this receiver; use {}",
                            place(),
                            o.encoding(),
                            allowed
                                .iter()
                                .map(|e| format!("\"{}\"", format!("{e:?}").to_lowercase()))
                                .collect::<Vec<_>>()
                                .join(" or ")
                        )));
                    }
                }
                _ => {}
            }
            if let Some(q) = o.queue() {
                if q.spool_dir.as_ref().is_some_and(|d| !d.is_absolute()) {
                    return Err(Error::new(format!(
                        "{}: queue.spool_dir is relative; use an absolute path (e.g. under /var/lib/sipannotate)",
                        place()
                    )));
                }
            }
            if let OutputConfig::File { path, .. } = o {
                if !path.is_absolute() {
                    return Err(Error::new(format!(
                        "line {}: [[output]] #{}: path: \"{}\" is relative; use an absolute path",
                        line_of_table(text, "output", i),
                        i + 1,
                        path.display()
                    )));
                }
            }
        }
        let a = &self.analysis;
        for (key, codes) in [("asr_codes", &a.asr_codes), ("ner_codes", &a.ner_codes)] {
            crate::correlate::kpi::CodeSet::parse(codes).map_err(|e| {
                Error::new(format!(
                    "line {}: [analysis] {key}: {e}",
                    line_of_key(text, key)
                ))
            })?;
        }
        if let Some(addr) = a.prometheus_listen {
            if !addr.ip().is_loopback() {
                return Err(Error::new(format!(
                    "line {}: [analysis] prometheus_listen: {addr} is not a loopback address; the metrics have no authentication, so serve them on 127.0.0.1 or [::1] and put a reverse proxy with TLS and auth in front for remote scrapes",
                    line_of_key(text, "prometheus_listen")
                )));
            }
        }
        if self.daemon.channel_capacity == 0 {
            return Err(Error::new("[daemon] channel_capacity: must be at least 1"));
        }
        if self.daemon.max_open_files == 0 {
            return Err(Error::new("[daemon] max_open_files: must be at least 1"));
        }
        Ok(())
    }

    /// What would run, for `check`.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let d = &self.daemon;
        let _ = writeln!(s, "state directory: {}", d.state_dir().display());
        let _ = writeln!(
            s,
            "checkpoints every {} s, poll every {} ms, language {}",
            d.checkpoint_interval_secs, d.poll_interval_ms, d.lang
        );
        let a = &self.analysis;
        if a.enabled() {
            let parts: Vec<&str> = [
                (a.kpis, "KPIs (ASR codes {asr}, NER codes {ner})"),
                (a.calls, "call events"),
                (a.detect, "security detections"),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, what)| *what)
            .collect();
            let what = parts
                .join(", ")
                .replace("{asr}", &a.asr_codes)
                .replace("{ner}", &a.ner_codes);
            let _ = writeln!(s, "analysis: {what}; at most {} calls", a.max_calls);
            if let Some(addr) = a.prometheus_listen {
                let _ = writeln!(s, "metrics: http://{addr}/metrics");
            }
        } else {
            let _ = writeln!(s, "analysis: off");
        }
        for (i, input) in self.inputs.iter().enumerate() {
            let name = input.name(i);
            match input {
                Input::File {
                    paths, read_from, ..
                } => {
                    let _ = writeln!(
                        s,
                        "input {name}: files {} (new files start at the {:?})",
                        paths.join(", "),
                        read_from
                    );
                    for p in paths {
                        let matched = glob::glob(p)
                            .map(|g| g.filter_map(|r| r.ok()).count())
                            .unwrap_or(0);
                        let _ = writeln!(s, "  {p}: {matched} file(s) now");
                    }
                }
                Input::Syslog {
                    listen_udp,
                    listen_tcp,
                    ..
                } => {
                    let _ = writeln!(
                        s,
                        "input {name}: syslog listener{}{}",
                        listen_udp.map(|a| format!(" udp {a}")).unwrap_or_default(),
                        listen_tcp.map(|a| format!(" tcp {a}")).unwrap_or_default()
                    );
                }
                Input::Journal { units, files, .. } => {
                    let _ = writeln!(
                        s,
                        "input {name}: journal{}{}",
                        if units.is_empty() {
                            String::new()
                        } else {
                            format!(" units {}", units.join(", "))
                        },
                        if files.is_empty() {
                            String::new()
                        } else {
                            format!(
                                " files {}",
                                files
                                    .iter()
                                    .map(|f| f.display().to_string())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        }
                    );
                }
            }
            if !input.labels().is_empty() {
                let labels: Vec<String> = input
                    .labels()
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let _ = writeln!(s, "  labels: {}", labels.join(", "));
            }
            if !input.formats().is_empty() {
                let _ = writeln!(s, "  formats: {}", input.formats().join(", "));
            }
        }
        if self.outputs.is_empty() {
            let _ = writeln!(s, "output: stdout (json), the default");
        }
        for o in &self.outputs {
            match o {
                OutputConfig::Stdout { encoding, .. } => {
                    let _ = writeln!(s, "output: stdout ({encoding:?})");
                }
                OutputConfig::File { path, encoding, .. } => {
                    let _ = writeln!(s, "output: file {} ({encoding:?})", path.display());
                }
                OutputConfig::Syslog {
                    address,
                    transport,
                    framing,
                    encoding,
                    ..
                } => {
                    let _ = writeln!(
                        s,
                        "output: syslog {transport:?} {address} ({encoding:?}, {framing:?})"
                    );
                }
                OutputConfig::Hec(h) => {
                    let _ = writeln!(s, "output: Splunk HEC {} ({:?})", h.url, o.encoding());
                }
                OutputConfig::Elasticsearch(h) => {
                    let _ = writeln!(
                        s,
                        "output: Elasticsearch {} index {} ({:?})",
                        h.url,
                        h.index,
                        o.encoding()
                    );
                }
            }
        }
        s
    }
}

/// toml's message already says "line N, column M" and shows the line.
fn toml_message(_text: &str, e: &toml::de::Error) -> String {
    let m = e.to_string();
    m.trim_end().replace("TOML parse error", "invalid config")
}

/// The 1-based line of the `n`th `[[name]]` table header (0 if not found).
fn line_of_table(text: &str, name: &str, n: usize) -> usize {
    let header = format!("[[{name}]]");
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with(&header))
        .nth(n)
        .map_or(0, |(i, _)| i + 1)
}

/// The 1-based line where `key = ` is first set (0 if not found).
fn line_of_key(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with('='))
        })
        .map_or(0, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analysis_settings_are_checked_with_their_line() {
        let input = "[[input]]\ntype = \"file\"\npaths = [\"/var/log/a.log\"]\n";
        let err = |extra: &str| {
            Config::parse(&format!("{extra}\n{input}"))
                .unwrap_err()
                .to_string()
        };
        let e = err("[analysis]\nprometheus_listen = \"0.0.0.0:9464\"");
        assert!(e.contains("line 2") && e.contains("not a loopback"), "{e}");
        let e = err("[analysis]\nkpis = true\nasr_codes = \"2xx,abc\"");
        assert!(e.contains("line 3") && e.contains("asr_codes"), "{e}");
        let f2b = format!(
            "{input}[[output]]\ntype = \"file\"\npath = \"/tmp/f\"\nencoding = \"fail2ban\"\n"
        );
        let e = Config::parse(&f2b).unwrap_err().to_string();
        assert!(e.contains("detect = true"), "{e}");
        let ok = Config::parse(&format!(
            "[analysis]\ndetect = true\nprometheus_listen = \"[::1]:9464\"\n{f2b}"
        ))
        .unwrap();
        assert!(ok.analysis.detect && ok.analysis.kpis && !ok.analysis.calls);
        let e = err("[analysis]\ncals = true");
        assert!(e.contains("cals"), "{e}");
    }

    #[test]
    fn http_outputs_are_checked_with_their_line() {
        let input = "[[input]]\ntype = \"file\"\npaths = [\"/var/log/a.log\"]\n\n";
        let parse = |output: &str| Config::parse(&format!("{input}[[output]]\n{output}"));
        let err = |output: &str| parse(output).unwrap_err().to_string();
        let hec = "type = \"hec\"\nurl = \"https://splunk:8088/services/collector/event\"\ntoken_env = \"T\"\n";
        let c = parse(hec).unwrap();
        assert_eq!(c.outputs[0].encoding(), Encoding::Hec);
        let e = err(&format!("{hec}encoding = \"cef\"\n"));
        assert!(e.contains("line 5") && e.contains("use \"hec\""), "{e}");
        let e = err("type = \"elasticsearch\"\nurl = \"es:9200\"\n");
        assert!(e.contains("line 5") && e.contains("http://"), "{e}");
        let e = err("type = \"elasticsearch\"\nurl = \"http://u:p@es:9200\"\n");
        assert!(e.contains("token_file or token_env"), "{e}");
        let es = "type = \"elasticsearch\"\nurl = \"http://es:9200\"\n";
        assert_eq!(parse(es).unwrap().outputs[0].encoding(), Encoding::Ecs);
        assert!(parse(&format!("{es}encoding = \"json\"\n")).is_ok());
        let e = err(&format!("{es}token_file = \"/a\"\ntoken_env = \"B\"\n"));
        assert!(e.contains("not both"), "{e}");
        let e = err(&format!("{es}queue = {{ spool_dir = \"spool\" }}\n"));
        assert!(e.contains("spool_dir is relative"), "{e}");
        let e = err(&format!("{es}queue = {{ when_full = \"drop_oldest\" }}\n"));
        assert!(e.contains("drop_newest"), "{e}");
    }

    #[test]
    fn minimal_config_gets_service_defaults() {
        let c =
            Config::parse("[[input]]\ntype = \"file\"\npaths = [\"/var/log/a.log\"]\n").unwrap();
        assert_eq!(c.daemon.checkpoint_interval_secs, 5);
        assert!(matches!(
            c.inputs[0],
            Input::File {
                read_from: ReadFrom::End,
                ..
            }
        ));
        assert_eq!(c.inputs[0].name(0), "file1");
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let e = Config::parse("[[input]]\ntype = \"file\"\npaths = [\"/a\"]\nfollow = true\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1") || e.contains("line 4"), "{e}");
        assert!(e.contains("follow"), "{e}");
    }

    #[test]
    fn relative_paths_and_duplicate_names_are_refused() {
        let e = Config::parse("[[input]]\ntype = \"file\"\npaths = [\"a.log\"]\n").unwrap_err();
        assert!(e.to_string().contains("relative"), "{e}");
        let e = Config::parse(
            "[[input]]\ntype = \"file\"\nname = \"x\"\npaths = [\"/a\"]\n\n[[input]]\ntype = \"journal\"\nname = \"x\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("line 6: [[input]] #2 (x)"), "{e}");
    }
}
