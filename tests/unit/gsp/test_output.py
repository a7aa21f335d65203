"""What a GSP batch sends: the highest version of each fact, every ended party in order."""

from __future__ import annotations

from dataclasses import dataclass

from gim_faust.transforms.outcome import Outcome

from gim_faust.gsp.output import Outgoing


@dataclass(frozen=True)
class Row:
    table: str
    id: str
    version: int


def test_only_the_highest_version_of_a_fact_is_kept() -> None:
    out = Outgoing()
    out.add(Outcome(None, facts=[Row("interaction_fact", "a", 1)]))
    out.add(Outcome(None, facts=[Row("interaction_fact", "a", 3), Row("interaction_fact", "b", 1)]))
    out.add(Outcome(None, facts=[Row("interaction_fact", "a", 2)]))
    out.add(Outcome(None, facts=[Row("interaction_fact", "b", 1)]))  # a tie keeps the first
    assert {key: fact.version for key, fact in out.facts.items()} == {
        "interaction_fact:a": 3, "interaction_fact:b": 1}


def test_ended_parties_are_all_kept_in_order_and_clear_empties_everything() -> None:
    out = Outgoing()
    out.add(Outcome(None, handoffs=["first", "second"]))  # type: ignore[list-item]
    out.add(Outcome(None, handoffs=["third"]))  # type: ignore[list-item]
    assert out.handoffs == ["first", "second", "third"]
    out.clear()
    assert (out.facts, out.handoffs) == ({}, [])
