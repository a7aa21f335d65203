"""Replay whole scenarios through the transforms and compare every row with expected.json."""

from __future__ import annotations

import json

import pytest

from gim_faust.facts import PlaceholderResource, ReasonCode, to_record
from gim_faust.gca.objects import build_objects
from gim_faust.transforms.codes import TECHNICAL_RESULT
from gim_faust.transforms.config_view import ConfigView
from gim_faust.transforms.keys import reason_key
from gim_faust.transforms.runner import Runner
from tests import scenario as sc


def config_view(name: str) -> ConfigView:
    view = ConfigView()
    for (kind, dbid), obj in build_objects(sc.config_rows(name)).items():
        view.apply(kind, dbid, obj)
    return view


def replay(name: str, messages: list[sc.Message]) -> Runner:
    meta = sc.expected(name)["meta"]
    runner = Runner(config_view(name), meta["tenant"], meta["interaction_timeout_s"])
    for message in messages:
        runner.feed(f"acme.{message.topic_suffix}", message.value)
    for bad in sc.bad_input(name):
        runner.feed(bad["topic"], bad["value"].encode())
    runner.finish()
    return runner


def actual_rows(name: str, runner: Runner) -> dict[str, list[dict]]:
    resources = sc.configured_resources(name)
    reasons = {}
    for fact in runner.rows.values():
        if isinstance(fact, PlaceholderResource):
            resources[fact.resource_key] = [fact.resource_type, fact.resource_name]
        elif isinstance(fact, ReasonCode):
            reasons[fact.resource_state_reason_key] = fact.reason_code
    for row in sc.config_rows(name).get("cfg_enum_value", []):
        reasons[reason_key(row[3])] = row[3]
    results = {v: k for k, v in TECHNICAL_RESULT.items()}
    out: dict[str, list[dict]] = {t: [] for t in sc.FACT_TABLES}
    for (table, _), fact in runner.rows.items():
        if table in out:
            out[table].append(sc.natural(table, to_record(fact), resources, results, reasons))
    return out


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
@pytest.mark.parametrize("name", ["small", "day"])
def test_scenario_rows_equal_expected(name: str, order: str) -> None:
    runner = replay(name, ORDERS[order](name))
    problems = sc.compare(sc.expected(name), actual_rows(name, runner))
    assert not problems, f"{len(problems)} differences, first ones:\n" + "\n".join(problems[:40])
    assert runner.counts["rejected:not_json"] == 2
    assert sum(v for k, v in runner.counts.items() if k.startswith("rejected:")) == 14


@pytest.mark.parametrize("name", ["small", "day"])
def test_every_row_final_after_the_scenario(name: str) -> None:
    runner = replay(name, sc.interleaved(name))
    active = [f for f in runner.rows.values() if getattr(f, "active_flag", 0)]
    assert not active, active[:5]
