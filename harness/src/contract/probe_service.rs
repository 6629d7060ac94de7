//! The contract's ProbeService checks (proto/conformance/v1/probe.proto):
//! what the handler and channel scenarios observe a server through.

use std::time::Duration;

use conformance::proto::probe::{
    GaugeRequest, HandlerState, HoldMode, InfoRequest, PipeRequest, RendezvousRequest,
};

use super::{Check, CheckFuture, expect, expect_code, status};
use crate::client::Channel;
use crate::drivers::{hold_request, observe, probe_client, wait_running};
use crate::scenario::Capability;
use conformance::proto::probe::probe_service_client::ProbeServiceClient;

pub fn checks() -> Vec<Check> {
    fn probe(name: &'static str, run: fn(Channel, String) -> CheckFuture) -> Check {
        Check {
            name,
            needs: Some(Capability::Probe),
            run,
        }
    }
    fn unsafe_hold(name: &'static str, run: fn(Channel, String) -> CheckFuture) -> Check {
        Check {
            name,
            needs: Some(Capability::UnsafeHolds),
            run,
        }
    }
    vec![
        probe("Info names the implementation", |c, _| Box::pin(info(c))),
        probe(
            "Rendezvous releases 4 parties that arrive together",
            |c, u| Box::pin(rendezvous(c, u)),
        ),
        probe("Rendezvous short of parties ends with ABORTED", |c, u| {
            Box::pin(rendezvous_short(c, u))
        }),
        probe("Hold SLEEP returns, Observe reports FINISHED", |c, u| {
            Box::pin(hold_finishes(c, u, HoldMode::Sleep))
        }),
        unsafe_hold(
            "Hold BLOCK_THREAD returns, Observe reports FINISHED",
            |c, u| Box::pin(hold_finishes(c, u, HoldMode::BlockThread)),
        ),
        unsafe_hold("Hold SPIN returns, Observe reports FINISHED", |c, u| {
            Box::pin(hold_finishes(c, u, HoldMode::Spin))
        }),
        probe(
            "Hold UNTIL_CANCELLED, dropped by the client: CANCELLED",
            |c, u| Box::pin(hold_dropped(c, u)),
        ),
        probe(
            "Hold with a 300 ms deadline: the handler sees it, CANCELLED",
            |c, u| Box::pin(hold_deadline(c, u)),
        ),
        probe("Gauge counts 3 concurrent holds of its scope", |c, u| {
            Box::pin(gauge_three(c, u))
        }),
        probe(
            "Pipe echoes each message, FINISHED after the half-close",
            |c, u| Box::pin(pipe_echoes(c, u)),
        ),
        // Last: a server that dies of a handler's panic (the finding of
        // handler.panicking-handler) answers no later check.
        unsafe_hold(
            "Hold PANIC ends with an error, the server keeps serving",
            |c, u| Box::pin(hold_panic(c, u)),
        ),
    ]
}

/// How long the server has to record a handler's end.
const SETTLE: Duration = Duration::from_secs(3);

/// Fails unless Observe reports the handler `tag` in state `want` (waiting
/// up to [`SETTLE`] for it to settle); `context` starts the failure.
async fn expect_state(
    probe: &mut ProbeServiceClient<Channel>,
    tag: &str,
    want: HandlerState,
    context: &str,
) -> Result<(), String> {
    let state = observe(probe, tag, SETTLE)
        .await
        .map_err(status("Observe"))?
        .state();
    expect(state == want, || {
        format!("{context}Observe reports {state:?}, not {want:?}")
    })
}

async fn info(channel: Channel) -> Result<(), String> {
    let info = probe_client(channel)
        .info(InfoRequest {})
        .await
        .map_err(status("Info"))?
        .into_inner();
    expect(
        !info.implementation.is_empty() && !info.version.is_empty(),
        || {
            format!(
                "implementation {:?}, version {:?}: both must be set",
                info.implementation, info.version
            )
        },
    )
}

fn rendezvous_request(group: String, parties: u32, timeout_ms: u32) -> RendezvousRequest {
    RendezvousRequest {
        group,
        parties,
        timeout_ms,
        scope: String::new(),
    }
}

async fn rendezvous(channel: Channel, unique: String) -> Result<(), String> {
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let mut probe = probe_client(channel.clone());
            let request = rendezvous_request(unique.clone(), 4, 5_000);
            tokio::spawn(async move { probe.rendezvous(request).await })
        })
        .collect();
    let mut arrivals = Vec::new();
    for call in calls {
        let reply = call.await.map_err(|err| format!("task failed: {err}"))?;
        arrivals.push(reply.map_err(status("Rendezvous"))?.into_inner().arrival);
    }
    arrivals.sort_unstable();
    expect(arrivals == [1, 2, 3, 4], || {
        format!("arrivals {arrivals:?}, not 1..=4")
    })
}

async fn rendezvous_short(channel: Channel, unique: String) -> Result<(), String> {
    let outcome = probe_client(channel)
        .rendezvous(rendezvous_request(unique, 2, 300))
        .await;
    expect_code(
        outcome,
        tonic::Code::Aborted,
        "a 2-party Rendezvous with one caller",
    )
    .map(|_| ())
}

async fn hold_finishes(channel: Channel, tag: String, mode: HoldMode) -> Result<(), String> {
    let mut probe = probe_client(channel);
    let request = hold_request(&tag, mode, Duration::from_millis(200), "");
    probe.hold(request).await.map_err(status("Hold"))?;
    expect_state(&mut probe, &tag, HandlerState::Finished, "").await
}

async fn hold_panic(channel: Channel, tag: String) -> Result<(), String> {
    let mut probe = probe_client(channel);
    let request = hold_request(&tag, HoldMode::Panic, Duration::ZERO, "");
    expect(probe.hold(request).await.is_err(), || {
        "Hold PANIC answered OK".to_owned()
    })?;
    expect_state(&mut probe, &tag, HandlerState::Panicked, "").await
}

async fn hold_dropped(channel: Channel, tag: String) -> Result<(), String> {
    let mut observer = probe_client(channel.clone());
    let mut probe = probe_client(channel);
    let request = hold_request(&tag, HoldMode::UntilCancelled, Duration::from_secs(20), "");
    let call = tokio::spawn(async move { probe.hold(request).await });
    let running = wait_running(&mut observer, &tag, SETTLE).await;
    call.abort();
    expect(running, || {
        "the held handler was not observed RUNNING".to_owned()
    })?;
    expect_state(
        &mut observer,
        &tag,
        HandlerState::Cancelled,
        "after the client dropped the call, ",
    )
    .await
}

async fn hold_deadline(channel: Channel, tag: String) -> Result<(), String> {
    let mut probe = probe_client(channel);
    let mut request = tonic::Request::new(hold_request(
        &tag,
        HoldMode::UntilCancelled,
        Duration::from_secs(20),
        "",
    ));
    request.set_timeout(Duration::from_millis(300));
    match probe.hold(request).await {
        Err(ended)
            if matches!(
                ended.code(),
                tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
            ) => {}
        Err(ended) => return Err(status("Hold with a 300 ms deadline")(ended)),
        Ok(_) => return Err("Hold with a 300 ms deadline answered OK".to_owned()),
    }
    let observed = observe(&mut probe, &tag, SETTLE)
        .await
        .map_err(status("Observe"))?;
    expect(observed.state() == HandlerState::Cancelled, || {
        format!("Observe reports {:?}, not CANCELLED", observed.state())
    })?;
    expect((1..=300).contains(&observed.deadline_ms), || {
        format!(
            "the handler saw a deadline of {} ms, not one in 1..=300",
            observed.deadline_ms
        )
    })
}

async fn gauge_three(channel: Channel, unique: String) -> Result<(), String> {
    let holds: Vec<_> = (0..3)
        .map(|index| {
            let mut probe = probe_client(channel.clone());
            let request = hold_request(
                &format!("{unique}-{index}"),
                HoldMode::Sleep,
                Duration::from_millis(600),
                &unique,
            );
            tokio::spawn(async move { probe.hold(request).await })
        })
        .collect();
    for hold in holds {
        hold.await
            .map_err(|err| format!("task failed: {err}"))?
            .map_err(status("Hold"))?;
    }
    let gauge = probe_client(channel)
        .gauge(GaugeRequest {
            scope: unique,
            reset_max: false,
        })
        .await
        .map_err(status("Gauge"))?
        .into_inner();
    expect(gauge.max_in_flight == 3 && gauge.in_flight == 0, || {
        format!(
            "the gauge read max {} and {} in flight, not 3 and 0",
            gauge.max_in_flight, gauge.in_flight
        )
    })
}

async fn pipe_echoes(channel: Channel, tag: String) -> Result<(), String> {
    let mut observer = probe_client(channel.clone());
    let (requests, outbound) = tokio::sync::mpsc::channel(1);
    let message = |seq: u64| PipeRequest {
        tag: tag.clone(),
        scope: String::new(),
        producer: 0,
        seq,
        payload: vec![u8::try_from(seq).unwrap_or(0); 16],
    };
    // Queued before the call is awaited (see test_service::full_duplex).
    let _ = requests.send(message(0)).await;
    let mut echoes = probe_client(channel)
        .pipe(tokio_stream::wrappers::ReceiverStream::new(outbound))
        .await
        .map_err(status("Pipe"))?
        .into_inner();
    for seq in 0..5u64 {
        let message = message(seq);
        if seq > 0 {
            let _ = requests.send(message.clone()).await;
        }
        let echo = echoes.message().await.map_err(status("Pipe"))?;
        expect(
            echo.as_ref().and_then(|e| e.echo.as_ref()) == Some(&message),
            || format!("message {seq} was echoed as {echo:?}"),
        )?;
    }
    drop(requests);
    expect(
        echoes.message().await.map_err(status("Pipe"))?.is_none(),
        || "an extra echo after the half-close".to_owned(),
    )?;
    expect_state(&mut observer, &tag, HandlerState::Finished, "").await
}
