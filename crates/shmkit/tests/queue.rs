//! Queues across real processes: a million mixed-size messages, a scribbler
//! writing garbage over the indices, MPMC with four producers. Producers and
//! consumers killed at each step of a message are in `faults.rs`.
//!
//! They run on Windows (under Wine) too: liveness there is a named event
//! per role, and `kill` is `TerminateProcess`.
#![allow(missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::{mix, role, say, unique, Child, QueueCleanup, XorShift};
use shmkit::queue::spsc::{Consumer, Producer};
use shmkit::queue::{mpmc, Receiver, Sender};
use shmkit::Error;

/// Message `i` of stream `stream`: 1 byte to 64 KiB, log-uniform, so that
/// both tiny and ring-sized messages cross the wrap point often. The first
/// 8 bytes (when there is room) are `i`; the rest follow from `i`.
fn message(stream: u64, i: u64, max: usize) -> Vec<u8> {
    let h = mix(stream << 40 ^ i);
    let bits = (h % 17) as u32;
    let len = (1 + ((h >> 8) % (1u64 << bits)) as usize).min(max);
    let mut v = Vec::with_capacity(len + 8);
    let mut k = 0u64;
    while v.len() < len {
        let word = if k == 0 {
            i
        } else {
            h.wrapping_add(k.wrapping_mul(0x9E37_79B9))
        };
        v.extend_from_slice(&word.to_le_bytes());
        k += 1;
    }
    v.truncate(len);
    v
}

fn fnv(h: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// A million in release builds; debug builds (CI runs `cargo test` in debug)
/// send fewer, to keep the suite fast.
const MILLION: u64 = if cfg!(debug_assertions) {
    20_000
} else {
    1_000_000
};

#[test]
fn spsc_million_mixed_sizes_across_processes() {
    if let Some((r, args)) = role() {
        assert_eq!(r, "producer");
        let mut tx = Producer::open(&args[0]).unwrap();
        let mut sum = 0xcbf2_9ce4_8422_2325u64;
        for i in 0..MILLION {
            let m = message(1, i, 65536);
            sum = fnv(sum, &m);
            tx.send(&m).unwrap();
        }
        say(&format!("{sum}"));
        return;
    }
    let name = unique("q-million");
    let _c = QueueCleanup(name.clone());
    let mut rx = Consumer::create(&name, 1 << 20).unwrap();
    let mut child = Child::spawn(
        "spsc_million_mixed_sizes_across_processes",
        "producer",
        &[&name],
    );
    let mut sum = 0xcbf2_9ce4_8422_2325u64;
    let mut buf = Vec::new();
    for i in 0..MILLION {
        rx.recv_into(&mut buf).unwrap();
        let want = message(1, i, 65536);
        assert!(
            buf == want,
            "message {i}: {} bytes, expected {}",
            buf.len(),
            want.len()
        );
        sum = fnv(sum, &buf);
    }
    assert_eq!(child.recv(), format!("{sum}"));
    child.wait_ok();
    // The producer exited cleanly: nothing more, and the consumer says why.
    assert!(matches!(
        rx.recv(),
        Err(Error::Closed {
            peer: "producer",
            ..
        })
    ));
}

/// A live producer holds the role: a second one is refused.
#[test]
fn spsc_second_live_producer_is_refused() {
    let name = unique("q-two");
    let _c = QueueCleanup(name.clone());
    let _rx = Consumer::create(&name, 1024).unwrap();
    let tx = Producer::open(&name).unwrap();
    assert!(matches!(
        Producer::open(&name),
        Err(Error::RoleTaken {
            role: "producer",
            ..
        })
    ));
    drop(tx);
    Producer::open(&name).unwrap();
}

/// Writes random words over a queue's indices, capacity and record headers.
fn scribble(name: &str, seed: u64, rounds: u32) {
    let seg = shmkit::Segment::open(name).unwrap();
    let mut rng = XorShift(seed | 1);
    let ring = 512usize;
    for _ in 0..rounds {
        let r = rng.next();
        let cap = seg.len() - ring;
        let off = match r % 6 {
            0 => 128, // tail
            1 => 256, // head
            2 => 24,  // capacity
            3 => {
                // The record header the consumer reads next.
                let mut head = [0u8; 8];
                seg.read_at(256, &mut head).unwrap();
                ring + (u64::from_le_bytes(head) as usize & (cap - 1) & !7)
            }
            _ => ring + 8 * (rng.next() as usize % (cap / 8)), // any record header
        };
        let value = match r >> 8 & 3 {
            0 => rng.next(),
            1 => rng.next() & 0xFFFF,
            2 => rng.next() | 1 << 63,
            _ => rng.next() & !7,
        };
        seg.write_at(off, &value.to_le_bytes()).unwrap();
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// A scribbler process writes random bytes over head, tail, capacity and
/// record headers while messages flow: each side either receives data or
/// reports `Corrupted`, `Timeout`, `PeerDied`; none panics, reads out of
/// bounds or hangs (each child must exit 0, the parent must not panic).
#[test]
fn spsc_scribbler_makes_the_other_side_report_corruption_never_panic() {
    const TEST: &str = "spsc_scribbler_makes_the_other_side_report_corruption_never_panic";
    if let Some((r, args)) = role() {
        if r == "scribbler" {
            scribble(&args[0], args[1].parse().unwrap(), 400);
            say("scribbled");
            return;
        }
        let mut tx = Producer::open(&args[0]).unwrap();
        say("attached");
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut i = 0;
        let end = loop {
            if Instant::now() > deadline {
                break "deadline".to_owned();
            }
            match tx.send_timeout(&message(3, i, 3000), Duration::from_millis(200)) {
                Ok(()) => i += 1,
                Err(Error::Timeout { .. }) => {}
                Err(e) => break format!("{e:?}"),
            }
        };
        say(&format!("producer ended: {end}"));
        return;
    }
    let mut corrupted = 0;
    for seed in 1..=4u64 {
        let name = unique("q-scrib");
        let _c = QueueCleanup(name.clone());
        let mut rx = Consumer::create(&name, 8 << 10).unwrap();
        let mut prod = Child::spawn(TEST, "producer", &[&name]);
        assert_eq!(prod.recv(), "attached");
        let mut scrib = Child::spawn(TEST, "scribbler", &[&name, &seed.to_string()]);
        let deadline = Instant::now() + Duration::from_secs(4);
        let mut got = 0u64;
        let outcome = loop {
            if Instant::now() > deadline {
                break "deadline".to_owned();
            }
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(_) => got += 1,
                Err(Error::Timeout { .. }) => {}
                // A scribbled end marker reads as a shrink and regrow.
                Err(e @ (Error::Corrupted { .. } | Error::Truncated { .. })) => {
                    corrupted += 1;
                    break format!("{e}");
                }
                Err(e) => break format!("{e:?}"),
            }
        };
        assert_eq!(scrib.recv(), "scribbled");
        scrib.wait_ok();
        drop(rx);
        eprintln!("seed {seed}: consumer got {got}, then {outcome}");
        let line = prod.recv();
        assert!(line.starts_with("producer ended"), "{line}");
        eprintln!("seed {seed}: {line}");
        if line.contains("Corrupted") || line.contains("Truncated") {
            corrupted += 1;
        }
        prod.wait_ok();
        // A fresh opener of the scribbled queue gets an error or a queue,
        // never a panic.
        let _ = Consumer::open(&name).map(|mut c| c.try_recv());
    }
    // Each seed scribbles hundreds of words: some side must notice.
    assert!(corrupted >= 4, "only {corrupted} detections in 4 seeds");
}

/// A peer that pushes `head` and `tail` past 2^63 (a pair that is otherwise
/// valid: 8-aligned, equal) makes the next endpoint refuse to attach with
/// `Corrupted`, instead of overflowing (a panic in debug builds) on its first
/// message. At 2^63 itself both ends attach, and messages go through.
#[test]
fn spsc_positions_a_peer_pushed_near_u64_max_are_refused_on_attach() {
    const TEST: &str = "spsc_positions_a_peer_pushed_near_u64_max_are_refused_on_attach";
    if let Some((r, args)) = role() {
        assert_eq!(r, "pusher");
        let seg = shmkit::Segment::open(&args[0]).unwrap();
        let pos: u64 = args[1].parse().unwrap();
        // `tail` and `head` (the queue's layout).
        for off in [128, 256] {
            seg.write_at(off, &pos.to_le_bytes()).unwrap();
        }
        say("pushed");
        return;
    }
    let push = |name: &str, pos: u64| {
        let mut c = Child::spawn(TEST, "pusher", &[name, &pos.to_string()]);
        assert_eq!(c.recv(), "pushed");
        c.wait_ok();
    };
    for pos in [u64::MAX - 7, (1 << 63) + 8] {
        // The consumer's queue opened by a producer, then the other way.
        for consumer_creates in [true, false] {
            let name = unique("q-pmax");
            let _c = QueueCleanup(name.clone());
            let _creator: Box<dyn std::any::Any> = if consumer_creates {
                Box::new(Consumer::create(&name, 4096).unwrap())
            } else {
                Box::new(Producer::create(&name, 4096).unwrap())
            };
            push(&name, pos);
            let r = if consumer_creates {
                Producer::open(&name).map(drop)
            } else {
                Consumer::open(&name).map(drop)
            };
            assert!(matches!(r, Err(Error::Corrupted { .. })), "{pos:#x}: {r:?}");
        }
    }
    let name = unique("q-atmax");
    let _c = QueueCleanup(name.clone());
    let _rx = Consumer::create(&name, 4096).unwrap();
    push(&name, 1 << 63);
    let mut tx = Producer::open(&name).unwrap();
    // Until the ring is full (the consumer does not read): every sum of
    // position, size and ring stays in range.
    let mut sent = 0;
    while tx.try_send(&[7; 100]).is_ok() {
        sent += 1;
    }
    assert!(sent >= 30, "only {sent} sent");
    assert!(matches!(tx.try_send(&[7; 100]), Err(Error::Full { .. })));

    let name = unique("q-atmax-c");
    let _c = QueueCleanup(name.clone());
    let _tx = Producer::create(&name, 4096).unwrap();
    push(&name, 1 << 63);
    let mut rx = Consumer::open(&name).unwrap();
    assert_eq!(rx.try_recv().unwrap(), None);
}

/// The typed channel across processes, and a program with another type is
/// refused.
#[test]
fn channel_of_layout_values_across_processes() {
    #[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
    #[repr(C)]
    struct Tick {
        seq: u64,
        price: f64,
        qty: u32,
        _pad: u32,
    }
    #[derive(shmkit::Layout, Clone, Copy)]
    #[repr(C)]
    struct Other {
        seq: u64,
    }
    if let Some((_, args)) = role() {
        let mut tx = Sender::<Tick>::open(&args[0]).unwrap();
        say("attached");
        for i in 0..1000u64 {
            tx.send(&Tick {
                seq: i,
                price: i as f64 / 2.0,
                qty: i as u32,
                _pad: 0,
            })
            .unwrap();
        }
        return;
    }
    let name = unique("q-chan");
    let _c = QueueCleanup(name.clone());
    let mut rx = Receiver::<Tick>::create(&name, 64).unwrap();
    assert!(matches!(
        Sender::<Other>::open(&name),
        Err(Error::LayoutMismatch { .. })
    ));
    // A byte producer may write anything: a value of the wrong size is
    // reported, and skipped.
    let mut raw = Producer::open(&name).unwrap();
    raw.send(&[1, 2, 3]).unwrap();
    drop(raw);
    assert!(matches!(rx.recv(), Err(Error::WrongSizeMessage { .. })));
    assert_eq!(rx.try_recv().unwrap(), None);
    let mut child = Child::spawn(
        "channel_of_layout_values_across_processes",
        "sender",
        &[&name],
    );
    // Until a new sender attaches, the closed one is what `recv` reports.
    assert_eq!(child.recv(), "attached");
    for i in 0..1000u64 {
        let t = rx.recv().unwrap();
        assert_eq!(
            t,
            Tick {
                seq: i,
                price: i as f64 / 2.0,
                qty: i as u32,
                _pad: 0
            }
        );
    }
    child.wait_ok();
}

/// A channel made from a run-time layout (as a binding for another language
/// makes it) carries a Rust type's values across processes; a Rust opener
/// with another type is refused, an inconsistent description is refused
/// before anything is created, and a described opener reads the layout a
/// Rust creator stored.
#[test]
fn described_channel_interoperates_with_typed_endpoints_across_processes() {
    use shmkit::layout::{Field, StructTy, Ty};
    use shmkit::queue::{channel, Options};
    use shmkit::Layout;

    #[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
    #[repr(C)]
    struct Tick {
        seq: u64,
        price: f64,
    }
    if let Some((_, args)) = role() {
        let mut tx = Sender::<Tick>::open(&args[0]).unwrap();
        say("attached");
        for i in 0..500u64 {
            tx.send(&Tick {
                seq: i,
                price: i as f64 * 0.25,
            })
            .unwrap();
        }
        return;
    }
    let name = unique("q-described");
    let _c = QueueCleanup(name.clone());
    let opts = Options::default();
    let mut rx = channel::create_described_receiver(&name, &Tick::describe(), 64, &opts).unwrap();
    assert!(matches!(
        Sender::<[u64; 2]>::open(&name),
        Err(Error::LayoutMismatch { .. })
    ));
    let mut child = Child::spawn(
        "described_channel_interoperates_with_typed_endpoints_across_processes",
        "sender",
        &[&name],
    );
    assert_eq!(child.recv(), "attached");
    for i in 0..500u64 {
        let m = rx.read().unwrap();
        assert_eq!(m.len(), 16);
        let mut buf = [0u8; 16];
        m.read_at(0, &mut buf).unwrap();
        m.release();
        assert_eq!(u64::from_le_bytes(buf[..8].try_into().unwrap()), i);
        assert_eq!(
            f64::from_le_bytes(buf[8..].try_into().unwrap()),
            i as f64 * 0.25
        );
    }
    child.wait_ok();
    drop(rx);

    // A field outside its struct is refused, and nothing is left behind.
    let bad_name = unique("q-described-bad");
    let bad = Ty::Struct(StructTy {
        name: "Bad".into(),
        size: 8,
        align: 8,
        fields: vec![Field {
            name: "x".into(),
            offset: 4,
            ty: u64::describe(),
        }],
    });
    assert!(matches!(
        channel::create_described_sender(&bad_name, &bad, 8, &opts),
        Err(Error::InvalidLayout { .. })
    ));
    assert!(matches!(
        Receiver::<u64>::open_with(&bad_name, &opts),
        Err(Error::NotFound { .. })
    ));

    // The other way: a Rust creator, a described opener that learns the type.
    let name2 = unique("q-described-rust");
    let _c2 = QueueCleanup(name2.clone());
    let mut tx = Sender::<Tick>::create(&name2, 8).unwrap();
    let (mut rx, ty) = channel::open_described_receiver(&name2, None, &opts).unwrap();
    assert_eq!(ty, Tick::describe());
    tx.send(&Tick { seq: 9, price: 1.0 }).unwrap();
    assert_eq!(rx.read().unwrap().len(), 16);
    assert!(matches!(
        channel::open_described_sender(&name2, Some(&u64::describe()), &opts),
        Err(Error::LayoutMismatch { .. })
    ));
    // A queue of bytes is no channel.
    let name3 = unique("q-described-bytes");
    let _c3 = QueueCleanup(name3.clone());
    let _p = Producer::create(&name3, 1024).unwrap();
    assert!(matches!(
        channel::open_described_receiver(&name3, None, &opts),
        Err(Error::NotAChannel { .. })
    ));
}

/// An order-independent digest of a set of message ids: count, wrapping sum
/// and xor of their hashes.
#[derive(Default, Debug, PartialEq)]
struct Digest(u64, u64, u64);

impl Digest {
    fn add(&mut self, id: u64) {
        self.0 += 1;
        self.1 = self.1.wrapping_add(mix(id ^ 0x5555));
        self.2 ^= mix(id ^ 0xAAAA);
    }
    fn merge(&mut self, line: &str) {
        let v: Vec<u64> = line.split(' ').map(|x| x.parse().unwrap()).collect();
        self.0 += v[0];
        self.1 = self.1.wrapping_add(v[1]);
        self.2 ^= v[2];
    }
}

/// Receives until every producer has closed, checking each message's
/// content and each producer's order; returns the digest of what it got.
fn mpmc_drain(rx: &mut mpmc::Consumer, per: u64) -> Digest {
    let mut d = Digest::default();
    let mut last = [None::<u64>; 4];
    let mut buf = Vec::new();
    loop {
        match rx.recv_into(&mut buf) {
            Ok(()) => {
                let i = u64::from_le_bytes(buf[..8].try_into().unwrap());
                let (k, n) = (i / per, i % per);
                assert!(buf == mpmc_message(k, n, per), "message {k}/{n}");
                assert!(
                    last[k as usize].is_none_or(|l| l < n),
                    "producer {k} out of order"
                );
                last[k as usize] = Some(n);
                d.add(i);
            }
            Err(Error::Closed { .. }) => return d,
            Err(e) => panic!("{e}"),
        }
    }
}

/// The MPMC message of producer `k`, number `n`: at least 8 bytes, starting
/// with its global id.
fn mpmc_message(k: u64, n: u64, per: u64) -> Vec<u8> {
    let mut m = message(100 + k, n, 65536);
    if m.len() < 8 {
        m.resize(8, 0);
    }
    m[..8].copy_from_slice(&(k * per + n).to_le_bytes());
    m
}

#[test]
fn mpmc_four_producers_two_consumers_every_message_exactly_once() {
    const TEST: &str = "mpmc_four_producers_two_consumers_every_message_exactly_once";
    let per = MILLION / 4;
    if let Some((r, args)) = role() {
        if r == "consumer" {
            let mut rx = mpmc::Consumer::open(&args[0]).unwrap();
            say("ready");
            let d = mpmc_drain(&mut rx, per);
            say(&format!("{} {} {}", d.0, d.1, d.2));
            return;
        }
        let k: u64 = args[1].parse().unwrap();
        let mut tx = mpmc::Producer::open(&args[0]).unwrap();
        say("ready");
        common::hear();
        for n in 0..per {
            tx.send(&mpmc_message(k, n, per)).unwrap();
        }
        return;
    }
    let name = unique("q-mpmc");
    let _c = QueueCleanup(name.clone());
    let mut rx = mpmc::Consumer::create(&name, 64, 65536).unwrap();
    let mut other = Child::spawn(TEST, "consumer", &[&name]);
    assert_eq!(other.recv(), "ready");
    let mut producers: Vec<Child> = (0..4)
        .map(|k| Child::spawn(TEST, "producer", &[&name, &k.to_string()]))
        .collect();
    for p in &mut producers {
        assert_eq!(p.recv(), "ready");
    }
    for p in &mut producers {
        p.send("go");
    }
    let mut d = mpmc_drain(&mut rx, per);
    for p in producers {
        p.wait_ok();
    }
    let mine = d.0;
    d.merge(&other.recv());
    other.wait_ok();
    let mut want = Digest::default();
    for i in 0..MILLION {
        want.add(i);
    }
    assert_eq!(d, want, "this consumer got {mine}");
}

/// A producer killed with `kill -9`, whose role state a scribbler then
/// writes back to "never attached": the consumer, which saw it attached,
/// still reports its death (a blocking `recv` would otherwise wait for it
/// forever), not "not attached yet".
#[test]
fn a_dead_peer_whose_state_was_scribbled_back_to_never_still_reads_as_dead() {
    const TEST: &str = "a_dead_peer_whose_state_was_scribbled_back_to_never_still_reads_as_dead";
    if let Some((_, args)) = role() {
        let _tx = Producer::open(&args[0]).unwrap();
        say("attached");
        std::thread::sleep(Duration::from_secs(60));
        return;
    }
    let name = unique("q-never");
    let _c = QueueCleanup(name.clone());
    let mut rx = Consumer::create(&name, 4096).unwrap();
    let mut child = Child::spawn(TEST, "producer", &[&name]);
    assert_eq!(child.recv(), "attached");
    assert_eq!(rx.peer(), shmkit::queue::Peer::Alive);
    child.kill9();
    // The producer's role state (offset 64), back to 0.
    let seg = shmkit::Segment::open(&name).unwrap();
    seg.write_at(64, &0u32.to_le_bytes()).unwrap();
    assert_eq!(rx.peer(), shmkit::queue::Peer::Died);
    let t = Instant::now();
    let r = rx.recv_timeout(Duration::from_secs(5));
    assert!(matches!(r, Err(Error::PeerDied { .. })), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

/// A peer that writes a slot count of 1 into an MPMC queue's header (a
/// power of two, so it looks valid) makes the next endpoint refuse it: with
/// one slot, producers would overwrite unread messages.
#[test]
fn mpmc_a_one_slot_count_written_by_a_peer_is_refused() {
    const TEST: &str = "mpmc_a_one_slot_count_written_by_a_peer_is_refused";
    if let Some((_, args)) = role() {
        let seg = shmkit::Segment::open(&args[0]).unwrap();
        // The header's `capacity` (slot count).
        seg.write_at(24, &1u64.to_le_bytes()).unwrap();
        say("written");
        return;
    }
    let name = unique("q-mpmc1");
    let _c = QueueCleanup(name.clone());
    let _rx = mpmc::Consumer::create(&name, 4, 64).unwrap();
    // Before: the queue opens.
    drop(mpmc::Producer::open(&name).unwrap());
    let mut child = Child::spawn(TEST, "writer", &[&name]);
    assert_eq!(child.recv(), "written");
    child.wait_ok();
    let r = mpmc::Producer::open(&name).map(drop);
    assert!(matches!(r, Err(Error::Corrupted { .. })), "{r:?}");
    let r = mpmc::Consumer::open(&name).map(drop);
    assert!(matches!(r, Err(Error::Corrupted { .. })), "{r:?}");
}

/// The scribbler against MPMC: random words over `enqueue`, `dequeue`, the
/// capacity and the slots' sequence and length words, while one producer
/// process sends and this process receives. Nobody panics or hangs.
#[test]
fn mpmc_scribbler_never_panics_or_hangs() {
    const TEST: &str = "mpmc_scribbler_never_panics_or_hangs";
    const SLOTS: usize = 16;
    const STRIDE: usize = 128;
    if let Some((r, args)) = role() {
        if r == "scribbler" {
            let seg = shmkit::Segment::open(&args[0]).unwrap();
            let mut rng = XorShift(args[1].parse::<u64>().unwrap() | 1);
            for _ in 0..400 {
                let r = rng.next();
                let slot = 1024 + STRIDE * (rng.next() as usize % SLOTS);
                let (off, bytes) = match r % 5 {
                    0 => (128, 8),
                    1 => (256, 8),
                    2 => (24, 8),
                    3 => (slot, 8),
                    _ => (slot + 8, 4),
                };
                let v = rng.next().to_le_bytes();
                seg.write_at(off, &v[..bytes]).unwrap();
                std::thread::sleep(Duration::from_micros(300));
            }
            say("scribbled");
            return;
        }
        let mut tx = mpmc::Producer::open(&args[0]).unwrap();
        say("attached");
        let deadline = Instant::now() + Duration::from_secs(3);
        let end = loop {
            if Instant::now() > deadline {
                break "deadline".to_owned();
            }
            match tx.send_timeout(&[5; 100], Duration::from_millis(100)) {
                Ok(()) | Err(Error::Timeout { .. }) => {}
                Err(e) => break format!("{e:?}"),
            }
        };
        say(&format!("producer ended: {end}"));
        return;
    }
    let mut detected = 0;
    for seed in 1..=3u64 {
        let name = unique("q-mscrib");
        let _c = QueueCleanup(name.clone());
        let mut rx = mpmc::Consumer::create(&name, SLOTS, STRIDE - 16).unwrap();
        let mut prod = Child::spawn(TEST, "producer", &[&name]);
        assert_eq!(prod.recv(), "attached");
        let mut scrib = Child::spawn(TEST, "scribbler", &[&name, &seed.to_string()]);
        let deadline = Instant::now() + Duration::from_secs(4);
        let outcome = loop {
            if Instant::now() > deadline {
                break "deadline".to_owned();
            }
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(_) | Err(Error::Timeout { .. }) => {}
                Err(e) => break format!("{e:?}"),
            }
        };
        assert_eq!(scrib.recv(), "scribbled");
        scrib.wait_ok();
        drop(rx);
        let line = prod.recv();
        assert!(line.starts_with("producer ended"), "{line}");
        eprintln!("seed {seed}: consumer: {outcome}; {line}");
        detected += usize::from(outcome.contains("Corrupted") || line.contains("Corrupted"));
        prod.wait_ok();
    }
    assert!(detected >= 2, "only {detected} of 3 seeds detected");
}

/// A producer that a child process tries to attach once all 64 producer ids
/// are taken is refused (`RoleTaken`) and leaves no trace: when the 64 real
/// producers have gone, the consumer reads `Closed`, not a producer that
/// never left.
#[test]
fn a_producer_refused_for_want_of_ids_leaves_no_attach_behind() {
    const TEST: &str = "a_producer_refused_for_want_of_ids_leaves_no_attach_behind";
    if let Some((_, args)) = role() {
        match mpmc::Producer::open(&args[0]) {
            Err(Error::RoleTaken { .. }) => say("refused"),
            other => say(&format!("unexpected {other:?}")),
        }
        return;
    }
    let name = unique("mpmc-ids");
    let _c = QueueCleanup(name.clone());
    let mut rx = mpmc::Consumer::create(&name, 8, 16).unwrap();
    let producers: Vec<_> = (0..64)
        .map(|i| mpmc::Producer::open(&name).unwrap_or_else(|e| panic!("producer {i}: {e}")))
        .collect();
    let mut child = Child::spawn(TEST, "extra", &[&name]);
    assert_eq!(child.recv(), "refused");
    child.wait_ok();
    drop(producers);
    match rx.recv_timeout(Duration::from_secs(2)) {
        Err(Error::Closed { .. }) => {}
        other => panic!("after the last producer left: {other:?}"),
    }
}
