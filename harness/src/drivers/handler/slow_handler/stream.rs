//! The slow RPC without ProbeService: a paced StreamingOutputCall.

use super::Slow;
use crate::drivers::prelude::*;

/// Without ProbeService: a StreamingOutputCall whose first response is due
/// at once and whose second `hold` later. A first response that does not
/// arrive is noted, not an error: the stream is open, and whether the
/// server still serves the siblings is the finding.
pub(super) async fn slow_stream(
    ctx: &Ctx,
    channel: Channel,
    label: &str,
    hold: Duration,
) -> Result<Slow, DriverError> {
    let mut request = output_request(&[1, 1], Duration::ZERO);
    request.response_parameters[1].interval_us =
        i32::try_from(hold.as_micros()).unwrap_or(i32::MAX);
    let mut test = test_client(channel);
    let (arrived, first_arrived) = tokio::sync::oneshot::channel();
    let call = ctx.spawn_marking(label, hold + ctx.rpc_limit(), move |first| async move {
        let mut stream = test.streaming_output_call(request).await?.into_inner();
        if stream.message().await?.is_none() {
            return Err(RpcError::wrong("the stream ended without a response"));
        }
        first.mark();
        let _ = arrived.send(());
        // The second response, or the end of the stream: no longer held.
        stream.message().await?;
        Ok::<_, RpcError>(())
    });
    match within(ctx.rpc_limit(), "first response", first_arrived).await {
        Ok(Ok(())) => Ok(Slow::Streaming {
            call,
            first_missing: false,
        }),
        Err(stalled) => {
            ctx.note(format!(
                "the slow stream's first response did not arrive ({stalled}) although it was due at once"
            ));
            Ok(Slow::Streaming {
                call,
                first_missing: true,
            })
        }
        Ok(Err(_)) => Err(DriverError::target(match call.join().await {
            Err(RpcError::Status(status)) => {
                format!("StreamingOutputCall failed: {}", brief(&status))
            }
            other => format!(
                "the slow stream's first response did not arrive: {}",
                other
                    .err()
                    .map_or("the call ended".to_owned(), |err| err.to_string())
            ),
        })),
    }
}
