//! Windows named shared memory: `CreateFileMappingW`, `OpenFileMappingW`,
//! `MapViewOfFile`, `UnmapViewOfFile`, `CloseHandle`, as the textbook does.
//!
//! The mappings are backed by the paging file (`INVALID_HANDLE_VALUE`), named
//! `Local\NAME` (this logon session) or, with [`SegmentOptions::global`],
//! `Global\NAME` (the whole machine). Where Windows differs from POSIX, the
//! differences are the OS's own and are not papered over; the "Windows"
//! section of docs/platforms.md lists them for users:
//!
//! - **Lifetime.** A mapping exists while some process has a handle to it; it
//!   disappears with the last one. There is no unlink, so
//!   [`remove`] returns [`Error::Unsupported`], `persist(true)` is refused
//!   with [`Error::Unsupported`], and [`Mapping::remove_if_same`] has nothing
//!   to do.
//! - **Size.** Windows does not tell an opener how large a mapping is. An
//!   opener maps the whole section and takes the size of the mapped region
//!   (`VirtualQuery`), which is page-rounded.
//! - **Security.** Every mapping gets an explicit security descriptor whose
//!   DACL grants the creating user (the token's user SID) full access and
//!   nobody else anything, unless [`SegmentOptions::mode`] has group or other
//!   bits (see [`sddl`]). Never a NULL DACL, which would let anyone in.
//!   Opening makes no owner or mode checks of its own (the DACL already
//!   decides who may open), so `trust_owner` and `accept_mode` have no effect
//!   here.
//! - **Shrinking.** A section's size is fixed when it is created: no process
//!   can shrink it under another's view, so an access never faults for want
//!   of backing, and [`Mapping::lost`] is always `false`. A paging-file
//!   section commits its pages at creation, so a full commit limit is an
//!   error of `CreateFileMappingW` ([`Error::NoSpace`]), not a fault later.
//! - **Creator liveness.** The lock that the typed layer's init protocol
//!   needs is a named mutex, `Local\shmkit-init:NAME`, which the creating
//!   thread owns from before the mapping exists until
//!   [`Mapping::release_creator_lock`]. Windows marks a mutex *abandoned*
//!   when its owning thread dies, which is how an opener tells a dead creator
//!   from a slow one. So the lock must be released on the thread that called
//!   `create`: a creating thread that exits still holding it counts as a dead
//!   creator, even if its process lives on.
//! - **Timeout.** [`SegmentOptions::timeout`] bounds how long `create` waits
//!   for another creator of the same name that holds its lock but has not
//!   made its mapping yet (see [`take_creator_lock`]); `open` never waits,
//!   since a mapping is created at its full size in one call.

use std::ptr::NonNull;
use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::{
    CloseHandle, GetLastError, LocalFree, SetLastError, ERROR_ACCESS_DENIED, ERROR_ALREADY_EXISTS,
    ERROR_COMMITMENT_LIMIT, ERROR_DISK_FULL, ERROR_FILE_NOT_FOUND, ERROR_INVALID_HANDLE,
    ERROR_NOT_ENOUGH_MEMORY, ERROR_OUTOFMEMORY, HANDLE, INVALID_HANDLE_VALUE, WAIT_ABANDONED,
    WAIT_OBJECT_0, WAIT_TIMEOUT, WIN32_ERROR,
};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows_sys::Win32::Security::{
    GetTokenInformation, TokenPrimaryGroup, TokenUser, PSECURITY_DESCRIPTOR, PSID,
    SECURITY_ATTRIBUTES, TOKEN_INFORMATION_CLASS, TOKEN_PRIMARY_GROUP, TOKEN_QUERY, TOKEN_USER,
};
use windows_sys::Win32::System::Memory::{
    CreateFileMappingW, MapViewOfFile, OpenFileMappingW, UnmapViewOfFile, VirtualQuery,
    FILE_MAP_READ, FILE_MAP_WRITE, MEMORY_BASIC_INFORMATION, MEMORY_MAPPED_VIEW_ADDRESS,
    PAGE_READWRITE, SECTION_ALL_ACCESS, SECTION_MAP_READ, SECTION_MAP_WRITE, SECTION_QUERY,
};
use windows_sys::Win32::System::Threading::{
    CreateEventW, CreateMutexW, GetCurrentProcess, OpenEventW, OpenMutexW, OpenProcessToken,
    ReleaseMutex, WaitForSingleObject, MUTEX_ALL_ACCESS, MUTEX_MODIFY_STATE,
    SYNCHRONIZATION_SYNCHRONIZE,
};

use crate::name::Name;
use crate::segment::SegmentOptions;
use crate::{Error, Result};

/// The standard right to wait on an object (winnt.h); windows-sys files it
/// under a feature this crate does not otherwise need.
const SYNCHRONIZE: u32 = 0x0010_0000;

/// An owned kernel handle, closed with `CloseHandle` on drop.
struct Handle(HANDLE);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY:
        // - `self.0` is a valid handle that this `Handle` owns: it is only
        //   built from a non-null handle that a `Create*`/`Open*` call just
        //   returned, and is closed nowhere else;
        // - it is not used after this.
        unsafe { CloseHandle(self.0) };
    }
}

/// A mapped view of a named file mapping. Dropping it unmaps the view and
/// closes the handles; the mapping itself goes away with the last handle in
/// any process.
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    /// Kept open for as long as the view: this handle is what keeps the name
    /// alive for other processes.
    _section: Handle,
    /// The creator's liveness mutex, owned by the creating thread until
    /// [`release_creator_lock`](Self::release_creator_lock). `None` in openers.
    lock: Option<Handle>,
    /// `Local\shmkit-init:NAME` (or `Global\...`), NUL-terminated.
    lock_name: Vec<u16>,
}

// SAFETY: `Mapping` owns kernel handles and a view of a shared section; none
// is tied to the thread that made it (the creator lock is, which is why
// `release_creator_lock` is documented to be called on the creating thread,
// and a call from elsewhere merely fails). The bytes behind `ptr` are only
// reached through atomic copies or `unsafe` functions whose callers take on
// the aliasing rules.
unsafe impl Send for Mapping {}
// SAFETY: `&Mapping` gives out only the raw pointer and the length, which are
// immutable for the mapping's lifetime; the lock methods are system calls
// that are safe to make from several threads at once.
unsafe impl Sync for Mapping {}

/// What an opener can tell about the process that created a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(dead_code)] // used by the typed layer, next
pub(crate) enum CreatorState {
    /// The creator still holds its liveness lock: it is alive and has not
    /// called [`Mapping::release_creator_lock`].
    Alive,
    /// Nobody holds the lock: the creator released it, or died (Windows
    /// abandons a dead thread's mutexes).
    Gone,
    /// This platform cannot tell; callers fall back to a timeout.
    Unknown,
}

impl Mapping {
    #[allow(dead_code)] // used by the typed layer, next
    /// `ReleaseMutex` on the liveness mutex that [`create`] took before the
    /// mapping existed. Called once the creator has published its contents,
    /// on the thread that created the segment: a Windows mutex belongs to a
    /// thread, and a release from another thread fails (and is ignored).
    pub(crate) fn release_creator_lock(&self) {
        if let Some(lock) = &self.lock {
            // SAFETY:
            // - `lock.0` is a valid mutex handle owned by `self`;
            // - releasing a mutex that this thread does not own fails with
            //   `ERROR_NOT_OWNER` and changes nothing.
            unsafe { ReleaseMutex(lock.0) };
        }
    }

    #[allow(dead_code)] // used by the typed layer, next
    /// `OpenMutexW` and `WaitForSingleObject(0)` on the creator's liveness
    /// mutex: a timeout means the creator still holds it; acquiring it
    /// (normally, or as abandoned by a dead creator) means it is gone, and the
    /// mutex is released again at once; no mutex at all means the creator is
    /// gone too.
    ///
    /// The probe runs on a fresh thread: a mutex is recursive for its owning
    /// thread, so if this were the creating thread it would always acquire
    /// its own lock and wrongly report `Gone`.
    pub(crate) fn creator_state(&self) -> CreatorState {
        std::thread::scope(|s| {
            match std::thread::Builder::new().spawn_scoped(s, || probe_lock(&self.lock_name)) {
                Ok(probe) => probe.join().unwrap_or(CreatorState::Unknown),
                Err(_) => CreatorState::Unknown,
            }
        })
    }

    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Always `false`: a section cannot shrink under a view (see the module
    /// docs), so no access can lose the segment's pages.
    #[inline]
    pub(crate) fn lost(&self) -> bool {
        false
    }

    /// Always `false`: a section cannot shrink.
    pub(crate) fn file_shrunk(&self) -> bool {
        false
    }

    /// Nothing to mark: a Windows view is never lost.
    pub(crate) fn mark_lost(&self) {}

    /// Nothing to record: a section cannot shrink, so its end marker is
    /// only ever lost to a peer writing over it, which the copying calls
    /// see (`Segment::check_mapped`).
    pub(crate) fn set_end_marker(&self, _off: usize) {}

    /// The error for a lost mapping, which a Windows view never is.
    #[cold]
    pub(crate) fn lost_error(&self, name: &Name) -> Error {
        Error::Truncated {
            name: name.to_string(),
        }
    }

    /// Nothing to do: a Windows mapping has no name to remove; it disappears
    /// when its last handle closes.
    pub(crate) fn remove_if_same(&self, _name: &Name) -> bool {
        false
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        let view = MEMORY_MAPPED_VIEW_ADDRESS {
            Value: self.ptr.as_ptr().cast(),
        };
        // SAFETY:
        // - `view` is the base address that `MapViewOfFile` returned, not yet
        //   unmapped;
        // - the view is not used after this: `Mapping` is being dropped and
        //   hands out no references that outlive it.
        unsafe { UnmapViewOfFile(view) };
        wake::unregister_view(self.ptr.as_ptr() as usize);
        if let Some(lock) = &self.lock {
            // SAFETY: as in `release_creator_lock`; a creator that never
            // published releases here (if on the creating thread), and
            // closing the last handle of a still-owned mutex abandons it.
            unsafe { ReleaseMutex(lock.0) };
        }
        // The section and mutex handles are closed (`CloseHandle`) by
        // `Handle`'s drop, after the view is gone.
    }
}

/// The calling thread's last error code (`GetLastError`).
fn last_error() -> WIN32_ERROR {
    // SAFETY: `GetLastError` has no preconditions.
    unsafe { GetLastError() }
}

/// Clears the last error, so that a success that leaves it untouched is not
/// mistaken for `ERROR_ALREADY_EXISTS` left over from an earlier call.
fn clear_last_error() {
    // SAFETY: `SetLastError` has no preconditions.
    unsafe { SetLastError(0) }
}

/// Maps a Win32 error to the error the user can act on. `len` is the size
/// asked for, reported with [`Error::NoSpace`].
fn error(name: &Name, op: &'static str, code: WIN32_ERROR, len: usize) -> Error {
    let name_s = name.as_str().to_owned();
    let source = std::io::Error::from_raw_os_error(code as i32);
    match code {
        ERROR_FILE_NOT_FOUND => Error::NotFound { name: name_s },
        ERROR_ALREADY_EXISTS => Error::AlreadyExists { name: name_s },
        ERROR_ACCESS_DENIED => Error::PermissionDenied {
            name: name_s,
            source,
            hint: crate::error::ACCESS_HINT,
        },
        ERROR_NOT_ENOUGH_MEMORY | ERROR_OUTOFMEMORY | ERROR_COMMITMENT_LIMIT | ERROR_DISK_FULL => {
            Error::NoSpace {
                name: name_s,
                len: len as u64,
                source,
            }
        }
        // The name belongs to a kernel object of another type (an event, a
        // mutex, ...): Windows names share one namespace.
        ERROR_INVALID_HANDLE => Error::NotRegularFile {
            name: name_s,
            kind: "kernel object of another type",
        },
        _ => Error::Io {
            name: name_s,
            op,
            source,
        },
    }
}

/// `s` as a NUL-terminated UTF-16 string.
fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(Some(0)).collect()
}

/// The namespace prefix: `Global\` or `Local\`.
fn namespace(global: bool) -> &'static str {
    if global {
        "Global\\"
    } else {
        "Local\\"
    }
}

/// The mapping's kernel name, `Local\NAME` or `Global\NAME`.
fn section_name(name: &Name, global: bool) -> Vec<u16> {
    wide(&format!("{}{name}", namespace(global)))
}

/// The creator lock's kernel name. The `:` cannot occur in a portable name,
/// so no segment's own name can collide with it.
fn lock_name(name: &Name, global: bool) -> Vec<u16> {
    wide(&format!("{}shmkit-init:{name}", namespace(global)))
}

/// What an opener sees of the creator lock (see [`Mapping::creator_state`]);
/// runs on a thread that has never owned it.
fn probe_lock(lock_name: &[u16]) -> CreatorState {
    // SAFETY:
    // - `lock_name` is a NUL-terminated UTF-16 string that outlives the call;
    // - the returned handle, if any, is owned by the `Handle` below.
    let raw = unsafe { OpenMutexW(SYNCHRONIZE | MUTEX_MODIFY_STATE, 0, lock_name.as_ptr()) };
    if raw.is_null() {
        return match last_error() {
            // The creator closed it, or died and the OS closed it for it.
            ERROR_FILE_NOT_FOUND => CreatorState::Gone,
            _ => CreatorState::Unknown,
        };
    }
    let lock = Handle(raw);
    // SAFETY: `lock.0` is a valid mutex handle opened with `SYNCHRONIZE`.
    match unsafe { WaitForSingleObject(lock.0, 0) } {
        WAIT_TIMEOUT => CreatorState::Alive,
        WAIT_OBJECT_0 | WAIT_ABANDONED => {
            // SAFETY: this thread acquired the mutex just now (normally or
            // abandoned), so it owns it and may release it; the handle has
            // `MUTEX_MODIFY_STATE`.
            unsafe { ReleaseMutex(lock.0) };
            CreatorState::Gone
        }
        _ => CreatorState::Unknown,
    }
}

/// A security descriptor made by `ConvertStringSecurityDescriptorToSecurityDescriptorW`,
/// freed with `LocalFree`.
struct SecurityDescriptor(PSECURITY_DESCRIPTOR);

impl SecurityDescriptor {
    fn from_sddl(name: &Name, sddl: &str) -> Result<SecurityDescriptor> {
        let sddl = wide(sddl);
        let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY:
        // - `sddl` is a NUL-terminated UTF-16 string that outlives the call;
        // - `sd` is a valid place for the output pointer; the size output is
        //   optional and passed as null;
        // - the descriptor it allocates is owned by the returned value, which
        //   frees it once with `LocalFree`.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                sddl.as_ptr(),
                SDDL_REVISION_1,
                &mut sd,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 || sd.is_null() {
            return Err(os_io(
                name,
                "ConvertStringSecurityDescriptorToSecurityDescriptorW",
            ));
        }
        Ok(SecurityDescriptor(sd))
    }

    /// Attributes that point at this descriptor; valid while `self` lives.
    fn attributes(&self) -> SECURITY_ATTRIBUTES {
        SECURITY_ATTRIBUTES {
            nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: self.0,
            bInheritHandle: 0,
        }
    }
}

impl Drop for SecurityDescriptor {
    fn drop(&mut self) {
        // SAFETY:
        // - `self.0` was allocated by `ConvertStringSecurityDescriptorToSecurityDescriptorW`,
        //   which documents `LocalFree` as the way to free it;
        // - it is freed only here, and no `SECURITY_ATTRIBUTES` pointing at it
        //   outlives `self` (see `attributes`).
        unsafe { LocalFree(self.0) };
    }
}

/// [`Error::Io`] from the last error, for calls whose failure has no more
/// specific meaning.
fn os_io(name: &Name, op: &'static str) -> Error {
    Error::Io {
        name: name.to_string(),
        op,
        source: std::io::Error::last_os_error(),
    }
}

/// A SID of this process's token, as an SDDL string (`S-1-5-21-...`):
/// `TokenUser` for the user, `TokenPrimaryGroup` for the primary group.
fn token_sid(name: &Name, class: TOKEN_INFORMATION_CLASS) -> Result<String> {
    let mut raw: HANDLE = std::ptr::null_mut();
    // SAFETY:
    // - `GetCurrentProcess` returns a pseudo-handle that needs no closing;
    // - `raw` is a valid place for the token handle, which `Handle` then owns.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut raw) } == 0 {
        return Err(os_io(name, "OpenProcessToken"));
    }
    let token = Handle(raw);
    // Ask for the size first; the buffer is made of u64 so that the
    // `TOKEN_USER` / `TOKEN_PRIMARY_GROUP` at its start is aligned.
    let mut needed = 0u32;
    // SAFETY: a null buffer of length 0 is allowed; the call only writes the
    // size needed to `needed`.
    unsafe { GetTokenInformation(token.0, class, std::ptr::null_mut(), 0, &mut needed) };
    let mut buf = vec![0u64; (needed as usize).div_ceil(8).max(1)];
    let size = u32::try_from(buf.len() * 8).unwrap_or(u32::MAX);
    // SAFETY:
    // - `buf` is writable for `size` bytes and 8-aligned, which suits the
    //   pointer-bearing structures written to it;
    // - `needed` is a valid place for the length written.
    let ok =
        unsafe { GetTokenInformation(token.0, class, buf.as_mut_ptr().cast(), size, &mut needed) };
    if ok == 0 {
        return Err(os_io(name, "GetTokenInformation"));
    }
    let sid: PSID = if class == TokenUser {
        // SAFETY: for `TokenUser` the buffer starts with an initialised
        // `TOKEN_USER`, and `buf` is aligned for it.
        unsafe { (*buf.as_ptr().cast::<TOKEN_USER>()).User.Sid }
    } else {
        // SAFETY: for `TokenPrimaryGroup` the buffer starts with an
        // initialised `TOKEN_PRIMARY_GROUP`, and `buf` is aligned for it.
        unsafe { (*buf.as_ptr().cast::<TOKEN_PRIMARY_GROUP>()).PrimaryGroup }
    };
    let mut text: *mut u16 = std::ptr::null_mut();
    // SAFETY:
    // - `sid` points into `buf`, which is alive, at a SID the call wrote;
    // - `text` is a valid place for the output, allocated by the call and
    //   freed below with `LocalFree`.
    if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 || text.is_null() {
        return Err(os_io(name, "ConvertSidToStringSidW"));
    }
    // SAFETY: `text` is a NUL-terminated UTF-16 string allocated by the
    // call above; it is read up to its NUL and not after the free below.
    let s = unsafe {
        let len = (0..).take_while(|&i| *text.add(i) != 0).count();
        String::from_utf16_lossy(std::slice::from_raw_parts(text, len))
    };
    // SAFETY: `text` was allocated by `ConvertSidToStringSidW`, whose
    // documentation says to free it with `LocalFree`; it is freed once.
    unsafe { LocalFree(text.cast()) };
    Ok(s)
}

/// The SDDL of a new segment's DACL, for the mapping and for its lock.
///
/// `D:P` is a protected DACL (nothing inherited) listing every access
/// granted; whoever is not listed gets nothing:
/// - the creating user (the token's user SID): all access;
/// - group bits of `mode` (`0o070`): the token's primary group gets
///   `SECTION_QUERY | SECTION_MAP_READ` for `r` and `SECTION_MAP_WRITE` for
///   `w`;
/// - other bits (`0o007`): the same for Authenticated Users (`AU`).
///
/// Execute bits grant nothing. Whoever may map a segment may also take and
/// release its creator lock (`SYNCHRONIZE | MUTEX_MODIFY_STATE`), which an
/// opener needs to tell whether the creator is alive.
fn sddl(user: &str, group: Option<&str>, mode: u32) -> (String, String) {
    let rights = |bits: u32| {
        let mut r = 0;
        if bits & 0o4 != 0 {
            r |= SECTION_QUERY | SECTION_MAP_READ;
        }
        if bits & 0o2 != 0 {
            r |= SECTION_MAP_WRITE;
        }
        r
    };
    let mut section = format!("D:P(A;;{SECTION_ALL_ACCESS:#x};;;{user})");
    let mut lock = format!("D:P(A;;{MUTEX_ALL_ACCESS:#x};;;{user})");
    let lock_rights = SYNCHRONIZE | MUTEX_MODIFY_STATE;
    for (sid, bits) in [(group, mode >> 3), (Some("AU"), mode)] {
        let (Some(sid), r) = (sid, rights(bits & 0o7)) else {
            continue;
        };
        if r != 0 {
            section.push_str(&format!("(A;;{r:#x};;;{sid})"));
            lock.push_str(&format!("(A;;{lock_rights:#x};;;{sid})"));
        }
    }
    (section, lock)
}

/// Takes the creator lock: `CreateMutexW(owned)`, or, if the mutex exists
/// already, `WaitForSingleObject(0)` to take it once nobody holds it.
///
/// Who else can hold it: a creator of this name (whose mapping exists, or is
/// about to: it takes the lock first), or, for a moment, an opener asking
/// [`Mapping::creator_state`]. So while it is held the loop checks for the
/// mapping, and gives [`Error::AlreadyExists`] as soon as it appears, or if
/// it has not appeared within `timeout` (a creator stuck before making it).
fn take_creator_lock(
    name: &Name,
    lock_name: &[u16],
    section_name: &[u16],
    sa: &SECURITY_ATTRIBUTES,
    timeout: Duration,
) -> Result<Handle> {
    clear_last_error();
    // SAFETY:
    // - `sa` points at valid attributes whose descriptor outlives the call;
    // - `lock_name` is a NUL-terminated UTF-16 string;
    // - the returned handle, if any, is owned by the `Handle` below.
    let raw = unsafe { CreateMutexW(sa, 1, lock_name.as_ptr()) };
    if raw.is_null() {
        return Err(match last_error() {
            // Another user's lock: their segment of this name exists or is
            // being made, as POSIX's `O_EXCL` would say.
            ERROR_ACCESS_DENIED => Error::AlreadyExists {
                name: name.to_string(),
            },
            code => error(name, "CreateMutexW", code, 0),
        });
    }
    let existed = last_error() == ERROR_ALREADY_EXISTS;
    let lock = Handle(raw);
    if !existed {
        return Ok(lock);
    }
    // `CreateMutexW` of an existing mutex does not take ownership.
    let start = Instant::now();
    let mut pause = Duration::from_micros(50);
    loop {
        // SAFETY: `lock.0` is a valid mutex handle with `SYNCHRONIZE` (the
        // handle of a create has all access).
        match unsafe { WaitForSingleObject(lock.0, 0) } {
            WAIT_OBJECT_0 | WAIT_ABANDONED => return Ok(lock),
            _ if section_exists(section_name) != Some(false) || start.elapsed() >= timeout => {
                return Err(Error::AlreadyExists {
                    name: name.to_string(),
                })
            }
            _ => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
        }
    }
}

/// `OpenFileMappingW(FILE_MAP_READ)`: whether a mapping (or another kernel
/// object) has this kernel name, `None` if Windows will not say.
fn section_exists(section_name: &[u16]) -> Option<bool> {
    // SAFETY:
    // - `section_name` is a NUL-terminated UTF-16 string;
    // - the returned handle, if any, is owned by the `Handle` below.
    let raw = unsafe { OpenFileMappingW(FILE_MAP_READ, 0, section_name.as_ptr()) };
    if !raw.is_null() {
        drop(Handle(raw));
        return Some(true);
    }
    match last_error() {
        ERROR_FILE_NOT_FOUND => Some(false),
        // Someone else's mapping, or an object of another type.
        ERROR_ACCESS_DENIED | ERROR_INVALID_HANDLE => Some(true),
        _ => None,
    }
}

/// `CreateMutexW` (the creator lock, owned), `CreateFileMappingW` (paging
/// file, with an explicit security descriptor), `MapViewOfFile`.
///
/// A name that exists already fails with [`Error::AlreadyExists`]:
/// `CreateFileMappingW` then opens the existing mapping and says
/// `ERROR_ALREADY_EXISTS`, and that handle is closed again untouched.
pub(crate) fn create(name: &Name, len: usize, opts: &SegmentOptions) -> Result<Mapping> {
    if opts.persist {
        return Err(Error::Unsupported {
            what: "persist(true) on Windows: a mapping lives only while some process has it \
                   open and vanishes with the last handle; keep a process holding the Segment \
                   instead",
        });
    }
    let mode = opts.mode.unwrap_or(0o600);
    let user = token_sid(name, TokenUser)?;
    let group = if mode & 0o070 != 0 {
        Some(token_sid(name, TokenPrimaryGroup)?)
    } else {
        None
    };
    let (section_sddl, lock_sddl) = sddl(&user, group.as_deref(), mode);
    let section_sd = SecurityDescriptor::from_sddl(name, &section_sddl)?;
    let lock_sd = SecurityDescriptor::from_sddl(name, &lock_sddl)?;

    // The lock is taken before the mapping exists, so no opener can see the
    // mapping while its creator does not hold the lock.
    let lock_name = lock_name(name, opts.global);
    let section_name = section_name(name, opts.global);
    let lock = take_creator_lock(
        name,
        &lock_name,
        &section_name,
        &lock_sd.attributes(),
        opts.timeout,
    )?;
    let release = |lock: Handle| {
        // SAFETY: this thread owns `lock` (taken just above).
        unsafe { ReleaseMutex(lock.0) };
    };

    let size = len as u64;
    let sa = section_sd.attributes();
    clear_last_error();
    // SAFETY:
    // - `INVALID_HANDLE_VALUE` asks for a mapping backed by the paging file;
    // - `sa` points at valid attributes whose descriptor outlives the call;
    // - `section_name` is a NUL-terminated UTF-16 string;
    // - the returned handle, if any, is owned by the `Handle` below.
    let raw = unsafe {
        CreateFileMappingW(
            INVALID_HANDLE_VALUE,
            &sa,
            PAGE_READWRITE,
            (size >> 32) as u32,
            size as u32,
            section_name.as_ptr(),
        )
    };
    if raw.is_null() {
        let code = last_error();
        release(lock);
        return Err(match code {
            // Denied the existing mapping of another user: the name is
            // taken, as POSIX's `O_EXCL` would say.
            ERROR_ACCESS_DENIED if section_exists(&section_name) == Some(true) => {
                Error::AlreadyExists {
                    name: name.to_string(),
                }
            }
            ERROR_ACCESS_DENIED if opts.global => Error::PermissionDenied {
                name: name.to_string(),
                source: std::io::Error::from_raw_os_error(ERROR_ACCESS_DENIED as i32),
                hint: "creating a Global\\ segment needs the SeCreateGlobalPrivilege \
                       privilege, which administrators and services have; run with it, or \
                       leave .global(false) to share within this session",
            },
            code => error(name, "CreateFileMappingW", code, len),
        });
    }
    let existed = last_error() == ERROR_ALREADY_EXISTS;
    let section = Handle(raw);
    if existed {
        drop(section);
        release(lock);
        return Err(Error::AlreadyExists {
            name: name.to_string(),
        });
    }
    // Name and size come in the one call: there is no `segment-after-name`.
    crate::failpoint::hit("segment-after-size");
    // On failure `map` closes the section, and with it the new mapping goes.
    map(
        name,
        opts.global,
        section,
        len,
        opts.read_only,
        lock_name,
        Some(lock),
    )
}

/// `OpenFileMappingW`, `MapViewOfFile` of the whole mapping, and
/// `VirtualQuery` for its size, which is therefore page-rounded.
pub(crate) fn open(name: &Name, opts: &SegmentOptions) -> Result<Mapping> {
    let access = if opts.read_only {
        FILE_MAP_READ
    } else {
        FILE_MAP_READ | FILE_MAP_WRITE
    };
    let section_name = section_name(name, opts.global);
    // SAFETY:
    // - `section_name` is a NUL-terminated UTF-16 string;
    // - the returned handle, if any, is owned by the `Handle` below.
    let raw = unsafe { OpenFileMappingW(access, 0, section_name.as_ptr()) };
    if raw.is_null() {
        return Err(error(name, "OpenFileMappingW", last_error(), 0));
    }
    let section = Handle(raw);
    // Length 0 maps the whole mapping.
    map(
        name,
        opts.global,
        section,
        0,
        opts.read_only,
        lock_name(name, opts.global),
        None,
    )
}

/// `MapViewOfFile` of the first `len` bytes of `section` (all of it if
/// `len` is 0, with the size then taken from `VirtualQuery`).
fn map(
    name: &Name,
    global: bool,
    section: Handle,
    len: usize,
    read_only: bool,
    lock_name: Vec<u16>,
    lock: Option<Handle>,
) -> Result<Mapping> {
    let access = if read_only {
        FILE_MAP_READ
    } else {
        FILE_MAP_READ | FILE_MAP_WRITE
    };
    // SAFETY:
    // - `section.0` is a valid file-mapping handle opened with at least
    //   `access` (the creator's has all access);
    // - offset 0 and a `len` within the mapping (or 0 for all of it) are
    //   valid; Windows picks a fresh address range, so no existing Rust
    //   object is overlapped;
    // - the view is owned by the returned `Mapping`, which unmaps it once.
    let view = unsafe { MapViewOfFile(section.0, access, 0, 0, len) };
    let Some(ptr) = NonNull::new(view.Value.cast::<u8>()) else {
        let code = last_error();
        if let Some(lock) = lock {
            // SAFETY: a creator's `lock` is owned by this thread, which took
            // it in `create`.
            unsafe { ReleaseMutex(lock.0) };
        }
        return Err(error(name, "MapViewOfFile", code, len));
    };
    let mut mapping = Mapping {
        ptr,
        len,
        _section: section,
        lock,
        lock_name,
    };
    if len == 0 {
        let mut info = MEMORY_BASIC_INFORMATION::default();
        // SAFETY:
        // - `ptr` is the base of the view just mapped, a valid address to ask
        //   about;
        // - `info` is writable for the size passed.
        let got = unsafe {
            VirtualQuery(
                mapping.ptr.as_ptr().cast(),
                &mut info,
                std::mem::size_of::<MEMORY_BASIC_INFORMATION>(),
            )
        };
        if got == 0 || info.RegionSize == 0 {
            // `mapping`'s drop unmaps and closes.
            return Err(os_io(name, "VirtualQuery"));
        }
        mapping.len = info.RegionSize;
    }
    wake::register_view(
        mapping.ptr.as_ptr() as usize,
        mapping.len,
        format!("{}shmkit-wake:{name}:", namespace(global)),
    );
    Ok(mapping)
}

/// Always `None`: a section cannot shrink under a view, so no value
/// borrowed in place from one can be lost.
#[inline]
pub(crate) fn lost_at(_addr: *const u8) -> Option<Error> {
    None
}

/// Always `None`, as [`lost_at`].
///
/// # Safety
/// None needed here; the signature matches the POSIX one.
pub(crate) unsafe fn marker_lost_at(_addr: *const u8) -> Option<Error> {
    None
}

/// Windows has no unlink: [`Error::Unsupported`] if the mapping exists,
/// [`Error::NotFound`] if it does not. Looks in `Local\` only.
pub(crate) fn remove(name: &Name) -> Result<()> {
    if exists(name)? {
        Err(Error::Unsupported {
            what: "Segment::remove on Windows: a mapping has no name to remove; it disappears \
                   when the last process that has it open drops its Segment",
        })
    } else {
        Err(Error::NotFound {
            name: name.to_string(),
        })
    }
}

/// Whether `Local\NAME` names anything: a mapping (`OpenFileMappingW`
/// succeeds or is denied access) or another kernel object.
pub(crate) fn exists(name: &Name) -> Result<bool> {
    section_exists(&section_name(name, false))
        .ok_or_else(|| error(name, "OpenFileMappingW", last_error(), 0))
}

/// A queue role's liveness lock: a named event, `Local\shmkit-role:NAME:ROLE`,
/// that the role's holders keep a handle to. A kernel object lives exactly as
/// long as some handle to it is open, and the OS closes a dead process's
/// handles, so "the object exists" means "a holder lives". No thread owns it
/// (unlike a mutex), so an endpoint may move between threads.
///
/// - single-holder roles: `CreateEventW` reporting `ERROR_ALREADY_EXISTS`
///   means another holder lives (a prober's brief handle can look like one;
///   the caller retries for a while);
/// - probes: `OpenEventW` fails with `ERROR_FILE_NOT_FOUND` once no holder
///   is left.
pub(crate) struct RoleLock {
    object: Vec<u16>,
    held: std::sync::OnceLock<OwnedHandle>,
    /// Why the event could not be made, once that is known.
    problem: std::sync::OnceLock<String>,
}

/// A handle closed on drop.
struct OwnedHandle(HANDLE);

// SAFETY: a kernel handle is a process-wide value, usable from any thread.
unsafe impl Send for OwnedHandle {}
// SAFETY: `OwnedHandle` offers no operation through `&self`.
unsafe impl Sync for OwnedHandle {}

impl Drop for OwnedHandle {
    fn drop(&mut self) {
        // SAFETY: the handle was returned by `CreateEventW` and is closed once.
        unsafe { CloseHandle(self.0) };
    }
}

fn role_object(name: &str, role: &str) -> Vec<u16> {
    // ':' cannot appear in a portable name, so this never names a segment.
    wide(&format!("Local\\shmkit-role:{name}:{role}"))
}

impl RoleLock {
    /// For an endpoint that will hold the role: nothing is created until
    /// [`hold_exclusive`](Self::hold_exclusive) or
    /// [`hold_shared`](Self::hold_shared).
    ///
    /// `trusted` and `mode` (for queues shared between users on POSIX)
    /// have no effect: the event gets the default DACL, its creator's.
    pub(crate) fn open(name: &str, role: &str, _trusted: &[u32], _mode: u32) -> RoleLock {
        RoleLock {
            object: role_object(name, role),
            held: std::sync::OnceLock::new(),
            problem: std::sync::OnceLock::new(),
        }
    }

    /// A probe of a role; never creates anything.
    pub(crate) fn probe_only(name: &str, role: &str, _trusted: &[u32]) -> RoleLock {
        RoleLock::open(name, role, &[], 0o600)
    }

    /// Named events always work here.
    pub(crate) fn works(&self) -> bool {
        true
    }

    /// `CreateEventW`: the handle, and whether the event existed already.
    fn create(&self) -> Option<(OwnedHandle, bool)> {
        // SAFETY: `object` is a NUL-terminated UTF-16 string that outlives the
        // call; a null security-attributes pointer asks for the default DACL
        // (the creating user's), which is what a liveness marker needs.
        let h = unsafe { CreateEventW(std::ptr::null(), 1, 0, self.object.as_ptr()) };
        if h.is_null() {
            return None;
        }
        // SAFETY: `GetLastError` has no preconditions.
        let existed = unsafe { GetLastError() } == ERROR_ALREADY_EXISTS;
        Some((OwnedHandle(h), existed))
    }

    /// Takes the role if nobody else holds it: `false` if another holder
    /// lives, or if the event cannot be made (then [`problem`](Self::problem)
    /// says why).
    pub(crate) fn hold_exclusive(&self) -> bool {
        if self.held.get().is_some() {
            return true;
        }
        match self.create() {
            Some((_, true)) => false,
            Some((h, false)) => {
                let _ = self.held.set(h);
                true
            }
            None => {
                let err = std::io::Error::last_os_error();
                let _ = self.problem.set(format!(
                    "CreateEventW on {} failed ({err})",
                    String::from_utf16_lossy(&self.object[..self.object.len() - 1]),
                ));
                false
            }
        }
    }

    /// Why the role's event cannot be used: `None` while it works.
    pub(crate) fn problem(&self) -> Option<&str> {
        self.problem.get().map(String::as_str)
    }

    /// Records why the lock cannot be used, for a caller that found it held
    /// by something that is no endpoint of the queue.
    pub(crate) fn set_problem(&self, why: String) {
        let _ = self.problem.set(why);
    }

    /// Which lock this is: a role has one event name, so always the same
    /// value (never 0 or `u64::MAX`, which the claim words reserve).
    pub(crate) fn identity(&self) -> Option<u64> {
        Some(2)
    }

    /// Joins the role's holders; if the event cannot be made,
    /// [`problem`](Self::problem) says why.
    pub(crate) fn hold_shared(&self) {
        if self.held.get().is_none() {
            match self.create() {
                Some((h, _)) => {
                    let _ = self.held.set(h);
                }
                None => {
                    let err = std::io::Error::last_os_error();
                    let _ = self.problem.set(format!(
                        "CreateEventW on {} failed ({err})",
                        String::from_utf16_lossy(&self.object[..self.object.len() - 1]),
                    ));
                }
            }
        }
    }

    fn probe(&self) -> CreatorState {
        // SAFETY: `object` is NUL-terminated and outlives the call.
        let h = unsafe { OpenEventW(SYNCHRONIZATION_SYNCHRONIZE, 0, self.object.as_ptr()) };
        if h.is_null() {
            // SAFETY: `GetLastError` has no preconditions.
            return match unsafe { GetLastError() } {
                ERROR_FILE_NOT_FOUND => CreatorState::Gone,
                _ => CreatorState::Unknown,
            };
        }
        drop(OwnedHandle(h));
        CreatorState::Alive
    }

    /// Whether the holder of a single-holder role lives.
    pub(crate) fn probe_exclusive(&self) -> CreatorState {
        self.probe()
    }

    /// Whether any holder of a shared role lives.
    pub(crate) fn probe_shared(&self) -> CreatorState {
        self.probe()
    }
}

/// Nothing to remove on Windows: a role's event goes with its last holder.
pub(crate) fn remove_role_lock(_name: &str, _role: &str) {}

/// Cross-process wake-ups for the sync waits (`sync/wait_fallback.rs` on
/// Windows). `WaitOnAddress` wakes only threads of its own process, so a word
/// in a named section gets a named semaphore instead,
/// `Local\shmkit-wake:NAME:OFFSET` (or `Global\...`): the same object in
/// every process that maps the section, whatever address the view has there.
///
/// A waiter creates (or opens) the semaphore *before* it checks the word, and
/// a waker changes the word *before* it opens the semaphore to release it: a
/// waker that finds no semaphore changed the word before any waiter could
/// look, so no wake-up is lost. A release with nobody waiting leaves a
/// permit, and the next wait returns at once: a spurious wake-up, which every
/// caller handles by re-checking (the count is capped at [`MAX_PERMITS`]).
/// Waits still end after at most [`SLICE`], as a safety net.
#[cfg_attr(any(loom, miri), allow(dead_code))] // their waits poll
pub(crate) mod wake {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Mutex;
    use std::time::Duration;

    use windows_sys::Win32::Foundation::{CloseHandle, HANDLE, WAIT_OBJECT_0};
    use windows_sys::Win32::System::Threading::{
        CreateSemaphoreW, OpenSemaphoreW, ReleaseSemaphore, WaitForMultipleObjects,
        WaitForSingleObject, SEMAPHORE_MODIFY_STATE, SYNCHRONIZATION_SYNCHRONIZE,
    };

    use super::wide;

    /// Permits a semaphore holds at most.
    const MAX_PERMITS: i32 = 256;
    /// The longest one wait sleeps before its caller re-checks.
    const SLICE: Duration = Duration::from_millis(50);

    /// Views of named sections in this process: base, length and the prefix
    /// of their words' semaphore names.
    static VIEWS: Mutex<Vec<(usize, usize, String)>> = Mutex::new(Vec::new());
    /// Semaphores this process has opened, by name; closed with their view.
    static OPEN: Mutex<Vec<(String, usize)>> = Mutex::new(Vec::new());
    /// Waits that ended because a semaphore was released (for tests).
    pub(crate) static SIGNALLED: AtomicU64 = AtomicU64::new(0);

    pub(super) fn register_view(base: usize, len: usize, prefix: String) {
        if let Ok(mut views) = VIEWS.lock() {
            views.push((base, len, prefix));
        }
    }

    pub(super) fn unregister_view(base: usize) {
        let prefix = {
            let Ok(mut views) = VIEWS.lock() else { return };
            let Some(i) = views.iter().position(|v| v.0 == base) else {
                return;
            };
            let prefix = views.swap_remove(i).2;
            // Another view of the same section keeps its semaphores.
            if views.iter().any(|v| v.2 == prefix) {
                return;
            }
            prefix
        };
        if let Ok(mut open) = OPEN.lock() {
            open.retain(|(name, handle)| {
                if name.starts_with(&prefix) {
                    // SAFETY: `handle` came from `CreateSemaphoreW` or
                    // `OpenSemaphoreW`, is closed once (it leaves the list
                    // here), and no wait can be using it: its view is gone.
                    unsafe { CloseHandle(*handle as HANDLE) };
                    false
                } else {
                    true
                }
            });
        }
    }

    /// The semaphore of the word at `addr`: created if `create`, else only
    /// opened if some waiter made it. `None` outside named sections.
    fn semaphore(addr: usize, create: bool) -> Option<HANDLE> {
        let name = {
            let views = VIEWS.lock().ok()?;
            let (base, _, prefix) = views
                .iter()
                .find(|(base, len, _)| addr >= *base && addr - base < *len)?;
            format!("{prefix}{}", addr - base)
        };
        let mut open = OPEN.lock().ok()?;
        if let Some((_, h)) = open.iter().find(|(n, _)| *n == name) {
            return Some(*h as HANDLE);
        }
        let wname = wide(&name);
        // SAFETY: `wname` is a NUL-terminated UTF-16 string that outlives
        // the call; a null security-attributes pointer gives the default
        // DACL (this user's), as for the section itself. The handle, if
        // any, is owned by `OPEN` from here on.
        let h = unsafe {
            if create {
                CreateSemaphoreW(std::ptr::null(), 0, MAX_PERMITS, wname.as_ptr())
            } else {
                OpenSemaphoreW(
                    SEMAPHORE_MODIFY_STATE | SYNCHRONIZATION_SYNCHRONIZE,
                    0,
                    wname.as_ptr(),
                )
            }
        };
        if h.is_null() {
            return None;
        }
        open.push((name, h as usize));
        Some(h)
    }

    /// Sleeps while `still()` holds, until released or for at most
    /// `timeout` (and [`SLICE`]). `false` if the word is not in a named
    /// section: the caller must poll instead.
    pub(crate) fn wait(
        addr: usize,
        still: impl FnOnce() -> bool,
        timeout: Option<Duration>,
    ) -> bool {
        let Some(sem) = semaphore(addr, true) else {
            return false;
        };
        if !still() {
            return true;
        }
        let t = timeout.map_or(SLICE, |t| t.min(SLICE));
        // Round up: a zero wait would turn the caller's loop into a spin.
        let ms = u32::try_from(t.as_micros().div_ceil(1000)).unwrap_or(u32::MAX);
        // SAFETY: `sem` is a live semaphore handle owned by `OPEN`.
        if unsafe { WaitForSingleObject(sem, ms) } == WAIT_OBJECT_0 {
            SIGNALLED.fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    /// The most handles one `WaitForMultipleObjects` call takes
    /// (`MAXIMUM_WAIT_OBJECTS`).
    pub(crate) const WAIT_MANY_MAX: usize = 64;

    /// `WaitForMultipleObjects` on the semaphores of the words at `addrs`
    /// (the first [`WAIT_MANY_MAX`] of them in named sections): sleeps while
    /// `still()` holds, until one is released, for at most `timeout` if
    /// every word is watched, else `partial` (and [`SLICE`]). Each
    /// semaphore is made before `still()` is checked, so a wake-up after
    /// the check finds it and is not lost, as in [`wait`]. Returns how many
    /// words were watched: with none, the caller must poll.
    pub(crate) fn wait_many(
        addrs: &[usize],
        still: impl FnOnce() -> bool,
        timeout: Duration,
        partial: Duration,
    ) -> usize {
        let handles: Vec<HANDLE> = addrs
            .iter()
            .filter_map(|&addr| semaphore(addr, true))
            .take(WAIT_MANY_MAX)
            .collect();
        if handles.is_empty() || !still() {
            return handles.len();
        }
        let t = if handles.len() == addrs.len() {
            timeout
        } else {
            partial
        };
        let t = t.min(SLICE);
        // Round up: a zero wait would turn the caller's loop into a spin.
        let ms = u32::try_from(t.as_micros().div_ceil(1000)).unwrap_or(u32::MAX);
        // SAFETY:
        // - `handles` holds 1 to 64 live semaphore handles owned by `OPEN`
        //   (closed only with their view, which the caller's borrow of the
        //   words keeps mapped), and its length is passed as the count;
        // - the array outlives the call, which only reads it.
        let r = unsafe { WaitForMultipleObjects(handles.len() as u32, handles.as_ptr(), 0, ms) };
        if r.checked_sub(WAIT_OBJECT_0)
            .is_some_and(|i| (i as usize) < handles.len())
        {
            SIGNALLED.fetch_add(1, Ordering::Relaxed);
        }
        handles.len()
    }

    /// Wakes up to `n` waiters on the word at `addr`, in any process.
    pub(crate) fn wake(addr: usize, n: u32) {
        if let Some(sem) = semaphore(addr, false) {
            let n = i32::try_from(n).unwrap_or(i32::MAX).clamp(1, MAX_PERMITS);
            // SAFETY: `sem` is a live semaphore handle owned by `OPEN`. A
            // release past the cap fails, which leaves enough permits.
            unsafe { ReleaseSemaphore(sem, n, std::ptr::null_mut()) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    use std::sync::atomic::{AtomicU32, Ordering};

    use windows_sys::Win32::Security::Authorization::{
        ConvertSecurityDescriptorToStringSecurityDescriptorW, GetSecurityInfo, SE_KERNEL_OBJECT,
    };
    use windows_sys::Win32::Security::DACL_SECURITY_INFORMATION;

    fn unique(tag: &str) -> Name {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let mut s = format!("u{}-{n}-{tag}", std::process::id());
        s.truncate(crate::MAX_NAME_LEN);
        Name::new(&s).unwrap()
    }

    /// This test binary re-run as a child that runs only `test`, with
    /// `SHMKIT_ROLE` set to `arg`; it talks over stdin and stdout.
    fn spawn_child(test: &str, arg: &str) -> std::process::Child {
        Command::new(std::env::current_exe().unwrap())
            .args([test, "--exact", "--nocapture", "--test-threads=1", "-q"])
            .env("SHMKIT_ROLE", arg)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// The next line from a child that starts with `@`, without it.
    fn recv(out: &mut impl BufRead) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            assert_ne!(out.read_line(&mut line).unwrap(), 0, "child ended");
            if let Some(msg) = line.trim_end().strip_prefix('@') {
                return msg.to_owned();
            }
        }
    }

    /// The DACL of the kernel object behind `handle`, as SDDL.
    fn dacl_sddl(handle: HANDLE) -> String {
        let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY:
        // - `handle` is a valid kernel object handle with `READ_CONTROL`
        //   (the creator's handles have all access);
        // - the unwanted outputs are null; `sd` receives a descriptor
        //   allocated for us, freed with `LocalFree` below.
        let err = unsafe {
            GetSecurityInfo(
                handle,
                SE_KERNEL_OBJECT,
                DACL_SECURITY_INFORMATION,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &mut sd,
            )
        };
        assert_eq!(err, 0, "GetSecurityInfo");
        let mut text: *mut u16 = std::ptr::null_mut();
        // SAFETY: `sd` is the valid descriptor just returned; `text`
        // receives a string freed with `LocalFree` below.
        let ok = unsafe {
            ConvertSecurityDescriptorToStringSecurityDescriptorW(
                sd,
                SDDL_REVISION_1,
                DACL_SECURITY_INFORMATION,
                &mut text,
                std::ptr::null_mut(),
            )
        };
        assert_ne!(
            ok, 0,
            "ConvertSecurityDescriptorToStringSecurityDescriptorW"
        );
        // SAFETY: `text` is a NUL-terminated UTF-16 string, read before it is
        // freed; both allocations are freed once, with `LocalFree`.
        unsafe {
            let len = (0..).take_while(|&i| *text.add(i) != 0).count();
            let s = String::from_utf16_lossy(std::slice::from_raw_parts(text, len));
            LocalFree(text.cast());
            LocalFree(sd);
            s
        }
    }

    /// A waiter on an `Event` in a named segment sleeps on the word's named
    /// semaphore and is woken through it (not by its safety-net timeout,
    /// nor by polling); a `Mutex` waiter too. The cross-process tests in
    /// `tests/sync.rs` run the same path across processes.
    #[test]
    fn sync_waits_in_a_segment_are_woken_through_a_named_semaphore() {
        let name = unique("wake");
        let seg = crate::Segment::create(name.as_str(), 4096).unwrap();
        // SAFETY: offset 0 is page-aligned, the 8 bytes stay mapped while
        // `seg` lives (past the scope below), and are used only as this event.
        let e = unsafe { crate::sync::Event::from_ptr(seg.as_ptr()) };
        let before = wake::SIGNALLED.load(Ordering::Relaxed);
        // A notify that lands while the waiter is between two of its wait
        // slices is seen without the semaphore; a few rounds make sure the
        // semaphore path is taken at least once.
        for _ in 0..5 {
            std::thread::scope(|s| {
                let waiter = s.spawn(|| e.wait_timeout(Duration::from_secs(30)));
                // Notify only once the waiter sleeps: it registers as a
                // sleeper in the event's word, then makes its semaphore.
                while e.sleepers() == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
                std::thread::sleep(Duration::from_millis(20));
                e.notify_one().unwrap();
                assert!(waiter.join().unwrap().unwrap(), "the waiter timed out");
            });
        }
        assert!(
            wake::SIGNALLED.load(Ordering::Relaxed) > before,
            "the waiter was not woken through the semaphore"
        );
        // The semaphore of a word outside any named section: none.
        let heap = AtomicU32::new(0);
        assert!(!wake::wait(
            std::ptr::from_ref(&heap) as usize,
            || true,
            Some(Duration::from_millis(1))
        ));
    }

    #[test]
    fn the_dacl_grants_the_creating_user_alone() {
        let name = unique("dacl");
        let user = token_sid(&name, TokenUser).unwrap();
        let map = create(&name, 64, &SegmentOptions::default()).unwrap();
        let dacl = dacl_sddl(map._section.0);
        // One ACE, for this user; not a NULL DACL (which reads "D:NO_ACCESS_CONTROL").
        assert!(dacl.starts_with("D:P(A;;"), "{dacl}");
        assert!(dacl.ends_with(&format!(";;;{user})")), "{dacl}");
        assert_eq!(dacl.matches("(A;").count(), 1, "{dacl}");
        let lock = dacl_sddl(map.lock.as_ref().unwrap().0);
        assert!(lock.ends_with(&format!(";;;{user})")), "{lock}");
        assert_eq!(lock.matches("(A;").count(), 1, "{lock}");
    }

    #[test]
    fn other_bits_of_the_mode_grant_authenticated_users() {
        let name = unique("dacl-au");
        let opts = SegmentOptions::default().mode(0o644).clone();
        let map = create(&name, 64, &opts).unwrap();
        let dacl = dacl_sddl(map._section.0);
        assert!(dacl.contains(";;;AU)"), "{dacl}");
        // Read for group and others: SECTION_QUERY | SECTION_MAP_READ, no write.
        let user = token_sid(&name, TokenUser).unwrap();
        let group = token_sid(&name, TokenPrimaryGroup).unwrap();
        let (section, lock) = sddl(&user, Some(&group), 0o644);
        assert_eq!(
            section,
            format!("D:P(A;;0xf001f;;;{user})(A;;0x5;;;{group})(A;;0x5;;;AU)")
        );
        assert_eq!(
            lock,
            format!("D:P(A;;0x1f0001;;;{user})(A;;0x100001;;;{group})(A;;0x100001;;;AU)")
        );
        // Execute bits alone grant nothing; write alone grants only write.
        let (section, _) = sddl(&user, Some(&group), 0o712);
        assert_eq!(section, format!("D:P(A;;0xf001f;;;{user})(A;;0x2;;;AU)"));
    }

    /// Holds `name`'s creator lock on a thread of its own, without making
    /// the mapping, until `release` is sent; as a creator that is between
    /// taking its lock and `CreateFileMappingW`, or one stuck there.
    fn hold_lock(name: &Name) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
        let lock_name = lock_name(name, false);
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            // SAFETY: `lock_name` is NUL-terminated; default security; the
            // handle is owned by `Handle`.
            let lock = Handle(unsafe { CreateMutexW(std::ptr::null(), 1, lock_name.as_ptr()) });
            assert!(!lock.0.is_null());
            held_tx.send(()).unwrap();
            let _ = release_rx.recv();
            // SAFETY: this thread created the mutex owned.
            unsafe { ReleaseMutex(lock.0) };
        });
        held_rx.recv().unwrap();
        (release_tx, holder)
    }

    #[test]
    fn create_waits_out_a_creator_lock_held_for_a_moment() {
        let name = unique("wait-lock");
        let (release, holder) = hold_lock(&name);
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            release.send(()).unwrap();
        });
        let map = create(&name, 64, &SegmentOptions::default()).unwrap();
        assert_eq!(map.len(), 64);
        releaser.join().unwrap();
        holder.join().unwrap();
    }

    #[test]
    fn a_creator_stuck_before_its_mapping_gives_already_exists_after_the_timeout() {
        let name = unique("stuck-lock");
        let (release, holder) = hold_lock(&name);
        let mut opts = SegmentOptions::default();
        opts.timeout(Duration::from_millis(100));
        let start = Instant::now();
        let err = create(&name, 64, &opts).err().unwrap();
        assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
        assert!(start.elapsed() >= Duration::from_millis(100));
        release.send(()).unwrap();
        holder.join().unwrap();
    }

    /// Windows names of all kernel objects share one namespace: a mutex
    /// squatting a segment's name is reported as such, not as a failure.
    #[test]
    fn a_name_taken_by_another_kind_of_object_is_reported() {
        let name = unique("squat");
        let kernel_name = section_name(&name, false);
        // SAFETY: `kernel_name` is NUL-terminated; default security; the
        // handle is owned by `Handle`.
        let squatter = Handle(unsafe { CreateMutexW(std::ptr::null(), 0, kernel_name.as_ptr()) });
        assert!(!squatter.0.is_null());
        let opts = SegmentOptions::default();
        for err in [
            open(&name, &opts).err().unwrap(),
            create(&name, 8, &opts).err().unwrap(),
        ] {
            assert!(
                matches!(
                    err,
                    Error::NotRegularFile {
                        kind: "kernel object of another type",
                        ..
                    }
                ),
                "{err}"
            );
        }
        assert!(exists(&name).unwrap());
        drop(squatter);
        assert!(!exists(&name).unwrap());
    }

    /// In one process: `Alive` while the creator holds its lock, even when
    /// asked from the creating thread itself, and `Gone` once it released it.
    #[test]
    fn creator_state_is_alive_until_released() {
        let name = unique("alive");
        let opts = SegmentOptions::default();
        let creator = create(&name, 64, &opts).unwrap();
        let opener = open(&name, &opts).unwrap();
        assert_eq!(opener.creator_state(), CreatorState::Alive);
        assert_eq!(creator.creator_state(), CreatorState::Alive);
        creator.release_creator_lock();
        assert_eq!(opener.creator_state(), CreatorState::Gone);
        // Asking does not take the lock for good.
        assert_eq!(opener.creator_state(), CreatorState::Gone);
    }

    /// A creator in another process: `Alive` while it runs, `Gone` once it is
    /// killed, through the abandoned mutex (this test keeps a handle to it,
    /// so it survives its creator), and `Gone` when no mutex is left.
    #[test]
    fn creator_state_is_gone_when_the_creator_is_killed() {
        const TEST: &str = "os::tests::creator_state_is_gone_when_the_creator_is_killed";
        if let Ok(name) = std::env::var("SHMKIT_ROLE") {
            let _map = create(&Name::new(&name).unwrap(), 64, &SegmentOptions::default());
            println!("@created");
            std::io::stdout().flush().unwrap();
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line); // until killed
            return;
        }
        let name = unique("killed");
        let mut child = spawn_child(TEST, name.as_str());
        let mut out = BufReader::new(child.stdout.take().unwrap());
        assert_eq!(recv(&mut out), "created");
        let opener = open(&name, &SegmentOptions::default()).unwrap();
        assert_eq!(opener.creator_state(), CreatorState::Alive);
        // SAFETY: `lock_name` is NUL-terminated; the handle is owned below.
        let held = unsafe { OpenMutexW(SYNCHRONIZE, 0, opener.lock_name.as_ptr()) };
        assert!(!held.is_null());
        let held = Handle(held);
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(opener.creator_state(), CreatorState::Gone); // abandoned
        assert_eq!(opener.creator_state(), CreatorState::Gone); // released
        drop(held);
        assert_eq!(opener.creator_state(), CreatorState::Gone); // not found
    }
}
