"""What the agents send: fact versions and ended parties, straight to Faust's Kafka producer.

A batch's output is held until the batch ends (:class:`Outgoing`), and of the versions one
batch makes of a fact only the highest is sent: the loader keeps only the highest version
anyway, and an interaction's rows change with almost every event, so a batch of a busy
backlog would otherwise send most rows several times. Ended parties are all sent, in order.

Faust's ``Topic.send`` costs more per message than the transform that made it (schema,
callbacks, a channel hop); the producer's own ``send`` only queues the message in the Kafka
client's batch and returns. The message still goes through the producer that Faust flushes
before it commits an input offset, so nothing is committed ahead of its output. Partitions
are left to the client's default partitioner, as ``Topic.send`` leaves them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

import orjson

from gim_faust.facts import Fact, supersedes, to_record
from gim_faust.tables.state_codec import Sent
from gim_faust.transforms.outcome import Outcome, PartyEnded

if TYPE_CHECKING:
    from gim_faust.codec import Rejection
    from gim_faust.gsp.service import Gsp

REJECT_HEADER = "gim-reject-reason"


@cache
def child(metric: Any, *labels: str) -> Any:
    """A labelled metric, looked up once: ``labels()`` costs as much as an event's decode."""
    return metric.labels(*labels)


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


# Where an output comes from: the input message that produced it (topic, partition, offset)
# and the state key whose outbox records it. One message can touch several keys: an event
# that moves event time on also times out other interactions.
Origin = tuple[str, int, int, bytes]


@dataclass
class Outgoing:
    """The output of one batch of events, by the message that produced each part."""

    facts: dict[str, tuple[Fact, Origin]] = field(default_factory=dict)  # by fact key
    handoffs: list[tuple[PartyEnded, Origin]] = field(default_factory=list)
    origins: dict[Origin, None] = field(default_factory=dict)  # in the order of the events

    def add(self, outcome: Outcome, origin: Origin) -> None:
        self.origins[origin] = None
        for fact in outcome.facts:
            key = fact_key(fact)
            held, _ = self.facts.get(key, (None, origin))
            if supersedes(fact, held):
                self.facts[key] = fact, origin
        self.handoffs += [(ended, origin) for ended in outcome.handoffs]

    def clear(self) -> None:
        self.facts.clear()
        self.handoffs.clear()
        self.origins.clear()


class Output:
    def __init__(self, gsp: Gsp, party_topic: str) -> None:
        self.gsp, self.party_topic = gsp, party_topic

    async def send(self, messages: list[Sent]) -> list[asyncio.Future[Any]]:
        """Queue the messages in the Kafka client; their delivery futures."""
        producer = self.gsp.app.producer
        return [await producer.send(topic, key, value, None, None, None)
                for topic, key, value in messages]

    async def publish(self, outgoing: Outgoing
                      ) -> dict[Origin, tuple[list[Sent], list[asyncio.Future[Any]]]]:
        """Send a batch's output in the order of the events that produced it; per origin,
        the messages sent and their futures."""
        facts_topic, facts_out = self.gsp.topics.facts, self.gsp.metrics.facts_out
        by_origin: dict[Origin, list[Sent]] = {origin: [] for origin in outgoing.origins}
        for key, (fact, origin) in outgoing.facts.items():
            by_origin[origin].append(fact_message(facts_topic, key, fact))
            child(facts_out, fact.table).inc()
        for ended, origin in outgoing.handoffs:
            by_origin[origin].append(party_message(self.party_topic, ended))
        return {origin: (sent, await self.send(sent)) for origin, sent in by_origin.items()
                if sent}


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
            await producer.send(self.topic, record.key, record.value, None, None, [
                (REJECT_HEADER, rejection.reason.encode()),
                ("gim-reject-detail", rejection.detail.encode()[:1000]),
                ("gim-source", f"{record.topic}/{record.partition}/{record.offset}".encode())])
            child(self.counter, rejection.reason).inc()
        self.held.clear()


def delivered(futures: list[asyncio.Future[Any]]) -> bool:
    """Kafka has acknowledged every one of these messages."""
    return all(f.done() and not f.cancelled() and f.exception() is None for f in futures)
