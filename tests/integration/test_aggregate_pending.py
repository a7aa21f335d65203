"""How the loader's batches and the aggregator share ``ctl_aggregate_pending``, on a real
PostgreSQL: a batch never waits for a pass, and an interval a batch notes during a pass is
recomputed by a later one (loaders/aggregate.py)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import psycopg
import pytest
from gim_faust.loaders import aggregate
from gim_faust.loaders.migrate import migrate

from gim_faust import postgres
from gim_faust.models.facts import InteractionFact

pytestmark = pytest.mark.integration

RULES = aggregate.Rules("Europe/Paris", 20, 10)
T0 = datetime(2026, 11, 2, 9, 7, 12, tzinfo=timezone.utc)
KEYS = (1793610000, 1793610900)  # the intervals of T0 and of 15 minutes later


def call(key: int) -> InteractionFact:
    return InteractionFact(f"call-{key}", 1, 1, T0, None, key, "+1555", "8001", "ACTIVE", 1, 1)


def note(db: str, key: int) -> None:
    """A loader batch noting interval ``key``; it fails rather than wait a second for a lock."""
    with postgres.connect(db, "gim-faust loader") as conn, conn.transaction(), \
            conn.cursor() as cur:
        cur.execute("SET LOCAL lock_timeout = '1s'")
        aggregate.mark(cur, [call(key)])


def pending(db: str) -> set[int]:
    with postgres.connect(db, "test") as conn:
        return {key for (key,) in conn.execute("SELECT date_time_key FROM ctl_aggregate_pending")}


@pytest.fixture
def db(fresh_db: str) -> str:
    migrate(fresh_db)
    return fresh_db


def test_a_batch_never_waits_for_a_pass_and_what_it_notes_meanwhile_stays_pending(
        db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in KEYS:
        note(db, key)
    recompute = aggregate.recompute

    def recompute_while_a_batch_notes(cur: psycopg.Cursor[Any], keys: list[int],
                                      rules: aggregate.Rules) -> None:
        recompute(cur, keys, rules)
        note(db, KEYS[0])  # the pass has not committed: this batch must not wait for it

    monkeypatch.setattr(aggregate, "recompute", recompute_while_a_batch_notes)
    with postgres.connect(db, aggregate.APPLICATION) as conn:
        assert aggregate.one_pass(conn, RULES) == list(KEYS)
    assert pending(db) == {KEYS[0]}  # noted again during the pass: the next one takes it
    monkeypatch.setattr(aggregate, "recompute", recompute)
    assert aggregate.run_pending(db, RULES) == 1
    assert pending(db) == set()
