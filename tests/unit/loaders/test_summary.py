"""The pure formatting of gim_faust.loaders.summary (the ``make demo`` summary) on hand-made rows
in the shape of its queries. Its SQL on a loaded Info Mart, against figures computed
independently: tests/integration/test_end_to_end.py and test_report.py."""

from __future__ import annotations

from datetime import datetime, timezone

from gim_faust.loaders import summary


def at(hh: int, day: int = 2, month: int = 11) -> datetime:
    return datetime(2026, month, day, hh, tzinfo=timezone.utc)


# (queue, hour or None for its total, offered, accepted, abandoned, service level, ASA)
QUEUES = [("Billing", at(8), 10, 8, 1, 0.6667, 12.25), ("Billing", at(10), 4, 4, 0, 1, 2.0),
          ("Billing", None, 14, 12, 1, 0.7692, 8.8333),
          ("Sales", at(9), 3, 0, 3, 0, None), ("Sales", None, 3, 0, 3, 0, None)]
# (agent, hour or None, handled, AHT, occupancy)
AGENTS = [("ann", at(8), 5, 301.26, 0.5), ("ann", at(9), 0, None, 0), ("ann", None, 5, 301.26, 0.4),
          ("bob", at(9), 2, 100.0, None), ("bob", None, 2, 100.0, None)]


def test_queue_grid_a_line_per_figure_an_hour_per_column_and_the_total() -> None:
    grid = summary.queue_grid(QUEUES, "UTC")
    assert grid[0] == ["queue", "", "08:00", "09:00", "10:00", "total"]
    assert grid[1:6] == [["Billing", "offered", "10", "-", "4", "14"],
                         ["", "accepted", "8", "-", "4", "12"],
                         ["", "abandoned", "1", "-", "0", "1"],
                         ["", "service level", "67%", "-", "100%", "77%"],
                         ["", "ASA (s)", "12.2", "-", "2.0", "8.8"]]
    assert grid[6][:2] == ["Sales", "offered"] and grid[10] == ["", "ASA (s)", "-", "-", "-", "-"]
    assert len(grid) == 11


def test_agent_grid_handled_per_hour_then_the_totals() -> None:
    assert summary.agent_grid(AGENTS, "UTC") == [
        ["agent", "08:00", "09:00", "handled", "AHT (s)", "occupancy"],
        ["ann", "5", "0", "5", "301.3", "40%"],
        ["bob", "-", "2", "2", "100.0", "-"]]


def test_two_resources_of_one_name_stay_apart() -> None:
    rows = [("Q", at(8), 1, 1, 0, 1, 1.0), ("Q", None, 1, 1, 0, 1, 1.0),
            ("Q", at(9), 2, 0, 2, 0, None), ("Q", None, 2, 0, 2, 0, None)]
    grid = summary.queue_grid(rows, "UTC")
    assert [line[:2] for line in grid[1::5]] == [["Q", "offered"], ["Q", "offered"]]
    assert grid[1][2:] == ["1", "-", "1"] and grid[6][2:] == ["-", "2", "2"]


def test_hours_are_labelled_in_local_time_and_a_repeated_hour_twice() -> None:
    # Berlin on 2026-10-25: 02:00 local twice (00:00 and 01:00 UTC), then 03:00
    rows = [("Q", at(h, 25, 10), 1, 1, 0, 1, 1.0) for h in (0, 1, 2)]
    grid = summary.queue_grid([*rows, ("Q", None, 3, 3, 0, 1, 1.0)], "Europe/Berlin")
    assert grid[0][2:] == ["02:00", "02:00", "03:00", "total"]
    assert summary.span(rows, "Europe/Berlin") == "2026-10-25"
    assert summary.span(rows, "America/Los_Angeles") == "2026-10-24"   # 17:00 to 19:00
    assert summary.span(rows, "Asia/Tokyo") == "2026-10-25"
    assert summary.span([("Q", at(h, 25, 10)) for h in (6, 7)],
                        "America/Los_Angeles") == "2026-10-24 to 2026-10-25"   # 23:00, 00:00
    assert summary.span([], "UTC") == ""


def test_columns_align_names_left_and_figures_right() -> None:
    lines = summary.columns([["queue", "", "08:00", "total"],
                             ["Billing", "offered", "10", "114"],
                             ["", "service level", "67%", "7%"]], left=2)
    assert lines == ["  queue                 08:00 total",
                     "  Billing offered          10   114",
                     "          service level   67%    7%"]
    assert summary.columns([], left=1) == []


def test_missing_figures_show_as_a_dash() -> None:
    assert [summary.plain(None), summary.pct(None), summary.num(None)] == ["-", "-", "-"]
    assert [summary.plain(3), summary.pct(0.755), summary.num(2)] == ["3", "76%", "2.0"]
