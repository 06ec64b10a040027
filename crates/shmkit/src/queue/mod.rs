//! Messaging between processes through named segments: queues.
//!
//! - [`spsc`]: one [`Producer`](spsc::Producer), one
//!   [`Consumer`](spsc::Consumer), variable-length byte messages through a
//!   ring, by copy or in place (reserve / write / commit, read / release).
//! - [`Sender`] / [`Receiver`]: a typed channel of any [`Layout`](crate::Layout)
//!   type over an SPSC queue.
//! - [`mpmc`]: many producer and many consumer processes, each message
//!   delivered exactly once.
//! - [`broadcast`](crate::broadcast): one publisher, many subscribers with
//!   their own cursors.
//!
//! ```
//! use shmkit::queue::spsc::{Consumer, Producer};
//!
//! # let name = format!("doc-q-{}", std::process::id());
//! let mut rx = Consumer::create(&name, 4096)?;    // one process
//! let mut tx = Producer::open(&name)?;            // another
//! tx.send(b"hello")?;
//! assert_eq!(rx.recv()?, b"hello");
//! assert_eq!(rx.try_recv()?, None);
//! # Ok::<(), shmkit::Error>(())
//! ```
//!
//! # Robustness
//! Everything a peer can write is untrusted: each index and length is read
//! once, validated, and only the validated copy is used; a peer that writes
//! garbage makes the other side return [`Error::Corrupted`](crate::Error),
//! never panic or read out of bounds. No method hands out `&[u8]` into the
//! queue: the in-place views copy out and in with atomic accesses.
//!
//! Each endpoint holds a liveness lock (an `flock` on a per-role file, which
//! the OS drops when the process dies), so a waiting endpoint learns that its
//! peer died ([`Error::PeerDied`](crate::Error)) or closed
//! ([`Error::Closed`](crate::Error)) instead of waiting forever. A lock file
//! that is not this user's own (another user may plant files in the
//! world-writable `/dev/shm`) is ignored unless its owner is trusted
//! ([`Options::trust_owner`]): that role's liveness is then unknown, and
//! waits end by their timeouts.
//!
//! A queue is this user's alone by default. To share one with another
//! user, create it with [`Options::mode`] and trust each other's uid on
//! both sides ([`Options::trust_owner`], and [`Options::accept_mode`] for a
//! mode that others may write).
//!
//! On Windows the liveness lock is a named event per role, which exists
//! while some holder's handle is open (the OS closes a dead process's
//! handles). There the mode becomes the segment's DACL and `trust_owner`
//! and `accept_mode` have no effect (as for segments); a role event is its
//! creator's alone, so a peer of another user reads as alive until it
//! closes, and waits for a dead one end by their timeouts.

use std::time::{Duration, Instant};

use crate::{Error, Result};

pub(crate) mod atomic;
pub mod channel;
pub mod mpmc;
pub(crate) mod region;
pub mod spsc;
pub(crate) mod wait;

pub use channel::{Receiver, Sender};
pub use region::Peer;

/// How an endpoint waits for its peer.
///
/// The choice is per endpoint: a busy-spinning consumer and a blocking
/// producer work together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Wait {
    /// Poll without pause: the lowest latency, a whole CPU while waiting.
    /// The clock and the peer's liveness are checked every few thousand polls.
    Spin,
    /// Poll for a few microseconds, then block (the default).
    #[default]
    SpinThenBlock,
    /// Block at once: a shared futex on Linux. Elsewhere, sleep in slices of
    /// 100 µs (up to that much added latency).
    Block,
}

/// Choices for creating or opening a queue endpoint.
///
/// # Example
/// ```
/// use shmkit::queue::{spsc, Options, Wait};
/// # let name = format!("doc-qopt-{}", std::process::id());
/// let opts = Options::default().wait(Wait::Spin);
/// let rx = spsc::Consumer::create_with(&name, 1024, &opts)?;
/// assert_eq!(rx.wait_strategy(), Wait::Spin);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Options {
    pub(crate) wait: Wait,
    pub(crate) persist: bool,
    pub(crate) open_timeout: Duration,
    pub(crate) creator_timeout: Duration,
    pub(crate) mode: Option<u32>,
    pub(crate) trusted_owners: Vec<u32>,
    pub(crate) accept_mode: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            wait: Wait::default(),
            persist: false,
            open_timeout: Duration::from_secs(5),
            creator_timeout: Duration::ZERO,
            mode: None,
            trusted_owners: Vec::new(),
            accept_mode: 0,
        }
    }
}

impl Options {
    /// How this endpoint waits (default [`Wait::SpinThenBlock`]).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{spsc, Options, Wait};
    /// # let name = format!("doc-qopt-wait-{}", std::process::id());
    /// let mut rx = spsc::Consumer::create_with(&name, 1024, &Options::default().wait(Wait::Block))?;
    /// let mut tx = spsc::Producer::open_with(&name, &Options::default().wait(Wait::Spin))?;
    /// assert_eq!((rx.wait_strategy(), tx.wait_strategy()), (Wait::Block, Wait::Spin));
    /// tx.send(b"mixed")?;
    /// assert_eq!(rx.recv()?, b"mixed");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn wait(mut self, wait: Wait) -> Self {
        self.wait = wait;
        self
    }

    /// Keeps the queue's name when the creating endpoint is dropped (default
    /// `false`: the creator removes the name, as [`Segment`](crate::Segment)
    /// does). Use it when the creator may exit before the other side opens.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{self, spsc, Options};
    /// # #[cfg(unix)] { // Windows has no persistent names: a mapping dies with its last handle
    /// # let name = format!("doc-qopt-persist-{}", std::process::id());
    /// let mut tx = spsc::Producer::create_with(&name, 1024, &Options::default().persist(true))?;
    /// tx.send(b"kept")?;
    /// drop(tx); // the creator exits; the queue stays
    /// let mut rx = spsc::Consumer::open(&name)?;
    /// assert_eq!(rx.recv()?, b"kept");
    /// drop(rx);
    /// queue::remove(&name)?; // a persistent queue is removed by hand
    /// # }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn persist(mut self, persist: bool) -> Self {
        self.persist = persist;
        self
    }

    /// How long `open` waits for a queue that its creator is still
    /// initialising (default 5 s).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{spsc, Options};
    /// use std::time::Duration;
    /// # let name = format!("doc-qopt-opent-{}", std::process::id());
    /// // An opener that gives a slow creator 30 s instead of 5:
    /// let opts = Options::default().open_timeout(Duration::from_secs(30));
    /// let mut rx = spsc::Consumer::create(&name, 1024)?;
    /// let mut tx = spsc::Producer::open_with(&name, &opts)?; // set up: no wait
    /// tx.send(b"x")?;
    /// assert_eq!(rx.recv()?, b"x");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_timeout(mut self, timeout: Duration) -> Self {
        self.open_timeout = timeout;
        self
    }

    /// How long `open` waits for a queue that does not exist yet to be
    /// created (default zero: a missing queue is [`Error::NotFound`] at
    /// once). With it, an opener may start before the creator: it looks for
    /// the name again, in pauses growing to 10 ms, until it appears or
    /// `timeout` has passed (then [`Error::NotFound`]). Once the name is
    /// there, [`open_timeout`](Self::open_timeout) bounds the wait for the
    /// creator to finish setting it up.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{spsc, Options};
    /// use std::time::Duration;
    /// # let name = format!("doc-qwait-{}", std::process::id());
    /// let opts = Options::default().wait_for_creator(Duration::from_secs(5));
    /// let creator = {
    ///     let name = name.clone();
    ///     std::thread::spawn(move || {
    ///         std::thread::sleep(Duration::from_millis(50));
    ///         spsc::Consumer::create(&name, 1024)
    ///     })
    /// };
    /// let mut tx = spsc::Producer::open_with(&name, &opts)?; // before it exists
    /// let mut rx = creator.join().unwrap()?;
    /// tx.send(b"hi")?;
    /// assert_eq!(rx.recv()?, b"hi");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn wait_for_creator(mut self, timeout: Duration) -> Self {
        self.creator_timeout = timeout;
        self
    }

    /// Permission bits for a new queue's segment (default `0o600`: this
    /// user only), applied exactly, as [`SegmentOptions::mode`] does. To
    /// share a queue with another user, give them read and write access
    /// (`0o660` with a common group, or `0o666`); their endpoints then need
    /// [`trust_owner`](Self::trust_owner) (and [`accept_mode`](Self::accept_mode)
    /// for a mode that others may write).
    ///
    /// With group or other read bits in the mode, this endpoint's role lock
    /// file (how peers tell that it is alive) gets the same read bits (mode
    /// `0o660` gives `0o640`), so that a peer of another user can probe it.
    ///
    /// [`SegmentOptions::mode`]: crate::SegmentOptions::mode
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{spsc, Options};
    /// # let name = format!("doc-qopt-mode-{}", std::process::id());
    /// let mut rx = spsc::Consumer::create_with(&name, 1024, &Options::default().mode(0o640))?;
    /// // Group-readable, writable by this user only: opens need no more options.
    /// let mut tx = spsc::Producer::open(&name)?;
    /// tx.send(b"shared")?;
    /// assert_eq!(rx.recv()?, b"shared");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Accepts a queue segment owned by user `uid` (opening one of another
    /// owner is otherwise refused with
    /// [`Error::UntrustedOwner`]), and that
    /// user's role lock files: a peer endpoint of user `uid` can then be
    /// seen to die ([`Error::PeerDied`]); without
    /// it, lock files of other users are ignored and waits end by their
    /// timeouts. May be called several times. Without [`mode`](Self::mode)
    /// (an opener), also makes this endpoint's own lock file readable by
    /// everyone (`0o644`), so that the other users can probe it.
    ///
    /// Give it on both sides: the opener trusts the creator, the creator
    /// trusts the users whose endpoints it expects.
    ///
    /// # Example
    /// ```no_run
    /// use shmkit::queue::{spsc, Options};
    /// // User 1000's service creates the queue for user 1001's client:
    /// let opts = Options::default().mode(0o666).trust_owner(1001);
    /// let rx = spsc::Consumer::create_with("svc-requests", 1 << 16, &opts)?;
    /// // ... and the client, as user 1001, opens it:
    /// let opts = Options::default().trust_owner(1000).accept_mode(0o666);
    /// let tx = spsc::Producer::open_with("svc-requests", &opts)?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn trust_owner(mut self, uid: u32) -> Self {
        self.trusted_owners.push(uid);
        self
    }

    /// Accepts a queue segment whose mode has these group/other write bits
    /// set (for example `0o666`); by default such a segment is refused with
    /// [`Error::InsecureMode`], as
    /// [`SegmentOptions::accept_mode`](crate::SegmentOptions::accept_mode)
    /// says.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{spsc, Options};
    /// # let name = format!("doc-qopt-accept-{}", std::process::id());
    /// let rx = spsc::Consumer::create_with(&name, 1024, &Options::default().mode(0o666))?;
    /// # #[cfg(unix)] // on Windows the mode is a DACL and this check does not apply
    /// assert!(matches!(spsc::Producer::open(&name), Err(shmkit::Error::InsecureMode { .. })));
    /// let tx = spsc::Producer::open_with(&name, &Options::default().accept_mode(0o666))?;
    /// assert_eq!(tx.peer(), shmkit::queue::Peer::Alive);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn accept_mode(mut self, mode: u32) -> Self {
        self.accept_mode = mode;
        self
    }

    /// The mode of this endpoint's role lock file: 0600, plus read access
    /// for whoever the queue's mode lets read (a creator with `mode`), or
    /// for everyone when it only trusts other users (an opener, which does
    /// not know whom the creator let in).
    pub(crate) fn lock_mode(&self) -> u32 {
        match self.mode {
            Some(m) => 0o600 | (m & 0o044),
            None if !self.trusted_owners.is_empty() => 0o644,
            None => 0o600,
        }
    }
}

pub(crate) use Options as QueueOptions;

/// Runs `open` until the queue's name exists, for up to
/// [`Options::wait_for_creator`]. Nothing portable tells when a name
/// appears (`shm_open` and `OpenFileMappingW` only report that it is not
/// there yet), so this polls.
pub(crate) fn open_waiting<T>(opts: &Options, mut open: impl FnMut() -> Result<T>) -> Result<T> {
    let start = Instant::now();
    let mut pause = Duration::from_micros(100);
    loop {
        match open() {
            Err(Error::NotFound { .. }) if start.elapsed() < opts.creator_timeout => {
                let left = opts.creator_timeout.saturating_sub(start.elapsed());
                std::thread::sleep(pause.min(left));
                pause = (pause * 2).min(Duration::from_millis(10));
            }
            r => return r,
        }
    }
}

/// Creates a queue with `create`, or opens the one another process made
/// with `open`. Race-free: creation is exclusive (`shm_open(O_CREAT |
/// O_EXCL)`; on Windows `CreateFileMappingW` reporting
/// `ERROR_ALREADY_EXISTS`), so of processes racing exactly one creates and
/// the others' `create` fails with
/// [`Error::AlreadyExists`]; their `open` then waits for the creator to
/// publish the header ([`Options::open_timeout`]), or learns that it died
/// first ([`Error::InitAbandoned`]). A queue removed between the two calls
/// (its creator dropped it) makes the next turn create it anew; a bounded
/// number of turns rides that out.
pub(crate) fn open_or_create<T>(
    name: &str,
    mut create: impl FnMut() -> Result<T>,
    mut open: impl FnMut() -> Result<T>,
) -> Result<T> {
    for _ in 0..64 {
        match create() {
            Err(Error::AlreadyExists { .. }) => {}
            other => return other,
        }
        match open() {
            Err(Error::NotFound { .. }) => {}
            other => return other,
        }
    }
    Err(Error::NotFound {
        name: name.to_owned(),
    })
}

/// What a segment's queue header says: for tools such as `shmkit ls`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Info {
    /// `"spsc"`, `"mpmc"` or `"broadcast"`.
    pub kind: &'static str,
    /// Ring bytes (SPSC), or slots (MPMC, broadcast).
    pub capacity: u64,
    /// The largest message it carries, in bytes.
    pub max_message: u64,
    /// Whether its creator finished setting it up.
    pub ready: bool,
    /// How full it is, as its indices said when read: bytes of committed,
    /// unreleased records (SPSC, headers included), messages waiting (MPMC),
    /// or messages the ring still holds (broadcast). Peer-written words,
    /// read without locking and clamped to `capacity`, so a snapshot for
    /// display only.
    pub used: u64,
}

/// Reads the queue header of a mapped segment (a read-only mapping will
/// do): `None` if it is no shmkit queue, `Some(Err(why))` if its header is
/// inconsistent.
///
/// # Example
/// ```
/// use shmkit::queue::{self, spsc};
/// # let name = format!("doc-qinfo-{}", std::process::id());
/// let mut rx = spsc::Consumer::create(&name, 4096)?;
/// let seg = shmkit::Segment::open(&name)?;
/// let info = queue::inspect(&seg).unwrap().unwrap();
/// assert_eq!((info.kind, info.capacity, info.ready), ("spsc", 4096, true));
/// assert_eq!(info.used, 0);
/// spsc::Producer::open(&name)?.send(b"hello")?;
/// assert!(queue::inspect(&seg).unwrap().unwrap().used > 0); // a record waits
/// rx.recv()?;
/// assert_eq!(queue::inspect(&seg).unwrap().unwrap().used, 0);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub fn inspect(seg: &crate::Segment) -> Option<Result<Info, String>> {
    Some(region::Region::inspect(seg)?.map(|(g, ready)| {
        let word = |at: usize| {
            let mut b = [0u8; 8];
            seg.read_at(at, &mut b)
                .map_or(0, |()| u64::from_ne_bytes(b))
        };
        let used = match g.kind {
            region::Kind::Spsc => word(spsc::TAIL).saturating_sub(word(spsc::HEAD)),
            region::Kind::Mpmc => word(mpmc::ENQUEUE).saturating_sub(word(mpmc::DEQUEUE)),
            region::Kind::Broadcast => word(crate::broadcast::NEXT),
        };
        Info {
            kind: g.kind.short(),
            capacity: g.capacity,
            max_message: g.max_message,
            ready,
            used: used.min(g.capacity),
        }
    }))
}

/// Removes a queue (SPSC, MPMC or broadcast): its segment's name and its
/// role lock files. Processes that have it open keep it until they drop
/// their endpoints. Use it for queues created with
/// [`Options::persist`], or left behind by a creator that died.
///
/// # Errors
/// As [`Segment::remove`](crate::Segment::remove).
///
/// # Example
/// ```
/// use shmkit::queue::{self, spsc, Options};
/// # #[cfg(unix)] { // Windows has no persistent names
/// # let name = format!("doc-qrm-{}", std::process::id());
/// drop(spsc::Consumer::create_with(&name, 1024, &Options::default().persist(true))?);
/// assert!(spsc::Producer::open(&name).is_ok());
/// queue::remove(&name)?;
/// assert!(matches!(spsc::Producer::open(&name), Err(shmkit::Error::NotFound { .. })));
/// # }
/// # Ok::<(), shmkit::Error>(())
/// ```
pub fn remove(name: &str) -> crate::Result<()> {
    let r = crate::Segment::remove(name);
    if crate::name::Name::new(name).is_ok() {
        region::remove_all_role_locks(name);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::Options;

    /// A role lock file is readable by whoever the queue lets in: by the
    /// mode's read bits for a creator, by all for an opener that trusts
    /// other users, by nobody else by default.
    #[test]
    fn lock_files_are_readable_by_whom_the_queue_lets_in() {
        let lock_mode = |o: Options| o.lock_mode();
        assert_eq!(lock_mode(Options::default()), 0o600);
        assert_eq!(lock_mode(Options::default().mode(0o660)), 0o640);
        assert_eq!(lock_mode(Options::default().mode(0o666)), 0o644);
        assert_eq!(
            lock_mode(Options::default().mode(0o600).trust_owner(7)),
            0o600
        );
        assert_eq!(lock_mode(Options::default().trust_owner(7)), 0o644);
    }
}
