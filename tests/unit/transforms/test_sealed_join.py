"""The after-call-work join keeps the JSON of its settled past between writes
(``transforms/sealed.py``). What it stores must be, after every event and whatever the
arrival order, exactly the bytes of encoding the whole join anew: a part left sealed after
it changed would be written to the table and its changelog as it was before."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone

import orjson
from gim_faust.transforms import after_call_work
from gim_faust.transforms.after_call_work import Join, Pending
from gim_faust.transforms.outcome import PartyEnded
from gim_faust.transforms.runner import Runner
from hypothesis import HealthCheck, given, settings

from gim_faust.models.facts import InteractionResourceFact
from tests.support import scenario as sc
from tests.unit.transforms.event_builders import Agent, Call, by_time, config, messages
from tests.unit.transforms.test_interleaving_property import interleavings, weave

DAY_S = 24 * 3600


def anew(join: Join) -> bytes:
    """The join encoded whole, as a dataclass of its four fields is."""
    return orjson.dumps({"intervals": join.intervals, "parties": join.parties,
                         "progress_ms": join.progress_ms, "logged_out_ms": join.logged_out_ms})


def joins(runner: Runner) -> Iterable[Join]:
    return (media.join for states in runner.agents.values() for state in states.values()
            for media in state.media.values())


def checked(runner: Runner, fed: Iterable[tuple[str, bytes]]) -> int:
    """Feed one message at a time; after each, every join stores what encoding it anew
    gives. How many items were sealed at the most, so a test knows the seal was used."""
    most = 0
    for topic, value in fed:
        runner.feed(topic, value)
        for join in joins(runner):
            assert orjson.dumps(join.stored()) == anew(join), (topic, value)
            most = max(most, sum(map(len, join._sealed)))  # noqa: SLF001
    return most


def scenario_messages(name: str, delivered: Iterable[sc.Message]) -> list[tuple[str, bytes]]:
    return [(f"acme.{m.topic_suffix}", m.value) for m in delivered]


def test_the_day_scenario_stores_what_encoding_anew_gives_after_every_event() -> None:
    runner = Runner(sc.config_view("day"), "acme", 1800)
    assert checked(runner, scenario_messages("day", sc.interleaved("day"))) > 50


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(interleavings)
def test_any_arrival_order_stores_what_encoding_anew_gives(labels: list[str]) -> None:
    """Topics far ahead of each other bring parties long after the agent's stream passed
    them: they land among sealed ones and revise them."""
    runner = Runner(sc.config_view("small"), "acme", 1800)
    checked(runner, scenario_messages("small", weave(labels)))


def two_days() -> tuple[list[Call], Agent]:
    """An agent on two days: every five minutes two calls end 5 s apart, and after-call
    work starts 1 s after the second. The second day's events prune the first day's
    history, which was sealed by then; then one after-call work is reported with a time
    far behind the stream, among sealed ones."""
    calls, agent = [], Agent("5001").login(0)
    for day in (0, DAY_S + 600):
        for n in range(20):
            start = day + 60 + n * 300
            calls += [Call(f"c-{day}-{n}-{end}").ringing(start, "7001", "5001")
                      .established(start + 2, "7001", "5001")
                      .released(start + end, "7001", "5001").ended(start + end)
                      for end in (100, 105)]
            agent.acw(start + 106).ready(start + 140 + n % 3 * 10)
    agent.acw(DAY_S + 1000).ready(DAY_S + 1010)
    return calls, agent


def test_two_days_in_every_order_store_what_encoding_anew_gives() -> None:
    """Agents first, then the calls: the second call of a pair takes the after-call work
    from the first, which was sealed (a sealed party revised). Calls newest first: each
    party lands before the sealed ones. By time, and calls first."""
    calls, agent = two_days()
    for order in (messages(agent, *calls), messages(agent, *reversed(calls)),
                  by_time(*calls, agent), messages(*calls, agent)):
        assert checked(Runner(config(), "acme", 3600), order) > 20


def test_a_party_placed_before_sealed_ones_unseals_them() -> None:
    """Adding a party alone (the agent's rules settle right after, which unseals it too)."""
    join = Join([], {"late": Pending(100_000, (5, True), 1)}, progress_ms=500_000)
    join.stored()
    assert join._sealed[1]  # noqa: SLF001
    at = datetime(2026, 11, 2, tzinfo=timezone.utc)
    row = InteractionResourceFact("call:2", "call", 1, 1, 1, 1, at, at, 0, 0, 0, 0, 0, 0, 1,
                                  None, None, 1, 2)
    after_call_work.add_party(join, PartyEnded("5001", "voice", 50_000, row), {})
    assert list(join.parties) == ["call:2", "late"]
    assert orjson.dumps(join.stored()) == anew(join)
