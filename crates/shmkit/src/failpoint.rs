//! Named points where a test can stop a process, to check that the others
//! recover (a creator killed before "ready", a writer killed mid-write).
//!
//! Compiled in only with the `failpoints` feature, which the crate's own tests
//! turn on; otherwise [`hit`] is an empty inline function. With the feature, a
//! process whose `SHMKIT_FAILPOINT` environment variable (read once) names a
//! point (or `NAME@N`: its N-th hit) prints `@shmkit-failpoint NAME` on stdout when it gets there, then
//! sleeps until it is killed.

/// Marks the failpoint `name`.
#[cfg(feature = "failpoints")]
pub(crate) fn hit(name: &str) {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    static WANTED: std::sync::OnceLock<Option<(String, u64)>> = std::sync::OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);
    // `NAME` stops at the first hit of NAME, `NAME@N` at the N-th.
    let wanted = WANTED.get_or_init(|| {
        let v = std::env::var("SHMKIT_FAILPOINT").ok()?;
        Some(match v.split_once('@') {
            Some((n, k)) => (n.to_owned(), k.parse().unwrap_or(1)),
            None => (v, 1),
        })
    });
    let Some((wanted, nth)) = wanted else { return };
    if wanted == name && HITS.fetch_add(1, Ordering::Relaxed) + 1 == *nth {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "@shmkit-failpoint {name}");
        let _ = out.flush();
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

/// Marks the failpoint `name` (no-op without the `failpoints` feature).
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub(crate) fn hit(_name: &str) {}
