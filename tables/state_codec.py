"""Bytes for the state the tables hold, and back.

orjson writes the dataclasses as they are; reading rebuilds them by hand, which is both
faster and clearer than a generic reflective decoder. Each encoded value starts with a tag
so a table value can never be mistaken for another kind.
"""

from __future__ import annotations

from typing import Any

import orjson

from gim_faust.facts import InteractionResourceFact, from_record, to_record
from gim_faust.transforms.after_call_work import Interval, Join, Pending
from gim_faust.transforms.agent_state import AgentState, CurrentState, MediaState, Session
from gim_faust.transforms.interaction import Ended, InteractionState, Party, Segment


def encode_interaction(state: InteractionState | Ended) -> bytes:
    tag = "open" if isinstance(state, InteractionState) else "ended"
    return orjson.dumps({"tag": tag, "state": state})


def decode_interaction(data: bytes) -> InteractionState | Ended:
    raw = orjson.loads(data)
    state = raw["state"]
    if raw["tag"] == "ended":
        return Ended(**state)
    state["segments"] = [Segment(**s) for s in state["segments"]]
    state["parties"] = [Party(**p) for p in state["parties"]]
    return InteractionState(**state)


def encode_agent(state: AgentState) -> bytes:
    return orjson.dumps(state)


def decode_agent(data: bytes) -> AgentState:
    raw = orjson.loads(data)
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
