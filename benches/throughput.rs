//! `cargo bench`: throughput of the engine on generated logs, in memory
//! (no disk, no terminal): JSON events only, text pass-through, and a log
//! with no status line at all (the bulk scan alone).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use sipannotate::catalog::Catalog;
use sipannotate::format::json::JsonOutput;
use sipannotate::format::text::TextOutput;
use sipannotate::matcher::Matcher;
use sipannotate::pipeline::{annotate_reader, Discard, RunOptions};
use sipannotate::testgen::generate;

fn bench(c: &mut Criterion) {
    let catalog = Catalog::builtin("en").unwrap();
    let matcher = Matcher::new(&catalog).unwrap();
    let mut log = Vec::new();
    generate(&mut log, 16 << 20, 1).unwrap();
    let noise: Vec<u8> = log
        .split_inclusive(|b| *b == b'\n')
        .filter(|l| {
            !l.windows(4)
                .any(|w| w == b"SIP/" || w == b"ACC:" || w == b"Got " || w == b"stat")
        })
        .flatten()
        .copied()
        .collect();

    let run = |data: &[u8], json: bool| {
        let opts = RunOptions::default();
        let mut input = data;
        if json {
            let mut out = JsonOutput::new(&catalog, Discard, false);
            annotate_reader(&catalog, &matcher, "bench", &mut input, &mut out, opts).unwrap()
        } else {
            let mut out = TextOutput::new(&catalog, Discard, false, false);
            annotate_reader(&catalog, &matcher, "bench", &mut input, &mut out, opts).unwrap()
        }
    };
    let mut group = c.benchmark_group("engine");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(log.len() as u64));
    group.bench_function("json_only_matches", |b| b.iter(|| run(&log, true)));
    group.bench_function("text_passthrough", |b| b.iter(|| run(&log, false)));
    group.throughput(Throughput::Bytes(noise.len() as u64));
    group.bench_function("noise_scan", |b| b.iter(|| run(&noise, true)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
