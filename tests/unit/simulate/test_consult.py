"""Consultations in the simulated day (contract ``consultations.md``): all three endings and
the odd colleague who does not answer, each with the contract's events on both calls; the
roles and results the transforms give their parties; and agents whose states stay coherent
(a colleague in a consultation is offered nothing, after-call work follows the customer's
call)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import orjson
import pytest
from gim_faust.transforms.codes import INTERACTION_TYPE, MEDIA_TYPE, RESOURCE_STATE, TECHNICAL_RESULT
from gim_faust.transforms.runner import Runner

from gim_faust.models.facts import InteractionResourceFact, StateFact
from gim_faust.simulate import SimMessage, SimOptions, generate
from tests.unit.simulate.conftest import START

RESULT = {v: k for k, v in TECHNICAL_RESULT.items()}
Events = list[dict[str, Any]]
Facts = tuple[Runner, dict[str, list]]


def ending(consultation: Events) -> str:
    """How a consultation ended, read from its own events."""
    if any(e["type"] == "EventAbandoned" for e in consultation):
        return "unanswered"
    (cause,) = {e["cause"] for e in consultation if e["type"] == "EventReleased"}
    return {"normal": "cancelled", "transfer": "transfer", "conference": "conference"}[cause]


@pytest.fixture(scope="module")
def calls(day: list[SimMessage]) -> dict[str, Events]:
    """Every interaction's events, in order."""
    out: dict[str, Events] = defaultdict(list)
    for message in day:
        if message.topic_suffix.endswith("interactions"):
            event = orjson.loads(message.value)
            out[event["interaction_id"]].append(event)
    return out


@pytest.fixture(scope="module")
def consultations(calls: dict[str, Events]) -> dict[str, str]:
    """The ending of every consultation, by its interaction id."""
    return {cid: ending(events) for cid, events in calls.items() if "consult_of" in events[0]}


def party_events(events: Events, ts: str) -> list[tuple[Any, ...]]:
    """What the parties did at instant ``ts``: (type, agent, cause or consultation)."""
    return [(e["type"], e.get("agent_login"), e.get("cause") or e.get("from_interaction_id"))
            for e in events if e["ts"] == ts]


def test_consultations_end_in_all_three_ways_on_a_modest_share_of_calls(
        calls: dict[str, Events], consultations: dict[str, str]) -> None:
    endings = Counter(consultations.values())
    for way in ("cancelled", "transfer", "conference", "unanswered"):
        assert endings[way] > 0, way
    assert endings["unanswered"] < endings["cancelled"]
    answered = sum(1 for events in calls.values()
                   if events[0].get("direction") == "inbound" and events[0]["media"] == "voice"
                   and any(e["type"] == "EventEstablished" for e in events))
    assert 0.03 < len(consultations) / answered < 0.12


def test_each_consultation_has_the_contract_events_on_both_calls(
        calls: dict[str, Events], consultations: dict[str, str]) -> None:
    for cid, way in consultations.items():
        consultation = calls[cid]
        dialing, ringing = consultation[:2]
        agent, colleague = dialing["agent_login"], ringing["agent_login"]
        main = calls[dialing["consult_of"]]
        assert (dialing["type"], dialing["direction"], ringing["type"]) == (
            "EventDialing", "internal", "EventRinging")
        assert (dialing["from"], dialing["to"]) == (dialing["dn"], ringing["dn"])
        assert agent != colleague and consultation[-1]["type"] == "EventInteractionEnded"
        before = [e["type"] for e in main if e["ts"] <= dialing["ts"]
                  and e.get("agent_login") == agent]
        assert before[-1] == "EventHeld", cid  # the customer waits on hold
        end = next(e["ts"] for e in consultation if e["type"] == "EventReleased")
        expected = {
            "cancelled": [("EventRetrieved", agent, None)],
            "unanswered": [("EventRetrieved", agent, None)],
            "transfer": [("EventAttachedDataChanged", agent, None),
                         ("EventReleased", agent, "transfer"),
                         ("EventPartyChanged", colleague, cid)],
            "conference": [("EventRetrieved", agent, None), ("EventPartyAdded", colleague, cid)],
        }[way]
        assert party_events(main, end) == expected, cid
        # who talks on, then leaves (a blind transfer may bring in more agents later)
        leaving = [e["agent_login"] for e in main if e["type"] == "EventReleased"
                   and e["ts"] > end]
        on_the_call = {"transfer": {colleague}, "conference": {agent, colleague}}.get(
            way, {agent})
        assert set(leaving[:len(on_the_call)]) == on_the_call, cid
        assert main[-1]["type"] == "EventInteractionEnded"


def test_consultation_parties_get_their_roles_and_the_main_calls_the_colleague(
        facts: Facts, consultations: dict[str, str]) -> None:
    _, tables = facts
    interactions = {f.interaction_id: f for f in tables["interaction_fact"]}
    parties: dict[str, list[InteractionResourceFact]] = defaultdict(list)
    for party in tables["interaction_resource_fact"]:
        parties[party.interaction_id].append(party)
    assert {i for i, f in interactions.items() if f.consult_of_interaction_id} == set(consultations)
    results = {"cancelled": ("COMPLETED", "COMPLETED"), "unanswered": ("UNANSWERED", "ABANDONED"),
               "transfer": ("TRANSFERRED", "TRANSFERRED"),
               "conference": ("CONFERENCED", "CONFERENCED")}
    joined: dict[str, set[str]] = {"RECEIVED_TRANSFER": set(), "CONFERENCE_JOINED": set()}
    handed_over_wrap_up = 0  # after-call work of initiators of consult transfers
    for cid, way in consultations.items():
        assert interactions[cid].interaction_type_key == INTERACTION_TYPE["INTERNAL"]
        roles = {p.resource_role: p for p in parties[cid]}
        assert {role: RESULT[p.technical_descriptor_key] for role, p in roles.items()} == dict(
            zip(("INITIATED_CONSULT", "RECEIVED_CONSULT"), results[way], strict=True)), cid
        main = interactions[cid].consult_of_interaction_id
        role = {"transfer": "RECEIVED_TRANSFER", "conference": "CONFERENCE_JOINED"}.get(way)
        if role:
            joined[role].add(main)
        if way == "transfer":
            initiator = roles["INITIATED_CONSULT"].resource_key
            handed_over_wrap_up += sum(p.after_call_work_duration for p in parties[main]
                                       if p.resource_key == initiator)
    assert handed_over_wrap_up > 0  # the customer's call takes it, not the consultation
    for role, mains in joined.items():
        brought = [p for ps in parties.values() for p in ps if p.resource_role == role]
        assert mains and {p.interaction_id for p in brought} == mains, role
        assert all(p.ring_duration == 0 and p.mediation_resource_key is None
                   and p.customer_handle_count == 1 and p.talk_duration > 0 for p in brought)
    others = {p.resource_role for ps in parties.values() for p in ps
              if p.interaction_id not in consultations}
    assert others == {"RECEIVED", "INITIATED", "RECEIVED_TRANSFER", "CONFERENCE_JOINED"}


def overlap(a: Any, b: Any) -> bool:
    return a.start_ts < b.end_ts and b.start_ts < a.end_ts


def test_agents_stay_coherent_through_consultations(facts: Facts) -> None:
    """An agent holds two calls at once only as the initiator of a consultation (the customer
    on hold); every call reaches an agent who is READY; after-call work overlaps no call and
    never goes to a consultation."""
    _, tables = facts
    mains = {f.interaction_id: f.consult_of_interaction_id for f in tables["interaction_fact"]}
    voice: dict[int, list[InteractionResourceFact]] = defaultdict(list)
    for party in tables["interaction_resource_fact"]:
        if party.media_type_key == MEDIA_TYPE["VOICE"]:
            voice[party.resource_key].append(party)
    states: dict[tuple[int, int], list[StateFact]] = defaultdict(list)
    for state in tables["sm_res_state_fact"]:
        if state.media_type_key == MEDIA_TYPE["VOICE"]:
            states[state.resource_key, state.resource_state_key].append(state)
    for agent, parties in voice.items():
        for a in parties:
            for b in parties:
                if a is not b and overlap(a, b) and a.resource_role == "INITIATED_CONSULT":
                    assert mains[a.interaction_id] == b.interaction_id, (a, b)
                elif a is not b and overlap(a, b):
                    assert b.resource_role == "INITIATED_CONSULT", (a, b)
            assert any(s.start_ts <= a.start_ts < s.end_ts
                       for s in states[agent, RESOURCE_STATE["READY"]]), a
            if a.resource_role.endswith("_CONSULT"):
                assert a.after_call_work_duration == 0, a
        wrap_ups = states[agent, RESOURCE_STATE["AFTER_CALL_WORK"]]
        assert not [(w, p) for w in wrap_ups for p in parties if overlap(w, p)]


def test_a_day_without_consultations_has_none() -> None:
    day = generate(SimOptions("acme", hours=2, start=START, consult=0))
    assert not any(b'"consult_of"' in message.value for message in day)
