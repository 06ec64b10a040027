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
            out[name] = v.to_python() if isinstance(v, Field) else v
        return out

    def __repr__(self) -> str:
        return f"<{self._seg.name}{'.' + self._path if self._path else ''}: {self.to_python()!r}>"


def open_typed(name: str, **options: Any) -> Field:
    """Opens a typed segment created by Rust's ``Shared<T>`` and returns its
    value as a :class:`Field`: attributes for struct fields, indexing for
    arrays, each number checked against the stored layout.

    Takes the options of ``Segment.open`` (``read_only``, ``trust_owner``,
    ``accept_mode``, ``timeout``). Raises ``NotTyped`` for a segment without
    a shmkit header, ``Corrupted`` for a damaged one, ``FileNotFoundError``.
    The layout is on ``shmkit.typed_layout(field)``.
    """
    return Field(TypedSegment.open(name, **options))


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


def typed_layout(value: Field) -> str:
    """The layout stored in the segment, in one line."""
    return value._seg.layout


__all__ = ["Field", "TypedSegment", "create_typed", "describe", "open_typed", "typed_layout"]
