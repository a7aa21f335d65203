"""Records handed to the Kafka client a record batch per topic partition, not a message at a
time.

Faust's ``Topic.send`` and even aiokafka's ``send`` cost more per message than the batch
engine spends on the event that made it: a future per message, the partitioner, a lookup of
the partition's open batch, Faust's wrapper around all of it. aiokafka builds a whole record
batch for one partition instead (``create_batch``, ``append``, ``send_batch``); the broker
receives the same records, in the order added, and a reader sees no difference. The caller
chooses the partition, and gets one delivery future per record batch.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from faust.types import TP, RecordMetadata


@dataclass(frozen=True)
class Sending:
    """A record batch handed to the client: ``count`` records for ``tp``; ``delivered``
    holds the metadata of its first record once Kafka has acknowledged it."""

    tp: TP
    count: int
    delivered: asyncio.Future[RecordMetadata]


class RecordBatches:
    """Records per topic partition, in the order added."""

    def __init__(self) -> None:
        self.records: dict[TP, list[tuple[bytes, bytes | None]]] = {}

    def add(self, tp: TP, key: bytes, value: bytes | None) -> None:
        held = self.records.get(tp)
        if held is None:
            held = self.records[tp] = []
        held.append((key, value))

    async def send(self, producer: Any) -> list[Sending]:
        """Hand every record to the aiokafka ``producer`` and forget them: a record batch
        per partition, more when one would exceed the producer's batch size."""
        sending = []
        for tp, records in self.records.items():
            batch, count = producer.create_batch(), 0
            for key, value in records:
                if batch.append(key=key, value=value, timestamp=None) is None:  # full
                    sending.append(await _send(producer, batch, tp, count))
                    batch, count = producer.create_batch(), 0
                    batch.append(key=key, value=value, timestamp=None)  # a first always fits
                count += 1
            sending.append(await _send(producer, batch, tp, count))
        self.records.clear()
        return sending


async def _send(producer: Any, batch: Any, tp: TP, count: int) -> Sending:
    batch.close()  # complete: the client sends it without lingering
    return Sending(tp, count, await producer.send_batch(batch, tp.topic, partition=tp.partition))
