//! Named points where a test can stop a process, to check that the others
//! recover (a creator killed before "ready", a writer killed mid-write).
//!
//! Compiled in only with the `failpoints` feature, which the crate's own tests
//! turn on; otherwise [`hit`] is an empty inline function. With the feature, a
//! process whose `SHMKIT_FAILPOINT` environment variable (read once) names a
//! point prints `@shmkit-failpoint NAME` on stdout when it gets there, then
//! sleeps until it is killed.

/// Marks the failpoint `name`.
#[cfg(feature = "failpoints")]
pub(crate) fn hit(name: &str) {
    use std::io::Write;
    static WANTED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let wanted = WANTED.get_or_init(|| std::env::var("SHMKIT_FAILPOINT").ok());
    if wanted.as_deref() == Some(name) {
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
