//! Streams as drivers hold them: a server stream read to its end in a task,
//! and signals counted from many of them.

use std::time::Duration;

use conformance::proto::grpc_testing::StreamingOutputCallRequest;

use super::{Call, Ctx, test_client, within};
use crate::client::Channel;

/// How a server stream ended well.
#[derive(Debug, Clone, Copy)]
pub struct StreamDone {
    /// Messages received.
    pub messages: usize,
    /// When the stream ended with status OK.
    pub ended: std::time::Instant,
}

/// Runs one StreamingOutputCall in its own task for at most `limit` in all,
/// reading every response; `first` (if given) is told `index` when the first
/// response arrives. Drawn on the timeline as `label`.
pub fn spawn_output_stream(
    ctx: &Ctx,
    channel: Channel,
    label: impl Into<String>,
    request: StreamingOutputCallRequest,
    limit: Duration,
    first: Option<(usize, tokio::sync::mpsc::UnboundedSender<usize>)>,
) -> Call<StreamDone> {
    ctx.spawn_marking(label, limit, move |marker| async move {
        let mut test = test_client(channel);
        let mut stream = test.streaming_output_call(request).await?.into_inner();
        let mut messages = 0usize;
        while stream.message().await?.is_some() {
            messages += 1;
            if messages == 1 {
                marker.mark();
                if let Some((index, first)) = &first {
                    let _ = first.send(*index);
                }
            }
        }
        Ok::<_, tonic::Status>(StreamDone {
            messages,
            ended: std::time::Instant::now(),
        })
    })
}

/// Waits until `count` signals arrived on `signals`, for at most `limit`;
/// returns how many did.
pub async fn wait_signals(
    signals: &mut tokio::sync::mpsc::UnboundedReceiver<usize>,
    count: usize,
    limit: Duration,
) -> usize {
    let mut seen = 0usize;
    let _ = within(limit, "signals", async {
        while seen < count && signals.recv().await.is_some() {
            seen += 1;
        }
    })
    .await;
    seen
}
