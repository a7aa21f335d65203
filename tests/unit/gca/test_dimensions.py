"""gim_faust.gca.dimensions: desired Info Mart rows, and the plans that reach them."""
from __future__ import annotations

import json
from typing import Any

import pytest
from gim_faust.transforms.keys import dn_key, person_key, reason_key
from hypothesis import given, settings
from hypothesis import strategies as st

from gim_faust.gca.dimensions import (
    SERVICE_LEVEL,
    SHORT_ABANDON,
    DimensionPlan,
    IgnoredOption,
    ResourceRow,
    Thresholds,
    desired,
    dn_thresholds,
    plan_dimension,
    plan_history,
)
from gim_faust.gca.objects import build_objects
from tests.support.scenario import config_rows, scenario

ROWS = {
    "cfg_switch": [(1, 1, "sip")],
    "cfg_person": [(1001, 1, "E1", "maya", "Maya", "Petrov", True, 1),
                   (1017, 1, "E9", "boss", None, None, False, 1)],
    "cfg_agent_login": [(2001, 1, "5001")],
    "cfg_login_info": [(1001, 2001)],
    "cfg_dn": [(103, 1, "8100", "ACDQueue", "Sales"), (109, 1, "7001", "Extension", None)],
    "cfg_skill": [(301, 1, "Sales"), (302, 1, "Support")],
    "cfg_skill_level": [(1001, 301, 5), (1017, 302, 2)],
    "cfg_group": [(401, 1, "Team", "Agent"), (403, 1, "Queues", "DN")],
    # 9999 is a member row whose person is gone (cfg_group_member has no foreign key).
    "cfg_group_member": [(401, 1001), (401, 9999), (403, 103), (403, 1001)],
    "cfg_enum_value": [(501, 1, "NotReadyReason", "Break", "Short break"),
                       (502, 1, "NotReadyReason", "Lunch", None),
                       (503, 1, "Country", "FR", "France")],
}


def test_desired_resources() -> None:
    dims = desired(build_objects(ROWS), tenant_dbid=1)
    assert dims.resources[person_key(1001)] == ResourceRow(
        "Agent", "maya", "E1", "maya", "Maya", "Petrov", None, None, 1001, 1)
    # Every person is a resource (contract: "one row per person"), agent or not.
    assert dims.resources[person_key(1017)].resource_name == "boss"
    assert dims.resources[dn_key(103)] == ResourceRow(
        "ACDQueue", "Sales", None, None, None, None, "8100", "sip", 103, 1)
    # A DN without a name is named by its number.
    assert dims.resources[dn_key(109)].resource_name == "7001"
    assert len(dims.resources) == 4


def test_desired_groups_skills_reasons() -> None:
    dims = desired(build_objects(ROWS), tenant_dbid=1)
    assert dims.groups == {401: ("Team", "Agent", 1), 403: ("Queues", "DN", 1)}
    assert dims.skills == {301: ("Sales", 1), 302: ("Support", 1)}
    # Only NotReadyReason values; a missing display name falls back to the code.
    assert dims.reasons == {reason_key("Break"): ("Break", "Short break"),
                            reason_key("Lunch"): ("Lunch", "Lunch")}


def test_desired_memberships_follow_group_type_and_skip_dangling_members() -> None:
    dims = desired(build_objects(ROWS), tenant_dbid=1)
    # Agent group: persons; DN group: DNs. 9999 (no such person) and 1001 in a DN group (no
    # such DN) are not members.
    assert set(dims.memberships) == {(person_key(1001), 401), (dn_key(103), 403)}


def test_desired_skill_levels() -> None:
    dims = desired(build_objects(ROWS), tenant_dbid=1)
    assert dims.skill_levels == {(person_key(1001), 301): 5, (person_key(1017), 302): 2}


def test_plan_history_change_delete_create() -> None:
    current = {("a", 1): 5, ("b", 1): 3, ("c", 1): 1}
    wanted = {("a", 1): 7, ("c", 1): 1, ("d", 1): 2}
    plan = plan_history(current, wanted)
    assert plan.end == [("a", 1), ("b", 1)]                  # changed, deleted
    assert plan.start == [(("a", 1), 7), (("d", 1), 2)]      # changed, created
    assert len(plan_history(wanted, wanted)) == 0


def test_plan_dimension() -> None:
    existing = {1: (("x",), False), 2: (("y",), False), 3: (("z",), True), 4: (("w",), False)}
    wanted = {1: ("x",), 2: ("Y",), 3: ("z",), 5: ("new",)}
    plan = plan_dimension(existing, wanted)
    # 2 changed, 3 revived (was deleted), 5 new; 4 is gone from configuration: mark deleted.
    assert plan == DimensionPlan(upsert=[(2, ("Y",)), (3, ("z",)), (5, ("new",))], delete=[4])
    assert plan_dimension(existing, wanted, deletes=False).delete == []
    assert len(plan_dimension({1: (("x",), False)}, {1: ("x",)})) == 0


# ---- a DN's own thresholds (contract aggregates.md, "Thresholds") ---------------------------


def test_dn_thresholds_are_whole_seconds_of_the_gim_section() -> None:
    options = {"gim": {SERVICE_LEVEL: "30", SHORT_ABANDON: "0"},
               "other-app": {SERVICE_LEVEL: "not ours", "colour": "red"}}
    # Other sections are not GIM's: neither read nor reported.
    assert dn_thresholds(options) == Thresholds({SERVICE_LEVEL: 30, SHORT_ABANDON: 0}, [])
    assert dn_thresholds({}) == Thresholds({}, [])
    # The largest an integer column holds; leading zeros, however many, are no problem.
    assert dn_thresholds({"gim": {SERVICE_LEVEL: "2147483647", SHORT_ABANDON: "0" * 5000 + "7"}}
                         ).valid == {SERVICE_LEVEL: 2147483647, SHORT_ABANDON: 7}


@pytest.mark.parametrize("value", ["ten", "", " 5", "5 ", "5\n", "-1", "+5", "1.5", "1e3",
                                   "\u0663", "2147483648", "9" * 5000])
def test_a_value_that_is_not_whole_seconds_is_ignored_and_reported(value: str) -> None:
    result = dn_thresholds({"gim": {SERVICE_LEVEL: "20", SHORT_ABANDON: value}})
    assert result.valid == {SERVICE_LEVEL: 20}
    assert result.ignored == [IgnoredOption(
        SHORT_ABANDON, value, "not a whole number of seconds from 0 to 2147483647")]


def test_an_unknown_gim_option_is_reported() -> None:
    # Most likely a misspelt threshold: the operator should hear of it.
    assert dn_thresholds({"gim": {"service-level-treshold": "30"}}) == Thresholds(
        {}, [IgnoredOption("service-level-treshold", "30", "not an option of section 'gim'")])


def test_desired_dn_thresholds_of_the_dst_scenario() -> None:
    dims = desired(build_objects(config_rows("dst")), tenant_dbid=1)
    meta = json.loads((scenario("dst") / "expected-aggregates.json").read_text())["meta"]
    wanted = {number: (own.get(SERVICE_LEVEL), own.get(SHORT_ABANDON))
              for number, own in meta["dn_thresholds"].items()}
    rows = {row.dn_number or row.user_name: (row.service_level_threshold,
                                             row.short_abandon_threshold)
            for row in dims.resources.values()}
    assert {name: own for name, own in rows.items() if own != (None, None)} == wanted
    assert wanted == {"8102": (30, 5), "9101": (3600, None)}
    assert rows["8101"] == (None, None)     # 'ten': the tenant's default applies
    assert rows["8100"] == (None, None)     # section other-app: not GIM's


def test_a_changed_threshold_alone_updates_the_resource_row() -> None:
    def resources(value: str) -> dict[int, tuple[Any, ...]]:
        rows = {**ROWS, "cfg_dn_annex": [(103, "gim", SERVICE_LEVEL, value)]}
        return {k: tuple(v) for k, v in desired(build_objects(rows), tenant_dbid=1)
                .resources.items()}

    before, after = resources("30"), resources("45")
    plan = plan_dimension({k: (v, False) for k, v in before.items()}, after)
    assert plan == DimensionPlan(upsert=[(dn_key(103), after[dn_key(103)])], delete=[])
    assert after[dn_key(103)][-2:] == (45, None)
    # An invalid value is no override: the row goes back to null (the tenant's default).
    assert resources("soon")[dn_key(103)][-2:] == (None, None)


# ---- history as a sequence of readings: an in-memory table that applies the plans ----------

Row = list[Any]  # [key, value, start, end]


def _apply(table: list[Row], wanted: dict[Any, int], ts: int) -> None:
    current = {r[0]: r[1] for r in table if r[3] is None}
    plan = plan_history(current, wanted)
    for row in table:
        if row[3] is None and row[0] in plan.end:
            row[3] = ts
    table.extend([k, v, ts, None] for k, v in plan.start)


readings = st.lists(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]),
                                    st.integers(1, 3), max_size=4), min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(readings)
def test_history_follows_any_sequence_of_readings(sequence: list[dict[str, int]]) -> None:
    table: list[Row] = []
    for ts, wanted in enumerate(sequence, start=1):
        _apply(table, wanted, ts)
        # The open rows are exactly the reading ...
        assert {r[0]: r[1] for r in table if r[3] is None} == wanted
        # ... and applying it again (a cycle redone after a crash) writes nothing.
        before = [list(r) for r in table]
        _apply(table, wanted, ts + 0.5)
        assert table == before
    for key in "abcd":
        rows = sorted((r for r in table if r[0] == key), key=lambda r: r[2])
        # A key's rows never overlap, at most the last is open, and each row's value is the
        # value the key had for its whole interval.
        for earlier, later in zip(rows, rows[1:], strict=False):
            assert earlier[3] is not None and earlier[3] <= later[2]
        for row in rows:
            for ts, wanted in enumerate(sequence, start=1):
                if row[2] <= ts and (row[3] is None or ts < row[3]):
                    assert wanted.get(key) == row[1]
