"""How fast the GIM loader fills the Info Mart, and how fresh it keeps it:
``python -m bench.loader [--copies 17] [--rate-ms 50] [--fresh 400] [--batch-rows 5000]``.

Needs the local services (``make services``); uses a fresh topic and database, dropped after.

1. **Backlog.** Every fact version the transforms emit for the ``day`` scenario (what the
   Stream Processor writes), repeated ``--copies`` times with shifted ids and days (so each
   copy is new rows, ≥ 200,000 records by default), is published to a 6-partition fact topic
   first; then ``gim-faust gim worker`` starts as its own process and loads it. Reported:
   records/s from the first batch's start to the last commit (``ctl_audit_log``), the same
   including process start and schema migration, and rows per second in the tables.
2. **Freshness.** With the worker caught up, one new fact is produced every ``--rate-ms``;
   a reader polls the Info Mart every few milliseconds and notes when each row becomes
   visible. Reported: produce → visible latency p50 / p95 / p99 / max. At low load this is
   dominated by ``GIM_LOADER_BATCH_DELAY_MS`` (default 100 ms), the price of batching.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from psycopg import sql

from bench.harness import percentile
from gim_faust import postgres
from gim_faust.models.facts import Fact, InteractionFact
from gim_faust.topics import Topics
from tests.support import scenario as sc
from tests.support.gim_worker import WorkerProcess, end_offsets, record_key, record_value, wait_loaded

PARTITIONS = 6
DAY = 86_400


def shifted(facts: list[Fact], copy: int) -> list[Fact]:
    """The facts of copy ``copy``: ids suffixed, times ``copy`` days later (placeholders and
    reason codes stay: the same endpoint is the same row)."""
    if copy == 0:
        return facts
    out = []
    delta = timedelta(days=copy)
    for fact in facts:
        if fact.table in ("resource_", "resource_state_reason"):
            out.append(fact)
            continue
        changes: dict[str, Any] = {f.name: getattr(fact, f.name) + delta
                                   for f in dataclasses.fields(fact)
                                   if f.name.endswith("_ts") and getattr(fact, f.name)}
        changes["start_date_time_key"] = (fact.start_date_time_key  # type: ignore[union-attr]
                                          + copy * DAY)
        for name in ("interaction_id", "mediation_segment_id", "interaction_resource_id",
                     "sm_res_session_id", "sm_res_state_id"):
            if hasattr(fact, name):
                changes[name] = f"{getattr(fact, name)}~{copy}"
        out.append(dataclasses.replace(fact, **changes))  # type: ignore[type-var]
    return out


async def _create_topic(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, PARTITIONS, 1)])
        for _ in range(100):
            (described,) = await admin.describe_topics([name])
            if len(described["partitions"]) == PARTITIONS and all(
                    p["leader"] >= 0 for p in described["partitions"]):
                return
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def _delete_topic(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([name])
    finally:
        await admin.close()


async def _publish(bootstrap: str, topic: str, facts: list[Fact]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, acks="all",
                                max_batch_size=512 * 1024, compression_type=None)
    await producer.start()
    started = time.perf_counter()
    try:
        futures = [await producer.send(topic, record_value(f), key=record_key(f)) for f in facts]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - started


def backlog(bootstrap: str, db_url: str, prefix: str, copies: int, batch_rows: int,
            log_dir: Path) -> dict[str, float]:
    base = sc.fact_versions("day")
    facts = [f for copy in range(copies) for f in shifted(base, copy)]
    topics = Topics(prefix)
    asyncio.run(_create_topic(bootstrap, topics.facts))
    took = asyncio.run(_publish(bootstrap, topics.facts, facts))
    print(f"published {len(facts):,} fact versions ({copies} copies of the day scenario) in "
          f"{took:.1f} s", flush=True)
    ends = end_offsets(bootstrap, topics.facts)
    env = {"GIM_TENANT": "acme", "GIM_TOPIC_PREFIX": prefix, "GIM_INFOMART_DB_URL": db_url,
           "GIM_KAFKA_BOOTSTRAP": bootstrap, "GIM_LOADER_BATCH_ROWS": str(batch_rows)}
    worker = WorkerProcess(env, log_dir / "backlog.log")
    started = time.monotonic()
    conn = _connect_when_created(db_url, worker)
    try:
        wait_loaded(conn, topics.loader_group, ends, timeout=1800, worker=worker)
        done_at, wall = time.time(), time.monotonic() - started
        # created_ts is when a batch's transaction began: the first one starts the loading.
        first, batches = conn.execute(
            "SELECT extract(epoch FROM min(created_ts))::float8, count(*) FROM ctl_audit_log"
        ).fetchone()
        rows = conn.execute(" + ".join(f"(SELECT count(*) FROM {t})" for t in sc.FACT_TABLES)
                            .join(("SELECT ", ""))).fetchone()[0]
    finally:
        conn.close()
        worker.stop()
    return {"records": len(facts), "rows": rows, "batches": batches,
            "loading_s": done_at - first, "wall_s": wall}


def freshness(bootstrap: str, db_url: str, prefix: str, count: int, rate_ms: float,
              log_dir: Path) -> list[float]:
    topics = Topics(prefix)
    env = {"GIM_TENANT": "acme", "GIM_TOPIC_PREFIX": prefix, "GIM_INFOMART_DB_URL": db_url,
           "GIM_KAFKA_BOOTSTRAP": bootstrap}
    worker = WorkerProcess(env, log_dir / "freshness.log")
    produced: dict[str, float] = {}
    seen: dict[str, float] = {}
    done = threading.Event()
    try:
        with postgres.connect(db_url, "gim-faust bench") as conn:
            wait_loaded(conn, topics.loader_group, end_offsets(bootstrap, topics.facts),
                        timeout=600, worker=worker)
            worker.wait_ready()

            def poll() -> None:
                with postgres.connect(db_url, "gim-faust bench") as reader:
                    while not done.is_set() or len(seen) < len(produced):
                        pending = [i for i in list(produced) if i not in seen]
                        if pending:
                            now = time.perf_counter()
                            for (found,) in reader.execute(
                                    "SELECT interaction_id FROM interaction_fact "
                                    "WHERE interaction_id = ANY(%s)", (pending,)):
                                seen[found] = now
                        if done.is_set() and time.perf_counter() - max(
                                produced.values(), default=0) > 30:
                            return
                        time.sleep(0.002)
            poller = threading.Thread(target=poll, daemon=True)
            poller.start()
            asyncio.run(_trickle(bootstrap, topics.facts, count, rate_ms, produced))
            done.set()
            poller.join(60)
    finally:
        worker.stop()
    return sorted((seen[i] - produced[i]) * 1000 for i in produced if i in seen)


async def _trickle(bootstrap: str, topic: str, count: int, rate_ms: float,
                   produced: dict[str, float]) -> None:
    template = next(f for f in sc.fact_versions("small") if isinstance(f, InteractionFact))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks="all")
    await producer.start()
    try:
        next_at = time.perf_counter()
        for _ in range(count):
            fact = dataclasses.replace(template, interaction_id=f"fresh-{uuid.uuid4().hex[:12]}")
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            sent = time.perf_counter()
            await producer.send_and_wait(topic, record_value(fact), key=record_key(fact))
            produced[fact.interaction_id] = sent
            next_at += rate_ms / 1000
    finally:
        await producer.stop()


def _connect_when_created(url: str, worker: WorkerProcess) -> psycopg.Connection[Any]:
    deadline = time.monotonic() + 120
    while True:
        try:
            conn = postgres.connect(url, "gim-faust bench")
            if conn.execute("SELECT to_regclass('ctl_audit_log')").fetchone()[0]:
                return conn
            conn.close()
        except postgres.Unreachable:
            pass
        if time.monotonic() > deadline or worker.proc.poll() is not None:
            raise SystemExit(f"the worker did not create the Info Mart:\n{worker.log_text()}")
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loader", description=__doc__)
    parser.add_argument("--copies", type=int, default=17,
                        help="copies of the day scenario's fact versions (12,484 each)")
    parser.add_argument("--batch-rows", type=int, default=5000, help="GIM_LOADER_BATCH_ROWS")
    parser.add_argument("--rate-ms", type=float, default=50.0,
                        help="one fresh record every this many ms")
    parser.add_argument("--fresh", type=int, default=400, help="how many fresh records")
    args = parser.parse_args(argv)

    from tests.conftest import _load_services_env
    _load_services_env()   # .local/services.env, for what the environment does not set

    bootstrap = os.environ.get("GIM_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    admin_url = os.environ.get("GIM_TEST_PG_URL", "postgresql://127.0.0.1:5432/postgres")
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    dbname = f"gim_bench_{prefix}"
    db_url = admin_url.rsplit("/", 1)[0] + f"/{dbname}"
    log_dir = Path(tempfile.mkdtemp(prefix="gim-bench-loader-"))
    try:
        result = backlog(bootstrap, db_url, prefix, args.copies, args.batch_rows, log_dir)
        latencies = freshness(bootstrap, db_url, prefix, args.fresh, args.rate_ms, log_dir)
    finally:
        with postgres.connect(admin_url, "gim-faust bench") as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(dbname)))
        asyncio.run(_delete_topic(bootstrap, Topics(prefix).facts))

    print(f"backlog   : {result['records']:,.0f} records -> {result['rows']:,.0f} rows in "
          f"{result['batches']:,.0f} batches of up to {args.batch_rows}")
    print(f"            {result['records'] / result['loading_s']:,.0f} records/s "
          f"({result['rows'] / result['loading_s']:,.0f} final rows/s) while loading "
          f"({result['loading_s']:.1f} s); {result['records'] / result['wall_s']:,.0f} records/s "
          f"including process start and migration ({result['wall_s']:.1f} s)")
    if len(latencies) < args.fresh:
        print(f"freshness : only {len(latencies)} of {args.fresh} records became visible")
        return 1
    print(f"freshness : one record every {args.rate_ms:.0f} ms, {len(latencies)} records, "
          f"produce -> row visible: p50 {percentile(latencies, 50):.0f} ms, "
          f"p95 {percentile(latencies, 95):.0f} ms, p99 {percentile(latencies, 99):.0f} ms, "
          f"max {max(latencies):.0f} ms")
    print(f"logs in {log_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
