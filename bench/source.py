"""The events the benchmark replays: a simulated contact-center day (``gim_faust.simulate``)
sized to the number of events asked for, and the next day of the same center for the
freshness run. The simulator is deterministic, so every corner gets the same events.

The end-to-end backlog is the whole day, its logouts included. Until 2026-12-07 it was the
first ``events`` of a longer day (1,000,000 of 1,472,097): no agent had logged out, so the
next day's logins, at the start of the freshness run, ended 2,084 sessions of a whole day
each, and the Info Mart recomputed every agent in every interval of the day before
(242,597 aggregate rows) while freshness was measured (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import islice

import orjson
from aiokafka import AIOKafkaProducer

from gim_faust.kafka import client_options
from gim_faust.settings import Settings
from gim_faust.simulate import SimMessage, SimOptions, generate, write_configuration
from gim_faust.simulate.center import ROUTING_POINTS
from gim_faust.simulate.encode import Encoder
from gim_faust.simulate.publish import publish
from gim_faust.topics import Topics

# A simulated agent-hour makes 88 events (1,472,097 events for 2,084 agents in 8 hours;
# 200,360 for 285): a day sized with it has about ``events`` events.
EVENTS_PER_AGENT_HOUR = 88
HOURS = 8.0
START = datetime(2026, 3, 2, 8, tzinfo=UTC)


def options(events: int, tenant: str) -> SimOptions:
    """A center whose 8-hour day has about ``events`` events."""
    agents = max(2, math.ceil(events / EVENTS_PER_AGENT_HOUR / HOURS))
    return SimOptions(tenant, agents=agents, hours=HOURS, start=START)


def day(sim: SimOptions, events: int | None, later: int = 0) -> Iterator[SimMessage]:
    """The first ``events`` events (None: all) of the center's day, or of the day ``later``
    days on (its own interaction ids: they carry the day)."""
    sim = dataclasses.replace(sim, start=sim.start + timedelta(days=later))
    return islice(generate(sim), events)


def prepare(settings: Settings, sim: SimOptions, events: int | None, partitions: int,
            left_open: int = 0) -> int:
    """The center's configuration into the corner's Configuration Database, the first
    ``events`` of its day (None: the whole day) into the corner's raw topics, then
    ``left_open`` calls that queue at the day's last moment and are still open when it has
    been processed; how many events were published."""
    write_configuration(settings.config_db_url, sim)
    last_ms = [0]

    def timed() -> Iterator[SimMessage]:
        for message in day(sim, events):
            last_ms[0] = message.ts_ms
            yield message
    count = asyncio.run(publish(settings, timed(), partitions))
    if left_open:
        count += asyncio.run(publish(settings, still_open(sim, last_ms[0], left_open),
                                     partitions))
    return count


def still_open(sim: SimOptions, ms: int, calls: int) -> Iterator[SimMessage]:
    """``calls`` inbound calls queued at ``ms`` on the main line, each its own interaction."""
    encoder = Encoder(sim.tenant, ms, sim.seed + 1)
    point = ROUTING_POINTS[0].number
    for n in range(calls):
        yield encoder.interaction(ms, "EventQueued", "voice", f"open-{n}", dn=point,
                                  direction="inbound", to=point, **{"from": f"+1555{n:07d}"})


async def trickle(settings: Settings, messages: Sequence[SimMessage], rate: float,
                  first_seen: dict[str, float]) -> float:
    """Publish at ``rate`` events/s; for each interaction, when its first event was handed
    to the producer (``time.perf_counter``) goes to ``first_seen``. Returns the rate
    achieved: on saturated cores the publisher itself can fall behind the one asked."""
    topics = Topics(settings.topic_prefix)
    sends = [(topics.raw(m.topic_suffix), m.value, m.key,
              orjson.loads(m.value).get("interaction_id")) for m in messages]
    producer = AIOKafkaProducer(**client_options(settings.kafka), linger_ms=1, acks="all")
    await producer.start()
    count, began = 0, time.perf_counter()
    try:
        for topic, value, key, interaction in sends:
            ahead = began + count / rate - time.perf_counter()
            if ahead > 0:
                await asyncio.sleep(ahead)
            await producer.send(topic, value, key=key)
            if interaction is not None and interaction not in first_seen:
                first_seen[interaction] = time.perf_counter()
            count += 1
        await producer.flush()
    finally:
        await producer.stop()
    return count / (time.perf_counter() - began)
