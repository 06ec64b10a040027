//! FreeBSD: `_umtx_op` waits that work across processes, and owners
//! recorded as pid plus process start time.
//!
//! **Compile-checked only.** CI builds this module with clippy for
//! `x86_64-unknown-freebsd` (`ci/targets.sh`), but no test has run it on
//! FreeBSD. The owner logic it shares with macOS (`wait_bsd.rs`) is
//! unit-tested on Linux.
//!
//! # Waiting
//! `_umtx_op(addr, UMTX_OP_WAIT_UINT, expected, size, &_umtx_time)` and
//! `_umtx_op(addr, UMTX_OP_WAKE, n, ..)`, never their `_PRIVATE` variants:
//! those key the sleep queue by the address space, so a waiter in another
//! process would not be woken, whereas these pick the process-shared queue
//! when the word lies in a shared mapping (`_umtx_op(2)`). A timeout is
//! passed as a `struct _umtx_time` (relative, `CLOCK_MONOTONIC`), with its
//! size in `uaddr`. A 64-bit lock word is waited on through its low half,
//! which holds the owner id and the flag bits.
//!
//! # Owners
//! `pid | thread serial << 17 | start tag << 32` (see `wait_bsd.rs`), where
//! the start tag is the low 32 bits of the process's start time, in
//! microseconds since boot, from `sysctl kern.proc.pid.<pid>`. The kernel
//! reports `ki_start` as that time since boot *plus the current boot time*
//! (`kern.boottime`), and the boot time moves whenever the wall clock is
//! set; so the query subtracts `kern.boottime`, read before and after (and
//! retried if it moved), to get a value that never changes. A pid the
//! sysctl cannot find (`ESRCH`) or a zombie (`ki_stat == SZOMB`) is dead;
//! anything unclear is `Unknown`, which callers treat as alive. Since
//! FreeBSD also answers `ESRCH` for processes it hides (another user's with
//! `security.bsd.see_other_uids=0`, or outside our jail), a missing pid
//! counts as dead only when no such hiding is configured; otherwise a dead
//! owner in another process is not detected.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::time::Duration;

use super::wait_bsd::{self, Process};
use super::Liveness;

/// `_umtx_op(UMTX_OP_WAIT_UINT)` on `word`: sleeps while
/// `*word == expected`, until woken, for at most `timeout`. Returns early on
/// a spurious wake-up or a signal; callers re-check in a loop.
#[doc(alias = "_umtx_op")]
#[doc(alias = "UMTX_OP_WAIT_UINT")]
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    if timeout == Some(Duration::ZERO) {
        return;
    }
    let mut time = timeout.map(|t| libc::_umtx_time {
        _timeout: libc::timespec {
            tv_sec: t.as_secs().try_into().unwrap_or(libc::time_t::MAX),
            tv_nsec: t.subsec_nanos().into(),
        },
        // Relative, not UMTX_ABSTIME.
        _flags: 0,
        _clockid: libc::CLOCK_MONOTONIC as u32,
    });
    let (size, time_ptr) = match &mut time {
        Some(t) => (
            std::mem::size_of::<libc::_umtx_time>(),
            std::ptr::from_mut(t).cast::<c_void>(),
        ),
        None => (0, std::ptr::null_mut()),
    };
    // SAFETY:
    // - `word` is a live, 4-aligned `u32` that the kernel only reads,
    //   atomically, during the call, as `UMTX_OP_WAIT_UINT` requires;
    // - `uaddr` carries the size of the `_umtx_time` that `uaddr2` points
    //   to (a live local), or both are null for no timeout.
    // EINTR, ETIMEDOUT and a changed word all mean "look again".
    let _ = unsafe {
        libc::_umtx_op(
            word.as_ptr().cast(),
            libc::UMTX_OP_WAIT_UINT,
            expected.into(),
            size as *mut c_void,
            time_ptr,
        )
    };
}

/// `_umtx_op(UMTX_OP_WAKE)` on `word`: wakes at most `n` waiters.
#[doc(alias = "UMTX_OP_WAKE")]
pub(crate) fn wake(word: &AtomicU32, n: u32) {
    // SAFETY: `word` is a live, 4-aligned `u32`; `UMTX_OP_WAKE` uses its
    // address only to find waiters and takes no other pointer.
    let _ = unsafe {
        libc::_umtx_op(
            word.as_ptr().cast(),
            libc::UMTX_OP_WAKE,
            n.into(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
}

/// [`wait`] on the low 32 bits of a 64-bit lock word.
pub(crate) fn wait_low(word: &AtomicU64, expected_low: u32, timeout: Option<Duration>) {
    wait(wait_bsd::low_half(word), expected_low, timeout);
}

/// [`wake`] on the low 32 bits of a 64-bit lock word.
pub(crate) fn wake_low(word: &AtomicU64, n: u32) {
    wake(wait_bsd::low_half(word), n);
}

/// `sysctl` of `mib` into `out`: `Ok(bytes written)` or the `errno`.
fn sysctl<T>(mib: &[c_int], out: &mut T) -> Result<usize, i32> {
    let mut len = std::mem::size_of::<T>();
    // SAFETY:
    // - `mib` is a live array of `mib.len()` ints;
    // - `out` is a live, writable `T` of `len` bytes, and `len` a live
    //   `size_t` the kernel updates; the kernel writes at most `len` bytes;
    // - nothing is written to the MIB (null new value, length 0).
    let r = unsafe {
        libc::sysctl(
            mib.as_ptr(),
            mib.len() as u32,
            std::ptr::from_mut(out).cast(),
            &mut len,
            std::ptr::null(),
            0,
        )
    };
    if r == 0 {
        Ok(len)
    } else {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}

/// `kern.boottime` in microseconds since 1970.
fn boot_time() -> Option<i64> {
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let n = sysctl(&[libc::CTL_KERN, libc::KERN_BOOTTIME], &mut tv).ok()?;
    (n == std::mem::size_of::<libc::timeval>()).then(|| micros(&tv))
}

// `time_t` and `suseconds_t` are `i64` on 64-bit targets but `i32` on i386.
#[allow(clippy::unnecessary_cast)]
fn micros(tv: &libc::timeval) -> i64 {
    (tv.tv_sec as i64)
        .saturating_mul(1_000_000)
        .saturating_add(tv.tv_usec as i64)
}

/// `sysctlbyname(name)` as an int, if it exists.
fn int_sysctl(name: &std::ffi::CStr) -> Option<c_int> {
    let mut v: c_int = 0;
    let mut len = std::mem::size_of::<c_int>();
    // SAFETY:
    // - `name` is NUL-terminated and outlives the call;
    // - `v` is a live, writable int of `len` bytes, `len` a live `size_t`;
    // - nothing is written (null new value, length 0).
    let r = unsafe {
        libc::sysctlbyname(
            name.as_ptr(),
            std::ptr::from_mut(&mut v).cast(),
            &mut len,
            std::ptr::null(),
            0,
        )
    };
    (r == 0 && len == std::mem::size_of::<c_int>()).then_some(v)
}

/// Whether "no such process" (`ESRCH`) from `kern.proc.pid` proves that
/// the pid is free. FreeBSD answers `ESRCH` too for a process it hides
/// from us: another user's with `security.bsd.see_other_uids=0` (or gids),
/// one hidden by the `mac_seeotheruids` policy, or one outside our jail.
/// When any of those may apply, a missing process is `Unknown` instead.
fn missing_is_gone() -> bool {
    static PROOF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PROOF.get_or_init(|| {
        int_sysctl(c"security.bsd.see_other_uids") == Some(1)
            && int_sysctl(c"security.bsd.see_other_gids") == Some(1)
            && int_sysctl(c"security.jail.jailed") == Some(0)
            && int_sysctl(c"security.mac.seeotheruids.enabled").is_none_or(|on| on == 0)
    })
}

/// What `sysctl kern.proc.pid.<pid>` says about `pid`; the start time is in
/// microseconds since boot (`ki_start` minus `kern.boottime`).
#[doc(alias = "kern.proc.pid")]
fn query(pid: u32) -> Process {
    let Ok(pid) = c_int::try_from(pid) else {
        return Process::Unknown;
    };
    let mib = [libc::CTL_KERN, libc::KERN_PROC, libc::KERN_PROC_PID, pid];
    // The boot time moves if the clock is set between our two reads: retry.
    for _ in 0..3 {
        let Some(boot) = boot_time() else {
            return Process::Unknown;
        };
        // SAFETY: `kinfo_proc` is plain integers, arrays and raw pointers,
        // for which all zeros is a valid value.
        let mut kp: libc::kinfo_proc = unsafe { std::mem::zeroed() };
        match sysctl(&mib, &mut kp) {
            Err(libc::ESRCH) | Ok(0) if missing_is_gone() => return Process::Gone,
            Ok(n) if n == std::mem::size_of::<libc::kinfo_proc>() => {}
            _ => return Process::Unknown,
        }
        if kp.ki_stat == libc::SZOMB {
            return Process::Zombie;
        }
        if boot_time() != Some(boot) {
            continue;
        }
        let start = micros(&kp.ki_start);
        // An unset `ki_start` (older kernels leave it zero for a swapped-out
        // process) proves nothing.
        if start == 0 || start < boot {
            return Process::Unknown;
        }
        return Process::Running {
            start: (start - boot) as u64,
        };
    }
    Process::Unknown
}

/// This thread's owner word, `pid | serial << 17 | start tag << 32`: made
/// once per thread (`sysctl kern.proc.pid` on our own pid, once per process).
#[inline]
pub(crate) fn current_owner() -> u64 {
    wait_bsd::current_owner(query)
}

/// Whether the thread recorded as `owner` still runs: for another process,
/// `sysctl kern.proc.pid.<pid>`, whose start time must match the tag.
#[cold]
pub(crate) fn owner_state(owner: u64) -> Liveness {
    wait_bsd::owner_state(owner, query)
}

pub(crate) use wait_bsd::WAIT_ANY_MAX;

/// Sleeps while every `*word == expected`, for at most `timeout`: see
/// [`wait_bsd::wait_any`] (this OS has no wait on several words).
#[cfg(not(loom))]
pub(crate) fn wait_any(words: &[(&AtomicU32, u32)], timeout: Duration) {
    wait_bsd::wait_any(words, timeout, wait);
}
