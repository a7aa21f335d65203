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
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from itertools import islice, pairwise

from gim_faust.transforms.figures import seconds
from gim_faust.transforms.outcome import PartyEnded

from gim_faust.models.events import to_ms
from gim_faust.models.facts import MAX_VERSION, InteractionResourceFact

WINDOW_MS = 10_000
CONSULTATION_ROLES = frozenset({"INITIATED_CONSULT", "RECEIVED_CONSULT"})
# How long (event time of the agent's stream) the join keeps what it has settled: long
# enough for the other topic to lag a whole backlog behind; a day of one agent is small.
RETENTION_MS = 24 * 3600 * 1000


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


@dataclass
class Join:
    """The join state of one agent login on one media.

    ``intervals`` are kept in the order they started and ``parties`` in the order they ended
    (restored so when read from storage), so that :func:`settle` and :func:`prune` read only
    the few near the times they are asked about, from the newest end or the oldest, not a
    whole agent day on every event."""

    intervals: list[Interval] = field(default_factory=list)
    parties: dict[str, Pending] = field(default_factory=dict)
    progress_ms: int = -1      # newest event time of the agent's stream on this media
    logged_out_ms: int = -1    # the last logout, which closes every earlier window

    def __post_init__(self) -> None:
        self.intervals.sort(key=_started)
        self._order_parties()

    def _order_parties(self) -> None:
        if any(a.end_ms > b.end_ms for a, b in pairwise(self.parties.values())):
            self.parties = dict(sorted(self.parties.items(), key=lambda item: item[1].end_ms))


def _started(interval: Interval) -> int:
    return interval.start_ms


def add_interval(join: Join, interval: Interval) -> None:
    """Remember an AFTER_CALL_WORK state that started."""
    if join.intervals and interval.start_ms < join.intervals[-1].start_ms:
        bisect.insort(join.intervals, interval, key=_started)
    else:
        join.intervals.append(interval)


def add_party(join: Join, ended: PartyEnded, facts: PartyFacts) -> None:
    """Remember an ended party."""
    newest = next(reversed(join.parties.values()), None)
    join.parties[ended.fact.id] = Pending(
        ended.end_ms, consult=ended.fact.resource_role in CONSULTATION_ROLES)
    if newest is not None and ended.end_ms < newest.end_ms:  # the topics' order, rarely
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
        join.intervals[:started] = [i for i in join.intervals[:started]
                                    if i.end_ms is None or i.end_ms >= horizon]
    for party_id, pending in list(islice(join.parties.items(), _ended_before(join, horizon))):
        if pending.emitted is not None and pending.emitted[1]:
            del join.parties[party_id]
            if _own_row(facts, party_id, pending) is not None:
                del facts[party_id]


def _ended_before(join: Join, horizon: int) -> int:
    """How many of the parties (oldest end first) ended before ``horizon``."""
    count = 0
    for pending in join.parties.values():
        if pending.end_ms >= horizon:
            break
        count += 1
    return count
