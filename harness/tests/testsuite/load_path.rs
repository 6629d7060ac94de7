//! The load generator's own HTTP/2 client against servers that misbehave on
//! purpose (h2's server, driven by hand): refused streams are sent again and
//! counted, a stream never answered is cut off at its bound while the others
//! go on, a GOAWAY ends the load with the server's reason, and a wrong answer
//! is named.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::support::{grpc_answer, h2_server, h2_server_with};
use std::time::Duration;

use bytes::Bytes;
use conformance::proto::grpc_testing::{Payload, SimpleResponse};
use harness::client::{ChannelOptions, Dial};
use harness::load::{LoadClient, LoadOutcome, LoadSpec};
use harness::timeline::Timeline;
use prost::Message;

/// What the server does with the stream it sees `n`-th (from 0).
#[derive(Clone, Copy)]
enum Treat {
    Answer { size: usize },
    Refuse,
    Ignore,
    GoAway,
}

/// An HTTP/2 server answering UnaryCall (a SimpleResponse of the payload
/// size `treat` gives) on one connection; each stream as `treat` says.
async fn server(treat: fn(usize) -> Treat) -> (String, Arc<AtomicUsize>) {
    // Streams left unanswered stay open until the connection ends.
    let mut ignored = Vec::new();
    h2_server(move |index, mut respond, connection| match treat(index) {
        Treat::Refuse => respond.send_reset(h2::Reason::REFUSED_STREAM),
        Treat::Ignore => ignored.push(respond),
        Treat::GoAway => {
            connection.graceful_shutdown();
            grpc_answer(&mut respond, simple_response(32));
        }
        Treat::Answer { size } => grpc_answer(&mut respond, simple_response(size)),
    })
    .await
}

/// A SimpleResponse of `size` payload bytes, with gRPC's prefix.
fn simple_response(size: usize) -> Bytes {
    let message = SimpleResponse {
        payload: Some(Payload {
            body: vec![0; size],
            ..Payload::default()
        }),
        ..SimpleResponse::default()
    }
    .encode_to_vec();
    let mut framed = vec![0];
    framed.extend_from_slice(&u32::try_from(message.len()).expect("small").to_be_bytes());
    framed.extend_from_slice(&message);
    Bytes::from(framed)
}

/// A unary load of `rpcs` RPCs, `in_flight` at once, each bounded by
/// `rpc_timeout`, against a server treating streams as `treat` says.
async fn load(
    treat: fn(usize) -> Treat,
    in_flight: usize,
    rpcs: u64,
    rpc_timeout: Duration,
) -> (LoadOutcome, usize) {
    let (uri, seen) = server(treat).await;
    let dial = Dial {
        uri,
        tls: None,
        client_defects: Vec::new(),
    };
    let channel = dial.channel(&ChannelOptions::default()).expect("a channel");
    let client = LoadClient::connect(channel.connector())
        .await
        .expect("the load's connection");
    let spec = LoadSpec {
        rpc_timeout,
        ..LoadSpec::unary(in_flight, rpcs)
    };
    let outcome =
        tokio::time::timeout(Duration::from_secs(20), client.run(&Timeline::new(), &spec))
            .await
            .expect("the load ends");
    (outcome, seen.load(Ordering::SeqCst))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_streams_are_sent_again_and_counted() {
    let (outcome, seen) = load(
        |n| {
            if n % 3 == 0 {
                Treat::Refuse
            } else {
                Treat::Answer { size: 32 }
            }
        },
        8,
        300,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(
        (outcome.succeeded, outcome.failed),
        (300, 0),
        "{:?}",
        outcome.first_failure
    );
    assert!(outcome.refused >= 100, "{}", outcome.refused);
    assert_eq!(seen as u64, outcome.succeeded + outcome.refused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_never_answered_is_cut_off_and_the_others_go_on() {
    let (outcome, _) = load(
        |n| {
            if n == 5 {
                Treat::Ignore
            } else {
                Treat::Answer { size: 32 }
            }
        },
        4,
        200,
        Duration::from_millis(300),
    )
    .await;
    assert_eq!((outcome.succeeded, outcome.failed), (199, 1));
    let failure = outcome.first_failure.unwrap_or_default();
    assert!(failure.contains("no answer within 300 ms"), "{failure}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_goaway_ends_the_load_with_the_servers_reason() {
    let (outcome, _) = load(
        |n| {
            if n == 10 {
                Treat::GoAway
            } else {
                Treat::Answer { size: 32 }
            }
        },
        4,
        1_000,
        Duration::from_secs(5),
    )
    .await;
    assert!(outcome.succeeded >= 10 && outcome.failed > 0, "{outcome:?}");
    assert!(outcome.issued() < 1_000, "{outcome:?}");
    let failure = outcome.first_failure.unwrap_or_default();
    assert!(failure.contains("GOAWAY"), "{failure}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_answer_is_named() {
    let (outcome, _) = load(
        |_| Treat::Answer { size: 31 },
        2,
        20,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!((outcome.succeeded, outcome.failed), (0, 20));
    let failure = outcome.first_failure.unwrap_or_default();
    assert!(
        failure.contains("carried 31 bytes instead of 32"),
        "{failure}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_admits_no_stream_cannot_hold_the_load_past_its_time() {
    let mut settings = h2::server::Builder::new();
    settings.max_concurrent_streams(0);
    let (uri, seen) = h2_server_with(settings, |_, mut respond, _| {
        grpc_answer(&mut respond, simple_response(32));
    })
    .await;
    let dial = Dial {
        uri,
        tls: None,
        client_defects: Vec::new(),
    };
    let channel = dial.channel(&ChannelOptions::default()).expect("a channel");
    let client = LoadClient::connect(channel.connector())
        .await
        .expect("the load's connection");
    let spec = LoadSpec {
        max_duration: Duration::from_millis(300),
        ..LoadSpec::unary(4, 1_000)
    };
    let outcome = tokio::time::timeout(Duration::from_secs(5), client.run(&Timeline::new(), &spec))
        .await
        .expect("the load ends with its time");
    assert_eq!(outcome.issued(), 0, "{outcome:?}");
    assert_eq!(seen.load(Ordering::SeqCst), 0);
}
