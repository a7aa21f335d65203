"""How the transforms are driven per key: the one orchestration the GSP and the tests share.

The rules in :mod:`interaction` and :mod:`agent_state` turn one state and one event into a new
state and output. What surrounds them is here, written once, over a small key-value interface
(:class:`States`: a dict in tests, the GSP's batch over its Faust table in production):

- read the key's state, apply, store the new state unless the event was a duplicate;
- the event-time clock of an interaction-topic partition (:class:`InteractionClock`): the
  newest event time seen, an index of open interactions and of tombstones; every minute of
  event time it times out interactions idle for the timeout and forgets tombstones past the
  deduplication window.

Event time is per partition: a partition read ahead of another must not time out the other's
interactions. Which version of a fact row to keep is :func:`gim_faust.models.facts.supersedes`.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from gim_faust.transforms import agent_state, interaction, interaction_state
from gim_faust.transforms.after_call_work import PartyFacts
from gim_faust.transforms.config_view import ConfigView
from gim_faust.transforms.outcome import Outcome, PartyEnded

from gim_faust.models.events import AgentEvent, InteractionEvent
from gim_faust.models.record import record

SWEEP_EVERY_MS = 60_000
# Repeats come "seconds or hours later" (contract events.md); a day of event time covers it.
DEDUPE_WINDOW_MS = 24 * 3600 * 1000

S = TypeVar("S")


class States(Protocol[S]):
    """Per-key state: what the pure core needs of a store."""

    def get(self, key: str) -> S | None: ...

    def __setitem__(self, key: str, value: S) -> None: ...

    def __delitem__(self, key: str) -> None: ...


@record
class Applied:
    """What happened to one key: the outcome of an event or of a timeout (``timed_out``)."""

    key: str
    outcome: Outcome
    timed_out: bool = False


def _store(states: States[S], key: str, outcome: Outcome) -> None:
    if not outcome.duplicate:
        states[key] = outcome.state


def apply_agent(states: States[agent_state.AgentState], event: AgentEvent,
                config: ConfigView, party_facts: PartyFacts) -> Applied:
    """One agent event (``party_facts``: the after-call-work join's store of ended parties)."""
    key = event.agent_login
    outcome = agent_state.apply(states.get(key), event, config, party_facts)
    _store(states, key, outcome)
    return Applied(key, outcome)


def apply_party_ended(states: States[agent_state.AgentState], ended: PartyEnded,
                      party_facts: PartyFacts) -> Applied:
    """An ended party handed to its agent's after-call-work join."""
    key = ended.agent_login
    outcome = agent_state.apply_party_ended(states.get(key), ended, party_facts)
    _store(states, key, outcome)
    return Applied(key, outcome)


@dataclass
class InteractionClock:
    """Event time, open interactions and tombstones of one interaction-topic partition."""

    timeout_ms: int
    watermark_ms: int = 0
    swept_ms: int = 0
    open: dict[str, int] = field(default_factory=dict)   # key -> last event time
    ended: dict[str, int] = field(default_factory=dict)  # key -> end time
    # The same as heaps of (time, key), with stale entries: a sweep finds the earliest in
    # O(log n) instead of reading every open interaction and tombstone each minute.
    open_due: list[tuple[int, str]] = field(default_factory=list)
    ended_due: list[tuple[int, str]] = field(default_factory=list)

    @classmethod
    def rebuild(cls, timeout_ms: int, stored: Iterable[tuple[str, interaction_state.State]],
                at: tuple[int, int] | None = None) -> InteractionClock:
        """The clock of a partition whose states were kept (after a restart or a handover).
        ``at``: its event time and last sweep where its input resumes; without it, the
        newest time the states hold."""
        clock = cls(timeout_ms)
        for key, state in stored:
            clock._index(key, state)
            clock.watermark_ms = max(clock.watermark_ms, clock.open.get(key, 0),
                                     clock.ended.get(key, 0))
        clock.swept_ms = clock.watermark_ms
        if at is not None:
            clock.watermark_ms, clock.swept_ms = at
        return clock

    def apply(self, states: States[interaction_state.State], event: InteractionEvent,
              config: ConfigView) -> list[Applied]:
        """One interaction event, then the sweep when a minute of event time has passed."""
        key = event.interaction_id
        outcome = interaction.apply(states.get(key), event, config, self.timeout_ms,
                                    self.watermark_ms)
        done = [self._settle(states, key, outcome)]
        self.watermark_ms = max(self.watermark_ms, event.ts_ms)
        if self.watermark_ms - self.swept_ms >= SWEEP_EVERY_MS:
            done += self.sweep(states, config)
        return done

    def sweep(self, states: States[interaction_state.State],
              config: ConfigView) -> list[Applied]:
        """Time out the interactions idle too long; forget tombstones past the window."""
        self.swept_ms = self.watermark_ms
        done: list[Applied] = []
        if _earliest(self.open, self.open_due) < self.watermark_ms - self.timeout_ms:
            done += self._time_out(states, config)
        horizon = self.watermark_ms - DEDUPE_WINDOW_MS
        while _earliest(self.ended, self.ended_due) < horizon:
            _, key = heapq.heappop(self.ended_due)
            del states[key]
            del self.ended[key]
        return done

    def _time_out(self, states: States[interaction_state.State],
                  config: ConfigView) -> list[Applied]:
        """Every interaction idle for longer than the timeout, in the order they opened."""
        done = []
        for key, last_ms in list(self.open.items()):
            if self.watermark_ms - last_ms <= self.timeout_ms:
                continue
            state = states.get(key)
            assert isinstance(state, interaction_state.InteractionState), key  # the index says so
            outcome = interaction.expire(state, config, self.watermark_ms, self.timeout_ms)
            if outcome is not None:
                done.append(self._settle(states, key, outcome, timed_out=True))
        return done

    def _settle(self, states: States[interaction_state.State], key: str, outcome: Outcome,
                timed_out: bool = False) -> Applied:
        _store(states, key, outcome)
        if not outcome.duplicate:
            self._index(key, outcome.state)
        return Applied(key, outcome, timed_out)

    def _index(self, key: str, state: interaction_state.State) -> None:
        if isinstance(state, interaction_state.InteractionState):
            _due(self.open, self.open_due, key, state.last_ms)
        elif state is not None:
            self.open.pop(key, None)
            _due(self.ended, self.ended_due, key, state.end_ms)


def _due(index: dict[str, int], heap: list[tuple[int, str]], key: str, ms: int) -> None:
    """``index[key] = ms``. The heap holds every key at its time or earlier: a later time (an
    open interaction's next event, most events) only changes the index, and
    :func:`_earliest` moves the entry when it reaches the top. The heap is rebuilt when
    stale entries outnumber the live ones."""
    before = index.get(key)
    index[key] = ms
    if before is not None and before <= ms:
        return
    heapq.heappush(heap, (ms, key))
    if len(heap) > 2 * len(index) + 1000:
        heap[:] = [(t, k) for k, t in index.items()]
        heapq.heapify(heap)


def _earliest(index: dict[str, int], heap: list[tuple[int, str]]) -> float:
    """The earliest time in ``index``; entries of keys gone, or set earlier, are dropped on
    the way and those of keys set later move to their time."""
    while heap:
        ms, key = heap[0]
        now = index.get(key)
        if now == ms:
            return ms
        if now is None or now < ms:
            heapq.heappop(heap)
        else:
            heapq.heapreplace(heap, (now, key))
    return float("inf")
