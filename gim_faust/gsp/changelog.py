"""The states' changelog records, handed to Kafka a batch at a time rather than a message
at a time.

A Faust table sends a changelog record through Faust's topic machinery for every key set
(a future, callbacks, a message object, then aiokafka's ``send``), and writes the
changelog offset to RocksDB once each is acknowledged: on a light load, where nearly every
event rewrites its key, that path was a tenth of a worker's time. The engine's batches
write each changed key once (``gsp/batch.py``); the records of one changelog partition go
into one Kafka record batch (aiokafka's ``send_batch``), and the partition's offset is
noted once that batch is acknowledged. The records are the ones Faust would send (key,
value or a tombstone, to the partition of the event that wrote the key), so Faust's
recovery, the snapshots and the upgrade path read them as before.

The engine sends a batch's records after its output was acknowledged and before its
offsets are done; Faust's commit flushes the producer first, so no offset is committed
before the changelog of the states it produced. A record batch Kafka refuses crashes the
worker: the state it carries would otherwise be missing from the changelog for good.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import faust
from faust.types import TP, StoreT, TableT

from gim_faust.gsp import faust_patches

log = logging.getLogger(__name__)


class Changelog:
    """The changelog records of one batch, per table and partition, in the order written."""

    def __init__(self, app: faust.App) -> None:
        self.app = app
        # by the table's identity and the partition: the table, and its records
        self.records: dict[tuple[int, int], tuple[TableT[bytes, bytes],
                                                  list[tuple[bytes, bytes | None]]]] = {}

    def add(self, table: TableT[bytes, bytes], partition: int, key: bytes,
            value: bytes | None) -> None:
        """A key the batch wrote to ``table``'s store (None: deleted)."""
        held = self.records.get((id(table), partition))
        if held is None:
            held = self.records[id(table), partition] = (table, [])
        held[1].append((key, value))

    async def send(self) -> None:
        """Hand every record to the Kafka client, a record batch per partition (more when
        one would exceed the producer's batch size)."""
        producer = faust_patches.kafka_producer(self.app)
        for (_, partition), (table, records) in self.records.items():
            topic = table.changelog_topic.get_topic_name()
            batch, count = producer.create_batch(), 0
            for key, value in records:
                if batch.append(key=key, value=value, timestamp=None) is None:  # full
                    await self._send(producer, batch, table, TP(topic, partition), count)
                    batch, count = producer.create_batch(), 0
                    batch.append(key=key, value=value, timestamp=None)  # a first always fits
                count += 1
            await self._send(producer, batch, table, TP(topic, partition), count)
        self.records.clear()

    async def _send(self, producer: Any, batch: Any, table: TableT[bytes, bytes], tp: TP,
                    count: int) -> None:
        batch.close()  # complete: the client sends it without lingering
        delivered = await producer.send_batch(batch, tp.topic, partition=tp.partition)
        delivered.add_done_callback(lambda done: self._delivered(done, table, tp, count))

    def _delivered(self, done: asyncio.Future[Any], table: TableT[bytes, bytes], tp: TP,
                   count: int) -> None:
        """Note the partition's last changelog offset in its store, as Faust does per
        record, so that recovery reads the changelog from there."""
        if done.cancelled() or done.exception() is not None:
            cause = done.exception() if not done.cancelled() else asyncio.CancelledError()
            log.error("Kafka refused a batch of %d changelog records for %s", count, tp,
                      exc_info=cause)
            self.app.loop.create_task(self.app.crash(cause))  # type: ignore[arg-type]
            return
        store = cast("StoreT[bytes, bytes]", table.data)
        store.set_persisted_offset(tp, done.result().offset + count - 1)
