//! The harness's client at a server's stream limit: a stream the server
//! refuses (RST_STREAM REFUSED_STREAM) is retried, as gRPC clients do, and
//! counted; any other reset is not retried.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use conformance::proto::grpc_testing::Empty;
use harness::client::{ChannelOptions, Dial};
use harness::drivers::test_client;

/// An HTTP/2 server that resets its first `refuse` streams with `reason`
/// and answers every later one as TestService.EmptyCall does. Returns its
/// address and the number of streams it saw.
async fn refusing_server(refuse: usize, reason: h2::Reason) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let address = listener.local_addr().expect("its address");
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    tokio::spawn(async move {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let Ok(mut connection) = h2::server::handshake(tcp).await else {
            return;
        };
        while let Some(Ok((_request, mut respond))) = connection.accept().await {
            if counter.fetch_add(1, Ordering::SeqCst) < refuse {
                respond.send_reset(reason);
                continue;
            }
            let response = http::Response::builder()
                .header("content-type", "application/grpc")
                .body(())
                .expect("a response head");
            let Ok(mut body) = respond.send_response(response, false) else {
                continue;
            };
            let _ = body.send_data(
                Bytes::from_static(&conformance::proto::EMPTY_MESSAGE_FRAME),
                false,
            );
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
            let _ = body.send_trailers(trailers);
        }
    });
    (format!("http://{address}"), seen)
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
