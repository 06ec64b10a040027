//! Copies between private memory and shared memory that a peer may write at
//! the same time.
//!
//! A plain `copy_nonoverlapping` from memory that another process writes
//! concurrently is a data race, which is undefined behaviour in the Rust
//! memory model. These copies use relaxed atomic loads and stores instead:
//! aligned 8-byte words for the body and single bytes for the unaligned head
//! and tail. On every supported CPU a relaxed atomic load or store is an
//! ordinary `mov`, so this costs little, yet the compiler may not assume the
//! bytes are stable (no re-reads, no invented writes).
//!
//! A copy is not a snapshot: if the peer writes meanwhile, the result may mix
//! old and new bytes. Consistency is the job of the layers above (seqlocks,
//! queue sequence numbers).

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};

const WORD: usize = std::mem::size_of::<u64>();

/// Copies `dst.len()` bytes starting at `src` into `dst`.
///
/// # Safety
/// - `src..src + dst.len()` must lie within one live mapping, readable for
///   the whole call.
/// - All concurrent writers of those bytes must use atomic stores (another
///   process counts: its writes are outside this program's memory model).
#[inline]
pub(crate) unsafe fn load(src: *const u8, dst: &mut [u8]) {
    let len = dst.len();
    let head = src.align_offset(WORD).min(len);
    let words = (len - head) / WORD;
    for (i, byte) in dst[..head].iter_mut().enumerate() {
        // SAFETY:
        // - `src + i` is within the range the caller vouches for (`i < head <= len`);
        // - `AtomicU8` has alignment 1, so any address is aligned;
        // - concurrent writers use atomics, so this atomic load does not race.
        *byte = unsafe { AtomicU8::from_ptr(src.add(i).cast_mut()) }.load(Relaxed);
    }
    for w in 0..words {
        let at = head + w * WORD;
        // SAFETY:
        // - `src + at .. src + at + 8` is within the range (`at + 8 <= len`);
        // - `src + head` is 8-aligned by the choice of `head`, and `at - head` is a
        //   multiple of 8;
        // - concurrent writers use atomics, so this atomic load does not race.
        let word =
            unsafe { AtomicU64::from_ptr(src.add(at).cast::<u64>().cast_mut()) }.load(Relaxed);
        dst[at..at + WORD].copy_from_slice(&word.to_ne_bytes());
    }
    for (i, byte) in dst.iter_mut().enumerate().skip(head + words * WORD) {
        // SAFETY: as for the head bytes: `i < len`, alignment 1, atomic access.
        *byte = unsafe { AtomicU8::from_ptr(src.add(i).cast_mut()) }.load(Relaxed);
    }
}

/// Copies `src` into shared memory starting at `dst`.
///
/// # Safety
/// - `dst..dst + src.len()` must lie within one live mapping, writable for
///   the whole call.
/// - All concurrent readers and writers of those bytes must use atomics.
#[inline]
pub(crate) unsafe fn store(dst: *mut u8, src: &[u8]) {
    let len = src.len();
    let head = dst.align_offset(WORD).min(len);
    let words = (len - head) / WORD;
    for (i, &byte) in src[..head].iter().enumerate() {
        // SAFETY:
        // - `dst + i` is within the writable range the caller vouches for;
        // - `AtomicU8` has alignment 1;
        // - concurrent accesses are atomic, so this store does not race.
        unsafe { AtomicU8::from_ptr(dst.add(i)) }.store(byte, Relaxed);
    }
    for w in 0..words {
        let at = head + w * WORD;
        let mut word = [0; WORD];
        word.copy_from_slice(&src[at..at + WORD]);
        // SAFETY:
        // - `dst + at .. dst + at + 8` is within the range (`at + 8 <= len`);
        // - `dst + head` is 8-aligned, and `at - head` is a multiple of 8;
        // - concurrent accesses are atomic, so this store does not race.
        unsafe { AtomicU64::from_ptr(dst.add(at).cast::<u64>()) }
            .store(u64::from_ne_bytes(word), Relaxed);
    }
    for (i, &byte) in src.iter().enumerate().skip(head + words * WORD) {
        // SAFETY: as for the head bytes: `i < len`, alignment 1, atomic access.
        unsafe { AtomicU8::from_ptr(dst.add(i)) }.store(byte, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every offset and length within a buffer, so that each head/body/tail
    /// split is taken.
    #[test]
    fn load_and_store_round_trip_at_every_alignment() {
        let n = if cfg!(miri) { 24 } else { 64 };
        let mut shared = vec![0u64; n / 8 + 1];
        let base = shared.as_mut_ptr().cast::<u8>();
        for off in 0..n {
            for len in 0..n - off {
                let src: Vec<u8> = (0..len).map(|i| (i * 7 + off) as u8).collect();
                // SAFETY: `off + len < n <= 8 * shared.len()`; nothing else accesses `shared`.
                unsafe { store(base.add(off), &src) };
                let mut back = vec![0xAA; len];
                // SAFETY: as above.
                unsafe { load(base.add(off), &mut back) };
                assert_eq!(back, src, "off {off} len {len}");
            }
        }
    }

    #[test]
    fn store_touches_only_its_range() {
        let mut shared = [0u64; 4];
        let base = shared.as_mut_ptr().cast::<u8>();
        // SAFETY: 3 + 20 <= 32; nothing else accesses `shared`.
        unsafe { store(base.add(3), &[0xFF; 20]) };
        let mut all = [0u8; 32];
        // SAFETY: 32 bytes of `shared`.
        unsafe { load(base, &mut all) };
        assert!(all[..3].iter().all(|&b| b == 0));
        assert!(all[3..23].iter().all(|&b| b == 0xFF));
        assert!(all[23..].iter().all(|&b| b == 0));
    }
}
