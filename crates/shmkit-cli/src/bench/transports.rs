//! The candidates: everything that `shmkit bench` measures, each one small
//! struct.
//!
//! # Adding a candidate
//! - A round-trip latency row (a queue, a broadcast to N subscribers, a
//!   mutex or event hand-off): implement [`Transport`] and add it to
//!   [`latency`]. `connect` sets up the parent's side and starts the peer
//!   with [`Peer::spawn`] (call it N times for N subscribers); `serve` is the
//!   peer's side, run in `shmkit __bench-peer NAME ARGS...`.
//! - A throughput row: implement [`Stream`] and add it to [`streams`].
//!
//! Nothing else changes: rounds, probes, statistics, table, JSON and plot
//! pick the new row up by its name and [`Class`].

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use shmkit::Segment;

use super::os;
use super::run::Peer;

/// What a row is compared with, and what it is compared as.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Class {
    /// The hardware limit: every latency row's "x limit" is its p50 over
    /// this row's p50, measured in the same round.
    Limit,
    /// Another reference point that is not a candidate (the futex, the
    /// limit for anything that blocks).
    Reference,
    /// Classic IPC (pipe, socket): "x best IPC" is over the best of these in
    /// the same round.
    ClassicIpc,
    /// shmkit's own queue and primitives.
    Shmkit,
}

impl Class {
    /// The name in the JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Limit => "limit",
            Class::Reference => "reference",
            Class::ClassicIpc => "classic-ipc",
            Class::Shmkit => "shmkit",
        }
    }
}

/// One row of the round-trip latency table: a way to send a message to a
/// second process and get an answer of the same size.
pub trait Transport: Sync {
    /// The row's name, also the peer's role (`shmkit __bench-peer NAME`).
    fn name(&self) -> &'static str;
    /// What it is compared with.
    fn class(&self) -> Class;
    /// Whether it busy-spins, and so needs two CPUs of its own: it is skipped
    /// (with that reason) when the processes cannot be pinned apart.
    fn busy_spins(&self) -> bool;
    /// Whether it carries the message (`false`: it only flips a flag, and
    /// its row is the same for every size).
    fn sized(&self) -> bool;
    /// Why it cannot run on this OS, if it cannot.
    fn unsupported(&self) -> Option<&'static str> {
        None
    }
    /// The largest message it carries, if it has a limit (bigger sizes skip
    /// the row).
    fn max_size(&self) -> Option<usize> {
        None
    }
    /// The parent's side: sets up the channel and starts the peer.
    fn connect(&self, peer: &Peer, size: usize) -> Result<Box<dyn Link>>;
    /// The peer's side, with the arguments `connect` gave [`Peer::spawn`].
    fn serve(&self, args: &[String]) -> Result<()>;
}

/// A live channel to a peer, from [`Transport::connect`].
pub trait Link {
    /// Sends one message and waits for the answer.
    fn round_trip(&mut self) -> Result<()>;
    /// Makes `n` round trips, giving each one's time to `record`. A link
    /// whose round trips run inside a runtime (the async rows) enters it
    /// once for all of them, as an async program runs its loop in a task:
    /// entering it for each would time the runtime's entry, not the
    /// transport.
    fn round_trips(&mut self, n: usize, record: &mut dyn FnMut(Duration)) -> Result<()> {
        for _ in 0..n {
            let start = Instant::now();
            self.round_trip()?;
            record(start.elapsed());
        }
        Ok(())
    }
    /// Tells the peer to stop, and waits until it has.
    fn close(self: Box<Self>) -> Result<()>;
}

/// One row of the throughput table: a way to stream messages to a second
/// process.
pub trait Stream: Sync {
    /// The row's name, also the peer's role.
    fn name(&self) -> &'static str;
    /// What it is compared with (memcpy is always the limit).
    fn class(&self) -> Class;
    /// The parent's side. The peer acknowledges after each batch of
    /// `batches` messages of `size` bytes.
    fn connect(&self, peer: &Peer, size: usize, batches: &[usize]) -> Result<Box<dyn Sink>>;
    /// The peer's side.
    fn serve(&self, args: &[String]) -> Result<()>;
}

/// A live stream to a peer, from [`Stream::connect`].
pub trait Sink {
    /// Sends one message.
    fn send(&mut self, msg: &[u8]) -> Result<()>;
    /// Waits for the peer's acknowledgement of the current batch.
    fn wait_ack(&mut self) -> Result<()>;
    /// Waits until the peer has exited.
    fn close(self: Box<Self>) -> Result<()>;
}

/// Every latency row, in table order. Add new candidates here.
pub fn latency() -> Vec<&'static dyn Transport> {
    use super::shmkit_rows::{
        BROADCAST_1, BROADCAST_2, BROADCAST_4, MUTEX_HANDOFF, QUEUE_BLOCK, QUEUE_SPIN,
        QUEUE_SPIN_BLOCK, QUEUE_ZERO_COPY, SEQLOCK_HANDOFF,
    };
    vec![
        &BARE_CACHE_LINE,
        &BARE_TWO_LINES,
        &BareSeqRing,
        &super::model::BareQueueModel,
        &QUEUE_SPIN,
        &QUEUE_ZERO_COPY,
        &SEQLOCK_HANDOFF,
        &MUTEX_HANDOFF,
        &BARE_FUTEX,
        &ShmkitEvent,
        &QUEUE_SPIN_BLOCK,
        &QUEUE_BLOCK,
        &super::shmkit_rows::ShmkitWaitSet64,
        &super::async_rows::ASYNC_TOKIO,
        &super::async_rows::ASYNC_IDLE,
        &BROADCAST_1,
        &BROADCAST_2,
        &BROADCAST_4,
        &Pipe,
        &Uds,
        &super::async_rows::TokioUds,
        &Tcp,
    ]
}

/// Every throughput row, in table order. Add new candidates here.
pub fn streams() -> Vec<&'static dyn Stream> {
    vec![
        &super::shmkit_rows::ShmkitQueueStream,
        &super::shmkit_rows::ShmkitMpmcStream,
        &Pipe,
        &Uds,
    ]
}

/// How long either side waits for the other before declaring it gone.
const PEER_TIMEOUT: Duration = Duration::from_secs(20);

/// A segment name that no other run, and no earlier row of this run, uses.
pub(super) fn unique_name() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("skbench-{}-{n}", std::process::id())
}

/// The sequence word of the flag ping-pongs, alone in its cache line (a
/// typed segment puts its value at a 64-byte-aligned offset), and the
/// answer word of the two-line ping-pong, on the next 128-byte pair.
#[derive(shmkit::Layout)]
#[shmkit(in_place)]
#[repr(C)]
struct Flag {
    seq: AtomicU32,
    _pad: [AtomicU32; 31],
    back: AtomicU32,
    _pad2: AtomicU32,
}

/// The last value of the sequence word: tells the peer to exit.
const STOP: u32 = u32::MAX;

/// Checks that a sequence number has room before [`STOP`].
fn next_ping(seq: u32) -> Result<u32> {
    ensure!(seq < STOP - 4, "too many round trips for one peer");
    Ok(seq + 1)
}

/// Waits for a child to exit and checks that it succeeded.
pub(super) fn reap(mut child: Child, name: &str) -> Result<()> {
    let status = child
        .wait()
        .with_context(|| format!("waiting for the {name} peer"))?;
    ensure!(status.success(), "the {name} peer failed ({status})");
    Ok(())
}

/// Fails if the child has exited (called when a wait takes suspiciously long).
fn check_alive(child: &mut Child, name: &str) -> Result<()> {
    if let Some(status) = child.try_wait()? {
        bail!("the {name} peer exited early ({status})");
    }
    Ok(())
}

/// Busy-waits until `ready()`; after [`PEER_TIMEOUT`] of waiting, fails
/// (saying whether the peer exited).
#[inline]
pub(super) fn spin_until(
    mut ready: impl FnMut() -> bool,
    child: &mut Child,
    name: &str,
) -> Result<()> {
    let mut spins = 0u32;
    let mut since: Option<Instant> = None;
    while !ready() {
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins % (1 << 20) == 0 {
            let t = *since.get_or_insert_with(Instant::now);
            if t.elapsed() > PEER_TIMEOUT {
                check_alive(child, name)?;
                bail!("the {name} peer stopped answering");
            }
        }
    }
    Ok(())
}

/// Removes the segment's name once the peer has answered (it has the
/// segment mapped then), so that a killed run leaves nothing in /dev/shm.
pub(super) fn unname_once(named: &mut bool, seg: &Segment) -> Result<()> {
    if *named {
        let name = seg.name();
        Segment::remove(name).with_context(|| format!("removing segment `{name}`"))?;
        *named = false;
    }
    Ok(())
}

/// Creates a typed segment of the rings of a reference row under a fresh
/// name, and starts the row's peer with that name and the message size.
pub(super) fn rings_and_peer<T: shmkit::Layout>(
    row: &'static str,
    peer: &Peer,
    size: usize,
) -> Result<(shmkit::Shared<T>, Child)> {
    let seg_name = unique_name();
    let seg = shmkit::Shared::<T>::create(&seg_name)
        .with_context(|| format!("creating segment `{seg_name}`"))?;
    let child = peer.spawn(
        row,
        &[seg_name, size.to_string()],
        Stdio::null(),
        Stdio::null(),
    )?;
    Ok((seg, child))
}

/// The peer's side of [`rings_and_peer`]: the segment and the size.
pub(super) fn open_rings<T: shmkit::Layout>(args: &[String]) -> Result<(shmkit::Shared<T>, usize)> {
    let [name, size] = args else {
        bail!("expected a segment name and a size");
    };
    let size: usize = size.parse().context("bad size")?;
    let seg =
        shmkit::Shared::<T>::open(name).with_context(|| format!("opening segment `{name}`"))?;
    Ok((seg, size))
}

/// A busy-spinning peer's wait for the next message.
pub(super) struct PeerWait {
    parent: Option<rustix::process::Pid>,
    spins: u32,
}

impl PeerWait {
    pub(super) fn new() -> PeerWait {
        PeerWait {
            parent: rustix::process::getppid(),
            spins: 0,
        }
    }

    /// Spins until `ready()` (`true`) or until the parent sets `stop`
    /// (`false`); fails if the parent is gone (an orphan exits instead of
    /// spinning for ever).
    pub(super) fn until(
        &mut self,
        mut ready: impl FnMut() -> bool,
        stop: &AtomicU64,
    ) -> Result<bool> {
        while !ready() {
            if stop.load(Ordering::Acquire) != 0 {
                return Ok(false);
            }
            std::hint::spin_loop();
            self.spins = self.spins.wrapping_add(1);
            if self.spins % (1 << 20) == 0 && rustix::process::getppid() != self.parent {
                bail!("the parent process is gone");
            }
        }
        Ok(true)
    }
}

/// The bare flag ping-pongs: two processes take turns incrementing a
/// sequence number in a [`Segment`], with no message. One of them is the
/// limit every latency row is measured against.
pub struct BareFlag {
    name: &'static str,
    /// Sleep in `futex(FUTEX_WAIT)` and wake the other side, instead of
    /// busy-spinning.
    blocking: bool,
    /// The answer comes back in a second cache line.
    two_lines: bool,
}

/// The bare cache-line ping-pong: one cache line, busy-spinning. This is
/// what one hand-off between two cores costs, the floor under every
/// shared-memory transport.
pub static BARE_CACHE_LINE: BareFlag = BareFlag {
    name: "bare-cache-line",
    blocking: false,
    two_lines: false,
};

/// One cache line each way: the parent writes its sequence number in one
/// line, the peer answers in another. It is what two queues (one each way)
/// cost at least, however lean.
pub static BARE_TWO_LINES: BareFlag = BareFlag {
    name: "bare-two-lines",
    blocking: false,
    two_lines: true,
};

/// The bare futex ping-pong: the same sequence number, but each side sleeps
/// in `futex(FUTEX_WAIT)` and wakes the other with `futex(FUTEX_WAKE)`
/// (shared, not private). The floor under every transport that blocks.
pub static BARE_FUTEX: BareFlag = BareFlag {
    name: "bare-futex",
    blocking: true,
    two_lines: false,
};

struct SpinLink {
    seg: shmkit::Shared<Flag>,
    /// Whether the peer answers in `back` (its own line) instead of `seq`.
    two_lines: bool,
    /// Whether the name is still there (it goes once the peer has opened
    /// the segment, so that a killed run leaves nothing in /dev/shm).
    named: bool,
    seq: u32,
    child: Child,
    blocking: bool,
    name: &'static str,
}

impl SpinLink {
    fn start(peer: &Peer, name: &'static str, blocking: bool, two_lines: bool) -> Result<SpinLink> {
        let seg_name = unique_name();
        let seg = shmkit::Shared::<Flag>::create(&seg_name)
            .with_context(|| format!("creating segment `{seg_name}`"))?;
        let child = peer.spawn(name, &[seg_name], Stdio::null(), Stdio::null())?;
        Ok(SpinLink {
            seg,
            two_lines,
            named: true,
            seq: 0,
            child,
            blocking,
            name,
        })
    }
}

impl Link for SpinLink {
    #[inline]
    fn round_trip(&mut self) -> Result<()> {
        let w = &self.seg.get().seq;
        let ping = next_ping(self.seq)?;
        let pong = ping + 1;
        // SYNC(ping): hands the turn to the peer.
        w.store(ping, Ordering::Release);
        if self.blocking {
            os::futex_wake(w);
            let mut naps = 0;
            // SYNC(pong): the peer's answer.
            while w.load(Ordering::Acquire) != pong {
                os::futex_wait(w, ping, Duration::from_millis(100));
                naps += 1;
                if naps % 10 == 0 {
                    check_alive(&mut self.child, self.name)?;
                }
            }
        } else {
            let answer = if self.two_lines {
                &self.seg.get().back
            } else {
                w
            };
            // SYNC(pong): the peer's answer.
            spin_until(
                || answer.load(Ordering::Acquire) == pong,
                &mut self.child,
                self.name,
            )?;
        }
        self.seq = pong;
        unname_once(&mut self.named, self.seg.segment())
    }

    fn close(self: Box<Self>) -> Result<()> {
        let w = &self.seg.get().seq;
        w.store(STOP, Ordering::Release);
        if self.blocking {
            os::futex_wake(w);
        }
        reap(self.child, self.name)
    }
}

/// The peer of the [`BareFlag`] ping-pongs: answers each odd sequence
/// number with the next even one, in the same word or (`two_lines`) in
/// `back`.
fn serve_flag(args: &[String], blocking: bool, two_lines: bool) -> Result<()> {
    let [name] = args else {
        bail!("expected a segment name");
    };
    let seg =
        shmkit::Shared::<Flag>::open(name).with_context(|| format!("opening segment `{name}`"))?;
    let w = &seg.get().seq;
    let answer = if two_lines { &seg.get().back } else { w };
    let parent = rustix::process::getppid();
    let mut ping = 1u32;
    let mut waits = 0u32;
    loop {
        // SYNC(ping)
        let v = w.load(Ordering::Acquire);
        if v == ping {
            // SYNC(pong)
            answer.store(ping + 1, Ordering::Release);
            if blocking {
                os::futex_wake(w);
            }
            ping += 2;
            continue;
        }
        if v == STOP {
            return Ok(());
        }
        if blocking {
            os::futex_wait(w, v, Duration::from_millis(100));
            waits = waits.wrapping_add(1 << 14);
        } else {
            std::hint::spin_loop();
            waits = waits.wrapping_add(1);
        }
        // Now and then (every 0.1 s asleep, or 2^20 spins): an orphan exits
        // instead of spinning forever.
        if waits % (1 << 20) == 0 && rustix::process::getppid() != parent {
            bail!("the parent process is gone");
        }
    }
}

impl Transport for BareFlag {
    fn name(&self) -> &'static str {
        self.name
    }
    fn class(&self) -> Class {
        if self.blocking || self.two_lines {
            Class::Reference
        } else {
            Class::Limit
        }
    }
    fn busy_spins(&self) -> bool {
        !self.blocking
    }
    fn sized(&self) -> bool {
        false
    }
    fn unsupported(&self) -> Option<&'static str> {
        (self.blocking && !os::HAS_FUTEX).then_some("no futex on this OS")
    }
    fn connect(&self, peer: &Peer, _size: usize) -> Result<Box<dyn Link>> {
        Ok(Box::new(SpinLink::start(
            peer,
            self.name,
            self.blocking,
            self.two_lines,
        )?))
    }
    fn serve(&self, args: &[String]) -> Result<()> {
        serve_flag(args, self.blocking, self.two_lines)
    }
}

/// Words in each ring of [`SeqRings`] (512 KiB).
const RING_WORDS: usize = 1 << 16;

/// The two rings of the [`BareSeqRing`] ping-pong (parent to peer, peer to
/// parent) and the word that tells the peer to stop.
#[derive(shmkit::Layout)]
#[shmkit(in_place)]
#[repr(C)]
struct SeqRings {
    down: [AtomicU64; RING_WORDS],
    up: [AtomicU64; RING_WORDS],
    stop: AtomicU64,
}

/// The least any queue can do: a ring of fixed slots each way, each slot an
/// 8-byte sequence number followed by the message, with nothing else (no
/// lengths, no checks, no back-pressure: a ping-pong has one message in
/// flight). The writer copies the message in and then stores the sequence
/// number; the reader spins on it and copies the message out. A 64-byte
/// message and its sequence number are 72 bytes: two cache lines cross
/// each way, against one for the bare ping-pong.
pub struct BareSeqRing;

/// One direction of a [`BareSeqRing`]: where message `k` goes.
#[derive(Clone, Copy)]
struct Slots {
    /// Words per slot: the sequence number and the message, padded.
    words: usize,
    count: usize,
}

impl Slots {
    /// As many slots as fill the capacity of the queue rows' rings (a few
    /// messages, at least 4 KiB), so that both reuse as much memory.
    fn new(size: usize) -> Slots {
        let words = 1 + size.div_ceil(8);
        let bytes = (4 * (size + 16)).max(4096);
        Slots {
            words,
            count: (bytes / 8 / words).clamp(1, RING_WORDS / words),
        }
    }

    /// Writes message `seq` (its copy in, then its sequence number).
    fn put(self, ring: &[AtomicU64; RING_WORDS], seq: u64, msg: &[u8]) {
        let at = (seq as usize % self.count) * self.words;
        let body = &ring[at + 1..at + self.words];
        let words = msg.chunks_exact(8);
        let tail = words.remainder();
        for (w, chunk) in body.iter().zip(words) {
            let b: [u8; 8] = chunk.try_into().expect("8 bytes");
            w.store(u64::from_ne_bytes(b), Ordering::Relaxed);
        }
        if !tail.is_empty() {
            let mut b = [0u8; 8];
            b[..tail.len()].copy_from_slice(tail);
            body[msg.len() / 8].store(u64::from_ne_bytes(b), Ordering::Relaxed);
        }
        // SYNC(seq-ring): publishes the message.
        ring[at].store(seq, Ordering::Release);
    }

    /// Whether message `seq` has arrived.
    fn ready(self, ring: &[AtomicU64; RING_WORDS], seq: u64) -> bool {
        let at = (seq as usize % self.count) * self.words;
        // SYNC(seq-ring)
        ring[at].load(Ordering::Acquire) == seq
    }

    /// Copies message `seq` out (once [`Slots::ready`]).
    fn take(self, ring: &[AtomicU64; RING_WORDS], seq: u64, out: &mut [u8]) {
        let at = (seq as usize % self.count) * self.words;
        let body = &ring[at + 1..at + self.words];
        let len = out.len();
        let mut words = out.chunks_exact_mut(8);
        for (w, chunk) in body.iter().zip(&mut words) {
            chunk.copy_from_slice(&w.load(Ordering::Relaxed).to_ne_bytes());
        }
        let tail = words.into_remainder();
        if !tail.is_empty() {
            let b = body[len / 8].load(Ordering::Relaxed).to_ne_bytes();
            tail.copy_from_slice(&b[..tail.len()]);
        }
    }
}

struct SeqRingLink {
    seg: shmkit::Shared<SeqRings>,
    named: bool,
    slots: Slots,
    seq: u64,
    msg: Vec<u8>,
    back: Vec<u8>,
    child: Child,
}

impl Link for SeqRingLink {
    fn round_trip(&mut self) -> Result<()> {
        let rings = self.seg.get();
        self.seq += 1;
        self.slots.put(&rings.down, self.seq, &self.msg);
        let (slots, seq) = (self.slots, self.seq);
        spin_until(
            || slots.ready(&rings.up, seq),
            &mut self.child,
            BareSeqRing.name(),
        )?;
        self.slots.take(&rings.up, self.seq, &mut self.back);
        unname_once(&mut self.named, self.seg.segment())
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.seg.get().stop.store(1, Ordering::Release);
        reap(self.child, BareSeqRing.name())
    }
}

impl Transport for BareSeqRing {
    fn name(&self) -> &'static str {
        "bare-seq-ring"
    }
    fn class(&self) -> Class {
        Class::Reference
    }
    fn busy_spins(&self) -> bool {
        true
    }
    fn sized(&self) -> bool {
        true
    }
    fn max_size(&self) -> Option<usize> {
        Some((RING_WORDS - 1) * 8)
    }
    fn connect(&self, peer: &Peer, size: usize) -> Result<Box<dyn Link>> {
        let (seg, child) = rings_and_peer::<SeqRings>(self.name(), peer, size)?;
        Ok(Box::new(SeqRingLink {
            seg,
            named: true,
            slots: Slots::new(size),
            seq: 0,
            msg: vec![0x5a; size],
            back: vec![0; size],
            child,
        }))
    }
    fn serve(&self, args: &[String]) -> Result<()> {
        let (seg, size) = open_rings::<SeqRings>(args)?;
        let rings = seg.get();
        let slots = Slots::new(size);
        let mut buf = vec![0u8; size];
        let mut wait = PeerWait::new();
        for seq in 1.. {
            if !wait.until(|| slots.ready(&rings.down, seq), &rings.stop)? {
                return Ok(());
            }
            slots.take(&rings.down, seq, &mut buf);
            slots.put(&rings.up, seq, &buf);
        }
        Ok(())
    }
}

/// The two events of the [`ShmkitEvent`] ping-pong, in a typed segment.
#[derive(shmkit::Layout)]
#[shmkit(in_place)]
#[repr(C)]
struct EventPair {
    ping: shmkit::sync::Event,
    pong: shmkit::sync::Event,
    stop: AtomicU32,
    _pad: AtomicU32,
}

/// `shmkit::sync::Event` ping-pong: the parent notifies `ping` and waits on
/// `pong`, the peer the other way round; both sleep in the kernel between
/// turns. Compare it with `bare-futex`, the same hand-off on a bare word.
pub struct ShmkitEvent;

struct EventLink {
    shared: shmkit::Shared<EventPair>,
    named: bool,
    child: Child,
}

impl Link for EventLink {
    fn round_trip(&mut self) -> Result<()> {
        let e = self.shared.get();
        e.ping.notify_one()?;
        let mut naps = 0;
        while !e.pong.wait_timeout(Duration::from_millis(100))? {
            naps += 1;
            check_alive(&mut self.child, "shmkit-event")?;
            ensure!(naps < 200, "the shmkit-event peer stopped answering");
        }
        unname_once(&mut self.named, self.shared.segment())
    }

    fn close(self: Box<Self>) -> Result<()> {
        let e = self.shared.get();
        e.stop.store(1, Ordering::Release);
        e.ping.notify_one()?;
        reap(self.child, "shmkit-event")
    }
}

impl Transport for ShmkitEvent {
    fn name(&self) -> &'static str {
        "shmkit-event"
    }
    fn class(&self) -> Class {
        Class::Shmkit
    }
    fn busy_spins(&self) -> bool {
        false
    }
    fn sized(&self) -> bool {
        false
    }
    fn connect(&self, peer: &Peer, _size: usize) -> Result<Box<dyn Link>> {
        let seg_name = unique_name();
        let shared = shmkit::Shared::<EventPair>::create(&seg_name)
            .with_context(|| format!("creating segment `{seg_name}`"))?;
        let child = peer.spawn(self.name(), &[seg_name], Stdio::null(), Stdio::null())?;
        Ok(Box::new(EventLink {
            shared,
            named: true,
            child,
        }))
    }
    fn serve(&self, args: &[String]) -> Result<()> {
        let [name] = args else {
            bail!("expected a segment name");
        };
        let shared = shmkit::Shared::<EventPair>::open(name)
            .with_context(|| format!("opening segment `{name}`"))?;
        let e = shared.get();
        let parent = rustix::process::getppid();
        loop {
            if !e.ping.wait_timeout(Duration::from_millis(100))? {
                ensure!(
                    rustix::process::getppid() == parent,
                    "the parent process is gone"
                );
                continue;
            }
            // SYNC(event): `stop` is published before the final notify.
            if e.stop.load(Ordering::Acquire) != 0 {
                return Ok(());
            }
            e.pong.notify_one()?;
        }
    }
}

/// The parent's side of a byte-stream transport: the peer's stdin and
/// stdout are the two directions.
struct ByteLink {
    tx: File,
    rx: File,
    buf: Vec<u8>,
    child: Child,
    name: &'static str,
}

impl ByteLink {
    /// Starts `name`'s peer with `stdin` and `stdout`, keeping `tx` and `rx`.
    fn start(
        peer: &Peer,
        name: &'static str,
        args: &[String],
        (tx, rx): (OwnedFd, OwnedFd),
        (stdin, stdout): (OwnedFd, OwnedFd),
        size: usize,
    ) -> Result<ByteLink> {
        let child = peer.spawn(name, args, Stdio::from(stdin), Stdio::from(stdout))?;
        Ok(ByteLink {
            tx: File::from(tx),
            rx: File::from(rx),
            buf: vec![0x5a; size.max(1)],
            child,
            name,
        })
    }
}

impl Link for ByteLink {
    fn round_trip(&mut self) -> Result<()> {
        self.tx.write_all(&self.buf)?;
        self.rx
            .read_exact(&mut self.buf)
            .with_context(|| format!("reading the {} peer's answer", self.name))?;
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        let ByteLink {
            tx,
            rx,
            child,
            name,
            ..
        } = *self;
        drop(tx);
        drop(rx);
        reap(child, name)
    }
}

impl Sink for ByteLink {
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        self.tx.write_all(msg)?;
        Ok(())
    }

    fn wait_ack(&mut self) -> Result<()> {
        let mut ack = [0u8; 1];
        self.rx
            .read_exact(&mut ack)
            .with_context(|| format!("reading the {} peer's acknowledgement", self.name))?;
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        Link::close(self)
    }
}

/// The peer's stdin and stdout as unbuffered files.
fn stdio_files() -> Result<(File, File)> {
    let input = std::io::stdin().as_fd().try_clone_to_owned()?;
    let output = std::io::stdout().as_fd().try_clone_to_owned()?;
    Ok((File::from(input), File::from(output)))
}

fn parse_usize(arg: Option<&String>, what: &str) -> Result<usize> {
    arg.with_context(|| format!("expected {what}"))?
        .parse()
        .with_context(|| format!("bad {what}"))
}

/// The echo peer: reads messages of `size` bytes from stdin and writes each
/// one back to stdout, until end of input.
fn serve_echo(args: &[String]) -> Result<()> {
    let size = parse_usize(args.first(), "a message size")?.max(1);
    let (mut input, mut output) = stdio_files()?;
    let mut buf = vec![0u8; size];
    loop {
        match input.read_exact(&mut buf) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        output.write_all(&buf)?;
    }
}

/// The sink peer: for each batch count, reads that many messages of `size`
/// bytes from stdin, then writes one byte of acknowledgement.
fn serve_sink(args: &[String]) -> Result<()> {
    let size = parse_usize(args.first(), "a message size")?.max(1);
    let (mut input, mut output) = stdio_files()?;
    let mut buf = vec![0u8; size];
    for batch in &args[1..] {
        let n: usize = batch.parse().context("bad batch count")?;
        for _ in 0..n {
            input.read_exact(&mut buf)?;
        }
        output.write_all(&[1])?;
    }
    Ok(())
}

/// One pipe, both ends close-on-exec (a leaked write end would keep the peer
/// from ever seeing end of input). `pipe` then `fcntl`, since macOS has no
/// `pipe2`; this process starts no other thread meanwhile.
fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let (r, w) = rustix::pipe::pipe().context("pipe")?;
    for fd in [&r, &w] {
        rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC).context("fcntl")?;
    }
    Ok((r, w))
}

/// Two pipes: (parent's ends, peer's ends).
fn pipes() -> Result<((OwnedFd, OwnedFd), (OwnedFd, OwnedFd))> {
    let (down_r, down_w) = pipe()?;
    let (up_r, up_w) = pipe()?;
    Ok(((down_w, up_r), (down_r, up_w)))
}

/// A connected Unix domain socket pair: (parent's ends, peer's ends), each
/// side using one socket for both directions.
fn uds_pair() -> Result<((OwnedFd, OwnedFd), (OwnedFd, OwnedFd))> {
    let (a, b) = UnixStream::pair().context("socketpair")?;
    let a2 = a.try_clone()?;
    let b2 = b.try_clone()?;
    Ok(((a.into(), a2.into()), (b.into(), b2.into())))
}

/// A TCP connection over 127.0.0.1 with Nagle off: (parent's ends, peer's
/// ends).
fn tcp_pair() -> Result<((OwnedFd, OwnedFd), (OwnedFd, OwnedFd))> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).context("binding 127.0.0.1")?;
    let client = TcpStream::connect(listener.local_addr()?).context("connecting 127.0.0.1")?;
    let (server, _) = listener.accept().context("accepting on 127.0.0.1")?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let c2 = client.try_clone()?;
    let s2 = server.try_clone()?;
    Ok(((client.into(), c2.into()), (server.into(), s2.into())))
}

/// Sizes and counts as peer arguments.
fn args_of(size: usize, batches: &[usize]) -> Vec<String> {
    std::iter::once(size)
        .chain(batches.iter().copied())
        .map(|n| n.to_string())
        .collect()
}

/// A pipe in each direction.
pub struct Pipe;
/// A Unix domain stream socket (`socketpair`).
pub struct Uds;
/// TCP over 127.0.0.1, `TCP_NODELAY`.
pub struct Tcp;

macro_rules! byte_transport {
    ($ty:ty, $name:literal, $pair:ident) => {
        impl Transport for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn class(&self) -> Class {
                Class::ClassicIpc
            }
            fn busy_spins(&self) -> bool {
                false
            }
            fn sized(&self) -> bool {
                true
            }
            fn connect(&self, peer: &Peer, size: usize) -> Result<Box<dyn Link>> {
                let (ours, theirs) = $pair()?;
                let args = args_of(size, &[]);
                Ok(Box::new(ByteLink::start(
                    peer, $name, &args, ours, theirs, size,
                )?))
            }
            fn serve(&self, args: &[String]) -> Result<()> {
                serve_echo(args)
            }
        }
    };
}

byte_transport!(Pipe, "pipe", pipes);
byte_transport!(Uds, "uds", uds_pair);
byte_transport!(Tcp, "tcp", tcp_pair);

macro_rules! byte_stream {
    ($ty:ty, $name:literal, $pair:ident) => {
        impl Stream for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn class(&self) -> Class {
                Class::ClassicIpc
            }
            fn connect(
                &self,
                peer: &Peer,
                size: usize,
                batches: &[usize],
            ) -> Result<Box<dyn Sink>> {
                let (ours, theirs) = $pair()?;
                let args = std::iter::once("sink".to_owned())
                    .chain(args_of(size, batches))
                    .collect::<Vec<_>>();
                Ok(Box::new(ByteLink::start(
                    peer, $name, &args, ours, theirs, size,
                )?))
            }
            fn serve(&self, args: &[String]) -> Result<()> {
                serve_sink(args)
            }
        }
    };
}

byte_stream!(Pipe, "pipe", pipes);
byte_stream!(Uds, "uds", uds_pair);

/// The peer's entry point: finds the candidate by name and serves. A
/// stream's peer is told apart by its first argument, `sink`.
pub fn serve(name: &str, args: &[String]) -> Result<()> {
    if args.first().map(String::as_str) == Some("sink") {
        if let Some(s) = streams().into_iter().find(|s| s.name() == name) {
            return s.serve(&args[1..]);
        }
    } else if let Some(t) = latency().into_iter().find(|t| t.name() == name) {
        return t.serve(args);
    }
    bail!("no benchmark candidate named `{name}`")
}
