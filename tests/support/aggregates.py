"""Reading the aggregate tables back for the tests, in the shape of
``expected-aggregates.json``, and waiting until they reflect the loaded facts."""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tests.support import infomart
from tests.support import scenario as sc
from tests.support.waiting import wait_until

TABLES = tuple(f"ag2_{family}_{grain}" for family in ("queue", "agent", "agent_reason")
               for grain in ("subhr", "hour", "day"))
_OWN = {"date_time_key", "cal_date", "resource_key", "media_type_key",
        "resource_state_reason_key"}
_MEDIA = {1: "VOICE", 2: "CHAT", 3: "EMAIL"}


def expected(name: str) -> dict[str, Any]:
    return json.loads((sc.scenario(name) / "expected-aggregates.json").read_text())


def settings_env(name: str) -> dict[str, str]:
    """The GIM_* settings the scenario's aggregates were computed with."""
    meta = expected(name)["meta"]
    return {"GIM_TIMEZONE": meta["timezone"],
            "GIM_SERVICE_LEVEL_THRESHOLD": str(meta["service_level_threshold"]),
            "GIM_SHORT_ABANDON_THRESHOLD": str(meta["short_abandon_threshold"])}


def wait_current(conn: psycopg.Connection[Any], timeout_s: float = 120) -> None:
    """Until no interval waits to be recomputed (a pass commits its work with the removal)."""
    wait_until(lambda: conn.execute("SELECT count(*) FROM ctl_aggregate_pending"
                                    ).fetchone() == (0,),
               "the aggregates to catch up with the loaded facts", timeout_s, interval_s=0.2)


def rows(conn: psycopg.Connection[Any], name: str) -> dict[str, list[dict[str, Any]]]:
    resources, reasons = infomart.resources(conn, name), infomart.reasons(conn, name)
    out: dict[str, list[dict[str, Any]]] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        for table in TABLES:
            out[table] = []
            for row in cur.execute(f"SELECT * FROM {table}").fetchall():
                shaped = {k: v for k, v in row.items() if k not in _OWN}
                shaped["interval_start_ts"] = row["interval_start_ts"].isoformat()
                shaped["resource"] = resources.get(row["resource_key"], ["?", row["resource_key"]])
                shaped["media"] = _MEDIA[row["media_type_key"]]
                if "resource_state_reason_key" in row:
                    shaped["reason"] = reasons.get(row["resource_state_reason_key"])
                out[table].append(shaped)
    return out


def _identity(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["interval_start_ts"], tuple(row["resource"]), row["media"], row.get("reason"))


def problems(name: str, have: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Every missing, extra or differing row, one line each."""
    want_all = expected(name)
    out = []
    for table in TABLES:
        want = {_identity(r): r for r in want_all[table]}
        got = {_identity(r): r for r in have[table]}
        out += [f"{table}: missing {i}" for i in sorted(want.keys() - got.keys(), key=str)]
        out += [f"{table}: extra {i}" for i in sorted(got.keys() - want.keys(), key=str)]
        for ident in sorted(want.keys() & got.keys(), key=str):
            out += [f"{table} {ident}: {column} = {got[ident].get(column)!r}, expected {value!r}"
                    for column, value in want[ident].items() if got[ident].get(column) != value]
    return out
