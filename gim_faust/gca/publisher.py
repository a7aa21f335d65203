"""The config topic: creating it, publishing to it, and reading back what it holds.

``<prefix>.gca.config`` is compacted (the newest record of each key is the object; a tombstone
removes it) and has ONE partition: configuration is small (one record per object), every
Stream Processor worker needs all of it rather than a share, and one partition gives every
consumer the same total order, so a login never shows up before the person it names.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from gim_faust.errors import FatalError, RetriableError
from gim_faust.gca.changes import parse_record
from gim_faust.gca.objects import ObjectKey
from gim_faust.kafka import TopicSpec, client_options, ensure_topics
from gim_faust.settings import Settings

log = logging.getLogger(__name__)

PARTITIONS = 1
# A delivery that is not acknowledged by all in-sync replicas within this long fails the
# cycle (the next poll republishes): generous against a broker leader election (~10-30 s),
# short of two default poll intervals.
DELIVERY_TIMEOUT_MS = 45_000
REQUEST_TIMEOUT_MS = 15_000
# Reading the topic back at start: stop if it has not reached the end offset in this long.
READ_BACK_TIMEOUT_S = 120


class ConfigPublisher:
    """A started producer for the config topic, idempotent and acknowledged by all replicas."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.settings, self.topic = settings, topic
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        await ensure_topics(self.settings.kafka, [TopicSpec(self.topic, PARTITIONS, compacted=True)])
        await check_compacted(self.settings, self.topic)
        producer = AIOKafkaProducer(
            **client_options(self.settings.kafka), acks="all", enable_idempotence=True,
            request_timeout_ms=REQUEST_TIMEOUT_MS, linger_ms=5)
        try:
            await producer.start()
        except KafkaError as exc:
            await producer.stop()
            raise RetriableError(f"Kafka at {self.settings.kafka_bootstrap} is unreachable: "
                                 f"{exc}") from exc
        self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    async def publish(self, records: Sequence[tuple[bytes, bytes | None]]) -> None:
        """Sends every record, in order, and returns once all are acknowledged."""
        if self._producer is None:
            raise RuntimeError("publisher not started")
        try:
            pending = [await self._producer.send(self.topic, key=key, value=value,
                                                 partition=0)
                       for key, value in records]
            await asyncio.wait_for(asyncio.gather(*pending), DELIVERY_TIMEOUT_MS / 1000)
        except (KafkaError, asyncio.TimeoutError) as exc:
            raise RetriableError(f"publishing to {self.topic} failed: "
                                 f"{exc or type(exc).__name__}") from exc


async def check_compacted(settings: Settings, topic: str) -> None:
    """FatalError unless ``topic`` is compacted: on a deleting topic configuration would
    vanish after the retention time and a restarting Stream Processor would lose it."""
    admin = AIOKafkaAdminClient(**client_options(settings.kafka))
    try:
        await admin.start()
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)])
    except KafkaError as exc:
        raise RetriableError(f"Kafka at {settings.kafka_bootstrap} is unreachable: "
                             f"{exc}") from exc
    finally:
        await admin.close()
    policy = None
    for response in responses:
        for error_code, _message, _type, name, entries in response.resources:
            if name == topic and error_code == 0:
                policy = next((e[1] for e in entries if e[0] == "cleanup.policy"), None)
    if policy is None:
        raise RetriableError(f"Kafka did not describe topic {topic} (just created?)")
    if "compact" not in policy.split(","):
        raise FatalError(f"topic {topic} has cleanup.policy={policy}; the config topic must be "
                         f"compacted: set cleanup.policy=compact on it (kafka-configs --alter "
                         f"--entity-type topics --entity-name {topic} --add-config "
                         f"cleanup.policy=compact)")


async def read_published(settings: Settings, topic: str) -> dict[ObjectKey, dict[str, Any]]:
    """The objects the topic holds now: every key's newest record, tombstones removing it.

    Used at start when there is no snapshot, so that GCA knows what consumers already have and
    can tombstone what configuration has since lost.
    """
    consumer = AIOKafkaConsumer(**client_options(settings.kafka), enable_auto_commit=False,
                                group_id=None, request_timeout_ms=REQUEST_TIMEOUT_MS)
    objects: dict[ObjectKey, dict[str, Any]] = {}
    try:
        partitions = await _partitions(settings, topic)
        await consumer.start()
        if not partitions:
            return objects
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READ_BACK_TIMEOUT_S
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            if loop.time() > deadline:
                raise RetriableError(f"reading {topic} back took over {READ_BACK_TIMEOUT_S} s")
            batches = await consumer.getmany(timeout_ms=1000)
            for messages in batches.values():
                for message in messages:
                    try:
                        kind, dbid, obj = parse_record(message.key or b"", message.value)
                    except ValueError as exc:
                        log.warning("ignoring record at offset %d of %s: %s",
                                    message.offset, topic, exc)
                        continue
                    if obj is None:
                        objects.pop((kind, dbid), None)
                    else:
                        objects[(kind, dbid)] = obj
    except KafkaError as exc:
        raise RetriableError(f"cannot read {topic} back: {exc}") from exc
    finally:
        await consumer.stop()
    return objects


async def is_empty(settings: Settings, topic: str) -> bool:
    """True when no record was ever written to ``topic`` (or it does not exist): the topic was
    (re)created, and what a snapshot says was published is not there any more."""
    consumer = AIOKafkaConsumer(**client_options(settings.kafka), enable_auto_commit=False,
                                group_id=None, request_timeout_ms=REQUEST_TIMEOUT_MS)
    try:
        partitions = await _partitions(settings, topic)
        await consumer.start()
        if not partitions:
            return True
        ends = await consumer.end_offsets(partitions)
        return all(offset == 0 for offset in ends.values())
    except KafkaError as exc:
        raise RetriableError(f"cannot look at {topic}: {exc}") from exc
    finally:
        await consumer.stop()


async def _partitions(settings: Settings, topic: str) -> list[TopicPartition]:
    """The partitions of ``topic``; [] when it does not exist."""
    admin = AIOKafkaAdminClient(**client_options(settings.kafka))
    try:
        await admin.start()
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return [TopicPartition(topic, p["partition"])
            for t in described if t.get("error_code", 0) == 0 and t.get("topic") == topic
            for p in sorted(t.get("partitions", ()), key=lambda p: p["partition"])]
