"""The raw floor: the least work any pipeline here does with the same events.

One aiokafka consumer reads every raw topic from the start, decodes each event with orjson,
and COPYs one row per event into PostgreSQL, one transaction per fetched batch; no state, no
rules, no offsets kept. Whatever the GSP and the loader add comes on top of this, so its
events/s is the ceiling the end-to-end figure is compared with.
"""

from __future__ import annotations

import asyncio
import time

import orjson
import psycopg
from aiokafka import AIOKafkaConsumer

from gim_faust import postgres
from gim_faust.kafka import client_options, end_offsets
from gim_faust.settings import Settings
from gim_faust.topics import Topics

TABLE = """CREATE TABLE raw_event (topic text, partition int, "offset" bigint, event_id text,
type text, ts text)"""


async def _consume(settings: Settings, conn: psycopg.Connection) -> int:
    names = list(Topics(settings.topic_prefix).raw_all)
    tps = list(await end_offsets(settings.kafka, names))
    consumer = AIOKafkaConsumer(**client_options(settings.kafka), group_id=None,
                                enable_auto_commit=False, max_partition_fetch_bytes=4 * 1024**2)
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        left, events = sum(ends.values()), 0
        while left > 0:
            batch = await consumer.getmany(timeout_ms=1000, max_records=20_000)
            with conn.transaction(), conn.cursor().copy(
                    'COPY raw_event (topic, partition, "offset", event_id, type, ts) '
                    "FROM STDIN") as copy:
                for tp, messages in batch.items():
                    for m in messages:
                        event = orjson.loads(m.value)
                        copy.write_row((tp.topic, tp.partition, m.offset, event.get("event_id"),
                                        event.get("type"), event.get("ts")))
                    events += len(messages)
                    left -= len(messages)
        return events
    finally:
        await consumer.stop()


def raw_floor(settings: Settings, db_url: str) -> dict[str, float]:
    """Events/s of the floor over everything the corner's raw topics hold."""
    with postgres.connect(db_url, "gim-faust bench") as conn:
        conn.execute(TABLE)
        started = time.perf_counter()
        events = asyncio.run(_consume(settings, conn))
        took = time.perf_counter() - started
        rows = conn.execute("SELECT count(*) FROM raw_event").fetchone()[0]
    if rows != events:
        raise RuntimeError(f"raw floor: {events} events read but {rows} rows stored")
    return {"events": events, "seconds": took, "events_per_s": events / took}
