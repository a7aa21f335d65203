"""A simulated day's messages into the raw topics (:func:`publish`) or a JSONL file
(:func:`write`), for ``gim-faust simulate`` and ``make demo``.

Messages are published in event-time order with the contract's keys, as fast as the broker
takes them or paced at a multiple of real time. Never before the clock has come within
``GIM_MAX_CLOCK_SKEW`` of an event's time (:func:`held_back`): the GSP rejects an event further
ahead as ``bad_value`` (contract events.md), so a simulated day that starts now, or tomorrow,
is published as its time comes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from gim_faust.errors import RetriableError
from gim_faust.kafka import TopicSpec, client_options, ensure_topics
from gim_faust.settings import Settings
from gim_faust.simulate import SimMessage
from gim_faust.topics import RAW_SUFFIXES, Topics


class _Batches:
    """Messages gathered into one batch per partition, sent when full: twice the rate of one
    ``send`` per message. Keys are partitioned as every Kafka client does (murmur2), so each
    key's events stay in order on one partition."""

    def __init__(self, producer: AIOKafkaProducer, partitions: dict[str, list[int]]) -> None:
        self.producer, self.partitions = producer, partitions
        self.partitioner = DefaultPartitioner()
        self.open: dict[tuple[str, int], BatchBuilder] = {}
        self.sent: list[asyncio.Future[Any]] = []

    async def add(self, topic: str, key: bytes, value: bytes) -> None:
        choices = self.partitions[topic]
        where = (topic, self.partitioner(key, choices, choices))
        batch = self.open.get(where)
        if batch is None:
            batch = self.open[where] = self.producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None) is None:  # full
            await self._send(where)
            self.open[where] = self.producer.create_batch()
            self.open[where].append(key=key, value=value, timestamp=None)

    async def _send(self, where: tuple[str, int]) -> None:
        batch = self.open.pop(where)
        self.sent.append(await self.producer.send_batch(batch, where[0], partition=where[1]))
        if len(self.sent) > 1000:  # keep the list short: wait for the oldest
            await asyncio.gather(*self.sent[:500])
            del self.sent[:500]

    async def flush(self) -> None:
        for where in list(self.open):
            await self._send(where)
        await asyncio.gather(*self.sent)
        self.sent.clear()


async def publish(settings: Settings, messages: Iterable[SimMessage], partitions: int = 3,
                  speed: float | None = None) -> int:
    """Publish ``messages`` (in event-time order) to the tenant's raw topics, creating the
    missing ones; paced at ``speed`` times real time if given. Returns how many."""
    topics = Topics(settings.topic_prefix)
    names = {suffix: topics.raw(suffix) for suffix in RAW_SUFFIXES}
    await ensure_topics(settings.kafka, [TopicSpec(name, partitions) for name in names.values()])
    producer = AIOKafkaProducer(**client_options(settings.kafka), linger_ms=20,
                                max_batch_size=256 * 1024, acks="all")
    count, loop = 0, asyncio.get_running_loop()
    try:
        await producer.start()
        batches = _Batches(producer, {name: sorted(await producer.partitions_for(name))
                                      for name in names.values()})
        began, first_ms = loop.time(), None
        for message in messages:
            delay = held_back(message.ts_ms, settings.max_clock_skew, time.time())
            if speed is not None:
                first_ms = message.ts_ms if first_ms is None else first_ms
                delay = max(delay, began + (message.ts_ms - first_ms) / 1000 / speed - loop.time())
            if delay > 0:
                await batches.flush()
                await asyncio.sleep(delay)
            await batches.add(names[message.topic_suffix], message.key, message.value)
            count += 1
        await batches.flush()
    except KafkaError as exc:
        raise RetriableError(f"Kafka at {settings.kafka_bootstrap}: {exc}") from exc
    finally:
        await producer.stop()
    return count


def held_back(ts_ms: int, skew_s: float, now_s: float) -> float:
    """Seconds to wait before an event of ``ts_ms`` is within ``skew_s`` of the clock."""
    return ts_ms / 1000 - skew_s - now_s


def write(path: Path, messages: Iterable[SimMessage]) -> int:
    """Write ``messages`` to ``path`` as JSON lines (the events' values); returns how many."""
    count = 0
    with path.open("wb") as out:
        for message in messages:
            out.write(message.value + b"\n")
            count += 1
    return count

