//! Declared gaps (`Publisher::send_after_gap`) across real processes: what a
//! re-publisher says it missed reaches every subscriber as `Lagged`, added
//! exactly to what the subscriber was lapped past; a publisher replaced
//! after `kill -9` goes on with the gap total; a ring of the previous
//! broadcast format is refused by name.
#![allow(missing_docs)]

mod common;

use common::{mix, role, say, signal_of, take_endings, unique, Child, QueueCleanup};
use shmkit::broadcast::{Publisher, Subscriber};
use shmkit::Error;
use std::time::Duration;

/// The upstream numbers a re-publisher forwards: `total` numbers of which
/// about one in five is lost upstream (never forwarded), in runs of 1 to 40.
fn forwarded(total: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut r = 0;
    while r < total {
        let h = mix(r);
        if h % 5 == 0 {
            r += 1 + (h >> 8) % 40;
        } else {
            out.push(r);
            r += 1;
        }
    }
    out
}

/// Message for upstream number `r`: `r`, then bytes that follow from it.
fn message(r: u64) -> Vec<u8> {
    let len = 8 + (mix(r) % 200) as usize;
    let mut v = r.to_le_bytes().to_vec();
    v.extend((8..len).map(|j| (r as usize).wrapping_add(j) as u8));
    v
}

const TOTAL: u64 = if cfg!(debug_assertions) {
    50_000
} else {
    500_000
};

/// Two subscriber processes read a ring of 64 slots that a publisher fills
/// with upstream numbers, declaring each upstream loss with
/// `send_after_gap`. Each subscriber sees upstream numbers in order, each
/// message whole, and `received + missed` equals every upstream number, the
/// lost ones included: declared gaps and lapping add up, exactly.
#[test]
fn declared_gaps_and_lapping_add_up_exactly_in_other_processes() {
    const TEST: &str = "declared_gaps_and_lapping_add_up_exactly_in_other_processes";
    if let Some((_, args)) = role() {
        let mut rx = Subscriber::open(&args[0]).unwrap();
        say("ready");
        let (mut got, mut missed, mut expect) = (0u64, 0u64, 0u64);
        let mut buf = Vec::new();
        loop {
            match rx.recv_into(&mut buf) {
                Ok(()) => {
                    let r = u64::from_le_bytes(buf[..8].try_into().unwrap());
                    assert_eq!(r, expect, "upstream number out of order, lost or repeated");
                    assert!(buf == message(r), "message {r} differs");
                    got += 1;
                    expect = r + 1;
                }
                Err(Error::Lagged { missed: m, .. }) => {
                    missed += m;
                    expect += m;
                }
                Err(Error::Closed { .. }) => break,
                Err(e) => panic!("{e}"),
            }
        }
        say(&format!("{got} {missed} {expect}"));
        return;
    }
    let name = unique("bc-gaps");
    let _c = QueueCleanup(name.clone());
    let mut tx = Publisher::create(&name, 64, 256).unwrap();
    let mut subs: Vec<Child> = (0..2)
        .map(|_| Child::spawn(TEST, "sub", &[&name]))
        .collect();
    for s in &mut subs {
        assert_eq!(s.recv(), "ready");
    }
    let mut last = None::<u64>;
    let mut declared = 0u64;
    let fwd = forwarded(TOTAL);
    for (k, &r) in fwd.iter().enumerate() {
        let gap = r - last.map_or(0, |l| l + 1);
        declared += gap;
        tx.send_after_gap(gap as u32, &message(r)).unwrap();
        last = Some(r);
        if k % 64 == 63 {
            std::thread::yield_now();
        }
    }
    let end = last.unwrap() + 1;
    assert!(declared > 0 && declared < end);
    drop(tx);
    let mut total_missed = 0;
    for s in subs {
        let mut s = s;
        let line = s.recv();
        let v: Vec<u64> = line.split(' ').map(|x| x.parse().unwrap()).collect();
        assert_eq!(v[0] + v[1], end, "received + missed, {line}");
        assert_eq!(v[2], end, "{line}");
        assert!(v[1] >= declared, "missed less than was declared: {line}");
        total_missed += v[1];
        s.wait_ok();
    }
    assert!(total_missed > 0);
}

/// A publisher in a child declares a gap of 5, publishes, and is killed
/// with SIGKILL. The subscriber gets the gap once, the messages, then
/// `PeerDied`; a publisher that takes over goes on with the gap total, so
/// its next message comes with no gap that nobody declared.
#[test]
fn publisher_replaced_after_kill9_goes_on_with_the_gap_total() {
    const TEST: &str = "publisher_replaced_after_kill9_goes_on_with_the_gap_total";
    if let Some((_, args)) = role() {
        let mut tx = Publisher::open(&args[0]).unwrap();
        tx.send(b"first").unwrap();
        tx.send_after_gap(5, b"after five").unwrap();
        tx.send(b"next").unwrap();
        say("sent");
        let _ = common::hear();
        return;
    }
    let name = unique("bc-gapkill");
    let _c = QueueCleanup(name.clone());
    let mut rx = Subscriber::open_or_create(&name, 8, 64).unwrap();
    let mut child = Child::spawn(TEST, "pub", &[&name]);
    assert_eq!(child.recv(), "sent");
    child.kill9();
    let endings = take_endings();
    // Windows has no signals: `kill9` is TerminateProcess, a failure code.
    assert!(
        endings.iter().any(|e| e.killed
            && if cfg!(unix) {
                signal_of(e.status) == Some(common::SIGKILL)
            } else {
                !e.status.success()
            }),
        "the publisher did not end by SIGKILL (TerminateProcess on Windows)"
    );
    let t = Duration::from_secs(10);
    assert_eq!(rx.recv_timeout(t).unwrap(), b"first");
    let r = rx.recv_timeout(t);
    assert!(matches!(r, Err(Error::Lagged { missed: 5, .. })), "{r:?}");
    assert_eq!(rx.recv_timeout(t).unwrap(), b"after five");
    assert_eq!(rx.recv_timeout(t).unwrap(), b"next");
    let r = rx.recv_timeout(t);
    assert!(matches!(r, Err(Error::PeerDied { .. })), "{r:?}");
    let mut tx = Publisher::open(&name).unwrap();
    tx.send(b"taken over").unwrap();
    assert_eq!(rx.recv_timeout(t).unwrap(), b"taken over");
    tx.send_after_gap(2, b"two more lost").unwrap();
    let r = rx.recv_timeout(t);
    assert!(matches!(r, Err(Error::Lagged { missed: 2, .. })), "{r:?}");
    assert_eq!(rx.recv_timeout(t).unwrap(), b"two more lost");
}

/// A broadcast ring whose header names format version 1 (slots without a
/// gap total) is refused by every opener with `FormatVersion`, naming both
/// versions, not misread and not called corrupted.
#[test]
fn a_broadcast_ring_of_format_version_1_is_refused_by_name() {
    const TEST: &str = "a_broadcast_ring_of_format_version_1_is_refused_by_name";
    if let Some((_, args)) = role() {
        let seg = shmkit::Segment::open(&args[0]).unwrap();
        seg.write_at(8, &1u32.to_le_bytes()).unwrap();
        say("written");
        return;
    }
    let name = unique("bc-v1");
    let _c = QueueCleanup(name.clone());
    let tx = Publisher::create(&name, 4, 64).unwrap();
    let mut c = Child::spawn(TEST, "writer", &[&name]);
    assert_eq!(c.recv(), "written");
    c.wait_ok();
    for r in [
        Subscriber::open(&name).map(drop),
        Publisher::open(&name).map(drop),
        Subscriber::open_or_create(&name, 4, 64).map(drop),
    ] {
        match r {
            Err(
                e @ Error::FormatVersion {
                    found: 1,
                    expected: 3,
                    ..
                },
            ) => {
                let text = e.to_string();
                assert!(text.contains("format version 1"), "{text}");
                assert!(text.contains("once no process uses it"), "{text}");
            }
            other => panic!("{other:?}"),
        }
    }
    drop(tx);
}

/// A publisher in a child abandons the topic and stays alive: the
/// subscriber reads what was published, then gets `PeerDied` (not
/// `Closed`), while the child is still running; a new publisher can take
/// over. The child then exits with status 0.
#[test]
fn an_abandoned_publisher_reads_as_dead_while_its_process_lives() {
    const TEST: &str = "an_abandoned_publisher_reads_as_dead_while_its_process_lives";
    if let Some((_, args)) = role() {
        let mut tx = Publisher::open(&args[0]).unwrap();
        tx.send(b"before").unwrap();
        tx.abandon();
        say("abandoned");
        assert_eq!(common::hear(), "exit");
        return;
    }
    let name = unique("bc-abandon");
    let _c = QueueCleanup(name.clone());
    let mut rx = Subscriber::open_or_create(&name, 8, 64).unwrap();
    let mut child = Child::spawn(TEST, "pub", &[&name]);
    assert_eq!(child.recv(), "abandoned");
    let t = Duration::from_secs(10);
    assert_eq!(rx.recv_timeout(t).unwrap(), b"before");
    let r = rx.recv_timeout(t);
    assert!(matches!(r, Err(Error::PeerDied { .. })), "{r:?}");
    assert!(
        child.exited().is_none(),
        "the child should still be running"
    );
    let mut tx = Publisher::open(&name).unwrap();
    tx.send(b"successor").unwrap();
    assert_eq!(rx.recv_timeout(t).unwrap(), b"successor");
    child.send("exit");
    assert!(child.wait_status().success());
}
