//! `call-order`: a FullDuplexCall completes whichever side moves first: the
//! client sends before the call has returned, or the client is already
//! waiting for the call when it sends.

use super::common::{Bidi, open};
use crate::defects::ClientDefect;
use crate::drivers::prelude::*;

pub struct CallOrder;

#[derive(Debug, Deserialize, Serialize)]
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

/// Who moves first on a new FullDuplexCall.
#[derive(Debug, Clone, Copy)]
enum Order {
    /// The server waits for the first request: it is queued before the
    /// call is awaited.
    SendFirst,
    /// The client waits for the call: it is awaited in its own task while
    /// the first request is sent.
    AwaitCall,
    /// The defect `client:await-call-before-send`: the call is awaited,
    /// then the request sent.
    AwaitThenSend,
}

impl Order {
    fn label(self) -> &'static str {
        match self {
            Order::SendFirst => "(a) request queued before the call is awaited",
            Order::AwaitCall | Order::AwaitThenSend => {
                "(b) call awaited in its own task while the request is sent"
            }
        }
    }
}

impl Driver for CallOrder {
    const NAME: &'static str = "call-order";
    const DOC: &'static str = include_str!("call_order.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let channel = ctx.channel()?;
        let step = Duration::from_millis(params.step_timeout_ms);
        let defect = ctx
            .target()
            .dial
            .client_defects
            .contains(&ClientDefect::AwaitCallBeforeSend);
        let second = if defect {
            Order::AwaitThenSend
        } else {
            Order::AwaitCall
        };
        let mut orders = Tally::new();
        for order in [Order::SendFirst, second] {
            let exchange = exchange(ctx.clone(), channel.handle(), order, step);
            // Each of the exchange's three steps is bounded by `step`.
            let outcome = ctx.spawn_within(order.label(), step * 3, exchange);
            orders.record(order.label(), outcome.join().await);
        }
        Ok(if orders.all_passed() {
            Finding::pass().evidence("both orders completed: a request queued before the call, and a call awaited while the request was sent")
        } else {
            Finding::fail(format!(
                "a FullDuplexCall deadlocked or failed: {}",
                orders.failures().join("; ")
            ))
        })
    }
}

/// One FullDuplexCall opened in `order`: the call returns, its one reply
/// arrives, and after the half-close the stream ends OK.
async fn exchange(
    ctx: Ctx,
    channel: Channel,
    order: Order,
    step: Duration,
) -> Result<(), RpcError> {
    let (mut requests, call) = open(channel, Bidi::FullDuplex, 1);
    let request = output_request(&[7], Duration::ZERO);
    let mut replies = match order {
        Order::SendFirst => {
            requests.send(request).await?;
            within(step, "the call to return", call).await??
        }
        Order::AwaitCall => {
            let call = ctx.spawn_within("the call to return", step, call);
            let _ = requests.send(request).await;
            call.join().await?
        }
        Order::AwaitThenSend => {
            let replies = within(step, "the call to return before any request", call).await;
            let _ = requests.send(request).await;
            replies??
        }
    };
    if replies.next(step).await?.is_none() {
        return Err(RpcError::wrong("the stream ended without a reply"));
    }
    requests.close();
    replies.end(step).await
}
