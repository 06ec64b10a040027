//! shmkit's own rows: round trips through two SPSC queues (one each way)
//! with each wait strategy, streaming through an SPSC and an MPMC queue,
//! broadcast fan-out to 1, 2 and 4 subscribers, and hand-offs through the
//! Mutex and the SeqLock.

use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use shmkit::queue::mpmc;
use shmkit::queue::spsc::{Consumer, Producer};
use shmkit::queue::{Options, Wait};
use shmkit::Error;

use super::run::Peer;
use super::transports::{Class, Link, Sink, Stream, Transport};

/// How long either side waits for the other before declaring it gone.
const PEER_TIMEOUT: Duration = Duration::from_secs(20);

/// A queue that holds a few messages of `size` bytes.
fn capacity(size: usize) -> usize {
    (4 * (size + 16)).max(4096)
}

/// Every queue name this run handed out, for [`remove_lock_files`].
static USED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Two queue names (parent to peer, peer to parent) no other run uses.
pub(super) fn names() -> (String, String) {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let base = format!("skq{}-{n}", std::process::id());
    let names = (format!("{base}-down"), format!("{base}-up"));
    if let Ok(mut used) = USED.lock() {
        used.extend([names.0.clone(), names.1.clone()]);
    }
    names
}

/// Removes what is left of every queue this run used: their role lock
/// files, which outlive the queues. Call only once every peer has exited and
/// every endpoint is dropped (the names are this process's own, so no other
/// process holds them).
pub fn remove_lock_files() {
    let used = USED
        .lock()
        .map(|mut u| std::mem::take(&mut *u))
        .unwrap_or_default();
    for name in used {
        // The queue's segment is gone already; only its lock files remain.
        let _ = shmkit::queue::remove(&name);
    }
}

/// Round trips through shmkit's SPSC queue: the parent sends a message of
/// the row's size, the peer reads it out and sends it back.
///
/// Zero-copy (`zero_copy`), the work of a loan-and-publish transport such as
/// iceoryx2: the parent writes its message in place (`reserve`, `write_at`,
/// `commit`) and releases the answer unread; the peer copies the message it
/// got straight into its answer (`Grant::copy_from`). Two copies of the
/// payload per round trip instead of four.
pub struct ShmkitQueue {
    name: &'static str,
    wait: Wait,
    zero_copy: bool,
}

/// Busy-spinning both ways: the lowest latency, a CPU each.
pub static QUEUE_SPIN: ShmkitQueue = ShmkitQueue {
    name: "shmkit-queue-spin",
    wait: Wait::Spin,
    zero_copy: false,
};
/// Busy-spinning, zero-copy both ways.
pub static QUEUE_ZERO_COPY: ShmkitQueue = ShmkitQueue {
    name: "shmkit-queue-zero-copy",
    wait: Wait::Spin,
    zero_copy: true,
};
/// Spin briefly, then sleep on a shared futex (the default).
pub static QUEUE_SPIN_BLOCK: ShmkitQueue = ShmkitQueue {
    name: "shmkit-queue-spin-block",
    wait: Wait::SpinThenBlock,
    zero_copy: false,
};
/// Sleep at once.
pub static QUEUE_BLOCK: ShmkitQueue = ShmkitQueue {
    name: "shmkit-queue-block",
    wait: Wait::Block,
    zero_copy: false,
};

struct QueueLink {
    tx: Producer,
    rx: Consumer,
    msg: Vec<u8>,
    back: Vec<u8>,
    child: Child,
    name: &'static str,
    zero_copy: bool,
}

impl Link for QueueLink {
    fn round_trip(&mut self) -> Result<()> {
        if self.zero_copy {
            let mut g = self.tx.reserve(self.msg.len())?;
            g.write_at(0, &self.msg)?;
            g.commit()?;
        } else {
            self.tx.send(&self.msg)?;
        }
        let m = match self.rx.read_timeout(PEER_TIMEOUT) {
            Ok(m) => m,
            Err(e) => {
                let _ = self.child.try_wait();
                bail!("the {} peer did not answer: {e}", self.name);
            }
        };
        ensure!(
            m.len() == self.back.len(),
            "the {} peer answered {} bytes, not {}",
            self.name,
            m.len(),
            self.back.len()
        );
        if !self.zero_copy {
            m.read_at(0, &mut self.back)?;
        }
        m.release();
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        let QueueLink {
            tx,
            rx,
            mut child,
            name,
            ..
        } = *self;
        // Closing our ends tells the peer to stop.
        drop(tx);
        let status = child
            .wait()
            .with_context(|| format!("waiting for the {name} peer"))?;
        drop(rx);
        ensure!(status.success(), "the {name} peer failed ({status})");
        Ok(())
    }
}

impl Transport for ShmkitQueue {
    fn name(&self) -> &'static str {
        self.name
    }
    fn class(&self) -> Class {
        Class::Shmkit
    }
    fn busy_spins(&self) -> bool {
        self.wait == Wait::Spin
    }
    fn sized(&self) -> bool {
        true
    }
    fn connect(&self, peer: &Peer, size: usize) -> Result<Box<dyn Link>> {
        let opts = Options::default().wait(self.wait);
        let (down, up) = names();
        let tx = Producer::create_with(&down, capacity(size), &opts)?;
        let rx = Consumer::create_with(&up, capacity(size), &opts)?;
        let args = [down.clone(), up.clone(), size.to_string()];
        let child = peer.spawn(self.name, &args, Stdio::null(), Stdio::null())?;
        Ok(Box::new(QueueLink {
            tx,
            rx,
            msg: vec![0x5a; size],
            back: vec![0; size],
            child,
            name: self.name,
            zero_copy: self.zero_copy,
        }))
    }
    fn serve(&self, args: &[String]) -> Result<()> {
        let [down, up, size] = args else {
            bail!("expected two queue names and a size");
        };
        let size: usize = size.parse().context("bad size")?;
        let opts = Options::default().wait(self.wait);
        let mut rx = Consumer::open_with(down, &opts)?;
        let mut tx = Producer::open_with(up, &opts)?;
        let mut buf = vec![0u8; size];
        loop {
            match rx.read_timeout(PEER_TIMEOUT) {
                Ok(m) if self.zero_copy => {
                    let mut g = tx.reserve(m.len())?;
                    g.copy_from(0, &m)?;
                    g.commit()?;
                    m.release();
                }
                Ok(m) => {
                    let len = m.len().min(buf.len());
                    m.read_at(0, &mut buf[..len])?;
                    m.release();
                    tx.send(&buf[..len])?;
                }
                Err(Error::Closed { .. } | Error::PeerDied { .. }) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Round trips as `shmkit-queue-block`'s, with the parent waiting for the
/// answer in a [`WaitSet`](shmkit::WaitSet) of 64 SPSC consumers, 63 of
/// them idle: what a service that watches many queues pays for the one
/// that is active. Compare it with `shmkit-queue-block` (the same peer).
pub struct ShmkitWaitSet64;

/// Members of the set, the answer queue included.
const SET_MEMBERS: usize = 64;

struct WaitSetLink {
    tx: Producer,
    set: shmkit::WaitSet<'static>,
    answers: shmkit::waitset::Key<Consumer>,
    msg: Vec<u8>,
    back: Vec<u8>,
    child: Child,
}

impl Link for WaitSetLink {
    fn round_trip(&mut self) -> Result<()> {
        self.tx.send(&self.msg)?;
        loop {
            let ready = self.set.wait_timeout(PEER_TIMEOUT)?;
            if ready.is_empty() {
                let _ = self.child.try_wait();
                bail!("the {} peer did not answer", ShmkitWaitSet64.name());
            }
            if ready.iter().any(|r| r.is(self.answers)) {
                break;
            }
        }
        let rx = self.set.get_mut(self.answers).context("answer queue")?;
        let m = rx.try_read()?.context("a ready queue held no message")?;
        ensure!(
            m.len() == self.back.len(),
            "the peer answered {} bytes",
            m.len()
        );
        m.read_at(0, &mut self.back)?;
        m.release();
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        let WaitSetLink {
            tx, set, mut child, ..
        } = *self;
        drop(tx);
        let status = child.wait().context("waiting for the waitset peer")?;
        drop(set);
        ensure!(status.success(), "the waitset peer failed ({status})");
        Ok(())
    }
}

impl Transport for ShmkitWaitSet64 {
    fn name(&self) -> &'static str {
        "shmkit-waitset-64"
    }
    fn class(&self) -> Class {
        Class::Shmkit
    }
    fn busy_spins(&self) -> bool {
        false
    }
    fn sized(&self) -> bool {
        true
    }
    fn connect(&self, peer: &Peer, size: usize) -> Result<Box<dyn Link>> {
        let opts = Options::default().wait(Wait::Block);
        let (down, up) = names();
        let tx = Producer::create_with(&down, capacity(size), &opts)?;
        let mut set = shmkit::WaitSet::new();
        let answers = set.add(Consumer::create_with(&up, capacity(size), &opts)?);
        while set.len() < SET_MEMBERS {
            let (a, b) = names();
            set.add(Consumer::create_with(&a, 4096, &opts)?);
            set.add(Consumer::create_with(&b, 4096, &opts)?);
        }
        let args = [down, up, size.to_string()];
        let child = peer.spawn(self.name(), &args, Stdio::null(), Stdio::null())?;
        Ok(Box::new(WaitSetLink {
            tx,
            set,
            answers,
            msg: vec![0x5a; size],
            back: vec![0; size],
            child,
        }))
    }
    fn serve(&self, args: &[String]) -> Result<()> {
        QUEUE_BLOCK.serve(args)
    }
}

/// The sending end of a queue a streaming row writes into.
trait QueueSender {
    fn send_timeout(&mut self, msg: &[u8], timeout: Duration) -> shmkit::Result<()>;
}

impl QueueSender for Producer {
    fn send_timeout(&mut self, msg: &[u8], timeout: Duration) -> shmkit::Result<()> {
        Producer::send_timeout(self, msg, timeout)
    }
}

impl QueueSender for mpmc::Producer {
    fn send_timeout(&mut self, msg: &[u8], timeout: Duration) -> shmkit::Result<()> {
        mpmc::Producer::send_timeout(self, msg, timeout)
    }
}

/// The parent's end of a streaming row: the queue it sends into, the SPSC
/// queue the peer acknowledges each batch on, and the peer.
struct QueueSink<P> {
    tx: P,
    acks: Consumer,
    child: Child,
    name: &'static str,
}

impl<P: QueueSender + 'static> QueueSink<P> {
    /// Creates the acknowledgement queue `up` and starts the peer with
    /// `args` (its queue names and anything else it needs) and the batches.
    fn start(
        tx: P,
        up: &str,
        name: &'static str,
        peer: &Peer,
        args: Vec<String>,
        batches: &[usize],
    ) -> Result<Box<dyn Sink>> {
        let acks = Consumer::create(up, 4096)?;
        let args: Vec<String> = std::iter::once("sink".to_owned())
            .chain(args)
            .chain(batches.iter().map(|n| n.to_string()))
            .collect();
        let child = peer.spawn(name, &args, Stdio::null(), Stdio::null())?;
        Ok(Box::new(QueueSink {
            tx,
            acks,
            child,
            name,
        }))
    }
}

impl<P: QueueSender> Sink for QueueSink<P> {
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        // With a timeout: a peer that died before it attached leaves the
        // queue full with no consumer to be seen dead.
        Ok(self.tx.send_timeout(msg, PEER_TIMEOUT)?)
    }
    fn wait_ack(&mut self) -> Result<()> {
        let m = self.acks.read_timeout(PEER_TIMEOUT)?;
        m.release();
        Ok(())
    }
    fn close(self: Box<Self>) -> Result<()> {
        let QueueSink {
            tx,
            acks,
            mut child,
            name,
        } = *self;
        drop(tx);
        let status = child
            .wait()
            .with_context(|| format!("waiting for the {name} peer"))?;
        drop(acks);
        ensure!(status.success(), "the {name} peer failed ({status})");
        Ok(())
    }
}

/// The peer's end of a streaming row: `recv` takes one message out, and
/// each batch is acknowledged on the SPSC queue `up`.
fn serve_batches(up: &str, batches: &[String], mut recv: impl FnMut() -> Result<()>) -> Result<()> {
    let mut acks = Producer::open(up)?;
    for batch in batches {
        let n: usize = batch.parse().context("bad batch count")?;
        for _ in 0..n {
            recv()?;
        }
        acks.send(&[1])?;
    }
    Ok(())
}

/// Streaming through shmkit's SPSC queue by copy (`send(&[u8])`), the
/// default wait strategy; the peer acknowledges each batch on a second queue.
pub struct ShmkitQueueStream;

impl Stream for ShmkitQueueStream {
    fn name(&self) -> &'static str {
        "shmkit-queue"
    }
    fn class(&self) -> Class {
        Class::Shmkit
    }
    fn connect(&self, peer: &Peer, size: usize, batches: &[usize]) -> Result<Box<dyn Sink>> {
        let (down, up) = names();
        // Room for 16 messages in flight, as a socket buffer has, within
        // 2 MiB (at least two messages), so that the ring stays in cache:
        // 1 MiB messages through a 32 MiB ring streamed 2.5-3.3 GB/s here,
        // through a 4 MiB one 20-23 GB/s; 64 B to 64 KiB are unchanged.
        let cap = (size + 16)
            .saturating_mul(16)
            .clamp(1 << 16, 2 << 20)
            .max((size + 16).saturating_mul(2));
        let tx = Producer::create(&down, cap)?;
        let args = vec![down, up.clone(), size.to_string()];
        QueueSink::start(tx, &up, self.name(), peer, args, batches)
    }
    fn serve(&self, args: &[String]) -> Result<()> {
        let [down, up, size, batches @ ..] = args else {
            bail!("expected two queue names, a size and batch counts");
        };
        let size: usize = size.parse().context("bad size")?;
        let mut rx = Consumer::open(down)?;
        let mut buf = vec![0u8; size];
        serve_batches(up, batches, || {
            let m = rx.read_timeout(PEER_TIMEOUT)?;
            let len = m.len().min(buf.len());
            m.read_at(0, &mut buf[..len])?;
            m.release();
            Ok(())
        })
    }
}

/// Streaming through shmkit's MPMC queue, one producer (the parent) and one
/// consumer (the peer), by copy, the default wait strategy: what the
/// many-producer protocol (a claim and a publish per slot, on shared
/// indices) costs against the SPSC row. The peer acknowledges each batch on
/// an SPSC queue, as there.
pub struct ShmkitMpmcStream;

impl Stream for ShmkitMpmcStream {
    fn name(&self) -> &'static str {
        "shmkit-mpmc"
    }
    fn class(&self) -> Class {
        Class::Shmkit
    }
    fn connect(&self, peer: &Peer, size: usize, batches: &[usize]) -> Result<Box<dyn Sink>> {
        let (down, up) = names();
        // As many slots as fill about 2 MiB (the SPSC row's largest ring),
        // from 2 to 1024.
        let slots = ((2 << 20) / (size + 16)).clamp(2, 1024);
        let tx = mpmc::Producer::create(&down, slots, size.max(1))?;
        let args = vec![down, up.clone()];
        QueueSink::start(tx, &up, self.name(), peer, args, batches)
    }
    fn serve(&self, args: &[String]) -> Result<()> {
        let [down, up, batches @ ..] = args else {
            bail!("expected two queue names and batch counts");
        };
        let mut rx = mpmc::Consumer::open(down)?;
        let mut buf = Vec::new();
        // No timeout needed: the parent closing or dying ends the wait.
        serve_batches(up, batches, || Ok(rx.recv_into(&mut buf)?))
    }
}

// ---- broadcast fan-out ----------------------------------------------------

/// What the subscribers of a fan-out row share with the publisher: how many
/// have attached and acknowledged, and an event the last one notifies.
#[derive(shmkit::Layout)]
#[shmkit(in_place)]
#[repr(C)]
struct FanOut {
    acks: AtomicU64,
    all: shmkit::sync::Event,
}

/// Fan-out: one publisher, N subscribers in N processes. A round trip is one
/// message published until every subscriber has read it out and
/// acknowledged (the last one notifies an `Event`). The publisher polls the
/// count for a while before it waits on the `Event`, as the subscribers'
/// default wait strategy does: an `Event` wait goes straight to the kernel,
/// and when the acknowledgement came as the publisher entered the futex
/// call, the row measured that system call (775 ns at 64 B against 178 at
/// 8 B, where it came before).
pub struct ShmkitBroadcast {
    name: &'static str,
    subscribers: u64,
}

/// Fan-out to one subscriber.
pub static BROADCAST_1: ShmkitBroadcast = ShmkitBroadcast {
    name: "shmkit-broadcast-1",
    subscribers: 1,
};
/// Fan-out to two subscribers.
pub static BROADCAST_2: ShmkitBroadcast = ShmkitBroadcast {
    name: "shmkit-broadcast-2",
    subscribers: 2,
};
/// Fan-out to four subscribers.
pub static BROADCAST_4: ShmkitBroadcast = ShmkitBroadcast {
    name: "shmkit-broadcast-4",
    subscribers: 4,
};

struct BroadcastLink {
    publisher: shmkit::broadcast::Publisher,
    fan: shmkit::Shared<FanOut>,
    msg: Vec<u8>,
    sent: u64,
    n: u64,
    children: Vec<Child>,
    name: &'static str,
}

/// How many times the publisher polls the acknowledgements before waiting
/// on the `Event` (a few microseconds).
const ACK_SPINS: u32 = 1 << 10;

impl Link for BroadcastLink {
    fn round_trip(&mut self) -> Result<()> {
        self.publisher.send(&self.msg)?;
        self.sent += 1;
        let f = self.fan.get();
        let all = self.n * (self.sent + 1);
        // SYNC(acks): every subscriber's acknowledgement of this message.
        for _ in 0..ACK_SPINS {
            if f.acks.load(Ordering::Acquire) >= all {
                return Ok(());
            }
            std::hint::spin_loop();
        }
        // An `Event` signal left from a round that did not wait only makes
        // this loop look once more.
        while f.acks.load(Ordering::Acquire) < all {
            if !f.all.wait_timeout(Duration::from_millis(100))? {
                for c in &mut self.children {
                    if let Some(status) = c.try_wait()? {
                        bail!("a {} subscriber exited early ({status})", self.name);
                    }
                }
            }
        }
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        let BroadcastLink {
            publisher,
            children,
            name,
            ..
        } = *self;
        // Dropping the publisher closes the ring: the subscribers stop.
        drop(publisher);
        for mut c in children {
            let status = c
                .wait()
                .with_context(|| format!("waiting for a {name} subscriber"))?;
            ensure!(status.success(), "a {name} subscriber failed ({status})");
        }
        Ok(())
    }
}

impl Transport for ShmkitBroadcast {
    fn name(&self) -> &'static str {
        self.name
    }
    fn class(&self) -> Class {
        Class::Shmkit
    }
    fn busy_spins(&self) -> bool {
        false
    }
    fn sized(&self) -> bool {
        true
    }
    fn connect(&self, peer: &Peer, size: usize) -> Result<Box<dyn Link>> {
        let (ring, acks) = names();
        let publisher = shmkit::broadcast::Publisher::create(&ring, 64, size.max(1))?;
        let fan = shmkit::Shared::<FanOut>::create(&acks)?;
        let args = [ring, acks, self.subscribers.to_string()];
        let children = (0..self.subscribers)
            .map(|_| peer.spawn(self.name, &args, Stdio::null(), Stdio::null()))
            .collect::<Result<Vec<_>>>()?;
        // Wait until every subscriber has attached (each counts itself once),
        // since a subscriber starts at the newest message.
        let f = fan.get();
        let start = std::time::Instant::now();
        while f.acks.load(Ordering::Acquire) < self.subscribers {
            ensure!(
                start.elapsed() < PEER_TIMEOUT,
                "the {} subscribers never attached",
                self.name
            );
            f.all.wait_timeout(Duration::from_millis(10))?;
        }
        Ok(Box::new(BroadcastLink {
            publisher,
            fan,
            msg: vec![0x5a; size],
            sent: 0,
            n: self.subscribers,
            children,
            name: self.name,
        }))
    }
    fn serve(&self, args: &[String]) -> Result<()> {
        let [ring, acks, n] = args else {
            bail!("expected a ring name, an ack segment name and a count");
        };
        let n: u64 = n.parse().context("bad subscriber count")?;
        let mut sub = shmkit::broadcast::Subscriber::open(ring)?;
        let fan = shmkit::Shared::<FanOut>::open(acks)?;
        let f = fan.get();
        let ack = || {
            // SYNC(acks)
            let now = f.acks.fetch_add(1, Ordering::AcqRel) + 1;
            if now % n == 0 {
                f.all.notify_one()
            } else {
                Ok(())
            }
        };
        ack()?;
        let mut buf = Vec::new();
        loop {
            match sub.recv_into(&mut buf) {
                Ok(()) => ack()?,
                Err(Error::Closed { .. } | Error::PeerDied { .. }) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

// ---- primitives: mutex and seqlock hand-offs --------------------------------

/// A turn counter behind a `shmkit::sync::Mutex`, and a value behind a
/// `SeqLock` each way.
#[derive(shmkit::Layout)]
#[shmkit(in_place)]
#[repr(C)]
struct Turns {
    turn: shmkit::sync::Mutex<u64>,
    ping: shmkit::sync::SeqLock<u64>,
    pong: shmkit::sync::SeqLock<u64>,
    stop: AtomicU64,
}

/// Hand-offs through shmkit's primitives, both sides busy-polling: through a
/// `Mutex` (each side locks, checks whose turn it is, and passes it on) or
/// through two `SeqLock`s (each side writes its count and polls the other's).
pub struct ShmkitPrimitive {
    name: &'static str,
    seqlock: bool,
}

/// Turn-taking through `shmkit::sync::Mutex`.
pub static MUTEX_HANDOFF: ShmkitPrimitive = ShmkitPrimitive {
    name: "shmkit-mutex",
    seqlock: false,
};
/// Ping-pong through two `shmkit::sync::SeqLock`s.
pub static SEQLOCK_HANDOFF: ShmkitPrimitive = ShmkitPrimitive {
    name: "shmkit-seqlock",
    seqlock: true,
};

struct PrimitiveLink {
    turns: shmkit::Shared<Turns>,
    n: u64,
    child: Child,
    name: &'static str,
    seqlock: bool,
}

/// Polls `done` until it holds, checking now and then that the peer lives.
fn poll_until(child: &mut Child, name: &str, mut done: impl FnMut() -> Result<bool>) -> Result<()> {
    let mut spins = 0u32;
    let start = std::time::Instant::now();
    while !done()? {
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins % (1 << 16) == 0 {
            if let Some(status) = child.try_wait()? {
                bail!("the {name} peer exited early ({status})");
            }
            ensure!(
                start.elapsed() < PEER_TIMEOUT,
                "the {name} peer stopped answering"
            );
        }
    }
    Ok(())
}

impl Link for PrimitiveLink {
    fn round_trip(&mut self) -> Result<()> {
        let t = self.turns.get();
        self.n += 1;
        let n = self.n;
        if self.seqlock {
            // Taking the writer role is part of the cost here (a writer
            // borrows the segment, which this link owns).
            t.ping.writer()?.write(&n);
            return poll_until(&mut self.child, self.name, || Ok(t.pong.read() == n));
        }
        // Odd turns are the peer's, even ones ours.
        *lock(&t.turn)? = 2 * n - 1;
        poll_until(&mut self.child, self.name, || Ok(*lock(&t.turn)? == 2 * n))
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.turns.get().stop.store(1, Ordering::Release);
        let mut child = self.child;
        let status = child
            .wait()
            .with_context(|| format!("waiting for the {} peer", self.name))?;
        ensure!(status.success(), "the {} peer failed ({status})", self.name);
        Ok(())
    }
}

/// Locks, taking over from a dead owner (there is none in a benchmark).
fn lock(m: &shmkit::sync::Mutex<u64>) -> Result<shmkit::sync::MutexGuard<'_, u64>> {
    Ok(m.lock_or_repair(|_| {})?)
}

impl Transport for ShmkitPrimitive {
    fn name(&self) -> &'static str {
        self.name
    }
    fn class(&self) -> Class {
        Class::Shmkit
    }
    fn busy_spins(&self) -> bool {
        true
    }
    fn sized(&self) -> bool {
        false
    }
    fn connect(&self, peer: &Peer, _size: usize) -> Result<Box<dyn Link>> {
        let (seg, _) = names();
        let turns = shmkit::Shared::<Turns>::create(&seg)?;
        let child = peer.spawn(self.name, &[seg], Stdio::null(), Stdio::null())?;
        Ok(Box::new(PrimitiveLink {
            turns,
            n: 0,
            child,
            name: self.name,
            seqlock: self.seqlock,
        }))
    }
    fn serve(&self, args: &[String]) -> Result<()> {
        let [seg] = args else {
            bail!("expected a segment name");
        };
        let turns = shmkit::Shared::<Turns>::open(seg)?;
        let t = turns.get();
        let stop = || t.stop.load(Ordering::Acquire) != 0;
        let mut n = 0u64;
        if self.seqlock {
            let mut w = t.pong.writer()?;
            loop {
                n += 1;
                while t.ping.read() != n {
                    if stop() {
                        return Ok(());
                    }
                    std::hint::spin_loop();
                }
                w.write(&n);
            }
        }
        loop {
            n += 1;
            loop {
                let mut g = lock(&t.turn)?;
                if *g == 2 * n - 1 {
                    *g = 2 * n;
                    break;
                }
                drop(g);
                if stop() {
                    return Ok(());
                }
                std::hint::spin_loop();
            }
        }
    }
}
