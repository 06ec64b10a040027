//! The sync primitives across real processes: each test re-runs this binary
//! as child processes (see `common`), which open the same segment by name and
//! borrow the primitive in place.
//!
//! Not built under `cfg(loom)`, where the types are loom-backed and have no
//! in-place form.
#![cfg(not(loom))]

mod common;

use std::time::{Duration, Instant};

use common::{hear, role, say, unique, Child, KillOnDrop};
use shmkit::sync::{Event, EventMode, Mutex, SeqLock, TryLockError, WriterStatus};
use shmkit::{Error, Segment};

/// A 4 KiB payload: 512 words that a writer always sets all equal.
type Page = [u64; 512];

/// The `Mutex<u64>` at offset 0 of `seg`.
fn mutex(seg: &Segment) -> &Mutex<u64> {
    assert!(seg.len() >= std::mem::size_of::<Mutex<u64>>());
    // SAFETY:
    // - offset 0 of a mapping is page-aligned, so 8-aligned, and the segment
    //   holds at least `size_of::<Mutex<u64>>()` bytes (asserted), mapped for
    //   as long as `seg` is borrowed;
    // - the segment was created zero-filled (an unlocked mutex) and every
    //   process in these tests uses offset 0 only as this `Mutex<u64>`.
    unsafe { Mutex::from_ptr(seg.as_ptr()) }
}

/// The `SeqLock<Page>` at offset 0 of `seg`.
fn seqlock(seg: &Segment) -> &SeqLock<Page> {
    assert!(seg.len() >= std::mem::size_of::<SeqLock<Page>>());
    // SAFETY: as in `mutex`: page-aligned, large enough (asserted), mapped
    // while `seg` is borrowed, zero-filled, used only as this seqlock.
    unsafe { SeqLock::from_ptr(seg.as_ptr()) }
}

/// The two `Event`s (ping, pong) at offsets 0 and 8 of `seg`.
fn events(seg: &Segment) -> (&Event, &Event) {
    assert!(seg.len() >= 16);
    // SAFETY: offsets 0 and 8 of a page-aligned mapping are 8-aligned, the
    // 16 bytes are within the segment (asserted) and mapped while `seg` is
    // borrowed, zero-filled (unsignalled auto-reset events), and used only as
    // these two events.
    unsafe {
        (
            Event::from_ptr(seg.as_ptr()),
            Event::from_ptr(seg.as_ptr().add(8)),
        )
    }
}

fn open(name: &str) -> Segment {
    Segment::open(name).unwrap()
}

/// What a child does, by role. Every test calls this first.
fn child(role: &str, args: &[String]) {
    match role {
        "increment" => {
            let seg = open(&args[0]);
            let m = mutex(&seg);
            let n: u64 = args[1].parse().unwrap();
            say("ready");
            assert_eq!(hear(), "go");
            for _ in 0..n {
                *m.lock().unwrap() += 1;
            }
            say("done");
        }
        "hold" => {
            let seg = open(&args[0]);
            let mut g = mutex(&seg).lock().unwrap();
            *g = 1234;
            say("locked");
            hear(); // killed while waiting here
            unreachable!("the parent kills this process");
        }
        "hold-then-release" => {
            let seg = open(&args[0]);
            let mut g = mutex(&seg).lock().unwrap();
            *g = 77;
            say("locked");
            assert_eq!(hear(), "unlock");
            drop(g);
            say("unlocked");
            hear(); // stay alive until the parent is done
        }
        "wait" => {
            let seg = open(&args[0]);
            let m = mutex(&seg);
            say("waiting");
            let mut g = match m.lock() {
                Err(died) => died.owner_died().expect("a dead owner").into_inner(),
                Ok(g) => panic!("got a clean lock with {}", *g),
            };
            say(&format!("owner died, value {}", *g));
            *g += 1;
            drop(g); // unlocked without repair: the next locker is warned too
            let mut g = match m.try_lock() {
                Err(TryLockError::OwnerDied(died)) => died.into_inner(),
                other => panic!("expected the warning again, got {other:?}"),
            };
            g.mark_consistent();
            drop(g);
            say(&format!("repaired, value {}", *m.lock().unwrap()));
        }
        "seq-writer" => {
            let seg = open(&args[0]);
            let s = seqlock(&seg);
            let mut w = s.writer().unwrap();
            say("writing");
            // Until killed; but never outlive a parent that failed by much.
            let start = Instant::now();
            for i in 1u64.. {
                w.write(&[i; 512]);
                if i % 1024 == 0 && start.elapsed() > Duration::from_secs(60) {
                    panic!("the parent never killed this writer");
                }
            }
        }
        "pong" => {
            let seg = open(&args[0]);
            let (ping, pong) = events(&seg);
            let rounds: u32 = args[1].parse().unwrap();
            say("ready");
            for _ in 0..rounds {
                assert!(
                    ping.wait_timeout(Duration::from_secs(10)).unwrap(),
                    "lost ping"
                );
                pong.notify_one().unwrap();
            }
            say("done");
        }
        "gate" => {
            let seg = open(&args[0]);
            let (gate, _) = events(&seg);
            say("waiting");
            assert!(
                gate.wait_timeout(Duration::from_secs(10)).unwrap(),
                "gate never opened"
            );
            say("through");
        }
        other => panic!("unknown role {other}"),
    }
}

/// The counting test: 4 processes × 100,000 increments under the
/// mutex give exactly 400,000.
#[test]
fn mutex_four_processes_count_exactly() {
    if let Some((r, args)) = role() {
        return child(&r, &args);
    }
    const PROCS: usize = 4;
    const N: u64 = 100_000;
    let name = unique("mutex-count");
    let seg = Segment::create(&name, 4096).unwrap();
    let mut kids: Vec<Child> = (0..PROCS)
        .map(|_| {
            Child::spawn(
                "mutex_four_processes_count_exactly",
                "increment",
                &[&name, &N.to_string()],
            )
        })
        .collect();
    for k in &mut kids {
        assert_eq!(k.recv(), "ready");
    }
    for k in &mut kids {
        k.send("go");
    }
    for k in &mut kids {
        assert_eq!(k.recv(), "done");
    }
    for k in kids {
        k.wait_ok();
    }
    assert_eq!(*mutex(&seg).lock().unwrap(), PROCS as u64 * N);
}

/// A holder is killed with SIGKILL while another process is blocked in
/// `lock`: the waiter gets the owner-died guard within a second, with the
/// data still there, and the warning stays until it is repaired.
#[test]
fn mutex_owner_killed_wakes_blocked_waiter_with_owner_died() {
    if let Some((r, args)) = role() {
        return child(&r, &args);
    }
    let name = unique("mutex-kill");
    let seg = Segment::create(&name, 4096).unwrap();
    let test = "mutex_owner_killed_wakes_blocked_waiter_with_owner_died";
    let mut holder = Child::spawn(test, "hold", &[&name]);
    assert_eq!(holder.recv(), "locked");
    // A live owner in another process is recognised as alive: each try_lock
    // asks the OS. (try_lock never sets WAITERS, which the wait below uses.)
    for _ in 0..5 {
        assert!(matches!(
            mutex(&seg).try_lock(),
            Err(TryLockError::WouldBlock)
        ));
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut waiter = Child::spawn(test, "wait", &[&name]);
    assert_eq!(waiter.recv(), "waiting");
    // The waiter sets the WAITERS bit (bit 31) just before it sleeps.
    let mut word = [0u8; 8];
    let since = Instant::now();
    loop {
        seg.read_at(0, &mut word).unwrap();
        if u64::from_ne_bytes(word) & (1 << 31) != 0 {
            break;
        }
        assert!(
            since.elapsed() < Duration::from_secs(60),
            "waiter never blocked"
        );
        std::thread::yield_now();
    }
    let killed = Instant::now();
    holder.kill9();
    assert_eq!(waiter.recv(), "owner died, value 1234");
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(1), "waiter woke after {took:?}");
    assert_eq!(waiter.recv(), "repaired, value 1235");
    waiter.wait_ok();
    assert_eq!(*mutex(&seg).lock().unwrap(), 1235);
}

/// An owner in another process that is alive, holding the lock for longer
/// than the death-check interval, is never taken for dead.
#[test]
fn mutex_live_owner_in_other_process_is_not_taken_over() {
    if let Some((r, args)) = role() {
        return child(&r, &args);
    }
    let name = unique("mutex-live");
    let seg = Segment::create(&name, 4096).unwrap();
    let m = mutex(&seg);
    let mut holder = Child::spawn(
        "mutex_live_owner_in_other_process_is_not_taken_over",
        "hold-then-release",
        &[&name],
    );
    assert_eq!(holder.recv(), "locked");
    // 350 ms spans three death checks (one per 100 ms).
    assert!(matches!(
        m.lock_timeout(Duration::from_millis(350)),
        Err(TryLockError::TimedOut { .. })
    ));
    holder.send("unlock");
    assert_eq!(holder.recv(), "unlocked");
    assert_eq!(*m.lock().unwrap(), 77);
    holder.wait_ok();
}

/// A writer in another process loops over a 4 KiB payload of equal words; no
/// read ever returns a copy whose words differ. Then the writer is killed,
/// most likely in the middle of a write: readers still get consistent values
/// and a new writer takes over.
#[test]
fn seqlock_4k_payload_is_never_torn_and_survives_writer_kill() {
    if let Some((r, args)) = role() {
        return child(&r, &args);
    }
    let name = unique("seq-torn");
    let seg = Segment::create(&name, std::mem::size_of::<SeqLock<Page>>()).unwrap();
    let s = seqlock(&seg);
    let writer = Child::spawn(
        "seqlock_4k_payload_is_never_torn_and_survives_writer_kill",
        "seq-writer",
        &[&name],
    );
    let mut writer = KillOnDrop(Some(writer));
    assert_eq!(writer.get().recv(), "writing");
    // Read while the writer loops: 20,000 reads, or as many as 30 s allow
    // (a sanitizer build copies 4 KiB slowly), as long as they saw at least
    // 100 different values, so that they really raced the writer.
    let (mut reads, mut distinct, mut last) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    while distinct < 100 || (reads < 20_000 && start.elapsed() < Duration::from_secs(30)) {
        let v = s.read();
        assert!(v.iter().all(|&x| x == v[0]), "torn copy accepted");
        assert!(v[0] >= last, "went back from {last} to {}", v[0]);
        distinct += u64::from(v[0] != last);
        last = v[0];
        reads += 1;
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "only {distinct} values in {reads} reads"
        );
    }
    writer.kill9();
    let v = s.read();
    assert!(v.iter().all(|&x| x == v[0]));
    assert!(v[0] >= last);
    match s.read_checked() {
        Ok(w) => assert_eq!(w, v),
        Err(Error::WriterDied) => {}
        Err(e) => panic!("{e}"),
    }
    assert_eq!(s.writer_status(), WriterStatus::Died);
    let mut w = s.writer().unwrap();
    assert_eq!(s.read(), v, "takeover keeps the last good value");
    w.write(&[u64::MAX; 512]);
    assert_eq!(s.read_checked().unwrap(), [u64::MAX; 512]);
}

/// Two processes bounce two events 10,000 times; a lost wake-up would stall
/// a side (each wait gives up after 10 s and fails the test).
#[test]
fn event_ping_pong_between_processes() {
    if let Some((r, args)) = role() {
        return child(&r, &args);
    }
    const ROUNDS: u32 = 10_000;
    let name = unique("event-pp");
    let seg = Segment::create(&name, 4096).unwrap();
    let (ping, pong) = events(&seg);
    let mut peer = Child::spawn(
        "event_ping_pong_between_processes",
        "pong",
        &[&name, &ROUNDS.to_string()],
    );
    assert_eq!(peer.recv(), "ready");
    for i in 0..ROUNDS {
        ping.notify_one().unwrap();
        assert!(
            pong.wait_timeout(Duration::from_secs(10)).unwrap(),
            "lost pong {i}"
        );
    }
    assert_eq!(peer.recv(), "done");
    peer.wait_ok();
}

/// A manual-reset event set once lets every waiting process through, and
/// stays set for late arrivals.
#[test]
fn event_manual_reset_releases_every_process() {
    if let Some((r, args)) = role() {
        return child(&r, &args);
    }
    let name = unique("event-gate");
    let seg = Segment::create(&name, 4096).unwrap();
    let (gate, _) = events(&seg);
    gate.set_mode(EventMode::ManualReset);
    let mut kids: Vec<Child> = (0..3)
        .map(|_| {
            Child::spawn(
                "event_manual_reset_releases_every_process",
                "gate",
                &[&name],
            )
        })
        .collect();
    for k in &mut kids {
        assert_eq!(k.recv(), "waiting");
    }
    gate.notify_all().unwrap();
    for k in &mut kids {
        assert_eq!(k.recv(), "through");
    }
    for k in kids {
        k.wait_ok();
    }
    gate.wait().unwrap(); // still set
    gate.reset().unwrap();
    assert!(!gate.wait_timeout(Duration::from_millis(1)).unwrap());
}

/// A typed struct made of sync types, shared with `Shared<T>` (no `unsafe`
/// in user code): the layout is checked on open, and the types work in place
/// across processes.
mod typed {
    use super::*;
    use shmkit::Shared;

    #[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
    #[repr(C)]
    pub struct Point {
        pub x: f64,
        pub y: f64,
    }

    #[derive(shmkit::Layout)]
    #[shmkit(in_place)]
    #[repr(C)]
    pub struct Board {
        pub count: Mutex<u64>,
        pub pos: SeqLock<Point>,
        pub done: Event,
    }

    #[test]
    fn sync_types_live_in_a_typed_segment() {
        const N: u64 = 10_000;
        if let Some((_, args)) = role() {
            let board = Shared::<Board>::open(&args[0]).unwrap();
            let b = board.get();
            for _ in 0..N {
                *b.count.lock().unwrap() += 1;
            }
            say(&format!("{:?}", b.pos.read()));
            b.done.notify_one().unwrap();
            return;
        }
        let name = unique("board");
        let board = Shared::<Board>::create(&name).unwrap();
        let b = board.get();
        b.pos.writer().unwrap().write(&Point { x: 1.5, y: -2.0 });
        let mut child = Child::spawn(
            "typed::sync_types_live_in_a_typed_segment",
            "adder",
            &[&name],
        );
        for _ in 0..N {
            *b.count.lock().unwrap() += 1;
        }
        assert_eq!(child.recv(), "Point { x: 1.5, y: -2.0 }");
        assert!(b.done.wait_timeout(Duration::from_secs(10)).unwrap());
        child.wait_ok();
        assert_eq!(*b.count.lock().unwrap(), 2 * N);
        // The stored layout names the sync types and their parts.
        let (_, ty) = shmkit::header::read_header(board.segment()).unwrap();
        let leaves: Vec<String> = ty.leaves(4).into_iter().map(|l| l.path).collect();
        assert!(leaves.contains(&"count.word".to_string()), "{leaves:?}");
        assert!(leaves.contains(&"pos.slots[1].y".to_string()), "{leaves:?}");
        assert!(leaves.contains(&"done.state".to_string()), "{leaves:?}");
    }
}
