"""Capped exponential back-off."""

from __future__ import annotations

from gim_faust.gim.backoff import Backoff


def test_delays_double_up_to_the_cap_then_stay() -> None:
    backoff = Backoff(initial=0.2, cap=5.0, factor=2.0, jitter=0.0)
    assert [round(backoff.next(), 3) for _ in range(8)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0,
                                                            5.0]
    assert backoff.attempts == 8
    backoff.reset()
    assert backoff.next() == 0.2


def test_jitter_stays_within_its_band() -> None:
    backoff = Backoff(initial=1.0, cap=1.0, jitter=0.2)
    delays = [backoff.next() for _ in range(200)]
    assert all(0.8 <= d <= 1.2 for d in delays)
    assert len(set(delays)) > 1


def test_many_attempts_do_not_overflow() -> None:
    backoff = Backoff(jitter=0.0)
    backoff.attempts = 10_000
    assert backoff.next() == backoff.cap
