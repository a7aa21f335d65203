"""After-call work: which ended party an AFTER_CALL_WORK state belongs to (contract
``infomart.md``, "After-call work").

The two inputs come from different topics in any order: ended parties (from the interaction
side, routed by agent login) and the agent's states. So nothing is decided once and for all
on arrival; instead :func:`settle` recomputes the assignment over what is known and re-emits
every party whose figure or finality changed. Same inputs, any order: same final rows.

The join's own state stays small: it keeps, per party, only its end and what was last
emitted; the party rows themselves live in a separate store keyed by party id (a dict in
tests, a RocksDB-backed table in the GSP), read only when a row must be re-emitted.

A party's row is final (``active_flag`` 0) when the agent's own stream has passed the end of
its window (an event later than X + 10 s, or a logout at or after X) and any AFTER_CALL_WORK
state it took has ended. Its versions count up from the version the interaction side gave it
when it ended, so the loader always keeps the join's newest word; they stop at the highest
a record can carry (a party ended by an event numbered within a few of the contract's last
seq, 2^63 - 1): a revision numbered the same as the stored row does not replace it.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from itertools import compress, islice, pairwise
from typing import Any

import orjson
from gim_faust.transforms.figures import seconds
from gim_faust.transforms.outcome import PartyEnded
from gim_faust.transforms.sealed import Sealed

from gim_faust.models.events import to_ms
from gim_faust.models.facts import MAX_VERSION, InteractionResourceFact

WINDOW_MS = 10_000
CONSULTATION_ROLES = frozenset({"INITIATED_CONSULT", "RECEIVED_CONSULT"})
# How long (event time of the agent's stream) the join keeps what it has settled: long
# enough for the other topic to lag a whole backlog behind (a day of one agent: 11 KB).
RETENTION_MS = 24 * 3600 * 1000
# How far behind the agent's stream what the join has settled is sealed (its JSON kept):
# settling revises only the parties near an event's time, or a late party's.
SEALED_BEHIND_MS = 60_000


@dataclass
class Interval:
    """One AFTER_CALL_WORK state of the agent."""

    id: str
    start_ms: int
    end_ms: int | None = None


PartyFacts = MutableMapping[str, InteractionResourceFact]


@dataclass
class Pending:
    """An ended, established party of this agent, and what was last emitted for it
    (after-call work in seconds, final or not)."""

    end_ms: int
    emitted: tuple[int, bool] | None = None
    revision: int = 0
    consult: bool = False  # a party of a consultation: it loses a tie (consultations.md)


class Join:
    """The join state of one agent login on one media.

    ``intervals`` are kept in the order they started and ``parties`` in the order they ended
    (restored so when read from storage), so that :func:`settle` and :func:`prune` read only
    the few near the times they are asked about, from the newest end or the oldest, not a
    whole agent day on every event.

    The functions of this module are the only ones to change the two, since the JSON of
    their oldest items is kept (:meth:`stored`, ``transforms/sealed.py``): each one cuts
    that back wherever it changes an item. A plain class, not a dataclass, so that orjson
    asks it for its JSON rather than walking it."""

    __slots__ = ("intervals", "parties", "progress_ms", "logged_out_ms", "_sealed")

    def __init__(self, intervals: list[Interval] | None = None,
                 parties: dict[str, Pending] | None = None, progress_ms: int = -1,
                 logged_out_ms: int = -1) -> None:
        self.intervals = sorted(intervals or (), key=_started)
        self.parties = parties or {}
        self.progress_ms = progress_ms      # newest event time of the agent's stream on this media
        self.logged_out_ms = logged_out_ms  # the last logout, which closes every earlier window
        self._sealed = (Sealed(), Sealed())  # intervals, parties
        self._order_parties()

    def _order_parties(self) -> None:
        if any(a.end_ms > b.end_ms for a, b in pairwise(self.parties.values())):
            self.parties = dict(sorted(self.parties.items(), key=lambda item: item[1].end_ms))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Join) and _fields(self) == _fields(other)

    def __repr__(self) -> str:
        return "Join(intervals=%r, parties=%r, progress_ms=%r, logged_out_ms=%r)" % _fields(self)

    def stored(self) -> orjson.Fragment:
        """The join as JSON, the fields a dataclass of them would have. What lies
        ``SEALED_BEHIND_MS`` behind the agent's stream, settled, is encoded once."""
        intervals, parties = self._sealed
        behind = self.progress_ms - SEALED_BEHIND_MS
        intervals.grow(islice(self.intervals, len(intervals), None), _started,
                       lambda i: i.end_ms is not None and i.end_ms < behind, orjson.dumps)
        parties.grow(islice(self.parties.items(), len(parties), None),
                     lambda item: item[1].end_ms,
                     lambda item: item[1].end_ms < behind and _final(item[1]),
                     lambda item: orjson.dumps(dict((item,)))[1:-1])
        rest_intervals = orjson.dumps(self.intervals[len(intervals):])[1:-1]
        rest_parties = orjson.dumps(dict(islice(self.parties.items(), len(parties), None)))
        return orjson.Fragment(
            b'{"intervals":[%b],"parties":{%b},"progress_ms":%d,"logged_out_ms":%d}' % (
                intervals.joined(rest_intervals), parties.joined(rest_parties[1:-1]),
                self.progress_ms, self.logged_out_ms))

    @classmethod
    def from_stored(cls, raw: Mapping[str, Any],
                    rebuild: Callable[[type[Any], Any], Any]) -> Join:
        """The join from what :meth:`stored` wrote; ``rebuild`` makes an item of it (a
        field the stored value lacks gets its default)."""
        return cls([rebuild(Interval, i) for i in raw.get("intervals", ())],
                   {k: rebuild(Pending, p) for k, p in raw.get("parties", {}).items()},
                   raw.get("progress_ms", -1), raw.get("logged_out_ms", -1))


def _fields(join: Join) -> tuple[Any, ...]:
    return join.intervals, join.parties, join.progress_ms, join.logged_out_ms


def _final(pending: Pending) -> bool:
    return pending.emitted is not None and pending.emitted[1]


def _started(interval: Interval) -> int:
    return interval.start_ms


def add_interval(join: Join, interval: Interval) -> None:
    """Remember an AFTER_CALL_WORK state that started."""
    if join.intervals and interval.start_ms < join.intervals[-1].start_ms:
        join._sealed[0].cut_after(interval.start_ms)
        bisect.insort(join.intervals, interval, key=_started)
    else:
        join.intervals.append(interval)


def end_interval(join: Join, interval_id: str, end_ms: int) -> None:
    """An AFTER_CALL_WORK state ended (an open one is never sealed)."""
    for interval in reversed(join.intervals):  # the newest, as a rule
        if interval.id == interval_id:
            interval.end_ms = end_ms
            return


def add_party(join: Join, ended: PartyEnded, facts: PartyFacts) -> None:
    """Remember an ended party (one the join does not hold: ``agent_state`` takes a
    repeat for a duplicate)."""
    newest = next(reversed(join.parties.values()), None)
    among = newest is not None and ended.end_ms < newest.end_ms  # the topics' order, rarely
    if among:
        join._sealed[1].cut_after(ended.end_ms)
    join.parties[ended.fact.id] = Pending(
        ended.end_ms, consult=ended.fact.resource_role in CONSULTATION_ROLES)
    if among:
        join._order_parties()
    facts[ended.fact.id] = ended.fact


def closed_before(join: Join) -> int:
    """Parties that ended before this time have a closed window: the agent's stream has
    passed X + 10 s, or the agent logged out at or after X."""
    return max(join.progress_ms - WINDOW_MS, join.logged_out_ms + 1)


def settle(join: Join, lo_ms: int, hi_ms: int,
           facts: PartyFacts) -> list[InteractionResourceFact]:
    """Re-assign the AFTER_CALL_WORK states near parties that ended in ``[lo_ms, hi_ms]``
    and return those parties' rows that changed. Callers name the range their change can
    reach, which keeps this cheap on a long agent day."""
    nearby = _ended_between(join, lo_ms - WINDOW_MS, hi_ms + WINDOW_MS)
    taken: dict[str, int] = {}
    unfinished: set[str] = set()
    for interval in reversed(join.intervals):
        if interval.start_ms < lo_ms:
            break
        if interval.start_ms > hi_ms + WINDOW_MS:
            continue
        owner = _owner(nearby, interval.start_ms)
        if owner is None:
            continue
        if interval.end_ms is None:
            unfinished.add(owner)
        else:
            taken[owner] = taken.get(owner, 0) + interval.end_ms - interval.start_ms
    closed = closed_before(join)
    join._sealed[1].cut_from(lo_ms)  # the parties it may revise
    changed = []
    for party_id, pending in nearby.items():
        if not lo_ms <= pending.end_ms <= hi_ms:
            continue
        now = (seconds(taken.get(party_id, 0)),
               pending.end_ms < closed and party_id not in unfinished)
        fact = _own_row(facts, party_id, pending) if now != pending.emitted else None
        if fact is not None:
            pending.emitted = now
            pending.revision += 1
            changed.append(fact.revised(now[0], 0 if now[1] else 1,
                                        min(fact.version + pending.revision, MAX_VERSION)))
    return changed


def _ended_between(join: Join, lo_ms: int, hi_ms: int) -> dict[str, Pending]:
    """The parties that ended in ``[lo_ms, hi_ms]``, in the order they ended."""
    found = []
    for party_id in reversed(join.parties):
        pending = join.parties[party_id]
        if pending.end_ms < lo_ms:
            break
        if pending.end_ms <= hi_ms:
            found.append((party_id, pending))
    return dict(reversed(found))


def _own_row(facts: PartyFacts, party_id: str, pending: Pending) -> InteractionResourceFact | None:
    """The stored row of this join's party; None when the party of another agent with the same
    id (an interaction id used again after the deduplication window) replaced it, or its join
    forgot it: the store is keyed by party id and shared by the agents of a partition."""
    fact = facts.get(party_id)
    if fact is None or fact.end_ts is None or to_ms(fact.end_ts) != pending.end_ms:
        return None
    return fact


def _owner(parties: dict[str, Pending], start_ms: int) -> str | None:
    """The party that ended last among those whose window holds ``start_ms``; of two that
    ended at the same instant, the one that is not a consultation's (a consult transfer ends
    both of the initiator's parties at once: the customer's call gets the wrap-up)."""
    best: tuple[int, bool, str] | None = None
    for party_id, pending in parties.items():
        if pending.end_ms <= start_ms <= pending.end_ms + WINDOW_MS:
            rank = (pending.end_ms, not pending.consult, party_id)
            if best is None or rank > best:
                best = rank
    return best[2] if best else None


def prune(join: Join, facts: PartyFacts) -> None:
    """Forget what lies a retention period behind the agent's stream and is settled."""
    horizon = join.progress_ms - RETENTION_MS
    started = bisect.bisect_left(join.intervals, horizon, key=_started)
    if started:  # only an interval that started before the horizon can have ended before it
        kept = [i.end_ms is None or i.end_ms >= horizon for i in join.intervals[:started]]
        join.intervals[:started] = compress(join.intervals[:started], kept)
        join._sealed[0].keep(kept)
    old = list(islice(join.parties.items(), _ended_before(join, horizon)))
    kept = [not _final(pending) for _, pending in old]
    for (party_id, pending), keep in zip(old, kept, strict=True):
        if not keep:
            del join.parties[party_id]
            if _own_row(facts, party_id, pending) is not None:
                del facts[party_id]
    join._sealed[1].keep(kept)


def _ended_before(join: Join, horizon: int) -> int:
    """How many of the parties (oldest end first) ended before ``horizon``."""
    count = 0
    for pending in join.parties.values():
        if pending.end_ms >= horizon:
            break
        count += 1
    return count
