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
            let _ = body.send_data(Bytes::from_static(&[0, 0, 0, 0, 0]), false);
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
            let _ = body.send_trailers(trailers);
        }
    });
    (format!("http://{address}"), seen)
}

fn dial(uri: String) -> Dial {
    Dial {
        uri,
        tls: None,
        client_defects: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_stream_is_retried_and_counted() {
    // The channel's first call settles it with an EmptyCall of its own
    // (refused here, which settling tolerates); the call under test is then
    // refused once more and must succeed on its retry.
    let (uri, seen) = refusing_server(2, h2::Reason::REFUSED_STREAM).await;
    let channel = dial(uri)
        .channel(&ChannelOptions::default())
        .expect("a channel");
    let mut test = test_client(channel.handle());
    let answer = test.empty_call(Empty {}).await;
    assert!(answer.is_ok(), "the retried call failed: {answer:?}");
    assert_eq!(channel.refused_streams(), 1);
    assert_eq!(seen.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_reset_is_not_retried() {
    let (uri, seen) = refusing_server(2, h2::Reason::INTERNAL_ERROR).await;
    let channel = dial(uri)
        .channel(&ChannelOptions::default())
        .expect("a channel");
    let mut test = test_client(channel.handle());
    let answer = test.empty_call(Empty {}).await;
    assert!(answer.is_err(), "a reset call answered: {answer:?}");
    assert_eq!(channel.refused_streams(), 0);
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}
