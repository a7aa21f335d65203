"""One run of the Info Mart maintenance job: ``gim-faust gim maintenance`` (issue 11).

A run holds the job lock (:mod:`gim_faust.loaders.jobs`, shared with the export) and does the
steps of :class:`~gim_faust.loaders.maintenance_sql.Maintenance` (listed in
:mod:`gim_faust.loaders.maintenance_sql`). A run that finds nothing to do changes nothing but
its own ``ctl_audit_log`` row (source ``gim-maintenance``, the report in ``detail``), which also
tells the worker's schedule when maintenance last ran.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg
from gim_faust.loaders import jobs
from gim_faust.loaders.jobs import InfoMart
from gim_faust.loaders.maintenance_plan import Report
from gim_faust.loaders.maintenance_sql import Maintenance

from gim_faust import postgres
from gim_faust.objectstore import open_store

SOURCE = jobs.RUN_SOURCES["maintenance"]
APPLICATION = "gim-faust maintenance"


def last_run(conn: psycopg.Connection[Any]) -> datetime | None:
    """When maintenance last ran here, or when the schema was last migrated (the migration
    creates partitions two weeks ahead, which is what a first run would do), whichever is
    later; None for a database with neither."""
    row = conn.execute(
        "SELECT GREATEST((SELECT created_ts FROM ctl_audit_log WHERE source = %s "
        "ORDER BY audit_key DESC LIMIT 1), (SELECT max(applied_ts) FROM ctl_schema_version))",
        (SOURCE,)).fetchone()
    return row[0] if row else None


def seconds_until_due(conninfo: str, interval: float) -> float:
    """How long until the next scheduled run (0 or less: due now)."""
    conn = jobs.connect(conninfo, APPLICATION)
    try:
        with conn:
            last = last_run(conn)
            now = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
    except postgres.Error as exc:
        raise postgres.translate(exc, conninfo, "reading when maintenance last ran") from None
    if last is None:
        return 0.0
    return interval - (now - last).total_seconds()


def maintain(mart: InfoMart, should_stop: Callable[[], bool] = lambda: False,
             interval: float | None = None) -> Report | None:
    """One maintenance run under the job lock; its report.

    With ``interval`` (the worker's schedule), the run is skipped (None) when maintenance ran
    less than ``interval`` seconds ago: the last-run check is made under the lock, so several
    workers that come due together run it once. Raises :class:`jobs.JobBusy` when an export
    or another run holds the lock, :class:`RetriableError` when the database cannot be
    reached, :class:`FatalError` when the schema or the account's rights do not allow it.
    """
    conninfo = mart.url
    conn = jobs.connect(conninfo, APPLICATION)
    try:
        with conn, jobs.job_lock(conn, "maintenance"):
            if interval is not None:
                last = last_run(conn)
                now = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
                if last is not None and (now - last).total_seconds() < interval:
                    return None
            store = open_store(mart.object_store) if mart.object_store else None
            report = Maintenance(conn, mart, store, should_stop).run()
            jobs.record_run(conn, SOURCE, report.total("rows_moved")
                            + report.total("rows_purged") + report.audit_rows_purged,
                            report.as_dict())
            return report
    except postgres.Error as exc:
        raise postgres.translate(exc, conninfo, "maintenance") from None
