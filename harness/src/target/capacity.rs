//! The target's handler capacity, measured with TestService alone: how many
//! FullDuplexCall streams are provably inside the server at once (each open
//! and answering its ping while all the earlier ones stay open), and what
//! happens to the next one (queued then served, refused with a status, or
//! no answer at all). A server whose handlers run on a pool of N threads or
//! one at a time shows it here, so that a scenario needing more handlers at
//! once than the server runs can say so instead of only "no answer".

use std::time::{Duration, Instant};

use conformance::proto::grpc_testing::{StreamingOutputCallRequest, StreamingOutputCallResponse};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::client::{ChannelOptions, ClientChannel, Dial};
use crate::drivers::{brief, output_request, test_client};

/// Most streams held open while measuring: enough to tell a pool's size
/// from "larger than any scenario short of the scale ones needs".
pub const MEASURE_UP_TO: usize = 512;
/// How long one stream's pong may take before the stream counts as past
/// the capacity.
const PONG_BOUND: Duration = Duration::from_millis(500);
/// How long the stream past the capacity may take to be answered once held
/// streams close.
const RELEASE_BOUND: Duration = Duration::from_millis(1_500);
/// Bound on the whole measurement.
const TOTAL_BOUND: Duration = Duration::from_secs(6);

/// What the measurement found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandlerCapacity {
    /// Streams open together, each answered while the earlier ones stayed
    /// open.
    pub streams: usize,
    /// True when the measurement stopped at its cap, not at the server's
    /// limit: the capacity is at least `streams`.
    pub at_least: bool,
    /// What happened to the next stream, in words (empty when `at_least`).
    pub past: String,
}

impl std::fmt::Display for HandlerCapacity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.at_least {
            write!(
                f,
                "at least {} stream handlers at once (measured with TestService up to that cap)",
                self.streams
            )
        } else {
            write!(
                f,
                "{} stream handler(s) at once (FullDuplexCall streams open together, each answering while the others stayed open); the next stream {}",
                self.streams, self.past
            )
        }
    }
}

type Held = (
    mpsc::Sender<StreamingOutputCallRequest>,
    tonic::Streaming<StreamingOutputCallResponse>,
);

/// A stream's call and pong, still to come.
type Answer = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Held, String>> + Send>>;

enum Opened {
    Answered(Box<Held>),
    Refused(String),
    Waiting(Answer),
}

/// Opens one stream and waits (bounded) for its pong.
async fn open(channel: crate::client::Channel) -> Opened {
    let (requests, outbound) = mpsc::channel(1);
    let _ = requests.send(output_request(&[1], Duration::ZERO)).await;
    let mut answer: Answer = Box::pin(async move {
        let mut client = test_client(channel);
        let mut replies = client
            .full_duplex_call(ReceiverStream::new(outbound))
            .await
            .map_err(|status| brief(&status))?
            .into_inner();
        match replies.message().await {
            Ok(Some(_)) => Ok((requests, replies)),
            Ok(None) => Err("ended without its pong".to_owned()),
            Err(status) => Err(brief(&status)),
        }
    });
    match tokio::time::timeout(PONG_BOUND, &mut answer).await {
        Ok(Ok(held)) => Opened::Answered(Box::new(held)),
        Ok(Err(reason)) => Opened::Refused(reason),
        Err(_) => Opened::Waiting(answer),
    }
}

/// Measures the capacity (None if not even one stream was answered, or the
/// target cannot be dialled).
pub async fn measure(dial: &Dial, advertised: Option<u32>) -> Option<HandlerCapacity> {
    let started = Instant::now();
    let per_channel = advertised
        .map_or(MEASURE_UP_TO, |limit| limit as usize)
        .max(1);
    let mut channels: Vec<ClientChannel> = Vec::new();
    let mut held: Vec<Held> = Vec::new();
    while held.len() < MEASURE_UP_TO {
        if started.elapsed() > TOTAL_BOUND {
            break;
        }
        if held.len() >= channels.len() * per_channel {
            channels.push(dial.channel(&ChannelOptions::default()).ok()?);
        }
        let channel = channels.last()?.handle();
        match open(channel).await {
            Opened::Answered(stream) => held.push(*stream),
            Opened::Refused(reason) => {
                return finish(held.len(), format!("was refused: {reason}"));
            }
            Opened::Waiting(waiting) => {
                let count = held.len();
                let past = past_capacity(held, waiting).await;
                return finish(count, past);
            }
        }
    }
    Some(HandlerCapacity {
        streams: held.len(),
        at_least: true,
        past: String::new(),
    })
}

fn finish(streams: usize, past: String) -> Option<HandlerCapacity> {
    (streams > 0).then_some(HandlerCapacity {
        streams,
        at_least: false,
        past,
    })
}

/// What becomes of a stream past the capacity once held streams close.
async fn past_capacity(mut held: Vec<Held>, mut waiting: Answer) -> String {
    // Close the oldest held stream: a queueing server now serves the next.
    if !held.is_empty() {
        drop(held.remove(0));
    }
    let closed = Instant::now();
    match tokio::time::timeout(RELEASE_BOUND, &mut waiting).await {
        Ok(Ok(_)) => {
            return format!(
                "waited: it was answered {} ms after one held stream closed (queued, then served)",
                closed.elapsed().as_millis()
            );
        }
        Ok(Err(reason)) => return format!("failed after one held stream closed: {reason}"),
        Err(_) => {}
    }
    drop(held);
    let all_closed = Instant::now();
    match tokio::time::timeout(RELEASE_BOUND, &mut waiting).await {
        Ok(Ok(_)) => format!(
            "waited: it was answered only after every held stream closed ({} ms later)",
            all_closed.elapsed().as_millis()
        ),
        Ok(Err(reason)) => format!("failed once the held streams closed: {reason}"),
        Err(_) => format!(
            "got no answer within {} ms, even after every held stream closed",
            (PONG_BOUND + RELEASE_BOUND * 2).as_millis()
        ),
    }
}
