//! A typed channel: [`Layout`] values over an SPSC queue.
//!
//! The queue's header records the FNV-1a hash of `T`'s layout description,
//! so a program that opens the channel with another type is refused.
//!
//! `T` must be `Copy` as well as [`Layout`]: a value is sent by reading its
//! bytes, and `Copy` rules out the `Layout` types with interior mutability
//! (atomics, `in_place` structs, the synchronisation primitives), whose bytes
//! another thread could change while they are read, a data race.

use std::marker::PhantomData;
use std::time::Duration;

use super::spsc::{create_ring, open_or_create_ring, open_ring, Consumer, Producer};
use super::{Peer, QueueOptions};
use crate::layout::{bytes_of, bytes_of_mut, zeroed};
use crate::shared::fnv1a;
use crate::{Error, Layout, Result};

fn type_hash<T: Layout>() -> u64 {
    fnv1a(&T::describe().to_bytes())
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
        let ring = create_ring(name, capacity_for::<T>(count), opts, type_hash::<T>())?;
        Ok(Sender {
            p: Producer::from_ring(ring, opts)?,
            _t: PhantomData,
        })
    }

    /// Opens a channel of `T` as its sender.
    ///
    /// # Errors
    /// As [`Producer::open`]; [`Error::Corrupted`] if the channel carries
    /// another type.
    pub fn open(name: &str) -> Result<Self> {
        Self::open_with(name, &QueueOptions::default())
    }

    /// As [`open`](Self::open), with options.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_with(name: &str, opts: &QueueOptions) -> Result<Self> {
        let ring = open_ring(name, opts, Some(type_hash::<T>()))?;
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
        let ring = open_or_create_ring(name, capacity_for::<T>(count), opts, type_hash::<T>())?;
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
        let ring = create_ring(name, capacity_for::<T>(count), opts, type_hash::<T>())?;
        Ok(Receiver {
            c: Consumer::from_ring(ring, opts)?,
            _t: PhantomData,
        })
    }

    /// Opens a channel of `T` as its receiver.
    ///
    /// # Errors
    /// As [`Consumer::open`]; [`Error::Corrupted`] if the channel carries
    /// another type.
    pub fn open(name: &str) -> Result<Self> {
        Self::open_with(name, &QueueOptions::default())
    }

    /// As [`open`](Self::open), with options.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_with(name: &str, opts: &QueueOptions) -> Result<Self> {
        let ring = open_ring(name, opts, Some(type_hash::<T>()))?;
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
        let ring = open_or_create_ring(name, capacity_for::<T>(count), opts, type_hash::<T>())?;
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
            let err = Error::Corrupted {
                name: String::new(),
                what: format!(
                    "a message of {} bytes in a channel of {}-byte values (skipped)",
                    len,
                    std::mem::size_of::<T>()
                ),
            };
            return Err(err);
        }
        let mut value = zeroed::<T>();
        m.read_at(0, bytes_of_mut(&mut value))?;
        m.release();
        Ok(value)
    }

    fn named(&self, e: Error) -> Error {
        match e {
            Error::Corrupted { name, what } if name.is_empty() => Error::Corrupted {
                name: self.c.name().to_owned(),
                what,
            },
            e => e,
        }
    }

    /// Receives the next value, waiting for one.
    ///
    /// # Errors
    /// As [`Consumer::recv`]; [`Error::Corrupted`] for a message of the
    /// wrong size.
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
