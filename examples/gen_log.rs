//! Writes a synthetic, realistic SIP-server log for benchmarks:
//! `cargo run --release --example gen_log -- 1024 > big.log` (size in MiB,
//! optional seed as second argument). Counts go to stderr.

use std::io::{BufWriter, Write};

fn main() {
    let mut args = std::env::args().skip(1);
    let mib: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    let stats = sipannotate::testgen::generate(&mut out, mib << 20, seed).expect("write log");
    out.flush().expect("flush");
    eprintln!(
        "gen_log: {} bytes, {} lines, {} status lines ({:.1}%)",
        stats.bytes,
        stats.lines,
        stats.status_lines,
        100.0 * stats.status_lines as f64 / stats.lines.max(1) as f64
    );
}
