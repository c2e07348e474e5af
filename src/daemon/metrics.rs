//! `GET /metrics` on a loopback address, in the Prometheus text format: the
//! analysis figures the sink thread renders every few seconds, and each
//! input's counters, read at scrape time. Anything else gets a 404 that
//! says where the metrics are.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::report::prometheus_label;

use super::generation::Shared;
use crate::sink::queue::OutputCounters;

/// Binds now (a port in use is a start-up error) and serves from a thread.
pub fn serve(addr: SocketAddr, shared: Arc<Shared>) -> Result<()> {
    let server = tiny_http::Server::http(addr).map_err(|e| {
        Error::new(format!(
            "[analysis] prometheus_listen: cannot listen on {addr}: {e}"
        ))
    })?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for request in server.incoming_requests() {
                let path = request.url().split('?').next().unwrap_or("");
                let response = if *request.method() == tiny_http::Method::Get && path == "/metrics"
                {
                    let content_type = tiny_http::Header::from_bytes(
                        &b"Content-Type"[..],
                        &b"text/plain; version=0.0.4; charset=utf-8"[..],
                    )
                    .expect("a valid header");
                    tiny_http::Response::from_string(render(&shared)).with_header(content_type)
                } else {
                    tiny_http::Response::from_string("sipannotate: metrics are at GET /metrics\n")
                        .with_status_code(404)
                };
                let _ = request.respond(response);
            }
        })
        .map_err(|e| Error::new(format!("cannot start the metrics thread: {e}")))?;
    Ok(())
}

/// The whole exposition: inputs first, then the analysis figures.
pub fn render(shared: &Shared) -> String {
    let mut o = String::new();
    let status = shared.status.lock().expect("status lock").clone();
    type Field = fn(&super::generation::InputStatus) -> u64;
    let families: [(&str, &str, &str, Field); 7] = [
        ("input_lines_total", "counter", "Lines read.", |s| s.lines),
        ("input_bytes_total", "counter", "Bytes read.", |s| s.bytes),
        (
            "input_events_total",
            "counter",
            "Response events found.",
            |s| s.events,
        ),
        (
            "input_syslog_messages_total",
            "counter",
            "Syslog messages received.",
            |s| s.messages,
        ),
        (
            "input_rotations_total",
            "counter",
            "Rotations followed.",
            |s| s.rotations,
        ),
        (
            "input_drops_total",
            "counter",
            "Messages cut at max_message_bytes, refused connections, files over max_open_files.",
            |s| s.drops,
        ),
        (
            "input_lag_bytes",
            "gauge",
            "Bytes written to the files and not read yet.",
            |s| s.lag_bytes,
        ),
    ];
    write_families(&mut o, "input", &status, &families);
    let _ = writeln!(
        o,
        "# HELP sipannotate_events_delivered_total Events every output has taken.\n# TYPE sipannotate_events_delivered_total counter\nsipannotate_events_delivered_total {}",
        shared.events_out.load(Ordering::Relaxed)
    );
    let outputs = shared.outputs.lock().expect("outputs lock").clone();
    type Counter = fn(&Arc<OutputCounters>) -> u64;
    let families: [(&str, &str, &str, Counter); 6] = [
        (
            "output_delivered_records_total",
            "counter",
            "Records the receiver confirmed.",
            |c| c.delivered_records.load(Ordering::Relaxed),
        ),
        (
            "output_dropped_records_total",
            "counter",
            "Records dropped because the queue was full (when_full = \"drop_newest\").",
            |c| c.dropped_records.load(Ordering::Relaxed),
        ),
        (
            "output_rejected_records_total",
            "counter",
            "Records the receiver refused for good.",
            |c| c.rejected_records.load(Ordering::Relaxed),
        ),
        (
            "output_spooled_records_total",
            "counter",
            "Records written to the spool during outages.",
            |c| c.spooled_records.load(Ordering::Relaxed),
        ),
        (
            "output_spool_bytes",
            "gauge",
            "Bytes waiting in the spool.",
            |c| c.spool_bytes.load(Ordering::Relaxed),
        ),
        (
            "output_up",
            "gauge",
            "1 when the last delivery attempt succeeded.",
            |c| u64::from(!c.down.load(Ordering::Relaxed)),
        ),
    ];
    write_families(&mut o, "output", &outputs, &families);
    o.push_str(&shared.metrics.lock().expect("metrics lock"));
    o
}

/// A metric family: name, type, help, and the value of one item.
type Family<'a, T> = (&'a str, &'a str, &'a str, fn(&T) -> u64);

/// Metric families with one series per item, labelled `label="<item name>"`.
fn write_families<T>(
    o: &mut String,
    label: &str,
    items: &std::collections::BTreeMap<String, T>,
    families: &[Family<'_, T>],
) {
    for (name, kind, help, field) in families {
        let _ = writeln!(
            o,
            "# HELP sipannotate_{name} {help}\n# TYPE sipannotate_{name} {kind}"
        );
        for (item, v) in items {
            let _ = writeln!(
                o,
                "sipannotate_{name}{{{label}=\"{}\"}} {}",
                prometheus_label(item),
                field(v)
            );
        }
    }
}
