//! Tasks that share a channel, each issuing its RPCs one after another.

use std::future::Future;

use crate::drivers::prelude::*;

/// What [`in_turn`] saw: the values of the calls that succeeded, every
/// call's outcome and every worker's (a worker fails with its first failed
/// call).
pub struct Turns<T> {
    pub values: Vec<T>,
    pub calls: Tally,
    pub workers: Tally,
}

/// Whether a worker goes on after a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Stop the worker (its next calls would only wait out the same stall).
    Stop,
    /// Issue every call and count each.
    GoOn,
}

/// Runs `workers` workers at once; worker `w` issues `calls` RPCs in turn,
/// RPC `i` being `call(w, i)`, each spawned as "task w rpc i" with `limit`.
pub async fn in_turn<T, E, F>(
    ctx: &Ctx,
    workers: usize,
    calls: usize,
    limit: Duration,
    on_failure: OnFailure,
    call: impl Fn(usize, usize) -> F,
) -> Turns<T>
where
    T: Send + 'static,
    E: Into<RpcError>,
    F: Future<Output = Result<T, E>> + Send + 'static,
{
    let call = &call;
    let runs = (0..workers).map(|worker| async move {
        let mut outcomes = Vec::with_capacity(calls);
        for index in 0..calls {
            let label = format!("task {worker} rpc {index}");
            let outcome = ctx
                .spawn_within(label.clone(), limit, call(worker, index))
                .join()
                .await;
            let failed = outcome.is_err();
            outcomes.push((label, outcome));
            if failed && on_failure == OnFailure::Stop {
                break;
            }
        }
        outcomes
    });
    let mut turns = Turns {
        values: Vec::new(),
        calls: Tally::new(),
        workers: Tally::new(),
    };
    for outcomes in futures::future::join_all(runs).await {
        let before = turns.calls.failed();
        for (label, outcome) in outcomes {
            turns.values.extend(turns.calls.count(&label, outcome));
        }
        match turns.calls.failures().get(before) {
            Some(first) => turns.workers.fail(first.clone()),
            None => turns.workers.pass(),
        }
    }
    turns
}

/// One short RPC ([`quick_rpc`]): the connection identity a Hold reports
/// when `identify`, otherwise a UnaryCall for `size` bytes.
pub async fn short_rpc(
    channel: Channel,
    identify: bool,
    size: usize,
    limit: Duration,
) -> Result<Option<String>, RpcError> {
    // quick_rpc tells a status or a stall as text: kept as it is.
    quick_rpc(channel, identify, size, limit)
        .await
        .map_err(RpcError::Wrong)
}
