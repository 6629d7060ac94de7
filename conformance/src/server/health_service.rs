//! `grpc.health.v1.Health`: the standard health service, as production
//! servers expose it (Check, List, Watch held open), and the
//! `health-one-at-a-time` defect that the health scenarios must catch.

use std::collections::HashMap;
use std::sync::Arc;

use futures::stream::{self, BoxStream, StreamExt};
use tokio::sync::OwnedSemaphorePermit;
use tonic::{Request, Response, Status};

use super::Shared;
use super::defects::Defect;
use crate::proto::health::health_check_response::ServingStatus;
use crate::proto::health::health_server::Health;
use crate::proto::health::{
    HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse,
};

/// The service name the health service answers for itself.
pub(crate) const HEALTH_SERVICE: &str = "grpc.health.v1.Health";

type WatchStream = BoxStream<'static, Result<HealthCheckResponse, Status>>;

#[derive(Clone)]
pub(crate) struct HealthService {
    shared: Arc<Shared>,
}

impl HealthService {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// The services this server reports as SERVING: the whole server ("")
    /// and each service it routes.
    fn services(&self) -> Vec<&'static str> {
        let mut services = vec!["", HEALTH_SERVICE];
        if !self.shared.config.health_only {
            services.push("grpc.testing.TestService");
            services.push("conformance.v1.ProbeService");
        }
        services
    }

    fn status_of(&self, service: &str) -> Option<HealthCheckResponse> {
        self.services()
            .contains(&service)
            .then_some(HealthCheckResponse {
                status: ServingStatus::Serving.into(),
            })
    }

    /// Under the `health-one-at-a-time` defect, the server-wide permit a
    /// health handler holds for its whole life (a Watch: until its stream
    /// ends); otherwise nothing.
    async fn one_at_a_time(&self) -> Option<OwnedSemaphorePermit> {
        if !self.shared.config.has(Defect::HealthOneAtATime) {
            return None;
        }
        Arc::clone(&self.shared.health_gate)
            .acquire_owned()
            .await
            .ok()
    }
}

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let _permit = self.one_at_a_time().await;
        let service = request.into_inner().service;
        self.status_of(&service)
            .map(Response::new)
            .ok_or_else(|| Status::not_found(format!("unknown service {service:?}")))
    }

    async fn list(
        &self,
        _request: Request<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        let _permit = self.one_at_a_time().await;
        let statuses: HashMap<String, HealthCheckResponse> = self
            .services()
            .into_iter()
            .filter(|service| !service.is_empty())
            .filter_map(|service| Some((service.to_owned(), self.status_of(service)?)))
            .collect();
        Ok(Response::new(HealthListResponse { statuses }))
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<WatchStream>, Status> {
        let permit = self.one_at_a_time().await;
        let service = request.into_inner().service;
        let first = self.status_of(&service).unwrap_or(HealthCheckResponse {
            status: ServingStatus::ServiceUnknown.into(),
        });
        // The status never changes here, so after the first message the
        // stream stays open (as a watch does) until the client ends it; the
        // defect's permit lives as long as the stream.
        let stream = stream::once(async move { Ok(first) })
            .chain(stream::pending())
            .map(move |item| {
                let _held = &permit;
                item
            });
        Ok(Response::new(stream.boxed()))
    }
}
