"""The Info Mart schema on a real PostgreSQL: contract names, docs, migrations, partitions.

What is checked, each against ``migrate`` run on a fresh database:
- every table and column the contract (``infomart.md`` v1) names exists: the list is copied
  below from the contract, deliberately by hand, so a change of either shows up here;
- fact columns are exactly the fields of ``gim_faust.models.facts`` plus version and audit columns,
  with the types and nullability that the contract's conventions give;
- ``docs/infomart.md`` describes exactly the columns the database has, table by table;
- migrating again applies nothing and changes nothing; an older schema is upgraded by the newer
  files only; a failing file leaves nothing behind; concurrent migrators do not collide;
- the static dimensions hold exactly ``transforms/codes.py``;
- ``gim_ensure_date_time`` and ``gim_ensure_partitions`` do what the docs say, including
  moving rows that already sit in the default partition.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
import types
import typing
import urllib.parse
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from gim_faust.loaders import migrate as migrations
from gim_faust.loaders.migrate import MIGRATIONS_DIR, STATIC_DIMENSIONS, migrate
from gim_faust.loaders.writer import Batch, Writer
from gim_faust.transforms import codes
from gim_faust.transforms.keys import date_time_key
from psycopg import sql

from gim_faust.errors import FatalError, RetriableError
from gim_faust.models import facts

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "infomart.md"

# From the contract's infomart.md, table by table (v1). Names only: the types are checked
# by the conventions below.
CONTRACT: dict[str, set[str]] = {
    "resource_": {"resource_key", "resource_type", "resource_name", "employee_id", "user_name",
                  "agent_first_name", "agent_last_name", "dn_number", "switch_name",
                  "config_dbid"},
    "media_type": {"media_type_key", "media_name_code"},
    "interaction_type": {"interaction_type_key", "interaction_type_code"},
    "technical_descriptor": {"technical_descriptor_key", "technical_result"},
    "resource_state": {"resource_state_key", "state_name"},
    "resource_state_reason": {"resource_state_reason_key", "reason_code", "reason_name"},
    "date_time": {"date_time_key", "cal_date", "interval_start_ts", "hour_of_day",
                  "day_of_week"},
    "group_": {"group_key", "group_name", "group_type"},
    "skill": {"skill_key", "skill_name"},
    "resource_group_fact_": {"resource_key", "group_key", "start_ts", "end_ts"},
    "resource_skill_fact_": {"resource_key", "skill_key", "skill_level", "start_ts", "end_ts"},
    "interaction_fact": {"interaction_id", "media_type_key", "interaction_type_key", "start_ts",
                         "end_ts", "start_date_time_key", "source_address", "target_address",
                         "status", "active_flag", "consult_of_interaction_id"},
    "mediation_segment_fact": {"mediation_segment_id", "interaction_id", "resource_key",
                               "media_type_key", "technical_descriptor_key", "start_ts",
                               "end_ts", "start_date_time_key", "mediation_duration",
                               "target_resource_key", "accepted_flag", "active_flag"},
    "interaction_resource_fact": {"interaction_resource_id", "interaction_id", "resource_key",
                                  "media_type_key", "interaction_type_key",
                                  "technical_descriptor_key", "start_ts", "end_ts",
                                  "start_date_time_key", "ring_duration", "talk_duration",
                                  "hold_duration", "hold_count", "after_call_work_duration",
                                  "customer_handle_count", "mediation_resource_key",
                                  "mediation_duration", "active_flag", "resource_role"},
    "irf_user_data": {"interaction_resource_id", "interaction_id", "start_date_time_key"},
    "sm_res_session_fact": {"sm_res_session_id", "resource_key", "media_type_key", "start_ts",
                            "end_ts", "total_duration", "start_date_time_key", "active_flag"},
    "sm_res_state_fact": {"sm_res_state_id", "resource_key", "media_type_key",
                          "resource_state_key", "resource_state_reason_key", "start_ts",
                          "end_ts", "total_duration", "start_date_time_key", "active_flag"},
}
# The contract's one-column primary keys of facts; the schema adds start_ts (partitioning).
# irf_user_data (contract v2) is partitioned like them.
FACT_IDS = {"interaction_fact": "interaction_id", "mediation_segment_fact": "mediation_segment_id",
            "interaction_resource_fact": "interaction_resource_id",
            "sm_res_session_fact": "sm_res_session_id", "sm_res_state_fact": "sm_res_state_id",
            "irf_user_data": "interaction_resource_id"}
FACT_CLASSES = (facts.InteractionFact, facts.MediationSegmentFact, facts.InteractionResourceFact,
                facts.SessionFact, facts.StateFact)
DIMENSION_PKS = {"resource_": "resource_key", "media_type": "media_type_key",
                 "interaction_type": "interaction_type_key",
                 "technical_descriptor": "technical_descriptor_key",
                 "resource_state": "resource_state_key",
                 "resource_state_reason": "resource_state_reason_key",
                 "date_time": "date_time_key", "group_": "group_key", "skill": "skill_key"}
INDEXED = {  # table -> leading columns of an index reports or exports need
    "mediation_segment_fact": [("resource_key", "start_ts"), ("interaction_id",), ("end_ts",),
                               ("update_audit_key",)],
    "interaction_resource_fact": [("resource_key", "start_ts"), ("interaction_id",), ("end_ts",),
                                  ("update_audit_key",)],
    "sm_res_session_fact": [("resource_key", "start_ts"), ("end_ts",), ("update_audit_key",)],
    "sm_res_state_fact": [("resource_key", "start_ts"), ("end_ts",), ("update_audit_key",)],
    "interaction_fact": [("end_ts",), ("update_audit_key",)],
}


# --- helpers ---------------------------------------------------------------------------------

ADDED_IN_V2 = ("consult_of_interaction_id", "resource_role")  # by migration 0003
ALL = [m.version for m in migrations.discover()]  # what a new database gets

@pytest.fixture
def db(fresh_db: str) -> str:
    """A fresh database with the schema."""
    assert migrate(fresh_db) == ALL
    return fresh_db


@pytest.fixture
def conn(db: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(db, autocommit=True) as c:
        yield c


def _columns(conn: psycopg.Connection[Any]) -> dict[str, dict[str, tuple[str, bool]]]:
    """table -> column -> (formatted type, nullable) for every table that is not a partition."""
    rows = conn.execute("""
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
        ORDER BY c.relname, a.attnum""").fetchall()
    tables: dict[str, dict[str, tuple[str, bool]]] = {}
    for table, column, kind, nullable in rows:
        tables.setdefault(table, {})[column] = (kind, nullable)
    return tables


def _documented() -> dict[str, list[str]]:
    """table -> columns, from the '### `table`' sections of docs/infomart.md."""
    documented: dict[str, list[str]] = {}
    current: str | None = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^#{2,4} `(\w+)`\s*$", line)
        if heading:
            current = heading[1]
            assert current not in documented, f"{current} is documented twice"
            documented[current] = []
        elif line.startswith("#"):
            current = None
        elif current is not None:
            row = re.match(r"^\| `(\w+)` \|", line)
            if row:
                documented[current].append(row[1])
    return documented


def _fingerprint(url: str) -> str:
    """A digest of the catalog (relations, columns, constraints, indexes, functions, partition
    bounds) and of the content of the tables the migration fills."""
    queries = [
        """SELECT c.relname, c.relkind, coalesce(pg_get_expr(c.relpartbound, c.oid), '')
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' ORDER BY 1""",
        """SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
                  a.attnotnull, coalesce(pg_get_expr(d.adbin, d.adrelid), '')
           FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
           LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
           WHERE n.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped ORDER BY 1, 2""",
        """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
           FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2""",
        """SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index
           WHERE indrelid IN (SELECT oid FROM pg_class
                              WHERE relnamespace = 'public'::regnamespace) ORDER BY 1""",
        """SELECT p.oid::regprocedure::text, md5(p.prosrc) FROM pg_proc p
           WHERE p.pronamespace = 'public'::regnamespace ORDER BY 1""",
        "SELECT version, name, checksum, applied_ts FROM ctl_schema_version ORDER BY 1",
    ] + [f"SELECT {key}, {code} FROM {table} ORDER BY 1"
         for table, key, code, _ in STATIC_DIMENSIONS]
    digest = hashlib.sha256()
    with psycopg.connect(url) as c:
        for query in queries:
            digest.update(repr(c.execute(query).fetchall()).encode())
    return digest.hexdigest()


def _migrations_copy(tmp_path: Path, *extra: tuple[str, str], upto: str = "9999") -> Path:
    """A migrations folder with the real files up to version ``upto`` and ``extra`` (file
    name, SQL) added."""
    folder = tmp_path / f"migrations-{uuid.uuid4().hex[:6]}"
    shutil.copytree(MIGRATIONS_DIR, folder)
    for path in folder.glob("*.sql"):
        if path.name[:4] > upto:
            path.unlink()
    for name, text in extra:
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _with_dbname(url: str, dbname: str) -> str:
    return urllib.parse.urlunsplit(urllib.parse.urlsplit(url)._replace(path="/" + dbname))


def _utc_today(conn: psycopg.Connection[Any]) -> date:
    return conn.execute("SELECT (now() AT TIME ZONE 'UTC')::date").fetchone()[0]


def _partitions(conn: psycopg.Connection[Any], table: str) -> dict[str, str]:
    return dict(conn.execute("""
        SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass""",
        (table,)).fetchall())


def _session_row(row_id: str, start: datetime) -> dict[str, Any]:
    start_ms = int(start.timestamp() * 1000)
    return {"sm_res_session_id": row_id, "resource_key": 1_000_000_000_001, "media_type_key": 1,
            "start_ts": start, "end_ts": None, "total_duration": None,
            "start_date_time_key": date_time_key(start_ms), "active_flag": 1, "version": 1}


def _insert(conn: psycopg.Connection[Any], table: str, row: dict[str, Any]) -> None:
    conn.execute(sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, row)),
        sql.SQL(", ").join(sql.Placeholder() * len(row))), list(row.values()))


# --- contract names, types and docs ---------------------------------------------------------

def test_every_contract_table_and_column_exists(conn: psycopg.Connection[Any]) -> None:
    have = _columns(conn)
    for table, columns in CONTRACT.items():
        assert table in have, f"table {table} is missing"
        missing = columns - set(have[table])
        assert not missing, f"{table} lacks {sorted(missing)}"


def test_dimension_primary_keys(conn: psycopg.Connection[Any]) -> None:
    for table, key in DIMENSION_PKS.items():
        pk = conn.execute("""
            SELECT array_agg(a.attname ORDER BY a.attnum) FROM pg_index i
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
            WHERE i.indrelid = %s::regclass AND i.indisprimary""", (table,)).fetchone()[0]
        assert pk == [key], table


def test_fact_columns_are_the_fact_fields(conn: psycopg.Connection[Any]) -> None:
    have = _columns(conn)
    for cls in FACT_CLASSES:
        table = cls.table
        hints = typing.get_type_hints(cls)
        # columns a later migration added come after the audit keys, as it appended them
        names = [f.name for f in dataclasses.fields(cls) if f.name != "user_data"]
        added = [name for name in names if name in ADDED_IN_V2]
        wanted = [n for n in names if n not in added] + ["create_audit_key",
                                                         "update_audit_key"] + added
        assert list(have[table]) == wanted, table
        for name, (kind, nullable) in have[table].items():
            if name.endswith("_ts"):
                assert kind == "timestamp(3) with time zone", (table, name)
            elif name.endswith("_key") or name == "version":  # date-time keys too (v2)
                assert kind == "bigint", (table, name)
            elif name.endswith(("_duration", "_count", "_flag")):
                assert kind == "integer", (table, name)
            else:
                assert kind == "text", (table, name)  # ids, addresses, status
            if name in hints:
                optional = isinstance(hints[name], types.UnionType) and \
                    type(None) in typing.get_args(hints[name])
                assert nullable == optional, (table, name, hints[name])


def test_conventions_hold_in_every_table(conn: psycopg.Connection[Any]) -> None:
    for table, columns in _columns(conn).items():
        for name, (kind, _) in columns.items():
            if name.endswith("_ts"):
                assert kind == "timestamp(3) with time zone", (table, name)
            if name.endswith("_key"):  # date-time keys too (contract v2)
                assert kind == "bigint", (table, name)
            if name.endswith(("_duration", "_count", "_flag")):
                assert kind == "integer", (table, name)


def test_fact_primary_keys_are_id_and_start_ts(conn: psycopg.Connection[Any]) -> None:
    for table, id_column in FACT_IDS.items():
        pk = conn.execute("""
            SELECT pg_get_constraintdef(oid) FROM pg_constraint
            WHERE conrelid = %s::regclass AND contype = 'p'""", (table,)).fetchone()[0]
        assert pk == f"PRIMARY KEY ({id_column}, start_ts)", table
        strategy = conn.execute("SELECT pg_get_partkeydef(%s::regclass)", (table,)).fetchone()
        assert strategy == ("RANGE (start_ts)",), table


def test_report_indexes_exist(conn: psycopg.Connection[Any]) -> None:
    for table, wanted in INDEXED.items():
        indexes = [tuple(row[0]) for row in conn.execute("""
            SELECT array_agg(a.attname ORDER BY k.ord) FROM pg_index i
            CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
            WHERE i.indrelid = %s::regclass GROUP BY i.indexrelid""", (table,)).fetchall()]
        for columns in wanted:
            assert any(ix[:len(columns)] == columns for ix in indexes), (table, columns)


def test_the_docs_describe_exactly_the_schema(conn: psycopg.Connection[Any]) -> None:
    have = _columns(conn)
    documented = _documented()
    assert set(documented) == set(have), (
        f"undocumented tables: {sorted(set(have) - set(documented))}; documented but absent: "
        f"{sorted(set(documented) - set(have))}")
    for table, columns in have.items():
        assert documented[table] == list(columns), (
            f"docs/infomart.md, `{table}`: documented {documented[table]}, "
            f"the database has {list(columns)}")


def test_the_docs_cover_the_contract() -> None:
    documented = _documented()
    for table, columns in CONTRACT.items():
        assert columns <= set(documented.get(table, ())), table


# --- migrating -----------------------------------------------------------------------------

def test_static_dimensions_hold_exactly_the_codes(conn: psycopg.Connection[Any]) -> None:
    expected = {"media_type": codes.MEDIA_TYPE, "interaction_type": codes.INTERACTION_TYPE,
                "technical_descriptor": codes.TECHNICAL_RESULT,
                "resource_state": codes.RESOURCE_STATE}
    for table, key, code, _ in STATIC_DIMENSIONS:
        rows = conn.execute(sql.SQL("SELECT {}, {} FROM {}").format(
            sql.Identifier(code), sql.Identifier(key), sql.Identifier(table))).fetchall()
        assert dict(rows) == expected.pop(table) and len(rows) == len(dict(rows))
    assert not expected


def test_migrating_again_applies_nothing_and_changes_nothing(db: str) -> None:
    before = _fingerprint(db)
    assert migrate(db) == []
    assert migrate(db) == []
    assert _fingerprint(db) == before


def test_an_older_schema_gets_only_the_newer_files(fresh_db: str, tmp_path: Path) -> None:
    old = _migrations_copy(tmp_path)
    new = _migrations_copy(tmp_path, ("9001_extra.sql",
                                      "ALTER TABLE resource_ ADD COLUMN test_note text;\n"
                                      "CREATE TABLE test_added (x integer);\n"))
    assert migrate(fresh_db, old) == ALL
    assert migrate(fresh_db, new) == ["9001"]
    assert migrate(fresh_db, new) == []
    with psycopg.connect(fresh_db) as c:
        assert [r[0] for r in c.execute(
            "SELECT version FROM ctl_schema_version ORDER BY 1")] == [*ALL, "9001"]
        c.execute("SELECT test_note FROM resource_, test_added")
    # A program that does not know 9001 leaves the newer schema alone.
    assert migrate(fresh_db, old) == []


def test_an_info_mart_of_contract_v1_takes_facts_after_2038_once_migrated(
        fresh_db: str, tmp_path: Path) -> None:
    """Version 2 of the contract makes the date-time keys bigint: migration 0002 widens the
    columns of an Info Mart made by 0001 in place, its rows unchanged."""
    assert migrate(fresh_db, _migrations_copy(tmp_path, upto="0001")) == ["0001"]
    before = facts.InteractionFact("c-2026", 1, 1, datetime(2026, 11, 2, 9, tzinfo=timezone.utc),
                                   None, 1793610000, "+1555", "8001", "ACTIVE", 1, 1)
    after = dataclasses.replace(before, interaction_id="c-2050",
                                start_ts=datetime(2050, 1, 1, 9, tzinfo=timezone.utc),
                                start_date_time_key=2524640400)
    insert = ("INSERT INTO interaction_fact (interaction_id, media_type_key, "
              "interaction_type_key, start_ts, start_date_time_key, status, active_flag, "
              "version) VALUES (%s, 1, 1, %s, %s, 'ACTIVE', 1, 1)")
    with psycopg.connect(fresh_db, autocommit=True) as c:
        c.execute(insert, (before.interaction_id, before.start_ts, before.start_date_time_key))
        with pytest.raises(psycopg.errors.NumericValueOutOfRange):  # a v1 Info Mart ends in 2038
            c.execute(insert, (after.interaction_id, after.start_ts, after.start_date_time_key))
    assert migrate(fresh_db) == ALL[1:]
    writer = Writer(fresh_db, "gim-loader-test")
    try:
        writer.write(Batch([after], {}))
    finally:
        writer.close()
    with psycopg.connect(fresh_db) as c:
        assert c.execute("SELECT interaction_id, start_date_time_key FROM interaction_fact "
                         "ORDER BY 1").fetchall() == [("c-2026", 1793610000),
                                                      ("c-2050", 2524640400)]
        assert c.execute("SELECT max(date_time_key) FROM date_time").fetchone() == (
            2524640400,)


def test_a_failing_file_leaves_nothing_behind(fresh_db: str, tmp_path: Path) -> None:
    broken = _migrations_copy(tmp_path, ("9001_broken.sql",
                                         "CREATE TABLE half_done (x integer);\n"
                                         "SELECT no_such_function();\n"))
    with pytest.raises(FatalError, match="no_such_function"):
        migrate(fresh_db, broken)
    with psycopg.connect(fresh_db) as c:
        assert [r[0] for r in c.execute(
            "SELECT version FROM ctl_schema_version ORDER BY 1")] == ALL
        assert c.execute("SELECT to_regclass('half_done')").fetchone() == (None,)
    (broken / "9001_broken.sql").write_text("CREATE TABLE half_done (x integer);\n")
    assert migrate(fresh_db, broken) == ["9001"]


def test_concurrent_migrators_apply_once(pg_url: str) -> None:
    name = f"test_{uuid.uuid4().hex[:8]}"
    url = _with_dbname(pg_url, name)
    results: list[Any] = []

    def worker() -> None:
        try:
            results.append(migrate(url))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion
            results.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert sorted(map(str, results)) == [str(ALL), "[]", "[]", "[]"], results
        assert _fingerprint(url)
    finally:
        with psycopg.connect(pg_url, autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def test_a_missing_database_is_created(pg_url: str) -> None:
    name = f"test_{uuid.uuid4().hex[:8]}"
    url = _with_dbname(pg_url, name)
    try:
        assert migrate(url) == ALL
        assert migrate(url) == []
    finally:
        with psycopg.connect(pg_url, autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def test_an_unreachable_server_is_retriable() -> None:
    with pytest.raises(RetriableError) as info:
        migrate("postgresql://u:im-secret@127.0.0.1:1/gim_infomart_x")
    assert "im-secret" not in str(info.value) and "\n" not in str(info.value)


def test_a_changed_code_is_refused(db: str) -> None:
    with psycopg.connect(db) as c:
        c.execute("UPDATE media_type SET media_name_code = 'FAX' WHERE media_type_key = 1")
    with pytest.raises(FatalError, match="media_type"):
        migrate(db)


def test_the_command_migrates_and_says_so(fresh_db: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIM_")}
    env.update(GIM_TENANT="acme", GIM_INFOMART_DB_URL=fresh_db)
    script = str(Path(sys.executable).with_name("gim-faust"))
    first = subprocess.run([script, "infomart", "migrate"], capture_output=True, text=True,
                           env=env, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "applied 0001" in first.stdout
    second = subprocess.run([script, "infomart", "migrate"], capture_output=True, text=True,
                            env=env, timeout=120)
    assert second.returncode == 0 and "up to date" in second.stdout
    env["GIM_INFOMART_DB_URL"] = "postgresql://127.0.0.1:1/gim_infomart_acme"
    down = subprocess.run([script, "infomart", "migrate"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert down.returncode == 1 and len(down.stderr.strip().splitlines()) == 1, down.stderr


# --- date_time ---------------------------------------------------------------------------------

def test_ensure_date_time_fills_the_intervals(conn: psycopg.Connection[Any]) -> None:
    start = datetime(2026, 11, 2, 9, 7, 12, 345000, tzinfo=timezone.utc)
    end = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)  # a boundary: its interval counts
    assert conn.execute("SELECT gim_ensure_date_time(%s, %s)", (start, end)).fetchone() == (5,)
    assert conn.execute("SELECT gim_ensure_date_time(%s, %s)", (start, end)).fetchone() == (0,)
    rows = conn.execute("SELECT * FROM date_time ORDER BY date_time_key").fetchall()
    first = date_time_key(int(start.timestamp() * 1000))
    assert [r[0] for r in rows] == [first + 900 * i for i in range(5)]
    for key, begin, finish, cal_date, hour, minute, dow in rows:
        instant = datetime.fromtimestamp(key, timezone.utc)
        assert begin == instant and finish == instant + timedelta(minutes=15)
        assert (cal_date, hour, minute, dow) == (instant.date(), instant.hour, instant.minute,
                                                 instant.isoweekday())
    assert conn.execute("SELECT gim_ensure_date_time(%s, %s)", (end, start)).fetchone() == (0,)


def test_ensure_date_time_by_keys(conn: psycopg.Connection[Any]) -> None:
    instants = [datetime(2026, 11, 1, 23, 59, 59, 999000, tzinfo=timezone.utc),
                datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc),
                datetime(1969, 12, 31, 23, 50, tzinfo=timezone.utc)]
    keys = [date_time_key(int(t.timestamp() * 1000)) for t in instants]
    assert conn.execute("SELECT gim_ensure_date_time(%s::integer[])",
                        (keys + keys + [None],)).fetchone() == (3,)
    rows = dict(conn.execute("SELECT date_time_key, cal_date FROM date_time").fetchall())
    assert rows == {keys[0]: date(2026, 11, 1), keys[1]: date(2026, 11, 2),
                    keys[2]: date(1969, 12, 31)}
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("SELECT gim_ensure_date_time(ARRAY[17])")


# --- partitions ------------------------------------------------------------------------------

def test_the_migration_creates_three_weeks_of_partitions(conn: psycopg.Connection[Any]) -> None:
    today = _utc_today(conn)
    for table in FACT_IDS:
        parts = _partitions(conn, table)
        assert parts.pop(f"{table}_default") == "DEFAULT"
        days = [today + timedelta(days=d) for d in range(-7, 15)]
        assert set(parts) == {f"{table}_p{d:%Y%m%d}" for d in days}
        for d in days:
            assert parts[f"{table}_p{d:%Y%m%d}"] == (
                f"FOR VALUES FROM ('{d} 00:00:00+00') TO ('{d + timedelta(days=1)} 00:00:00+00')")


def test_ensure_partitions_moves_rows_out_of_the_default(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SET TimeZone = 'Pacific/Kiritimati'")  # UTC+14: days must still be UTC days
    day = _utc_today(conn) + timedelta(days=60)
    midnight = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    rows = [_session_row("first-ms", midnight),
            _session_row("midday", midnight + timedelta(hours=12, milliseconds=345)),
            _session_row("last-ms", midnight + timedelta(days=1, milliseconds=-1)),
            _session_row("next-day", midnight + timedelta(days=1)),
            _session_row("day-before", midnight - timedelta(milliseconds=1))]
    for row in rows:
        _insert(conn, "sm_res_session_fact", row)
    before = conn.execute("SELECT * FROM sm_res_session_fact ORDER BY 1").fetchall()
    assert {r[0] for r in conn.execute("SELECT tableoid::regclass::text FROM sm_res_session_fact")
            } == {"sm_res_session_fact_default"}

    created = conn.execute("SELECT gim_ensure_partitions(%s, 1)", (day,)).fetchone()[0]
    assert created == len(FACT_IDS)
    part = f"sm_res_session_fact_p{day:%Y%m%d}"
    where = dict(conn.execute(
        "SELECT sm_res_session_id, tableoid::regclass::text FROM sm_res_session_fact").fetchall())
    assert where == {"first-ms": part, "midday": part, "last-ms": part,
                     "next-day": "sm_res_session_fact_default",
                     "day-before": "sm_res_session_fact_default"}
    assert conn.execute("SELECT * FROM sm_res_session_fact ORDER BY 1").fetchall() == before

    # The new partition is a full member: primary key, indexes, checks, bounds.
    with pytest.raises(psycopg.errors.UniqueViolation):
        _insert(conn, "sm_res_session_fact", rows[1])
    with pytest.raises(psycopg.errors.CheckViolation):
        _insert(conn, "sm_res_session_fact", {**_session_row("negative", midnight),
                                              "total_duration": -1})
    indexes = {r[0] for r in conn.execute(
        "SELECT indexdef FROM pg_indexes WHERE tablename = %s", (part,))}
    assert len(indexes) == 4, indexes  # pkey, (resource_key, start_ts), end_ts, audit key
    assert conn.execute("SELECT count(*) FROM pg_constraint WHERE conrelid = %s::regclass "
                        "AND conname = 'gim_bound'", (part,)).fetchone() == (0,)

    # Again: nothing to do. The next day takes the row that waited in the default.
    assert conn.execute("SELECT gim_ensure_partitions(%s, 1)", (day,)).fetchone() == (0,)
    assert conn.execute("SELECT gim_ensure_partitions(%s, 2)", (day,)).fetchone() == (
        len(FACT_IDS),)
    assert conn.execute("SELECT tableoid::regclass::text FROM sm_res_session_fact "
                        "WHERE sm_res_session_id = 'next-day'").fetchone() == (
        f"sm_res_session_fact_p{day + timedelta(days=1):%Y%m%d}",)
    assert conn.execute("SELECT * FROM sm_res_session_fact ORDER BY 1").fetchall() == before


def test_ensure_partitions_on_every_fact_table_with_rows_waiting(
        conn: psycopg.Connection[Any]) -> None:
    day = _utc_today(conn) - timedelta(days=30)
    start = datetime(day.year, day.month, day.day, 8, tzinfo=timezone.utc)
    dtk = date_time_key(int(start.timestamp() * 1000))
    common = {"start_ts": start, "end_ts": None, "start_date_time_key": dtk, "active_flag": 1,
              "version": 3, "media_type_key": 1}
    samples = {
        "interaction_fact": {"interaction_id": "c-1", "interaction_type_key": 1,
                             "source_address": None, "target_address": None,
                             "status": "ACTIVE"},
        "mediation_segment_fact": {"mediation_segment_id": "c-1:1", "interaction_id": "c-1",
                                   "resource_key": 2_000_000_000_001,
                                   "technical_descriptor_key": None, "mediation_duration": None,
                                   "target_resource_key": None, "accepted_flag": 0},
        "interaction_resource_fact": {
            "interaction_resource_id": "c-1:2", "interaction_id": "c-1",
            "resource_key": 1_000_000_000_001, "interaction_type_key": 1,
            "technical_descriptor_key": None, "ring_duration": 0, "talk_duration": 0,
            "hold_duration": 0, "hold_count": 0, "after_call_work_duration": 0,
            "customer_handle_count": 0, "mediation_resource_key": None,
            "mediation_duration": None},
        "sm_res_session_fact": {"sm_res_session_id": "5001:voice:1",
                                "resource_key": 1_000_000_000_001, "total_duration": None},
        "sm_res_state_fact": {"sm_res_state_id": "5001:voice:1",
                              "resource_key": 1_000_000_000_001, "resource_state_key": 2,
                              "resource_state_reason_key": None, "total_duration": None},
    }
    for table, row in samples.items():
        _insert(conn, table, {**common, **row})
    _insert(conn, "irf_user_data", {"interaction_resource_id": "c-1:2", "interaction_id": "c-1",
                                    "start_ts": start, "end_ts": start,
                                    "start_date_time_key": dtk, "active_flag": 0, "version": 3})
    assert conn.execute("SELECT gim_ensure_partitions(%s, 1)", (day,)).fetchone() == (
        len(FACT_IDS),)
    for table in FACT_IDS:
        assert conn.execute(sql.SQL("SELECT tableoid::regclass::text, version FROM {}").format(
            sql.Identifier(table))).fetchall() == [(f"{table}_p{day:%Y%m%d}", 3)]


def test_ensure_partition_refuses_other_tables(conn: psycopg.Connection[Any]) -> None:
    with pytest.raises(psycopg.errors.RaiseException):
        conn.execute("SELECT gim_ensure_partition('resource_', current_date)")


def test_partition_functions_do_nothing_for_no_days(conn: psycopg.Connection[Any]) -> None:
    assert conn.execute("SELECT gim_ensure_partitions(current_date, 0)").fetchone() == (0,)
    assert conn.execute("SELECT gim_ensure_partitions(current_date, -3)").fetchone() == (0,)


def test_a_migration_file_is_well_formed() -> None:
    found = migrations.discover()
    assert [m.version for m in found][:2] == ["0001", "0002"]
    assert all(m.path.suffix == ".sql" for m in found)
