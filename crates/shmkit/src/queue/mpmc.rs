//! Many producer processes, many consumer processes: a bounded queue of
//! fixed-size slots in which every message is delivered exactly once.
//!
//! # Algorithm
//! Dmitry Vyukov's bounded MPMC queue
//! (<https://www.1024cores.net/home/lock-free-algorithms/queues/bounded-mpmc-queue>),
//! in which each slot carries a sequence number that says whose turn it is,
//! changed so that a process killed in the middle of an operation cannot
//! wedge the queue: a slot is claimed by a compare-and-swap on its own
//! sequence word, which then names the claimant, instead of on the shared
//! position (so whoever finds a claimed slot knows whom to ask about), and
//! the shared positions only move forward, helped along by whoever sees a
//! claimed slot.
//!
//! # Example
//! Producers in several processes (here threads) feed one queue; each
//! message reaches exactly one consumer.
//! ```
//! use shmkit::queue::mpmc::{Consumer, Producer};
//!
//! # let name = format!("doc-mpmc-mod-{}", std::process::id());
//! let mut rx = Consumer::create(&name, 64, 16)?; // 64 slots of up to 16 bytes
//! let producers = (0..3u32)
//!     .map(|p| {
//!         let mut tx = Producer::open(&name)?;
//!         Ok(std::thread::spawn(move || -> shmkit::Result<()> {
//!             for i in 0..100u32 {
//!                 tx.send(&(p * 1000 + i).to_le_bytes())?;
//!             }
//!             Ok(())
//!         }))
//!     })
//!     .collect::<shmkit::Result<Vec<_>>>()?;
//! let mut got: Vec<u32> = (0..300)
//!     .map(|_| Ok(u32::from_le_bytes(rx.recv()?.try_into().unwrap())))
//!     .collect::<shmkit::Result<_>>()?;
//! for p in producers {
//!     p.join().unwrap()?;
//! }
//! got.sort();
//! let sent: Vec<u32> = (0..3).flat_map(|p| (0..100).map(move |i| p * 1000 + i)).collect();
//! assert_eq!(got, sent); // every message once
//! assert_eq!(rx.try_recv()?, None);
//! # Ok::<(), shmkit::Error>(())
//! ```
//!
//! # Segment layout
//! | offset | what                                                    |
//! |--------|---------------------------------------------------------|
//! | 0      | common queue header (`capacity` = slot count, power of 2) |
//! | 64     | role states: producers u32, consumers u32; id counters at 72, attach counts at 80 |
//! | 128    | `enqueue` u64: next position to claim for writing       |
//! | 256    | `dequeue` u64: next position to claim for reading       |
//! | 384    | `not_empty` wake words                                  |
//! | 448    | `not_full` wake words                                   |
//! | 1024   | slots, `slot_stride` bytes each: `seq` u64, `len` u32, payload at 16 |
//!
//! # Slot sequence word, for position `p` (slot `p % slots`)
//! | value                         | meaning                                   |
//! |-------------------------------|-------------------------------------------|
//! | `p`                           | free: a producer may claim it for `p`     |
//! | `BUSY \| id << 56 \| p`       | producer `id` is writing message `p`      |
//! | `p + 1`                       | message `p` is ready                      |
//! | `BUSY \| READER \| id << 56 \| p` | consumer `id` is reading message `p` |
//! | `p + slots`                   | free for position `p + slots`             |
//!
//! A producer at position `p` may also find last lap's word (`p - slots + 1`,
//! or a claim of `p - slots`): the queue is full there for now. A consumer
//! at `p` may find a reader's claim of `p - slots`: empty for now. It may
//! also find the next lap's producer words (a claim of `p + slots`, or
//! `p + slots + 1`): a producer died holding `p`, and another freed the slot
//! on its way round before any consumer reached `p`; nothing was published
//! for `p`, and the consumer steps past it.
//!
//! `enqueue` and `dequeue` are only ever advanced by one, by a successful
//! compare-and-swap from the value just read, and only past a slot whose
//! word shows it claimed, done or skipped; `dequeue <= enqueue`, and
//! `enqueue <= dequeue + slots` but for positions whose dead claim was
//! freed before consumers reached them (the slot is then one lap on, and
//! never further: its next message waits for a consumer past `p`). Positions
//! are 56 bits: at a billion messages a second they last two years; a queue
//! reaching the limit reports [`Error::Corrupted`] rather than wrap.
//!
//! # Crashes and liveness
//! Each endpoint takes an id (0 to 63) for its role by taking that id's
//! `flock`, held while it lives. A slot claimed by an id whose lock is free
//! belongs to a dead process: whoever finds it frees it for the next lap.
//! The message a producer was writing is thus never delivered (nor torn),
//! and the message a consumer was reading when it died is lost: delivery is
//! exactly once for every message whose producer committed it and whose
//! consumer returned it, at most once across consumer crashes. A process
//! that takes over a dead id first frees the slots its predecessor held.

use std::time::Duration;

use super::atomic::{AtomicU64, Ordering};
use super::region::{remove_role_locks, Geometry, Kind, Liveness, Region};
use super::wait::{wait_for, Signal};
use super::{Peer, QueueOptions, Wait};
use crate::os::{CreatorState, RoleLock};
use crate::{failpoint, Error, Result};

const ROLES: [&str; 2] = ["producer", "consumer"];
const PRODUCER: usize = 0;
const CONSUMER: usize = 1;
/// Heap-backed queues hand out ids from these counters.
const ID_COUNTERS: usize = 72;
pub(crate) const ENQUEUE: usize = 128;
pub(crate) const DEQUEUE: usize = 256;
const NOT_EMPTY: usize = 384;
const NOT_FULL: usize = 448;
const DATA: u64 = 1024;
const SLOT_HEADER: u64 = 16;
const MAX_SLOTS: u64 = 1 << 24;
const MAX_MESSAGE: u64 = 1 << 30;
const MAX_IDS: u64 = 64;

const BUSY: u64 = 1 << 63;
const READER: u64 = 1 << 62;
const POS_BITS: u32 = 56;
const POS_MASK: u64 = (1 << POS_BITS) - 1;
const ID_SHIFT: u32 = POS_BITS;
const ID_MASK: u64 = 0x3F;

#[inline]
fn busy(reader: bool, id: u64, pos: u64) -> u64 {
    BUSY | if reader { READER } else { 0 } | id << ID_SHIFT | pos
}

/// Vyukov's initial state: slot `i` free for position `i`.
fn init_slots(r: &Region, g: &Geometry) {
    for i in 0..g.capacity {
        r.u64((g.data_offset + i * g.slot_stride) as usize)
            .store(i, Ordering::Relaxed);
    }
}

/// One side's view of the queue: the ring, its id and the locks.
struct Side {
    region: Region,
    slots: u64,
    max: u64,
    stride: u64,
    id: u64,
    /// This endpoint's id lock (held while it lives).
    id_lock: Option<RoleLock>,
    /// Probes of the other ids of both roles, opened when first needed.
    probes: std::cell::RefCell<Vec<Option<RoleLock>>>,
    live: Liveness,
    wait: Wait,
    remove_locks: bool,
    reader: bool,
    /// Models: ids of each role (bit `id` of `[producers, consumers]`) that
    /// read as dead on a heap region, which has no id locks to probe.
    #[cfg(test)]
    dead: [u64; 2],
}

fn id_role(reader: bool, id: u64) -> String {
    format!("{}.{id}", ROLES[usize::from(reader)])
}

impl Side {
    fn geometry(slots: usize, max_message: usize) -> Geometry {
        let slots = (slots as u64).clamp(2, MAX_SLOTS).next_power_of_two();
        let max = (max_message as u64).min(MAX_MESSAGE);
        Geometry {
            kind: Kind::Mpmc,
            capacity: slots,
            max_message: max,
            data_offset: DATA,
            slot_stride: (SLOT_HEADER + max).div_ceil(64) * 64,
            type_hash: 0,
        }
    }

    fn attach(region: Region, g: Geometry, opts: &QueueOptions, reader: bool) -> Result<Side> {
        // One slot would make "message p ready" and "free for p + 1" the
        // same sequence word: producers would overwrite unread messages.
        if g.capacity < 2
            || g.capacity > MAX_SLOTS
            || g.max_message > MAX_MESSAGE
            || g.slot_stride % 64 != 0
            || g.slot_stride < SLOT_HEADER + g.max_message
            || g.data_offset != DATA
        {
            return Err(region.corrupted(format!(
                "{} slots of {} bytes for messages of up to {}",
                g.capacity, g.slot_stride, g.max_message
            )));
        }
        let (own, peer) = if reader {
            (CONSUMER, PRODUCER)
        } else {
            (PRODUCER, CONSUMER)
        };
        let mut live = Liveness::attach(&region, &ROLES, own, true, peer, true)?;
        let locks_work =
            region.segment().is_some() && region.role_lock(&id_role(reader, 0)).works();
        let (id, id_lock) = if locks_work {
            let mut taken = None;
            for id in 0..MAX_IDS {
                let lock = region.role_lock(&id_role(reader, id));
                if lock.hold_exclusive() {
                    taken = Some((id, Some(lock)));
                    break;
                }
            }
            taken.ok_or_else(|| Error::RoleTaken {
                name: region.name().to_owned(),
                role: if reader {
                    "consumer (all 64 ids)"
                } else {
                    "producer (all 64 ids)"
                },
            })?
        } else {
            if region.segment().is_some() {
                live.mark_lockless(&region);
            }
            let n = region.u32(ID_COUNTERS + 4 * usize::from(reader));
            (u64::from(n.fetch_add(1, Ordering::Relaxed)) % MAX_IDS, None)
        };
        let remove_locks = region.segment().is_some_and(|s| s.created()) && !opts.persist;
        let side = Side {
            region,
            slots: g.capacity,
            max: g.max_message,
            stride: g.slot_stride,
            id,
            id_lock,
            probes: std::cell::RefCell::new((0..2 * MAX_IDS).map(|_| None).collect()),
            live,
            wait: opts.wait,
            remove_locks,
            reader,
            #[cfg(test)]
            dead: [0; 2],
        };
        side.free_predecessors_slots();
        side.signal().register(side.wait);
        Ok(side)
    }

    /// Frees slots that a dead process with this endpoint's id still holds
    /// (only where ids are liveness locks, so the predecessor is known dead).
    fn free_predecessors_slots(&self) {
        if self.id_lock.is_none() {
            return;
        }
        for i in 0..self.slots {
            let seq = self.seq(i);
            let w = seq.load(Ordering::Acquire);
            if w & BUSY != 0 && (w >> ID_SHIFT) & ID_MASK == self.id {
                let reader = w & READER != 0;
                if reader == self.is_reader() {
                    self.step_past_claim(w);
                    let _ = seq.compare_exchange(
                        w,
                        (w & POS_MASK) + self.slots,
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    );
                }
            }
        }
    }

    /// The signal this endpoint waits on.
    fn signal(&self) -> Signal<'_> {
        Signal::at(&self.region, if self.reader { NOT_EMPTY } else { NOT_FULL })
    }

    fn is_reader(&self) -> bool {
        self.reader
    }

    #[inline]
    fn slot(&self, pos: u64) -> usize {
        (DATA + (pos & (self.slots - 1)) * self.stride) as usize
    }

    #[inline]
    fn seq(&self, pos: u64) -> &AtomicU64 {
        self.region.u64(self.slot(pos))
    }

    /// Whether the holder of `id` in the given role is alive (or unknown).
    fn id_alive(&self, reader: bool, id: u64) -> bool {
        #[cfg(test)]
        if self.dead[usize::from(reader)] >> id & 1 == 1 {
            return false;
        }
        if self.id_lock.is_none() {
            return true;
        }
        // A holder of the role without a usable lock has no id file to
        // probe: a free one proves nothing then (see `region`'s doc).
        let role = if reader { CONSUMER } else { PRODUCER };
        if self.region.lockless_holders(role).load(Ordering::SeqCst) != 0 {
            return true;
        }
        let mut probes = self.probes.borrow_mut();
        let at = (u64::from(reader) * MAX_IDS + id) as usize;
        let probe = probes[at].get_or_insert_with(|| self.region.role_probe(&id_role(reader, id)));
        probe.probe_exclusive() != CreatorState::Gone
    }

    /// If `w` (read at position `pos`'s slot) is a claim of a dead process,
    /// frees the slot for the next lap and says so.
    #[cold]
    fn free_if_dead(&self, pos: u64, w: u64) -> bool {
        let id = (w >> ID_SHIFT) & ID_MASK;
        if self.id_alive(w & READER != 0, id) {
            return false;
        }
        self.step_past_claim(w);
        self.seq(pos)
            .compare_exchange(w, pos + self.slots, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// Before a dead process's claim `w` is freed: moves its role's index
    /// past the claimed position, if the process died before doing so
    /// itself (failpoints `mpmc-after-claim`, `mpmc-after-take`). Freed
    /// first, the slot could be claimed and filled for the next lap while
    /// the index still pointed at it, and the next at that index would find
    /// a word two laps on (`Corrupted`). The word still shows the claim,
    /// which is what the index may be moved past.
    fn step_past_claim(&self, w: u64) {
        let pos = w & POS_MASK;
        let index = if w & READER != 0 { DEQUEUE } else { ENQUEUE };
        let _ = self.region.u64(index).compare_exchange(
            pos,
            pos + 1,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
    }

    fn corrupt(&self, what: String) -> Error {
        self.region.corrupted(what)
    }

    /// Reads `index` once and validates it against the other index.
    fn index(&self, at: usize) -> Result<u64> {
        let v = self.region.u64(at).load(Ordering::Acquire);
        if v >= POS_MASK - self.slots {
            return Err(self.corrupt(format!("queue position {v} is out of range")));
        }
        Ok(v)
    }
}

/// A producing end of an MPMC queue; up to 64 live at once.
///
/// # Example
/// ```
/// use shmkit::queue::mpmc::{Consumer, Producer};
/// # let name = format!("doc-mpmc-{}", std::process::id());
/// let mut rx = Consumer::create(&name, 16, 100)?;   // 16 slots of up to 100 bytes
/// let mut a = Producer::open(&name)?;
/// let mut b = Producer::open(&name)?;
/// a.send(b"from a")?;
/// b.send(b"from b")?;
/// assert_eq!(rx.recv()?, b"from a");
/// assert_eq!(rx.recv()?, b"from b");
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct Producer {
    side: Side,
}

/// A consuming end of an MPMC queue; up to 64 live at once. Each message
/// goes to exactly one consumer.
pub struct Consumer {
    side: Side,
}

macro_rules! endpoint_common {
    ($t:ident, $reader:expr_2021, $what:literal) => {
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t))
                    .field("name", &self.side.region.name())
                    .field("id", &self.side.id)
                    .finish()
            }
        }

        impl $t {
            #[doc = concat!("Creates an MPMC queue of `slots` slots (rounded up to a power of two) for messages of up to `max_message` bytes, and attaches as a ", $what, ".")]
            ///
            /// # Errors
            /// As [`Segment::create`](crate::Segment::create).
            ///
            /// # Example
            /// ```
            /// use shmkit::queue::mpmc::{Consumer, Producer};
            /// # let name = format!("doc-mpmc-create-{}", std::process::id());
            /// // Either role may create the queue; the others open it by name.
            /// let mut rx = Consumer::create(&name, 10, 256)?; // 16 slots of up to 256 bytes
            /// let mut tx = Producer::open(&name)?;
            /// tx.send(b"job 1")?;
            /// assert_eq!(rx.recv()?, b"job 1");
            /// assert!(matches!(
            ///     Producer::create(&name, 16, 256),
            ///     Err(shmkit::Error::AlreadyExists { .. })
            /// ));
            /// # Ok::<(), shmkit::Error>(())
            /// ```
            pub fn create(name: &str, slots: usize, max_message: usize) -> Result<Self> {
                Self::create_with(name, slots, max_message, &QueueOptions::default())
            }

            /// As `create`, with options.
            ///
            /// # Errors
            /// As [`Segment::create`](crate::Segment::create).
            ///
            /// # Example
            /// ```
            /// use shmkit::queue::mpmc::{Consumer, Producer};
            /// use shmkit::queue::{Options, Wait};
            /// # let name = format!("doc-mpmc-createwith-{}", std::process::id());
            /// let opts = Options::default().wait(Wait::Block);
            /// let mut tx = Producer::create_with(&name, 16, 64, &opts)?;
            /// let mut rx = Consumer::open_with(&name, &opts)?;
            /// tx.send(b"blocking")?;
            /// assert_eq!(rx.recv()?, b"blocking");
            /// # Ok::<(), shmkit::Error>(())
            /// ```
            pub fn create_with(
                name: &str,
                slots: usize,
                max_message: usize,
                opts: &QueueOptions,
            ) -> Result<Self> {
                let g = Side::geometry(slots, max_message);
                let region = Region::create(name, g, opts, &|r| init_slots(r, &g))?;
                Ok($t {
                    side: Side::attach(region, g, opts, $reader)?,
                })
            }

            #[doc = concat!("Opens an MPMC queue as one more ", $what, ".")]
            ///
            /// # Errors
            /// As [`Segment::open`](crate::Segment::open); [`Error::RoleTaken`]
            /// if 64 live processes hold the role; [`Error::NotTyped`] or
            /// [`Error::Corrupted`] if the segment is no intact MPMC queue.
            ///
            /// # Example
            /// ```
            /// use shmkit::queue::mpmc::{Consumer, Producer};
            /// # let name = format!("doc-mpmc-open-{}", std::process::id());
            /// let mut tx = Producer::create(&name, 16, 64)?;
            /// let mut a = Consumer::open(&name)?;
            /// let mut b = Consumer::open(&name)?;
            /// tx.send(b"one")?;
            /// tx.send(b"two")?;
            /// // Each message goes to one consumer only.
            /// assert_eq!(a.recv()?, b"one");
            /// assert_eq!(b.recv()?, b"two");
            /// assert_eq!(a.try_recv()?, None);
            /// # Ok::<(), shmkit::Error>(())
            /// ```
            pub fn open(name: &str) -> Result<Self> {
                Self::open_with(name, &QueueOptions::default())
            }

            /// As `open`, with options.
            ///
            /// # Errors
            /// As `open`.
            ///
            /// # Example
            /// ```
            /// use shmkit::queue::mpmc::{Consumer, Producer};
            /// use shmkit::queue::Options;
            /// use std::time::Duration;
            /// # let name = format!("doc-mpmc-openwith-{}", std::process::id());
            /// let opts = Options::default().wait_for_creator(Duration::from_millis(20));
            /// // Nobody creates it within 20 ms:
            /// assert!(matches!(Producer::open_with(&name, &opts), Err(shmkit::Error::NotFound { .. })));
            /// let mut rx = Consumer::create(&name, 16, 64)?;
            /// let mut tx = Producer::open_with(&name, &opts)?;
            /// tx.send(b"found")?;
            /// assert_eq!(rx.recv()?, b"found");
            /// # Ok::<(), shmkit::Error>(())
            /// ```
            pub fn open_with(name: &str, opts: &QueueOptions) -> Result<Self> {
                let (region, g) =
                    super::open_waiting(opts, || Region::open(name, Kind::Mpmc, opts))?;
                Ok($t {
                    side: Side::attach(region, g, opts, $reader)?,
                })
            }

            #[doc = concat!("Opens the MPMC queue as one more ", $what, ", or creates it")]
            /// with `slots` slots for messages of up to `max_message` bytes
            /// if there is none. When processes race, exactly one creates and
            /// the others open once the queue is set up; an opened queue keeps
            /// its creator's geometry. `created` tells which happened.
            ///
            /// # Errors
            /// As `create` and `open`.
            ///
            /// # Example
            /// ```
            /// use shmkit::queue::mpmc::{Consumer, Producer};
            /// # let name = format!("doc-mpmc-ooc-{}", std::process::id());
            /// // Every process may start first; the first creates, the others open.
            /// let mut tx = Producer::open_or_create(&name, 16, 64)?;
            /// let mut rx = Consumer::open_or_create(&name, 1024, 1024)?;
            /// assert!(tx.created() && !rx.created());
            /// assert_eq!(rx.max_message_len(), 64); // the creator's geometry
            /// tx.send(b"x")?;
            /// assert_eq!(rx.recv()?, b"x");
            /// # Ok::<(), shmkit::Error>(())
            /// ```
            pub fn open_or_create(name: &str, slots: usize, max_message: usize) -> Result<Self> {
                Self::open_or_create_with(name, slots, max_message, &QueueOptions::default())
            }

            /// As `open_or_create`, with options.
            ///
            /// # Errors
            /// As `open_or_create`.
            ///
            /// # Example
            /// ```
            /// use shmkit::queue::mpmc::{Consumer, Producer};
            /// use shmkit::queue::{Options, Wait};
            /// # let name = format!("doc-mpmc-oocw-{}", std::process::id());
            /// let opts = Options::default().wait(Wait::Spin);
            /// let mut rx = Consumer::open_or_create_with(&name, 16, 64, &opts)?;
            /// let mut tx = Producer::open_or_create_with(&name, 16, 64, &opts)?;
            /// assert!(rx.created() && !tx.created());
            /// tx.send(b"y")?;
            /// assert_eq!(rx.recv()?, b"y");
            /// # Ok::<(), shmkit::Error>(())
            /// ```
            pub fn open_or_create_with(
                name: &str,
                slots: usize,
                max_message: usize,
                opts: &QueueOptions,
            ) -> Result<Self> {
                let g = Side::geometry(slots, max_message);
                let (region, g) = super::open_or_create(
                    name,
                    || Region::create(name, g, opts, &|r| init_slots(r, &g)).map(|r| (r, g)),
                    || Region::open(name, Kind::Mpmc, opts),
                )?;
                Ok($t {
                    side: Side::attach(region, g, opts, $reader)?,
                })
            }

            /// Whether this endpoint created the queue (rather than opened it).
            ///
            /// # Example
            /// ```
            /// use shmkit::queue::mpmc::{Consumer, Producer};
            /// # let name = format!("doc-mpmc-created-{}", std::process::id());
            /// let tx = Producer::create(&name, 16, 64)?;
            /// let rx = Consumer::open(&name)?;
            /// assert!(tx.created());
            /// assert!(!rx.created());
            /// # Ok::<(), shmkit::Error>(())
            /// ```
            pub fn created(&self) -> bool {
                self.side.region.segment().is_some_and(|s| s.created())
            }

            /// The largest message.
            ///
            /// # Example
            /// ```
            /// use shmkit::queue::mpmc::{Consumer, Producer};
            /// # let name = format!("doc-mpmc-max-{}", std::process::id());
            /// let mut tx = Producer::create(&name, 16, 100)?;
            /// let rx = Consumer::open(&name)?;
            /// assert_eq!((tx.max_message_len(), rx.max_message_len()), (100, 100));
            /// assert!(matches!(
            ///     tx.send(&[0; 101]),
            ///     Err(shmkit::Error::MessageTooLarge { len: 101, max: 100, .. })
            /// ));
            /// # Ok::<(), shmkit::Error>(())
            /// ```
            pub fn max_message_len(&self) -> usize {
                self.side.max as usize
            }

            /// Whether any process of the other role is alive, all closed,
            /// dead, or none attached yet.
            ///
            /// # Example
            /// ```
            /// use shmkit::queue::{mpmc::{Consumer, Producer}, Peer};
            /// # let name = format!("doc-mpmc-peer-{}", std::process::id());
            /// let rx = Consumer::create(&name, 16, 64)?;
            /// assert_eq!(rx.peer(), Peer::NotYet);
            /// let a = Producer::open(&name)?;
            /// let b = Producer::open(&name)?;
            /// assert_eq!((rx.peer(), a.peer()), (Peer::Alive, Peer::Alive));
            /// drop(a);
            /// assert_eq!(rx.peer(), Peer::Alive); // b still produces
            /// drop(b);
            /// assert_eq!(rx.peer(), Peer::Closed);
            /// # Ok::<(), shmkit::Error>(())
            /// ```
            pub fn peer(&self) -> Peer {
                self.side.live.peer(&self.side.region)
            }

            /// This endpoint's id in its role (0 to 63).
            ///
            /// # Example
            /// ```
            /// use shmkit::queue::mpmc::{Consumer, Producer};
            /// # let name = format!("doc-mpmc-id-{}", std::process::id());
            /// let rx = Consumer::create(&name, 16, 64)?;
            /// let a = Producer::open(&name)?;
            /// let b = Producer::open(&name)?;
            /// assert_eq!((rx.id(), a.id(), b.id()), (0, 0, 1)); // per role
            /// drop(a);
            /// let c = Producer::open(&name)?;
            /// assert_eq!(c.id(), 0); // the lowest free id
            /// # Ok::<(), shmkit::Error>(())
            /// ```
            pub fn id(&self) -> u64 {
                self.side.id
            }
        }

        impl Drop for $t {
            fn drop(&mut self) {
                self.side.signal().unregister(self.side.wait);
                self.side.live.detach(&self.side.region);
                Signal::at(&self.side.region, NOT_EMPTY).notify();
                Signal::at(&self.side.region, NOT_FULL).notify();
                // The creator removes the lock files only once no endpoint
                // is left attached: a lock file that goes while its holder
                // lives makes a peer that first probes it afterwards judge
                // the holder dead (a missing file reads as gone) and free
                // the slot it is writing or reading. Files left behind by
                // endpoints still attached (or crashed) are orphans that
                // `shmkit gc` and `queue::remove` clean up.
                let others = [PRODUCER, CONSUMER].into_iter().any(|role| {
                    self.side.region.role_count(role).load(Ordering::SeqCst) != 0
                });
                if self.side.remove_locks && !others {
                    remove_role_locks(&self.side.region, &ROLES);
                    for reader in [false, true] {
                        for id in 0..MAX_IDS {
                            crate::os::remove_role_lock(
                                self.side.region.name(),
                                &id_role(reader, id),
                            );
                        }
                    }
                }
            }
        }
    };
}

endpoint_common!(Producer, false, "producer");
endpoint_common!(Consumer, true, "consumer");

impl Producer {
    /// Sends a copy of `msg`, waiting for a free slot as this endpoint's
    /// [`Wait`] says.
    ///
    /// # Errors
    /// [`Error::MessageTooLarge`]; [`Error::PeerDied`] / [`Error::Closed`] if
    /// the queue is full and no consumer is left; [`Error::Corrupted`].
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::mpmc::{Consumer, Producer};
    /// # let name = format!("doc-mpmc-send-{}", std::process::id());
    /// let mut rx = Consumer::create(&name, 16, 64)?;
    /// let mut tx = Producer::open(&name)?;
    /// for i in 0..3u8 {
    ///     tx.send(&[i; 4])?;
    /// }
    /// for i in 0..3u8 {
    ///     assert_eq!(rx.recv()?, [i; 4]); // in order, from one producer
    /// }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn send(&mut self, msg: &[u8]) -> Result<()> {
        self.send_inner(msg, None)
    }

    /// As [`send`](Self::send), giving up after `timeout`.
    ///
    /// # Errors
    /// As [`send`](Self::send), and [`Error::Timeout`].
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::mpmc::{Consumer, Producer};
    /// use std::time::Duration;
    /// # let name = format!("doc-mpmc-sendt-{}", std::process::id());
    /// let mut tx = Producer::create(&name, 2, 64)?; // two slots
    /// let mut rx = Consumer::open(&name)?;
    /// tx.send_timeout(b"a", Duration::from_secs(1))?;
    /// tx.send_timeout(b"b", Duration::from_secs(1))?;
    /// let full = tx.send_timeout(b"c", Duration::from_millis(10));
    /// assert!(matches!(full, Err(shmkit::Error::Timeout { .. })));
    /// assert_eq!(rx.recv()?, b"a");
    /// tx.send_timeout(b"c", Duration::from_secs(1))?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn send_timeout(&mut self, msg: &[u8], timeout: Duration) -> Result<()> {
        self.send_inner(msg, Some(timeout))
    }

    /// Sends a copy of `msg` if a slot is free now.
    ///
    /// # Errors
    /// As [`send`](Self::send), and [`Error::Full`].
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::mpmc::{Consumer, Producer};
    /// # let name = format!("doc-mpmc-trysend-{}", std::process::id());
    /// let mut tx = Producer::create(&name, 2, 64)?; // two slots
    /// let mut rx = Consumer::open(&name)?;
    /// tx.try_send(b"a")?;
    /// tx.try_send(b"b")?;
    /// assert!(matches!(tx.try_send(b"c"), Err(shmkit::Error::Full { .. })));
    /// assert_eq!(rx.recv()?, b"a");
    /// tx.try_send(b"c")?;
    /// assert_eq!((rx.recv()?, rx.recv()?), (b"b".to_vec(), b"c".to_vec()));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_send(&mut self, msg: &[u8]) -> Result<()> {
        self.check(msg)?;
        if try_enqueue(&self.side, msg)? {
            return Ok(());
        }
        Err(Error::Full {
            name: self.side.region.name().to_owned(),
        })
    }

    fn check(&self, msg: &[u8]) -> Result<()> {
        if msg.len() as u64 > self.side.max {
            return Err(Error::MessageTooLarge {
                name: self.side.region.name().to_owned(),
                len: msg.len() as u64,
                max: self.side.max,
            });
        }
        Ok(())
    }

    fn send_inner(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        self.check(msg)?;
        let side = &self.side;
        // A free slot now: no wait loop (its set-up was about a fifth of a
        // send and receive on one thread).
        if try_enqueue(side, msg)? {
            return Ok(());
        }
        wait_for(
            &side.region,
            side.wait,
            Signal::at(&side.region, NOT_FULL),
            timeout,
            || Ok(try_enqueue(side, msg)?.then_some(())),
            || side.live.peer(&side.region),
            "consumers",
        )
    }
}

/// What a [`WaitSet`](crate::WaitSet) needs of the MPMC endpoints: the
/// signal the other role wakes, and a look at the next slot that claims
/// nothing.
#[cfg(not(loom))]
impl Producer {
    /// The queue's name.
    pub(crate) fn queue_name(&self) -> &str {
        self.side.region.name()
    }

    /// The `not_full` signal, which consumers wake after each take.
    pub(crate) fn room_signal(&self) -> Signal<'_> {
        Signal::at(&self.side.region, NOT_FULL)
    }

    /// Whether [`try_send`](Self::try_send) may find a free slot now: `false`
    /// only where it would report the queue full. A slot held by a dead
    /// process is freed here, as `try_send` would.
    pub(crate) fn has_room(&self) -> Result<bool> {
        let side = &self.side;
        let pos = side.index(ENQUEUE)?;
        // SYNC(slot): Acquire, as in `try_enqueue_once`.
        let w = side.seq(pos).load(Ordering::Acquire);
        side.region.check_mapped()?;
        let prev = pos.wrapping_sub(side.slots);
        if pos >= side.slots && w == prev + 1 {
            return Ok(false);
        }
        if pos >= side.slots && w & BUSY != 0 && w & POS_MASK == prev {
            return Ok(side.free_if_dead(prev, w));
        }
        Ok(true)
    }
}

#[cfg(not(loom))]
impl Consumer {
    /// The queue's name.
    pub(crate) fn queue_name(&self) -> &str {
        self.side.region.name()
    }

    /// The `not_empty` signal, which producers wake after each message.
    pub(crate) fn message_signal(&self) -> Signal<'_> {
        Signal::at(&self.side.region, NOT_EMPTY)
    }

    /// Whether [`try_recv`](Self::try_recv) may find a message now: `false`
    /// only where it would report the queue empty. A slot held by a dead
    /// process is freed here, as `try_recv` would.
    pub(crate) fn has_message(&self) -> Result<bool> {
        let side = &self.side;
        let pos = side.index(DEQUEUE)?;
        // SYNC(slot): Acquire, as in `try_dequeue_once`.
        let w = side.seq(pos).load(Ordering::Acquire);
        side.region.check_mapped()?;
        if w == pos {
            return Ok(false);
        }
        let prev = pos.wrapping_sub(side.slots);
        if pos >= side.slots && w & (BUSY | READER) == BUSY | READER && w & POS_MASK == prev {
            return Ok(side.free_if_dead(prev, w));
        }
        if w & (BUSY | READER) == BUSY && w & POS_MASK == pos {
            return Ok(side.free_if_dead(pos, w));
        }
        Ok(true)
    }
}

/// One attempt to claim the slot at `enqueue` and write `msg` into it.
/// `Ok(false)` if the queue is full.
fn try_enqueue(side: &Side, msg: &[u8]) -> Result<bool> {
    let done = try_enqueue_once(side, msg);
    // What a page lost to a truncation read (zeros) is not the queue's.
    side.region.check_mapped()?;
    done
}

#[inline(always)]
fn try_enqueue_once(side: &Side, msg: &[u8]) -> Result<bool> {
    loop {
        let pos = side.index(ENQUEUE)?;
        let seq = side.seq(pos);
        // SYNC(slot): Acquire, pairs with the consumer's Release that frees
        // the slot (its reads are done before we write).
        let w = seq.load(Ordering::Acquire);
        if w == pos {
            let claim = busy(false, side.id, pos);
            if seq
                .compare_exchange(w, claim, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            failpoint::hit("mpmc-after-claim");
            let _ = side.region.u64(ENQUEUE).compare_exchange(
                pos,
                pos + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
            let slot = side.slot(pos);
            side.region
                .u32(slot + 8)
                .store(msg.len() as u32, Ordering::Relaxed);
            let half = msg.len() / 2;
            side.region.store(slot + SLOT_HEADER as usize, &msg[..half]);
            failpoint::hit("mpmc-mid-write");
            side.region
                .store(slot + SLOT_HEADER as usize + half, &msg[half..]);
            failpoint::hit("mpmc-before-publish");
            // SYNC(slot): Release publishes the message; pairs with the
            // consumer's Acquire load of `seq`. A plain store: nobody else
            // writes a slot we claimed while we live, since only a claim
            // whose id lock is free is ever freed (`free_if_dead`,
            // `free_predecessors_slots`) and we hold ours; where ids are no
            // locks nothing is freed at all. (A compare-exchange here waited
            // for the slot's line, which consumers poll, to come back: one
            // producer to one consumer streamed 11 M/s of 64 B, now 17.)
            seq.store(pos + 1, Ordering::Release);
            Signal::at(&side.region, NOT_EMPTY).notify();
            return Ok(true);
        }
        let claimed_or_done = w == pos + 1 || (w & (BUSY | READER) == BUSY && w & POS_MASK == pos);
        if claimed_or_done || w == pos + side.slots {
            // Another producer has this position (or consumers are past it):
            // help `enqueue` along.
            let _ = side.region.u64(ENQUEUE).compare_exchange(
                pos,
                pos + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
            continue;
        }
        let prev = pos.wrapping_sub(side.slots);
        if pos >= side.slots && w == prev + 1 {
            return Ok(false); // full: last lap's message is unread
        }
        if pos >= side.slots && w & BUSY != 0 && w & POS_MASK == prev {
            // A producer is still writing last lap's message, or a consumer
            // reading it: full for now; if that process died, free the slot.
            if side.free_if_dead(prev, w) {
                continue;
            }
            return Ok(false);
        }
        // Re-read `enqueue`: if it moved, the slot word was stale.
        if side.index(ENQUEUE)? != pos {
            continue;
        }
        return Err(side.corrupt(format!("slot of position {pos} holds sequence word {w:#x}")));
    }
}

impl Consumer {
    /// Receives the next message by copy, waiting as this endpoint's
    /// [`Wait`] says.
    ///
    /// # Errors
    /// [`Error::PeerDied`] / [`Error::Closed`] if the queue is empty and no
    /// producer is left; [`Error::Corrupted`].
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::mpmc::{Consumer, Producer};
    /// # let name = format!("doc-mpmc-recv-{}", std::process::id());
    /// let mut rx = Consumer::create(&name, 16, 64)?;
    /// // Producers opened first: a consumer whose producers have all closed
    /// // stops waiting.
    /// let workers = (0..2u8)
    ///     .map(|w| {
    ///         let mut tx = Producer::open(&name)?;
    ///         Ok(std::thread::spawn(move || tx.send(&[w])))
    ///     })
    ///     .collect::<shmkit::Result<Vec<_>>>()?;
    /// let mut got = vec![rx.recv()?, rx.recv()?]; // waits for both
    /// got.sort();
    /// assert_eq!(got, [[0], [1]]);
    /// for w in workers {
    ///     w.join().unwrap()?;
    /// }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn recv(&mut self) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.recv_inner(&mut v, None)?;
        Ok(v)
    }

    /// As [`recv`](Self::recv), into `buf` (cleared first).
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::mpmc::{Consumer, Producer};
    /// # let name = format!("doc-mpmc-recvinto-{}", std::process::id());
    /// let mut rx = Consumer::create(&name, 16, 64)?;
    /// let mut tx = Producer::open(&name)?;
    /// let mut buf = Vec::with_capacity(64);
    /// for msg in [&b"long message"[..], b"short"] {
    ///     tx.send(msg)?;
    ///     rx.recv_into(&mut buf)?; // cleared first, allocation kept
    ///     assert_eq!(buf, msg);
    /// }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn recv_into(&mut self, buf: &mut Vec<u8>) -> Result<()> {
        self.recv_inner(buf, None)
    }

    /// As [`recv`](Self::recv), giving up after `timeout`.
    ///
    /// # Errors
    /// As [`recv`](Self::recv), and [`Error::Timeout`].
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::mpmc::{Consumer, Producer};
    /// use std::time::Duration;
    /// # let name = format!("doc-mpmc-recvt-{}", std::process::id());
    /// let mut rx = Consumer::create(&name, 16, 64)?;
    /// let mut tx = Producer::open(&name)?;
    /// let empty = rx.recv_timeout(Duration::from_millis(10));
    /// assert!(matches!(empty, Err(shmkit::Error::Timeout { .. })));
    /// tx.send(b"in time")?;
    /// assert_eq!(rx.recv_timeout(Duration::from_secs(1))?, b"in time");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.recv_inner(&mut v, Some(timeout))?;
        Ok(v)
    }

    /// The next message if there is one.
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::mpmc::{Consumer, Producer};
    /// # let name = format!("doc-mpmc-tryrecv-{}", std::process::id());
    /// let mut rx = Consumer::create(&name, 16, 64)?;
    /// let mut tx = Producer::open(&name)?;
    /// assert_eq!(rx.try_recv()?, None);
    /// tx.send(b"ready")?;
    /// assert_eq!(rx.try_recv()?, Some(b"ready".to_vec()));
    /// assert_eq!(rx.try_recv()?, None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_recv(&mut self) -> Result<Option<Vec<u8>>> {
        let mut v = Vec::new();
        Ok(try_dequeue(&self.side, &mut v)?.then_some(v))
    }

    /// Receives the next message into `buf` if there is one (cleared
    /// first, its allocation kept): `true`; `false` if the queue is empty,
    /// with `buf` as it was. The non-blocking form of
    /// [`recv_into`](Self::recv_into).
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::mpmc::{Consumer, Producer};
    /// # let name = format!("doc-mpmc-tryrecvinto-{}", std::process::id());
    /// let mut rx = Consumer::create(&name, 16, 64)?;
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
        try_dequeue(&self.side, buf)
    }

    fn recv_inner(&mut self, buf: &mut Vec<u8>, timeout: Option<Duration>) -> Result<()> {
        let side = &self.side;
        // A message there now: no wait loop, as in `send_inner`.
        if try_dequeue(side, buf)? {
            return Ok(());
        }
        wait_for(
            &side.region,
            side.wait,
            Signal::at(&side.region, NOT_EMPTY),
            timeout,
            || Ok(try_dequeue(side, buf)?.then_some(())),
            || side.live.peer(&side.region),
            "producers",
        )
    }
}

/// One attempt to claim the slot at `dequeue` and copy its message into
/// `buf`. `Ok(false)` if the queue is empty.
fn try_dequeue(side: &Side, buf: &mut Vec<u8>) -> Result<bool> {
    let done = try_dequeue_once(side, buf);
    // What a page lost to a truncation read (zeros) is not the queue's.
    side.region.check_mapped()?;
    done
}

#[inline(always)]
fn try_dequeue_once(side: &Side, buf: &mut Vec<u8>) -> Result<bool> {
    loop {
        let pos = side.index(DEQUEUE)?;
        let seq = side.seq(pos);
        // SYNC(slot): Acquire, pairs with the producer's Release of `pos + 1`.
        let w = seq.load(Ordering::Acquire);
        if w == pos + 1 {
            let claim = busy(true, side.id, pos);
            if seq
                .compare_exchange(w, claim, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            failpoint::hit("mpmc-after-take");
            let _ = side.region.u64(DEQUEUE).compare_exchange(
                pos,
                pos + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
            let slot = side.slot(pos);
            let len = u64::from(side.region.u32(slot + 8).load(Ordering::Relaxed));
            let ok = len <= side.max;
            if ok {
                buf.clear();
                buf.resize(len as usize, 0);
                side.region.load(slot + SLOT_HEADER as usize, buf);
            }
            failpoint::hit("mpmc-before-release");
            // SYNC(slot): Release frees the slot for the next lap's producer;
            // a plain store, as the producer's publish.
            seq.store(pos + side.slots, Ordering::Release);
            Signal::at(&side.region, NOT_FULL).notify();
            if !ok {
                return Err(side.corrupt(format!("message {pos} claims {len} bytes")));
            }
            return Ok(true);
        }
        let reader_here = w & (BUSY | READER) == BUSY | READER && w & POS_MASK == pos;
        // The slot is already on its next lap: a producer died holding the
        // claim of `pos`, another freed it on its way round before any
        // consumer got here (`free_if_dead`) and has claimed or filled it
        // for `pos + slots`. Nothing was published for `pos`: skip it.
        let next = pos + side.slots;
        let next_lap = w == next + 1 || (w & (BUSY | READER) == BUSY && w & POS_MASK == next);
        if reader_here || w == next || next_lap {
            // Another consumer has it, or has finished with it, or nothing
            // is left at it: help along.
            let _ = side.region.u64(DEQUEUE).compare_exchange(
                pos,
                pos + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
            continue;
        }
        if w == pos {
            return Ok(false); // empty
        }
        let prev = pos.wrapping_sub(side.slots);
        if pos >= side.slots && w & (BUSY | READER) == BUSY | READER && w & POS_MASK == prev {
            // A consumer is still copying last lap's message out: nothing
            // written for this lap yet. If it died, free the slot.
            if side.free_if_dead(prev, w) {
                continue;
            }
            return Ok(false);
        }
        if w & (BUSY | READER) == BUSY && w & POS_MASK == pos {
            // A producer is writing it; if it died, the slot is skipped.
            if side.free_if_dead(pos, w) {
                continue;
            }
            return Ok(false);
        }
        if side.index(DEQUEUE)? != pos {
            continue;
        }
        return Err(side.corrupt(format!("slot of position {pos} holds sequence word {w:#x}")));
    }
}

/// Fuzzing hooks (`shmkit::__fuzz`), as in `spsc`.
#[cfg(all(feature = "fuzzing", not(loom)))]
pub(crate) mod fuzz {
    use super::*;

    /// A consumer attached as [`Consumer::open`] would, to an image, and a
    /// second handle on its memory for scribbling.
    pub(crate) fn consumer(image: &[u8], len: usize) -> Result<(Consumer, Region)> {
        let (region, g) = Region::heap_image(image, len, Kind::Mpmc)?;
        let other = region.share_heap();
        let opts = QueueOptions::default().wait(Wait::Spin);
        let side = Side::attach(region, g, &opts, true)?;
        Ok((Consumer { side }, other))
    }

    /// The image of a queue after `msgs` were sent and the first
    /// `consumed` of them received.
    pub(crate) fn seed(slots: usize, max: usize, msgs: &[&[u8]], consumed: usize) -> Vec<u8> {
        let g = Side::geometry(slots, max);
        let o = QueueOptions::default();
        let r = Region::heap(g, "seed", &|r| init_slots(r, &g));
        let mut p = Producer {
            side: Side::attach(r.share_heap(), g, &o, false).unwrap(),
        };
        let mut c = Consumer {
            side: Side::attach(r.share_heap(), g, &o, true).unwrap(),
        };
        for (i, m) in msgs.iter().enumerate() {
            p.try_send(m).unwrap();
            if i < consumed {
                c.try_recv().unwrap();
            }
        }
        r.image()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn heap(slots: usize, max: usize) -> (Region, Geometry) {
        let g = Side::geometry(slots, max);
        (Region::heap(g, "heap", &|r| init_slots(r, &g)), g)
    }

    fn pair(r: &Region, g: Geometry) -> (Producer, Consumer) {
        let o = QueueOptions::default();
        (
            Producer {
                side: Side::attach(r.share_heap(), g, &o, false).unwrap(),
            },
            Consumer {
                side: Side::attach(r.share_heap(), g, &o, true).unwrap(),
            },
        )
    }

    #[test]
    fn every_message_exactly_once_with_two_producers_and_two_consumers() {
        let per = if cfg!(miri) { 50 } else { 20_000u32 };
        let (r, g) = heap(8, 8);
        let (p1, c1) = pair(&r, g);
        let (p2, c2) = pair(&r, g);
        let seen = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for (k, mut p) in [(0u32, p1), (1, p2)] {
                s.spawn(move || {
                    for i in 0..per {
                        p.send(&(k << 31 | i).to_le_bytes()).unwrap();
                    }
                });
            }
            for mut c in [c1, c2] {
                let seen = &seen;
                s.spawn(move || {
                    let mut mine = Vec::new();
                    loop {
                        match c.recv_timeout(Duration::from_millis(500)) {
                            Ok(m) => mine.push(u32::from_le_bytes(m[..4].try_into().unwrap())),
                            Err(Error::Closed { .. }) => break,
                            Err(e) => panic!("{e}"),
                        }
                    }
                    // Each producer's messages arrive in order at each consumer.
                    for k in 0..2 {
                        let v: Vec<_> = mine.iter().filter(|&&x| x >> 31 == k).collect();
                        assert!(v.windows(2).all(|w| w[0] < w[1]));
                    }
                    seen.lock().unwrap().extend(mine);
                });
            }
        });
        let mut all = seen.into_inner().unwrap();
        all.sort_unstable();
        let want: Vec<u32> = (0..2)
            .flat_map(|k| (0..per).map(move |i| k << 31 | i))
            .collect();
        assert_eq!(all.len(), want.len());
        assert!(all == want);
    }

    #[test]
    fn full_empty_and_scribbled_words() {
        let (r, g) = heap(2, 8);
        let (mut p, mut c) = pair(&r, g);
        assert_eq!(c.try_recv().unwrap(), None);
        p.try_send(b"a").unwrap();
        p.try_send(b"b").unwrap();
        assert!(matches!(p.try_send(b"c"), Err(Error::Full { .. })));
        assert!(matches!(
            p.try_send(&[0; 9]),
            Err(Error::MessageTooLarge { .. })
        ));
        assert_eq!(c.try_recv().unwrap().unwrap(), b"a");
        // A scribbled sequence word, length and index.
        let slot = c.side.slot(1);
        r.u32(slot + 8).store(1 << 20, Ordering::Relaxed);
        assert!(matches!(c.try_recv(), Err(Error::Corrupted { .. })));
        r.u64(c.side.slot(2)).store(0xdead, Ordering::Relaxed);
        p.try_send(b"d").ok();
        assert!(matches!(
            c.try_recv(),
            Err(Error::Corrupted { .. }) | Ok(None)
        ));
        r.u64(DEQUEUE).store(u64::MAX, Ordering::Relaxed);
        assert!(matches!(c.try_recv(), Err(Error::Corrupted { .. })));
    }
}

/// Loom model of the slot claims (`RUSTFLAGS="--cfg loom"`): two producers
/// and one consumer on a 2-slot ring; each message is received exactly once.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;

    #[test]
    fn two_producers_each_message_exactly_once() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let g = Side::geometry(2, 8);
            let r = Region::heap(g, "heap", &|r| init_slots(r, &g));
            let o = QueueOptions::default();
            let mut threads = Vec::new();
            for k in 0..2u8 {
                let mut p = Producer {
                    side: Side::attach(r.share_heap(), g, &o, false).unwrap(),
                };
                threads.push(loom::thread::spawn(move || loop {
                    match p.try_send(&[k]) {
                        Ok(()) => return,
                        Err(Error::Full { .. }) => loom::thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                }));
            }
            let mut c = Consumer {
                side: Side::attach(r.share_heap(), g, &o, true).unwrap(),
            };
            let mut got = Vec::new();
            while got.len() < 2 {
                match c.try_recv().unwrap() {
                    Some(m) => got.push(m[0]),
                    None => loom::thread::yield_now(),
                }
            }
            for t in threads {
                t.join().unwrap();
            }
            got.sort_unstable();
            assert_eq!(got, [0, 1]);
            assert_eq!(c.try_recv().unwrap(), None);
        });
    }

    /// Sends each of `msgs` on `p`, yielding while the queue is full.
    fn send_all(p: &mut Producer, msgs: &[u8]) {
        for &m in msgs {
            loop {
                match p.try_send(&[m]) {
                    Ok(()) => break,
                    Err(Error::Full { .. }) => loom::thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
        }
    }

    /// Receives `n` messages on `c`, yielding while the queue is empty.
    fn recv_n(c: &mut Consumer, n: usize) -> Vec<u8> {
        let mut got = Vec::new();
        while got.len() < n {
            match c.try_recv() {
                Ok(Some(m)) => got.push(m[0]),
                Ok(None) => loom::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        got
    }

    /// A producer dies holding the claim of position 1 (failpoint
    /// `mpmc-before-publish`) on a 2-slot ring, and a second producer laps
    /// it while the consumer is slow: it frees the dead claim and claims and
    /// fills the slot for position 3, possibly before the consumer reaches
    /// 1. The consumer skips 1 and receives every published message exactly
    /// once, in order.
    #[test]
    fn a_dead_producers_claim_lapped_before_the_consumer_reaches_it_is_skipped() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let g = Side::geometry(2, 8);
            let r = Region::heap(g, "heap", &|r| init_slots(r, &g));
            let o = QueueOptions::default();
            let attach = |reader| Side::attach(r.share_heap(), g, &o, reader).unwrap();
            let mut dead = Producer {
                side: attach(false),
            };
            dead.try_send(b"a").unwrap();
            // Its claim of position 1, `enqueue` moved past it, then death.
            let dead_id = dead.side.id;
            dead.side
                .seq(1)
                .store(busy(false, dead_id, 1), Ordering::Release);
            r.u64(ENQUEUE).store(2, Ordering::Release);
            drop(dead);
            let mut p = Producer {
                side: attach(false),
            };
            let mut c = Consumer { side: attach(true) };
            p.side.dead[PRODUCER] = 1 << dead_id;
            c.side.dead[PRODUCER] = 1 << dead_id;
            let t = loom::thread::spawn(move || send_all(&mut p, b"bc"));
            let got = recv_n(&mut c, 3);
            t.join().unwrap();
            assert_eq!(got, b"abc");
            assert_eq!(c.try_recv().unwrap(), None);
        });
    }

    /// The mirror: a consumer dies holding the claim of position 0 before
    /// moving `dequeue` (failpoint `mpmc-after-take`); a second consumer
    /// and a producer go on round the ring, and whichever comes to the slot
    /// a lap on frees it. The dead consumer's message is lost (at most once
    /// across consumer crashes); every later one arrives exactly once.
    #[test]
    fn a_dead_consumers_claim_is_freed_and_the_ring_goes_on() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let g = Side::geometry(2, 8);
            let r = Region::heap(g, "heap", &|r| init_slots(r, &g));
            let o = QueueOptions::default();
            let attach = |reader| Side::attach(r.share_heap(), g, &o, reader).unwrap();
            let mut p = Producer {
                side: attach(false),
            };
            p.try_send(b"a").unwrap();
            let dead = Consumer { side: attach(true) };
            let dead_id = dead.side.id;
            dead.side
                .seq(0)
                .store(busy(true, dead_id, 0), Ordering::Release);
            drop(dead);
            let mut c = Consumer { side: attach(true) };
            p.side.dead[CONSUMER] = 1 << dead_id;
            c.side.dead[CONSUMER] = 1 << dead_id;
            let t = loom::thread::spawn(move || send_all(&mut p, b"bc"));
            let got = recv_n(&mut c, 2);
            t.join().unwrap();
            assert_eq!(got, b"bc");
            assert_eq!(c.try_recv().unwrap(), None);
        });
    }
}
