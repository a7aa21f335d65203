"""A service of the fault suite's own set stops in the middle of the day, then comes back:
nothing is lost or doubled, and the figures go to the fault table (tests/faults/conftest.py).
``make test`` runs the broker restart; ``make faults`` all of them."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from gim_faust.metrics import free_port
from tests.faults.conftest import services
from tests.faults.fault_day import FaultDay
from tests.support import pipeline as pl
from tests.support.deployment import Deployment
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.stops_services]


def test_broker_stopped_for_20_s(deployment: Deployment, record: dict[str, Any]) -> None:
    """Also finding 7 of issue 21: the GSP's log during the outage stays a few lines (a
    24 s outage wrote 129,298 lines before the repeat limit)."""
    day = FaultDay(deployment)
    day.start()
    before = day.gsp.log.read_bytes().count(b"\n")
    services("down", "kafka")
    time.sleep(20)
    services("up")
    lines = day.gsp.log.read_bytes().count(b"\n") - before
    day.back()
    day.publish_rest()
    day.finish(record)
    record["notes"] = f"GSP log during the outage: {lines} lines"
    assert lines < 300, day.gsp.tail(60)


@pytest.mark.slow_fault
def test_postgresql_down_for_30_s(deployment: Deployment, record: dict[str, Any]) -> None:
    day = FaultDay(deployment)
    day.start()
    day.publish_rest()
    services("down", "postgres")
    time.sleep(30)
    services("up")
    day.back()
    day.finish(record)
    assert day.gim.running(), day.gim.tail()


@pytest.mark.slow_fault
def test_object_store_down_while_snapshots_are_due(deployment: Deployment,
                                                   record: dict[str, Any]) -> None:
    """Snapshots fail while the store is away; events are processed all the same, and the
    next snapshot after it is back succeeds."""
    port = free_port()
    day = FaultDay(deployment, GIM_SNAPSHOT_INTERVAL="2", GIM_METRICS_PORT=str(port))
    day.start()
    services("down", "s3proxy")
    day.publish_rest()
    time.sleep(10)
    failed = pl.total(pl.metrics(port), "gim_gsp_snapshots_total", result="failed")
    services("up")
    day.back(progress=lambda: int(pl.total(pl.metrics(port), "gim_gsp_snapshots_total",
                                           result="ok")))
    day.finish(record)
    record["notes"] = f"{failed:.0f} snapshots failed while it was away"
    assert failed > 0


@pytest.mark.slow_fault
@pytest.mark.parametrize("service", ["gsp", "gim"])
def test_kill_9_at_a_random_point(deployment: Deployment, record: dict[str, Any],
                                  service: str) -> None:
    """The GSP or the loader killed at a random point of the second half (by the facts it
    has sent or loaded by then), and started again on the same state."""
    day = FaultDay(deployment)
    day.start()
    done = day.facts_sent if service == "gsp" else day.loaded
    first_half = done()
    kill_at = first_half * (1 + random.uniform(0.05, 0.9) / 2)  # the second half gives
    day.publish_rest()                                          # about as many as the first
    wait_until(lambda: done() >= kill_at, "the point to kill at", 120, interval_s=0.02)
    killed_at = done()
    if service == "gsp":
        day.gsp.kill()
        day.gsp = deployment.gsp()
        day.back(progress=day.gsp_committed)
    else:
        day.gim.kill()
        day.gim = deployment.gim("gim-again")
        day.back()
    day.finish(record)
    what = "facts sent" if service == "gsp" else "facts loaded"
    record["notes"] = f"killed at {killed_at} {what} ({first_half} at the end of the first half)"
