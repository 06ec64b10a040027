//! The `SIGBUS` guard: a peer that shrinks a mapped segment makes an error
//! here, not a signal that kills the process.
//!
//! # The problem
//! A `MAP_SHARED` mapping of a file keeps its length when the file shrinks.
//! Touching a page past the file's new end raises `SIGBUS`, whose default
//! action ends the process. Any process that may open a segment read-write
//! can `ftruncate` it, so without a guard any such peer could kill every
//! other user of the segment. A full tmpfs does the same to the first touch
//! of a hole in a sparse file (one sized with `ftruncate` alone).
//!
//! # The design
//! - A process-wide `SIGBUS` handler, installed with `sigaction` once, when
//!   the first segment is mapped.
//! - A registry of the mapped ranges that the handler reads without locks or
//!   allocation: chunks of [`CHUNK`] slots of atomics, the first one static,
//!   later ones allocated by [`register`] when all slots are taken and never
//!   freed, so the handler can walk them at any moment.
//! - On a fault inside a registered range, the handler marks the slot lost
//!   and maps anonymous zero pages over the whole range (`mmap(MAP_FIXED |
//!   MAP_PRIVATE | MAP_ANONYMOUS)`), with the range's own protection. The
//!   faulting instruction then runs again and succeeds on the zero pages.
//! - Every safe call that touched the range checks [`Guard::lost`] after the
//!   access and returns [`Error::Truncated`](crate::Error::Truncated). Once
//!   lost, a range stays lost: later calls fail too, so a file that is
//!   regrown afterwards is never read through this mapping (it is no longer
//!   mapped to the file at all).
//!
//! The handler also records why the page was missing: if the file still
//! reaches the faulting page and its filesystem has less than a page free,
//! the kernel could not allocate a hole (a sparse segment in a full tmpfs)
//! and the calls report `NoSpace`; otherwise `Truncated`.
//!
//! What is not detected: a shrink that leaves the touched pages inside the
//! file (the last page's bytes past the new end read as zeros without a
//! fault), and a shrink and regrow that both happen between two accesses
//! (the pages are the file's again, zeros, and nothing faults), except by
//! a queue wait about to block, which checks the file's size and the
//! queue's magic number (`Region::check_intact`). Calls that
//! return a value rather than a `Result` cannot report; they return zeros
//! from a lost mapping.
//!
//! # In-place values
//! The sync types and atomics borrowed in place from a mapping hold only
//! `&self`, no handle to it. For them the handler also bumps a global count
//! of lost slots ([`lost_at`]): a sync call loads it after its access, and
//! only when it is not 0 searches the registry for its own address. The
//! segment names live beside the registry ([`name_at`]), written and read
//! outside the handler, so the error names the segment without the handler
//! allocating. `sync::check_mapped` exposes this to users; `SeqLock`
//! `read_checked`/`writer` return its error, and `Event`'s waits end on it
//! rather than sleep on a word that nobody can wake any more.
//!
//! What an access saw while its fault was repaired: a read returns zeros for
//! every byte the repair covered (and possibly the file's old bytes for the
//! part read before the fault); a write lands in the private zero pages and
//! never reaches the file or the peer. The call reports the error either
//! way, so neither result is used as data.
//!
//! # Other `SIGBUS` handlers
//! The handler that was installed before shmkit's is saved, and a fault
//! outside every registered range is passed on to it: its `sa_sigaction` or
//! `sa_handler` is called with the same arguments. If there was none (the
//! default action) or it was `SIG_IGN`, the default action is restored and
//! the handler returns, so the faulting instruction faults again and the
//! process ends with `SIGBUS` as it would have without shmkit. A program
//! that installs its own handler after the first segment is mapped replaces
//! shmkit's: it should pass on the faults it does not recognise to the
//! handler that `sigaction` returned as the old one, which is shmkit's.
//!
//! # Registry slots
//! | `state` (low 2 bits) | meaning | `start`, `len`, `prot` |
//! |---|---|---|
//! | `FREE` | no range | stale |
//! | `BUSY` | being filled by [`register`] | being written |
//! | `LIVE` | a mapped range | valid, fixed until `FREE` |
//!
//! The upper bits of `state` count how often the slot was freed: the handler
//! reads `state`, then the range, then `state` again, and trusts the range
//! only if both reads agree, so a slot reused meanwhile is not matched.
//! `lost` is set only while the slot is `LIVE` and cleared when it is freed.

use std::ptr;
use std::sync::atomic::{
    compiler_fence, AtomicBool, AtomicI32, AtomicPtr, AtomicU8, AtomicUsize, Ordering,
};
use std::sync::Once;

/// Slots per registry chunk.
pub(crate) const CHUNK: usize = 64;

const FREE: usize = 0;
const BUSY: usize = 1;
const LIVE: usize = 2;
const STATE_MASK: usize = 3;
/// What freeing adds to `state` besides clearing the low bits.
const GENERATION: usize = 4;

/// Why a range was lost (`Slot::lost`; 0 while it is not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lost {
    /// The file ended before the faulting page: a peer shrank it.
    Truncated = 1,
    /// The page lies inside the file, so the kernel could not allocate it:
    /// the filesystem is full (a hole of a sparse file, first touched).
    NoSpace = 2,
}

/// One registered range. See the module's table.
pub(crate) struct Slot {
    state: AtomicUsize,
    start: AtomicUsize,
    len: AtomicUsize,
    writable: AtomicBool,
    /// The mapped file, `fstat`ed by the handler to tell why a page is gone.
    fd: AtomicI32,
    /// 0, or a [`Lost`].
    lost: AtomicU8,
    /// The address of the segment's end marker (`segment::END_MARKER`),
    /// or 0 for a raw segment. Read by the slow paths of the in-place
    /// types, never by the handler.
    marker: AtomicUsize,
}

impl Slot {
    const fn new() -> Slot {
        Slot {
            state: AtomicUsize::new(FREE),
            start: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
            writable: AtomicBool::new(false),
            fd: AtomicI32::new(-1),
            lost: AtomicU8::new(0),
            marker: AtomicUsize::new(0),
        }
    }

    /// The range last registered in the slot: `(start, len)`.
    #[cfg_attr(not(feature = "fuzzing"), allow(dead_code))] // the fuzz model's
    pub(crate) fn range(&self) -> (usize, usize) {
        (
            self.start.load(Ordering::Relaxed),
            self.len.load(Ordering::Relaxed),
        )
    }

    /// The range, if the slot holds one that contains `addr`.
    fn matches(&self, addr: usize) -> bool {
        let s1 = self.state.load(Ordering::Acquire);
        if s1 & STATE_MASK != LIVE {
            return false;
        }
        let start = self.start.load(Ordering::Relaxed);
        let len = self.len.load(Ordering::Relaxed);
        let inside = addr.wrapping_sub(start) < len;
        // SYNC(slot): re-reading `state` after the range (an acquire fence
        // orders the relaxed loads before it) proves the range belonged to
        // the same registration.
        std::sync::atomic::fence(Ordering::Acquire);
        inside && self.state.load(Ordering::Relaxed) == s1
    }
}

/// A chunk of slots; `next` links to the chunk allocated after it.
pub(crate) struct Chunk {
    slots: [Slot; CHUNK],
    next: AtomicPtr<Chunk>,
}

impl Chunk {
    const fn new() -> Chunk {
        Chunk {
            slots: [const { Slot::new() }; CHUNK],
            next: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// This chunk and every chunk after it. Chunks are never freed, so the
    /// references are `'static`.
    fn iter(&'static self) -> impl Iterator<Item = &'static Chunk> {
        std::iter::successors(Some(self), |c| {
            let next = c.next.load(Ordering::Acquire);
            // SAFETY: a non-null `next` was made by `Box::leak` in
            // `Registry::register` and is never freed, so it is valid for
            // `'static`; it is only read through shared references.
            (!next.is_null()).then(|| unsafe { &*next })
        })
    }
}

/// A set of ranges that a signal handler may search at any moment.
pub(crate) struct Registry {
    first: Chunk,
}

impl Registry {
    /// An empty registry.
    pub(crate) const fn new() -> Registry {
        Registry {
            first: Chunk::new(),
        }
    }

    /// Adds `start..start + len`. Allocates a chunk if every slot is taken;
    /// never blocks.
    pub(crate) fn register(
        &'static self,
        start: usize,
        len: usize,
        writable: bool,
        fd: i32,
    ) -> &'static Slot {
        loop {
            for chunk in self.first.iter() {
                for slot in &chunk.slots {
                    let s = slot.state.load(Ordering::Relaxed);
                    if s & STATE_MASK != FREE
                        || slot
                            .state
                            .compare_exchange(s, s | BUSY, Ordering::Acquire, Ordering::Relaxed)
                            .is_err()
                    {
                        continue;
                    }
                    slot.start.store(start, Ordering::Relaxed);
                    slot.len.store(len, Ordering::Relaxed);
                    slot.writable.store(writable, Ordering::Relaxed);
                    slot.fd.store(fd, Ordering::Relaxed);
                    slot.lost.store(0, Ordering::Relaxed);
                    slot.marker.store(0, Ordering::Relaxed);
                    // SYNC(slot): publishes the range to the handler.
                    slot.state.store(s | LIVE, Ordering::Release);
                    return slot;
                }
            }
            // Every slot was taken: append a chunk to the last one (or
            // find that another thread did, and search again).
            let last = self.first.iter().last().unwrap_or(&self.first);
            let fresh = Box::into_raw(Box::new(Chunk::new()));
            if last
                .next
                .compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                // SAFETY: `fresh` came from `Box::into_raw` just above and was
                // never shared (the exchange failed).
                drop(unsafe { Box::from_raw(fresh) });
            }
        }
    }

    /// The slot whose range contains `addr`. Lock-free and allocation-free:
    /// callable from a signal handler.
    pub(crate) fn find(&'static self, addr: usize) -> Option<&'static Slot> {
        self.first
            .iter()
            .flat_map(|c| c.slots.iter())
            .find(|s| s.matches(addr))
    }
}

/// How many registered slots are lost right now, across every registry:
/// bumped by [`mark_lost`] (an atomic add, async-signal-safe) and lowered
/// when a lost slot is freed. While it is 0, which is the normal case,
/// [`lost_at`] answers with this one load and never walks the registry.
static LOST_SLOTS: AtomicUsize = AtomicUsize::new(0);

/// Removes a slot's range from its registry.
pub(crate) fn unregister(slot: &Slot) {
    let s = slot.state.load(Ordering::Relaxed);
    if slot.lost.swap(0, Ordering::Relaxed) != 0 {
        LOST_SLOTS.fetch_sub(1, Ordering::Relaxed);
    }
    slot.state.store(
        (s & !STATE_MASK).wrapping_add(GENERATION),
        Ordering::Release,
    );
}

/// Marks a slot lost (the handler's part, also used by tests). The first
/// cause found stays.
pub(crate) fn mark_lost(slot: &Slot, why: Lost) {
    if slot
        .lost
        .compare_exchange(0, why as u8, Ordering::AcqRel, Ordering::Relaxed)
        .is_ok()
    {
        // SYNC(lost): `lost_at` that sees the count sees the slot's `lost`.
        LOST_SLOTS.fetch_add(1, Ordering::Release);
    }
}

/// Whether the slot's range was lost.
#[inline]
pub(crate) fn is_lost(slot: &Slot) -> bool {
    // The handler runs on the faulting thread between the access and this
    // load: the compiler must not move the load above the access.
    compiler_fence(Ordering::SeqCst);
    slot.lost.load(Ordering::Acquire) != 0
}

/// Why the slot's range was lost, if it was.
pub(crate) fn lost_why(slot: &Slot) -> Option<Lost> {
    compiler_fence(Ordering::SeqCst);
    match slot.lost.load(Ordering::Acquire) {
        0 => None,
        2 => Some(Lost::NoSpace),
        _ => Some(Lost::Truncated),
    }
}

/// The registry of this process's mapped segments.
static RANGES: Registry = Registry::new();

/// Whether the mapped segment holding `addr` was lost, and why; `None` also
/// for an address outside every segment (a value on the heap or stack).
///
/// For the in-place sync types, which hold only `&self`: they call this
/// after touching their words. The fast path is one load of a count that is
/// 0 unless some mapping of this process was lost; only then is the
/// registry searched for `addr`.
#[inline]
pub(crate) fn lost_at(addr: usize) -> Option<Lost> {
    // The handler runs on the faulting thread between the access and this
    // load: the compiler must not move the load above the access.
    compiler_fence(Ordering::SeqCst);
    // SYNC(lost)
    if LOST_SLOTS.load(Ordering::Acquire) == 0 {
        return None;
    }
    lost_at_slow(addr)
}

#[cold]
fn lost_at_slow(addr: usize) -> Option<Lost> {
    RANGES.find(addr).and_then(lost_why)
}

/// The end marker's address of the mapping that holds `addr`, if it is a
/// registered one with a marker; with a function that marks that mapping
/// lost. The slot is found by address: a caller that borrows a value at
/// `addr` keeps its mapping (and so the slot's registration) alive.
pub(crate) fn marker_at(addr: usize) -> Option<(usize, impl Fn())> {
    let slot = RANGES.find(addr)?;
    let marker = slot.marker.load(Ordering::Relaxed);
    (marker != 0).then_some((marker, move || mark_lost(slot, Lost::Truncated)))
}

/// The name of the segment whose mapping holds `addr`, if it is one of
/// this process's. Kept beside the registry, on the side that may allocate
/// (the handler never reads it), keyed by each range's start.
/// Also returns the range's length.
pub(crate) fn name_at(addr: usize) -> Option<(String, usize)> {
    let slot = RANGES.find(addr)?;
    let (start, len) = (
        slot.start.load(Ordering::Relaxed),
        slot.len.load(Ordering::Relaxed),
    );
    NAMES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(s, _)| *s == start)
        .map(|(_, n)| (n.clone(), len))
}

/// `(range start, segment name)` of every registered mapping.
static NAMES: std::sync::Mutex<Vec<(usize, String)>> = std::sync::Mutex::new(Vec::new());

/// A registered mapping; [`Guard::release`] before unmapping it.
pub(crate) struct Guard {
    slot: &'static Slot,
}

impl Guard {
    /// Installs the handler (once per process) and registers the mapping at
    /// `start` of `len` bytes (whole pages are covered) of file `fd`, mapped
    /// from offset 0. `fd` must stay open until [`release`](Self::release).
    pub(crate) fn new(name: &str, start: *mut u8, len: usize, writable: bool, fd: i32) -> Guard {
        install();
        let page = page_size();
        let len = len.div_ceil(page) * page;
        NAMES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((start as usize, name.to_owned()));
        Guard {
            slot: RANGES.register(start as usize, len, writable, fd),
        }
    }

    /// Records where the mapping's end marker lies, for
    /// [`marker_at`].
    pub(crate) fn set_end_marker(&self, addr: usize) {
        self.slot.marker.store(addr, Ordering::Relaxed);
    }

    /// Marks the mapping lost by a truncation found without a fault.
    #[cold]
    pub(crate) fn mark_truncated(&self) {
        mark_lost(self.slot, Lost::Truncated);
    }

    /// Why the mapping was lost, if it was.
    #[cold]
    pub(crate) fn why(&self) -> Option<Lost> {
        lost_why(self.slot)
    }

    /// Whether a fault inside the mapping was repaired: its pages are
    /// private zeros, no longer the segment's.
    #[inline]
    pub(crate) fn lost(&self) -> bool {
        is_lost(self.slot)
    }

    /// Unregisters the mapping. Call before `munmap`, so that the handler
    /// never maps over a range that may already belong to someone else.
    pub(crate) fn release(&self) {
        let start = self.slot.start.load(Ordering::Relaxed);
        unregister(self.slot);
        let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = names.iter().position(|(s, _)| *s == start) {
            names.swap_remove(i);
        }
    }
}

/// The page size, read once outside the handler (`sysconf` is not
/// async-signal-safe) and then only loaded.
static PAGE: AtomicUsize = AtomicUsize::new(0);

fn page_size() -> usize {
    match PAGE.load(Ordering::Relaxed) {
        0 => {
            // SAFETY: `sysconf` has no memory-safety preconditions.
            let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            let p = usize::try_from(p).ok().filter(|&p| p > 0).unwrap_or(4096);
            PAGE.store(p, Ordering::Relaxed);
            p
        }
        p => p,
    }
}

/// The `SIGBUS` action that was installed before shmkit's. Written once,
/// before the handler is installed, and only read afterwards.
struct Previous(std::cell::UnsafeCell<std::mem::MaybeUninit<libc::sigaction>>);

// SAFETY: written only inside `INSTALL.call_once`, before the handler that
// reads it is installed; read-only from then on.
unsafe impl Sync for Previous {}

static PREVIOUS: Previous = Previous(std::cell::UnsafeCell::new(std::mem::MaybeUninit::zeroed()));
static INSTALL: Once = Once::new();

/// `sigaction(SIGBUS)`, once per process, saving the previous action.
fn install() {
    INSTALL.call_once(|| {
        // SAFETY:
        // - `zeroed` is a valid `sigaction` (no handler, empty mask);
        // - `sigemptyset` gets a valid pointer to the mask;
        // - `sigaction` gets valid pointers: the new action on the stack and
        //   `PREVIOUS`, which the kernel fills in the same call that installs
        //   the handler, so the handler (its only reader) never sees it
        //   unwritten; `call_once` makes this the only write.
        // A failure (impossible for `SIGBUS` with valid pointers) leaves
        // the mappings unguarded, as they were without shmkit's handler.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let old = (*PREVIOUS.0.get()).as_mut_ptr();
            libc::sigaction(libc::SIGBUS, &action, old);
        }
    });
}

/// The `SIGBUS` handler. Async-signal-safe: it reads atomics, calls `mmap`
/// and `sigaction` (system calls), and calls the previous handler.
extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid `siginfo_t` to an `SA_SIGINFO`
    // handler; `si_addr` reads the union's first word, which is the
    // faulting address when `si_code > 0` and is not used otherwise.
    let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
    // Only a fault the kernel raised (`si_code > 0`, e.g. `BUS_ADRERR`)
    // carries an address; a `SIGBUS` sent with `kill` or `sigqueue` is
    // passed on untouched.
    if let Some(slot) = (code > 0).then(|| RANGES.find(addr)).flatten() {
        let start = slot.start.load(Ordering::Relaxed);
        mark_lost(slot, cause(slot, addr - start));
        let len = slot.len.load(Ordering::Relaxed);
        let prot = if slot.writable.load(Ordering::Relaxed) {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        // SAFETY:
        // - `start..start + len` is a live mapping of this process that
        //   shmkit owns (registered, not yet released: the faulting access
        //   runs under a borrow of its `Mapping`), so replacing its pages
        //   invalidates no other object;
        // - no Rust reference into it is used as stable data: every safe
        //   access copies with atomics and checks `lost` afterwards.
        let r = unsafe {
            libc::mmap(
                start as *mut libc::c_void,
                len,
                prot,
                libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANON,
                -1,
                0,
            )
        };
        if r != libc::MAP_FAILED {
            return;
        }
        // Out of memory even for zero pages: nothing can be repaired, so
        // the fault goes on as if shmkit were not there.
    }
    chain(sig, info, ctx);
}

/// Why the page at `offset` of a slot's file faulted. `NoSpace` only if
/// the file still reaches the page *and* its filesystem has less than a
/// page free (`fstat`, `fstatvfs`: system calls, safe in a handler); a file
/// that a peer shrank and grew back meanwhile reaches the page again, but
/// its filesystem is seldom full at that moment, so it reads as the
/// truncation it was.
fn cause(slot: &Slot, offset: usize) -> Lost {
    let fd = slot.fd.load(Ordering::Relaxed);
    // SAFETY: `st` and `vfs` are valid places for the calls to write; `fd`
    // is the mapping's own descriptor, open while the mapping is registered
    // (a bad descriptor would only make the calls fail).
    let (size, free) = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        let mut vfs: libc::statvfs = std::mem::zeroed();
        let size = (libc::fstat(fd, &mut st) == 0).then_some(st.st_size);
        let free = (libc::fstatvfs(fd, &mut vfs) == 0)
            .then(|| (vfs.f_bavail as u64).saturating_mul(vfs.f_frsize as u64));
        (size, free)
    };
    let covered = size.is_some_and(|s| u64::try_from(s).unwrap_or(0) > offset as u64);
    // `PAGE` was set by `Guard::new` before any range was registered.
    let full = free.is_some_and(|f| f < PAGE.load(Ordering::Relaxed) as u64);
    if covered && full {
        Lost::NoSpace
    } else {
        Lost::Truncated
    }
}

/// Passes a fault on to the action that was there before shmkit's.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the handler runs only after `install` wrote `PREVIOUS` (it is
    // installed by the same `sigaction` call), which is never written again.
    let prev = unsafe { (*PREVIOUS.0.get()).assume_init_ref() };
    let h = prev.sa_sigaction;
    // SAFETY: `info` is the kernel's valid `siginfo_t` (see `handler`).
    let sent = unsafe { (*info).si_code } <= 0;
    if h == libc::SIG_IGN && sent {
        // A `SIGBUS` sent with `kill` to a process that ignores it: ignored.
    } else if h == libc::SIG_DFL || h == libc::SIG_IGN {
        // SAFETY: a zeroed `sigaction` with `SIG_DFL` (0) is valid; `raise`
        // is async-signal-safe. A fault repeats when the instruction runs
        // again, a sent signal is raised again (it stays pending while this
        // handler runs); either now ends the process with `SIGBUS`, as it
        // would have without shmkit.
        unsafe {
            let mut dfl: libc::sigaction = std::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &dfl, ptr::null_mut());
            if sent {
                libc::raise(sig);
            }
        }
    } else if prev.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous action was installed with `SA_SIGINFO`, so `h`
        // is a handler of this signature, called as the kernel would.
        unsafe {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(h);
            f(sig, info, ctx);
        }
    } else {
        // SAFETY: without `SA_SIGINFO`, `h` is a one-argument handler.
        unsafe {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(h);
            f(sig);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fuzz target's model check on pseudo-random inputs.
    #[cfg(feature = "fuzzing")]
    #[test]
    fn registry_agrees_with_its_model_on_random_ops() {
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..50 {
            let data: Vec<u8> = (0..9 * 400)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Small addresses and lengths, so that lookups hit.
                    (x % 7) as u8
                })
                .collect();
            crate::__fuzz::guard_registry(&data);
        }
    }

    #[test]
    fn registry_finds_only_live_ranges_and_grows_past_a_chunk() {
        static R: Registry = Registry::new();
        let slots: Vec<_> = (0..CHUNK * 2 + 3)
            .map(|i| R.register(0x10_0000 * (i + 1), 0x1000, true, -1))
            .collect();
        for (i, s) in slots.iter().enumerate() {
            let base = 0x10_0000 * (i + 1);
            assert!(std::ptr::eq(R.find(base).unwrap(), *s));
            assert!(std::ptr::eq(R.find(base + 0xfff).unwrap(), *s));
            assert!(R.find(base + 0x1000).is_none());
        }
        unregister(slots[5]);
        assert!(R.find(0x10_0000 * 6).is_none());
        let again = R.register(0x7000_0000, 0x2000, false, -1);
        assert!(std::ptr::eq(again, slots[5]), "a freed slot is reused");
        assert!(!is_lost(again));
        mark_lost(again, Lost::NoSpace);
        mark_lost(again, Lost::Truncated);
        assert!(is_lost(again));
        assert_eq!(
            lost_why(again),
            Some(Lost::NoSpace),
            "the first cause stays"
        );
        unregister(again);
        assert!(!is_lost(R.register(0x7100_0000, 0x1000, false, -1)));
    }
}
