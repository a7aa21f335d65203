"""Where GSP state snapshots live in object storage, and what their manifest says.

Layout, under ``GIM_OBJECT_STORE``::

    <tenant>/gsp/snapshots/<app id>/<instance>/<snapshot id>/<table>-<partition>/<file>
    <tenant>/gsp/snapshots/<app id>/<instance>/<snapshot id>/MANIFEST.json
    <tenant>/gsp/snapshots/<app id>/RECOVERED.json   (``gsp/recover.py``)

Each worker (``GIM_GSP_INSTANCE_ID``, stable per pod) writes its own snapshots: the partitions
it owned at the time. Snapshot ids are UTC timestamps, so key order is age order. The manifest
is written last: a snapshot without one is incomplete (an upload cut short) and invisible to
restore; pruning deletes it later. A manifest names, per table partition, the changelog offset
the checkpoint's data covers and every file with its size and SHA-256, and the input offsets
the worker had committed when it was taken.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from gim_faust.errors import GimError
from gim_faust.objectstore import ObjectStore

FORMAT = 1
MANIFEST = "MANIFEST.json"
_CHUNK = 1024 * 1024


class SnapshotRefused(GimError):
    """This snapshot cannot be restored (incomplete, corrupted, foreign or too old)."""


@dataclass(frozen=True)
class FileEntry:
    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class PartitionState:
    """One RocksDB store: a table's partition, as of changelog ``changelog_offset``
    (None: the table had written nothing to that partition's changelog yet)."""

    table: str
    partition: int
    changelog_topic: str
    changelog_offset: int | None
    files: tuple[FileEntry, ...]

    @property
    def directory(self) -> str:
        """The store's name under Faust's table directory (``<table>-<partition>.db``) without
        the suffix, and its folder in the snapshot."""
        return f"{self.table}-{self.partition}"


@dataclass(frozen=True)
class Manifest:
    tenant: str
    app_id: str
    instance: str
    snapshot_id: str
    created_ts: str
    partitions: tuple[PartitionState, ...]
    # "<topic>/<partition>" -> offset committed at the checkpoint (None: nothing committed yet)
    input_offsets: dict[str, int]
    format: int = FORMAT

    @property
    def size(self) -> int:
        return sum(f.size for p in self.partitions for f in p.files)

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)

    @staticmethod
    def from_json(raw: bytes) -> Manifest:
        try:
            doc = orjson.loads(raw)
            if doc.get("format") != FORMAT:
                raise SnapshotRefused(f"manifest format {doc.get('format')!r} is not {FORMAT}")
            partitions = tuple(
                PartitionState(p["table"], int(p["partition"]), p["changelog_topic"],
                               p["changelog_offset"],
                               tuple(FileEntry(f["name"], int(f["size"]), f["sha256"])
                                     for f in p["files"]))
                for p in doc["partitions"])
            return Manifest(doc["tenant"], doc["app_id"], doc["instance"], doc["snapshot_id"],
                            doc["created_ts"], partitions, dict(doc["input_offsets"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SnapshotRefused(f"unreadable manifest: {exc!r}") from exc


def new_snapshot_id(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def app_prefix(tenant: str, app_id: str) -> str:
    """Where the snapshots of every worker of one GSP app go."""
    return f"{tenant}/gsp/snapshots/{app_id}/"


def recovery_key(tenant: str, app_id: str) -> str:
    """The marker ``gim-faust gsp recover`` leaves: when the changelogs were last rebuilt
    from snapshots."""
    return f"{app_prefix(tenant, app_id)}RECOVERED.json"


class SnapshotArea:
    """One worker's snapshots in the object store."""

    def __init__(self, store: ObjectStore, tenant: str, app_id: str, instance: str) -> None:
        self.store = store
        self.instance = instance
        self.prefix = f"{app_prefix(tenant, app_id)}{self.instance}/"

    def file_key(self, snapshot_id: str, partition: PartitionState, name: str) -> str:
        return f"{self.prefix}{snapshot_id}/{partition.directory}/{name}"

    def manifest_key(self, snapshot_id: str) -> str:
        return f"{self.prefix}{snapshot_id}/{MANIFEST}"

    def _keys_by_snapshot(self) -> dict[str, list[str]]:
        by_id: dict[str, list[str]] = {}
        for key in self.store.list(self.prefix):
            by_id.setdefault(key[len(self.prefix):].split("/", 1)[0], []).append(key)
        return by_id

    def complete(self) -> list[str]:
        """Ids of the snapshots that have a manifest, newest first."""
        return sorted((sid for sid, keys in self._keys_by_snapshot().items()
                       if self.manifest_key(sid) in keys), reverse=True)

    def manifest(self, snapshot_id: str) -> Manifest:
        return Manifest.from_json(self.store.get(self.manifest_key(snapshot_id)))

    def prune(self, keep: int) -> list[str]:
        """Delete all but the newest ``keep`` complete snapshots, and every incomplete one
        (only this worker writes here, and only after its own upload finished). Manifests go
        first, so a snapshot being deleted is never seen as complete. Returns deleted ids."""
        by_id = self._keys_by_snapshot()
        kept = set(self.complete()[:keep])
        deleted = []
        for sid, keys in sorted(by_id.items()):
            if sid in kept:
                continue
            manifest = self.manifest_key(sid)
            for key in sorted(keys, key=lambda k: k != manifest):
                self.store.delete(key)
            deleted.append(sid)
        return deleted
