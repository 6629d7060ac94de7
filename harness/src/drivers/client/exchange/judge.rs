//! How a client exchange is judged from the server's record and the
//! client's report: a stall, a completed exchange, a cancel from the
//! receiving half.

use conformance::proto::probe::{ExchangeResult, SeenExchange};

use super::{Params, record};
use crate::drivers::prelude::*;

/// The failure a stalled exchange proves: the transport stopped taking the
/// server's responses while the client still had requests to send.
pub(super) fn stall(exchange: &SeenExchange, params: &Params) -> Option<Finding> {
    let expected = u64::from(params.messages) + u64::from(params.after_half_close);
    let stalled =
        params.cancel_after == 0 && exchange.responses_sent < expected && !exchange.half_closed;
    stalled.then(|| {
        record(
            Finding::fail(format!(
                "the exchange stalled: the server had {} of {} requests and the client had taken {} responses when it stopped reading; the server waited up to {} ms for it to take the next. One task could not send while another received",
                exchange.requests, params.messages, exchange.responses_sent, exchange.longest_send_wait_ms
            )),
            exchange,
        )
    })
}

pub(super) fn judge_exchange(
    exchange: &SeenExchange,
    params: &Params,
    result: &ExchangeResult,
) -> Finding {
    let expected = u64::from(params.messages) + u64::from(params.after_half_close);
    if let Some(stalled) = stall(exchange, params) {
        return stalled;
    }
    let mut checks = Checks::new();
    if !exchange.half_closed || exchange.cancelled {
        checks.problem(format!(
            "the server saw no clean half-close (cancelled: {})",
            exchange.cancelled
        ));
    }
    if exchange.responses_sent != expected {
        checks.problem(format!(
            "the transport took {} of {expected} responses",
            exchange.responses_sent
        ));
    }
    if result.code != 0 {
        checks.problem(format!(
            "the stream ended with status {}: {}",
            result.code, result.message
        ));
    }
    if u64::from(result.received) != expected || !result.in_order {
        checks.problem(format!(
            "the client read {} of {expected} responses (in order: {})",
            result.received, result.in_order
        ));
    }
    let after = if params.after_half_close > 0 {
        format!(
            ", and it kept receiving {} after its half-close",
            params.after_half_close
        )
    } else {
        String::new()
    };
    checks.finding(
        "the exchange did not complete",
        format!(
            "the client sent {} requests while it received; {expected} responses crossed them (the last request arrived after {} responses had gone out{after})",
            params.messages, exchange.responses_before_last_request
        ),
    )
}

pub(super) fn judge_cancel(
    exchange: &SeenExchange,
    params: &Params,
    result: &ExchangeResult,
) -> Finding {
    // A stalled exchange ends at its deadline, whose reset the server also
    // sees as a cancel: the server's wait and the client's status tell the
    // two apart.
    if u64::from(exchange.longest_send_wait_ms) * 2 >= u64::from(params.deadline_ms) {
        return Finding::fail(format!(
            "the exchange stalled before any cancel: the server waited {} ms (of the {} ms deadline) for the client to take a response, with {} requests in; the receiving half did not run while the sending half did",
            exchange.longest_send_wait_ms, params.deadline_ms, exchange.requests
        ));
    }
    // hyper ends a request body cleanly on RST_STREAM CANCEL as on a
    // half-close, and when the reset races the server's last response the
    // stream can look half-closed: either way the request half ended, and
    // the client's own report (no half-close, CANCELLED) says which.
    if !exchange.cancelled && !exchange.half_closed {
        return Finding::fail(format!(
            "the server never saw the receiving half's cancel: it had {} requests and sent {} responses, and the stream stayed open",
            exchange.requests, exchange.responses_sent
        ));
    }
    if !exchange.cancelled && result.half_closed {
        return Finding::fail(format!(
            "the sender half-closed after {} requests instead of being stopped by the receiving half's cancel",
            exchange.requests
        ));
    }
    if exchange.requests >= u64::from(params.messages) {
        return Finding::fail(format!(
            "the cancel arrived only after the sender had sent all {} requests: the receiving half did not run while the sending half did",
            params.messages
        ));
    }
    if result.code != tonic::Code::Cancelled as i32 {
        return Finding::fail(format!(
            "the stream ended with status {} ({:?}), not with the receiving half's cancel",
            result.code, result.message
        ));
    }
    let mut checks = Checks::new();
    if result.received < params.cancel_after {
        checks.problem(format!(
            "the receiver read {} responses, not the {} it was to read before cancelling",
            result.received, params.cancel_after
        ));
    }
    if result.half_closed {
        checks.problem("the sender half-closed: the cancel came too late to stop it");
    }
    checks.finding(
        "the cancel from the receiving half",
        format!(
            "the receiving half cancelled the call while the sending half was still sending: the server saw the reset after {} of up to {} requests, and the sender stopped",
            exchange.requests, params.messages
        ),
    )
}
