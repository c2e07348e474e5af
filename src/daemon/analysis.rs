//! The daemon's analysis stage, run in the sink thread: one correlator over
//! every input's records, so calls, KPIs and detections see the whole
//! service; findings go to the outputs that carry them; the figures go into
//! the periodic stats event and the Prometheus metrics.
//!
//! The correlator outlives a reload (it is parked in `Shared` between
//! generations), so open calls and attack counters survive `systemctl
//! reload`. Time is the logs' clock, moved on by the wall clock while every
//! input is quiet, so the last call of the night still closes.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::catalog::Catalog;
use crate::config::AnalysisConfig;
use crate::correlate::{Correlator, Finding};
use crate::event::Event;
use crate::report::{self, Summary};

/// How long every input must be quiet before the wall clock moves the logs'
/// clock on.
const QUIET: Duration = Duration::from_secs(1);

/// The correlator and what it needs, owned by the sink thread.
pub struct Stage<'c> {
    catalog: &'c Catalog,
    correlator: Correlator,
    /// When the last record came, and the logs' clock then.
    last_record: Instant,
    clock_at_last: Option<i64>,
}

impl<'c> Stage<'c> {
    /// Takes the parked correlator (reconfigured) or starts one; None when
    /// the configuration turns analysis off.
    pub fn resume(
        catalog: &'c Catalog,
        parked: &Mutex<Option<Correlator>>,
        config: &AnalysisConfig,
    ) -> Option<Stage<'c>> {
        let mut slot = parked.lock().expect("correlator lock");
        if !config.enabled() {
            *slot = None;
            return None;
        }
        let settings = config.settings(&catalog.security);
        let correlator = match slot.take() {
            Some(mut c) => {
                c.reconfigure(settings);
                c
            }
            None => Correlator::new(settings),
        };
        let clock_at_last = correlator.calls.clock_ms();
        Some(Stage {
            catalog,
            correlator,
            last_record: Instant::now(),
            clock_at_last,
        })
    }

    /// Parks the correlator for the next generation.
    pub fn park(self, parked: &Mutex<Option<Correlator>>) {
        *parked.lock().expect("correlator lock") = Some(self.correlator);
    }

    fn touched(&mut self) {
        self.last_record = Instant::now();
        self.clock_at_last = self.correlator.calls.clock_ms();
    }

    pub fn response(&mut self, input: &str, ev: &Event) {
        self.correlator.response_line(self.catalog, input, ev);
        self.touched();
    }

    pub fn request(&mut self, input: &str, ev: &Event) {
        self.correlator.request(input, ev);
        self.touched();
    }

    pub fn security_line(&mut self, input: &str, ev: &Event) {
        let kind = &self.catalog.formats[ev.format].detection;
        self.correlator.security_line(input, ev, kind);
        self.touched();
    }

    /// While every input is quiet, moves the logs' clock on by the time that
    /// passed, so calls due to close do close.
    pub fn idle(&mut self) {
        let quiet = self.last_record.elapsed();
        if quiet < QUIET {
            return;
        }
        if let Some(at) = self.clock_at_last {
            self.correlator.advance_clock(at + quiet.as_millis() as i64);
        }
    }

    /// Hands out the calls closed and detections fired since the last call.
    pub fn findings(
        &mut self,
        out: &mut impl FnMut(Finding<'_>) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        self.correlator.take_findings(out)
    }

    fn summary(&self) -> Summary<'_> {
        Summary::of(self.catalog, &self.correlator, Vec::new())
    }

    /// Adds the analysis figures (`by_code`, `ser`, ..., `flows`,
    /// `security`, `open_calls`) to a stats event; its own `inputs` stay.
    pub fn add_figures(&self, stats: &mut Map<String, Value>) {
        if let Value::Object(figures) = report::json(&self.summary()) {
            for (k, v) in figures {
                if !matches!(k.as_str(), "schema" | "type" | "inputs") {
                    stats.insert(k, v);
                }
            }
        }
        stats.insert(
            "open_calls".into(),
            Value::from(self.correlator.calls.open_calls()),
        );
    }

    /// The figures as Prometheus metrics.
    pub fn prometheus(&self) -> String {
        let mut text = report::prometheus(&self.summary());
        text.push_str(
            "# HELP sipannotate_open_calls Calls and registrations followed now.\n# TYPE sipannotate_open_calls gauge\n",
        );
        text.push_str(&format!(
            "sipannotate_open_calls {}\n",
            self.correlator.calls.open_calls()
        ));
        text
    }
}
