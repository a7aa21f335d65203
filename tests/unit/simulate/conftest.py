"""The default simulated day, made once for the simulator's tests: its messages and the
final fact rows the transforms make of it (with the simulated center as configuration)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone

import pytest
from gim_faust.transforms.runner import Runner

from gim_faust.simulate import SimMessage, SimOptions, generate
from tests.support.simulated import replay

START = datetime(2026, 11, 2, 8, tzinfo=timezone.utc)
DAY = SimOptions("acme", start=START)  # the default day: 20 agents, 8 hours


@pytest.fixture(scope="session")
def day() -> list[SimMessage]:
    return list(generate(DAY))


@pytest.fixture(scope="session")
def facts(day: list[SimMessage]) -> tuple[Runner, dict[str, list]]:
    """The runner that replayed the day, and its final rows by table."""
    runner = replay(DAY, day)
    by_table: dict[str, list] = defaultdict(list)
    for fact in runner.rows.values():
        by_table[fact.table].append(fact)
    return runner, by_table
