"""Where fetched records wait for the engine: whole fetches, never one message at a time.

Faust's consumer hands each fetched record to its agents one by one, with a task, a lock and
a queue hop per record; in the per-message design that was most of the GSP's cost. Records
of the engine's topics are instead taken out of each fetch as a whole (``faust_patches``)
and queued here, and the engine takes everything queued in one call.

Positions are the intake's own. ``assign`` gives each assigned partition the offset its next
record must have (the committed offset); a record below it is a repeat of one already queued
and is dropped, so each offset enters the engine once per assignment. Each queued chunk
carries the offset it starts from, so the engine's acknowledgement covers the offsets between
records that hold none (transaction markers) and a commit never stops at such a gap.
Between a revocation and the next assignment the intake is closed: what arrives is dropped,
and Kafka delivers it again from the committed offset to whoever owns the partition then.
A fetch that started before the last ``assign`` (another ``epoch``) is not taken either:
its records may start past the new position, and taking them would skip the records
between. Such a partition, like one whose records the consumer could not hand over
(``skip``), becomes unsure: the fetch loop, before its next fetch, moves each unsure
partition back to the offset the intake expects (``repositions``). Every partition is unsure
right after ``assign``, so each assignment's first fetch reads from the intake's positions
whatever the consumer's own seeks and fetches did around it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from faust.types import TP

# Records queued at most; the fetch waits for room beyond it (what a slow engine holds).
QUEUE_MAX = 50_000


@dataclass
class Chunk:
    """Records of one partition in offset order; ``start``: the first offset they account
    for (the position the intake expected, at or below the first record's offset)."""

    tp: TP
    start: int
    records: Sequence[Any]

    @property
    def end(self) -> int:
        """The offset after the last record: where the partition's commit may go."""
        return int(self.records[-1].offset) + 1


class Intake:
    def __init__(self, topics: Iterable[str], limit: int = QUEUE_MAX) -> None:
        self.topics = frozenset(topics)
        self.limit = limit
        self.queued: list[Chunk] = []
        self.size = 0
        self.expected: dict[TP, int] = {}
        self.open = False
        self.epoch = 0
        self.unsure: set[TP] = set()
        self._changed = asyncio.Condition()

    async def assign(self, positions: dict[TP, int]) -> None:
        """Open for these partitions, each to be read from its given offset (what was
        queued before is dropped: it will be fetched again from there)."""
        async with self._changed:
            self._drop()
            self.epoch += 1
            self.expected = {tp: offset for tp, offset in positions.items()
                             if tp.topic in self.topics}
            self.unsure = set(self.expected)
            self.open = True
            self._changed.notify_all()

    async def close(self) -> None:
        """Drop what is queued and take nothing until the next ``assign``."""
        async with self._changed:
            self._drop()
            self.epoch += 1
            self.expected = {}
            self.unsure = set()
            self.open = False
            self._changed.notify_all()

    def _drop(self) -> None:
        self.queued.clear()
        self.size = 0

    async def put(self, tp: TP, records: Sequence[Any], epoch: int) -> None:
        """Queue the records of one partition that a fetch started in ``epoch`` returned,
        once there is room (records from an older epoch make the partition unsure)."""
        async with self._changed:
            await self._changed.wait_for(lambda: epoch != self.epoch or self.size < self.limit)
            start = self.expected.get(tp)
            if start is None:
                return  # closed, or not assigned here: the next ``assign`` repositions it
            if epoch != self.epoch:
                self.unsure.add(tp)
                return
            first = 0
            while first < len(records) and records[first].offset < start:
                first += 1
            if first == len(records):
                return
            chunk = Chunk(tp, start, records[first:])
            self.queued.append(chunk)
            self.size += len(chunk.records)
            self.expected[tp] = chunk.end
            self._changed.notify_all()

    def skip(self, tp: TP) -> None:
        """The consumer fetched records of ``tp`` and could not hand them over."""
        if tp in self.expected:
            self.unsure.add(tp)

    def repositions(self) -> dict[TP, int]:
        """Where each unsure partition must be read from next (and no longer unsure)."""
        moves = {tp: self.expected[tp] for tp in self.unsure if tp in self.expected}
        self.unsure.clear()
        return moves

    async def take(self, most: int) -> list[Chunk]:
        """Wait for records, then take what is queued: whole chunks while the total stays
        within ``most`` (and at least one chunk, however long)."""
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self.queued))
            taken: list[Chunk] = []
            count = 0
            while self.queued and (not taken or count + len(self.queued[0].records) <= most):
                chunk = self.queued.pop(0)
                taken.append(chunk)
                count += len(chunk.records)
            self.size -= count
            self._changed.notify_all()
            return taken
