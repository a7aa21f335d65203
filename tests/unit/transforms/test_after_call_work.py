"""After-call work (contract ``infomart.md``): an AFTER_CALL_WORK state that starts at T with
X <= T <= X + 10 s belongs to the established party of that person ending at X (the one that
ended last if several), each state to at most one party, the same whichever topic delivers
first. Every test runs each arrival order and requires the same final rows."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from gim_faust.transforms import after_call_work
from gim_faust.transforms.after_call_work import Interval, Join, Pending
from gim_faust.transforms.outcome import PartyEnded
from gim_faust.transforms.runner import Runner

from gim_faust.models.events import MAX_SEQ
from gim_faust.models.facts import MAX_VERSION, InteractionResourceFact
from tests.support import scenario as sc
from tests.unit.transforms.event_builders import (
    TENANT,
    TIMEOUT_S,
    Agent,
    Call,
    as_loaded,
    at,
    by_time,
    config,
    expect,
    feed,
    messages,
    party,
    result,
    row,
    run,
    state,
    unversioned,
)

ACW = 3


def answered(interaction_id: str, start: float, end: float, login: str = "5001",
             dn: str = "7001") -> Call:
    """A call that rings at ``start``, is answered 2 s later and released at ``end``."""
    return (Call(interaction_id).ringing(start, dn, login).established(start + 2, dn, login)
            .released(end, dn, login).ended(end))


def in_every_order(calls: list[Call], agents: list[Agent]) -> Runner:
    """Run the streams interactions first, agents first and merged by time; all three must
    give the same rows (versions aside). Returns the interactions-first runner."""
    runners = {
        "interactions_first": run(config(), *calls, *agents),
        "agents_first": run(config(), *agents, *calls),
        "by_time": run(config(), by_time(*calls, *agents)),
    }
    finals = {order: unversioned(r) for order, r in runners.items()}
    assert finals["agents_first"] == finals["interactions_first"], "agents first differs"
    assert finals["by_time"] == finals["interactions_first"], "merged by time differs"
    return runners["agents_first"]


@pytest.mark.parametrize("offset, figure", [(0, 40), (10, 40), (10.001, 0)],
                         ids=["at_X", "at_X_plus_10s", "at_X_plus_10.001s"])
@pytest.mark.parametrize("first", ["interactions", "agents"])
def test_window_edges_in_both_arrival_orders(offset: float, figure: int, first: str) -> None:
    call = answered("c-1", 50, 100)
    agent = Agent("5001", dn="7001").login(0).ready(1).acw(100 + offset).ready(140 + offset)
    streams = [call, agent] if first == "interactions" else [agent, call]
    runner = run(config(), *streams)
    expect(party(runner, "c-1:1"), technical_descriptor_key=result("COMPLETED"),
           end_ts=at(100), after_call_work_duration=figure, active_flag=0)
    expect(state(runner, "5001:voice:3"), resource_state_key=ACW, start_ts=at(100 + offset),
           total_duration=40, active_flag=0)
    other = run(config(), *reversed(streams))
    assert unversioned(other) == unversioned(runner)


def test_the_party_that_ended_last_takes_it() -> None:
    calls = [answered("c-1", 10, 100), answered("c-2", 60, 104, dn="7001")]
    agent = Agent("5001", dn="7001").login(0).ready(1).acw(106).ready(136)
    runner = in_every_order(calls, [agent])
    expect(party(runner, "c-1:1"), after_call_work_duration=0, active_flag=0)
    expect(party(runner, "c-2:1"), after_call_work_duration=30, active_flag=0)


def test_a_party_that_ends_after_the_state_started_does_not_take_it() -> None:
    calls = [answered("c-1", 10, 100), answered("c-2", 60, 104)]
    agent = Agent("5001").login(0).ready(1).acw(103).ready(133)
    runner = in_every_order(calls, [agent])
    expect(party(runner, "c-1:1"), after_call_work_duration=30, active_flag=0)
    expect(party(runner, "c-2:1"), after_call_work_duration=0, active_flag=0)


def test_each_state_belongs_to_at_most_one_party() -> None:
    calls = [answered("c-1", 10, 96), answered("c-2", 20, 98), answered("c-3", 30, 99.5)]
    agent = Agent("5001").login(0).ready(1).acw(100).ready(125)
    runner = in_every_order(calls, [agent])
    figures = {c.key: party(runner, f"{c.key}:1").after_call_work_duration for c in calls}
    assert figures == {"c-1": 0, "c-2": 0, "c-3": 25}


def test_two_states_go_to_two_parties() -> None:
    calls = [answered("c-1", 10, 100), answered("c-2", 110, 200)]
    agent = (Agent("5001").login(0).ready(1).acw(101).ready(121).acw(205).not_ready(260.4)
             .ready(300))
    runner = in_every_order(calls, [agent])
    expect(party(runner, "c-1:1"), after_call_work_duration=20, active_flag=0)
    expect(party(runner, "c-2:1"), after_call_work_duration=55, active_flag=0)  # 55.4 s


def test_only_established_parties_take_it() -> None:
    answered_call = answered("c-1", 10, 95)
    missed = (Call("c-2").ringing(90, "7001", "5001").released(100, "7001", "5001")
              .ended(100))
    agent = Agent("5001").login(0).ready(1).acw(101).ready(121)
    runner = in_every_order([answered_call, missed], [agent])
    expect(party(runner, "c-1:1"), after_call_work_duration=20, active_flag=0)
    expect(party(runner, "c-2:1"), technical_descriptor_key=result("REDIRECTED"),
           after_call_work_duration=0, active_flag=0)


def test_a_state_ended_by_logout_counts_to_the_logout() -> None:
    runner = in_every_order([answered("c-1", 10, 100)],
                            [Agent("5001").login(0).ready(1).acw(102).logout(150)])
    expect(party(runner, "c-1:1"), after_call_work_duration=48, active_flag=0)


def test_after_call_work_on_another_media_does_not_count() -> None:
    voice_agent = Agent("5001", dn="7001").login(0).ready(1)
    chat_agent = Agent("5001", media="chat").login(0).ready(1).acw(101).ready(131)
    runner = in_every_order([answered("c-1", 10, 100)], [voice_agent, chat_agent])
    expect(party(runner, "c-1:1"), after_call_work_duration=0)
    expect(state(runner, "5001:chat:3"), resource_state_key=ACW, total_duration=30)


def test_digital_party_takes_the_after_call_work_of_its_media() -> None:
    chat = (Call("ch-1", media="chat").queued(0, "8300").diverted(4, "8300", "5002")
            .ringing(4, login="5002").established(6, login="5002")
            .released(300, login="5002").ended(300))
    agent = Agent("5002", media="chat").login(-10).ready(-9).acw(305).ready(320)
    runner = in_every_order([chat], [agent])
    expect(party(runner, "ch-1:3"), after_call_work_duration=15, talk_duration=294,
           active_flag=0)


def test_active_until_the_window_has_passed_and_the_state_has_ended() -> None:
    call = answered("c-1", 10, 100)
    agent = Agent("5001").login(0).ready(1)
    runner = run(config(), agent, call)
    expect(party(runner, "c-1:1"), end_ts=at(100), after_call_work_duration=0, active_flag=1)
    feed(runner, agent.acw(103).messages()[-1])
    expect(party(runner, "c-1:1"), after_call_work_duration=0, active_flag=1)  # still open
    feed(runner, agent.ready(143).messages()[-1])
    expect(party(runner, "c-1:1"), after_call_work_duration=40, active_flag=0)


def test_no_after_call_work_is_final_once_the_agent_stream_passes_x_plus_10s() -> None:
    call = answered("c-1", 10, 100)
    agent = Agent("5001").login(0).ready(1).not_ready(110, "Break")
    runner = run(config(), call, messages(agent)[:2])
    expect(party(runner, "c-1:1"), active_flag=1)
    feed(runner, messages(agent)[2:])  # 10 s after X: the window may still open
    expect(party(runner, "c-1:1"), active_flag=1)
    feed(runner, agent.ready(110.001).messages()[-1])
    expect(party(runner, "c-1:1"), after_call_work_duration=0, active_flag=0)


def test_a_logout_after_x_closes_the_window() -> None:
    runner = in_every_order([answered("c-1", 10, 100)],
                            [Agent("5001").login(0).ready(1).logout(104)])
    expect(party(runner, "c-1:1"), after_call_work_duration=0, active_flag=0)
    assert row(runner, "sm_res_session_fact", "5001:voice:1").active_flag == 0


def test_versions_stop_at_the_highest_a_record_can_carry() -> None:
    """A party ended by seq 2^63 - 2: the join's revisions count up from it, past bigint once,
    which made the loader refuse them. They stop at the highest version instead (a later
    revision at the same number then cannot replace the stored row)."""
    call = Call("c-1", first_seq=MAX_SEQ - 3)
    call.ringing(10, "7001", "5001").established(12, "7001", "5001")
    call.released(100, "7001", "5001").ended(100)
    runner = feed(sc.RecordingRunner(config(), TENANT, TIMEOUT_S), call,
                  Agent("5001").login(0).ready(1).acw(101).ready(140))
    revisions = [f.version for f in runner.emitted if f.id == call.id(MAX_SEQ - 3)]
    assert revisions == [MAX_SEQ - 3, MAX_SEQ - 2, MAX_SEQ - 1, MAX_VERSION, MAX_VERSION]
    assert all(as_loaded(fact) == fact for fact in runner.emitted)


def test_a_party_id_another_agent_ends_again_a_day_later() -> None:
    """An interaction id used again after the deduplication window makes the same party id
    for another agent; the store of ended parties is keyed by party id and shared by the
    agents. Once, the first agent's join forgot the second agent's row there, and the second
    one's join failed on it (KeyError): now each join touches only its own party's row."""
    day = 30 * 3600
    first = answered("c-1", 10, 100)
    again = answered("c-1", day + 10, day + 100, login="5002", dn="7002")
    runner = run(config(), Agent("5001").login(0).ready(1), first, Call("c-9").queued(day, "8100"),
                 again, Agent("5001", first_seq=3).ready(day + 50),
                 Agent("5002").login(day).ready(day + 1).acw(day + 101).ready(day + 140))
    expect(party(runner, "c-1:1"), start_ts=at(day + 10), after_call_work_duration=39,
           active_flag=0)


def test_the_join_keeps_parties_by_end_and_states_by_start_whatever_the_arrival_order() -> None:
    # settle and prune read from the newest end (or the oldest) and stop: they rely on it.
    stored = Join([Interval("b", 20), Interval("a", 10)],
                  {"late": Pending(30), "early": Pending(5)})  # as read from storage
    assert [i.id for i in stored.intervals] == ["a", "b"]
    assert list(stored.parties) == ["early", "late"]
    after_call_work.add_interval(stored, Interval("between", 15))
    assert [i.id for i in stored.intervals] == ["a", "between", "b"]
    at = datetime(2026, 11, 2, tzinfo=timezone.utc)
    row = InteractionResourceFact("call:2", "call", 1, 1, 1, 1, at, at, 0, 0, 0, 0, 0, 0, 1,
                                  None, None, 1, 2)
    after_call_work.add_party(stored, PartyEnded("agent", "voice", 7, row), {})
    assert [p.end_ms for p in stored.parties.values()] == [5, 7, 30]
