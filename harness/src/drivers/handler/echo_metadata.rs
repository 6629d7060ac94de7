//! `echo-metadata`: per-request state stays per request. Many concurrent
//! RPCs on one channel each carry their own metadata, and each reply must
//! echo exactly its own (no leak between concurrent handlers).

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tonic::metadata::{AsciiMetadataValue, BinaryMetadataValue, MetadataMap};

use crate::drivers::{
    Ctx, Driver, DriverError, DriverResult, output_request, test_client, unary_request,
};
use crate::verdict::Finding;

pub struct EchoMetadata;

use conformance::proto::{ECHO_INITIAL, ECHO_TRAILING};

#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Concurrent UnaryCalls.
    pub unary: usize,
    /// Concurrent FullDuplexCalls.
    pub duplex: usize,
    /// How long each RPC may take.
    pub timeout_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            unary: 200,
            duplex: 50,
            timeout_ms: 10_000,
        }
    }
}

/// What one RPC sent and got back.
struct Echoed {
    initial: Option<String>,
    trailing: Option<Vec<u8>>,
}

fn initial_of(metadata: &MetadataMap) -> Option<String> {
    metadata
        .get(ECHO_INITIAL)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

fn trailing_of(metadata: &MetadataMap) -> Option<Vec<u8>> {
    metadata
        .get_bin(ECHO_TRAILING)
        .and_then(|value| value.to_bytes().ok())
        .map(|bytes| bytes.to_vec())
}

impl Driver for EchoMetadata {
    const NAME: &'static str = "echo-metadata";
    const DOC: &'static str = include_str!("echo_metadata.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let channel = ctx.channel()?;
        let limit = Duration::from_millis(params.timeout_ms);
        let total = params.unary + params.duplex;
        let mut sent = Vec::with_capacity(total);
        let mut calls = Vec::with_capacity(total);
        for index in 0..total {
            let unary = index < params.unary;
            let initial = ctx.unique(&format!("echo-{index}"));
            let mut trailing = vec![0x00, 0xff];
            trailing.extend_from_slice(initial.as_bytes());
            let initial_value: AsciiMetadataValue = initial.parse().map_err(|_| {
                DriverError::harness(format!("{initial:?} is not a valid metadata value"))
            })?;
            let trailing_value = BinaryMetadataValue::from_bytes(&trailing);
            sent.push((initial, trailing));
            let mut test = test_client(channel.handle());
            let label = format!(
                "{} #{index}",
                if unary { "UnaryCall" } else { "FullDuplexCall" }
            );
            calls.push(ctx.spawn_within(label, limit, async move {
                let echoed = if unary {
                    let mut request = tonic::Request::new(unary_request(16, 0));
                    request.metadata_mut().insert(ECHO_INITIAL, initial_value);
                    request
                        .metadata_mut()
                        .insert_bin(ECHO_TRAILING, trailing_value);
                    let response = test.unary_call(request).await?;
                    Echoed {
                        initial: initial_of(response.metadata()),
                        trailing: trailing_of(response.metadata()),
                    }
                } else {
                    let mut request =
                        tonic::Request::new(tokio_stream::iter(vec![output_request(
                            &[16],
                            Duration::ZERO,
                        )]));
                    request.metadata_mut().insert(ECHO_INITIAL, initial_value);
                    request
                        .metadata_mut()
                        .insert_bin(ECHO_TRAILING, trailing_value);
                    let response = test.full_duplex_call(request).await?;
                    let initial = initial_of(response.metadata());
                    let mut replies = response.into_inner();
                    while replies.message().await?.is_some() {}
                    let trailers = replies.trailers().await?;
                    Echoed {
                        initial,
                        trailing: trailers.as_ref().and_then(trailing_of),
                    }
                };
                Ok::<_, tonic::Status>(tonic::Response::new(echoed))
            }));
        }

        let mut matched = 0usize;
        let mut missing = Vec::new();
        let mut foreign = Vec::new();
        let mut failed = Vec::new();
        for (index, call) in calls.into_iter().enumerate() {
            let (initial, trailing) = &sent[index];
            match call.join().await {
                Ok(response) => {
                    let echoed = response.into_inner();
                    let initial_ok = echoed.initial.as_deref() == Some(initial.as_str());
                    let trailing_ok = echoed.trailing.as_deref() == Some(trailing.as_slice());
                    if initial_ok && trailing_ok {
                        matched += 1;
                    } else if echoed.initial.is_none() || echoed.trailing.is_none() {
                        missing.push(format!(
                            "RPC #{index}: initial echo {}, trailing echo {}",
                            if echoed.initial.is_some() {
                                "present"
                            } else {
                                "missing"
                            },
                            if echoed.trailing.is_some() {
                                "present"
                            } else {
                                "missing"
                            }
                        ));
                    } else {
                        let owner = |value: &str| {
                            sent.iter()
                                .position(|(mine, _)| mine == value)
                                .map_or("no request".to_owned(), |other| format!("RPC #{other}"))
                        };
                        let got_initial = echoed.initial.unwrap_or_default();
                        let trailing_owner = echoed
                            .trailing
                            .as_deref()
                            .and_then(|bytes| {
                                sent.iter().position(|(_, mine)| mine.as_slice() == bytes)
                            })
                            .map_or("no request".to_owned(), |other| format!("RPC #{other}"));
                        foreign.push(format!(
                            "RPC #{index} got the initial echo of {} and the trailing echo of {trailing_owner}",
                            owner(&got_initial)
                        ));
                    }
                }
                Err(err) => failed.push(format!("RPC #{index}: {err}")),
            }
        }

        let mut finding = if !foreign.is_empty() || !missing.is_empty() || !failed.is_empty() {
            Finding::fail(format!(
                "of {total} concurrent RPCs, {} got another request's metadata echoed, {} lacked an echo, {} failed{}",
                foreign.len(),
                missing.len(),
                failed.len(),
                foreign
                    .first()
                    .or(missing.first())
                    .or(failed.first())
                    .map(|first| format!(" (first: {first})"))
                    .unwrap_or_default()
            ))
        } else {
            Finding::pass().evidence(format!(
                "all {total} concurrent RPCs ({} UnaryCall, {} FullDuplexCall) got exactly their own initial and trailing metadata echoed",
                params.unary, params.duplex
            ))
        };
        for line in foreign
            .iter()
            .take(5)
            .chain(missing.iter().take(5))
            .chain(failed.iter().take(5))
        {
            finding = finding.evidence(line.clone());
        }
        Ok(finding
            .figure("matched", matched as f64)
            .figure("foreign", foreign.len() as f64)
            .figure("missing", missing.len() as f64)
            .figure("failed", failed.len() as f64)
            .figure("client_connections", channel.connections_opened() as f64))
    }
}
