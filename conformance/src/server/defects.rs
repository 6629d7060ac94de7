//! Defect modes: deliberate faults the reference server can be started with,
//! so that every scenario is shown to fail against the defect it targets
//! (the suite's own self-test, like a fixture project of broken inputs).

use std::fmt;
use std::str::FromStr;

/// A deliberate fault of the reference server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Defect {
    /// One RPC at a time per connection (from its arrival to the end of its
    /// response): RPCs on a shared channel queue behind each other instead of
    /// running in parallel.
    SerializePerConnection,
    /// One runtime worker thread, and thread-blocking holds block it (no
    /// hand-off to a blocking thread): one blocking handler stalls every RPC.
    SingleWorker,
    /// A panicking handler tears down its whole connection instead of ending
    /// only its own RPC with a status.
    PanicKillsConnection,
    /// Handlers do not notice cancellation: a cancelled call's handler runs on
    /// to its end and stays counted in flight.
    IgnoreCancellation,
    /// FullDuplexCall reads every request before answering any (half-duplex
    /// behaviour on a full-duplex method).
    DuplexReadAllFirst,
    /// FullDuplexCall and Pipe silently drop every 16th request.
    DuplexDropMessages,
    /// Per-request state is shared: the metadata echoed back (and a Pipe's
    /// producer id) may come from another concurrent request.
    SharedRequestState,
    /// The server advertises a stream limit but refuses RPCs with
    /// RESOURCE_EXHAUSTED once half of it is in flight.
    RefuseBelowLimit,
    /// The connection-level flow-control window is no larger than one
    /// stream's: one stalled stream blocks every other stream's data.
    TinyConnectionWindow,
    /// Graceful shutdown drops in-flight calls instead of letting them finish.
    AbortOnShutdown,
    /// FullDuplexCall stops answering as soon as the client half-closes,
    /// dropping the responses still owed.
    EndAtHalfClose,
    /// HalfDuplexCall answers each request at once instead of after half-close.
    HalfDuplexAnswersEarly,
    /// FullDuplexCall sends its response headers only after the first request,
    /// so a client that waits for the call before sending deadlocks.
    HeadersAfterFirstMessage,
    /// A handler that ends with an error status tears down its connection.
    FailureKillsConnection,
    /// grpc.health.v1.Health handlers run one at a time, server-wide: a
    /// Watch stream held open stalls every other health call.
    HealthOneAtATime,
}

impl Defect {
    /// Every defect, in a stable order.
    pub const ALL: [Defect; 15] = [
        Defect::SerializePerConnection,
        Defect::SingleWorker,
        Defect::PanicKillsConnection,
        Defect::IgnoreCancellation,
        Defect::DuplexReadAllFirst,
        Defect::DuplexDropMessages,
        Defect::SharedRequestState,
        Defect::RefuseBelowLimit,
        Defect::TinyConnectionWindow,
        Defect::AbortOnShutdown,
        Defect::EndAtHalfClose,
        Defect::HalfDuplexAnswersEarly,
        Defect::HeadersAfterFirstMessage,
        Defect::FailureKillsConnection,
        Defect::HealthOneAtATime,
    ];

    /// The name used on the command line and in scenario self-tests.
    pub fn name(self) -> &'static str {
        match self {
            Defect::SerializePerConnection => "serialize-per-connection",
            Defect::SingleWorker => "single-worker",
            Defect::PanicKillsConnection => "panic-kills-connection",
            Defect::IgnoreCancellation => "ignore-cancellation",
            Defect::DuplexReadAllFirst => "duplex-read-all-first",
            Defect::DuplexDropMessages => "duplex-drop-messages",
            Defect::SharedRequestState => "shared-request-state",
            Defect::RefuseBelowLimit => "refuse-below-limit",
            Defect::TinyConnectionWindow => "tiny-connection-window",
            Defect::AbortOnShutdown => "abort-on-shutdown",
            Defect::EndAtHalfClose => "end-at-half-close",
            Defect::HalfDuplexAnswersEarly => "half-duplex-answers-early",
            Defect::HeadersAfterFirstMessage => "headers-after-first-message",
            Defect::FailureKillsConnection => "failure-kills-connection",
            Defect::HealthOneAtATime => "health-one-at-a-time",
        }
    }

    /// One line on what the defect breaks.
    pub fn description(self) -> &'static str {
        match self {
            Defect::SerializePerConnection => "one handler at a time per connection",
            Defect::SingleWorker => "one worker thread that thread-blocking handlers block",
            Defect::PanicKillsConnection => "a handler panic closes its whole connection",
            Defect::IgnoreCancellation => "handlers run on after their call is cancelled",
            Defect::DuplexReadAllFirst => "FullDuplexCall reads all requests before replying",
            Defect::DuplexDropMessages => "FullDuplexCall and Pipe drop every 16th request",
            Defect::SharedRequestState => "echoed metadata may come from another request",
            Defect::RefuseBelowLimit => "refuses RPCs at half the advertised stream limit",
            Defect::TinyConnectionWindow => "connection window no larger than a stream's",
            Defect::AbortOnShutdown => "graceful shutdown drops in-flight calls",
            Defect::EndAtHalfClose => "FullDuplexCall stops answering at half-close",
            Defect::HalfDuplexAnswersEarly => "HalfDuplexCall answers before half-close",
            Defect::HeadersAfterFirstMessage => "FullDuplexCall sends headers only after a request",
            Defect::FailureKillsConnection => "an error status closes the whole connection",
            Defect::HealthOneAtATime => "health handlers run one at a time (a Watch stalls Check)",
        }
    }
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A defect name that is not known.
#[derive(Debug, thiserror::Error)]
#[error("unknown defect {given:?}; known defects: {known}")]
pub struct UnknownDefect {
    pub given: String,
    pub known: String,
}

impl FromStr for Defect {
    type Err = UnknownDefect;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Defect::ALL
            .into_iter()
            .find(|defect| defect.name() == s)
            .ok_or_else(|| UnknownDefect {
                given: s.to_owned(),
                known: Defect::ALL
                    .iter()
                    .map(|d| d.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}
