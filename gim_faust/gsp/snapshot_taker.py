"""Taking a GSP state snapshot: RocksDB checkpoints of the stores this worker holds, uploaded
with a manifest (layout in :mod:`gim_faust.gsp.snapshots`).

Only the process that holds the databases open can checkpoint them. Every checkpoint is
taken in one synchronous stretch on the worker's event loop, so no agent runs in between:
each store is captured together with the changelog offset it has persisted, and all stores at
the same instant. Faust queues a value for the changelog and writes it to RocksDB in one step,
and records the changelog offset only once Kafka acknowledged it, so a checkpoint holds at
least everything up to its recorded offset, plus writes still on their way; the snapshot is
published only after the producer has flushed those, so restoring it and replaying the
changelog after its offsets gives back the changelog's state exactly. The checkpoint's files
are hard links to immutable SST files, so hashing and uploading them runs on a thread while
the worker carries on.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import orjson
import rocksdict

from gim_faust.errors import ConfigError, FatalError, RetriableError
from gim_faust.gsp import state_dir
from gim_faust.gsp.snapshots import (
    FileEntry,
    Manifest,
    PartitionState,
    SnapshotArea,
    app_prefix,
    new_snapshot_id,
    sha256_file,
)
from gim_faust.metrics import DEFAULT_PORTS
from gim_faust.objectstore import open_store
from gim_faust.settings import Settings

if TYPE_CHECKING:
    from faust.transport.consumer import Consumer

    from gim_faust.gsp.service import Gsp

log = logging.getLogger(__name__)


class NotReady(Exception):
    """The worker is recovering or rebalancing: its stores are not a state worth keeping."""


class Snapshotter:
    def __init__(self, gsp: Gsp) -> None:
        self.gsp = gsp
        settings = gsp.settings
        self.area = SnapshotArea(open_store(settings.object_store), settings.tenant,
                                 settings.gsp_app_id, settings.gsp_instance_id)
        self.workdir = Path(settings.state_dir)
        self._lock = asyncio.Lock()

    async def take(self) -> Manifest:
        """Checkpoint, upload, then prune; one snapshot at a time."""
        async with self._lock:
            if not self.gsp.ready():
                self.gsp.metrics.snapshots.labels("skipped").inc()
                raise NotReady("the worker is recovering or rebalancing; try again when "
                               "/readyz answers 200")
            started = time.monotonic()
            self.workdir.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=state_dir.SNAPSHOT_PREFIX, dir=self.workdir))
            try:
                taken = self._checkpoint(staging)
                # The checkpoint may hold writes whose changelog sends are still in flight; once
                # the producer is flushed the changelog holds all of them, so a restore never
                # starts from a state the changelog cannot reproduce.
                await self.gsp.app.producer.flush()
                manifest = await asyncio.to_thread(self._upload, taken)
            except Exception:
                self.gsp.metrics.snapshots.labels("failed").inc()
                raise
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            seconds = time.monotonic() - started
            self.gsp.metrics.snapshot_taken(time.time(), seconds, manifest.size)
            log.info("snapshot %s: %d stores, %d bytes in %.2f s", manifest.snapshot_id,
                     len(manifest.partitions), manifest.size, seconds)
            return manifest

    async def take_logged(self) -> None:
        """The periodic snapshot: a failure is logged and counted, never fatal."""
        try:
            await self.take()
        except NotReady as exc:
            log.info("snapshot skipped: %s", exc)
        except Exception:  # noqa: BLE001 - the worker goes on; the metric and log tell
            log.exception("snapshot failed; the next one is due in %.0f s",
                          self.gsp.settings.snapshot_interval)

    def _checkpoint(self, staging: Path) -> Checkpoints:
        """Synchronous on purpose: no agent may write between two checkpoints."""
        consumer = cast("Consumer", self.gsp.app.consumer)  # every Faust consumer is one
        # Faust's dict holds None for a partition asked about before anything was committed.
        taken = Checkpoints(datetime.now(UTC), {
            tp: offset for tp, offset in consumer._committed_offset.items()  # noqa: SLF001
            if offset is not None})
        for table in self.gsp.app.tables.values():
            for partition, db in sorted(table.data._dbs.items()):  # noqa: SLF001
                raw = db.get(table.data.offset_key)
                path = staging / f"{table.name}-{partition}"
                rocksdict.Checkpoint(db).create_checkpoint(str(path))
                taken.stores.append((table, partition, None if raw is None else int(raw), path))
        return taken

    def _upload(self, taken: Checkpoints) -> Manifest:
        settings, area = self.gsp.settings, self.area
        snapshot_id = new_snapshot_id(taken.at)
        partitions = []
        for table, partition, offset, path in taken.stores:
            state = PartitionState(table.name, partition, table.changelog_topic.get_topic_name(),
                                   offset, tuple(FileEntry(f.name, f.stat().st_size, sha256_file(f))
                                                 for f in sorted(path.iterdir())))
            for entry in state.files:
                area.store.put_file(area.file_key(snapshot_id, state, entry.name),
                                    path / entry.name)
            partitions.append(state)
        manifest = Manifest(settings.tenant, settings.gsp_app_id, area.instance, snapshot_id,
                            taken.at.isoformat(timespec="milliseconds"), tuple(partitions),
                            {f"{tp.topic}/{tp.partition}": offset
                             for tp, offset in sorted(taken.committed.items())})
        area.store.put(area.manifest_key(snapshot_id), manifest.to_json())
        deleted = area.prune(settings.snapshot_keep)
        if deleted:
            log.info("pruned snapshots %s (keeping the newest %d)", deleted,
                     settings.snapshot_keep)
        return manifest


@dataclass
class Checkpoints:
    """What one synchronous pass captured: when, the input offsets committed then, and per
    store (table, partition, persisted changelog offset, checkpoint directory)."""

    at: datetime
    committed: dict[Any, int]
    stores: list[tuple[Any, int, int | None, Path]] = field(default_factory=list)


def request_snapshot(settings: Settings, timeout: float) -> str:
    """Ask the worker on this host (its metrics port, loopback only) to take a snapshot now,
    and wait for it; the worker's answer (JSON). Raises :class:`RetriableError` when no worker
    answers or it answers with an error, :class:`FatalError` when it serves another tenant
    or app."""
    if settings.metrics_port == 0:
        raise ConfigError("GIM_METRICS_PORT=0 names no worker: set it to the worker's port")
    port = settings.metrics_port or DEFAULT_PORTS["gsp"]
    url = f"http://127.0.0.1:{port}/snapshot"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="POST"),
                                    timeout=timeout) as answer:
            body = answer.read().decode().strip()
    except urllib.error.HTTPError as exc:
        raise RetriableError(f"the worker at {url} answered {exc.code}: "
                             f"{exc.read().decode().strip()}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise RetriableError(f"no GSP worker answers at {url} ({exc}); snapshots are taken by "
                             "a running worker: run this next to it, with its "
                             "GIM_METRICS_PORT") from None
    if not orjson.loads(body)["prefix"].startswith(app_prefix(settings.tenant,
                                                              settings.gsp_app_id)):
        raise FatalError(f"the worker at {url} serves another tenant or app ({body}); "
                         f"set GIM_METRICS_PORT to this tenant's worker")
    return body
