"""Typed channels: an SPSC queue of numpy values, the same queue as Rust's
``shmkit::queue::{Sender, Receiver}<T>``.

The channel's header stores its value type's layout, so each side checks
the other: Rust's ``Receiver::<T>::open`` accepts a channel made here when
``T`` has the dtype's layout (same struct name, field names, types and
offsets) and refuses it with ``LayoutMismatch`` otherwise, and
``Receiver.open(name)`` with no dtype reads the layout a Rust creator
stored and builds the matching numpy dtype.

    tick = np.dtype([("seq", "<u8"), ("price", "<f8")])
    tx = shmkit.Sender.create("ticks", tick, 1024, type_name="Tick")
    tx.send((1, 2.5))                  # a tuple, a record, or an array of records
    tx.send(np.zeros(256, tick))       # an array in one call
    rx = shmkit.Receiver.open("ticks")  # dtype from the channel
    rx.recv()                          # -> np.void record (1, 2.5)
    out = np.empty(256, tick)
    n = rx.recv_into(out)              # as many as are there, up to 256, in one call

Values are copied in and out (no view into shared memory is handed out).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from . import errors
from ._shmkit import Consumer, Producer
from .typed import describe, dtype_of


def _summary(desc: tuple) -> str:
    kind = desc[0]
    if kind == "prim":
        return desc[1]
    if kind == "array":
        return f"[{_summary(desc[1])}; {desc[2]}]"
    return desc[1] + " { " + ", ".join(f"{f[0]}: {_summary(f[2])}" for f in desc[4]) + " }"


class _End:
    """What both ends share: the dtype, the stored layout, close and ``with``."""

    def __init__(self, inner: Any, desc: tuple):
        self._inner = inner
        self._desc = desc
        self._dtype = dtype_of(desc)

    @property
    def dtype(self) -> Any:
        """The numpy dtype of the values."""
        return self._dtype

    @property
    def layout(self) -> str:
        """The stored layout in one line, e.g. ``Tick { seq: u64, price: f64 }``."""
        return _summary(self._desc)

    @property
    def name(self) -> str:
        """The channel's name, as given."""
        return self._inner.name

    @property
    def peer(self) -> str:
        """The other side: 'alive', 'not_yet', 'died' or 'closed'."""
        return self._inner.peer

    @property
    def created(self) -> bool:
        """Whether this object created the channel."""
        return self._inner.created

    @property
    def closed(self) -> bool:
        """Whether close() has run."""
        return self._inner.closed

    def close(self) -> None:
        """Closes this end (the creator also removes the name, unless persist)."""
        self._inner.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> bool:
        self.close()
        return False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, layout={self.layout!r}, closed={self.closed})"


def _expected(dtype: Any, type_name: str | None) -> tuple | None:
    if dtype is None:
        if type_name is not None:
            raise TypeError("type_name without a dtype: give the dtype too, or neither")
        return None
    return describe(dtype, type_name)


class Sender(_End):
    """The sending end of a typed channel of a numpy dtype."""

    @classmethod
    def create(cls, name: str, dtype: Any, count: int, *, type_name: str | None = None,
               wait: str = "spin_then_block", persist: bool = False,
               mode: int | None = None) -> Sender:
        """Creates a channel with room for at least ``count`` values, as its
        sender. ``type_name`` is the Rust struct's name for a structured
        dtype. Raises ``TypeError`` for a dtype that cannot be shared
        (objects, pointers, bool), ``InvalidLayout``, ``FileExistsError``."""
        desc = describe(dtype, type_name)
        return cls(Producer._create_channel(name, desc, count, wait=wait, persist=persist,
                                            mode=mode), desc)

    @classmethod
    def open(cls, name: str, dtype: Any = None, *, type_name: str | None = None,
             **options: Any) -> Sender:
        """Opens a channel as its sender. With no dtype, the channel's stored
        layout gives it; with one, another layout raises ``LayoutMismatch``
        naming the first difference. Options as ``Producer.open`` (``wait``,
        ``open_timeout``, ``wait_for_creator``, ``trust_owner``,
        ``accept_mode``). Raises ``NotAChannel`` for a queue of bytes."""
        p, desc = Producer._open_channel(name, _expected(dtype, type_name), **options)
        return cls(p, desc)

    def _records(self, value: Any) -> Any:
        """The value as a 1-D C-contiguous array of this dtype."""
        import numpy as np

        if isinstance(value, (np.ndarray, np.void, np.generic)) and value.dtype != self._dtype:
            raise TypeError(
                f"{self.name}: a value of dtype {value.dtype} for a channel of {self._dtype} "
                f"({self.layout}): convert it first"
            )
        try:
            arr = np.asarray(value, dtype=self._dtype)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{self.name}: {value!r} is not a value of {self._dtype}: {e}") from None
        if arr.ndim > 1:
            raise ValueError(
                f"{self.name}: an array of shape {arr.shape}: send takes one value or a 1-D "
                "array of values (reshape(-1) it to send its values in order)"
            )
        return np.ascontiguousarray(arr.reshape(-1) if arr.ndim else arr.reshape(1))

    def send(self, value: Any, timeout: float | None = None) -> None:
        """Sends a value (a record, a tuple, a number) or each record of a
        1-D array, in order, in one call: as many as the ring has room for
        at a time, waiting for room with the GIL released when it is full.
        ``timeout`` (seconds, None: as long as it takes) bounds the whole
        call; ``Timeout`` then carries ``sent``, how many of the values went
        out (the first ``sent``, in order). Every value is checked before
        any is sent: a value of another dtype raises ``TypeError``, an array
        of more than one dimension ``ValueError``, and nothing is sent."""
        import numpy as np

        # An array that is already what the channel carries goes as it is:
        # this call's own cost is paid once per batch, not per value.
        if (type(value) is np.ndarray and value.ndim == 1 and value.dtype == self._dtype
                and value.flags.c_contiguous):
            arr = value
        else:
            arr = self._records(value)
        self._inner._send_records(arr.view(np.uint8), self._dtype.itemsize, timeout)

    def try_send(self, value: Any) -> bool:
        """Sends one value if there is room now; False if the channel is full."""
        recs = self._records(value)
        if len(recs) != 1:
            raise ValueError(f"{self.name}: try_send takes one value, not {len(recs)}: use send")
        return self._inner.try_send(recs[0].tobytes())


class Receiver(_End):
    """The receiving end of a typed channel of a numpy dtype."""

    @classmethod
    def create(cls, name: str, dtype: Any, count: int, *, type_name: str | None = None,
               wait: str = "spin_then_block", persist: bool = False,
               mode: int | None = None) -> Receiver:
        """Creates a channel with room for at least ``count`` values, as its
        receiver (see ``Sender.create``)."""
        desc = describe(dtype, type_name)
        return cls(Consumer._create_channel(name, desc, count, wait=wait, persist=persist,
                                            mode=mode), desc)

    @classmethod
    def open(cls, name: str, dtype: Any = None, *, type_name: str | None = None,
             **options: Any) -> Receiver:
        """Opens a channel as its receiver (see ``Sender.open``)."""
        c, desc = Consumer._open_channel(name, _expected(dtype, type_name), **options)
        return cls(c, desc)

    def _decode(self, data: bytes) -> Any:
        import numpy as np

        if len(data) != self._dtype.itemsize:
            raise errors.WrongSizeMessage(
                f"a message of {len(data)} bytes on the channel `{self.name}`, whose values "
                f"are {self._dtype.itemsize} bytes: a byte producer wrote into it; it was "
                "skipped, receive again to go on"
            )
        return np.frombuffer(data, dtype=self._dtype)[0].copy()

    def recv(self, timeout: float | None = None) -> Any:
        """The next value (a numpy record or scalar), waiting up to
        ``timeout`` seconds (None: as long as it takes) with the GIL
        released. Raises ``Timeout``, ``Closed`` once the sender closed and
        everything was received, ``PeerDied``, ``WrongSizeMessage`` (the
        message is skipped)."""
        return self._decode(self._inner.recv(timeout))

    def try_recv(self) -> Any:
        """The next value if there is one now, else None."""
        data = self._inner.try_recv()
        return None if data is None else self._decode(data)

    def recv_into(self, out: Any, timeout: float | None = None) -> int:
        """Fills the start of ``out`` (a 1-D numpy array of this dtype) in
        one call, with no Python object per value: waits up to ``timeout``
        for the first value, then takes the values already there, up to
        ``len(out)``. Returns how many it stored. A first message of the
        wrong size raises ``WrongSizeMessage`` (and is skipped); a later one
        ends the batch, and the next call reports it."""
        import numpy as np

        if not isinstance(out, np.ndarray) or out.dtype != self._dtype or out.ndim != 1:
            raise TypeError(f"{self.name}: recv_into takes a 1-D numpy array of {self._dtype}")
        flags = out.flags
        if not flags.writeable:
            raise ValueError(f"{self.name}: the array is read-only")
        if len(out) == 0:
            raise ValueError(f"{self.name}: recv_into needs an array with room for a value")
        itemsize = self._dtype.itemsize
        if flags.c_contiguous:
            return self._inner._recv_records_into(out.view(np.uint8), itemsize, timeout)
        # A strided array: received into a contiguous one, then copied over.
        tmp = np.empty(len(out), self._dtype)
        n = self._inner._recv_records_into(tmp.view(np.uint8), itemsize, timeout)
        out[:n] = tmp[:n]
        return n

    def __iter__(self) -> Iterator[Any]:
        """Values until the sender closes."""
        while True:
            try:
                yield self.recv()
            except errors.Closed:
                return


__all__ = ["Receiver", "Sender", "dtype_of"]
