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
last (the CSV format: :mod:`gim_faust.loaders.export_plan`). ``sha256`` in the manifest is the
digest of the stored (gzip) object.

Which rows, per table:

| table | delta | first delta | window |
|---|---|---|---|
| facts (partitioned on ``start_ts``) | changed rows | all | ``end_ts`` in window |
| other tables with audit keys (configuration dimensions and history) | changed rows | all | all |
| ``date_time`` | rows the exported facts refer to | all | rows the exported facts refer to |
| the four static code tables (``media_type`` and the like) | not exported | all | all |

Loads commit in any order, so each export also records the audit keys below its mark that
its snapshot did not show, and the next delta exports them too (**pending** keys, see
:mod:`gim_faust.loaders.export_plan`).

Rows are read in one ``REPEATABLE READ, READ ONLY`` transaction through server-side cursors
(:data:`~gim_faust.loaders.export_sql.FETCH_ROWS` at a time, by
:mod:`gim_faust.loaders.export_sql`), gzip-compressed into temporary files, then stored and
followed by the manifest: memory stays flat whatever the size of the Info Mart. The job lock
(:mod:`gim_faust.loaders.jobs`) keeps maintenance out for the whole run.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import orjson
import psycopg
from gim_faust.loaders import jobs
from gim_faust.loaders.export_plan import (
    MANIFEST,
    Pending,
    compact,
    exports_prefix,
    folder_name,
    format_ts,
    pending_keys,
    settle,
)
from gim_faust.loaders.export_sql import Selection, Table, discover, gaps, running, write_table
from gim_faust.loaders.jobs import InfoMart
from psycopg import sql

from gim_faust import postgres
from gim_faust.errors import FatalError, RetriableError
from gim_faust.objectstore import NotFound, ObjectStore, open_store

log = logging.getLogger(__name__)

FORMAT = "gim-export/1"
POINTER = "LATEST"
SUFFIX = ".csv.gz"
APPLICATION = "gim-faust export"


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


def export(mart: InfoMart, window: tuple[datetime, datetime] | None = None,
           progress: Progress | None = None, store: ObjectStore | None = None) -> ExportResult:
    """One export under the job lock (module docstring); what it wrote.

    Raises :class:`jobs.JobBusy` when maintenance or another export holds the lock,
    :class:`RetriableError` when the database or the store cannot be reached, and
    :class:`FatalError` when the schema or the account's rights do not allow it.
    """
    started = time.monotonic()
    progress = progress or Progress()
    tenant, conninfo = mart.tenant, mart.url
    prefix = exports_prefix(tenant)
    conn = jobs.connect(conninfo, APPLICATION)
    try:
        with conn, jobs.job_lock(conn, "export"), \
                tempfile.TemporaryDirectory(prefix="gim-export-") as spool:
            store = store or open_store(mart.object_store)
            previous = None if window else latest_delta(store, tenant)
            result = _export(conn, tenant, store, prefix, window, previous, Path(spool),
                             progress)
    except postgres.Error as exc:
        raise postgres.translate(exc, conninfo, "export") from None
    result.seconds = time.monotonic() - started
    return result


def _export(conn: psycopg.Connection[Any], tenant: str, store: ObjectStore,
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
    running_before = running(conn)       # read before the snapshot: see settle()
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    files: list[tuple[Table, str, Path, int, int, str]] = []
    with conn.transaction():
        # The first statement takes the snapshot that every table is read from.
        top, created = conn.execute(
            "SELECT max(audit_key), clock_timestamp() FROM ctl_audit_log").fetchone()  # type: ignore[misc]
        running_after = running(conn)
        high = max(int(top or 0), low)
        schema_version = conn.execute(
            "SELECT max(version) FROM ctl_schema_version").fetchone()[0]  # type: ignore[index]
        carried_ranges = pending_keys(carried)
        shown = [row[0] for row in conn.execute(sql.SQL(
            "SELECT audit_key FROM ctl_audit_log WHERE {}").format(
            sql.SQL(" OR ").join(sql.SQL("audit_key BETWEEN %s AND %s") for _ in carried_ranges)
        ), [v for r in carried_ranges for v in r]).fetchall()] if carried_ranges else []
        pending = settle(carried, running_before, shown) if kind == "delta" else []
        new_gaps = gaps(conn, low, high) if kind == "delta" else []
        if new_gaps:
            pending.append(Pending(tuple(compact(new_gaps)), tuple(sorted(running_after))))
        selection = Selection(kind, full, low, high, carried_ranges, window)
        tables = discover(conn)
        facts = [t for t in tables if t.role == "fact"]
        for table in tables:
            if selection.label(table) is None:
                continue
            path = spool / f"{table.name}{SUFFIX}"
            rows, size, digest = write_table(conn, table, selection.where(table, facts),
                                             selection.params, path, progress)
            files.append((table, selection.label(table) or "", path, rows, size, digest))
    conn.isolation_level = None
    conn.read_only = None
    folder = folder_name(high, created)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "tenant": tenant,
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


def record_run(mart: InfoMart, result: ExportResult) -> None:
    """The command's ``ctl_audit_log`` row (source ``gim-export``): a scheduled export (a
    CronJob) has no metrics endpoint of its own, so the loader reads these rows and serves
    when the export last succeeded (``gim_job_last_completed_timestamp_seconds``), the figure
    the export alert watches. Written after the export, also when nothing changed (the run
    still succeeded), never by :func:`export` itself, whose marks it would move. An account
    that may not insert it only loses the record: the export stands, a warning says so."""
    detail = {"folder": result.folder, "kind": result.manifest["kind"], "rows": result.rows,
              "seconds": round(result.seconds, 3)}
    try:
        conn = jobs.connect(mart.url, APPLICATION)
        with conn:
            jobs.record_run(conn, jobs.RUN_SOURCES["export"], result.rows, detail)
    except (postgres.Error, RetriableError) as exc:
        log.warning("export done, but its run could not be recorded in ctl_audit_log (%s); "
                    "the export alert will count it as missing", postgres.one_line(exc))
