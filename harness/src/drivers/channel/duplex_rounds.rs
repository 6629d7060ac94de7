//! `duplex-rounds`: FullDuplexCall streams held open together on one
//! channel answer round after round (method: duplex_rounds.md).

use tokio::sync::Barrier;

use super::duplex::Duplex;
use crate::drivers::prelude::*;

pub struct DuplexRounds;

#[derive(Debug, Deserialize, Serialize)]
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

/// One stream's life: R rounds, then a clean close. A failure says in
/// which round it came.
async fn play(
    channel: Channel,
    size: usize,
    rounds: usize,
    barrier: Arc<Barrier>,
    limit: Duration,
    first: FirstMessage,
) -> Result<(), RpcError> {
    let in_round = |round: usize| {
        move |err: RpcError| RpcError::wrong(format!("in round {}: {err}", round + 1))
    };
    let mut stream = async { within(limit, "FullDuplexCall", Duplex::open(channel, size)).await? }
        .await
        .map_err(in_round(0))?;
    for round in 0..rounds {
        let reply = async {
            if round == 0 {
                within(limit, "reply", stream.reply()).await?
            } else {
                within(limit, "reply", stream.ping(size)).await?
            }
        };
        match reply.await.map_err(in_round(round))? {
            got if got == size => first.mark(),
            _ => {
                return Err(in_round(round)(RpcError::wrong(
                    "a reply of the wrong size",
                )));
            }
        }
        // Nobody starts the next round, or closes, before all streams have
        // this round's reply.
        within(limit, "the other streams' replies", barrier.wait())
            .await
            .map_err(|stalled| in_round(round)(stalled.into()))?;
    }
    within(limit, "the end of the stream", stream.close()).await?
}

impl Driver for DuplexRounds {
    const NAME: &'static str = "duplex-rounds";
    const DOC: &'static str = include_str!("duplex_rounds.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let streams = ctx.open_together(params.streams.max(1), 0, "streams open together");
        let channel = ctx.channel()?;
        let barrier = Arc::new(Barrier::new(streams));
        let limit = Duration::from_millis(params.reply_timeout_ms);
        let round_count = params.rounds.max(1);
        let calls = (0..streams)
            .map(|index| {
                let handle = channel.handle();
                let barrier = Arc::clone(&barrier);
                let size = index % 512 + 1;
                let label = format!("stream #{index}");
                // Each wait is bounded by the reply timeout; the stream as a
                // whole only by the scenario's budget.
                ctx.spawn_marking(label, ctx.remaining(), move |first| {
                    play(handle, size, round_count, barrier, limit, first)
                })
            })
            .collect();
        let (stalled, _) = Tally::join(calls).await;
        let finding = if stalled.all_passed() {
            Finding::pass().evidence(format!(
                "{streams} streams were open together and each got its reply in all {round_count} round(s) before any stream moved on or closed"
            ))
        } else {
            Finding::fail(stalled.line("streams open together did not make progress"))
        };
        Ok(finding
            .evidence(connections(&channel))
            .figure("streams", streams as f64)
            .figure("stalled_streams", stalled.failed() as f64))
    }
}
