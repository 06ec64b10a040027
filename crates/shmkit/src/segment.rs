//! Named shared-memory segments: the safe API over the OS module.

use std::time::Duration;

use crate::name::Name;
use crate::{copy, os, Error, Result};

/// The largest segment: far below `isize::MAX`, so that rounding up to pages
/// can never overflow.
const MAX_LEN: usize = (isize::MAX as usize) & !0xFFFF_usize;

/// A named block of shared memory, mapped into this process.
///
/// Any process that knows the name can open the same bytes. The memory is
/// untrusted: another process may write it at any moment. So the safe methods
/// copy ([`read_at`](Self::read_at), [`write_at`](Self::write_at)), and the
/// only ways to borrow the bytes in place are `unsafe`.
///
/// # Lifetime
/// The process that created a segment removes its name when that `Segment` is
/// dropped, unless it was created with [`SegmentOptions::persist`]. Mappings
/// already open elsewhere stay valid until they are dropped too. Dropping any
/// `Segment` unmaps it and closes its handle.
///
/// On Windows a segment instead lives exactly as long as some process has it
/// open, whoever created it: there is no name to remove, and
/// [`SegmentOptions::persist`] is unsupported.
///
/// # Example
/// ```
/// use shmkit::Segment;
///
/// let name = format!("doc-seg-{}", std::process::id());
/// let seg = Segment::create(&name, 1000)?;
/// seg.write_at(0, b"hello")?;
///
/// // Another process would do the same with the name.
/// let other = Segment::open(&name)?;
/// let mut buf = [0u8; 5];
/// other.read_at(0, &mut buf)?;
/// assert_eq!(&buf, b"hello");
/// assert_eq!(seg.len(), 1000);
/// # Ok::<(), shmkit::Error>(())
/// ```
pub struct Segment {
    map: os::Mapping,
    name: Name,
    read_only: bool,
    created: bool,
    persist: bool,
    /// Where the end marker of a segment shmkit formatted lies (see
    /// [`END_MARKER`]), once checked; `None` for a raw segment.
    end_marker: Option<usize>,
}

/// The word at the start of the last 64-byte line of every segment that
/// shmkit formats (typed segments and queues): the "end marker".
///
/// A peer that shrinks a segment and grows it back between two of this
/// process's accesses raises no fault here (the regrown pages are the
/// file's, fresh zeros), so the lost-mapping guard cannot see it. But every
/// byte from the cut to the end reads as zero afterwards, the marker too,
/// whatever the cut: [`Segment::check_mapped`], which every copying call
/// makes after its access, loads the marker (one load of a line nobody
/// writes) and reports a zeroed one as [`Error::Truncated`]. A peer that
/// writes over the marker gets the same report: with write access it can
/// wipe anything anyway.
pub(crate) const END_MARKER: u64 = u64::from_le_bytes(*b"SHMKEND\x89");

/// The bytes a formatted segment reserves for its end marker: a line of its
/// own, so that writes to the data never invalidate the cached marker.
pub(crate) const END_LINE: usize = 64;

/// Where the end marker of a formatted segment whose contents end at `end`
/// lies: the next 64-byte boundary.
pub(crate) const fn end_marker_at(end: usize) -> usize {
    end.next_multiple_of(END_LINE)
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("name", &self.name.as_str())
            .field("len", &self.map.len())
            .field("read_only", &self.read_only)
            .field("created", &self.created)
            .field("persist", &self.persist)
            .finish()
    }
}

impl Segment {
    /// Creates a new segment of `len` zeroed bytes, with mode `0o600`.
    ///
    /// # Errors
    /// - [`Error::AlreadyExists`] if the name is taken: nobody else's segment
    ///   is ever opened by accident.
    /// - [`Error::InvalidName`], [`Error::InvalidSize`] before any system call.
    /// - [`Error::NoSpace`] if shared memory is full; nothing is left behind.
    /// - [`Error::PermissionDenied`], [`Error::Io`] for other OS refusals.
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-create-{}", std::process::id());
    /// let seg = shmkit::Segment::create(&name, 4096)?;
    /// assert!(seg.created());
    /// assert!(matches!(
    ///     shmkit::Segment::create(&name, 4096),
    ///     Err(shmkit::Error::AlreadyExists { .. })
    /// ));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[doc(alias = "shm_open")]
    #[doc(alias = "CreateFileMapping")]
    pub fn create(name: &str, len: usize) -> Result<Segment> {
        Self::options().create(name, len)
    }

    /// Opens an existing segment and maps it at its current size.
    ///
    /// # Errors
    /// - [`Error::NotFound`] if there is no such segment.
    /// - [`Error::UntrustedOwner`], [`Error::InsecureMode`],
    ///   [`Error::NotRegularFile`] if the name may be a trap (see
    ///   [`SegmentOptions::trust_owner`] and [`SegmentOptions::accept_mode`]).
    /// - [`Error::Empty`] if it still has no size after the timeout, or
    ///   sooner (50 ms) once its creator is found to have died before sizing
    ///   it (Linux and FreeBSD, where its liveness lock tells).
    ///
    /// # Example
    /// ```
    /// let err = shmkit::Segment::open("no-such-segment-here").unwrap_err();
    /// assert!(matches!(err, shmkit::Error::NotFound { .. }));
    /// ```
    #[doc(alias = "OpenFileMapping")]
    pub fn open(name: &str) -> Result<Segment> {
        Self::options().open(name)
    }

    /// Opens the segment if it exists, or creates it with `len` bytes.
    ///
    /// When many processes call this at once, exactly one creates the
    /// segment and the others open it.
    ///
    /// # Errors
    /// As [`create`](Self::create) and [`open`](Self::open), and
    /// [`Error::TooSmall`] if the existing segment is shorter than `len`.
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-ooc-{}", std::process::id());
    /// let a = shmkit::Segment::open_or_create(&name, 64)?;
    /// let b = shmkit::Segment::open_or_create(&name, 64)?;
    /// assert!(a.created() && !b.created());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create(name: &str, len: usize) -> Result<Segment> {
        Self::options().open_or_create(name, len)
    }

    /// A builder for the less common choices: mode, read-only, persistence,
    /// trust.
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-options-{}", std::process::id());
    /// let seg = shmkit::Segment::create(&name, 64)?;
    /// let reader = shmkit::Segment::options().read_only(true).open(&name)?;
    /// assert!(reader.is_read_only() && !seg.is_read_only());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn options() -> SegmentOptions {
        SegmentOptions::default()
    }

    /// Removes the name. Processes that have the segment mapped keep it until
    /// they unmap it.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::PermissionDenied`], [`Error::InvalidName`].
    /// On Windows, which has no such call, [`Error::Unsupported`] if the
    /// segment exists (it goes when the last process holding it drops it).
    ///
    /// # Example
    /// ```
    /// # #[cfg(unix)] {
    /// # let name = format!("doc-rm-{}", std::process::id());
    /// let seg = shmkit::Segment::options().persist(true).create(&name, 10)?;
    /// drop(seg);
    /// assert!(shmkit::Segment::exists(&name)?);
    /// shmkit::Segment::remove(&name)?;
    /// assert!(!shmkit::Segment::exists(&name)?);
    /// # }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[doc(alias = "shm_unlink")]
    pub fn remove(name: &str) -> Result<()> {
        os::remove(&Name::new(name)?)
    }

    /// Whether a segment (or anything else) has this name, whoever owns it.
    /// On Windows this looks in the `Local\` namespace.
    ///
    /// # Errors
    /// [`Error::InvalidName`], or [`Error::Io`] if the OS cannot tell.
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-exists-{}", std::process::id());
    /// assert!(!shmkit::Segment::exists(&name)?);
    /// let seg = shmkit::Segment::create(&name, 64)?;
    /// assert!(shmkit::Segment::exists(&name)?);
    /// drop(seg); // the creator removes the name
    /// assert!(!shmkit::Segment::exists(&name)?);
    /// assert!(matches!(
    ///     shmkit::Segment::exists("no/slash"),
    ///     Err(shmkit::Error::InvalidName { .. })
    /// ));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn exists(name: &str) -> Result<bool> {
        os::exists(&Name::new(name)?)
    }

    /// The segment's name, as given.
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-name-{}", std::process::id());
    /// let seg = shmkit::Segment::create(&name, 64)?;
    /// assert_eq!(seg.name(), name);
    /// assert!(!seg.name().starts_with('/')); // the POSIX `/` is not part of it
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The segment's size in bytes: the size its creator asked for, not
    /// rounded to pages.
    ///
    /// Except on Windows for a segment that this process opened (rather than
    /// created): Windows does not record a mapping's size, so `len` is the
    /// size of the mapped region, rounded up to whole pages (4096 bytes).
    /// The bytes past the creator's size read as zero.
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-len-{}", std::process::id());
    /// let seg = shmkit::Segment::create(&name, 1000)?;
    /// assert_eq!(seg.len(), 1000); // not rounded up to a page
    /// let peer = shmkit::Segment::open(&name)?;
    /// # #[cfg(unix)]
    /// assert_eq!(peer.len(), 1000);
    /// # #[cfg(windows)]
    /// # assert_eq!(peer.len(), 4096);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[allow(clippy::len_without_is_empty)] // a segment is never empty
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether this `Segment` created the segment (and so removes its name on
    /// drop, unless persistent).
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-created-{}", std::process::id());
    /// let first = shmkit::Segment::create(&name, 64)?;
    /// let second = shmkit::Segment::open(&name)?;
    /// assert!(first.created());
    /// assert!(!second.created());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn created(&self) -> bool {
        self.created
    }

    /// Whether the segment is mapped without write access.
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-isro-{}", std::process::id());
    /// let seg = shmkit::Segment::create(&name, 64)?;
    /// let ro = shmkit::Segment::options().read_only(true).open(&name)?;
    /// assert!(!seg.is_read_only());
    /// assert!(ro.is_read_only());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Keeps the name after this `Segment` is dropped (`true`), or removes it
    /// then (`false`; only takes effect for the creator). No effect on
    /// Windows, where the segment lives while any process holds it.
    ///
    /// # Example
    /// ```
    /// # #[cfg(unix)] {
    /// # let name = format!("doc-setpersist-{}", std::process::id());
    /// let mut seg = shmkit::Segment::create(&name, 64)?;
    /// seg.set_persist(true); // decided after the fact: keep it
    /// drop(seg);
    /// assert!(shmkit::Segment::exists(&name)?);
    /// shmkit::Segment::remove(&name)?;
    /// # }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn set_persist(&mut self, persist: bool) {
        self.persist = persist;
    }

    /// The address of the first byte. Reading or writing through it is up to
    /// the caller's own `unsafe` code; the bytes may change at any time.
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-asptr-{}", std::process::id());
    /// let seg = shmkit::Segment::create(&name, 64)?;
    /// seg.write_at(3, &[7])?;
    /// let p = seg.as_ptr();
    /// assert!(!p.is_null());
    /// // SAFETY: offset 3 lies in the 64-byte mapping, which outlives `p`'s
    /// // use, and no other process knows this name, so nothing writes the
    /// // byte during the read.
    /// let byte = unsafe { p.add(3).read() };
    /// assert_eq!(byte, 7);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn as_ptr(&self) -> *const u8 {
        self.map.ptr()
    }

    /// The address of the first byte, for writing. Writing through it on a
    /// read-only segment faults.
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-asmutptr-{}", std::process::id());
    /// let seg = shmkit::Segment::create(&name, 64)?;
    /// // SAFETY: offset 10 lies in the 64-byte writable mapping, which
    /// // outlives the write, and no other process knows this name, so
    /// // nothing else accesses the byte meanwhile.
    /// unsafe { seg.as_mut_ptr().add(10).write(42) };
    /// let mut byte = [0u8; 1];
    /// seg.read_at(10, &mut byte)?;
    /// assert_eq!(byte, [42]);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn as_mut_ptr(&self) -> *mut u8 {
        self.map.ptr()
    }

    /// Releases the creator's liveness lock (see `os::Mapping`).
    pub(crate) fn release_creator_lock(&self) {
        self.map.release_creator_lock();
    }

    /// Whether the creator still holds its liveness lock.
    pub(crate) fn creator_state(&self) -> os::CreatorState {
        self.map.creator_state()
    }

    fn check_range(&self, offset: usize, len: usize) -> Result<()> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len() => Ok(()),
            _ => Err(Error::OutOfBounds {
                name: self.name.to_string(),
                offset: offset as u64,
                len: len as u64,
                size: self.len() as u64,
            }),
        }
    }

    /// Copies `buf.len()` bytes starting at `offset` into `buf`.
    ///
    /// The copy is made with atomic loads, so it is sound even while another
    /// process writes; it is not a snapshot, though (see `shmkit::sync` for
    /// consistent reads).
    ///
    /// # Errors
    /// [`Error::OutOfBounds`] if the range does not fit in the segment;
    /// [`Error::Truncated`] if another process shrank the segment under this
    /// mapping (`buf` then holds zeros where the segment's bytes were lost).
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-read-{}", std::process::id());
    /// let seg = shmkit::Segment::create(&name, 8)?;
    /// let mut buf = [1u8; 4];
    /// seg.read_at(4, &mut buf)?;
    /// assert_eq!(buf, [0; 4]);
    /// assert!(seg.read_at(5, &mut buf).is_err());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        self.check_range(offset, buf.len())?;
        // SAFETY:
        // - `offset + buf.len() <= len` was just checked, so the range lies in
        //   the mapping, which lives as long as `self`;
        // - every writer in this process goes through `copy::store`; other
        //   processes are outside this program's memory model.
        unsafe { copy::load(self.map.ptr().add(offset), buf) };
        self.check_mapped()
    }

    /// Copies `data` into the segment starting at `offset`.
    ///
    /// # Errors
    /// [`Error::ReadOnly`] on a read-only segment, [`Error::OutOfBounds`] if
    /// the range does not fit, [`Error::Truncated`] if another process shrank
    /// the segment under this mapping (the data reached nobody).
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-write-{}", std::process::id());
    /// let seg = shmkit::Segment::create(&name, 8)?;
    /// seg.write_at(6, b"hi")?;
    /// assert!(matches!(seg.write_at(7, b"hi"), Err(shmkit::Error::OutOfBounds { .. })));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn write_at(&self, offset: usize, data: &[u8]) -> Result<()> {
        self.check_writable()?;
        self.check_range(offset, data.len())?;
        // SAFETY:
        // - the range was just checked to lie in the mapping;
        // - the mapping is writable (`check_writable`);
        // - every access in this process to these bytes is atomic.
        unsafe { copy::store(self.map.ptr().add(offset), data) };
        self.check_mapped()
    }

    /// Whether every access so far reached the segment's bytes.
    ///
    /// Every copying call of the safe API (`read_at`, typed `get`/`set`,
    /// the queues) checks this itself after its access. The in-place types
    /// cannot: a `Mutex`, `Event`, `SeqLock` or atomic reached through
    /// `Shared::get` or `Ref::in_place` holds no handle to its segment, and
    /// on a page a peer cut off it works on a private zero page (no signal;
    /// its changes reach nobody). Call this after in-place work whose effect
    /// must be known to have been shared, through
    /// [`Shared::segment`](crate::Shared::segment) for a typed segment.
    ///
    /// On a typed segment or a queue's segment it also loads the end
    /// marker (see [`Error::Truncated`]), which finds a shrink and regrow
    /// that no access faulted on. A raw segment has no marker.
    ///
    /// # Errors
    /// [`Error::Truncated`] if a peer shrank the segment under this mapping
    /// and an access faulted (on this or any earlier call), or, on a typed
    /// segment or a queue, if the end marker is gone;
    /// [`Error::NoSpace`] if the faulting page lay inside the file, so that
    /// a full filesystem could not back it. The access itself never raised
    /// `SIGBUS` (the guard repaired the fault with zero pages): this tells
    /// the caller that what it read or wrote was not the segment.
    ///
    /// # Example
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// # let name = format!("doc-checkmapped-{}", std::process::id());
    /// let hits = shmkit::Shared::<AtomicU64>::create(&name)?;
    /// hits.get().fetch_add(1, Ordering::Relaxed); // in place
    /// hits.segment().check_mapped()?;             // it reached the segment
    /// assert_eq!(hits.place().load(Ordering::Relaxed)?, 1);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    #[inline]
    pub fn check_mapped(&self) -> Result<()> {
        if self.map.lost() {
            return Err(self.truncated());
        }
        if let Some(off) = self.end_marker {
            // The accesses this check follows come first: a marker read
            // before them could miss a shrink and regrow that they saw.
            std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
            if self.marker(off).load(std::sync::atomic::Ordering::Relaxed) != END_MARKER {
                return Err(self.marker_lost());
            }
        }
        Ok(())
    }

    /// The end-marker word at `off`.
    #[inline(always)]
    fn marker(&self, off: usize) -> &std::sync::atomic::AtomicU64 {
        // SAFETY: `off` was checked by `write_end_marker` or
        // `expect_end_marker`: 8-aligned (mappings are page-aligned) with
        // `off + 8 <= len`, so the word lies in the mapping, which lives as
        // long as `self`; this process only accesses it atomically, and
        // reading it needs no write access (a read-only mapping will do).
        unsafe { std::sync::atomic::AtomicU64::from_ptr(self.map.ptr().add(off).cast()) }
    }

    /// A zeroed (or overwritten) end marker: the file was shrunk and grown
    /// back, or the marker's page was cut off (the load faulted, and the
    /// guard flagged the mapping). Either way the mapping is lost for good.
    #[cold]
    fn marker_lost(&self) -> Error {
        self.map.mark_lost();
        self.truncated()
    }

    /// Writes the end marker at `off` (see [`END_MARKER`]) into a segment
    /// this process is formatting, and checks it from now on.
    pub(crate) fn write_end_marker(&mut self, off: usize) -> Result<()> {
        self.check_marker_range(off)?;
        self.write_at(off, &END_MARKER.to_le_bytes())?;
        self.end_marker = Some(off);
        self.map.set_end_marker(off);
        Ok(())
    }

    /// Checks that the end marker of a formatted segment this process opened
    /// is at `off` (an offset from its validated header), and checks it from
    /// now on.
    ///
    /// # Errors
    /// [`Error::Corrupted`] if it is not there: the segment was shrunk and
    /// grown back, or written over, before this open.
    pub(crate) fn expect_end_marker(&mut self, off: usize) -> Result<()> {
        self.check_marker_range(off)?;
        let mut word = [0u8; 8];
        self.read_at(off, &mut word)?;
        if u64::from_le_bytes(word) != END_MARKER {
            return Err(Error::Corrupted {
                name: self.name().to_owned(),
                what: format!(
                    "its end marker at offset {off} is missing: it was shrunk and grown \
                     back, or written over"
                ),
            });
        }
        self.end_marker = Some(off);
        self.map.set_end_marker(off);
        Ok(())
    }

    fn check_marker_range(&self, off: usize) -> Result<()> {
        if off % 8 != 0 || off.checked_add(8).is_none_or(|end| end > self.len()) {
            return Err(Error::Corrupted {
                name: self.name().to_owned(),
                what: format!(
                    "its end marker at offset {off} does not fit its {} bytes",
                    self.len()
                ),
            });
        }
        Ok(())
    }

    /// Whether the file is now shorter than this mapping (`fstat`): a
    /// truncation that no access has faulted on yet.
    pub(crate) fn file_shrunk(&self) -> bool {
        self.map.file_shrunk()
    }

    /// Marks the mapping lost (a truncation found without a fault): every
    /// later call on it fails with [`Error::Truncated`].
    pub(crate) fn mark_lost(&self) {
        self.map.mark_lost();
    }

    #[cold]
    fn truncated(&self) -> Error {
        self.map.lost_error(&self.name)
    }

    fn check_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::ReadOnly {
                name: self.name.to_string(),
            });
        }
        Ok(())
    }

    /// Borrows the whole segment as a byte slice.
    ///
    /// # Safety
    /// Nobody may write the segment while the slice is alive: no other
    /// process, no other mapping in this process, no raw pointer. A peer
    /// that writes anyway makes this undefined behaviour, which is why the
    /// safe API copies instead.
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-asslice-{}", std::process::id());
    /// let seg = shmkit::Segment::create(&name, 16)?;
    /// seg.write_at(0, b"abc")?;
    /// // SAFETY: no other process knows this name and nothing in this one
    /// // writes the segment while `bytes` is alive.
    /// let bytes = unsafe { seg.as_slice() };
    /// assert_eq!(bytes.len(), 16);
    /// assert_eq!(&bytes[..4], b"abc\0");
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub unsafe fn as_slice(&self) -> &[u8] {
        // SAFETY:
        // - `ptr..ptr + len` is one live mapping of `len` readable bytes that
        //   outlives the borrow of `self`;
        // - the caller guarantees that nothing writes the bytes meanwhile.
        unsafe { std::slice::from_raw_parts(self.map.ptr(), self.len()) }
    }

    /// Borrows the whole segment as a mutable byte slice.
    ///
    /// # Errors
    /// [`Error::ReadOnly`] on a read-only segment.
    ///
    /// # Safety
    /// Nobody else may read or write the segment while the slice is alive:
    /// no other process, no other mapping in this process, no raw pointer.
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-asmutslice-{}", std::process::id());
    /// let mut seg = shmkit::Segment::create(&name, 16)?;
    /// // SAFETY: no other process knows this name and the slice is the
    /// // only access to the segment while it is alive.
    /// let bytes = unsafe { seg.as_mut_slice()? };
    /// bytes[..2].copy_from_slice(b"ok");
    /// let mut back = [0u8; 2];
    /// seg.read_at(0, &mut back)?;
    /// assert_eq!(&back, b"ok");
    ///
    /// let mut ro = shmkit::Segment::options().read_only(true).open(&name)?;
    /// // SAFETY: the call fails before any slice exists.
    /// let err = unsafe { ro.as_mut_slice() }.unwrap_err();
    /// assert!(matches!(err, shmkit::Error::ReadOnly { .. }));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub unsafe fn as_mut_slice(&mut self) -> Result<&mut [u8]> {
        self.check_writable()?;
        // SAFETY:
        // - `ptr..ptr + len` is one live, writable mapping that outlives the
        //   borrow of `self`;
        // - `&mut self` excludes other borrows through this `Segment`, and the
        //   caller guarantees that nothing else accesses the bytes.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.map.ptr(), self.len()) })
    }
}

impl Segment {
    /// Removes the name now, as dropping a created, non-persistent segment
    /// would (and then does not again: the name is gone, or names another
    /// segment, which is left alone). The queues call it before they remove
    /// their lock files, so that no process attaches in between and makes
    /// fresh ones.
    pub(crate) fn remove_name_now(&self) {
        if self.created && !self.persist {
            self.map.remove_if_same(&self.name);
        }
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        self.remove_name_now();
    }
}

/// Choices for creating or opening a [`Segment`], ending in
/// [`create`](Self::create), [`open`](Self::open) or
/// [`open_or_create`](Self::open_or_create).
///
/// # Example
/// ```
/// # let name = format!("doc-opts-{}", std::process::id());
/// use shmkit::Segment;
/// let writer = Segment::options().mode(0o640).create(&name, 100)?;
/// let reader = Segment::options().read_only(true).open(&name)?;
/// assert!(matches!(reader.write_at(0, b"x"), Err(shmkit::Error::ReadOnly { .. })));
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct SegmentOptions {
    pub(crate) mode: Option<u32>,
    pub(crate) read_only: bool,
    pub(crate) persist: bool,
    pub(crate) trusted_owners: Vec<u32>,
    pub(crate) accept_mode: u32,
    pub(crate) timeout: Duration,
    /// Keep the creator's liveness lock after `create` (the typed layer
    /// releases it once the contents are published).
    pub(crate) hold_creator_lock: bool,
    pub(crate) global: bool,
}

impl Default for SegmentOptions {
    fn default() -> Self {
        SegmentOptions {
            mode: None,
            read_only: false,
            persist: false,
            trusted_owners: Vec::new(),
            accept_mode: 0,
            timeout: Duration::from_secs(5),
            hold_creator_lock: false,
            global: false,
        }
    }
}

impl SegmentOptions {
    /// Permission bits for a new segment (default `0o600`), applied exactly,
    /// whatever the process umask. Opening a segment with this mode is then
    /// accepted too (see [`accept_mode`](Self::accept_mode)).
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-mode-{}", std::process::id());
    /// use shmkit::Segment;
    /// let seg = Segment::options().mode(0o640).create(&name, 64)?;
    /// # #[cfg(target_os = "linux")]
    /// # {
    /// use std::os::unix::fs::PermissionsExt;
    /// let meta = std::fs::metadata(format!("/dev/shm/{name}")).unwrap();
    /// assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    /// # }
    /// // Only permission bits are accepted.
    /// let err = Segment::options().mode(0o4755).create("doc-bad-mode", 64).unwrap_err();
    /// assert!(matches!(err, shmkit::Error::InvalidMode { mode: 0o4755, .. }));
    /// # drop(seg);
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = Some(mode);
        self
    }

    /// Maps without write access: writing methods return [`Error::ReadOnly`].
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-readonly-{}", std::process::id());
    /// use shmkit::Segment;
    /// let writer = Segment::create(&name, 64)?;
    /// writer.write_at(0, b"x")?;
    /// let reader = Segment::options().read_only(true).open(&name)?;
    /// let mut buf = [0u8; 1];
    /// reader.read_at(0, &mut buf)?;
    /// assert_eq!(&buf, b"x");
    /// assert!(matches!(reader.write_at(0, b"y"), Err(shmkit::Error::ReadOnly { .. })));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn read_only(&mut self, read_only: bool) -> &mut Self {
        self.read_only = read_only;
        self
    }

    /// Keeps the name when the creating `Segment` is dropped, until
    /// [`Segment::remove`].
    ///
    /// On Windows `create` refuses `persist(true)` with
    /// [`Error::Unsupported`]: a mapping there dies with its last handle.
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-persist-{}", std::process::id());
    /// use shmkit::Segment;
    /// # #[cfg(unix)] {
    /// drop(Segment::options().persist(true).create(&name, 64)?);
    /// let later = Segment::open(&name)?; // still there
    /// assert!(!later.created());
    /// Segment::remove(&name)?; // the owner's job now
    /// # }
    /// # #[cfg(windows)]
    /// # assert!(matches!(
    /// #     Segment::options().persist(true).create(&name, 64),
    /// #     Err(shmkit::Error::Unsupported { .. })
    /// # ));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn persist(&mut self, persist: bool) -> &mut Self {
        self.persist = persist;
        self
    }

    /// Accepts segments owned by user `uid` as well as by this process's
    /// effective user. May be called several times.
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-trust-{}", std::process::id());
    /// use shmkit::Segment;
    /// let seg = Segment::create(&name, 64)?;
    /// // Trust root as well (say, a daemon's segment); this process's own
    /// // user stays trusted.
    /// let peer = Segment::options().trust_owner(0).open(&name)?;
    /// assert!(!peer.created());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn trust_owner(&mut self, uid: u32) -> &mut Self {
        self.trusted_owners.push(uid);
        self
    }

    /// Accepts segments whose mode has these group/other write bits set (for
    /// example `0o666`). By default a segment that others may write is
    /// refused with [`Error::InsecureMode`], read-only opens included: a
    /// third user could change it under you. Another user's world-writable
    /// segment needs [`trust_owner`](Self::trust_owner) as well.
    ///
    /// # Example
    /// ```
    /// # #[cfg(unix)] {
    /// # let name = format!("doc-acceptmode-{}", std::process::id());
    /// use shmkit::Segment;
    /// let shared = Segment::options().mode(0o666).create(&name, 64)?;
    /// let err = Segment::open(&name).unwrap_err();
    /// assert!(matches!(err, shmkit::Error::InsecureMode { .. }));
    /// let peer = Segment::options().accept_mode(0o666).open(&name)?;
    /// assert_eq!(peer.len(), 64);
    /// # }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn accept_mode(&mut self, mode: u32) -> &mut Self {
        self.accept_mode = mode;
        self
    }

    /// How long [`open`](Self::open) waits for a segment that another process
    /// is still creating (default 5 s). A creator that died before sizing the
    /// segment ends the wait after 50 ms with [`Error::Empty`] where its
    /// liveness lock tells (Linux, FreeBSD).
    ///
    /// # Example
    /// ```
    /// # #[cfg(target_os = "linux")] {
    /// use std::time::{Duration, Instant};
    /// # let name = format!("doc-timeout-{}", std::process::id());
    /// // An empty object under the name, as a creator leaves it between
    /// // `shm_open` and `ftruncate`.
    /// let path = format!("/dev/shm/{name}");
    /// std::fs::File::create(&path).unwrap();
    /// let start = Instant::now();
    /// let result = shmkit::Segment::options()
    ///     .timeout(Duration::from_millis(200))
    ///     .open(&name);
    /// std::fs::remove_file(&path).unwrap();
    /// assert!(matches!(result, Err(shmkit::Error::Empty { .. })));
    /// assert!(start.elapsed() < Duration::from_secs(4)); // not the 5 s default
    /// # }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn timeout(&mut self, timeout: Duration) -> &mut Self {
        self.timeout = timeout;
        self
    }

    /// On Windows, puts the name in the machine-wide `Global\` namespace
    /// instead of the session's `Local\` one (default `false`), so that
    /// services and other sessions see it. Creating a global segment needs
    /// the `SeCreateGlobalPrivilege` privilege (administrators and services
    /// have it); without it `create` returns [`Error::PermissionDenied`].
    ///
    /// On POSIX this is accepted and has no effect: POSIX names are already
    /// machine-wide.
    ///
    /// # Example
    /// ```
    /// # #[cfg(unix)] {
    /// # let name = format!("doc-global-{}", std::process::id());
    /// use shmkit::Segment;
    /// let seg = Segment::options().global(true).create(&name, 64)?;
    /// assert!(Segment::open(&name).is_ok()); // the same name either way
    /// # drop(seg);
    /// # }
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn global(&mut self, global: bool) -> &mut Self {
        self.global = global;
        self
    }

    fn check(&self, name: &str, len: Option<usize>) -> Result<Name> {
        let name = Name::new(name)?;
        if let Some(mode) = self.mode {
            if mode > 0o777 {
                return Err(Error::InvalidMode {
                    name: name.to_string(),
                    mode,
                });
            }
        }
        if let Some(len) = len {
            let reason = if len == 0 {
                "a segment needs at least one byte"
            } else if len > MAX_LEN {
                "it is larger than this platform can map"
            } else {
                return Ok(name);
            };
            return Err(Error::InvalidSize {
                name: name.to_string(),
                len: len as u64,
                reason,
            });
        }
        Ok(name)
    }

    /// Creates a new segment of `len` zeroed bytes with these options.
    ///
    /// # Errors
    /// As [`Segment::create`], and [`Error::InvalidMode`].
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-optcreate-{}", std::process::id());
    /// let opts = shmkit::Segment::options();
    /// let seg = opts.create(&name, 128)?;
    /// assert!(seg.created() && seg.len() == 128);
    /// assert!(matches!(opts.create(&name, 0), Err(shmkit::Error::InvalidSize { len: 0, .. })));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn create(&self, name: &str, len: usize) -> Result<Segment> {
        let name = self.check(name, Some(len))?;
        let map = os::create(&name, len, self)?;
        if !self.hold_creator_lock {
            map.release_creator_lock();
        }
        Ok(Segment {
            map,
            name,
            read_only: self.read_only,
            created: true,
            persist: self.persist,
            end_marker: None,
        })
    }

    /// Opens an existing segment with these options.
    ///
    /// # Errors
    /// As [`Segment::open`].
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-optopen-{}", std::process::id());
    /// use shmkit::Segment;
    /// let opts = Segment::options();
    /// assert!(matches!(opts.open(&name), Err(shmkit::Error::NotFound { .. })));
    /// let seg = Segment::create(&name, 4096)?; // a whole page: Windows
    /// let peer = opts.open(&name)?;           // rounds an opener's length up
    /// assert_eq!(peer.len(), seg.len());
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open(&self, name: &str) -> Result<Segment> {
        let name = self.check(name, None)?;
        let map = os::open(&name, self)?;
        Ok(Segment {
            map,
            name,
            read_only: self.read_only,
            created: false,
            persist: self.persist,
            end_marker: None,
        })
    }

    /// Opens the segment, or creates it with `len` bytes if it does not exist.
    ///
    /// # Errors
    /// As [`Segment::open_or_create`].
    ///
    /// # Example
    /// ```
    /// # let name = format!("doc-optooc-{}", std::process::id());
    /// let opts = shmkit::Segment::options();
    /// let first = opts.open_or_create(&name, 64)?;
    /// assert!(first.created());
    /// // The existing segment is shorter than asked for.
    /// let err = opts.open_or_create(&name, 8192).unwrap_err();
    /// assert!(matches!(err, shmkit::Error::TooSmall { needed: 8192, .. }));
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn open_or_create(&self, name: &str, len: usize) -> Result<Segment> {
        self.check(name, Some(len))?;
        // Each turn either creates, or opens what another process created.
        // A turn fails only if the segment was removed between the two,
        // which a bounded number of retries rides out.
        let mut last = None;
        for _ in 0..64 {
            match self.create(name, len) {
                Err(Error::AlreadyExists { .. }) => {}
                other => return other,
            }
            match self.open(name) {
                Ok(seg) if seg.len() < len => {
                    return Err(Error::TooSmall {
                        name: name.to_owned(),
                        len: seg.len() as u64,
                        needed: len as u64,
                    });
                }
                Err(e @ Error::NotFound { .. }) => last = Some(e),
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| Error::NotFound {
            name: name.to_owned(),
        }))
    }
}
