"""The states' changelog records, handed to Kafka a batch at a time rather than a message
at a time.

A Faust table sends a changelog record through Faust's topic machinery for every key set
(a future, callbacks, a message object, then aiokafka's ``send``), and writes the
changelog offset to RocksDB once each is acknowledged: on a light load, where nearly every
event rewrites its key, that path was a tenth of a worker's time. The engine's batches
write each changed key once (``gsp/batch.py``); the records of one changelog partition go
into one Kafka record batch (``gsp/record_batches.py``), and the partition's offset is
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
from functools import partial
from typing import Any, cast

import faust
from faust.types import TP, StoreT, TableT

from gim_faust.gsp import faust_patches
from gim_faust.gsp.record_batches import RecordBatches, Sending

log = logging.getLogger(__name__)


class Changelog:
    """The changelog records of one batch, per table and partition, in the order written."""

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self.batches = RecordBatches()
        self.tables: dict[TP, TableT[bytes, bytes]] = {}  # by changelog partition

    def add(self, table: TableT[bytes, bytes], partition: int, key: bytes,
            value: bytes | None) -> None:
        """A key the batch wrote to ``table``'s store (None: deleted)."""
        tp = TP(table.changelog_topic.get_topic_name(), partition)
        self.tables[tp] = table
        self.batches.add(tp, key, value)

    async def send(self) -> None:
        """Hand every record to the Kafka client."""
        for sending in await self.batches.send(faust_patches.kafka_producer(self.app)):
            sending.delivered.add_done_callback(
                partial(self._delivered, table=self.tables[sending.tp], sending=sending))

    def _delivered(self, done: asyncio.Future[Any], table: TableT[bytes, bytes],
                   sending: Sending) -> None:
        """Note the partition's last changelog offset in its store, as Faust does per
        record, so that recovery reads the changelog from there."""
        if done.cancelled() or done.exception() is not None:
            cause = done.exception() if not done.cancelled() else asyncio.CancelledError()
            log.error("Kafka refused a batch of %d changelog records for %s", sending.count,
                      sending.tp, exc_info=cause)
            self.app.loop.create_task(self.app.crash(cause))  # type: ignore[arg-type]
            return
        store = cast("StoreT[bytes, bytes]", table.data)
        store.set_persisted_offset(sending.tp, done.result().offset + sending.count - 1)
