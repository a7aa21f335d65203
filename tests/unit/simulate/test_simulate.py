"""The simulator's day: contract-conformant events that the transforms take without a single
complaint, the whole mix of a contact center, the same day for the same seed, and queues
that behave like queues (fewer agents for the same calls: longer waits, more abandons)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from statistics import mean

import orjson
import pytest
from gim_faust.transforms.codes import INTERACTION_TYPE, MEDIA_TYPE, TECHNICAL_RESULT
from gim_faust.transforms.keys import dn_key, reason_key
from gim_faust.transforms.runner import Runner

from gim_faust.models.codec import Rejection, Source, decode
from gim_faust.models.facts import (
    InteractionFact,
    InteractionResourceFact,
    MediationSegmentFact,
    PlaceholderResource,
    StateFact,
)
from gim_faust.simulate import SimMessage, SimOptions, generate
from gim_faust.simulate.configdb_writer import rows
from gim_faust.topics import RAW_SUFFIXES
from tests.support.simulated import replay
from tests.unit.simulate.conftest import DAY, START

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
RESULT = {v: k for k, v in TECHNICAL_RESULT.items()}


def test_every_message_is_a_contract_event_on_its_topic_with_its_key(
        day: list[SimMessage]) -> None:
    assert 10_000 < len(day) < 20_000
    ids = set()
    for message in day:
        assert message.topic_suffix in RAW_SUFFIXES
        event = decode(message.value, Source.of_topic(f"acme.{message.topic_suffix}"), "acme")
        assert not isinstance(event, Rejection), (event, message.value)
        assert message.key == event.key.encode()
        assert message.ts_ms == event.ts_ms
        assert TS.match(orjson.loads(message.value)["ts"])
        ids.add(event.event_id)
    assert len(ids) == len(day)


def test_events_come_in_time_order_and_each_key_counts_seq_up_by_one(
        day: list[SimMessage]) -> None:
    assert all(a.ts_ms <= b.ts_ms for a, b in zip(day, day[1:], strict=False))
    seqs: dict[tuple[str, bytes], list[int]] = defaultdict(list)
    for message in day:
        seqs[message.topic_suffix, message.key].append(orjson.loads(message.value)["seq"])
    for (topic, key), seq in seqs.items():
        first = DAY.start_ms if topic.endswith("agents") else 1  # see encode.py
        assert seq == list(range(first, first + len(seq))), key


def test_the_transforms_take_the_day_without_a_complaint_and_close_everything(
        facts: tuple[Runner, dict[str, list]]) -> None:
    runner, tables = facts
    assert runner.counts == Counter({"duplicate": 0, "out_of_state": 0})
    assert all(getattr(f, "active_flag", 0) == 0 for f in runner.rows.values())
    assert not tables["resource_"]  # configuration knows every agent and DN of the events
    assert {f.status for f in tables["interaction_fact"]} == {"COMPLETED"}
    assert not any(isinstance(f, PlaceholderResource) for f in runner.rows.values())


def test_the_day_has_the_whole_mix_of_a_contact_center(
        facts: tuple[Runner, dict[str, list]]) -> None:
    _, tables = facts
    interactions: list[InteractionFact] = tables["interaction_fact"]
    segments: list[MediationSegmentFact] = tables["mediation_segment_fact"]
    parties: list[InteractionResourceFact] = tables["interaction_resource_fact"]
    states: list[StateFact] = tables["sm_res_state_fact"]
    kinds = Counter((f.media_type_key, f.interaction_type_key) for f in interactions)
    for media, kind in (("VOICE", "INBOUND"), ("VOICE", "OUTBOUND"), ("VOICE", "INTERNAL"),
                        ("CHAT", "INBOUND"), ("EMAIL", "INBOUND")):
        assert kinds[MEDIA_TYPE[media], INTERACTION_TYPE[kind]] > 0, (media, kind)
    segment_results = Counter(RESULT[f.technical_descriptor_key] for f in segments)
    assert segment_results["ABANDONED"] > 0 and segment_results["DIVERTED"] > 0
    party_results = Counter(RESULT[f.technical_descriptor_key] for f in parties)
    for result in ("COMPLETED", "TRANSFERRED", "REDIRECTED", "UNANSWERED", "ABANDONED"):
        assert party_results[result] > 0, result  # REDIRECTED: ring-no-answer
    assert sum(f.hold_count for f in parties) > 0
    assert sum(f.after_call_work_duration > 0 for f in parties) > 0.5 * party_results["COMPLETED"]
    reasons = {f.resource_state_reason_key for f in states}
    for code in ("Break", "Lunch", "NoAnswer"):
        assert reason_key(code) in reasons, code
    assert len(tables["sm_res_session_fact"]) == 24  # 16 voice logins, 4 digital x 2 media


def test_the_same_options_give_the_same_day_and_another_seed_another(
        day: list[SimMessage]) -> None:
    assert list(generate(DAY)) == day
    other = list(generate(SimOptions("acme", start=START, seed=2)))
    assert [m.value for m in other[:50]] != [m.value for m in day[:50]]


def test_a_later_day_continues_every_login_sequence_and_shares_no_interaction(
        day: list[SimMessage]) -> None:
    later = list(generate(SimOptions("acme", start=START + timedelta(days=1))))
    last = {m.key: orjson.loads(m.value)["seq"] for m in day if m.topic_suffix.endswith("agents")}
    for message in later:
        if message.key in last:
            assert orjson.loads(message.value)["seq"] > last[message.key]
    interactions = {m.key for m in day if m.topic_suffix.endswith("interactions")}
    assert not interactions & {m.key for m in later if m.topic_suffix.endswith("interactions")}


def queue_figures(options: SimOptions) -> tuple[float, int]:
    """Average speed of answer and abandons over the voice queues."""
    runner = replay(options, list(generate(options)))
    queues = {dn_key(dn[0]) for dn in rows(options, 1)["cfg_dn"] if dn[3] == "ACDQueue"}
    segments = [f for f in runner.rows.values() if isinstance(f, MediationSegmentFact)
                and f.resource_key in queues]
    accepted = [f.mediation_duration for f in segments if f.accepted_flag]
    abandoned = sum(RESULT[f.technical_descriptor_key] == "ABANDONED" for f in segments)
    return mean(accepted), abandoned


def test_fewer_agents_for_the_same_calls_wait_longer_and_abandon_more() -> None:
    def options(agents: int) -> SimOptions:
        return SimOptions("acme", agents=agents, hours=4, calls_per_hour=110, start=START,
                          digital_share=0)
    short_asa, short_abandons = queue_figures(options(12))
    full_asa, full_abandons = queue_figures(options(20))
    assert short_asa > 2 * full_asa
    assert short_abandons > 2 * full_abandons


def test_an_agent_count_of_one_still_makes_a_day() -> None:
    messages = list(generate(SimOptions("acme", agents=1, hours=1, start=START)))
    runner = replay(SimOptions("acme", agents=1, hours=1, start=START), messages)
    assert runner.counts["out_of_state"] == 0 and len(messages) > 20


@pytest.mark.parametrize("bad", [{"agents": 0}, {"hours": 0}, {"hours": 25},
                                 {"calls_per_hour": -1}, {"digital_share": 1.5}, {"consult": 1.5},
                                 {"start": datetime(2026, 11, 2, 8)}])
def test_impossible_options_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        SimOptions("acme", **bad)


def test_the_default_start_is_8_utc_yesterday() -> None:
    start = SimOptions("acme").start
    today = datetime.now(timezone.utc).date()
    assert start is not None and (start.date(), start.hour, start.tzinfo) == (
        today - timedelta(days=1), 8, timezone.utc)
