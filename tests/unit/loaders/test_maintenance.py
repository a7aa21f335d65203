"""The pure parts of maintenance (gim_faust.loaders.maintenance_plan): which days need
partitions, which partitions are past retention, the report. The job itself:
tests/integration/test_maintenance.py.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import orjson
from gim_faust.loaders.maintenance_plan import Partition, Report, TableReport, days_to_create, expired


def _day(name: str, d: date) -> Partition:
    lo = datetime(d.year, d.month, d.day, tzinfo=timezone.utc)
    return Partition(name, False, lo, lo + timedelta(days=1))


DEFAULT = Partition("t_default", True, None, None)


def test_only_uncovered_days_get_a_partition() -> None:
    have = [DEFAULT, _day("a", date(2026, 11, 2)), _day("b", date(2026, 11, 4)),
            # an operator's week-long partition covers each of its days
            Partition("w", False, datetime(2026, 11, 5, tzinfo=timezone.utc),
                      datetime(2026, 11, 12, tzinfo=timezone.utc))]
    assert days_to_create(have, date(2026, 11, 1), date(2026, 11, 13)) == [
        date(2026, 11, 1), date(2026, 11, 3), date(2026, 11, 12), date(2026, 11, 13)]
    assert days_to_create(have, date(2026, 11, 2), date(2026, 11, 2)) == []


def test_a_partition_expires_when_its_whole_range_is_before_the_cutoff() -> None:
    old, edge, young = (_day("old", date(2026, 1, 1)), _day("edge", date(2026, 1, 9)),
                        _day("young", date(2026, 1, 10)))
    assert expired([young, DEFAULT, edge, old], date(2026, 1, 10)) == [old, edge]


def test_the_report_says_what_changed() -> None:
    report = Report(date(2026, 11, 29), date(2026, 12, 13), date(2025, 10, 25))
    report.tables["interaction_fact"] = TableReport()
    assert not report.changed
    assert report.summary().startswith("maintenance: 0 partitions created (through 2026-12-13)")
    report.tables["sm_res_session_fact"] = TableReport(partitions_kept=1, active_rows_kept=3,
                                                       rows_purged=2)
    assert report.changed
    assert ("0 dropped (before 2025-10-25), 1 kept for their active rows, 0 rows moved out of "
            "default partitions, 2 rows purged, 3 active rows past retention left in place"
            ) in report.summary()
    body = orjson.loads(orjson.dumps(report.as_dict()))
    assert body["totals"]["rows_purged"] == 2 and body["changed"] is True
    assert body["today"] == "2026-11-29"
