"""Type stubs of the compiled part of shmkit (import ``shmkit`` instead)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Literal

from typing_extensions import Buffer, Self

WaitStrategy = Literal["spin_then_block", "spin", "block"]
PeerState = Literal["alive", "not_yet", "died", "closed"]
Uids = int | Iterable[int] | None

MAX_NAME_LEN: int
"""The longest portable segment name (30)."""

class Segment:
    """A named block of shared memory, mapped into this process.

    Any process that knows the name opens the same bytes. The creator
    removes the name when it is closed or collected, unless created with
    ``persist=True``; an opener never removes it (there is no resource
    tracker). ``read``/``write`` copy with atomic accesses;
    ``buf_unsynchronized`` is a zero-copy view with no synchronisation.
    """

    @staticmethod
    def create(
        name: str,
        size: int,
        *,
        mode: int | None = None,
        persist: bool = False,
        trust_owner: Uids = None,
        accept_mode: int = 0,
        timeout: float = 5.0,
    ) -> Segment:
        """Creates a segment of ``size`` bytes, zero-filled.

        ``mode`` is the permission bits (default 0o600); ``persist`` keeps the
        name after this object is closed. Raises ``FileExistsError``
        (``AlreadyExists``) if the name is taken, ``ValueError`` subclasses
        for a bad name, size or mode, ``OSError`` (``NoSpace``) when shared
        memory is full.
        """

    @staticmethod
    def open(
        name: str,
        *,
        read_only: bool = False,
        trust_owner: Uids = None,
        accept_mode: int = 0,
        timeout: float = 5.0,
    ) -> Segment:
        """Opens an existing segment by name.

        ``trust_owner`` names uids besides your own whose segments you accept;
        ``accept_mode`` accepts a mode that lets others write; ``timeout`` is
        how long to wait for a creator still sizing it. Raises
        ``FileNotFoundError`` (``NotFound``), ``PermissionError`` subclasses.
        """

    @staticmethod
    def open_or_create(
        name: str,
        size: int,
        *,
        mode: int | None = None,
        persist: bool = False,
        trust_owner: Uids = None,
        accept_mode: int = 0,
        timeout: float = 5.0,
    ) -> Segment:
        """Opens the segment, or creates it with ``size`` bytes if there is none.

        Raises ``TooSmall`` if an existing one is smaller than ``size``.
        """

    @staticmethod
    def remove(name: str) -> None:
        """Removes a segment's name (mappings already open stay valid).

        Raises ``FileNotFoundError`` if there is none.
        """

    @staticmethod
    def exists(name: str) -> bool:
        """Whether a segment of that name exists."""

    @property
    def name(self) -> str:
        """The segment's name, as given."""

    @property
    def size(self) -> int:
        """The segment's size in bytes (also ``len(segment)``)."""

    def __len__(self) -> int: ...
    @property
    def created(self) -> bool:
        """Whether this object created the segment."""

    @property
    def read_only(self) -> bool:
        """Whether it was opened read-only."""

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has run."""

    @property
    def persist(self) -> None: ...
    @persist.setter
    def persist(self, value: bool) -> None:
        """Keep the name after this creator closes (``True``), or remove it then."""

    @property
    def exports(self) -> int:
        """How many buffers (memoryviews, numpy arrays) are exported now."""

    def read(self, offset: int = 0, size: int | None = None) -> bytes:
        """Copies ``size`` bytes from ``offset`` (default: to the end).

        The copy uses atomic loads, so it is safe while others write; it is
        not a snapshot. Raises ``IndexError`` (``OutOfBounds``).
        """

    def write(self, data: Buffer, offset: int = 0) -> None:
        """Copies ``data`` (bytes or any byte buffer) into the segment at ``offset``.

        Raises ``PermissionError`` (``ReadOnly``), ``IndexError`` (``OutOfBounds``).
        """

    @property
    def buf_unsynchronized(self) -> memoryview:
        """A zero-copy ``memoryview`` of the whole segment: **not atomic**.

        The contract of ``multiprocessing.shared_memory.SharedMemory.buf``:
        other processes may change the bytes at any moment, and nothing
        orders your accesses with theirs; use a ``Mutex``, a queue or an
        ``Event`` for that. The view (and a numpy array made from it) keeps
        this segment mapped; ``close()`` raises ``BufferError`` while one is
        alive. Read-only for a read-only segment.
        """

    def close(self) -> None:
        """Unmaps the segment (the creator also removes the name, unless persist).

        Raises ``BufferError`` while a view is exported; closing twice is a no-op.
        """

    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> bool: ...
    def __buffer__(self, flags: int) -> memoryview: ...
    def __release_buffer__(self, view: memoryview) -> None: ...

class _Endpoint:
    """What every queue endpoint has."""

    @property
    def name(self) -> str:
        """The queue's name."""

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has run."""

    @property
    def peer(self) -> PeerState:
        """The other side: ``"alive"``, ``"not_yet"`` (never attached), ``"died"``, ``"closed"``."""

    @property
    def created(self) -> bool:
        """Whether this endpoint created the queue."""

    def close(self) -> None:
        """Detaches (the creator also removes the queue, unless persist)."""

    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> bool: ...

class _Receiving(_Endpoint):
    def recv(self, timeout: float | None = None) -> bytes:
        """The next message, waiting up to ``timeout`` seconds (``None``: as long as it takes).

        Waits with the GIL released and wakes for Ctrl-C. Raises
        ``TimeoutError`` (``Timeout``), ``EOFError`` (``Closed``) when the
        sender closed and nothing is left, ``BrokenPipeError``
        (``PeerDied``) when it died, ``Corrupted``.
        """

    def try_recv(self) -> bytes | None:
        """The next message if one is there now, else ``None``."""

    def recv_into(self, buffer: Buffer, timeout: float | None = None) -> int:
        """Receives into a writable byte buffer; returns the message's length.

        Raises ``ValueError`` if the message does not fit.
        """

    def __iter__(self) -> Iterator[bytes]:
        """Receives until the sender closes its end."""

    def __next__(self) -> bytes: ...


class Producer(_Endpoint):
    """The producer of an SPSC byte queue (one producer, one consumer)."""

    @staticmethod
    def create(
        name: str,
        capacity: int,
        *,
        wait: WaitStrategy = "spin_then_block",
        persist: bool = False,
        open_timeout: float = 5.0,
        wait_for_creator: float = 0.0,
        mode: int | None = None,
        trust_owner: Uids = None,
        accept_mode: int = 0,
    ) -> Producer:
        """Creates a queue with a ring of ``capacity`` bytes and attaches as its producer."""

    @staticmethod
    def open(
        name: str,
        *,
        wait: WaitStrategy = "spin_then_block",
        persist: bool = False,
        open_timeout: float = 5.0,
        wait_for_creator: float = 0.0,
        mode: int | None = None,
        trust_owner: Uids = None,
        accept_mode: int = 0,
    ) -> Producer:
        """Opens an existing queue as its producer (``RoleTaken`` if a live one is attached)."""

    @staticmethod
    def open_or_create(
        name: str,
        capacity: int,
        *,
        wait: WaitStrategy = "spin_then_block",
        persist: bool = False,
        open_timeout: float = 5.0,
        wait_for_creator: float = 0.0,
        mode: int | None = None,
        trust_owner: Uids = None,
        accept_mode: int = 0,
    ) -> Producer: ...
    @property
    def capacity(self) -> int:
        """The ring's size in bytes."""

    @property
    def max_message_len(self) -> int:
        """The largest message this queue carries."""

    wait: WaitStrategy
    """How this endpoint waits: ``"spin_then_block"`` (default), ``"spin"``, ``"block"``."""

    def send(self, data: Buffer, timeout: float | None = None) -> None:
        """Sends a copy of ``data``, waiting up to ``timeout`` seconds for room.

        Raises ``TimeoutError`` (``Timeout``), ``MessageTooLarge``,
        ``BrokenPipeError`` (``PeerDied``) when the consumer died.
        """

    def try_send(self, data: Buffer) -> bool:
        """Sends if there is room now; ``False`` if the queue is full."""

    def send_many(self, messages: Iterable[Buffer], timeout: float | None = None) -> int:
        """Sends each message of ``messages`` (bytes-like objects), in order, in one call.

        Every message is checked first: a non-bytes item (``TypeError``) or
        one over ``max_message_len`` (``MessageTooLarge``) refuses the whole
        batch and nothing is sent. Then as many go out as the ring has room
        for, with the GIL held; when it is full the call waits for room with
        the GIL released, as ``send`` does (Ctrl-C within 100 ms).
        ``timeout`` bounds the whole call. Returns the number sent: all of
        them. An exception raised part-way (``Timeout``, ``PeerDied``,
        ``KeyboardInterrupt``, ...) carries ``sent``: the first ``sent``
        messages went out, in order, and none after them; send the rest
        again from there.
        """

    def _send_records(self, data: Buffer, itemsize: int, timeout: float | None = None) -> int:
        """Sends ``data`` as ``len(data) // itemsize`` messages of ``itemsize``
        bytes, as ``send_many``; use ``shmkit.Sender.send``."""

    @staticmethod
    def _create_channel(name: str, layout: tuple, count: int, *, wait: str = "spin_then_block",
                        persist: bool = False, mode: int | None = None) -> Producer:
        """Creates a typed channel of a layout description; use ``shmkit.Sender``."""
    @staticmethod
    def _open_channel(name: str, layout: tuple | None = None, *, wait: str = "spin_then_block",
                      open_timeout: float = 5.0, wait_for_creator: float = 0.0,
                      trust_owner: int | list[int] | None = None,
                      accept_mode: int = 0) -> tuple[Producer, tuple]:
        """Opens a typed channel: (producer, stored layout); use ``shmkit.Sender``."""

class Consumer(_Receiving):
    """The consumer of an SPSC byte queue."""

    @staticmethod
    def create(
        name: str,
        capacity: int,
        *,
        wait: WaitStrategy = "spin_then_block",
        persist: bool = False,
        open_timeout: float = 5.0,
        wait_for_creator: float = 0.0,
        mode: int | None = None,
        trust_owner: Uids = None,
        accept_mode: int = 0,
    ) -> Consumer:
        """Creates a queue with a ring of ``capacity`` bytes and attaches as its consumer."""

    @staticmethod
    def open(
        name: str,
        *,
        wait: WaitStrategy = "spin_then_block",
        persist: bool = False,
        open_timeout: float = 5.0,
        wait_for_creator: float = 0.0,
        mode: int | None = None,
        trust_owner: Uids = None,
        accept_mode: int = 0,
    ) -> Consumer: ...
    @staticmethod
    def open_or_create(
        name: str,
        capacity: int,
        *,
        wait: WaitStrategy = "spin_then_block",
        persist: bool = False,
        open_timeout: float = 5.0,
        wait_for_creator: float = 0.0,
        mode: int | None = None,
        trust_owner: Uids = None,
        accept_mode: int = 0,
    ) -> Consumer: ...
    @property
    def capacity(self) -> int: ...
    wait: WaitStrategy

    def recv_many(self, max_count: int, timeout: float | None = None) -> list[bytes]:
        """Up to ``max_count`` messages in one call, at least one.

        Waits as ``recv`` does (up to ``timeout``, GIL released, Ctrl-C)
        for the first message and raises as ``recv`` does if none comes;
        then takes the messages already there, up to ``max_count`` in all,
        without waiting for more. An error after the first message (a dead
        producer, say) ends the batch and is raised by the next call: no
        received message is dropped. ``max_count < 1`` raises ``ValueError``.
        """

    def _recv_records_into(self, out: Buffer, itemsize: int, timeout: float | None = None) -> int:
        """Receives messages of ``itemsize`` bytes into ``out`` as ``recv_many``
        takes them; returns how many. Use ``shmkit.Receiver.recv_into``."""

    @staticmethod
    def _create_channel(name: str, layout: tuple, count: int, *, wait: str = "spin_then_block",
                        persist: bool = False, mode: int | None = None) -> Consumer:
        """Creates a typed channel of a layout description; use ``shmkit.Receiver``."""
    @staticmethod
    def _open_channel(name: str, layout: tuple | None = None, *, wait: str = "spin_then_block",
                      open_timeout: float = 5.0, wait_for_creator: float = 0.0,
                      trust_owner: int | list[int] | None = None,
                      accept_mode: int = 0) -> tuple[Consumer, tuple]:
        """Opens a typed channel: (consumer, stored layout); use ``shmkit.Receiver``."""

class MpmcProducer(_Endpoint):
    """One of many producers of an MPMC queue (``shmkit.mpmc.Producer``)."""

    @staticmethod
    def create(
        name: str,
        slots: int,
        max_message: int,
        *,
        wait: WaitStrategy = "spin_then_block",
        persist: bool = False,
        open_timeout: float = 5.0,
        wait_for_creator: float = 0.0,
        mode: int | None = None,
        trust_owner: Uids = None,
        accept_mode: int = 0,
    ) -> MpmcProducer:
        """Creates a queue of ``slots`` slots (rounded up to a power of two) of ``max_message`` bytes."""

    @staticmethod
    def open(
        name: str,
        *,
        wait: WaitStrategy = "spin_then_block",
        persist: bool = False,
        open_timeout: float = 5.0,
        wait_for_creator: float = 0.0,
        mode: int | None = None,
        trust_owner: Uids = None,
        accept_mode: int = 0,
    ) -> MpmcProducer: ...
    @staticmethod
    def open_or_create(
        name: str,
        slots: int,
        max_message: int,
        *,
        wait: WaitStrategy = "spin_then_block",
        persist: bool = False,
        open_timeout: float = 5.0,
        wait_for_creator: float = 0.0,
        mode: int | None = None,
        trust_owner: Uids = None,
        accept_mode: int = 0,
    ) -> MpmcProducer: ...
    @property
    def max_message_len(self) -> int: ...
    def send(self, data: Buffer, timeout: float | None = None) -> None:
        """Sends a copy of ``data``, waiting up to ``timeout`` seconds for a free slot."""

    def try_send(self, data: Buffer) -> bool:
        """Sends if a slot is free now; ``False`` if the queue is full."""

    def send_many(self, messages: Iterable[Buffer], timeout: float | None = None) -> int:
        """Sends each message of ``messages`` in order, as ``Producer.send_many``."""

class MpmcConsumer(_Receiving):
    """One of many consumers of an MPMC queue: each message goes to exactly one."""

    @staticmethod
    def create(
        name: str,
        slots: int,
        max_message: int,
        *,
        wait: WaitStrategy = "spin_then_block",
        persist: bool = False,
        open_timeout: float = 5.0,
        wait_for_creator: float = 0.0,
        mode: int | None = None,
        trust_owner: Uids = None,
        accept_mode: int = 0,
    ) -> MpmcConsumer: ...
    @staticmethod
    def open(
        name: str,
        *,
        wait: WaitStrategy = "spin_then_block",
        persist: bool = False,
        open_timeout: float = 5.0,
        wait_for_creator: float = 0.0,
        mode: int | None = None,
        trust_owner: Uids = None,
        accept_mode: int = 0,
    ) -> MpmcConsumer: ...
    @staticmethod
    def open_or_create(
        name: str,
        slots: int,
        max_message: int,
        *,
        wait: WaitStrategy = "spin_then_block",
        persist: bool = False,
        open_timeout: float = 5.0,
        wait_for_creator: float = 0.0,
        mode: int | None = None,
        trust_owner: Uids = None,
        accept_mode: int = 0,
    ) -> MpmcConsumer: ...
    @property
    def max_message_len(self) -> int: ...

    def recv_many(self, max_count: int, timeout: float | None = None) -> list[bytes]:
        """Up to ``max_count`` messages in one call, at least one, as ``Consumer.recv_many``."""


class Publisher(_Endpoint):
    """The publisher of a broadcast ring: every subscriber sees every message
    it keeps up with; ``send`` never waits (it overwrites the oldest)."""

    @staticmethod
    def create(
        name: str,
        slots: int,
        max_message: int,
        *,
        wait: WaitStrategy = "spin_then_block",
        persist: bool = False,
        open_timeout: float = 5.0,
        wait_for_creator: float = 0.0,
        mode: int | None = None,
        trust_owner: Uids = None,
        accept_mode: int = 0,
    ) -> Publisher: ...
    @staticmethod
    def open(
        name: str,
        *,
        wait: WaitStrategy = "spin_then_block",
        persist: bool = False,
        open_timeout: float = 5.0,
        wait_for_creator: float = 0.0,
        mode: int | None = None,
        trust_owner: Uids = None,
        accept_mode: int = 0,
    ) -> Publisher: ...
    @staticmethod
    def open_or_create(
        name: str,
        slots: int,
        max_message: int,
        *,
        wait: WaitStrategy = "spin_then_block",
        persist: bool = False,
        open_timeout: float = 5.0,
        wait_for_creator: float = 0.0,
        mode: int | None = None,
        trust_owner: Uids = None,
        accept_mode: int = 0,
    ) -> Publisher: ...
    @property
    def max_message_len(self) -> int: ...
    @property
    def subscribers(self) -> int:
        """How many subscribers are attached now."""

    def send(self, data: Buffer) -> None:
        """Publishes a copy of ``data``; never waits."""

    def wait_for_subscribers(self, n: int, timeout: float | None = None) -> int:
        """Waits until at least ``n`` subscribers are attached; returns how many are."""

class Subscriber(_Receiving):
    """A subscriber of a broadcast ring, with its own cursor.

    ``recv`` raises ``Lagged`` (with ``missed``) when the publisher lapped
    it; its cursor has then moved to the oldest message still there.
    """

    @staticmethod
    def open(
        name: str,
        *,
        wait: WaitStrategy = "spin_then_block",
        persist: bool = False,
        open_timeout: float = 5.0,
        wait_for_creator: float = 0.0,
        mode: int | None = None,
        trust_owner: Uids = None,
        accept_mode: int = 0,
    ) -> Subscriber: ...
    @staticmethod
    def open_or_create(
        name: str,
        slots: int,
        max_message: int,
        *,
        wait: WaitStrategy = "spin_then_block",
        persist: bool = False,
        open_timeout: float = 5.0,
        wait_for_creator: float = 0.0,
        mode: int | None = None,
        trust_owner: Uids = None,
        accept_mode: int = 0,
    ) -> Subscriber: ...
    @property
    def cursor(self) -> int:
        """The number of the next message this subscriber reads."""

    def rewind(self) -> None:
        """Moves the cursor back to the oldest message still in the ring."""

class Mutex:
    """A robust cross-process mutex in a named segment of its own.

    ``with mutex:`` locks and unlocks. If a previous owner died holding it,
    ``acquire`` raises ``OwnerDied`` **with the lock held**: repair the
    data, call ``mark_consistent()``, then ``release()``. A Mutex object
    belongs to the thread that made it. A Rust peer opens the segment with
    ``Segment::open`` and borrows ``shmkit::sync::Mutex::<u64>::from_ptr``
    at offset 0.
    """

    @staticmethod
    def create(name: str, *, mode: int | None = None, persist: bool = False) -> Mutex: ...
    @staticmethod
    def open(name: str, *, trust_owner: Uids = None, accept_mode: int = 0) -> Mutex: ...
    @staticmethod
    def open_or_create(name: str, *, mode: int | None = None, persist: bool = False) -> Mutex: ...
    @property
    def name(self) -> str: ...
    @property
    def locked(self) -> bool:
        """Whether this object holds the lock."""

    @property
    def inconsistent(self) -> bool:
        """Whether the held lock is marked as left by a dead owner."""

    def acquire(self, timeout: float | None = None) -> bool:
        """Locks, waiting up to ``timeout`` seconds; ``False`` on timeout.

        Waits with the GIL released and wakes for Ctrl-C. Raises
        ``OwnerDied`` (lock held), ``LockBusy`` if this object holds it.
        """

    def release(self) -> None:
        """Unlocks. ``RuntimeError`` if this object does not hold the lock."""

    def mark_consistent(self) -> None:
        """Clears the dead-owner mark (only while holding the lock)."""

    def close(self) -> None:
        """Unlocks if held, and unmaps."""

    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> bool: ...

class Event:
    """A cross-process event in a named segment of its own.

    Auto-reset (default): a ``set()`` releases one waiter and clears itself.
    Manual-reset: it stays set, releasing every waiter, until ``reset()``.

    If another process shrinks the segment under this event, every call
    raises ``Truncated`` (a ``wait`` within 100 ms), never a silent
    timeout or a signal that reached nobody.
    """

    @staticmethod
    def create(
        name: str, *, manual_reset: bool = False, mode: int | None = None, persist: bool = False
    ) -> Event: ...
    @staticmethod
    def open(name: str, *, trust_owner: Uids = None, accept_mode: int = 0) -> Event: ...
    @property
    def name(self) -> str: ...
    @property
    def manual_reset(self) -> bool: ...
    def is_set(self) -> bool: ...
    def set(self) -> None:
        """Signals (same as ``notify_one``)."""

    def notify_one(self) -> None: ...
    def notify_all(self) -> None: ...
    def reset(self) -> None: ...
    def wait(self, timeout: float | None = None) -> bool:
        """Waits until signalled; ``False`` on timeout. Wakes for Ctrl-C."""

class TypedSegment:
    """A typed segment (the header Rust's ``Shared<T>`` writes), accessed
    field by field; use ``shmkit.open_typed`` / ``shmkit.create_typed``."""

    @staticmethod
    def open(
        name: str,
        *,
        read_only: bool = False,
        trust_owner: Uids = None,
        accept_mode: int = 0,
        timeout: float = 5.0,
    ) -> TypedSegment:
        """Opens a typed segment, waiting up to ``timeout`` for its creator to publish it."""

    @staticmethod
    def create(
        name: str, layout: tuple, value: Buffer, *, mode: int | None = None, persist: bool = False
    ) -> TypedSegment:
        """Creates one from a layout description (see ``shmkit.typed.describe``)."""

    @property
    def name(self) -> str: ...
    @property
    def layout(self) -> str:
        """The stored layout in one line."""

    def _kind(self, path: str) -> tuple[str, object]: ...
    def _get(self, path: str) -> int | float: ...
    def _set(self, path: str, value: int | float) -> None: ...
    def _seqlock_layout(self, path: str) -> tuple:
        """The payload description of the SeqLock at ``path``."""
    def _seqlock_read(self, path: str, checked: bool = False) -> bytes:
        """The SeqLock's latest complete value; with ``checked``, ``WriterDied`` for a dead writer."""
    def _seqlock_writer_status(self, path: str) -> str: ...
    def _seqlock_writer(self, path: str) -> SeqLockWriter:
        """Becomes the SeqLock's one writer; use ``shmkit.SeqLock.writer``."""

class SeqLockWriter:
    """The one writer of a SeqLock field; use ``shmkit.SeqLock.writer``."""

    def write(self, data: Buffer) -> None:
        """Publishes exactly one value's bytes."""
    def close(self) -> None:
        """Gives up the writer role."""
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> SeqLockWriter: ...
    def __exit__(self, *exc: object) -> bool: ...
