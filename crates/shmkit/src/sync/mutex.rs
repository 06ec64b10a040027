//! A robust mutex whose lock word lives in shared memory.
//!
//! # Algorithm
//! Drepper's futex mutex ("Futexes Are Tricky", 2011, mutex #3), with the
//! owner's identity stored in the lock word in place of the "locked" state,
//! as in the kernel's robust futexes (`Documentation/locking/robust-futexes`):
//!
//! | word (low half)                 | meaning                                       |
//! |---------------------------------|-----------------------------------------------|
//! | `0`                             | unlocked, data consistent (all-zero memory)   |
//! | `INCONSISTENT`                  | unlocked, data left by a dead owner, unrepaired |
//! | `tid`                           | locked by `tid`, nobody sleeping              |
//! | `tid \| WAITERS`                | locked, waiters may sleep on the futex        |
//! | `tid \| INCONSISTENT [\| WAITERS]` | locked by someone who took over from a dead owner |
//!
//! The high half holds the owner's start-time tag whenever the TID is
//! non-zero, and is zero when it is zero. Invariants: `WAITERS` is set only
//! while locked; `INCONSISTENT` stays set, locked or not, until an owner
//! calls [`MutexGuard::mark_consistent`].
//!
//! - Uncontended `lock`: one `compare_exchange(0 → me)`. Uncontended unlock:
//!   one `swap(0)`; only if the old word had `WAITERS` does it make the
//!   `FUTEX_WAKE` system call.
//! - A contender spins briefly, then sets `WAITERS` and sleeps on the futex.
//!   A woken waiter takes the lock *with* `WAITERS` set, since it cannot know
//!   whether others still sleep (mutex #3's `xchg(2)`).
//!
//! # Owner death
//! A waiter sleeps at most [`DEATH_POLL`] at a time. When one owner has held
//! the lock that long, the waiter asks the OS whether that owner still runs
//! (on Linux: TID plus start time, see the owner words table in
//! [`crate::sync`]); if it is dead, the waiter swaps the lock word from the
//! dead owner's value to its own with `INCONSISTENT` set, in one
//! `compare_exchange`, so two waiters cannot both take over.
//!
//! Why not the kernel's robust futex list, which would wake waiters at the
//! instant of death? The list head is per thread and glibc already
//! registers its own for every thread (for `PTHREAD_MUTEX_ROBUST`):
//! replacing it with `set_robust_list` would silently break robust pthread
//! mutexes in the same program, and glibc offers no API to add entries to
//! its list. `FUTEX_LOCK_PI` without a robust list does not recover a dead
//! owner's lock either. So this design pays with a poll: a blocked waiter
//! notices its owner's death within `DEATH_POLL` (100 ms), and a contended
//! lock held for longer than that costs a read of `/proc` every `DEATH_POLL`.
//! Owners are threads: a thread that exits without unlocking (its guard
//! leaked) counts as dead, like a robust pthread mutex. All processes must
//! share one PID namespace, since TIDs are namespace-relative, and one time
//! namespace, since `/proc` shows start times shifted into the reader's.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use super::primitive::{AtomicU64, Ordering};
use super::{wait, Liveness, TID_MASK};

/// Bit 30: the data was left behind by an owner that died, and no owner has
/// called `mark_consistent` since.
const INCONSISTENT: u64 = 1 << 30;
/// Bit 31: a thread may be sleeping on the futex; unlock must wake one.
const WAITERS: u64 = 1 << 31;
/// The owner identity: TID and start-time tag.
const OWNER_MASK: u64 = !(INCONSISTENT | WAITERS);

/// How often a contender re-reads the word before it sleeps.
const SPINS: u32 = 100;

/// The longest a waiter sleeps before it checks whether the owner died.
pub(crate) const DEATH_POLL: Duration = Duration::from_millis(100);

/// How many held mutexes a thread remembers by address; beyond that it only
/// counts them.
#[cfg(not(loom))]
const REMEMBERED: usize = 8;

/// The shmkit mutexes this thread holds: the addresses of their lock words
/// (up to [`REMEMBERED`]) and how many more. It tells a lock word that names
/// this thread because a peer wrote it (we hold nothing there) from a real
/// second lock of the same mutex.
#[cfg(not(loom))]
struct Held {
    at: [usize; REMEMBERED],
    more: u32,
}

#[cfg(not(loom))]
thread_local! {
    static HELD: std::cell::RefCell<Held> = const {
        std::cell::RefCell::new(Held { at: [0; REMEMBERED], more: 0 })
    };
}

/// Notes that this thread took (`true`) or gave up (`false`) the lock word
/// at `addr`.
#[inline]
fn note_held(addr: usize, taken: bool) {
    #[cfg(not(loom))]
    HELD.with(|h| {
        let mut h = h.borrow_mut();
        let (from, to) = if taken { (0, addr) } else { (addr, 0) };
        if let Some(slot) = h.at.iter_mut().find(|a| **a == from) {
            *slot = to;
        } else if taken {
            h.more += 1;
        } else {
            h.more = h.more.saturating_sub(1);
        }
    });
    #[cfg(loom)]
    let _ = (addr, taken);
}

/// What this thread holds, as far as a lock word at `addr` is concerned.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Holding {
    /// No shmkit mutex at all.
    Nothing,
    /// Others, and not this one as far as it can tell: this mutex may still
    /// be held through a second mapping of its segment, or be among those
    /// beyond the [`REMEMBERED`] (a real relock then waits forever instead
    /// of panicking).
    Others,
    /// This very lock word (and always under loom, whose model threads share
    /// the OS thread's locals).
    This,
}

#[inline]
fn holding(addr: usize) -> Holding {
    #[cfg(not(loom))]
    return HELD.with(|h| {
        let h = h.borrow();
        if h.at.contains(&addr) {
            Holding::This
        } else if h.more > 0 || h.at.iter().any(|&a| a != 0) {
            Holding::Others
        } else {
            Holding::Nothing
        }
    });
    #[cfg(loom)]
    {
        let _ = addr;
        Holding::This
    }
}

/// The lock word alone: the protocol, without the data. Loom models it.
#[repr(C, align(8))]
pub(crate) struct RawMutex {
    word: AtomicU64,
}

/// How a lock attempt ended, before it is wrapped in a guard.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Acquired {
    /// Locked, data consistent.
    Clean,
    /// Locked, data left by a dead owner.
    OwnerDied,
    /// Not locked (held by a live owner until the deadline).
    Busy,
    /// Not locked: the word names this thread at an address where it holds
    /// (or leaked the guard of) a shmkit mutex, so waiting could only end by
    /// someone else rewriting the word.
    HeldHere,
    /// Not locked: the mapping that holds the word was lost while waiting
    /// (see `sync::check_intact`); the mapping is flagged, so
    /// `check_mapped` on the mutex names the error.
    Lost,
}

impl RawMutex {
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        RawMutex {
            word: AtomicU64::new(0),
        }
    }

    /// The lock word's address in this process, as the held-set knows it.
    fn addr(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// Fast path: one `compare_exchange`. With no deadline it waits for
    /// ever, also on a word that names this thread where it holds a mutex
    /// (never `HeldHere`).
    #[inline]
    pub(crate) fn lock(&self, deadline: Option<Instant>) -> Acquired {
        self.lock_until(deadline, deadline.is_none())
    }

    /// As `lock`; `wait_on_self` says whether a word naming this thread where
    /// it holds a mutex is waited for (`lock`) or given up on at once with
    /// `HeldHere` (`lock_timeout`, even when its deadline is past what
    /// `Instant` can hold and `deadline` is `None`).
    #[inline]
    pub(crate) fn lock_until(&self, deadline: Option<Instant>, wait_on_self: bool) -> Acquired {
        let me = wait::current_owner();
        // SYNC(lock): acquires what the previous owner's unlock released.
        match self
            .word
            .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => Acquired::Clean,
            Err(_) => self.lock_slow(me, deadline, true, wait_on_self),
        }
    }

    /// One attempt, plus an owner-death check if the lock is held.
    #[inline]
    pub(crate) fn try_lock(&self) -> Acquired {
        let me = wait::current_owner();
        // SYNC(lock)
        match self
            .word
            .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => Acquired::Clean,
            Err(_) => self.lock_slow(me, Some(Instant::now()), false, false),
        }
    }

    /// Spin, then sleep on the futex, checking the owner's liveness every
    /// `DEATH_POLL`, until locked or past `deadline`.
    #[cold]
    fn lock_slow(
        &self,
        me: u64,
        deadline: Option<Instant>,
        block: bool,
        wait_on_self: bool,
    ) -> Acquired {
        // Set once we have slept: from then on we take the lock with WAITERS,
        // because other sleepers may remain (Drepper's mutex #3).
        let mut contended = false;
        let mut spins = 0u32;
        // The owner we are waiting for, and since when.
        let mut watching: Option<(u64, Instant)> = None;
        loop {
            let v = self.word.load(Ordering::Relaxed);
            if v & TID_MASK == 0 {
                // Unlocked (perhaps INCONSISTENT, which we keep).
                let waiters = if contended { WAITERS } else { 0 };
                let new = me | (v & INCONSISTENT) | waiters;
                // SYNC(lock)
                match self
                    .word
                    .compare_exchange(v, new, Ordering::Acquire, Ordering::Relaxed)
                {
                    Ok(_) if v & INCONSISTENT != 0 => return Acquired::OwnerDied,
                    Ok(_) => return Acquired::Clean,
                    Err(_) => continue,
                }
            }
            let owner = v & OWNER_MASK;
            let holds = if owner == me {
                holding(self.addr())
            } else {
                Holding::Others
            };
            if owner == me && holds == Holding::Nothing {
                // The word names this thread, which holds no shmkit mutex: a
                // peer wrote it (say, a copy of the word from when we held
                // the lock). Nobody holds it, then: take it over as from a
                // dead owner, with the data marked suspect.
                if self.take_over(v, me) {
                    return Acquired::OwnerDied;
                }
                continue;
            }
            if owner == me && holds == Holding::This && !wait_on_self {
                // Held by this very thread, as far as it can tell: our own
                // unlock cannot come while we wait, so `try_lock` and
                // `lock_timeout` give up at once.
                return Acquired::HeldHere;
            }
            // Held by this very thread as far as it can tell (`lock`): a real
            // second lock, which waits for ever as `std`'s may; or a guard
            // this thread leaked with `mem::forget` at this address, whose
            // segment has since been unmapped and another mapped there with
            // the old word in it. The two look alike, and the lock is held by
            // a live thread either way, so `lock` waits as for any live
            // owner, never a panic: a peer can rewrite the word.
            // Held by another thread or process; or the word names this
            // thread, which holds other shmkit mutexes but not this one here:
            // a peer wrote our identity, or we hold this mutex through a
            // second mapping of its segment. Taking it over could break the
            // exclusion in the second case, so it is waited for as for a live
            // owner (a peer can make us wait that way anyhow, by writing any
            // live thread's identity): `lock_timeout` and `try_lock` give up,
            // `lock` waits until the word changes, never a panic.
            // Spin a little while nobody sleeps: short critical sections end
            // before a system call would.
            // (Not under loom, where each re-read is one more branch to explore.)
            if !cfg!(loom) && block && v & WAITERS == 0 && spins < SPINS {
                spins += 1;
                std::hint::spin_loop();
                continue;
            }
            let now = Instant::now();
            let expired = deadline.is_some_and(|d| now >= d);
            // Is the owner dead? Checked at once by `try_lock`, after
            // `DEATH_POLL` of one owner by `lock`, and before giving up at
            // the deadline by `lock_timeout`.
            let check = expired
                || match watching {
                    Some((o, since)) if o == owner => now.duration_since(since) >= DEATH_POLL,
                    _ => {
                        watching = Some((owner, now));
                        !block
                    }
                };
            if check {
                watching = Some((owner, now));
                if wait::owner_state(owner) == Liveness::Dead {
                    if self.take_over(v, me) {
                        return Acquired::OwnerDied;
                    }
                    continue;
                }
            }
            if expired {
                return Acquired::Busy;
            }
            let timeout = deadline.map_or(DEATH_POLL, |d| (d - now).min(DEATH_POLL));
            if v & WAITERS == 0
                && self
                    .word
                    .compare_exchange(v, v | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            wait::wait_low(&self.word, (v | WAITERS) as u32, Some(timeout));
            // After each sleep, the registry's look too: a shrink and
            // regrow that no access faulted on zeroed the word, which would
            // let this waiter in beside the owner it waits for.
            if super::check_intact(self).is_err() {
                return Acquired::Lost;
            }
            contended = true;
        }
    }

    /// Takes the lock over from the owner recorded in `v`, who does not hold
    /// it (dead, or a word a peer wrote), if the word still is `v`. WAITERS,
    /// since others may sleep; INCONSISTENT, since the data is suspect.
    fn take_over(&self, v: u64, me: u64) -> bool {
        let new = me | INCONSISTENT | WAITERS;
        // SYNC(lock): the old owner released nothing; this orders us after
        // whatever it wrote before it died, as far as the hardware had made
        // it visible.
        self.word
            .compare_exchange(v, new, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Unlock: one `swap`, and `FUTEX_WAKE` only if someone may sleep.
    /// `inconsistent` keeps the owner-died mark for the next locker.
    #[inline]
    pub(crate) fn unlock(&self, inconsistent: bool) {
        let after = if inconsistent { INCONSISTENT } else { 0 };
        // SYNC(lock): releases the critical section to the next locker.
        let old = self.word.swap(after, Ordering::Release);
        // Checked only in the loom models: in shared memory a peer may have
        // written any word meanwhile, and that must not panic us (found by
        // the scribbler in tests/faults.rs).
        #[cfg(loom)]
        debug_assert_eq!(
            old & OWNER_MASK,
            wait::current_owner(),
            "unlocked by a thread that does not own the mutex"
        );
        if old & WAITERS != 0 {
            wait::wake_low(&self.word, 1);
        }
    }
}

/// A mutual-exclusion lock that works across processes and survives the death
/// of its owner.
///
/// It lives in shared memory: `#[repr(C)]`, an 8-byte lock word followed by
/// the `T` it protects, and all-zero bytes are an unlocked mutex holding a
/// zeroed `T`. Borrow one in place with [`Mutex::from_ptr`].
///
/// If the thread holding the lock dies (its process is killed, or it exits
/// with the guard leaked), the next locker gets the lock together with an
/// [`OwnerDied`] warning, as `std`'s `PoisonError` carries its guard. The
/// data stays marked inconsistent until a guard calls
/// [`MutexGuard::mark_consistent`]; until then every locker gets the warning.
/// Waiters already blocked notice the death within 100 ms. See the module
/// source for the lock-word states and why death is detected this way.
///
/// # Limits
/// - Linux: all processes must share one PID namespace (owners are recorded
///   by thread id) and one time namespace (the start time in `/proc` is
///   shifted by the reader's time namespace). A child made by `fork` without `exec` must not use the
///   sync types: it inherits its parent thread's cached identity.
/// - Windows: a waiter sleeps on a named semaphore of the lock word when the
///   mutex lives in a named segment, and polls (about 1 ms of wake-up
///   latency) when it lives elsewhere; a dead owner is detected by thread id
///   plus creation time, as on Linux.
/// - macOS and FreeBSD (compile-checked in CI, never run): a dead owner is
///   detected by pid plus process start time, and, within one process, by
///   its thread having exited; so a whole process must die for another
///   process to take over its locks. FreeBSD hides other users' processes
///   when `security.bsd.see_other_uids=0` (or in a jail): a dead owner there
///   is then not detected, and `lock_timeout` times out instead.
///
/// # Example
/// ```
/// use shmkit::sync::Mutex;
///
/// let m = Mutex::new(5u32);
/// {
///     let mut g = m.lock().unwrap();
///     *g += 1;
/// }
/// assert_eq!(*m.try_lock().unwrap(), 6);
/// ```
#[repr(C)]
pub struct Mutex<T> {
    raw: RawMutex,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex gives `&mut T` to one guard at a time (the lock word
// ensures mutual exclusion), so sharing it between threads only moves the
// `T` between them, which `T: Send` allows.
unsafe impl<T: Send> Sync for Mutex<T> {}
// SAFETY: the mutex owns its `T` and no thread-bound state.
unsafe impl<T: Send> Send for Mutex<T> {}

/// The reason a [`Mutex::try_lock`] or [`Mutex::lock_timeout`] did not
/// simply return a guard.
///
/// With `?` it becomes an [`Error`](crate::Error): [`Error::LockBusy`],
/// [`Error::LockTimeout`], [`Error::OwnerDied`](crate::Error::OwnerDied)
/// (see [`OwnerDied`] for what that conversion keeps) or the lost mapping's
/// [`Error::Truncated`](crate::Error::Truncated).
///
/// [`Error::LockBusy`]: crate::Error::LockBusy
/// [`Error::LockTimeout`]: crate::Error::LockTimeout
pub enum TryLockError<G> {
    /// The lock is held by a live owner (`try_lock`), or by this very thread
    /// (`try_lock` and `lock_timeout`, which then give up at once: waiting
    /// for our own unlock would never end).
    WouldBlock,
    /// `lock_timeout` only: a live owner still held the lock at the deadline.
    TimedOut {
        /// The timeout that ran out.
        waited: Duration,
    },
    /// The lock was taken, but its previous owner died holding it.
    OwnerDied(OwnerDied<G>),
    /// The mapping that holds the mutex was lost: a peer shrank the
    /// segment ([`Error::Truncated`](crate::Error::Truncated)), or a page
    /// of a sparse segment could not be had
    /// ([`Error::NoSpace`](crate::Error::NoSpace)). The lock word is now
    /// private zeros that no other process sees, so no lock was taken; the
    /// error says which segment, and every later call on this mapping
    /// returns it again.
    Lost(crate::Error),
}

/// Why a [`Mutex::lock`] did not simply return a guard: a dead previous
/// owner (with the guard, as `std`'s `PoisonError` carries it), or a lost
/// mapping.
///
/// With `?` it becomes an [`Error`](crate::Error):
/// [`Error::OwnerDied`](crate::Error::OwnerDied) (see [`OwnerDied`] for
/// what that conversion keeps) or the mapping's
/// [`Error::Truncated`](crate::Error::Truncated).
///
/// # Example
/// ```
/// use shmkit::sync::{LockError, Mutex};
/// let m = Mutex::new(3u32);
/// std::thread::scope(|s| {
///     // A thread that ends holding the lock is a dead owner.
///     s.spawn(|| std::mem::forget(m.lock().unwrap()));
/// });
/// match m.lock() {
///     Ok(_) => unreachable!("the owner died holding it"),
///     Err(LockError::OwnerDied(died)) => {
///         let mut g = died.into_inner();
///         *g = 0; // repair
///         g.mark_consistent();
///     }
///     Err(LockError::Lost(e)) => panic!("{e}"),
/// }
/// assert_eq!(*m.lock().unwrap(), 0);
/// ```
pub enum LockError<G> {
    /// The lock was taken, but its previous owner died holding it.
    OwnerDied(OwnerDied<G>),
    /// The mapping that holds the mutex was lost, as
    /// [`TryLockError::Lost`]: no lock was taken.
    Lost(crate::Error),
}

impl<G> LockError<G> {
    /// The dead owner's report, or `None` for a lost mapping.
    ///
    /// # Example
    /// ```
    /// use shmkit::sync::Mutex;
    /// let m = Mutex::new(1u8);
    /// std::thread::scope(|s| {
    ///     s.spawn(|| std::mem::forget(m.lock().unwrap()));
    /// });
    /// let died = m.lock().unwrap_err().owner_died().expect("a dead owner");
    /// assert!(died.get_ref().is_inconsistent());
    /// ```
    pub fn owner_died(self) -> Option<OwnerDied<G>> {
        match self {
            LockError::OwnerDied(died) => Some(died),
            LockError::Lost(_) => None,
        }
    }
}

impl<G> fmt::Debug for LockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::OwnerDied(e) => fmt::Debug::fmt(e, f),
            LockError::Lost(e) => f.debug_tuple("Lost").field(e).finish(),
        }
    }
}

impl<G> fmt::Display for LockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::OwnerDied(e) => fmt::Display::fmt(e, f),
            LockError::Lost(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl<G> std::error::Error for LockError<G> {}

impl<T> From<LockError<MutexGuard<'_, T>>> for crate::Error {
    /// As for [`OwnerDied`], or the lost mapping's error.
    fn from(e: LockError<MutexGuard<'_, T>>) -> Self {
        match e {
            LockError::OwnerDied(died) => died.into(),
            LockError::Lost(e) => e,
        }
    }
}

/// The lock was acquired, but a previous owner died while holding it, so the
/// data may be half-updated. Carries the guard, like `std`'s `PoisonError`.
///
/// Repair the data through [`get_mut`](Self::get_mut) or
/// [`into_inner`](Self::into_inner), then call
/// [`MutexGuard::mark_consistent`]; otherwise the next locker is warned too.
/// [`Mutex::lock_or_repair`] does all of that in one call.
///
/// With `?` it becomes [`Error::OwnerDied`](crate::Error::OwnerDied), so that
/// `let mut g = m.lock()?;` is one line and a dead owner is still never
/// ignored by accident: the conversion drops the guard unrepaired, which
/// unlocks and leaves the data marked, so every later `lock` reports the death
/// again until someone repairs it.
///
/// ```
/// use shmkit::sync::Mutex;
/// fn bump(m: &Mutex<u64>) -> shmkit::Result<u64> {
///     let mut n = m.lock()?;
///     *n += 1;
///     Ok(*n)
/// }
/// let m = Mutex::new(0);
/// assert_eq!(bump(&m).unwrap(), 1);
/// // A thread that ends holding the lock is a dead owner.
/// std::thread::scope(|s| {
///     s.spawn(|| std::mem::forget(m.lock().unwrap()));
/// });
/// assert!(matches!(bump(&m), Err(shmkit::Error::OwnerDied { .. })));
/// assert!(matches!(bump(&m), Err(shmkit::Error::OwnerDied { .. })), "still marked");
/// drop(m.lock_or_repair(|n| *n = 0).unwrap());
/// assert_eq!(bump(&m).unwrap(), 1);
/// ```
pub struct OwnerDied<G> {
    guard: G,
}

impl<G> OwnerDied<G> {
    /// The guard, to inspect or repair the data.
    ///
    /// # Example
    /// ```
    /// use shmkit::sync::Mutex;
    /// let m = Mutex::new(3u32);
    /// std::thread::scope(|s| {
    ///     // A thread that ends holding the lock is a dead owner.
    ///     s.spawn(|| std::mem::forget(m.lock().unwrap()));
    /// });
    /// let died = m.lock().unwrap_err().owner_died().unwrap();
    /// let mut g = died.into_inner(); // the lock is held through `g`
    /// assert_eq!(*g, 3);
    /// *g = 0;
    /// g.mark_consistent();
    /// drop(g);
    /// assert_eq!(*m.lock().unwrap(), 0);
    /// ```
    pub fn into_inner(self) -> G {
        self.guard
    }

    /// The guard, borrowed.
    ///
    /// # Example
    /// ```
    /// use shmkit::sync::Mutex;
    /// let m = Mutex::new(9u32);
    /// std::thread::scope(|s| {
    ///     // A thread that ends holding the lock is a dead owner.
    ///     s.spawn(|| std::mem::forget(m.lock().unwrap()));
    /// });
    /// let died = m.lock().unwrap_err().owner_died().unwrap();
    /// assert_eq!(**died.get_ref(), 9);
    /// assert!(died.get_ref().is_inconsistent());
    /// ```
    pub fn get_ref(&self) -> &G {
        &self.guard
    }

    /// The guard, borrowed mutably.
    ///
    /// # Example
    /// ```
    /// use shmkit::sync::Mutex;
    /// let m = Mutex::new(9u32);
    /// std::thread::scope(|s| {
    ///     // A thread that ends holding the lock is a dead owner.
    ///     s.spawn(|| std::mem::forget(m.lock().unwrap()));
    /// });
    /// let mut died = m.lock().unwrap_err().owner_died().unwrap();
    /// **died.get_mut() = 1; // repair in place
    /// died.get_mut().mark_consistent();
    /// drop(died); // unlocks, consistent now
    /// assert_eq!(*m.lock().unwrap(), 1);
    /// ```
    pub fn get_mut(&mut self) -> &mut G {
        &mut self.guard
    }
}

impl<G> fmt::Debug for OwnerDied<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OwnerDied { .. }")
    }
}

impl<G> fmt::Display for OwnerDied<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a previous owner of the mutex died holding it: check and repair the data, \
             then call MutexGuard::mark_consistent",
        )
    }
}

impl<G> std::error::Error for OwnerDied<G> {}

impl<G> fmt::Debug for TryLockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryLockError::WouldBlock => f.write_str("WouldBlock"),
            TryLockError::TimedOut { waited } => write!(f, "TimedOut {{ waited: {waited:?} }}"),
            TryLockError::OwnerDied(e) => fmt::Debug::fmt(e, f),
            TryLockError::Lost(e) => f.debug_tuple("Lost").field(e).finish(),
        }
    }
}

impl<G> fmt::Display for TryLockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryLockError::WouldBlock => f.write_str(
                "the mutex is held, by a live owner or by this very thread: retry later, \
                 or wait for it with lock or lock_timeout",
            ),
            TryLockError::TimedOut { waited } => write!(
                f,
                "timed out after {waited:?} waiting for the mutex: its owner is alive and \
                 still holds it; wait longer, or find what keeps it"
            ),
            TryLockError::OwnerDied(e) => fmt::Display::fmt(e, f),
            TryLockError::Lost(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl<T> From<OwnerDied<MutexGuard<'_, T>>> for crate::Error {
    /// [`Error::OwnerDied`](crate::Error::OwnerDied). The guard is dropped
    /// unrepaired: the mutex unlocks with its data still marked, so the next
    /// `lock` reports the death again.
    fn from(died: OwnerDied<MutexGuard<'_, T>>) -> Self {
        drop(died.guard);
        crate::Error::OwnerDied {
            data: std::any::type_name::<T>(),
        }
    }
}

impl<T> From<TryLockError<MutexGuard<'_, T>>> for crate::Error {
    /// [`Error::LockBusy`](crate::Error::LockBusy),
    /// [`Error::LockTimeout`](crate::Error::LockTimeout), or as for
    /// [`OwnerDied`].
    fn from(e: TryLockError<MutexGuard<'_, T>>) -> Self {
        match e {
            TryLockError::WouldBlock => crate::Error::LockBusy,
            TryLockError::TimedOut { waited } => crate::Error::LockTimeout { waited },
            TryLockError::OwnerDied(died) => died.into(),
            TryLockError::Lost(e) => e,
        }
    }
}

impl<G> std::error::Error for TryLockError<G> {}

impl<T> Mutex<T> {
    /// A new unlocked mutex holding `value`, in ordinary memory (for use
    /// between threads, or to copy into place before sharing).
    ///
    /// # Example
    /// ```
    /// use shmkit::sync::Mutex;
    /// static COUNT: Mutex<u64> = Mutex::new(0); // `const`: fine in a static
    /// std::thread::scope(|s| {
    ///     for _ in 0..4 {
    ///         s.spawn(|| *COUNT.lock().unwrap() += 1);
    ///     }
    /// });
    /// assert_eq!(*COUNT.lock().unwrap(), 4);
    /// ```
    #[cfg(not(loom))]
    pub const fn new(value: T) -> Self {
        Mutex {
            raw: RawMutex {
                word: AtomicU64::new(0),
            },
            data: UnsafeCell::new(value),
        }
    }

    /// A new unlocked mutex holding `value` (loom build: not `const`).
    #[cfg(loom)]
    pub fn new(value: T) -> Self {
        Mutex {
            raw: RawMutex::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// Borrows the mutex that lives at `ptr`, typically inside a mapped
    /// [`Segment`](crate::Segment).
    ///
    /// # Safety
    /// - `ptr` is aligned to `align_of::<Mutex<T>>()` (8 or `T`'s alignment)
    ///   and the `size_of::<Mutex<T>>()` bytes there stay mapped, readable
    ///   and writable for `'a`;
    /// - those bytes hold a mutex: all zeros, or left by this type's methods;
    /// - every process and thread that touches them does so only through
    ///   `Mutex<T>` (so the data is accessed under the lock only);
    /// - `T` is valid for any byte pattern a peer or a dead owner may leave
    ///   ([`Layout`](crate::Layout) ensures it for the bytes themselves).
    ///
    /// # Example
    /// ```
    /// # use shmkit::sync::Mutex;
    /// // 8-aligned (a `[u64; 2]` alone is only 4-aligned on i686) and
    /// // zeroed: an unlocked Mutex<u64>.
    /// #[repr(align(8))]
    /// struct Words([u64; 2]);
    /// let mut words = Words([0; 2]);
    /// // SAFETY: aligned, 16 bytes, zeroed, used only as this mutex.
    /// let m = unsafe { Mutex::<u64>::from_ptr(words.0.as_mut_ptr().cast()) };
    /// *m.lock().unwrap() = 7;
    /// assert_eq!(*m.lock().unwrap(), 7);
    /// ```
    #[cfg(not(loom))]
    pub unsafe fn from_ptr<'a>(ptr: *const u8) -> &'a Self
    where
        T: crate::Layout,
    {
        debug_assert!(ptr.cast::<Self>().is_aligned());
        // SAFETY:
        // - alignment, size and lifetime: the caller's first obligation;
        // - a valid `Mutex<T>`: zero bytes are an unlocked word and (by
        //   `Layout`) a valid `T`; other states were left by this type;
        // - shared access only: a `&Mutex` allows nothing but the protocol,
        //   and the `UnsafeCell` permits mutation through it.
        unsafe { &*ptr.cast::<Self>() }
    }

    /// Locks, blocking until the lock is free or its owner is found dead.
    ///
    /// # Errors
    /// - [`LockError::OwnerDied`], carrying the guard, if a previous owner
    ///   died holding the lock and nobody has called
    ///   [`MutexGuard::mark_consistent`] since. `?` turns it into
    ///   [`Error::OwnerDied`](crate::Error::OwnerDied) and leaves the data
    ///   marked (see [`OwnerDied`]); [`lock_or_repair`] handles it in place.
    /// - [`LockError::Lost`] if a peer shrank the segment under this mutex
    ///   ([`Error::Truncated`](crate::Error::Truncated)): a `lock` waiting
    ///   for a live owner then returns within one 100 ms sleep slice.
    ///
    /// # Deadlock
    /// If this thread already holds this lock, `lock` never returns, as
    /// `std`'s may not; `try_lock` and `lock_timeout` return
    /// [`TryLockError::WouldBlock`] at once instead. The same holds for a
    /// lock word that names this thread where it leaked a guard: the lock is
    /// held by a live thread. A lock word that names this thread while it
    /// holds no shmkit mutex at all was written by a peer: that is taken over
    /// as from a dead owner ([`OwnerDied`]). One that names this thread while
    /// it holds other shmkit mutexes is waited for as a live owner (it may be
    /// this mutex, held through a second mapping of its segment). `lock`
    /// never panics on what a peer wrote; it waits until the word changes.
    ///
    /// [`lock_or_repair`]: Self::lock_or_repair
    ///
    /// # Example
    /// ```
    /// let m = shmkit::sync::Mutex::new(vec![1]);
    /// m.lock().unwrap().push(2);
    /// assert_eq!(*m.lock().unwrap(), [1, 2]);
    /// ```
    pub fn lock(&self) -> Result<MutexGuard<'_, T>, LockError<MutexGuard<'_, T>>> {
        match self.raw.lock(None) {
            Acquired::Clean => self.checked(self.clean_guard()).map_err(LockError::Lost),
            Acquired::OwnerDied => match self.checked(self.died_guard()) {
                Ok(died) => Err(LockError::OwnerDied(died)),
                Err(e) => Err(LockError::Lost(e)),
            },
            Acquired::Lost => Err(LockError::Lost(self.lost())),
            // Without a deadline the raw lock waits until it has the lock.
            Acquired::Busy | Acquired::HeldHere => {
                unreachable!("lock without deadline gave up")
            }
        }
    }

    /// Locks, and if a previous owner died holding the lock, first runs
    /// `repair` on the data and marks it consistent: the recovery path in
    /// one call.
    ///
    /// Blocks and deadlocks as [`lock`](Self::lock) does.
    ///
    /// # Errors
    /// The lost mapping's error, as [`LockError::Lost`] carries it.
    ///
    /// # Example
    /// ```
    /// use shmkit::sync::Mutex;
    /// let m = Mutex::new(41u32);
    /// std::thread::scope(|s| {
    ///     // A thread that ends holding the lock is a dead owner.
    ///     s.spawn(|| std::mem::forget(m.lock().unwrap()));
    /// });
    /// let g = m.lock_or_repair(|n| *n = 0)?;
    /// assert_eq!(*g, 0);
    /// assert!(!g.is_inconsistent());
    /// drop(g);
    /// assert!(m.lock().is_ok());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn lock_or_repair(&self, repair: impl FnOnce(&mut T)) -> crate::Result<MutexGuard<'_, T>> {
        match self.lock() {
            Ok(guard) => Ok(guard),
            Err(LockError::OwnerDied(died)) => {
                let mut guard = died.into_inner();
                repair(&mut guard);
                guard.mark_consistent();
                Ok(guard)
            }
            Err(LockError::Lost(e)) => Err(e),
        }
    }

    /// Locks if the lock is free (or its owner is dead) right now.
    ///
    /// When the lock is held, this asks the OS whether the holder still runs
    /// (a read of `/proc` on Linux), so do not spin on it.
    ///
    /// # Errors
    /// [`TryLockError::WouldBlock`] if a live owner, or this very thread,
    /// holds it; [`TryLockError::OwnerDied`] and [`TryLockError::Lost`] as
    /// for [`lock`](Self::lock).
    ///
    /// # Example
    /// ```
    /// use shmkit::sync::{Mutex, TryLockError};
    /// let m = Mutex::new(0);
    /// let g = m.try_lock().unwrap();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock))));
    /// });
    /// drop(g);
    /// ```
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError<MutexGuard<'_, T>>> {
        match self.raw.try_lock() {
            Acquired::Clean => self.checked(self.clean_guard()).map_err(TryLockError::Lost),
            Acquired::OwnerDied => Err(self.died(self.died_guard())),
            Acquired::Busy | Acquired::HeldHere => Err(self.unless_lost(TryLockError::WouldBlock)),
            Acquired::Lost => Err(TryLockError::Lost(self.lost())),
        }
    }

    /// Locks, waiting at most `timeout` (a timeout past what `Instant` can
    /// hold, such as `Duration::MAX`, waits as long as it takes).
    ///
    /// # Errors
    /// [`TryLockError::TimedOut`] if a live owner still held it at the
    /// deadline; [`TryLockError::WouldBlock`], at once, if this very thread
    /// holds it (waiting would never end); [`TryLockError::OwnerDied`] and
    /// [`TryLockError::Lost`] as for [`lock`](Self::lock).
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// use shmkit::sync::{Mutex, TryLockError};
    /// let m = Mutex::new(1);
    /// let g = m.lock_timeout(Duration::from_millis(10)).unwrap();
    /// assert_eq!(*g, 1);
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         let e = m.lock_timeout(Duration::from_millis(10)).unwrap_err();
    ///         assert!(matches!(e, TryLockError::TimedOut { .. }));
    ///     });
    /// });
    /// // Held by this thread: no wait, whatever the timeout.
    /// let again = m.lock_timeout(Duration::MAX).unwrap_err();
    /// assert!(matches!(again, TryLockError::WouldBlock));
    /// ```
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<MutexGuard<'_, T>, TryLockError<MutexGuard<'_, T>>> {
        match self
            .raw
            .lock_until(Instant::now().checked_add(timeout), false)
        {
            Acquired::Clean => self.checked(self.clean_guard()).map_err(TryLockError::Lost),
            Acquired::OwnerDied => Err(self.died(self.died_guard())),
            Acquired::Busy => Err(self.unless_lost(TryLockError::TimedOut { waited: timeout })),
            Acquired::HeldHere => Err(self.unless_lost(TryLockError::WouldBlock)),
            Acquired::Lost => Err(TryLockError::Lost(self.lost())),
        }
    }

    /// The data, through exclusive access to the mutex itself (no locking).
    ///
    /// # Example
    /// ```
    /// let mut m = shmkit::sync::Mutex::new(1u8);
    /// *m.get_mut() = 2; // `&mut` proves nobody else holds the lock
    /// assert_eq!(*m.lock().unwrap(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// `guard` (or the dead owner's report), unless the mapping that holds
    /// this mutex was lost: then the lock just taken is on private zeros
    /// that no peer sees, and it is let go again (dropping the guard
    /// unlocks those zeros, harmlessly) for the mapping's error.
    fn checked<G>(&self, guard: G) -> crate::Result<G> {
        match super::check_mapped(self) {
            Ok(()) => Ok(guard),
            Err(e) => {
                drop(guard);
                Err(e)
            }
        }
    }

    /// The error of the lost mapping that holds this mutex (flagged by the
    /// raw lock's `Acquired::Lost`).
    #[cold]
    fn lost(&self) -> crate::Error {
        match super::check_mapped(self) {
            Err(e) => e,
            // Not reached: a flagged mapping stays flagged. Said anyway
            // rather than a panic.
            Ok(()) => crate::Error::Truncated {
                name: String::from("(the segment holding this mutex)"),
            },
        }
    }

    /// `TryLockError::OwnerDied`, or `Lost` if the mapping was lost.
    fn died<'a>(&self, died: OwnerDied<MutexGuard<'a, T>>) -> TryLockError<MutexGuard<'a, T>> {
        match self.checked(died) {
            Ok(died) => TryLockError::OwnerDied(died),
            Err(e) => TryLockError::Lost(e),
        }
    }

    /// `e`, or `Lost` if the mapping was lost: a word on a lost page is
    /// private zeros, which a peer's lock can no longer hold busy.
    fn unless_lost<G>(&self, e: TryLockError<G>) -> TryLockError<G> {
        match super::check_mapped(self) {
            Ok(()) => e,
            Err(lost) => TryLockError::Lost(lost),
        }
    }

    /// The guard of a lock just taken with the data consistent.
    fn clean_guard(&self) -> MutexGuard<'_, T> {
        note_held(self.raw.addr(), true);
        crate::failpoint::hit("mutex-after-lock");
        MutexGuard {
            mutex: self,
            inconsistent: false,
            _not_send: PhantomData,
        }
    }

    /// The guard of a lock just taken over from a dead owner.
    fn died_guard(&self) -> OwnerDied<MutexGuard<'_, T>> {
        note_held(self.raw.addr(), true);
        crate::failpoint::hit("mutex-after-takeover");
        OwnerDied {
            guard: MutexGuard {
                mutex: self,
                inconsistent: true,
                _not_send: PhantomData,
            },
        }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex").finish_non_exhaustive()
    }
}

/// Access to the data of a locked [`Mutex`]; unlocks when dropped.
///
/// Not `Send`: the lock is owned by the thread that took it (its identity is
/// in the lock word, and is what death detection checks).
///
/// # Example
/// ```
/// use shmkit::sync::{Mutex, TryLockError};
/// let m = Mutex::new(String::from("a"));
/// let mut g = m.lock().unwrap();
/// g.push('b'); // `DerefMut` to the data
/// assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
/// drop(g); // unlocks
/// assert_eq!(*m.try_lock().unwrap(), "ab");
/// ```
pub struct MutexGuard<'a, T> {
    mutex: &'a Mutex<T>,
    inconsistent: bool,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a `&MutexGuard` gives only `&T`, which may be shared between
// threads when `T: Sync`.
unsafe impl<T: Sync> Sync for MutexGuard<'_, T> {}

impl<T> MutexGuard<'_, T> {
    /// Whether the data is still marked as left behind by a dead owner.
    ///
    /// # Example
    /// ```
    /// use shmkit::sync::Mutex;
    /// let m = Mutex::new(0u32);
    /// assert!(!m.lock().unwrap().is_inconsistent());
    /// std::thread::scope(|s| {
    ///     // A thread that ends holding the lock is a dead owner.
    ///     s.spawn(|| std::mem::forget(m.lock().unwrap()));
    /// });
    /// let g = m.lock().unwrap_err().owner_died().unwrap().into_inner();
    /// assert!(g.is_inconsistent());
    /// ```
    pub fn is_inconsistent(&self) -> bool {
        self.inconsistent
    }

    /// Declares the data repaired: after this guard unlocks, lockers no
    /// longer get [`OwnerDied`].
    ///
    /// # Example
    /// ```
    /// use shmkit::sync::Mutex;
    /// let m = Mutex::new(0u32);
    /// std::thread::scope(|s| {
    ///     // A thread that ends holding the lock is a dead owner.
    ///     s.spawn(|| std::mem::forget(m.lock().unwrap()));
    /// });
    /// let mut g = m.lock().unwrap_err().owner_died().unwrap().into_inner();
    /// assert!(g.is_inconsistent());
    /// *g = 0; // repair
    /// g.mark_consistent();
    /// drop(g);
    /// assert!(m.lock().is_ok());
    /// ```
    pub fn mark_consistent(&mut self) {
        self.inconsistent = false;
        crate::failpoint::hit("mutex-mark-consistent");
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY:
        // - this guard holds the lock, so no other guard (in any process
        //   that follows the protocol) accesses the data meanwhile;
        // - the pointer is valid for the mutex's lifetime, which outlives `'_`.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `deref`; `&mut self` makes this the only borrow
        // through this guard.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        crate::failpoint::hit("mutex-before-unlock");
        self.mutex.raw.unlock(self.inconsistent);
        note_held(self.mutex.raw.addr(), false);
    }
}

impl<T: fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn layout_is_fixed() {
        assert_eq!(std::mem::size_of::<Mutex<u64>>(), 16);
        assert_eq!(std::mem::align_of::<Mutex<u8>>(), 8);
        assert_eq!(std::mem::size_of::<Mutex<[u8; 3]>>(), 16);
    }

    #[test]
    fn threads_count_exactly() {
        let threads = 4;
        let n = if cfg!(miri) { 50 } else { 20_000 };
        let m = Arc::new(Mutex::new(0u64));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let m = Arc::clone(&m);
                std::thread::spawn(move || {
                    for _ in 0..n {
                        *m.lock().unwrap() += 1;
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(*m.lock().unwrap(), threads * n);
    }

    #[test]
    fn try_lock_and_timeout_fail_while_held() {
        let m = Mutex::new(1);
        let g = m.lock().unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
                let t = Duration::from_millis(if cfg!(miri) { 1 } else { 20 });
                assert!(matches!(
                    m.lock_timeout(t),
                    Err(TryLockError::TimedOut { waited }) if waited == t
                ));
            });
        });
        assert!(
            matches!(m.try_lock(), Err(TryLockError::WouldBlock)),
            "held by us"
        );
        drop(g);
        assert!(m.try_lock().is_ok());
    }

    /// `lock_timeout` shorter than the death poll still notices a dead owner
    /// before it gives up.
    #[test]
    fn lock_timeout_checks_owner_before_giving_up() {
        let m = Arc::new(Mutex::new(0u8));
        let m2 = Arc::clone(&m);
        std::thread::spawn(move || std::mem::forget(m2.lock().unwrap()))
            .join()
            .unwrap();
        let mut result = m.lock_timeout(Duration::from_millis(1));
        // /proc may show the joined thread for a moment longer.
        for _ in 0..100 {
            if !matches!(result, Err(TryLockError::WouldBlock)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
            result = m.lock_timeout(Duration::from_millis(1));
        }
        assert!(matches!(result, Err(TryLockError::OwnerDied(_))));
    }

    /// A thread that exits with the guard leaked is a dead owner: the next
    /// locker is told, and keeps being told until it marks the data
    /// consistent.
    /// A peer scribbled the lock word while we held the lock: unlocking
    /// must not panic (a debug assertion did, found by the scribbler in
    /// `tests/faults.rs`).
    #[test]
    fn unlock_after_the_word_was_scribbled_does_not_panic() {
        let m = Mutex::new(5u32);
        let g = m.lock().unwrap();
        m.raw.word.store(0x1234_5678_9ABC, Ordering::Relaxed);
        drop(g);
        assert_eq!(*m.lock().unwrap(), 5);
    }

    /// A peer that writes this thread's own identity into the word (a copy
    /// from when it held the lock) gets no panic out of `lock`: the thread
    /// holds no mutex, so the word is taken over as from a dead owner
    /// (found by the scribbler in `tests/faults.rs`).
    #[test]
    fn own_identity_written_by_a_peer_is_taken_over_not_a_double_lock() {
        let m = Mutex::new(7u32);
        m.raw.word.store(wait::current_owner(), Ordering::Relaxed);
        let g = match m.lock() {
            Err(e) => e.owner_died().expect("a dead owner").into_inner(),
            Ok(_) => panic!("expected OwnerDied"),
        };
        assert_eq!(*g, 7);
        drop(g);
        m.raw
            .word
            .store(wait::current_owner() | WAITERS, Ordering::Relaxed);
        assert!(matches!(m.try_lock(), Err(TryLockError::OwnerDied(_))));
        // While this thread holds another mutex, its identity in this word
        // may be this mutex held through a second mapping: it is waited for
        // as a live owner, never taken over, and never a panic. `lock`
        // returns once the peer rewrites the word.
        let other = Mutex::new(0u32);
        let _held = other.lock().unwrap();
        m.raw.word.store(wait::current_owner(), Ordering::Relaxed);
        assert!(matches!(
            m.lock_timeout(Duration::from_millis(1)),
            Err(TryLockError::TimedOut { .. })
        ));
        assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(50));
                m.raw.word.store(0, Ordering::Release);
            });
            assert_eq!(*m.lock().unwrap(), 7);
        });
    }

    /// A word with a thread id but no creation tag (a peer wrote its low
    /// half) names no thread that runs: the owner is dead, taken over at
    /// once by `try_lock` and never waited on for ever by `lock` (under Wine
    /// such a word was `Unknown`, and the scribbler in `tests/faults.rs`
    /// hung a `lock()` on it). No Linux or Windows thread has id
    /// `0x3FFF_FFF0` (Linux ids stay below 2^22; Windows ids below 2^26).
    #[cfg(all(any(target_os = "linux", windows), not(miri), not(loom)))]
    #[test]
    fn an_untagged_word_naming_no_thread_is_a_dead_owner() {
        let m = Mutex::new(3u32);
        m.raw.word.store(0x3FFF_FFF0, Ordering::Relaxed);
        assert!(matches!(m.try_lock(), Err(TryLockError::OwnerDied(_))));
        m.raw.word.store(0x3FFF_FFF0 | WAITERS, Ordering::Relaxed);
        let g = match m.lock() {
            Err(e) => e.owner_died().expect("a dead owner").into_inner(),
            Ok(_) => panic!("expected OwnerDied"),
        };
        assert_eq!(*g, 3);
    }

    /// A second lock of a mutex this thread holds, at the same address:
    /// `try_lock` and `lock_timeout`, whatever the timeout, say `WouldBlock`
    /// at once, with `Duration::MAX` too, and never panic.
    #[test]
    fn relocking_a_held_mutex_with_a_timeout_gives_would_block_at_once() {
        let m = Mutex::new(1u32);
        let _g = m.lock().unwrap();
        assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
        for t in [Duration::ZERO, Duration::from_secs(3600), Duration::MAX] {
            let since = Instant::now();
            assert!(matches!(m.lock_timeout(t), Err(TryLockError::WouldBlock)));
            assert!(since.elapsed() < Duration::from_secs(60), "{t:?} waited");
        }
    }

    /// A guard leaked with `mem::forget`, its memory reused with the old
    /// word in it (as when the segment is dropped and another is mapped at
    /// the same address holding that word): this thread still counts as the
    /// holder, and `lock` waits as for a live owner until the word changes,
    /// never a panic.
    #[test]
    fn lock_on_a_word_left_by_a_leaked_guard_waits_instead_of_panicking() {
        let m = Mutex::new(9u32);
        std::mem::forget(m.lock().unwrap());
        let leaked = m.raw.word.load(Ordering::Relaxed);
        assert_eq!(leaked & OWNER_MASK, wait::current_owner());
        assert!(matches!(
            m.lock_timeout(Duration::MAX),
            Err(TryLockError::WouldBlock)
        ));
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(if cfg!(miri) { 1 } else { 50 }));
                // A peer (or the new segment's owner) frees the word.
                m.raw.word.store(0, Ordering::Release);
                wait::wake_low(&m.raw.word, 1);
            });
            assert_eq!(*m.lock().unwrap(), 9);
        });
        note_held(m.raw.addr(), false); // the leaked guard's entry
    }

    /// `?` on `lock` gives `Error::OwnerDied` naming the data's type, and
    /// leaves the mutex marked: the next `lock` reports the death again,
    /// until `lock_or_repair` repairs it.
    #[test]
    fn question_mark_on_owner_died_keeps_the_mutex_marked() {
        fn bump(m: &Mutex<u64>) -> crate::Result<u64> {
            let mut n = m.lock()?;
            *n += 1;
            Ok(*n)
        }
        let m = Mutex::new(5u64);
        std::thread::scope(|s| {
            s.spawn(|| std::mem::forget(m.lock().unwrap()));
        });
        for _ in 0..2 {
            match bump(&m) {
                Err(crate::Error::OwnerDied { data }) => assert_eq!(data, "u64"),
                other => panic!("expected OwnerDied, got {other:?}"),
            }
        }
        assert_eq!(*m.lock_or_repair(|n| *n = 100).unwrap(), 100);
        assert_eq!(bump(&m).unwrap(), 101);
    }

    /// `?` on `try_lock` and `lock_timeout` names what happened.
    #[test]
    fn question_mark_on_try_lock_errors_says_busy_or_timed_out() {
        fn try_bump(m: &Mutex<u64>, t: Option<Duration>) -> crate::Result<()> {
            let mut n = match t {
                Some(t) => m.lock_timeout(t)?,
                None => m.try_lock()?,
            };
            *n += 1;
            Ok(())
        }
        let m = Mutex::new(0u64);
        let g = m.lock().unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                let e = try_bump(&m, None).unwrap_err();
                assert!(matches!(e, crate::Error::LockBusy), "{e:?}");
                let t = Duration::from_millis(1);
                let e = try_bump(&m, Some(t)).unwrap_err();
                assert!(matches!(e, crate::Error::LockTimeout { waited } if waited == t));
                assert!(format!("{e:?}").starts_with("LockTimeout: timed out after 1ms"));
            });
        });
        drop(g);
        try_bump(&m, Some(Duration::MAX)).unwrap();
        assert_eq!(*m.lock().unwrap(), 1);
    }

    #[test]
    fn owner_died_until_marked_consistent() {
        let m = Arc::new(Mutex::new(41u32));
        let m2 = Arc::clone(&m);
        std::thread::spawn(move || {
            let mut g = m2.lock().unwrap();
            *g += 1;
            std::mem::forget(g);
        })
        .join()
        .unwrap();
        let g = match m.lock() {
            Err(e) => e.owner_died().expect("a dead owner").into_inner(),
            Ok(_) => panic!("expected OwnerDied"),
        };
        assert_eq!(*g, 42);
        assert!(g.is_inconsistent());
        drop(g); // not repaired
        let mut g = match m.try_lock() {
            Err(TryLockError::OwnerDied(e)) => e.into_inner(),
            other => panic!("expected OwnerDied again, got {other:?}"),
        };
        g.mark_consistent();
        drop(g);
        assert_eq!(*m.lock().unwrap(), 42);
    }

    #[test]
    fn blocked_waiter_sees_owner_death() {
        let m = Arc::new(Mutex::new(0u32));
        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let m2 = Arc::clone(&m);
        let owner = std::thread::spawn(move || {
            let g = m2.lock().unwrap();
            locked_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            std::mem::forget(g);
        });
        locked_rx.recv().unwrap();
        let m3 = Arc::clone(&m);
        let waiter = std::thread::spawn(move || m3.lock().is_err());
        go_tx.send(()).unwrap();
        owner.join().unwrap();
        assert!(waiter.join().unwrap());
    }
}

/// `Mutex<T>` inside `#[derive(shmkit::Layout)]` structs and `Shared<T>`.
///
/// The lock word comes first, then `T`; `T`'s size must be a multiple of 8 so
/// that no padding follows it (checked at compile time).
// SAFETY:
// - every bit pattern is a valid `Mutex<T>`: the word is an atomic, and `T`
//   is `Layout` (any bytes valid);
// - no padding: the const assertion in `describe` holds for every `T` this
//   impl is used with (it fails to compile otherwise), and `describe` is
//   evaluated by every typed use;
// - the layout (an 8-byte word, then `T`) does not depend on pointer width;
// - `NoFields<B>` is `repr(transparent)` over `B`.
#[cfg(not(loom))]
unsafe impl<T: crate::Layout> crate::Layout for Mutex<T> {
    type Fields<B> = crate::layout::NoFields<B>;

    fn describe() -> crate::layout::Ty {
        use crate::layout::{Field, Prim, StructTy, Ty};
        const {
            assert!(
                std::mem::size_of::<Mutex<T>>() == 8 + std::mem::size_of::<T>(),
                "Mutex<T> in shared memory needs size_of::<T>() to be a multiple of 8 \
                 (and alignment at most 8): add padding fields to T"
            )
        };
        let data = T::describe();
        Ty::Struct(StructTy {
            name: "Mutex".into(),
            size: std::mem::size_of::<Self>() as u32,
            align: data.align().max(8),
            fields: vec![
                Field {
                    name: "word".into(),
                    offset: 0,
                    ty: Ty::Prim(Prim::AtomicU64),
                },
                Field {
                    name: "data".into(),
                    offset: std::mem::offset_of!(Self, data) as u32,
                    ty: data,
                },
            ],
        })
    }
}

// SAFETY: a `&Mutex<T>` into shared memory is used only through the lock
// protocol: the word atomically, the data only by the one lock holder, so
// processes that keep the protocol never race. A peer that writes the data
// without the lock breaks that for everyone, as with any lock.
#[cfg(not(loom))]
unsafe impl<T: crate::Layout> crate::InPlace for Mutex<T> {}
