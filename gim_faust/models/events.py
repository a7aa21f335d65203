"""Typed raw events (contract ``events.md``): what the codec hands to the transforms.

Instants are kept twice on purpose: ``ts`` is the aware UTC datetime the contract speaks of,
``ts_ms`` the same instant in Unix milliseconds, which the transforms add and subtract. Both
come from one parse in the codec, so they never disagree.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import lru_cache

from gim_faust.models.record import record

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ONE_MS = timedelta(milliseconds=1)

INTERACTION_TYPES = frozenset({
    "EventQueued", "EventDiverted", "EventRinging", "EventDialing", "EventEstablished",
    "EventHeld", "EventRetrieved", "EventReleased", "EventAbandoned", "EventInteractionEnded",
    "EventAttachedDataChanged", "EventPartyChanged", "EventPartyAdded",
})
# Consultations are voice only in contract v2 (consultations.md).
VOICE_ONLY_TYPES = frozenset({"EventDialing", "EventHeld", "EventRetrieved", "EventPartyChanged",
                              "EventPartyAdded"})
AGENT_TYPES = frozenset({"EventAgentLogin", "EventAgentReady", "EventAgentNotReady",
                         "EventAgentLogout"})
DIGITAL_MEDIA = frozenset({"chat", "email"})
MEDIA = frozenset({"voice"}) | DIGITAL_MEDIA
DIRECTIONS = frozenset({"inbound", "outbound", "internal"})
CAUSES = frozenset({"normal", "transfer", "redirect", "conference"})
WORKMODES = frozenset({"NotReady", "AfterCallWork"})
# The longest string of each field that has a limit (events.md, "Bad input"): identifiers
# hold at most 128 characters, the addresses at most 256. Both decoders read it.
LONGEST = {**dict.fromkeys(("event_id", "interaction_id", "agent_login", "dn", "target",
                            "consult_of", "from_interaction_id"), 128),
           "from": 256, "to": 256}
# The highest seq the contract allows (events.md, "Bad input": below 2^63).
MAX_SEQ = 2**63 - 1
# A value of an event's user_data: null removes the key (contract user-data.md).
UserDataValue = str | int | float | bool | None


def to_ms(ts: datetime) -> int:
    """Unix milliseconds of an aware datetime, exactly (no float rounding)."""
    return (ts - EPOCH) // ONE_MS


@lru_cache(maxsize=1 << 16)
def from_ms(ts_ms: int) -> datetime:
    """The aware UTC datetime of Unix milliseconds. Cached: every version of a fact row
    repeats the instants of the versions before it (its start above all)."""
    return EPOCH + timedelta(milliseconds=ts_ms)


def parse_utc(value: object) -> datetime:
    """An RFC 3339 timestamp with its offset (``2026-11-02T08:00:36.043Z``) as an aware UTC
    datetime: the one parser of timestamps that arrive from outside (raw events, fact
    records). :class:`ValueError` says what is wrong, for the caller's rejection."""
    if not isinstance(value, str) or "T" not in value:
        raise ValueError("is not an RFC 3339 timestamp")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("is not an RFC 3339 timestamp") from None
    if ts.tzinfo is None:
        raise ValueError("has no time zone")
    if ts.tzinfo is timezone.utc:  # "Z" or "+00:00": already what is asked for
        return ts
    try:
        return ts.astimezone(timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before datetime.min in UTC
        raise ValueError("is out of range") from None


@record
class InteractionEvent:
    """A call, chat or email event; one of :data:`INTERACTION_TYPES`."""

    event_id: str
    type: str
    ts: datetime
    ts_ms: int
    tenant: str
    media: str
    seq: int
    interaction_id: str
    dn: str | None = None
    agent_login: str | None = None
    direction: str | None = None
    source_address: str | None = None
    target_address: str | None = None
    cause: str = "normal"
    target: str | None = None
    consult_of: str | None = None
    from_interaction_id: str | None = None
    # contract user-data.md: the event's valid user_data; when it was not valid, why (the
    # event is applied without it and also rejected with bad_user_data)
    user_data: dict[str, UserDataValue] | None = None
    bad_user_data: str | None = None

    @property
    def key(self) -> str:
        return self.interaction_id


@record
class AgentEvent:
    """An agent's login, state change or logout on one media."""

    event_id: str
    type: str
    ts: datetime
    ts_ms: int
    tenant: str
    media: str
    seq: int
    agent_login: str
    dn: str | None = None
    reason: str | None = None
    workmode: str = "NotReady"

    @property
    def key(self) -> str:
        return self.agent_login


Event = InteractionEvent | AgentEvent
