//! `scale-streams`: thousands of FullDuplexCall streams held open together,
//! each answering its ping, none closing before all have their pong; the
//! harness's peak memory is reported (method: scale_streams.md).

mod gate;
mod memory;
mod wire;

use gate::{Gate, PING_SIZES, one_stream};
use wire::Pings;

use crate::drivers::prelude::*;

pub struct ScaleStreams;

/// Most connections the streams are spread over under a low stream limit:
/// more would test the server's accept path, not multiplexing.
const MAX_CHANNELS: usize = 64;

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Streams held open together.
    pub streams: usize,
    /// How long, from the start, every stream has to get its pong.
    pub all_replies_ms: u64,
    /// How long, after that, every stream has to end cleanly.
    pub close_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            streams: 10_000,
            all_replies_ms: 15_000,
            close_ms: 10_000,
        }
    }
}

/// The streams, and how many go on one channel: all on one, unless the
/// target's stream limit is lower (then at most [`MAX_CHANNELS`] channels,
/// each below the limit).
fn sizing(ctx: &Ctx, wanted: usize) -> (usize, usize) {
    let streams = wanted.max(1);
    let Some(limit) = ctx.stream_limit().filter(|&limit| limit < streams) else {
        return (streams, streams);
    };
    let limit = limit.max(1);
    let fitted = streams.min(MAX_CHANNELS * limit);
    if fitted < streams {
        ctx.note(format!(
            "sized down from {streams} to {fitted} streams: the target advertises SETTINGS_MAX_CONCURRENT_STREAMS = {limit}, and the scenario spreads streams over at most {MAX_CHANNELS} connections"
        ));
    }
    ctx.note(format!(
        "the target advertises SETTINGS_MAX_CONCURRENT_STREAMS = {limit}, so {fitted} streams cannot all be open on one connection: they are spread over several channels, each below the limit"
    ));
    (fitted, limit)
}

impl Driver for ScaleStreams {
    const NAME: &'static str = "scale-streams";
    const DOC: &'static str = include_str!("../scale_streams.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let (streams, per_channel_limit) = sizing(&ctx, params.streams);
        let channel_count = streams.div_ceil(per_channel_limit);
        let per_channel = streams.div_ceil(channel_count);
        let channels = (0..channel_count)
            .map(|_| ctx.channel())
            .collect::<Result<Vec<_>, _>>()?;
        // Each channel's one connection, opened and settled before the
        // streams (the streams speak h2 straight on it: wire.rs).
        let mut connections = Vec::with_capacity(channel_count);
        for channel in &channels {
            let connector = channel.connector();
            let connected = wire::connect(&connector)
                .await
                .map_err(DriverError::target)?;
            connections.push(connected);
        }
        let pings =
            Pings::new(channels[0].connector().uri(), PING_SIZES).map_err(DriverError::target)?;

        let memory_reset = memory::reset_peak();
        let rss_before = memory::kib("VmRSS:");
        let started = Instant::now();
        let replies_by = tokio::time::Instant::now() + Duration::from_millis(params.all_replies_ms);
        let close_limit = Duration::from_millis(params.close_ms);
        let gate = Arc::new(Gate::new(streams));
        // Each step is bounded by the scenario's deadlines; the stream as a
        // whole only by the budget.
        let calls: Vec<_> = (0..streams)
            .map(|index| {
                let connection = connections[index / per_channel].clone();
                let pings = pings.clone();
                let gate = Arc::clone(&gate);
                ctx.spawn_marking(format!("stream #{index}"), ctx.remaining(), move |first| {
                    one_stream(
                        connection,
                        pings,
                        index,
                        gate,
                        replies_by,
                        close_limit,
                        first,
                    )
                })
            })
            .collect();
        let cancel: Vec<_> = calls.iter().map(Call::abort_handle).collect();
        let mut ended = 0usize;
        let mut failure = None;
        let mut pending = calls.into_iter().enumerate();
        let joined = async {
            for (index, call) in pending.by_ref() {
                match call.join().await {
                    Ok(()) => ended += 1,
                    Err(err) => {
                        failure = Some((index, err.to_string()));
                        break;
                    }
                }
            }
        };
        // Streams without their pong while others that had theirs wait at
        // the gate, and no pong for long past the slowest one: stalled
        // behind them (stall.rs); the verdict need not wait out the limit.
        let stall = async {
            if streams < 2 {
                std::future::pending::<StallProof>().await
            } else {
                gate.siblings.stalled().await
            }
        };
        let stalled = tokio::select! {
            () = joined => None,
            proof = stall => Some(proof),
        };
        // After a failure the verdict is settled: stop the rest now rather
        // than wait for each to time out.
        cancel.iter().for_each(tokio::task::AbortHandle::abort);
        let rest: Vec<_> = pending.map(|(_, call)| call).collect();
        ended += join_all(rest)
            .await
            .iter()
            .filter(|outcome| outcome.is_ok())
            .count();

        let wall = started.elapsed();
        let peak = memory::kib("VmHWM:");
        let ponged = gate.ponged();
        let opened: usize = channels.iter().map(|c| c.connections_opened()).sum();
        // The stream that failed first, as the streams saw it.
        let mut finding = match (stalled, gate.first_failure().or(failure)) {
            (Some(proof), _) => Finding::fail(format!(
                "{ponged} of {streams} streams held open together got their pong: {proof}: the server did not serve them in parallel (the streams still open were then cancelled)"
            )),
            (None, Some((index, reason))) => Finding::fail(format!(
                "{ponged} of {streams} streams held open together got their pong; stream #{index} failed first: {reason}"
            )),
            (None, None) => Finding::pass().evidence(format!(
                "{streams} streams were open together, every one got its pong before any closed, and all {ended} ended cleanly ({} ms)",
                wall.as_millis()
            )),
        };
        finding = finding.evidence(format!(
            "{channel_count} channel(s), {per_channel} streams on each (the last may have fewer); the client opened {opened} TCP connection(s)"
        ));
        if let (Some(peak), Some(before)) = (peak, rss_before) {
            finding = finding
                .evidence(memory::line(before, peak, memory_reset))
                .figure("peak_memory_mib", (peak as f64 / 1024.0).round())
                .figure("rss_before_mib", (before as f64 / 1024.0).round());
        }
        Ok(finding
            .figure("streams", streams as f64)
            .figure("channels", channel_count as f64)
            .figure("streams_per_channel", per_channel as f64)
            .figure("ponged", ponged as f64)
            .figure("ended_cleanly", ended as f64)
            .figure("wall_ms", wall.as_millis() as f64))
    }
}
