//! Loom models of the lock word, the seqlock protocol and the event word.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p shmkit --lib --release sync::loom`
//! (`ci/loom.sh`). Owner death is modelled by a loom thread that exits with
//! its guard leaked: the fallback wait layer records thread exits.

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;

use super::event::{Event, EventMode};
use super::mutex::{Acquired, RawMutex};
use super::seqlock::SeqLock;

/// Increments the counter the mutex protects.
fn bump(c: &UnsafeCell<u32>) {
    // SAFETY: called only while holding the model's lock; if the lock failed
    // to exclude, loom's `UnsafeCell` reports the concurrent access (that is
    // what these models check), so the pointer is never raced undetected.
    c.with_mut(|p| unsafe { *p += 1 });
}

/// Reads the counter after every thread has been joined.
fn read(c: &UnsafeCell<u32>) -> u32 {
    // SAFETY: all other threads are joined; loom checks it.
    c.with(|p| unsafe { *p })
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    // Waiters spin with `yield_now` in place of a futex sleep, and every
    // re-read is a branch.
    b.max_branches = 10_000;
    b.check(f);
}

/// Two threads increment a counter under the lock: never concurrently (loom's
/// `UnsafeCell` panics on a racy access), and no increment is lost.
#[test]
fn loom_mutex_excludes() {
    model(|| {
        let m = Arc::new((RawMutex::new(), UnsafeCell::new(0u32)));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let m = Arc::clone(&m);
                thread::spawn(move || {
                    assert_eq!(m.0.lock(None), Acquired::Clean);
                    bump(&m.1);
                    m.0.unlock(false);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(read(&m.1), 2);
    });
}

/// try_lock succeeds or says WouldBlock, and never breaks exclusion.
#[test]
fn loom_mutex_try_lock() {
    model(|| {
        let m = Arc::new((RawMutex::new(), UnsafeCell::new(0u32)));
        let m2 = Arc::clone(&m);
        let t = thread::spawn(move || {
            if m2.0.try_lock() == Acquired::Clean {
                bump(&m2.1);
                m2.0.unlock(false);
            }
        });
        assert_eq!(m.0.lock(None), Acquired::Clean);
        bump(&m.1);
        m.0.unlock(false);
        t.join().unwrap();
    });
}

/// A dead owner's lock is taken over by exactly one of two racing lockers at a
/// time, each told that the owner died (the mark persists until repaired).
#[test]
fn loom_mutex_owner_death_takeover() {
    model(|| {
        let m = Arc::new((RawMutex::new(), UnsafeCell::new(0u32)));
        let m1 = Arc::clone(&m);
        thread::spawn(move || {
            assert_eq!(m1.0.lock(None), Acquired::Clean);
            // Dies holding the lock.
        })
        .join()
        .unwrap();
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let m = Arc::clone(&m);
                thread::spawn(move || match m.0.try_lock() {
                    Acquired::OwnerDied => {
                        bump(&m.1);
                        m.0.unlock(true);
                    }
                    Acquired::Busy | Acquired::HeldHere | Acquired::Lost => {}
                    Acquired::Clean => panic!("a dead owner's data must be flagged"),
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(read(&m.1) >= 1);
    });
}

/// A reader racing two writes never accepts a copy whose words differ, and
/// never goes back in time.
#[test]
fn loom_seqlock_no_torn_read() {
    model(|| {
        let s = Arc::new(SeqLock::new([0u64; 2]));
        let s2 = Arc::clone(&s);
        let w = thread::spawn(move || {
            let mut w = s2.writer().unwrap();
            w.write(&[1, 1]);
            w.write(&[2, 2]);
        });
        let mut last = 0;
        for _ in 0..2 {
            if let Some(v) = s.try_read() {
                assert_eq!(v[0], v[1], "torn read");
                assert!(v[0] >= last);
                last = v[0];
            }
        }
        w.join().unwrap();
        assert_eq!(s.read(), [2, 2]);
    });
}

/// A writer that stops mid-write leaves the last good value readable.
#[test]
fn loom_seqlock_writer_dies() {
    model(|| {
        let s = Arc::new(SeqLock::new([0u64; 2]));
        let s2 = Arc::clone(&s);
        let w = thread::spawn(move || {
            let mut w = s2.writer().unwrap();
            w.write(&[1, 1]);
            w.write_half_for_test(&[2, 2]);
            std::mem::forget(w);
        });
        if let Some(v) = s.try_read() {
            assert_eq!(v[0], v[1], "torn read");
        }
        w.join().unwrap();
        assert_eq!(s.read(), [1, 1]);
    });
}

/// notify_one racing the start of wait: the waiter always returns.
#[test]
fn loom_event_no_lost_wakeup() {
    model(|| {
        let e = Arc::new(Event::new(EventMode::AutoReset));
        let e2 = Arc::clone(&e);
        let t = thread::spawn(move || e2.notify_one());
        e.wait().unwrap();
        t.join().unwrap().unwrap();
        assert!(!e.is_signalled());
    });
}

/// notify_all racing a waiter's start: the waiter returns (it sees the new
/// generation or the signal), and it leaves the sleeper count as it found it.
#[test]
fn loom_event_notify_all() {
    model(|| {
        let e = Arc::new(Event::new(EventMode::AutoReset));
        let e2 = Arc::clone(&e);
        let t = thread::spawn(move || e2.notify_all());
        e.wait().unwrap();
        t.join().unwrap().unwrap();
        assert_eq!(e.sleepers(), 0);
    });
}

/// Manual reset: a notify racing a waiter releases it, and the signal stays
/// set for later waits.
#[test]
fn loom_event_manual_reset_stays_set() {
    model(|| {
        let e = Arc::new(Event::new(EventMode::ManualReset));
        let e2 = Arc::clone(&e);
        let t = thread::spawn(move || e2.wait());
        e.notify_one().unwrap();
        e.wait().unwrap();
        t.join().unwrap().unwrap();
        assert!(e.is_signalled());
        assert_eq!(e.sleepers(), 0);
    });
}

/// A new writer repairs a dead writer's half-written slot while a reader
/// that started before the dead writer's writes is still copying that very
/// slot: the reader never accepts the repair's stores as the old value.
#[test]
fn loom_seqlock_takeover_with_reader() {
    model(|| {
        let s = Arc::new(SeqLock::new([0u64; 2]));
        let s2 = Arc::clone(&s);
        let reader = thread::spawn(move || {
            if let Some(v) = s2.try_read() {
                assert_eq!(v[0], v[1], "torn read");
            }
        });
        // Write 1 goes to slot 1; write 2 dies half-way through slot 0.
        let s1 = Arc::clone(&s);
        thread::spawn(move || {
            let mut w = s1.writer().unwrap();
            w.write(&[1, 1]);
            w.write_half_for_test(&[2, 2]);
            std::mem::forget(w);
        })
        .join()
        .unwrap();
        // The new writer copies slot 1 into slot 0 while the reader may be
        // copying slot 0 with `seq = 0` in hand.
        drop(s.writer().unwrap());
        reader.join().unwrap();
    });
}
