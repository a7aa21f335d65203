"""The one place where raw Kafka bytes become events (contract ``events.md``, "Bad input").

:func:`decode` never raises: it returns an event, or a :class:`Rejection` that carries one of
the contract's reasons. The checks run in a fixed order, so a message with several faults
always gets the same reason: JSON, required envelope fields, type, envelope values, tenant,
topic, then the fields of the type.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal, overload

import orjson

from gim_faust.models.events import (
    AGENT_TYPES,
    CAUSES,
    DIGITAL_MEDIA,
    DIRECTIONS,
    INTERACTION_TYPES,
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
# The contract's limits (events.md, "Bad input"): identifiers hold 1 to 128 characters, the
# addresses at most 256; no string holds U+0000 (PostgreSQL text cannot); ts lies in
# [2000-01-01, 2100-01-01).
_LONGEST = {**dict.fromkeys(("event_id", "interaction_id", "agent_login", "dn", "target",
                             "consult_of", "from_interaction_id"), 128),
            "from": 256, "to": 256}
# user_data (contract user-data.md): at most 100 keys of 1 to 64 characters, strings of at
# most 1,024 (and, like every string, without U+0000).
_USER_DATA_KEYS, _USER_DATA_KEY_LENGTH, _USER_DATA_TEXT_LENGTH = 100, 64, 1024
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


@overload
def _text(obj: dict[str, Any], name: str, required: Literal[True]) -> str: ...


@overload
def _text(obj: dict[str, Any], name: str, required: bool = False) -> str | None: ...


def _text(obj: dict[str, Any], name: str, required: bool = False) -> str | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise _Reject("missing_field", f"'{name}' is required")
        return None
    if not isinstance(value, str) or not value:
        raise _Reject("bad_value", f"'{name}' must be a non-empty string")
    if len(value) > _LONGEST.get(name, len(value)):
        raise _Reject("bad_value", f"'{name}' is longer than {_LONGEST[name]} characters")
    if "\x00" in value:
        raise _Reject("bad_value", f"'{name}' holds the character U+0000")
    return value


def _one_of(obj: dict[str, Any], name: str, allowed: frozenset[str]) -> str | None:
    value = _text(obj, name)
    if value is not None and value not in allowed:
        raise _Reject("bad_value", f"'{name}'={value!r} is not one of {sorted(allowed)}")
    return value


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
    event_id = _text(obj, "event_id", required=True)
    ts, ts_ms = _timestamp(obj["ts"], not_after_ms)
    media = _one_of(obj, "media", MEDIA)
    assert media is not None  # the loop above requires every envelope field
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
    return event_id, kind, ts, ts_ms, tenant, media, seq


def _interaction(obj: dict[str, Any], envelope: _Envelope) -> InteractionEvent:
    kind, media = envelope[1], envelope[5]
    voice = media == "voice"
    if not voice and kind in VOICE_ONLY_TYPES:
        raise _Reject("bad_value", f"{kind} exists for voice only")
    interaction_id = _text(obj, "interaction_id", required=True)
    dn = _text(obj, "dn", required=kind in _DN_TYPES or (voice and kind in _PARTY_TYPES))
    agent_login = _text(obj, "agent_login")
    if kind in _PARTY_TYPES and dn is None and agent_login is None:
        raise _Reject("missing_field", f"{kind} needs 'dn' or 'agent_login'")
    return InteractionEvent(
        *envelope, interaction_id=interaction_id, dn=dn, agent_login=agent_login,
        direction=_one_of(obj, "direction", DIRECTIONS),
        source_address=_text(obj, "from"), target_address=_text(obj, "to"),
        cause=_one_of(obj, "cause", CAUSES) or "normal",
        target=_text(obj, "target", required=kind == "EventDiverted"),
        consult_of=_text(obj, "consult_of"),
        from_interaction_id=_text(obj, "from_interaction_id", required=kind in _JOINING_TYPES),
        **_user_data(obj.get("user_data")))


def _user_data(value: Any) -> dict[str, Any]:
    """``user_data`` and ``bad_user_data`` of an event (contract user-data.md, "In the
    events"): an invalid object does not reject the event, it is applied without it."""
    if value is None:
        return {}
    problem = _user_data_problem(value)
    return {"bad_user_data": problem} if problem else {"user_data": value}


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
    return AgentEvent(
        *envelope, agent_login=_text(obj, "agent_login", required=True),
        dn=_text(obj, "dn"), reason=_text(obj, "reason"),
        workmode=_one_of(obj, "workmode", WORKMODES) or "NotReady")


def decode(value: bytes | None, source: Source, tenant: str,
           not_after_ms: int | None = None) -> Event | Rejection:
    """The event in ``value``, read from a topic of ``source``, or why it is rejected.
    ``not_after_ms``: the latest ``ts`` accepted (the worker's clock plus
    ``GIM_MAX_CLOCK_SKEW``), so that one event from a wrong clock cannot move the event-time
    clock past every open interaction; None checks only the contract's range."""
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
