//! `call-order`: a FullDuplexCall completes whichever side moves first: the
//! client sends before the call has returned, or the client is already
//! waiting for the call when it sends.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::defects::ClientDefect;
use crate::drivers::{Ctx, Driver, DriverResult, brief, output_request, test_client, within};
use crate::verdict::Finding;

pub struct CallOrder;

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Bound on each step.
    pub step_timeout_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            step_timeout_ms: 3_000,
        }
    }
}

impl Driver for CallOrder {
    const NAME: &'static str = "call-order";
    const DOC: &'static str = include_str!("call_order.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let channel = ctx.channel()?;
        let limit = Duration::from_millis(params.step_timeout_ms);
        let await_first = ctx
            .target()
            .dial
            .client_defects
            .contains(&ClientDefect::AwaitCallBeforeSend);
        let mut results = Vec::new();
        for send_first in [true, false] {
            let mut client = test_client(channel.handle());
            let label = if send_first {
                "(a) request queued before the call is awaited"
            } else {
                "(b) call awaited in its own task while the request is sent"
            };
            let span = ctx.timeline().start(label);
            let outcome = async {
                let (requests, outbound) = mpsc::channel(1);
                let call =
                    async move { client.full_duplex_call(ReceiverStream::new(outbound)).await };
                let response = if send_first {
                    let _ = requests.send(output_request(&[7], Duration::ZERO)).await;
                    within(limit, "the call to return", call).await
                } else if await_first {
                    // The defect: wait for the call, then send.
                    let response =
                        within(limit, "the call to return before any request", call).await;
                    let _ = requests.send(output_request(&[7], Duration::ZERO)).await;
                    response
                } else {
                    let pending = tokio::spawn(call);
                    let _ = requests.send(output_request(&[7], Duration::ZERO)).await;
                    within(limit, "the call to return", pending)
                        .await
                        .map(|joined| {
                            joined.unwrap_or_else(|join| {
                                Err(tonic::Status::internal(join.to_string()))
                            })
                        })
                };
                let mut replies = response
                    .map_err(|s| s.to_string())?
                    .map_err(|s| brief(&s))?
                    .into_inner();
                match within(limit, "the reply", replies.message())
                    .await
                    .map_err(|s| s.to_string())?
                    .map_err(|s| brief(&s))?
                {
                    Some(_) => {}
                    None => return Err("the stream ended without a reply".to_owned()),
                }
                drop(requests);
                match within(limit, "the end", replies.message())
                    .await
                    .map_err(|s| s.to_string())?
                    .map_err(|s| brief(&s))?
                {
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
            .filter_map(|(label, outcome)| {
                outcome.as_ref().err().map(|why| format!("{label}: {why}"))
            })
            .collect();
        Ok(if failed.is_empty() {
            Finding::pass().evidence("both orders completed: a request queued before the call, and a call awaited while the request was sent")
        } else {
            Finding::fail(format!(
                "a FullDuplexCall deadlocked or failed: {}",
                failed.join("; ")
            ))
        })
    }
}
