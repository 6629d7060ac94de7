//! The standard interop cases that matter to the suite, against the
//! reference server's TestService.

use std::time::Duration;

use conformance::proto::grpc_testing::unimplemented_service_client::UnimplementedServiceClient;
use conformance::proto::grpc_testing::{
    EchoStatus, Empty, Payload, ResponseParameters, SimpleRequest, StreamingInputCallRequest,
    StreamingOutputCallRequest,
};
use conformance::proto::{ECHO_INITIAL, ECHO_TRAILING};
use tokio_stream::StreamExt;
use tonic::Code;
use tonic::metadata::{BinaryMetadataValue, MetadataValue};

use crate::support::Fixture;

fn payload(size: usize) -> Option<Payload> {
    Some(Payload {
        r#type: 0,
        body: vec![0; size],
    })
}

fn output_request(sizes: &[i32], interval_us: i32) -> StreamingOutputCallRequest {
    StreamingOutputCallRequest {
        response_parameters: sizes
            .iter()
            .map(|&size| ResponseParameters {
                size,
                interval_us,
                compressed: None,
            })
            .collect(),
        ..Default::default()
    }
}

#[tokio::test]
async fn empty_unary() {
    let fixture = Fixture::healthy().await;
    let response = fixture
        .test()
        .empty_call(Empty {})
        .await
        .expect("EmptyCall");
    assert_eq!(response.into_inner(), Empty {});
}

#[tokio::test]
async fn large_unary() {
    let fixture = Fixture::healthy().await;
    let response = fixture
        .test()
        .unary_call(SimpleRequest {
            response_size: 314_159,
            payload: payload(271_828),
            ..Default::default()
        })
        .await
        .expect("UnaryCall")
        .into_inner();
    assert_eq!(response.payload.expect("payload").body.len(), 314_159);
}

#[tokio::test]
async fn client_streaming() {
    let fixture = Fixture::healthy().await;
    let sizes = [27_182, 8, 1_828, 45_904];
    let requests = tokio_stream::iter(sizes.map(|size| StreamingInputCallRequest {
        payload: payload(size),
        expect_compressed: None,
    }));
    let response = fixture
        .test()
        .streaming_input_call(requests)
        .await
        .expect("StreamingInputCall")
        .into_inner();
    assert_eq!(response.aggregated_payload_size, 74_922);
}

#[tokio::test]
async fn server_streaming() {
    let fixture = Fixture::healthy().await;
    let sizes = [31_415, 9, 2_653, 58_979];
    let mut stream = fixture
        .test()
        .streaming_output_call(output_request(&sizes, 0))
        .await
        .expect("StreamingOutputCall")
        .into_inner();
    let mut got = Vec::new();
    while let Some(message) = stream.message().await.expect("stream message") {
        got.push(message.payload.expect("payload").body.len() as i32);
    }
    assert_eq!(got, sizes);
}

#[tokio::test]
async fn ping_pong() {
    let fixture = Fixture::healthy().await;
    let sizes = [31_415, 9, 2_653, 58_979];
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(output_request(&[sizes[0]], 0)).await.expect("send");
    let mut responses = fixture
        .test()
        .full_duplex_call(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("FullDuplexCall")
        .into_inner();
    for (index, size) in sizes.iter().enumerate() {
        if index > 0 {
            tx.send(output_request(&[*size], 0)).await.expect("send");
        }
        let reply = responses
            .message()
            .await
            .expect("reply")
            .expect("a reply per request");
        assert_eq!(reply.payload.expect("payload").body.len() as i32, *size);
    }
    drop(tx);
    assert!(responses.message().await.expect("clean end").is_none());
}

#[tokio::test]
async fn empty_stream() {
    let fixture = Fixture::healthy().await;
    let mut responses = fixture
        .test()
        .full_duplex_call(tokio_stream::empty())
        .await
        .expect("FullDuplexCall")
        .into_inner();
    assert!(responses.message().await.expect("clean end").is_none());
}

#[tokio::test]
async fn status_code_and_message() {
    let fixture = Fixture::healthy().await;
    let status = EchoStatus {
        code: 2,
        message: "test status message".into(),
    };
    let err = fixture
        .test()
        .unary_call(SimpleRequest {
            response_status: Some(status.clone()),
            ..Default::default()
        })
        .await
        .expect_err("the requested status");
    assert_eq!(err.code(), Code::Unknown);
    assert_eq!(err.message(), "test status message");

    let mut request = output_request(&[1], 0);
    request.response_status = Some(status);
    let mut responses = fixture
        .test()
        .full_duplex_call(tokio_stream::iter([request]))
        .await
        .expect("FullDuplexCall")
        .into_inner();
    assert!(responses.message().await.expect("first response").is_some());
    let err = responses.message().await.expect_err("the requested status");
    assert_eq!(err.code(), Code::Unknown);
    assert_eq!(err.message(), "test status message");
}

#[tokio::test]
async fn custom_metadata() {
    let fixture = Fixture::healthy().await;
    let initial = MetadataValue::from_static("test_initial_metadata_value");
    let trailing = BinaryMetadataValue::from_bytes(&[0xab, 0xab, 0xab]);

    let mut request = tonic::Request::new(SimpleRequest {
        response_size: 314_159,
        payload: payload(271_828),
        ..Default::default()
    });
    request.metadata_mut().insert(ECHO_INITIAL, initial.clone());
    request
        .metadata_mut()
        .insert_bin(ECHO_TRAILING, trailing.clone());
    // tonic folds unary trailers into the response metadata.
    let response = fixture.test().unary_call(request).await.expect("UnaryCall");
    assert_eq!(response.metadata().get(ECHO_INITIAL), Some(&initial));
    assert_eq!(response.metadata().get_bin(ECHO_TRAILING), Some(&trailing));

    let mut request = tonic::Request::new(tokio_stream::iter([output_request(&[314_159], 0)]));
    request.metadata_mut().insert(ECHO_INITIAL, initial.clone());
    request
        .metadata_mut()
        .insert_bin(ECHO_TRAILING, trailing.clone());
    let response = fixture
        .test()
        .full_duplex_call(request)
        .await
        .expect("FullDuplexCall");
    assert_eq!(response.metadata().get(ECHO_INITIAL), Some(&initial));
    let mut responses = response.into_inner();
    while responses.message().await.expect("response").is_some() {}
    let trailers = responses
        .trailers()
        .await
        .expect("trailers")
        .expect("some trailers");
    assert_eq!(trailers.get_bin(ECHO_TRAILING), Some(&trailing));
}

#[tokio::test]
async fn unimplemented_method() {
    let fixture = Fixture::healthy().await;
    let err = fixture
        .test()
        .unimplemented_call(Empty {})
        .await
        .expect_err("UNIMPLEMENTED");
    assert_eq!(err.code(), Code::Unimplemented);
}

#[tokio::test]
async fn unimplemented_service() {
    let fixture = Fixture::healthy().await;
    let err = UnimplementedServiceClient::new(fixture.channel.clone())
        .unimplemented_call(Empty {})
        .await
        .expect_err("UNIMPLEMENTED");
    assert_eq!(err.code(), Code::Unimplemented);
}

#[tokio::test]
async fn timeout_on_sleeping_server() {
    let fixture = Fixture::healthy().await;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let mut request = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    request.set_timeout(Duration::from_millis(1));
    tx.send(StreamingOutputCallRequest {
        payload: payload(27_182),
        ..Default::default()
    })
    .await
    .expect("send");
    let outcome = async {
        let mut responses = fixture.test().full_duplex_call(request).await?.into_inner();
        responses.message().await
    }
    .await;
    let err = outcome.expect_err("DEADLINE_EXCEEDED");
    assert!(
        matches!(err.code(), Code::DeadlineExceeded | Code::Cancelled),
        "unexpected {err:?}"
    );
    drop(tx);
}

#[tokio::test]
async fn half_duplex_buffers_until_half_close() {
    let fixture = Fixture::healthy().await;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    for size in [10, 20, 30] {
        tx.send(output_request(&[size], 0)).await.expect("send");
    }
    let mut responses = fixture
        .test()
        .half_duplex_call(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("HalfDuplexCall")
        .into_inner();
    let early = tokio::time::timeout(Duration::from_millis(200), responses.message()).await;
    assert!(
        early.is_err(),
        "a reply came before the half-close: {early:?}"
    );
    drop(tx);
    let sizes: Vec<usize> = responses
        .map(|reply| reply.expect("reply").payload.expect("payload").body.len())
        .collect()
        .await;
    assert_eq!(sizes, [10, 20, 30]);
}

#[tokio::test]
async fn streaming_output_waits_interval() {
    let fixture = Fixture::healthy().await;
    let started = std::time::Instant::now();
    let mut stream = fixture
        .test()
        .streaming_output_call(output_request(&[1, 1, 1], 50_000))
        .await
        .expect("StreamingOutputCall")
        .into_inner();
    let mut count = 0;
    while stream.message().await.expect("message").is_some() {
        count += 1;
    }
    assert_eq!(count, 3);
    assert!(started.elapsed() >= Duration::from_millis(150));
}
