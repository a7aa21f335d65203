"""The pure parts of maintenance: which days need partitions, which partitions are past
retention, how far ahead the calendar reaches, and the report of a run. No I/O: the steps
(:mod:`gim_faust.loaders.maintenance_sql`) read the catalog and decide with these.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

# "Keep date_time filled at least a year ahead" (issue 11): 366 days covers a leap year.
CALENDAR_AHEAD_DAYS = 366
_DAY = timedelta(days=1)


@dataclass
class TableReport:
    """What one run did to one fact table."""

    partitions_created: int = 0
    rows_moved: int = 0          # out of the default partition into a new partition
    partitions_dropped: int = 0
    rows_purged: int = 0         # final rows past retention: in dropped partitions or deleted
    partitions_kept: int = 0     # past retention, kept because they hold active rows
    active_rows_kept: int = 0    # active rows past retention (partitions or default), untouched


@dataclass
class Report:
    today: date
    partitions_until: date       # last day that has partitions ahead
    retention_cutoff: date       # rows starting before this day are past retention
    subhr_cutoff: date | None = None  # 15-minute aggregates before this day are deleted
    tables: dict[str, TableReport] = field(default_factory=dict)
    date_time_rows: int = 0
    audit_rows_purged: int = 0
    export_objects_deleted: int = 0
    analyzed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)   # operations not done, and why
    seconds: float = 0.0

    def total(self, name: str) -> int:
        return sum(getattr(t, name) for t in self.tables.values())

    @property
    def changed(self) -> bool:
        """Whether the run changed anything (its own audit row aside)."""
        return bool(self.total("partitions_created") or self.total("partitions_dropped")
                    or self.total("rows_moved") or self.total("rows_purged")
                    or self.date_time_rows or self.audit_rows_purged
                    or self.export_objects_deleted)

    def as_dict(self) -> dict[str, Any]:
        body = asdict(self)
        for name in ("today", "partitions_until", "retention_cutoff", "subhr_cutoff"):
            body[name] = getattr(self, name) and getattr(self, name).isoformat()
        body["totals"] = {name: self.total(name) for name in TableReport.__dataclass_fields__}
        body["changed"] = self.changed
        return body

    def summary(self) -> str:
        kept, active = self.total("partitions_kept"), self.total("active_rows_kept")
        parts = [
            f"{self.total('partitions_created')} partitions created "
            f"(through {self.partitions_until})",
            f"{self.total('partitions_dropped')} dropped (before {self.retention_cutoff})"
            + (f", {kept} kept for their active rows" if kept else ""),
            f"{self.total('rows_moved')} rows moved out of default partitions",
            f"{self.total('rows_purged')} rows purged",
        ]
        if active:
            parts.append(f"{active} active rows past retention left in place")
        parts += [f"{self.date_time_rows} date_time rows added",
                  f"{self.audit_rows_purged} audit rows purged",
                  f"{self.export_objects_deleted} export leftovers deleted",
                  f"{len(self.analyzed)} tables analyzed"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} operations skipped")
        return "maintenance: " + ", ".join(parts) + f" in {self.seconds:.1f} s"


@dataclass(frozen=True)
class Partition:
    name: str
    default: bool
    lo: datetime | None     # None for the default partition
    hi: datetime | None


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def days_to_create(partitions: list[Partition], first: date, last: date) -> list[date]:
    """The days of ``[first, last]`` that no partition covers whole."""
    ranges = [(p.lo, p.hi) for p in partitions if not p.default and p.lo and p.hi]
    wanted = []
    day = first
    while day <= last:
        lo, hi = midnight(day), midnight(day + _DAY)
        if not any(a <= lo and hi <= b for a, b in ranges):
            wanted.append(day)
        day += _DAY
    return wanted


def expired(partitions: list[Partition], cutoff: date) -> list[Partition]:
    """The partitions whose whole range lies before ``cutoff`` (UTC midnight), oldest first."""
    limit = midnight(cutoff)
    return sorted((p for p in partitions if not p.default and p.hi is not None
                   and p.hi <= limit), key=lambda p: p.lo or p.hi or limit)
