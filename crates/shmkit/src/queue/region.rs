//! The memory a queue lives in, its common header, the role states and
//! liveness locks, shared by SPSC, MPMC and broadcast.
//!
//! # The common header (first 64 bytes of every queue segment)
//! All fields little-endian, written once by the creator before `state` is
//! published and never again; an opener reads them once, validates them
//! against the segment's size, and uses only its validated copy.
//!
//! | offset | field          | type    | meaning                                        |
//! |--------|----------------|---------|------------------------------------------------|
//! | 0      | `magic`        | [u8; 8] | `\x89SHMKQ1\n`                                 |
//! | 8      | `version`      | u32     | 2 (SPSC, MPMC), 3 (broadcast)                  |
//! | 12     | `state`        | u32     | 0 while the creator initialises, `READY` after |
//! | 16     | `kind`         | u32     | 1 SPSC, 2 MPMC, 3 broadcast                    |
//! | 20     | reserved       | u32     | 0                                              |
//! | 24     | `capacity`     | u64     | SPSC: ring bytes; MPMC/broadcast: slot count   |
//! | 32     | `max_message`  | u64     | the largest message, in bytes                  |
//! | 40     | `data_offset`  | u64     | where the ring or the slots start              |
//! | 48     | `slot_stride`  | u64     | bytes per slot (0 for SPSC)                    |
//! | 56     | `type_hash`    | u64     | typed channels: FNV-1a of the layout; else 0   |
//!
//! After the ring or the slots, at the next 64-byte boundary, a line holds
//! the end marker (`segment::END_MARKER`), checked after every access.
//!
//! # Role states (offset 64, one u32 per role; attach counts at offset 80)
//! | value | meaning                                                  |
//! |-------|----------------------------------------------------------|
//! | 0     | never attached: a peer waits for it to come              |
//! | 1     | attached: alive while its liveness lock is held          |
//! | 2     | closed cleanly: dropped its endpoint                     |
//! | other | written by a scribbler: treated as attached              |
//!
//! An endpoint takes its liveness lock first, then stores `ATTACHED`; on drop
//! it stores `CLOSED`, then lets the lock go. So a probe that finds the lock
//! free and the state `ATTACHED` has found a dead process.
//!
//! # Role claims (offset 96, one u64 per role that one process holds)
//! A role that only one endpoint may hold (SPSC producer and consumer,
//! broadcast publisher) is claimed in shared memory, by a compare-and-swap
//! on its claim word; the liveness lock only tells whether a claimant
//! lives. The lock file alone cannot make a role exclusive: another user may
//! plant it (then it must not be trusted, and nobody holds it), and it
//! cannot be created when its file system is out of inodes. Neither may let
//! two endpoints hold the role.
//!
//! | value      | meaning                                                      |
//! |------------|--------------------------------------------------------------|
//! | 0          | free                                                         |
//! | `u64::MAX` | claimed by an endpoint that could not use its liveness lock  |
//! | other      | claimed by the holder of the lock file with this identity    |
//!
//! An endpoint takes the lock first (`LOCK_EX`; a live holder of it makes
//! the role taken), then swaps the claim from 0 to its lock's identity
//! ([`RoleLock::identity`]: the file's device and inode). A claim that
//! already holds that identity was made through the lock this endpoint now
//! holds, so its maker is dead and the endpoint takes the role over. Any
//! other claim (a holder without a usable lock, or one holding a lock file
//! since removed or replaced) may be alive: attaching fails with
//! [`Error::RoleUnverifiable`], never a second holder. An endpoint whose own
//! lock cannot be used still claims the role, as `u64::MAX`, so that one
//! endpoint attaches; its peers then read its liveness as unknown (never as
//! dead, which would be a false `PeerDied`). On drop, the state becomes
//! `CLOSED`, then the claim 0, then the lock goes. A claim left by a dead
//! endpoint that had no usable lock stays until the queue is created again.
//!
//! # Lockless holders (offset 112, one u32 per role that many hold)
//! An endpoint of a role that many hold (MPMC producers and consumers,
//! broadcast subscribers) whose liveness lock cannot be used (its role
//! file, or for MPMC its id file, could not be made or is not trusted)
//! still attaches, and counts itself here while attached. A probe that finds
//! the role's lock free while this count is nonzero cannot tell a live
//! lockless holder from none, so it answers "unknown" (alive), never "dead";
//! an MPMC endpoint then frees no claim of that role as a dead process's.
//! A lockless holder that dies leaves the count up: its peers' waits for
//! that role then end by their timeouts.

use std::time::{Duration, Instant};

use super::atomic::{AtomicU32, AtomicU64, Ordering};
use super::QueueOptions;
use crate::os::{self, CreatorState, RoleLock};
use crate::segment::{end_marker_at, END_LINE};
use crate::{Error, Result, Segment};

/// The first eight bytes of every queue segment.
pub(crate) const MAGIC: [u8; 8] = *b"\x89SHMKQ1\n";
/// The format version of a queue of `kind`: the header's layout, that of
/// the kind's slots, and the end marker after the data (see
/// [`END_MARKER`](crate::segment::END_MARKER)). SPSC and MPMC are at 2 since
/// the end marker; broadcast at 3 (2 added a gap total to its slots, see
/// `broadcast`). A queue of an older version is refused, not misread.
pub(crate) const fn version(kind: Kind) -> u32 {
    match kind {
        Kind::Spsc | Kind::Mpmc => 2,
        Kind::Broadcast => 3,
    }
}
/// `state` once the header is published.
const READY: u32 = 0x5245_4459;
const STATE: usize = 12;
/// Where the role state words start.
pub(crate) const ROLES: usize = 64;

/// Where the per-role attach counts start.
const ROLE_COUNTS: usize = 80;

/// Where the claim words of single-holder roles start (see the module doc).
const ROLE_CLAIMS: usize = 96;
/// Where the lockless-holder counts of shared roles start (module doc).
const ROLE_LOCKLESS: usize = 112;
/// A claim word that no endpoint holds.
const FREE: u64 = 0;
/// The claim of an endpoint that could not use its liveness lock.
const NO_LOCK: u64 = u64::MAX;

/// Role states (see the module table).
pub(crate) const NEVER: u32 = 0;
pub(crate) const ATTACHED: u32 = 1;
pub(crate) const CLOSED: u32 = 2;

/// Which queue a segment holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Spsc = 1,
    Mpmc = 2,
    Broadcast = 3,
}

impl Kind {
    /// The kind a header names.
    fn of(b: &[u8; 64]) -> std::result::Result<Kind, String> {
        match u32::from_le_bytes(b[16..20].try_into().unwrap()) {
            1 => Ok(Kind::Spsc),
            2 => Ok(Kind::Mpmc),
            3 => Ok(Kind::Broadcast),
            k => Err(format!("unknown queue kind {k}")),
        }
    }

    /// Its short name, for tools.
    pub(crate) fn short(self) -> &'static str {
        match self {
            Kind::Spsc => "spsc",
            Kind::Mpmc => "mpmc",
            Kind::Broadcast => "broadcast",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Spsc => "an SPSC queue",
            Kind::Mpmc => "an MPMC queue",
            Kind::Broadcast => "a broadcast ring",
        }
    }
}

/// The creator's choices, validated copy of the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub(crate) kind: Kind,
    pub(crate) capacity: u64,
    pub(crate) max_message: u64,
    pub(crate) data_offset: u64,
    pub(crate) slot_stride: u64,
    pub(crate) type_hash: u64,
}

impl Geometry {
    /// Total bytes of the segment this geometry needs.
    pub(crate) fn total(&self) -> Option<u64> {
        let data = if self.kind == Kind::Spsc {
            self.capacity
        } else {
            self.capacity.checked_mul(self.slot_stride)?
        };
        self.data_offset.checked_add(data)
    }

    fn to_bytes(self) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&version(self.kind).to_le_bytes());
        b[16..20].copy_from_slice(&(self.kind as u32).to_le_bytes());
        b[24..32].copy_from_slice(&self.capacity.to_le_bytes());
        b[32..40].copy_from_slice(&self.max_message.to_le_bytes());
        b[40..48].copy_from_slice(&self.data_offset.to_le_bytes());
        b[48..56].copy_from_slice(&self.slot_stride.to_le_bytes());
        b[56..64].copy_from_slice(&self.type_hash.to_le_bytes());
        b
    }

    /// Decodes and checks a header read once from the segment.
    fn parse(b: &[u8; 64], kind: Kind, seg_len: usize) -> std::result::Result<Geometry, String> {
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
        let found = Kind::of(b)?;
        if found != kind {
            return Err(format!("it holds {}, not {}", found.name(), kind.name()));
        }
        if u32_at(8) != version(kind) {
            return Err(format!(
                "{} of format version {}, this shmkit reads {}",
                kind.name(),
                u32_at(8),
                version(kind)
            ));
        }
        let g = Geometry {
            kind,
            capacity: u64_at(24),
            max_message: u64_at(32),
            data_offset: u64_at(40),
            slot_stride: u64_at(48),
            type_hash: u64_at(56),
        };
        let fits = g.total().is_some_and(|t| t <= seg_len as u64);
        if !fits || g.data_offset < HEADER_END as u64 || g.data_offset % 128 != 0 {
            return Err(format!(
                "capacity {} with data at {} does not fit the segment of {seg_len} bytes",
                g.capacity, g.data_offset
            ));
        }
        if !g.capacity.is_power_of_two() {
            return Err(format!("capacity {} is not a power of two", g.capacity));
        }
        Ok(g)
    }
}

/// Bytes reserved for the header and the index lines before the data.
pub(crate) const HEADER_END: usize = 512;

/// The largest position (a count since the queue was created) an attaching
/// endpoint accepts from shared memory. An honest queue gets there only
/// after carrying 2^63 bytes or messages (decades at tens of GB/s); a larger
/// value was written by a peer, and would overflow the sums of position,
/// record size and ring size an endpoint computes. From here, the endpoint's
/// own traffic would need as long again to overflow them.
pub(crate) const MAX_POSITION: u64 = 1 << 63;

/// Under loom: the region as loom atomics, one `u64` per 8 bytes and,
/// separately, one `u32` per 4 bytes (no offset is used both ways: the
/// `u32` words are states, counts, wake words and slot lengths).
#[cfg(loom)]
struct Heap {
    words: Vec<AtomicU64>,
    halves: Vec<AtomicU32>,
}

/// Zeroed, 128-byte aligned heap memory that stands in for a segment in
/// in-process tests (so that Miri can run the index protocol).
#[cfg(not(loom))]
struct Heap {
    ptr: *mut u8,
    layout: std::alloc::Layout,
}

#[cfg(not(loom))]
impl Drop for Heap {
    fn drop(&mut self) {
        // SAFETY:
        // - `ptr` came from `alloc_zeroed` with exactly this `layout`;
        // - every endpoint sharing this `Heap` holds an `Arc` to it, so none
        //   is left when this runs.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) };
    }
}

// SAFETY: `Heap` owns its allocation; the bytes are only reached through
// atomics (`Region`), so sharing the pointer across threads is race-free.
#[cfg(not(loom))]
unsafe impl Send for Heap {}
// SAFETY: as above: `&Heap` only gives out the pointer, accessed atomically.
#[cfg(not(loom))]
unsafe impl Sync for Heap {}

enum Backing {
    Segment(Segment),
    #[cfg_attr(not(any(test, feature = "fuzzing")), allow(dead_code))] // in-process tests only
    Heap(std::sync::Arc<Heap>),
}

/// A queue's memory: a segment, or heap memory for in-process tests. Every
/// access is atomic and bounds-checked against `len`; offsets given to it
/// are computed from validated locals only.
///
/// Two invariants spare the checks on an SPSC queue's message path:
/// - every region has at least its header, `len >= HEADER_END` (checked
///   when it is made), so an access at a constant offset below `HEADER_END`
///   is checked at compile time;
/// - the ring set by [`set_ring`](Self::set_ring) lies within `len`
///   (checked there), and the `ring_*` accessors reach it by position modulo
///   its size, so every such access is in bounds by construction.
pub(crate) struct Region {
    #[cfg_attr(loom, allow(dead_code))] // loom models keep their own memory
    base: *mut u8,
    len: usize,
    /// The ring's offset and size - 1 (a power of two, at least 8), within
    /// `len`; `(0, 7)` until set: the first word of the header.
    ring_off: usize,
    ring_mask: usize,
    name: String,
    backing: Backing,
    /// Users besides this one whose role lock files count
    /// ([`QueueOptions::trust_owner`]).
    trusted: Vec<u32>,
    /// The mode of this process's role lock files.
    lock_mode: u32,
}

// SAFETY: `Region` owns its mapping or heap block (both `Send`), and reaches
// the bytes only through atomics.
unsafe impl Send for Region {}
// SAFETY: as above; `&Region` only performs atomic accesses.
unsafe impl Sync for Region {}

impl Region {
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn segment(&self) -> Option<&Segment> {
        match &self.backing {
            Backing::Segment(s) => Some(s),
            Backing::Heap(_) => None,
        }
    }

    /// [`check_mapped`](Self::check_mapped), after looking for a truncation
    /// that raised no fault: the file is now shorter than the mapping
    /// (`fstat`), or its magic number reads as zeros (the file was shrunk
    /// and grown back: fresh zero pages; no peer writes zeros there, and a
    /// magic number of other bytes is left to the corruption checks). Either
    /// marks the mapping lost for good. Costs a system call: for the slow
    /// paths (a wait about to block), never the message path.
    #[cold]
    pub(crate) fn check_intact(&self) -> Result<()> {
        let Backing::Segment(seg) = &self.backing else {
            return Ok(());
        };
        let mut magic = [0u8; 8];
        self.load(0, &mut magic);
        if magic == [0; 8] || seg.file_shrunk() {
            seg.mark_lost();
        }
        self.check_mapped()
    }

    /// [`Error::Truncated`] if a peer shrank the segment under this mapping
    /// (see [`Segment::check_mapped`]); checked after the accesses of every
    /// queue call, so that what a lost page read (zeros) is never taken for
    /// the queue's state.
    #[inline(always)]
    pub(crate) fn check_mapped(&self) -> Result<()> {
        match &self.backing {
            Backing::Segment(s) => s.check_mapped(),
            Backing::Heap(_) => Ok(()),
        }
    }

    /// A region over `len` bytes at `base`; panics if `len` is less than
    /// the queue header (the callers check).
    fn new(base: *mut u8, len: usize, name: String, backing: Backing) -> Region {
        assert!(
            len >= HEADER_END,
            "a queue region holds at least its header"
        );
        Region {
            base,
            len,
            ring_off: 0,
            ring_mask: 7,
            name,
            backing,
            trusted: Vec::new(),
            lock_mode: 0o600,
        }
    }

    /// Takes the lock file choices of `opts` (segment regions only).
    fn with_lock_options(mut self, opts: &QueueOptions) -> Region {
        self.trusted = opts.trusted_owners.clone();
        self.lock_mode = opts.lock_mode();
        self
    }

    /// A role lock of this queue, for an endpoint that will hold it.
    pub(crate) fn role_lock(&self, role: &str) -> RoleLock {
        RoleLock::open(&self.name, role, &self.trusted, self.lock_mode)
    }

    /// A probe of a role lock of this queue.
    pub(crate) fn role_probe(&self, role: &str) -> RoleLock {
        RoleLock::probe_only(&self.name, role, &self.trusted)
    }

    /// Sets the ring that the `ring_*` accessors reach: `cap` bytes from
    /// `off`. Panics unless `off` is 8-aligned, `cap` a power of two of at
    /// least 8, and the ring within the region (the caller validated the
    /// geometry).
    pub(crate) fn set_ring(&mut self, off: usize, cap: usize) {
        assert!(
            off % 8 == 0
                && cap.is_power_of_two()
                && cap >= 8
                && off.checked_add(cap).is_some_and(|e| e <= self.len)
        );
        self.ring_off = off;
        self.ring_mask = cap - 1;
    }

    /// The segment offset of ring position `pos`, rounded down to 8: within
    /// the ring, whatever `pos` is.
    #[inline]
    fn ring_offset(&self, pos: u64) -> usize {
        // Truncating `pos` on 32-bit targets keeps the low bits the mask
        // keeps.
        self.ring_off + (pos as usize & self.ring_mask & !7)
    }

    /// The ring's word at position `pos` (rounded down to 8), without a
    /// bounds check: it lies in the ring, which `set_ring` checked.
    #[inline]
    pub(crate) fn ring_u64(&self, pos: u64) -> &AtomicU64 {
        // SAFETY: `ring_off + ring_mask + 1 <= len` (checked by `set_ring`,
        // or `7 < HEADER_END <= len` before it), so the word at
        // `ring_off + (x & ring_mask & !7)` is in bounds, and 8-aligned as
        // `ring_off` is.
        unsafe { self.word(self.ring_offset(pos)) }
    }

    /// The atomic `u64` at `off`, unchecked.
    ///
    /// # Safety
    /// `off` must be 8-aligned and `off + 8 <= len`.
    #[inline]
    unsafe fn word(&self, off: usize) -> &AtomicU64 {
        #[cfg(loom)]
        return &self.loom_heap().words[off / 8];
        #[cfg(not(loom))]
        // SAFETY:
        // - the caller keeps the word within `len`, so it lies in the live
        //   region, which outlives `&self`;
        // - the base is 128-aligned (page or heap layout) and `off` 8-aligned,
        //   so the word is aligned for `AtomicU64`;
        // - every access to shared bytes in this process is atomic.
        unsafe {
            AtomicU64::from_ptr(self.base.add(off).cast())
        }
    }

    /// Where `len` bytes from ring position `pos` start, if `pos` is
    /// 8-aligned and they end by the ring's end (no wrapping); panics
    /// otherwise (a bug in this crate: records never wrap).
    #[inline]
    fn ring_range(&self, pos: u64, len: usize) -> usize {
        let at = pos as usize & self.ring_mask;
        // `ring_mask + 1 - at` is a multiple of 8 when `at` is, so `len`
        // rounded up to 8 fits too.
        assert!(at % 8 == 0 && len <= self.ring_mask + 1 - at);
        self.ring_off + at
    }

    /// Copies `src` in at ring position `pos` as whole words, first to
    /// last, zeroing the last word's bytes past `src.len()` and calling
    /// `midway` half-way (see [`copy::store_padded`]); checked against the
    /// ring's end only.
    ///
    /// [`copy::store_padded`]: crate::copy::store_padded
    #[inline]
    pub(crate) fn ring_store_padded(&self, pos: u64, src: &[u8], midway: impl FnOnce()) {
        let off = self.ring_range(pos, src.len());
        #[cfg(loom)]
        {
            let mut padded = src.to_vec();
            padded.resize(src.len().next_multiple_of(8), 0);
            midway();
            return self.loom_store(off, &padded);
        }
        #[cfg(not(loom))]
        // SAFETY:
        // - `off` is 8-aligned and the rounded-up range ends by the ring's
        //   end (`ring_range`), which lies in the live, writable region;
        // - every access to it in this process is atomic (`copy`).
        unsafe {
            crate::copy::store_padded(self.base.add(off), src, midway)
        }
    }

    /// Copies `dst.len()` bytes out from ring position `pos` as whole words
    /// (see [`copy::load_padded`]); checked against the ring's end only.
    ///
    /// [`copy::load_padded`]: crate::copy::load_padded
    #[inline]
    pub(crate) fn ring_load_padded(&self, pos: u64, dst: &mut [u8]) {
        let off = self.ring_range(pos, dst.len());
        #[cfg(loom)]
        return self.loom_load(off, dst);
        #[cfg(not(loom))]
        // SAFETY:
        // - `off` is 8-aligned and the rounded-up range ends by the ring's
        //   end (`ring_range`), which lies in the live region;
        // - every access to it in this process is atomic (`copy`).
        unsafe {
            crate::copy::load_padded(self.base.add(off), dst)
        }
    }

    /// The atomic `u64` at `off`. Panics if out of bounds or misaligned, which
    /// would be a bug in this crate: offsets come from validated values. An
    /// offset within the header is checked against `HEADER_END` rather than
    /// `len` (every region is that long), at compile time when it is a
    /// constant.
    #[inline]
    pub(crate) fn u64(&self, off: usize) -> &AtomicU64 {
        let in_header = off % 8 == 0 && off < HEADER_END - 7;
        assert!(in_header || off % 8 == 0 && off.checked_add(8).is_some_and(|e| e <= self.len));
        // SAFETY: `off` is 8-aligned and `off + 8 <= HEADER_END <= len`
        // (`new` checked the latter) or `off + 8 <= len`.
        unsafe { self.word(off) }
    }

    /// The atomic `u32` at `off` (as [`u64`](Self::u64)).
    #[inline]
    pub(crate) fn u32(&self, off: usize) -> &AtomicU32 {
        let in_header = off % 4 == 0 && off < HEADER_END - 3;
        assert!(in_header || off % 4 == 0 && off.checked_add(4).is_some_and(|e| e <= self.len));
        #[cfg(loom)]
        return &self.loom_heap().halves[off / 4];
        #[cfg(not(loom))]
        // SAFETY: as in `u64`, with 4 bytes and 4-byte alignment.
        unsafe {
            AtomicU32::from_ptr(self.base.add(off).cast())
        }
    }

    /// Copies `dst.len()` bytes at `off` out, with atomic loads.
    #[inline]
    pub(crate) fn load(&self, off: usize, dst: &mut [u8]) {
        assert!(off.checked_add(dst.len()).is_some_and(|e| e <= self.len));
        #[cfg(loom)]
        return self.loom_load(off, dst);
        #[cfg(not(loom))]
        // SAFETY:
        // - the range lies in the live region (just checked);
        // - every access to it in this process is atomic (`copy`).
        unsafe {
            crate::copy::load(self.base.add(off), dst)
        }
    }

    /// Copies `src` in at `off`, with atomic stores.
    #[inline]
    pub(crate) fn store(&self, off: usize, src: &[u8]) {
        assert!(off.checked_add(src.len()).is_some_and(|e| e <= self.len));
        #[cfg(loom)]
        return self.loom_store(off, src);
        #[cfg(not(loom))]
        // SAFETY:
        // - the range lies in the live, writable region (endpoints that write
        //   never map read-only);
        // - every access to it in this process is atomic (`copy`).
        unsafe {
            crate::copy::store(self.base.add(off), src)
        }
    }

    /// Copies `words` 8-byte words from `src` at the 8-aligned `src_off` to
    /// this region at the 8-aligned `off`, one relaxed atomic load and store
    /// each (one bounds check per side for all of them), from the first word
    /// to the last in one loop, calling `midway` once the lower half is
    /// copied (as [`copy::store_padded`] does, and for the same reasons).
    ///
    /// [`copy::store_padded`]: crate::copy::store_padded
    #[inline]
    pub(crate) fn copy_words(
        &self,
        off: usize,
        src: &Region,
        src_off: usize,
        words: usize,
        midway: impl FnOnce(),
    ) {
        let end = |at: usize| words.checked_mul(8).and_then(|n| at.checked_add(n));
        assert!(off % 8 == 0 && end(off).is_some_and(|e| e <= self.len));
        assert!(src_off % 8 == 0 && end(src_off).is_some_and(|e| e <= src.len));
        let mut midway = Some(midway);
        for i in 0..words {
            #[cfg(loom)]
            {
                let w = src.u64(src_off + 8 * i).load(Ordering::Relaxed);
                self.u64(off + 8 * i).store(w, Ordering::Relaxed);
            }
            #[cfg(not(loom))]
            // SAFETY:
            // - word `i` lies in the checked range of the live `src` region,
            //   and in the checked range of this live, writable region, both
            //   8-aligned (the bases are 128-aligned);
            // - every access to either in this process is atomic.
            unsafe {
                let w = AtomicU64::from_ptr(src.base.add(src_off + 8 * i).cast())
                    .load(Ordering::Relaxed);
                AtomicU64::from_ptr(self.base.add(off + 8 * i).cast()).store(w, Ordering::Relaxed);
            }
            if i + 1 == words / 2 {
                if let Some(f) = midway.take() {
                    f();
                }
            }
        }
        if let Some(f) = midway.take() {
            f();
        }
    }

    /// Stores zero into the `words` 8-byte words from the 8-aligned `off`,
    /// one relaxed atomic store each (one bounds check for all of them).
    #[inline]
    pub(crate) fn zero_words(&self, off: usize, words: usize) {
        let end = words.checked_mul(8).and_then(|n| off.checked_add(n));
        assert!(off % 8 == 0 && end.is_some_and(|e| e <= self.len));
        #[cfg(loom)]
        return self.loom_store(off, &vec![0; words * 8]);
        #[cfg(not(loom))]
        for i in 0..words {
            // SAFETY:
            // - word `i` lies in the checked range of the live, writable
            //   region, 8-aligned (the base is 128-aligned);
            // - every access to it in this process is atomic.
            unsafe { AtomicU64::from_ptr(self.base.add(off + 8 * i).cast()) }
                .store(0, Ordering::Relaxed);
        }
    }

    /// How many endpoints of role `role` attached and have not detached
    /// (only trusted where liveness locks are unavailable).
    pub(crate) fn role_count(&self, role: usize) -> &AtomicU32 {
        self.u32(ROLE_COUNTS + 4 * role)
    }

    /// The state word of role `role` (an index into the role table).
    pub(crate) fn role_state(&self, role: usize) -> &AtomicU32 {
        self.u32(ROLES + 4 * role)
    }

    /// The claim word of single-holder role `role` (see the module doc).
    fn role_claim(&self, role: usize) -> &AtomicU64 {
        self.u64(ROLE_CLAIMS + 8 * role)
    }

    /// How many endpoints hold shared role `role` without a usable liveness
    /// lock (see the module doc).
    pub(crate) fn lockless_holders(&self, role: usize) -> &AtomicU32 {
        self.u32(ROLE_LOCKLESS + 4 * role)
    }

    /// Heap memory for `geom`, zeroed and published: one process, many
    /// endpoints. Returns one region per endpoint asked for.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn heap(geom: Geometry, name: &str, init: &dyn Fn(&Region)) -> Region {
        let len = geom.total().expect("geometry checked by the caller") as usize;
        #[cfg(loom)]
        let (heap, ptr) = (
            Heap {
                words: (0..len / 8).map(|_| AtomicU64::new(0)).collect(),
                halves: (0..len / 4).map(|_| AtomicU32::new(0)).collect(),
            },
            std::ptr::null_mut(),
        );
        #[cfg(not(loom))]
        let (heap, ptr) = Self::alloc(len);
        let region = Region::new(
            ptr,
            len,
            name.to_owned(),
            Backing::Heap(std::sync::Arc::new(heap)),
        );
        region.store(0, &geom.to_bytes());
        init(&region);
        region.u32(STATE).store(READY, Ordering::Release);
        region
    }

    #[cfg(all(any(test, feature = "fuzzing"), not(loom)))]
    fn alloc(len: usize) -> (Heap, *mut u8) {
        let layout = std::alloc::Layout::from_size_align(len, 128).expect("size checked");
        // SAFETY: `layout` has non-zero size (at least the header).
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        if ptr.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        (Heap { ptr, layout }, ptr)
    }

    /// The loom model's memory (segments are not modelled).
    #[cfg(loom)]
    fn loom_heap(&self) -> &Heap {
        match &self.backing {
            Backing::Heap(h) => h,
            Backing::Segment(_) => unreachable!("loom models run on heap regions only"),
        }
    }

    /// Byte copies over the model's 64-bit words (relaxed, like `copy`).
    #[cfg(loom)]
    fn loom_load(&self, off: usize, dst: &mut [u8]) {
        for (i, b) in dst.iter_mut().enumerate() {
            let at = off + i;
            let w = self.loom_heap().words[at / 8].load(Ordering::Relaxed);
            *b = w.to_ne_bytes()[at % 8];
        }
    }

    #[cfg(loom)]
    fn loom_store(&self, off: usize, src: &[u8]) {
        let mut i = 0;
        while i < src.len() {
            let at = off + i;
            let start = at % 8;
            let n = (8 - start).min(src.len() - i);
            let word = &self.loom_heap().words[at / 8];
            let mut old = word.load(Ordering::Relaxed);
            loop {
                let mut bytes = old.to_ne_bytes();
                bytes[start..start + n].copy_from_slice(&src[i..i + n]);
                let new = u64::from_ne_bytes(bytes);
                match word.compare_exchange(old, new, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => break,
                    Err(now) => old = now,
                }
            }
            i += n;
        }
    }

    /// Another handle on the same heap memory (in-process endpoints).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn share_heap(&self) -> Region {
        match &self.backing {
            Backing::Heap(h) => Region {
                base: self.base,
                len: self.len,
                ring_off: self.ring_off,
                ring_mask: self.ring_mask,
                name: self.name.clone(),
                backing: Backing::Heap(h.clone()),
                trusted: Vec::new(),
                lock_mode: 0o600,
            },
            Backing::Segment(_) => unreachable!("only heap regions are shared in-process"),
        }
    }

    /// Fuzzing: heap memory of `len` bytes holding `image` (zero beyond it),
    /// then checked as [`open`](Self::open) checks a segment, after its wait
    /// for `READY` (the image's `state` is not looked at).
    ///
    /// # Errors
    /// As [`open`](Self::open)'s header checks.
    #[cfg(all(feature = "fuzzing", not(loom)))]
    pub(crate) fn heap_image(image: &[u8], len: usize, kind: Kind) -> Result<(Region, Geometry)> {
        let len = len.max(image.len());
        if len < HEADER_END {
            return Err(Error::NotTyped {
                name: "fuzz".into(),
                reason: format!("it has {len} bytes, too few for a shmkit queue"),
            });
        }
        let (heap, ptr) = Self::alloc(len);
        let region = Region::new(
            ptr,
            len,
            "fuzz".into(),
            Backing::Heap(std::sync::Arc::new(heap)),
        );
        region.store(0, image);
        let mut raw = [0u8; 64];
        region.load(0, &mut raw);
        if raw[..8] != MAGIC {
            return Err(Error::NotTyped {
                name: "fuzz".into(),
                reason: "no shmkit queue magic number".into(),
            });
        }
        let geom =
            Geometry::parse(&raw, kind, region.len).map_err(|what| region.corrupted(what))?;
        Ok((region, geom))
    }

    /// The whole region, copied out (fuzzing: seed images).
    #[cfg(all(feature = "fuzzing", not(loom)))]
    pub(crate) fn image(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.len];
        self.load(0, &mut v);
        v
    }

    /// The region's length in bytes.
    #[cfg(all(feature = "fuzzing", not(loom)))]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Creates the segment, writes the header, runs `init` (which sets up
    /// the kind's own initial state), publishes it.
    ///
    /// `shm_open(O_CREAT | O_EXCL)` and the rest of [`Segment::create`].
    pub(crate) fn create(
        name: &str,
        geom: Geometry,
        opts: &QueueOptions,
        init: &dyn Fn(&Region),
    ) -> Result<Region> {
        let total = geom
            .total()
            .filter(|&t| t <= isize::MAX as u64 / 2)
            .map(|t| end_marker_at(t as usize) + END_LINE)
            .ok_or_else(|| Error::InvalidSize {
                name: name.to_owned(),
                len: u64::MAX,
                reason: "the queue would be larger than this platform can map",
            })?;
        let mut so = Segment::options();
        so.persist(opts.persist);
        so.hold_creator_lock = true;
        if let Some(mode) = opts.mode {
            so.mode(mode);
        }
        let mut seg = so.create(name, total)?;
        seg.write_end_marker(total - END_LINE)?;
        let region = Region::from_segment(seg).with_lock_options(opts);
        region.store(0, &geom.to_bytes());
        init(&region);
        crate::failpoint::hit("queue-before-ready");
        // SYNC(queue-ready): publishes the header; pairs with `open`'s Acquire.
        region.u32(STATE).store(READY, Ordering::Release);
        if let Some(seg) = region.segment() {
            seg.release_creator_lock();
        }
        Ok(region)
    }

    fn from_segment(seg: Segment) -> Region {
        Region::new(
            seg.as_mut_ptr(),
            seg.len(),
            seg.name().to_owned(),
            Backing::Segment(seg),
        )
    }

    /// Opens the segment, waits for its header, and validates it.
    ///
    /// # Errors
    /// As [`Segment::open`]; [`Error::NotTyped`] if it is no shmkit queue,
    /// [`Error::Corrupted`] if its header is inconsistent or of another kind,
    /// [`Error::InitAbandoned`] / [`Error::InitTimeout`] as typed segments.
    pub(crate) fn open(name: &str, kind: Kind, opts: &QueueOptions) -> Result<(Region, Geometry)> {
        let mut so = Segment::options();
        so.timeout(opts.open_timeout);
        so.accept_mode(opts.accept_mode);
        for &uid in &opts.trusted_owners {
            so.trust_owner(uid);
        }
        let seg = so.open(name)?;
        if seg.len() < HEADER_END {
            return Err(Error::NotTyped {
                name: name.to_owned(),
                reason: format!("it has {} bytes, too few for a shmkit queue", seg.len()),
            });
        }
        let region = Region::from_segment(seg).with_lock_options(opts);
        let start = Instant::now();
        let mut pause = Duration::from_micros(50);
        // Whether this opener saw the creator's lock held: a header of zeros
        // whose lock was held and is free now lost its creator, while one
        // whose lock was never seen held may be no queue at all (a segment
        // made by `Segment::create`, Python or C), which must not be called
        // abandoned: that error's advice is to remove it.
        let mut creator_seen = false;
        loop {
            // SYNC(queue-ready): Acquire, pairs with `create`'s Release.
            if region.u32(STATE).load(Ordering::Acquire) == READY {
                break;
            }
            let creator = region.segment().map(Segment::creator_state);
            creator_seen |= creator == Some(CreatorState::Alive);
            if creator == Some(CreatorState::Gone)
                && region.u32(STATE).load(Ordering::Acquire) != READY
            {
                // The magic number before the state: a scribbled or foreign
                // header is not an abandoned queue.
                let mut raw = [0u8; 64];
                region.load(0, &mut raw);
                region.check_mapped()?;
                if raw == [0; 64] && !creator_seen {
                    return Err(Error::NotTyped {
                        name: name.to_owned(),
                        reason: "it holds only zeros where a queue's header goes: it was made \
                                 by Segment::create or another program, or its creator has not \
                                 written the header yet"
                            .into(),
                    });
                }
                if raw != [0; 64] && raw[..8] != MAGIC {
                    return Err(Error::NotTyped {
                        name: name.to_owned(),
                        reason: "no shmkit queue magic number".into(),
                    });
                }
                return Err(Error::InitAbandoned {
                    name: name.to_owned(),
                });
            }
            if start.elapsed() >= opts.open_timeout {
                return Err(Error::InitTimeout {
                    name: name.to_owned(),
                    waited: start.elapsed(),
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        }
        let mut raw = [0u8; 64];
        region.load(0, &mut raw);
        if raw[..8] != MAGIC {
            return Err(Error::NotTyped {
                name: name.to_owned(),
                reason: "no shmkit queue magic number".into(),
            });
        }
        // A queue of the kind asked for, made by a shmkit of another format:
        // intact, only not ours to read, so not called corrupted.
        let found = u32::from_le_bytes(raw[8..12].try_into().unwrap());
        if Kind::of(&raw) == Ok(kind) && found != version(kind) {
            return Err(Error::FormatVersion {
                name: name.to_owned(),
                kind: kind.name(),
                found,
                expected: version(kind),
            });
        }
        let geom = Geometry::parse(&raw, kind, region.len).map_err(|what| Error::Corrupted {
            name: name.to_owned(),
            what,
        })?;
        let mut region = region;
        if let Backing::Segment(seg) = &mut region.backing {
            // `parse` bounds the total by the segment's length.
            seg.expect_end_marker(end_marker_at(geom.total().unwrap_or(0) as usize))?;
        }
        Ok((region, geom))
    }

    /// The geometry a mapped segment's queue header describes, and whether
    /// its creator finished: `None` if it holds no queue header (no queue
    /// magic number), `Some(Err(why))` if the header does not hold together.
    /// Reads with copies, so any mapping will do (read-only too).
    pub(crate) fn inspect(seg: &Segment) -> Option<std::result::Result<(Geometry, bool), String>> {
        let mut raw = [0u8; 64];
        if seg.len() < HEADER_END || seg.read_at(0, &mut raw).is_err() || raw[..8] != MAGIC {
            return None;
        }
        let ready = u32::from_le_bytes(raw[STATE..STATE + 4].try_into().unwrap()) == READY;
        Some(
            Kind::of(&raw)
                .and_then(|kind| Geometry::parse(&raw, kind, seg.len()))
                .map(|g| (g, ready)),
        )
    }

    /// An error naming this queue.
    pub(crate) fn corrupted(&self, what: String) -> Error {
        Error::Corrupted {
            name: self.name.clone(),
            what,
        }
    }
}

/// What an endpoint can tell about its peers, from their liveness locks and
/// role states (never from pids).
///
/// # Example
/// ```
/// use shmkit::queue::{spsc, Peer};
/// # let name = format!("doc-peer-{}", std::process::id());
/// let rx = spsc::Consumer::create(&name, 1024)?;
/// assert_eq!(rx.peer(), Peer::NotYet); // worth waiting for
/// let tx = spsc::Producer::open(&name)?;
/// assert_eq!(rx.peer(), Peer::Alive);
/// drop(tx);
/// assert_eq!(rx.peer(), Peer::Closed); // gone for good: stop waiting
/// # Ok::<(), shmkit::Error>(())
/// ```
///
/// [`Died`](Peer::Died) is a peer process that ended without dropping
/// its endpoint (killed, or crashed): the OS let its lock go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// Alive (or this platform cannot tell and it has not closed).
    Alive,
    /// Never attached yet: worth waiting for.
    NotYet,
    /// Its lock is free but its state says attached: it died.
    Died,
    /// It dropped its endpoint.
    Closed,
}

/// An endpoint's own liveness lock and its probe of a peer role.
pub(crate) struct Liveness {
    own: Option<RoleLock>,
    peer: Option<RoleLock>,
    /// Index of this endpoint's role in the role table.
    own_role: usize,
    /// Index of the peer role in the role table.
    peer_role: usize,
    /// Whether the peer role is held by many (`LOCK_SH`) or one (`LOCK_EX`).
    peer_shared: bool,
    /// Whether this endpoint's role is held by many.
    own_shared: bool,
    /// This endpoint's claim on its single-holder role (its lock's
    /// identity, or `NO_LOCK`); `FREE` for a shared role or heap memory.
    own_claim: u64,
    /// Whether this endpoint counts itself among its shared role's
    /// lockless holders.
    own_lockless: bool,
    own_name: &'static str,
    /// Whether this endpoint has seen the peer role attached (its state, or
    /// its lock held). Role states never return to `NEVER`: one that reads
    /// `NEVER` afterwards was written by a peer, and with the lock free the
    /// role is dead, not "not yet" (which would keep a blocking call waiting
    /// for a dead peer). A process-local flag, so a scribbler cannot clear it.
    peer_seen: std::sync::atomic::AtomicBool,
}

/// How long attaching retries a role lock that a probe may hold a moment.
const ATTACH_RETRY: Duration = Duration::from_millis(200);

impl Liveness {
    /// Takes `own_role`'s lock (exclusive unless `own_shared`), claims an
    /// exclusive role, marks the role attached, and opens the peer role's
    /// lock for probing.
    ///
    /// # Errors
    /// [`Error::RoleTaken`] if an exclusive role is held by a live process,
    /// [`Error::RoleUnverifiable`] if it is claimed by an endpoint whose
    /// liveness cannot be told.
    pub(crate) fn attach(
        region: &Region,
        roles: &[&'static str],
        own_role: usize,
        own_shared: bool,
        peer_role: usize,
        peer_shared: bool,
    ) -> Result<Liveness> {
        let mut own_claim = FREE;
        let mut own_lockless = false;
        let (own, peer) = match region.segment() {
            Some(_) => {
                let own = region.role_lock(roles[own_role]);
                if own_shared {
                    own.hold_shared();
                    if !own.works() || own.problem().is_some() {
                        region
                            .lockless_holders(own_role)
                            .fetch_add(1, Ordering::SeqCst);
                        own_lockless = true;
                    }
                } else {
                    let start = Instant::now();
                    while !own.hold_exclusive() {
                        if own.problem().is_some() {
                            break;
                        }
                        if start.elapsed() > ATTACH_RETRY {
                            // Held all along while no endpoint claims the
                            // role through it: what holds it is no endpoint
                            // (an object planted under the role's name, or a
                            // stray holder). Go on without a usable lock, as
                            // when it cannot be made: the claim keeps the
                            // role exclusive (`claim` refuses a second
                            // holder with `RoleUnverifiable`).
                            let claimed = region.role_claim(own_role).load(Ordering::SeqCst);
                            if claimed == FREE || claimed == NO_LOCK {
                                own.set_problem(
                                    "its liveness lock is held by a process that is no \
                                     endpoint of the queue"
                                        .into(),
                                );
                                break;
                            }
                            return Err(Error::RoleTaken {
                                name: region.name().to_owned(),
                                role: roles[own_role],
                            });
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    own_claim = claim(region, roles[own_role], own_role, &own)?;
                }
                (Some(own), Some(region.role_probe(roles[peer_role])))
            }
            None => (None, None),
        };
        region.role_count(own_role).fetch_add(1, Ordering::SeqCst);
        region
            .role_state(own_role)
            .store(ATTACHED, Ordering::SeqCst);
        let live = Liveness {
            own,
            peer,
            own_role,
            peer_role,
            peer_shared,
            own_shared,
            own_claim,
            own_lockless,
            own_name: roles[own_role],
            peer_seen: std::sync::atomic::AtomicBool::new(false),
        };
        live.peer(region);
        Ok(live)
    }

    /// Probes the peer role: its lock first, then its state word.
    pub(crate) fn peer(&self, region: &Region) -> Peer {
        let lock = match &self.peer {
            Some(p) if self.peer_shared => p.probe_shared(),
            Some(p) => p.probe_exclusive(),
            None => CreatorState::Unknown,
        };
        let state = region.role_state(self.peer_role).load(Ordering::SeqCst);
        // A single-holder peer whose claim was not made through the lock
        // file just probed (it had no usable lock, or its file was removed
        // or replaced) is not told dead by that file.
        let lock = match &self.peer {
            Some(p) if !self.peer_shared && lock == CreatorState::Gone => {
                let claim = region.role_claim(self.peer_role).load(Ordering::SeqCst);
                if claim == NO_LOCK || (claim != FREE && p.identity() != Some(claim)) {
                    CreatorState::Unknown
                } else {
                    lock
                }
            }
            // A shared peer role with lockless holders: a free lock does
            // not tell that none is left.
            Some(_)
                if self.peer_shared
                    && lock == CreatorState::Gone
                    && region
                        .lockless_holders(self.peer_role)
                        .load(Ordering::SeqCst)
                        != 0 =>
            {
                CreatorState::Unknown
            }
            _ => lock,
        };
        let seen = &self.peer_seen;
        if lock == CreatorState::Alive || state != NEVER {
            seen.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        match (lock, state) {
            (CreatorState::Alive, _) => Peer::Alive,
            (_, CLOSED) => Peer::Closed,
            (CreatorState::Gone, NEVER) if seen.load(std::sync::atomic::Ordering::Relaxed) => {
                Peer::Died
            }
            (CreatorState::Gone, NEVER) => Peer::NotYet,
            (CreatorState::Gone, _) => Peer::Died,
            (CreatorState::Unknown, NEVER) => Peer::NotYet,
            (CreatorState::Unknown, _) => Peer::Alive,
        }
    }

    /// Counts this endpoint of a shared role among the role's lockless
    /// holders (an MPMC endpoint whose id lock cannot be used), once.
    pub(crate) fn mark_lockless(&mut self, region: &Region) {
        if self.own_shared && !self.own_lockless {
            region
                .lockless_holders(self.own_role)
                .fetch_add(1, Ordering::SeqCst);
            self.own_lockless = true;
        }
    }

    /// Leaves as a killed process would: the lock goes, the state stays
    /// `ATTACHED` and the claim stays (a successor holding the same lock
    /// file takes it over), so that peers read a death. Single-holder roles
    /// only.
    pub(crate) fn abandon(&mut self, region: &Region) {
        debug_assert!(!self.own_shared);
        region
            .role_count(self.own_role)
            .fetch_sub(1, Ordering::SeqCst);
        release(self.own.take());
    }

    /// Marks this endpoint closed (unless others of its role live on), then
    /// drops its lock.
    pub(crate) fn detach(&mut self, region: &Region) {
        let own = self.own.take();
        let locks_work = own.as_ref().is_some_and(RoleLock::works);
        if self.own_lockless {
            self.own_lockless = false;
            region
                .lockless_holders(self.own_role)
                .fetch_sub(1, Ordering::SeqCst);
        }
        let last = region
            .role_count(self.own_role)
            .fetch_sub(1, Ordering::SeqCst)
            == 1;
        if !self.own_shared {
            region
                .role_state(self.own_role)
                .store(CLOSED, Ordering::SeqCst);
            if self.own_claim != FREE {
                // Only our own claim is freed: a scribbled word stays.
                let _ = region.role_claim(self.own_role).compare_exchange(
                    self.own_claim,
                    FREE,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                );
            }
            release(own);
            return;
        }
        // The last by count is the last: nobody else can be left. It marks
        // the role closed *before* its lock goes, as an exclusive holder
        // does, so that a peer's probe never finds the lock free while the
        // state still says attached (which reads as a death: a false
        // `PeerDied`, seen under Wine where closing a handle is slow).
        // Deciding by the count first also settles two endpoints leaving at
        // once, whose probes could each see the other.
        if last {
            region
                .role_state(self.own_role)
                .store(CLOSED, Ordering::SeqCst);
            release(own);
            return;
        }
        // Otherwise our LOCK_SH goes with our descriptor, and a fresh one
        // probes whether any other holder of the role is left (a crashed one
        // leaves the count too high; a peer probing meanwhile sees that
        // death). Without locks (heap memory) the count alone decides: a
        // crashed endpoint then makes its peers wait out their timeouts.
        release(own);
        let others = !locks_work
            || region
                .lockless_holders(self.own_role)
                .load(Ordering::SeqCst)
                != 0
            || region.role_probe(self.own_name).probe_shared() == CreatorState::Alive;
        if !others {
            region
                .role_state(self.own_role)
                .store(CLOSED, Ordering::SeqCst);
        }
    }
}

/// Claims single-holder role `role` (named `name`) for an endpoint holding
/// `own` exclusively, or unable to use it (see the module doc): returns
/// the claim word's new value.
///
/// # Errors
/// [`Error::RoleUnverifiable`] if another endpoint's claim may be alive.
fn claim(region: &Region, name: &'static str, role: usize, own: &RoleLock) -> Result<u64> {
    let mine = match own.problem() {
        None => own.identity().unwrap_or(NO_LOCK),
        Some(_) => NO_LOCK,
    };
    let word = region.role_claim(role);
    let mut now = word.load(Ordering::SeqCst);
    loop {
        if now == FREE {
            match word.compare_exchange(FREE, mine, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return Ok(mine),
                Err(found) => {
                    now = found;
                    continue;
                }
            }
        }
        if now == mine && mine != NO_LOCK {
            // Made through the lock this endpoint holds exclusively: its
            // maker is dead. Taking over leaves the word as it is.
            return Ok(mine);
        }
        let after = "wait for it to exit, which frees the claim; if it died, the claim stays: \
                     once no process uses the queue, remove the queue and create it again";
        let reason = match own.problem() {
            Some(problem) => format!("this endpoint cannot take its liveness lock: {problem}"),
            None if now == NO_LOCK => {
                format!("it attached without a usable liveness lock; {after}")
            }
            None => format!(
                "it holds a liveness lock file other than this endpoint's (the file was removed \
                 or replaced while it ran); {after}"
            ),
        };
        return Err(Error::RoleUnverifiable {
            name: region.name().to_owned(),
            role: name,
            reason,
        });
    }
}

/// Lets a liveness lock go: closing its descriptor releases the `flock`.
fn release(_lock: Option<RoleLock>) {}

/// Removes the role lock files of a queue whose name is being removed.
///
/// The name goes first: a process that opened the queue between the two
/// would make fresh lock files, and its probes of the endpoints still
/// holding the old ones would read them as gone.
pub(crate) fn remove_role_locks(region: &Region, roles: &[&'static str]) {
    if let Some(seg) = region.segment() {
        if seg.created() {
            seg.remove_name_now();
            for role in roles {
                os::remove_role_lock(region.name(), role);
            }
        }
    }
}

/// Removes every role lock file a queue of this (validated) name may have.
pub(crate) fn remove_all_role_locks(name: &str) {
    for role in ["producer", "consumer", "publisher", "subscriber"] {
        os::remove_role_lock(name, role);
    }
    for role in ["producer", "consumer"] {
        for id in 0..64 {
            os::remove_role_lock(name, &format!("{role}.{id}"));
        }
    }
    // Broadcast subscriber ids (see `broadcast`'s module docs).
    for id in 0..1024 {
        os::remove_role_lock(name, &format!("subscriber.{id}"));
    }
}
