//! Capability discovery: which services and behaviours a target implements,
//! and the stream limit it advertises, learned before any scenario runs.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use conformance::proto::grpc_testing::Empty;
use conformance::proto::probe::{InfoRequest, InfoResponse};
use tokio_stream::StreamExt;

use crate::client::{ChannelOptions, Dial};
use crate::drivers::{brief, output_request, probe_client, test_client};
use crate::scenario::Capability;

/// What discovery found.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    pub capabilities: BTreeSet<Capability>,
    pub info: Option<InfoResponse>,
    pub advertised_max_streams: Option<u32>,
    /// Connected, but no answer within the discovery limit.
    pub unresponsive: bool,
}

const CALL_LIMIT: Duration = Duration::from_secs(5);

/// Why a target cannot be used.
#[derive(Debug)]
pub enum Failure {
    /// Nothing useful answers there.
    Unreachable(String),
    /// Something answers, but not gRPC over HTTP/2 as dialled, or without
    /// TestService.
    NotGrpc(String),
}

/// Probes the target. Fails (with a reason) if it cannot be connected to or
/// answers without TestService. A target that accepts connections but does
/// not answer in time is not refused here: its scenarios then run into their
/// own budgets, which is the evidence a hung server deserves.
pub async fn discover(dial: &Dial) -> Result<Discovery, Failure> {
    let channel = dial
        .channel(&ChannelOptions::default())
        .map_err(|err| Failure::Unreachable(err.to_string()))?;
    let mut test = test_client(channel.handle());
    match tokio::time::timeout(CALL_LIMIT, test.empty_call(Empty {})).await {
        Err(_) => {
            tracing::warn!(
                "the target accepted a connection but did not answer TestService.EmptyCall within {} s; running anyway",
                CALL_LIMIT.as_secs()
            );
            return Ok(Discovery {
                unresponsive: true,
                ..Discovery::default()
            });
        }
        Ok(Err(status)) if status.code() == tonic::Code::Unimplemented => {
            return Err(Failure::NotGrpc(
                "it answers gRPC but does not implement grpc.testing.TestService".into(),
            ));
        }
        Ok(Err(status)) => {
            let found = what_answered(&dial.uri).await;
            return Err(match found {
                Some(found) => Failure::NotGrpc(format!(
                    "{found} (TestService.EmptyCall failed: {})",
                    brief(&status)
                )),
                None => Failure::Unreachable(format!(
                    "TestService.EmptyCall failed: {}",
                    brief(&status)
                )),
            });
        }
        Ok(Ok(_)) => {}
    }
    let mut found = Discovery::default();

    let mut probe = probe_client(channel.handle());
    if let Ok(Ok(info)) = tokio::time::timeout(CALL_LIMIT, probe.info(InfoRequest {})).await {
        let info = info.into_inner();
        found.capabilities.insert(Capability::Probe);
        if info.unsafe_holds_enabled {
            found.capabilities.insert(Capability::UnsafeHolds);
        }
        found.info = Some(info);
    }

    let half_duplex = async {
        let requests = tokio_stream::iter([output_request(&[1], Duration::ZERO)]);
        let replies = test.half_duplex_call(requests).await?.into_inner();
        let replies: Vec<_> = replies.collect().await;
        Ok::<_, tonic::Status>(replies.len() == 1 && replies.iter().all(Result::is_ok))
    };
    if let Ok(Ok(true)) = tokio::time::timeout(CALL_LIMIT, half_duplex).await {
        found.capabilities.insert(Capability::HalfDuplex);
    }

    if dial.tls.is_none() {
        found.advertised_max_streams = advertised_max_streams(&dial.uri).await;
    }
    Ok(found)
}

/// For a target whose first call failed: what answers there instead of
/// gRPC over HTTP/2 as dialled, if something does.
async fn what_answered(uri: &str) -> Option<String> {
    if let Some(authority) = uri.strip_prefix("http://") {
        return super::sniff::plaintext_peer(authority.trim_end_matches('/')).await;
    }
    let authority = uri.strip_prefix("https://")?.trim_end_matches('/');
    if super::sniff::speaks_plaintext_http2(authority).await {
        return Some("it speaks plaintext HTTP/2, not TLS: dial it with http://".to_owned());
    }
    None
}

/// Reads the server's SETTINGS_MAX_CONCURRENT_STREAMS over a raw HTTP/2
/// connection (tonic does not expose the peer's settings).
async fn advertised_max_streams(uri: &str) -> Option<u32> {
    let authority = uri.strip_prefix("http://")?.trim_end_matches('/');
    let attempt = async {
        let tcp = tokio::net::TcpStream::connect(authority).await.ok()?;
        let (client, mut connection) = h2::client::handshake(tcp).await.ok()?;
        let request = conformance::proto::grpc_post(format!(
            "http://{authority}{}",
            conformance::proto::EMPTY_CALL_PATH
        ))
        .body(())
        .ok()?;
        let exchange = async {
            let mut client = client.ready().await.ok()?;
            let (response, mut body) = client.send_request(request, false).ok()?;
            body.send_data(
                Bytes::from_static(&conformance::proto::EMPTY_MESSAGE_FRAME),
                true,
            )
            .ok()?;
            response.await.ok()
        };
        // Drive the connection until the answer arrives: by then the
        // server's SETTINGS have been received.
        tokio::select! {
            answered = exchange => answered?,
            _ = &mut connection => return None,
        };
        // h2 applies the peer's SETTINGS when it sends their ACK, which
        // may come after the answer was read: drive the connection a
        // moment longer before reading the limit.
        let _ = tokio::time::timeout(Duration::from_millis(50), &mut connection).await;
        let limit = connection.max_concurrent_send_streams();
        u32::try_from(limit).ok()
    };
    tokio::time::timeout(CALL_LIMIT, attempt)
        .await
        .ok()
        .flatten()
}
