//! Unary and streaming throughput through the harness's own RPC path versus a
//! plain tonic client loop, against the same reference server, at 1, 16, 256
//! and 1,024 RPCs in flight.
//!
//! * `harness`: `harness::load::LoadClient` on a connection of a channel
//!   from `harness::client::Dial` (the counting connector every scenario
//!   uses), the code of the `sustained-load` scenario: pre-encoded RPCs on
//!   h2 from the load's own thread, every RPC bounded in time, its answer
//!   checked and recorded as a span on a fresh `harness::timeline::Timeline`
//!   (one per batch, as one per scenario run).
//! * `plain-tonic`: a `tonic::transport::Channel` from a bare `Endpoint`, and
//!   N tasks each awaiting its share of the batch in a loop.
//!
//! The plain side runs on a 2-worker client runtime, the harness's load on
//! its own thread (driven from that runtime); the server
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
use harness::load::{Call, LoadClient, LoadSpec};
use harness::timeline::Timeline;
use tokio::runtime::Runtime;
use tonic::transport::Endpoint;

/// The plain side's channel: tonic's own.
type PlainChannel = tonic::transport::Channel;

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
async fn harness_batch(client: &LoadClient, kind: Kind, level: usize) -> Duration {
    let spec = LoadSpec {
        call: kind.call(),
        ..LoadSpec::unary(level, batch(level))
    };
    let timeline = Timeline::new();
    let started = Instant::now();
    let outcome = client.run(&timeline, &spec).await;
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
async fn plain_batch(channel: &PlainChannel, kind: Kind, level: usize) -> Duration {
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
fn channels(runtime: &Runtime, uri: &str) -> (LoadClient, PlainChannel) {
    runtime.block_on(async {
        let dial = Dial {
            uri: uri.to_owned(),
            tls: None,
            client_defects: Vec::new(),
        };
        let channel = dial
            .channel(&ChannelOptions::default())
            .expect("a harness channel");
        let harness = LoadClient::connect(channel.connector())
            .await
            .expect("the harness's load connection");
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
    harness_client: &LoadClient,
    plain_channel: &PlainChannel,
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
                    bench
                        .to_async(runtime)
                        .iter_custom(|iterations| async move {
                            let mut total = Duration::ZERO;
                            for _ in 0..iterations {
                                total += harness_batch(harness_client, kind, level).await;
                            }
                            total
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

/// The median of `values` and a distribution-free 95% confidence interval
/// for it: the order statistics `x(k)` and `x(n+1-k)` with `k` the largest
/// rank for which P(Binomial(n, 1/2) < k) <= 2.5%. No assumption on how the
/// machine's noise is distributed; `None` for the interval when `n` is too
/// small (< 6) to give one.
fn median_with_interval(values: &mut [f64]) -> (f64, Option<(f64, f64)>) {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let middle = n / 2;
    let median = if n.is_multiple_of(2) {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    };
    // P(B <= j) for B ~ Binomial(n, 1/2), accumulated term by term.
    let mut term = 0.5f64.powi(n as i32);
    let mut below = 0.0;
    let mut k = 0;
    for j in 0..n {
        below += term;
        if below > 0.025 {
            break;
        }
        k = j + 1;
        term *= (n - j) as f64 / (j + 1) as f64;
    }
    let interval = (k >= 1).then(|| (values[k - 1], values[n - k]));
    (median, interval)
}

/// The `q` quantile (0..=1, nearest rank) of `values` (sorted in place).
fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

/// One cell of the paired pass: a kind of call at a level.
struct Cell {
    kind: Kind,
    level: usize,
    /// Per round: the harness batch, the plain batch, the plain A/A batch.
    times: Vec<[Duration; 3]>,
}

/// The six orders of a round's three batches (0 harness, 1 plain, 2 plain
/// A/A). Cycling through all six puts each batch first, second and third,
/// and after each of the others, equally often: a batch that follows a
/// switch of channel runs a few percent slower here, and a rotation of
/// three alone would put the A/A batch after its twin two times in three.
const ORDERS: [[usize; 3]; 6] = [
    [0, 1, 2],
    [1, 2, 0],
    [2, 0, 1],
    [0, 2, 1],
    [2, 1, 0],
    [1, 0, 2],
];

/// Each round of the paired pass, per cell: a harness batch, a plain batch
/// and a second plain batch (the A/A control), in the round's order.
async fn round(
    harness: &LoadClient,
    plain: &PlainChannel,
    kind: Kind,
    level: usize,
    index: usize,
) -> [Duration; 3] {
    let mut times = [Duration::ZERO; 3];
    for which in ORDERS[index % ORDERS.len()] {
        times[which] = match which {
            0 => harness_batch(harness, kind, level).await,
            _ => plain_batch(plain, kind, level).await,
        };
    }
    times
}

/// The cells `GRPC_BENCH_PAIRED_ONLY` names (`unary:1024,streaming:1`), or
/// every kind at every level.
fn paired_cells() -> Vec<Cell> {
    let only = std::env::var("GRPC_BENCH_PAIRED_ONLY").unwrap_or_default();
    let wanted = |kind: Kind, level: usize| {
        only.is_empty()
            || only
                .split(',')
                .any(|cell| cell.trim() == format!("{}:{level}", kind.group()))
    };
    [Kind::Unary, Kind::Streaming]
        .into_iter()
        .flat_map(|kind| LEVELS.into_iter().map(move |level| (kind, level)))
        .filter(|&(kind, level)| wanted(kind, level))
        .map(|(kind, level)| Cell {
            kind,
            level,
            times: Vec::new(),
        })
        .collect()
}

/// Alternates harness and plain batches so that whatever else the machine
/// does falls on both sides alike: on this shared 2-core machine the speed
/// of the same code drifts by 20-40% over seconds, so separate runs (and
/// criterion's separate groups) cannot be compared. Every round visits every
/// cell, so a slow minute is spread over all of them, and within a cell the
/// harness, plain and A/A batches run back to back in rotating order. A
/// round's ratio is plain time / harness time (harness throughput over
/// plain); the verdict figure is the median of the rounds' ratios with its
/// 95% interval, beside the same figure for plain against plain (A/A),
/// which shows what two identical sides measure here. Returns one series per
/// kind and side for the chart.
fn paired(
    runtime: &Runtime,
    harness: &LoadClient,
    plain: &PlainChannel,
    rounds: usize,
) -> Vec<chart::Series> {
    let mut cells = paired_cells();
    println!(
        "\npaired pass: {rounds} rounds over {} cells; per round and cell a harness batch, a plain batch and a plain A/A batch, cycling through their six orders",
        cells.len()
    );
    runtime.block_on(async {
        // Warm every cell's connections and code paths up.
        for cell in &cells {
            round(harness, plain, cell.kind, cell.level, 0).await;
        }
        for index in 0..rounds {
            for cell in &mut cells {
                let times = round(harness, plain, cell.kind, cell.level, index).await;
                cell.times.push(times);
            }
        }
    });
    println!(
        "{:<10} {:>9} {:>14} {:>14} {:>7} {:>22} {:>22} {:>8} {:>8}",
        "kind",
        "in flight",
        "harness RPC/s",
        "plain RPC/s",
        "ratio",
        "median ratio [95%]",
        "A/A median [95%]",
        "fast20%",
        "A/A f20%"
    );
    let shown = |(median, interval): (f64, Option<(f64, f64)>)| match interval {
        Some((low, high)) => format!("{median:.3} [{low:.3}, {high:.3}]"),
        None => format!("{median:.3}"),
    };
    let mut series: Vec<chart::Series> = Vec::new();
    for cell in &cells {
        let total = |side: usize| {
            cell.times
                .iter()
                .map(|t| t[side].as_secs_f64())
                .sum::<f64>()
        };
        let rpcs = (batch(cell.level) * cell.times.len() as u64) as f64;
        let (ours, theirs) = (rpcs / total(0), rpcs / total(1));
        let mut ratios: Vec<f64> = cell
            .times
            .iter()
            .map(|t| t[1].as_secs_f64() / t[0].as_secs_f64())
            .collect();
        let mut controls: Vec<f64> = cell
            .times
            .iter()
            .map(|t| t[1].as_secs_f64() / t[2].as_secs_f64())
            .collect();
        // Noise here only ever slows a batch down, so each side's fastest
        // batches are its least disturbed: the ratio of the two sides' 20%
        // quantiles of batch time is a second, noise-resistant estimate.
        let side = |index: usize| -> Vec<f64> {
            cell.times.iter().map(|t| t[index].as_secs_f64()).collect()
        };
        let fast = |times: &mut Vec<f64>| quantile(times, 0.2);
        let (h20, p20, a20) = (fast(&mut side(0)), fast(&mut side(1)), fast(&mut side(2)));
        println!(
            "{:<10} {:>9} {ours:>14.0} {theirs:>14.0} {:>7.3} {:>22} {:>22} {:>8.3} {:>8.3}",
            cell.kind.group(),
            cell.level,
            ours / theirs,
            shown(median_with_interval(&mut ratios)),
            shown(median_with_interval(&mut controls)),
            p20 / h20,
            p20 / a20,
        );
        let slot = LEVELS.iter().position(|&level| level == cell.level);
        for (function, value) in [("harness", ours), ("plain-tonic", theirs)] {
            let index = match series
                .iter()
                .position(|s| s.group == cell.kind.group() && s.function == function)
            {
                Some(index) => index,
                None => {
                    series.push(chart::Series {
                        group: cell.kind.group(),
                        function,
                        points: vec![None; LEVELS.len()],
                    });
                    series.len() - 1
                }
            };
            if let Some(slot) = slot {
                series[index].points[slot] = Some(value);
            }
        }
    }
    series
}

/// `GRPC_BENCH_ONE_SIDE=<harness|plain>,<unary|streaming>,<in flight>,<batches>`:
/// runs only that side (one warm-up batch, then the batches) and prints its
/// RPCs/s, for a profiler or an instruction counter (callgrind) to look at
/// one side alone.
fn one_side(runtime: &Runtime, harness: &LoadClient, plain: &PlainChannel, spec: &str) {
    let parts: Vec<&str> = spec.split(',').collect();
    let [side, kind, level, batches] = parts[..] else {
        panic!("GRPC_BENCH_ONE_SIDE={spec:?}: expected side,kind,in-flight,batches");
    };
    let kind = match kind {
        "unary" => Kind::Unary,
        "streaming" => Kind::Streaming,
        other => panic!("GRPC_BENCH_ONE_SIDE: unknown kind {other:?}"),
    };
    let level: usize = level
        .parse()
        .expect("GRPC_BENCH_ONE_SIDE: in-flight is a number");
    let batches: u32 = batches
        .parse()
        .expect("GRPC_BENCH_ONE_SIDE: batches is a number");
    let took = runtime.block_on(async {
        let run = || async {
            match side {
                "harness" => harness_batch(harness, kind, level).await,
                "plain" => plain_batch(plain, kind, level).await,
                other => panic!("GRPC_BENCH_ONE_SIDE: unknown side {other:?}"),
            }
        };
        run().await;
        let mut took = Duration::ZERO;
        for _ in 0..batches {
            took += run().await;
        }
        took
    });
    let rpcs = batch(level) * u64::from(batches);
    println!(
        "{side} {} {level} in flight: {rpcs} RPCs in {took:?}, {:.0} RPCs/s",
        kind.group(),
        rpcs as f64 / took.as_secs_f64()
    );
}

fn main() {
    let server = RunningServer::start(ServerConfig::default()).expect("the reference server");
    let runtime = client_runtime();
    let (harness_client, plain_channel) = channels(&runtime, &server.uri());
    if let Ok(spec) = std::env::var("GRPC_BENCH_ONE_SIDE") {
        one_side(&runtime, &harness_client, &plain_channel, &spec);
        return;
    }
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    throughput(&mut criterion, &runtime, &harness_client, &plain_channel);
    criterion.final_summary();

    // The paired pass runs under `cargo bench` only (not `cargo test
    // --benches`), and GRPC_BENCH_PAIRED_ROUNDS=0 skips it.
    let rounds = std::env::var("GRPC_BENCH_PAIRED_ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(30);
    if rounds > 0 && std::env::args().any(|arg| arg == "--bench") {
        let series = paired(&runtime, &harness_client, &plain_channel, rounds);
        if let Some(path) = chart::write(&series, &LEVELS) {
            println!("throughput chart: {}", path.display());
        }
    }
    drop(runtime);
    drop(server);
}
