//! `WaitSet` across real processes: 64 queues fed by four producer
//! processes, a producer killed with `kill -9`, an event notified from
//! another process, MPMC and broadcast members, timers.
//!
//! Not built under `cfg(loom)`, which has no `WaitSet`.
#![cfg(not(loom))]
#![allow(missing_docs)]

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{hear, role, say, unique, Child, QueueCleanup};
use shmkit::broadcast::{Publisher, Subscriber};
use shmkit::queue::spsc::{Consumer, Producer};
use shmkit::queue::{mpmc, Wait};
use shmkit::sync::Event;
use shmkit::waitset::{Key, Status};
use shmkit::{Error, Segment, WaitSet};

/// Messages per queue: fewer in debug builds, which CI runs.
const PER_QUEUE: u64 = if cfg!(debug_assertions) { 300 } else { 5_000 };
const QUEUES: usize = 64;
const PRODUCERS: usize = 4;

/// Message `seq` of queue `q`: 16 bytes naming both, then 0 to 200 bytes
/// that follow from them.
fn message(q: u64, seq: u64) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&q.to_le_bytes());
    m.extend_from_slice(&seq.to_le_bytes());
    let extra = ((q * 31 + seq * 7) % 201) as usize;
    m.extend((0..extra).map(|i| (i as u64 ^ q ^ seq) as u8));
    m
}

/// The child of the 64-queue test: producer of every queue `q` with
/// `q % PRODUCERS == k`, sending `PER_QUEUE` messages to each, round robin,
/// blocking when a ring is full.
fn feed(k: usize, base: &str) {
    let mut txs: Vec<(u64, Producer)> = (0..QUEUES)
        .filter(|q| q % PRODUCERS == k)
        .map(|q| (q as u64, Producer::open(&format!("{base}{q}")).unwrap()))
        .collect();
    say("attached");
    for seq in 0..PER_QUEUE {
        for (q, tx) in &mut txs {
            tx.send(&message(*q, seq)).unwrap();
        }
    }
    say("sent");
    // Stay until told, so that the parent sees every message before the
    // producer closes.
    hear();
}

#[test]
fn waitset_over_64_queues_fed_by_four_processes_sees_each_message_once() {
    if let Some((r, args)) = role() {
        assert_eq!(r, "feeder");
        feed(args[0].parse().unwrap(), &args[1]);
        return;
    }
    let base = unique("ws64-");
    let names: Vec<String> = (0..QUEUES).map(|q| format!("{base}{q}")).collect();
    let _cleanup: Vec<QueueCleanup> = names.iter().cloned().map(QueueCleanup).collect();
    let mut set = WaitSet::new();
    // Small rings: producers fill them and block, so both directions wait.
    let keys: Vec<Key<Consumer>> = names
        .iter()
        .map(|n| set.add(Consumer::create(n, 1024).unwrap()))
        .collect();
    let index: HashMap<_, usize> = keys.iter().enumerate().map(|(i, k)| (k.id(), i)).collect();
    let mut children: Vec<Child> = (0..PRODUCERS)
        .map(|k| {
            Child::spawn(
                "waitset_over_64_queues_fed_by_four_processes_sees_each_message_once",
                "feeder",
                &[&k.to_string(), &base],
            )
        })
        .collect();
    for c in &mut children {
        assert_eq!(c.recv(), "attached");
    }
    let mut next = [0u64; QUEUES];
    let mut total = 0u64;
    let mut waits = 0u64;
    let want = PER_QUEUE * QUEUES as u64;
    let start = Instant::now();
    while total < want {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "stuck at {total} of {want} messages: {next:?}"
        );
        let ready = set.wait_timeout(Duration::from_secs(10)).unwrap();
        assert!(
            !ready.is_empty(),
            "nothing ready for 10 s at {total} of {want}"
        );
        waits += 1;
        for r in ready {
            assert_eq!(r.status(), Status::Ready, "{r:?}");
            let q = index[&r.id()];
            let rx = set.get_mut(keys[q]).unwrap();
            // Drain: readiness is level-triggered.
            while let Some(m) = rx.try_recv().unwrap() {
                assert_eq!(m, message(q as u64, next[q]), "queue {q}");
                next[q] += 1;
                total += 1;
            }
        }
    }
    assert!(next.iter().all(|&n| n == PER_QUEUE), "{next:?}");
    for mut c in children {
        assert_eq!(c.recv(), "sent");
        c.send("bye");
        c.wait_ok();
    }
    // Every producer closed: each queue now reports `Closed`, nothing more.
    let ready = set.wait_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(ready.len(), QUEUES);
    for r in ready {
        assert_eq!(r.status(), Status::Closed);
        assert!(matches!(
            r.into_result(),
            Err(Error::Closed {
                peer: "producer",
                ..
            })
        ));
    }
    println!("{want} messages over {QUEUES} queues in {waits} waits");
}

#[test]
fn waitset_shows_a_producer_killed_with_sigkill_as_peer_died() {
    if let Some((r, args)) = role() {
        assert_eq!(r, "producer");
        let mut tx = Producer::open(&args[0]).unwrap();
        tx.send(b"last words").unwrap();
        say("sent");
        hear(); // killed while waiting here
        unreachable!("the parent kills this process");
    }
    let quiet = unique("ws-quiet");
    let doomed = unique("ws-doomed");
    let _c = (QueueCleanup(quiet.clone()), QueueCleanup(doomed.clone()));
    let mut set = WaitSet::new();
    let kq = set.add(Consumer::create(&quiet, 4096).unwrap());
    let kd = set.add(Consumer::create(&doomed, 4096).unwrap());
    // A producer of the quiet queue that lives on (in this process).
    let _tx = Producer::open(&quiet).unwrap();
    let mut child = Child::spawn(
        "waitset_shows_a_producer_killed_with_sigkill_as_peer_died",
        "producer",
        &[&doomed],
    );
    assert_eq!(child.recv(), "sent");
    let ready = set.wait().unwrap();
    assert_eq!(ready.len(), 1);
    assert!(ready[0].is(kd) && ready[0].status() == Status::Ready);
    assert_eq!(
        set.get_mut(kd).unwrap().try_recv().unwrap().unwrap(),
        b"last words"
    );
    // Alive and silent: nothing to report.
    assert!(set
        .wait_timeout(Duration::from_millis(60))
        .unwrap()
        .is_empty());

    // The set sleeps; the producer dies without a word.
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        child.kill9();
        common::take_endings()
    });
    let start = Instant::now();
    let ready = set.wait_timeout(Duration::from_secs(10)).unwrap();
    let took = start.elapsed();
    let endings = killer.join().unwrap();
    assert_eq!(endings.len(), 1);
    assert_eq!(
        common::signal_of(endings[0].status),
        if cfg!(unix) {
            Some(common::SIGKILL)
        } else {
            None
        },
        "{:?}",
        endings[0]
    );
    assert_eq!(ready.len(), 1, "{ready:?}");
    assert!(ready[0].is(kd));
    assert!(!ready[0].is(kq));
    assert_eq!(ready[0].status(), Status::PeerDied);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let r = set.wait().unwrap().pop().unwrap();
    assert!(matches!(
        r.into_result(),
        Err(Error::PeerDied {
            peer: "producer",
            ..
        })
    ));
    // Removed, the dead queue is reported no more.
    let rx = set.remove(kd).unwrap();
    drop(rx);
    assert!(set
        .wait_timeout(Duration::from_millis(30))
        .unwrap()
        .is_empty());
}

/// The event at offset 0 of `seg`.
fn event(seg: &Segment) -> &Event {
    assert!(seg.len() >= 8);
    // SAFETY: offset 0 of a mapping is page-aligned, the 8 bytes are within
    // the segment (asserted) and mapped while `seg` is borrowed; the
    // segment was created zero-filled (an unsignalled auto-reset event) and
    // is used only as this event.
    unsafe { Event::from_ptr(seg.as_ptr()) }
}

#[test]
fn waitset_wakes_for_an_event_notified_by_another_process_and_for_deadlines() {
    if let Some((r, args)) = role() {
        assert_eq!(r, "notifier");
        let seg = Segment::open(&args[0]).unwrap();
        let e = event(&seg);
        say("ready");
        for _ in 0..3 {
            hear();
            e.notify_one().unwrap();
        }
        return;
    }
    let name = unique("ws-event");
    let q = unique("ws-evq");
    let _qc = QueueCleanup(q.clone());
    let seg = Segment::create(&name, 4096).unwrap();
    let e = event(&seg);
    let mut set = WaitSet::new();
    let ke = set.add(e);
    let kq = set.add(Consumer::create(&q, 4096).unwrap());
    let far = set.add_deadline(Instant::now() + Duration::from_secs(3600));
    let mut child = Child::spawn(
        "waitset_wakes_for_an_event_notified_by_another_process_and_for_deadlines",
        "notifier",
        &[&name],
    );
    assert_eq!(child.recv(), "ready");
    for round in 0..3 {
        // The set is asleep (or about to be) when the notify comes.
        child.send("go");
        let ready = set.wait_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(ready.len(), 1, "round {round}: {ready:?}");
        assert!(ready[0].is(ke) && !ready[0].is(kq) && !ready[0].is(far));
        // Auto-reset: the set consumed the signal, as a waiter does.
        assert!(!e.is_signalled());
    }
    child.wait_ok();
    assert!(set
        .wait_timeout(Duration::from_millis(20))
        .unwrap()
        .is_empty());

    // A deadline, while the event stays quiet.
    let start = Instant::now();
    let soon = set.add_deadline(start + Duration::from_millis(30));
    let ready = set.wait().unwrap();
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(30), "woke after {waited:?}");
    assert_eq!(ready.len(), 1);
    assert!(ready[0].is(soon));
    assert!(set.get(soon).unwrap().next().is_none());
    assert!(set.get(far).unwrap().next().is_some());
}

#[test]
fn waitset_mpmc_and_broadcast_members_across_processes() {
    if let Some((r, args)) = role() {
        assert_eq!(r, "sender");
        let mut tx = mpmc::Producer::open(&args[0]).unwrap();
        let mut publisher = Publisher::create(&args[1], 8, 64).unwrap();
        say("attached");
        for i in 0..50u8 {
            assert_eq!(hear(), "next");
            if i % 2 == 0 {
                tx.send(&[i]).unwrap();
            } else {
                publisher.send(&[i]).unwrap();
            }
        }
        hear();
        return;
    }
    let q = unique("ws-mpmc");
    let t = unique("ws-topic");
    let _c = (QueueCleanup(q.clone()), QueueCleanup(t.clone()));
    let mut set = WaitSet::new();
    let kq = set.add(mpmc::Consumer::create(&q, 8, 64).unwrap());
    let mut child = Child::spawn(
        "waitset_mpmc_and_broadcast_members_across_processes",
        "sender",
        &[&q, &t],
    );
    assert_eq!(child.recv(), "attached");
    // A spinning subscriber: the set still sleeps, and is still woken.
    let spin = shmkit::queue::Options::default().wait(Wait::Spin);
    let ks = set.add(Subscriber::open_with(&t, &spin).unwrap());
    for i in 0..50u8 {
        child.send("next");
        let ready = set.wait_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(ready.len(), 1, "message {i}: {ready:?}");
        let got = if i % 2 == 0 {
            assert!(ready[0].is(kq));
            set.get_mut(kq).unwrap().try_recv().unwrap()
        } else {
            assert!(ready[0].is(ks));
            set.get_mut(ks).unwrap().try_recv().unwrap()
        };
        assert_eq!(got, Some(vec![i]));
    }
    child.send("bye");
    child.wait_ok();
}

#[test]
fn waitset_over_more_queues_than_one_futex_waitv_call_takes() {
    // 200 members: beyond the 128 words of one call, so the set watches
    // them in turn; a message to any of them still wakes it.
    let base = unique("ws200-");
    let names: Vec<String> = (0..200).map(|i| format!("{base}{i}")).collect();
    let _cleanup: Vec<QueueCleanup> = names.iter().cloned().map(QueueCleanup).collect();
    let mut set = WaitSet::new();
    let keys: Vec<Key<Consumer>> = names
        .iter()
        .map(|n| set.add(Consumer::create(n, 256).unwrap()))
        .collect();
    let mut txs: Vec<Producer> = names.iter().map(|n| Producer::open(n).unwrap()).collect();
    for &i in &[199usize, 0, 150, 128, 127] {
        let mut tx = txs.remove(i.min(txs.len() - 1));
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            tx.send(b"hi").unwrap();
            tx
        });
        let ready = set.wait_timeout(Duration::from_secs(10)).unwrap();
        let tx = sender.join().unwrap();
        assert_eq!(ready.len(), 1);
        let k = keys.iter().find(|k| ready[0].is(**k)).unwrap();
        assert_eq!(set.get(*k).unwrap().name(), tx.name());
        assert_eq!(set.get_mut(*k).unwrap().try_recv().unwrap().unwrap(), b"hi");
        txs.push(tx);
    }
}

#[test]
fn waitset_reports_room_for_a_producer_across_processes() {
    if let Some((r, args)) = role() {
        assert_eq!(r, "consumer");
        let mut rx = Consumer::open(&args[0]).unwrap();
        say("attached");
        assert_eq!(hear(), "take");
        // Three records free room for one more wherever the ring wraps.
        for _ in 0..3 {
            assert_eq!(rx.recv().unwrap(), vec![7; 100]);
        }
        hear();
        return;
    }
    let q = unique("ws-room");
    let _c = QueueCleanup(q.clone());
    let mut set = WaitSet::new();
    let k = set.add_room(Producer::create(&q, 1024).unwrap(), 100);
    let mut child = Child::spawn(
        "waitset_reports_room_for_a_producer_across_processes",
        "consumer",
        &[&q],
    );
    assert_eq!(child.recv(), "attached");
    assert!(set.wait().unwrap()[0].is(k));
    let tx = set.get_mut(k).unwrap();
    let mut sent = 0;
    while tx.try_send(&[7; 100]).is_ok() {
        sent += 1;
    }
    assert!(sent >= 3, "{sent}");
    assert!(set
        .wait_timeout(Duration::from_millis(30))
        .unwrap()
        .is_empty());
    child.send("take");
    let ready = set.wait_timeout(Duration::from_secs(10)).unwrap();
    assert!(ready.len() == 1 && ready[0].is(k) && ready[0].status() == Status::Ready);
    child.send("bye");
    child.wait_ok();
}

#[test]
fn an_empty_waitset_refuses_to_wait_forever() {
    let mut set = WaitSet::new();
    let e = set.wait().unwrap_err();
    assert!(matches!(e, Error::EmptyWaitSet));
    assert!(e.to_string().contains("add an endpoint"));
    assert!(set
        .wait_timeout(Duration::from_millis(1))
        .unwrap()
        .is_empty());
    assert!(matches!(
        set.wait_timeout(Duration::MAX),
        Err(Error::EmptyWaitSet)
    ));
}
