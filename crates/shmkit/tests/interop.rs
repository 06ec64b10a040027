//! A 32-bit and a 64-bit process share a typed segment, a mutex, events, an
//! SPSC queue, a typed channel, an MPMC queue and a broadcast ring, each
//! created once by either side.
//!
//! This file is compiled for both targets. The test binary of one bitness is
//! the parent; `SHMKIT_PEER_EXE` names the test binary of the other, which
//! the parent runs as its child (the same test, `--exact`, with
//! `SHMKIT_ROLE` set, as in `common`). Every child first reports its pointer
//! width, and the parent asserts that it differs from its own. The tests
//! that need a peer are `#[ignore]`d with that reason, so a plain
//! `cargo test` (where no i686 toolchain may be installed) reports them as
//! ignored rather than as passed; run with `--ignored` they fail unless
//! `SHMKIT_PEER_EXE` is set. `ci/interop.sh` builds both binaries, runs each
//! as the parent of the other with `--include-ignored`, and fails unless
//! every test of this file ran:
//!
//! ```sh
//! bash ci/interop.sh
//! ```
//!
//! Unix only (Linux is where both targets run here). Not built under
//! `cfg(loom)`, where the sync types have no in-place form.
#![cfg(all(unix, not(loom)))]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{child_args, hear, mix, role, say, unique, Child, Cleanup, QueueCleanup};
use shmkit::broadcast::{Publisher, Subscriber};
use shmkit::queue::{mpmc, spsc, Receiver, Sender};
use shmkit::sync::{Event, Mutex, TryLockError};
use shmkit::{Error, Layout, Shared};

/// This process's pointer width, which the peer must not share.
const BITS: u32 = usize::BITS;

/// The other-bitness test binary. These tests run only when asked for
/// (`--ignored`), so a missing `SHMKIT_PEER_EXE` fails them with what to do.
fn peer_exe() -> PathBuf {
    let exe = std::env::var_os("SHMKIT_PEER_EXE").unwrap_or_else(|| {
        panic!(
            "set SHMKIT_PEER_EXE to the other-bitness build of this test \
             (bash ci/interop.sh does)"
        )
    });
    let exe = PathBuf::from(exe);
    assert!(
        exe.is_file(),
        "SHMKIT_PEER_EXE={} is no file",
        exe.display()
    );
    exe
}

/// Runs test `test` of the peer binary in `role`, and checks that it runs
/// with the other pointer width.
fn spawn_peer(exe: &PathBuf, test: &str, role: &str, args: &[&str]) -> Child {
    let mut cmd = Command::new(exe);
    child_args(&mut cmd, test, role, args);
    // The peer's test is ignored by default too.
    cmd.arg("--ignored");
    let mut child = Child::start(cmd);
    let line = child.recv();
    let bits: u32 = line
        .strip_prefix("bits ")
        .and_then(|b| b.parse().ok())
        .unwrap_or_else(|| panic!("peer said {line:?}, not its pointer width"));
    assert_ne!(bits, BITS, "the peer has this process's bitness");
    assert!(bits == 32 || bits == 64, "{bits}");
    child
}

/// In a child: the role and its arguments, after telling the parent this
/// process's pointer width.
fn peer_role() -> Option<(String, Vec<String>)> {
    let r = role()?;
    say(&format!("bits {BITS}"));
    Some(r)
}

/// FNV-1a of a type's layout description: what the header and channels
/// compare.
fn layout_hash<T: Layout>() -> u64 {
    shmkit::header::fnv1a(&T::describe().to_bytes())
}

// ------------------------------------------------------------------------ sizes

/// A segment another program made larger than a 32-bit process can map (a
/// sparse file in `/dev/shm`, so it costs no memory) is refused there with
/// `InvalidSize`, never mapped truncated; a 64-bit process maps all of it.
/// Needs no peer: each bitness checks its own side.
#[cfg(target_os = "linux")]
#[test]
fn a_segment_too_large_for_32_bits_is_refused_not_truncated() {
    use std::os::unix::fs::OpenOptionsExt;
    for (tag, len) in [("3g", 3u64 << 30), ("5g", 5u64 << 30)] {
        let name = unique(&format!("ix-{tag}"));
        let _c = Cleanup(name.clone());
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(format!("/dev/shm/{name}"))
            .unwrap();
        file.set_len(len).unwrap();
        match shmkit::Segment::open(&name) {
            Ok(seg) => {
                assert_eq!(BITS, 64, "a 32-bit process mapped {} bytes", seg.len());
                assert_eq!(seg.len() as u64, len);
                let mut last = [1u8];
                seg.read_at(seg.len() - 1, &mut last).unwrap();
                assert_eq!(last, [0]);
            }
            Err(Error::InvalidSize { len: l, .. }) => {
                assert_eq!(BITS, 32, "a 64-bit process refused {len} bytes");
                assert_eq!(l, len);
            }
            Err(e) => panic!("{tag}: {e}"),
        }
    }
}

// ---------------------------------------------------------------- typed segment

/// Every primitive kind, with the 8-byte ones after 4-byte ones (where i686
/// and x86_64 would differ without explicit padding), nested and in arrays.
#[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Mixed {
    small: u8,
    tiny: i8,
    half: u16,
    word: u32,
    big: u64,
    signed: i64,
    real: f64,
    ratio: f32,
    count: i32,
    bigs: [u64; 3],
    inner: Inner,
    halves: [i16; 4],
}

#[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Inner {
    x: u32,
    _pad: u32,
    y: f64,
}

// The same on both targets, or this file does not compile for one of them.
const _: () = {
    assert!(std::mem::size_of::<Mixed>() == 88);
    assert!(std::mem::offset_of!(Mixed, big) == 8);
    assert!(std::mem::offset_of!(Mixed, bigs) == 40);
    assert!(std::mem::offset_of!(Mixed, inner) == 64);
    assert!(<Mixed as Layout>::ALIGN == 8);
};

/// A value that depends on every bit of `seed`, in every field.
fn mixed(seed: u64) -> Mixed {
    let r = |i: u64| mix(seed.wrapping_mul(31).wrapping_add(i));
    Mixed {
        small: r(0) as u8,
        tiny: r(1) as i8,
        half: r(2) as u16,
        word: r(3) as u32,
        big: r(4) | 1 << 63,
        signed: -(r(5) as i64 >> 1),
        real: (r(6) >> 11) as f64 / 3.0,
        ratio: (r(7) >> 40) as f32 / 7.0,
        count: r(8) as i32,
        bigs: [r(9), r(10), u64::MAX - r(11) % 1000],
        inner: Inner {
            x: r(12) as u32,
            _pad: 0,
            y: -((r(13) >> 11) as f64) * 1e-3,
        },
        halves: [r(14) as i16, r(15) as i16, i16::MIN, i16::MAX],
    }
}

/// The side that opens checks the creator's value, then writes its own, by
/// fields and whole; the creator checks that.
fn check_then_write(data: &Shared<Mixed>, expect: u64, write: u64) {
    assert_eq!(data.load().unwrap(), mixed(expect));
    assert_eq!(data.big().get().unwrap(), mixed(expect).big);
    assert_eq!(data.inner().y().get().unwrap(), mixed(expect).inner.y);
    assert_eq!(data.bigs().at(2).get().unwrap(), mixed(expect).bigs[2]);
    let new = mixed(write);
    data.store(&new).unwrap();
    // The same values again, through the field accessors.
    data.big().set(new.big).unwrap();
    data.signed().set(new.signed).unwrap();
    data.bigs().at(1).set(new.bigs[1]).unwrap();
    data.inner().y().set(new.inner.y).unwrap();
}

#[test]
#[ignore = "needs SHMKIT_PEER_EXE, the other-bitness build of this test: bash ci/interop.sh runs it"]
fn typed_segment_is_shared_both_ways() {
    const TEST: &str = "typed_segment_is_shared_both_ways";
    if let Some((role, args)) = peer_role() {
        let name = &args[0];
        // What this bitness computes for the layout, for the parent to compare.
        say(&format!(
            "layout {:x} {} {:x}",
            layout_hash::<Mixed>(),
            std::mem::size_of::<Mixed>(),
            layout_hash::<shmkit::sync::Mutex<Tally>>(),
        ));
        match role.as_str() {
            "open" => {
                let data = Shared::<Mixed>::open(name).unwrap();
                say(&format!("offset {}", data.data_offset()));
                check_then_write(&data, 1, 2);
                say("wrote");
            }
            "create" => {
                let data = Shared::<Mixed>::create_with(name, mixed(3)).unwrap();
                say(&format!("offset {}", data.data_offset()));
                assert_eq!(hear(), "check");
                assert_eq!(data.load().unwrap(), mixed(4));
                say("checked");
            }
            other => panic!("unknown role {other}"),
        }
        return;
    }
    let exe = peer_exe();
    let ours = format!(
        "layout {:x} {} {:x}",
        layout_hash::<Mixed>(),
        std::mem::size_of::<Mixed>(),
        layout_hash::<shmkit::sync::Mutex<Tally>>(),
    );

    // This side creates, the peer opens.
    let name = unique("ix-typed");
    let _c = Cleanup(name.clone());
    let data = Shared::<Mixed>::create_with(&name, mixed(1)).unwrap();
    let mut peer = spawn_peer(&exe, TEST, "open", &[&name]);
    assert_eq!(peer.recv(), ours, "layout descriptions differ");
    assert_eq!(peer.recv(), format!("offset {}", data.data_offset()));
    assert_eq!(peer.recv(), "wrote");
    assert_eq!(data.load().unwrap(), mixed(2));
    peer.wait_ok();

    // The peer creates, this side opens.
    let name = unique("ix-typed2");
    let _c = Cleanup(name.clone());
    let mut peer = spawn_peer(&exe, TEST, "create", &[&name]);
    assert_eq!(peer.recv(), ours, "layout descriptions differ");
    let offset = peer.recv();
    let data = Shared::<Mixed>::open(&name).unwrap();
    assert_eq!(offset, format!("offset {}", data.data_offset()));
    check_then_write(&data, 3, 4);
    peer.send("check");
    assert_eq!(peer.recv(), "checked");
    peer.wait_ok();
}

// ----------------------------------------------------------------- mutex, event

/// What the mutex guards: a total, and each side's share of it.
#[derive(shmkit::Layout, Clone, Copy, Debug)]
#[repr(C)]
struct Tally {
    total: u64,
    by_creator: u64,
    by_opener: u64,
    bits_of_last: u32,
    _pad: u32,
}

#[derive(shmkit::Layout)]
#[shmkit(in_place)]
#[repr(C)]
struct Board {
    tally: Mutex<Tally>,
    ping: Event,
    pong: Event,
}

const INCREMENTS: u64 = 20_000;
const ROUND_TRIPS: u32 = 200;

/// Adds `INCREMENTS` to the total and to this side's share, checking under
/// the lock that nobody else is inside (the total is the sum of the shares).
fn increment(board: &Board, creator: bool) {
    for _ in 0..INCREMENTS {
        let mut t = board.tally.lock().unwrap();
        assert_eq!(t.total, t.by_creator + t.by_opener, "two holders at once");
        t.total += 1;
        if creator {
            t.by_creator += 1;
        } else {
            t.by_opener += 1;
        }
        t.bits_of_last = BITS;
    }
}

#[test]
#[ignore = "needs SHMKIT_PEER_EXE, the other-bitness build of this test: bash ci/interop.sh runs it"]
fn mutex_counts_exactly_and_events_wake_both_ways() {
    const TEST: &str = "mutex_counts_exactly_and_events_wake_both_ways";
    if let Some((role, args)) = peer_role() {
        let creator = role == "create";
        let board = if creator {
            Shared::<Board>::create(&args[0]).unwrap()
        } else {
            Shared::<Board>::open(&args[0]).unwrap()
        };
        let b = board.get();
        say("ready");
        assert_eq!(hear(), "go");
        increment(b, creator);
        // The parent pings, this side pongs: every wake crosses bitness.
        for _ in 0..ROUND_TRIPS {
            assert!(
                b.ping.wait_timeout(Duration::from_secs(10)).unwrap(),
                "no ping"
            );
            b.pong.notify_one().unwrap();
        }
        say("done");
        hear(); // the creator keeps the name until the parent is done
        return;
    }
    let exe = peer_exe();
    for here_creates in [true, false] {
        let name = unique("ix-mutex");
        let _c = Cleanup(name.clone());
        let (board, mut peer) = if here_creates {
            let board = Shared::<Board>::create(&name).unwrap();
            (board, spawn_peer(&exe, TEST, "open", &[&name]))
        } else {
            let mut peer = spawn_peer(&exe, TEST, "create", &[&name]);
            assert_eq!(peer.recv(), "ready");
            (Shared::<Board>::open(&name).unwrap(), peer)
        };
        if here_creates {
            assert_eq!(peer.recv(), "ready");
        }
        let b = board.get();
        peer.send("go");
        increment(b, here_creates);
        let start = Instant::now();
        for i in 0..ROUND_TRIPS {
            b.ping.notify_one().unwrap();
            assert!(
                b.pong.wait_timeout(Duration::from_secs(10)).unwrap(),
                "no pong {i}"
            );
        }
        // A futex wake lost across bitness would cost a timeout, not µs.
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(peer.recv(), "done");
        let t = *b.tally.lock().unwrap();
        assert_eq!(t.total, 2 * INCREMENTS, "creates here: {here_creates}");
        assert_eq!(t.by_creator, INCREMENTS);
        assert_eq!(t.by_opener, INCREMENTS);
        assert!(t.bits_of_last == 32 || t.bits_of_last == 64);
        peer.send("exit");
        peer.wait_ok();
    }
}

#[test]
#[ignore = "needs SHMKIT_PEER_EXE, the other-bitness build of this test: bash ci/interop.sh runs it"]
fn mutex_holder_killed_on_one_side_is_recovered_on_the_other() {
    const TEST: &str = "mutex_holder_killed_on_one_side_is_recovered_on_the_other";
    if let Some((role, args)) = peer_role() {
        let board = if role == "create-hold" {
            Shared::<Board>::create(&args[0]).unwrap()
        } else {
            Shared::<Board>::open(&args[0]).unwrap()
        };
        let mut t = board.get().tally.lock().unwrap();
        t.total = 4242;
        t.bits_of_last = BITS;
        say("locked");
        hear(); // killed while waiting here
        unreachable!("the parent kills this process");
    }
    let exe = peer_exe();
    for here_creates in [true, false] {
        let name = unique("ix-kill");
        let _c = Cleanup(name.clone());
        let (board, peer) = if here_creates {
            let board = Shared::<Board>::create(&name).unwrap();
            let mut peer = spawn_peer(&exe, TEST, "hold", &[&name]);
            assert_eq!(peer.recv(), "locked");
            (board, peer)
        } else {
            let mut peer = spawn_peer(&exe, TEST, "create-hold", &[&name]);
            assert_eq!(peer.recv(), "locked");
            (Shared::<Board>::open(&name).unwrap(), peer)
        };
        let mut peer = Some(peer);
        let m = &board.get().tally;
        // Alive on the other side: its owner word is read as alive.
        assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
        std::thread::scope(|s| {
            // A waiter blocks on the futex, then the holder is killed.
            let waiter = s.spawn(|| {
                let start = Instant::now();
                let g = match m.lock() {
                    Err(died) => died.owner_died().expect("a dead owner").into_inner(),
                    Ok(g) => panic!("clean lock, total {}", g.total),
                };
                (g.total, g.bits_of_last, start.elapsed())
            });
            std::thread::sleep(Duration::from_millis(50)); // let it block (not needed for correctness)
            peer.take().unwrap().kill9();
            let (total, bits, waited) = waiter.join().unwrap();
            assert_eq!(total, 4242, "the dead holder's write is seen");
            assert_eq!(bits, 96 - BITS, "written by the other bitness");
            assert!(waited < Duration::from_secs(5), "{waited:?}");
        });
        // The warning stays until repaired; then locks are clean.
        match m.try_lock() {
            Err(TryLockError::OwnerDied(died)) => {
                let mut g = died.into_inner();
                g.total = 0;
                g.mark_consistent();
            }
            other => panic!("expected OwnerDied again, got {}", other.is_ok()),
        }
        assert_eq!(m.lock().unwrap().total, 0);
    }
}

// ----------------------------------------------------------------------- queues

const MESSAGES: u64 = 3000;

/// Message `i` of stream `stream`: a length from 0 to 700 bytes of content,
/// then the sequence number and an FNV-1a checksum of the content.
fn message(stream: u64, i: u64) -> Vec<u8> {
    let seed = mix(stream << 32 | i);
    let len = (seed % 701) as usize;
    let mut m: Vec<u8> = (0..len as u64).map(|j| mix(seed ^ j) as u8).collect();
    let sum = shmkit::header::fnv1a(&m);
    m.extend(i.to_le_bytes());
    m.extend(sum.to_le_bytes());
    m
}

/// Checks a received message: its checksum, and that it is number `i`.
fn check_message(stream: u64, i: u64, m: &[u8]) {
    assert!(m.len() >= 16, "message {i}: {} bytes", m.len());
    let (content, trailer) = m.split_at(m.len() - 16);
    let seq = u64::from_le_bytes(trailer[..8].try_into().unwrap());
    let sum = u64::from_le_bytes(trailer[8..].try_into().unwrap());
    assert_eq!(shmkit::header::fnv1a(content), sum, "message {i}: checksum");
    assert_eq!(seq, i, "message out of order");
    assert_eq!(m, message(stream, i), "message {i}");
}

/// Sends stream `stream`: by copy, and every third message in place.
fn spsc_send(tx: &mut spsc::Producer, stream: u64) {
    for i in 0..MESSAGES {
        let m = message(stream, i);
        if i % 3 == 0 {
            let mut g = tx.reserve(m.len()).unwrap();
            g.write_at(0, &m).unwrap();
            g.commit().unwrap();
        } else {
            tx.send(&m).unwrap();
        }
    }
}

/// Receives stream `stream`: by copy, and every other message in place.
fn spsc_recv(rx: &mut spsc::Consumer, stream: u64) {
    for i in 0..MESSAGES {
        if i % 2 == 0 {
            check_message(stream, i, &rx.recv().unwrap());
        } else {
            let msg = rx.read().unwrap();
            let mut buf = vec![0; msg.len()];
            msg.read_at(0, &mut buf).unwrap();
            msg.release();
            check_message(stream, i, &buf);
        }
    }
    assert!(matches!(
        rx.recv_timeout(Duration::from_secs(10)),
        Err(Error::Closed { .. })
    ));
}

#[test]
#[ignore = "needs SHMKIT_PEER_EXE, the other-bitness build of this test: bash ci/interop.sh runs it"]
fn spsc_queue_carries_messages_both_ways() {
    const TEST: &str = "spsc_queue_carries_messages_both_ways";
    if let Some((role, args)) = peer_role() {
        let stream: u64 = args[1].parse().unwrap();
        match role.as_str() {
            "send" => spsc_send(&mut spsc::Producer::open(&args[0]).unwrap(), stream),
            "create-recv" => {
                let mut rx = spsc::Consumer::create(&args[0], 4096).unwrap();
                say("created");
                spsc_recv(&mut rx, stream);
                say("received");
            }
            other => panic!("unknown role {other}"),
        }
        return;
    }
    let exe = peer_exe();
    // The peer sends into a queue this side created (a 4 KiB ring: it wraps
    // and fills, so both sides block and wake each other).
    let name = unique("ix-spsc");
    let _c = QueueCleanup(name.clone());
    let mut rx = spsc::Consumer::create(&name, 4096).unwrap();
    let peer = spawn_peer(&exe, TEST, "send", &[&name, "1"]);
    spsc_recv(&mut rx, 1);
    peer.wait_ok();

    // This side sends into a queue the peer created.
    let name = unique("ix-spsc2");
    let _c = QueueCleanup(name.clone());
    let mut peer = spawn_peer(&exe, TEST, "create-recv", &[&name, "2"]);
    assert_eq!(peer.recv(), "created");
    let mut tx = spsc::Producer::open(&name).unwrap();
    spsc_send(&mut tx, 2);
    drop(tx);
    assert_eq!(peer.recv(), "received");
    peer.wait_ok();
}

/// A typed message: 8-byte fields after 4- and 2-byte ones, and a checksum.
#[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Tick {
    qty: u32,
    side: u16,
    flags: u16,
    seq: u64,
    price: f64,
    sum: u64,
}

fn tick(stream: u64, i: u64) -> Tick {
    let r = mix(stream << 32 | i);
    let mut t = Tick {
        qty: r as u32,
        side: (r >> 32) as u16,
        flags: (r >> 48) as u16,
        seq: i,
        price: (r >> 11) as f64 / 1024.0,
        sum: 0,
    };
    t.sum = tick_sum(&t);
    t
}

fn tick_sum(t: &Tick) -> u64 {
    let mut b = Vec::new();
    b.extend(t.qty.to_le_bytes());
    b.extend(t.side.to_le_bytes());
    b.extend(t.flags.to_le_bytes());
    b.extend(t.seq.to_le_bytes());
    b.extend(t.price.to_bits().to_le_bytes());
    shmkit::header::fnv1a(&b)
}

fn channel_recv(rx: &mut Receiver<Tick>, stream: u64) {
    for i in 0..MESSAGES {
        let t = rx.recv().unwrap();
        assert_eq!(t.sum, tick_sum(&t), "tick {i}: checksum");
        assert_eq!(t, tick(stream, i));
    }
}

#[test]
#[ignore = "needs SHMKIT_PEER_EXE, the other-bitness build of this test: bash ci/interop.sh runs it"]
fn typed_channel_carries_values_both_ways() {
    const TEST: &str = "typed_channel_carries_values_both_ways";
    if let Some((role, args)) = peer_role() {
        let stream: u64 = args[1].parse().unwrap();
        match role.as_str() {
            "send" => {
                let mut tx = Sender::<Tick>::open(&args[0]).unwrap();
                for i in 0..MESSAGES {
                    tx.send(&tick(stream, i)).unwrap();
                }
            }
            "create-recv" => {
                let mut rx = Receiver::<Tick>::create(&args[0], 64).unwrap();
                say("created");
                channel_recv(&mut rx, stream);
                say("received");
            }
            other => panic!("unknown role {other}"),
        }
        return;
    }
    let exe = peer_exe();
    let name = unique("ix-chan");
    let _c = QueueCleanup(name.clone());
    let mut rx = Receiver::<Tick>::create(&name, 64).unwrap();
    let peer = spawn_peer(&exe, TEST, "send", &[&name, "3"]);
    channel_recv(&mut rx, 3);
    peer.wait_ok();

    let name = unique("ix-chan2");
    let _c = QueueCleanup(name.clone());
    let mut peer = spawn_peer(&exe, TEST, "create-recv", &[&name, "4"]);
    assert_eq!(peer.recv(), "created");
    let mut tx = Sender::<Tick>::open(&name).unwrap();
    for i in 0..MESSAGES {
        tx.send(&tick(4, i)).unwrap();
    }
    assert_eq!(peer.recv(), "received");
    peer.wait_ok();
}

/// One process's part of the MPMC test: a consumer (which creates the queue
/// if `create`) and a producer. Once both are attached, `sync` returns when
/// the other process's are too; then the producer sends stream `stream`, and
/// the consumer takes whatever comes, from either producer, until both
/// have closed, checking checksums and each stream's order, and returns
/// `count sum-of-ids xor-of-ids`.
fn mpmc_side(name: &str, create: bool, stream: u64, sync: impl FnOnce()) -> String {
    let mut rx = if create {
        mpmc::Consumer::create(name, 16, 1024).unwrap()
    } else {
        mpmc::Consumer::open(name).unwrap()
    };
    let mut tx = mpmc::Producer::open(name).unwrap();
    sync();
    std::thread::scope(|s| {
        s.spawn(move || {
            for i in 0..MESSAGES {
                tx.send(&message(stream, i)).unwrap();
            }
        });
        let (mut count, mut sum, mut xor) = (0u64, 0u64, 0u64);
        let mut last = [None::<u64>; 2];
        loop {
            let m = match rx.recv() {
                Ok(m) => m,
                Err(Error::Closed { .. }) => break,
                Err(e) => panic!("{e}"),
            };
            let seq = u64::from_le_bytes(m[m.len() - 16..m.len() - 8].try_into().unwrap());
            // Which stream: the one whose message `seq` this is.
            let from = [10, 11]
                .into_iter()
                .position(|st| m == message(st, seq))
                .unwrap_or_else(|| panic!("message {seq} matches no stream"));
            check_message(10 + from as u64, seq, &m);
            assert!(last[from].is_none_or(|l| l < seq), "stream out of order");
            last[from] = Some(seq);
            let id = (from as u64) << 32 | seq;
            count += 1;
            sum = sum.wrapping_add(id);
            xor ^= mix(id);
        }
        format!("{count} {sum} {xor}")
    })
}

#[test]
#[ignore = "needs SHMKIT_PEER_EXE, the other-bitness build of this test: bash ci/interop.sh runs it"]
fn mpmc_queue_delivers_each_message_once_across_both_sides() {
    const TEST: &str = "mpmc_queue_delivers_each_message_once_across_both_sides";
    if let Some((role, args)) = peer_role() {
        let stream: u64 = args[1].parse().unwrap();
        let digest = mpmc_side(&args[0], role == "create", stream, || {
            say("ready");
            assert_eq!(hear(), "go");
        });
        say(&digest);
        return;
    }
    let exe = peer_exe();
    // Streams 10 (this side) and 11 (the peer), every message of both
    // exactly once, across the two consumers.
    let expected = {
        let (mut sum, mut xor) = (0u64, 0u64);
        for from in 0..2u64 {
            for seq in 0..MESSAGES {
                sum = sum.wrapping_add(from << 32 | seq);
                xor ^= mix(from << 32 | seq);
            }
        }
        (2 * MESSAGES, sum, xor)
    };
    for here_creates in [true, false] {
        let name = unique("ix-mpmc");
        let _c = QueueCleanup(name.clone());
        let role = if here_creates { "open" } else { "create" };
        let mut peer = if here_creates {
            None
        } else {
            let mut p = spawn_peer(&exe, TEST, role, &[&name, "11"]);
            assert_eq!(p.recv(), "ready");
            Some(p)
        };
        let mine = mpmc_side(&name, here_creates, 10, || {
            if here_creates {
                let mut p = spawn_peer(&exe, TEST, role, &[&name, "11"]);
                assert_eq!(p.recv(), "ready");
                peer = Some(p);
            }
            peer.as_mut().unwrap().send("go");
        });
        let mut peer = peer.unwrap();
        let theirs = peer.recv();
        peer.wait_ok();
        let parse = |s: &str| -> Vec<u64> { s.split(' ').map(|x| x.parse().unwrap()).collect() };
        let (a, b) = (parse(&mine), parse(&theirs));
        let got = (a[0] + b[0], a[1].wrapping_add(b[1]), a[2] ^ b[2]);
        assert_eq!(
            got, expected,
            "creates here: {here_creates}; {mine} + {theirs}"
        );
    }
}

/// Takes stream `stream` from a broadcast ring until its publisher closes:
/// every message whole (checksum) and in order, the ones it was lapped on
/// counted by `Lagged`, so that each number is accounted for exactly once.
/// Returns how many it received.
fn subscribe(rx: &mut Subscriber, stream: u64) -> u64 {
    let (mut next, mut got) = (0u64, 0u64);
    loop {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(m) => {
                check_message(stream, next, &m);
                next += 1;
                got += 1;
            }
            Err(Error::Lagged { missed, .. }) => next += missed,
            Err(Error::Closed { .. }) => break,
            Err(e) => panic!("after {next}: {e}"),
        }
    }
    assert_eq!(next, MESSAGES, "messages unaccounted for");
    assert!(got > 0);
    got
}

#[test]
#[ignore = "needs SHMKIT_PEER_EXE, the other-bitness build of this test: bash ci/interop.sh runs it"]
fn broadcast_ring_publishes_both_ways() {
    const TEST: &str = "broadcast_ring_publishes_both_ways";
    if let Some((role, args)) = peer_role() {
        let stream: u64 = args[1].parse().unwrap();
        match role.as_str() {
            "subscribe" => {
                let mut rx = Subscriber::open(&args[0]).unwrap();
                say("subscribed");
                say(&format!("got {}", subscribe(&mut rx, stream)));
            }
            "publish" => {
                let mut tx = Publisher::create(&args[0], 64, 1024).unwrap();
                say("created");
                assert_eq!(hear(), "go");
                for i in 0..MESSAGES {
                    tx.send(&message(stream, i)).unwrap();
                }
                drop(tx);
                hear(); // keep the name until the subscriber is done
            }
            other => panic!("unknown role {other}"),
        }
        return;
    }
    let exe = peer_exe();
    let name = unique("ix-bc");
    let _c = QueueCleanup(name.clone());
    let mut tx = Publisher::create(&name, 64, 1024).unwrap();
    let mut peer = spawn_peer(&exe, TEST, "subscribe", &[&name, "20"]);
    assert_eq!(peer.recv(), "subscribed");
    for i in 0..MESSAGES {
        tx.send(&message(20, i)).unwrap();
    }
    drop(tx);
    let got = peer.recv();
    assert!(got.starts_with("got "), "{got}");
    peer.wait_ok();

    let name = unique("ix-bc2");
    let _c = QueueCleanup(name.clone());
    let mut peer = spawn_peer(&exe, TEST, "publish", &[&name, "21"]);
    assert_eq!(peer.recv(), "created");
    let mut rx = Subscriber::open(&name).unwrap();
    peer.send("go");
    subscribe(&mut rx, 21);
    peer.send("exit");
    peer.wait_ok();
}
