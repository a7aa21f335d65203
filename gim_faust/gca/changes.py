"""What changed between two readings of configuration, and how a change goes on the config topic.

Pure: objects in (as :func:`gim_faust.gca.objects.build_objects` makes them), changes and
record bytes out. The service decides when to call it; nothing here touches Kafka.

Records on ``<prefix>.gca.config`` (compacted, so the newest record of a key is the object):

- key: ``"<kind>:<dbid>"`` (UTF-8), e.g. ``person:1001``;
- value: JSON ``{"schema": 1, "tenant", "kind", "dbid", "op", "object", "observed_ts"}`` with
  ``op`` ``created`` or ``changed`` and ``observed_ts`` the UTC time (milliseconds) GCA read the
  configuration that holds this version; a deletion is a tombstone (value ``None``), so
  compaction eventually forgets the object.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from gim_faust.gca.objects import ObjectKey

CREATED, CHANGED, DELETED = "created", "changed", "deleted"
RECORD_SCHEMA = 1

# Publication order of a batch: what others refer to goes first (a login names its person, a
# DN its switch), deletions go last and in the reverse order. With the topic's one partition a
# consumer applying records in order never sees a reference to an object it has not seen yet.
KIND_ORDER: tuple[str, ...] = ("switch", "person", "dn", "place", "skill", "group",
                               "agent_login", "enum_value")


def _rank(kind: str) -> int:
    return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)


@dataclass(frozen=True, slots=True)
class Change:
    """One object that was created, changed or deleted; ``obj`` is None for a deletion."""

    kind: str
    dbid: int
    op: str
    obj: dict[str, Any] | None

    @property
    def key(self) -> ObjectKey:
        return (self.kind, self.dbid)


def diff(previous: Mapping[ObjectKey, Any], current: Mapping[ObjectKey, Any]) -> list[Change]:
    """The changes that turn ``previous`` into ``current``, in publication order.

    Objects are compared by value, so an object rebuilt from the same rows (or read back from
    a snapshot's JSON) is unchanged.
    """
    upserts = [Change(k[0], k[1], CREATED if k not in previous else CHANGED, obj)
               for k, obj in current.items()
               if k not in previous or previous[k] != obj]
    deletes = [Change(k[0], k[1], DELETED, None) for k in previous if k not in current]
    upserts.sort(key=lambda c: (_rank(c.kind), c.kind, c.dbid))
    deletes.sort(key=lambda c: (-_rank(c.kind), c.kind, c.dbid))
    return upserts + deletes


def record_key(kind: str, dbid: int) -> bytes:
    return f"{kind}:{dbid}".encode()


def format_ts(ts: datetime) -> str:
    """``2026-11-02T09:07:12.123Z``: UTC with milliseconds (contract README, "Time")."""
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def record_value(change: Change, tenant: str, observed: datetime) -> bytes | None:
    """The record value of ``change``: JSON, or None (a tombstone) for a deletion."""
    if change.obj is None:
        return None
    return orjson.dumps({"schema": RECORD_SCHEMA, "tenant": tenant, "kind": change.kind,
                         "dbid": change.dbid, "op": change.op, "object": change.obj,
                         "observed_ts": format_ts(observed)}, option=orjson.OPT_SORT_KEYS)


def records(changes: Iterable[Change], tenant: str,
            observed: datetime) -> list[tuple[bytes, bytes | None]]:
    """``(key, value)`` of every change, in the order given."""
    return [(record_key(c.kind, c.dbid), record_value(c, tenant, observed)) for c in changes]


def parse_record(key: bytes, value: bytes | None) -> tuple[str, int, dict[str, Any] | None]:
    """``(kind, dbid, object or None)`` of a config-topic record; ValueError if malformed.

    What a consumer (the GSP, or GCA rebuilding its state) passes to ``ConfigView.apply``.
    """
    kind, sep, dbid = key.decode().partition(":")
    if not sep or not kind or not dbid.lstrip("-").isdigit():
        raise ValueError(f"config record key {key!r} is not '<kind>:<dbid>'")
    if value is None:
        return kind, int(dbid), None
    body = orjson.loads(value)
    if not isinstance(body, dict) or not isinstance(body.get("object"), dict):
        raise ValueError(f"config record {key!r} has no 'object'")
    return kind, int(dbid), body["object"]
