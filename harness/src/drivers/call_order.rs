//! `call-order`: a FullDuplexCall works in both orders of "the client waits
//! for the call to return" and "the server waits for the first request".

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{Ctx, Driver, DriverResult, brief, output_request, test_client, within};
use crate::verdict::Finding;

pub struct CallOrder;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Bound on each step.
    pub step_timeout_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self { step_timeout_ms: 3_000 }
    }
}

impl Driver for CallOrder {
    const NAME: &'static str = "call-order";
    const METHOD: &'static str = "Two FullDuplexCalls. (a) The client awaits the call's return (response headers) before sending any request, then sends one and reads its reply. (b) The client pushes the first request into the stream before awaiting the call. Both must complete. In tonic a streaming call returns only once response headers arrive; a server that sends headers only after the first request therefore deadlocks order (a): each side waits for the other.";
    const EVIDENCE: &'static str = "For each order: whether the call returned, the reply arrived and the stream ended OK.";
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let channel = ctx.channel()?;
        let limit = Duration::from_millis(params.step_timeout_ms);
        let mut results = Vec::new();
        for call_first in [true, false] {
            let mut client = test_client(channel.handle());
            let label = if call_first {
                "(a) await the call, then send"
            } else {
                "(b) send, then await the call"
            };
            let span = ctx.timeline().start(label);
            let outcome = async {
                let (requests, outbound) = mpsc::channel(1);
                if !call_first {
                    let _ = requests.send(output_request(&[7], Duration::ZERO)).await;
                }
                let mut replies = within(limit, "the call to return (response headers)", client.full_duplex_call(ReceiverStream::new(outbound)))
                    .await
                    .map_err(|s| s.to_string())?
                    .map_err(|s| brief(&s))?
                    .into_inner();
                if call_first {
                    let _ = requests.send(output_request(&[7], Duration::ZERO)).await;
                }
                match within(limit, "the reply", replies.message()).await.map_err(|s| s.to_string())?.map_err(|s| brief(&s))? {
                    Some(_) => {}
                    None => return Err("the stream ended without a reply".to_owned()),
                }
                drop(requests);
                match within(limit, "the end", replies.message()).await.map_err(|s| s.to_string())?.map_err(|s| brief(&s))? {
                    None => Ok(()),
                    Some(_) => Err("an extra reply".to_owned()),
                }
            }
            .await;
            span.end(outcome.is_ok());
            results.push((label, outcome));
        }
        let failed: Vec<String> = results
            .iter()
            .filter_map(|(label, outcome)| outcome.as_ref().err().map(|why| format!("{label}: {why}")))
            .collect();
        Ok(if failed.is_empty() {
            Finding::pass().evidence("both orders completed: the call returned before the first request, and with the first request queued before the call")
        } else {
            Finding::fail(format!(
                "a FullDuplexCall deadlocked or failed: {}",
                failed.join("; ")
            ))
        })
    }
}
