"""The per-key driving the GSP and the in-memory runner share (``transforms/driving.py``):
event time per partition, timeouts, forgotten tombstones, the clock rebuilt after a restart,
and which version of a row is kept."""

from __future__ import annotations

from dataclasses import replace

from gim_faust.transforms import driving, interaction_state
from gim_faust.transforms.driving import DEDUPE_WINDOW_MS, SWEEP_EVERY_MS, InteractionClock
from hypothesis import given
from hypothesis import strategies as st

from gim_faust.models.codec import Source, decode
from gim_faust.models.events import InteractionEvent
from gim_faust.models.facts import supersedes
from tests.unit.transforms.event_builders import TENANT, Call, config, ms, run

TIMEOUT_MS = 300_000
HOUR = 3600


def events(call: Call) -> list[InteractionEvent]:
    decoded = [decode(value, Source.of_topic(topic), TENANT) for topic, value in call.messages()]
    assert all(isinstance(e, InteractionEvent) for e in decoded), decoded
    return decoded  # type: ignore[return-value]


def feed(clock: InteractionClock, states: dict[str, interaction_state.State],
         *calls: Call) -> list[driving.Applied]:
    view = config()
    return [applied for call in calls for event in events(call)
            for applied in clock.apply(states, event, view)]


def test_an_idle_interaction_times_out_when_its_partition_moves_on() -> None:
    clock, states = InteractionClock(TIMEOUT_MS), {}
    feed(clock, states, Call("c-1").queued(0, "8000"))
    assert clock.open == {"c-1": clock.watermark_ms}
    applied = feed(clock, states, Call("c-2").queued(301 + SWEEP_EVERY_MS / 1000, "8000"))
    timed_out = [a for a in applied if a.timed_out]
    assert [a.key for a in timed_out] == ["c-1"]
    assert isinstance(states["c-1"], interaction_state.Ended)
    assert "c-1" not in clock.open and "c-1" in clock.ended


def test_an_interaction_active_since_its_first_event_is_not_timed_out() -> None:
    """The sweep looks at each interaction's latest event, not at an earlier one it saw."""
    clock, states = InteractionClock(TIMEOUT_MS), {}
    feed(clock, states, Call("c-1").queued(0, "8000").diverted(250, "8000", "8001"))
    applied = feed(clock, states, Call("c-2").queued(301 + SWEEP_EVERY_MS / 1000, "8000"))
    assert not [a for a in applied if a.timed_out]
    applied = feed(clock, states, Call("c-3").queued(551 + SWEEP_EVERY_MS / 1000, "8000"))
    assert [a.key for a in applied if a.timed_out] == ["c-1"]


def test_event_time_is_per_partition() -> None:
    """Another partition far ahead in event time times out nothing here."""
    here, there, states = InteractionClock(TIMEOUT_MS), InteractionClock(TIMEOUT_MS), {}
    feed(here, states, Call("c-1").queued(0, "8000"))
    feed(there, states, Call("c-2").queued(10 * HOUR, "8000"))
    assert isinstance(states["c-1"], interaction_state.InteractionState)
    assert here.open == {"c-1": here.watermark_ms}


def test_a_tombstone_stops_repeats_for_a_day_then_is_forgotten() -> None:
    clock, states = InteractionClock(TIMEOUT_MS), {}
    call = Call("c-1").queued(0, "8000").ended(10)
    feed(clock, states, call)
    feed(clock, states, Call("c-2").queued(23 * HOUR, "8000").ended(23 * HOUR + 1))
    repeat = feed(clock, states, Call("c-1").queued(0, "8000"))
    assert repeat[0].outcome.duplicate and not repeat[0].outcome.facts
    feed(clock, states, Call("c-3").queued(10 + DEDUPE_WINDOW_MS / 1000 + 61, "8000"))
    assert "c-1" not in states and "c-1" not in clock.ended
    assert "c-2" in states  # ended less than a day before the partition's event time


def test_the_clock_is_rebuilt_from_the_states_a_partition_kept() -> None:
    clock, states = InteractionClock(TIMEOUT_MS), {}
    feed(clock, states, Call("c-1").queued(0, "8000"), Call("c-2").queued(5, "8000").ended(9))
    rebuilt = InteractionClock.rebuild(TIMEOUT_MS, states.items())
    assert (rebuilt.watermark_ms, rebuilt.swept_ms) == (clock.watermark_ms, clock.watermark_ms)
    assert (rebuilt.open, rebuilt.ended) == (clock.open, clock.ended)


def test_a_duplicate_leaves_the_stored_state_alone() -> None:
    states: dict[str, interaction_state.State] = {}
    clock = InteractionClock(TIMEOUT_MS)
    call = Call("c-1").queued(0, "8000")
    feed(clock, states, call)
    stored = states["c-1"]
    applied = feed(clock, states, call)
    assert applied[0].outcome.duplicate and states["c-1"] is stored


def test_a_row_is_replaced_only_by_a_higher_version() -> None:
    """One rule for the GSP's batches, the runner and the loader: ties keep the first."""
    call = Call("c-1").queued(0, "8000")
    clock, states = InteractionClock(TIMEOUT_MS), {}
    fact = feed(clock, states, call)[0].outcome.facts[0]
    assert supersedes(fact, None)
    assert supersedes(replace(fact, version=fact.version + 1), fact)
    assert not supersedes(replace(fact, version=fact.version), fact)
    assert not supersedes(replace(fact, version=fact.version - 1), fact)


def test_the_runner_keeps_each_channels_state_apart_as_the_gsp_does() -> None:
    """The GSP's tables are per channel, so an interaction id sent on both raw topics (a
    producer's mistake) makes two interactions. The runner once kept one dict for both: the
    chat events ended the voice interaction, whose timeout sweep then found a tombstone where
    its clock had an open interaction (AssertionError)."""
    voice = Call("x-1").queued(0, "8100")
    chat = Call("x-1", media="chat", first_seq=2).queued(1, "8100").ended(2)
    runner = run(config(), voice, chat, Call("c-2").queued(400 + SWEEP_EVERY_MS / 1000, "8100"),
                 timeout_s=300)
    assert runner.interactions["voice"]["x-1"] == interaction_state.Ended(1, ms(0))
    assert runner.interactions["digital"]["x-1"] == interaction_state.Ended(3, ms(2))
    assert runner.counts["duplicate"] == runner.counts["out_of_state"] == 0


@given(st.lists(st.tuples(st.sampled_from("abcdef"), st.none() | st.integers(0, 50)),
                max_size=60))
def test_the_clock_always_finds_the_earliest_time_however_times_move(
        steps: list[tuple[str, int | None]]) -> None:
    # Times of a key go up (its next event), down (an event with an older ts) or away.
    index: dict[str, int] = {}
    heap: list[tuple[int, str]] = []
    for key, time in steps:
        if time is None:
            index.pop(key, None)
        else:
            driving._due(index, heap, key, time)
        assert driving._earliest(index, heap) == min(index.values(), default=float("inf"))
