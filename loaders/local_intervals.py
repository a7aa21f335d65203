"""The tenant's local hours and days as UTC intervals (contract ``aggregates.md``, "Intervals
and the tenant's time zone").

An hour is one local clock hour and a day one local calendar day, each starting at the first
instant whose local time falls in it and as long as it really is: a day is 23 or 25 hours
when the clocks change, an hour the clock repeats is two hours, and where a zone moves by
30 minutes an hour can last 30. Every zone's offset is a multiple of 15 minutes, so each
15-minute UTC interval lies in exactly one hour and one day: walking from an interval in
15-minute steps while the local hour (with its offset, which tells a repeated hour apart) or
the local date stays the same finds the whole hour or day. Pure; the zone rules are the
system's tz database (``zoneinfo``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

STEP_S = 900  # the 15-minute intervals of the facts' date_time_key


@dataclass(frozen=True, slots=True)
class Interval:
    """``[start_s, start_s + length_s)`` in Unix seconds; ``cal_date`` for a day."""

    start_s: int
    length_s: int
    cal_date: date | None = None

    @property
    def keys(self) -> range:
        """The 15-minute intervals (their date_time_key) it is made of."""
        return range(self.start_s, self.start_s + self.length_s, STEP_S)


def _local(zone: ZoneInfo) -> Callable[[int], datetime]:
    return lambda key: datetime.fromtimestamp(key, zone)


def _around(key: int, same: Callable[[int], Hashable]) -> tuple[int, int]:
    """The run of 15-minute intervals around ``key`` for which ``same`` does not change."""
    mark = same(key)
    start = key
    while same(start - STEP_S) == mark:
        start -= STEP_S
    end = key + STEP_S
    while same(end) == mark:
        end += STEP_S
    return start, end - start


def hours_and_days(keys: Iterable[int], zone_name: str) -> tuple[list[Interval], list[Interval]]:
    """The local hours and days that hold the 15-minute intervals ``keys``, each once."""
    local = _local(ZoneInfo(zone_name))

    def hour(key: int) -> Hashable:
        at = local(key)
        return at.date(), at.hour, at.utcoffset()

    def day(key: int) -> Hashable:
        return local(key).date()

    hours: dict[int, Interval] = {}
    days: dict[int, Interval] = {}
    covered_hours: set[int] = set()
    covered_days: set[int] = set()
    for key in sorted(set(keys)):
        if key not in covered_hours:
            interval = Interval(*_around(key, hour))
            hours[interval.start_s] = interval
            covered_hours.update(interval.keys)
        if key not in covered_days:
            start, length = _around(key, day)
            days[start] = Interval(start, length, local(start).date())
            covered_days.update(days[start].keys)
    return sorted(hours.values(), key=lambda i: i.start_s), sorted(days.values(),
                                                                    key=lambda i: i.start_s)
