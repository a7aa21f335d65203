"""User data in the simulated day (contract ``user-data.md``): valid everywhere, the customer's
data on the first event of every inbound interaction, the agent's disposition (sometimes a
score, now and then a key removed) when it ends one, kept by the Info Mart in the five
columns the simulated center's configuration maps."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import orjson
import pytest
from gim_faust.transforms.codes import INTERACTION_TYPE, TECHNICAL_RESULT
from gim_faust.transforms.runner import Runner

from gim_faust.gca import user_data_columns
from gim_faust.gca.objects import USER_DATA_KEYS, build_objects
from gim_faust.models.facts import InteractionResourceFact
from gim_faust.simulate import SimMessage
from gim_faust.simulate.configdb_writer import rows
from tests.unit.simulate.conftest import DAY

Facts = tuple[Runner, dict[str, list]]
COMPLETED = TECHNICAL_RESULT["COMPLETED"]


@pytest.fixture(scope="module")
def events(day: list[SimMessage]) -> list[dict[str, Any]]:
    return [orjson.loads(m.value) for m in day if m.topic_suffix.endswith("interactions")]


def valid(user_data: Any) -> bool:
    """The contract's rule for a ``user_data`` object."""
    return isinstance(user_data, dict) and len(user_data) <= 100 and all(
        isinstance(key, str) and 1 <= len(key) <= 64
        and (value is None or isinstance(value, bool | int | float)
             or isinstance(value, str) and len(value) <= 1024)
        for key, value in user_data.items())


def test_all_user_data_is_valid_and_every_value_converts(events: list[dict[str, Any]],
                                                          facts: Facts) -> None:
    attached = [e["user_data"] for e in events if "user_data" in e]
    assert len(attached) > 1000 and all(valid(u) for u in attached)
    runner, _ = facts
    assert not [k for k in runner.counts if k.startswith(("rejected", "unconvertible"))]


def test_every_inbound_interaction_starts_with_the_customers_data(
        events: list[dict[str, Any]]) -> None:
    firsts = [e for e in events if e["seq"] == 1 and e.get("direction") == "inbound"]
    assert {e["media"] for e in firsts} == {"voice", "chat", "email"}
    accounts = Counter()
    for event in firsts:
        data = event["user_data"]
        assert data["CustomerSegment"] in ("Gold", "Silver", "Bronze")
        assert data["Language"] in ("en", "es", "fr", "de")
        account = data["AccountId"]
        assert type(account) is int or account.isdigit()
        accounts[type(account)] += 1
    assert accounts[int] > accounts[str] > 0


def test_agents_attach_a_disposition_sometimes_a_score_and_now_and_then_remove_a_key(
        events: list[dict[str, Any]]) -> None:
    changed = [e for e in events if e["type"] == "EventAttachedDataChanged"]
    assert all(e["agent_login"] and e["user_data"]["Disposition"] for e in changed)
    scores = Counter(e["user_data"]["CSAT"] for e in changed if "CSAT" in e["user_data"])
    assert set(scores) == {1, 2, 3, 4, 5}
    assert 0 < sum(1 for e in changed if e["user_data"].get("AccountId", 0) is None) < len(
        changed) / 10
    dialled = [e for e in events if "consult_of" in e]
    assert dialled and all(e["user_data"]["CustomerSegment"] for e in dialled)


def test_the_info_mart_keeps_the_data_each_party_ended_with(facts: Facts) -> None:
    """The party that ended an answered inbound interaction holds the customer's data and the
    disposition; a consultation's parties hold the copy of their call's."""
    _, tables = facts
    inbound = {f.interaction_id for f in tables["interaction_fact"]
               if f.interaction_type_key == INTERACTION_TYPE["INBOUND"]}
    consultations = {f.interaction_id for f in tables["interaction_fact"]
                     if f.consult_of_interaction_id}
    columns: Counter[str] = Counter()
    by_interaction: dict[str, list[InteractionResourceFact]] = defaultdict(list)
    for party in tables["interaction_resource_fact"]:
        by_interaction[party.interaction_id].append(party)
        columns.update(list(party.user_data or ()))
    last = [max(parties, key=lambda p: p.end_ts) for interaction_id, parties
            in by_interaction.items() if interaction_id in inbound]
    ended_by_agents = [p for p in last if p.technical_descriptor_key == COMPLETED]
    assert len(ended_by_agents) > 1000
    for party in ended_by_agents:
        assert {"customer_segment", "language", "disposition"} <= set(party.user_data), party
    for interaction_id in consultations:
        assert all("customer_segment" in p.user_data for p in by_interaction[interaction_id])
    assert set(columns) == {"customer_segment", "account_id", "language", "disposition", "csat"}


def test_the_configuration_keeps_five_keys_in_valid_columns() -> None:
    kept = rows(DAY, 7)["cfg_user_data_key"]
    assert {(t, key, column, kind) for t, key, column, kind, _ in kept} == {
        (7, "CustomerSegment", "customer_segment", "text"),
        (7, "AccountId", "account_id", "integer"),
        (7, "Language", "language", "text"),
        (7, "Disposition", "disposition", "text"),
        (7, "CSAT", "csat", "numeric")}
    mappings = build_objects({"cfg_user_data_key": kept})[USER_DATA_KEYS, 7]["keys"]
    plan = user_data_columns.plan(mappings, {})
    assert not plan.ignored and len(plan.added) == 5
