"""The one place where raw Kafka bytes become events (contract ``events.md``, "Bad input").

:func:`decode` never raises: it returns an event, or a :class:`Rejection` that carries one of
the contract's reasons. A message goes first through the fast path (``wire.py``), which
takes only what it can vouch for, and otherwise through :func:`check`. The checks run in a
fixed order, so a message with several faults always gets the same reason: JSON, required
envelope fields, type, envelope values, tenant, topic, then the fields of the type.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import msgspec
import orjson

from gim_faust.models import wire
from gim_faust.models.events import (
    AGENT_TYPES,
    CAUSES,
    DIGITAL_MEDIA,
    DIRECTIONS,
    INTERACTION_TYPES,
    LONGEST,
    MAX_SEQ,
    MEDIA,
    VOICE_ONLY_TYPES,
    WORKMODES,
    AgentEvent,
    Event,
    InteractionEvent,
    parse_utc,
    to_ms,
)
from gim_faust.models.record import record

REASONS = ("not_json", "missing_field", "bad_value", "unknown_type", "wrong_tenant",
           "wrong_topic")
# Not a reason to refuse an event: it is applied without its user data, and its bytes are
# also sent to the rejected topic with this reason (contract user-data.md).
BAD_USER_DATA = "bad_user_data"
# Not the decoder's: an event that passed it and failed a second time (``gsp/engine.py``).
PROCESSING_ERROR = "processing_error"
_ENVELOPE = ("event_id", "type", "ts", "tenant", "media", "seq")
_DN_TYPES = frozenset({"EventQueued", "EventDiverted"})
_JOINING_TYPES = frozenset({"EventPartyChanged", "EventPartyAdded"})
# user_data (contract user-data.md): at most 100 keys of 1 to 64 characters, strings of at
# most 1,024 (and, like every string, without U+0000).
_USER_DATA_KEYS, _USER_DATA_KEY_LENGTH, _USER_DATA_TEXT_LENGTH = 100, 64, 1024
# The contract's limits (events.md, "Bad input") besides the strings' lengths
# (``events.LONGEST``): no string holds U+0000 (PostgreSQL text cannot); ts lies in
# [2000-01-01, 2100-01-01).
_EARLIEST_MS = to_ms(datetime(2000, 1, 1, tzinfo=timezone.utc))
_LATEST_MS = to_ms(datetime(2100, 1, 1, tzinfo=timezone.utc))
_PARTY_TYPES = frozenset({"EventRinging", "EventDialing", "EventEstablished", "EventHeld",
                          "EventRetrieved", "EventReleased", "EventAbandoned",
                          "EventPartyChanged", "EventPartyAdded"})


@record
class Rejection:
    """Why a message was refused: ``reason`` is a contract code, ``detail`` is for people."""

    reason: str
    detail: str


@record
class Source:
    """What a raw topic may carry: its channel (``voice``/``digital``) and family."""

    channel: str
    agents: bool

    @classmethod
    def of_topic(cls, topic: str) -> Source:
        """The source of ``<prefix>.<channel>.<interactions|agents>``."""
        channel, family = topic.rsplit(".", 2)[-2:]
        if channel not in ("voice", "digital") or family not in ("interactions", "agents"):
            raise ValueError(f"{topic!r} is not a raw event topic")
        return cls(channel, family == "agents")


class _Reject(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        self.rejection = Rejection(reason, detail)


# event_id, type, ts, ts_ms, tenant, media, seq: the leading fields of every event
_Envelope = tuple[str, str, datetime, int, str, str, int]


@dataclass(frozen=True, slots=True)
class _Text:
    """A string field of an event type, in the order of the event's own fields: the check
    order. ``allowed``: its closed set of values; ``default`` when absent."""

    name: str
    required: bool = False
    allowed: frozenset[str] | None = None
    default: str | None = None


def _text_fault(name: str, value: Any) -> _Reject:
    """Why ``value`` is not a valid string ``name``."""
    if not isinstance(value, str) or not value:
        return _Reject("bad_value", f"'{name}' must be a non-empty string")
    if len(value) > LONGEST.get(name, len(value)):
        return _Reject("bad_value", f"'{name}' is longer than {LONGEST[name]} characters")
    return _Reject("bad_value", f"'{name}' holds the character U+0000")


def _texts(obj: dict[str, Any], specs: tuple[_Text, ...]) -> list[str | None]:
    """The values of ``specs`` in order, or the first one's fault. One loop rather than a call
    per field: it runs for every event (docs/gsp.md, "Transforms")."""
    values: list[str | None] = []
    for spec in specs:
        value = obj.get(spec.name)
        if value is None:
            if spec.required:
                raise _Reject("missing_field", f"'{spec.name}' is required")
            values.append(spec.default)
        elif spec.allowed is not None:
            if type(value) is not str or value not in spec.allowed:
                if type(value) is not str or not value or "\x00" in value:
                    raise _text_fault(spec.name, value)
                raise _Reject("bad_value", f"'{spec.name}'={value!r} is not one of "
                                           f"{sorted(spec.allowed)}")
            values.append(value)
        elif (type(value) is not str or not value or "\x00" in value
              or len(value) > LONGEST.get(spec.name, len(value))):
            raise _text_fault(spec.name, value)
        else:
            values.append(value)
    return values


def _timestamp(value: Any, not_after_ms: int | None) -> tuple[datetime, int]:
    """``ts`` and its Unix milliseconds, within the contract's range and clock skew."""
    try:
        ts = parse_utc(value)
    except ValueError as exc:
        shown = value[:40] if isinstance(value, str) else value
        raise _Reject("bad_value", f"'ts'={shown!r} {exc}") from None
    ts_ms = to_ms(ts)
    if not _EARLIEST_MS <= ts_ms < _LATEST_MS:
        raise _Reject("bad_value", f"'ts'={value!r} is not in [2000-01-01, 2100-01-01)")
    if not_after_ms is not None and ts_ms > not_after_ms:
        raise _Reject("bad_value", f"'ts'={value!r} lies further ahead of this worker's clock "
                                   f"than GIM_MAX_CLOCK_SKEW allows")
    return ts, ts_ms


def _envelope(obj: dict[str, Any], tenant: str, source: Source,
              not_after_ms: int | None) -> _Envelope:
    for name in _ENVELOPE:
        if obj.get(name) is None:
            raise _Reject("missing_field", f"'{name}' is required")
    kind = obj["type"]
    if not isinstance(kind, str):
        raise _Reject("bad_value", "'type' must be a string")
    if kind not in INTERACTION_TYPES and kind not in AGENT_TYPES:
        raise _Reject("unknown_type", f"type {kind[:60]!r} is not in the contract")
    [event_id] = _texts(obj, _EVENT_ID)
    ts, ts_ms = _timestamp(obj["ts"], not_after_ms)
    [media] = _texts(obj, _MEDIA)
    seq = obj["seq"]
    if type(seq) is not int or not 0 <= seq <= MAX_SEQ:
        raise _Reject("bad_value", "'seq' must be an integer in [0, 2^63)")
    if not isinstance(obj["tenant"], str) or not obj["tenant"]:
        raise _Reject("bad_value", "'tenant' must be a non-empty string")
    if obj["tenant"] != tenant:
        raise _Reject("wrong_tenant", f"tenant {obj['tenant'][:60]!r} is not {tenant!r}")
    if (kind in AGENT_TYPES) != source.agents:
        raise _Reject("wrong_topic", f"{kind} does not belong on a "
                      f"{'agents' if source.agents else 'interactions'} topic")
    if (media in DIGITAL_MEDIA) != (source.channel == "digital"):
        raise _Reject("wrong_topic", f"media {media!r} does not belong on a "
                      f"{source.channel} topic")
    return event_id, kind, ts, ts_ms, tenant, media, seq  # type: ignore[return-value]


_EVENT_ID, _MEDIA = (_Text("event_id"),), (_Text("media", allowed=MEDIA),)


def _interaction_texts(kind: str, voice: bool) -> tuple[tuple[_Text, ...], tuple[_Text, ...]]:
    """The string fields of an interaction event: up to ``agent_login``, and after it (a
    party event needs ``dn`` or ``agent_login``, checked between the two)."""
    party = kind in _PARTY_TYPES
    return ((_Text("interaction_id", required=True),
             _Text("dn", required=kind in _DN_TYPES or (voice and party)),
             _Text("agent_login")),
            (_Text("direction", allowed=DIRECTIONS), _Text("from"), _Text("to"),
             _Text("cause", allowed=CAUSES, default="normal"),
             _Text("target", required=kind == "EventDiverted"), _Text("consult_of"),
             _Text("from_interaction_id", required=kind in _JOINING_TYPES)))


_INTERACTION_TEXTS = {(kind, voice): _interaction_texts(kind, voice)
                      for kind in INTERACTION_TYPES for voice in (True, False)}
_AGENT_TEXTS = (_Text("agent_login", required=True), _Text("dn"), _Text("reason"),
                _Text("workmode", allowed=WORKMODES, default="NotReady"))


def _interaction(obj: dict[str, Any], envelope: _Envelope) -> InteractionEvent:
    kind, media = envelope[1], envelope[5]
    voice = media == "voice"
    if not voice and kind in VOICE_ONLY_TYPES:
        raise _Reject("bad_value", f"{kind} exists for voice only")
    who, rest = _INTERACTION_TEXTS[kind, voice]
    interaction_id, dn, agent_login = _texts(obj, who)
    if dn is None and agent_login is None and kind in _PARTY_TYPES:
        raise _Reject("missing_field", f"{kind} needs 'dn' or 'agent_login'")
    direction, source, target_address, cause, target, consult_of, joined_from = _texts(obj, rest)
    user_data = obj.get("user_data")
    problem = None if user_data is None else _user_data_problem(user_data)
    # required fields and those with a default are never None: _texts says so
    return InteractionEvent(
        *envelope, interaction_id, dn, agent_login, direction,  # type: ignore[arg-type]
        source, target_address, cause, target, consult_of,  # type: ignore[arg-type]
        joined_from, None if problem else user_data, problem)


def _user_data_problem(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "'user_data' is not an object"
    if len(value) > _USER_DATA_KEYS:
        return f"'user_data' has {len(value)} keys, more than {_USER_DATA_KEYS}"
    for key, item in value.items():
        if not 1 <= len(key) <= _USER_DATA_KEY_LENGTH:
            return f"user_data key {key[:70]!r} is not 1 to {_USER_DATA_KEY_LENGTH} characters"
        if isinstance(item, str) and len(item) > _USER_DATA_TEXT_LENGTH:
            return f"user_data[{key!r}] is longer than {_USER_DATA_TEXT_LENGTH} characters"
        if not (item is None or isinstance(item, (str, bool, int, float))):
            return (f"user_data[{key!r}] is a {type(item).__name__}, not a string, number, "
                    f"true/false or null")
        if "\x00" in key or isinstance(item, str) and "\x00" in item:
            return f"user_data[{key!r}] holds the character U+0000"
    return None


def _agent(obj: dict[str, Any], envelope: _Envelope) -> AgentEvent:
    agent_login, dn, reason, workmode = _texts(obj, _AGENT_TEXTS)
    return AgentEvent(*envelope, agent_login, dn, reason, workmode)  # type: ignore[arg-type]


def decode(value: bytes | None, source: Source, tenant: str,
           not_after_ms: int | None = None) -> Event | Rejection:
    """The event in ``value``, read from a topic of ``source``, or why it is rejected.
    ``not_after_ms``: the latest ``ts`` accepted (the worker's clock plus
    ``GIM_MAX_CLOCK_SKEW``), so that one event from a wrong clock cannot move the event-time
    clock past every open interaction; None checks only the contract's range."""
    event = None if value is None else vouched(value, source, tenant, not_after_ms)
    return event if event is not None else check(value, source, tenant, not_after_ms)


def check(value: bytes | None, source: Source, tenant: str,
          not_after_ms: int | None = None) -> Event | Rejection:
    """:func:`decode` by the checks alone: the contract's reasons, in their order."""
    try:
        obj = orjson.loads(value) if value is not None else None
    except orjson.JSONDecodeError as exc:
        return Rejection("not_json", f"not JSON: {exc}")
    if not isinstance(obj, dict):
        return Rejection("not_json", "not a JSON object")
    try:
        envelope = _envelope(obj, tenant, source, not_after_ms)
        return (_agent if source.agents else _interaction)(obj, envelope)
    except _Reject as exc:
        return exc.rejection


# Per interaction type and voice or not: the fields it requires, by the checks' own table.
_REQUIRED = {key: tuple(spec.name for spec in who + rest if spec.required)
             for key, (who, rest) in _INTERACTION_TEXTS.items()}


def vouched(value: bytes, source: Source, tenant: str,
             not_after_ms: int | None) -> Event | None:
    """The event in ``value`` if the fast path finds it valid; None leaves it to the checks.
    What msgspec cannot see is checked here, as :func:`check` does: U+0000 (any escape of it
    sends the message to the checks), required fields, tenant, topic, ``ts``, user_data."""
    if b"\\u0000" in value:
        return None
    try:
        w = (wire.AGENTS if source.agents else wire.INTERACTIONS).decode(value)
    except msgspec.MsgspecError:
        return None
    if (w.event_id is None or w.type is None or w.tenant != tenant or w.media is None
            or w.seq is None or w.ts is None
            or (w.media in DIGITAL_MEDIA) != (source.channel == "digital")):
        return None
    try:
        ts, ts_ms = _timestamp(w.ts, not_after_ms)
    except _Reject:
        return None
    envelope = (w.event_id, w.type, ts, ts_ms, tenant, w.media, w.seq)
    if source.agents:
        if w.agent_login is None:
            return None
        return AgentEvent(*envelope, w.agent_login, w.dn, w.reason, w.workmode or "NotReady")
    voice = w.media == "voice"
    if ((not voice and w.type in VOICE_ONLY_TYPES)
            or any(getattr(w, name) is None for name in _REQUIRED[w.type, voice])
            or (w.dn is None and w.agent_login is None and w.type in _PARTY_TYPES)):
        return None
    user_data, problem = None, None
    if w.user_data:
        try:
            user_data = orjson.loads(memoryview(w.user_data))
        except orjson.JSONDecodeError:
            return None
        problem = None if user_data is None else _user_data_problem(user_data)
    return InteractionEvent(
        *envelope, w.interaction_id, w.dn, w.agent_login, w.direction, w.source_address,
        w.target_address, w.cause or "normal", w.target, w.consult_of,
        w.from_interaction_id, None if problem else user_data, problem)
