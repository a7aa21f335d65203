"""Keeping the aggregate tables current (contract ``aggregates.md``, "Keeping them current").

The loader's own path only notes, in each batch's transaction, the 15-minute intervals its
fact rows touch (:func:`mark`: one small upsert into ``ctl_aggregate_pending``). Beside it,
:func:`run_pending` takes the noted intervals and recomputes their rows from the facts, then
the local hours and days that hold them from those rows (``aggregate_sql``): recomputing
from the facts, never adding to what is there, is what makes any order, repetition or
replay of the input count once. ``gim-faust gim aggregate`` recomputes whole local days.

Two writers never recompute at once (one advisory lock). The loader never waits for the
aggregator: a pass reads the pending intervals without locking them, recomputes them in its
transaction, and only after that commits forgets each one whose pending row is still the
version it read (``xmin``). A batch that noted an interval meanwhile made a new version, or
holds the row until it commits and then has; either way the interval stays pending and a
later pass, which sees that batch's facts, takes it again. (A pass used to delete the rows it
took first: a batch noting one of them then waited for the whole pass, up to seconds after a
backlog, and so did every fact behind it.)
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import psycopg
from gim_faust.loaders import aggregate_sql
from gim_faust.loaders.local_intervals import STEP_S, Interval, hours_and_days
from psycopg.types.json import Jsonb

from gim_faust import postgres
from gim_faust.models.facts import Fact, SessionFact, StateFact
from gim_faust.settings import Settings

log = logging.getLogger(__name__)

# b"gimagg\x00\x01": "the aggregates are being recomputed".
LOCK_KEY = postgres.lock_key(b"gimagg\x00\x01")
# Intervals per pass: a pass is one transaction; a backlog (a replay) goes in several.
PASS_INTERVALS = 500
APPLICATION = "gim-faust aggregate"
# For the recomputing transaction only. A pass is a few large statements run once: compiling
# them (JIT) cost about a second of the server's CPU on a day's recomputation, and grouping a
# day of agent intervals (2,501 agents and media: 240,000 rows) spilled to disk at 4 MB.
_PASS_SETTINGS = ("SET LOCAL jit = off", "SET LOCAL work_mem = '64MB'")


@dataclass(frozen=True)
class Rules:
    """What the figures depend on besides the facts: the tenant's zone and thresholds."""

    timezone: str
    service_level_threshold: int
    short_abandon_threshold: int

    @classmethod
    def of(cls, settings: Settings) -> Rules:
        return cls(settings.timezone, settings.service_level_threshold,
                   settings.short_abandon_threshold)


def touched(facts: Iterable[Fact]) -> list[int]:
    """The 15-minute intervals whose aggregates the fact rows may change: the one of their
    start, and for sessions and states every one their ``[start, end)`` reaches."""
    keys: set[int] = set()
    for fact in facts:
        start = getattr(fact, "start_date_time_key", None)
        if start is None:
            continue
        keys.add(start)
        if isinstance(fact, (SessionFact, StateFact)) and fact.end_ts is not None:
            last = int(fact.end_ts.timestamp() - 0.001) // STEP_S * STEP_S
            keys.update(range(start, last + 1, STEP_S))
    return sorted(keys)


def mark(cur: psycopg.Cursor[Any], facts: Iterable[Fact]) -> None:
    """Notes the intervals ``facts`` touch, in the caller's transaction: a new version of
    each pending row (module docstring); sorted, so two batches lock in one order."""
    keys = touched(facts)
    if keys:
        cur.execute("INSERT INTO ctl_aggregate_pending (date_time_key) "
                    "SELECT unnest(%s::bigint[]) ORDER BY 1 ON CONFLICT (date_time_key) "
                    "DO UPDATE SET added_ts = now()", (keys,))


def _ts(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


def _execute(cur: psycopg.Cursor[Any], statements: str, params: Mapping[str, Any]) -> None:
    for statement in statements.split(";\n"):
        cur.execute(statement, params)


def recompute(cur: psycopg.Cursor[Any], keys: Sequence[int], rules: Rules) -> None:
    """The rows of intervals ``keys`` from the facts, then of the hours and days holding
    them from those rows (their other intervals' rows are current already), under one audit
    row (``source`` 'aggregate') that the rows name, for the export."""
    for setting in _PASS_SETTINGS:
        cur.execute(setting)
    audit = cur.execute("SELECT nextval(pg_get_serial_sequence('ctl_audit_log', 'audit_key'))"
                        ).fetchone()[0]  # type: ignore[index]
    params: dict[str, Any] = {
        "keys": list(keys), "lo": _ts(min(keys)), "hi": _ts(max(keys) + STEP_S),
        "sl": rules.service_level_threshold, "sa": rules.short_abandon_threshold,
        "audit": audit}
    for statement in aggregate_sql.SUBHR:
        _execute(cur, statement, params)
    hours, days = hours_and_days(keys, rules.timezone)
    for grain, intervals in (("hour", hours), ("day", days)):
        _roll_up(cur, grain, intervals, audit)
    cur.execute("INSERT INTO ctl_audit_log (audit_key, source, rows, detail) "
                "VALUES (%s, 'aggregate', %s, %s)",
                (audit, len(keys), Jsonb({"intervals": [min(keys), max(keys)],
                                          "timezone": rules.timezone})))


def _roll_up(cur: psycopg.Cursor[Any], grain: str, intervals: Sequence[Interval],
             audit: int) -> None:
    members = [(key, interval) for interval in intervals for key in interval.keys]
    params = {"audit": audit, "starts": [_ts(i.start_s) for i in intervals],
              "keys": [key for key, _ in members],
              "starts_of": [_ts(i.start_s) for _, i in members],
              "lengths_of": [i.length_s for _, i in members],
              "dates_of": [i.cal_date for _, i in members]}
    for family in aggregate_sql.FAMILIES:
        _execute(cur, aggregate_sql.roll_up(family, grain), params)


def run_pending(conninfo: str, rules: Rules) -> int:
    """Recomputes the pending intervals, a pass at a time, until a pass finds fewer than it
    can take; how many. Returns 0 at once when another worker holds the lock (it does the
    same work). Intervals noted again during a pass wait for the caller's next call: while
    batches keep coming, passing again at once would recompute the current intervals back
    to back and take the CPU the loading needs (a million-event backlog went 25 % slower)."""
    done = 0
    with postgres.connect(conninfo, APPLICATION) as conn:
        while True:
            keys = one_pass(conn, rules)
            done += len(keys)
            if len(keys) < PASS_INTERVALS:
                return done


def one_pass(conn: psycopg.Connection[Any], rules: Rules) -> list[int]:
    """Up to :data:`PASS_INTERVALS` pending intervals recomputed in one transaction; which
    (none when there are none, or when another worker holds the lock)."""
    with conn.transaction(), conn.cursor() as cur:
        locked = cur.execute("SELECT pg_try_advisory_xact_lock(%s)", (LOCK_KEY,)).fetchone()
        if not locked or not locked[0]:
            return []
        taken = cur.execute("SELECT date_time_key, xmin::text FROM ctl_aggregate_pending "
                            "ORDER BY 1 LIMIT %s", (PASS_INTERVALS,)).fetchall()
        keys = [key for key, _ in taken]
        if keys:
            recompute(cur, keys, rules)
    if keys:  # after the commit: a batch that notes one of them never waits for the pass
        with conn.transaction():
            # Locked in key order first, as batches lock them (mark): two orders could deadlock.
            conn.execute("SELECT 1 FROM ctl_aggregate_pending WHERE date_time_key = ANY(%s) "
                         "ORDER BY date_time_key FOR UPDATE", (keys,))
            conn.execute("DELETE FROM ctl_aggregate_pending p "
                         "USING unnest(%s::bigint[], %s::text[]) AS t(key, version) "
                         "WHERE p.date_time_key = t.key AND p.xmin = t.version::xid",
                         (keys, [version for _, version in taken]))
    return keys


@dataclass
class Summary:
    days: int = 0
    intervals: int = 0
    seconds: float = 0.0

    def line(self, first: datetime | None, last: datetime | None) -> str:
        span = f" from {first.isoformat()} to {last.isoformat()}" if first and last else ""
        return (f"aggregate: {self.days} local days ({self.intervals} 15-minute intervals)"
                f"{span} recomputed in {self.seconds:.1f} s")


def fact_span(conninfo: str) -> tuple[datetime, datetime] | None:
    """The first and last instant any fact covers (for ``--all``); None if there is none."""
    with postgres.connect(conninfo, APPLICATION) as conn:
        row = conn.execute(" UNION ALL ".join(
            f"(SELECT min(start_ts), max(coalesce(end_ts, start_ts)) FROM {table})"
            for table in ("interaction_fact", "sm_res_session_fact", "sm_res_state_fact"))
        ).fetchall()
    firsts = [r[0] for r in row if r[0] is not None]
    lasts = [r[1] for r in row if r[1] is not None]
    return (min(firsts), max(lasts)) if firsts else None


def recompute_range(conninfo: str, rules: Rules, first: datetime, last: datetime,
                    progress: bool = True) -> Summary:
    """Every aggregate row of the local days that intersect ``[first, last)``, one day per
    transaction under the lock (waiting for a pass of the loader's to end). Rows of other
    interval boundaries (a former time zone) inside those days go too."""
    started = time.monotonic()
    lo = int(first.timestamp()) // STEP_S * STEP_S
    hi = max(lo + STEP_S, -(-int(last.timestamp()) // STEP_S) * STEP_S)
    _, days = hours_and_days(range(lo, hi, STEP_S), rules.timezone)
    summary = Summary()
    with postgres.connect(conninfo, APPLICATION) as conn:
        for n, day in enumerate(days, 1):
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
                for family in aggregate_sql.FAMILIES:
                    for grain in ("hour", "day"):
                        cur.execute(f"DELETE FROM ag2_{family}_{grain} WHERE interval_start_ts "
                                    f">= %s AND interval_start_ts < %s",
                                    (_ts(day.start_s), _ts(day.start_s + day.length_s)))
                recompute(cur, list(day.keys), rules)
            summary.days, summary.intervals = n, summary.intervals + len(day.keys)
            if progress:
                sys.stderr.write(f"\raggregate: day {n}/{len(days)} ({day.cal_date})")
                sys.stderr.flush()
    if progress and days:
        sys.stderr.write("\n")
    summary.seconds = time.monotonic() - started
    return summary
