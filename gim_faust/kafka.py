"""Kafka connection settings and topic creation shared by the three services."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    CoordinatorLoadInProgressError,
    GroupCoordinatorNotAvailableError,
    KafkaError,
    NotCoordinatorForGroupError,
    TopicAlreadyExistsError,
)
from aiokafka.structs import OffsetAndMetadata

from gim_faust.errors import FatalError, RetriableError
from gim_faust.settings import KafkaSettings

_COORDINATOR_PENDING = (GroupCoordinatorNotAvailableError, CoordinatorLoadInProgressError,
                        NotCoordinatorForGroupError)


def client_options(kafka: KafkaSettings) -> dict[str, Any]:
    """aiokafka keyword arguments for the bootstrap servers and security settings."""
    options: dict[str, Any] = {"bootstrap_servers": kafka.bootstrap,
                               "security_protocol": kafka.security_protocol}
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl.create_default_context(cafile=kafka.ssl_cafile)
    if kafka.security_protocol.startswith("SASL"):
        options.update(sasl_mechanism=kafka.sasl_mechanism or "PLAIN",
                       sasl_plain_username=kafka.sasl_username,
                       sasl_plain_password=kafka.sasl_password)
    return options


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool = False


# How long a topic just created may take to have a leader for every partition.
TOPICS_READY_S = 30.0


async def ensure_topics(kafka: KafkaSettings, specs: list[TopicSpec]) -> None:
    """Create the topics that are missing (existing ones are left as they are), then wait
    until every one of them has a leader for each of its partitions.

    A client that reads a topic's metadata in the moment after its creation can see it
    without partitions and keep that view: Faust's consumer did, and then refused every
    write to a table whose changelog it believed had 0 partitions (``PartitionsMismatch``),
    until the next rebalance."""
    async with admin_client(kafka) as admin:
        existing = set(await admin.list_topics())
        missing = [NewTopic(s.name, s.partitions, kafka.replication_factor,
                            topic_configs={"cleanup.policy": "compact"} if s.compacted else {})
                   for s in specs if s.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):   # created meanwhile
                await admin.create_topics(missing)
        deadline = asyncio.get_running_loop().time() + TOPICS_READY_S
        while unready := _unready(await admin.describe_topics([s.name for s in specs])):
            if asyncio.get_running_loop().time() > deadline:
                raise RetriableError(f"Kafka at {kafka.bootstrap}: topic(s) "
                                     f"{', '.join(sorted(unready))} have no leader for every "
                                     f"partition after {TOPICS_READY_S:g} s")
            await asyncio.sleep(0.1)


def _unready(described: list[dict[str, Any]]) -> set[str]:
    """The described topics that lack partitions or a leader for one of them."""
    return {topic["topic"] for topic in described
            if topic.get("error_code", 0) or not topic.get("partitions")
            or any(p.get("leader", -1) < 0 for p in topic["partitions"])}


async def partition_counts(kafka: KafkaSettings, names: list[str]) -> dict[str, int | None]:
    """How many partitions each named topic has (None: it does not exist)."""
    admin = AIOKafkaAdminClient(**client_options(kafka))
    try:
        await admin.start()
        described = await admin.describe_topics(names)
    except KafkaError as exc:
        raise FatalError(f"Kafka at {kafka.bootstrap} is unreachable: {exc}") from exc
    finally:
        await admin.close()
    counts: dict[str, int | None] = dict.fromkeys(names)
    for topic in described:
        if topic.get("error_code", 0) == 0 and topic.get("partitions"):
            counts[topic["topic"]] = len(topic["partitions"])
    return counts


async def end_offsets(kafka: KafkaSettings, topics: list[str]) -> dict[TopicPartition, int]:
    """The offset after the last message of every partition of ``topics`` (topics that do
    not exist are left out)."""
    counts = await partition_counts(kafka, topics)
    tps = [TopicPartition(t, p) for t, count in counts.items() for p in range(count or 0)]
    if not tps:
        return {}
    async with plain_consumer(kafka) as consumer:
        return await consumer.end_offsets(tps)


async def partition_lag(kafka: KafkaSettings, group: str, topics: list[str]
                        ) -> dict[TopicPartition, int] | None:
    """Per partition of ``topics``, how many messages the consumer ``group`` has not
    committed yet (None while one of the topics does not exist or the group has no
    coordinator yet: a group the broker has just started to track is briefly unknown, which
    is not an error)."""
    ends = await end_offsets(kafka, topics)
    if {tp.topic for tp in ends} != set(topics):
        return None
    async with admin_client(kafka) as admin:
        try:
            committed = await admin.list_consumer_group_offsets(group)
        except _COORDINATOR_PENDING:
            return None
    return uncommitted(ends, {tp: meta.offset for tp, meta in committed.items()})


def uncommitted(ends: dict[TopicPartition, int], committed: dict[TopicPartition, int]
                ) -> dict[TopicPartition, int]:
    """Messages not committed per partition. The ends are read before the commits, so a
    partition may be committed past the end read a moment ago: it has nothing left, and must
    not offset another partition's lag in a sum. No commit (or -1) counts from 0."""
    return {tp: max(0, end - max(0, committed.get(tp, 0))) for tp, end in ends.items()}


async def group_lag(kafka: KafkaSettings, group: str, topics: list[str]) -> int | None:
    """How many messages of ``topics`` the consumer ``group`` has not committed yet, over all
    partitions (None as for :func:`partition_lag`)."""
    lags = await partition_lag(kafka, group, topics)
    return None if lags is None else sum(lags.values())


async def topic_size(kafka: KafkaSettings, topic: str) -> int:
    """How many messages ``topic`` has received, over all partitions (0 if it is missing)."""
    return sum((await end_offsets(kafka, [topic])).values())


@asynccontextmanager
async def _running(client: Any, kafka: KafkaSettings, stop: str) -> AsyncIterator[Any]:
    """``client`` started, stopped with its method ``stop`` on the way out; Kafka errors
    inside become :class:`RetriableError`."""
    try:
        await client.start()
        yield client
    except KafkaError as exc:
        raise RetriableError(f"Kafka at {kafka.bootstrap}: {exc}") from exc
    finally:
        await getattr(client, stop)()


def admin_client(kafka: KafkaSettings) -> AbstractAsyncContextManager[AIOKafkaAdminClient]:
    return _running(AIOKafkaAdminClient(**client_options(kafka)), kafka, "close")


def plain_consumer(kafka: KafkaSettings, group: str | None = None
                   ) -> AbstractAsyncContextManager[AIOKafkaConsumer]:
    """A consumer that subscribes to nothing (offset queries, manual commits)."""
    return _running(AIOKafkaConsumer(**client_options(kafka), group_id=group,
                                     enable_auto_commit=False), kafka, "stop")


async def committed_offsets(kafka: KafkaSettings, group: str, tps: list[TopicPartition]
                            ) -> dict[TopicPartition, int]:
    """The offsets ``group`` has committed for ``tps`` (a partition it never committed is
    left out)."""
    async with admin_client(kafka) as admin:
        offsets = await admin.list_consumer_group_offsets(group, partitions=tps)
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


async def move_group(kafka: KafkaSettings, group: str, targets: dict[TopicPartition, int],
                     why: str) -> None:
    """Commit ``targets`` for ``group``, which must have no members (Kafka refuses the commit
    otherwise); ``why`` goes into each offset's metadata."""
    async with plain_consumer(kafka, group) as consumer:
        consumer.assign(list(targets))  # commits need an assignment
        await consumer.commit({tp: OffsetAndMetadata(offset, why)
                               for tp, offset in targets.items()})


async def offset_bounds(kafka: KafkaSettings, tps: list[TopicPartition]
                        ) -> dict[TopicPartition, tuple[int, int]]:
    """The first offset each partition still holds and the offset after its last message."""
    if not tps:
        return {}
    async with plain_consumer(kafka) as consumer:
        first = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
    return {tp: (first[tp], end[tp]) for tp in tps}


async def topic_setting(kafka: KafkaSettings, topic: str, name: str) -> str | None:
    """One configuration value of ``topic`` as the broker applies it (None: unknown)."""
    async with admin_client(kafka) as admin:
        answers = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, {name: None})])
    for answer in answers:
        for resource in answer.to_object()["resources"]:
            for entry in resource["config_entries"]:
                if entry["config_names"] == name:
                    return str(entry["config_value"])
    return None


async def group_state(kafka: KafkaSettings, group: str) -> tuple[str, int]:
    """The consumer group's state (``Empty``, ``Dead``, ``Stable``...) and how many members it
    has right now."""
    async with admin_client(kafka) as admin:
        (answer,) = await admin.describe_consumer_groups([group])
    (described,) = answer.groups
    if described[0]:
        raise RetriableError(f"describing consumer group {group!r}: Kafka error code "
                             f"{described[0]}")
    return described[2], len(described[5])
