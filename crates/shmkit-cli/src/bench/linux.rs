//! What `shmkit bench` needs from Linux: CPU affinity and the futex.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

use anyhow::{Context, Result};
use rustix::thread::futex;
use rustix::thread::{sched_getaffinity, sched_setaffinity, CpuSet};

/// Whether this OS has a futex, so the bare futex row can run.
pub const HAS_FUTEX: bool = true;

/// The CPUs this process may run on (`sched_getaffinity`).
pub fn allowed_cpus() -> Vec<usize> {
    match sched_getaffinity(None) {
        Ok(set) => (0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect(),
        Err(_) => Vec::new(),
    }
}

/// Pins the calling thread to one CPU (`sched_setaffinity`).
pub fn pin(cpu: usize) -> Result<()> {
    let mut set = CpuSet::new();
    set.set(cpu);
    sched_setaffinity(None, &set).with_context(|| format!("pinning to CPU {cpu}"))
}

/// Sleeps while `word` holds `expected`, at most `timeout` (`futex` with
/// `FUTEX_WAIT`, shared: no `FUTEX_PRIVATE_FLAG`, since the word lives in
/// memory that two processes map).
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let ts = futex::Timespec {
        tv_sec: timeout.as_secs() as _,
        tv_nsec: timeout.subsec_nanos() as _,
    };
    // EAGAIN (the word changed), EINTR and ETIMEDOUT all mean: look again.
    let _ = futex::wait(word, futex::Flags::empty(), expected, Some(&ts));
}

/// Wakes one process sleeping on `word` (`futex` with `FUTEX_WAKE`, shared).
pub fn futex_wake(word: &AtomicU32) {
    let _ = futex::wake(word, futex::Flags::empty(), 1);
}
