"""``gim-faust gim maintenance`` on the real PostgreSQL, with S3 and ``file://`` stores
(issue 11, "Done when").

The Info Mart holds the ``day`` scenario (its day, 2026-11-02, has no partition: the migration
makes them around the day it runs, so the rows sit in the default partitions) plus rows made
for the test past retention:

- day A (500 days ago): a partition with final rows only → dropped;
- day B (450 days ago): a partition with a final row and an active row → kept, the final row
  purged, the active row left in place and reported;
- day C (420 days ago, no partition): a final row and an active row in the default partition →
  the final row purged, the active row left in place and reported;
- audit rows from 500 days ago, one of them named by the old active row → the others purged;
- an incomplete export (no manifest) in object storage → deleted; a complete one stays.

One run creates the partitions ahead, moves the scenario's rows out of the default partitions,
fills the calendar a year ahead, applies retention and analyzes what changed; a second run
changes nothing. A busy table is skipped and reported, and done by the next run. The worker
runs the job on its schedule and reports it in its metrics.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from gim_faust.loaders import maintenance_sql, records
from gim_faust.loaders.jobs import JOB_LOCK_KEY
from gim_faust.loaders.maintenance import maintain
from gim_faust.loaders.maintenance_plan import CALENDAR_AHEAD_DAYS
from gim_faust.transforms.keys import date_time_key
from psycopg import sql

from gim_faust.objectstore import open_store
from gim_faust.topics import Topics
from tests.support import gim_jobs as jobs
from tests.support.gim_worker import WorkerProcess
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

SESSION = "sm_res_session_fact"
SCRIPT = Path(sys.executable).with_name("gim-faust")


@pytest.fixture
def mart(fresh_db: str, versions: list[Any]) -> str:
    jobs.infomart(fresh_db)
    jobs.load_facts(fresh_db, versions)
    return fresh_db


@pytest.fixture
def conn(mart: str) -> Iterator[psycopg.Connection[Any]]:
    with jobs.connect(mart) as c:
        yield c


def _today(conn: psycopg.Connection[Any]) -> date:
    return conn.execute("SELECT (now() AT TIME ZONE 'UTC')::date").fetchone()[0]  # type: ignore[index]


def _partitions(conn: psycopg.Connection[Any], table: str) -> set[str]:
    return {r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass", (table,)).fetchall()}


def _session(conn: psycopg.Connection[Any], row_id: str, start: datetime, active: int,
             audit: int | None = None) -> None:
    conn.execute(
        "INSERT INTO sm_res_session_fact (sm_res_session_id, resource_key, media_type_key, "
        "start_ts, end_ts, total_duration, start_date_time_key, active_flag, version, "
        "create_audit_key, update_audit_key) VALUES (%s, 1000000001001, 1, %s, %s, %s, %s, %s, "
        "1, %s, %s)",
        (row_id, start, None if active else start + timedelta(minutes=5),
         None if active else 300, date_time_key(int(start.timestamp() * 1000)), active,
         audit, audit))


def _old_rows(conn: psycopg.Connection[Any], today: date) -> dict[str, Any]:
    """The rows past retention the module docstring lists; what the test needs to know."""
    day_a, day_b, day_c = (today - timedelta(days=n) for n in (500, 450, 420))
    at = {d: datetime(d.year, d.month, d.day, 10, tzinfo=timezone.utc)
          for d in (day_a, day_b, day_c)}
    for day in (day_a, day_b):
        conn.execute("SELECT gim_ensure_partition(%s::regclass, %s)", (SESSION, day))
    old_audit = [conn.execute(
        "INSERT INTO ctl_audit_log (created_ts, source) VALUES (%s, 'test') RETURNING audit_key",
        (at[day_a],)).fetchone()[0] for _ in range(3)]  # type: ignore[index]
    _session(conn, "old-a-1", at[day_a], 0)
    _session(conn, "old-a-2", at[day_a] + timedelta(hours=1), 0)
    _session(conn, "old-b-final", at[day_b], 0)
    _session(conn, "old-b-active", at[day_b] + timedelta(hours=1), 1, audit=old_audit[0])
    _session(conn, "old-c-final", at[day_c], 0)
    _session(conn, "old-c-active", at[day_c] + timedelta(hours=1), 1)
    return {"a": f"{SESSION}_p{day_a:%Y%m%d}", "b": f"{SESSION}_p{day_b:%Y%m%d}",
            "kept_audit": old_audit[0], "purged_audit": old_audit[1:]}


def _state(url: str) -> str:
    """A digest of the partitions and of every row maintenance may touch."""
    digest = hashlib.sha256()
    with jobs.connect(url) as conn:
        digest.update(repr(conn.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_class c "
            "WHERE c.relispartition ORDER BY 1").fetchall()).encode())
        for table in (*records.FACT_TABLES, "date_time"):
            digest.update(repr(conn.execute(sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                "FROM {} t").format(sql.Identifier(table))).fetchone()).encode())
        digest.update(repr(conn.execute(
            "SELECT audit_key FROM ctl_audit_log WHERE source <> 'gim-maintenance' ORDER BY 1"
        ).fetchall()).encode())
    return digest.hexdigest()


def test_maintenance_does_its_job_and_a_second_run_changes_nothing(
        mart: str, conn: psycopg.Connection[Any], store_url: str) -> None:
    today = _today(conn)
    old = _old_rows(conn, today)
    in_default = {t: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
        sql.Identifier(f"{t}_default"))).fetchone()[0] for t in records.FACT_TABLES}  # type: ignore[index]
    assert all(in_default.values())     # the scenario's day has no partition yet
    scenario_rows = {t: jobs.rows(conn, t, "start_ts >= '2026-01-01'")
                     for t in records.FACT_TABLES}
    store = open_store(store_url)
    store.put("acme/gim/exports/00000000000000000001_20261101T000000.000Z/manifest.json", b"{}")
    store.put("acme/gim/exports/00000000000000000001_20261101T000000.000Z/x.csv.gz", b"1")
    store.put("acme/gim/exports/00000000000000000002_20261102T000000.000Z/x.csv.gz", b"2")
    store.put("acme/gim/exports/00000000000000000002_20261102T000000.000Z/y.csv.gz", b"3")
    settings = jobs.settings(mart, store_url, GIM_PARTITIONS_AHEAD_DAYS="20")

    report = maintain(settings)

    assert report is not None and report.changed and not report.skipped
    # Partitions ahead: the migration made them through today + 14; 15 to 20 are new.
    for table in records.FACT_TABLES:
        have = _partitions(conn, table)
        assert {f"{table}_p{today + timedelta(days=n):%Y%m%d}" for n in range(21)} <= have
        assert f"{table}_p20261102" in have                       # the scenario's day
        counts = report.tables[table]
        assert counts.partitions_created == 6 + 1
        # Moved out of the default partition, all of them but the expired session rows.
        assert counts.rows_moved == in_default[table] - (2 if table == SESSION else 0)
    assert {t: jobs.rows(conn, t, "start_ts >= '2026-01-01'")     # moved, not changed
            for t in records.FACT_TABLES} == scenario_rows
    # Retention: day A dropped, day B kept for its active row, day C's active row in default.
    assert conn.execute("SELECT to_regclass(%s)", (old["a"],)).fetchone() == (None,)
    assert conn.execute(sql.SQL("SELECT sm_res_session_id FROM {}").format(
        sql.Identifier(old["b"]))).fetchall() == [("old-b-active",)]
    assert [r[0] for r in conn.execute(
        "SELECT sm_res_session_id FROM sm_res_session_fact_default ORDER BY 1")] == [
        "old-c-active"]
    session = report.tables[SESSION]
    assert (session.partitions_dropped, session.partitions_kept, session.active_rows_kept,
            session.rows_purged) == (1, 1, 2, 4)
    # Calendar: a year ahead from today, every interval.
    start = datetime(today.year, today.month, today.day, tzinfo=timezone.utc)
    assert conn.execute(
        "SELECT count(*) FROM date_time WHERE interval_start_ts >= %s AND interval_start_ts < %s",
        (start, start + timedelta(days=CALENDAR_AHEAD_DAYS))).fetchone() == (
        CALENDAR_AHEAD_DAYS * 96,)
    assert report.date_time_rows > 0
    # Audit log: old rows purged unless a remaining row names them.
    left = {r[0] for r in conn.execute("SELECT audit_key FROM ctl_audit_log")}
    assert old["kept_audit"] in left and not left & set(old["purged_audit"])
    assert report.audit_rows_purged == 2
    # Export leftovers: the folder without a manifest is gone, the complete one stays.
    assert store.list("acme/gim/exports/") == [
        "acme/gim/exports/00000000000000000001_20261101T000000.000Z/manifest.json",
        "acme/gim/exports/00000000000000000001_20261101T000000.000Z/x.csv.gz"]
    assert report.export_objects_deleted == 2
    assert {"date_time", "ctl_audit_log", f"{SESSION}_default",
            f"{SESSION}_p20261102"} <= set(report.analyzed)
    assert conn.execute("SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                        "WHERE relname = 'date_time'").fetchone() == (True,)
    # Its audit row holds the report.
    detail = conn.execute("SELECT detail FROM ctl_audit_log WHERE source = 'gim-maintenance'"
                          ).fetchone()[0]  # type: ignore[index]
    assert detail["totals"]["partitions_created"] == report.total("partitions_created")

    before = _state(mart)
    again = maintain(settings)
    assert again is not None and not again.changed and not again.skipped
    assert again.total("partitions_created") == again.total("rows_moved") == 0
    assert again.total("partitions_dropped") == again.total("rows_purged") == 0
    assert again.date_time_rows == again.audit_rows_purged == 0 and again.analyzed == []
    assert again.tables[SESSION].active_rows_kept == 2        # still there, still reported
    assert _state(mart) == before


def test_a_busy_table_is_skipped_reported_and_done_next_time(
        mart: str, conn: psycopg.Connection[Any], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(maintenance_sql, "LOCK_TIMEOUT_MS", 200)
    monkeypatch.setattr(maintenance_sql, "RETRY_PAUSE_S", 0.05)
    settings = jobs.settings(mart, f"file://{tmp_path / 'objects'}")
    with jobs.connect(mart) as reader:
        # A long report holds the interactions' default partition, which the move must lock.
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM interaction_fact_default")
        report = maintain(settings)
        reader.execute("COMMIT")
    assert report is not None
    assert report.skipped == ["creating partition interaction_fact_p20261102: LockNotAvailable"]
    assert report.tables["interaction_fact"].rows_moved == 0
    assert report.tables["mediation_segment_fact"].rows_moved > 0   # the others went on
    later = maintain(settings)
    assert later is not None and not later.skipped
    assert later.tables["interaction_fact"].rows_moved > 0
    assert conn.execute("SELECT count(*) FROM interaction_fact_default").fetchone() == (0,)


def _command(**env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("GIM_")}
    full.update(env)
    return subprocess.run([str(SCRIPT), "gim", "maintenance"], capture_output=True, text=True,
                          env=full, timeout=120)


def test_the_command_prints_a_summary_and_the_report(mart: str, store_url: str) -> None:
    env = {"GIM_TENANT": "acme", "GIM_INFOMART_DB_URL": mart, "GIM_OBJECT_STORE": store_url}
    done = _command(**env)
    assert done.returncode == 0, done.stderr
    summary, body = done.stdout.strip().splitlines()
    report = orjson.loads(body)
    assert summary.startswith("maintenance: 5 partitions created")
    assert report["changed"] is True and report["totals"]["rows_moved"] > 0
    again = _command(**env)
    assert again.returncode == 0
    assert orjson.loads(again.stdout.splitlines()[1])["changed"] is False
    with psycopg.connect(mart, autocommit=True, application_name="gim-faust export") as other:
        other.execute("SELECT pg_advisory_lock(%s)", (JOB_LOCK_KEY,))
        busy = _command(**env)
    assert busy.returncode == 1 and busy.stdout == ""
    assert busy.stderr.strip().splitlines()[-1].startswith(
        "gim-faust: maintenance: another maintenance run or export is working on this Info "
        "Mart (gim-faust export (pid ")


@pytest.fixture
async def fact_topic(make_topics: Any, topic_prefix: str) -> str:
    (name,) = await make_topics(Topics(topic_prefix).facts, partitions=1)
    return name


def test_the_worker_runs_maintenance_on_its_schedule(
        fact_topic: str, topic_prefix: str, fresh_db: str, kafka_bootstrap: str,
        tmp_path: Path) -> None:
    env = {"GIM_TENANT": "acme", "GIM_TOPIC_PREFIX": topic_prefix,
           "GIM_INFOMART_DB_URL": fresh_db, "GIM_KAFKA_BOOTSTRAP": kafka_bootstrap,
           "GIM_OBJECT_STORE": f"file://{tmp_path / 'objects'}",
           # Due 3 s after the worker migrates the fresh database (the migration counts as a
           # run), then every 3 s; each later run finds nothing to do.
           "GIM_MAINTENANCE_INTERVAL": "3", "GIM_PARTITIONS_AHEAD_DAYS": "17"}
    with WorkerProcess(env, tmp_path / "worker.log") as worker:
        worker.wait_ready()
        wait_until(lambda: worker.metric("gim_maintenance_runs_total", 0.0, outcome="ok") >= 2,
                   "two maintenance runs in the worker", 60, service=worker)
        # Days 15, 16 and 17 ahead, on each fact table, once.
        for table in records.PARTITIONED_TABLES:
            assert worker.metric("gim_maintenance_partitions_created_total",
                                 table=table) == 3
        assert worker.metric("gim_maintenance_date_time_rows_total") == CALENDAR_AHEAD_DAYS * 96
        assert worker.metric("gim_maintenance_last_success_timestamp_seconds") > 0
        assert f"maintenance: {3 * len(records.PARTITIONED_TABLES)} partitions created" in \
            worker.log_text()
        assert worker.stop() == 0
    with jobs.connect(fresh_db) as conn:
        today = _today(conn)
        assert f"interaction_fact_p{today + timedelta(days=17):%Y%m%d}" in _partitions(
            conn, "interaction_fact")


def test_aggregate_rows_go_by_their_own_retention(fresh_db: str, store_url: str) -> None:
    """15-minute rows after GIM_AGGREGATE_SUBHR_RETENTION_DAYS, hours and days after
    GIM_RETENTION_DAYS (contract aggregates.md keeps the grains apart)."""
    mart = jobs.settings(fresh_db, store_url, GIM_RETENTION_DAYS="90",
                         GIM_AGGREGATE_SUBHR_RETENTION_DAYS="30")
    jobs.infomart(fresh_db)
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    ages = {"recent": now - timedelta(days=10), "month": now - timedelta(days=40),
            "old": now - timedelta(days=100)}
    with jobs.connect(fresh_db) as conn:
        for start in ages.values():
            conn.execute("INSERT INTO ag2_queue_subhr (interval_start_ts, interval_length_s, "
                         "date_time_key, resource_key, media_type_key, service_level_threshold, "
                         "short_abandon_threshold, entered) VALUES (%s, 900, %s, 1, 1, 20, 10, 1)",
                         (start, int(start.timestamp())))
            conn.execute("INSERT INTO ag2_queue_hour (interval_start_ts, interval_length_s, "
                         "resource_key, media_type_key, entered) VALUES (%s, 3600, 1, 1, 1)",
                         (start,))
    report = maintain(mart)
    assert report is not None
    with jobs.connect(fresh_db) as conn:
        kept = {table: {row[0] for row in conn.execute(
            f"SELECT interval_start_ts FROM {table}")} for table in ("ag2_queue_subhr",
                                                                   "ag2_queue_hour")}
    assert kept == {"ag2_queue_subhr": {ages["recent"]},
                    "ag2_queue_hour": {ages["recent"], ages["month"]}}
    assert report.tables["ag2_queue_subhr"].rows_purged == 2
    assert report.tables["ag2_queue_hour"].rows_purged == 1
