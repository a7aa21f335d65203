"""The batch being gathered: records per partition, where each partition goes on, and when
the batch is due.

A batch is due when it holds ``max_records`` records, or ``max_delay_s`` after its first record
arrived: at peak it fills up fast (few large transactions, high throughput), at low load the
delay bounds how long a fact waits to be visible (contract: fresh data within about a second).

The accumulator also guards the exactly-once argument on the Kafka side: a record is only
accepted for a partition that is assigned and at or after the position the database gave
for it, so a record that a rebalance or a seek made stale can never be buffered twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from gim_faust.loaders.writer import Batch, TopicPartition
from gim_faust.models.facts import Fact


class Accumulator:
    def __init__(self, max_records: int, max_delay_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_records = max_records
        self.max_delay_s = max_delay_s
        self._clock = clock
        self._positions: dict[TopicPartition, int] = {}   # next offset to accept
        self._parts: dict[TopicPartition, _Part] = {}     # what is buffered, per partition
        self._since: float | None = None                  # when the first record came

    # ----------------------------------------------------------------- partitions

    def assign(self, positions: Mapping[TopicPartition, int]) -> None:
        """Partitions now owned, each with the offset reading resumes from."""
        for tp, offset in positions.items():
            self._positions[tp] = offset
            self._parts.pop(tp, None)

    def revoke(self, partitions: Iterable[TopicPartition]) -> int:
        """Forgets partitions and drops what was buffered for them; returns the records dropped.

        Dropping is always safe: nothing is committed anywhere before the database has the rows,
        and whoever owns a partition next resumes from the offset the database holds.
        """
        dropped = 0
        for tp in set(partitions):
            self._positions.pop(tp, None)
            part = self._parts.pop(tp, None)
            dropped += part.records if part else 0
        if not self._parts:
            self._since = None
        return dropped

    @property
    def assigned(self) -> frozenset[TopicPartition]:
        return frozenset(self._positions)

    def position(self, tp: TopicPartition) -> int | None:
        return self._positions.get(tp)

    # ----------------------------------------------------------------- records

    def add(self, tp: TopicPartition, offset: int, fact: Fact | None) -> bool:
        """Buffers one consumed record (``fact`` None: a bad record, skipped but consumed).

        Returns False, and buffers nothing, for a partition not assigned or an offset before
        the partition's position (a stale fetch after a seek).
        """
        position = self._positions.get(tp)
        if position is None or offset < position:
            return False
        self._positions[tp] = offset + 1
        part = self._parts.get(tp)
        if part is None:
            part = self._parts[tp] = _Part(first=offset)
        part.next = offset + 1
        if fact is None:
            part.bad += 1
        else:
            part.facts.append(fact)
        if self._since is None:
            self._since = self._clock()
        return True

    @property
    def records(self) -> int:
        return sum(p.records for p in self._parts.values())

    @property
    def room(self) -> int:
        """How many more records the batch takes before it is due by size."""
        return max(1, self.max_records - self.records)

    def due(self) -> bool:
        if not self._parts:
            return False
        return self.records >= self.max_records or self.time_left() == 0.0

    def time_left(self) -> float | None:
        """Seconds until the batch is due by age; None while it is empty."""
        if self._since is None:
            return None
        return max(0.0, self.max_delay_s - (self._clock() - self._since))

    def batch(self) -> Batch:
        """What to write now; the buffer stays until :meth:`clear`."""
        parts = sorted(self._parts.items())
        return Batch(facts=[f for _, p in parts for f in p.facts],
                     offsets={tp: p.next for tp, p in parts},
                     first_offsets={tp: p.first for tp, p in parts},
                     bad_records=sum(p.bad for _, p in parts))

    def clear(self) -> None:
        """Forgets the buffered records (written, or to be re-read); positions stay."""
        self._parts.clear()
        self._since = None


@dataclass
class _Part:
    first: int
    next: int = 0
    bad: int = 0
    facts: list[Fact] = field(default_factory=list)

    @property
    def records(self) -> int:
        return len(self.facts) + self.bad
