//! `panic-sibling`: a handler that panics ends only its own RPC, with a gRPC
//! status; handlers in flight on the same connection finish normally and the
//! connection survives.

mod survivors;

use self::survivors::Survivors;
use super::common::{ensure_running, spawn_hold};
use conformance::proto::probe::probe_service_client::ProbeServiceClient;

use crate::drivers::prelude::*;

pub struct PanicSibling;

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Sibling handlers in flight when the panic happens.
    pub siblings: usize,
    /// How long each sibling sleeps (it must outlast the panic).
    pub sibling_hold_ms: u64,
    /// How long any one RPC or wait may take.
    pub timeout_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            siblings: 4,
            sibling_hold_ms: 1_500,
            timeout_ms: 5_000,
        }
    }
}

/// Waits for each sibling to be RUNNING. Sibling #0 waits the whole limit
/// (or ends early on an unanswered Observe); once some siblings were seen
/// RUNNING, a later one, sent with them, not RUNNING for stall_bound of the
/// slowest of them (within the limit) is held back behind them. The error
/// is the scenario's finding.
async fn each_running(
    control: &mut ProbeServiceClient<Channel>,
    tags: &[String],
    limit: Duration,
    answered_in: Option<Duration>,
    sent: Instant,
) -> Result<(), DriverResult> {
    let mut slowest = Duration::ZERO;
    for (index, tag) in tags.iter().enumerate() {
        if index == 0 {
            ensure_running(control, tag, limit, "sibling #0", answered_in).await?;
        } else {
            let wait = stall_bound(slowest).min(limit);
            if !wait_running(control, tag, wait).await {
                // The earlier siblings' handlers ran; this one's did not
                // start beside them.
                return Err(Ok(Finding::fail(format!(
                    "sibling #{index} was not observed RUNNING within {} ms while sibling(s) #0..#{} had been, each within {} ms of being sent ({STALL_FACTOR}x that, at least {} ms, within the {} ms limit): the server did not run its handler beside theirs (before any panic)",
                    wait.as_millis(),
                    index - 1,
                    slowest.as_millis(),
                    STALL_FLOOR.as_millis(),
                    limit.as_millis()
                ))));
            }
        }
        slowest = slowest.max(sent.elapsed());
    }
    Ok(())
}

/// The finding when the siblings' gauge proved some of them held back
/// (before any panic).
fn held_back(admission: Admission, sibling_hold: Duration) -> Finding {
    match admission {
        Admission::Stuck {
            inside,
            wanted,
            quiet,
            slowest,
        } => Finding::fail(format!(
            "only {inside} of the {wanted} sibling handlers, each sleeping {} ms, were inside the server at once, and no more started for {} ms while they slept ({STALL_FACTOR}x its slowest admission step, {} ms, at least {} ms): the server did not run its handlers side by side (before any panic)",
            sibling_hold.as_millis(),
            quiet.as_millis(),
            slowest.as_millis(),
            STALL_FLOOR.as_millis()
        )),
        unanswered @ Admission::Unanswered { .. } => Finding::fail(format!(
            "while the sibling handlers were in flight, {unanswered}: one handler stalls other RPCs"
        )),
    }
}

impl Driver for PanicSibling {
    const NAME: &'static str = "panic-sibling";
    const DOC: &'static str = include_str!("panic_sibling.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let channel = ctx.channel()?;
        let mut control = probe_client(ctx.control()?);
        let limit = Duration::from_millis(params.timeout_ms);
        let sibling_hold = Duration::from_millis(params.sibling_hold_ms);
        let scope = ctx.unique("siblings");

        // The siblings and the panicking call are open together.
        let count = ctx.open_together(params.siblings, 1, "sibling holds");
        let answered_in = observe_latency(&mut control, limit).await;
        let tags: Vec<String> = (0..count)
            .map(|i| ctx.unique(&format!("sibling-{i}")))
            .collect();
        let siblings: Vec<_> = (tags.iter().enumerate())
            .map(|(index, tag)| {
                let request = hold_request(tag, HoldMode::Sleep, sibling_hold, &scope);
                let label = format!("sibling Hold SLEEP #{index}");
                spawn_hold(&ctx, channel.handle(), label, sibling_hold + limit, request)
            })
            .collect();
        // The siblings seen RUNNING one by one; meanwhile their gauge: a
        // server that admits only some of them and no more while those
        // sleep (see `admission_stalled`) runs them one after another.
        let sent = Instant::now();
        let mut gauge_probe = probe_client(ctx.control()?);
        let admission = async {
            match answered_in {
                Some(answered_in) => {
                    let wanted = u32::try_from(count).unwrap_or(u32::MAX);
                    admission_stalled(&mut gauge_probe, &scope, wanted, answered_in, sent).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            seen = each_running(&mut control, &tags, limit, answered_in, sent) => {
                if let Err(early) = seen {
                    return early;
                }
            }
            admission = admission => return Ok(held_back(admission, sibling_hold)),
        }

        // The panic.
        let panic_tag = ctx.unique("panic");
        let request = hold_request(&panic_tag, HoldMode::Panic, Duration::ZERO, "");
        let sent_at = Instant::now();
        let panicked = spawn_hold(&ctx, channel.handle(), "Hold PANIC", limit, request);
        let panicked = panicked.join().await;
        let answered_after = sent_at.elapsed();
        let mut still_running = 0usize;
        for tag in &tags {
            let observed = observe(&mut control, tag, Duration::ZERO).await;
            still_running +=
                usize::from(observed.is_ok_and(|o| o.state() == HandlerState::Running));
        }

        let mut checks = Checks::new();
        let panic_line = match &panicked {
            Err(RpcError::Status(status)) if status.code() == tonic::Code::FailedPrecondition => {
                return Ok(Finding::skip(format!(
                    "the target refuses Hold PANIC (unsafe holds disabled): {}",
                    brief(status)
                )));
            }
            Err(RpcError::Status(status)) if !is_transport_failure(status) => {
                format!("the panicking call ended with the status {}", brief(status))
            }
            Err(err) => {
                checks.problem(format!(
                    "the panicking call did not end with a gRPC status of its own: {err}"
                ));
                format!("the panicking call: {err}")
            }
            Ok(_) => {
                checks.problem("the panicking call answered OK");
                "the panicking call answered OK".to_owned()
            }
        };
        checks.line(panic_line.clone());

        let survivors = Survivors::check(&ctx, &channel, siblings, limit, &mut checks).await;
        let Survivors {
            completed,
            opened,
            identities,
        } = survivors;
        // Reported, not required: a short wait for the server to record how
        // the panicking handler ended.
        let panic_state = match observe(&mut control, &panic_tag, Duration::from_secs(1)).await {
            Ok(observed) => format!("{:?}", observed.state()),
            Err(status) => format!("not observable ({})", brief(&status)),
        };

        let finding = if !checks.passed() || still_running > 0 {
            checks.finding(
                "a panicking handler broke other RPCs or its connection",
                format!("{completed} sibling handlers ended OK; {still_running} of them were observed RUNNING right after the panic's answer; the connection survived"),
            )
        } else {
            // Every sibling was RUNNING, sleeping sibling_hold_ms, when the
            // panicking call was sent; none was when it was answered.
            Finding::fail(format!(
                "the panicking call was answered only after every sibling handler had finished ({} ms after it was sent; each sibling sleeps {} ms and was RUNNING before it was sent): the server did not run its handler beside the siblings",
                answered_after.as_millis(),
                params.sibling_hold_ms
            ))
            .evidence(panic_line)
        };
        Ok(finding
            .evidence(format!("client opened {opened} TCP connection(s); the server reported {identities} connection identity(ies) for the siblings and the later call"))
            .evidence(format!("the panicking handler observed as {panic_state} (reported, not required)"))
            .figure("siblings_completed", completed as f64)
            .figure("siblings_running_after_panic", still_running as f64)
            .figure("client_connections", opened as f64))
    }
}
