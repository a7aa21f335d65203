"""GSP disaster recovery on the ``day`` scenario: snapshot size and time, and how long a worker
that lost its disk takes to be ready again from a snapshot versus from the changelog alone.

Run: ``python -m bench.snapshot`` (the local services must be up). It runs GCA and one GSP
worker over the day (fresh topics, config DB, Info Mart and store prefix), takes a snapshot
with ``gim-faust gsp snapshot``, then twice deletes the worker's state directory and starts
it again: once with the snapshot to restore, once after deleting the snapshot too, so Faust
reads the whole changelog. (The same instance id both times: a static member that left is
waited for until its session times out.) Ready means ``/readyz`` 200.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import orjson

from gim_faust import postgres
from gim_faust.metrics import free_port
from gim_faust.objectstore import open_store
from tests.support import pipeline as pl
from tests.support.deployment import Deployment


def _database(admin_url: str) -> str:
    name = f"gim_bench_{uuid.uuid4().hex[:8]}"
    with postgres.connect(admin_url, "gim-faust bench") as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def _ready_after_losing_the_disk(d: Deployment, env: dict[str, str], port: int
                                 ) -> tuple[float, dict]:
    shutil.rmtree(d.state_dir(), ignore_errors=True)
    started = time.monotonic()
    worker = d.gsp(**env)
    pl.wait_ready(port, worker, timeout_s=900)
    seconds = time.monotonic() - started
    samples = pl.metrics(port)
    worker.stop()
    return seconds, samples


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    admin = os.environ.get("GIM_BENCH_ADMIN_DB", "postgresql://127.0.0.1:5432/postgres")
    store = os.environ.get("GIM_BENCH_STORE", "s3://gim-test/bench")
    with tempfile.TemporaryDirectory() as work:
        d = Deployment(os.environ.get("GIM_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
                       f"b{uuid.uuid4().hex[:8]}", _database(admin), _database(admin), store,
                       Path(work))
        d.load_config()
        try:
            d.publish_scenario()
            d.run("gca", "run", "--once")
            port = free_port()
            env = {"GIM_METRICS_PORT": str(port), "GIM_SNAPSHOT_INTERVAL": "36000",
                   "GIM_GSP_INSTANCE_ID": "bench-0"}
            worker = d.gsp(**env)
            d.wait_gsp_caught_up(worker)
            started = time.monotonic()
            taken = orjson.loads(d.run("gsp", "snapshot", **env).stdout)
            command_s = time.monotonic() - started
            samples = pl.metrics(port)
            worker.stop()
            restore_s, restored = _ready_after_losing_the_disk(d, env, port)
            snapshots = open_store(store)
            for key in snapshots.list(taken["prefix"]):
                snapshots.delete(key)
            rebuild_s, rebuilt = _ready_after_losing_the_disk(d, env, port)
        finally:
            d.stop_all()
    recovered = "gim_gsp_changelog_records_recovered_total"
    print(f"snapshot: {taken['stores']} stores, {taken['bytes'] / 1e6:.2f} MB, "
          f"{pl.total(samples, 'gim_gsp_snapshot_last_duration_seconds'):.2f} s in the worker "
          f"({command_s:.2f} s for the command)")
    print(f"from the snapshot:   ready in {restore_s:6.2f} s (restore "
          f"{pl.total(restored, 'gim_gsp_restore_last_duration_seconds'):.2f} s), "
          f"{pl.total(restored, recovered):8.0f} changelog records replayed")
    print(f"from the changelog:  ready in {rebuild_s:6.2f} s, "
          f"{pl.total(rebuilt, recovered):8.0f} changelog records replayed")


if __name__ == "__main__":
    main()
