//! An event that threads in any process can wait on and signal.
//!
//! # State word
//! | bits     | meaning                                                   |
//! |----------|-----------------------------------------------------------|
//! | 0        | `SIGNALLED`                                               |
//! | 1..=15   | sleepers: waiters registered to be woken (saturating)     |
//! | 16..=31  | generation: counts `notify_all` calls (wrapping)          |
//!
//! The `mode` word is 0 for [`EventMode::AutoReset`] (the all-zero default)
//! and anything else for [`EventMode::ManualReset`].
//!
//! # No lost wake-up
//! A waiter that finds no signal registers itself by incrementing the
//! sleeper count with a `compare_exchange` on the state word, then sleeps
//! with `futex(FUTEX_WAIT, expected = the word it wrote)`, which the kernel
//! does only if the word still holds that value, atomically with queueing
//! the waiter. A notify sets `SIGNALLED` (or bumps the generation) with one
//! read-modify-write of the same word and calls `FUTEX_WAKE` only if the
//! value it replaced counted sleepers. The word's modification order decides
//! every race: if the notify comes first, the waiter's registering
//! `compare_exchange` fails and it sees the signal (or, after a
//! `notify_all`, the new generation); if the registration comes
//! first, the notify sees the sleeper and wakes it, and a futex wait that
//! has not started yet returns at once because the word changed. A notify
//! with nobody registered makes no system call.
//!
//! `notify_one` leaves `SIGNALLED` set until a waiter consumes it, so it is
//! not lost even when nobody waits yet. A waiter deregisters when it leaves
//! (consuming the signal in the same `compare_exchange`). A waiter killed
//! while asleep stays counted: later notifies then make a needless
//! `FUTEX_WAKE`, nothing worse. When the count is full (32,767), further
//! waiters poll every millisecond instead of registering. A notifier killed
//! between its read-modify-write and its `FUTEX_WAKE` wakes nobody, so a
//! registered waiter never sleeps longer than 100 ms before it looks at the
//! word again.

use std::time::{Duration, Instant};

use super::primitive::{AtomicU32, Ordering};
use super::wait;
use crate::Result;

const SIGNALLED: u32 = 1;
/// One registered sleeper.
const SLEEPER: u32 = 1 << 1;
/// Bits 1..=15: the sleeper count.
const SLEEPERS: u32 = 0x7FFF << 1;
/// One step of the generation counter, bits 16..=31.
const GENERATION: u32 = 1 << 16;
/// How often a waiter that could not register re-reads the word.
const UNREGISTERED_POLL: Duration = Duration::from_millis(1);
/// The longest a registered waiter sleeps before it re-reads the word: a
/// notifier killed between setting the signal and its wake-up call leaves
/// the signal set and nobody to wake the sleepers (failpoint
/// `event-before-wake`); they find it at their next look.
const NOTIFIER_DEATH_POLL: Duration = Duration::from_millis(100);

/// How an [`Event`] behaves once signalled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EventMode {
    /// A signal releases one waiter and clears itself (a binary semaphore).
    /// The all-zero default.
    #[default]
    AutoReset,
    /// A signal stays set, releasing every waiter, until [`Event::reset`].
    ManualReset,
}

/// A cross-process event: [`wait`](Self::wait) blocks until another thread,
/// in this process or another one, calls [`notify_one`](Self::notify_one) or
/// [`notify_all`](Self::notify_all).
///
/// `#[repr(C)]`, 8 bytes, two `u32` words, aligned to 8; all zeros is an
/// unsignalled auto-reset event. Borrow one in shared memory with
/// [`Event::from_ptr`].
///
/// - **Auto-reset**: `notify_one` sets the signal and wakes one waiter; the
///   first waiter to see the signal consumes it. Notifies with nobody
///   waiting collapse into one pending signal. `notify_all` wakes every
///   thread waiting at that moment (one that has started `wait` counts,
///   even if it is not asleep yet); with no waiter, it leaves the signal set
///   like `notify_one`.
/// - **Manual-reset**: a notify sets the signal and wakes every waiter;
///   `wait` returns immediately while it is set; [`reset`](Self::reset)
///   clears it.
///
/// # Example
/// ```
/// use shmkit::sync::Event;
/// let e = Event::new(Default::default());
/// std::thread::scope(|s| {
///     s.spawn(|| e.notify_one().unwrap());
///     e.wait() // returns once notified, whichever thread ran first
/// })?;
/// assert!(!e.wait_timeout(std::time::Duration::from_millis(1))?);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[repr(C, align(8))]
pub struct Event {
    state: AtomicU32,
    mode: AtomicU32,
}

impl Event {
    /// A new, unsignalled event in ordinary memory.
    ///
    /// # Example
    /// ```
    /// use shmkit::sync::{Event, EventMode};
    /// let e = Event::new(EventMode::ManualReset);
    /// assert_eq!(e.mode(), EventMode::ManualReset);
    /// assert!(!e.is_signalled());
    /// ```
    pub fn new(mode: EventMode) -> Self {
        Event {
            state: AtomicU32::new(0),
            mode: AtomicU32::new(u32::from(mode == EventMode::ManualReset)),
        }
    }

    /// Borrows the event that lives at `ptr`, typically in a mapped
    /// [`Segment`](crate::Segment).
    ///
    /// # Safety
    /// - `ptr` is 8-aligned and its 8 bytes stay mapped, readable and
    ///   writable for `'a`;
    /// - every process and thread accesses those bytes only as an `Event`
    ///   (all zeros is a valid one; any bit pattern is memory-safe, a peer
    ///   writing garbage can only cause spurious or missed wake-ups).
    ///
    /// # Example
    /// ```
    /// # use shmkit::sync::Event;
    /// let mut word = 0u64;
    /// // SAFETY: 8-aligned, 8 bytes, used only as this event.
    /// let e = unsafe { Event::from_ptr(std::ptr::from_mut(&mut word).cast()) };
    /// e.notify_one()?;
    /// e.wait()?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[cfg(not(loom))]
    pub unsafe fn from_ptr<'a>(ptr: *const u8) -> &'a Self {
        debug_assert!(ptr.cast::<Self>().is_aligned());
        // SAFETY:
        // - alignment, size and lifetime are the caller's first obligation;
        // - every bit pattern is a valid pair of `AtomicU32`;
        // - `&Event` allows only atomic accesses, which peers make too.
        unsafe { &*ptr.cast::<Self>() }
    }

    /// Sets the mode. Meant for the creator, before the event is shared.
    ///
    /// # Example
    /// ```
    /// use shmkit::sync::{Event, EventMode};
    /// # let name = format!("doc-evmode-{}", std::process::id());
    /// let seg = shmkit::Segment::create(&name, 64)?;
    /// // SAFETY: the mapping is page-aligned, 64 bytes, zeroed (an auto-reset
    /// // event), outlives `e`, and is used only as this event.
    /// let e = unsafe { Event::from_ptr(seg.as_ptr()) };
    /// assert_eq!(e.mode(), EventMode::AutoReset); // all zeros
    /// e.set_mode(EventMode::ManualReset); // before any peer opens it
    /// assert_eq!(e.mode(), EventMode::ManualReset);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn set_mode(&self, mode: EventMode) {
        self.mode
            .store(u32::from(mode == EventMode::ManualReset), Ordering::Relaxed);
    }

    /// The current mode.
    ///
    /// # Example
    /// ```
    /// use shmkit::sync::{Event, EventMode};
    /// assert_eq!(Event::default().mode(), EventMode::AutoReset);
    /// assert_eq!(Event::new(EventMode::ManualReset).mode(), EventMode::ManualReset);
    /// ```
    pub fn mode(&self) -> EventMode {
        if self.mode.load(Ordering::Relaxed) == 0 {
            EventMode::AutoReset
        } else {
            EventMode::ManualReset
        }
    }

    /// Whether the signal is set right now.
    ///
    /// # Example
    /// ```
    /// let e = shmkit::sync::Event::default(); // auto-reset
    /// assert!(!e.is_signalled());
    /// e.notify_one()?; // nobody waits: the signal stays pending
    /// assert!(e.is_signalled());
    /// e.wait()?; // consumes it
    /// assert!(!e.is_signalled());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn is_signalled(&self) -> bool {
        self.state.load(Ordering::Relaxed) & SIGNALLED != 0
    }

    /// How many waiters are registered as sleeping (for tests).
    #[cfg(test)]
    pub(crate) fn sleepers(&self) -> u32 {
        (self.state.load(Ordering::Relaxed) & SLEEPERS) / SLEEPER
    }

    /// Clears the signal (meant for manual-reset events).
    ///
    /// # Errors
    /// [`Error::Truncated`](crate::Error::Truncated) if the mapping that
    /// holds the event was lost: the clear reached nobody.
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// use shmkit::sync::{Event, EventMode};
    /// let e = Event::new(EventMode::ManualReset);
    /// e.notify_one()?;
    /// assert!(e.wait_timeout(Duration::ZERO)?); // set: returns at once
    /// e.reset()?;
    /// assert!(!e.wait_timeout(Duration::from_millis(5))?);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn reset(&self) -> Result<()> {
        self.state.fetch_and(!SIGNALLED, Ordering::Relaxed);
        super::check_mapped(self)
    }

    /// Blocks until notified (`futex(FUTEX_WAIT)` on Linux).
    ///
    /// # Errors
    /// [`Error::Truncated`](crate::Error::Truncated) naming the segment if
    /// a peer shrank it under this event (its word is now private zeros
    /// that no notifier reaches, see [`check_mapped`](super::check_mapped)):
    /// at once if that happened before the call, else within one 100 ms
    /// sleep slice, never a wait for ever. Every later call on the mapping
    /// returns it again.
    ///
    /// # Example
    /// Two mappings of one named segment, as two processes would have; the
    /// notifier here is a thread that opens the segment by name.
    /// ```
    /// use shmkit::{sync::Event, Segment};
    /// # let name = format!("doc-evwait-{}", std::process::id());
    /// let seg = Segment::create(&name, 64)?;
    /// // SAFETY: page-aligned, zeroed (an unsignalled auto-reset event),
    /// // outlives `e`, and is used only as this event by everyone.
    /// let e = unsafe { Event::from_ptr(seg.as_ptr()) };
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         let peer = Segment::open(&name).unwrap();
    ///         peer.write_at(8, &[42]).unwrap(); // the message, then the signal
    ///         // SAFETY: as above, for the peer's own mapping.
    ///         unsafe { Event::from_ptr(peer.as_ptr()) }.notify_one().unwrap();
    ///     });
    ///     e.wait()
    /// })?;
    /// let mut msg = [0u8];
    /// seg.read_at(8, &mut msg)?;
    /// assert_eq!(msg, [42]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn wait(&self) -> Result<()> {
        self.wait_until(None).map(drop)
    }

    /// Blocks until notified or until `timeout` has passed. Returns whether
    /// it was notified.
    ///
    /// # Errors
    /// As [`wait`](Self::wait): a lost mapping is an error, never a
    /// timeout.
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// let e = shmkit::sync::Event::default();
    /// assert!(!e.wait_timeout(Duration::from_millis(5))?);
    /// e.notify_one()?;
    /// assert!(e.wait_timeout(Duration::from_millis(5))?);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        // A timeout past what `Instant` can hold waits as `wait` does.
        self.wait_until(Instant::now().checked_add(timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<bool> {
        // A lost mapping fails at once: its word reaches no notifier.
        super::check_mapped(self)?;
        // SYNC(event): acquires what the notifier did before notifying.
        let mut s = self.state.load(Ordering::Acquire);
        let generation = s / GENERATION;
        // Whether we are counted among the sleepers.
        let mut registered = false;
        let leave = |registered: bool| {
            if registered {
                self.state.fetch_sub(SLEEPER, Ordering::Relaxed);
            }
        };
        loop {
            if s & SIGNALLED != 0 {
                if self.mode() == EventMode::ManualReset {
                    leave(registered);
                    return Ok(true);
                }
                // Auto-reset: consume the signal (one waiter wins it) and
                // deregister, in one step.
                // Wrapping: a peer may have zeroed the count under us.
                let new = (s & !SIGNALLED).wrapping_sub(if registered { SLEEPER } else { 0 });
                // SYNC(event)
                match self
                    .state
                    .compare_exchange(s, new, Ordering::Acquire, Ordering::Acquire)
                {
                    Ok(_) => {
                        crate::failpoint::hit("event-after-consume");
                        return Ok(true);
                    }
                    Err(now) => {
                        s = now;
                        continue;
                    }
                }
            }
            if s / GENERATION != generation {
                // A notify_all since we started waiting.
                leave(registered);
                return Ok(true);
            }
            let mut timeout = match deadline {
                None => None,
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(t) if !t.is_zero() => Some(t),
                    _ => {
                        leave(registered);
                        return Ok(false);
                    }
                },
            };
            if !registered {
                if s & SLEEPERS == SLEEPERS {
                    // Count full: poll instead of relying on a wake-up.
                    timeout = Some(timeout.map_or(UNREGISTERED_POLL, |t| t.min(UNREGISTERED_POLL)));
                } else {
                    match self.state.compare_exchange(
                        s,
                        s + SLEEPER,
                        Ordering::Acquire,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => {
                            s += SLEEPER;
                            registered = true;
                            crate::failpoint::hit("event-after-register");
                        }
                        Err(now) => {
                            s = now;
                            continue;
                        }
                    }
                }
            }
            // Never for ever, nor longer than NOTIFIER_DEATH_POLL: see there.
            let timeout = timeout.map_or(NOTIFIER_DEATH_POLL, |t| t.min(NOTIFIER_DEATH_POLL));
            wait::wait(&self.state, s, Some(timeout));
            // After each sleep, the registry's look too: a shrink and
            // regrow that no access faulted on zeroed the event (a pending
            // signal lost), which is an error as for the copying calls.
            if let Err(e) = super::check_intact(self) {
                // The mapping is lost: this word is private zeros that no
                // notifier reaches any more, so waiting on would never end.
                leave(registered);
                return Err(e);
            }
            // SYNC(event)
            s = self.state.load(Ordering::Acquire);
        }
    }

    /// Sets the signal and, if anyone sleeps, wakes one waiter
    /// (`futex(FUTEX_WAKE, 1)`); in manual-reset mode, wakes all of them.
    ///
    /// # Errors
    /// [`Error::Truncated`](crate::Error::Truncated) if the mapping that
    /// holds the event was lost: the signal reached nobody.
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// let e = shmkit::sync::Event::default();
    /// e.notify_one()?;
    /// e.notify_one()?; // collapses into the one pending signal
    /// assert!(e.wait_timeout(Duration::ZERO)?);
    /// assert!(!e.wait_timeout(Duration::from_millis(5))?, "consumed by the first wait");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn notify_one(&self) -> Result<()> {
        // SYNC(event): releases what we did before notifying.
        let old = self.state.fetch_or(SIGNALLED, Ordering::Release);
        crate::failpoint::hit("event-before-wake");
        if old & SLEEPERS != 0 {
            let n = match self.mode() {
                EventMode::AutoReset => 1,
                EventMode::ManualReset => i32::MAX as u32,
            };
            wait::wake(&self.state, n);
        }
        super::check_mapped(self)
    }

    /// Wakes every thread waiting now (`futex(FUTEX_WAKE, INT_MAX)` if
    /// anyone sleeps). In auto-reset mode, if nobody was registered as
    /// waiting, it sets the signal instead, as `notify_one` does, so that a
    /// thread about to wait is not missed; in manual-reset mode it always
    /// sets the signal.
    ///
    /// # Errors
    /// As [`notify_one`](Self::notify_one).
    ///
    /// # Example
    /// ```
    /// use shmkit::sync::{Event, EventMode};
    /// let e = Event::new(EventMode::ManualReset);
    /// e.notify_all()?;
    /// e.wait()?;
    /// e.wait()?; // manual reset: still set
    /// e.reset()?;
    /// assert!(!e.is_signalled());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn notify_all(&self) -> Result<()> {
        // SYNC(event): releases what we did before notifying.
        let old = self
            .state
            .fetch_update(Ordering::Release, Ordering::Relaxed, |s| {
                let signal = if s & SLEEPERS == 0 || self.mode() == EventMode::ManualReset {
                    SIGNALLED
                } else {
                    0
                };
                Some(s.wrapping_add(GENERATION) | signal)
            })
            .unwrap_or_else(|s| s);
        if old & SLEEPERS != 0 {
            wait::wake(&self.state, i32::MAX as u32);
        }
        super::check_mapped(self)
    }
}
/// A [`WaitSet`](crate::WaitSet)'s registration on an [`Event`]: whether it
/// is counted among the sleepers, and the generation it saw then.
#[cfg(not(loom))]
#[derive(Debug, Default)]
pub struct Watch {
    registered: bool,
    generation: u32,
    /// A `notify_all` went by while registered, seen when leaving.
    notified: bool,
}

/// How a [`WaitSet`](crate::WaitSet) waits on an event: the same protocol
/// as [`Event::wait`] (see "No lost wake-up" above), split into steps so
/// that the set can sleep on many words at once.
#[cfg(not(loom))]
impl Event {
    /// The state word, which notifiers wake.
    pub(crate) fn state_word(&self) -> &AtomicU32 {
        &self.state
    }

    /// Whether a wait would return now: the signal is set (consumed, in
    /// auto-reset mode, together with the registration) or, while
    /// registered, a `notify_all` went by.
    pub(crate) fn watch_fired(&self, w: &mut Watch) -> bool {
        if std::mem::take(&mut w.notified) {
            return true;
        }
        // SYNC(event): acquires what the notifier did before notifying.
        let mut s = self.state.load(Ordering::Acquire);
        loop {
            if s & SIGNALLED != 0 {
                if self.mode() == EventMode::ManualReset {
                    return true;
                }
                let new = (s & !SIGNALLED).wrapping_sub(if w.registered { SLEEPER } else { 0 });
                // SYNC(event)
                match self
                    .state
                    .compare_exchange(s, new, Ordering::Acquire, Ordering::Acquire)
                {
                    Ok(_) => {
                        w.registered = false;
                        return true;
                    }
                    Err(now) => s = now,
                }
                continue;
            }
            return w.registered && s / GENERATION != w.generation;
        }
    }

    /// Registers as a sleeper (once) and returns the word's value to sleep
    /// on, and whether the registration holds; without it (the count is
    /// full) the caller must not sleep longer than `UNREGISTERED_POLL`.
    pub(crate) fn watch_arm(&self, w: &mut Watch) -> (u32, bool) {
        let mut s = self.state.load(Ordering::Acquire);
        while !w.registered {
            if s & SLEEPERS == SLEEPERS {
                return (s, false);
            }
            match self
                .state
                .compare_exchange(s, s + SLEEPER, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => {
                    s += SLEEPER;
                    w.registered = true;
                    w.generation = s / GENERATION;
                }
                Err(now) => s = now,
            }
        }
        (s, true)
    }

    /// Leaves the sleepers, if registered, noting a `notify_all` that went
    /// by meanwhile (the next [`watch_fired`](Self::watch_fired) reports
    /// it: once unregistered, the generation alone no longer tells).
    pub(crate) fn watch_disarm(&self, w: &mut Watch) {
        if std::mem::take(&mut w.registered) {
            // SYNC(event): acquires what a `notify_all` did before it.
            let old = self.state.fetch_sub(SLEEPER, Ordering::Acquire);
            if old / GENERATION != w.generation {
                w.notified = true;
            }
        }
    }

    /// The longest a registered set may sleep on the word: a notifier
    /// killed before its wake-up leaves only the set signal to find.
    pub(crate) const WATCH_SLICE: Duration = NOTIFIER_DEATH_POLL;
    /// The longest an unregistered set may sleep on the word.
    pub(crate) const WATCH_UNREGISTERED_SLICE: Duration = UNREGISTERED_POLL;
}

impl Default for Event {
    fn default() -> Self {
        Event::new(EventMode::AutoReset)
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("mode", &self.mode())
            .field("signalled", &self.is_signalled())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn layout_is_fixed() {
        assert_eq!(std::mem::size_of::<Event>(), 8);
        assert_eq!(std::mem::align_of::<Event>(), 8);
    }

    /// A peer zeroed the sleeper count while a waiter was registered: the
    /// waiter still returns, without an underflow panic (found by the
    /// scribbler in `tests/faults.rs`).
    #[test]
    #[cfg_attr(miri, ignore = "sleeps for the 100 ms re-read")]
    fn sleeper_count_zeroed_under_a_waiter_does_not_panic() {
        let e = Event::new(EventMode::AutoReset);
        std::thread::scope(|s| {
            let waiter = s.spawn(|| e.wait_timeout(Duration::from_secs(10)));
            while e.sleepers() == 0 {
                std::thread::yield_now();
            }
            // Signalled, and no sleepers: the waiter consumes it and
            // deregisters from a count that is already zero.
            e.state.store(SIGNALLED, Ordering::Relaxed);
            assert!(waiter.join().unwrap().unwrap());
        });
    }

    #[test]
    fn a_timeout_past_what_instant_holds_waits_without_panicking() {
        let e = Event::default();
        e.notify_one().unwrap();
        assert!(e.wait_timeout(Duration::MAX).unwrap());
    }

    #[test]
    fn notify_before_wait_is_not_lost() {
        let e = Event::default();
        e.notify_one().unwrap();
        assert!(e.wait_timeout(Duration::from_millis(1)).unwrap());
        assert!(
            !e.wait_timeout(Duration::from_millis(1)).unwrap(),
            "auto-reset"
        );
    }

    #[test]
    fn manual_reset_stays_set() {
        let e = Event::new(EventMode::ManualReset);
        e.notify_one().unwrap();
        e.wait().unwrap();
        e.wait().unwrap();
        e.reset().unwrap();
        assert!(!e.wait_timeout(Duration::from_millis(1)).unwrap());
        assert_eq!(e.sleepers(), 0, "a timed-out waiter deregisters");
    }

    #[test]
    fn notify_without_waiters_keeps_count_zero() {
        let e = Event::default();
        for _ in 0..3 {
            e.notify_one().unwrap();
            e.notify_all().unwrap();
        }
        assert_eq!(e.sleepers(), 0);
        e.wait().unwrap();
        assert_eq!(e.sleepers(), 0);
    }

    #[test]
    fn ping_pong_threads() {
        let rounds = if cfg!(miri) { 20 } else { 2_000 };
        let ping = Event::default();
        let pong = Event::default();
        std::thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..rounds {
                    ping.wait().unwrap();
                    pong.notify_one().unwrap();
                }
            });
            for _ in 0..rounds {
                ping.notify_one().unwrap();
                pong.wait().unwrap();
            }
        });
    }

    #[test]
    fn notify_all_is_pending_only_without_waiters() {
        let e = Event::default();
        e.notify_all().unwrap();
        assert!(e.is_signalled(), "nobody waited: stays pending");
        e.wait().unwrap();
        std::thread::scope(|s| {
            s.spawn(|| e.wait());
            while e.sleepers() == 0 {
                std::thread::yield_now();
            }
            e.notify_all().unwrap();
        });
        assert!(!e.is_signalled(), "released its waiter: nothing left over");
        assert_eq!(e.sleepers(), 0);
    }

    #[test]
    fn notify_all_wakes_every_waiter() {
        use std::sync::atomic::AtomicU32 as Counter;
        let e = Event::default();
        let done = Counter::new(0);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    e.wait().unwrap();
                    done.fetch_add(1, Ordering::Relaxed);
                });
            }
            // Waiters that have not started yet are not released by an
            // earlier notify_all, so repeat until all three are through.
            while done.load(Ordering::Relaxed) < 3 {
                e.notify_all().unwrap();
                std::thread::yield_now();
            }
        });
        assert_eq!(e.sleepers(), 0);
    }
}

/// `Event` inside `#[derive(shmkit::Layout)]` structs and `Shared<T>`.
// SAFETY:
// - two `AtomicU32`s, 8-aligned (`repr(C, align(8))`), 8 bytes: no padding,
//   any bit pattern valid (a mode word other than 0 reads as manual-reset), the same on
//   every target;
// - `NoFields<B>` is `repr(transparent)` over `B`.
#[cfg(not(loom))]
unsafe impl crate::Layout for Event {
    type Fields<B> = crate::layout::NoFields<B>;

    fn describe() -> crate::layout::Ty {
        use crate::layout::{Field, Prim, StructTy, Ty};
        const { assert!(std::mem::size_of::<Event>() == 8) };
        Ty::Struct(StructTy {
            name: "Event".into(),
            size: 8,
            align: 8,
            fields: vec![
                Field {
                    name: "state".into(),
                    offset: 0,
                    ty: Ty::Prim(Prim::AtomicU32),
                },
                Field {
                    name: "mode".into(),
                    offset: 4,
                    ty: Ty::Prim(Prim::AtomicU32),
                },
            ],
        })
    }
}

// SAFETY: an `Event` is only ever accessed through atomic operations.
#[cfg(not(loom))]
unsafe impl crate::InPlace for Event {}
