//! The one place the sync module takes its atomics from, so that loom can
//! replace them (crossbeam's `mod primitive`).
//!
//! Under `cfg(loom)` the atomics, fences and `yield_now` are loom's, and the
//! payload slots of [`SeqLock`](super::SeqLock) become vectors of loom
//! atomics, so that the model checker sees every access of the protocol. In a
//! normal build they are `std`'s, and a slot is the payload's own bytes in
//! place, accessed only with atomic loads and stores.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64};
#[cfg(loom)]
pub(crate) use loom::thread::yield_now;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicU32, AtomicU64};
#[cfg(not(loom))]
pub(crate) use std::thread::yield_now;

pub(crate) use std::sync::atomic::Ordering;

use crate::layout::{bytes_of, bytes_of_mut, zeroed};
use crate::Layout;

/// One copy of a [`SeqLock`](super::SeqLock) payload, read and written only
/// with atomic accesses (Boehm 2012: a seqlock that copies with plain loads
/// races with its writer, which is undefined behaviour).
#[cfg(not(loom))]
#[repr(transparent)]
pub(crate) struct Slot<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T: Copy + Layout> Slot<T> {
    pub(crate) fn new(value: T) -> Self {
        Slot(std::cell::UnsafeCell::new(value))
    }

    /// Copies the slot out with relaxed atomic loads. The result may be torn
    /// if the writer is active; the caller validates it.
    pub(crate) fn load(&self) -> T {
        let mut out: T = zeroed();
        // SAFETY:
        // - the source is the `size_of::<T>()` bytes of this slot, which live
        //   as long as `&self`;
        // - every access to a slot's bytes, here and in `store`, is atomic and
        //   made by `copy`, whose split into bytes and aligned words depends
        //   only on the address and length, so all accesses to each byte have
        //   the same size: no data race and no mixed-size access.
        unsafe { crate::copy::load(self.0.get().cast::<u8>(), bytes_of_mut(&mut out)) };
        out
    }

    /// Writes `value` into the slot with relaxed atomic stores.
    pub(crate) fn store(&self, value: &T) {
        // SAFETY:
        // - the destination is this slot's `size_of::<T>()` bytes, writable
        //   through the `UnsafeCell` for as long as `&self` lives;
        // - all accesses to the slot are atomic and split alike (see `load`).
        unsafe { crate::copy::store(self.0.get().cast::<u8>(), bytes_of(value)) };
    }
}

/// Under loom: the payload as a row of loom atomics, so that the model checker
/// tracks each word.
#[cfg(loom)]
pub(crate) struct Slot<T> {
    words: Vec<AtomicU64>,
    _t: std::marker::PhantomData<T>,
}

#[cfg(loom)]
impl<T: Copy + Layout> Slot<T> {
    pub(crate) fn new(value: T) -> Self {
        let n = std::mem::size_of::<T>().div_ceil(8);
        let slot = Slot {
            words: (0..n).map(|_| AtomicU64::new(0)).collect(),
            _t: std::marker::PhantomData,
        };
        slot.store(&value);
        slot
    }

    pub(crate) fn load(&self) -> T {
        let mut out: T = zeroed();
        for (chunk, word) in bytes_of_mut(&mut out).chunks_mut(8).zip(&self.words) {
            let w = word.load(Ordering::Relaxed).to_ne_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
        out
    }

    pub(crate) fn store(&self, value: &T) {
        for (chunk, word) in bytes_of(value).chunks(8).zip(&self.words) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            word.store(u64::from_ne_bytes(w), Ordering::Relaxed);
        }
    }
}
