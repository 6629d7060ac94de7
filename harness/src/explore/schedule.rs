//! Schedules: what RPCs run together on one channel, and the proptest
//! strategy that generates (and shrinks) them.

use std::fmt;

use proptest::prelude::*;

/// The kind of an RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Unary,
    ServerStreaming,
    ClientStreaming,
    Bidi,
}

/// What the schedule does to an RPC besides running it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// The server is asked to end the call with this status code.
    Status(i32),
    /// The client cancels before the first reply.
    CancelBeforeFirstReply,
    /// The client cancels after the first reply.
    CancelMidStream,
    /// The client cancels after half-closing its send half.
    CancelAfterHalfClose,
    /// The call has a 100 ms deadline and the server is slower.
    Deadline,
}

/// One RPC of a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rpc {
    pub kind: Kind,
    /// Start delay after the schedule begins (0: together).
    pub delay_ms: u32,
    /// Payload size of each reply (and of each request for client streaming).
    pub size: usize,
    /// Messages in the streaming direction(s).
    pub messages: usize,
    /// Server-side interval before each streamed reply.
    pub interval_ms: u32,
    pub fault: Fault,
}

/// FullDuplexCall streams held open together on the schedule's channel and
/// pinged in turn (a ping on the next stream only after the previous
/// stream's pong), so the exchange can progress only if the server runs
/// their handlers at the same time; optionally while one handler blocks its
/// thread (ProbeService.Hold BLOCK_THREAD), which a server must not let
/// stall the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchange {
    pub streams: usize,
    pub rounds: usize,
    pub beside_blocked_thread: bool,
}

/// RPCs started together (or staggered) on one channel, with an exchange
/// beside them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub rpcs: Vec<Rpc>,
    pub exchange: Option<Exchange>,
}

impl Schedule {
    /// A schedule of nothing (for a run that produced no case).
    pub fn empty() -> Self {
        Self {
            rpcs: Vec::new(),
            exchange: None,
        }
    }
}

impl fmt::Display for Rpc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} at +{} ms: {} × {} B",
            self.kind, self.delay_ms, self.messages, self.size
        )?;
        if self.interval_ms > 0 {
            write!(f, " every {} ms", self.interval_ms)?;
        }
        match self.fault {
            Fault::None => Ok(()),
            Fault::Status(code) => write!(f, ", server ends it with status {code}"),
            Fault::CancelBeforeFirstReply => write!(f, ", client cancels before the first reply"),
            Fault::CancelMidStream => write!(f, ", client cancels after the first reply"),
            Fault::CancelAfterHalfClose => write!(f, ", client cancels after half-closing"),
            Fault::Deadline => write!(f, ", 100 ms deadline on a slower server"),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} RPC(s) on one channel:", self.rpcs.len())?;
        for (index, rpc) in self.rpcs.iter().enumerate() {
            writeln!(f, "  #{index}: {rpc}")?;
        }
        if let Some(exchange) = &self.exchange {
            writeln!(
                f,
                "  beside them: {} FullDuplexCall streams held open together, pinged in turn for {} round(s){}",
                exchange.streams,
                exchange.rounds,
                if exchange.beside_blocked_thread {
                    ", while one handler blocks its thread (Hold BLOCK_THREAD)"
                } else {
                    ""
                }
            )?;
        }
        Ok(())
    }
}

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        3 => 0usize..2_048,
        1 => Just(70_000usize),
        1 => Just(200_000usize),
    ]
}

fn status_code() -> impl Strategy<Value = i32> {
    prop_oneof![Just(2), Just(3), Just(5), Just(9), Just(13)]
}

fn fault(kind: Kind) -> BoxedStrategy<Fault> {
    match kind {
        Kind::Unary => prop_oneof![
            4 => Just(Fault::None),
            1 => status_code().prop_map(Fault::Status),
        ]
        .boxed(),
        Kind::ServerStreaming => prop_oneof![
            4 => Just(Fault::None),
            1 => status_code().prop_map(Fault::Status),
            1 => Just(Fault::CancelBeforeFirstReply),
            1 => Just(Fault::CancelMidStream),
            1 => Just(Fault::Deadline),
        ]
        .boxed(),
        Kind::ClientStreaming => prop_oneof![
            4 => Just(Fault::None),
            1 => Just(Fault::CancelBeforeFirstReply),
        ]
        .boxed(),
        Kind::Bidi => prop_oneof![
            4 => Just(Fault::None),
            1 => status_code().prop_map(Fault::Status),
            1 => Just(Fault::CancelMidStream),
            1 => Just(Fault::CancelAfterHalfClose),
            1 => Just(Fault::Deadline),
        ]
        .boxed(),
    }
}

fn rpc() -> impl Strategy<Value = Rpc> {
    prop_oneof![
        Just(Kind::Unary),
        Just(Kind::ServerStreaming),
        Just(Kind::ClientStreaming),
        Just(Kind::Bidi),
    ]
    .prop_flat_map(|kind| {
        let messages = if kind == Kind::Unary {
            1..2usize
        } else {
            1..21usize
        };
        (
            Just(kind),
            prop_oneof![Just(0u32), 0u32..30],
            size(),
            messages,
            0u32..4,
            fault(kind),
        )
    })
    .prop_map(|(kind, delay_ms, size, messages, interval_ms, fault)| Rpc {
        kind,
        delay_ms,
        size,
        messages,
        interval_ms,
        fault,
    })
}

fn exchange(blocking: bool) -> impl Strategy<Value = Exchange> {
    (
        2usize..=4,
        1usize..=3,
        prop::bool::weighted(if blocking { 0.25 } else { 0.0 }),
    )
        .prop_map(|(streams, rounds, beside_blocked_thread)| Exchange {
            streams,
            rounds,
            beside_blocked_thread,
        })
}

/// Schedules of 1..=max_rpcs RPCs, most with an exchange beside them (with
/// a blocked thread only where the target allows thread-blocking holds).
pub fn schedules(max_rpcs: usize, blocking: bool) -> impl Strategy<Value = Schedule> {
    (
        prop::collection::vec(rpc(), 1..=max_rpcs.max(1)),
        prop::option::weighted(0.6, exchange(blocking)),
    )
        .prop_map(|(rpcs, exchange)| Schedule { rpcs, exchange })
}
