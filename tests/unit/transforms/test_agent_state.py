"""The agent rules of contract ``infomart.md`` (``sm_res_session_fact``, ``sm_res_state_fact``)
and ``events.md`` (agent events), each on a small hand-written event sequence."""

from __future__ import annotations

from typing import Any

from gim_faust.transforms.keys import reason_key
from gim_faust.transforms.runner import Runner

from tests.unit.transforms.event_builders import (
    BASE_MS,
    Agent,
    at,
    columns,
    config,
    expect,
    feed,
    person,
    row,
    rows,
    run,
    session,
    state,
    unknown_login,
)

NINE = BASE_MS // 1000  # date_time_key of the 09:00:00Z interval
VOICE, CHAT = 1, 2
READY, NOT_READY, ACW = 1, 2, 3


def states(runner: Runner) -> list[tuple[Any, ...]]:
    """(id, state, reason key, start, end, duration, active) of every state row, by start."""
    return sorted(((s.sm_res_state_id, s.resource_state_key, s.resource_state_reason_key,
                    s.start_ts, s.end_ts, s.total_duration, s.active_flag)
                   for s in rows(runner, "sm_res_state_fact").values()),
                  key=lambda r: (r[3], r[0]))


def test_login_opens_a_session_and_not_ready_without_reason() -> None:
    runner = run(config(), Agent("5001", dn="7001").login(0))
    assert columns(session(runner, "5001:voice:1")) == {
        "sm_res_session_id": "5001:voice:1", "resource_key": person("5001"),
        "media_type_key": VOICE, "start_ts": at(0), "end_ts": None, "total_duration": None,
        "start_date_time_key": NINE, "active_flag": 1}
    assert columns(state(runner, "5001:voice:1")) == {
        "sm_res_state_id": "5001:voice:1", "resource_key": person("5001"),
        "media_type_key": VOICE, "resource_state_key": NOT_READY,
        "resource_state_reason_key": None, "start_ts": at(0), "end_ts": None,
        "total_duration": None, "start_date_time_key": NINE, "active_flag": 1}
    assert runner.counts["out_of_state"] == 0


def test_each_state_change_ends_one_row_and_starts_the_next_and_logout_ends_all() -> None:
    agent = (Agent("5001", dn="7001").login(0).ready(10).not_ready(70.5, "Break").acw(100)
             .ready(130).logout(200))
    runner = run(config(), agent)
    assert states(runner) == [
        ("5001:voice:1", NOT_READY, None, at(0), at(10), 10, 0),
        ("5001:voice:2", READY, None, at(10), at(70.5), 61, 0),  # 60.5 s -> 61 s
        ("5001:voice:3", NOT_READY, reason_key("Break"), at(70.5), at(100), 30, 0),
        ("5001:voice:4", ACW, None, at(100), at(130), 30, 0),
        ("5001:voice:5", READY, None, at(130), at(200), 70, 0),
    ]
    expect(session(runner, "5001:voice:1"), start_ts=at(0), end_ts=at(200), total_duration=200,
           active_flag=0)
    assert all(s.resource_key == person("5001") and s.media_type_key == VOICE
               for s in rows(runner, "sm_res_state_fact").values())
    assert rows(runner, "resource_state_reason") == {}  # Break is configured


def test_a_repeated_state_changes_nothing_but_another_reason_starts_a_row() -> None:
    agent = (Agent("5001").login(0).ready(10).ready(20)
             .not_ready(30, "Break").not_ready(40, "Break").not_ready(50, "Lunch")
             .not_ready(60).not_ready(65).acw(70).acw(80))
    runner = run(config(), agent)
    assert states(runner) == [
        ("5001:voice:1", NOT_READY, None, at(0), at(10), 10, 0),
        ("5001:voice:2", READY, None, at(10), at(30), 20, 0),
        ("5001:voice:4", NOT_READY, reason_key("Break"), at(30), at(50), 20, 0),
        ("5001:voice:6", NOT_READY, reason_key("Lunch"), at(50), at(60), 10, 0),
        ("5001:voice:7", NOT_READY, None, at(60), at(70), 10, 0),
        ("5001:voice:9", ACW, None, at(70), None, None, 1),
    ]
    assert runner.counts["duplicate"] == 0  # a repeated state is not a repeated event


def test_login_right_after_login_repeats_not_ready_without_a_new_row() -> None:
    runner = run(config(), Agent("5001").login(0).not_ready(5))
    assert [s[0] for s in states(runner)] == ["5001:voice:1"]


def test_a_reason_configuration_does_not_know_gets_a_reason_row() -> None:
    runner = run(config(), Agent("5001").login(0).not_ready(10, "Meeting"))
    expect(state(runner, "5001:voice:2"), resource_state_key=NOT_READY,
           resource_state_reason_key=reason_key("Meeting"), active_flag=1)
    reason_rows = rows(runner, "resource_state_reason")
    assert list(reason_rows) == [str(reason_key("Meeting"))]
    expect(reason_rows[str(reason_key("Meeting"))], reason_code="Meeting")


def test_a_second_login_without_logout_ends_the_open_session_and_state_at_its_ts() -> None:
    runner = run(config(), Agent("5001").login(0).ready(10).login(100).ready(104))
    expect(session(runner, "5001:voice:1"), start_ts=at(0), end_ts=at(100), total_duration=100,
           active_flag=0)
    expect(session(runner, "5001:voice:3"), start_ts=at(100), end_ts=None, total_duration=None,
           active_flag=1)
    assert states(runner) == [
        ("5001:voice:1", NOT_READY, None, at(0), at(10), 10, 0),
        ("5001:voice:2", READY, None, at(10), at(100), 90, 0),
        ("5001:voice:3", NOT_READY, None, at(100), at(104), 4, 0),
        ("5001:voice:4", READY, None, at(104), None, None, 1),
    ]


def test_logout_ends_the_session_and_its_state() -> None:
    runner = run(config(), Agent("5001").login(0).not_ready(3, "Lunch").logout(1800.4))
    expect(session(runner, "5001:voice:1"), end_ts=at(1800.4), total_duration=1800,
           active_flag=0)
    expect(state(runner, "5001:voice:2"), resource_state_reason_key=reason_key("Lunch"),
           end_ts=at(1800.4), total_duration=1797, active_flag=0)
    assert not [r for r in runner.rows.values() if getattr(r, "active_flag", 0)]


def test_sessions_are_per_media() -> None:
    voice = Agent("5001", dn="7001").login(0).ready(1).logout(60)
    chat = Agent("5001", media="chat").login(0).ready(2)
    runner = run(config(), voice, chat)
    expect(session(runner, "5001:voice:1"), end_ts=at(60), active_flag=0)
    expect(session(runner, "5001:chat:1"), media_type_key=CHAT, resource_key=person("5001"),
           end_ts=None, active_flag=1)
    expect(state(runner, "5001:chat:2"), media_type_key=CHAT, resource_state_key=READY,
           active_flag=1)


def test_unknown_login_goes_to_a_placeholder_resource() -> None:
    runner = run(config(), Agent("5999").login(0).ready(5).logout(20))
    expect(session(runner, "5999:voice:1"), resource_key=unknown_login("5999"), active_flag=0)
    assert {s.resource_key for s in rows(runner, "sm_res_state_fact").values()} == {
        unknown_login("5999")}
    expect(row(runner, "resource_", str(unknown_login("5999"))),
           resource_type="UnknownAgentLogin", resource_name="5999")


def test_a_repeated_agent_event_is_a_duplicate() -> None:
    agent = Agent("5001").login(0).ready(10).not_ready(20, "Break")
    runner = run(config(), agent)
    before = dict(runner.rows)
    feed(runner, agent.message(2), agent.message(1))
    assert runner.rows == before
    assert runner.counts["duplicate"] == 2


def test_a_state_event_without_a_session_is_out_of_state_and_still_kept() -> None:
    runner = run(config(), Agent("5001").ready(10).not_ready(20, "Break"))
    assert runner.counts["out_of_state"] == 2
    assert rows(runner, "sm_res_session_fact") == {}
    assert states(runner) == [
        ("5001:voice:1", READY, None, at(10), at(20), 10, 0),
        ("5001:voice:2", NOT_READY, reason_key("Break"), at(20), None, None, 1),
    ]
    expect(state(runner, "5001:voice:1"), resource_key=person("5001"))


def test_a_state_after_logout_is_out_of_state_and_a_logout_without_login_too() -> None:
    runner = run(config(), Agent("5001").login(0).logout(10).ready(20),
                 Agent("5002").logout(5))
    assert runner.counts["out_of_state"] == 2
    expect(state(runner, "5001:voice:3"), resource_state_key=READY, start_ts=at(20),
           active_flag=1)
    assert [s for s in rows(runner, "sm_res_session_fact")] == ["5001:voice:1"]
