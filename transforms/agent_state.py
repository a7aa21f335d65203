"""Agent logic: login sessions and states per media, and the after-call-work join.

The state of one agent login holds, per media, the open session, the current state and the
:class:`~gim_faust.transforms.after_call_work.Join`. Rules (contract ``infomart.md``,
``sm_res_session_fact`` and ``sm_res_state_fact``; ``events.md``, agent events):

- a login opens a session and a NOT_READY state without reason; a second login on the same
  media first ends the open session and state at its own ``ts``;
- a state event that repeats the current state and reason changes nothing; any other ends
  the current state and starts the next;
- a logout ends the session and its state.

A state event without a session is out of state, and still applied: its state rows are
kept rather than lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gim_faust.transforms import after_call_work
from gim_faust.transforms.after_call_work import Interval, Join, PartyFacts
from gim_faust.transforms.codes import MEDIA_TYPE_OF, RESOURCE_STATE
from gim_faust.transforms.config_view import ConfigView
from gim_faust.transforms.figures import seconds
from gim_faust.transforms.keys import date_time_key, reason_key
from gim_faust.transforms.outcome import Outcome, PartyEnded

from gim_faust.models.events import AgentEvent
from gim_faust.models.facts import Fact, ReasonCode, SessionFact, StateFact, ts

ACW = "AFTER_CALL_WORK"
# The join forgets what its retention left behind once per minute of the agent's stream: on
# every event it would read all the agent's parties for nothing almost every time.
PRUNE_EVERY_MS = 60_000


@dataclass
class Session:
    id: str
    resource_key: int
    start_ms: int


@dataclass
class CurrentState:
    id: str
    name: str
    reason: str | None
    start_ms: int


@dataclass
class MediaState:
    resource_key: int | None = None
    session: Session | None = None
    state: CurrentState | None = None
    join: Join = field(default_factory=Join)


@dataclass
class AgentState:
    agent_login: str
    last_seq: dict[str, int] = field(default_factory=dict)  # per channel: voice, digital
    media: dict[str, MediaState] = field(default_factory=dict)


def channel_of(media: str) -> str:
    """The channel (``voice``/``digital``) whose topics and tables carry ``media``."""
    return "voice" if media == "voice" else "digital"


def apply(state: AgentState | None, event: AgentEvent, config: ConfigView,
          party_facts: PartyFacts) -> Outcome:
    """Apply one agent event (deduplicated by ``seq`` within the login and channel).
    ``party_facts`` is the after-call-work join's store of ended party rows."""
    st = state or AgentState(event.agent_login)
    channel = channel_of(event.media)
    if event.seq <= st.last_seq.get(channel, -1):
        return Outcome(st, duplicate=True)
    st.last_seq[channel] = event.seq
    ms = _media(st, event.media)
    facts: list[Fact] = []
    closed_before = after_call_work.closed_before(ms.join)
    acw_before = _acw_start(ms)
    out_of_state = False
    if event.type == "EventAgentLogin":
        _end_session(ms, event, facts)
        endpoint = config.agent(event.agent_login)
        if endpoint.placeholder is not None:
            facts.append(endpoint.placeholder)
        ms.resource_key = endpoint.resource_key
        ms.session = Session(_row_id(event), endpoint.resource_key, event.ts_ms)
        facts.append(_session_fact(ms.session, event.media, None, event.seq))
        _start_state(ms, event, "NOT_READY", None, facts)
    elif event.type == "EventAgentLogout":
        out_of_state = ms.session is None and ms.state is None
        _end_session(ms, event, facts)
        ms.join.logged_out_ms = event.ts_ms
    else:
        out_of_state = ms.session is None
        if ms.resource_key is None:
            endpoint = config.agent(event.agent_login)
            if endpoint.placeholder is not None:
                facts.append(endpoint.placeholder)
            ms.resource_key = endpoint.resource_key
        name, reason = _target_state(event)
        if ms.state is None or (ms.state.name, ms.state.reason) != (name, reason):
            _end_state(ms, event, facts)
            _start_state(ms, event, name, reason, facts)
            if reason is not None and reason not in config.reasons:
                facts.append(ReasonCode(reason_key(reason), reason))
    progress_before = ms.join.progress_ms
    ms.join.progress_ms = max(progress_before, event.ts_ms)
    # What this event can change in the join: the parties whose window just closed, and the
    # candidates of an AFTER_CALL_WORK state that started or ended.
    touched = [t for t in (acw_before, _acw_start(ms)) if t is not None]
    lo = min([closed_before] + [t - after_call_work.WINDOW_MS for t in touched])
    hi = max([after_call_work.closed_before(ms.join)] + touched)
    facts.extend(after_call_work.settle(ms.join, lo, hi, party_facts))
    if ms.join.progress_ms // PRUNE_EVERY_MS != progress_before // PRUNE_EVERY_MS:
        after_call_work.prune(ms.join, party_facts)
    return Outcome(st, facts, out_of_state=out_of_state)


def _media(st: AgentState, media: str) -> MediaState:
    """The agent's state on ``media``, made at its first event there."""
    ms = st.media.get(media)
    if ms is None:
        ms = st.media[media] = MediaState()
    return ms


def _acw_start(ms: MediaState) -> int | None:
    return ms.state.start_ms if ms.state is not None and ms.state.name == ACW else None


def apply_party_ended(state: AgentState | None, ended: PartyEnded,
                      party_facts: PartyFacts) -> Outcome:
    """Take an ended party from the interaction side into the after-call-work join (a
    repeat of a party already taken is a duplicate)."""
    st = state or AgentState(ended.agent_login)
    join = _media(st, ended.media).join
    if ended.fact.id in join.parties:
        return Outcome(st, duplicate=True)
    after_call_work.add_party(join, ended, party_facts)
    window = after_call_work.WINDOW_MS
    return Outcome(st, list(after_call_work.settle(join, ended.end_ms - window,
                                                   ended.end_ms + window, party_facts)))


def _target_state(event: AgentEvent) -> tuple[str, str | None]:
    if event.type == "EventAgentReady":
        return "READY", None
    if event.workmode == "AfterCallWork":
        return ACW, None
    return "NOT_READY", event.reason


def _row_id(event: AgentEvent) -> str:
    return f"{event.agent_login}:{event.media}:{event.seq}"


def _start_state(ms: MediaState, event: AgentEvent, name: str, reason: str | None,
                 facts: list[Fact]) -> None:
    ms.state = CurrentState(_row_id(event), name, reason, event.ts_ms)
    facts.append(_state_fact(ms, ms.state, event.media, None, event.seq))
    if name == ACW:
        after_call_work.add_interval(ms.join, Interval(ms.state.id, event.ts_ms))


def _end_state(ms: MediaState, event: AgentEvent, facts: list[Fact]) -> None:
    if ms.state is None:
        return
    facts.append(_state_fact(ms, ms.state, event.media, event.ts_ms, event.seq))
    if ms.state.name == ACW:
        after_call_work.end_interval(ms.join, ms.state.id, event.ts_ms)
    ms.state = None


def _end_session(ms: MediaState, event: AgentEvent, facts: list[Fact]) -> None:
    _end_state(ms, event, facts)
    if ms.session is not None:
        facts.append(_session_fact(ms.session, event.media, event.ts_ms, event.seq))
        ms.session = None


def _session_fact(session: Session, media: str, end_ms: int | None, version: int) -> SessionFact:
    return SessionFact(
        session.id, session.resource_key, MEDIA_TYPE_OF[media], ts(session.start_ms),
        ts(end_ms), None if end_ms is None else seconds(end_ms - session.start_ms),
        date_time_key(session.start_ms), 1 if end_ms is None else 0, version)


def _state_fact(ms: MediaState, state: CurrentState, media: str, end_ms: int | None,
                version: int) -> StateFact:
    return StateFact(
        state.id, ms.resource_key, MEDIA_TYPE_OF[media],  # type: ignore[arg-type]
        RESOURCE_STATE[state.name],
        reason_key(state.reason) if state.reason is not None else None,
        ts(state.start_ms), ts(end_ms),
        None if end_ms is None else seconds(end_ms - state.start_ms),
        date_time_key(state.start_ms), 1 if end_ms is None else 0, version)
