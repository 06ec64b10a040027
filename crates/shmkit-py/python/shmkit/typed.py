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


def typed_layout(value: Field) -> str:
    """The layout stored in the segment, in one line."""
    return value._seg.layout


__all__ = ["Field", "TypedSegment", "open_typed", "typed_layout"]
