"""User data (contract ``user-data.md``): what a value becomes in its column, the merge rule,
and which key's value a party takes when it ends."""

from __future__ import annotations

import pytest
from gim_faust.transforms.user_data import KeptKey, convert, merge

from tests.unit.transforms.event_builders import Agent, Call, config, feed, party, run

TEXT, INTEGER, NUMERIC = KeptKey("t", "text", 8), KeptKey("i", "integer"), KeptKey("n", "numeric")


@pytest.mark.parametrize(("value", "kept", "becomes"), [
    ("Gold", TEXT, "Gold"), ("Platinum-Plus", TEXT, "Platinum"), (42, TEXT, "42"),
    (4.5, TEXT, "4.5"), (3.0, TEXT, "3"), (1e20, TEXT, "10000000"), (True, TEXT, "true"),
    (False, TEXT, "false"), (1e-7, KeptKey("t", "text"), "0.0000001"),
    (347854150, INTEGER, 347854150), ("347075453", INTEGER, 347075453), ("+12", INTEGER, 12),
    ("-0", INTEGER, 0), (2**63 - 1, INTEGER, 2**63 - 1), (2**63, INTEGER, None),
    ("9" * 20, INTEGER, None), (3.5, INTEGER, None), (3.0, INTEGER, None), (True, INTEGER, None),
    ("12ab", INTEGER, None), ("N/A", INTEGER, None), (" 12", INTEGER, None), ("", INTEGER, None),
    (4.5, NUMERIC, "4.5"), (5, NUMERIC, "5"), ("2.25", NUMERIC, "2.25"), ("4.50", NUMERIC, "4.50"),
    (".5", NUMERIC, ".5"), ("-12", NUMERIC, "-12"), ("bad", NUMERIC, None), ("1e3", NUMERIC, None),
    (False, NUMERIC, None), ("", NUMERIC, None), (None, TEXT, None),
])
def test_a_value_becomes_what_its_column_holds(value: object, kept: KeptKey,
                                               becomes: object) -> None:
    assert convert(value, kept) == becomes  # type: ignore[arg-type]


def test_merge_keeps_only_kept_keys_newest_wins_and_null_removes() -> None:
    kept = {"Segment": KeptKey("segment", "text"), "CSAT": KeptKey("csat", "numeric")}
    held: dict[str, str | int] = {}
    assert merge(held, {"Segment": "Gold", "Other": "x" * 1000}, kept) == []
    assert merge(held, {"CSAT": "bad"}, kept) == ["CSAT"]
    assert held == {"segment": "Gold"}
    assert merge(held, {"Segment": "Silver", "CSAT": 4}, kept) == []
    assert held == {"segment": "Silver", "csat": "4"}
    assert merge(held, {"Segment": None}, kept) == []
    assert held == {"csat": "4"}


def kept_config() -> object:
    view = config()
    view.apply("user_data_keys", 1, {"keys": {
        "Segment": {"column": "segment", "data_type": "text", "max_length": 255},
        "Disposition": {"column": "disposition", "data_type": "text", "max_length": 255}}})
    return view


def test_a_party_takes_the_user_data_as_it_stood_when_it_ended() -> None:
    """The event that ends a party counts; later changes are the next party's."""
    call = (Call("c-1").event("EventQueued", 0, dn="8100", user_data={"Segment": "Gold"})
            .diverted(5, "8100", "7001").ringing(5, "7001", "5001")
            .established(8, "7001", "5001")
            .event("EventAttachedDataChanged", 30, agent_login="5001",
                   user_data={"Disposition": "Sale", "Unkept": 1})
            .event("EventReleased", 60, dn="7001", agent_login="5001", cause="transfer",
                   user_data={"Segment": None})
            .ringing(61, "7002", "5002").established(62, "7002", "5002")
            .event("EventAttachedDataChanged", 70, agent_login="5002",
                   user_data={"Disposition": "Resolved"})
            .released(90, "7002", "5002").ended(90))
    agents = [Agent(login).login(-60).ready(-50).logout(200) for login in ("5001", "5002")]
    runner = run(kept_config(), call, *agents)  # type: ignore[arg-type]
    assert party(runner, "c-1:3").user_data == {"disposition": "Sale"}
    assert party(runner, "c-1:7").user_data == {"disposition": "Resolved"}


def test_an_event_with_invalid_user_data_is_applied_without_it() -> None:
    call = (Call("c-1").ringing(0, "7001", "5001").established(2, "7001", "5001")
            .event("EventReleased", 60, dn="7001", agent_login="5001",
                   user_data={"Segment": {"nested": True}})
            .ended(60))
    runner = run(kept_config(), call, Agent("5001").login(-60).logout(200))  # type: ignore[arg-type]
    assert party(runner, "c-1:1").end_ts is not None  # the release was applied
    assert party(runner, "c-1:1").user_data is None
    assert runner.counts["rejected:bad_user_data"] == 1


def test_a_removed_mapping_stops_filling_its_column() -> None:
    """contract user-data.md: removing a mapping stops filling its column for parties that
    end afterwards, also with a value held from before."""
    view = kept_config()
    call = (Call("c-1").event("EventRinging", 0, dn="7001", agent_login="5001",
                              user_data={"Segment": "Gold", "Disposition": "Sale"})
            .established(2, "7001", "5001"))
    runner = run(view, call, finish=False)  # type: ignore[arg-type]
    view.apply("user_data_keys", 1, {"keys": {  # type: ignore[attr-defined]
        "Segment": {"column": "segment", "data_type": "text", "max_length": 255}}})
    feed(runner, Call("c-1", first_seq=3).released(60, "7001", "5001").ended(60))
    assert party(runner, "c-1:1").user_data == {"segment": "Gold"}
