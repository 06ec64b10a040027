//! Broadcast across real processes: three subscribers of a million messages
//! with exact accounting of what each received and missed, a publisher killed
//! mid-message and replaced, a late joiner.
#![allow(missing_docs)]
// Helpers of the Unix-only tests.
#![cfg_attr(not(unix), allow(dead_code, unused_imports))]

mod common;

use std::time::Duration;

use common::{mix, role, say, unique, Child, QueueCleanup};
use shmkit::broadcast::{Publisher, Subscriber};
use shmkit::queue::{Options, Peer};
use shmkit::Error;

/// Message `i`: 8 to 64 KiB bytes, log-uniform; starts with `i`, the rest
/// follows from `i`.
fn message(i: u64) -> Vec<u8> {
    let h = mix(i);
    let bits = (h % 17) as u32;
    let len = (8 + ((h >> 8) % (1u64 << bits)) as usize).min(65536);
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

const MILLION: u64 = if cfg!(debug_assertions) {
    20_000
} else {
    1_000_000
};

/// Every subscriber receives messages in increasing order, each whole and
/// exactly as sent, and `received + missed` is exactly what was published:
/// nothing is lost without being reported, nothing comes twice.
#[test]
fn broadcast_million_to_three_subscribers_with_exact_accounting() {
    if let Some((_, args)) = role() {
        let mut rx = Subscriber::open(&args[0]).unwrap();
        say("ready");
        let (mut got, mut missed) = (0u64, 0u64);
        let mut buf = Vec::new();
        let mut expect_next = rx.cursor();
        loop {
            match rx.recv_into(&mut buf) {
                Ok(()) => {
                    let i = rx.cursor() - 1;
                    assert_eq!(i, expect_next, "out of order or duplicated");
                    assert!(buf == message(i), "message {i} differs");
                    got += 1;
                    expect_next = i + 1;
                }
                Err(Error::Lagged { missed: m, .. }) => {
                    missed += m;
                    expect_next += m;
                    assert_eq!(rx.cursor(), expect_next);
                }
                Err(Error::Closed { .. }) => break,
                Err(e) => panic!("{e}"),
            }
        }
        say(&format!("{got} {missed}"));
        return;
    }
    let name = unique("bc-million");
    let _c = QueueCleanup(name.clone());
    let mut tx = Publisher::create(&name, 256, 65536).unwrap();
    let test = "broadcast_million_to_three_subscribers_with_exact_accounting";
    let mut subs: Vec<Child> = (0..3)
        .map(|_| Child::spawn(test, "sub", &[&name]))
        .collect();
    for s in &mut subs {
        assert_eq!(s.recv(), "ready");
    }
    for i in 0..MILLION {
        tx.send(&message(i)).unwrap();
        if i % 64 == 63 {
            // Let slow subscribers keep up most of the time (2 CPUs, 4
            // processes); lapping still happens and is accounted for.
            std::thread::yield_now();
        }
    }
    drop(tx);
    let mut total_got = 0;
    for s in subs {
        let mut s = s;
        let line = s.recv();
        let (got, missed) = line.split_once(' ').unwrap();
        let (got, missed): (u64, u64) = (got.parse().unwrap(), missed.parse().unwrap());
        assert_eq!(got + missed, MILLION, "{line}");
        total_got += got;
        s.wait_ok();
    }
    assert!(total_got > 0);
}

fn publisher_child(args: &[String]) {
    let mut tx = Publisher::open(&args[0]).unwrap();
    let count: u64 = args[1].parse().unwrap();
    let first: u64 = args[2].parse().unwrap();
    for i in first..first + count {
        tx.send(&message(i)).unwrap();
    }
    say("sent");
    // A failpoint may stop this one halfway through.
    tx.send(&message(first + count)).unwrap();
    say("done");
    common::hear();
}

/// A publisher killed halfway through writing a message: subscribers never
/// see it torn, learn that the publisher died, and a new publisher goes on
/// with the next message number.
/// The ring's name outlives its first publisher: on POSIX by `persist`, on
/// Windows (which has no persistent names) because the subscriber's mapping
/// keeps the named object alive.
#[test]
fn broadcast_publisher_killed_mid_message_then_a_new_one_goes_on() {
    if let Some((_, args)) = role() {
        return publisher_child(&args);
    }
    let test = "broadcast_publisher_killed_mid_message_then_a_new_one_goes_on";
    let name = unique("bc-pkill");
    let _c = QueueCleanup(name.clone());
    let p0 = Publisher::create_with(&name, 16, 70000, &Options::default().persist(cfg!(unix)));
    let mut rx = Subscriber::open(&name).unwrap();
    drop(p0.unwrap());
    assert_eq!(rx.peer(), Peer::Closed);
    let mut cmd = common::command(test, "pub", &[&name, "5", "0"]);
    cmd.env("SHMKIT_FAILPOINT", "broadcast-mid-write@6");
    let mut p1 = Child::start(cmd);
    assert_eq!(p1.recv(), "sent");
    assert_eq!(p1.recv(), "failpoint broadcast-mid-write");
    p1.kill9();
    for i in 0..5 {
        assert_eq!(rx.recv().unwrap(), message(i));
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
        "{r:?}"
    );
    // The new publisher rewrites message 5 whole, then goes on.
    let mut p2 = Child::spawn(test, "pub", &[&name, "5", "5"]);
    assert_eq!(p2.recv(), "sent");
    assert_eq!(p2.recv(), "done");
    for i in 5..11 {
        assert_eq!(rx.recv().unwrap(), message(i), "message {i}");
    }
    // A late joiner starts at the newest message.
    let mut late = Subscriber::open(&name).unwrap();
    assert_eq!(late.recv().unwrap(), message(10));
    p2.send("exit");
    p2.wait_ok();
    assert!(matches!(rx.recv(), Err(Error::Closed { .. })));
}
