//! ProbeService of the reference server: rendezvous, holds, observation,
//! gauges, the pipe, and panic isolation.

use std::time::Duration;

use conformance::proto::grpc_testing::Empty;
use conformance::proto::probe::{
    GaugeRequest, HandlerState, HoldMode, HoldRequest, InfoRequest, ObserveRequest, PipeRequest,
    RendezvousRequest,
};
use conformance::server::Defect;
use tonic::Code;

use crate::support::Fixture;

fn hold(tag: &str, mode: HoldMode, duration_ms: u32, scope: &str) -> HoldRequest {
    HoldRequest {
        tag: tag.into(),
        mode: mode as i32,
        duration_ms,
        scope: scope.into(),
    }
}

#[tokio::test]
async fn info_describes_the_server() {
    let fixture = Fixture::healthy().await;
    let info = fixture
        .probe()
        .info(InfoRequest {})
        .await
        .expect("Info")
        .into_inner();
    assert_eq!(info.implementation, "tonic");
    assert!(info.unsafe_holds_enabled);
}

#[tokio::test]
async fn rendezvous_releases_at_n() {
    let fixture = Fixture::healthy().await;
    let calls = (0..8).map(|_| {
        let mut probe = fixture.probe();
        tokio::spawn(async move {
            probe
                .rendezvous(RendezvousRequest {
                    group: "eight".into(),
                    parties: 8,
                    timeout_ms: 5_000,
                    scope: String::new(),
                })
                .await
        })
    });
    let mut arrivals = Vec::new();
    for call in calls.collect::<Vec<_>>() {
        let response = call.await.expect("task").expect("released").into_inner();
        arrivals.push(response.arrival);
    }
    arrivals.sort_unstable();
    assert_eq!(arrivals, (1..=8).collect::<Vec<u32>>());
}

#[tokio::test]
async fn rendezvous_times_out_below_n() {
    let fixture = Fixture::healthy().await;
    let calls: Vec<_> = (0..2)
        .map(|_| {
            let mut probe = fixture.probe();
            tokio::spawn(async move {
                probe
                    .rendezvous(RendezvousRequest {
                        group: "three".into(),
                        parties: 3,
                        timeout_ms: 200,
                        scope: String::new(),
                    })
                    .await
            })
        })
        .collect();
    for call in calls {
        let err = call.await.expect("task").expect_err("not enough parties");
        assert_eq!(err.code(), Code::Aborted, "{err:?}");
    }
    // Those who left were counted out: three new parties release.
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let mut probe = fixture.probe();
            tokio::spawn(async move {
                probe
                    .rendezvous(RendezvousRequest {
                        group: "three".into(),
                        parties: 3,
                        timeout_ms: 5_000,
                        scope: String::new(),
                    })
                    .await
            })
        })
        .collect();
    for call in calls {
        call.await.expect("task").expect("released");
    }
}

#[tokio::test]
async fn each_hold_mode_returns_and_is_observed() {
    let fixture = Fixture::healthy().await;
    for (tag, mode) in [
        ("none", HoldMode::Unspecified),
        ("sleep", HoldMode::Sleep),
        ("block", HoldMode::BlockThread),
        ("spin", HoldMode::Spin),
        ("until", HoldMode::UntilCancelled),
    ] {
        fixture
            .probe()
            .hold(hold(tag, mode, 30, "modes"))
            .await
            .unwrap_or_else(|err| panic!("hold {tag}: {err:?}"));
        let observed = fixture
            .probe()
            .observe(ObserveRequest {
                tag: tag.into(),
                wait_ms: 1_000,
            })
            .await
            .expect("Observe")
            .into_inner();
        assert_eq!(observed.state(), HandlerState::Finished, "{tag}");
    }
}

#[tokio::test]
async fn dangerous_holds_need_enable_probes() {
    let fixture = Fixture::start(false, &[]).await;
    for mode in [HoldMode::BlockThread, HoldMode::Spin, HoldMode::Panic] {
        let err = fixture
            .probe()
            .hold(hold("x", mode, 10, ""))
            .await
            .expect_err("refused");
        assert_eq!(err.code(), Code::FailedPrecondition);
        assert!(err.message().contains("--enable-probes"));
    }
    fixture
        .probe()
        .hold(hold("x", HoldMode::Sleep, 10, ""))
        .await
        .expect("safe holds stay available");
}

#[tokio::test]
async fn cancellation_is_observed_and_gauge_returns_to_zero() {
    let fixture = Fixture::healthy().await;
    let mut probe = fixture.probe();
    let call = tokio::spawn(async move {
        probe
            .hold(hold(
                "cancel-me",
                HoldMode::UntilCancelled,
                60_000,
                "cancel",
            ))
            .await
    });
    wait_running(&fixture, "cancel-me").await;
    call.abort();
    let observed = fixture
        .probe()
        .observe(ObserveRequest {
            tag: "cancel-me".into(),
            wait_ms: 2_000,
        })
        .await
        .expect("Observe")
        .into_inner();
    assert_eq!(observed.state(), HandlerState::Cancelled);
    let gauge = fixture
        .probe()
        .gauge(GaugeRequest {
            scope: "cancel".into(),
            reset_max: false,
        })
        .await
        .expect("Gauge")
        .into_inner();
    assert_eq!((gauge.in_flight, gauge.max_in_flight), (0, 1));
}

#[tokio::test]
async fn deadline_reaches_the_handler() {
    let fixture = Fixture::healthy().await;
    let mut request = tonic::Request::new(hold("deadline", HoldMode::UntilCancelled, 60_000, ""));
    request.set_timeout(Duration::from_millis(300));
    let err = fixture.probe().hold(request).await.expect_err("deadline");
    assert!(
        matches!(err.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{err:?}"
    );
    let observed = fixture
        .probe()
        .observe(ObserveRequest {
            tag: "deadline".into(),
            wait_ms: 2_000,
        })
        .await
        .expect("Observe")
        .into_inner();
    assert_eq!(observed.state(), HandlerState::Cancelled);
    assert!((1..=300).contains(&observed.deadline_ms), "{observed:?}");
}

async fn wait_running(fixture: &Fixture, tag: &str) {
    for _ in 0..500 {
        let observed = fixture
            .probe()
            .observe(ObserveRequest {
                tag: tag.into(),
                wait_ms: 0,
            })
            .await
            .expect("Observe")
            .into_inner();
        if observed.state() == HandlerState::Running {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("handler {tag} never started");
}

#[tokio::test]
async fn gauge_maximum_counts_concurrent_holds() {
    let fixture = Fixture::healthy().await;
    let holds: Vec<_> = (0..3)
        .map(|i| {
            let mut probe = fixture.probe();
            tokio::spawn(async move {
                probe
                    .hold(hold(&format!("g{i}"), HoldMode::Sleep, 300, "three"))
                    .await
            })
        })
        .collect();
    for hold in holds {
        hold.await.expect("task").expect("hold");
    }
    let gauge = fixture
        .probe()
        .gauge(GaugeRequest {
            scope: "three".into(),
            reset_max: true,
        })
        .await
        .expect("Gauge")
        .into_inner();
    assert_eq!((gauge.in_flight, gauge.max_in_flight), (0, 3));
    let gauge = fixture
        .probe()
        .gauge(GaugeRequest {
            scope: "three".into(),
            reset_max: false,
        })
        .await
        .expect("Gauge")
        .into_inner();
    assert_eq!(gauge.max_in_flight, 0, "reset");
}

#[tokio::test]
async fn pipe_echoes_and_finishes() {
    let fixture = Fixture::healthy().await;
    let requests = (0..5u64).map(|seq| PipeRequest {
        tag: "pipe".into(),
        scope: "pipe".into(),
        producer: 1,
        seq,
        payload: vec![seq as u8; 10],
    });
    let mut echoes = fixture
        .probe()
        .pipe(tokio_stream::iter(requests))
        .await
        .expect("Pipe")
        .into_inner();
    let mut seqs = Vec::new();
    while let Some(response) = echoes.message().await.expect("echo") {
        let echo = response.echo.expect("echo");
        assert_eq!(echo.payload, vec![echo.seq as u8; 10]);
        assert_eq!(response.received, echo.seq + 1);
        seqs.push(echo.seq);
    }
    assert_eq!(seqs, [0, 1, 2, 3, 4]);
    let observed = fixture
        .probe()
        .observe(ObserveRequest {
            tag: "pipe".into(),
            wait_ms: 1_000,
        })
        .await
        .expect("Observe")
        .into_inner();
    assert_eq!(observed.state(), HandlerState::Finished);
}

#[tokio::test]
async fn panic_ends_only_its_rpc_with_internal() {
    let fixture = Fixture::healthy().await;
    let mut sibling_probe = fixture.probe();
    let sibling = tokio::spawn(async move {
        sibling_probe
            .hold(hold("sibling", HoldMode::Sleep, 300, ""))
            .await
    });
    let err = fixture
        .probe()
        .hold(hold("boom", HoldMode::Panic, 0, ""))
        .await
        .expect_err("a panic ends the call");
    assert_eq!(err.code(), Code::Internal, "{err:?}");
    let sibling = sibling
        .await
        .expect("task")
        .expect("sibling on the same connection");
    let after = fixture
        .test()
        .empty_call(Empty {})
        .await
        .expect("the connection keeps serving");
    assert_eq!(after.into_inner(), Empty {});
    assert!(!sibling.get_ref().connection_id.is_empty());
    let observed = fixture
        .probe()
        .observe(ObserveRequest {
            tag: "boom".into(),
            wait_ms: 1_000,
        })
        .await
        .expect("Observe")
        .into_inner();
    assert_eq!(observed.state(), HandlerState::Panicked);
}

#[tokio::test]
async fn panic_kills_connection_defect_breaks_the_sibling() {
    let fixture = Fixture::start(true, &[Defect::PanicKillsConnection]).await;
    let mut sibling_probe = fixture.probe();
    let sibling = tokio::spawn(async move {
        sibling_probe
            .hold(hold("sibling", HoldMode::Sleep, 1_000, ""))
            .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = fixture
        .probe()
        .hold(hold("boom", HoldMode::Panic, 0, ""))
        .await;
    let sibling = sibling.await.expect("task");
    assert!(sibling.is_err(), "the defect must break the sibling");
}

#[tokio::test]
async fn connection_identity_is_shared_on_one_channel() {
    let fixture = Fixture::healthy().await;
    let a = fixture
        .probe()
        .hold(hold("a", HoldMode::Unspecified, 0, ""))
        .await
        .expect("hold")
        .into_inner();
    let b = fixture
        .probe()
        .hold(hold("b", HoldMode::Unspecified, 0, ""))
        .await
        .expect("hold")
        .into_inner();
    assert_eq!(a.connection_id, b.connection_id);
    assert!(a.connection_id.starts_with("127.0.0.1:"));
}
