"""Driving the GIM loader from tests: publish fact records, run ``gim-faust gim worker`` as a
separate process, wait until the Info Mart has everything the topic holds.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from gim_faust import kafka
from gim_faust.models.facts import Fact, to_record
from tests.support import pipeline
from tests.support.waiting import Watched, wait_until

REPO = Path(__file__).resolve().parents[2]
GIM_FAUST = REPO / ".venv" / "bin" / "gim-faust"
_PORT = re.compile(r"metrics on [^:]+:(\d+);")


def record_key(fact: Fact) -> bytes:
    """The fact topic's key (``gim_faust.topics.Topics.facts``)."""
    return f"{fact.table}:{fact.id}".encode()


def record_value(fact: Fact) -> bytes:
    return orjson.dumps(to_record(fact))


async def publish(bootstrap: str, topic: str,
                  records: Iterable[tuple[bytes | None, bytes | None]]) -> None:
    """Sends (key, value) pairs in order (one partition keeps its order) and waits for all."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all",
                                max_batch_size=256 * 1024)
    await producer.start()
    try:
        futures = [await producer.send(topic, value=value, key=key) for key, value in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def publish_records(bootstrap: str, topic: str,
                    records: Iterable[tuple[bytes | None, bytes | None]]) -> None:
    asyncio.run(publish(bootstrap, topic, records))


def publish_facts(bootstrap: str, topic: str, facts: Iterable[Fact]) -> None:
    publish_records(bootstrap, topic, ((record_key(f), record_value(f)) for f in facts))


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """partition -> offset after the last record, for every partition of ``topic``."""
    ends = asyncio.run(kafka.end_offsets(pipeline.settings_for(bootstrap).kafka, [topic]))
    return {tp.partition: offset for tp, offset in ends.items()}


async def _set_group_offsets(bootstrap: str, group: str, topic: str,
                             offsets: Mapping[int, int]) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in offsets]
        consumer.assign(tps)
        await consumer.commit({TopicPartition(topic, p): o for p, o in offsets.items()})
    finally:
        await consumer.stop()


def set_group_offsets(bootstrap: str, group: str, topic: str, offsets: Mapping[int, int],
                      timeout: float = 60.0) -> None:
    """Commits Kafka offsets for a consumer group, once it has no member left (a member
    killed with -9 stays until its session times out)."""
    from aiokafka.errors import CommitFailedError

    deadline = time.monotonic() + timeout
    while True:
        try:
            asyncio.run(_set_group_offsets(bootstrap, group, topic, offsets))
            return
        except CommitFailedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


class WorkerProcess:
    """``gim-faust gim worker`` in its own process, logs in ``log_path``."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "ab")
        full = {**os.environ, **env}
        full.setdefault("GIM_METRICS_PORT", "0")
        full.setdefault("GIM_LOG_LEVEL", "INFO")
        self.proc = subprocess.Popen([str(GIM_FAUST), "gim", "worker"], env=full,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        self.port: int | None = None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def running(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def metrics_port(self, timeout: float = 30.0) -> int:
        if self.port is None:
            found = wait_until(lambda: _PORT.findall(self.log_text()),
                               "the worker to log its metrics port", timeout, service=self,
                               interval_s=0.05)
            self.port = int(found[-1])
        return self.port

    def get(self, path: str) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.metrics_port()}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def metric(self, name: str, default: float | None = None, **labels: str) -> float:
        """The value of the sample ``name`` with exactly ``labels`` on /metrics; ``default``
        if there is none (an AssertionError without a default)."""
        _, text = self.get("/metrics")
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return float(sample.value)
        if default is None:
            raise AssertionError(f"no sample {name} {labels} on /metrics")
        return default

    def wait_ready(self, timeout: float = 60.0) -> None:
        wait_until(lambda: self.get("/readyz")[0] == 200, "the loader's /readyz to answer 200",
                   timeout, seen=lambda: self.get("/readyz")[1], service=self)

    def kill(self) -> None:
        """kill -9: no chance to finish anything."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._log.close()

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait: the graceful stop."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError(f"worker ignored SIGTERM:\n{self.log_text()}") from None
        self._log.close()
        return self.proc.returncode

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc.poll() is None:
            self.kill()
        if exc[0] is not None:
            sys.stderr.write(f"--- worker log {self.log_path} ---\n{self.log_text()[-20000:]}\n")


def wait_loaded(conn: Any, group: str, ends: Mapping[int, int], timeout: float = 120.0,
                worker: Watched | None = None) -> float:
    """Waits until the Info Mart's offsets for ``group`` reach ``ends``; the seconds it took."""
    started = time.monotonic()

    def stored() -> dict[int, int]:
        return dict(conn.execute(
            "SELECT partition, next_offset FROM ctl_kafka_offset WHERE consumer_group = %s",
            (group,)).fetchall()) if _has_offsets_table(conn) else {}
    wait_until(lambda: all(stored().get(p, 0) >= o for p, o in ends.items()),
               f"the Info Mart's offsets of {group} to reach the fact topic's ends", timeout,
               seen=lambda: f"stored {stored()}, topic ends {dict(ends)}", service=worker,
               interval_s=0.05)
    return time.monotonic() - started


def _has_offsets_table(conn: Any) -> bool:
    return conn.execute("SELECT to_regclass('ctl_kafka_offset') IS NOT NULL").fetchone()[0]
