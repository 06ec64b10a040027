//! Endpoints that meet without a fixed start order, across real processes:
//! `open_or_create` raced by two processes, openers that wait for their
//! creator, the publisher's count of live subscribers, and subscribers that
//! start at the oldest message the ring still holds.
#![allow(missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::{hear, role, say, unique, Child, QueueCleanup};
use shmkit::broadcast::{Publisher, Subscriber};
use shmkit::queue::{mpmc, spsc, Options, Receiver, Sender};
use shmkit::Error;

const ROUNDS: usize = if cfg!(debug_assertions) { 40 } else { 200 };

#[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Reading {
    seq: u64,
    value: f64,
}

/// The two sides of each kind of queue, as the race test drives them.
enum Side {
    SpscTx(spsc::Producer),
    SpscRx(spsc::Consumer),
    ChanTx(Sender<Reading>),
    ChanRx(Receiver<Reading>),
    MpmcTx(mpmc::Producer),
    MpmcRx(mpmc::Consumer),
    Pub(Publisher),
    Sub(Subscriber),
}

impl Side {
    /// `open_or_create` of `kind`'s sender (`a`) or receiver (`b`).
    fn open_or_create(kind: &str, side: &str, name: &str) -> shmkit::Result<Side> {
        Ok(match (kind, side) {
            ("spsc", "a") => Side::SpscTx(spsc::Producer::open_or_create(name, 4096)?),
            ("spsc", _) => Side::SpscRx(spsc::Consumer::open_or_create(name, 4096)?),
            ("channel", "a") => Side::ChanTx(Sender::open_or_create(name, 16)?),
            ("channel", _) => Side::ChanRx(Receiver::open_or_create(name, 16)?),
            ("mpmc", "a") => Side::MpmcTx(mpmc::Producer::open_or_create(name, 8, 64)?),
            ("mpmc", _) => Side::MpmcRx(mpmc::Consumer::open_or_create(name, 8, 64)?),
            ("broadcast", "a") => Side::Pub(Publisher::open_or_create(name, 8, 64)?),
            ("broadcast", _) => Side::Sub(Subscriber::open_or_create(name, 8, 64)?),
            _ => unreachable!("unknown kind {kind}"),
        })
    }

    fn created(&self) -> bool {
        match self {
            Side::SpscTx(e) => e.created(),
            Side::SpscRx(e) => e.created(),
            Side::ChanTx(e) => e.created(),
            Side::ChanRx(e) => e.created(),
            Side::MpmcTx(e) => e.created(),
            Side::MpmcRx(e) => e.created(),
            Side::Pub(e) => e.created(),
            Side::Sub(e) => e.created(),
        }
    }

    /// Sends message `n` (a sender) or receives one and returns it as text.
    fn transfer(&mut self, n: u64) -> String {
        let t = Duration::from_secs(10);
        match self {
            Side::SpscTx(e) => e.send(&n.to_le_bytes()).map(|()| n),
            Side::MpmcTx(e) => e.send(&n.to_le_bytes()).map(|()| n),
            Side::Pub(e) => e.send(&n.to_le_bytes()).map(|()| n),
            Side::ChanTx(e) => e.send(&Reading { seq: n, value: 0.5 }).map(|()| n),
            Side::SpscRx(e) => e.recv_timeout(t).map(word),
            Side::MpmcRx(e) => e.recv_timeout(t).map(word),
            Side::Sub(e) => e.recv_timeout(t).map(word),
            Side::ChanRx(e) => e.recv_timeout(t).map(|r| r.seq),
        }
        .map_or_else(|e| format!("error {e}"), |n| n.to_string())
    }
}

fn word(m: Vec<u8>) -> u64 {
    u64::from_le_bytes(m.try_into().expect("an 8-byte message"))
}

/// Two processes call `open_or_create` on the same new name at once, round
/// after round: both succeed, exactly one of them created the queue, and a
/// message goes from one to the other through what they got.
fn race(kind: &str, test: &str) {
    if let Some((_, args)) = role() {
        let (kind, side) = (&args[0], &args[1]);
        loop {
            let name = hear();
            if name.is_empty() || name == "end" {
                return;
            }
            let mut ep = match Side::open_or_create(kind, side, &name) {
                Ok(ep) => ep,
                Err(e) => {
                    say(&format!("error {e}"));
                    continue;
                }
            };
            say(if ep.created() { "created" } else { "opened" });
            let n = hear().parse::<u64>().unwrap();
            say(&ep.transfer(n));
            assert_eq!(hear(), "drop");
            drop(ep);
            say("dropped");
        }
    }
    let mut a = Child::spawn(test, "racer", &[kind, "a"]);
    let mut b = Child::spawn(test, "racer", &[kind, "b"]);
    let mut created_by = [0, 0];
    for round in 0..ROUNDS {
        let name = unique(&format!("race-{kind}"));
        let _cleanup = QueueCleanup(name.clone());
        // Alternate which child hears first, so each gets the head start.
        if round % 2 == 0 {
            a.send(&name);
            b.send(&name);
        } else {
            b.send(&name);
            a.send(&name);
        }
        let (ra, rb) = (a.recv(), b.recv());
        assert!(
            matches!(
                (ra.as_str(), rb.as_str()),
                ("created", "opened") | ("opened", "created")
            ),
            "round {round}: a {ra}, b {rb}"
        );
        created_by[usize::from(rb == "created")] += 1;
        // The subscriber (b) is attached before the message goes out.
        a.send(&round.to_string());
        assert_eq!(a.recv(), round.to_string(), "round {round}: sender");
        b.send(&round.to_string());
        assert_eq!(b.recv(), round.to_string(), "round {round}: receiver");
        a.send("drop");
        b.send("drop");
        assert_eq!(a.recv(), "dropped");
        assert_eq!(b.recv(), "dropped");
    }
    a.send("end");
    b.send("end");
    a.wait_ok();
    b.wait_ok();
    eprintln!(
        "{kind}: a created {} rounds, b {}",
        created_by[0], created_by[1]
    );
}

#[test]
fn spsc_open_or_create_raced_by_two_processes_creates_once() {
    race(
        "spsc",
        "spsc_open_or_create_raced_by_two_processes_creates_once",
    );
}

#[test]
fn channel_open_or_create_raced_by_two_processes_creates_once() {
    race(
        "channel",
        "channel_open_or_create_raced_by_two_processes_creates_once",
    );
}

#[test]
fn mpmc_open_or_create_raced_by_two_processes_creates_once() {
    race(
        "mpmc",
        "mpmc_open_or_create_raced_by_two_processes_creates_once",
    );
}

#[test]
fn broadcast_open_or_create_raced_by_two_processes_creates_once() {
    race(
        "broadcast",
        "broadcast_open_or_create_raced_by_two_processes_creates_once",
    );
}

/// A second endpoint of a kind whose role is exclusive fails as `open` does,
/// rather than creating anything: the queue exists, and its role is taken.
#[test]
fn open_or_create_of_a_taken_role_is_role_taken() {
    let name = unique("ooc-taken");
    let _cleanup = QueueCleanup(name.clone());
    let _tx = spsc::Producer::open_or_create(&name, 1024).unwrap();
    let err = spsc::Producer::open_or_create(&name, 1024).unwrap_err();
    assert!(matches!(err, Error::RoleTaken { .. }), "{err}");
}

/// An opener started before the creator waits for the name (with
/// `wait_for_creator`) and then works as if it had opened second: here an
/// SPSC producer and a broadcast subscriber in a second process, and the
/// queues they wait for created by this one once they said they were
/// opening.
#[test]
fn opener_started_before_its_creator_waits_for_it() {
    const TEST: &str = "opener_started_before_its_creator_waits_for_it";
    if let Some((role, args)) = role() {
        let opts = Options::default().wait_for_creator(Duration::from_secs(30));
        say("opening");
        if role == "producer" {
            let mut tx = spsc::Producer::open_with(&args[0], &opts).unwrap();
            say(if tx.created() { "created" } else { "opened" });
            tx.send(b"from the early opener").unwrap();
            assert_eq!(hear(), "done");
        } else {
            let mut rx = Subscriber::open_with(&args[0], &opts).unwrap();
            say(if rx.created() { "created" } else { "opened" });
            let m = rx.recv_timeout(Duration::from_secs(10)).unwrap();
            say(&String::from_utf8(m).unwrap());
        }
        return;
    }
    let q = unique("early-q");
    let b = unique("early-b");
    let _cleanup = (QueueCleanup(q.clone()), QueueCleanup(b.clone()));
    let mut producer = Child::spawn(TEST, "producer", &[&q]);
    let mut subscriber = Child::spawn(TEST, "subscriber", &[&b]);
    assert_eq!(producer.recv(), "opening");
    assert_eq!(subscriber.recv(), "opening");
    let mut rx = spsc::Consumer::create(&q, 1024).unwrap();
    let mut tx = Publisher::create(&b, 4, 64).unwrap();
    assert_eq!(producer.recv(), "opened");
    assert_eq!(subscriber.recv(), "opened");
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        b"from the early opener"
    );
    producer.send("done");
    producer.wait_ok();
    tx.send(b"to the early subscriber").unwrap();
    assert_eq!(subscriber.recv(), "to the early subscriber");
    subscriber.wait_ok();
}

/// Without `wait_for_creator` a missing queue is `NotFound` at once; with
/// it, `NotFound` only once the wait is over, for every kind of opener.
#[test]
fn missing_queue_is_not_found_after_the_creator_wait() {
    let name = unique("never-made");
    let err = spsc::Consumer::open(&name).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    let wait = Duration::from_millis(100);
    let opts = Options::default().wait_for_creator(wait);
    type Open<'a> = Box<dyn Fn() -> shmkit::Result<()> + 'a>;
    let opens: [(&str, Open); 6] = [
        (
            "spsc",
            Box::new(|| spsc::Producer::open_with(&name, &opts).map(drop)),
        ),
        (
            "channel",
            Box::new(|| Receiver::<Reading>::open_with(&name, &opts).map(drop)),
        ),
        (
            "mpmc",
            Box::new(|| mpmc::Producer::open_with(&name, &opts).map(drop)),
        ),
        (
            "mpmc",
            Box::new(|| mpmc::Consumer::open_with(&name, &opts).map(drop)),
        ),
        (
            "publisher",
            Box::new(|| Publisher::open_with(&name, &opts).map(drop)),
        ),
        (
            "subscriber",
            Box::new(|| Subscriber::open_with(&name, &opts).map(drop)),
        ),
    ];
    for (what, open) in opens {
        let start = Instant::now();
        let err = open().unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{what}: {err}");
        assert!(
            start.elapsed() >= wait,
            "{what} gave up after {:?}",
            start.elapsed()
        );
    }
}

/// The publisher counts live subscribers only: three subscriber processes
/// are waited for and counted; one killed with SIGKILL (its exit asserted)
/// stops counting, one that drops its endpoint too, and waiting for more
/// than are alive times out.
#[cfg(unix)]
#[test]
fn publisher_counts_live_subscribers_and_not_killed_ones() {
    use std::os::unix::process::ExitStatusExt;
    const TEST: &str = "publisher_counts_live_subscribers_and_not_killed_ones";
    if let Some((_, args)) = role() {
        let rx = Subscriber::open(&args[0]).unwrap();
        say("subscribed");
        assert_eq!(hear(), "drop");
        drop(rx);
        say("dropped");
        // Stays alive, without a subscriber, until told to go.
        let _ = hear();
        return;
    }
    let name = unique("count-subs");
    let _cleanup = QueueCleanup(name.clone());
    let tx = Publisher::create(&name, 8, 64).unwrap();
    assert_eq!(tx.subscribers(), 0);
    let mut subs: Vec<Child> = (0..3)
        .map(|_| Child::spawn(TEST, "sub", &[&name]))
        .collect();
    let wait = Duration::from_secs(30);
    assert_eq!(tx.wait_for_subscribers(3, wait).unwrap(), 3);
    for s in &mut subs {
        assert_eq!(s.recv(), "subscribed");
    }
    assert_eq!(tx.subscribers(), 3);

    let killed = subs.remove(0);
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(killed.pid() as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    let status = killed.wait_status();
    assert_eq!(
        status.signal(),
        Some(9),
        "the subscriber ended with {status}"
    );
    assert_eq!(tx.subscribers(), 2);

    subs[0].send("drop");
    assert_eq!(subs[0].recv(), "dropped");
    assert_eq!(tx.subscribers(), 1);

    let err = tx
        .wait_for_subscribers(2, Duration::from_millis(50))
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");

    // A new subscriber takes the killed one's id again and is counted.
    let mut late = Child::spawn(TEST, "sub", &[&name]);
    assert_eq!(late.recv(), "subscribed");
    assert_eq!(tx.subscribers(), 2);
    // The one that dropped already waits only for "go".
    let mut dropped = subs.remove(0);
    dropped.send("go");
    dropped.wait_ok();
    for mut s in subs.into_iter().chain([late]) {
        s.send("drop");
        assert_eq!(s.recv(), "dropped");
        s.send("go");
        s.wait_ok();
    }
    assert_eq!(tx.subscribers(), 0);
}

/// Message `i` of the rewind test: 8 to 64 bytes, starting with `i`, the
/// rest following from `i`, so that a torn or misnumbered copy shows.
fn numbered(i: u64) -> Vec<u8> {
    let len = 8 + (common::mix(i) % 57) as usize;
    let mut v = i.to_le_bytes().to_vec();
    v.extend((8..len).map(|j| (common::mix(i ^ j as u64) >> 24) as u8));
    v
}

/// A subscriber that rewinds gets every message the ring still holds, in
/// order and whole, from a publisher in another process: first at rest
/// (exactly the last `slots` messages, then nothing), then while the
/// publisher streams on and laps it (every message it gets is whole and in
/// order, and what it got plus what `Lagged` reported is exactly what was
/// published from where it started).
#[test]
fn rewound_subscriber_reads_all_the_ring_holds_from_a_publisher_process() {
    const TEST: &str = "rewound_subscriber_reads_all_the_ring_holds_from_a_publisher_process";
    const SLOTS: u64 = 16;
    const FIRST: u64 = 100;
    const TOTAL: u64 = if cfg!(debug_assertions) {
        20_000
    } else {
        200_000
    };
    if let Some((_, args)) = role() {
        let mut tx = Publisher::create(&args[0], SLOTS as usize, 64).unwrap();
        for i in 0..FIRST {
            tx.send(&numbered(i)).unwrap();
        }
        say("published");
        assert_eq!(hear(), "more");
        for i in FIRST..TOTAL {
            tx.send(&numbered(i)).unwrap();
        }
        say("done");
        assert_eq!(hear(), "end");
        return;
    }
    let name = unique("rewind");
    let _cleanup = QueueCleanup(name.clone());
    let mut publisher = Child::spawn(TEST, "publisher", &[&name]);
    assert_eq!(publisher.recv(), "published");

    // At rest: the last SLOTS messages, oldest first, then nothing.
    let mut rx = Subscriber::open(&name).unwrap();
    assert_eq!(
        rx.cursor(),
        FIRST - 1,
        "a new subscriber starts at the newest"
    );
    rx.rewind().unwrap();
    assert_eq!(rx.cursor(), FIRST - SLOTS);
    for i in FIRST - SLOTS..FIRST {
        assert_eq!(rx.try_recv().unwrap().as_deref(), Some(&numbered(i)[..]));
    }
    assert_eq!(rx.try_recv().unwrap(), None);

    // Streaming: a second subscriber rewinds while the publisher laps it.
    let mut racing = Subscriber::open(&name).unwrap();
    publisher.send("more");
    racing.rewind().unwrap();
    let start = racing.cursor();
    let (mut got, mut missed) = (0u64, 0u64);
    let mut buf = Vec::new();
    let mut expect = start;
    while expect < TOTAL {
        match racing.recv_into(&mut buf) {
            Ok(()) => {
                let i = racing.cursor() - 1;
                assert_eq!(i, expect, "out of order or repeated");
                assert!(buf == numbered(i), "message {i} is torn or misnumbered");
                got += 1;
                expect = i + 1;
            }
            Err(Error::Lagged { missed: m, .. }) => {
                missed += m;
                expect = racing.cursor();
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(got + missed, TOTAL - start);
    assert_eq!(publisher.recv(), "done");
    // The first subscriber, rewound again, finds the last SLOTS messages.
    rx.rewind().unwrap();
    for i in TOTAL - SLOTS..TOTAL {
        assert_eq!(rx.try_recv().unwrap().as_deref(), Some(&numbered(i)[..]));
    }
    publisher.send("end");
    publisher.wait_ok();
    eprintln!("streaming: got {got}, missed {missed} from {start}");
}
