"""What keeping the aggregates current costs: ``python -m bench.aggregate [--copies 4]``
(also step 7 of ``make bench``). Needs the local services; uses fresh databases, dropped after.

The ``day`` scenario's fact versions, repeated ``--copies`` times on later days, are loaded
by the loader's own writer in batches, twice into fresh Info Marts: once alone, once with
the aggregator passing beside it as the loader worker runs it. Reported:

- the loading rate both times (fact versions/s) and their ratio: what aggregation costs the
  loader's own path;
- the aggregation's CPU per 1,000 fact versions: the aggregator's PostgreSQL backend plus its
  Python thread (read from ``/proc``: the database is local), beside the loading backend's
  own CPU for the same versions;
- the lag between a batch's commit and the commit of the pass that recomputed the last of
  its intervals: p50 / p99 / max (what ``GIM_AGGREGATE_DELAY`` bounds).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from gim_faust.loaders import aggregate
from gim_faust.loaders.migrate import migrate
from gim_faust.loaders.writer import Batch, Writer
from psycopg import sql

from bench.harness import percentile
from bench.loader import shifted
from gim_faust import postgres
from gim_faust.models.facts import Fact
from tests.support import scenario as sc

BATCH = 2_000
RULES = aggregate.Rules("UTC", 20, 10)


def backend_cpu_s(conn: psycopg.Connection[Any]) -> float:
    """User + system CPU seconds of the connection's server process so far."""
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Aggregator(threading.Thread):
    """The worker's aggregate loop, with each pass's end time and intervals noted."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.conn = postgres.connect(url, "gim-faust bench aggregate")
        self.passes: list[tuple[float, set[int]]] = []
        self.stop = threading.Event()
        self.thread_cpu_s = 0.0

    def run(self) -> None:
        while True:
            keys = aggregate.one_pass(self.conn, RULES)
            if keys:
                self.passes.append((time.monotonic(), set(keys)))
            elif self.stop.is_set():
                break
            else:
                time.sleep(0.05)
        self.thread_cpu_s = time.thread_time()


def load(url: str, versions: list[Fact], with_aggregator: bool) -> dict[str, Any]:
    migrate(url)
    aggregator = Aggregator(url) if with_aggregator else None
    if aggregator:
        aggregator.start()
    writer = Writer(url, "gim-bench")
    writer.connect()
    assert writer._conn is not None  # noqa: SLF001 - its backend's CPU is the measurement
    loader_cpu = backend_cpu_s(writer._conn)  # noqa: SLF001
    commits: list[tuple[float, list[int]]] = []
    started = time.monotonic()
    for i in range(0, len(versions), BATCH):
        chunk = versions[i:i + BATCH]
        writer.write(Batch(chunk, {}))
        commits.append((time.monotonic(), aggregate.touched(chunk)))
    loading_s = time.monotonic() - started
    loader_cpu = backend_cpu_s(writer._conn) - loader_cpu  # noqa: SLF001
    writer.close()
    result = {"versions_per_s": len(versions) / loading_s, "loader_backend_cpu_s": loader_cpu}
    if aggregator:
        aggregator.stop.set()
        aggregator.join()
        result["aggregator_backend_cpu_s"] = backend_cpu_s(aggregator.conn)
        result["aggregator_thread_cpu_s"] = aggregator.thread_cpu_s
        aggregator.conn.close()
        result["lag_s"] = _lags(commits, aggregator.passes)
    return result


def _lags(commits: list[tuple[float, list[int]]],
          passes: list[tuple[float, set[int]]]) -> list[float]:
    """Per batch: from its commit to the end of the first pass after it that recomputed
    each of its intervals, the longest of those."""
    lags = []
    for committed, keys in commits:
        ends = [min(end for end, done in passes if end >= committed and key in done)
                for key in keys]
        lags.append(max(ends) - committed)
    return lags


def measure(copies: int = 4) -> dict[str, Any]:
    from tests.conftest import _load_services_env
    _load_services_env()
    admin_url = os.environ.get("GIM_TEST_PG_URL", "postgresql://127.0.0.1:5432/postgres")
    day = sc.fact_versions("day")
    versions = [fact for copy in range(copies) for fact in shifted(day, copy)]
    results = {}
    for label, with_aggregator in (("alone", False), ("with_aggregator", True)):
        dbname = f"gim_bench_agg_{uuid.uuid4().hex[:8]}"
        with postgres.connect(admin_url, "gim-faust bench", autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        try:
            results[label] = load(admin_url.rsplit("/", 1)[0] + f"/{dbname}", versions,
                                  with_aggregator)
        finally:
            with postgres.connect(admin_url, "gim-faust bench", autocommit=True) as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(dbname)))
    both = results["with_aggregator"]
    per_1k = 1000 / len(versions)
    lags = both.pop("lag_s")
    return {
        "fact_versions": len(versions),
        "loading_alone_versions_per_s": round(results["alone"]["versions_per_s"]),
        "loading_with_aggregator_versions_per_s": round(both["versions_per_s"]),
        "loading_ratio": round(both["versions_per_s"] / results["alone"]["versions_per_s"], 3),
        "loader_cpu_s_per_1k": round(results["alone"]["loader_backend_cpu_s"] * per_1k, 4),
        "aggregation_cpu_s_per_1k": round(
            (both["aggregator_backend_cpu_s"] + both["aggregator_thread_cpu_s"]) * per_1k, 4),
        "lag_p50_s": round(percentile(lags, 50), 3),
        "lag_p99_s": round(percentile(lags, 99), 3),
        "lag_max_s": round(max(lags), 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.aggregate", description=__doc__)
    parser.add_argument("--copies", type=int, default=4,
                        help="copies of the day scenario's fact versions, on later days")
    figures = measure(parser.parse_args(argv).copies)
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name:<{width}}  {value:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
