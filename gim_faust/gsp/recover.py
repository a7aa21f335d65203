"""Disaster recovery from object storage alone (``gim-faust gsp recover``).

When the GSP's changelog topics are gone (a lost Kafka cluster whose raw topics were
mirrored with their offsets, or deleted topics) and the workers' disks with them, the
snapshots are the only state left. A worker's own restore cannot use them: it completes a
snapshot from the changelog (``gsp/restore.py``). This command, run once with every worker
stopped, turns the snapshots back into what the workers recover from:

1. For each *unit* (table partitions fed by the same input partitions: an interaction
   partition's table; an agent partition's two tables, fed by the agent topic and the
   party-ended topic), take the newest snapshot of any worker that holds all of its tables;
   the files are checked against their manifest as a restore checks them.
2. Recreate every changelog of the app (deleted, then created empty and compacted) and write
   each chosen store's keys and values to its partition.
3. Move the app's consumer group, per unit, to the input offsets that snapshot was taken at
   (the beginning of a partition when it had none, or no snapshot holds its unit: that
   partition is then reprocessed whole).
4. Write a recovery marker: snapshots taken before it name offsets of the old changelogs,
   and a worker's restore refuses them from now on.

Workers started afterwards, on empty disks, rebuild their tables from the new changelogs and
reprocess the raw topics from the moved offsets. Records the state already holds come again
as duplicates and change nothing, as after any crash (docs/gsp.md, "Crash safety").
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import rocksdict
from aiokafka import AIOKafkaProducer, TopicPartition
from faust.stores.rocksdb import Store  # its offset_key: where it keeps the changelog offset

from gim_faust.errors import FatalError
from gim_faust.gsp.output import REQUEST_MAX
from gim_faust.gsp.restore import check_identity, download
from gim_faust.gsp.snapshots import (
    Manifest,
    SnapshotArea,
    SnapshotRefused,
    app_prefix,
    recovery_key,
)
from gim_faust.kafka import (
    TopicSpec,
    admin_client,
    client_options,
    committed_offsets,
    ensure_topics,
    group_state,
    move_group,
    offset_bounds,
    partition_counts,
)
from gim_faust.objectstore import NotFound, ObjectStore, open_store
from gim_faust.settings import Settings, mask_url
from gim_faust.tables.specs import table_name
from gim_faust.topics import CHANNELS, Topics

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Unit:
    """Table partitions fed by the same input partitions: restored from one snapshot."""

    tables: tuple[str, ...]
    inputs: tuple[str, ...]
    partition: int


@dataclass
class Recovered:
    """What happened to one unit: the snapshot used (None: none held it), the keys written
    to its changelogs, and each input partition's move (topic, from, to)."""

    unit: Unit
    snapshot: Manifest | None
    keys: int
    moves: list[tuple[str, int | None, int]]


def units(topics: Topics, counts: dict[str, int]) -> list[Unit]:
    found = []
    for channel in CHANNELS:
        interactions, agents = topics.raw(f"{channel}.interactions"), topics.raw(f"{channel}.agents")
        found += [Unit((table_name("interactions", channel),), (interactions,), p)
                  for p in range(counts[interactions])]
        found += [Unit((table_name("agents", channel), table_name("party-facts", channel)),
                       (agents, topics.party_ended(channel)), p) for p in range(counts[agents])]
    return found


def newest_manifests(store: ObjectStore, settings: Settings) -> list[tuple[SnapshotArea, Manifest]]:
    """Every readable snapshot of every worker of the app, newest first."""
    prefix = app_prefix(settings.tenant, settings.gsp_app_id)
    instances = sorted({key[len(prefix):].split("/", 1)[0] for key in store.list(prefix)
                        if "/" in key[len(prefix):]})
    found = []
    for instance in instances:
        area = SnapshotArea(store, settings.tenant, settings.gsp_app_id, instance)
        for snapshot_id in area.complete():
            try:
                manifest = area.manifest(snapshot_id)
                check_identity(manifest, snapshot_id, area, settings)
            except (SnapshotRefused, NotFound) as exc:
                log.warning("snapshot %s%s not used: %s", area.prefix, snapshot_id, exc)
                continue
            found.append((area, manifest))
    return sorted(found, key=lambda found: found[1].created_ts, reverse=True)


def choose(unit: Unit, snapshots: list[tuple[SnapshotArea, Manifest]]
           ) -> tuple[SnapshotArea, Manifest] | None:
    """The newest snapshot that holds every table partition of ``unit``."""
    for area, manifest in snapshots:
        held = {(p.table, p.partition) for p in manifest.partitions}
        if all((table, unit.partition) in held for table in unit.tables):
            return area, manifest
    return None


async def recover(settings: Settings, dry_run: bool = False) -> list[Recovered]:
    topics = Topics(settings.topic_prefix, settings.gsp_app_id)
    group = settings.gsp_app_id
    state, members = await group_state(settings.kafka, group)
    if members:
        raise FatalError(f"consumer group {group!r} has {members} member(s) (state {state}): "
                         "stop every GSP worker first (a static member stays one until its "
                         "session times out, 60 s after it stopped)")
    found = await partition_counts(settings.kafka, list(topics.raw_all))
    counts = {name: count for name, count in found.items() if count is not None}
    missing = [name for name in found if name not in counts]
    if missing:
        raise FatalError(f"raw topic(s) missing: {', '.join(missing)}: recreate them, "
                         "mirrored with their offsets, first")
    # The GSP's own hand-off topics, partitioned like the agent topics: created if they went
    # with the cluster (empty, they are read from their start).
    for channel in CHANNELS:
        counts[topics.party_ended(channel)] = counts[topics.raw(f"{channel}.agents")]
    handoffs = [TopicSpec(topics.party_ended(c), counts[topics.party_ended(c)]) for c in CHANNELS]
    absent = {name for name, count in (await partition_counts(
        settings.kafka, [spec.name for spec in handoffs])).items() if count is None}
    store = open_store(settings.object_store)
    snapshots = await asyncio.to_thread(newest_manifests, store, settings)
    if not snapshots:  # a wrong store or app id, most likely: recovering would lose the state
        raise FatalError(f"no usable snapshot of app {settings.gsp_app_id!r} in "
                         f"{mask_url(settings.object_store)}: check GIM_OBJECT_STORE and "
                         "GIM_GSP_APP_ID; without snapshots, replay the raw topics into a "
                         "fresh app id (docs/gsp.md, \"Replay\")")
    plan = [(unit, choose(unit, snapshots)) for unit in units(topics, counts)]
    bounds = await offset_bounds(settings.kafka, [TopicPartition(t, u.partition)
                                                  for u, _ in plan for t in u.inputs
                                                  if t not in absent])
    current = await committed_offsets(settings.kafka, group, list(bounds))
    results = [Recovered(unit, None if chosen is None else chosen[1], 0,
                         [(topic, current.get(TopicPartition(topic, unit.partition)),
                           _target(chosen[1] if chosen else None, topic, unit.partition,
                                   bounds.get(TopicPartition(topic, unit.partition), (0, 0))))
                          for topic in unit.inputs])
               for unit, chosen in plan]
    if dry_run:
        return results
    await ensure_topics(settings.kafka, handoffs)
    await _recreate_changelogs(settings, topics, [unit for unit, _ in plan])
    with tempfile.TemporaryDirectory(prefix="gim-recover-") as scratch:
        for result, (unit, chosen) in zip(results, plan, strict=True):
            if chosen is not None:
                result.keys = await _write_changelogs(settings, topics, unit, *chosen,
                                                      Path(scratch))
    await move_group(settings.kafka, group, {TopicPartition(topic, r.unit.partition): to
                                             for r in results for topic, _, to in r.moves},
                     "gim-faust gsp recover")
    await asyncio.to_thread(store.put, recovery_key(settings.tenant, settings.gsp_app_id),
                            orjson.dumps({"recovered_ts": datetime.now(UTC).isoformat(
                                timespec="milliseconds")}))
    return results


def _target(manifest: Manifest | None, topic: str, partition: int,
            bounds: tuple[int, int]) -> int:
    """Where an input partition is read from: the snapshot's committed offset, within what
    the partition still holds (a record retention deleted cannot be read again; a topic
    recreated empty starts at its end)."""
    first, end = bounds
    offset = None if manifest is None else manifest.input_offsets.get(f"{topic}/{partition}")
    if offset is None:
        return first
    if not first <= offset <= end:
        log.warning("%s[%d]: the snapshot's offset %d is outside [%d, %d] now; reading from "
                    "%d", topic, partition, offset, first, end, min(max(offset, first), end))
    return min(max(offset, first), end)


async def _recreate_changelogs(settings: Settings, topics: Topics, units: list[Unit]) -> None:
    """Every changelog of the app deleted, then created again, empty: one partition per
    unit partition of its table."""
    partitions: dict[str, int] = {}
    for unit in units:
        for table in unit.tables:
            partitions[table] = max(partitions.get(table, 0), unit.partition + 1)
    specs = [TopicSpec(topics.changelog(table), count, compacted=True)
             for table, count in partitions.items()]
    names = [spec.name for spec in specs]
    async with admin_client(settings.kafka) as admin:
        existing = [name for name in names if name in set(await admin.list_topics())]
        if existing:
            await admin.delete_topics(existing)
        while set(existing) & set(await admin.list_topics()):  # deletion is asynchronous
            await asyncio.sleep(0.2)
    await ensure_topics(settings.kafka, specs)


async def _write_changelogs(settings: Settings, topics: Topics, unit: Unit, area: SnapshotArea,
                            manifest: Manifest, scratch: Path) -> int:
    """Write the unit's stores, as the snapshot holds them, to their changelog partitions."""
    folder = scratch / f"{manifest.instance}-{manifest.snapshot_id}"
    stores = [p for p in manifest.partitions
              if p.table in unit.tables and p.partition == unit.partition]
    await asyncio.to_thread(download, area, manifest, stores, folder)
    written = 0
    producer = AIOKafkaProducer(**client_options(settings.kafka), acks="all",
                                max_request_size=REQUEST_MAX, linger_ms=20)
    await producer.start()
    try:
        for p in stores:
            db = rocksdict.Rdict(str(folder / f"{p.directory}.db"))
            try:
                futures = [await producer.send(topics.changelog(p.table), value, key,
                                               partition=p.partition)
                           for key, value in db.items() if key != Store.offset_key]
            finally:
                db.close()
            await asyncio.gather(*futures)
            written += len(futures)
    finally:
        await producer.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return written
