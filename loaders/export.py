"""Info Mart exports to object storage: ``gim-faust gim export`` (issue 11, connection 6).

Two kinds of export, both under ``<store>/<tenant>/gim/exports/<mark>_<UTC time>/``, where
``<mark>`` is the audit high-water mark of the export's snapshot, zero-padded to 20 digits so
that folder names sort by it:

- **delta** (no ``--from/--to``): every row whose ``update_audit_key`` is above the previous
  delta's high-water mark, so a row updated after an earlier export is exported again and
  consumers upsert. The previous delta is read from the store, not from the database: the
  newest complete delta (its ``manifest.json`` exists), found through the ``LATEST`` pointer
  or, if that is missing or stale, by listing. The store is the record of what consumers were
  given; a folder without a manifest never counts. The first delta (no previous one) holds
  every row of every table. A delta in which no row changed writes **nothing** (no folder, no
  manifest): the mark it would have recorded is found again by the next run.
- **window** (``--from TS --to TS``): the facts whose ``end_ts`` falls in ``[from, to)``, with
  every dimension row in full. Windows are extra copies: they never move the delta chain.

Each folder holds one ``<table>.csv.gz`` per exported table and ``manifest.json``, written
last. CSV: RFC 4180, UTF-8, ``\\r\\n`` line ends, a header row of column names; text values
are always quoted and NULL is an empty unquoted field (so ``""`` is an empty string, as
PostgreSQL's ``COPY ... (FORMAT csv)`` reads it); timestamps are ISO 8601 UTC with
milliseconds (``2026-11-02T09:07:12.345Z``); dates ``YYYY-MM-DD``; numbers as PostgreSQL
prints them. ``sha256`` in the manifest is the digest of the stored (gzip) object.

Which rows, per table:

| table | delta | first delta | window |
|---|---|---|---|
| facts (partitioned on ``start_ts``) | changed rows | all | ``end_ts`` in window |
| other tables with audit keys (configuration dimensions and history) | changed rows | all | all |
| ``date_time`` | rows the exported facts refer to | all | rows the exported facts refer to |
| the four static code tables (``media_type`` and the like) | not exported | all | all |

**Commit order.** Audit keys come from a sequence, drawn when a load begins; loads commit in
any order. An export that took ``max(audit_key)`` of its snapshot as its mark would miss the
rows of a load that drew a smaller key but committed after the snapshot. So each export also
records the keys below its mark that its snapshot did not show (**pending** keys, as ranges)
together with the transactions that were running right after the snapshot (their virtual
transaction ids, from ``pg_locks``, which every account may read). The next delta exports the
rows of its own range **and** of the pending keys; a pending group is dropped once none of its
transactions is still running before the new snapshot (its keys then either show, and were
just exported, or never will: rolled back). Exporting a row twice is harmless (consumers
upsert), so pending ranges may be merged to keep the manifest small; missing one is not.

Rows are read in one ``REPEATABLE READ, READ ONLY`` transaction through server-side cursors
(:data:`FETCH_ROWS` at a time), gzip-compressed into temporary files, then stored and followed
by the manifest: memory stays flat whatever the size of the Info Mart. The job lock
(:mod:`gim_faust.loaders.jobs`) keeps maintenance out for the whole run.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import logging
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

import orjson
import psycopg
from gim_faust.loaders import jobs, records
from gim_faust.loaders.migrate import STATIC_DIMENSIONS
from psycopg import sql

from gim_faust import postgres
from gim_faust.errors import ConfigError, FatalError, RetriableError
from gim_faust.objectstore import NotFound, ObjectStore, open_store
from gim_faust.settings import Settings

log = logging.getLogger(__name__)

FORMAT = "gim-export/1"
MANIFEST = "manifest.json"
POINTER = "LATEST"
SUFFIX = ".csv.gz"
APPLICATION = "gim-faust export"
# Rows per round trip of a server-side cursor: big enough that the round trips cost little,
# small enough (a few MB) that memory stays flat.
FETCH_ROWS = 5_000
# Pending key ranges kept per manifest at most: beyond, the closest ranges are merged (the
# merged-in keys are exported again once, which consumers' upserts absorb).
MAX_PENDING_RANGES = 100
_TEXT_TYPES = ("text", "character varying", "character", "json", "jsonb", "name")
_DATE_TIME = "date_time"


def exports_prefix(tenant: str) -> str:
    return f"{tenant}/gim/exports/"


def folder_name(mark: int, at: datetime) -> str:
    at = at.astimezone(timezone.utc)
    return f"{mark:020d}_{at:%Y%m%dT%H%M%S}.{at.microsecond // 1000:03d}Z"


def format_ts(value: datetime) -> str:
    value = value.astimezone(timezone.utc)
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"


def parse_ts(text: str, what: str) -> datetime:
    """An ISO 8601 time from the command line; naive means UTC (contract: UTC everywhere)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"{what} {text!r} is not an ISO 8601 time, e.g. "
                          f"2026-11-02T00:00:00Z") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def incomplete_folders(keys: Iterable[str], prefix: str) -> dict[str, list[str]]:
    """Folder → its keys, for the export folders under ``prefix`` without a manifest."""
    folders: dict[str, list[str]] = {}
    complete: set[str] = set()
    for key in keys:
        rest = key[len(prefix):] if key.startswith(prefix) else None
        if not rest or "/" not in rest:
            continue   # the pointer, or something that is not an export
        folder, _, name = rest.partition("/")
        folders.setdefault(folder, []).append(key)
        if name == MANIFEST:
            complete.add(folder)
    return {f: sorted(k) for f, k in sorted(folders.items()) if f not in complete}


# ------------------------------------------------------------------------ CSV (pure)

def csv_field(value: str | None, quote: bool) -> str:
    """One RFC 4180 field: NULL is empty; text (``quote``) is always quoted; anything else is
    quoted only if it must be."""
    if value is None:
        return ""
    if quote or any(c in value for c in ',"\r\n') or value == "":
        return '"' + value.replace('"', '""') + '"'
    return value


def csv_line(values: Sequence[str | None], quoted: Sequence[bool]) -> str:
    return ",".join(csv_field(v, q) for v, q in zip(values, quoted, strict=True)) + "\r\n"


# --------------------------------------------------------------- pending keys (pure)

Range = tuple[int, int]


def subtract(ranges: Iterable[Range], keys: Iterable[int]) -> list[Range]:
    """``ranges`` without ``keys``."""
    out: list[Range] = []
    holes = sorted(set(keys))
    for lo, hi in sorted(ranges):
        for key in holes:
            if lo <= key <= hi:
                if key > lo:
                    out.append((lo, key - 1))
                lo = key + 1
        if lo <= hi:
            out.append((lo, hi))
    return out


def compact(ranges: Iterable[Range], limit: int = MAX_PENDING_RANGES) -> list[Range]:
    """At most ``limit`` ranges covering ``ranges``: the closest neighbours are merged."""
    out = sorted(ranges)
    while len(out) > limit:
        i = min(range(len(out) - 1), key=lambda j: out[j + 1][0] - out[j][1])
        out[i:i + 2] = [(out[i][0], max(out[i][1], out[i + 1][1]))]
    return out


@dataclass(frozen=True)
class Pending:
    """Audit keys a snapshot did not show, and the transactions that may still commit them."""

    ranges: tuple[Range, ...]
    waiting_for: tuple[str, ...]    # virtual transaction ids running right after the snapshot

    def as_dict(self) -> dict[str, Any]:
        return {"ranges": [list(r) for r in self.ranges], "waiting_for": list(self.waiting_for)}

    @staticmethod
    def from_dict(body: Mapping[str, Any]) -> Pending:
        return Pending(tuple((int(lo), int(hi)) for lo, hi in body["ranges"]),
                       tuple(str(v) for v in body["waiting_for"]))


def settle(pending: Iterable[Pending], running: set[str], visible: Iterable[int]) -> list[Pending]:
    """What stays pending after a snapshot that shows ``visible`` keys, taken after
    ``running`` was read: a group whose transactions have all ended is decided (its keys
    showed, or never will); otherwise its keys that did not show stay pending."""
    shown = set(visible)
    out = []
    for group in pending:
        left = subtract(group.ranges, shown)
        if left and running.intersection(group.waiting_for):
            out.append(Pending(tuple(left), group.waiting_for))
    return out


def pending_keys(pending: Iterable[Pending]) -> list[Range]:
    return compact([r for group in pending for r in group.ranges])


# ------------------------------------------------------------------------ progress

class Progress:
    """A live count on a terminal (rewritten in place a few times a second); silent when
    ``stream`` is not a terminal (logs and pipes get the summary only)."""

    EVERY_S = 0.2

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self._shown = 0.0

    def update(self, table: str, rows: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if force or now - self._shown >= self.EVERY_S:
            self._shown = now
            self.stream.write(f"\rexport: {table}: {rows:,} rows")
            self.stream.flush()

    def done(self, table: str, rows: int) -> None:
        if self.enabled:
            self.update(table, rows, force=True)
            self.stream.write("\n")
            self.stream.flush()


# ------------------------------------------------------------------------ the export

@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]   # (name, formatted type)
    role: str   # "static", "dimension" (has audit keys), "calendar", "fact"


@dataclass
class ExportResult:
    folder: str | None          # None: nothing written
    url: str                    # where it is (or would be)
    manifest: dict[str, Any]
    previous: str | None
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return int(self.manifest.get("rows", 0))

    def summary(self) -> str:
        marks = self.manifest["high_water_mark"]
        if self.folder is None:
            return (f"export: nothing changed since {self.previous} (audit keys up to "
                    f"{marks['to']}); nothing written ({self.seconds:.1f} s)")
        span = (f"window {self.manifest['window']['from']} to {self.manifest['window']['to']}"
                if self.manifest["kind"] == "window" else
                f"audit keys {marks['from'] if marks['from'] is not None else 'start'} "
                f"to {marks['to']}")
        return (f"export: {self.rows} rows in {len(self.manifest['tables'])} tables to "
                f"{self.url} ({span}) in {self.seconds:.1f} s")


def _discover(conn: psycopg.Connection[Any]) -> list[Table]:
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
    audited = sorted(t for t, cols in columns.items() if t not in partitioned
                     and "update_audit_key" in {c for c, _ in cols})
    tables = [Table(t, tuple(columns[t]), "static") for t in static]
    tables += [Table(t, tuple(columns[t]), "dimension") for t in audited]
    if _DATE_TIME in columns:
        tables.append(Table(_DATE_TIME, tuple(columns[_DATE_TIME]), "calendar"))
    tables += [Table(t, tuple(columns[t]), "fact") for t in facts]
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


class _Selection:
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
        return "all" if self.kind == "window" else "changed"

    def where(self, table: Table, facts: Sequence[Table]) -> sql.Composable:
        label = self.label(table)
        if label == "all":
            return sql.SQL("true")
        if label == "changed":
            return self._changed
        if label == "end_ts in window":
            return sql.SQL("end_ts >= %(window_from)s AND end_ts < %(window_to)s")
        # date_time: the intervals the exported facts refer to.
        referenced = sql.SQL(" UNION ").join(
            sql.SQL("SELECT start_date_time_key FROM {} WHERE {}").format(
                sql.Identifier(f.name), self.where(f, facts))
            for f in facts if "start_date_time_key" in {c for c, _ in f.columns})
        return sql.SQL("date_time_key IN ({})").format(referenced)


def _running(conn: psycopg.Connection[Any]) -> set[str]:
    """Virtual ids of the transactions running now in this database, other than this
    session's. Every transaction holds the lock on its own virtual id while it runs, and
    pg_locks (unlike most of pg_stat_activity) shows every session to every account."""
    return {row[0] for row in conn.execute(
        "SELECT l.virtualxid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'virtualxid' AND l.granted AND a.datname = current_database() "
        "AND l.pid <> pg_backend_pid()").fetchall()}


def _gaps(conn: psycopg.Connection[Any], low: int, high: int) -> list[Range]:
    """The ranges of keys in ``(low, high]`` that ``ctl_audit_log`` does not show (computed by
    the server: the first export may span millions of keys)."""
    return [(lo, hi) for lo, hi in conn.execute(
        "SELECT lo, hi FROM (SELECT audit_key + 1 AS lo, "
        "lead(audit_key, 1, %(high)s::bigint + 1) OVER (ORDER BY audit_key) - 1 AS hi FROM ("
        "SELECT %(low)s::bigint AS audit_key UNION ALL SELECT audit_key FROM ctl_audit_log "
        "WHERE audit_key > %(low)s AND audit_key <= %(high)s) k) g WHERE hi >= lo ORDER BY lo",
        {"low": low, "high": high}).fetchall()]


def _write_table(conn: psycopg.Connection[Any], table: Table, where: sql.Composable,
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


def read_manifest(store: ObjectStore, prefix: str, folder: str) -> dict[str, Any]:
    body = orjson.loads(store.get(f"{prefix}{folder}/{MANIFEST}"))
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} manifest")
    return body


def latest_delta(store: ObjectStore, tenant: str) -> tuple[str, dict[str, Any]] | None:
    """The newest complete delta export (folder, manifest), or None when there is none.

    The ``LATEST`` pointer is written after the manifest, so it never names an incomplete
    folder; at worst it is stale (a crash between the two writes), which only makes the next
    delta export some rows again. Without a usable pointer, the folders are listed.
    """
    prefix = exports_prefix(tenant)
    try:
        folder = orjson.loads(store.get(prefix + POINTER))["folder"]
        manifest = read_manifest(store, prefix, folder)
        if manifest.get("kind") == "delta" and manifest.get("tenant") == tenant:
            return folder, manifest
    except NotFound:
        pass
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        log.warning("export pointer %s%s is unusable (%s); listing the exports", prefix,
                    POINTER, exc)
    folders = sorted({k[len(prefix):].partition("/")[0] for k in store.list(prefix)
                      if k.endswith("/" + MANIFEST)}, reverse=True)
    for folder in folders:
        try:
            manifest = read_manifest(store, prefix, folder)
        except (NotFound, orjson.JSONDecodeError, ValueError) as exc:
            log.warning("export manifest of %s is unreadable (%s); skipping it", folder, exc)
            continue
        if manifest.get("kind") == "delta" and manifest.get("tenant") == tenant:
            return folder, manifest
    return None


def export(settings: Settings, window: tuple[datetime, datetime] | None = None,
           progress: Progress | None = None, store: ObjectStore | None = None) -> ExportResult:
    """One export under the job lock (module docstring); what it wrote.

    Raises :class:`jobs.JobBusy` when maintenance or another export holds the lock,
    :class:`RetriableError` when the database or the store cannot be reached, and
    :class:`FatalError` when the schema or the account's rights do not allow it.
    """
    started = time.monotonic()
    progress = progress or Progress()
    tenant, conninfo = settings.tenant, settings.infomart_db_url
    prefix = exports_prefix(tenant)
    conn = jobs.connect(conninfo, APPLICATION)
    try:
        with conn, jobs.job_lock(conn, "export"), \
                tempfile.TemporaryDirectory(prefix="gim-export-") as spool:
            store = store or open_store(settings.object_store)
            previous = None if window else latest_delta(store, tenant)
            result = _export(conn, settings, store, prefix, window, previous, Path(spool),
                             progress)
    except postgres.Error as exc:
        raise postgres.translate(exc, conninfo, "export") from None
    result.seconds = time.monotonic() - started
    return result


def _export(conn: psycopg.Connection[Any], settings: Settings, store: ObjectStore,
            prefix: str, window: tuple[datetime, datetime] | None,
            previous: tuple[str, dict[str, Any]] | None, spool: Path,
            progress: Progress) -> ExportResult:
    kind = "window" if window else "delta"
    full = kind == "delta" and previous is None
    low = int(previous[1]["high_water_mark"]["to"]) if previous else 0
    carried = [Pending.from_dict(p) for p in previous[1].get("pending_audit_keys", ())] \
        if previous else []
    drawn = conn.execute("SELECT pg_sequence_last_value(pg_get_serial_sequence("
                         "'ctl_audit_log', 'audit_key')::regclass)").fetchone()[0]  # type: ignore[index]
    if previous and (drawn or 0) < low:
        raise FatalError(
            f"the previous export {previous[0]} reached audit key {low}, but this Info Mart "
            f"has drawn keys only up to {drawn or 0}: it was recreated or restored from a "
            f"backup, and a delta from that mark would miss rows. Export to a fresh "
            f"GIM_OBJECT_STORE prefix (a full export), or move the old exports away")
    running_before = _running(conn)       # read before the snapshot: see settle()
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    files: list[tuple[Table, str, Path, int, int, str]] = []
    with conn.transaction():
        # The first statement takes the snapshot that every table is read from.
        top, created = conn.execute(
            "SELECT max(audit_key), clock_timestamp() FROM ctl_audit_log").fetchone()  # type: ignore[misc]
        running_after = _running(conn)
        high = max(int(top or 0), low)
        schema_version = conn.execute(
            "SELECT max(version) FROM ctl_schema_version").fetchone()[0]  # type: ignore[index]
        carried_ranges = pending_keys(carried)
        shown = [row[0] for row in conn.execute(sql.SQL(
            "SELECT audit_key FROM ctl_audit_log WHERE {}").format(
            sql.SQL(" OR ").join(sql.SQL("audit_key BETWEEN %s AND %s") for _ in carried_ranges)
        ), [v for r in carried_ranges for v in r]).fetchall()] if carried_ranges else []
        pending = settle(carried, running_before, shown) if kind == "delta" else []
        new_gaps = _gaps(conn, low, high) if kind == "delta" else []
        if new_gaps:
            pending.append(Pending(tuple(compact(new_gaps)), tuple(sorted(running_after))))
        selection = _Selection(kind, full, low, high, carried_ranges, window)
        tables = _discover(conn)
        facts = [t for t in tables if t.role == "fact"]
        for table in tables:
            if selection.label(table) is None:
                continue
            path = spool / f"{table.name}{SUFFIX}"
            rows, size, digest = _write_table(conn, table, selection.where(table, facts),
                                              selection.params, path, progress)
            files.append((table, selection.label(table) or "", path, rows, size, digest))
    conn.isolation_level = None
    conn.read_only = None
    folder = folder_name(high, created)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "tenant": settings.tenant,
        "kind": kind,
        "full": full,
        "schema_version": schema_version,
        "created_ts": format_ts(created),
        "folder": folder,
        "previous": previous[0] if previous else None,
        "high_water_mark": {"from": None if full or kind == "window" else low, "to": high},
        "window": {"from": format_ts(window[0]), "to": format_ts(window[1])} if window else None,
        # The contract's "time range" of an export: the end_ts window, or for a delta the
        # span between the previous delta's snapshot and this one's, when its changes committed.
        "time_range": ({"from": format_ts(window[0]), "to": format_ts(window[1])} if window
                       else {"from": previous[1]["created_ts"] if previous else None,
                             "to": format_ts(created)}),
        "pending_audit_keys": [p.as_dict() for p in pending],
        "rows": sum(f[3] for f in files),
        "tables": [{"name": t.name, "file": p.name, "rows": rows, "bytes": size,
                    "sha256": digest, "selection": label,
                    "columns": [{"name": c, "type": k} for c, k in t.columns]}
                   for t, label, p, rows, size, digest in files],
    }
    url = f"{store.url}/{prefix}{folder}/"
    if kind == "delta" and not full and manifest["rows"] == 0:
        manifest["folder"] = None
        return ExportResult(None, url, manifest, previous[0] if previous else None)
    for _, _, path, *_ in files:
        store.put_file(f"{prefix}{folder}/{path.name}", path)
    # Still holding the job lock? (A lost session would have released it, and maintenance
    # might be deleting this manifest-less folder as a leftover.)
    try:
        conn.execute("SELECT 1")
    except postgres.Error as exc:
        raise RetriableError(f"lost the Info Mart while storing export {folder} "
                             f"({postgres.one_line(exc)}); it stays incomplete and is ignored"
                             ) from None
    store.put(f"{prefix}{folder}/{MANIFEST}",
              orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    if kind == "delta":
        store.put(prefix + POINTER, orjson.dumps(
            {"folder": folder, "high_water_mark": high, "created_ts": manifest["created_ts"]},
            option=orjson.OPT_INDENT_2))
    log.info("export %s: %d rows in %d tables", folder, manifest["rows"], len(files))
    return ExportResult(folder, url, manifest, manifest["previous"])


def record_run(settings: Settings, result: ExportResult) -> None:
    """The command's ``ctl_audit_log`` row (source ``gim-export``): a scheduled export (a
    CronJob) has no metrics endpoint of its own, so the loader reads these rows and serves
    when the export last succeeded (``gim_job_last_completed_timestamp_seconds``), the figure
    the export alert watches. Written after the export, also when nothing changed (the run
    still succeeded), never by :func:`export` itself, whose marks it would move. An account
    that may not insert it only loses the record: the export stands, a warning says so."""
    detail = {"folder": result.folder, "kind": result.manifest["kind"], "rows": result.rows,
              "seconds": round(result.seconds, 3)}
    try:
        conn = jobs.connect(settings.infomart_db_url, APPLICATION)
        with conn:
            jobs.record_run(conn, jobs.RUN_SOURCES["export"], result.rows, detail)
    except (postgres.Error, RetriableError) as exc:
        log.warning("export done, but its run could not be recorded in ctl_audit_log (%s); "
                    "the export alert will count it as missing", postgres.one_line(exc))


def run(settings: Settings, args: argparse.Namespace) -> int:
    """``gim-faust gim export [--from TS --to TS]``: a summary line, then the manifest (or,
    when nothing changed, what would have been its marks) as JSON."""
    window = None
    from_ts, to_ts = getattr(args, "from_ts", None), getattr(args, "to_ts", None)
    if (from_ts is None) != (to_ts is None):
        raise ConfigError("give both --from and --to (a window on end_ts), or neither (what "
                          "changed since the previous export)")
    if from_ts is not None and to_ts is not None:
        window = (parse_ts(from_ts, "--from"), parse_ts(to_ts, "--to"))
        if window[0] >= window[1]:
            raise ConfigError(f"--from {from_ts} is not before --to {to_ts}")
    result = export(settings, window)
    record_run(settings, result)
    print(result.summary())
    print(orjson.dumps({"written": result.folder is not None, "url": result.url,
                        "manifest": result.manifest}, option=orjson.OPT_SORT_KEYS).decode())
    return 0
