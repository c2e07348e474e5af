//! `sipannotate daemon`: runs a configuration as a systemd service.
//!
//! - READY=1 once every input is open; STATUS= with lines, events, lag and
//!   drops; WATCHDOG=1 only while the sink thread goes round its loop (a
//!   wedged pipeline stops the pings and systemd restarts the service);
//! - SIGHUP reloads the config and patterns: a broken new config keeps the
//!   running one and says why; a good one stops the running generation
//!   (open messages completed, positions kept) and starts the new one there;
//! - SIGUSR1 reopens the output files (logrotate's `postrotate`): the same
//!   configuration is stopped and started again, positions kept;
//! - SIGTERM/SIGINT drain: inputs complete their open messages, outputs
//!   flush, checkpoints are written; if an output stays blocked past
//!   `drain_timeout_secs`, the acknowledged checkpoints are written and the
//!   process ends (what was not delivered is read again next start);
//! - checkpoints are saved every `checkpoint_interval_secs`, and a periodic
//!   `{"type":"stats"}` event carries the same counters as STATUS=.

pub mod analysis;
pub mod generation;
pub mod metrics;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, tick};
use sd_notify::NotifyState;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};

use crate::error::{Error, Result};
use crate::source::checkpoint::Checkpoints;
use generation::{Generation, InputStatus, Loaded, Shared};

/// Runs until SIGTERM or SIGINT. `patterns_dir` is the command line's
/// (the config's `[daemon] patterns_dir` wins).
pub fn run(config_path: &Path, patterns_dir: Option<&Path>) -> Result<()> {
    let started = Instant::now();
    let mut loaded = Loaded::load(config_path, patterns_dir)?;
    let state_dir = loaded.config.daemon.state_dir();
    let checkpoints = Checkpoints::load(&state_dir)?;
    let shared = Arc::new(Shared {
        checkpoints: Mutex::new(checkpoints),
        ..Shared::default()
    });
    // Fail now, not at the first checkpoint, if the state directory is not writable.
    std::fs::create_dir_all(&state_dir)
        .and_then(|_| tempfile_probe(&state_dir))
        .map_err(|e| {
            Error::new(format!(
                "state directory {}: {e} (set [daemon] state_directory, or run under systemd with StateDirectory=)",
                state_dir.display()
            ))
        })?;

    let (sig_tx, signals) = bounded::<i32>(8);
    let mut sigs = signal_hook::iterator::Signals::new([SIGHUP, SIGTERM, SIGINT, SIGUSR1])
        .map_err(|e| Error::new(format!("cannot install signal handlers: {e}")))?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for s in sigs.forever() {
                if sig_tx.send(s).is_err() {
                    return;
                }
            }
        })
        .map_err(|e| Error::new(format!("cannot start the signal thread: {e}")))?;

    let mut generation = Generation::start(&loaded, &shared, started)?;
    if let Some(addr) = loaded.config.analysis.prometheus_listen {
        metrics::serve(addr, shared.clone())?;
        eprintln!("sipannotate: metrics at http://{addr}/metrics");
    }
    let mut watchdog_usec = 0;
    let watchdog = sd_notify::watchdog_enabled(false, &mut watchdog_usec);
    let _ = sd_notify::notify(false, &[NotifyState::Ready, NotifyState::Status("started")]);
    eprintln!(
        "sipannotate: daemon started: {} input(s), state in {}",
        loaded.config.inputs.len(),
        state_dir.display()
    );

    let ticker = tick(Duration::from_millis(500));
    let mut last_checkpoint = Instant::now();
    let mut last_stats = Instant::now();
    let mut saved_once = false;
    loop {
        select! {
            recv(signals) -> sig => match sig {
                Ok(SIGHUP) => {
                    // systemd wants the monotonic time with RELOADING=1.
                    let mut states = vec![NotifyState::Reloading];
                    states.extend(NotifyState::monotonic_usec_now().ok());
                    let _ = sd_notify::notify(false, &states);
                    match Loaded::load(config_path, patterns_dir) {
                        Err(e) => {
                            eprintln!("sipannotate: reload refused, the running configuration stays: {e}");
                            let msg = format!("reload refused: {e}");
                            let _ = sd_notify::notify(false, &[NotifyState::Ready, NotifyState::Status(&msg)]);
                        }
                        Ok(next) => {
                            let drain = drain_timeout(&loaded);
                            if !generation.stop(drain) {
                                save(&shared, &state_dir);
                                return Err(Error::new("reload: the output stayed blocked; positions saved, exiting so systemd restarts the service"));
                            }
                            save(&shared, &state_dir);
                            generation = match Generation::start(&next, &shared, started) {
                                Ok(g) => {
                                    loaded = next;
                                    eprintln!("sipannotate: configuration reloaded");
                                    g
                                }
                                Err(e) => {
                                    eprintln!("sipannotate: reload failed, back to the running configuration: {e}");
                                    Generation::start(&loaded, &shared, started)?
                                }
                            };
                            let _ = sd_notify::notify(false, &[NotifyState::Ready, NotifyState::Status("reloaded")]);
                        }
                    }
                }
                Ok(SIGUSR1) => {
                    // The output files were rotated away: open them again.
                    if !generation.stop(drain_timeout(&loaded)) {
                        save(&shared, &state_dir);
                        return Err(Error::new("reopen: the output stayed blocked; positions saved, exiting so systemd restarts the service"));
                    }
                    save(&shared, &state_dir);
                    generation = Generation::start(&loaded, &shared, started)?;
                    eprintln!("sipannotate: outputs reopened");
                }
                Ok(_) => {
                    let _ = sd_notify::notify(false, &[NotifyState::Stopping, NotifyState::Status("draining")]);
                    let drained = generation.stop(drain_timeout(&loaded));
                    save(&shared, &state_dir);
                    if !drained {
                        eprintln!("sipannotate: stopped with the output blocked; undelivered events will be read again at the next start");
                        std::process::exit(0);
                    }
                    eprintln!("sipannotate: stopped; {}", status_line(&shared));
                    return Ok(());
                }
                Err(_) => return Err(Error::new("signal thread ended")),
            },
            recv(generation.sink_failed) -> e => {
                let e = e.unwrap_or_else(|_| "sink thread ended".into());
                let _ = generation.stop(Duration::from_secs(1));
                save(&shared, &state_dir);
                return Err(Error::new(format!("output failed: {e}; positions saved up to the last delivered event")));
            },
            recv(ticker) -> _ => {
                let d = &loaded.config.daemon;
                // The first positions are saved at once (the files' identities),
                // then every interval.
                let due = last_checkpoint.elapsed() >= Duration::from_secs(d.checkpoint_interval_secs.max(1));
                if due || (!saved_once && shared.checkpoints.lock().expect("checkpoints lock").is_dirty()) {
                    save(&shared, &state_dir);
                    last_checkpoint = Instant::now();
                    saved_once = true;
                }
                if d.stats_interval_secs > 0 && last_stats.elapsed() >= Duration::from_secs(d.stats_interval_secs) {
                    if let Some(tx) = generation.sender() {
                        let _ = tx.try_send(crate::sink::Record::Stats(stats_event(&shared)));
                    }
                    last_stats = Instant::now();
                }
                let status = status_line(&shared);
                let beat = shared.sink_heartbeat.load(Ordering::Relaxed);
                let alive = started.elapsed().as_millis() as u64 <= beat + 5_000;
                if watchdog && alive {
                    let _ = sd_notify::notify(false, &[NotifyState::Watchdog, NotifyState::Status(&status)]);
                } else {
                    let _ = sd_notify::notify(false, &[NotifyState::Status(&status)]);
                }
            },
        }
    }
}

fn drain_timeout(loaded: &Loaded) -> Duration {
    Duration::from_secs(loaded.config.daemon.drain_timeout_secs.max(1))
}

fn tempfile_probe(dir: &Path) -> std::io::Result<()> {
    let p = dir.join(".write-test");
    std::fs::write(&p, b"")?;
    std::fs::remove_file(p)
}

fn save(shared: &Shared, dir: &Path) {
    let mut c = shared.checkpoints.lock().expect("checkpoints lock");
    if let Err(e) = c.save(dir) {
        eprintln!("sipannotate: {e}");
    }
}

fn totals(shared: &Shared) -> (InputStatus, usize) {
    let status = shared.status.lock().expect("status lock");
    let mut t = InputStatus::default();
    for s in status.values() {
        t.lines += s.lines;
        t.events += s.events;
        t.bytes += s.bytes;
        t.lag_bytes += s.lag_bytes;
        t.messages += s.messages;
        t.drops += s.drops;
        t.files += s.files;
    }
    (t, status.len())
}

/// "3 inputs, 12 files, 120345 lines, 812 events, lag 0 B, 0 drops"
pub fn status_line(shared: &Shared) -> String {
    let (t, inputs) = totals(shared);
    format!(
        "{inputs} inputs, {} files, {} lines, {} syslog messages, {} events ({} delivered), lag {} B, {} drops",
        t.files,
        t.lines,
        t.messages,
        t.events,
        shared.events_out.load(Ordering::Relaxed),
        t.lag_bytes,
        t.drops
    )
}

/// A `{"type":"stats"}` event with every input's counters (the sink thread
/// adds the analysis figures).
fn stats_event(shared: &Shared) -> serde_json::Map<String, serde_json::Value> {
    let status = shared.status.lock().expect("status lock").clone();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    let (mut raw, mut ts) = (String::new(), String::new());
    crate::timestamp::from_epoch_micros(now, &mut raw, &mut ts);
    let v = serde_json::json!({
        "schema": crate::event::SCHEMA,
        "type": "stats",
        "ts": ts,
        "events_delivered": shared.events_out.load(Ordering::Relaxed),
        "inputs": status,
        "outputs": shared
            .outputs
            .lock()
            .expect("outputs lock")
            .iter()
            .map(|(name, c)| (name.clone(), c.to_json()))
            .collect::<serde_json::Map<_, _>>(),
    });
    match v {
        serde_json::Value::Object(m) => m,
        _ => unreachable!("a JSON object"),
    }
}
