"""Interaction logic: mediation segments, resource parties, results, delivery, end, timeout.

Every rule cites contract ``infomart.md`` (facts) or ``events.md`` (events). The state of one
interaction is an :class:`InteractionState` while it is open and an :class:`Ended` tombstone
afterwards, kept for the deduplication window so a repeat delivered hours later has no effect.

Rows are accumulating snapshots: a row is emitted when it opens and again whenever it
changes, with ``version`` = the ``seq`` of the event that changed it (``last_seq + 1`` for a
timeout, which has no event of its own).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from gim_faust.transforms.codes import INTERACTION_TYPE, MEDIA_TYPE, TECHNICAL_RESULT
from gim_faust.transforms.config_view import ConfigView, Endpoint
from gim_faust.transforms.figures import seconds
from gim_faust.transforms.keys import date_time_key
from gim_faust.transforms.outcome import Outcome, PartyEnded

from gim_faust.events import InteractionEvent
from gim_faust.facts import (
    Fact,
    InteractionFact,
    InteractionResourceFact,
    MediationSegmentFact,
    ts,
)


@dataclass
class Segment:
    """A stay at a mediation DN, from ``EventQueued`` to its end."""

    id: str
    dn: str
    resource_key: int
    start_ms: int
    end_ms: int | None = None
    result: str | None = None
    target: str | None = None
    target_resource_key: int | None = None
    delivered: str | None = None  # id of the party it delivered
    accepted: int = 0
    done: bool = False  # final: its delivery can no longer change


@dataclass
class Party:
    """A stay at an agent or extension, from ``EventRinging``/``EventDialing`` to its end."""

    id: str
    dn: str | None
    agent_login: str | None
    resource_key: int
    dialed: bool
    start_ms: int
    established_ms: int | None = None
    held_since_ms: int | None = None
    hold_ms: int = 0
    hold_count: int = 0
    end_ms: int | None = None
    result: str | None = None
    segment: str | None = None
    mediation_resource_key: int | None = None
    mediation_duration: int | None = None


@dataclass
class InteractionState:
    interaction_id: str
    media: str
    start_ms: int
    last_seq: int
    last_ms: int
    direction: str | None = None
    source_address: str | None = None
    target_address: str | None = None
    end_ms: int | None = None
    status: str = "ACTIVE"
    segments: list[Segment] = field(default_factory=list)
    parties: list[Party] = field(default_factory=list)


@dataclass(frozen=True)
class Ended:
    """What is kept of a finished interaction: enough to recognise repeats and late events."""

    last_seq: int
    end_ms: int


State = InteractionState | Ended | None


class _Changes:
    """The rows one step touched, emitted once each at the end of the step."""

    def __init__(self, st: InteractionState, version: int) -> None:
        self.st, self.version = st, version
        self.interaction = False
        self.rows: dict[str, Segment | Party] = {}
        self.extra: list[Fact] = []
        self.handoffs: list[PartyEnded] = []

    def touch(self, row: Segment | Party) -> None:
        self.rows[row.id] = row

    def endpoint(self, endpoint: Endpoint) -> int:
        if endpoint.placeholder is not None:
            self.extra.append(endpoint.placeholder)
        return endpoint.resource_key

    def outcome(self, state: State, out_of_state: bool = False) -> Outcome:
        facts: list[Fact] = list(self.extra)
        if self.interaction:
            facts.append(_interaction_fact(self.st, self.version))
        for row in self.rows.values():
            if isinstance(row, Segment):
                facts.append(_segment_fact(self.st, row, self.version))
            else:
                fact = _party_fact(self.st, row, self.version)
                facts.append(fact)
                if _awaits_after_call_work(row):
                    self.handoffs.append(PartyEnded(row.agent_login, self.st.media,  # type: ignore[arg-type]
                                                    row.end_ms, fact))  # type: ignore[arg-type]
        return Outcome(state, facts, self.handoffs, out_of_state=out_of_state)


def apply(state: State, event: InteractionEvent, config: ConfigView, timeout_ms: int,
          watermark_ms: int) -> Outcome:
    """Apply one event. ``watermark_ms`` is the newest event time seen on the interaction
    topics before this event; an interaction idle for ``timeout_ms`` by then, or by this
    event, times out first (contract ``events.md``: timeouts are in event time)."""
    if state is not None and event.seq <= state.last_seq:
        return Outcome(state, duplicate=True)
    if isinstance(state, InteractionState):
        expired = expire(state, max(watermark_ms, event.ts_ms), timeout_ms)
        if expired is not None:  # this event came too late: a repeat of it is a duplicate
            expired.state = replace(expired.state, last_seq=event.seq)
            expired.out_of_state = True
            return expired
    if isinstance(state, Ended):
        return Outcome(replace(state, last_seq=event.seq), out_of_state=True)
    st = state
    if st is None:
        st = InteractionState(event.interaction_id, event.media, event.ts_ms, event.seq,
                              event.ts_ms, event.direction, event.source_address,
                              event.target_address)
    changes = _Changes(st, event.seq)
    if state is None or (st.direction is None and event.direction is not None):
        st.direction = st.direction or event.direction
        changes.interaction = True
    st.last_seq, st.last_ms = event.seq, event.ts_ms
    handled = _HANDLERS[event.type](st, event, config, changes)
    if event.type == "EventInteractionEnded":
        return changes.outcome(Ended(st.last_seq, event.ts_ms))
    return changes.outcome(st, out_of_state=not handled)


def expire(state: InteractionState, watermark_ms: int, timeout_ms: int) -> Outcome | None:
    """Close the interaction as TIMED_OUT at its last event if it has been idle too long."""
    if watermark_ms - state.last_ms <= timeout_ms:
        return None
    changes = _Changes(state, state.last_seq + 1)
    _close_all(state, state.last_ms, "TIMED_OUT", "TIMED_OUT", changes)
    # The tombstone keeps the seq of the last event seen (the rows' version is one above it):
    # a late event with the next seq is out of state, not a repeat.
    return changes.outcome(Ended(state.last_seq, state.last_ms))


# --- event handlers: each returns False when the event made no sense in this state ---------

def _queued(st: InteractionState, ev: InteractionEvent, config: ConfigView, ch: _Changes) -> bool:
    seg = Segment(f"{st.interaction_id}:{ev.seq}", ev.dn,  # type: ignore[arg-type]
                  ch.endpoint(config.dn(ev.dn)), ev.ts_ms)  # type: ignore[arg-type]
    st.segments.append(seg)
    ch.touch(seg)
    return True


def _diverted(st: InteractionState, ev: InteractionEvent, config: ConfigView,
              ch: _Changes) -> bool:
    seg = _open_segment(st, ev.dn)
    if seg is None:
        return False
    seg.end_ms, seg.target = ev.ts_ms, ev.target
    target = _divert_target(st.media, ev.target, config)  # type: ignore[arg-type]
    if target is None:
        seg.result = "DIVERTED"
    else:
        seg.result = "REDIRECTED"
        seg.target_resource_key = ch.endpoint(target)
    ch.touch(seg)
    later = [p for p in st.parties if p.start_ms >= seg.end_ms and _delivers(st, seg, p)]
    if later:
        _deliver(seg, min(later, key=lambda p: p.start_ms), ch)
    return True


def _divert_target(media: str, target: str, config: ConfigView) -> Endpoint | None:
    """None when the target is an Extension DN or a known agent login (the segment is
    DIVERTED); otherwise the resource a REDIRECTED segment names as its target."""
    known = config.dns.get(target)
    if known is not None:
        return None if known[1] == "Extension" else config.dn(target)
    if media == "voice":
        return config.dn(target)
    return None if config.knows_login(target) else config.agent(target)


def _party_start(st: InteractionState, ev: InteractionEvent, config: ConfigView,
                 ch: _Changes) -> bool:
    _start_party(st, ev, config, ch)
    return True


def _start_party(st: InteractionState, ev: InteractionEvent, config: ConfigView,
                 ch: _Changes) -> Party:
    endpoint = config.agent(ev.agent_login) if ev.agent_login else config.dn(ev.dn)  # type: ignore[arg-type]
    party = Party(f"{st.interaction_id}:{ev.seq}", ev.dn, ev.agent_login, ch.endpoint(endpoint),
                  ev.type == "EventDialing", ev.ts_ms)
    st.parties.append(party)
    ch.touch(party)
    for seg in st.segments:
        if seg.end_ms is not None and seg.end_ms <= party.start_ms and _delivers(st, seg, party):
            _deliver(seg, party, ch)
            break
    return party


def _delivers(st: InteractionState, seg: Segment, party: Party) -> bool:
    """Could ``seg`` deliver ``party``: same target, neither already linked."""
    if seg.target is None or seg.delivered is not None or seg.done or party.segment is not None:
        return False
    if st.media == "voice":
        return party.dn == seg.target
    return seg.target in (party.agent_login, party.dn)


def _deliver(seg: Segment, party: Party, ch: _Changes) -> None:
    seg.delivered, party.segment = party.id, seg.id
    party.mediation_resource_key = seg.resource_key
    party.mediation_duration = seconds(seg.end_ms - seg.start_ms)  # type: ignore[operator]
    if seg.result == "DIVERTED":
        seg.target_resource_key = party.resource_key
    if party.established_ms is not None:  # established before the divert was reported
        seg.accepted, seg.done = 1, True
    elif party.end_ms is not None:
        seg.done = True
    ch.touch(seg)
    ch.touch(party)


def _established(st: InteractionState, ev: InteractionEvent, config: ConfigView,
                 ch: _Changes) -> bool:
    party = _open_party(st, ev)
    handled = party is not None
    if party is None:  # a party that never started: start it here, so its talk time counts
        party = _start_party(st, ev, config, ch)
    if party.established_ms is None:
        party.established_ms = ev.ts_ms
        seg = _segment_of(st, party)
        if seg is not None:
            seg.accepted, seg.done = 1, True
            ch.touch(seg)
        ch.touch(party)
    return handled


def _held(st: InteractionState, ev: InteractionEvent, config: ConfigView, ch: _Changes) -> bool:
    party = _open_party(st, ev)
    if party is None or party.held_since_ms is not None:
        return False
    party.held_since_ms = ev.ts_ms
    party.hold_count += 1
    ch.touch(party)
    return True


def _retrieved(st: InteractionState, ev: InteractionEvent, config: ConfigView,
               ch: _Changes) -> bool:
    party = _open_party(st, ev)
    if party is None or party.held_since_ms is None:
        return False
    party.hold_ms += ev.ts_ms - party.held_since_ms
    party.held_since_ms = None
    ch.touch(party)
    return True


_RELEASED = {"normal": "COMPLETED", "transfer": "TRANSFERRED", "redirect": "COMPLETED"}


def _released(st: InteractionState, ev: InteractionEvent, config: ConfigView,
              ch: _Changes) -> bool:
    party = _open_party(st, ev)
    if party is None:
        return False
    if party.established_ms is not None:
        result = _RELEASED[ev.cause]
    else:
        result = "UNANSWERED" if party.dialed else "REDIRECTED"
    _end_party(st, party, ev.ts_ms, result, ch)
    return True


def _abandoned(st: InteractionState, ev: InteractionEvent, config: ConfigView,
               ch: _Changes) -> bool:
    seg = _open_segment(st, ev.dn) if ev.agent_login is None else None
    if seg is not None:
        seg.end_ms, seg.result, seg.done = ev.ts_ms, "ABANDONED", True
        ch.touch(seg)
        return True
    party = _open_party(st, ev)
    if party is None:
        return False
    _end_party(st, party, ev.ts_ms,
               "ABANDONED" if party.established_ms is None else "COMPLETED", ch)
    return party.established_ms is None


def _interaction_ended(st: InteractionState, ev: InteractionEvent, config: ConfigView,
                       ch: _Changes) -> bool:
    _close_all(st, ev.ts_ms, "CLEARED", None, ch)
    return True


_HANDLERS = {
    "EventQueued": _queued,
    "EventDiverted": _diverted,
    "EventRinging": _party_start,
    "EventDialing": _party_start,
    "EventEstablished": _established,
    "EventHeld": _held,
    "EventRetrieved": _retrieved,
    "EventReleased": _released,
    "EventAbandoned": _abandoned,
    "EventInteractionEnded": _interaction_ended,
}


# --- closing -------------------------------------------------------------------------------

def _end_party(st: InteractionState, party: Party, end_ms: int, result: str,
               ch: _Changes) -> None:
    if party.held_since_ms is not None:
        party.hold_ms += end_ms - party.held_since_ms
        party.held_since_ms = None
    party.end_ms, party.result = end_ms, result
    ch.touch(party)
    seg = _segment_of(st, party)
    if seg is not None and not seg.done:
        seg.done = True
        ch.touch(seg)


def _close_all(st: InteractionState, end_ms: int, segment_result: str,
               party_result: str | None, ch: _Changes) -> None:
    """End everything still open: at ``EventInteractionEnded`` (party_result None: COMPLETED
    if established, else CLEARED) or at a timeout (everything TIMED_OUT)."""
    for seg in st.segments:
        if seg.end_ms is None:
            seg.end_ms, seg.result = end_ms, segment_result
        if not seg.done:
            seg.done = True
            ch.touch(seg)
    for party in st.parties:
        if party.end_ms is None:
            result = party_result or ("COMPLETED" if party.established_ms is not None
                                      else "CLEARED")
            _end_party(st, party, end_ms, result, ch)
    st.end_ms, st.status = end_ms, "TIMED_OUT" if party_result else "COMPLETED"
    ch.interaction = True


# --- lookups ---------------------------------------------------------------------------------

def _open_segment(st: InteractionState, dn: str | None) -> Segment | None:
    for seg in reversed(st.segments):
        if seg.end_ms is None and seg.dn == dn:
            return seg
    return None


def _open_party(st: InteractionState, ev: InteractionEvent) -> Party | None:
    for party in reversed(st.parties):
        if party.end_ms is None and (party.agent_login == ev.agent_login if ev.agent_login
                                     else party.dn == ev.dn):
            return party
    return None


def _segment_of(st: InteractionState, party: Party) -> Segment | None:
    if party.segment is None:
        return None
    return next(seg for seg in st.segments if seg.id == party.segment)


def _awaits_after_call_work(party: Party) -> bool:
    return (party.end_ms is not None and party.established_ms is not None
            and party.agent_login is not None)


# --- rows --------------------------------------------------------------------------------------

def _interaction_fact(st: InteractionState, version: int) -> InteractionFact:
    return InteractionFact(
        st.interaction_id, MEDIA_TYPE[st.media.upper()], _interaction_type(st), ts(st.start_ms),
        ts(st.end_ms), date_time_key(st.start_ms), st.source_address, st.target_address,
        st.status, 0 if st.end_ms is not None else 1, version)


def _interaction_type(st: InteractionState) -> int | None:
    return INTERACTION_TYPE[st.direction.upper()] if st.direction else None


def _segment_fact(st: InteractionState, seg: Segment, version: int) -> MediationSegmentFact:
    ended = seg.end_ms is not None
    return MediationSegmentFact(
        seg.id, st.interaction_id, seg.resource_key, MEDIA_TYPE[st.media.upper()],
        TECHNICAL_RESULT[seg.result] if seg.result else None, ts(seg.start_ms), ts(seg.end_ms),
        date_time_key(seg.start_ms),
        seconds(seg.end_ms - seg.start_ms) if ended else None,  # type: ignore[operator]
        seg.target_resource_key, seg.accepted, 0 if seg.done else 1, version)


def _party_fact(st: InteractionState, party: Party, version: int) -> InteractionResourceFact:
    start, established, end = party.start_ms, party.established_ms, party.end_ms
    if established is not None:
        ring_ms = established - start
        talk_ms = (end - established - party.hold_ms) if end is not None else 0
    else:
        ring_ms = (end - start) if end is not None else 0
        talk_ms = 0
    handled = established is not None and st.direction != "internal"
    return InteractionResourceFact(
        party.id, st.interaction_id, party.resource_key, MEDIA_TYPE[st.media.upper()],
        _interaction_type(st), TECHNICAL_RESULT[party.result] if party.result else None,
        ts(start), ts(end), date_time_key(start), seconds(ring_ms), seconds(talk_ms),
        seconds(party.hold_ms), party.hold_count, 0, int(handled),
        party.mediation_resource_key, party.mediation_duration,
        0 if end is not None and not _awaits_after_call_work(party) else 1, version)
