//! `conformance::sync::outcome`: the handler states behind ProbeService.Observe.

use conformance::sync::outcome::{HandlerState, OutcomeRecorder};
use loom::sync::Arc;
use loom::thread;

use crate::check;

/// (g) A handler reuses a tag and finishes (its record is then dropped)
/// while the previous handler's record is dropped (cancelled): the first
/// final state of each handler wins, and an observer only ever sees the
/// states in order.
#[test]
fn outcome_first_final_state_wins() {
    check("outcome_first_final_state_wins", || {
        let recorder = Arc::new(OutcomeRecorder::new());
        let old = recorder.begin("t", "old", None);
        let new_handler = {
            let recorder = Arc::clone(&recorder);
            thread::spawn(move || {
                let record = recorder.begin("t", "new", None);
                // `finish` settles, then drops the record: the drop must not
                // turn FINISHED into CANCELLED.
                record.finish();
            })
        };
        let old_handler = thread::spawn(move || drop(old));
        let timeline = [
            (HandlerState::Running, "old"),
            (HandlerState::Cancelled, "old"),
            (HandlerState::Running, "new"),
            (HandlerState::Finished, "new"),
        ];
        let position = |recorder: &OutcomeRecorder| {
            let outcome = recorder.get("t").expect("tag recorded");
            let seen = (outcome.state, outcome.connection_id.as_str());
            timeline
                .iter()
                .position(|&step| step == seen)
                .unwrap_or_else(|| panic!("impossible state {seen:?}"))
        };
        let first = position(&recorder);
        new_handler.join().expect("new handler");
        old_handler.join().expect("old handler");
        let last = position(&recorder);
        assert!(first <= last, "went back from {first} to {last}");
        assert_eq!(last, 3, "the newer handler finished");
    });
}
