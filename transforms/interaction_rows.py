"""The fact rows of one interaction: which rows a step touched, and the fact each one becomes.

Rows are accumulating snapshots: a row is emitted when it opens and again whenever it
changes, with ``version`` = the ``seq`` of the event that changed it (``last_seq + 1`` for a
timeout, which has no event of its own). Kept apart from the rules in :mod:`interaction`: a
rule only changes the state and notes the rows it touched, and :class:`Changes` turns those
into facts once, at the end of the step.
"""

from __future__ import annotations

from gim_faust.transforms.codes import INTERACTION_TYPE_OF, MEDIA_TYPE_OF, TECHNICAL_RESULT
from gim_faust.transforms.config_view import Endpoint
from gim_faust.transforms.figures import seconds
from gim_faust.transforms.interaction_state import InteractionState, Party, Segment, State
from gim_faust.transforms.keys import date_time_key
from gim_faust.transforms.outcome import Outcome, PartyEnded

from gim_faust.models.facts import (
    Fact,
    InteractionFact,
    InteractionResourceFact,
    MediationSegmentFact,
    ts,
)


class Changes:
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


# --- rows --------------------------------------------------------------------------------------

def _awaits_after_call_work(party: Party) -> bool:
    return (party.end_ms is not None and party.established_ms is not None
            and party.agent_login is not None)


def _interaction_fact(st: InteractionState, version: int) -> InteractionFact:
    return InteractionFact(
        st.interaction_id, MEDIA_TYPE_OF[st.media], _interaction_type(st), ts(st.start_ms),
        ts(st.end_ms), date_time_key(st.start_ms), st.source_address, st.target_address,
        st.status, 0 if st.end_ms is not None else 1, version, st.consult_of)


def _interaction_type(st: InteractionState) -> int | None:
    return INTERACTION_TYPE_OF[st.direction] if st.direction else None


def _segment_fact(st: InteractionState, seg: Segment, version: int) -> MediationSegmentFact:
    ended = seg.end_ms is not None
    return MediationSegmentFact(
        seg.id, st.interaction_id, seg.resource_key, MEDIA_TYPE_OF[st.media],
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
        party.id, st.interaction_id, party.resource_key, MEDIA_TYPE_OF[st.media],
        _interaction_type(st), TECHNICAL_RESULT[party.result] if party.result else None,
        ts(start), ts(end), date_time_key(start), seconds(ring_ms), seconds(talk_ms),
        seconds(party.hold_ms), party.hold_count, 0, int(handled),
        party.mediation_resource_key, party.mediation_duration,
        0 if end is not None and not _awaits_after_call_work(party) else 1, version,
        party.resource_role, party.user_data)
