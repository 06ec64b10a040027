//! Named points where a test can stop a process, to check that the others
//! recover (a creator killed before "ready", a writer killed mid-write).
//!
//! Compiled in only with the `failpoints` feature, which the crate's own tests
//! turn on; otherwise [`hit`] is an empty inline function. With the feature, a
//! process whose `SHMKIT_FAILPOINT` environment variable (read once) names a
//! point (or `NAME@N`: its N-th hit) prints `@shmkit-failpoint NAME` on stdout when it gets there, then
//! sleeps until it is killed.
//!
//! # The points
//! Named `<protocol>-<step>`, in the order a process passes them. Each one
//! has a row in the kill table of `tests/faults.rs`, which kills a real
//! process there with `kill -9` and checks what the survivors see.
//!
//! | point | where the process stops |
//! |-------|-------------------------|
//! | `segment-after-name` | POSIX create: the name exists (size 0, creator lock held), not sized yet |
//! | `segment-after-size` | create: sized (and reserved), not mapped yet |
//! | `shared-before-header` | `Shared<T>` create: segment mapped, header not written |
//! | `shared-before-value` | header and layout written, value not |
//! | `shared-before-ready` | value written, "ready" not published |
//! | `queue-before-ready` | queue create (SPSC, channel, MPMC, broadcast): header and initial state written, "ready" not published |
//! | `mutex-after-lock` | `Mutex`: lock taken cleanly, data not touched |
//! | `mutex-after-takeover` | lock taken over from a dead owner (`OwnerDied`), nothing repaired |
//! | `mutex-mark-consistent` | `mark_consistent` called, not yet unlocked |
//! | `mutex-before-unlock` | guard dropping, lock word not yet released |
//! | `seqlock-after-claim` | `SeqLock::writer`: writer word claimed, abandoned write not repaired |
//! | `seqlock-mid-repair` | repair: torn slot rewritten, sequence still odd |
//! | `seqlock-after-odd` | `write`: sequence odd, payload untouched |
//! | `seqlock-mid-copy` | half of the payload's bytes copied |
//! | `seqlock-before-even` | payload copied, sequence still odd |
//! | `event-after-register` | `Event::wait`: counted among the sleepers, not asleep |
//! | `event-after-consume` | a signal consumed, `wait` not returned |
//! | `event-before-wake` | `notify_one`: signal set, sleepers not woken |
//! | `spsc-after-reserve` | `Producer::reserve`: room found, nothing written |
//! | `spsc-mid-write` | half of a `write_at` copied; in `send`, the payload's lower half (it is stored first to last) |
//! | `spsc-before-commit` | payload written, record header not |
//! | `spsc-after-commit` | record header published, tail not advanced |
//! | `spsc-before-notify` | tail advanced, consumer not woken |
//! | `spsc-before-release` | `Message::release`: message read, head not advanced |
//! | `spsc-after-release` | head advanced, producer not woken |
//! | `mpmc-after-claim` | MPMC producer: slot claimed, `enqueue` not advanced |
//! | `mpmc-mid-write` | half of the message copied into the slot |
//! | `mpmc-before-publish` | message copied, slot not published |
//! | `mpmc-after-take` | MPMC consumer: slot claimed, nothing copied |
//! | `mpmc-before-release` | message copied out, slot not freed |
//! | `broadcast-after-odd` | `Publisher::send`: slot sequence odd, nothing written |
//! | `broadcast-mid-write` | half of the payload written |
//! | `broadcast-before-even` | payload written, slot sequence still odd |
//! | `broadcast-before-next` | slot published, `next` not advanced |
//!
//! The typed channel (`Sender<T>`/`Receiver<T>`) is an SPSC queue: its steps
//! are the `spsc-*` points.

#[cfg(feature = "failpoints")]
mod imp {
    use std::sync::atomic::{AtomicU64, Ordering};

    static WANTED: std::sync::OnceLock<Option<(String, u64)>> = std::sync::OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);

    /// The point and hit number `SHMKIT_FAILPOINT` asks for, if any.
    fn wanted() -> Option<&'static (String, u64)> {
        // `NAME` stops at the first hit of NAME, `NAME@N` at the N-th.
        WANTED
            .get_or_init(|| {
                let v = std::env::var("SHMKIT_FAILPOINT").ok()?;
                Some(match v.split_once('@') {
                    Some((n, k)) => (n.to_owned(), k.parse().unwrap_or(1)),
                    None => (v, 1),
                })
            })
            .as_ref()
    }

    /// Marks the failpoint `name`.
    pub(crate) fn hit(name: &str) {
        use std::io::Write;
        let Some((wanted, nth)) = wanted() else {
            return;
        };
        if wanted == name && HITS.fetch_add(1, Ordering::Relaxed) + 1 == *nth {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "@shmkit-failpoint {name}");
            let _ = out.flush();
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
    }

    /// Whether the next [`hit`] of `name` stops the process: for points that
    /// must first leave a partial step behind (half a copy).
    pub(crate) fn stops_next(name: &str) -> bool {
        wanted().is_some_and(|(w, nth)| w == name && HITS.load(Ordering::Relaxed) + 1 == *nth)
    }
}

#[cfg(feature = "failpoints")]
pub(crate) use imp::{hit, stops_next};

/// Marks the failpoint `name` (no-op without the `failpoints` feature).
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub(crate) fn hit(_name: &str) {}

/// Whether the next hit of `name` stops the process (never, without the
/// `failpoints` feature).
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub(crate) fn stops_next(_name: &str) -> bool {
    false
}
