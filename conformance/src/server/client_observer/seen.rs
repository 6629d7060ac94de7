//! What the server saw of each barrier group and Interlock stream, kept for
//! `ClientObserver.Seen`: the evidence of client-mode verdicts.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use tokio::sync::watch;

use crate::proto::probe::{SeenCall, SeenExchange, SeenResponse};

/// Names kept at once; the oldest go first. A client-mode run uses a few
/// names per scenario, so this only bounds a server that runs for long.
const NAMES_KEPT: usize = 4096;
/// Calls kept per name (a barrier of more parties is not recorded beyond).
const CALLS_KEPT: usize = 100_000;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug)]
struct Entry {
    created: Instant,
    calls: Vec<SeenCall>,
    /// Set once the harness broke the group's barrier (`Break`).
    broken: watch::Sender<bool>,
    exchanges: Vec<Arc<Mutex<ExchangeRecord>>>,
}

/// One Interlock stream's record, and since when it has been waiting for
/// the transport to take a response (a stall in progress counts too).
#[derive(Debug, Default)]
pub(crate) struct ExchangeRecord {
    pub seen: SeenExchange,
    pub waiting_since: Option<Instant>,
}

impl ExchangeRecord {
    fn snapshot(&self) -> SeenExchange {
        let mut seen = self.seen.clone();
        if let Some(since) = self.waiting_since {
            let waiting = u32::try_from(since.elapsed().as_millis()).unwrap_or(u32::MAX);
            seen.longest_send_wait_ms = seen.longest_send_wait_ms.max(waiting);
        }
        seen
    }
}

/// The ledger: one entry per group or tag.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    by_name: Mutex<BTreeMap<String, Entry>>,
}

/// A call recorded on entry, marked released when its barrier lets it out.
#[derive(Debug)]
pub(crate) struct CallSlot {
    name: String,
    index: Option<usize>,
}

impl Seen {
    fn with_entry<R>(&self, name: &str, work: impl FnOnce(&mut Entry) -> R) -> R {
        let mut by_name = lock(&self.by_name);
        if !by_name.contains_key(name) && by_name.len() >= NAMES_KEPT {
            let oldest = by_name
                .iter()
                .min_by_key(|(_, entry)| entry.created)
                .map(|(name, _)| name.clone());
            if let Some(oldest) = oldest {
                by_name.remove(&oldest);
            }
        }
        let entry = by_name.entry(name.to_owned()).or_insert_with(|| Entry {
            created: Instant::now(),
            calls: Vec::new(),
            broken: watch::Sender::new(false),
            exchanges: Vec::new(),
        });
        work(entry)
    }

    /// Records a call entering the barrier of `group`.
    pub(crate) fn enter(
        &self,
        group: &str,
        method: &str,
        caller: &str,
        connection_id: &str,
    ) -> CallSlot {
        let index = self.with_entry(group, |entry| {
            (entry.calls.len() < CALLS_KEPT).then(|| {
                entry.calls.push(SeenCall {
                    method: method.to_owned(),
                    caller: caller.to_owned(),
                    connection_id: connection_id.to_owned(),
                    released: false,
                });
                entry.calls.len() - 1
            })
        });
        CallSlot {
            name: group.to_owned(),
            index,
        }
    }

    /// Marks the call released by its barrier.
    pub(crate) fn released(&self, slot: &CallSlot) {
        if let Some(index) = slot.index {
            self.with_entry(&slot.name, |entry| {
                if let Some(call) = entry.calls.get_mut(index) {
                    call.released = true;
                }
            });
        }
    }

    /// Breaks the barrier of `group` (see `ClientObserver.Break`); returns
    /// how many calls of it had entered.
    pub(crate) fn break_group(&self, group: &str) -> usize {
        self.with_entry(group, |entry| {
            entry.broken.send_replace(true);
            entry.calls.len()
        })
    }

    /// Resolves once the barrier of `group` is broken (at once if it
    /// already is); never if the group's record is dropped first.
    pub(crate) fn broken(&self, group: &str) -> impl std::future::Future<Output = ()> + use<> {
        let mut broken = self.with_entry(group, |entry| entry.broken.subscribe());
        async move {
            if broken.wait_for(|broken| *broken).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Files the record of one Interlock stream under its tag.
    pub(crate) fn add_exchange(&self, tag: &str, record: Arc<Mutex<ExchangeRecord>>) {
        self.with_entry(tag, |entry| entry.exchanges.push(record));
    }

    /// Everything recorded under `name`, and whether every exchange has ended.
    pub(crate) fn read(&self, name: &str) -> (SeenResponse, bool) {
        let by_name = lock(&self.by_name);
        let Some(entry) = by_name.get(name) else {
            return (SeenResponse::default(), true);
        };
        let exchanges: Vec<SeenExchange> = entry
            .exchanges
            .iter()
            .map(|record| lock(record).snapshot())
            .collect();
        let ended = exchanges.iter().all(|exchange| exchange.ended);
        let response = SeenResponse {
            calls: entry.calls.clone(),
            exchanges,
        };
        (response, ended)
    }
}

/// Updates an exchange record.
pub(crate) fn update(record: &Mutex<ExchangeRecord>, change: impl FnOnce(&mut ExchangeRecord)) {
    change(&mut lock(record));
}
