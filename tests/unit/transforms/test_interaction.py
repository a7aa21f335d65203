"""The interaction rules of contract ``infomart.md`` (mediation segments, resource parties,
their results and figures, delivery) and ``events.md`` (end, timeout, repeats, out-of-state
events), each on a small hand-written event sequence."""

from __future__ import annotations

import pytest

from gim_faust.models.events import MAX_SEQ
from tests.unit.transforms.event_builders import (
    BASE_MS,
    Agent,
    Call,
    as_loaded,
    at,
    by_time,
    columns,
    config,
    dn,
    expect,
    feed,
    interaction_row,
    messages,
    party,
    person,
    result,
    row,
    rows,
    run,
    segment,
    unknown_dn,
    unknown_login,
)

NINE = BASE_MS // 1000  # date_time_key of the 09:00:00Z interval
VOICE, CHAT = 1, 2
INBOUND, OUTBOUND, INTERNAL = 1, 2, 3


# --- the contract's example ------------------------------------------------------------------

def worked_example() -> tuple[Call, Agent]:
    """``events.md``, "Example: an inbound call answered after queueing" (the agent logged in
    earlier, so its events a7 and a8 keep their ``seq``)."""
    call = (Call("c-1", target="8000")
            .queued(0, "8000")
            .diverted(4, "8000", "8100")
            .queued(4, "8100")
            .diverted(31.5, "8100", "7001")
            .ringing(31.5, "7001", "5001")
            .established(37, "7001", "5001")
            .held(120, "7001", "5001")
            .retrieved(165, "7001", "5001")
            .released(300, "7001", "5001", cause="normal")
            .ended(300))
    agent = (Agent("5001", dn="7001", first_seq=5).login(-600).ready(-590)
             .acw(300.2).ready(340.2))
    return call, agent


ORDERS = {
    "interactions_first": lambda call, agent: messages(call, agent),
    "agents_first": lambda call, agent: messages(agent, call),
    "by_time": lambda call, agent: by_time(call, agent),
}


@pytest.mark.parametrize("order", sorted(ORDERS))
def test_worked_example_of_the_contract(order: str) -> None:
    call, agent = worked_example()
    runner = run(config(), ORDERS[order](call, agent))

    assert columns(interaction_row(runner, "c-1")) == {
        "interaction_id": "c-1", "media_type_key": VOICE, "interaction_type_key": INBOUND,
        "start_ts": at(0), "end_ts": at(300), "start_date_time_key": NINE,
        "source_address": "+15550100", "target_address": "8000", "status": "COMPLETED",
        "active_flag": 0, "consult_of_interaction_id": None}
    # routing point 8000 for 4 s, REDIRECTED since it went on to a queue
    assert columns(segment(runner, "c-1:1")) == {
        "mediation_segment_id": "c-1:1", "interaction_id": "c-1", "resource_key": dn("8000"),
        "media_type_key": VOICE, "technical_descriptor_key": result("REDIRECTED"),
        "start_ts": at(0), "end_ts": at(4), "start_date_time_key": NINE,
        "mediation_duration": 4, "target_resource_key": dn("8100"), "accepted_flag": 0,
        "active_flag": 0}
    # queue 8100 for 27.5 s -> 28 s, DIVERTED, accepted
    assert columns(segment(runner, "c-1:3")) == {
        "mediation_segment_id": "c-1:3", "interaction_id": "c-1", "resource_key": dn("8100"),
        "media_type_key": VOICE, "technical_descriptor_key": result("DIVERTED"),
        "start_ts": at(4), "end_ts": at(31.5), "start_date_time_key": NINE,
        "mediation_duration": 28, "target_resource_key": person("5001"), "accepted_flag": 1,
        "active_flag": 0}
    # ring 5.5 s -> 6 s, hold 45 s, talk 263 s - 45 s = 218 s, hold count 1, after-call work
    # 40 s, COMPLETED, customer handle count 1, mediation queue 8100 for 28 s
    assert columns(party(runner, "c-1:5")) == {
        "interaction_resource_id": "c-1:5", "interaction_id": "c-1",
        "resource_key": person("5001"), "media_type_key": VOICE,
        "interaction_type_key": INBOUND, "technical_descriptor_key": result("COMPLETED"),
        "start_ts": at(31.5), "end_ts": at(300), "start_date_time_key": NINE,
        "ring_duration": 6, "talk_duration": 218, "hold_duration": 45, "hold_count": 1,
        "after_call_work_duration": 40, "customer_handle_count": 1,
        "mediation_resource_key": dn("8100"), "mediation_duration": 28, "active_flag": 0,
        "resource_role": "RECEIVED", "user_data": None}
    assert len(rows(runner, "mediation_segment_fact")) == 2
    assert len(rows(runner, "interaction_resource_fact")) == 1
    assert runner.counts["duplicate"] == runner.counts["out_of_state"] == 0


def test_worked_example_the_same_whichever_topic_delivers_first() -> None:
    call, agent = worked_example()
    finals = {order: {k: columns(v) for k, v in run(config(), make(call, agent)).rows.items()}
              for order, make in ORDERS.items()}
    assert finals["agents_first"] == finals["interactions_first"] == finals["by_time"]


# --- mediation segments: results and targets ----------------------------------------------------

def test_segment_diverted_to_an_extension_targets_the_person_it_delivered() -> None:
    call = (Call("c-1").queued(0, "8100").diverted(10, "8100", "7001")
            .ringing(10, "7001", "5001").established(12, "7001", "5001")
            .released(40, "7001", "5001").ended(40))
    runner = run(config(), call)
    expect(segment(runner, "c-1:1"), technical_descriptor_key=result("DIVERTED"),
           end_ts=at(10), mediation_duration=10, target_resource_key=person("5001"),
           accepted_flag=1, active_flag=0)


def test_segment_diverted_to_a_plain_extension_targets_the_dn() -> None:
    call = (Call("c-1").queued(0, "8100").diverted(10, "8100", "7009")
            .ringing(10, "7009").established(12, "7009").released(40, "7009").ended(40))
    runner = run(config(), call)
    expect(segment(runner, "c-1:1"), technical_descriptor_key=result("DIVERTED"),
           target_resource_key=dn("7009"), accepted_flag=1)
    expect(party(runner, "c-1:3"), resource_key=dn("7009"),
           technical_descriptor_key=result("COMPLETED"), mediation_resource_key=dn("8100"),
           mediation_duration=10, after_call_work_duration=0, active_flag=0)


def test_segment_diverted_that_delivered_nobody_has_no_target_and_is_not_accepted() -> None:
    call = Call("c-1").queued(0, "8100").diverted(10, "8100", "7001").ended(11)
    runner = run(config(), call)
    expect(segment(runner, "c-1:1"), technical_descriptor_key=result("DIVERTED"),
           end_ts=at(10), mediation_duration=10, target_resource_key=None, accepted_flag=0,
           active_flag=0)


def test_digital_segment_diverted_to_a_known_agent_login() -> None:
    chat = (Call("ch-1", media="chat", source="visitor-1").queued(0, "8300")
            .diverted(6, "8300", "5002").ringing(6, login="5002")
            .established(9, login="5002").released(70, login="5002").ended(70))
    runner = run(config(), chat)
    expect(segment(runner, "ch-1:1"), media_type_key=CHAT, resource_key=dn("8300"),
           technical_descriptor_key=result("DIVERTED"), target_resource_key=person("5002"),
           mediation_duration=6, accepted_flag=1, active_flag=0)
    expect(party(runner, "ch-1:3"), media_type_key=CHAT, resource_key=person("5002"),
           technical_descriptor_key=result("COMPLETED"), ring_duration=3, talk_duration=61,
           hold_duration=0, hold_count=0, customer_handle_count=1,
           mediation_resource_key=dn("8300"), mediation_duration=6)


def test_segment_redirected_to_another_mediation_dn_targets_that_dn() -> None:
    call = Call("c-1").queued(0, "8000").diverted(2.4, "8000", "8200").queued(2.4, "8200")
    runner = run(config(), call.abandoned(20, "8200").ended(20))
    expect(segment(runner, "c-1:1"), technical_descriptor_key=result("REDIRECTED"),
           mediation_duration=2, target_resource_key=dn("8200"), accepted_flag=0,
           active_flag=0)


def test_segment_redirected_to_an_unknown_dn_targets_its_placeholder() -> None:
    call = Call("c-1").queued(0, "8000").diverted(3, "8000", "+15559999").ended(3)
    runner = run(config(), call)
    expect(segment(runner, "c-1:1"), technical_descriptor_key=result("REDIRECTED"),
           target_resource_key=unknown_dn("+15559999"), accepted_flag=0, active_flag=0)
    placeholder = row(runner, "resource_", str(unknown_dn("+15559999")))
    expect(placeholder, resource_type="UnknownDN", resource_name="+15559999")


def test_digital_segment_redirected_to_an_unknown_login_targets_its_placeholder() -> None:
    chat = Call("ch-1", media="chat").queued(0, "8300").diverted(3, "8300", "5999").ended(4)
    runner = run(config(), chat)
    expect(segment(runner, "ch-1:1"), technical_descriptor_key=result("REDIRECTED"),
           target_resource_key=unknown_login("5999"))
    expect(row(runner, "resource_", str(unknown_login("5999"))),
           resource_type="UnknownAgentLogin", resource_name="5999")


def test_segment_abandoned_at_its_dn() -> None:
    call = Call("c-1").queued(0, "8100").abandoned(20.5, "8100").ended(20.5)
    runner = run(config(), call)
    expect(segment(runner, "c-1:1"), technical_descriptor_key=result("ABANDONED"),
           end_ts=at(20.5), mediation_duration=21, target_resource_key=None, accepted_flag=0,
           active_flag=0)
    expect(interaction_row(runner, "c-1"), status="COMPLETED", end_ts=at(20.5), active_flag=0)


def test_segment_still_open_at_the_end_is_cleared_at_its_ts() -> None:
    call = Call("c-1").queued(0, "8100").ended(15)
    runner = run(config(), call)
    expect(segment(runner, "c-1:1"), technical_descriptor_key=result("CLEARED"),
           end_ts=at(15), mediation_duration=15, target_resource_key=None, accepted_flag=0,
           active_flag=0)


def test_segment_still_open_at_a_timeout_times_out_at_the_last_event() -> None:
    call = Call("c-1").queued(0, "8000").diverted(5, "8000", "8100").queued(5, "8100")
    later = Call("c-2").queued(400, "8100")
    runner = run(config(), call, later, timeout_s=300)
    expect(segment(runner, "c-1:1"), technical_descriptor_key=result("REDIRECTED"),
           end_ts=at(5), active_flag=0)
    expect(segment(runner, "c-1:3"), technical_descriptor_key=result("TIMED_OUT"),
           start_ts=at(5), end_ts=at(5), mediation_duration=0, target_resource_key=None,
           accepted_flag=0, active_flag=0)
    expect(interaction_row(runner, "c-1"), status="TIMED_OUT", end_ts=at(5), active_flag=0)


# --- resource parties: results ---------------------------------------------------------------

def offered(call: Call, t: float = 0, dn: str = "7001", login: str | None = "5001") -> Call:
    """Queued at 8100 at ``t``, diverted to ``dn`` and ringing there 2 s later."""
    return (call.queued(t, "8100").diverted(t + 2, "8100", dn).ringing(t + 2, dn, login))


def test_party_completed_by_a_normal_release() -> None:
    call = offered(Call("c-1")).established(5, "7001", "5001").released(65, "7001", "5001")
    runner = run(config(), call.ended(66))
    expect(party(runner, "c-1:3"), technical_descriptor_key=result("COMPLETED"),
           start_ts=at(2), end_ts=at(65), ring_duration=3, talk_duration=60,
           customer_handle_count=1)


def test_party_still_open_at_the_end_is_completed_at_its_ts_when_established() -> None:
    call = offered(Call("c-1")).established(5, "7001", "5001").ended(50)
    runner = run(config(), call)
    expect(party(runner, "c-1:3"), technical_descriptor_key=result("COMPLETED"),
           end_ts=at(50), ring_duration=3, talk_duration=45, customer_handle_count=1)


def test_party_transferred() -> None:
    call = (offered(Call("c-1")).established(5, "7001", "5001")
            .released(30, "7001", "5001", cause="transfer")
            .ringing(30, "7002", "5002").established(33, "7002", "5002")
            .released(90, "7002", "5002").ended(90))
    runner = run(config(), call)
    expect(party(runner, "c-1:3"), technical_descriptor_key=result("TRANSFERRED"),
           end_ts=at(30), talk_duration=25, customer_handle_count=1)
    # the second party was not delivered by a segment: no mediation figures
    expect(party(runner, "c-1:6"), technical_descriptor_key=result("COMPLETED"),
           resource_key=person("5002"), ring_duration=3, talk_duration=57,
           customer_handle_count=1, mediation_resource_key=None, mediation_duration=None)


def test_party_offered_and_not_answered_is_redirected() -> None:
    call = offered(Call("c-1")).released(20, "7001", "5001", cause="redirect").ended(21)
    runner = run(config(), call)
    expect(party(runner, "c-1:3"), technical_descriptor_key=result("REDIRECTED"),
           end_ts=at(20), ring_duration=18, talk_duration=0, hold_duration=0,
           customer_handle_count=0, after_call_work_duration=0, active_flag=0)
    expect(segment(runner, "c-1:1"), target_resource_key=person("5001"), accepted_flag=0)


def test_outbound_party_nobody_answered_is_unanswered() -> None:
    call = (Call("c-1", direction="outbound", source="7001", target="+15550199")
            .dialing(0, "7001", "5001").released(25.4, "7001", "5001").ended(25.4))
    runner = run(config(), call)
    expect(party(runner, "c-1:1"), technical_descriptor_key=result("UNANSWERED"),
           interaction_type_key=OUTBOUND, start_ts=at(0), end_ts=at(25.4), ring_duration=25,
           talk_duration=0, customer_handle_count=0, mediation_resource_key=None,
           mediation_duration=None, active_flag=0)
    expect(interaction_row(runner, "c-1"), interaction_type_key=OUTBOUND,
           source_address="7001", target_address="+15550199")


def test_outbound_party_answered() -> None:
    call = (Call("c-1", direction="outbound").dialing(0, "7001", "5001")
            .established(8, "7001", "5001").released(68, "7001", "5001").ended(68))
    runner = run(config(), call)
    expect(party(runner, "c-1:1"), technical_descriptor_key=result("COMPLETED"),
           ring_duration=8, talk_duration=60, customer_handle_count=1)


def test_party_abandoned_while_ringing() -> None:
    call = offered(Call("c-1")).abandoned(14, "7001", "5001").ended(14)
    runner = run(config(), call)
    expect(party(runner, "c-1:3"), technical_descriptor_key=result("ABANDONED"),
           end_ts=at(14), ring_duration=12, talk_duration=0, customer_handle_count=0,
           active_flag=0)
    expect(segment(runner, "c-1:1"), technical_descriptor_key=result("DIVERTED"),
           target_resource_key=person("5001"), accepted_flag=0, active_flag=0)


def test_party_never_established_still_open_at_the_end_is_cleared() -> None:
    call = offered(Call("c-1")).ended(9.5)
    runner = run(config(), call)
    expect(party(runner, "c-1:3"), technical_descriptor_key=result("CLEARED"),
           end_ts=at(9.5), ring_duration=8, talk_duration=0, customer_handle_count=0,
           active_flag=0)


@pytest.mark.parametrize("established", [True, False])
def test_party_still_open_at_a_timeout_times_out_at_the_last_event(established: bool) -> None:
    call = offered(Call("c-1"))
    if established:
        call.established(5, "7001", "5001").held(20, "7001", "5001")
    later = Call("c-2").queued(900, "8100")
    agent = Agent("5001").login(-60).ready(-50).ready(1000)  # passes the ACW window
    runner = run(config(), call, later, agent, timeout_s=300)
    last = 20 if established else 2
    expect(party(runner, "c-1:3"), technical_descriptor_key=result("TIMED_OUT"),
           end_ts=at(last), ring_duration=3 if established else 0,
           talk_duration=15 if established else 0, hold_duration=0,
           hold_count=1 if established else 0,
           customer_handle_count=1 if established else 0, active_flag=0)
    expect(interaction_row(runner, "c-1"), status="TIMED_OUT", end_ts=at(last), active_flag=0)
    # the other interaction is younger than the timeout: still open
    expect(interaction_row(runner, "c-2"), status="ACTIVE", end_ts=None, active_flag=1)


# --- figures ---------------------------------------------------------------------------------

def test_ring_duration_rounds_half_up() -> None:
    call = (Call("c-1").ringing(0, "7001", "5001").established(4.499, "7001", "5001")
            .released(10, "7001", "5001")
            .ringing(20, "7002", "5002").established(24.5, "7002", "5002")
            .released(30, "7002", "5002").ended(30))
    runner = run(config(), call)
    expect(party(runner, "c-1:1"), ring_duration=4, talk_duration=6)  # 5.501 s -> 6
    expect(party(runner, "c-1:4"), ring_duration=5, talk_duration=6)  # 4.5 -> 5, 5.5 -> 6


def test_talk_is_rounded_once_after_subtracting_the_hold() -> None:
    """X - E = 20.000 s, hold 0.500 s: talk 19.500 s -> 20 s (rounding each first would give
    20 - 1 = 19); the hold alone rounds to 1 s."""
    call = (Call("c-1").ringing(0, "7001", "5001").established(10, "7001", "5001")
            .held(15, "7001", "5001").retrieved(15.5, "7001", "5001")
            .released(30, "7001", "5001").ended(30))
    runner = run(config(), call)
    expect(party(runner, "c-1:1"), ring_duration=10, talk_duration=20, hold_duration=1,
           hold_count=1)


def test_hold_sums_its_intervals_before_rounding() -> None:
    """Two holds of 0.4 s: 0.8 s -> 1 s (each alone would round to 0)."""
    call = (Call("c-1").ringing(0, "7001", "5001").established(1, "7001", "5001")
            .held(5, "7001", "5001").retrieved(5.4, "7001", "5001")
            .held(6, "7001", "5001").retrieved(6.4, "7001", "5001")
            .released(11, "7001", "5001").ended(11))
    runner = run(config(), call)
    expect(party(runner, "c-1:1"), hold_duration=1, hold_count=2, talk_duration=9)  # 9.2 s


def test_an_unretrieved_hold_ends_at_the_party_end() -> None:
    call = (Call("c-1").ringing(0, "7001", "5001").established(5, "7001", "5001")
            .held(10, "7001", "5001").retrieved(20, "7001", "5001")
            .held(40, "7001", "5001").released(70, "7001", "5001").ended(70))
    runner = run(config(), call)
    # holds 10 s + 30 s (to X); talk (70 - 5) - 40 = 25
    expect(party(runner, "c-1:1"), hold_duration=40, hold_count=2, talk_duration=25,
           ring_duration=5)


def test_a_hold_open_at_the_interaction_end_ends_there() -> None:
    call = (Call("c-1").ringing(0, "7001", "5001").established(5, "7001", "5001")
            .held(10, "7001", "5001").ended(25))
    runner = run(config(), call)
    expect(party(runner, "c-1:1"), technical_descriptor_key=result("COMPLETED"),
           hold_duration=15, hold_count=1, talk_duration=5, end_ts=at(25))


def test_mediation_duration_of_the_delivering_segment() -> None:
    call = (Call("c-1").queued(0, "8200").diverted(12.5, "8200", "7002")
            .ringing(12.5, "7002", "5002").established(15, "7002", "5002")
            .released(20, "7002", "5002").ended(20))
    runner = run(config(), call)
    expect(segment(runner, "c-1:1"), mediation_duration=13)
    expect(party(runner, "c-1:3"), mediation_resource_key=dn("8200"), mediation_duration=13)


@pytest.mark.parametrize("direction, count", [("inbound", 1), ("outbound", 1),
                                              ("internal", 0)])
def test_customer_handle_count_is_0_for_internal(direction: str, count: int) -> None:
    call = (Call("c-1", direction=direction, source="7002").ringing(0, "7001", "5001")
            .established(3, "7001", "5001").released(9, "7001", "5001").ended(9))
    runner = run(config(), call)
    expect(party(runner, "c-1:1"), customer_handle_count=count,
           interaction_type_key={"inbound": INBOUND, "outbound": OUTBOUND,
                                 "internal": INTERNAL}[direction])


# --- delivery -------------------------------------------------------------------------------

def test_ring_no_answer_then_a_second_offer_each_segment_delivers_its_own_party() -> None:
    call = (Call("c-1").queued(0, "8100").diverted(10, "8100", "7001")
            .ringing(10, "7001", "5001").released(25, "7001", "5001", cause="redirect")
            .queued(25, "8100").diverted(40, "8100", "7001")
            .ringing(40, "7001", "5001").established(43, "7001", "5001")
            .released(100, "7001", "5001").ended(100))
    runner = run(config(), call)
    expect(segment(runner, "c-1:1"), technical_descriptor_key=result("DIVERTED"),
           mediation_duration=10, target_resource_key=person("5001"), accepted_flag=0,
           active_flag=0)
    expect(segment(runner, "c-1:5"), technical_descriptor_key=result("DIVERTED"),
           start_ts=at(25), mediation_duration=15, target_resource_key=person("5001"),
           accepted_flag=1, active_flag=0)
    expect(party(runner, "c-1:3"), technical_descriptor_key=result("REDIRECTED"),
           ring_duration=15, mediation_resource_key=dn("8100"), mediation_duration=10)
    expect(party(runner, "c-1:7"), technical_descriptor_key=result("COMPLETED"),
           ring_duration=3, talk_duration=57, mediation_resource_key=dn("8100"),
           mediation_duration=15)


def test_ringing_reported_before_the_divert_at_the_same_ts_is_still_delivered() -> None:
    call = (Call("c-1").queued(0, "8100").ringing(8, "7001", "5001")
            .diverted(8, "8100", "7001").established(10, "7001", "5001")
            .released(20, "7001", "5001").ended(20))
    runner = run(config(), call)
    expect(segment(runner, "c-1:1"), target_resource_key=person("5001"), accepted_flag=1)
    expect(party(runner, "c-1:2"), mediation_resource_key=dn("8100"), mediation_duration=8)


def test_accepted_even_when_established_is_reported_before_the_divert() -> None:
    """Auto-answer: ringing and established come before the divert, all at one ts."""
    call = (Call("c-1").queued(0, "8100").ringing(8, "7001", "5001")
            .established(8, "7001", "5001").diverted(8, "8100", "7001")
            .released(20, "7001", "5001").ended(20))
    runner = run(config(), call)
    expect(segment(runner, "c-1:1"), technical_descriptor_key=result("DIVERTED"),
           target_resource_key=person("5001"), accepted_flag=1, active_flag=0)
    expect(party(runner, "c-1:2"), mediation_resource_key=dn("8100"), ring_duration=0,
           talk_duration=12)


def test_a_party_elsewhere_or_before_the_segment_end_is_not_delivered() -> None:
    call = (Call("c-1").ringing(0, "7001", "5001").established(1, "7001", "5001")
            .queued(5, "8100").diverted(10, "8100", "7001")
            .ringing(10, "7002", "5002").released(12, "7002", "5002")
            .released(30, "7001", "5001").ended(30))
    runner = run(config(), call)
    expect(segment(runner, "c-1:3"), technical_descriptor_key=result("DIVERTED"),
           target_resource_key=None, accepted_flag=0, active_flag=0)
    expect(party(runner, "c-1:1"), mediation_resource_key=None, mediation_duration=None)
    expect(party(runner, "c-1:5"), mediation_resource_key=None, mediation_duration=None)


# --- open and final rows -----------------------------------------------------------------------

def test_open_rows_are_active_and_final_rows_are_not() -> None:
    call = offered(Call("c-1")).established(5, "7001", "5001")
    runner = run(config(), call)
    expect(interaction_row(runner, "c-1"), status="ACTIVE", end_ts=None, active_flag=1)
    expect(segment(runner, "c-1:1"), technical_descriptor_key=result("DIVERTED"),
           accepted_flag=1, active_flag=0)
    expect(party(runner, "c-1:3"), technical_descriptor_key=None, end_ts=None, ring_duration=3,
           talk_duration=0, active_flag=1)
    waiting = run(config(), Call("c-2").queued(0, "8100"))
    expect(segment(waiting, "c-2:1"), technical_descriptor_key=None, end_ts=None,
           mediation_duration=None, active_flag=1)
    # a divert whose party has not shown up yet can still change its target: open
    diverted = run(config(), Call("c-3").queued(0, "8100").diverted(4, "8100", "7001"))
    expect(segment(diverted, "c-3:1"), end_ts=at(4), target_resource_key=None, active_flag=1)

    feed(runner, call.released(60, "7001", "5001").ended(60).messages()[-2:])
    expect(interaction_row(runner, "c-1"), status="COMPLETED", active_flag=0)
    # an agent party that ended waits for its after-call-work window ...
    expect(party(runner, "c-1:3"), end_ts=at(60), active_flag=1)
    # ... which the agent's stream closes once it passes X + 10 s
    feed(runner, Agent("5001").login(-100).ready(80))
    expect(party(runner, "c-1:3"), end_ts=at(60), after_call_work_duration=0, active_flag=0)


# --- timeout, repeats, out-of-state events ------------------------------------------------------

def test_no_timeout_without_newer_event_time() -> None:
    runner = run(config(), offered(Call("c-1")), timeout_s=300)
    expect(interaction_row(runner, "c-1"), status="ACTIVE", active_flag=1)


def test_an_event_arriving_after_the_timeout_closes_the_interaction_first() -> None:
    call = offered(Call("c-1")).established(5, "7001", "5001").released(900, "7001", "5001")
    runner = run(config(), call, timeout_s=300)
    expect(interaction_row(runner, "c-1"), status="TIMED_OUT", end_ts=at(5), active_flag=0)
    expect(party(runner, "c-1:3"), technical_descriptor_key=result("TIMED_OUT"),
           end_ts=at(5), ring_duration=3, talk_duration=0)
    assert runner.counts["out_of_state"] == 1


def test_a_late_event_after_a_timeout_is_out_of_state_not_a_duplicate() -> None:
    call = offered(Call("c-1")).established(5, "7001", "5001")
    runner = run(config(), call, Call("c-2").queued(900, "8100"), timeout_s=300)
    expect(interaction_row(runner, "c-1"), status="TIMED_OUT", end_ts=at(5))
    before = dict(runner.rows)
    feed(runner, call.released(950, "7001", "5001").ended(950).messages()[-2:])
    assert runner.rows == before
    assert runner.counts["out_of_state"] == 2
    assert runner.counts["duplicate"] == 0
    feed(runner, call.message(5))  # the source repeats the late release: now a duplicate
    assert runner.counts["duplicate"] == 1
    assert runner.rows == before


def test_an_event_with_the_last_seq_times_the_interaction_out_at_once() -> None:
    """Nothing can follow seq 2^63 - 1 but a timeout, which could not number its rows above
    it (a version past bigint once made the loader refuse them): it times out at once."""
    call = offered(Call("c-1", first_seq=MAX_SEQ - 3)).established(5, "7001", "5001")
    runner = run(config(), call, timeout_s=300)
    expect(interaction_row(runner, "c-1"), status="TIMED_OUT", end_ts=at(5), active_flag=0,
           version=MAX_SEQ)
    expect(party(runner, call.id(MAX_SEQ - 1)), technical_descriptor_key=result("TIMED_OUT"),
           end_ts=at(5), ring_duration=3, talk_duration=0, version=MAX_SEQ)
    assert all(as_loaded(fact) == fact for fact in runner.rows.values())
    before = dict(runner.rows)
    feed(runner, call.message(MAX_SEQ), Call("c-2").queued(900, "8100"))
    assert runner.rows.items() >= before.items() and runner.counts["duplicate"] == 1


def test_a_repeat_delivered_after_the_interaction_ended_changes_nothing() -> None:
    call = offered(Call("c-1")).established(5, "7001", "5001").released(60, "7001", "5001")
    call.ended(60)
    runner = run(config(), call)
    before = dict(runner.rows)
    feed(runner, call.message(1), call.message(3), call.message(6))
    assert runner.rows == before
    assert runner.counts["duplicate"] == 3
    assert runner.counts["out_of_state"] == 0


def test_a_repeat_while_open_changes_nothing() -> None:
    call = offered(Call("c-1")).established(5, "7001", "5001").held(9, "7001", "5001")
    runner = run(config(), call)
    before = dict(runner.rows)
    feed(runner, call.message(4), call.message(5))
    assert runner.rows == before
    assert runner.counts["duplicate"] == 2
    feed(runner, call.retrieved(19, "7001", "5001").released(30, "7001", "5001").ended(30)
         .messages()[-3:])
    expect(party(runner, "c-1:3"), hold_duration=10, hold_count=1, talk_duration=15)


def test_established_for_a_party_that_never_started_is_applied_and_counted() -> None:
    call = (Call("c-1").queued(0, "8100").diverted(5, "8100", "7001")
            .established(8, "7001", "5001").released(68, "7001", "5001").ended(68))
    runner = run(config(), call)
    assert runner.counts["out_of_state"] == 1
    expect(party(runner, "c-1:3"), resource_key=person("5001"),
           technical_descriptor_key=result("COMPLETED"), start_ts=at(8), end_ts=at(68),
           ring_duration=0, talk_duration=60, customer_handle_count=1,
           mediation_resource_key=dn("8100"), mediation_duration=5)
    expect(segment(runner, "c-1:1"), target_resource_key=person("5001"), accepted_flag=1)


def test_release_for_a_party_that_never_started_is_counted_and_ignored() -> None:
    call = Call("c-1").queued(0, "8100").released(3, "7001", "5001").abandoned(9, "8100")
    runner = run(config(), call.ended(9))
    assert runner.counts["out_of_state"] == 1
    assert rows(runner, "interaction_resource_fact") == {}
    expect(segment(runner, "c-1:1"), technical_descriptor_key=result("ABANDONED"))


# --- unknown endpoints -----------------------------------------------------------------------

def test_unknown_dn_and_login_go_to_placeholder_resources() -> None:
    call = (Call("c-1").queued(0, "8999").diverted(5, "8999", "7001")
            .ringing(5, "7001", "5999").established(7, "7001", "5999")
            .released(20, "7001", "5999").ended(20))
    runner = run(config(), call)
    expect(segment(runner, "c-1:1"), resource_key=unknown_dn("8999"),
           technical_descriptor_key=result("DIVERTED"), target_resource_key=unknown_login("5999"),
           accepted_flag=1)
    expect(party(runner, "c-1:3"), resource_key=unknown_login("5999"),
           mediation_resource_key=unknown_dn("8999"), talk_duration=13)
    placeholders = rows(runner, "resource_")
    assert {(p.resource_type, p.resource_name) for p in placeholders.values()} == {
        ("UnknownDN", "8999"), ("UnknownAgentLogin", "5999")}
    expect(placeholders[str(unknown_dn("8999"))], resource_key=unknown_dn("8999"))


def test_plain_extension_unknown_to_configuration() -> None:
    call = (Call("c-1", direction="internal").ringing(0, "7777").established(2, "7777")
            .released(12, "7777").ended(12))
    runner = run(config(), call)
    expect(party(runner, "c-1:1"), resource_key=unknown_dn("7777"), talk_duration=10,
           customer_handle_count=0, after_call_work_duration=0, active_flag=0)
    expect(row(runner, "resource_", str(unknown_dn("7777"))), resource_type="UnknownDN",
           resource_name="7777")
