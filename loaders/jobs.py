"""What the two database jobs of the GIM service share: a connection and one lock.

``gim-faust gim maintenance`` and ``gim-faust gim export`` each hold the **job lock**, a
session-level PostgreSQL advisory lock, for their whole run. The lock is per database (so per
tenant), taken with ``pg_try_advisory_lock`` and never waited for: a run that finds it taken
raises :class:`JobBusy` at once, naming the holder, instead of queueing behind a job that may
take minutes. Two maintenance runs, two exports, or one of each therefore never overlap
(issue 11): maintenance drops and creates partitions and deletes export leftovers that a
concurrent export would be reading or writing. A job that dies (killed, connection lost)
releases the lock with its session.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from gim_faust import postgres
from gim_faust.errors import RetriableError

log = logging.getLogger(__name__)

# b"gimjobs\x01": "a maintenance run or an export works on this Info Mart". Distinct from the
# migrator's and GCA's keys (gim_faust.loaders.migrate, gim_faust.gca.infomart).
JOB_LOCK_KEY = postgres.lock_key(b"gimjobs\x01")
# The lock key as pg_locks shows it: the high and low 32 bits in classid and objid.
_CLASSID, _OBJID = JOB_LOCK_KEY >> 32, JOB_LOCK_KEY & 0xFFFFFFFF
# The session the jobs' SQL expects (timestamps written and read in UTC, ISO dates).
SESSION = {"TimeZone": "UTC", "DateStyle": "ISO,YMD"}


@dataclass(frozen=True)
class InfoMart:
    """What the two jobs work on, as plain values: the tenant, its Info Mart, where files
    go, how long facts (and 15-minute aggregates) are kept and how far ahead partitions are
    made. The services build it from their settings (``gim_faust.gim.scheduled_jobs.info_mart``);
    a script can build it by hand, so the jobs need none of the product's configuration."""

    tenant: str
    url: str = field(repr=False)
    object_store: str
    retention_days: int
    partitions_ahead_days: int
    # 15-minute aggregates (ag2_*_subhr) are kept this many days; hours and days as the facts
    subhr_retention_days: int = 62


class JobBusy(RetriableError):
    """Another maintenance run or export holds the job lock; try again later."""


def connect(conninfo: str, application_name: str) -> postgres.Connection[Any]:
    """An autocommit connection with the product's timeouts and keepalives, in UTC."""
    return postgres.connect(conninfo, application_name, SESSION)


def holder(conn: postgres.Connection[Any]) -> str:
    """Who holds the job lock, as well as pg_locks and pg_stat_activity tell."""
    row = conn.execute(
        "SELECT a.application_name, a.pid, a.backend_start FROM pg_locks l "
        "LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s "
        "AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database "
        "WHERE datname = current_database())", (_CLASSID, _OBJID)).fetchone()
    if row is None:
        return "another job"
    name, pid, since = row
    return f"{name or 'a session'} (pid {pid}, connected since {since:%Y-%m-%dT%H:%M:%SZ})" \
        if since else f"{name or 'a session'} (pid {pid})"


@contextmanager
def job_lock(conn: postgres.Connection[Any], job: str) -> Iterator[None]:
    """Holds the job lock on ``conn`` for the block; :class:`JobBusy` if someone has it."""
    with postgres.session_lock(conn, JOB_LOCK_KEY, lambda: JobBusy(
            f"{job}: another maintenance run or export is working on this Info Mart "
            f"({holder(conn)}); try again when it has finished")):
        yield


# What ``ctl_audit_log.source`` each job's completed runs carry (maintenance writes its row
# itself; the export command writes one after each successful run, see export.record_run).
RUN_SOURCES = {"maintenance": "gim-maintenance", "export": "gim-export"}


def record_run(conn: postgres.Connection[Any], source: str, rows: int,
               detail: dict[str, Any]) -> None:
    """The ``ctl_audit_log`` row of a completed job run."""
    conn.execute("INSERT INTO ctl_audit_log (source, rows, detail) VALUES (%s, %s, %s)",
                 (source, rows, Jsonb(detail)))


def last_completed(conn: postgres.Connection[Any]) -> dict[str, datetime | None]:
    """When each job last completed on this Info Mart, by any process (a worker's schedule,
    a CronJob, an operator), or when the schema was first created if it never did: a new
    Info Mart gets one schedule interval of grace before it counts as overdue."""
    parts = sql.SQL(", ").join(
        sql.SQL("(SELECT created_ts FROM ctl_audit_log WHERE source = {} "
                "ORDER BY audit_key DESC LIMIT 1)").format(sql.Literal(source))
        for source in RUN_SOURCES.values())
    row = conn.execute(sql.SQL("SELECT {}, (SELECT min(applied_ts) FROM ctl_schema_version)")
                       .format(parts)).fetchone()
    assert row is not None  # a SELECT of scalar subqueries has exactly one row
    created = row[-1]
    return {job: last or created for job, last in zip(RUN_SOURCES, row[:-1], strict=True)}


def read_last_completed(conninfo: str) -> dict[str, datetime | None]:
    """:func:`last_completed` on a connection of its own (for the worker's thread)."""
    conn = connect(conninfo, "gim-faust job status")
    try:
        with conn:
            return last_completed(conn)
    except postgres.Error as exc:
        raise postgres.translate(exc, conninfo, "reading when the jobs last ran") from None
