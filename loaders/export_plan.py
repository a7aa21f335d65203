"""The pure parts of an export: what its folders and files are called, how values are
written to CSV, and which audit keys are still pending. No I/O, no clock, no database: the
export (:mod:`gim_faust.loaders.export`) decides with these what to read and write.

CSV: RFC 4180, UTF-8, ``\\r\\n`` line ends, a header row of column names; text values are
always quoted and NULL is an empty unquoted field (so ``""`` is an empty string, as
PostgreSQL's ``COPY ... (FORMAT csv)`` reads it); timestamps are ISO 8601 UTC with
milliseconds (``2026-11-02T09:07:12.345Z``); dates ``YYYY-MM-DD``; numbers as PostgreSQL
prints them. The server formats every value (:mod:`gim_faust.loaders.export_sql`);
:func:`csv_line` writes them.

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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

MANIFEST = "manifest.json"
# Pending key ranges kept per manifest at most: beyond, the closest ranges are merged (the
# merged-in keys are exported again once, which consumers' upserts absorb).
MAX_PENDING_RANGES = 100


def exports_prefix(tenant: str) -> str:
    return f"{tenant}/gim/exports/"


def folder_name(mark: int, at: datetime) -> str:
    at = at.astimezone(timezone.utc)
    return f"{mark:020d}_{at:%Y%m%dT%H%M%S}.{at.microsecond // 1000:03d}Z"


def format_ts(value: datetime) -> str:
    value = value.astimezone(timezone.utc)
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"


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
