//! Capability discovery: which services and behaviours a target implements,
//! and the stream limit it advertises, learned before any scenario runs.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use conformance::proto::grpc_testing::Empty;
use conformance::proto::probe::{InfoRequest, InfoResponse};
use tokio_stream::StreamExt;

use conformance::proto::health::HealthCheckRequest;

use super::sniff::Sniffed;
use crate::client::{ChannelOptions, Dial, tls};
use crate::drivers::{brief, health_client, output_request, probe_client, test_client};
use crate::scenario::Capability;

/// What discovery found.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    pub capabilities: BTreeSet<Capability>,
    pub info: Option<InfoResponse>,
    pub advertised_max_streams: Option<u32>,
    /// Connected, but no answer within the discovery limit.
    pub unresponsive: bool,
    /// The services server reflection lists (None: no reflection).
    pub services: Option<Vec<String>>,
}

const CALL_LIMIT: Duration = Duration::from_secs(5);
/// Why an https:// target that answers plaintext HTTP/2 cannot be used.
const PLAINTEXT_NOT_TLS: &str = "it speaks plaintext HTTP/2, not TLS: dial it with http://";

/// Why a target cannot be used: each a different mistake, with different
/// advice (see [`super::TargetError`]).
#[derive(Debug)]
pub enum Failure {
    /// Nothing accepts connections there.
    Unreachable(String),
    /// Something answers, but not with HTTP/2 (HTTP/1.x, silence, noise).
    NotHttp2(String),
    /// HTTP/2 answers, but not as a gRPC server.
    NotGrpc(String),
    /// Plaintext dialled to a TLS server, or TLS to a plaintext one.
    TlsMismatch(String),
    /// The TLS handshake failed (certificate, name, client certificate).
    Tls(String),
    /// A gRPC server with neither TestService nor Health; the services
    /// server reflection lists, if it answers.
    NoServices(Option<Vec<String>>),
}

/// Probes the target. Fails (with a reason) if it cannot be connected to or
/// answers with neither TestService nor Health. A target that accepts
/// connections but does not answer in time is not refused here: its
/// scenarios then run into their own budgets, which is the evidence a hung
/// server deserves.
pub async fn discover(dial: &Dial) -> Result<Discovery, Failure> {
    let channel = dial
        .channel(&ChannelOptions::default())
        .map_err(|err| Failure::Unreachable(err.to_string()))?;
    let mut test = test_client(channel.handle());
    let test_service = match tokio::time::timeout(CALL_LIMIT, test.empty_call(Empty {})).await {
        Err(_) => {
            // The first call can hang on a peer that is not HTTP/2 at all
            // (the HTTP/2 client may miss the connection's end while a
            // request body is pending): ask the peer directly before
            // assuming a hung gRPC server.
            if let Some(failure) = not_http2_peer(dial).await {
                return Err(failure);
            }
            tracing::warn!(
                "the target accepted a connection but did not answer TestService.EmptyCall within {} s; running anyway",
                CALL_LIMIT.as_secs()
            );
            // Assumed, so that the scenarios run and show the hang.
            return Ok(Discovery {
                unresponsive: true,
                capabilities: BTreeSet::from([Capability::TestService]),
                ..Discovery::default()
            });
        }
        Ok(Ok(_)) => true,
        Ok(Err(status)) if status.code() == tonic::Code::Unimplemented => false,
        Ok(Err(status)) => return Err(classify(dial, &status).await),
    };
    let mut found = Discovery {
        services: reflected_services(&channel).await,
        ..Discovery::default()
    };
    if has_health(&channel).await {
        found.capabilities.insert(Capability::Health);
    }
    if !test_service && !found.capabilities.contains(&Capability::Health) {
        return Err(Failure::NoServices(found.services));
    }
    if dial.tls.is_none() {
        found.advertised_max_streams = advertised_max_streams(&dial.uri).await;
    }
    if !test_service {
        return Ok(found);
    }
    found.capabilities.insert(Capability::TestService);

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
    Ok(found)
}

/// Whether grpc.health.v1.Health answers: Check("") with any status but
/// UNIMPLEMENTED (NOT_FOUND means the service is there but the server's
/// overall status is not registered, as grpcio's servicer does).
async fn has_health(channel: &crate::client::ClientChannel) -> bool {
    let mut health = health_client(channel.handle());
    let check = health.check(HealthCheckRequest {
        service: String::new(),
    });
    match tokio::time::timeout(CALL_LIMIT, check).await {
        Ok(Ok(_)) => true,
        Ok(Err(status)) => status.code() == tonic::Code::NotFound,
        Err(_) => false,
    }
}

/// The services server reflection (grpc.reflection.v1) lists, if the
/// target answers it within a moment.
async fn reflected_services(channel: &crate::client::ClientChannel) -> Option<Vec<String>> {
    use conformance::proto::reflection::ServerReflectionRequest;
    use conformance::proto::reflection::server_reflection_client::ServerReflectionClient;
    use conformance::proto::reflection::server_reflection_request::MessageRequest;
    use conformance::proto::reflection::server_reflection_response::MessageResponse;
    let mut client = ServerReflectionClient::new(channel.handle());
    let ask = async {
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut answers = client
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .ok()?
            .into_inner();
        match answers.message().await.ok()??.message_response? {
            MessageResponse::ListServicesResponse(list) => Some(
                list.service
                    .into_iter()
                    .map(|service| service.name)
                    .collect(),
            ),
            MessageResponse::ErrorResponse(_) => None,
        }
    };
    tokio::time::timeout(Duration::from_secs(2), ask)
        .await
        .ok()
        .flatten()
}

/// For a target whose first call failed: which mistake it is, from what
/// answers there.
async fn classify(dial: &Dial, status: &tonic::Status) -> Failure {
    let failed = format!("TestService.EmptyCall failed: {}", brief(status));
    let Some((tls, authority)) = authority(&dial.uri) else {
        return Failure::Unreachable(failed);
    };
    let connect = tokio::time::timeout(CALL_LIMIT, tokio::net::TcpStream::connect(authority));
    match connect.await {
        Err(_) => {
            return Failure::Unreachable(format!(
                "no TCP connection to {authority} within {} s",
                CALL_LIMIT.as_secs()
            ));
        }
        Ok(Err(err)) => {
            return Failure::Unreachable(format!("cannot connect to {authority}: {err}"));
        }
        Ok(Ok(_)) => {}
    }
    if tls {
        if super::sniff::speaks_plaintext_http2(authority).await {
            return Failure::TlsMismatch(PLAINTEXT_NOT_TLS.to_owned());
        }
        if let Some(tls) = &dial.tls {
            if let Some(explained) = tls.diagnose(authority).await {
                return Failure::Tls(explained);
            }
            if let Some(explained) = tls::explain(status, &tls.server_name()) {
                return Failure::Tls(explained);
            }
        }
        return Failure::NotGrpc(failed);
    }
    match super::sniff::plaintext_peer(authority).await {
        Some(Sniffed::Tls(reason)) => Failure::TlsMismatch(reason),
        Some(Sniffed::NotHttp2(reason)) => Failure::NotHttp2(format!("{reason} ({failed})")),
        None => Failure::NotGrpc(failed),
    }
}

/// What a peer that gave no answer in time is, if a raw connection shows
/// it is not the HTTP/2 server the URI names (None: it may be a hung gRPC
/// server, whose scenarios then show the hang).
async fn not_http2_peer(dial: &Dial) -> Option<Failure> {
    let (tls, authority) = authority(&dial.uri)?;
    if tls {
        return super::sniff::speaks_plaintext_http2(authority)
            .await
            .then(|| Failure::TlsMismatch(PLAINTEXT_NOT_TLS.to_owned()));
    }
    match super::sniff::plaintext_peer(authority).await? {
        Sniffed::Tls(reason) => Some(Failure::TlsMismatch(reason)),
        Sniffed::NotHttp2(reason) => Some(Failure::NotHttp2(format!(
            "{reason} (TestService.EmptyCall got no answer within {} s)",
            CALL_LIMIT.as_secs()
        ))),
    }
}

/// Whether the URI is https://, and its host:port.
fn authority(uri: &str) -> Option<(bool, &str)> {
    if let Some(authority) = uri.strip_prefix("http://") {
        return Some((false, authority.trim_end_matches('/')));
    }
    let authority = uri.strip_prefix("https://")?;
    Some((true, authority.trim_end_matches('/')))
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
