"""GCA snapshots in object storage: every object of one reading, and a pointer to the newest.

Layout (contract ``operations.md``, "Object storage layout"), for tenant ``T``:

- ``T/gca/snapshots/<YYYYMMDDTHHMMSS.mmmZ>.json.gz``: gzip JSON
  ``{"format": "gim-gca-snapshot/1", "tenant", "tenant_dbid", "observed_ts", "objects":
  [{"kind", "dbid", "object"}, ...]}``; names sort by time;
- ``T/gca/snapshots/LATEST``: JSON ``{"key", "observed_ts", "objects"}`` naming the newest
  snapshot, so the newest is found without listing everything.

The snapshot is written before the pointer, and each is one atomic object write, so the pointer
never names a half-written or missing snapshot. If it does anyway (the object was deleted by
hand, or an old store lost it), :meth:`SnapshotStore.load_latest` falls back to the newest
snapshot that lists and decodes, which is safe: an older snapshot only makes GCA republish
more.
"""

from __future__ import annotations

import gzip
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from gim_faust.errors import FatalError
from gim_faust.gca.changes import format_ts
from gim_faust.gca.objects import ObjectKey
from gim_faust.objectstore import NotFound, ObjectStore

log = logging.getLogger(__name__)

FORMAT = "gim-gca-snapshot/1"
POINTER = "LATEST"
SUFFIX = ".json.gz"


@dataclass(frozen=True)
class Snapshot:
    tenant: str
    tenant_dbid: int
    observed: datetime
    objects: dict[ObjectKey, dict[str, Any]]


def encode(snapshot: Snapshot) -> bytes:
    body = {"format": FORMAT, "tenant": snapshot.tenant, "tenant_dbid": snapshot.tenant_dbid,
            "observed_ts": format_ts(snapshot.observed),
            "objects": [{"kind": kind, "dbid": dbid, "object": obj}
                        for (kind, dbid), obj in sorted(snapshot.objects.items())]}
    # mtime=0: the same snapshot always gives the same bytes.
    return gzip.compress(orjson.dumps(body, option=orjson.OPT_SORT_KEYS), mtime=0)


def decode(data: bytes) -> Snapshot:
    """The snapshot in ``data``; ValueError if it is not one."""
    try:
        body = orjson.loads(gzip.decompress(data))
    except (OSError, EOFError, orjson.JSONDecodeError) as exc:
        raise ValueError(f"not a gzip JSON snapshot: {exc}") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} document")
    objects = {(o["kind"], int(o["dbid"])): o["object"] for o in body["objects"]}
    return Snapshot(body["tenant"], int(body["tenant_dbid"]),
                    datetime.fromisoformat(body["observed_ts"]), objects)


def snapshot_name(observed: datetime) -> str:
    return observed.strftime("%Y%m%dT%H%M%S.") + f"{observed.microsecond // 1000:03d}Z{SUFFIX}"


class SnapshotStore:
    """The GCA snapshots of one tenant in ``store``. Blocking: call from a worker thread."""

    def __init__(self, store: ObjectStore, tenant: str) -> None:
        self.store, self.tenant = store, tenant
        self.prefix = f"{tenant}/gca/snapshots/"

    @property
    def pointer(self) -> str:
        return self.prefix + POINTER

    def save(self, snapshot: Snapshot) -> str:
        """Writes the snapshot, then the pointer to it; the key of the snapshot."""
        key = self.prefix + snapshot_name(snapshot.observed)
        self.store.put(key, encode(snapshot))
        self.store.put(self.pointer, orjson.dumps(
            {"key": key, "observed_ts": format_ts(snapshot.observed),
             "objects": len(snapshot.objects)}, option=orjson.OPT_INDENT_2))
        return key

    def load_latest(self) -> Snapshot | None:
        """The newest snapshot, or None when the tenant has none yet.

        Raises what the store raises when it cannot answer (never None for "unreachable": a
        missing snapshot would make every object look new, and a wrong one could hide deletions),
        and :class:`FatalError` when snapshots exist but none can be read.
        """
        named: str | None = None
        try:
            named = orjson.loads(self.store.get(self.pointer))["key"]
        except NotFound:
            pass
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            log.warning("snapshot pointer %s is unreadable (%s); looking for the newest "
                        "snapshot instead", self.pointer, exc)
        if named is not None:
            try:
                return self._read(named)
            except NotFound:
                log.warning("snapshot pointer names %s, which does not exist; looking for the "
                            "newest snapshot instead", named)
            except ValueError as exc:
                log.warning("snapshot %s is unreadable (%s); looking for an older one",
                            named, exc)
        candidates = [k for k in self.store.list(self.prefix)
                      if k.endswith(SUFFIX) and k != named]
        for key in reversed(candidates):
            try:
                return self._read(key)
            except (NotFound, ValueError) as exc:
                log.warning("snapshot %s is unreadable (%s); trying an older one", key, exc)
        if candidates or named is not None:
            raise FatalError(f"no snapshot under {self.store.url}/{self.prefix} can be read: "
                             f"move the unreadable ones away to let GCA start from scratch "
                             f"(it then republishes every object)")
        return None

    def _read(self, key: str) -> Snapshot:
        snapshot = decode(self.store.get(key))
        if snapshot.tenant != self.tenant:
            raise ValueError(f"it belongs to tenant {snapshot.tenant!r}")
        return snapshot
