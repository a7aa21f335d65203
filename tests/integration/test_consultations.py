"""Contract v2 consultations on the real services: the ``dst`` day (consultations ending in
cancel, consult transfer and conference) lands exactly as expected.json says, roles and
``consult_of_interaction_id`` included, and its aggregates (consult columns included) as
expected-aggregates.json says, in several delivery orders, with two GSP workers and after a
second delivery of every event."""

from __future__ import annotations

import pytest

from tests.support import aggregates, infomart
from tests.support import scenario as sc
from tests.support.deployment import Deployment

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("scenario_name", ["dst"])]

ORDERS = {
    "delivery": lambda: list(sc.messages("dst")),
    "agents_first": lambda: list(sc.messages("dst", ("voice.agents", "digital.agents",
                                                     "voice.interactions",
                                                     "digital.interactions"))),
    "interleaved": lambda: sc.interleaved("dst"),
}


def assert_lands_exactly(d: Deployment) -> None:
    with infomart.connect(d.infomart_db) as conn:
        problems = infomart.row_problems(conn, "dst")
        roles = dict(conn.execute("SELECT resource_role, count(*) FROM interaction_resource_fact "
                                  "GROUP BY 1").fetchall())
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:30])
    with infomart.connect(d.infomart_db) as conn:  # the consult columns of the aggregates too
        aggregates.wait_current(conn)
        problems = aggregates.problems("dst", aggregates.rows(conn, "dst"))
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:30])
    # every role of the contract occurs: the day exercises all three endings
    assert set(roles) == {"RECEIVED", "INITIATED", "RECEIVED_CONSULT", "INITIATED_CONSULT",
                          "RECEIVED_TRANSFER", "CONFERENCE_JOINED"}, roles


@pytest.mark.parametrize("order", sorted(ORDERS))
def test_the_dst_day_lands_exactly_in_each_delivery_order(deployment: Deployment,
                                                          order: str) -> None:
    deployment.through_services(ORDERS[order]())
    assert_lands_exactly(deployment)


def test_two_workers_and_a_second_delivery_change_nothing(deployment: Deployment) -> None:
    deployment.publish_scenario(partitions=4)
    deployment.run("gca", "run", "--once")
    gsp_a = deployment.gsp("gsp-a")
    gsp_b = deployment.gsp("gsp-b")
    gim = deployment.gim()
    deployment.wait_gsp_caught_up(gsp_a)
    deployment.wait_loaded(gim)
    assert_lands_exactly(deployment)
    with infomart.connect(deployment.infomart_db) as conn:
        before = infomart.checksum(conn)
    deployment.publish_scenario()  # every event again: all repeats
    deployment.wait_gsp_caught_up(gsp_b)
    deployment.wait_loaded(gim)
    with infomart.connect(deployment.infomart_db) as conn:
        assert infomart.checksum(conn) == before
    assert_lands_exactly(deployment)
