//! Starting a reference server and connecting tonic clients to it.

use conformance::proto::grpc_testing::test_service_client::TestServiceClient;
use conformance::proto::probe::probe_service_client::ProbeServiceClient;
use conformance::server::{Defect, RunningServer, ServerConfig};
use tonic::transport::{Channel, Endpoint};

pub struct Fixture {
    /// Declared first so that it is dropped first: the server's graceful
    /// stop then has no open client connection to wait for.
    pub channel: Channel,
    /// Kept alive for the test; dropping it stops the server.
    pub _server: RunningServer,
}

impl Fixture {
    pub async fn start(unsafe_probes: bool, defects: &[Defect]) -> Self {
        let config = ServerConfig {
            enable_unsafe_probes: unsafe_probes,
            defects: defects.iter().copied().collect(),
            ..ServerConfig::default()
        };
        let server = RunningServer::start(config).expect("reference server starts");
        let channel = Endpoint::from_shared(server.uri())
            .expect("valid uri")
            .connect()
            .await
            .expect("connects to the reference server");
        Self {
            _server: server,
            channel,
        }
    }

    pub async fn healthy() -> Self {
        Self::start(true, &[]).await
    }

    pub fn test(&self) -> TestServiceClient<Channel> {
        TestServiceClient::new(self.channel.clone())
    }

    pub fn probe(&self) -> ProbeServiceClient<Channel> {
        ProbeServiceClient::new(self.channel.clone())
    }
}
