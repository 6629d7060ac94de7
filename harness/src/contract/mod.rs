//! The adapter contract: what a server must do for the scenarios to mean
//! anything, checked one RPC at a time (`grpc-conformance contract`). Each
//! check exercises one feature of TestService or ProbeService that the
//! drivers rely on (sizes, statuses, metadata echo, pacing, holds, gauges,
//! pipes) and says exactly what differed. Run it first when writing an
//! adapter: a scenario's failure then means concurrency, not a missing field.

mod probe_service;
mod test_service;

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use crate::client::Channel;
use crate::scenario::Capability;
use crate::target::TargetSession;

/// The bound on one check.
const CHECK_LIMIT: Duration = Duration::from_secs(10);

type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// One check of the contract.
pub struct Check {
    pub name: &'static str,
    /// What the target must have for the check to apply.
    pub needs: Option<Capability>,
    run: fn(Channel, String) -> CheckFuture,
}

/// How one check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail(String),
    Skip(String),
}

/// Every check, in the order they run.
pub fn checks() -> Vec<Check> {
    let mut all = test_service::checks();
    all.extend(probe_service::checks());
    all
}

/// Runs every check against `target`, in order, calling `report` after each
/// with its name, verdict and duration. Returns how many failed.
pub async fn run(
    target: &TargetSession,
    mut report: impl FnMut(&str, &Verdict, Duration),
) -> Result<usize, String> {
    let channel = target
        .dial
        .channel(&Default::default())
        .map_err(|err| format!("cannot build a channel: {err}"))?;
    let mut failed = 0;
    for (index, check) in checks().into_iter().enumerate() {
        let started = Instant::now();
        let verdict = match check.needs {
            Some(needed) if !target.has(needed) => Verdict::Skip(format!(
                "needs {}: {}",
                needed.as_str(),
                needed.how_to_get()
            )),
            _ => {
                let unique = format!("contract-{}-{index}", std::process::id());
                let call = (check.run)(channel.handle(), unique);
                match tokio::time::timeout(CHECK_LIMIT, call).await {
                    Ok(Ok(())) => Verdict::Pass,
                    Ok(Err(what)) => Verdict::Fail(what),
                    Err(_) => {
                        Verdict::Fail(format!("no answer within {} s", CHECK_LIMIT.as_secs()))
                    }
                }
            }
        };
        if matches!(verdict, Verdict::Fail(_)) {
            failed += 1;
        }
        report(check.name, &verdict, started.elapsed());
    }
    Ok(failed)
}

/// Fails with `what` unless `ok`.
fn expect(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what()) }
}

/// The status an RPC must have ended with.
fn expect_code<T>(
    outcome: Result<T, tonic::Status>,
    code: tonic::Code,
    what: &str,
) -> Result<tonic::Status, String> {
    match outcome {
        Ok(_) => Err(format!("{what} answered OK, not {code:?}")),
        Err(status) if status.code() == code => Ok(status),
        Err(status) => Err(format!(
            "{what} ended with {}, not {code:?}",
            crate::drivers::brief(&status)
        )),
    }
}

/// A status as a check's failure.
fn status(what: &str) -> impl FnOnce(tonic::Status) -> String + '_ {
    move |status| format!("{what}: {}", crate::drivers::brief(&status))
}
