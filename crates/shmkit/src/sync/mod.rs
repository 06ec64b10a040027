//! Synchronisation primitives that live inside shared memory: a robust
//! [`Mutex`], a [`SeqLock`] and an [`Event`].
//!
//! Each type is `#[repr(C)]`, made only of fixed-width atomics (plus, for
//! `Mutex<T>` and `SeqLock<T>`, the payload), with its alignment pinned, and
//! all-zero bytes are a valid initial state: a freshly created segment,
//! which the OS fills with zeros, holds an unlocked mutex, a seqlock holding
//! a zeroed value with no writer, and an unsignalled auto-reset event. Place
//! one in a segment at an offset aligned to its `align_of`, and borrow it in
//! every process with `from_ptr`.
//!
//! ```
//! use shmkit::sync::Mutex;
//! use shmkit::Segment;
//!
//! # let name = format!("doc-sync-{}", std::process::id());
//! let seg = Segment::create(&name, 4096)?;
//! // SAFETY: the segment is page-aligned, large enough, zero-filled (a valid
//! // unlocked `Mutex<u64>`), outlives `m`, and is used only as this mutex.
//! let m: &Mutex<u64> = unsafe { Mutex::from_ptr(seg.as_ptr()) };
//! *m.lock().unwrap() += 1;
//! assert_eq!(*m.lock().unwrap(), 1);
//! # Ok::<(), shmkit::Error>(())
//! ```
//!
//! # Platforms
//! One backend per OS (`sync/wait_*.rs`) waits, wakes and decides whether a
//! recorded owner still runs:
//!
//! | OS | waiting | a dead owner is detected by | run in CI |
//! |----|---------|-----------------------------|-----------|
//! | Linux | shared futexes | thread id + thread start time (`/proc`, `kill(tid, 0)`) | yes |
//! | Windows | a named semaphore per waited word in a named segment, `Local\shmkit-wake:NAME:OFFSET` (`os::wake`); polling for words elsewhere | thread id + creation time (`OpenThread`, `GetExitCodeThread`, `GetThreadTimes`) | yes, under Wine |
//! | macOS | `os_sync_wait_on_address` (`SHARED`, macOS 14.4+), else `__ulock_wait` (`UL_COMPARE_AND_WAIT_SHARED`), else polling | pid + process start time (`proc_pidinfo`), plus thread exit within the process | **compile-checked only** |
//! | FreeBSD | `_umtx_op(UMTX_OP_WAIT_UINT)` / `UMTX_OP_WAKE` (process-shared) | pid + process start time (`sysctl kern.proc.pid`), plus thread exit within the process | **compile-checked only** |
//!
//! The macOS and FreeBSD backends pass clippy for their targets in CI
//! (`ci/targets.sh`) but have never run there or here; the owner logic they
//! share (`sync/wait_bsd.rs`) is unit-tested on Linux against real
//! processes, with `/proc` standing in for their OS queries. Under Miri and
//! loom every OS uses `sync/wait_fallback.rs`.
//!
//! # Owner words
//! [`Mutex`] and the [`SeqLock`] writer record their owner as one `u64`:
//!
//! | bits    | meaning                                                         |
//! |---------|-----------------------------------------------------------------|
//! | 0..=29  | owner id, never 0 for an owner (0 = no owner): see below        |
//! | 30      | mutex only: `INCONSISTENT`, the data was left by a dead owner   |
//! | 31      | mutex only: `WAITERS`, someone may sleep on the word            |
//! | 32..=63 | owner tag: low 32 bits of the owner's start time                |
//!
//! - Linux: the id is the TID (`gettid`), the tag the thread's start time in
//!   clock ticks since boot. The low half is the futex word, laid out like
//!   the kernel's robust futex word (TID in the low 30 bits, flags in the
//!   top two).
//! - Windows: the thread id, and the thread's creation time (100 ns units).
//! - macOS and FreeBSD: the id is the pid (bits 0..=16) plus a serial
//!   number of the thread within its process (bits 17..=29); the tag is the
//!   *process's* start time in microseconds (since 1970 on macOS, since boot
//!   on FreeBSD). Their OSes give no thread identity another process can
//!   check, so a process's liveness is checked across processes, a
//!   thread's only within its own. The low half is the word their wait
//!   calls compare.

mod event;
mod mutex;
mod primitive;
mod seqlock;
pub mod words;

// One wait/wake and owner-liveness backend per OS, chosen here; Miri and
// loom, which cannot make these system calls, use the fallback everywhere.
#[cfg_attr(all(target_os = "linux", not(miri), not(loom)), path = "wait_linux.rs")]
#[cfg_attr(all(target_os = "macos", not(miri), not(loom)), path = "wait_macos.rs")]
#[cfg_attr(
    all(target_os = "freebsd", not(miri), not(loom)),
    path = "wait_freebsd.rs"
)]
#[cfg_attr(
    not(all(
        any(target_os = "linux", target_os = "macos", target_os = "freebsd"),
        not(miri),
        not(loom)
    )),
    path = "wait_fallback.rs"
)]
mod wait;

/// What the macOS and FreeBSD backends share (pid + start-time owners);
/// built in every test build too, so that it is tested on Linux.
#[cfg(any(
    all(any(target_os = "macos", target_os = "freebsd"), not(miri), not(loom)),
    all(test, not(loom))
))]
#[cfg_attr(not(any(target_os = "macos", target_os = "freebsd")), allow(dead_code))]
mod wait_bsd;

#[cfg(all(test, loom))]
mod loom_tests;

#[cfg(not(loom))]
pub(crate) use event::Watch as EventWatch;
pub use event::{Event, EventMode};
pub use mutex::{LockError, Mutex, MutexGuard, OwnerDied, TryLockError};
pub use seqlock::{SeqLock, SeqLockWriter, WriterStatus};
#[cfg(not(loom))]
pub use seqlock::{SeqLockBytes, SeqLockBytesWriter};
#[cfg(all(test, target_os = "linux", not(miri), not(loom)))]
pub(crate) use wait::disable_waitv_for_tests;
#[cfg(not(loom))]
pub(crate) use wait::{wait_any, WAIT_ANY_MAX};

/// Whether the segment mapping that holds `value` is still the segment's.
///
/// A peer that shrinks a segment while this process has it mapped makes
/// the lost pages private zeros here (see [`Error::Truncated`]). The sync
/// types and atomics that [`Shared::get`](crate::Shared::get) and
/// [`Ref::in_place`](crate::layout::Ref::in_place) borrow in place keep working on
/// those zeros, and a plain `&AtomicU64` cannot report it: call this after
/// using one to learn whether what it did reached the segment.
/// [`Event`]'s blocking waits end on their own when their mapping is lost.
///
/// One atomic load while no mapping of this process is lost. A value
/// that is not in a segment (on the heap or the stack) is always `Ok`.
///
/// # Errors
/// [`Error::Truncated`] naming the segment (or [`Error::NoSpace`], if a
/// page of a sparse segment could not be allocated) once the mapping that
/// holds `value` was lost; it stays lost.
///
/// # Example
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// let on_heap = AtomicU64::new(7);
/// on_heap.fetch_add(1, Ordering::Relaxed);
/// assert!(shmkit::sync::check_mapped(&on_heap).is_ok());
/// ```
///
/// [`Error::Truncated`]: crate::Error::Truncated
/// [`Error::NoSpace`]: crate::Error::NoSpace
#[inline]
pub fn check_mapped<T: ?Sized>(value: &T) -> crate::Result<()> {
    match crate::os::lost_at((value as *const T).cast::<u8>()) {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

/// [`check_mapped`], and also a shrink and regrow that no access faulted
/// on: the end marker of the typed segment that holds `value` is gone (see
/// [`Error::Truncated`](crate::Error::Truncated)). A registry lookup, for
/// the slow paths of the in-place types (each sleep slice of a wait), where
/// its cost does not count.
#[cold]
pub(crate) fn check_intact<T: ?Sized>(value: &T) -> crate::Result<()> {
    // SAFETY: `value` is borrowed for the whole call, so the mapping that
    // holds it, if any, stays mapped.
    match unsafe { crate::os::marker_lost_at((value as *const T).cast::<u8>()) } {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

/// Bits 0..=29 of an owner word: the owner's thread id.
const TID_MASK: u64 = 0x3FFF_FFFF;

/// What the OS says about a recorded owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Liveness {
    /// The owner thread still runs.
    Alive,
    /// The owner thread is gone, proven by the OS.
    Dead,
    /// Cannot tell; treated as alive.
    Unknown,
}
