"""Fact records: what the transforms rely on besides their fields."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

from gim_faust.models.facts import InteractionResourceFact


def test_a_revised_party_row_differs_from_the_row_in_the_three_revised_fields_only() -> None:
    # Every field gets a value of its own, so a field passed in the wrong place shows.
    start, end = (datetime(2026, 11, 2, 8, m, tzinfo=timezone.utc) for m in (0, 5))
    row = InteractionResourceFact(
        "call-1:3", "call-1", 1_000_000_000_001, 1, 2, 3, start, end, 1_793_952_000, 4, 5, 6, 7,
        8, 9, 2_000_000_000_002, 10, 1, 11, "RECEIVED_CONSULT", {"segment": "gold"})
    assert row.revised(12, 0, 13) == dataclasses.replace(
        row, after_call_work_duration=12, active_flag=0, version=13)
