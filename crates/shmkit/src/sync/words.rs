//! Reading the words of a [`Mutex`](super::Mutex), [`Event`](super::Event)
//! or [`SeqLock`](super::SeqLock) from outside, for tools that show a
//! segment's state (`shmkit info`).
//!
//! Each function takes a word's value, copied out of the segment by the
//! caller (for example with [`Segment::read_at`](crate::Segment::read_at)),
//! never a reference into shared memory, and only decodes it: nothing is
//! written, no lock is taken. The answer describes the moment of the copy.

use super::{wait, Liveness, TID_MASK};

/// Bit 30 of a mutex word: data left by a dead owner (as in `mutex.rs`).
const INCONSISTENT: u64 = 1 << 30;
/// Bit 0 of an event's state word: signalled (as in `event.rs`).
const SIGNALLED: u32 = 1;

/// What a lock word's owner is, as far as the OS can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Holder {
    /// Nobody holds it.
    None,
    /// Thread `tid` holds it and runs (or its liveness cannot be checked).
    Alive {
        /// The holder's thread id (its process id for a single-threaded holder).
        tid: u32,
    },
    /// Thread `tid` held it and has died; the next taker recovers it.
    Died {
        /// The dead holder's thread id.
        tid: u32,
    },
}

fn holder(word: u64) -> Holder {
    let tid = (word & TID_MASK) as u32;
    if tid == 0 {
        return Holder::None;
    }
    match wait::owner_state(word & !(INCONSISTENT | (1 << 31))) {
        Liveness::Dead => Holder::Died { tid },
        Liveness::Alive | Liveness::Unknown => Holder::Alive { tid },
    }
}

/// A [`Mutex`](super::Mutex)'s state from its lock word (the first 8 bytes,
/// little-endian on every supported target): who holds it, and whether the
/// data was left by a dead owner and not yet marked consistent.
///
/// # Example
/// ```
/// use shmkit::sync::words::{mutex_state, Holder};
/// use shmkit::{sync::Mutex, Segment};
/// assert_eq!(mutex_state(0), (Holder::None, false));
///
/// # let name = format!("doc-words-{}", std::process::id());
/// let seg = Segment::create(&name, 64)?;
/// // SAFETY: page-aligned, zeroed (an unlocked mutex), outlives `m`, and
/// // used only as this mutex.
/// let m = unsafe { Mutex::<u64>::from_ptr(seg.as_ptr()) };
/// let guard = m.lock().unwrap();
/// let mut word = [0u8; 8];
/// seg.read_at(0, &mut word)?; // a copy, as `shmkit info` takes it
/// let (holder, inconsistent) = mutex_state(u64::from_le_bytes(word));
/// assert!(matches!(holder, Holder::Alive { .. }));
/// assert!(!inconsistent);
/// drop(guard);
///
/// // A thread that ends holding the lock: the word names a dead holder.
/// std::thread::scope(|s| {
///     s.spawn(|| std::mem::forget(m.lock().unwrap()));
/// });
/// let state = || -> shmkit::Result<(Holder, bool)> {
///     let mut word = [0u8; 8];
///     seg.read_at(0, &mut word)?;
///     Ok(mutex_state(u64::from_le_bytes(word)))
/// };
/// // The OS reports a joined thread gone a moment later: poll, boundedly.
/// let start = std::time::Instant::now();
/// while !matches!(state()?.0, Holder::Died { .. }) && start.elapsed().as_secs() < 5 {
///     std::thread::sleep(std::time::Duration::from_millis(1));
/// }
/// assert!(matches!(state()?.0, Holder::Died { .. }));
/// # Ok::<(), shmkit::Error>(())
/// ```
pub fn mutex_state(word: u64) -> (Holder, bool) {
    (holder(word), word & INCONSISTENT != 0)
}

/// Whether an [`Event`](super::Event) is signalled, from its state word (the
/// first 4 bytes).
///
/// # Example
/// ```
/// assert!(!shmkit::sync::words::event_signalled(0));
/// assert!(shmkit::sync::words::event_signalled(1));
/// ```
pub fn event_signalled(state: u32) -> bool {
    state & SIGNALLED != 0
}

/// A [`SeqLock`](super::SeqLock)'s writer, from its writer word (bytes 8..16),
/// and whether a write is in progress, from its sequence word (bytes 0..8,
/// odd during a write; a dead writer leaves it odd).
///
/// # Example
/// ```
/// use shmkit::sync::words::{seqlock_state, Holder};
/// assert_eq!(seqlock_state(4, 0), (Holder::None, false));
/// // An odd sequence: a write in progress (or abandoned), here with no
/// // writer recorded.
/// assert_eq!(seqlock_state(5, 0), (Holder::None, true));
/// ```
pub fn seqlock_state(seq: u64, writer: u64) -> (Holder, bool) {
    (holder(writer), seq % 2 == 1)
}
