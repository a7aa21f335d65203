"""The export's reads from the Info Mart: which tables it exports, the WHERE clause that
chooses each table's rows, the transactions running now, the audit keys the log does not show,
and the server-side cursor that streams a table's rows into a gzip CSV file. Separate from the
export job (:mod:`gim_faust.loaders.export`) so that what is asked of PostgreSQL reads in one
place; the statements run on the job's connection, inside its snapshot.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from gim_faust.loaders import records
from gim_faust.loaders.export_plan import Range, csv_line
from gim_faust.loaders.migrate import STATIC_DIMENSIONS
from psycopg import sql

from gim_faust.errors import FatalError

if TYPE_CHECKING:
    from gim_faust.loaders.export import Progress

# Rows per round trip of a server-side cursor: big enough that the round trips cost little,
# small enough (a few MB) that memory stays flat.
FETCH_ROWS = 5_000
_TEXT_TYPES = ("text", "character varying", "character", "json", "jsonb", "name")
_DATE_TIME = "date_time"
_AGGREGATE_PREFIX = "ag2_"


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]   # (name, formatted type)
    role: str   # "static", "dimension" (has audit keys), "calendar", "fact", "aggregate"


def discover(conn: psycopg.Connection[Any]) -> list[Table]:
    """The tables to export, in the order they are written: fixed codes, dimensions, calendar,
    facts. ``ctl_*`` bookkeeping is never exported."""
    rows = conn.execute(
        "SELECT c.relname, c.relkind = 'p', a.attname, format_type(a.atttypid, a.atttypmod) "
        "FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
        "AND NOT a.attisdropped WHERE c.relnamespace = current_schema()::regnamespace "
        "AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND left(c.relname, 4) <> 'ctl_' "
        "ORDER BY c.relname, a.attnum").fetchall()
    columns: dict[str, list[tuple[str, str]]] = {}
    partitioned: set[str] = set()
    for table, is_partitioned, column, kind in rows:
        columns.setdefault(table, []).append((column, kind))
        if is_partitioned:
            partitioned.add(table)
    static = [t for t, *_ in STATIC_DIMENSIONS if t in columns]
    facts = [t for t in records.FACT_TABLES if t in partitioned] + sorted(
        partitioned - set(records.FACT_TABLES))
    aggregates = sorted(t for t in columns if t.startswith(_AGGREGATE_PREFIX))
    audited = sorted(t for t, cols in columns.items() if t not in partitioned
                     and t not in aggregates and "update_audit_key" in {c for c, _ in cols})
    tables = [Table(t, tuple(columns[t]), "static") for t in static]
    tables += [Table(t, tuple(columns[t]), "dimension") for t in audited]
    if _DATE_TIME in columns:
        tables.append(Table(_DATE_TIME, tuple(columns[_DATE_TIME]), "calendar"))
    tables += [Table(t, tuple(columns[t]), "fact") for t in facts]
    tables += [Table(t, tuple(columns[t]), "aggregate") for t in aggregates]
    missing = [t for t in records.FACT_TABLES if t not in partitioned]
    if missing:
        raise FatalError(f"the Info Mart lacks the fact tables {missing}: run "
                         f"`gim-faust infomart migrate`")
    return tables


def _select_list(table: Table) -> sql.Composable:
    parts = []
    for name, kind in table.columns:
        column = sql.Identifier(name)
        if kind.startswith("timestamp") and kind.endswith("with time zone"):
            parts.append(sql.SQL("to_char({} AT TIME ZONE 'UTC', "
                                 "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')").format(column))
        elif kind == "date":
            parts.append(sql.SQL("to_char({}, 'YYYY-MM-DD')").format(column))
        else:
            parts.append(sql.SQL("{}::text").format(column))
    return sql.SQL(", ").join(parts)


class Selection:
    """The WHERE clause of each table for one export, with its parameters."""

    def __init__(self, kind: str, full: bool, low: int, high: int,
                 pending: list[Range], window: tuple[datetime, datetime] | None) -> None:
        self.kind, self.full, self.window = kind, full, window
        self.params: dict[str, Any] = {"low": low, "high": high,
                                       "window_from": window[0] if window else None,
                                       "window_to": window[1] if window else None}
        conditions: list[sql.Composable] = [sql.SQL(
            "(update_audit_key > %(low)s AND update_audit_key <= %(high)s)")]
        for i, (lo, hi) in enumerate(pending):
            self.params[f"p{i}_lo"], self.params[f"p{i}_hi"] = lo, hi
            conditions.append(sql.SQL("update_audit_key BETWEEN {} AND {}").format(
                sql.Placeholder(f"p{i}_lo"), sql.Placeholder(f"p{i}_hi")))
        self._changed = sql.SQL("(") + sql.SQL(" OR ").join(conditions) + sql.SQL(")")

    def label(self, table: Table) -> str | None:
        """How the table's rows are chosen, or None if it is not exported."""
        if self.full:
            return "all"
        if table.role == "static":
            return "all" if self.kind == "window" else None
        if table.role == "calendar":
            return "referenced"
        if table.role == "fact":
            return "end_ts in window" if self.kind == "window" else "changed"
        if table.role == "aggregate":
            return "interval in window" if self.kind == "window" else "changed"
        return "all" if self.kind == "window" else "changed"

    def where(self, table: Table, facts: Sequence[Table]) -> sql.Composable:
        label = self.label(table)
        if label == "all":
            return sql.SQL("true")
        if label == "changed":
            return self._changed
        if label == "end_ts in window":
            return sql.SQL("end_ts >= %(window_from)s AND end_ts < %(window_to)s")
        if label == "interval in window":
            return sql.SQL("interval_start_ts >= %(window_from)s "
                           "AND interval_start_ts < %(window_to)s")
        # date_time: the intervals the exported facts refer to.
        referenced = sql.SQL(" UNION ").join(
            sql.SQL("SELECT start_date_time_key FROM {} WHERE {}").format(
                sql.Identifier(f.name), self.where(f, facts))
            for f in facts if "start_date_time_key" in {c for c, _ in f.columns})
        return sql.SQL("date_time_key IN ({})").format(referenced)


def running(conn: psycopg.Connection[Any]) -> set[str]:
    """Virtual ids of the transactions running now in this database, other than this
    session's. Every transaction holds the lock on its own virtual id while it runs, and
    pg_locks (unlike most of pg_stat_activity) shows every session to every account."""
    return {row[0] for row in conn.execute(
        "SELECT l.virtualxid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'virtualxid' AND l.granted AND a.datname = current_database() "
        "AND l.pid <> pg_backend_pid()").fetchall()}


def gaps(conn: psycopg.Connection[Any], low: int, high: int) -> list[Range]:
    """The ranges of keys in ``(low, high]`` that ``ctl_audit_log`` does not show (computed by
    the server: the first export may span millions of keys)."""
    return [(lo, hi) for lo, hi in conn.execute(
        "SELECT lo, hi FROM (SELECT audit_key + 1 AS lo, "
        "lead(audit_key, 1, %(high)s::bigint + 1) OVER (ORDER BY audit_key) - 1 AS hi FROM ("
        "SELECT %(low)s::bigint AS audit_key UNION ALL SELECT audit_key FROM ctl_audit_log "
        "WHERE audit_key > %(low)s AND audit_key <= %(high)s) k) g WHERE hi >= lo ORDER BY lo",
        {"low": low, "high": high}).fetchall()]


def write_table(conn: psycopg.Connection[Any], table: Table, where: sql.Composable,
                params: Mapping[str, Any], path: Path, progress: Progress
                ) -> tuple[int, int, str]:
    """Streams the table's selected rows into a gzip CSV at ``path``: (rows, bytes, sha256)."""
    quoted = [kind.startswith(_TEXT_TYPES) for _, kind in table.columns]
    query = sql.SQL("SELECT {} FROM {} WHERE {}").format(
        _select_list(table), sql.Identifier(table.name), where)
    rows = 0
    # mtime=0: no time in the gzip header (the same rows in the same order, the same bytes).
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out, \
            conn.cursor(name=f"gim_export_{table.name}") as cursor:
        out.write((",".join(c for c, _ in table.columns) + "\r\n").encode())
        cursor.itersize = FETCH_ROWS
        cursor.execute(query, params)
        buffer: list[str] = []
        for row in cursor:
            buffer.append(csv_line(row, quoted))
            rows += 1
            if len(buffer) >= FETCH_ROWS:
                out.write("".join(buffer).encode())
                buffer.clear()
                progress.update(table.name, rows)
        out.write("".join(buffer).encode())
    progress.done(table.name, rows)
    digest = hashlib.sha256()
    with open(path, "rb") as written:
        for chunk in iter(lambda: written.read(1024 * 1024), b""):
            digest.update(chunk)
    return rows, path.stat().st_size, digest.hexdigest()
