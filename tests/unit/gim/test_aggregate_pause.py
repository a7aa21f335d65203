"""The aggregator's pause between passes: short passes every second, long ones at most half
the time, and the aggregates never later than GIM_AGGREGATE_DELAY."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gim_faust.gim.scheduled_jobs import AGGREGATE_EVERY_S, aggregate_pause


def test_short_passes_come_every_second() -> None:
    assert aggregate_pause(0.05, 10) == AGGREGATE_EVERY_S


def test_a_long_pass_is_followed_by_a_pause_as_long() -> None:
    assert aggregate_pause(2.5, 10) == 2.5


def test_the_pause_shrinks_to_keep_the_delay() -> None:
    # 4 s pass, 2 s pause, a next pass of 4 s: a fact loaded as the first began is in 10 s
    assert aggregate_pause(4.0, 10) == pytest.approx(2.0)


def test_a_short_delay_shortens_the_pause() -> None:
    assert aggregate_pause(0.1, 1) == 0.5


@given(st.floats(0, 60), st.floats(1, 600))
def test_bounds(took: float, delay: float) -> None:
    pause = aggregate_pause(took, delay)
    assert pause >= min(AGGREGATE_EVERY_S, delay / 2)
    assert pause <= max(took, AGGREGATE_EVERY_S)
    if took + min(AGGREGATE_EVERY_S, delay / 2) + took <= delay:
        assert took + pause + took <= delay + 1e-9
