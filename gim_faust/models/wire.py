"""The raw events' JSON as msgspec reads it: the decoder's fast path (``codec.decode``).

msgspec parses a message and checks the contract's types, closed sets and string lengths in
one pass of compiled code, several times faster than ``orjson.loads`` followed by the checks
in Python (docs/gsp.md, "Transforms"). It says only "valid" or "not"; the reason and detail
of a refusal stay the checking decoder's, which every message the fast path does not take
goes to. So the fast path may refuse more than the contract does, never less:

- an unknown field refuses (the contract ignores it, but msgspec would skip it without the
  checks ``orjson`` makes: UTF-8, numbers beyond a double);
- ``user_data`` stays raw here and is read by ``orjson``, like the whole message elsewhere;
- ``ts`` stays a string, parsed by the decoders' one parser (``events.parse_utc``).

Each family is a struct made from the contract's sets (``events.py``), so that the sets
are written once.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from gim_faust.models.events import (
    AGENT_TYPES,
    CAUSES,
    DIRECTIONS,
    INTERACTION_TYPES,
    LONGEST,
    MAX_SEQ,
    MEDIA,
    WORKMODES,
)

_SEQ = Annotated[int, msgspec.Meta(ge=0, le=MAX_SEQ)]


def _text(name: str) -> Any:
    """The string field ``name`` (as the JSON names it): never empty, at most as long as the
    contract's limit for it, if it has one."""
    return Annotated[str, msgspec.Meta(min_length=1, max_length=LONGEST.get(name))]


def _one_of(values: frozenset[str]) -> Any:
    return Literal[tuple(sorted(values))]


def _struct(name: str, kinds: frozenset[str], fields: list[tuple[str, Any]],
            raw: tuple[str, ...] = ()) -> Any:
    """A struct of the envelope and ``fields``, every one optional (null reads as absent,
    as in the contract; which are required is the decoder's business), and the ``raw``
    fields' JSON as it is (``msgspec.Raw``, empty when absent)."""
    envelope = [("event_id", _text("event_id")), ("type", _one_of(kinds)), ("ts", str),
                ("tenant", _text("tenant")), ("media", _one_of(MEDIA)), ("seq", _SEQ)]
    return msgspec.defstruct(
        name, [(field, kind | None, None) for field, kind in envelope + fields]
        + [(field, msgspec.Raw, msgspec.Raw()) for field in raw],
        forbid_unknown_fields=True, rename={"source_address": "from", "target_address": "to"})


InteractionWire = _struct("InteractionWire", INTERACTION_TYPES, [
    *((name, _text(name)) for name in ("interaction_id", "dn", "agent_login")),
    ("direction", _one_of(DIRECTIONS)), ("source_address", _text("from")),
    ("target_address", _text("to")), ("cause", _one_of(CAUSES)),
    *((name, _text(name)) for name in ("target", "consult_of", "from_interaction_id"))],
    raw=("user_data",))
AgentWire = _struct("AgentWire", AGENT_TYPES, [
    *((name, _text(name)) for name in ("agent_login", "dn", "reason")),
    ("workmode", _one_of(WORKMODES))])
INTERACTIONS = msgspec.json.Decoder(InteractionWire)
AGENTS = msgspec.json.Decoder(AgentWire)
