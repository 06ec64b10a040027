//! Async endpoints (`shmkit::aio`) across real processes, under tokio
//! (multi-thread and current-thread) and smol: round trips, a thousand
//! tasks on a thousand queues, `select!` over a queue, a topic and a timer,
//! a producer killed with `kill -9`, cancellation in the middle of a burst,
//! and events.
//!
//! Not built under `cfg(loom)`, which has no `WaitSet`.
#![cfg(not(loom))]
#![allow(missing_docs)]

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use common::{hear, role, say, unique, Child, QueueCleanup};
use futures_util::FutureExt;
use shmkit::aio::{wait_event, AsyncConsumer, AsyncProducer, AsyncSubscriber};
use shmkit::broadcast::{Publisher, Subscriber};
use shmkit::queue::spsc::{Consumer, Producer};
use shmkit::sync::{Event, EventMode};
use shmkit::Error;

/// How long any one awaited thing may take before the test calls it hung.
const HANG: Duration = Duration::from_secs(60);

fn tokio_mt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn tokio_ct() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A future that counts its polls, each once it has returned (so a count
/// of one means a first poll has finished).
struct Counted<F> {
    inner: Pin<Box<F>>,
    polls: Arc<AtomicUsize>,
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let r = self.inner.as_mut().poll(cx);
        self.polls.fetch_add(1, Ordering::SeqCst);
        r
    }
}

fn counted<F: Future>(f: F, polls: &Arc<AtomicUsize>) -> Counted<F> {
    Counted {
        inner: Box::pin(f),
        polls: Arc::clone(polls),
    }
}

/// Waits (bounded) until `done` holds, on this thread.
fn until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < HANG, "{what}: never happened");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// In a child process: plays its role and returns `true`. Every test
/// starts with `if play() { return; }`: a child re-runs the test that
/// spawned it.
fn play() -> bool {
    let Some((r, args)) = role() else {
        return false;
    };
    match r.as_str() {
        "echo" => echo(&args[0], &args[1]),
        "fan" => fan(&args[0], args[1].parse().unwrap()),
        "mix" => mix(&args[0], &args[1]),
        "doomed" => doomed(&args[0]),
        "burst" => burst(&args[0]),
        "notifier" => notifier(&args[0]),
        other => panic!("no role {other}"),
    }
    true
}

// ---------------------------------------------------------------------------
// Round trips

const ROUNDS: u64 = 40;
const BURST: u64 = 25;

/// The echo child: receives on `req` (blocking), sends each back on `resp`,
/// until the parent closes.
fn echo(req: &str, resp: &str) {
    let mut rx = Consumer::open(req).unwrap();
    let mut tx = Producer::open(resp).unwrap();
    say("attached");
    loop {
        match rx.recv() {
            Ok(m) => tx.send(&m).unwrap(),
            Err(Error::Closed { .. }) => break,
            Err(e) => panic!("echo: {e}"),
        }
    }
}

/// Bursts of messages to the echo child and back: the 256-byte ring fills,
/// so `send().await` waits for room as well as `recv().await` for messages.
async fn round_trip(test: &str, req: String, resp: String) -> u64 {
    let mut tx = AsyncProducer::new(Producer::create(&req, 256).unwrap());
    let mut rx = AsyncConsumer::new(Consumer::create(&resp, 256).unwrap());
    let child = Child::spawn(test, "echo", &[&req, &resp]);
    let mut child = Some(child);
    let mut seen = 0;
    for round in 0..ROUNDS {
        let base = round * BURST;
        let sender = async {
            for i in base..base + BURST {
                tx.send(&i.to_le_bytes()).await.unwrap();
            }
        };
        let receiver = async {
            for i in base..base + BURST {
                let m = rx.recv().await.unwrap();
                assert_eq!(m, i.to_le_bytes());
                seen += 1;
            }
        };
        futures_util::future::join(sender, receiver).await;
        if round == 0 {
            // It attached before it answered.
            assert_eq!(child.as_mut().unwrap().recv(), "attached");
        }
    }
    drop(tx);
    child.take().unwrap().wait_ok();
    seen
}

fn round_trip_names() -> (String, String, [QueueCleanup; 2]) {
    let req = unique("art-req");
    let resp = unique("art-resp");
    let c = [QueueCleanup(req.clone()), QueueCleanup(resp.clone())];
    (req, resp, c)
}

#[test]
fn async_round_trip_across_processes_under_tokio_multi_thread() {
    if play() {
        return;
    }
    const TEST: &str = "async_round_trip_across_processes_under_tokio_multi_thread";
    let (req, resp, _c) = round_trip_names();
    let rt = tokio_mt();
    let seen = rt
        .block_on(async { tokio::time::timeout(HANG, round_trip(TEST, req, resp)).await })
        .expect("hung");
    assert_eq!(seen, ROUNDS * BURST);
}

#[test]
fn async_round_trip_across_processes_under_tokio_current_thread() {
    if play() {
        return;
    }
    const TEST: &str = "async_round_trip_across_processes_under_tokio_current_thread";
    let (req, resp, _c) = round_trip_names();
    let rt = tokio_ct();
    let seen = rt
        .block_on(async { tokio::time::timeout(HANG, round_trip(TEST, req, resp)).await })
        .expect("hung");
    assert_eq!(seen, ROUNDS * BURST);
}

#[test]
fn async_round_trip_across_processes_under_smol() {
    if play() {
        return;
    }
    const TEST: &str = "async_round_trip_across_processes_under_smol";
    let (req, resp, _c) = round_trip_names();
    let seen = smol::block_on(async {
        smol::future::or(async { Some(round_trip(TEST, req, resp).await) }, async {
            smol::Timer::after(HANG).await;
            None
        })
        .await
    })
    .expect("hung");
    assert_eq!(seen, ROUNDS * BURST);
}

#[test]
fn async_round_trip_across_processes_under_futures_executor() {
    if play() {
        return;
    }
    const TEST: &str = "async_round_trip_across_processes_under_futures_executor";
    let (req, resp, _c) = round_trip_names();
    // No timer in this executor: the child's HANG-bounded line reads and
    // the queue's peer checks bound the test instead.
    let seen = futures_executor::block_on(round_trip(TEST, req, resp));
    assert_eq!(seen, ROUNDS * BURST);
}

// ---------------------------------------------------------------------------
// A thousand tasks, a thousand queues

const TASKS: usize = 1000;

/// The fan child: producer of queues `base0` .. `base{n-1}`; on "go" sends
/// queue `i` its own message, in a scrambled order.
fn fan(base: &str, n: usize) {
    let mut txs: Vec<Producer> = (0..n)
        .map(|i| Producer::open(&format!("{base}{i}")).unwrap())
        .collect();
    say("attached");
    assert_eq!(hear(), "go");
    for k in 0..n {
        let i = (k * 389) % n; // 389 is prime to 1000: every queue once
        txs[i].send(format!("for task {i}").as_bytes()).unwrap();
    }
    say("sent");
    assert_eq!(hear(), "bye");
}

/// One consumer per task, the child attached; the futures to run, each
/// returning (its index, what it got), and each one's poll count.
type FanTask = Pin<Box<dyn Future<Output = (usize, Vec<u8>)> + Send>>;

fn fan_setup(test: &str, base: &str) -> (Child, Vec<FanTask>, Vec<Arc<AtomicUsize>>) {
    let rxs: Vec<Consumer> = (0..TASKS)
        .map(|i| Consumer::create(&format!("{base}{i}"), 256).unwrap())
        .collect();
    let mut child = Child::spawn(test, "fan", &[base, &TASKS.to_string()]);
    assert_eq!(child.recv(), "attached");
    let polls: Vec<Arc<AtomicUsize>> = (0..TASKS).map(|_| Arc::default()).collect();
    let tasks = rxs
        .into_iter()
        .enumerate()
        .map(|(i, rx)| {
            let mut rx = AsyncConsumer::new(rx);
            let fut = counted(async move { rx.recv().await.unwrap() }, &polls[i]);
            Box::pin(async move { (i, fut.await) }) as FanTask
        })
        .collect();
    (child, tasks, polls)
}

/// Every task got its own message, and was polled twice: once to find its
/// queue empty, once when woken for its message (a wake-up for any other
/// queue's message would show as a third poll).
fn fan_check(results: Vec<(usize, Vec<u8>)>, polls: &[Arc<AtomicUsize>]) {
    assert_eq!(results.len(), TASKS);
    for (i, got) in results {
        assert_eq!(got, format!("for task {i}").as_bytes());
        assert_eq!(polls[i].load(Ordering::SeqCst), 2, "task {i}'s polls");
    }
}

fn fan_names() -> (String, Vec<QueueCleanup>) {
    let base = unique("fan-");
    let c = (0..TASKS)
        .map(|i| QueueCleanup(format!("{base}{i}")))
        .collect();
    (base, c)
}

#[test]
fn a_thousand_tasks_each_woken_for_its_own_message_under_tokio() {
    if play() {
        return;
    }
    const TEST: &str = "a_thousand_tasks_each_woken_for_its_own_message_under_tokio";
    let (base, _c) = fan_names();
    let (mut child, tasks, polls) = fan_setup(TEST, &base);
    let rt = tokio_mt();
    let handles: Vec<_> = tasks.into_iter().map(|t| rt.spawn(t)).collect();
    until("every task polled once", || {
        polls.iter().all(|p| p.load(Ordering::SeqCst) >= 1)
    });
    child.send("go");
    assert_eq!(child.recv(), "sent");
    let results = rt.block_on(async {
        tokio::time::timeout(HANG, async {
            let mut out = Vec::new();
            for h in handles {
                out.push(h.await.unwrap());
            }
            out
        })
        .await
        .expect("a task hung")
    });
    fan_check(results, &polls);
    child.send("bye");
    child.wait_ok();
}

#[test]
fn a_thousand_tasks_each_woken_for_its_own_message_under_smol() {
    if play() {
        return;
    }
    const TEST: &str = "a_thousand_tasks_each_woken_for_its_own_message_under_smol";
    let (base, _c) = fan_names();
    let (mut child, tasks, polls) = fan_setup(TEST, &base);
    let handles: Vec<_> = tasks.into_iter().map(smol::spawn).collect();
    until("every task polled once", || {
        polls.iter().all(|p| p.load(Ordering::SeqCst) >= 1)
    });
    child.send("go");
    assert_eq!(child.recv(), "sent");
    let results = smol::block_on(async {
        let all = async {
            let mut out = Vec::new();
            for h in handles {
                out.push(h.await);
            }
            Some(out)
        };
        smol::future::or(all, async {
            smol::Timer::after(HANG).await;
            None
        })
        .await
        .expect("a task hung")
    });
    fan_check(results, &polls);
    child.send("bye");
    child.wait_ok();
}

// ---------------------------------------------------------------------------
// select! over a queue, a topic and a timer

/// The mix child: producer of a queue and publisher of a topic; "q" sends
/// on the queue, "t" publishes.
fn mix(queue: &str, topic: &str) {
    let mut q = Producer::open(queue).unwrap();
    let mut t = Publisher::create(topic, 8, 64).unwrap();
    say("attached");
    loop {
        match hear().as_str() {
            "q" => q.send(b"queue").unwrap(),
            "t" => t.send(b"topic").unwrap(),
            _ => break,
        }
        say("done");
    }
}

#[test]
fn select_over_a_queue_a_topic_and_a_timer_under_tokio() {
    if play() {
        return;
    }
    const TEST: &str = "select_over_a_queue_a_topic_and_a_timer_under_tokio";
    let queue = unique("sel-q");
    let topic = unique("sel-t");
    let _c = [QueueCleanup(queue.clone()), QueueCleanup(topic.clone())];
    let mut rx = AsyncConsumer::new(Consumer::create(&queue, 1024).unwrap());
    let mut child = Child::spawn(TEST, "mix", &[&queue, &topic]);
    assert_eq!(child.recv(), "attached");
    let mut sub = AsyncSubscriber::new(Subscriber::open(&topic).unwrap());
    let rt = tokio_mt();
    // What each step asks of the child, and which branch must win.
    let steps = ["q", "t", "", "t", "q", ""];
    for step in steps {
        if !step.is_empty() {
            child.send(step);
            assert_eq!(child.recv(), "done");
        }
        let won = rt.block_on(async {
            tokio::select! {
                m = rx.recv() => { assert_eq!(m.unwrap(), b"queue"); "q" }
                m = sub.recv() => { assert_eq!(m.unwrap(), b"topic"); "t" }
                () = tokio::time::sleep(Duration::from_millis(200)) => "",
            }
        });
        assert_eq!(won, step);
    }
    child.send("end");
    child.wait_ok();
}

#[test]
fn select_over_a_queue_a_topic_and_a_timer_under_smol() {
    if play() {
        return;
    }
    const TEST: &str = "select_over_a_queue_a_topic_and_a_timer_under_smol";
    let queue = unique("ssel-q");
    let topic = unique("ssel-t");
    let _c = [QueueCleanup(queue.clone()), QueueCleanup(topic.clone())];
    let mut rx = AsyncConsumer::new(Consumer::create(&queue, 1024).unwrap());
    let mut child = Child::spawn(TEST, "mix", &[&queue, &topic]);
    assert_eq!(child.recv(), "attached");
    let mut sub = AsyncSubscriber::new(Subscriber::open(&topic).unwrap());
    for step in ["t", "q", "", "q", "t", ""] {
        if !step.is_empty() {
            child.send(step);
            assert_eq!(child.recv(), "done");
        }
        let won = smol::block_on(async {
            futures_util::select_biased! {
                m = rx.recv().fuse() => { assert_eq!(m.unwrap(), b"queue"); "q" }
                m = sub.recv().fuse() => { assert_eq!(m.unwrap(), b"topic"); "t" }
                _ = FutureExt::fuse(smol::Timer::after(Duration::from_millis(200))) => "",
            }
        });
        assert_eq!(won, step);
    }
    child.send("end");
    child.wait_ok();
}

// ---------------------------------------------------------------------------
// A peer killed with kill -9

/// The doomed child: sends its last words and waits to be killed.
fn doomed(name: &str) {
    let mut tx = Producer::open(name).unwrap();
    tx.send(b"last words").unwrap();
    say("sent");
    hear(); // killed before it hears anything
}

/// Starts the doomed child, receives its last words, then kills it with
/// SIGKILL once `polls` shows the task waiting; returns the ending.
fn kill_while_awaited(test: &str, name: &str, polls: &Arc<AtomicUsize>) -> common::Ending {
    let mut child = Child::spawn(test, "doomed", &[name]);
    assert_eq!(child.recv(), "sent");
    // The receive after the last words was polled (and found nothing).
    until("the task waits", || polls.load(Ordering::SeqCst) >= 1);
    child.kill9();
    let mut endings = common::take_endings();
    assert_eq!(endings.len(), 1);
    let ending = endings.pop().unwrap();
    assert_eq!(
        common::signal_of(ending.status),
        cfg!(unix).then_some(common::SIGKILL),
        "{ending:?}"
    );
    ending
}

/// Receives the last words, then awaits a receive that counts its polls
/// in `polls`.
async fn last_words_then_peer_died(
    mut rx: AsyncConsumer<Consumer>,
    polls: Arc<AtomicUsize>,
) -> Result<(), Error> {
    assert_eq!(rx.recv().await.unwrap(), b"last words");
    counted(rx.recv(), &polls)
        .await
        .map(|m| panic!("a message from the dead: {m:?}"))
}

fn assert_peer_died(r: Result<(), Error>) {
    assert!(
        matches!(
            r,
            Err(Error::PeerDied {
                peer: "producer",
                ..
            })
        ),
        "{r:?}"
    );
}

#[test]
fn a_producer_killed_with_sigkill_while_a_task_awaits_is_peer_died_under_tokio() {
    if play() {
        return;
    }
    const TEST: &str =
        "a_producer_killed_with_sigkill_while_a_task_awaits_is_peer_died_under_tokio";
    let name = unique("akill");
    let _c = QueueCleanup(name.clone());
    let rx = AsyncConsumer::new(Consumer::create(&name, 1024).unwrap());
    let polls = Arc::new(AtomicUsize::new(0));
    let rt = tokio_ct();
    let task = rt.spawn(last_words_then_peer_died(rx, Arc::clone(&polls)));
    // A current-thread runtime runs tasks only inside `block_on`: drive it
    // from another thread while this one kills the child.
    let driver =
        std::thread::spawn(move || rt.block_on(async { tokio::time::timeout(HANG, task).await }));
    kill_while_awaited(TEST, &name, &polls);
    let r = driver.join().unwrap().expect("the future hung").unwrap();
    assert_peer_died(r);
}

#[test]
fn a_producer_killed_with_sigkill_while_a_task_awaits_is_peer_died_under_smol() {
    if play() {
        return;
    }
    const TEST: &str = "a_producer_killed_with_sigkill_while_a_task_awaits_is_peer_died_under_smol";
    let name = unique("skill");
    let _c = QueueCleanup(name.clone());
    let rx = AsyncConsumer::new(Consumer::create(&name, 1024).unwrap());
    let polls = Arc::new(AtomicUsize::new(0));
    let task = smol::spawn(last_words_then_peer_died(rx, Arc::clone(&polls)));
    kill_while_awaited(TEST, &name, &polls);
    let r = smol::block_on(smol::future::or(async { Some(task.await) }, async {
        smol::Timer::after(HANG).await;
        None
    }))
    .expect("the future hung");
    assert_peer_died(r);
}

// ---------------------------------------------------------------------------
// Cancellation in the middle of a burst

const BURST_LEN: u64 = if cfg!(debug_assertions) {
    3_000
} else {
    30_000
};

/// The burst child: sends `BURST_LEN` numbered messages, pausing now and
/// then.
fn burst(name: &str) {
    let mut tx = Producer::open(name).unwrap();
    say("attached");
    for i in 0..BURST_LEN {
        tx.send(&i.to_le_bytes()).unwrap();
        if i % 97 == 0 {
            // Let the ring run dry now and then, so that receives wait.
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    say("sent");
    hear();
}

/// Receives the burst, cancelling receives all the while: every third one
/// is polled once and dropped, and the others run under a short timeout;
/// every other one is a `recv_into`, whose buffer a cancelled receive must
/// leave as it was. Every message arrives once, in order; cancellations did
/// happen.
async fn receive_with_cancellations(
    rx: &mut AsyncConsumer<Consumer>,
    timeout: impl Fn(Duration) -> Pin<Box<dyn Future<Output = ()> + Send>>,
) -> (u64, u64) {
    const UNSET: &[u8] = b"unset";
    let mut next = 0;
    let mut cancelled = 0;
    let mut k = 0u64;
    let mut buf = Vec::new();
    while next < BURST_LEN {
        k += 1;
        let into = k % 2 == 0;
        buf.clear();
        buf.extend_from_slice(UNSET);
        let got = match (k % 3 == 0, into) {
            (true, false) => rx.recv().now_or_never(),
            (true, true) => rx
                .recv_into(&mut buf)
                .now_or_never()
                .map(|r| r.map(|()| Vec::new())),
            (false, false) => futures_util::select_biased! {
                m = rx.recv().fuse() => Some(m),
                () = timeout(Duration::from_micros(300)).fuse() => None,
            },
            (false, true) => futures_util::select_biased! {
                r = rx.recv_into(&mut buf).fuse() => Some(r.map(|()| Vec::new())),
                () = timeout(Duration::from_micros(300)).fuse() => None,
            },
        };
        match got {
            Some(m) => {
                let m = m.unwrap();
                let m = if into { &buf } else { &m };
                assert_eq!(m[..], next.to_le_bytes(), "lost or repeated");
                next += 1;
            }
            None => {
                if into {
                    assert_eq!(buf, UNSET, "a cancelled recv_into wrote its buffer");
                }
                cancelled += 1;
            }
        }
    }
    (next, cancelled)
}

fn burst_test(test: &str, run: impl FnOnce(&mut AsyncConsumer<Consumer>) -> (u64, u64)) {
    let name = unique("aburst");
    let _c = QueueCleanup(name.clone());
    let mut rx = AsyncConsumer::new(Consumer::create(&name, 512).unwrap());
    let mut child = Child::spawn(test, "burst", &[&name]);
    assert_eq!(child.recv(), "attached");
    let (got, cancelled) = run(&mut rx);
    assert_eq!(got, BURST_LEN);
    assert!(cancelled > 0, "no receive was cancelled");
    assert_eq!(child.recv(), "sent");
    // Nothing left over.
    let left = rx.with(|c| c.try_recv().unwrap());
    assert!(matches!(left, None | Some(None)), "{left:?}");
    child.send("bye");
    child.wait_ok();
}

#[test]
fn cancelling_receives_in_the_middle_of_a_burst_loses_nothing_under_tokio() {
    if play() {
        return;
    }
    const TEST: &str = "cancelling_receives_in_the_middle_of_a_burst_loses_nothing_under_tokio";
    burst_test(TEST, |rx| {
        tokio_mt().block_on(async {
            tokio::time::timeout(
                HANG,
                receive_with_cancellations(rx, |d| Box::pin(tokio::time::sleep(d))),
            )
            .await
            .expect("hung")
        })
    });
}

#[test]
fn cancelling_receives_in_the_middle_of_a_burst_loses_nothing_under_smol() {
    if play() {
        return;
    }
    const TEST: &str = "cancelling_receives_in_the_middle_of_a_burst_loses_nothing_under_smol";
    burst_test(TEST, |rx| {
        smol::block_on(receive_with_cancellations(rx, |d| {
            Box::pin(async move {
                smol::Timer::after(d).await;
            })
        }))
    });
}

// ---------------------------------------------------------------------------
// Events, and a dropped async endpoint

#[test]
fn an_awaited_event_is_woken_by_a_notify_from_another_thread() {
    let e = Arc::new(Event::new(EventMode::AutoReset));
    let rt = tokio_mt();
    let polls = Arc::default();
    let task = rt.spawn(counted(wait_event(Arc::clone(&e), |e| e), &polls));
    until("the wait is pending", || polls.load(Ordering::SeqCst) >= 1);
    assert!(!task.is_finished());
    e.notify_one().unwrap();
    rt.block_on(async { tokio::time::timeout(HANG, task).await })
        .expect("hung")
        .unwrap()
        .unwrap();
    // The wait consumed the signal.
    assert!(!e.is_signalled());
}

/// The notifier child: opens the event's segment and, told so, notifies.
fn notifier(name: &str) {
    let e = shmkit::Shared::<Event>::open(name).unwrap();
    say("attached");
    assert_eq!(hear(), "go");
    e.get().notify_one().unwrap();
    say("done");
    assert_eq!(hear(), "bye");
}

#[test]
fn an_awaited_event_in_a_segment_is_woken_by_another_process() {
    if play() {
        return;
    }
    const TEST: &str = "an_awaited_event_in_a_segment_is_woken_by_another_process";
    let name = unique("aevent");
    let _c = common::Cleanup(name.clone());
    let seg = Arc::new(shmkit::Shared::<Event>::create(&name).unwrap());
    let mut child = Child::spawn(TEST, "notifier", &[&name]);
    assert_eq!(child.recv(), "attached");
    let polls = Arc::new(AtomicUsize::new(0));
    let rt = tokio_mt();
    let task = rt.spawn(counted(wait_event(Arc::clone(&seg), |s| s.get()), &polls));
    until("the wait is pending", || polls.load(Ordering::SeqCst) >= 1);
    assert!(!task.is_finished());
    child.send("go");
    assert_eq!(child.recv(), "done");
    rt.block_on(async { tokio::time::timeout(HANG, task).await })
        .expect("hung")
        .unwrap()
        .unwrap();
    assert!(!seg.get().is_signalled());
    child.send("bye");
    child.wait_ok();
}

#[test]
fn a_cancelled_event_wait_passes_its_signal_on() {
    let e = Arc::new(Event::new(EventMode::AutoReset));
    // Polled once (lent to the reactor), then dropped; the signal comes
    // after.
    let mut first = Box::pin(wait_event(Arc::clone(&e), |e| e));
    assert!(first.as_mut().now_or_never().is_none());
    drop(first);
    e.notify_one().unwrap();
    // A second wait gets it, however the reactor's set and the dropped
    // wait raced for it.
    let second = smol::block_on(smol::future::or(
        async {
            wait_event(Arc::clone(&e), |e| e).await.unwrap();
            true
        },
        async {
            smol::Timer::after(HANG).await;
            false
        },
    ));
    assert!(second, "the signal was lost");
}

#[test]
fn a_cancelled_event_wait_makes_no_signal_of_its_own() {
    let e = Arc::new(Event::new(EventMode::AutoReset));
    for _ in 0..20 {
        let mut w = Box::pin(wait_event(Arc::clone(&e), |e| e));
        assert!(w.as_mut().now_or_never().is_none());
        drop(w);
    }
    // The reactor takes the dropped waits out of its set; none of that
    // may look like a notification.
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(100) {
        assert!(!e.is_signalled(), "a dropped wait signalled the event");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn dropping_an_async_consumer_while_it_waits_closes_the_queue() {
    let name = unique("adrop");
    let _c = QueueCleanup(name.clone());
    let mut rx = AsyncConsumer::new(Consumer::create(&name, 1024).unwrap());
    let mut tx = Producer::open(&name).unwrap();
    // Lent to the reactor by a receive polled once.
    assert!(rx.recv().now_or_never().is_none());
    assert!(rx.with(|_| ()).is_none());
    drop(rx);
    // The reactor drops the endpoint: the producer sees its consumer gone.
    until("the consumer is closed", || {
        matches!(tx.try_send(b"x"), Err(Error::Closed { .. }))
            || tx.peer() == shmkit::queue::Peer::Closed
    });
}
