//! Waiting for a peer: spin, then block on a cross-process wake word.
//!
//! # Wake words (one pair per direction, in the queue header)
//! | word      | written by           | meaning                                   |
//! |-----------|----------------------|-------------------------------------------|
//! | `seq`     | the waker            | bumped (wrapping) on every wake-up        |
//! | `waiters` | waiters, +1 / -1     | how many processes are (about to be) asleep |
//! | `blockers`| endpoints, on attach/drop | how many endpoints may block (not `Spin`) |
//!
//! The protocol is Dekker's: a waiter increments `waiters`, reads `seq`,
//! and (after a `SeqCst` fence) re-checks its condition before it sleeps on
//! `seq`; a waker publishes its change, then (after a `SeqCst` fence) reads
//! `waiters` and, if non-zero, bumps `seq` and wakes. Either the waiter's re-check sees the change, or
//! the waker sees the waiter and the bumped `seq` keeps it from sleeping.
//! A waiter that dies asleep leaves `waiters` too high: wakers then make a
//! needless system call, nothing worse. A scribbled `waiters` is the same.
//! While `blockers` is zero (all waiters busy-spin) wakers skip the fence
//! and the check altogether; a scribbled `blockers` of zero costs sleepers
//! at most one [`LIVENESS_SLICE`] of latency per message.
//!
//! Blocking uses a shared (never `FUTEX_PRIVATE_FLAG`) futex on Linux, behind
//! [`sleep_on`] and [`wake_all`], to be replaced by `shmkit::sync::Event`.
//! Elsewhere, and under Miri and loom, a blocked endpoint sleeps in slices of
//! `POLL_SLICE` (100 µs, so up to that much extra latency after spinning).

use std::time::{Duration, Instant};

use super::atomic::{fence, AtomicU32, Ordering};
use super::region::{Peer, Region};
use super::Wait;
use crate::{Error, Result};

/// Without a futex, a blocked endpoint re-checks this often.
#[cfg(any(not(target_os = "linux"), miri, loom))]
const POLL_SLICE: Duration = Duration::from_micros(100);

/// How long one block lasts at most before the peer's liveness is checked.
const LIVENESS_SLICE: Duration = Duration::from_millis(20);

/// Polls before a spin-then-block endpoint blocks (a few microseconds).
const SPINS_BEFORE_BLOCK: u32 = 200;

/// Polls between clock and liveness checks of a busy-spinning endpoint.
const SPINS_PER_CHECK: u32 = 1 << 12;

/// A wake word pair in the queue header: the words at `off` (`seq`),
/// `off + 4` (`waiters`) and `off + 8` (`blockers`), each reached (and
/// bounds-checked) only when used: `notify` on every message reads
/// `blockers` alone.
#[derive(Clone, Copy)]
pub(crate) struct Signal<'a> {
    region: &'a Region,
    off: usize,
}

impl<'a> Signal<'a> {
    /// The signal whose words start at `off`.
    #[inline]
    pub(crate) fn at(region: &'a Region, off: usize) -> Signal<'a> {
        Signal { region, off }
    }

    #[inline]
    fn seq(&self) -> &'a AtomicU32 {
        self.region.u32(self.off)
    }

    #[inline]
    fn waiters(&self) -> &'a AtomicU32 {
        self.region.u32(self.off + 4)
    }

    #[inline]
    fn blockers(&self) -> &'a AtomicU32 {
        self.region.u32(self.off + 8)
    }

    /// Counts an endpoint that may block on this signal (any strategy but
    /// [`Wait::Spin`]); undone by [`unregister`](Self::unregister).
    pub(crate) fn register(&self, wait: Wait) {
        if wait != Wait::Spin {
            self.blockers().fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Undoes [`register`](Self::register).
    pub(crate) fn unregister(&self, wait: Wait) {
        if wait != Wait::Spin {
            self.blockers().fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// The `seq` word that sleepers on this signal wait on, for a
    /// [`WaitSet`](crate::WaitSet) that sleeps on many at once.
    #[cfg(any(not(loom), test))]
    pub(crate) fn seq_word(&self) -> &'a AtomicU32 {
        self.seq()
    }

    /// A waiter's half of the protocol (see the module docs), for a
    /// blocking endpoint and for a [`WaitSet`](crate::WaitSet) that sleeps
    /// on many signals at once: counts one more waiter and returns `seq`
    /// read after that; the caller re-checks its condition, then sleeps on
    /// `seq` with this value, then calls [`disarm`](Self::disarm).
    pub(crate) fn arm(&self) -> u32 {
        self.waiters().fetch_add(1, Ordering::SeqCst);
        // SYNC(wake): read `seq` after registering, then re-check.
        let seq = self.seq().load(Ordering::SeqCst);
        // SYNC(wake): orders the re-check's loads (Acquire, not SeqCst)
        // after the increment; pairs with the waker's fence in `notify`.
        // Without it the memory model lets the re-check read the condition
        // before the waker can see the waiter (the loom model
        // `a_wait_set_armed_for_a_message_misses_no_wake_up` fails).
        fence(Ordering::SeqCst);
        seq
    }

    /// Undoes [`arm`](Self::arm).
    pub(crate) fn disarm(&self) {
        self.waiters().fetch_sub(1, Ordering::SeqCst);
    }

    /// Wakes every sleeper, if any. Call after publishing a change.
    ///
    /// When no endpoint that may block is registered (every waiter spins),
    /// this is one relaxed load of a line nobody writes: no fence. An
    /// endpoint that registers concurrently may miss a wake-up; it then
    /// sleeps out one [`LIVENESS_SLICE`] before it looks again.
    #[inline]
    pub(crate) fn notify(&self) {
        if self.blockers().load(Ordering::Relaxed) == 0 {
            return;
        }
        // SYNC(wake): orders the caller's publication before the read of
        // `waiters`; pairs with the waiter's SeqCst increment and re-check.
        fence(Ordering::SeqCst);
        if self.waiters().load(Ordering::Relaxed) != 0 {
            self.wake_slow();
        }
    }

    #[cold]
    fn wake_slow(&self) {
        self.seq().fetch_add(1, Ordering::SeqCst);
        wake_all(self.seq());
    }
}

/// Sleeps while `*word == expected`, for at most `timeout`: a shared futex.
#[cfg(all(target_os = "linux", not(miri), not(loom)))]
fn sleep_on(word: &AtomicU32, expected: u32, timeout: Duration) {
    use rustix::thread::futex;
    let ts = futex::Timespec {
        tv_sec: timeout.as_secs() as _,
        tv_nsec: timeout.subsec_nanos() as _,
    };
    // Flags::empty(): a shared futex, keyed on the physical page, so that it
    // works across processes. EAGAIN (value changed), EINTR and ETIMEDOUT all
    // mean "go and look again".
    let _ = futex::wait(word, futex::Flags::empty(), expected, Some(&ts));
}

/// Wakes every process sleeping on `word`: a shared futex.
#[cfg(all(target_os = "linux", not(miri), not(loom)))]
fn wake_all(word: &AtomicU32) {
    use rustix::thread::futex;
    let _ = futex::wake(word, futex::Flags::empty(), i32::MAX as u32);
}

/// No cross-process futex here: on Windows the word's named semaphore (see
/// `os::wake`), elsewhere a short sleep before looking again.
#[cfg(any(not(target_os = "linux"), miri, loom))]
fn sleep_on(word: &AtomicU32, expected: u32, timeout: Duration) {
    #[cfg(all(windows, not(miri), not(loom)))]
    if crate::os::wake::wait(
        word.as_ptr() as usize,
        || word.load(Ordering::Acquire) == expected,
        Some(timeout),
    ) {
        return;
    }
    if word.load(Ordering::Acquire) == expected {
        if cfg!(loom) {
            #[cfg(loom)]
            loom::thread::yield_now();
        } else if cfg!(miri) {
            std::thread::yield_now();
        } else {
            std::thread::sleep(timeout.min(POLL_SLICE));
        }
    }
}

/// Windows: releases the word's named semaphore; elsewhere sleepers poll,
/// so there is nobody to wake.
#[cfg(any(not(target_os = "linux"), miri, loom))]
fn wake_all(word: &AtomicU32) {
    #[cfg(all(windows, not(miri), not(loom)))]
    crate::os::wake::wake(word.as_ptr() as usize, u32::MAX);
    let _ = word;
}

/// Waits until `poll` yields a value, the deadline passes, or the peer is
/// found dead or closed.
///
/// The loop: poll; spin (`Spin`: forever, checking the clock and the peer
/// every few thousand polls; `SpinThenBlock`: a few hundred polls); then
/// register as a waiter, re-poll, and sleep on the signal for at most
/// [`LIVENESS_SLICE`]; after each sleep check the peer, and poll once more
/// before reporting it gone (it may have sent its last message and died).
pub(crate) fn wait_for<T>(
    region: &Region,
    strategy: Wait,
    signal: Signal<'_>,
    timeout: Option<Duration>,
    mut poll: impl FnMut() -> Result<Option<T>>,
    mut peer: impl FnMut() -> Peer,
    peer_role: &'static str,
) -> Result<T> {
    // The clock is read only once the fast path has failed: a message that
    // is already there costs no system call (nor vDSO call).
    let mut clock: Option<(Instant, Option<Instant>)> = None;
    let mut spins = 0u32;
    loop {
        let polled = poll();
        // A segment shrunk under us reads as zeros (an empty queue, or an
        // invalid index): that is `Truncated`, not a reason to keep waiting.
        region.check_mapped()?;
        if let Some(v) = polled? {
            return Ok(v);
        }
        spins = spins.wrapping_add(1);
        match strategy {
            Wait::Spin if spins % SPINS_PER_CHECK != 0 => {
                std::hint::spin_loop();
                continue;
            }
            Wait::SpinThenBlock if spins < SPINS_BEFORE_BLOCK => {
                std::hint::spin_loop();
                continue;
            }
            _ => {}
        }
        // Off the fast path, once per slice: a file shrunk for good, or
        // shrunk and grown back (a zeroed magic number), ends the wait.
        region.check_intact()?;
        let now = Instant::now();
        let (start, deadline) =
            *clock.get_or_insert_with(|| (now, timeout.and_then(|t| now.checked_add(t))));
        if deadline.is_some_and(|d| now >= d) {
            return Err(Error::Timeout {
                name: region.name().to_owned(),
                waited: now - start,
            });
        }
        if strategy != Wait::Spin {
            let slice = deadline.map_or(LIVENESS_SLICE, |d| (d - now).min(LIVENESS_SLICE));
            let seq = signal.arm();
            let again = poll();
            if !matches!(again, Ok(None)) {
                signal.disarm();
                match again {
                    Ok(Some(v)) => return Ok(v),
                    Err(e) => return Err(e),
                    Ok(None) => unreachable!(),
                }
            }
            sleep_on(signal.seq(), seq, slice);
            signal.disarm();
        }
        match peer() {
            Peer::Alive | Peer::NotYet => {}
            gone => {
                if let Some(v) = poll()? {
                    return Ok(v);
                }
                let name = region.name().to_owned();
                return Err(if gone == Peer::Died {
                    Error::PeerDied {
                        name,
                        peer: peer_role,
                    }
                } else {
                    Error::Closed {
                        name,
                        peer: peer_role,
                    }
                });
            }
        }
    }
}
