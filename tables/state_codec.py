"""Bytes for the state the tables hold, and back.

A stored value is ``{"format": 1, "state": ..., "outbox": [...]}``: the state of one key,
and an outbox. The GSP writes a state only once Kafka has acknowledged the output of the
events in it, so the outbox it writes is empty. Versions before the batch engine wrote the
state first, with what its latest events sent (each entry with the input topic and offset
that caused it) until Kafka had it; after a crash of such a version, an event read again
re-sends what the outbox holds for its offset. Such entries are read, re-sent when their
offset comes again, and kept until it is committed.

Every stored value says its ``format``; one without is format 1, as written before values
carried it. A worker refuses a value of a newer format than it knows (a downgrade) rather
than misread it: the operator runs the newer version again, or replays under a new app id.

orjson writes the dataclasses as they are; reading rebuilds them by hand, which is faster
and clearer than a generic reflective decoder.
"""

from __future__ import annotations

from typing import Any

import orjson
from gim_faust.transforms.after_call_work import Interval, Join, Pending
from gim_faust.transforms.agent_state import AgentState, CurrentState, MediaState, Session
from gim_faust.transforms.interaction import Ended, InteractionState, Party, Segment

from gim_faust.errors import FatalError
from gim_faust.facts import InteractionResourceFact, from_record, to_record

FORMAT = 1

# One message sent: (topic, key, value).
Sent = tuple[str, bytes, bytes]
# One outbox entry: [input topic, input offset, [[topic, key, value], ...]].
Outbox = list[list[Any]]


def pack(state: Any, outbox: Outbox) -> bytes:
    return orjson.dumps({"format": FORMAT, "state": state, "outbox": outbox})


class NewerStateFormat(FatalError):
    """A stored state written by a newer gim-faust than this one."""


def unpack(data: bytes) -> tuple[dict[str, Any], Outbox]:
    raw = orjson.loads(data)
    if raw.get("format", 1) > FORMAT:
        raise NewerStateFormat(
            f"a stored GSP state has format {raw['format']}, this gim-faust reads up to "
            f"{FORMAT}: run the newer version, or replay under a new GIM_GSP_APP_ID "
            "(docs/gsp.md, 'Upgrades')")
    # Entries written before they named their input topic ([offset, sent]) are dropped: a
    # worker stopped cleanly for the upgrade has committed their offsets.
    return raw["state"], [entry for entry in raw["outbox"] if len(entry) == 3]


def sent_at(outbox: Outbox, topic: str, offset: int) -> list[Sent]:
    """What the message at ``topic``/``offset`` sent, as the outbox recorded it."""
    return [(t, key.encode(), orjson.dumps(value))
            for entry_topic, entry_offset, sent in outbox
            if entry_offset == offset and entry_topic == topic
            for t, key, value in sent]


def interaction_from(raw: dict[str, Any]) -> InteractionState | Ended:
    if "interaction_id" not in raw:
        return Ended(**raw)
    raw["segments"] = [Segment(**s) for s in raw["segments"]]
    raw["parties"] = [Party(**p) for p in raw["parties"]]
    return InteractionState(**raw)


def agent_from(raw: dict[str, Any]) -> AgentState:
    return AgentState(raw["agent_login"], raw["last_seq"],
                      {media: _media(m) for media, m in raw["media"].items()})


def _media(raw: dict[str, Any]) -> MediaState:
    join = raw["join"]
    return MediaState(
        raw["resource_key"],
        Session(**raw["session"]) if raw["session"] else None,
        CurrentState(**raw["state"]) if raw["state"] else None,
        Join([Interval(**i) for i in join["intervals"]],
             {k: Pending(p["end_ms"], tuple(p["emitted"]) if p["emitted"] else None,
                         p["revision"]) for k, p in join["parties"].items()},
             join["progress_ms"], join["logged_out_ms"]))


def encode_fact(fact: InteractionResourceFact) -> bytes:
    return orjson.dumps(to_record(fact))


def decode_fact(data: bytes) -> InteractionResourceFact:
    return from_record(orjson.loads(data))  # type: ignore[return-value]
