//! Negative controls: a frame writer that locks per byte instead of per frame,
//! and a duplex whose close does not take the lock its send takes. Each runs a
//! correct twin that must pass and the broken one that loom must catch.

use std::collections::VecDeque;

use loom::sync::atomic::{AtomicBool, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};
use loom::thread;

use crate::{check, check_expecting_failure};

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
