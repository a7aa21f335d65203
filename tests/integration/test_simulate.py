"""``gim-faust simulate`` on the real services: every generated event lands on its raw topic
with its key, the Configuration Database holds the simulated center (and the user-data keys
it keeps) for GCA to read, rewriting it changes nothing, and a simulated day goes through GCA,
GSP and GIM whole, its user data included."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from gim_faust.gca.configdb_reader import read_tenant
from gim_faust.models.facts import InteractionResourceFact, to_record
from gim_faust.settings import load_settings
from gim_faust.simulate import SimOptions, generate, write_configuration
from gim_faust.simulate.configdb_writer import rows
from gim_faust.simulate.publish import publish
from gim_faust.topics import Topics
from tests.support import pipeline as pl
from tests.support.deployment import Deployment
from tests.support.scenario import FACT_TABLES
from tests.support.simulated import replay

pytestmark = pytest.mark.integration

SCRIPT = Path(sys.executable).with_name("gim-faust")
START = datetime(2026, 11, 2, 8, tzinfo=timezone.utc)


def test_simulate_publishes_every_event_with_its_key_and_writes_the_center(
        kafka_bootstrap: str, topic_prefix: str, fresh_db: str) -> None:
    env = {**os.environ, "GIM_TENANT": topic_prefix, "GIM_TOPIC_PREFIX": topic_prefix,
           "GIM_KAFKA_BOOTSTRAP": kafka_bootstrap, "GIM_CONFIG_DB_URL": fresh_db}
    done = subprocess.run([str(SCRIPT), "simulate", "--agents", "8", "--hours", "2",
                           "--seed", "3", "--start", "2026-11-02T08:00:00Z"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    options = SimOptions(topic_prefix, agents=8, hours=2, seed=3, start=START)
    want = Counter((m.topic_suffix, m.key, m.value) for m in generate(options))
    topics = Topics(topic_prefix)
    have: Counter = Counter()
    for suffix in ("voice.interactions", "voice.agents", "digital.interactions",
                   "digital.agents"):
        for key, value, _ in asyncio.run(pl.read_topic(kafka_bootstrap, topics.raw(suffix))):
            have[suffix, key, value] += 1
    assert sum(have.values()) == sum(want.values()) > 1000
    assert have == want
    tenant = asyncio.run(read_tenant(fresh_db, topic_prefix))  # as GCA reads it
    written = rows(options, tenant.tenant_dbid)
    for table, expected in written.items():
        assert sorted(tenant.rows[table]) == sorted(expected), table


def test_speed_paces_the_day_at_a_multiple_of_real_time(
        kafka_bootstrap: str, topic_prefix: str) -> None:
    options = SimOptions(topic_prefix, agents=10, hours=0.1, start=START)
    messages = list(generate(options))
    span_s = (messages[-1].ts_ms - messages[0].ts_ms) / 1000
    env = {**os.environ, "GIM_TENANT": topic_prefix, "GIM_KAFKA_BOOTSTRAP": kafka_bootstrap}
    began = time.monotonic()
    done = subprocess.run([str(SCRIPT), "simulate", "--agents", "10", "--hours", "0.1",
                           "--start", "2026-11-02T08:00:00Z", "--speed", "120", "--no-config"],
                          env=env, capture_output=True, text=True, timeout=120)
    took = time.monotonic() - began
    assert done.returncode == 0, done.stderr
    assert span_s / 120 <= took < span_s / 120 + 15
    assert f"{len(messages)} events" in done.stdout


def test_rewriting_is_idempotent_and_tenants_keep_apart(fresh_db: str) -> None:
    first, second = SimOptions("north", agents=5), SimOptions("south", agents=30)
    write_configuration(fresh_db, first)
    write_configuration(fresh_db, second)
    before = asyncio.run(read_tenant(fresh_db, "north"))
    write_configuration(fresh_db, first)
    assert asyncio.run(read_tenant(fresh_db, "north")) == before
    assert len(before.rows["cfg_person"]) == 5
    assert len(asyncio.run(read_tenant(fresh_db, "south")).rows["cfg_person"]) == 30
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT count(*) FROM cfg_tenant").fetchone()[0] == 2


def test_an_unreachable_broker_exits_1_and_says_so(topic_prefix: str, fresh_db: str) -> None:
    env = {**os.environ, "GIM_TENANT": topic_prefix, "GIM_KAFKA_BOOTSTRAP": "127.0.0.1:1",
           "GIM_CONFIG_DB_URL": fresh_db}
    done = subprocess.run([str(SCRIPT), "simulate", "--agents", "2", "--hours", "1"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[-1].startswith("gim-faust: Kafka at 127.0.0.1:1")


def test_a_simulated_day_lands_whole_through_the_three_services(
        kafka_bootstrap: str, topic_prefix: str, db_factory: Callable[[], str], s3_store: str,
        tmp_path: Path) -> None:
    """What ``make demo`` does, smaller: once GCA, the GSP and the loader have run, the Info
    Mart holds every final row the transforms make of the day, figure for figure (all
    columns but ``version``, whose numbering depends on the order the topics were read in),
    and every party's kept user data in ``irf_user_data``, value for value."""
    d = Deployment(kafka_bootstrap, topic_prefix, db_factory(), db_factory(), s3_store, tmp_path)
    options = SimOptions("acme", agents=8, hours=2, seed=5, start=START)
    write_configuration(d.config_db, options)
    assert asyncio.run(publish(load_settings(environ=d.env), generate(options))) > 1000
    try:
        d.run("gca", "run", "--once")
        gsp, gim = d.gsp(), d.gim()
        d.wait_gsp_caught_up(gsp)
        d.wait_loaded(gim)
        want: dict[str, set[tuple]] = defaultdict(set)
        columns: dict[str, list[str]] = {}
        user_data: dict[str, dict] = {}
        timeout_s = int(d.env["GIM_INTERACTION_TIMEOUT"])
        for fact in replay(options, generate(options), timeout_s).rows.values():
            if fact.table in FACT_TABLES:
                record = to_record(fact)
                columns.setdefault(fact.table, [c for c in record
                                                if c not in ("table", "version", "user_data")])
                want[fact.table].add(tuple(record[c] for c in columns[fact.table]))
            if isinstance(fact, InteractionResourceFact) and fact.user_data:
                user_data[fact.interaction_resource_id] = fact.user_data
        assert set(want) == set(FACT_TABLES) and len(user_data) > 100
        with psycopg.connect(d.infomart_db) as conn:
            for table, rows_wanted in want.items():
                have = set(conn.execute(
                    f"SELECT {', '.join(columns[table])} FROM {table}").fetchall())
                assert have == rows_wanted, (table, len(have), len(rows_wanted))
            assert kept_user_data(conn) == user_data
    finally:
        d.stop_all()


def kept_user_data(conn: psycopg.Connection) -> dict[str, dict]:
    """``irf_user_data`` by party: its kept keys' columns that hold a value (numbers in the
    text the transforms give them)."""
    own = {"interaction_resource_id", "interaction_id", "start_date_time_key", "start_ts",
           "end_ts", "active_flag", "version", "create_audit_key", "update_audit_key"}
    with conn.cursor(row_factory=dict_row) as cur:
        kept = cur.execute("SELECT * FROM irf_user_data").fetchall()
    return {row["interaction_resource_id"]: {
        column: str(value) if isinstance(value, Decimal) else value
        for column, value in row.items() if column not in own and value is not None}
        for row in kept}
