"""What the agents send: fact versions and ended parties, straight to Faust's Kafka producer.

Faust's ``Topic.send`` costs more per message than the transform that made it (schema,
callbacks, a channel hop); the producer's own ``send`` only queues the message in the Kafka
client's batch and returns. The message still goes through the producer that Faust flushes
before it commits an input offset, so nothing is committed ahead of its output. Partitions
are left to the client's default partitioner, as ``Topic.send`` leaves them.
"""

from __future__ import annotations

import asyncio
from functools import cache
from typing import TYPE_CHECKING, Any

import orjson

from gim_faust.facts import Fact, to_record
from gim_faust.tables.state_codec import Sent
from gim_faust.transforms.outcome import Outcome, PartyEnded

if TYPE_CHECKING:
    from gim_faust.gsp.service import Gsp


@cache
def child(metric: Any, *labels: str) -> Any:
    """A labelled metric, looked up once: ``labels()`` costs as much as an event's decode."""
    return metric.labels(*labels)


def fact_message(topic: str, fact: Fact) -> Sent:
    """A fact version as it goes to the fact topic: key ``<table>:<id>``, the record as JSON."""
    return topic, f"{fact.table}:{fact.id}".encode(), orjson.dumps(to_record(fact))


def party_message(topic: str, ended: PartyEnded) -> Sent:
    """An ended party for the after-call-work join, keyed by agent login."""
    return topic, ended.agent_login.encode(), orjson.dumps({
        "agent_login": ended.agent_login, "media": ended.media, "end_ms": ended.end_ms,
        "fact": to_record(ended.fact)})


class Output:
    def __init__(self, gsp: Gsp, party_topic: str) -> None:
        self.gsp, self.party_topic = gsp, party_topic

    async def send(self, messages: list[Sent]) -> list[asyncio.Future[Any]]:
        """Queue the messages in the Kafka client; their delivery futures."""
        producer = self.gsp.app.producer
        return [await producer.send(topic, key, value, None, None, None)
                for topic, key, value in messages]

    async def publish(self, outcome: Outcome) -> tuple[list[Sent], list[asyncio.Future[Any]]]:
        """Send the outcome's facts and ended parties; returns them and their futures."""
        facts_topic, facts_out = self.gsp.topics.facts, self.gsp.metrics.facts_out
        messages = [fact_message(facts_topic, fact) for fact in outcome.facts]
        for fact in outcome.facts:
            child(facts_out, fact.table).inc()
        messages += [party_message(self.party_topic, ended) for ended in outcome.handoffs]
        return messages, await self.send(messages)


def delivered(futures: list[asyncio.Future[Any]]) -> bool:
    """Kafka has acknowledged every one of these messages."""
    return all(f.done() and not f.cancelled() and f.exception() is None for f in futures)
