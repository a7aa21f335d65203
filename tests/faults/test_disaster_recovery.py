"""The DR drill of issue 21, finding 5: every piece of GSP state but the snapshots is lost.
Before ``gsp recover``, a restore refused every snapshot and the state started empty: 70 of
4,078 rows came out wrong on a day killed mid-stream this way."""

from __future__ import annotations

import asyncio
import shutil
import time
from typing import Any

import pytest

from gim_faust.kafka import admin_client, group_state
from gim_faust.metrics import free_port
from tests.faults.fault_day import assert_exact
from tests.support import pipeline as pl
from tests.support import scenario as sc
from tests.support.deployment import Deployment
from tests.support.waiting import wait_until

# Most of its minute and a half is the killed static members' session timeout (60 s), for
# which `gsp recover` must wait: make faults runs it, make test leaves it out.
pytestmark = [pytest.mark.integration, pytest.mark.slow_fault]


def test_disaster_recovery_from_object_storage_alone(deployment: Deployment,
                                                     record: dict[str, Any]) -> None:
    """Two workers snapshot their partitions halfway through the day and go on. Then the
    workers, their disks, every changelog topic and the hand-off topics are lost. ``gsp recover`` rebuilds the
    changelogs from the snapshots and moves the group back to their offsets; two new workers
    on empty disks finish the day, and the Info Mart is exact."""
    d = deployment
    messages = list(sc.messages(d.scenario))
    half, three_quarters = len(messages) // 2, len(messages) * 3 // 4
    d.publish(messages[:half])
    d.run("gca", "run", "--once")
    ports = [free_port(), free_port()]
    workers = [d.gsp(f"gsp-{port}", GIM_METRICS_PORT=str(port), GIM_SNAPSHOT_INTERVAL="3600")
               for port in ports]
    d.wait_gsp_caught_up(workers[0])
    for port in ports:
        pl.wait_ready(port, workers[0])
        d.run("gsp", "snapshot", GIM_METRICS_PORT=str(port))
    d.publish(messages[half:three_quarters])  # applied after the snapshots: state to rebuild
    d.wait_gsp_caught_up(workers[0])

    for worker in workers:  # the disaster
        worker.kill()
        shutil.rmtree(d.state_dir(f"gsp-{worker.env['GIM_METRICS_PORT']}"))
    settings = pl.settings_for(d.bootstrap)

    async def lose_the_gsp_topics() -> None:
        """Its changelogs and hand-off topics: all the GSP kept in Kafka but its offsets."""
        async with admin_client(settings.kafka) as admin:
            await admin.delete_topics([
                *(d.topics.changelog(f"{kind}-{channel}") for channel in ("voice", "digital")
                  for kind in ("interactions", "agents", "party-facts")),
                *(d.topics.party_ended(channel) for channel in ("voice", "digital"))])
    asyncio.run(lose_the_gsp_topics())

    busy = d.run("gsp", "recover", check=False)  # killed static members are still members
    assert busy.returncode == 1 and "stop every GSP worker first" in busy.stderr
    wait_until(lambda: asyncio.run(group_state(settings.kafka, d.topics.gsp_app_id))[1] == 0,
               "the killed workers' sessions to time out", 120, interval_s=1.0)
    planned = d.run("gsp", "recover", "--dry-run").stdout
    assert "dry run: nothing changed" in planned and "none:" not in planned, planned
    started = time.monotonic()
    done = d.run("gsp", "recover").stdout
    assert "changelogs rebuilt" in done and "none:" not in done, done
    again = [d.gsp(f"gsp-again-{i}") for i in range(2)]
    d.wait_gsp_caught_up(again[0])
    record["recovered_s"] = round(time.monotonic() - started, 1)
    record["notes"] = "recover, then two new workers caught up"

    d.publish(messages[three_quarters:], sc.bad_input(d.scenario))
    d.wait_gsp_caught_up(again[0])
    d.wait_loaded(d.gim())
    assert_exact(d, record)
