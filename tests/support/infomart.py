"""Reading an Info Mart back for the tests: fact rows in the shape of ``expected.json``, a
checksum of everything the loader writes, the loader's stored offsets.

Natural keys come from configuration (the same key scheme GCA uses, so it works whether or
not GCA ran) plus the placeholder rows the loader added to ``resource_``.
"""

from __future__ import annotations

from typing import Any

import psycopg
from gim_faust.transforms.codes import TECHNICAL_RESULT
from psycopg.rows import dict_row

from tests.support import scenario as sc

# Everything the loader writes, with an order that makes the checksum deterministic.
LOADED_TABLES = {
    "interaction_fact": "interaction_id",
    "mediation_segment_fact": "mediation_segment_id",
    "interaction_resource_fact": "interaction_resource_id",
    "sm_res_session_fact": "sm_res_session_id",
    "sm_res_state_fact": "sm_res_state_id",
    "resource_": "resource_key",
    "resource_state_reason": "resource_state_reason_key",
    "date_time": "date_time_key",
}


def connect(url: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(url, autocommit=True)
    conn.execute("SET TIME ZONE 'UTC'")
    return conn


def resources(conn: psycopg.Connection[Any], name: str) -> dict[int, list[str]]:
    """resource_key -> [type, natural key]: configuration's and the loaded placeholders."""
    return sc.resource_names(name, conn.execute(
        "SELECT resource_key, resource_type, resource_name FROM resource_ "
        "WHERE resource_type IN ('UnknownAgentLogin', 'UnknownDN')").fetchall())


def reasons(conn: psycopg.Connection[Any], name: str) -> dict[int, str]:
    """resource_state_reason_key -> reason_code, of configuration and of events."""
    return sc.reason_codes(name, conn.execute(
        "SELECT resource_state_reason_key, reason_code FROM resource_state_reason").fetchall())


def natural_rows(conn: psycopg.Connection[Any], name: str) -> dict[str, list[dict[str, Any]]]:
    """Every fact row, per table, as ``expected.json`` writes rows."""
    names, codes = resources(conn, name), reasons(conn, name)
    results = {v: k for k, v in TECHNICAL_RESULT.items()}
    out: dict[str, list[dict[str, Any]]] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        for table in sc.FACT_TABLES:
            rows = cur.execute(f"SELECT * FROM {table}").fetchall()
            out[table] = [sc.natural(table, row, names, results, codes) for row in rows]
    return out


def row_problems(conn: psycopg.Connection[Any], name: str) -> list[str]:
    """Differences with ``expected.json``, extra or duplicate rows, and dangling keys."""
    want = sc.expected(name)
    have = natural_rows(conn, name)
    problems = sc.compare(want, have)
    for table in sc.FACT_TABLES:
        if len(have[table]) != len(want[table]):
            problems.append(f"{table}: {len(have[table])} rows, expected {len(want[table])}")
        problems += [f"{table}: resource {r} unknown" for r in _referenced(have[table])
                     if r[0] == "?"]
    missing = conn.execute(
        "SELECT count(*) FROM (" + " UNION ".join(
            f"SELECT start_date_time_key AS k FROM {t}" for t in sc.FACT_TABLES) +
        ") keys WHERE NOT EXISTS (SELECT 1 FROM date_time d WHERE d.date_time_key = keys.k)"
    ).fetchone()[0]  # type: ignore[index]
    if missing:
        problems.append(f"{missing} start_date_time_key values have no date_time row")
    return problems


def _referenced(rows: list[dict[str, Any]]) -> list[list[Any]]:
    return [row[c] for row in rows for c in ("resource", "target_resource", "mediation_resource")
            if row.get(c) is not None]


def checksum(conn: psycopg.Connection[Any]) -> dict[str, tuple[int, str]]:
    """(row count, md5 of all rows in key order) per table the loader writes, audit keys
    included: a row rewritten with the same content still changes its update_audit_key."""
    out = {}
    for table, key in LOADED_TABLES.items():
        count, digest = conn.execute(
            f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY {key}), '')) "
            f"FROM {table} t").fetchone()  # type: ignore[misc]
        out[table] = (count, digest)
    return out


def stored_offsets(conn: psycopg.Connection[Any], group: str) -> dict[int, int]:
    """partition -> next offset the loader's consumer group recorded in the Info Mart."""
    return dict(conn.execute(
        "SELECT partition, next_offset FROM ctl_kafka_offset WHERE consumer_group = %s",
        (group,)).fetchall())


def has_schema(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT to_regclass('ctl_kafka_offset') IS NOT NULL").fetchone()
    return bool(row and row[0])
