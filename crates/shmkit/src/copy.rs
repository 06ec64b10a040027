//! Copies between private memory and shared memory that a peer may write at
//! the same time.
//!
//! A plain `copy_nonoverlapping` from memory that another process writes
//! concurrently is a data race, which is undefined behaviour in the Rust
//! memory model. These copies use relaxed atomic loads and stores instead,
//! each as wide as the address's alignment allows (8, 4, 2 or 1 bytes). On
//! every supported CPU a relaxed atomic load or store is an ordinary `mov`,
//! so this costs little, yet the compiler may not assume the bytes are
//! stable (no re-reads, no invented writes).
//!
//! A copy is not a snapshot: if the peer writes meanwhile, the result may mix
//! old and new bytes. Consistency is the job of the layers above (seqlocks,
//! queue sequence numbers).
//!
//! # Access widths, and mixed-size accesses
//! The width of each access depends only on the address and the length
//! copied, not on the type of what lies there: a whole typed value is copied
//! with 8-byte words, while a field accessor copies just its field, with
//! that field's width. So a thread copying a whole value while another
//! thread of the same process sets a 2-byte field of it makes an 8-byte
//! atomic load race a 2-byte atomic store of the same bytes. Rust's memory
//! model does not define such mixed-size races (rust-lang/rust#128778:
//! they are undefined behaviour, and Miri reports them), as C++'s has no
//! mixed-size atomics at all.
//!
//! shmkit keeps the widths, for these reasons:
//! - What it is for is sharing between processes. A peer process's accesses
//!   are outside this program's abstract machine whatever widths either
//!   side uses; what holds between processes is the CPU's rule, and on
//!   every supported CPU (x86-64, i686, AArch64) each naturally aligned
//!   load or store is single-copy atomic at its own width, whatever other
//!   widths reach the same bytes. A reader then gets, per piece, bytes some
//!   write stored, which is all a copy promises anyway.
//! - Relaxed atomic loads and stores of each width compile to plain `mov`s
//!   (`ldr`/`str`); compilers do not merge, split or reorder them by
//!   reasoning about other widths, so nothing is miscompiled in practice.
//! - Widths taken per field from the layout description would copy byte
//!   arrays and small fields a byte or two at a time (several times slower
//!   on large values, the common payload), and would still leave raw ranges
//!   ([`Segment::read_at`](crate::Segment::read_at) and
//!   [`write_at`](crate::Segment::write_at)), which have no layout, mixing
//!   with typed accesses.
//!
//! Within one process, where the model does apply: every shmkit protocol
//! accesses each of its words with one width (queue indices and states,
//! seqlock and broadcast slots, whose writers and readers copy the same
//! ranges), and only a user's own concurrent mix of a whole-value copy and
//! a field access, or of raw ranges and typed ones, on the same bytes in two
//! threads races in mixed sizes. Such a copy could mix old and new values in
//! any case; to get a consistent value, guard it with a
//! [`SeqLock`](crate::sync::SeqLock) or [`Mutex`](crate::sync::Mutex),
//! whose readers and writers use matching widths. The in-process tests,
//! which Miri runs, never race two widths.

use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};

/// Copies `dst.len()` bytes starting at `src` into `dst`.
///
/// Each naturally aligned 2-, 4- or 8-byte piece is read with one atomic load
/// at least that wide (8-byte words in the 8-aligned body), so a field written
/// by a peer with one atomic store of its size (an aligned `u32`, say) is
/// never torn.
///
/// # Safety
/// - `src..src + dst.len()` must lie within one live mapping, readable for
///   the whole call.
/// - All concurrent writers of those bytes must use atomic stores (another
///   process counts: its writes are outside this program's memory model).
#[inline]
pub(crate) unsafe fn load(src: *const u8, dst: &mut [u8]) {
    let len = dst.len();
    let head = src.align_offset(8).min(len);
    let words = (len - head) / 8;
    let tail = head + words * 8;
    // SAFETY: `src .. src + head` is a prefix of the caller's range.
    unsafe { load_pieces(src, &mut dst[..head]) };
    // SAFETY: `head <= len`, so the pointer stays in (or one past) the range.
    let body = unsafe { src.add(head) }.cast::<u64>();
    // The body: whole 8-aligned words, one atomic load each, in a loop the
    // compiler keeps tight (the piecewise loop costs a few ns per word).
    for (i, out) in dst[head..tail].chunks_exact_mut(8).enumerate() {
        // SAFETY:
        // - word `i` lies in the caller's range (`head + 8 * i + 8 <= tail`);
        // - `src + head` is 8-aligned by the choice of `head`;
        // - concurrent writers use atomics, so this load does not race.
        let w = unsafe { AtomicU64::from_ptr(body.add(i).cast_mut()) }.load(Relaxed);
        out.copy_from_slice(&w.to_ne_bytes());
    }
    // SAFETY: `src + tail .. src + len` is a suffix of the caller's range.
    unsafe { load_pieces(src.add(tail), &mut dst[tail..]) };
}

/// [`load`] for a short head or tail: each piece as wide as its address's
/// alignment allows.
///
/// # Safety
/// As [`load`].
#[inline]
unsafe fn load_pieces(src: *const u8, dst: &mut [u8]) {
    let mut at = 0;
    while at < dst.len() {
        let width = chunk(src as usize + at, dst.len() - at);
        // SAFETY: for all four arms:
        // - `src + at .. src + at + width` lies in the caller's range, because
        //   `chunk` returns at most the bytes left;
        // - `chunk` returns a width that divides the address, so the atomic is
        //   aligned;
        // - concurrent writers use atomics, so these atomic loads do not race.
        unsafe {
            let p = src.add(at).cast_mut();
            match width {
                8 => dst[at..at + 8]
                    .copy_from_slice(&AtomicU64::from_ptr(p.cast()).load(Relaxed).to_ne_bytes()),
                4 => dst[at..at + 4]
                    .copy_from_slice(&AtomicU32::from_ptr(p.cast()).load(Relaxed).to_ne_bytes()),
                2 => dst[at..at + 2]
                    .copy_from_slice(&AtomicU16::from_ptr(p.cast()).load(Relaxed).to_ne_bytes()),
                _ => dst[at] = AtomicU8::from_ptr(p).load(Relaxed),
            }
        }
        at += width;
    }
}

/// Copies `src` into shared memory starting at `dst`, with the same piecewise
/// atomic stores as [`load`] uses loads.
///
/// # Safety
/// - `dst..dst + src.len()` must lie within one live mapping, writable for
///   the whole call.
/// - All concurrent readers and writers of those bytes must use atomics.
#[inline]
pub(crate) unsafe fn store(dst: *mut u8, src: &[u8]) {
    let len = src.len();
    let head = dst.align_offset(8).min(len);
    let words = (len - head) / 8;
    let tail = head + words * 8;
    // SAFETY: `dst .. dst + head` is a prefix of the caller's range.
    unsafe { store_pieces(dst, &src[..head]) };
    // SAFETY: `head <= len`, so the pointer stays in (or one past) the range.
    let body = unsafe { dst.add(head) }.cast::<u64>();
    for (i, word) in src[head..tail].chunks_exact(8).enumerate() {
        let w = u64::from_ne_bytes(word.try_into().unwrap());
        // SAFETY:
        // - word `i` lies in the caller's writable range;
        // - `dst + head` is 8-aligned by the choice of `head`;
        // - concurrent accesses are atomic, so this store does not race.
        unsafe { AtomicU64::from_ptr(body.add(i)) }.store(w, Relaxed);
    }
    // SAFETY: `dst + tail .. dst + len` is a suffix of the caller's range.
    unsafe { store_pieces(dst.add(tail), &src[tail..]) };
}

/// [`store`] for a short head or tail.
///
/// # Safety
/// As [`store`].
#[inline]
unsafe fn store_pieces(dst: *mut u8, src: &[u8]) {
    let mut at = 0;
    while at < src.len() {
        let width = chunk(dst as usize + at, src.len() - at);
        // SAFETY: for all four arms:
        // - `dst + at .. dst + at + width` lies in the caller's writable range;
        // - the width divides the address, so the atomic is aligned;
        // - concurrent accesses are atomic, so these stores do not race.
        unsafe {
            let p = dst.add(at);
            let s = &src[at..at + width];
            match width {
                8 => AtomicU64::from_ptr(p.cast())
                    .store(u64::from_ne_bytes(s.try_into().unwrap()), Relaxed),
                4 => AtomicU32::from_ptr(p.cast())
                    .store(u32::from_ne_bytes(s.try_into().unwrap()), Relaxed),
                2 => AtomicU16::from_ptr(p.cast())
                    .store(u16::from_ne_bytes(s.try_into().unwrap()), Relaxed),
                _ => AtomicU8::from_ptr(p).store(s[0], Relaxed),
            }
        }
        at += width;
    }
}

/// The widest of 8, 4, 2, 1 bytes that `addr` is aligned to and that fits in
/// `left` (which is at least 1).
#[inline]
fn chunk(addr: usize, left: usize) -> usize {
    [8, 4, 2]
        .into_iter()
        .find(|&w| addr % w == 0 && left >= w)
        .unwrap_or(1)
}

/// Copies `src` to the 8-aligned `dst` as whole words: one relaxed atomic
/// `u64` store per 8 bytes, the last word completed with zero bytes. The
/// queues' records are padded to 8 bytes, so the padding is theirs to write,
/// and this loop has no partial pieces to branch on.
///
/// The words are stored from the first to the last in one loop, the partly
/// used last word after it, calling `midway` once the lower half is stored
/// (for fewer than 16 bytes: after the last word) (a failpoint in tests; an
/// empty closure compiles away).
///
/// First to last, in one loop, because that measured fastest: with the
/// queue's protocol model stored each way in rows of the same `shmkit bench`
/// rounds (a 2-core x86_64 Linux machine), storing first to last gave the
/// shorter round trip for a 56-byte message (which shares one cache line
/// with its header) and for a 64-byte one (two lines), and splitting the
/// copy into two loops at the end of the header's line (a point that moves
/// from message to message) made the 64-byte round trip slower. Those
/// comparison rows are not part of the current `shmkit bench`: re-measure
/// with both orders before changing this one.
///
/// # Safety
/// - `dst` must be 8-aligned, and `dst .. dst + src.len().next_multiple_of(8)`
///   must lie within one live, writable mapping for the whole call.
/// - All concurrent accesses to those bytes must be atomic.
#[cfg_attr(loom, allow(dead_code))] // loom models keep their own memory
#[inline]
pub(crate) unsafe fn store_padded(dst: *mut u8, src: &[u8], midway: impl FnOnce()) {
    let words = dst.cast::<u64>();
    let chunks = src.chunks_exact(8);
    let rest = chunks.remainder();
    let full = src.len() / 8;
    let mut midway = Some(midway);
    for (i, c) in chunks.enumerate() {
        let w = u64::from_ne_bytes(c.try_into().unwrap());
        // SAFETY: word `i` lies in the caller's range and is 8-aligned.
        unsafe { AtomicU64::from_ptr(words.add(i)) }.store(w, Relaxed);
        if i + 1 == full / 2 {
            if let Some(f) = midway.take() {
                f();
            }
        }
    }
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        // SAFETY: the last, partly used word is in the caller's rounded-up
        // range and 8-aligned.
        unsafe { AtomicU64::from_ptr(words.add(full)) }.store(u64::from_ne_bytes(last), Relaxed);
    }
    // Under 16 bytes half-way comes after the last word.
    if let Some(f) = midway.take() {
        f();
    }
}

/// Copies `dst.len()` bytes from the 8-aligned `src` as whole words: one
/// relaxed atomic `u64` load per 8 bytes, of which the last may be used in
/// part.
///
/// # Safety
/// - `src` must be 8-aligned, and `src .. src + dst.len().next_multiple_of(8)`
///   must lie within one live mapping, readable for the whole call.
/// - All concurrent writers of those bytes must use atomic stores.
#[cfg_attr(loom, allow(dead_code))] // loom models keep their own memory
#[inline]
pub(crate) unsafe fn load_padded(src: *const u8, dst: &mut [u8]) {
    let words = src.cast::<u64>();
    let len = dst.len();
    let mut chunks = dst.chunks_exact_mut(8);
    for (i, c) in (&mut chunks).enumerate() {
        // SAFETY: word `i` lies in the caller's range and is 8-aligned.
        let w = unsafe { AtomicU64::from_ptr(words.add(i).cast_mut()) }.load(Relaxed);
        c.copy_from_slice(&w.to_ne_bytes());
    }
    let rest = chunks.into_remainder();
    if !rest.is_empty() {
        // SAFETY: as above, for the last, partly used word.
        let w = unsafe { AtomicU64::from_ptr(words.add(len / 8).cast_mut()) }.load(Relaxed);
        let n = rest.len();
        rest.copy_from_slice(&w.to_ne_bytes()[..n]);
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
    fn padded_copies_round_trip_and_zero_the_padding() {
        let mut shared = [u64::MAX; 10];
        let base = shared.as_mut_ptr().cast::<u8>();
        for len in 0..=72 {
            let src: Vec<u8> = (0..len).map(|i| (i * 3 + 1) as u8).collect();
            // SAFETY: `shared` is 8-aligned and its 80 bytes cover `len`
            // rounded up to 8; nothing else accesses it.
            unsafe { store_padded(base, &src, || {}) };
            let mut back = vec![0xAA; len];
            // SAFETY: as above.
            unsafe { load_padded(base, &mut back) };
            assert_eq!(back, src, "len {len}");
            let mut all = [0u8; 80];
            // SAFETY: the 80 bytes of `shared`.
            unsafe { load(base, &mut all) };
            let padded = len.next_multiple_of(8);
            assert!(all[len..padded].iter().all(|&b| b == 0), "len {len}");
        }
    }

    /// `store_padded` calls `midway` once, when the lower half of the whole
    /// words is stored and the rest not yet (under two whole words: when
    /// all are stored), the failpoint that kill tests stop a queue producer
    /// at.
    #[test]
    fn padded_store_calls_midway_once_with_the_lower_half_stored() {
        for len in 0..=72usize {
            let mut shared = [u64::MAX; 10];
            let base = shared.as_mut_ptr().cast::<u8>();
            let src = vec![0u8; len];
            let words = len.div_ceil(8);
            let mut calls = 0;
            // SAFETY: `shared` is 8-aligned and its 80 bytes cover `len`
            // rounded up to 8; only this thread accesses it, atomically.
            unsafe {
                store_padded(base, &src, || {
                    calls += 1;
                    let mut now = [0u8; 80];
                    load(base, &mut now);
                    for w in 0..words {
                        let stored = now[8 * w..8 * w + 8].iter().all(|&b| b == 0);
                        let half = len / 16;
                        assert_eq!(stored, half == 0 || w < half, "len {len}, word {w}");
                    }
                })
            };
            assert_eq!(calls, 1, "len {len}");
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
