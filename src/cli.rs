//! Command-line interface (clap derive): the annotate command with its flags,
//! and the `explain`, `codes` and `formats` subcommands.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::format::siem::{LeefVersion, SiemOptions};
use crate::format::Encoding;

/// Annotate SIP response codes in PBX, proxy and SBC logs.
///
/// Reads Kamailio, OpenSIPS, Asterisk, FreeSWITCH, Avaya, Cisco, AudioCodes,
/// SIPp, ngrep/sngrep and tshark text (raw, or inside syslog and journald
/// wrappers), finds every SIP response status and explains it: class, meaning,
/// when you see it, how to fix it, with Call-ID, method, peers and the decoded
/// Reason and Warning headers.
#[derive(Debug, Parser)]
#[command(
    name = "sipannotate",
    version,
    args_conflicts_with_subcommands = true,
    after_help = "EXAMPLES:
  tail -F /var/log/asterisk/full | sipannotate       annotate a live log; nothing waits for a buffer
  sipannotate --only-matches kamailio.log            only the status lines, each with its annotation
  sipannotate -o json --only-matches trace.log | jq  one JSON event per status line
  sipannotate explain 183 200                        compare two codes side by side
  sipannotate explain q850:34                        what an ISDN cause in a Reason header means
  sipannotate codes --lang ja                        the whole knowledge base, in Japanese

Exit status: 0 when done (whether or not SIP lines were found), 2 on errors.
A closed output pipe ends the run quietly."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Log files to read; '-' or none reads standard input.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    #[command(flatten)]
    pub annotate: AnnotateArgs,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// Options shared by every command.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Language of the explanations (never taken from LANG).
    #[arg(long, global = true, default_value = "en", value_name = "LANG")]
    pub lang: String,

    /// Extra or replacement log formats (*.toml); ignored when absent.
    #[arg(long, global = true, value_name = "DIR", default_value = crate::catalog::DEFAULT_OVERRIDE_DIR)]
    pub patterns_dir: PathBuf,

    /// Use only the built-in formats.
    #[arg(long, global = true)]
    pub no_patterns_dir: bool,
}

/// Options of the annotate command.
#[derive(Debug, Clone, clap::Args)]
pub struct AnnotateArgs {
    /// Output format: text passes every line through and adds an annotation
    /// line after each status line; json writes one event object per status
    /// line (and, without --only-matches, one {"type":"line"} object per other
    /// line). The SIEM encodings write one record per event: ecs (Elastic),
    /// cef (ArcSight), leef (QRadar), gelf (Graylog), hec (Splunk), syslog
    /// (RFC 5424), logfmt.
    #[arg(short, long, value_enum, default_value_t = Encoding::Text)]
    pub output: Encoding,

    /// Print only status lines with their annotations (text) or only events (json).
    #[arg(long)]
    pub only_matches: bool,

    /// Colour the annotations.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// When a pipe goes quiet for this long, complete the SIP message being read
    /// and flush output, so a slow `tail -f` never holds an event back.
    #[arg(long, default_value_t = 200, value_name = "MS")]
    pub flush_timeout_ms: u64,

    /// Lines longer than this pass through without being matched.
    #[arg(long, default_value_t = crate::framer::DEFAULT_MAX_LINE, value_name = "BYTES")]
    pub max_line_bytes: usize,

    /// Print per-input counts (lines, events, overlong lines) to stderr at the end.
    #[arg(long)]
    pub stats: bool,

    /// Follow the files like `tail -F`: keep reading as they grow, through
    /// rotation (rename + create, copytruncate), deletion and re-creation.
    /// FILE may be a glob in quotes ('/var/log/kamailio/*.log'); files that
    /// appear later are picked up.
    #[arg(short = 'f', long)]
    pub follow: bool,

    /// Follow calls by Call-ID and add one {"type":"call"} finding per call
    /// when it ends: its flow (answered, busy, abandoned, ...), ladder
    /// (INVITE>100>183>486), final answer and timings.
    #[arg(long)]
    pub calls: bool,

    /// Run the security detections (scanner User-Agents, failed-auth bursts,
    /// extension enumeration, floods; keyed on the source address) and add a
    /// {"type":"security"} finding when one fires. `-o fail2ban` implies it.
    #[arg(long)]
    pub detect: bool,

    /// A source the detections never report (an address, or a prefix ending in
    /// '.' or ':'); repeatable.
    #[arg(long, value_name = "ADDR")]
    pub allow: Vec<String>,

    /// With --follow: where files start (later files always start at the beginning).
    #[arg(long, value_enum, default_value_t = ReadFromArg::End, value_name = "WHERE")]
    pub read_from: ReadFromArg,

    #[command(flatten)]
    pub siem: SiemArgs,
}

/// Where a followed file starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReadFromArg {
    Beginning,
    End,
}

/// Settings of the SIEM encodings.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "SIEM encodings")]
pub struct SiemArgs {
    /// LEEF version.
    #[arg(long, value_enum, default_value = "2.0", value_name = "VERSION")]
    pub leef_version: LeefVersion,
    /// LEEF 2.0 attribute delimiter: one character or hex (x09, 0x5E).
    #[arg(long, default_value = "^", value_name = "CHAR")]
    pub leef_delimiter: String,
    /// RFC 5424 structured-data ID sipannotate@N: your IANA Private Enterprise
    /// Number (32473 is reserved for documentation).
    #[arg(long, default_value_t = 32473, value_name = "N")]
    pub syslog_enterprise_number: u32,
    /// RFC 5424 facility, 0..23 (16 = local0).
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub syslog_facility: u8,
    /// Host named in SIEM records (default: this machine's name).
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
}

impl SiemArgs {
    /// The encoder options these flags give.
    pub fn options(&self) -> SiemOptions {
        SiemOptions {
            leef_version: self.leef_version,
            leef_delimiter: self.leef_delimiter.clone(),
            syslog_enterprise_number: self.syslog_enterprise_number,
            syslog_facility: self.syslog_facility,
            hostname: self.hostname.clone(),
            ..SiemOptions::default()
        }
    }
}

/// Output formats of the explain and codes commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputKind {
    Text,
    Json,
}

/// When to use colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Formats of the stats report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatsFormat {
    Text,
    Json,
    Csv,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Count responses and compute call KPIs (RFC 6076 SER, SEER, ISA, SCR,
    /// IRA, SRD, RRD; E.411 ASR, NER) over whole logs; each KPI is printed
    /// with the definition it was computed by.
    #[command(after_help = "EXAMPLES:
  sipannotate stats /var/log/kamailio.log            a table, with definitions
  sipannotate stats -o json night.log | jq .ser      one figure
  sipannotate stats -o csv *.log > kpis.csv          section,name,value rows
  sipannotate stats --ner-codes 2xx,486,487,603 x.log  your own NER code set

Counting rules: retransmissions and repeated log records of one answer count
once; re-INVITEs are not attempts; a 401/407 answered by a retry that succeeds
is one answered attempt; calls with no final answer when the log ends are left
out of every ratio. SRD and RRD need the requests in the log (message dumps).")]
    Stats {
        /// Log files; '-' or none reads standard input.
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
        #[arg(short, long, value_enum, default_value_t = StatsFormat::Text)]
        output: StatsFormat,
        /// Outcomes that count as answered for ASR (codes and classes: 2xx,486).
        #[arg(long, default_value = "2xx", value_name = "CODES")]
        asr_codes: String,
        /// Outcomes that count as effective for NER.
        #[arg(long, default_value = "2xx,480,486,487,600,603", value_name = "CODES")]
        ner_codes: String,
        /// Calls followed at once; beyond it the least active are closed early and counted.
        #[arg(long, default_value_t = 100_000, value_name = "N")]
        max_calls: usize,
        /// An answered call with no BYE in the log is closed after this long
        /// without a message (the log's clock), as a session still up.
        #[arg(long, default_value_t = 14_400, value_name = "SECS")]
        session_ttl_secs: u64,
    },
    /// Explain response codes or Q.850 causes; two or more are compared side by side.
    #[command(after_help = "EXAMPLES:
  sipannotate explain 488             meaning, when you see it, how to fix it
  sipannotate explain 183 200         side by side, with the key differences
  sipannotate explain 477             an unregistered code gets its class's guidance
  sipannotate explain q850:17         a Q.850 cause and the SIP status RFC 3398 maps it to")]
    Explain {
        /// Codes (100..699) or Q.850 causes written q850:N.
        #[arg(required = true, value_name = "CODE")]
        codes: Vec<String>,
        /// text or json.
        #[arg(short, long, value_enum, default_value_t = OutputKind::Text)]
        output: OutputKind,
    },
    /// Print the whole knowledge base.
    Codes {
        /// text (a table) or json (one object per code per line).
        #[arg(short, long, value_enum, default_value_t = OutputKind::Text)]
        output: OutputKind,
        /// Also list class fallbacks, Q.850 causes and Warning codes.
        #[arg(long)]
        all: bool,
    },
    /// List the log formats, or check them: every sample must give its expected events.
    Formats {
        /// Run every format's positive and negative samples and report failures.
        #[arg(long)]
        check: bool,
    },
    /// Run as a service: follow files, journal and syslog inputs through
    /// rotation and restarts, and write events to the configured outputs.
    #[command(
        after_help = "Signals: SIGHUP reloads the config and patterns (a broken config is refused and the
running one stays); SIGTERM or SIGINT drains and writes checkpoints.
Under systemd (Type=notify) it reports READY=1, STATUS= and WATCHDOG=1.
See systemd/sipannotate.service and systemd/sipannotate.toml."
    )]
    Daemon {
        /// The configuration file.
        #[arg(long, short, value_name = "PATH", default_value = crate::config::DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Validate a daemon configuration and every pattern, and print what would run.
    #[command(
        after_help = "Exit status: 0 when valid, 2 with the file, line and key of the first error."
    )]
    Check {
        /// The configuration file.
        #[arg(long, short, value_name = "PATH", default_value = crate::config::DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Act as rsyslog's mmexternal plug-in: one JSON reply per message line,
    /// the annotation in $!sip.
    #[command(after_help = "rsyslog configuration (see README):
  module(load=\"mmexternal\")
  action(type=\"mmexternal\" interface.input=\"fulljson\" forceSingleInstance=\"on\"
         binary=\"/usr/bin/sipannotate rsyslog-mmexternal --input fulljson --lang en\")
  template(name=\"sip\" type=\"string\" string=\"%msg% [%$!sip!code% %$!sip!meaning%]\\n\")
Nothing is ever written to stderr (rsyslog reads it as replies); the language
comes from --lang (rsyslog starts the plug-in with an empty environment).")]
    RsyslogMmexternal {
        /// What rsyslog sends: the message text (interface.input msg or rawmsg) or fulljson.
        #[arg(long, value_enum, default_value = "fulljson")]
        input: crate::rsyslog::MmInput,
    },
    /// Act as rsyslog's omprog output (or a syslog-ng program() destination):
    /// annotate each message line and append its events to a file.
    #[command(after_help = "rsyslog:
  module(load=\"omprog\")
  template(name=\"full\" type=\"string\" string=\"%jsonmesg%\\n\")
  action(type=\"omprog\" template=\"full\" confirmMessages=\"on\"
         binary=\"/usr/bin/sipannotate rsyslog-omprog --confirm --events /var/log/sipannotate/events.json\")
syslog-ng:
  destination d_sip { program(\"/usr/bin/sipannotate rsyslog-omprog --input msg --events /var/log/sipannotate/events.json\"); };")]
    RsyslogOmprog {
        /// What each line is: the message text, or rsyslog's %jsonmesg%.
        #[arg(long, value_enum, default_value = "fulljson")]
        input: crate::rsyslog::MmInput,
        /// Answer OK per message once its events are written (confirmMessages="on").
        #[arg(long)]
        confirm: bool,
        /// Where events are appended.
        #[arg(long, value_name = "PATH")]
        events: PathBuf,
        /// Encoding of the events: json or a SIEM encoding.
        #[arg(short, long, value_enum, default_value_t = Encoding::Json)]
        output: Encoding,
    },
    /// Generate a man page or shell completions from this command line.
    #[command(after_help = "EXAMPLES:
  sipannotate generate man > /usr/local/share/man/man1/sipannotate.1
  sipannotate generate completions bash > /etc/bash_completion.d/sipannotate
  sipannotate generate wireshark-lua > ~/.local/lib/wireshark/plugins/sipannotate.lua")]
    Generate {
        #[command(subcommand)]
        what: GenerateWhat,
    },
}

/// What `generate` writes.
#[derive(Debug, Subcommand)]
pub enum GenerateWhat {
    /// A roff man page (section 1) on standard output.
    Man,
    /// A completion script for SHELL on standard output.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// A Wireshark Lua post-dissector explaining every SIP response (in --lang).
    WiresharkLua,
}
