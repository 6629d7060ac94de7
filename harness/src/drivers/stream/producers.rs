//! `producers`: two producer tasks feed one request stream through cloned
//! send halves; the server receives every message intact, each producer's
//! order is kept, and the stream half-closes when the last sender goes.

use std::sync::Arc;
use std::time::Duration;

use conformance::proto::probe::{HandlerState, PipeRequest};
use conformance::sync::duplex;
use serde::Deserialize;

use crate::drivers::{
    Ctx, Driver, DriverError, DriverResult, brief, observe, probe_client, within,
};
use crate::verdict::Finding;

pub struct Producers;

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
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

/// The payload of (producer, seq): its bytes are a checksum of its identity.
fn body(producer: u32, seq: u64) -> Vec<u8> {
    let size = 64 + ((seq as usize * 37 + producer as usize * 11) % 960);
    (0..size)
        .map(|i| (i as u64 ^ seq.wrapping_mul(2_654_435_761) ^ (u64::from(producer) * 97)) as u8)
        .collect()
}

impl Driver for Producers {
    const NAME: &'static str = "producers";
    const DOC: &'static str = include_str!("producers.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let channel = ctx.channel()?;
        let mut probe = probe_client(channel.handle());
        let tag = ctx.unique("producers");
        let (send, receive) = duplex::channel::<PipeRequest>(8);
        let mut span = ctx.timeline().start("Pipe with several producers");
        let mut producers = Vec::new();
        for producer in 0..params.producers.max(1) {
            let send = send.clone();
            let tag = tag.clone();
            let messages = params.messages;
            producers.push(tokio::spawn(async move {
                for seq in 0..messages {
                    let request = PipeRequest {
                        tag: tag.clone(),
                        scope: String::new(),
                        producer,
                        seq,
                        payload: body(producer, seq),
                    };
                    if send.send(request).await.is_err() {
                        return false;
                    }
                }
                true // the clone drops here
            }));
        }
        drop(send);
        let limit = Duration::from_secs(10);
        let mut echoes = match within(limit, "Pipe", probe.pipe(receive)).await {
            Ok(Ok(response)) => response.into_inner(),
            Ok(Err(status)) => {
                return Ok(Finding::fail(format!("Pipe failed: {}", brief(&status))));
            }
            Err(stalled) => return Ok(Finding::fail(stalled.to_string())),
        };
        let producer_count = params.producers.max(1) as usize;
        let mut next = vec![0u64; producer_count];
        let mut problems = Vec::new();
        let mut total = 0u64;
        let ending = loop {
            match within(limit, "next echo", echoes.message()).await {
                Ok(Ok(Some(response))) => {
                    span.first_message();
                    total += 1;
                    let Some(echo) = response.echo else {
                        problems.push("an echo without its message".to_owned());
                        continue;
                    };
                    let producer = echo.producer as usize;
                    if producer >= producer_count {
                        problems.push(format!("an echo from unknown producer {producer}"));
                        continue;
                    }
                    if echo.seq != next[producer] {
                        problems.push(format!(
                            "producer {producer}: expected seq {}, got {}",
                            next[producer], echo.seq
                        ));
                    }
                    next[producer] = echo.seq + 1;
                    if echo.payload != body(echo.producer, echo.seq) {
                        problems.push(format!(
                            "producer {producer} seq {}: payload corrupted",
                            echo.seq
                        ));
                    }
                }
                Ok(Ok(None)) => break Ok(()),
                Ok(Err(status)) => break Err(brief(&status)),
                Err(stalled) => {
                    break Err(format!(
                        "{stalled}: the stream did not half-close after the last sender was dropped"
                    ));
                }
            }
        };
        let mut all_sent = true;
        for producer in producers {
            all_sent &= producer
                .await
                .map_err(|join| DriverError::harness(format!("producer failed: {join}")))?;
        }
        let mut control = probe_client(ctx.control()?);
        let end_state = observe(&mut control, &tag, Duration::from_secs(3))
            .await
            .map(|o| o.state());
        let expected = u64::from(params.producers.max(1)) * params.messages;
        span.end(ending.is_ok() && problems.is_empty() && total == expected);
        let finding = if let Err(reason) = ending {
            Finding::fail(format!("the stream broke after {total} echoes: {reason}"))
        } else if !problems.is_empty() {
            Finding::fail(format!(
                "{} problems; first: {}",
                problems.len(),
                problems[0]
            ))
        } else if total != expected || !all_sent {
            Finding::fail(format!(
                "{total} echoes for {expected} messages sent: messages were lost"
            ))
        } else if end_state.as_ref().ok() != Some(&HandlerState::Finished) {
            Finding::fail(format!(
                "the server did not see the half-close after the last sender: its handler is {end_state:?}"
            ))
        } else {
            Finding::pass().evidence(format!(
                "{} producers sent {} messages each through cloned send halves; all {expected} came back intact, each producer in order; the stream half-closed after the last sender and the server recorded FINISHED",
                params.producers, params.messages
            ))
        };
        Ok(finding
            .figure("echoes", total as f64)
            .figure("expected", expected as f64))
    }
}
