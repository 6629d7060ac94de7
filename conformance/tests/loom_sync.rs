//! Loom models of the suite's own concurrency primitives (`conformance::sync`).
//!
//! Run with `scripts/loom.sh` (release, `--cfg conformance_loom`). Each model
//! is small (at most 3 threads, 2 or 3 messages) and explored with a
//! preemption bound of 2; each prints how many interleavings loom ran.
//!
//! Two negative controls show that the models can fail: a frame writer that
//! locks per byte instead of per frame, and a duplex whose close does not take
//! the lock its send takes. Each runs a correct twin that must pass and the
//! broken one that loom must catch.
#![cfg(conformance_loom)]

use std::collections::VecDeque;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::task::{Context, Waker};
use std::time::Instant;

use conformance::sync::duplex::{self, RecvHalf, SendError};
use conformance::sync::gauge::Gauge;
use conformance::sync::outcome::{HandlerState, OutcomeRecorder};
use conformance::sync::rendezvous::Barrier;
use futures::stream::FusedStream;
use loom::future::block_on;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};
use loom::thread;

/// Explores `model` with a preemption bound of 2, prints and returns the
/// number of interleavings run.
fn check<F>(name: &str, model: F) -> usize
where
    F: Fn() + Sync + Send + 'static,
{
    let count = std::sync::Arc::new(StdAtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&count);
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    let start = Instant::now();
    builder.check(move || {
        counter.fetch_add(1, StdOrdering::Relaxed);
        model();
    });
    let n = count.load(StdOrdering::Relaxed);
    println!(
        "model {name}: {n} interleavings ({:.2} s)",
        start.elapsed().as_secs_f64()
    );
    n
}

/// Runs a model that must fail and returns its panic message, with the
/// default panic output silenced (the failure is the expected result).
fn check_expecting_failure<F>(name: &str, model: F) -> String
where
    F: Fn() + Sync + Send + 'static,
{
    let count = std::sync::Arc::new(StdAtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&count);
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    let start = Instant::now();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = catch_unwind(AssertUnwindSafe(|| {
        builder.check(move || {
            counter.fetch_add(1, StdOrdering::Relaxed);
            model();
        });
    }));
    std::panic::set_hook(hook);
    let n = count.load(StdOrdering::Relaxed);
    let Err(payload) = result else {
        panic!("model {name}: loom explored {n} interleavings and found no failure");
    };
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    println!(
        "model {name}: failure found at interleaving {n} ({:.2} s): {message}",
        start.elapsed().as_secs_f64()
    );
    message
}

/// Receives until end-of-stream, checking that the end comes exactly once.
fn drain(rx: &mut RecvHalf<u32>) -> Vec<u32> {
    block_on(async {
        let mut got = Vec::new();
        loop {
            assert!(!rx.is_terminated(), "end-of-stream before the last message");
            match rx.recv().await {
                Some(msg) => got.push(msg),
                None => break,
            }
        }
        // The end was a single transition; polling again stays at the end.
        assert!(rx.is_terminated());
        assert_eq!(rx.recv().await, None);
        got
    })
}

// ---------------------------------------------------------------------------
// duplex

/// (a) One sender, one receiver, capacity 1 so the sender must wait: every
/// message arrives once, in order, then end-of-stream (loom reports a lost
/// wakeup as a deadlock).
#[test]
fn duplex_one_sender_in_order() {
    check("duplex_one_sender_in_order", || {
        let (tx, mut rx) = duplex::channel::<u32>(1);
        let sender = thread::spawn(move || {
            block_on(async {
                for msg in 1..=3 {
                    tx.send(msg).await.expect("the receiver is alive");
                }
            });
            tx.close();
        });
        assert_eq!(drain(&mut rx), [1, 2, 3]);
        sender.join().expect("sender");
    });
}

/// (a') Two clones, one receiver: each clone keeps its order, the stream ends
/// once after the last clone is dropped.
#[test]
fn duplex_two_clones_keep_their_order() {
    check("duplex_two_clones_keep_their_order", || {
        let (tx, mut rx) = duplex::channel::<u32>(1);
        let tx2 = tx.clone();
        let first = thread::spawn(move || {
            block_on(async {
                for msg in [1, 2] {
                    tx.send(msg).await.expect("the receiver is alive");
                }
            });
        });
        let second = thread::spawn(move || {
            block_on(tx2.send(10)).expect("the receiver is alive");
        });
        let got = drain(&mut rx);
        assert_eq!(got.len(), 3, "{got:?}");
        let ones: Vec<u32> = got.iter().copied().filter(|&m| m < 10).collect();
        assert_eq!(ones, [1, 2], "{got:?}");
        assert!(got.contains(&10), "{got:?}");
        first.join().expect("first");
        second.join().expect("second");
    });
}

/// (b) `close` racing `send` on the same handle: a message is accepted
/// exactly when the receiver gets it, and a send refused because of the close
/// gives its message back.
#[test]
fn duplex_close_racing_send_loses_nothing() {
    check("duplex_close_racing_send_loses_nothing", || {
        let (tx, mut rx) = duplex::channel::<u32>(1);
        let tx = Arc::new(tx);
        let closer_tx = Arc::clone(&tx);
        let sender = thread::spawn(move || {
            block_on(async {
                let mut accepted = Vec::new();
                for msg in [1, 2] {
                    match tx.send(msg).await {
                        Ok(()) => accepted.push(msg),
                        Err(SendError::Closed(back)) => assert_eq!(back, msg),
                        Err(other) => panic!("unexpected {other:?}"),
                    }
                }
                accepted
            })
        });
        let closer = thread::spawn(move || closer_tx.close());
        let delivered = drain(&mut rx);
        let accepted = sender.join().expect("sender");
        closer.join().expect("closer");
        assert_eq!(delivered, accepted, "accepted ⇒ delivered, in order");
    });
}

/// (b') `close` wakes a `send` of the same handle that waits on a full queue
/// the receiver does not touch: it fails with its message back, and the
/// receiver then gets the accepted message and the end.
#[test]
fn duplex_close_wakes_blocked_send() {
    check("duplex_close_wakes_blocked_send", || {
        let (tx, mut rx) = duplex::channel::<u32>(1);
        block_on(tx.send(0)).expect("room for one");
        let tx = Arc::new(tx);
        let closer_tx = Arc::clone(&tx);
        let sender = thread::spawn(move || block_on(tx.send(1)));
        let closer = thread::spawn(move || closer_tx.close());
        assert_eq!(sender.join().expect("sender"), Err(SendError::Closed(1)));
        closer.join().expect("closer");
        assert_eq!(drain(&mut rx), [0]);
    });
}

/// (b'') `reset` racing `send` and `recv`: the receiver gets a prefix of the
/// accepted messages, then `None` with the reset visible; a send refused
/// because of the reset gives its message back; nobody is left waiting.
#[test]
fn duplex_reset_racing_send() {
    check("duplex_reset_racing_send", || {
        let (tx, mut rx) = duplex::channel::<u32>(1);
        let tx = Arc::new(tx);
        let resetter_tx = Arc::clone(&tx);
        let sender = thread::spawn(move || {
            block_on(async {
                let mut accepted = Vec::new();
                for msg in [1, 2] {
                    match tx.send(msg).await {
                        Ok(()) => accepted.push(msg),
                        Err(SendError::Reset(back)) => assert_eq!(back, msg),
                        Err(other) => panic!("unexpected {other:?}"),
                    }
                }
                tx.close();
                accepted
            })
        });
        let resetter = thread::spawn(move || resetter_tx.reset());
        let mut delivered = Vec::new();
        while let Some(msg) = block_on(rx.recv()) {
            delivered.push(msg);
        }
        let accepted = sender.join().expect("sender");
        resetter.join().expect("resetter");
        assert!(
            accepted.starts_with(&delivered),
            "accepted {accepted:?}, delivered {delivered:?}"
        );
        // The reset came before the end of the stream, or after it (then a
        // no-op): either way every accepted message was delivered or the
        // receiver saw the reset.
        assert!(rx.is_reset() || delivered == accepted);
    });
}

/// (c) Dropping the receiver wakes a sender blocked on a full queue (capacity
/// 1), which gets its message back.
#[test]
fn duplex_receiver_drop_wakes_blocked_sender() {
    check("duplex_receiver_drop_wakes_blocked_sender", || {
        let (tx, rx) = duplex::channel::<u32>(1);
        block_on(tx.send(0)).expect("room for one");
        let sender = thread::spawn(move || block_on(tx.send(1)));
        drop(rx);
        let result = sender.join().expect("sender");
        assert_eq!(result, Err(SendError::ReceiverGone(1)));
    });
}

/// (d) Two tasks sharing one handle: a `send` polled while the other is in
/// progress fails with `Concurrent` and its message back; nothing is lost or
/// delivered twice. Loom must reach the detection in some interleaving.
#[test]
fn duplex_concurrent_send_on_one_handle_is_detected() {
    let detected = std::sync::Arc::new(StdAtomicUsize::new(0));
    let seen = std::sync::Arc::clone(&detected);
    let n = check(
        "duplex_concurrent_send_on_one_handle_is_detected",
        move || {
            let (tx, mut rx) = duplex::channel::<u32>(1);
            block_on(tx.send(0)).expect("room for one");
            let tx = Arc::new(tx);
            let senders: Vec<_> = [1, 2]
                .into_iter()
                .map(|msg| {
                    let tx = Arc::clone(&tx);
                    thread::spawn(move || block_on(tx.send(msg)))
                })
                .collect();
            drop(tx);
            let delivered = drain(&mut rx);
            let results: Vec<_> = senders
                .into_iter()
                .map(|sender| sender.join().expect("sender"))
                .collect();
            let mut accepted = vec![0];
            let mut refused = 0;
            for (msg, result) in [1, 2].into_iter().zip(results) {
                match result {
                    Ok(()) => accepted.push(msg),
                    Err(SendError::Concurrent(back)) => {
                        assert_eq!(back, msg);
                        refused += 1;
                    }
                    Err(other) => panic!("unexpected {other:?}"),
                }
            }
            // One in progress at a time: at most one refusal, never both.
            assert!(refused <= 1);
            let mut sorted = delivered.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, accepted, "delivered {delivered:?}");
            assert_eq!(delivered[0], 0);
            if refused == 1 {
                seen.fetch_add(1, StdOrdering::Relaxed);
            }
        },
    );
    let detected = detected.load(StdOrdering::Relaxed);
    println!("  concurrent send detected in {detected} of {n} interleavings");
    assert!(detected > 0, "loom never reached a concurrent send");
}

// ---------------------------------------------------------------------------
// rendezvous

/// (e) N = 3, three threads: nobody is released before all three are in, and
/// the arrival orders are 1, 2, 3.
#[test]
fn barrier_releases_exactly_at_three() {
    check("barrier_releases_exactly_at_three", || {
        let barrier = Arc::new(Barrier::new(3));
        let entered = Arc::new(AtomicUsize::new(0));
        let party = {
            let barrier = Arc::clone(&barrier);
            let entered = Arc::clone(&entered);
            move || {
                entered.fetch_add(1, SeqCst);
                let order = block_on(barrier.arrive());
                assert_eq!(entered.load(SeqCst), 3, "released before all arrived");
                order
            }
        };
        let others: Vec<_> = (0..2).map(|_| thread::spawn(party.clone())).collect();
        let mut orders = vec![party()];
        orders.extend(others.into_iter().map(|t| t.join().expect("party")));
        orders.sort_unstable();
        assert_eq!(orders, [1, 2, 3]);
        assert_eq!(barrier.waiting(), 0);
    });
}

/// (e) N = 2, reused: two threads arrive twice each while a third reads the
/// count. Each release pairs one arrival of each thread (orders 1 and 2),
/// and the count never reaches N (a late-polled waiter of the first release
/// is not counted in the second).
#[test]
fn barrier_releases_exactly_at_two_and_resets() {
    check("barrier_releases_exactly_at_two_and_resets", || {
        let barrier = Arc::new(Barrier::new(2));
        let parties: Vec<_> = (0..2)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    let first = block_on(barrier.arrive());
                    let second = block_on(barrier.arrive());
                    [first, second]
                })
            })
            .collect();
        assert!(barrier.waiting() < 2);
        let [a, b]: [[u32; 2]; 2] = parties
            .into_iter()
            .map(|t| t.join().expect("party"))
            .collect::<Vec<_>>()
            .try_into()
            .expect("two parties");
        assert_eq!(a[0] + b[0], 3, "first release: {a:?} {b:?}");
        assert_eq!(a[1] + b[1], 3, "second release: {a:?} {b:?}");
        assert_eq!(barrier.waiting(), 0);
    });
}

/// (e) A waiter that is dropped (cancelled) leaves the count: with N = 3, a
/// cancelled arrival racing a real one, then two more, releases only when the
/// three real parties are in, numbered 1, 2, 3.
#[test]
fn barrier_cancelled_waiter_leaves_the_count() {
    check("barrier_cancelled_waiter_leaves_the_count", || {
        let barrier = Arc::new(Barrier::new(3));
        let entered = Arc::new(AtomicUsize::new(0));
        let party = {
            let barrier = Arc::clone(&barrier);
            let entered = Arc::clone(&entered);
            move || {
                entered.fetch_add(1, SeqCst);
                let order = block_on(barrier.arrive());
                assert_eq!(entered.load(SeqCst), 3, "released early");
                order
            }
        };
        let mut cancelled = barrier.arrive();
        let mut cx = Context::from_waker(Waker::noop());
        assert!(Pin::new(&mut cancelled).poll(&mut cx).is_pending());
        let racing = thread::spawn(party.clone());
        drop(cancelled);
        let later = thread::spawn(party.clone());
        let mut orders = vec![party()];
        orders.push(racing.join().expect("racing party"));
        orders.push(later.join().expect("later party"));
        orders.sort_unstable();
        assert_eq!(orders, [1, 2, 3]);
        assert_eq!(barrier.waiting(), 0);
    });
}

// ---------------------------------------------------------------------------
// gauge

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

// ---------------------------------------------------------------------------
// outcome

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

// ---------------------------------------------------------------------------
// negative controls

/// Writes a length-prefixed frame `[2, id, id]`, locking once per frame or,
/// broken, once per byte.
fn write_frame(buffer: &Mutex<Vec<u8>>, id: u8, lock_per_byte: bool) {
    let frame = [2, id, id];
    if lock_per_byte {
        for byte in frame {
            buffer.lock().expect("buffer lock").push(byte);
        }
    } else {
        buffer
            .lock()
            .expect("buffer lock")
            .extend_from_slice(&frame);
    }
}

fn frames_model(lock_per_byte: bool) -> impl Fn() + Sync + Send + 'static {
    move || {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writers: Vec<_> = [0xA, 0xB]
            .into_iter()
            .map(|id| {
                let buffer = Arc::clone(&buffer);
                thread::spawn(move || write_frame(&buffer, id, lock_per_byte))
            })
            .collect();
        for writer in writers {
            writer.join().expect("writer");
        }
        let bytes = buffer.lock().expect("buffer lock").clone();
        let mut rest = bytes.as_slice();
        while let [len, tail @ ..] = rest {
            let len = usize::from(*len);
            let payload = tail.get(..len).unwrap_or(tail);
            let whole = len == 2 && payload.len() == 2 && payload.iter().all(|&b| b == payload[0]);
            assert!(
                whole && [0xA, 0xB].contains(&payload[0]),
                "corrupt frame in {bytes:02x?}"
            );
            rest = &tail[len..];
        }
    }
}

/// Two writers of length-prefixed frames into one buffer: locking per frame
/// passes, locking per byte interleaves frames and loom must find it.
#[test]
fn negative_control_frames_locked_per_byte() {
    check("frames_locked_per_frame", frames_model(false));
    let message = check_expecting_failure("frames_locked_per_byte", frames_model(true));
    assert!(message.contains("corrupt frame"), "{message}");
}

/// A deliberately broken mini duplex: `close` sets a flag that `send` checks
/// before taking the queue lock, so a send can check, lose the CPU to close
/// and to a receiver that sees the end, then enqueue a message that is
/// accepted but never delivered. Its fixed twin keeps the flag under the
/// lock, as `conformance::sync::duplex` does.
struct MiniDuplex {
    /// The queue and, in the fixed variant, the closed flag.
    state: Mutex<(VecDeque<u32>, bool)>,
    /// The broken variant's closed flag, outside the lock.
    unsynchronised_closed: AtomicBool,
    broken: bool,
}

impl MiniDuplex {
    fn new(broken: bool) -> Self {
        Self {
            state: Mutex::new((VecDeque::new(), false)),
            unsynchronised_closed: AtomicBool::new(false),
            broken,
        }
    }

    fn send(&self, msg: u32) -> bool {
        if self.broken {
            if self.unsynchronised_closed.load(SeqCst) {
                return false;
            }
            self.state.lock().expect("lock").0.push_back(msg);
            return true;
        }
        let mut state = self.state.lock().expect("lock");
        if state.1 {
            return false;
        }
        state.0.push_back(msg);
        true
    }

    fn close(&self) {
        if self.broken {
            self.unsynchronised_closed.store(true, SeqCst);
        } else {
            self.state.lock().expect("lock").1 = true;
        }
    }

    /// Spins (yielding to loom) until a message or the end.
    fn recv(&self) -> Option<u32> {
        loop {
            {
                let mut state = self.state.lock().expect("lock");
                if let Some(msg) = state.0.pop_front() {
                    return Some(msg);
                }
                let closed = if self.broken {
                    self.unsynchronised_closed.load(SeqCst)
                } else {
                    state.1
                };
                if closed {
                    return None;
                }
            }
            thread::yield_now();
        }
    }
}

fn mini_duplex_model(broken: bool) -> impl Fn() + Sync + Send + 'static {
    move || {
        let duplex = Arc::new(MiniDuplex::new(broken));
        let sender = {
            let duplex = Arc::clone(&duplex);
            thread::spawn(move || {
                [1, 2]
                    .into_iter()
                    .filter(|&m| duplex.send(m))
                    .collect::<Vec<_>>()
            })
        };
        let closer = {
            let duplex = Arc::clone(&duplex);
            thread::spawn(move || duplex.close())
        };
        let mut delivered = Vec::new();
        while let Some(msg) = duplex.recv() {
            delivered.push(msg);
        }
        let accepted = sender.join().expect("sender");
        closer.join().expect("closer");
        assert_eq!(
            delivered, accepted,
            "accepted message lost: accepted {accepted:?}, delivered {delivered:?}"
        );
    }
}

/// The duplex defect toggle: loom passes the fixed mini duplex and catches
/// the lost message of the one with an unsynchronised close.
#[test]
fn negative_control_duplex_unsynchronised_close() {
    check("mini_duplex_close_under_lock", mini_duplex_model(false));
    let message =
        check_expecting_failure("mini_duplex_unsynchronised_close", mini_duplex_model(true));
    assert!(message.contains("accepted message lost"), "{message}");
}
