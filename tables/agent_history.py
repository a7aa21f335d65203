"""An agent's stored value, with the history of its after-call-work joins kept apart by hour.

A day of a join's history (its AFTER_CALL_WORK intervals and ended parties, 7-9 KB) is most
of an agent's state, and each party the agent takes changes it twice or more. Stored inside
the agent's value, the whole day was encoded, put in RocksDB and sent to the changelog by
every batch that touched the agent: most of what the GSP wrote, and on a busy morning it
delayed facts by seconds (docs/gsp.md, "Freshness"). So the agents table holds two kinds of
keys (format 2):

- ``<login>``: the agent's state; each join without ``intervals`` and ``parties``, but with
  ``history``: for each hour that holds some, which of its two slots (0 or 1) holds them;
- ``<login>\0<media>\0<hour>\0<slot>``: the intervals that started and the parties that
  ended in that hour (hours since the epoch), written only when the join says the hour
  changed (``Join.hours``).

The slot an agent value names never changes while it names it: a changed hour goes to its
other slot, written before the agent value that names it. The changelog and RocksDB receive
them in that order, so whatever a kill -9 interrupts, the agent value names keys that exist,
holding exactly what it was written with. The slot no longer named is left as it is (it is
written over next time, instead of a delete per write: Faust's changelog costs per record);
both go when the hour empties. No login holds U+0000 (the decoder rejects it), so no login
is a history key.

A value of format 1 (before 2026-12-07) holds its joins' histories inline: it loads as it
is, and is written this way the next time the agent changes.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import orjson
from gim_faust.tables import state_codec
from gim_faust.tables.state_codec import Outbox
from gim_faust.transforms import after_call_work
from gim_faust.transforms.after_call_work import Join
from gim_faust.transforms.agent_state import AgentState

from gim_faust.errors import FatalError

HISTORY = ("intervals", "parties")


# What the table holds of one join: for each hour, the join's count of changes when it was
# written and the slot the agent value names (None: inline, a value of format 1).
Written = dict[int, tuple[int, int | None]]


def history_key(key: bytes, media: str, hour: int, slot: int) -> bytes:
    return b"\0".join((key, media.encode(), str(hour).encode(), str(slot).encode()))


class MissingHistory(FatalError):
    """An agent value names a history key the table does not hold."""


class AgentValues:
    """How the agents table's values are read and written (``gsp/batch.py``). ``written``
    is the batch's record of the key, by media: what its last read or write stored."""

    def load(self, key: bytes, raw: bytes, read: Callable[[bytes], bytes | None],
             written: dict[str, Written]) -> tuple[AgentState, Outbox]:
        state, outbox = state_codec.unpack(raw)
        slots: dict[str, dict[int, int]] = {}
        for media, ms in state.get("media", {}).items():
            join = ms.get("join") or {}
            if "history" not in join:
                continue  # format 1: inline
            slots[media] = {int(hour): n for hour, n in join.pop("history").items()}
            join["intervals"], join["parties"] = [], {}
            for hour, slot in sorted(slots[media].items()):
                chunk = read(history_key(key, media, hour, slot))
                if chunk is None:
                    raise MissingHistory(f"{key!r} names slot {slot} of hour {hour} of "
                                         f"{media}, which this table does not hold")
                intervals, parties = orjson.loads(chunk)
                join["intervals"] += intervals
                join["parties"].update(parties)
        agent = state_codec.agent_from(state)
        for media, ms in agent.media.items():
            stored = slots.get(media)
            # inline (format 1): in no key yet, so every hour is written at the next write
            written[media] = {hour: (0, stored[hour]) if stored is not None else (-1, None)
                              for hour in ms.join.hours}
        return agent, outbox

    def dump(self, key: bytes, state: AgentState, outbox: Outbox,
             written: dict[str, Written]) -> list[tuple[bytes, bytes | None]]:
        before, after = [], []
        named: dict[int, dict[str, int | None]] = {}  # by the join's id: its hours' slots
        for media, ms in state.media.items():
            join, known = ms.join, written.setdefault(media, {})
            for hour in known.keys() - join.hours.keys():  # emptied
                if known.pop(hour)[1] is not None:
                    after += [(history_key(key, media, hour, slot), None) for slot in (0, 1)]
            for hour, changes in join.hours.items():
                was, slot = known.get(hour, (None, None))
                if was == changes:
                    continue
                other = 0 if slot is None else 1 - slot
                before.append((history_key(key, media, hour, other),
                               orjson.dumps(after_call_work.hour_of(join, hour))))
                known[hour] = (changes, other)
            named[id(join)] = {str(hour): slot for hour, (_, slot) in known.items()}
        value = orjson.dumps({"format": state_codec.FORMAT, "state": state, "outbox": outbox},
                             default=functools.partial(_fields, named),
                             option=orjson.OPT_PASSTHROUGH_DATACLASS)
        return [*before, (key, value), *after]

    def rewrite(self, written: dict[str, Written]) -> None:
        """Every hour is written again, to its other slot (a replay: RocksDB may hold what
        the changelog never received)."""
        for known in written.values():
            known.update({hour: (-1, slot) for hour, (_, slot) in known.items()})

    def deleted(self, key: bytes, written: dict[str, Written]) -> list[bytes]:
        """The history keys to delete with the agent's."""
        return [history_key(key, media, hour, slot) for media, known in written.items()
                for hour, (_, named) in known.items() if named is not None for slot in (0, 1)]


def _fields(slots: dict[int, dict[str, int | None]], obj: Any) -> dict[str, Any]:
    """A dataclass of the agent's state as orjson would write it, but a join: its history
    replaced by the slots that hold it."""
    if not dataclasses.is_dataclass(obj):
        raise TypeError(f"{type(obj).__name__} is not part of an agent's state")
    names = _STORED.get(type(obj))
    if names is None:
        names = _STORED[type(obj)] = tuple(
            f.name for f in dataclasses.fields(obj)
            if f.metadata.get("stored", True) and not (isinstance(obj, Join) and f.name in HISTORY))
    fields = {name: getattr(obj, name) for name in names}
    if isinstance(obj, Join):
        fields["history"] = slots[id(obj)]
    return fields


_STORED: dict[type, tuple[str, ...]] = {}
