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
/// which round it came. Each reply is owed to, then answered in, `group`,
/// so that a stream left without its reply while others wait for it shows.
async fn play(
    channel: Channel,
    size: usize,
    rounds: usize,
    barrier: Arc<Barrier>,
    limit: Duration,
    first: FirstMessage,
    group: Siblings,
) -> Result<(), RpcError> {
    let in_round = |round: usize| {
        move |err: RpcError| RpcError::wrong(format!("in round {}: {err}", round + 1))
    };
    let asked = Instant::now();
    group.owe();
    let opened = async { within(limit, "FullDuplexCall", Duplex::open(channel, size)).await? }
        .await
        .map_err(in_round(0));
    let mut stream = opened.inspect_err(|_| group.gave_up())?;
    for round in 0..rounds {
        let asked = if round == 0 {
            asked
        } else {
            group.owe();
            Instant::now()
        };
        let reply = async {
            if round == 0 {
                within(limit, "reply", stream.reply()).await?
            } else {
                within(limit, "reply", stream.ping(size)).await?
            }
        };
        let got = reply
            .await
            .map_err(in_round(round))
            .inspect_err(|_| group.gave_up())?;
        if got != size {
            group.gave_up();
            return Err(in_round(round)(RpcError::wrong(
                "a reply of the wrong size",
            )));
        }
        group.answered(asked.elapsed());
        first.mark();
        // Nobody starts the next round, or closes, before all streams have
        // this round's reply.
        within(limit, "the other streams' replies", barrier.wait())
            .await
            .map_err(|stalled| in_round(round)(stalled.into()))?;
        group.moved_on();
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
        let group = Siblings::new();
        let calls: Vec<_> = (0..streams)
            .map(|index| {
                let handle = channel.handle();
                let barrier = Arc::clone(&barrier);
                let group = group.clone();
                let size = index % 512 + 1;
                let label = format!("stream #{index}");
                // Each wait is bounded by the reply timeout; the stream as a
                // whole only by the scenario's budget.
                ctx.spawn_marking(label, ctx.remaining(), move |first| {
                    play(handle, size, round_count, barrier, limit, first, group)
                })
            })
            .collect();
        // A stream without its reply while others that had theirs wait for
        // it at the barrier ends the scenario on that proof; one stream
        // alone has no sibling to be stalled behind and keeps its limit.
        let stall = async {
            if streams < 2 {
                std::future::pending::<StallProof>().await
            } else {
                group.stalled().await
            }
        };
        let finding = match join_unless_stalled(calls, stall).await {
            Ok(stalled) if stalled.all_passed() => Finding::pass().evidence(format!(
                "{streams} streams were open together and each got its reply in all {round_count} round(s) before any stream moved on or closed"
            ))
            .figure("stalled_streams", 0.0),
            Ok(stalled) => Finding::fail(stalled.line("streams open together did not make progress"))
                .figure("stalled_streams", stalled.failed() as f64),
            Err(proof) => Finding::fail(format!(
                "streams open together did not make progress: {proof}: the server did not serve them in parallel (the streams still open were then cancelled)"
            ))
            .figure("stalled_streams", proof.owed as f64),
        };
        Ok(finding
            .evidence(connections(&channel))
            .figure("streams", streams as f64))
    }
}
