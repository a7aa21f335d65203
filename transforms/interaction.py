"""Interaction logic: mediation segments, resource parties, results, delivery, end, timeout.

Every rule cites contract ``infomart.md`` (facts) or ``events.md`` (events). The rules change
the state (:mod:`interaction_state`) and record what they touched; the rows emitted for it
are built in :mod:`interaction_rows`.
"""

from __future__ import annotations

from dataclasses import replace

from gim_faust.transforms import user_data
from gim_faust.transforms.config_view import ConfigView, Endpoint
from gim_faust.transforms.figures import seconds
from gim_faust.transforms.interaction_rows import Changes
from gim_faust.transforms.interaction_state import Ended, InteractionState, Party, Segment, State
from gim_faust.transforms.outcome import Outcome

from gim_faust.models.events import MAX_SEQ, InteractionEvent


def apply(state: State, event: InteractionEvent, config: ConfigView, timeout_ms: int,
          watermark_ms: int) -> Outcome:
    """Apply one event. ``watermark_ms`` is the newest event time seen on the interaction
    topics before this event; an interaction idle for ``timeout_ms`` by then, or by this
    event, times out first (contract ``events.md``: timeouts are in event time)."""
    if state is not None and event.seq <= state.last_seq:
        return Outcome(state, duplicate=True)
    if isinstance(state, InteractionState):
        expired = expire(state, config, max(watermark_ms, event.ts_ms), timeout_ms)
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
                              event.target_address, consult_of=event.consult_of)
    changes = Changes(st, event.seq)
    if state is None or (st.direction is None and event.direction is not None):
        st.direction = st.direction or event.direction
        changes.interaction = True
    st.last_seq, st.last_ms = event.seq, event.ts_ms
    # before the handler: a party the event ends takes the event's own user data too
    user_data.forget_unkept(st.user_data, config.kept)
    unconvertible = (user_data.merge(st.user_data, event.user_data, config.kept)
                     if event.user_data else [])
    handled = _HANDLERS[event.type](st, event, config, changes)
    if event.type == "EventInteractionEnded":
        outcome = changes.outcome(Ended(st.last_seq, event.ts_ms))
    elif event.seq == MAX_SEQ:
        # No later event can be applied (every other seq is a repeat's), so the interaction
        # can only time out, with the same rows as now; and a timeout could not number its
        # rows above this event's (versions are bigint): it times out now.
        outcome = _timed_out(st, changes, out_of_state=not handled)
    else:
        outcome = changes.outcome(st, out_of_state=not handled)
    outcome.unconvertible = unconvertible
    return outcome


def expire(state: InteractionState, config: ConfigView, watermark_ms: int,
           timeout_ms: int) -> Outcome | None:
    """Close the interaction as TIMED_OUT at its last event if it has been idle too long."""
    if watermark_ms - state.last_ms <= timeout_ms:
        return None
    user_data.forget_unkept(state.user_data, config.kept)
    # The tombstone keeps the seq of the last event seen (the rows' version is one above it):
    # a late event with the next seq is out of state, not a repeat.
    return _timed_out(state, Changes(state, state.last_seq + 1))


def _timed_out(st: InteractionState, changes: Changes, out_of_state: bool = False) -> Outcome:
    """Every open part closed as TIMED_OUT at the last event; the tombstone."""
    _close_all(st, st.last_ms, "TIMED_OUT", "TIMED_OUT", changes)
    return changes.outcome(Ended(st.last_seq, st.last_ms), out_of_state=out_of_state)


# --- event handlers: each returns False when the event made no sense in this state ---------

def _queued(st: InteractionState, ev: InteractionEvent, config: ConfigView, ch: Changes) -> bool:
    seg = Segment(f"{st.interaction_id}:{ev.seq}", ev.dn,  # type: ignore[arg-type]
                  ch.endpoint(config.dn(ev.dn)), ev.ts_ms)  # type: ignore[arg-type]
    st.segments.append(seg)
    ch.touch(seg)
    return True


def _diverted(st: InteractionState, ev: InteractionEvent, config: ConfigView,
              ch: Changes) -> bool:
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
                 ch: Changes) -> bool:
    _start_party(st, ev, config, ch)
    return True


# How a party started gives its role (contract consultations.md); an EventEstablished for a
# party that never started starts it as if it had rung.
_ROLES = {"EventDialing": ("INITIATED", "INITIATED_CONSULT"),
          "EventPartyChanged": ("RECEIVED_TRANSFER", "RECEIVED_TRANSFER"),
          "EventPartyAdded": ("CONFERENCE_JOINED", "CONFERENCE_JOINED")}
_RECEIVED = ("RECEIVED", "RECEIVED_CONSULT")
_JOINING = frozenset({"EventPartyChanged", "EventPartyAdded"})


def _start_party(st: InteractionState, ev: InteractionEvent, config: ConfigView,
                 ch: Changes) -> Party:
    endpoint = config.agent(ev.agent_login) if ev.agent_login else config.dn(ev.dn)  # type: ignore[arg-type]
    role = _ROLES.get(ev.type, _RECEIVED)[st.consult_of is not None]
    party = Party(f"{st.interaction_id}:{ev.seq}", ev.dn, ev.agent_login, ch.endpoint(endpoint),
                  ev.type == "EventDialing", ev.ts_ms, role=role)
    st.parties.append(party)
    ch.touch(party)
    if ev.type in _JOINING:  # brought in from a consultation: established, no segment
        party.established_ms = ev.ts_ms
        return party
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


def _deliver(seg: Segment, party: Party, ch: Changes) -> None:
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
                 ch: Changes) -> bool:
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


def _held(st: InteractionState, ev: InteractionEvent, config: ConfigView, ch: Changes) -> bool:
    party = _open_party(st, ev)
    if party is None or party.held_since_ms is not None:
        return False
    party.held_since_ms = ev.ts_ms
    party.hold_count += 1
    ch.touch(party)
    return True


def _retrieved(st: InteractionState, ev: InteractionEvent, config: ConfigView,
               ch: Changes) -> bool:
    party = _open_party(st, ev)
    if party is None or party.held_since_ms is None:
        return False
    party.hold_ms += ev.ts_ms - party.held_since_ms
    party.held_since_ms = None
    ch.touch(party)
    return True


_RELEASED = {"normal": "COMPLETED", "transfer": "TRANSFERRED", "redirect": "COMPLETED",
             "conference": "CONFERENCED"}


def _released(st: InteractionState, ev: InteractionEvent, config: ConfigView,
              ch: Changes) -> bool:
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
               ch: Changes) -> bool:
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


def _attached_data_changed(st: InteractionState, ev: InteractionEvent, config: ConfigView,
                           ch: Changes) -> bool:
    """Starts and ends nothing (contract user-data.md); it still counts as activity."""
    return True


def _interaction_ended(st: InteractionState, ev: InteractionEvent, config: ConfigView,
                       ch: Changes) -> bool:
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
    "EventAttachedDataChanged": _attached_data_changed,
    "EventPartyChanged": _party_start,
    "EventPartyAdded": _party_start,
}


# --- closing -------------------------------------------------------------------------------

def _end_party(st: InteractionState, party: Party, end_ms: int, result: str,
               ch: Changes) -> None:
    if party.held_since_ms is not None:
        party.hold_ms += end_ms - party.held_since_ms
        party.held_since_ms = None
    party.end_ms, party.result = end_ms, result
    party.user_data = dict(st.user_data) or None
    ch.touch(party)
    seg = _segment_of(st, party)
    if seg is not None and not seg.done:
        seg.done = True
        ch.touch(seg)


def _close_all(st: InteractionState, end_ms: int, segment_result: str,
               party_result: str | None, ch: Changes) -> None:
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
