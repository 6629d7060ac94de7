//! `services-mix`: TestService and ProbeService stubs share one channel and
//! run at the same time: duplex streams of one service stay open and keep
//! answering while a barrier of the other service releases, with unary calls
//! of the first service in between.

use std::sync::Arc;
use std::time::Duration;

use conformance::proto::grpc_testing::StreamingOutputCallResponse;
use conformance::proto::probe::RendezvousRequest;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::drivers::{
    Ctx, Driver, DriverError, DriverResult, brief, output_request, probe_client, test_client,
    unary_request, within,
};
use crate::verdict::Finding;

pub struct ServicesMix;

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// TestService FullDuplexCall streams held open throughout.
    pub streams: usize,
    /// ProbeService Rendezvous parties.
    pub parties: u32,
    /// TestService UnaryCalls issued while the barrier waits.
    pub unary: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            streams: 8,
            parties: 16,
            unary: 32,
        }
    }
}

type Replies = tonic::Streaming<StreamingOutputCallResponse>;

async fn ping(
    requests: &mpsc::Sender<conformance::proto::grpc_testing::StreamingOutputCallRequest>,
    replies: &mut Replies,
    limit: Duration,
) -> Result<(), String> {
    requests
        .send(output_request(&[8], Duration::ZERO))
        .await
        .map_err(|_| "request stream closed".to_owned())?;
    match within(limit, "duplex reply", replies.message()).await {
        Ok(Ok(Some(_))) => Ok(()),
        Ok(Ok(None)) => Err("the stream ended early".into()),
        Ok(Err(status)) => Err(brief(&status)),
        Err(stalled) => Err(stalled.to_string()),
    }
}

impl Driver for ServicesMix {
    const NAME: &'static str = "services-mix";
    const DOC: &'static str = include_str!("services_mix.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let channel = ctx.channel()?;
        let limit = Duration::from_secs(5);
        // The held-open streams and the barrier's parties must all fit the
        // advertised stream limit at once: each gets up to half of it.
        let half = ctx
            .stream_limit()
            .map_or(usize::MAX, |limit| (limit / 2).max(1));
        let wanted_parties = usize::try_from(params.parties.max(1)).unwrap_or(usize::MAX);
        let streams = ctx.open_together(
            params.streams,
            wanted_parties.min(half),
            "TestService streams held open",
        );
        let parties = ctx.open_together(wanted_parties, streams, "ProbeService barrier parties");
        let parties = u32::try_from(parties).unwrap_or(u32::MAX);
        let mut open = Vec::new();
        for index in 0..streams {
            let mut client = test_client(channel.handle());
            let (requests, outbound) = mpsc::channel(2);
            let span = ctx.timeline().start(format!("TestService stream #{index}"));
            // The first ping is queued before the call is awaited: servers
            // may send response headers only with their first message.
            if requests
                .send(output_request(&[8], Duration::ZERO))
                .await
                .is_err()
            {
                return Err(DriverError::harness("request stream closed"));
            }
            let mut replies = match within(
                limit,
                "FullDuplexCall",
                client.full_duplex_call(ReceiverStream::new(outbound)),
            )
            .await
            {
                Ok(Ok(response)) => response.into_inner(),
                Ok(Err(status)) => {
                    return Ok(Finding::fail(format!(
                        "FullDuplexCall failed: {}",
                        brief(&status)
                    )));
                }
                Err(stalled) => return Ok(Finding::fail(format!("stream #{index}: {stalled}"))),
            };
            match within(limit, "duplex reply", replies.message()).await {
                Ok(Ok(Some(_))) => {}
                other => {
                    return Ok(Finding::fail(format!(
                        "stream #{index} did not answer its first ping: {other:?}"
                    )));
                }
            }
            open.push((requests, replies, span));
        }

        let group = ctx.unique("services");
        let barrier_limit = Duration::from_secs(5);
        let mut probes = Vec::new();
        for index in 0..parties {
            let mut probe = probe_client(channel.handle());
            let group = group.clone();
            let span = ctx
                .timeline()
                .start(format!("ProbeService rendezvous #{index}"));
            probes.push(tokio::spawn(async move {
                let request = RendezvousRequest {
                    group,
                    parties,
                    timeout_ms: 4_000,
                    scope: String::new(),
                };
                let outcome = within(barrier_limit, "Rendezvous", probe.rendezvous(request)).await;
                let ok = matches!(outcome, Ok(Ok(_)));
                span.end(ok);
                match outcome {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(status)) => Err(brief(&status)),
                    Err(stalled) => Err(stalled.to_string()),
                }
            }));
        }
        let mut unary = Vec::new();
        for index in 0..params.unary {
            let mut client = test_client(channel.handle());
            let span = ctx.timeline().start(format!("TestService unary #{index}"));
            unary.push(tokio::spawn(async move {
                let outcome =
                    within(limit, "UnaryCall", client.unary_call(unary_request(16, 0))).await;
                let ok = matches!(outcome, Ok(Ok(_)));
                span.end(ok);
                ok
            }));
        }
        let mut barrier_failures = Vec::new();
        for probe in probes {
            if let Err(reason) = probe
                .await
                .map_err(|join| DriverError::harness(format!("task failed: {join}")))?
            {
                barrier_failures.push(reason);
            }
        }
        let mut unary_ok = 0;
        for call in unary {
            if call
                .await
                .map_err(|join| DriverError::harness(format!("task failed: {join}")))?
            {
                unary_ok += 1;
            }
        }
        let mut second_ping_failures = Vec::new();
        for (index, (requests, mut replies, span)) in open.into_iter().enumerate() {
            let outcome = ping(&requests, &mut replies, limit).await;
            drop(requests);
            let ended = matches!(within(limit, "end", replies.message()).await, Ok(Ok(None)));
            span.end(outcome.is_ok() && ended);
            if let Err(reason) = outcome {
                second_ping_failures.push(format!("stream #{index}: {reason}"));
            }
        }
        let finding = if !barrier_failures.is_empty() {
            Finding::fail(format!(
                "the ProbeService barrier of {parties} did not release while TestService streams were open on the same channel: {} calls failed (first: {})",
                barrier_failures.len(),
                barrier_failures[0]
            ))
        } else if unary_ok != params.unary {
            Finding::fail(format!(
                "only {unary_ok} of {} TestService unary calls completed alongside the ProbeService calls",
                params.unary
            ))
        } else if !second_ping_failures.is_empty() {
            Finding::fail(format!(
                "TestService streams stopped answering after the ProbeService calls: {}",
                second_ping_failures[0]
            ))
        } else {
            Finding::pass().evidence(format!(
                "{} TestService streams stayed open and answered before and after a ProbeService barrier of {parties} released and {unary_ok} TestService unary calls completed, all on one channel",
                streams
            ))
        };
        Ok(finding
            .evidence(format!(
                "client opened {} TCP connection(s)",
                channel.connections_opened()
            ))
            .figure("parties", f64::from(parties))
            .figure("streams", streams as f64)
            .figure("unary_completed", unary_ok as f64))
    }
}
