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
    ADDRESS_LENGTH,
    AGENT_TYPES,
    CAUSES,
    DIRECTIONS,
    IDENTIFIER_LENGTH,
    INTERACTION_TYPES,
    MAX_SEQ,
    MEDIA,
    WORKMODES,
)

# The contract's limits (events.md, "Bad input"); strings are never empty.
_IDENTIFIER = Annotated[str, msgspec.Meta(min_length=1, max_length=IDENTIFIER_LENGTH)]
_ADDRESS = Annotated[str, msgspec.Meta(min_length=1, max_length=ADDRESS_LENGTH)]
_TEXT = Annotated[str, msgspec.Meta(min_length=1)]
_SEQ = Annotated[int, msgspec.Meta(ge=0, le=MAX_SEQ)]


def _one_of(values: frozenset[str]) -> Any:
    return Literal[tuple(sorted(values))]


def _struct(name: str, kinds: frozenset[str], fields: list[tuple[str, Any]],
            raw: tuple[str, ...] = ()) -> Any:
    """A struct of the envelope and ``fields``, every one optional (null reads as absent,
    as in the contract; which are required is the decoder's business), and the ``raw``
    fields' JSON as it is (``msgspec.Raw``, empty when absent)."""
    envelope = [("event_id", _IDENTIFIER), ("type", _one_of(kinds)), ("ts", str),
                ("tenant", _TEXT), ("media", _one_of(MEDIA)), ("seq", _SEQ)]
    return msgspec.defstruct(
        name, [(field, kind | None, None) for field, kind in envelope + fields]
        + [(field, msgspec.Raw, msgspec.Raw()) for field in raw],
        forbid_unknown_fields=True, rename={"source_address": "from", "target_address": "to"})


InteractionWire = _struct("InteractionWire", INTERACTION_TYPES, [
    ("interaction_id", _IDENTIFIER), ("dn", _IDENTIFIER), ("agent_login", _IDENTIFIER),
    ("direction", _one_of(DIRECTIONS)), ("source_address", _ADDRESS),
    ("target_address", _ADDRESS), ("cause", _one_of(CAUSES)), ("target", _IDENTIFIER),
    ("consult_of", _IDENTIFIER), ("from_interaction_id", _IDENTIFIER)], raw=("user_data",))
AgentWire = _struct("AgentWire", AGENT_TYPES, [
    ("agent_login", _IDENTIFIER), ("dn", _IDENTIFIER), ("reason", _TEXT),
    ("workmode", _one_of(WORKMODES))])
INTERACTIONS = msgspec.json.Decoder(InteractionWire)
AGENTS = msgspec.json.Decoder(AgentWire)
