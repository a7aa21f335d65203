"""Replay whole scenarios through the transforms and compare every row with expected.json."""

from __future__ import annotations

import pytest

from tests.support import scenario as sc

ORDERS = {
    "delivery": lambda name: list(sc.messages(name)),
    "interleaved": sc.interleaved,
    "agents_first": lambda name: list(sc.messages(name, ("voice.agents", "digital.agents",
                                                         "voice.interactions",
                                                         "digital.interactions"))),
    "interactions_first": lambda name: list(sc.messages(name, ("voice.interactions",
                                                               "digital.interactions",
                                                               "voice.agents",
                                                               "digital.agents"))),
}


@pytest.mark.parametrize("order", sorted(ORDERS))
@pytest.mark.parametrize("name", ["small", "day", "dst"])
def test_scenario_rows_equal_expected(name: str, order: str) -> None:
    runner = sc.replay(name, ORDERS[order](name))
    problems = sc.compare(sc.expected(name), sc.natural_facts(name, runner.rows.values()))
    assert not problems, f"{len(problems)} differences, first ones:\n" + "\n".join(problems[:40])
    assert runner.counts["rejected:not_json"] == 2
    assert sum(v for k, v in runner.counts.items() if k.startswith("rejected:")) == 14 + (
        runner.counts["rejected:bad_user_data"])


@pytest.mark.parametrize("order", sorted(ORDERS))
def test_user_data_rows_equal_expected(order: str) -> None:
    runner = sc.replay("dst", ORDERS[order]("dst"))
    problems = sc.compare_user_data("dst", sc.user_data_from_facts("dst", runner.rows.values()))
    assert not problems, f"{len(problems)} differences, first ones:\n" + "\n".join(problems[:40])
    assert runner.counts["rejected:bad_user_data"] == len(
        sc.expected_user_data("dst")["meta"]["bad_user_data_events"])
    # AccountId values that are no integer (3.5, true, "N/A", 20 digits) and CSAT "bad"
    assert runner.counts["unconvertible:AccountId"] and runner.counts["unconvertible:CSAT"]


@pytest.mark.parametrize("name", ["small", "day", "dst"])
def test_every_row_final_after_the_scenario(name: str) -> None:
    runner = sc.replay(name, sc.interleaved(name))
    active = [f for f in runner.rows.values() if getattr(f, "active_flag", 0)]
    assert not active, active[:5]
