//! Poll-level checks of `conformance::sync` on std (no loom): each future is
//! polled by hand (`support/by_hand.rs`), so the tests see exactly when a
//! call is pending and when its waker fires.

#[macro_use]
#[path = "support/by_hand.rs"]
mod task;

use conformance::sync::duplex::{self, SendError};
use conformance::sync::rendezvous::Barrier;
use futures::StreamExt;
use futures::stream::FusedStream;

// ---------------------------------------------------------------------------
// duplex

#[test]
fn recv_on_empty_is_pending_until_a_send() {
    let (tx, mut rx) = duplex::channel::<u32>(2);
    let mut recv = task::spawn(rx.recv());
    assert_pending!(recv.poll());
    assert_pending!(recv.poll());

    // Things that are not a message do not wake the receiver.
    let tx2 = tx.clone();
    assert!(!recv.is_woken());

    let mut send = task::spawn(tx2.send(7));
    assert_ready_ok!(send.poll());
    assert!(recv.is_woken(), "a send wakes the waiting receiver");
    assert_ready_eq!(recv.poll(), Some(7));
}

#[test]
fn send_on_full_is_pending_until_the_receiver_takes_one() {
    let (tx, mut rx) = duplex::channel::<u32>(1);
    assert_ready_ok!(task::spawn(tx.send(1)).poll());

    let mut send = task::spawn(tx.send(2));
    assert_pending!(send.poll());
    assert!(!send.is_woken());

    assert_ready_eq!(task::spawn(rx.recv()).poll(), Some(1));
    assert!(send.is_woken(), "taking a message wakes the waiting sender");
    assert_ready_ok!(send.poll());
    drop(send);

    assert_ready_eq!(task::spawn(rx.recv()).poll(), Some(2));
}

#[test]
fn close_wakes_a_pending_recv_which_then_sees_the_end_once() {
    let (tx, mut rx) = duplex::channel::<u32>(4);
    assert_ready_ok!(task::spawn(tx.send(1)).poll());
    assert_ready_eq!(task::spawn(rx.recv()).poll(), Some(1));

    let mut recv = task::spawn(rx.recv());
    assert_pending!(recv.poll());
    tx.close();
    assert!(recv.is_woken(), "close wakes the waiting receiver");
    assert_ready_eq!(recv.poll(), None);
    drop(recv);

    assert!(rx.is_terminated());
    assert!(!rx.is_reset());
    // Fused: the end stays the end.
    assert_ready_eq!(task::spawn(rx.recv()).poll(), None);
    // A closed handle accepts nothing and gives the message back.
    assert_eq!(
        assert_ready!(task::spawn(tx.send(2)).poll()),
        Err(SendError::Closed(2))
    );
}

#[test]
fn close_delivers_every_accepted_message_first() {
    let (tx, rx) = duplex::channel::<u32>(3);
    for msg in 1..=3 {
        assert_ready_ok!(task::spawn(tx.send(msg)).poll());
    }
    tx.close();
    let mut stream = task::spawn(rx);
    for msg in 1..=3 {
        assert_ready_eq!(stream.poll_next(), Some(msg));
    }
    assert_ready_eq!(stream.poll_next(), None);
    assert!(stream.is_terminated());
}

#[test]
fn the_stream_half_closes_at_the_last_handle() {
    let (tx, mut rx) = duplex::channel::<u32>(2);
    let tx2 = tx.clone();
    let mut recv = task::spawn(rx.recv());
    assert_pending!(recv.poll());

    tx.close();
    assert!(!recv.is_woken(), "another handle is still open");
    assert_pending!(recv.poll());

    assert_ready_ok!(task::spawn(tx2.send(5)).poll());
    assert!(recv.is_woken());
    assert_ready_eq!(recv.poll(), Some(5));
    drop(recv);

    let mut recv = task::spawn(rx.recv());
    assert_pending!(recv.poll());
    drop(tx2);
    assert!(recv.is_woken(), "dropping the last handle half-closes");
    assert_ready_eq!(recv.poll(), None);
}

#[test]
fn close_wakes_a_send_of_the_same_handle_waiting_for_room() {
    let (tx, mut rx) = duplex::channel::<u32>(1);
    assert_ready_ok!(task::spawn(tx.send(1)).poll());
    let mut send = task::spawn(tx.send(2));
    assert_pending!(send.poll());
    tx.close();
    assert!(send.is_woken());
    assert_eq!(assert_ready!(send.poll()), Err(SendError::Closed(2)));
    drop(send);
    assert_ready_eq!(task::spawn(rx.recv()).poll(), Some(1));
    assert_ready_eq!(task::spawn(rx.recv()).poll(), None);
}

#[test]
fn reset_discards_and_wakes_both_sides() {
    let (tx, mut rx) = duplex::channel::<u32>(1);
    assert_ready_ok!(task::spawn(tx.send(1)).poll());
    let sender = tx.clone();
    let mut send = task::spawn(sender.send(2));
    assert_pending!(send.poll());

    tx.reset();
    assert!(send.is_woken(), "reset wakes a waiting sender");
    assert_eq!(assert_ready!(send.poll()), Err(SendError::Reset(2)));
    // The message accepted before the reset is discarded.
    assert_ready_eq!(task::spawn(rx.recv()).poll(), None);
    assert!(rx.is_reset());
    assert!(rx.is_terminated());
}

#[test]
fn reset_wakes_a_pending_recv() {
    let (tx, mut rx) = duplex::channel::<u32>(1);
    let mut recv = task::spawn(rx.recv());
    assert_pending!(recv.poll());
    tx.reset();
    assert!(recv.is_woken());
    assert_ready_eq!(recv.poll(), None);
    drop(recv);
    assert!(rx.is_reset());
    assert_eq!(
        assert_ready!(task::spawn(tx.send(1)).poll()),
        Err(SendError::Reset(1))
    );
}

#[test]
fn reset_after_the_end_changes_nothing() {
    let (tx, mut rx) = duplex::channel::<u32>(1);
    tx.close();
    assert_ready_eq!(task::spawn(rx.recv()).poll(), None);
    // A closed handle may still abort the stream, but the end came first.
    tx.reset();
    assert!(!rx.is_reset());
}

#[test]
fn dropping_the_receiver_wakes_a_blocked_sender() {
    let (tx, rx) = duplex::channel::<u32>(1);
    assert_ready_ok!(task::spawn(tx.send(1)).poll());
    let mut send = task::spawn(tx.send(2));
    assert_pending!(send.poll());
    drop(rx);
    assert!(send.is_woken());
    assert_eq!(assert_ready!(send.poll()), Err(SendError::ReceiverGone(2)));
    drop(send);
    assert_eq!(
        assert_ready!(task::spawn(tx.send(3)).poll()),
        Err(SendError::ReceiverGone(3))
    );
}

#[test]
fn a_concurrent_send_on_one_handle_is_detected() {
    let (tx, mut rx) = duplex::channel::<u32>(1);
    assert_ready_ok!(task::spawn(tx.send(1)).poll());

    // First send on `tx` waits for room: it is in progress.
    let mut first = task::spawn(tx.send(2));
    assert_pending!(first.poll());

    // A second send on the same handle fails at once, with its message.
    let second = assert_ready!(task::spawn(tx.send(3)).poll());
    assert_eq!(second, Err(SendError::Concurrent(3)));
    assert_eq!(second.map_err(SendError::into_inner), Err(3));

    // A clone is another handle: it may wait for room at the same time.
    let clone = tx.clone();
    let mut other = task::spawn(clone.send(4));
    assert_pending!(other.poll());

    // Room for one: both waiting sends are woken; the first to poll wins.
    assert_ready_eq!(task::spawn(rx.recv()).poll(), Some(1));
    assert!(first.is_woken());
    assert!(other.is_woken());
    assert_ready_ok!(first.poll());
    assert_pending!(other.poll());
    drop(first);

    // The first send finished: the handle is free again.
    let mut third = task::spawn(tx.send(5));
    assert_pending!(third.poll());

    assert_ready_eq!(task::spawn(rx.recv()).poll(), Some(2));
    assert_ready_ok!(other.poll());
    drop(other);
    assert_ready_eq!(task::spawn(rx.recv()).poll(), Some(4));
    assert_ready_ok!(third.poll());
    drop(third);
    assert_ready_eq!(task::spawn(rx.recv()).poll(), Some(5));
}

#[test]
fn a_cancelled_send_frees_the_handle() {
    let (tx, mut rx) = duplex::channel::<u32>(1);
    assert_ready_ok!(task::spawn(tx.send(1)).poll());
    let mut waiting = task::spawn(tx.send(2));
    assert_pending!(waiting.poll());
    drop(waiting);

    // Not a concurrent send any more: it waits for room like any other.
    let mut again = task::spawn(tx.send(3));
    assert_pending!(again.poll());
    assert_ready_eq!(task::spawn(rx.recv()).poll(), Some(1));
    assert!(again.is_woken());
    assert_ready_ok!(again.poll());
    drop(again);
    // The cancelled message was never accepted.
    assert_ready_eq!(task::spawn(rx.recv()).poll(), Some(3));
}

#[test]
fn the_receiver_is_a_stream_for_tonic() {
    let (tx, rx) = duplex::channel::<u32>(8);
    futures::executor::block_on(async move {
        for msg in 1..=5 {
            tx.send(msg).await.expect("receiver alive");
        }
        drop(tx);
        assert_eq!(rx.collect::<Vec<_>>().await, [1, 2, 3, 4, 5]);
    });
}

// ---------------------------------------------------------------------------
// rendezvous

#[test]
fn an_arrival_is_pending_until_the_nth_which_wakes_all() {
    let barrier = Barrier::new(3);
    let mut first = task::spawn(barrier.arrive());
    let mut second = task::spawn(barrier.arrive());
    assert_pending!(first.poll());
    assert_pending!(second.poll());
    assert_eq!(barrier.waiting(), 2);
    assert!(!first.is_woken());
    assert!(!second.is_woken());
    // Polling again does not count twice.
    assert_pending!(first.poll());
    assert_eq!(barrier.waiting(), 2);

    let mut third = task::spawn(barrier.arrive());
    assert_ready_eq!(third.poll(), 3);
    assert!(first.is_woken());
    assert!(second.is_woken());
    assert_ready_eq!(first.poll(), 1);
    assert_ready_eq!(second.poll(), 2);
    assert_eq!(barrier.waiting(), 0);

    // Reusable: the next release starts from scratch.
    let mut next = task::spawn(barrier.arrive());
    assert_pending!(next.poll());
    assert_eq!(barrier.waiting(), 1);
}

#[test]
fn a_dropped_arrival_does_not_count() {
    let barrier = Barrier::new(2);
    let mut cancelled = task::spawn(barrier.arrive());
    assert_pending!(cancelled.poll());
    assert_eq!(barrier.waiting(), 1);
    drop(cancelled);
    assert_eq!(barrier.waiting(), 0);

    // The next arrival is alone: no early release.
    let mut first = task::spawn(barrier.arrive());
    assert_pending!(first.poll());
    let mut second = task::spawn(barrier.arrive());
    assert_ready_eq!(second.poll(), 2);
    assert!(first.is_woken());
    assert_ready_eq!(first.poll(), 1);
}

#[test]
fn arrival_orders_close_up_after_a_dropped_arrival() {
    let barrier = Barrier::new(3);
    let mut leaving = task::spawn(barrier.arrive());
    let mut staying = task::spawn(barrier.arrive());
    assert_pending!(leaving.poll());
    assert_pending!(staying.poll());
    drop(leaving);
    let mut third = task::spawn(barrier.arrive());
    assert_pending!(third.poll());
    let mut last = task::spawn(barrier.arrive());
    // Orders within the release are 1, 2, 3: none repeated.
    assert_ready_eq!(last.poll(), 3);
    assert_ready_eq!(staying.poll(), 1);
    assert_ready_eq!(third.poll(), 2);
}

#[test]
fn an_arrival_dropped_after_its_release_still_counted() {
    let barrier = Barrier::new(2);
    let mut first = task::spawn(barrier.arrive());
    assert_pending!(first.poll());
    let mut second = task::spawn(barrier.arrive());
    assert_ready_eq!(second.poll(), 2);
    // Released but never polled again: dropping it is not leaving.
    drop(first);
    assert_eq!(barrier.waiting(), 0);
    let mut next = task::spawn(barrier.arrive());
    assert_pending!(next.poll());
}
