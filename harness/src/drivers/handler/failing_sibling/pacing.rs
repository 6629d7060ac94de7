//! Whether the siblings were provably open when the failing call was
//! answered, from the work their requests impose; and when they were not,
//! what the timing shows about the server.

use crate::drivers::prelude::*;

/// How the sibling streams were paced.
pub(super) struct Pacing {
    pub siblings: usize,
    /// Responses each sibling streams.
    pub responses: usize,
    /// The server-side delay before each response.
    pub interval: Duration,
    /// When the siblings were sent.
    pub sent: Instant,
    /// How long all their first responses took to arrive.
    pub firsts_took: Duration,
}

fn times(interval: Duration, count: usize) -> Duration {
    interval * u32::try_from(count).unwrap_or(u32::MAX)
}

/// How long the siblings' first responses may take before the verdict is
/// settled: once all of them have not arrived by then, the failing call can
/// only be answered after the siblings' paced work (so they are not
/// provably open during it) and their firsts took half their intervals end
/// to end: [`Pacing::serial`]'s first verdict, whatever happens next.
/// None for a single sibling, which has no staircase to show.
pub(super) fn firsts_settled_after(
    siblings: usize,
    responses: usize,
    interval: Duration,
) -> Option<Duration> {
    (siblings > 1).then(|| (times(interval, siblings) / 2).max(times(interval, responses)))
}

impl Pacing {
    /// A sibling's handler works at least `responses` intervals from its
    /// request (sent at `sent`), and it had started before the failing call
    /// was sent (its first response had arrived). So while that work could
    /// not be done before the failing call was answered (at `failed_at`),
    /// the sibling was provably open during the failure, whenever the server
    /// flushed its responses.
    pub fn open_during(&self, failed_at: Instant) -> bool {
        self.sent + times(self.interval, self.responses) > failed_at
    }

    /// The verdict when the siblings were not provably open during the
    /// failure; `took` is how long the failing call took to be answered.
    pub fn serial(&self, took: Duration) -> DriverResult {
        // Half of it: the last sibling's remaining work began when it sent
        // its first response, a moment before the failing call was sent.
        let left = times(self.interval, self.responses - 1);
        // Each first response is due one interval after its request; all of
        // them taking half the siblings' intervals end to end means their
        // handlers' waits ran one after another.
        let serial = times(self.interval, self.siblings);
        if self.siblings > 1 && self.firsts_took >= serial / 2 {
            return Ok(Finding::fail(format!(
                "the {} sibling streams' first responses, each due {} ms after its request, took {} ms to arrive (their intervals end to end: {} ms): the server ran their handlers' waits one after another",
                self.siblings,
                self.interval.as_millis(),
                self.firsts_took.as_millis(),
                serial.as_millis()
            )));
        }
        if took < left / 2 {
            return Err(DriverError::target(format!(
                "inconclusive: the siblings' first responses took so long that their imposed work ({} ms) could not outlast the failing call; raise interval_ms (it is {} ms)",
                times(self.interval, self.responses).as_millis(),
                self.interval.as_millis()
            )));
        }
        // The failing call, due at once, took about the paced work each
        // sibling still had when it was sent: its handler waited for theirs.
        Ok(Finding::fail(format!(
            "the failing call, due at once, was answered {} ms after it was sent, as late as the {} ms of paced responses each open sibling still had (within half): the server did not run its handler beside the open siblings",
            took.as_millis(),
            left.as_millis()
        )))
    }
}
