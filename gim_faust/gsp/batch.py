"""The states one batch of events touches: each key read once and written once per batch.

Every write costs a RocksDB put and a changelog record. The engine handles what was fetched
as one batch (``gsp/engine.py``) and keeps the keys it touches here until it ends, so a busy
key costs one write per batch instead of one per event. The batch writes the table's store
itself and gives the changelog records to :class:`~gim_faust.gsp.changelog.Changelog`,
which hands them to Kafka a record batch per partition.

A Faust table is read and written in the partition of Faust's *current event*;
:class:`acting_for` makes it the record being handled, and each key's write go to the
partition of its latest record.

Keys stay decoded between batches (up to ``CACHED_KEYS`` per table, the least recently used
leave first): an agent's next event, and many interactions' next, come a batch or two later,
and reading them back from RocksDB cost a JSON decode and a rebuild every time. The cache
holds exactly what the table holds, since every write goes through :meth:`Batch.write`; it
is dropped at every revocation (:meth:`Batch.forget`; aiokafka revokes every partition
before it rejoins the group, lost ones too), since another worker may write them meanwhile.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from typing import Any

from faust import streams
from faust.types import TableT

from gim_faust.gsp.changelog import Changelog
from gim_faust.gsp.output import Outgoing
from gim_faust.tables import state_codec
from gim_faust.tables.specs import stored
from gim_faust.tables.state_codec import Outbox, Sent

CACHED_KEYS = 5_000


class Held:
    """A fetched record as Faust's tables expect the current event: its ``message`` (the
    record: topic, partition, offset, key) and its ``value``."""

    __slots__ = ("message", "value", "__weakref__")

    def __init__(self, record: Any) -> None:
        self.message, self.value = record, record.value


class acting_for:  # noqa: N801 - used as a function, in a with statement
    """Table reads and writes inside go to ``event``'s partition. (A class rather than a
    generator-based context manager: it is entered for every record, and costs a quarter.)"""

    __slots__ = ("event", "token")

    def __init__(self, event: Any) -> None:
        self.event = event

    def __enter__(self) -> None:
        # no public setter for Faust's current event
        self.token = streams._current_event.set(weakref.ref(self.event))  # noqa: SLF001

    def __exit__(self, *_: object) -> None:
        streams._current_event.reset(self.token)  # noqa: SLF001


@dataclass
class Touched:
    """One key as the batch left it. ``outbox``: the entries its stored value came with
    (only values written by versions before the batch engine have any); ``event``: the
    latest event of the key, whose partition the write goes to."""

    key: bytes
    state: Any
    outbox: Outbox
    event: Any
    stored: bool
    dirty: bool = False
    deleted: bool = False

    def update(self, state: Any) -> None:
        self.state, self.dirty, self.deleted = state, True, False

    def delete(self) -> None:
        self.dirty, self.deleted = True, True


class Batch:
    """The keys a batch touched, and its output."""

    def __init__(self, table: TableT[bytes, bytes], build: Callable[[Any], Any],
                 changelog: Changelog) -> None:
        self.table, self.build, self.changelog = table, build, changelog
        self.keys: dict[bytes, Touched] = {}
        self.cache: dict[bytes, Touched] = {}  # stored keys as earlier batches left them
        self.outgoing = Outgoing()
        self.resend: list[Sent] = []  # what duplicates of unacknowledged messages re-send

    def get(self, key: bytes, event: Any) -> Touched:
        """The key's state as this batch left it, read the first time from the cache or the
        table."""
        touched = self.keys.get(key)
        if touched is None:
            touched = self.cache.pop(key, None) or self._read(key, event)
            self.keys[key] = touched
        touched.event = event
        return touched

    def _read(self, key: bytes, event: Any) -> Touched:
        raw = stored(self.table, key)
        if raw is None:
            return Touched(key, None, [], event, stored=False)
        state, outbox = state_codec.unpack(raw)
        return Touched(key, self.build(state), outbox, event, stored=True)

    def write(self, keep: Callable[[list[Any], int], bool]) -> None:
        """Store every changed key once, with the stored outbox entries that
        ``keep(entry, partition)`` still wants."""
        for key, touched in self.keys.items():
            if touched.dirty:
                self._write(touched, keep)
            if touched.stored:
                touched.event = None
                self.cache[key] = touched
        self.keys.clear()
        for key in list(islice(self.cache, max(0, len(self.cache) - CACHED_KEYS))):
            del self.cache[key]
        self.outgoing.clear()
        self.resend.clear()

    def _write(self, touched: Touched, keep: Callable[[list[Any], int], bool]) -> None:
        partition = touched.event.message.partition
        with acting_for(touched.event):  # the store writes to the event's partition
            if not touched.deleted:
                touched.outbox = [entry for entry in touched.outbox if keep(entry, partition)]
                value = state_codec.pack(touched.state, touched.outbox)
                self.table.data[touched.key] = value
                self.changelog.add(self.table, partition, touched.key, value)
                touched.stored = True
            elif touched.stored:
                del self.table.data[touched.key]
                self.changelog.add(self.table, partition, touched.key, None)
                touched.stored = False
        touched.dirty = False

    def abort(self) -> None:
        """Drop what an aborted batch changed and would have sent: its keys are read again
        from the table, as the batch found them."""
        self.keys.clear()
        self.outgoing.clear()
        self.resend.clear()

    def forget(self) -> None:
        """Drop the cached keys (a rebalance: the next owner of a partition writes it)."""
        self.cache.clear()


class KeysAt:
    """The batch's states as the pure core's key-value store (``transforms/driving.py``),
    every key read or written on behalf of ``event`` (its write goes to that partition)."""

    def __init__(self, batch: Batch, event: Any) -> None:
        self.batch, self.event = batch, event

    def get(self, key: str) -> Any:
        touched = self.batch.get(key.encode(), self.event)
        return None if touched.deleted else touched.state

    def __setitem__(self, key: str, state: Any) -> None:
        self.batch.get(key.encode(), self.event).update(state)

    def __delitem__(self, key: str) -> None:
        self.batch.get(key.encode(), self.event).delete()
