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

orjson writes the dataclasses as they are; reading rebuilds them from the classes' own
fields and type hints (:func:`rebuild`, one plan per class, made once), so a new field
needs no edit here, and a state stored before the field existed loads with its default.
The after-call-work join is the one class that writes and reads its JSON itself
(``stored`` and ``from_stored``): it keeps the JSON of its oldest part between writes.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import orjson
from gim_faust.transforms.agent_state import AgentState
from gim_faust.transforms.interaction_state import Ended, InteractionState

from gim_faust.errors import FatalError
from gim_faust.models.facts import InteractionResourceFact, from_record, to_record

FORMAT = 1

# One message sent: (topic, key, value).
Sent = tuple[str, bytes, bytes]
# One outbox entry: [input topic, input offset, [[topic, key, value], ...]].
Outbox = list[list[Any]]


def pack(state: Any, outbox: Outbox) -> bytes:
    return orjson.dumps({"format": FORMAT, "state": state, "outbox": outbox}, default=_stored)


def _stored(value: Any) -> orjson.Fragment:
    """The JSON of what orjson does not walk itself: a class that keeps part of its own
    (the after-call-work join, ``transforms/sealed.py``)."""
    stored = getattr(value, "stored", None)
    if stored is None:
        raise TypeError(f"{type(value).__name__} cannot be stored")
    fragment: orjson.Fragment = stored()
    return fragment


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
    if "interaction_id" in raw:
        return rebuild(InteractionState, raw)
    return rebuild(Ended, raw)


def agent_from(raw: dict[str, Any]) -> AgentState:
    return rebuild(AgentState, raw)


T = TypeVar("T")
Convert = Callable[[Any], Any]


def rebuild(cls: type[T], raw: Mapping[str, Any]) -> T:
    """The dataclass ``cls`` from what orjson wrote of it: fields by name, nested
    dataclasses, lists, dicts, tuples and optionals rebuilt by their type hints. A field
    the stored value lacks gets its default (stored before the field existed)."""
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _PLANS[cls] = _plan(cls)
    return cls(**{name: value if (convert := plan[name]) is None or value is None
                  else convert(value)
                  for name, value in raw.items()})


_PLANS: dict[type, dict[str, Convert | None]] = {}


def _plan(cls: type) -> dict[str, Convert | None]:
    """Per field of ``cls``: how to rebuild its stored value (None: as stored)."""
    hints = typing.get_type_hints(cls)
    return {f.name: _converter(hints[f.name]) for f in dataclasses.fields(cls)}


def _converter(hint: Any) -> Convert | None:
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return functools.partial(rebuild, hint)
    if isinstance(hint, type) and hasattr(hint, "from_stored"):
        return functools.partial(hint.from_stored, rebuild=rebuild)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        # X | None: None stays. A union of scalars (str | int) is stored as it is.
        converters = [_converter(arg) for arg in args if arg is not type(None)]
        if len(converters) == 1:
            return converters[0]
        assert not any(converters), f"cannot rebuild a union of containers: {hint}"
        return None
    if origin is tuple:
        return tuple
    item = _converter(args[-1]) if origin in (list, dict) else None
    if item is None:
        return None
    if origin is list:
        return lambda values: [item(value) for value in values]
    return lambda values: {key: item(value) for key, value in values.items()}


def encode_fact(fact: InteractionResourceFact) -> bytes:
    return orjson.dumps(to_record(fact))


def decode_fact(data: bytes) -> InteractionResourceFact:
    return from_record(orjson.loads(data))  # type: ignore[return-value]
