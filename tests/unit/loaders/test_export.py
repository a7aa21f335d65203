"""The pure parts of the export (gim_faust.loaders.export_plan: CSV fields, pending audit keys,
names) and its progress display.

The export against a database and the stores is tested in tests/integration/test_export.py.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

import pytest
from gim_faust.loaders.export import Progress
from gim_faust.loaders.export_plan import (
    Pending,
    compact,
    csv_field,
    csv_line,
    folder_name,
    format_ts,
    incomplete_folders,
    settle,
    subtract,
)
from hypothesis import given
from hypothesis import strategies as st

from gim_faust.errors import ConfigError
from gim_faust.settings import parse_ts

# --- CSV -----------------------------------------------------------------------------------


def test_null_is_empty_text_is_quoted_numbers_are_bare() -> None:
    assert csv_line(["a", None, "", "12", "2026-11-02T09:07:12.345Z"],
                    [True, True, True, False, False]) == \
        '"a",,"",12,2026-11-02T09:07:12.345Z\r\n'


def test_quotes_commas_and_line_breaks_are_escaped() -> None:
    assert csv_field('say "hi", then\r\ngo', True) == '"say ""hi"", then\r\ngo"'
    assert csv_field("{1,2}", False) == '"{1,2}"'     # a non-text value that needs quotes


# Every exported table has two columns or more, so no row is an empty line (which readers skip).
@given(st.lists(st.one_of(st.none(), st.text()), min_size=2, max_size=8))
def test_python_reads_back_what_is_written(values: list[str | None]) -> None:
    line = csv_line(values, [True] * len(values))
    (row,) = list(csv.reader(io.StringIO(line, newline="")))
    # csv.reader cannot tell NULL from "" (PostgreSQL's COPY can: the integration test).
    assert row == [v or "" for v in values]


# --- pending audit keys ----------------------------------------------------------------------


def test_subtract_splits_ranges_around_keys() -> None:
    assert subtract([(1, 10), (20, 20)], [1, 5, 10, 20, 99]) == [(2, 4), (6, 9)]
    assert subtract([(3, 4)], []) == [(3, 4)]


@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 20)), max_size=30),
       st.integers(1, 10))
def test_compact_covers_every_key_within_the_limit(spans: list[tuple[int, int]],
                                                   limit: int) -> None:
    ranges = sorted({(lo, lo + n) for lo, n in spans})
    merged = compact(ranges, limit)
    assert len(merged) <= max(limit, 0) or not ranges
    for lo, hi in ranges:
        assert any(a <= lo and hi <= b for a, b in merged)


def test_a_group_stays_pending_while_one_of_its_transactions_runs() -> None:
    group = Pending(((5, 5), (8, 9)), ("3/17", "4/2"))
    assert settle([group], {"4/2", "9/9"}, [8]) == [Pending(((5, 5), (9, 9)), ("3/17", "4/2"))]


def test_a_group_is_decided_once_its_transactions_ended_or_its_keys_showed() -> None:
    group = Pending(((5, 5),), ("3/17",))
    assert settle([group], {"9/9"}, []) == []        # ended: committed keys would show
    assert settle([group], {"3/17"}, [5]) == []      # showed: exported now


def test_pending_round_trips_through_the_manifest() -> None:
    group = Pending(((1, 2),), ("1/1",))
    assert Pending.from_dict(group.as_dict()) == group


# --- names, times, leftovers ------------------------------------------------------------------


def test_folder_names_sort_by_mark_then_time() -> None:
    at = datetime(2026, 11, 2, 9, 7, 12, 345678, tzinfo=timezone.utc)
    assert folder_name(57, at) == "00000000000000000057_20261102T090712.345Z"
    names = [folder_name(9, at), folder_name(10, at), folder_name(10, at + timedelta(1))]
    assert sorted(names) == names


def test_times_are_utc_with_milliseconds() -> None:
    cet = timezone(timedelta(hours=1))
    assert format_ts(datetime(2026, 11, 2, 10, 0, 0, 5000, tzinfo=cet)) == \
        "2026-11-02T09:00:00.005Z"
    assert parse_ts("2026-11-02T09:00:00Z", "--from") == datetime(2026, 11, 2, 9,
                                                                  tzinfo=timezone.utc)
    assert parse_ts("2026-11-02", "--from").tzinfo == timezone.utc   # naive means UTC
    with pytest.raises(ConfigError, match="--to 'yesterday'"):
        parse_ts("yesterday", "--to")


def test_only_folders_without_a_manifest_are_incomplete() -> None:
    prefix = "acme/gim/exports/"
    keys = [f"{prefix}LATEST", f"{prefix}1_a/manifest.json", f"{prefix}1_a/x.csv.gz",
            f"{prefix}2_b/x.csv.gz", f"{prefix}2_b/y.csv.gz", "acme/gca/snapshots/LATEST"]
    assert incomplete_folders(keys, prefix) == {
        "2_b": [f"{prefix}2_b/x.csv.gz", f"{prefix}2_b/y.csv.gz"]}


# --- progress ---------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_shown_on_a_terminal_only() -> None:
    terminal = _Terminal()
    progress = Progress(terminal)
    progress.update("interaction_fact", 5000, force=True)
    progress.done("interaction_fact", 7300)
    assert terminal.getvalue() == ("\rexport: interaction_fact: 5,000 rows"
                                   "\rexport: interaction_fact: 7,300 rows\n")
    pipe = io.StringIO()
    quiet = Progress(pipe)
    quiet.update("x", 1, force=True)
    quiet.done("x", 1)
    assert pipe.getvalue() == ""
