"""Typed access to the GSP's Faust tables."""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Generic, TypeVar

from faust.types import TableT
from gim_faust.tables.specs import stored

V = TypeVar("V")


class CodecTable(MutableMapping[str, V], Generic[V]):
    """String keys and typed values over a table of bytes. Reads and writes happen in the
    current event's partition, as every Faust table access does."""

    def __init__(self, table: TableT[bytes, bytes], encode: Callable[[V], bytes],
                 decode: Callable[[bytes], V]) -> None:
        self.table, self.encode, self.decode = table, encode, decode

    def __getitem__(self, key: str) -> V:
        raw = stored(self.table, key.encode())
        if raw is None:
            raise KeyError(key)
        return self.decode(raw)

    def __setitem__(self, key: str, value: V) -> None:
        self.table[key.encode()] = self.encode(value)

    def __delitem__(self, key: str) -> None:
        del self.table[key.encode()]

    def __iter__(self) -> Iterator[str]:
        return (key.decode() for key in self.table.keys())

    def __len__(self) -> int:
        return len(self.table)
