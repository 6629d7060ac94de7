//! `conformance::sync::duplex`: the stream halves a handler sends and receives on.

use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};

use conformance::sync::duplex::{self, RecvHalf, SendError};
use futures::stream::FusedStream;
use loom::future::block_on;
use loom::sync::Arc;
use loom::thread;

use crate::check;

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
