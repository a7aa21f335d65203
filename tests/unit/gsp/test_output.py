"""What a GSP batch sends: the highest version of each fact, every ended party in order, a
record batch per default partition."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner
from faust.types import RecordMetadata
from gim_faust.transforms.outcome import Outcome

from gim_faust.gsp.metrics import GspMetrics
from gim_faust.gsp.output import REQUEST_MAX, Outgoing, Output
from gim_faust.models.events import from_ms
from gim_faust.models.facts import InteractionFact


@dataclass(frozen=True)
class Row:
    table: str
    id: str
    version: int


def test_only_the_highest_version_of_a_fact_is_kept() -> None:
    out = Outgoing()
    out.add(Outcome(None, facts=[Row("interaction_fact", "a", 1)]))
    out.add(Outcome(None, facts=[Row("interaction_fact", "a", 3), Row("interaction_fact", "b", 1)]))
    out.add(Outcome(None, facts=[Row("interaction_fact", "a", 2)]))
    out.add(Outcome(None, facts=[Row("interaction_fact", "b", 1)]))  # a tie keeps the first
    assert {key: fact.version for key, fact in out.facts.items()} == {
        "interaction_fact:a": 3, "interaction_fact:b": 1}


def test_ended_parties_are_all_kept_in_order_and_clear_empties_everything() -> None:
    out = Outgoing()
    out.add(Outcome(None, handoffs=["first", "second"]))  # type: ignore[list-item]
    out.add(Outcome(None, handoffs=["third"]))  # type: ignore[list-item]
    assert out.handoffs == ["first", "second", "third"]
    out.clear()
    assert (out.facts, out.handoffs) == ({}, [])


class Builder:
    """aiokafka's record batch builder, full after ``room`` records."""

    def __init__(self, room: int) -> None:
        self.room, self.records, self.closed = room, [], False

    def append(self, *, key: bytes, value: bytes, timestamp: None) -> object | None:
        if self.closed or (self.records and len(self.records) == self.room):
            return None
        self.records.append((key, value))
        return object()

    def close(self) -> None:
        self.closed = True


class Producer:
    """The aiokafka producer as the output uses it: topics of six partitions, batches of
    three records, every batch acknowledged at once."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int, list[tuple[bytes, bytes]]]] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(6))

    def create_batch(self) -> Builder:
        return Builder(3)

    async def send_batch(self, batch: Builder, topic: str, *, partition: int) -> Any:
        assert batch.closed
        self.sent.append((topic, partition, batch.records))
        delivered = asyncio.get_running_loop().create_future()
        delivered.set_result(RecordMetadata(topic, partition, None, 100, -1, None))
        return delivered


def output(producer: Producer) -> Output:
    gsp = SimpleNamespace(app=SimpleNamespace(producer=SimpleNamespace(_producer=producer)),
                          topics=SimpleNamespace(facts="facts"), metrics=GspMetrics())
    return Output(gsp, "parties")  # type: ignore[arg-type]


async def test_each_message_goes_to_its_default_partition_a_record_batch_at_a_time() -> None:
    """Kafka's default partition for every key (the loader keeps a row's versions in one
    partition), the order kept within a partition, a full batch followed by another."""
    producer = Producer()
    resend = [("facts", f"interaction_fact:r{i}".encode(), b"old") for i in range(3)]
    out = Outgoing()
    out.add(Outcome(None, facts=[InteractionFact(f"c{i}", 1, None, from_ms(0), None, 0, None,
                                                 None, "ACTIVE", 1, 1) for i in range(40)]))
    futures = await output(producer).publish(resend, out)

    default, partitions = DefaultPartitioner(), list(range(6))
    assert len(futures) == len(producer.sent)
    assert all(len(records) <= 3 for _, _, records in producer.sent)
    keys = [key for _, key, _ in resend] + [f"interaction_fact:c{i}".encode() for i in range(40)]
    for partition in partitions:
        mine = [key for key in keys if default(key, partitions, partitions) == partition]
        assert [key for topic, p, records in producer.sent if p == partition
                for key, _ in records] == mine
    assert any(len(records) == 3 for _, _, records in producer.sent)  # some batch filled


async def test_a_message_too_large_raises_before_anything_is_sent() -> None:
    producer = Producer()
    messages = [("facts", b"a", b"x"), ("facts", b"b", b"x" * (REQUEST_MAX + 1))]
    with pytest.raises(MessageSizeTooLargeError):
        await output(producer).publish(messages, Outgoing())
    assert producer.sent == []
