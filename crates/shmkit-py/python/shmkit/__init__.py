"""shmkit: named shared memory between processes, for Python and Rust.

A :class:`Segment` is a named block of memory that any process on the
machine opens by name. Queues (:class:`Producer`/:class:`Consumer`, MPMC in
:mod:`shmkit.mpmc`, broadcast :class:`Publisher`/:class:`Subscriber`) carry
messages through segments, and typed channels (:class:`Sender`/:class:`Receiver`)
carry numpy values; :class:`Mutex` and :class:`Event` synchronise
processes. The same segments and queues are opened from Rust with the
``shmkit`` crate.

There is no resource tracker: a process that only *opens* a segment never
removes it. The creator removes the name when its object is closed or
collected, unless it was created with ``persist=True`` (then
``Segment.remove(name)`` removes it).
"""

from __future__ import annotations

from . import errors
from ._shmkit import (
    MAX_NAME_LEN,
    Consumer,
    Event,
    MpmcConsumer,
    MpmcProducer,
    Mutex,
    Producer,
    Publisher,
    Segment,
    Subscriber,
    TypedSegment,
)
from .errors import (
    AlreadyExists,
    Closed,
    Corrupted,
    Full,
    Lagged,
    LayoutMismatch,
    LockTimeout,
    MessageTooLarge,
    NotFound,
    OwnerDied,
    PeerDied,
    ShmkitError,
    Timeout,
)
from .channel import Receiver, Sender
from .typed import Field, SeqLock, create_seqlock, create_typed, open_typed, typed_layout

__all__ = [
    "MAX_NAME_LEN",
    "AlreadyExists",
    "Closed",
    "Consumer",
    "Corrupted",
    "Event",
    "Full",
    "Lagged",
    "LayoutMismatch",
    "LockTimeout",
    "MessageTooLarge",
    "MpmcConsumer",
    "MpmcProducer",
    "Mutex",
    "NotFound",
    "OwnerDied",
    "PeerDied",
    "Producer",
    "Publisher",
    "Receiver",
    "Segment",
    "SeqLock",
    "Sender",
    "ShmkitError",
    "Subscriber",
    "Timeout",
    "Field",
    "TypedSegment",
    "create_seqlock",
    "create_typed",
    "errors",
    "open_typed",
    "typed_layout",
]
