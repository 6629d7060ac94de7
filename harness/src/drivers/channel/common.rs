//! Counting calls that were spawned under a label; the evidence every
//! channel driver gives.

use crate::client::ClientChannel;
use crate::drivers::prelude::*;

/// Counts `outcome` in `tally`, a failure as "`label`: error"; a stall
/// names what it waited for (the call's label) already.
pub fn count<T>(tally: &mut Tally, label: &str, outcome: Result<T, RpcError>) -> Option<T> {
    match outcome {
        Ok(value) => {
            tally.pass();
            Some(value)
        }
        Err(stalled @ RpcError::Stalled(_)) => {
            tally.fail(stalled.to_string());
            None
        }
        Err(err) => {
            tally.fail(format!("{label}: {err}"));
            None
        }
    }
}

/// Waits for each call, in order, and counts it ([`count`]): the values
/// of those that succeeded, and the tally.
pub async fn join_counted<T>(calls: Vec<(String, Call<T>)>) -> (Vec<T>, Tally) {
    let mut tally = Tally::new();
    let mut values = Vec::with_capacity(calls.len());
    for (label, call) in calls {
        values.extend(count(&mut tally, &label, call.join().await));
    }
    (values, tally)
}

/// The evidence line on the TCP connections a channel opened.
pub fn connections(channel: &ClientChannel) -> String {
    format!(
        "client opened {} TCP connection(s)",
        channel.connections_opened()
    )
}
