//! The contract's TestService checks: what every interop server implements.

use std::time::{Duration, Instant};

use conformance::proto::grpc_testing::{
    EchoStatus, Empty, SimpleRequest, StreamingInputCallRequest,
};
use tonic::metadata::{BinaryMetadataValue, MetadataValue};

use super::{Check, CheckFuture, expect, expect_code, status};
use crate::client::Channel;
use crate::drivers::{output_request, payload, test_client, unary_request};
use crate::scenario::Capability;

pub fn checks() -> Vec<Check> {
    fn check(name: &'static str, run: fn(Channel, String) -> CheckFuture) -> Check {
        Check {
            name,
            needs: None,
            run,
        }
    }
    vec![
        check("EmptyCall answers Empty", |c, _| Box::pin(empty_call(c))),
        check("UnaryCall answers response_size bytes", |c, _| {
            Box::pin(unary_size(c))
        }),
        check(
            "UnaryCall ends with the response_status asked for",
            |c, _| Box::pin(unary_status(c)),
        ),
        check(
            "UnaryCall echoes initial and trailing-bin metadata",
            |c, _| Box::pin(unary_echo(c)),
        ),
        check(
            "StreamingOutputCall paces its responses by interval_us",
            |c, _| Box::pin(streaming_output(c)),
        ),
        check("StreamingInputCall sums the payload sizes", |c, _| {
            Box::pin(streaming_input(c))
        }),
        check(
            "FullDuplexCall answers each request before the next",
            |c, _| Box::pin(full_duplex(c)),
        ),
        check("UnimplementedCall ends with UNIMPLEMENTED", |c, _| {
            Box::pin(unimplemented(c))
        }),
        Check {
            name: "HalfDuplexCall answers only after the half-close",
            needs: Some(Capability::HalfDuplex),
            run: |c, _| Box::pin(half_duplex(c)),
        },
    ]
}

async fn empty_call(channel: Channel) -> Result<(), String> {
    test_client(channel)
        .empty_call(Empty {})
        .await
        .map(|_| ())
        .map_err(status("EmptyCall"))
}

async fn unary_size(channel: Channel) -> Result<(), String> {
    let reply = test_client(channel)
        .unary_call(unary_request(1000, 10))
        .await
        .map_err(status("UnaryCall"))?
        .into_inner();
    let body = reply.payload.map(|p| p.body).unwrap_or_default();
    expect(body.len() == 1000, || {
        format!("a payload of {} bytes, not 1000", body.len())
    })?;
    expect(body.iter().all(|&b| b == 0), || {
        "the payload is not zero bytes".to_owned()
    })
}

async fn unary_status(channel: Channel) -> Result<(), String> {
    let request = SimpleRequest {
        response_status: Some(EchoStatus {
            code: 3,
            message: "asked for code 3".to_owned(),
        }),
        ..unary_request(10, 0)
    };
    let outcome = test_client(channel).unary_call(request).await;
    let status = expect_code(outcome, tonic::Code::InvalidArgument, "UnaryCall")?;
    expect(status.message() == "asked for code 3", || {
        format!(
            "the message is {:?}, not the one asked for",
            status.message()
        )
    })
}

async fn unary_echo(channel: Channel) -> Result<(), String> {
    const INITIAL: &str = "initial-value-123";
    const TRAILING: &[u8] = b"\x0a\x0b\x0a\x0b";
    let mut request = tonic::Request::new(unary_request(10, 0));
    request.metadata_mut().insert(
        conformance::proto::ECHO_INITIAL,
        MetadataValue::from_static(INITIAL),
    );
    request.metadata_mut().insert_bin(
        conformance::proto::ECHO_TRAILING,
        BinaryMetadataValue::from_bytes(TRAILING),
    );
    // The trailing value comes back as a trailer, which tonic's unary
    // response merges into its metadata.
    let response = test_client(channel)
        .unary_call(request)
        .await
        .map_err(status("UnaryCall"))?;
    let initial = response.metadata().get(conformance::proto::ECHO_INITIAL);
    expect(
        initial.and_then(|v| v.to_str().ok()) == Some(INITIAL),
        || {
            format!(
                "{} came back as {initial:?}",
                conformance::proto::ECHO_INITIAL
            )
        },
    )?;
    let trailing = response
        .metadata()
        .get_bin(conformance::proto::ECHO_TRAILING)
        .and_then(|v| v.to_bytes().ok());
    expect(trailing.as_deref() == Some(TRAILING), || {
        format!(
            "{} came back as {trailing:?}",
            conformance::proto::ECHO_TRAILING
        )
    })
}

async fn streaming_output(channel: Channel) -> Result<(), String> {
    let interval = Duration::from_millis(30);
    let started = Instant::now();
    let mut stream = test_client(channel)
        .streaming_output_call(output_request(&[1, 2, 3], interval))
        .await
        .map_err(status("StreamingOutputCall"))?
        .into_inner();
    let mut sizes = Vec::new();
    while let Some(reply) = stream
        .message()
        .await
        .map_err(status("StreamingOutputCall"))?
    {
        sizes.push(reply.payload.map_or(0, |p| p.body.len()));
    }
    expect(sizes == [1, 2, 3], || {
        format!("response sizes {sizes:?}, not [1, 2, 3]")
    })?;
    // The drivers' proofs rest on the server waiting interval_us before
    // each response: three of them take at least three intervals.
    let took = started.elapsed();
    expect(took >= interval * 3, || {
        format!(
            "three responses 30 ms apart arrived in {} ms: interval_us is not honoured",
            took.as_millis()
        )
    })
}

async fn streaming_input(channel: Channel) -> Result<(), String> {
    let sizes = [3usize, 5, 7];
    let requests = sizes.map(|size| StreamingInputCallRequest {
        payload: payload(size, 1),
        expect_compressed: None,
    });
    let reply = test_client(channel)
        .streaming_input_call(tokio_stream::iter(requests))
        .await
        .map_err(status("StreamingInputCall"))?
        .into_inner();
    expect(reply.aggregated_payload_size == 15, || {
        format!(
            "aggregated_payload_size {}, not 15",
            reply.aggregated_payload_size
        )
    })
}

async fn full_duplex(channel: Channel) -> Result<(), String> {
    let (requests, outbound) = tokio::sync::mpsc::channel(1);
    // Queued before the call is awaited: some servers send their response
    // headers only with the first response (stream.call-before-first-message
    // is the scenario about that; the contract only needs the answers).
    let _ = requests.send(output_request(&[1], Duration::ZERO)).await;
    let mut replies = test_client(channel)
        .full_duplex_call(tokio_stream::wrappers::ReceiverStream::new(outbound))
        .await
        .map_err(status("FullDuplexCall"))?
        .into_inner();
    for size in 1..=4 {
        if size > 1 {
            requests
                .send(output_request(&[size], Duration::ZERO))
                .await
                .map_err(|_| "the request stream closed early".to_owned())?;
        }
        let reply = replies.message().await.map_err(status("FullDuplexCall"))?;
        let got = reply.map(|r| r.payload.map_or(0, |p| p.body.len()));
        expect(got == Some(size), || {
            format!("request {size} (sent before any later one) was answered with {got:?}")
        })?;
    }
    drop(requests);
    let end = replies.message().await.map_err(status("FullDuplexCall"))?;
    expect(end.is_none(), || {
        "an extra response after the half-close".to_owned()
    })
}

async fn unimplemented(channel: Channel) -> Result<(), String> {
    let outcome = test_client(channel).unimplemented_call(Empty {}).await;
    expect_code(outcome, tonic::Code::Unimplemented, "UnimplementedCall").map(|_| ())
}

async fn half_duplex(channel: Channel) -> Result<(), String> {
    let (requests, outbound) = tokio::sync::mpsc::channel(2);
    for size in [4, 8] {
        let _ = requests.send(output_request(&[size], Duration::ZERO)).await;
    }
    // The response headers may come only with the first response, after
    // the half-close: the call is awaited beside the wait for a response.
    let mut client = test_client(channel);
    let call = client.half_duplex_call(tokio_stream::wrappers::ReceiverStream::new(outbound));
    tokio::pin!(call);
    let early = tokio::time::timeout(Duration::from_millis(200), &mut call).await;
    let mut replies = match early {
        Ok(opened) => {
            let mut replies = opened.map_err(status("HalfDuplexCall"))?.into_inner();
            let early = tokio::time::timeout(Duration::from_millis(200), replies.message()).await;
            expect(early.is_err(), || {
                "a response arrived before the half-close".to_owned()
            })?;
            drop(requests);
            replies
        }
        Err(_) => {
            drop(requests);
            call.await.map_err(status("HalfDuplexCall"))?.into_inner()
        }
    };
    let mut sizes = Vec::new();
    while let Some(reply) = replies.message().await.map_err(status("HalfDuplexCall"))? {
        sizes.push(reply.payload.map_or(0, |p| p.body.len()));
    }
    expect(sizes == [4, 8], || {
        format!("response sizes {sizes:?}, not [4, 8]")
    })
}
