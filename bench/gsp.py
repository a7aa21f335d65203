"""Events per second of one GSP worker on the real broker, and its peak memory.

Run: ``python -m bench.gsp [--copies N]`` (the local services must be up). It publishes N
copies of the ``day`` scenario to fresh topics (3 partitions each), every copy with its own
interaction ids, agent logins and event ids, so the worker sees N times the traffic of the
day; runs ``gca run --once`` and one ``gim-faust gsp worker``; and reports the raw events per
second from the worker's start to the moment its consumer group has committed every input,
the worker's peak RSS (VmHWM) and its CPU seconds per 1,000 events.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from aiokafka import AIOKafkaProducer

from gim_faust.kafka import TopicSpec, ensure_topics, group_lag
from gim_faust.settings import load_settings
from gim_faust.topics import RAW_SUFFIXES, Topics
from tests import scenario as sc

REPO = Path(__file__).resolve().parent.parent


def _copy(line: bytes, copy: int) -> tuple[bytes, bytes]:
    event = json.loads(line)
    for field in ("interaction_id", "agent_login", "event_id"):
        if field in event:
            event[field] = f"{event[field]}-c{copy}"
    key = event.get("interaction_id") or event["agent_login"]
    return key.encode(), json.dumps(event).encode()


async def _publish(settings, topics: Topics, copies: int) -> int:  # type: ignore[no-untyped-def]
    await ensure_topics(settings, [TopicSpec(topics.raw(s), 3) for s in RAW_SUFFIXES])
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=20)
    await producer.start()
    count = 0
    try:
        for copy in range(copies):
            for message in sc.messages("day"):
                key, value = _copy(message.value, copy)
                await producer.send(topics.raw(message.topic_suffix), value, key=key)
                count += 1
        await producer.flush()
    finally:
        await producer.stop()
    return count


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=10)
    args = parser.parse_args()
    admin_url = os.environ.get("GIM_TEST_PG_URL", "postgresql://127.0.0.1:5432/postgres")
    prefix = f"bench{int(time.time())}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name in ("gim_bench_config", "gim_bench_infomart"):
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    with psycopg.connect(f"{base}/gim_bench_config", autocommit=True) as conn:
        conn.execute((REPO / "tests" / "data" / "config-db.sql").read_text())
        conn.execute((sc.scenario("day") / "config.sql").read_text())
    state = tempfile.mkdtemp(prefix="gim-bench-")
    env = {**os.environ, "GIM_TENANT": "acme", "GIM_TOPIC_PREFIX": prefix,
           "GIM_CONFIG_DB_URL": f"{base}/gim_bench_config",
           "GIM_INFOMART_DB_URL": f"{base}/gim_bench_infomart",
           "GIM_OBJECT_STORE": f"file://{state}/objects", "GIM_STATE_DIR": f"{state}/rocksdb",
           "GIM_METRICS_PORT": "0", "GIM_LOG_LEVEL": "WARNING"}
    settings = load_settings(environ=env)
    topics = Topics(prefix)
    events = asyncio.run(_publish(settings, topics, args.copies))
    subprocess.run([str(REPO / ".venv/bin/gim-faust"), "gca", "run", "--once"], env=env,
                   check=True, capture_output=True)
    inputs = [*topics.raw_all, topics.party_ended("voice"), topics.party_ended("digital")]
    started = time.monotonic()
    worker = subprocess.Popen([str(REPO / ".venv/bin/gim-faust"), "gsp", "worker"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while asyncio.run(group_lag(settings, topics.gsp_app_id, inputs)) != 0:
            assert worker.poll() is None, "the worker stopped"
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        rss, cpu = _peak_rss_mb(worker.pid), _cpu_seconds(worker.pid)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    print(f"cores {os.cpu_count()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{events} raw events ({args.copies} copies of the day), 3 partitions per topic")
    print(f"GSP, one worker, start to all inputs committed: {events / elapsed:,.0f} events/s "
          f"({elapsed:.1f} s, including start-up and configuration load)")
    print(f"peak RSS {rss:.0f} MB, CPU {cpu / events * 1000:.2f} s per 1k events")


if __name__ == "__main__":
    main()
