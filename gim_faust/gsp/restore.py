"""Restoring GSP state from the newest usable snapshot (``gim-faust gsp restore``, and on its
own when a worker starts without local state).

A snapshot is used only when all of these hold, else it is refused with the reason and the
next older one is tried; with none left the worker rebuilds from the changelog as Faust
always can:

- its manifest is readable and names this tenant and app id;
- it was taken after the last recovery from snapshots (``gim-faust gsp recover``), if any:
  one taken before names offsets of the changelogs that recovery replaced;
- every file has the size and SHA-256 the manifest gives (all checked before any is
  installed);
- each changelog partition still holds every record after the snapshot's offset (the
  snapshot cannot make up for records retention deleted), and the snapshot is younger than
  the changelog's ``delete.retention.ms`` (after that, compaction may have dropped the
  tombstones of keys deleted since, which the snapshot still holds).

Installed stores keep the changelog offset they were checkpointed at, so Faust's recovery
replays only the changelog records after it; ``gim_gsp_restore_changelog_tail_records`` says
how many that is, ``gim_gsp_changelog_records_recovered_total`` counts what recovery applied.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import orjson
from aiokafka import TopicPartition

from gim_faust.gsp import state_dir
from gim_faust.gsp.metrics import GspMetrics
from gim_faust.gsp.snapshots import (
    Manifest,
    PartitionState,
    SnapshotArea,
    SnapshotRefused,
    recovery_key,
    sha256_file,
)
from gim_faust.kafka import offset_bounds, partition_counts, topic_setting
from gim_faust.objectstore import NotFound, ObjectStore, open_store
from gim_faust.settings import Settings

log = logging.getLogger(__name__)

# Kafka's default delete.retention.ms, used when the broker does not say.
_DEFAULT_DELETE_RETENTION_MS = 86_400_000


async def restore(settings: Settings, tables: Path, metrics: GspMetrics) -> Manifest | None:
    """Install the newest usable snapshot of this worker into ``tables``; None if none."""
    started = time.monotonic()
    area = SnapshotArea(open_store(settings.object_store), settings.tenant,
                        settings.gsp_app_id, settings.gsp_instance_id)
    recovered = await asyncio.to_thread(_recovered_ts, area.store, settings)
    for snapshot_id in await asyncio.to_thread(area.complete):
        try:
            manifest = await asyncio.to_thread(area.manifest, snapshot_id)
            check_identity(manifest, snapshot_id, area, settings)
            if recovered is not None and datetime.fromisoformat(manifest.created_ts) < recovered:
                raise SnapshotRefused(f"it was taken before the recovery from snapshots of "
                                      f"{recovered.isoformat()}, whose changelogs it does not know")
            tail = await _check_changelog(settings, manifest)
            await asyncio.to_thread(_install, area, manifest, tables)
        except (SnapshotRefused, NotFound) as exc:  # NotFound: pruned under us
            metrics.snapshots_refused.inc()
            log.error("snapshot %s%s refused: %s", area.prefix, snapshot_id, exc)
            continue
        seconds = time.monotonic() - started
        metrics.restores.labels("ok").inc()
        metrics.restore_duration.set(seconds)
        metrics.restore_tail.set(tail)
        log.info("restored snapshot %s (%d stores, %d bytes) in %.2f s; %d changelog records "
                 "after it to replay", snapshot_id, len(manifest.partitions), manifest.size,
                 seconds, tail)
        return manifest
    metrics.restores.labels("none").inc()
    log.warning("no usable snapshot under %s: state is rebuilt from the changelog", area.prefix)
    return None


def _recovered_ts(store: ObjectStore, settings: Settings) -> datetime | None:
    try:
        marker = orjson.loads(store.get(recovery_key(settings.tenant, settings.gsp_app_id)))
    except NotFound:
        return None
    return datetime.fromisoformat(marker["recovered_ts"])


def check_identity(manifest: Manifest, snapshot_id: str, area: SnapshotArea,
                   settings: Settings) -> None:
    """Refuse a snapshot of another tenant, app, worker or id, or with unsafe file names."""
    found = (manifest.tenant, manifest.app_id, manifest.instance, manifest.snapshot_id)
    wanted = (settings.tenant, settings.gsp_app_id, area.instance, snapshot_id)
    if found != wanted:
        raise SnapshotRefused(f"its manifest names {found}, not {wanted}")
    for p in manifest.partitions:
        for entry in p.files:
            if "/" in entry.name or entry.name in ("", ".", ".."):
                raise SnapshotRefused(f"file name {entry.name!r} in the manifest")


async def _check_changelog(settings: Settings, manifest: Manifest) -> int:
    """Refuse a snapshot the changelog can no longer complete; return the tail to replay."""
    age_ms = (datetime.now(UTC) - datetime.fromisoformat(manifest.created_ts)
              ).total_seconds() * 1000
    counts = await partition_counts(settings.kafka, sorted({p.changelog_topic
                                                      for p in manifest.partitions}))
    for p in manifest.partitions:
        if p.partition >= (counts[p.changelog_topic] or 0):
            raise SnapshotRefused(f"{p.changelog_topic}[{p.partition}] does not exist (any more)")
    bounds = await offset_bounds(settings.kafka, [TopicPartition(p.changelog_topic, p.partition)
                                            for p in manifest.partitions])
    tail = 0
    for topic in sorted({p.changelog_topic for p in manifest.partitions}):
        kept = await topic_setting(settings.kafka, topic, "delete.retention.ms")
        if age_ms > int(kept or _DEFAULT_DELETE_RETENTION_MS):
            raise SnapshotRefused(f"it is older than {topic}'s delete.retention.ms ({kept}): "
                                  "deletions since may be gone from the changelog")
    for p in manifest.partitions:
        first, end = bounds[TopicPartition(p.changelog_topic, p.partition)]
        needed = 0 if p.changelog_offset is None else p.changelog_offset + 1
        if first > needed:
            raise SnapshotRefused(f"{p.changelog_topic}[{p.partition}] now starts at offset "
                                  f"{first}, after the snapshot's {needed}: records between "
                                  "were deleted; rebuild from the changelog")
        if end < needed:
            raise SnapshotRefused(f"{p.changelog_topic}[{p.partition}] ends at {end}, before "
                                  f"the snapshot's {needed}: was the topic recreated?")
        tail += end - needed
    return tail


def _install(area: SnapshotArea, manifest: Manifest, tables: Path) -> None:
    """Download and verify every file, then swap each store in: the old one is renamed
    aside before the new one takes its name, so a crash leaves either store whole (and the
    leftovers for :func:`state_dir.sweep`)."""
    tables.mkdir(parents=True, exist_ok=True)
    staging = tables / f"{state_dir.RESTORE_PREFIX}{manifest.snapshot_id}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        download(area, manifest, manifest.partitions, staging)
        for p in manifest.partitions:
            target, old = tables / f"{p.directory}.db", staging / f"{p.directory}.old"
            if target.exists():
                target.rename(old)
            (staging / f"{p.directory}.db").rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def download(area: SnapshotArea, manifest: Manifest, stores: Iterable[PartitionState],
             folder: Path) -> None:
    """The files of ``stores`` into ``folder/<store>.db``, each checked against its size and
    SHA-256 in the manifest."""
    for p in stores:
        target = folder / f"{p.directory}.db"
        target.mkdir(parents=True)
        for entry in p.files:
            path = target / entry.name
            area.store.get_file(area.file_key(manifest.snapshot_id, p, entry.name), path)
            if path.stat().st_size != entry.size or sha256_file(path) != entry.sha256:
                raise SnapshotRefused(f"{p.directory}/{entry.name} does not match its "
                                      "checksum in the manifest")


def restore_stopped_worker(settings: Settings) -> Manifest | None:
    """Replace this worker's local stores with the newest usable snapshot's (the worker must
    be stopped); the snapshot restored, None when none is usable."""
    with state_dir.lock(settings):
        state_dir.sweep(settings)
        return asyncio.run(restore(settings, state_dir.table_dir(settings), GspMetrics()))
