//! A typed channel: [`Layout`] values over an SPSC queue.
//!
//! The queue's header records the FNV-1a hash of `T`'s layout description,
//! and the creator stores the description itself between the header and the
//! ring, so a program that opens the channel with another type is refused
//! with [`Error::LayoutMismatch`] naming the first difference, as
//! [`Shared::open`](crate::Shared::open) does.
//!
//! `T` must be `Copy` as well as [`Layout`]: a value is sent by reading its
//! bytes, and `Copy` rules out the `Layout` types with interior mutability
//! (atomics, `in_place` structs, the synchronisation primitives), whose bytes
//! another thread could change while they are read, a data race.

use std::marker::PhantomData;
use std::time::Duration;

use super::spsc::{create_typed, open_ring, Consumer, Producer, Ring};
use super::{Peer, QueueOptions};
use crate::layout::{bytes_of, bytes_of_mut, zeroed, Ty};
use crate::shared::{check_described, fnv1a};
use crate::{Error, Layout, Result};

/// Creates the ring of a channel of `T`, with `T`'s layout stored in it.
fn create_channel<T: Layout>(name: &str, count: usize, opts: &QueueOptions) -> Result<Ring> {
    let layout = T::describe().to_bytes();
    let capacity = capacity_for(std::mem::size_of::<T>() as u64, count);
    create_typed(name, capacity, opts, fnv1a(&layout), &layout)
}

/// Opens the ring of a channel of `T`, or creates it (see
/// [`super::open_or_create`]).
fn open_or_create_channel<T: Layout>(
    name: &str,
    count: usize,
    opts: &QueueOptions,
) -> Result<Ring> {
    super::open_or_create(
        name,
        || create_channel::<T>(name, count, opts),
        || open_channel::<T>(name, opts),
    )
}

/// Opens the ring of a channel and checks that it carries `T`.
fn open_channel<T: Layout>(name: &str, opts: &QueueOptions) -> Result<Ring> {
    open_checked(name, opts, Some(&T::describe())).map(|(ring, _)| ring)
}

/// Opens the ring of a channel and reads the layout it carries, checking it
/// against `expected` if given.
fn open_checked(name: &str, opts: &QueueOptions, expected: Option<&Ty>) -> Result<(Ring, Ty)> {
    let ring = open_ring(name, opts, None)?;
    let hash = expected.map(|t| fnv1a(&t.to_bytes()));
    if let (Some(ty), Some(hash)) = (expected, hash) {
        if ring.type_hash() == hash {
            return Ok((ring, ty.clone()));
        }
    }
    let not_a_channel = |reason: String| Error::NotAChannel {
        name: name.to_owned(),
        reason,
    };
    if ring.type_hash() == 0 {
        return Err(not_a_channel(
            "it is an SPSC queue of bytes, with no layout".into(),
        ));
    }
    let Some(bytes) = ring.stored_layout() else {
        // Made without a stored layout: only the hashes can be compared.
        let mine = match hash {
            Some(h) => format!("this program's is {h:#x}"),
            None => "this program names no type".into(),
        };
        return Err(not_a_channel(format!(
            "it carries another type, layout hash {:#x} where {mine}, \
             and its creator stored no layout to compare",
            ring.type_hash()
        )));
    };
    let corrupted = |what: String| Error::Corrupted {
        name: name.to_owned(),
        what,
    };
    let found = Ty::decode(&bytes)
        .map_err(|e| corrupted(format!("its stored layout does not decode: {e}")))?;
    if fnv1a(&bytes) != ring.type_hash() {
        return Err(corrupted(
            "its stored layout does not match its layout hash".into(),
        ));
    }
    let Some(expected) = expected else {
        return Ok((ring, found));
    };
    let difference = expected
        .difference(&found)
        .unwrap_or_else(|| "the layouts differ".into());
    Err(Error::LayoutMismatch {
        name: name.to_owned(),
        expected: Box::new(expected.clone()),
        found: Box::new(found),
        difference,
    })
}

fn capacity_for(size: u64, count: usize) -> usize {
    // Each record is an 8-byte header and the value padded to 8; one more
    // record's header is kept free.
    let record = usize::try_from(8 + size.div_ceil(8) * 8).unwrap_or(usize::MAX);
    count.saturating_mul(record).saturating_add(16)
}

/// Creates the ring of a channel of the run-time layout `ty`.
fn create_described_ring(name: &str, ty: &Ty, count: usize, opts: &QueueOptions) -> Result<Ring> {
    let layout = check_described(name, ty)?;
    create_typed(
        name,
        capacity_for(ty.size(), count),
        opts,
        fnv1a(&layout),
        &layout,
    )
}

/// Creates a typed channel for a layout known only at run time (a binding
/// for another language, which has no Rust type to name), as its sending
/// end: the same header and stored layout as [`Sender::create_with`], so
/// [`Receiver::<T>::open`](Receiver::open) accepts it when `T` describes as
/// `ty` and refuses it with [`Error::LayoutMismatch`] otherwise.
///
/// The endpoint is the byte queue's: each message must be `ty.size()`
/// bytes, the value's bytes as the description lays them out (the
/// caller checks that; a Rust [`Receiver`] reports any other size as
/// [`Error::WrongSizeMessage`]).
///
/// # Errors
/// [`Error::InvalidLayout`] if `ty` is not a consistent description; else
/// as [`Producer::create`].
///
/// # Example
/// ```
/// use shmkit::queue::{channel, Options, Receiver};
/// use shmkit::Layout;
///
/// #[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
/// #[repr(C)]
/// struct Point { x: f64, y: f64 }
///
/// # let name = format!("doc-chan-described-tx-{}", std::process::id());
/// let mut tx = channel::create_described_sender(&name, &Point::describe(), 16, &Options::default())?;
/// let mut rx = Receiver::<Point>::open(&name)?;
/// let mut msg = 1.5f64.to_le_bytes().to_vec();
/// msg.extend(2.5f64.to_le_bytes());
/// tx.send(&msg)?;
/// assert_eq!(rx.recv()?, Point { x: 1.5, y: 2.5 });
/// assert!(matches!(Receiver::<[f64; 3]>::open(&name), Err(shmkit::Error::LayoutMismatch { .. })));
/// # Ok::<(), shmkit::Error>(())
/// ```
pub fn create_described_sender(
    name: &str,
    ty: &Ty,
    count: usize,
    opts: &QueueOptions,
) -> Result<Producer> {
    Producer::from_ring(create_described_ring(name, ty, count, opts)?, opts)
}

/// As [`create_described_sender`], as the receiving end.
///
/// # Errors
/// As [`create_described_sender`].
///
/// # Example
/// ```
/// use shmkit::queue::{channel, Options, Sender};
/// use shmkit::Layout;
///
/// # let name = format!("doc-chan-described-rx-{}", std::process::id());
/// let mut rx = channel::create_described_receiver(&name, &u32::describe(), 16, &Options::default())?;
/// let mut tx = Sender::<u32>::open(&name)?;
/// tx.send(&7)?;
/// let m = rx.read()?;
/// let mut buf = [0u8; 4];
/// m.read_at(0, &mut buf)?;
/// m.release();
/// assert_eq!(u32::from_le_bytes(buf), 7);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub fn create_described_receiver(
    name: &str,
    ty: &Ty,
    count: usize,
    opts: &QueueOptions,
) -> Result<Consumer> {
    Consumer::from_ring(create_described_ring(name, ty, count, opts)?, opts)
}

/// Opens a typed channel as its sending end without a Rust type, returning
/// the layout its creator stored; with `expected`, refuses another layout
/// as [`Sender::open`] does.
///
/// # Errors
/// As [`Producer::open`]; [`Error::NotAChannel`] for a queue of bytes or
/// one without a stored layout; [`Error::Corrupted`] if the stored layout
/// does not decode or match its hash; [`Error::LayoutMismatch`] if it is
/// not `expected`.
///
/// # Example
/// ```
/// use shmkit::queue::{channel, Options, Receiver};
/// use shmkit::Layout;
///
/// # let name = format!("doc-chan-described-open-{}", std::process::id());
/// let mut rx = Receiver::<[u16; 2]>::create(&name, 16)?;
/// let (mut tx, ty) = channel::open_described_sender(&name, None, &Options::default())?;
/// assert_eq!(ty, <[u16; 2]>::describe());
/// tx.send(&[1, 0, 2, 0])?;
/// assert_eq!(rx.recv()?, [1, 2]);
/// drop(tx);
/// let other = u32::describe();
/// let refused = channel::open_described_sender(&name, Some(&other), &Options::default());
/// assert!(matches!(refused, Err(shmkit::Error::LayoutMismatch { .. })));
/// # Ok::<(), shmkit::Error>(())
/// ```
pub fn open_described_sender(
    name: &str,
    expected: Option<&Ty>,
    opts: &QueueOptions,
) -> Result<(Producer, Ty)> {
    let (ring, ty) = open_checked(name, opts, expected)?;
    Ok((Producer::from_ring(ring, opts)?, ty))
}

/// As [`open_described_sender`], as the receiving end.
///
/// # Errors
/// As [`open_described_sender`].
///
/// # Example
/// ```
/// use shmkit::queue::{channel, Options, Sender};
/// use shmkit::Layout;
///
/// # let name = format!("doc-chan-described-ropen-{}", std::process::id());
/// let mut tx = Sender::<i64>::create(&name, 16)?;
/// let (mut rx, ty) = channel::open_described_receiver(&name, Some(&i64::describe()), &Options::default())?;
/// assert_eq!(ty.size(), 8);
/// tx.send(&-3)?;
/// let m = rx.read()?;
/// let mut buf = [0u8; 8];
/// m.read_at(0, &mut buf)?;
/// m.release();
/// assert_eq!(i64::from_le_bytes(buf), -3);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub fn open_described_receiver(
    name: &str,
    expected: Option<&Ty>,
    opts: &QueueOptions,
) -> Result<(Consumer, Ty)> {
    let (ring, ty) = open_checked(name, opts, expected)?;
    Ok((Consumer::from_ring(ring, opts)?, ty))
}

/// The sending end of a typed channel of `T`.
///
/// # Example
/// ```
/// use shmkit::queue::{Receiver, Sender};
///
/// #[derive(shmkit::Layout, Clone, Copy, Debug, PartialEq)]
/// #[repr(C)]
/// struct Tick { price: f64, qty: u32, side: u8, _pad: [u8; 3] }
///
/// # let name = format!("doc-chan-{}", std::process::id());
/// let mut rx = Receiver::<Tick>::create(&name, 1000)?;
/// let mut tx = Sender::<Tick>::open(&name)?;
/// let t = Tick { price: 1.5, qty: 10, side: 1, _pad: [0; 3] };
/// tx.send(&t)?;
/// assert_eq!(rx.recv()?, t);
/// # Ok::<(), shmkit::Error>(())
/// ```
///
/// Values are sent by reading their bytes, so `T` must be `Copy`: a type
/// with interior mutability, whose bytes another thread could change
/// meanwhile, is refused at compile time.
/// ```compile_fail
/// use std::sync::atomic::AtomicU64;
/// let tx = shmkit::queue::Sender::<AtomicU64>::open("counters");
/// ```
pub struct Sender<T: Layout + Copy> {
    p: Producer,
    _t: PhantomData<fn(T)>,
}

impl<T: Layout + Copy> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").field("queue", &self.p).finish()
    }
}

impl<T: Layout + Copy> Sender<T> {
    /// Creates a channel with room for at least `count` values, as its sender.
    ///
    /// # Errors
    /// As [`Producer::create`].
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{Receiver, Sender};
    /// # let name = format!("doc-chan-screate-{}", std::process::id());
    /// let mut tx = Sender::<u64>::create(&name, 100)?; // room for 100 values at least
    /// let mut rx = Receiver::<u64>::open(&name)?;     // in another process, usually
    /// for v in 0..100 {
    ///     tx.try_send(&v)?;
    /// }
    /// for v in 0..100 {
    ///     assert_eq!(rx.recv()?, v);
    /// }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create(name: &str, count: usize) -> Result<Self> {
        Self::create_with(name, count, &QueueOptions::default())
    }

    /// As [`create`](Self::create), with options.
    ///
    /// # Errors
    /// As [`Producer::create`].
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{Options, Receiver, Sender, Wait};
    /// # let name = format!("doc-chan-screatewith-{}", std::process::id());
    /// let mut tx = Sender::<f64>::create_with(&name, 16, &Options::default().wait(Wait::Block))?;
    /// let mut rx = Receiver::<f64>::open(&name)?;
    /// tx.send(&2.5)?;
    /// assert_eq!(rx.recv()?, 2.5);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create_with(name: &str, count: usize, opts: &QueueOptions) -> Result<Self> {
        let ring = create_channel::<T>(name, count, opts)?;
        Ok(Sender {
            p: Producer::from_ring(ring, opts)?,
            _t: PhantomData,
        })
    }

    /// Opens a channel of `T` as its sender.
    ///
    /// # Errors
    /// As [`Producer::open`]; [`Error::LayoutMismatch`], naming the first
    /// difference, if the channel carries another type.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{Receiver, Sender};
    /// # let name = format!("doc-chan-sopen-{}", std::process::id());
    /// let mut rx = Receiver::<u64>::create(&name, 16)?;
    /// // Another type is refused, naming the difference:
    /// assert!(matches!(Sender::<u32>::open(&name), Err(shmkit::Error::LayoutMismatch { .. })));
    /// let mut tx = Sender::<u64>::open(&name)?;
    /// tx.send(&7)?;
    /// assert_eq!(rx.recv()?, 7);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open(name: &str) -> Result<Self> {
        Self::open_with(name, &QueueOptions::default())
    }

    /// As [`open`](Self::open), with options.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{Options, Receiver, Sender};
    /// use std::time::Duration;
    /// # let name = format!("doc-chan-sopenwith-{}", std::process::id());
    /// let receiver = {
    ///     let name = name.clone();
    ///     std::thread::spawn(move || -> shmkit::Result<u64> {
    ///         std::thread::sleep(Duration::from_millis(20));
    ///         Receiver::<u64>::create(&name, 16)?.recv()
    ///     })
    /// };
    /// // Started before the channel exists: waits up to 5 s for it.
    /// let opts = Options::default().wait_for_creator(Duration::from_secs(5));
    /// let mut tx = Sender::<u64>::open_with(&name, &opts)?;
    /// tx.send(&99)?;
    /// assert_eq!(receiver.join().unwrap()?, 99);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_with(name: &str, opts: &QueueOptions) -> Result<Self> {
        let ring = open_channel::<T>(name, opts)?;
        Ok(Sender {
            p: Producer::from_ring(ring, opts)?,
            _t: PhantomData,
        })
    }

    /// Opens the channel of `T` as its sender, or creates it with room for at
    /// least `count` values, as [`Producer::open_or_create`] does.
    ///
    /// # Errors
    /// As [`create`](Self::create) and [`open`](Self::open).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{Receiver, Sender};
    /// # let name = format!("doc-chan-sooc-{}", std::process::id());
    /// let mut tx = Sender::<u64>::open_or_create(&name, 16)?; // whichever starts first
    /// let mut rx = Receiver::<u64>::open_or_create(&name, 16)?;
    /// assert!(tx.created() && !rx.created());
    /// tx.send(&1)?;
    /// assert_eq!(rx.recv()?, 1);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create(name: &str, count: usize) -> Result<Self> {
        Self::open_or_create_with(name, count, &QueueOptions::default())
    }

    /// As [`open_or_create`](Self::open_or_create), with options.
    ///
    /// # Errors
    /// As [`open_or_create`](Self::open_or_create).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{Options, Receiver, Sender, Wait};
    /// # let name = format!("doc-chan-soocw-{}", std::process::id());
    /// let opts = Options::default().wait(Wait::Spin);
    /// let mut tx = Sender::<u64>::open_or_create_with(&name, 16, &opts)?;
    /// let mut rx = Receiver::<u64>::open_or_create_with(&name, 16, &opts)?;
    /// assert!(tx.created() && !rx.created());
    /// tx.send(&2)?;
    /// assert_eq!(rx.recv()?, 2);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create_with(name: &str, count: usize, opts: &QueueOptions) -> Result<Self> {
        let ring = open_or_create_channel::<T>(name, count, opts)?;
        Ok(Sender {
            p: Producer::from_ring(ring, opts)?,
            _t: PhantomData,
        })
    }

    /// Whether this endpoint created the channel (rather than opened it).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{Receiver, Sender};
    /// # let name = format!("doc-chan-screated-{}", std::process::id());
    /// let tx = Sender::<u64>::create(&name, 16)?;
    /// let rx = Receiver::<u64>::open(&name)?;
    /// assert!(tx.created());
    /// assert!(!rx.created());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn created(&self) -> bool {
        self.p.created()
    }

    /// Sends a copy of `value`, waiting for room.
    ///
    /// # Errors
    /// As [`Producer::send`].
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{Receiver, Sender};
    /// # let name = format!("doc-chan-ssend-{}", std::process::id());
    /// let mut tx = Sender::<[u32; 4]>::create(&name, 16)?;
    /// let mut rx = Receiver::<[u32; 4]>::open(&name)?;
    /// tx.send(&[1, 2, 3, 4])?;
    /// tx.send(&[5, 6, 7, 8])?;
    /// assert_eq!(rx.recv()?, [1, 2, 3, 4]);
    /// assert_eq!(rx.recv()?, [5, 6, 7, 8]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn send(&mut self, value: &T) -> Result<()> {
        self.p.send(bytes_of(value))
    }

    /// Sends a copy of `value` if there is room now.
    ///
    /// # Errors
    /// As [`Producer::try_send`]: [`Error::Full`] if there is no room.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{Receiver, Sender};
    /// # let name = format!("doc-chan-strysend-{}", std::process::id());
    /// let mut tx = Sender::<u64>::create(&name, 2)?;
    /// let mut rx = Receiver::<u64>::open(&name)?;
    /// let mut sent = 0u64;
    /// while tx.try_send(&sent).is_ok() {
    ///     sent += 1; // room for 2 at least (the ring is rounded up)
    /// }
    /// assert!(sent >= 2);
    /// assert!(matches!(tx.try_send(&sent), Err(shmkit::Error::Full { .. })));
    /// assert_eq!(rx.recv()?, 0);
    /// tx.try_send(&sent)?; // room again
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_send(&mut self, value: &T) -> Result<()> {
        self.p.try_send(bytes_of(value))
    }

    /// As [`send`](Self::send), giving up after `timeout`.
    ///
    /// # Errors
    /// As [`Producer::send_timeout`].
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{Receiver, Sender};
    /// use std::time::Duration;
    /// # let name = format!("doc-chan-ssendt-{}", std::process::id());
    /// let mut tx = Sender::<u64>::create(&name, 2)?;
    /// let mut rx = Receiver::<u64>::open(&name)?;
    /// while tx.try_send(&1).is_ok() {}
    /// let full = tx.send_timeout(&2, Duration::from_millis(10));
    /// assert!(matches!(full, Err(shmkit::Error::Timeout { .. })));
    /// assert_eq!(rx.recv()?, 1);
    /// tx.send_timeout(&2, Duration::from_secs(1))?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn send_timeout(&mut self, value: &T, timeout: Duration) -> Result<()> {
        self.p.send_timeout(bytes_of(value), timeout)
    }

    /// Whether the receiver is alive, closed, dead, or not attached yet.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{Peer, Receiver, Sender};
    /// # let name = format!("doc-chan-speer-{}", std::process::id());
    /// let tx = Sender::<u64>::create(&name, 16)?;
    /// assert_eq!(tx.peer(), Peer::NotYet);
    /// let rx = Receiver::<u64>::open(&name)?;
    /// assert_eq!(tx.peer(), Peer::Alive);
    /// drop(rx);
    /// assert_eq!(tx.peer(), Peer::Closed);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn peer(&self) -> Peer {
        self.p.peer()
    }
}

/// The receiving end of a typed channel of `T`. See [`Sender`].
pub struct Receiver<T: Layout + Copy> {
    c: Consumer,
    _t: PhantomData<fn() -> T>,
}

impl<T: Layout + Copy> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").field("queue", &self.c).finish()
    }
}

impl<T: Layout + Copy> Receiver<T> {
    /// Creates a channel with room for at least `count` values, as its
    /// receiver.
    ///
    /// # Errors
    /// As [`Consumer::create`].
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{Receiver, Sender};
    /// # let name = format!("doc-chan-rcreate-{}", std::process::id());
    /// let mut rx = Receiver::<i32>::create(&name, 64)?;
    /// let mut tx = Sender::<i32>::open(&name)?; // in another process, usually
    /// tx.send(&-1)?;
    /// assert_eq!(rx.recv()?, -1);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create(name: &str, count: usize) -> Result<Self> {
        Self::create_with(name, count, &QueueOptions::default())
    }

    /// As [`create`](Self::create), with options.
    ///
    /// # Errors
    /// As [`Consumer::create`].
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{Options, Receiver, Sender, Wait};
    /// # let name = format!("doc-chan-rcreatewith-{}", std::process::id());
    /// let mut rx = Receiver::<u64>::create_with(&name, 64, &Options::default().wait(Wait::Spin))?;
    /// let mut tx = Sender::<u64>::open(&name)?;
    /// tx.send(&3)?;
    /// assert_eq!(rx.recv()?, 3);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create_with(name: &str, count: usize, opts: &QueueOptions) -> Result<Self> {
        let ring = create_channel::<T>(name, count, opts)?;
        Ok(Receiver {
            c: Consumer::from_ring(ring, opts)?,
            _t: PhantomData,
        })
    }

    /// Opens a channel of `T` as its receiver.
    ///
    /// # Errors
    /// As [`Consumer::open`]; [`Error::LayoutMismatch`], naming the first
    /// difference, if the channel carries another type.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{spsc, Receiver, Sender};
    /// # let name = format!("doc-chan-ropen-{}", std::process::id());
    /// let mut tx = Sender::<u64>::create(&name, 16)?;
    /// tx.send(&5)?;
    /// let mut rx = Receiver::<u64>::open(&name)?;
    /// assert_eq!(rx.recv()?, 5);
    /// // A queue of bytes is no channel:
    /// # let bytes = format!("doc-chan-ropen-bytes-{}", std::process::id());
    /// let _q = spsc::Producer::create(&bytes, 1024)?;
    /// assert!(matches!(Receiver::<u64>::open(&bytes), Err(shmkit::Error::NotAChannel { .. })));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open(name: &str) -> Result<Self> {
        Self::open_with(name, &QueueOptions::default())
    }

    /// As [`open`](Self::open), with options.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{Options, Receiver, Sender};
    /// use std::time::Duration;
    /// # let name = format!("doc-chan-ropenwith-{}", std::process::id());
    /// let opts = Options::default().open_timeout(Duration::from_secs(1));
    /// assert!(matches!(Receiver::<u64>::open_with(&name, &opts), Err(shmkit::Error::NotFound { .. })));
    /// let mut tx = Sender::<u64>::create(&name, 16)?;
    /// let mut rx = Receiver::<u64>::open_with(&name, &opts)?;
    /// tx.send(&8)?;
    /// assert_eq!(rx.recv()?, 8);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_with(name: &str, opts: &QueueOptions) -> Result<Self> {
        let ring = open_channel::<T>(name, opts)?;
        Ok(Receiver {
            c: Consumer::from_ring(ring, opts)?,
            _t: PhantomData,
        })
    }

    /// Opens the channel of `T` as its receiver, or creates it with room for at
    /// least `count` values, as [`Producer::open_or_create`] does.
    ///
    /// # Errors
    /// As [`create`](Self::create) and [`open`](Self::open).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{Receiver, Sender};
    /// # let name = format!("doc-chan-rooc-{}", std::process::id());
    /// let mut rx = Receiver::<u64>::open_or_create(&name, 16)?; // whichever starts first
    /// let mut tx = Sender::<u64>::open_or_create(&name, 16)?;
    /// assert!(rx.created() && !tx.created());
    /// tx.send(&4)?;
    /// assert_eq!(rx.recv()?, 4);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create(name: &str, count: usize) -> Result<Self> {
        Self::open_or_create_with(name, count, &QueueOptions::default())
    }

    /// As [`open_or_create`](Self::open_or_create), with options.
    ///
    /// # Errors
    /// As [`open_or_create`](Self::open_or_create).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{Options, Receiver, Sender, Wait};
    /// # let name = format!("doc-chan-roocw-{}", std::process::id());
    /// let opts = Options::default().wait(Wait::Block);
    /// let mut rx = Receiver::<u64>::open_or_create_with(&name, 16, &opts)?;
    /// let mut tx = Sender::<u64>::open_or_create_with(&name, 16, &opts)?;
    /// assert!(rx.created() && !tx.created());
    /// tx.send(&6)?;
    /// assert_eq!(rx.recv()?, 6);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create_with(name: &str, count: usize, opts: &QueueOptions) -> Result<Self> {
        let ring = open_or_create_channel::<T>(name, count, opts)?;
        Ok(Receiver {
            c: Consumer::from_ring(ring, opts)?,
            _t: PhantomData,
        })
    }

    /// Whether this endpoint created the channel (rather than opened it).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{Receiver, Sender};
    /// # let name = format!("doc-chan-rcreated-{}", std::process::id());
    /// let rx = Receiver::<u64>::create(&name, 16)?;
    /// let tx = Sender::<u64>::open(&name)?;
    /// assert!(rx.created());
    /// assert!(!tx.created());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn created(&self) -> bool {
        self.c.created()
    }

    fn decode(m: super::spsc::Message<'_>) -> Result<T> {
        if m.len() != std::mem::size_of::<T>() {
            // Step over it, so that the next receive can go on.
            let len = m.len();
            m.release();
            return Err(Error::WrongSizeMessage {
                name: String::new(),
                len: len as u64,
                size: std::mem::size_of::<T>() as u64,
            });
        }
        let mut value = zeroed::<T>();
        m.read_at(0, bytes_of_mut(&mut value))?;
        m.release();
        Ok(value)
    }

    fn named(&self, e: Error) -> Error {
        match e {
            Error::WrongSizeMessage { name, len, size } if name.is_empty() => {
                Error::WrongSizeMessage {
                    name: self.c.name().to_owned(),
                    len,
                    size,
                }
            }
            e => e,
        }
    }

    /// Receives the next value, waiting for one.
    ///
    /// # Errors
    /// As [`Consumer::recv`]; [`Error::WrongSizeMessage`] for a message of
    /// the wrong size (skipped: receive again to go on).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{spsc, Receiver, Sender};
    /// # let name = format!("doc-chan-rrecv-{}", std::process::id());
    /// let mut rx = Receiver::<u64>::create(&name, 16)?;
    /// let mut tx = Sender::<u64>::open(&name)?;
    /// tx.send(&10)?;
    /// assert_eq!(rx.recv()?, 10);
    /// drop(tx);
    /// // A byte producer may write a message of the wrong size: it is skipped.
    /// let mut raw = spsc::Producer::open(&name)?;
    /// raw.send(b"abc")?;
    /// raw.send(&11u64.to_ne_bytes())?;
    /// assert!(matches!(rx.recv(), Err(shmkit::Error::WrongSizeMessage { len: 3, size: 8, .. })));
    /// assert_eq!(rx.recv()?, 11);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn recv(&mut self) -> Result<T> {
        let r = self.c.read().and_then(Self::decode);
        r.map_err(|e| self.named(e))
    }

    /// As [`recv`](Self::recv), giving up after `timeout`.
    ///
    /// # Errors
    /// As [`recv`](Self::recv), and [`Error::Timeout`].
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{Receiver, Sender};
    /// use std::time::Duration;
    /// # let name = format!("doc-chan-rrecvt-{}", std::process::id());
    /// let mut rx = Receiver::<u64>::create(&name, 16)?;
    /// let mut tx = Sender::<u64>::open(&name)?;
    /// let empty = rx.recv_timeout(Duration::from_millis(10));
    /// assert!(matches!(empty, Err(shmkit::Error::Timeout { .. })));
    /// tx.send(&12)?;
    /// assert_eq!(rx.recv_timeout(Duration::from_secs(1))?, 12);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<T> {
        let r = self.c.read_timeout(timeout).and_then(Self::decode);
        r.map_err(|e| self.named(e))
    }

    /// The next value if there is one.
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{Receiver, Sender};
    /// # let name = format!("doc-chan-rtryrecv-{}", std::process::id());
    /// let mut rx = Receiver::<u64>::create(&name, 16)?;
    /// let mut tx = Sender::<u64>::open(&name)?;
    /// assert_eq!(rx.try_recv()?, None);
    /// tx.send(&13)?;
    /// assert_eq!(rx.try_recv()?, Some(13));
    /// assert_eq!(rx.try_recv()?, None);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn try_recv(&mut self) -> Result<Option<T>> {
        let r = match self.c.try_read() {
            Ok(Some(m)) => Self::decode(m).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
        r.map_err(|e| self.named(e))
    }

    /// Whether the sender is alive, closed, dead, or not attached yet.
    ///
    /// # Example
    /// ```
    /// use shmkit::queue::{Peer, Receiver, Sender};
    /// # let name = format!("doc-chan-rpeer-{}", std::process::id());
    /// let mut rx = Receiver::<u64>::create(&name, 16)?;
    /// assert_eq!(rx.peer(), Peer::NotYet);
    /// let mut tx = Sender::<u64>::open(&name)?;
    /// assert_eq!(rx.peer(), Peer::Alive);
    /// tx.send(&14)?;
    /// drop(tx);
    /// assert_eq!(rx.peer(), Peer::Closed);
    /// assert_eq!(rx.recv()?, 14);
    /// assert!(matches!(rx.recv(), Err(shmkit::Error::Closed { .. })));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn peer(&self) -> Peer {
        self.c.peer()
    }
}
