"""Typed access to the GSP's Faust tables."""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Generic, TypeVar

from faust.streams import current_event
from faust.types import TableT
from gim_faust.tables.specs import stored

V = TypeVar("V")
# Takes a table's changelog record: the table, the partition, the key, the value (None:
# deleted).
Logged = Callable[[TableT[bytes, bytes], int, bytes, "bytes | None"], None]


class CodecTable(MutableMapping[str, V], Generic[V]):
    """String keys and typed values over a table of bytes. Reads and writes happen in the
    current event's partition, as every Faust table access does.

    A write goes to the table's store, and its changelog record to ``logged`` (the GSP's
    changelog of the batch, sent a record batch per partition at the batch's end), not
    through Faust's per-key changelog path: the ended party rows this table holds are set
    once per party, and that path (a future, a message, Faust's buffer) cost more than the
    RocksDB put beside it (docs/gsp.md)."""

    def __init__(self, table: TableT[bytes, bytes], encode: Callable[[V], bytes],
                 decode: Callable[[bytes], V], logged: Logged) -> None:
        self.table, self.encode, self.decode, self.logged = table, encode, decode, logged

    def __getitem__(self, key: str) -> V:
        raw = stored(self.table, key.encode())
        if raw is None:
            raise KeyError(key)
        return self.decode(raw)

    def __setitem__(self, key: str, value: V) -> None:
        raw, encoded = self.encode(value), key.encode()
        self.table.data[encoded] = raw
        self.logged(self.table, _partition(), encoded, raw)

    def __delitem__(self, key: str) -> None:
        encoded = key.encode()
        del self.table.data[encoded]
        self.logged(self.table, _partition(), encoded, None)

    def __iter__(self) -> Iterator[str]:
        return (key.decode() for key in self.table.keys())

    def __len__(self) -> int:
        return len(self.table)


def _partition() -> int:
    """The current event's partition: where Faust's table would have written."""
    event = current_event()
    if event is None:
        raise RuntimeError("a table written outside an event")
    return event.message.partition
