//! `client-exchange`: one stream of a client library, a task sending while
//! another receives, through the server's Interlock: it progresses only if
//! the client reads as it sends (or cancels from the receiving half).

use conformance::proto::probe::{Exchange, SeenExchange, instruction};

mod judge;

use self::judge::{judge_cancel, judge_exchange, stall};
use super::common::{adapter_broke, instruct, seen};
use crate::client_target::AdapterError;
use crate::drivers::Subject;
use crate::drivers::prelude::*;

pub struct ClientExchange;

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Requests the sending task sends (at most, when cancelling).
    pub messages: u32,
    pub request_size: u32,
    pub response_size: u32,
    /// Responses the server sends after the client's half-close.
    pub after_half_close: u32,
    /// The receiving task cancels the call after this many responses (0:
    /// it reads to the end).
    pub cancel_after: u32,
    /// The stream's deadline.
    pub deadline_ms: u32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            messages: 32,
            request_size: 64 * 1024,
            response_size: 1024 * 1024,
            after_half_close: 0,
            cancel_after: 0,
            deadline_ms: 8_000,
        }
    }
}

impl Driver for ClientExchange {
    const NAME: &'static str = "client-exchange";
    const DOC: &'static str = include_str!("exchange.md");
    const SUBJECT: Subject = Subject::Client;
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let tag = ctx.unique("interlock");
        let work = instruction::Work::Exchange(Exchange {
            tag: tag.clone(),
            messages: params.messages,
            request_size: params.request_size,
            response_size: params.response_size,
            after_half_close: params.after_half_close,
            cancel_after: params.cancel_after,
        });
        let deadline = Duration::from_millis(u64::from(params.deadline_ms));
        let outcome = instruct(&ctx, work, deadline).await?;
        let seen = seen(&ctx, &tag, Duration::from_secs(2)).await?;
        let result = match outcome {
            Ok(result) => result.exchange.unwrap_or_default(),
            Err(err @ AdapterError::Stalled { .. }) => {
                let stalled = seen.exchanges.first().and_then(|e| stall(e, &params));
                let finding = stalled.unwrap_or_else(|| adapter_broke(&ctx, &err));
                return Ok(finding.evidence(format!("adapter: {err}")));
            }
            Err(err) => return Ok(adapter_broke(&ctx, &err)),
        };
        let client = format!(
            "client: status {} {:?}, sent {}, half-closed {}, received {} (in order: {}){}",
            result.code,
            result.message,
            result.sent,
            result.half_closed,
            result.received,
            result.in_order,
            if result.sender_error.is_empty() {
                String::new()
            } else {
                format!(", sender: {}", result.sender_error)
            }
        );
        let [exchange] = seen.exchanges.as_slice() else {
            return Ok(Finding::fail(format!(
                "the server saw {} Interlock streams of this exchange, not one",
                seen.exchanges.len()
            ))
            .evidence(client));
        };
        let finding = if params.cancel_after > 0 {
            judge_cancel(exchange, &params, &result)
        } else {
            judge_exchange(exchange, &params, &result)
        };
        Ok(record(finding, exchange).evidence(client))
    }
}

pub(super) fn record(finding: Finding, exchange: &SeenExchange) -> Finding {
    finding
        .figure("requests_seen", exchange.requests as f64)
        .figure("responses_taken", exchange.responses_sent as f64)
        .figure("responses_before_last_request", exchange.responses_before_last_request as f64)
        .figure("longest_send_wait_ms", f64::from(exchange.longest_send_wait_ms))
        .evidence(format!(
            "server: {} requests, {} responses taken by the transport ({} before the last request), half-closed {}, cancelled {}, ended {}, longest wait to send {} ms",
            exchange.requests,
            exchange.responses_sent,
            exchange.responses_before_last_request,
            exchange.half_closed,
            exchange.cancelled,
            exchange.ended,
            exchange.longest_send_wait_ms
        ))
}
