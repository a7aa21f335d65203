"""Bytes for the state the tables hold, and back.

A stored value is ``{"state": ..., "outbox": [...]}``: the state of one key, and the
messages the latest events of that key sent, each with the input offset that caused it.
The outbox is what makes a crash harmless: when an event comes again (the worker died after
saving the state but before its output reached Kafka), the agent re-sends the outbox instead
of losing that output. Entries leave the outbox once their offset is committed.

orjson writes the dataclasses as they are; reading rebuilds them by hand, which is faster
and clearer than a generic reflective decoder.
"""

from __future__ import annotations

from typing import Any

import orjson
from gim_faust.transforms.after_call_work import Interval, Join, Pending
from gim_faust.transforms.agent_state import AgentState, CurrentState, MediaState, Session
from gim_faust.transforms.interaction import Ended, InteractionState, Party, Segment

from gim_faust.facts import InteractionResourceFact, from_record, to_record

# One outbox entry: [input offset, [[topic, key, value], ...]] with key and value as text.
Outbox = list[list[Any]]


def pack(state: Any, outbox: Outbox) -> bytes:
    return orjson.dumps({"state": state, "outbox": outbox})


def unpack(data: bytes) -> tuple[dict[str, Any], Outbox]:
    raw = orjson.loads(data)
    return raw["state"], raw["outbox"]


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
