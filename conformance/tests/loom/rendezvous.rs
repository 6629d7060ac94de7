//! `conformance::sync::rendezvous`: the barrier behind ProbeService.Rendezvous.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Waker};

use conformance::sync::rendezvous::Barrier;
use loom::future::block_on;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;

use crate::check;

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
