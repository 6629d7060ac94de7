//! The cost of writing the reports of a 10,000-RPC run: a report whose
//! results hold 10,000 timeline spans in all (5 results of 2,000 spans, the
//! most a scenario keeps: `timeline::MAX_SPANS`), rendered and written as
//! JSON, JUnit XML, Markdown and HTML (with its SVG timelines).

use std::collections::BTreeMap;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group};
use harness::expectations::{Expected, Outcome};
use harness::report::{Report, ReportFiles, SCHEMA, ScenarioResult, Summary, TargetSummary};
use harness::timeline::{Label, MAX_SPANS, Span};
use harness::verdict::Verdict;

const RESULTS: usize = 5;

fn result(index: usize) -> ScenarioResult {
    let timeline = (0..MAX_SPANS)
        .map(|rpc| {
            let start = (rpc as u64) * 37;
            Span {
                label: Label::Numbered("UnaryCall", rpc as u64),
                start_us: start,
                first_message_us: Some(start + 900),
                end_us: Some(start + 1_000),
                ok: true,
            }
        })
        .collect();
    let mut figures = BTreeMap::new();
    figures.insert("rpcs_per_second".to_owned(), 31_756.0);
    figures.insert("latency_p50_ms".to_owned(), 1.76);
    ScenarioResult {
        id: format!("channel.bench-{index}"),
        area: "channel".to_owned(),
        title: format!("Benchmark result {index}: 2,000 RPCs on one channel"),
        guarantee: "One client channel is safe to share across tasks.".to_owned(),
        attempt: 1,
        verdict: Verdict::Pass,
        reason_kind: None,
        reason: None,
        expected: Expected::Pass,
        outcome: Outcome::AsExpected,
        evidence: vec![
            "all 2000 RPCs succeeded".to_owned(),
            "client opened 1 TCP connection(s)".to_owned(),
        ],
        figures,
        timeline,
        timeline_dropped: 0,
        duration_ms: 80,
        budget_ms: 20_000,
        repro: format!("grpc-conformance run --filter channel.bench-{index}"),
    }
}

fn report() -> Report {
    let results: Vec<ScenarioResult> = (0..RESULTS).map(result).collect();
    let summary = Summary::of(&results, 400);
    Report {
        schema: SCHEMA.to_owned(),
        suite_version: env!("CARGO_PKG_VERSION").to_owned(),
        target: TargetSummary {
            name: "tonic".to_owned(),
            description: "embedded reference server".to_owned(),
            ..TargetSummary::default()
        },
        started_at: "2025-01-01T00:00:00Z".to_owned(),
        finished_at: Some("2025-01-01T00:00:01Z".to_owned()),
        complete: true,
        interrupted: None,
        machine: harness::runner::machine(),
        command: "grpc-conformance run".to_owned(),
        results,
        summary,
    }
}

fn reports(criterion: &mut Criterion) {
    let report = report();
    let spans: usize = report.results.iter().map(|r| r.timeline.len()).sum();
    assert_eq!(spans, 10_000);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let files = ReportFiles::new(dir.path());

    let mut group = criterion.benchmark_group("report-10k-spans");
    group.throughput(Throughput::Elements(spans as u64));
    group.sample_size(20);
    group.bench_function("write-all", |bench| {
        bench.iter(|| files.write_all(&report).expect("reports written"));
    });
    group.bench_function("json", |bench| {
        bench.iter(|| serde_json::to_vec_pretty(&report).expect("JSON"));
    });
    group.bench_function("junit", |bench| {
        bench.iter(|| harness::report::junit::render(&report).expect("JUnit"));
    });
    group.bench_function("markdown", |bench| {
        bench.iter(|| harness::report::markdown::render(&report));
    });
    group.bench_function("html", |bench| {
        bench.iter(|| harness::report::html::render(&report));
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = reports
}
criterion::criterion_main!(benches);
