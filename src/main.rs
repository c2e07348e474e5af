//! Entry point: parse the command line, run, map errors to exit codes
//! (0 done, 2 error; a closed output pipe is a normal end).

use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser};

use sipannotate::catalog::Catalog;
use sipannotate::cli::{
    AnnotateArgs, Cli, ColorChoice, Command, CommonArgs, GenerateWhat, OutputKind, ReadFromArg,
    StatsFormat,
};
use sipannotate::config::ReadFrom;
use sipannotate::correlate::calls::CallSettings;
use sipannotate::correlate::kpi::{CodeSet, KpiSettings};
use sipannotate::correlate::{AnalysisSettings, Analyzer, Correlator};
use sipannotate::error::Error;
use sipannotate::explain;
use sipannotate::format::findings::Fail2banOutput;
use sipannotate::format::json::JsonOutput;
use sipannotate::format::siem::{SiemEncoder, SiemOutput};
use sipannotate::format::text::TextOutput;
use sipannotate::format::Encoding;
use sipannotate::format::Output;
use sipannotate::framer::Stats;
use sipannotate::matcher::Matcher;
use sipannotate::pipeline::{annotate_file, annotate_stdin, follow, InputError, RunOptions};
use sipannotate::report;
use sipannotate::selfcheck;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sipannotate: {e}");
            ExitCode::from(2)
        }
    }
}

/// Errors that end the run.
enum Failure {
    Io(io::Error),
    Other(Error),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Io(e) => write!(f, "cannot write output: {e}"),
            Failure::Other(e) => write!(f, "{e}"),
        }
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Other(e)
    }
}

fn is_broken_pipe(e: &Failure) -> bool {
    matches!(e, Failure::Io(io) if io.kind() == io::ErrorKind::BrokenPipe)
}

fn load_catalog(common: &CommonArgs) -> Result<Catalog, Error> {
    let dir = (!common.no_patterns_dir).then_some(common.patterns_dir.as_path());
    Catalog::load(&common.lang, dir)
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let patterns_dir = (!cli.common.no_patterns_dir).then_some(cli.common.patterns_dir.as_path());
    match &cli.command {
        Some(Command::Daemon { config }) => {
            sipannotate::daemon::run(config, patterns_dir)?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Check { config }) => return check(config, patterns_dir),
        Some(Command::RsyslogOmprog {
            input,
            confirm,
            events,
            output,
        }) => {
            let catalog = load_catalog(&cli.common)?;
            let matcher = Matcher::new(&catalog)?;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(events)
                .map_err(|e| Error::new(format!("{}: cannot open: {e}", events.display())))?;
            let writer = io::BufWriter::new(file);
            let r = match output.siem() {
                Some(kind) => {
                    let siem = cli.annotate.siem.options();
                    let mut out = SiemOutput::new(SiemEncoder::new(&catalog, kind, siem), writer);
                    sipannotate::rsyslog::run_omprog(&catalog, &matcher, *input, &mut out, *confirm)
                }
                None => {
                    let mut out = JsonOutput::new(&catalog, writer, false);
                    sipannotate::rsyslog::run_omprog(&catalog, &matcher, *input, &mut out, *confirm)
                }
            };
            r?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::RsyslogMmexternal { input }) => {
            // Never a byte on stderr: a broken override directory means built-ins.
            let catalog = load_catalog(&cli.common)
                .or_else(|_| Catalog::builtin(&cli.common.lang))
                .or_else(|_| Catalog::builtin("en"))?;
            let matcher = Matcher::new(&catalog)?;
            let _ = sipannotate::rsyslog::run_mmexternal(&catalog, &matcher, *input);
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Generate { what }) => {
            let mut cmd = Cli::command();
            let mut out = io::stdout().lock();
            match what {
                GenerateWhat::Man => clap_mangen::Man::new(cmd).render(&mut out)?,
                GenerateWhat::Completions { shell } => {
                    clap_complete::generate(*shell, &mut cmd, "sipannotate", &mut out)
                }
                GenerateWhat::WiresharkLua => {
                    let catalog = load_catalog(&cli.common)?;
                    out.write_all(
                        sipannotate::wireshark::lua(&catalog.kb, &cli.common.lang).as_bytes(),
                    )?
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let catalog = load_catalog(&cli.common)?;
    let stdout = io::stdout();
    match cli.command {
        Some(Command::Explain { codes, output }) => {
            let topics = codes
                .iter()
                .map(|c| explain::parse_topic(c))
                .collect::<Result<Vec<_>, _>>()?;
            let text = match output {
                OutputKind::Text => explain::explain_text(&catalog.kb, &topics),
                OutputKind::Json => explain::explain_json(&catalog.kb, &topics),
            };
            stdout.lock().write_all(text.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Codes { output, all }) => {
            let text = explain::codes(&catalog.kb, output == OutputKind::Json, all);
            stdout.lock().write_all(text.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Formats { check }) => formats(&catalog, check),
        Some(Command::Stats {
            files,
            output,
            asr_codes,
            ner_codes,
            max_calls,
            session_ttl_secs,
        }) => {
            let parse = |flag: &str, v: &str| {
                CodeSet::parse(v)
                    .map_err(|e| Failure::Other(Error::new(format!("--{flag} {v:?}: {e}"))))
            };
            let kpi = KpiSettings {
                asr_codes: parse("asr-codes", &asr_codes)?,
                ner_codes: parse("ner-codes", &ner_codes)?,
            };
            let calls = CallSettings {
                max_calls: max_calls.max(1),
                session_ttl_ms: session_ttl_secs.max(1).saturating_mul(1000) as i64,
                ..CallSettings::default()
            };
            stats(&catalog, &files, output, kpi, calls)
        }
        Some(
            Command::Daemon { .. }
            | Command::Check { .. }
            | Command::Generate { .. }
            | Command::RsyslogMmexternal { .. }
            | Command::RsyslogOmprog { .. },
        ) => {
            unreachable!("handled above")
        }
        None => annotate(&catalog, &cli.files, &cli.annotate),
    }
}

/// `check`: the config, its patterns and their samples; what would run.
fn check(config: &Path, patterns_dir: Option<&Path>) -> Result<ExitCode, Failure> {
    let loaded = sipannotate::daemon::generation::Loaded::load(config, patterns_dir)?;
    let failures = selfcheck::check_samples(&loaded.catalog, &loaded.matcher);
    let mut out = io::stdout().lock();
    for f in &failures {
        writeln!(out, "FAIL {f}")?;
    }
    if !failures.is_empty() {
        return Err(Failure::Other(Error::new(format!(
            "{}: {} pattern sample(s) fail (listed above); fix the format files",
            config.display(),
            failures.len()
        ))));
    }
    writeln!(out, "{}: valid", config.display())?;
    writeln!(
        out,
        "{} formats, all samples pass",
        loaded.catalog.formats.len()
    )?;
    out.write_all(loaded.config.describe().as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

fn formats(catalog: &Catalog, check: bool) -> Result<ExitCode, Failure> {
    let mut out = io::stdout().lock();
    if !check {
        for f in &catalog.formats {
            writeln!(
                out,
                "{:<28} {:<8} {:<22} {}",
                f.id,
                format!("{:?}", f.role).to_lowercase(),
                f.system,
                f.description
            )?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let matcher = Matcher::new(catalog)?;
    let failures = selfcheck::check_samples(catalog, &matcher);
    let samples: usize = catalog
        .formats
        .iter()
        .map(|f| f.samples.len() + f.negatives.len())
        .sum();
    for f in &failures {
        writeln!(out, "FAIL {f}")?;
    }
    writeln!(
        out,
        "{} formats, {} samples: {} passed, {} failed",
        catalog.formats.len(),
        samples,
        samples.saturating_sub(failures.len()),
        failures.len()
    )?;
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn annotate(
    catalog: &Catalog,
    files: &[std::path::PathBuf],
    args: &AnnotateArgs,
) -> Result<ExitCode, Failure> {
    let matcher = Matcher::new(catalog)?;
    let options = RunOptions {
        flush_timeout: Duration::from_millis(args.flush_timeout_ms.max(1)),
        max_line: args.max_line_bytes,
        // Progress only where a person watches stderr and stdout goes elsewhere.
        progress: io::stderr().is_terminal() && !io::stdout().is_terminal(),
        follow: args.follow.then_some(match args.read_from {
            ReadFromArg::Beginning => ReadFrom::Beginning,
            ReadFromArg::End => ReadFrom::End,
        }),
    };
    let stdout = io::stdout();
    let writer = io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    if let Some(kind) = args.output.siem() {
        let siem = args.siem.options();
        siem.validate()
            .map_err(|e| Failure::Other(Error::new(format!("--{}", e.replace('_', "-")))))?;
        let out = SiemOutput::new(SiemEncoder::new(catalog, kind, siem), writer);
        return run_analyzed(catalog, &matcher, files, out, options, args);
    }
    match args.output {
        Encoding::Json => {
            let out = JsonOutput::new(catalog, writer, !args.only_matches);
            run_analyzed(catalog, &matcher, files, out, options, args)
        }
        Encoding::Fail2ban => {
            let out = Fail2banOutput::new(catalog, writer);
            run_analyzed(catalog, &matcher, files, out, options, args)
        }
        _ => {
            let out = TextOutput::new(catalog, writer, color, args.only_matches);
            run_analyzed(catalog, &matcher, files, out, options, args)
        }
    }
}

/// Runs the inputs into `out`, through the analysis stage when calls or
/// detections are asked for.
fn run_analyzed<O: Output>(
    catalog: &Catalog,
    matcher: &Matcher,
    files: &[std::path::PathBuf],
    mut out: O,
    options: RunOptions,
    args: &AnnotateArgs,
) -> Result<ExitCode, Failure> {
    let detect = args.detect || args.output == Encoding::Fail2ban;
    if !(args.calls || detect) {
        return run_inputs(catalog, matcher, files, &mut out, options, args.stats);
    }
    let with_security;
    let matcher = if detect {
        with_security = Matcher::with_security_lines(catalog)?;
        &with_security
    } else {
        matcher
    };
    let mut rules = catalog.security.clone();
    rules.allow.extend(args.allow.iter().cloned());
    let correlator = Correlator::new(AnalysisSettings {
        calls: CallSettings::default(),
        kpi: KpiSettings::default(),
        security: detect.then_some(rules),
        emit_calls: args.calls,
    });
    let mut analyzer = Analyzer::new(catalog, out, correlator);
    let code = run_inputs(catalog, matcher, files, &mut analyzer, options, args.stats)?;
    analyzer.finish()?;
    Ok(code)
}

/// `stats`: every input through the analysis stage, then one report.
fn stats(
    catalog: &Catalog,
    files: &[std::path::PathBuf],
    format: StatsFormat,
    kpi: KpiSettings,
    calls: CallSettings,
) -> Result<ExitCode, Failure> {
    let matcher = Matcher::with_security_lines(catalog)?;
    let options = RunOptions {
        progress: io::stderr().is_terminal(),
        ..RunOptions::default()
    };
    let correlator = Correlator::new(AnalysisSettings {
        calls,
        kpi,
        security: Some(catalog.security.clone()),
        emit_calls: false,
    });
    let mut analyzer = Analyzer::new(catalog, Discarded, correlator);
    let code = run_inputs(catalog, &matcher, files, &mut analyzer, options, false)?;
    analyzer.finish()?;
    let inputs = if files.is_empty() {
        vec!["stdin".to_string()]
    } else {
        files.iter().map(|p| p.display().to_string()).collect()
    };
    let summary = report::Summary::of(catalog, &analyzer.correlator, inputs);
    let text = match format {
        StatsFormat::Text => report::text(&summary),
        StatsFormat::Json => {
            let mut s = report::json(&summary).to_string();
            s.push('\n');
            s
        }
        StatsFormat::Csv => report::csv(&summary),
    };
    io::stdout().lock().write_all(text.as_bytes())?;
    Ok(code)
}

/// An output that keeps nothing (stats needs only the analysis).
struct Discarded;

impl Output for Discarded {
    fn event(&mut self, _: &str, _: &sipannotate::event::Event) -> io::Result<()> {
        Ok(())
    }
}

fn run_inputs<O: Output>(
    catalog: &Catalog,
    matcher: &Matcher,
    files: &[std::path::PathBuf],
    out: &mut O,
    options: RunOptions,
    show_stats: bool,
) -> Result<ExitCode, Failure> {
    if options.follow.is_some() {
        if files.is_empty() {
            return Err(Failure::Other(Error::new(
                "--follow needs at least one FILE (standard input is already followed)",
            )));
        }
        let patterns: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        follow(catalog, matcher, patterns, out, options).map_err(Failure::Io)?;
        return Ok(ExitCode::SUCCESS);
    }
    let stdin_only = [Path::new("-").to_path_buf()];
    let inputs = if files.is_empty() {
        &stdin_only[..]
    } else {
        files
    };
    let mut failed = false;
    for path in inputs {
        let is_stdin = path.as_os_str() == "-";
        let name = if is_stdin {
            "stdin".to_string()
        } else {
            path.display().to_string()
        };
        let result = if is_stdin {
            annotate_stdin(catalog, matcher, out, options)
        } else {
            annotate_file(catalog, matcher, path, out, options)
        };
        match result {
            Ok(stats) => report(show_stats, &name, &stats),
            Err(InputError::Output(e)) => return Err(Failure::Io(e)),
            Err(InputError::Input(e)) => {
                out.flush()?;
                eprintln!("sipannotate: {name}: {e}");
                failed = true;
            }
        }
    }
    out.flush()?;
    Ok(if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn report(show: bool, name: &str, s: &Stats) {
    if show {
        eprintln!(
            "sipannotate: {name}: {} bytes, {} lines, {} events, {} overlong lines, {} messages cut at the frame cap",
            s.bytes, s.lines, s.events, s.overlong_lines, s.truncated_frames
        );
    }
}
