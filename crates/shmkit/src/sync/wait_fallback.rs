//! Wait and wake without an OS wait-on-address call that works across
//! processes.
//!
//! - Windows (not under Miri or loom): a word inside a named segment gets a
//!   named semaphore, `Local\shmkit-wake:NAME:OFFSET`, the same object in
//!   every process that maps the segment (`os::wake`): waiters sleep on it,
//!   wakers release it. `WaitOnAddress` would wake only this process's
//!   threads. A word elsewhere (a `Mutex::new` on the heap) is polled.
//! - Everywhere else this file is used (under Miri and loom on every OS, and
//!   on an OS without a backend of its own), the word is polled: spinning
//!   briefly, then yielding, then sleeping with a growing pause (up to
//!   1 ms). That is correct (a waiter re-reads the word until it changes
//!   or time runs out, so no wake-up is lost) but a wake-up can take about
//!   a millisecond, and a waiter burns a little CPU while it polls.
//!
//! # Owner identity
//! An owner is `counter | pid << 32`, where the counter numbers this
//! process's threads. Death is detected only for threads of this same
//! process (a thread-local destructor records its exit). An owner in another
//! process is `Unknown`, so where this fallback is the real backend (not
//! under Miri or loom, whose tests run in one process) a mutex whose owner
//! process died is not recovered: `lock_timeout` times out instead.
//!
//! On Windows the owner is `thread id | creation-time tag << 32`, as on
//! Linux, and liveness comes from the OS: `OpenThread`, `GetExitCodeThread`
//! and `GetThreadTimes`, whose creation time must match the tag, so that a
//! reused thread id is never taken for the dead owner.

use std::time::Duration;
#[cfg(not(loom))]
use std::time::Instant;

#[cfg(not(loom))]
use super::primitive::yield_now;
use super::primitive::{AtomicU32, AtomicU64, Ordering};
use super::{Liveness, TID_MASK};

#[cfg(not(loom))]
fn poll(mut changed: impl FnMut() -> bool, timeout: Option<Duration>) {
    let start = Instant::now();
    let mut pause = Duration::from_micros(1);
    for i in 0u32.. {
        if changed() {
            return;
        }
        if cfg!(miri) || i < 64 {
            yield_now();
            continue;
        }
        if timeout.is_some_and(|t| start.elapsed() >= t) {
            return;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(1));
    }
}

/// Returns once `*word != expected`, or after `timeout`, or spuriously.
#[cfg(not(loom))]
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    if cfg!(miri) {
        // One yield: the caller's loop re-checks.
        let _ = (word, expected, timeout);
        yield_now();
        return;
    }
    #[cfg(all(windows, not(miri)))]
    if crate::os::wake::wait(
        word.as_ptr() as usize,
        || word.load(Ordering::Relaxed) == expected,
        timeout,
    ) {
        return;
    }
    poll(|| word.load(Ordering::Relaxed) != expected, timeout);
}

/// Windows: releases the word's named semaphore (see `os::wake`); elsewhere
/// nothing, since waiters poll.
#[cfg(not(loom))]
pub(crate) fn wake(word: &AtomicU32, n: u32) {
    #[cfg(all(windows, not(miri)))]
    crate::os::wake::wake(word.as_ptr() as usize, n);
    let _ = (word, n);
}

/// [`wait`] on the low 32 bits of a 64-bit lock word.
#[cfg(not(loom))]
pub(crate) fn wait_low(word: &AtomicU64, expected_low: u32, timeout: Option<Duration>) {
    if cfg!(miri) {
        let _ = (word, expected_low, timeout);
        yield_now();
        return;
    }
    #[cfg(all(windows, not(miri)))]
    if crate::os::wake::wait(
        word.as_ptr() as usize,
        || word.load(Ordering::Relaxed) as u32 == expected_low,
        timeout,
    ) {
        return;
    }
    poll(
        || word.load(Ordering::Relaxed) as u32 != expected_low,
        timeout,
    );
}

/// As [`wake`], for a 64-bit lock word.
#[cfg(not(loom))]
pub(crate) fn wake_low(word: &AtomicU64, n: u32) {
    #[cfg(all(windows, not(miri)))]
    crate::os::wake::wake(word.as_ptr() as usize, n);
    let _ = (word, n);
}

/// Under loom: a model of the kernel's futex, so that a lost wake-up shows
/// up as a deadlock. The value check and the queueing happen under one lock,
/// which `wake` takes too, as the kernel's hash-bucket lock does. Timeouts
/// never fire: a waiter that relies on one to make progress is reported as
/// a deadlock, which is what the models want to catch. Wakes are broadcast,
/// a legal spurious wake-up for the other waiters.
#[cfg(loom)]
mod futex_model {
    use loom::sync::{Condvar, Mutex};

    loom::lazy_static! {
        static ref FUTEX: (Mutex<()>, Condvar) = (Mutex::new(()), Condvar::new());
    }

    pub(super) fn wait(still: impl FnOnce() -> bool) {
        let (lock, queue) = &*FUTEX;
        let guard = lock.lock().unwrap();
        if still() {
            drop(queue.wait(guard).unwrap());
        }
    }

    pub(super) fn wake() {
        let (lock, queue) = &*FUTEX;
        let _guard = lock.lock().unwrap();
        queue.notify_all();
    }
}

/// `FUTEX_WAIT` as modelled for loom.
#[cfg(loom)]
pub(crate) fn wait(word: &AtomicU32, expected: u32, _timeout: Option<Duration>) {
    futex_model::wait(|| word.load(Ordering::Relaxed) == expected);
}

/// `FUTEX_WAKE` as modelled for loom.
#[cfg(loom)]
pub(crate) fn wake(_word: &AtomicU32, _n: u32) {
    futex_model::wake();
}

/// `FUTEX_WAIT` on the low half of a lock word, as modelled for loom.
#[cfg(loom)]
pub(crate) fn wait_low(word: &AtomicU64, expected_low: u32, _timeout: Option<Duration>) {
    futex_model::wait(|| word.load(Ordering::Relaxed) as u32 == expected_low);
}

/// `FUTEX_WAKE` on the low half of a lock word, as modelled for loom.
#[cfg(loom)]
pub(crate) fn wake_low(_word: &AtomicU64, _n: u32) {
    futex_model::wake();
}

/// Threads of this process that have exited, by counter.
#[cfg(any(not(windows), loom, miri))]
static EXITED: std::sync::Mutex<Vec<u64>> = std::sync::Mutex::new(Vec::new());

#[cfg(any(not(windows), loom, miri))]
struct Registration(u64);

#[cfg(any(not(windows), loom, miri))]
impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut exited) = EXITED.lock() {
            exited.push(self.0);
        }
    }
}

#[cfg(any(not(windows), loom, miri))]
fn this_process() -> u32 {
    if cfg!(any(loom, miri)) {
        1
    } else {
        std::process::id()
    }
}

/// This thread's owner identity, `counter | pid << 32`.
#[cfg(any(not(windows), loom, miri))]
pub(crate) fn current_owner() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    fn register() -> Registration {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) & TID_MASK;
        Registration(n | u64::from(this_process()) << 32)
    }
    // loom runs its threads on one OS thread, so it has its own thread-locals.
    #[cfg(loom)]
    loom::thread_local! {
        static OWNER: Registration = register();
    }
    #[cfg(not(loom))]
    std::thread_local! {
        static OWNER: Registration = register();
    }
    OWNER.with(|r| r.0)
}

/// `Dead` for an exited thread of this process, `Unknown` otherwise.
#[cfg(any(not(windows), loom, miri))]
pub(crate) fn owner_state(owner: u64) -> Liveness {
    if (owner >> 32) as u32 != this_process() {
        return Liveness::Unknown;
    }
    match EXITED.lock() {
        Ok(exited) if exited.contains(&owner) => Liveness::Dead,
        _ => Liveness::Alive,
    }
}

/// This thread's owner identity on Windows, `tid | creation_tag << 32`:
/// `GetCurrentThreadId` and `GetThreadTimes`, made once per thread.
#[cfg(all(windows, not(loom), not(miri)))]
pub(crate) fn current_owner() -> u64 {
    use windows_sys::Win32::System::Threading::{GetCurrentThread, GetCurrentThreadId};
    fn compute() -> u64 {
        // SAFETY: `GetCurrentThreadId` has no preconditions.
        let tid = u64::from(unsafe { GetCurrentThreadId() });
        // SAFETY: `GetCurrentThread` returns a pseudo-handle that needs no
        // closing and is valid for this thread.
        let tag = creation_tag(unsafe { GetCurrentThread() }).unwrap_or(0);
        if tid > TID_MASK {
            // Does not fit the owner word's 30 bits (Windows hands out ids
            // from a table far smaller than 2^30, so this does not happen).
            // Record "no tag": then only the thread's existence is checked.
            return tid & TID_MASK;
        }
        tid | u64::from(tag) << 32
    }
    std::thread_local! {
        static OWNER: u64 = compute();
    }
    OWNER.with(|o| *o)
}

/// The low 32 bits of a thread's creation time (100 ns units).
#[cfg(all(windows, not(loom), not(miri)))]
fn creation_tag(thread: windows_sys::Win32::Foundation::HANDLE) -> Option<u32> {
    use windows_sys::Win32::Foundation::FILETIME;
    use windows_sys::Win32::System::Threading::GetThreadTimes;
    let zero = FILETIME {
        dwLowDateTime: 0,
        dwHighDateTime: 0,
    };
    let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
    // SAFETY:
    // - `thread` is a valid handle with query access (the callers' pseudo
    //   handle, or one just opened with `THREAD_QUERY_LIMITED_INFORMATION`);
    // - the four out-pointers are to live, writable `FILETIME`s.
    let ok = unsafe { GetThreadTimes(thread, &mut created, &mut exited, &mut kernel, &mut user) };
    (ok != 0).then_some(created.dwLowDateTime)
}

/// Whether the thread recorded as `owner` still runs: `OpenThread`,
/// `GetExitCodeThread`, and `GetThreadTimes` for the creation-time tag.
///
/// `Dead` only on proof: no such thread, an exit code, or a thread that was
/// created at another time (its id was reused). Anything unclear is
/// `Unknown`, which callers treat as alive.
#[cfg(all(windows, not(loom), not(miri)))]
#[cold]
pub(crate) fn owner_state(owner: u64) -> Liveness {
    use windows_sys::Win32::Foundation::{
        CloseHandle, GetLastError, ERROR_INVALID_PARAMETER, STILL_ACTIVE,
    };
    use windows_sys::Win32::System::Threading::{
        GetExitCodeThread, OpenThread, THREAD_QUERY_LIMITED_INFORMATION,
    };
    let tid = (owner & TID_MASK) as u32;
    let tag = (owner >> 32) as u32;
    if tid == 0 {
        return Liveness::Unknown;
    }
    // SAFETY: `OpenThread` has no memory-safety preconditions; a failure
    // returns a null handle, checked below.
    let handle = unsafe { OpenThread(THREAD_QUERY_LIMITED_INFORMATION, 0, tid) };
    if handle.is_null() {
        // SAFETY: `GetLastError` has no preconditions.
        return match unsafe { GetLastError() } {
            // No thread has this id any more.
            ERROR_INVALID_PARAMETER => Liveness::Dead,
            _ => Liveness::Unknown,
        };
    }
    let mut code = 0u32;
    // SAFETY: `handle` was just opened with query access; `code` is a live,
    // writable u32.
    let got_code = unsafe { GetExitCodeThread(handle, &mut code) } != 0;
    let created = creation_tag(handle);
    // SAFETY: `handle` was opened above and is closed once, here.
    unsafe { CloseHandle(handle) };
    match (got_code, created) {
        (true, _) if code != STILL_ACTIVE as u32 => Liveness::Dead,
        // A tag of 0 is no creation time to compare (the owner could not
        // read its own, or a peer wrote the word): as on Linux, only a
        // missing or exited thread proves it dead, and a running one
        // counts as alive. Answering `Unknown` for every such word let a
        // peer that wrote one (`tid` but no tag) make `lock()` wait for
        // ever (seen under Wine, by the scribbler in `tests/faults.rs`).
        (true, _) if tag == 0 => Liveness::Alive,
        (_, Some(c)) if c != tag => Liveness::Dead,
        (true, Some(_)) => Liveness::Alive,
        _ => Liveness::Unknown,
    }
}

/// The most words [`wait_any`] watches at once: on Windows, the handles of
/// one `WaitForMultipleObjects` call; elsewhere this fallback watches one.
#[cfg(all(not(loom), windows, not(miri)))]
pub(crate) const WAIT_ANY_MAX: usize = crate::os::wake::WAIT_MANY_MAX;
/// The most words [`wait_any`] watches at once: one, here.
#[cfg(all(not(loom), not(all(windows, not(miri)))))]
pub(crate) const WAIT_ANY_MAX: usize = 1;

/// How long one sleep of [`wait_any`] lasts at most when it watches fewer
/// words than it was given: a change to an unwatched word is seen within
/// this (the slice a blocked queue endpoint polls in here).
#[cfg(not(loom))]
const UNWATCHED_SLICE: Duration = Duration::from_micros(100);

/// Sleeps while every `*word == expected`, for at most `timeout`; returns
/// early spuriously, and callers re-check.
///
/// - Windows: `WaitForMultipleObjects` on the words' named semaphores (up
///   to 64, see `os::wake::wait_many`); if some word is not watched (more
///   than 64, or outside a named section), the sleep lasts at most 100 µs.
/// - Elsewhere (no wait on several words): [`wait`] on the first word, at
///   most 100 µs, so that a change to any word is seen within that (queue
///   wakers make no system call outside Linux and Windows).
#[cfg(not(loom))]
pub(crate) fn wait_any(words: &[(&AtomicU32, u32)], timeout: Duration) {
    #[cfg(all(windows, not(miri)))]
    {
        let addrs: Vec<usize> = words.iter().map(|(w, _)| w.as_ptr() as usize).collect();
        let still = || words.iter().all(|(w, e)| w.load(Ordering::Relaxed) == *e);
        if crate::os::wake::wait_many(&addrs, still, timeout, timeout.min(UNWATCHED_SLICE)) > 0 {
            return;
        }
    }
    let timeout = timeout.min(UNWATCHED_SLICE);
    match words.first() {
        None => std::thread::sleep(timeout),
        Some(&(word, expected)) => wait(word, expected, Some(timeout)),
    }
}
