//! The cost of one ProbeService.Rendezvous round trip with 2 parties: two
//! RPCs on one harness channel, each from its own task (as the rendezvous
//! driver issues them), released together by the server-side barrier.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use conformance::proto::probe::RendezvousRequest;
use conformance::server::{RunningServer, ServerConfig};
use criterion::{Criterion, criterion_group};
use harness::client::{ChannelOptions, Dial};
use harness::drivers::probe_client;

fn rendezvous(criterion: &mut Criterion) {
    let server = RunningServer::start(ServerConfig::default()).expect("the reference server");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let channel = runtime.block_on(async {
        Dial {
            uri: server.uri(),
            tls: None,
            client_defects: Vec::new(),
        }
        .channel(&ChannelOptions::default())
        .expect("a harness channel")
        .handle()
    });
    // Every round has a group of its own, as every scenario run has.
    let rounds = AtomicU64::new(0);
    criterion.bench_function("rendezvous/round-trip-2-parties", |bench| {
        bench.to_async(&runtime).iter(|| {
            let group = format!("bench/{}", rounds.fetch_add(1, Ordering::Relaxed));
            let channel = channel.clone();
            async move {
                let parties: Vec<_> = (0..2)
                    .map(|_| {
                        let mut probe = probe_client(channel.clone());
                        let request = RendezvousRequest {
                            group: group.clone(),
                            parties: 2,
                            timeout_ms: 5_000,
                            scope: String::new(),
                        };
                        tokio::spawn(async move { probe.rendezvous(request).await })
                    })
                    .collect();
                for party in parties {
                    party
                        .await
                        .expect("a rendezvous task")
                        .expect("released by the barrier");
                }
            }
        });
    });
    drop(runtime);
    drop(server);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = rendezvous
}
criterion::criterion_main!(benches);
