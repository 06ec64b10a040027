//! Faults across real processes (issue #9):
//!
//! - **the kill table**: for every failpoint the library has (listed in
//!   `src/failpoint.rs`), a child process runs to that point and is killed
//!   there with `kill -9`; the survivors must recover exactly as documented;
//! - **random kills**: for each protocol (typed init, mutex, seqlock, event,
//!   SPSC, MPMC, broadcast), a busy child killed at seeded random moments,
//!   the invariant checked after each kill (`SHMKIT_FAULT_ROUNDS=N` rounds
//!   per protocol, default 20; `SHMKIT_FAULT_SEED` to replay a run);
//! - **the scribbler**: a process writing seeded random bytes over live
//!   segments, header, lock words, indices and payload alike, and (Linux)
//!   cutting their files short and growing them back now and then, while
//!   other processes use them through every API; none may panic, crash,
//!   end by a signal or hang (`SHMKIT_SCRIBBLE_SEEDS=N` seeds, default 8).
//!
//! One test runs the scribbler, the truncation table (`truncate.rs`,
//! compiled in here as module `truncate` for it; its cases take under a
//! second) and the kill table, and asserts that no process they started
//! ended by a signal, but for the `SIGKILL`s the kill table sends.
//!
//! Every child is a re-run of this test binary (see `common`).
#![cfg(not(loom))]
#![allow(missing_docs)] // test types

mod common;
// `truncate.rs` brings its own copy of `common`: the children it reaps are
// recorded there.
#[cfg(target_os = "linux")]
#[path = "truncate.rs"]
#[allow(clippy::duplicate_mod)]
mod truncate;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{env_count, hear, mix, role, say, unique, Child, KillOnDrop, QueueCleanup, XorShift};
use shmkit::broadcast::{Publisher, Subscriber};
use shmkit::queue::spsc::{Consumer, Producer};
use shmkit::queue::{mpmc, Options, Peer, Receiver, Sender};
use shmkit::sync::{Event, LockError, Mutex, SeqLock, TryLockError, WriterStatus};
use shmkit::{Error, Segment, Shared};

/// A 256-byte record whose words all follow from its id, so that a torn one
/// shows.
#[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct Rec {
    pub id: u64,
    pub words: [u64; 31],
}

fn rec(id: u64) -> Rec {
    Rec {
        id,
        words: [mix(id); 31],
    }
}

fn whole(r: &Rec) -> bool {
    r.words.iter().all(|&w| w == mix(r.id))
}

/// The sync types together in one typed segment.
#[derive(shmkit::Layout)]
#[shmkit(in_place)]
#[repr(C)]
pub struct Board {
    pub lock: Mutex<[u64; 8]>,
    pub seq: SeqLock<[u64; 64]>,
    pub ping: Event,
    pub pong: Event,
}

/// Message `i` of stream `stream`: 8 to 3000 bytes, starting with `i`, the
/// rest following from both.
fn message(stream: u64, i: u64) -> Vec<u8> {
    let h = mix(stream << 40 ^ i);
    let len = 8 + (h % 2993) as usize;
    let mut v = i.to_le_bytes().to_vec();
    let mut k = 0u64;
    while v.len() < len {
        k += 1;
        v.extend_from_slice(&(h.wrapping_add(k)).to_le_bytes());
    }
    v.truncate(len);
    v
}

/// The number a [`message`] starts with, if it is exactly that message.
fn message_id(stream: u64, m: &[u8]) -> Option<u64> {
    let i = u64::from_le_bytes(m.get(..8)?.try_into().unwrap());
    (m == message(stream, i)).then_some(i)
}

/// An MPMC message: 8 to 99 bytes of [`message`].
fn mpmc_message(stream: u64, i: u64) -> Vec<u8> {
    let mut m = message(stream, i);
    m.truncate(8.max(i as usize % 100));
    m
}

fn board(name: &str) -> Shared<Board> {
    Shared::<Board>::open(name).unwrap()
}

/// Spawns test `test` in `role`, to be stopped at `point` (`NAME` or
/// `NAME@N`).
fn spawn_at(test: &str, role: &str, args: &[&str], point: &str) -> KillOnDrop {
    let mut cmd = common::command(test, role, args);
    cmd.env("SHMKIT_FAILPOINT", point);
    KillOnDrop(Some(Child::start(cmd)))
}

fn spawn(test: &str, role: &str, args: &[&str]) -> KillOnDrop {
    KillOnDrop(Some(Child::spawn(test, role, args)))
}

/// Waits until `child` announces it stopped at `point`, then kills it.
fn kill_at(mut child: KillOnDrop, point: &str) {
    let bare = point.split('@').next().unwrap();
    assert_eq!(child.get().recv(), format!("failpoint {bare}"));
    child.kill9();
}

/// A queue's options with its name kept after its creator's handle drops:
/// `persist` on POSIX; on Windows the parent keeps a handle open instead.
fn kept() -> Options {
    Options::default().persist(cfg!(unix))
}

// ---------------------------------------------------------------------------
// Child roles.
// ---------------------------------------------------------------------------

/// What a child does, by role. Every test calls this first.
fn child(role: &str, args: &[String]) {
    let name = args.first().map(String::as_str).unwrap_or("");
    let num = |i: usize| -> u64 { args[i].parse().unwrap() };
    match role {
        // --- create → initialise → ready
        "seg-create" => {
            let r = Segment::create(name, 4096);
            unreachable!("a failpoint stops creation: {r:?}");
        }
        "shared-create" => {
            let r = Shared::<Rec>::create_with(name, rec(7)).map(drop);
            unreachable!("a failpoint stops creation: {r:?}");
        }
        "queue-create" => {
            let r = match args[1].as_str() {
                "spsc" => Consumer::create(name, 4096).map(drop),
                "channel" => Receiver::<Rec>::create(name, 4).map(drop),
                "mpmc" => mpmc::Consumer::create(name, 4, 64).map(drop),
                _ => Publisher::create(name, 4, 64).map(drop),
            };
            unreachable!("a failpoint stops creation: {r:?}");
        }
        // --- lock → write → unlock
        "mutex-hold" => {
            let b = board(name);
            let mut g = match b.get().lock.lock() {
                Ok(g) => g,
                Err(died) => died.owner_died().expect("a dead owner").into_inner(),
            };
            let k = g[0] + 1;
            g.iter_mut().for_each(|w| *w = k);
            drop(g);
            unreachable!("a failpoint stops this holder");
        }
        "mutex-repair" => {
            let b = board(name);
            let mut g = b
                .get()
                .lock
                .lock()
                .unwrap_err()
                .owner_died()
                .expect("a dead owner")
                .into_inner();
            g.iter_mut().for_each(|w| *w = 9);
            g.mark_consistent();
            unreachable!("a failpoint stops this repairer");
        }
        "seq-write" => {
            let b = board(name);
            let mut w = b.get().seq.writer().unwrap();
            w.write(&[1; 64]);
            w.write(&[2; 64]);
            unreachable!("a failpoint stops the second write");
        }
        "seq-takeover" => {
            let b = board(name);
            let r = b.get().seq.writer().map(drop);
            unreachable!("a failpoint stops the takeover: {r:?}");
        }
        "event-wait" => {
            let b = board(name);
            say("waiting");
            let woke = b.get().ping.wait_timeout(Duration::from_secs(30)).unwrap();
            say(&format!("woke {woke}"));
            hear();
        }
        "event-wait-forever" => {
            let b = board(name);
            say("waiting");
            b.get().ping.wait().unwrap();
            say("woke");
            hear();
        }
        "event-notify" => {
            board(name).get().ping.notify_one().unwrap();
            unreachable!("a failpoint stops the notify");
        }
        // --- reserve → write → commit
        "spsc-send" => {
            // `count` whole messages, then one a failpoint may stop.
            let mut tx = Producer::open(name).unwrap();
            let (stream, count) = (num(1), num(2));
            for i in 0..count {
                tx.send(&message(stream, i)).unwrap();
            }
            say("sent");
            let last = message(stream, count);
            if args.get(3).is_some_and(|a| a == "grant") {
                // In place: reserve, write_at, commit.
                let mut g = tx.reserve(last.len()).unwrap();
                g.write_at(0, &last).unwrap();
                g.commit().unwrap();
            } else {
                tx.send(&last).unwrap();
            }
            say("done");
            hear();
        }
        "spsc-recv" => {
            // `take` messages by copy, then one in place (a failpoint may
            // stop its release).
            let mut rx = Consumer::open(name).unwrap();
            for _ in 0..num(1) {
                let m = rx.recv().unwrap();
                say(&format!("got {}", message_id(0, &m).unwrap()));
            }
            let m = rx.read().unwrap();
            let mut head = [0u8; 8];
            m.read_at(0, &mut head).unwrap();
            say(&format!("reading {}", u64::from_le_bytes(head)));
            m.release();
            say("released");
            hear();
        }
        "chan-send" => {
            let mut tx = Sender::<Rec>::open(name).unwrap();
            let (first, count) = (num(1), num(2));
            for i in first..first + count {
                tx.send(&rec(i)).unwrap();
            }
            say("sent");
            tx.send(&rec(first + count)).unwrap();
            say("done");
            hear();
        }
        "chan-recv" => {
            let mut rx = Receiver::<Rec>::open(name).unwrap();
            for _ in 0..num(1) {
                let r = rx.recv().unwrap();
                assert!(whole(&r));
                say(&format!("got {}", r.id));
            }
            say("done");
            hear();
        }
        "mpmc-send" => {
            let mut tx = mpmc::Producer::open(name).unwrap();
            say("attached");
            let (count, first) = (num(1), num(2) as u8);
            for i in first..first + count as u8 {
                tx.send(&[i; 100]).unwrap();
            }
            say("sent");
            hear();
        }
        "mpmc-recv" => {
            let mut rx = mpmc::Consumer::open(name).unwrap();
            say("attached");
            for _ in 0..num(1) {
                let m = rx.recv().unwrap();
                assert!(m.iter().all(|&b| b == m[0]), "torn");
                say(&format!("got {}", m[0]));
            }
            hear();
        }
        "bc-send" => {
            let mut tx = Publisher::open(name).unwrap();
            let (first, count) = (num(1), num(2));
            for i in first..first + count {
                tx.send(&message(0, i)).unwrap();
            }
            say("sent");
            tx.send(&message(0, first + count)).unwrap();
            say("done");
            hear();
        }
        // --- busy loops for the random kills
        r if r.starts_with("loop-") => busy_loop(r, name, args),
        // --- users and scribbler
        "scribbler" => scribble(name, num(1)),
        r if r.starts_with("use-") => {
            let summary = use_api(r, name, num(1));
            say(&format!("ok {summary}"));
        }
        other => panic!("unknown role {other}"),
    }
}

// ---------------------------------------------------------------------------
// The kill table.
// ---------------------------------------------------------------------------

/// What the killed process was doing, and so what the survivors check.
#[derive(Clone, Copy, Debug)]
enum Scenario {
    /// `Segment::create`: the name, then its size.
    SegmentCreate,
    /// `Shared::<Rec>::create_with`: header, value, "ready".
    SharedCreate,
    /// Creating each kind of queue (SPSC, channel, MPMC, broadcast).
    QueueCreate,
    /// A mutex holder writes all eight words, then unlocks.
    MutexHolder,
    /// A second holder takes over from a dead one.
    MutexTakeover,
    /// A second holder repairs and marks consistent, then unlocks.
    MutexRepair,
    /// A seqlock writer's second write.
    SeqWriter,
    /// A new writer takes over from one that died mid-write.
    SeqTakeover,
    /// An event waiter, killed while waiting.
    EventWaiter,
    /// An event waiter, killed having consumed the signal.
    EventConsumer,
    /// A notifier, killed inside `notify_one` with a waiter asleep.
    EventNotifier,
    /// An SPSC producer's sixth message, by `send`.
    SpscProducer,
    /// An SPSC producer's sixth message, in place (`reserve`, `write_at`,
    /// `commit`).
    SpscGrant,
    /// An SPSC consumer's third message, read in place.
    SpscConsumer,
    /// A typed-channel sender's sixth value.
    ChannelSender,
    /// A typed-channel receiver's third value.
    ChannelReceiver,
    /// An MPMC producer's fourth message.
    MpmcProducer,
    /// An MPMC consumer's second message.
    MpmcConsumer,
    /// A broadcast publisher's sixth message.
    BroadcastPublisher,
}

use Scenario::*;

/// Every failpoint, with what a process killed there was doing. A point may
/// appear under several scenarios (the typed channel's steps are the SPSC
/// queue's).
const KILL_TABLE: &[(&str, Scenario)] = &[
    ("segment-after-name", SegmentCreate),
    ("segment-after-size", SegmentCreate),
    ("shared-before-header", SharedCreate),
    ("shared-before-value", SharedCreate),
    ("shared-before-ready", SharedCreate),
    ("queue-before-ready", QueueCreate),
    ("mutex-after-lock", MutexHolder),
    ("mutex-before-unlock", MutexHolder),
    ("mutex-after-takeover", MutexTakeover),
    ("mutex-mark-consistent", MutexRepair),
    ("seqlock-after-claim", SeqTakeover),
    ("seqlock-mid-repair", SeqTakeover),
    ("seqlock-after-odd", SeqWriter),
    ("seqlock-mid-copy", SeqWriter),
    ("seqlock-before-even", SeqWriter),
    ("event-after-register", EventWaiter),
    ("event-after-consume", EventConsumer),
    ("event-before-wake", EventNotifier),
    ("spsc-after-reserve", SpscProducer),
    ("spsc-mid-write", SpscProducer),
    ("spsc-before-commit", SpscProducer),
    ("spsc-after-commit", SpscProducer),
    ("spsc-before-notify", SpscProducer),
    ("spsc-after-reserve", SpscGrant),
    ("spsc-mid-write", SpscGrant),
    ("spsc-before-commit", SpscGrant),
    ("spsc-after-commit", SpscGrant),
    ("spsc-before-notify", SpscGrant),
    ("spsc-before-release", SpscConsumer),
    ("spsc-after-release", SpscConsumer),
    ("spsc-mid-write", ChannelSender),
    ("spsc-after-commit", ChannelSender),
    ("spsc-before-release", ChannelReceiver),
    ("mpmc-after-claim", MpmcProducer),
    ("mpmc-mid-write", MpmcProducer),
    ("mpmc-before-publish", MpmcProducer),
    ("mpmc-after-take", MpmcConsumer),
    ("mpmc-before-release", MpmcConsumer),
    ("broadcast-after-odd", BroadcastPublisher),
    ("broadcast-mid-write", BroadcastPublisher),
    ("broadcast-before-even", BroadcastPublisher),
    ("broadcast-before-next", BroadcastPublisher),
];

/// The library sources that mark failpoints.
const SOURCES: &[&str] = &[
    include_str!("../src/os/unix.rs"),
    include_str!("../src/os/windows.rs"),
    include_str!("../src/shared.rs"),
    include_str!("../src/queue/region.rs"),
    include_str!("../src/queue/spsc.rs"),
    include_str!("../src/queue/mpmc.rs"),
    include_str!("../src/queue/channel.rs"),
    include_str!("../src/broadcast.rs"),
    include_str!("../src/sync/mutex.rs"),
    include_str!("../src/sync/seqlock.rs"),
    include_str!("../src/sync/event.rs"),
    include_str!("../src/segment.rs"),
];

/// The points the code marks (`hit("NAME")`) and the ones the list in
/// `failpoint.rs` documents.
fn points_in_code_and_docs() -> (BTreeSet<String>, BTreeSet<String>) {
    let mut code = BTreeSet::new();
    for src in SOURCES {
        for part in src.split("failpoint::hit(\"").skip(1) {
            code.insert(part.split('"').next().unwrap().to_owned());
        }
    }
    let mut docs = BTreeSet::new();
    for line in include_str!("../src/failpoint.rs").lines() {
        if let Some(rest) = line.strip_prefix("//! | `") {
            docs.insert(rest.split('`').next().unwrap().to_owned());
        }
    }
    (code, docs)
}

/// The table, the code and the documented list name the same points.
#[test]
fn kill_table_covers_every_failpoint() {
    let (code, docs) = points_in_code_and_docs();
    let table: BTreeSet<String> = KILL_TABLE.iter().map(|(p, _)| p.to_string()).collect();
    assert_eq!(code, docs, "failpoints in the code vs failpoint.rs's list");
    assert_eq!(table, docs, "the kill table vs failpoint.rs's list");
    assert!(code.len() >= 30, "{code:?}");
}

#[test]
fn kill_at_every_failpoint_and_survivors_recover_as_documented() {
    if let Some((r, args)) = role() {
        return child(&r, &args);
    }
    let start = Instant::now();
    let mut ran = 0;
    for &(point, scenario) in KILL_TABLE {
        if cfg!(windows) && point == "segment-after-name" {
            // Windows names and sizes a mapping in one call: no such point.
            continue;
        }
        let t = Instant::now();
        run_case(point, scenario);
        eprintln!("{point} ({scenario:?}): recovered in {:?}", t.elapsed());
        ran += 1;
    }
    eprintln!("{ran} kills in {:?}", start.elapsed());
}

const TABLE_TEST: &str = "kill_at_every_failpoint_and_survivors_recover_as_documented";

/// The creator of an MPMC queue leaving while other endpoints live does not
/// take their id lock files with it: a producer that first probes a
/// consumer's id afterwards still finds it alive, and leaves the slot it is
/// reading alone (the queue is full), until it is killed (then the slot is
/// freed for the next lap). Lock files removed under a live holder read as
/// its death: the producer used to overwrite the slot the consumer was
/// still copying out. (POSIX: Windows' liveness objects go with their last
/// handle.)
#[cfg(unix)]
#[test]
fn mpmc_creator_leaving_keeps_the_ids_of_live_endpoints_alive() {
    const TEST: &str = "mpmc_creator_leaving_keeps_the_ids_of_live_endpoints_alive";
    if let Some((r, args)) = role() {
        return child(&r, &args);
    }
    let name = unique("k-mpmc-creator");
    let _c = QueueCleanup(name.clone());
    let creator = mpmc::Consumer::create(&name, 2, 100).unwrap();
    let mut tx = mpmc::Producer::open(&name).unwrap();
    // A second consumer (id 1), stopped holding its claim of message 0.
    let mut reader = spawn_at(TEST, "mpmc-recv", &[&name, "1"], "mpmc-before-release");
    assert_eq!(reader.get().recv(), "attached");
    tx.send(&[1; 100]).unwrap();
    assert_eq!(reader.get().recv(), "failpoint mpmc-before-release");
    drop(creator);
    // Message 1 takes the other slot; message 2 needs slot 0 again.
    tx.try_send(&[2; 100]).unwrap();
    let r = tx.try_send(&[3; 100]);
    assert!(
        matches!(r, Err(Error::Full { .. })),
        "the live consumer's slot was taken: {r:?}"
    );
    reader.kill9();
    tx.try_send(&[3; 100]).unwrap();
}

fn run_case(point: &str, scenario: Scenario) {
    let t = TABLE_TEST;
    match scenario {
        SegmentCreate => {
            let name = unique("k-seg");
            let _c = common::Cleanup(name.clone());
            kill_at(spawn_at(t, "seg-create", &[&name], point), point);
            let short = |o: &mut shmkit::SegmentOptions| {
                o.timeout(Duration::from_millis(200));
            };
            let mut opts = Segment::options();
            short(&mut opts);
            if cfg!(windows) {
                // The mapping died with its only handle.
                assert!(matches!(opts.open(&name), Err(Error::NotFound { .. })));
            } else if point == "segment-after-name" {
                // Never sized, and the creator's liveness lock is gone with
                // it: an opener gives up long before its 5 s default timeout.
                if cfg!(target_os = "linux") {
                    let t = Instant::now();
                    let err = Segment::open(&name).unwrap_err();
                    assert!(matches!(err, Error::Empty { .. }), "{point}: {err}");
                    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
                }
                // Where that cannot be told, openers give up after their timeout.
                let err = opts.open(&name).unwrap_err();
                assert!(matches!(err, Error::Empty { .. }), "{point}: {err}");
                assert!(err.to_string().contains("remove it"), "{err}");
                let err = Shared::<Rec>::options()
                    .timeout(Duration::from_millis(200))
                    .open(&name)
                    .map(drop)
                    .unwrap_err();
                assert!(matches!(err, Error::Empty { .. }), "{point}: {err}");
            } else {
                // Sized and zero-filled, but nobody will initialise it. Zeros
                // without a held lock are what a segment made by another
                // program holds too: not typed, not "abandoned".
                let seg = opts.open(&name).unwrap();
                assert_eq!(seg.len(), 4096);
                let mut buf = [1u8; 64];
                seg.read_at(0, &mut buf).unwrap();
                assert_eq!(buf, [0; 64]);
                let err = Shared::<Rec>::open(&name).map(drop).unwrap_err();
                assert!(matches!(err, Error::NotTyped { .. }), "{point}: {err}");
            }
            if cfg!(unix) {
                // The name stays taken until removed, then can be re-created.
                assert!(matches!(
                    Segment::create(&name, 4096),
                    Err(Error::AlreadyExists { .. })
                ));
                Segment::remove(&name).unwrap();
            }
            let seg = Segment::create(&name, 4096).unwrap();
            assert_eq!(seg.len(), 4096);
        }
        SharedCreate => {
            let name = unique("k-shared");
            let _c = common::Cleanup(name.clone());
            kill_at(spawn_at(t, "shared-create", &[&name], point), point);
            let since = Instant::now();
            let err = Shared::<Rec>::open(&name).map(drop).unwrap_err();
            if cfg!(unix) && point == "shared-before-header" {
                // Killed before the header: zeros, which an opener that never
                // saw the creator's lock held cannot tell from a segment
                // another program made.
                assert!(matches!(err, Error::NotTyped { .. }), "{point}: {err}");
                assert!(since.elapsed() < Duration::from_secs(2), "{point}: slow");
                let err = Shared::<Rec>::open_or_create(&name).map(drop).unwrap_err();
                assert!(matches!(err, Error::NotTyped { .. }), "{point}: {err}");
                Segment::remove(&name).unwrap();
            } else if cfg!(unix) {
                assert!(matches!(err, Error::InitAbandoned { .. }), "{point}: {err}");
                assert!(err.to_string().contains("remove it"), "{err}");
                assert!(since.elapsed() < Duration::from_secs(2), "{point}: slow");
                // open_or_create does not take over a half-made segment either.
                let err = Shared::<Rec>::open_or_create(&name).map(drop).unwrap_err();
                assert!(matches!(err, Error::InitAbandoned { .. }), "{point}: {err}");
                Segment::remove(&name).unwrap();
            } else {
                assert!(matches!(err, Error::NotFound { .. }), "{point}: {err}");
            }
            let s = Shared::<Rec>::create_with(&name, rec(8)).unwrap();
            assert_eq!(Shared::<Rec>::open(&name).unwrap().load().unwrap(), rec(8));
            drop(s);
        }
        QueueCreate => {
            // Every kind of queue shares the header and its "ready".
            for kind in ["spsc", "channel", "mpmc", "broadcast"] {
                let name = unique("k-queue");
                let _c = QueueCleanup(name.clone());
                kill_at(spawn_at(t, "queue-create", &[&name, kind], point), point);
                // The other end's open: abandoned, not a hang or a queue.
                let err = match kind {
                    "spsc" => Producer::open(&name).map(drop),
                    "channel" => Sender::<Rec>::open(&name).map(drop),
                    "mpmc" => mpmc::Producer::open(&name).map(drop),
                    _ => Subscriber::open(&name).map(drop),
                }
                .unwrap_err();
                if cfg!(unix) {
                    assert!(matches!(err, Error::InitAbandoned { .. }), "{kind}: {err}");
                    shmkit::queue::remove(&name).unwrap();
                } else {
                    assert!(matches!(err, Error::NotFound { .. }), "{kind}: {err}");
                }
                // Then the name can be made again, and works.
                match kind {
                    "spsc" | "channel" => {
                        let mut rx = Consumer::create(&name, 4096).unwrap();
                        Producer::open(&name).unwrap().send(b"again").unwrap();
                        assert_eq!(rx.recv().unwrap(), b"again");
                    }
                    "mpmc" => {
                        let mut rx = mpmc::Consumer::create(&name, 4, 64).unwrap();
                        mpmc::Producer::open(&name).unwrap().send(b"again").unwrap();
                        assert_eq!(rx.recv().unwrap(), b"again");
                    }
                    _ => {
                        let mut tx = Publisher::create(&name, 4, 64).unwrap();
                        let mut rx = Subscriber::open(&name).unwrap();
                        tx.send(b"again").unwrap();
                        assert_eq!(rx.recv().unwrap(), b"again");
                    }
                }
            }
        }
        MutexHolder | MutexTakeover | MutexRepair => {
            let name = unique("k-mutex");
            let b = Shared::<Board>::create(&name).unwrap();
            let m = &b.get().lock;
            // What the dead process left: untouched zeros, its whole write,
            // or the repairer's nines.
            let want = match (scenario, point) {
                (MutexHolder, "mutex-after-lock") => 0,
                (MutexHolder, _) => 1,
                (MutexTakeover, _) => 0,
                _ => 9,
            };
            match scenario {
                MutexTakeover => {
                    let p = "mutex-after-lock";
                    kill_at(spawn_at(t, "mutex-hold", &[&name], p), p);
                    kill_at(spawn_at(t, "mutex-hold", &[&name], point), point);
                }
                MutexRepair => {
                    let p = "mutex-before-unlock";
                    kill_at(spawn_at(t, "mutex-hold", &[&name], p), p);
                    kill_at(spawn_at(t, "mutex-repair", &[&name], point), point);
                }
                _ => kill_at(spawn_at(t, "mutex-hold", &[&name], point), point),
            }
            // The next locker gets the data with the warning, within a
            // death poll or two.
            let since = Instant::now();
            let g = match m.lock_timeout(Duration::from_secs(10)) {
                Err(TryLockError::OwnerDied(died)) => died.into_inner(),
                Err(TryLockError::WouldBlock | TryLockError::TimedOut { .. }) => {
                    panic!("{point}: owner death not seen")
                }
                Err(TryLockError::Lost(e)) => panic!("{point}: {e}"),
                Ok(g) => panic!("{point}: clean lock of {:?}", *g),
            };
            assert!(since.elapsed() < Duration::from_secs(2), "{point}: slow");
            assert_eq!(*g, [want; 8], "{point}: data");
            drop(g);
            // Unrepaired: the next locker is warned too; repaired: not.
            let mut g = m
                .lock()
                .unwrap_err()
                .owner_died()
                .expect("a dead owner")
                .into_inner();
            g[0] += 100;
            g.mark_consistent();
            drop(g);
            let g = m.lock().unwrap();
            assert_eq!(g[0], want + 100);
        }
        SeqWriter | SeqTakeover => {
            let name = unique("k-seq");
            let b = Shared::<Board>::create(&name).unwrap();
            let s = &b.get().seq;
            if let SeqTakeover = scenario {
                let p = "seqlock-mid-copy@2";
                kill_at(spawn_at(t, "seq-write", &[&name], p), p);
                kill_at(spawn_at(t, "seq-takeover", &[&name], point), point);
            } else {
                let mut w = spawn_at(t, "seq-write", &[&name], &format!("{point}@2"));
                assert_eq!(w.get().recv(), format!("failpoint {point}"));
                // Stopped mid-write, alive: the last good value at once, and
                // the writer role is taken.
                assert_eq!(s.read(), [1; 64], "{point}");
                assert_eq!(s.read_checked().unwrap(), [1; 64], "{point}");
                assert_eq!(s.writer_status(), WriterStatus::Alive);
                assert!(matches!(s.writer(), Err(Error::WriterBusy { .. })));
                w.kill9();
            }
            // The last good value, never the second write or a mix.
            assert_eq!(s.read(), [1; 64], "{point}");
            assert!(
                matches!(s.read_checked(), Err(Error::WriterDied)),
                "{point}"
            );
            assert_eq!(s.writer_status(), WriterStatus::Died);
            let mut w = s.writer().unwrap();
            assert_eq!(s.read_checked().unwrap(), [1; 64], "{point}");
            w.write(&[3; 64]);
            assert_eq!(s.read_checked().unwrap(), [3; 64]);
        }
        EventWaiter | EventConsumer => {
            let name = unique("k-event");
            let b = Shared::<Board>::create(&name).unwrap();
            let e = &b.get().ping;
            let mut w = spawn_at(t, "event-wait", &[&name], point);
            assert_eq!(w.get().recv(), "waiting");
            if let EventConsumer = scenario {
                e.notify_one().unwrap();
            }
            kill_at(w, point);
            if let EventConsumer = scenario {
                // The signal went to the waiter that took it, dead or not.
                assert!(!e.is_signalled());
            }
            // A dead sleeper takes no later signal: a live waiter gets it.
            let mut w = spawn(t, "event-wait", &[&name]);
            assert_eq!(w.get().recv(), "waiting");
            e.notify_one().unwrap();
            assert_eq!(w.get().recv(), "woke true", "{point}");
            w.take().wait_ok();
        }
        EventNotifier => {
            let name = unique("k-notify");
            let b = Shared::<Board>::create(&name).unwrap();
            let mut w = spawn(t, "event-wait-forever", &[&name]);
            assert_eq!(w.get().recv(), "waiting");
            // Wait until the waiter is asleep (counted in the state word).
            let at = b.data_offset() + std::mem::offset_of!(Board, ping);
            let since = Instant::now();
            loop {
                let mut word = [0u8; 4];
                b.segment().read_at(at, &mut word).unwrap();
                if u32::from_ne_bytes(word) & 0xFFFE != 0 {
                    break;
                }
                assert!(since.elapsed() < Duration::from_secs(30), "never slept");
                std::thread::sleep(Duration::from_millis(1));
            }
            kill_at(spawn_at(t, "event-notify", &[&name], point), point);
            // The signal is set, and nobody called the wake-up: the sleeper
            // must not sleep through it (it did, for ever, before the fix).
            let woke = w.get().recv_within(Duration::from_secs(2));
            assert_eq!(woke.as_deref(), Some("woke"), "{point}: waiter slept on");
            w.take().wait_ok();
        }
        SpscProducer | SpscGrant => {
            let name = unique("k-spsc");
            let _c = QueueCleanup(name.clone());
            let mut rx = Consumer::create(&name, 16 << 10).unwrap();
            let how = if let SpscGrant = scenario {
                "grant"
            } else {
                "send"
            };
            let args = [name.as_str(), "1", "5", how];
            let mut p = spawn_at(t, "spsc-send", &args, &format!("{point}@6"));
            assert_eq!(p.get().recv(), "sent");
            kill_at(p, point);
            for i in 0..5 {
                let m = rx.recv().unwrap();
                assert_eq!(message_id(1, &m), Some(i), "{point}");
            }
            if matches!(point, "spsc-after-commit" | "spsc-before-notify") {
                // Committed before the crash: delivered, once.
                let m = rx.recv().unwrap();
                assert_eq!(message_id(1, &m), Some(5), "{point}");
            }
            // Nothing partial, and the death is reported instead of a hang.
            let since = Instant::now();
            let r = rx.recv_timeout(Duration::from_secs(10));
            assert!(
                matches!(
                    r,
                    Err(Error::PeerDied {
                        peer: "producer",
                        ..
                    })
                ),
                "{point}: {r:?}"
            );
            assert!(since.elapsed() < Duration::from_secs(5));
            assert_eq!(rx.peer(), Peer::Died);
            // A new producer attaches and goes on where the dead one stopped.
            let mut next = spawn(t, "spsc-send", &[&name, "2", "7"]);
            assert_eq!(next.get().recv(), "sent");
            assert_eq!(next.get().recv(), "done");
            for i in 0..8 {
                let m = rx.recv().unwrap();
                assert_eq!(message_id(2, &m), Some(i), "after {point}");
            }
            next.take().wait_ok();
            assert!(matches!(rx.recv(), Err(Error::Closed { .. })));
        }
        SpscConsumer => {
            let name = unique("k-spscc");
            let _c = QueueCleanup(name.clone());
            let mut tx = Producer::create(&name, 64 << 10).unwrap();
            for i in 0..10 {
                tx.send(&message(0, i)).unwrap();
            }
            // Takes 0 and 1 by copy, reads 2 in place, dies at its release.
            let mut c = spawn_at(t, "spsc-recv", &[&name, "2"], &format!("{point}@3"));
            assert_eq!(c.get().recv(), "got 0");
            assert_eq!(c.get().recv(), "got 1");
            assert_eq!(c.get().recv(), "reading 2");
            kill_at(c, point);
            assert_eq!(tx.peer(), Peer::Died);
            // Unreleased: delivered again; released: gone.
            let first = if point == "spsc-before-release" { 2 } else { 3 };
            let mut c = spawn(t, "spsc-recv", &[&name, "3"]);
            for i in first..first + 3 {
                assert_eq!(c.get().recv(), format!("got {i}"), "{point}");
            }
            assert_eq!(c.get().recv(), format!("reading {}", first + 3));
            assert_eq!(c.get().recv(), "released");
            c.take().wait_ok();
        }
        ChannelSender => {
            let name = unique("k-chan");
            let _c = QueueCleanup(name.clone());
            let mut rx = Receiver::<Rec>::create(&name, 16).unwrap();
            let mut p = spawn_at(t, "chan-send", &[&name, "0", "5"], &format!("{point}@6"));
            assert_eq!(p.get().recv(), "sent");
            kill_at(p, point);
            for i in 0..5 {
                assert_eq!(rx.recv().unwrap(), rec(i), "{point}");
            }
            if point == "spsc-after-commit" {
                assert_eq!(rx.recv().unwrap(), rec(5), "{point}");
            }
            let r = rx.recv_timeout(Duration::from_secs(10));
            assert!(matches!(r, Err(Error::PeerDied { .. })), "{point}: {r:?}");
            let mut next = spawn(t, "chan-send", &[&name, "100", "7"]);
            assert_eq!(next.get().recv(), "sent");
            for i in 100..108 {
                assert_eq!(rx.recv().unwrap(), rec(i), "after {point}");
            }
            assert_eq!(next.get().recv(), "done");
            next.take().wait_ok();
        }
        ChannelReceiver => {
            let name = unique("k-chanr");
            let _c = QueueCleanup(name.clone());
            let mut tx = Sender::<Rec>::create(&name, 16).unwrap();
            for i in 0..10 {
                tx.send(&rec(i)).unwrap();
            }
            let mut c = spawn_at(t, "chan-recv", &[&name, "5"], &format!("{point}@3"));
            assert_eq!(c.get().recv(), "got 0");
            assert_eq!(c.get().recv(), "got 1");
            kill_at(c, point);
            // The value it was decoding, unreleased, comes again.
            let mut c = spawn(t, "chan-recv", &[&name, "3"]);
            for i in 2..5 {
                assert_eq!(c.get().recv(), format!("got {i}"), "{point}");
            }
            assert_eq!(c.get().recv(), "done");
            c.take().wait_ok();
        }
        MpmcProducer => {
            // With the consumer slow, the second producer comes round to
            // the dead claim's slot first (frees it and fills it for the
            // next lap before the consumer reaches the dead position); with
            // it keeping up, the consumer meets the dead claim itself.
            for slow_consumer in [true, false] {
                let name = unique("k-mpmc");
                let _c = QueueCleanup(name.clone());
                let mut rx = mpmc::Consumer::create(&name, 4, 128).unwrap();
                // Sends 0, 1, 2 and dies in the middle of 3.
                let mut a = spawn_at(t, "mpmc-send", &[&name, "4", "0"], &format!("{point}@4"));
                assert_eq!(a.get().recv(), "attached");
                kill_at(a, point);
                let recv = |rx: &mut mpmc::Consumer| {
                    let m = rx.recv_timeout(Duration::from_secs(10)).unwrap();
                    assert!(m.iter().all(|&x| x == m[0]), "{point}: torn");
                    m[0]
                };
                let mut got = Vec::new();
                if slow_consumer {
                    got.extend((0..3).map(|_| recv(&mut rx)));
                    // 10..13 take positions 4 to 7; 7 is the dead claim's
                    // slot, which the producer frees before it is sent.
                    let mut b = spawn(t, "mpmc-send", &[&name, "4", "10"]);
                    assert_eq!(b.get().recv(), "attached");
                    assert_eq!(b.get().recv(), "sent");
                    got.extend((0..4).map(|_| recv(&mut rx)));
                    assert_eq!(got, [0, 1, 2, 10, 11, 12, 13], "{point} (slow consumer)");
                    b.take().wait_ok();
                } else {
                    // 10..14 is more than the 4 slots: the dead claim must
                    // be skipped for them to get through.
                    let mut b = spawn(t, "mpmc-send", &[&name, "5", "10"]);
                    assert_eq!(b.get().recv(), "attached");
                    got.extend((0..8).map(|_| recv(&mut rx)));
                    assert_eq!(got, [0, 1, 2, 10, 11, 12, 13, 14], "{point}");
                    assert_eq!(b.get().recv(), "sent");
                    b.take().wait_ok();
                }
                assert_eq!(rx.try_recv().unwrap(), None, "{point}: the dead message");
            }
        }
        MpmcConsumer => {
            let name = unique("k-mpmcc");
            let _c = QueueCleanup(name.clone());
            let mut rx = mpmc::Consumer::create(&name, 4, 128).unwrap();
            let mut c = spawn_at(t, "mpmc-recv", &[&name, "2"], &format!("{point}@2"));
            assert_eq!(c.get().recv(), "attached");
            let mut tx = mpmc::Producer::open(&name).unwrap();
            tx.send(&[20; 100]).unwrap();
            assert_eq!(c.get().recv(), "got 20");
            tx.send(&[21; 100]).unwrap();
            kill_at(c, point);
            // Fill the ring past the dead consumer's slot: it is freed, and
            // 21 is lost (documented: one message).
            for i in 22..30u8 {
                if i >= 26 {
                    assert_eq!(rx.recv().unwrap()[0], i - 4, "{point}");
                }
                tx.send_timeout(&[i; 100], Duration::from_secs(10)).unwrap();
            }
            for i in 26..30u8 {
                assert_eq!(rx.recv().unwrap()[0], i, "{point}");
            }
            assert_eq!(rx.try_recv().unwrap(), None);
        }
        BroadcastPublisher => {
            let name = unique("k-bc");
            let _c = QueueCleanup(name.clone());
            let first = Publisher::create_with(&name, 16, 4096, &kept()).unwrap();
            let mut rx = Subscriber::open(&name).unwrap();
            drop(first);
            let mut p = spawn_at(t, "bc-send", &[&name, "0", "5"], &format!("{point}@6"));
            assert_eq!(p.get().recv(), "sent");
            kill_at(p, point);
            // Published before the crash: 0..5, and 5 too once its slot was.
            let published = if point == "broadcast-before-next" {
                6
            } else {
                5
            };
            for i in 0..published {
                let m = rx.recv().unwrap();
                assert_eq!(message_id(0, &m), Some(i), "{point}");
            }
            let r = rx.recv_timeout(Duration::from_secs(10));
            assert!(
                matches!(
                    r,
                    Err(Error::PeerDied {
                        peer: "publisher",
                        ..
                    })
                ),
                "{point}: {r:?}"
            );
            // The new publisher starts at the message the dead one did not
            // finish, and goes on; nothing is seen twice or torn.
            let mut p2 = spawn(t, "bc-send", &[&name, &published.to_string(), "4"]);
            assert_eq!(p2.get().recv(), "sent");
            assert_eq!(p2.get().recv(), "done");
            for i in published..published + 5 {
                let m = rx.recv().unwrap();
                assert_eq!(message_id(0, &m), Some(i), "after {point}");
            }
            assert_eq!(rx.try_recv().unwrap(), None);
            p2.take().wait_ok();
        }
    }
}

// ---------------------------------------------------------------------------
// Random-moment kills.
// ---------------------------------------------------------------------------

/// Rounds per protocol: `SHMKIT_FAULT_ROUNDS`, default 20.
fn rounds() -> u64 {
    env_count("SHMKIT_FAULT_ROUNDS", 20)
}

/// The seeded generator of kill moments (`SHMKIT_FAULT_SEED` to replay).
fn kill_rng(protocol: &str) -> XorShift {
    let seed = env_count("SHMKIT_FAULT_SEED", 9);
    eprintln!(
        "{protocol}: seed {seed} (SHMKIT_FAULT_SEED), {} rounds",
        rounds()
    );
    XorShift::new(seed ^ mix(protocol.len() as u64))
}

/// A random moment: up to 20 ms, spread so that short ones are common.
fn moment(rng: &mut XorShift) -> Duration {
    let bits = rng.below(15);
    Duration::from_micros(rng.below(1 << bits))
}

/// The busy children the random kills interrupt.
fn busy_loop(role: &str, name: &str, args: &[String]) {
    let until = Instant::now() + Duration::from_secs(60);
    let alive = || assert!(Instant::now() < until, "the parent never killed {role}");
    match role {
        "loop-init" => {
            say("ready");
            for i in 0.. {
                alive();
                drop(Shared::<Rec>::create_with(name, rec(i)).unwrap());
            }
        }
        "loop-mutex" => {
            let b = board(name);
            let m = &b.get().lock;
            say("ready");
            loop {
                alive();
                let mut g = m.lock().expect("the parent repairs after each kill");
                // Word by word, so that a kill can leave a partial update.
                let k = g[0] + 1;
                for j in 0..8 {
                    g[j] = k;
                    std::hint::spin_loop();
                }
            }
        }
        "loop-seqlock" => {
            let b = board(name);
            let s = &b.get().seq;
            let mut w = s.writer().expect("takes over from the killed writer");
            say("ready");
            let mut k = s.read()[0];
            loop {
                alive();
                k += 1;
                w.write(&[k; 64]);
            }
        }
        "loop-event" => {
            let b = board(name);
            say("ready");
            loop {
                alive();
                if b.get()
                    .ping
                    .wait_timeout(Duration::from_millis(500))
                    .unwrap()
                {
                    b.get().pong.notify_one().unwrap();
                }
            }
        }
        "loop-spsc" => {
            let stream: u64 = args[1].parse().unwrap();
            let mut tx = Producer::open(name).unwrap();
            say("ready");
            for i in 0.. {
                alive();
                tx.send(&message(stream, i)).unwrap();
            }
        }
        "loop-mpmc-send" => {
            let stream: u64 = args[1].parse().unwrap();
            let mut tx = mpmc::Producer::open(name).unwrap();
            say("ready");
            for i in 0.. {
                alive();
                tx.send(&mpmc_message(stream, i)).unwrap();
            }
        }
        "loop-mpmc-recv" => {
            let mut rx = mpmc::Consumer::open(name).unwrap();
            say("ready");
            loop {
                alive();
                let m = rx.recv().unwrap();
                say(&format!(
                    "got {}",
                    u64::from_le_bytes(m[..8].try_into().unwrap())
                ));
            }
        }
        "loop-broadcast" => {
            let stream: u64 = args[1].parse().unwrap();
            let mut tx = Publisher::open(name).unwrap();
            say("ready");
            for i in 0.. {
                alive();
                tx.send(&message(stream, i)).unwrap();
            }
        }
        other => panic!("unknown role {other}"),
    }
}

/// Kills `c`, which must still be running (a child that failed early would
/// otherwise pass for a killed one).
fn kill_running(c: &mut KillOnDrop) {
    let exited = c.get().exited();
    assert!(
        exited.is_none(),
        "the child ended before its kill: {exited:?}"
    );
    c.kill9();
}

/// Spawns `role` and kills it at a random moment after it started its loop.
fn kill_busy(test: &str, role: &str, args: &[&str], rng: &mut XorShift) {
    let mut c = spawn(test, role, args);
    assert_eq!(c.get().recv(), "ready");
    std::thread::sleep(moment(rng));
    kill_running(&mut c);
}

#[test]
fn random_kills_typed_init() {
    if let Some((r, args)) = role() {
        return child(&r, &args);
    }
    let mut rng = kill_rng("typed init");
    let name = unique("r-init");
    let _c = common::Cleanup(name.clone());
    let mut seen = [0u32; 5];
    for round in 0..rounds() {
        kill_busy("random_kills_typed_init", "loop-init", &[&name], &mut rng);
        // Whatever the moment: the whole value, or a clear error.
        let r = Shared::<Rec>::options()
            .timeout(Duration::from_millis(200))
            .open(&name);
        match r {
            Ok(s) => {
                assert!(whole(&s.load().unwrap()), "round {round}: torn value");
                seen[0] += 1;
            }
            Err(Error::NotFound { .. }) => seen[1] += 1,
            Err(Error::InitAbandoned { .. }) => seen[2] += 1,
            Err(Error::Empty { .. }) => seen[3] += 1,
            // Killed after sizing, before the header: zeros, which cannot be
            // told from a segment that another program made.
            Err(Error::NotTyped { ref reason, .. }) if reason.contains("only zeros") => {
                seen[4] += 1
            }
            Err(e) => panic!("round {round}: {e}"),
        }
        // And the name can be made again (after removing a stale one).
        let _ = Segment::remove(&name);
        drop(Shared::<Rec>::create_with(&name, rec(round)).unwrap());
    }
    eprintln!("ready / not found / abandoned / empty / zeros: {seen:?}");
}

#[test]
fn random_kills_mutex() {
    if let Some((r, args)) = role() {
        return child(&r, &args);
    }
    let mut rng = kill_rng("mutex");
    let name = unique("r-mutex");
    let b = Shared::<Board>::create(&name).unwrap();
    let m = &b.get().lock;
    let (mut last, mut died) = (0u64, 0);
    for round in 0..rounds() {
        kill_busy("random_kills_mutex", "loop-mutex", &[&name], &mut rng);
        let (mut g, dead) = match m.lock_timeout(Duration::from_secs(10)) {
            Ok(g) => (g, false),
            Err(TryLockError::OwnerDied(d)) => (d.into_inner(), true),
            Err(TryLockError::WouldBlock | TryLockError::TimedOut { .. }) => {
                panic!("round {round}: dead owner not seen")
            }
            Err(TryLockError::Lost(e)) => panic!("round {round}: {e}"),
        };
        // Words are updated front to back by one: a prefix may be ahead.
        let k = g[0];
        let ahead = g.iter().take_while(|&&w| w == k).count();
        assert!(
            g[ahead..].iter().all(|&w| w + 1 == k),
            "round {round}: {:?}",
            *g
        );
        assert!(dead || ahead == 8, "round {round}: partial without death");
        assert!(k >= last, "round {round}: went back");
        last = k;
        if dead {
            died += 1;
            g.iter_mut().for_each(|w| *w = k);
            g.mark_consistent();
        }
    }
    assert!(m.lock().is_ok());
    eprintln!("{died} of {} kills left the lock held", rounds());
}

#[test]
fn random_kills_seqlock() {
    if let Some((r, args)) = role() {
        return child(&r, &args);
    }
    let mut rng = kill_rng("seqlock");
    let name = unique("r-seq");
    let b = Shared::<Board>::create(&name).unwrap();
    let s = &b.get().seq;
    let (mut last, mut mid) = (0u64, 0);
    for round in 0..rounds() {
        kill_busy("random_kills_seqlock", "loop-seqlock", &[&name], &mut rng);
        let v = s.read();
        assert!(v.iter().all(|&x| x == v[0]), "round {round}: torn");
        assert!(v[0] >= last, "round {round}: went back");
        last = v[0];
        match s.read_checked() {
            Ok(w) => assert_eq!(w, v),
            Err(Error::WriterDied) => mid += 1,
            Err(e) => panic!("round {round}: {e}"),
        }
        assert_eq!(s.writer_status(), WriterStatus::Died);
        // The next round's writer takes over (the child asserts it).
    }
    let mut w = s.writer().unwrap();
    assert_eq!(s.read(), [last; 64]);
    w.write(&[last + 1; 64]);
    assert_eq!(s.read_checked().unwrap(), [last + 1; 64]);
    eprintln!("{mid} of {} kills were mid-write", rounds());
}

#[test]
fn random_kills_event() {
    if let Some((r, args)) = role() {
        return child(&r, &args);
    }
    let mut rng = kill_rng("event");
    let name = unique("r-event");
    let b = Arc::new(Shared::<Board>::create(&name).unwrap());
    for round in 0..=rounds() {
        let mut c = spawn("random_kills_event", "loop-event", &[&name]);
        assert_eq!(c.get().recv(), "ready");
        // Leftovers of the killed one: a signal it set or did not consume.
        b.get().ping.reset().unwrap();
        b.get().pong.reset().unwrap();
        // A fresh peer answers every ping: no wake-up lost to the dead.
        for i in 0..20 {
            b.get().ping.notify_one().unwrap();
            assert!(
                b.get().pong.wait_timeout(Duration::from_secs(5)).unwrap(),
                "round {round}: lost pong {i}"
            );
        }
        if round == rounds() {
            break;
        }
        // Keep it busy from another thread; kill it at a random moment.
        let stop = Arc::new(AtomicBool::new(false));
        let pinger = {
            let (b, stop) = (b.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    b.get().ping.notify_one().unwrap();
                    b.get()
                        .pong
                        .wait_timeout(Duration::from_millis(20))
                        .unwrap();
                }
            })
        };
        std::thread::sleep(moment(&mut rng));
        kill_running(&mut c);
        stop.store(true, Ordering::Relaxed);
        pinger.join().unwrap();
    }
}

#[test]
fn random_kills_spsc() {
    if let Some((r, args)) = role() {
        return child(&r, &args);
    }
    let mut rng = kill_rng("spsc");
    let name = unique("r-spsc");
    let _c = QueueCleanup(name.clone());
    let mut rx = Consumer::create(&name, 8 << 10).unwrap();
    let mut total = 0;
    for round in 0..rounds() {
        let stream = round + 1;
        let mut c = spawn(
            "random_kills_spsc",
            "loop-spsc",
            &[&name, &stream.to_string()],
        );
        assert_eq!(c.get().recv(), "ready");
        let kill_at = Instant::now() + moment(&mut rng);
        let mut next = 0;
        let mut check = |r: shmkit::Result<Vec<u8>>| -> bool {
            match r {
                Ok(m) => {
                    assert_eq!(
                        message_id(stream, &m),
                        Some(next),
                        "round {round}: bad message"
                    );
                    next += 1;
                    true
                }
                Err(Error::Timeout { .. }) => true,
                Err(Error::PeerDied { .. }) => false,
                Err(e) => panic!("round {round}: {e}"),
            }
        };
        while Instant::now() < kill_at {
            check(rx.recv_timeout(Duration::from_micros(200)));
        }
        kill_running(&mut c);
        // Every whole message in order, then the death, never a part.
        let since = Instant::now();
        while check(rx.recv_timeout(Duration::from_secs(10))) {
            assert!(
                since.elapsed() < Duration::from_secs(10),
                "round {round}: no PeerDied"
            );
        }
        assert_eq!(rx.peer(), Peer::Died);
        total += next;
    }
    eprintln!(
        "{total} messages whole and in order across {} kills",
        rounds()
    );
}

#[test]
fn random_kills_mpmc() {
    if let Some((r, args)) = role() {
        return child(&r, &args);
    }
    const TEST: &str = "random_kills_mpmc";
    let mut rng = kill_rng("mpmc");
    let name = unique("r-mpmc");
    let _c = QueueCleanup(name.clone());
    let mut rx = mpmc::Consumer::create(&name, 16, 128).unwrap();
    let mut lost = 0;
    for round in 0..rounds() {
        let stream = round + 1;
        let mut seen = BTreeSet::new();
        if round % 2 == 0 {
            // A producer killed: what arrives is 0, 1, 2, ... each once; the
            // message it was writing, if any, is skipped.
            let mut c = spawn(TEST, "loop-mpmc-send", &[&name, &stream.to_string()]);
            assert_eq!(c.get().recv(), "ready");
            let kill_at = Instant::now() + moment(&mut rng);
            let mut take = |rx: &mut mpmc::Consumer, wait| match rx.recv_timeout(wait) {
                Ok(m) => {
                    let i = u64::from_le_bytes(m[..8].try_into().unwrap());
                    assert!(m == mpmc_message(stream, i), "round {round}: torn");
                    assert!(seen.insert(i), "round {round}: {i} twice");
                    true
                }
                Err(Error::Timeout { .. }) => true,
                Err(Error::PeerDied { .. }) => false,
                Err(e) => panic!("round {round}: {e}"),
            };
            while Instant::now() < kill_at {
                take(&mut rx, Duration::from_micros(200));
            }
            kill_running(&mut c);
            while take(&mut rx, Duration::from_secs(10)) {}
            let n = seen.len() as u64;
            assert_eq!(seen.last().map_or(0, |l| l + 1), n, "round {round}: a gap");
        } else {
            // A consumer killed: every sent message is received once, by it
            // or by us, except at most the one it was taking.
            // (Our producer first: with the last one killed, the consumer's
            // `recv` would report `PeerDied` at once.)
            let mut tx = mpmc::Producer::open(&name).unwrap();
            let mut c = spawn(TEST, "loop-mpmc-recv", &[&name]);
            assert_eq!(c.get().recv(), "ready");
            let kill_at = Instant::now() + moment(&mut rng);
            let mut sent = 0u64;
            while Instant::now() < kill_at {
                let id = stream << 32 | sent;
                match tx.try_send(&id.to_le_bytes()) {
                    Ok(()) => sent += 1,
                    Err(Error::Full { .. }) => std::thread::yield_now(),
                    Err(e) => panic!("round {round}: {e}"),
                }
            }
            let mut c = c.take();
            let exited = c.exited();
            assert!(
                exited.is_none(),
                "round {round}: the consumer ended first: {exited:?}"
            );
            for line in c.kill9_then_lines() {
                let id: u64 = line.strip_prefix("got ").unwrap().parse().unwrap();
                assert!(seen.insert(id), "round {round}: {id} twice");
            }
            while let Some(m) = rx.try_recv().unwrap() {
                let id = u64::from_le_bytes(m[..8].try_into().unwrap());
                assert!(seen.insert(id), "round {round}: {id} twice");
            }
            let missing = sent - seen.len() as u64;
            assert!(missing <= 1, "round {round}: {missing} lost");
            assert!(seen
                .iter()
                .all(|&id| id >> 32 == stream && id & 0xFFFF_FFFF < sent));
            lost += missing;
        }
    }
    eprintln!("{lost} messages lost with their killed consumers (at most one each)");
}

#[test]
fn random_kills_broadcast() {
    if let Some((r, args)) = role() {
        return child(&r, &args);
    }
    let mut rng = kill_rng("broadcast");
    let name = unique("r-bc");
    let _c = QueueCleanup(name.clone());
    let first = Publisher::create_with(&name, 8, 4096, &kept()).unwrap();
    let mut rx = Subscriber::open(&name).unwrap();
    drop(first);
    let (mut got, mut missed) = (0u64, 0u64);
    for round in 0..rounds() {
        let stream = round + 1;
        let mut c = spawn(
            "random_kills_broadcast",
            "loop-broadcast",
            &[&name, &stream.to_string()],
        );
        assert_eq!(c.get().recv(), "ready");
        let kill_at = Instant::now() + moment(&mut rng);
        let mut last = None::<u64>;
        let mut take = |r: shmkit::Result<Vec<u8>>| match r {
            Ok(m) => {
                // Whole, and in order within the stream.
                let i = message_id(stream, &m)
                    .unwrap_or_else(|| panic!("round {round}: torn or foreign message"));
                assert!(last.is_none_or(|l| l < i), "round {round}: {i} again");
                last = Some(i);
                got += 1;
                true
            }
            Err(Error::Lagged { missed: n, .. }) => {
                missed += n;
                true
            }
            Err(Error::Timeout { .. }) => true,
            Err(Error::PeerDied { .. }) => false,
            Err(e) => panic!("round {round}: {e}"),
        };
        while Instant::now() < kill_at {
            take(rx.recv_timeout(Duration::from_micros(200)));
        }
        kill_running(&mut c);
        while take(rx.recv_timeout(Duration::from_secs(10))) {}
    }
    eprintln!(
        "{got} messages whole, {missed} reported missed, across {} kills",
        rounds()
    );
}

// ---------------------------------------------------------------------------
// The scribbler.
// ---------------------------------------------------------------------------

/// How long each user works under the scribbler.
const SCRIBBLE_TIME: Duration = Duration::from_millis(1500);

/// How many times, at most, one scribbler cuts its segment short.
const MAX_CUTS: u64 = 12;

/// Writes seeded random bytes over the segment `name` for
/// [`SCRIBBLE_TIME`]: half the writes in the first KiB (headers, lock words,
/// indices), half anywhere; now and then the first KiB is put back as it
/// was, so that users see many states, not only wreckage. On Linux it also
/// cuts the segment's file short now and then (at most [`MAX_CUTS`] times),
/// as any peer allowed to open it could, and grows it back a moment later:
/// users whose access lands in the cut get `Error::Truncated`, never a
/// `SIGBUS`. Elsewhere a segment cannot be shrunk by path (macOS refuses to
/// resize a sized shared-memory object, Windows sections cannot shrink).
fn scribble(name: &str, seed: u64) {
    let seg = Segment::open(name).unwrap();
    let mut rng = XorShift::new(seed ^ mix(name.len() as u64));
    let hot = seg.len().min(1024);
    let mut saved = vec![0u8; hot];
    seg.read_at(0, &mut saved).unwrap();
    let end = Instant::now() + SCRIBBLE_TIME;
    let (mut writes, mut cuts) = (0u64, 0u64);
    while Instant::now() < end {
        let r = rng.next();
        if r % 64 == 0 {
            seg.write_at(0, &saved).unwrap();
            continue;
        }
        if r % 1024 == 1 && cuts < MAX_CUTS && cut_short(name, &mut rng) {
            // The regrown file is zeros: give it its header back.
            seg.write_at(0, &saved).unwrap();
            cuts += 1;
            continue;
        }
        let span = if r & 64 == 0 { hot } else { seg.len() };
        let len = [1, 2, 4, 8, 8, 8, 16, 3][(r >> 8) as usize % 8];
        let mut off = rng.below((span - len) as u64) as usize;
        if r & 128 != 0 {
            off &= !7; // mostly whole words
        }
        let bytes: Vec<u8> = match (r >> 16) % 5 {
            0 => vec![0; len],
            1 => vec![0xFF; len],
            2 => (0..len).map(|_| rng.next() as u8).collect(),
            3 => (rng.next() & 0xFFFF)
                .to_le_bytes()
                .iter()
                .copied()
                .cycle()
                .take(len)
                .collect(),
            _ => rng
                .next()
                .to_le_bytes()
                .iter()
                .copied()
                .cycle()
                .take(len)
                .collect(),
        };
        seg.write_at(off, &bytes).unwrap();
        writes += 1;
        if writes % 4 == 0 {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    // Last, the first KiB as it was: a scribble can leave a lock word naming
    // a live thread with no start time to check (a zeroed tag), which
    // `lock()` rightly waits for as a live owner; the restore ends that wait,
    // as the real owner's unlock would.
    seg.write_at(0, &saved).unwrap();
    say(&format!("ok {writes} writes {cuts} cuts"));
}

/// `ftruncate`s the file of segment `name` to a seeded shorter length (none,
/// 100 bytes, half, or anywhere below its size), keeps it so for up to
/// 2 ms, then grows it back to its size. Returns whether it cut.
#[cfg(target_os = "linux")]
fn cut_short(name: &str, rng: &mut XorShift) -> bool {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/dev/shm/{name}"))
        .unwrap();
    let full = file.metadata().unwrap().len();
    let short = match rng.below(4) {
        0 => 0,
        1 => 100,
        2 => full / 2,
        _ => rng.below(full),
    };
    file.set_len(short).unwrap();
    std::thread::sleep(Duration::from_micros(rng.below(2000)));
    file.set_len(full).unwrap();
    true
}

/// Where segments cannot be cut short by path, the scribbler only writes.
#[cfg(not(target_os = "linux"))]
fn cut_short(_name: &str, _rng: &mut XorShift) -> bool {
    false
}

/// The size of the plain segment under the scribbler.
const SEGMENT_LEN: usize = 8192;

/// What a user got: how many calls gave data, how many gave errors, and how
/// many of those errors were `Error::Truncated` (the scribbler cut the
/// segment under a mapping).
#[derive(Default)]
struct Tally {
    ok: u64,
    err: u64,
    truncated: u64,
}

impl Tally {
    fn count<T>(&mut self, r: shmkit::Result<T>) -> Option<T> {
        match r {
            Ok(v) => {
                self.ok += 1;
                Some(v)
            }
            Err(e) => {
                self.err += 1;
                if let Error::Truncated { .. } = e {
                    self.truncated += 1;
                }
                None
            }
        }
    }
}

/// A user of one API, working until [`SCRIBBLE_TIME`] is up; returns
/// "OK ERR TRUNCATED" counts. Any result is fine (after a cut, a user's
/// calls may fail with `Error::Truncated` until it opens the name again); a
/// panic, a crash or a hang fails the test (the parent watches the exit
/// status and the clock).
fn use_api(role: &str, name: &str, seed: u64) -> String {
    let mut rng = XorShift::new(seed ^ mix(role.len() as u64));
    let end = Instant::now() + SCRIBBLE_TIME;
    let mut t = Tally::default();
    let short = Duration::from_millis(5);
    match role {
        "use-segment" => {
            let open = || Segment::options().timeout(short).open(name);
            let mut kept = None;
            while Instant::now() < end {
                let Some(seg) = kept.take().or_else(|| t.count(open())) else {
                    std::thread::sleep(short);
                    continue;
                };
                if seg.len() != SEGMENT_LEN {
                    // Opened while cut short: open again once regrown.
                    t.err += 1;
                    continue;
                }
                let lost = t.truncated;
                let mut buf = vec![0u8; rng.below(64) as usize];
                let off = rng.below(seg.len() as u64 + 64) as usize;
                t.count(seg.read_at(off, &mut buf));
                let off = 1024 + rng.below(seg.len() as u64 - 1024) as usize;
                t.count(seg.write_at(off, &buf[..buf.len().min(seg.len() - off)]));
                t.count(open().map(drop));
                if t.truncated == lost {
                    kept = Some(seg);
                }
                // A mapping that lost its pages stays lost: open again.
            }
        }
        "use-shared" => {
            while Instant::now() < end {
                let s = Shared::<Rec>::options().timeout(short).open(name);
                if let Some(s) = t.count(s) {
                    t.count(s.load());
                    t.count(s.id().get());
                    t.count(s.words().at(rng.below(31) as usize).get());
                    t.count(s.words().at(rng.below(31) as usize).set(rng.next()));
                    t.count(s.store(&rec(rng.next())));
                }
            }
        }
        "use-mutex" => {
            let b = t.count(Shared::<Board>::options().timeout(short).open(name));
            let Some(b) = b else { return "0 1 0".into() };
            let m = &b.get().lock;
            while Instant::now() < end {
                let g = if rng.below(8) == 0 {
                    // Without a timeout too: a scribbled owner is found dead,
                    // or the word free, or (naming a live thread whose start
                    // time the scribble erased) waited for until the
                    // scribbler's last restore; and a word naming this very
                    // thread (the scribbler's restores write back words from
                    // when it held the lock) is taken over, not a double-lock
                    // panic: this thread holds no other mutex.
                    match m.lock() {
                        Ok(g) => Ok(g),
                        Err(LockError::OwnerDied(d)) => Err(TryLockError::OwnerDied(d)),
                        Err(LockError::Lost(e)) => Err(TryLockError::Lost(e)),
                    }
                } else {
                    m.lock_timeout(short)
                };
                match g {
                    Ok(mut g) => {
                        t.ok += 1;
                        g[0] = g[0].wrapping_add(1);
                    }
                    Err(TryLockError::OwnerDied(d)) => {
                        t.err += 1;
                        let mut g = d.into_inner();
                        g[1] = g[1].wrapping_add(1);
                        if rng.below(2) == 0 {
                            g.mark_consistent();
                        }
                    }
                    Err(
                        TryLockError::WouldBlock
                        | TryLockError::TimedOut { .. }
                        | TryLockError::Lost(_),
                    ) => t.err += 1,
                }
            }
        }
        "use-seqlock" => {
            let b = t.count(Shared::<Board>::options().timeout(short).open(name));
            let Some(b) = b else { return "0 1 0".into() };
            let s = &b.get().seq;
            while Instant::now() < end {
                if let Some(mut w) = t.count(s.writer()) {
                    for _ in 0..rng.below(50) {
                        w.write(&[rng.next(); 64]);
                    }
                }
                let _ = s.read();
                let _ = s.try_read();
                let _ = s.writer_status();
                t.count(s.read_checked());
            }
        }
        "use-event" => {
            let b = t.count(Shared::<Board>::options().timeout(short).open(name));
            let Some(b) = b else { return "0 1 0".into() };
            let e = &b.get().ping;
            while Instant::now() < end {
                match rng.below(4) {
                    0 => {
                        t.count(e.notify_one());
                    }
                    1 => {
                        t.count(e.notify_all());
                    }
                    _ => match e.wait_timeout(Duration::from_micros(rng.below(5000))) {
                        Ok(true) => t.ok += 1,
                        Ok(false) | Err(_) => t.err += 1,
                    },
                }
            }
        }
        "use-spsc-send" | "use-chan-send" => {
            let typed = role == "use-chan-send";
            while Instant::now() < end {
                if typed {
                    let Some(mut tx) = t.count(Sender::<Rec>::open(name)) else {
                        std::thread::sleep(short);
                        continue;
                    };
                    while Instant::now() < end {
                        if t.count(tx.send_timeout(&rec(rng.next()), short)).is_none() {
                            break;
                        }
                    }
                } else {
                    let Some(mut tx) = t.count(Producer::open(name)) else {
                        std::thread::sleep(short);
                        continue;
                    };
                    while Instant::now() < end {
                        let m = message(9, rng.next());
                        if t.count(tx.send_timeout(&m[..m.len().min(1000)], short))
                            .is_none()
                        {
                            break;
                        }
                        if let Some(mut g) = t.count(tx.reserve_timeout(64, short)) {
                            t.count(g.write_at(0, &[7; 64]));
                            t.count(g.write_at(60, &[7; 8]));
                            t.count(g.commit());
                        }
                    }
                }
            }
        }
        "use-spsc-recv" | "use-chan-recv" => {
            let typed = role == "use-chan-recv";
            while Instant::now() < end {
                if typed {
                    let Some(mut rx) = t.count(Receiver::<Rec>::open(name)) else {
                        std::thread::sleep(short);
                        continue;
                    };
                    while Instant::now() < end {
                        if t.count(rx.recv_timeout(short)).is_none() && rng.below(4) == 0 {
                            break;
                        }
                        t.count(rx.try_recv());
                    }
                } else {
                    let Some(mut rx) = t.count(Consumer::open(name)) else {
                        std::thread::sleep(short);
                        continue;
                    };
                    while Instant::now() < end {
                        if t.count(rx.recv_timeout(short)).is_none() && rng.below(4) == 0 {
                            break;
                        }
                        if let Some(Some(m)) = t.count(rx.try_read()) {
                            let mut buf = vec![0; m.len().min(100)];
                            t.count(m.read_at(0, &mut buf));
                            let _ = m.to_vec();
                            m.release();
                        }
                    }
                }
            }
        }
        "use-mpmc-send" => {
            while Instant::now() < end {
                let Some(mut tx) = t.count(mpmc::Producer::open(name)) else {
                    std::thread::sleep(short);
                    continue;
                };
                while Instant::now() < end {
                    let n = rng.below(120) as usize;
                    if t.count(tx.send_timeout(&vec![5; n], short)).is_none() && rng.below(4) == 0 {
                        break;
                    }
                    t.count(tx.try_send(&[6; 10]));
                }
            }
        }
        "use-mpmc-recv" => {
            while Instant::now() < end {
                let Some(mut rx) = t.count(mpmc::Consumer::open(name)) else {
                    std::thread::sleep(short);
                    continue;
                };
                while Instant::now() < end {
                    if t.count(rx.recv_timeout(short)).is_none() && rng.below(4) == 0 {
                        break;
                    }
                    t.count(rx.try_recv());
                }
            }
        }
        "use-bc-send" => {
            while Instant::now() < end {
                let Some(mut tx) = t.count(Publisher::open(name)) else {
                    std::thread::sleep(short);
                    continue;
                };
                while Instant::now() < end {
                    let n = rng.below(3000) as usize;
                    t.count(tx.send(&vec![3; n]));
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
        }
        "use-bc-recv" => {
            while Instant::now() < end {
                let Some(mut rx) = t.count(Subscriber::open(name)) else {
                    std::thread::sleep(short);
                    continue;
                };
                while Instant::now() < end {
                    if t.count(rx.recv_timeout(short)).is_none() && rng.below(4) == 0 {
                        break;
                    }
                    t.count(rx.try_recv());
                }
            }
        }
        other => panic!("unknown role {other}"),
    }
    format!("{} {} {}", t.ok, t.err, t.truncated)
}

/// One API under the scribbler: its segment, made by the parent, and the
/// roles of the processes that use it.
struct Target {
    api: &'static str,
    name: String,
    users: &'static [&'static str],
}

/// Makes each API's segment; returns the targets and what keeps them alive.
fn make_targets(seed: u64) -> (Vec<Target>, Vec<Box<dyn std::any::Any>>) {
    let mut keep: Vec<Box<dyn std::any::Any>> = Vec::new();
    let mut targets = Vec::new();
    let mut add = |api, users, name: String, keep_it: Box<dyn std::any::Any>| {
        keep.push(keep_it);
        targets.push(Target { api, name, users });
    };
    let n = |tag: &str| unique(&format!("s{seed}-{tag}"));
    let name = n("seg");
    add(
        "Segment",
        &["use-segment"],
        name.clone(),
        Box::new(Segment::create(&name, SEGMENT_LEN).unwrap()),
    );
    let name = n("shared");
    let s = Shared::<Rec>::create_with(&name, rec(1)).unwrap();
    add(
        "Shared<T>",
        &["use-shared", "use-shared"],
        name,
        Box::new(s),
    );
    for (api, users) in [
        ("sync::Mutex", &["use-mutex", "use-mutex"]),
        ("SeqLock", &["use-seqlock", "use-seqlock"]),
        ("Event", &["use-event", "use-event"]),
    ] {
        let name = n(users[0]);
        let b = Shared::<Board>::create(&name).unwrap();
        add(api, users, name, Box::new(b));
    }
    // Queues: made, then their creating end dropped (the name kept: by
    // `persist` on POSIX, by the handle opened first on Windows), so that
    // both ends are free for the users.
    type Make = fn(&str) -> Box<dyn std::any::Any>;
    let queues: [(&'static str, &'static [&'static str], Make); 4] = [
        ("spsc", &["use-spsc-send", "use-spsc-recv"], |name| {
            Box::new(Consumer::create_with(name, 8 << 10, &kept()).unwrap())
        }),
        ("channel", &["use-chan-send", "use-chan-recv"], |name| {
            Box::new(Receiver::<Rec>::create_with(name, 16, &kept()).unwrap())
        }),
        (
            "mpmc",
            &["use-mpmc-send", "use-mpmc-recv", "use-mpmc-recv"],
            |name| Box::new(mpmc::Consumer::create_with(name, 16, 120, &kept()).unwrap()),
        ),
        (
            "broadcast",
            &["use-bc-send", "use-bc-recv", "use-bc-recv"],
            |name| Box::new(Publisher::create_with(name, 8, 3000, &kept()).unwrap()),
        ),
    ];
    for (api, users, make) in queues {
        let name = n(api);
        let creator = make(&name);
        let seg = Segment::open(&name).unwrap();
        drop(creator);
        add(
            api,
            users,
            name.clone(),
            Box::new((seg, QueueCleanup(name))),
        );
    }
    (targets, keep)
}

/// Users and a scribbler per API, every API at once, for each seed; every
/// process must end by itself, in time, with success.
#[test]
fn scribbler_across_every_api_never_panics_crashes_or_hangs() {
    if let Some((r, args)) = role() {
        return child(&r, &args);
    }
    const TEST: &str = "scribbler_across_every_api_never_panics_crashes_or_hangs";
    let seeds = env_count("SHMKIT_SCRIBBLE_SEEDS", 8);
    let start = Instant::now();
    let (mut ok, mut err, mut runs) = (0u64, 0u64, 0u64);
    // `Truncated` from a plain segment's calls comes only from a mapping
    // that lost its pages (a queue also reports it for a zeroed header).
    let (mut truncated, mut segment_truncated, mut cuts) = (0u64, 0u64, 0u64);
    let mut failed = Vec::new();
    for seed in 1..=seeds {
        let (targets, keep) = make_targets(seed);
        let mut kids = Vec::new();
        for t in &targets {
            for (i, user) in t.users.iter().enumerate() {
                let s = (seed << 8 | i as u64).to_string();
                kids.push((t.api, *user, Child::spawn(TEST, user, &[&t.name, &s])));
            }
            kids.push((
                t.api,
                "scribbler",
                Child::spawn(TEST, "scribbler", &[&t.name, &seed.to_string()]),
            ));
        }
        for (api, role, mut kid) in kids {
            // Each works for 1.5 s; a minute more is a hang, even on a
            // loaded machine.
            let line = kid.recv_within(Duration::from_secs(60));
            let status = kid.wait_within(Duration::from_secs(10));
            let what = format!("seed {seed}, {api}, {role}");
            let Some(status) = status else {
                failed.push(format!("{what}: hung, killed"));
                continue;
            };
            if !status.success() {
                // A panic (101) or a signal: its message is above.
                failed.push(format!("{what}: ended with {status}"));
                continue;
            }
            let line = line.unwrap_or_default();
            let Some(counts) = line.strip_prefix("ok ") else {
                failed.push(format!("{what}: said {line:?}"));
                continue;
            };
            let n: Vec<u64> = counts.split(' ').filter_map(|w| w.parse().ok()).collect();
            if role == "scribbler" {
                // "W writes C cuts"
                cuts += n[1];
            } else {
                ok += n[0];
                err += n[1];
                truncated += n[2];
                if api == "Segment" {
                    segment_truncated += n[2];
                }
                runs += 1;
            }
        }
        drop(keep);
    }
    eprintln!(
        "{seeds} seeds, {runs} user processes over 9 APIs: {ok} calls gave data, {err} an error \
         ({truncated} Truncated, after {cuts} cuts); {:?}",
        start.elapsed()
    );
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    // The scribbler must have bitten, and the APIs must still have worked.
    assert!(ok > 0 && err > 0, "ok {ok}, errors {err}");
    if cfg!(target_os = "linux") {
        // The cuts must have been seen as what they are.
        assert!(
            cuts > 0 && segment_truncated > 0,
            "{cuts} cuts, {segment_truncated} Truncated from Segment calls"
        );
    } else {
        eprintln!("no cuts: segments cannot be cut short by path on this OS");
    }
}

// ---------------------------------------------------------------------------
// No signals.
// ---------------------------------------------------------------------------

/// The scribbler, the truncation table (Linux) and the kill table, one after
/// another on this thread: every child process they started was reaped, and
/// ended by itself with no signal, or, killed on purpose, by `SIGKILL`. (Each suite also
/// runs as its own test; this one checks how every process ended, which the
/// suites check only where they look at an exit status.)
#[test]
fn no_process_of_the_scribbler_truncation_and_kill_suites_ends_by_a_signal() {
    if let Some((r, args)) = role() {
        return child(&r, &args);
    }
    let _ = (common::take_endings(), common::take_unreaped());
    scribbler_across_every_api_never_panics_crashes_or_hangs();
    let scribbled = common::take_endings();
    kill_at_every_failpoint_and_survivors_recover_as_documented();
    let killed = common::take_endings();
    #[cfg(target_os = "linux")]
    let (cut, cut_bad) = {
        truncate::cases_without_signals();
        truncate::take_unexpected_endings()
    };
    #[cfg(not(target_os = "linux"))]
    let (cut, cut_bad) = {
        eprintln!("no truncation table: segments cannot be cut short by path on this OS");
        (0, Vec::<String>::new())
    };
    let kills = killed.iter().filter(|e| e.killed).count();
    eprintln!(
        "children reaped: scribbler suite {}, kill table {} ({kills} killed on purpose), \
         truncation table {cut}",
        scribbled.len(),
        killed.len(),
    );
    // Every suite ran children, and the kill table killed some.
    // One seed's worth at least: 19 users and 9 scribblers.
    assert!(scribbled.len() >= 28, "{}", scribbled.len());
    assert!(kills >= KILL_TABLE.len() - 1, "{kills} kills");
    if cfg!(target_os = "linux") {
        assert!(cut >= 30, "{cut}");
    }
    let mut bad = common::unexpected_endings(&[scribbled, killed].concat());
    bad.extend(cut_bad);
    // A child never reaped could have ended any way.
    bad.extend(
        common::take_unreaped()
            .iter()
            .map(|r| format!("{r}: never reaped")),
    );
    assert!(bad.is_empty(), "ended by a signal:\n{}", bad.join("\n"));
}

/// The check above fails for a child that a `SIGSEGV` or a `SIGBUS` ended,
/// for one killed on purpose that ended otherwise, for a `SIGKILL` that was
/// not on purpose, and for a child never reaped; a clean exit and a
/// `SIGKILL` on purpose pass.
#[cfg(unix)]
#[test]
fn a_child_ended_by_sigsegv_or_sigbus_is_an_unexpected_ending() {
    const TEST: &str = "a_child_ended_by_sigsegv_or_sigbus_is_an_unexpected_ending";
    if let Some((r, args)) = role() {
        let signal: i32 = args[0].parse().unwrap();
        if r == "raise" {
            // SAFETY: `SIG_DFL` for a valid signal number, then `raise`:
            // neither has memory-safety preconditions. (The default action
            // first: Rust's runtime handles SIGSEGV and SIGBUS for stack
            // overflows and returns from a raised one.)
            unsafe {
                libc::signal(signal, libc::SIG_DFL);
                libc::raise(signal);
            }
        }
        say("alive");
        if r == "sleep" {
            // Until killed (the parent's end of stdin closing does not end it).
            std::thread::sleep(Duration::from_secs(60));
        }
        return;
    }
    let segv = libc::SIGSEGV.to_string();
    let bus = libc::SIGBUS.to_string();
    Child::spawn(TEST, "raise", &[&segv]).wait_status();
    Child::spawn(TEST, "raise", &[&bus]).wait_status();
    Child::spawn(TEST, "exit", &["0"]).wait_status();
    let mut live = Child::spawn(TEST, "sleep", &["0"]);
    assert_eq!(live.recv(), "alive");
    live.kill9();
    let mut live = Child::spawn(TEST, "sleep", &["0"]);
    assert_eq!(live.recv(), "alive");
    assert!(live.wait_within(Duration::from_millis(1)).is_none());
    let endings = common::take_endings();
    assert_eq!(endings.len(), 5, "{endings:?}");
    let bad = common::unexpected_endings(&endings);
    assert_eq!(bad.len(), 3, "{bad:?}");
    assert!(bad[0].contains("SIGSEGV"), "{}", bad[0]);
    assert!(bad[1].contains("SIGBUS"), "{}", bad[1]);
    assert!(
        bad[2].contains("SIGKILL") && bad[2].contains("not killed"),
        "{}",
        bad[2]
    );
    // Killed on purpose, but it had ended by itself: unexpected too.
    let mut exited = endings[2].clone();
    exited.killed = true;
    assert_eq!(common::unexpected_endings(&[exited]).len(), 1);
    // A handle dropped while its child runs: noted as never reaped.
    assert!(common::take_unreaped().is_empty());
    let mut live = Child::spawn(TEST, "sleep", &["0"]);
    assert_eq!(live.recv(), "alive");
    let pid = live.pid() as libc::pid_t;
    drop(live);
    assert_eq!(common::take_unreaped().len(), 1);
    assert!(common::take_endings().is_empty());
    // SAFETY: `kill` and `waitpid` of our own child, with a null status
    // pointer (allowed): no memory-safety preconditions.
    unsafe {
        assert_eq!(libc::kill(pid, libc::SIGKILL), 0);
        assert_eq!(libc::waitpid(pid, std::ptr::null_mut(), 0), pid);
    }
}
