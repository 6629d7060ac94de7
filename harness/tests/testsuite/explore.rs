//! Generated schedules: a bounded run against the healthy reference server
//! (fixed seed in CI, random locally), and the explorer finding and shrinking
//! a counterexample against defect modes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use conformance::server::{Defect, ServerConfig};
use harness::explore::{ExploreConfig, explore};
use harness::target::{TargetSession, TargetSpec};

async fn target(defects: &[Defect]) -> Arc<TargetSession> {
    let config = ServerConfig {
        defects: defects.iter().copied().collect(),
        ..ServerConfig::default()
    };
    Arc::new(
        TargetSession::open(TargetSpec::Embedded { config }, Vec::new())
            .await
            .expect("the embedded target opens"),
    )
}

fn seed() -> u64 {
    if std::env::var_os("CI").is_some() {
        return 20_261_125;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |elapsed| elapsed.as_nanos() as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_schedules_match_the_oracle_on_the_reference_server() {
    let seed = seed();
    let outcome = explore(
        target(&[]).await,
        ExploreConfig {
            cases: 24,
            seed,
            time_budget: Duration::from_secs(40),
            max_rpcs: 10,
            ..ExploreConfig::default()
        },
    )
    .await;
    if let Some((schedule, why)) = &outcome.failure {
        panic!("seed {seed}: {why}\n{schedule}");
    }
    assert!(outcome.cases_run >= 1, "no case ran");
}

async fn finds(defect: Defect) -> (usize, String) {
    let started = Instant::now();
    let outcome = explore(
        target(&[defect]).await,
        ExploreConfig {
            cases: 64,
            seed: 11,
            time_budget: Duration::from_secs(60),
            max_rpcs: 12,
            // A counterexample of a stalling defect costs a bound per run:
            // a short shrink still shows it.
            shrink_budget: Duration::from_secs(15),
        },
    )
    .await;
    let (schedule, why) = outcome.failure.unwrap_or_else(|| {
        panic!(
            "explore found nothing against {defect} in {} cases",
            outcome.cases_run
        )
    });
    eprintln!(
        "against {defect}: found and shrunk in {:?} after {} cases: {why}\n{schedule}",
        started.elapsed(),
        outcome.cases_run
    );
    (schedule.rpcs.len(), why)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explore_finds_dropped_stream_messages_and_shrinks() {
    let (rpcs, _) = finds(Defect::DuplexDropMessages).await;
    assert!(rpcs <= 3, "shrunk to {rpcs} RPCs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explore_finds_replies_cut_at_half_close_and_shrinks() {
    let (rpcs, _) = finds(Defect::EndAtHalfClose).await;
    assert!(rpcs <= 3, "shrunk to {rpcs} RPCs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explore_finds_handlers_serialised_per_connection() {
    let (_, why) = finds(Defect::SerializePerConnection).await;
    assert!(
        why.contains("the exchange") && why.contains("other stream(s) of the channel were open"),
        "{why}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explore_finds_a_blocked_thread_stalling_every_handler() {
    let (_, why) = finds(Defect::SingleWorker).await;
    assert!(why.contains("the exchange"), "{why}");
}
