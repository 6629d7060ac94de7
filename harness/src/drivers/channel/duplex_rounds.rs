//! `duplex-rounds`: N FullDuplexCall streams held open together on one
//! channel, ping-ponging in rounds: every stream gets its reply of round r
//! before any stream starts round r+1, and none closes before all are done.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::{Barrier, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use crate::drivers::{
    Ctx, Driver, DriverError, DriverResult, brief, output_request, test_client, within,
};
use crate::verdict::Finding;

pub struct DuplexRounds;

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Streams open at once.
    pub streams: usize,
    /// Ping-pong rounds per stream.
    pub rounds: usize,
    /// How long a stream waits for one reply.
    pub reply_timeout_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            streams: 32,
            rounds: 1,
            reply_timeout_ms: 5_000,
        }
    }
}

impl Driver for DuplexRounds {
    const NAME: &'static str = "duplex-rounds";
    const DOC: &'static str = include_str!("duplex_rounds.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let mut streams = params.streams.max(1);
        let mut notes = Vec::new();
        if let Some(limit) = ctx.target().advertised_max_streams {
            let limit = limit as usize;
            if limit < streams {
                notes.push(format!(
                    "sized down from {streams} to {limit} streams: the target advertises that limit"
                ));
                streams = limit;
            }
        }
        let channel = ctx.channel()?;
        let barrier = Arc::new(Barrier::new(streams));
        let limit = Duration::from_millis(params.reply_timeout_ms);
        let rounds = params.rounds.max(1);
        let mut tasks = Vec::new();
        for index in 0..streams {
            let mut client = test_client(channel.handle());
            let barrier = Arc::clone(&barrier);
            let mut span = ctx.timeline().start(format!("stream #{index}"));
            tasks.push(tokio::spawn(async move {
                let (requests, outbound) = mpsc::channel(2);
                let size = index % 512 + 1;
                if requests
                    .send(output_request(&[size], Duration::ZERO))
                    .await
                    .is_err()
                {
                    return Err((0, "request stream closed".to_owned()));
                }
                let mut replies = match within(
                    limit,
                    "FullDuplexCall",
                    client.full_duplex_call(ReceiverStream::new(outbound)),
                )
                .await
                {
                    Ok(Ok(response)) => response.into_inner(),
                    Ok(Err(status)) => return Err((0, brief(&status))),
                    Err(stalled) => return Err((0, stalled.to_string())),
                };
                for round in 0..rounds {
                    if round > 0
                        && requests
                            .send(output_request(&[size], Duration::ZERO))
                            .await
                            .is_err()
                    {
                        return Err((round, "request stream closed".to_owned()));
                    }
                    match within(limit, "reply", replies.message()).await {
                        Ok(Ok(Some(reply)))
                            if reply.payload.as_ref().map_or(0, |p| p.body.len()) == size =>
                        {
                            span.first_message();
                        }
                        Ok(Ok(Some(_))) => {
                            return Err((round, "a reply of the wrong size".to_owned()));
                        }
                        Ok(Ok(None)) => return Err((round, "the stream ended early".to_owned())),
                        Ok(Err(status)) => return Err((round, brief(&status))),
                        Err(stalled) => return Err((round, stalled.to_string())),
                    }
                    // Nobody starts the next round, or closes, before all
                    // streams have this round's reply.
                    if within(limit, "the other streams", barrier.wait())
                        .await
                        .is_err()
                    {
                        return Err((round, "other streams did not get their reply".to_owned()));
                    }
                }
                drop(requests);
                let end = within(limit, "end of stream", replies.message()).await;
                let ok = matches!(end, Ok(Ok(None)));
                span.end(ok);
                if ok {
                    Ok(())
                } else {
                    Err((rounds, format!("no clean end: {end:?}")))
                }
            }));
        }
        let mut failures = Vec::new();
        for (index, task) in tasks.into_iter().enumerate() {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err((round, reason))) => failures.push((index, round, reason)),
                Err(join) => {
                    return Err(DriverError::harness(format!("stream task failed: {join}")));
                }
            }
        }
        let mut finding = if failures.is_empty() {
            Finding::pass().evidence(format!(
                "{streams} streams were open together and each got its reply in all {rounds} round(s) before any stream moved on or closed"
            ))
        } else {
            let (index, round, reason) = &failures[0];
            Finding::fail(format!(
                "{} of {streams} streams open together did not make progress; first: stream #{index} in round {}: {reason}",
                failures.len(),
                round + 1
            ))
        };
        for note in notes {
            finding = finding.evidence(note);
        }
        Ok(finding
            .evidence(format!(
                "client opened {} TCP connection(s)",
                channel.connections_opened()
            ))
            .figure("streams", streams as f64)
            .figure("stalled_streams", failures.len() as f64))
    }
}
