//! Defect modes the suite's self-tests use: the reference server's (see
//! `conformance::server::Defect`), the harness client's own, written
//! `client:<name>` in scenario files, and the client adapters' (client
//! mode), written `adapter:<name>`.

use std::fmt;
use std::str::FromStr;

use conformance::server::Defect;

/// A deliberate fault of the harness's own client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClientDefect {
    /// Every clone of a channel handle opens a connection of its own (a
    /// client library whose "shared" channel is not shared).
    ChannelPerClone,
    /// Streaming drivers use one task that sends everything before reading
    /// anything: the shape that deadlocks on HTTP/2 flow control.
    SendAllThenRead,
    /// Streaming drivers await the call (response headers) before sending
    /// the first request: deadlocks against servers that send headers only
    /// with their first message.
    AwaitCallBeforeSend,
}

impl ClientDefect {
    pub const ALL: [ClientDefect; 3] = [
        ClientDefect::ChannelPerClone,
        ClientDefect::SendAllThenRead,
        ClientDefect::AwaitCallBeforeSend,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ClientDefect::ChannelPerClone => "channel-per-clone",
            ClientDefect::SendAllThenRead => "send-all-then-read",
            ClientDefect::AwaitCallBeforeSend => "await-call-before-send",
        }
    }
}

impl fmt::Display for ClientDefect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client:{}", self.name())
    }
}

/// A deliberate fault of a client adapter (client mode): the client-side
/// counterparts of the server defects, which every adapter takes as
/// `--defect <name>` (`proto/conformance/v1/client.proto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AdapterDefect {
    /// Every call (and the exchange's stream) on a channel of its own.
    NewChannelPerCall,
    /// One process-wide lock held around every whole RPC.
    GlobalLock,
    /// One task sends every request, half-closes, and only then reads.
    SendAllThenReceive,
    /// The receiving task starts reading only after the half-close.
    ReceiveAfterHalfClose,
}

impl AdapterDefect {
    pub const ALL: [AdapterDefect; 4] = [
        AdapterDefect::NewChannelPerCall,
        AdapterDefect::GlobalLock,
        AdapterDefect::SendAllThenReceive,
        AdapterDefect::ReceiveAfterHalfClose,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AdapterDefect::NewChannelPerCall => "new-channel-per-call",
            AdapterDefect::GlobalLock => "global-lock",
            AdapterDefect::SendAllThenReceive => "send-all-then-receive",
            AdapterDefect::ReceiveAfterHalfClose => "receive-after-half-close",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            AdapterDefect::NewChannelPerCall => "every call gets a channel of its own",
            AdapterDefect::GlobalLock => "one lock is held around every whole RPC",
            AdapterDefect::SendAllThenReceive => {
                "one task sends a whole stream and half-closes before reading"
            }
            AdapterDefect::ReceiveAfterHalfClose => {
                "the receiving task reads only after the half-close"
            }
        }
    }
}

impl FromStr for AdapterDefect {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        AdapterDefect::ALL
            .into_iter()
            .find(|defect| defect.name() == name)
            .ok_or_else(|| {
                format!(
                    "unknown adapter defect {name:?}; known: {}",
                    AdapterDefect::ALL.map(AdapterDefect::name).join(", ")
                )
            })
    }
}

impl fmt::Display for AdapterDefect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "adapter:{}", self.name())
    }
}

/// A defect of either side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnyDefect {
    Server(Defect),
    Client(ClientDefect),
    Adapter(AdapterDefect),
}

impl fmt::Display for AnyDefect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnyDefect::Server(defect) => defect.fmt(f),
            AnyDefect::Client(defect) => defect.fmt(f),
            AnyDefect::Adapter(defect) => defect.fmt(f),
        }
    }
}

impl FromStr for AnyDefect {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        if let Some(adapter) = name.strip_prefix("adapter:") {
            return adapter
                .parse::<AdapterDefect>()
                .map(AnyDefect::Adapter)
                .map_err(|_| format!("unknown defect {name:?}; {}", known()));
        }
        if let Some(client) = name.strip_prefix("client:") {
            return ClientDefect::ALL
                .into_iter()
                .find(|defect| defect.name() == client)
                .map(AnyDefect::Client)
                .ok_or_else(|| format!("unknown defect {name:?}; {}", known()));
        }
        name.parse::<Defect>()
            .map(AnyDefect::Server)
            .map_err(|_| format!("unknown defect {name:?}; {}", known()))
    }
}

fn known() -> String {
    let mut names: Vec<String> = Defect::ALL.iter().map(|d| d.name().to_owned()).collect();
    names.extend(ClientDefect::ALL.iter().map(ToString::to_string));
    names.extend(AdapterDefect::ALL.iter().map(ToString::to_string));
    format!("known defects: {}", names.join(", "))
}

/// Parses a self-test entry: one defect, or several joined with `+`
/// (a server defect together with a client one).
pub fn parse_combination(entry: &str) -> Result<Vec<AnyDefect>, String> {
    entry
        .split('+')
        .map(|name| name.trim().parse::<AnyDefect>())
        .collect()
}

/// Checks a self-test entry, for scenario validation.
pub fn check_name(entry: &str) -> Result<(), String> {
    parse_combination(entry).map(|_| ())
}

/// Every defect with a one-line description, for `--help` and `list`.
pub fn describe_all() -> Vec<(String, &'static str)> {
    let mut all: Vec<(String, &'static str)> = Defect::ALL
        .iter()
        .map(|d| (d.name().to_owned(), d.description()))
        .collect();
    all.push((
        ClientDefect::ChannelPerClone.to_string(),
        "each clone of a channel handle opens its own connection",
    ));
    all.push((
        ClientDefect::SendAllThenRead.to_string(),
        "one task sends a whole stream before reading any reply",
    ));
    all.push((
        ClientDefect::AwaitCallBeforeSend.to_string(),
        "a streaming call is awaited before its first request is sent",
    ));
    for defect in AdapterDefect::ALL {
        all.push((defect.to_string(), defect.description()));
    }
    all
}
