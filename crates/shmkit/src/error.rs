//! The one error type of the library.

use std::fmt;
use std::io;

/// Everything that can go wrong in shmkit.
///
/// Each variant carries what you need in order to act on it (the segment's
/// name, the OS error, the sizes involved), and its message says what to do.
///
/// `Debug` prints the variant's name, then its message, then the chain of
/// sources, so that an error returned from `main` (which prints `Debug`)
/// reads as its message: `Error: NotFound: no segment named `x`: ...`.
/// Match on the variant to get at the fields; `{:#?}` adds the two layouts
/// of a [`LayoutMismatch`](Error::LayoutMismatch).
///
/// ```
/// let e = shmkit::Segment::open("no-such-segment-here").unwrap_err();
/// let debug = format!("{e:?}");
/// assert!(debug.starts_with("NotFound: no segment named `no-such-segment-here`"), "{debug}");
/// ```
///
/// Acting on a variant: the name was taken, so join the existing segment.
///
/// ```
/// use shmkit::{Error, Segment};
/// # let name = format!("doc-error-{}", std::process::id());
/// let first = Segment::create(&name, 64)?;
/// let seg = match Segment::create(&name, 64) {
///     Err(Error::AlreadyExists { name }) => Segment::open(&name)?,
///     other => other?,
/// };
/// assert!(!seg.created());
///
/// let err = Segment::create("bad/name", 64).unwrap_err();
/// assert!(matches!(&err, Error::InvalidName { reason, .. } if reason.contains("character")));
/// assert!(err.to_string().contains("A-Z a-z 0-9 . _ -"), "the message says what a name may be");
/// # drop(first);
/// # Ok::<(), shmkit::Error>(())
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The name breaks the portable naming rule. No system call was made.
    #[error(
        "invalid segment name {name:?}: {reason}; a name is 1 to 30 characters of \
         A-Z a-z 0-9 . _ - that does not start with '.' (give it without a leading '/')"
    )]
    InvalidName {
        /// The name as given.
        name: String,
        /// Which part of the rule it breaks.
        reason: &'static str,
    },

    /// The size is zero, or too large for this platform to map.
    #[error("invalid size {len} for segment `{name}`: {reason}")]
    InvalidSize {
        /// The segment's name.
        name: String,
        /// The size asked for, in bytes.
        len: u64,
        /// Why it was refused.
        reason: &'static str,
    },

    /// A permission mode outside `0o000..=0o777` was given.
    #[error("invalid mode {mode:#o} for segment `{name}`: give permission bits only, e.g. 0o600")]
    InvalidMode {
        /// The segment's name.
        name: String,
        /// The mode as given.
        mode: u32,
    },

    /// `create` found the name taken. Nothing was opened or changed.
    #[error(
        "segment `{name}` already exists: open it with Segment::open, use \
         Segment::open_or_create, or remove it (Segment::remove, `shmkit rm {name}`) if it is stale"
    )]
    AlreadyExists {
        /// The segment's name.
        name: String,
    },

    /// There is no segment of that name.
    #[error(
        "no segment named `{name}`: check the name, or create it first; a creator's drop \
         removes the name (keep the creator alive, or create with `.persist(true)`)"
    )]
    NotFound {
        /// The segment's name.
        name: String,
    },

    /// The OS refused access.
    #[error("permission denied for segment `{name}` ({source}): {hint}")]
    PermissionDenied {
        /// The segment's name.
        name: String,
        /// The OS error.
        #[source]
        source: io::Error,
        /// What to do about it.
        hint: &'static str,
    },

    /// Shared memory is full: the segment could not be reserved.
    ///
    /// No half-made segment is left behind.
    #[error(
        "not enough shared memory for segment `{name}` ({len} bytes): free space in the \
         shared-memory filesystem (remove stale segments with `shmkit gc`), or ask for less"
    )]
    NoSpace {
        /// The segment's name.
        name: String,
        /// The size asked for, in bytes.
        len: u64,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// Another process shrank the segment while it was mapped here, and an
    /// access touched the lost part.
    ///
    /// On POSIX the access would have raised `SIGBUS`; shmkit's guard
    /// replaced this process's view of the segment with private zero pages
    /// instead. The bytes the call read are not the segment's, and what it
    /// wrote reached nobody. This mapping stays unusable: every later call on
    /// it returns this error again, even if the segment is regrown.
    ///
    /// A shrink and regrow between two calls raises no fault; it zeroes
    /// every byte from the cut to the end, though. So a typed segment or a
    /// queue also reports it when the end marker at its end (see the
    /// typed header's and the queue header's docs) reads as zeros after an
    /// access, and a queue when, about to wait, it finds its header's magic
    /// number zeroed. A peer that wiped those bytes leaves the same, and
    /// gets the same report: the two cannot be told apart. A raw
    /// [`Segment`](crate::Segment) has no marker, and its regrown bytes
    /// read as zeros without an error.
    #[error(
        "segment `{name}` was shrunk (or its bytes wiped) by another process while mapped \
         here: this mapping no longer shows it; drop it and open the segment again, and find \
         out which program truncates or overwrites it (only its users may write it)"
    )]
    Truncated {
        /// The segment's name.
        name: String,
    },

    /// A writing method was called on a segment mapped read-only.
    #[error("segment `{name}` is mapped read-only: open it without `.read_only(true)` to write")]
    ReadOnly {
        /// The segment's name.
        name: String,
    },

    /// An access falls outside the segment.
    #[error(
        "access of {len} bytes at offset {offset} is out of bounds for segment `{name}` \
         of {size} bytes"
    )]
    OutOfBounds {
        /// The segment's name.
        name: String,
        /// Where the access starts.
        offset: u64,
        /// How many bytes it covers.
        len: u64,
        /// The segment's size.
        size: u64,
    },

    /// The segment exists but is smaller than the caller needs.
    #[error(
        "segment `{name}` has {len} bytes but {needed} are needed: it was made by another \
         program or version; remove it or open it with the size it has"
    )]
    TooSmall {
        /// The segment's name.
        name: String,
        /// Its size in bytes.
        len: u64,
        /// The size the caller needs.
        needed: u64,
    },

    /// The segment exists but has size zero, even after waiting for its creator.
    #[error(
        "segment `{name}` is empty: its creator has not sized it, or died before doing so; \
         if it is stale remove it (Segment::remove, `shmkit rm {name}`)"
    )]
    Empty {
        /// The segment's name.
        name: String,
    },

    /// The name refers to something that is not a shared-memory object.
    #[error(
        "`{name}` is a {kind}, not a shared memory segment: someone may be squatting the name; \
         inspect it and remove it"
    )]
    NotRegularFile {
        /// The segment's name.
        name: String,
        /// What it is instead ("symbolic link", "directory", "FIFO", ...).
        kind: &'static str,
    },

    /// The segment belongs to a user that the caller did not say it trusts.
    #[error(
        "segment `{name}` is owned by uid {owner}, not by you (uid {euid}): it could be a \
         trap set by that user; if you trust them, open it with `.trust_owner({owner})`"
    )]
    UntrustedOwner {
        /// The segment's name.
        name: String,
        /// The owner's user id.
        owner: u32,
        /// This process's effective user id.
        euid: u32,
    },

    /// The segment's mode lets group or others write it.
    #[error(
        "segment `{name}` has mode {mode:#o}, so other users may write it; if sharing between \
         users is intended, open it with `.accept_mode({mode:#o})`"
    )]
    InsecureMode {
        /// The segment's name.
        name: String,
        /// Its permission bits.
        mode: u32,
    },

    /// A typed segment holds a different layout than this program's type.
    #[error(
        "segment `{name}` holds a different layout: {difference}; both programs must use the \
         same struct definition (a segment left by an older build that no process uses any \
         more can be removed and created again: `shmkit info {name}` shows who maps it)"
    )]
    LayoutMismatch {
        /// The segment's name.
        name: String,
        /// The layout this program expects.
        expected: Box<crate::layout::Ty>,
        /// The layout stored in the segment.
        found: Box<crate::layout::Ty>,
        /// The first difference, e.g. "field `letter`: u16 at offset 4 here,
        /// u32 at offset 4 in the segment".
        difference: String,
    },

    /// A layout description given at run time
    /// ([`create_described`](crate::header::create_described)) is not one
    /// that a typed segment can hold. Nothing was created.
    #[error(
        "invalid layout for segment `{name}`: {reason}; describe a #[repr(C)] struct of \
         fixed-width numbers and arrays whose fields lie inside it, aligned"
    )]
    InvalidLayout {
        /// The segment's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The segment is not a typed shmkit segment.
    #[error(
        "segment `{name}` is not a typed shmkit segment ({reason}): open it with Segment::open, \
         or with Shared::open_raw if it holds the bare struct"
    )]
    NotTyped {
        /// The segment's name.
        name: String,
        /// What gave it away.
        reason: String,
    },

    /// A typed segment's header is inconsistent: a peer or a bug wrote over it.
    #[error(
        "segment `{name}` is corrupted: {what}; once no process uses it, remove it and create \
         it again"
    )]
    Corrupted {
        /// The segment's name.
        name: String,
        /// What is wrong.
        what: String,
    },

    /// The segment holds a queue of the kind asked for, in a format version
    /// this shmkit does not read (made by another shmkit release).
    #[error(
        "segment `{name}` holds {kind} of format version {found}, and this shmkit reads version \
         {expected}: it was made by another shmkit release; open it with that release, or once \
         no process uses it, remove it and create it again"
    )]
    FormatVersion {
        /// The segment's name.
        name: String,
        /// What it holds, e.g. "a broadcast ring".
        kind: &'static str,
        /// The version its header names.
        found: u32,
        /// The version this shmkit reads.
        expected: u32,
    },

    /// The creator of a typed segment died before it finished initialising it.
    #[error(
        "segment `{name}` was never initialised: its creator died first; remove it \
         (Segment::remove, `shmkit rm {name}`) and create it again"
    )]
    InitAbandoned {
        /// The segment's name.
        name: String,
    },

    /// A typed segment was still being initialised when the timeout ran out.
    #[error(
        "segment `{name}` was still not initialised after {waited:?}: its creator may be stuck; \
         wait longer (`.timeout(..)`) or check the creating process"
    )]
    InitTimeout {
        /// The segment's name.
        name: String,
        /// How long the opener waited.
        waited: std::time::Duration,
    },

    /// This platform cannot do what was asked.
    #[error("not supported on this platform: {what}")]
    Unsupported {
        /// What was asked for, and what to do instead.
        what: &'static str,
    },

    /// A [`SeqLock`](crate::sync::SeqLock)'s writer died in the middle of a
    /// write. Readers still get the last complete value from
    /// [`SeqLock::read`](crate::sync::SeqLock::read).
    #[error(
        "the seqlock's writer died in the middle of a write: the last complete value is still \
         readable with SeqLock::read; a new writer takes over with SeqLock::writer"
    )]
    WriterDied,

    /// A [`SeqLock`](crate::sync::SeqLock) already has a live writer.
    #[error(
        "the seqlock already has a live writer (thread {tid}): a seqlock has one writer at a \
         time; read instead, or wait until that writer drops its SeqLockWriter"
    )]
    WriterBusy {
        /// The writer's thread id (on macOS and FreeBSD, its pid plus a
        /// thread serial shifted left by 17: see [`crate::sync`]).
        tid: u32,
    },

    /// A previous owner of a [`Mutex`](crate::sync::Mutex) died holding it, so
    /// its data may be half-updated: what `?` makes of
    /// [`OwnerDied`](crate::sync::OwnerDied). The mutex stays marked, and
    /// every `lock` reports the death again until someone repairs the data.
    #[error(
        "a previous owner of a shmkit Mutex<{data}> died holding it, so the data may be \
         half-updated (it stays marked, and every lock reports this until repaired): repair \
         it with Mutex::lock_or_repair, or match lock's Err(died), fix died.into_inner() and \
         call MutexGuard::mark_consistent"
    )]
    OwnerDied {
        /// The type of the data the mutex protects.
        data: &'static str,
    },

    /// [`Mutex::try_lock`](crate::sync::Mutex::try_lock) found the mutex
    /// held, or `lock_timeout` found it held by this very thread.
    #[error(
        "the mutex is held, by a live owner or by this very thread: retry later, or wait \
         for it with lock or lock_timeout"
    )]
    LockBusy,

    /// [`Mutex::lock_timeout`](crate::sync::Mutex::lock_timeout) ran out
    /// while a live owner held the mutex.
    #[error(
        "timed out after {waited:?} waiting for the mutex: its owner is alive and still \
         holds it; wait longer, or find what keeps it"
    )]
    LockTimeout {
        /// The timeout that ran out.
        waited: std::time::Duration,
    },

    /// A queue endpoint's peer died (its liveness lock was dropped by the
    /// OS) and nothing is left to receive, or no room will ever be made.
    #[error(
        "the {peer} of queue `{name}` died: attach a new one (it picks up where the \
         dead one stopped), or remove the queue"
    )]
    PeerDied {
        /// The queue's name.
        name: String,
        /// The role that died ("producer", "consumer", "publisher").
        peer: &'static str,
    },

    /// A queue endpoint's peer closed its end and nothing is left to receive.
    #[error("the {peer} of queue `{name}` closed: attach a new one to go on")]
    Closed {
        /// The queue's name.
        name: String,
        /// The role that closed ("producer", "consumer", "publisher").
        peer: &'static str,
    },

    /// [`WaitSet::wait`](crate::WaitSet::wait) on a set with no member,
    /// which would never return.
    #[error(
        "wait on an empty WaitSet would never return: add an endpoint, an event or a timer \
         first, or use wait_timeout"
    )]
    EmptyWaitSet,

    /// A role that only one process may hold is held by a live process.
    #[error(
        "the {role} of queue `{name}` is already attached in a live process: a queue has one \
         {role}; wait for it to exit, or use an MPMC queue for several"
    )]
    RoleTaken {
        /// The queue's name.
        name: String,
        /// The role asked for.
        role: &'static str,
    },

    /// A role that only one process may hold is claimed by another endpoint
    /// whose liveness cannot be checked (its liveness lock, or this
    /// endpoint's, cannot be used), so attaching would risk two holders.
    #[error(
        "the {role} of queue `{name}` is claimed by another endpoint, and whether that endpoint \
         lives cannot be told: {reason}"
    )]
    RoleUnverifiable {
        /// The queue's name.
        name: String,
        /// The role asked for.
        role: &'static str,
        /// Why liveness cannot be told, and what to do.
        reason: String,
    },

    /// A queue operation did not complete within its timeout.
    #[error("timed out after {waited:?} on queue `{name}`: the peer is alive but slow")]
    Timeout {
        /// The queue's name.
        name: String,
        /// How long the caller waited.
        waited: std::time::Duration,
    },

    /// `try_send` found the queue full.
    #[error("queue `{name}` is full: retry later, or use a blocking send")]
    Full {
        /// The queue's name.
        name: String,
    },

    /// A broadcast subscriber fell a whole ring behind: `missed` messages
    /// were overwritten before it read them. Its cursor has moved to the
    /// oldest message still there; receive again to go on.
    #[error(
        "subscriber of `{name}` missed {missed} messages (the publisher lapped it): read \
         faster, or create the ring with more slots"
    )]
    Lagged {
        /// The ring's name.
        name: String,
        /// How many messages were lost to this subscriber.
        missed: u64,
    },

    /// A message is larger than the queue can ever carry.
    #[error(
        "message of {len} bytes is too large for queue `{name}` (at most {max}): \
         create the queue with a larger capacity, or split the message"
    )]
    MessageTooLarge {
        /// The queue's name.
        name: String,
        /// The message's length.
        len: u64,
        /// The largest message the queue carries.
        max: u64,
    },

    /// A queue opened as a typed channel is not one of this type, and its
    /// creator stored no layout to name the difference (else it is a
    /// [`LayoutMismatch`](Error::LayoutMismatch)).
    #[error(
        "queue `{name}` is not a channel of this type ({reason}): open it with the type it \
         was created with, or with queue::spsc::Producer or Consumer if it carries bytes"
    )]
    NotAChannel {
        /// The queue's name.
        name: String,
        /// What it is instead.
        reason: String,
    },

    /// A typed channel's receiver got a message that is not one value of its
    /// type: something other than a [`Sender`](crate::queue::Sender) of that
    /// type (a raw SPSC producer, say) sent it. It was skipped; the channel
    /// itself is fine.
    #[error(
        "a message of {len} bytes arrived in channel `{name}` of {size}-byte values and was \
         skipped: its sender is not a Sender of this type (a raw producer?); fix the sender, \
         and receive again to go on"
    )]
    WrongSizeMessage {
        /// The channel's name.
        name: String,
        /// The message's length.
        len: u64,
        /// The size of one value of the channel's type.
        size: u64,
    },

    /// Any other OS error.
    #[error("{op} failed for segment `{name}`: {source}")]
    Io {
        /// The segment's name.
        name: String,
        /// The system call that failed.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// The variant's name, as `Debug` prints it first.
    fn variant(&self) -> &'static str {
        match self {
            Error::InvalidName { .. } => "InvalidName",
            Error::InvalidSize { .. } => "InvalidSize",
            Error::InvalidMode { .. } => "InvalidMode",
            Error::AlreadyExists { .. } => "AlreadyExists",
            Error::NotFound { .. } => "NotFound",
            Error::PermissionDenied { .. } => "PermissionDenied",
            Error::NoSpace { .. } => "NoSpace",
            Error::Truncated { .. } => "Truncated",
            Error::ReadOnly { .. } => "ReadOnly",
            Error::OutOfBounds { .. } => "OutOfBounds",
            Error::TooSmall { .. } => "TooSmall",
            Error::Empty { .. } => "Empty",
            Error::NotRegularFile { .. } => "NotRegularFile",
            Error::UntrustedOwner { .. } => "UntrustedOwner",
            Error::InsecureMode { .. } => "InsecureMode",
            Error::LayoutMismatch { .. } => "LayoutMismatch",
            Error::InvalidLayout { .. } => "InvalidLayout",
            Error::NotTyped { .. } => "NotTyped",
            Error::Corrupted { .. } => "Corrupted",
            Error::FormatVersion { .. } => "FormatVersion",
            Error::InitAbandoned { .. } => "InitAbandoned",
            Error::InitTimeout { .. } => "InitTimeout",
            Error::Unsupported { .. } => "Unsupported",
            Error::WriterDied => "WriterDied",
            Error::WriterBusy { .. } => "WriterBusy",
            Error::OwnerDied { .. } => "OwnerDied",
            Error::LockBusy => "LockBusy",
            Error::LockTimeout { .. } => "LockTimeout",
            Error::PeerDied { .. } => "PeerDied",
            Error::Closed { .. } => "Closed",
            Error::EmptyWaitSet => "EmptyWaitSet",
            Error::RoleTaken { .. } => "RoleTaken",
            Error::RoleUnverifiable { .. } => "RoleUnverifiable",
            Error::Timeout { .. } => "Timeout",
            Error::Full { .. } => "Full",
            Error::Lagged { .. } => "Lagged",
            Error::MessageTooLarge { .. } => "MessageTooLarge",
            Error::NotAChannel { .. } => "NotAChannel",
            Error::WrongSizeMessage { .. } => "WrongSizeMessage",
            Error::Io { .. } => "Io",
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = self.to_string();
        write!(f, "{}: {message}", self.variant())?;
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            // Most messages already quote their OS error; do not repeat it.
            let cause_text = cause.to_string();
            if !message.contains(&cause_text) {
                write!(f, "\n  caused by: {cause_text}")?;
            }
            source = cause.source();
        }
        match self {
            Error::LayoutMismatch {
                expected, found, ..
            } if f.alternate() => write!(f, "\nexpected: {expected:#?}\nfound: {found:#?}"),
            _ => Ok(()),
        }
    }
}

/// The usual advice for [`Error::PermissionDenied`].
pub(crate) const ACCESS_HINT: &str = "it belongs to another user or its mode does not let you \
     in; ask its owner to widen its mode, or run as that user";

/// `Result` with shmkit's [`Error`].
///
/// # Example
/// ```
/// fn first_byte(name: &str) -> shmkit::Result<u8> {
///     let seg = shmkit::Segment::open(name)?;
///     let mut b = [0u8];
///     seg.read_at(0, &mut b)?;
///     Ok(b[0])
/// }
/// # let name = format!("doc-result-{}", std::process::id());
/// let seg = shmkit::Segment::create(&name, 8)?;
/// seg.write_at(0, &[5])?;
/// assert_eq!(first_byte(&name)?, 5);
/// assert!(first_byte("doc-result-missing").is_err());
/// # Ok::<(), shmkit::Error>(())
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;
