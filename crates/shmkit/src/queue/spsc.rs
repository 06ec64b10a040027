//! One producer, one consumer: variable-length byte messages through a ring.
//!
//! The design is Lamport's single-producer/single-consumer ring with the
//! commit flag inside each record (as in FastForward, Giacomoni et al.,
//! PPoPP 2008, and Aeron's log buffers): the consumer polls the header of
//! the next record, not a shared tail index, so in the steady state only the
//! record's own cache lines cross between the CPUs.
//!
//! # Example
//! A consumer creates the queue; a producer (here a thread, usually another
//! process) opens it by name and sends; messages arrive whole and in order.
//! ```
//! use shmkit::queue::spsc::{Consumer, Producer};
//!
//! # let name = format!("doc-spsc-mod-{}", std::process::id());
//! let mut rx = Consumer::create(&name, 1 << 16)?;
//! let producer = {
//!     let name = name.clone();
//!     std::thread::spawn(move || -> shmkit::Result<()> {
//!         let mut tx = Producer::open(&name)?;
//!         for i in 0..100u32 {
//!             tx.send(&i.to_le_bytes())?;
//!         }
//!         Ok(())
//!     })
//! };
//! for i in 0..100u32 {
//!     assert_eq!(rx.recv()?, i.to_le_bytes());
//! }
//! producer.join().unwrap()?;
//! // The producer has closed and everything it sent was received:
//! assert!(matches!(rx.recv(), Err(shmkit::Error::Closed { .. })));
//! # Ok::<(), shmkit::Error>(())
//! ```
//!
//! # Segment layout
//! | offset | what                                                        |
//! |--------|-------------------------------------------------------------|
//! | 0      | common queue header (`capacity` = ring bytes, a power of 2) |
//! | 64     | role states: producer u32, consumer u32                     |
//! | 128    | `tail` u64: producer's committed position (own line)        |
//! | 256    | `head` u64: consumer's released position (own line)         |
//! | 384    | `not_empty` wake words (consumers sleep here)               |
//! | 448    | `not_full` wake words (producers sleep here)                |
//! | 512    | the ring, `capacity` bytes                                  |
//!
//! Positions are byte counts since creation (u64, never wrapping in
//! practice); the ring offset of position `p` is `p % capacity`. An
//! endpoint refuses to attach ([`Error::Corrupted`]) where `head` or `tail`
//! is above 2^63, which only a peer writing them could have made: sums of
//! positions then could overflow. Records are
//! 8-byte aligned: an 8-byte header word, then the payload, padded to 8.
//!
//! # Record header word
//! | bits  | meaning                                                         |
//! |-------|-----------------------------------------------------------------|
//! | 63-32 | tag: `(p / 8) as u32 \| 1 << 31` for the record at position `p` |
//! | 31-0  | payload length, or `u32::MAX` for padding to the ring's end     |
//!
//! A header word is `0` (not yet written) or carries the tag of its own
//! position (committed): the *next* record's header holds `0` before a
//! record is committed (with a Release store of its header), so a stale
//! header of an earlier lap, or payload bytes, are never at the consumer's
//! position. Any other value there is corruption.
//!
//! # Zeroing ahead
//! The producer keeps the free ring bytes just past its position zeroed,
//! `ZERO_AHEAD` (512) bytes deep, topping them up *after* a commit once
//! fewer than half are left, and records how far (`zeroed`, a local). A
//! record's next header then already reads `0` when the record is
//! committed, unless the record is longer than the zeroed stretch or the
//! producer has just attached: only then is that header zeroed before the
//! commit. Zeroing the next header before every commit instead put a second
//! cache line on the message's path whenever a record ended on a line
//! boundary (the producer had to take that line from the consumer's cache
//! before its commit could become visible): a 56-byte message then cost as
//! much as a 120-byte one. Only free space is zeroed (below the cached
//! `head` plus the capacity), which no consumer reads; a consumer that
//! writes there misleads only itself (it reads garbage as a record header:
//! [`Error::Corrupted`], or a wrong message).
//!
//! # Indices and invariants
//! | index  | written by | read by                                           |
//! |--------|------------|---------------------------------------------------|
//! | `tail` | producer   | a new producer, on attach                         |
//! | `head` | consumer   | producer, when its cached copy shows no room; a new consumer |
//!
//! `head <= tail' <= head + capacity`, where `tail'` is the producer's local
//! position; a producer writes a record of `n` bytes at `p` only once
//! `p + n + 8 <= head + capacity` (the 8 for the next header, zero).
//! Each side keeps its own position in a local and never re-reads its own
//! index from shared memory; the peer's index is read once per use and
//! validated before use.
//!
//! # Cache lines per message
//! In the steady state a message moves only its record's lines from the
//! producer's CPU to the consumer's: `ceil((8 + len) / 64)` of them (the
//! next header is zeroed ahead, off the message's path). `tail` and `head`
//! each sit on their own 128-byte pair and are written by one side only;
//! the producer reads `head` only when its cached copy shows no room (once
//! per lap of the ring, if the consumer keeps up), and the consumer never
//! reads `tail`. The wake words are read-only while every endpoint spins.
//! [`Producer::send`] stores the payload from its first word to its last,
//! in one loop, and then the header (see `copy::store_padded` for why in
//! that order). A 64-byte message thus moves two lines; a 56-byte one, one. (Prefetching the second line
//! while polling an empty queue was tried, and measured slower once the
//! zeroing moved off the path.)
//!
//! The copies in and out are whole 8-byte words, one relaxed atomic access
//! each: a record's payload starts 8-aligned and is padded to 8 bytes, so
//! the padding is the record's own to write and read.
//!
//! # Code on the message's path
//! Between the arrival of a header and the store of the answer's header,
//! every instruction counts: the stores cannot become visible before the
//! loads of the message retire. So:
//! - `send`, `read`, `read_timeout`, `read_at` and `release` are inlined
//!   into the caller, and whatever is not needed for every message (zeroing
//!   ahead, padding, corrupted headers, the general wait loop) is out of
//!   line; a busy-spinning reader's poll loop answers in registers;
//! - the payload is copied in one loop, first word to last (see
//!   `copy::store_padded`), not in two loops split at the
//!   end of the header's line (the split point moves from message to
//!   message);
//! - the ring is reached by position modulo its size, checked once when the
//!   queue is attached, and the header's words at constant offsets: no
//!   bounds check per access (`Region::set_ring`).
//!
//! `shmkit bench` has a row for the floor under this code,
//! `bare-queue-model`: this protocol (layout, padding, zeroing ahead,
//! `head` and `tail`, first-to-last stores) with no checks at all. Each
//! of the three changes above brought the 64-byte round trip closer to it
//! in alternating runs of two builds (copy and zero-copy both by 5-10%).
//! With `shmkit bench --only latency --sizes 8,56,64` on a 2-core x86_64
//! Linux machine the queue is within 0.02x of the model at 8 and 56 bytes,
//! and below it zero-copy at 64; by copy at 64 bytes it is about 0.1x above
//! it, a gap not yet explained.
//!
//! # Crashes
//! - A producer that dies before [`Grant::commit`] leaves nothing visible:
//!   the header at its position is still `0`. A new producer attaches at
//!   `tail`, first stepping over any record committed just before the crash
//!   (at most one: `tail` is stored right after each commit).
//! - A consumer that dies holding a [`Message`] it has not released leaves
//!   `head` before it: the next consumer receives that message again.
//!   Released messages are gone. [`Consumer::recv`] releases before it
//!   returns, so a message it returned is never delivered again, and one it
//!   was copying when killed is delivered again to the next consumer.

use std::time::Duration;

use super::atomic::{AtomicU64, Ordering};
use super::region::{
    remove_role_locks, Geometry, Kind, Liveness, Region, HEADER_END, MAX_POSITION,
};
use super::wait::{wait_for, Signal};
use super::Peer;
use super::{QueueOptions, Wait};
use crate::{failpoint, Error, Result};

const ROLES: [&str; 2] = ["producer", "consumer"];
const PRODUCER: usize = 0;
const CONSUMER: usize = 1;
pub(crate) const TAIL: usize = 128;
pub(crate) const HEAD: usize = 256;
const NOT_EMPTY: usize = 384;
const NOT_FULL: usize = 448;
/// The padding record's length field.
const PAD: u32 = u32::MAX;
/// The smallest and largest rings.
const MIN_CAPACITY: u64 = 64;
const MAX_CAPACITY: u64 = 1 << 31;
/// How far past its position the producer keeps the ring zeroed (see
/// "Zeroing ahead" in the module docs). Chosen by alternating runs of the
/// queue bench: 64-byte streaming at 24-26 M/s with 256, 28-29 with 384,
/// 29-33 with 512, 24-27 with 768 and 21-25 with 1024 (the round trips
/// within noise of each other up to 512, worse beyond).
const ZERO_AHEAD: u64 = 512;
/// Polls of a busy-spinning consumer before it enters the general wait
/// loop (a few microseconds).
const SPIN_BURST: u32 = 1024;

/// The tag of the record at position `pos`: never zero.
#[inline]
fn tag(pos: u64) -> u64 {
    u64::from(((pos >> 3) as u32) | (1 << 31))
}

/// Bytes a record of `len` payload bytes takes in the ring.
#[inline]
fn record_size(len: u64) -> u64 {
    8 + len.div_ceil(8) * 8
}

/// The ring, with the creator's geometry as validated locals.
pub(crate) struct Ring {
    region: Region,
    cap: u64,
    max: u64,
    data: usize,
    /// The header's `type_hash` (typed channels; 0 otherwise).
    type_hash: u64,
    /// Whether this endpoint removes the role lock files on drop.
    remove_locks: bool,
}

impl Ring {
    fn new(mut region: Region, g: Geometry, opts: &QueueOptions) -> Ring {
        let remove_locks = region.segment().is_some_and(|s| s.created()) && !opts.persist;
        region.set_ring(g.data_offset as usize, g.capacity as usize);
        Ring {
            region,
            cap: g.capacity,
            max: g.max_message,
            data: g.data_offset as usize,
            type_hash: g.type_hash,
            remove_locks,
        }
    }

    /// Whether this process created the queue's segment.
    fn created(&self) -> bool {
        self.region.segment().is_some_and(|s| s.created())
    }

    /// The header's layout hash: a typed channel's, or 0.
    pub(crate) fn type_hash(&self) -> u64 {
        self.type_hash
    }

    /// The layout description a typed channel's creator stored between the
    /// header and the ring (see [`create_typed`]), as raw, untrusted bytes;
    /// `None` if there is none, or its length does not fit that gap.
    pub(crate) fn stored_layout(&self) -> Option<Vec<u8>> {
        let gap = self.data.checked_sub(HEADER_END + 8)?;
        // Read the peer-written length once, validate it, use only the local.
        let len = self.region.u64(HEADER_END).load(Ordering::Relaxed);
        let len = usize::try_from(len).ok().filter(|&l| l > 0 && l <= gap)?;
        let mut bytes = vec![0u8; len];
        self.region.load(HEADER_END + 8, &mut bytes);
        Some(bytes)
    }

    /// Ring offset of position `pos`, as a segment offset.
    #[inline]
    fn at(&self, pos: u64) -> usize {
        self.data + (pos & (self.cap - 1)) as usize
    }

    /// The record header at `pos` (8-aligned): in the ring by construction.
    #[inline]
    fn header(&self, pos: u64) -> &AtomicU64 {
        self.region.ring_u64(pos)
    }

    fn geometry(capacity: usize, type_hash: u64) -> Geometry {
        let cap = (capacity as u64)
            .clamp(MIN_CAPACITY, MAX_CAPACITY)
            .next_power_of_two();
        Geometry {
            kind: Kind::Spsc,
            capacity: cap,
            max_message: cap - 16,
            data_offset: HEADER_END as u64,
            slot_stride: 0,
            type_hash,
        }
    }

    /// Validates the geometry details that the common header check leaves.
    fn check(region: &Region, g: &Geometry) -> Result<()> {
        if g.capacity < MIN_CAPACITY
            || g.capacity > MAX_CAPACITY
            || g.max_message != g.capacity - 16
        {
            return Err(region.corrupted(format!(
                "ring capacity {} with largest message {}",
                g.capacity, g.max_message
            )));
        }
        Ok(())
    }
}

pub(crate) fn create(
    name: &str,
    capacity: usize,
    opts: &QueueOptions,
    type_hash: u64,
) -> Result<Ring> {
    let g = Ring::geometry(capacity, type_hash);
    Ok(Ring::new(Region::create(name, g, opts, &|_| {})?, g, opts))
}

/// As [`create`], for a typed channel: `layout` (its type's encoded
/// description) is stored after the header, as a u64 length and the bytes,
/// and the ring starts after it, so that an opener with another type can be
/// told the first difference.
pub(crate) fn create_typed(
    name: &str,
    capacity: usize,
    opts: &QueueOptions,
    type_hash: u64,
    layout: &[u8],
) -> Result<Ring> {
    let mut g = Ring::geometry(capacity, type_hash);
    g.data_offset += (8 + layout.len() as u64).next_multiple_of(128);
    let init = |r: &Region| {
        r.u64(HEADER_END)
            .store(layout.len() as u64, Ordering::Relaxed);
        r.store(HEADER_END + 8, layout);
    };
    Ok(Ring::new(Region::create(name, g, opts, &init)?, g, opts))
}

/// Opens the ring, waiting for its creator as `opts` says.
pub(crate) fn open(name: &str, opts: &QueueOptions, type_hash: Option<u64>) -> Result<Ring> {
    super::open_waiting(opts, || open_now(name, opts, type_hash))
}

/// Opens the ring, or creates it (see [`super::open_or_create`]).
pub(crate) fn open_or_create(
    name: &str,
    capacity: usize,
    opts: &QueueOptions,
    type_hash: u64,
) -> Result<Ring> {
    super::open_or_create(
        name,
        || create(name, capacity, opts, type_hash),
        || open_now(name, opts, Some(type_hash)),
    )
}

fn open_now(name: &str, opts: &QueueOptions, type_hash: Option<u64>) -> Result<Ring> {
    let (region, g) = Region::open(name, Kind::Spsc, opts)?;
    Ring::check(&region, &g)?;
    if let Some(h) = type_hash {
        if g.type_hash != h {
            return Err(region.corrupted(format!(
                "it carries messages of another type (layout hash {:#x}, this program's is {h:#x})",
                g.type_hash
            )));
        }
    }
    Ok(Ring::new(region, g, opts))
}

/// The sending end of an SPSC queue. At most one live process holds it.
///
/// # Example
/// ```
/// use shmkit::queue::spsc::{Consumer, Producer};
/// # let name = format!("doc-prod-{}", std::process::id());
/// let mut tx = Producer::create(&name, 1 << 16)?;
/// let mut rx = Consumer::open(&name)?;
///
/// let mut grant = tx.reserve(5)?;        // zero-copy: write in place
/// grant.write_at(0, b"he")?;
/// grant.write_at(2, b"llo")?;
/// grant.commit()?;
///
/// let msg = rx.read()?;                   // zero-copy: read in place
/// let mut buf = [0u8; 5];
/// msg.read_at(0, &mut buf)?;
/// msg.release();
/// assert_eq!(&buf, b"hello");
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct Producer {
    ring: Ring,
    live: Liveness,
    /// Next write position: this endpoint's own, never re-read.
    pos: u64,
    /// The consumer's `head`, as last read and validated.
    head: u64,
    /// The ring holds zero in `[pos, zeroed)`: this endpoint's own record of
    /// what it zeroed ahead (`zeroed >= pos`).
    zeroed: u64,
    wait: Wait,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("name", &self.ring.region.name())
            .field("capacity", &self.ring.cap)
            .field("pos", &self.pos)
            .finish()
    }
}

impl Producer {
    /// Creates an SPSC queue whose ring holds `capacity` bytes (rounded up to
    /// a power of two, between 64 bytes and 2 GiB), and attaches as its
    /// producer.
    ///
    /// # Errors
    /// As [`Segment::create`](crate::Segment::create).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let name = format!("doc-spsc-pcreate-{}", std::process::id());
    /// let mut tx = Producer::create(&name, 1000)?; // a ring of 1024 bytes
    /// assert_eq!(tx.capacity(), 1024);
    /// let mut rx = Consumer::open(&name)?;         // in another process, usually
    /// tx.send(b"ping")?;
    /// assert_eq!(rx.recv()?, b"ping");
    /// // The name is taken until the creating endpoint is dropped.
    /// assert!(matches!(Producer::create(&name, 1024), Err(shmkit::Error::AlreadyExists { .. })));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create(name: &str, capacity: usize) -> Result<Producer> {
        Self::create_with(name, capacity, &QueueOptions::default())
    }

    /// As [`create`](Self::create), with options.
    ///
    /// # Errors
    /// As [`Segment::create`](crate::Segment::create).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// use shmkit::queue::{Options, Wait};
    /// # let name = format!("doc-spsc-pcreatewith-{}", std::process::id());
    /// let opts = Options::default().wait(Wait::Block);
    /// let mut tx = Producer::create_with(&name, 4096, &opts)?;
    /// assert_eq!(tx.wait_strategy(), Wait::Block);
    /// let mut rx = Consumer::open(&name)?;
    /// tx.send(b"blocking producer")?;
    /// assert_eq!(rx.recv()?, b"blocking producer");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create_with(name: &str, capacity: usize, opts: &QueueOptions) -> Result<Producer> {
        Producer::attach(create(name, capacity, opts, 0)?, opts)
    }

    /// Opens an existing SPSC queue as its producer, continuing after the
    /// last message a previous producer committed.
    ///
    /// # Errors
    /// As [`Segment::open`](crate::Segment::open); [`Error::RoleTaken`] if a
    /// live process is the producer; [`Error::RoleUnverifiable`] if another
    /// producer holds the role and whether it lives cannot be told (a
    /// liveness lock file that cannot be used); [`Error::NotTyped`] or
    /// [`Error::Corrupted`] if the segment is no intact SPSC queue.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let name = format!("doc-spsc-popen-{}", std::process::id());
    /// let mut rx = Consumer::create(&name, 4096)?;
    /// let mut first = Producer::open(&name)?;
    /// first.send(b"one")?;
    /// // One producer at a time:
    /// assert!(matches!(Producer::open(&name), Err(shmkit::Error::RoleTaken { .. })));
    /// drop(first);
    /// let mut second = Producer::open(&name)?; // goes on after "one"
    /// second.send(b"two")?;
    /// assert_eq!(rx.recv()?, b"one");
    /// assert_eq!(rx.recv()?, b"two");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open(name: &str) -> Result<Producer> {
        Self::open_with(name, &QueueOptions::default())
    }

    /// As [`open`](Self::open), with options.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// use shmkit::queue::{Options, Wait};
    /// # let name = format!("doc-spsc-popenwith-{}", std::process::id());
    /// let mut rx = Consumer::create(&name, 4096)?;
    /// let opts = Options::default().wait(Wait::Spin);
    /// let mut tx = Producer::open_with(&name, &opts)?;
    /// assert_eq!(tx.wait_strategy(), Wait::Spin);
    /// tx.send(b"spun")?;
    /// assert_eq!(rx.recv()?, b"spun");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_with(name: &str, opts: &QueueOptions) -> Result<Producer> {
        Producer::attach(open(name, opts, None)?, opts)
    }

    /// Opens the SPSC queue as its producer, or creates it with a ring of
    /// `capacity` bytes if there is none. When two processes race, exactly
    /// one creates and the other opens once the queue is set up; an opened
    /// queue keeps its creator's capacity. [`created`](Self::created) tells
    /// which happened.
    ///
    /// # Errors
    /// As [`create`](Self::create) and [`open`](Self::open).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let name = format!("doc-qooc-{}", std::process::id());
    /// let mut tx = Producer::open_or_create(&name, 1024)?; // whichever starts first
    /// let mut rx = Consumer::open_or_create(&name, 1024)?;
    /// assert!(tx.created() && !rx.created());
    /// tx.send(b"x")?;
    /// assert_eq!(rx.recv()?, b"x");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create(name: &str, capacity: usize) -> Result<Producer> {
        Self::open_or_create_with(name, capacity, &QueueOptions::default())
    }

    /// As [`open_or_create`](Self::open_or_create), with options.
    ///
    /// # Errors
    /// As [`open_or_create`](Self::open_or_create).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// use shmkit::queue::{Options, Wait};
    /// # let name = format!("doc-spsc-poocw-{}", std::process::id());
    /// let opts = Options::default().wait(Wait::Block);
    /// let mut tx = Producer::open_or_create_with(&name, 4096, &opts)?;
    /// assert!(tx.created());
    /// let mut rx = Consumer::open_or_create_with(&name, 64, &opts)?;
    /// assert!(!rx.created());
    /// assert_eq!(rx.capacity(), 4096); // the creator's
    /// tx.send(b"x")?;
    /// assert_eq!(rx.recv()?, b"x");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create_with(
        name: &str,
        capacity: usize,
        opts: &QueueOptions,
    ) -> Result<Producer> {
        Producer::attach(open_or_create(name, capacity, opts, 0)?, opts)
    }

    /// Whether this endpoint created the queue (rather than opened it).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let name = format!("doc-spsc-pcreated-{}", std::process::id());
    /// let rx = Consumer::create(&name, 1024)?;
    /// let tx = Producer::open(&name)?;
    /// assert!(!tx.created());
    /// assert!(rx.created());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn created(&self) -> bool {
        self.ring.created()
    }

    fn attach(ring: Ring, opts: &QueueOptions) -> Result<Producer> {
        // Check before attaching, so that an open refused for a scribbled
        // queue leaves no trace: an attached-then-gone producer reads as a
        // dead one to the consumer. A live producer moves `tail` and writes
        // records meanwhile, so a failed check with the role held is that
        // producer's, and attaching would be refused anyway.
        if let Err(e) = Self::start(&ring) {
            let held = ring.region.segment().is_some()
                && ring.region.role_probe(ROLES[PRODUCER]).probe_exclusive()
                    == crate::os::CreatorState::Alive;
            return Err(if held {
                Error::RoleTaken {
                    name: ring.region.name().to_owned(),
                    role: ROLES[PRODUCER],
                }
            } else {
                e
            });
        }
        let mut live = Liveness::attach(&ring.region, &ROLES, PRODUCER, false, CONSUMER, false)?;
        // Again under the role lock, with the values this endpoint keeps; a
        // failure now (a scribbler at work between the two) detaches cleanly.
        let (pos, head) = match Self::start(&ring) {
            Ok(start) => start,
            Err(e) => {
                live.detach(&ring.region);
                return Err(e);
            }
        };
        ring.region.u64(TAIL).store(pos, Ordering::Release);
        Signal::at(&ring.region, NOT_FULL).register(opts.wait);
        Ok(Producer {
            ring,
            live,
            pos,
            head,
            zeroed: pos,
            wait: opts.wait,
        })
    }

    /// Reads `tail` and `head` once, validates them as a producer's start,
    /// and steps over records committed after the last `tail` store;
    /// returns where the next record goes, and `head`. Writes nothing.
    fn start(ring: &Ring) -> Result<(u64, u64)> {
        // Read once, validate, use the locals.
        let tail = ring.region.u64(TAIL).load(Ordering::Acquire);
        // SYNC(head): Acquire, pairs with the consumer's Release in `release`.
        let head = ring.region.u64(HEAD).load(Ordering::Acquire);
        // `head` may be ahead of `tail` by the records a producer committed
        // just before it died, before storing `tail`; the consumer may have
        // taken them already.
        if tail % 8 != 0
            || head % 8 != 0
            || tail.max(head) > MAX_POSITION
            || head > tail.saturating_add(ring.cap)
            || tail > head.saturating_add(ring.cap)
        {
            return Err(ring
                .region
                .corrupted(format!("tail {tail} and head {head} are not a valid pair")));
        }
        // Step over records committed after the last `tail` store.
        let mut pos = tail.max(head);
        while pos - head < ring.cap {
            let word = ring.header(pos).load(Ordering::Acquire);
            if word == 0 || word >> 32 != tag(pos) {
                break;
            }
            let len = word as u32;
            let size = if len == PAD {
                ring.cap - (pos & (ring.cap - 1))
            } else if u64::from(len) <= ring.max {
                record_size(u64::from(len))
            } else {
                return Err(ring
                    .region
                    .corrupted(format!("record at {pos} claims {len} bytes")));
            };
            pos += size;
        }
        if pos - head > ring.cap {
            return Err(ring
                .region
                .corrupted(format!("records run past the consumer's head {head}")));
        }
        Ok((pos, head))
    }

    /// In-process pair on heap memory (tests; Miri).
    #[cfg(test)]
    pub(crate) fn heap_pair(capacity: usize) -> (Producer, Consumer) {
        let g = Ring::geometry(capacity, 0);
        let opts = QueueOptions::default();
        let a = Region::heap(g, "heap", &|_| {});
        let b = a.share_heap();
        let p = Producer::attach(Ring::new(a, g, &opts), &opts).unwrap();
        let c = Consumer::attach(Ring::new(b, g, &opts), &opts).unwrap();
        (p, c)
    }

    /// The queue's name.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::Producer;
    /// # let name = format!("doc-spsc-pname-{}", std::process::id());
    /// let tx = Producer::create(&name, 1024)?;
    /// assert_eq!(tx.name(), name);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        self.ring.region.name()
    }

    /// The ring's size in bytes.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::Producer;
    /// # let name = format!("doc-spsc-pcap-{}", std::process::id());
    /// let tx = Producer::create(&name, 3000)?;
    /// assert_eq!(tx.capacity(), 4096); // rounded up to a power of two
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.ring.cap as usize
    }

    /// The largest message this queue carries: capacity minus 16 bytes.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let name = format!("doc-spsc-pmax-{}", std::process::id());
    /// let mut tx = Producer::create(&name, 1024)?;
    /// let _rx = Consumer::open(&name)?;
    /// assert_eq!(tx.max_message_len(), 1008);
    /// tx.send(&[0; 1008])?;
    /// assert!(matches!(
    ///     tx.send(&[0; 1009]),
    ///     Err(shmkit::Error::MessageTooLarge { len: 1009, max: 1008, .. })
    /// ));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn max_message_len(&self) -> usize {
        self.ring.max as usize
    }

    /// How this endpoint waits.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{spsc::Producer, Wait};
    /// # let name = format!("doc-spsc-pwaits-{}", std::process::id());
    /// let tx = Producer::create(&name, 1024)?;
    /// assert_eq!(tx.wait_strategy(), Wait::SpinThenBlock); // the default
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn wait_strategy(&self) -> Wait {
        self.wait
    }

    /// Changes how this endpoint waits.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{spsc::{Consumer, Producer}, Wait};
    /// # let name = format!("doc-spsc-psetwait-{}", std::process::id());
    /// let mut tx = Producer::create(&name, 1024)?;
    /// let mut rx = Consumer::open(&name)?;
    /// tx.set_wait(Wait::Block);
    /// assert_eq!(tx.wait_strategy(), Wait::Block);
    /// tx.send(b"still flows")?;
    /// assert_eq!(rx.recv()?, b"still flows");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn set_wait(&mut self, wait: Wait) {
        let signal = Signal::at(&self.ring.region, NOT_FULL);
        signal.register(wait);
        signal.unregister(self.wait);
        self.wait = wait;
    }

    /// Whether the consumer is alive, closed, dead, or not attached yet.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{spsc::{Consumer, Producer}, Peer};
    /// # let name = format!("doc-spsc-ppeer-{}", std::process::id());
    /// let tx = Producer::create(&name, 1024)?;
    /// assert_eq!(tx.peer(), Peer::NotYet);
    /// let rx = Consumer::open(&name)?;
    /// assert_eq!(tx.peer(), Peer::Alive);
    /// drop(rx);
    /// assert_eq!(tx.peer(), Peer::Closed);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn peer(&self) -> Peer {
        self.live.peer(&self.ring.region)
    }

    #[inline(always)]
    fn check_len(&self, len: usize) -> Result<u64> {
        if len as u64 > self.ring.max {
            return Err(self.too_large(len));
        }
        Ok(len as u64)
    }

    #[cold]
    fn too_large(&self, len: usize) -> Error {
        Error::MessageTooLarge {
            name: self.name().to_owned(),
            len: len as u64,
            max: self.ring.max,
        }
    }

    /// Reserves room for a message of `len` bytes and returns a view to
    /// write it in place; nothing is visible to the consumer until
    /// [`Grant::commit`]. Waits for room as this endpoint's [`Wait`] says.
    ///
    /// # Errors
    /// [`Error::MessageTooLarge`]; [`Error::PeerDied`] or [`Error::Closed`]
    /// if the queue is full and the consumer is gone; [`Error::Corrupted`]
    /// if the consumer's index is invalid.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let name = format!("doc-spsc-reserve-{}", std::process::id());
    /// let mut tx = Producer::create(&name, 4096)?;
    /// let mut rx = Consumer::open(&name)?;
    /// let mut grant = tx.reserve(8)?;
    /// grant.write_at(0, &42u64.to_le_bytes())?;
    /// assert_eq!(rx.try_recv()?, None); // not committed yet
    /// grant.commit()?;
    /// assert_eq!(rx.recv()?, 42u64.to_le_bytes());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline(always)]
    pub fn reserve(&mut self, len: usize) -> Result<Grant<'_>> {
        self.reserve_inner(len, None)
    }

    /// As [`reserve`](Self::reserve), giving up after `timeout`.
    ///
    /// # Errors
    /// As [`reserve`](Self::reserve), and [`Error::Timeout`].
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// use std::time::Duration;
    /// # let name = format!("doc-spsc-reservet-{}", std::process::id());
    /// let mut tx = Producer::create(&name, 64)?; // a 64-byte ring: room for one 24-byte message
    /// let mut rx = Consumer::open(&name)?;
    /// tx.reserve_timeout(24, Duration::from_secs(1))?.commit()?;
    /// let full = tx.reserve_timeout(24, Duration::from_millis(10));
    /// assert!(matches!(full, Err(shmkit::Error::Timeout { .. })));
    /// assert_eq!(rx.recv()?.len(), 24); // frees the room
    /// tx.reserve_timeout(24, Duration::from_secs(1))?.commit()?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn reserve_timeout(&mut self, len: usize, timeout: Duration) -> Result<Grant<'_>> {
        self.reserve_inner(len, Some(timeout))
    }

    /// As [`reserve`](Self::reserve), without waiting.
    ///
    /// # Errors
    /// As [`reserve`](Self::reserve), and [`Error::Full`] if there is no room
    /// now.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let name = format!("doc-spsc-tryreserve-{}", std::process::id());
    /// let mut tx = Producer::create(&name, 64)?; // a 64-byte ring: room for one 24-byte message
    /// let mut rx = Consumer::open(&name)?;
    /// let mut grant = tx.try_reserve(24)?;
    /// grant.write_at(0, &[7; 24])?;
    /// grant.commit()?;
    /// assert!(matches!(tx.try_reserve(24), Err(shmkit::Error::Full { .. })));
    /// assert_eq!(rx.recv()?, [7; 24]);
    /// assert_eq!(tx.try_reserve(24)?.len(), 24); // room again (dropped: abandoned)
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_reserve(&mut self, len: usize) -> Result<Grant<'_>> {
        let len = self.check_len(len)?;
        let room = poll_room(
            &self.ring,
            &mut self.pos,
            &mut self.head,
            &mut self.zeroed,
            len,
        );
        self.ring.region.check_mapped()?;
        if room? {
            failpoint::hit("spsc-after-reserve");
            return Ok(Grant { p: self, len });
        }
        Err(Error::Full {
            name: self.name().to_owned(),
        })
    }

    #[inline(always)]
    fn reserve_inner(&mut self, len: usize, timeout: Option<Duration>) -> Result<Grant<'_>> {
        let len = self.check_len(len)?;
        // The fast path: the record fits before the ring's end, and the
        // cached `head` already shows room for it and the next header.
        let size = record_size(len);
        let to_end = self.ring.cap - (self.pos & (self.ring.cap - 1));
        if size > to_end || self.pos + size + 8 - self.head > self.ring.cap {
            self.wait_room(len, timeout)?;
        }
        failpoint::hit("spsc-after-reserve");
        Ok(Grant { p: self, len })
    }

    /// The slow path of [`reserve`](Self::reserve): pads at the ring's end,
    /// re-reads `head`, waits.
    #[inline(never)]
    fn wait_room(&mut self, len: u64, timeout: Option<Duration>) -> Result<()> {
        let Producer {
            ring,
            live,
            pos,
            head,
            zeroed,
            wait,
        } = self;
        wait_for(
            &ring.region,
            *wait,
            Signal::at(&ring.region, NOT_FULL),
            timeout,
            || Ok(poll_room(ring, pos, head, zeroed, len)?.then_some(())),
            || live.peer(&ring.region),
            ROLES[CONSUMER],
        )
    }

    /// Sends a copy of `msg`, waiting for room as this endpoint's [`Wait`]
    /// says.
    ///
    /// # Errors
    /// As [`reserve`](Self::reserve).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let name = format!("doc-spsc-send-{}", std::process::id());
    /// let mut tx = Producer::create(&name, 4096)?;
    /// let mut rx = Consumer::open(&name)?;
    /// tx.send(b"first")?;
    /// tx.send(b"")?; // empty messages are messages too
    /// tx.send(b"third")?;
    /// assert_eq!(rx.recv()?, b"first");
    /// assert_eq!(rx.recv()?, b"");
    /// assert_eq!(rx.recv()?, b"third");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline(always)]
    pub fn send(&mut self, msg: &[u8]) -> Result<()> {
        let g = self.reserve(msg.len())?;
        g.fill_and_commit(msg);
        self.ring.region.check_mapped()
    }

    /// As [`send`](Self::send), giving up after `timeout`.
    ///
    /// # Errors
    /// As [`reserve_timeout`](Self::reserve_timeout).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// use std::time::Duration;
    /// # let name = format!("doc-spsc-sendt-{}", std::process::id());
    /// let mut tx = Producer::create(&name, 64)?; // a 64-byte ring: room for one 24-byte message
    /// let mut rx = Consumer::open(&name)?;
    /// tx.send_timeout(&[1; 24], Duration::from_secs(1))?;
    /// let full = tx.send_timeout(&[2; 24], Duration::from_millis(10));
    /// assert!(matches!(full, Err(shmkit::Error::Timeout { .. })));
    /// assert_eq!(rx.recv()?, [1; 24]);
    /// tx.send_timeout(&[2; 24], Duration::from_secs(1))?;
    /// assert_eq!(rx.recv()?, [2; 24]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn send_timeout(&mut self, msg: &[u8], timeout: Duration) -> Result<()> {
        let g = self.reserve_timeout(msg.len(), timeout)?;
        g.fill_and_commit(msg);
        self.ring.region.check_mapped()
    }

    /// Sends a copy of `msg` if there is room now.
    ///
    /// # Errors
    /// As [`try_reserve`](Self::try_reserve): [`Error::Full`] if there is no
    /// room.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let name = format!("doc-spsc-trysend-{}", std::process::id());
    /// let mut tx = Producer::create(&name, 64)?; // a 64-byte ring: room for one 24-byte message
    /// let mut rx = Consumer::open(&name)?;
    /// tx.try_send(&[1; 24])?;
    /// assert!(matches!(tx.try_send(&[2; 24]), Err(shmkit::Error::Full { .. })));
    /// assert_eq!(rx.recv()?, [1; 24]);
    /// tx.try_send(&[2; 24])?;
    /// assert_eq!(rx.recv()?, [2; 24]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_send(&mut self, msg: &[u8]) -> Result<()> {
        let sent = self.try_reserve(msg.len()).map(|g| g.fill_and_commit(msg));
        self.ring.region.check_mapped()?;
        sent
    }
}

/// Whether a record of `len` bytes fits at the producer's position now;
/// writes the padding record first when the record would cross the ring's
/// end.
#[inline]
fn poll_room(
    ring: &Ring,
    pos: &mut u64,
    head: &mut u64,
    zeroed: &mut u64,
    len: u64,
) -> Result<bool> {
    let size = record_size(len);
    let to_end = ring.cap - (*pos & (ring.cap - 1));
    if size > to_end {
        // Pad to the end of the ring; the pad needs room for itself and the
        // header it zeroes at the ring's start.
        if !has_room(ring, *pos, head, to_end + 8)? {
            return Ok(false);
        }
        if *zeroed < *pos + to_end + 8 {
            ring.header(*pos + to_end).store(0, Ordering::Relaxed);
            *zeroed = *pos + to_end + 8;
        }
        // SYNC(record): publishes the pad (and the zeroed next header).
        ring.header(*pos)
            .store(tag(*pos) << 32 | u64::from(PAD), Ordering::Release);
        *pos += to_end;
        ring.region.u64(TAIL).store(*pos, Ordering::Release);
    }
    has_room(ring, *pos, head, size + 8)
}

/// Whether `need` bytes from `pos` are free, re-reading the consumer's
/// `head` only when the cached one says no.
#[inline]
fn has_room(ring: &Ring, pos: u64, head: &mut u64, need: u64) -> Result<bool> {
    if pos + need - *head <= ring.cap {
        return Ok(true);
    }
    // SYNC(head): Acquire, pairs with the consumer's Release in `release`:
    // the consumer's reads of the space are done before we overwrite it.
    let h = ring.region.u64(HEAD).load(Ordering::Acquire);
    if h % 8 != 0 || h > pos || pos - h > ring.cap || h < *head {
        return Err(ring.region.corrupted(format!(
            "consumer head {h} is not between {} and the producer's position {pos}",
            *head
        )));
    }
    *head = h;
    Ok(pos + need - h <= ring.cap)
}

/// Room reserved for one message, written in place. Nothing is visible to
/// the consumer until [`commit`](Self::commit); dropping the grant instead
/// abandons the message.
///
/// It offers no `&mut [u8]` into the ring: a peer process could access the
/// same bytes, so writes are copies ([`write_at`](Self::write_at)).
pub struct Grant<'a> {
    p: &'a mut Producer,
    len: u64,
}

impl std::fmt::Debug for Grant<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant").field("len", &self.len).finish()
    }
}

impl Grant<'_> {
    /// The message's length, as reserved.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::Producer;
    /// # let name = format!("doc-spsc-glen-{}", std::process::id());
    /// let mut tx = Producer::create(&name, 1024)?;
    /// let grant = tx.reserve(100)?;
    /// assert_eq!(grant.len(), 100);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the message is empty.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let name = format!("doc-spsc-gempty-{}", std::process::id());
    /// let mut tx = Producer::create(&name, 1024)?;
    /// let mut rx = Consumer::open(&name)?;
    /// let grant = tx.reserve(0)?;
    /// assert!(grant.is_empty());
    /// grant.commit()?;
    /// assert_eq!(rx.recv()?, b"");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies `data` into the message at `offset`.
    ///
    /// # Errors
    /// [`Error::OutOfBounds`] if the range does not fit in the message.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let name = format!("doc-spsc-gwrite-{}", std::process::id());
    /// let mut tx = Producer::create(&name, 1024)?;
    /// let mut rx = Consumer::open(&name)?;
    /// let mut grant = tx.reserve(6)?;
    /// grant.write_at(3, b"def")?; // in any order
    /// grant.write_at(0, b"abc")?;
    /// assert!(matches!(grant.write_at(4, b"xyz"), Err(shmkit::Error::OutOfBounds { .. })));
    /// grant.commit()?;
    /// assert_eq!(rx.recv()?, b"abcdef");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> Result<()> {
        let end = offset.checked_add(data.len());
        if end.is_none_or(|e| e as u64 > self.len) {
            return Err(Error::OutOfBounds {
                name: self.p.name().to_owned(),
                offset: offset as u64,
                len: data.len() as u64,
                size: self.len,
            });
        }
        let region = &self.p.ring.region;
        if offset % 8 == 0 && end == Some(self.len as usize) {
            // 8-aligned up to the message's end, the usual whole-message
            // write: whole words, first to last, in one loop (as `send`); the
            // last word's padding is the record's own.
            let pos = self.p.pos + 8 + offset as u64;
            region.ring_store_padded(pos, data, || failpoint::hit("spsc-mid-write"));
            return region.check_mapped();
        }
        let at = self.p.ring.at(self.p.pos) + 8 + offset;
        let half = data.len() / 2;
        region.store(at, &data[..half]);
        failpoint::hit("spsc-mid-write");
        region.store(at + half, &data[half..]);
        region.check_mapped()
    }

    /// Copies the whole of `msg`, a message read in place from another SPSC
    /// queue, into this message at `offset`: forwarding without a private
    /// buffer, one pass over the bytes (8 at a time when `offset` is a
    /// multiple of 8).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let (a, b) = (format!("doc-fwd-a-{}", std::process::id()), format!("doc-fwd-b-{}", std::process::id()));
    /// let (mut tx_a, mut rx_a) = (Producer::create(&a, 4096)?, Consumer::open(&a)?);
    /// let (mut tx_b, mut rx_b) = (Producer::create(&b, 4096)?, Consumer::open(&b)?);
    /// tx_a.send(b"relayed")?;
    ///
    /// let msg = rx_a.read()?;
    /// let mut grant = tx_b.reserve(msg.len())?;
    /// grant.copy_from(0, &msg)?;
    /// grant.commit()?;
    /// msg.release();
    ///
    /// assert_eq!(rx_b.recv()?, b"relayed");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::OutOfBounds`] if `msg` does not fit at `offset`.
    pub fn copy_from(&mut self, offset: usize, msg: &Message<'_>) -> Result<()> {
        let n = msg.len();
        if offset.checked_add(n).is_none_or(|e| e as u64 > self.len) {
            return Err(Error::OutOfBounds {
                name: self.p.name().to_owned(),
                offset: offset as u64,
                len: n as u64,
                size: self.len,
            });
        }
        if offset % 8 != 0 {
            // Unaligned: through a small buffer.
            let mut buf = [0u8; 256];
            for start in (0..n).step_by(buf.len()) {
                let k = (n - start).min(buf.len());
                msg.read_at(start, &mut buf[..k])?;
                self.write_at(offset + start, &buf[..k])?;
            }
            return Ok(());
        }
        // Whole words (both payloads start 8-aligned), last first as in
        // `send`: first the last few bytes, which must not spill into the
        // rest of this message (unless they end it: then the rest of their
        // word is both records' padding, copied whole), then the words.
        let dst = self.p.ring.at(self.p.pos) + 8 + offset;
        let src = msg.c.ring.at(msg.c.pos) + 8;
        let words = n / 8;
        let (to, from) = (&self.p.ring.region, &msg.c.ring.region);
        if n % 8 != 0 {
            if (offset + n) as u64 == self.len {
                to.copy_words(dst + 8 * words, from, src + 8 * words, 1, || {});
            } else {
                let mut tail = [0u8; 8];
                let tail = &mut tail[..n % 8];
                from.load(src + 8 * words, tail);
                to.store(dst + 8 * words, tail);
            }
        }
        to.copy_words(dst, from, src, words, || failpoint::hit("spsc-mid-write"));
        Ok(())
    }

    /// Writes the whole message (`msg.len() == self.len`) and commits it,
    /// storing the payload from its first word to its last and then the
    /// header (see `copy::store_padded` for the order).
    #[inline(always)]
    fn fill_and_commit(self, msg: &[u8]) {
        debug_assert_eq!(msg.len() as u64, self.len);
        let p = self.p;
        let ring = &p.ring;
        ring.region.ring_store_padded(p.pos + 8, msg, || {
            failpoint::hit("spsc-mid-write");
        });
        failpoint::hit("spsc-before-commit");
        publish(p, self.len);
    }

    /// Publishes the message to the consumer.
    ///
    /// # Errors
    /// [`Error::Truncated`] if another process shrank the queue's segment
    /// under this mapping: what was written reached nobody, and nothing is
    /// published where the consumer can see it. A cut that this call's own
    /// writes run into is found after them: the record went to a private
    /// zero page, which no other process shares.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let name = format!("doc-spsc-gcommit-{}", std::process::id());
    /// let mut tx = Producer::create(&name, 1024)?;
    /// let mut rx = Consumer::open(&name)?;
    /// let mut grant = tx.reserve(3)?;
    /// grant.write_at(0, b"abc")?;
    /// drop(grant); // not committed: abandoned
    /// assert_eq!(rx.try_recv()?, None);
    /// let mut grant = tx.reserve(3)?;
    /// grant.write_at(0, b"xyz")?;
    /// grant.commit()?;
    /// assert_eq!(rx.recv()?, b"xyz");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn commit(self) -> Result<()> {
        let p = self.p;
        p.ring.region.check_mapped()?;
        failpoint::hit("spsc-before-commit");
        publish(p, self.len);
        p.ring.region.check_mapped()
    }
}

/// Makes the record of `len` bytes at the producer's position visible and
/// moves past it. The next record's header must read `0` first, so that the
/// consumer never mistakes old bytes there for a record: it usually is,
/// zeroed ahead by an earlier call; else (a long record, a new producer) it
/// is zeroed here, before the commit (room was checked for it).
#[inline(always)]
fn publish(p: &mut Producer, len: u64) {
    let ring = &p.ring;
    let pos = p.pos;
    let next = pos + record_size(len);
    if p.zeroed < next + 8 {
        ring.header(next).store(0, Ordering::Relaxed);
    }
    // SYNC(record): publishes the payload and the zeroed next header; pairs
    // with the consumer's Acquire load of this header.
    ring.header(pos)
        .store(tag(pos) << 32 | len, Ordering::Release);
    failpoint::hit("spsc-after-commit");
    p.pos = next;
    p.zeroed = p.zeroed.max(next + 8);
    ring.region.u64(TAIL).store(next, Ordering::Release);
    failpoint::hit("spsc-before-notify");
    Signal::at(&ring.region, NOT_EMPTY).notify();
    zero_ahead(p);
}

/// Keeps `[pos, pos + ZERO_AHEAD)` zeroed, as far as the cached `head`
/// allows, topping it up once less than half is left (batches of two lines
/// or more streamed 64-byte messages about 10% faster than a line at a
/// time). It runs after the commit, so the lines it takes from the
/// consumer's cache are not on the message's path.
#[inline(always)]
fn zero_ahead(p: &mut Producer) {
    if p.zeroed + ZERO_AHEAD / 2 > p.pos + ZERO_AHEAD {
        return;
    }
    top_up(p);
}

/// The work of [`zero_ahead`], once every few messages: out of line, so
/// that the path of every message stays short.
#[inline(never)]
fn top_up(p: &mut Producer) {
    let want = p.pos + ZERO_AHEAD;
    // Free space only: the consumer released everything before `head`.
    let end = want.min(p.head + p.ring.cap);
    let mut q = p.zeroed;
    while q < end {
        // Up to `end` or the ring's end, whichever comes first.
        let n = (end - q).min(p.ring.cap - (q & (p.ring.cap - 1)));
        p.ring.region.zero_words(p.ring.at(q), (n / 8) as usize);
        q += n;
    }
    p.zeroed = p.zeroed.max(end);
}

impl Drop for Producer {
    fn drop(&mut self) {
        Signal::at(&self.ring.region, NOT_FULL).unregister(self.wait);
        self.live.detach(&self.ring.region);
        Signal::at(&self.ring.region, NOT_EMPTY).notify();
        if self.ring.remove_locks {
            remove_role_locks(&self.ring.region, &ROLES);
        }
    }
}

/// The receiving end of an SPSC queue. At most one live process holds it.
///
/// # Example
/// ```
/// use shmkit::queue::spsc::{Consumer, Producer};
/// # let name = format!("doc-cons-{}", std::process::id());
/// let mut rx = Consumer::create(&name, 1024)?;
/// let mut tx = Producer::open(&name)?;
/// tx.send(&[1, 2, 3])?;
/// assert_eq!(rx.recv_timeout(std::time::Duration::from_secs(1))?, [1, 2, 3]);
/// drop(tx);
/// assert!(matches!(rx.recv(), Err(shmkit::Error::Closed { .. })));
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct Consumer {
    ring: Ring,
    live: Liveness,
    /// Next read position: this endpoint's own, never re-read.
    pos: u64,
    wait: Wait,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("name", &self.ring.region.name())
            .field("capacity", &self.ring.cap)
            .field("pos", &self.pos)
            .finish()
    }
}

impl Consumer {
    /// Creates an SPSC queue whose ring holds `capacity` bytes (rounded up to
    /// a power of two, between 64 bytes and 2 GiB), and attaches as its
    /// consumer.
    ///
    /// # Errors
    /// As [`Segment::create`](crate::Segment::create).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let name = format!("doc-spsc-ccreate-{}", std::process::id());
    /// let mut rx = Consumer::create(&name, 1 << 16)?;
    /// assert_eq!(rx.capacity(), 65536);
    /// let mut tx = Producer::open(&name)?; // in another process, usually
    /// tx.send(b"hello")?;
    /// assert_eq!(rx.recv()?, b"hello");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create(name: &str, capacity: usize) -> Result<Consumer> {
        Self::create_with(name, capacity, &QueueOptions::default())
    }

    /// As [`create`](Self::create), with options.
    ///
    /// # Errors
    /// As [`Segment::create`](crate::Segment::create).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// use shmkit::queue::{Options, Wait};
    /// # let name = format!("doc-spsc-ccreatewith-{}", std::process::id());
    /// let mut rx = Consumer::create_with(&name, 4096, &Options::default().wait(Wait::Spin))?;
    /// assert_eq!(rx.wait_strategy(), Wait::Spin);
    /// let mut tx = Producer::open(&name)?;
    /// tx.send(b"fast")?;
    /// assert_eq!(rx.recv()?, b"fast");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create_with(name: &str, capacity: usize, opts: &QueueOptions) -> Result<Consumer> {
        Consumer::attach(create(name, capacity, opts, 0)?, opts)
    }

    /// Opens an existing SPSC queue as its consumer, starting at the first
    /// message no previous consumer released.
    ///
    /// # Errors
    /// As [`Producer::open`].
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let name = format!("doc-spsc-copen-{}", std::process::id());
    /// let mut tx = Producer::create(&name, 4096)?;
    /// tx.send(b"a")?;
    /// tx.send(b"b")?;
    /// let mut first = Consumer::open(&name)?;
    /// assert_eq!(first.recv()?, b"a");
    /// drop(first);
    /// let mut second = Consumer::open(&name)?; // starts after what was released
    /// assert_eq!(second.recv()?, b"b");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open(name: &str) -> Result<Consumer> {
        Self::open_with(name, &QueueOptions::default())
    }

    /// As [`open`](Self::open), with options.
    ///
    /// # Errors
    /// As [`Producer::open`].
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// use shmkit::queue::Options;
    /// use std::time::Duration;
    /// # let name = format!("doc-spsc-copenwith-{}", std::process::id());
    /// let opts = Options::default().open_timeout(Duration::from_secs(1));
    /// assert!(matches!(Consumer::open_with(&name, &opts), Err(shmkit::Error::NotFound { .. })));
    /// let mut tx = Producer::create(&name, 4096)?;
    /// let mut rx = Consumer::open_with(&name, &opts)?;
    /// tx.send(b"found")?;
    /// assert_eq!(rx.recv()?, b"found");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_with(name: &str, opts: &QueueOptions) -> Result<Consumer> {
        Consumer::attach(open(name, opts, None)?, opts)
    }

    /// Opens the SPSC queue as its consumer, or creates it with a ring of
    /// `capacity` bytes if there is none, as [`Producer::open_or_create`].
    ///
    /// # Errors
    /// As [`create`](Self::create) and [`open`](Self::open).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let name = format!("doc-spsc-cooc-{}", std::process::id());
    /// let mut rx = Consumer::open_or_create(&name, 4096)?; // whichever starts first
    /// let mut tx = Producer::open_or_create(&name, 4096)?;
    /// assert!(rx.created() && !tx.created());
    /// tx.send(b"y")?;
    /// assert_eq!(rx.recv()?, b"y");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create(name: &str, capacity: usize) -> Result<Consumer> {
        Self::open_or_create_with(name, capacity, &QueueOptions::default())
    }

    /// As [`open_or_create`](Self::open_or_create), with options.
    ///
    /// # Errors
    /// As [`open_or_create`](Self::open_or_create).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// use shmkit::queue::{Options, Wait};
    /// # let name = format!("doc-spsc-coocw-{}", std::process::id());
    /// let opts = Options::default().wait(Wait::Spin);
    /// let mut rx = Consumer::open_or_create_with(&name, 4096, &opts)?;
    /// assert!(rx.created());
    /// assert_eq!(rx.wait_strategy(), Wait::Spin);
    /// let mut tx = Producer::open(&name)?;
    /// tx.send(b"z")?;
    /// assert_eq!(rx.recv()?, b"z");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create_with(
        name: &str,
        capacity: usize,
        opts: &QueueOptions,
    ) -> Result<Consumer> {
        Consumer::attach(open_or_create(name, capacity, opts, 0)?, opts)
    }

    /// Whether this endpoint created the queue (rather than opened it).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let name = format!("doc-spsc-ccreated-{}", std::process::id());
    /// let tx = Producer::create(&name, 1024)?;
    /// let rx = Consumer::open(&name)?;
    /// assert!(tx.created());
    /// assert!(!rx.created());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn created(&self) -> bool {
        self.ring.created()
    }

    fn attach(ring: Ring, opts: &QueueOptions) -> Result<Consumer> {
        // Check before attaching, so that an open refused for a scribbled
        // queue leaves no trace: an attached-then-gone consumer reads as a
        // dead one to the producer. A live consumer moves `head` meanwhile,
        // so a failed check with the role held is that consumer's, and
        // attaching would be refused anyway.
        if let Err(e) = Self::start(&ring) {
            let held = ring.region.segment().is_some()
                && ring.region.role_probe(ROLES[CONSUMER]).probe_exclusive()
                    == crate::os::CreatorState::Alive;
            return Err(if held {
                Error::RoleTaken {
                    name: ring.region.name().to_owned(),
                    role: ROLES[CONSUMER],
                }
            } else {
                e
            });
        }
        let mut live = Liveness::attach(&ring.region, &ROLES, CONSUMER, false, PRODUCER, false)?;
        // Again under the role lock, with the values this endpoint keeps; a
        // failure now (a scribbler at work between the two) detaches cleanly.
        let head = match Self::start(&ring) {
            Ok(head) => head,
            Err(e) => {
                live.detach(&ring.region);
                return Err(e);
            }
        };
        Signal::at(&ring.region, NOT_EMPTY).register(opts.wait);
        Ok(Consumer {
            ring,
            live,
            pos: head,
            wait: opts.wait,
        })
    }

    /// Reads `head` and `tail` once and validates them as a consumer's
    /// start; returns `head`.
    fn start(ring: &Ring) -> Result<u64> {
        let head = ring.region.u64(HEAD).load(Ordering::Acquire);
        let tail = ring.region.u64(TAIL).load(Ordering::Acquire);
        // `head` may run one record ahead of a `tail` whose producer died
        // between its commit and its `tail` store.
        if head % 8 != 0
            || head > MAX_POSITION
            || head > tail.saturating_add(ring.cap)
            || tail - head.min(tail) > ring.cap
        {
            return Err(ring
                .region
                .corrupted(format!("head {head} and tail {tail} are not a valid pair")));
        }
        Ok(head)
    }

    /// The queue's name.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::Consumer;
    /// # let name = format!("doc-spsc-cname-{}", std::process::id());
    /// let rx = Consumer::create(&name, 1024)?;
    /// assert_eq!(rx.name(), name);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        self.ring.region.name()
    }

    /// The ring's size in bytes.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let name = format!("doc-spsc-ccap-{}", std::process::id());
    /// let _tx = Producer::create(&name, 10)?;
    /// let rx = Consumer::open(&name)?;
    /// assert_eq!(rx.capacity(), 64); // the smallest ring, as created
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.ring.cap as usize
    }

    /// How this endpoint waits.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{spsc::Consumer, Options, Wait};
    /// # let name = format!("doc-spsc-cwaits-{}", std::process::id());
    /// let rx = Consumer::create_with(&name, 1024, &Options::default().wait(Wait::Block))?;
    /// assert_eq!(rx.wait_strategy(), Wait::Block);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn wait_strategy(&self) -> Wait {
        self.wait
    }

    /// Changes how this endpoint waits.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{spsc::{Consumer, Producer}, Wait};
    /// # let name = format!("doc-spsc-csetwait-{}", std::process::id());
    /// let mut rx = Consumer::create(&name, 1024)?;
    /// let mut tx = Producer::open(&name)?;
    /// rx.set_wait(Wait::Spin); // for a latency-critical stretch
    /// assert_eq!(rx.wait_strategy(), Wait::Spin);
    /// tx.send(b"now")?;
    /// assert_eq!(rx.recv()?, b"now");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn set_wait(&mut self, wait: Wait) {
        let signal = Signal::at(&self.ring.region, NOT_EMPTY);
        signal.register(wait);
        signal.unregister(self.wait);
        self.wait = wait;
    }

    /// Whether the producer is alive, closed, dead, or not attached yet.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{spsc::{Consumer, Producer}, Peer};
    /// # let name = format!("doc-spsc-cpeer-{}", std::process::id());
    /// let mut rx = Consumer::create(&name, 1024)?;
    /// assert_eq!(rx.peer(), Peer::NotYet);
    /// let mut tx = Producer::open(&name)?;
    /// assert_eq!(rx.peer(), Peer::Alive);
    /// tx.send(b"last")?;
    /// drop(tx);
    /// assert_eq!(rx.peer(), Peer::Closed);
    /// assert_eq!(rx.recv()?, b"last"); // what was sent is still delivered
    /// assert!(matches!(rx.recv(), Err(shmkit::Error::Closed { .. })));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn peer(&self) -> Peer {
        self.live.peer(&self.ring.region)
    }

    /// The next message, read in place, without waiting; `None` if the queue
    /// is empty. The message stays in the queue until
    /// [`Message::release`].
    ///
    /// # Errors
    /// [`Error::Corrupted`] if the record there is invalid.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let name = format!("doc-spsc-tryread-{}", std::process::id());
    /// let mut rx = Consumer::create(&name, 1024)?;
    /// let mut tx = Producer::open(&name)?;
    /// assert!(rx.try_read()?.is_none());
    /// tx.send(b"in place")?;
    /// let msg = rx.try_read()?.expect("a message");
    /// assert_eq!(msg.to_vec()?, b"in place");
    /// msg.release();
    /// assert!(rx.try_read()?.is_none());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline(always)]
    pub fn try_read(&mut self) -> Result<Option<Message<'_>>> {
        let polled = poll_read(&self.ring, &mut self.pos);
        self.ring.region.check_mapped()?;
        Ok(polled?.map(|len| Message { c: self, len }))
    }

    /// The next message, read in place, waiting as this endpoint's [`Wait`]
    /// says.
    ///
    /// # Errors
    /// [`Error::Corrupted`]; [`Error::PeerDied`] or [`Error::Closed`] if the
    /// queue is empty and the producer is gone.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let name = format!("doc-spsc-read-{}", std::process::id());
    /// let mut rx = Consumer::create(&name, 1024)?;
    /// let mut tx = Producer::open(&name)?;
    /// tx.send(&7u32.to_le_bytes())?;
    /// let msg = rx.read()?;
    /// let mut word = [0u8; 4];
    /// msg.read_at(0, &mut word)?;
    /// drop(msg); // not released: read again next time
    /// let again = rx.read()?;
    /// assert_eq!(again.to_vec()?, word);
    /// again.release();
    /// assert_eq!(u32::from_le_bytes(word), 7);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline(always)]
    pub fn read(&mut self) -> Result<Message<'_>> {
        self.read_fast(None)
    }

    /// As [`read`](Self::read), giving up after `timeout`.
    ///
    /// # Errors
    /// As [`read`](Self::read), and [`Error::Timeout`].
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// use std::time::Duration;
    /// # let name = format!("doc-spsc-readt-{}", std::process::id());
    /// let mut rx = Consumer::create(&name, 1024)?;
    /// let mut tx = Producer::open(&name)?;
    /// let empty = rx.read_timeout(Duration::from_millis(10));
    /// assert!(matches!(empty, Err(shmkit::Error::Timeout { .. })));
    /// tx.send(b"late")?;
    /// let msg = rx.read_timeout(Duration::from_secs(1))?;
    /// assert_eq!(msg.len(), 4);
    /// msg.release();
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline(always)]
    pub fn read_timeout(&mut self, timeout: Duration) -> Result<Message<'_>> {
        self.read_fast(Some(timeout))
    }

    /// The path of a message that is there at once, or soon for a
    /// busy-spinning endpoint: inline, and the spinning out of line but
    /// answering in registers. Everything else is [`read_inner`](Self::read_inner).
    #[inline(always)]
    fn read_fast(&mut self, timeout: Option<Duration>) -> Result<Message<'_>> {
        let polled = poll_read(&self.ring, &mut self.pos);
        self.ring.region.check_mapped()?;
        if let Some(len) = polled? {
            return Ok(Message { c: self, len });
        }
        if self.wait == Wait::Spin {
            if let Some(len) = self.spin_burst() {
                return Ok(Message { c: self, len });
            }
        }
        self.read_inner(timeout)
    }

    /// A tight burst of polls before the general wait loop (which also
    /// watches the clock and the producer's liveness): the latency of a
    /// busy-spinning endpoint is the time from the header's arrival to the
    /// return, and this loop is the shortest path there. `None` after the
    /// burst, or on an error, which `read_inner` then finds again and
    /// returns.
    #[inline(never)]
    fn spin_burst(&mut self) -> Option<u64> {
        for _ in 0..SPIN_BURST {
            match poll_read(&self.ring, &mut self.pos) {
                Ok(Some(len)) => return Some(len),
                Ok(None) => std::hint::spin_loop(),
                Err(_) => return None,
            }
        }
        None
    }

    #[inline(never)]
    fn read_inner(&mut self, timeout: Option<Duration>) -> Result<Message<'_>> {
        let Consumer {
            ring,
            live,
            pos,
            wait,
        } = self;
        let len = wait_for(
            &ring.region,
            *wait,
            Signal::at(&ring.region, NOT_EMPTY),
            timeout,
            || poll_read(ring, pos),
            || live.peer(&ring.region),
            ROLES[PRODUCER],
        )?;
        Ok(Message { c: self, len })
    }

    /// Receives the next message by copy, waiting as this endpoint's
    /// [`Wait`] says.
    ///
    /// # Errors
    /// As [`read`](Self::read).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let name = format!("doc-spsc-recv-{}", std::process::id());
    /// let mut rx = Consumer::create(&name, 1024)?;
    /// let sender = {
    ///     let name = name.clone();
    ///     std::thread::spawn(move || Producer::open(&name)?.send(b"from afar"))
    /// };
    /// assert_eq!(rx.recv()?, b"from afar"); // waits for it
    /// sender.join().unwrap()?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn recv(&mut self) -> Result<Vec<u8>> {
        let m = self.read()?;
        let v = m.take();
        self.ring.region.check_mapped()?;
        Ok(v)
    }

    /// As [`recv`](Self::recv), into `buf` (cleared first), reusing its
    /// allocation.
    ///
    /// # Errors
    /// As [`read`](Self::read).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let name = format!("doc-spsc-recvinto-{}", std::process::id());
    /// let mut rx = Consumer::create(&name, 1024)?;
    /// let mut tx = Producer::open(&name)?;
    /// let mut buf = Vec::with_capacity(64);
    /// for word in [&b"one"[..], b"three", b"two"] {
    ///     tx.send(word)?;
    ///     rx.recv_into(&mut buf)?;
    ///     assert_eq!(buf, word);
    /// }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn recv_into(&mut self, buf: &mut Vec<u8>) -> Result<()> {
        let m = self.read()?;
        buf.clear();
        buf.resize(m.len(), 0);
        m.read_at(0, buf)?;
        m.release();
        self.ring.region.check_mapped()
    }

    /// As [`recv`](Self::recv), giving up after `timeout`.
    ///
    /// # Errors
    /// As [`read_timeout`](Self::read_timeout).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// use std::time::Duration;
    /// # let name = format!("doc-spsc-recvt-{}", std::process::id());
    /// let mut rx = Consumer::create(&name, 1024)?;
    /// let mut tx = Producer::open(&name)?;
    /// let empty = rx.recv_timeout(Duration::from_millis(10));
    /// assert!(matches!(empty, Err(shmkit::Error::Timeout { .. })));
    /// tx.send(b"in time")?;
    /// assert_eq!(rx.recv_timeout(Duration::from_secs(1))?, b"in time");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Vec<u8>> {
        let m = self.read_timeout(timeout)?;
        let v = m.take();
        self.ring.region.check_mapped()?;
        Ok(v)
    }

    /// Receives the next message by copy if there is one; `None` if the
    /// queue is empty.
    ///
    /// # Errors
    /// As [`try_read`](Self::try_read).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let name = format!("doc-spsc-tryrecv-{}", std::process::id());
    /// let mut rx = Consumer::create(&name, 1024)?;
    /// let mut tx = Producer::open(&name)?;
    /// assert_eq!(rx.try_recv()?, None);
    /// tx.send(b"ready")?;
    /// assert_eq!(rx.try_recv()?, Some(b"ready".to_vec()));
    /// assert_eq!(rx.try_recv()?, None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_recv(&mut self) -> Result<Option<Vec<u8>>> {
        let v = self.try_read()?.map(Message::take);
        self.ring.region.check_mapped()?;
        Ok(v)
    }

    /// Receives the next message into `buf` if there is one (cleared
    /// first, its allocation kept): `true`; `false` if the queue is empty,
    /// with `buf` as it was. The non-blocking form of
    /// [`recv_into`](Self::recv_into).
    ///
    /// # Errors
    /// As [`try_read`](Self::try_read).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let name = format!("doc-spsc-tryrecvinto-{}", std::process::id());
    /// let mut rx = Consumer::create(&name, 1024)?;
    /// let mut tx = Producer::open(&name)?;
    /// let mut buf = b"old".to_vec();
    /// assert!(!rx.try_recv_into(&mut buf)?);
    /// assert_eq!(buf, b"old");
    /// tx.send(b"new")?;
    /// assert!(rx.try_recv_into(&mut buf)?);
    /// assert_eq!(buf, b"new");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_recv_into(&mut self, buf: &mut Vec<u8>) -> Result<bool> {
        let Some(m) = self.try_read()? else {
            return Ok(false);
        };
        buf.clear();
        buf.resize(m.len(), 0);
        m.read_at(0, buf)?;
        m.release();
        self.ring.region.check_mapped()?;
        Ok(true)
    }
}

/// The length of the next committed message at the consumer's position, or
/// `None`; skips padding. Every header is read once and validated. The
/// common case (nothing yet, or one valid record) is inline; padding and
/// corruption are out of line, to keep each message's path short.
#[inline(always)]
fn poll_read(ring: &Ring, pos: &mut u64) -> Result<Option<u64>> {
    // SYNC(record): Acquire, pairs with the producer's Release in
    // `commit` (and in `poll_room` for padding).
    let word = ring.header(*pos).load(Ordering::Acquire);
    if word == 0 {
        return Ok(None);
    }
    let len = u64::from(word as u32);
    let to_end = ring.cap - (*pos & (ring.cap - 1));
    if word >> 32 == tag(*pos) && len <= ring.max && record_size(len) <= to_end {
        return Ok(Some(len));
    }
    poll_read_slow(ring, pos, word)
}

/// The rest of [`poll_read`], for a header `word` that is no plain valid
/// record: padding (skipped, then the next header is read) or corruption.
#[inline(never)]
fn poll_read_slow(ring: &Ring, pos: &mut u64, mut word: u64) -> Result<Option<u64>> {
    loop {
        if word == 0 {
            return Ok(None);
        }
        if word >> 32 != tag(*pos) {
            return Err(ring.region.corrupted(format!(
                "record header {word:#x} at position {} has the wrong tag",
                *pos
            )));
        }
        let len = word as u32;
        let to_end = ring.cap - (*pos & (ring.cap - 1));
        if len == PAD {
            // Padding fills the ring's end only when a record does not fit
            // there, and every record fits a whole ring: never at its start.
            // (This also bounds the loop at one padding record.)
            if to_end == ring.cap {
                return Err(ring.region.corrupted(format!(
                    "padding record at position {}, the ring's start",
                    *pos
                )));
            }
            *pos += to_end;
            // SYNC(head): the pad's space is free again.
            ring.region.u64(HEAD).store(*pos, Ordering::Release);
            Signal::at(&ring.region, NOT_FULL).notify();
            // SYNC(record): as in `poll_read`.
            word = ring.header(*pos).load(Ordering::Acquire);
            continue;
        }
        let len = u64::from(len);
        if len > ring.max || record_size(len) > to_end {
            return Err(ring.region.corrupted(format!(
                "record at position {} claims {len} bytes, past the ring's end",
                *pos
            )));
        }
        return Ok(Some(len));
    }
}

/// A received message, read in place. Copy it out with
/// [`read_at`](Self::read_at) or [`to_vec`](Self::to_vec), then
/// [`release`](Self::release) it. Dropping it without releasing leaves it
/// in the queue: the next read returns it again.
///
/// It offers no `&[u8]` into the ring: a misbehaving producer could write
/// the bytes meanwhile, so reads are copies with atomic loads.
pub struct Message<'a> {
    c: &'a mut Consumer,
    len: u64,
}

impl std::fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message").field("len", &self.len).finish()
    }
}

impl Message<'_> {
    /// The message's length.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let name = format!("doc-spsc-mlen-{}", std::process::id());
    /// let mut rx = Consumer::create(&name, 1024)?;
    /// let mut tx = Producer::open(&name)?;
    /// tx.send(&[0; 300])?;
    /// let msg = rx.read()?;
    /// assert_eq!(msg.len(), 300);
    /// msg.release();
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the message is empty.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let name = format!("doc-spsc-mempty-{}", std::process::id());
    /// let mut rx = Consumer::create(&name, 1024)?;
    /// let mut tx = Producer::open(&name)?;
    /// tx.send(b"")?;
    /// let msg = rx.read()?;
    /// assert!(msg.is_empty());
    /// msg.release();
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies `buf.len()` bytes of the message, from `offset`, into `buf`.
    ///
    /// # Errors
    /// [`Error::OutOfBounds`] if the range is not within the message.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let name = format!("doc-spsc-mreadat-{}", std::process::id());
    /// let mut rx = Consumer::create(&name, 1024)?;
    /// let mut tx = Producer::open(&name)?;
    /// tx.send(b"header:body")?;
    /// let msg = rx.read()?;
    /// let mut body = [0u8; 4];
    /// msg.read_at(7, &mut body)?; // only the part it needs
    /// assert_eq!(&body, b"body");
    /// assert!(matches!(msg.read_at(8, &mut body), Err(shmkit::Error::OutOfBounds { .. })));
    /// msg.release();
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline(always)]
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        let end = offset.checked_add(buf.len());
        if end.is_none_or(|e| e as u64 > self.len) {
            return Err(Error::OutOfBounds {
                name: self.c.name().to_owned(),
                offset: offset as u64,
                len: buf.len() as u64,
                size: self.len,
            });
        }
        if offset % 8 == 0 {
            // Whole words: the last one may run past `buf`, never past the
            // record's padding.
            let pos = self.c.pos + 8 + offset as u64;
            self.c.ring.region.ring_load_padded(pos, buf);
        } else {
            let at = self.c.ring.at(self.c.pos) + 8 + offset;
            self.c.ring.region.load(at, buf);
        }
        self.c.ring.region.check_mapped()
    }

    /// A copy of the whole message.
    ///
    /// # Errors
    /// [`Error::Truncated`] if another process shrank the queue's segment
    /// under this mapping: the bytes copied were not the message.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let name = format!("doc-spsc-mtovec-{}", std::process::id());
    /// let mut rx = Consumer::create(&name, 1024)?;
    /// let mut tx = Producer::open(&name)?;
    /// tx.send(b"whole")?;
    /// let msg = rx.read()?;
    /// assert_eq!(msg.to_vec()?, b"whole");
    /// msg.release();
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let v = self.copy();
        self.c.ring.region.check_mapped()?;
        Ok(v)
    }

    /// The whole message, unchecked: the caller checks the mapping.
    fn copy(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.len()];
        self.c.ring.region.ring_load_padded(self.c.pos + 8, &mut v);
        v
    }

    fn take(self) -> Vec<u8> {
        let v = self.copy();
        self.release();
        v
    }

    /// Frees the message's room for the producer. Until then it stays in the
    /// queue, also for a consumer that attaches after this one died.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::spsc::{Consumer, Producer};
    /// # let name = format!("doc-spsc-mrelease-{}", std::process::id());
    /// let mut tx = Producer::create(&name, 64)?; // a 64-byte ring: room for one 24-byte message
    /// let mut rx = Consumer::open(&name)?;
    /// tx.send(&[1; 24])?;
    /// let msg = rx.read()?;
    /// assert!(matches!(tx.try_send(&[2; 24]), Err(shmkit::Error::Full { .. })));
    /// msg.release(); // its room is free again
    /// tx.try_send(&[2; 24])?;
    /// assert_eq!(rx.recv()?, [2; 24]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline(always)]
    pub fn release(self) {
        failpoint::hit("spsc-before-release");
        let c = self.c;
        c.pos += record_size(self.len);
        // SYNC(head): Release, pairs with the producer's Acquire in
        // `has_room`: our reads of the record are done.
        c.ring.region.u64(HEAD).store(c.pos, Ordering::Release);
        failpoint::hit("spsc-after-release");
        Signal::at(&c.ring.region, NOT_FULL).notify();
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        Signal::at(&self.ring.region, NOT_EMPTY).unregister(self.wait);
        self.live.detach(&self.ring.region);
        Signal::at(&self.ring.region, NOT_FULL).notify();
        if self.ring.remove_locks {
            remove_role_locks(&self.ring.region, &ROLES);
        }
    }
}

pub(crate) use open as open_ring;

impl Producer {
    pub(crate) fn from_ring(ring: Ring, opts: &QueueOptions) -> Result<Producer> {
        Producer::attach(ring, opts)
    }
}

impl Consumer {
    pub(crate) fn from_ring(ring: Ring, opts: &QueueOptions) -> Result<Consumer> {
        Consumer::attach(ring, opts)
    }
}

/// What a [`WaitSet`](crate::WaitSet) needs of the SPSC endpoints: the
/// signal their peer wakes, and a look at the ring that takes nothing
/// (also modelled under loom, below).
#[cfg(any(not(loom), test))]
impl Producer {
    /// The `not_full` signal, which the consumer wakes after a release.
    #[cfg(not(loom))]
    pub(crate) fn room_signal(&self) -> Signal<'_> {
        Signal::at(&self.ring.region, NOT_FULL)
    }

    /// Whether a message of `len` bytes fits now, as
    /// [`try_reserve`](Self::try_reserve) would find (writing the padding
    /// record it would write); an error is what `try_reserve` would return.
    pub(crate) fn has_room_for(&mut self, len: usize) -> Result<bool> {
        let len = self.check_len(len)?;
        let room = poll_room(
            &self.ring,
            &mut self.pos,
            &mut self.head,
            &mut self.zeroed,
            len,
        );
        self.ring.region.check_mapped()?;
        room
    }
}

#[cfg(any(not(loom), test))]
impl Consumer {
    /// The `not_empty` signal, which the producer wakes after a commit.
    #[cfg(not(loom))]
    pub(crate) fn message_signal(&self) -> Signal<'_> {
        Signal::at(&self.ring.region, NOT_EMPTY)
    }

    /// Whether [`try_read`](Self::try_read) would find a message now (it
    /// may step over a padding record, as `try_read` does); an error is
    /// what `try_read` would return.
    pub(crate) fn has_message(&mut self) -> Result<bool> {
        let polled = poll_read(&self.ring, &mut self.pos);
        self.ring.region.check_mapped()?;
        Ok(polled?.is_some())
    }
}

/// Fuzzing hooks (`shmkit::__fuzz`): a consumer on heap memory whose bytes
/// the fuzzer chose, and seed images written by a real producer.
#[cfg(all(feature = "fuzzing", not(loom)))]
pub(crate) mod fuzz {
    use super::*;

    /// A consumer attached as [`Consumer::open`] would, to an image, and a
    /// second handle on its memory for scribbling.
    pub(crate) fn consumer(image: &[u8], len: usize) -> Result<(Consumer, Region)> {
        let (region, g) = Region::heap_image(image, len, Kind::Spsc)?;
        Ring::check(&region, &g)?;
        let other = region.share_heap();
        let opts = QueueOptions::default().wait(Wait::Spin);
        Ok((Consumer::attach(Ring::new(region, g, &opts), &opts)?, other))
    }

    /// The image of a ring of `capacity` bytes after `msgs` were sent and
    /// the first `consumed` of them received.
    pub(crate) fn seed(capacity: usize, msgs: &[&[u8]], consumed: usize) -> Vec<u8> {
        let g = Ring::geometry(capacity, 0);
        let opts = QueueOptions::default();
        let a = Region::heap(g, "seed", &|_| {});
        let b = a.share_heap();
        let image = a.share_heap();
        let mut p = Producer::attach(Ring::new(a, g, &opts), &opts).unwrap();
        let mut c = Consumer::attach(Ring::new(b, g, &opts), &opts).unwrap();
        for (i, m) in msgs.iter().enumerate() {
            p.try_send(m).unwrap();
            if i < consumed {
                c.try_recv().unwrap();
            }
        }
        image.image()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn msg(i: u32) -> Vec<u8> {
        let len = (i as usize * 7919) % 300;
        (0..len).map(|j| (i as usize + j) as u8).collect()
    }

    /// `write_at` in two pieces at every split, and `copy_from` at offsets
    /// 0, 3, 8 and 13, for records starting anywhere in a cache line: each
    /// byte lands where it belongs.
    #[test]
    fn write_at_and_copy_from_put_every_byte_in_place() {
        let lens: &[usize] = if cfg!(miri) {
            &[0, 9, 70]
        } else {
            &[0, 1, 7, 8, 9, 55, 56, 57, 64, 65, 130]
        };
        let (mut p, mut c) = Producer::heap_pair(1024);
        let (mut p2, mut c2) = Producer::heap_pair(1024);
        for &len in lens {
            let want: Vec<u8> = (0..len).map(|i| (i * 31 + len) as u8).collect();
            for split in 0..=len {
                let mut g = p.reserve(len).unwrap();
                g.write_at(split, &want[split..]).unwrap();
                g.write_at(0, &want[..split]).unwrap();
                g.commit().unwrap();
                let m = c.read().unwrap();
                assert_eq!(m.to_vec().unwrap(), want, "len {len} split {split}");
                // Forward it into a bigger record, after `offset` other bytes.
                for offset in [0, 3, 8, 13] {
                    let mut g = p2.reserve(len + offset).unwrap();
                    g.write_at(0, &vec![0xEE; offset]).unwrap();
                    g.copy_from(offset, &m).unwrap();
                    g.commit().unwrap();
                    let got = c2.recv().unwrap();
                    assert_eq!(&got[offset..], &want[..], "len {len} offset {offset}");
                    assert!(got[..offset].iter().all(|&b| b == 0xEE));
                }
                m.release();
            }
        }
    }

    #[test]
    fn in_order_across_many_wraps() {
        let n = if cfg!(miri) { 200 } else { 20_000 };
        let (mut p, mut c) = Producer::heap_pair(1024);
        std::thread::scope(|s| {
            s.spawn(move || {
                for i in 0..n {
                    p.send(&msg(i)).unwrap();
                }
            });
            for i in 0..n {
                assert_eq!(c.recv().unwrap(), msg(i), "message {i}");
            }
            assert_eq!(c.try_recv().unwrap(), None);
        });
    }

    /// Every payload word is the header the consumer would accept at that
    /// ring offset one lap later: only the zeroing of next headers (ahead of
    /// time, or before the commit) keeps these bytes from being taken for
    /// records.
    #[test]
    fn payload_forging_next_lap_headers_is_never_taken_for_a_record() {
        let (mut p, mut c) = Producer::heap_pair(256);
        let cap = p.ring.cap;
        let n = if cfg!(miri) { 100 } else { 5_000 };
        for i in 0..n {
            // Up to 104 bytes: a pad and the record after it fit together.
            let words = (i * 7) % 14;
            let size = record_size(8 * words);
            let pos = p.pos;
            let at = if size > cap - pos % cap {
                pos + cap - pos % cap
            } else {
                pos
            };
            let msg: Vec<u8> = (0..words)
                .flat_map(|w| (tag(at + 8 + 8 * w + cap) << 32 | 8).to_ne_bytes())
                .collect();
            p.send(&msg).unwrap();
            assert_eq!(c.try_recv().unwrap(), Some(msg), "message {i}");
            assert_eq!(c.try_recv().unwrap(), None, "after message {i}");
        }
    }

    #[test]
    fn read_at_any_offset_and_length() {
        let (mut p, mut c) = Producer::heap_pair(1024);
        let msg: Vec<u8> = (0..77).collect();
        p.send(&msg).unwrap();
        let m = c.read().unwrap();
        for off in 0..msg.len() {
            for len in 0..=msg.len() - off {
                let mut buf = vec![0xEE; len];
                m.read_at(off, &mut buf).unwrap();
                assert_eq!(buf, msg[off..off + len], "offset {off}, length {len}");
            }
        }
        assert!(m.read_at(70, &mut [0; 8]).is_err());
        m.release();
    }

    #[test]
    fn copy_from_forwards_a_message_at_any_offset() {
        let (mut pa, mut ca) = Producer::heap_pair(4096);
        let (mut pb, mut cb) = Producer::heap_pair(4096);
        for len in [0usize, 1, 7, 8, 9, 63, 64, 65, 600] {
            let msg: Vec<u8> = (0..len).map(|i| (i * 13 + len) as u8).collect();
            for offset in [0usize, 3, 8, 300] {
                pa.send(&msg).unwrap();
                let m = ca.read().unwrap();
                let mut g = pb.reserve(offset + len + 5).unwrap();
                g.write_at(0, &vec![0xAB; offset + len + 5]).unwrap();
                g.copy_from(offset, &m).unwrap();
                assert!(g.copy_from(offset + 6, &m).is_err() || len == 0);
                g.commit().unwrap();
                m.release();
                let got = cb.recv().unwrap();
                assert_eq!(
                    &got[offset..offset + len],
                    &msg[..],
                    "len {len}, offset {offset}"
                );
                assert!(got[..offset].iter().all(|&b| b == 0xAB));
                assert!(got[offset + len..].iter().all(|&b| b == 0xAB));
            }
        }
    }

    #[test]
    fn grant_dropped_is_not_delivered_and_message_unreleased_is_read_again() {
        let (mut p, mut c) = Producer::heap_pair(256);
        {
            // Abandoned: dropped without commit.
            let mut g = p.reserve(3).unwrap();
            g.write_at(0, b"abc").unwrap();
            assert!(g.write_at(1, b"abc").is_err());
        }
        assert!(c.try_read().unwrap().is_none());
        p.send(b"xyz").unwrap();
        {
            // Not released.
            let m = c.try_read().unwrap().unwrap();
            assert_eq!(m.to_vec().unwrap(), b"xyz");
        }
        let m = c.read().unwrap();
        assert_eq!(m.to_vec().unwrap(), b"xyz");
        m.release();
        assert!(c.try_read().unwrap().is_none());
    }

    #[test]
    fn full_and_too_large() {
        let (mut p, mut c) = Producer::heap_pair(64);
        assert_eq!(p.max_message_len(), 48);
        assert!(matches!(
            p.try_send(&[0; 49]),
            Err(Error::MessageTooLarge { .. })
        ));
        p.try_send(&[1; 48]).unwrap();
        assert!(matches!(p.try_send(&[2; 1]), Err(Error::Full { .. })));
        assert!(matches!(
            p.send_timeout(&[2; 1], Duration::from_millis(1)),
            Err(Error::Timeout { .. })
        ));
        assert_eq!(c.recv().unwrap(), [1; 48]);
        // The next record would cross the ring's end: the producer pads to
        // the end, and the pad's room is free once the consumer steps over it.
        assert!(matches!(p.try_send(&[2; 48]), Err(Error::Full { .. })));
        assert_eq!(c.try_recv().unwrap(), None);
        p.try_send(&[2; 48]).unwrap();
        assert_eq!(c.recv().unwrap(), [2; 48]);
    }

    #[test]
    fn scribbled_header_word_is_corruption_not_a_panic() {
        let (mut p, mut c) = Producer::heap_pair(256);
        p.send(b"hello").unwrap();
        let data = c.ring.data;
        // A wrong tag, a huge length, a length past the ring's end.
        for bad in [
            0x1234_5678_0000_0005u64,
            tag(0) << 32 | 0x7fff_ffff,
            tag(0) << 32 | 250,
        ] {
            c.ring.region.u64(data).store(bad, Ordering::Relaxed);
            assert!(
                matches!(c.try_recv(), Err(Error::Corrupted { .. })),
                "{bad:#x}"
            );
        }
        // Padding at the ring's start (never written there) is corruption,
        // not a lap skipped.
        c.ring
            .region
            .u64(data)
            .store(tag(0) << 32 | u64::from(PAD), Ordering::Relaxed);
        assert!(matches!(c.try_recv(), Err(Error::Corrupted { .. })));
        assert_eq!(c.pos, 0);
        // A scribbled head makes the producer report corruption once it
        // needs to look.
        c.ring.region.u64(HEAD).store(3, Ordering::Relaxed);
        let r = (0..100).try_for_each(|_| p.try_send(&[0; 40]));
        assert!(matches!(r, Err(Error::Corrupted { .. })), "{r:?}");
    }

    #[test]
    fn closed_producer_is_reported() {
        let (mut p, mut c) = Producer::heap_pair(256);
        p.send(b"last").unwrap();
        drop(p);
        assert_eq!(c.recv().unwrap(), b"last");
        assert!(matches!(
            c.recv(),
            Err(Error::Closed {
                peer: "producer",
                ..
            })
        ));
    }
}

/// Loom models of the record protocol (`RUSTFLAGS="--cfg loom"`, see
/// `ci/loom.sh`): every interleaving of a producer and a consumer thread
/// on a 64-byte ring, across the wrap point (a padding record).
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;

    fn send(p: &mut Producer, m: &[u8]) {
        loop {
            match p.try_send(m) {
                Ok(()) => return,
                Err(Error::Full { .. }) => loom::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// What a [`WaitSet`](crate::WaitSet) does before it sleeps on a
    /// member's signal: arm (count itself a waiter, read `seq`), look again,
    /// and sleep only if that found nothing, on `seq` with the value read.
    /// The sleep is the kernel's compare-and-sleep: it does not sleep, or is
    /// woken, once `seq` moved. So the protocol loses no wake-up iff,
    /// whenever the look found nothing, the peer's change moved `seq` away
    /// from the armed value. Returns whether the look found it.
    fn armed_look<T>(
        signal: Signal<'_>,
        look: impl FnOnce() -> bool,
        peer: loom::thread::JoinHandle<T>,
    ) -> (bool, T) {
        let armed = signal.arm();
        let found = look();
        let peer = peer.join().unwrap();
        if !found {
            assert_ne!(
                signal.seq_word().load(Ordering::SeqCst),
                armed,
                "the set would sleep through the peer's change"
            );
        }
        signal.disarm();
        (found, peer)
    }

    #[test]
    fn a_wait_set_armed_for_a_message_misses_no_wake_up() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            let (mut p, mut c) = Producer::heap_pair(64);
            // The set's view of the same memory, so that it can hold the
            // signal while it looks at the consumer.
            let set = c.ring.region.share_heap();
            let signal = Signal::at(&set, NOT_EMPTY);
            // Added to the set: it may block whatever the endpoint's wait.
            signal.register(Wait::Block);
            let t = loom::thread::spawn(move || send(&mut p, &[7; 8]));
            let (found, ()) = armed_look(signal, || c.has_message().unwrap(), t);
            if found {
                assert_eq!(c.try_recv().unwrap(), Some(vec![7; 8]));
            }
        });
    }

    #[test]
    fn a_wait_set_armed_for_room_misses_no_wake_up() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            let (mut p, mut c) = Producer::heap_pair(64);
            // Fill the ring: the set waits for room for one more.
            let mut sent = 0;
            while p.try_send(&[1; 8]).is_ok() {
                sent += 1;
            }
            assert!(sent > 0);
            let set = p.ring.region.share_heap();
            let signal = Signal::at(&set, NOT_FULL);
            signal.register(Wait::Block);
            let t = loom::thread::spawn(move || {
                assert_eq!(c.try_recv().unwrap(), Some(vec![1; 8]));
                // Handed back, so that it outlives the producer's look.
                c
            });
            let (found, _c) = armed_look(signal, || p.has_room_for(8).unwrap(), t);
            if found {
                p.try_send(&[2; 8]).unwrap();
            }
        });
    }

    #[test]
    fn two_messages_across_the_wrap_arrive_whole_and_in_order() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            let (mut p, mut c) = Producer::heap_pair(64);
            let t = loom::thread::spawn(move || {
                send(&mut p, &[1; 20]);
                send(&mut p, &[2; 30]); // does not fit before the end: padding first
            });
            let mut got = Vec::new();
            while got.len() < 2 {
                match c.try_recv().unwrap() {
                    Some(m) => got.push(m),
                    None => loom::thread::yield_now(),
                }
            }
            t.join().unwrap();
            assert_eq!(got, [vec![1; 20], vec![2; 30]]);
        });
    }
}
