"""GCA on the real services (issue 4, "Done when"): PostgreSQL, Kafka and S3.

The Configuration Database is the contract schema (gim_faust/simulate/config-db.sql, a copy
of contract/config-db.sql) with the day scenario's rows (the dst scenario's for the DNs' own
thresholds), plus a second tenant that GCA must never read. ``gca run --once`` runs through
the CLI's ``main()`` in this process, like an operator's command.
"""
from __future__ import annotations

import asyncio
import gzip
import json
import urllib.error
import urllib.request
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import psycopg
import pytest
from gim_faust.transforms.keys import dn_key, person_key, reason_key
from psycopg import sql

from gim_faust.commands.cli import main
from gim_faust.gca.configdb_reader import read_tenant
from gim_faust.gca.objects import build_objects
from gim_faust.simulate.configdb_writer import contract_schema
from tests.conftest import _with_dbname, split_s3_url, unique_name

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parent.parent / "data"
SCENARIO = DATA / "scenarios" / "day" / "config.sql"
DST = DATA / "scenarios" / "dst"

# A second tenant in the same Configuration Database: none of it may show up anywhere.
OTHER_TENANT = """
INSERT INTO cfg_tenant VALUES (2, 'globex');
INSERT INTO cfg_switch VALUES (9, 2, 'globex-sip');
INSERT INTO cfg_person VALUES (9001, 2, 'G1', 'other.agent', 'Oth', 'Er', true, 1);
INSERT INTO cfg_agent_login VALUES (9002, 9, '5001');
INSERT INTO cfg_login_info VALUES (9001, 9002);
INSERT INTO cfg_dn VALUES (9003, 9, '8100', 'ACDQueue', 'Globex sales');
INSERT INTO cfg_skill VALUES (9004, 2, 'Globex skill');
INSERT INTO cfg_skill_level VALUES (9001, 9004, 3);
INSERT INTO cfg_group VALUES (9005, 2, 'Globex team', 'Agent');
INSERT INTO cfg_group_member VALUES (9005, 9001);
INSERT INTO cfg_enum_value VALUES (9006, 2, 'NotReadyReason', 'Smoke', 'Smoke break');
"""
# The other tenant's DN has a threshold too: GCA must read only its own tenant's options.
OTHER_TENANT_ANNEX = """
INSERT INTO cfg_dn_annex VALUES (9003, 'gim', 'service-level-threshold', '1');
"""

# Issue 4: a skill level, a group membership, a renamed queue, a deleted person, a new agent.
CHANGES = """
UPDATE cfg_skill_level SET level = 9 WHERE person_dbid = 1001 AND skill_dbid = 302;
UPDATE cfg_group_member SET group_dbid = 401 WHERE group_dbid = 402 AND member_dbid = 1002;
UPDATE cfg_dn SET name = 'Sales EMEA' WHERE dbid = 103;
DELETE FROM cfg_group_member WHERE group_dbid = 401 AND member_dbid = 1003;
DELETE FROM cfg_person WHERE dbid = 1003;
INSERT INTO cfg_person VALUES (1019, 1, 'E10019', 'zoe.new19', 'Zoe', 'New', true, 1);
INSERT INTO cfg_agent_login VALUES (2019, 1, '5019');
INSERT INTO cfg_login_info VALUES (1019, 2019);
INSERT INTO cfg_skill_level VALUES (1019, 301, 4);
INSERT INTO cfg_group_member VALUES (402, 1019);
"""

KIND_COUNTS = {"switch": 2, "dn": 20, "person": 17, "agent_login": 15, "skill": 4,
               "group": 3, "enum_value": 4, "place": 12}


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture
def config_sql() -> str:
    """The rows of the Configuration Database: the day scenario's, and another tenant's. A test
    parametrized on ``config_sql`` seeds others."""
    return SCENARIO.read_text() + OTHER_TENANT


@pytest.fixture
def config_db(fresh_db: str, config_sql: str) -> str:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(contract_schema())
        conn.execute(config_sql)
    return fresh_db


@pytest.fixture
def infomart_db(pg_url: str) -> Iterator[str]:
    """URL of a database that does not exist yet: GCA's migrate() creates it."""
    name = unique_name("test_im_")
    yield _with_dbname(pg_url, name)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


@pytest.fixture
def gca(kafka_bootstrap: str, topic_prefix: str, config_db: str, infomart_db: str,
        s3_store: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The settings of one GCA, as environment variables (flags are tested in test_cli)."""
    env = {"GIM_TENANT": "acme", "GIM_TOPIC_PREFIX": topic_prefix,
           "GIM_KAFKA_BOOTSTRAP": kafka_bootstrap, "GIM_CONFIG_DB_URL": config_db,
           "GIM_INFOMART_DB_URL": infomart_db, "GIM_OBJECT_STORE": s3_store,
           "GIM_METRICS_PORT": "0"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return {**env, "topic": f"{topic_prefix}.gca.config"}


# ------------------------------------------------------------------------------ helpers


async def _read_topic(bootstrap: str, topic: str) -> list[tuple[int, str, Any]]:
    """Every record of the topic: (offset, key, JSON value or None for a tombstone)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described[0]["error_code"] != 0:
        return []
    partitions = [TopicPartition(topic, p["partition"]) for p in described[0]["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    out: list[tuple[int, str, Any]] = []
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for messages in (await consumer.getmany(timeout_ms=1000)).values():
                out.extend((m.offset, m.key.decode(),
                            None if m.value is None else json.loads(m.value))
                           for m in messages)
    finally:
        await consumer.stop()
    return sorted(out)


def read_topic(gca: dict[str, str]) -> list[tuple[int, str, Any]]:
    return asyncio.run(_read_topic(gca["GIM_KAFKA_BOOTSTRAP"], gca["topic"]))


def run_once(capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(["gca", "run", "--once"])
    out, err = capsys.readouterr()
    return rc, out, err


def snapshot_keys(s3_client: Any, s3_store: str) -> list[str]:
    bucket, prefix = split_s3_url(s3_store)
    listed = s3_client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/acme/gca/snapshots/")
    return sorted(o["Key"][len(prefix) + 1:] for o in listed.get("Contents", []))


def s3_get(s3_client: Any, s3_store: str, key: str) -> bytes:
    bucket, prefix = split_s3_url(s3_store)
    return s3_client.get_object(Bucket=bucket, Key=f"{prefix}/{key}")["Body"].read()


def query(url: str, text: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(text, params).fetchall()


def config_objects(config_db: str) -> dict[tuple[str, int], dict[str, Any]]:
    return build_objects(asyncio.run(read_tenant(config_db, "acme")).rows)


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def expected_history(config_db: str) -> tuple[set[tuple], set[tuple]]:
    """Current (resource_key, group_key) and (resource_key, skill_key, level) per config."""
    members = {(person_key(m) if t == "Agent" else dn_key(m), g) for g, m, t in query(
        config_db, "SELECT gm.group_dbid, gm.member_dbid, g.type FROM cfg_group_member gm "
                   "JOIN cfg_group g ON g.dbid = gm.group_dbid WHERE g.tenant_dbid = 1")}
    levels = {(person_key(p), s, lv) for p, s, lv in query(
        config_db, "SELECT sl.person_dbid, sl.skill_dbid, sl.level FROM cfg_skill_level sl "
                   "JOIN cfg_person p ON p.dbid = sl.person_dbid WHERE p.tenant_dbid = 1")}
    return members, levels


def open_history(infomart_db: str) -> tuple[set[tuple], set[tuple]]:
    members = set(query(infomart_db, "SELECT resource_key, group_key FROM resource_group_fact_ "
                                     "WHERE end_ts IS NULL"))
    levels = set(query(infomart_db, "SELECT resource_key, skill_key, skill_level "
                                    "FROM resource_skill_fact_ WHERE end_ts IS NULL"))
    return members, levels


# -------------------------------------------------------------------------------- tests


def test_gca_once_then_changes_then_nothing(gca: dict[str, str], config_db: str,
                                             infomart_db: str, s3_store: str, s3_client: Any,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    # ---- 1. first run: every object once, a snapshot, every dimension row --------------
    rc, out, err = run_once(capsys)
    assert rc == 0, err
    assert "77 objects; published 77 changes" in out
    first = read_topic(gca)
    keys = [key for _, key, _ in first]
    assert len(keys) == len(set(keys)) == sum(KIND_COUNTS.values())
    assert Counter(key.split(":")[0] for key in keys) == KIND_COUNTS
    objects = config_objects(config_db)
    published = {(v["kind"], v["dbid"]): v["object"] for _, _, v in first}
    assert published == objects
    assert {v["op"] for _, _, v in first} == {"created"}
    assert {v["tenant"] for _, _, v in first} == {"acme"}
    (t1_text,) = {v["observed_ts"] for _, _, v in first}
    t1 = ts(t1_text)
    assert t1_text.endswith("Z") and len(t1_text) == len("2026-11-02T09:07:12.123Z")

    snaps = snapshot_keys(s3_client, s3_store)
    assert len(snaps) == 2 and snaps[-1] == "acme/gca/snapshots/LATEST"
    pointer = json.loads(s3_get(s3_client, s3_store, "acme/gca/snapshots/LATEST"))
    assert pointer["key"] == snaps[0] and pointer["objects"] == 77
    body = json.loads(gzip.decompress(s3_get(s3_client, s3_store, snaps[0])))
    assert {(o["kind"], o["dbid"]): o["object"] for o in body["objects"]} == objects

    persons = query(config_db, "SELECT dbid, employee_id, user_name, first_name, last_name "
                               "FROM cfg_person WHERE tenant_dbid = 1")
    agents = query(infomart_db, "SELECT resource_key, employee_id, user_name, agent_first_name,"
                                " agent_last_name, config_dbid, resource_name, deleted_ts "
                                "FROM resource_ WHERE resource_type = 'Agent'")
    assert sorted(agents) == sorted((person_key(d), e, u, f, la, d, u, None)
                                    for d, e, u, f, la in persons)
    dns = query(config_db, "SELECT d.dbid, d.type, coalesce(d.name, d.number), d.number, s.name"
                           " FROM cfg_dn d JOIN cfg_switch s ON s.dbid = d.switch_dbid "
                           "WHERE s.tenant_dbid = 1")
    dn_rows = query(infomart_db, "SELECT resource_key, resource_type, resource_name, dn_number,"
                                 " switch_name FROM resource_ WHERE resource_type <> 'Agent'")
    assert sorted(dn_rows) == sorted((dn_key(d), t, n, num, s) for d, t, n, num, s in dns)
    assert sorted(query(infomart_db, "SELECT skill_key, skill_name FROM skill")) == [
        (301, "Sales"), (302, "Support"), (303, "Billing"), (304, "Spanish")]
    assert sorted(query(infomart_db, "SELECT group_key, group_name, group_type FROM group_")) \
        == [(401, "Team North", "Agent"), (402, "Team South", "Agent"),
            (403, "All queues", "DN")]
    assert sorted(query(infomart_db, "SELECT resource_state_reason_key, reason_code, "
                                     "reason_name FROM resource_state_reason")) == sorted([
        (reason_key("Break"), "Break", "Short break"), (reason_key("Lunch"), "Lunch", "Lunch"),
        (reason_key("Training"), "Training", "Training"),
        (reason_key("Meeting"), "Meeting", "Team meeting")])
    assert open_history(infomart_db) == expected_history(config_db)
    assert len(open_history(infomart_db)[0]) == 18  # 15 agents + 3 queues
    starts = query(infomart_db, "SELECT DISTINCT start_ts FROM resource_group_fact_ UNION "
                                "SELECT DISTINCT start_ts FROM resource_skill_fact_")
    assert starts == [(t1,)]

    # ---- 2. change configuration: only the changed objects, history ends and starts -----
    with psycopg.connect(config_db, autocommit=True) as conn:
        conn.execute(CHANGES)
    rc, out, err = run_once(capsys)
    assert rc == 0, err
    second = read_topic(gca)[len(first):]
    assert {key: (v and v["op"]) for _, key, v in second} == {
        "person:1001": "changed",      # skill level 302: 7 -> 9
        "group:401": "changed",        # 1002 joins, 1003 leaves
        "group:402": "changed",        # 1002 leaves, 1019 joins
        "dn:103": "changed",           # renamed queue
        "agent_login:2003": "changed",  # its holder is gone
        "person:1003": None,           # deleted: tombstone
        "person:1019": "created", "agent_login:2019": "created"}
    assert len(second) == 8
    (t2_text,) = {v["observed_ts"] for _, _, v in second if v is not None}
    t2 = ts(t2_text)
    assert t2 > t1
    assert {(v["kind"], v["dbid"]): v["object"] for _, _, v in second if v} == {
        k: v for k, v in config_objects(config_db).items()
        if f"{k[0]}:{k[1]}" in {key for _, key, _ in second}}

    def skill_rows(person: int, skill: int) -> list[tuple]:
        return query(infomart_db, "SELECT skill_level, start_ts, end_ts FROM "
                                  "resource_skill_fact_ WHERE resource_key = %s AND "
                                  "skill_key = %s ORDER BY start_ts", person_key(person), skill)

    def group_rows(resource_key: int, group: int) -> list[tuple]:
        return query(infomart_db, "SELECT start_ts, end_ts FROM resource_group_fact_ WHERE "
                                  "resource_key = %s AND group_key = %s ORDER BY start_ts",
                     resource_key, group)

    assert skill_rows(1001, 302) == [(7, t1, t2), (9, t2, None)]
    assert skill_rows(1001, 301) == [(1, t1, None)]                 # untouched
    assert group_rows(person_key(1002), 402) == [(t1, t2)]
    assert group_rows(person_key(1002), 401) == [(t2, None)]
    assert group_rows(person_key(1003), 401) == [(t1, t2)]
    assert [r[2] for r in skill_rows(1003, 302) + skill_rows(1003, 303)
            + skill_rows(1003, 304)] == [t2, t2, t2]
    assert skill_rows(1019, 301) == [(4, t2, None)]
    assert group_rows(person_key(1019), 402) == [(t2, None)]
    assert group_rows(dn_key(103), 403) == [(t1, None)]             # a rename is not a move
    # The deleted person stays in resource_ (facts refer to it), marked deleted.
    assert query(infomart_db, "SELECT employee_id, deleted_ts FROM resource_ "
                              "WHERE resource_key = %s", person_key(1003)) == [("E10002", t2)]
    assert query(infomart_db, "SELECT resource_name, deleted_ts FROM resource_ "
                              "WHERE resource_key = %s", dn_key(103)) == [("Sales EMEA", None)]
    assert query(infomart_db, "SELECT employee_id, resource_name FROM resource_ "
                              "WHERE resource_key = %s", person_key(1019)) == [
        ("E10019", "zoe.new19")]
    assert open_history(infomart_db) == expected_history(config_db)
    snaps = snapshot_keys(s3_client, s3_store)
    assert len(snaps) == 3
    pointer = json.loads(s3_get(s3_client, s3_store, "acme/gca/snapshots/LATEST"))
    assert pointer["key"] == snaps[1] and pointer["observed_ts"] == t2_text

    # ---- 3. no change: nothing published, no snapshot, no Info Mart write ----------------
    audit_rows = query(infomart_db, "SELECT count(*) FROM ctl_audit_log")
    rc, out, err = run_once(capsys)
    assert rc == 0, err
    assert "published 0 changes" in out and "snapshot unchanged" in out
    assert len(read_topic(gca)) == len(first) + len(second)
    assert snapshot_keys(s3_client, s3_store) == snaps
    assert json.loads(s3_get(s3_client, s3_store, "acme/gca/snapshots/LATEST")) == pointer
    assert query(infomart_db, "SELECT count(*) FROM ctl_audit_log") == audit_rows

    # Nothing of the other tenant anywhere.
    assert query(infomart_db, "SELECT count(*) FROM resource_ WHERE config_dbid >= 9000") \
        == [(0,)]
    assert not [k for _, k, _ in read_topic(gca) if int(k.split(":")[1]) >= 9000]


@pytest.mark.parametrize("broken, message", [
    ({"GIM_CONFIG_DB_URL": "postgresql://127.0.0.1:1/gim_config"},
     "cannot connect to database 'gim_config' on 127.0.0.1:1"),
    ({"GIM_TENANT": "initech"},
     "tenant 'initech' does not exist in the Configuration Database"),
])
def test_gca_once_fails_cleanly(gca: dict[str, str], broken: dict[str, str], message: str,
                                s3_store: str, s3_client: Any, infomart_db: str,
                                monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    for key, value in broken.items():
        monkeypatch.setenv(key, value)
    rc, out, err = run_once(capsys)
    assert rc == 1
    assert message in err
    assert len(err.strip().splitlines()) == 1, err      # one clear line, no traceback
    assert read_topic(gca) == []                         # nothing published
    assert snapshot_keys(s3_client, s3_store) == []      # no snapshot
    assert query(_with_dbname(infomart_db, "postgres"),
                 "SELECT count(*) FROM pg_database WHERE datname = %s",
                 infomart_db.rsplit("/", 1)[1]) == [(0,)]  # Info Mart untouched


def test_gca_restart_without_snapshot_tombstones_from_the_topic(
        gca: dict[str, str], config_db: str, s3_store: str, s3_client: Any,
        capsys: pytest.CaptureFixture[str]) -> None:
    """With the snapshots gone, GCA rebuilds what consumers have from the topic itself: it
    publishes only the difference (here one deletion) instead of everything again."""
    assert run_once(capsys)[0] == 0
    bucket, prefix = split_s3_url(s3_store)
    for key in snapshot_keys(s3_client, s3_store):
        s3_client.delete_object(Bucket=bucket, Key=f"{prefix}/{key}")
    with psycopg.connect(config_db, autocommit=True) as conn:
        conn.execute("DELETE FROM cfg_enum_value WHERE dbid = 504")
    before = len(read_topic(gca))
    rc, out, err = run_once(capsys)
    assert rc == 0, err
    assert [(k, v) for _, k, v in read_topic(gca)[before:]] == [("enum_value:504", None)]
    assert len(snapshot_keys(s3_client, s3_store)) == 2


# ----------------------------------------------------------------------- the service loop


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def test_gca_service_polls_survives_an_outage_and_reports(
        gca: dict[str, str], config_db: str, pg_url: str) -> None:
    """The long-running service: readiness, metrics, a change picked up by polling, and a
    Configuration Database outage that is counted, retried and never taken for deletions."""
    from gim_faust.gca.service import ConfigAdapter
    from gim_faust.metrics import Heartbeat, serve
    from gim_faust.settings import MetricsSettings, load_settings

    settings = load_settings({"gca_poll_interval": "0.2"})
    adapter = ConfigAdapter(settings)
    server = serve("gca", adapter.metrics.registry, adapter.ready,
                   MetricsSettings(port=0, host="127.0.0.1"), Heartbeat())
    stop = asyncio.Event()
    task = asyncio.create_task(adapter.run_forever(stop))
    registry = adapter.metrics.registry
    dbname = config_db.rsplit("/", 1)[1]

    async def until(condition: Any, what: str, timeout: float = 30) -> None:
        """Like tests.support.waiting.wait_until, on this loop: the adapter runs on it."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition():
            assert not task.done(), task.exception()
            assert asyncio.get_running_loop().time() < deadline, (
                f"waited {timeout} s for {what}; gca_ samples: " + ", ".join(
                    f"{s.name}{s.labels}={s.value}" for m in registry.collect()
                    for s in m.samples if s.name.startswith("gca_")))
            await asyncio.sleep(0.1)

    def value(name: str, **labels: str) -> float:
        return registry.get_sample_value(name, labels) or 0.0

    try:
        assert (await asyncio.to_thread(_get, server.port, "/healthz"))[0] == 200
        await until(adapter.ready, "the adapter's readiness")
        status, _ = await asyncio.to_thread(_get, server.port, "/readyz")
        assert status == 200
        assert value("gca_objects", kind="person") == 17
        assert value("gca_changes_published_total", kind="person", op="created") == 17
        assert value("gca_last_success_timestamp_seconds") > 0
        status, text = await asyncio.to_thread(_get, server.port, "/metrics")
        assert 'gca_cycles_total{result="ok"}' in text
        assert "gca_cycle_duration_seconds_bucket" in text

        # A change is published at the next poll.
        with psycopg.connect(config_db, autocommit=True) as conn:
            conn.execute("UPDATE cfg_skill SET name = 'Sales & Renewals' WHERE dbid = 301")
        await until(lambda: value("gca_changes_published_total", kind="skill", op="changed")
                    == 1, "the skill change published")

        # Outage: the database refuses connections. Cycles fail at "read", readiness drops,
        # and nothing is published (certainly no deletions).
        published = sum(value("gca_changes_published_total", kind=k, op=o)
                        for k in ("person", "dn", "skill", "group", "agent_login")
                        for o in ("created", "changed", "deleted"))
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(
                sql.Identifier(dbname)))
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s", (dbname,))
        try:
            await until(lambda: value("gca_errors_total", stage="read") >= 2,
                        "two failed reads")
            assert not adapter.ready()
            assert (await asyncio.to_thread(_get, server.port, "/readyz"))[0] == 503
        finally:
            with psycopg.connect(pg_url, autocommit=True) as admin:
                admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(
                    sql.Identifier(dbname)))
        await until(adapter.ready, "the adapter's readiness")
        assert sum(value("gca_changes_published_total", kind=k, op=o)
                   for k in ("person", "dn", "skill", "group", "agent_login")
                   for o in ("created", "changed", "deleted")) == published
        records = await asyncio.to_thread(read_topic, gca)
        assert not [k for _, k, v in records if v is None]
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        server.stop()
        await adapter.close()


# ------------------------------------------------------------------- a DN's own thresholds


def dn_thresholds(infomart_db: str) -> dict[str, tuple[int | None, int | None]]:
    """resource_'s thresholds of every DN, by number."""
    return {number: (sl, sa) for number, sl, sa in query(
        infomart_db, "SELECT dn_number, service_level_threshold, short_abandon_threshold "
                     "FROM resource_ WHERE resource_type <> 'Agent'")}


@pytest.mark.parametrize("config_sql", [(DST / "config.sql").read_text() + OTHER_TENANT
                                        + OTHER_TENANT_ANNEX], ids=["dst"])
async def test_gca_keeps_the_dst_dn_thresholds(gca: dict[str, str], config_db: str,
                                                infomart_db: str,
                                                caplog: pytest.LogCaptureFixture) -> None:
    """Contract aggregates.md, "Thresholds": the dst DNs' own thresholds reach resource_ as
    expected-aggregates.json says, an invalid one is logged once per process, and a changed
    value updates the row at the next cycle."""
    from gim_faust.gca.service import ConfigAdapter
    from gim_faust.settings import load_settings

    meta = json.loads((DST / "expected-aggregates.json").read_text())["meta"]
    wanted = {number: (own.get("service-level-threshold"), own.get("short-abandon-threshold"))
              for number, own in meta["dn_thresholds"].items()}
    assert wanted == {"8102": (30, 5), "9101": (3600, None)}
    adapter = ConfigAdapter(load_settings())
    try:
        await adapter.cycle()
        thresholds = await asyncio.to_thread(dn_thresholds, infomart_db)
        assert {n: own for n, own in thresholds.items() if own != (None, None)} == wanted
        assert thresholds["8101"] == (None, None)     # 'ten': the tenant's default applies
        assert thresholds["8100"] == (None, None)     # section other-app: not GIM's
        records = await asyncio.to_thread(read_topic, gca)
        options = {k: v["object"].get("options") for _, k, v in records if k.startswith("dn:")}
        assert options["dn:104"] == {"gim": {"short-abandon-threshold": "ten"}}
        assert options["dn:103"] == {"other-app": {"service-level-threshold": "99"}}
        assert options["dn:101"] is None
        acme = await read_tenant(config_db, "acme")
        assert sorted({row[0] for row in acme.rows["cfg_dn_annex"]}) == [103, 104, 105, 108]

        with psycopg.connect(config_db, autocommit=True) as conn:
            conn.execute("UPDATE cfg_dn_annex SET value = '45' WHERE dn_dbid = 105 "
                         "AND option = 'service-level-threshold'")
            conn.execute("DELETE FROM cfg_dn_annex WHERE dn_dbid = 108")
        result = await adapter.cycle()
        assert sorted(f"{c.kind}:{c.dbid}" for c in result.changes) == ["dn:105", "dn:108"]
        assert result.infomart_rows == {("resource_", "upsert"): 2}
        thresholds = await asyncio.to_thread(dn_thresholds, infomart_db)
        assert (thresholds["8102"], thresholds["9101"]) == ((45, 5), (None, None))
    finally:
        await adapter.close()
    ignored = [r.getMessage() for r in caplog.records if "cfg_dn_annex" in r.getMessage()]
    assert ignored == ["ignoring the cfg_dn_annex option gim/short-abandon-threshold = 'ten' of "
                       "DN 8101 (dbid 104): not a whole number of seconds from 0 to 2147483647;"
                       " the tenant's threshold applies"]
