//! `stream-limit`: more concurrent RPCs than the server's advertised
//! SETTINGS_MAX_CONCURRENT_STREAMS queue on the client and all complete
//! (method: stream_limit.md).

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use conformance::proto::probe::probe_service_client::ProbeServiceClient;

use crate::drivers::prelude::*;

pub struct StreamLimit;

#[derive(Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// How long each RPC stays in the handler.
    pub hold_ms: u64,
    /// Highest advertised limit the scenario will exceed.
    pub max_limit: u32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            hold_ms: 300,
            max_limit: 2_048,
        }
    }
}

/// The advertised stream limit a scenario queues behind, or the skip of a
/// target that advertises none (or one above `max_limit`).
pub(crate) fn limit_to_exceed(ctx: &Ctx, max_limit: u32) -> Result<u32, Finding> {
    let Some(limit) = ctx.target().advertised_max_streams else {
        return Err(Finding::skip(
            "the target advertises no SETTINGS_MAX_CONCURRENT_STREAMS (or it could not be read, as over TLS): there is no limit to queue behind",
        ));
    };
    if limit > max_limit {
        return Err(Finding::skip(format!(
            "the target advertises {limit} concurrent streams, above this scenario's bound of {max_limit}"
        )));
    }
    Ok(limit)
}

impl Driver for StreamLimit {
    const NAME: &'static str = "stream-limit";
    const DOC: &'static str = include_str!("stream_limit.md");
    type Params = Params;

    async fn run(ctx: Ctx, params: Arc<Params>) -> DriverResult {
        let limit = match limit_to_exceed(&ctx, params.max_limit) {
            Ok(limit) => limit,
            Err(skip) => return Ok(skip),
        };
        let streams = usize::try_from(limit).unwrap_or(usize::MAX);
        let issued = streams + (streams / 4).max(8);
        let channel = ctx.channel()?;
        let scope = ctx.unique("limit");
        let hold = Duration::from_millis(params.hold_ms);
        // The RPCs beyond the limit wait their turn behind the others, so
        // each may take most of the budget; two seconds are left for the
        // gauge and the verdict.
        let queued_limit = ctx.remaining().saturating_sub(Duration::from_secs(2));
        let answered = Arc::new(Answered::default());
        let started = Instant::now();
        let calls = (0..issued)
            .map(|index| {
                let mut probe = probe_client(channel.handle());
                let request = hold_request("", HoldMode::Sleep, hold, &scope);
                let label = format!("Hold #{index}");
                let answered = Arc::clone(&answered);
                ctx.spawn_within(label, queued_limit, async move {
                    let outcome = probe.hold(request).await;
                    answered.record(
                        outcome
                            .as_ref()
                            .ok()
                            .map(|r| r.get_ref().in_flight_at_entry),
                    );
                    outcome
                })
            })
            .collect();
        let mut control = probe_client(ctx.control()?);
        let pace = Pace {
            issued,
            hold,
            deadline: started + queued_limit,
        };
        let completed = tokio::select! {
            (completed, _) = Tally::join(calls) => completed,
            slow = pace.too_slow(&mut control, &scope, &answered, ctx.rpc_limit()) => {
                return Ok(Finding::fail(format!(
                    "RPCs beyond the advertised limit of {limit} cannot all complete: {slow}"
                ))
                .figure("advertised_limit", f64::from(limit))
                .figure("issued", issued as f64)
                .figure("server_max_in_flight", f64::from(slow.max_in_flight)));
            }
        };
        let gauge = read_gauge(&mut control, &scope, ctx.rpc_limit())
            .await
            .map_err(DriverError::target)?;
        let finding = if !completed.all_passed() {
            Finding::fail(completed.line(&format!(
                "RPCs failed instead of queueing behind the advertised limit of {limit}"
            )))
        } else if gauge.max_in_flight > limit {
            Finding::fail(format!(
                "the server had {} RPCs in flight on one connection, above its advertised limit of {limit}",
                gauge.max_in_flight
            ))
        } else {
            Finding::pass().evidence(format!(
                "{issued} RPCs against an advertised limit of {limit}: all completed, the server never had more than {} in flight",
                gauge.max_in_flight
            ))
        };
        Ok(finding
            .figure("advertised_limit", f64::from(limit))
            .figure("issued", issued as f64)
            .figure("failed", completed.failed() as f64)
            .figure("server_max_in_flight", f64::from(gauge.max_in_flight)))
    }
}

/// What the Holds' answers tell so far: how many came, and the most
/// handlers of the scope the server had inside when one of them entered.
#[derive(Debug, Default)]
struct Answered {
    count: AtomicUsize,
    max_in_flight_at_entry: AtomicU32,
}

impl Answered {
    fn record(&self, in_flight_at_entry: Option<u32>) {
        if let Some(in_flight) = in_flight_at_entry {
            self.max_in_flight_at_entry
                .fetch_max(in_flight, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

/// The Holds of one run: how many, how long each sleeps in its handler, and
/// when the last of them must have its answer.
struct Pace {
    issued: usize,
    hold: Duration,
    deadline: Instant,
}

/// The proof that the server runs the Holds too few at a time to answer
/// them all before the deadline: each sleeps `hold` in its handler, so at
/// no more than `max_in_flight` at once the `owed` still owed need at least
/// `needed`, more than twice the `left` time.
#[derive(Debug, Clone, Copy)]
struct TooSlow {
    max_in_flight: u32,
    owed: usize,
    hold: Duration,
    steady: Duration,
    needed: Duration,
    left: Duration,
}

impl std::fmt::Display for TooSlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the server ran at most {} of them at once (its in-flight gauge and the Holds' answers, unchanged for {} ms while answers came); each sleeps {} ms in its handler, so the {} still owed need at least {} ms at that concurrency, more than twice the {} ms left",
            self.max_in_flight,
            self.steady.as_millis(),
            self.hold.as_millis(),
            self.owed,
            self.needed.as_millis(),
            self.left.as_millis()
        )
    }
}

impl Pace {
    /// Follows the most handlers the server ever ran at once, from the
    /// scope's gauge and from the Holds' answers (each says how many were
    /// inside when it entered); resolves with [`TooSlow`] once that maximum
    /// has held for [`Pace::STEADY_HOLDS`] holds with answers arriving, and
    /// the Holds still owed cannot finish at that concurrency in twice the
    /// time left. Never for a server that runs them as they come (its
    /// maximum soon covers all it was sent). The gauge is read beside the
    /// decision, not before it: a server that runs one handler at a time
    /// for all its connections answers it only when every Hold before it
    /// has had its turn, and the answers must still decide then.
    async fn too_slow(
        &self,
        control: &mut ProbeServiceClient<Channel>,
        scope: &str,
        answered: &Answered,
        rpc_limit: Duration,
    ) -> TooSlow {
        let gauge_max = AtomicU32::new(0);
        let follow_gauge = async {
            while let Ok(gauge) = read_gauge(control, scope, rpc_limit).await {
                gauge_max.fetch_max(gauge.max_in_flight, Ordering::Relaxed);
                tokio::time::sleep(self.hold / 4).await;
            }
            std::future::pending::<TooSlow>().await
        };
        tokio::select! {
            slow = self.decide(&gauge_max, answered) => slow,
            never = follow_gauge => never,
        }
    }

    /// The decision of [`Pace::too_slow`], on the maximum seen so far.
    async fn decide(&self, gauge_max: &AtomicU32, answered: &Answered) -> TooSlow {
        let (mut max_in_flight, mut since) = (0u32, Instant::now());
        loop {
            tokio::time::sleep(self.hold / 4).await;
            let seen = gauge_max
                .load(Ordering::Relaxed)
                .max(answered.max_in_flight_at_entry.load(Ordering::Relaxed));
            if seen > max_in_flight {
                (max_in_flight, since) = (seen, Instant::now());
                continue;
            }
            let done = answered.count.load(Ordering::Relaxed);
            let steady = since.elapsed();
            if max_in_flight == 0 || done == 0 || steady < self.hold * Self::STEADY_HOLDS {
                continue;
            }
            let owed = self.issued.saturating_sub(done);
            let rounds = owed.div_ceil(max_in_flight as usize);
            let needed = self
                .hold
                .saturating_mul(u32::try_from(rounds).unwrap_or(u32::MAX));
            let left = self.deadline.saturating_duration_since(Instant::now());
            if needed > left.saturating_mul(2) {
                return TooSlow {
                    max_in_flight,
                    owed,
                    hold: self.hold,
                    steady,
                    needed,
                    left,
                };
            }
        }
    }

    /// Holds the server's maximum in flight must stay unchanged for.
    const STEADY_HOLDS: u32 = 2;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pace(deadline_in: Duration) -> Pace {
        Pace {
            issued: 125,
            hold: Duration::from_millis(40),
            deadline: Instant::now() + deadline_in,
        }
    }

    #[tokio::test]
    async fn answers_alone_prove_a_server_too_slow_when_its_gauge_never_answers() {
        let answered = Answered::default();
        answered.record(Some(1));
        let gauge_never_read = AtomicU32::new(0);
        let pace = pace(Duration::from_secs(2));
        let slow = tokio::time::timeout(
            Duration::from_secs(5),
            pace.decide(&gauge_never_read, &answered),
        )
        .await
        .expect("one Hold at a time cannot answer 124 more in time");
        assert_eq!(slow.max_in_flight, 1);
        assert_eq!(slow.owed, 124);
        assert!(slow.needed > slow.left * 2, "{slow}");
    }

    #[tokio::test]
    async fn a_server_that_ran_the_holds_together_is_never_too_slow() {
        let answered = Answered::default();
        answered.record(Some(100));
        let gauge = AtomicU32::new(100);
        let pace = pace(Duration::from_secs(2));
        let waited =
            tokio::time::timeout(Duration::from_millis(600), pace.decide(&gauge, &answered)).await;
        assert!(
            waited.is_err(),
            "no proof against a server running 100 at once: {waited:?}"
        );
    }
}
