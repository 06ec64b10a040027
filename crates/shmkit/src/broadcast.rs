//! Publish/subscribe: one [`Publisher`], any number of [`Subscriber`]s in
//! other processes, each with its own cursor.
//!
//! The publisher never waits for subscribers: it overwrites the oldest slot.
//! A subscriber that falls more than a ring behind gets
//! [`Error::Lagged`](crate::Error) with the number of messages it missed and
//! goes on from the oldest message still there, as Aeron and the LMAX
//! Disruptor report lapping. A subscriber that joins late starts at the
//! newest message, or at the oldest one still in the ring after
//! [`Subscriber::rewind`].
//!
//! ```
//! use shmkit::broadcast::{Publisher, Subscriber};
//! # let name = format!("doc-bc-{}", std::process::id());
//! let mut tx = Publisher::create(&name, 4, 64)?;   // 4 slots of up to 64 bytes
//! tx.send(b"old")?;
//! tx.send(b"new")?;
//! let mut rx = Subscriber::open(&name)?;            // starts at the newest
//! assert_eq!(rx.recv()?, b"new");
//! for i in 0..10u8 {
//!     tx.send(&[i])?;                               // never blocks
//! }
//! // Messages 2..=11 went out; the ring keeps 4, and the oldest of those is
//! // about to be overwritten, so the subscriber goes on at message 9.
//! assert!(matches!(rx.recv(), Err(shmkit::Error::Lagged { missed: 7, .. })));
//! assert_eq!(rx.recv()?, [7]);
//! # Ok::<(), shmkit::Error>(())
//! ```
//!
//! # Design: a ring of seqlocked slots
//! Each slot is a seqlock (Lameter, "Effective synchronization on Linux/NUMA
//! systems", 2005; Boehm, "Can seqlocks get along with programming language
//! memory models?", 2012) whose sequence word also names the message in it,
//! so a reader knows both whether its copy is whole and which message it
//! holds. Payloads are copied out with atomic loads (a plain copy racing the
//! writer would be a data race), in whole 8-byte words on both sides, so
//! that the racing accesses have one size (the slot stride is a multiple of
//! 64, so the padded word always fits).
//!
//! | offset | what                                                    |
//! |--------|---------------------------------------------------------|
//! | 0      | common queue header (`capacity` = slot count, power of 2) |
//! | 64     | role states: publisher u32, subscribers u32             |
//! | 128    | `next` u64: the number of the next message to publish   |
//! | 136    | `gaps` u32: the publisher's gap total (see below)        |
//! | 256    | `ids` u32: one more than the highest subscriber id taken  |
//! | 384    | wake words (subscribers sleep here)                     |
//! | 512    | slots, `slot_stride` bytes each (a multiple of 64)      |
//!
//! A slot: `seq` u64 at 0, `len` u32 at 8, `gaps` u32 at 12, payload at 16.
//!
//! | `seq`      | meaning                                        |
//! |------------|------------------------------------------------|
//! | 0          | never written                                  |
//! | `2n + 1`   | message `n` is being written                   |
//! | `2n + 2`   | message `n` is complete                        |
//!
//! Message `n` lives in slot `n % slots`. A reader with cursor `c` finds in
//! its slot `seq < 2c + 2` (not published yet: wait), `seq == 2c + 2` (copy,
//! then re-check `seq`), or `seq > 2c + 2` (lapped: read `next`, validate
//! it, jump to the oldest message still there). `next`, `seq` and `len` are
//! each read once per use and validated: garbage gives
//! [`Error::Corrupted`](crate::Error), never an out-of-bounds copy.
//!
//! # Gaps: messages missed before this ring
//! A publisher that re-publishes another topic (a bridge from another host)
//! may itself have missed messages. [`Publisher::send_after_gap`] says so:
//! each slot's `gaps` is the running total, modulo 2^32, of the messages
//! declared missed up to and including its own. A subscriber keeps the
//! total of the last message it read; a message whose total differs gives
//! [`Error::Lagged`](crate::Error) with the difference first (its cursor
//! stays), then the message. Because the total is cumulative, gaps declared
//! on messages the subscriber was lapped past are counted too: the `missed`
//! it is told, summed, is exact as long as fewer than 2^32 messages are
//! declared missed between two of its reads. A subscriber that attaches
//! after message 0 (or rewinds past it) takes the first message it reads as
//! its baseline: what was missed before it came is not its loss. The
//! publisher also keeps its total in the header, so that gaps declared after
//! the last message ([`Publisher::declare_gap`]) reach subscribers too: one
//! that finds the publisher gone compares its baseline with that total and
//! reports the difference as `Lagged` before `Closed` or `PeerDied`. Since
//! `gaps`, the broadcast format is at version 2; a ring of version 1 is
//! refused with [`Error::FormatVersion`](crate::Error).
//!
//! # Counting subscribers
//! Each subscriber holds, for its lifetime, the exclusive lock of one
//! subscriber id (0 to 1023, the lowest one free, `subscriber.ID`) besides
//! the shared lock of the role. [`Publisher::subscribers`] probes the ids
//! below `ids` and counts the locks held: the OS drops a dead process's
//! locks, so a subscriber killed with SIGKILL stops counting at once. `ids`
//! is written by peers, so a scribbler can hide subscribers from the count
//! (never more than that: it is clamped to 1024). Where there are no lock
//! files (heap memory in tests) the attach count stands in.
//!
//! # Crashes
//! A publisher killed while writing leaves its slot at `2n + 1` and `next`
//! at `n`: subscribers see nothing new, learn that it died
//! ([`Error::PeerDied`](crate::Error)), and a new publisher rewrites message
//! `n` whole. One killed after publishing message `n` (slot at `2n + 2`) but
//! before advancing `next` has delivered it: a new publisher goes on at
//! `n + 1`. A subscriber's cursor is its own: killing one affects no other.

use std::time::Duration;

use crate::os::{CreatorState, RoleLock};
use crate::queue::atomic::{fence, Ordering};
use crate::queue::region::{remove_role_locks, Geometry, Kind, Liveness, Region, HEADER_END};
use crate::queue::wait::{wait_for, Signal};
use crate::queue::{Peer, QueueOptions, Wait};
use crate::{failpoint, Error, Result};

/// The lock file role of subscriber id `id`.
fn subscriber_role(id: u32) -> String {
    format!("{}.{id}", ROLES[SUBSCRIBER])
}

const ROLES: [&str; 2] = ["publisher", "subscriber"];
const PUBLISHER: usize = 0;
const SUBSCRIBER: usize = 1;
pub(crate) const NEXT: usize = 128;
/// One more than the highest subscriber id taken (see the module docs).
const IDS: usize = 256;
/// Subscriber ids, and so live subscribers, at most.
const MAX_SUBSCRIBER_IDS: u32 = 1024;
const SIGNAL: usize = 384;
/// Slot header: `seq` u64, `len` u32, `gaps` u32.
const SLOT_HEADER: u64 = 16;
/// Offset of `gaps` in a slot (see the module docs).
const GAPS: usize = 12;
/// The publisher's gap total, in the header.
const GAPS_TOTAL: usize = 136;
const MAX_SLOTS: u64 = 1 << 24;
const MAX_MESSAGE: u64 = 1 << 30;

/// The ring with its validated geometry.
struct Ring {
    region: Region,
    slots: u64,
    max: u64,
    stride: u64,
    data: usize,
    remove_locks: bool,
}

impl Ring {
    fn new(region: Region, g: Geometry, opts: &QueueOptions) -> Ring {
        let remove_locks = region.segment().is_some_and(|s| s.created()) && !opts.persist;
        Ring {
            region,
            slots: g.capacity,
            max: g.max_message,
            stride: g.slot_stride,
            data: g.data_offset as usize,
            remove_locks,
        }
    }

    fn geometry(slots: usize, max_message: usize) -> Geometry {
        let slots = (slots as u64).clamp(1, MAX_SLOTS).next_power_of_two();
        let max = (max_message as u64).min(MAX_MESSAGE);
        Geometry {
            kind: Kind::Broadcast,
            capacity: slots,
            max_message: max,
            data_offset: HEADER_END as u64,
            slot_stride: (SLOT_HEADER + max).div_ceil(64) * 64,
            type_hash: 0,
        }
    }

    fn check(region: &Region, g: &Geometry) -> Result<()> {
        if g.capacity > MAX_SLOTS
            || g.max_message > MAX_MESSAGE
            || g.slot_stride % 64 != 0
            || g.slot_stride < SLOT_HEADER + g.max_message
        {
            return Err(region.corrupted(format!(
                "{} slots of {} bytes for messages of up to {}",
                g.capacity, g.slot_stride, g.max_message
            )));
        }
        Ok(())
    }

    /// Whether this process created the ring's segment.
    fn created(&self) -> bool {
        self.region.segment().is_some_and(|s| s.created())
    }

    /// Segment offset of the slot of message `n`.
    #[inline]
    fn slot(&self, n: u64) -> usize {
        self.data + ((n & (self.slots - 1)) * self.stride) as usize
    }
}

/// Opens a broadcast ring's region and checks its geometry, waiting for its
/// creator as `opts` says.
fn open_region(name: &str, opts: &QueueOptions) -> Result<(Region, Geometry)> {
    let (region, g) =
        crate::queue::open_waiting(opts, || Region::open(name, Kind::Broadcast, opts))?;
    Ring::check(&region, &g)?;
    Ok((region, g))
}

/// Opens a broadcast ring's region, or creates it (see
/// `queue::open_or_create`).
fn open_or_create_region(
    name: &str,
    slots: usize,
    max_message: usize,
    opts: &QueueOptions,
) -> Result<(Region, Geometry)> {
    let g = Ring::geometry(slots, max_message);
    let (region, g) = crate::queue::open_or_create(
        name,
        || Region::create(name, g, opts, &|_| {}).map(|r| (r, g)),
        || Region::open(name, Kind::Broadcast, opts),
    )?;
    Ring::check(&region, &g)?;
    Ok((region, g))
}

/// The publishing end of a broadcast ring. At most one live process holds
/// it. See the [module docs](self).
pub struct Publisher {
    ring: Ring,
    live: Liveness,
    /// The number of the next message: this endpoint's own, never re-read.
    next: u64,
    /// The running total of messages declared missed (`gaps`, see the
    /// module docs): this endpoint's own.
    gaps: u32,
    /// Set by [`abandon`](Self::abandon): the drop leaves as a death.
    abandoned: bool,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("name", &self.ring.region.name())
            .field("slots", &self.ring.slots)
            .field("next", &self.next)
            .finish()
    }
}

impl Publisher {
    /// Creates a broadcast ring of `slots` slots (rounded up to a power of
    /// two) for messages of up to `max_message` bytes, and attaches as its
    /// publisher.
    ///
    /// # Errors
    /// As [`Segment::create`](crate::Segment::create).
    ///
    /// # Example
    /// ```
    /// use shmkit::broadcast::{Publisher, Subscriber};
    /// # let name = format!("doc-bc-create-{}", std::process::id());
    /// let mut tx = Publisher::create(&name, 4, 64)?; // 4 slots of up to 64 bytes
    /// let mut a = Subscriber::open(&name)?;         // in other processes, usually
    /// let mut b = Subscriber::open(&name)?;
    /// tx.send(b"to all")?;
    /// assert_eq!(a.recv()?, b"to all"); // every subscriber gets every message
    /// assert_eq!(b.recv()?, b"to all");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create(name: &str, slots: usize, max_message: usize) -> Result<Publisher> {
        Self::create_with(name, slots, max_message, &QueueOptions::default())
    }

    /// As [`create`](Self::create), with options (the wait strategy does not
    /// matter: a publisher never waits).
    ///
    /// # Errors
    /// As [`create`](Self::create).
    ///
    /// # Example
    /// ```
    /// use shmkit::broadcast::{Publisher, Subscriber};
    /// use shmkit::queue::Options;
    /// # let name = format!("doc-bc-createwith-{}", std::process::id());
    /// let opts = Options::default().mode(0o600); // this user only (the default)
    /// let mut tx = Publisher::create_with(&name, 8, 64, &opts)?;
    /// let mut rx = Subscriber::open(&name)?;
    /// tx.send(b"private")?;
    /// assert_eq!(rx.recv()?, b"private");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create_with(
        name: &str,
        slots: usize,
        max_message: usize,
        opts: &QueueOptions,
    ) -> Result<Publisher> {
        let g = Ring::geometry(slots, max_message);
        Publisher::attach(Ring::new(Region::create(name, g, opts, &|_| {})?, g, opts))
    }

    /// Opens a broadcast ring as its publisher (after a previous one died or
    /// closed), continuing its message numbers.
    ///
    /// # Errors
    /// As [`Segment::open`](crate::Segment::open); [`Error::RoleTaken`] if a
    /// live process publishes; [`Error::RoleUnverifiable`] if another
    /// publisher holds the role and whether it lives cannot be told (a
    /// liveness lock file that cannot be used); [`Error::NotTyped`] or [`Error::Corrupted`]
    /// if the segment is no intact broadcast ring.
    ///
    /// # Example
    /// ```
    /// use shmkit::broadcast::{Publisher, Subscriber};
    /// # let name = format!("doc-bc-popen-{}", std::process::id());
    /// let mut rx = Subscriber::open_or_create(&name, 8, 64)?; // keeps the ring
    /// let mut first = Publisher::open(&name)?;
    /// first.send(b"0")?;
    /// // One publisher at a time:
    /// assert!(matches!(Publisher::open(&name), Err(shmkit::Error::RoleTaken { .. })));
    /// assert_eq!(rx.recv()?, b"0");
    /// drop(first);
    /// let mut second = Publisher::open(&name)?; // goes on with message 1
    /// second.send(b"1")?;
    /// assert_eq!(rx.recv()?, b"1");
    /// assert_eq!(rx.cursor(), 2);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open(name: &str) -> Result<Publisher> {
        Self::open_with(name, &QueueOptions::default())
    }

    /// As [`open`](Self::open), with options.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    ///
    /// # Example
    /// ```
    /// use shmkit::broadcast::{Publisher, Subscriber};
    /// use shmkit::queue::Options;
    /// use std::time::Duration;
    /// # let name = format!("doc-bc-popenwith-{}", std::process::id());
    /// let opts = Options::default().wait_for_creator(Duration::from_millis(20));
    /// // Nobody creates it within 20 ms:
    /// assert!(matches!(Publisher::open_with(&name, &opts), Err(shmkit::Error::NotFound { .. })));
    /// let mut rx = Subscriber::open_or_create(&name, 8, 64)?;
    /// let mut tx = Publisher::open_with(&name, &opts)?;
    /// tx.send(b"found")?;
    /// assert_eq!(rx.recv()?, b"found");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_with(name: &str, opts: &QueueOptions) -> Result<Publisher> {
        let (region, g) = open_region(name, opts)?;
        Publisher::attach(Ring::new(region, g, opts))
    }

    /// Opens the broadcast ring as its publisher, or creates it (as
    /// [`create`](Self::create)) if there is none. When processes race,
    /// exactly one creates and the others open once the ring is set up; an
    /// opened ring keeps its creator's geometry. [`created`](Self::created)
    /// tells which happened.
    ///
    /// # Errors
    /// As [`create`](Self::create) and [`open`](Self::open).
    ///
    /// # Example
    /// ```
    /// use shmkit::broadcast::{Publisher, Subscriber};
    /// # let name = format!("doc-bcooc-{}", std::process::id());
    /// let mut rx = Subscriber::open_or_create(&name, 8, 64)?; // may start first
    /// let mut tx = Publisher::open_or_create(&name, 8, 64)?;
    /// assert!(rx.created() && !tx.created());
    /// tx.send(b"first")?;
    /// assert_eq!(rx.recv()?, b"first");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create(name: &str, slots: usize, max_message: usize) -> Result<Publisher> {
        Self::open_or_create_with(name, slots, max_message, &QueueOptions::default())
    }

    /// As [`open_or_create`](Self::open_or_create), with options.
    ///
    /// # Errors
    /// As [`open_or_create`](Self::open_or_create).
    ///
    /// # Example
    /// ```
    /// use shmkit::broadcast::{Publisher, Subscriber};
    /// use shmkit::queue::{Options, Wait};
    /// # let name = format!("doc-bc-poocw-{}", std::process::id());
    /// let opts = Options::default().wait(Wait::Block);
    /// let mut tx = Publisher::open_or_create_with(&name, 8, 64, &opts)?;
    /// let mut rx = Subscriber::open_or_create_with(&name, 8, 64, &opts)?;
    /// assert!(tx.created() && !rx.created());
    /// tx.send(b"x")?;
    /// assert_eq!(rx.recv()?, b"x");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create_with(
        name: &str,
        slots: usize,
        max_message: usize,
        opts: &QueueOptions,
    ) -> Result<Publisher> {
        let (region, g) = open_or_create_region(name, slots, max_message, opts)?;
        Publisher::attach(Ring::new(region, g, opts))
    }

    /// Whether this endpoint created the ring (rather than opened it).
    ///
    /// # Example
    /// ```
    /// use shmkit::broadcast::{Publisher, Subscriber};
    /// # let name = format!("doc-bc-pcreated-{}", std::process::id());
    /// let rx = Subscriber::open_or_create(&name, 8, 64)?;
    /// let tx = Publisher::open_or_create(&name, 8, 64)?;
    /// assert!(rx.created());
    /// assert!(!tx.created());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn created(&self) -> bool {
        self.ring.created()
    }

    /// The ring's slot count (a power of two): how many messages it holds.
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-bcslots-{}", std::process::id());
    /// let tx = shmkit::broadcast::Publisher::create(&name, 100, 64)?;
    /// assert_eq!(tx.slots(), 128); // rounded up to a power of two
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn slots(&self) -> u64 {
        self.ring.slots
    }

    /// The largest message the ring carries, in bytes.
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-bcgeo{}-{}", line!(), std::process::id());
    /// let tx = shmkit::broadcast::Publisher::create(&name, 5, 100)?;
    /// let rx = shmkit::broadcast::Subscriber::open(&name)?;
    /// assert_eq!((tx.slots(), tx.max_message()), (8, 100));
    /// assert_eq!((rx.slots(), rx.max_message()), (8, 100));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn max_message(&self) -> u64 {
        self.ring.max
    }

    fn attach(ring: Ring) -> Result<Publisher> {
        // Check before attaching, so that an open refused for a scribbled
        // ring leaves no trace: an attached-then-gone publisher reads as a
        // dead one to the subscribers. A live publisher never writes a
        // `next` out of range, but attaching would be refused anyway, and
        // that is the error to give.
        if let Err(e) = Self::start(&ring) {
            let held = ring.region.segment().is_some()
                && ring.region.role_probe(ROLES[PUBLISHER]).probe_exclusive()
                    == CreatorState::Alive;
            return Err(if held {
                Error::RoleTaken {
                    name: ring.region.name().to_owned(),
                    role: ROLES[PUBLISHER],
                }
            } else {
                e
            });
        }
        let mut live = Liveness::attach(&ring.region, &ROLES, PUBLISHER, false, SUBSCRIBER, true)?;
        // Again under the role lock, with the value this endpoint keeps; a
        // failure now (a scribbler at work between the two) detaches cleanly.
        let mut next = match Self::start(&ring) {
            Ok(next) => next,
            Err(e) => {
                live.detach(&ring.region);
                return Err(e);
            }
        };
        // A publisher killed after publishing message `next` whole but
        // before advancing `next` (failpoint `broadcast-before-next`):
        // subscribers may have read that message, so it stays, and this
        // publisher goes on after it. Rewriting it under the same number
        // would make them skip the new message without a word.
        if ring.region.u64(ring.slot(next)).load(Ordering::Acquire) == 2 * next + 2 {
            next += 1;
            ring.region.u64(NEXT).store(next, Ordering::Release);
        }
        // Go on with the gap total of the last message published, so that
        // subscribers see no gap that was not declared.
        let gaps = ring.region.u32(GAPS_TOTAL).load(Ordering::Acquire);
        Ok(Publisher {
            ring,
            live,
            next,
            gaps,
            abandoned: false,
        })
    }

    /// Reads `next` once and validates it as a publisher's start; returns
    /// it.
    fn start(ring: &Ring) -> Result<u64> {
        let next = ring.region.u64(NEXT).load(Ordering::Acquire);
        if next > u64::MAX / 4 {
            return Err(ring
                .region
                .corrupted(format!("message number {next} is out of range")));
        }
        Ok(next)
    }

    /// In-process ring on heap memory (tests; Miri).
    #[cfg(test)]
    fn heap(slots: usize, max: usize) -> (Publisher, Region) {
        let g = Ring::geometry(slots, max);
        let opts = QueueOptions::default();
        let r = Region::heap(g, "heap", &|_| {});
        let other = r.share_heap();
        (Publisher::attach(Ring::new(r, g, &opts)).unwrap(), other)
    }

    /// The largest message.
    ///
    /// # Example
    /// ```
    /// use shmkit::broadcast::Publisher;
    /// # let name = format!("doc-bc-max-{}", std::process::id());
    /// let mut tx = Publisher::create(&name, 8, 100)?;
    /// assert_eq!(tx.max_message_len(), 100);
    /// tx.send(&[0; 100])?;
    /// assert!(matches!(
    ///     tx.send(&[0; 101]),
    ///     Err(shmkit::Error::MessageTooLarge { len: 101, max: 100, .. })
    /// ));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn max_message_len(&self) -> usize {
        self.ring.max as usize
    }

    /// Whether any subscriber is alive (closed, dead and never-attached are
    /// told apart as far as the role state allows).
    ///
    /// # Example
    /// ```
    /// use shmkit::broadcast::{Publisher, Subscriber};
    /// use shmkit::queue::Peer;
    /// # let name = format!("doc-bc-ppeer-{}", std::process::id());
    /// let tx = Publisher::create(&name, 8, 64)?;
    /// assert_eq!(tx.peer(), Peer::NotYet);
    /// let a = Subscriber::open(&name)?;
    /// let b = Subscriber::open(&name)?;
    /// assert_eq!(tx.peer(), Peer::Alive);
    /// drop(a);
    /// assert_eq!(tx.peer(), Peer::Alive); // b is still there
    /// drop(b);
    /// assert_eq!(tx.peer(), Peer::Closed);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn peer(&self) -> Peer {
        self.live.peer(&self.ring.region)
    }

    /// How many subscribers are attached and alive: a subscriber that
    /// dropped its endpoint or died (even by SIGKILL) is not counted. It
    /// probes each subscriber id's lock (see the [module docs](self)), so
    /// it costs a system call per id ever taken: call it to meet, not per
    /// message.
    ///
    /// # Example
    /// ```
    /// use shmkit::broadcast::{Publisher, Subscriber};
    /// # let name = format!("doc-bcsubs-{}", std::process::id());
    /// let tx = Publisher::create(&name, 4, 64)?;
    /// assert_eq!(tx.subscribers(), 0);
    /// let a = Subscriber::open(&name)?;
    /// let b = Subscriber::open(&name)?;
    /// assert_eq!(tx.subscribers(), 2);
    /// drop(a);
    /// assert_eq!(tx.subscribers(), 1);
    /// # drop(b);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn subscribers(&self) -> usize {
        let r = &self.ring.region;
        if r.segment().is_none() {
            return r.role_count(SUBSCRIBER).load(Ordering::SeqCst) as usize;
        }
        // Peer-written: clamped, and only ever used as a loop bound.
        let ids = r.u32(IDS).load(Ordering::SeqCst).min(MAX_SUBSCRIBER_IDS);
        (0..ids)
            .filter(|&id| {
                r.role_probe(&subscriber_role(id)).probe_exclusive() == CreatorState::Alive
            })
            .count()
    }

    /// Waits until at least `n` subscribers are alive (as
    /// [`subscribers`](Self::subscribers) counts them), so that none of
    /// them misses the first message: a subscriber starts at the newest
    /// message when it attaches. Returns the count then. Polls, in pauses
    /// growing to 10 ms.
    ///
    /// # Errors
    /// [`Error::Timeout`] if fewer than `n` are alive after `timeout`.
    ///
    /// # Example
    /// ```
    /// use shmkit::broadcast::{Publisher, Subscriber};
    /// use std::time::Duration;
    /// # let name = format!("doc-bcwait-{}", std::process::id());
    /// let mut tx = Publisher::create(&name, 4, 64)?;
    /// let joiner = {
    ///     let name = name.clone();
    ///     std::thread::spawn(move || {
    ///         let mut rx = Subscriber::open(&name)?;
    ///         rx.recv()
    ///     })
    /// };
    /// tx.wait_for_subscribers(1, Duration::from_secs(10))?;
    /// tx.send(b"first")?; // the subscriber is there to get it
    /// assert_eq!(joiner.join().unwrap()?, b"first");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn wait_for_subscribers(&self, n: usize, timeout: Duration) -> Result<usize> {
        let start = std::time::Instant::now();
        let mut pause = Duration::from_micros(100);
        loop {
            let count = self.subscribers();
            if count >= n {
                return Ok(count);
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(Error::Timeout {
                    name: self.ring.region.name().to_owned(),
                    waited,
                });
            }
            std::thread::sleep(pause.min(timeout - waited));
            pause = (pause * 2).min(Duration::from_millis(10));
        }
    }

    /// Publishes a copy of `msg`, overwriting the oldest message if the ring
    /// is full. Never waits.
    ///
    /// # Errors
    /// [`Error::MessageTooLarge`]; [`Error::Truncated`] if another process
    /// shrank the segment under this mapping.
    ///
    /// # Example
    /// ```
    /// use shmkit::broadcast::{Publisher, Subscriber};
    /// # let name = format!("doc-bc-send-{}", std::process::id());
    /// let mut tx = Publisher::create(&name, 4, 64)?;
    /// let mut rx = Subscriber::open(&name)?;
    /// tx.send(b"a")?;
    /// tx.send(b"b")?;
    /// assert_eq!((rx.recv()?, rx.recv()?), (b"a".to_vec(), b"b".to_vec()));
    /// for i in 0..100u8 {
    ///     tx.send(&[i])?; // a slow subscriber never holds the publisher up
    /// }
    /// assert!(matches!(rx.recv(), Err(shmkit::Error::Lagged { .. })));
    /// assert_eq!(rx.recv()?, [97]); // it goes on with what the ring still holds
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn send(&mut self, msg: &[u8]) -> Result<()> {
        self.send_inner(msg, 0)
    }

    /// Publishes `msg` as [`send`](Self::send) does, declaring that
    /// `missed` messages before it never reached this publisher (a bridge
    /// re-publishing a remote topic whose link dropped some). Each
    /// subscriber that reads it gets [`Error::Lagged`] with those `missed`
    /// first (added to any it was lapped past), then `msg`. With `missed`
    /// 0 it is `send`. See the [module docs](self#gaps-messages-missed-before-this-ring).
    ///
    /// # Errors
    /// As [`send`](Self::send); nothing is published then.
    ///
    /// # Example
    /// ```
    /// use shmkit::broadcast::{Publisher, Subscriber};
    /// # let name = format!("doc-bcgap-{}", std::process::id());
    /// let mut tx = Publisher::create(&name, 8, 64)?;
    /// let mut rx = Subscriber::open(&name)?;
    /// tx.send(b"one")?;
    /// tx.send_after_gap(3, b"five")?; // messages two to four were lost upstream
    /// assert_eq!(rx.recv()?, b"one");
    /// assert!(matches!(rx.recv(), Err(shmkit::Error::Lagged { missed: 3, .. })));
    /// assert_eq!(rx.recv()?, b"five");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn send_after_gap(&mut self, missed: u32, msg: &[u8]) -> Result<()> {
        self.send_inner(msg, missed)
    }

    /// Lets go of the topic as a killed publisher would, so that its
    /// subscribers end with [`Error::PeerDied`] (once they have read what
    /// was published), not [`Error::Closed`]. For a re-publisher whose own
    /// source died (a bridge whose remote publisher or link was lost): its
    /// readers learn the truth about the source. A new publisher may take
    /// over as after a crash. Where the liveness lock cannot be used, the
    /// subscribers cannot tell a death from a publisher gone quiet, as
    /// after a real crash.
    ///
    /// # Example
    /// ```
    /// use shmkit::broadcast::{Publisher, Subscriber};
    /// # let name = format!("doc-bcab-{}", std::process::id());
    /// let mut tx = Publisher::create(&name, 4, 64)?;
    /// let mut rx = Subscriber::open(&name)?;
    /// tx.send(b"last words")?;
    /// tx.abandon();
    /// assert_eq!(rx.recv()?, b"last words");
    /// assert!(matches!(rx.recv(), Err(shmkit::Error::PeerDied { .. })));
    /// # drop(rx);
    /// # let _ = shmkit::queue::remove(&name); // the lock files a death leaves
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn abandon(mut self) {
        self.abandoned = true;
    }

    /// Declares that `missed` messages never reached this publisher, with
    /// no message to follow yet (a bridge whose link dropped the last
    /// messages before the remote publisher closed). Subscribers get
    /// [`Error::Lagged`] with them before the next message, or before
    /// [`Error::Closed`] or [`Error::PeerDied`] if none comes.
    ///
    /// # Example
    /// ```
    /// use shmkit::broadcast::{Publisher, Subscriber};
    /// # let name = format!("doc-bcdg-{}", std::process::id());
    /// let mut tx = Publisher::create(&name, 8, 64)?;
    /// let mut rx = Subscriber::open(&name)?;
    /// tx.send(b"one")?;
    /// tx.declare_gap(2); // two more were lost upstream, then it closed
    /// drop(tx);
    /// assert_eq!(rx.recv()?, b"one");
    /// assert!(matches!(rx.recv(), Err(shmkit::Error::Lagged { missed: 2, .. })));
    /// assert!(matches!(rx.recv(), Err(shmkit::Error::Closed { .. })));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn declare_gap(&mut self, missed: u32) {
        self.gaps = self.gaps.wrapping_add(missed);
        // SYNC(gaps): Release, read by subscribers that find the publisher
        // gone (its role state is stored after this).
        self.ring
            .region
            .u32(GAPS_TOTAL)
            .store(self.gaps, Ordering::Release);
    }

    fn send_inner(&mut self, msg: &[u8], missed: u32) -> Result<()> {
        if msg.len() as u64 > self.ring.max {
            return Err(Error::MessageTooLarge {
                name: self.ring.region.name().to_owned(),
                len: msg.len() as u64,
                max: self.ring.max,
            });
        }
        let n = self.next;
        let slot = self.ring.slot(n);
        let r = &self.ring.region;
        r.u64(slot).store(2 * n + 1, Ordering::Relaxed);
        // SYNC(slot): the odd `seq` is ordered before the payload stores, so
        // a reader that sees any of them sees `seq` changed on its re-check.
        fence(Ordering::Release);
        failpoint::hit("broadcast-after-odd");
        r.u32(slot + 8).store(msg.len() as u32, Ordering::Relaxed);
        let gaps = self.gaps.wrapping_add(missed);
        r.u32(slot + GAPS).store(gaps, Ordering::Relaxed);
        store_words(r, slot + SLOT_HEADER as usize, msg);
        failpoint::hit("broadcast-before-even");
        // SYNC(slot): Release publishes the payload with the even `seq`;
        // pairs with the subscriber's Acquire load of `seq`.
        r.u64(slot).store(2 * n + 2, Ordering::Release);
        failpoint::hit("broadcast-before-next");
        self.next = n + 1;
        if missed != 0 {
            self.gaps = gaps;
            r.u32(GAPS_TOTAL).store(gaps, Ordering::Release);
        }
        // SYNC(next): Release; read by subscribers that join or lag.
        r.u64(NEXT).store(n + 1, Ordering::Release);
        Signal::at(r, SIGNAL).notify();
        // A write to a page lost to a truncation reached nobody.
        r.check_mapped()
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        if self.abandoned {
            // As a killed process leaves it: lock files stay too, so that
            // subscribers' probes find the lock free, not missing.
            self.live.abandon(&self.ring.region);
            Signal::at(&self.ring.region, SIGNAL).notify();
            return;
        }
        self.live.detach(&self.ring.region);
        Signal::at(&self.ring.region, SIGNAL).notify();
        if self.ring.remove_locks {
            remove_all_locks(&self.ring.region);
        }
    }
}

/// Removes the topic's role lock files and its subscribers' id lock files:
/// what its creator does when it drops.
fn remove_all_locks(r: &Region) {
    remove_role_locks(r, &ROLES);
    let ids = r.u32(IDS).load(Ordering::SeqCst).min(MAX_SUBSCRIBER_IDS);
    for id in 0..ids {
        crate::os::remove_role_lock(r.name(), &subscriber_role(id));
    }
}

/// A subscribing end of a broadcast ring, with its own cursor. See the
/// [module docs](self).
pub struct Subscriber {
    ring: Ring,
    live: Liveness,
    /// This subscriber's id lock, held while it lives (`None` without lock
    /// files). Dropped after `live` detaches.
    _id_lock: Option<RoleLock>,
    /// The number of the next message to read: this endpoint's own.
    cursor: u64,
    /// The gap total of the last message read (`None` until one is read,
    /// when the subscriber started after message 0).
    gaps: Option<u32>,
    wait: Wait,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("name", &self.ring.region.name())
            .field("cursor", &self.cursor)
            .finish()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        Signal::at(&self.ring.region, SIGNAL).unregister(self.wait);
        self.live.detach(&self.ring.region);
        // A subscriber that created the topic (`open_or_create`) removes the
        // lock files as a creating publisher does, but only once no endpoint
        // is left attached: a lock file removed under a live publisher would
        // make the next subscriber that probes it judge the publisher dead.
        let r = &self.ring.region;
        let others = [PUBLISHER, SUBSCRIBER]
            .into_iter()
            .any(|role| r.role_count(role).load(Ordering::SeqCst) != 0);
        if self.ring.remove_locks && !others {
            remove_all_locks(r);
        }
    }
}

/// What one poll of a subscriber's slot found.
enum Polled {
    Message,
    Lagged(u64),
}

impl Subscriber {
    /// Opens a broadcast ring as a subscriber, starting at the newest
    /// message already published (or the first one to come).
    ///
    /// # Errors
    /// As [`Segment::open`](crate::Segment::open); [`Error::NotTyped`] or
    /// [`Error::Corrupted`] if the segment is no intact broadcast ring.
    ///
    /// # Example
    /// ```
    /// use shmkit::broadcast::{Publisher, Subscriber};
    /// # let name = format!("doc-bc-sopen-{}", std::process::id());
    /// let mut tx = Publisher::create(&name, 8, 64)?;
    /// tx.send(b"before")?;
    /// tx.send(b"newest")?;
    /// let mut rx = Subscriber::open(&name)?; // starts at the newest message
    /// assert_eq!(rx.recv()?, b"newest");
    /// tx.send(b"after")?;
    /// assert_eq!(rx.recv()?, b"after");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open(name: &str) -> Result<Subscriber> {
        Self::open_with(name, &QueueOptions::default())
    }

    /// As [`open`](Self::open), with options.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    ///
    /// # Example
    /// ```
    /// use shmkit::broadcast::{Publisher, Subscriber};
    /// use shmkit::queue::{Options, Wait};
    /// # let name = format!("doc-bc-sopenwith-{}", std::process::id());
    /// let mut tx = Publisher::create(&name, 8, 64)?;
    /// let mut rx = Subscriber::open_with(&name, &Options::default().wait(Wait::Block))?;
    /// tx.send(b"woken")?;
    /// assert_eq!(rx.recv()?, b"woken");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_with(name: &str, opts: &QueueOptions) -> Result<Subscriber> {
        let (region, g) = open_region(name, opts)?;
        Subscriber::attach(Ring::new(region, g, opts), opts)
    }

    /// Opens the broadcast ring as a subscriber, or creates it with `slots`
    /// slots for messages of up to `max_message` bytes if there is none, as
    /// [`Publisher::open_or_create`].
    ///
    /// # Errors
    /// As [`Publisher::create`] and [`open`](Self::open).
    ///
    /// # Example
    /// ```
    /// use shmkit::broadcast::{Publisher, Subscriber};
    /// # let name = format!("doc-bc-sooc-{}", std::process::id());
    /// let mut a = Subscriber::open_or_create(&name, 8, 64)?; // creates
    /// let mut b = Subscriber::open_or_create(&name, 8, 64)?; // opens
    /// assert!(a.created() && !b.created());
    /// let mut tx = Publisher::open(&name)?;
    /// tx.send(b"both")?;
    /// assert_eq!((a.recv()?, b.recv()?), (b"both".to_vec(), b"both".to_vec()));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create(name: &str, slots: usize, max_message: usize) -> Result<Subscriber> {
        Self::open_or_create_with(name, slots, max_message, &QueueOptions::default())
    }

    /// As [`open_or_create`](Self::open_or_create), with options.
    ///
    /// # Errors
    /// As [`open_or_create`](Self::open_or_create).
    ///
    /// # Example
    /// ```
    /// use shmkit::broadcast::{Publisher, Subscriber};
    /// use shmkit::queue::{Options, Wait};
    /// # let name = format!("doc-bc-soocw-{}", std::process::id());
    /// let opts = Options::default().wait(Wait::Spin);
    /// let mut rx = Subscriber::open_or_create_with(&name, 8, 64, &opts)?;
    /// assert!(rx.created());
    /// let mut tx = Publisher::open(&name)?;
    /// tx.send(b"spun")?;
    /// assert_eq!(rx.recv()?, b"spun");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create_with(
        name: &str,
        slots: usize,
        max_message: usize,
        opts: &QueueOptions,
    ) -> Result<Subscriber> {
        let (region, g) = open_or_create_region(name, slots, max_message, opts)?;
        Subscriber::attach(Ring::new(region, g, opts), opts)
    }

    /// Whether this endpoint created the ring (rather than opened it).
    ///
    /// # Example
    /// ```
    /// use shmkit::broadcast::{Publisher, Subscriber};
    /// # let name = format!("doc-bc-screated-{}", std::process::id());
    /// let tx = Publisher::create(&name, 8, 64)?;
    /// let rx = Subscriber::open_or_create(&name, 8, 64)?;
    /// assert!(tx.created());
    /// assert!(!rx.created()); // it opened the publisher's ring
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn created(&self) -> bool {
        self.ring.created()
    }

    /// The ring's slot count (a power of two): how many messages it holds.
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-bcsubslots-{}", std::process::id());
    /// let _tx = shmkit::broadcast::Publisher::create(&name, 16, 64)?;
    /// let rx = shmkit::broadcast::Subscriber::open(&name)?;
    /// assert_eq!(rx.slots(), 16);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn slots(&self) -> u64 {
        self.ring.slots
    }

    /// The largest message the ring carries, in bytes.
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-bcgeo{}-{}", line!(), std::process::id());
    /// let tx = shmkit::broadcast::Publisher::create(&name, 5, 100)?;
    /// let rx = shmkit::broadcast::Subscriber::open(&name)?;
    /// assert_eq!((tx.slots(), tx.max_message()), (8, 100));
    /// assert_eq!((rx.slots(), rx.max_message()), (8, 100));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn max_message(&self) -> u64 {
        self.ring.max
    }

    fn attach(ring: Ring, opts: &QueueOptions) -> Result<Subscriber> {
        // Check before attaching, so that an open refused for a scribbled
        // ring leaves no trace (an attached-then-gone subscriber reads as a
        // dead one to the publisher); again once attached, with the value
        // kept, detaching cleanly if a scribbler struck in between.
        Self::start(&ring)?;
        let id_lock = Subscriber::take_id(&ring.region)?;
        let mut live = Liveness::attach(&ring.region, &ROLES, SUBSCRIBER, true, PUBLISHER, false)?;
        let next = match Self::start(&ring) {
            Ok(next) => next,
            Err(e) => {
                live.detach(&ring.region);
                return Err(e);
            }
        };
        Signal::at(&ring.region, SIGNAL).register(opts.wait);
        let cursor = next.saturating_sub(1);
        Ok(Subscriber {
            ring,
            live,
            _id_lock: id_lock,
            cursor,
            gaps: baseline(cursor),
            wait: opts.wait,
        })
    }

    /// Reads the publisher's `next` once and validates it as a subscriber's
    /// start; returns it.
    fn start(ring: &Ring) -> Result<u64> {
        // SYNC(next): Acquire, pairs with the publisher's Release.
        let next = ring.region.u64(NEXT).load(Ordering::Acquire);
        if next > u64::MAX / 4 {
            return Err(ring
                .region
                .corrupted(format!("message number {next} is out of range")));
        }
        // The newest message's slot holds it, or a later message of the same
        // slot if the publisher has gone on since: a `next` ahead of that was
        // written by a peer, and this subscriber would wait there for good.
        if next > 0 {
            // SYNC(slot): Acquire, after `next`'s.
            let seq = ring.region.u64(ring.slot(next - 1)).load(Ordering::Acquire);
            if seq < 2 * (next - 1) + 1 {
                return Err(ring.region.corrupted(format!(
                    "the publisher is at message {next}, but the slot of message {} holds sequence {seq}",
                    next - 1
                )));
            }
        }
        Ok(next)
    }

    /// Takes the lowest free subscriber id's lock, for the publisher's
    /// count, and raises `ids` past it. `None` where there are no lock
    /// files.
    ///
    /// # Errors
    /// [`Error::RoleTaken`] if all 1024 ids are held by live subscribers.
    fn take_id(region: &Region) -> Result<Option<RoleLock>> {
        if region.segment().is_none() {
            return Ok(None);
        }
        for id in 0..MAX_SUBSCRIBER_IDS {
            let lock = region.role_lock(&subscriber_role(id));
            if !lock.works() {
                // No lock file (another user's, or none can be made): the
                // count cannot see this subscriber.
                return Ok(None);
            }
            if lock.hold_exclusive() {
                region.u32(IDS).fetch_max(id + 1, Ordering::SeqCst);
                return Ok(Some(lock));
            }
        }
        Err(Error::RoleTaken {
            name: region.name().to_owned(),
            role: "subscriber (all 1024 ids)",
        })
    }

    /// Moves the cursor back to the oldest message the ring still holds, so
    /// that the next receives return every message still there, in order,
    /// then the ones to come. Call it right after opening to start at the
    /// oldest message instead of the newest (messages already read would
    /// come again). The ring's overwrite rule still applies: a message the
    /// publisher overwrites before it is read is reported with
    /// [`Error::Lagged`], never returned torn.
    ///
    /// # Errors
    /// [`Error::Corrupted`] if the publisher's message number is out of
    /// range.
    ///
    /// # Example
    /// ```
    /// use shmkit::broadcast::{Publisher, Subscriber};
    /// # let name = format!("doc-bcold-{}", std::process::id());
    /// let mut tx = Publisher::create(&name, 4, 64)?;
    /// for i in 0..6u8 {
    ///     tx.send(&[i])?;
    /// }
    /// let mut rx = Subscriber::open(&name)?;
    /// rx.rewind()?;                             // the ring holds 2, 3, 4, 5
    /// for i in 2..6u8 {
    ///     assert_eq!(rx.recv()?, [i]);
    /// }
    /// assert_eq!(rx.try_recv()?, None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn rewind(&mut self) -> Result<()> {
        // SYNC(next): Acquire, pairs with the publisher's Release.
        let next = self.ring.region.u64(NEXT).load(Ordering::Acquire);
        if next > u64::MAX / 4 {
            return Err(self
                .ring
                .region
                .corrupted(format!("message number {next} is out of range")));
        }
        // Messages `next - slots .. next` are in the ring, unless the
        // publisher is overwriting the oldest of them right now: `poll`
        // then finds its slot lapped and jumps on with `Lagged`.
        self.cursor = next.saturating_sub(self.ring.slots);
        self.gaps = baseline(self.cursor);
        Ok(())
    }

    /// The number of the next message this subscriber reads (messages are
    /// numbered from 0 since the ring was created).
    ///
    /// # Example
    /// ```
    /// use shmkit::broadcast::{Publisher, Subscriber};
    /// # let name = format!("doc-bc-cursor-{}", std::process::id());
    /// let mut tx = Publisher::create(&name, 8, 64)?;
    /// for _ in 0..5 {
    ///     tx.send(b"m")?; // messages 0 to 4
    /// }
    /// let mut rx = Subscriber::open(&name)?;
    /// assert_eq!(rx.cursor(), 4); // the newest
    /// rx.recv()?;
    /// assert_eq!(rx.cursor(), 5);
    /// rx.rewind()?;
    /// assert_eq!(rx.cursor(), 0); // the oldest the 8 slots still hold
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// Whether the publisher is alive, closed, dead, or not attached yet.
    ///
    /// # Example
    /// ```
    /// use shmkit::broadcast::{Publisher, Subscriber};
    /// use shmkit::queue::Peer;
    /// # let name = format!("doc-bc-speer-{}", std::process::id());
    /// let mut rx = Subscriber::open_or_create(&name, 8, 64)?;
    /// assert_eq!(rx.peer(), Peer::NotYet);
    /// let mut tx = Publisher::open(&name)?;
    /// assert_eq!(rx.peer(), Peer::Alive);
    /// tx.send(b"bye")?;
    /// drop(tx);
    /// assert_eq!(rx.peer(), Peer::Closed);
    /// assert_eq!(rx.recv()?, b"bye"); // what was published is still read
    /// assert!(matches!(rx.recv(), Err(shmkit::Error::Closed { .. })));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn peer(&self) -> Peer {
        self.live.peer(&self.ring.region)
    }

    /// The next message, copied into `buf` (cleared first), waiting as this
    /// endpoint's [`Wait`] says.
    ///
    /// # Errors
    /// [`Error::Lagged`] (then the cursor has moved on: call again);
    /// [`Error::Corrupted`]; [`Error::PeerDied`] or [`Error::Closed`] if the
    /// publisher is gone.
    ///
    /// # Example
    /// ```
    /// use shmkit::broadcast::{Publisher, Subscriber};
    /// # let name = format!("doc-bc-recvinto-{}", std::process::id());
    /// let mut tx = Publisher::create(&name, 8, 64)?;
    /// let mut rx = Subscriber::open(&name)?;
    /// let mut buf = Vec::with_capacity(64);
    /// for msg in [&b"a longer one"[..], b"short"] {
    ///     tx.send(msg)?;
    ///     rx.recv_into(&mut buf)?; // cleared first, allocation kept
    ///     assert_eq!(buf, msg);
    /// }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn recv_into(&mut self, buf: &mut Vec<u8>) -> Result<()> {
        self.recv_inner(buf, None)
    }

    /// The next message, by copy.
    ///
    /// # Errors
    /// As [`recv_into`](Self::recv_into).
    ///
    /// # Example
    /// ```
    /// use shmkit::broadcast::{Publisher, Subscriber};
    /// # let name = format!("doc-bc-recv-{}", std::process::id());
    /// let mut tx = Publisher::create(&name, 8, 64)?;
    /// let mut rx = Subscriber::open(&name)?;
    /// let reader = std::thread::spawn(move || -> shmkit::Result<Vec<Vec<u8>>> {
    ///     Ok(vec![rx.recv()?, rx.recv()?]) // waits for each
    /// });
    /// tx.send(b"one")?;
    /// tx.send(b"two")?;
    /// assert_eq!(reader.join().unwrap()?, [b"one".to_vec(), b"two".to_vec()]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn recv(&mut self) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.recv_inner(&mut v, None)?;
        Ok(v)
    }

    /// As [`recv`](Self::recv), giving up after `timeout`.
    ///
    /// # Errors
    /// As [`recv_into`](Self::recv_into), and [`Error::Timeout`].
    ///
    /// # Example
    /// ```
    /// use shmkit::broadcast::{Publisher, Subscriber};
    /// use std::time::Duration;
    /// # let name = format!("doc-bc-recvt-{}", std::process::id());
    /// let mut tx = Publisher::create(&name, 8, 64)?;
    /// let mut rx = Subscriber::open(&name)?;
    /// let quiet = rx.recv_timeout(Duration::from_millis(10));
    /// assert!(matches!(quiet, Err(shmkit::Error::Timeout { .. })));
    /// tx.send(b"news")?;
    /// assert_eq!(rx.recv_timeout(Duration::from_secs(1))?, b"news");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.recv_inner(&mut v, Some(timeout))?;
        Ok(v)
    }

    /// The next message if one is there.
    ///
    /// # Errors
    /// As [`recv_into`](Self::recv_into), without the waiting ones.
    ///
    /// # Example
    /// ```
    /// use shmkit::broadcast::{Publisher, Subscriber};
    /// # let name = format!("doc-bc-tryrecv-{}", std::process::id());
    /// let mut tx = Publisher::create(&name, 8, 64)?;
    /// let mut rx = Subscriber::open(&name)?;
    /// assert_eq!(rx.try_recv()?, None);
    /// tx.send(b"ready")?;
    /// assert_eq!(rx.try_recv()?, Some(b"ready".to_vec()));
    /// assert_eq!(rx.try_recv()?, None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_recv(&mut self) -> Result<Option<Vec<u8>>> {
        let mut v = Vec::new();
        match poll(&self.ring, &mut self.cursor, &mut self.gaps, &mut v)? {
            None => Ok(None),
            Some(p) => self.finish(p).map(|()| Some(v)),
        }
    }

    /// Receives the next message into `buf` if one is there (cleared
    /// first, its allocation kept): `true`; `false` if there is none yet,
    /// with `buf` as it was. The non-blocking form of
    /// [`recv_into`](Self::recv_into); after an error `buf` holds nothing
    /// of use.
    ///
    /// # Errors
    /// As [`try_recv`](Self::try_recv).
    ///
    /// # Example
    /// ```
    /// use shmkit::broadcast::{Publisher, Subscriber};
    /// # let name = format!("doc-bc-tryrecvinto-{}", std::process::id());
    /// let mut tx = Publisher::create(&name, 8, 64)?;
    /// let mut rx = Subscriber::open(&name)?;
    /// let mut buf = b"old".to_vec();
    /// assert!(!rx.try_recv_into(&mut buf)?);
    /// assert_eq!(buf, b"old");
    /// tx.send(b"new")?;
    /// assert!(rx.try_recv_into(&mut buf)?);
    /// assert_eq!(buf, b"new");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_recv_into(&mut self, buf: &mut Vec<u8>) -> Result<bool> {
        match poll(&self.ring, &mut self.cursor, &mut self.gaps, buf)? {
            None => Ok(false),
            Some(p) => self.finish(p).map(|()| true),
        }
    }

    fn finish(&self, p: Polled) -> Result<()> {
        match p {
            Polled::Message => Ok(()),
            Polled::Lagged(missed) => Err(Error::Lagged {
                name: self.ring.region.name().to_owned(),
                missed,
            }),
        }
    }

    fn recv_inner(&mut self, buf: &mut Vec<u8>, timeout: Option<Duration>) -> Result<()> {
        let Subscriber {
            ring,
            live,
            cursor,
            gaps,
            wait,
            ..
        } = self;
        // A message there now: no wait loop (its set-up is most of a
        // message's cost when the subscriber keeps up).
        if let Some(p) = poll(ring, cursor, gaps, buf)? {
            return self.finish(p);
        }
        let p = wait_for(
            &ring.region,
            *wait,
            Signal::at(&ring.region, SIGNAL),
            timeout,
            || poll(ring, cursor, gaps, buf),
            || live.peer(&ring.region),
            ROLES[PUBLISHER],
        );
        match p {
            Ok(p) => self.finish(p),
            Err(e @ (Error::Closed { .. } | Error::PeerDied { .. })) => {
                // Gaps declared after the last message: reported once,
                // before the end.
                // SYNC(gaps): Acquire, pairs with the publisher's Release.
                let total = ring.region.u32(GAPS_TOTAL).load(Ordering::Acquire);
                match gaps.replace(total) {
                    Some(g) if g != total => {
                        self.finish(Polled::Lagged(u64::from(total.wrapping_sub(g))))
                    }
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }
}

/// What a [`WaitSet`](crate::WaitSet) needs of a subscriber.
#[cfg(not(loom))]
impl Subscriber {
    /// The topic's name.
    pub(crate) fn queue_name(&self) -> &str {
        self.ring.region.name()
    }

    /// The signal the publisher wakes after each message.
    pub(crate) fn message_signal(&self) -> Signal<'_> {
        Signal::at(&self.ring.region, SIGNAL)
    }

    /// Whether [`try_recv`](Self::try_recv) would return something now (a
    /// message, or [`Error::Lagged`]); looks at the cursor's slot only.
    pub(crate) fn has_message(&self) -> Result<bool> {
        let c = self.cursor;
        let r = &self.ring.region;
        // SYNC(slot): Acquire, as in `poll_once`.
        let s = r.u64(self.ring.slot(c)).load(Ordering::Acquire);
        r.check_mapped()?;
        Ok(s >= 2 * c + 2)
    }
}

/// Copies `msg` into the payload at `at` (8-aligned) in whole 8-byte
/// atomic stores, the last one padded with zeros. Reader and writer race by
/// design in a seqlock; using one access size on both sides keeps the race
/// between same-sized atomics, which the memory model defines.
fn store_words(r: &Region, at: usize, msg: &[u8]) {
    let whole = msg.len() & !7;
    let half = (whole / 2) & !7;
    r.store(at, &msg[..half]);
    failpoint::hit("broadcast-mid-write");
    r.store(at + half, &msg[half..whole]);
    if whole < msg.len() {
        let mut last = [0u8; 8];
        last[..msg.len() - whole].copy_from_slice(&msg[whole..]);
        r.store(at + whole, &last);
    }
}

/// Copies `n` bytes of payload at `at` (8-aligned) into `buf` in whole
/// 8-byte atomic loads (see [`store_words`]).
fn load_words(r: &Region, at: usize, buf: &mut Vec<u8>, n: usize) {
    buf.clear();
    buf.resize(n.div_ceil(8) * 8, 0);
    r.load(at, buf);
    buf.truncate(n);
}

/// The gap total a subscriber starting at `cursor` compares the first
/// message it reads with: 0 from message 0 on; unknown (the first message
/// read sets it) for a later start.
fn baseline(cursor: u64) -> Option<u32> {
    (cursor == 0).then_some(0)
}

/// One look at the cursor's slot: a whole message (copied into `buf`), a
/// lap (cursor moved), a declared gap (cursor kept, `gaps` moved on), or
/// nothing yet.
#[inline]
fn poll(
    ring: &Ring,
    cursor: &mut u64,
    gaps: &mut Option<u32>,
    buf: &mut Vec<u8>,
) -> Result<Option<Polled>> {
    let polled = poll_once(ring, cursor, gaps, buf);
    // What a page lost to a truncation read (zeros) is not the ring's.
    ring.region.check_mapped()?;
    polled
}

#[inline(always)]
fn poll_once(
    ring: &Ring,
    cursor: &mut u64,
    gaps: &mut Option<u32>,
    buf: &mut Vec<u8>,
) -> Result<Option<Polled>> {
    let c = *cursor;
    let slot = ring.slot(c);
    let r = &ring.region;
    let want = 2 * c + 2;
    // SYNC(slot): Acquire, pairs with the publisher's Release of the even seq.
    let s1 = r.u64(slot).load(Ordering::Acquire);
    if s1 < want {
        return Ok(None);
    }
    let mut seen = s1;
    if s1 == want {
        let len = u64::from(r.u32(slot + 8).load(Ordering::Relaxed));
        // A torn read can show any length: copy at most the maximum, and
        // judge the length only once the copy is known whole.
        let n = len.min(ring.max) as usize;
        let total = r.u32(slot + GAPS).load(Ordering::Relaxed);
        load_words(r, slot + SLOT_HEADER as usize, buf, n);
        // SYNC(slot): orders the payload loads before the re-check.
        fence(Ordering::Acquire);
        let s2 = r.u64(slot).load(Ordering::Relaxed);
        if s2 == s1 {
            if len > ring.max {
                return Err(r.corrupted(format!("message {c} claims {len} bytes")));
            }
            // Any total is one a publisher may have declared: a scribbled
            // one gives a wrong count, never a wrong message.
            let missed = gaps.map_or(0, |g| total.wrapping_sub(g));
            *gaps = Some(total);
            if missed != 0 {
                return Ok(Some(Polled::Lagged(u64::from(missed))));
            }
            *cursor = c + 1;
            return Ok(Some(Polled::Message));
        }
        seen = s2;
    }
    // Lapped: the slot holds (or is being given) message `m`, a later one
    // in the same slot. `next` may not show `m` yet (the publisher stores
    // it after the message, and nothing orders our load after that store),
    // so the slot's own word counts too. Jump to the oldest message that
    // may still be whole.
    // `seen` may be 0 if a hostile publisher wrote it: then `m` is 0, and
    // that is corruption below.
    let m = seen.saturating_sub(1) / 2;
    // SYNC(next): Acquire, pairs with the publisher's Release.
    let next = r.u64(NEXT).load(Ordering::Acquire).max(m);
    // Read after `next`, the slot bounds it: the publisher cannot be past
    // the next message this slot will hold (a larger `next` was written by a
    // peer, and the jump would leave this subscriber waiting for good).
    // SYNC(slot): Acquire, after `next`'s.
    let holds = r.u64(slot).load(Ordering::Acquire).saturating_sub(1) / 2;
    if m <= c
        || (m - c) % ring.slots != 0
        || next > u64::MAX / 4
        || next > holds.saturating_add(ring.slots)
    {
        return Err(r.corrupted(format!(
            "slot of message {c} holds sequence {seen}, and the publisher is at {next}"
        )));
    }
    let oldest = next.saturating_sub(ring.slots) + 1;
    let to = oldest.max(c + 1).min(next);
    *cursor = to;
    Ok(Some(Polled::Lagged(to - c)))
}

/// Fuzzing hooks (`shmkit::__fuzz`), as in `queue::spsc`.
#[cfg(all(feature = "fuzzing", not(loom)))]
pub(crate) mod fuzz {
    use super::*;

    /// A subscriber attached as [`Subscriber::open`] would, to an image, and
    /// a second handle on its memory for scribbling.
    pub(crate) fn subscriber(image: &[u8], len: usize) -> Result<(Subscriber, Region)> {
        let (region, g) = Region::heap_image(image, len, Kind::Broadcast)?;
        Ring::check(&region, &g)?;
        let other = region.share_heap();
        let opts = QueueOptions::default().wait(Wait::Spin);
        Ok((
            Subscriber::attach(Ring::new(region, g, &opts), &opts)?,
            other,
        ))
    }

    /// The gap total the subscriber compares the next message with.
    pub(crate) fn gaps(s: &Subscriber) -> Option<u32> {
        s.gaps
    }

    /// The image of a ring after `msgs` were published.
    pub(crate) fn seed(slots: usize, max: usize, msgs: &[&[u8]]) -> Vec<u8> {
        let g = Ring::geometry(slots, max);
        let opts = QueueOptions::default();
        let r = Region::heap(g, "seed", &|_| {});
        let image = r.share_heap();
        let mut p = Publisher::attach(Ring::new(r, g, &opts)).unwrap();
        for m in msgs {
            p.send(m).unwrap();
        }
        image.image()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn sub(region: Region) -> Subscriber {
        let g = Ring::geometry(0, 0);
        let (slots, max, stride) = {
            let mut raw = [0u8; 64];
            region.load(0, &mut raw);
            let u = |o: usize| u64::from_le_bytes(raw[o..o + 8].try_into().unwrap());
            (u(24), u(32), u(48))
        };
        let g = Geometry {
            capacity: slots,
            max_message: max,
            slot_stride: stride,
            ..g
        };
        let opts = QueueOptions::default();
        Subscriber::attach(Ring::new(region, g, &opts), &opts).unwrap()
    }

    /// A publisher killed after publishing message 2 whole but before
    /// advancing `next` (failpoint `broadcast-before-next`): its successor
    /// goes on at 3, so a subscriber that read 2 misses nothing. It used to
    /// publish under number 2 again, which that subscriber skipped.
    #[test]
    fn publisher_killed_before_advancing_next_is_followed_not_repeated() {
        let (mut p, r) = Publisher::heap(8, 32);
        let mut s = sub(r.share_heap());
        for i in 0..3u8 {
            p.send(&[i; 3]).unwrap();
        }
        for i in 0..3u8 {
            assert_eq!(s.try_recv().unwrap().unwrap(), [i; 3]);
        }
        drop(p);
        r.u64(NEXT).store(2, Ordering::Relaxed);
        let mut p = Publisher::attach(Ring::new(
            r.share_heap(),
            Ring::geometry(8, 32),
            &QueueOptions::default(),
        ))
        .unwrap();
        p.send(&[3; 3]).unwrap();
        assert_eq!(s.try_recv().unwrap().unwrap(), [3; 3]);
    }

    /// On heap memory (no lock files) the attach count stands in for the
    /// probes of subscriber ids.
    #[test]
    fn heap_ring_counts_attached_subscribers() {
        let (p, r) = Publisher::heap(4, 16);
        assert_eq!(p.subscribers(), 0);
        let a = sub(r.share_heap());
        let b = sub(r);
        assert_eq!(p.subscribers(), 2);
        drop(a);
        assert_eq!(p.subscribers(), 1);
        drop(b);
        assert_eq!(p.subscribers(), 0);
    }

    /// Rewinding an empty or part-filled ring starts at message 0; a full
    /// one at the oldest message still there, and a subscriber that read
    /// everything gets it all again.
    #[test]
    fn rewind_starts_at_the_oldest_message_still_in_the_ring() {
        let (mut p, r) = Publisher::heap(4, 16);
        let mut s = sub(r);
        s.rewind().unwrap();
        assert_eq!((s.cursor(), s.try_recv().unwrap()), (0, None));
        for i in 0..3u8 {
            p.send(&[i]).unwrap();
        }
        s.rewind().unwrap();
        for i in 0..3u8 {
            assert_eq!(s.try_recv().unwrap().unwrap(), [i]);
        }
        for i in 3..10u8 {
            p.send(&[i]).unwrap();
        }
        s.rewind().unwrap();
        assert_eq!(s.cursor(), 6);
        for i in 6..10u8 {
            assert_eq!(s.try_recv().unwrap().unwrap(), [i]);
        }
        assert_eq!(s.try_recv().unwrap(), None);
        s.ring.region.u64(NEXT).store(u64::MAX, Ordering::Relaxed);
        assert!(matches!(s.rewind(), Err(Error::Corrupted { .. })));
    }

    #[test]
    fn subscriber_reads_in_order_and_learns_what_it_missed() {
        let (mut p, r) = Publisher::heap(8, 32);
        let mut s = sub(r.share_heap());
        assert_eq!(s.try_recv().unwrap(), None);
        for i in 0..5u8 {
            p.send(&[i; 3]).unwrap();
        }
        for i in 0..5u8 {
            assert_eq!(s.try_recv().unwrap().unwrap(), [i; 3]);
        }
        for i in 5..30u8 {
            p.send(&[i]).unwrap();
        }
        match s.try_recv() {
            Err(Error::Lagged { missed, .. }) => assert_eq!(missed, 18),
            other => panic!("{other:?}"),
        }
        for i in 23..30u8 {
            assert_eq!(s.try_recv().unwrap().unwrap(), [i]);
        }
        // A late joiner starts at the newest.
        let mut late = sub(r);
        assert_eq!(late.try_recv().unwrap().unwrap(), [29]);
        assert_eq!(late.try_recv().unwrap(), None);
    }

    #[test]
    fn concurrent_publisher_never_gives_a_torn_message() {
        let n = if cfg!(miri) { 300 } else { 50_000u32 };
        let (mut p, r) = Publisher::heap(4, 64);
        let mut s = sub(r);
        std::thread::scope(|scope| {
            scope.spawn(move || {
                for i in 0..n {
                    let len = 4 + (i % 60) as usize;
                    let m: Vec<u8> = (0..len).map(|j| (i as usize + j) as u8).collect();
                    p.send(&m).unwrap();
                }
            });
            let mut last = None;
            loop {
                match s.recv_timeout(Duration::from_secs(10)) {
                    Ok(m) => {
                        let i = s.cursor() - 1;
                        assert_eq!(m.len(), 4 + (i % 60) as usize);
                        assert!(m
                            .iter()
                            .enumerate()
                            .all(|(j, &b)| b == (i as usize + j) as u8));
                        last = Some(s.cursor());
                    }
                    Err(Error::Lagged { .. }) => {}
                    Err(Error::Closed { .. }) => break,
                    Err(e) => panic!("{e}"),
                }
            }
            assert_eq!(last, Some(u64::from(n)));
        });
    }

    #[test]
    fn seq_scribbled_to_zero_mid_copy_is_corruption_not_an_overflow() {
        let n = if cfg!(miri) { 200 } else { 200_000 };
        let (_p, r) = Publisher::heap(1, 64);
        let slot = Ring::geometry(1, 64).data_offset as usize;
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let (r, stop) = (&r, &stop);
            // A hostile publisher: message 0 is whole, then it is not.
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    r.u64(slot).store(2, Ordering::Relaxed);
                    r.u64(slot).store(0, Ordering::Relaxed);
                }
            });
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                for _ in 0..n {
                    let mut s = sub(r.share_heap());
                    match s.try_recv() {
                        Ok(_) | Err(Error::Corrupted { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            }));
            stop.store(true, Ordering::Relaxed);
            outcome.unwrap();
        });
    }

    #[test]
    fn scribbled_next_and_seq_are_corruption_not_a_panic() {
        let (mut p, r) = Publisher::heap(4, 16);
        let mut s = sub(r.share_heap());
        p.send(b"a").unwrap();
        let slot = s.ring.slot(0);
        s.ring.region.u64(slot).store(1000, Ordering::Relaxed);
        s.ring.region.u64(NEXT).store(0, Ordering::Relaxed);
        assert!(matches!(s.try_recv(), Err(Error::Corrupted { .. })));
        s.ring.region.u64(NEXT).store(u64::MAX, Ordering::Relaxed);
        assert!(matches!(s.try_recv(), Err(Error::Corrupted { .. })));
        // A huge length in a whole slot.
        s.ring.region.u64(slot).store(2, Ordering::Relaxed);
        s.ring
            .region
            .u32(slot + 8)
            .store(u32::MAX, Ordering::Relaxed);
        assert!(matches!(s.try_recv(), Err(Error::Corrupted { .. })));
    }
}

/// Loom model of the seqlock slots (`RUSTFLAGS="--cfg loom"`): a subscriber
/// racing a publisher that laps it gets whole messages or `Lagged`, never a
/// torn copy.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;

    #[test]
    fn a_lapped_reader_never_sees_a_torn_message() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let (mut p, r) = Publisher::heap(1, 16);
            let opts = QueueOptions::default();
            let g = Ring::geometry(1, 16);
            let mut s = Subscriber::attach(Ring::new(r, g, &opts), &opts).unwrap();
            let t = loom::thread::spawn(move || {
                p.send(&[1; 16]).unwrap();
                p.send(&[2; 16]).unwrap();
            });
            for _ in 0..3 {
                match s.try_recv() {
                    Ok(Some(m)) => assert!(m == [1; 16] || m == [2; 16], "torn: {m:?}"),
                    Ok(None) | Err(Error::Lagged { .. }) => loom::thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
            t.join().unwrap();
        });
    }
}
