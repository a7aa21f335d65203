"""The services on a backlog: the GSP alone, GSP and loader end to end, and freshness.

Rates run from the workers' start (so they include start-up and loading the configuration)
to the moment everything is committed: the GSP's consumer group has committed every input,
and for the loader, the Info Mart's stored offsets reach the end of the fact topic.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

from bench import source
from bench.harness import Corner, Service, percentile, wait_until
from gim_faust import postgres
from gim_faust.kafka import end_offsets
from gim_faust.simulate import SimOptions

TIMEOUT_S = 1800


def start_gsp(corner: Corner, workers: int) -> list[Service]:
    return [corner.start(f"gsp-{i}", "gsp", "worker", GIM_STATE_DIR=f"{corner.state}/rocksdb-{i}",
                         GIM_GSP_INSTANCE_ID=f"bench-{i}") for i in range(workers)]


def _costs(services: list[Service], events: int) -> dict[str, Any]:
    for service in services:
        service.measure()
    return {"peak_rss_mb": {s.name: round(s.peak_rss_mb, 1) for s in services},
            "cpu_s_per_1k_events": {s.name: round(s.cpu_s / events * 1000, 3) for s in services}}


def gsp_alone(corner: Corner, events: int, workers: int,
              profile: Path | None = None) -> dict[str, Any]:
    """Raw topics to fact topic with nothing else running; ``profile``: a py-spy flame graph
    of the first worker (collapsed stacks if it ends in ``.txt``), written when it stops."""
    corner.run("gca", "run", "--once")
    began = time.monotonic()
    gsps = start_gsp(corner, workers)
    if profile is not None:
        spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "-p",
                                str(gsps[0].proc.pid), "-o", str(profile), "--rate", "50",
                                "--nonblocking", "--format",
                                "raw" if profile.suffix == ".txt" else "flamegraph"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = wait_until(lambda: corner.gsp_lag() == 0, gsps, TIMEOUT_S)
    result = {"events": events, "seconds": done - began, "events_per_s": events / (done - began),
              **_costs(gsps, events)}
    for gsp in gsps:
        gsp.stop()
    if profile is not None:
        spy.wait(60)
    return result


def _loaded(corner: Corner, conn: psycopg.Connection) -> bool:
    if not conn.execute("SELECT to_regclass('ctl_kafka_offset') IS NOT NULL").fetchone()[0]:
        return False
    stored = dict(conn.execute(
        "SELECT partition, next_offset FROM ctl_kafka_offset WHERE consumer_group = %s",
        (corner.topics.loader_group,)).fetchall())
    ends = asyncio.run(end_offsets(corner.settings.kafka, [corner.topics.facts]))
    return all(stored.get(tp.partition, 0) >= end for tp, end in ends.items())


def end_to_end(corner: Corner, events: int, workers: int) -> tuple[dict[str, Any], list[Service]]:
    """Raw topics to Info Mart, GSP and loader running together; the services stay up."""
    corner.run("gca", "run", "--once")
    began = time.monotonic()
    services = [*start_gsp(corner, workers), corner.start("loader", "gim", "worker")]
    wait_until(lambda: corner.gsp_lag() == 0, services, TIMEOUT_S)
    with _connect(corner, services) as conn:
        done = wait_until(lambda: _loaded(corner, conn), services, TIMEOUT_S, poll=0.2)
        rows = conn.execute("SELECT count(*) FROM interaction_fact").fetchone()[0]
    result = {"events": events, "seconds": done - began, "events_per_s": events / (done - began),
              "interaction_rows": rows, "rocksdb_mb": round(corner.rocksdb_mb(), 1),
              **_costs(services, events)}
    return result, services


def _connect(corner: Corner, services: list[Service]) -> psycopg.Connection:
    def connected() -> bool:
        try:
            postgres.connect(corner.urls["infomart"], "gim-faust bench").close()
            return True
        except postgres.Unreachable:
            return False
    wait_until(connected, services, 120, poll=0.1)
    return postgres.connect(corner.urls["infomart"], "gim-faust bench")


def freshness(corner: Corner, sim: SimOptions, services: list[Service], rate: float,
              seconds: float, later: int = 1) -> dict[str, Any]:
    """Publish the center's day ``later`` days on at ``rate`` events/s into the running
    pipeline; for each new interaction, the time from its first event's publication to its
    ``interaction_fact`` row being visible. The Info Mart is polled every 20 ms for the rows
    written since the last poll (``update_audit_key`` above the highest seen: the one loader
    worker commits its batches in the order of their audit keys), an index range of a few
    rows; asking for every interaction not seen yet by its id took a tenth of a core, on the
    cores the measured services share."""
    published: dict[str, float] = {}
    seen: dict[str, float] = {}
    trickling = threading.Event()
    trickling.set()

    def poll() -> None:
        with postgres.connect(corner.urls["infomart"], "gim-faust bench") as reader:
            after = reader.execute("SELECT coalesce(max(update_audit_key), 0) "
                                   "FROM interaction_fact").fetchone()[0]  # type: ignore[index]
            deadline = None
            while deadline is None or time.perf_counter() < deadline:
                now = time.perf_counter()
                for found, audit in reader.execute(
                        "SELECT interaction_id, update_audit_key FROM interaction_fact "
                        "WHERE update_audit_key > %s", (after,)):
                    seen.setdefault(found, now)
                    after = max(after, audit)
                if not trickling.is_set():
                    if all(i in seen for i in list(published)):
                        return
                    if deadline is None:
                        deadline = time.perf_counter() + 60
                time.sleep(0.02)

    # Made before the clock starts: the simulator costs 0.06 core at 2,000
    # events/s, on the cores the measured services share.
    messages = list(source.day(sim, int(rate * seconds), later))
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    achieved = asyncio.run(source.trickle(corner.settings, messages, rate, published))
    trickling.clear()
    poller.join()
    for service in services:
        service.check()
    latencies = sorted(seen[i] - published[i] for i in published if i in seen)
    return {"events": len(messages), "rate": rate, "published_per_s": round(achieved),
            "interactions": len(published),
            "visible": len(latencies),
            **{f"p{p}_s": round(percentile(latencies, p), 3) for p in (50, 95, 99)},
            "max_s": round(max(latencies, default=float("nan")), 3)}
