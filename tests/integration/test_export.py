"""``gim-faust gim export`` on the real PostgreSQL, on S3 and on ``file://`` (issue 11).

The Info Mart holds the ``day`` scenario: every fact version the transforms emit, loaded by the
loader's writer, and the configuration dimensions GCA writes. Then:

- the first export writes every table; the manifest's counts equal the database's, each file's
  SHA-256 is right, and each CSV, read back by PostgreSQL's own CSV reader into a table of the
  same shape, gives exactly the table's rows (Python's csv module checks the format too);
- a second export with no change writes nothing (the documented choice);
- after more facts and a configuration change, the next export holds exactly the rows that are
  new or changed, and the ``date_time`` rows they refer to;
- a load that drew its audit key before the export's snapshot but committed after it is
  exported by the next export (commit order differs from key order);
- a window export on ``end_ts`` holds the facts of the window and leaves the delta chain alone;
- export and maintenance share one lock; the command prints a summary and JSON.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import hashlib
import io
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from gim_faust.loaders import aggregate, export_sql, records
from gim_faust.loaders import migrate as migrations
from gim_faust.loaders.export import export
from gim_faust.loaders.jobs import JOB_LOCK_KEY, JobBusy
from gim_faust.loaders.maintenance import maintain

from gim_faust.errors import FatalError
from gim_faust.models.facts import InteractionFact
from gim_faust.objectstore import open_store
from tests.support import gim_jobs as jobs

pytestmark = pytest.mark.integration

STATIC = {"media_type", "interaction_type", "technical_descriptor", "resource_state"}
DIMENSIONS = {"resource_", "resource_state_reason", "group_", "skill", "resource_group_fact_",
              "resource_skill_fact_"}
AGGREGATES = {f"ag2_{family}_{grain}" for family in ("queue", "agent", "agent_reason")
              for grain in ("subhr", "hour", "day")}
EVERY_TABLE = (STATIC | DIMENSIONS | {"date_time"} | set(records.PARTITIONED_TABLES)
               | AGGREGATES)
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SCRIPT = Path(sys.executable).with_name("gim-faust")


@pytest.fixture
def config_url(db_factory: Callable[[], str]) -> str:
    return jobs.config_db(db_factory())


@pytest.fixture
def mart(fresh_db: str) -> str:
    return jobs.infomart(fresh_db)


@pytest.fixture
def conn(mart: str) -> Iterator[psycopg.Connection[Any]]:
    with jobs.connect(mart) as c:
        yield c


def _check_export(conn: psycopg.Connection[Any], store: Any, folder: str,
                  expected: dict[str, set[tuple[Any, ...]]]) -> dict[str, Any]:
    """The export in ``folder`` holds exactly ``expected`` (table → rows), and says so."""
    manifest = jobs.manifest(store, folder)
    listed = {t["name"]: t for t in manifest["tables"]}
    assert set(listed) == set(expected)
    for table, want in expected.items():
        entry = listed[table]
        data = jobs.table_file(store, folder, table)
        assert entry["file"] == f"{table}.csv.gz"
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data)
        assert entry["rows"] == len(want), table
        # Read back by PostgreSQL: the same rows, NULLs, empty strings and types included.
        got = jobs.read_back(conn, table, data)
        assert len(got) == len(want) and set(got) == want, table
        # And by Python's csv module: RFC 4180, a header of the table's columns, ISO UTC times.
        text = gzip.decompress(data).decode("utf-8")
        assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
        parsed = list(csv.reader(io.StringIO(text, newline="")))
        columns = [c["name"] for c in entry["columns"]]
        assert parsed[0] == columns
        assert len(parsed) == 1 + len(want)
        for i, (name, kind) in enumerate((c["name"], c["type"]) for c in entry["columns"]):
            if "with time zone" in kind:
                assert all(ISO_UTC.match(row[i]) for row in parsed[1:] if row[i]), name
    return manifest


def _snapshot(conn: psycopg.Connection[Any]) -> dict[str, set[tuple[Any, ...]]]:
    return {table: jobs.rows(conn, table) for table in EVERY_TABLE}


def _max_audit_key(conn: psycopg.Connection[Any]) -> int:
    return conn.execute("SELECT max(audit_key) FROM ctl_audit_log").fetchone()[0]  # type: ignore[index]


# --- the "Done when" ------------------------------------------------------------------

def _add_user_data(conn: psycopg.Connection[Any], mart: str, versions: list[Any]) -> None:
    """A kept key's column, as GCA adds it, and user data on every ended party of the day."""
    conn.execute("ALTER TABLE irf_user_data ADD COLUMN customer_segment text")
    ended = {f.id: f for f in versions if f.table == "interaction_resource_fact" and f.end_ts}
    jobs.load_facts(mart, [dataclasses.replace(f, user_data={"customer_segment": "Gold"})
                           for f in ended.values()])


def test_the_first_export_writes_every_table_and_reads_back(
        mart: str, conn: psycopg.Connection[Any], config_url: str, store_url: str,
        versions: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    jobs.load_facts(mart, versions)
    assert jobs.sync_dimensions(config_url, mart)
    _add_user_data(conn, mart, versions)
    assert aggregate.run_pending(mart, aggregate.Rules("UTC", 20, 10))
    # Several round trips of each server-side cursor, not one.
    monkeypatch.setattr(export_sql, "FETCH_ROWS", 97)
    result = export(jobs.settings(mart, store_url))
    store = open_store(store_url)
    assert result.folder is not None and result.url == f"{store.url}/acme/gim/exports/" \
        f"{result.folder}/"
    everything = _snapshot(conn)
    assert all(everything[t] for t in EVERY_TABLE)   # the scenario fills every table
    manifest = _check_export(conn, store, result.folder, everything)
    top = _max_audit_key(conn)
    assert manifest["format"] == "gim-export/1" and manifest["tenant"] == "acme"
    assert manifest["kind"] == "delta" and manifest["full"] is True
    assert manifest["high_water_mark"] == {"from": None, "to": top}
    assert manifest["schema_version"] == migrations.discover()[-1].version
    assert manifest["previous"] is None
    assert manifest["rows"] == sum(len(r) for r in everything.values())
    assert result.folder.startswith(f"{top:020d}_")
    assert manifest["pending_audit_keys"] == []
    # The manifest is the last object, the pointer names the folder.
    pointer = orjson.loads(store.get("acme/gim/exports/LATEST"))
    assert pointer["folder"] == result.folder and pointer["high_water_mark"] == top


def test_a_second_export_without_change_writes_nothing(
        mart: str, conn: psycopg.Connection[Any], store_url: str, versions: list[Any]) -> None:
    jobs.load_facts(mart, versions)
    settings = jobs.settings(mart, store_url)
    first = export(settings)
    store = open_store(store_url)
    objects = store.list("acme/")
    # A loader batch of repeats and a maintenance run add audit rows but change no row.
    jobs.load_facts(mart, versions[:50])
    maintain(jobs.settings(mart, store_url))
    second = export(settings)
    assert second.folder is None and second.rows == 0
    assert second.previous == first.folder
    assert "nothing changed" in second.summary()
    assert store.list("acme/") == objects


def test_the_next_export_holds_only_the_new_and_changed_rows(
        mart: str, conn: psycopg.Connection[Any], config_url: str, store_url: str,
        versions: list[Any]) -> None:
    half = len(versions) // 2
    jobs.load_facts(mart, versions[:half])
    jobs.sync_dimensions(config_url, mart)
    settings = jobs.settings(mart, store_url)
    first = export(settings)
    before = _snapshot(conn)
    jobs.load_facts(mart, versions[half:])
    with psycopg.connect(config_url, autocommit=True) as cfg:   # a configuration change
        cfg.execute("UPDATE cfg_dn SET name = 'Sales EMEA' WHERE dbid = 103")
    jobs.sync_dimensions(config_url, mart)
    second = export(settings)
    after = _snapshot(conn)
    assert second.folder is not None
    changed = {t: after[t] - before[t] for t in after if t not in STATIC and t != "date_time"}
    assert changed["resource_"] and changed["interaction_fact"]
    # Rows changed in the second half, nothing else; and some rows of the first half did.
    assert changed["interaction_fact"] != after["interaction_fact"]
    assert any(r[0] in {b[0] for b in before["interaction_fact"]}
               for r in changed["interaction_fact"])
    keys = {r[records.COLUMNS[t].index("start_date_time_key")] for t in records.FACT_TABLES
            for r in changed[t]}
    changed["date_time"] = {r for r in after["date_time"] if r[0] in keys}
    manifest = _check_export(conn, open_store(store_url), second.folder, changed)
    assert manifest["previous"] == first.folder and manifest["full"] is False
    assert manifest["time_range"] == {"from": first.manifest["created_ts"],
                                      "to": manifest["created_ts"]}
    assert manifest["high_water_mark"] == {"from": first.manifest["high_water_mark"]["to"],
                                           "to": _max_audit_key(conn)}


def test_a_load_that_commits_after_the_snapshot_is_in_the_next_export(
        mart: str, conn: psycopg.Connection[Any], store_url: str, versions: list[Any]) -> None:
    jobs.load_facts(mart, versions[:200])
    settings = jobs.settings(mart, store_url)
    export(settings)
    late = InteractionFact("late-call", 1, 1, datetime(2026, 11, 2, 9, tzinfo=timezone.utc),
                           None, 1793610000, "+1555", "8001", "ACTIVE", 1, 1)
    with jobs.connect(mart) as slow:
        # A load that draws its audit key now and commits after an export ran ...
        slow.execute("BEGIN")
        key = slow.execute("SELECT nextval(pg_get_serial_sequence('ctl_audit_log', "
                           "'audit_key'))").fetchone()[0]  # type: ignore[index]
        slow.execute(
            "INSERT INTO interaction_fact (interaction_id, media_type_key, interaction_type_key, "
            "start_ts, start_date_time_key, status, active_flag, version, create_audit_key, "
            "update_audit_key) VALUES (%s, 1, 1, %s, %s, 'ACTIVE', 1, 1, %s, %s)",
            (late.interaction_id, late.start_ts, late.start_date_time_key, key, key))
        # ... while a later load commits first.
        first = versions[0]   # a new version that changes the row (a renumbering alone would not)
        later = jobs.load_facts(mart, [dataclasses.replace(
            first, version=10**6, active_flag=1 - first.active_flag)])
        assert later[0] > key
        middle = export(settings)
        assert middle.folder is not None
        assert middle.manifest["high_water_mark"]["to"] >= later[0] > key
        assert ("late-call",) not in {(r[0],) for r in jobs.read_back(
            conn, "interaction_fact", jobs.table_file(open_store(store_url), middle.folder,
                                                      "interaction_fact"))}
        pending = middle.manifest["pending_audit_keys"]
        assert any(lo <= key <= hi for group in pending for lo, hi in group["ranges"])
        slow.execute("INSERT INTO ctl_audit_log (audit_key, source) VALUES (%s, 'test')",
                     (key,))
        slow.execute("COMMIT")
    last = export(settings)
    assert last.folder is not None
    exported = jobs.read_back(conn, "interaction_fact", jobs.table_file(
        open_store(store_url), last.folder, "interaction_fact"))
    assert [r[0] for r in exported] == ["late-call"]
    assert last.manifest["pending_audit_keys"] == []
    assert export(settings).folder is None


def test_a_window_export_holds_the_facts_that_ended_in_it(
        mart: str, conn: psycopg.Connection[Any], config_url: str, store_url: str,
        versions: list[Any]) -> None:
    jobs.load_facts(mart, versions)
    jobs.sync_dimensions(config_url, mart)
    assert aggregate.run_pending(mart, aggregate.Rules("UTC", 20, 10))
    settings = jobs.settings(mart, store_url)
    delta = export(settings)
    start = datetime(2026, 11, 2, 9, tzinfo=timezone.utc)
    end = start + timedelta(hours=2)
    window = export(settings, (start, end))
    assert window.folder is not None and window.folder != delta.folder
    facts = {t: jobs.rows(conn, t, "end_ts >= %s AND end_ts < %s", (start, end))
             for t in records.PARTITIONED_TABLES}
    assert facts["interaction_fact"] and facts["sm_res_state_fact"]
    assert sum(map(len, facts.values())) < sum(len(jobs.rows(conn, t))
                                               for t in records.FACT_TABLES)
    keys = {r[records.COLUMNS[t].index("start_date_time_key")] for t in facts for r in facts[t]}
    intervals = {t: jobs.rows(conn, t, "interval_start_ts >= %s AND interval_start_ts < %s",
                              (start, end)) for t in AGGREGATES}
    assert intervals["ag2_queue_subhr"] and intervals["ag2_agent_hour"]  # days start at 00:00
    expected = {**facts, **intervals, **{t: jobs.rows(conn, t) for t in STATIC | DIMENSIONS},
                "date_time": {r for r in jobs.rows(conn, "date_time") if r[0] in keys}}
    manifest = _check_export(conn, open_store(store_url), window.folder, expected)
    assert manifest["kind"] == "window"
    assert manifest["window"] == {"from": "2026-11-02T09:00:00.000Z",
                                  "to": "2026-11-02T11:00:00.000Z"}
    # The delta chain is untouched: the pointer still names the delta, and nothing changed.
    store = open_store(store_url)
    assert orjson.loads(store.get("acme/gim/exports/LATEST"))["folder"] == delta.folder
    assert export(settings).folder is None


def test_an_incomplete_export_is_ignored_by_the_next_one(
        mart: str, conn: psycopg.Connection[Any], store_url: str, versions: list[Any]) -> None:
    jobs.load_facts(mart, versions[:300])
    settings = jobs.settings(mart, store_url)
    first = export(settings)
    store = open_store(store_url)
    # A crashed export: files, no manifest, a folder name that sorts after every other one.
    store.put("acme/gim/exports/99999999999999999999_20991231T000000.000Z/interaction_fact"
              ".csv.gz", gzip.compress(b"interaction_id\r\n"))
    store.delete("acme/gim/exports/LATEST")         # and no pointer: the listing decides
    jobs.load_facts(mart, versions[300:400])
    second = export(settings)
    assert second.folder is not None and second.previous == first.folder
    assert second.manifest["high_water_mark"]["from"] == first.manifest["high_water_mark"]["to"]


# --- the lock and the command -------------------------------------------------------------------

def test_export_and_maintenance_share_one_lock(mart: str, store_url: str) -> None:
    settings = jobs.settings(mart, store_url)
    with psycopg.connect(mart, autocommit=True,
                         application_name="gim-faust export") as other:
        other.execute("SELECT pg_advisory_lock(%s)", (JOB_LOCK_KEY,))
        with pytest.raises(JobBusy, match="gim-faust export"):
            export(settings)
        with pytest.raises(JobBusy, match="another maintenance run or export"):
            maintain(settings)
        other.execute("SELECT pg_advisory_unlock(%s)", (JOB_LOCK_KEY,))
    assert export(settings).folder is not None


def _command(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("GIM_")}
    full.update(env)
    return subprocess.run([str(SCRIPT), "gim", "export", *args], capture_output=True, text=True,
                          env=full, timeout=120)


def test_the_command_prints_a_summary_and_the_manifest(mart: str, store_url: str,
                                                       versions: list[Any]) -> None:
    jobs.load_facts(mart, versions[:300])
    env = {"GIM_TENANT": "acme", "GIM_INFOMART_DB_URL": mart, "GIM_OBJECT_STORE": store_url}
    done = _command(**env)
    assert done.returncode == 0, done.stderr
    summary, body = done.stdout.strip().splitlines()
    report = orjson.loads(body)
    assert report["written"] is True
    assert summary.startswith(f"export: {report['manifest']['rows']} rows in 26 tables to ")
    assert "\r" not in done.stderr    # no progress display when stderr is not a terminal
    again = _command(**env)
    assert again.returncode == 0 and "nothing changed" in again.stdout
    assert orjson.loads(again.stdout.splitlines()[1])["written"] is False
    window = _command("--from", "2026-11-02T00:00:00Z", "--to", "2026-11-03T00:00:00Z", **env)
    assert window.returncode == 0 and "window 2026-11-02T00:00:00.000Z" in window.stdout
    half = _command("--from", "2026-11-02T00:00:00Z", **env)
    assert half.returncode == 2 and "--to" in half.stderr
    assert len(half.stderr.strip().splitlines()) == 1
    backwards = _command("--from", "2026-11-03", "--to", "2026-11-02", **env)
    assert backwards.returncode == 2 and "not before" in backwards.stderr
    with psycopg.connect(mart, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (JOB_LOCK_KEY,))
        busy = _command(**env)
    assert busy.returncode == 1
    assert busy.stderr.strip().splitlines()[-1].startswith("gim-faust: export: another ")


def test_an_info_mart_recreated_under_old_exports_is_refused(
        db_factory: Callable[[], str], store_url: str, versions: list[Any]) -> None:
    first = jobs.infomart(db_factory())
    jobs.load_facts(first, versions[:600])
    export(jobs.settings(first, store_url))
    second = jobs.infomart(db_factory())     # a new Info Mart, the same store and tenant
    jobs.load_facts(second, versions[:100])
    with pytest.raises(FatalError, match="recreated or restored"):
        export(jobs.settings(second, store_url))
