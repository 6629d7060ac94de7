//! Generated concurrent schedules: proptest draws sets of RPCs (kinds, sizes,
//! server-side intervals, staggered starts, injected statuses, deadlines and
//! cancellations at chosen points), runs each schedule on one shared channel
//! against a target, and checks every RPC against an oracle derived from the
//! schedule alone. A deviation is shrunk to a minimal schedule, printed with
//! the seed that replays it.

mod executor;
mod oracle;
mod schedule;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

pub use schedule::{Exchange, Fault, Kind, Rpc, Schedule};

use crate::target::TargetSession;

/// How an exploration runs.
#[derive(Debug, Clone)]
pub struct ExploreConfig {
    pub cases: u32,
    pub seed: u64,
    /// Wall-clock bound on generating and running cases (shrinking has its own).
    pub time_budget: Duration,
    /// Most RPCs in one schedule.
    pub max_rpcs: usize,
    /// Wall-clock bound on shrinking a counterexample.
    pub shrink_budget: Duration,
}

impl Default for ExploreConfig {
    fn default() -> Self {
        Self {
            cases: 64,
            seed: 0x5eed,
            time_budget: Duration::from_secs(60),
            max_rpcs: 12,
            shrink_budget: Duration::from_secs(60),
        }
    }
}

/// What an exploration found.
#[derive(Debug, Clone)]
pub struct ExploreOutcome {
    pub seed: u64,
    /// Cases run before the end (or the first failure).
    pub cases_run: usize,
    pub elapsed: Duration,
    /// The minimal failing schedule and why it fails, if any.
    pub failure: Option<(Schedule, String)>,
    /// True when the time budget stopped the exploration early.
    pub budget_exhausted: bool,
}

fn rng(seed: u64) -> TestRng {
    let mut bytes = [0u8; 32];
    for (index, chunk) in bytes.chunks_mut(8).enumerate() {
        let part = seed.rotate_left(index as u32 * 16)
            ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        chunk.copy_from_slice(&part.to_le_bytes());
    }
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

/// Explores `config.cases` generated schedules against the target. Call from
/// async code: the proptest runner works on a blocking thread.
pub async fn explore(target: Arc<TargetSession>, config: ExploreConfig) -> ExploreOutcome {
    let handle = tokio::runtime::Handle::current();
    let started = Instant::now();
    let run = tokio::task::spawn_blocking(move || {
        let runner_config = Config {
            cases: config.cases,
            failure_persistence: None,
            max_shrink_iters: 256,
            max_shrink_time: u32::try_from(config.shrink_budget.as_millis()).unwrap_or(u32::MAX),
            ..Config::default()
        };
        let mut runner = TestRunner::new_with_rng(runner_config, rng(config.seed));
        let executed = AtomicUsize::new(0);
        let shrinking = std::sync::atomic::AtomicBool::new(false);
        let deadline = started + config.time_budget;
        let blocking = target.has(crate::scenario::Capability::UnsafeHolds);
        let result = runner.run(
            &schedule::schedules(config.max_rpcs, blocking),
            |schedule| {
                // Past the budget, remaining fresh cases are not run; a shrink in
                // progress still completes (it has its own bound).
                if Instant::now() > deadline && !shrinking.load(Ordering::SeqCst) {
                    return Ok(());
                }
                executed.fetch_add(1, Ordering::SeqCst);
                let observed = handle.block_on(executor::execute(&target, &schedule));
                match oracle::check(&schedule, &observed) {
                    Ok(()) => Ok(()),
                    Err(reason) => {
                        shrinking.store(true, Ordering::SeqCst);
                        Err(TestCaseError::fail(reason))
                    }
                }
            },
        );
        let failure = match result {
            Ok(()) => None,
            Err(TestError::Fail(reason, schedule)) => Some((schedule, reason.to_string())),
            Err(TestError::Abort(reason)) => {
                Some((Schedule::empty(), format!("aborted: {reason}")))
            }
        };
        (
            executed.load(Ordering::SeqCst),
            failure,
            Instant::now() > deadline,
        )
    })
    .await;
    let (cases_run, failure, budget_exhausted) = run.unwrap_or_else(|join| {
        (
            0,
            Some((Schedule::empty(), format!("the explorer failed: {join}"))),
            false,
        )
    });
    ExploreOutcome {
        seed: config.seed,
        cases_run,
        elapsed: started.elapsed(),
        failure,
        budget_exhausted,
    }
}
