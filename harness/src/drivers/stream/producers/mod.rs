//! `producers`: two producer tasks feed one request stream through cloned
//! send halves; the server receives every message intact, each producer's
//! order is kept, and the stream half-closes when the last sender goes.

mod messages;

use conformance::proto::probe::PipeRequest;
use conformance::sync::duplex;

use self::messages::{check, produce};
use super::common::Replies;
use crate::drivers::prelude::*;

pub struct Producers;

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Producer tasks, each with a clone of the send half.
    pub producers: u32,
    /// Messages per producer.
    pub messages: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            producers: 2,
            messages: 100,
        }
    }
}

impl Driver for Producers {
    const NAME: &'static str = "producers";
    const DOC: &'static str = include_str!("producers.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let limit = ctx.rpc_limit();
        let mut probe = probe_client(ctx.channel()?.handle());
        let tag = ctx.unique("producers");
        let count = params.producers.max(1);
        let (send, receive) = duplex::channel::<PipeRequest>(8);
        let mut span = ctx.timeline().start("Pipe with several producers");
        let producers: Vec<_> = (0..count)
            .map(|producer| {
                tokio::spawn(produce(
                    send.clone(),
                    tag.clone(),
                    producer,
                    params.messages,
                ))
            })
            .collect();
        drop(send);
        let mut echoes = match rpc_within(limit, "Pipe", probe.pipe(receive)).await {
            Ok(response) => Replies::from(response.into_inner()),
            Err(err) => return call_failed("Pipe", err),
        };
        let mut next = vec![0u64; count as usize];
        let mut checked = Tally::new();
        let ending = loop {
            match echoes.next(limit).await {
                Ok(Some(response)) => {
                    span.first_message();
                    match check(&mut next, response) {
                        Ok(()) => checked.pass(),
                        Err(problem) => checked.fail(problem),
                    }
                }
                Ok(None) => break Ok(()),
                Err(RpcError::Stalled(stalled)) => {
                    break Err(format!(
                        "{stalled}: the stream did not half-close after the last sender was dropped"
                    ));
                }
                Err(err) => break Err(err.to_string()),
            }
        };
        let mut all_sent = true;
        for producer in producers {
            all_sent &= producer
                .await
                .map_err(|join| DriverError::harness(format!("producer failed: {join}")))?;
        }
        let mut control = probe_client(ctx.control()?);
        let end_state = observe(&mut control, &tag, limit).await.map(|o| o.state());
        let total = checked.total();
        let expected = u64::from(count) * params.messages;
        let mut checks = Checks::new();
        if let Err(reason) = ending {
            checks.problem(format!("the stream broke after {total} echoes: {reason}"));
        }
        if !checked.all_passed() {
            checks.problem(checked.line("echoes missing, reordered or corrupted"));
        }
        if total as u64 != expected || !all_sent {
            checks.problem(format!(
                "{total} echoes for {expected} messages sent: messages were lost"
            ));
        }
        if end_state.as_ref().ok() != Some(&HandlerState::Finished) {
            checks.problem(format!(
                "the server did not see the half-close after the last sender: its handler is {end_state:?}"
            ));
        }
        span.end(checks.passed());
        let finding = checks.finding(
            "the stream fed by cloned send halves",
            format!(
                "{} producers sent {} messages each through cloned send halves; all {expected} came back intact, each producer in order; the stream half-closed after the last sender and the server recorded FINISHED",
                params.producers, params.messages
            ),
        );
        Ok(finding
            .figure("echoes", total as f64)
            .figure("expected", expected as f64))
    }
}
