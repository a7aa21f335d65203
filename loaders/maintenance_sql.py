"""The steps of one maintenance run, on a connection that holds the job lock: the statements
on the Info Mart, each in its own short transaction (and, step 6, the export leftovers in
object storage). Separate from the plan (:mod:`gim_faust.loaders.maintenance_plan`: which days,
which partitions, the report) and from the job's entry points
(:mod:`gim_faust.loaders.maintenance`: the lock, the schedule).

A run does, in this order:

1. **Partitions ahead.** Every fact table (every table of the schema range-partitioned on
   ``start_ts``) gets its daily partitions from today through today +
   ``GIM_PARTITIONS_AHEAD_DAYS`` (UTC days).
2. **Default partitions emptied.** Rows that landed in a ``<table>_default`` partition (their
   day had no partition) move into a new partition of their day. Rows older than retention
   are not moved: step 3 handles them where they are.
3. **Retention.** A partition whose whole range lies before today − ``GIM_RETENTION_DAYS`` is
   dropped if it holds no active row (``active_flag = 1``). If it holds some, the partition
   stays, its final rows are deleted and its active rows are counted and reported, never
   touched: such a row is still open and the loader may yet finish it, so dropping it (or even
   moving it, which would make the next run create its expired partition again) would lose
   data. The same rule applies to expired rows in a default partition.
   Aggregate rows go by age: ``ag2_*_subhr`` after ``GIM_AGGREGATE_SUBHR_RETENTION_DAYS``,
   hour and day rows after ``GIM_RETENTION_DAYS``.
4. **Calendar.** ``date_time`` holds every 15-minute interval from today through
   :data:`~gim_faust.loaders.maintenance_plan.CALENDAR_AHEAD_DAYS` days ahead.
5. **Audit log.** ``ctl_audit_log`` rows created before the retention cutoff are purged,
   except those a remaining row still names in ``create_audit_key``/``update_audit_key``:
   a dimension row (configuration keeps its provenance forever) or a fact row kept past
   retention. Facts within retention cannot name such old loads (a row is loaded after it
   starts), so they are not searched.
6. **Export leftovers.** Under the job lock no export is running, so an export folder in
   object storage without ``manifest.json`` is what a crashed export left: its objects are
   deleted.
7. **Statistics.** ``ANALYZE`` of every relation whose rows changed: the partitions rows moved
   into or were deleted from, the default partitions, ``date_time``, ``ctl_audit_log``. A
   partitioned parent is analyzed (``ANALYZE ONLY``) on PostgreSQL 17 and later only: before
   17, ``ANALYZE`` of a parent re-samples every partition of the table.

Each partition operation is its own short transaction with a lock timeout
(``gim_ensure_partition`` holds its locks until commit; see migration 0001), so the loader and
reports wait at most :data:`LOCK_TIMEOUT_MS` behind it. An operation that cannot get its locks
(or loses a deadlock) is tried :data:`ATTEMPTS` times, then skipped and reported; the next run
does it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

import psycopg
from gim_faust.loaders import aggregate_sql
from gim_faust.loaders.export_plan import exports_prefix, incomplete_folders
from gim_faust.loaders.jobs import InfoMart
from gim_faust.loaders.maintenance_plan import (
    CALENDAR_AHEAD_DAYS,
    Partition,
    Report,
    TableReport,
    days_to_create,
    expired,
    midnight,
)
from psycopg import sql

from gim_faust import postgres
from gim_faust.errors import GimError
from gim_faust.objectstore import ObjectStore

log = logging.getLogger(__name__)
T = TypeVar("T")

# Longest a partition operation waits for a lock. While it waits, later lock requests on the
# same table (the loader's inserts, reports) queue behind it, so this is also the longest
# stall maintenance can cause them; 5 s is well above a loader batch (< 1 s) and short enough
# that nobody notices.
LOCK_TIMEOUT_MS = 5_000
ATTEMPTS = 3
RETRY_PAUSE_S = 1.0
# Audit rows purged per transaction: about one day of loader batches at one batch a second
# fits in ten, and no transaction holds many row locks for long.
PURGE_CHUNK = 10_000
# A range bound as pg_get_expr prints it (a PostgreSQL regular expression).
_BOUNDS = r"FROM \('([^']*)'\) TO \('([^']*)'\)"


class _Stopped(Exception):
    """A stop was requested between two operations."""


def _ident(name: str) -> sql.Identifier:
    return sql.Identifier(name)


class Maintenance:
    """One run on one connection that holds the job lock. Blocking: run it on a thread."""

    def __init__(self, conn: psycopg.Connection[Any], mart: InfoMart,
                 store: ObjectStore | None = None,
                 should_stop: Callable[[], bool] = lambda: False) -> None:
        self.conn, self.mart, self.store = conn, mart, store
        self.should_stop = should_stop
        today = conn.execute("SELECT (now() AT TIME ZONE 'UTC')::date").fetchone()[0]  # type: ignore[index]
        self.report = Report(today=today,
                             partitions_until=today + timedelta(mart.partitions_ahead_days),
                             retention_cutoff=today - timedelta(mart.retention_days),
                             subhr_cutoff=today - timedelta(mart.subhr_retention_days))
        self._touched: set[str] = set()      # relations whose rows changed: to ANALYZE
        self._parents: set[str] = set()

    # ------------------------------------------------------------------------- catalog

    def fact_tables(self) -> list[str]:
        """Every table of the schema range-partitioned on start_ts (as gim_ensure_partitions
        finds them), by name."""
        return [row[0] for row in self.conn.execute(
            "SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
            "WHERE c.relnamespace = current_schema()::regnamespace "
            "AND pg_get_partkeydef(p.partrelid) = 'RANGE (start_ts)' ORDER BY 1").fetchall()]

    def partitions(self, table: str) -> list[Partition]:
        # The bounds as PostgreSQL prints them (in this session's time zone, UTC), parsed by
        # PostgreSQL; a MINVALUE/MAXVALUE bound gives NULL and is left alone.
        rows = self.conn.execute(
            "SELECT relname, expr = 'DEFAULT', (regexp_match(expr, %(re)s))[1]::timestamptz, "
            "(regexp_match(expr, %(re)s))[2]::timestamptz FROM ("
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS expr FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %(table)s::regclass) p "
            "ORDER BY 1",
            {"re": _BOUNDS, "table": sql.Identifier(table).as_string(self.conn)}).fetchall()
        return [Partition(name, is_default, lo, hi) for name, is_default, lo, hi in rows]

    # ------------------------------------------------------------------------- plumbing

    def _check_stop(self) -> None:
        if self.should_stop():
            raise _Stopped()

    def _attempt(self, what: str, operation: Callable[[], T]) -> T | None:
        """``operation()`` in its own transaction with a lock timeout; None if it was skipped
        because its locks stayed busy."""
        for attempt in range(1, ATTEMPTS + 1):
            self._check_stop()
            try:
                with self.conn.transaction():
                    self.conn.execute(f"SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}")
                    return operation()
            except postgres.BUSY as exc:
                if attempt == ATTEMPTS:
                    log.warning("%s: skipped, locks busy after %d attempts (%s)", what,
                                ATTEMPTS, postgres.one_line(exc))
                    self.report.skipped.append(f"{what}: {type(exc).__name__}")
                    return None
                time.sleep(RETRY_PAUSE_S * attempt)
        return None

    def _table(self, table: str) -> TableReport:
        return self.report.tables.setdefault(table, TableReport())

    # ------------------------------------------------------------------------- steps

    def run(self) -> Report:
        started = time.monotonic()
        try:
            tables = self.fact_tables()
            for table in tables:
                self._table(table)
            for table in tables:
                self.partitions_ahead(table)
            for table in tables:
                self.empty_default(table)
            for table in tables:
                self.retention(table)
            self.aggregate_retention()
            self.calendar()
            self.purge_audit_log()
            self.export_leftovers()
            self.analyze()
        except _Stopped:
            self.report.skipped.append("the rest of the run: the worker is stopping")
        self.report.seconds = time.monotonic() - started
        return self.report

    def _ensure_partition(self, table: str, day: date) -> tuple[bool, int] | None:
        """gim_ensure_partition in one transaction: (created, rows moved into it)."""
        name = f"{table}_p{day:%Y%m%d}"

        def operation() -> tuple[bool, int]:
            created = self.conn.execute("SELECT gim_ensure_partition(%s::regclass, %s)",
                                        (sql.Identifier(table).as_string(self.conn), day)
                                        ).fetchone()[0]  # type: ignore[index]
            if not created:
                return False, 0
            # A new partition holds only what moved in: nobody else sees it before commit.
            moved = self.conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
                _ident(name))).fetchone()[0]  # type: ignore[index]
            return True, moved
        result = self._attempt(f"creating partition {name}", operation)
        if result is not None and result[0]:
            counts = self._table(table)
            counts.partitions_created += 1
            counts.rows_moved += result[1]
            if result[1]:
                self._touched.add(name)
                self._touched.add(self._default(table) or name)
                self._parents.add(table)
        return result

    def partitions_ahead(self, table: str) -> None:
        missing = days_to_create(self.partitions(table), self.report.today,
                                 self.report.partitions_until)
        for day in missing:
            self._ensure_partition(table, day)

    def _default(self, table: str) -> str | None:
        return next((p.name for p in self.partitions(table) if p.default), None)

    def empty_default(self, table: str) -> None:
        default = self._default(table)
        if default is None:
            return
        days = [row[0] for row in self.conn.execute(
            sql.SQL("SELECT DISTINCT (start_ts AT TIME ZONE 'UTC')::date FROM {} "
                    "WHERE start_ts >= %s ORDER BY 1").format(_ident(default)),
            (midnight(self.report.retention_cutoff),)).fetchall()]
        for day in days:
            self._ensure_partition(table, day)

    def retention(self, table: str) -> None:
        counts = self._table(table)
        for partition in expired(self.partitions(table), self.report.retention_cutoff):
            name = partition.name

            def operation(name: str = name) -> tuple[bool, int, int]:
                # SHARE: no row of it can change until the decision below commits; reads go on.
                self.conn.execute(sql.SQL("LOCK TABLE ONLY {} IN SHARE MODE").format(
                    _ident(name)))
                total, active = self.conn.execute(sql.SQL(
                    "SELECT count(*), count(*) FILTER (WHERE active_flag = 1) FROM {}").format(
                    _ident(name))).fetchone()  # type: ignore[misc]
                if active == 0:
                    self.conn.execute(sql.SQL("DROP TABLE {}").format(_ident(name)))
                    return True, total, 0
                deleted = self.conn.execute(sql.SQL(
                    "DELETE FROM {} WHERE active_flag <> 1").format(_ident(name))).rowcount
                return False, deleted, active
            result = self._attempt(f"expiring partition {name}", operation)
            if result is None:
                continue
            dropped, purged, active = result
            counts.rows_purged += purged
            counts.active_rows_kept += active
            if dropped:
                counts.partitions_dropped += 1
                log.info("dropped partition %s (%d rows)", name, purged)
            else:
                counts.partitions_kept += 1
                log.warning("partition %s is past retention but holds %d active rows: kept "
                            "them (and deleted its %d final rows)", name, active, purged)
            if purged:
                self._parents.add(table)
                if not dropped:
                    self._touched.add(name)
        default = self._default(table)
        if default is None:
            return
        cutoff = midnight(self.report.retention_cutoff)

        def in_default() -> tuple[int, int]:
            deleted = self.conn.execute(sql.SQL(
                "DELETE FROM {} WHERE start_ts < %s AND active_flag <> 1").format(
                _ident(default)), (cutoff,)).rowcount
            active = self.conn.execute(sql.SQL(
                "SELECT count(*) FROM {} WHERE start_ts < %s AND active_flag = 1").format(
                _ident(default)), (cutoff,)).fetchone()[0]  # type: ignore[index]
            return deleted, active
        outcome = self._attempt(f"expiring rows of {default}", in_default)
        if outcome is not None:
            deleted, active = outcome
            counts.rows_purged += deleted
            counts.active_rows_kept += active
            if deleted:
                self._touched.add(default)
                self._parents.add(table)
            if active:
                log.warning("%s holds %d active rows past retention: kept them", default,
                            active)

    def aggregate_retention(self) -> None:
        """15-minute aggregate rows older than their own retention, hour and day rows older
        than the facts' (they are computed from facts, so none outlive those anyway)."""
        for table in aggregate_sql.TABLES:
            cutoff = midnight(self.report.subhr_cutoff if table.endswith("_subhr")
                              else self.report.retention_cutoff)  # type: ignore[arg-type]
            statement = sql.SQL("DELETE FROM {} WHERE interval_start_ts < %s").format(
                _ident(table))

            def expire(statement: sql.Composed = statement, cutoff: datetime = cutoff) -> int:
                return self.conn.execute(statement, (cutoff,)).rowcount
            deleted = self._attempt(f"expiring rows of {table}", expire)
            if deleted:
                self._table(table).rows_purged += deleted
                self._touched.add(table)

    def calendar(self) -> None:
        first = midnight(self.report.today)
        end = midnight(self.report.today + timedelta(CALENDAR_AHEAD_DAYS))
        wanted = CALENDAR_AHEAD_DAYS * 96
        have = self.conn.execute(
            "SELECT count(*) FROM date_time WHERE interval_start_ts >= %s "
            "AND interval_start_ts < %s", (first, end)).fetchone()[0]  # type: ignore[index]
        if have >= wanted:
            return

        def operation() -> int:
            return self.conn.execute(
                "SELECT gim_ensure_date_time(%s::timestamptz, %s::timestamptz)",
                (first, end - timedelta(milliseconds=1))).fetchone()[0]  # type: ignore[index]
        added = self._attempt("filling the calendar", operation)
        if added:
            self.report.date_time_rows += added
            self._touched.add("date_time")

    def _audit_references(self) -> sql.Composable:
        """Every audit key a row that outlives the audit log's retention may name."""
        rows = self.conn.execute(
            "SELECT c.relname, c.relkind = 'p' FROM pg_class c JOIN pg_attribute a "
            "ON a.attrelid = c.oid AND a.attname = 'update_audit_key' AND NOT a.attisdropped "
            "JOIN pg_attribute b ON b.attrelid = c.oid AND b.attname = 'create_audit_key' "
            "AND NOT b.attisdropped "
            "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') "
            "AND NOT c.relispartition ORDER BY 1").fetchall()
        parts = []
        for table, partitioned in rows:
            where = sql.SQL(" WHERE start_ts < %(cutoff)s") if partitioned else sql.SQL("")
            for column in ("create_audit_key", "update_audit_key"):
                parts.append(sql.SQL("SELECT {} AS k FROM {}{}").format(
                    _ident(column), _ident(table), where))
        return sql.SQL(" UNION ALL ").join(parts) if parts else sql.SQL(
            "SELECT NULL::bigint AS k")

    def purge_audit_log(self) -> None:
        cutoff = midnight(self.report.retention_cutoff)
        statement = sql.SQL(
            "WITH refs AS ({refs}), doomed AS ("
            "SELECT a.audit_key FROM ctl_audit_log a WHERE a.created_ts < %(cutoff)s "
            "AND NOT EXISTS (SELECT 1 FROM refs WHERE refs.k = a.audit_key) "
            "ORDER BY a.audit_key LIMIT %(chunk)s) "
            "DELETE FROM ctl_audit_log WHERE audit_key IN (SELECT audit_key FROM doomed)"
        ).format(refs=self._audit_references())
        while True:
            deleted = self._attempt("purging the audit log", lambda: self.conn.execute(
                statement, {"cutoff": cutoff, "chunk": PURGE_CHUNK}).rowcount)
            if not deleted:
                return
            self.report.audit_rows_purged += deleted
            self._touched.add("ctl_audit_log")
            if deleted < PURGE_CHUNK:
                return

    def export_leftovers(self) -> None:
        """Deletes export folders without a manifest (see the module docstring, step 6)."""
        if self.store is None:
            return
        self._check_stop()
        prefix = exports_prefix(self.mart.tenant)
        try:
            for folder, keys in incomplete_folders(self.store.list(prefix), prefix).items():
                for key in keys:
                    self.store.delete(key)
                    self.report.export_objects_deleted += 1
                log.info("deleted %d objects of the incomplete export %s%s", len(keys), prefix,
                         folder)
        except GimError as exc:
            log.warning("export leftovers in %s: skipped (%s)", self.store.url, exc)
            self.report.skipped.append(f"deleting export leftovers: {exc}")

    def analyze(self) -> None:
        targets = [(name, False) for name in sorted(self._touched)]
        if self.conn.info.server_version >= 170000:   # ANALYZE ONLY exists from 17 on
            targets += [(name, True) for name in sorted(self._parents)]
        for name, only in targets:
            self._check_stop()
            statement = sql.SQL("ANALYZE {}{}").format(sql.SQL("ONLY " if only else ""),
                                                       _ident(name))
            try:
                self.conn.execute(f"SET lock_timeout = {LOCK_TIMEOUT_MS}")
                exists = self.conn.execute("SELECT to_regclass(%s)", (
                    sql.Identifier(name).as_string(self.conn),)).fetchone()[0]  # type: ignore[index]
                if exists is not None:   # (a partition moved into and then dropped)
                    self.conn.execute(statement)
                    self.report.analyzed.append(name)
            except postgres.BUSY as exc:
                self.report.skipped.append(f"analyzing {name}: {type(exc).__name__}")
            finally:
                self.conn.execute("RESET lock_timeout")
