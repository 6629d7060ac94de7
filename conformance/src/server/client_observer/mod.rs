//! `conformance.v1.ClientObserver`: what the reference server does to observe
//! a client library in client mode (`proto/conformance/v1/client.proto`):
//! barriers that answer each caller with its own identity, the interlocked
//! exchange, and the ledger of what it saw.

mod interlock;
mod seen;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, BoxStream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

pub(crate) use seen::Seen;

use super::Shared;
use super::probe_service::{capped, connection_id};
use crate::proto::probe::client_observer_server::ClientObserver;
use crate::proto::probe::{
    BreakRequest, BreakResponse, GatherRequest, GatherResponse, InterlockRequest,
    InterlockResponse, SeenRequest, SeenResponse,
};
use crate::sync::rendezvous::Barrier;

/// How often Seen looks again while an exchange is still open.
const SEEN_POLL: Duration = Duration::from_millis(2);

pub(crate) struct Observer {
    shared: Arc<Shared>,
}

impl Observer {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Waits at the group's barrier (shared with ProbeService.Rendezvous),
    /// recording the call in the ledger; returns the arrival order.
    async fn gather(
        &self,
        method: &str,
        request: &GatherRequest,
        connection_id: &str,
    ) -> Result<GatherResponse, Status> {
        if request.parties == 0 {
            return Err(Status::invalid_argument("a gather needs at least 1 party"));
        }
        let barrier = self
            .shared
            .barriers
            .get(&request.group, request.parties)
            .map_err(|err| Status::invalid_argument(err.to_string()))?;
        let slot = self
            .shared
            .seen
            .enter(&request.group, method, &request.caller, connection_id);
        let timeout = capped(request.timeout_ms);
        let arrived = arrive(&self.shared, &request.group, &barrier, timeout).await;
        let others = barrier.waiting();
        drop(barrier);
        self.shared.barriers.prune();
        let arrival = arrived.map_err(|why| {
            why.status(
                &format!("gather {:?}", request.group),
                others + 1,
                request.parties,
            )
        })?;
        self.shared.seen.released(&slot);
        Ok(GatherResponse {
            caller: request.caller.clone(),
            arrival,
            connection_id: connection_id.to_owned(),
        })
    }
}

/// Why a call left its group's barrier unreleased.
pub(crate) enum NotReleased {
    TimedOut(Duration),
    /// The harness broke the barrier (`Break`).
    Broken,
}

impl NotReleased {
    /// The ABORTED status of a call of `what` that left with `inside` of
    /// `parties` inside.
    pub(crate) fn status(&self, what: &str, inside: u32, parties: u32) -> Status {
        match self {
            NotReleased::TimedOut(timeout) => Status::aborted(format!(
                "{what}: {inside} of {parties} parties were inside together within {} ms",
                timeout.as_millis()
            )),
            NotReleased::Broken => Status::aborted(format!(
                "{what}: the barrier was broken while {inside} of {parties} parties were inside (the harness saw no more arrive)"
            )),
        }
    }
}

/// Waits at `barrier` of `group` for its release (the arrival order), for
/// at most `timeout`, or until the harness breaks the group's barrier.
pub(crate) async fn arrive(
    shared: &Shared,
    group: &str,
    barrier: &Barrier,
    timeout: Duration,
) -> Result<u32, NotReleased> {
    let broken = shared.seen.broken(group);
    tokio::select! {
        arrived = tokio::time::timeout(timeout, barrier.arrive()) => {
            arrived.map_err(|_| NotReleased::TimedOut(timeout))
        }
        () = broken => Err(NotReleased::Broken),
    }
}

#[tonic::async_trait]
impl ClientObserver for Observer {
    async fn gather(
        &self,
        request: Request<GatherRequest>,
    ) -> Result<Response<GatherResponse>, Status> {
        let connection_id = connection_id(&request);
        let request = request.into_inner();
        self.gather("Gather", &request, &connection_id)
            .await
            .map(Response::new)
    }

    type GatherStreamStream = BoxStream<'static, Result<GatherResponse, Status>>;

    async fn gather_stream(
        &self,
        request: Request<Streaming<GatherRequest>>,
    ) -> Result<Response<Self::GatherStreamStream>, Status> {
        let connection_id = connection_id(&request);
        let mut inbound = request.into_inner();
        let first = inbound
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("GatherStream needs one request"))?;
        let response = self.gather("GatherStream", &first, &connection_id).await?;
        // After the one response, the stream stays open until the client
        // half-closes (or goes).
        let rest = stream::once(async move { while let Ok(Some(_)) = inbound.message().await {} })
            .filter_map(|()| async { None });
        Ok(Response::new(
            stream::once(async { Ok(response) }).chain(rest).boxed(),
        ))
    }

    type InterlockStream = BoxStream<'static, Result<InterlockResponse, Status>>;

    async fn interlock(
        &self,
        request: Request<Streaming<InterlockRequest>>,
    ) -> Result<Response<Self::InterlockStream>, Status> {
        let connection_id = connection_id(&request);
        let seen = Arc::clone(&self.shared.seen);
        let responses = interlock::start(seen, request.into_inner(), connection_id);
        Ok(Response::new(responses.boxed()))
    }

    async fn r#break(
        &self,
        request: Request<BreakRequest>,
    ) -> Result<Response<BreakResponse>, Status> {
        let group = request.into_inner().group;
        let entered = self.shared.seen.break_group(&group);
        Ok(Response::new(BreakResponse {
            entered: u32::try_from(entered).unwrap_or(u32::MAX),
        }))
    }

    async fn seen(&self, request: Request<SeenRequest>) -> Result<Response<SeenResponse>, Status> {
        let request = request.into_inner();
        let give_up = Instant::now() + capped(request.wait_ms);
        loop {
            let (seen, ended) = self.shared.seen.read(&request.name);
            if ended || Instant::now() >= give_up {
                return Ok(Response::new(seen));
            }
            tokio::time::sleep(SEEN_POLL).await;
        }
    }
}
