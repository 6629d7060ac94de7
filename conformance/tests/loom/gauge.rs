//! `conformance::sync::gauge`: the in-flight gauge behind ProbeService.Gauge.

use conformance::sync::gauge::Gauge;
use loom::sync::Arc;
use loom::thread;

use crate::check;

/// (f) Two handlers enter and leave while a reader resets the maximum: the
/// maxima read before and after the reset are together exactly the highest
/// count any handler entered at.
#[test]
fn gauge_max_is_exact() {
    check("gauge_max_is_exact", || {
        let gauge = Arc::new(Gauge::new());
        let handlers: Vec<_> = (0..2)
            .map(|_| {
                let gauge = Arc::clone(&gauge);
                thread::spawn(move || {
                    let (guard, now) = gauge.enter();
                    drop(guard);
                    now
                })
            })
            .collect();
        let before = gauge.read_and_reset_max();
        assert!(before.max_in_flight >= before.in_flight);
        let nows: Vec<u32> = handlers
            .into_iter()
            .map(|t| t.join().expect("handler"))
            .collect();
        let after = gauge.read();
        assert_eq!(after.in_flight, 0);
        assert!(nows.iter().all(|&now| (1..=2).contains(&now)), "{nows:?}");
        let highest = nows.iter().copied().max().unwrap_or(0);
        assert_eq!(
            before.max_in_flight.max(after.max_in_flight),
            highest,
            "before {before:?}, after {after:?}, entries {nows:?}"
        );
        // The reset kept the handlers still inside.
        assert!(after.max_in_flight >= before.in_flight);
    });
}
