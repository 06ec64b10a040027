//! `bare-queue-model`: the SPSC queue's own protocol with nothing else, the
//! floor under the queue's code.
//!
//! `bare-seq-ring` shows what any ring costs that moves the same cache
//! lines; this row keeps everything of `shmkit::queue::spsc` that decides
//! which lines move and when (variable-length records of an 8-byte header
//! and the padded payload, a byte ring of the queue rows' capacity with a
//! padding record at its end, `head` and `tail` words on their lines of the
//! queue's layout, the next header zeroed 512 bytes ahead in top-ups after
//! the commit, the payload stored first word to last) and drops everything
//! else: no validation of what the peer wrote, no lengths checked, no
//! liveness, no wake-ups, no `Result`s. The gap between this row and
//! `shmkit-queue-spin` is the price of the queue's code, not of its layout.

use std::process::Child;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Result;

use super::run::Peer;
use super::transports::{
    open_rings, reap, rings_and_peer, spin_until, unname_once, Class, Link, PeerWait, Transport,
};

/// Words in each model ring (512 KiB, the largest ring a row uses).
const RING_WORDS: usize = 1 << 16;
/// How far ahead of its position a writer keeps the ring zeroed, and the
/// top-up threshold, as in the queue.
const ZERO_AHEAD: u64 = 512;

/// One direction, laid out as a queue segment: `tail` at 128, `head` at 256,
/// the ring at 512.
#[derive(shmkit::Layout)]
#[shmkit(in_place)]
#[repr(C)]
struct ModelQueue {
    _header: [AtomicU64; 16],
    tail: AtomicU64,
    _pad1: [AtomicU64; 15],
    head: AtomicU64,
    _pad2: [AtomicU64; 31],
    ring: [AtomicU64; RING_WORDS],
}

/// The two directions and the word that tells the peer to stop.
#[derive(shmkit::Layout)]
#[shmkit(in_place)]
#[repr(C)]
struct ModelRings {
    down: ModelQueue,
    up: ModelQueue,
    stop: AtomicU64,
}

/// The queue rows' ring size for messages of `size` bytes (a few messages,
/// at least 4 KiB, a power of two).
fn capacity(size: usize) -> u64 {
    ((4 * (size as u64 + 16)).max(4096)).next_power_of_two()
}

/// The record tag of position `pos`, as the queue writes it.
fn tag(pos: u64) -> u64 {
    u64::from(((pos >> 3) as u32) | (1 << 31))
}

/// A record's bytes: the header and the payload padded to 8.
fn record_size(len: u64) -> u64 {
    8 + len.div_ceil(8) * 8
}

/// The writing end's locals, as the queue's producer keeps them.
struct Writer {
    cap: u64,
    pos: u64,
    zeroed: u64,
    head: u64,
}

impl Writer {
    fn new(cap: u64) -> Writer {
        Writer {
            cap,
            pos: 0,
            zeroed: 0,
            head: 0,
        }
    }

    fn word(&self, pos: u64) -> usize {
        ((pos & (self.cap - 1)) / 8) as usize
    }

    /// Waits until `need` bytes from the position are free (a ping-pong has
    /// one message in flight: at most one look at `head`).
    fn room(&mut self, q: &ModelQueue, need: u64) {
        while self.pos + need - self.head > self.cap {
            // SYNC(model-head): pairs with the reader's Release.
            self.head = q.head.load(Ordering::Acquire);
            std::hint::spin_loop();
        }
    }

    fn send(&mut self, q: &ModelQueue, msg: &[u8]) {
        let len = msg.len() as u64;
        let size = record_size(len);
        let to_end = self.cap - (self.pos & (self.cap - 1));
        if size > to_end {
            self.room(q, to_end + 8);
            if self.zeroed < self.pos + to_end + 8 {
                q.ring[self.word(self.pos + to_end)].store(0, Ordering::Relaxed);
                self.zeroed = self.pos + to_end + 8;
            }
            // SYNC(model-record): publishes the padding record.
            q.ring[self.word(self.pos)]
                .store(tag(self.pos) << 32 | u64::from(u32::MAX), Ordering::Release);
            self.pos += to_end;
            q.tail.store(self.pos, Ordering::Release);
        }
        self.room(q, size + 8);
        let at = self.word(self.pos);
        let words = msg.chunks_exact(8);
        let rest = words.remainder();
        for (w, chunk) in q.ring[at + 1..].iter().zip(words) {
            let b: [u8; 8] = chunk.try_into().expect("8 bytes");
            w.store(u64::from_ne_bytes(b), Ordering::Relaxed);
        }
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            q.ring[at + 1 + msg.len() / 8].store(u64::from_ne_bytes(b), Ordering::Relaxed);
        }
        let next = self.pos + size;
        if self.zeroed < next + 8 {
            q.ring[self.word(next)].store(0, Ordering::Relaxed);
        }
        // SYNC(model-record): publishes the message; pairs with the reader's
        // Acquire.
        q.ring[at].store(tag(self.pos) << 32 | len, Ordering::Release);
        self.pos = next;
        self.zeroed = self.zeroed.max(next + 8);
        q.tail.store(next, Ordering::Release);
        if self.zeroed + ZERO_AHEAD / 2 <= self.pos + ZERO_AHEAD {
            let end = (self.pos + ZERO_AHEAD).min(self.head + self.cap);
            while self.zeroed < end {
                q.ring[self.word(self.zeroed)].store(0, Ordering::Relaxed);
                self.zeroed += 8;
            }
        }
    }
}

/// The reading end's locals.
struct Reader {
    cap: u64,
    pos: u64,
    /// The length of the message found by [`poll`](Self::poll).
    len: u64,
}

impl Reader {
    fn new(cap: u64) -> Reader {
        Reader {
            cap,
            pos: 0,
            len: 0,
        }
    }

    fn word(&self, pos: u64) -> usize {
        ((pos & (self.cap - 1)) / 8) as usize
    }

    /// Whether a message is there, stepping over padding; its length is
    /// then in `len`.
    fn poll(&mut self, q: &ModelQueue) -> bool {
        loop {
            // SYNC(model-record)
            let word = q.ring[self.word(self.pos)].load(Ordering::Acquire);
            if word == 0 {
                return false;
            }
            if word as u32 == u32::MAX {
                self.pos += self.cap - (self.pos & (self.cap - 1));
                // SYNC(model-head): the padding's room is free again.
                q.head.store(self.pos, Ordering::Release);
                continue;
            }
            self.len = u64::from(word as u32);
            return true;
        }
    }

    /// Copies the message found by `poll` out (`out` is its length) and
    /// frees its room.
    fn take(&mut self, q: &ModelQueue, out: &mut [u8]) {
        let at = self.word(self.pos) + 1;
        let len = out.len();
        let mut words = out.chunks_exact_mut(8);
        for (w, chunk) in q.ring[at..].iter().zip(&mut words) {
            chunk.copy_from_slice(&w.load(Ordering::Relaxed).to_ne_bytes());
        }
        let rest = words.into_remainder();
        if !rest.is_empty() {
            let b = q.ring[at + len / 8].load(Ordering::Relaxed).to_ne_bytes();
            rest.copy_from_slice(&b[..rest.len()]);
        }
        self.pos += record_size(self.len);
        // SYNC(model-head): our reads of the record are done.
        q.head.store(self.pos, Ordering::Release);
    }
}

/// See the module docs.
pub struct BareQueueModel;

struct ModelLink {
    seg: shmkit::Shared<ModelRings>,
    named: bool,
    writer: Writer,
    reader: Reader,
    msg: Vec<u8>,
    back: Vec<u8>,
    child: Child,
}

impl Link for ModelLink {
    fn round_trip(&mut self) -> Result<()> {
        let rings = self.seg.get();
        self.writer.send(&rings.down, &self.msg);
        let reader = &mut self.reader;
        spin_until(
            || reader.poll(&rings.up),
            &mut self.child,
            BareQueueModel.name(),
        )?;
        self.reader.take(&rings.up, &mut self.back);
        unname_once(&mut self.named, self.seg.segment())
    }

    fn close(self: Box<Self>) -> Result<()> {
        self.seg.get().stop.store(1, Ordering::Release);
        reap(self.child, BareQueueModel.name())
    }
}

impl Transport for BareQueueModel {
    fn name(&self) -> &'static str {
        "bare-queue-model"
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
        // The largest message whose ring (`capacity`) fits the model's.
        Some(RING_WORDS * 8 / 4 - 16)
    }
    fn connect(&self, peer: &Peer, size: usize) -> Result<Box<dyn Link>> {
        let (seg, child) = rings_and_peer::<ModelRings>(self.name(), peer, size)?;
        Ok(Box::new(ModelLink {
            seg,
            named: true,
            writer: Writer::new(capacity(size)),
            reader: Reader::new(capacity(size)),
            msg: vec![0x5a; size],
            back: vec![0; size],
            child,
        }))
    }
    fn serve(&self, args: &[String]) -> Result<()> {
        let (seg, size) = open_rings::<ModelRings>(args)?;
        let rings = seg.get();
        let (mut reader, mut writer) = (Reader::new(capacity(size)), Writer::new(capacity(size)));
        let mut buf = vec![0u8; size];
        let mut wait = PeerWait::new();
        while wait.until(|| reader.poll(&rings.down), &rings.stop)? {
            let len = (reader.len as usize).min(buf.len());
            reader.take(&rings.down, &mut buf[..len]);
            writer.send(&rings.up, &buf[..len]);
        }
        Ok(())
    }
}
