//! `echo-metadata`: per-request state stays per request. Many concurrent
//! RPCs on one channel each carry their own metadata, and each reply must
//! echo exactly its own (no leak between concurrent handlers).

mod echo;

use self::echo::{Echo, presence};
use crate::drivers::prelude::*;

pub struct EchoMetadata;

#[derive(Debug, Deserialize, Serialize)]
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

impl Driver for EchoMetadata {
    const NAME: &'static str = "echo-metadata";
    const DOC: &'static str = include_str!("echo_metadata.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let channel = ctx.channel()?;
        let limit = Duration::from_millis(params.timeout_ms);
        let total = params.unary + params.duplex;
        let (mut sent, mut calls) = (Vec::with_capacity(total), Vec::with_capacity(total));
        for index in 0..total {
            let initial = ctx.unique(&format!("echo-{index}"));
            let trailing = [&[0x00, 0xff], initial.as_bytes()].concat();
            let mine = Echo {
                initial: Some(initial),
                trailing: Some(trailing),
            };
            let mut test = test_client(channel.handle());
            calls.push(if index < params.unary {
                let request = mine.request(unary_request(16, 0))?;
                ctx.spawn_within(format!("UnaryCall #{index}"), limit, async move {
                    // tonic folds the trailers into the response metadata.
                    let response = test.unary_call(request).await?;
                    Ok::<_, tonic::Status>(Echo::of(
                        Some(response.metadata()),
                        Some(response.metadata()),
                    ))
                })
            } else {
                let message = output_request(&[16], Duration::ZERO);
                let request = mine.request(tokio_stream::iter(vec![message]))?;
                ctx.spawn_within(format!("FullDuplexCall #{index}"), limit, async move {
                    let response = test.full_duplex_call(request).await?;
                    let headers = response.metadata().clone();
                    let mut replies = response.into_inner();
                    while replies.message().await?.is_some() {}
                    let trailers = replies.trailers().await?;
                    Ok::<_, tonic::Status>(Echo::of(Some(&headers), trailers.as_ref()))
                })
            });
            sent.push(mine);
        }

        let owner = |found: Option<usize>| {
            found.map_or("no request".to_owned(), |other| format!("RPC #{other}"))
        };
        let (mut matched, mut missing, mut foreign, mut failed) =
            (0usize, Vec::new(), Vec::new(), Vec::new());
        for (index, outcome) in join_all(calls).await.into_iter().enumerate() {
            match outcome {
                Ok(echoed) if echoed == sent[index] => matched += 1,
                Ok(echoed) if echoed.initial.is_none() || echoed.trailing.is_none() => missing
                    .push(format!(
                        "RPC #{index}: initial echo {}, trailing echo {}",
                        presence(&echoed.initial),
                        presence(&echoed.trailing)
                    )),
                Ok(echoed) => foreign.push(format!(
                    "RPC #{index} got the initial echo of {} and the trailing echo of {}",
                    owner(sent.iter().position(|mine| mine.initial == echoed.initial)),
                    owner(
                        sent.iter()
                            .position(|mine| mine.trailing == echoed.trailing)
                    )
                )),
                Err(err) => failed.push(format!("RPC #{index}: {err}")),
            }
        }

        let first = foreign.first().or(missing.first()).or(failed.first());
        let mut finding = match first {
            Some(first) => Finding::fail(format!(
                "of {total} concurrent RPCs, {} got another request's metadata echoed, {} lacked an echo, {} failed (first: {first})",
                foreign.len(),
                missing.len(),
                failed.len()
            )),
            None => Finding::pass().evidence(format!(
                "all {total} concurrent RPCs ({} UnaryCall, {} FullDuplexCall) got exactly their own initial and trailing metadata echoed",
                params.unary, params.duplex
            )),
        };
        for line in [&foreign, &missing, &failed]
            .into_iter()
            .flat_map(|lines| lines.iter().take(5))
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
