//! Linux: shared futexes (`futex(FUTEX_WAIT)`, `futex(FUTEX_WAKE)`, without
//! `FUTEX_PRIVATE_FLAG`) and owner identities that survive TID reuse.
//!
//! # Futexes
//! Every operation here passes `Flags::empty()`, never `Flags::PRIVATE`: a
//! private futex is keyed by the waiter's address space, so a waiter in
//! another process would never be woken. A shared futex is keyed by the
//! page's backing object and offset, which the processes mapping a segment
//! have in common.
//!
//! # Owner identity
//! An owner is a thread, recorded as `tid | tag << 32` (see [`Owner`] in the
//! parent module): the TID from `gettid`, and as tag the low 32 bits of the
//! thread's start time (field 22 of `/proc/<tid>/task/<tid>/stat`, in clock
//! ticks since boot). A TID alone would be unsafe: after the owner dies its
//! TID can be given to a new, unrelated thread, which would then look like a
//! live owner (deadlock) — or worse, a dead owner's successor could be taken
//! for it. A TID is reused for a thread with the same start time only if the
//! whole TID space wraps within one clock tick (10 ms at the usual 100 Hz),
//! which the kernel's sequential TID allocation makes practically impossible.
//!
//! [`Owner`]: super::Owner

use std::sync::atomic::{AtomicU32, AtomicU64};
use std::time::Duration;

use rustix::io::Errno;
use rustix::thread::futex;

use super::{Liveness, TID_MASK};

/// `futex(FUTEX_WAIT)` on `word` (shared): sleeps while `*word == expected`,
/// until woken, for at most `timeout`. Returns early on a spurious wake-up or
/// a signal; callers re-check their condition in a loop.
#[doc(alias = "FUTEX_WAIT")]
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let ts = timeout.map(|d| futex::Timespec {
        tv_sec: d.as_secs().try_into().unwrap_or(i64::MAX),
        tv_nsec: d.subsec_nanos().into(),
    });
    // EAGAIN (the word changed), ETIMEDOUT and EINTR all mean "look again".
    let _ = futex::wait(word, futex::Flags::empty(), expected, ts.as_ref());
}

/// `futex(FUTEX_WAKE)` on `word` (shared): wakes at most `n` waiters.
#[doc(alias = "FUTEX_WAKE")]
pub(crate) fn wake(word: &AtomicU32, n: u32) {
    let _ = futex::wake(word, futex::Flags::empty(), n);
}

/// The most words one `futex_waitv` call takes (the kernel's
/// `FUTEX_WAITV_MAX`).
pub(crate) const WAIT_ANY_MAX: usize = 128;

/// One entry of `futex_waitv`'s array (`struct futex_waitv` in
/// `<linux/futex.h>`).
#[repr(C)]
struct FutexWaitv {
    val: u64,
    uaddr: u64,
    flags: u32,
    reserved: u32,
}

/// `FUTEX2_SIZE_U32`: a 32-bit futex word. Not `FUTEX2_PRIVATE`: the words
/// are shared with other processes.
const FUTEX2_SIZE_U32: u32 = 0x02;

/// Whether the kernel has `futex_waitv` (Linux 5.16+): cleared on `ENOSYS`.
static HAVE_WAITV: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// How long one sleep of [`wait_any`] lasts at most when it cannot watch
/// every word (more than [`WAIT_ANY_MAX`], or a kernel without
/// `futex_waitv`): a change to an unwatched word is seen within this.
const UNWATCHED_SLICE: Duration = Duration::from_millis(1);

/// `futex_waitv` (syscall 449, Linux 5.16+) on up to [`WAIT_ANY_MAX`] shared
/// words: sleeps while every `*word == expected`, until one is woken, for
/// at most `timeout`. Returns early on a spurious wake-up, a signal, or a
/// word that already differs; callers re-check their conditions in a loop.
///
/// Fallbacks, each bounding the sleep to [`UNWATCHED_SLICE`] (1 ms):
/// - more than 128 words: the first 128 are watched (callers rotate the
///   order between calls, so that each word is watched in turn);
/// - a kernel without `futex_waitv` (`ENOSYS`, remembered): a plain shared
///   `FUTEX_WAIT` on the first word only.
#[doc(alias = "futex_waitv")]
pub(crate) fn wait_any(words: &[(&AtomicU32, u32)], timeout: Duration) {
    let Some(&(first, expected)) = words.first() else {
        std::thread::sleep(timeout);
        return;
    };
    if words.len() == 1 {
        return wait(first, expected, Some(timeout));
    }
    if !HAVE_WAITV.load(std::sync::atomic::Ordering::Relaxed) {
        return wait(first, expected, Some(timeout.min(UNWATCHED_SLICE)));
    }
    let n = words.len().min(WAIT_ANY_MAX);
    let timeout = if words.len() > n {
        timeout.min(UNWATCHED_SLICE)
    } else {
        timeout
    };
    let list: Vec<FutexWaitv> = words[..n]
        .iter()
        .map(|&(word, expected)| FutexWaitv {
            val: u64::from(expected),
            uaddr: word.as_ptr() as u64,
            flags: FUTEX2_SIZE_U32,
            reserved: 0,
        })
        .collect();
    // futex_waitv takes an absolute deadline on the clock it is given.
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable `timespec` for the call's duration;
    // CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    let nanos = (now.tv_nsec as u64).saturating_add(u64::from(timeout.subsec_nanos()));
    let deadline = libc::timespec {
        tv_sec: now
            .tv_sec
            .saturating_add(timeout.as_secs().min(i64::MAX as u64 / 2) as libc::time_t)
            .saturating_add((nanos / 1_000_000_000) as libc::time_t),
        tv_nsec: (nanos % 1_000_000_000) as libc::c_long,
    };
    // SAFETY:
    // - `list` holds `n` initialised `struct futex_waitv` entries (the
    //   `repr(C)` layout of `<linux/futex.h>`), alive until the call
    //   returns; the kernel only reads it;
    // - each `uaddr` is the address of a live, 4-aligned `AtomicU32`,
    //   borrowed for the whole call; the kernel reads each word with its
    //   own atomic load and writes none;
    // - `deadline` is a valid `timespec` on `CLOCK_MONOTONIC`, alive for
    //   the call; flags 0 is the only defined value.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex_waitv,
            list.as_ptr(),
            n as libc::c_uint,
            0 as libc::c_uint,
            &deadline as *const libc::timespec,
            libc::CLOCK_MONOTONIC,
        )
    };
    if r < 0 && Errno::from_io_error(&std::io::Error::last_os_error()) == Some(Errno::NOSYS) {
        HAVE_WAITV.store(false, std::sync::atomic::Ordering::Relaxed);
        wait(first, expected, Some(timeout.min(UNWATCHED_SLICE)));
    }
    // Otherwise: the index of a woken word, or EAGAIN (a word differed),
    // ETIMEDOUT or EINTR: all mean "look again".
}

/// Forgets that `futex_waitv` works, so that tests can run the fallback.
#[cfg(test)]
pub(crate) fn disable_waitv_for_tests() {
    HAVE_WAITV.store(false, std::sync::atomic::Ordering::Relaxed);
}

/// The 32-bit half of `word` that holds its low bits (the TID and flag bits
/// of a lock word), as the futex word the kernel compares and hashes.
fn low_half(word: &AtomicU64) -> &AtomicU32 {
    let offset = if cfg!(target_endian = "little") { 0 } else { 4 };
    // SAFETY:
    // - the pointer is `word`'s address plus 0 or 4, inside its 8 bytes, and
    //   4-aligned since `word` is 8-aligned;
    // - the bytes are initialised and live as long as `&word`;
    // - the `&AtomicU32` is only handed to `futex(2)`: the kernel reads the
    //   word with its own 32-bit atomic load, outside the Rust memory model,
    //   exactly as it would for a waiter in another process. No Rust code
    //   makes a 32-bit access through it, so there is no mixed-size access.
    unsafe { AtomicU32::from_ptr(word.as_ptr().cast::<u8>().add(offset).cast::<u32>()) }
}

/// [`wait`] on the low 32 bits of a 64-bit lock word.
pub(crate) fn wait_low(word: &AtomicU64, expected_low: u32, timeout: Option<Duration>) {
    wait(low_half(word), expected_low, timeout);
}

/// [`wake`] on the low 32 bits of a 64-bit lock word.
pub(crate) fn wake_low(word: &AtomicU64, n: u32) {
    wake(low_half(word), n);
}

/// This thread's owner identity, `tid | start_time_tag << 32`: `gettid` and
/// one read of `/proc/self/task/<tid>/stat`, made once per thread and cached.
///
/// After a `fork` without `exec`, the child's threads inherit the cache of
/// the forking thread: such a child must not use the sync types.
#[inline]
pub(crate) fn current_owner() -> u64 {
    std::thread_local! {
        static OWNER: u64 = compute_owner();
    }
    OWNER.with(|o| *o)
}

#[cold]
fn compute_owner() -> u64 {
    let tid = rustix::thread::gettid().as_raw_nonzero().get() as u64;
    debug_assert!(tid <= TID_MASK, "Linux TIDs fit in 22 bits");
    // Without /proc the tag is 0, and `owner_state` answers `Unknown`.
    let tag = stat(tid).map_or(0, |(_, start)| start as u32);
    tid | u64::from(tag) << 32
}

/// `(state, start time)` of thread `tid`, from `/proc/<tid>/task/<tid>/stat`.
fn stat(tid: u64) -> std::io::Result<(u8, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{tid}/task/{tid}/stat"))?;
    // The command name (field 2) is in parentheses and may itself contain
    // spaces and parentheses: the fields we want follow the last ')'.
    let bad = || std::io::Error::other("unexpected /proc stat format");
    let rest = &text[text.rfind(')').ok_or_else(bad)? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next().ok_or_else(bad)?.as_bytes()[0];
    // Field 3 is the state; the start time is field 22, 19 fields later.
    let start = fields.nth(18).ok_or_else(bad)?.parse().map_err(|_| bad())?;
    Ok((state, start))
}

/// Whether the thread recorded as `owner` still runs: `kill(tid, 0)` and a
/// read of `/proc/<tid>/task/<tid>/stat`, whose start time must match the tag.
///
/// `Dead` only on proof: the TID is free (`ESRCH`), or it is a zombie, or it
/// belongs to a thread that started at another time. Anything unclear (no
/// /proc, a /proc mounted with `hidepid`) is `Unknown`, which callers treat
/// as alive.
#[cold]
pub(crate) fn owner_state(owner: u64) -> Liveness {
    let tid = owner & TID_MASK;
    let tag = (owner >> 32) as u32;
    if tid == 0 {
        return Liveness::Unknown;
    }
    match stat(tid) {
        Ok((b'Z' | b'X' | b'x', _)) => Liveness::Dead,
        Ok((_, start)) if tag != 0 && start as u32 != tag => Liveness::Dead,
        Ok(_) => Liveness::Alive,
        Err(_) => {
            let Some(pid) = rustix::process::Pid::from_raw(tid as i32) else {
                return Liveness::Unknown;
            };
            match rustix::process::test_kill_process(pid) {
                Err(Errno::SRCH) => Liveness::Dead,
                _ => Liveness::Unknown,
            }
        }
    }
}
