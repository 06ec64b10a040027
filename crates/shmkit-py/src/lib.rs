//! The Python binding of shmkit: a thin layer that converts arguments and
//! errors and delegates to the library's public API.
//!
//! # Design
//! - Every Python object wraps one library object behind a `std::sync::Mutex`
//!   (`Option`, so that `close()` can drop it early). Python objects are
//!   `frozen`: all mutation goes through that lock.
//! - Blocking calls first try once with the GIL held (the fast path: a
//!   message that is already there costs no GIL round trip). Otherwise they
//!   wait with the GIL released, in slices of at most [`SLICE`], taking the
//!   endpoint's lock only inside the slice and checking for signals between
//!   slices, so Ctrl-C raises `KeyboardInterrupt` within about 50 ms and no
//!   thread ever waits for the endpoint's lock while holding the GIL.
//! - Errors become instances of the classes in `shmkit.errors` (pure Python,
//!   so that they can subclass both `shmkit.ShmkitError` and a built-in such
//!   as `FileNotFoundError`), with the library's message.

use std::os::raw::c_int;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex as StdMutex, MutexGuard as StdGuard, RwLock};
use std::time::{Duration, Instant};

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{
    PyAttributeError, PyBufferError, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyMemoryView};
use pyo3::{ffi, PyErr};

use shmkit::broadcast;
use shmkit::layout::{Field, Prim, StructTy, Ty, Value};
use shmkit::queue::{channel, mpmc, spsc, Options as QueueOptions, Peer, Wait};
use shmkit::sync::{
    Event as RawEvent, EventMode, Mutex as RawMutex, MutexGuard, SeqLockBytes, SeqLockBytesWriter,
    TryLockError, WriterStatus,
};
use shmkit::{header, Error, SegmentOptions};

/// The longest a blocking call waits with the GIL released before it checks
/// for signals (Ctrl-C) and, if none is pending, waits again.
const SLICE: Duration = Duration::from_millis(50);

/// How often a receive polls with the GIL held before it releases the GIL
/// to wait: about a microsecond of polling.
const POLLS_WITH_GIL: u32 = 64;

// ---------------------------------------------------------------------------
// Errors

/// An attribute that a Python exception carries besides its message.
enum Attr {
    Int(u64),
    Text(String),
}

/// The `shmkit.errors` class for a library error, and the attributes the
/// exception carries besides its message.
fn error_class(e: &Error) -> (&'static str, Vec<(&'static str, Attr)>) {
    let name = |n: &String| vec![("name", Attr::Text(n.clone()))];
    match e {
        Error::InvalidName { name: n, .. } => ("InvalidName", name(n)),
        Error::InvalidSize { name: n, .. } => ("InvalidSize", name(n)),
        Error::InvalidMode { name: n, .. } => ("InvalidMode", name(n)),
        Error::InvalidLayout { name: n, .. } => ("InvalidLayout", name(n)),
        Error::AlreadyExists { name: n } => ("AlreadyExists", name(n)),
        Error::NotFound { name: n } => ("NotFound", name(n)),
        Error::PermissionDenied { name: n, .. } => ("PermissionDenied", name(n)),
        Error::NoSpace { name: n, .. } => ("NoSpace", name(n)),
        Error::Truncated { name: n } => ("Truncated", name(n)),
        Error::ReadOnly { name: n } => ("ReadOnly", name(n)),
        Error::OutOfBounds { name: n, .. } => ("OutOfBounds", name(n)),
        Error::TooSmall { name: n, .. } => ("TooSmall", name(n)),
        Error::Empty { name: n } => ("Empty", name(n)),
        Error::NotRegularFile { name: n, .. } => ("NotRegularFile", name(n)),
        Error::UntrustedOwner { name: n, .. } => ("UntrustedOwner", name(n)),
        Error::InsecureMode { name: n, .. } => ("InsecureMode", name(n)),
        Error::LayoutMismatch { name: n, .. } => ("LayoutMismatch", name(n)),
        Error::NotTyped { name: n, .. } => ("NotTyped", name(n)),
        Error::Corrupted { name: n, .. } => ("Corrupted", name(n)),
        Error::InitAbandoned { name: n } => ("InitAbandoned", name(n)),
        Error::InitTimeout { name: n, .. } => ("InitTimeout", name(n)),
        Error::Unsupported { .. } => ("Unsupported", vec![]),
        Error::WriterDied => ("WriterDied", vec![]),
        Error::WriterBusy { .. } => ("WriterBusy", vec![]),
        Error::OwnerDied { .. } => ("OwnerDied", vec![]),
        Error::LockBusy => ("LockBusy", vec![]),
        Error::LockTimeout { .. } => ("LockTimeout", vec![]),
        Error::PeerDied { name: n, .. } => ("PeerDied", name(n)),
        Error::Closed { name: n, .. } => ("Closed", name(n)),
        Error::RoleTaken { name: n, .. } => ("RoleTaken", name(n)),
        Error::RoleUnverifiable { name: n, .. } => ("RoleUnverifiable", name(n)),
        Error::Timeout { name: n, .. } => ("Timeout", name(n)),
        Error::Full { name: n } => ("Full", name(n)),
        Error::Lagged { name: n, missed } => (
            "Lagged",
            vec![
                ("name", Attr::Text(n.clone())),
                ("missed", Attr::Int(*missed)),
            ],
        ),
        Error::MessageTooLarge { name: n, .. } => ("MessageTooLarge", name(n)),
        Error::NotAChannel { name: n, .. } => ("NotAChannel", name(n)),
        Error::WrongSizeMessage { name: n, .. } => ("WrongSizeMessage", name(n)),
        Error::Io { name: n, .. } => ("Io", name(n)),
        // A variant newer than this binding: the base class still carries
        // the library's message.
        _ => ("ShmkitError", vec![]),
    }
}

/// The Python exception for a library error: an instance of the matching
/// `shmkit.errors` class, whose message is the library's.
fn to_py(py: Python<'_>, e: Error) -> PyErr {
    let (class, attrs) = error_class(&e);
    let message = e.to_string();
    let build = || -> PyResult<PyErr> {
        let cls = py.import("shmkit.errors")?.getattr(class)?;
        let inst = cls.call1((message.clone(),))?;
        for (attr, value) in attrs {
            match value {
                Attr::Int(n) => inst.setattr(attr, n)?,
                Attr::Text(t) => inst.setattr(attr, t)?,
            }
        }
        Ok(PyErr::from_value(inst))
    };
    build().unwrap_or_else(|err| err)
}

/// Whether `err` is an instance of `shmkit.errors.<class>`.
fn is_error(py: Python<'_>, err: &PyErr, class: &str) -> bool {
    py.import("shmkit.errors")
        .and_then(|m| m.getattr(class))
        .map(|cls| err.matches(py, cls).unwrap_or(false))
        .unwrap_or(false)
}

/// A bool as Python spells it, for `repr`.
fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

fn closed_error(what: &str) -> PyErr {
    PyValueError::new_err(format!(
        "this {what} is closed: open a new one (closing happens with close() or at the end of a `with` block)"
    ))
}

// ---------------------------------------------------------------------------
// Arguments

/// A timeout in seconds from Python: `None` waits as long as it takes.
fn timeout_arg(timeout: Option<f64>) -> PyResult<Option<Duration>> {
    match timeout {
        None => Ok(None),
        Some(t) => Duration::try_from_secs_f64(t).map(Some).map_err(|_| {
            PyValueError::new_err(format!(
                "invalid timeout {t}: give a number of seconds >= 0, or None to wait as long as it takes"
            ))
        }),
    }
}

/// The deadline of a timeout that starts now (`None`: no deadline).
fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

/// `trust_owner` from Python: a uid, or an iterable of uids.
fn uids_arg(trust_owner: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<u32>> {
    let Some(v) = trust_owner else {
        return Ok(Vec::new());
    };
    if let Ok(uid) = v.extract::<u32>() {
        return Ok(vec![uid]);
    }
    v.extract::<Vec<u32>>().map_err(|_| {
        PyValueError::new_err("trust_owner takes a uid (an int >= 0) or a list of uids")
    })
}

fn wait_arg(wait: &str) -> PyResult<Wait> {
    match wait {
        "spin_then_block" => Ok(Wait::SpinThenBlock),
        "spin" => Ok(Wait::Spin),
        "block" => Ok(Wait::Block),
        other => Err(PyValueError::new_err(format!(
            "unknown wait strategy {other:?}: use \"spin_then_block\" (the default), \"spin\" or \"block\""
        ))),
    }
}

fn wait_name(wait: Wait) -> &'static str {
    match wait {
        Wait::Spin => "spin",
        Wait::Block => "block",
        _ => "spin_then_block",
    }
}

fn peer_name(peer: Peer) -> &'static str {
    match peer {
        Peer::Alive => "alive",
        Peer::NotYet => "not_yet",
        Peer::Died => "died",
        Peer::Closed => "closed",
    }
}

/// The queue options that every endpoint constructor takes.
#[allow(clippy::too_many_arguments)]
fn queue_options(
    wait: &str,
    persist: bool,
    open_timeout: f64,
    wait_for_creator: f64,
    mode: Option<u32>,
    trust_owner: Option<&Bound<'_, PyAny>>,
    accept_mode: u32,
) -> PyResult<QueueOptions> {
    let secs = |t: f64, what: &str| {
        Duration::try_from_secs_f64(t).map_err(|_| {
            PyValueError::new_err(format!("invalid {what} {t}: give a number of seconds >= 0"))
        })
    };
    let mut o = QueueOptions::default()
        .wait(wait_arg(wait)?)
        .persist(persist)
        .open_timeout(secs(open_timeout, "open_timeout")?)
        .wait_for_creator(secs(wait_for_creator, "wait_for_creator")?)
        .accept_mode(accept_mode);
    if let Some(m) = mode {
        o = o.mode(m);
    }
    for uid in uids_arg(trust_owner)? {
        o = o.trust_owner(uid);
    }
    Ok(o)
}

/// The bytes of a message from Python: `bytes` without a copy, any other
/// buffer (bytearray, memoryview, numpy array) by one copy.
enum Data<'py> {
    Bytes(Bound<'py, PyBytes>),
    Owned(Vec<u8>),
}

impl<'py> Data<'py> {
    fn new(py: Python<'py>, obj: &Bound<'py, PyAny>) -> PyResult<Self> {
        if let Ok(b) = obj.cast::<PyBytes>() {
            return Ok(Data::Bytes(b.clone()));
        }
        let buf = PyBuffer::<u8>::get(obj).map_err(|_| {
            PyTypeError::new_err(format!(
                "expected bytes or a buffer of bytes (bytearray, memoryview, numpy array), got {}",
                obj.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?;
        Ok(Data::Owned(buf.to_vec(py)?))
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Data::Bytes(b) => b.as_bytes(),
            Data::Owned(v) => v,
        }
    }
}

/// Locks a wrapper's mutex; a panic elsewhere (which PyO3 turns into an
/// exception) does not make the object unusable.
fn lock<T>(m: &StdMutex<T>) -> StdGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Waits with the GIL released, in slices of at most [`SLICE`], until
/// `attempt` gives a value (`Ok(Some)`), fails, or `deadline` passes
/// (`Ok(None)`); between slices, pending signals are handled, so Ctrl-C
/// raises `KeyboardInterrupt` here.
fn wait_loop<T: Send>(
    py: Python<'_>,
    deadline: Option<Instant>,
    mut attempt: impl FnMut(Duration) -> shmkit::Result<Option<T>> + Send,
) -> PyResult<Option<T>> {
    loop {
        let slice = match deadline {
            None => SLICE,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(None);
                }
                left.min(SLICE)
            }
        };
        match py.detach(|| attempt(slice)) {
            Ok(Some(v)) => return Ok(Some(v)),
            Ok(None) => {}
            Err(e) => return Err(to_py(py, e)),
        }
        py.check_signals()?;
    }
}

/// Maps a library `Timeout` to "not yet" for [`wait_loop`].
fn slice_result<T>(r: shmkit::Result<T>) -> shmkit::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(Error::Timeout { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn timeout_error(py: Python<'_>, name: &str, waited: Option<Duration>) -> PyErr {
    to_py(
        py,
        Error::Timeout {
            name: name.to_owned(),
            waited: waited.unwrap_or_default(),
        },
    )
}

/// A writable, C-contiguous byte buffer from Python, for `recv_into`.
fn writable_buffer(obj: &Bound<'_, PyAny>) -> PyResult<PyBuffer<u8>> {
    let buf = PyBuffer::<u8>::get(obj).map_err(|_| {
        PyTypeError::new_err(
            "recv_into needs a writable buffer of bytes (bytearray, memoryview, numpy uint8 array)",
        )
    })?;
    if buf.readonly() {
        return Err(PyTypeError::new_err(
            "recv_into needs a writable buffer: this one is read-only (bytes are immutable; use a bytearray)",
        ));
    }
    if !buf.is_c_contiguous() {
        return Err(PyTypeError::new_err(
            "recv_into needs a C-contiguous buffer",
        ));
    }
    Ok(buf)
}

/// Where `recv_into` writes: a bytearray directly, anything else through
/// the buffer protocol.
enum Dest<'py> {
    ByteArray(Bound<'py, PyByteArray>),
    Buffer(PyBuffer<u8>),
}

impl Dest<'_> {
    fn len(&self) -> usize {
        match self {
            Dest::ByteArray(b) => b.len(),
            Dest::Buffer(b) => b.len_bytes(),
        }
    }

    /// Copies `src` into the start; the caller checked that it fits.
    fn fill(&self, py: Python<'_>, src: &[u8]) -> PyResult<()> {
        match self {
            Dest::ByteArray(b) => {
                let n = src.len().min(b.len());
                // SAFETY:
                // - in bounds and writable: a bytearray's `data()` points at
                //   its `len()` bytes of its own heap block, and `n <= len()`;
                // - alignment: `u8` needs none;
                // - lifetime: the GIL is held from the `len()` above to the
                //   end of the copy and no Python code runs in between, so
                //   nothing resizes or frees the bytearray meanwhile;
                // - no overlap: `src` is this thread's scratch. No reference
                //   into the bytearray is made.
                unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), b.data(), n) };
                Ok(())
            }
            Dest::Buffer(b) => fill_buffer(py, b, src),
        }
    }
}

thread_local! {
    /// `recv_into`'s staging copy of a message, kept between calls so that
    /// receiving into a reused buffer allocates nothing.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Copies `src` into the start of `buf`, which the caller checked is
/// writable, C-contiguous and large enough.
fn fill_buffer(py: Python<'_>, buf: &PyBuffer<u8>, src: &[u8]) -> PyResult<()> {
    let n = src.len().min(buf.len_bytes());
    if buf.readonly() || !buf.is_c_contiguous() {
        return Err(PyValueError::new_err(
            "recv_into needs a writable C-contiguous buffer",
        ));
    }
    // One memcpy instead of a store per byte: at 64 KiB the loop of
    // `Cell::set` cost more than the queue.
    // SAFETY:
    // - writable: the buffer is not read-only (checked above);
    // - in bounds: it is C-contiguous (checked above), so its `len_bytes()`
    //   bytes from `buf_ptr()` are one block, and `n <= len_bytes()`;
    // - alignment: `u8` needs none;
    // - lifetime: `buf` holds the export, so the memory stays allocated
    //   for this call, and the GIL is held, so no Python code resizes it;
    // - no overlap: `src` is this process's own scratch or message copy,
    //   never the buffer itself. No reference into the buffer is made.
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), buf.buf_ptr().cast::<u8>(), n) };
    let _ = py;
    Ok(())
}

// ---------------------------------------------------------------------------
// Segment

/// A named block of shared memory, mapped into this process. Any process
/// that knows the name opens the same bytes. The creator removes the name
/// when closed or collected, unless created with persist=True; an opener
/// never removes it (there is no resource tracker).
#[pyclass(frozen, module = "shmkit")]
struct Segment {
    /// `None` once closed. Read-locked while a buffer is being exported.
    inner: RwLock<Option<shmkit::Segment>>,
    /// How many buffers (memoryviews, numpy arrays) are exported now.
    exports: AtomicUsize,
    name: String,
    len: usize,
    read_only: bool,
    created: bool,
}

#[allow(clippy::too_many_arguments)]
fn segment_options(
    mode: Option<u32>,
    read_only: bool,
    persist: bool,
    trust_owner: Option<&Bound<'_, PyAny>>,
    accept_mode: u32,
    timeout: f64,
) -> PyResult<SegmentOptions> {
    let mut o = shmkit::Segment::options();
    if let Some(m) = mode {
        o.mode(m);
    }
    o.read_only(read_only)
        .persist(persist)
        .accept_mode(accept_mode);
    o.timeout(Duration::try_from_secs_f64(timeout).map_err(|_| {
        PyValueError::new_err(format!(
            "invalid timeout {timeout}: give a number of seconds >= 0"
        ))
    })?);
    for uid in uids_arg(trust_owner)? {
        o.trust_owner(uid);
    }
    Ok(o)
}

impl Segment {
    fn wrap(seg: shmkit::Segment) -> Segment {
        Segment {
            name: seg.name().to_owned(),
            len: seg.len(),
            read_only: seg.is_read_only(),
            created: seg.created(),
            inner: RwLock::new(Some(seg)),
            exports: AtomicUsize::new(0),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&shmkit::Segment) -> PyResult<R>) -> PyResult<R> {
        let g = self.inner.read().unwrap_or_else(|p| p.into_inner());
        match g.as_ref() {
            Some(seg) => f(seg),
            None => Err(closed_error("segment")),
        }
    }
}

#[pymethods]
impl Segment {
    /// Creates it (see the type stubs for every option).
    #[staticmethod]
    #[pyo3(signature = (name, size, *, mode=None, persist=false, trust_owner=None, accept_mode=0, timeout=5.0))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        py: Python<'_>,
        name: &str,
        size: usize,
        mode: Option<u32>,
        persist: bool,
        trust_owner: Option<&Bound<'_, PyAny>>,
        accept_mode: u32,
        timeout: f64,
    ) -> PyResult<Segment> {
        let o = segment_options(mode, false, persist, trust_owner, accept_mode, timeout)?;
        py.detach(|| o.create(name, size))
            .map(Segment::wrap)
            .map_err(|e| to_py(py, e))
    }

    /// Opens an existing one by name.
    #[staticmethod]
    #[pyo3(signature = (name, *, read_only=false, trust_owner=None, accept_mode=0, timeout=5.0))]
    fn open(
        py: Python<'_>,
        name: &str,
        read_only: bool,
        trust_owner: Option<&Bound<'_, PyAny>>,
        accept_mode: u32,
        timeout: f64,
    ) -> PyResult<Segment> {
        let o = segment_options(None, read_only, false, trust_owner, accept_mode, timeout)?;
        py.detach(|| o.open(name))
            .map(Segment::wrap)
            .map_err(|e| to_py(py, e))
    }

    /// Opens it, or creates it if there is none.
    #[staticmethod]
    #[pyo3(signature = (name, size, *, mode=None, persist=false, trust_owner=None, accept_mode=0, timeout=5.0))]
    #[allow(clippy::too_many_arguments)]
    fn open_or_create(
        py: Python<'_>,
        name: &str,
        size: usize,
        mode: Option<u32>,
        persist: bool,
        trust_owner: Option<&Bound<'_, PyAny>>,
        accept_mode: u32,
        timeout: f64,
    ) -> PyResult<Segment> {
        let o = segment_options(mode, false, persist, trust_owner, accept_mode, timeout)?;
        py.detach(|| o.open_or_create(name, size))
            .map(Segment::wrap)
            .map_err(|e| to_py(py, e))
    }

    /// Removes a segment's name; mappings already open stay valid.
    #[staticmethod]
    fn remove(py: Python<'_>, name: &str) -> PyResult<()> {
        shmkit::Segment::remove(name).map_err(|e| to_py(py, e))
    }

    /// Whether a segment of that name exists.
    #[staticmethod]
    fn exists(py: Python<'_>, name: &str) -> PyResult<bool> {
        shmkit::Segment::exists(name).map_err(|e| to_py(py, e))
    }

    /// The name, as given.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// The size in bytes, as asked for (never rounded to pages).
    #[getter]
    fn size(&self) -> usize {
        self.len
    }

    /// The size in bytes.
    fn __len__(&self) -> usize {
        self.len
    }

    /// Whether this object created it.
    #[getter]
    fn created(&self) -> bool {
        self.created
    }

    /// Whether it was opened read-only.
    #[getter]
    fn read_only(&self) -> bool {
        self.read_only
    }

    /// Whether close() has run.
    #[getter]
    fn closed(&self) -> bool {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    /// Keep the name after this creator closes (True), or remove it then.
    #[setter]
    fn set_persist(&self, persist: bool) -> PyResult<()> {
        let mut g = self.inner.write().unwrap_or_else(|p| p.into_inner());
        match g.as_mut() {
            Some(seg) => {
                seg.set_persist(persist);
                Ok(())
            }
            None => Err(closed_error("segment")),
        }
    }

    /// Copies `size` bytes from `offset` (default: to the end), with atomic loads.
    #[pyo3(signature = (offset=0, size=None))]
    fn read<'py>(
        &self,
        py: Python<'py>,
        offset: usize,
        size: Option<usize>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        self.with(|seg| {
            let n = size.unwrap_or_else(|| self.len.saturating_sub(offset));
            PyBytes::new_with(py, n, |buf| {
                seg.read_at(offset, buf).map_err(|e| to_py(py, e))
            })
        })
    }

    /// Copies `data` (any byte buffer) in at `offset`, with atomic stores.
    #[pyo3(signature = (data, offset=0))]
    fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>, offset: usize) -> PyResult<()> {
        let data = Data::new(py, data)?;
        self.with(|seg| {
            seg.write_at(offset, data.as_slice())
                .map_err(|e| to_py(py, e))
        })
    }

    /// A zero-copy memoryview of the whole segment: NOT atomic, no synchronisation (the contract of SharedMemory.buf). It keeps the segment mapped; close() raises BufferError while one is alive.
    #[getter]
    fn buf_unsynchronized<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyMemoryView>> {
        PyMemoryView::from(slf.as_any())
    }

    /// How many buffers (memoryviews, numpy arrays) are exported now.
    #[getter]
    fn exports(&self) -> usize {
        self.exports.load(Ordering::SeqCst)
    }

    /// Closes it (the creator also removes the name, unless persist).
    fn close(&self) -> PyResult<()> {
        let mut g = self.inner.write().unwrap_or_else(|p| p.into_inner());
        let n = self.exports.load(Ordering::SeqCst);
        if n > 0 {
            return Err(PyBufferError::new_err(format!(
                "cannot close segment `{}`: {n} buffer(s) exported from it (memoryview, numpy \
                 array) are still alive; release them first (del the array, or \
                 memoryview.release())",
                self.name
            )));
        }
        drop(g.take());
        Ok(())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        _t: Option<&Bound<'_, PyAny>>,
        _v: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.close()?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!(
            "Segment(name={:?}, size={}, created={}, read_only={}, closed={})",
            self.name,
            self.len,
            py_bool(self.created),
            py_bool(self.read_only),
            py_bool(self.closed())
        )
    }

    /// # Safety
    /// Called by CPython with a `view` to fill, per the buffer protocol.
    unsafe fn __getbuffer__(
        slf: PyRef<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let py = slf.py();
        let g = slf.inner.read().unwrap_or_else(|p| p.into_inner());
        let Some(seg) = g.as_ref() else {
            return Err(closed_error("segment"));
        };
        // SAFETY:
        // - `view` is the buffer struct CPython passed in for us to fill;
        // - the pointer and length are the whole mapping, which stays mapped
        //   while the export lives: `view.obj` holds a reference to this
        //   object (so it is not dropped), and `close` refuses while the
        //   export count, incremented below under the same lock, is not 0;
        // - `readonly` is set for a read-only mapping, and PyBuffer_FillInfo
        //   refuses a writable request then.
        let rc = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                seg.as_mut_ptr().cast(),
                seg.len() as ffi::Py_ssize_t,
                c_int::from(seg.is_read_only()),
                flags,
            )
        };
        if rc != 0 {
            return Err(PyErr::fetch(py));
        }
        slf.exports.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// # Safety
    /// Called by CPython when an export made by `__getbuffer__` ends.
    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {
        self.exports.fetch_sub(1, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------
// SPSC

/// The producer of an SPSC byte queue.
#[pyclass(frozen, module = "shmkit")]
struct Producer {
    inner: StdMutex<Option<spsc::Producer>>,
    name: String,
}

/// The consumer of an SPSC byte queue.
#[pyclass(frozen, module = "shmkit")]
struct Consumer {
    inner: StdMutex<Option<spsc::Consumer>>,
    name: String,
}

/// Builds a queue endpoint with the GIL released, from the options every
/// constructor takes.
#[allow(clippy::too_many_arguments)]
fn make_endpoint<T: Send>(
    py: Python<'_>,
    name: &str,
    wait: &str,
    persist: bool,
    open_timeout: f64,
    wait_for_creator: f64,
    mode: Option<u32>,
    trust_owner: Option<&Bound<'_, PyAny>>,
    accept_mode: u32,
    make: impl FnOnce(&str, &QueueOptions) -> shmkit::Result<T> + Send,
) -> PyResult<T> {
    let opts = queue_options(
        wait,
        persist,
        open_timeout,
        wait_for_creator,
        mode,
        trust_owner,
        accept_mode,
    )?;
    py.detach(|| make(name, &opts)).map_err(|e| to_py(py, e))
}

/// The endpoint methods every queue role shares: close, context manager,
/// name, peer.
macro_rules! endpoint_common {
    ($t:ident, $what:literal) => {
        impl $t {
            fn with<R>(
                &self,
                f: impl FnOnce(&mut <Self as Endpoint>::Inner) -> PyResult<R>,
            ) -> PyResult<R> {
                let mut g = lock(&self.inner);
                match g.as_mut() {
                    Some(e) => f(e),
                    None => Err(closed_error($what)),
                }
            }
        }

        #[pymethods]
        impl $t {
            /// The name, as given.
            #[getter]
            fn name(&self) -> &str {
                &self.name
            }

            /// Whether close() has run.
            #[getter]
            fn closed(&self) -> bool {
                lock(&self.inner).is_none()
            }

            /// The other side: 'alive', 'not_yet', 'died' or 'closed'.
            #[getter]
            fn peer(&self) -> PyResult<&'static str> {
                self.with(|e| Ok(peer_name(e.peer())))
            }

            /// Whether this object created it.
            #[getter]
            fn created(&self) -> PyResult<bool> {
                self.with(|e| Ok(e.created()))
            }

            /// Closes it (the creator also removes the name, unless persist).
            fn close(&self) {
                drop(lock(&self.inner).take());
            }

            fn __enter__(slf: Py<Self>) -> Py<Self> {
                slf
            }

            fn __exit__(
                &self,
                _t: Option<&Bound<'_, PyAny>>,
                _v: Option<&Bound<'_, PyAny>>,
                _tb: Option<&Bound<'_, PyAny>>,
            ) -> bool {
                self.close();
                false
            }

            fn __repr__(&self) -> String {
                format!(
                    concat!(stringify!($t), "(name={:?}, closed={})"),
                    self.name,
                    py_bool(self.closed())
                )
            }
        }
    };
}

/// Ties a wrapper to the library type it wraps.
trait Endpoint {
    type Inner;
}

macro_rules! endpoint {
    ($t:ident, $inner:ty, $what:literal) => {
        impl Endpoint for $t {
            type Inner = $inner;
        }
        impl $t {
            fn wrap(inner: $inner) -> Self {
                $t {
                    name: inner_name(&inner),
                    inner: StdMutex::new(Some(inner)),
                }
            }
        }
        endpoint_common!($t, $what);
    };
}

/// The queue name of an endpoint, for messages.
trait Named {
    fn queue_name(&self) -> String;
}
impl Named for spsc::Producer {
    fn queue_name(&self) -> String {
        self.name().to_owned()
    }
}
impl Named for spsc::Consumer {
    fn queue_name(&self) -> String {
        self.name().to_owned()
    }
}
fn inner_name<T: Named>(t: &T) -> String {
    t.queue_name()
}

endpoint!(Producer, spsc::Producer, "producer");
endpoint!(Consumer, spsc::Consumer, "consumer");

#[pymethods]
impl Producer {
    /// Creates it (see the type stubs for every option).
    #[staticmethod]
    #[pyo3(signature = (name, capacity, *, wait="spin_then_block", persist=false, open_timeout=5.0, wait_for_creator=0.0, mode=None, trust_owner=None, accept_mode=0))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        py: Python<'_>,
        name: &str,
        capacity: usize,
        wait: &str,
        persist: bool,
        open_timeout: f64,
        wait_for_creator: f64,
        mode: Option<u32>,
        trust_owner: Option<&Bound<'_, PyAny>>,
        accept_mode: u32,
    ) -> PyResult<Self> {
        make_endpoint(
            py,
            name,
            wait,
            persist,
            open_timeout,
            wait_for_creator,
            mode,
            trust_owner,
            accept_mode,
            |n: &str, o: &QueueOptions| spsc::Producer::create_with(n, capacity, o),
        )
        .map(Self::wrap)
    }
    /// Opens an existing one by name.
    #[staticmethod]
    #[pyo3(signature = (name, *, wait="spin_then_block", persist=false, open_timeout=5.0, wait_for_creator=0.0, mode=None, trust_owner=None, accept_mode=0))]
    #[allow(clippy::too_many_arguments)]
    fn open(
        py: Python<'_>,
        name: &str,
        wait: &str,
        persist: bool,
        open_timeout: f64,
        wait_for_creator: f64,
        mode: Option<u32>,
        trust_owner: Option<&Bound<'_, PyAny>>,
        accept_mode: u32,
    ) -> PyResult<Self> {
        make_endpoint(
            py,
            name,
            wait,
            persist,
            open_timeout,
            wait_for_creator,
            mode,
            trust_owner,
            accept_mode,
            |n: &str, o: &QueueOptions| spsc::Producer::open_with(n, o),
        )
        .map(Self::wrap)
    }
    /// Opens it, or creates it if there is none.
    #[staticmethod]
    #[pyo3(signature = (name, capacity, *, wait="spin_then_block", persist=false, open_timeout=5.0, wait_for_creator=0.0, mode=None, trust_owner=None, accept_mode=0))]
    #[allow(clippy::too_many_arguments)]
    fn open_or_create(
        py: Python<'_>,
        name: &str,
        capacity: usize,
        wait: &str,
        persist: bool,
        open_timeout: f64,
        wait_for_creator: f64,
        mode: Option<u32>,
        trust_owner: Option<&Bound<'_, PyAny>>,
        accept_mode: u32,
    ) -> PyResult<Self> {
        make_endpoint(
            py,
            name,
            wait,
            persist,
            open_timeout,
            wait_for_creator,
            mode,
            trust_owner,
            accept_mode,
            |n: &str, o: &QueueOptions| spsc::Producer::open_or_create_with(n, capacity, o),
        )
        .map(Self::wrap)
    }

    /// The ring's size in bytes.
    #[getter]
    fn capacity(&self) -> PyResult<usize> {
        self.with(|p| Ok(p.capacity()))
    }

    /// The largest message this queue carries.
    #[getter]
    fn max_message_len(&self) -> PyResult<usize> {
        self.with(|p| Ok(p.max_message_len()))
    }

    /// How this endpoint waits: 'spin_then_block' (default), 'spin' or 'block'.
    #[getter]
    fn wait(&self) -> PyResult<&'static str> {
        self.with(|p| Ok(wait_name(p.wait_strategy())))
    }

    /// Sets how this endpoint waits.
    #[setter]
    fn set_wait(&self, wait: &str) -> PyResult<()> {
        let w = wait_arg(wait)?;
        self.with(|p| {
            p.set_wait(w);
            Ok(())
        })
    }

    /// Sends a copy of `data`, waiting up to `timeout` seconds (None: as long as it takes) with the GIL released; Ctrl-C interrupts.
    #[pyo3(signature = (data, timeout=None))]
    fn send(&self, py: Python<'_>, data: &Bound<'_, PyAny>, timeout: Option<f64>) -> PyResult<()> {
        let timeout = timeout_arg(timeout)?;
        let data = Data::new(py, data)?;
        let msg = data.as_slice();
        if let Ok(mut g) = self.inner.try_lock() {
            let p = g.as_mut().ok_or_else(|| closed_error("producer"))?;
            match p.try_send(msg) {
                Ok(()) => return Ok(()),
                Err(Error::Full { .. }) => {}
                Err(e) => return Err(to_py(py, e)),
            }
        }
        let inner = &self.inner;
        let sent = wait_loop(py, deadline(timeout), |slice| {
            let mut g = lock(inner);
            match g.as_mut() {
                Some(p) => slice_result(p.send_timeout(msg, slice).map(|()| true)),
                None => Ok(Some(false)),
            }
        })?;
        match sent {
            Some(true) => Ok(()),
            Some(false) => Err(closed_error("producer")),
            None => Err(timeout_error(py, &self.name, timeout)),
        }
    }

    /// Sends if there is room now; False if the queue is full.
    fn try_send(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<bool> {
        let data = Data::new(py, data)?;
        self.with(|p| match p.try_send(data.as_slice()) {
            Ok(()) => Ok(true),
            Err(Error::Full { .. }) => Ok(false),
            Err(e) => Err(to_py(py, e)),
        })
    }
}

impl Consumer {
    /// Waits, with the GIL released, until a message is there (or an error
    /// or the deadline), leaving the message in the queue.
    fn wait_message(&self, py: Python<'_>, deadline: Option<Instant>) -> PyResult<Option<bool>> {
        let inner = &self.inner;
        wait_loop(py, deadline, |slice| {
            let mut g = lock(inner);
            match g.as_mut() {
                // Dropping the message unreleased leaves it in the queue.
                Some(c) => slice_result(c.read_timeout(slice).map(|_| true)),
                None => Ok(Some(false)),
            }
        })
    }

    /// Takes the message there now, if any, with `take` (GIL held).
    fn take_now<R>(
        &self,
        py: Python<'_>,
        take: &mut impl FnMut(&spsc::Message<'_>) -> PyResult<R>,
    ) -> PyResult<Option<R>> {
        let Ok(mut g) = self.inner.try_lock() else {
            return Ok(None);
        };
        let c = g.as_mut().ok_or_else(|| closed_error("consumer"))?;
        // A peer that answers within a microsecond or two (a ping-pong
        // partner) is caught here: releasing and retaking the GIL for such
        // a wait cost about a third of a Python round trip. Holding the GIL
        // this long is far below its 5 ms switch interval. A 'block'
        // endpoint asked not to spin, so it goes straight to waiting.
        let polls = if c.wait_strategy() == Wait::Block {
            1
        } else {
            POLLS_WITH_GIL
        };
        for _ in 0..polls {
            match c.try_read() {
                Ok(Some(m)) => {
                    let r = take(&m)?;
                    m.release();
                    return Ok(Some(r));
                }
                Ok(None) => std::hint::spin_loop(),
                Err(e) => return Err(to_py(py, e)),
            }
        }
        Ok(None)
    }

    fn recv_with<R>(
        &self,
        py: Python<'_>,
        timeout: Option<f64>,
        mut take: impl FnMut(&spsc::Message<'_>) -> PyResult<R>,
    ) -> PyResult<R> {
        let timeout = timeout_arg(timeout)?;
        let deadline = deadline(timeout);
        loop {
            if let Some(r) = self.take_now(py, &mut take)? {
                return Ok(r);
            }
            match self.wait_message(py, deadline)? {
                Some(true) => {}
                Some(false) => return Err(closed_error("consumer")),
                None => return Err(timeout_error(py, &self.name, timeout)),
            }
        }
    }
}

#[pymethods]
impl Consumer {
    /// Creates it (see the type stubs for every option).
    #[staticmethod]
    #[pyo3(signature = (name, capacity, *, wait="spin_then_block", persist=false, open_timeout=5.0, wait_for_creator=0.0, mode=None, trust_owner=None, accept_mode=0))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        py: Python<'_>,
        name: &str,
        capacity: usize,
        wait: &str,
        persist: bool,
        open_timeout: f64,
        wait_for_creator: f64,
        mode: Option<u32>,
        trust_owner: Option<&Bound<'_, PyAny>>,
        accept_mode: u32,
    ) -> PyResult<Self> {
        make_endpoint(
            py,
            name,
            wait,
            persist,
            open_timeout,
            wait_for_creator,
            mode,
            trust_owner,
            accept_mode,
            |n: &str, o: &QueueOptions| spsc::Consumer::create_with(n, capacity, o),
        )
        .map(Self::wrap)
    }
    /// Opens an existing one by name.
    #[staticmethod]
    #[pyo3(signature = (name, *, wait="spin_then_block", persist=false, open_timeout=5.0, wait_for_creator=0.0, mode=None, trust_owner=None, accept_mode=0))]
    #[allow(clippy::too_many_arguments)]
    fn open(
        py: Python<'_>,
        name: &str,
        wait: &str,
        persist: bool,
        open_timeout: f64,
        wait_for_creator: f64,
        mode: Option<u32>,
        trust_owner: Option<&Bound<'_, PyAny>>,
        accept_mode: u32,
    ) -> PyResult<Self> {
        make_endpoint(
            py,
            name,
            wait,
            persist,
            open_timeout,
            wait_for_creator,
            mode,
            trust_owner,
            accept_mode,
            |n: &str, o: &QueueOptions| spsc::Consumer::open_with(n, o),
        )
        .map(Self::wrap)
    }
    /// Opens it, or creates it if there is none.
    #[staticmethod]
    #[pyo3(signature = (name, capacity, *, wait="spin_then_block", persist=false, open_timeout=5.0, wait_for_creator=0.0, mode=None, trust_owner=None, accept_mode=0))]
    #[allow(clippy::too_many_arguments)]
    fn open_or_create(
        py: Python<'_>,
        name: &str,
        capacity: usize,
        wait: &str,
        persist: bool,
        open_timeout: f64,
        wait_for_creator: f64,
        mode: Option<u32>,
        trust_owner: Option<&Bound<'_, PyAny>>,
        accept_mode: u32,
    ) -> PyResult<Self> {
        make_endpoint(
            py,
            name,
            wait,
            persist,
            open_timeout,
            wait_for_creator,
            mode,
            trust_owner,
            accept_mode,
            |n: &str, o: &QueueOptions| spsc::Consumer::open_or_create_with(n, capacity, o),
        )
        .map(Self::wrap)
    }

    /// The ring's size in bytes.
    #[getter]
    fn capacity(&self) -> PyResult<usize> {
        self.with(|c| Ok(c.capacity()))
    }

    /// How this endpoint waits: 'spin_then_block' (default), 'spin' or 'block'.
    #[getter]
    fn wait(&self) -> PyResult<&'static str> {
        self.with(|c| Ok(wait_name(c.wait_strategy())))
    }

    /// Sets how this endpoint waits.
    #[setter]
    fn set_wait(&self, wait: &str) -> PyResult<()> {
        let w = wait_arg(wait)?;
        self.with(|c| {
            c.set_wait(w);
            Ok(())
        })
    }

    /// The next message, waiting up to `timeout` seconds (None: as long as it takes) with the GIL released; Ctrl-C interrupts. Raises TimeoutError, EOFError (Closed), BrokenPipeError (PeerDied).
    #[pyo3(signature = (timeout=None))]
    fn recv<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyBytes>> {
        self.recv_with(py, timeout, |m| {
            PyBytes::new_with(py, m.len(), |buf| {
                m.read_at(0, buf).map_err(|e| to_py(py, e))
            })
        })
    }

    /// The next message if one is there now, else None.
    fn try_recv<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let mut g = lock(&self.inner);
        let c = g.as_mut().ok_or_else(|| closed_error("consumer"))?;
        match c.try_read() {
            Ok(Some(m)) => {
                let b = PyBytes::new_with(py, m.len(), |buf| {
                    m.read_at(0, buf).map_err(|e| to_py(py, e))
                })?;
                m.release();
                Ok(Some(b))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(to_py(py, e)),
        }
    }

    /// Receives into a writable byte buffer and returns the message's length.
    #[pyo3(signature = (buffer, timeout=None))]
    fn recv_into(
        &self,
        py: Python<'_>,
        buffer: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<usize> {
        // A bytearray, the usual reused buffer, is written through its data
        // pointer: the buffer protocol (a boxed `Py_buffer`, its format
        // check and release) cost more than the 64 B copy.
        let dest = match buffer.cast::<PyByteArray>() {
            Ok(ba) => Dest::ByteArray(ba.clone()),
            Err(_) => Dest::Buffer(writable_buffer(buffer)?),
        };
        self.recv_with(py, timeout, |m| {
            // Read here, with the GIL held: another thread may have resized
            // a bytearray while this one waited.
            let room = dest.len();
            if m.len() > room {
                // Not released: the message stays in the queue.
                return Err(PyValueError::new_err(format!(
                    "the next message has {} bytes but the buffer only {room}: nothing was \
                     received; pass a buffer of at least max_message_len bytes",
                    m.len()
                )));
            }
            // The message is copied out of the ring (atomically) into this
            // thread's reused scratch, then into the buffer, which may be
            // memory a peer writes and so never becomes a `&mut [u8]`.
            SCRATCH.with_borrow_mut(|scratch| {
                scratch.clear();
                scratch.resize(m.len(), 0);
                m.read_at(0, scratch).map_err(|e| to_py(py, e))?;
                dest.fill(py, scratch)
            })?;
            Ok(m.len())
        })
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        match self.recv(py, None) {
            Ok(b) => Ok(Some(b)),
            Err(e) if is_error(py, &e, "Closed") => Ok(None),
            Err(e) => Err(e),
        }
    }
}

// ---------------------------------------------------------------------------
// Batches: send_many, recv_many, and fixed-size records (typed channels)
//
// A Python loop that calls `send` or `recv_into` once per message pays the
// interpreter's cost of an iteration and a call for each, several times
// what the queue itself costs (docs/python.md, "Benchmark"); a batch pays
// it once per call. Each batch call takes as
// many messages as the ring has room (or messages) for with the GIL held,
// and waits only when it has to, as the single calls do: with the GIL
// released, in slices, checking for signals between slices.

/// How many messages a batch send takes without waiting before it checks
/// for signals and its deadline: about 0.2-1 ms of 64 B messages.
const BATCH_CHECK: usize = 1 << 14;

/// The sending side of SPSC and MPMC producers, for [`send_batch`].
trait SendBytes {
    fn try_send_now(&mut self, msg: &[u8]) -> shmkit::Result<()>;
    fn send_slice(&mut self, msg: &[u8], slice: Duration) -> shmkit::Result<()>;
}
impl SendBytes for spsc::Producer {
    #[inline]
    fn try_send_now(&mut self, msg: &[u8]) -> shmkit::Result<()> {
        self.try_send(msg)
    }
    fn send_slice(&mut self, msg: &[u8], slice: Duration) -> shmkit::Result<()> {
        self.send_timeout(msg, slice)
    }
}
impl SendBytes for mpmc::Producer {
    #[inline]
    fn try_send_now(&mut self, msg: &[u8]) -> shmkit::Result<()> {
        self.try_send(msg)
    }
    fn send_slice(&mut self, msg: &[u8], slice: Duration) -> shmkit::Result<()> {
        self.send_timeout(msg, slice)
    }
}

/// `max_count` of `recv_many`: at least 1.
fn count_arg(max_count: i64) -> PyResult<usize> {
    match usize::try_from(max_count) {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(PyValueError::new_err(format!(
            "max_count must be at least 1, not {max_count}: it is the most messages one call returns"
        ))),
    }
}

/// Marks an exception raised by a batch send with how many of its
/// messages went out before it (`sent`), and says so in a note.
fn sent_error(py: Python<'_>, err: PyErr, sent: usize, total: usize) -> PyErr {
    let value = err.value(py);
    // Best effort: an exception type without a `__dict__` keeps its message.
    let _ = value.setattr("sent", sent);
    if sent > 0 {
        let _ = value.call_method1(
            "add_note",
            (format!(
                "{sent} of the batch's {total} messages were sent before this error, in order; \
                 the rest were not"
            ),),
        );
    }
    err
}

/// The messages of a `send_many` batch, each checked (bytes-like, at most
/// `max` bytes) before any is sent, so a refused batch sends nothing.
/// `bytes` are borrowed; other buffers are copied once.
fn batch_items<'py>(
    py: Python<'py>,
    messages: &Bound<'py, PyAny>,
    name: &str,
    max: usize,
) -> PyResult<Vec<Data<'py>>> {
    let refuse = |e: PyErr| sent_error(py, e, 0, 0);
    if messages.is_instance_of::<PyBytes>()
        || messages.is_instance_of::<PyByteArray>()
        || messages.is_instance_of::<PyMemoryView>()
    {
        return Err(refuse(PyTypeError::new_err(
            "send_many takes an iterable of messages, not one bytes-like object: use send(data), \
             or send_many([data])",
        )));
    }
    let iter = messages.try_iter().map_err(|_| {
        refuse(PyTypeError::new_err(format!(
            "send_many takes an iterable of messages (a list of bytes, say), not a {}",
            messages
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        )))
    })?;
    let mut items = Vec::with_capacity(messages.len().unwrap_or(0));
    for (i, item) in iter.enumerate() {
        let item = item.map_err(refuse)?;
        let data = Data::new(py, &item).map_err(|e| {
            refuse(PyTypeError::new_err(format!(
                "send_many: message {i} of the batch: {}; nothing was sent",
                e.value(py)
            )))
        })?;
        let len = data.as_slice().len();
        if len > max {
            let e = to_py(
                py,
                Error::MessageTooLarge {
                    name: name.to_owned(),
                    len: len as u64,
                    max: max as u64,
                },
            );
            let _ = e.value(py).call_method1(
                "add_note",
                (format!("it is message {i} of the batch; nothing was sent"),),
            );
            return Err(refuse(e));
        }
        items.push(data);
    }
    Ok(items)
}

/// Sends `msgs` in order: as many as there is room for with the GIL held,
/// then, when the ring is full, waits for room for the next one with the
/// GIL released (in slices, checking for signals), until all are sent or
/// `timeout` (for the whole batch) passes. Returns `msgs.len()`; an error
/// carries `sent`, the number sent before it.
fn send_batch<T: SendBytes + Send>(
    py: Python<'_>,
    inner: &StdMutex<Option<T>>,
    name: &str,
    msgs: &[&[u8]],
    timeout: Option<Duration>,
) -> PyResult<usize> {
    let total = msgs.len();
    let deadline = deadline(timeout);
    let mut sent = 0;
    loop {
        // A thread waiting in a slice holds the endpoint's lock with the
        // GIL released: then this one goes to wait too, never blocking on
        // the lock with the GIL held.
        let mut full = true;
        if let Ok(mut g) = inner.try_lock() {
            let Some(p) = g.as_mut() else {
                return Err(sent_error(py, closed_error("producer"), sent, total));
            };
            let stop = total.min(sent + BATCH_CHECK);
            full = false;
            while sent < stop {
                match p.try_send_now(msgs[sent]) {
                    Ok(()) => sent += 1,
                    Err(Error::Full { .. }) => {
                        full = true;
                        break;
                    }
                    Err(e) => return Err(sent_error(py, to_py(py, e), sent, total)),
                }
            }
        }
        let Some(&msg) = msgs.get(sent) else {
            return Ok(sent);
        };
        if !full {
            // A long batch that never waits still answers Ctrl-C and its
            // deadline, every `BATCH_CHECK` messages.
            py.check_signals()
                .map_err(|e| sent_error(py, e, sent, total))?;
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(sent_error(
                    py,
                    timeout_error(py, name, timeout),
                    sent,
                    total,
                ));
            }
            continue;
        }
        let r = wait_loop(py, deadline, |slice| {
            let mut g = lock(inner);
            match g.as_mut() {
                Some(p) => slice_result(p.send_slice(msg, slice).map(|()| true)),
                None => Ok(Some(false)),
            }
        });
        match r {
            Ok(Some(true)) => sent += 1,
            Ok(Some(false)) => return Err(sent_error(py, closed_error("producer"), sent, total)),
            Ok(None) => {
                return Err(sent_error(
                    py,
                    timeout_error(py, name, timeout),
                    sent,
                    total,
                ));
            }
            Err(e) => return Err(sent_error(py, e, sent, total)),
        }
    }
}

/// A message copied out of the ring into a new `bytes`.
fn bytes_of<'py>(py: Python<'py>, m: &spsc::Message<'_>) -> PyResult<Bound<'py, PyBytes>> {
    PyBytes::new_with(py, m.len(), |buf| {
        m.read_at(0, buf).map_err(|e| to_py(py, e))
    })
}

thread_local! {
    /// The records of a `_send_records` batch, copied out of the caller's
    /// array (which may be memory a peer writes) before they are sent.
    /// Taken out while in use, so a signal handler that sends on this
    /// thread meanwhile gets a fresh one instead of a borrow error.
    static SEND_RECORDS: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The records a `_recv_records_into` batch copies out of the ring
    /// before one copy into the caller's array.
    static RECV_RECORDS: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `itemsize` of the record calls: more than 0.
fn itemsize_arg(itemsize: usize) -> PyResult<usize> {
    if itemsize == 0 {
        return Err(PyValueError::new_err("itemsize must be at least 1 byte"));
    }
    Ok(itemsize)
}

#[pymethods]
impl Producer {
    /// Sends each message of an iterable of bytes-like objects, in order, waiting for room as `send` does; `timeout` bounds the whole call. Returns how many were sent (all); an exception raised part-way carries `sent`.
    #[pyo3(signature = (messages, timeout=None))]
    fn send_many(
        &self,
        py: Python<'_>,
        messages: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<usize> {
        let timeout = timeout_arg(timeout)?;
        let max = self.with(|p| Ok(p.max_message_len()))?;
        let items = batch_items(py, messages, &self.name, max)?;
        let msgs: Vec<&[u8]> = items.iter().map(Data::as_slice).collect();
        send_batch(py, &self.inner, &self.name, &msgs, timeout)
    }

    /// Sends the bytes of `data` (a C-contiguous or any buffer of bytes) as `len(data) / itemsize` messages of `itemsize` bytes each, as `send_many` does. Used by `shmkit.Sender`.
    #[pyo3(signature = (data, itemsize, timeout=None))]
    fn _send_records(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        itemsize: usize,
        timeout: Option<f64>,
    ) -> PyResult<usize> {
        let timeout = timeout_arg(timeout)?;
        let itemsize = itemsize_arg(itemsize)?;
        let buf = PyBuffer::<u8>::get(data).map_err(|_| {
            PyTypeError::new_err("_send_records needs a buffer of bytes (a numpy uint8 view)")
        })?;
        let len = buf.item_count();
        if len % itemsize != 0 {
            return Err(PyValueError::new_err(format!(
                "{len} bytes are not a whole number of {itemsize}-byte records"
            )));
        }
        let max = self.with(|p| Ok(p.max_message_len()))?;
        if itemsize > max {
            return Err(to_py(
                py,
                Error::MessageTooLarge {
                    name: self.name.clone(),
                    len: itemsize as u64,
                    max: max as u64,
                },
            ));
        }
        let mut scratch = SEND_RECORDS.take();
        scratch.clear();
        scratch.resize(len, 0);
        let r = buf.copy_to_slice(py, &mut scratch).and_then(|()| {
            let msgs: Vec<&[u8]> = scratch.chunks_exact(itemsize).collect();
            send_batch(py, &self.inner, &self.name, &msgs, timeout)
        });
        SEND_RECORDS.set(scratch);
        r
    }
}

#[pymethods]
impl Consumer {
    /// Waits as `recv` does for the next message, then takes up to `max_count` in all of those already there, without waiting for more: a list of 1 to `max_count` bytes.
    #[pyo3(signature = (max_count, timeout=None))]
    fn recv_many<'py>(
        &self,
        py: Python<'py>,
        max_count: i64,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let max = count_arg(max_count)?;
        let first = self.recv_with(py, timeout, |m| bytes_of(py, m))?;
        let mut got = Vec::with_capacity(max.min(1024));
        got.push(first);
        // Messages already taken are returned whatever happens next: an
        // error (a dead producer, a corrupted record) stops the batch and
        // is raised by the next call, the message it is about still there.
        if let Ok(mut g) = self.inner.try_lock() {
            if let Some(c) = g.as_mut() {
                while got.len() < max {
                    let Ok(Some(m)) = c.try_read() else { break };
                    let Ok(b) = bytes_of(py, &m) else { break };
                    m.release();
                    got.push(b);
                }
            }
        }
        PyList::new(py, got)
    }

    /// Receives messages of `itemsize` bytes into the start of `out` (a writable C-contiguous byte buffer): waits as `recv` does for the first, then takes those already there, up to `len(out) / itemsize`. Returns how many it stored. Used by `shmkit.Receiver`.
    #[pyo3(signature = (out, itemsize, timeout=None))]
    fn _recv_records_into(
        &self,
        py: Python<'_>,
        out: &Bound<'_, PyAny>,
        itemsize: usize,
        timeout: Option<f64>,
    ) -> PyResult<usize> {
        let itemsize = itemsize_arg(itemsize)?;
        let buf = writable_buffer(out)?;
        let room = buf.len_bytes() / itemsize;
        if room == 0 {
            return Err(PyValueError::new_err(format!(
                "a buffer of {} bytes has no room for one {itemsize}-byte record",
                buf.len_bytes()
            )));
        }
        let mut scratch = RECV_RECORDS.take();
        if scratch.len() < room * itemsize {
            scratch.resize(room * itemsize, 0);
        }
        let r = self.recv_records(py, &mut scratch, itemsize, room, timeout);
        let r = r.and_then(|n| fill_buffer(py, &buf, &scratch[..n * itemsize]).map(|()| n));
        RECV_RECORDS.set(scratch);
        r
    }
}

impl Consumer {
    /// The body of `_recv_records_into`: up to `room` records into
    /// `scratch`, the first waited for; returns how many.
    fn recv_records(
        &self,
        py: Python<'_>,
        scratch: &mut [u8],
        itemsize: usize,
        room: usize,
        timeout: Option<f64>,
    ) -> PyResult<usize> {
        let wrong_size = |len: usize| Error::WrongSizeMessage {
            name: self.name.clone(),
            len: len as u64,
            size: itemsize as u64,
        };
        // A first message of the wrong size is released (skipped) and
        // reported, as the typed `recv` does; a later one stops the batch
        // and stays, for the next call to report.
        let first = self.recv_with(py, timeout, |m| {
            if m.len() != itemsize {
                return Ok(Err(m.len()));
            }
            m.read_at(0, &mut scratch[..itemsize])
                .map_err(|e| to_py(py, e))?;
            Ok(Ok(()))
        })?;
        if let Err(len) = first {
            return Err(to_py(py, wrong_size(len)));
        }
        let mut n = 1;
        if let Ok(mut g) = self.inner.try_lock() {
            if let Some(c) = g.as_mut() {
                while n < room {
                    let Ok(Some(m)) = c.try_read() else { break };
                    if m.len() != itemsize {
                        break;
                    }
                    let at = n * itemsize;
                    if m.read_at(0, &mut scratch[at..at + itemsize]).is_err() {
                        break;
                    }
                    m.release();
                    n += 1;
                }
            }
        }
        Ok(n)
    }
}

// ---------------------------------------------------------------------------
// MPMC

/// One of the producers of an MPMC queue.
#[pyclass(frozen, module = "shmkit", name = "MpmcProducer")]
struct MpmcProducer {
    inner: StdMutex<Option<mpmc::Producer>>,
    name: String,
}

/// One of the consumers of an MPMC queue.
#[pyclass(frozen, module = "shmkit", name = "MpmcConsumer")]
struct MpmcConsumer {
    inner: StdMutex<Option<mpmc::Consumer>>,
    name: String,
}

/// A publisher of a broadcast ring.
#[pyclass(frozen, module = "shmkit")]
struct Publisher {
    inner: StdMutex<Option<broadcast::Publisher>>,
    name: String,
}

/// A subscriber of a broadcast ring.
#[pyclass(frozen, module = "shmkit")]
struct Subscriber {
    inner: StdMutex<Option<broadcast::Subscriber>>,
    name: String,
}

/// The name given at construction, for the wrappers whose library type
/// does not report it.
struct WithName<T>(T, String);

macro_rules! named_endpoint {
    ($t:ident, $inner:ty, $what:literal) => {
        impl Endpoint for $t {
            type Inner = $inner;
        }
        impl $t {
            fn wrap(w: WithName<$inner>) -> Self {
                $t {
                    name: w.1,
                    inner: StdMutex::new(Some(w.0)),
                }
            }
        }
        endpoint_common!($t, $what);
    };
}

named_endpoint!(MpmcProducer, mpmc::Producer, "producer");
named_endpoint!(MpmcConsumer, mpmc::Consumer, "consumer");
named_endpoint!(Publisher, broadcast::Publisher, "publisher");
named_endpoint!(Subscriber, broadcast::Subscriber, "subscriber");

fn named<T>(name: &str, r: shmkit::Result<T>) -> shmkit::Result<WithName<T>> {
    r.map(|t| WithName(t, name.to_owned()))
}

#[pymethods]
impl MpmcProducer {
    /// Creates it (see the type stubs for every option).
    #[staticmethod]
    #[pyo3(signature = (name, slots, max_message, *, wait="spin_then_block", persist=false, open_timeout=5.0, wait_for_creator=0.0, mode=None, trust_owner=None, accept_mode=0))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        py: Python<'_>,
        name: &str,
        slots: usize,
        max_message: usize,
        wait: &str,
        persist: bool,
        open_timeout: f64,
        wait_for_creator: f64,
        mode: Option<u32>,
        trust_owner: Option<&Bound<'_, PyAny>>,
        accept_mode: u32,
    ) -> PyResult<Self> {
        make_endpoint(
            py,
            name,
            wait,
            persist,
            open_timeout,
            wait_for_creator,
            mode,
            trust_owner,
            accept_mode,
            |n: &str, o: &QueueOptions| {
                named(n, mpmc::Producer::create_with(n, slots, max_message, o))
            },
        )
        .map(Self::wrap)
    }
    /// Opens an existing one by name.
    #[staticmethod]
    #[pyo3(signature = (name, *, wait="spin_then_block", persist=false, open_timeout=5.0, wait_for_creator=0.0, mode=None, trust_owner=None, accept_mode=0))]
    #[allow(clippy::too_many_arguments)]
    fn open(
        py: Python<'_>,
        name: &str,
        wait: &str,
        persist: bool,
        open_timeout: f64,
        wait_for_creator: f64,
        mode: Option<u32>,
        trust_owner: Option<&Bound<'_, PyAny>>,
        accept_mode: u32,
    ) -> PyResult<Self> {
        make_endpoint(
            py,
            name,
            wait,
            persist,
            open_timeout,
            wait_for_creator,
            mode,
            trust_owner,
            accept_mode,
            |n: &str, o: &QueueOptions| named(n, mpmc::Producer::open_with(n, o)),
        )
        .map(Self::wrap)
    }
    /// Opens it, or creates it if there is none.
    #[staticmethod]
    #[pyo3(signature = (name, slots, max_message, *, wait="spin_then_block", persist=false, open_timeout=5.0, wait_for_creator=0.0, mode=None, trust_owner=None, accept_mode=0))]
    #[allow(clippy::too_many_arguments)]
    fn open_or_create(
        py: Python<'_>,
        name: &str,
        slots: usize,
        max_message: usize,
        wait: &str,
        persist: bool,
        open_timeout: f64,
        wait_for_creator: f64,
        mode: Option<u32>,
        trust_owner: Option<&Bound<'_, PyAny>>,
        accept_mode: u32,
    ) -> PyResult<Self> {
        make_endpoint(
            py,
            name,
            wait,
            persist,
            open_timeout,
            wait_for_creator,
            mode,
            trust_owner,
            accept_mode,
            |n: &str, o: &QueueOptions| {
                named(
                    n,
                    mpmc::Producer::open_or_create_with(n, slots, max_message, o),
                )
            },
        )
        .map(Self::wrap)
    }

    /// The largest message this queue carries.
    #[getter]
    fn max_message_len(&self) -> PyResult<usize> {
        self.with(|p| Ok(p.max_message_len()))
    }

    /// Sends a copy of `data`, waiting up to `timeout` seconds (None: as long as it takes) with the GIL released; Ctrl-C interrupts.
    #[pyo3(signature = (data, timeout=None))]
    fn send(&self, py: Python<'_>, data: &Bound<'_, PyAny>, timeout: Option<f64>) -> PyResult<()> {
        let timeout = timeout_arg(timeout)?;
        let data = Data::new(py, data)?;
        let msg = data.as_slice();
        if let Ok(mut g) = self.inner.try_lock() {
            let p = g.as_mut().ok_or_else(|| closed_error("producer"))?;
            match p.try_send(msg) {
                Ok(()) => return Ok(()),
                Err(Error::Full { .. }) => {}
                Err(e) => return Err(to_py(py, e)),
            }
        }
        let inner = &self.inner;
        let sent = wait_loop(py, deadline(timeout), |slice| {
            let mut g = lock(inner);
            match g.as_mut() {
                Some(p) => slice_result(p.send_timeout(msg, slice).map(|()| true)),
                None => Ok(Some(false)),
            }
        })?;
        match sent {
            Some(true) => Ok(()),
            Some(false) => Err(closed_error("producer")),
            None => Err(timeout_error(py, &self.name, timeout)),
        }
    }

    /// Sends if there is room now; False if the queue is full.
    fn try_send(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<bool> {
        let data = Data::new(py, data)?;
        self.with(|p| match p.try_send(data.as_slice()) {
            Ok(()) => Ok(true),
            Err(Error::Full { .. }) => Ok(false),
            Err(e) => Err(to_py(py, e)),
        })
    }
}

/// The receiving side of MPMC consumers and broadcast subscribers: a
/// blocking `recv_timeout` and a non-blocking `try_recv`, both by copy.
trait RecvBytes {
    fn recv_slice(&mut self, slice: Duration) -> shmkit::Result<Vec<u8>>;
    fn try_recv_now(&mut self) -> shmkit::Result<Option<Vec<u8>>>;
}
impl RecvBytes for mpmc::Consumer {
    fn recv_slice(&mut self, slice: Duration) -> shmkit::Result<Vec<u8>> {
        self.recv_timeout(slice)
    }
    fn try_recv_now(&mut self) -> shmkit::Result<Option<Vec<u8>>> {
        self.try_recv()
    }
}
impl RecvBytes for broadcast::Subscriber {
    fn recv_slice(&mut self, slice: Duration) -> shmkit::Result<Vec<u8>> {
        self.recv_timeout(slice)
    }
    fn try_recv_now(&mut self) -> shmkit::Result<Option<Vec<u8>>> {
        self.try_recv()
    }
}

/// `recv` for a [`RecvBytes`] endpoint behind a wrapper's lock.
fn recv_bytes<T: RecvBytes + Send>(
    py: Python<'_>,
    inner: &StdMutex<Option<T>>,
    name: &str,
    what: &str,
    timeout: Option<f64>,
) -> PyResult<Vec<u8>> {
    let timeout = timeout_arg(timeout)?;
    if let Ok(mut g) = inner.try_lock() {
        let e = g.as_mut().ok_or_else(|| closed_error(what))?;
        if let Some(v) = e.try_recv_now().map_err(|e| to_py(py, e))? {
            return Ok(v);
        }
    }
    let got = wait_loop(py, deadline(timeout), |slice| {
        let mut g = lock(inner);
        match g.as_mut() {
            Some(e) => slice_result(e.recv_slice(slice).map(Some)),
            None => Ok(Some(None)),
        }
    })?;
    match got {
        Some(Some(v)) => Ok(v),
        Some(None) => Err(closed_error(what)),
        None => Err(timeout_error(py, name, timeout)),
    }
}

fn try_recv_bytes<'py, T: RecvBytes>(
    py: Python<'py>,
    inner: &StdMutex<Option<T>>,
    what: &str,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let mut g = lock(inner);
    let e = g.as_mut().ok_or_else(|| closed_error(what))?;
    Ok(e.try_recv_now()
        .map_err(|e| to_py(py, e))?
        .map(|v| PyBytes::new(py, &v)))
}

fn recv_into_bytes<T: RecvBytes + Send>(
    py: Python<'_>,
    inner: &StdMutex<Option<T>>,
    name: &str,
    what: &str,
    buffer: &Bound<'_, PyAny>,
    timeout: Option<f64>,
) -> PyResult<usize> {
    let buf = writable_buffer(buffer)?;
    let v = recv_bytes(py, inner, name, what, timeout)?;
    if v.len() > buf.len_bytes() {
        return Err(PyValueError::new_err(format!(
            "a message of {} bytes does not fit the buffer of {} bytes and was dropped: pass a \
             buffer of at least max_message_len bytes",
            v.len(),
            buf.len_bytes()
        )));
    }
    fill_buffer(py, &buf, &v)?;
    Ok(v.len())
}

#[pymethods]
impl MpmcConsumer {
    /// Creates it (see the type stubs for every option).
    #[staticmethod]
    #[pyo3(signature = (name, slots, max_message, *, wait="spin_then_block", persist=false, open_timeout=5.0, wait_for_creator=0.0, mode=None, trust_owner=None, accept_mode=0))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        py: Python<'_>,
        name: &str,
        slots: usize,
        max_message: usize,
        wait: &str,
        persist: bool,
        open_timeout: f64,
        wait_for_creator: f64,
        mode: Option<u32>,
        trust_owner: Option<&Bound<'_, PyAny>>,
        accept_mode: u32,
    ) -> PyResult<Self> {
        make_endpoint(
            py,
            name,
            wait,
            persist,
            open_timeout,
            wait_for_creator,
            mode,
            trust_owner,
            accept_mode,
            |n: &str, o: &QueueOptions| {
                named(n, mpmc::Consumer::create_with(n, slots, max_message, o))
            },
        )
        .map(Self::wrap)
    }
    /// Opens an existing one by name.
    #[staticmethod]
    #[pyo3(signature = (name, *, wait="spin_then_block", persist=false, open_timeout=5.0, wait_for_creator=0.0, mode=None, trust_owner=None, accept_mode=0))]
    #[allow(clippy::too_many_arguments)]
    fn open(
        py: Python<'_>,
        name: &str,
        wait: &str,
        persist: bool,
        open_timeout: f64,
        wait_for_creator: f64,
        mode: Option<u32>,
        trust_owner: Option<&Bound<'_, PyAny>>,
        accept_mode: u32,
    ) -> PyResult<Self> {
        make_endpoint(
            py,
            name,
            wait,
            persist,
            open_timeout,
            wait_for_creator,
            mode,
            trust_owner,
            accept_mode,
            |n: &str, o: &QueueOptions| named(n, mpmc::Consumer::open_with(n, o)),
        )
        .map(Self::wrap)
    }
    /// Opens it, or creates it if there is none.
    #[staticmethod]
    #[pyo3(signature = (name, slots, max_message, *, wait="spin_then_block", persist=false, open_timeout=5.0, wait_for_creator=0.0, mode=None, trust_owner=None, accept_mode=0))]
    #[allow(clippy::too_many_arguments)]
    fn open_or_create(
        py: Python<'_>,
        name: &str,
        slots: usize,
        max_message: usize,
        wait: &str,
        persist: bool,
        open_timeout: f64,
        wait_for_creator: f64,
        mode: Option<u32>,
        trust_owner: Option<&Bound<'_, PyAny>>,
        accept_mode: u32,
    ) -> PyResult<Self> {
        make_endpoint(
            py,
            name,
            wait,
            persist,
            open_timeout,
            wait_for_creator,
            mode,
            trust_owner,
            accept_mode,
            |n: &str, o: &QueueOptions| {
                named(
                    n,
                    mpmc::Consumer::open_or_create_with(n, slots, max_message, o),
                )
            },
        )
        .map(Self::wrap)
    }

    /// The largest message this queue carries.
    #[getter]
    fn max_message_len(&self) -> PyResult<usize> {
        self.with(|c| Ok(c.max_message_len()))
    }

    /// The next message, waiting up to `timeout` seconds (None: as long as it takes) with the GIL released; Ctrl-C interrupts. Raises TimeoutError, EOFError (Closed), BrokenPipeError (PeerDied).
    #[pyo3(signature = (timeout=None))]
    fn recv<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyBytes>> {
        let v = recv_bytes(py, &self.inner, &self.name, "consumer", timeout)?;
        Ok(PyBytes::new(py, &v))
    }

    /// The next message if one is there now, else None.
    fn try_recv<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        try_recv_bytes(py, &self.inner, "consumer")
    }

    /// Receives into a writable byte buffer and returns the message's length.
    #[pyo3(signature = (buffer, timeout=None))]
    fn recv_into(
        &self,
        py: Python<'_>,
        buffer: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<usize> {
        recv_into_bytes(py, &self.inner, &self.name, "consumer", buffer, timeout)
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        match self.recv(py, None) {
            Ok(b) => Ok(Some(b)),
            Err(e) if is_error(py, &e, "Closed") => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[pymethods]
impl MpmcProducer {
    /// Sends each message of an iterable of bytes-like objects, in order, as `Producer.send_many` does.
    #[pyo3(signature = (messages, timeout=None))]
    fn send_many(
        &self,
        py: Python<'_>,
        messages: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<usize> {
        let timeout = timeout_arg(timeout)?;
        let max = self.with(|p| Ok(p.max_message_len()))?;
        let items = batch_items(py, messages, &self.name, max)?;
        let msgs: Vec<&[u8]> = items.iter().map(Data::as_slice).collect();
        send_batch(py, &self.inner, &self.name, &msgs, timeout)
    }
}

#[pymethods]
impl MpmcConsumer {
    /// Waits as `recv` does for the next message, then takes up to `max_count` in all of those already there, as `Consumer.recv_many` does.
    #[pyo3(signature = (max_count, timeout=None))]
    fn recv_many<'py>(
        &self,
        py: Python<'py>,
        max_count: i64,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let max = count_arg(max_count)?;
        let first = recv_bytes(py, &self.inner, &self.name, "consumer", timeout)?;
        let mut got = Vec::with_capacity(max.min(1024));
        got.push(PyBytes::new(py, &first));
        // As in `Consumer.recv_many`: an error after the first message ends
        // the batch, and the next call raises it.
        if let Ok(mut g) = self.inner.try_lock() {
            if let Some(c) = g.as_mut() {
                while got.len() < max {
                    let Ok(Some(v)) = c.try_recv_now() else { break };
                    got.push(PyBytes::new(py, &v));
                }
            }
        }
        PyList::new(py, got)
    }
}

// ---------------------------------------------------------------------------
// Broadcast

#[pymethods]
impl Publisher {
    /// Creates it (see the type stubs for every option).
    #[staticmethod]
    #[pyo3(signature = (name, slots, max_message, *, wait="spin_then_block", persist=false, open_timeout=5.0, wait_for_creator=0.0, mode=None, trust_owner=None, accept_mode=0))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        py: Python<'_>,
        name: &str,
        slots: usize,
        max_message: usize,
        wait: &str,
        persist: bool,
        open_timeout: f64,
        wait_for_creator: f64,
        mode: Option<u32>,
        trust_owner: Option<&Bound<'_, PyAny>>,
        accept_mode: u32,
    ) -> PyResult<Self> {
        make_endpoint(
            py,
            name,
            wait,
            persist,
            open_timeout,
            wait_for_creator,
            mode,
            trust_owner,
            accept_mode,
            |n: &str, o: &QueueOptions| {
                named(
                    n,
                    broadcast::Publisher::create_with(n, slots, max_message, o),
                )
            },
        )
        .map(Self::wrap)
    }
    /// Opens an existing one by name.
    #[staticmethod]
    #[pyo3(signature = (name, *, wait="spin_then_block", persist=false, open_timeout=5.0, wait_for_creator=0.0, mode=None, trust_owner=None, accept_mode=0))]
    #[allow(clippy::too_many_arguments)]
    fn open(
        py: Python<'_>,
        name: &str,
        wait: &str,
        persist: bool,
        open_timeout: f64,
        wait_for_creator: f64,
        mode: Option<u32>,
        trust_owner: Option<&Bound<'_, PyAny>>,
        accept_mode: u32,
    ) -> PyResult<Self> {
        make_endpoint(
            py,
            name,
            wait,
            persist,
            open_timeout,
            wait_for_creator,
            mode,
            trust_owner,
            accept_mode,
            |n: &str, o: &QueueOptions| named(n, broadcast::Publisher::open_with(n, o)),
        )
        .map(Self::wrap)
    }
    /// Opens it, or creates it if there is none.
    #[staticmethod]
    #[pyo3(signature = (name, slots, max_message, *, wait="spin_then_block", persist=false, open_timeout=5.0, wait_for_creator=0.0, mode=None, trust_owner=None, accept_mode=0))]
    #[allow(clippy::too_many_arguments)]
    fn open_or_create(
        py: Python<'_>,
        name: &str,
        slots: usize,
        max_message: usize,
        wait: &str,
        persist: bool,
        open_timeout: f64,
        wait_for_creator: f64,
        mode: Option<u32>,
        trust_owner: Option<&Bound<'_, PyAny>>,
        accept_mode: u32,
    ) -> PyResult<Self> {
        make_endpoint(
            py,
            name,
            wait,
            persist,
            open_timeout,
            wait_for_creator,
            mode,
            trust_owner,
            accept_mode,
            |n: &str, o: &QueueOptions| {
                named(
                    n,
                    broadcast::Publisher::open_or_create_with(n, slots, max_message, o),
                )
            },
        )
        .map(Self::wrap)
    }

    /// The largest message this queue carries.
    #[getter]
    fn max_message_len(&self) -> PyResult<usize> {
        self.with(|p| Ok(p.max_message_len()))
    }

    /// How many subscribers are attached now.
    #[getter]
    fn subscribers(&self) -> PyResult<usize> {
        self.with(|p| Ok(p.subscribers()))
    }

    /// Sends a copy of `data`, waiting up to `timeout` seconds (None: as long as it takes) with the GIL released; Ctrl-C interrupts.
    fn send(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let data = Data::new(py, data)?;
        self.with(|p| p.send(data.as_slice()).map_err(|e| to_py(py, e)))
    }

    /// Waits until at least `n` subscribers are attached; returns how many are.
    #[pyo3(signature = (n, timeout=None))]
    fn wait_for_subscribers(
        &self,
        py: Python<'_>,
        n: usize,
        timeout: Option<f64>,
    ) -> PyResult<usize> {
        let timeout = timeout_arg(timeout)?;
        let dl = deadline(timeout);
        let inner = &self.inner;
        let got = wait_loop(py, dl, |slice| {
            let g = lock(inner);
            match g.as_ref() {
                Some(p) => slice_result(p.wait_for_subscribers(n, slice)).map(|r| match r {
                    Some(k) if k >= n => Some(k),
                    _ => None,
                }),
                None => Ok(Some(usize::MAX)),
            }
        })?;
        match got {
            Some(usize::MAX) => Err(closed_error("publisher")),
            Some(k) => Ok(k),
            None => self.subscribers(),
        }
    }
}

#[pymethods]
impl Subscriber {
    /// Opens an existing one by name.
    #[staticmethod]
    #[pyo3(signature = (name, *, wait="spin_then_block", persist=false, open_timeout=5.0, wait_for_creator=0.0, mode=None, trust_owner=None, accept_mode=0))]
    #[allow(clippy::too_many_arguments)]
    fn open(
        py: Python<'_>,
        name: &str,
        wait: &str,
        persist: bool,
        open_timeout: f64,
        wait_for_creator: f64,
        mode: Option<u32>,
        trust_owner: Option<&Bound<'_, PyAny>>,
        accept_mode: u32,
    ) -> PyResult<Self> {
        make_endpoint(
            py,
            name,
            wait,
            persist,
            open_timeout,
            wait_for_creator,
            mode,
            trust_owner,
            accept_mode,
            |n: &str, o: &QueueOptions| named(n, broadcast::Subscriber::open_with(n, o)),
        )
        .map(Self::wrap)
    }
    /// Opens it, or creates it if there is none.
    #[staticmethod]
    #[pyo3(signature = (name, slots, max_message, *, wait="spin_then_block", persist=false, open_timeout=5.0, wait_for_creator=0.0, mode=None, trust_owner=None, accept_mode=0))]
    #[allow(clippy::too_many_arguments)]
    fn open_or_create(
        py: Python<'_>,
        name: &str,
        slots: usize,
        max_message: usize,
        wait: &str,
        persist: bool,
        open_timeout: f64,
        wait_for_creator: f64,
        mode: Option<u32>,
        trust_owner: Option<&Bound<'_, PyAny>>,
        accept_mode: u32,
    ) -> PyResult<Self> {
        make_endpoint(
            py,
            name,
            wait,
            persist,
            open_timeout,
            wait_for_creator,
            mode,
            trust_owner,
            accept_mode,
            |n: &str, o: &QueueOptions| {
                named(
                    n,
                    broadcast::Subscriber::open_or_create_with(n, slots, max_message, o),
                )
            },
        )
        .map(Self::wrap)
    }

    /// The number of the next message this subscriber reads.
    #[getter]
    fn cursor(&self) -> PyResult<u64> {
        self.with(|s| Ok(s.cursor()))
    }

    /// Moves the cursor back to the oldest message still in the ring.
    fn rewind(&self, py: Python<'_>) -> PyResult<()> {
        self.with(|s| s.rewind().map_err(|e| to_py(py, e)))
    }

    /// The next message, waiting up to `timeout` seconds (None: as long as it takes) with the GIL released; Ctrl-C interrupts. Raises TimeoutError, EOFError (Closed), BrokenPipeError (PeerDied).
    #[pyo3(signature = (timeout=None))]
    fn recv<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyBytes>> {
        let v = recv_bytes(py, &self.inner, &self.name, "subscriber", timeout)?;
        Ok(PyBytes::new(py, &v))
    }

    /// The next message if one is there now, else None.
    fn try_recv<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        try_recv_bytes(py, &self.inner, "subscriber")
    }

    /// Receives into a writable byte buffer and returns the message's length.
    #[pyo3(signature = (buffer, timeout=None))]
    fn recv_into(
        &self,
        py: Python<'_>,
        buffer: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<usize> {
        recv_into_bytes(py, &self.inner, &self.name, "subscriber", buffer, timeout)
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        match self.recv(py, None) {
            Ok(b) => Ok(Some(b)),
            Err(e) if is_error(py, &e, "Closed") => Ok(None),
            Err(e) => Err(e),
        }
    }
}

// ---------------------------------------------------------------------------
// Sync: Mutex and Event, each at offset 0 of a segment of its own.

/// The size of the segment that holds a [`Mutex`] or an [`Event`].
const SYNC_SEGMENT_LEN: usize = 64;

/// Moves a value into `py.detach` and back out. `detach` runs its closure
/// on the calling thread, so a thread-bound value (a mutex guard) never
/// actually changes threads.
struct SameThread<T>(T);
// SAFETY: a `SameThread` is only created inside a `py.detach` closure and
// returned from it to the same caller; `detach` runs the closure on the
// calling thread, so the value is never used on another thread.
unsafe impl<T> Send for SameThread<T> {}

/// A robust mutex in its own named segment.
#[pyclass(unsendable, module = "shmkit")]
struct Mutex {
    /// Declared before `seg`: the guard borrows the mutex in the mapping,
    /// and fields drop in declaration order.
    guard: Option<MutexGuard<'static, u64>>,
    raw: &'static RawMutex<u64>,
    seg: Option<shmkit::Segment>,
    name: String,
}

impl Mutex {
    fn wrap(seg: shmkit::Segment) -> PyResult<Mutex> {
        if seg.len() < std::mem::size_of::<RawMutex<u64>>() {
            return Err(PyValueError::new_err(format!(
                "segment `{}` is too small to hold a shmkit Mutex",
                seg.name()
            )));
        }
        // SAFETY:
        // - the mapping is page-aligned (more than the 8 bytes a
        //   `Mutex<u64>` needs) and at least `size_of::<Mutex<u64>>()` long;
        // - it stays mapped for as long as the reference is used: `seg` is
        //   owned by this object, which drops `guard` before `seg`, and
        //   `raw` is never handed out;
        // - the bytes are zeros (a fresh segment) or were left by this type;
        //   every user of the segment goes through `Mutex<u64>`, and any byte
        //   pattern is a valid `u64`.
        let raw: &'static RawMutex<u64> = unsafe { RawMutex::from_ptr(seg.as_ptr()) };
        Ok(Mutex {
            guard: None,
            raw,
            name: seg.name().to_owned(),
            seg: Some(seg),
        })
    }

    fn check_open(&self) -> PyResult<()> {
        if self.seg.is_none() {
            return Err(closed_error("mutex"));
        }
        Ok(())
    }

    fn owner_died(py: Python<'_>, name: &str) -> PyErr {
        let err = to_py(py, Error::OwnerDied { data: "u64" });
        // Best effort: the message already says what happened.
        let _ = err.value(py).setattr("name", name);
        err
    }
}

/// What a lock attempt gave.
enum Locked {
    Clean(MutexGuard<'static, u64>),
    Died(MutexGuard<'static, u64>),
    Busy,
    HeldHere,
    /// The segment was shrunk under the mutex: the library's error.
    Lost(Error),
}

fn try_lock_raw(raw: &'static RawMutex<u64>, timeout: Option<Duration>) -> Locked {
    let r = match timeout {
        None => raw.try_lock(),
        Some(t) => raw.lock_timeout(t),
    };
    match r {
        Ok(g) => Locked::Clean(g),
        Err(TryLockError::OwnerDied(d)) => Locked::Died(d.into_inner()),
        Err(TryLockError::Lost(e)) => Locked::Lost(e),
        Err(TryLockError::WouldBlock) if timeout.is_some() => Locked::HeldHere,
        Err(_) => Locked::Busy,
    }
}

#[pymethods]
impl Mutex {
    /// Creates it (see the type stubs for every option).
    #[staticmethod]
    #[pyo3(signature = (name, *, mode=None, persist=false))]
    fn create(py: Python<'_>, name: &str, mode: Option<u32>, persist: bool) -> PyResult<Mutex> {
        let o = segment_options(mode, false, persist, None, 0, 5.0)?;
        Mutex::wrap(o.create(name, SYNC_SEGMENT_LEN).map_err(|e| to_py(py, e))?)
    }

    /// Opens an existing one by name.
    #[staticmethod]
    #[pyo3(signature = (name, *, trust_owner=None, accept_mode=0))]
    fn open(
        py: Python<'_>,
        name: &str,
        trust_owner: Option<&Bound<'_, PyAny>>,
        accept_mode: u32,
    ) -> PyResult<Mutex> {
        let o = segment_options(None, false, false, trust_owner, accept_mode, 5.0)?;
        Mutex::wrap(o.open(name).map_err(|e| to_py(py, e))?)
    }

    /// Opens it, or creates it if there is none.
    #[staticmethod]
    #[pyo3(signature = (name, *, mode=None, persist=false))]
    fn open_or_create(
        py: Python<'_>,
        name: &str,
        mode: Option<u32>,
        persist: bool,
    ) -> PyResult<Mutex> {
        let o = segment_options(mode, false, persist, None, 0, 5.0)?;
        Mutex::wrap(
            o.open_or_create(name, SYNC_SEGMENT_LEN)
                .map_err(|e| to_py(py, e))?,
        )
    }

    /// The name, as given.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// Whether this object holds the lock.
    #[getter]
    fn locked(&self) -> bool {
        self.guard.is_some()
    }

    /// Whether the held lock is marked as left by a dead owner.
    #[getter]
    fn inconsistent(&self) -> bool {
        self.guard.as_ref().is_some_and(|g| g.is_inconsistent())
    }

    /// Locks, waiting up to `timeout` seconds (False on timeout); raises OwnerDied with the lock held if a previous owner died holding it.
    #[pyo3(signature = (timeout=None))]
    fn acquire(&mut self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        self.check_open()?;
        if self.guard.is_some() {
            return Err(to_py(py, Error::LockBusy));
        }
        let timeout = timeout_arg(timeout)?;
        let raw = self.raw;
        let mut got = try_lock_raw(raw, None);
        if matches!(got, Locked::Busy) {
            let dl = deadline(timeout);
            got = wait_loop(py, dl, |slice| {
                Ok(match try_lock_raw(raw, Some(slice)) {
                    Locked::Busy => None,
                    other => Some(SameThread(other)),
                })
            })?
            .map(|s| s.0)
            .unwrap_or(Locked::Busy);
        }
        match got {
            Locked::Clean(g) => {
                self.guard = Some(g);
                Ok(true)
            }
            Locked::Died(g) => {
                self.guard = Some(g);
                Err(Mutex::owner_died(py, &self.name))
            }
            Locked::HeldHere => Err(to_py(py, Error::LockBusy)),
            Locked::Lost(e) => Err(to_py(py, e)),
            Locked::Busy if timeout.is_some() => Ok(false),
            Locked::Busy => Err(to_py(py, Error::LockBusy)),
        }
    }

    /// Unlocks.
    fn release(&mut self) -> PyResult<()> {
        match self.guard.take() {
            Some(g) => {
                drop(g);
                Ok(())
            }
            None => Err(PyRuntimeError::new_err(
                "release() of a shmkit Mutex that this object does not hold",
            )),
        }
    }

    /// Clears the dead-owner mark (only while holding the lock).
    fn mark_consistent(&mut self) -> PyResult<()> {
        match self.guard.as_mut() {
            Some(g) => {
                g.mark_consistent();
                Ok(())
            }
            None => Err(PyRuntimeError::new_err(
                "mark_consistent() needs the lock: call it while holding the Mutex (in the \
                 `except shmkit.OwnerDied` block, before release())",
            )),
        }
    }

    fn __enter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        slf.borrow_mut().acquire(slf.py(), None)?;
        Ok(slf)
    }

    fn __exit__(
        &mut self,
        _t: Option<&Bound<'_, PyAny>>,
        _v: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.release()?;
        Ok(false)
    }

    /// Closes it (the creator also removes the name, unless persist).
    fn close(&mut self) {
        self.guard = None;
        self.seg = None;
    }

    fn __repr__(&self) -> String {
        format!(
            "Mutex(name={:?}, locked={})",
            self.name,
            py_bool(self.locked())
        )
    }
}

impl Drop for Mutex {
    fn drop(&mut self) {
        // The guard borrows the mapping: unlock before unmapping.
        self.guard = None;
        self.seg = None;
    }
}

/// A cross-process event in its own named segment.
#[pyclass(frozen, module = "shmkit")]
struct Event {
    /// Points into `seg`'s mapping, which lives as long as this object (the
    /// segment is never closed early).
    raw: &'static RawEvent,
    _seg: shmkit::Segment,
    name: String,
}

impl Event {
    fn wrap(seg: shmkit::Segment, manual_reset: Option<bool>) -> PyResult<Event> {
        if seg.len() < std::mem::size_of::<RawEvent>() {
            return Err(PyValueError::new_err(format!(
                "segment `{}` is too small to hold a shmkit Event",
                seg.name()
            )));
        }
        // SAFETY:
        // - the mapping is page-aligned (more than 8) and at least 8 bytes;
        // - it stays mapped while `raw` is used: `_seg` lives in the same
        //   object and `raw` is never handed out;
        // - every user of the segment accesses it only as an `Event`, and any
        //   bit pattern is a valid one.
        let raw: &'static RawEvent = unsafe { RawEvent::from_ptr(seg.as_ptr()) };
        if let Some(m) = manual_reset {
            raw.set_mode(if m {
                EventMode::ManualReset
            } else {
                EventMode::AutoReset
            });
        }
        Ok(Event {
            raw,
            name: seg.name().to_owned(),
            _seg: seg,
        })
    }
}

#[pymethods]
impl Event {
    /// Creates it (see the type stubs for every option).
    #[staticmethod]
    #[pyo3(signature = (name, *, manual_reset=false, mode=None, persist=false))]
    fn create(
        py: Python<'_>,
        name: &str,
        manual_reset: bool,
        mode: Option<u32>,
        persist: bool,
    ) -> PyResult<Event> {
        let o = segment_options(mode, false, persist, None, 0, 5.0)?;
        Event::wrap(
            o.create(name, SYNC_SEGMENT_LEN).map_err(|e| to_py(py, e))?,
            Some(manual_reset),
        )
    }

    /// Opens an existing one by name.
    #[staticmethod]
    #[pyo3(signature = (name, *, trust_owner=None, accept_mode=0))]
    fn open(
        py: Python<'_>,
        name: &str,
        trust_owner: Option<&Bound<'_, PyAny>>,
        accept_mode: u32,
    ) -> PyResult<Event> {
        let o = segment_options(None, false, false, trust_owner, accept_mode, 5.0)?;
        Event::wrap(o.open(name).map_err(|e| to_py(py, e))?, None)
    }

    /// The name, as given.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// Whether the event stays set until reset().
    #[getter]
    fn manual_reset(&self) -> bool {
        self.raw.mode() == EventMode::ManualReset
    }

    /// Whether the event is signalled.
    fn is_set(&self) -> bool {
        self.raw.is_signalled()
    }

    /// Signals the event (as notify_one).
    fn set(&self, py: Python<'_>) -> PyResult<()> {
        self.raw.notify_one().map_err(|e| to_py(py, e))
    }

    /// Wakes one waiter (or leaves the signal set).
    fn notify_one(&self, py: Python<'_>) -> PyResult<()> {
        self.raw.notify_one().map_err(|e| to_py(py, e))
    }

    /// Wakes every waiter.
    fn notify_all(&self, py: Python<'_>) -> PyResult<()> {
        self.raw.notify_all().map_err(|e| to_py(py, e))
    }

    /// Clears the signal.
    fn reset(&self, py: Python<'_>) -> PyResult<()> {
        self.raw.reset().map_err(|e| to_py(py, e))
    }

    /// How this endpoint waits: 'spin_then_block' (default), 'spin' or 'block'.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let timeout = timeout_arg(timeout)?;
        let raw = self.raw;
        let got = wait_loop(py, deadline(timeout), |slice| {
            Ok(raw.wait_timeout(slice)?.then_some(()))
        })?;
        Ok(got.is_some())
    }

    fn __repr__(&self) -> String {
        format!(
            "Event(name={:?}, manual_reset={}, set={})",
            self.name,
            py_bool(self.manual_reset()),
            py_bool(self.is_set())
        )
    }
}

// ---------------------------------------------------------------------------
// Typed segments: the layout a Rust `Shared<T>` stored in the header.

/// A typed segment opened without a Python declaration of its type: the
/// layout comes from the segment's header, and each primitive field is read
/// and written on its own, with one atomic access of its width.
#[pyclass(frozen, module = "shmkit", name = "TypedSegment")]
struct Typed {
    seg: shmkit::Segment,
    ty: Ty,
    data_offset: usize,
    name: String,
}

/// A layout description from Python: `("prim", "u32")`,
/// `("array", element, length)` or
/// `("struct", name, size, align, [(field, offset, description), ...])`,
/// as `shmkit.typed` builds it from a numpy dtype or a `ctypes.Structure`.
fn ty_from_py(desc: &Bound<'_, PyAny>, depth: u32) -> PyResult<Ty> {
    if depth > 32 {
        return Err(PyValueError::new_err("layout nested more than 32 deep"));
    }
    let kind: String = desc.get_item(0)?.extract()?;
    match kind.as_str() {
        "prim" => {
            let name: String = desc.get_item(1)?.extract()?;
            let prim = match name.as_str() {
                "u8" => Prim::U8,
                "i8" => Prim::I8,
                "u16" => Prim::U16,
                "i16" => Prim::I16,
                "u32" => Prim::U32,
                "i32" => Prim::I32,
                "u64" => Prim::U64,
                "i64" => Prim::I64,
                "f32" => Prim::F32,
                "f64" => Prim::F64,
                // A SeqLock's words (`shmkit.typed.seqlock_of`).
                "AtomicU64" => Prim::AtomicU64,
                other => {
                    return Err(PyTypeError::new_err(format!(
                        "`{other}` cannot be stored in a typed segment: use fixed-width \
                         integers (u8..i64) or floats (f32, f64)"
                    )))
                }
            };
            Ok(Ty::Prim(prim))
        }
        "array" => {
            let elem = ty_from_py(&desc.get_item(1)?, depth + 1)?;
            let len: u32 = desc.get_item(2)?.extract()?;
            Ok(Ty::Array(Box::new(elem), len))
        }
        "struct" => {
            let name: String = desc.get_item(1)?.extract()?;
            let size: u32 = desc.get_item(2)?.extract()?;
            let align: u32 = desc.get_item(3)?.extract()?;
            let mut fields = Vec::new();
            for f in desc.get_item(4)?.try_iter()? {
                let f = f?;
                fields.push(Field {
                    name: f.get_item(0)?.extract()?,
                    offset: f.get_item(1)?.extract()?,
                    ty: ty_from_py(&f.get_item(2)?, depth + 1)?,
                });
            }
            Ok(Ty::Struct(StructTy {
                name,
                size,
                align,
                fields,
            }))
        }
        other => Err(PyValueError::new_err(format!(
            "unknown layout node {other:?}: expected \"prim\", \"array\" or \"struct\""
        ))),
    }
}

impl Typed {
    fn leaf(&self, path: &str) -> PyResult<(usize, Prim)> {
        let (offset, ty) = self.ty.locate(path).map_err(PyAttributeError::new_err)?;
        match ty {
            Ty::Prim(p) => Ok((self.data_offset + offset as usize, *p)),
            other => Err(PyTypeError::new_err(format!(
                "`{path}` is {}, not a number: index or name one of its parts",
                other.summary()
            ))),
        }
    }
}

#[pymethods]
impl Typed {
    /// Opens a typed segment that a Rust `Shared<T>` created, reading its
    /// layout from the header.
    #[staticmethod]
    #[pyo3(signature = (name, *, read_only=false, trust_owner=None, accept_mode=0, timeout=5.0))]
    fn open(
        py: Python<'_>,
        name: &str,
        read_only: bool,
        trust_owner: Option<&Bound<'_, PyAny>>,
        accept_mode: u32,
        timeout: f64,
    ) -> PyResult<Typed> {
        let o = segment_options(None, read_only, false, trust_owner, accept_mode, timeout)?;
        let wait = Duration::try_from_secs_f64(timeout).unwrap_or_default();
        let mut seg = py.detach(|| o.open(name)).map_err(|e| to_py(py, e))?;
        // Wait for the creator to publish the value, as `Shared::open` does.
        let start = Instant::now();
        loop {
            match header::init_state(&seg).map_err(|e| to_py(py, e))? {
                header::InitState::Ready => break,
                header::InitState::Abandoned => {
                    return Err(to_py(
                        py,
                        Error::InitAbandoned {
                            name: name.to_owned(),
                        },
                    ))
                }
                _ if start.elapsed() >= wait => {
                    return Err(to_py(
                        py,
                        Error::InitTimeout {
                            name: name.to_owned(),
                            waited: wait,
                        },
                    ))
                }
                _ => {
                    py.check_signals()?;
                    py.detach(|| std::thread::sleep(Duration::from_millis(1)));
                }
            }
        }
        let (h, ty) = header::read_header(&seg).map_err(|e| to_py(py, e))?;
        header::expect_end_marker(&mut seg, &h).map_err(|e| to_py(py, e))?;
        Ok(Typed {
            name: name.to_owned(),
            data_offset: h.data_offset as usize,
            ty,
            seg,
        })
    }

    /// The name, as given.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// The stored layout in one line, e.g. `MySharedData { value: i32, ... }`.
    /// Creates a typed segment for a layout description (built by
    /// `shmkit.create_typed`) holding `value`, as Rust's `Shared<T>` would.
    #[staticmethod]
    #[pyo3(signature = (name, layout, value, *, mode=None, persist=false))]
    fn create(
        py: Python<'_>,
        name: &str,
        layout: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        mode: Option<u32>,
        persist: bool,
    ) -> PyResult<Typed> {
        let ty = ty_from_py(layout, 0)?;
        let value = Data::new(py, value)?;
        let o = segment_options(mode, false, persist, None, 0, 5.0)?;
        let bytes = value.as_slice();
        let mut seg = py
            .detach(|| header::create_described(&o, name, &ty, bytes))
            .map_err(|e| to_py(py, e))?;
        let (h, ty) = header::read_header(&seg).map_err(|e| to_py(py, e))?;
        header::expect_end_marker(&mut seg, &h).map_err(|e| to_py(py, e))?;
        Ok(Typed {
            name: name.to_owned(),
            data_offset: h.data_offset as usize,
            ty,
            seg,
        })
    }

    #[getter]
    fn layout(&self) -> String {
        self.ty.summary()
    }

    /// What is at `path`: `("number", rust_type)`, `("array", length)` or
    /// `("struct", [field names])`.
    fn _kind<'py>(&self, py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyAny>> {
        let (_, ty) = self.ty.locate(path).map_err(PyAttributeError::new_err)?;
        Ok(match ty {
            Ty::Prim(p) => ("number", p.name()).into_pyobject(py)?.into_any(),
            Ty::Array(_, len) => ("array", *len).into_pyobject(py)?.into_any(),
            Ty::Struct(_) if seqlock_payload(ty).is_some() => {
                ("seqlock", 0).into_pyobject(py)?.into_any()
            }
            Ty::Struct(st) => {
                let names: Vec<&str> = st.fields.iter().map(|f| f.name.as_str()).collect();
                ("struct", names).into_pyobject(py)?.into_any()
            }
        })
    }

    /// Reads the number at `path` with one atomic load.
    fn _get<'py>(&self, py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyAny>> {
        let (at, prim) = self.leaf(path)?;
        let mut buf = [0u8; 8];
        let n = prim.size() as usize;
        self.seg
            .read_at(at, &mut buf[..n])
            .map_err(|e| to_py(py, e))?;
        Ok(match prim.value(&buf[..n]) {
            Value::Unsigned(v) => v.into_pyobject(py)?.into_any(),
            Value::Signed(v) => v.into_pyobject(py)?.into_any(),
            // Through its shortest decimal form, so 1.45f32 reads as 1.45.
            Value::F32(v) => v
                .to_string()
                .parse::<f64>()
                .unwrap_or(f64::from(v))
                .into_pyobject(py)?
                .into_any(),
            Value::F64(v) => v.into_pyobject(py)?.into_any(),
            other => {
                return Err(PyTypeError::new_err(format!(
                    "`{path}` decoded to {other}, which is not a number"
                )))
            }
        })
    }

    /// Writes the number at `path` with one atomic store, range-checked.
    fn _set(&self, py: Python<'_>, path: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let (at, prim) = self.leaf(path)?;
        let is_float = matches!(prim, Prim::F32 | Prim::F64);
        let text = if is_float {
            value
                .extract::<f64>()
                .map_err(|_| {
                    PyTypeError::new_err(format!("`{path}` is a {}: give a float", prim.name()))
                })?
                .to_string()
        } else {
            if value.is_instance_of::<pyo3::types::PyBool>()
                || !value.is_instance_of::<pyo3::types::PyInt>()
            {
                return Err(PyTypeError::new_err(format!(
                    "`{path}` is a {}: give an int",
                    prim.name()
                )));
            }
            value.str()?.to_string()
        };
        let bytes = prim
            .parse(&text)
            .map_err(|e| PyValueError::new_err(format!("`{path}`: {e}")))?;
        self.seg.write_at(at, &bytes).map_err(|e| to_py(py, e))
    }

    fn __repr__(&self) -> String {
        format!(
            "TypedSegment(name={:?}, layout={:?})",
            self.name,
            self.ty.summary()
        )
    }
}

// ---------------------------------------------------------------------------
// SeqLock fields of typed segments, read and written by the stored layout.

/// The payload type of a `SeqLock<T>` as Rust describes it: a struct named
/// `SeqLock` of `seq` and `writer` (atomic u64 at 0 and 8) and `slots`
/// (`[T; 2]` at 16), `16 + 2 * size_of::<T>()` bytes; `None` for anything
/// else.
fn seqlock_payload(ty: &Ty) -> Option<&Ty> {
    let Ty::Struct(st) = ty else { return None };
    if st.name != "SeqLock" || st.fields.len() != 3 {
        return None;
    }
    let f = &st.fields;
    let word = |i: usize, name: &str, offset: u32| {
        f[i].name == name && f[i].offset == offset && f[i].ty == Ty::Prim(Prim::AtomicU64)
    };
    if !word(0, "seq", 0) || !word(1, "writer", 8) {
        return None;
    }
    let slots = &f[2];
    let Ty::Array(elem, 2) = &slots.ty else {
        return None;
    };
    let fits = slots.name == "slots"
        && slots.offset as usize == SeqLockBytes::SLOTS_OFFSET
        && u64::from(st.size) == 16 + 2 * elem.size()
        && elem.align() <= 8;
    fits.then_some(&**elem)
}

impl Typed {
    /// The seqlock at `path`: its offset in the segment and payload type.
    fn seqlock_at(&self, path: &str) -> PyResult<(usize, &Ty)> {
        let (offset, ty) = self.ty.locate(path).map_err(PyAttributeError::new_err)?;
        let payload = seqlock_payload(ty).ok_or_else(|| {
            PyTypeError::new_err(format!("`{path}` is {}, not a SeqLock", ty.summary()))
        })?;
        let at = self.data_offset + offset as usize;
        let end = at + 16 + 2 * payload.size() as usize;
        if at % 8 != 0 || end > self.seg.len() {
            // The header was validated against the segment; this would be a
            // layout whose SeqLock is misplaced.
            return Err(Python::attach(|py| {
                to_py(
                    py,
                    Error::Corrupted {
                        name: self.name.clone(),
                        what: format!(
                            "its SeqLock at `{path}` lies outside the segment or unaligned"
                        ),
                    },
                )
            }));
        }
        Ok((at, payload))
    }

    /// A view of the seqlock at `path`.
    ///
    /// # Safety
    /// The view must not be used after `self` is dropped (`'a` is the
    /// caller's choice), and its `writer` must not be called on a read-only
    /// segment.
    unsafe fn seqlock<'a>(&self, path: &str) -> PyResult<(SeqLockBytes<'a>, &Ty)> {
        let (at, payload) = self.seqlock_at(path)?;
        // SAFETY:
        // - `at` is 8-aligned from the page-aligned mapping, and the
        //   `16 + 2 * len` bytes there are inside it (`seqlock_at` checks);
        //   they stay mapped while `self` lives (`self.seg` is dropped only
        //   with it), which the caller's first obligation covers for `'a`;
        // - the stored layout says a `SeqLock<T>` of this payload size lives
        //   there, so every peer accesses it as one; any bytes are a valid one;
        // - writable if a writer is taken: the caller's second obligation.
        let lock = unsafe {
            SeqLockBytes::from_ptr(self.seg.as_mut_ptr().add(at), payload.size() as usize)
        };
        Ok((lock, payload))
    }
}

fn writer_status_name(s: WriterStatus) -> &'static str {
    match s {
        WriterStatus::None => "none",
        WriterStatus::Alive => "alive",
        WriterStatus::Died => "died",
    }
}

#[pymethods]
impl Typed {
    /// The layout description of the payload of the SeqLock at `path`.
    fn _seqlock_layout<'py>(&self, py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyAny>> {
        let (_, payload) = self.seqlock_at(path)?;
        ty_to_py(py, payload)
    }

    /// The latest complete value of the SeqLock at `path`, as bytes (retries
    /// while the writer overtakes the copy). With `checked`, raises
    /// `WriterDied` if its writer died mid-write.
    #[pyo3(signature = (path, checked=false))]
    fn _seqlock_read<'py>(
        &self,
        py: Python<'py>,
        path: &str,
        checked: bool,
    ) -> PyResult<Bound<'py, PyBytes>> {
        // SAFETY: the view lives only in this call, and takes no writer.
        let (lock, _) = unsafe { self.seqlock(path)? };
        let value = if checked {
            lock.read_checked().map_err(|e| to_py(py, e))?
        } else {
            lock.read()
        };
        Ok(PyBytes::new(py, &value))
    }

    /// 'none', 'alive' or 'died': the SeqLock's writer, as far as the OS can tell.
    fn _seqlock_writer_status(&self, path: &str) -> PyResult<&'static str> {
        // SAFETY: the view lives only in this call, and takes no writer.
        let (lock, _) = unsafe { self.seqlock(path)? };
        Ok(writer_status_name(lock.writer_status()))
    }

    /// Becomes the one writer of the SeqLock at `path`, taking over from a
    /// dead one. Raises `WriterBusy` if a live writer holds it.
    fn _seqlock_writer(slf: &Bound<'_, Self>, path: &str) -> PyResult<SeqLockWriter> {
        let py = slf.py();
        let this = slf.get();
        if this.seg.is_read_only() {
            return Err(to_py(
                py,
                Error::ReadOnly {
                    name: this.name.clone(),
                },
            ));
        }
        // SAFETY:
        // - the view and the writer made from it (which copies it) are kept
        //   in a `SeqLockWriter` beside a strong reference to `this`, which
        //   owns the segment, and are dropped before that reference (field
        //   order, and its `Drop`), so never used after `this` is dropped;
        // - the segment is not read-only (checked above).
        let (lock, _): (SeqLockBytes<'static>, _) = unsafe { this.seqlock(path)? };
        let w = lock.writer().map_err(|e| to_py(py, e))?;
        Ok(SeqLockWriter {
            w: Some(w),
            len: lock.len(),
            path: path.to_owned(),
            owner: slf.clone().unbind(),
        })
    }
}

/// The one writer of a SeqLock field; `close()` (or leaving `with`) lets
/// another writer in.
#[pyclass(unsendable, module = "shmkit")]
struct SeqLockWriter {
    /// Declared before `owner`: it points into the mapping `owner` keeps.
    w: Option<SeqLockBytesWriter<'static>>,
    len: usize,
    path: String,
    owner: Py<Typed>,
}

#[pymethods]
impl SeqLockWriter {
    /// Publishes `data` (exactly one value's bytes): readers see it whole or
    /// not at all. Wait-free.
    fn write(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let data = Data::new(py, data)?;
        let bytes = data.as_slice();
        if bytes.len() != self.len {
            return Err(PyValueError::new_err(format!(
                "`{}` holds {}-byte values: {} bytes given",
                self.path,
                self.len,
                bytes.len()
            )));
        }
        let w = self
            .w
            .as_mut()
            .ok_or_else(|| closed_error("seqlock writer"))?;
        w.write(bytes);
        Ok(())
    }

    /// Gives up the writer role.
    fn close(&mut self) {
        self.w = None;
    }

    /// Whether close() has run.
    #[getter]
    fn closed(&self) -> bool {
        self.w.is_none()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &mut self,
        _t: Option<&Bound<'_, PyAny>>,
        _v: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        self.close();
        false
    }

    fn __repr__(&self) -> String {
        format!(
            "SeqLockWriter(segment={:?}, path={:?}, closed={})",
            self.owner.get().name,
            self.path,
            py_bool(self.closed())
        )
    }
}

impl Drop for SeqLockWriter {
    fn drop(&mut self) {
        // The writer first, while `owner` still holds the mapping.
        self.w = None;
    }
}

// ---------------------------------------------------------------------------
// Typed channels: an SPSC queue whose header stores its value type's layout.

/// A layout description for Python, the inverse of [`ty_from_py`]:
/// `("prim", "u32")`, `("array", element, length)` or
/// `("struct", name, size, align, [(field, offset, description), ...])`.
fn ty_to_py<'py>(py: Python<'py>, ty: &Ty) -> PyResult<Bound<'py, PyAny>> {
    Ok(match ty {
        Ty::Prim(p) => ("prim", p.name()).into_pyobject(py)?.into_any(),
        Ty::Array(elem, len) => ("array", ty_to_py(py, elem)?, *len)
            .into_pyobject(py)?
            .into_any(),
        Ty::Struct(st) => {
            let mut fields = Vec::with_capacity(st.fields.len());
            for f in &st.fields {
                fields.push(
                    (f.name.as_str(), f.offset, ty_to_py(py, &f.ty)?)
                        .into_pyobject(py)?
                        .into_any(),
                );
            }
            ("struct", st.name.as_str(), st.size, st.align, fields)
                .into_pyobject(py)?
                .into_any()
        }
    })
}

/// The optional expected layout of a channel being opened.
fn expected_ty(layout: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Ty>> {
    layout.map(|l| ty_from_py(l, 0)).transpose()
}

#[pymethods]
impl Producer {
    /// Creates a typed channel of `layout` (a description from
    /// `shmkit.typed.describe`) with room for `count` values, as its sender.
    /// Used by `shmkit.Sender`.
    #[staticmethod]
    #[pyo3(signature = (name, layout, count, *, wait="spin_then_block", persist=false, mode=None))]
    fn _create_channel(
        py: Python<'_>,
        name: &str,
        layout: &Bound<'_, PyAny>,
        count: usize,
        wait: &str,
        persist: bool,
        mode: Option<u32>,
    ) -> PyResult<Self> {
        let ty = ty_from_py(layout, 0)?;
        make_endpoint(
            py,
            name,
            wait,
            persist,
            5.0,
            0.0,
            mode,
            None,
            0,
            |n: &str, o: &QueueOptions| channel::create_described_sender(n, &ty, count, o),
        )
        .map(Self::wrap)
    }

    /// Opens a typed channel as its sender: `(producer, stored layout)`,
    /// refusing another layout than `layout` if given. Used by
    /// `shmkit.Sender`.
    #[staticmethod]
    #[pyo3(signature = (name, layout=None, *, wait="spin_then_block", open_timeout=5.0, wait_for_creator=0.0, trust_owner=None, accept_mode=0))]
    #[allow(clippy::too_many_arguments)]
    fn _open_channel<'py>(
        py: Python<'py>,
        name: &str,
        layout: Option<&Bound<'py, PyAny>>,
        wait: &str,
        open_timeout: f64,
        wait_for_creator: f64,
        trust_owner: Option<&Bound<'py, PyAny>>,
        accept_mode: u32,
    ) -> PyResult<(Self, Bound<'py, PyAny>)> {
        let expected = expected_ty(layout)?;
        let (p, ty) = make_endpoint(
            py,
            name,
            wait,
            false,
            open_timeout,
            wait_for_creator,
            None,
            trust_owner,
            accept_mode,
            |n: &str, o: &QueueOptions| channel::open_described_sender(n, expected.as_ref(), o),
        )?;
        Ok((Self::wrap(p), ty_to_py(py, &ty)?))
    }
}

#[pymethods]
impl Consumer {
    /// Creates a typed channel of `layout` with room for `count` values, as
    /// its receiver. Used by `shmkit.Receiver`.
    #[staticmethod]
    #[pyo3(signature = (name, layout, count, *, wait="spin_then_block", persist=false, mode=None))]
    fn _create_channel(
        py: Python<'_>,
        name: &str,
        layout: &Bound<'_, PyAny>,
        count: usize,
        wait: &str,
        persist: bool,
        mode: Option<u32>,
    ) -> PyResult<Self> {
        let ty = ty_from_py(layout, 0)?;
        make_endpoint(
            py,
            name,
            wait,
            persist,
            5.0,
            0.0,
            mode,
            None,
            0,
            |n: &str, o: &QueueOptions| channel::create_described_receiver(n, &ty, count, o),
        )
        .map(Self::wrap)
    }

    /// Opens a typed channel as its receiver: `(consumer, stored layout)`,
    /// refusing another layout than `layout` if given. Used by
    /// `shmkit.Receiver`.
    #[staticmethod]
    #[pyo3(signature = (name, layout=None, *, wait="spin_then_block", open_timeout=5.0, wait_for_creator=0.0, trust_owner=None, accept_mode=0))]
    #[allow(clippy::too_many_arguments)]
    fn _open_channel<'py>(
        py: Python<'py>,
        name: &str,
        layout: Option<&Bound<'py, PyAny>>,
        wait: &str,
        open_timeout: f64,
        wait_for_creator: f64,
        trust_owner: Option<&Bound<'py, PyAny>>,
        accept_mode: u32,
    ) -> PyResult<(Self, Bound<'py, PyAny>)> {
        let expected = expected_ty(layout)?;
        let (c, ty) = make_endpoint(
            py,
            name,
            wait,
            false,
            open_timeout,
            wait_for_creator,
            None,
            trust_owner,
            accept_mode,
            |n: &str, o: &QueueOptions| channel::open_described_receiver(n, expected.as_ref(), o),
        )?;
        Ok((Self::wrap(c), ty_to_py(py, &ty)?))
    }
}

// ---------------------------------------------------------------------------

/// The compiled part of the `shmkit` package; import `shmkit` instead.
#[pymodule]
fn _shmkit(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Segment>()?;
    m.add_class::<Producer>()?;
    m.add_class::<Consumer>()?;
    m.add_class::<MpmcProducer>()?;
    m.add_class::<MpmcConsumer>()?;
    m.add_class::<Publisher>()?;
    m.add_class::<Subscriber>()?;
    m.add_class::<Mutex>()?;
    m.add_class::<Event>()?;
    m.add_class::<Typed>()?;
    m.add_class::<SeqLockWriter>()?;
    m.add("MAX_NAME_LEN", shmkit::MAX_NAME_LEN)?;
    Ok(())
}
