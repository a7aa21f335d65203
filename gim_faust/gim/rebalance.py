"""The loader's rebalance listener: where each assigned partition resumes, and what a revoked
one leaves behind. It keeps its share of the Kafka side of exactly once (the rest is the
consume loop's, :mod:`gim_faust.gim.worker`):

- on every assignment each partition is sought to the offset the **database** holds (the
  beginning if it holds none), never to Kafka's committed offset;
- a rebalance waits for a batch being written, then drops whatever was buffered: the next
  owner of a partition resumes from the database.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from gim_faust.errors import RetriableError
from gim_faust.gim.retry import GaveUp

if TYPE_CHECKING:
    from gim_faust.gim.worker import Loader

log = logging.getLogger(__name__)


class Rebalance(ConsumerRebalanceListener):
    def __init__(self, loader: Loader) -> None:
        self.loader = loader

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        loader = self.loader
        async with loader.lock:   # a batch being written finishes first
            parts = {(tp.topic, tp.partition) for tp in revoked}
            dropped = loader.acc.revoke(parts)
            for topic, partition in parts:
                loader.loaded.pop((topic, partition), None)
                with contextlib.suppress(KeyError):
                    loader.metrics.lag.remove(topic, str(partition))
            if dropped:
                log.info("partitions revoked; dropped %d buffered records (they will be "
                         "re-read from the offsets in the Info Mart)", dropped)
            loader.metrics.assigned.set(len(loader.acc.assigned))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        # aiokafka only logs an exception raised here and goes on from Kafka's committed
        # offsets; the accumulator would then refuse every record of these partitions (they
        # have no position) and loading would stall unseen. So any failure stops the worker,
        # which exits 1 and is restarted.
        try:
            await self._position(assigned)
        except Exception as exc:
            log.exception("could not position the assigned partitions; stopping")
            self.loader.failure = exc
            self.loader.stop()

    async def _position(self, assigned: set[TopicPartition]) -> None:
        """Seeks each assigned partition to the offset the Info Mart holds for it."""
        loader = self.loader
        assert loader.consumer is not None
        consumer = loader.consumer
        async with loader.lock:
            parts = sorted((tp.topic, tp.partition) for tp in assigned)
            stored = await loader.db("reading the loader's offsets from the Info Mart",
                                     loader.writer.stored_offsets, parts)
            if isinstance(stored, GaveUp):
                return  # stopping
            fresh = [tp for tp in assigned if (tp.topic, tp.partition) not in stored]

            async def beginning_offsets() -> dict[TopicPartition, int]:
                try:
                    return await consumer.beginning_offsets(fresh) if fresh else {}
                except KafkaError as exc:
                    raise RetriableError(f"listing the beginning offsets: {exc}") from exc
            beginning = await loader.with_retry("reading where the fact topic begins",
                                                beginning_offsets, database=False)
            if isinstance(beginning, GaveUp):
                return
            # No await from here on: the seeks and the accumulator's positions change together.
            positions = {}
            for tp in assigned:
                offset = stored.get((tp.topic, tp.partition), beginning.get(tp, 0))
                consumer.seek(tp, offset)
                positions[(tp.topic, tp.partition)] = offset
            loader.acc.assign(positions)
            loader.loaded.update(positions)
            loader.assigned_once = True
            loader.metrics.assigned.set(len(loader.acc.assigned))
            log.info("assigned %d partitions of %s; resuming from the Info Mart's offsets %s",
                     len(assigned), loader.topics.facts,
                     {p: o for (_, p), o in sorted(positions.items())})
