//! Shared memory between processes, done carefully.
//!
//! A [`Segment`] is a named block of memory that any process on the machine
//! can open by name: create it in one program, open it in another, and both
//! see the same bytes.
//!
//! ```
//! use shmkit::Segment;
//!
//! # let name = format!("doc-lib-{}", std::process::id());
//! let seg = Segment::create(&name, 1000)?;      // the first program
//! seg.write_at(0, &123i32.to_le_bytes())?;
//! // The name lives as long as `seg`: when the first program drops it (or
//! // exits), the name is gone and a later `open` gives `Error::NotFound`.
//! // Keep the first program running, or create with
//! // `Segment::options().persist(true)` and `Segment::remove` when done.
//!
//! let peer = Segment::open(&name)?;              // the second program
//! let mut value = [0u8; 4];
//! peer.read_at(0, &mut value)?;
//! assert_eq!(i32::from_le_bytes(value), 123);
//! # Ok::<(), shmkit::Error>(())
//! ```
//!
//! # Messaging
//! [`queue`] carries messages between processes through a named segment:
//! an SPSC byte queue (zero-copy both ways), a typed channel over it, and an
//! MPMC queue; [`broadcast`] has one publisher and many subscribers. A peer
//! that dies or scribbles never hangs or crashes the other side.
//!
//! # Soundness
//! Memory that another process can write at any moment is untrusted input.
//! No safe function in this crate hands out `&[u8]` or `&T` into it: reads and
//! writes are copies made with atomic accesses. The unsafe code lives in the
//! OS modules and the copy routines, each block with its `SAFETY` argument.
//!
//! # Names
//! Portable names are 1 to 30 characters of `[A-Za-z0-9._-]`, not starting
//! with `.`; the same name works on Linux, macOS and Windows. On POSIX the
//! library adds the leading `/` itself, so a segment made by another program
//! (Python's `multiprocessing.shared_memory`, a C program) opens by the name
//! that program gave it.
//!
//! # Residual risk
//! On POSIX, a peer that may write a segment can also shrink it with
//! `ftruncate`. A process-wide `SIGBUS` handler, installed with the first
//! mapping, turns a touch of a lost page into [`Error::Truncated`] on that
//! call and every later one on the mapping, instead of a signal that kills
//! the process (faults outside shmkit's mappings go to the handler that was
//! there before). A shrink that the touched pages survive, or a shrink and
//! regrow between two accesses, leaves zeros that are not detected. Share
//! segments only with processes you would let wipe them.

#[cfg(all(feature = "fuzzing", not(loom)))]
#[doc(hidden)]
#[path = "fuzz.rs"]
pub mod __fuzz;
#[cfg(all(feature = "async", not(loom)))]
pub mod aio;
pub mod broadcast;
mod copy;
mod error;
mod failpoint;
pub mod layout;
mod name;
pub mod queue;
mod segment;
mod shared;
pub mod sync;
#[cfg(not(loom))]
pub mod waitset;

#[cfg_attr(unix, path = "os/unix.rs")]
#[cfg_attr(windows, path = "os/windows.rs")]
mod os;

#[cfg(not(any(unix, windows)))]
compile_error!("shmkit supports Unix (Linux, macOS, FreeBSD) and Windows");

pub use error::{Error, Result};
pub use layout::{InPlace, Layout};
pub use name::MAX_NAME_LEN;
pub use segment::{Segment, SegmentOptions};
pub use shared::{ReadOnlyShared, Shared, SharedOptions};
/// `#[derive(shmkit::Layout)]`: see [`Layout`] and [`shmkit_derive::Layout`].
///
/// # Example
/// The generated accessors, one field of each kind, written by one handle
/// and read by a second, read-only one (another process would open the same
/// name):
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use shmkit::sync::SeqLock;
///
/// #[derive(shmkit::Layout, Clone, Copy)]
/// #[repr(C)]
/// struct Point { x: f32, y: f32 }
///
/// #[derive(shmkit::Layout)]
/// #[repr(C)]
/// struct Data {
///     value: u32,
///     _pad: u32,
///     numbers: [f64; 16],
///     pos: Point,
///     hits: AtomicU64,
///     pose: SeqLock<[f64; 3]>,
/// }
///
/// # let name = format!("doc-derive-{}", std::process::id());
/// let data = shmkit::Shared::<Data>::create(&name)?;
/// data.value().set(123)?;                           // a primitive
/// data.numbers().at(10).set(1.45)?;                 // an array element
/// data.pos().x().set(2.5)?;                         // a nested struct's field
/// data.hits().in_place().fetch_add(1, Ordering::Relaxed); // an atomic
/// data.pose().in_place().writer()?.write(&[1.0, 2.0, 3.0]); // a sync type
///
/// let peer = shmkit::Shared::<Data>::open_read_only(&name)?;
/// assert_eq!(peer.value().get()?, 123);
/// assert_eq!(peer.numbers().at(10).get()?, 1.45);
/// assert_eq!(peer.numbers().len(), 16);
/// assert!(peer.numbers().try_at(16).is_none());
/// let pos: Point = peer.pos().get()?;                // a whole `Copy` struct
/// assert_eq!((pos.x, pos.y), (2.5, 0.0));
/// assert_eq!(peer.hits().load(Ordering::Relaxed)?, 1);
/// assert_eq!(peer.pose().read(), [1.0, 2.0, 3.0]);
/// # Ok::<(), shmkit::Error>(())
/// ```
///
/// A read-only handle has no `set`:
///
/// ```compile_fail,E0599
/// # #[derive(shmkit::Layout)]
/// # #[repr(C)]
/// # struct Data { value: u32 }
/// # fn f(peer: &shmkit::ReadOnlyShared<Data>) {
/// peer.value().set(1);
/// # }
/// ```
pub use shmkit_derive::Layout;
#[cfg(not(loom))]
pub use waitset::WaitSet;

/// The header of typed segments, for tools that inspect them without knowing
/// their Rust types (the `shmkit` CLI).
///
/// A typed segment starts with this 64-byte header, then the layout
/// description ([`layout::Ty`]'s encoding), then the value at `data_offset`.
/// Every field is fixed-width and little-endian, so 32-bit and 64-bit
/// processes read the same header:
///
/// | offset | field         | type     | meaning                                         |
/// |--------|---------------|----------|-------------------------------------------------|
/// | 0      | `magic`       | [u8; 8]  | [`MAGIC`](header::MAGIC), `\x89SHMKIT\n`        |
/// | 8      | `version`     | u32      | header format version, [`VERSION`](header::VERSION) |
/// | 12     | `state`       | u32      | 0 while the creator initialises, [`READY`](header::READY) after |
/// | 16     | `data_offset` | u32      | where the value starts                          |
/// | 20     | `layout_len`  | u32      | bytes of layout description at offset 64        |
/// | 24     | `data_size`   | u64      | `size_of::<T>()`                                |
/// | 32     | `total_size`  | u64      | header + layout + value, in bytes               |
/// | 40     | `creator_pid` | u32      | for display only; liveness never relies on it   |
/// | 44     | `data_align`  | u32      | alignment of the value                          |
/// | 48     | `layout_hash` | u64      | [`fnv1a`](header::fnv1a) of the layout description |
/// | 56     | reserved      | u64      | zero                                            |
///
/// A tool opens the segment as a plain [`Segment`] and decodes the header
/// from a copy, never in place:
///
/// ```
/// use shmkit::header::{self, InitState, HEADER_LEN, MAGIC, READY};
/// use shmkit::{Error, Segment, Shared};
///
/// #[derive(shmkit::Layout, Clone, Copy)]
/// #[repr(C)]
/// struct Reading {
///     celsius: f32,
///     sensor: u32,
/// }
///
/// # let name = format!("doc-header-{}", std::process::id());
/// let data = Shared::<Reading>::create(&name)?;
///
/// // Another program, which does not know `Reading`:
/// let seg = Segment::options().read_only(true).open(&name)?;
/// assert_eq!(header::init_state(&seg)?, InitState::Ready);
/// let (head, ty) = header::read_header(&seg)?;
/// assert_eq!(head.state, READY);
/// assert_eq!(head.data_size, 8);
/// assert_eq!(head.data_offset as usize, data.data_offset());
/// assert_eq!(ty.summary(), "Reading");
/// assert_eq!(ty.find("sensor").unwrap().0, 4); // offset within the value
///
/// // The same header from raw bytes, and the hash over the layout bytes.
/// let mut raw = [0u8; HEADER_LEN];
/// seg.read_at(0, &mut raw)?;
/// assert_eq!(raw[..8], MAGIC);
/// assert_eq!(header::Header::parse(&raw), Some(head.clone()));
/// let mut layout = vec![0u8; head.layout_len as usize];
/// seg.read_at(HEADER_LEN, &mut layout)?;
/// assert_eq!(header::fnv1a(&layout), head.layout_hash);
///
/// // A segment without a header is refused, not misread.
/// # let plain_name = format!("doc-header-plain-{}", std::process::id());
/// let plain = Segment::create(&plain_name, 4096)?;
/// assert!(matches!(header::read_header(&plain), Err(Error::NotTyped { .. })));
/// # Ok::<(), shmkit::Error>(())
/// ```
pub mod header {
    pub use crate::shared::{
        create_described, expect_end_marker, fnv1a, init_state, read_header, Header, InitState,
        HEADER_LEN, MAGIC, READY, VERSION,
    };
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// The guide's examples (docs/guide.md), compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/guide.md")]
pub struct GuideDoctests;

/// The examples of docs/waitset.md, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/waitset.md")]
pub struct WaitSetDocDoctests;
