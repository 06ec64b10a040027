//! POSIX shared memory: `shm_open`, `ftruncate`, `mmap`, `munmap`, `shm_unlink`.
//!
//! On Linux the objects are files in the tmpfs at `/dev/shm`, which is what
//! glibc's `shm_open` opens. This module opens them there itself, so that it
//! can add `O_NOFOLLOW` (a symlink planted under a victim's name is refused),
//! `O_NONBLOCK` (a FIFO planted there cannot hang the opener) and check the file
//! type, and it reserves the memory with `fallocate` so that a full `/dev/shm`
//! is an error at creation instead of a `SIGBUS` at first touch. Elsewhere
//! (macOS, FreeBSD) it calls the libc `shm_open`, whose namespace holds nothing
//! but shared-memory objects.

use std::ptr::NonNull;
use std::time::{Duration, Instant};

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{self, Mode};
use rustix::io::Errno;
use rustix::mm::{self, MapFlags, ProtFlags};

use crate::name::Name;
use crate::segment::SegmentOptions;
use crate::{Error, Result};

#[path = "guard.rs"]
pub(crate) mod guard;

/// Where Linux keeps POSIX shared-memory objects.
#[cfg(target_os = "linux")]
pub(crate) const SHM_DIR: &str = "/dev/shm";

/// An open, mapped shared-memory object. Dropping it unmaps and closes.
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    fd: OwnedFd,
    /// The mapping's entry in the `SIGBUS` guard's registry.
    guard: guard::Guard,
}

// SAFETY: `Mapping` owns a file descriptor and a `MAP_SHARED` mapping; neither
// is tied to the thread that made it. The bytes behind `ptr` are only reached
// through atomic copies or `unsafe` functions whose callers take on the
// aliasing rules.
unsafe impl Send for Mapping {}
// SAFETY: `&Mapping` gives out only the raw pointer and the length, which are
// immutable for the mapping's lifetime.
unsafe impl Sync for Mapping {}

/// What an opener can tell about the process that created a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CreatorState {
    /// The creator still holds its liveness lock: it is alive and has not
    /// called [`Mapping::release_creator_lock`].
    Alive,
    /// Nobody holds the lock: the creator released it, or died (the OS drops
    /// a dead process's locks).
    Gone,
    /// This platform cannot tell; callers fall back to a timeout.
    Unknown,
}

impl Mapping {
    /// Releases the liveness lock that [`create`] took before the segment
    /// became visible. Called once the creator has published its contents.
    pub(crate) fn release_creator_lock(&self) {
        let _ = fs::flock(&self.fd, fs::FlockOperation::Unlock);
    }

    /// `flock(LOCK_SH | LOCK_NB)` on this process's own descriptor, which is
    /// a different open file description from the creator's: it fails while
    /// the creator holds its exclusive lock, and succeeds once the creator
    /// released it or died. Unlike a pid, a lock cannot be confused by pid
    /// reuse.
    pub(crate) fn creator_state(&self) -> CreatorState {
        match fs::flock(&self.fd, fs::FlockOperation::NonBlockingLockShared) {
            Ok(()) => {
                let _ = fs::flock(&self.fd, fs::FlockOperation::Unlock);
                CreatorState::Gone
            }
            Err(Errno::WOULDBLOCK) => CreatorState::Alive,
            Err(_) => CreatorState::Unknown,
        }
    }

    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether a peer shrank the file under this mapping and a fault was
    /// repaired with zero pages (see `guard`): the mapping no longer shows
    /// the segment. Checked after every access of the safe API.
    #[inline]
    pub(crate) fn lost(&self) -> bool {
        self.guard.lost()
    }

    /// `fstat`: whether the file is shorter than the mapping.
    pub(crate) fn file_shrunk(&self) -> bool {
        fs::fstat(&self.fd).is_ok_and(|st| u64::try_from(st.st_size).unwrap_or(0) < self.len as u64)
    }

    /// Marks the mapping lost by a truncation that raised no fault.
    pub(crate) fn mark_lost(&self) {
        self.guard.mark_truncated();
    }

    /// Tells the registry where the end marker lies (`off` bytes in), so
    /// that [`marker_lost_at`] can check it for values borrowed in place.
    pub(crate) fn set_end_marker(&self, off: usize) {
        self.guard.set_end_marker(self.ptr() as usize + off);
    }

    /// The error for a lost mapping: [`Error::NoSpace`] if the faulting page
    /// lay inside the file (a hole that a full filesystem could not fill),
    /// else [`Error::Truncated`].
    #[cold]
    pub(crate) fn lost_error(&self, name: &Name) -> Error {
        match self.guard.why() {
            Some(guard::Lost::NoSpace) => Error::NoSpace {
                name: name.to_string(),
                len: self.len as u64,
                source: std::io::Error::from_raw_os_error(Errno::NOSPC.raw_os_error()),
            },
            _ => Error::Truncated {
                name: name.to_string(),
            },
        }
    }

    /// `shm_unlink(name)`, but only if `name` still names this object.
    ///
    /// Used when the creator drops its segment: if someone removed the name
    /// and made a new segment under it meanwhile, that one is left alone.
    /// A window remains between the check and the unlink, in which only a
    /// process that may already remove the name could act.
    pub(crate) fn remove_if_same(&self, name: &Name) -> bool {
        let Ok(mine) = fs::fstat(&self.fd) else {
            return false;
        };
        let Ok(fd) = open_fd(name, true) else {
            return false;
        };
        let Ok(theirs) = fs::fstat(&fd) else {
            return false;
        };
        if (mine.st_dev, mine.st_ino) != (theirs.st_dev, theirs.st_ino) {
            return false;
        }
        remove(name).is_ok()
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // Out of the registry first: once unmapped, the range may be reused.
        self.guard.release();
        // SAFETY:
        // - `ptr` and `len` are exactly what `mmap` returned and was asked for;
        // - the mapping is not used after this: `Mapping` is being dropped and
        //   hands out no references that outlive it.
        // An error here would mean the arguments were wrong, which they are not.
        let _ = unsafe { mm::munmap(self.ptr.as_ptr().cast(), self.len) };
        // `fd` is closed by `OwnedFd`'s drop.
    }
}

/// Maps an OS error to the error the user can act on.
fn error(name: &Name, op: &'static str, errno: Errno) -> Error {
    let name_s = name.as_str().to_owned();
    let source = std::io::Error::from_raw_os_error(errno.raw_os_error());
    match errno {
        Errno::EXIST => Error::AlreadyExists { name: name_s },
        Errno::NOENT => Error::NotFound { name: name_s },
        Errno::ACCESS | Errno::PERM => Error::PermissionDenied {
            name: name_s,
            source,
            hint: crate::error::ACCESS_HINT,
        },
        Errno::LOOP => Error::NotRegularFile {
            name: name_s,
            kind: "symbolic link",
        },
        Errno::ISDIR => Error::NotRegularFile {
            name: name_s,
            kind: "directory",
        },
        Errno::NAMETOOLONG => Error::InvalidName {
            name: name_s,
            reason: "this OS finds it too long",
        },
        _ => Error::Io {
            name: name_s,
            op,
            source,
        },
    }
}

/// `open("/dev/shm/NAME", O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)` on Linux.
#[cfg(target_os = "linux")]
fn open_fd(name: &Name, read_only: bool) -> rustix::io::Result<OwnedFd> {
    let access = if read_only {
        fs::OFlags::RDONLY
    } else {
        fs::OFlags::RDWR
    };
    let flags = access
        | fs::OFlags::NOFOLLOW
        | fs::OFlags::NONBLOCK
        | fs::OFlags::NOCTTY
        | fs::OFlags::CLOEXEC;
    fs::open(format!("{SHM_DIR}/{name}"), flags, Mode::empty())
}

/// `shm_open("/NAME", O_RDONLY or O_RDWR)` elsewhere.
#[cfg(not(target_os = "linux"))]
fn open_fd(name: &Name, read_only: bool) -> rustix::io::Result<OwnedFd> {
    use rustix::shm;
    let access = if read_only {
        shm::OFlags::RDONLY
    } else {
        shm::OFlags::RDWR
    };
    shm::open(format!("/{name}"), access, Mode::empty())
}

/// Creates the object exclusively (`O_CREAT | O_EXCL`, which never follows a
/// symlink), with permission bits `mode` exactly, whatever the umask.
#[cfg(target_os = "linux")]
fn create_fd(name: &Name, mode: u32) -> rustix::io::Result<OwnedFd> {
    let flags = fs::OFlags::RDWR
        | fs::OFlags::CREATE
        | fs::OFlags::EXCL
        | fs::OFlags::NOFOLLOW
        | fs::OFlags::NOCTTY
        | fs::OFlags::CLOEXEC;
    fs::open(
        format!("{SHM_DIR}/{name}"),
        flags,
        Mode::from_raw_mode(mode as _),
    )
}

#[cfg(not(target_os = "linux"))]
fn create_fd(name: &Name, mode: u32) -> rustix::io::Result<OwnedFd> {
    use rustix::shm;
    shm::open(
        format!("/{name}"),
        shm::OFlags::RDWR | shm::OFlags::CREATE | shm::OFlags::EXCL,
        Mode::from_raw_mode(mode as _),
    )
}

/// Reserves `len` bytes so that a full filesystem fails here, not with a
/// `SIGBUS` when a page is first touched.
#[cfg(target_os = "linux")]
fn reserve(fd: impl AsFd, len: u64) -> rustix::io::Result<()> {
    match fs::fallocate(fd, fs::FallocateFlags::empty(), 0, len) {
        // A filesystem without fallocate (not tmpfs) still works, unreserved.
        Err(Errno::OPNOTSUPP) => Ok(()),
        other => other,
    }
}

/// macOS and FreeBSD have no way to reserve shared memory ahead; `ftruncate`
/// is all there is.
#[cfg(not(target_os = "linux"))]
fn reserve(_fd: impl AsFd, _len: u64) -> rustix::io::Result<()> {
    Ok(())
}

/// `fallocate(FALLOC_FL_KEEP_SIZE)` of an opened segment's `len` bytes, for
/// a read-write open: a segment made by another program may be sparse
/// (Python's `shared_memory` and most C programs size with `ftruncate`
/// only), and in a full filesystem its holes would fault when first
/// written. `KEEP_SIZE`, so that a file a peer shrank meanwhile is not
/// grown back. Only a full filesystem fails the open; any other refusal
/// leaves the segment unreserved, as it was (the `SIGBUS` guard still turns
/// a fault into an error).
#[cfg(target_os = "linux")]
fn reserve_opened(name: &Name, fd: &OwnedFd, len: usize) -> Result<()> {
    match fs::fallocate(fd, fs::FallocateFlags::KEEP_SIZE, 0, len as u64) {
        Err(e @ (Errno::NOSPC | Errno::NOMEM)) => Err(Error::NoSpace {
            name: name.to_string(),
            len: len as u64,
            source: std::io::Error::from_raw_os_error(e.raw_os_error()),
        }),
        _ => Ok(()),
    }
}

#[cfg(not(target_os = "linux"))]
fn reserve_opened(_name: &Name, _fd: &OwnedFd, _len: usize) -> Result<()> {
    Ok(())
}

/// `shm_open(O_CREAT | O_EXCL)`, `flock`, `fchmod`, `ftruncate`, `fallocate`, `mmap`.
///
/// On any failure after the name was made, the name is removed again.
pub(crate) fn create(name: &Name, len: usize, opts: &SegmentOptions) -> Result<Mapping> {
    let mode = opts.mode.unwrap_or(0o600);
    let fd = create_fd(name, mode).map_err(|e| error(name, "shm_open", e))?;
    // The liveness lock is taken while the segment still has size zero, which
    // openers wait out: so no opener can see the segment before the lock is
    // held. Where shared-memory objects cannot be locked (macOS), openers fall
    // back to their timeout. An opener checking whether a creator died holds
    // a shared lock for a moment: try again for a few milliseconds rather
    // than go on without ours (never block: another user allowed to open the
    // object could hold a lock for ever).
    for _ in 0..50 {
        match fs::flock(&fd, fs::FlockOperation::NonBlockingLockExclusive) {
            Err(Errno::WOULDBLOCK) => std::thread::sleep(Duration::from_micros(100)),
            _ => break,
        }
    }
    crate::failpoint::hit("segment-after-name");
    let sized = fs::fchmod(&fd, Mode::from_raw_mode(mode as _))
        .map_err(|e| error(name, "fchmod", e))
        .and_then(|()| {
            fs::ftruncate(&fd, len as u64).map_err(|e| match e {
                Errno::FBIG | Errno::INVAL => Error::InvalidSize {
                    name: name.to_string(),
                    len: len as u64,
                    reason: "the OS cannot make a segment that large",
                },
                e => error(name, "ftruncate", e),
            })
        })
        .and_then(|()| {
            reserve(&fd, len as u64).map_err(|e| match e {
                Errno::NOSPC | Errno::NOMEM => Error::NoSpace {
                    name: name.to_string(),
                    len: len as u64,
                    source: std::io::Error::from_raw_os_error(e.raw_os_error()),
                },
                Errno::FBIG | Errno::INVAL => Error::InvalidSize {
                    name: name.to_string(),
                    len: len as u64,
                    reason: "the OS cannot make a segment that large",
                },
                e => error(name, "fallocate", e),
            })
        })
        .and_then(|()| {
            crate::failpoint::hit("segment-after-size");
            map(name, fd, len, opts.read_only)
        });
    if sized.is_err() {
        // We made this name exclusively a moment ago; take it back.
        let _ = remove(name);
    }
    sized
}

/// `shm_open`, `fstat` (checked: type, owner, mode), `fallocate` (Linux,
/// read-write opens), `mmap`.
///
/// A segment of size zero is one whose creator has not yet sized it; it is
/// polled until `opts.timeout`, then refused with [`Error::Empty`], or
/// sooner once its creator is found dead: nobody holds the creator's lock
/// after [`CREATOR_GRACE`] of size zero (the creator takes it microseconds
/// after making the name).
pub(crate) fn open(name: &Name, opts: &SegmentOptions) -> Result<Mapping> {
    let fd = open_fd(name, opts.read_only).map_err(|e| match e {
        // O_NOFOLLOW on a symlink is ELOOP on Linux, EMLINK on FreeBSD.
        Errno::MLINK => Error::NotRegularFile {
            name: name.to_string(),
            kind: "symbolic link",
        },
        e => error(name, "shm_open", e),
    })?;
    let start = Instant::now();
    let mut pause = Duration::from_micros(50);
    loop {
        let st = fs::fstat(&fd).map_err(|e| error(name, "fstat", e))?;
        check_trusted(name, &st, opts)?;
        if st.st_size > 0 {
            let len = usize::try_from(st.st_size)
                .ok()
                .filter(|&l| l <= isize::MAX as usize)
                .ok_or_else(|| Error::InvalidSize {
                    name: name.to_string(),
                    len: st.st_size as u64,
                    reason: "the segment is larger than this process can map",
                })?;
            if !opts.read_only {
                reserve_opened(name, &fd, len)?;
            }
            return map(name, fd, len, opts.read_only);
        }
        let waited = start.elapsed();
        if waited >= opts.timeout || (waited >= CREATOR_GRACE && creator_dead(&fd, name, opts)?) {
            return Err(Error::Empty {
                name: name.to_string(),
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// How long a segment must have stayed at size zero before an opener asks
/// whether its creator is still alive.
const CREATOR_GRACE: Duration = Duration::from_millis(50);

/// Whether the creator of a segment still of size zero is gone: nobody holds
/// its liveness lock, and the size is still zero after that was seen (a
/// creator that died after sizing it left a segment to open). `false` where
/// the lock cannot tell (macOS).
fn creator_dead(fd: &OwnedFd, name: &Name, opts: &SegmentOptions) -> Result<bool> {
    match fs::flock(fd, fs::FlockOperation::NonBlockingLockShared) {
        Ok(()) => {
            let _ = fs::flock(fd, fs::FlockOperation::Unlock);
        }
        Err(_) => return Ok(false),
    }
    let st = fs::fstat(fd).map_err(|e| error(name, "fstat", e))?;
    check_trusted(name, &st, opts)?;
    Ok(st.st_size == 0)
}

/// Refuses objects that are not regular files, belong to an untrusted user, or
/// are writable by group or others, unless the options accept them.
fn check_trusted(name: &Name, st: &fs::Stat, opts: &SegmentOptions) -> Result<()> {
    let file_type = fs::FileType::from_raw_mode(st.st_mode as _);
    let kind = match file_type {
        fs::FileType::RegularFile => None,
        fs::FileType::Directory => Some("directory"),
        fs::FileType::Fifo => Some("FIFO"),
        fs::FileType::Socket => Some("socket"),
        fs::FileType::CharacterDevice => Some("character device"),
        fs::FileType::BlockDevice => Some("block device"),
        fs::FileType::Symlink => Some("symbolic link"),
        // macOS reports its shared-memory objects with a type of their own.
        _ => None,
    };
    if let Some(kind) = kind {
        return Err(Error::NotRegularFile {
            name: name.to_string(),
            kind,
        });
    }
    let owner = st.st_uid;
    let euid = rustix::process::geteuid().as_raw();
    if owner != euid && !opts.trusted_owners.contains(&owner) {
        return Err(Error::UntrustedOwner {
            name: name.to_string(),
            owner,
            euid,
        });
    }
    #[allow(clippy::useless_conversion)] // `mode_t` is u16 on macOS
    let mode = u32::from(st.st_mode) & 0o7777;
    let accepted = opts.accept_mode | opts.mode.unwrap_or(0);
    if mode & 0o022 & !accepted != 0 {
        return Err(Error::InsecureMode {
            name: name.to_string(),
            mode,
        });
    }
    Ok(())
}

/// `mmap(MAP_SHARED)` of the first `len` bytes of `fd`.
fn map(name: &Name, fd: OwnedFd, len: usize, read_only: bool) -> Result<Mapping> {
    let prot = if read_only {
        ProtFlags::READ
    } else {
        ProtFlags::READ | ProtFlags::WRITE
    };
    // SAFETY:
    // - a null address hint lets the kernel choose a fresh range, so no
    //   existing Rust object is overlapped or invalidated;
    // - `len` is non-zero and at most `isize::MAX` (checked by the callers);
    // - the mapping is owned by the returned `Mapping`, which unmaps it once.
    let ptr = unsafe { mm::mmap(std::ptr::null_mut(), len, prot, MapFlags::SHARED, &fd, 0) }
        .map_err(|e| match e {
            Errno::NOMEM => Error::NoSpace {
                name: name.to_string(),
                len: len as u64,
                source: std::io::Error::from_raw_os_error(e.raw_os_error()),
            },
            e => error(name, "mmap", e),
        })?;
    let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| Error::Io {
        name: name.to_string(),
        op: "mmap",
        source: std::io::Error::other("mmap returned a null address"),
    })?;
    let raw_fd = rustix::fd::AsRawFd::as_raw_fd(&fd);
    let guard = guard::Guard::new(name.as_str(), ptr.as_ptr(), len, !read_only, raw_fd);
    Ok(Mapping {
        ptr,
        len,
        fd,
        guard,
    })
}

/// The error for a value at `addr`, borrowed in place from a segment's
/// mapping, if that mapping was lost (see `guard`); `None` while it is
/// intact and for any address outside the segments (the heap, the stack).
/// One atomic load while no mapping of this process is lost.
#[inline]
pub(crate) fn lost_at(addr: *const u8) -> Option<Error> {
    guard::lost_at(addr as usize).map(|why| lost_at_error(addr as usize, why))
}

/// As [`lost_at`], and also the error if the end marker of the mapping
/// that holds the value at `addr` is gone (a shrink and regrow that no
/// access faulted on; see `segment::END_MARKER`), which then marks the
/// mapping lost. A registry lookup: for slow paths (a wait's slices).
///
/// # Safety
/// The caller borrows a value at `addr` for the duration of the call, so
/// the mapping that holds it (if any) stays mapped meanwhile.
#[cold]
pub(crate) unsafe fn marker_lost_at(addr: *const u8) -> Option<Error> {
    if let Some(e) = lost_at(addr) {
        return Some(e);
    }
    let (marker, mark_lost) = guard::marker_at(addr as usize)?;
    // SAFETY: the marker lies in the same registered mapping as `addr`
    // (each slot's marker is inside its own range, set by
    // `Segment::write_end_marker`/`expect_end_marker` after their bounds
    // check), which stays mapped while the caller borrows `addr`; it is
    // 8-aligned (mappings are page-aligned, the offset a multiple of 8), only
    // accessed atomically, and only loaded (a read-only mapping will do).
    let word = unsafe { std::sync::atomic::AtomicU64::from_ptr(marker as *mut u64) };
    if word.load(std::sync::atomic::Ordering::Relaxed) == crate::segment::END_MARKER {
        return None;
    }
    mark_lost();
    lost_at(addr)
}

#[cold]
fn lost_at_error(addr: usize, why: guard::Lost) -> Error {
    // A range released meanwhile has no name any more; say where it was.
    let (name, len) = guard::name_at(addr).unwrap_or_else(|| (format!("(mapped at {addr:#x})"), 0));
    match why {
        guard::Lost::NoSpace => Error::NoSpace {
            name,
            len: len as u64,
            source: std::io::Error::from_raw_os_error(Errno::NOSPC.raw_os_error()),
        },
        guard::Lost::Truncated => Error::Truncated { name },
    }
}

/// `shm_unlink(name)`.
pub(crate) fn remove(name: &Name) -> Result<()> {
    #[cfg(target_os = "linux")]
    let r = fs::unlink(format!("{SHM_DIR}/{name}"));
    #[cfg(not(target_os = "linux"))]
    let r = rustix::shm::unlink(format!("/{name}"));
    r.map_err(|e| error(name, "shm_unlink", e))
}

/// Whether `name` exists, whatever it is and whoever owns it.
pub(crate) fn exists(name: &Name) -> Result<bool> {
    #[cfg(target_os = "linux")]
    let r = fs::lstat(format!("{SHM_DIR}/{name}")).map(drop);
    #[cfg(not(target_os = "linux"))]
    let r = open_fd(name, true).map(drop);
    match r {
        Ok(()) => Ok(true),
        Err(Errno::NOENT) => Ok(false),
        Err(Errno::ACCESS | Errno::PERM) => Ok(true),
        Err(e) => Err(error(name, "stat", e)),
    }
}

/// Where role lock files live: beside the segments on Linux, in `/tmp`
/// elsewhere (a fixed directory, not `$TMPDIR`, so that every process finds
/// the same file).
fn role_lock_path(name: &str, role: &str) -> String {
    #[cfg(target_os = "linux")]
    let dir = SHM_DIR;
    #[cfg(not(target_os = "linux"))]
    let dir = "/tmp";
    format!("{dir}/.shmkit-lock.{name}.{role}")
}

/// A liveness lock for one role of a queue (`producer`, `consumer`, ...): an
/// empty file per role, which each endpoint of that role keeps `flock`ed for
/// its lifetime. The OS drops a dead process's locks, so a peer that probes
/// the lock learns whether some holder is alive, without trusting pids.
///
/// A role held by one process at a time takes `LOCK_EX` (probed with
/// `LOCK_SH | LOCK_NB`); a role held by many takes `LOCK_SH` (probed with
/// `LOCK_EX | LOCK_NB`). Each probe uses its own open file description. If
/// the file cannot be opened, or is owned neither by this user nor by a
/// trusted one (see [`is_trusted_lock_file`]), every probe answers
/// `Unknown`. Files are opened read-only: `flock` needs no more, and a
/// trusted user's file of mode 0644 can then be held too.
pub(crate) struct RoleLock {
    fd: std::sync::OnceLock<OwnedFd>,
    /// For probes: the file to open (never create) when first needed.
    probe_path: Option<String>,
    /// Owners besides this user whose lock files count.
    trusted: Vec<u32>,
    /// For holders: why the lock file cannot be used, once that is known.
    problem: std::sync::OnceLock<String>,
}

impl RoleLock {
    /// `open(".shmkit-lock.NAME.ROLE", O_RDONLY | O_CREAT | O_NOFOLLOW |
    /// O_CLOEXEC, mode)`, for an endpoint that will hold the lock; `mode` is
    /// 0600 unless peers of other users must probe it (then with read bits),
    /// and is set exactly on a file of this user's, whatever the umask.
    pub(crate) fn open(name: &str, role: &str, trusted: &[u32], mode: u32) -> RoleLock {
        let flags = fs::OFlags::RDONLY
            | fs::OFlags::CREATE
            | fs::OFlags::NOFOLLOW
            | fs::OFlags::NONBLOCK
            | fs::OFlags::CLOEXEC;
        let fd = std::sync::OnceLock::new();
        let problem = std::sync::OnceLock::new();
        let path = role_lock_path(name, role);
        match fs::open(&path, flags, Mode::from_raw_mode(mode as _)) {
            Ok(f) => match untrusted_lock_file(&f, trusted) {
                None => {
                    if mode != 0o600 && is_own_file(&f) {
                        let _ = fs::fchmod(&f, Mode::from_raw_mode(mode as _));
                    }
                    let _ = fd.set(f);
                }
                Some(why) => {
                    let _ = problem.set(format!("the lock file {path} {why}"));
                }
            },
            Err(e) => {
                let _ = problem.set(format!("the lock file {path} cannot be opened ({e})"));
            }
        }
        RoleLock {
            fd,
            probe_path: None,
            trusted: trusted.to_vec(),
            problem,
        }
    }

    /// A probe of a role's lock that never creates the file: it opens it
    /// (`O_NOFOLLOW`) when first probed, and a missing file means that no
    /// holder ever came (holders create it), so the probe says `Gone`.
    pub(crate) fn probe_only(name: &str, role: &str, trusted: &[u32]) -> RoleLock {
        RoleLock {
            fd: std::sync::OnceLock::new(),
            probe_path: Some(role_lock_path(name, role)),
            trusted: trusted.to_vec(),
            problem: std::sync::OnceLock::new(),
        }
    }

    /// Whether the lock file could be opened (else probes say `Unknown`).
    pub(crate) fn works(&self) -> bool {
        self.fd.get().is_some()
    }

    /// Why this holder's lock file cannot be used (it could not be opened,
    /// belongs to an untrusted user, or refused `flock`): `None` while it
    /// works.
    pub(crate) fn problem(&self) -> Option<&str> {
        self.problem.get().map(String::as_str)
    }

    /// Records why the lock cannot be used, for a caller that found it held
    /// by something that is no endpoint of the queue.
    pub(crate) fn set_problem(&self, why: String) {
        let _ = self.problem.set(why);
    }

    /// `flock(LOCK_EX | LOCK_NB)`: `true` when taken; `false` if another
    /// holder has the lock, or if the lock cannot be used (then
    /// [`problem`](Self::problem) says why).
    pub(crate) fn hold_exclusive(&self) -> bool {
        let Some(fd) = self.fd.get() else {
            return false;
        };
        match fs::flock(fd, fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => true,
            Err(Errno::WOULDBLOCK) => false,
            Err(e) => {
                let _ = self
                    .problem
                    .set(format!("flock on its lock file failed ({e})"));
                false
            }
        }
    }

    /// `flock(LOCK_SH)`, waiting out a probe that holds `LOCK_EX` for a moment;
    /// if that fails, [`problem`](Self::problem) says why.
    pub(crate) fn hold_shared(&self) {
        if let Some(fd) = self.fd.get() {
            if let Err(e) = fs::flock(fd, fs::FlockOperation::LockShared) {
                let _ = self
                    .problem
                    .set(format!("flock on its lock file failed ({e})"));
            }
        }
    }

    /// Which lock file this is (`fstat`: a mix of its device and inode,
    /// never 0 or `u64::MAX`), so that an endpoint can tell whether a claim
    /// recorded in shared memory was made through this same file; `None`
    /// if no file is open.
    pub(crate) fn identity(&self) -> Option<u64> {
        let st = fs::fstat(self.fd.get()?).ok()?;
        let id = (st.st_ino as u64) ^ (st.st_dev as u64).rotate_left(32);
        Some(id.clamp(1, u64::MAX - 1))
    }

    /// Whether a holder of the role's `LOCK_EX` lives: `flock(LOCK_SH | LOCK_NB)`.
    pub(crate) fn probe_exclusive(&self) -> CreatorState {
        self.probe(fs::FlockOperation::NonBlockingLockShared)
    }

    /// Whether any holder of the role's `LOCK_SH` lives: `flock(LOCK_EX | LOCK_NB)`.
    pub(crate) fn probe_shared(&self) -> CreatorState {
        self.probe(fs::FlockOperation::NonBlockingLockExclusive)
    }

    fn probe(&self, op: fs::FlockOperation) -> CreatorState {
        if let (None, Some(path)) = (self.fd.get(), &self.probe_path) {
            let flags = fs::OFlags::RDONLY
                | fs::OFlags::NOFOLLOW
                | fs::OFlags::NONBLOCK
                | fs::OFlags::CLOEXEC;
            match fs::open(path, flags, Mode::empty()) {
                Ok(f) if is_trusted_lock_file(&f, &self.trusted) => {
                    let _ = self.fd.set(f);
                }
                Ok(_) => return CreatorState::Unknown,
                Err(Errno::NOENT) => return CreatorState::Gone,
                Err(_) => return CreatorState::Unknown,
            }
        }
        let Some(fd) = self.fd.get() else {
            return CreatorState::Unknown;
        };
        match fs::flock(fd, op) {
            Ok(()) => {
                let _ = fs::flock(fd, fs::FlockOperation::Unlock);
                CreatorState::Gone
            }
            Err(Errno::WOULDBLOCK) => CreatorState::Alive,
            Err(_) => CreatorState::Unknown,
        }
    }
}

/// Whether an opened role lock file may decide liveness: a regular file
/// owned by the effective uid or by a user in `trusted`. The lock files'
/// directory is world-writable, so another user may have planted the file
/// and may hold its lock forever; such a file must not decide liveness (or
/// make `attach` report the role taken). A queue shared with other users
/// names them (`Options::trust_owner`), the same users whose segments it
/// accepts.
fn is_trusted_lock_file(fd: &OwnedFd, trusted: &[u32]) -> bool {
    untrusted_lock_file(fd, trusted).is_none()
}

/// Why an opened role lock file may not decide liveness (see
/// [`is_trusted_lock_file`]), naming its owner: `None` if it may.
fn untrusted_lock_file(fd: &OwnedFd, trusted: &[u32]) -> Option<String> {
    let st = match fs::fstat(fd) {
        Ok(st) => st,
        Err(e) => return Some(format!("cannot be examined ({e})")),
    };
    let euid = rustix::process::geteuid().as_raw();
    if fs::FileType::from_raw_mode(st.st_mode as _) != fs::FileType::RegularFile {
        return Some(format!(
            "is not a regular file (owner uid {}); pick another queue name",
            st.st_uid
        ));
    }
    if st.st_uid != euid && !trusted.contains(&st.st_uid) {
        return Some(format!(
            "is owned by uid {owner}, neither you (uid {euid}) nor a user you trust: another \
             user may have planted it; pick another queue name, or, if uid {owner} is a peer \
             of this queue, trust it with `Options::trust_owner({owner})`",
            owner = st.st_uid
        ));
    }
    None
}

/// Whether an opened file is owned by the effective uid.
fn is_own_file(fd: &OwnedFd) -> bool {
    fs::fstat(fd).is_ok_and(|st| st.st_uid == rustix::process::geteuid().as_raw())
}

/// `unlink` a role's lock file (when its queue is removed). Holders keep
/// their lock on the unlinked file; only new probes see a fresh one.
pub(crate) fn remove_role_lock(name: &str, role: &str) {
    let _ = fs::unlink(role_lock_path(name, role));
}
