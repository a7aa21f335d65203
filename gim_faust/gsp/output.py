"""What a batch sends: fact versions and ended parties, straight to the Kafka client.

A batch's output is held until the batch ends (:class:`Outgoing`), then sent, and the batch
writes its states only once Kafka has acknowledged all of it (``gsp/channel.py``). Of the
versions one batch makes of a fact only the highest is sent: the loader keeps only the
highest version anyway, and an interaction's rows change with almost every event, so a batch
of a busy backlog would otherwise send most rows several times. Ended parties are all sent,
in order.

Faust's ``Topic.send``, and aiokafka's ``send`` too, cost more per message than the rules
that made it: the messages of a partition go out as one record batch
(``gsp/record_batches.py``; on a backlog, sending a message at a time was 17 % of a
worker's samples). They still go through the producer that Faust flushes before it commits
an input offset, so nothing is committed ahead of its output. Partitions are Kafka's
default ones (``gsp/partitioner.py``), the ones ``Topic.send`` chose.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from aiokafka.errors import MessageSizeTooLargeError
from faust.types import TP, RecordMetadata

from gim_faust.gsp import faust_patches, partitioner
from gim_faust.gsp.metrics import child
from gim_faust.gsp.record_batches import RecordBatches
from gim_faust.models.facts import Fact, supersedes, to_record
from gim_faust.tables.state_codec import Sent
from gim_faust.transforms.outcome import Outcome, PartyEnded

if TYPE_CHECKING:
    from gim_faust.gsp.service import Gsp
    from gim_faust.models.codec import Rejection

REJECT_HEADER = "gim-reject-reason"
# The largest record the GSP sends (the broker's default message.max.bytes), and room kept
# in it for a rejected record's headers: a raw event longer than the rest is sent cut, with
# its length in gim-reject-truncated, rather than not at all.
REQUEST_MAX = 1024 * 1024
_REJECT_VALUE_MAX = REQUEST_MAX - 4096


def fact_key(fact: Fact) -> str:
    """A fact row's message key: ``<table>:<id>``."""
    return f"{fact.table}:{fact.id}"


def fact_message(topic: str, key: str, fact: Fact) -> Sent:
    """A fact version as it goes to the fact topic, the record as JSON."""
    return topic, key.encode(), orjson.dumps(to_record(fact))


def party_message(topic: str, ended: PartyEnded) -> Sent:
    """An ended party for the after-call-work join, keyed by agent login."""
    return topic, ended.agent_login.encode(), orjson.dumps({
        "agent_login": ended.agent_login, "media": ended.media, "end_ms": ended.end_ms,
        "fact": to_record(ended.fact)})


@dataclass
class Outgoing:
    """The output of one batch of events."""

    facts: dict[str, Fact] = field(default_factory=dict)  # by fact key
    handoffs: list[PartyEnded] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        for fact in outcome.facts:
            key = fact_key(fact)
            if supersedes(fact, self.facts.get(key)):
                self.facts[key] = fact
        self.handoffs += outcome.handoffs

    def clear(self) -> None:
        self.facts.clear()
        self.handoffs.clear()


class Output:
    def __init__(self, gsp: Gsp, party_topic: str) -> None:
        self.gsp, self.party_topic = gsp, party_topic

    async def _send(self, messages: list[Sent]) -> list[Awaitable[RecordMetadata]]:
        """Hand the messages to the Kafka client, a record batch per partition; the
        batches' delivery futures. A message the producer would refuse as too large
        raises here, as aiokafka's ``send`` does, so the engine can set its event apart."""
        producer = faust_patches.kafka_producer(self.gsp.app)
        batches, counts = RecordBatches(), dict[str, int]()
        for topic, key, value in messages:
            if len(key) + len(value) > REQUEST_MAX:
                raise MessageSizeTooLargeError(f"a message of {len(value)} bytes to {topic}")
            count = counts.get(topic)
            if count is None:
                count = counts[topic] = len(await producer.partitions_for(topic))
            batches.add(TP(topic, partitioner.of(key, count)), key, value)
        return [sending.delivered for sending in await batches.send(producer)]

    async def publish(self, resend: list[Sent],
                      outgoing: Outgoing) -> list[Awaitable[RecordMetadata]]:
        """Send a batch's output (after what it sends again); the delivery futures."""
        facts_topic, tables = self.gsp.topics.facts, Counter[str]()
        messages = list(resend)
        for key, fact in outgoing.facts.items():
            messages.append(fact_message(facts_topic, key, fact))
            tables[fact.table] += 1
        messages += [party_message(self.party_topic, ended) for ended in outgoing.handoffs]
        futures = await self._send(messages)
        for table, count in tables.items():
            child(self.gsp.metrics.facts_out, table).inc(count)
        return futures


class Rejects:
    """A batch's bad input, sent at its end with the original bytes; the headers say why
    and where it came from."""

    def __init__(self, topic: str, counter: Any) -> None:
        self.topic, self.counter = topic, counter
        self.held: list[tuple[Any, Rejection]] = []

    def add(self, record: Any, rejection: Rejection) -> None:
        self.held.append((record, rejection))

    async def send(self, producer: Any) -> None:
        for record, rejection in self.held:
            value, headers = record.value, [
                (REJECT_HEADER, rejection.reason.encode()),
                ("gim-reject-detail", rejection.detail.encode()[:1000]),
                ("gim-source", f"{record.topic}/{record.partition}/{record.offset}".encode())]
            if value is not None and len(value) > _REJECT_VALUE_MAX:
                value = value[:_REJECT_VALUE_MAX]
                headers.append(("gim-reject-truncated", str(len(record.value)).encode()))
            await producer.send(self.topic, record.key, value, None, None, headers)
            child(self.counter, rejection.reason).inc()
        self.held.clear()


async def acknowledged(futures: list[Awaitable[RecordMetadata]]) -> None:
    """Wait until Kafka has acknowledged every one of these messages; raise if one failed."""
    if futures:
        await asyncio.gather(*futures)
