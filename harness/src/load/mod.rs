//! A bounded closed-loop load generator: `in_flight` workers on one HTTP/2
//! connection, each issuing its next RPC as soon as its last one ended,
//! until a count or a duration runs out. Every RPC is bounded in time,
//! checked (status, echo, the size of every message) and recorded as a span
//! on a [`Timeline`], so the `sustained-load` scenario and the throughput
//! benchmarks measure the same code. The workers are slots of one event
//! loop on a thread of the load's own ([`client`]), speaking the RPCs
//! ([`wire`]) on the load's own HTTP/2 connection ([`http2`]): the scenario
//! asks whether the server keeps up, which only a client leaner than the
//! server can tell.

pub(crate) mod client;
pub(crate) mod http2;
pub(crate) mod message;
pub(crate) mod wire;

use std::collections::VecDeque;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::client::{MAX_REFUSED_ATTEMPTS, refused_backoff};
use crate::drivers::Stalled;
use crate::timeline::{Label, MAX_SPANS, Span, Timeline};
use http2::frame::code;
use http2::{Connection, Event};
use wire::{Answer, Failure, Progress, RequestHead, Wire};

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

/// Runs the load on `connection` (its workers are slots of one event loop
/// on the load's own thread: [`LoadClient`]), recording RPCs on `timeline`
/// (a span each while there is room, a count after that).
async fn closed_loop(
    connection: &mut Connection,
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
    let mut load = Load {
        slots: (0..workers)
            .map(|index| {
                let tag = spec.check_echo.then(|| Bytes::from(format!("w{index}")));
                Slot {
                    head: wire.head(tag.as_ref()),
                    worker: Worker {
                        tag,
                        tally: Tally {
                            latencies_us: Vec::with_capacity(expected),
                            ..Tally::default()
                        },
                        spans: WorkerSpans::new(timeline.clone(), span_room, expected),
                        tickets: Tickets::share(index, workers, spec.max_rpcs),
                        stop_at,
                    },
                    rpc: None,
                }
            })
            .collect(),
        ready: (0..workers).collect(),
        backoff: Vec::new(),
        live: workers,
        label: wire.label(),
        rpc_timeout: spec.rpc_timeout,
        stop_at,
        wire,
        deadline: Deadline::default(),
    };
    // Slots kept waiting by the server's stream limit end with the load's
    // time, whatever the server does.
    load.deadline.at_most(stop_at);
    let timer = tokio::time::sleep(spec.rpc_timeout);
    tokio::pin!(timer);
    while load.live > 0 {
        load.start(connection);
        if load.live == 0 {
            break;
        }
        if let Some(at) = load.deadline.take_new() {
            timer.as_mut().reset(tokio::time::Instant::from_std(at));
        }
        let armed = load.deadline.is_armed();
        let wake = std::future::poll_fn(|cx| {
            if let Poll::Ready(event) = connection.poll_event(cx) {
                return Poll::Ready(Some(event));
            }
            if armed && timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await;
        match wake {
            Some(Ok(event)) => load.on_event(connection, event),
            Some(Err(reason)) => load.connection_failed(&reason),
            None => load.on_timer(connection),
        }
    }
    let mut outcome = LoadOutcome::default();
    for slot in load.slots {
        let tally = slot.worker.tally;
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

/// The state of one load: its workers' slots and what they wait for.
struct Load {
    slots: Vec<Slot>,
    /// Slots whose next RPC (or the retry of a refused one) may go out,
    /// in order.
    ready: VecDeque<usize>,
    /// Slots whose refused RPC goes out again at the given time.
    backoff: Vec<(Instant, usize)>,
    /// Slots whose worker has not finished.
    live: usize,
    label: &'static str,
    rpc_timeout: Duration,
    stop_at: Instant,
    wire: Wire,
    deadline: Deadline,
}

/// One worker: its tally, spans and tickets, its request head, and its RPC
/// in flight (or waiting to be sent again).
struct Slot {
    worker: Worker,
    head: RequestHead,
    rpc: Option<Rpc>,
}

impl Slot {
    /// Ends `rpc` with `outcome`: its span, its tally and its refusals.
    fn end(&mut self, label: &'static str, rpc: Rpc, outcome: Result<(), String>) {
        self.worker.tally.refused += u64::from(rpc.refused);
        self.worker
            .finish(label, rpc.ticket, rpc.sent, rpc.first, outcome);
    }
}

struct Rpc {
    ticket: u64,
    /// When it was first sent: its bound runs from there, through retries.
    sent: Instant,
    /// When its first whole message arrived.
    first: Option<Instant>,
    refused: u32,
    /// Its stream, while one is open.
    stream: Option<u32>,
    answer: Answer,
}

impl Rpc {
    fn new(ticket: u64, sent: Instant, answer: Answer) -> Self {
        Self {
            ticket,
            sent,
            first: None,
            refused: 0,
            stream: None,
            answer,
        }
    }
}

/// When the load must next look at the clock: the bound of the oldest RPC
/// in flight, or a retry's time. It moves only when it passes (then every
/// RPC is looked at) or when a retry is due earlier, so an RPC costs no
/// timer update of its own.
#[derive(Default)]
struct Deadline {
    at: Option<Instant>,
    changed: bool,
}

impl Deadline {
    /// At `at`, unless something earlier is set.
    fn at_most(&mut self, at: Instant) {
        if self.at.is_none_or(|current| at < current) {
            self.at = Some(at);
            self.changed = true;
        }
    }

    fn clear(&mut self) {
        self.at = None;
    }

    /// The time to set the timer to, if it changed.
    fn take_new(&mut self) -> Option<Instant> {
        std::mem::take(&mut self.changed)
            .then_some(self.at)
            .flatten()
    }

    fn is_armed(&self) -> bool {
        self.at.is_some()
    }
}

impl Load {
    /// Sends what may go out: the ready slots' next RPCs (or retries), as
    /// far as the server's stream limit allows. A slot whose worker is done
    /// leaves; on a connection that will open no more streams, the RPC a
    /// slot was about to send fails with the reason, and the slot leaves.
    fn start(&mut self, connection: &mut Connection) {
        while let Some(&index) = self.ready.front() {
            if let Some(reason) = connection.closed() {
                let reason = format!("the load's connection failed: {reason}");
                self.ready.pop_front();
                let slot = &mut self.slots[index];
                let rpc = slot.rpc.take().or_else(|| {
                    let (sent, ticket) = slot.worker.begin()?;
                    Some(Rpc::new(ticket, sent, self.wire.answer(None)))
                });
                if let Some(rpc) = rpc {
                    slot.end(self.label, rpc, Err(reason));
                }
                self.live -= 1;
                continue;
            }
            if !connection.can_open() {
                break;
            }
            self.ready.pop_front();
            let slot = &mut self.slots[index];
            if slot.rpc.is_none() {
                let Some((sent, ticket)) = slot.worker.begin() else {
                    self.live -= 1;
                    continue;
                };
                slot.rpc = Some(Rpc::new(
                    ticket,
                    sent,
                    self.wire.answer(slot.worker.tag.clone()),
                ));
                self.deadline.at_most(sent + self.rpc_timeout);
            }
            let block = slot.head.block(connection.encoder());
            let stream = connection.open(index, block, self.wire.message());
            if let Some(rpc) = &mut slot.rpc {
                rpc.stream = Some(stream);
            }
        }
    }

    fn on_event(&mut self, connection: &mut Connection, event: Event) {
        let (index, progress) = match event {
            Event::Headers { token, fields, end } => match self.rpc(token) {
                Some(rpc) => (token, rpc.answer.headers(&fields, end)),
                None => return,
            },
            Event::Data { token, data, end } => match self.rpc(token) {
                Some(rpc) => {
                    let progress = rpc.answer.data(data, end);
                    if rpc.first.is_none() && rpc.answer.has_message() {
                        rpc.first = Some(Instant::now());
                    }
                    (token, progress)
                }
                None => return,
            },
            Event::Reset { token, code } => (token, Progress::Done(Err(Answer::reset(code)))),
        };
        let Progress::Done(outcome) = progress else {
            return;
        };
        let Some(mut rpc) = self.slots.get_mut(index).and_then(|slot| slot.rpc.take()) else {
            return;
        };
        if let Some(stream) = rpc.stream.take() {
            // A no-op for a stream that ended; one answered wrongly midway
            // is cancelled.
            connection.reset(stream, code::CANCEL);
        }
        let outcome = match outcome {
            Err(Failure::Refused) if rpc.refused + 1 < MAX_REFUSED_ATTEMPTS => {
                rpc.refused += 1;
                let at = Instant::now() + refused_backoff(rpc.refused);
                self.slots[index].rpc = Some(rpc);
                self.backoff.push((at, index));
                self.deadline.at_most(at);
                return;
            }
            Err(Failure::Refused) => Err(format!(
                "the server refused the stream {MAX_REFUSED_ATTEMPTS} times"
            )),
            Err(Failure::Rpc(reason)) => Err(reason),
            Ok(()) => Ok(()),
        };
        self.slots[index].end(self.label, rpc, outcome);
        self.ready.push_back(index);
    }

    fn rpc(&mut self, index: usize) -> Option<&mut Rpc> {
        self.slots.get_mut(index)?.rpc.as_mut()
    }

    /// The connection failed: every RPC in flight or waiting fails with the
    /// reason, and no slot goes on (the next [`Load::start`] lets the ready
    /// ones go).
    fn connection_failed(&mut self, reason: &str) {
        let reason = format!("the load's connection failed: {reason}");
        self.backoff.clear();
        for slot in &mut self.slots {
            if let Some(rpc) = slot.rpc.take() {
                slot.end(self.label, rpc, Err(reason.clone()));
                self.live -= 1;
            }
        }
    }

    /// The clock passed the deadline: RPCs past their bound fail (their
    /// streams cancelled), retries that are due become ready.
    fn on_timer(&mut self, connection: &mut Connection) {
        let now = Instant::now();
        self.deadline.clear();
        let limit = self.rpc_timeout;
        let stalled = Stalled {
            what: self.label.to_owned(),
            after: limit,
        }
        .to_string();
        for (index, slot) in self.slots.iter_mut().enumerate() {
            let Some(rpc) = &slot.rpc else {
                continue;
            };
            if now < rpc.sent + limit {
                self.deadline.at_most(rpc.sent + limit);
                continue;
            }
            let Some(mut rpc) = slot.rpc.take() else {
                continue;
            };
            if let Some(stream) = rpc.stream.take() {
                connection.reset(stream, code::CANCEL);
            }
            slot.end(self.label, rpc, Err(stalled.clone()));
            self.backoff.retain(|&(_, waiting)| waiting != index);
            self.ready.push_back(index);
        }
        let mut due = Vec::new();
        self.backoff.retain(|&(at, index)| {
            if at <= now {
                due.push(index);
                false
            } else {
                true
            }
        });
        self.ready.extend(due);
        for &(at, _) in &self.backoff {
            self.deadline.at_most(at);
        }
        if now < self.stop_at {
            self.deadline.at_most(self.stop_at);
        } else if !connection.can_open() {
            // The load's time is up: slots still waiting for a stream to
            // open, with no RPC begun, are done.
            let slots = &self.slots;
            let before = self.ready.len();
            self.ready.retain(|&index| slots[index].rpc.is_some());
            self.live -= before - self.ready.len();
        }
    }
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

/// One worker of a load: its tally and spans are its own until the load
/// ends, then merged once.
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
    tag: Option<Bytes>,
    tally: Tally,
    spans: WorkerSpans,
    tickets: Tickets,
    stop_at: Instant,
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

    /// Ends an RPC: one clock reading for its end, its span (with its first
    /// message's time) and its tally.
    fn finish(
        &mut self,
        label: &'static str,
        ticket: u64,
        sent: Instant,
        first: Option<Instant>,
        outcome: Result<(), String>,
    ) {
        let ended = Instant::now();
        let ok = outcome.is_ok();
        self.spans
            .record(Label::Numbered(label, ticket), sent, first, ended, ok);
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
}
