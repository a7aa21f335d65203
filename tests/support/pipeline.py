"""Helpers for tests that run the real services as processes on the real broker."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from gim_faust.kafka import (
    TopicSpec,
    ensure_topics,
    group_lag,
    partition_counts,
    partition_lag,
    topic_size,
)
from gim_faust.models.facts import from_record
from gim_faust.settings import Settings, load_settings
from gim_faust.topics import Topics
from tests.support import scenario as sc
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
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
    sent = []
    try:
        for m in messages:
            sent.append(await producer.send(f"{prefix}.{m.topic_suffix}", m.value, key=m.key))
        for b in bad:
            suffix = b["topic"].split(".", 1)[1]
            sent.append(await producer.send(f"{prefix}.{suffix}", b["value"].encode(),
                                            key=b"bad"))
        await asyncio.gather(*sent)  # raises if Kafka refused one, which flush() would not
    finally:
        await producer.stop()
    return len(sent)


async def read_topic(bootstrap: str, topic: str, idle_s: float = 2.0) -> list[tuple]:
    """Every message of ``topic`` from the beginning, as (key, value, headers)."""
    count = (await partition_counts(settings_for(bootstrap).kafka, [topic]))[topic] or 0
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
    return await topic_size(settings_for(bootstrap).kafka, topic)


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

    def __init__(self, args: list[str], env: dict[str, str], log: Path,
                 program: str = GIM_FAUST) -> None:
        self.args, self.env, self.log, self.program = args, {**os.environ, **env}, log, program
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        out = self.log.open("ab")
        self.proc = subprocess.Popen([self.program, *self.args], env=self.env, stdout=out,
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

    def diagnose(self) -> None:
        """Have a GSP worker log where its consumer and coroutines stand (``kill -USR2``), so
        a failed wait shows it in the log's tail."""
        if self.running():
            assert self.proc is not None
            os.kill(self.proc.pid, signal.SIGUSR2)
            time.sleep(1.0)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


async def committed_lag(bootstrap: str, group: str, topics: list[str]) -> int | None:
    """How far the consumer ``group`` is behind the end of ``topics``, by committed offsets
    (None while a topic does not exist yet)."""
    return await group_lag(settings_for(bootstrap).kafka, group, topics)


def describe_lag(bootstrap: str, group: str, topics: list[str]) -> str:
    """The group's uncommitted messages per partition that has any, for a failed wait."""
    lags = asyncio.run(partition_lag(settings_for(bootstrap).kafka, group, topics))
    if lags is None:
        return f"lag of {group} unknown (a topic or the group's coordinator is missing)"
    behind = {f"{tp.topic}[{tp.partition}]": n for tp, n in sorted(lags.items()) if n}
    return f"{group} lags {sum(behind.values())}: {behind}"


def wait_caught_up(bootstrap: str, group: str, topics: list[str], service: Service,
                   timeout_s: float = 300.0, others: Sequence[Service] = ()) -> None:
    """Wait until ``group`` has committed everything of ``topics`` (twice in a row, a second
    apart, so work triggered by the last messages, such as the after-call-work hand-offs to
    an internal topic in ``topics``, has been committed too). On failure every worker of the
    group (``service`` and ``others``) is asked for its diagnostics; the others' log tails
    are shown with ``service``'s."""
    streak = [0]

    def settled() -> bool:
        caught_up = asyncio.run(committed_lag(bootstrap, group, topics)) == 0
        streak[0] = streak[0] + 1 if caught_up else 0
        return streak[0] >= 2
    def seen() -> str:
        for worker in (service, *others):
            worker.diagnose()
        tails = "".join(f"\n--- {other.log.name}, last lines:\n{other.tail(60)}"
                        for other in others)
        return describe_lag(bootstrap, group, topics) + tails
    wait_until(settled, f"{group} to commit all of its input", timeout_s, seen=seen,
               service=service, interval_s=1.0)


async def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    await ensure_topics(settings_for(bootstrap).kafka, [TopicSpec(topic, partitions)])


async def publish_to(bootstrap: str, topic: str, records: Iterable[tuple[bytes, bytes]]) -> None:
    """Raw (key, value) records, partitioned by key as Kafka's clients do."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for key, value in records:
            await producer.send(topic, value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


def healthz(port: int) -> int | None:
    """The status /healthz answers, or None while nothing answers."""
    try:
        return int(urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def ready(port: int) -> bool:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5).status == 200
    except OSError:
        return False


def wait_ready(port: int, worker: Service, timeout_s: float = 120.0) -> None:
    """Until the worker's /readyz says recovery is over (its group may be caught up already)."""
    wait_until(lambda: ready(port), f"/readyz on :{port} to answer 200", timeout_s,
               service=worker, interval_s=0.5)


def metrics(port: int) -> dict[tuple[str, tuple], float]:
    """Every sample the worker on ``port`` exports, by (name, sorted labels)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def total(samples: dict[tuple[str, tuple], float], name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))
