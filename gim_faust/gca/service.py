"""``gim-faust gca run``: the Config Adapter of one tenant.

One cycle, every ``GIM_GCA_POLL_INTERVAL`` seconds (or once, with ``--once``):

1. read the tenant's rows in one read-only transaction and build the objects (pure);
2. (first cycle, and until they succeed) migrate the Info Mart, create the config topic and
   start the producer, load the newest snapshot; then, every cycle, add the ``irf_user_data``
   columns of new user-data mappings and leave out the mappings the contract does not allow;
3. diff against what the topic holds and publish the changes, waiting for every
   acknowledgement;
4. bring the Info Mart's dimensions and history in line (one transaction), with each DN's
   own thresholds; a threshold that is not valid is left out, and logged once;
5. if the objects differ from the newest snapshot, write a snapshot, then the pointer to it.

The order is the crash-safety argument: the snapshot, which decides what the next process
considers "already done", is written last. A crash anywhere before it makes the next cycle
(in this process or the next) redo steps 3-5, and each is idempotent: republishing an object
gives consumers the same value again, and the Info Mart sync compares with the Info Mart
itself. A failed cycle changes nothing it has not finished and is retried at the next poll;
a failed reading never gets as far as the diff, so an outage is never taken for deletions.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections import Counter as Tally
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from gim_faust.errors import FatalError, GimError, RetriableError
from gim_faust.gca import infomart, user_data_columns
from gim_faust.gca.changes import KIND_ORDER, Change, diff, records
from gim_faust.gca.config_snapshot import Snapshot, SnapshotStore
from gim_faust.gca.configdb_reader import read_tenant
from gim_faust.gca.dimensions import desired, dn_thresholds
from gim_faust.gca.metrics import GcaMetrics
from gim_faust.gca.objects import USER_DATA_KEYS, ObjectKey, build_objects
from gim_faust.gca.publisher import ConfigPublisher, is_empty, read_published
from gim_faust.metrics import Heartbeat, serve
from gim_faust.objectstore import ObjectStore, open_store
from gim_faust.settings import Settings, mask_url
from gim_faust.topics import Topics

log = logging.getLogger(__name__)

Objects = dict[ObjectKey, dict[str, Any]]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _ms(ts: datetime) -> datetime:
    """``ts`` cut to milliseconds, the precision of every timestamp GCA writes."""
    return ts.replace(microsecond=ts.microsecond // 1000 * 1000)


@dataclass
class CycleResult:
    observed: datetime
    objects: int
    changes: list[Change]
    infomart_rows: dict[tuple[str, str], int] = field(default_factory=dict)
    snapshot_key: str | None = None

    def summary(self) -> str:
        ops = Tally(c.op for c in self.changes)
        shown = ", ".join(f"{n} {op}" for op, n in sorted(ops.items())) or "none"
        rows = sum(self.infomart_rows.values())
        snapshot = self.snapshot_key or "unchanged"
        return (f"{self.objects} objects; published {len(self.changes)} changes ({shown}); "
                f"{rows} Info Mart rows written; snapshot {snapshot}")


class _StageFailed(Exception):
    def __init__(self, stage: str, error: GimError) -> None:
        self.stage, self.error = stage, error


class ConfigAdapter:
    """The state of one GCA process between cycles."""

    def __init__(self, settings: Settings, store: ObjectStore | None = None,
                 metrics: GcaMetrics | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.settings = settings
        self.topic = Topics(settings.topic_prefix).config
        self.metrics = metrics or GcaMetrics()
        self.snapshots = SnapshotStore(store or open_store(settings.object_store),
                                       settings.tenant)
        self.publisher = ConfigPublisher(settings, self.topic)
        self._clock = clock
        self._migrated = False
        self._producing = False
        # What this process knows the topic holds, and what the newest snapshot holds (None
        # until loaded; {} loaded-and-absent is kept apart by _have_snapshot).
        self._published: Objects | None = None
        self._snapshotted: Objects | None = None
        self._have_snapshot = False
        self._last_observed: datetime | None = None
        self._ok = False
        self._ignored_mappings: set[tuple[str, str]] = set()
        self._ignored_thresholds: set[tuple[int, str, str]] = set()  # (DN dbid, option, value)

    def ready(self) -> bool:
        """``/readyz``: the last cycle succeeded (so at least one did)."""
        return self._ok

    async def close(self) -> None:
        await self.publisher.stop()
        self._producing = False

    # ------------------------------------------------------------------------------ a cycle

    async def cycle(self) -> CycleResult:
        """One full cycle; raises the :class:`GimError` of the stage that failed."""
        started = time.monotonic()
        try:
            try:
                result = await self._cycle()
            except _StageFailed:
                raise
            except Exception as exc:  # noqa: BLE001
                log.exception("unexpected error between stages")
                error = RetriableError(f"internal: unexpected {type(exc).__name__}: {exc}")
                error.__cause__ = exc
                raise _StageFailed("internal", error) from exc
        except _StageFailed as failed:
            self._ok = False
            self.metrics.errors.labels(failed.stage).inc()
            self.metrics.cycles.labels("error").inc()
            self.metrics.duration.observe(time.monotonic() - started)
            raise failed.error from failed.error.__cause__
        self._ok = True
        self.metrics.cycles.labels("ok").inc()
        self.metrics.duration.observe(time.monotonic() - started)
        self.metrics.last_success.set(time.time())
        return result

    async def _stage(self, stage: str, work: Any) -> Any:
        try:
            return await work
        except GimError as exc:
            raise _StageFailed(stage, exc) from exc
        except Exception as exc:  # noqa: BLE001 - a bug or an unclassified library error
            log.exception("unexpected error in stage %s", stage)
            error = RetriableError(f"{stage}: unexpected {type(exc).__name__}: {exc}")
            error.__cause__ = exc
            raise _StageFailed(stage, error) from exc

    async def _cycle(self) -> CycleResult:
        s = self.settings
        read_at = _ms(self._clock())
        tenant = await self._stage("read", read_tenant(s.config_db_url, s.tenant))
        objects = build_objects(tenant.rows)
        kinds = Tally(kind for kind, _ in objects)
        for kind in set(KIND_ORDER) | set(kinds):
            self.metrics.objects.labels(kind).set(kinds.get(kind, 0))

        if not self._migrated:
            await self._stage("migrate", asyncio.to_thread(_migrate, s.infomart_db_url))
            self._migrated = True
        await self._stage("user_data", self._keep_valid_mappings(objects))
        if not self._producing:
            await self._stage("kafka", self.publisher.start())
            self._producing = True
        if self._published is None:
            await self._stage("snapshot_load", self._load())
        assert self._published is not None

        # Observation times only move forward, also across restarts (a snapshot's time is the
        # floor), so history rows never end before they start and snapshot names stay in order.
        observed = read_at
        if self._last_observed is not None and observed <= self._last_observed:
            observed = self._last_observed + timedelta(milliseconds=1)

        changes = diff(self._published, objects)
        if changes:
            try:
                await self._stage("publish", self.publisher.publish(
                    records(changes, s.tenant, observed)))
            except _StageFailed:
                # A producer whose sends failed may hold a broken sequence; start afresh.
                await self.close()
                raise
            for change in changes:
                self.metrics.published.labels(change.kind, change.op).inc()
        self._published = objects
        result = CycleResult(observed, len(objects), changes)

        self._log_ignored_thresholds(objects)
        rows = await self._stage("infomart", infomart.sync(
            s.infomart_db_url, desired(objects, tenant.tenant_dbid), tenant.tenant_dbid,
            observed))
        for (table, op), n in rows.items():
            self.metrics.infomart_rows.labels(table, op).inc(n)
        result.infomart_rows = rows

        if not self._have_snapshot or self._snapshotted != objects:
            snapshot = Snapshot(s.tenant, tenant.tenant_dbid, observed, objects)
            result.snapshot_key = await self._stage(
                "snapshot_write", asyncio.to_thread(self.snapshots.save, snapshot))
            self._snapshotted, self._have_snapshot = objects, True
            self.metrics.snapshots.inc()
        self._last_observed = observed
        return result

    async def _keep_valid_mappings(self, objects: Objects) -> None:
        """Leaves in ``objects`` only the user-data mappings the contract allows, once their
        Info Mart columns exist; each mapping left out is logged once by this process."""
        for (kind, _), obj in objects.items():
            if kind != USER_DATA_KEYS:
                continue
            result = await user_data_columns.sync(self.settings.infomart_db_url, obj["keys"])
            for key, why in sorted(result.ignored.items()):
                if (key, why) not in self._ignored_mappings:
                    self._ignored_mappings.add((key, why))
                    log.warning("ignoring the cfg_user_data_key mapping of %r: %s", key, why)
            obj["keys"] = result.kept

    def _log_ignored_thresholds(self, objects: Objects) -> None:
        """Logs, once per process, each option of a DN's ``gim`` section that does not count,
        so an operator learns why the tenant's default applies without a warning every poll."""
        for (kind, dbid), obj in sorted(objects.items()):
            if kind != "dn":
                continue
            for option, value, why in dn_thresholds(obj.get("options", {})).ignored:
                if (dbid, option, value) not in self._ignored_thresholds:
                    self._ignored_thresholds.add((dbid, option, value))
                    log.warning("ignoring the cfg_dn_annex option gim/%s = %r of DN %s (dbid "
                                "%d): %s; the tenant's threshold applies", option, value,
                                obj["number"], dbid, why)

    async def _load(self) -> None:
        """What the topic holds, from the newest snapshot (or from the topic itself)."""
        snapshot = await asyncio.to_thread(self.snapshots.load_latest)
        if snapshot is None:
            # No snapshot (first start, or the store was wiped): read the topic, so objects
            # deleted since are tombstoned and objects already there are not sent again.
            self._published = await read_published(self.settings, self.topic)
            self._snapshotted, self._have_snapshot = None, False
            log.info("no snapshot yet; the config topic %s holds %d objects",
                     self.topic, len(self._published))
            return
        self._snapshotted, self._have_snapshot = snapshot.objects, True
        self._last_observed = snapshot.observed
        if snapshot.objects and await is_empty(self.settings, self.topic):
            log.warning("config topic %s is empty although the snapshot of %s lists %d "
                        "objects (was the topic recreated?): publishing every object again",
                        self.topic, snapshot.observed.isoformat(), len(snapshot.objects))
            self._published = {}
        else:
            self._published = snapshot.objects
        log.info("loaded the snapshot of %s: %d objects", snapshot.observed.isoformat(),
                 len(snapshot.objects))

    # --------------------------------------------------------------------------- the loop

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Cycles every poll interval until ``stop`` is set; returns then. A
        :class:`FatalError` ends the loop (raised); any other failure waits for the next poll.
        """
        interval = self.settings.gca_poll_interval
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            started = loop.time()
            try:
                result = await self.cycle()
            except FatalError:
                raise
            except GimError as exc:
                log.error("cycle failed, retrying in %.0f s: %s", interval, exc)
            else:
                level = logging.INFO if result.changes or result.snapshot_key else logging.DEBUG
                log.log(level, "cycle done: %s", result.summary())
            delay = max(0.0, interval - (loop.time() - started))
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except asyncio.TimeoutError:
                pass


def _migrate(conninfo: str) -> list[str]:
    # Imported here: the migrator pulls in the static codes, which --help never needs.
    from gim_faust.loaders.migrate import migrate

    applied = migrate(conninfo)
    if applied:
        log.info("migrated %s: applied %s", mask_url(conninfo), ", ".join(applied))
    return applied


async def run_once(settings: Settings) -> CycleResult:
    """One full cycle (``gca run --once``); its result."""
    adapter = ConfigAdapter(settings)
    try:
        return await adapter.cycle()
    finally:
        await adapter.close()


async def run_until_stopped(settings: Settings) -> None:
    """A cycle every poll interval, metrics served, until SIGTERM or SIGINT (``gca run``)."""
    adapter = ConfigAdapter(settings)
    heartbeat = Heartbeat()
    beating = asyncio.create_task(heartbeat.run(), name="heartbeat")
    try:
        try:
            server = serve("gca", adapter.metrics.registry, adapter.ready, settings.metrics,
                           heartbeat)
        except OSError as exc:
            raise FatalError(f"cannot serve metrics on {settings.metrics_host}:"
                             f"{settings.metrics_port or 9250}: {exc}; set GIM_METRICS_PORT "
                             f"to a free port") from None
        log.info("GCA for tenant %s: polling every %s s; metrics on port %d", settings.tenant,
                 settings.gca_poll_interval, server.port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await adapter.run_forever(stop)
        finally:
            server.stop()
    finally:
        beating.cancel()
        await adapter.close()
