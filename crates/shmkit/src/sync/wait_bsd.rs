//! What the macOS and FreeBSD backends (`wait_macos.rs`, `wait_freebsd.rs`)
//! have in common: owners recorded as a process plus a thread of it, whose
//! liveness is decided from the process's start time, and the conversions
//! and polling loop around their wait calls.
//!
//! Nothing here calls the OS: each backend passes in its own process query
//! ([`Process`]). That keeps this part portable, so it is unit-tested on
//! Linux too, with `/proc/<pid>/stat` as the query (see the tests below);
//! the macOS and FreeBSD backends themselves are only compile-checked in CI
//! (`ci/targets.sh`), never run there.
//!
//! # Owner words
//! Neither OS offers a thread id that another process can check for
//! liveness, so an owner is a process, identified so that a reused pid is
//! never taken for it, plus a serial number for the thread within it:
//!
//! | bits    | meaning                                                         |
//! |---------|-----------------------------------------------------------------|
//! | 0..=16  | owner pid (both OSes cap pids at 99,999 < 2^17; 0 = no owner)   |
//! | 17..=29 | thread serial within that process, 1..=8191                     |
//! | 30, 31  | the mutex's `INCONSISTENT` and `WAITERS` flags (not set here)   |
//! | 32..=63 | start tag: low 32 bits of the process's start time, in µs; 0 = unknown |
//!
//! Bits 0..=29 are the owner-word `TID_MASK` field, non-zero whenever there
//! is an owner, as the mutex protocol requires.
//!
//! # Liveness
//! [`decide`] answers, for a recorded owner:
//! - another process: `Dead` if no process has that pid, or it is a zombie,
//!   or its start time does not match the tag (the pid was reused);
//!   `Alive` if it runs and its start time matches; `Unknown` if the OS
//!   would not say (a sandbox, another user's process on a locked-down
//!   system), which callers treat as alive;
//! - this process (same pid and tag): `Alive` while a thread holds that
//!   serial; a thread gives its serial back when it exits (a thread-local
//!   destructor), so a thread that exited holding a lock is `Dead`;
//! - same pid, other tag: an earlier process that had our pid, so `Dead`;
//! - an owner word with no pid or serial, or (in another process) no tag:
//!   `Unknown`.
//!
//! A pid reused by a process whose start time agrees with the dead owner's
//! in the low 32 bits of microseconds (a 71.6-minute cycle) would be taken
//! for it, and waiters would wait for that process to exit; the chance is
//! about one in 4·10⁹ per reuse, and blocked waiters notice a death within
//! 100 ms, long before a pid comes round again.
//!
//! Serials are handed out round-robin, skipping those held by live
//! threads, so a dead thread's serial is reused only after 8,190 other
//! threads of the process have started since (a lock it leaked is normally
//! taken over long before). More than 8,191 threads of one process using
//! the sync types at once is refused with a panic; the default thread
//! limits of both OSes are far below it.
//!
//! After a `fork` without `exec`, the child inherits the parent's cached
//! pid and tag: such a child must not use the sync types (as on Linux).

use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
#[cfg(any(test, target_os = "macos"))]
use std::time::Instant;

use super::{Liveness, TID_MASK};

/// Bits 0..=16: the owner's pid.
const PID_MASK: u64 = (1 << PID_BITS) - 1;
const PID_BITS: u32 = 17;
/// Bits 17..=29: the thread serial within the owner's process.
const SERIAL_SHIFT: u32 = PID_BITS;
/// The largest serial (13 bits).
const MAX_SERIAL: u32 = (TID_MASK >> SERIAL_SHIFT) as u32;

/// What the OS says about a pid, as each backend's query reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Process {
    /// No process has this pid.
    Gone,
    /// The process has exited and waits to be reaped.
    Zombie,
    /// A process with this pid runs; it started at this time (in an
    /// OS-specific unit that does not move when the wall clock is set).
    Running { start: u64 },
    /// The OS would not say.
    Unknown,
}

/// The start tag recorded for a process that started at `start`: its low 32
/// bits, with 0 (which means "unknown") moved to 1. Recorders and checkers
/// both go through here, so they agree.
pub(crate) fn tag_of(start: u64) -> u32 {
    (start as u32).max(1)
}

/// An owner word: `pid | serial << 17 | tag << 32`.
pub(crate) fn encode(pid: u32, serial: u32, tag: u32) -> u64 {
    debug_assert!(u64::from(pid) <= PID_MASK && pid != 0);
    debug_assert!((1..=MAX_SERIAL).contains(&serial));
    u64::from(pid) | u64::from(serial) << SERIAL_SHIFT | u64::from(tag) << 32
}

/// `(pid, serial, tag)` of an owner word (flag bits ignored).
pub(crate) fn decode(owner: u64) -> (u32, u32, u32) {
    (
        (owner & PID_MASK) as u32,
        ((owner & TID_MASK) >> SERIAL_SHIFT) as u32,
        (owner >> 32) as u32,
    )
}

/// This process as recorded in owner words: its pid and start tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Me {
    pub(crate) pid: u32,
    pub(crate) tag: u32,
}

/// Whether `owner` still runs, given who we are, whether a serial is held
/// by a live thread of ours, and the OS's answer about a pid.
///
/// `Dead` only on proof (see the module docs); malformed words, and owners
/// in other processes that did not know their own start time, are
/// `Unknown`.
pub(crate) fn decide(
    owner: u64,
    me: Me,
    serial_live: impl FnOnce(u32) -> bool,
    query: impl FnOnce(u32) -> Process,
) -> Liveness {
    let (pid, serial, tag) = decode(owner);
    if pid == 0 || serial == 0 {
        return Liveness::Unknown;
    }
    if pid == me.pid {
        // Two processes never have one pid at the same time, so an owner
        // with our pid is either one of our threads or an earlier process,
        // now gone: alive only as a live thread of ours.
        return if tag == me.tag && serial_live(serial) {
            Liveness::Alive
        } else {
            Liveness::Dead
        };
    }
    if tag == 0 {
        // The owner did not know its own start time.
        return Liveness::Unknown;
    }
    match query(pid) {
        Process::Gone | Process::Zombie => Liveness::Dead,
        Process::Running { start } if tag_of(start) == tag => Liveness::Alive,
        Process::Running { .. } => Liveness::Dead,
        Process::Unknown => Liveness::Unknown,
    }
}

/// Thread serials in use in this process, one bit each (bit 0 unused).
pub(crate) struct Serials {
    live: [u64; (MAX_SERIAL as usize + 1) / 64],
    next: u32,
}

impl Serials {
    pub(crate) const fn new() -> Self {
        Serials {
            live: [0; (MAX_SERIAL as usize + 1) / 64],
            next: 1,
        }
    }

    /// The next free serial after the last one handed out, marked live;
    /// `None` if all are live.
    pub(crate) fn take(&mut self) -> Option<u32> {
        for _ in 0..MAX_SERIAL {
            let s = self.next;
            self.next = if s == MAX_SERIAL { 1 } else { s + 1 };
            if !self.is_live(s) {
                self.live[s as usize / 64] |= 1 << (s % 64);
                return Some(s);
            }
        }
        None
    }

    /// Gives `s` back (its thread exited).
    pub(crate) fn give_back(&mut self, s: u32) {
        self.live[s as usize / 64] &= !(1 << (s % 64));
    }

    pub(crate) fn is_live(&self, s: u32) -> bool {
        s <= MAX_SERIAL && self.live[s as usize / 64] & 1 << (s % 64) != 0
    }
}

static SERIALS: Mutex<Serials> = Mutex::new(Serials::new());

/// Holds a thread's serial for as long as the thread runs.
struct Registration {
    owner: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let (_, serial, _) = decode(self.owner);
        SERIALS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .give_back(serial);
    }
}

/// This process's pid and start tag, from `query` on our own pid, once.
/// If the OS will not tell us our start time, the tag is 0, and peers answer
/// `Unknown` (never `Dead`) for our owner words.
fn me(query: impl FnOnce(u32) -> Process) -> Me {
    static ME: OnceLock<Me> = OnceLock::new();
    *ME.get_or_init(|| {
        let pid = std::process::id();
        let tag = match query(pid) {
            Process::Running { start } => tag_of(start),
            _ => 0,
        };
        Me { pid, tag }
    })
}

/// This thread's owner word, made once per thread: our pid and start tag
/// (from `query`, once per process) and a serial held until the thread exits.
///
/// # Panics
/// If more than 8,191 threads of this process use the sync types at once.
pub(crate) fn current_owner(query: fn(u32) -> Process) -> u64 {
    std::thread_local! {
        static OWNER: std::cell::OnceCell<Registration> = const { std::cell::OnceCell::new() };
    }
    OWNER.with(|cell| {
        cell.get_or_init(|| {
            let me = me(query);
            let serial = SERIALS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .expect("more than 8191 threads of this process use shmkit::sync at once");
            Registration {
                owner: encode(me.pid, serial, me.tag),
            }
        })
        .owner
    })
}

/// Whether the thread recorded as `owner` still runs, asking `query` about
/// another process (see [`decide`]).
pub(crate) fn owner_state(owner: u64, query: fn(u32) -> Process) -> Liveness {
    let serial_live = |s| SERIALS.lock().unwrap_or_else(|e| e.into_inner()).is_live(s);
    decide(owner, me(query), serial_live, query)
}

/// The most words [`wait_any`] watches at once. Neither OS has a call that
/// sleeps on several words, so it watches one.
pub(crate) const WAIT_ANY_MAX: usize = 1;

/// How long one sleep of [`wait_any`] lasts at most: a change to an
/// unwatched word is seen within this (the slice a blocked queue endpoint
/// polls in here).
const UNWATCHED_SLICE: Duration = Duration::from_micros(100);

/// Sleeps while every `*word == expected`, for at most `timeout`, with the
/// backend's single-word `wait`: the sleep is on the first word, never
/// longer than 100 µs, so a change to any other word is seen within that
/// (and so is one to a queue's wake word, whose wakers make no system call
/// outside Linux and Windows). Returns early spuriously; callers re-check.
pub(crate) fn wait_any(
    words: &[(&AtomicU32, u32)],
    timeout: Duration,
    wait: impl FnOnce(&AtomicU32, u32, Option<Duration>),
) {
    let timeout = timeout.min(UNWATCHED_SLICE);
    match words.first() {
        None => std::thread::sleep(timeout),
        Some(&(word, expected)) => wait(word, expected, Some(timeout)),
    }
}

/// The 32-bit half of `word` that holds its low bits (the owner id and flag
/// bits of a lock word), as the word the kernel compares and hashes.
pub(crate) fn low_half(word: &AtomicU64) -> &AtomicU32 {
    let offset = if cfg!(target_endian = "little") { 0 } else { 4 };
    // SAFETY:
    // - the pointer is `word`'s address plus 0 or 4, inside its 8 bytes, and
    //   4-aligned since `word` is 8-aligned;
    // - the bytes are initialised and live as long as `&word`;
    // - the `&AtomicU32` is only handed to the OS's wait and wake calls,
    //   which read the word with their own 32-bit load, outside the Rust
    //   memory model, as they would for a waiter in another process. No Rust
    //   code makes a 32-bit access through it, so there is no mixed-size
    //   access.
    unsafe { AtomicU32::from_ptr(word.as_ptr().cast::<u8>().add(offset).cast::<u32>()) }
}

/// A timeout for calls that take whole microseconds in a `u32` where 0
/// means "forever" (`__ulock_wait`): `None` is 0; a timeout is rounded up
/// to at least 1 µs and capped at `u32::MAX` µs (71 minutes; callers loop).
#[cfg(any(test, target_os = "macos"))]
pub(crate) fn micros_or_forever(timeout: Option<Duration>) -> u32 {
    match timeout {
        None => 0,
        Some(d) => d.as_nanos().div_ceil(1000).clamp(1, u32::MAX.into()) as u32,
    }
}

/// A timeout in whole nanoseconds, at least 1 and capped at `u64::MAX`.
#[cfg(any(test, target_os = "macos"))]
pub(crate) fn nanos(timeout: Duration) -> u64 {
    timeout.as_nanos().clamp(1, u64::MAX.into()) as u64
}

/// Returns once `changed()` holds or `timeout` has passed: re-checks with a
/// yield 64 times, then sleeps with a doubling pause of up to 1 ms. For when
/// the OS offers no shared wait call; `wake` then has nothing to do.
#[cfg(any(test, target_os = "macos"))]
pub(crate) fn poll(mut changed: impl FnMut() -> bool, timeout: Option<Duration>) {
    let start = Instant::now();
    let mut pause = Duration::from_micros(1);
    for i in 0u32.. {
        if changed() {
            return;
        }
        if timeout.is_some_and(|t| start.elapsed() >= t) {
            return;
        }
        if i < 64 {
            std::thread::yield_now();
            continue;
        }
        let left = timeout.map_or(pause, |t| t.saturating_sub(start.elapsed()));
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(Duration::from_millis(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: Me = Me { pid: 4242, tag: 77 };

    /// Linux pids may exceed the 17 bits that macOS and FreeBSD pids fit
    /// in (`pid_max` up to 2^22); tests that record real pids skip then.
    fn fits(pid: u32) -> bool {
        let ok = u64::from(pid) <= PID_MASK;
        if !ok {
            eprintln!("skipped: pid {pid} does not fit in 17 bits");
        }
        ok
    }

    fn never(_: u32) -> Process {
        panic!("the OS must not be asked about this process")
    }

    #[test]
    fn encoding_round_trips_and_fits_the_owner_field() {
        let w = encode(99_999, MAX_SERIAL, u32::MAX);
        assert_eq!(decode(w), (99_999, MAX_SERIAL, u32::MAX));
        assert_eq!(
            w & !TID_MASK & 0xFFFF_FFFF,
            0,
            "flag bits 30, 31 stay clear"
        );
        assert_ne!(
            encode(1, 1, 1) & TID_MASK,
            0,
            "an owner is never 'unlocked'"
        );
        assert_eq!(MAX_SERIAL, 8191);
        // The flags of a mutex word do not disturb decoding.
        assert_eq!(decode(w | 3 << 30), (99_999, MAX_SERIAL, u32::MAX));
    }

    #[test]
    fn tag_zero_is_reserved_for_unknown() {
        assert_eq!(tag_of(0), 1);
        assert_eq!(tag_of(1 << 32), 1);
        assert_eq!(tag_of(5 | 7 << 32), 5);
    }

    #[test]
    fn other_process_is_judged_by_its_start_time() {
        let owner = encode(7, 3, tag_of(1_000_123));
        let ask = |answer: Process| {
            decide(
                owner,
                ME,
                |_| unreachable!(),
                |pid| {
                    assert_eq!(pid, 7);
                    answer
                },
            )
        };
        assert_eq!(ask(Process::Running { start: 1_000_123 }), Liveness::Alive);
        // The same low 32 bits: indistinguishable, so taken as the owner.
        assert_eq!(
            ask(Process::Running {
                start: 1_000_123 + (1 << 32)
            }),
            Liveness::Alive
        );
        assert_eq!(
            ask(Process::Running { start: 1_000_124 }),
            Liveness::Dead,
            "pid reused"
        );
        assert_eq!(ask(Process::Gone), Liveness::Dead);
        assert_eq!(ask(Process::Zombie), Liveness::Dead);
        assert_eq!(ask(Process::Unknown), Liveness::Unknown);
    }

    #[test]
    fn own_process_is_judged_by_its_thread_serials() {
        let owner = encode(ME.pid, 9, ME.tag);
        assert_eq!(decide(owner, ME, |s| s == 9, never), Liveness::Alive);
        assert_eq!(decide(owner, ME, |_| false, never), Liveness::Dead);
        // Our pid with another tag: an earlier process that had our pid.
        let earlier = encode(ME.pid, 9, ME.tag + 1);
        assert_eq!(decide(earlier, ME, |_| true, never), Liveness::Dead);
    }

    #[test]
    fn malformed_or_untagged_words_are_unknown() {
        for w in [
            0,
            encode(7, 1, 5) & !PID_MASK,
            encode(7, 1, 5) & PID_MASK,
            7 | 1 << 17,
        ] {
            assert_eq!(decide(w, ME, |_| true, never), Liveness::Unknown, "{w:#x}");
        }
        // Our own process, though it could not learn its start time: its
        // threads are still judged by their serials.
        let me0 = Me {
            pid: ME.pid,
            tag: 0,
        };
        let owner = encode(ME.pid, 1, 0);
        assert_eq!(decide(owner, me0, |_| false, never), Liveness::Dead);
        assert_eq!(decide(owner, me0, |_| true, never), Liveness::Alive);
    }

    #[test]
    fn serials_go_round_robin_and_skip_live_ones() {
        let mut s = Serials::new();
        assert_eq!(s.take(), Some(1));
        assert_eq!(s.take(), Some(2));
        s.give_back(1);
        // 1 is free again, but comes round only after all the others.
        assert_eq!(s.take(), Some(3));
        for _ in 4..=MAX_SERIAL {
            s.take().unwrap();
        }
        assert_eq!(s.take(), Some(1));
        assert_eq!(s.take(), None, "all 8191 live");
        s.give_back(500);
        assert_eq!(s.take(), Some(500));
        assert!(s.is_live(500) && !s.is_live(0) && !s.is_live(MAX_SERIAL + 1));
    }

    #[test]
    fn timeouts_convert_without_truncating_to_forever() {
        assert_eq!(micros_or_forever(None), 0);
        assert_eq!(micros_or_forever(Some(Duration::ZERO)), 1);
        assert_eq!(micros_or_forever(Some(Duration::from_nanos(1))), 1);
        assert_eq!(micros_or_forever(Some(Duration::from_nanos(1500))), 2);
        assert_eq!(micros_or_forever(Some(Duration::from_millis(100))), 100_000);
        assert_eq!(
            micros_or_forever(Some(Duration::from_secs(1 << 40))),
            u32::MAX
        );
        assert_eq!(nanos(Duration::ZERO), 1);
        assert_eq!(nanos(Duration::from_millis(250)), 250_000_000);
        assert_eq!(nanos(Duration::MAX), u64::MAX);
    }

    #[test]
    fn poll_returns_on_change_or_timeout() {
        let t = Instant::now();
        poll(|| false, Some(Duration::from_millis(20)));
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(20), "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
        let mut n = 0;
        poll(
            || {
                n += 1;
                n == 100
            },
            None,
        );
        assert_eq!(n, 100);
    }

    /// Threads of this process, through the real per-thread registration:
    /// a thread's owner word is alive while it runs and dead once it exited.
    #[test]
    fn exited_thread_of_this_process_is_dead() {
        fn fake(_: u32) -> Process {
            Process::Running { start: 1234 }
        }
        if !fits(std::process::id()) {
            return;
        }
        let mine = current_owner(fake);
        assert_eq!(mine, current_owner(fake), "cached per thread");
        let (tx, rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            tx.send(current_owner(fake)).unwrap();
            go_rx.recv().unwrap();
        });
        let theirs = rx.recv().unwrap();
        assert_ne!(theirs, mine);
        assert_eq!(decode(theirs).0, std::process::id());
        assert_eq!(owner_state(theirs, fake), Liveness::Alive);
        go_tx.send(()).unwrap();
        t.join().unwrap();
        assert_eq!(owner_state(theirs, fake), Liveness::Dead);
        assert_eq!(owner_state(mine, fake), Liveness::Alive);
    }

    /// The pid + start-time decision against real processes, with Linux's
    /// `/proc/<pid>/stat` (field 22, start time in clock ticks since boot)
    /// as the query in place of `proc_pidinfo` or `kern.proc.pid`.
    #[cfg(all(target_os = "linux", not(miri)))]
    mod real_processes {
        use super::*;

        fn proc_stat(pid: u32) -> Process {
            let text = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Process::Gone,
                Err(_) => return Process::Unknown,
            };
            let Some(rest) = text.rfind(')').map(|i| &text[i + 1..]) else {
                return Process::Unknown;
            };
            let mut fields = rest.split_ascii_whitespace();
            let state = fields.next();
            match (state, fields.nth(18).and_then(|s| s.parse().ok())) {
                (Some("Z" | "X"), _) => Process::Zombie,
                (Some(_), Some(start)) => Process::Running { start },
                _ => Process::Unknown,
            }
        }

        fn spawn_sleeper() -> std::process::Child {
            std::process::Command::new("sleep")
                .arg("60")
                .spawn()
                .expect("run `sleep`")
        }

        /// An owner word for the main thread of `child`, as it would have
        /// recorded itself.
        fn owner_of(child: &std::process::Child) -> u64 {
            let pid = child.id();
            let Process::Running { start } = proc_stat(pid) else {
                panic!("child {pid} not running")
            };
            encode(pid, 1, tag_of(start))
        }

        #[test]
        fn live_process_is_alive_killed_one_dead_zombie_or_reaped() {
            let mut child = spawn_sleeper();
            if !fits(child.id()) {
                child.kill().unwrap();
                child.wait().unwrap();
                return;
            }
            let owner = owner_of(&child);
            assert_eq!(owner_state(owner, proc_stat), Liveness::Alive);
            child.kill().unwrap();
            // Killed but not yet reaped: a zombie, already dead.
            let since = Instant::now();
            while owner_state(owner, proc_stat) != Liveness::Dead {
                assert!(since.elapsed() < Duration::from_secs(5), "never seen dead");
                std::thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(proc_stat(child.id()), Process::Zombie);
            child.wait().unwrap();
            assert_eq!(owner_state(owner, proc_stat), Liveness::Dead);
        }

        /// An owner word made by `current_owner` in another process (this
        /// test binary re-run as a child) is alive while that process runs
        /// and dead once it was killed, as a mutex waiter would see it.
        #[test]
        fn owner_recorded_by_another_process_dies_with_it() {
            use std::io::{BufRead, BufReader, Write};
            const ROLE: &str = "SHMKIT_WAIT_BSD_CHILD";
            let name = "sync::wait_bsd::tests::real_processes::\
                        owner_recorded_by_another_process_dies_with_it";
            if std::env::var_os(ROLE).is_some() {
                if !fits(std::process::id()) {
                    return; // the parent skips too
                }
                // Child: report our owner word, then hold on until killed.
                println!("@owner {}", current_owner(proc_stat));
                std::io::stdout().flush().unwrap();
                let _ = std::io::stdin().read_line(&mut String::new());
                return;
            }
            let mut child = std::process::Command::new(std::env::current_exe().unwrap())
                .args([name, "--exact", "--nocapture", "--test-threads=1", "-q"])
                .env(ROLE, "1")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            if !fits(child.id()) {
                child.kill().unwrap();
                child.wait().unwrap();
                return;
            }
            let owner: u64 = BufReader::new(child.stdout.take().unwrap())
                .lines()
                .map(Result::unwrap)
                .find_map(|l| l.strip_prefix("@owner ").map(|w| w.parse().unwrap()))
                .expect("the child reports its owner word");
            assert_eq!(decode(owner).0, child.id());
            assert_eq!(owner_state(owner, proc_stat), Liveness::Alive);
            child.kill().unwrap();
            child.wait().unwrap();
            assert_eq!(owner_state(owner, proc_stat), Liveness::Dead);
        }

        /// The pid of a live process with a start time that is not the
        /// recorded one: what a reused pid looks like. Never taken for the
        /// owner.
        #[test]
        fn reused_pid_is_not_the_owner() {
            let mut child = spawn_sleeper();
            if !fits(child.id()) {
                child.kill().unwrap();
                child.wait().unwrap();
                return;
            }
            let (pid, serial, tag) = decode(owner_of(&child));
            let stale = encode(pid, serial, tag.wrapping_sub(1).max(1));
            assert_eq!(owner_state(stale, proc_stat), Liveness::Dead);
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}
