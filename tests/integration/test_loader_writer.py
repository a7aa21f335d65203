"""The Info Mart writer on a real PostgreSQL: versions, batches, offsets, refusals, failures.

Each test migrates a fresh database and drives :class:`Writer` directly, in process; the
worker around it is tested as a process in ``test_gim_loader.py``.
"""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from gim_faust.loaders.migrate import migrate
from gim_faust.loaders.writer import Batch, Writer, prepare_schema

from gim_faust.errors import FatalError, RetriableError
from gim_faust.models.facts import (
    InteractionFact,
    InteractionResourceFact,
    PlaceholderResource,
    ReasonCode,
)

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 2, 9, 7, 12, 345000, tzinfo=timezone.utc)
KEY0 = 1793610000   # the 15-minute interval of T0
TOPIC = "t.gsp.facts"


def interaction(version: int, interaction_id: str = "call-1", **changes: Any) -> InteractionFact:
    fact = InteractionFact(interaction_id, 1, 1, T0, None, KEY0, "+1555", "8001", "ACTIVE", 1,
                           version)
    return dataclasses.replace(fact, **changes)


def party(version: int, party_id: str = "call-1:3", **changes: Any) -> InteractionResourceFact:
    fact = InteractionResourceFact(party_id, "call-1", 1_000_000_000_001, 1, 1, None, T0, None,
                                   KEY0, 2, 0, 0, 0, 0, 0, None, None, 1, version)
    return dataclasses.replace(fact, **changes)


@pytest.fixture
def db(fresh_db: str) -> str:
    migrate(fresh_db)
    return fresh_db


@pytest.fixture
def writer(db: str) -> Iterator[Writer]:
    w = Writer(db, "gim-loader-t")
    w.connect()
    yield w
    w.close()


@pytest.fixture
def conn(db: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(db, autocommit=True) as c:
        c.execute("SET TIME ZONE 'UTC'")
        yield c


def batch(*facts: Any, offsets: dict[tuple[str, int], int] | None = None) -> Batch:
    return Batch(list(facts), offsets if offsets is not None else {(TOPIC, 0): len(facts)})


def rows(conn: psycopg.Connection[Any], table: str, key: str) -> list[tuple[Any, ...]]:
    return conn.execute(f"SELECT * FROM {table} ORDER BY {key}").fetchall()


def one(conn: psycopg.Connection[Any], query: str, *params: Any) -> Any:
    return conn.execute(query, params).fetchone()


def test_a_higher_version_replaces_a_row_and_a_lower_one_never_does(
        writer: Writer, conn: psycopg.Connection[Any]) -> None:
    first = writer.write(batch(interaction(1)))
    assert first.tables["interaction_fact"].inserted == 1
    final = interaction(5, status="COMPLETED", active_flag=0, end_ts=T0 + timedelta(seconds=9))
    second = writer.write(batch(final))
    assert second.tables["interaction_fact"].updated == 1
    # An older, still active version arriving late does not bring the row back to life.
    third = writer.write(batch(interaction(4), interaction(5)))
    assert third.tables["interaction_fact"].unchanged == 1
    assert one(conn, "SELECT status, active_flag, version, end_ts, create_audit_key, "
                     "update_audit_key FROM interaction_fact") == (
        "COMPLETED", 0, 5, T0 + timedelta(seconds=9), first.audit_key, second.audit_key)


def test_one_batch_may_hold_several_versions_of_a_row(writer: Writer,
                                                      conn: psycopg.Connection[Any]) -> None:
    # ON CONFLICT may touch a row once per statement: the writer keeps the newest first.
    result = writer.write(batch(interaction(1), interaction(3), interaction(2), interaction(3),
                                party(1), party(2, ring_duration=5)))
    assert result.tables["interaction_fact"].inserted == 1
    assert result.tables["interaction_resource_fact"].staged == 1
    assert one(conn, "SELECT version FROM interaction_fact") == (3,)
    assert one(conn, "SELECT version, ring_duration FROM interaction_resource_fact") == (2, 5)


def test_repeating_a_batch_changes_nothing(writer: Writer, conn: psycopg.Connection[Any]) -> None:
    facts = [interaction(2), party(1), PlaceholderResource(3 * 10**17 + 1, "UnknownDN", "9999"),
             ReasonCode(77, "Lunch")]
    writer.write(batch(*facts))
    before = {t: rows(conn, t, k) for t, k in (("interaction_fact", "interaction_id"),
                                              ("interaction_resource_fact", "start_ts"),
                                              ("resource_", "resource_key"),
                                              ("resource_state_reason", "reason_code"),
                                              ("date_time", "date_time_key"))}
    again = writer.write(batch(*facts))
    assert all(c.inserted == c.updated == 0 for c in again.tables.values())
    assert again.date_time_rows == 0
    for table, key in (("interaction_fact", "interaction_id"),
                       ("interaction_resource_fact", "start_ts"), ("resource_", "resource_key"),
                       ("resource_state_reason", "reason_code"), ("date_time", "date_time_key")):
        assert rows(conn, table, key) == before[table]


def test_dimension_rows_are_added_if_absent_and_never_changed(
        writer: Writer, conn: psycopg.Connection[Any]) -> None:
    # The Config Adapter owns configured rows: a reason code it knows keeps its display name.
    conn.execute("INSERT INTO resource_state_reason (resource_state_reason_key, reason_code, "
                 "reason_name) VALUES (77, 'Lunch', 'Lunch break')")
    placeholder = PlaceholderResource(3 * 10**17 + 5, "UnknownAgentLogin", "7001")
    result = writer.write(batch(placeholder, ReasonCode(77, "Lunch"), ReasonCode(78, "Coffee")))
    assert result.tables["resource_"].inserted == 1
    assert result.tables["resource_state_reason"].inserted == 1
    assert result.tables["resource_state_reason"].unchanged == 1
    assert rows(conn, "resource_state_reason", "resource_state_reason_key") == [
        (77, "Lunch", "Lunch break", 0, None, None),
        (78, "Coffee", None, 0, result.audit_key, result.audit_key)]
    assert one(conn, "SELECT resource_type, resource_name FROM resource_") == (
        "UnknownAgentLogin", "7001")


def test_the_date_time_rows_facts_refer_to_are_added(writer: Writer,
                                                     conn: psycopg.Connection[Any]) -> None:
    later = interaction(1, "call-2", start_ts=T0 + timedelta(hours=2),
                        start_date_time_key=KEY0 + 7200)
    result = writer.write(batch(interaction(1), later))
    assert result.date_time_rows == 2
    assert rows(conn, "date_time", "date_time_key") and [
        r[0] for r in rows(conn, "date_time", "date_time_key")] == [KEY0, KEY0 + 7200]
    assert one(conn, "SELECT interval_start_ts, cal_date::text, hour_of_day FROM date_time "
                     "WHERE date_time_key = %s", KEY0) == (
        datetime(2026, 11, 2, 9, tzinfo=timezone.utc), "2026-11-02", 9)


def test_offsets_are_stored_with_the_rows_and_never_move_back(
        writer: Writer, conn: psycopg.Connection[Any]) -> None:
    writer.write(batch(interaction(1), offsets={(TOPIC, 0): 10, (TOPIC, 3): 4}))
    assert writer.stored_offsets([(TOPIC, 0), (TOPIC, 1), (TOPIC, 3)]) == {
        (TOPIC, 0): 10, (TOPIC, 3): 4}
    # A stale writer (it lost the partition in a rebalance) commits an older batch late.
    writer.write(batch(interaction(1), offsets={(TOPIC, 0): 7}))
    assert writer.stored_offsets([(TOPIC, 0)]) == {(TOPIC, 0): 10}
    other = Writer(writer.conninfo, "another-group")
    try:
        assert other.stored_offsets([(TOPIC, 0)]) == {}
    finally:
        other.close()
    audit = one(conn, "SELECT source, rows, detail FROM ctl_audit_log ORDER BY audit_key LIMIT 1")
    assert audit[0] == "gim-loader" and audit[1] == 1
    assert audit[2]["partitions"] == {f"{TOPIC}:0": [None, 10], f"{TOPIC}:3": [None, 4]}


def test_rows_the_database_refuses_are_skipped_and_the_rest_is_loaded(
        writer: Writer, conn: psycopg.Connection[Any]) -> None:
    good = [party(1, f"call-1:{n}") for n in range(20)]
    refused = [party(1, "bad-negative", ring_duration=-1),          # CHECK (>= 0)
               party(1, "bad-too-big", talk_duration=2**40),        # out of integer range
               interaction(1, "bad-\x00-nul"),                      # NUL is not valid text
               PlaceholderResource(3 * 10**17 + 9, "NoSuchType", "x")]   # CHECK on the type
    facts = good[:7] + refused[:2] + good[7:] + refused[2:]
    result = writer.write(batch(*facts, offsets={(TOPIC, 0): 99}))
    assert sorted(f.id for f, _ in result.rejected) == sorted(f.id for f in refused)
    assert result.tables["interaction_resource_fact"].inserted == 20
    assert result.tables["interaction_resource_fact"].staged == 20
    assert one(conn, "SELECT count(*) FROM interaction_resource_fact") == (20,)
    assert one(conn, "SELECT count(*) FROM interaction_fact") == (0,)
    assert one(conn, "SELECT count(*) FROM resource_") == (0,)
    assert writer.stored_offsets([(TOPIC, 0)]) == {(TOPIC, 0): 99}


def test_a_higher_version_that_changes_no_column_changes_nothing(
        writer: Writer, conn: psycopg.Connection[Any]) -> None:
    writer.write(batch(interaction(1), offsets={(TOPIC, 0): 1}))
    row = "SELECT version, update_audit_key, status FROM interaction_fact"
    before = one(conn, row)
    writer.write(batch(interaction(2), offsets={(TOPIC, 0): 2}))   # same content, renumbered
    assert one(conn, row) == before
    writer.write(batch(interaction(3, status="COMPLETED"), offsets={(TOPIC, 0): 3}))
    assert one(conn, row)[0::2] == (3, "COMPLETED")


def test_a_lost_connection_fails_the_batch_whole_and_the_next_attempt_reconnects(
        writer: Writer, conn: psycopg.Connection[Any]) -> None:
    writer.write(batch(interaction(1), offsets={(TOPIC, 0): 1}))
    pid = one(conn, "SELECT pid FROM pg_stat_activity WHERE application_name = "
                    "'gim-faust loader' AND datname = current_database()")[0]
    conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(RetriableError):
        writer.write(batch(interaction(2, status="COMPLETED"), party(1), offsets={(TOPIC, 0): 3}))
    assert one(conn, "SELECT version FROM interaction_fact") == (1,)
    assert one(conn, "SELECT next_offset FROM ctl_kafka_offset") == (1,)
    writer.write(batch(interaction(2, status="COMPLETED"), party(1), offsets={(TOPIC, 0): 3}))
    assert one(conn, "SELECT version FROM interaction_fact") == (2,)
    assert one(conn, "SELECT next_offset FROM ctl_kafka_offset") == (3,)


def test_an_unreachable_server_is_retriable() -> None:
    with pytest.raises(RetriableError):
        Writer("postgresql://127.0.0.1:1/nothing?connect_timeout=2", "g").connect()


def test_a_database_without_the_schema_is_fatal(fresh_db: str) -> None:
    with pytest.raises(FatalError, match="gim-faust infomart migrate"):
        Writer(fresh_db, "g").connect()


def test_prepare_schema_migrates_once_and_then_only_reads(fresh_db: str) -> None:
    assert prepare_schema(fresh_db)
    assert prepare_schema(fresh_db) == []


def test_concurrent_writers_sharing_dimension_rows_never_deadlock(db: str) -> None:
    # Each writer owns its fact rows (its partitions), but date_time rows and placeholders are
    # shared; every batch meets them in a different random order, and between batches each
    # writer deletes half of them again, so that inserts of the same keys keep racing.
    # (Without the writer's one lock order this test meets DeadlockDetected within seconds.)
    errors: list[BaseException] = []
    shared_keys = [KEY0 + 900 * k for k in range(40)]
    placeholders = [PlaceholderResource(3 * 10**17 + k, "UnknownDN", str(k)) for k in range(40)]

    def work(n: int) -> None:
        rng = random.Random(n)
        w = Writer(db, "gim-loader-t")
        try:
            with psycopg.connect(db, autocommit=True) as churn:
                for b in range(60):
                    facts: list[Any] = rng.sample(placeholders, 30)
                    for i, key in enumerate(rng.sample(shared_keys, 30)):
                        facts.append(interaction(
                            1, f"w{n}-b{b}-{i}", start_date_time_key=key,
                            start_ts=datetime.fromtimestamp(key, timezone.utc)))
                    w.write(batch(*facts, offsets={(TOPIC, n): b + 1}))
                    churn.execute("DELETE FROM resource_ WHERE resource_key %% 2 = %s", (n % 2,))
                    churn.execute("DELETE FROM date_time WHERE date_time_key %% 1800 = %s",
                                  (900 * (n % 2),))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            w.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    with psycopg.connect(db) as c:
        assert c.execute("SELECT count(*) FROM interaction_fact").fetchone() == (6 * 60 * 30,)
        assert c.execute("SELECT count(*), min(next_offset) FROM ctl_kafka_offset").fetchone() \
            == (6, 60)
