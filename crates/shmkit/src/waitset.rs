//! Waiting on many endpoints at once: a [`WaitSet`].
//!
//! A set owns the endpoints added to it (queue consumers and producers,
//! broadcast subscribers), borrows [`Event`]s, and holds timers.
//! [`WaitSet::wait`] returns the members that are ready: a message to
//! receive, room to send, an event fired, a timer due, or an endpoint whose
//! peer died or closed. Reach a member through its [`Key`] to act on it.
//!
//! ```
//! use shmkit::queue::spsc;
//! use shmkit::WaitSet;
//! use std::time::Duration;
//!
//! # let a = format!("doc-ws-a-{}", std::process::id());
//! # let b = format!("doc-ws-b-{}", std::process::id());
//! let mut set = WaitSet::new();
//! let ka = set.add(spsc::Consumer::create(&a, 4096)?);
//! let kb = set.add(spsc::Consumer::create(&b, 4096)?);
//! let tick = set.add_interval(Duration::from_millis(500));
//!
//! spsc::Producer::open(&b)?.send(b"to b")?; // another process, usually
//!
//! let ready = set.wait()?;
//! assert_eq!(ready.len(), 1);
//! assert!(ready[0].is(kb) && ready[0].status() == shmkit::waitset::Status::Ready);
//! let rx = set.get_mut(kb).unwrap();
//! assert_eq!(rx.try_recv()?.unwrap(), b"to b");
//! # let _ = (ka, tick);
//! # Ok::<(), shmkit::Error>(())
//! ```
//!
//! # Readiness is level-triggered
//! A queue member is reported by every `wait` while the endpoint's `try_`
//! call would find something (a message, room, or an error such as
//! [`Error::Corrupted`] or [`Error::Lagged`] that it would return): drain
//! it, or the next `wait` returns at once. A member whose peer died or
//! closed, with nothing left to receive, is reported as
//! [`Status::PeerDied`] or [`Status::Closed`] by every `wait` until it is
//! [`remove`](WaitSet::remove)d. An
//! [`EventMode::AutoReset`](crate::sync::EventMode::AutoReset) event is
//! *consumed* by the set (the set is one of its waiters, and reporting it
//! is its `wait` returning); a manual-reset one is reported while it is
//! signalled. A deadline is reported by the first `wait` that finds it
//! passed, then never again; an interval once per `wait` that finds a tick
//! due (ticks missed meanwhile are folded into one).
//!
//! # How it sleeps
//! First it polls every member for a short while (a few hundred member
//! polls in all), then it registers as a waiter on each member's wake word
//! and polls once more, then sleeps on all the words at once; a peer's
//! wake-up of any word ends the sleep. Registering is each word's own
//! protocol: for a queue, the set counts itself in the signal's `waiters`
//! and `blockers` (see `queue/wait.rs`), so a producer's `notify` wakes it
//! even when the endpoint itself busy-spins; for an event, the set joins
//! its sleeper count. The kernel compares each word with the value read
//! after registering, so no wake-up between the last poll and the sleep is
//! lost (a loom model checks this for a message and for room:
//! `queue::spsc::loom_tests`).
//!
//! | OS | sleeping on many words |
//! |----|------------------------|
//! | Linux 5.16+ | `futex_waitv`, 128 words per call; with more members, 128 at a time in turn, each sleep at most 1 ms |
//! | older Linux (`ENOSYS`) | `FUTEX_WAIT` on the first word, each sleep at most 1 ms |
//! | Windows | `WaitForMultipleObjects` on the words' named semaphores, 64 per call; with more members, 64 at a time in turn, each sleep at most 100 µs |
//! | macOS, FreeBSD | the first word's wait call, each sleep at most 100 µs (queue wakers make no system call there) |
//!
//! A peer killed with `kill -9` wakes nobody: the set checks its members'
//! peers before it first sleeps after a member was added, and then before
//! a sleep at most every 20 ms (as a blocked endpoint does), so a death
//! shows within that. A peer found dead or closed is reported by every
//! `wait` after that, at once.

use std::marker::PhantomData;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use crate::broadcast::Subscriber;
use crate::queue::wait::Signal;
use crate::queue::{mpmc, spsc, Peer, Wait};
use crate::sync::{wait_any, Event, EventWatch, WAIT_ANY_MAX};
use crate::{Error, Result};

/// How often a sleeping set checks its members' peers.
const LIVENESS_SLICE: Duration = Duration::from_millis(20);
/// Member polls a set spends spinning before it sleeps (all members
/// together: a set of 64 spins four rounds).
const SPIN_POLLS: usize = 256;

/// A member's handle in its [`WaitSet`]: [`WaitSet::get_mut`] gives the
/// member back, typed. A key of a removed member finds nothing, even once
/// its place is reused.
pub struct Key<M> {
    id: Id,
    _member: PhantomData<fn() -> M>,
}

impl<M> Clone for Key<M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M> Copy for Key<M> {}

impl<M> std::fmt::Debug for Key<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({}.{})", self.id.index, self.id.generation)
    }
}

impl<M> PartialEq for Key<M> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl<M> Eq for Key<M> {}

impl<M> Key<M> {
    /// The untyped identity of this member, as [`Ready::id`] reports it.
    ///
    /// # Example
    /// ```
    /// let mut set = shmkit::WaitSet::new();
    /// let k = set.add_deadline(std::time::Instant::now());
    /// assert_eq!(set.wait()?[0].id(), k.id());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn id(self) -> Id {
        self.id
    }
}

/// A member's identity in its set, whatever its type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Id {
    index: u32,
    generation: u32,
}

/// Why a member was reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// It is ready: the endpoint's `try_` call finds a message or room (or
    /// an error it would return), the event fired, the timer is due.
    Ready,
    /// Its peer died and nothing is left to receive (or no room will be
    /// made): [`Error::PeerDied`].
    PeerDied,
    /// Its peer closed and nothing is left to receive: [`Error::Closed`].
    Closed,
}

/// One member that [`WaitSet::wait`] found ready.
#[derive(Debug)]
pub struct Ready {
    id: Id,
    status: Status,
    error: Option<Error>,
}

impl Ready {
    /// Which member.
    ///
    /// # Example
    /// ```
    /// let mut set = shmkit::WaitSet::new();
    /// let a = set.add_deadline(std::time::Instant::now());
    /// let ready = set.wait()?;
    /// assert_eq!(ready[0].id(), a.id());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn id(&self) -> Id {
        self.id
    }

    /// Whether it is the member of `key`.
    ///
    /// # Example
    /// ```
    /// use std::time::{Duration, Instant};
    /// let mut set = shmkit::WaitSet::new();
    /// let now = set.add_deadline(Instant::now());
    /// let later = set.add_deadline(Instant::now() + Duration::from_secs(60));
    /// let ready = set.wait()?;
    /// assert!(ready[0].is(now) && !ready[0].is(later));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn is<M>(&self, key: Key<M>) -> bool {
        self.id == key.id
    }

    /// Why it was reported.
    ///
    /// # Example
    /// ```
    /// use shmkit::{queue::spsc, waitset::Status, WaitSet};
    /// # let name = format!("doc-ws-status-{}", std::process::id());
    /// let mut set = WaitSet::new();
    /// let k = set.add(spsc::Consumer::create(&name, 4096)?);
    /// drop(spsc::Producer::open(&name)?); // attached, then closed its end
    /// let ready = set.wait()?;
    /// assert!(ready[0].is(k));
    /// assert_eq!(ready[0].status(), Status::Closed);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn status(&self) -> Status {
        self.status
    }

    /// `Ok(id)` if it is ready; the endpoint's [`Error::PeerDied`] or
    /// [`Error::Closed`] if its peer is gone.
    ///
    /// # Errors
    /// As said.
    ///
    /// # Example
    /// ```
    /// use shmkit::{queue::spsc, WaitSet};
    /// # let name = format!("doc-ws-result-{}", std::process::id());
    /// let mut set = WaitSet::new();
    /// let k = set.add(spsc::Consumer::create(&name, 4096)?);
    /// drop(spsc::Producer::open(&name)?);
    /// let mut ready = set.wait()?;
    /// let err = ready.remove(0).into_result().unwrap_err();
    /// assert!(matches!(err, shmkit::Error::Closed { .. }));
    /// # let _ = k;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn into_result(self) -> Result<Id> {
        match self.error {
            None => Ok(self.id),
            Some(e) => Err(e),
        }
    }
}

/// A timer in a [`WaitSet`]: a deadline or an interval.
#[derive(Debug)]
pub struct Timer {
    next: Option<Instant>,
    every: Option<Duration>,
}

impl Timer {
    /// When it is next due; `None` for a deadline already reported.
    ///
    /// # Example
    /// ```
    /// use std::time::Instant;
    /// let mut set = shmkit::WaitSet::new();
    /// let at = Instant::now();
    /// let k = set.add_deadline(at);
    /// assert_eq!(set.get(k).unwrap().next(), Some(at));
    /// set.wait()?;
    /// assert_eq!(set.get(k).unwrap().next(), None); // reported once
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn next(&self) -> Option<Instant> {
        self.next
    }

    /// Whether it is due at `now`; moves an interval on past `now`, and
    /// disarms a deadline.
    fn fire(&mut self, now: Instant) -> bool {
        let Some(next) = self.next else {
            return false;
        };
        if now < next {
            return false;
        }
        self.next = match self.every {
            None => None,
            Some(every) if every.is_zero() => Some(now),
            Some(every) => {
                let behind = (now - next).as_nanos() / every.as_nanos();
                let steps = u32::try_from(behind + 1).unwrap_or(u32::MAX);
                every.checked_mul(steps).and_then(|d| next.checked_add(d))
            }
        };
        true
    }
}

mod member {
    use super::*;

    /// What a set holds, one variant per kind of member.
    pub enum Entry<'a> {
        SpscConsumer(spsc::Consumer),
        SpscProducer(spsc::Producer, usize),
        MpmcConsumer(mpmc::Consumer),
        MpmcProducer(mpmc::Producer),
        Subscriber(Subscriber),
        Event(&'a Event, EventWatch),
        Timer(Timer),
    }

    /// The conversions behind [`Member`](super::Member) (sealed: only this
    /// crate's types are members).
    pub trait Sealed<'a>: Sized {
        fn into_entry(self) -> Entry<'a>;
        fn from_entry(entry: Entry<'a>) -> Option<Self>;
        fn get<'e>(entry: &'e Entry<'a>) -> Option<&'e Self>;
        fn get_mut<'e>(entry: &'e mut Entry<'a>) -> Option<&'e mut Self>;
    }

    macro_rules! member {
        ($t:ty, $v:ident, $($extra:tt)*) => {
            impl<'a> Sealed<'a> for $t {
                fn into_entry(self) -> Entry<'a> {
                    member!(@make self, $v, $($extra)*)
                }
                fn from_entry(entry: Entry<'a>) -> Option<Self> {
                    match entry {
                        Entry::$v(m, ..) => Some(m),
                        _ => None,
                    }
                }
                fn get<'e>(entry: &'e Entry<'a>) -> Option<&'e Self> {
                    match entry {
                        Entry::$v(m, ..) => Some(m),
                        _ => None,
                    }
                }
                fn get_mut<'e>(entry: &'e mut Entry<'a>) -> Option<&'e mut Self> {
                    match entry {
                        Entry::$v(m, ..) => Some(m),
                        _ => None,
                    }
                }
            }
            impl<'a> super::Member<'a> for $t {}
        };
        (@make $s:ident, $v:ident, ) => { Entry::$v($s) };
        (@make $s:ident, $v:ident, room) => {{
            let len = $s.max_message_len();
            Entry::$v($s, len)
        }};
        (@make $s:ident, $v:ident, watch) => { Entry::$v($s, EventWatch::default()) };
    }

    member!(spsc::Consumer, SpscConsumer,);
    member!(spsc::Producer, SpscProducer, room);
    member!(mpmc::Consumer, MpmcConsumer,);
    member!(mpmc::Producer, MpmcProducer,);
    member!(Subscriber, Subscriber,);
    member!(&'a Event, Event, watch);
    member!(Timer, Timer,);

    impl Entry<'_> {
        /// The queue signal this member's peer wakes, if it is a queue.
        pub(super) fn signal(&self) -> Option<Signal<'_>> {
            match self {
                Entry::SpscConsumer(c) => Some(c.message_signal()),
                Entry::SpscProducer(p, _) => Some(p.room_signal()),
                Entry::MpmcConsumer(c) => Some(c.message_signal()),
                Entry::MpmcProducer(p) => Some(p.room_signal()),
                Entry::Subscriber(s) => Some(s.message_signal()),
                Entry::Event(..) | Entry::Timer(_) => None,
            }
        }

        /// Whether it is ready now (an error the endpoint would report
        /// counts as ready: its `try_` call returns it).
        pub(super) fn poll(&mut self, now: Instant) -> bool {
            let ready = match self {
                Entry::SpscConsumer(c) => c.has_message(),
                Entry::SpscProducer(p, len) => p.has_room_for(*len),
                Entry::MpmcConsumer(c) => c.has_message(),
                Entry::MpmcProducer(p) => p.has_room(),
                Entry::Subscriber(s) => s.has_message(),
                Entry::Event(e, w) => Ok(e.watch_fired(w)),
                Entry::Timer(t) => Ok(t.fire(now)),
            };
            ready.unwrap_or(true)
        }

        /// The peer's state, the queue's name and the peer role's name.
        pub(super) fn peer(&self) -> Option<(Peer, &str, &'static str)> {
            match self {
                Entry::SpscConsumer(c) => Some((c.peer(), c.name(), "producer")),
                Entry::SpscProducer(p, _) => Some((p.peer(), p.name(), "consumer")),
                Entry::MpmcConsumer(c) => Some((c.peer(), c.queue_name(), "producers")),
                Entry::MpmcProducer(p) => Some((p.peer(), p.queue_name(), "consumers")),
                Entry::Subscriber(s) => Some((s.peer(), s.queue_name(), "publisher")),
                Entry::Event(..) | Entry::Timer(_) => None,
            }
        }

        /// Registers as a waiter on the member's word; the word and the
        /// value to sleep on, and the longest sleep the registration allows.
        pub(super) fn arm(&mut self) -> Option<(u32, Duration)> {
            match self {
                Entry::Event(e, w) => {
                    let (value, registered) = e.watch_arm(w);
                    let slice = if registered {
                        Event::WATCH_SLICE
                    } else {
                        Event::WATCH_UNREGISTERED_SLICE
                    };
                    Some((value, slice))
                }
                Entry::Timer(_) => None,
                queue => queue.signal().map(|s| (s.arm(), LIVENESS_SLICE)),
            }
        }

        /// The word that [`arm`](Self::arm) registered on.
        pub(super) fn word(&self) -> Option<&AtomicU32> {
            match self {
                Entry::Event(e, _) => Some(e.state_word()),
                Entry::Timer(_) => None,
                queue => queue.signal().map(|s| s.seq_word()),
            }
        }

        /// Undoes [`arm`](Self::arm).
        pub(super) fn disarm(&mut self) {
            match self {
                Entry::Event(e, w) => e.watch_disarm(w),
                Entry::Timer(_) => {}
                queue => {
                    if let Some(s) = queue.signal() {
                        s.disarm();
                    }
                }
            }
        }

        pub(super) fn timer_due(&self) -> Option<Instant> {
            match self {
                Entry::Timer(t) => t.next,
                _ => None,
            }
        }
    }
}

use member::{Entry, Sealed};

/// What a [`WaitSet`] can hold: [`spsc::Consumer`] (ready: a message),
/// [`spsc::Producer`] (ready: room for its largest message, or see
/// [`WaitSet::add_room`]), [`mpmc::Consumer`] (a message),
/// [`mpmc::Producer`] (a free slot), [`Subscriber`] (a message, or
/// [`Error::Lagged`]), `&Event` (fired) and [`Timer`] (due).
pub trait Member<'a>: Sealed<'a> {}

struct Place<'a> {
    generation: u32,
    entry: Option<Entry<'a>>,
}

/// Endpoints, events and timers to wait on together; see the
/// [module docs](self).
pub struct WaitSet<'a> {
    places: Vec<Place<'a>>,
    members: usize,
    /// Where the next sleep starts watching, when there are more words than
    /// one call can watch.
    rotation: usize,
    /// When the members' peers were last checked (across calls, so that a
    /// set waited on in a loop does not probe every peer each time it
    /// sleeps); `None` after a member was added.
    peers_checked: Option<Instant>,
}

impl Default for WaitSet<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for WaitSet<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitSet")
            .field("members", &self.members)
            .finish_non_exhaustive()
    }
}

impl<'a> WaitSet<'a> {
    /// An empty set.
    ///
    /// # Example
    /// ```
    /// let set = shmkit::WaitSet::new();
    /// assert!(set.is_empty());
    /// ```
    pub fn new() -> Self {
        WaitSet {
            places: Vec::new(),
            members: 0,
            rotation: 0,
            peers_checked: None,
        }
    }

    /// How many members it holds.
    ///
    /// # Example
    /// ```
    /// let mut set = shmkit::WaitSet::new();
    /// set.add_interval(std::time::Duration::from_secs(1));
    /// assert_eq!(set.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.members
    }

    /// Whether it holds no member.
    ///
    /// # Example
    /// ```
    /// let mut set = shmkit::WaitSet::new();
    /// let k = set.add_interval(std::time::Duration::from_secs(1));
    /// assert!(!set.is_empty());
    /// set.remove(k);
    /// assert!(set.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.members == 0
    }

    /// Adds a member (see [`Member`] for what makes each kind ready) and
    /// returns its key.
    ///
    /// # Example
    /// ```
    /// use shmkit::{queue::mpmc, WaitSet};
    /// # let name = format!("doc-ws-add-{}", std::process::id());
    /// let mut set = WaitSet::new();
    /// let k = set.add(mpmc::Consumer::create(&name, 8, 64)?);
    /// mpmc::Producer::open(&name)?.send(b"x")?;
    /// assert!(set.wait()?[0].is(k));
    /// assert_eq!(set.get_mut(k).unwrap().try_recv()?.unwrap(), b"x");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn add<M: Member<'a>>(&mut self, member: M) -> Key<M> {
        self.insert(member.into_entry())
    }

    /// Adds an SPSC producer that is ready when a message of `len` bytes
    /// fits (a `len` above its largest message makes it ready at once: its
    /// `try_send` then reports [`Error::MessageTooLarge`]).
    ///
    /// # Example
    /// ```
    /// use shmkit::{queue::spsc, WaitSet};
    /// # let name = format!("doc-ws-room-{}", std::process::id());
    /// let mut rx = spsc::Consumer::create(&name, 1024)?;
    /// let mut set = WaitSet::new();
    /// let k = set.add_room(spsc::Producer::open(&name)?, 100);
    /// let tx = set.get_mut(k).unwrap();
    /// while tx.try_send(&[0; 100]).is_ok() {} // fill the ring
    /// assert!(set.wait_timeout(std::time::Duration::from_millis(10))?.is_empty());
    /// for _ in 0..3 {
    ///     rx.recv()?; // room for 100 bytes, wherever the ring wraps
    /// }
    /// assert!(set.wait()?[0].is(k));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn add_room(&mut self, producer: spsc::Producer, len: usize) -> Key<spsc::Producer> {
        self.insert(Entry::SpscProducer(producer, len))
    }

    /// Adds a deadline: reported by the first wait that finds it passed.
    ///
    /// # Example
    /// ```
    /// use std::time::{Duration, Instant};
    /// let mut set = shmkit::WaitSet::new();
    /// let k = set.add_deadline(Instant::now() + Duration::from_millis(5));
    /// assert!(set.wait()?[0].is(k));
    /// assert!(set.wait_timeout(Duration::from_millis(5))?.is_empty()); // once only
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn add_deadline(&mut self, at: Instant) -> Key<Timer> {
        self.add(Timer {
            next: Some(at),
            every: None,
        })
    }

    /// Adds an interval timer, first due `every` from now.
    ///
    /// # Example
    /// ```
    /// use std::time::{Duration, Instant};
    /// let mut set = shmkit::WaitSet::new();
    /// let k = set.add_interval(Duration::from_millis(2));
    /// let start = Instant::now();
    /// for _ in 0..3 {
    ///     assert!(set.wait()?[0].is(k));
    /// }
    /// assert!(start.elapsed() >= Duration::from_millis(6));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn add_interval(&mut self, every: Duration) -> Key<Timer> {
        self.add(Timer {
            next: Instant::now().checked_add(every),
            every: Some(every),
        })
    }

    fn insert<M>(&mut self, entry: Entry<'a>) -> Key<M> {
        if let Some(signal) = entry.signal() {
            // The set may block on the signal whatever the endpoint's own
            // strategy: count it, so that wakers look for waiters.
            signal.register(Wait::Block);
        }
        self.members += 1;
        self.peers_checked = None;
        let index = match self.places.iter().position(|p| p.entry.is_none()) {
            Some(i) => {
                self.places[i].entry = Some(entry);
                i
            }
            None => {
                self.places.push(Place {
                    generation: 0,
                    entry: Some(entry),
                });
                self.places.len() - 1
            }
        };
        Key {
            id: Id {
                index: index as u32,
                generation: self.places[index].generation,
            },
            _member: PhantomData,
        }
    }

    fn place(&self, id: Id) -> Option<&Entry<'a>> {
        let p = self.places.get(id.index as usize)?;
        (p.generation == id.generation).then_some(p.entry.as_ref()?)
    }

    fn place_mut(&mut self, id: Id) -> Option<&mut Entry<'a>> {
        let p = self.places.get_mut(id.index as usize)?;
        (p.generation == id.generation).then_some(p.entry.as_mut()?)
    }

    /// The member of `key`; `None` once removed.
    ///
    /// # Example
    /// ```
    /// use shmkit::{queue::spsc, WaitSet};
    /// # let name = format!("doc-ws-get-{}", std::process::id());
    /// let mut set = WaitSet::new();
    /// let k = set.add(spsc::Consumer::create(&name, 4096)?);
    /// assert_eq!(set.get(k).unwrap().name(), name);
    /// set.remove(k);
    /// assert!(set.get(k).is_none());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn get<M: Member<'a>>(&self, key: Key<M>) -> Option<&M> {
        M::get(self.place(key.id)?)
    }

    /// The member of `key`, to receive or send on; `None` once removed.
    ///
    /// # Example
    /// ```
    /// use shmkit::{queue::spsc, WaitSet};
    /// # let name = format!("doc-ws-getmut-{}", std::process::id());
    /// let mut set = WaitSet::new();
    /// let k = set.add(spsc::Consumer::create(&name, 4096)?);
    /// spsc::Producer::open(&name)?.send(b"hi")?;
    /// set.wait()?;
    /// assert_eq!(set.get_mut(k).unwrap().try_recv()?.unwrap(), b"hi");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn get_mut<M: Member<'a>>(&mut self, key: Key<M>) -> Option<&mut M> {
        M::get_mut(self.place_mut(key.id)?)
    }

    /// Takes the member of `key` out of the set; `None` if already removed.
    ///
    /// # Example
    /// ```
    /// let mut set = shmkit::WaitSet::new();
    /// let k = set.add_interval(std::time::Duration::from_secs(1));
    /// assert!(set.remove(k).is_some());
    /// assert!(set.remove(k).is_none() && set.is_empty());
    /// ```
    pub fn remove<M: Member<'a>>(&mut self, key: Key<M>) -> Option<M> {
        self.place(key.id)?;
        let place = &mut self.places[key.id.index as usize];
        let entry = place.entry.take()?;
        place.generation = place.generation.wrapping_add(1);
        self.members -= 1;
        if let Some(signal) = entry.signal() {
            signal.unregister(Wait::Block);
        }
        M::from_entry(entry)
    }

    /// Blocks until at least one member is ready, and returns all that are.
    ///
    /// # Errors
    /// [`Error::EmptyWaitSet`] if the set has no member (it would never
    /// return). A member's own trouble (its peer died, its queue is
    /// corrupted) is reported in its [`Ready`], not here.
    ///
    /// # Example
    /// ```
    /// let mut set = shmkit::WaitSet::new();
    /// assert!(matches!(set.wait(), Err(shmkit::Error::EmptyWaitSet)));
    /// let k = set.add_interval(std::time::Duration::from_millis(1));
    /// assert!(set.wait()?[0].is(k));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn wait(&mut self) -> Result<Vec<Ready>> {
        self.wait_until(None)
    }

    /// As [`wait`](Self::wait), for at most `timeout`: an empty list if
    /// nothing was ready by then.
    ///
    /// # Errors
    /// [`Error::EmptyWaitSet`] for an empty set and a timeout too long to
    /// end (past what [`Instant`] holds), which would never return.
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// let mut set = shmkit::WaitSet::new();
    /// set.add_interval(Duration::from_secs(60));
    /// assert!(set.wait_timeout(Duration::from_millis(5))?.is_empty());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Vec<Ready>> {
        // A timeout past what `Instant` holds waits as `wait` does.
        self.wait_until(Instant::now().checked_add(timeout))
    }

    /// The loop: poll every member; spin a few rounds; then check peers
    /// (before the first sleep and every [`LIVENESS_SLICE`]), arm every
    /// member's word and poll again, and sleep on all the words at once.
    fn wait_until(&mut self, deadline: Option<Instant>) -> Result<Vec<Ready>> {
        if self.is_empty() && deadline.is_none() {
            return Err(Error::EmptyWaitSet);
        }
        let spin_rounds = (SPIN_POLLS / self.members.max(1)).max(1);
        let mut rounds = 0;
        let mut ready = Vec::new();
        let mut values: Vec<(usize, u32)> = Vec::new();
        loop {
            let now = Instant::now();
            self.poll_all(now, &mut ready);
            if !ready.is_empty() {
                return Ok(ready);
            }
            rounds += 1;
            if rounds < spin_rounds {
                std::hint::spin_loop();
                continue;
            }
            if deadline.is_some_and(|d| now >= d) {
                return Ok(ready);
            }
            if self
                .peers_checked
                .is_none_or(|t| now.duration_since(t) >= LIVENESS_SLICE)
            {
                self.peers_checked = Some(now);
                self.check_peers(now, &mut ready);
                if !ready.is_empty() {
                    // Look again at the next wait: a gone peer stays
                    // reported, at once, until a new one attaches.
                    self.peers_checked = None;
                    return Ok(ready);
                }
            }
            let mut slice = LIVENESS_SLICE;
            if let Some(d) = deadline {
                slice = slice.min(d - now);
            }
            // Arm each member, then poll it again: a change made before its
            // registration is seen now, one made after wakes the sleep.
            values.clear();
            let mut found = false;
            for (i, place) in self.places.iter_mut().enumerate() {
                let Some(entry) = place.entry.as_mut() else {
                    continue;
                };
                if let Some(due) = entry.timer_due() {
                    slice = slice.min(due.saturating_duration_since(now));
                }
                if let Some((value, most)) = entry.arm() {
                    values.push((i, value));
                    slice = slice.min(most);
                }
                if entry.poll(now) {
                    // Reported now: this poll may have taken something (an
                    // auto-reset event's signal, a timer's tick).
                    ready.push(self_ready(i, place.generation));
                    found = true;
                    break;
                }
            }
            if !found {
                let mut words: Vec<(&AtomicU32, u32)> = values
                    .iter()
                    .filter_map(|&(i, v)| Some((self.places[i].entry.as_ref()?.word()?, v)))
                    .collect();
                if words.len() > WAIT_ANY_MAX {
                    let start = self.rotation % words.len();
                    words.rotate_left(start);
                    self.rotation = self.rotation.wrapping_add(WAIT_ANY_MAX);
                }
                wait_any(&words, slice);
            }
            for &(i, _) in &values {
                if let Some(entry) = self.places[i].entry.as_mut() {
                    entry.disarm();
                }
            }
            if found {
                // The member found in the armed poll, plus any others ready.
                self.poll_all(Instant::now(), &mut ready);
                return Ok(ready);
            }
        }
    }

    /// Pushes every member that is ready now (each at most once).
    fn poll_all(&mut self, now: Instant, ready: &mut Vec<Ready>) {
        for (i, place) in self.places.iter_mut().enumerate() {
            let generation = place.generation;
            let Some(entry) = place.entry.as_mut() else {
                continue;
            };
            if ready.iter().any(|r| r.id.index == i as u32) {
                continue;
            }
            if entry.poll(now) {
                ready.push(self_ready(i, generation));
            }
        }
    }

    /// Pushes every queue member whose peer died or closed with nothing
    /// left for it (a last message is reported as ready instead).
    #[cold]
    fn check_peers(&mut self, now: Instant, ready: &mut Vec<Ready>) {
        for (i, place) in self.places.iter_mut().enumerate() {
            let generation = place.generation;
            let Some(entry) = place.entry.as_mut() else {
                continue;
            };
            let Some((peer, name, role)) = entry.peer() else {
                continue;
            };
            let (status, error) = match peer {
                Peer::Alive | Peer::NotYet => continue,
                Peer::Died => (
                    Status::PeerDied,
                    Error::PeerDied {
                        name: name.to_owned(),
                        peer: role,
                    },
                ),
                Peer::Closed => (
                    Status::Closed,
                    Error::Closed {
                        name: name.to_owned(),
                        peer: role,
                    },
                ),
            };
            // It may have sent its last message and gone.
            let id = Id {
                index: i as u32,
                generation,
            };
            if entry.poll(now) {
                ready.push(self_ready(i, generation));
            } else {
                ready.push(Ready {
                    id,
                    status,
                    error: Some(error),
                });
            }
        }
    }
}

fn self_ready(index: usize, generation: u32) -> Ready {
    Ready {
        id: Id {
            index: index as u32,
            generation,
        },
        status: Status::Ready,
        error: None,
    }
}

impl Drop for WaitSet<'_> {
    fn drop(&mut self) {
        for place in &mut self.places {
            if let Some(signal) = place.entry.as_ref().and_then(Entry::signal) {
                signal.unregister(Wait::Block);
            }
        }
    }
}

#[cfg(all(test, target_os = "linux", not(miri)))]
mod tests {
    use super::*;

    /// A kernel without `futex_waitv` (forced here): the set sleeps on one
    /// word in short slices and still sees a message on another.
    #[test]
    fn without_futex_waitv_a_message_on_an_unwatched_word_still_wakes_the_set() {
        crate::sync::disable_waitv_for_tests();
        let base = format!("u{}-wsfb-", std::process::id());
        let mut set = WaitSet::new();
        let keys: Vec<_> = (0..3)
            .map(|i| set.add(spsc::Consumer::create(&format!("{base}{i}"), 256).unwrap()))
            .collect();
        let mut tx = spsc::Producer::open(&format!("{base}2")).unwrap();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            tx.send(b"late").unwrap();
            tx
        });
        let ready = set.wait_timeout(Duration::from_secs(10)).unwrap();
        drop(sender.join().unwrap());
        assert_eq!(ready.len(), 1);
        assert!(ready[0].is(keys[2]));
        let got = set.get_mut(keys[2]).unwrap().try_recv().unwrap();
        assert_eq!(got.as_deref(), Some(&b"late"[..]));
    }
}

#[cfg(all(test, windows, not(miri)))]
mod windows_tests {
    use super::*;
    use std::sync::atomic::Ordering;

    /// The set sleeps in `WaitForMultipleObjects`, and a producer's wake-up
    /// of the third member's semaphore (not a timeout) ends the sleep. A
    /// message sent while the set is between two sleeps (probing peers, say)
    /// is found by its next poll instead, so the release is asserted over
    /// five rounds, not each one.
    #[test]
    fn a_message_releases_the_semaphore_the_set_sleeps_on() {
        let base = format!("u{}-wswin-", std::process::id());
        let mut set = WaitSet::new();
        let keys: Vec<_> = (0..3)
            .map(|i| set.add(spsc::Consumer::create(&format!("{base}{i}"), 256).unwrap()))
            .collect();
        let mut tx = spsc::Producer::open(&format!("{base}2")).unwrap();
        let before = crate::os::wake::SIGNALLED.load(Ordering::Relaxed);
        for _ in 0..5 {
            let sender = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                tx.send(b"late").unwrap();
                tx
            });
            let ready = set.wait_timeout(Duration::from_secs(10)).unwrap();
            tx = sender.join().unwrap();
            assert_eq!(ready.len(), 1);
            assert!(ready[0].is(keys[2]));
            let got = set.get_mut(keys[2]).unwrap().try_recv().unwrap();
            assert_eq!(got.as_deref(), Some(&b"late"[..]));
        }
        assert!(crate::os::wake::SIGNALLED.load(Ordering::Relaxed) > before);
    }
}

#[cfg(all(test, not(miri)))]
mod event_tests {
    use super::*;
    use crate::sync::EventMode;

    /// A `notify_all` while the set sleeps registered on an auto-reset
    /// event wakes it through the generation (no signal is left set), and
    /// a manual-reset event is reported while set.
    #[test]
    fn notify_all_wakes_a_set_that_sleeps_on_the_event() {
        let e = Event::new(EventMode::AutoReset);
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let mut set = WaitSet::new();
                let k = set.add(&e);
                let ready = set.wait_timeout(Duration::from_secs(10)).unwrap();
                ready.len() == 1 && ready[0].is(k)
            });
            let start = Instant::now();
            while e.sleepers() == 0 {
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "the set never slept"
                );
                std::thread::yield_now();
            }
            e.notify_all().unwrap();
            assert!(waiter.join().unwrap());
        });
        assert!(!e.is_signalled());
        assert_eq!(e.sleepers(), 0);

        let m = Event::new(EventMode::ManualReset);
        let mut set = WaitSet::new();
        let k = set.add(&m);
        assert!(set
            .wait_timeout(Duration::from_millis(5))
            .unwrap()
            .is_empty());
        m.notify_one().unwrap();
        for _ in 0..2 {
            assert!(set.wait().unwrap()[0].is(k));
        }
        m.reset().unwrap();
        assert!(set
            .wait_timeout(Duration::from_millis(5))
            .unwrap()
            .is_empty());
        drop(set);
        assert_eq!(m.sleepers(), 0);
    }
}
