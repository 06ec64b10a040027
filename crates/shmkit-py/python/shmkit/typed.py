"""Typed segments made by Rust's ``Shared<T>``, opened with no Python
declaration: the layout comes from the segment's header.

    d = shmkit.open_typed("MyShare")
    d.value            # an int or float, read with one atomic load
    d.numbers[10] = 2.5  # range-checked, one atomic store
    d.inner.x

Each number is read and written on its own (atomic per field); reading two
fields is not one snapshot, as with any shared struct without a lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ._shmkit import TypedSegment


class Field:
    """A struct or array inside a typed segment, at a path such as
    ``inner`` or ``numbers``; numbers inside it are read on access."""

    __slots__ = ("_seg", "_path")

    def __init__(self, seg: TypedSegment, path: str = ""):
        object.__setattr__(self, "_seg", seg)
        object.__setattr__(self, "_path", path)

    def _join(self, part: str | int) -> str:
        if isinstance(part, int):
            return f"{self._path}[{part}]"
        return f"{self._path}.{part}" if self._path else part

    def _item(self, path: str) -> Any:
        kind, _ = self._seg._kind(path)
        if kind == "number":
            return self._seg._get(path)
        if kind == "seqlock":
            return SeqLock(self._seg, path)
        return Field(self._seg, path)

    def _index(self, i: int) -> str:
        if not isinstance(i, int):
            raise TypeError(f"`{self._path}` is an array: index it with an int, not {type(i).__name__}")
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"`{self._path}[{i}]`: index out of range for an array of {n}")
        return self._join(i)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._item(self._join(name))

    def __setattr__(self, name: str, value: Any) -> None:
        self._seg._set(self._join(name), value)

    def __getitem__(self, i: int) -> Any:
        return self._item(self._index(i))

    def __setitem__(self, i: int, value: Any) -> None:
        self._seg._set(self._index(i), value)

    def __len__(self) -> int:
        kind, info = self._seg._kind(self._path)
        if kind != "array":
            raise TypeError(f"`{self._path or self._seg.name}` is a struct, not an array")
        return int(info)

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self)):
            yield self[i]

    def __dir__(self) -> list[str]:
        kind, info = self._seg._kind(self._path)
        return list(info) if kind == "struct" else []

    def to_python(self) -> Any:
        """The whole value as dicts, lists and numbers (field by field)."""
        kind, info = self._seg._kind(self._path)
        if kind == "array":
            return [v.to_python() if isinstance(v, Field) else v for v in self]
        out = {}
        for name in info:
            v = getattr(self, name)
            if isinstance(v, SeqLock):
                v = v.read().tolist()
            out[name] = v.to_python() if isinstance(v, Field) else v
        return out

    def __repr__(self) -> str:
        return f"<{self._seg.name}{'.' + self._path if self._path else ''}: {self.to_python()!r}>"


def dtype_of(desc: tuple) -> Any:
    """The numpy dtype of a layout description (as ``describe`` makes it or a
    channel stores it). Raises ``TypeError`` for a layout numpy cannot hold
    (atomics, which only appear in Rust's in-place types)."""
    import numpy as np

    kind = desc[0]
    if kind == "prim":
        name = desc[1]
        codes = {"u8": "<u1", "i8": "<i1", "u16": "<u2", "i16": "<i2", "u32": "<u4",
                 "i32": "<i4", "u64": "<u8", "i64": "<i8", "f32": "<f4", "f64": "<f8"}
        if name not in codes:
            raise TypeError(f"a layout of {name} has no numpy dtype")
        return np.dtype(codes[name])
    if kind == "array":
        return np.dtype((dtype_of(desc[1]), (int(desc[2]),)))
    _, _name, size, _align, fields = desc
    return np.dtype({
        "names": [f[0] for f in fields],
        "formats": [dtype_of(f[2]) for f in fields],
        "offsets": [int(f[1]) for f in fields],
        "itemsize": int(size),
    })


class SeqLock:
    """A ``SeqLock<T>`` in a typed segment (a field, or the whole value),
    read and written by its stored layout with Rust's protocol: a read
    retries until it has one write's value, never a mix of two; one writer
    at a time, which never waits for readers.

        s = shmkit.open_typed("prices").quote   # a SeqLock<Quote> field
        s.read()                                # a numpy record
        with s.writer() as w:
            w.write((101.5, 7))
    """

    __slots__ = ("_seg", "_path", "_dtype")

    def __init__(self, seg: TypedSegment, path: str = ""):
        self._seg = seg
        self._path = path
        self._dtype = dtype_of(seg._seqlock_layout(path))

    @property
    def dtype(self) -> Any:
        """The numpy dtype of the value."""
        return self._dtype

    def _decode(self, data: bytes) -> Any:
        import numpy as np

        return np.frombuffer(data, dtype=self._dtype)[0].copy()

    def read(self) -> Any:
        """The latest complete value, as a numpy record (or scalar). If the
        writer died mid-write, the value before that write."""
        return self._decode(self._seg._seqlock_read(self._path))

    def read_checked(self) -> Any:
        """As :meth:`read`, but raises ``WriterDied`` if a write is in
        progress and its writer is dead (then :meth:`writer` takes over)."""
        return self._decode(self._seg._seqlock_read(self._path, True))

    @property
    def writer_status(self) -> str:
        """'none', 'alive' or 'died'."""
        return self._seg._seqlock_writer_status(self._path)

    def writer(self) -> SeqLockWriter:
        """Becomes its one writer (taking over from a dead one, completing
        its abandoned write). Raises ``WriterBusy`` if a live writer holds
        it, ``ReadOnly`` on a read-only segment. Use it in ``with``, or
        ``close()`` it, to let another writer in."""
        return SeqLockWriter(self._seg._seqlock_writer(self._path), self._dtype, self._path)

    def __repr__(self) -> str:
        return f"<{self._seg.name}{'.' + self._path if self._path else ''}: SeqLock of {self._dtype}>"


class SeqLockWriter:
    """The one writer of a :class:`SeqLock`."""

    __slots__ = ("_w", "_dtype", "_path")

    def __init__(self, w: Any, dtype: Any, path: str):
        self._w = w
        self._dtype = dtype
        self._path = path

    def write(self, value: Any) -> None:
        """Publishes ``value`` (a record, a tuple or a number of the dtype)."""
        import numpy as np

        if isinstance(value, (np.ndarray, np.void, np.generic)) and value.dtype != self._dtype:
            raise TypeError(f"`{self._path}` holds {self._dtype}, not {value.dtype}: convert it first")
        try:
            arr = np.asarray(value, dtype=self._dtype)
        except (TypeError, ValueError) as e:
            raise TypeError(f"`{self._path}`: {value!r} is not a value of {self._dtype}: {e}") from None
        if arr.ndim != 0:
            raise ValueError(f"`{self._path}` holds one value, not an array of {arr.shape}")
        self._w.write(arr.tobytes())

    def close(self) -> None:
        """Gives up the writer role."""
        self._w.close()

    @property
    def closed(self) -> bool:
        """Whether close() has run."""
        return self._w.closed

    def __enter__(self) -> SeqLockWriter:
        return self

    def __exit__(self, *exc: Any) -> bool:
        self.close()
        return False


def _wrap(seg: TypedSegment) -> Field | SeqLock:
    kind, _ = seg._kind("")
    return SeqLock(seg) if kind == "seqlock" else Field(seg)


def open_typed(name: str, **options: Any) -> Field:
    """Opens a typed segment created by Rust's ``Shared<T>`` and returns its
    value as a :class:`Field`: attributes for struct fields, indexing for
    arrays, each number checked against the stored layout.

    Takes the options of ``Segment.open`` (``read_only``, ``trust_owner``,
    ``accept_mode``, ``timeout``). Raises ``NotTyped`` for a segment without
    a shmkit header, ``Corrupted`` for a damaged one, ``FileNotFoundError``.
    The layout is on ``shmkit.typed_layout(field)``.
    """
    return _wrap(TypedSegment.open(name, **options))


def _prim(code: str, size: int, where: str) -> tuple:
    names = {("i", 1): "i8", ("i", 2): "i16", ("i", 4): "i32", ("i", 8): "i64",
             ("u", 1): "u8", ("u", 2): "u16", ("u", 4): "u32", ("u", 8): "u64",
             ("f", 4): "f32", ("f", 8): "f64"}
    name = names.get((code, size))
    if name is None:
        raise TypeError(
            f"{where}: {code!r} of {size} bytes cannot be stored in a typed segment; use "
            "fixed-width integers (int8..uint64) or float32/float64 (no bool, objects, "
            "pointers, strings or dates)"
        )
    return ("prim", name)


def _from_dtype(dt: Any, type_name: str | None, where: str) -> tuple:
    import numpy as np

    if dt.hasobject:
        raise TypeError(f"{where}: dtype {dt} holds Python objects, which cannot be shared")
    if dt.subdtype is not None:
        base, shape = dt.subdtype
        desc = _from_dtype(base, None, where)
        for n in reversed(shape):
            desc = ("array", desc, int(n))
        return desc
    if dt.fields is None:
        if dt.byteorder == ">" or (dt.byteorder == "=" and np.little_endian is False):
            raise TypeError(f"{where}: big-endian {dt}: typed segments are little-endian")
        return _prim(dt.kind, dt.itemsize, where)
    if type_name is None:
        raise TypeError(
            f"{where}: a struct dtype needs a name (type_name=...): the Rust struct's name, "
            "which Shared::<T>::open compares"
        )
    fields = []
    align = 1
    for fname in dt.names:
        sub, offset = dt.fields[fname][:2]
        fdesc = _from_dtype(sub, f"{type_name}_{fname}", f"{where}.{fname}")
        fields.append((fname, int(offset), fdesc))
        align = max(align, _align(fdesc))
    return ("struct", type_name, int(dt.itemsize), align, fields)


def _align(desc: tuple) -> int:
    if desc[0] == "prim":
        return int(desc[1][1:]) // 8
    if desc[0] == "array":
        return _align(desc[1])
    return int(desc[3])


def _from_ctypes(t: Any, where: str) -> tuple:
    import ctypes

    if isinstance(t, type) and issubclass(t, ctypes.Array):
        return ("array", _from_ctypes(t._type_, where), t._length_)
    if isinstance(t, type) and issubclass(t, (ctypes.Structure, ctypes.Union)):
        if issubclass(t, ctypes.Union):
            raise TypeError(f"{where}: unions cannot be described; use a Structure")
        fields = []
        align = 1
        for entry in t._fields_:
            if len(entry) != 2:
                raise TypeError(f"{where}.{entry[0]}: bit fields cannot be described")
            fname, ftype = entry
            fdesc = _from_ctypes(ftype, f"{where}.{fname}")
            fields.append((fname, getattr(t, fname).offset, fdesc))
            align = max(align, _align(fdesc))
        return ("struct", t.__name__, ctypes.sizeof(t), align, fields)
    simple = {
        ctypes.c_int8: ("i", 1), ctypes.c_uint8: ("u", 1), ctypes.c_int16: ("i", 2),
        ctypes.c_uint16: ("u", 2), ctypes.c_int32: ("i", 4), ctypes.c_uint32: ("u", 4),
        ctypes.c_int64: ("i", 8), ctypes.c_uint64: ("u", 8), ctypes.c_float: ("f", 4),
        ctypes.c_double: ("f", 8),
    }
    if t in simple:
        return _prim(*simple[t], where)
    raise TypeError(
        f"{where}: ctypes type {getattr(t, '__name__', t)} cannot be stored in a typed segment: "
        "use fixed-width c_int8..c_uint64, c_float, c_double, arrays and Structures "
        "(no pointers, c_bool, c_char_p)"
    )


def describe(spec: Any, type_name: str | None = None) -> tuple:
    """The layout description of a numpy dtype (structured or not) or a
    ``ctypes.Structure`` subclass, as ``create_typed`` passes it to the library."""
    import ctypes

    if isinstance(spec, type) and issubclass(spec, (ctypes.Structure, ctypes._SimpleCData, ctypes.Array, ctypes.Union)):
        desc = _from_ctypes(spec, spec.__name__)
        if type_name is not None and desc[0] == "struct":
            desc = ("struct", type_name, *desc[2:])
        return desc
    import numpy as np

    dt = np.dtype(spec)
    return _from_dtype(dt, type_name, type_name or str(dt))


def create_typed(
    name: str,
    spec: Any,
    *,
    type_name: str | None = None,
    value: Any = None,
    mode: int | None = None,
    persist: bool = False,
) -> Field:
    """Creates a typed segment from a numpy dtype or a ``ctypes.Structure``,
    with the header a Rust ``Shared<T>`` writes: Rust's
    ``Shared::<T>::open`` accepts it when ``T`` has this layout (same struct
    name, field names, types and offsets) and refuses it with
    ``LayoutMismatch`` otherwise.

    ``type_name`` is the Rust struct's name (a ctypes class gives its own).
    ``value`` is the initial bytes (any buffer of the right size, e.g. a
    numpy record or a ctypes instance); zeros by default. Raises
    ``TypeError`` for types that cannot be shared (objects, pointers, bool),
    ``InvalidLayout`` for an inconsistent layout, ``FileExistsError``.
    """
    desc = describe(spec, type_name)
    size = _size(desc)
    data = bytes(size) if value is None else bytes(memoryview(value).cast("B"))
    return Field(TypedSegment.create(name, desc, data, mode=mode, persist=persist))


def _size(desc: tuple) -> int:
    if desc[0] == "prim":
        return int(desc[1][1:]) // 8
    if desc[0] == "array":
        return _size(desc[1]) * int(desc[2])
    return int(desc[2])


def seqlock_of(spec: Any, type_name: str | None = None) -> tuple:
    """The layout description of a ``SeqLock<T>`` whose ``T`` is the numpy
    dtype (or ctypes type) ``spec``, as Rust describes it: a sequence word,
    a writer word and two copies of ``T``. ``T`` must be at most 8-aligned
    and a multiple of 4 bytes, as ``SeqLock<T>`` in shared memory requires."""
    inner = describe(spec, type_name)
    size, align = _size(inner), _align(inner)
    if align > 8 or (16 + 2 * size) % 8 != 0:
        raise TypeError(
            f"SeqLock of {size}-byte, {align}-aligned values: the value must be at most "
            "8-aligned and a multiple of 4 bytes; add padding fields"
        )
    return ("struct", "SeqLock", 16 + 2 * size, max(align, 8), [
        ("seq", 0, ("prim", "AtomicU64")),
        ("writer", 8, ("prim", "AtomicU64")),
        ("slots", 16, ("array", inner, 2)),
    ])


def create_seqlock(name: str, spec: Any, *, type_name: str | None = None, value: Any = None,
                   mode: int | None = None, persist: bool = False) -> SeqLock:
    """Creates a typed segment holding a ``SeqLock`` of the numpy dtype (or
    ctypes type) ``spec``, which Rust opens as ``Shared::<SeqLock<T>>`` when
    ``T`` has that layout. ``value`` is the initial value (zeros by default)."""
    import numpy as np

    desc = seqlock_of(spec, type_name)
    size = _size(desc[4][2][2][1])
    if value is None:
        payload = bytes(size)
    else:
        payload = np.asarray(value, dtype=dtype_of(desc[4][2][2][1])).tobytes()
    data = bytes(16) + payload + payload
    return SeqLock(TypedSegment.create(name, desc, data, mode=mode, persist=persist))


def typed_layout(value: Field) -> str:
    """The layout stored in the segment, in one line."""
    return value._seg.layout


__all__ = ["Field", "SeqLock", "SeqLockWriter", "TypedSegment", "create_seqlock", "create_typed",
           "describe", "dtype_of", "open_typed", "seqlock_of", "typed_layout"]
