//! Unary and streaming throughput through the harness's own RPC path versus a
//! plain tonic client loop, against the same reference server, at 1, 16, 256
//! and 1,024 RPCs in flight.
//!
//! * `harness`: a channel from `harness::client::Dial` (the counting
//!   connector every scenario uses) driven by `harness::load::closed_loop`,
//!   the code of the `sustained-load` scenario: clients from
//!   `harness::drivers::test_client`, every RPC bounded by `within` and
//!   recorded as a span on a fresh `harness::timeline::Timeline` (one per
//!   batch, as one per scenario run).
//! * `plain-tonic`: a `tonic::transport::Channel` from a bare `Endpoint`, and
//!   N tasks each awaiting its share of the batch in a loop.
//!
//! Both sides run on a 2-worker client runtime; the server
//! (`conformance::server::RunningServer`) runs on a runtime and threads of
//! its own. The two sides alternate at each level, so both see the same
//! machine. After criterion, a paired pass alternates harness and plain
//! batches at every level and prints the harness/plain ratio (drift on a
//! shared machine falls on both sides alike), and draws throughput against
//! RPCs in flight (`throughput.svg` in the criterion directory, or the file
//! named by `GRPC_BENCH_CHART`).

#[path = "support/chart.rs"]
mod chart;

use std::hint::black_box;
use std::time::{Duration, Instant};

use conformance::proto::grpc_testing::test_service_client::TestServiceClient;
use conformance::server::{RunningServer, ServerConfig};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use harness::client::{ChannelOptions, Dial};
use harness::drivers::{output_request, unary_request};
use harness::load::{Call, LoadSpec, closed_loop};
use harness::timeline::Timeline;
use tokio::runtime::Runtime;
use tonic::transport::{Channel, Endpoint};

/// RPCs in flight.
const LEVELS: [usize; 4] = [1, 16, 256, 1_024];
/// Messages of one streaming RPC.
const STREAM_MESSAGES: usize = 8;
/// Bytes of each response message.
const RESPONSE_SIZE: usize = 32;

/// RPCs per timed batch: enough for several rounds at every level.
fn batch(level: usize) -> u64 {
    (level as u64 * 8).max(512)
}

#[derive(Clone, Copy)]
enum Kind {
    Unary,
    Streaming,
}

impl Kind {
    fn group(self) -> &'static str {
        match self {
            Kind::Unary => "unary",
            Kind::Streaming => "streaming",
        }
    }

    fn call(self) -> Call {
        match self {
            Kind::Unary => Call::Unary {
                request_size: 0,
                response_size: RESPONSE_SIZE,
            },
            Kind::Streaming => Call::ServerStream {
                messages: STREAM_MESSAGES,
                size: RESPONSE_SIZE,
            },
        }
    }
}

fn client_runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// One batch through the harness's path; returns the time it took.
async fn harness_batch(channel: &Channel, kind: Kind, level: usize) -> Duration {
    let spec = LoadSpec {
        call: kind.call(),
        ..LoadSpec::unary(level, batch(level))
    };
    let timeline = Timeline::new();
    let started = Instant::now();
    let outcome = closed_loop(channel, &timeline, &spec).await;
    let took = started.elapsed();
    assert_eq!(
        outcome.failed, 0,
        "harness load failed: {:?}",
        outcome.first_failure
    );
    assert_eq!(outcome.succeeded, batch(level));
    black_box(timeline.take());
    took
}

/// One batch through a plain tonic client loop; returns the time it took.
async fn plain_batch(channel: &Channel, kind: Kind, level: usize) -> Duration {
    let per_task = batch(level) / level as u64;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(level);
    for _ in 0..level {
        let mut client = TestServiceClient::new(channel.clone());
        tasks.push(tokio::spawn(async move {
            match kind {
                Kind::Unary => {
                    let request = unary_request(RESPONSE_SIZE, 0);
                    for _ in 0..per_task {
                        let response = client.unary_call(request.clone()).await.expect("UnaryCall");
                        black_box(response);
                    }
                }
                Kind::Streaming => {
                    let request = output_request(&[RESPONSE_SIZE; STREAM_MESSAGES], Duration::ZERO);
                    for _ in 0..per_task {
                        let mut stream = client
                            .streaming_output_call(request.clone())
                            .await
                            .expect("StreamingOutputCall")
                            .into_inner();
                        while let Some(message) = stream.message().await.expect("a message") {
                            black_box(message);
                        }
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("a plain tonic task");
    }
    started.elapsed()
}

/// The two sides' channels, built (lazily connecting) inside the runtime,
/// once, and reused by every batch, as a scenario reuses its channel.
fn channels(runtime: &Runtime, uri: &str) -> (Channel, Channel) {
    runtime.block_on(async {
        let dial = Dial {
            uri: uri.to_owned(),
            tls: None,
            client_defects: Vec::new(),
        };
        let harness = dial
            .channel(&ChannelOptions::default())
            .expect("a harness channel")
            .handle();
        let plain = Endpoint::from_shared(uri.to_owned())
            .expect("an endpoint")
            .tcp_nodelay(true)
            .connect_lazy();
        (harness, plain)
    })
}

fn throughput(
    criterion: &mut Criterion,
    runtime: &Runtime,
    harness_channel: &Channel,
    plain_channel: &Channel,
) {
    for kind in [Kind::Unary, Kind::Streaming] {
        let mut group = criterion.benchmark_group(kind.group());
        group.sampling_mode(SamplingMode::Flat).sample_size(10);
        for level in LEVELS {
            group.throughput(Throughput::Elements(batch(level)));
            group.bench_with_input(
                BenchmarkId::new("harness", level),
                &level,
                |bench, &level| {
                    bench.to_async(runtime).iter_custom(|iterations| {
                        let channel = harness_channel.clone();
                        async move {
                            let mut total = Duration::ZERO;
                            for _ in 0..iterations {
                                total += harness_batch(&channel, kind, level).await;
                            }
                            total
                        }
                    });
                },
            );
            group.bench_with_input(
                BenchmarkId::new("plain-tonic", level),
                &level,
                |bench, &level| {
                    bench.to_async(runtime).iter_custom(|iterations| {
                        let channel = plain_channel.clone();
                        async move {
                            let mut total = Duration::ZERO;
                            for _ in 0..iterations {
                                total += plain_batch(&channel, kind, level).await;
                            }
                            total
                        }
                    });
                },
            );
        }
        group.finish();
    }
}

/// The median of `values` (sorted in place).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    }
}

/// Each round of the paired pass: a harness batch, a plain batch and a
/// second plain batch (the A/A control), in an order that rotates.
async fn round(
    harness: &Channel,
    plain: &Channel,
    kind: Kind,
    level: usize,
    index: u32,
) -> [Duration; 3] {
    let mut times = [Duration::ZERO; 3];
    for step in 0..3 {
        let which = (step + index as usize) % 3;
        times[which] = match which {
            0 => harness_batch(harness, kind, level).await,
            _ => plain_batch(plain, kind, level).await,
        };
    }
    times
}

/// Alternates harness and plain batches at every level, so that whatever
/// else the machine does falls on both sides alike: the ratio comes from
/// these, criterion's groups give each side's own figures. A second plain
/// batch per round (plain against plain, "A/A") shows how far two identical
/// sides drift apart on this machine. Returns one series per kind and side.
fn paired(
    runtime: &Runtime,
    harness: &Channel,
    plain: &Channel,
    rounds: u32,
) -> Vec<chart::Series> {
    let mut series = Vec::new();
    println!(
        "\npaired pass: {rounds} rounds per level, each a harness batch, a plain batch and a plain A/A control, in rotating order"
    );
    println!(
        "{:<10} {:>9} {:>14} {:>14} {:>7} {:>13} {:>10}",
        "kind", "in flight", "harness RPC/s", "plain RPC/s", "ratio", "median ratio", "A/A median"
    );
    for kind in [Kind::Unary, Kind::Streaming] {
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for level in LEVELS {
            let times = runtime.block_on(async {
                // Warm both sides up.
                round(harness, plain, kind, level, 0).await;
                let mut times = Vec::new();
                for index in 0..rounds {
                    times.push(round(harness, plain, kind, level, index).await);
                }
                times
            });
            let total = |side: usize| times.iter().map(|t| t[side].as_secs_f64()).sum::<f64>();
            let rpcs = (batch(level) * u64::from(rounds)) as f64;
            let h = rpcs / total(0);
            let p = rpcs / total(1);
            let mut ratios: Vec<f64> = times
                .iter()
                .map(|t| t[1].as_secs_f64() / t[0].as_secs_f64())
                .collect();
            let mut controls: Vec<f64> = times
                .iter()
                .map(|t| t[1].as_secs_f64() / t[2].as_secs_f64())
                .collect();
            println!(
                "{:<10} {level:>9} {h:>14.0} {p:>14.0} {:>7.3} {:>13.3} {:>10.3}",
                kind.group(),
                h / p,
                median(&mut ratios),
                median(&mut controls)
            );
            ours.push(Some(h));
            theirs.push(Some(p));
        }
        series.push(chart::Series {
            group: kind.group(),
            function: "harness",
            points: ours,
        });
        series.push(chart::Series {
            group: kind.group(),
            function: "plain-tonic",
            points: theirs,
        });
    }
    series
}

fn main() {
    let server = RunningServer::start(ServerConfig::default()).expect("the reference server");
    let runtime = client_runtime();
    let (harness_channel, plain_channel) = channels(&runtime, &server.uri());
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    throughput(&mut criterion, &runtime, &harness_channel, &plain_channel);
    criterion.final_summary();

    // The paired pass runs under `cargo bench` only (not `cargo test
    // --benches`), and GRPC_BENCH_PAIRED_ROUNDS=0 skips it.
    let rounds = std::env::var("GRPC_BENCH_PAIRED_ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(20);
    if rounds > 0 && std::env::args().any(|arg| arg == "--bench") {
        let series = paired(&runtime, &harness_channel, &plain_channel, rounds);
        if let Some(path) = chart::write(&series, &LEVELS) {
            println!("throughput chart: {}", path.display());
        }
    }
    drop(runtime);
    drop(server);
}
