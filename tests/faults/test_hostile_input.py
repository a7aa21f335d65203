"""Hostile input in the middle of the day (issue 21's classes that harmed before the
contract's limits), as a fault of the table: the events are rejected, no row changes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.faults.fault_day import FaultDay
from tests.integration.test_gsp import hostile_events
from tests.support.deployment import Deployment

pytestmark = [pytest.mark.integration, pytest.mark.slow_fault]


def test_hostile_events_mid_day(deployment: Deployment, record: dict[str, Any]) -> None:
    day = FaultDay(deployment)
    day.start()
    hostile = hostile_events()
    deployment.publish([], hostile)
    day.back(progress=day.gsp_committed)
    day.publish_rest()
    day.finish(record)
    record["notes"] = f"{len(hostile)} hostile events rejected"
