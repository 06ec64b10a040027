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
use crate::shared::fnv1a;
use crate::{Error, Layout, Result};

/// Creates the ring of a channel of `T`, with `T`'s layout stored in it.
fn create_channel<T: Layout>(name: &str, count: usize, opts: &QueueOptions) -> Result<Ring> {
    let layout = T::describe().to_bytes();
    let capacity = capacity_for::<T>(count);
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
    let ring = open_ring(name, opts, None)?;
    let expected = T::describe();
    let hash = fnv1a(&expected.to_bytes());
    if ring.type_hash() == hash {
        return Ok(ring);
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
        return Err(not_a_channel(format!(
            "it carries another type, layout hash {:#x} where this program's is {hash:#x}, \
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
    let difference = expected
        .difference(&found)
        .unwrap_or_else(|| "the layouts differ".into());
    Err(Error::LayoutMismatch {
        name: name.to_owned(),
        expected: Box::new(expected),
        found: Box::new(found),
        difference,
    })
}

fn capacity_for<T>(count: usize) -> usize {
    // Each record is an 8-byte header and the value padded to 8; one more
    // record's header is kept free.
    let record = 8 + std::mem::size_of::<T>().div_ceil(8) * 8;
    count.saturating_mul(record).saturating_add(16)
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
    pub fn create(name: &str, count: usize) -> Result<Self> {
        Self::create_with(name, count, &QueueOptions::default())
    }

    /// As [`create`](Self::create), with options.
    ///
    /// # Errors
    /// As [`Producer::create`].
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
    pub fn open(name: &str) -> Result<Self> {
        Self::open_with(name, &QueueOptions::default())
    }

    /// As [`open`](Self::open), with options.
    ///
    /// # Errors
    /// As [`open`](Self::open).
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
    pub fn open_or_create(name: &str, count: usize) -> Result<Self> {
        Self::open_or_create_with(name, count, &QueueOptions::default())
    }

    /// As [`open_or_create`](Self::open_or_create), with options.
    ///
    /// # Errors
    /// As [`open_or_create`](Self::open_or_create).
    pub fn open_or_create_with(name: &str, count: usize, opts: &QueueOptions) -> Result<Self> {
        let ring = open_or_create_channel::<T>(name, count, opts)?;
        Ok(Sender {
            p: Producer::from_ring(ring, opts)?,
            _t: PhantomData,
        })
    }

    /// Whether this endpoint created the channel (rather than opened it).
    pub fn created(&self) -> bool {
        self.p.created()
    }

    /// Sends a copy of `value`, waiting for room.
    ///
    /// # Errors
    /// As [`Producer::send`].
    pub fn send(&mut self, value: &T) -> Result<()> {
        self.p.send(bytes_of(value))
    }

    /// Sends a copy of `value` if there is room now.
    ///
    /// # Errors
    /// As [`Producer::try_send`]: [`Error::Full`] if there is no room.
    pub fn try_send(&mut self, value: &T) -> Result<()> {
        self.p.try_send(bytes_of(value))
    }

    /// As [`send`](Self::send), giving up after `timeout`.
    ///
    /// # Errors
    /// As [`Producer::send_timeout`].
    pub fn send_timeout(&mut self, value: &T, timeout: Duration) -> Result<()> {
        self.p.send_timeout(bytes_of(value), timeout)
    }

    /// Whether the receiver is alive, closed, dead, or not attached yet.
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
    pub fn create(name: &str, count: usize) -> Result<Self> {
        Self::create_with(name, count, &QueueOptions::default())
    }

    /// As [`create`](Self::create), with options.
    ///
    /// # Errors
    /// As [`Consumer::create`].
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
    pub fn open(name: &str) -> Result<Self> {
        Self::open_with(name, &QueueOptions::default())
    }

    /// As [`open`](Self::open), with options.
    ///
    /// # Errors
    /// As [`open`](Self::open).
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
    pub fn open_or_create(name: &str, count: usize) -> Result<Self> {
        Self::open_or_create_with(name, count, &QueueOptions::default())
    }

    /// As [`open_or_create`](Self::open_or_create), with options.
    ///
    /// # Errors
    /// As [`open_or_create`](Self::open_or_create).
    pub fn open_or_create_with(name: &str, count: usize, opts: &QueueOptions) -> Result<Self> {
        let ring = open_or_create_channel::<T>(name, count, opts)?;
        Ok(Receiver {
            c: Consumer::from_ring(ring, opts)?,
            _t: PhantomData,
        })
    }

    /// Whether this endpoint created the channel (rather than opened it).
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
    pub fn recv(&mut self) -> Result<T> {
        let r = self.c.read().and_then(Self::decode);
        r.map_err(|e| self.named(e))
    }

    /// As [`recv`](Self::recv), giving up after `timeout`.
    ///
    /// # Errors
    /// As [`recv`](Self::recv), and [`Error::Timeout`].
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<T> {
        let r = self.c.read_timeout(timeout).and_then(Self::decode);
        r.map_err(|e| self.named(e))
    }

    /// The next value if there is one.
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    pub fn try_recv(&mut self) -> Result<Option<T>> {
        let r = match self.c.try_read() {
            Ok(Some(m)) => Self::decode(m).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
        r.map_err(|e| self.named(e))
    }

    /// Whether the sender is alive, closed, dead, or not attached yet.
    pub fn peer(&self) -> Peer {
        self.c.peer()
    }
}
