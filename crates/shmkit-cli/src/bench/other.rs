//! What `shmkit bench` needs from the OS, where it is not Linux (macOS,
//! FreeBSD): no futex, and no CPU pinning, so the rows that need them are
//! skipped with that reason.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

use anyhow::{bail, Result};

/// Whether this OS has a futex, so the bare futex row can run.
pub const HAS_FUTEX: bool = false;

/// The CPUs this process may run on: unknown here.
pub fn allowed_cpus() -> Vec<usize> {
    Vec::new()
}

/// Pinning to a CPU is not supported on this OS.
pub fn pin(cpu: usize) -> Result<()> {
    bail!("pinning to CPU {cpu}: not supported on this OS (shmkit bench pins only on Linux)")
}

/// No futex on this OS; never called, since `HAS_FUTEX` is false.
pub fn futex_wait(_word: &AtomicU32, _expected: u32, timeout: Duration) {
    std::thread::sleep(timeout);
}

/// No futex on this OS; never called, since `HAS_FUTEX` is false.
pub fn futex_wake(_word: &AtomicU32) {}
