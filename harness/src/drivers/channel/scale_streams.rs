//! `scale-streams`: thousands of FullDuplexCall streams held open together,
//! each answering its ping, none closing before all have their pong; the
//! harness's peak memory is reported.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;

use crate::drivers::{Ctx, Driver, DriverError, DriverResult, brief, output_request, test_client};
use crate::verdict::Finding;

pub struct ScaleStreams;

/// Most connections the streams are spread over under a low stream limit.
const MAX_CHANNELS: usize = 64;

#[derive(Debug, Deserialize, serde::Serialize)]
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

impl Driver for ScaleStreams {
    const NAME: &'static str = "scale-streams";
    const DOC: &'static str = include_str!("scale_streams.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let mut streams = params.streams.max(1);
        let mut notes = Vec::new();
        let per_channel_limit = match ctx.target().advertised_max_streams {
            Some(limit) if (limit as usize) < streams => {
                let limit = (limit as usize).max(1);
                // More connections than this would test the server's
                // accept path, not multiplexing: demanding more than a
                // server advertises is not a conformance failure.
                if streams.div_ceil(limit) > MAX_CHANNELS {
                    ctx.note(format!(
                        "sized down from {streams} to {} streams: the target advertises SETTINGS_MAX_CONCURRENT_STREAMS = {limit}, and the scenario spreads streams over at most {MAX_CHANNELS} connections",
                        MAX_CHANNELS * limit
                    ));
                    streams = MAX_CHANNELS * limit;
                }
                notes.push(format!(
                    "the target advertises SETTINGS_MAX_CONCURRENT_STREAMS = {limit}, so {streams} streams cannot all be open on one connection: they are spread over several channels, each below the limit"
                ));
                limit
            }
            _ => streams,
        };
        let channel_count = streams.div_ceil(per_channel_limit);
        let per_channel = streams.div_ceil(channel_count);
        let mut channels = Vec::with_capacity(channel_count);
        for _ in 0..channel_count {
            channels.push(ctx.channel()?);
        }

        let memory_reset = reset_peak_memory();
        let rss_before = memory_kib("VmRSS:");
        let started = Instant::now();
        let replies_by = started + Duration::from_millis(params.all_replies_ms);
        let close_limit = Duration::from_millis(params.close_ms);
        let gate = Arc::new(Gate::new(streams));
        let mut tasks = JoinSet::new();
        for index in 0..streams {
            let channel = channels[index / per_channel].handle();
            let gate = Arc::clone(&gate);
            let mut span = ctx.timeline().start(format!("stream #{index}"));
            tasks.spawn(async move {
                let outcome =
                    one_stream(channel, index, &gate, replies_by, close_limit, &mut span).await;
                span.end(outcome.is_ok());
                if outcome.is_err() {
                    gate.fail();
                }
                outcome.map_err(|reason| (index, reason))
            });
        }
        let mut failures = Vec::new();
        let mut ended = 0usize;
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(())) => ended += 1,
                Ok(Err(failure)) => {
                    failures.push(failure);
                    // The verdict is settled: stop the rest now rather than
                    // wait for each to time out.
                    tasks.abort_all();
                }
                Err(join) if join.is_cancelled() => {}
                Err(join) => {
                    return Err(DriverError::harness(format!(
                        "a stream task failed: {join}"
                    )));
                }
            }
        }
        let wall = started.elapsed();
        let peak = memory_kib("VmHWM:");
        let ponged = gate.arrived.load(Ordering::SeqCst).min(streams);
        let opened: usize = channels
            .iter()
            .map(|channel| channel.connections_opened())
            .sum();

        let mut finding = if let Some((index, reason)) = failures.first() {
            Finding::fail(format!(
                "{ponged} of {streams} streams held open together got their pong; stream #{index} failed first: {reason}"
            ))
        } else {
            Finding::pass().evidence(format!(
                "{streams} streams were open together, every one got its pong before any closed, and all {ended} ended cleanly ({} ms)",
                wall.as_millis()
            ))
        };
        for note in notes {
            finding = finding.evidence(note);
        }
        finding = finding.evidence(format!(
            "{channel_count} channel(s), {per_channel} streams on each (the last may have fewer); the client opened {opened} TCP connection(s)"
        ));
        if let (Some(peak), Some(before)) = (peak, rss_before) {
            finding = finding
                .evidence(format!(
                    "harness process memory: {} MiB resident at the start, peak {} MiB ({}; includes an embedded reference server and anything running beside this scenario)",
                    before / 1024,
                    peak / 1024,
                    if memory_reset { "high-water mark reset at the start" } else { "high-water mark of the whole process life" }
                ))
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

/// One stream's life: ping, pong, wait for all, close, clean end.
async fn one_stream(
    channel: crate::client::Channel,
    index: usize,
    gate: &Gate,
    replies_by: Instant,
    close_limit: Duration,
    span: &mut crate::timeline::SpanHandle,
) -> Result<(), String> {
    let mut client = test_client(channel);
    let size = index % 64 + 1;
    let (requests, outbound) = mpsc::channel(1);
    // The ping goes first: no call is awaited before its first request.
    requests
        .send(output_request(&[size], Duration::ZERO))
        .await
        .map_err(|_| "request stream closed".to_owned())?;
    let mut replies = match tokio::time::timeout_at(
        replies_by,
        client.full_duplex_call(ReceiverStream::new(outbound)),
    )
    .await
    {
        Ok(Ok(response)) => response.into_inner(),
        Ok(Err(status)) => return Err(format!("the call failed: {}", ended_by(&status))),
        Err(_) => return Err("the call was not answered in time".to_owned()),
    };
    match tokio::time::timeout_at(replies_by, replies.message()).await {
        Ok(Ok(Some(pong))) if pong.payload.as_ref().map_or(0, |p| p.body.len()) == size => {
            span.first_message()
        }
        Ok(Ok(Some(_))) => return Err("a pong of the wrong size".to_owned()),
        Ok(Ok(None)) => return Err("the stream ended before its pong".to_owned()),
        Ok(Err(status)) => return Err(format!("no pong: {}", ended_by(&status))),
        Err(_) => return Err("no pong in time while the other streams were open".to_owned()),
    }
    gate.arrive(replies_by).await?;
    drop(requests);
    match tokio::time::timeout(close_limit, replies.message()).await {
        Ok(Ok(None)) => Ok(()),
        Ok(Ok(Some(_))) => Err("an extra message after the pong".to_owned()),
        Ok(Err(status)) => Err(format!("no clean end: {}", brief(&status))),
        Err(_) => Err("the stream did not end after the client closed it".to_owned()),
    }
}

/// A status with who produced it: the server's handler or the transport.
fn ended_by(status: &tonic::Status) -> String {
    if crate::drivers::is_transport_failure(status) {
        format!("the connection failed ({})", brief(status))
    } else {
        format!("the server ended it with {}", brief(status))
    }
}

/// Lets every stream through once all have arrived: a counter and one
/// `Notify` (waking everyone once), instead of a 10,000-party barrier.
struct Gate {
    total: usize,
    arrived: AtomicUsize,
    failed: AtomicBool,
    notify: Notify,
}

impl Gate {
    fn new(total: usize) -> Self {
        Self {
            total,
            arrived: AtomicUsize::new(0),
            failed: AtomicBool::new(false),
            notify: Notify::new(),
        }
    }

    async fn arrive(&self, until: Instant) -> Result<(), String> {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        // Registered before counting, so the last arrival's wake-up is
        // never missed.
        notified.as_mut().enable();
        if self.arrived.fetch_add(1, Ordering::SeqCst) + 1 >= self.total {
            self.notify.notify_waiters();
            return Ok(());
        }
        if self.failed.load(Ordering::SeqCst) {
            return Err("another stream failed".to_owned());
        }
        if tokio::time::timeout_at(until, notified).await.is_err() {
            return Err(format!(
                "only {} of {} streams got their pong in time",
                self.arrived.load(Ordering::SeqCst),
                self.total
            ));
        }
        if self.arrived.load(Ordering::SeqCst) >= self.total {
            Ok(())
        } else {
            Err("another stream failed".to_owned())
        }
    }

    fn fail(&self) {
        self.failed.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }
}

/// Resets the process's memory high-water mark to its current resident size
/// (`/proc/self/clear_refs`, Linux 4.0+), so that VmHWM reflects this run.
fn reset_peak_memory() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// A `/proc/self/status` field in KiB (Linux only).
fn memory_kib(field: &str) -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|line| line.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
