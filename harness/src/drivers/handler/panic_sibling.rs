//! `panic-sibling`: a handler that panics ends only its own RPC, with a gRPC
//! status; handlers in flight on the same connection finish normally and the
//! connection survives.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use conformance::proto::probe::{HandlerState, HoldMode};
use serde::Deserialize;

use crate::drivers::{
    Ctx, Driver, DriverError, DriverResult, RpcError, brief, hold_request, is_transport_failure,
    observe, probe_client, wait_running,
};
use crate::verdict::Finding;

pub struct PanicSibling;

#[derive(Debug, Deserialize, serde::Serialize)]
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

        let mut tags = Vec::new();
        let mut siblings = Vec::new();
        // The siblings and the panicking call are open together.
        let sibling_count = ctx.open_together(params.siblings, 1, "sibling holds");
        for index in 0..sibling_count {
            let tag = ctx.unique(&format!("sibling-{index}"));
            let mut probe = probe_client(channel.handle());
            let request = hold_request(&tag, HoldMode::Sleep, sibling_hold, &scope);
            siblings.push(ctx.spawn_within(
                format!("sibling Hold SLEEP #{index}"),
                sibling_hold + limit,
                async move { probe.hold(request).await },
            ));
            tags.push(tag);
        }
        for (index, tag) in tags.iter().enumerate() {
            if !wait_running(&mut control, tag, limit).await {
                if index == 0 {
                    if let Some(stalled) =
                        crate::drivers::unanswered_while_held(&mut control, "sibling #0").await
                    {
                        return Ok(stalled);
                    }
                    return Err(DriverError::target(format!(
                        "sibling #0 was not observed RUNNING within {} ms",
                        limit.as_millis()
                    )));
                }
                // The earlier siblings' handlers ran; this one's did not
                // start beside them.
                return Ok(Finding::fail(format!(
                    "sibling #{index} was not observed RUNNING within {} ms while sibling(s) #0..#{} had been: the server did not run its handler beside theirs (before any panic)",
                    limit.as_millis(),
                    index - 1
                )));
            }
        }

        // The panic.
        let panic_tag = ctx.unique("panic");
        let mut probe = probe_client(channel.handle());
        let request = hold_request(&panic_tag, HoldMode::Panic, Duration::ZERO, "");
        let sent_at = std::time::Instant::now();
        let panicked = ctx
            .spawn_within(
                "Hold PANIC",
                limit,
                async move { probe.hold(request).await },
            )
            .join()
            .await;
        let answered_after = sent_at.elapsed();
        let mut still_running = 0usize;
        for tag in &tags {
            if matches!(observe(&mut control, tag, Duration::ZERO).await, Ok(o) if o.state() == HandlerState::Running)
            {
                still_running += 1;
            }
        }

        let mut problems = Vec::new();
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
                problems.push(format!(
                    "the panicking call did not end with a gRPC status of its own: {err}"
                ));
                format!("the panicking call: {err}")
            }
            Ok(_) => {
                problems.push("the panicking call answered OK".to_owned());
                "the panicking call answered OK".to_owned()
            }
        };

        let mut connection_ids = BTreeSet::new();
        let mut completed = 0usize;
        for (index, sibling) in siblings.into_iter().enumerate() {
            match sibling.join().await {
                Ok(response) => {
                    completed += 1;
                    connection_ids.insert(response.into_inner().connection_id);
                }
                Err(err) => problems.push(format!("sibling #{index} broke: {err}")),
            }
        }
        let mut probe = probe_client(channel.handle());
        let request = hold_request(
            &ctx.unique("after"),
            HoldMode::Unspecified,
            Duration::ZERO,
            "",
        );
        match ctx
            .spawn_within(
                "later Hold",
                limit,
                async move { probe.hold(request).await },
            )
            .join()
            .await
        {
            Ok(response) => {
                connection_ids.insert(response.into_inner().connection_id);
            }
            Err(err) => problems.push(format!("a later call on the same channel failed: {err}")),
        }
        let opened = channel.connections_opened();
        if opened != 1 {
            problems.push(format!("the client opened {opened} TCP connections: the first one did not survive the panic"));
        }
        if connection_ids.len() > 1 {
            problems.push(format!(
                "the server reported {} connection identities for calls on one channel: the connection was replaced",
                connection_ids.len()
            ));
        }
        let panic_state = match observe(&mut control, &panic_tag, Duration::from_secs(1)).await {
            Ok(observed) => format!("{:?}", observed.state()),
            Err(status) => format!("not observable ({})", brief(&status)),
        };

        let finding = if let Some(first) = problems.first() {
            Finding::fail(format!(
                "a panicking handler broke other RPCs or its connection: {first}"
            ))
        } else if still_running == 0 {
            // Every sibling was RUNNING, sleeping sibling_hold_ms, when the
            // panicking call was sent; none was when it was answered.
            Finding::fail(format!(
                "the panicking call was answered only after every sibling handler had finished ({} ms after it was sent; each sibling sleeps {} ms and was RUNNING before it was sent): the server did not run its handler beside the siblings",
                answered_after.as_millis(),
                params.sibling_hold_ms
            ))
        } else {
            Finding::pass().evidence(format!(
                "{completed} sibling handlers ended OK; {still_running} of them were observed RUNNING right after the panic's answer; the connection survived"
            ))
        };
        let mut finding = finding.evidence(panic_line);
        for problem in problems.iter().skip(1) {
            finding = finding.evidence(problem.clone());
        }
        Ok(finding
            .evidence(format!(
                "client opened {opened} TCP connection(s); the server reported {} connection identity(ies) for the siblings and the later call",
                connection_ids.len()
            ))
            .evidence(format!("the panicking handler observed as {panic_state} (reported, not required)"))
            .figure("siblings_completed", completed as f64)
            .figure("siblings_running_after_panic", still_running as f64)
            .figure("client_connections", opened as f64))
    }
}
