"""``gim-faust simulate`` without services: the JSON-lines output and the usage errors."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from gim_faust.commands import cli
from gim_faust.commands.simulate import parse_speed
from gim_faust.simulate import SimOptions, generate
from gim_faust.simulate.publish import held_back

ARGS = ["simulate", "--tenant", "acme", "--agents", "6", "--hours", "2", "--seed", "7",
        "--start", "2026-11-02T08:00:00Z"]


def test_output_writes_the_days_events_as_json_lines(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "day.jsonl"
    assert cli.main([*ARGS, "--output", str(out)]) == 0
    options = SimOptions("acme", agents=6, hours=2, seed=7,
                         start=datetime(2026, 11, 2, 8, tzinfo=timezone.utc))
    assert out.read_bytes().splitlines() == [m.value for m in generate(options)]
    assert f"to {out}" in capsys.readouterr().out


@pytest.mark.parametrize("bad", [["--speed", "fast"], ["--speed", "0"], ["--agents", "0"],
                                 ["--start", "yesterday"], ["--partitions", "0"]])
def test_bad_usage_exits_2_with_one_line(bad: list[str], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([*ARGS, *bad, "--output", str(tmp_path / "x.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gim-faust: ") and err.count("\n") == 1


def test_speed_is_max_or_a_factor() -> None:
    assert parse_speed("max") is None and parse_speed("MAX") is None
    assert parse_speed("60") == 60.0 and parse_speed("0.5") == 0.5


def test_an_event_ahead_of_the_clock_waits_until_the_gsp_would_take_it() -> None:
    """The GSP refuses events more than GIM_MAX_CLOCK_SKEW ahead of its clock: a day that
    starts in the future is published as its time comes."""
    assert held_back(ts_ms=1_000_000, skew_s=300, now_s=1_000) == -300  # past: at once
    assert held_back(ts_ms=1_400_000, skew_s=300, now_s=1_000) == 100
