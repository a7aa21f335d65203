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


def test_only_the_highest_version_of_a_fact_is_kept_with_the_event_that_made_it() -> None:
    out = Outgoing()
    out.add(Outcome(None, facts=[Row("interaction_fact", "a", 1)]), ("t", 0, 10))
    out.add(Outcome(None, facts=[Row("interaction_fact", "a", 3),
                                 Row("interaction_fact", "b", 1)]), ("t", 0, 11))
    out.add(Outcome(None, facts=[Row("interaction_fact", "a", 2)]), ("t", 1, 11))
    out.add(Outcome(None, facts=[Row("interaction_fact", "b", 1)]), ("t", 1, 12))  # a tie
    assert {key: (fact.version, origin) for key, (fact, origin) in out.facts.items()} == {
        "interaction_fact:a": (3, ("t", 0, 11)), "interaction_fact:b": (1, ("t", 0, 11))}
    # The same offset in two partitions is two origins, kept in the order of the events.
    assert list(out.origins) == [("t", 0, 10), ("t", 0, 11), ("t", 1, 11), ("t", 1, 12)]


def test_ended_parties_are_all_kept_in_order_and_clear_empties_everything() -> None:
    out = Outgoing()
    out.add(Outcome(None, handoffs=["first", "second"]), ("t", 0, 1))  # type: ignore[list-item]
    out.add(Outcome(None, handoffs=["third"]), ("t", 0, 2))  # type: ignore[list-item]
    assert [ended for ended, _ in out.handoffs] == ["first", "second", "third"]
    out.clear()
    assert (out.facts, out.handoffs, out.origins) == ({}, [], {})
