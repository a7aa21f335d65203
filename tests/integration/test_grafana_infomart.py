"""``docs/grafana/infomart.json``, the Grafana dashboard over the Info Mart: valid JSON of the
shape Grafana imports, every query on the PostgreSQL data source; each panel's and variable's
SQL, with Grafana's macros and variables replaced by the plain SQL Grafana would send, runs
on a freshly migrated Info Mart (so it names only tables and columns that exist), and on one
loaded with the day scenario gives rows, its service level the figures computed in Python
from the scenario's expected-aggregates.json."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support import gim_jobs as jobs
from tests.support import summary_figures as figures

pytestmark = pytest.mark.integration

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "infomart.json"
POSTGRES = {"type": "grafana-postgresql-datasource", "uid": "${datasource}"}
TIME_FILTER = re.compile(r"\$__timeFilter\(([^)]+)\)")
QUEUE = re.compile(r"\$queue\b|\$\{queue\}")
# Grafana's $__timeFilter(col) is `col BETWEEN 'from' AND 'to'`, in UTC.
WHOLE_RANGE = r"\1 BETWEEN '2000-01-01T00:00:00Z' AND '2100-01-01T00:00:00Z'"


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def queries() -> Iterator[tuple[str, str]]:
    """(panel title, SQL) of every query panel."""
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["rawSql"]


def variable(name: str) -> dict[str, Any]:
    return next(v for v in dashboard()["templating"]["list"] if v["name"] == name)


def plain(sql: str, queues: list[Any]) -> str:
    """``sql`` as Grafana sends it over the whole time range with ``queues`` chosen: a
    multi-value variable becomes its values quoted and joined by commas."""
    chosen = ",".join(f"'{q}'" for q in queues) or "NULL"
    out = QUEUE.sub(chosen, TIME_FILTER.sub(WHOLE_RANGE, sql))
    assert "$" not in out, f"a macro or variable this test does not know: {out}"
    return out


def run(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def test_the_dashboard_is_one_grafana_can_import() -> None:
    board = dashboard()
    assert {"title", "uid", "panels", "templating", "schemaVersion", "time"} <= board.keys()
    assert [p["id"] for p in board["panels"]] == list(range(1, len(board["panels"]) + 1))
    source = variable("datasource")
    assert (source["type"], source["query"]) == ("datasource", POSTGRES["type"])
    queue = variable("queue")
    assert queue["datasource"] == POSTGRES and queue["multi"] and queue["includeAll"]
    titles = []
    for panel in board["panels"]:
        assert {"h", "w", "x", "y"} <= panel["gridPos"].keys()
        if panel["type"] == "row":
            continue
        titles.append(panel["title"])
        assert panel["datasource"] == POSTGRES
        for target in panel["targets"]:
            sql = target["rawSql"]
            assert target["datasource"] == POSTGRES and target["rawQuery"]
            assert "$__timeFilter(h.interval_start_ts)" in sql
            assert "ag2_queue_hour" not in sql or "IN ($queue)" in sql   # queues as chosen
            if panel["type"] == "timeseries":
                assert target["format"] == "time_series" and 'AS "time"' in sql
            else:
                assert target["format"] == "table"
    assert {"Service level by queue", "Average handle time by media"} <= set(titles)


def test_every_query_runs_on_a_freshly_migrated_infomart(fresh_db: str) -> None:
    jobs.infomart(fresh_db)
    assert run(fresh_db, plain(variable("queue")["query"], [])) == []
    for title, sql in queries():
        assert run(fresh_db, plain(sql, [2_000_000_000_103])) == [], title


def test_on_the_day_every_panel_has_rows_and_the_service_level_is_expected(
        fresh_db: str, db_factory: Callable[[], str], versions: list[Any]) -> None:
    mart = figures.load(fresh_db, db_factory(), versions)
    queues = run(mart, plain(variable("queue")["query"], []))
    # every configured queue, also one that saw no call (the day's VQ Overflow)
    assert {name for name, _ in queues} >= {row[0] for row in figures.queue_hours("day")}
    keys = [key for _, key in queues]
    for title, sql in queries():
        assert run(mart, plain(sql, keys)), f"{title}: no rows"
    sql = dict(queries())["Service level by queue"]
    have = {(t, name): round(float(v), 4) for t, name, v in run(mart, plain(sql, keys))
            if v is not None}
    want = {(t, name): round(100 * sl, 4) for name, t, *_, sl, _ in figures.queue_hours("day")
            if t is not None and sl is not None}
    assert have == want
