"""Local hours and days as UTC intervals, in zones whose clocks change by an hour, by half an
hour, and whose offsets are not whole hours (contract aggregates.md)."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from gim_faust.loaders.local_intervals import STEP_S, Interval, hours_and_days


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp())


def test_utc_is_plain_hours_and_days() -> None:
    hours, days = hours_and_days([at("2026-11-02T08:15"), at("2026-11-02T08:45")], "UTC")
    assert hours == [Interval(at("2026-11-02T08:00"), 3600)]
    assert days == [Interval(at("2026-11-02T00:00"), 86400, date(2026, 11, 2))]


def test_new_york_turning_its_clocks_back() -> None:
    """2026-11-01: 01:00-02:00 EDT, then 01:00-02:00 EST again; the day lasts 25 hours."""
    keys = range(at("2026-11-01T04:00"), at("2026-11-01T08:00"), STEP_S)
    hours, days = hours_and_days(keys, "America/New_York")
    assert [(h.start_s, h.length_s) for h in hours] == [
        (at("2026-11-01T04:00"), 3600),  # 00:00 EDT
        (at("2026-11-01T05:00"), 3600),  # 01:00 EDT
        (at("2026-11-01T06:00"), 3600),  # 01:00 EST, the repeated hour
        (at("2026-11-01T07:00"), 3600)]  # 02:00 EST
    assert days == [Interval(at("2026-11-01T04:00"), 90000, date(2026, 11, 1))]
    _, before = hours_and_days([at("2026-11-01T03:45")], "America/New_York")
    assert before == [Interval(at("2026-10-31T04:00"), 86400, date(2026, 10, 31))]


def test_new_york_springing_forward_has_a_23_hour_day() -> None:
    _, days = hours_and_days([at("2026-03-08T12:00")], "America/New_York")
    assert days == [Interval(at("2026-03-08T05:00"), 82800, date(2026, 3, 8))]


@pytest.mark.parametrize(("utc", "hour"), [
    # Lord Howe moves by 30 minutes: on 2026-10-04 at 02:00 (+10:30) it becomes 02:30 (+11)
    ("2026-10-03T15:30", (at("2026-10-03T15:30"), 1800)),  # local 02:30-03:00
    ("2026-10-03T15:15", (at("2026-10-03T14:30"), 3600)),  # local 01:00-02:00
    # ...and on 2026-04-05 at 02:00 (+11) goes back to 01:30 (+10:30): the half hour repeats
    ("2026-04-04T15:00", (at("2026-04-04T15:00"), 1800)),  # local 01:30-02:00 again
    ("2026-04-04T14:45", (at("2026-04-04T14:00"), 3600)),  # local 01:00-02:00 first time
])
def test_lord_howe_half_hour_changes(utc: str, hour: tuple[int, int]) -> None:
    hours, _ = hours_and_days([at(utc)], "Australia/Lord_Howe")
    assert [(h.start_s, h.length_s) for h in hours] == [hour]


@pytest.mark.parametrize(("zone", "hour_start", "day_start"), [
    ("Asia/Kathmandu", "2026-11-02T08:15", "2026-11-01T18:15"),    # +05:45
    ("Pacific/Chatham", "2026-11-02T08:15", "2026-11-01T10:15"),   # +13:45 in November
    ("Asia/Kolkata", "2026-11-02T08:30", "2026-11-01T18:30"),      # +05:30
])
def test_offsets_that_are_not_whole_hours(zone: str, hour_start: str, day_start: str) -> None:
    hours, days = hours_and_days([at("2026-11-02T08:45")], zone)
    assert hours == [Interval(at(hour_start), 3600)]
    assert (days[0].start_s, days[0].length_s) == (at(day_start), 86400)


def test_every_key_lies_in_exactly_one_hour_and_one_day() -> None:
    keys = list(range(at("2026-10-30T00:00"), at("2026-11-03T00:00"), STEP_S))
    for zone in ("America/New_York", "Australia/Lord_Howe", "Europe/Paris"):
        hours, days = hours_and_days(keys, zone)
        for grouping in (hours, days):
            covered = [k for interval in grouping for k in interval.keys]
            assert len(covered) == len(set(covered)) and set(keys) <= set(covered)
