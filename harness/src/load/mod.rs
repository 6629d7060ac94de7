//! A bounded closed-loop load generator: `in_flight` workers on one HTTP/2
//! connection, each issuing its next RPC as soon as its last one ended,
//! until a count or a duration runs out. Every RPC is bounded in time,
//! checked (status, echo, the size of every message) and recorded as a span
//! on a [`Timeline`], so the `sustained-load` scenario and the throughput
//! benchmarks measure the same code. The RPCs are spoken straight on h2
//! ([`wire`]) from a thread of the load's own ([`client`]): the scenario asks
//! whether the server keeps up, which only a client leaner than the server
//! can tell.

pub(crate) mod client;
pub(crate) mod frames;
pub(crate) mod wire;

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::client::SendRequest;
use http::HeaderValue;
use tokio::time::Sleep;

use crate::client::{MAX_REFUSED_ATTEMPTS, refused_backoff};
use crate::drivers::Stalled;
use crate::timeline::{Label, MAX_SPANS, Span, Timeline};
use wire::{Failure, Wire};

pub use client::LoadClient;
pub use conformance::proto::ECHO_INITIAL;

/// Records a worker allocates room for up front, at most.
const PREALLOCATED_RPCS: usize = 16_384;

/// What each RPC of the load is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// TestService.UnaryCall with `request_size` bytes out, `response_size`
    /// bytes back.
    Unary {
        request_size: usize,
        response_size: usize,
    },
    /// TestService.StreamingOutputCall answering `messages` messages of
    /// `size` bytes each, read to the end.
    ServerStream { messages: usize, size: usize },
}

/// The bounds and shape of one load.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// RPCs kept in flight (workers), at least 1.
    pub in_flight: usize,
    /// Stop after this many RPCs were issued.
    pub max_rpcs: u64,
    /// Stop issuing after this long.
    pub max_duration: Duration,
    /// How long one RPC may take before it counts as failed.
    pub rpc_timeout: Duration,
    pub call: Call,
    /// Send a unique `x-grpc-test-echo-initial` value with every RPC and
    /// count an RPC whose response echoes another value as failed (per-request
    /// state leaking between concurrent RPCs).
    pub check_echo: bool,
}

impl LoadSpec {
    /// A unary load of `rpcs` RPCs with `in_flight` of them in flight, the
    /// shape the throughput benchmarks use.
    pub fn unary(in_flight: usize, rpcs: u64) -> Self {
        Self {
            in_flight,
            max_rpcs: rpcs,
            max_duration: Duration::from_secs(3_600),
            rpc_timeout: Duration::from_secs(30),
            call: Call::Unary {
                request_size: 0,
                response_size: 32,
            },
            check_echo: false,
        }
    }
}

/// What a load measured.
#[derive(Debug, Clone, Default)]
pub struct LoadOutcome {
    /// RPCs that ended OK (and answered as asked).
    pub succeeded: u64,
    /// RPCs that failed, stalled or answered wrongly.
    pub failed: u64,
    /// The first failure seen, in words.
    pub first_failure: Option<String>,
    /// Streams the server refused before processing them (RST_STREAM
    /// REFUSED_STREAM), each sent again as gRPC clients do.
    pub refused: u64,
    /// From the first RPC issued to the last one ended.
    pub elapsed: Duration,
    /// Latency of every RPC that succeeded, in microseconds, sorted.
    latencies_us: Vec<u32>,
}

impl LoadOutcome {
    /// A load that could not run at all.
    pub fn failure(reason: impl Into<String>) -> Self {
        Self {
            failed: 1,
            first_failure: Some(reason.into()),
            ..Self::default()
        }
    }

    pub fn issued(&self) -> u64 {
        self.succeeded + self.failed
    }

    /// RPCs that succeeded, per second of the load.
    pub fn rpcs_per_second(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.succeeded as f64 / seconds
        } else {
            0.0
        }
    }

    /// The `quantile` (0.0..=1.0) of the successful RPCs' latencies
    /// (nearest rank), if any succeeded.
    pub fn latency(&self, quantile: f64) -> Option<Duration> {
        if self.latencies_us.is_empty() {
            return None;
        }
        let rank = (quantile.clamp(0.0, 1.0) * self.latencies_us.len() as f64).ceil() as usize;
        let index = rank.saturating_sub(1).min(self.latencies_us.len() - 1);
        Some(Duration::from_micros(u64::from(self.latencies_us[index])))
    }
}

/// One worker's tally.
#[derive(Default)]
struct Tally {
    succeeded: u64,
    failed: u64,
    refused: u64,
    first_failure: Option<String>,
    latencies_us: Vec<u32>,
}

/// Runs the load on the connection behind `send` (each worker on its own
/// handle), recording RPCs on `timeline` (a span each while there is room, a
/// count after that). Runs on the load's own thread ([`LoadClient`]).
async fn closed_loop(
    send: &SendRequest<Bytes>,
    target: &http::Uri,
    timeline: &Timeline,
    spec: &LoadSpec,
) -> LoadOutcome {
    let wire = match Wire::new(target, spec.call) {
        Ok(wire) => wire,
        Err(reason) => return LoadOutcome::failure(reason),
    };
    let started = Instant::now();
    let stop_at = started + spec.max_duration;
    let workers = spec.in_flight.max(1);
    let span_room = MAX_SPANS.div_ceil(workers);
    // Each worker's share of a count-bound load, so that its records grow
    // once instead of doubling their way up (bounded: a time-bound load may
    // ask for far more than it will issue).
    let share = usize::try_from(spec.max_rpcs.div_ceil(workers as u64)).unwrap_or(usize::MAX);
    let expected = share.min(PREALLOCATED_RPCS);
    let mut tasks = Vec::with_capacity(workers);
    for index in 0..workers {
        let worker = Worker {
            tag: spec
                .check_echo
                .then(|| HeaderValue::from_str(&format!("w{index}")))
                .and_then(Result::ok),
            tally: Tally {
                latencies_us: Vec::with_capacity(expected),
                ..Tally::default()
            },
            spans: WorkerSpans::new(timeline.clone(), span_room, expected),
            tickets: Tickets::share(index, workers, spec.max_rpcs),
            stop_at,
            spec: spec.clone(),
        };
        tasks.push(tokio::spawn(work(worker, send.clone(), wire.clone())));
    }
    let mut outcome = LoadOutcome::default();
    for task in tasks {
        let tally = task.await.unwrap_or_else(|join| Tally {
            failed: 1,
            first_failure: Some(format!("a load worker failed: {join}")),
            ..Tally::default()
        });
        outcome.succeeded += tally.succeeded;
        outcome.failed += tally.failed;
        outcome.refused += tally.refused;
        if outcome.first_failure.is_none() {
            outcome.first_failure = tally.first_failure;
        }
        outcome.latencies_us.extend(tally.latencies_us);
    }
    outcome.elapsed = started.elapsed();
    outcome.latencies_us.sort_unstable();
    outcome
}

impl Tally {
    fn record(&mut self, label: &str, ticket: u64, took: Duration, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => {
                self.succeeded += 1;
                self.latencies_us
                    .push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
            }
            Err(reason) => {
                self.failed += 1;
                if self.first_failure.is_none() {
                    self.first_failure = Some(format!("{label} #{ticket}: {reason}"));
                }
            }
        }
    }
}

/// One worker of a load. Workers share nothing but the connection while they
/// run: their tallies and spans are merged once, at the end.
struct Worker {
    /// The echo value of every RPC of this worker, when the load checks
    /// echoes: a worker has one RPC in flight at a time, so no two RPCs in
    /// flight carry the same value, and a response echoing any other RPC's
    /// value is told apart. A value per worker rather than per RPC keeps
    /// the load's header set small: with a new value every RPC, both ends'
    /// HPACK tables churned (a new literal, an insertion and an eviction at
    /// every request and every response) and the load measured the echo
    /// more than the server. Short (`w17`), so that 64 workers' values fit
    /// the server's default 4 KiB table beside gRPC's own headers.
    tag: Option<HeaderValue>,
    tally: Tally,
    spans: WorkerSpans,
    tickets: Tickets,
    stop_at: Instant,
    spec: LoadSpec,
}

impl Worker {
    /// Starts the next RPC, or says the worker is done: one clock reading
    /// starts it (its ticket, span, bound and latency alike). Returns the
    /// reading and the RPC's number.
    fn begin(&mut self) -> Option<(Instant, u64)> {
        let sent = Instant::now();
        let ticket = self.tickets.claim(sent, self.stop_at)?;
        Some((sent, ticket))
    }

    /// Ends an RPC: one clock reading for its end, its span (`first` gives
    /// its first message's time from the end's) and its tally.
    fn finish(
        &mut self,
        label: &'static str,
        ticket: u64,
        sent: Instant,
        first: impl FnOnce(Instant) -> Option<Instant>,
        outcome: Result<(), String>,
    ) {
        let ended = Instant::now();
        let ok = outcome.is_ok();
        self.spans.record(
            Label::Numbered(label, ticket),
            sent,
            first(ended),
            ended,
            ok,
        );
        self.tally.record(label, ticket, ended - sent, outcome);
    }
}

/// A worker's share of the load's RPC numbers: worker `i` of `n` takes
/// `i`, `i + n`, `i + 2n`, ... below the load's count, so together the
/// workers issue exactly `max_rpcs` RPCs, each number once.
struct Tickets {
    next: u64,
    step: u64,
    end: u64,
}

impl Tickets {
    fn share(index: usize, workers: usize, max_rpcs: u64) -> Self {
        Self {
            next: index as u64,
            step: workers.max(1) as u64,
            end: max_rpcs,
        }
    }

    /// The next RPC's number, or None when the worker's share is done or
    /// the load's time is up.
    fn claim(&mut self, now: Instant, stop_at: Instant) -> Option<u64> {
        if self.next >= self.end || now >= stop_at {
            return None;
        }
        let ticket = self.next;
        self.next += self.step;
        Some(ticket)
    }
}

/// The spans of one worker: its first `room` RPCs get one, the rest are
/// counted; everything goes to the timeline in one step when the worker
/// ends (or is dropped). Each worker keeps its earliest RPCs, so the
/// timeline shows the start of the load across all workers.
struct WorkerSpans {
    timeline: Timeline,
    kept: Vec<Span>,
    room: usize,
    left_out: usize,
}

impl WorkerSpans {
    fn new(timeline: Timeline, room: usize, expected: usize) -> Self {
        Self {
            timeline,
            kept: Vec::with_capacity(room.min(expected)),
            room,
            left_out: 0,
        }
    }

    /// Records one RPC: sent at `sent`, first message at `first`, ended at
    /// `ended`.
    fn record(
        &mut self,
        label: Label,
        sent: Instant,
        first: Option<Instant>,
        ended: Instant,
        ok: bool,
    ) {
        if self.kept.len() >= self.room {
            self.left_out += 1;
            return;
        }
        self.kept.push(Span {
            label,
            start_us: self.timeline.offset_us(sent),
            first_message_us: first.map(|at| self.timeline.offset_us(at)),
            end_us: Some(self.timeline.offset_us(ended)),
            ok,
        });
    }
}

impl Drop for WorkerSpans {
    fn drop(&mut self) {
        self.timeline
            .absorb(std::mem::take(&mut self.kept), self.left_out);
    }
}

/// One worker's loop: an RPC at a time until its tickets or the load's time
/// run out, or its connection is gone.
async fn work(mut worker: Worker, mut send: SendRequest<Bytes>, wire: Wire) -> Tally {
    let label = wire.label();
    let rpc_timeout = worker.spec.rpc_timeout;
    let timer = tokio::time::sleep(rpc_timeout);
    tokio::pin!(timer);
    let tag = worker.tag.clone();
    while let Some((sent, ticket)) = worker.begin() {
        let mut first = None;
        let mut refused = 0;
        let outcome = {
            // Pinned here and lent to `bounded`, so the call's state is
            // stored once in the worker rather than copied into the bound's
            // own state; the block ends its borrows.
            let call = std::pin::pin!(async {
                loop {
                    match wire.call(&mut send, tag.as_ref(), &mut first).await {
                        Err(Failure::Refused) if refused + 1 < MAX_REFUSED_ATTEMPTS => {
                            refused += 1;
                            tokio::time::sleep(refused_backoff(refused)).await;
                        }
                        outcome => return outcome,
                    }
                }
            });
            match bounded(timer.as_mut(), sent, rpc_timeout, label, call).await {
                Ok(outcome) => outcome,
                Err(stalled) => Err(Failure::Rpc(stalled.to_string())),
            }
        };
        worker.tally.refused += u64::from(refused);
        let gone = matches!(outcome, Err(Failure::Connection(_)));
        let outcome = outcome.map_err(|failure| match failure {
            Failure::Refused => {
                format!("the server refused the stream {MAX_REFUSED_ATTEMPTS} times")
            }
            Failure::Connection(reason) | Failure::Rpc(reason) => reason,
        });
        worker.finish(label, ticket, sent, |_| first, outcome);
        if gone {
            break;
        }
    }
    worker.tally
}

/// Runs `call` for at most `limit`, as [`crate::drivers::within`] does, but
/// on the worker's own timer: resetting a registered timer to a later
/// deadline only moves a number, where a new timeout per RPC registers and
/// removes an entry in the runtime's timer wheel (under its lock) every time.
///
/// The timer is polled once per call, which hands it this task's waker; on
/// later wake-ups only its state is read. The waker it keeps stays valid:
/// the call is awaited by the task that started it (a load worker's own),
/// and a tokio task's waker is the same for its whole life. Polling the
/// timer at every wake-up (every message of a streaming call) cost a
/// coop-budget check and a waker comparison each time.
async fn bounded<T>(
    mut timer: Pin<&mut Sleep>,
    started: Instant,
    limit: Duration,
    what: &str,
    mut call: Pin<&mut impl Future<Output = T>>,
) -> Result<T, Stalled> {
    timer
        .as_mut()
        .reset(tokio::time::Instant::from_std(started) + limit);
    let mut armed = false;
    let stalled = || Stalled {
        what: what.to_owned(),
        after: limit,
    };
    std::future::poll_fn(|cx| {
        if let Poll::Ready(result) = call.as_mut().poll(cx) {
            return Poll::Ready(Ok(result));
        }
        let elapsed = if armed {
            timer.is_elapsed()
        } else {
            armed = true;
            timer.as_mut().poll(cx).is_ready()
        };
        if elapsed {
            Poll::Ready(Err(stalled()))
        } else {
            Poll::Pending
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let outcome = LoadOutcome {
            succeeded: 100,
            latencies_us: (1..=100).collect(),
            elapsed: Duration::from_secs(2),
            ..LoadOutcome::default()
        };
        assert_eq!(outcome.latency(0.5), Some(Duration::from_micros(50)));
        assert_eq!(outcome.latency(0.99), Some(Duration::from_micros(99)));
        assert_eq!(outcome.latency(1.0), Some(Duration::from_micros(100)));
        assert_eq!(outcome.latency(0.0), Some(Duration::from_micros(1)));
        assert!((outcome.rpcs_per_second() - 50.0).abs() < 1e-9);
        assert_eq!(LoadOutcome::default().latency(0.5), None);
    }

    #[test]
    fn workers_share_the_count_exactly_each_number_once() {
        for (workers, max_rpcs) in [(1, 10), (3, 10), (16, 10), (64, 200_000), (1_024, 8_192)] {
            let far = Instant::now() + Duration::from_secs(60);
            let mut seen = Vec::new();
            for index in 0..workers {
                let mut tickets = Tickets::share(index, workers, max_rpcs);
                while let Some(ticket) = tickets.claim(Instant::now(), far) {
                    seen.push(ticket);
                }
            }
            seen.sort_unstable();
            assert_eq!(seen, (0..max_rpcs).collect::<Vec<_>>(), "{workers} workers");
        }
        // Time up: nothing more is claimed.
        let mut tickets = Tickets::share(0, 1, 10);
        let now = Instant::now();
        assert_eq!(tickets.claim(now, now), None);
    }

    #[test]
    fn worker_spans_keep_their_room_and_count_the_rest() {
        let timeline = Timeline::new();
        let now = Instant::now();
        {
            let mut spans = WorkerSpans::new(timeline.clone(), 2, 5);
            for ticket in 0..5 {
                spans.record(
                    Label::Numbered("RPC", ticket),
                    now,
                    Some(now),
                    now,
                    ticket != 1,
                );
            }
        } // dropped: handed to the timeline
        let (spans, dropped) = timeline.take();
        let labels: Vec<String> = spans.iter().map(|s| s.label.to_string()).collect();
        assert_eq!(labels, ["RPC #0", "RPC #1"]);
        assert_eq!(dropped, 3);
        assert!(spans[0].ok && !spans[1].ok);
        assert!(
            spans
                .iter()
                .all(|s| s.first_message_us.is_some() && s.end_us.is_some())
        );
    }

    #[tokio::test]
    async fn one_timer_bounds_each_call_afresh() {
        let limit = Duration::from_millis(60);
        let timer = tokio::time::sleep(limit);
        tokio::pin!(timer);
        // Each call gets the whole limit, however long the timer has lived.
        for _ in 0..3 {
            let call = std::pin::pin!(async {
                tokio::time::sleep(Duration::from_millis(40)).await;
                7
            });
            let quick = bounded(timer.as_mut(), Instant::now(), limit, "quick", call).await;
            assert_eq!(quick.ok(), Some(7));
        }
        // A call woken again and again (as a stream by its messages), that
        // never ends: the timer, polled once, still cuts it off.
        let busy = std::pin::pin!(async {
            loop {
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        });
        assert_cut_off(timer.as_mut(), limit, "busy", busy).await;
        // A call never woken at all: the timer wakes the task.
        let never = std::pin::pin!(std::future::pending::<()>());
        assert_cut_off(timer.as_mut(), limit, "stalled", never).await;
    }

    /// `call`, which never ends, is cut off by `bounded` after its `limit`
    /// (and well before ten times it), as a stall named `what`.
    async fn assert_cut_off<T: std::fmt::Debug>(
        timer: Pin<&mut Sleep>,
        limit: Duration,
        what: &str,
        call: Pin<&mut impl Future<Output = T>>,
    ) {
        let started = Instant::now();
        let cut = tokio::time::timeout(
            limit * 20,
            bounded(timer, Instant::now(), limit, what, call),
        )
        .await
        .unwrap_or_else(|_| panic!("bounded must end the {what} call"));
        let waited = started.elapsed();
        let stalled = cut.expect_err("a call that never ends is cut off");
        assert_eq!(stalled.what, what);
        assert!(waited >= limit && waited < limit * 10, "{waited:?}");
    }
}
