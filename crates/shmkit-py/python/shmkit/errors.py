"""The exceptions of shmkit.

Every error the library reports is an instance of :class:`ShmkitError` and,
where one fits, of a built-in exception too, so that ``except
FileNotFoundError`` or ``except TimeoutError`` work as they do with files
and sockets. The message is the library's own: it says what went wrong and
what to do. Exceptions about one segment or queue carry its ``name``.
"""

from __future__ import annotations


class ShmkitError(Exception):
    """Base class of every error shmkit reports."""

    name: str | None = None


class InvalidName(ShmkitError, ValueError):
    """The name breaks the portable rule: 1 to 30 of ``A-Z a-z 0-9 . _ -``."""


class InvalidSize(ShmkitError, ValueError):
    """The size is zero, or too large to map."""


class InvalidMode(ShmkitError, ValueError):
    """A permission mode outside ``0o000..=0o777``."""


class InvalidLayout(ShmkitError, ValueError):
    """A layout given for a new typed segment is not one it can hold."""


class AlreadyExists(ShmkitError, FileExistsError):
    """``create`` found the name taken; nothing was opened or changed."""


class NotFound(ShmkitError, FileNotFoundError):
    """No segment (or queue) of that name."""


class PermissionDenied(ShmkitError, PermissionError):
    """The OS refused access."""


class NoSpace(ShmkitError, OSError):
    """Shared memory is full; no half-made segment is left behind."""


class Truncated(ShmkitError, OSError):
    """Another process shrank the segment while it was mapped here."""


class ReadOnly(ShmkitError, PermissionError):
    """A write to a segment opened read-only."""


class OutOfBounds(ShmkitError, IndexError):
    """An access falls outside the segment."""


class TooSmall(ShmkitError, ValueError):
    """The segment exists but is smaller than needed."""


class Empty(ShmkitError, OSError):
    """The segment has size zero, even after waiting for its creator."""


class NotRegularFile(ShmkitError, OSError):
    """The name refers to something that is not a shared-memory object."""


class UntrustedOwner(ShmkitError, PermissionError):
    """The segment belongs to a user not named in ``trust_owner``."""


class InsecureMode(ShmkitError, PermissionError):
    """Others may write the segment; accept that with ``accept_mode``."""


class LayoutMismatch(ShmkitError, TypeError):
    """A typed segment holds a different layout than expected."""


class NotTyped(ShmkitError, ValueError):
    """The segment is not a typed shmkit segment."""


class Corrupted(ShmkitError):
    """A header or queue index is inconsistent: a peer or a bug wrote over it."""


class InitAbandoned(ShmkitError):
    """The creator of a typed segment died before initialising it."""


class InitTimeout(ShmkitError, TimeoutError):
    """A typed segment was still being initialised when the timeout ran out."""


class Unsupported(ShmkitError, NotImplementedError):
    """This platform cannot do what was asked."""


class WriterDied(ShmkitError):
    """A seqlock's writer died in the middle of a write."""


class WriterBusy(ShmkitError):
    """A seqlock already has a live writer."""


class OwnerDied(ShmkitError):
    """A previous owner of a :class:`shmkit.Mutex` died holding it.

    When ``Mutex.acquire`` (or ``with mutex:``) raises this, the calling
    thread **holds the lock**: repair the data, call
    ``mutex.mark_consistent()``, then ``mutex.release()``. Releasing without
    marking leaves the mutex marked, and the next owner is told again.
    """


class LockBusy(ShmkitError):
    """The mutex is held (by a live owner, or by this very thread)."""


class LockTimeout(ShmkitError, TimeoutError):
    """Waiting for the mutex timed out while a live owner held it."""


class PeerDied(ShmkitError, BrokenPipeError):
    """The queue's peer died and nothing is left to receive (or no room will come)."""


class Closed(ShmkitError, EOFError):
    """The queue's peer closed its end and nothing is left to receive."""


class RoleTaken(ShmkitError):
    """A role that only one process may hold is held by a live process."""


class RoleUnverifiable(ShmkitError):
    """A single-holder role is claimed by an endpoint whose liveness cannot be told."""


class Timeout(ShmkitError, TimeoutError):
    """A queue operation did not complete within its timeout."""


class Full(ShmkitError):
    """The queue is full."""


class Lagged(ShmkitError):
    """A broadcast subscriber fell a whole ring behind.

    ``missed`` is how many messages it lost; its cursor has moved to the
    oldest message still there, so receive again to go on.
    """

    missed: int = 0


class MessageTooLarge(ShmkitError, ValueError):
    """A message larger than the queue can ever carry."""


class NotAChannel(ShmkitError, TypeError):
    """A queue opened as a typed channel is not one of that type."""


class WrongSizeMessage(ShmkitError, ValueError):
    """A typed channel received a message that is not one value of its type."""


class Io(ShmkitError, OSError):
    """Any other OS error."""


__all__ = [name for name, value in dict(globals()).items() if isinstance(value, type)]
