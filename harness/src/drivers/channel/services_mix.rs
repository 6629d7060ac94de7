//! `services-mix`: TestService and ProbeService stubs share one channel and
//! run at the same time (method: services_mix.md).

use conformance::proto::probe::RendezvousRequest;

use super::duplex::Held;
use crate::drivers::prelude::*;

pub struct ServicesMix;

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// TestService FullDuplexCall streams held open throughout.
    pub streams: usize,
    /// ProbeService Rendezvous parties.
    pub parties: u32,
    /// TestService UnaryCalls issued while the barrier waits.
    pub unary: usize,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            streams: 8,
            parties: 16,
            unary: 32,
        }
    }
}

impl Driver for ServicesMix {
    const NAME: &'static str = "services-mix";
    const DOC: &'static str = include_str!("services_mix.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let channel = ctx.channel()?;
        // The held-open streams and the barrier's parties must all fit the
        // advertised stream limit at once: each gets up to half of it.
        let half = ctx
            .stream_limit()
            .map_or(usize::MAX, |limit| (limit / 2).max(1));
        let wanted_parties = usize::try_from(params.parties.max(1)).unwrap_or(usize::MAX);
        let streams = ctx.open_together(
            params.streams,
            wanted_parties.min(half),
            "TestService streams held open",
        );
        let parties = ctx.open_together(wanted_parties, streams, "ProbeService barrier parties");
        let label = |index: usize| format!("TestService stream #{index}");
        let open = match Held::open_all(&ctx, &channel, streams, label).await {
            Ok(open) => open,
            Err((index, err)) => {
                let stream = label(index);
                return Ok(Finding::fail(format!(
                    "{stream} did not answer its first ping: {err}"
                )));
            }
        };

        let limit = ctx.rpc_limit();
        // The barrier gives up a second before the client does, so that a
        // barrier left short answers ABORTED rather than stalling.
        let barrier = RendezvousRequest {
            group: ctx.unique("services"),
            parties: u32::try_from(parties).unwrap_or(u32::MAX),
            timeout_ms: u32::try_from(limit.saturating_sub(Duration::from_secs(1)).as_millis())
                .unwrap_or(u32::MAX),
            scope: String::new(),
        };
        let rendezvous = (0..parties)
            .map(|index| {
                let mut probe = probe_client(channel.handle());
                let request = barrier.clone();
                let label = format!("ProbeService rendezvous #{index}");
                ctx.spawn(label, async move { probe.rendezvous(request).await })
            })
            .collect();
        let unary = (0..params.unary)
            .map(|index| {
                let mut test = test_client(channel.handle());
                let label = format!("TestService unary #{index}");
                ctx.spawn(
                    label,
                    async move { test.unary_call(unary_request(16, 0)).await },
                )
            })
            .collect();
        let (released, _) = Tally::join(rendezvous).await;
        let (unary, _) = Tally::join(unary).await;
        let answered = Held::finish_all(open).await;

        let mut checks = Checks::new();
        if !released.all_passed() {
            checks.problem(format!(
                "the ProbeService barrier of {parties} did not release while TestService streams were open on the same channel: {}",
                released.line("calls failed")
            ));
        }
        if !unary.all_passed() {
            checks.problem(
                unary.line("TestService unary calls alongside the ProbeService calls failed"),
            );
        }
        if !answered.all_passed() {
            checks.problem(
                answered.line("TestService streams stopped answering after the ProbeService calls"),
            );
        }
        let finding = checks.finding(
            "TestService and ProbeService calls on one channel",
            format!(
                "{streams} TestService streams stayed open and answered before and after a ProbeService barrier of {parties} released and {} TestService unary calls completed, all on one channel",
                unary.succeeded()
            ),
        );
        Ok(finding
            .evidence(connections(&channel))
            .figure("parties", parties as f64)
            .figure("streams", streams as f64)
            .figure("unary_completed", unary.succeeded() as f64))
    }
}
