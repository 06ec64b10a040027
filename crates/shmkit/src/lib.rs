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
pub use shmkit_derive::Layout;
#[cfg(not(loom))]
pub use waitset::WaitSet;

/// The header of typed segments, for tools that inspect them without knowing
/// their Rust types (the `shmkit` CLI).
pub mod header {
    pub use crate::shared::{
        fnv1a, init_state, read_header, Header, InitState, HEADER_LEN, MAGIC, READY, VERSION,
    };
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// The examples of docs/waitset.md, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/waitset.md")]
pub struct WaitSetDocDoctests;
