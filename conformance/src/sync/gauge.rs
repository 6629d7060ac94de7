//! In-flight gauges: how many handlers of a scope are inside now, and the most
//! that were inside at once since the last reset.
//!
//! Current and maximum live under one lock so that the maximum is exact: an
//! entry racing a reset can never be lost from the maximum (two atomics could
//! not promise that).

use std::collections::HashMap;

use super::shim::{Arc, Mutex, lock};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Handlers inside now.
    pub in_flight: u32,
    /// Most handlers inside at once since the last reset.
    pub max_in_flight: u32,
}

/// One gauge.
#[derive(Debug, Default)]
pub struct Gauge {
    /// Shared with the guards, so that entering only needs `&self` (a
    /// `self: &Arc<Self>` receiver would not accept loom's `Arc`).
    counts: Arc<Mutex<Counts>>,
}

impl Gauge {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one handler in until the returned guard is dropped. Returns the
    /// guard and the in-flight count including this handler.
    pub fn enter(&self) -> (GaugeGuard, u32) {
        let mut counts = lock(&self.counts);
        counts.in_flight = counts.in_flight.saturating_add(1);
        counts.max_in_flight = counts.max_in_flight.max(counts.in_flight);
        let now = counts.in_flight;
        drop(counts);
        (
            GaugeGuard {
                counts: Arc::clone(&self.counts),
            },
            now,
        )
    }

    /// Reads the counts.
    pub fn read(&self) -> Counts {
        *lock(&self.counts)
    }

    /// Reads the counts, then sets the maximum back to the current count.
    pub fn read_and_reset_max(&self) -> Counts {
        let mut counts = lock(&self.counts);
        let read = *counts;
        counts.max_in_flight = counts.in_flight;
        read
    }
}

/// Keeps a handler counted in its gauge; leaving (drop) counts it out.
#[derive(Debug)]
pub struct GaugeGuard {
    counts: Arc<Mutex<Counts>>,
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        let mut counts = lock(&self.counts);
        counts.in_flight = counts.in_flight.saturating_sub(1);
    }
}

/// Gauges by scope name, created on first use.
#[derive(Debug, Default)]
pub struct Gauges {
    by_scope: Mutex<HashMap<String, Arc<Gauge>>>,
}

impl Gauges {
    pub fn new() -> Self {
        Self::default()
    }

    /// The gauge of `scope`, created empty if it did not exist.
    pub fn get(&self, scope: &str) -> Arc<Gauge> {
        let mut map = lock(&self.by_scope);
        if let Some(gauge) = map.get(scope) {
            return Arc::clone(gauge);
        }
        let gauge = Arc::new(Gauge::new());
        map.insert(scope.to_owned(), Arc::clone(&gauge));
        gauge
    }
}
