"""Helpers for tests that run the real services as processes on the real broker."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from gim_faust.facts import from_record
from gim_faust.kafka import group_lag, partition_counts, topic_size
from gim_faust.settings import Settings, load_settings
from gim_faust.topics import Topics
from tests import scenario as sc

REPO = Path(__file__).resolve().parent.parent
GIM_FAUST = str(REPO / ".venv" / "bin" / "gim-faust")


async def create_raw_topics(bootstrap: str, prefix: str, partitions: int = 3) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)
                                   for name in Topics(prefix).raw_all])
    finally:
        await admin.close()


async def publish(bootstrap: str, prefix: str, messages: Iterable[sc.Message],
                  bad: Iterable[dict[str, str]] = ()) -> int:
    """Publish scenario messages with the contract's keys, and bad input as raw bytes."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    count = 0
    try:
        for m in messages:
            await producer.send(f"{prefix}.{m.topic_suffix}", m.value, key=m.key)
            count += 1
        for b in bad:
            suffix = b["topic"].split(".", 1)[1]
            await producer.send(f"{prefix}.{suffix}", b["value"].encode(), key=b"bad")
            count += 1
        await producer.flush()
    finally:
        await producer.stop()
    return count


async def read_topic(bootstrap: str, topic: str, idle_s: float = 2.0) -> list[tuple]:
    """Every message of ``topic`` from the beginning, as (key, value, headers)."""
    count = (await partition_counts(settings_for(bootstrap), [topic]))[topic] or 0
    tps = [TopicPartition(topic, p) for p in range(count)]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        out = []
        while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
            for messages in (await consumer.getmany(timeout_ms=int(idle_s * 1000))).values():
                out.extend((m.key, m.value, m.headers) for m in messages)
        return out
    finally:
        await consumer.stop()


def settings_for(bootstrap: str) -> Settings:
    """Settings that reach ``bootstrap``, for the shared Kafka helpers."""
    return load_settings({"tenant": "test", "kafka_bootstrap": bootstrap}, environ={})


async def end_offsets(bootstrap: str, topic: str) -> int:
    """How many messages ``topic`` has received, over all partitions."""
    return await topic_size(settings_for(bootstrap), topic)


def newest_facts(messages: list[tuple]) -> dict[tuple[str, str], object]:
    """The highest version of every row on a fact topic, as the loader would keep it."""
    rows: dict[tuple[str, str], object] = {}
    for _, value, _ in messages:
        fact = from_record(orjson.loads(value))
        key = (fact.table, fact.id)
        if key not in rows or fact.version >= rows[key].version:  # type: ignore[attr-defined]
            rows[key] = fact
    return rows


class Service:
    """A ``gim-faust`` command run as a separate process, logging to a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args, self.env, self.log = args, {**os.environ, **env}, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        out = self.log.open("ab")
        self.proc = subprocess.Popen([GIM_FAUST, *self.args], env=self.env, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=60)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop within 30 s."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


async def committed_lag(bootstrap: str, group: str, topics: list[str]) -> int | None:
    """How far the consumer ``group`` is behind the end of ``topics``, by committed offsets
    (None while a topic does not exist yet)."""
    return await group_lag(settings_for(bootstrap), group, topics)


async def wait_caught_up(bootstrap: str, group: str, topics: list[str], service: Service,
                         timeout_s: float = 300.0) -> None:
    """Wait until ``group`` has committed everything of ``topics`` (twice in a row, a commit
    interval apart, so work triggered by the last messages has been committed too)."""
    deadline, streak = time.monotonic() + timeout_s, 0
    while time.monotonic() < deadline:
        if not service.running():
            raise AssertionError(f"service exited early:\n{service.tail()}")
        streak = streak + 1 if await committed_lag(bootstrap, group, topics) == 0 else 0
        if streak >= 2:
            return
        await asyncio.sleep(3.0)
    raise AssertionError(f"{group} did not catch up within {timeout_s} s:\n{service.tail()}")


def ready(port: int) -> bool:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5).status == 200
    except OSError:
        return False


def wait_ready(port: int, worker: Service, timeout_s: float = 120.0) -> None:
    """Until the worker's /readyz says recovery is over (its group may be caught up already)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert worker.running(), worker.tail()
        if ready(port):
            return
        time.sleep(0.5)
    raise AssertionError(f"not ready within {timeout_s} s:\n{worker.tail()}")


def metrics(port: int) -> dict[tuple[str, tuple], float]:
    """Every sample the worker on ``port`` exports, by (name, sorted labels)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def total(samples: dict[tuple[str, tuple], float], name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))
