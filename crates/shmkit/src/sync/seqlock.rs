//! A sequence lock with a double buffer, for one writer and many readers in
//! any processes.
//!
//! # Algorithm
//! A seqlock (Lameter 2005, as in Linux `include/linux/seqlock.h`) whose
//! payload is copied with relaxed atomic loads and stores and ordered with
//! fences, the data-race-free form given by Boehm, "Can seqlocks get along
//! with programming language memory models?" (MSPC 2012), §4. It keeps two
//! copies of the payload (like Linux's `seqcount_latch_t`), so that a write
//! never touches the copy that holds the last complete value.
//!
//! # The sequence word
//! | `seq`      | meaning                                                  |
//! |------------|----------------------------------------------------------|
//! | `2n`       | `n` writes complete; the latest value is in `slots[n % 2]` |
//! | `2n + 1`   | write `n + 1` in progress, into `slots[(n + 1) % 2]`; `slots[n % 2]` still holds write `n` |
//!
//! All zeros: no write yet, and both slots hold the zeroed value. A reader
//! that loaded `seq = v` reads `slots[(v / 2) % 2]`; that slot is next
//! written by write `v / 2 + 2`, which starts by storing `seq = 2(v / 2) + 3`.
//! So the copy is good if `seq` is still at most `2(v / 2) + 2` afterwards,
//! counted modulo 2^64: `seq` wraps (2^63 is even, so the slot of write `n`
//! stays `n % 2` across the wrap), and the check is on the distance
//! `seq - 2(v / 2)`, which a jump past the wrap or back to 0 puts far out of
//! range. Readers retry only when the writer finished one write and started
//! another during their copy; a write in progress alone never makes them
//! wait.
//!
//! The writer keeps its own copy of `seq` (taken, even, when it becomes the
//! writer) and never reloads the shared word: a peer that stores another
//! value there (0, or one near `u64::MAX`, or an odd one) cannot make the
//! writer write into the slot that `seq` says is complete, and its next
//! store overwrites the scribble.
//!
//! # What holds
//! While only the writer stores `seq`, a read returns one write's value,
//! never a mix of two. A single store into `seq` by another process misleads
//! at most the reads that overlap it: the writer's next store puts its own
//! count back. But a process that stores into `seq` while a read is under
//! way (in the middle of a write, or a value at most two past the one the
//! read began from) can make that read accept a copy that the writer was
//! changing: then the read returns a mix of two writes' bytes. `T` is plain bytes ([`Layout`]), so that is a wrong value,
//! never undefined behaviour, and no worse than what that process could do
//! by writing the payload itself.
//!
//! # The writer word
//! The writer's identity (an owner word, see [`crate::sync`]); 0 = none. A
//! nonzero word whose thread id bits are 0 names no thread that can write
//! (every backend's owner words have a nonzero id): it was written by a
//! peer, and reads as a dead writer, which a new writer replaces. If
//! the writer dies mid-write, `seq` stays odd: readers keep getting the last
//! complete value (the other slot), and [`SeqLock::writer`] lets a new writer
//! take over once the OS confirms the old one is dead. It completes the
//! abandoned write by copying the last good value into the torn slot.

use std::marker::PhantomData;

use crate::layout::{bytes_of, bytes_of_mut};
use crate::Layout;

use super::primitive::{fence, AtomicU64, Ordering, Slot};
use super::{wait, Liveness, TID_MASK};
use crate::{Error, Result};

/// Whether a [`SeqLock`] has a writer, as far as the OS can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriterStatus {
    /// No writer holds it.
    None,
    /// A writer holds it and is alive (or its liveness cannot be checked).
    Alive,
    /// The writer died; [`SeqLock::writer`] will take over.
    Died,
}

/// A value that one writer updates and any number of readers copy out
/// consistently, in any process, without ever blocking the writer.
///
/// `#[repr(C)]`: an 8-byte sequence word, an 8-byte writer word, then two
/// copies of `T`; aligned to at least 8. All zeros is a seqlock holding a
/// zeroed `T` with no writer. `T` must be plain bytes (`Copy` and
/// [`Layout`]): readers copy it with atomic loads.
///
/// # Example
/// ```
/// use shmkit::sync::SeqLock;
///
/// let s = SeqLock::new([0u64; 4]);
/// let mut w = s.writer()?;
/// w.write(&[7; 4]);
/// assert_eq!(s.read(), [7; 4]);
/// assert!(matches!(s.writer(), Err(shmkit::Error::WriterBusy { .. })));
/// # Ok::<(), shmkit::Error>(())
/// ```
#[repr(C, align(8))]
pub struct SeqLock<T> {
    seq: AtomicU64,
    writer: AtomicU64,
    slots: [Slot<T>; 2],
}

// SAFETY: the payload is only read and written with atomic accesses (in
// `Slot`), and readers accept only validated copies, so sharing the seqlock
// between threads moves `T` values between them, which `T: Send` allows.
unsafe impl<T: Send> Sync for SeqLock<T> {}
// SAFETY: the seqlock owns its values and no thread-bound state.
unsafe impl<T: Send> Send for SeqLock<T> {}

impl<T: Copy + Layout> SeqLock<T> {
    /// A new seqlock holding `value`, without a writer, in ordinary memory.
    ///
    /// # Example
    /// ```
    /// use shmkit::sync::{SeqLock, WriterStatus};
    /// let s = SeqLock::new([3u32, 4]);
    /// assert_eq!(s.read(), [3, 4]);
    /// assert_eq!(s.writer_status(), WriterStatus::None);
    /// ```
    pub fn new(value: T) -> Self {
        SeqLock {
            seq: AtomicU64::new(0),
            writer: AtomicU64::new(0),
            slots: [Slot::new(value), Slot::new(value)],
        }
    }

    /// Borrows the seqlock that lives at `ptr`, typically in a mapped
    /// [`Segment`](crate::Segment).
    ///
    /// # Safety
    /// - `ptr` is aligned to `align_of::<SeqLock<T>>()` and the
    ///   `size_of::<SeqLock<T>>()` bytes there stay mapped, readable and
    ///   writable for `'a`;
    /// - every process and thread accesses those bytes only as a
    ///   `SeqLock<T>` (all zeros is a valid one).
    ///
    /// # Example
    /// ```
    /// # use shmkit::sync::SeqLock;
    /// let mut mem = [0u64; 4]; // seq, writer, two u64 slots
    /// // SAFETY: 8-aligned, 32 bytes, zeroed, used only as this seqlock.
    /// let s = unsafe { SeqLock::<u64>::from_ptr(mem.as_mut_ptr().cast()) };
    /// s.writer()?.write(&5);
    /// assert_eq!(s.read(), 5);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[cfg(not(loom))]
    pub unsafe fn from_ptr<'a>(ptr: *const u8) -> &'a Self {
        debug_assert!(ptr.cast::<Self>().is_aligned());
        // SAFETY:
        // - alignment, size and lifetime: the caller's first obligation;
        // - any bytes are a valid `SeqLock<T>`: two atomics and two `T`s,
        //   which are valid for any bytes (`Layout`);
        // - the payload is reached only through atomics (`Slot`), as peers do.
        unsafe { &*ptr.cast::<Self>() }
    }

    /// The latest complete value. Never blocks the writer; if the writer
    /// died mid-write, returns the value before that write.
    ///
    /// The value is one write's, never a mix of two, while only the writer
    /// stores the sequence word; a process scribbling over it during the
    /// read can make it return a mix (see "What holds" in the module doc).
    ///
    /// Retries while the writer completes a write and starts another during
    /// one copy, which a writer in a tight loop can make happen repeatedly.
    ///
    /// # Example
    /// A writer publishes pairs whose halves are always equal; readers
    /// racing it never see a mix of two writes.
    /// ```
    /// let s = shmkit::sync::SeqLock::new([0u64; 2]);
    /// std::thread::scope(|t| {
    ///     t.spawn(|| {
    ///         let mut w = s.writer().unwrap();
    ///         for i in 1..=1000 {
    ///             w.write(&[i, i]);
    ///         }
    ///     });
    ///     for _ in 0..1000 {
    ///         let [a, b] = s.read();
    ///         assert_eq!(a, b);
    ///     }
    /// });
    /// assert_eq!(s.read(), [1000, 1000]);
    /// ```
    pub fn read(&self) -> T {
        let mut tries = 0u32;
        loop {
            if let Some(v) = self.try_read() {
                return v;
            }
            tries += 1;
            if tries % 64 == 0 {
                super::primitive::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }

    /// One attempt at [`read`](Self::read): `None` if the writer overtook it.
    ///
    /// # Example
    /// ```
    /// let s = shmkit::sync::SeqLock::new(4u32);
    /// assert_eq!(s.try_read(), Some(4)); // no writer racing it
    /// ```
    pub fn try_read(&self) -> Option<T> {
        // SYNC(seq): acquires write n's payload (slot n % 2) from the store
        // that published `2n` or `2n + 1`.
        let v1 = self.seq.load(Ordering::Acquire);
        let n = v1 / 2;
        let value = self.slots[(n % 2) as usize].load();
        // SYNC(seq-fence): if the copy saw any store of write n + 2, which
        // follows the writer's release fence after `seq = 2n + 3`, this
        // fence makes the load below see at least `2n + 3`.
        fence(Ordering::Acquire);
        let v2 = self.seq.load(Ordering::Relaxed);
        accepts(v1, v2).then_some(value)
    }

    /// Like [`read`](Self::read), but tells when the writer died in the
    /// middle of a write.
    ///
    /// # Errors
    /// [`Error::WriterDied`] if a write is in progress and the OS confirms
    /// its writer is dead (a `/proc` read on Linux, made only when a write is
    /// in progress). [`read`](Self::read) would return the last good value.
    /// [`Error::Truncated`] if a peer shrank the segment holding the
    /// seqlock ([`check_mapped`](super::check_mapped)): the value read is
    /// zeros, not data.
    ///
    /// # Example
    /// ```
    /// let s = shmkit::sync::SeqLock::new(1u64);
    /// assert_eq!(s.read_checked()?, 1);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn read_checked(&self) -> Result<T> {
        let value = self.read();
        super::check_mapped(self)?;
        check_writer(&self.seq, &self.writer)?;
        Ok(value)
    }

    /// Whether a writer holds the seqlock, and if so whether it is alive.
    ///
    /// # Example
    /// ```
    /// use shmkit::sync::{SeqLock, WriterStatus};
    /// let s = SeqLock::new(0u8);
    /// assert_eq!(s.writer_status(), WriterStatus::None);
    /// let w = s.writer()?;
    /// assert_eq!(s.writer_status(), WriterStatus::Alive);
    /// # drop(w);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn writer_status(&self) -> WriterStatus {
        writer_status(&self.writer)
    }

    /// Becomes the writer, taking over from a dead one if need be.
    ///
    /// # Errors
    /// [`Error::WriterBusy`] if a live writer (possibly this thread) holds it.
    /// [`Error::Truncated`] if a peer shrank the segment holding the seqlock
    /// ([`check_mapped`](super::check_mapped)): a write could reach nobody.
    ///
    /// # Example
    /// ```
    /// use shmkit::sync::{SeqLock, WriterStatus};
    /// let s = SeqLock::new(0u32);
    /// let w = s.writer()?;
    /// assert!(matches!(s.writer(), Err(shmkit::Error::WriterBusy { .. })));
    /// drop(w); // lets the next writer in
    ///
    /// // A thread that ends holding the writer is a dead writer: the next
    /// // `writer()` takes over.
    /// std::thread::scope(|t| {
    ///     t.spawn(|| std::mem::forget(s.writer().unwrap()));
    /// });
    /// // The OS reports a joined thread gone a moment later (Linux: once
    /// // its `/proc` entry is reaped), so poll, boundedly.
    /// let start = std::time::Instant::now();
    /// while s.writer_status() != WriterStatus::Died && start.elapsed().as_secs() < 5 {
    ///     std::thread::sleep(std::time::Duration::from_millis(1));
    /// }
    /// assert_eq!(s.writer_status(), WriterStatus::Died);
    /// s.writer()?.write(&9);
    /// assert_eq!(s.read(), 9);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn writer(&self) -> Result<SeqLockWriter<'_, T>> {
        super::check_mapped(self)?;
        let me = wait::current_owner();
        loop {
            let w = self.writer.load(Ordering::Relaxed);
            let busy = || Error::WriterBusy {
                tid: (w & TID_MASK) as u32,
            };
            if w == me || (w != 0 && !is_gone(w)) {
                return Err(busy());
            }
            // SYNC(writer): acquires the previous writer's last stores.
            if self
                .writer
                .compare_exchange(w, me, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            crate::failpoint::hit("seqlock-after-claim");
            let seq = self.repair();
            // A claim made on a lost mapping's private zeros guards nothing;
            // it is left there, so every later call must check first.
            super::check_mapped(self)?;
            return Ok(SeqLockWriter {
                lock: self,
                seq,
                _not_send: PhantomData,
            });
        }
    }

    /// Completes a write abandoned by a dead writer: copies the last good
    /// value into the torn slot, then publishes the even sequence number.
    /// Returns the (even) sequence number the new writer goes on from.
    fn repair(&self) -> u64 {
        // SYNC(seq): acquires the dead writer's last published slot.
        let s = self.seq.load(Ordering::Acquire);
        if s % 2 == 0 {
            return s;
        }
        let n = s / 2;
        // Nobody else writes slots now, so this copy is consistent.
        let good = self.slots[(n % 2) as usize].load();
        // SYNC(seq-fence): a reader that still holds an older `seq` and sees
        // one of the stores below must then see `seq >= s` (which our load
        // above read) and reject its copy; the odd value was stored by the
        // dead writer, whose own fence does not cover our stores.
        fence(Ordering::Release);
        self.slots[((n + 1) % 2) as usize].store(&good);
        crate::failpoint::hit("seqlock-mid-repair");
        // SYNC(seq): publishes the repaired slot.
        self.seq.store(s.wrapping_add(1), Ordering::Release);
        s.wrapping_add(1)
    }
}

/// Whether a copy made after loading `seq = v1` is good, `seq` having been
/// `v2` after it: `v2` is at most two steps past the even value `v1` was
/// at or just past, modulo 2^64 (see the module doc).
#[inline]
fn accepts(v1: u64, v2: u64) -> bool {
    v2.wrapping_sub(v1 & !1) <= 2
}
/// What a seqlock's `writer` word says of its writer (both views).
fn writer_status(writer: &AtomicU64) -> WriterStatus {
    match writer.load(Ordering::Relaxed) {
        0 => WriterStatus::None,
        w if is_gone(w) => WriterStatus::Died,
        _ => WriterStatus::Alive,
    }
}

/// After a read: [`Error::WriterDied`] if a write was left half done by a
/// writer that is gone (both views' `read_checked`).
fn check_writer(seq: &AtomicU64, writer: &AtomicU64) -> Result<()> {
    if seq.load(Ordering::Relaxed) % 2 == 1 && writer_status(writer) == WriterStatus::Died {
        return Err(Error::WriterDied);
    }
    Ok(())
}

/// Whether the writer word `w` (nonzero) names no live writer: its thread id
/// bits are 0, which no writer's word has (a peer wrote it), or the OS
/// confirms the thread is gone.
fn is_gone(w: u64) -> bool {
    w & TID_MASK == 0 || wait::owner_state(w) == Liveness::Dead
}

impl<T> std::fmt::Debug for SeqLock<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeqLock")
            .field("seq", &self.seq.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The one writer of a [`SeqLock`]. Dropping it lets another writer in.
///
/// Not `Send`: its identity is the thread that took it.
///
/// # Example
/// ```
/// let s = shmkit::sync::SeqLock::new(0u64);
/// {
///     let mut w = s.writer()?;
///     w.write(&1);
///     w.write(&2); // one writer, as many writes as it likes
/// } // dropped: the next writer may come in
/// assert_eq!(s.read(), 2);
/// assert!(s.writer().is_ok());
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct SeqLockWriter<'a, T> {
    lock: &'a SeqLock<T>,
    /// The sequence number this writer last published (even): its own
    /// copy, which a peer cannot scribble over.
    seq: u64,
    _not_send: PhantomData<*const ()>,
}

impl<T: Copy + Layout> SeqLockWriter<'_, T> {
    /// Publishes `value`. Wait-free: two stores of the sequence word, a
    /// fence and the atomic copy.
    ///
    /// # Example
    /// ```
    /// let s = shmkit::sync::SeqLock::new([0u32; 3]);
    /// let mut w = s.writer()?;
    /// w.write(&[1, 2, 3]);
    /// assert_eq!(s.read(), [1, 2, 3]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn write(&mut self, value: &T) {
        let lock = self.lock;
        // Our own last value, even, whatever a peer stored into `seq` since;
        // the arithmetic wraps (see the module doc).
        let s = self.seq;
        let n = s / 2;
        // SYNC(seq): a reader that sees the odd value also sees write n.
        lock.seq.store(s.wrapping_add(1), Ordering::Release);
        // SYNC(seq-fence): the slot stores below become visible only after
        // the odd value.
        fence(Ordering::Release);
        crate::failpoint::hit("seqlock-after-odd");
        if crate::failpoint::stops_next("seqlock-mid-copy") {
            // Leave half a copy behind, as a writer killed mid-copy would.
            self.write_half(value);
        }
        crate::failpoint::hit("seqlock-mid-copy");
        lock.slots[((n + 1) % 2) as usize].store(value);
        crate::failpoint::hit("seqlock-before-even");
        // SYNC(seq): publishes write n + 1.
        lock.seq.store(s.wrapping_add(2), Ordering::Release);
        self.seq = s.wrapping_add(2);
    }

    /// Test hook: starts a write and stops half-way, as a writer killed
    /// mid-write would. Only the first half of the payload's bytes change.
    #[doc(hidden)]
    pub fn write_half_for_test(&mut self, value: &T) {
        let lock = self.lock;
        lock.seq.store(self.seq.wrapping_add(1), Ordering::Release);
        fence(Ordering::Release);
        self.write_half(value);
    }

    /// The first half of the payload's bytes of `value` into the slot that
    /// the write in progress (`self.seq + 1`) goes to.
    fn write_half(&mut self, value: &T) {
        let lock = self.lock;
        let n = self.seq / 2;
        let slot = &lock.slots[((n + 1) % 2) as usize];
        let mut torn = slot.load();
        let half = std::mem::size_of::<T>() / 2;
        bytes_of_mut(&mut torn)[..half].copy_from_slice(&bytes_of(value)[..half]);
        slot.store(&torn);
    }
}

impl<T> Drop for SeqLockWriter<'_, T> {
    fn drop(&mut self) {
        // SYNC(writer): hands our last stores to the next writer.
        self.lock.writer.store(0, Ordering::Release);
    }
}

/// A [`SeqLock`] whose payload size is known only at run time (a binding
/// for another language, which has no Rust type to name): the same words,
/// the same two slots and the same protocol as `SeqLock<T>` with
/// `size_of::<T>() == len`, over raw bytes, so that it and a `SeqLock<T>`
/// in another process read and write each other's values.
///
/// The payload is copied with the same atomic accesses `SeqLock<T>` makes
/// (split by address and length alike), so the two never race.
///
/// # Example
/// ```
/// use shmkit::sync::{SeqLock, SeqLockBytes};
///
/// let s = SeqLock::new([1u32, 2]);
/// let ptr = (&s as *const SeqLock<[u32; 2]>).cast::<u8>().cast_mut();
/// // SAFETY: 8-aligned, 16 + 2 * 8 bytes that live as long as `s`, used
/// // only as a seqlock of 8-byte values.
/// let b = unsafe { SeqLockBytes::from_ptr(ptr, 8) };
/// assert_eq!(b.read(), [1, 0, 0, 0, 2, 0, 0, 0]);
/// b.writer()?.write(&[3, 0, 0, 0, 4, 0, 0, 0]);
/// assert_eq!(s.read(), [3, 4]);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[cfg(not(loom))]
#[derive(Clone, Copy)]
pub struct SeqLockBytes<'a> {
    seq: &'a AtomicU64,
    writer: &'a AtomicU64,
    /// The first slot; the second follows it at `len`.
    slots: *mut u8,
    len: usize,
}

#[cfg(not(loom))]
impl<'a> SeqLockBytes<'a> {
    /// The offset of the first payload slot from the start of the seqlock,
    /// for payloads aligned to at most 8 (as `SeqLock<T>`'s layout requires).
    pub const SLOTS_OFFSET: usize = 16;

    /// Borrows the seqlock of `len`-byte values at `ptr`.
    ///
    /// # Safety
    /// - `ptr` is 8-aligned and the `16 + 2 * len` bytes there stay mapped
    ///   and readable for `'a`, and writable too if [`writer`](Self::writer)
    ///   is called (reading stores nothing);
    /// - every process and thread accesses those bytes only as a seqlock of
    ///   `len`-byte values: this type, or `SeqLock<T>` with
    ///   `size_of::<T>() == len` (all zeros is a valid one).
    pub unsafe fn from_ptr(ptr: *mut u8, len: usize) -> SeqLockBytes<'a> {
        debug_assert!(ptr.cast::<u64>().is_aligned());
        // SAFETY:
        // - the two words are 8-aligned (`ptr` is, and 8 is) and inside the
        //   mapping for `'a` (the caller's first obligation);
        // - they are only accessed atomically, here and by every peer (the
        //   second obligation).
        let (seq, writer) = unsafe {
            (
                AtomicU64::from_ptr(ptr.cast()),
                AtomicU64::from_ptr(ptr.add(8).cast()),
            )
        };
        SeqLockBytes {
            seq,
            writer,
            // SAFETY: 16 bytes in, still inside the caller's range.
            slots: unsafe { ptr.add(Self::SLOTS_OFFSET) },
            len,
        }
    }

    /// The payload's size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the payload is empty (zero bytes).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn load_slot(&self, n: u64, out: &mut [u8]) {
        debug_assert_eq!(out.len(), self.len);
        // SAFETY:
        // - slot `n % 2` is the `len` bytes at `slots + (n % 2) * len`,
        //   inside the mapping for `'a` (`from_ptr`'s first obligation);
        // - every access to them is atomic and split by `copy` alike, here
        //   and in `SeqLock<T>`'s `Slot` (the second obligation).
        unsafe { crate::copy::load(self.slots.add((n % 2) as usize * self.len), out) }
    }

    fn store_slot(&self, n: u64, value: &[u8]) {
        debug_assert_eq!(value.len(), self.len);
        // SAFETY: as in `load_slot`; only a writer stores, and `from_ptr`'s
        // caller made the mapping writable if a writer is taken.
        unsafe { crate::copy::store(self.slots.add((n % 2) as usize * self.len), value) }
    }

    /// One attempt at [`read`](Self::read): `None` if the writer overtook it.
    pub fn try_read(&self) -> Option<Vec<u8>> {
        let mut value = vec![0u8; self.len];
        // SYNC(seq): as in `SeqLock::try_read`.
        let v1 = self.seq.load(Ordering::Acquire);
        self.load_slot(v1 / 2, &mut value);
        // SYNC(seq-fence): as in `SeqLock::try_read`.
        fence(Ordering::Acquire);
        let v2 = self.seq.load(Ordering::Relaxed);
        accepts(v1, v2).then_some(value)
    }

    /// The latest complete value's bytes, as [`SeqLock::read`].
    pub fn read(&self) -> Vec<u8> {
        let mut tries = 0u32;
        loop {
            if let Some(v) = self.try_read() {
                return v;
            }
            tries += 1;
            if tries % 64 == 0 {
                super::primitive::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }

    /// As [`SeqLock::read_checked`].
    ///
    /// # Errors
    /// [`Error::WriterDied`] if a write is in progress and the OS confirms
    /// its writer is dead. [`Error::Truncated`] if a peer shrank the segment
    /// holding the seqlock ([`check_mapped`](super::check_mapped)).
    ///
    /// # Example
    /// ```
    /// use shmkit::sync::{SeqLock, SeqLockBytes};
    /// let s = SeqLock::new(7u32);
    /// let ptr = (&s as *const SeqLock<u32>).cast::<u8>().cast_mut();
    /// // SAFETY: 8-aligned, 24 bytes that outlive `b`, used only as a
    /// // seqlock of 4-byte values.
    /// let b = unsafe { SeqLockBytes::from_ptr(ptr, 4) };
    /// assert_eq!(b.read_checked()?, 7u32.to_ne_bytes());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn read_checked(&self) -> Result<Vec<u8>> {
        let value = self.read();
        super::check_mapped(self.seq)?;
        check_writer(self.seq, self.writer)?;
        Ok(value)
    }

    /// As [`SeqLock::writer_status`].
    pub fn writer_status(&self) -> WriterStatus {
        writer_status(self.writer)
    }

    /// Becomes the writer, taking over from a dead one (completing its
    /// abandoned write), as [`SeqLock::writer`].
    ///
    /// # Errors
    /// [`Error::WriterBusy`] if a live writer (possibly this thread) holds it.
    /// [`Error::Truncated`] if a peer shrank the segment holding the seqlock
    /// ([`check_mapped`](super::check_mapped)): a write could reach nobody.
    ///
    /// # Example
    /// ```
    /// use shmkit::sync::{SeqLock, SeqLockBytes, WriterStatus};
    /// let s = SeqLock::new(0u64);
    /// let ptr = (&s as *const SeqLock<u64>).cast::<u8>().cast_mut();
    /// // SAFETY: 8-aligned, 32 writable bytes that outlive `b`, used only
    /// // as a seqlock of 8-byte values.
    /// let b = unsafe { SeqLockBytes::from_ptr(ptr, 8) };
    /// let mut w = b.writer()?;
    /// assert!(matches!(s.writer(), Err(shmkit::Error::WriterBusy { .. })));
    /// w.write(&5u64.to_ne_bytes());
    /// assert_eq!(s.read(), 5);
    /// drop(w);
    /// assert_eq!(b.writer_status(), WriterStatus::None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn writer(&self) -> Result<SeqLockBytesWriter<'a>> {
        super::check_mapped(self.seq)?;
        let me = wait::current_owner();
        loop {
            let w = self.writer.load(Ordering::Relaxed);
            if w == me || (w != 0 && !is_gone(w)) {
                return Err(Error::WriterBusy {
                    tid: (w & TID_MASK) as u32,
                });
            }
            // SYNC(writer): acquires the previous writer's last stores.
            if self
                .writer
                .compare_exchange(w, me, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            let seq = self.repair();
            // A claim made on a lost mapping's private zeros guards nothing;
            // it is left there, so every later call must check first.
            super::check_mapped(self.seq)?;
            return Ok(SeqLockBytesWriter {
                seq,
                lock: *self,
                _not_send: PhantomData,
            });
        }
    }

    /// As `SeqLock::repair`: completes a dead writer's abandoned write.
    fn repair(&self) -> u64 {
        // SYNC(seq): acquires the dead writer's last published slot.
        let s = self.seq.load(Ordering::Acquire);
        if s % 2 == 0 {
            return s;
        }
        let n = s / 2;
        let mut good = vec![0u8; self.len];
        self.load_slot(n, &mut good);
        // SYNC(seq-fence): as in `SeqLock::repair`.
        fence(Ordering::Release);
        self.store_slot(n + 1, &good);
        // SYNC(seq): publishes the repaired slot.
        self.seq.store(s.wrapping_add(1), Ordering::Release);
        s.wrapping_add(1)
    }
}

#[cfg(not(loom))]
impl std::fmt::Debug for SeqLockBytes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeqLockBytes")
            .field("seq", &self.seq.load(Ordering::Relaxed))
            .field("len", &self.len)
            .finish()
    }
}

/// The one writer of a [`SeqLockBytes`]. Dropping it lets another writer in.
/// Not `Send`: its identity is the thread that took it. It holds its own
/// copy of the (two-word, pointer-sized) view, so it lives as long as the
/// memory, not as the view it came from.
#[cfg(not(loom))]
pub struct SeqLockBytesWriter<'a> {
    lock: SeqLockBytes<'a>,
    /// This writer's own copy of the last sequence number it published.
    seq: u64,
    _not_send: PhantomData<*const ()>,
}

#[cfg(not(loom))]
impl SeqLockBytesWriter<'_> {
    /// Publishes `value`, as [`SeqLockWriter::write`].
    ///
    /// # Panics
    /// If `value` is not [`len`](SeqLockBytes::len) bytes long (a caller's
    /// bug, as with `copy_from_slice`).
    pub fn write(&mut self, value: &[u8]) {
        assert_eq!(
            value.len(),
            self.lock.len,
            "a seqlock write takes exactly one value's bytes"
        );
        let lock = self.lock;
        let s = self.seq;
        // SYNC(seq): as in `SeqLockWriter::write`.
        lock.seq.store(s.wrapping_add(1), Ordering::Release);
        // SYNC(seq-fence): as in `SeqLockWriter::write`.
        fence(Ordering::Release);
        crate::failpoint::hit("seqlock-after-odd");
        if crate::failpoint::stops_next("seqlock-mid-copy") {
            // Half a copy, as a writer killed mid-copy would leave.
            let mut torn = vec![0u8; lock.len];
            lock.load_slot(s / 2 + 1, &mut torn);
            let half = lock.len / 2;
            torn[..half].copy_from_slice(&value[..half]);
            lock.store_slot(s / 2 + 1, &torn);
        }
        crate::failpoint::hit("seqlock-mid-copy");
        lock.store_slot(s / 2 + 1, value);
        // SYNC(seq): publishes the write.
        lock.seq.store(s.wrapping_add(2), Ordering::Release);
        self.seq = s.wrapping_add(2);
    }
}

#[cfg(not(loom))]
impl Drop for SeqLockBytesWriter<'_> {
    fn drop(&mut self) {
        // SYNC(writer): hands our last stores to the next writer.
        self.lock.writer.store(0, Ordering::Release);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn layout_is_fixed() {
        assert_eq!(std::mem::size_of::<SeqLock<u64>>(), 32);
        assert_eq!(std::mem::size_of::<SeqLock<[u8; 3]>>(), 24);
        assert_eq!(std::mem::align_of::<SeqLock<u8>>(), 8);
    }

    #[test]
    fn readers_never_see_torn_values() {
        let writes = if cfg!(miri) { 30 } else { 20_000 };
        let s = SeqLock::new([0u64; 16]);
        std::thread::scope(|sc| {
            sc.spawn(|| {
                let mut w = s.writer().unwrap();
                for i in 1..=writes {
                    w.write(&[i; 16]);
                }
            });
            for _ in 0..2 {
                sc.spawn(|| {
                    let mut last = 0;
                    while last < writes {
                        let v = s.read();
                        assert!(v.iter().all(|&x| x == v[0]), "torn: {v:?}");
                        assert!(v[0] >= last, "went back in time");
                        last = v[0];
                    }
                });
            }
        });
    }

    #[test]
    fn one_writer_at_a_time() {
        let s = SeqLock::new(0u32);
        let w = s.writer().unwrap();
        assert!(matches!(s.writer(), Err(Error::WriterBusy { .. })));
        std::thread::scope(|sc| {
            sc.spawn(|| assert_eq!(s.writer_status(), WriterStatus::Alive));
        });
        drop(w);
        assert_eq!(s.writer_status(), WriterStatus::None);
        assert!(s.writer().is_ok());
    }

    /// A peer scribbled the sequence word to its largest (odd) and largest
    /// even values: reads, takeover and writes give garbage or good values,
    /// never an overflow panic (found by the scribbler in `tests/faults.rs`).
    #[test]
    fn seq_scribbled_near_the_limit_does_not_panic() {
        for seq in [u64::MAX, u64::MAX - 1, u64::MAX - 2] {
            let s = SeqLock::new([1u64; 4]);
            s.seq.store(seq, Ordering::Relaxed);
            let _ = s.try_read();
            let _ = s.read();
            let mut w = s.writer().unwrap();
            w.write(&[2; 4]);
            w.write(&[3; 4]);
            assert_eq!(s.read(), [3; 4], "seq {seq:#x}");
        }
    }

    /// The check on `seq` counts modulo 2^64: a write that wrapped `seq`
    /// past `u64::MAX`, or a `seq` set back to 0, is more than two steps
    /// ahead and rejects the copy (a saturating check accepted both).
    #[test]
    fn seq_check_counts_across_the_wrap() {
        let max = u64::MAX;
        assert!(accepts(max - 1, max - 1) && accepts(max - 1, max) && accepts(max - 1, 0));
        assert!(accepts(max, 0) && !accepts(max, 1));
        assert!(
            !accepts(max - 1, 1),
            "slot 1 was written again after the wrap"
        );
        assert!(
            !accepts(1 << 40, 0) && !accepts(1 << 40, 2),
            "seq set back to 0"
        );
        assert!(accepts(4, 6) && !accepts(4, 7) && accepts(5, 6) && !accepts(5, 7));
    }

    /// The writer keeps its own sequence number: a `seq` scribbled to 0,
    /// near `u64::MAX` or to an odd value under a live writer is overwritten
    /// by its next write, whose value readers then get.
    #[test]
    fn a_live_writer_goes_on_from_its_own_seq_not_a_scribbled_one() {
        let s = SeqLock::new([0u64; 4]);
        let mut w = s.writer().unwrap();
        for i in 1..=10 {
            w.write(&[i; 4]);
        }
        for (k, scribble) in [0, u64::MAX - 1, u64::MAX, 7].into_iter().enumerate() {
            s.seq.store(scribble, Ordering::Relaxed);
            w.write(&[100 + k as u64; 4]);
            assert_eq!(s.seq.load(Ordering::Relaxed), 22 + 2 * k as u64);
            assert_eq!(s.read(), [100 + k as u64; 4]);
        }
    }

    /// A writer word with thread id 0 and a nonzero tag names no writer:
    /// it reads as dead and a new writer takes over (it read as
    /// `WriterBusy { tid: 0 }` for good).
    #[test]
    fn a_writer_word_without_a_thread_id_is_taken_over() {
        let s = SeqLock::new(5u64);
        s.writer.store(0x1234_5678 << 32, Ordering::Relaxed);
        assert_eq!(s.writer_status(), WriterStatus::Died);
        let mut w = s.writer().unwrap();
        w.write(&6);
        assert_eq!(s.read(), 6);
    }

    fn bytes_of_lock<T>(s: &SeqLock<T>) -> SeqLockBytes<'_> {
        let ptr = (s as *const SeqLock<T>).cast::<u8>().cast_mut();
        // SAFETY: `s` is 8-aligned (`repr(align(8))`), its 16 + 2 *
        // size_of::<T>() bytes live as long as the borrow, and it is used
        // only as a seqlock of values of that size.
        unsafe { SeqLockBytes::from_ptr(ptr, std::mem::size_of::<T>()) }
    }

    /// A `SeqLock<T>` writer and a byte reader of the same memory (as a
    /// Rust writer and a Python reader are): the reader never sees a mix of
    /// two writes; and a byte writer's values read back as `T`.
    #[test]
    fn bytes_and_typed_views_interoperate_without_tearing() {
        let s = SeqLock::new([0u64; 6]);
        let b = bytes_of_lock(&s);
        assert_eq!(b.len(), 48);
        let rounds = if cfg!(miri) { 30 } else { 20_000 };
        std::thread::scope(|t| {
            t.spawn(|| {
                let mut w = s.writer().unwrap();
                for i in 1..=rounds {
                    w.write(&[i; 6]);
                }
            });
            let mut last = 0;
            for _ in 0..rounds {
                let v = b.read();
                let first = u64::from_ne_bytes(v[..8].try_into().unwrap());
                assert!(v.chunks(8).all(|c| c == first.to_ne_bytes()), "torn: {v:?}");
                assert!(first >= last, "went back from {last} to {first}");
                last = first;
            }
        });
        assert!(s.writer().is_ok());
        let mut w = b.writer().unwrap();
        assert!(matches!(s.writer(), Err(Error::WriterBusy { .. })));
        w.write(&[9u8; 48]);
        assert_eq!(s.read(), [u64::from_ne_bytes([9; 8]); 6]);
        drop(w);
        assert_eq!(b.writer_status(), WriterStatus::None);
    }

    /// A typed writer dies mid-write: the byte reader gets the last good
    /// value and `WriterDied`, and a byte writer takes over, repairing.
    #[test]
    fn bytes_view_reports_and_repairs_a_dead_typed_writer() {
        let s = SeqLock::new([0u32; 4]);
        let b = bytes_of_lock(&s);
        std::thread::scope(|sc| {
            sc.spawn(|| {
                let mut w = s.writer().unwrap();
                w.write(&[1; 4]);
                w.write_half_for_test(&[2; 4]);
                std::mem::forget(w);
            });
        });
        let one: Vec<u8> = [1u32; 4].iter().flat_map(|v| v.to_ne_bytes()).collect();
        assert_eq!(b.read(), one);
        let mut checked = b.read_checked();
        for _ in 0..100 {
            if checked.is_err() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            checked = b.read_checked();
        }
        assert!(matches!(checked, Err(Error::WriterDied)));
        let mut w = b.writer().unwrap();
        assert_eq!(s.read(), [1; 4]);
        let three: Vec<u8> = [3u32; 4].iter().flat_map(|v| v.to_ne_bytes()).collect();
        w.write(&three);
        assert_eq!(s.read(), [3; 4]);
        assert_eq!(b.read_checked().unwrap(), three);
    }

    /// The writer thread stops half-way through a write and exits: readers
    /// get the last good value or `WriterDied`, and a new writer takes over.
    #[test]
    fn writer_died_mid_write() {
        let s = SeqLock::new([0u64; 8]);
        std::thread::scope(|sc| {
            sc.spawn(|| {
                let mut w = s.writer().unwrap();
                w.write(&[1; 8]);
                w.write_half_for_test(&[2; 8]);
                std::mem::forget(w);
            });
        });
        assert_eq!(s.read(), [1; 8]);
        // The thread is gone, though /proc may lag behind its join briefly.
        let mut checked = s.read_checked();
        for _ in 0..100 {
            if checked.is_err() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            checked = s.read_checked();
        }
        assert!(matches!(checked, Err(Error::WriterDied)));
        assert_eq!(s.writer_status(), WriterStatus::Died);
        let mut w = s.writer().unwrap();
        assert_eq!(s.read(), [1; 8]);
        w.write(&[3; 8]);
        assert_eq!(s.read(), [3; 8]);
        assert_eq!(s.read_checked().unwrap(), [3; 8]);
    }
}

/// `SeqLock<T>` inside `#[derive(shmkit::Layout)]` structs and `Shared<T>`:
/// the sequence word, the writer word, then two copies of `T`, whose size
/// must make the whole a multiple of 8 (checked at compile time).
// SAFETY:
// - every bit pattern is valid: two atomics and two `T: Layout`;
// - no padding: the const assertion in `describe` holds for every `T` this
//   impl is used with;
// - the layout does not depend on pointer width (`repr(C, align(8))`, u64
//   words, `T`'s own portable layout);
// - `NoFields<B>` is `repr(transparent)` over `B`.
#[cfg(not(loom))]
unsafe impl<T: Copy + Layout> Layout for SeqLock<T> {
    type Fields<B> = crate::layout::NoFields<B>;

    fn describe() -> crate::layout::Ty {
        use crate::layout::{Field, Prim, StructTy, Ty};
        const {
            assert!(
                std::mem::size_of::<SeqLock<T>>() == 16 + 2 * std::mem::size_of::<T>(),
                "SeqLock<T> in shared memory needs size_of::<T>() to be a multiple of 4 \
                 with no more than 8-byte alignment: add padding fields to T"
            )
        };
        let data = T::describe();
        Ty::Struct(StructTy {
            name: "SeqLock".into(),
            size: std::mem::size_of::<Self>() as u32,
            align: data.align().max(8),
            fields: vec![
                Field {
                    name: "seq".into(),
                    offset: 0,
                    ty: Ty::Prim(Prim::AtomicU64),
                },
                Field {
                    name: "writer".into(),
                    offset: 8,
                    ty: Ty::Prim(Prim::AtomicU64),
                },
                Field {
                    name: "slots".into(),
                    offset: std::mem::offset_of!(Self, slots) as u32,
                    ty: Ty::Array(Box::new(data), 2),
                },
            ],
        })
    }
}

// SAFETY: every byte of a `SeqLock<T>` is accessed atomically: the words
// directly, the payload copies through `Slot`.
#[cfg(not(loom))]
unsafe impl<T: Copy + Layout> crate::InPlace for SeqLock<T> {}
