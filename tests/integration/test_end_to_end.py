"""The whole product on the real services: GCA, GSP and GIM as separate processes turn the
day scenario into an Info Mart that equals expected.json row for row."""

from __future__ import annotations

from collections import Counter

import pytest
from gim_faust.loaders import summary

from tests.support import aggregates, gim_worker, infomart
from tests.support import scenario as sc
from tests.support import summary_figures as figures
from tests.support.deployment import Deployment
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def assert_infomart_equals_expected(d: Deployment) -> None:
    with infomart.connect(d.infomart_db) as conn:
        problems = infomart.row_problems(conn, d.scenario)
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:30])


def expected_summary(name: str) -> dict[str, list[tuple]]:
    """The demo's figures computed in Python, independently of the SQL in
    loaders/summary.py: interactions by media and status from expected.json, queue and agent
    figures per hour from expected-aggregates.json and the configuration."""
    by_status = Counter((r["media"], r["status"]) for r in sc.expected(name)["interaction_fact"])
    return {"by_status": sorted((m, s, c) for (m, s), c in by_status.items()),
            "queue_hours": figures.queue_hours(name), "agent_hours": figures.agent_hours(name)}


def actual_summary(url: str) -> dict[str, list[tuple]]:
    """The demo's figures by its SQL, once the aggregates reflect every loaded fact."""
    with infomart.connect(url) as conn:
        aggregates.wait_current(conn)
    return {"by_status": summary.query(url, summary.BY_MEDIA_AND_STATUS),
            "queue_hours": figures.ordered(figures.rounded(summary.query(url,
                                                                         summary.QUEUE_HOURS))),
            "agent_hours": figures.ordered(figures.rounded(summary.query(url,
                                                                         summary.AGENT_HOURS)))}


def test_day_scenario_lands_exactly_and_a_second_delivery_changes_nothing(
        deployment: Deployment) -> None:
    deployment.through_services()
    assert_infomart_equals_expected(deployment)
    # the figures make demo prints, by SQL, equal the same figures computed independently
    assert actual_summary(deployment.infomart_db) == expected_summary(deployment.scenario)
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
        wait_until(lambda: infomart.has_schema(conn) and sum(
            infomart.stored_offsets(conn, deployment.topics.loader_group).values()),
            "the loader's first committed batch", 120, service=gim, interval_s=0.05)
    gim.kill()
    deployment.wait_loaded(deployment.gim("gim-restarted"))
    assert_infomart_equals_expected(deployment)
    ends = gim_worker.end_offsets(deployment.bootstrap, deployment.topics.facts)
    with infomart.connect(deployment.infomart_db) as conn:
        assert infomart.stored_offsets(conn, deployment.topics.loader_group) == ends
