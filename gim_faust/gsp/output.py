"""What a batch sends: fact versions and ended parties, straight to Faust's Kafka producer.

A batch's output is held until the batch ends (:class:`Outgoing`), then sent, and the batch
writes its states only once Kafka has acknowledged all of it (``gsp/channel.py``). Of the
versions one batch makes of a fact only the highest is sent: the loader keeps only the
highest version anyway, and an interaction's rows change with almost every event, so a batch
of a busy backlog would otherwise send most rows several times. Ended parties are all sent,
in order.

Faust's ``Topic.send`` costs more per message than the transform that made it (schema,
callbacks, a channel hop); the producer's own ``send`` only queues the message in the Kafka
client's batch and returns. The message still goes through the producer that Faust flushes
before it commits an input offset, so nothing is committed ahead of its output. Partitions
are Kafka's default ones (``gsp/partitioner.py``), as ``Topic.send`` leaves them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from faust.types import RecordMetadata

from gim_faust.gsp.metrics import child
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

    async def send(self, messages: list[Sent]) -> list[Awaitable[RecordMetadata]]:
        """Queue the messages in the Kafka client; their delivery futures."""
        producer = self.gsp.app.producer
        return [await producer.send(topic, key, value, None, None, None)
                for topic, key, value in messages]

    async def publish(self, outgoing: Outgoing) -> list[Awaitable[RecordMetadata]]:
        """Send a batch's output; the delivery futures."""
        facts_topic, facts_out = self.gsp.topics.facts, self.gsp.metrics.facts_out
        messages = []
        for key, fact in outgoing.facts.items():
            messages.append(fact_message(facts_topic, key, fact))
            child(facts_out, fact.table).inc()
        messages += [party_message(self.party_topic, ended) for ended in outgoing.handoffs]
        return await self.send(messages)


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
