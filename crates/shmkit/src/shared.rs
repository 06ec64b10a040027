//! Typed segments: a [`Layout`] struct behind a checked header.
//!
//! # The header
//! A typed segment starts with a 64-byte header, then the layout description,
//! then the data at `data_offset`, and ends with a line of its own holding
//! the end marker (see `segment::END_MARKER`: it finds a shrink and regrow
//! that no access faulted on). Every field has a fixed width and is
//! little-endian, so 32-bit and 64-bit processes read the same header.
//!
//! | offset | field         | type     | meaning                                         |
//! |--------|---------------|----------|-------------------------------------------------|
//! | 0      | `magic`       | [u8; 8]  | `\x89SHMKIT\n`                                  |
//! | 8      | `version`     | u32      | header format version, 2                        |
//! | 12     | `state`       | u32      | 0 while the creator initialises, `READY` after  |
//! | 16     | `data_offset` | u32      | where the value starts                          |
//! | 20     | `layout_len`  | u32      | bytes of layout description at offset 64        |
//! | 24     | `data_size`   | u64      | `size_of::<T>()`                                |
//! | 32     | `total_size`  | u64      | header + layout + value + end line, in bytes    |
//! | 40     | `creator_pid` | u32      | for display only; liveness never relies on it   |
//! | 44     | `data_align`  | u32      | alignment of the value                          |
//! | 48     | `layout_hash` | u64      | FNV-1a of the layout description                |
//! | 56     | reserved      | u64      | zero                                            |
//!
//! # Initialisation
//! The creator makes the segment exclusively, holding a liveness lock that the
//! OS releases if it dies (see `os::Mapping::creator_state`), writes the
//! header, the layout and the value, then publishes `state = READY` with a
//! Release store and drops the lock. An opener waits for `READY` (Acquire); if
//! the lock is free and the state is still not `READY`, the creator died
//! first, and the opener gets [`Error::InitAbandoned`] instead of spinning.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::layout::{Base, InPlace, Layout, ReadOnly, Ref, Ty, Writable, MAX_ALIGN};
use crate::os::CreatorState;
use crate::segment::{end_marker_at, END_LINE};
use crate::{failpoint, Error, Result, Segment, SegmentOptions};

/// The first eight bytes of every typed segment.
pub const MAGIC: [u8; 8] = *b"\x89SHMKIT\n";
/// The header format this version of shmkit writes and reads.
pub const VERSION: u32 = 2;
/// The size of the fixed header.
pub const HEADER_LEN: usize = 64;
/// The `state` word once the creator has published the value.
pub const READY: u32 = 0x5245_4459;

const STATE_OFFSET: usize = 12;

/// The alignment a `T` needs in shared memory: its [`Layout::ALIGN`] (the
/// same on every target) or this target's `align_of`, whichever is larger.
/// Evaluating it refuses, at build time, a `T` that needs more than
/// [`MAX_ALIGN`].
const fn value_align<T: Layout>() -> usize {
    let align = if T::ALIGN > std::mem::align_of::<T>() {
        T::ALIGN
    } else {
        std::mem::align_of::<T>()
    };
    assert!(
        align <= MAX_ALIGN,
        "this type needs more than 4096-byte alignment, which shared memory cannot give: \
         mappings are only page-aligned, and pages may be 4 KiB; lower its repr(align)"
    );
    align
}

/// A typed segment's header, decoded. Read once from shared memory into this
/// local copy, then validated; only the copy is used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Header format version.
    pub version: u32,
    /// 0 while initialising, [`READY`] after.
    pub state: u32,
    /// Where the value starts.
    pub data_offset: u32,
    /// Length of the layout description.
    pub layout_len: u32,
    /// Size of the value.
    pub data_size: u64,
    /// Header, layout and value together.
    pub total_size: u64,
    /// The creator's process id (for display).
    pub creator_pid: u32,
    /// Alignment of the value.
    pub data_align: u32,
    /// FNV-1a hash of the layout description.
    pub layout_hash: u64,
}

impl Header {
    /// Decodes the fixed header; `None` if the magic is not shmkit's.
    ///
    /// # Example
    /// ```
    /// use shmkit::header::{Header, HEADER_LEN, READY};
    /// # let name = format!("doc-hparse-{}", std::process::id());
    /// let data = shmkit::Shared::<[u32; 4]>::create(&name)?;
    /// let mut raw = [0u8; HEADER_LEN];
    /// data.segment().read_at(0, &mut raw)?;
    /// let header = Header::parse(&raw).unwrap();
    /// assert_eq!((header.state, header.data_size), (READY, 16));
    /// assert_eq!(Header::parse(&[0; HEADER_LEN]), None); // no magic: not shmkit's
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn parse(bytes: &[u8; HEADER_LEN]) -> Option<Header> {
        if bytes[..8] != MAGIC {
            return None;
        }
        let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
        let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap());
        Some(Header {
            version: u32_at(8),
            state: u32_at(12),
            data_offset: u32_at(16),
            layout_len: u32_at(20),
            data_size: u64_at(24),
            total_size: u64_at(32),
            creator_pid: u32_at(40),
            data_align: u32_at(44),
            layout_hash: u64_at(48),
        })
    }

    fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&self.version.to_le_bytes());
        b[12..16].copy_from_slice(&self.state.to_le_bytes());
        b[16..20].copy_from_slice(&self.data_offset.to_le_bytes());
        b[20..24].copy_from_slice(&self.layout_len.to_le_bytes());
        b[24..32].copy_from_slice(&self.data_size.to_le_bytes());
        b[32..40].copy_from_slice(&self.total_size.to_le_bytes());
        b[40..44].copy_from_slice(&self.creator_pid.to_le_bytes());
        b[44..48].copy_from_slice(&self.data_align.to_le_bytes());
        b[48..56].copy_from_slice(&self.layout_hash.to_le_bytes());
        b
    }

    /// Checks the header against a segment of `seg_len` bytes, so that every
    /// range it names lies inside the segment.
    ///
    /// # Errors
    /// A message naming the first inconsistency: another format version, a
    /// data offset that overlaps the layout or is misaligned, sizes that do
    /// not add up, or more bytes than the segment has.
    ///
    /// # Example
    /// ```
    /// use shmkit::header::{Header, HEADER_LEN};
    /// # let name = format!("doc-hvalidate-{}", std::process::id());
    /// let data = shmkit::Shared::<[u32; 4]>::create(&name)?;
    /// let seg = data.segment();
    /// let mut raw = [0u8; HEADER_LEN];
    /// seg.read_at(0, &mut raw)?;
    /// let header = Header::parse(&raw).unwrap();
    /// assert_eq!(header.validate(seg.len()), Ok(()));
    /// // A header that claims more than the segment holds is refused.
    /// let err = header.validate(HEADER_LEN).unwrap_err();
    /// assert!(err.contains("the segment has 64"), "{err}");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn validate(&self, seg_len: usize) -> std::result::Result<(), String> {
        if self.version != VERSION {
            return Err(format!(
                "header format version {}, this shmkit reads {VERSION}",
                self.version
            ));
        }
        let layout_end = HEADER_LEN as u64 + u64::from(self.layout_len);
        if u64::from(self.data_offset) < layout_end {
            return Err(format!(
                "data offset {} overlaps the layout, which ends at {layout_end}",
                self.data_offset
            ));
        }
        if self.data_align == 0
            || !self.data_align.is_power_of_two()
            || self.data_offset % self.data_align != 0
        {
            return Err(format!(
                "data offset {} is not aligned to {}",
                self.data_offset, self.data_align
            ));
        }
        let total = u64::from(self.data_offset)
            .checked_add(self.data_size)
            .and_then(|end| end.checked_next_multiple_of(END_LINE as u64))
            .and_then(|marker| marker.checked_add(END_LINE as u64));
        if total != Some(self.total_size) {
            return Err(format!(
                "total size {} is not data offset {} plus data size {} plus the end line",
                self.total_size, self.data_offset, self.data_size
            ));
        }
        if self.total_size > seg_len as u64 {
            return Err(format!(
                "header claims {} bytes, the segment has {seg_len}",
                self.total_size
            ));
        }
        Ok(())
    }
}

/// FNV-1a, 64-bit: a stable hash for quick comparison and display.
///
/// # Example
/// ```
/// use shmkit::header::fnv1a;
/// assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325); // the offset basis
/// assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
/// assert_ne!(fnv1a(b"ab"), fnv1a(b"ba"));
/// ```
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Encodes `ty`, refusing a description that openers would refuse: one the
/// decoder rejects (fields outside their struct, sizes that do not add up)
/// or whose alignment is not a power of two up to [`MAX_ALIGN`].
pub(crate) fn check_described(name: &str, ty: &Ty) -> Result<Vec<u8>> {
    let invalid = |reason: String| Error::InvalidLayout {
        name: name.to_owned(),
        reason,
    };
    let layout = ty.to_bytes();
    match Ty::decode(&layout) {
        Ok(back) if back == *ty => {}
        Ok(_) => return Err(invalid("it does not survive encoding".into())),
        Err(e) => return Err(invalid(e)),
    }
    let align = ty.align() as usize;
    if align == 0 || !align.is_power_of_two() || align > MAX_ALIGN {
        return Err(invalid(format!(
            "alignment {align} is not a power of two up to {MAX_ALIGN}"
        )));
    }
    Ok(layout)
}

/// Creates a typed segment for a layout known only at run time (a binding
/// for another language, which has no Rust type to name), holding `value`:
/// the same header, layout description and initialisation protocol as
/// [`Shared::create_with`], so [`Shared::<T>::open`](Shared::open) accepts
/// it when `T` describes as `ty`, and refuses it with
/// [`Error::LayoutMismatch`] otherwise.
///
/// The value is placed at `ty`'s alignment (at least 64); its bytes are
/// copied in as they are, little-endian as the description says.
///
/// # Errors
/// [`Error::InvalidLayout`] if `ty` is not a consistent description (fields
/// outside their struct, sizes that do not add up, alignment over
/// [`MAX_ALIGN`]) or `value` is not `ty.size()` bytes; else as
/// [`Segment::create`].
///
/// # Example
/// ```
/// use shmkit::layout::Ty;
/// use shmkit::{header, Layout, Segment, Shared};
///
/// #[derive(shmkit::Layout, Clone, Copy)]
/// #[repr(C)]
/// struct Point { x: f64, y: f64 }
///
/// # let name = format!("doc-described-{}", std::process::id());
/// let ty: Ty = Point::describe();
/// let mut value = 1.5f64.to_le_bytes().to_vec();
/// value.extend(2.5f64.to_le_bytes());
/// let seg = header::create_described(&Segment::options(), &name, &ty, &value)?;
/// let p = Shared::<Point>::open(&name)?.load()?;
/// assert_eq!((p.x, p.y), (1.5, 2.5));
/// assert!(matches!(
///     Shared::<[f64; 3]>::open(&name),
///     Err(shmkit::Error::LayoutMismatch { .. })
/// ));
/// # drop(seg);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub fn create_described(
    opts: &SegmentOptions,
    name: &str,
    ty: &Ty,
    value: &[u8],
) -> Result<Segment> {
    let invalid = |reason: String| Error::InvalidLayout {
        name: name.to_owned(),
        reason,
    };
    if opts.read_only {
        return Err(Error::ReadOnly {
            name: name.to_owned(),
        });
    }
    let layout = check_described(name, ty)?;
    let align = ty.align() as usize;
    if value.len() as u64 != ty.size() {
        return Err(invalid(format!(
            "the value has {} bytes but {} needs {}",
            value.len(),
            ty.summary(),
            ty.size()
        )));
    }
    let data_offset = (HEADER_LEN + layout.len()).next_multiple_of(align.max(64));
    let total = end_marker_at(data_offset + value.len()) + END_LINE;
    let mut opts = opts.clone();
    opts.hold_creator_lock = true;
    let mut seg = opts.create(name, total)?;
    let header = Header {
        version: VERSION,
        state: 0,
        data_offset: data_offset as u32,
        layout_len: layout.len() as u32,
        data_size: value.len() as u64,
        total_size: seg.len() as u64,
        creator_pid: std::process::id(),
        data_align: align as u32,
        layout_hash: fnv1a(&layout),
    };
    seg.write_at(0, &header.to_bytes())?;
    seg.write_at(HEADER_LEN, &layout)?;
    seg.write_end_marker(total - END_LINE)?;
    seg.write_at(data_offset, value)?;
    // SAFETY: the segment is at least `HEADER_LEN` long; the `state` word at
    // offset 12 is 4-aligned (mappings are page-aligned), the mapping is
    // writable (`create` maps it so), and the word is only accessed
    // atomically.
    let state = unsafe { AtomicU32::from_ptr(seg.as_mut_ptr().add(STATE_OFFSET).cast()) };
    // SYNC(ready): publishes header, layout and value to openers.
    state.store(READY, Ordering::Release);
    seg.release_creator_lock();
    Ok(seg)
}

/// Reads a typed segment's header and layout description, validated, without
/// knowing its Rust type. Used by tools that inspect segments.
///
/// # Errors
/// [`Error::NotTyped`] if there is no shmkit header, [`Error::Corrupted`] if
/// it is inconsistent.
///
/// # Example
/// ```
/// use shmkit::{header, Error, Segment};
/// # let name = format!("doc-readheader-{}", std::process::id());
/// let _data = shmkit::Shared::<[u32; 4]>::create(&name)?;
/// let seg = Segment::open(&name)?; // a tool without the Rust type
/// let (head, ty) = header::read_header(&seg)?;
/// assert_eq!(ty.summary(), "[u32; 4]");
/// assert_eq!(head.data_size, ty.size());
///
/// # let plain_name = format!("doc-readheader-p-{}", std::process::id());
/// let plain = Segment::create(&plain_name, 4096)?;
/// assert!(matches!(header::read_header(&plain), Err(Error::NotTyped { .. })));
/// # Ok::<(), shmkit::Error>(())
/// ```
pub fn read_header(seg: &Segment) -> Result<(Header, Ty)> {
    let not_typed = |reason: String| Error::NotTyped {
        name: seg.name().to_owned(),
        reason,
    };
    if seg.len() < HEADER_LEN {
        return Err(not_typed(format!("it has only {} bytes", seg.len())));
    }
    let mut raw = [0u8; HEADER_LEN];
    seg.read_at(0, &mut raw)?;
    let header = Header::parse(&raw).ok_or_else(|| not_typed("no shmkit magic number".into()))?;
    // A typed segment made by a shmkit of another format: intact, only not
    // ours to read, so not called corrupted.
    if header.version != VERSION {
        return Err(Error::FormatVersion {
            name: seg.name().to_owned(),
            kind: "a typed segment",
            found: header.version,
            expected: VERSION,
        });
    }
    let corrupted = |what: String| Error::Corrupted {
        name: seg.name().to_owned(),
        what,
    };
    header.validate(seg.len()).map_err(corrupted)?;
    let mut layout = vec![0u8; header.layout_len as usize];
    seg.read_at(HEADER_LEN, &mut layout)?;
    if fnv1a(&layout) != header.layout_hash {
        return Err(corrupted(
            "the layout description does not match its hash".into(),
        ));
    }
    let ty = Ty::decode(&layout).map_err(|e| corrupted(format!("bad layout description: {e}")))?;
    if ty.size() != header.data_size {
        return Err(corrupted(format!(
            "layout of {} bytes, header says {}",
            ty.size(),
            header.data_size
        )));
    }
    Ok((header, ty))
}

/// Checks the end marker of the typed segment `header` describes (read by
/// [`read_header`] from `seg`), and makes every later access of `seg`
/// check it: a peer that shrinks the segment and grows it back between two
/// accesses then makes the next one fail with
/// [`Error::Truncated`](crate::Error::Truncated) instead of reading the
/// zeros it left. [`Shared::open`] does this itself; a binding that reads
/// typed segments through a plain [`Segment`] calls it after
/// [`read_header`].
///
/// # Errors
/// [`Error::Corrupted`] if the marker is not where the header says: the
/// segment was shrunk and grown back, or written over, before this call.
///
/// # Example
/// ```
/// use shmkit::header::{expect_end_marker, read_header};
/// # let name = format!("doc-endmarker-{}", std::process::id());
/// let data = shmkit::Shared::<u64>::create_with(&name, 123)?;
/// let mut seg = shmkit::Segment::open(&name)?;
/// let (header, _layout) = read_header(&seg)?;
/// expect_end_marker(&mut seg, &header)?;
/// let mut value = [0u8; 8];
/// seg.read_at(header.data_offset as usize, &mut value)?;
/// assert_eq!(u64::from_le_bytes(value), 123);
/// # drop(data);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub fn expect_end_marker(seg: &mut Segment, header: &Header) -> Result<()> {
    header
        .validate(seg.len())
        .map_err(|what| Error::Corrupted {
            name: seg.name().to_owned(),
            what,
        })?;
    seg.expect_end_marker(header.total_size as usize - END_LINE)
}

/// How far a typed segment's initialisation got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitState {
    /// The creator published the value.
    Ready,
    /// The creator is alive and still writing.
    Initialising,
    /// The creator died before publishing: the segment will never be ready.
    Abandoned,
    /// Not ready, and this platform cannot tell whether the creator lives.
    Unknown,
}

impl InitState {
    /// `ready`, `initialising`, `abandoned` or `unknown`.
    ///
    /// # Example
    /// ```
    /// use shmkit::header::{init_state, InitState};
    /// assert_eq!(InitState::Abandoned.as_str(), "abandoned");
    /// # let name = format!("doc-initstr-{}", std::process::id());
    /// let data = shmkit::Shared::<u64>::create(&name)?;
    /// assert_eq!(init_state(data.segment())?.as_str(), "ready");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            InitState::Ready => "ready",
            InitState::Initialising => "initialising",
            InitState::Abandoned => "abandoned",
            InitState::Unknown => "unknown",
        }
    }
}

/// Tells whether a typed segment is ready, being initialised, or abandoned by
/// a creator that died, from its `state` word and the creator's liveness lock
/// (never from the creator's pid).
///
/// # Errors
/// [`Error::NotTyped`] if the segment is smaller than a header, or is not
/// ready and holds no shmkit magic number (zeros included: a segment made by
/// [`Segment::create`] or another program looks like that);
/// [`Error::Corrupted`] if it is not ready and its header is garbage (a
/// `state` word that no creator writes, another format version).
///
/// # Example
/// ```
/// use shmkit::header::{init_state, InitState};
/// use shmkit::{Error, Segment};
/// # let name = format!("doc-initstate-{}", std::process::id());
/// let _data = shmkit::Shared::<u64>::create(&name)?;
/// let seg = Segment::options().read_only(true).open(&name)?;
/// assert_eq!(init_state(&seg)?, InitState::Ready);
///
/// // Zeros, as a plain segment holds, are no typed segment at all.
/// # let plain_name = format!("doc-initstate-p-{}", std::process::id());
/// let plain = Segment::create(&plain_name, 4096)?;
/// assert!(matches!(init_state(&plain), Err(Error::NotTyped { .. })));
/// # Ok::<(), shmkit::Error>(())
/// ```
pub fn init_state(seg: &Segment) -> Result<InitState> {
    if seg.len() < HEADER_LEN {
        return Err(Error::NotTyped {
            name: seg.name().to_owned(),
            reason: format!("it has only {} bytes", seg.len()),
        });
    }
    // SAFETY: the `state` word at offset 12 lies inside the segment (checked
    // just above), is 4-aligned (mappings are page-aligned), and is only
    // accessed atomically; a load only reads, so a read-only mapping is fine.
    let state = unsafe { AtomicU32::from_ptr(seg.as_mut_ptr().add(STATE_OFFSET).cast()) };
    // SYNC(ready): Acquire, as any opener.
    if state.load(Ordering::Acquire) == READY {
        return Ok(InitState::Ready);
    }
    let creator = seg.creator_state();
    if creator == CreatorState::Alive {
        return Ok(InitState::Initialising);
    }
    if state.load(Ordering::Acquire) == READY {
        return Ok(InitState::Ready);
    }
    match unready(seg)? {
        Unready::Zeros => Err(Error::NotTyped {
            name: seg.name().to_owned(),
            reason: ZEROS.into(),
        }),
        Unready::Unpublished if creator == CreatorState::Gone => Ok(InitState::Abandoned),
        Unready::Unpublished => Ok(InitState::Unknown),
    }
}

/// Why a segment that is not a typed one, or not initialised yet, holds only
/// zeros where the header goes.
const ZEROS: &str = "it holds only zeros where the header goes: it was made by \
     Segment::create or another program (Python's SharedMemory), or its creator has \
     not written the header yet";

/// What a segment that is not `READY`, and whose creator does not hold its
/// liveness lock, holds where the header goes.
enum Unready {
    /// Nothing but zeros: a segment made without a header (by
    /// [`Segment::create`], Python, C), or a typed creator that had not
    /// written its header yet, which cannot be told apart.
    Zeros,
    /// A valid magic number, version (or the zeros of a header whose writing
    /// stopped after the magic) and `state` 0: a creator wrote the header,
    /// or began to, then stopped before publishing.
    Unpublished,
}

/// Reads the header of a segment that is not `READY` and classifies it.
/// The magic number and version are checked before the state, so that a
/// scribbled header is never taken for an abandoned one (whose advice is to
/// remove it).
///
/// # Errors
/// [`Error::NotTyped`] for a magic number that is not shmkit's,
/// [`Error::Corrupted`] for another version or a `state` word that no
/// creator writes (neither 0 nor `READY`).
fn unready(seg: &Segment) -> Result<Unready> {
    let mut raw = [0u8; HEADER_LEN];
    seg.read_at(0, &mut raw)?;
    if raw == [0; HEADER_LEN] {
        return Ok(Unready::Zeros);
    }
    let Some(header) = Header::parse(&raw) else {
        return Err(Error::NotTyped {
            name: seg.name().to_owned(),
            reason: "no shmkit magic number".into(),
        });
    };
    let corrupted = |what: String| Error::Corrupted {
        name: seg.name().to_owned(),
        what,
    };
    // A creator that died while writing the header left a prefix of it and
    // zeros after (the header goes in word by word, magic first): version 0
    // is that, not another version.
    if header.version != VERSION && header.version != 0 {
        return Err(corrupted(format!(
            "header format version {}, this shmkit reads {VERSION}",
            header.version
        )));
    }
    // The creator writes `state` 0 with the header and `READY` last; any
    // other value was written by someone else.
    if header.state != 0 {
        return Err(corrupted(format!(
            "its state word is {:#010x}, which no creator writes (0 while initialising, \
             {READY:#010x} once ready): something wrote over the header",
            header.state
        )));
    }
    Ok(Unready::Unpublished)
}

/// A value of type `T` in a named segment, checked on open.
///
/// Plain (`Copy`) data is read and written by copy ([`load`](Self::load),
/// [`store`](Self::store)); single fields through the generated accessors,
/// which `Shared<T>` reaches by `Deref`:
///
/// ```
/// #[derive(shmkit::Layout, Clone, Copy)]
/// #[repr(C)]
/// struct Data {
///     value: i32,
///     letter: u16,
///     _pad: [u8; 2],
///     numbers: [f32; 50],
/// }
///
/// # let name = format!("doc-shared-{}", std::process::id());
/// let data = shmkit::Shared::<Data>::create(&name)?;
/// data.value().set(123)?;                     // data->Value = 123
/// data.letter().set(u16::from(b'X'))?;
/// data.numbers().at(10).set(1.45)?;
///
/// let peer = shmkit::Shared::<Data>::open(&name)?;   // checked against `Data`
/// assert_eq!(peer.value().get()?, 123);
/// assert_eq!(peer.numbers().at(10).get()?, 1.45);
/// assert_eq!(peer.load()?.letter, u16::from(b'X'));
/// # Ok::<(), shmkit::Error>(())
/// ```
///
/// A `Shared` always maps its segment read-write: the handle for reading
/// only is [`ReadOnlyShared`] ([`Shared::open_read_only`]), which offers no
/// method that writes.
pub struct Shared<T: Layout> {
    seg: Segment,
    offset: usize,
    _t: PhantomData<T>,
}

impl<T: Layout> std::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("type", &std::any::type_name::<T>())
            .field("segment", &self.seg)
            .field("offset", &self.offset)
            .finish()
    }
}

impl<T: Layout> Shared<T> {
    /// Creates a typed segment holding a zero-filled `T`.
    ///
    /// # Errors
    /// As [`Segment::create`].
    ///
    /// # Example
    /// ```
    /// #[derive(shmkit::Layout, Clone, Copy)]
    /// #[repr(C)]
    /// struct Data { value: u32, letter: u16, _pad: u16 }
    /// # let name = format!("doc-shcreate-{}", std::process::id());
    /// let data = shmkit::Shared::<Data>::create(&name)?;
    /// assert!(data.segment().created());
    /// assert_eq!(data.value().get()?, 0); // zero-filled
    /// assert!(matches!(
    ///     shmkit::Shared::<Data>::create(&name),
    ///     Err(shmkit::Error::AlreadyExists { .. })
    /// ));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create(name: &str) -> Result<Self> {
        Self::options().create(name)
    }

    /// Creates a typed segment holding `value`. Openers see `value` and never
    /// anything earlier.
    ///
    /// # Errors
    /// As [`Segment::create`].
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-shcreatewith-{}", std::process::id());
    /// let table = shmkit::Shared::<[u16; 3]>::create_with(&name, [1, 2, 3])?;
    /// let peer = shmkit::Shared::<[u16; 3]>::open(&name)?;
    /// assert_eq!(peer.load()?, [1, 2, 3]);
    /// # drop(table);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create_with(name: &str, value: T) -> Result<Self> {
        Self::options().create_with(name, value)
    }

    /// Opens a typed segment and checks its header and layout against `T`.
    ///
    /// # Errors
    /// As [`Segment::open`], and [`Error::LayoutMismatch`] naming the first
    /// difference, [`Error::NotTyped`], [`Error::Corrupted`],
    /// [`Error::InitAbandoned`] (the creator died before finishing) and
    /// [`Error::InitTimeout`].
    ///
    /// # Example
    /// ```
    /// #[derive(shmkit::Layout)]
    /// #[repr(C)]
    /// struct V1 { value: i32, letter: u16, _pad: u16 }
    /// mod other_program {
    ///     #[derive(shmkit::Layout)]
    ///     #[repr(C)]
    ///     pub struct V1 { pub value: i32, pub letter: u32 }
    /// }
    /// # let name = format!("doc-mismatch-{}", std::process::id());
    /// let _seg = shmkit::Shared::<V1>::create(&name)?;
    /// let err = shmkit::Shared::<other_program::V1>::open(&name).unwrap_err();
    /// assert!(err.to_string().contains(
    ///     "field `letter`: u32 at offset 4 here, u16 at offset 4 in the segment"
    /// ));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open(name: &str) -> Result<Self> {
        Self::options().open(name)
    }

    /// Opens the typed segment, or creates it zero-filled. When many
    /// processes race, exactly one initialises it.
    ///
    /// # Errors
    /// As [`create`](Self::create) and [`open`](Self::open).
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-shooc-{}", std::process::id());
    /// let a = shmkit::Shared::<u64>::open_or_create(&name)?;
    /// a.place().set(5)?;
    /// let b = shmkit::Shared::<u64>::open_or_create(&name)?; // opens `a`'s
    /// assert!(a.segment().created() && !b.segment().created());
    /// assert_eq!(b.load()?, 5);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create(name: &str) -> Result<Self> {
        Self::options().open_or_create(name)
    }

    /// Maps `T` at offset 0 of a new segment, with no header: for sharing with
    /// C, C#, Python `ctypes` or numpy. Nothing is checked on open but the
    /// size.
    ///
    /// # Errors
    /// As [`Segment::create`].
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-shcreateraw-{}", std::process::id());
    /// let raw = shmkit::Shared::<[u32; 2]>::create_raw(&name)?;
    /// raw.at(1).set(0x0102_0304)?;
    /// assert_eq!(raw.data_offset(), 0); // no header: the value is the segment
    /// // What a C program mapping the segment sees, byte for byte:
    /// let plain = shmkit::Segment::open(&name)?;
    /// let mut bytes = [0u8; 8];
    /// plain.read_at(0, &mut bytes)?;
    /// assert_eq!(bytes, [0, 0, 0, 0, 4, 3, 2, 1]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create_raw(name: &str) -> Result<Self> {
        Self::options().create_raw(name)
    }

    /// Maps `T` at offset 0 of an existing segment made by any program.
    ///
    /// # Errors
    /// As [`Segment::open`], and [`Error::TooSmall`].
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-shopenraw-{}", std::process::id());
    /// // A segment made by another program (here, as plain bytes).
    /// let other = shmkit::Segment::create(&name, 16)?;
    /// other.write_at(4, &7u32.to_le_bytes())?;
    /// let view = shmkit::Shared::<[u32; 4]>::open_raw(&name)?;
    /// assert_eq!(view.at(1).get()?, 7);
    /// # #[cfg(unix)] // Windows rounds an opened segment's size up to a page
    /// assert!(matches!(
    ///     shmkit::Shared::<[u64; 4]>::open_raw(&name),
    ///     Err(shmkit::Error::TooSmall { needed: 32, .. })
    /// ));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_raw(name: &str) -> Result<Self> {
        Self::options().open_raw(name)
    }

    /// Opens a typed segment read-only (`O_RDONLY`, `PROT_READ`; Windows
    /// `FILE_MAP_READ`), checked as [`open`](Self::open) checks it.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    ///
    /// # Example
    /// ```
    /// #[derive(shmkit::Layout, Clone, Copy)]
    /// #[repr(C)]
    /// struct Data { value: i32, letter: u16, _pad: u16 }
    /// # let name = format!("doc-ro-{}", std::process::id());
    /// let data = shmkit::Shared::<Data>::create(&name)?;
    /// data.value().set(7)?;
    /// let reader = shmkit::Shared::<Data>::open_read_only(&name)?;
    /// assert_eq!(reader.value().get()?, 7);
    /// assert_eq!(reader.load()?.value, 7);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_read_only(name: &str) -> Result<ReadOnlyShared<T>> {
        Self::options().open_read_only(name)
    }

    /// Maps `T` at offset 0 of an existing segment, read-only, checking only
    /// its size.
    ///
    /// # Errors
    /// As [`open_raw`](Self::open_raw).
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-shopenrawro-{}", std::process::id());
    /// let other = shmkit::Segment::create(&name, 8)?;
    /// other.write_at(0, &1.5f64.to_le_bytes())?;
    /// let view = shmkit::Shared::<f64>::open_raw_read_only(&name)?;
    /// assert_eq!(view.load()?, 1.5);
    /// assert!(view.segment().is_read_only());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_raw_read_only(name: &str) -> Result<ReadOnlyShared<T>> {
        Self::options().open_raw_read_only(name)
    }

    /// The options builder: mode, persistence, trust, timeout.
    ///
    /// # Example
    /// ```
    /// # #[cfg(unix)] {
    /// # let name = format!("doc-shoptions-{}", std::process::id());
    /// let data = shmkit::Shared::<u64>::options().persist(true).create(&name)?;
    /// drop(data);
    /// assert_eq!(shmkit::Shared::<u64>::open(&name)?.load()?, 0); // still there
    /// shmkit::Segment::remove(&name)?;
    /// # }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn options() -> SharedOptions<T> {
        // Every constructor goes through here: refuse an over-aligned `T` at
        // build time.
        const { value_align::<T>() };
        SharedOptions {
            seg: SegmentOptions::default(),
            _t: PhantomData,
        }
    }

    /// The whole value as a typed place.
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-shplace-{}", std::process::id());
    /// let n = shmkit::Shared::<u64>::create(&name)?;
    /// n.place().set(42)?;
    /// assert_eq!(n.place().get()?, 42);
    /// assert_eq!(n.place().offset(), n.data_offset());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn place(&self) -> Ref<'_, T> {
        // SAFETY:
        // - `Shared::at`, the only constructor, checked that the `T` at
        //   `offset` lies inside the mapping and that its real address is
        //   aligned for `T`;
        // - the mapping is writable, as `Ref<_, Writable>` requires (`at`
        //   refuses a read-only segment);
        // - the `Ref` borrows `self`, so the mapping outlives it.
        unsafe { Ref::new(&self.seg, self.addr().cast()) }
    }

    /// The segment underneath.
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-shsegment-{}", std::process::id());
    /// let n = shmkit::Shared::<u64>::create(&name)?;
    /// assert_eq!(n.segment().name(), name);
    /// assert!(n.segment().len() >= n.data_offset() + 8);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn segment(&self) -> &Segment {
        &self.seg
    }

    /// Where the value starts in the segment (0 for raw segments).
    ///
    /// # Example
    /// ```
    /// # let pid = std::process::id();
    /// let typed = shmkit::Shared::<u64>::create(&format!("doc-shoff-{pid}"))?;
    /// assert!(typed.data_offset() >= shmkit::header::HEADER_LEN);
    /// assert_eq!(typed.data_offset() % 8, 0);
    /// let raw = shmkit::Shared::<u64>::create_raw(&format!("doc-shoff-raw-{pid}"))?;
    /// assert_eq!(raw.data_offset(), 0);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn data_offset(&self) -> usize {
        self.offset
    }
}

/// Whole-value copies, for plain data (see [`Ref`]'s `get` and `set`:
/// `Copy` rules out atomics and synchronisation primitives).
impl<T: Layout + Copy> Shared<T> {
    /// Copies the whole value out. Each aligned primitive is read atomically;
    /// the struct as a whole is not a snapshot if a peer writes meanwhile
    /// (use `shmkit::sync` for that).
    ///
    /// # Errors
    /// [`Error::Truncated`] if another process shrank the segment under this
    /// mapping (see [`Ref::get`]).
    ///
    /// # Example
    /// ```
    /// #[derive(shmkit::Layout, Clone, Copy)]
    /// #[repr(C)]
    /// struct Data { value: u32, letter: u16, _pad: u16 }
    /// # let name = format!("doc-shload-{}", std::process::id());
    /// let data = shmkit::Shared::<Data>::create(&name)?;
    /// data.value().set(9)?;
    /// let copy: Data = data.load()?;
    /// assert_eq!((copy.value, copy.letter), (9, 0));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn load(&self) -> Result<T> {
        self.place().get()
    }

    /// Copies `value` in.
    ///
    /// # Errors
    /// [`Error::ReadOnly`] on a read-only segment.
    ///
    /// # Example
    /// ```
    /// #[derive(shmkit::Layout, Clone, Copy)]
    /// #[repr(C)]
    /// struct Data { value: u32, letter: u16, _pad: u16 }
    /// # let name = format!("doc-shstore-{}", std::process::id());
    /// let data = shmkit::Shared::<Data>::create(&name)?;
    /// data.store(&Data { value: 1, letter: 2, _pad: 0 })?;
    /// let peer = shmkit::Shared::<Data>::open(&name)?;
    /// assert_eq!(peer.letter().get()?, 2);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn store(&self, value: &T) -> Result<()> {
        self.place().set_ref(value)
    }
}

impl<T: InPlace> Shared<T> {
    /// Borrows a value made only of atomics in place.
    ///
    /// # Example
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use shmkit::sync::Mutex;
    /// #[derive(shmkit::Layout)]
    /// #[shmkit(in_place)]
    /// #[repr(C)]
    /// struct Counters { hits: AtomicU64, misses: AtomicU64 }
    /// # let name = format!("doc-shget-{}", std::process::id());
    /// let counters = shmkit::Shared::<Counters>::create(&name)?;
    /// counters.get().hits.fetch_add(1, Ordering::Relaxed);
    /// let peer = shmkit::Shared::<Counters>::open(&name)?;
    /// assert_eq!(peer.get().hits.load(Ordering::Relaxed), 1);
    ///
    /// # let name2 = format!("doc-shget-m-{}", std::process::id());
    /// let total = shmkit::Shared::<Mutex<u64>>::create(&name2)?;
    /// *total.get().lock().unwrap() += 3;
    /// assert_eq!(*total.get().lock().unwrap(), 3);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn get(&self) -> &T {
        // SAFETY:
        // - the value lies inside the mapping, at an address aligned for `T`
        //   (both checked by `Shared::at`, the only constructor), and the
        //   mapping lives as long as `self`;
        // - the mapping is writable (`at` refuses a read-only segment), so
        //   the writes of `&T`'s methods (`lock`, `store`, `fetch_add`) do
        //   not fault;
        // - `T: InPlace` is only accessed atomically, so other processes'
        //   writes are not data races.
        unsafe { &*self.addr().cast::<T>() }
    }
}

// SAFETY: `Shared::at`, the only constructor, checked that the `T` at
// `offset` lies inside the mapping, aligned, and that the mapping is writable;
// the mapping lives as long as `self`.
unsafe impl<T: Layout> Base for Shared<T> {
    type Access = Writable;
    fn segment(&self) -> &Segment {
        &self.seg
    }
    fn addr(&self) -> *mut u8 {
        // SAFETY: `offset + size_of::<T>() <= len`, so the result stays
        // inside the mapping.
        unsafe { self.seg.as_mut_ptr().add(self.offset) }
    }
}

impl<T: Layout> std::ops::Deref for Shared<T> {
    type Target = T::Fields<Self>;
    fn deref(&self) -> &Self::Target {
        // SAFETY: `T::Fields<B>` is `#[repr(transparent)]` over `B`
        // (`Layout`'s contract); the result borrows `self`.
        unsafe { &*(self as *const Self).cast::<Self::Target>() }
    }
}

/// A value of type `T` in a named segment mapped read-only: loads only.
///
/// Made by [`Shared::open_read_only`] or [`Shared::open_raw_read_only`]. It
/// copies values out ([`load`](Self::load), `field().get()`), loads atomics
/// (`field().load(order)`), reads a [`SeqLock`](crate::sync::SeqLock)
/// (`field().read()`) and asks an [`Event`](crate::sync::Event) whether it is
/// signalled, but has no method that writes: on a read-only mapping a write
/// would fault. So there is no `get()` handing out `&T`, no `store`, `set`
/// or `in_place`:
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// #[derive(shmkit::Layout)]
/// #[shmkit(in_place)]
/// #[repr(C)]
/// struct Counters { hits: AtomicU64 }
/// # let name = format!("doc-ro-counters-{}", std::process::id());
/// let counters = shmkit::Shared::<Counters>::create(&name)?;
/// counters.get().hits.fetch_add(3, Ordering::Relaxed);
/// let reader = shmkit::Shared::<Counters>::open_read_only(&name)?;
/// assert_eq!(reader.hits().load(Ordering::Relaxed)?, 3);
/// # Ok::<(), shmkit::Error>(())
/// ```
///
/// No atomic store or `fetch_add` through it:
/// ```compile_fail,E0599
/// # use std::sync::atomic::{AtomicU64, Ordering};
/// # #[derive(shmkit::Layout)] #[shmkit(in_place)] #[repr(C)] struct Counters { hits: AtomicU64 }
/// # fn f(reader: &shmkit::ReadOnlyShared<Counters>) {
/// reader.get().hits.store(1, Ordering::Relaxed);
/// # }
/// ```
/// ```compile_fail,E0599
/// # use std::sync::atomic::{AtomicU64, Ordering};
/// # #[derive(shmkit::Layout)] #[shmkit(in_place)] #[repr(C)] struct Counters { hits: AtomicU64 }
/// # fn f(reader: &shmkit::ReadOnlyShared<Counters>) {
/// reader.hits().in_place().fetch_add(1, Ordering::Relaxed);
/// # }
/// ```
/// ```compile_fail,E0599
/// # use std::sync::atomic::{AtomicU64, Ordering};
/// # fn f(reader: &shmkit::ReadOnlyShared<AtomicU64>) {
/// reader.place().store(1, Ordering::Relaxed);
/// # }
/// ```
///
/// No `Mutex` locking (`lock`, `try_lock`, `lock_timeout`):
/// ```compile_fail,E0599
/// # fn f(reader: &shmkit::ReadOnlyShared<shmkit::sync::Mutex<u64>>) {
/// let _ = reader.get().lock();
/// # }
/// ```
/// ```compile_fail,E0599
/// # fn f(reader: &shmkit::ReadOnlyShared<shmkit::sync::Mutex<u64>>) {
/// let _ = reader.place().try_lock();
/// # }
/// ```
/// ```compile_fail,E0599
/// # fn f(reader: &shmkit::ReadOnlyShared<shmkit::sync::Mutex<u64>>) {
/// let _ = reader.place().in_place().lock_timeout(std::time::Duration::from_secs(1));
/// # }
/// ```
///
/// No `SeqLock` writer, no `Event` notification, wait or reset:
/// ```compile_fail,E0599
/// # fn f(reader: &shmkit::ReadOnlyShared<shmkit::sync::SeqLock<u64>>) {
/// let _ = reader.place().writer();
/// # }
/// ```
/// ```compile_fail,E0599
/// # fn f(reader: &shmkit::ReadOnlyShared<shmkit::sync::Event>) {
/// reader.place().notify_one();
/// # }
/// ```
/// ```compile_fail,E0599
/// # fn f(reader: &shmkit::ReadOnlyShared<shmkit::sync::Event>) {
/// let _ = reader.place().wait_timeout(std::time::Duration::from_secs(1));
/// # }
/// ```
/// ```compile_fail,E0599
/// # fn f(reader: &shmkit::ReadOnlyShared<shmkit::sync::Event>) {
/// reader.place().reset();
/// # }
/// ```
///
/// No copies in:
/// ```compile_fail,E0599
/// # fn f(reader: &shmkit::ReadOnlyShared<u64>) {
/// let _ = reader.store(&1);
/// # }
/// ```
/// ```compile_fail,E0599
/// # fn f(reader: &shmkit::ReadOnlyShared<[u32; 4]>) {
/// let _ = reader.at(0).set(1);
/// # }
/// ```
pub struct ReadOnlyShared<T: Layout> {
    seg: Segment,
    offset: usize,
    _t: PhantomData<T>,
}

impl<T: Layout> std::fmt::Debug for ReadOnlyShared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOnlyShared")
            .field("type", &std::any::type_name::<T>())
            .field("segment", &self.seg)
            .field("offset", &self.offset)
            .finish()
    }
}

impl<T: Layout> ReadOnlyShared<T> {
    /// The value as a typed place that only reads.
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-roplace-{}", std::process::id());
    /// let n = shmkit::Shared::<u64>::create_with(&name, 8)?;
    /// let reader = shmkit::Shared::<u64>::open_read_only(&name)?;
    /// assert_eq!(reader.place().get()?, 8);
    /// # drop(n);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn place(&self) -> Ref<'_, T, ReadOnly> {
        // SAFETY:
        // - `checked_place`, which every constructor calls, checked that the
        //   `T` at `offset` lies inside the mapping and that its real address
        //   is aligned for `T`;
        // - a `ReadOnly` place needs no write permission: it only loads;
        // - the `Ref` borrows `self`, so the mapping outlives it.
        unsafe { Ref::new(&self.seg, self.addr().cast()) }
    }

    /// The segment underneath.
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-rosegment-{}", std::process::id());
    /// let n = shmkit::Shared::<u64>::create(&name)?;
    /// let reader = shmkit::Shared::<u64>::open_read_only(&name)?;
    /// assert!(reader.segment().is_read_only());
    /// assert!(!n.segment().is_read_only());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn segment(&self) -> &Segment {
        &self.seg
    }

    /// Where the value starts in the segment (0 for raw segments).
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-rooffset-{}", std::process::id());
    /// let n = shmkit::Shared::<u64>::create(&name)?;
    /// let reader = shmkit::Shared::<u64>::open_read_only(&name)?;
    /// assert_eq!(reader.data_offset(), n.data_offset());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn data_offset(&self) -> usize {
        self.offset
    }
}

impl<T: Layout + Copy> ReadOnlyShared<T> {
    /// Copies the whole value out, as [`Shared::load`].
    ///
    /// # Errors
    /// [`Error::Truncated`] if another process shrank the segment under this
    /// mapping.
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-roload-{}", std::process::id());
    /// let n = shmkit::Shared::<[i8; 2]>::create_with(&name, [-1, 1])?;
    /// let reader = shmkit::Shared::<[i8; 2]>::open_read_only(&name)?;
    /// assert_eq!(reader.load()?, [-1, 1]);
    /// # drop(n);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn load(&self) -> Result<T> {
        self.place().get()
    }
}

// SAFETY: `checked_place`, which every constructor calls, checked that the
// `T` at `offset` lies inside the mapping, aligned; the access is `ReadOnly`,
// which needs no write permission; the mapping lives as long as `self`.
unsafe impl<T: Layout> Base for ReadOnlyShared<T> {
    type Access = ReadOnly;
    fn segment(&self) -> &Segment {
        &self.seg
    }
    fn addr(&self) -> *mut u8 {
        // SAFETY: `offset + size_of::<T>() <= len` (`checked_place`), so the
        // result stays inside the mapping.
        unsafe { self.seg.as_mut_ptr().add(self.offset) }
    }
}

impl<T: Layout> std::ops::Deref for ReadOnlyShared<T> {
    type Target = T::Fields<Self>;
    fn deref(&self) -> &Self::Target {
        // SAFETY: `T::Fields<B>` is `#[repr(transparent)]` over `B`
        // (`Layout`'s contract); the result borrows `self`.
        unsafe { &*(self as *const Self).cast::<Self::Target>() }
    }
}

/// Options for a [`Shared`], as [`SegmentOptions`] for a [`Segment`].
///
/// # Example
/// ```
/// use std::time::Duration;
/// # let name = format!("doc-sharedoptions-{}", std::process::id());
/// let data = shmkit::Shared::<[u32; 4]>::options()
///     .mode(0o600)
///     .timeout(Duration::from_secs(1))
///     .create_with(&name, [1, 2, 3, 4])?;
/// let peer = shmkit::Shared::<[u32; 4]>::options()
///     .timeout(Duration::from_secs(1))
///     .open(&name)?;
/// assert_eq!(peer.at(3).get()?, 4);
/// # drop(data);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct SharedOptions<T: Layout> {
    seg: SegmentOptions,
    _t: PhantomData<T>,
}

impl<T: Layout> SharedOptions<T> {
    /// See [`SegmentOptions::mode`].
    ///
    /// # Example
    /// ```
    /// # #[cfg(target_os = "linux")] {
    /// use std::os::unix::fs::PermissionsExt;
    /// # let name = format!("doc-shmode-{}", std::process::id());
    /// let data = shmkit::Shared::<u64>::options().mode(0o640).create(&name)?;
    /// let meta = std::fs::metadata(format!("/dev/shm/{name}")).unwrap();
    /// assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    /// # drop(data);
    /// # }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.seg.mode(mode);
        self
    }

    /// See [`SegmentOptions::persist`].
    ///
    /// # Example
    /// ```
    /// # #[cfg(unix)] {
    /// # let name = format!("doc-shpersist-{}", std::process::id());
    /// drop(shmkit::Shared::<u32>::options().persist(true).create_with(&name, 7)?);
    /// assert_eq!(shmkit::Shared::<u32>::open(&name)?.load()?, 7);
    /// shmkit::Segment::remove(&name)?;
    /// # }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn persist(&mut self, persist: bool) -> &mut Self {
        self.seg.persist(persist);
        self
    }

    /// See [`SegmentOptions::trust_owner`].
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-shtrust-{}", std::process::id());
    /// let data = shmkit::Shared::<u64>::create(&name)?;
    /// // Root is trusted as well; this process's own user stays trusted.
    /// let peer = shmkit::Shared::<u64>::options().trust_owner(0).open(&name)?;
    /// assert_eq!(peer.data_offset(), data.data_offset());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn trust_owner(&mut self, uid: u32) -> &mut Self {
        self.seg.trust_owner(uid);
        self
    }

    /// See [`SegmentOptions::accept_mode`].
    ///
    /// # Example
    /// ```
    /// # #[cfg(unix)] {
    /// use shmkit::{Error, Shared};
    /// # let name = format!("doc-shaccept-{}", std::process::id());
    /// let data = Shared::<u64>::options().mode(0o666).create(&name)?;
    /// assert!(matches!(Shared::<u64>::open(&name), Err(Error::InsecureMode { .. })));
    /// let peer = Shared::<u64>::options().accept_mode(0o666).open(&name)?;
    /// assert_eq!(peer.load()?, 0);
    /// # drop(data);
    /// # }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn accept_mode(&mut self, mode: u32) -> &mut Self {
        self.seg.accept_mode(mode);
        self
    }

    /// How long an opener waits for the creator to finish (default 5 s).
    ///
    /// # Example
    /// ```
    /// # #[cfg(target_os = "linux")] {
    /// use std::time::{Duration, Instant};
    /// # let name = format!("doc-shtimeout-{}", std::process::id());
    /// // An empty object under the name, as a creator leaves it before sizing it.
    /// let path = format!("/dev/shm/{name}");
    /// std::fs::File::create(&path).unwrap();
    /// let start = Instant::now();
    /// let result = shmkit::Shared::<u64>::options()
    ///     .timeout(Duration::from_millis(200))
    ///     .open(&name);
    /// std::fs::remove_file(&path).unwrap();
    /// assert!(matches!(result, Err(shmkit::Error::Empty { .. })));
    /// assert!(start.elapsed() < Duration::from_secs(4)); // not the 5 s default
    /// # }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn timeout(&mut self, timeout: Duration) -> &mut Self {
        self.seg.timeout(timeout);
        self
    }

    /// Where the value goes after the header and layout description.
    fn plan() -> (Vec<u8>, usize, usize) {
        let ty = T::describe();
        let layout = ty.to_bytes();
        let align = const { value_align::<T>() }.max(64);
        let data_offset = (HEADER_LEN + layout.len()).next_multiple_of(align);
        let total = end_marker_at(data_offset + std::mem::size_of::<T>()) + END_LINE;
        (layout, data_offset, total)
    }

    /// Creates a typed segment holding a zero-filled `T`.
    ///
    /// # Errors
    /// As [`Segment::create`].
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-shocreate-{}", std::process::id());
    /// let opts = shmkit::Shared::<[u8; 16]>::options();
    /// let data = opts.create(&name)?;
    /// assert_eq!(data.load()?, [0; 16]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create(&self, name: &str) -> Result<Shared<T>> {
        self.create_inner(name, None)
    }

    /// Creates a typed segment holding `value`.
    ///
    /// # Errors
    /// As [`Segment::create`].
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-shocreatewith-{}", std::process::id());
    /// let data = shmkit::Shared::<u32>::options().create_with(&name, 99)?;
    /// assert_eq!(shmkit::Shared::<u32>::open(&name)?.load()?, 99);
    /// # drop(data);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create_with(&self, name: &str, value: T) -> Result<Shared<T>> {
        self.create_inner(name, Some(&value))
    }

    /// No `T` by value here or in [`initialise`](Self::initialise): a frame
    /// holding one is as large as `T`, and a `T` of megabytes (a big shared
    /// array) would overflow the stack of `create` although it only writes
    /// zeros, which a new segment already holds.
    fn create_inner(&self, name: &str, value: Option<&T>) -> Result<Shared<T>> {
        let (layout, data_offset, total) = Self::plan();
        let mut opts = self.seg.clone();
        opts.hold_creator_lock = true;
        let seg = opts.create(name, total)?;
        Self::initialise(seg, &layout, data_offset, value)
    }

    /// Writes header, layout and value into a segment this process just
    /// created (holding its liveness lock), then publishes it.
    fn initialise(
        mut seg: Segment,
        layout: &[u8],
        data_offset: usize,
        value: Option<&T>,
    ) -> Result<Shared<T>> {
        let header = Header {
            version: VERSION,
            state: 0,
            data_offset: data_offset as u32,
            layout_len: layout.len() as u32,
            data_size: std::mem::size_of::<T>() as u64,
            total_size: seg.len() as u64,
            creator_pid: std::process::id(),
            data_align: const { value_align::<T>() } as u32,
            layout_hash: fnv1a(layout),
        };
        // A read-only creator still initialises: write through the mapping
        // only if it is writable.
        if seg.is_read_only() {
            return Err(Error::ReadOnly {
                name: seg.name().to_owned(),
            });
        }
        failpoint::hit("shared-before-header");
        seg.write_at(0, &header.to_bytes())?;
        seg.write_at(HEADER_LEN, layout)?;
        seg.write_end_marker(seg.len() - END_LINE)?;
        let shared = Shared::<T>::at(seg, data_offset)?;
        failpoint::hit("shared-before-value");
        if let Some(value) = value {
            // SAFETY: `value` is the caller's own (`create_with`'s or
            // `initialise_with`'s argument, moved in), never shared with
            // another thread.
            unsafe { shared.place().set_exclusive(value) }?;
        }
        failpoint::hit("shared-before-ready");
        // SYNC(ready): publishes header, layout and value to openers.
        shared.state().store(READY, Ordering::Release);
        shared.seg.release_creator_lock();
        Ok(shared)
    }

    /// Opens a typed segment and checks it against `T`.
    ///
    /// # Errors
    /// As [`Shared::open`].
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-shoopen-{}", std::process::id());
    /// let _data = shmkit::Shared::<u32>::create(&name)?;
    /// let opts = shmkit::Shared::<u32>::options();
    /// assert!(opts.open(&name).is_ok());
    /// // The same segment opened as another type is refused.
    /// let err = shmkit::Shared::<u64>::options().open(&name).unwrap_err();
    /// assert!(matches!(err, shmkit::Error::LayoutMismatch { .. }));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open(&self, name: &str) -> Result<Shared<T>> {
        let mut seg = self.seg.open(name)?;
        let offset = Self::check(&mut seg, self.seg.timeout)?;
        Shared::at(seg, offset)
    }

    /// Opens a typed segment read-only and checks it against `T`.
    ///
    /// # Errors
    /// As [`Shared::open`].
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-shoopenro-{}", std::process::id());
    /// let data = shmkit::Shared::<u32>::create_with(&name, 4)?;
    /// let reader = shmkit::Shared::<u32>::options().open_read_only(&name)?;
    /// assert_eq!(reader.load()?, 4);
    /// # drop(data);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_read_only(&self, name: &str) -> Result<ReadOnlyShared<T>> {
        let mut opts = self.seg.clone();
        opts.read_only(true);
        let mut seg = opts.open(name)?;
        let offset = Self::check(&mut seg, self.seg.timeout)?;
        checked_place::<T>(&seg, offset)?;
        Ok(ReadOnlyShared {
            seg,
            offset,
            _t: PhantomData,
        })
    }

    /// Opens the typed segment, or creates it zero-filled.
    ///
    /// # Errors
    /// As [`Shared::open_or_create`].
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-shooc2-{}", std::process::id());
    /// let opts = shmkit::Shared::<u32>::options();
    /// let a = opts.open_or_create(&name)?;
    /// let b = opts.open_or_create(&name)?;
    /// a.place().set(3)?;
    /// assert_eq!(b.load()?, 3);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create(&self, name: &str) -> Result<Shared<T>> {
        // A new segment is zero-filled already: no `T` to make (see
        // `create_inner`).
        self.open_or_create_inner(name, None::<fn() -> T>)
    }

    /// Opens the typed segment, or creates it holding `init()`. When many
    /// processes race, exactly one calls `init`, and every one of them sees
    /// its value.
    ///
    /// # Errors
    /// As [`Shared::open_or_create`].
    ///
    /// # Example
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// # let name = format!("doc-shoocwith-{}", std::process::id());
    /// let calls = AtomicU32::new(0);
    /// let opts = shmkit::Shared::<[u8; 4]>::options();
    /// let handles = std::thread::scope(|s| {
    ///     let threads: Vec<_> = (0..4)
    ///         .map(|_| {
    ///             s.spawn(|| {
    ///                 let init = || {
    ///                     calls.fetch_add(1, Ordering::Relaxed);
    ///                     *b"init"
    ///                 };
    ///                 let data = opts.open_or_create_with(&name, init).unwrap();
    ///                 assert_eq!(&data.load().unwrap(), b"init"); // every one sees it
    ///                 data // kept alive: the creator's drop would remove the name
    ///             })
    ///         })
    ///         .collect();
    ///     threads.into_iter().map(|t| t.join().unwrap()).collect::<Vec<_>>()
    /// });
    /// assert_eq!(calls.load(Ordering::Relaxed), 1); // exactly one initialised it
    /// assert_eq!(handles.iter().filter(|h| h.segment().created()).count(), 1);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create_with(&self, name: &str, init: impl FnOnce() -> T) -> Result<Shared<T>> {
        self.open_or_create_inner(name, Some(init))
    }

    fn open_or_create_inner(
        &self,
        name: &str,
        init: Option<impl FnOnce() -> T>,
    ) -> Result<Shared<T>> {
        let (layout, data_offset, total) = Self::plan();
        let mut opts = self.seg.clone();
        opts.hold_creator_lock = true;
        let mut seg = opts.open_or_create(name, total)?;
        if !seg.created() {
            let offset = Self::check(&mut seg, self.seg.timeout)?;
            return Shared::at(seg, offset);
        }
        match init {
            Some(init) => Self::initialise_with(seg, &layout, data_offset, init),
            None => Self::initialise(seg, &layout, data_offset, None),
        }
    }

    /// [`initialise`](Self::initialise) with `init()`: the one frame that
    /// holds a `T`, entered only when the caller gave a value.
    #[inline(never)]
    fn initialise_with(
        seg: Segment,
        layout: &[u8],
        data_offset: usize,
        init: impl FnOnce() -> T,
    ) -> Result<Shared<T>> {
        let value = init();
        Self::initialise(seg, layout, data_offset, Some(&value))
    }

    /// Waits until the segment is ready, then checks header and layout;
    /// returns where the value starts. Only loads: `seg` may be read-only.
    /// From then on `seg` checks the end marker after every access.
    fn check(seg: &mut Segment, timeout: Duration) -> Result<usize> {
        let name = || seg.name().to_owned();
        if seg.len() < HEADER_LEN {
            return Err(Error::NotTyped {
                name: name(),
                reason: format!("it has only {} bytes", seg.len()),
            });
        }
        // SAFETY: the header's `state` word lies at offset 12 < len, 4-aligned
        // because mappings are page-aligned; accessed only atomically here,
        // and only loaded, so a read-only mapping is fine.
        let state = unsafe { AtomicU32::from_ptr(seg.as_mut_ptr().add(STATE_OFFSET).cast()) };
        let start = Instant::now();
        let mut pause = Duration::from_micros(20);
        // Whether this opener saw the creator's lock held: a segment of zeros
        // whose lock was held and is free now lost its creator, while one
        // whose lock was never seen held may simply not be a typed segment.
        let mut creator_seen = false;
        // SYNC(ready): the Acquire load pairs with the creator's Release store.
        while state.load(Ordering::Acquire) != READY {
            let creator = seg.creator_state();
            creator_seen |= creator == CreatorState::Alive;
            // The lock is free: either the creator published just now (look
            // again), or it died first, or no typed creator ever held it.
            if creator != CreatorState::Alive && state.load(Ordering::Acquire) == READY {
                break;
            }
            // A live creator may be halfway through writing the header: judge
            // it only once the lock is free.
            let judged = match creator {
                CreatorState::Alive => None,
                CreatorState::Gone | CreatorState::Unknown => Some(unready(seg)?),
            };
            match (creator, judged) {
                (_, None) | (CreatorState::Unknown, _) => {}
                (_, Some(Unready::Unpublished)) => {
                    return Err(Error::InitAbandoned { name: name() })
                }
                (_, Some(Unready::Zeros)) if creator_seen => {
                    return Err(Error::InitAbandoned { name: name() })
                }
                (_, Some(Unready::Zeros)) => {
                    return Err(Error::NotTyped {
                        name: name(),
                        reason: ZEROS.into(),
                    })
                }
            }
            if start.elapsed() >= timeout {
                return Err(Error::InitTimeout {
                    name: name(),
                    waited: start.elapsed(),
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        }
        let (header, found) = read_header(seg)?;
        let expected = T::describe();
        if let Some(difference) = expected.difference(&found) {
            return Err(Error::LayoutMismatch {
                name: name(),
                expected: Box::new(expected),
                found: Box::new(found),
                difference,
            });
        }
        let offset = header.data_offset as usize;
        if offset % std::mem::align_of::<T>() != 0
            || header.data_size != std::mem::size_of::<T>() as u64
        {
            return Err(Error::Corrupted {
                name: name(),
                what: format!("the value at offset {offset} does not fit this type"),
            });
        }
        // `validate` checked the total against the segment's length.
        seg.expect_end_marker(header.total_size as usize - END_LINE)?;
        Ok(offset)
    }

    /// Maps `T` at offset 0 of a new segment, without a header.
    ///
    /// # Errors
    /// As [`Segment::create`].
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-shocreateraw-{}", std::process::id());
    /// let raw = shmkit::Shared::<u64>::options().create_raw(&name)?;
    /// assert_eq!(raw.data_offset(), 0);
    /// assert_eq!(raw.segment().len(), 8);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create_raw(&self, name: &str) -> Result<Shared<T>> {
        let seg = self.seg.create(name, std::mem::size_of::<T>().max(1))?;
        Shared::at(seg, 0)
    }

    /// Maps `T` at offset 0 of an existing segment, checking only its size.
    ///
    /// # Errors
    /// As [`Segment::open`], and [`Error::TooSmall`].
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-shoopenraw-{}", std::process::id());
    /// let _raw = shmkit::Shared::<u64>::create_raw(&name)?;
    /// let view = shmkit::Shared::<[u32; 2]>::options().open_raw(&name)?;
    /// view.at(0).set(1)?;
    /// assert_eq!(_raw.load()?, 1); // little-endian: the low half
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_raw(&self, name: &str) -> Result<Shared<T>> {
        let seg = self.seg.open(name)?;
        Self::check_raw(&seg)?;
        Shared::at(seg, 0)
    }

    /// Maps `T` at offset 0 of an existing segment, read-only, checking only
    /// its size.
    ///
    /// # Errors
    /// As [`open_raw`](Self::open_raw).
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-shoopenrawro-{}", std::process::id());
    /// let raw = shmkit::Shared::<u16>::create_raw(&name)?;
    /// raw.place().set(0xBEEF)?;
    /// let view = shmkit::Shared::<[u8; 2]>::options().open_raw_read_only(&name)?;
    /// assert_eq!(view.load()?, [0xEF, 0xBE]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_raw_read_only(&self, name: &str) -> Result<ReadOnlyShared<T>> {
        let mut opts = self.seg.clone();
        opts.read_only(true);
        let seg = opts.open(name)?;
        Self::check_raw(&seg)?;
        checked_place::<T>(&seg, 0)?;
        Ok(ReadOnlyShared {
            seg,
            offset: 0,
            _t: PhantomData,
        })
    }

    fn check_raw(seg: &Segment) -> Result<()> {
        let needed = std::mem::size_of::<T>();
        if seg.len() < needed {
            return Err(Error::TooSmall {
                name: seg.name().to_owned(),
                len: seg.len() as u64,
                needed: needed as u64,
            });
        }
        Ok(())
    }
}

/// Checks what every `unsafe` block of [`Shared`] and [`ReadOnlyShared`]
/// relies on: the `T` at `offset` lies inside the mapping, and its real
/// address is aligned for `T`. The offset is a multiple of the alignment and
/// the mapping page-aligned, so the second holds wherever the OS keeps its
/// promise; it is checked all the same, because a misaligned `&T` would be
/// undefined behaviour.
///
/// # Errors
/// [`Error::Corrupted`] if the value does not fit, [`Error::Unsupported`] if
/// the mapping is not aligned as the platform promises.
fn checked_place<T: Layout>(seg: &Segment, offset: usize) -> Result<()> {
    let align = const { value_align::<T>() };
    let fits = offset
        .checked_add(std::mem::size_of::<T>())
        .is_some_and(|end| end <= seg.len());
    if !fits {
        return Err(Error::Corrupted {
            name: seg.name().to_owned(),
            what: format!("the value at offset {offset} does not fit in the segment"),
        });
    }
    if (seg.as_ptr() as usize).wrapping_add(offset) % align != 0 {
        return Err(Error::Unsupported {
            what: "the OS mapped the segment at an address that is not aligned for this type \
                   (mappings should start at a page boundary); lower the type's alignment",
        });
    }
    Ok(())
}

impl<T: Layout> Shared<T> {
    /// The handle of the `T` at `offset` in `seg`, the only way to make a
    /// `Shared`: checks the value's place ([`checked_place`]) and that the
    /// mapping is writable, which `get`, `place` and the field accessors
    /// rely on.
    ///
    /// # Errors
    /// As [`checked_place`], and [`Error::ReadOnly`] for a read-only mapping.
    fn at(seg: Segment, offset: usize) -> Result<Shared<T>> {
        if seg.is_read_only() {
            return Err(Error::ReadOnly {
                name: seg.name().to_owned(),
            });
        }
        checked_place::<T>(&seg, offset)?;
        Ok(Shared {
            seg,
            offset,
            _t: PhantomData,
        })
    }

    fn state(&self) -> &AtomicU32 {
        // SAFETY: typed segments are at least `HEADER_LEN` long; the `state`
        // word at offset 12 is 4-aligned (mappings are page-aligned) and only
        // accessed atomically.
        unsafe { AtomicU32::from_ptr(self.seg.as_mut_ptr().add(STATE_OFFSET).cast()) }
    }
}
