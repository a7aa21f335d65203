"""The whole product on the real services: GCA, GSP and GIM as separate processes turn the
day scenario into an Info Mart that equals expected.json row for row."""

from __future__ import annotations

import time

import pytest

from tests import gim_worker, infomart
from tests.deployment import Deployment

pytestmark = pytest.mark.integration


def run_pipeline(d: Deployment) -> None:
    d.publish_scenario(partitions=3)
    d.run("gca", "run", "--once")
    gsp, gim = d.gsp(), d.gim()
    d.wait_gsp_caught_up(gsp)
    d.wait_loaded(gim)


def assert_infomart_equals_expected(d: Deployment) -> None:
    with infomart.connect(d.infomart_db) as conn:
        problems = infomart.row_problems(conn, d.scenario)
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:30])


def test_day_scenario_lands_exactly_and_a_second_delivery_changes_nothing(
        deployment: Deployment) -> None:
    run_pipeline(deployment)
    assert_infomart_equals_expected(deployment)
    with infomart.connect(deployment.infomart_db) as conn:
        before = infomart.checksum(conn)
    deployment.publish_scenario(partitions=3)  # every event again: all repeats
    gsp = deployment.services[0]
    deployment.wait_gsp_caught_up(gsp)
    deployment.wait_loaded(deployment.services[1])
    with infomart.connect(deployment.infomart_db) as conn:
        assert infomart.checksum(conn) == before


def test_loader_killed_mid_load_loses_and_duplicates_nothing(deployment: Deployment) -> None:
    deployment.publish_scenario(partitions=3)
    deployment.run("gca", "run", "--once")
    gsp = deployment.gsp()
    deployment.wait_gsp_caught_up(gsp)  # a full backlog of facts for the loader
    gim = deployment.gim()
    with infomart.connect(deployment.infomart_db) as conn:
        deadline = time.monotonic() + 120
        while not (infomart.has_schema(conn) and
                   sum(infomart.stored_offsets(conn, deployment.topics.loader_group).values())):
            assert time.monotonic() < deadline, gim.tail()
            time.sleep(0.05)
    gim.kill()
    deployment.wait_loaded(deployment.gim("gim-restarted"))
    assert_infomart_equals_expected(deployment)
    ends = gim_worker.end_offsets(deployment.bootstrap, deployment.topics.facts)
    with infomart.connect(deployment.infomart_db) as conn:
        assert infomart.stored_offsets(conn, deployment.topics.loader_group) == ends
