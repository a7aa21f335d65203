"""Consultations, consult transfers and conferences (contract ``consultations.md``), each
ending on one small day: agent 5001 takes a customer's call from queue 8100, puts it on hold
and calls agent 5002 (the consultation ``k-1``), which then ends in one of three ways.

``docs/consultations.md`` shows the consult transfer and the conference with exactly these
events (a test below checks that), and the rows they give."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.unit.transforms.event_builders import (
    Agent,
    Call,
    by_time,
    config,
    dn,
    expect,
    interaction_row,
    messages,
    party,
    person,
    result,
    rows,
    run,
)

DOC = Path(__file__).resolve().parents[3] / "docs" / "consultations.md"
INBOUND, INTERNAL = 1, 3


def call_on_hold() -> Call:
    """The customer's call: queue 8100 for 10 s, agent 5001 answers at 15 s, holds at 60 s."""
    return (Call("c-1", target="8100").queued(0, "8100").diverted(10, "8100", "7001")
            .ringing(10, "7001", "5001").established(15, "7001", "5001")
            .held(60, "7001", "5001"))


def consultation() -> Call:
    """5001 dials 5002 at 61 s; 5002 answers at 65 s."""
    return (Call("k-1", direction="internal", source="7001", target="7002", consult_of="c-1")
            .dialing(61, "7001", "5001").ringing(61, "7002", "5002")
            .established(65, "7002", "5002").established(65, "7001", "5001"))


def consult_transfer() -> tuple[Call, Call, Agent, Agent]:
    """At 120 s both leave the consultation and 5001 the call, by transfer; 5002 is on the
    call from 120 s to 300 s. 5001 wraps up 120.5–150.5 s, 5002 300.2–320.2 s."""
    main = (call_on_hold().released(120, "7001", "5001", cause="transfer")
            .party_changed(120, "7002", "5002", "k-1")
            .released(300, "7002", "5002", cause="normal").ended(300))
    cons = (consultation().released(120, "7001", "5001", cause="transfer")
            .released(120, "7002", "5002", cause="transfer").ended(120))
    return (main, cons, Agent("5001", dn="7001").login(-60).ready(-50).acw(120.5).ready(150.5),
            Agent("5002", dn="7002").login(-60).ready(-50).acw(300.2).ready(320.2))


def conference(first_to_leave: str) -> tuple[Call, Call, Agent, Agent]:
    """At 120 s both leave the consultation for a conference: 5001 takes the call back and
    5002 joins it. ``first_to_leave`` hangs up at 200 s, the other at 300 s; both agents log
    out at 400 s without wrap-up."""
    other = {"5001": "5002", "5002": "5001"}[first_to_leave]
    ext = {"5001": "7001", "5002": "7002"}
    main = (call_on_hold().retrieved(120, "7001", "5001")
            .party_added(120, "7002", "5002", "k-1")
            .released(200, ext[first_to_leave], first_to_leave)
            .released(300, ext[other], other).ended(300))
    cons = (consultation().released(120, "7001", "5001", cause="conference")
            .released(120, "7002", "5002", cause="conference").ended(120))
    return main, cons, *(Agent(login, dn=ext[login]).login(-60).ready(-50).logout(400)
                         for login in ("5001", "5002"))


ORDERS = {
    "main_first": lambda *streams: messages(*streams),
    "consultation_first": lambda main, cons, *agents: messages(cons, main, *agents),
    "agents_first": lambda main, cons, *agents: messages(*agents, main, cons),
    "by_time": lambda *streams: by_time(*streams),
}


@pytest.mark.parametrize("order", sorted(ORDERS))
def test_a_consult_transfer(order: str) -> None:
    runner = run(config(), ORDERS[order](*consult_transfer()))

    expect(interaction_row(runner, "c-1"), interaction_type_key=INBOUND,
           consult_of_interaction_id=None, status="COMPLETED")
    expect(interaction_row(runner, "k-1"), interaction_type_key=INTERNAL,
           consult_of_interaction_id="c-1", status="COMPLETED")
    # 5001 on the call: ring 5 s, hold 60 s, talk 105 - 60 = 45 s; it gets the wrap-up that
    # began 0.5 s after it left both interactions at once (the tie rule)
    expect(party(runner, "c-1:3"), resource_key=person("5001"), resource_role="RECEIVED",
           technical_descriptor_key=result("TRANSFERRED"), ring_duration=5, hold_duration=60,
           hold_count=1, talk_duration=45, after_call_work_duration=30, customer_handle_count=1,
           mediation_resource_key=dn("8100"), mediation_duration=10, active_flag=0)
    expect(party(runner, "k-1:1"), resource_key=person("5001"), resource_role="INITIATED_CONSULT",
           technical_descriptor_key=result("TRANSFERRED"), ring_duration=4, talk_duration=55,
           after_call_work_duration=0, customer_handle_count=0, mediation_resource_key=None,
           active_flag=0)
    expect(party(runner, "k-1:2"), resource_key=person("5002"), resource_role="RECEIVED_CONSULT",
           technical_descriptor_key=result("TRANSFERRED"), ring_duration=4, talk_duration=55,
           after_call_work_duration=0, customer_handle_count=0, active_flag=0)
    # 5002 received the customer: established from its first moment, no segment delivered it
    expect(party(runner, "c-1:7"), resource_key=person("5002"), resource_role="RECEIVED_TRANSFER",
           technical_descriptor_key=result("COMPLETED"), ring_duration=0, talk_duration=180,
           after_call_work_duration=20, customer_handle_count=1, mediation_resource_key=None,
           mediation_duration=None, active_flag=0)
    assert len(rows(runner, "interaction_resource_fact")) == 4
    assert runner.counts["out_of_state"] == 0


@pytest.mark.parametrize("first_to_leave", ["5001", "5002"])
@pytest.mark.parametrize("order", sorted(ORDERS))
def test_a_conference_whoever_leaves_first(order: str, first_to_leave: str) -> None:
    runner = run(config(), ORDERS[order](*conference(first_to_leave)))

    talk_5001, talk_5002 = (125, 180) if first_to_leave == "5001" else (225, 80)
    for row_id, role in (("k-1:1", "INITIATED_CONSULT"), ("k-1:2", "RECEIVED_CONSULT")):
        expect(party(runner, row_id), resource_role=role, talk_duration=55,
               technical_descriptor_key=result("CONFERENCED"), active_flag=0)
    # 5001 took the call back at 120 s: hold 60 s, then talk on to its end
    expect(party(runner, "c-1:3"), resource_role="RECEIVED", hold_duration=60,
           talk_duration=talk_5001, technical_descriptor_key=result("COMPLETED"))
    expect(party(runner, "c-1:7"), resource_key=person("5002"), resource_role="CONFERENCE_JOINED",
           ring_duration=0, talk_duration=talk_5002, customer_handle_count=1,
           mediation_resource_key=None, technical_descriptor_key=result("COMPLETED"))
    expect(interaction_row(runner, "c-1"), status="COMPLETED", active_flag=0)
    assert runner.counts["out_of_state"] == 0


def test_a_cancelled_consultation() -> None:
    """Both leave the consultation normally at 120 s and 5001 takes the call back at 121 s:
    the consultation's parties are COMPLETED, and 5002's wrap-up right after is its own."""
    main = (call_on_hold().retrieved(121, "7001", "5001")
            .released(200, "7001", "5001").ended(200))
    cons = (consultation().released(120, "7001", "5001").released(120, "7002", "5002")
            .ended(120))
    agents = (Agent("5001", dn="7001").login(-60).ready(-50).acw(200.2).ready(210.2),
              Agent("5002", dn="7002").login(-60).ready(-50).acw(120.3).ready(140.3))
    runner = run(config(), by_time(main, cons, *agents))

    expect(party(runner, "k-1:2"), resource_role="RECEIVED_CONSULT",
           technical_descriptor_key=result("COMPLETED"), after_call_work_duration=20)
    expect(party(runner, "k-1:1"), resource_role="INITIATED_CONSULT",
           technical_descriptor_key=result("COMPLETED"), after_call_work_duration=0)
    expect(party(runner, "c-1:3"), resource_role="RECEIVED", hold_duration=61,
           talk_duration=(200 - 15) - 61, after_call_work_duration=10)


def test_a_party_joining_a_digital_interaction_is_refused() -> None:
    """Consultations are voice only in this version of the contract."""
    chat = Call("d-1", media="chat").party_added(0, "7002", "5002", "k-1")
    runner = run(config(), chat)
    assert runner.counts["rejected:bad_value"] == 1 and not runner.rows


def test_the_documented_events_are_the_ones_tested() -> None:
    """docs/consultations.md shows these days' events, line for line."""
    blocks = re.findall(r"```json\n(.*?)```", DOC.read_text(), re.S)
    documented = [json.loads(line) for block in blocks for line in block.splitlines()]
    main, cons, *agents = consult_transfer()
    tested = [json.loads(value) for _, value in
              by_time(main, cons, *agents) + by_time(*conference("5001"))]
    assert documented == tested
