//! Renders the `stats` command's figures: a readable table with each KPI's
//! definition (text), one JSON object (`by_code`, `ser`, `seer`, `isa`,
//! `asr`, `ner`, ... plus `kpis` with numerators, denominators and
//! definitions), or `section,name,value` CSV rows; and the same figures in
//! the Prometheus text exposition format for the daemon's `/metrics`.

use std::fmt::Write as _;

use serde_json::{json, Map, Value};

use crate::catalog::Catalog;
use crate::correlate::calls::Flow;
use crate::correlate::kpi::{KpiSettings, Kpis, Report};
use crate::correlate::security::DetectionKind;
use crate::correlate::Correlator;

/// Everything one `stats` run found.
pub struct Summary<'a> {
    pub catalog: &'a Catalog,
    pub kpis: &'a Kpis,
    pub report: Report,
    pub settings: &'a KpiSettings,
    pub open_calls_evicted: u64,
    pub detections: [u64; 4],
    pub inputs: Vec<String>,
}

impl<'a> Summary<'a> {
    pub fn of(catalog: &'a Catalog, c: &'a Correlator, inputs: Vec<String>) -> Summary<'a> {
        Summary {
            catalog,
            kpis: &c.kpis,
            report: c.kpis.report(&c.settings),
            settings: &c.settings,
            open_calls_evicted: c.calls.evicted,
            detections: c.detector.as_ref().map_or([0; 4], |d| d.fired),
            inputs,
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The JSON object.
pub fn json(s: &Summary<'_>) -> Value {
    let k = s.kpis;
    let mut by_code = Map::new();
    for (code, n) in &k.by_code {
        by_code.insert(code.to_string(), json!(n));
    }
    let mut by_method: Map<String, Value> = Map::new();
    for ((code, method), n) in &k.by_code_method {
        let m = if method.is_empty() { "unknown" } else { method };
        by_method
            .entry(m.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("an object")
            .insert(code.to_string(), json!(n));
    }
    let mut by_peer = Map::new();
    for (peer, codes) in &k.by_peer {
        let m: Map<String, Value> = codes
            .iter()
            .map(|(c, n)| (c.to_string(), json!(n)))
            .collect();
        by_peer.insert(peer.clone(), Value::Object(m));
    }
    let by_class: Map<String, Value> = (1..=6)
        .map(|c| (format!("{c}xx"), json!(k.by_class[c])))
        .collect();
    let flows: Map<String, Value> = Flow::ALL
        .iter()
        .map(|f| {
            (
                f.name().to_string(),
                json!(k.flows.get(f).copied().unwrap_or(0)),
            )
        })
        .collect();
    let mut out = Map::new();
    out.insert("schema".into(), json!(crate::event::SCHEMA));
    out.insert("type".into(), json!("stats"));
    out.insert("inputs".into(), json!(s.inputs));
    out.insert("by_code".into(), Value::Object(by_code));
    out.insert("by_class".into(), Value::Object(by_class));
    out.insert("by_method".into(), Value::Object(by_method));
    out.insert("by_peer".into(), Value::Object(by_peer));
    let mut kpis = Map::new();
    for r in &s.report.ratios {
        out.insert(r.name.into(), json!(r.percent.map(round2)));
        let t = s.catalog.kb.kpi(r.name);
        kpis.insert(
            r.name.into(),
            json!({
                "percent": r.percent.map(round2),
                "numerator": r.numerator,
                "denominator": r.denominator,
                "name": t.name,
                "definition": t.definition,
            }),
        );
    }
    for d in &s.report.delays {
        let t = s.catalog.kb.kpi(d.name);
        let mut m = Map::new();
        m.insert("samples".into(), json!(d.samples));
        m.insert("mean_ms".into(), json!(d.mean.map(round2)));
        for (p, v) in d.percentiles {
            m.insert(format!("p{p}_ms"), json!(v));
        }
        m.insert("name".into(), json!(t.name));
        m.insert("definition".into(), json!(t.definition));
        kpis.insert(format!("{}_ms", d.name), Value::Object(m));
    }
    out.insert("kpis".into(), Value::Object(kpis));
    out.insert(
        "code_sets".into(),
        json!({"asr": s.settings.asr_codes.as_str(), "ner": s.settings.ner_codes.as_str()}),
    );
    out.insert("flows".into(), Value::Object(flows));
    out.insert(
        "counts".into(),
        json!({
            "response_lines": k.response_lines,
            "responses": k.responses,
            "retransmissions": k.retransmissions,
            "requests": k.requests,
            "without_call_id": k.without_call_id,
            "attempts": k.attempts,
            "challenges": k.challenges,
            "reinvites": k.reinvites,
            "register_transactions": k.register_transactions,
            "calls_evicted": s.open_calls_evicted,
        }),
    );
    let security: Map<String, Value> = DetectionKind::ALL
        .iter()
        .map(|d| (d.name().to_string(), json!(s.detections[*d as usize])))
        .collect();
    out.insert("security".into(), Value::Object(security));
    Value::Object(out)
}

/// `section,name,value` rows with a header.
pub fn csv(s: &Summary<'_>) -> String {
    let k = s.kpis;
    let mut o = String::from("section,name,value\n");
    let field = |v: &str| -> String {
        if v.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", v.replace('"', "\"\""))
        } else {
            v.to_string()
        }
    };
    for r in &s.report.ratios {
        let v = r.percent.map_or(String::new(), |p| format!("{:.2}", p));
        let _ = writeln!(o, "kpi,{},{v}", r.name);
    }
    for d in &s.report.delays {
        let _ = writeln!(o, "delay,{}_samples,{}", d.name, d.samples);
        for (p, v) in d.percentiles {
            let v = v.map_or(String::new(), |v| v.to_string());
            let _ = writeln!(o, "delay,{}_p{p}_ms,{v}", d.name);
        }
    }
    for (code, n) in &k.by_code {
        let _ = writeln!(o, "code,{code},{n}");
    }
    for ((code, method), n) in &k.by_code_method {
        let _ = writeln!(o, "code_method,{},{n}", field(&format!("{code} {method}")));
    }
    for (peer, codes) in &k.by_peer {
        for (code, n) in codes {
            let _ = writeln!(o, "code_peer,{},{n}", field(&format!("{code} {peer}")));
        }
    }
    for f in Flow::ALL {
        let _ = writeln!(
            o,
            "flow,{},{}",
            f.name(),
            k.flows.get(&f).copied().unwrap_or(0)
        );
    }
    for d in DetectionKind::ALL {
        let _ = writeln!(o, "security,{},{}", d.name(), s.detections[d as usize]);
    }
    o
}

/// The readable table.
pub fn text(s: &Summary<'_>) -> String {
    let k = s.kpis;
    let kb = &s.catalog.kb;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{} responses ({} lines, {} retransmissions or repeated records), {} requests, {} without Call-ID",
        k.responses, k.response_lines, k.retransmissions, k.requests, k.without_call_id
    );
    let _ = writeln!(o, "\nResponses by code and method");
    for ((code, method), n) in &k.by_code_method {
        let l = kb.lookup(*code);
        let m = if method.is_empty() { "-" } else { method };
        let _ = writeln!(
            o,
            "  {code} {:<24} {m:<10} {n:>9}",
            l.canonical_reason().unwrap_or(&l.class.name)
        );
    }
    let _ = writeln!(o, "\nBy class");
    for c in 1..=6u8 {
        if k.by_class[usize::from(c)] > 0 {
            let _ = writeln!(
                o,
                "  {c}xx {:<20} {:>9}",
                kb.class(c).name,
                k.by_class[usize::from(c)]
            );
        }
    }
    if !k.by_peer.is_empty() {
        let _ = writeln!(o, "\nBy peer (final answers)");
        for (peer, codes) in &k.by_peer {
            let finals: Vec<String> = codes
                .iter()
                .filter(|(c, _)| **c >= 200)
                .map(|(c, n)| format!("{c}×{n}"))
                .collect();
            if !finals.is_empty() {
                let _ = writeln!(o, "  {peer:<40} {}", finals.join(" "));
            }
        }
    }
    let _ = writeln!(o, "\nCalls and registrations by flow");
    for f in Flow::ALL {
        if let Some(n) = k.flows.get(&f) {
            let _ = writeln!(o, "  {:<26} {n:>9}", f.name());
        }
    }
    let _ = writeln!(
        o,
        "\nKPIs ({} session attempts, {} REGISTER transactions; ASR codes {}, NER codes {})",
        k.attempts,
        k.register_transactions,
        s.settings.asr_codes.as_str(),
        s.settings.ner_codes.as_str()
    );
    for r in &s.report.ratios {
        let t = kb.kpi(r.name);
        let v = r
            .percent
            .map_or("   n/a".to_string(), |p| format!("{p:6.2}%"));
        let _ = writeln!(
            o,
            "  {:<5} {v}  ({} / {})  {}\n        {}",
            r.name.to_uppercase(),
            r.numerator,
            r.denominator,
            t.name,
            t.definition
        );
    }
    let _ = writeln!(o, "\nDelays (ms)");
    for d in &s.report.delays {
        let t = kb.kpi(d.name);
        let p = |i: usize| {
            d.percentiles[i]
                .1
                .map_or("-".to_string(), |v| v.to_string())
        };
        let _ = writeln!(
            o,
            "  {:<11} n={:<7} p50={:<7} p90={:<7} p95={:<7} p99={:<7} {}",
            d.name,
            d.samples,
            p(0),
            p(1),
            p(2),
            p(3),
            t.name
        );
    }
    if s.detections.iter().any(|n| *n > 0) {
        let _ = writeln!(o, "\nSecurity detections fired");
        for d in DetectionKind::ALL {
            let n = s.detections[d as usize];
            if n > 0 {
                let _ = writeln!(o, "  {:<24} {n:>9}", d.name());
            }
        }
    }
    if s.open_calls_evicted > 0 {
        let _ = writeln!(
            o,
            "\n{} calls were evicted from the call table before they ended (raise --max-calls)",
            s.open_calls_evicted
        );
    }
    o
}

/// SIP methods kept as a Prometheus label value; any other CSeq method (a
/// log can say anything) is counted under "other", so a hostile log cannot
/// grow the number of series.
const KNOWN_METHODS: [&str; 14] = [
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "REGISTER",
    "OPTIONS",
    "PRACK",
    "SUBSCRIBE",
    "NOTIFY",
    "PUBLISH",
    "INFO",
    "REFER",
    "MESSAGE",
    "UPDATE",
];

/// A label value escaped for the exposition format (backslash, quote, newline).
pub fn prometheus_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The analysis figures as Prometheus metrics (text exposition format
/// 0.0.4). Ratios are exposed as their numerator and denominator counters,
/// so a dashboard computes them over any window
/// (`increase(num[5m]) / increase(den[5m])`), and as the ratio since start.
pub fn prometheus(s: &Summary<'_>) -> String {
    let k = s.kpis;
    let mut o = String::new();
    let family = |o: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(
            o,
            "# HELP sipannotate_{name} {help}\n# TYPE sipannotate_{name} {kind}"
        );
    };
    family(
        &mut o,
        "responses_total",
        "counter",
        "Distinct SIP responses by status code and CSeq method (retransmissions and repeated log records once).",
    );
    let mut by: std::collections::BTreeMap<(u16, &str), u64> = Default::default();
    for ((code, method), n) in &k.by_code_method {
        let m = KNOWN_METHODS
            .iter()
            .find(|x| x.eq_ignore_ascii_case(method))
            .copied()
            .unwrap_or(if method.is_empty() {
                "unknown"
            } else {
                "other"
            });
        *by.entry((*code, m)).or_default() += n;
    }
    for ((code, method), n) in by {
        let class = code / 100;
        let _ = writeln!(
            o,
            "sipannotate_responses_total{{code=\"{code}\",class=\"{class}xx\",method=\"{method}\"}} {n}"
        );
    }
    for (name, help, v) in [
        (
            "response_lines_total",
            "Response lines read, repeats included.",
            k.response_lines,
        ),
        (
            "retransmissions_total",
            "Responses seen again for a transaction that already had that code.",
            k.retransmissions,
        ),
        (
            "requests_total",
            "Distinct requests seen in message dumps.",
            k.requests,
        ),
        (
            "session_attempts_total",
            "INVITE session attempts (re-INVITEs excluded).",
            k.attempts,
        ),
        ("challenges_total", "401/407 challenges.", k.challenges),
        (
            "register_transactions_total",
            "REGISTER transactions.",
            k.register_transactions,
        ),
        (
            "calls_evicted_total",
            "Calls closed early because max_calls was reached.",
            s.open_calls_evicted,
        ),
    ] {
        family(&mut o, name, "counter", help);
        let _ = writeln!(o, "sipannotate_{name} {v}");
    }
    family(
        &mut o,
        "calls_total",
        "counter",
        "Calls and registrations closed, by flow.",
    );
    for f in Flow::ALL {
        let n = k.flows.get(&f).copied().unwrap_or(0);
        let _ = writeln!(o, "sipannotate_calls_total{{flow=\"{}\"}} {n}", f.name());
    }
    type Part = fn(&crate::correlate::kpi::Ratio) -> u64;
    let parts: [(&str, &str, Part); 2] = [
        (
            "kpi_numerator_total",
            "Numerator of each ratio KPI (RFC 6076, ITU-T E.411).",
            |r| r.numerator,
        ),
        (
            "kpi_denominator_total",
            "Denominator of each ratio KPI.",
            |r| r.denominator,
        ),
    ];
    for (name, help, part) in parts {
        family(&mut o, name, "counter", help);
        for r in &s.report.ratios {
            let _ = writeln!(o, "sipannotate_{name}{{kpi=\"{}\"}} {}", r.name, part(r));
        }
    }
    family(
        &mut o,
        "kpi_ratio",
        "gauge",
        "Each ratio KPI since start, 0..1 (absent while its denominator is 0).",
    );
    for r in &s.report.ratios {
        if let Some(p) = r.percent {
            let _ = writeln!(
                o,
                "sipannotate_kpi_ratio{{kpi=\"{}\"}} {}",
                r.name,
                p / 100.0
            );
        }
    }
    for d in &s.report.delays {
        let name = format!("{}_milliseconds", d.name);
        let help = s.catalog.kb.kpi(d.name).name.clone();
        family(&mut o, &name, "summary", &help);
        for (p, v) in d.percentiles {
            if let Some(v) = v {
                let q = f64::from(p) / 100.0;
                let _ = writeln!(o, "sipannotate_{name}{{quantile=\"{q}\"}} {v}");
            }
        }
        let _ = writeln!(
            o,
            "sipannotate_{name}_sum {}\nsipannotate_{name}_count {}",
            d.sum, d.samples
        );
    }
    family(
        &mut o,
        "security_detections_total",
        "counter",
        "Security detections fired, by detection.",
    );
    for d in DetectionKind::ALL {
        let _ = writeln!(
            o,
            "sipannotate_security_detections_total{{detection=\"{}\"}} {}",
            d.name(),
            s.detections[d as usize]
        );
    }
    o
}
