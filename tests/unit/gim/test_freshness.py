"""The loader's freshness gauge: when the Info Mart last held everything the topic had."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

from gim_faust.gim.metrics import Freshness

A, B = ("facts", 0), ("facts", 1)


def _freshness(keep: int = 3600) -> tuple[Freshness, Gauge]:
    gauge = Gauge("caught_up", "test", registry=CollectorRegistry())
    return Freshness(gauge, every=1.0, keep=keep), gauge


def _value(gauge: Gauge) -> float:
    return gauge._value.get()  # noqa: SLF001 - the one way to read a bare gauge


def test_caught_up_means_now_and_a_backlog_keeps_the_time_it_was_last_complete() -> None:
    fresh, gauge = _freshness()
    fresh.observe(100.0, {A: 10, B: 5}, {A: 10, B: 5})
    assert _value(gauge) == 100.0
    # Records arrive faster than they are loaded: the gauge stays where all was loaded.
    fresh.observe(101.0, {A: 20, B: 9}, {A: 12, B: 5})
    fresh.observe(102.0, {A: 30, B: 9}, {A: 18, B: 9})
    assert _value(gauge) == 100.0
    # Loading passes what the topic held at 101 (but not yet at 102).
    fresh.observe(103.0, {A: 40, B: 9}, {A: 25, B: 9})
    assert _value(gauge) == 101.0
    fresh.observe(104.0, {A: 40, B: 9}, {A: 40, B: 9})
    assert _value(gauge) == 104.0


def test_steady_load_never_at_zero_lag_is_still_fresh() -> None:
    fresh, gauge = _freshness()
    for second in range(60):
        # Always 5 records behind, but always past what was there a second earlier.
        fresh.observe(float(second), {A: 10 * second + 5}, {A: 10 * second})
    assert _value(gauge) == 58.0


def test_samples_are_spaced_and_bounded_and_only_delay_the_gauge() -> None:
    fresh, gauge = _freshness(keep=3)
    fresh.observe(0.0, {A: 1}, {A: 0})
    fresh.observe(0.5, {A: 2}, {A: 0})   # within a second of the last sample: not kept
    assert [t for t, _ in fresh.samples] == [0.0]
    for t in (1.0, 2.0, 3.0):
        fresh.observe(t, {A: 10 + int(t)}, {A: 0})
    assert [t for t, _ in fresh.samples] == [1.0, 2.0, 3.0]   # 0.0 dropped
    # The sample of 4.0 pushes out that of 1.0: loading past what the topic held at 1.0 no
    # longer shows, the gauge waits for the next kept sample it passes.
    fresh.observe(4.0, {A: 20}, {A: 11})
    assert _value(gauge) == 0.0
    fresh.observe(5.0, {A: 20}, {A: 13})
    assert _value(gauge) == 3.0


def test_partitions_handed_to_another_worker_do_not_hold_the_gauge_back() -> None:
    fresh, gauge = _freshness()
    fresh.observe(10.0, {A: 5, B: 7}, {A: 5, B: 0})
    assert _value(gauge) == 0.0
    fresh.observe(11.0, {A: 6}, {A: 6})   # B was revoked
    assert _value(gauge) == 11.0
