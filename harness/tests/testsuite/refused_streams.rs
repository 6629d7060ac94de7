//! The harness's client at a server's stream limit: a stream the server
//! refuses (RST_STREAM REFUSED_STREAM) is retried, as gRPC clients do, and
//! counted; any other reset is not retried.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::support::{grpc_answer, h2_server};

use bytes::Bytes;
use conformance::proto::grpc_testing::Empty;
use harness::client::{ChannelOptions, Dial};
use harness::drivers::test_client;

/// An HTTP/2 server that resets its first `refuse` streams with `reason`
/// and answers every later one as TestService.EmptyCall does. Returns its
/// address and the number of streams it saw.
async fn refusing_server(refuse: usize, reason: h2::Reason) -> (String, Arc<AtomicUsize>) {
    h2_server(move |index, mut respond, _| {
        if index < refuse {
            respond.send_reset(reason);
        } else {
            grpc_answer(
                &mut respond,
                Bytes::from_static(&conformance::proto::EMPTY_MESSAGE_FRAME),
            );
        }
    })
    .await
}

/// One EmptyCall through a harness channel to a server that resets its
/// first two streams with `reason` (the channel's settling call, then the
/// call under test). Returns the answer, the refusals the channel counted
/// and the streams the server saw.
async fn empty_call_against(
    reason: h2::Reason,
) -> (Result<tonic::Response<Empty>, tonic::Status>, usize, usize) {
    let (uri, seen) = refusing_server(2, reason).await;
    let dial = Dial {
        uri,
        tls: None,
        client_defects: Vec::new(),
    };
    let channel = dial.channel(&ChannelOptions::default()).expect("a channel");
    let answer = test_client(channel.handle()).empty_call(Empty {}).await;
    (
        answer,
        channel.refused_streams(),
        seen.load(Ordering::SeqCst),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_stream_is_retried_and_counted() {
    // Settling tolerates its refusal; the call under test is refused once
    // and must succeed on its retry.
    let (answer, refused, seen) = empty_call_against(h2::Reason::REFUSED_STREAM).await;
    assert!(answer.is_ok(), "the retried call failed: {answer:?}");
    assert_eq!(refused, 1);
    assert_eq!(seen, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_reset_is_not_retried() {
    let (answer, refused, seen) = empty_call_against(h2::Reason::INTERNAL_ERROR).await;
    assert!(answer.is_err(), "a reset call answered: {answer:?}");
    assert_eq!(refused, 0);
    assert_eq!(seen, 2);
}
