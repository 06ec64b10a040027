//! macOS: waits that work across processes, and owners recorded as pid plus
//! process start time.
//!
//! **Compile-checked only.** CI builds this module with clippy for
//! `aarch64-apple-darwin` and `x86_64-apple-darwin` (`ci/targets.sh`), but
//! no test has run it on a Mac. The owner logic it shares with FreeBSD
//! (`wait_bsd.rs`) is unit-tested on Linux.
//!
//! # Waiting
//! macOS has no futex. The first of these that the running system has is
//! chosen once, looked up with `dlsym` so that one binary runs everywhere:
//!
//! 1. `os_sync_wait_on_address_with_timeout` / `os_sync_wait_on_address`
//!    with `OS_SYNC_WAIT_ON_ADDRESS_SHARED`, and
//!    `os_sync_wake_by_address_any` / `_all` with
//!    `OS_SYNC_WAKE_BY_ADDRESS_SHARED` (libSystem, public, macOS 14.4 and
//!    later; `<os/os_sync_wait_on_address.h>`). The `SHARED` flags key the
//!    wait by the memory object rather than the address space, so a waiter
//!    in another process is woken; the header asks for the same flag and
//!    address on both sides, which is what we pass. A primitive in private
//!    memory (`Mutex::new`) gets the `SHARED` flags too, since the word
//!    cannot tell where it lives: the header calls the unshared flag an
//!    optimisation for that case, not a requirement. The timeout is
//!    relative, in nanoseconds of `OS_CLOCK_MACH_ABSOLUTE_TIME`.
//! 2. `__ulock_wait` / `__ulock_wake` with `UL_COMPARE_AND_WAIT_SHARED` (3),
//!    the kernel calls beneath (1): private, but present since macOS 10.12
//!    and relied on by LLVM's libc++ and by Go's runtime. Declared from
//!    xnu's `bsd/sys/ulock.h`: `__ulock_wait(op, addr, value, timeout_us)`
//!    where a timeout of 0 means none, `__ulock_wake(op, addr, 0)`, and the
//!    flags `ULF_WAKE_ALL` (`0x100`) and `ULF_NO_ERRNO` (`0x0100_0000`).
//! 3. Polling the word, as `wait_bsd::poll` does (a wake-up may then take
//!    about a millisecond).
//!
//! All three compare 32-bit words; a 64-bit lock word is waited on through
//! its low half, which holds the owner id and the flag bits.
//!
//! # Owners
//! `pid | thread serial << 17 | start tag << 32` (see `wait_bsd.rs`), where
//! the start tag is the low 32 bits of the process's start time in
//! microseconds since 1970, from `proc_pidinfo(pid, PROC_PIDTBSDINFO)`
//! (`pbi_start_tvsec`, `pbi_start_tvusec`). The kernel stamps it once when
//! the process is made, so setting the clock later does not change it. A
//! pid that neither `proc_pidinfo` nor `kill(pid, 0)` can find (`ESRCH`),
//! or a zombie (`pbi_status == SZOMB`), is dead; one the OS will not
//! describe (`EPERM`, e.g. from a sandbox) is `Unknown`, which callers
//! treat as alive.

use std::ffi::{c_int, c_void, CStr};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use super::wait_bsd::{self, Process};
use super::Liveness;

type OsSyncWait = unsafe extern "C" fn(*mut c_void, u64, usize, u32) -> c_int;
type OsSyncWaitTimeout = unsafe extern "C" fn(*mut c_void, u64, usize, u32, u32, u64) -> c_int;
type OsSyncWake = unsafe extern "C" fn(*mut c_void, usize, u32) -> c_int;
type UlockWait = unsafe extern "C" fn(u32, *mut c_void, u64, u32) -> c_int;
type UlockWake = unsafe extern "C" fn(u32, *mut c_void, u64) -> c_int;

/// `UL_COMPARE_AND_WAIT_SHARED` from xnu's `bsd/sys/ulock.h`.
const UL_COMPARE_AND_WAIT_SHARED: u32 = 3;
/// `ULF_WAKE_ALL`: wake every waiter, not one.
const ULF_WAKE_ALL: u32 = 0x0000_0100;
/// `ULF_NO_ERRNO`: return `-errno` instead of setting `errno`.
const ULF_NO_ERRNO: u32 = 0x0100_0000;

/// The wait and wake calls this system has, best first.
#[derive(Clone, Copy)]
enum Calls {
    OsSync {
        wait: OsSyncWait,
        wait_timeout: OsSyncWaitTimeout,
        wake_any: OsSyncWake,
        wake_all: OsSyncWake,
    },
    Ulock {
        wait: UlockWait,
        wake: UlockWake,
    },
    Poll,
}

/// The calls to use, looked up once with `dlsym(RTLD_DEFAULT, ..)`.
fn calls() -> Calls {
    static CALLS: OnceLock<Calls> = OnceLock::new();
    *CALLS.get_or_init(|| {
        let find = |name: &CStr| {
            // SAFETY: `RTLD_DEFAULT` is a valid pseudo-handle and `name` a
            // NUL-terminated string that outlives the call.
            let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
            (!p.is_null()).then_some(p)
        };
        if let (Some(wait), Some(wait_timeout), Some(wake_any), Some(wake_all)) = (
            find(c"os_sync_wait_on_address"),
            find(c"os_sync_wait_on_address_with_timeout"),
            find(c"os_sync_wake_by_address_any"),
            find(c"os_sync_wake_by_address_all"),
        ) {
            // SAFETY: each pointer is the address of the libSystem function
            // of that name, whose C signature (from
            // `<os/os_sync_wait_on_address.h>`) is the one transmuted to:
            // - `os_sync_wait_on_address(void *addr, uint64_t value,
            //   size_t size, os_sync_wait_on_address_flags_t flags) -> int`;
            // - `..._with_timeout(.., os_clockid_t clockid,
            //   uint64_t timeout_ns) -> int`, the flags and clock id being
            //   `uint32_t`;
            // - `os_sync_wake_by_address_any/all(void *addr, size_t size,
            //   os_sync_wake_by_address_flags_t flags) -> int`.
            return unsafe {
                Calls::OsSync {
                    wait: std::mem::transmute::<*mut c_void, OsSyncWait>(wait),
                    wait_timeout: std::mem::transmute::<*mut c_void, OsSyncWaitTimeout>(
                        wait_timeout,
                    ),
                    wake_any: std::mem::transmute::<*mut c_void, OsSyncWake>(wake_any),
                    wake_all: std::mem::transmute::<*mut c_void, OsSyncWake>(wake_all),
                }
            };
        }
        if let (Some(wait), Some(wake)) = (find(c"__ulock_wait"), find(c"__ulock_wake")) {
            // SAFETY: the pointers are libSystem's `__ulock_wait(uint32_t
            // operation, void *addr, uint64_t value, uint32_t timeout_us) ->
            // int` and `__ulock_wake(uint32_t operation, void *addr,
            // uint64_t wake_value) -> int` (xnu `bsd/sys/ulock.h`), the
            // types transmuted to.
            return unsafe {
                Calls::Ulock {
                    wait: std::mem::transmute::<*mut c_void, UlockWait>(wait),
                    wake: std::mem::transmute::<*mut c_void, UlockWake>(wake),
                }
            };
        }
        Calls::Poll
    })
}

/// `os_sync_wait_on_address` (shared), else `__ulock_wait`
/// (`UL_COMPARE_AND_WAIT_SHARED`), else polling: sleeps while
/// `*word == expected`, until woken, for at most `timeout`. Returns early on
/// a spurious wake-up or a signal; callers re-check in a loop.
#[doc(alias = "os_sync_wait_on_address")]
#[doc(alias = "__ulock_wait")]
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let addr = word.as_ptr().cast::<c_void>();
    if timeout == Some(Duration::ZERO) {
        return;
    }
    // Errors (EINTR, ETIMEDOUT, the word already changed) all mean "look
    // again", which the callers do.
    match calls() {
        Calls::OsSync {
            wait, wait_timeout, ..
        } => {
            let shared = libc::OS_SYNC_WAIT_ON_ADDRESS_SHARED;
            // SAFETY: for either call,
            // - `addr` is the address of a live, 4-aligned `AtomicU32` and
            //   the size passed is 4, as the call requires;
            // - the kernel only reads the word, atomically, and keeps no
            //   pointer past the call; flags and clock id are the header's.
            unsafe {
                match timeout {
                    None => wait(addr, expected.into(), 4, shared),
                    Some(t) => wait_timeout(
                        addr,
                        expected.into(),
                        4,
                        shared,
                        libc::OS_CLOCK_MACH_ABSOLUTE_TIME,
                        wait_bsd::nanos(t),
                    ),
                }
            };
        }
        // SAFETY: `addr` is a live, 4-aligned `AtomicU32`, the operation
        // compares 32 bits, and the kernel only reads the word, atomically,
        // during the call. The timeout is in µs, 0 meaning none.
        Calls::Ulock { wait, .. } => unsafe {
            wait(
                UL_COMPARE_AND_WAIT_SHARED | ULF_NO_ERRNO,
                addr,
                expected.into(),
                wait_bsd::micros_or_forever(timeout),
            );
        },
        Calls::Poll => wait_bsd::poll(|| word.load(Ordering::Relaxed) != expected, timeout),
    }
}

/// `os_sync_wake_by_address_any/all` (shared), else `__ulock_wake`: wakes
/// one waiter on `word` if `n == 1`, else all of them. With polling,
/// nothing to do.
#[doc(alias = "os_sync_wake_by_address_any")]
#[doc(alias = "__ulock_wake")]
pub(crate) fn wake(word: &AtomicU32, n: u32) {
    let addr = word.as_ptr().cast::<c_void>();
    // ENOENT (nobody waits) is not an error for us.
    match calls() {
        Calls::OsSync {
            wake_any, wake_all, ..
        } => {
            let wake = if n == 1 { wake_any } else { wake_all };
            // SAFETY: `addr` is a live, 4-aligned `AtomicU32` and the size
            // is 4; the kernel uses the address only to find waiters.
            unsafe { wake(addr, 4, libc::OS_SYNC_WAKE_BY_ADDRESS_SHARED) };
        }
        // SAFETY: as above; the operation matches the waiters'.
        Calls::Ulock { wake, .. } => unsafe {
            let all = if n == 1 { 0 } else { ULF_WAKE_ALL };
            wake(UL_COMPARE_AND_WAIT_SHARED | ULF_NO_ERRNO | all, addr, 0);
        },
        Calls::Poll => {}
    }
}

/// [`wait`] on the low 32 bits of a 64-bit lock word.
pub(crate) fn wait_low(word: &AtomicU64, expected_low: u32, timeout: Option<Duration>) {
    match calls() {
        Calls::Poll => wait_bsd::poll(
            || word.load(Ordering::Relaxed) as u32 != expected_low,
            timeout,
        ),
        _ => wait(wait_bsd::low_half(word), expected_low, timeout),
    }
}

/// [`wake`] on the low 32 bits of a 64-bit lock word.
pub(crate) fn wake_low(word: &AtomicU64, n: u32) {
    if !matches!(calls(), Calls::Poll) {
        wake(wait_bsd::low_half(word), n);
    }
}

/// What `proc_pidinfo(pid, PROC_PIDTBSDINFO)` says about `pid`; the start
/// time is in microseconds since 1970.
#[doc(alias = "proc_pidinfo")]
fn query(pid: u32) -> Process {
    let Ok(pid) = c_int::try_from(pid) else {
        return Process::Unknown;
    };
    // SAFETY: `proc_bsdinfo` is plain integers and byte arrays, for which
    // all zeros is a valid value.
    let mut info: libc::proc_bsdinfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::proc_bsdinfo>() as c_int;
    // SAFETY:
    // - the buffer is a live, writable `proc_bsdinfo` of `size` bytes, the
    //   struct that flavor `PROC_PIDTBSDINFO` fills;
    // - `arg` 1 asks for zombies too; the call keeps no pointer.
    let n = unsafe {
        libc::proc_pidinfo(
            pid,
            libc::PROC_PIDTBSDINFO,
            1,
            std::ptr::from_mut(&mut info).cast(),
            size,
        )
    };
    if n == size {
        if info.pbi_status == libc::SZOMB {
            return Process::Zombie;
        }
        let start = info
            .pbi_start_tvsec
            .wrapping_mul(1_000_000)
            .wrapping_add(info.pbi_start_tvusec);
        return Process::Running { start };
    }
    if n <= 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
        // Confirmed by `kill(pid, 0)`, in case a policy hid the process
        // from `proc_pidinfo` only.
        if let Some(pid) = rustix::process::Pid::from_raw(pid) {
            if rustix::process::test_kill_process(pid) == Err(rustix::io::Errno::SRCH) {
                return Process::Gone;
            }
        }
    }
    Process::Unknown
}

/// This thread's owner word, `pid | serial << 17 | start tag << 32`: made
/// once per thread (`proc_pidinfo` on our own pid, once per process).
#[inline]
pub(crate) fn current_owner() -> u64 {
    wait_bsd::current_owner(query)
}

/// Whether the thread recorded as `owner` still runs: for another process,
/// `proc_pidinfo`, whose start time must match the tag.
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
