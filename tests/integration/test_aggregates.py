"""Contract v2 aggregates on the real services: each scenario, published through GCA, GSP and
GIM with its time zone and thresholds, gives exactly the ag2_* rows of
expected-aggregates.json, kept current by the loader; ``gim aggregate`` recomputes them from
the facts to the same rows."""

from __future__ import annotations

import pytest

from tests.support import aggregates, infomart
from tests.support.deployment import Deployment

pytestmark = pytest.mark.integration


def assert_aggregates_as_expected(d: Deployment) -> None:
    with infomart.connect(d.infomart_db) as conn:
        aggregates.wait_current(conn)
        problems = aggregates.problems(d.scenario, aggregates.rows(conn, d.scenario))
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:40])


@pytest.mark.parametrize("scenario_name", ["small", "day", "dst"])
def test_the_aggregates_of_a_scenario_equal_expected(deployment: Deployment) -> None:
    deployment.through_services()
    assert_aggregates_as_expected(deployment)
    # Recomputed from scratch by the command, while the loader runs: the same rows.
    with infomart.connect(deployment.infomart_db) as conn:
        for table in aggregates.TABLES:
            conn.execute(f"DELETE FROM {table}")
    done = deployment.run("gim", "aggregate", "--all")
    assert done.stdout.startswith("aggregate: ") and len(done.stdout.splitlines()) == 1
    assert_aggregates_as_expected(deployment)
