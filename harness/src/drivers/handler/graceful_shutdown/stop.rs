//! The graceful stop: new connections refused promptly, the server gone.

use conformance::proto::grpc_testing::Empty;

use crate::client::Dial;
use crate::drivers::prelude::*;
use crate::target::{PrivateServer, ProcessExit};

use super::connect;

/// Beyond its grace period, how long a stop may take: it bounds itself,
/// waiting up to 5 s for the process after SIGKILL, so this only catches a
/// stop that hangs in the harness.
const STOP_MARGIN: Duration = Duration::from_secs(10);

/// An attempt on a new connection that hangs this long counts as not
/// refused (a refused connection fails at once).
const ATTEMPT: Duration = Duration::from_secs(1);

/// Asks the server to stop gracefully within `grace`; the call ends with
/// how a process exited and how long the stop took.
pub(super) fn begin(
    ctx: &Ctx,
    server: PrivateServer,
    grace: Duration,
) -> Call<(Option<ProcessExit>, Duration)> {
    ctx.spawn_within("graceful stop", grace + STOP_MARGIN, async move {
        let began = Instant::now();
        let exit = server.stop_gracefully(grace).await;
        Ok::<_, RpcError>((exit, began.elapsed()))
    })
}

/// Tries RPCs on new connections until one fails or `refuse_within` has
/// passed since the stop began; when one failed, how long after.
pub(super) async fn refused(
    ctx: &Ctx,
    dial: &Dial,
    stop_began: Instant,
    refuse_within: Duration,
    checks: &mut Checks,
) -> Result<Option<Duration>, DriverError> {
    let mut last = String::from("no attempt made");
    while stop_began.elapsed() < refuse_within {
        let mut test = test_client(connect(dial)?.handle());
        let label = "EmptyCall on a new connection";
        let attempt = ctx.spawn_within(
            label,
            ATTEMPT,
            async move { test.empty_call(Empty {}).await },
        );
        match attempt.join().await {
            Err(RpcError::Status(status)) => {
                let after = stop_began.elapsed();
                checks.line(format!(
                    "a new connection's RPC failed {} ms after the stop began: {}",
                    after.as_millis(),
                    brief(&status)
                ));
                return Ok(Some(after));
            }
            Ok(_) => last = "a new connection was still served".to_owned(),
            Err(RpcError::Stalled(stalled)) => last = format!("{stalled} (the attempt hung)"),
            Err(err) => last = err.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    checks.problem(format!(
        "new connections were not refused within {} ms of the graceful stop: {last}",
        refuse_within.as_millis()
    ));
    Ok(None)
}

/// How the stop ended; returns how long it took, in ms.
pub(super) async fn ended(
    stopping: Call<(Option<ProcessExit>, Duration)>,
    checks: &mut Checks,
) -> Result<f64, DriverError> {
    let (exit, took) = match stopping.join().await {
        Ok(stopped) => stopped,
        Err(RpcError::Task(join)) => {
            return Err(DriverError::harness(format!(
                "the stop task failed: {join}"
            )));
        }
        Err(err) => {
            checks.problem(err.to_string());
            return Ok(0.0);
        }
    };
    match exit {
        Some(exit) if exit.success => checks.line(format!(
            "the server process exited cleanly ({}) {} ms after the stop began",
            exit.status,
            took.as_millis()
        )),
        Some(exit) => checks.problem(format!("the server process did not exit cleanly: {exit}")),
        None => checks.line(format!(
            "the embedded server stopped {} ms after the stop began (no process exit status)",
            took.as_millis()
        )),
    }
    Ok(took.as_secs_f64() * 1000.0)
}

/// Stops the private server (so that it does not outlive the scenario) and
/// passes `err` on. The scenario ends without a verdict: a short grace.
pub(super) async fn stop_after(server: PrivateServer, err: DriverError) -> DriverError {
    let grace = Duration::from_secs(2);
    let _ = within(grace + STOP_MARGIN, "stop", server.stop_gracefully(grace)).await;
    err
}
